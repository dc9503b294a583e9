"""Curvature of the training loss: Hessian-vector products, top eigenvalues, trace, Frobenius norm.

The Hessian is that of the dataset-MEAN loss L(θ) = (1/N) Σ_i ℓ_i(θ) with respect to the model's trainable
parameters (``requires_grad=True``), flattened in ``model.named_parameters()`` order. It is never formed:
every instrument only applies it to vectors (``_hessian.HessianOperator``), accumulating over data chunks so
memory stays bounded.
Hessian-vector products: double backward (default; the fastest here), ``torch.func`` forward-over-reverse, or
central finite differences of the gradient. They work through any differentiable model: attention runs in its
math form (the fused kernels have no double backward), and each chunk's random draws are the same in every
product (dropout in train mode has a fixed mask per chunk, so H is one symmetric matrix).

* Top-k eigenvalues: Lanczos with full reorthogonalisation (default) or power iteration with deflation.
  Smith, Elsen & De 2020 §3.1 need λ_max for the critical learning rate ε_crit = 2/λ_max.
* Trace: Hutchinson (Rademacher probes) and Hutch++ (Meyer, Musco, Musco & Woodruff 2021).
* Frobenius norm: Jastrzębski et al. 2018 §4.1 measure "the norm of the Hessian ... using the finite
  difference method (Wu et al., 2017)"; the estimator is ||H||_F² = E_{v∼N(0,I)} ||Hv||², Hv by central
  differences of the gradient.
"""

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.linalg
import torch
from torch import Tensor, nn

from sgdnoise import theory
from sgdnoise.instruments._batches import (
    Data,
    LossFn,
    preserved_model,
)
from sgdnoise.instruments._hessian import HessianOperator, HVPMethod
from sgdnoise.validation import positive_int, positive_number, random_seed

EigenMethod = Literal["lanczos", "power"]
Which = Literal["largest", "magnitude"]
TraceMethod = Literal["hutch++", "hutchinson"]


@dataclass(frozen=True)
class EigenResult:
    """Top-k Hessian eigenvalues (float64, CPU) with the residual norms ||H y_i − λ_i y_i|| of their vectors.

    For a symmetric H each λ_i lies within ``residuals[i]`` of a true eigenvalue (and within
    residuals[i]²/gap once the gap to the rest of the spectrum exceeds the residual).
    ``n_matvecs`` counts Hessian-vector products; ``eigenvectors`` is ``[k, P]`` when requested.
    """

    eigenvalues: Tensor
    residuals: Tensor
    n_matvecs: int
    converged: bool
    method: str
    eigenvectors: Tensor | None = None


@dataclass(frozen=True)
class TraceEstimate:
    """Stochastic estimate of tr H with its standard error, from ``n_samples`` Hessian-vector products."""

    value: float
    stderr: float
    n_samples: int
    method: str


@dataclass(frozen=True)
class HessianNormEstimate:
    """Estimate of the Frobenius norm ||H||_F (and of ||H||_F²) with standard errors.

    ``squared`` averages ||Hv||² over ``n_samples`` probes v ∼ N(0, I); ``value`` = sqrt(squared), its
    standard error by the delta method (``squared_stderr`` / (2 value)). ``step`` is the finite-difference
    step ε of the first probe (probes have rms ≈ 1, so ε barely varies; None for exact products).
    """

    value: float
    stderr: float
    squared: float
    squared_stderr: float
    n_samples: int
    step: float | None


@dataclass(frozen=True)
class CriticalLearningRate:
    """ε_crit = 2/λ_max (Smith, Elsen & De 2020 §3.1) with λ_max from Lanczos.

    λ_max is within ``max_eigenvalue_error`` (the Lanczos residual bound) of the true top eigenvalue, so
    ``value`` lies in ``[2/(λ_max + err), 2/(λ_max − err)]``.
    """

    value: float
    max_eigenvalue: float
    max_eigenvalue_error: float


def _generator(device: torch.device, seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return torch.Generator(device=device).manual_seed(random_seed("seed", seed, bits=64))  # what torch takes


def _gaussian(op: HessianOperator, gen: torch.Generator, count: int | None = None) -> Tensor:
    shape = (op.dim,) if count is None else (count, op.dim)
    return torch.randn(shape, generator=gen, device=op.device, dtype=op.dtype)


def _rademacher(op: HessianOperator, gen: torch.Generator, count: int) -> Tensor:
    bits = torch.randint(0, 2, (count, op.dim), generator=gen, device=op.device)
    return bits.to(op.dtype) * 2 - 1


# ----------------------------------------------------------------------------------------------------------
# Hessian-vector product
# ----------------------------------------------------------------------------------------------------------
def hessian_vector_product(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    v: Tensor | Mapping[str, Tensor],
    *,
    method: HVPMethod = "reverse-over-reverse",
    train_mode: bool | None = None,
    chunk_size: int | None = None,
    fd_step: float | None = None,
) -> Tensor | dict[str, Tensor]:
    """Hv, H the Hessian of the dataset-mean loss w.r.t. the trainable parameters.

    ``v`` is a flat vector over the trainable parameters (``named_parameters`` order) or a dict of tensors
    keyed by parameter name; the result has the same form. ``method``: "reverse-over-reverse" (double
    backward, exact; the fastest on CPU), "forward-over-reverse" (``torch.func.jvp`` of ``torch.func.grad``,
    exact) or "finite-difference"
    ((∇L(θ+εv) − ∇L(θ−εv))/(2ε), error O(ε²); ``fd_step`` sets ε).
    """
    with preserved_model(model, train_mode):
        op = HessianOperator(model, loss_fn, data, method=method, chunk_size=chunk_size, fd_step=fd_step)
        if isinstance(v, Mapping):
            if set(v) != set(op.layout.names):
                raise ValueError(f"v must have exactly the trainable parameter names {list(op.layout.names)}")
            for name, shape in zip(op.layout.names, op.layout.shapes, strict=True):
                if v[name].shape != shape:
                    raise ValueError(f"v[{name!r}] has shape {tuple(v[name].shape)}, expected {tuple(shape)}")
            flat = op.layout.flatten({n: t.to(op.device, op.dtype) for n, t in v.items()})
            return op.layout.unflatten(op.matvec(flat))
        if not isinstance(v, Tensor):
            raise TypeError(f"v must be a tensor or a dict of tensors, got {type(v).__name__}")
        if v.shape != (op.dim,):
            raise ValueError(f"v must be a flat vector of shape ({op.dim},), got {tuple(v.shape)}")
        return op.matvec(v.to(op.device, op.dtype))


# ----------------------------------------------------------------------------------------------------------
# eigenvalues
# ----------------------------------------------------------------------------------------------------------
def _select(values: np.ndarray, k: int, which: Which) -> np.ndarray:
    """Indices of the k wanted values, best first."""
    order = np.argsort(-values) if which == "largest" else np.argsort(-np.abs(values))
    return order[:k]


def _lanczos(
    op: HessianOperator,
    k: int,
    which: Which,
    tol: float,
    max_iter: int,
    gen: torch.Generator,
    vectors: bool,
    scale_floor: float = 0.0,
) -> EigenResult:
    """Lanczos with full Gram–Schmidt reorthogonalisation against the whole basis (repeated when it cancels).

    Stops when every wanted Ritz pair has residual |β_m s_{m,i}| ≤ tol·max(max|θ|, ``scale_floor``); restarts
    with a fresh random vector orthogonal to the basis on breakdown (an invariant subspace was found).
    """
    eps = op.eps
    n_steps = min(max_iter, op.dim)
    basis = torch.empty((min(n_steps + 1, 2 * k + 20), op.dim), device=op.device, dtype=op.dtype)
    alphas: list[float] = []
    betas: list[float] = []

    def fresh_direction(m: int) -> Tensor:
        q = _gaussian(op, gen)
        for _ in range(2):
            q -= basis[:m].T @ (basis[:m] @ q)
        return q / q.norm()

    basis[0] = fresh_direction(0)
    converged = False
    for m in range(1, n_steps + 1):
        w = op.matvec(basis[m - 1])
        alphas.append(float(basis[m - 1] @ w))
        norm_before = float(w.norm())
        w -= basis[:m].T @ (basis[:m] @ w)
        beta = float(w.norm())
        if beta < 0.7 * norm_before:  # cancellation: orthogonalise a second time (Daniel et al. 1976)
            w -= basis[:m].T @ (basis[:m] @ w)
            beta = float(w.norm())
        theta, s = scipy.linalg.eigh_tridiagonal(np.array(alphas), np.array(betas))
        scale = float(np.max(np.abs(theta)))
        residuals = beta * np.abs(s[-1, :])
        chosen = _select(theta, k, which)
        if m >= k and np.all(residuals[chosen] <= tol * max(scale, scale_floor)):
            converged = True
            break
        if m == op.dim:
            converged = True  # the Krylov space is the whole space: T_m is H in an orthonormal basis
            break
        if m == basis.shape[0]:  # grow the basis geometrically: memory follows the iterations actually used
            basis = torch.cat([basis, torch.empty_like(basis[: min(m, n_steps + 1 - m)])])
        if beta <= 10 * eps * max(scale, np.finfo(float).tiny):
            basis[m] = fresh_direction(m)
            betas.append(0.0)
        else:
            basis[m] = w / beta
            betas.append(beta)
    if m < k:
        raise ValueError(f"the Hessian has only {m} dimensions, cannot return k={k} eigenvalues")
    eigenvectors = None
    if vectors:
        ritz = torch.as_tensor(s[:, chosen], device=op.device, dtype=op.dtype)
        eigenvectors = ritz.T @ basis[:m]
    return EigenResult(
        eigenvalues=torch.as_tensor(theta[chosen], dtype=torch.float64),
        residuals=torch.as_tensor(residuals[chosen], dtype=torch.float64),
        n_matvecs=op.n_matvecs,
        converged=converged,
        method="lanczos",
        eigenvectors=eigenvectors,
    )


class _Locked:
    """H with the locked vectors Y moved out of the way: (I − YYᵀ)H(I − YYᵀ) + c·YYᵀ, where c = 0 for
    ``which="magnitude"`` and c below every eigenvalue of H for ``which="largest"``."""

    def __init__(self, op: HessianOperator, vectors: Tensor, parked_at: float):
        self.op, self.vectors, self.parked_at = op, vectors, parked_at
        self.dim, self.dtype, self.eps, self.device = op.dim, op.dtype, op.eps, op.device

    @property
    def n_matvecs(self) -> int:
        return self.op.n_matvecs

    def matvec(self, v: Tensor) -> Tensor:
        along = self.vectors @ v
        w = self.op.matvec(v - self.vectors.T @ along)
        return w - self.vectors.T @ (self.vectors @ w) + self.parked_at * (self.vectors.T @ along)


def _lanczos_every_copy(
    op: HessianOperator, k: int, which: Which, tol: float, max_iter: int, gen: torch.Generator, vectors: bool
) -> EigenResult:
    """``_lanczos``, then a check that no eigenvalue beyond the k-th was missed: the Krylov space of one start
    vector holds one direction of each eigenspace, so a repeated eigenvalue is found once, and a tight cluster
    can pass the residual test with one of its eigenvalues not yet resolved. The converged pairs are locked and
    Lanczos is run again for the top pair of H with them moved out of the way (``_Locked``); a pair beyond the
    k-th found there joins them, until none is. For k = 1 a missed copy could not change the answer, and the
    extreme eigenvalue is the one Lanczos resolves first: nothing is checked."""
    result = _lanczos(op, k, which, tol, max_iter, gen, vectors=vectors or k > 1)  # locking needs the vectors
    values, found, residuals = result.eigenvalues, result.eigenvectors, result.residuals
    converged = result.converged
    while converged and k > 1 and found.shape[0] < op.dim:
        scale = float(values.abs().max())
        parked_at = 0.0 if which == "magnitude" else float(values.min()) - 2 * scale - 1
        kth = float(values[_select(values.numpy(), k, which)[-1]])
        # to the accuracy of the pairs found, tol·|λ_1|: the locked operator's own scale is smaller
        check = _lanczos(_Locked(op, found, parked_at), 1, which, tol, max_iter, gen, vectors=True, scale_floor=scale)
        converged = check.converged
        candidate = float(check.eigenvalues[0])
        beyond = candidate > kth if which == "largest" else abs(candidate) > abs(kth)
        if not beyond or abs(candidate - kth) <= tol * scale:
            break
        values = torch.cat([values, check.eigenvalues])
        residuals = torch.cat([residuals, check.residuals])
        found = torch.cat([found, check.eigenvectors])
    chosen = torch.as_tensor(_select(values.numpy(), k, which))
    return EigenResult(
        eigenvalues=values[chosen],
        residuals=residuals[chosen],
        n_matvecs=op.n_matvecs,
        converged=converged,
        method="lanczos",
        eigenvectors=found[chosen] if vectors else None,
    )


def _power_iteration(
    op: HessianOperator, k: int, which: Which, tol: float, max_iter: int, gen: torch.Generator, vectors: bool
) -> EigenResult:
    """Power iteration with projection deflation: the i-th pair is the dominant one of P H P, P = I − QQᵀ.

    Each pair stops when ||PHPv − λv|| ≤ tol·|λ_1| (the criterion of ``_lanczos``) or after ``max_iter``
    products. For ``which="largest"`` it iterates on H + sI with s = |λ_dominant| ≥ −λ_min (positive
    semi-definite, same eigenvectors), which costs an extra dominant-eigenvalue run.
    """
    shift = 0.0
    if which == "largest":
        dominant = _power_iteration(op, 1, "magnitude", tol, max_iter, gen, vectors=False)
        shift = abs(float(dominant.eigenvalues[0]))
    found: list[Tensor] = []
    values: list[float] = []
    residuals: list[float] = []
    converged = True
    scale = 0.0
    for _ in range(k):
        q = torch.stack(found) if found else None

        def deflated(u: Tensor, q: Tensor | None = q) -> Tensor:
            return u if q is None else u - q.T @ (q @ u)

        v = deflated(_gaussian(op, gen))
        v /= v.norm()
        for _ in range(max_iter):
            w = deflated(op.matvec(v) + shift * v)
            lam = float(v @ w)
            residual = float((w - lam * v).norm())
            if residual <= tol * max(scale, abs(lam - shift)):
                break
            v = w / w.norm()
        else:
            converged = False
        v = deflated(v)
        found.append(v / v.norm())
        values.append(lam - shift)
        residuals.append(residual)
        scale = max(scale, abs(lam - shift))
    order = _select(np.array(values), k, which)
    eigenvectors = torch.stack([found[i] for i in order]) if vectors else None
    return EigenResult(
        eigenvalues=torch.tensor(values, dtype=torch.float64)[order],
        residuals=torch.tensor(residuals, dtype=torch.float64)[order],
        n_matvecs=op.n_matvecs,
        converged=converged,
        method="power",
        eigenvectors=eigenvectors,
    )


def hessian_eigenvalues(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    k: int = 20,
    *,
    method: EigenMethod = "lanczos",
    which: Which = "largest",
    tol: float | None = None,
    max_iter: int | None = None,
    seed: int = 0,
    return_eigenvectors: bool = False,
    hvp_method: HVPMethod = "reverse-over-reverse",
    train_mode: bool | None = None,
    chunk_size: int | None = None,
    preconditioner: Tensor | Mapping[str, Tensor] | None = None,
    l2: float | Mapping[str, float] | None = None,
) -> EigenResult:
    """Top-k eigenvalues of the Hessian of the dataset-mean loss, without forming it.

    ``l2``: an L2 penalty ½ Σ_i λ_i θ_i² added to the loss, one λ or one per parameter name (a name left out:
    0), so the matrix is H + diag(λ): the curvature gradient descent meets when its gradient carries weight
    decay λθ (``torch.optim.SGD``'s ``weight_decay``).

    ``preconditioner``: the positive diagonal of P (flat or by parameter name), e.g. Adam's √v̂ + ε; then the
    eigenvalues are those of P⁻¹H, computed as those of the symmetric P^(-1/2) H P^(-1/2) (same spectrum; its
    eigenvectors are returned), the preconditioned sharpness of Cohen et al. 2022 ("Adaptive gradient methods
    at the edge of stability").

    ``which``: "largest" (algebraic) or "magnitude". ``method``: "lanczos" (Krylov with full
    reorthogonalisation, then locked restarts until no copy of a repeated eigenvalue is missing; ``max_iter``
    bounds the Krylov dimension of each run, default min(P, 20k + 100)) or "power"
    (power iteration with deflation; ``max_iter`` bounds the products per eigenvalue, default 1000).
    Convergence: every returned pair has residual ||Hy − λy|| ≤ tol·|λ_max| (default tol = sqrt(machine
    epsilon) of the least precise parameter dtype, so the eigenvalues are accurate to about tol² relative).
    """
    positive_int("k", k)
    if method not in ("lanczos", "power"):
        raise ValueError(f"method must be 'lanczos' or 'power', got {method!r}")
    if which not in ("largest", "magnitude"):
        raise ValueError(f"which must be 'largest' or 'magnitude', got {which!r}")
    positive_int("max_iter", max_iter, optional=True)
    with preserved_model(model, train_mode):
        op = HessianOperator(
            model, loss_fn, data, method=hvp_method, chunk_size=chunk_size, preconditioner=preconditioner, l2=l2
        )
        if k > op.dim:
            raise ValueError(f"k={k} exceeds the number of trainable parameters ({op.dim})")
        if tol is None:
            tol = math.sqrt(op.eps)
        else:
            positive_number("tol", tol)
        gen = _generator(op.device, seed)
        if method == "lanczos":
            iterations = max_iter if max_iter is not None else min(op.dim, 20 * k + 100)
            if iterations < k:
                raise ValueError(f"max_iter={iterations} must be at least k={k} for Lanczos")
            result = _lanczos_every_copy(op, k, which, tol, iterations, gen, return_eigenvectors)
        else:
            result = _power_iteration(op, k, which, tol, max_iter or 1000, gen, return_eigenvectors)
    if not result.converged:
        warnings.warn(
            f"{method} did not reach residual <= {tol:.1e}·|λ_max| within max_iter "
            f"({result.n_matvecs} Hessian-vector products; largest residual {float(result.residuals.max()):.2e}): "
            "raise max_iter or tol",
            RuntimeWarning,
            stacklevel=2,
        )
    return result


def critical_learning_rate(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    tol: float | None = None,
    seed: int = 0,
    train_mode: bool | None = None,
    chunk_size: int | None = None,
    l2: float | Mapping[str, float] | None = None,
) -> CriticalLearningRate:
    """ε_crit = 2/λ_max of gradient descent on the dataset-mean loss (Smith, Elsen & De 2020 §3.1).

    λ_max is the largest (algebraic) Hessian eigenvalue, by Lanczos; ``l2``: weight decay in the gradient, as in
    ``hessian_eigenvalues`` (λ_max of H + diag(λ)). Raises ValueError if λ_max ≤ 0 (no curvature constraint:
    the loss is locally concave in every direction).
    """
    result = hessian_eigenvalues(
        model, loss_fn, data, k=1, tol=tol, seed=seed, train_mode=train_mode, chunk_size=chunk_size, l2=l2
    )
    lam = float(result.eigenvalues[0])
    return CriticalLearningRate(
        value=float(theory.critical_learning_rate(lam)),
        max_eigenvalue=lam,
        max_eigenvalue_error=float(result.residuals[0]),
    )


# ----------------------------------------------------------------------------------------------------------
# trace
# ----------------------------------------------------------------------------------------------------------
def _mean_and_stderr(samples: Tensor) -> tuple[float, float]:
    mean = float(samples.mean())
    stderr = float(samples.std(correction=1) / math.sqrt(samples.numel())) if samples.numel() > 1 else math.inf
    return mean, stderr


def hessian_trace(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    method: TraceMethod = "hutch++",
    n_samples: int = 99,
    seed: int = 0,
    hvp_method: HVPMethod = "reverse-over-reverse",
    train_mode: bool | None = None,
    chunk_size: int | None = None,
) -> TraceEstimate:
    """Stochastic trace of the Hessian of the dataset-mean loss from ``n_samples`` Hessian-vector products.

    "hutchinson": mean of zᵀHz over Rademacher z (Hutchinson 1989); stderr = sample std / sqrt(n).
    "hutch++" (Meyer et al. 2021, Alg. 1): n/3 products sketch Q = orth(HS), n/3 give tr(QᵀHQ) exactly, the
    rest estimate tr((I−QQᵀ)H(I−QQᵀ)) by Hutchinson; stderr is that of the residual part (given Q).
    """
    if method not in ("hutch++", "hutchinson"):
        raise ValueError(f"method must be 'hutch++' or 'hutchinson', got {method!r}")
    minimum = 3 if method == "hutch++" else 2
    if not isinstance(n_samples, int) or n_samples < minimum:
        raise ValueError(f"n_samples must be an integer >= {minimum} for {method}, got {n_samples!r}")
    with preserved_model(model, train_mode):
        op = HessianOperator(model, loss_fn, data, method=hvp_method, chunk_size=chunk_size)
        gen = _generator(op.device, seed)
        if method == "hutchinson":
            probes = _rademacher(op, gen, n_samples)
            samples = torch.stack([z @ op.matvec(z) for z in probes])
            value, stderr = _mean_and_stderr(samples)
            return TraceEstimate(value, stderr, n_samples, method)
        sketch_size = n_samples // 3
        n_residual = n_samples - 2 * sketch_size
        sketch = torch.stack([op.matvec(s) for s in _rademacher(op, gen, sketch_size)])
        wide = torch.promote_types(op.dtype, torch.float32)  # QR has no half-precision kernel
        q = torch.linalg.qr(sketch.T.to(wide)).Q.T.to(op.dtype)  # [sketch_size, P], orthonormal rows
        low_rank = sum(float(row @ op.matvec(row)) for row in q)
        probes = _rademacher(op, gen, n_residual)
        probes = probes - (probes @ q.T) @ q
        samples = torch.stack([z @ op.matvec(z) for z in probes])
        residual, stderr = _mean_and_stderr(samples)
        return TraceEstimate(low_rank + residual, stderr, n_samples, method)


# ----------------------------------------------------------------------------------------------------------
# Frobenius norm
# ----------------------------------------------------------------------------------------------------------
def hessian_norm(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    n_samples: int = 50,
    seed: int = 0,
    hvp_method: HVPMethod = "finite-difference",
    fd_step: float | None = None,
    train_mode: bool | None = None,
    chunk_size: int | None = None,
) -> HessianNormEstimate:
    """Frobenius norm of the Hessian of the dataset-mean loss (Jastrzębski et al. 2018 §4.1, Fig. 1a).

    The paper measures it "using the finite difference method (Wu et al., 2017)" without stating the formula;
    we use Wu et al.'s estimator ||H||_F² = tr(HᵀH) = E_{v∼N(0,I)} ||Hv||² with the central difference
    Hv ≈ (∇L(θ+εv) − ∇L(θ−εv))/(2ε) (error O(ε²) rather than the forward difference's O(ε)). Set
    ``hvp_method="forward-over-reverse"`` for exact products. ``fd_step`` sets ε (default: each coordinate
    moves by ~cbrt(machine eps)·max(1, rms θ)).
    """
    if not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"n_samples must be an integer >= 2, got {n_samples!r}")
    with preserved_model(model, train_mode):
        op = HessianOperator(model, loss_fn, data, method=hvp_method, chunk_size=chunk_size, fd_step=fd_step)
        gen = _generator(op.device, seed)
        probes = _gaussian(op, gen, n_samples)
        samples = torch.stack([op.matvec(v).square().sum() for v in probes])
        squared, squared_stderr = _mean_and_stderr(samples)
        value = math.sqrt(max(squared, 0.0))
        stderr = squared_stderr / (2 * value) if value > 0 else math.inf
        step = op.finite_difference_step(probes[0]) if op.method == "finite-difference" else None
        return HessianNormEstimate(value, stderr, squared, squared_stderr, n_samples, step)
