"""Private helpers shared by the instruments: data as chunks, model state, functional losses.

Every instrument takes ``(model, loss_fn, data)``. ``data`` is either a pair of tensors ``(x, y)`` (split into
chunks of ``chunk_size`` examples) or a re-iterable of ``(x, y)`` batches (a list, a ``DataLoader``). The loss
of the whole dataset is the MEAN over examples: a chunk's mean loss is weighted by its size. Batches are moved
to the model's device and floating inputs/targets cast to the model's dtype.
"""

import contextlib
import functools
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.utils import parametrize
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree

from sgdnoise.validation import positive_int

LossFn = Callable[[Tensor, Tensor], Tensor]
Data = tuple[Tensor, Tensor] | Iterable[tuple[Tensor, Tensor]]

DEFAULT_CHUNK_SIZE = 1024


def check_model_and_loss(model: nn.Module, loss_fn: LossFn) -> None:
    """Validate the two callables every instrument takes."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(outputs, targets), got {type(loss_fn).__name__}")
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model has no trainable parameters (no parameter with requires_grad=True)")
    on_meta = [name for name, t in (*model.named_parameters(), *model.named_buffers()) if t.is_meta]
    if on_meta:
        raise ValueError(
            f"the model's parameters are on the meta device (not materialised: {', '.join(on_meta[:3])}"
            f"{', …' if len(on_meta) > 3 else ''} hold no values): materialise them before measuring, e.g. "
            "model.to_empty(device='cpu') then model.load_state_dict(...)"
        )
    if parametrize._cache_enabled and any(parametrize.is_parametrized(m) for m in model.modules()):
        raise ValueError(
            "parametrization caching is on (inside torch.nn.utils.parametrize.cached()): the model's parametrized "
            "weights are computed once and reused, so its gradients and Hessian with respect to their parameters "
            "come out wrong; measure outside the parametrize.cached() block"
        )


_COMPILED_PREFIX = "_orig_mod."  # what torch.compile's wrapper puts before its module's parameter names


def uncompiled(model: nn.Module) -> nn.Module:
    """The module a ``torch.compile`` wrapper runs (the same parameters and buffers), else ``model``: compiled
    graphs have no double backward and recompile for every new batch shape of a measurement."""
    eval_frame = sys.modules.get("torch._dynamo.eval_frame")  # imported by torch.compile, so by any wrapper
    if eval_frame is not None and isinstance(model, eval_frame.OptimizedModule):
        return model._orig_mod
    return model


def compiled_runs_eagerly() -> contextlib.AbstractContextManager:
    """Inside the block, whatever ``torch.compile`` compiled (``model.compile()``, a compiled submodule) runs its
    eager code (``torch.compiler.set_stance("force_eager")``): same function, while compiled graphs have no
    double backward. Nothing is compiled before ``torch.compile`` imports ``torch._dynamo``, so nothing to do then
    (and no seconds spent importing it)."""
    if "torch._dynamo" not in sys.modules:
        return contextlib.nullcontext()
    return torch.compiler.set_stance("force_eager")


def without_compiled_prefix(names: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Parameter names as the module a ``torch.compile`` wrapper runs names them."""
    return {name.removeprefix(_COMPILED_PREFIX): value for name, value in names.items()}


def holds_examples(leaf: object, n: int) -> bool:
    """Whether ``leaf`` is a tensor whose leading dimension is the batch of ``n``."""
    return isinstance(leaf, Tensor) and leaf.dim() > 0 and leaf.shape[0] == n


def leading_examples(tree: object, start: int, stop: int, n: int) -> object:
    """Examples ``start:stop`` of every tensor in ``tree`` (a tensor, tuple, dict, Hugging Face ``ModelOutput``)
    whose leading dimension is the batch of ``n``; other leaves unchanged."""
    return pytree.tree_map(lambda t: t[start:stop] if holds_examples(t, n) else t, tree)


class NonFiniteLossError(ValueError):
    """The loss is NaN or infinite at the model's parameters (a diverged run, or a loss_fn that gives NaN)."""


SINGLE_EXAMPLES_CHECKED = 8


def _blocks(n: int) -> list[list[tuple[int, int]]]:
    """The partitions of a batch of n on which a mean loss must equal the size-weighted mean of its blocks' losses:
    its halves, and its first ``SINGLE_EXAMPLES_CHECKED`` examples one by one with the rest as one block."""
    singles = min(n, SINGLE_EXAMPLES_CHECKED)
    ones = [(i, i + 1) for i in range(singles)] + ([(singles, n)] if singles < n else [])
    return [[(0, n // 2), (n // 2, n)], ones]


def _detached(tree: object) -> object:
    """``tree`` with every tensor in it detached (cut from the model's graph)."""
    return pytree.tree_map(lambda t: t.detach() if isinstance(t, Tensor) else t, tree)


def _free_outputs(outputs: object, start: int, stop: int, n: int) -> tuple[object, list[Tensor]]:
    """Examples ``start:stop`` of ``outputs`` (as ``leading_examples``), each floating tensor of them computed from a
    detached leaf that requires grad (no graph back into the model; a loss may still write into what it is given),
    and those leaves: the same number, in the same order, for every block of the batch."""
    leaves, spec = pytree.tree_flatten(_detached(outputs))
    free: list[Tensor] = []
    given = []
    for leaf in leaves:
        if holds_examples(leaf, n):
            part = leaf[start:stop]
            if part.is_floating_point():
                free.append(part.requires_grad_())
                part = free[-1].clone()
            leaf = part
        given.append(leaf)
    return pytree.tree_unflatten(given, spec), free


def _scaled_block_losses(
    loss_fn: LossFn, outputs: object, targets: Tensor, blocks: list[tuple[int, int]], n: int
) -> tuple[list[Tensor], list[list[Tensor]]]:
    """n_b·L_b for the blocks b of the batch, each computed from leaves of its own (``_free_outputs``) with grad
    enabled, under ``torch.no_grad()`` too; and those leaves, block by block."""
    with torch.enable_grad():
        per_block = [_free_outputs(outputs, start, stop, n) for start, stop in blocks]
        values = [
            (stop - start) * loss_fn(block, targets[start:stop])
            for (start, stop), (block, _) in zip(blocks, per_block, strict=True)
        ]
    return values, [leaves for _, leaves in per_block]


def _same_output_gradients(
    whole: tuple[list[Tensor], list[list[Tensor]]], parts: tuple[list[Tensor], list[list[Tensor]]]
) -> bool:
    """Whether n·∂L/∂o_i = n_b·∂L_b/∂o_i for every example i of every block b (``whole``, ``parts``: the
    ``_scaled_block_losses`` of the batch as one block and in blocks), to 8 eps of the gradients' dtype (relative,
    and times the largest entry). For a mean both are ∂ℓ_i/∂o_i up to the rounding of n/n and n_b/n_b, however
    spread the examples' losses; a weighted mean scales example i's by n·w_i/Σw against n_b·w_i/Σ_b w. True if the
    loss needs no gradient of the outputs. One backward pass over per-block leaves."""
    (whole_values, (whole_leaves,)), (part_values, part_leaves) = whole, parts
    leaves = [*whole_leaves, *(leaf for block in part_leaves for leaf in block)]
    with torch.enable_grad():  # under torch.no_grad() too
        total = sum(whole_values) + sum(part_values)
    if not leaves or not total.requires_grad:
        return True
    grads = torch.autograd.grad(total, leaves, materialize_grads=True)
    width = len(whole_leaves)
    for i, b in enumerate(grads[:width]):
        a = torch.cat(grads[width + i :: width])
        rtol = 8 * torch.finfo(b.dtype).eps
        if not torch.allclose(a, b, rtol=rtol, atol=rtol * float(b.abs().max()) if b.numel() else 0.0):
            return False
    return True


def _detached_block_losses(
    loss_fn: LossFn, outputs: object, targets: Tensor, blocks: list[tuple[int, int]], n: int
) -> list[Tensor]:
    """n_b·L_b for the blocks b of the batch, the outputs detached but grad enabled (under ``torch.no_grad()``
    too): a loss that still needs a gradient reads tensors besides the outputs."""
    with torch.enable_grad():
        return [
            (stop - start) * loss_fn(_detached(leading_examples(outputs, start, stop, n)), targets[start:stop])
            for start, stop in blocks
        ]


def _reads_only_outputs(values: list[Tensor]) -> None:
    """A ValueError if a loss of detached outputs needs a gradient: it reads the model's parameters (or others)."""
    if any(value.requires_grad for value in values):
        raise ValueError(
            "loss_fn depends on tensors that require grad besides the model's outputs (a penalty or a learnable "
            "loss weight read from model.parameters(), a loss module's own parameters): the instruments "
            "differentiate only through model(x), so they would leave those terms out. loss_fn may depend on the "
            "model only through its outputs; for weight decay, leave the penalty out and pass l2= to "
            "hessian_eigenvalues or critical_learning_rate"
        )


def _mean_of_blocks(loss: Tensor, scaled: list[Tensor], outputs: object, targets: Tensor) -> None:
    """A ValueError unless the batch's loss is Σ_b n_b·L_b/n (``scaled``: the n_b·L_b) to a relative
    max(1e-3, 16 eps) of its dtype (sums round)."""
    parts = sum(value.detach() for value in scaled) / targets.shape[0]
    if not torch.isclose(parts, loss.detach(), rtol=max(1e-3, 16 * torch.finfo(loss.dtype).eps), atol=1e-7):
        raise _not_a_mean(
            f"the loss of a batch ({float(loss.detach()):.6g}) is not the size-weighted mean of its {len(scaled)} "
            f"blocks' losses ({float(parts):.6g})",
            outputs,
            targets,
        )


def _not_examples_first(outputs: object, n: int, error: Exception | None = None) -> ValueError:
    """The refusal of outputs whose leading dimension is not the examples (``error``: loss_fn's on the halves)."""
    shapes = ", ".join(str(tuple(t.shape)) for t in pytree.tree_leaves(outputs) if isinstance(t, Tensor))
    failed = f"; loss_fn failed on the first {n // 2} of them: {type(error).__name__}: {error}" if error else ""
    return ValueError(
        f"the instruments need model outputs with the examples along their leading dimension ({n} in this chunk; "
        f"got outputs of shape {shapes or 'none'}{failed}): they evaluate loss_fn on slices of the examples. Return "
        "e.g. logits [n, T, V], not flattened to [n·T, V] nor sequence-first [T, n, V] (wrap the model in an "
        "nn.Module whose forward reshapes them), and flatten or transpose inside loss_fn"
    )


def _not_a_mean(differs: str, outputs: object, targets: Tensor) -> ValueError:
    """The refusal of a loss that is not a mean of per-example losses; first, floating targets broadcast against
    an output across examples (MSE of outputs (n, 1) against targets (n,) averages all n² pairs)."""
    for leaf in pytree.tree_leaves(outputs):
        if isinstance(leaf, Tensor) and leaf.is_floating_point() and targets.is_floating_point():
            try:
                numel = torch.broadcast_shapes(leaf.shape, targets.shape).numel()
            except RuntimeError:
                continue
            if numel > max(leaf.numel(), targets.numel()):
                return ValueError(
                    f"loss_fn broadcasts the model's output of shape {tuple(leaf.shape)} against targets of shape "
                    f"{tuple(targets.shape)}, pairing every example's output with every example's target: give "
                    "them one shape, e.g. model(x).squeeze(-1) or y.unsqueeze(-1)"
                )
    return ValueError(
        f"loss_fn must be the MEAN of the per-example losses (e.g. reduction='mean'): {differs}. A sum is not, nor "
        "a mean that weights examples unequally: targets left out (ignore_index padding) or class weight= under a "
        "mean over all targets; average each example's own loss instead (reduction='none', then each example's "
        "mean, then the mean over examples)"
    )


def checked_loss(loss_fn: LossFn, outputs: object, targets: Tensor, *, finite: bool = True) -> Tensor:
    """``loss_fn(outputs, targets)``, checked to be what every instrument assumes: the mean over examples of
    per-example losses that reach the model only through ``outputs``. So its value equals the size-weighted mean
    of its blocks' losses, L = Σ_b n_b·L_b/n, over two partitions of the batch (``_blocks``: halves; the first 8
    examples singly and the rest, unless ``loss_fn`` cannot take one example, e.g. ``o.squeeze()`` against
    targets of shape (1,)), to a relative max(1e-3, 16·eps) of the loss's dtype (sums round); and on the finer
    partition its gradients at the outputs agree, n·∂L/∂o_i = n_b·∂L_b/∂o_i, to 8·eps of their dtype: this
    tells a weighted mean from a plain one whatever the spread of the examples' losses (near-uniform predictions,
    a zero-initialised head).

    A sum-reduced loss, a mean that weights examples unequally (targets left out by ``ignore_index`` under a mean
    over tokens, class ``weight=``), a loss with ``reduction='none'`` (not a scalar), a loss of detached outputs
    that still needs a gradient (it reads the model's parameters), and outputs without the examples leading are
    each a ValueError. Only ``loss_fn`` is evaluated again (on slices of ``outputs``, detached), the same way
    under ``torch.no_grad()``, so the check holds for models whose examples interact, such as batch norm in train
    mode. With ``finite``, a NaN or infinite loss is a ``NonFiniteLossError`` (a ValueError; the inputs are
    finite: ``Batches`` checks them); without it, it is returned (a blown-up point of a line in parameter space).
    """
    loss = loss_fn(outputs, targets)
    if not isinstance(loss, Tensor) or loss.dim() != 0:
        shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        raise ValueError(f"loss_fn must return a scalar tensor (the mean over the batch), got {shape}")
    if not bool(torch.isfinite(loss)):
        if finite:
            raise NonFiniteLossError(
                f"the loss is not finite ({float(loss.detach())}) at the model's parameters on a chunk of "
                f"{targets.shape[0]} examples: the parameters hold NaN/inf (a diverged run) or loss_fn gives "
                "NaN/inf on these targets"
            )
        return loss  # a non-finite loss has no halves to compare
    n = targets.shape[0]
    if n < 2:
        _reads_only_outputs(_detached_block_losses(loss_fn, outputs, targets, [(0, n)], n))
        return loss
    if not any(holds_examples(leaf, n) for leaf in pytree.tree_leaves(outputs)):
        raise _not_examples_first(outputs, n)
    halves, singles = _blocks(n)
    try:
        values = _detached_block_losses(loss_fn, outputs, targets, halves, n)
    except Exception as error:
        raise _not_examples_first(outputs, n, error) from error
    _reads_only_outputs(values)
    _mean_of_blocks(loss, values, outputs, targets)
    whole = _scaled_block_losses(loss_fn, outputs, targets, [(0, n)], n)
    try:
        parts = _scaled_block_losses(loss_fn, outputs, targets, singles, n)
    except Exception:  # a loss that cannot take one example (o.squeeze() against targets of shape (1,)): halves only
        parts = _scaled_block_losses(loss_fn, outputs, targets, halves, n)
    else:
        _mean_of_blocks(loss, parts[0], outputs, targets)
    if not _same_output_gradients(whole, parts):
        raise _not_a_mean(
            "the gradient of the batch's loss at an example's outputs, times n, is not that of its block's loss "
            f"times the block's size (the batch in {len(parts[0])} blocks)",
            outputs,
            targets,
        )
    return loss


def check_examples(x: Tensor, y: Tensor, what: str = "data") -> int:
    """The number of examples of a batch (x, y): both need the same leading (batch) dimension."""
    if x.dim() == 0 or y.dim() == 0:
        raise ValueError(
            f"{what}: x and y need a leading batch dimension (examples first), got x of shape {tuple(x.shape)} "
            f"and y of shape {tuple(y.shape)}; pass one example i as (x[i : i + 1], y[i : i + 1])"
        )
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{what}: x and y have different numbers of examples: {x.shape[0]} vs {y.shape[0]}")
    return x.shape[0]


def _is_tensor_pair(data: object) -> bool:
    return (
        isinstance(data, tuple | list)
        and len(data) == 2
        and isinstance(data[0], Tensor)
        and isinstance(data[1], Tensor)
    )


def _refuse_structured_x(data: object, name: str) -> None:
    """A TypeError saying what to do for a pair (x, y) whose x is a dict, or a tuple or list of tensors (a model of
    several inputs): the instruments call model(x) with one tensor."""
    if not (isinstance(data, tuple | list) and len(data) == 2):
        return
    x = data[0]
    if isinstance(x, Mapping):
        raise TypeError(
            f"{name}'s x is a dict (of {', '.join(map(str, x))}): the instruments call model(x) with one "
            "tensor; wrap a model that takes keyword inputs in an nn.Module whose forward(x) calls it, e.g. "
            "self.model(input_ids=x, attention_mask=x != pad_id)"
        )
    if isinstance(x, tuple | list) and x and all(isinstance(t, Tensor) for t in x) and isinstance(data[1], Tensor):
        raise TypeError(
            f"{name}'s x is a {type(x).__name__} of {len(x)} tensors: the instruments call model(x) with one "
            "tensor holding the examples along its first dimension; join the inputs into one (e.g. "
            "torch.cat([u, v], dim=1)) and wrap the model in an nn.Module whose forward(x) splits it again and "
            "calls it, e.g. self.model(x[:, :3], x[:, 3:])"
        )


class Batches:
    """A re-iterable view of ``data`` as ``(x, y)`` chunks on the model's device and in its dtype."""

    def __init__(
        self,
        data: Data,
        device: torch.device,
        dtype: torch.dtype,
        chunk_size: int | None = None,
        *,
        name: str = "data",
    ):
        positive_int("chunk_size", chunk_size, optional=True)
        self._device, self._dtype, self._name = device, dtype, name
        self._passes, self._gave_batches = 0, False
        self._chunk_size = chunk_size or DEFAULT_CHUNK_SIZE
        _refuse_structured_x(data, name)
        if _is_tensor_pair(data):
            x, y = data
            if check_examples(x, y, name) == 0:
                raise ValueError("data holds no examples")
            self._check_finite(x, y, "")
            self._pair: tuple[Tensor, Tensor] | None = (x, y)
            self._iterable: Iterable[tuple[Tensor, Tensor]] | None = None
        elif isinstance(data, tuple) and all(isinstance(t, Tensor) for t in data):
            raise TypeError(f"{name} is a tuple of {len(data)} tensors: pass (x, y), or an iterable of (x, y) batches")
        elif isinstance(data, tuple | list) and len(data) == 2 and all(hasattr(t, "__array__") for t in data):
            raise TypeError(
                f"{name} holds {type(data[0]).__name__} and {type(data[1]).__name__}: pass torch tensors "
                "(torch.as_tensor(x), torch.as_tensor(y))"
            )
        elif isinstance(data, Iterable) and not isinstance(data, Tensor):
            if iter(data) is data:
                raise TypeError(
                    "data is a one-shot iterator; the instruments pass over the data several times: "
                    "pass a pair of tensors (x, y), a list of (x, y) batches or a DataLoader"
                )
            self._pair, self._iterable = None, data
        else:
            raise TypeError(
                f"data must be a pair of tensors (x, y) or an iterable of (x, y) batches, got {type(data).__name__}"
            )

    def _check_finite(self, x: Tensor, y: Tensor, where: str) -> None:
        """Floating inputs and targets must be finite (integer ones, e.g. token ids, always are)."""
        for part, t in (("x", x), ("y", y)):
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise ValueError(f"{self._name}{where} holds NaN or inf in {part}: the instruments need finite data")

    def _cast(self, t: Tensor) -> Tensor:
        dtype = self._dtype if t.is_floating_point() else t.dtype
        return t.to(device=self._device, dtype=dtype)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        seen = 0
        self._passes += 1
        if self._pair is not None:
            x, y = self._pair
            for start in range(0, x.shape[0], self._chunk_size):
                seen += 1
                yield self._cast(x[start : start + self._chunk_size]), self._cast(y[start : start + self._chunk_size])
        else:
            assert self._iterable is not None
            for batch in self._iterable:
                if not _is_tensor_pair(batch):
                    _refuse_structured_x(batch, f"{self._name} (batch {seen})")
                    raise TypeError(f"each batch must be a pair of tensors (x, y), got {type(batch).__name__}")
                x, y = batch
                if check_examples(x, y, f"{self._name} (batch {seen})") == 0:
                    continue
                self._check_finite(x, y, f" (batch {seen})")
                seen += 1
                yield self._cast(x), self._cast(y)
        if seen == 0 and self._gave_batches:
            raise TypeError(
                f"{self._name} gave no batches on pass {self._passes}, after batches on an earlier pass: it can be "
                "iterated only once (its __iter__ returns the same iterator, or a DataLoader over a one-shot "
                "IterableDataset), while the instruments pass over the data several times: pass a pair of tensors "
                "(x, y), a list of (x, y) batches or a DataLoader over a dataset that can be read again"
            )
        if seen == 0:
            raise ValueError("data holds no examples")
        self._gave_batches = True


def math_attention() -> contextlib.AbstractContextManager:
    """Scaled dot-product attention by its math form inside the block: twice differentiable and batched by vmap
    (the fused kernels, e.g. ``_scaled_dot_product_flash_attention_for_cpu``, have neither a double backward nor a
    batching rule). Same function, so Hessians and per-example gradients are those of the model as trained."""
    return sdpa_kernel(SDPBackend.MATH)


class _ComposedWeightNorm(TorchFunctionMode):
    """``torch._weight_norm(v, g, dim)`` (``weight_norm``, hooked or parametrized) as g·v/‖v‖, the norm over every
    dimension but ``dim``, from differentiable primitives: the fused kernel's second derivatives are wrong (they
    disagree with finite differences of its gradient by O(1) in torch 2.13). Same function."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func is torch._weight_norm:
            return _composed_weight_norm(*args, **kwargs)
        return func(*args, **kwargs)


def _composed_weight_norm(v: Tensor, g: Tensor, dim: int = 0) -> Tensor:
    """``torch._weight_norm``'s function (its signature too): v·g/‖v‖, the norm over every dimension but ``dim``
    (over all of v for dim = −1, as torch's weight norm passes dim=None)."""
    if dim == -1:
        return v * (g / v.norm())
    others = [d for d in range(v.dim()) if d != dim % v.dim()]
    return v * (g / (v.norm(dim=others, keepdim=True) if others else v.abs()))


def twice_differentiable() -> contextlib.AbstractContextManager:
    """Inside the block, the model's operations in forms whose second derivatives are exact: attention in its
    math form (``math_attention``) and weight norm composed of primitives. Same function."""
    stack = contextlib.ExitStack()
    stack.enter_context(math_attention())
    stack.enter_context(_ComposedWeightNorm())
    return stack


def forked_random_state(device: torch.device) -> contextlib.AbstractContextManager:
    """Inside the block, torch's generators (the CPU's, and ``device``'s when it is a GPU) draw as they will; after
    it, they are as the caller left them (an instrument changes no global state)."""
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])


@contextlib.contextmanager
def fixed_randomness(device: torch.device, seed: int) -> Iterator[None]:
    """Run a block with torch's generator seeded by ``seed`` and restore the caller's random state afterwards:
    dropout in train mode draws the same mask each time the block runs (a fixed mask)."""
    with forked_random_state(device):
        torch.manual_seed(seed)
        yield


def generator_states(device: torch.device) -> list[Tensor]:
    """The states of torch's generators that draw on ``device`` (the CPU's, and the accelerator's)."""
    states = [torch.get_rng_state()]
    if device.type != "cpu":
        states.append(torch.get_device_module(device.type).get_rng_state(device))
    return states


def model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """The device and floating dtype of the model's first floating parameter."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.device, p.dtype
    raise ValueError("model has no floating-point parameters")


def trainable_parameters(model: nn.Module) -> dict[str, Tensor]:
    """Detached views of the parameters with ``requires_grad=True``, by name (the Hessian's coordinates)."""
    return {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}


def batch_norm_modules(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextlib.contextmanager
def preserved_model(
    model: nn.Module, train_mode: bool | None, *, freeze_batch_norm: bool = True, snapshot: bool = True
) -> Iterator[None]:
    """Run a block with the model in ``train_mode`` (None: as it is) and restore everything afterwards.

    Parameters and buffers are snapshotted and copied back, every submodule's ``training`` flag is restored.
    ``snapshot=False``, for blocks that only run the model, saves a copy of the parameters: it keeps only those
    a forward pass may write (``nn.Embedding``/``EmbeddingBag`` with ``max_norm`` renormalise their rows in
    place) and the buffers (running statistics), which are small.
    With ``freeze_batch_norm``, batch-norm layers that normalise with batch statistics (train mode) stop
    tracking running statistics inside the block: the functional transforms forbid in-place buffer updates.
    Hugging Face's gradient checkpointing (a module's ``gradient_checkpointing`` flag) is off inside the block:
    the same function, while its default reentrant form cannot be differentiated by ``torch.autograd.grad``;
    what ``torch.compile`` compiled runs eagerly (``compiled_runs_eagerly``).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if train_mode is not None and not isinstance(train_mode, bool):
        raise TypeError(f"train_mode must be True, False or None, got {train_mode!r}")
    modes = [(m, m.training) for m in model.modules()]
    checkpointed = [m for m in model.modules() if getattr(m, "gradient_checkpointing", None) is True]
    bn_tracking = [(m, m.track_running_stats) for m in batch_norm_modules(model)]
    if snapshot:
        written = list(model.parameters())
    else:
        written = [p for m in model.modules() if getattr(m, "max_norm", None) is not None for p in m.parameters()]
    with torch.no_grad():
        saved = [(t, t.detach().clone()) for t in (*written, *model.buffers())]
    try:
        if train_mode is not None:
            model.train(train_mode)
        for m in checkpointed:
            m.gradient_checkpointing = False
        for m, _ in bn_tracking:
            if freeze_batch_norm and m.training:
                m.track_running_stats = False
        with compiled_runs_eagerly():
            yield
    finally:
        for m in checkpointed:
            m.gradient_checkpointing = True
        for m, tracking in bn_tracking:
            m.track_running_stats = tracking
        for m, training in modes:
            m.training = training
        with torch.no_grad():
            for tensor, value in saved:
                tensor.copy_(value)


def has_batch_norm_in_train_mode(model: nn.Module) -> bool:
    return any(m.training for m in batch_norm_modules(model))


@dataclass(frozen=True)
class ParameterLayout:
    """Names, shapes and dtypes of the trainable parameters, to move between a flat vector (in the widest of
    their dtypes) and a dict of tensors (each in its parameter's dtype)."""

    names: tuple[str, ...]
    shapes: tuple[torch.Size, ...]
    dtypes: tuple[torch.dtype, ...]

    @classmethod
    def of(cls, params: Mapping[str, Tensor]) -> "ParameterLayout":
        return cls(tuple(params), tuple(t.shape for t in params.values()), tuple(t.dtype for t in params.values()))

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(s.numel() for s in self.shapes)

    @property
    def dim(self) -> int:
        return sum(self.sizes)

    @property
    def dtype(self) -> torch.dtype:
        """The widest of the parameters' dtypes (a model with a float64 head on a float32 body: float64)."""
        return functools.reduce(torch.promote_types, self.dtypes)

    @property
    def eps(self) -> float:
        """The machine epsilon of the least precise parameter dtype."""
        return max(torch.finfo(dtype).eps for dtype in self.dtypes)

    def flatten(self, tensors: Mapping[str, Tensor]) -> Tensor:
        return torch.cat([tensors[n].reshape(-1) for n in self.names])

    def unflatten(self, vector: Tensor) -> dict[str, Tensor]:
        pieces = torch.split(vector, self.sizes)
        return {n: p.reshape(s).to(d) for n, p, s, d in zip(self.names, pieces, self.shapes, self.dtypes, strict=True)}


def functional_loss(
    model: nn.Module, loss_fn: LossFn, buffers: Mapping[str, Tensor]
) -> Callable[[dict[str, Tensor], Tensor, Tensor], Tensor]:
    """``loss(params, x, y) = loss_fn(model_params(x), y)`` with the given parameters (torch.func style)."""

    def loss(params: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        return loss_fn(functional_call(model, (params, dict(buffers)), (x,)), y)

    return loss


def model_buffers(model: nn.Module) -> dict[str, Tensor]:
    return {name: b.detach() for name, b in model.named_buffers()}
