"""Analysis of sweep results: optima on a grid with error bars, scaling-law fits, the tuning protocol,
regime detection, correlations, matched-level comparisons and breaking points.

Pure functions on numpy arrays (no torch, no I/O). Every result is a small frozen dataclass with its
uncertainty and a ``to_dict()`` whose output is strict JSON (non-finite floats become ``None``).

Conventions shared by every function here:

* *Failed runs.* A score that is not finite (NaN from a diverged run, ±inf) counts as a failure. It is
  replaced by ``failed_score`` before any averaging; by default that is the worst finite score
  observed in the same array (the lowest when maximising, the highest when minimising), so a failure
  is never better than the worst run that finished. Pass chance level (e.g. 0.1 for 10-class
  accuracy) to score failures as guessing instead. An array with no finite score is an error.
* *Logarithms* are natural logarithms; slopes of log-log fits do not depend on the base.
* *Ties* between grid points resolve to the smallest grid value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from sgdnoise.results import strict_json

FloatArray = npt.NDArray[np.float64]
# (grid index of the best mean, refined vertex in fit coordinates, vertex came from the fit, mean, SEM)
_Located = tuple[int, float, bool, FloatArray, FloatArray]

__all__ = [
    "ArgminAgreement",
    "BreakingPoint",
    "Correlation",
    "GridOptimum",
    "MatchedComparison",
    "MatchedLevel",
    "RegimeChange",
    "RegimeInterval",
    "ScalingFit",
    "TunedOptimum",
    "argmin_agreement",
    "bootstrap_regime_change",
    "compare_at_matched_levels",
    "detect_regime_change",
    "find_breaking_point",
    "fit_scaling_law",
    "optimum_on_grid",
    "ratio_key",
    "spearman_correlation",
    "tune_best_k_of_n",
    "values_at_levels",
]


# ----------------------------------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------------------------------


class _Result:
    """Mixin giving frozen result dataclasses a JSON-ready ``to_dict``."""

    def to_dict(self) -> dict[str, Any]:
        """All fields as strict-JSON values (non-finite floats become ``None``)."""
        return strict_json({f.name: getattr(self, f.name) for f in fields(self)})


def _grid(values: npt.ArrayLike, *, log: bool, name: str = "values") -> FloatArray:
    """Validate a 1-D strictly increasing finite grid (positive when ``log``)."""
    grid = np.asarray(values, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 2:
        raise ValueError(f"{name} must be a 1-D grid with at least 2 points, got shape {grid.shape}")
    if not np.all(np.isfinite(grid)):
        raise ValueError(f"{name} must be finite")
    if np.any(np.diff(grid) <= 0):
        raise ValueError(f"{name} must be strictly increasing")
    if log and grid[0] <= 0:
        raise ValueError(f"{name} must be positive for a logarithmic grid (pass log=False otherwise)")
    return grid


def _scores(scores: npt.ArrayLike, n_grid: int, *, axis_name: str) -> FloatArray:
    """Validate scores [n_repeats, n_grid] (a 1-D array is one repeat)."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n_grid or arr.shape[0] < 1:
        raise ValueError(f"scores must have shape [{axis_name}, {n_grid}] matching the grid, got {np.shape(scores)}")
    return arr


def _fill_failures(oriented: FloatArray, failed_score: float | None, maximize: bool) -> tuple[FloatArray, int]:
    """Replace non-finite entries of maximise-oriented scores by the failure score; count them."""
    failed = ~np.isfinite(oriented)
    if failed.all():
        raise ValueError("every score is NaN/inf (all runs failed): no optimum can be determined")
    if failed_score is None:
        fill = float(oriented[~failed].min())
    else:
        if not math.isfinite(failed_score):
            raise ValueError("failed_score must be finite")
        fill = failed_score if maximize else -failed_score
    return np.where(failed, fill, oriented), int(failed.sum())


def _orient(scores: FloatArray, maximize: bool) -> FloatArray:
    return scores if maximize else -scores


def _coords(grid: FloatArray, log: bool) -> FloatArray:
    return np.log(grid) if log else grid


# ----------------------------------------------------------------------------------------------------
# 1. Optimum on a grid (Smith & Le 2018, Fig. 4-7)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridOptimum(_Result):
    """Best grid point of a mean-over-repeats curve, with Smith & Le's error bar and a sub-grid estimate.

    ``lower``/``upper`` are the neighbouring sampled grid values (``nan`` beyond the grid's end);
    ``err_below``/``err_above`` are the distances to them in grid units and ``log_err_below``/
    ``log_err_above`` in natural-log units (``inf`` on a side where the optimum sits at the edge,
    ``nan`` for the log distances of a linear grid). ``refined`` is the vertex of a quadratic fitted in
    the fit coordinate around the peak (``refined_by_fit`` False when it fell back to ``value``).
    ``score`` is the oriented-back mean score at the grid optimum; ``mean_scores``/``sem_scores`` are
    the curve (after failure substitution) and its standard error over repeats.
    """

    index: int
    value: float
    score: float
    lower: float
    upper: float
    err_below: float
    err_above: float
    log_err_below: float
    log_err_above: float
    refined: float
    refined_by_fit: bool
    at_edge: bool
    n_failed: int
    log: bool
    maximize: bool
    values: tuple[float, ...]
    mean_scores: tuple[float, ...]
    sem_scores: tuple[float, ...]


def _refine_vertex(
    coords: FloatArray, mean: FloatArray, sem: FloatArray, index: int, halfwidth: int
) -> tuple[float, bool]:
    """Vertex of a weighted least-squares parabola through the peak and up to ``halfwidth`` neighbours
    on each side (maximise orientation). Falls back to the grid point when the peak is at the edge,
    the parabola is not concave, or its vertex leaves the bracket of the two neighbouring grid points."""
    n = coords.size
    if index == 0 or index == n - 1:
        return float(coords[index]), False
    lo, hi = max(0, index - halfwidth), min(n, index + halfwidth + 1)
    u = coords[lo:hi] - coords[index]
    y = mean[lo:hi]
    s = sem[lo:hi]
    weights = 1.0 / s**2 if np.all(s > 0) else np.ones_like(u)
    root_w = np.sqrt(weights)
    design = np.stack([np.ones_like(u), u, u**2], axis=1) * root_w[:, None]
    (_, slope, curvature), *_ = np.linalg.lstsq(design, y * root_w, rcond=None)
    if not curvature < 0:
        return float(coords[index]), False
    vertex = coords[index] - slope / (2.0 * curvature)
    if not coords[index - 1] <= vertex <= coords[index + 1]:
        return float(coords[index]), False
    return float(vertex), True


def _locate(coords: FloatArray, oriented: FloatArray, halfwidth: int) -> _Located:
    """Grid argmax of the mean over repeats, the refined vertex (fit coordinate), mean and SEM."""
    mean = oriented.mean(axis=0)
    n_rep = oriented.shape[0]
    sem = oriented.std(axis=0, ddof=1) / math.sqrt(n_rep) if n_rep > 1 else np.zeros_like(mean)
    index = int(np.argmax(mean))
    vertex, by_fit = _refine_vertex(coords, mean, sem, index, halfwidth)
    return index, vertex, by_fit, mean, sem


def optimum_on_grid(
    values: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    log: bool = True,
    maximize: bool = True,
    failed_score: float | None = None,
    fit_halfwidth: int = 1,
) -> GridOptimum:
    """Best grid value of a score curve averaged over repeats (seeds), with its error bar.

    Implements Smith & Le 2018 §4-5 (Fig. 4b, 5b, 6b, 7b): the optimum is the *best observed* grid
    value of the mean score over repeats, and "the error bars indicate the distance from the best
    observed batch size to the next batch size sampled" — asymmetric, on each side. Adds a sub-grid
    estimate: the vertex of a parabola in log(value) (or value when ``log=False``) fitted by weighted
    least squares (weights 1/SEM², uniform when a SEM is zero or there is one repeat) to the peak and
    ``fit_halfwidth`` neighbours per side. An optimum at either end of the grid is flagged ``at_edge``:
    the curve's interior optimum is then not established.

    Args:
        values: the grid (batch sizes, learning rates, ...), strictly increasing.
        scores: [n_repeats, n_grid] (or [n_grid] for one repeat); non-finite = failed run.
        log: the grid is logarithmic (error bars in log units, parabola in log value).
        maximize: True for accuracy, False for losses.
        failed_score: score given to failed runs (default: the worst finite score in ``scores``).
        fit_halfwidth: neighbours per side used by the parabola (1 gives the 3-point fit).
    """
    grid = _grid(values, log=log)
    arr = _scores(scores, grid.size, axis_name="n_repeats")
    if fit_halfwidth < 1:
        raise ValueError("fit_halfwidth must be >= 1")
    oriented, n_failed = _fill_failures(_orient(arr, maximize), failed_score, maximize)
    coords = _coords(grid, log)
    index, vertex, by_fit, mean, sem = _locate(coords, oriented, fit_halfwidth)
    return _grid_optimum(grid, coords, index, vertex, by_fit, mean, sem, n_failed, log, maximize)


def _grid_optimum(
    grid: FloatArray,
    coords: FloatArray,
    index: int,
    vertex: float,
    by_fit: bool,
    mean: FloatArray,
    sem: FloatArray,
    n_failed: int,
    log: bool,
    maximize: bool,
) -> GridOptimum:
    value = float(grid[index])
    has_lower, has_upper = index > 0, index < grid.size - 1
    lower = float(grid[index - 1]) if has_lower else math.nan
    upper = float(grid[index + 1]) if has_upper else math.nan
    positive = bool(grid[0] > 0)

    def log_gap(a: float, b: float, exists: bool) -> float:
        if not exists:
            return math.inf
        return math.log(b / a) if positive else math.nan

    sign = 1.0 if maximize else -1.0
    return GridOptimum(
        index=index,
        value=value,
        score=sign * float(mean[index]),
        lower=lower,
        upper=upper,
        err_below=value - lower if has_lower else math.inf,
        err_above=upper - value if has_upper else math.inf,
        log_err_below=log_gap(lower, value, has_lower),
        log_err_above=log_gap(value, upper, has_upper),
        refined=float(math.exp(vertex) if log else vertex) if by_fit else value,
        refined_by_fit=by_fit,
        at_edge=not (has_lower and has_upper),
        n_failed=n_failed,
        log=log,
        maximize=maximize,
        values=tuple(float(v) for v in grid),
        mean_scores=tuple(float(sign * m) for m in mean),
        sem_scores=tuple(float(s) for s in sem),
    )


# ----------------------------------------------------------------------------------------------------
# 2. Scaling law B_opt ∝ x^k (Smith & Le 2018 §5, Fig. 5b-7b)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScalingFit(_Result):
    """OLS fit of log B_opt = intercept + slope·log x, with percentile bootstrap CIs over repeats.

    ``optima`` holds the per-x :class:`GridOptimum`; ``estimates`` the per-x value used in the fit
    (grid optimum, or refined when ``use_refined``); ``included`` which x entered the fit (edges are
    dropped when ``exclude_edge``). ``spearman_rho``/``spearman_p`` and ``non_decreasing`` describe
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
    :func:`optimum_on_grid`), then OLS of log B_opt on log x. The CI is the percentile interval of the
    slope and intercept over ``n_bootstrap`` resamples of seeds with replacement, independently per x,
    re-locating every optimum in each resample. Which x are included is decided once, on the full
    data. Failed runs get one failure score for the whole tensor (default: its worst finite score).

    Args:
        x: control variable per curve (ε, N, or 1/(1-m)), positive, at least two distinct values.
        values: the shared batch-size grid [n_B] (any positive log grid).
        scores: [n_x, n_seeds, n_B] raw scores.
        level: confidence level of the percentile interval.
        n_bootstrap: number of bootstrap resamples (0 skips the CI).
        seed: seed of the bootstrap's own generator (global RNG state is untouched).
        exclude_edge: drop curves whose optimum is at the grid's edge from the fit.
        use_refined: fit the quadratic sub-grid estimates instead of the best observed grid values.
    """
    x_arr = np.asarray(x, dtype=np.float64)
    if x_arr.ndim != 1 or x_arr.size < 2 or not np.all(np.isfinite(x_arr)) or np.any(x_arr <= 0):
        raise ValueError("x must be a 1-D array of at least 2 positive finite values")
    grid = _grid(values, log=True)
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[0] != x_arr.size or arr.shape[2] != grid.size or arr.shape[1] < 1:
        raise ValueError(f"scores must have shape [n_x={x_arr.size}, n_seeds, n_B={grid.size}], got {arr.shape}")
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")
    if n_bootstrap < 0:
        raise ValueError("n_bootstrap must be >= 0")
    if fit_halfwidth < 1:
        raise ValueError("fit_halfwidth must be >= 1")

    oriented, _ = _fill_failures(_orient(arr, maximize), failed_score, maximize)
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
    common = dict(
        x=tuple(float(v) for v in x_arr),
        optima=optima,
        estimates=tuple(float(v) for v in estimates),
        included=tuple(bool(v) for v in included),
        level=level,
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
        tails = [(1.0 - level) / 2.0, (1.0 + level) / 2.0]
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


# ----------------------------------------------------------------------------------------------------
# 3. Tuning protocol (Smith, Elsen & De 2020, §4)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TunedOptimum(_Result):
    """Optimum of the best-k-of-n protocol, with the one-standard-deviation band as its error bar.

    ``means``/``stds`` are per grid point over the best ``k`` runs; ``value``/``score``/``score_std``
    at the optimum. ``band_lower``/``band_upper`` span every grid value whose mean lies within one
    standard deviation (of the optimum's runs) of the best mean; ``in_band`` marks them. ``established``
    is False when the optimum (``at_edge``) or the band (``band_at_edge``) touches the grid's edge,
    and ``reason`` then says which and how to extend the grid.
    """

    index: int
    value: float
    score: float
    score_std: float
    band_lower: float
    band_upper: float
    at_edge: bool
    band_at_edge: bool
    established: bool
    reason: str | None
    k: int
    n_runs: int
    n_failed: int
    maximize: bool
    values: tuple[float, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]
    in_band: tuple[bool, ...]


def tune_best_k_of_n(
    values: npt.ArrayLike,
    scores: npt.ArrayLike,
    k: int,
    *,
    select_by: npt.ArrayLike | None = None,
    log: bool = True,
    maximize: bool = True,
    failed_score: float | None = None,
) -> TunedOptimum:
    """Smith, Elsen & De 2020 §4 tuning protocol on a grid of learning rates (or temperatures).

    "For each learning rate in this grid, we take the best 12 [of 15] runs and evaluate the mean and
    standard deviation of their test accuracy. The optimal test accuracy is defined by the maximum
    value of this mean, and the corresponding learning rate is the optimal learning rate. [...] To
    define error bars on the optimal learning rate, we include any learning rate whose mean accuracy
    was within one standard deviation of the mean accuracy of the optimal learning rate, and we always
    verify that both the optimal learning rate and the error bars are not at the boundary of our
    learning rate grid." An optimum or band at the boundary is reported (``established=False`` with a
    reason), never raised. The std is the sample std (ddof=1; 0 when k=1). Failed runs rank last.

    Args:
        values: the grid [n_lr], strictly increasing.
        scores: [n_lr, n_runs] reported scores; non-finite = failed run.
        k: number of best runs kept per grid point (1 <= k <= n_runs).
        select_by: optional [n_lr, n_runs] scores used to rank runs (e.g. validation accuracy);
            defaults to ``scores``. Ranked in the same direction as ``maximize``.
        log: only used to validate the grid (positive values).
    """
    grid = _grid(values, log=log)
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != grid.size or arr.shape[1] < 1:
        raise ValueError(f"scores must have shape [n_lr={grid.size}, n_runs], got {arr.shape}")
    n_runs = arr.shape[1]
    if not 1 <= k <= n_runs:
        raise ValueError(f"k must be between 1 and n_runs={n_runs}, got {k}")
    oriented, n_failed = _fill_failures(_orient(arr, maximize), failed_score, maximize)
    if select_by is None:
        ranking = oriented
    else:
        sel = np.asarray(select_by, dtype=np.float64)
        if sel.shape != arr.shape:
            raise ValueError(f"select_by must have the shape of scores {arr.shape}, got {sel.shape}")
        ranking = np.where(np.isfinite(sel), _orient(sel, maximize), -np.inf)
    ranking = np.where(np.isfinite(arr), ranking, -np.inf)  # a failed run is never among the best
    best = np.argsort(-ranking, axis=1, kind="stable")[:, :k]
    kept = np.take_along_axis(oriented, best, axis=1)
    means = kept.mean(axis=1)
    stds = kept.std(axis=1, ddof=1) if k > 1 else np.zeros_like(means)

    index = int(np.argmax(means))
    in_band = means >= means[index] - stds[index]
    band = np.flatnonzero(in_band)
    last = grid.size - 1
    at_edge = index in (0, last)
    band_at_edge = bool(band[0] == 0 or band[-1] == last)
    reason = None
    if at_edge:
        side = "lower" if index == 0 else "upper"
        reason = f"optimum at the {side} edge of the grid ({grid[index]:g}); extend the grid on that side"
    elif band_at_edge:
        sides = [s for s, hit in (("lower", band[0] == 0), ("upper", band[-1] == last)) if hit]
        reason = f"one-std band reaches the {' and '.join(sides)} edge of the grid; extend the grid"
    sign = 1.0 if maximize else -1.0
    return TunedOptimum(
        index=index,
        value=float(grid[index]),
        score=sign * float(means[index]),
        score_std=float(stds[index]),
        band_lower=float(grid[band[0]]),
        band_upper=float(grid[band[-1]]),
        at_edge=at_edge,
        band_at_edge=band_at_edge,
        established=reason is None,
        reason=reason,
        k=k,
        n_runs=n_runs,
        n_failed=n_failed,
        maximize=maximize,
        values=tuple(float(v) for v in grid),
        means=tuple(float(sign * m) for m in means),
        stds=tuple(float(s) for s in stds),
        in_band=tuple(bool(b) for b in in_band),
    )


# ----------------------------------------------------------------------------------------------------
# 4. Noise- vs curvature-dominated regimes (Smith, Elsen & De 2020, §3, §5, Fig. 1c)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegimeChange(_Result):
    """Breakpoint of log ε_opt = a + s·min(log B, log B_c) (rise, then plateau).

    ``breakpoint`` is B_c; ``slope_noise`` is s (≈1 under linear scaling); ``plateau`` is the optimal
    learning rate on the flat segment; ``slope_curvature`` is an unconstrained OLS slope over the
    points with B >= B_c (≈0 if the plateau is real; ``nan`` with fewer than two such points).
    ``sse`` is the piecewise fit's residual sum of squares (log units) and ``sse_line`` that of one
    straight line, for judging whether a break is needed at all.
    """

    breakpoint: float
    slope_noise: float
    intercept: float
    plateau: float
    slope_curvature: float
    sse: float
    sse_line: float
    n_noise: int
    n_curvature: int


def _hinge_fit(u: FloatArray, y: FloatArray, u_break: float) -> tuple[float, float, float]:
    """Least squares of y = a + s·min(u, u_break): returns (a, s, sse)."""
    feature = np.minimum(u, u_break)
    design = np.stack([np.ones_like(u), feature], axis=1)
    (a, s), *_ = np.linalg.lstsq(design, y, rcond=None)
    sse = float(np.sum((y - a - s * feature) ** 2))
    return float(a), float(s), sse


def detect_regime_change(batch_sizes: npt.ArrayLike, optimal_lr: npt.ArrayLike, *, min_points: int = 2) -> RegimeChange:
    """Locate where the optimal learning rate stops growing with batch size.

    Implements Smith, Elsen & De 2020 §3.2 and Fig. 1c: in the noise-dominated regime the optimal
    (effective) learning rate grows ∝ B; in the curvature-dominated regime it is constant (set by the
    critical learning rate). Fits log ε_opt = a + s·min(log B, log B_c) by least squares and picks the
    breakpoint B_c minimising the SSE exactly: for B_c at each data point, and for B_c at the
    intersection of the separate line (left points) and constant (right points) fits when that falls
    between the adjacent points. At least ``min_points`` points lie on each side (B <= B_c, B >= B_c).

    Args:
        batch_sizes: strictly increasing positive batch sizes.
        optimal_lr: optimal learning rate per batch size, positive and finite (drop failed points first).
    """
    grid = _grid(batch_sizes, log=True, name="batch_sizes")
    lr = np.asarray(optimal_lr, dtype=np.float64)
    if lr.shape != grid.shape:
        raise ValueError(f"optimal_lr must have the shape of batch_sizes {grid.shape}, got {lr.shape}")
    if not np.all(np.isfinite(lr)) or np.any(lr <= 0):
        raise ValueError("optimal_lr must be positive and finite")
    if min_points < 2:
        raise ValueError("min_points must be >= 2")
    if grid.size < 2 * min_points - 1:
        raise ValueError(f"need at least {2 * min_points - 1} points for min_points={min_points}")
    u, y = np.log(grid), np.log(lr)
    n = u.size

    candidates: list[float] = [float(u[j]) for j in range(min_points - 1, n - min_points + 1)]
    for j in range(min_points - 1, n - min_points):  # break strictly between u[j] and u[j+1]
        s, a = np.polyfit(u[: j + 1], y[: j + 1], 1)
        plateau = y[j + 1 :].mean()
        if s != 0:
            crossing = (plateau - a) / s
            if u[j] < crossing < u[j + 1]:
                candidates.append(float(crossing))
    fits = [(_hinge_fit(u, y, c), c) for c in candidates]
    (a, s, sse), u_break = min(fits, key=lambda item: item[0][2])

    right = u >= u_break
    slope_curvature = float(np.polyfit(u[right], y[right], 1)[0]) if right.sum() >= 2 else math.nan
    line = np.polyfit(u, y, 1)
    sse_line = float(np.sum((y - np.polyval(line, u)) ** 2))
    return RegimeChange(
        breakpoint=float(math.exp(u_break)),
        slope_noise=s,
        intercept=a,
        plateau=float(math.exp(a + s * u_break)),
        slope_curvature=slope_curvature,
        sse=sse,
        sse_line=sse_line,
        n_noise=int(np.sum(u <= u_break)),
        n_curvature=int(right.sum()),
    )


@dataclass(frozen=True)
class RegimeInterval(_Result):
    """Bootstrap percentile interval of the regime breakpoint B* (``bootstrap_regime_change``).

    ``fit`` is the hinge fit on the tuned optima of the data as observed; ``low``/``high`` the
    ``level`` percentile interval of B* over ``n_valid`` of ``n_bootstrap`` resamples (a resample
    whose fit is impossible, e.g. every run at one B failed, is dropped); ``optimal_lr`` the observed
    tuned optimum per batch size.
    """

    fit: RegimeChange
    low: float
    high: float
    level: float
    n_bootstrap: int
    n_valid: int
    batch_sizes: tuple[float, ...]
    optimal_lr: tuple[float, ...]

    def contains(self, value: float, rtol: float = 1e-9) -> bool:
        """Whether ``value`` lies in [low, high] (up to ``rtol``: the interval is computed in log space)."""
        return self.low * (1.0 - rtol) <= value <= self.high * (1.0 + rtol)


def bootstrap_regime_change(
    batch_sizes: npt.ArrayLike,
    grids: list[npt.ArrayLike],
    scores: list[npt.ArrayLike],
    k: int,
    *,
    maximize: bool = True,
    failed_score: float | None = None,
    n_bootstrap: int = 1000,
    level: float = 0.9,
    seed: int = 0,
    min_points: int = 2,
) -> RegimeInterval:
    """B* of ``detect_regime_change`` with a bootstrap interval over runs (Smith, Elsen & De 2020 §5,
    Fig. 1c: ε_opt ∝ B below B*, flat above).

    Per batch size ``grids[i]`` is its learning-rate grid and ``scores[i]`` the [n_lr, n_runs] scores;
    ε_opt(B) is the best-k-of-n optimum (``tune_best_k_of_n``). A resample draws, independently at each
    (B, ε), n runs with replacement from that point's n runs, re-tunes every ε_opt(B) and refits the
    hinge; the interval is the percentile interval of the refitted B*.
    """
    batch = _grid(batch_sizes, log=True, name="batch_sizes")
    if len(grids) != batch.size or len(scores) != batch.size:
        raise ValueError(f"need one grid and one score array per batch size ({batch.size})")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be >= 1, got {n_bootstrap}")
    arrays = [np.asarray(s, dtype=np.float64) for s in scores]

    def optima(samples: list[FloatArray]) -> FloatArray:
        return np.array(
            [
                tune_best_k_of_n(g, s, k, maximize=maximize, failed_score=failed_score).value
                for g, s in zip(grids, samples, strict=True)
            ]
        )

    observed = optima(arrays)
    fit = detect_regime_change(batch, observed, min_points=min_points)
    rng = np.random.default_rng(seed)
    breakpoints: list[float] = []
    for _ in range(n_bootstrap):
        resampled = [np.take_along_axis(a, rng.integers(0, a.shape[1], size=a.shape), axis=1) for a in arrays]
        try:
            breakpoints.append(detect_regime_change(batch, optima(resampled), min_points=min_points).breakpoint)
        except ValueError:  # a resample in which every run at some point failed
            continue
    if not breakpoints:
        raise ValueError("no bootstrap resample could be fitted")
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(np.log(breakpoints), [tail, 1.0 - tail])
    return RegimeInterval(
        fit=fit,
        low=float(math.exp(low)),
        high=float(math.exp(high)),
        level=level,
        n_bootstrap=n_bootstrap,
        n_valid=len(breakpoints),
        batch_sizes=tuple(float(b) for b in batch),
        optimal_lr=tuple(float(v) for v in observed),
    )


# ----------------------------------------------------------------------------------------------------
# 5. Correlations (Smith & Le 2018 §3, Fig. 2: log evidence ratio vs test cross-entropy over λ)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Correlation(_Result):
    """Spearman rank correlation over ``n`` finite pairs (``nan`` if either side is constant)."""

    rho: float
    p_value: float
    n: int


def spearman_correlation(a: npt.ArrayLike, b: npt.ArrayLike) -> Correlation:
    """Spearman rank correlation of two paired series, ignoring pairs with a non-finite member.

    Used for Smith & Le 2018 §3 ("test cross-entropy and Bayesian evidence are strongly correlated")
    and for the monotonicity of B_opt in x in :func:`fit_scaling_law`. Needs at least 3 finite pairs.
    The p-value is scipy's t-distribution approximation: rough below ~10 pairs, and exactly 0 for a
    perfect rank correlation.
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"a and b must be 1-D of the same length, got {x.shape} and {y.shape}")
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    n = int(x.size)
    if n < 3:
        return Correlation(rho=math.nan, p_value=math.nan, n=n)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return Correlation(rho=math.nan, p_value=math.nan, n=n)
    result = stats.spearmanr(x, y)
    return Correlation(rho=float(result.statistic), p_value=float(result.pvalue), n=n)


@dataclass(frozen=True)
class ArgminAgreement(_Result):
    """Minimisers of two curves on a shared grid and whether they agree within ``factor``.

    ``ratio`` = max(v_a/v_b, v_b/v_a) >= 1 on a log grid, and |v_a - v_b| on a linear one.
    """

    argmin_a: float
    argmin_b: float
    ratio: float
    factor: float
    within: bool


def argmin_agreement(
    grid: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike, *, factor: float, log: bool = True
) -> ArgminAgreement:
    """Whether the minimiser of curve ``a`` lies within a factor ``factor`` of the minimiser of ``b``.

    Implements Smith & Le 2018 §3 (Fig. 2): the log evidence ratio and the test cross-entropy, swept
    over the L2 strength λ, have "minima at the same regularization strength". Non-finite entries are
    skipped. With ``log=False`` the agreement is |v_a - v_b| <= factor (an absolute tolerance).
    """
    values = _grid(grid, log=log, name="grid")
    curves = []
    for name, curve in (("a", a), ("b", b)):
        arr = np.asarray(curve, dtype=np.float64)
        if arr.shape != values.shape:
            raise ValueError(f"{name} must have the shape of grid {values.shape}, got {arr.shape}")
        if not np.any(np.isfinite(arr)):
            raise ValueError(f"{name} has no finite value")
        curves.append(np.where(np.isfinite(arr), arr, np.inf))
    if not (math.isfinite(factor) and (factor >= 1.0 if log else factor >= 0.0)):
        raise ValueError("factor must be >= 1 on a log grid (>= 0 on a linear grid)")
    va = float(values[int(np.argmin(curves[0]))])
    vb = float(values[int(np.argmin(curves[1]))])
    ratio = max(va / vb, vb / va) if log else abs(va - vb)
    return ArgminAgreement(argmin_a=va, argmin_b=vb, ratio=ratio, factor=factor, within=bool(ratio <= factor))


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
class MatchedLevel(_Result):
    """One matched level: the groups (e.g. η/S values) all of whose repeats reached it, their mean and
    sample std (ddof = 1; ``nan`` with one repeat) of the compared value, the Spearman ρ of the value
    against the group over every run at this level, and the difference highest-group mean − lowest-group
    mean with its Welch standard error."""

    level: float
    groups: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    n: tuple[int, ...]
    rho: float
    difference: float
    se: float


@dataclass(frozen=True)
class MatchedComparison(_Result):
    """``compare_at_matched_levels``: per level, and pooled over the ``n_levels`` levels where at least
    two groups can be compared — the mean difference (highest − lowest group), the mean of the levels'
    standard errors (the SE of the mean difference if the levels were perfectly correlated, as
    successive points of one trajectory nearly are: the conservative choice), the median ρ."""

    levels: tuple[MatchedLevel, ...]
    n_levels: int
    mean_difference: float
    mean_se: float
    median_rho: float

    def exceeds(self, k: float) -> bool:
        """Whether the pooled difference is positive by more than ``k`` standard errors and the median ρ
        is positive (False when no level could be compared or the SE is undefined)."""
        if self.n_levels == 0 or not math.isfinite(self.mean_se):
            return False
        return bool(self.mean_difference > k * self.mean_se and self.median_rho > 0)


def compare_at_matched_levels(
    groups: npt.ArrayLike,
    values: npt.ArrayLike,
    levels: npt.ArrayLike,
    *,
    min_repeats: int | None = None,
    present: npt.ArrayLike | None = None,
) -> MatchedComparison:
    """Compare a value across groups at matched levels of a covariate (Jastrzębski et al. 2018 §4.3,
    Fig. 5: validation accuracy across η/S at equal training accuracy on randomised labels).

    ``groups`` [G] are the group coordinates (strictly increasing, e.g. η/S), ``values`` [G, R, L] the
    value of repeat r (seed) of group g at level l (NaN: the run did not reach it, see
    ``values_at_levels``), ``levels`` [L]. A group enters a level when at least ``min_repeats`` of its
    repeats (default: all its repeats) reached it; a level with fewer than two such groups is reported
    but not pooled. ``present`` [G, R] (default: all True) marks the repeats that exist, for groups with
    fewer repeats than others (e.g. η/S reached by several (η, S) pairs); absent ones are ignored. ρ is
    the Spearman correlation of value and group over the runs at the level.
    """
    grid = _grid(groups, log=False, name="groups")
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
        rho, difference, se = math.nan, math.nan, math.nan
        if len(members) >= 2:
            xs = np.concatenate([np.full(int(counts[g]), grid[g]) for g in members])
            ys = np.concatenate([column[g][np.isfinite(column[g])] for g in members])
            rho = spearman_correlation(xs, ys).rho
            low, high = 0, len(members) - 1
            difference = means[high] - means[low]
            if ns[low] > 1 and ns[high] > 1:
                se = math.sqrt(stds[high] ** 2 / ns[high] + stds[low] ** 2 / ns[low])
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
            )
        )
    pooled = [m for m in matched if math.isfinite(m.difference)]
    rhos = [m.rho for m in pooled if math.isfinite(m.rho)]
    return MatchedComparison(
        levels=tuple(matched),
        n_levels=len(pooled),
        mean_difference=float(np.mean([m.difference for m in pooled])) if pooled else math.nan,
        mean_se=float(np.mean([m.se for m in pooled])) if pooled else math.nan,
        median_rho=float(np.median(rhos)) if rhos else math.nan,
    )


@dataclass(frozen=True)
class BreakingPoint(_Result):
    """``find_breaking_point``: where a score that is flat in β starts to fall.

    ``beta_star`` is the last β on the plateau (the β before ``beta_drop``, the first β whose mean falls
    more than ``threshold`` below the plateau so far); with no drop inside the grid ``found`` is False and
    ``beta_star`` is the largest β (a lower bound). ``plateau``/``spread``/``threshold`` are those of the
    test that found the drop (or of the last test). ``low``/``high``: ``level`` percentile interval of
    β* over ``n_bootstrap`` resamples of the repeats, ``censored_fraction`` of which found no drop.
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
    (runs at different β are independent), β* is found again, and the percentile interval of β* (always
    grid values) is reported; a resample without a drop counts as the largest β.
    """
    grid = _grid(betas, log=True, name="betas")
    arr = _scores(scores, grid.size, axis_name="repeats")
    if not (math.isfinite(k) and k >= 0 and math.isfinite(min_drop) and min_drop >= 0):
        raise ValueError("k and min_drop must be finite and >= 0")
    if not 0.0 < level < 1.0 or n_bootstrap < 1:
        raise ValueError("level must lie in (0, 1) and n_bootstrap be >= 1")
    filled, failures = _fill_failures(arr, failed_score, maximize=True)
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
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(resampled_stars, [tail, 1.0 - tail], method="inverted_cdf")  # grid values
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
        n_bootstrap=n_bootstrap,
        censored_fraction=censored / n_bootstrap,
    )
