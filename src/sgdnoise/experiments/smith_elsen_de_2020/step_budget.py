"""Smith, Elsen & De 2020, §6, Table 1: SGD with momentum under a constant step budget.

A fixed number of updates at every batch size B (momentum 0.9), the effective learning rate tuned per B
by the protocol of ``setup``. Per B the table holds the optimal test accuracy (mean ± std of the kept
runs), the final training loss of those runs at that learning rate, and the optimal ε_eff with its band.

The claims (``CLAIMS``) and the table (``draw_table1``) are declared below the run. Both compare two
batch sizes by more than their combined seed spread √(std₁² + std₂²); there is no other threshold.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

import matplotlib.pyplot as plt
import numpy as np

from sgdnoise import plots
from sgdnoise.experiments.base import Experiment, Figure, RunContext
from sgdnoise.experiments.claims import ClaimSpec, ClaimTest, NotEnoughData, Verdict
from sgdnoise.experiments.grid import join_notes
from sgdnoise.experiments.smith_elsen_de_2020.setup import (
    PAPER,
    PAPER_SCALE,
    QUICK,
    TINY,
    Curve,
    SEDSpec,
    optimum,
    provenance,
    settings,
    train_loss_at_test_optimum,
    tuned_curves,
)

MIN_BATCH_SIZES = 3  # a peak at an intermediate B needs at least three


class TableRow(TypedDict):
    """One row of Table 1: the tuned optimum at one batch size."""

    batch_size: int
    test_acc: float
    test_acc_std: float
    train_loss: float
    train_loss_std: float
    lr: float
    lr_band: list[float]
    lr_at_edge: bool
    lowest_train_loss: float
    lr_lowest_train_loss: float


class StepBudgetData(TypedDict):
    """The numbers behind Table 1 and its claims."""

    curves: list[Curve]
    table: list[TableRow]
    steps: int


def table_rows(curves: Sequence[Curve], keep: int) -> list[TableRow]:
    """Table 1's rows in increasing B: the optimal test accuracy, the final training loss of the kept runs
    at the optimum, the optimal ε_eff and band, and the lowest training loss anywhere on the grid."""
    rows: list[TableRow] = []
    for c in sorted(curves, key=lambda c: c["batch_size"]):
        opt = optimum(c)
        loss, loss_std = train_loss_at_test_optimum(c, keep)
        rows.append(
            {
                "batch_size": c["batch_size"],
                "test_acc": opt["score"],
                "test_acc_std": opt["score_std"],
                "train_loss": loss,
                "train_loss_std": loss_std,
                "lr": opt["value"],
                "lr_band": [opt["band_lower"], opt["band_upper"]],
                "lr_at_edge": opt["at_edge"],
                "lowest_train_loss": optimum(c, "train_loss")["score"],
                "lr_lowest_train_loss": optimum(c, "train_loss")["value"],
            }
        )
    return rows


def run(spec: SEDSpec, ctx: RunContext) -> StepBudgetData:
    """Tune the momentum curve at every B under the step budget and read Table 1 off the optima."""
    if spec.steps is None:
        raise ValueError("sed-step-budget needs steps (the constant step budget)")
    architecture = spec.architectures[0]
    keys = [(architecture, spec.momenta[0], b, spec.epoch_budgets[0]) for b in spec.batch_sizes]
    curves = tuned_curves(spec, ctx, keys)
    return {"curves": curves, "table": table_rows(curves, spec.keep), "steps": spec.steps}


# ---- claims -------------------------------------------------------------------------------------------------


def _rows_and_peak(data: StepBudgetData) -> tuple[list[TableRow], int]:
    rows = data["table"]
    if len(rows) < MIN_BATCH_SIZES:
        raise NotEnoughData(f"needs at least {MIN_BATCH_SIZES} batch sizes")
    return rows, max(range(len(rows)), key=lambda i: rows[i]["test_acc"])


def check_accuracy_peaks(data: StepBudgetData) -> Verdict:
    rows, peak = _rows_and_peak(data)
    last = rows[-1]
    drop = rows[peak]["test_acc"] - last["test_acc"]
    spread = math.hypot(rows[peak]["test_acc_std"], last["test_acc_std"])
    interior = 0 < peak < len(rows) - 1
    return Verdict.of(
        interior and drop > spread,
        {
            "B_peak": rows[peak]["batch_size"],
            "peak_accuracy": rows[peak]["test_acc"],
            "largest_B": last["batch_size"],
            "accuracy_at_largest_B": last["test_acc"],
            "drop_points": 100 * drop,
            "spread_points": 100 * spread,
        },
        join_notes(
            ""
            if interior
            else f"accuracy peaks at the {'smallest' if peak == 0 else 'largest'} batch size "
            f"{rows[peak]['batch_size']}",
            f"the drop at the largest B, {100 * drop:.2f} points, is within the seed spread {100 * spread:.2f}"
            if interior and drop <= spread
            else "",
        ),
    )


def check_train_loss_falls(data: StepBudgetData) -> Verdict:
    rows, peak = _rows_and_peak(data)
    last = rows[-1]
    margin = rows[peak]["train_loss"] - last["train_loss"]
    spread = math.hypot(rows[peak]["train_loss_std"], last["train_loss_std"])
    before_last = peak < len(rows) - 1
    losses = [r["train_loss"] for r in rows]
    return Verdict.of(
        before_last and margin > spread,
        {
            "train_loss_at_peak": rows[peak]["train_loss"],
            "train_loss_at_largest_B": last["train_loss"],
            "margin": margin,
            "spread": spread,
            "monotone_in_B": all(b <= a for a, b in itertools.pairwise(losses)),
            "lowest_train_loss_per_B": {str(r["batch_size"]): r["lowest_train_loss"] for r in rows},
        },
        join_notes(
            "" if before_last else "the accuracy peak is at the largest batch size: nothing to compare",
            f"training loss at the largest B is higher than at the peak by {-margin:.4f}; the lowest "
            f"training loss over the grid at B = {last['batch_size']} is {last['lowest_train_loss']:.4f} "
            f"(at ε_eff = {last['lr_lowest_train_loss']:g}, vs the test optimum ε_eff = {last['lr']:g})"
            if before_last and margin <= 0
            else "",
            f"margin {margin:.4f} within the seed spread {spread:.4f}" if before_last and 0 < margin <= spread else "",
        ),
    )


_TABLE1 = "§6, Table 1"

CLAIMS = (
    ClaimSpec(
        id="table1/accuracy-peaks-then-falls",
        statement="under a constant step budget the optimal test accuracy peaks at an intermediate batch size "
        "and is lower at the largest batch size by more than the combined seed spread",
        kind="paper",
        provenance=provenance(
            _TABLE1,
            "We find that the optimal test accuracy initially increases with increasing batch size, but it then "
            "begins to fall sharply.",
            paper_value="94.9% at B = 2048, 92.5% at B = 16384 (9765 updates)",
        ),
        test=ClaimTest(
            "optimal test accuracy (best-k-of-n mean) per B; drop from the peak to the largest B",
            "peak at neither end of the B grid, and drop > √(std_peak² + std_largest²)",
            {"MIN_BATCH_SIZES": MIN_BATCH_SIZES},
        ),
        check=check_accuracy_peaks,
    ),
    ClaimSpec(
        id="table1/train-loss-keeps-falling",
        statement="the final training loss at the optimal learning rate is lower at the largest batch size than "
        "at the accuracy peak, by more than the combined seed spread",
        kind="paper",
        provenance=provenance(
            _TABLE1,
            "the training loss at this batch size is still smaller than the training loss achieved at batch size "
            "2048, despite the test accuracy being 5% lower.",
        ),
        test=ClaimTest(
            "mean final training loss of the kept runs at the test optimum, at the accuracy peak and at the largest B",
            "peak before the largest B, and loss(peak) − loss(largest) > √(std_peak² + std_largest²)",
            {"MIN_BATCH_SIZES": MIN_BATCH_SIZES},
        ),
        check=check_train_loss_falls,
    ),
)


# ---- figure -------------------------------------------------------------------------------------------------


def _power(v: float) -> str:
    return f"2^{np.log2(v):.0f}"


def draw_table1(data: StepBudgetData, fig_dir: Path) -> Path:
    """Table 1 as a figure: per B the optimal test accuracy, the final training loss at the optimum
    and the optimal ε_eff with its band, under a constant step budget."""
    rows = data["table"]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.2), layout="constrained")
    ax.axis("off")
    cells = [
        [
            str(r["batch_size"]),
            f"{100 * r['test_acc']:.1f} ± {100 * r['test_acc_std']:.1f}",
            f"{r['train_loss']:.3f} ± {r['train_loss_std']:.3f}",
            f"{_power(r['lr'])} ({_power(r['lr_band'][0])} to {_power(r['lr_band'][1])})"
            + (" edge" if r["lr_at_edge"] else ""),
        ]
        for r in rows
    ]
    table = ax.table(
        cellText=cells,
        colLabels=["Batch size", "Optimal test accuracy (%)", "Final training loss", "Optimal effective lr"],
        loc="center",
    )
    table.scale(1, 1.4)
    ax.set_title(f"Table 1 — constant step budget of {data['steps']} updates")
    return plots.save(fig, fig_dir / "table1_step_budget.png")


TINY_RUN: Mapping[str, Any] = TINY | {
    "batch_sizes": (4, 8, 16),
    "momenta": (0.9,),
    "epoch_budgets": (1,),
    "steps": 4,
    "lr_exponents": (-2, -1),
}

WRN_SMOKE = {"batch_sizes": (16,), "steps": 1, "runs": 1, "n_train": 32, "n_test": 16}

EXPERIMENT = Experiment(
    name="sed-step-budget",
    description="Constant step budget: test accuracy vs final training loss over B.",
    title="Table 1 — constant step budget: test accuracy vs training loss (Smith, Elsen & De 2020)",
    paper=PAPER,
    specs={
        "quick": SEDSpec(
            **QUICK,
            batch_sizes=tuple(2**k for k in range(5, 13)),
            momenta=(0.9,),
            epoch_budgets=(1,),
            steps=160,
            lr_exponents=(-3, 2),
            extend_grid=True,
        ),
        "paper": SEDSpec(
            **PAPER_SCALE,
            batch_sizes=tuple(2**k for k in range(8, 16)),
            momenta=(0.9,),
            epoch_budgets=(1,),
            steps=9765,
            lr_exponents=(-1, 6),
        ),
    },
    # the paper scale's smoke run trains the Wide-ResNet for 1 step at one B on the CIFAR-shaped stand-in
    tiny={"quick": TINY_RUN, "paper": TINY_RUN | {"architectures": ("wrn-16-4",), **WRN_SMOKE}},
    run=run,
    claims=CLAIMS,
    figures=(Figure("table1", draw_table1, StepBudgetData),),
    settings=settings,
)
