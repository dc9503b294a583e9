"""sgdnoise.wells.losses: the loss surface, minima, Hessians, barriers and the saddle."""

import numpy as np
import pytest

from sgdnoise import wells


def asymmetric_wells():
    return wells.gaussian_wells(1, depth_a=1.0, width_a=1.0, depth_b=1.2, width_b=0.4, separation=2.5, l2=0.05)


def test_minimum_and_finite_difference_hessian_match_the_exact_ones():
    loss = wells.gaussian_wells(2, depth_a=1.0, width_a=1.0, depth_b=1.5, width_b=0.5, separation=3.0, l2=0.05)
    found = wells.find_minimum(loss, 1)
    assert found.hessian_source == "exact" and found.gradient_norm < 1e-8
    numeric = wells.finite_difference_hessian(loss.gradient, found.location)
    np.testing.assert_allclose(numeric, found.hessian, rtol=1e-6, atol=1e-8)
    point = np.array([[0.3, -0.4]])
    step = 1e-6
    fd = [(loss.value(point + step * e) - loss.value(point - step * e))[0] / (2 * step) for e in np.eye(2)]
    np.testing.assert_allclose(fd, loss.gradient(point)[0], rtol=1e-6)
    no_hessian = wells.LossSurface(loss.value, loss.gradient, 2, loss.bounds, loss.guesses)
    assert wells.find_minimum(no_hessian, 1).hessian_source == "finite-differences"


def test_saddle_is_the_barrier_top_in_1d_and_an_index_1_point_in_2d():
    loss = asymmetric_wells()
    minima = (wells.find_minimum(loss, 0), wells.find_minimum(loss, 1))
    saddle = wells.find_saddle(loss, minima)
    x = np.linspace(minima[0].location[0], minima[1].location[0], 200001)
    values = loss.value(x[:, None])
    assert saddle.location[0] == pytest.approx(x[np.argmax(values)], abs=1e-4)
    assert saddle.loss == pytest.approx(values.max(), abs=1e-10) and saddle.loss >= values.max()
    assert saddle.negative_eigenvalue < 0 and saddle.gradient_norm < 1e-10
    assert saddle.loss - minima[0].loss == pytest.approx(wells.barrier_heights(loss, minima)[0], abs=1e-6)  # grid
    loss2 = wells.gaussian_wells(2, depth_a=1.0, width_a=1.0, depth_b=1.2, width_b=0.4, separation=2.5, l2=0.05)
    saddle2 = wells.find_saddle(loss2)
    assert np.sum(np.linalg.eigvalsh(saddle2.hessian) < 0) == 1
    np.testing.assert_allclose(saddle2.location, [saddle.location[0], 0.0], atol=1e-8)


def test_invalid_losses_are_one_clear_value_error():
    loss = wells.gaussian_wells(1)
    with pytest.raises(ValueError, match="dim"):
        wells.gaussian_wells(3)
    with pytest.raises(ValueError, match="width_a"):
        wells.gaussian_wells(1, width_a=-1.0)
    with pytest.raises(ValueError, match="guesses"):
        wells.LossSurface(loss.value, loss.gradient, 1, loss.bounds, ((0.0,),))
    with pytest.raises(ValueError, match="gradient"):
        wells.LossSurface(loss.value, lambda x: np.zeros(3), 1, loss.bounds, loss.guesses)
