"""Optima on a grid with error bars (Smith & Le 2018, Fig. 4–7) and the tuning protocol (Smith, Elsen & De 2020, §4)."""

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
    check_scores,
    fill_failures,
    grid_coords,
    orient,
)

# ----------------------------------------------------------------------------------------------------
# 1. Optimum on a grid (Smith & Le 2018, Fig. 4-7)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridOptimum(JSONResult):
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
    grid = check_grid(values, log=log)
    arr = check_scores(scores, grid.size, axis_name="n_repeats")
    if fit_halfwidth < 1:
        raise ValueError("fit_halfwidth must be >= 1")
    oriented, n_failed = fill_failures(orient(arr, maximize), failed_score, maximize)
    coords = grid_coords(grid, log)
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
# 3. Tuning protocol (Smith, Elsen & De 2020, §4)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TunedOptimum(JSONResult):
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
    grid = check_grid(values, log=log)
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != grid.size or arr.shape[1] < 1:
        raise ValueError(f"scores must have shape [n_lr={grid.size}, n_runs], got {arr.shape}")
    n_runs = arr.shape[1]
    if not 1 <= k <= n_runs:
        raise ValueError(f"k must be between 1 and n_runs={n_runs}, got {k}")
    oriented, n_failed = fill_failures(orient(arr, maximize), failed_score, maximize)
    if select_by is None:
        ranking = oriented
    else:
        sel = np.asarray(select_by, dtype=np.float64)
        if sel.shape != arr.shape:
            raise ValueError(f"select_by must have the shape of scores {arr.shape}, got {sel.shape}")
        ranking = np.where(np.isfinite(sel), orient(sel, maximize), -np.inf)
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
