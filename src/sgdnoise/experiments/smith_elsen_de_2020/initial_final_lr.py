"""Smith, Elsen & De 2020, §7.1, Figure 3: initial and final learning rates tuned independently.

The batch size fixed (64), momentum 0.9, several epoch budgets; ε_0 and ε_f (effective, ε_f < ε_0) are
tuned jointly on a 2-D grid with γ = (ε_0/ε_f)^(1/10) (``setup.train_config``), for test accuracy and
for the final training loss: per pair the best ``keep`` of ``runs`` runs, mean ± std, the best pair and
the band of pairs within one std of it (``pair_optimum``).

The claims (``CLAIMS``) and the figure (``draw_fig3``) are declared below the run; they compare the
optimal ε_0 and ε_f across budgets and have no numeric threshold.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

import matplotlib.pyplot as plt
import numpy as np

from sgdnoise import plots
from sgdnoise.experiments.base import Experiment, Figure, RunContext
from sgdnoise.experiments.claims import ClaimSpec, ClaimTest, NotEnoughData, Verdict
from sgdnoise.experiments.grid import nullable
from sgdnoise.experiments.smith_elsen_de_2020.setup import (
    OBJECTIVES,
    PAPER,
    PAPER_BUDGETS,
    PAPER_SCALE,
    QUICK,
    TINY,
    SEDSpec,
    finished_value,
    provenance,
    score_errorbar,
    settings,
    sweep_points,
)


class PairOptimum(TypedDict):
    """The best (ε_0, ε_f) pair for one objective at one budget, with its one-std band."""

    initial: float
    final: float
    score: float
    score_std: float
    initial_band: list[float]
    final_band: list[float]
    initial_at_edge: bool
    final_at_edge: bool
    means: list[float | None]


class Budget(TypedDict):
    """One epoch budget: the (ε_0, ε_f) pairs tried and the optimum per objective."""

    epochs: float
    pairs: list[list[float]]
    test_acc: PairOptimum
    train_loss: PairOptimum


class InitialFinalData(TypedDict):
    """The numbers behind Fig. 3 and its claims."""

    budgets: list[Budget]
    batch_size: int
    initial_grid: list[float]
    final_grid: list[float]


def pair_optimum(pairs: Sequence[tuple[float, float]], scores: np.ndarray, keep: int, maximize: bool) -> PairOptimum:
    """The tuning protocol on a 2-D grid of (ε_0, ε_f) pairs (§7.1): best ``keep`` runs per pair, mean
    ± std (ddof=1), the best pair, and the band of pairs whose mean is within one std of it (its
    ε_0 and ε_f ranges are the error bars); a best ε_0 or ε_f at the edge of its axis is flagged."""
    arr = np.asarray(scores, dtype=float)
    oriented = arr if maximize else -arr
    filled = np.where(np.isfinite(oriented), oriented, np.nanmin(oriented))
    ranking = np.where(np.isfinite(oriented), oriented, -np.inf)
    best = np.take_along_axis(filled, np.argsort(-ranking, axis=1, kind="stable")[:, :keep], axis=1)
    means = best.mean(axis=1)
    stds = best.std(axis=1, ddof=1) if keep > 1 else np.zeros_like(means)
    index = int(np.argmax(means))
    band = [pairs[i] for i in np.flatnonzero(means >= means[index] - stds[index])]
    initials, finals = sorted({p[0] for p in pairs}), sorted({p[1] for p in pairs})
    initial, final = pairs[index]
    sign = 1.0 if maximize else -1.0
    return {
        "initial": initial,
        "final": final,
        "score": sign * float(means[index]),
        "score_std": float(stds[index]),
        "initial_band": [min(p[0] for p in band), max(p[0] for p in band)],
        "final_band": [min(p[1] for p in band), max(p[1] for p in band)],
        "initial_at_edge": initial in (initials[0], initials[-1]),
        "final_at_edge": final in (finals[0], finals[-1]),
        "means": nullable(sign * means),
    }


def run(spec: SEDSpec, ctx: RunContext) -> InitialFinalData:
    """Train every (budget, ε_0, ε_f) point and tune the pair per budget for both objectives."""
    if not spec.final_lr_exponents:
        raise ValueError("sed-initial-final-lr needs final_lr_exponents (the ε_f grid)")
    architecture, batch, momentum = spec.architectures[0], spec.batch_sizes[0], spec.momenta[0]
    finals = [2.0**k for k in spec.final_lr_exponents]
    pairs = [(e0, ef) for e0 in spec.lr_grid() for ef in finals if ef < e0]
    if len(pairs) < 2:
        raise ValueError("the (ε_0, ε_f) grid has fewer than 2 pairs with ε_f < ε_0")
    keys = [(architecture, momentum, batch, e) for e in spec.epoch_budgets]
    swept = sweep_points(spec, ctx, [(key, e0, ef) for key in keys for e0, ef in pairs])
    budgets: list[Any] = []
    for key in keys:
        record: dict[str, Any] = {"epochs": key[3], "pairs": [list(p) for p in pairs]}
        for name, maximize in OBJECTIVES.items():
            arr = np.array([[finished_value(r, name) for r in swept[(key, e0, ef)]] for e0, ef in pairs])
            record[name] = pair_optimum(pairs, arr, spec.keep, maximize)
        budgets.append(record)
    return {"budgets": budgets, "batch_size": batch, "initial_grid": list(spec.lr_grid()), "final_grid": finals}


# ---- claims -------------------------------------------------------------------------------------------------


def _ordered(data: InitialFinalData) -> tuple[list[Budget], str]:
    """The budgets in increasing epochs (at least 2) and the note naming the optima at an axis edge."""
    ordered = sorted(data["budgets"], key=lambda b: b["epochs"])
    if len(ordered) < 2:
        raise NotEnoughData("needs at least 2 epoch budgets")
    edges = [b["epochs"] for b in ordered if b["test_acc"]["initial_at_edge"] or b["test_acc"]["final_at_edge"]]
    return ordered, f"the best ε_0 or ε_f at the edge of its axis for budgets {edges} (bounds)" if edges else ""


def check_initial_lr(data: InitialFinalData) -> Verdict:
    ordered, note = _ordered(data)
    initial = [b["test_acc"]["initial"] for b in ordered]
    return Verdict.of(
        all(b >= a for a, b in itertools.pairwise(initial)),
        {
            "epochs": [b["epochs"] for b in ordered],
            "initial_lr": initial,
            "initial_band": [b["test_acc"]["initial_band"] for b in ordered],
        },
        note,
    )


def check_final_lr(data: InitialFinalData) -> Verdict:
    ordered, note = _ordered(data)
    final = [b["test_acc"]["final"] for b in ordered]
    return Verdict.of(
        final[-1] < final[0],
        {
            "epochs": [b["epochs"] for b in ordered],
            "final_lr": final,
            "final_band": [b["test_acc"]["final_band"] for b in ordered],
        },
        note,
    )


_FIG3 = "§7.1, Fig. 3c"

CLAIMS = (
    ClaimSpec(
        id="fig3/initial-lr-does-not-fall",
        statement="the ε_0 that maximises test accuracy does not fall as the epoch budget grows "
        "(never lower than at the previous budget)",
        kind="paper",
        provenance=provenance(
            _FIG3,
            "The optimal initial learning rate which maximizes the test accuracy is constant for epoch budgets "
            "greater than 400",
            paper_value="constant above 400 epochs (decays very slowly below)",
        ),
        test=ClaimTest(
            "the ε_0 of the best (ε_0, ε_f) pair for test accuracy (best-k-of-n) per epoch budget",
            "non-decreasing from each budget to the next",
        ),
        check=check_initial_lr,
    ),
    ClaimSpec(
        id="fig3/final-lr-falls",
        statement="the ε_f that maximises test accuracy is lower at the largest epoch budget than at the smallest",
        kind="paper",
        provenance=provenance(
            _FIG3, "while the optimal final learning rate decays rapidly as the epoch budget increases."
        ),
        test=ClaimTest(
            "the ε_f of the best (ε_0, ε_f) pair for test accuracy (best-k-of-n) per epoch budget",
            "lower at the largest budget than at the smallest",
        ),
        check=check_final_lr,
    ),
)


# ---- figure -------------------------------------------------------------------------------------------------


def draw_fig3(data: InitialFinalData, fig_dir: Path) -> Path:
    """Fig. 3: (a) optimal test accuracy, (b) optimal training loss vs epoch budget; (c) the optimal
    ε_0 and ε_f for test accuracy and (d) for training loss, with their one-std bands."""
    budgets = sorted(data["budgets"], key=lambda b: b["epochs"])
    e = [b["epochs"] for b in budgets]
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.4), layout="constrained")
    acc = [b["test_acc"] for b in budgets]
    loss = [b["train_loss"] for b in budgets]
    score_errorbar(axes[0], e, acc, 100)
    score_errorbar(axes[1], e, loss)
    for ax, optima, title in (
        (axes[2], acc, "c) maximise test accuracy"),
        (axes[3], loss, "d) minimise training loss"),
    ):
        for which, style in (("initial", "-"), ("final", "--")):
            value = np.array([o[which] for o in optima], float)  # type: ignore[literal-required]
            band = np.array([o[f"{which}_band"] for o in optima], float)  # type: ignore[literal-required]
            ax.errorbar(
                e,
                value,
                yerr=[value - band[:, 0], band[:, 1] - value],
                marker="o",
                ls=style,
                capsize=3,
                label=f"ε_{which[0] if which == 'final' else '0'}",
            )
        ax.set_yscale("log", base=2)
        ax.set_ylabel("optimal effective learning rate")
        ax.set_title(title)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("optimal test accuracy (%)")
    axes[0].set_title("a) test accuracy")
    axes[1].set_ylabel("optimal training loss")
    axes[1].set_yscale("log")
    axes[1].set_title("b) training loss")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("epoch budget")
    fig.suptitle(f"Fig. 3 — batch size {data['batch_size']}, initial and final learning rates tuned independently")
    return plots.save(fig, fig_dir / "fig3_initial_final_lr.png")


TINY_RUN: Mapping[str, Any] = TINY | {
    "batch_sizes": (16,),
    "momenta": (0.9,),
    "epoch_budgets": (1, 2),
    "lr_exponents": (-2, -1),
    "final_lr_exponents": (-6, -4),
}


EXPERIMENT = Experiment(
    name="sed-initial-final-lr",
    description="Initial and final learning rates tuned independently vs budget.",
    title="Fig. 3 — independently tuned initial and final learning rates (Smith, Elsen & De 2020)",
    paper=PAPER,
    specs={
        "quick": SEDSpec(
            **QUICK,
            batch_sizes=(64,),
            momenta=(0.9,),
            epoch_budgets=(2, 8, 32),
            lr_exponents=(-3, 0),
            final_lr_exponents=(-10, -8, -6, -4),
        ),
        "paper": SEDSpec(
            **(PAPER_SCALE | PAPER_BUDGETS | {"runs": 7, "keep": 5}),
            lr_exponents=(-3, 3),
            final_lr_exponents=(-12, -10, -8, -6, -4, -2, 0),
        ),
    },
    tiny={scale: TINY_RUN for scale in ("quick", "paper")},
    run=run,
    claims=CLAIMS,
    figures=(Figure("fig3", draw_fig3, InitialFinalData),),
    settings=settings,
)
