"""SGD's equilibrium between two minima of any 1-D or 2-D loss, simulated and predicted.

Jastrzębski et al. 2018, "Three Factors Influencing Minima in SGD", §3: SGD with learning rate η, batch
size S and isotropic gradient covariance C = σ²I is approximated by the Langevin equation (eq. 1)

    dθ/dt = −η g(θ) + (η/√S) σ f(t),

one SGD update being one unit of t. Its equilibrium is the Gibbs density P(θ) ∝ exp(−2L/(nσ²)), n = η/S
(Theorem 1, eq. 2), and Laplace's method near each minimum gives p̃_A = det(H_A)^{−½} exp(−2L_A/(nσ²))
(Theorem 2, eq. 3; `sgdnoise.theory`). This module holds the three against each other for a loss the
user gives (a function and its gradient, vectorised over points of shape [..., d], d = 1 or 2):

* `simulate` runs many independent chains of either the SDE by Euler–Maruyama with a time step that is a
  chosen fraction of one SGD step, or the discrete SGD update θ ← θ − η(g + σξ/√S) itself (which is the
  Euler–Maruyama scheme with a step of exactly one unit), and measures the occupation ratio p_A/p_B of
  two basins after a burn-in, with its standard error across the independent chains;
* `gibbs_log_ratio` integrates eq. 2 over the two basins (scipy.integrate.quad in 1-D, a fine grid in 2-D);
* `find_minimum` locates a minimum with scipy and its Hessian (exact if given, else central differences
  of the gradient); `laplace_log_ratio` applies Theorem 2 (`theory.log_probability_ratio`);
* `gaussian_wells` is a loss family with two minima of chosen depth and width plus a weak L2 term
  (the regulariser Theorem 1 assumes), in 1-D or 2-D.

Why the standard error is taken across chains, not by batch means: the chains are independent by
construction, so the spread of their time-averaged occupations gives an honest error without estimating
an autocorrelation time. In a double well that time is set by the rare barrier crossings, and batch means
over batches shorter than it understate the error. What no standard error can show is a burn-in too short
for the chains to equilibrate. Two checks address it:

* how long to run is decided before simulating, from `kramers_escape_times` (the Kramers–Langer mean time
  to escape each well over the saddle, `find_saddle`): a run shorter than a few escape times out of the
  slower well cannot have equilibrated, whatever its standard error says;
* `Occupation.start_z` compares chains started in basin A with chains started in B (by default half start
  at each minimum): at equilibrium their time-averaged occupations agree, before it they differ by about
  (escape time / record length) × the initial imbalance. This detects a too-short run even when the
  record's first and second halves look alike (`Occupation.drift_z`, kept as a secondary check: a slow
  relaxation changes little within one record, so the halves agree while both are biased).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import integrate, optimize

from sgdnoise import theory
from sgdnoise.results import strict_json

Method = Literal["sde", "sgd"]
METHODS: tuple[str, ...] = ("sde", "sgd")
PointFunction = Callable[[np.ndarray], np.ndarray]

__all__ = [
    "EquilibriumComparison",
    "EscapeTimes",
    "GibbsRatio",
    "LocatedMinimum",
    "LocatedSaddle",
    "LossSurface",
    "Occupation",
    "barrier_heights",
    "equilibrium_comparison",
    "find_minimum",
    "find_saddle",
    "first_passage_times",
    "gaussian_wells",
    "gibbs_log_ratio",
    "gibbs_temperature",
    "kramers_escape_times",
    "laplace_log_ratio",
    "simulate",
]


def gibbs_temperature(lr: float, batch_size: float, gradient_variance: float) -> float:
    """T = nσ²/2 with n = η/S, so that eq. 2 reads P ∝ exp(−L/T) (Jastrzębski et al. 2018, Thm 1)."""
    return float(theory.jastrzebski_noise(lr, batch_size)) * _positive(gradient_variance, "gradient_variance") / 2.0


def _positive(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _count(value: int, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


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
        _positive(value, name)
    _positive(separation, "separation")
    _positive(l2, "l2")
    _positive(scale, "scale")
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
    _positive(extent, "extent")
    bounds = ((-extent, extent),) * dim
    guesses = (tuple(centres[0]), tuple(centres[1]))
    name = f"gaussian-wells-{dim}d"
    return LossSurface(value, gradient, dim, bounds, guesses, hessian=hessian, name=name)


# ----------------------------------------------------------------------------------------------------------
# minima and Theorem 2
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


@dataclass(frozen=True)
class EscapeTimes:
    """Kramers–Langer mean escape times out of A and out of B (units: SGD steps, i.e. of t in eq. 1).

    ``relaxation`` = 1/(1/τ_A + 1/τ_B) is the time constant with which the two-basin occupation relaxes
    to equilibrium; ``slowest`` = max(τ_A, τ_B) is the escape time out of the well that is harder to
    leave (the deeper one, unless its prefactor says otherwise); ``barrier_over_temperature`` is
    (L_saddle − L_X)/T for X = A, B: the asymptotics need it large (corrections of order T/ΔL).
    """

    tau_a: float
    tau_b: float
    barrier_a: float
    barrier_b: float
    temperature: float
    saddle: LocatedSaddle

    @property
    def relaxation(self) -> float:
        rate = 1.0 / self.tau_a + 1.0 / self.tau_b
        return 1.0 / rate if rate > 0 else math.inf

    @property
    def slowest(self) -> float:
        return max(self.tau_a, self.tau_b)

    @property
    def barrier_over_temperature(self) -> tuple[float, float]:
        return self.barrier_a / self.temperature, self.barrier_b / self.temperature

    def to_dict(self) -> dict[str, Any]:
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__} | {"saddle": self.saddle.to_dict()}
        derived = {"relaxation": self.relaxation, "slowest": self.slowest}
        return strict_json(fields | derived | {"barrier_over_temperature": self.barrier_over_temperature})


def kramers_escape_times(
    loss: LossSurface,
    *,
    lr: float,
    batch_size: float,
    gradient_variance: float,
    minima: tuple[LocatedMinimum, LocatedMinimum] | None = None,
    saddle: LocatedSaddle | None = None,
) -> EscapeTimes:
    """Mean time for SGD's SDE (eq. 1, C = σ²I) to escape each minimum over the saddle, in SGD steps.

    Derivation. Eq. 1 reads dθ = −η∇L dt + (ησ/√S) dW. Since (ησ/√S)² = 2η·T with T = nσ²/2, n = η/S, this
    is overdamped Langevin dynamics with mobility η at temperature T, whose equilibrium is exp(−L/T)
    (Theorem 1). For it the Kramers–Langer rate of escape from minimum X over an index-1 saddle s is

        k_X = (η |λ_−| / 2π) · √(det H_X / |det H_s|) · exp(−(L_s − L_X)/T),

    λ_− the saddle's negative Hessian eigenvalue; τ_X = 1/k_X. In 1-D this is the textbook
    τ = 2π/(η√(H_X |L''(s)|)) · exp(2ΔL/(nσ²)); in d dimensions the determinant ratio carries the
    transverse curvatures (for H_s = diag(λ_−, λ_⊥) and H_X = diag(λ_1, λ_2): τ = 2π/(η√(λ_1|λ_−|)) ·
    √(λ_2/λ_⊥) · exp(ΔL/T)). τ_X is the mean first-passage time from X to beyond the saddle (to the other
    minimum); it is asymptotic in ΔL/T, with relative corrections of order T/ΔL. For the discrete update
    (method="sgd") it holds as long as η·H is small.
    """
    temperature = gibbs_temperature(lr, batch_size, gradient_variance)
    lr = _positive(lr, "lr")
    if minima is None:
        minima = (find_minimum(loss, 0), find_minimum(loss, 1))
    if saddle is None:
        saddle = find_saddle(loss, minima)
    log_det_saddle = float(np.sum(np.log(np.abs(np.linalg.eigvalsh(saddle.hessian)))))
    taus, barriers = [], []
    for minimum in minima:
        log_det = float(np.linalg.slogdet(minimum.hessian)[1])
        barrier = saddle.loss - minimum.loss
        log_tau = (
            math.log(2 * math.pi / (lr * abs(saddle.negative_eigenvalue)))
            + 0.5 * (log_det_saddle - log_det)
            + barrier / temperature
        )
        taus.append(math.exp(log_tau) if log_tau < 700.0 else math.inf)  # beyond float range: never escapes
        barriers.append(barrier)
    return EscapeTimes(taus[0], taus[1], barriers[0], barriers[1], temperature, saddle)


def laplace_log_ratio(
    minimum_a: LocatedMinimum, minimum_b: LocatedMinimum, *, lr: float, batch_size: float, gradient_variance: float
) -> float:
    """ln(p_A/p_B) by Laplace's method (Jastrzębski et al. 2018, Thm 2, eq. 3, via `theory`)."""
    noise = theory.jastrzebski_noise(lr, batch_size)
    return float(theory.log_probability_ratio(minimum_a.minimum, minimum_b.minimum, noise, gradient_variance))


# ----------------------------------------------------------------------------------------------------------
# Theorem 1: the Gibbs integral
# ----------------------------------------------------------------------------------------------------------
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
    grid_points = _count(grid_points, "grid_points", 11)
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


# ----------------------------------------------------------------------------------------------------------
# simulation: the SDE (Euler–Maruyama) and the discrete SGD update
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Occupation:
    """Measured occupation of basins A and B by independent chains after burn-in.

    ``fraction_a``/``fraction_b`` are means over chains of each chain's fraction of recorded samples in
    the basin; ``log_ratio_se`` is the delta-method standard error of ln(p_A/p_B) from their covariance
    across chains. Samples are recorded once per unit of SDE time (one SGD step).

    Equilibration checks. ``start_z`` is the occupation of A by the chains that started in basin A minus
    that of the chains that started in B, over its standard error (``fraction_a_from_a``,
    ``fraction_a_from_b``, ``chains_from_a``, ``chains_from_b``): at equilibrium the start is forgotten and
    the two agree; |start_z| of 3 or more says the run was too short for the chains to forget where they
    began (NaN when fewer than two chains started in either basin; ±inf when neither group's chains ever
    moved). ``drift_z`` is (ln ratio in the record's second half − first half)/its SE, a weaker check.
    """

    method: str
    lr: float
    batch_size: float
    gradient_variance: float
    step_fraction: float
    chains: int
    diverged_chains: int
    integrator_steps: int
    burn_in_steps: int
    samples_per_chain: int
    fraction_a: float
    fraction_b: float
    log_ratio: float
    log_ratio_se: float
    drift_z: float
    seed: int
    start_z: float = math.nan
    fraction_a_from_a: float = math.nan
    fraction_a_from_b: float = math.nan
    chains_from_a: int = 0
    chains_from_b: int = 0

    @property
    def ratio(self) -> float:
        return math.exp(self.log_ratio) if math.isfinite(self.log_ratio) else math.nan

    @property
    def ratio_se(self) -> float:
        return self.ratio * self.log_ratio_se

    def z(self, predicted_log_ratio: float) -> float:
        """(measured − predicted ln ratio)/SE: the discrepancy in units of the sampling error."""
        if not self.log_ratio_se > 0:
            return math.nan
        return (self.log_ratio - predicted_log_ratio) / self.log_ratio_se

    def to_dict(self) -> dict[str, Any]:
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return strict_json(fields | {"ratio": self.ratio, "ratio_se": self.ratio_se})


def simulate(
    loss: LossSurface,
    *,
    lr: float,
    batch_size: float,
    gradient_variance: float,
    method: Method = "sde",
    step_fraction: float = 0.1,
    duration: float,
    burn_in: float,
    chains: int = 1000,
    seed: int = 0,
    init: np.ndarray | None = None,
    minima: tuple[LocatedMinimum, LocatedMinimum] | None = None,
) -> Occupation:
    """Occupation ratio p_A/p_B of SGD's SDE or of discrete SGD on ``loss``, with its standard error.

    method="sde": Euler–Maruyama for Jastrzębski eq. 1 with C = σ²I, time step Δt = ``step_fraction`` of one
    SGD step (1/step_fraction must be an integer): θ ← θ − ηg Δt + (ησ/√S) √Δt ξ. method="sgd": the update
    θ ← θ − η(g + σξ/√S), i.e. the same scheme at Δt = 1. ``duration`` and ``burn_in`` are in SGD steps
    (units of t); samples after the burn-in are recorded once per unit of t. ``init`` is one point [d] or
    one per chain [chains, d]; by default the first half of the chains start at minimum A and the rest at
    minimum B, so that `Occupation.start_z` can compare them (it groups chains by the basin they start in,
    whatever ``init``). How long a run must be is not decided here: see `kramers_escape_times`. Chains
    whose state turns non-finite are dropped and counted as diverged. Deterministic given ``seed``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    lr, batch_size = _positive(lr, "lr"), _positive(batch_size, "batch_size")
    gradient_variance = _positive(gradient_variance, "gradient_variance")
    chains = _count(chains, "chains", 2)
    dt = 1.0 if method == "sgd" else _positive(step_fraction, "step_fraction")
    per_unit = round(1.0 / dt)
    if dt > 1 or abs(per_unit * dt - 1.0) > 1e-9:
        raise ValueError(f"step_fraction must be 1/k for an integer k >= 1, got {step_fraction!r}")
    duration, burn_in = _positive(duration, "duration"), float(burn_in)
    if not (math.isfinite(burn_in) and 0 <= burn_in < duration):
        raise ValueError(f"burn_in must satisfy 0 <= burn_in < duration, got {burn_in!r} and {duration!r}")
    units, burn_units = round(duration), round(burn_in)
    if units - burn_units < 2:
        raise ValueError("duration − burn_in must be at least 2 SGD steps to record samples")
    if minima is None:
        minima = (find_minimum(loss, 0), find_minimum(loss, 1))
    a, b = minima[0].location, minima[1].location
    labeller = loss.labeller((a, b))
    rng = np.random.default_rng(seed)
    theta = _initial_states(init, chains, loss.dim, a, b)
    started = labeller(theta)
    drift_step = lr * dt
    noise_step = lr * math.sqrt(gradient_variance / batch_size) * math.sqrt(dt)
    samples = units - burn_units
    half = samples // 2
    counts = np.zeros((2, 2, chains))  # [half, basin, chain]
    alive = np.ones(chains, dtype=bool)
    for unit in range(units):
        noise = rng.standard_normal((per_unit, *theta.shape))
        noise *= noise_step
        for k in range(per_unit):
            theta -= drift_step * loss.gradient(theta)
            theta += noise[k]
        if unit >= burn_units:
            alive &= np.all(np.isfinite(theta), axis=-1)
            labels = labeller(np.where(alive[:, None], theta, a))
            part = 0 if unit - burn_units < half else 1
            counts[part, 0] += (labels == 0) & alive
            counts[part, 1] += (labels == 1) & alive
    alive &= np.all(np.isfinite(theta), axis=-1)
    fractions = counts[:, :, alive]  # [half, basin, alive chains]
    whole = fractions.sum(axis=0) / samples
    log_ratio, se = _log_ratio_and_se(whole[0], whole[1])
    first, se_first = _log_ratio_and_se(fractions[0, 0] / half, fractions[0, 1] / half)
    second, se_second = _log_ratio_and_se(fractions[1, 0] / (samples - half), fractions[1, 1] / (samples - half))
    drift_z = (second - first) / math.hypot(se_first, se_second) if se_first > 0 and se_second > 0 else math.nan
    from_a, from_b = whole[0][started[alive] == 0], whole[0][started[alive] == 1]
    start_z = _difference_z(from_a, from_b)
    return Occupation(
        method=method,
        lr=lr,
        batch_size=batch_size,
        gradient_variance=gradient_variance,
        step_fraction=dt,
        chains=chains,
        diverged_chains=int(chains - alive.sum()),
        integrator_steps=units * per_unit,
        burn_in_steps=burn_units * per_unit,
        samples_per_chain=samples,
        fraction_a=float(whole[0].mean()) if whole.shape[1] else math.nan,
        fraction_b=float(whole[1].mean()) if whole.shape[1] else math.nan,
        log_ratio=log_ratio,
        log_ratio_se=se,
        drift_z=float(drift_z),
        seed=int(seed),
        start_z=start_z,
        fraction_a_from_a=float(from_a.mean()) if from_a.size else math.nan,
        fraction_a_from_b=float(from_b.mean()) if from_b.size else math.nan,
        chains_from_a=int(from_a.size),
        chains_from_b=int(from_b.size),
    )


def _difference_z(x: np.ndarray, y: np.ndarray) -> float:
    """(mean x − mean y)/SE of the difference (independent samples); ±inf if both are constant and differ."""
    if x.size < 2 or y.size < 2:
        return math.nan
    diff = float(x.mean() - y.mean())
    se = math.sqrt(float(x.var(ddof=1)) / x.size + float(y.var(ddof=1)) / y.size)
    if se > 0:
        return diff / se
    return 0.0 if diff == 0 else math.copysign(math.inf, diff)


def _initial_states(init: np.ndarray | None, chains: int, dim: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``init`` broadcast to [chains, d]; by default the first half of the chains at A, the rest at B."""
    if init is None:
        theta = np.empty((chains, dim))
        theta[: chains // 2], theta[chains // 2 :] = a, b
        return theta
    start = np.asarray(init, dtype=np.float64)
    if start.shape == (dim,):
        return np.broadcast_to(start, (chains, dim)).copy()
    if start.shape == (chains, dim):
        return start.copy()
    raise ValueError(f"init must have shape ({dim},) or ({chains}, {dim}), got {start.shape}")


def _log_ratio_and_se(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """ln(mean a / mean b) and its delta-method SE from the across-chain (co)variance of a and b."""
    m = a.size
    if m < 2:
        return math.nan, math.nan
    mean_a, mean_b = float(a.mean()), float(b.mean())
    if mean_a <= 0 or mean_b <= 0:
        return (math.inf if mean_a > 0 else -math.inf if mean_b > 0 else math.nan), math.nan
    cov = np.cov(np.stack([a, b]), ddof=1)
    var = cov[0, 0] / mean_a**2 + cov[1, 1] / mean_b**2 - 2 * cov[0, 1] / (mean_a * mean_b)
    return math.log(mean_a / mean_b), math.sqrt(max(var, 0.0) / m)


def first_passage_times(
    loss: LossSurface,
    *,
    lr: float,
    batch_size: float,
    gradient_variance: float,
    start: int = 0,
    step_fraction: float = 0.1,
    chains: int = 500,
    max_duration: float,
    seed: int = 0,
    minima: tuple[LocatedMinimum, LocatedMinimum] | None = None,
) -> np.ndarray:
    """Simulated first-passage times of SGD's SDE from minimum A (start=0) or B (1) to the other minimum.

    Each chain starts at the minimum and runs Euler–Maruyama (as `simulate`, method="sde") until its
    projection on the line through the two minima first reaches the other minimum's; the time (in SGD
    steps, resolution ``step_fraction``) is returned per chain, NaN for chains that had not arrived by
    ``max_duration``. Their mean is what `kramers_escape_times` predicts (τ_A for start=0).
    """
    if start not in (0, 1):
        raise ValueError(f"start must be 0 (A) or 1 (B), got {start!r}")
    lr, batch_size = _positive(lr, "lr"), _positive(batch_size, "batch_size")
    gradient_variance = _positive(gradient_variance, "gradient_variance")
    chains = _count(chains, "chains", 1)
    dt = _positive(step_fraction, "step_fraction")
    steps = math.ceil(_positive(max_duration, "max_duration") / dt)
    if minima is None:
        minima = (find_minimum(loss, 0), find_minimum(loss, 1))
    origin, target = minima[start].location, minima[1 - start].location
    direction = (target - origin) / np.linalg.norm(target - origin)
    goal = float((target - origin) @ direction)
    rng = np.random.default_rng(seed)
    theta = np.broadcast_to(origin, (chains, loss.dim)).copy()
    times = np.full(chains, math.nan)
    waiting = np.ones(chains, dtype=bool)
    drift_step = lr * dt
    noise_step = lr * math.sqrt(gradient_variance / batch_size * dt)
    block = 256
    for first in range(0, steps, block):
        noise = rng.standard_normal((min(block, steps - first), *theta.shape))
        noise *= noise_step
        for k in range(noise.shape[0]):
            theta -= drift_step * loss.gradient(theta)
            theta += noise[k]
            arrived = waiting & ((theta - origin) @ direction >= goal)
            times[arrived] = (first + k + 1) * dt
            waiting &= ~arrived
        if not waiting.any():
            break
    return times


# ----------------------------------------------------------------------------------------------------------
# everything at once
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EquilibriumComparison:
    """Simulated occupation ratio beside Theorem 1's Gibbs integral and Theorem 2's Laplace ratio."""

    occupation: Occupation
    gibbs: GibbsRatio
    laplace_log_ratio: float
    minimum_a: LocatedMinimum
    minimum_b: LocatedMinimum

    @property
    def z_gibbs(self) -> float:
        return self.occupation.z(self.gibbs.log_ratio)

    @property
    def z_laplace(self) -> float:
        return self.occupation.z(self.laplace_log_ratio)

    def to_dict(self) -> dict[str, Any]:
        return strict_json(
            {
                "occupation": self.occupation.to_dict(),
                "gibbs": self.gibbs.to_dict(),
                "laplace_log_ratio": self.laplace_log_ratio,
                "laplace_ratio": math.exp(self.laplace_log_ratio),
                "z_gibbs": self.z_gibbs,
                "z_laplace": self.z_laplace,
                "minimum_a": self.minimum_a.to_dict(),
                "minimum_b": self.minimum_b.to_dict(),
            }
        )


def equilibrium_comparison(
    loss: LossSurface,
    *,
    lr: float,
    batch_size: float,
    gradient_variance: float,
    method: Method = "sde",
    step_fraction: float = 0.1,
    duration: float,
    burn_in: float,
    chains: int = 1000,
    seed: int = 0,
    init: np.ndarray | None = None,
    grid_points: int = 1201,
) -> EquilibriumComparison:
    """`simulate` and both predictions (Thm 1 eq. 2 integral, Thm 2 eq. 3 Laplace) for one setting."""
    minima = (find_minimum(loss, 0), find_minimum(loss, 1))
    gibbs = gibbs_log_ratio(
        loss, lr=lr, batch_size=batch_size, gradient_variance=gradient_variance, grid_points=grid_points, minima=minima
    )
    occupation = simulate(
        loss,
        lr=lr,
        batch_size=batch_size,
        gradient_variance=gradient_variance,
        method=method,
        step_fraction=step_fraction,
        duration=duration,
        burn_in=burn_in,
        chains=chains,
        seed=seed,
        init=init,
        minima=minima,
    )
    laplace = laplace_log_ratio(*minima, lr=lr, batch_size=batch_size, gradient_variance=gradient_variance)
    return EquilibriumComparison(occupation, gibbs, laplace, *minima)
