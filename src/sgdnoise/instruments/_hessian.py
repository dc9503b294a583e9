"""Private: the Hessian of the dataset-mean loss as a linear operator on flat parameter vectors, the one
object every curvature instrument (``curvature``) applies H through.

H is that of L(θ) = (1/N) Σ_i ℓ_i(θ) with respect to the model's trainable parameters, flattened in
``model.named_parameters()`` order, applied chunk by chunk (each chunk's random draws fixed, attention in its
math form, embeddings' ``scale_grad_by_freq`` and ``sparse`` off: the loss's own gradient) by double backward,
``torch.func`` forward-over-reverse, or central finite differences of the gradient, every pass over the same
examples (a pass over others is an error); optionally with an L2 penalty ½ Σ_i λ_i θ_i² added to L
(H + diag(λ), e.g. SGD's weight decay) and preconditioned, P^(-1/2) (H + diag(λ)) P^(-1/2).
"""

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Literal

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, jvp
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree

from sgdnoise.instruments._batches import (
    Batches,
    Data,
    LossFn,
    ParameterLayout,
    batch_norm_modules,
    check_model_and_loss,
    fixed_randomness,
    functional_loss,
    generator_states,
    model_buffers,
    model_device_dtype,
    trainable_parameters,
    twice_differentiable,
    uncompiled,
    without_compiled_prefix,
)
from sgdnoise.instruments._mean_loss import checked_loss
from sgdnoise.validation import positive_number

HVPMethod = Literal["forward-over-reverse", "reverse-over-reverse", "finite-difference"]

_HVP_METHODS = ("forward-over-reverse", "reverse-over-reverse", "finite-difference")


def _example_checksums(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """One weighted checksum per example of its x and y (and their widths): the same for the same example in any
    chunk, different for different examples with overwhelming probability; and the sums of its terms' magnitudes
    (what its rounding is relative to)."""
    n = x.shape[0]
    sums = torch.zeros(n, dtype=torch.float64, device=x.device)
    magnitudes = torch.zeros_like(sums)
    for salt, t in enumerate((x, y), start=1):
        rows = t.detach().reshape(n, -1).to(device=x.device, dtype=torch.float64)
        weights = torch.cos(torch.arange(rows.shape[1], dtype=torch.float64, device=x.device) * (0.7 + salt)) + salt
        width = math.sqrt(salt + 1) * rows.shape[1]
        sums += (rows * weights).sum(1) + width
        magnitudes += (rows.abs() * weights.abs()).sum(1) + width
    return sums, magnitudes


# where an embedding's gradient flags sit among its function's positional arguments: scale_grad_by_freq, sparse
_EMBEDDING_GRADIENT_FLAGS = {F.embedding: (5, 6), F.embedding_bag: (5, 7), torch.embedding: (3, 4)}


class _LossGradientEmbeddings(TorchFunctionMode):
    """Embeddings (``nn.Embedding``, ``nn.EmbeddingBag``, their functions) with ``scale_grad_by_freq`` and
    ``sparse`` off: the same forward function, while the gradient they give is then the loss's own (dense, not
    divided by each token's count in the batch, which makes Hv no Hessian's product: not symmetric) and twice
    differentiable (a sparse gradient has no double backward)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = dict(kwargs or {})
        positions = _EMBEDDING_GRADIENT_FLAGS.get(func)
        if positions is not None:
            args = list(args)
            for name, position in zip(("scale_grad_by_freq", "sparse"), positions, strict=True):
                if position < len(args):
                    args[position] = False
                else:
                    kwargs[name] = False
        return func(*args, **kwargs)


def _buffers_that_move_the_function(model: nn.Module, before: Mapping[str, Tensor], x: Tensor) -> list[str]:
    """The buffers a forward pass changed from ``before``, if the model's output on ``x`` (random draws fixed)
    differs between them as they were and as they are: changes that leave the function alone (instance norm's
    running statistics in train mode, a step counter) are none."""
    after = {name: b.clone() for name, b in model.named_buffers() if name in before}
    changed = [name for name, b in after.items() if not torch.equal(b, before[name])]
    if not changed:
        return []
    outputs = []
    for buffers in (before, after):
        with torch.no_grad(), fixed_randomness(x.device, 0):
            outputs.append(pytree.tree_leaves(functional_call(model, {n: b.clone() for n, b in buffers.items()}, x)))
    same = len(outputs[0]) == len(outputs[1]) and all(
        torch.equal(a, b) if isinstance(a, Tensor) and isinstance(b, Tensor) else a is b or a == b
        for a, b in zip(*outputs, strict=True)
    )
    return [] if same else changed


def _missing_derivative(error: Exception) -> bool:
    """Whether torch's error says it has no (second or forward-mode) derivative for an operation."""
    return isinstance(error, NotImplementedError) or "not implemented" in str(error)


class HessianOperator:
    """H of the dataset-mean loss at the model's current parameters, applied to flat vectors.

    Must be used while the model is in the mode the caller wants (inside ``preserved_model``).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        data: Data,
        *,
        method: HVPMethod = "reverse-over-reverse",
        chunk_size: int | None = None,
        fd_step: float | None = None,
        preconditioner: Tensor | Mapping[str, Tensor] | None = None,
        l2: float | Mapping[str, float] | None = None,
    ):
        check_model_and_loss(model, loss_fn)
        compiled, model = model is not uncompiled(model), uncompiled(model)
        if compiled and isinstance(preconditioner, Mapping):
            preconditioner = without_compiled_prefix(preconditioner)
        if compiled and isinstance(l2, Mapping):
            l2 = without_compiled_prefix(l2)
        if method not in _HVP_METHODS:
            raise ValueError(f"method must be one of {_HVP_METHODS}, got {method!r}")
        if fd_step is not None and not fd_step > 0:
            raise ValueError(f"fd_step must be > 0, got {fd_step!r}")
        self.device, inputs_dtype = model_device_dtype(model)
        self.params = trainable_parameters(model)
        self.layout = ParameterLayout.of(self.params)
        # vectors in the widest parameter dtype, each piece in its parameter's own on the way into the model
        self.dtype, self.eps = self.layout.dtype, self.layout.eps
        self.flat_params = self.layout.flatten(self.params).to(self.dtype)
        self.batches = Batches(data, self.device, inputs_dtype, chunk_size)
        self.loss = functional_loss(model, loss_fn, model_buffers(model))
        self.method = method
        self.fd_step = fd_step
        self.n_matvecs = 0
        self.scale = None if preconditioner is None else self._inverse_sqrt(preconditioner)
        self.l2 = None if l2 is None else self._penalty_diagonal(l2)
        self._fingerprints: dict[int, tuple] = {}
        self._chunks_fix_randomness = False
        self._passes = 0
        self._first_pass_examples: Tensor | None = None
        drew: list[bool] = []
        first_inputs: list[Tensor] = []

        def checked(x: Tensor, y: Tensor) -> Tensor:
            if not first_inputs:
                first_inputs.append(x)
            before = generator_states(self.device)
            loss = checked_loss(loss_fn, model(x), y)
            drew.append(any(not torch.equal(a, b) for a, b in zip(before, generator_states(self.device), strict=True)))
            return loss

        buffers = {name: b.clone() for name, b in model.named_buffers()}
        with torch.no_grad():  # one forward pass: the loss of every chunk must be the mean (``checked_loss``)
            self._mean_over_chunks(checked)
        changed = _buffers_that_move_the_function(model, buffers, first_inputs[0])
        if changed:
            raise ValueError(
                f"a forward pass changed the model's buffers ({', '.join(changed[:5])}"
                f"{', …' if len(changed) > 5 else ''}), and with them its output: a module updates its state as it "
                "runs (a running normaliser, spectral_norm's power iteration in train mode), so H would change from "
                "one product to the next; measure in eval mode (train_mode=False)"
            )
        # each chunk's dropout mask is fixed by its index, and batch norm in train mode normalises by the chunk:
        # then H is one matrix only if every pass brings the same chunks
        batch_statistics = any(m.training for m in batch_norm_modules(model))
        self._chunks_fix_randomness = any(drew) or batch_statistics
        if batch_statistics and len(self._fingerprints) > 1:
            warnings.warn(
                f"batch norm in train mode normalises each of the {len(self._fingerprints)} chunks by its own "
                "statistics: H is that of the loss over these ghost batches and changes with chunk_size (measure "
                "in eval mode, or pass chunk_size >= the number of examples, for the full batch's)",
                RuntimeWarning,
                stacklevel=3,
            )

    def _inverse_sqrt(self, preconditioner: Tensor | Mapping[str, Tensor]) -> Tensor:
        """P^(-1/2) of a positive diagonal P given flat or by parameter name."""
        if isinstance(preconditioner, Mapping):
            if set(preconditioner) != set(self.layout.names):
                raise ValueError(
                    f"preconditioner must have exactly the trainable parameter names {list(self.layout.names)}"
                )
            for name, p in self.params.items():
                if tuple(preconditioner[name].shape) != tuple(p.shape):
                    raise ValueError(
                        f"preconditioner[{name!r}] has shape {list(preconditioner[name].shape)}, the parameter "
                        f"{list(p.shape)}"
                    )
            preconditioner = self.layout.flatten({n: t.to(self.device, self.dtype) for n, t in preconditioner.items()})
        if not isinstance(preconditioner, Tensor) or preconditioner.shape != (self.dim,):
            raise ValueError(
                f"preconditioner must be the diagonal of P: a flat tensor of shape ({self.dim},) or a dict"
            )
        if not bool((preconditioner > 0).all()):
            raise ValueError("preconditioner must be positive (the diagonal of a positive-definite P)")
        if not bool(preconditioner.isfinite().all()):
            raise ValueError("preconditioner must be finite")
        return preconditioner.to(self.device, self.dtype).rsqrt()

    def _penalty_diagonal(self, l2: float | Mapping[str, float]) -> Tensor | None:
        """The flat diagonal λ of the penalty ½ Σ_i λ_i θ_i², from one λ or one per parameter name (a name left
        out: 0); None when every λ is 0."""
        if isinstance(l2, Mapping):
            unknown = sorted(set(l2) - set(self.layout.names))
            if unknown:
                raise ValueError(f"l2 names {unknown}, which are not trainable parameters of the model")
            per_name = {
                name: positive_number(f"l2[{name!r}]", l2.get(name, 0.0), allow_zero=True) for name in self.params
            }
        else:
            value = positive_number("l2", l2, allow_zero=True)
            per_name = dict.fromkeys(self.params, value)
        if not any(per_name.values()):
            return None
        return self.layout.flatten(
            {name: torch.full_like(p, per_name[name], dtype=self.dtype) for name, p in self.params.items()}
        )

    @property
    def dim(self) -> int:
        return self.layout.dim

    def _mean_over_chunks(self, per_chunk: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
        """The size-weighted mean of ``per_chunk`` over one pass of the data, which must bring the same examples
        as the first pass (in any order unless chunks fix the randomness: then the same chunks)."""
        total: Tensor | None = None
        count = 0
        checksums: list[tuple[Tensor, Tensor]] = []
        for index, (x, y) in enumerate(self.batches):
            checksums.append(_example_checksums(x, y))
            n = x.shape[0]
            # the same examples in the same order: what fixes a chunk's dropout mask and batch statistics
            fingerprint = (tuple(x.shape), tuple(y.shape), tuple(checksums[-1][0].tolist()))
            if self._fingerprints.setdefault(index, fingerprint) != fingerprint and self._chunks_fix_randomness:
                raise ValueError(
                    f"the data gave other examples in chunk {index} on another pass (a DataLoader with "
                    "shuffle=True?): in train mode each chunk fixes its dropout mask and batch-norm statistics, "
                    "so the Hessian would change from one product to the next; pass data that gives the same "
                    "chunks on every pass (shuffle=False), or measure in eval mode (train_mode=False)"
                )
            with twice_differentiable(), _LossGradientEmbeddings(), fixed_randomness(self.device, index):
                value = per_chunk(x, y) * n
            total = value if total is None else total + value
            count += n
        assert total is not None
        sums, magnitudes = (torch.cat(parts) for parts in zip(*checksums, strict=True))
        self._check_same_examples(sums.sort().values, 1e-10 * magnitudes.max())
        return total / count

    def _check_same_examples(self, checksums: Tensor, tolerance: Tensor) -> None:
        """A pass's sorted example checksums must be the first pass's, each to ``tolerance`` (rounding)."""
        self._passes += 1
        first = self._first_pass_examples
        if first is None:
            self._first_pass_examples = checksums
            return
        if first.shape == checksums.shape and bool(((first - checksums).abs() <= tolerance).all()):
            return
        raise ValueError(
            f"the data gave other examples on pass {self._passes} than on the first ({checksums.numel()} examples "
            f"against {first.numel()}, not the same ones): each Hessian-vector product would be that of another "
            "loss (a DataLoader with shuffle=True and drop_last=True, or a sampler that draws, such as "
            "RandomSampler(replacement=True) or WeightedRandomSampler? random augmentation? batches padded to their "
            "own longest sequence, which pad an example to another width when shuffled?); pass data that gives the "
            "same examples on every pass (shuffling alone, without drop_last, is fine in eval mode for "
            "fixed-width examples)"
        )

    def _leaf_parameters(self, flat_params: Tensor | None = None) -> dict[str, Tensor]:
        params = self.params if flat_params is None else self.layout.unflatten(flat_params)
        return {name: p.detach().requires_grad_() for name, p in params.items()}

    def gradient(self, flat_params: Tensor) -> Tensor:
        """∇L at the given flat parameter vector."""

        def chunk_gradient(x: Tensor, y: Tensor) -> Tensor:
            params = self._leaf_parameters(flat_params)
            with torch.enable_grad():
                # a parameter the loss does not use (a submodule never called) has gradient zero
                grads = torch.autograd.grad(self.loss(params, x, y), list(params.values()), materialize_grads=True)
            return torch.cat([g.reshape(-1) for g in grads])

        return self._mean_over_chunks(chunk_gradient)

    def finite_difference_step(self, v: Tensor) -> float:
        """ε for central differences: each coordinate moves by ~cbrt(machine eps)·max(1, rms θ)."""
        if self.fd_step is not None:
            return self.fd_step
        eps = self.eps
        rms_theta = self.flat_params.norm().item() / math.sqrt(self.dim)
        rms_v = v.norm().item() / math.sqrt(self.dim)
        return eps ** (1 / 3) * max(1.0, rms_theta) / rms_v

    def matvec(self, v: Tensor) -> Tensor:
        """Hv for a flat vector v (no gradient tracking); with an L2 penalty λ, (H + diag(λ))v; with a
        preconditioner P, P^(-1/2) (H + diag(λ)) P^(-1/2) v."""
        u = v if self.scale is None else self.scale * v
        hu = self._hessian_times(u)
        if self.l2 is not None:
            hu = hu + self.l2 * u
        return hu if self.scale is None else self.scale * hu

    def _hessian_times(self, v: Tensor) -> Tensor:
        self.n_matvecs += 1
        if self.method == "finite-difference":
            return self._finite_difference(v)
        tangent = self.layout.unflatten(v)
        try:
            if self.method == "forward-over-reverse":
                return self._mean_over_chunks(lambda x, y: self._forward_over_reverse(tangent, x, y))
            return self._mean_over_chunks(lambda x, y: self._double_backward(tangent, x, y))
        except (NotImplementedError, RuntimeError) as error:
            if not _missing_derivative(error):
                raise
            # torch cannot differentiate an operation of the model twice (EmbeddingBag, MultiMarginLoss, …)
            warnings.warn(
                f"torch has no second derivative for an operation of this model ({str(error).splitlines()[0]}): "
                "Hessian-vector products by central differences of the gradient instead (relative error about "
                "ε_machine^(2/3): ~1e-11 in float64, ~1e-5 in float32)",
                RuntimeWarning,
                stacklevel=3,
            )
            self.method = "finite-difference"
            return self._finite_difference(v)

    def _finite_difference(self, v: Tensor) -> Tensor:
        """(∇L(θ + εv) − ∇L(θ − εv))/(2ε), ε from ``finite_difference_step``."""
        step = self.finite_difference_step(v)
        plus = self.gradient(self.flat_params + step * v)
        minus = self.gradient(self.flat_params - step * v)
        return (plus - minus) / (2 * step)

    def _double_backward(self, tangent: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        params = self._leaf_parameters()
        leaves = list(params.values())
        with torch.enable_grad():
            grads = torch.autograd.grad(self.loss(params, x, y), leaves, create_graph=True, materialize_grads=True)
            # a gradient that does not depend on the parameters (a loss linear in them, or a parameter it does not
            # use) has no second derivative
            pairs = [(g, tangent[n]) for g, n in zip(grads, params, strict=True) if g.requires_grad]
            hv: tuple[Tensor | None, ...] = (None,) * len(leaves)
            if pairs:
                outputs, tangents = zip(*pairs, strict=True)
                hv = torch.autograd.grad(outputs, leaves, grad_outputs=tangents, allow_unused=True)
        pieces = [(torch.zeros_like(p) if h is None else h).reshape(-1) for p, h in zip(leaves, hv, strict=True)]
        return torch.cat(pieces)

    def _forward_over_reverse(self, tangent: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        def gradient_of(p: dict[str, Tensor]) -> dict[str, Tensor]:
            return grad(self.loss)(p, x, y)

        try:
            return self.layout.flatten(jvp(gradient_of, (self.params,), (tangent,))[1])
        except (NotImplementedError, RuntimeError) as error:
            # torch.func's forward-mode AD of some backward formulas writes into an immutable ZeroTensor (mse_loss
            # in torch 2.x) or is missing (huber_loss), and it cannot transform an autograd.Function without
            # setup_context; the double-backward product is the same Hv.
            if not any(sign in str(error) for sign in ("ZeroTensor", "forward AD", "setup_context")):
                raise
            warnings.warn(
                f"forward-over-reverse Hessian-vector products failed in torch ({str(error).splitlines()[0]}); "
                "using reverse-over-reverse (double backward) instead",
                RuntimeWarning,
                stacklevel=2,
            )
            self.method = "reverse-over-reverse"
            return self._double_backward(tangent, x, y)
