"""sgdnoise.wells.simulation: the SDE/SGD simulator's occupation ratios, equilibration check and bundle."""

import json
import math

import numpy as np
import pytest
from scipy.stats import norm

from sgdnoise import wells


def asymmetric_wells():
    return wells.gaussian_wells(1, depth_a=1.0, width_a=1.0, depth_b=1.2, width_b=0.4, separation=2.5, l2=0.05)


def test_symmetric_double_well_is_occupied_equally_within_sampling_error():
    loss = wells.gaussian_wells(1, separation=2.5, l2=0.05)
    a = wells.find_minimum(loss, 0)
    occ = wells.simulate(
        loss, lr=0.1, batch_size=1.0, gradient_variance=5.0, method="sde", step_fraction=0.5,
        duration=1500, burn_in=500, chains=400, seed=3, init=a.location,
    )  # fmt: skip
    assert occ.log_ratio_se < 0.1
    assert abs(occ.z(0.0)) < 3
    assert 0.4 < occ.fraction_a < 0.6 and occ.fraction_a + occ.fraction_b == pytest.approx(1.0)
    json.dumps(occ.to_dict(), allow_nan=False)


def bowl(h):
    """L = hθ²/2 with basins θ < c (A) and θ ≥ c (B): p_A/p_B = Φ(c/s)/Φ(−c/s) for stationary std s."""
    c = 0.5
    return c, wells.LossSurface(
        lambda x: 0.5 * h * np.asarray(x)[..., 0] ** 2,
        lambda x: h * np.asarray(x),
        1,
        ((-50.0, 50.0),),
        ((-1.0,), (1.0,)),
        basin=lambda x: np.where(np.asarray(x)[..., 0] < c, 0, 1),
    )


@pytest.mark.parametrize(("method", "step_fraction", "lr_curvature"), [("sgd", 1.0, 1.0), ("sde", 0.25, 1.6)])
def test_discrete_stationary_variance_in_a_quadratic_bowl_is_exact(method, step_fraction, lr_curvature):
    """θ ← (1 − ηhΔt)θ + ησ√(Δt/S) ξ has Var = η²σ²Δt/S / (1 − (1 − ηhΔt)²) = ησ²/(S h (2 − ηhΔt)),
    which → nσ²/(2h) (the Gibbs value) as ηhΔt → 0; Δt = 1 is discrete SGD."""
    h, lr, batch_size, variance = 2.0, lr_curvature / 2.0, 4.0, 3.0
    c, loss = bowl(h)
    occ = wells.simulate(
        loss, lr=lr, batch_size=batch_size, gradient_variance=variance, method=method, step_fraction=step_fraction,
        duration=400, burn_in=50, chains=2000, seed=1, init=np.zeros(1),
    )  # fmt: skip
    step = lr * h * (step_fraction if method == "sde" else 1.0)
    exact_sd = math.sqrt(lr * variance / (batch_size * h * (2 - step)))
    gibbs_sd = math.sqrt(lr / batch_size * variance / (2 * h))
    predicted = lambda sd: math.log(norm.cdf(c / sd) / norm.sf(c / sd))  # noqa: E731
    assert abs(occ.z(predicted(exact_sd))) < 3
    assert abs(occ.z(predicted(gibbs_sd))) > 10  # the discretisation error is resolved, not hidden in the noise


def test_runs_are_deterministic_given_the_seed():
    loss = wells.gaussian_wells(1)
    kwargs = dict(lr=0.1, batch_size=1.0, gradient_variance=5.0, duration=20, burn_in=5, chains=10)
    assert wells.simulate(loss, seed=7, **kwargs) == wells.simulate(loss, seed=7, **kwargs)
    assert wells.simulate(loss, seed=7, **kwargs) != wells.simulate(loss, seed=8, **kwargs)


def test_comparison_bundles_simulation_and_both_predictions_as_strict_json():
    loss = wells.gaussian_wells(2, separation=3.0, l2=0.05)
    result = wells.equilibrium_comparison(
        loss, lr=0.1, batch_size=1.0, gradient_variance=6.0, duration=30, burn_in=10, chains=20, grid_points=301
    )
    assert result.laplace_log_ratio == pytest.approx(0.0, abs=1e-9)  # symmetric wells
    assert result.gibbs.log_ratio == pytest.approx(0.0, abs=1e-6)
    doc = result.to_dict()
    json.dumps(doc, allow_nan=False)
    assert set(doc) >= {"occupation", "gibbs", "laplace_log_ratio", "z_gibbs", "minimum_a", "minimum_b"}


def test_chains_started_in_a_and_in_b_disagree_until_the_run_is_long_enough():
    """The equilibration check: a run of 0.4 escape times leaves the A-started and B-started chains apart
    (|start_z| ≫ 3) even when the first-vs-second half drift is unremarkable; eight escape times (two of
    burn-in) bring them together."""
    loss = asymmetric_wells()
    minima = (wells.find_minimum(loss, 0), wells.find_minimum(loss, 1))
    kw = dict(lr=0.05, batch_size=1.0, gradient_variance=8.0, step_fraction=0.25, chains=200, minima=minima)
    tau = wells.kramers_escape_times(loss, lr=0.05, batch_size=1.0, gradient_variance=8.0, minima=minima).slowest
    short = wells.simulate(loss, duration=round(0.4 * tau), burn_in=round(0.1 * tau), seed=2, **kw)
    assert short.chains_from_a == short.chains_from_b == 100
    assert short.start_z > 10 and short.fraction_a_from_a > short.fraction_a_from_b
    assert abs(short.drift_z) < 3  # the old check passes this run (deterministic seed)
    long = wells.simulate(loss, duration=round(8 * tau), burn_in=round(2 * tau), seed=2, **kw)
    assert abs(long.start_z) < 3
    gibbs = wells.gibbs_log_ratio(loss, lr=0.05, batch_size=1.0, gradient_variance=8.0, minima=minima)
    assert abs(long.z(gibbs.log_ratio)) < 3


def test_invalid_simulations_are_one_clear_value_error():
    loss = wells.gaussian_wells(1)
    common = dict(lr=0.1, batch_size=1.0, gradient_variance=1.0, duration=10, burn_in=2)
    with pytest.raises(ValueError, match="step_fraction"):
        wells.simulate(loss, step_fraction=0.3, **common)
    with pytest.raises(ValueError, match="method"):
        wells.simulate(loss, method="langevin", **common)
    with pytest.raises(ValueError, match="burn_in"):
        wells.simulate(loss, **(common | {"burn_in": 10}))
    with pytest.raises(ValueError, match="init"):
        wells.simulate(loss, init=np.zeros((3, 2)), **common)
