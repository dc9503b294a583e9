"""Smith, Elsen & De 2020, §6, Table 1: SGD with momentum under a constant step budget.

A fixed number of updates at every batch size B (momentum 0.9), the effective learning rate tuned per B
by the protocol of ``setup``. Per B the table holds the optimal test accuracy (mean ± std of the kept
runs), the final training loss of those runs at that learning rate, and the optimal ε_eff with its band.

The claims (``CLAIMS``) and the table (``draw_table1``) are declared below the run. Both compare the
accuracy peak with the largest batch size by a Welch interval over the kept seeds (``analysis.effects``)
and are inconclusive while the learning-rate optimum of either sits at a grid edge after extension.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

import matplotlib.pyplot as plt
import numpy as np

from sgdnoise import plots
from sgdnoise.analysis.effects import directional_effect
from sgdnoise.experiments.base import Experiment, Figure, RunContext
from sgdnoise.experiments.claims import SMITH_ELSEN_DE_2020, ClaimSpec, ClaimTest, NotEnoughData, Verdict
from sgdnoise.experiments.smith_elsen_de_2020.setup import (
    PAPER,
    PAPER_SCALE,
    QUICK,
    TINY,
    Curve,
    SEDSpec,
    all_of,
    kept_at_optimum,
    optimum,
    peak_at_an_end,
    settings,
    train_loss_at_test_optimum,
    tuned_curves,
    unless_at_edge,
    unless_seeds_vary,
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
    test_acc_runs: list[float]
    train_loss_runs: list[float]


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
                "test_acc_runs": kept_at_optimum(c, keep).tolist(),
                "train_loss_runs": kept_at_optimum(c, keep, value="train_loss").tolist(),
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


def _peak_and_largest(data: StepBudgetData) -> tuple[TableRow, TableRow]:
    """The row of the accuracy peak and of the largest B; inconclusive while either optimum is at an edge."""
    rows = data["table"]
    if len(rows) < MIN_BATCH_SIZES:
        raise NotEnoughData(f"needs at least {MIN_BATCH_SIZES} batch sizes")
    peak = max(rows, key=lambda r: r["test_acc"])
    last = rows[-1]
    unless_at_edge(sorted({r["batch_size"] for r in (peak, last) if r["lr_at_edge"]}), "B =")
    return peak, last


def check_accuracy_peaks(data: StepBudgetData) -> Verdict:
    peak, last = _peak_and_largest(data)
    value = {
        "B_peak": peak["batch_size"],
        "peak_accuracy": peak["test_acc"],
        "largest_B": last["batch_size"],
        "accuracy_at_largest_B": last["test_acc"],
        "accuracy_per_B": {str(r["batch_size"]): r["test_acc"] for r in data["table"]},
    }
    if peak is last or peak is data["table"][0]:
        where = "largest" if peak is last else "smallest"
        runner_up = max((r for r in data["table"] if r is not peak), key=lambda r: r["test_acc"])
        unless_at_edge([runner_up["batch_size"]] if runner_up["lr_at_edge"] else [], "the runner-up, B =")
        unless_seeds_vary(peak["test_acc_runs"], runner_up["test_acc_runs"], "the peak and the runner-up")
        found = f"accuracy peaks at the {where} batch size {peak['batch_size']}"
        runner = f"B = {runner_up['batch_size']}"
        return peak_at_an_end(peak["test_acc_runs"], runner_up["test_acc_runs"], found, runner, value)
    unless_seeds_vary(peak["test_acc_runs"], last["test_acc_runs"], "the peak and the largest B")
    drop = directional_effect(peak["test_acc_runs"], last["test_acc_runs"], direction=1)
    return all_of({f"accuracy at B = {peak['batch_size']} > at B = {last['batch_size']}": drop}, value)


def check_train_loss_lower(data: StepBudgetData) -> Verdict:
    peak, last = _peak_and_largest(data)
    value = {
        "train_loss_at_peak": peak["train_loss"],
        "train_loss_at_largest_B": last["train_loss"],
        "train_loss_per_B": {str(r["batch_size"]): r["train_loss"] for r in data["table"]},
        "lowest_train_loss_per_B": {str(r["batch_size"]): r["lowest_train_loss"] for r in data["table"]},
    }
    if peak is last:
        raise NotEnoughData("the accuracy peak is at the largest batch size: nothing to compare")
    lower = directional_effect(last["train_loss_runs"], peak["train_loss_runs"], direction=-1)
    return all_of({f"loss at B = {last['batch_size']} < at B = {peak['batch_size']}": lower}, value)


_TABLE1 = "§6, Table 1"
_TABLE1_ACCURACY = (
    "optimal test accuracy (%) at B = 256, 512, 1024, 2048, 4096, 8192, 16384, 32768: 93.5±0.1, 94.2±0.1, "
    "94.5±0.1, 94.9±0.1, 94.7±0.1, 94.6±0.1, 92.5±0.6, 89.9±0.7 (9765 updates)"
)
_TABLE1_LOSS = (
    "final training loss at B = 256 … 32768: 0.232, 0.171, 0.107, 0.058 (B = 2048), 0.025, 0.017, 0.019, "
    "0.039 (B = 32768)"
)
_SEEDS = (
    "; Welch 95% interval over the runs kept at each optimum (≥ 3 seeds a side); inconclusive while either "
    "optimum sits at a grid edge after extension"
)

CLAIMS = (
    ClaimSpec(
        id="table1/accuracy-peaks-then-falls",
        statement="under a constant step budget the optimal test accuracy peaks at an intermediate batch size "
        "and is lower at the largest batch size than at the peak",
        kind="paper",
        provenance=SMITH_ELSEN_DE_2020.cite(
            _TABLE1,
            "We find that the optimal test accuracy initially increases with increasing batch size, but it then "
            "begins to fall sharply.",
            paper_value=_TABLE1_ACCURACY,
        ),
        test=ClaimTest(
            "optimal test accuracy (best-k-of-n) per B; accuracy at the peak minus at the largest B, per seed",
            "peak at neither end of the B grid, and the interval on the drop above zero (fails below zero, or when "
            "the peak at an end lies clearly above the runner-up, by the same interval, the runner-up's optimum "
            "interior); inconclusive when neither group's kept runs vary" + _SEEDS,
            {"MIN_BATCH_SIZES": MIN_BATCH_SIZES},
        ),
        check=check_accuracy_peaks,
    ),
    ClaimSpec(
        id="table1/train-loss-keeps-falling",
        statement="the final training loss at the optimal learning rate is lower at the largest batch size than "
        "at the accuracy peak",
        kind="paper",
        provenance=SMITH_ELSEN_DE_2020.cite(
            _TABLE1,
            "the training loss at this batch size is still smaller than the training loss achieved at batch size "
            "2048, despite the test accuracy being 5% lower.",
            paper_value=_TABLE1_LOSS,
        ),
        test=ClaimTest(
            "final training loss of the runs kept at the test optimum, at the accuracy peak and at the largest B",
            "the interval on loss(largest) − loss(peak) below zero (fails above zero)" + _SEEDS,
            {"MIN_BATCH_SIZES": MIN_BATCH_SIZES},
        ),
        check=check_train_loss_lower,
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
            f"{100 * r['test_acc']:.2f} ± {100 * r['test_acc_std']:.2f}",
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
