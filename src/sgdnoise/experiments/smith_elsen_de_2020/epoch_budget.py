"""Smith, Elsen & De 2020, §5, Figure 1: two regimes of SGD under a constant epoch budget.

B on a ×2 grid, a fixed number of epochs, SGD (m = 0) and momentum (m = 0.9), the effective learning rate
tuned per curve by the protocol of ``setup``. ε_opt(B) of SGD gets the hinge fit ε_opt ∝ B below B* and
flat above, with a bootstrap interval of B* (``analysis.bootstrap_regime_change``); B_simple (the
gradient noise scale, McCandlish et al. 2018) and ε_crit = 2/λ_max are measured at initialisation beside
it (one store record per seed, so a rerun measures nothing again).

The claims (``CLAIMS``) and the figure (``draw_fig1``) are declared below the run; thresholds fixed a
priori: the rising segment's slope in [``SLOPE_LOW``, ``SLOPE_HIGH``] (∝ B), the plateau flat (|slope| ≤
``PLATEAU_SLOPE``); accuracy comparisons are Welch intervals over the kept seeds (``analysis.effects``),
"matches" a TOST equivalence within ±``MOMENTUM_MATCH_POINTS`` points (the paper gives no margin: a choice);
B_simple within a factor ``B_SIMPLE_FACTOR`` of B* is this project's extension, never the paper's claim.
Every claim is inconclusive while an optimum it rests on sits at a grid edge after extension.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

import matplotlib.pyplot as plt
import numpy as np

from sgdnoise import analysis, plots
from sgdnoise.analysis.effects import directional_effect, equivalence
from sgdnoise.experiments.base import Experiment, Figure, RunContext
from sgdnoise.experiments.claims import SMITH_ELSEN_DE_2020, ClaimSpec, ClaimTest, NotEnoughData, Verdict
from sgdnoise.experiments.smith_elsen_de_2020.init_scales import InitMeasurement, measure_at_init
from sgdnoise.experiments.smith_elsen_de_2020.setup import (
    BAND_RULE,
    EDGE_RULE,
    LR_BARS,
    PAPER,
    PAPER_SCALE,
    QUICK,
    TINY,
    Curve,
    SEDSpec,
    all_of,
    band_ratio,
    kept_at_optimum,
    lr_errorbar,
    optimum,
    optimum_band,
    score_errorbar,
    scores_row,
    settings,
    train_loss_at_test_optimum,
    tuned_curves,
    unless_at_edge,
    unless_bands_interior,
)

SLOPE_LOW, SLOPE_HIGH = 0.5, 1.5  # the rising segment's slope (∝ B: 1)
PLATEAU_SLOPE = 0.25  # |slope| of the points above B* (flat: 0)
MIN_REGIME_POINTS = 5  # batch sizes the 3-parameter hinge needs to leave 2 residual degrees of freedom
MOMENTUM_MATCH_POINTS = 0.3  # TOST margin (points) of "matches"/"independent of B": a choice, the paper gives none
B_SIMPLE_FACTOR = 2.0  # B_simple at init within a factor 2 of B*
B_STAR_RTOL = 1e-9  # B* is fitted in log space: a grid B* comes back a hair low


class EpochCurve(Curve):
    """A tuned curve plus the mean ± std final training loss of the kept runs at its test optimum."""

    train_loss_at_optimum: tuple[float, float]


class HingeFit(TypedDict):
    """``analysis.RegimeChange.to_dict()``: log ε_opt = a + s·min(log B, log B*)."""

    breakpoint: float
    slope_noise: float
    intercept: float
    plateau: float
    slope_curvature: float | None
    sse: float
    sse_line: float
    n_noise: int
    n_curvature: int


class Regime(TypedDict):
    """``analysis.RegimeInterval.to_dict()`` plus the batch sizes whose optimum sits at a grid edge."""

    fit: HingeFit
    low: float
    high: float
    level: float
    n_bootstrap: int
    n_valid: int
    batch_sizes: list[float]
    optimal_lr: list[float]
    edge_optima: list[int]


class EpochBudgetData(TypedDict):
    """The numbers behind Fig. 1 and its claims."""

    curves: list[EpochCurve]
    regime: Regime | None
    init: InitMeasurement | None
    momenta: list[float]
    keep: int


# ---- run ----------------------------------------------------------------------------------------------------


def regime_fit(curves: Sequence[Curve], keep: int, n_bootstrap: int, seed: int) -> Regime:
    """Hinge fit of ε_opt(B) with a bootstrap interval for B* (``analysis.bootstrap_regime_change``)."""
    ordered = sorted(curves, key=lambda c: c["batch_size"])
    grids = [c["lr_grid"] for c in ordered]
    scores = [np.array([scores_row(c, "test_acc", i) for i in range(len(c["lr_grid"]))]) for c in ordered]
    fit = analysis.bootstrap_regime_change(
        [c["batch_size"] for c in ordered], grids, scores, keep, n_bootstrap=n_bootstrap, seed=seed
    )
    return fit.to_dict() | {"edge_optima": [c["batch_size"] for c in ordered if optimum(c)["at_edge"]]}  # type: ignore[return-value]


def run(spec: SEDSpec, ctx: RunContext) -> EpochBudgetData:
    """Tune every (momentum, B) curve, fit SGD's two regimes, measure B_simple and ε_crit at init."""
    architecture, budget = spec.architectures[0], spec.epoch_budgets[0]
    keys = [(architecture, m, b, budget) for m in spec.momenta for b in spec.batch_sizes]
    curves: list[Any] = tuned_curves(spec, ctx, keys)
    sgd = [c for c in curves if c["momentum"] == min(spec.momenta)]
    regime = regime_fit(sgd, spec.keep, spec.n_bootstrap, ctx.seed) if len(sgd) >= 3 else None
    init = measure_at_init(spec, ctx, EXPERIMENT.name, architecture) if spec.measure_init else None
    for c in curves:
        c["train_loss_at_optimum"] = train_loss_at_test_optimum(c, spec.keep)
    return {"curves": curves, "regime": regime, "init": init, "momenta": list(spec.momenta), "keep": spec.keep}


# ---- claims -------------------------------------------------------------------------------------------------


def _regime(data: EpochBudgetData) -> Regime:
    if data["regime"] is None:
        raise NotEnoughData("the hinge fit needs at least 3 batch sizes")
    return data["regime"]


def _b_star(regime: Regime) -> float:
    return regime["fit"]["breakpoint"] * (1 + B_STAR_RTOL)


def _by_batch(data: EpochBudgetData, momentum: float) -> dict[int, EpochCurve]:
    return {c["batch_size"]: c for c in data["curves"] if c["momentum"] == momentum}


def _sgd_and_momentum(data: EpochBudgetData) -> tuple[dict[int, EpochCurve], dict[int, EpochCurve]]:
    """SGD's curves (the smallest momentum) and momentum's (the largest), by batch size."""
    return _by_batch(data, min(data["momenta"])), _by_batch(data, max(data["momenta"]))


def _interior(curves: Sequence[EpochCurve], what: str) -> None:
    """Inconclusive unless every curve's test-accuracy optimum is interior (``setup.unless_at_edge``)."""
    unless_at_edge(sorted({c["batch_size"] for c in curves if optimum(c)["at_edge"]}), what)


def check_sgd_regimes(data: EpochBudgetData) -> Verdict:
    regime = _regime(data)
    unless_at_edge(regime["edge_optima"], "SGD at B =")
    fit, n_points = regime["fit"], len(regime["batch_sizes"])
    if n_points < MIN_REGIME_POINTS:
        raise NotEnoughData(f"{n_points} batch sizes: a 3-parameter hinge needs {MIN_REGIME_POINTS} to be tested")
    low, high = regime["low"], regime["high"]
    slope, curv_slope = fit["slope_noise"], fit["slope_curvature"]
    tests = (
        (SLOPE_LOW <= slope <= SLOPE_HIGH, f"rising slope {slope:.2f} outside [{SLOPE_LOW}, {SLOPE_HIGH}]"),
        (
            curv_slope is not None and abs(curv_slope) <= PLATEAU_SLOPE,
            f"slope above B* {curv_slope} not within ±{PLATEAU_SLOPE}",
        ),
        (fit["sse"] < fit["sse_line"], "the hinge fits no better than one straight line"),
    )
    inner = sorted(regime["batch_sizes"])[1:-1]  # where the hinge's B* can lie (analysis.detect_regime_change)
    if all(ok for ok, _ in tests) and not inner[0] * (1 + B_STAR_RTOL) < low <= high < inner[-1] * (1 - B_STAR_RTOL):
        raise NotEnoughData(
            f"B*'s interval [{low:.3g}, {high:.3g}] reaches an end of its range {inner[0]:g}–{inner[-1]:g}"
        )
    return Verdict.of(
        all(ok for ok, _ in tests),
        {
            "B_star": fit["breakpoint"],
            "B_star_interval": [low, high],
            "interval_level": regime["level"],
            "slope_noise": slope,
            "slope_curvature": curv_slope,
            "sse_hinge": fit["sse"],
            "sse_line": fit["sse_line"],
            "optimal_lr": dict(zip(map(str, regime["batch_sizes"]), regime["optimal_lr"], strict=True)),
        },
        "; ".join(text for ok, text in tests if not ok),
    )


def _split_at_b_star(data: EpochBudgetData) -> tuple[float, dict[int, EpochCurve], dict[int, EpochCurve]]:
    """B* (inconclusive while an SGD optimum sits at an edge), SGD's and momentum's curves by B (interior optima)."""
    regime = _regime(data)
    unless_at_edge(regime["edge_optima"], "SGD at B =")
    sgd, mom = _sgd_and_momentum(data)
    _interior(list(mom.values()), "momentum at B =")
    return _b_star(regime), sgd, mom


def check_momentum_scales_further(data: EpochBudgetData) -> Verdict:
    b_star, sgd, mom = _split_at_b_star(data)
    above = [b for b in sorted(sgd) if b > b_star and b in mom]
    if len(above) < 2:
        raise NotEnoughData(f"fewer than 2 batch sizes above B* = {b_star:.3g} with both optimisers run")
    read = [c for b in above for c in (sgd[b], mom[b])]
    unless_bands_interior(sorted({c["batch_size"] for c in read if optimum(c)["band_at_edge"]}), "B =")
    growth = band_ratio(optimum_band(mom[above[-1]]), optimum_band(mom[above[0]]))
    versus_sgd = {str(b): band_ratio(optimum_band(mom[b]), optimum_band(sgd[b])) for b in above}
    value = {
        "B": above,
        "momentum_eff_lr": [optimum(mom[b])["value"] for b in above],
        "ratio_momentum_to_sgd": {str(b): optimum(mom[b])["value"] / optimum(sgd[b])["value"] for b in above},
        "growth_within_bands": list(growth),
        "ratio_within_bands": {b: list(r) for b, r in versus_sgd.items()},
    }
    if growth[1] <= 1 or any(high < 1 for _, high in versus_sgd.values()):
        return Verdict("fails", value)
    return (
        Verdict("holds", value)
        if growth[0] > 1
        else Verdict.inconclusive("the bands allow growth but do not show it", value)
    )


def _kept(curve: EpochCurve, keep: int, value: str = "test_acc") -> np.ndarray:
    return kept_at_optimum(curve, keep, value=value)


def check_momentum_matches_below(data: EpochBudgetData) -> Verdict:
    b_star, sgd, mom = _split_at_b_star(data)
    keep = data["keep"]
    below = [b for b in sorted(sgd) if b <= b_star and b in mom]
    if not below:
        raise NotEnoughData(f"no batch size at or below B* = {b_star:.3g}: nothing to compare")
    margin = MOMENTUM_MATCH_POINTS / 100
    return all_of(
        {f"B = {b}": equivalence(_kept(mom[b], keep), _kept(sgd[b], keep), margin=margin) for b in below},
        {"B_star": b_star},
    )


def check_momentum_beats_above(data: EpochBudgetData) -> Verdict:
    b_star, sgd, mom = _split_at_b_star(data)
    keep = data["keep"]
    above = [b for b in sorted(sgd) if b > b_star and b in mom]
    if not above:
        raise NotEnoughData(f"no batch size above B* = {b_star:.3g}: nothing to compare")
    return all_of(
        {f"B = {b}": directional_effect(_kept(mom[b], keep), _kept(sgd[b], keep), direction=1) for b in above},
        {"B_star": b_star},
    )


def _sgd_ends(data: EpochBudgetData) -> tuple[float, dict[int, EpochCurve], dict[int, EpochCurve], int, int]:
    """B*, the curves, the largest B ≤ B* and the largest B of SGD (which must lie above B*)."""
    b_star, sgd, mom = _split_at_b_star(data)
    below = [b for b in sorted(sgd) if b <= b_star]
    if not below or max(sgd) <= b_star:
        raise NotEnoughData(f"B* = {b_star:.3g} leaves no batch size on one of its sides")
    return b_star, sgd, mom, below[-1], max(sgd)


def check_sgd_accuracy_flat_then_falls(data: EpochBudgetData) -> Verdict:
    b_star, sgd, _, knee, largest = _sgd_ends(data)
    keep, smallest = data["keep"], min(sgd)
    flat = equivalence(_kept(sgd[smallest], keep), _kept(sgd[knee], keep), margin=MOMENTUM_MATCH_POINTS / 100)
    falls = directional_effect(_kept(sgd[knee], keep), _kept(sgd[largest], keep), direction=1)
    return all_of(
        {f"B = {smallest} ≈ B = {knee}": flat, f"B = {knee} > B = {largest}": falls},
        {"B_star": b_star, "test_acc": {str(b): optimum(c)["score"] for b, c in sgd.items()}},
    )


def check_train_loss_like_accuracy(data: EpochBudgetData) -> Verdict:
    b_star, sgd, mom, knee, largest = _sgd_ends(data)
    keep = data["keep"]
    if largest not in mom:
        raise NotEnoughData(f"momentum was not run at B = {largest}")
    loss = {b: _kept(c, keep, "train_loss") for b, c in sgd.items()}
    return all_of(
        {
            f"SGD: loss at B = {largest} > at B = {knee}": directional_effect(loss[largest], loss[knee], direction=1),
            f"B = {largest}: momentum's loss < SGD's": directional_effect(
                _kept(mom[largest], keep, "train_loss"), loss[largest], direction=-1
            ),
        },
        {"B_star": b_star, "sgd_train_loss": {str(b): float(v.mean()) for b, v in loss.items() if v.size}},
    )


def check_b_simple(data: EpochBudgetData) -> Verdict:
    regime = _regime(data)
    unless_at_edge(regime["edge_optima"], "SGD at B =")
    fit = regime["fit"]
    init = data["init"]
    if init is None:
        raise NotEnoughData("B_simple was not measured (measure_init=false)")
    ratio = init["B_simple"] / fit["breakpoint"]
    within = 1.0 / B_SIMPLE_FACTOR <= ratio <= B_SIMPLE_FACTOR
    return Verdict.of(
        within,
        {
            "B_simple": init["B_simple"],
            "B_star": fit["breakpoint"],
            "ratio": ratio,
            "epsilon_crit_at_init": init["epsilon_crit"],
            "sgd_plateau_lr": fit["plateau"],
        },
        ""
        if within
        else f"B_simple at initialisation is {ratio:.2f}× B*, outside "
        f"[{1 / B_SIMPLE_FACTOR:g}, {B_SIMPLE_FACTOR:g}]× (B_simple measured at initialisation only)",
    )


_FIG1 = "§5, Fig. 1"
_SMALL_BATCH_MOMENTUM = (
    "SGD with Momentum matches the performance of vanilla SGD for batch sizes B ≲ 512 but outperforms vanilla SGD "
    "for batch sizes B ≳ 512."
)
_KEPT = "the best-k-of-n runs at each curve's test-accuracy optimum, per seed"
_B_STAR = "B* ≈ 512 (16-4 Wide-ResNet, CIFAR-10, 200 epochs)"

CLAIMS = (
    ClaimSpec(
        id="fig1/sgd-regimes",
        statement=f"SGD's optimal ε grows ∝ B below a breakpoint B* (hinge slope in [{SLOPE_LOW}, {SLOPE_HIGH}]) and "
        f"is flat above (slope of the points above B* within ±{PLATEAU_SLOPE}), with B* located inside the batch-size "
        "range",
        kind="paper",
        provenance=SMITH_ELSEN_DE_2020.cite(
            "§5, Fig. 1c",
            "For SGD without Momentum, the learning rate is proportional to the batch size below B ≈ 512, beyond "
            "which the optimal learning rate is constant.",
            paper_value=_B_STAR,
        ),
        test=ClaimTest(
            "hinge fit log ε_opt = a + s·min(log B, log B*) of SGD's tuned optima; OLS slope of the points above B*",
            "SLOPE_LOW ≤ s ≤ SLOPE_HIGH, |slope above B*| ≤ PLATEAU_SLOPE, and the hinge's SSE below one straight "
            "line's; inconclusive with fewer than MIN_REGIME_POINTS batch sizes, or when all that holds but B*'s "
            "bootstrap interval reaches the second or the second-to-last batch size (the ends of B*'s range)"
            + EDGE_RULE,
            {
                "SLOPE_LOW": SLOPE_LOW,
                "SLOPE_HIGH": SLOPE_HIGH,
                "PLATEAU_SLOPE": PLATEAU_SLOPE,
                "MIN_REGIME_POINTS": MIN_REGIME_POINTS,
            },
        ),
        check=check_sgd_regimes,
    ),
    ClaimSpec(
        id="fig1/momentum-scales-further",
        statement="above SGD's B*, momentum's optimal ε_eff keeps growing with B (larger at the largest B than "
        "just above B*) and is at least SGD's at every such B",
        kind="paper",
        provenance=SMITH_ELSEN_DE_2020.cite(
            "§5, Fig. 1c",
            "SGD with Momentum has the same optimal effective learning rate in the small batch limit, but it is able "
            "to scale to larger effective learning rates when B ≳ 512.",
            paper_value="momentum scales beyond B ≈ 512",
        ),
        test=ClaimTest(
            "momentum's tuned ε_eff at the batch sizes above SGD's B*, and its ratio to SGD's, least and greatest "
            "within the one-std bands (§4's error bars)",
            "holds when the least growth from the first such B to the largest exceeds 1; fails when the greatest "
            "does not, or when momentum's greatest ratio to SGD is < 1 at some B; else inconclusive (fewer than 2 "
            "such B: inconclusive)" + EDGE_RULE + BAND_RULE,
        ),
        check=check_momentum_scales_further,
    ),
    ClaimSpec(
        id="fig1/momentum-matches-sgd-below-b-star",
        statement=f"momentum's optimal test accuracy equals SGD's within ±{MOMENTUM_MATCH_POINTS} points at every "
        "batch size B ≤ B*",
        kind="paper",
        provenance=SMITH_ELSEN_DE_2020.cite("§5, Fig. 1a", _SMALL_BATCH_MOMENTUM, paper_value=_B_STAR),
        test=ClaimTest(
            f"momentum's minus SGD's test accuracy, {_KEPT}, at each B ≤ B*",
            "TOST equivalence (Welch 90% interval inside ±MOMENTUM_MATCH_POINTS, ≥ 3 seeds a side) at every B ≤ B*; "
            "fails if it lies outside at any" + EDGE_RULE,
            {"MOMENTUM_MATCH_POINTS": MOMENTUM_MATCH_POINTS},
        ),
        check=check_momentum_matches_below,
    ),
    ClaimSpec(
        id="fig1/momentum-beats-sgd-above-b-star",
        statement="momentum's optimal test accuracy is higher than SGD's at every batch size B > B*",
        kind="paper",
        provenance=SMITH_ELSEN_DE_2020.cite("§5, Fig. 1a", _SMALL_BATCH_MOMENTUM, paper_value=_B_STAR),
        test=ClaimTest(
            f"momentum's minus SGD's test accuracy, {_KEPT}, at each B > B*",
            "Welch 95% interval above zero at every B > B* (≥ 3 seeds a side); fails if below zero at any" + EDGE_RULE,
        ),
        check=check_momentum_beats_above,
    ),
    ClaimSpec(
        id="fig1a/sgd-accuracy-flat-then-falls",
        statement=f"SGD's optimal test accuracy at the smallest B equals that at the largest B ≤ B* (within "
        f"±{MOMENTUM_MATCH_POINTS} points) and is lower at the largest B than at the largest B ≤ B*",
        kind="paper",
        provenance=SMITH_ELSEN_DE_2020.cite(
            "§5, Fig. 1a",
            "The test accuracy of vanilla SGD is independent of batch size when the batch size is small, but falls "
            "when the batch size exceeds 512.",
            paper_value=_B_STAR,
        ),
        test=ClaimTest(
            f"SGD's test accuracy, {_KEPT}: smallest B vs the largest B ≤ B*, and that B vs the largest B",
            "TOST equivalence within ±MOMENTUM_MATCH_POINTS for the first pair and a Welch 95% interval above zero "
            "for the second (≥ 3 seeds a side); holds if both hold, fails if either fails" + EDGE_RULE,
            {"MOMENTUM_MATCH_POINTS": MOMENTUM_MATCH_POINTS},
        ),
        check=check_sgd_accuracy_flat_then_falls,
    ),
    ClaimSpec(
        id="fig1b/train-loss-like-accuracy",
        statement="the final training loss at the optimal ε follows the accuracy: SGD's is higher at the largest B "
        "than at the largest B ≤ B*, and momentum's is lower than SGD's at the largest B",
        kind="paper",
        provenance=SMITH_ELSEN_DE_2020.cite(
            "§5, Fig. 1b",
            "A similar trend is observed for the final training loss at the optimal effective learning rate in "
            "figure 1(b).",
            paper_value=_B_STAR,
        ),
        test=ClaimTest(
            "final training loss of the runs kept at the test-accuracy optimum, per seed",
            "Welch 95% intervals: SGD's loss(largest B) − loss(largest B ≤ B*) > 0 and momentum's − SGD's at the "
            "largest B < 0 (≥ 3 seeds a side); holds if both hold, fails if either fails" + EDGE_RULE,
        ),
        check=check_train_loss_like_accuracy,
    ),
    ClaimSpec(
        id="fig1/b-simple-near-b-star",
        statement=f"(this project's check, not the paper's) the gradient noise scale B_simple at initialisation lies "
        f"within a factor {B_SIMPLE_FACTOR:g} of SGD's regime boundary B*",
        kind="extension",
        provenance=SMITH_ELSEN_DE_2020.cite(
            "§8 (Discussion)",
            "a good rule of thumb is to train near the boundary between the noise and curvature dominated regimes "
            "(McCandlish et al., 2018)",
        ),
        test=ClaimTest(
            "B_simple = tr Σ/|G|² at initialisation (geometric mean over seeds) / SGD's fitted B*",
            "1/B_SIMPLE_FACTOR ≤ ratio ≤ B_SIMPLE_FACTOR" + EDGE_RULE,
            {"B_SIMPLE_FACTOR": B_SIMPLE_FACTOR},
        ),
        check=check_b_simple,
    ),
)


# ---- figure -------------------------------------------------------------------------------------------------


def draw_fig1(data: EpochBudgetData, fig_dir: Path) -> Path:
    """Fig. 1: (a) optimal test accuracy, (b) final training loss at the optimum, (c) optimal effective
    learning rate vs B for SGD and momentum, with the hinge fit and B* ± its bootstrap interval."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), layout="constrained")
    for momentum in data["momenta"]:
        curves = sorted((c for c in data["curves"] if c["momentum"] == momentum), key=lambda c: c["batch_size"])
        b = [c["batch_size"] for c in curves]
        label = "SGD" if momentum == 0 else f"Momentum (m = {momentum:g})"
        acc = [c["optima"]["test_acc"] for c in curves]
        score_errorbar(axes[0], b, acc, 100, label=label)
        loss = np.array([c["train_loss_at_optimum"] for c in curves], float)
        axes[1].errorbar(b, loss[:, 0], yerr=loss[:, 1], marker="o", capsize=3, label=label)
        lr_errorbar(axes[2], b, acc, label)
    regime = data["regime"]
    if regime:
        fit = regime["fit"]
        bs = np.asarray(regime["batch_sizes"], float)
        line = np.exp(fit["intercept"] + fit["slope_noise"] * np.minimum(np.log(bs), np.log(fit["breakpoint"])))
        axes[2].plot(bs, line, "k--", lw=1, label=f"hinge fit, B* = {fit['breakpoint']:.0f}")
        axes[2].axvspan(
            regime["low"], regime["high"], color="grey", alpha=0.2, label=f"{regime['level']:.0%} interval of B*"
        )
    init = data["init"]
    if init:
        axes[2].axvline(init["B_simple"], color="tab:green", ls=":", label=f"B_simple at init = {init['B_simple']:.0f}")
    for ax, ylabel, title in (
        (axes[0], "optimal test accuracy (%)", "a) test accuracy"),
        (axes[1], "final training loss at the optimum", "b) training loss"),
        (axes[2], "optimal effective learning rate", "c) optimal ε_eff"),
    ):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size B")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=8, title=LR_BARS if ax is axes[2] else None, title_fontsize=8)
    axes[1].set_yscale("log")
    axes[2].set_yscale("log", base=2)
    fig.suptitle("Fig. 1 — constant epoch budget (hollow: optimum at the edge of its grid)")
    return plots.save(fig, fig_dir / "fig1_epoch_budget.png")


TINY_RUN: Mapping[str, Any] = TINY | {
    "batch_sizes": (4, 8, 16),
    "momenta": (0.0, 0.9),
    "epoch_budgets": (1,),
    "lr_exponents": (-2, -1),
    "measure_init": True,
    "steps": None,
}


EXPERIMENT = Experiment(
    name="sed-epoch-budget",
    description="SGD vs momentum at a constant epoch budget: ε_opt ∝ B, then flat (B*).",
    title="Fig. 1 — two regimes of SGD under a constant epoch budget (Smith, Elsen & De 2020)",
    paper=PAPER,
    specs={
        "quick": SEDSpec(
            **QUICK,
            batch_sizes=tuple(2**k for k in range(4, 13)),  # 16 .. 4096
            momenta=(0.0, 0.9),
            epoch_budgets=(10,),
            lr_exponents=(-4, 2),
            measure_init=True,
        ),
        "paper": SEDSpec(
            **PAPER_SCALE,
            batch_sizes=tuple(2**k for k in range(4, 15)),
            momenta=(0.0, 0.9),
            epoch_budgets=(200,),
            lr_exponents=(-6, 5),
            measure_init=True,
        ),
    },
    tiny={scale: TINY_RUN for scale in ("quick", "paper")},
    run=run,
    claims=CLAIMS,
    figures=(Figure("fig1", draw_fig1, EpochBudgetData),),
    settings=settings,
)
