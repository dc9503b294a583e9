"""Smith, Elsen & De 2020, §7, Figure 2: optimal learning rates as the epoch budget grows.

The batch size fixed (64), momentum 0.9, several epoch budgets; per budget the ε_eff that maximises the
test accuracy and the ε_eff that minimises the final training loss are tuned independently (the
protocol of ``setup``), with batch normalisation (Fig. 2c) and without (Fig. 2d).

The claims (``CLAIMS``, one pair per panel) and the figure (``draw_fig2``) are declared below the run.
Thresholds fixed a priori: the test-accuracy optimum varies by at most ``TEST_LR_FACTOR``× across the
budgets; the training-loss optimum is lower at the largest budget than at the smallest and never rises.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

import matplotlib.pyplot as plt
import numpy as np

from sgdnoise import plots
from sgdnoise.experiments.base import Experiment, Figure, RunContext
from sgdnoise.experiments.claims import ClaimSpec, ClaimTest, NotEnoughData, Verdict
from sgdnoise.experiments.grid import join_notes
from sgdnoise.experiments.smith_elsen_de_2020.setup import (
    ARCHITECTURE_LABELS,
    BATCH_NORM,
    PAPER,
    PAPER_BUDGETS,
    PAPER_SCALE,
    TINY,
    Curve,
    SEDSpec,
    lr_errorbar,
    optimum,
    provenance,
    score_errorbar,
    settings,
    tuned_curves,
)

TEST_LR_FACTOR = 2.0  # the test-accuracy optimum varies by at most 2× across the budgets
LOSS_JUMP_NOTE = 2.0  # a note names the budgets whose loss one grid point above its optimum is > 2× higher


class UnlimitedBudgetData(TypedDict):
    """The numbers behind Fig. 2 and its claims: one tuned curve per (architecture, epoch budget)."""

    curves: list[Curve]
    batch_size: int
    labels: dict[str, str]  # architecture → label, in the spec's order


def run(spec: SEDSpec, ctx: RunContext) -> UnlimitedBudgetData:
    """Tune every (architecture, epoch budget) curve for both objectives."""
    batch, momentum = spec.batch_sizes[0], spec.momenta[0]
    keys = [(a, momentum, batch, e) for a in spec.architectures for e in spec.epoch_budgets]
    return {
        "curves": tuned_curves(spec, ctx, keys),
        "batch_size": batch,
        "labels": {a: ARCHITECTURE_LABELS[a] for a in spec.architectures},
    }


# ---- claims -------------------------------------------------------------------------------------------------


def loss_jump_above(curve: Curve) -> float | None:
    """Mean final training loss at the grid point just above the training-loss optimum over the loss at
    the optimum (inf when no run there finished; None when the optimum is the top of the grid): a
    large jump says the optimum is limited by stability (the curvature), not by the budget."""
    best = optimum(curve, "train_loss")
    index = best["index"]
    if index + 1 >= len(curve["lr_grid"]):
        return None
    above = [v for v in curve["scores"]["train_loss"][index + 1] if v is not None]
    return math.inf if not above else float(np.mean(above)) / best["score"]


def _panel_curves(data: UnlimitedBudgetData, batch_norm: bool) -> list[Curve]:
    """The curves of the first architecture with (or without) batch norm, by epoch budget."""
    found = [a for a in data["labels"] if (a in BATCH_NORM) == batch_norm]
    if not found:
        raise NotEnoughData(f"no architecture {'with' if batch_norm else 'without'} batch norm was run")
    mine = sorted((c for c in data["curves"] if c["architecture"] == found[0]), key=lambda c: c["epochs"])
    if len(mine) < 2:
        raise NotEnoughData("needs at least 2 epoch budgets")
    return mine


def _edge_note(curves: Sequence[Curve]) -> str:
    edges = [c["epochs"] for c in curves if optimum(c, "test_acc")["at_edge"] or optimum(c, "train_loss")["at_edge"]]
    return f"an optimum at the edge of its grid for budgets {edges} (bounds, not peaks)" if edges else ""


def _test_lr_stays(batch_norm: bool) -> Callable[[UnlimitedBudgetData], Verdict]:
    def check(data: UnlimitedBudgetData) -> Verdict:
        curves = _panel_curves(data, batch_norm)
        test_lr = [optimum(c, "test_acc")["value"] for c in curves]
        spread = max(test_lr) / min(test_lr)
        return Verdict.of(
            spread <= TEST_LR_FACTOR,
            {"epochs": [c["epochs"] for c in curves], "test_lr": test_lr, "max_over_min": spread},
            _edge_note(curves),
        )

    return check


def _loss_lr_falls(batch_norm: bool) -> Callable[[UnlimitedBudgetData], Verdict]:
    def check(data: UnlimitedBudgetData) -> Verdict:
        curves = _panel_curves(data, batch_norm)
        loss_lr = [optimum(c, "train_loss")["value"] for c in curves]
        jumps = {c["epochs"]: loss_jump_above(c) for c in curves}
        steep = {e: j for e, j in jumps.items() if j is not None and j > LOSS_JUMP_NOTE}
        stability = (
            f"the training loss one grid point above its optimum is more than {LOSS_JUMP_NOTE:g}× higher "
            "(budget: ratio) " + ", ".join(f"{e}: {j:.3g}" for e, j in steep.items())
            if steep
            else ""
        )
        return Verdict.of(
            loss_lr[-1] < loss_lr[0] and all(b <= a for a, b in itertools.pairwise(loss_lr)),
            {
                "epochs": [c["epochs"] for c in curves],
                "train_loss_lr": loss_lr,
                "first_over_last": loss_lr[0] / loss_lr[-1],
            },
            join_notes(_edge_note(curves), stability),
        )

    return check


_LOSS_LR_QUOTE = "The learning rate that minimizes the training loss falls rapidly as the epoch budget rises."


def _panel(panel: str, batch_norm: bool, test_quote: str, test_value: str, loss_value: str | None) -> list[ClaimSpec]:
    """Fig. 2c (with batch norm) or 2d (without): the test-accuracy optimum stays, the loss optimum falls."""
    who = "with batch norm" if batch_norm else "without normalisation"
    where = f"§7, Fig. {panel[-2:]}"
    return [
        ClaimSpec(
            id=f"{panel}/test-lr-stays",
            statement=f"{who}, the ε_eff that maximises test accuracy varies by at most {TEST_LR_FACTOR:g}× across "
            "the epoch budgets",
            kind="paper",
            provenance=provenance(where, test_quote, paper_value=test_value),
            test=ClaimTest(
                "the ε_eff maximising test accuracy (best-k-of-n) per epoch budget",
                "max / min over the budgets ≤ TEST_LR_FACTOR",
                {"TEST_LR_FACTOR": TEST_LR_FACTOR},
            ),
            check=_test_lr_stays(batch_norm),
        ),
        ClaimSpec(
            id=f"{panel}/loss-lr-falls",
            statement=f"{who}, the ε_eff that minimises the final training loss is lower at the largest epoch budget "
            "than at the smallest (and never rises from one budget to the next)",
            kind="paper",
            provenance=provenance(where, _LOSS_LR_QUOTE, paper_value=loss_value),
            test=ClaimTest(
                "the ε_eff minimising the final training loss (best-k-of-n) per epoch budget",
                "lower at the largest budget than at the smallest, and never higher than at the previous budget",
            ),
            check=_loss_lr_falls(batch_norm),
        ),
    ]


CLAIMS = (
    *_panel(
        "fig2c",
        True,
        "when training with batch normalization, the learning rate that maximizes the test accuracy only falls by a "
        "factor of 2 when we increase the epoch budget from 50 to 6400 epochs.",
        "2× over 50–6400 epochs",
        "falls 16× as the epoch budget grows 128× (§1)",
    ),
    *_panel(
        "fig2d",
        False,
        "when training without batch normalization, the learning rate that maximizes the test accuracy is constant "
        "for all epoch budgets considered.",
        "constant over 50–6400 epochs",
        None,
    ),
)


# ---- figure -------------------------------------------------------------------------------------------------


def draw_fig2(data: UnlimitedBudgetData, fig_dir: Path) -> Path:
    """Fig. 2: (a) optimal test accuracy and (b) optimal training loss vs epoch budget, with and without
    batch norm; (c, d) the ε_eff maximising test accuracy and minimising training loss, per model."""
    labels = data["labels"]
    fig, axes = plt.subplots(1, 2 + len(labels), figsize=(5 * (2 + len(labels)), 4.4), layout="constrained")
    for i, (architecture, label) in enumerate(labels.items()):
        curves = sorted((c for c in data["curves"] if c["architecture"] == architecture), key=lambda c: c["epochs"])
        e = [c["epochs"] for c in curves]
        acc = [c["optima"]["test_acc"] for c in curves]
        loss = [c["optima"]["train_loss"] for c in curves]
        score_errorbar(axes[0], e, acc, 100, label=label)
        score_errorbar(axes[1], e, loss, label=label)
        ax = axes[2 + i]
        lr_errorbar(ax, e, acc, "max test accuracy")
        lr_errorbar(ax, e, loss, "min training loss")
        ax.set_yscale("log", base=2)
        ax.set_ylabel("optimal effective learning rate")
        ax.set_title(f"{'cd'[i] if i < 2 else ''}) {label}")
    axes[0].set_ylabel("optimal test accuracy (%)")
    axes[0].set_title("a) test accuracy")
    axes[1].set_ylabel("optimal training loss")
    axes[1].set_yscale("log")
    axes[1].set_title("b) training loss")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("epoch budget")
        ax.legend(fontsize=8)
    fig.suptitle(f"Fig. 2 — batch size {data['batch_size']}, growing epoch budgets (hollow: optimum at a grid edge)")
    return plots.save(fig, fig_dir / "fig2_unlimited_budget.png")


TINY_RUN: Mapping[str, Any] = TINY | {
    "architectures": ("bn-mlp", "mlp"),
    "batch_sizes": (16,),
    "momenta": (0.9,),
    "epoch_budgets": (1, 2),
    "lr_exponents": (-2, -1),
}


EXPERIMENT = Experiment(
    name="sed-unlimited-budget",
    description="B fixed, growing epoch budgets: ε for best test accuracy vs for lowest train loss, ± BN.",
    title="Fig. 2 — optimal learning rates as the epoch budget grows (Smith, Elsen & De 2020)",
    paper=PAPER,
    specs={
        "quick": SEDSpec(
            runs=4,
            keep=3,
            architectures=("bn-mlp", "mlp"),
            batch_sizes=(64,),
            momenta=(0.9,),
            epoch_budgets=(2, 4, 8, 16, 32),
            lr_exponents=(-5, 1),
            extend_grid=True,
        ),
        "paper": SEDSpec(
            **(PAPER_SCALE | PAPER_BUDGETS | {"architectures": ("wrn-16-4", "wrn-16-4-skipinit")}),
            lr_exponents=(-5, 3),
        ),
    },
    tiny={scale: TINY_RUN for scale in ("quick", "paper")},
    run=run,
    claims=CLAIMS,
    figures=(Figure("fig2", draw_fig2, UnlimitedBudgetData),),
    settings=settings,
)
