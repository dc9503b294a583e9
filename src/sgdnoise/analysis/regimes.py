"""Noise- vs curvature-dominated regimes: the breakpoint of ε_opt(B) (Smith, Elsen & De 2020, §3, §5, Fig. 1c)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sgdnoise.analysis.common import FloatArray, JSONResult, check_grid, expanded_quantiles
from sgdnoise.analysis.optima import tune_best_k_of_n

# ----------------------------------------------------------------------------------------------------
# 4. Noise- vs curvature-dominated regimes (Smith, Elsen & De 2020, §3, §5, Fig. 1c)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegimeChange(JSONResult):
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
    grid = check_grid(batch_sizes, log=True, name="batch_sizes")
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
class RegimeInterval(JSONResult):
    """Bootstrap interval of the regime breakpoint B* (``bootstrap_regime_change``).

    ``fit`` is the hinge fit on the tuned optima of the data as observed; ``low``/``high`` the
    ``level`` expanded percentile interval of B* (the bootstrap ``quantiles``, ``expanded_quantiles``) over
    ``n_valid`` of ``n_bootstrap`` resamples (a resample whose fit is impossible, e.g. every run at one B
    failed, is dropped); ``optimal_lr`` the observed tuned optimum per batch size.
    """

    fit: RegimeChange
    low: float
    high: float
    level: float
    quantiles: tuple[float, float]
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
    hinge; the interval is the expanded percentile interval of the refitted B* (``expanded_quantiles``,
    n = the fewest runs at any point).
    """
    batch = check_grid(batch_sizes, log=True, name="batch_sizes")
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
    quantiles = expanded_quantiles(level, min(a.shape[1] for a in arrays))
    low, high = np.quantile(np.log(breakpoints), quantiles)
    return RegimeInterval(
        fit=fit,
        low=float(math.exp(low)),
        high=float(math.exp(high)),
        level=level,
        quantiles=quantiles,
        n_bootstrap=n_bootstrap,
        n_valid=len(breakpoints),
        batch_sizes=tuple(float(b) for b in batch),
        optimal_lr=tuple(float(v) for v in observed),
    )
