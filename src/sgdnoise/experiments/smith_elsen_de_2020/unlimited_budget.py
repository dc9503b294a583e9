"""Smith, Elsen & De 2020, §7, Figure 2: optimal learning rates as the epoch budget grows.

The batch size fixed (64), momentum 0.9, several epoch budgets; per budget the ε_eff that maximises the
test accuracy and the ε_eff that minimises the final training loss are tuned independently (the
protocol of ``setup``), with batch normalisation (Fig. 2c) and without (Fig. 2d).

The claims (``CLAIMS``) and the figure (``draw_fig2``) are declared below the run. Thresholds fixed a
priori, each read from the optima's one-std bands (the paper's error bars, ``setup.band_ratio``): with batch
norm the test-accuracy optimum varies by at most ``TEST_LR_FACTOR``× across the budgets (the paper's "a factor
of 2": the bands allow it); without, it is constant (one ε inside every budget's one-std band); the
training-loss optimum is lower at the largest budget than at the smallest and falls by a larger factor than
the test-accuracy optimum (the bands leave no other reading; fails when they exclude it). Accuracy and loss
comparisons across budgets are Welch intervals over the kept seeds (``analysis.effects``); "saturates" is a
TOST equivalence within ±``SATURATION_POINTS`` (a choice). Every claim is inconclusive while an optimum it
rests on sits at a grid edge after extension.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

import matplotlib.pyplot as plt
import numpy as np

from sgdnoise import plots
from sgdnoise.analysis.effects import directional_effect, equivalence
from sgdnoise.experiments.base import Experiment, Figure, RunContext
from sgdnoise.experiments.claims import SMITH_ELSEN_DE_2020, ClaimSpec, ClaimTest, NotEnoughData, Verdict
from sgdnoise.experiments.grid import join_notes
from sgdnoise.experiments.smith_elsen_de_2020.setup import (
    ARCHITECTURE_LABELS,
    BAND_RULE,
    BATCH_NORM,
    EDGE_RULE,
    LR_BARS,
    PAPER,
    PAPER_BUDGETS,
    PAPER_SCALE,
    TINY_BUDGETS,
    Curve,
    SEDSpec,
    all_of,
    band_ratio,
    best_larger_budget,
    budget_panels,
    falls_at_every_step,
    kept_at_optimum,
    lr_errorbar,
    optimum,
    optimum_band,
    peak_at_an_end,
    score_errorbar,
    settings,
    tuned_curves,
    unless_at_edge,
    unless_bands_interior,
    unless_seeds_vary,
)

TEST_LR_FACTOR = 2.0  # with batch norm the test-accuracy optimum varies by at most 2× (the paper's factor)
SATURATION_POINTS = 0.3  # TOST margin (points) of "saturates": a choice, the paper gives none
LOSS_JUMP_NOTE = 2.0  # a note names the budgets whose loss one grid point above its optimum is > 2× higher


class UnlimitedBudgetData(TypedDict):
    """The numbers behind Fig. 2 and its claims: one tuned curve per (architecture, epoch budget)."""

    curves: list[Curve]
    batch_size: int
    labels: dict[str, str]  # architecture → label, in the spec's order
    keep: int


def run(spec: SEDSpec, ctx: RunContext) -> UnlimitedBudgetData:
    """Tune every (architecture, epoch budget) curve for both objectives."""
    batch, momentum = spec.batch_sizes[0], spec.momenta[0]
    keys = [(a, momentum, batch, e) for a in spec.architectures for e in spec.epoch_budgets]
    return {
        "curves": tuned_curves(spec, ctx, keys),
        "batch_size": batch,
        "labels": {a: ARCHITECTURE_LABELS[a] for a in spec.architectures},
        "keep": spec.keep,
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


def _interior(curves: Sequence[Curve], *objectives: str) -> None:
    """Inconclusive while a curve's optimum for one of ``objectives`` sits at a grid edge."""
    edges = [c["epochs"] for c in curves if any(optimum(c, o)["at_edge"] for o in objectives)]
    unless_at_edge(edges, "epoch budgets")


def _lr_ratio(curves: Sequence[Curve], objective: str) -> float:
    """The optimal ε at the smallest budget over that at the largest (> 1: it fell)."""
    return optimum(curves[0], objective)["value"] / optimum(curves[-1], objective)["value"]


def _bands_interior(curves: Sequence[Curve], *objectives: str) -> None:
    """Inconclusive while a one-std band of one of ``objectives`` reaches its grid's edge (``BAND_RULE``)."""
    edges = [c["epochs"] for c in curves if any(optimum(c, o)["band_at_edge"] for o in objectives)]
    unless_bands_interior(edges, "epoch budgets")


def check_test_lr_within_factor(data: UnlimitedBudgetData) -> Verdict:
    curves = _panel_curves(data, batch_norm=True)
    _interior(curves, "test_acc")
    _bands_interior(curves, "test_acc")
    bands = [optimum_band(c, "test_acc") for c in curves]
    least = max(1.0, max(b[0] for b in bands) / min(b[1] for b in bands))  # the least spread the bands allow
    test_lr = [optimum(c, "test_acc")["value"] for c in curves]
    return Verdict.of(
        least <= TEST_LR_FACTOR,
        {
            "epochs": [c["epochs"] for c in curves],
            "test_lr": test_lr,
            "bands": [list(b) for b in bands],
            "max_over_min": max(test_lr) / min(test_lr),
            "least_max_over_min": least,
        },
        "" if least <= TEST_LR_FACTOR else f"the one-std bands keep the optima at least {least:g}× apart",
    )


def check_test_lr_constant(data: UnlimitedBudgetData) -> Verdict:
    curves = _panel_curves(data, batch_norm=False)
    _interior(curves, "test_acc")
    _bands_interior(curves, "test_acc")
    bands = [optimum_band(c, "test_acc") for c in curves]
    low, high = max(b[0] for b in bands), min(b[1] for b in bands)
    test_lr = [optimum(c, "test_acc")["value"] for c in curves]
    return Verdict.of(
        low <= high,
        {
            "epochs": [c["epochs"] for c in curves],
            "test_lr": test_lr,
            "bands": [list(b) for b in bands],
            "max_over_min": max(test_lr) / min(test_lr),
        },
        "" if low <= high else f"no ε lies in every budget's one-std band (they leave [{low:g}, {high:g}] empty)",
    )


def _loss_lr_falls(batch_norm: bool) -> Callable[[UnlimitedBudgetData], Verdict]:
    def check(data: UnlimitedBudgetData) -> Verdict:
        curves = _panel_curves(data, batch_norm)
        _interior(curves, "train_loss", "test_acc")
        ends = (curves[0], curves[-1])
        _bands_interior(ends, "train_loss", "test_acc")
        loss_low, loss_high = band_ratio(*(optimum_band(c, "train_loss") for c in ends))
        test_low, test_high = band_ratio(*(optimum_band(c, "test_acc") for c in ends))
        jumps = {c["epochs"]: loss_jump_above(c) for c in curves}
        steep = {e: j for e, j in jumps.items() if j is not None and j > LOSS_JUMP_NOTE}
        stability = (
            f"the training loss one grid point above its optimum is more than {LOSS_JUMP_NOTE:g}× higher "
            "(budget: ratio) " + ", ".join(f"{e}: {j:.3g}" for e, j in steep.items())
            if steep
            else ""
        )
        value = {
            "epochs": [c["epochs"] for c in curves],
            "train_loss_lr": [optimum(c, "train_loss")["value"] for c in curves],
            "first_over_last": _lr_ratio(curves, "train_loss"),
            "test_lr_first_over_last": _lr_ratio(curves, "test_acc"),
            "loss_fall_within_bands": [loss_low, loss_high],
            "test_fall_within_bands": [test_low, test_high],
        }
        if loss_low > 1 and loss_low > test_high:
            return Verdict("holds", value, stability)
        if loss_high <= 1 or loss_high <= test_low:
            return Verdict("fails", value, stability)
        return Verdict.inconclusive(
            join_notes(
                f"within the one-std bands the loss optimum falls {loss_low:g}–{loss_high:g}×, the test optimum "
                f"{test_low:g}–{test_high:g}×: they allow both a larger and a smaller fall",
                stability,
            ),
            value,
        )

    return check


def _kept_by_budget(data: UnlimitedBudgetData, curves: Sequence[Curve], objective: str) -> list[np.ndarray]:
    _interior(curves, objective)
    return [kept_at_optimum(c, data["keep"], objective) for c in curves]


def check_accuracy_rises(data: UnlimitedBudgetData) -> Verdict:
    comparisons = {}
    for batch_norm in (True, False):
        curves = _panel_curves(data, batch_norm)
        acc = _kept_by_budget(data, curves, "test_acc")
        peak = best_larger_budget([optimum(c, "test_acc")["score"] for c in curves])
        who = "batch norm" if batch_norm else "no normalisation"
        comparisons[f"{who}: peak ({curves[peak]['epochs']:g} epochs) > {curves[0]['epochs']:g} epochs"] = (
            directional_effect(acc[peak], acc[0], direction=1)
        )
    return all_of(comparisons)


def check_bn_accuracy_saturates(data: UnlimitedBudgetData) -> Verdict:
    curves = _panel_curves(data, batch_norm=True)
    acc = _kept_by_budget(data, curves, "test_acc")
    last, before = curves[-1]["epochs"], curves[-2]["epochs"]
    return all_of(
        {f"{last:g} ≈ {before:g} epochs": equivalence(acc[-1], acc[-2], margin=SATURATION_POINTS / 100)},
        {"test_acc": {str(c["epochs"]): optimum(c, "test_acc")["score"] for c in curves}},
    )


def check_unnormalised_accuracy_falls(data: UnlimitedBudgetData) -> Verdict:
    curves = _panel_curves(data, batch_norm=False)
    acc = _kept_by_budget(data, curves, "test_acc")
    scores = [optimum(c, "test_acc")["score"] for c in curves]
    peak = int(np.argmax(scores))
    value = {"test_acc": {str(c["epochs"]): s for c, s in zip(curves, scores, strict=True)}}
    other = int(np.argmax(scores[:-1])) if peak == len(curves) - 1 else len(curves) - 1
    unless_seeds_vary(acc[peak], acc[other], f"{curves[peak]['epochs']:g} and {curves[other]['epochs']:g} epochs")
    if peak == len(curves) - 1:
        found = f"the test accuracy peaks at the largest budget ({curves[peak]['epochs']:g} epochs)"
        return peak_at_an_end(acc[peak], acc[other], found, f"{curves[other]['epochs']:g}", value)
    label = f"peak ({curves[peak]['epochs']:g} epochs) > {curves[-1]['epochs']:g} epochs"
    return all_of({label: directional_effect(acc[peak], acc[-1], direction=1)}, value)


def check_train_loss_falls(data: UnlimitedBudgetData) -> Verdict:
    comparisons = {}
    for batch_norm in (True, False):
        curves = _panel_curves(data, batch_norm)
        loss = _kept_by_budget(data, curves, "train_loss")
        who = "batch norm: " if batch_norm else "no normalisation: "
        comparisons |= falls_at_every_step([c["epochs"] for c in curves], loss, who)
    return all_of(comparisons)


_LOSS_LR_QUOTE = "The learning rate that minimizes the training loss falls rapidly as the epoch budget rises."
_WELCH = "Welch 95% interval over the runs kept at each optimum (≥ 3 seeds a side)"


def _loss_claim(panel: str, batch_norm: bool, loss_value: str | None) -> ClaimSpec:
    who = "with batch norm" if batch_norm else "without normalisation"
    return ClaimSpec(
        id=f"{panel}/loss-lr-falls",
        statement=f"{who}, the ε_eff that minimises the final training loss is lower at the largest epoch budget "
        "than at the smallest, and falls by a larger factor than the ε_eff that maximises test accuracy",
        kind="paper",
        provenance=SMITH_ELSEN_DE_2020.cite(f"§7, Fig. {panel[-2:]}", _LOSS_LR_QUOTE, paper_value=loss_value),
        test=ClaimTest(
            "ε_eff minimising the training loss and ε_eff maximising test accuracy (best-k-of-n) at the smallest and "
            "largest budgets, with their one-std bands (§4's error bars); each one's fall (smallest over largest), "
            "least and greatest within the bands",
            "holds when the loss optimum's least fall exceeds 1 and the test optimum's greatest fall; fails when its "
            "greatest fall is ≤ 1 or ≤ the test optimum's least fall; else inconclusive" + EDGE_RULE + BAND_RULE,
        ),
        check=_loss_lr_falls(batch_norm),
    )


_FIG2A = (
    "Initially the test accuracy rises as the epoch budget increases, however when training without batch "
    "normalization it begins to fall beyond 400 training epochs, while with batch normalization it saturates after "
    "800 epochs."
)

CLAIMS = (
    ClaimSpec(
        id="fig2c/test-lr-stays",
        statement=f"with batch norm, the ε_eff that maximises test accuracy varies by at most {TEST_LR_FACTOR:g}× "
        "across the epoch budgets",
        kind="paper",
        provenance=SMITH_ELSEN_DE_2020.cite(
            "§7, Fig. 2c",
            "when training with batch normalization, the learning rate that maximizes the test accuracy only falls "
            "by a factor of 2 when we increase the epoch budget from 50 to 6400 epochs.",
            paper_value="2× over 50–6400 epochs",
        ),
        test=ClaimTest(
            "the ε_eff maximising test accuracy (best-k-of-n) per epoch budget and its one-std band (§4's error bar)",
            "holds when the bands allow every optimum within TEST_LR_FACTOR× of the others (largest lower end / "
            "smallest upper end ≤ TEST_LR_FACTOR), fails otherwise" + EDGE_RULE + BAND_RULE,
            {"TEST_LR_FACTOR": TEST_LR_FACTOR},
        ),
        check=check_test_lr_within_factor,
    ),
    _loss_claim("fig2c", True, "falls 16× as the epoch budget grows 128× (§1), the test optimum 2×"),
    ClaimSpec(
        id="fig2d/test-lr-stays",
        statement="without normalisation, the ε_eff that maximises test accuracy is constant across the epoch "
        "budgets: one ε_eff lies inside every budget's one-std band (the paper's error bars)",
        kind="paper",
        provenance=SMITH_ELSEN_DE_2020.cite(
            "§7, Fig. 2d",
            "when training without batch normalization, the learning rate that maximizes the test accuracy is "
            "constant for all epoch budgets considered.",
            paper_value="constant over 50–6400 epochs",
        ),
        test=ClaimTest(
            "the ε_eff maximising test accuracy per budget and its one-std band (§4's error bar)",
            "the bands' intersection is not empty" + EDGE_RULE + BAND_RULE,
        ),
        check=check_test_lr_constant,
    ),
    _loss_claim("fig2d", False, None),
    ClaimSpec(
        id="fig2a/test-accuracy-rises",
        statement="with and without batch norm, the optimal test accuracy is higher at its best epoch budget above "
        "the smallest than at the smallest budget",
        kind="paper",
        provenance=SMITH_ELSEN_DE_2020.cite(
            "§7, Fig. 2a", _FIG2A, paper_value="rises up to 400 (no norm) / 800 (batch norm) epochs"
        ),
        test=ClaimTest(
            "optimal test accuracy per budget; best of the larger budgets minus the smallest, per seed",
            _WELCH + " above zero for both models; fails if below zero for either" + EDGE_RULE,
        ),
        check=check_accuracy_rises,
    ),
    ClaimSpec(
        id="fig2a/bn-accuracy-saturates",
        statement=f"with batch norm, the optimal test accuracy at the largest budget equals that at the next "
        f"largest within ±{SATURATION_POINTS} points",
        kind="paper",
        provenance=SMITH_ELSEN_DE_2020.cite("§7, Fig. 2a", _FIG2A, paper_value="saturates after 800 epochs"),
        test=ClaimTest(
            "optimal test accuracy at the two largest budgets, per seed",
            "TOST equivalence (Welch 90% interval inside ±SATURATION_POINTS, ≥ 3 seeds a side)" + EDGE_RULE,
            {"SATURATION_POINTS": SATURATION_POINTS},
        ),
        check=check_bn_accuracy_saturates,
    ),
    ClaimSpec(
        id="fig2a/no-norm-accuracy-falls",
        statement="without normalisation, the optimal test accuracy peaks at an epoch budget below the largest "
        "and is lower at the largest budget",
        kind="paper",
        provenance=SMITH_ELSEN_DE_2020.cite("§7, Fig. 2a", _FIG2A, paper_value="falls beyond 400 epochs"),
        test=ClaimTest(
            "optimal test accuracy per budget; peak minus largest budget, per seed",
            "peak below the largest budget and the " + _WELCH + " above zero; fails when it lies below zero, or "
            "when the peak at the largest budget lies clearly above the runner-up, by the same interval; "
            "inconclusive when neither group's kept runs vary" + EDGE_RULE,
        ),
        check=check_unnormalised_accuracy_falls,
    ),
    ClaimSpec(
        id="fig2b/train-loss-falls",
        statement="with and without batch norm, the optimal training loss falls from every epoch budget to the next",
        kind="paper",
        provenance=SMITH_ELSEN_DE_2020.cite(
            "§7, Fig. 2b",
            "The training loss falls monotonically as the epoch budget rises.",
        ),
        test=ClaimTest(
            "optimal final training loss (best-k-of-n by training loss) per budget, per seed",
            _WELCH + " on each consecutive pair below zero; holds if all do, fails if any is above zero" + EDGE_RULE,
        ),
        check=check_train_loss_falls,
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
    budget_panels(axes)
    for i, ax in enumerate(axes):
        ax.legend(fontsize=8, title=LR_BARS if i >= 2 else None, title_fontsize=8)
    fig.suptitle(f"Fig. 2 — batch size {data['batch_size']}, growing epoch budgets (hollow: optimum at a grid edge)")
    return plots.save(fig, fig_dir / "fig2_unlimited_budget.png")


TINY_RUN: Mapping[str, Any] = TINY_BUDGETS | {"architectures": ("bn-mlp", "mlp")}


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
        ),
        "paper": SEDSpec(
            **(PAPER_SCALE | PAPER_BUDGETS | {"architectures": ("wrn-16-4", "wrn-16-4-regularized-skipinit")}),
            lr_exponents=(-5, 3),
        ),
    },
    # the paper scale's smoke run trains both Wide-ResNets (ghost BN, Regularized SkipInit) for 2 steps
    tiny={
        "quick": TINY_RUN,
        "paper": TINY_RUN
        | {
            "architectures": ("wrn-16-4", "wrn-16-4-regularized-skipinit"),
            "epoch_budgets": (1,),
            "runs": 1,
            "n_train": 32,
            "n_test": 16,
        },
    },
    run=run,
    claims=CLAIMS,
    figures=(Figure("fig2", draw_fig2, UnlimitedBudgetData),),
    settings=settings,
)
