import numpy as np
import pytest
from test_smith_le_2018_sgd import GRID, curve, data, peaked

from sgdnoise.experiments.smith_le_2018 import scaling_momentum
from sgdnoise.experiments.smith_le_2018.scaling import with_scaling_law


def test_b_opt_grows_as_one_over_one_minus_m():
    rng = np.random.default_rng(5)
    x = [1 / (1 - m) for m in (0.5, 0.9, 0.95)]  # 2, 10, 20
    curves = [curve(peaked(GRID, 3 * xi, rng=rng), x=xi) for xi in x]
    scaling = with_scaling_law(data(curves, GRID), "1/(1−m)", None)
    grows, exponent, paper = (claim.evaluate(scaling) for claim in scaling_momentum.CLAIMS)
    assert (
        "decided by the ε calibration" in grows.statement and grows.provenance["evidence"] == "docs/epsilon-mapping.md"
    )
    assert grows.id == "fig7/bopt-grows" and grows.holds and grows.value["x"] == pytest.approx(x)
    assert exponent.id == "fig7/exponent" and exponent.holds
    assert exponent.value["k"] == pytest.approx(1.0, abs=0.1) and paper.id == "fig7/exponent-matches-paper"
