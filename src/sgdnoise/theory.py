"""Closed-form predictions of the SGD-noise papers (pure numpy/math, no torch).

Notation: ε learning rate, B batch size, m heavy-ball momentum (TensorFlow form), N training-set size.

* Smith & Le 2018 (ICLR), "A Bayesian Perspective on Generalization and SGD":
  noise scale g = ε(N/B − 1)/(1 − m) ≈ εN/(B(1 − m)) (eq. 13 and App. D eq. 31–32), the scaling rule
  B_opt ∝ εN/(1 − m) (§5), the null-model evidence P(y|x; NULL) = e^{−N ln n} (eq. 10).
* Smith, Elsen & De 2020 (ICML): temperature T = ε_eff/B with ε_eff = ε/(1 − m) (§3.1–3.3), critical learning
  rate ε_crit = 2/λ_max (§3.1).
* Jastrzębski et al. 2018, "Three Factors Influencing Minima in SGD": noise n = η/S (Thm 1) and the
  unnormalised probability of ending near a minimum p̃_A = det(H_A)^{−1/2} exp(−2L_A/(nσ²)) (Thm 2).

Scalar functions accept numpy arrays (broadcast elementwise) and return a float for scalar inputs.
"""

import decimal
import math
import numbers
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

ArrayLike = float | int | npt.ArrayLike
FloatOrArray = float | np.ndarray

ScalingRule = Literal["noise_scale", "noise_scale_approx", "temperature"]
SolveFor = Literal["lr", "batch_size", "momentum", "train_size"]

__all__ = [
    "Minimum",
    "SGDConfig",
    "adam_stability_threshold",
    "critical_learning_rate",
    "critical_noise",
    "effective_learning_rate",
    "equivalent_config",
    "heavy_ball_stability_learning_rate",
    "jastrzebski_noise",
    "log_probability_ratio",
    "minimum_log_probability",
    "nesterov_stability_learning_rate",
    "noise_scale",
    "noise_scale_approx",
    "null_neg_log_evidence",
    "predicted_optimal_batch_size",
    "sgd_stability_learning_rate",
    "temperature",
]


# ----------------------------------------------------------------------------------------------------------
# input validation helpers
# ----------------------------------------------------------------------------------------------------------
def _array(value: ArrayLike, name: str) -> np.ndarray:
    try:
        array = np.asarray(value)
        if array.dtype.kind not in "iufO" or (
            array.dtype == object
            and not all(isinstance(v, numbers.Real | decimal.Decimal) and not isinstance(v, bool) for v in array.flat)
        ):
            raise TypeError("not a real number")
        array = array.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a number or an array of numbers, got {value!r}") from error
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return array


def _real_number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    return float(value)


def _output(array: np.ndarray) -> FloatOrArray:
    return float(array) if array.ndim == 0 else array


def _check_lr(lr: ArrayLike, prefix: str = "") -> np.ndarray:
    array = _array(lr, f"{prefix}lr")
    if np.any(array <= 0):
        raise ValueError(f"{prefix}learning rate must be > 0, got {lr!r}")
    return array


def _check_momentum(momentum: ArrayLike, prefix: str = "") -> np.ndarray:
    array = _array(momentum, f"{prefix}momentum")
    if np.any((array < 0) | (array >= 1)):
        raise ValueError(f"{prefix}momentum must satisfy 0 <= m < 1, got {momentum!r}")
    return array


def _check_batch_size(batch_size: ArrayLike, prefix: str = "") -> np.ndarray:
    array = _array(batch_size, f"{prefix}batch_size")
    if np.any(array < 1):
        raise ValueError(f"{prefix}batch size must be >= 1, got {batch_size!r}")
    return array


def _check_train_size(train_size: ArrayLike, prefix: str = "") -> np.ndarray:
    array = _array(train_size, f"{prefix}train_size")
    if np.any(array < 1):
        raise ValueError(f"{prefix}training-set size must be >= 1, got {train_size!r}")
    return array


_CHECKS = {
    "lr": _check_lr,
    "batch_size": _check_batch_size,
    "train_size": _check_train_size,
    "momentum": _check_momentum,
}


def _check_batch_within_train(batch_size: np.ndarray, train_size: np.ndarray) -> None:
    if np.any(batch_size > train_size):
        raise ValueError(
            f"batch size must not exceed the training-set size (B <= N), got B={batch_size}, N={train_size}"
        )


# ----------------------------------------------------------------------------------------------------------
# noise scale, temperature, effective learning rate
# ----------------------------------------------------------------------------------------------------------
def noise_scale(lr: ArrayLike, batch_size: ArrayLike, train_size: ArrayLike, momentum: ArrayLike = 0.0) -> FloatOrArray:
    """SGD noise scale g = ε(N/B − 1)/(1 − m).

    Smith & Le 2018, eq. 13 (g = ε(N/B − 1) for plain SGD) combined with App. D eq. 31–32 (momentum divides
    the noise scale by 1 − m). Zero for full-batch training (B = N). Requires ε > 0, 1 ≤ B ≤ N, 0 ≤ m < 1.
    """
    lr_, b, n, m = (
        _check_lr(lr),
        _check_batch_size(batch_size),
        _check_train_size(train_size),
        _check_momentum(momentum),
    )
    _check_batch_within_train(b, n)
    return _output(lr_ * (n / b - 1.0) / (1.0 - m))


def noise_scale_approx(
    lr: ArrayLike, batch_size: ArrayLike, train_size: ArrayLike, momentum: ArrayLike = 0.0
) -> FloatOrArray:
    """Large-N approximation of the noise scale g ≈ εN/(B(1 − m)) (Smith & Le 2018, eq. 13 and App. D eq. 32).

    Valid for B ≪ N; no B ≤ N check is made since the formula is only the asymptotic form.
    """
    lr_, b, n, m = (
        _check_lr(lr),
        _check_batch_size(batch_size),
        _check_train_size(train_size),
        _check_momentum(momentum),
    )
    return _output(lr_ * n / (b * (1.0 - m)))


def effective_learning_rate(lr: ArrayLike, momentum: ArrayLike = 0.0) -> FloatOrArray:
    """Effective learning rate ε_eff = ε/(1 − m) (Smith & Le 2018 App. D; Smith, Elsen & De 2020 §3.3)."""
    return _output(_check_lr(lr) / (1.0 - _check_momentum(momentum)))


def temperature(lr: ArrayLike, batch_size: ArrayLike, momentum: ArrayLike = 0.0) -> FloatOrArray:
    """SGD temperature T = ε_eff/B = ε/(B(1 − m)) (Smith, Elsen & De 2020, eq. 3 and §3.3)."""
    lr_, b, m = _check_lr(lr), _check_batch_size(batch_size), _check_momentum(momentum)
    return _output(lr_ / (b * (1.0 - m)))


def jastrzebski_noise(lr: ArrayLike, batch_size: ArrayLike) -> FloatOrArray:
    """Noise level n = η/S of plain SGD (Jastrzębski et al. 2018, Thm 1): learning rate over batch size."""
    return _output(_check_lr(lr) / _check_batch_size(batch_size))


def critical_learning_rate(max_eigenvalue: ArrayLike) -> FloatOrArray:
    """Critical learning rate ε_crit = 2/λ_max of gradient descent on a quadratic (Smith, Elsen & De §3.1).

    λ_max is the largest Hessian eigenvalue of the loss the learning rate multiplies (the MEAN loss in the
    usual ε convention); it must be > 0.
    """
    lam = _array(max_eigenvalue, "max_eigenvalue")
    if np.any(lam <= 0):
        raise ValueError(f"the largest Hessian eigenvalue must be > 0, got {max_eigenvalue!r}")
    return _output(2.0 / lam)


def heavy_ball_stability_learning_rate(max_eigenvalue: ArrayLike, momentum: ArrayLike = 0.0) -> FloatOrArray:
    """The largest stable ε of SGD with heavy-ball momentum m on a quadratic of curvature λ_max: 2(1 + m)/λ_max.

    For v ← m·v + g, w ← w − ε·v (``torch.optim.SGD``) the iteration on curvature λ has characteristic
    polynomial z² − (1 + m − ελ)z + m, whose roots lie inside the unit circle iff 0 < ελ < 2(1 + m). At m = 0
    it is ε_crit = 2/λ_max (Smith, Elsen & De §3.1); in effective units ε_eff = ε/(1 − m) it is
    2(1 + m)/((1 − m)λ_max), 19·ε_crit at m = 0.9.
    """
    return _output((1.0 + _check_momentum(momentum)) * np.asarray(critical_learning_rate(max_eigenvalue)))


def nesterov_stability_learning_rate(max_eigenvalue: ArrayLike, momentum: ArrayLike = 0.0) -> FloatOrArray:
    """The largest stable ε of SGD with Nesterov momentum m on a quadratic of curvature λ_max:
    2(1 + m)/((1 + 2m)λ_max).

    For v ← m·v + g, w ← w − ε·(g + m·v) (``torch.optim.SGD(nesterov=True)``, which allows no dampening) the
    iteration of (w, v) on curvature λ, h = ελ, is [[1 − h(1 + m), −εm²], [λ, m]]: trace 1 + m − h(1 + m),
    determinant m(1 − h). By the Jury conditions its eigenvalues lie inside the unit circle iff
    0 < h < 2(1 + m)/(1 + 2m). At m = 0 it is ε_crit = 2/λ_max; at m = 0.9 it is heavy ball's 2(1 + m)/λ_max
    divided by 1 + 2m = 2.8.
    """
    m = _check_momentum(momentum)
    return _output((1.0 + m) / (1.0 + 2.0 * m) * np.asarray(critical_learning_rate(max_eigenvalue)))


def sgd_stability_learning_rate(
    max_eigenvalue: ArrayLike, momentum: ArrayLike = 0.0, *, nesterov: bool = False
) -> FloatOrArray:
    """The largest stable ε of ``torch.optim.SGD`` with momentum m on a quadratic of curvature λ_max: heavy
    ball's 2(1 + m)/λ_max, or with ``nesterov`` Nesterov's 2(1 + m)/((1 + 2m)λ_max)."""
    rule = nesterov_stability_learning_rate if nesterov else heavy_ball_stability_learning_rate
    return rule(max_eigenvalue, momentum)


def adam_stability_threshold(lr: ArrayLike, beta1: ArrayLike) -> FloatOrArray:
    """(2 + 2β₁)/((1 − β₁)η): Adam with learning rate η and first-moment decay β₁ is stable on a quadratic only
    while its preconditioned sharpness λ_max(P⁻¹H) stays below this (Cohen et al. 2022, "Adaptive gradient
    methods at the edge of stability", eq. 2; 38/η at β₁ = 0.9)."""
    eta, beta = _check_lr(lr), _check_momentum(beta1)
    return _output((2 + 2 * beta) / ((1 - beta) * eta))


def null_neg_log_evidence(n_examples: ArrayLike, n_classes: ArrayLike) -> FloatOrArray:
    """−ln P(y|x; NULL) = N ln n of the null model giving every one of n classes probability 1/n.

    Smith & Le 2018, eq. 10: P(y|x; NULL) = (1/n)^N = e^{−N ln n}. Requires N ≥ 0 and n ≥ 2.
    """
    n_ex, n_cls = _array(n_examples, "n_examples"), _array(n_classes, "n_classes")
    if np.any(n_ex < 0):
        raise ValueError(f"n_examples must be >= 0, got {n_examples!r}")
    if np.any(n_cls < 2):
        raise ValueError(f"n_classes must be >= 2, got {n_classes!r}")
    return _output(n_ex * np.log(n_cls))


# ----------------------------------------------------------------------------------------------------------
# configurations and scaling rules
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SGDConfig:
    """One SGD setting (ε, B, N, m). B, N are floats as scaling rules solve for them; round before use."""

    lr: float
    batch_size: float
    train_size: float
    momentum: float = 0.0

    def __post_init__(self) -> None:
        for name in ("lr", "batch_size", "train_size", "momentum"):
            object.__setattr__(self, name, _real_number(getattr(self, name), f"SGDConfig.{name}"))
        _check_lr(self.lr)
        _check_momentum(self.momentum)
        _check_batch_within_train(_check_batch_size(self.batch_size), _check_train_size(self.train_size))

    @property
    def noise_scale(self) -> float:
        """g = ε(N/B − 1)/(1 − m) (Smith & Le 2018, eq. 13 / App. D)."""
        return float(noise_scale(self.lr, self.batch_size, self.train_size, self.momentum))

    @property
    def noise_scale_approx(self) -> float:
        """g ≈ εN/(B(1 − m)) (Smith & Le 2018, App. D eq. 32)."""
        return float(noise_scale_approx(self.lr, self.batch_size, self.train_size, self.momentum))

    @property
    def temperature(self) -> float:
        """T = ε/(B(1 − m)) (Smith, Elsen & De 2020, §3)."""
        return float(temperature(self.lr, self.batch_size, self.momentum))

    @property
    def effective_lr(self) -> float:
        """ε_eff = ε/(1 − m)."""
        return float(effective_learning_rate(self.lr, self.momentum))

    @property
    def epochs_per_step(self) -> float:
        """B/N: fraction of an epoch consumed by one update."""
        return self.batch_size / self.train_size


_RULE_DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "noise_scale": ("lr", "batch_size", "train_size", "momentum"),
    "noise_scale_approx": ("lr", "batch_size", "train_size", "momentum"),
    "temperature": ("lr", "batch_size", "momentum"),
}


def _rule_value(config: SGDConfig, rule: ScalingRule) -> float:
    if rule == "noise_scale":
        return config.noise_scale
    if rule == "noise_scale_approx":
        return config.noise_scale_approx
    return config.temperature


def _solve(rule: ScalingRule, solve_for: SolveFor, target: float, known: dict[str, float]) -> float:
    """Value of `solve_for` giving `rule` the value `target`, the other three quantities being `known`."""
    lr, b, n, m = (known.get(k, math.nan) for k in ("lr", "batch_size", "train_size", "momentum"))
    if rule == "noise_scale":  # g = ε(N/B − 1)/(1 − m)
        if solve_for == "lr":
            if b >= n:
                raise ValueError("cannot solve for the learning rate at B = N: the noise scale is 0 for any ε")
            return target * (1 - m) / (n / b - 1)
        if solve_for == "batch_size":
            return n / (1 + target * (1 - m) / lr)
        if solve_for == "train_size":
            return b * (1 + target * (1 - m) / lr)
        if target == 0:
            raise ValueError("cannot solve for the momentum of a full-batch reference (noise scale 0)")
        return 1 - lr * (n / b - 1) / target
    if rule == "noise_scale_approx":  # g = εN/(B(1 − m))
        if solve_for == "lr":
            return target * b * (1 - m) / n
        if solve_for == "batch_size":
            return lr * n / (target * (1 - m))
        if solve_for == "train_size":
            return target * b * (1 - m) / lr
        return 1 - lr * n / (target * b)
    # temperature T = ε/(B(1 − m))
    if solve_for == "lr":
        return target * b * (1 - m)
    if solve_for == "batch_size":
        return lr / (target * (1 - m))
    return 1 - lr / (target * b)


def equivalent_config(
    reference: SGDConfig,
    solve_for: SolveFor,
    *,
    lr: float | None = None,
    batch_size: float | None = None,
    train_size: float | None = None,
    momentum: float | None = None,
    rule: ScalingRule = "noise_scale",
) -> SGDConfig:
    """The setting equivalent to `reference` after some of (ε, B, N, m) change, solving for one quantity.

    Equivalence keeps the SDE's scale of fluctuations fixed (Smith & Le 2018 §5 and App. D; Smith, Elsen & De
    2020 §3): rule="noise_scale" keeps g = ε(N/B − 1)/(1 − m), "noise_scale_approx" keeps εN/(B(1 − m))
    (the B_opt ∝ εN/(1 − m) rule), "temperature" keeps T = ε/(B(1 − m)) (independent of N, so N may change
    freely but cannot be solved for). Quantities neither changed nor solved for keep their reference values.
    Example: ``equivalent_config(ref, "batch_size", lr=2 * ref.lr)``. Raises ValueError naming it if a new value
    is not valid (as SGDConfig checks the reference's), or if the solution is not a valid setting (e.g. B < 1,
    B > N or m outside [0, 1)).
    """
    names = ("lr", "batch_size", "train_size", "momentum")
    if solve_for not in names:
        raise ValueError(f"solve_for must be one of {names}, got {solve_for!r}")
    if rule not in _RULE_DEPENDS_ON:
        raise ValueError(f"rule must be one of {tuple(_RULE_DEPENDS_ON)}, got {rule!r}")
    changes = {
        k: v
        for k, v in {
            "lr": lr,
            "batch_size": batch_size,
            "train_size": train_size,
            "momentum": momentum,
        }.items()
        if v is not None
    }
    if solve_for in changes:
        raise ValueError(f"{solve_for} is being solved for, so it cannot also be given a new value")
    if solve_for not in _RULE_DEPENDS_ON[rule]:
        raise ValueError(f"rule {rule!r} does not depend on {solve_for}, so it cannot be solved for")
    for name, value in changes.items():  # checked as SGDConfig checks the reference's, before any solving
        changes[name] = _real_number(value, f"new {name}")
        _CHECKS[name](value, prefix="new ")
    target = _rule_value(reference, rule)
    if rule == "noise_scale" and target == 0 and solve_for == "lr":
        raise ValueError(
            f"the reference is full-batch (B = N = {reference.train_size:g}): its noise scale is 0, which no ε > 0 "
            "keeps at B < N; compare with rule 'temperature' (T = ε/(B(1 − m)) does not involve N)"
        )
    known = {k: float(changes.get(k, getattr(reference, k))) for k in names if k != solve_for}
    if solve_for not in ("batch_size", "train_size"):
        _check_batch_within_train(np.asarray(known["batch_size"]), np.asarray(known["train_size"]))
    solved = _solve(rule, solve_for, target, known)
    try:
        return SGDConfig(**known, **{solve_for: solved})
    except ValueError as error:
        setting = (
            f"ε={reference.lr:g}, B={reference.batch_size:g}, N={reference.train_size:g}, m={reference.momentum:g}"
        )
        raise ValueError(f"no valid {solve_for} keeps the {rule} of ({setting}) fixed: {error}") from None


def predicted_optimal_batch_size(
    measured: SGDConfig,
    *,
    lr: ArrayLike | None = None,
    train_size: ArrayLike | None = None,
    momentum: ArrayLike | None = None,
) -> FloatOrArray:
    """Optimal batch size at new (ε, N, m) from one measured optimum, by the rule B_opt ∝ εN/(1 − m).

    Smith & Le 2018 §5 and App. D: B_opt = B_meas · (ε/ε_meas) · (N/N_meas) · (1 − m_meas)/(1 − m), where
    `measured` holds the measured optimum and its (ε, N, m). Unspecified quantities keep the measured values;
    arrays broadcast. The prediction is returned as is, even where it exceeds N (where no SGD optimum exists).
    """
    new_lr = _check_lr(measured.lr if lr is None else lr)
    new_n = _check_train_size(measured.train_size if train_size is None else train_size)
    new_m = _check_momentum(measured.momentum if momentum is None else momentum)
    ratio = (new_lr / measured.lr) * (new_n / measured.train_size) * ((1.0 - measured.momentum) / (1.0 - new_m))
    return _output(measured.batch_size * ratio)


# ----------------------------------------------------------------------------------------------------------
# Jastrzębski et al. 2018, Theorem 2
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Minimum:
    """A local minimum described by its loss L and ln det of its (positive-definite) Hessian H."""

    loss: float
    log_det_hessian: float

    def __post_init__(self) -> None:
        for name in ("loss", "log_det_hessian"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise ValueError(f"Minimum.{name} must be finite, got {value}")
            object.__setattr__(self, name, value)

    @classmethod
    def from_eigenvalues(cls, loss: float, hessian_eigenvalues: npt.ArrayLike) -> "Minimum":
        """From the Hessian's eigenvalues (all > 0 at a minimum); ln det = Σ ln λ_i cannot overflow."""
        eig = _array(hessian_eigenvalues, "hessian_eigenvalues").ravel()
        if eig.size == 0:
            raise ValueError("hessian_eigenvalues must not be empty")
        if np.any(eig <= 0):
            raise ValueError(f"a minimum's Hessian must be positive definite; smallest eigenvalue {eig.min():.3g}")
        return cls(loss, float(np.sum(np.log(eig))))

    @classmethod
    def from_hessian(cls, loss: float, hessian: npt.ArrayLike) -> "Minimum":
        """From the Hessian matrix (symmetric positive definite); ln det via its eigenvalues."""
        h = _array(hessian, "hessian")
        if h.ndim != 2 or h.shape[0] != h.shape[1]:
            raise ValueError(f"hessian must be a square matrix, got shape {h.shape}")
        if not np.allclose(h, h.T, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(h).max(initial=0.0)))):
            raise ValueError("hessian must be symmetric")
        return cls.from_eigenvalues(loss, np.linalg.eigvalsh(h))


def _check_positive(value: ArrayLike, name: str) -> np.ndarray:
    array = _array(value, name)
    if np.any(array <= 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return array


def minimum_log_probability(minimum: Minimum, noise: ArrayLike, gradient_variance: ArrayLike = 1.0) -> FloatOrArray:
    """ln p̃_A = −½ ln det H_A − 2 L_A/(n σ²): unnormalised log probability of SGD ending near minimum A.

    Jastrzębski et al. 2018, Theorem 2 (eq. 3), with noise n = η/S (see `jastrzebski_noise`) and isotropic
    gradient covariance σ² I (Thm 1). Only differences between minima at the same (n, σ²) are meaningful.
    """
    n, s2 = _check_positive(noise, "noise"), _check_positive(gradient_variance, "gradient_variance")
    return _output(-0.5 * minimum.log_det_hessian - 2.0 * minimum.loss / (n * s2))


def log_probability_ratio(
    minimum_a: Minimum, minimum_b: Minimum, noise: ArrayLike, gradient_variance: ArrayLike = 1.0
) -> FloatOrArray:
    """ln(p_A/p_B) = ½ ln(det H_B/det H_A) + 2(L_B − L_A)/(n σ²) (Jastrzębski et al. 2018, after Thm 2)."""
    return _output(
        np.asarray(minimum_log_probability(minimum_a, noise, gradient_variance))
        - np.asarray(minimum_log_probability(minimum_b, noise, gradient_variance))
    )


def critical_noise(minimum_a: Minimum, minimum_b: Minimum, gradient_variance: float = 1.0) -> float:
    """Noise n* at which p_A = p_B; for n > n* SGD favours the flatter, higher minimum A (Jastrzębski eq. 4).

    Solving ln(p_A/p_B) = 0 in the ratio above gives n* = 4 (L_A − L_B)/(σ² ln(det H_B/det H_A)).
    (The paper's printed eq. 4 writes (L_A − L_B)/(2σ² ln √(det H_B/det H_A)), a factor 4 smaller, which does
    not follow from its own ratio formula; this function is consistent with `log_probability_ratio`.)
    Requires A higher (L_A > L_B) and flatter (det H_A < det H_B); otherwise none exists (ValueError).
    """
    s2 = float(_check_positive(gradient_variance, "gradient_variance"))
    loss_gap = minimum_a.loss - minimum_b.loss
    log_det_gap = minimum_b.log_det_hessian - minimum_a.log_det_hessian
    if loss_gap <= 0 or log_det_gap <= 0:
        raise ValueError(
            "a critical noise exists only if minimum A is higher (L_A > L_B) and flatter "
            f"(det H_A < det H_B); got L_A − L_B = {loss_gap:.3g}, "
            f"ln det H_B − ln det H_A = {log_det_gap:.3g}"
        )
    return 4.0 * loss_gap / (s2 * log_det_gap)


def critical_noise_as_printed(minimum_a: Minimum, minimum_b: Minimum, gradient_variance: float = 1.0) -> float:
    """Jastrzębski et al.'s eq. 4 as printed, n* = (L_A − L_B)/(2σ² ln √(det H_B/det H_A)): a quarter of
    ``critical_noise``, the n* that the paper's own ratio p_A/p_B gives."""
    return critical_noise(minimum_a, minimum_b, gradient_variance) / 4.0
