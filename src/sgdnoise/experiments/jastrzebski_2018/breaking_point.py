"""Jastrzębski et al. 2018, §4.4, Fig. 6–7: the breaking point of the (βη, βS) invariance.

(η, S) → (βη, βS) at fixed η/S and fixed epochs (equal SDE time), β = 1 … 64, several training-set sizes,
the base η and η/2. The paper: validation accuracy is flat up to a β* and then drops; β* is larger for
larger data sets; halving η moves the drop to "much larger β", read as "the reason behind breaking point is
the use of a high learning rate".

The score of a run is its best validation accuracy over the evaluations (the paper's bracketed numbers:
"mean and standard deviation of the maximum validation accuracy"); a diverged run scores chance (0.1). β*
per curve (N, η) is ``matched_levels.find_breaking_point``: the last β before the first one whose mean falls more
than max(``K_SIGMA``·σ, ``MIN_DROP``) below the plateau, the mean over all smaller β (σ: their pooled seed
std), with a bootstrap interval over seeds. Two readings of what sets β*, both checked on every curve with a
drop, using the geometric midpoint β_c = √(β*·β_drop): (η) the drop happens at one learning rate, so
f·η₀·β_c is the same for every N and for η₀/2 — halving η doubles β*; (steps) the drop happens at one number
of updates per epoch, so N/(S₀·β_c) is the same on every curve — β* ∝ N and halving η does not move it
(equal epochs: total updates = epochs·N/(S₀β)). The data support the reading whose quantity has the smaller
spread (std of log₂ over the curves) by more than ``READING_MARGIN`` octaves. β sits on an octave grid, so
one seed's noise can move a β* by a factor 2: ``bootstrap_readings`` resamples the seeds of every curve at
once and reports how often each comparison between curves (β* rises with N, η/2 raises β*, each reading)
comes out. Since issue 16 the two comparisons between curves are decided by that bootstrap (``holds`` in at
least ``BOOTSTRAP_LEVEL`` = 95% of the resamples, ``fails`` in at most 5%, else inconclusive; the point
estimates are recorded beside), a curve with no drop in the β grid leaves "flat then falls" inconclusive,
and a reading the spreads cannot separate is inconclusive. Since the claims audit of 2026-12-08 every claim is
inconclusive unless each curve it compares has ``MIN_SEEDS`` distinct seeds and no drop found against a seed
spread of 0 (``beta_star.seed_gaps``: one seed, or one copied, decided them all). These statistics are in ``beta_star``;
the run computes the fits and the bootstrap once (``analyse``: the figures draw them too), the claims read them.

Quick scale: the 4-layer BN-MLP of §4.1 (``setup.model_spec``) on Fashion-MNIST 14×14 (``setup.task_factory``),
N ∈ {1000, 2000, 4000}, η₀ = 0.1 (the paper's), S₀ = 8, 20 epochs, 5 seeds (the paper's count; the first
quick spec had N ∈ {1000, 4000} and 3 seeds, 2 min, and its β* of N = 4000 rested on a 1.6-point dip at the
2σ edge). Paper scale: VGG-11 on CIFAR-10 (η₀ = 0.1, S₀ = 50, 5 seeds; ``--set model=resnet56`` for Fig. 7)
— the paper gives neither the data-set sizes of Fig. 6a–c nor the epochs: 12 500 / 25 000 / 45 000 and 100
epochs are our choice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import matplotlib.pyplot as plt
import numpy as np

from sgdnoise import plots
from sgdnoise.data import TaskData
from sgdnoise.engine import TrainConfig
from sgdnoise.experiments.base import Experiment, Figure, RunContext
from sgdnoise.experiments.claims import JASTRZEBSKI_2018, ClaimSpec, ClaimTest, NotEnoughData, Verdict
from sgdnoise.experiments.grid import join_notes, mean_std
from sgdnoise.experiments.jastrzebski_2018.beta_star import (
    BOOTSTRAP_LEVEL,
    CHANCE,
    K_SIGMA,
    MIN_DROP,
    MIN_SEEDS,
    READING_MARGIN,
    Bootstrap,
    Curve,
    beta_star_rises,
    bootstrap_outcome,
    bootstrap_readings,
    fit_curves,
    fractions,
    read_spreads,
    seed_gaps,
    with_bootstrap,
)
from sgdnoise.experiments.jastrzebski_2018.setup import Dataset, ModelName, spec_model, task_factory, task_name
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.sweep import Sweep, SweepRun, SweptRun


@dataclass(frozen=True)
class BreakingPointSpec:
    """(βη₀f, βS₀) for β in ``betas``, f in ``learning_rate_factors`` (1 = the base η₀, 0.5 = Fig. 6d),
    per training-set size, for ``epochs`` epochs; ``n_bootstrap`` seed resamples for the β* intervals and
    the readings' bootstrap. β with βS₀ > N is not run."""

    train_sizes: tuple[int, ...] = (1000, 2000, 4000)
    betas: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    learning_rate: float = 0.1
    learning_rate_factors: tuple[float, ...] = (1.0, 0.5)
    batch_size: int = 8
    epochs: float = 20.0
    seeds: int = 5
    validation: int = 2000
    n_test: int | None = 1000
    dataset: Dataset = "fashion-mnist"
    model: ModelName = "bn-mlp"
    pool: int | None = 2
    width: int = 256
    depth: int = 4
    momentum: float = 0.0
    eval_points: int = 12
    n_bootstrap: int = 1000
    subset_seed: int = 0

    def __post_init__(self) -> None:
        if not self.train_sizes or list(self.train_sizes) != sorted(set(self.train_sizes)):
            raise ValueError(f"train_sizes must be distinct and increasing, got {self.train_sizes}")
        if len(self.betas) < 2 or list(self.betas) != sorted(set(self.betas)) or self.betas[0] < 1:
            raise ValueError(f"betas must be >= 2 distinct increasing values >= 1, got {self.betas}")
        if self.learning_rate <= 0 or any(f <= 0 for f in self.learning_rate_factors) or self.batch_size < 1:
            raise ValueError("learning_rate and its factors must be > 0, batch_size >= 1")
        if self.seeds < 1 or self.epochs <= 0:
            raise ValueError("seeds >= 1 and epochs > 0 are needed")


# paper scale: VGG-11 on CIFAR-10 at η = 0.1, S = 50 (§4.4); the paper does not state momentum, weight decay or
# augmentation, nor the β grid, training-set sizes and epochs: plain SGD, none, none and the values below are
# this project's choices
SPECS = {
    "quick": BreakingPointSpec(),
    "paper": BreakingPointSpec(
        train_sizes=(12_500, 25_000, 45_000),
        betas=(1, 2, 4, 8, 16, 32, 64),
        learning_rate=0.1,
        batch_size=50,
        epochs=100.0,
        seeds=5,
        validation=5000,
        n_test=None,
        dataset="cifar10",
        model="vgg11",
        pool=None,
        eval_points=30,
    ),
}


class BreakingPointData(TypedDict):
    """The numbers behind Fig. 6–7 and the claims: the curves, β* per curve (``fits``; None where a curve
    has fewer than two β or no finished run) and the seed bootstrap of the comparisons between curves."""

    curves: list[Curve]
    epochs: float
    fits: list[dict[str, Any]]
    bootstrap: Bootstrap


def _curve_tag(n_train: int, factor: float) -> str:
    return f"n{n_train}-eta{factor:g}"


def _score(run: SweptRun) -> float:
    """The best validation accuracy over the evaluations (the paper's bracketed numbers); NaN unless finished."""
    if run.status != "finished":
        return math.nan
    values = [v for v in (run.history or {}).get("validation_acc") or [] if v is not None]
    return float(max(values)) if values else math.nan


def run(spec: BreakingPointSpec, ctx: RunContext) -> BreakingPointData:
    """Train every (N, f, β, seed) not yet in the store; per curve the scores [seed][β] and mean validation
    histories, then β* per curve and the bootstrap (``analyse``)."""
    tasks: dict[str, Callable[[], TaskData]] = {}
    runs: list[SweepRun] = []
    keys: list[tuple[int, float, int, int]] = []
    model = spec_model(spec)
    for n_train in spec.train_sizes:
        name = task_name(spec.dataset, n_train, spec.validation, spec.n_test, spec.subset_seed, spec.pool)
        tasks[name] = task_factory(spec.dataset, n_train, spec.validation, spec.n_test, spec.subset_seed, spec.pool)
        for factor in spec.learning_rate_factors:
            for beta in spec.betas:
                if beta * spec.batch_size > n_train:
                    continue
                for index in range(spec.seeds):
                    config = TrainConfig(
                        model,
                        beta * factor * spec.learning_rate,
                        beta * spec.batch_size,
                        epochs=spec.epochs,
                        momentum=spec.momentum,
                        seed=ctx.seed + index,
                        eval_points=spec.eval_points,
                    )
                    runs.append(SweepRun(config, task=name))
                    keys.append((n_train, factor, beta, index))
    by_key = dict(zip(keys, ctx.sweep(Sweep("jastrzebski-breaking-point", tasks, runs)), strict=True))
    curves: list[Curve] = []
    for n_train in spec.train_sizes:
        for factor in spec.learning_rate_factors:
            betas = [b for b in spec.betas if b * spec.batch_size <= n_train]
            scores, histories, statuses = [], {}, []
            for beta in betas:
                done = [by_key[(n_train, factor, beta, i)] for i in range(spec.seeds)]
                scores.append([_score(r) for r in done])
                statuses.append([r.status for r in done])
                finished = [r for r in done if r.status == "finished" and (r.history or {}).get("epoch")]
                if finished:
                    longest = max(finished, key=lambda r: len(r.history["epoch"]))
                    histories[str(beta)] = {
                        "epoch": longest.history["epoch"],
                        "validation_acc": mean_std([r.history["validation_acc"] for r in finished]),
                    }
            curves.append(
                {
                    "tag": _curve_tag(n_train, factor),
                    "n_train": n_train,
                    "factor": factor,
                    "base_learning_rate": factor * spec.learning_rate,
                    "base_batch_size": spec.batch_size,
                    "betas": betas,
                    "scores": np.asarray(scores, dtype=float).T.tolist(),
                    "status": np.asarray(statuses, dtype=object).T.tolist(),
                    "history": histories,
                }
            )
    return analyse(curves, spec.epochs, n_bootstrap=spec.n_bootstrap, seed=ctx.seed)


def analyse(curves: list[Curve], epochs: float, *, n_bootstrap: int, seed: int = 0) -> BreakingPointData:
    """The figure data: the curves, β* per curve (``fit_curves``) and the seed bootstrap of the comparisons."""
    return {
        "curves": curves,
        "epochs": epochs,
        "fits": fit_curves(curves, n_bootstrap=n_bootstrap, seed=seed),
        "bootstrap": bootstrap_readings(curves, n_bootstrap=n_bootstrap, seed=seed),
    }


# ---- claims -------------------------------------------------------------------------------------------------


def _usable(data: BreakingPointData) -> tuple[list[dict[str, Any]], list[float], list[dict[str, Any]]]:
    """The fitted curves, the learning-rate factors (largest first) and the curves at the base η."""
    usable = [f for f in data["fits"] if f["fit"] is not None]
    factors = sorted({f["factor"] for f in usable}, reverse=True)
    return usable, factors, [f for f in usable if f["factor"] == factors[0]] if factors else []


def _brief(f: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "curve": f["tag"],
        "beta_star": f["beta_star"],
        "drop_at": f["beta_drop"],
        "interval": f["interval"],
        "diverged_runs": f["diverged_runs"],
    }


def _enough_seeds(data: BreakingPointData, tags: Iterable[str]) -> None:
    """NotEnoughData unless every curve ``tags`` has MIN_SEEDS distinct seeds and no drop at a zero spread."""
    if gaps := seed_gaps(data["curves"], tags):
        raise NotEnoughData(join_notes(*gaps))


def check_flat_then_falls(data: BreakingPointData) -> Verdict:
    base = _usable(data)[2]
    _enough_seeds(data, (f["tag"] for f in base))
    early = any(f["found"] and f["beta_star"] < 2 for f in base)
    held = bool(base) and all(f["found"] and f["beta_star"] >= 2 for f in base)
    return Verdict(
        "fails" if early else "holds" if held else "inconclusive",
        [_brief(f) for f in base],
        join_notes(
            *(f"{f['tag']}: no drop up to β = {f['beta_star']:g} (a lower bound)" for f in base if not f["found"]),
            *(f"{f['tag']}: drop already at β = {f['beta_drop']:g}" for f in base if f["found"] and f["beta_star"] < 2),
        ),
    )


def check_rises_with_n(data: BreakingPointData) -> Verdict:
    ordered = sorted(_usable(data)[2], key=lambda f: f["n_train"])
    _enough_seeds(data, (f["tag"] for f in ordered))
    stars = [f["beta_star"] for f in ordered]
    overlap = len(ordered) >= 2 and ordered[-1]["interval"][0] <= ordered[0]["interval"][1]
    value = {
        "n_train": [f["n_train"] for f in ordered],
        "beta_star": stars,
        "interval": [f["interval"] for f in ordered],
    }
    note = join_notes(
        "the bootstrap intervals of the smallest and largest N overlap" if overlap else "",
        "a β* with no drop in the grid is a lower bound" if any(not f["found"] for f in ordered) else "",
    )
    share = data["bootstrap"]["beta_star_rises_with_n"]
    value["point_estimate_rises"] = beta_star_rises(stars)
    return Verdict(bootstrap_outcome(share), *with_bootstrap(share, value, note))


def check_smaller_eta(data: BreakingPointData) -> Verdict:
    usable, factors, base = _usable(data)
    pairs = []
    if len(factors) >= 2:
        for f in base:
            other = next((g for g in usable if g["n_train"] == f["n_train"] and g["factor"] == factors[-1]), None)
            if other is not None:
                pairs.append(
                    {"n_train": f["n_train"], "base": _brief(f), "reduced": _brief(other), "factor": factors[-1]}
                )
    note = join_notes(
        *(f"N = {p['n_train']}: β* {p['base']['beta_star']:g} → {p['reduced']['beta_star']:g}" for p in pairs),
        "needs two learning-rate factors" if not pairs else "",
    )
    _enough_seeds(data, (p[k]["curve"] for p in pairs for k in ("base", "reduced")))
    raised = bool(pairs) and all(p["reduced"]["beta_star"] > p["base"]["beta_star"] for p in pairs)
    share = data["bootstrap"]["smaller_eta_raises_beta_star"]
    value = {"pairs": pairs, "point_estimate_raised": raised}
    return Verdict(bootstrap_outcome(share), *with_bootstrap(share, value, note))


def check_eta_reading(data: BreakingPointData) -> Verdict:
    _enough_seeds(data, (f["tag"] for f in _usable(data)[0]))
    found = [f for f in _usable(data)[0] if f["found"]]
    reading, holds, eta_spread, steps_spread = read_spreads(found)
    boot = data["bootstrap"]["readings"]
    curves = [
        {
            "curve": f["tag"],
            "critical_learning_rate": f["critical_learning_rate"],
            "critical_steps_per_epoch": f["critical_steps_per_epoch"],
        }
        for f in found
    ]
    opposite = reading == "steps per epoch"
    return Verdict(
        "holds" if holds else "fails" if opposite else "inconclusive",
        {
            "supported_reading": reading,
            "log2_spread_learning_rate": eta_spread,
            "log2_spread_steps_per_epoch": steps_spread,
            "curves": curves,
            "bootstrap": boot,
        },
        join_notes(
            f"the data support: {reading} (log₂ spread η·β_c {eta_spread:.2f}, N/(S₀β_c) {steps_spread:.2f})",
            f"seed bootstrap: {fractions(boot)}",
        ),
    )


_DROP = {"K_SIGMA": K_SIGMA, "MIN_DROP": MIN_DROP, "MIN_SEEDS": MIN_SEEDS}
_SEEDS = (
    "; inconclusive unless every curve compared has ≥ MIN_SEEDS distinct seeds (identical rows of scores count "
    "once) with a finite score and no drop found where all its seeds score alike at every β before (σ = 0: the "
    "MIN_DROP floor)"
)
_BETA_STAR = f"β* (last β before the first mean more than max({K_SIGMA:g}σ, {MIN_DROP:g}) below the plateau)"

CLAIMS = (
    ClaimSpec(
        id="fig6/flat-then-falls",
        statement="at the base η, best validation accuracy stays flat while (η, S) → (βη, βS) up to a β* ≥ 2 and "
        f"then falls (first mean more than max({K_SIGMA:g}σ, {MIN_DROP:g}) below the plateau) on every data-set size",
        kind="paper",
        provenance=JASTRZEBSKI_2018.cite(
            "§4.4, Fig. 6a–c",
            "increasing the learning rate and batch size yields similar performance up to a certain β value, for "
            "which the performance drops significantly",
        ),
        test=ClaimTest(
            f"{_BETA_STAR} of the seeds' best validation accuracy (a diverged run scores CHANCE), per N at the base η",
            "holds if a drop is found on every curve at the base η with β* ≥ 2; fails if some curve drops before "
            "β = 2; inconclusive if some curve shows no drop in the β grid" + _SEEDS,
            _DROP | {"CHANCE": CHANCE},
        ),
        check=check_flat_then_falls,
    ),
    ClaimSpec(
        id="fig6/beta-star-rises-with-n",
        statement="at the base η, β* is non-decreasing in the training-set size and larger at the largest than at "
        "the smallest",
        kind="paper",
        provenance=JASTRZEBSKI_2018.cite(
            "§4.4, Fig. 6a–c",
            "The plots suggest that the breaking point happens for smaller β values if the dataset size is smaller.",
        ),
        test=ClaimTest(
            f"{_BETA_STAR} per N at the base η; the fraction of seed-bootstrap resamples in which β* is "
            "non-decreasing in N and β*(largest N) > β*(smallest N)",
            "holds if that fraction ≥ BOOTSTRAP_LEVEL, fails if ≤ 1 − BOOTSTRAP_LEVEL, else inconclusive" + _SEEDS,
            _DROP | {"BOOTSTRAP_LEVEL": BOOTSTRAP_LEVEL},
        ),
        check=check_rises_with_n,
    ),
    ClaimSpec(
        id="fig6/smaller-eta-raises-beta-star",
        statement="with the base η multiplied by the smaller factor (Fig. 6d: η/2), β* is larger at every data-set "
        "size",
        kind="paper",
        provenance=JASTRZEBSKI_2018.cite(
            "§4.4, Fig. 6d",
            "The breaking point happens for much larger β when using a smaller noise.",
            paper_value="base η 0.05 against 0.1, S = 50·β (Fig. 6d)",
        ),
        test=ClaimTest(
            f"{_BETA_STAR} per N at the base η and at the smallest factor; the fraction of seed-bootstrap resamples "
            "in which β*(smallest factor) > β*(base η) at every N that has both",
            "holds if that fraction ≥ BOOTSTRAP_LEVEL, fails if ≤ 1 − BOOTSTRAP_LEVEL, else inconclusive" + _SEEDS,
            _DROP | {"BOOTSTRAP_LEVEL": BOOTSTRAP_LEVEL},
        ),
        check=check_smaller_eta,
    ),
    ClaimSpec(
        id="fig6/eta-reading",
        statement="the paper's reading: β* is set by η getting too large — η·β at the drop is the same on every curve "
        f"(its log₂ spread is smaller, by > {READING_MARGIN:g} octave, than that of the updates per epoch N/(S₀β) at "
        "the drop)",
        kind="paper",
        provenance=JASTRZEBSKI_2018.cite(
            "§4.4, Fig. 6d",
            "These experiments strongly suggest that the reason behind breaking point is the use of a high learning "
            "rate because the performance drops at much higher β when the base learning rate is halved.",
        ),
        test=ClaimTest(
            "std over the curves with a drop (≥ 3 needed) of log₂(f·η₀·β_c) and of log₂(N/(S₀·β_c)), "
            "β_c = √(β*·β_drop)",
            "holds if log₂ spread of η·β_c + READING_MARGIN < log₂ spread of N/(S₀β_c); fails if the reverse; else "
            "inconclusive" + _SEEDS + " (every fitted curve is compared)",
            _DROP | {"READING_MARGIN": READING_MARGIN},
        ),
        check=check_eta_reading,
    ),
)


# ---- figures ------------------------------------------------------------------------------------------------


class CurvesData(TypedDict):
    curves: list[Curve]


class BetaStarData(TypedDict):
    curves: list[Curve]
    fits: list[dict[str, Any]]


def _scores(curve: Curve) -> np.ndarray:
    return plots.as_float_array(curve["scores"])


def _size_colours(curves: Sequence[Curve]) -> dict[int, Any]:
    sizes = sorted({c["n_train"] for c in curves})
    return {n: plt.get_cmap("viridis")(i / max(1, len(sizes) - 1) * 0.85) for i, n in enumerate(sizes)}


def draw_fig6(data: CurvesData, fig_dir: Path) -> Path:
    """Fig. 6: per curve (N, base η) the mean validation accuracy over training for every β, the legend
    giving the mean ± std of the best validation accuracy (* = a seed diverged)."""
    curves = data["curves"]
    columns = min(3, len(curves))
    rows = math.ceil(len(curves) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 4.6 * rows), squeeze=False, layout="constrained")
    for ax in axes.flat[len(curves) :]:
        ax.set_visible(False)
    for ax, curve in zip(axes.flat, curves, strict=False):
        cmap = plt.get_cmap("viridis")
        scores = _scores(curve)
        for j, beta in enumerate(curve["betas"]):
            history = curve["history"].get(str(beta))
            if history is None:
                continue
            star = "*" if any(row[j] != "finished" for row in curve["status"]) else ""
            column = scores[:, j]
            label = f"β={beta} ({np.nanmean(column):.3f} ± {np.nanstd(column):.3f}){star}"
            ax.plot(
                plots.as_float_array(history["epoch"]),
                plots.as_float_array(history["validation_acc"]["mean"]),
                color=cmap(0.85 * j / max(1, len(curve["betas"]) - 1)),  # viridis short of its pale yellow
                label=label,
            )
        ax.set_title(f"N = {curve['n_train']}, η = {curve['base_learning_rate']:g}·β, S = {curve['base_batch_size']}·β")
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy")
        plots.legend_below(ax, fontsize=7, ncols=2, title="β (best validation accuracy, mean ± std over seeds)")
    fig.suptitle("Fig. 6 — breaking point of the (βη, βS) invariance at fixed epochs (* = a seed diverged)")
    return plots.save(fig, fig_dir / "fig6_breaking_point.png")


def draw_beta_star(data: BetaStarData, fig_dir: Path) -> Path:
    """Best validation accuracy vs β per curve (mean ± SE over seeds) with β* marked and its bootstrap
    interval, one panel per learning-rate factor."""
    curves = data["curves"]
    fits = {f["tag"]: f for f in data["fits"]}
    factors = sorted({c["factor"] for c in curves}, reverse=True)
    size_colour = _size_colours(curves)
    fig, axes = plt.subplots(1, len(factors), figsize=(5 * len(factors), 4), squeeze=False, sharey=True)
    for ax, factor in zip(axes[0], factors, strict=True):
        for curve in (c for c in curves if c["factor"] == factor):
            scores = _scores(curve)
            mean = np.nanmean(scores, axis=0)
            count = np.isfinite(scores).sum(axis=0)
            spread = np.sqrt(np.nansum((scores - mean) ** 2, axis=0) / np.maximum(count - 1, 1))
            se = np.where(count > 1, spread / np.sqrt(np.maximum(count, 1)), 0.0)
            colour = size_colour[curve["n_train"]]
            ax.errorbar(curve["betas"], mean, yerr=se, color=colour, marker="o", ms=3, capsize=2)
            fit = fits.get(curve["tag"])
            label = f"N = {curve['n_train']}"
            if fit and fit.get("fit") is not None:
                j = curve["betas"].index(fit["beta_star"]) if fit["beta_star"] in curve["betas"] else None
                if j is not None:
                    low, high = fit["interval"]
                    xerr = [[fit["beta_star"] - low], [high - fit["beta_star"]]]
                    ax.errorbar([fit["beta_star"]], [mean[j]], xerr=xerr, color=colour, marker="*", ms=12, capsize=3)
                star = f"{fit['beta_star']:g}" + ("" if fit["found"] else " (no drop: lower bound)")
                label += f", β* = {star} [{fit['interval'][0]:g}, {fit['interval'][1]:g}]"
            ax.plot([], [], color=colour, marker="o", label=label)
        base = curves[0]["base_learning_rate"] / curves[0]["factor"]
        ax.set_xscale("log", base=2)
        ax.set_xlabel("β")
        ax.set_title(f"η = {factor * base:g}·β, S = {curves[0]['base_batch_size']}·β")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("best validation accuracy (mean ± SE over seeds)")
    fig.suptitle("β* (star, with its 90% seed-bootstrap interval) per data-set size and base η")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return plots.save(fig, fig_dir / "fig6_beta_star.png")


def draw_readings(data: CurvesData, fig_dir: Path) -> Path:
    """What sets the drop: best validation accuracy against η₀·β and against N/(S₀·β), one line per curve."""
    curves = data["curves"]
    factors = sorted({c["factor"] for c in curves}, reverse=True)
    size_colour = _size_colours(curves)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for curve in curves:
        mean = np.nanmean(_scores(curve), axis=0)
        betas = np.asarray(curve["betas"], dtype=float)
        style = {
            "color": size_colour[curve["n_train"]],
            "ls": "-" if curve["factor"] == factors[0] else "--",
            "marker": "o",
            "ms": 3,
            "label": f"N = {curve['n_train']}, η₀ = {curve['base_learning_rate']:g}",
        }
        axes[0].plot(curve["base_learning_rate"] * betas, mean, **style)
        axes[1].plot(curve["n_train"] / (curve["base_batch_size"] * betas), mean, **style)
    axes[0].set_xlabel("learning rate η₀·β")
    axes[1].set_xlabel("updates per epoch N/(S₀·β)")
    for ax in axes:
        ax.set_xscale("log", base=2)
    axes[1].invert_xaxis()
    axes[0].set_ylabel("best validation accuracy (mean over seeds)")
    axes[1].legend(fontsize=7)
    fig.suptitle("What sets the drop: curves that collapse on one axis support that reading")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return plots.save(fig, fig_dir / "fig7_breaking_point_readings.png")


def settings(spec: BreakingPointSpec) -> dict[str, Any]:
    return spec_to_dict(spec) | {
        "score": "best validation accuracy over the evaluations; a diverged run scores 0.1 (chance)",
        "beta_star_test": "first β whose mean is > max(K_SIGMA·σ, MIN_DROP) below the mean of the β before it",
    }


_TINY = {
    "dataset": "standin",
    "train_sizes": "16,32",
    "betas": "1,2,4",
    "batch_size": 4,
    "epochs": 1,
    "seeds": 2,
    "validation": 8,
    "n_test": 8,
    "pool": "none",
    "width": 16,
    "depth": 2,
    "eval_points": 2,
    "n_bootstrap": 20,
}

EXPERIMENT = Experiment(
    name="jastrzebski-breaking-point",
    description="(βη, βS) at fixed η/S and epochs, β = 1…64, several N, η and η/2: β* and what sets it (Fig. 6-7).",
    title="Breaking point of the (βη, βS) invariance: β* vs data-set size and base η (Fig. 6-7)",
    paper="Jastrzębski et al. 2018, §4.4 Fig. 6-7",
    specs=SPECS,
    tiny={
        "quick": _TINY,
        # the paper's VGG-11 on the CIFAR-shaped stand-in: one curve of two β
        "paper": {
            "dataset": "standin",
            "train_sizes": "8",
            "betas": "1,2",
            "learning_rate_factors": "1",
            "batch_size": 4,
            "epochs": 0.5,
            "seeds": 1,
            "validation": 4,
            "n_test": 4,
            "eval_points": 2,
            "n_bootstrap": 5,
        },
    },
    run=run,
    claims=CLAIMS,
    figures=(
        Figure("fig6", draw_fig6, CurvesData),
        Figure("fig6-beta-star", draw_beta_star, BetaStarData),
        Figure("fig7-readings", draw_readings, CurvesData),
    ),
    settings=settings,
)
