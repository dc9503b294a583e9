"""Laplace-approximated Bayesian evidence of L2-regularised logistic regression (Smith & Le 2018, §2).

Model. Inputs x (N, D) (trailing dimensions are flattened), integer labels y in {0, …, n−1}. The parameters ω
include the bias, and ALL of them, bias included, carry the Gaussian prior √(λ/2π) e^{−λω²/2}:
  * sigmoid (n = 2): one logit z = w·x + b, P = D + 1 parameters, ω = [w, b];
  * softmax (n ≥ 2): logits z_k = w_k·x + b_k, P = n(D + 1) parameters, ω = rows [w_k, b_k]. It is
    over-parameterised, but the L2 prior keeps the cost strictly convex. Softmax with n = 2 at λ is exactly
    the sigmoid model at λ/2 (rotate to (w_1 − w_0)/√2 and (w_1 + w_0)/√2: the sum direction decouples with
    Hessian λ and adds nothing to the Occam term).
Cost C(ω) = H(ω) + λ|ω|²/2, H the SUMMED cross-entropy over the N training examples (Smith & Le eq. 1–9).

Evidence. With that prior P(y|x) = (λ/2π)^{P/2} ∫ e^{−C(ω)} dω, and Laplace's method gives
∫ e^{−C} ≈ e^{−C(ω0)} (2π)^{P/2} det(∇∇C)^{−1/2}: the 2π factors cancel EXACTLY, leaving Smith & Le eq. 9,
    P(y|x) ≈ λ^{P/2} e^{−C(ω0)} / √det ∇∇C(ω0),   −ln P(y|x) ≈ C(ω0) + ½ Σ_i ln(λ_i/λ),
the sum running, as the paper proposes, over Hessian eigenvalues λ_i ≥ λ (for this convex model all are ≥ λ,
so it is the full log-determinant). Against the null model P(y|x; NULL) = n^{−N} (eq. 10):
    E(ω0) = C(ω0) + ½ Σ_i ln(λ_i/λ) − N ln n;   the model is preferred to the null model iff E < 0.

Optimisation: damped Newton in float64 with the exact Hessian, Cholesky solves and an Armijo line search, on
the input's device. Feature columns that are identically zero on the training set decouple (their weights are
exactly 0 at the minimum and their Hessian eigenvalues exactly λ), so they are removed before solving.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from sgdnoise.instruments.logistic import (
    ArrayInput,
    LogisticProblem,
    OutputKind,
    _as_float64,
    _cross_entropies,
    _factorise,
    _features,
    _labels,
    _resolve_output,
)
from sgdnoise.theory import null_neg_log_evidence

__all__ = [
    "EvidenceResult",
    "LogisticFit",
    "LogisticProblem",
    "accuracy",
    "evaluate",
    "fit_logistic_regression",
    "laplace_neg_log_evidence",
    "logistic_problem",
    "logistic_regression_evidence",
    "logistic_regression_evidence_path",
    "margins",
    "mean_cross_entropy",
    "mean_margin",
    "occam_penalty",
    "predict_proba",
]


# ----------------------------------------------------------------------------------------------------------
# model-agnostic Laplace evidence
# ----------------------------------------------------------------------------------------------------------
def _eigenvalues_numpy(hessian_eigenvalues: ArrayInput) -> np.ndarray:
    if isinstance(hessian_eigenvalues, torch.Tensor):
        hessian_eigenvalues = hessian_eigenvalues.detach().to("cpu", torch.float64).numpy()
    eig = np.asarray(hessian_eigenvalues, dtype=np.float64).ravel()
    if not np.all(np.isfinite(eig)):
        raise ValueError("hessian_eigenvalues must be finite")
    return eig


def _check_l2(l2: float) -> float:
    if isinstance(l2, bool) or not isinstance(l2, int | float | np.floating | np.integer):
        raise TypeError(f"l2 must be a real number, got {l2!r}")
    if not (math.isfinite(l2) and l2 > 0):
        raise ValueError(f"l2 (the regularisation coefficient λ) must be finite and > 0, got {l2!r}")
    return float(l2)


def occam_penalty(hessian_eigenvalues: ArrayInput, l2: float) -> float:
    """½ Σ_{i: λ_i ≥ λ} ln(λ_i/λ): minus the log Occam factor ln(λ^{P/2}/√det ∇∇C) (Smith & Le 2018, eq. 9).

    Eigenvalues below λ (including negative ones away from a minimum) are left out, as the paper proposes.
    """
    lam = _check_l2(l2)
    eig = _eigenvalues_numpy(hessian_eigenvalues)
    kept = eig[eig >= lam]
    return float(0.5 * np.sum(np.log(kept / lam)))


def laplace_neg_log_evidence(cost_at_min: float, hessian_eigenvalues: ArrayInput, l2: float) -> float:
    """−ln P(y|x) ≈ C(ω0) + ½ Σ_{i: λ_i ≥ λ} ln(λ_i/λ) (Smith & Le 2018, eq. 9), for any model.

    Assumes the prior √(λ/2π) e^{−λω²/2} on each of the P parameters and the cost C = −ln likelihood +
    λ|ω|²/2, whose minimum value is `cost_at_min` and whose Hessian there has eigenvalues
    `hessian_eigenvalues`. Exact when C is quadratic (e.g. ridge regression with the Gaussian likelihood's
    constants included in C).
    """
    cost = float(cost_at_min)
    if not math.isfinite(cost):
        raise ValueError(f"cost_at_min must be finite, got {cost_at_min!r}")
    return cost + occam_penalty(hessian_eigenvalues, l2)


# ----------------------------------------------------------------------------------------------------------
# fitting
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogisticFit:
    """Minimum ω0 of C(ω) = summed cross-entropy + λ|ω|²/2 for logistic regression.

    weights: float64 on the input's device; (D+1,) = [w, b] for sigmoid, (n, D+1) rows [w_k, b_k] for softmax.
    cost = C(ω0); grad_norm = |∇C(ω0)|₂; converged: Newton decrement ½ gᵀH⁻¹g fell below the tolerance.
    """

    weights: torch.Tensor
    output: OutputKind
    n_classes: int
    l2: float
    cost: float
    grad_norm: float
    converged: bool
    iterations: int
    n_examples: int

    @property
    def coef(self) -> torch.Tensor:
        """Weights without the bias: (D,) for sigmoid, (n, D) for softmax."""
        return self.weights[..., :-1]

    @property
    def intercept(self) -> torch.Tensor:
        """Bias: scalar tensor for sigmoid, (n,) for softmax."""
        return self.weights[..., -1]

    @property
    def n_parameters(self) -> int:
        return self.weights.numel()


def _initial_active_weights(
    initial_weights: ArrayInput | None, shape: tuple[int, ...], active: torch.Tensor, xa: torch.Tensor
) -> torch.Tensor:
    full_shape = (*shape[:-1], active.shape[0])
    if initial_weights is None:
        return torch.zeros(*shape, dtype=xa.dtype, device=xa.device)
    w0 = _as_float64(initial_weights, "initial_weights", xa.device)
    if tuple(w0.shape) != full_shape:
        raise ValueError(f"initial_weights must have shape {full_shape}, got {tuple(w0.shape)}")
    return w0[..., active].clone()


def _minimise(
    problem: LogisticProblem, w: torch.Tensor, max_iter: int, tol: float, data_hessian: torch.Tensor | None
) -> tuple[torch.Tensor, int, bool]:
    """Damped Newton; stops when the Newton decrement ½ gᵀH⁻¹g ≤ tol, after taking that last full step.

    The Hessian factor is kept while it still shrinks the decrement ≥ 3× per step (such chord steps cost one
    gradient; a Hessian costs N·P²), but convergence is only declared with the exact Hessian at the current w.
    `data_hessian`, if given, is the cross-entropy Hessian at the starting w.
    """
    shape = w.shape
    solve: Callable[[torch.Tensor], torch.Tensor] | None = None
    previous_decrement = math.inf
    for iteration in range(1, max_iter + 1):
        cost, grad = problem.cost_and_gradient(w)
        flat_grad = grad.reshape(-1)
        refresh = solve is None
        if solve is not None:  # chord step with the last factor, unless it contracts poorly or we may be done
            direction = -solve(flat_grad)
            decrement = float(-(flat_grad @ direction))
            may_be_done, contracts = 0.5 * decrement <= tol, 0 <= decrement <= 0.3 * previous_decrement
            refresh = may_be_done or not contracts
        if refresh:  # convergence is only ever judged with the exact Hessian at w
            if data_hessian is None:
                data_hessian = problem.data_hessian(w)
            solve = _factorise(problem.hessian_from_data(data_hessian))
            data_hessian = None
            direction = -solve(flat_grad)
            decrement = float(-(flat_grad @ direction))  # gᵀH⁻¹g ≥ 0
        if not (math.isfinite(decrement) and decrement >= 0):
            return w, iteration, False
        direction = direction.reshape(shape)
        if refresh and 0.5 * decrement <= tol:
            return w + direction, iteration, True
        step, current = 1.0, float(cost)
        slack = 1e-13 * max(1.0, abs(current))  # rounding noise of the summed cost
        while float(problem.cost(w + step * direction)) > current - 0.25 * step * decrement + slack:
            step *= 0.5
            if step < 1e-12:
                break
        if step < 1e-12:  # no decrease along this direction: retry with a fresh Hessian, else give up
            if refresh:
                return w, iteration, False
            solve = None
            continue
        if step < 1:
            solve = None  # outside the region where the quadratic model is trusted: refresh the Hessian
        w = w + step * direction
        previous_decrement = decrement
    return w, max_iter, False


def logistic_problem(
    x: ArrayInput, y: ArrayInput, l2: float, n_classes: int = 2, *, output: OutputKind | None = None
) -> LogisticProblem:
    """The cost C(ω) = Σ_n cross-entropy + λ|ω|²/2 of (x, y, λ) that the evidence is computed for, on every
    feature column (ω = [w, b] as in ``LogisticFit.weights``): its cost, gradient and exact Hessian."""
    kind = _resolve_output(n_classes, output)
    lam = _check_l2(l2)
    xa = _features(x)
    labels = _labels(y, xa.shape[0], int(n_classes), xa.device)
    return LogisticProblem(xa, labels, lam, int(n_classes), kind)


def _prepare(
    x: ArrayInput, y: ArrayInput, l2: float, n_classes: int, output: OutputKind | None
) -> tuple[LogisticProblem, torch.Tensor]:
    """``logistic_problem`` on the active (not identically zero) feature columns, and those columns."""
    full = logistic_problem(x, y, l2, n_classes, output=output)
    active = (full.xa != 0).any(dim=0)
    return LogisticProblem(full.xa[:, active], full.labels, full.l2, full.n_classes, full.output), active


def _fit_prepared(
    problem: LogisticProblem,
    active: torch.Tensor,
    initial_weights: ArrayInput | None,
    max_iter: int,
    tol: float,
    data_hessian: torch.Tensor | None = None,
) -> LogisticFit:
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not (math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be finite and > 0, got {tol!r}")
    w = _initial_active_weights(initial_weights, problem.weight_shape(), active, problem.xa)
    w, iterations, converged = _minimise(problem, w, max_iter, tol, data_hessian)
    cost, grad = problem.cost_and_gradient(w)
    full = torch.zeros(*w.shape[:-1], active.shape[0], dtype=w.dtype, device=w.device)
    full[..., active] = w
    return LogisticFit(
        weights=full,
        output=problem.output,
        n_classes=problem.n_classes,
        l2=problem.l2,
        cost=float(cost),
        grad_norm=float(torch.linalg.vector_norm(grad)),
        converged=converged,
        iterations=iterations,
        n_examples=problem.xa.shape[0],
    )


def fit_logistic_regression(
    x: ArrayInput,
    y: ArrayInput,
    l2: float,
    n_classes: int = 2,
    *,
    output: OutputKind | None = None,
    initial_weights: ArrayInput | None = None,
    max_iter: int = 200,
    tol: float = 1e-10,
) -> LogisticFit:
    """Minimise C(ω) = Σ_n cross-entropy + λ|ω|²/2 (bias included, regularised) by damped Newton, float64.

    output: "sigmoid" (default for n_classes=2) or "softmax" (default otherwise). initial_weights (full shape,
    see LogisticFit.weights) warm-starts the solve, e.g. from the neighbouring λ of a path. Converges even at
    λ = 1e-8 on linearly separable data (|ω| grows like ln(1/λ)); check `converged` and `grad_norm`.
    tol bounds the Newton decrement ½ gᵀH⁻¹g ≈ C(ω) − C(ω0) before the final full Newton step.
    """
    problem, active = _prepare(x, y, l2, n_classes, output)
    return _fit_prepared(problem, active, initial_weights, max_iter, tol)


# ----------------------------------------------------------------------------------------------------------
# evidence
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvidenceResult:
    """Laplace evidence of a fitted logistic regression (Smith & Le 2018, eq. 9–10); all logs natural.

    cost = C(ω0); occam = ½ Σ_{λ_i ≥ λ} ln(λ_i/λ); neg_log_evidence = cost + occam ≈ −ln P(y|x);
    null_neg_log_evidence = N ln n = −ln P(y|x; NULL); log_evidence_ratio E = neg_log_evidence − N ln n
    (E < 0: the model beats the null model); eigenvalues: all P Hessian eigenvalues of C at ω0, ascending
    (numpy), or None when not requested.
    """

    fit: LogisticFit
    cost: float
    occam: float
    neg_log_evidence: float
    null_neg_log_evidence: float
    log_evidence_ratio: float
    log_evidence_ratio_per_example: float
    eigenvalues: np.ndarray | None
    n_examples: int
    l2: float

    @property
    def weights(self) -> torch.Tensor:
        return self.fit.weights

    @property
    def converged(self) -> bool:
        return self.fit.converged

    @property
    def grad_norm(self) -> float:
        return self.fit.grad_norm


def _occam_from_cholesky(hessian: torch.Tensor, l2: float) -> float | None:
    """½ ln det(H/λ) from a Cholesky factor; None if H is not numerically positive definite."""
    chol, info = torch.linalg.cholesky_ex(hessian)
    if int(info) != 0:
        return None
    return float(torch.log(chol.diagonal() / math.sqrt(l2)).sum())


def _evidence_prepared(
    problem: LogisticProblem, fit: LogisticFit, active: torch.Tensor, compute_eigenvalues: bool
) -> tuple[EvidenceResult, torch.Tensor]:
    """The evidence at `fit`, and the cross-entropy Hessian there (reused by the next solve of a λ path)."""
    data_hessian = problem.data_hessian(fit.weights[..., active])
    hessian = problem.hessian_from_data(data_hessian)
    n_decoupled = fit.n_parameters - hessian.shape[0]  # zero columns: eigenvalue exactly λ, no Occam term
    occam = None if compute_eigenvalues else _occam_from_cholesky(hessian, problem.l2)
    eigenvalues = None
    if occam is None:
        active_eigenvalues = torch.linalg.eigvalsh(hessian).to("cpu").numpy()
        eigenvalues = np.sort(np.concatenate([active_eigenvalues, np.full(n_decoupled, problem.l2)]))
        occam = occam_penalty(eigenvalues, problem.l2)
    neg_log_evidence = fit.cost + occam
    null = float(null_neg_log_evidence(fit.n_examples, problem.n_classes))
    ratio = neg_log_evidence - null
    result = EvidenceResult(
        fit=fit,
        cost=fit.cost,
        occam=occam,
        neg_log_evidence=neg_log_evidence,
        null_neg_log_evidence=null,
        log_evidence_ratio=ratio,
        log_evidence_ratio_per_example=ratio / fit.n_examples,
        eigenvalues=eigenvalues if compute_eigenvalues else None,
        n_examples=fit.n_examples,
        l2=problem.l2,
    )
    return result, data_hessian


def logistic_regression_evidence(
    x: ArrayInput,
    y: ArrayInput,
    l2: float,
    n_classes: int = 2,
    *,
    output: OutputKind | None = None,
    initial_weights: ArrayInput | None = None,
    compute_eigenvalues: bool = True,
    max_iter: int = 200,
    tol: float = 1e-10,
) -> EvidenceResult:
    """Fit (see `fit_logistic_regression`), then the Laplace log evidence ratio E against the null model.

    E(ω0) = C(ω0) + ½ Σ_{λ_i ≥ λ} ln(λ_i/λ) − N ln n (Smith & Le 2018, eq. 9–10) with the exact Hessian of C.
    compute_eigenvalues=False skips the eigendecomposition and takes the Occam term from a Cholesky
    log-determinant (same value, as this model's Hessian eigenvalues are all ≥ λ; faster for ~800 parameters).
    """
    problem, active = _prepare(x, y, l2, n_classes, output)
    fit = _fit_prepared(problem, active, initial_weights, max_iter, tol)
    return _evidence_prepared(problem, fit, active, compute_eigenvalues)[0]


def logistic_regression_evidence_path(
    x: ArrayInput,
    y: ArrayInput,
    l2_values: Sequence[float] | npt.ArrayLike,
    n_classes: int = 2,
    *,
    output: OutputKind | None = None,
    compute_eigenvalues: bool = True,
    max_iter: int = 200,
    tol: float = 1e-10,
) -> list[EvidenceResult]:
    """`logistic_regression_evidence` at every λ in `l2_values` (results in the given order).

    Solves from the largest λ down, warm-starting each Newton solve from the previous minimum and reusing the
    cross-entropy Hessian computed there for the evidence (so the first Newton step is a free predictor).
    """
    values = [_check_l2(float(v)) for v in np.asarray(l2_values, dtype=np.float64).ravel()]
    if not values:
        raise ValueError("l2_values is empty")
    problem, active = _prepare(x, y, values[0], n_classes, output)
    results: dict[int, EvidenceResult] = {}
    previous: torch.Tensor | None = None
    data_hessian: torch.Tensor | None = None
    for index in sorted(range(len(values)), key=lambda i: -values[i]):
        problem.l2 = values[index]
        fit = _fit_prepared(problem, active, previous, max_iter, tol, data_hessian)
        results[index], data_hessian = _evidence_prepared(problem, fit, active, compute_eigenvalues)
        previous = fit.weights
    return [results[i] for i in range(len(values))]


# ----------------------------------------------------------------------------------------------------------
# predictions of a fitted model
# ----------------------------------------------------------------------------------------------------------
def _logits(fit: LogisticFit, x: ArrayInput) -> torch.Tensor:
    """(N, n) class logits; for sigmoid, the logits (0, z) whose softmax equals (1 − σ(z), σ(z))."""
    xf = _as_float64(x, "x", fit.weights.device)
    xf = xf.reshape(xf.shape[0], -1) if xf.ndim != 2 else xf
    if xf.shape[1] != fit.weights.shape[-1] - 1:
        raise ValueError(f"x has {xf.shape[1]} features but the model was fitted on {fit.weights.shape[-1] - 1}")
    if fit.output == "sigmoid":
        z = xf @ fit.coef + fit.intercept
        return torch.stack([torch.zeros_like(z), z], dim=1)
    return xf @ fit.coef.T + fit.intercept


def predict_proba(fit: LogisticFit, x: ArrayInput) -> torch.Tensor:
    """(N, n) class probabilities (float64, on the weights' device)."""
    return torch.softmax(_logits(fit, x), dim=1)


def mean_cross_entropy(fit: LogisticFit, x: ArrayInput, y: ArrayInput) -> float:
    """Mean over examples of −ln P(y_n|x_n, ω0) (the paper's Fig. 2 'cross-entropy'; ln n for chance)."""
    z = _logits(fit, x)
    labels = _labels(y, z.shape[0], fit.n_classes, z.device)
    return float(_cross_entropies(z, labels).mean())


def accuracy(fit: LogisticFit, x: ArrayInput, y: ArrayInput) -> float:
    """Fraction of examples whose most probable class (first one on ties) is the label."""
    z = _logits(fit, x)
    labels = _labels(y, z.shape[0], fit.n_classes, z.device)
    return float((z.argmax(dim=1) == labels).to(torch.float64).mean())


def margins(fit: LogisticFit, x: ArrayInput, y: ArrayInput) -> torch.Tensor:
    """Signed Euclidean distance of each example to the decision boundary, positive when correctly classified.

    Sigmoid: y±·(w·x + b)/|w| with y± = 2y − 1 ∈ {−1, +1} (bias excluded from |w|). Softmax: min over k ≠ y of
    (z_y − z_k)/|w_y − w_k|, the distance to the nearest face of the true class's decision region (exact for
    correctly classified points; equals the sigmoid margin for n = 2). Raises if the boundary is undefined
    (w = 0).
    """
    z = _logits(fit, x)
    return _margins_from_logits(fit, z, _labels(y, z.shape[0], fit.n_classes, z.device))


def _margins_from_logits(fit: LogisticFit, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if fit.output == "sigmoid":
        norm = torch.linalg.vector_norm(fit.coef)
        if float(norm) == 0:
            raise ValueError("the weight vector is zero: no decision boundary, margins are undefined")
        return (2 * labels.to(z.dtype) - 1) * z[:, 1] / norm
    coef = fit.coef
    pair_norms = torch.linalg.vector_norm(coef[:, None, :] - coef[None, :, :], dim=2)  # (n, n)
    gaps = z.gather(1, labels[:, None]) - z  # (N, n): z_y − z_k
    norms = pair_norms[labels]  # (N, n): |w_y − w_k|
    is_other = torch.arange(fit.n_classes, device=z.device)[None, :] != labels[:, None]
    if bool((norms[is_other] == 0).any()):
        raise ValueError("two classes have identical weight vectors: the boundary between them is undefined")
    distances = torch.where(is_other, gaps / torch.where(is_other, norms, 1.0), math.inf)
    return distances.min(dim=1).values


def mean_margin(fit: LogisticFit, x: ArrayInput, y: ArrayInput) -> float:
    """Mean of `margins` over the examples (Smith & Le 2018 Fig. 1: mean training-set margin)."""
    return float(margins(fit, x, y).mean())


def evaluate(fit: LogisticFit, x: ArrayInput, y: ArrayInput) -> dict[str, float]:
    """`accuracy`, `mean_cross_entropy` and `mean_margin` on one data set, from a single pass over x."""
    z = _logits(fit, x)
    labels = _labels(y, z.shape[0], fit.n_classes, z.device)
    return {
        "accuracy": float((z.argmax(dim=1) == labels).to(torch.float64).mean()),
        "mean_cross_entropy": float(_cross_entropies(z, labels).mean()),
        "mean_margin": float(_margins_from_logits(fit, z, labels).mean()),
    }
