"""Matched-level comparisons and breaking points (Jastrzębski et al. 2018 §4.3–4.4, Fig. 5–7)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from sgdnoise.analysis import spearman_correlation
from sgdnoise.analysis.common import (
    FloatArray,
    JSONResult,
    check_grid,
    check_scores,
    expanded_quantiles,
    fill_failures,
)
from sgdnoise.analysis.effects import MIN_SEEDS, directional_effect

ALPHA = 0.05  # a matched comparison is decided by Welch's two-sided 95% interval

# ----------------------------------------------------------------------------------------------------
# 6. Matched-level comparisons and breaking points (Jastrzębski et al. 2018 §4.3–4.4, Fig. 5–7)
# ----------------------------------------------------------------------------------------------------


def ratio_key(value: float) -> float:
    """``value`` rounded to 9 significant digits: the key that groups ratios equal in exact arithmetic
    but not in floats (η/S of 0.07/50 and 0.21/150 differ in the last bit)."""
    return float(f"{float(value):.9g}")


def values_at_levels(x: npt.ArrayLike, y: npt.ArrayLike, levels: npt.ArrayLike) -> FloatArray:
    """``y`` at the first moment the trajectory ``x`` reaches each level, linearly interpolated between
    the two evaluations that bracket the crossing (Jastrzębski et al. 2018 Fig. 5: validation accuracy
    at a given training accuracy on the noisy labels).

    ``x``/``y`` are one run's evaluations in time order; the trajectory ends at its first non-finite
    entry (a diverged run). A level never reached, or already exceeded at the first evaluation, is NaN.
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.ndim != 1 or xs.shape != ys.shape:
        raise ValueError(f"x and y must be 1-D of the same length, got {xs.shape} and {ys.shape}")
    bad = ~(np.isfinite(xs) & np.isfinite(ys))
    if bad.any():
        end = int(np.argmax(bad))
        xs, ys = xs[:end], ys[:end]
    targets = np.asarray(levels, dtype=np.float64)
    out = np.full(targets.shape, np.nan)
    for index, level in np.ndenumerate(targets):
        reached = np.flatnonzero(xs >= level)
        if reached.size == 0:
            continue
        i = int(reached[0])
        if i == 0:
            out[index] = ys[0] if xs[0] == level else math.nan
            continue
        t = (level - xs[i - 1]) / (xs[i] - xs[i - 1])
        out[index] = ys[i - 1] + t * (ys[i] - ys[i - 1])
    return out


@dataclass(frozen=True)
class MatchedLevel(JSONResult):
    """One matched level: the groups (e.g. η/S values) all of whose repeats reached it, their mean and
    sample std (ddof = 1; ``nan`` with one repeat) of the compared value, the Spearman ρ of the value
    against the group over every run at this level, and the difference highest-group mean − lowest-group
    mean with its Welch standard error and Welch's two-sided (1 − ALPHA) interval [low, high] (NaN unless both
    groups have ``min_seeds`` values and one of them a spread: ``analysis.effects.directional_effect``)."""

    level: float
    groups: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    n: tuple[int, ...]
    rho: float
    difference: float
    se: float
    low: float
    high: float


@dataclass(frozen=True)
class MatchedComparison(JSONResult):
    """``compare_at_matched_levels``: per level, and pooled over the ``n_levels`` levels with a Welch interval
    (two groups of at least ``min_seeds`` runs, not both without spread) — the mean difference (highest − lowest
    group), the mean of the levels' standard errors and of their intervals' ends (the SE and the interval of the
    mean difference if the levels were perfectly correlated, as successive points of one trajectory nearly are:
    the conservative choice), the median ρ."""

    levels: tuple[MatchedLevel, ...]
    n_levels: int
    mean_difference: float
    mean_se: float
    median_rho: float
    mean_low: float = math.nan
    mean_high: float = math.nan

    def outcome(self) -> Literal["holds", "fails", "inconclusive"]:
        """``holds`` when the pooled interval lies above zero and the median ρ is positive; ``fails`` when it lies
        below zero (the opposite effect); otherwise, or with no level pooled, ``inconclusive``."""
        if self.n_levels > 0 and self.mean_low > 0 and self.median_rho > 0:
            return "holds"
        return "fails" if self.n_levels > 0 and self.mean_high < 0 else "inconclusive"


def compare_at_matched_levels(
    groups: npt.ArrayLike,
    values: npt.ArrayLike,
    levels: npt.ArrayLike,
    *,
    min_repeats: int | None = None,
    present: npt.ArrayLike | None = None,
    min_seeds: int = MIN_SEEDS,
) -> MatchedComparison:
    """Compare a value across groups at matched levels of a covariate (Jastrzębski et al. 2018 §4.3,
    Fig. 5: validation accuracy across η/S at equal training accuracy on randomised labels).

    ``groups`` [G] are the group coordinates (strictly increasing, e.g. η/S), ``values`` [G, R, L] the
    value of repeat r (seed) of group g at level l (NaN: the run did not reach it, see
    ``values_at_levels``), ``levels`` [L]. A group enters a level when at least ``min_repeats`` of its
    repeats (default: all its repeats) reached it; a level with fewer than two such groups is reported
    but not pooled. ``present`` [G, R] (default: all True) marks the repeats that exist, for groups with
    fewer repeats than others (e.g. η/S reached by several (η, S) pairs); absent ones are ignored. ρ is
    the Spearman correlation of value and group over the runs at the level. A level is pooled when its highest
    and lowest groups give a Welch interval (``MatchedLevel``; at least ``min_seeds`` runs each).
    """
    grid = check_grid(groups, log=False, name="groups")
    arr = np.asarray(values, dtype=np.float64)
    targets = np.asarray(levels, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[0] != grid.size or arr.shape[2] != targets.size:
        shape = f"[groups={grid.size}, repeats, levels={targets.size}]"
        raise ValueError(f"values must have shape {shape}, got {arr.shape}")
    repeats = arr.shape[1]
    mask = np.ones(arr.shape[:2], dtype=bool) if present is None else np.asarray(present, dtype=bool)
    if mask.shape != arr.shape[:2]:
        raise ValueError(f"present must have shape {arr.shape[:2]}, got {mask.shape}")
    if min_repeats is not None and not 1 <= min_repeats <= repeats:
        raise ValueError(f"min_repeats must lie in [1, {repeats}], got {min_repeats}")
    need = mask.sum(axis=1) if min_repeats is None else np.minimum(mask.sum(axis=1), min_repeats)
    arr = np.where(mask[:, :, None], arr, np.nan)
    matched: list[MatchedLevel] = []
    for j, level in enumerate(targets):
        column = arr[:, :, j]
        counts = np.isfinite(column).sum(axis=1)
        members = [g for g in range(grid.size) if need[g] >= 1 and counts[g] >= need[g]]
        means = [float(np.nanmean(column[g])) for g in members]
        stds = [float(np.nanstd(column[g], ddof=1)) if counts[g] > 1 else math.nan for g in members]
        ns = [int(counts[g]) for g in members]
        rho, difference, se, low, high = math.nan, math.nan, math.nan, math.nan, math.nan
        if len(members) >= 2:
            xs = np.concatenate([np.full(int(counts[g]), grid[g]) for g in members])
            ys = np.concatenate([column[g][np.isfinite(column[g])] for g in members])
            rho = spearman_correlation(xs, ys).rho
            difference = means[-1] - means[0]
            if ns[0] > 1 and ns[-1] > 1:
                se = math.sqrt(stds[-1] ** 2 / ns[-1] + stds[0] ** 2 / ns[0])
            top, bottom = (column[members[i]][np.isfinite(column[members[i]])] for i in (-1, 0))
            if np.ptp(top) > 0 or np.ptp(bottom) > 0:  # two groups without spread: a point interval, no noise
                welch = directional_effect(top, bottom, direction=1, alpha=ALPHA, min_seeds=min_seeds)
                low, high = welch.low, welch.high
        matched.append(
            MatchedLevel(
                level=float(level),
                groups=tuple(float(grid[g]) for g in members),
                mean=tuple(means),
                std=tuple(stds),
                n=tuple(ns),
                rho=rho,
                difference=difference,
                se=se,
                low=low,
                high=high,
            )
        )
    pooled = [m for m in matched if math.isfinite(m.low) and math.isfinite(m.high)]
    rhos = [m.rho for m in pooled if math.isfinite(m.rho)]

    def mean(name: str) -> float:
        return float(np.mean([getattr(m, name) for m in pooled])) if pooled else math.nan

    return MatchedComparison(
        levels=tuple(matched),
        n_levels=len(pooled),
        mean_difference=mean("difference"),
        mean_se=mean("se"),
        median_rho=float(np.median(rhos)) if rhos else math.nan,
        mean_low=mean("low"),
        mean_high=mean("high"),
    )


def comparison_value(comparison: MatchedComparison) -> dict[str, Any]:
    """A comparison as a claim's value (Jastrzębski et al. Fig. 5: the groups are η/S values)."""
    return {
        "levels_compared": comparison.n_levels,
        "mean_difference": comparison.mean_difference,
        "mean_se": comparison.mean_se,
        "mean_low": comparison.mean_low,
        "mean_high": comparison.mean_high,
        "median_rho": comparison.median_rho,
        "per_level": [
            {
                "level": level.level,
                "noise_values": list(level.groups),
                "mean_validation": list(level.mean),
                "std": list(level.std),
                "n": list(level.n),
                "difference": level.difference,
                "se": level.se,
                "low": level.low,
                "high": level.high,
                "rho": level.rho,
            }
            for level in comparison.levels
        ],
    }


@dataclass(frozen=True)
class BreakingPoint(JSONResult):
    """``find_breaking_point``: where a score that is flat in β starts to fall.

    ``beta_star`` is the last β on the plateau (the β before ``beta_drop``, the first β whose mean falls
    more than ``threshold`` below the plateau so far); with no drop inside the grid ``found`` is False and
    ``beta_star`` is the largest β (a lower bound). ``plateau``/``spread``/``threshold`` are those of the
    test that found the drop (or of the last test). ``low``/``high``: ``level`` expanded percentile interval
    of β* (the bootstrap ``quantiles``, ``expanded_quantiles``) over ``n_bootstrap`` resamples of the repeats,
    ``censored_fraction`` of which found no drop.
    """

    beta_star: float
    beta_drop: float
    found: bool
    plateau: float
    spread: float
    threshold: float
    betas: tuple[float, ...]
    mean: tuple[float, ...]
    failures: int
    low: float
    high: float
    level: float
    quantiles: tuple[float, float]
    n_bootstrap: int
    censored_fraction: float

    def contains(self, value: float, rtol: float = 1e-9) -> bool:
        return self.low * (1.0 - rtol) <= value <= self.high * (1.0 + rtol)


def _first_drop(filled: FloatArray, k: float, min_drop: float) -> tuple[int | None, float, float, float]:
    """Index of the first β whose mean is more than max(k·σ, min_drop) below the mean of the points
    before it (σ: their pooled sample std over repeats), with the plateau, σ and threshold used."""
    means = filled.mean(axis=0)
    repeats = filled.shape[0]
    plateau = spread = threshold = math.nan
    for j in range(1, filled.shape[1]):
        plateau = float(means[:j].mean())
        spread = float(np.sqrt(filled[:, :j].var(axis=0, ddof=1).mean())) if repeats > 1 else 0.0
        threshold = max(k * spread, min_drop)
        if means[j] < plateau - threshold:
            return j, plateau, spread, threshold
    return None, plateau, spread, threshold


def find_breaking_point(
    betas: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    k: float = 2.0,
    min_drop: float = 0.01,
    failed_score: float | None = None,
    n_bootstrap: int = 1000,
    level: float = 0.9,
    seed: int = 0,
) -> BreakingPoint:
    """The breaking point β* of a score kept at fixed η/S while (η, S) → (βη, βS) (Jastrzębski et al.
    2018 §4.4, Fig. 6–7: "similar performance up to a certain β value, for which the performance drops
    significantly").

    ``scores`` [R, B] are R repeats (seeds) at each β of the strictly increasing positive ``betas``;
    a non-finite score (a diverged run) counts as ``failed_score`` (default: the worst finite score).
    Scanning β upwards, the first β whose mean over repeats lies more than max(k·σ, ``min_drop``) below
    the mean of all the points before it is the drop (σ: the pooled sample std over repeats of those
    points); β* is the point before it. Bootstrap: at every β the R repeats are drawn with replacement
    (runs at different β are independent), β* is found again, and the expanded percentile interval of β*
    (``expanded_quantiles``; always grid values) is reported; a resample without a drop counts as the largest β.
    """
    grid = check_grid(betas, log=True, name="betas")
    arr = check_scores(scores, grid.size, axis_name="repeats")
    if not (math.isfinite(k) and k >= 0 and math.isfinite(min_drop) and min_drop >= 0):
        raise ValueError("k and min_drop must be finite and >= 0")
    if not 0.0 < level < 1.0 or n_bootstrap < 1:
        raise ValueError("level must lie in (0, 1) and n_bootstrap be >= 1")
    filled, failures = fill_failures(arr, failed_score, maximize=True)
    drop, plateau, spread, threshold = _first_drop(filled, k, min_drop)
    beta_star = float(grid[-1] if drop is None else grid[drop - 1])
    rng = np.random.default_rng(seed)
    resampled_stars = np.empty(n_bootstrap)
    censored = 0
    for b in range(n_bootstrap):
        sample = np.take_along_axis(filled, rng.integers(0, filled.shape[0], size=filled.shape), axis=0)
        j = _first_drop(sample, k, min_drop)[0]
        censored += j is None
        resampled_stars[b] = grid[-1] if j is None else grid[j - 1]
    quantiles = expanded_quantiles(level, filled.shape[0])
    low, high = np.quantile(resampled_stars, quantiles, method="inverted_cdf")  # grid values
    return BreakingPoint(
        beta_star=beta_star,
        beta_drop=math.nan if drop is None else float(grid[drop]),
        found=drop is not None,
        plateau=plateau,
        spread=spread,
        threshold=threshold,
        betas=tuple(float(v) for v in grid),
        mean=tuple(float(v) for v in filled.mean(axis=0)),
        failures=failures,
        low=float(low),
        high=float(high),
        level=level,
        quantiles=quantiles,
        n_bootstrap=n_bootstrap,
        censored_fraction=censored / n_bootstrap,
    )
