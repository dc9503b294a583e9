import numpy as np
import pytest
from test_smith_le_2018_sgd import GRID, curve, data, peaked

from sgdnoise.experiments.smith_le_2018 import scaling_lr
from sgdnoise.experiments.smith_le_2018.scaling import with_scaling_law


def _claims(curves, fit_min_x=None):
    scaling = with_scaling_law(data(curves, GRID), "ε", fit_min_x)
    return {c.id: c for c in (claim.evaluate(scaling) for claim in scaling_lr.CLAIMS)}, scaling


def test_a_linear_law_is_recovered():
    rng = np.random.default_rng(1)
    x = [0.3, 1.0, 3.0]  # optima at 10, 30, 100
    claims, scaling = _claims([curve(peaked(GRID, 30 * xi, rng=rng), x=xi) for xi in x])
    grows, exponent = claims["fig5/bopt-grows"], claims["fig5/exponent"]
    assert grows.holds and grows.value["B_opt"] == [10.0, 30.0, 100.0]
    assert grows.value["epochs_at_B_opt"] == [10.0, 30.0, 100.0]  # B_opt · 1000 steps / 1000 images
    assert exponent.holds and exponent.value["k"] == pytest.approx(1.0, abs=0.01) and exponent.value["paper_k_in_ci"]
    assert scaling["scaling"]["fit"]["slope"] == pytest.approx(exponent.value["k"])
    assert exponent.test["thresholds"] == {"exponent_min": 0.5, "exponent_max": 1.5, "min_seeds": 3}
    assert claims["fig5/exponent-matches-paper"].holds
    assert all("decided by the ε calibration" in c.statement for c in claims.values())


def test_an_edge_optimum_never_counts_and_one_interior_curve_decides_nothing():
    rng = np.random.default_rng(2)
    claims, scaling = _claims([curve(peaked(GRID, 30, rng=rng), x=1.0), curve(peaked(GRID, 1e5, rng=rng), x=10.0)])
    assert claims["fig5/bopt-grows"].verdict == "inconclusive" and "edge" in claims["fig5/bopt-grows"].note
    assert claims["fig5/exponent"].verdict == "inconclusive" and "no exponent" in claims["fig5/exponent"].note
    assert scaling["scaling"]["fit"] is None and scaling["scaling"]["fit_indices"] == [0]
    # three curves, the last at the edge: the two interior ones decide
    x = [0.3, 1.0, 10.0]
    claims, _ = _claims([curve(peaked(GRID, p, rng=rng), x=xi) for xi, p in zip(x, (10, 30, 1e5), strict=True)])
    assert claims["fig5/bopt-grows"].holds and claims["fig5/bopt-grows"].value["x"] == [0.3, 1.0]


def test_fewer_than_three_seeds_leave_the_scaling_claims_inconclusive():
    rng = np.random.default_rng(3)
    curves = [curve(peaked(GRID, 30 * xi, seeds=2, rng=rng), x=xi) for xi in (0.3, 1.0, 3.0)]
    claims, _ = _claims(curves)
    assert {claims[i].verdict for i in ("fig5/bopt-grows", "fig5/exponent", "fig5/exponent-matches-paper")} == {
        "inconclusive"
    }


def _peak(x, peak, height):
    rng = np.random.default_rng(int(10 * x))
    return curve((np.array(peaked(GRID, peak, rng=rng)) + height - 0.9).tolist(), x=x)


def test_the_peak_accuracy_falls_above_epsilon_three():
    falls = _claims([_peak(1.0, 30, 0.91), _peak(3.0, 100, 0.91), _peak(10.0, 300, 0.90)])[0]
    assert falls["fig5a/peak-accuracy-falls-above-3"].holds
    assert falls["fig5a/peak-accuracy-falls-above-3"].value["x"] == [10.0, 1.0]
    flat = _claims([_peak(1.0, 30, 0.90), _peak(10.0, 300, 0.91)])[0]
    assert flat["fig5a/peak-accuracy-falls-above-3"].verdict == "fails"
    assert _claims([_peak(1.0, 30, 0.9)])[0]["fig5a/peak-accuracy-falls-above-3"].verdict == "inconclusive"
