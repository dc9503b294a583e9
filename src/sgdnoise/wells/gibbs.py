"""Theorem 1's equilibrium (Jastrzębski et al. 2018, eq. 2) integrated over the two basins of a loss
(`gibbs_log_ratio`: scipy.integrate.quad in 1-D, a fine grid in 2-D), and Theorem 2's Laplace
approximation of the same ratio (`laplace_log_ratio`, eq. 3, via `sgdnoise.theory`)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import integrate

from sgdnoise import theory
from sgdnoise.results import strict_json
from sgdnoise.validation import positive_int, positive_number
from sgdnoise.wells.losses import LocatedMinimum, LossSurface, find_minimum


def gibbs_temperature(lr: float, batch_size: float, gradient_variance: float) -> float:
    """T = nσ²/2 with n = η/S, so that eq. 2 reads P ∝ exp(−L/T) (Jastrzębski et al. 2018, Thm 1)."""
    return (
        float(theory.jastrzebski_noise(lr, batch_size)) * positive_number("gradient_variance", gradient_variance) / 2.0
    )


def laplace_log_ratio(
    minimum_a: LocatedMinimum, minimum_b: LocatedMinimum, *, lr: float, batch_size: float, gradient_variance: float
) -> float:
    """ln(p_A/p_B) by Laplace's method (Jastrzębski et al. 2018, Thm 2, eq. 3, via `theory`)."""
    noise = theory.jastrzebski_noise(lr, batch_size)
    return float(theory.log_probability_ratio(minimum_a.minimum, minimum_b.minimum, noise, gradient_variance))


@dataclass(frozen=True)
class GibbsRatio:
    """ln of ∫_A exp(−L/T) / ∫_B exp(−L/T) (T = nσ²/2; Jastrzębski eq. 2) and its quadrature error."""

    log_ratio: float
    log_mass_a: float
    log_mass_b: float
    temperature: float
    method: Literal["quad", "grid"]
    quadrature_error: float  # estimated absolute error of log_ratio
    edge_density: float  # exp(−(L − L_min)/T) at the box's edge: the neglected tail is of this order

    @property
    def ratio(self) -> float:
        return math.exp(self.log_ratio)

    def to_dict(self) -> dict[str, Any]:
        return strict_json(
            {
                "log_ratio": self.log_ratio,
                "ratio": self.ratio,
                "log_mass_a": self.log_mass_a,
                "log_mass_b": self.log_mass_b,
                "temperature": self.temperature,
                "method": self.method,
                "quadrature_error": self.quadrature_error,
                "edge_density": self.edge_density,
            }
        )


EDGE_DENSITY_LIMIT = 1e-10


def gibbs_log_ratio(
    loss: LossSurface,
    *,
    lr: float,
    batch_size: float,
    gradient_variance: float,
    grid_points: int = 1201,
    minima: tuple[LocatedMinimum, LocatedMinimum] | None = None,
) -> GibbsRatio:
    """Exact equilibrium occupation ratio of Theorem 1 (eq. 2) over the two basins of ``loss``.

    1-D: the basin boundaries are located on a fine grid and refined by bisection, and each interval is
    integrated with scipy.integrate.quad. 2-D: midpoint rule on a ``grid_points``² grid (rounded up to
    even) over the bounds, its error estimated as the change from a grid with half as many cells per axis.
    Raises ValueError if exp(−L/T) at the
    edge of the bounds exceeds 1e-10 of its peak (the box is too small for this temperature).
    """
    temperature = gibbs_temperature(lr, batch_size, gradient_variance)
    grid_points = positive_int("grid_points", grid_points, minimum=11)
    if minima is None:
        minima = (find_minimum(loss, 0), find_minimum(loss, 1))
    locations = (minima[0].location, minima[1].location)
    floor = min(minima[0].loss, minima[1].loss)
    if loss.dim == 1:
        axis = np.linspace(*loss.bounds[0], 20001)
        values = loss.value(axis[:, None])
        floor = min(floor, float(values.min()))
        edge = float(np.exp(-(min(values[0], values[-1]) - floor) / temperature))
        _check_edge(edge, loss)
        return _gibbs_1d(loss, axis, locations, floor, temperature, edge)
    cells = grid_points + grid_points % 2  # even: a symmetric box's midplane is a cell edge, not a row of centres
    fine, floor_fine, edge = _grid_masses(loss, cells, locations, temperature)
    coarse, _, _ = _grid_masses(loss, cells // 2 + (cells // 2) % 2, locations, temperature)
    log_ratio = math.log(fine[0]) - math.log(fine[1])
    error = abs(log_ratio - (math.log(coarse[0]) - math.log(coarse[1])))
    log_masses = [math.log(m) - floor_fine / temperature for m in fine]
    return GibbsRatio(log_ratio, log_masses[0], log_masses[1], temperature, "grid", error, edge)


def _check_edge(edge: float, loss: LossSurface) -> None:
    if edge > EDGE_DENSITY_LIMIT:
        raise ValueError(
            f"exp(−L/T) at the edge of the bounds {loss.bounds} is {edge:.2g} of its peak (> {EDGE_DENSITY_LIMIT:g}): "
            "widen the bounds of the loss (or lower the noise) so the Gibbs integral is not truncated"
        )


def _grid_masses(
    loss: LossSurface, cells: int, locations: tuple[np.ndarray, np.ndarray], temperature: float
) -> tuple[tuple[float, float], float, float]:
    """Midpoint rule on cells² cells over the bounds: basin masses (relative to exp(−L_min/T)), L_min and
    the density at the outermost cells. The rule is exponentially accurate for smooth, decaying integrands;
    a basin boundary crossing cells at an angle adds an error of order (cell size) × (density there)."""
    axes = [lo + (np.arange(cells) + 0.5) * (hi - lo) / cells for lo, hi in loss.bounds]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    values = loss.value(grid)
    floor = float(values.min())
    border = np.concatenate([values[0], values[-1], values[:, 0], values[:, -1]])
    edge = float(np.exp(-(border.min() - floor) / temperature))
    _check_edge(edge, loss)
    density = np.exp(-(values - floor) / temperature)
    labels = loss.labels(grid, locations)
    cell = math.prod((hi - lo) / cells for lo, hi in loss.bounds)
    a, b = (float(np.sum(density[labels == k])) * cell for k in (0, 1))
    if a <= 0 or b <= 0:
        raise ValueError("one basin carries no Gibbs mass on the grid: check the basin function and bounds")
    return (a, b), floor, edge


def _gibbs_1d(
    loss: LossSurface,
    grid: np.ndarray,
    locations: tuple[np.ndarray, np.ndarray],
    floor: float,
    temperature: float,
    edge: float,
) -> GibbsRatio:
    labels = loss.labels(grid[:, None], locations)
    cuts = [float(grid[0])]
    for i in np.flatnonzero(labels[1:] != labels[:-1]):
        lo, hi = float(grid[i]), float(grid[i + 1])
        left = labels[i]
        for _ in range(60):  # bisection to machine precision
            mid = (lo + hi) / 2
            if loss.labels(np.array([[mid]]), locations)[0] == left:
                lo = mid
            else:
                hi = mid
        cuts.append((lo + hi) / 2)
    cuts.append(float(grid[-1]))
    masses, errors = [0.0, 0.0], [0.0, 0.0]

    def integrand(x: float) -> float:
        return math.exp(-(float(loss.value(np.array([[x]]))[0]) - floor) / temperature)

    for lo, hi in itertools.pairwise(cuts):
        label = int(loss.labels(np.array([[(lo + hi) / 2]]), locations)[0])
        if label < 0 or hi <= lo:
            continue
        inside = [float(p[0]) for p in locations if lo < p[0] < hi]
        mass, err = integrate.quad(integrand, lo, hi, points=inside or None, limit=400, epsabs=0.0, epsrel=1e-11)
        masses[label] += mass
        errors[label] += err
    if masses[0] <= 0 or masses[1] <= 0:
        raise ValueError("one basin carries no Gibbs mass: check the basin function and bounds")
    error = errors[0] / masses[0] + errors[1] / masses[1]
    return GibbsRatio(
        math.log(masses[0]) - math.log(masses[1]),
        math.log(masses[0]) - floor / temperature,
        math.log(masses[1]) - floor / temperature,
        temperature,
        "quad",
        error,
        edge,
    )
