"""sgdnoise.wells.gibbs: Theorem 1's Gibbs integral against closed forms, Theorem 2's Laplace ratio against it."""

import itertools
import math

import numpy as np
import pytest
from scipy.stats import norm

from sgdnoise import wells


def quadratic_wells(la=0.0, ha=1.0, a=-2.0, lb=0.3, hb=4.0, b=1.5):
    """L = min(L_A + h_A(θ−a)²/2, L_B + h_B(θ−b)²/2): Laplace is exact in each piece, the Gibbs integral
    of each basin (split at the cusp, the barrier top) is a normal CDF."""
    pieces = lambda x: (la + ha * (x[..., 0] - a) ** 2 / 2, lb + hb * (x[..., 0] - b) ** 2 / 2)  # noqa: E731

    def value(x):
        return np.minimum(*pieces(np.asarray(x, float)))

    def gradient(x):
        x = np.asarray(x, float)
        qa, qb = pieces(x)
        return np.where((qa <= qb)[..., None], ha * (x - a), hb * (x - b))

    loss = wells.LossSurface(value, gradient, 1, ((-20.0, 20.0),), ((a,), (b,)))
    # the cusp: the root of qa = qb between the minima
    roots = np.roots([(ha - hb) / 2, -ha * a + hb * b, la - lb + ha * a**2 / 2 - hb * b**2 / 2])
    cusp = float(next(r.real for r in roots if a < r.real < b))
    return loss, cusp


def test_gibbs_integral_of_two_quadratic_wells_matches_its_closed_form():
    la, ha, a, lb, hb, b = 0.0, 1.0, -2.0, 0.3, 4.0, 1.5
    loss, cusp = quadratic_wells(la, ha, a, lb, hb, b)
    for lr, batch_size, variance in ((0.1, 1.0, 4.0), (0.05, 10.0, 50.0)):
        t = lr / batch_size * variance / 2
        mass_a = math.exp(-la / t) * math.sqrt(2 * math.pi * t / ha) * norm.cdf((cusp - a) * math.sqrt(ha / t))
        mass_b = math.exp(-lb / t) * math.sqrt(2 * math.pi * t / hb) * norm.sf((cusp - b) * math.sqrt(hb / t))
        gibbs = wells.gibbs_log_ratio(loss, lr=lr, batch_size=batch_size, gradient_variance=variance)
        assert gibbs.method == "quad"
        assert gibbs.log_ratio == pytest.approx(math.log(mass_a / mass_b), abs=1e-8)
        assert gibbs.temperature == pytest.approx(t)


def test_gibbs_grid_in_2d_matches_a_gaussian_integral_split_by_a_line():
    h = np.array([2.0, 0.5])
    centre = np.array([0.4, 0.0])
    loss = wells.LossSurface(
        lambda x: 0.5 * np.sum(h * (np.asarray(x) - centre) ** 2, axis=-1),
        lambda x: h * (np.asarray(x) - centre),
        2,
        ((-8.0, 8.0), (-12.0, 12.0)),
        ((-0.5, 0.0), (1.0, 0.0)),
        basin=lambda x: np.where(np.asarray(x)[..., 0] < 0.0, 0, 1),
    )
    loss_min = wells.LocatedMinimum(centre, 0.0, np.diag(h), "exact", 0.0)
    t = 0.5
    gibbs = wells.gibbs_log_ratio(
        loss, lr=0.1, batch_size=1.0, gradient_variance=2 * t / 0.1, minima=(loss_min, loss_min)
    )
    s = math.sqrt(t / h[0])
    expected = math.log(norm.cdf(-centre[0] / s) / norm.sf(-centre[0] / s))
    assert gibbs.method == "grid"
    assert gibbs.log_ratio == pytest.approx(expected, abs=1e-4)
    assert gibbs.quadrature_error < 1e-3


def test_laplace_ratio_converges_to_the_gibbs_integral_as_the_barrier_rises():
    loss = wells.gaussian_wells(1, depth_a=1.0, width_a=1.0, depth_b=1.2, width_b=0.4, separation=2.5, l2=0.05)
    minima = (wells.find_minimum(loss, 0), wells.find_minimum(loss, 1))
    barrier = min(wells.barrier_heights(loss, minima))
    errors = []
    for height in (1.0, 2.0, 4.0, 8.0, 16.0):
        noise = 2 * barrier / height  # T = nσ²/2 with σ² = 1
        gibbs = wells.gibbs_log_ratio(loss, lr=noise, batch_size=1.0, gradient_variance=1.0, minima=minima)
        laplace = wells.laplace_log_ratio(*minima, lr=noise, batch_size=1.0, gradient_variance=1.0)
        errors.append(abs(laplace - gibbs.log_ratio))
    assert all(later < earlier for earlier, later in itertools.pairwise(errors))
    assert errors[0] > 0.05 and errors[-1] < 0.005


def test_a_box_too_small_for_the_temperature_is_one_clear_value_error():
    with pytest.raises(ValueError, match="widen the bounds"):
        wells.gibbs_log_ratio(wells.gaussian_wells(1), lr=1.0, batch_size=1.0, gradient_variance=100.0)
