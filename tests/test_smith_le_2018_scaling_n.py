import numpy as np
import pytest
from test_smith_le_2018_sgd import GRID, curve, data, peaked

from sgdnoise.experiments.smith_le_2018 import scaling_n
from sgdnoise.experiments.smith_le_2018.scaling import with_scaling_law


def _claims(curves, fit_min_x=None):
    scaling = with_scaling_law(data(curves, GRID), "N", fit_min_x)
    return {c.id: c for c in (claim.evaluate(scaling) for claim in scaling_n.CLAIMS)}, scaling


def test_a_pinned_optimum_fails_the_scaling_claims_and_carries_the_budget_caveat():
    rng = np.random.default_rng(2)
    claims, _ = _claims([curve(peaked(GRID, 30, rng=rng), x=n, n_train=int(n)) for n in (250.0, 1000.0, 4000.0)])
    assert claims["fig6/bopt-grows"].verdict == "inconclusive" and scaling_n.CAVEAT in claims["fig6/bopt-grows"].note
    assert claims["fig6/exponent"].verdict == "fails"
    assert claims["fig6/exponent"].value["k"] == pytest.approx(0.0, abs=0.02)
    assert claims["fig6/bopt-grows"].value["epochs_at_B_opt"] == [120.0, 30.0, 7.5]


def test_curves_below_fit_min_x_stay_out_of_the_fit_but_not_out_of_the_growth_claim():
    """The paper restricts only the exponent ("proportional … once N ≳ 20000"); until the claims audit the
    growth claim ignored the small-N curves too."""
    rng = np.random.default_rng(4)
    sizes = (1000.0, 3000.0, 2e4, 6e4)
    curves = [curve(peaked(GRID, 30 * max(n, 2e4) / 2e4, rng=rng), x=n, n_train=int(n)) for n in sizes]
    claims, scaling = _claims(curves, fit_min_x=2e4)
    assert claims["fig6/bopt-grows"].holds and claims["fig6/bopt-grows"].value["x"] == [1000.0, 3000.0, 2e4, 6e4]
    assert claims["fig6/exponent"].value["x"] == [2e4, 6e4]
    assert scaling["scaling"]["considered"] == [False, False, True, True]
    falling_small_n = [curve(peaked(GRID, 300, rng=rng), x=1000.0, n_train=1000), *curves[2:]]
    # the observed optima fall from N = 1000, the fitted k (N ≥ 2e4 only) rises: the two disagree
    grows = _claims(falling_small_n, fit_min_x=2e4)[0]["fig6/bopt-grows"]
    assert grows.verdict == "inconclusive" and "do not grow but the CI of k lies above 0" in grows.note


def test_peak_accuracy_and_gap_against_n():
    rng = np.random.default_rng(6)
    small = np.array(peaked(GRID, 30, rng=rng))  # gap ≈ 0.005·ln(3000/30)² ≈ 0.1 to the largest B
    large = np.array(peaked(GRID, 3000, rng=rng)) + 0.05  # higher peak, at the largest B: gap 0
    claims, _ = _claims([curve(small, x=1000.0, n_train=1000), curve(large, x=16000.0, n_train=16000)])
    assert claims["fig6a/peak-accuracy-improves-with-n"].holds
    assert claims["fig6a/gap-shrinks-with-n"].holds
    claims, _ = _claims([curve(large, x=1000.0, n_train=1000), curve(small, x=16000.0, n_train=16000)])
    assert (
        claims["fig6a/peak-accuracy-improves-with-n"].verdict == claims["fig6a/gap-shrinks-with-n"].verdict == "fails"
    )
    claims, _ = _claims([curve(small, x=1000.0, n_train=1000)])
    assert claims["fig6a/gap-shrinks-with-n"].verdict == "inconclusive"
