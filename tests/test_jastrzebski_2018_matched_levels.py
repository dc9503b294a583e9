"""The statistics of Jastrzębski et al.'s matched-level comparisons and breaking points, on synthetic
numbers with known answers."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from sgdnoise.experiments.jastrzebski_2018.matched_levels import ratio_key


def strict_json(result) -> dict:
    """A result's ``to_dict()``, refused if it is not strict JSON."""
    return json.loads(json.dumps(result.to_dict(), allow_nan=False))


# ------------------------------------------------------------- matched levels and breaking points (Jastrzębski)


def test_values_at_levels_interpolates_the_first_crossing_exactly():
    from sgdnoise.experiments.jastrzebski_2018.matched_levels import values_at_levels

    x = [0.1, 0.5, 0.9, 0.7, 1.0]  # passes 0.8 first between the 2nd and 3rd evaluation
    y = [0.0, 4.0, 8.0, 100.0, 10.0]
    got = values_at_levels(x, y, [0.3, 0.8, 0.95, 1.0, 1.01, 0.05])
    np.testing.assert_allclose(got[:4], [2.0, 7.0, 100.0 - 90.0 * (0.95 - 0.7) / 0.3, 10.0])
    assert math.isnan(got[4]) and math.isnan(got[5])  # never reached; exceeded before the first point
    # a diverged run ends at its first non-finite evaluation
    assert math.isnan(values_at_levels([0.1, 0.5, np.nan, 1.0], [0, 4, 5, 6], [0.9])[0])


def test_matched_comparison_recovers_a_known_difference_and_its_welch_se():
    from sgdnoise.experiments.jastrzebski_2018.matched_levels import compare_at_matched_levels

    groups = [1e-4, 1e-3, 1e-2]
    offsets = np.array([0.0, 0.01, 0.03])  # value rises with the group by a known amount at every level
    levels = np.array([0.8, 0.9])
    seeds = np.array([-0.002, 0.0, 0.002])  # sample std 0.002 per group
    values = 0.5 + offsets[:, None, None] + seeds[None, :, None] + np.zeros((3, 3, 2))
    values[0, 1:, 1] = np.nan  # group 0 does not reach level 0.9 with every seed
    result = compare_at_matched_levels(groups, values, levels)
    first, second = result.levels
    assert first.groups == tuple(groups) and second.groups == (1e-3, 1e-2)
    assert first.difference == pytest.approx(0.03) and second.difference == pytest.approx(0.02)
    assert first.se == pytest.approx(math.sqrt(2 * 0.002**2 / 3))
    # Welch's 95% interval: equal variances, so 4 degrees of freedom
    half = stats.t.ppf(0.975, 4) * first.se
    assert (first.low, first.high) == (pytest.approx(0.03 - half), pytest.approx(0.03 + half))
    assert first.rho > 0.8 and result.median_rho > 0.8
    assert result.n_levels == 2 and result.mean_difference == pytest.approx(0.025)
    assert result.mean_low == pytest.approx(0.025 - half) and result.outcome() == "holds"
    partial = compare_at_matched_levels(groups, values, levels, min_repeats=1)
    assert partial.levels[1].groups == tuple(groups) and math.isnan(partial.levels[1].se)
    assert math.isnan(partial.levels[1].low) and partial.n_levels == 1  # one run of group 0: not pooled
    # a group with fewer repeats than the others: its absent repeats are ignored
    present = np.ones((3, 3), dtype=bool)
    present[0, 1:] = False
    uneven = compare_at_matched_levels(groups, values, levels, present=present)
    assert uneven.levels[1].groups == tuple(groups) and uneven.levels[1].n == (1, 3, 3)
    strict_json(result)


def test_matched_comparison_without_an_effect_does_not_exceed():
    from sgdnoise.experiments.jastrzebski_2018.matched_levels import compare_at_matched_levels

    rng = np.random.default_rng(3)
    values = 0.9 + 0.01 * rng.standard_normal((4, 3, 5))
    result = compare_at_matched_levels([1, 2, 3, 4], values, np.linspace(0.8, 0.9, 5))
    assert result.mean_low < 0 < result.mean_high and result.outcome() == "inconclusive"
    with pytest.raises(ValueError, match="shape"):
        compare_at_matched_levels([1, 2], values, np.linspace(0.8, 0.9, 5))


BETAS = 2.0 ** np.arange(0, 7)  # 1 .. 64


def test_breaking_point_on_a_noiseless_step_is_exact():
    from sgdnoise.experiments.jastrzebski_2018.matched_levels import find_breaking_point

    clean = np.where(BETAS <= 8, 0.9, 0.7)
    result = find_breaking_point(BETAS, np.tile(clean, (3, 1)), n_bootstrap=50)
    assert result.found and result.beta_star == 8.0 and result.beta_drop == 16.0
    assert result.plateau == pytest.approx(0.9) and result.threshold == pytest.approx(0.01)  # σ = 0
    assert (result.low, result.high, result.censored_fraction) == (8.0, 8.0, 0.0)
    strict_json(result)


def test_breaking_point_ignores_seed_noise_and_counts_failures():
    from sgdnoise.experiments.jastrzebski_2018.matched_levels import find_breaking_point

    rng = np.random.default_rng(0)
    scores = 0.9 + 0.004 * rng.standard_normal((4, BETAS.size))
    scores[:, BETAS >= 32] -= 0.1
    scores[0, -1] = np.nan  # a diverged run scores as chance
    result = find_breaking_point(BETAS, scores, failed_score=0.1, n_bootstrap=200)
    assert result.beta_star == 16.0 and result.failures == 1
    assert result.low == 16.0 and result.high == 16.0
    flat = find_breaking_point(BETAS, 0.9 + 0.004 * rng.standard_normal((4, BETAS.size)), n_bootstrap=200)
    assert not flat.found and flat.beta_star == 64.0 and math.isnan(flat.beta_drop)
    assert flat.censored_fraction > 0.5


def test_breaking_point_interval_covers_the_resamples_that_miss_a_marginal_drop():
    from sgdnoise.experiments.jastrzebski_2018.matched_levels import find_breaking_point

    scores = np.full((3, BETAS.size), 0.9)
    scores[2, 3] = 0.86  # β = 8: mean 0.8867, 0.013 below the plateau (σ = 0, threshold = min_drop = 0.01)
    scores[:, 4:] = 0.7  # β ≥ 16: a clear drop
    result = find_breaking_point(BETAS, scores, n_bootstrap=400)
    assert result.beta_star == 4.0 and result.beta_drop == 8.0
    # a resample without the 0.86 run (probability (2/3)^3 ≈ 0.3) finds the drop only at β = 16
    assert (result.low, result.high) == (4.0, 8.0)
    with pytest.raises(ValueError, match="increasing"):
        find_breaking_point(BETAS[::-1], scores)


def test_ratio_key_groups_ratios_equal_in_exact_arithmetic() -> None:
    assert 0.07 / 50 != 0.21 / 150  # the float quotients differ in the last bit
    assert ratio_key(0.07 / 50) == ratio_key(0.21 / 150)
    assert ratio_key(0.1 / 25) != ratio_key(0.1 / 125)
