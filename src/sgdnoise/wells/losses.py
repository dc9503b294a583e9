"""Loss surfaces on R^1 or R^2 with two minima A and B: the loss a user gives (`LossSurface`), the
`gaussian_wells` family, and the points the theory needs, located numerically: the minima with their
Hessians (`find_minimum`), the barrier heights and the index-1 saddle between them (`find_saddle`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import optimize

from sgdnoise import theory
from sgdnoise.results import strict_json
from sgdnoise.validation import positive_number

PointFunction = Callable[[np.ndarray], np.ndarray]


# ----------------------------------------------------------------------------------------------------------
# the loss
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LossSurface:
    """A user's loss on R^d (d = 1 or 2) with two minima A and B.

    ``value(points)`` maps an array [..., d] to [...], ``gradient(points)`` to [..., d]; ``hessian(point)``
    (optional) maps one point [d] to [d, d] (else central differences of the gradient are used).
    ``guesses`` are starting points (A first) for locating the two minima. ``bounds`` is the box
    ((lo, hi) per axis) the Gibbs integral is taken over; it must hold all but a negligible part of
    exp(−L/T) (checked). ``basin(points)`` (optional) maps [..., d] to labels 0 (A), 1 (B) or −1
    (neither); by default the half-space split by the hyperplane perpendicular to the segment joining the
    two minima, through the highest loss on that segment (in 1-D: the barrier top).
    """

    value: PointFunction
    gradient: PointFunction
    dim: int
    bounds: tuple[tuple[float, float], ...]
    guesses: tuple[tuple[float, ...], tuple[float, ...]]
    hessian: Callable[[np.ndarray], np.ndarray] | None = None
    basin: PointFunction | None = None
    name: str = "custom"

    def __post_init__(self) -> None:
        if not callable(self.value) or not callable(self.gradient):
            raise TypeError("LossSurface needs callable value and gradient functions")
        if self.hessian is not None and not callable(self.hessian):
            raise TypeError("LossSurface.hessian must be callable or None")
        if self.basin is not None and not callable(self.basin):
            raise TypeError("LossSurface.basin must be callable or None")
        if self.dim not in (1, 2):
            raise ValueError(f"LossSurface.dim must be 1 or 2, got {self.dim!r}")
        bounds = tuple((float(lo), float(hi)) for lo, hi in self.bounds)
        finite = all(math.isfinite(lo) and math.isfinite(hi) and lo < hi for lo, hi in bounds)
        if len(bounds) != self.dim or not finite:
            raise ValueError(f"bounds must be {self.dim} finite (lo, hi) pairs with lo < hi, got {self.bounds!r}")
        object.__setattr__(self, "bounds", bounds)
        guesses = tuple(tuple(float(x) for x in np.atleast_1d(g)) for g in self.guesses)
        if len(guesses) != 2 or any(len(g) != self.dim for g in guesses):
            raise ValueError(f"guesses must be two points of dimension {self.dim} (A first), got {self.guesses!r}")
        object.__setattr__(self, "guesses", guesses)
        probe = np.asarray(guesses, dtype=np.float64)
        values, grads = np.asarray(self.value(probe)), np.asarray(self.gradient(probe))
        if values.shape != (2,) or grads.shape != (2, self.dim):
            raise ValueError(
                f"value must map [..., {self.dim}] to [...] and gradient to [..., {self.dim}]; on two points got "
                f"shapes {values.shape} and {grads.shape}"
            )

    def labels(self, points: np.ndarray, minima: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Basin labels (0 = A, 1 = B, −1 = neither) of points [..., d]."""
        return self.labeller(minima if minima is not None else self.minima_locations())(points)

    def labeller(self, minima: tuple[np.ndarray, np.ndarray]) -> PointFunction:
        """`labels` with the minima fixed (the dividing plane computed once), for use inside a loop."""
        if self.basin is not None:
            basin = self.basin
            return lambda points: np.asarray(basin(points)).astype(np.int8)
        normal, offset = self._dividing_plane(*minima)
        return lambda points: (points @ normal >= offset).astype(np.int8)

    def minima_locations(self) -> tuple[np.ndarray, np.ndarray]:
        return find_minimum(self, 0).location, find_minimum(self, 1).location

    def _dividing_plane(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
        """Normal (A → B) and offset of the plane through the highest loss on segment AB."""
        t = np.linspace(0.0, 1.0, 2001)
        segment = a + t[:, None] * (b - a)
        top = segment[int(np.argmax(self.value(segment)))]
        normal = (b - a) / np.linalg.norm(b - a)
        return normal, float(top @ normal)


def gaussian_wells(
    dim: int = 1,
    *,
    depth_a: float = 1.0,
    width_a: float = 1.0,
    depth_b: float = 1.0,
    width_b: float = 1.0,
    separation: float = 4.0,
    l2: float = 0.01,
    scale: float = 1.0,
    extent: float | None = None,
) -> LossSurface:
    """L(θ) = scale·[−d_A exp(−|θ−μ_A|²/(2w_A²)) − d_B exp(−|θ−μ_B|²/(2w_B²))] + τ|θ|².

    Two Gaussian wells of depth d and width w, centred at μ_A = (−s/2, 0…) and μ_B = (+s/2, 0…), plus the
    weak L2 term τ|θ|² that makes exp(−L/T) normalisable (Jastrzębski et al. 2018, Thm 1 footnote). With
    well-separated wells the minima sit near μ with loss ≈ −scale·d and curvature ≈ scale·d/w² + 2τ; the
    barrier out of a well is ≈ scale·d (the plateau between them). ``scale`` raises every barrier at once.
    Gradient and Hessian are exact. ``extent`` is the half-width of the integration box (default: the wells
    ± 8 widths, at least where τ|θ|² reaches 20 + 2·scale·max depth).
    """
    for name, value in (("depth_a", depth_a), ("width_a", width_a), ("depth_b", depth_b), ("width_b", width_b)):
        positive_number(name, value)
    positive_number("separation", separation)
    positive_number("l2", l2)
    positive_number("scale", scale)
    if dim not in (1, 2):
        raise ValueError(f"dim must be 1 or 2, got {dim!r}")
    centres = np.zeros((2, dim))
    centres[0, 0], centres[1, 0] = -separation / 2, separation / 2
    depths = scale * np.array([depth_a, depth_b])
    widths = np.array([width_a, width_b])

    def value(points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=np.float64)
        total = l2 * np.sum(points**2, axis=-1)
        for centre, depth, width in zip(centres, depths, widths, strict=True):
            total -= depth * np.exp(np.sum((points - centre) ** 2, axis=-1) * (-0.5 / width**2))
        return total

    def gradient(points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=np.float64)
        total = (2 * l2) * points
        for centre, depth, width in zip(centres, depths, widths, strict=True):
            diff = points - centre
            bump = np.exp(np.sum(diff * diff, axis=-1, keepdims=True) * (-0.5 / width**2))
            total += (depth / width**2) * bump * diff
        return total

    def hessian(point: np.ndarray) -> np.ndarray:
        point = np.asarray(point, dtype=np.float64)
        h = 2 * l2 * np.eye(dim)
        for centre, depth, width in zip(centres, depths, widths, strict=True):
            diff = point - centre
            bump = depth * np.exp(-np.sum(diff**2) / (2 * width**2))
            h += bump / width**2 * (np.eye(dim) - np.outer(diff, diff) / width**2)
        return h

    if extent is None:
        confine = math.sqrt((20.0 + 2.0 * float(depths.max())) / l2)
        extent = max(separation / 2 + 8 * float(widths.max()), confine)
    positive_number("extent", extent)
    bounds = ((-extent, extent),) * dim
    guesses = (tuple(centres[0]), tuple(centres[1]))
    name = f"gaussian-wells-{dim}d"
    return LossSurface(value, gradient, dim, bounds, guesses, hessian=hessian, name=name)


# ----------------------------------------------------------------------------------------------------------
# minima, barriers and the saddle between them
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LocatedMinimum:
    """A minimum found numerically: location, loss, Hessian and how the Hessian was obtained."""

    location: np.ndarray
    loss: float
    hessian: np.ndarray
    hessian_source: Literal["exact", "finite-differences"]
    gradient_norm: float

    @property
    def minimum(self) -> theory.Minimum:
        """As `theory.Minimum` (loss and ln det H) for Theorem 2."""
        return theory.Minimum.from_hessian(self.loss, self.hessian)

    def to_dict(self) -> dict[str, Any]:
        return strict_json(
            {
                "location": self.location,
                "loss": self.loss,
                "hessian": self.hessian,
                "log_det_hessian": self.minimum.log_det_hessian,
                "hessian_source": self.hessian_source,
                "gradient_norm": self.gradient_norm,
            }
        )


def finite_difference_hessian(gradient: PointFunction, point: np.ndarray) -> np.ndarray:
    """Central differences of the gradient, symmetrised: H_ij ≈ (g_i(x + h e_j) − g_i(x − h e_j))/(2h).

    h = 1e-5·max(1, |x|) balances the O(h²) truncation against the O(ε/h) rounding of float64 gradients.
    """
    point = np.asarray(point, dtype=np.float64)
    d = point.size
    step = 1e-5 * max(1.0, float(np.abs(point).max()))
    shifts = np.concatenate([np.eye(d), -np.eye(d)]) * step
    grads = np.asarray(gradient(point + shifts))
    h = (grads[:d] - grads[d:]).T / (2 * step)
    return (h + h.T) / 2


def find_minimum(loss: LossSurface, which: int) -> LocatedMinimum:
    """Minimum A (which = 0) or B (1) of ``loss``, found by BFGS from its guess with the given gradient."""
    if which not in (0, 1):
        raise ValueError(f"which must be 0 (A) or 1 (B), got {which!r}")
    start = np.asarray(loss.guesses[which], dtype=np.float64)
    result = optimize.minimize(
        lambda x: float(loss.value(x[None, :])[0]),
        start,
        jac=lambda x: np.asarray(loss.gradient(x[None, :]))[0],
        method="BFGS",
        options={"gtol": 1e-10, "maxiter": 1000},
    )
    location = np.asarray(result.x, dtype=np.float64)
    if loss.hessian is not None:
        hessian, source = np.asarray(loss.hessian(location), dtype=np.float64), "exact"
    else:
        hessian, source = finite_difference_hessian(loss.gradient, location), "finite-differences"
    eig = np.linalg.eigvalsh((hessian + hessian.T) / 2)
    if eig.min() <= 0:
        raise ValueError(
            f"the point found from guess {'AB'[which]} = {loss.guesses[which]} is not a strict minimum "
            f"(Hessian eigenvalues {eig}); give a better guess"
        )
    gradient_norm = float(np.linalg.norm(np.asarray(loss.gradient(location[None, :]))[0]))
    return LocatedMinimum(location, float(loss.value(location[None, :])[0]), hessian, source, gradient_norm)


def barrier_heights(loss: LossSurface, minima: tuple[LocatedMinimum, LocatedMinimum]) -> tuple[float, float]:
    """Barrier out of A and out of B: the highest loss on the straight segment AB minus L_A and L_B.

    Exact in 1-D; in 2-D an upper bound on the saddle height (exact when the saddle lies on the segment, as
    for `gaussian_wells` by symmetry).
    """
    a, b = minima[0].location, minima[1].location
    t = np.linspace(0.0, 1.0, 4001)[:, None]
    top = float(np.max(loss.value(a + t * (b - a))))
    return top - minima[0].loss, top - minima[1].loss


@dataclass(frozen=True)
class LocatedSaddle:
    """The saddle between the two minima: location, loss, Hessian and its one negative eigenvalue."""

    location: np.ndarray
    loss: float
    hessian: np.ndarray
    negative_eigenvalue: float
    hessian_source: Literal["exact", "finite-differences"]
    gradient_norm: float

    def to_dict(self) -> dict[str, Any]:
        return strict_json({name: getattr(self, name) for name in self.__dataclass_fields__})


def _hessian_at(loss: LossSurface, point: np.ndarray) -> tuple[np.ndarray, Literal["exact", "finite-differences"]]:
    if loss.hessian is not None:
        h = np.asarray(loss.hessian(point), dtype=np.float64)
        return (h + h.T) / 2, "exact"
    return finite_difference_hessian(loss.gradient, point), "finite-differences"


def find_saddle(loss: LossSurface, minima: tuple[LocatedMinimum, LocatedMinimum] | None = None) -> LocatedSaddle:
    """The index-1 saddle on the way from A to B, from the loss along the path between the minima.

    The highest loss on the straight segment AB (4001 points) is the starting point; Newton's method on
    ∇L = 0 (the Hessian exact if given, else central differences) then moves it to the critical point nearby. In
    1-D that is the barrier top itself; in 2-D the segment's maximum lies on the ridge the minimum-energy
    path crosses, and the root is accepted only if its Hessian has exactly one negative eigenvalue and its
    loss is not above the segment's maximum (the saddle is the lowest pass, so it cannot be higher).
    Raises ValueError if no such point is found (then the escape-time estimate does not apply).
    """
    if minima is None:
        minima = (find_minimum(loss, 0), find_minimum(loss, 1))
    a, b = minima[0].location, minima[1].location
    t = np.linspace(0.0, 1.0, 4001)[:, None]
    segment = a + t * (b - a)
    values = np.asarray(loss.value(segment))
    i = int(np.argmax(values))
    refined = optimize.minimize_scalar(
        lambda u: -float(loss.value((a + u * (b - a))[None, :])[0]),
        bounds=(float(t[max(i - 1, 0), 0]), float(t[min(i + 1, len(t) - 1), 0])),
        method="bounded",
        options={"xatol": 1e-12},
    )
    top = a + float(refined.x) * (b - a)
    top_value = max(float(values[i]), -float(refined.fun))  # the segment's maximum
    location = top.copy()
    gradient_scale = float(np.abs(np.asarray(loss.gradient(segment))).max()) + 1e-300
    for _ in range(100):  # Newton on ∇L = 0: quadratic convergence from the segment's maximum
        grad = np.asarray(loss.gradient(location[None, :]))[0]
        if np.linalg.norm(grad) <= 1e-12 * gradient_scale:
            break
        try:
            location = location - np.linalg.solve(_hessian_at(loss, location)[0], grad)
        except np.linalg.LinAlgError:
            break
    hessian, source = _hessian_at(loss, location)
    eig = np.linalg.eigvalsh(hessian)
    value = float(loss.value(location[None, :])[0])
    gradient_norm = float(np.linalg.norm(np.asarray(loss.gradient(location[None, :]))[0]))
    converged = bool(np.all(np.isfinite(location))) and gradient_norm <= 1e-8 * gradient_scale
    if not (converged and np.sum(eig < 0) == 1 and value <= top_value + 1e-9 * (1.0 + abs(top_value))):
        raise ValueError(
            f"no index-1 saddle found from the highest point {top} of the segment AB (Newton ended at "
            f"{location} with |∇L| = {gradient_norm:.2g}, Hessian eigenvalues {eig}); the Kramers escape time "
            "needs one"
        )
    return LocatedSaddle(location, value, hessian, float(eig[0]), source, gradient_norm)
