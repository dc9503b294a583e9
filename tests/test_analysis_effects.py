import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sgdnoise.analysis.effects import (
    all_hold,
    directional_effect,
    equivalence,
    mean_difference,
    monotone_trend,
    non_inferiority,
    welch_interval,
)

samples = st.lists(st.floats(-100, 100, allow_nan=False), min_size=3, max_size=8)


@settings(max_examples=50, deadline=None)
@given(samples, samples, st.sampled_from([0.8, 0.9, 0.95]))
def test_welch_interval_matches_scipy(a, b, confidence):
    if np.var(a) == 0 and np.var(b) == 0:
        return
    d, low, high = welch_interval(a, b, confidence)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(confidence)
    assert d == pytest.approx(np.mean(a) - np.mean(b), abs=1e-9)
    assert (low, high) == pytest.approx((ci.low, ci.high), rel=1e-6, abs=1e-9)


def test_mean_difference_matches_hand_computation():
    d = mean_difference([1.0, 2.0, 3.0], [0.0, 2.0])
    # means 2 and 1; variances (ddof 1) 1 and 2
    assert d.difference == pytest.approx(1.0)
    assert d.se == pytest.approx(math.sqrt(1 / 3 + 2 / 2))
    assert (d.n_a, d.n_b) == (3, 2)
    assert math.isnan(mean_difference([1.0], [1.0, 2.0]).difference)
    assert math.isnan(mean_difference([1.0, np.nan], [1.0, 2.0]).se)  # one finite value: no SE


def test_directional_effect_three_outcomes():
    up = [1.0, 1.1, 0.9, 1.05]
    base = [0.0, 0.1, -0.1, 0.05]
    assert directional_effect(up, base, direction=1).outcome == "holds"
    assert directional_effect(up, base, direction=-1).outcome == "fails"
    noisy = [0.0, 1.0, -1.0, 0.5]
    assert directional_effect(noisy, base, direction=1).outcome == "inconclusive"
    # a tight null effect inside the margin is a negative result, not a shrug
    same = [0.001, -0.001, 0.0005, -0.0005]
    assert directional_effect(same, [0.0, 0.0005, -0.0005, 0.0], direction=1, margin=0.1).outcome == "fails"


def test_equivalence_three_outcomes_and_fewer_seeds_never_help():
    a = [0.900, 0.902, 0.898, 0.901, 0.899, 0.900]
    b = [0.901, 0.899, 0.900, 0.902, 0.898, 0.900]
    assert equivalence(a, b, margin=0.005).outcome == "holds"
    # the same means on three seeds: a wider interval can only lose the verdict
    assert equivalence(a[:3], b[:3], margin=0.005).outcome in ("holds", "inconclusive")
    assert equivalence(a[:2], b[:2], margin=0.005).outcome == "inconclusive"
    far = [0.95, 0.951, 0.949, 0.95]
    assert equivalence(far, b, margin=0.005).outcome == "fails"
    assert equivalence([0.9, 0.95, 0.85], [0.9, 0.88, 0.92], margin=0.005).outcome == "inconclusive"


def test_nan_seeds_do_not_count():
    result = directional_effect([1.0, np.nan, 1.2], [0.0, 0.1, 0.2], direction=1)
    assert result.outcome == "inconclusive" and result.n_a == 2


@pytest.mark.parametrize("kwargs", [{"margin": -1.0}, {"margin": 0.0}, {"margin": 0.1, "alpha": 0.7}])
def test_equivalence_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        equivalence([1, 2, 3], [1, 2, 3], **kwargs)


def test_non_inferiority_and_all_hold():
    base = [0.90, 0.901, 0.899, 0.90]
    slightly_worse = [0.897, 0.898, 0.896, 0.897]
    much_worse = [0.85, 0.851, 0.849, 0.85]
    assert non_inferiority(slightly_worse, base, margin=0.01).outcome == "holds"
    assert non_inferiority(much_worse, base, margin=0.01).outcome == "fails"
    assert non_inferiority([0.88, 0.92, 0.86, 0.90], base, margin=0.01).outcome == "inconclusive"
    results = [equivalence(base, base, margin=0.01), non_inferiority(much_worse, base, margin=0.01)]
    assert all_hold(results) == "fails"
    assert all_hold(results[:1]) == "holds"
    assert all_hold([directional_effect(base, base, direction=1)]) == "inconclusive"


def test_monotone_trend():
    x = np.arange(10.0)
    assert monotone_trend(x, -x, direction=-1).outcome == "holds"
    assert monotone_trend(x, x, direction=-1).outcome == "fails"
    assert monotone_trend(x, [1, 0] * 5, direction=1).outcome == "inconclusive"
    assert monotone_trend(x[:3], x[:3], direction=1).outcome == "inconclusive"  # too few points to be significant
    rho = monotone_trend(x, x**3, direction=1)
    assert rho.rho == pytest.approx(1.0) and rho.n == 10


def test_monotone_trend_four_points_cannot_reach_five_percent():
    """A perfect ρ over 4 points happens in 2 of the 4! pairings: p = 1/12, never below 0.05."""
    trend = monotone_trend(np.arange(4.0), np.arange(4.0) ** 2, direction=1)
    assert trend.p_value == pytest.approx(2 / 24) and trend.outcome == "inconclusive"
    assert monotone_trend(np.arange(5.0), -np.arange(5.0), direction=-1).p_value == pytest.approx(2 / 120)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=5, max_size=6), st.lists(st.integers(0, 3), min_size=5, max_size=6))
def test_monotone_trend_p_value_counts_every_pairing(xs, ys):
    """The exact p-value against brute force: the share of the n! reorderings of y whose |ρ| reaches the
    observed one (ties included)."""
    n = min(len(xs), len(ys))
    x, y = np.asarray(xs[:n], float), np.asarray(ys[:n], float)
    trend = monotone_trend(x, y, direction=1)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        assert trend.outcome == "inconclusive"
        return
    observed = abs(stats.spearmanr(x, y).statistic)
    reached = [
        abs(stats.spearmanr(x, y[list(order)]).statistic) >= observed - 1e-12
        for order in itertools.permutations(range(n))
    ]
    assert trend.p_value == pytest.approx(np.mean(reached))
