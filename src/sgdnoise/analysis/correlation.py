"""Correlations (Smith & Le 2018 §3, Fig. 2: log evidence ratio vs test cross-entropy over λ)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from sgdnoise.analysis.common import JSONResult, check_grid

# ----------------------------------------------------------------------------------------------------
# 5. Correlations (Smith & Le 2018 §3, Fig. 2: log evidence ratio vs test cross-entropy over λ)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Correlation(JSONResult):
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
class ArgminAgreement(JSONResult):
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
    values = check_grid(grid, log=log, name="grid")
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
