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
