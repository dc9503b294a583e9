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
    assert exponent.test["thresholds"] == {"exponent_min": 0.5, "exponent_max": 1.5}
    assert claims["fig5/exponent-matches-paper"].holds


def test_an_edge_curve_is_left_out_and_one_interior_curve_fits_no_exponent():
    rng = np.random.default_rng(2)
    claims, scaling = _claims([curve(peaked(GRID, 30, rng=rng), x=1.0), curve(peaked(GRID, 1e5, rng=rng), x=10.0)])
    assert claims["fig5/bopt-grows"].holds and "edge" in claims["fig5/bopt-grows"].note
    assert claims["fig5/exponent"].verdict == "inconclusive" and "no exponent" in claims["fig5/exponent"].note
    assert scaling["scaling"]["fit"] is None and scaling["scaling"]["fit_indices"] == [0]
