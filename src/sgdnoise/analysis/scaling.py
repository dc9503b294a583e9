"""Scaling-law fits B_opt ∝ x^k with bootstrap intervals (Smith & Le 2018 §5, Fig. 5b–7b)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sgdnoise.analysis.common import (
    FloatArray,
    JSONResult,
    _Located,
    check_grid,
    expanded_quantiles,
    fill_failures,
    orient,
)
from sgdnoise.analysis.correlation import spearman_correlation
from sgdnoise.analysis.optima import GridOptimum, _grid_optimum, _locate

# ----------------------------------------------------------------------------------------------------
# 2. Scaling law B_opt ∝ x^k (Smith & Le 2018 §5, Fig. 5b-7b)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScalingFit(JSONResult):
    """OLS fit of log B_opt = intercept + slope·log x, with expanded percentile bootstrap CIs over repeats.

    ``optima`` holds the per-x :class:`GridOptimum`; ``estimates`` the per-x value used in the fit
    (grid optimum, or refined when ``use_refined``); ``included`` which x entered the fit (edges are
    dropped when ``exclude_edge``). ``quantiles`` are the bootstrap quantiles the CIs span (see
    :func:`expanded_quantiles`). ``spearman_rho``/``spearman_p`` and ``non_decreasing`` describe
    whether the included estimates grow with x. When fewer than two distinct x remain, the numbers
    are ``nan`` and ``reason`` says why.
    """

    x: tuple[float, ...]
    optima: tuple[GridOptimum, ...]
    estimates: tuple[float, ...]
    included: tuple[bool, ...]
    slope: float
    intercept: float
    slope_ci: tuple[float, float]
    intercept_ci: tuple[float, float]
    level: float
    quantiles: tuple[float, float]
    n_bootstrap: int
    seed: int
    use_refined: bool
    spearman_rho: float
    spearman_p: float
    non_decreasing: bool
    reason: str | None

    def contains(self, slope: float) -> bool:
        """Whether ``slope`` (e.g. the paper's k = 1) lies inside the bootstrap confidence interval."""
        low, high = self.slope_ci
        return bool(low <= slope <= high)


def _ols(log_x: FloatArray, log_y: FloatArray) -> tuple[float, float]:
    """Slope and intercept of ordinary least squares of log_y on log_x."""
    slope, intercept = np.polyfit(log_x, log_y, 1)
    return float(slope), float(intercept)


def fit_scaling_law(
    x: npt.ArrayLike,
    values: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    level: float = 0.95,
    n_bootstrap: int = 1000,
    seed: int = 0,
    exclude_edge: bool = True,
    use_refined: bool = False,
    maximize: bool = True,
    failed_score: float | None = None,
    fit_halfwidth: int = 1,
) -> ScalingFit:
    """Fit the scaling rule B_opt ∝ x^k in log-log, with a bootstrap confidence interval over seeds.

    Implements the check of Smith & Le 2018 §5 (Fig. 5b: B_opt ∝ ε; Fig. 6b: B_opt ∝ N; Fig. 7b:
    B_opt ∝ 1/(1-m)): per control value x, the optimum of the mean-over-seeds curve (see
    :func:`optimum_on_grid`), then OLS of log B_opt on log x. The CI is the expanded percentile interval
    (:func:`expanded_quantiles`) of the slope and intercept over ``n_bootstrap`` resamples of seeds with
    replacement, independently per x, re-locating every optimum in each resample. Which x are included is
    decided once, on the full data. Failed runs get one failure score for the whole tensor (default: its
    worst finite score).

    Args:
        x: control variable per curve (ε, N, or 1/(1-m)), positive, at least two distinct values.
        values: the shared batch-size grid [n_B] (any positive log grid).
        scores: [n_x, n_seeds, n_B] raw scores.
        level: confidence level of the (expanded percentile) interval.
        n_bootstrap: number of bootstrap resamples (0 skips the CI).
        seed: seed of the bootstrap's own generator (global RNG state is untouched).
        exclude_edge: drop curves whose optimum is at the grid's edge from the fit.
        use_refined: fit the quadratic sub-grid estimates instead of the best observed grid values.
    """
    x_arr = np.asarray(x, dtype=np.float64)
    if x_arr.ndim != 1 or x_arr.size < 2 or not np.all(np.isfinite(x_arr)) or np.any(x_arr <= 0):
        raise ValueError("x must be a 1-D array of at least 2 positive finite values")
    grid = check_grid(values, log=True)
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[0] != x_arr.size or arr.shape[2] != grid.size or arr.shape[1] < 1:
        raise ValueError(f"scores must have shape [n_x={x_arr.size}, n_seeds, n_B={grid.size}], got {arr.shape}")
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")
    if n_bootstrap < 0:
        raise ValueError("n_bootstrap must be >= 0")
    if fit_halfwidth < 1:
        raise ValueError("fit_halfwidth must be >= 1")

    oriented, _ = fill_failures(orient(arr, maximize), failed_score, maximize)
    failed_per_x = (~np.isfinite(arr)).sum(axis=(1, 2))
    coords = np.log(grid)
    log_x = np.log(x_arr)

    def estimate(curves: FloatArray) -> tuple[FloatArray, list[_Located]]:
        """Per-curve B_opt estimates (grid value, or refined vertex when asked and available)."""
        located = [_locate(coords, curve, fit_halfwidth) for curve in curves]
        chosen = [math.exp(v) if use_refined and fitted else grid[i] for i, v, fitted, *_ in located]
        return np.array(chosen), located

    estimates, located = estimate(oriented)
    log_estimates = np.log(estimates)
    optima = tuple(
        _grid_optimum(grid, coords, idx, vertex, by_fit, mean, sem, int(nf), True, maximize)
        for (idx, vertex, by_fit, mean, sem), nf in zip(located, failed_per_x, strict=True)
    )
    included = np.array([not (exclude_edge and opt.at_edge) for opt in optima])

    nan_pair = (math.nan, math.nan)
    tails = expanded_quantiles(level, arr.shape[1])
    common = dict(
        x=tuple(float(v) for v in x_arr),
        optima=optima,
        estimates=tuple(float(v) for v in estimates),
        included=tuple(bool(v) for v in included),
        level=level,
        quantiles=tails,
        n_bootstrap=n_bootstrap,
        seed=seed,
        use_refined=use_refined,
    )
    if np.unique(log_x[included]).size < 2:
        return ScalingFit(
            **common,
            slope=math.nan,
            intercept=math.nan,
            slope_ci=nan_pair,
            intercept_ci=nan_pair,
            spearman_rho=math.nan,
            spearman_p=math.nan,
            non_decreasing=False,
            reason=f"only {int(included.sum())} curve(s) with an interior optimum: need 2 distinct x to fit",
        )

    slope, intercept = _ols(log_x[included], log_estimates[included])
    order = np.argsort(x_arr[included], kind="stable")
    non_decreasing = bool(np.all(np.diff(log_estimates[included][order]) >= 0))
    correlation = spearman_correlation(x_arr[included], log_estimates[included])

    slope_ci, intercept_ci = nan_pair, nan_pair
    if n_bootstrap > 0:
        rng = np.random.default_rng(seed)
        n_seeds = oriented.shape[1]
        kept = np.flatnonzero(included)
        boot = np.empty((n_bootstrap, 2))
        for b in range(n_bootstrap):
            picks = rng.integers(0, n_seeds, size=(kept.size, n_seeds))
            curves = oriented[kept[:, None], picks]
            boot[b] = _ols(log_x[kept], np.log(estimate(curves)[0]))
        slope_lo, slope_hi = np.quantile(boot[:, 0], tails)
        icpt_lo, icpt_hi = np.quantile(boot[:, 1], tails)
        slope_ci = (float(slope_lo), float(slope_hi))
        intercept_ci = (float(icpt_lo), float(icpt_hi))

    return ScalingFit(
        **common,
        slope=slope,
        intercept=intercept,
        slope_ci=slope_ci,
        intercept_ci=intercept_ci,
        spearman_rho=correlation.rho,
        spearman_p=correlation.p_value,
        non_decreasing=non_decreasing,
        reason=None,
    )
