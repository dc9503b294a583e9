"""What the analysis modules share: result dataclasses' ``to_dict``, grid and score validation, failed-run
filling (the conventions in the package docstring)."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from sgdnoise.results import strict_json

FloatArray = npt.NDArray[np.float64]
# (grid index of the best mean, refined vertex in fit coordinates, vertex came from the fit, mean, SEM)
_Located = tuple[int, float, bool, FloatArray, FloatArray]


class JSONResult:
    """Mixin giving frozen result dataclasses a JSON-ready ``to_dict``."""

    def to_dict(self) -> dict[str, Any]:
        """All fields as strict-JSON values (non-finite floats become ``None``)."""
        return strict_json({f.name: getattr(self, f.name) for f in fields(self)})


def check_grid(values: npt.ArrayLike, *, log: bool, name: str = "values") -> FloatArray:
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


def check_scores(scores: npt.ArrayLike, n_grid: int, *, axis_name: str) -> FloatArray:
    """Validate scores [n_repeats, n_grid] (a 1-D array is one repeat)."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n_grid or arr.shape[0] < 1:
        raise ValueError(f"scores must have shape [{axis_name}, {n_grid}] matching the grid, got {np.shape(scores)}")
    return arr


def fill_failures(oriented: FloatArray, failed_score: float | None, maximize: bool) -> tuple[FloatArray, int]:
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


def orient(scores: FloatArray, maximize: bool) -> FloatArray:
    return scores if maximize else -scores


def grid_coords(grid: FloatArray, log: bool) -> FloatArray:
    return np.log(grid) if log else grid


def expanded_quantiles(level: float, n: int) -> tuple[float, float]:
    """Quantiles of the expanded percentile bootstrap interval (Hesterberg 2015, The American Statistician 69(4)).

    A percentile interval over resamples of n repeats is too narrow for small n (the bootstrap spread
    misses the factor √(n/(n−1)) and Student's t). The expanded interval takes the quantiles α'/2 and
    1 − α'/2 with α' = 2Φ(−√(n/(n−1))·t_{n−1, 1−α/2}), α = 1 − level. For n = 3 at 95 % that is α' ≈ 1.4e-7:
    the interval spans every resample; for n → ∞ it tends to the percentile interval. n < 2 leaves the
    percentile quantiles (every resample is then the same)."""
    alpha = 1.0 - level
    if n >= 2:
        alpha = 2.0 * float(stats.norm.cdf(-math.sqrt(n / (n - 1)) * stats.t.ppf(1.0 - alpha / 2.0, n - 1)))
    return alpha / 2.0, 1.0 - alpha / 2.0
