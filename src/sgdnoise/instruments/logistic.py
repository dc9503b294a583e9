"""The L2-regularised logistic (sigmoid) or softmax regression problem of Smith & Le 2018 §2 in float64:
inputs checked and flattened, a column of ones appended for the bias, and the cost C(ω) = H(ω) + λ|ω|²/2
(H the summed cross-entropy), its gradient and its exact Hessian. The evidence instrument
(:mod:`.evidence`) fits and scores it; SGLD (Smith & Le App. A) samples it."""

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch

OutputKind = Literal["sigmoid", "softmax"]
ArrayInput = torch.Tensor | npt.ArrayLike


# ----------------------------------------------------------------------------------------------------------
# input handling
# ----------------------------------------------------------------------------------------------------------
def _as_float64(x: ArrayInput, name: str, device: torch.device | None = None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        tensor = x.detach().to(dtype=torch.float64, device=device if device is not None else x.device)
    else:
        try:
            array = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} must be a torch tensor or a numeric array, got {type(x).__name__}") from error
        tensor = torch.as_tensor(array, device=device)
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return tensor


def _features(x: ArrayInput, device: torch.device | None = None) -> torch.Tensor:
    """x as float64 (N, D), trailing dimensions flattened, with a column of ones appended (bias input)."""
    tensor = _as_float64(x, "x", device)
    if tensor.ndim < 1 or tensor.shape[0] == 0:
        raise ValueError(
            f"x must have a leading example dimension with at least one example, got {tuple(tensor.shape)}"
        )
    tensor = tensor.reshape(tensor.shape[0], -1) if tensor.ndim != 2 else tensor
    ones = torch.ones(tensor.shape[0], 1, dtype=tensor.dtype, device=tensor.device)
    return torch.cat([tensor, ones], dim=1)


def _labels(y: ArrayInput, n_examples: int, n_classes: int, device: torch.device) -> torch.Tensor:
    tensor = y.detach().to(device) if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y), device=device)
    if tensor.ndim != 1 or tensor.shape[0] != n_examples:
        raise ValueError(f"y must have shape ({n_examples},) to match x, got {tuple(tensor.shape)}")
    if tensor.is_floating_point() and not bool((tensor == tensor.round()).all()):
        raise ValueError("y must hold integer class labels")
    if tensor.dtype == torch.bool or tensor.is_complex():
        raise TypeError("y must hold integer class labels")
    labels = tensor.to(torch.long)
    if bool(((labels < 0) | (labels >= n_classes)).any()):
        raise ValueError(f"labels must lie in {{0, …, {n_classes - 1}}} for n_classes={n_classes}")
    return labels


def _resolve_output(n_classes: int, output: OutputKind | None) -> OutputKind:
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    if output is None:
        return "sigmoid" if n_classes == 2 else "softmax"
    if output not in ("sigmoid", "softmax"):
        raise ValueError(f"output must be 'sigmoid' or 'softmax', got {output!r}")
    if output == "sigmoid" and n_classes != 2:
        raise ValueError(f"a sigmoid output needs n_classes=2, got {n_classes}")
    return output


# ----------------------------------------------------------------------------------------------------------
# cost, gradient, Hessian (float64; w is (P1,) for sigmoid, (K, P1) for softmax; xa ends with a ones column)
# ----------------------------------------------------------------------------------------------------------
def _cross_entropies(z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-example −ln softmax(z)_y = softplus(ln Σ_{k≠y} e^{z_k − z_y}): no cancellation when p_y ≈ 1."""
    gaps = (z - z.gather(1, labels[:, None])).scatter(1, labels[:, None], -math.inf)
    return torch.nn.functional.softplus(torch.logsumexp(gaps, dim=1))


def _sigmoid_residual(z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """p − t of the sigmoid output, without cancellation: −σ(−z) for t = 1, σ(z) for t = 0."""
    return torch.where(labels == 1, -torch.sigmoid(-z), torch.sigmoid(z))


class LogisticProblem:
    """Summed cross-entropy + λ|ω|²/2 of one (x, y, λ) problem: ``xa`` the inputs with a ones column appended
    (for the evidence, only the active, non-zero, feature columns; see ``logistic_problem``)."""

    def __init__(self, xa: torch.Tensor, labels: torch.Tensor, l2: float, n_classes: int, output: OutputKind):
        self.xa, self.labels, self.l2, self.n_classes, self.output = xa, labels, l2, n_classes, output
        self.signs = 2 * labels.to(xa.dtype) - 1  # y± = ±1: cross-entropy softplus(−y± z) for sigmoid
        if output == "softmax":
            self.onehot = torch.nn.functional.one_hot(labels, n_classes).to(xa.dtype)

    def weight_shape(self) -> tuple[int, ...]:
        p1 = self.xa.shape[1]
        return (p1,) if self.output == "sigmoid" else (self.n_classes, p1)

    def cost(self, w: torch.Tensor) -> torch.Tensor:
        reg = 0.5 * self.l2 * (w * w).sum()
        if self.output == "sigmoid":
            return torch.nn.functional.softplus(-self.signs * (self.xa @ w)).sum() + reg
        return _cross_entropies(self.xa @ w.T, self.labels).sum() + reg

    def cost_and_gradient(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        reg = 0.5 * self.l2 * (w * w).sum()
        if self.output == "sigmoid":
            z = self.xa @ w
            cost = torch.nn.functional.softplus(-self.signs * z).sum() + reg
            return cost, self.xa.T @ _sigmoid_residual(z, self.labels) + self.l2 * w
        z = self.xa @ w.T
        cost = _cross_entropies(z, self.labels).sum() + reg
        probs = torch.softmax(z, dim=1)
        # p_t − 1 = −Σ_{k≠t} p_k, summed explicitly to keep precision when p_t ≈ 1
        others = probs * (1 - self.onehot)
        residual = others - self.onehot * others.sum(dim=1, keepdim=True)
        return cost, residual.T @ self.xa + self.l2 * w

    def gradients(self, w: torch.Tensor) -> torch.Tensor:
        """∇C at every row of ``w`` (rows, P1), sigmoid output: ``cost_and_gradient``'s gradient, batched."""
        if self.output != "sigmoid":
            raise NotImplementedError("batched gradients are implemented for the sigmoid output only")
        return _sigmoid_residual(w @ self.xa.T, self.labels) @ self.xa + self.l2 * w

    def data_hessian(self, w: torch.Tensor) -> torch.Tensor:
        """Exact Hessian of the summed cross-entropy (C's Hessian minus λI), ordered as w.reshape(-1)."""
        xa = self.xa
        p1 = xa.shape[1]
        if self.output == "sigmoid":
            z = xa @ w
            s = torch.sigmoid(z) * torch.sigmoid(-z)
            return xa.T @ (s[:, None] * xa)
        z = xa @ w.T
        k = self.n_classes
        lse = torch.logsumexp(z, dim=1)
        probs = torch.exp(z - lse[:, None])
        # 1 − p_k = Σ_{j≠k} p_j, via a log-sum-exp over the other logits (precise when p_k ≈ 1)
        masked = z[:, None, :].expand(-1, k, -1).clone()
        masked.diagonal(dim1=1, dim2=2).fill_(-math.inf)
        others = torch.exp(torch.logsumexp(masked, dim=2) - lse[:, None])
        hess = torch.empty(k * p1, k * p1, dtype=xa.dtype, device=xa.device)
        for a in range(k):
            for b in range(a, k):
                weight = probs[:, a] * others[:, a] if a == b else -probs[:, a] * probs[:, b]
                block = xa.T @ (weight[:, None] * xa)
                hess[a * p1 : (a + 1) * p1, b * p1 : (b + 1) * p1] = block
                if a != b:
                    hess[b * p1 : (b + 1) * p1, a * p1 : (a + 1) * p1] = block.T
        return hess

    def hessian_from_data(self, data_hessian: torch.Tensor) -> torch.Tensor:
        """Hessian of C: the cross-entropy Hessian plus λI."""
        return data_hessian + self.l2 * torch.eye(
            data_hessian.shape[0], dtype=data_hessian.dtype, device=data_hessian.device
        )


def _factorise(hessian: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Solver v ↦ H⁻¹v: Cholesky, or LU if H is numerically indefinite (extreme conditioning)."""
    chol, info = torch.linalg.cholesky_ex(hessian)
    if int(info) == 0:
        return lambda v: torch.cholesky_solve(v[:, None], chol)[:, 0]
    lu, pivots = torch.linalg.lu_factor(hessian)
    return lambda v: torch.linalg.lu_solve(lu, pivots, v[:, None])[:, 0]
