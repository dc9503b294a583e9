"""The statistics of the breaking point (Jastrzębski et al. 2018, §4.4, Fig. 6–7; the experiment is
``breaking_point``, kept apart from it only to keep each module short): β* per curve (N, f), the two
readings of what sets it, and the seed bootstrap of the comparisons between curves.

A curve's score at β is its seeds' best validation accuracy (a diverged run scores ``CHANCE``). β* is
``matched_levels.find_breaking_point``: the last β before the first one whose mean falls more than
max(``K_SIGMA``·σ, ``MIN_DROP``) below the plateau. The readings compare, over the curves with a drop, the
log₂ spread of f·η₀·β_c (the drop at one learning rate) with that of N/(S₀·β_c) (the drop at one number of
updates per epoch), β_c = √(β*·β_drop); one wins when its spread is smaller by > ``READING_MARGIN`` octaves.
A comparison between curves needs, on every curve entering it, ``MIN_SEEDS`` distinct seeds (rows of scores; a
copied seed counts once) with a finite score, and no drop found against a seed spread of 0 (``seed_gaps``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypedDict

import numpy as np

from sgdnoise import plots
from sgdnoise.analysis.effects import MIN_SEEDS
from sgdnoise.experiments.grid import join_notes
from sgdnoise.experiments.jastrzebski_2018 import matched_levels
from sgdnoise.results import VerdictName

K_SIGMA = 2.0  # a drop is more than max(K_SIGMA·σ, MIN_DROP) below the plateau (fixed in advance)
MIN_DROP = 0.01
READING_MARGIN = 0.5  # octaves by which one reading's log₂ spread must beat the other's
CHANCE = 0.1  # 10 classes: a diverged run scores as guessing
BOOTSTRAP_LEVEL = 0.95  # a comparison between curves holds in ≥ 95% of the seed resamples, fails in ≤ 5%


class Curve(TypedDict):
    """One curve (N, f) of Fig. 6: per β its seeds' scores and statuses, and the mean validation history."""

    tag: str
    n_train: int
    factor: float
    base_learning_rate: float
    base_batch_size: int
    betas: list[int]
    scores: list[list[float]]  # [seed][β]: best validation accuracy, NaN unless finished
    status: list[list[str]]  # [seed][β]
    history: dict[str, dict[str, Any]]  # str(β) → epoch, validation_acc (mean/std over finished seeds)


class Bootstrap(TypedDict):
    """``bootstrap_readings``: how often each comparison between curves holds over seed resamples."""

    n_bootstrap: int
    beta_star_rises_with_n: float
    smaller_eta_raises_beta_star: float | None
    readings: dict[str, float]


def _spread(values: Sequence[float]) -> float:
    return float(np.std(np.log2(values))) if len(values) >= 2 else math.nan


def read_spreads(found: Sequence[Mapping[str, Any]]) -> tuple[str, bool, float, float]:
    """Which reading the curves with a drop support: (reading, the paper's reading holds, log₂ spread of
    η·β_c, log₂ spread of N/(S₀β_c))."""
    eta_spread = _spread([f["critical_learning_rate"] for f in found])
    steps_spread = _spread([f["critical_steps_per_epoch"] for f in found])
    if len(found) < 3:
        return "undetermined (fewer than 3 curves with a drop)", False, eta_spread, steps_spread
    if eta_spread + READING_MARGIN < steps_spread:
        return "learning rate", True, eta_spread, steps_spread
    if steps_spread + READING_MARGIN < eta_spread:
        return "steps per epoch", False, eta_spread, steps_spread
    return "undecided (spreads within the margin)", False, eta_spread, steps_spread


def _critical(curve: Mapping[str, Any], beta_star: float, beta_drop: float) -> tuple[float, float]:
    """η·β_c and N/(S₀β_c) at the geometric midpoint β_c = √(β*·β_drop) of a curve's drop."""
    beta_mid = math.sqrt(beta_star * beta_drop)
    return curve["base_learning_rate"] * beta_mid, curve["n_train"] / (curve["base_batch_size"] * beta_mid)


def curve_scores(curve: Mapping[str, Any]) -> np.ndarray:
    return plots.as_float_array(curve["scores"])


def _fit(curve: Mapping[str, Any], scores: np.ndarray, n_bootstrap: int, seed: int = 0) -> matched_levels.BreakingPoint:
    return matched_levels.find_breaking_point(
        curve["betas"], scores, k=K_SIGMA, min_drop=MIN_DROP, failed_score=CHANCE, n_bootstrap=n_bootstrap, seed=seed
    )


def fittable(curve: Mapping[str, Any]) -> bool:
    """Whether a curve has a β* to find: two β or more, and a finished run."""
    return len(curve["betas"]) >= 2 and bool(np.isfinite(curve_scores(curve)).any())


def beta_star_rises(stars: Sequence[float]) -> bool:
    """β* non-decreasing in N and larger at the largest N than at the smallest."""
    return len(stars) >= 2 and all(b >= a for a, b in itertools.pairwise(stars)) and stars[-1] > stars[0]


def bootstrap_readings(curves: Sequence[Curve], *, n_bootstrap: int, seed: int = 0) -> Bootstrap:
    """The uncertainty of the three comparisons between curves: every curve's seeds are resampled with
    replacement at every β (as ``matched_levels.find_breaking_point`` does for one curve), β* is found again on
    every curve, and the fraction of resamples is counted in which β* rises with N at the base η (the
    claim's test), in which the smaller η raises β* at every N, and in which each reading is supported
    (``read_spreads``). Reported beside the point verdicts, never replacing them."""
    curves = [c for c in curves if fittable(c)]
    factors = sorted({c["factor"] for c in curves}, reverse=True)
    rng = np.random.default_rng(seed)
    filled = [np.where(np.isfinite(s := curve_scores(c)), s, CHANCE) for c in curves]
    rises = raised = 0
    readings: dict[str, int] = {}
    for _ in range(n_bootstrap):
        fits = []
        for curve, scores in zip(curves, filled, strict=True):
            sample = np.take_along_axis(scores, rng.integers(0, scores.shape[0], size=scores.shape), axis=0)
            fit = _fit(curve, sample, n_bootstrap=1)
            eta_c, steps_c = _critical(curve, fit.beta_star, fit.beta_drop) if fit.found else (math.nan, math.nan)
            fits.append(
                {
                    "n_train": curve["n_train"],
                    "factor": curve["factor"],
                    "beta_star": fit.beta_star,
                    "found": fit.found,
                    "critical_learning_rate": eta_c,
                    "critical_steps_per_epoch": steps_c,
                }
            )
        base = sorted((f for f in fits if factors and f["factor"] == factors[0]), key=lambda f: f["n_train"])
        rises += beta_star_rises([f["beta_star"] for f in base])
        if len(factors) >= 2:
            pairs = [
                (f, next((g for g in fits if g["n_train"] == f["n_train"] and g["factor"] == factors[-1]), None))
                for f in base
            ]
            pairs = [(f, g) for f, g in pairs if g is not None]
            raised += bool(pairs) and all(g["beta_star"] > f["beta_star"] for f, g in pairs)
        reading = read_spreads([f for f in fits if f["found"]])[0]
        readings[reading] = readings.get(reading, 0) + 1
    return {
        "n_bootstrap": n_bootstrap,
        "beta_star_rises_with_n": rises / n_bootstrap,
        "smaller_eta_raises_beta_star": raised / n_bootstrap if len(factors) >= 2 else None,
        "readings": {name: count / n_bootstrap for name, count in sorted(readings.items())},
    }


def fit_curves(curves: Sequence[Curve], *, n_bootstrap: int, seed: int = 0) -> list[dict[str, Any]]:
    """β* per curve, with its seed-bootstrap interval, the drop and the two readings' quantities (``fit`` None
    where the curve is not ``fittable``)."""
    fits = []
    for curve in curves:
        if not fittable(curve):
            fits.append({"tag": curve["tag"], "n_train": curve["n_train"], "factor": curve["factor"], "fit": None})
            continue
        fit = _fit(curve, curve_scores(curve), n_bootstrap, seed)
        diverged = int(sum(s != "finished" for row in curve["status"] for s in row))
        eta_c, steps_c = _critical(curve, fit.beta_star, fit.beta_drop) if fit.found else (None, None)
        fits.append(
            {
                "tag": curve["tag"],
                "n_train": curve["n_train"],
                "factor": curve["factor"],
                "fit": fit.to_dict(),
                "beta_star": fit.beta_star,
                "beta_drop": fit.beta_drop if fit.found else None,
                "interval": [fit.low, fit.high],
                "found": fit.found,
                "diverged_runs": diverged,
                "critical_learning_rate": eta_c,
                "critical_steps_per_epoch": steps_c,
            }
        )
    return fits


def seed_gaps(curves: Sequence[Curve], tags: Iterable[str]) -> list[str]:
    """Why the curves ``tags`` cannot enter a comparison: fewer than MIN_SEEDS distinct seeds (rows of scores, a
    diverged run at CHANCE) with a finite score, or a drop found where every seed scores the same at every β
    before it — a seed spread of 0, so its threshold is the MIN_DROP floor and the floor decided it."""
    gaps = []
    by_tag = {c["tag"]: c for c in curves}
    for tag in tags:
        curve = by_tag[tag]
        scores = curve_scores(curve)
        rows = np.where(np.isfinite(s := scores[np.isfinite(scores).any(axis=1)]), s, CHANCE)
        distinct = len(np.unique(rows, axis=0)) if rows.size else 0
        if distinct < MIN_SEEDS:
            gaps.append(f"{tag}: {distinct} distinct seed(s) with a finite score, fewer than {MIN_SEEDS}")
            continue
        fit = _fit(curve, scores, n_bootstrap=1)
        drop = curve["betas"].index(fit.beta_drop) if fit.found else 0
        if fit.found and not np.ptp(rows[:, :drop], axis=0).any():
            gaps.append(f"{tag}: the drop at β = {fit.beta_drop:g} is against a seed spread of 0 (the MIN_DROP floor)")
    return gaps


def with_bootstrap(share: float | None, value: Any, note: str) -> tuple[Any, str]:
    """The point value and note, with the fraction ``share`` of seed resamples in which the claim holds."""
    if share is None:
        return value, note
    holding = f"holds in {100 * share:.0f}% of seed-bootstrap resamples"
    return {"point": value, "bootstrap_fraction_holding": share}, join_notes(note, holding)


def bootstrap_outcome(share: float | None) -> VerdictName:
    """A comparison between curves decided by the seed bootstrap: ``holds`` when it holds in at least
    BOOTSTRAP_LEVEL of the resamples, ``fails`` when in at most 1 − BOOTSTRAP_LEVEL, else ``inconclusive``."""
    if share is None or not math.isfinite(share):
        return "inconclusive"
    if share >= BOOTSTRAP_LEVEL:
        return "holds"
    return "fails" if share <= 1 - BOOTSTRAP_LEVEL else "inconclusive"


def fractions(readings: Mapping[str, float]) -> str:
    return ", ".join(f"{name} {100 * share:.0f}%" for name, share in sorted(readings.items(), key=lambda kv: -kv[1]))
