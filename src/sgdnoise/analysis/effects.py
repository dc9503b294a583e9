"""Verdicts on a difference between two groups of seeds, decided by an interval fixed in advance.

Both tests rest on Welch's interval for the difference of means d = mean(a) − mean(b) (unequal variances,
Welch–Satterthwaite degrees of freedom), which stays honest with the 2–6 seeds an experiment has; a
bootstrap over so few seeds would understate the spread.

* :func:`directional_effect` — the claim "a > b" (``direction=+1``) or "a < b" (``direction=−1``): the
  two-sided (1 − α) interval on d. ``holds`` when it excludes zero on the stated side; ``fails`` when it
  excludes zero on the other side, or when it lies inside ±margin (the effect is negligible);
  ``inconclusive`` otherwise.
* :func:`equivalence` — the claim "a ≈ b" within ±margin: two one-sided tests (Schuirmann 1987), i.e. the
  (1 − 2α) interval on d. ``holds`` when it lies inside ±margin; ``fails`` when it lies wholly outside;
  ``inconclusive`` otherwise. Fewer seeds widen the interval, so they can only make the claim *less*
  likely to hold.

* :func:`non_inferiority` — the claim "a is similar to b or better": the one-sided bound of the (1 − 2α)
  interval above −margin.

:func:`mean_difference` gives d and its Welch standard error alone, for a check that sets its own bar.

A claim made of several such tests holds when all hold (:func:`all_hold`). Each test returns ``inconclusive``
when a group has fewer than ``min_seeds`` finite values.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from sgdnoise.analysis.common import JSONResult

Outcome = Literal["holds", "fails", "inconclusive"]

MIN_SEEDS = 3
"""The fewest seeds per group on which a verdict is given."""


@dataclass(frozen=True)
class Difference(JSONResult):
    """d = mean(a) − mean(b) with its interval at ``confidence``, and the verdict it gives."""

    difference: float
    low: float
    high: float
    confidence: float
    n_a: int
    n_b: int
    margin: float
    outcome: Outcome
    reason: str

    def describe(self) -> str:
        """One line: the difference, its interval and the group sizes."""
        return (
            f"d = {self.difference:.4g}, {100 * self.confidence:g}% CI [{self.low:.4g}, {self.high:.4g}] "
            f"(n = {self.n_a} vs {self.n_b}, margin ±{self.margin:g})"
        )


def _finite(values: npt.ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]


def _mean_variances(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """d = mean(x) − mean(y) and the variances of the two means, s_x²/n_x and s_y²/n_y (ddof = 1)."""
    return float(x.mean() - y.mean()), x.var(ddof=1) / x.size, y.var(ddof=1) / y.size


@dataclass(frozen=True)
class MeanDifference(JSONResult):
    """d = mean(a) − mean(b) over the finite values, its standard error and the group sizes (no verdict)."""

    difference: float
    se: float
    n_a: int
    n_b: int


def mean_difference(a: npt.ArrayLike, b: npt.ArrayLike) -> MeanDifference:
    """mean(a) − mean(b) with Welch's standard error √(s_a²/n_a + s_b²/n_b) (ddof = 1), the scale of
    :func:`welch_interval`; NaN where a group has fewer than two finite values."""
    x, y = _finite(a), _finite(b)
    if x.size < 2 or y.size < 2:
        return MeanDifference(math.nan, math.nan, x.size, y.size)
    d, va, vb = _mean_variances(x, y)
    return MeanDifference(d, math.sqrt(va + vb), x.size, y.size)


def welch_interval(a: npt.ArrayLike, b: npt.ArrayLike, confidence: float) -> tuple[float, float, float]:
    """(d, low, high): Welch's two-sided ``confidence`` interval on mean(a) − mean(b).

    d ± t_{(1+c)/2, ν} · √(s_a²/n_a + s_b²/n_b), ν = (s_a²/n_a + s_b²/n_b)² / Σ (s_i²/n_i)²/(n_i − 1).
    Two groups without spread give the point interval [d, d].
    """
    x, y = _finite(a), _finite(b)
    if x.size < 2 or y.size < 2:
        raise ValueError("Welch's interval needs at least two finite values per group")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    d, va, vb = _mean_variances(x, y)
    se = math.sqrt(va + vb)
    if se == 0:
        return d, d, d
    share_a, share_b = va / (va + vb), vb / (va + vb)  # in shares, so tiny variances cannot underflow
    dof = 1.0 / (share_a**2 / (x.size - 1) + share_b**2 / (y.size - 1))
    half = float(stats.t.ppf((1 + confidence) / 2, dof)) * se
    return d, d - half, d + half


def _interval_test(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    margin: float,
    alpha: float,
    two_sided_confidence: bool,
    min_seeds: int,
    decide: Callable[[float, float, str], tuple[Outcome, str]],
) -> Difference:
    """Welch's interval on mean(a) − mean(b) at 1 − α (``two_sided_confidence``) or 1 − 2α, and ``decide``'s
    verdict on it (its low and high ends and the confidence as a percentage); ``inconclusive`` with fewer than
    ``min_seeds`` finite values in a group."""
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    if not (margin >= 0 and math.isfinite(margin)):
        raise ValueError(f"margin must be finite and ≥ 0, got {margin}")
    if min_seeds < 2:
        raise ValueError(f"min_seeds must be ≥ 2, got {min_seeds}")
    confidence = 1 - alpha if two_sided_confidence else 1 - 2 * alpha
    n_a, n_b = _finite(a).size, _finite(b).size
    if min(n_a, n_b) < min_seeds:
        reason = f"{min(n_a, n_b)} seeds in a group, fewer than the {min_seeds} a verdict needs"
        return Difference(math.nan, math.nan, math.nan, confidence, n_a, n_b, margin, "inconclusive", reason)
    d, low, high = welch_interval(a, b, confidence)
    outcome, reason = decide(low, high, f"{100 * confidence:g}%")
    return Difference(d, low, high, confidence, n_a, n_b, margin, outcome, reason)


def directional_effect(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    direction: Literal[1, -1],
    margin: float = 0.0,
    alpha: float = 0.05,
    min_seeds: int = MIN_SEEDS,
) -> Difference:
    """The claim sign(mean(a) − mean(b)) = ``direction``, from Welch's (1 − α) interval (module docstring)."""
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1, got {direction!r}")

    def decide(low: float, high: float, _level: str) -> tuple[Outcome, str]:
        side_low, side_high = (low, high) if direction == 1 else (-high, -low)
        if side_low > 0:
            return "holds", "the interval excludes zero in the stated direction"
        if side_high < 0:
            return "fails", "the interval excludes zero in the opposite direction"
        if margin > 0 and -margin < low and high < margin:
            return "fails", f"the interval lies inside ±{margin:g}: no effect of that size"
        return "inconclusive", "the interval contains zero"

    return _interval_test(
        a, b, margin=margin, alpha=alpha, two_sided_confidence=True, min_seeds=min_seeds, decide=decide
    )


def equivalence(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    margin: float,
    alpha: float = 0.05,
    min_seeds: int = MIN_SEEDS,
) -> Difference:
    """The claim |mean(a) − mean(b)| < ``margin``, by two one-sided tests at level α (module docstring)."""
    if margin <= 0:
        raise ValueError(f"an equivalence test needs a margin > 0, got {margin}")

    def decide(low: float, high: float, level: str) -> tuple[Outcome, str]:
        if -margin < low and high < margin:
            return "holds", f"the {level} interval lies inside ±{margin:g}"
        if low >= margin or high <= -margin:
            return "fails", f"the {level} interval lies outside ±{margin:g}"
        return "inconclusive", f"the {level} interval straddles ±{margin:g}"

    return _interval_test(
        a, b, margin=margin, alpha=alpha, two_sided_confidence=False, min_seeds=min_seeds, decide=decide
    )


def non_inferiority(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    margin: float,
    alpha: float = 0.05,
    min_seeds: int = MIN_SEEDS,
) -> Difference:
    """The claim mean(a) is not below mean(b) by ``margin`` or more (a is "similar or better"): the one-sided
    (1 − α) bound, i.e. the low end of the (1 − 2α) interval on d. ``holds`` when it lies above −margin;
    ``fails`` when the interval's high end lies below −margin; ``inconclusive`` otherwise."""
    if margin <= 0:
        raise ValueError(f"a non-inferiority test needs a margin > 0, got {margin}")

    def decide(low: float, high: float, level: str) -> tuple[Outcome, str]:
        if low > -margin:
            return "holds", f"the {level} interval lies above −{margin:g}"
        if high < -margin:
            return "fails", f"the {level} interval lies below −{margin:g}"
        return "inconclusive", f"the {level} interval straddles −{margin:g}"

    return _interval_test(
        a, b, margin=margin, alpha=alpha, two_sided_confidence=False, min_seeds=min_seeds, decide=decide
    )


def all_hold(results: Iterable[Difference]) -> Outcome:
    """The outcome of a claim made of several tests: ``holds`` if every one holds, ``fails`` if any fails,
    else ``inconclusive``."""
    outcomes = {result.outcome for result in results}
    if not outcomes:
        raise ValueError("all_hold needs at least one result")
    if "fails" in outcomes:
        return "fails"
    return "holds" if outcomes == {"holds"} else "inconclusive"


@dataclass(frozen=True)
class Trend(JSONResult):
    """Spearman's ρ of y against x over ``n`` points, its two-sided p-value and the verdict it gives."""

    rho: float
    p_value: float
    n: int
    alpha: float
    outcome: Outcome
    reason: str


EXACT_TREND_POINTS = 9
"""Up to this many points, Spearman's p-value is exact: every one of the n! pairings enumerated."""


def _spearman_p_value(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman's ρ and its two-sided p-value: exact over all n! pairings of the ranks (ties as mid-ranks)
    for n ≤ EXACT_TREND_POINTS, else scipy's t approximation (which gives p = 0 for a perfect ρ at any n)."""
    result = stats.spearmanr(x, y)
    rho = float(result.statistic)
    if x.size > EXACT_TREND_POINTS:
        return rho, float(result.pvalue)
    rank_x, rank_y = stats.rankdata(x), stats.rankdata(y)
    orders = np.asarray(list(itertools.permutations(range(x.size))))
    centred_x, centred_y = rank_x - rank_x.mean(), rank_y - rank_y.mean()
    scale = math.sqrt(float(centred_x @ centred_x) * float(centred_y @ centred_y))
    pairings = centred_y[orders] @ centred_x / scale  # ρ of x against every reordering of y
    p = float(np.mean(np.abs(pairings) >= abs(rho) - 1e-12))
    return rho, p


def monotone_trend(x: npt.ArrayLike, y: npt.ArrayLike, *, direction: Literal[1, -1], alpha: float = 0.05) -> Trend:
    """The claim "y rises (``direction=+1``) or falls (−1) with x": Spearman's ρ and its two-sided test at level
    α (exact for up to EXACT_TREND_POINTS points). ``holds`` when ρ has the stated sign and p < α; ``fails`` when
    it has the other sign and p < α; ``inconclusive`` otherwise, and with fewer than 4 points."""
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1, got {direction!r}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"x and y must be 1-D of the same length, got {xs.shape} and {ys.shape}")
    ok = np.isfinite(xs) & np.isfinite(ys)
    n = int(ok.sum())
    if n < 4 or np.ptp(xs[ok]) == 0 or np.ptp(ys[ok]) == 0:
        return Trend(math.nan, math.nan, n, alpha, "inconclusive", f"{n} points with spread, fewer than 4")
    rho, p = _spearman_p_value(xs[ok], ys[ok])
    if p < alpha:
        holds = rho * direction > 0
        outcome: Outcome = "holds" if holds else "fails"
        reason = (
            f"ρ = {rho:.3f} over {n} points, p = {p:.2g} < {alpha:g}: {'the stated' if holds else 'the opposite'} sign"
        )
    else:
        outcome, reason = "inconclusive", f"ρ = {rho:.3f} over {n} points, p = {p:.2g} ≥ {alpha:g}"
    return Trend(rho, p, n, alpha, outcome, reason)
