"""Private: which call of a forward pass is responsible for each use of a trainable parameter (the recorder of
``perexample``'s rules 1–4, with the inputs that hold examples tracked from the model's input)."""

import contextlib
import functools
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.modules import module as torch_module
from torch.nn.utils.rnn import PackedSequence
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree

from sgdnoise.instruments._batches import math_attention


@dataclass
class Call:
    """A use site: a module call (``module``) or a functional linear (``module`` None), with the parameters it
    is responsible for (``params``: the module's local name → parameter; "weight"/"bias" for F.linear)."""

    module: nn.Module | None
    start: int
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    output: Tensor | None = None
    version: int = 0
    stop: int = 0
    params: dict[str, Tensor] = field(default_factory=dict)
    # positions, in pytree.tree_leaves((args, kwargs)), of the inputs that hold examples (n leading)
    per_example: tuple[int, ...] = ()
    # what ``forward`` returned (its version), before the user's forward hooks; ``hooked``: they changed it (or
    # global forward hooks ran, which run before the recorder can look), so no layer rule applies to ``output``
    returned: object = None
    returned_version: int = 0
    hooked: bool = False

    def contains(self, other: "Call") -> bool:
        return self.start < other.start and other.stop < self.stop


# what may be done with a module's output computed once for the batch and expanded to one copy per example
# (``Recorder._leave``) without changing the forward pass: read its metadata, carry it (a cast, a copy), or
# combine it elementwise with the examples, where it broadcasts as it did before
_METADATA = {Tensor.dim, Tensor.size, Tensor.is_floating_point, Tensor.is_complex}
_METADATA_ATTRIBUTES = {
    "shape", "dtype", "device", "ndim", "requires_grad", "is_leaf", "layout", "is_cuda", "grad_fn", "_version",
}  # fmt: skip
_CARRIES = {Tensor.to, Tensor.float, Tensor.double, Tensor.half, Tensor.bfloat16, Tensor.type_as, Tensor.contiguous}
_BROADCASTS = {
    torch.add, Tensor.add, Tensor.add_, Tensor.__add__, Tensor.__radd__, Tensor.__iadd__,
    torch.sub, Tensor.sub, Tensor.sub_, Tensor.__sub__, Tensor.__rsub__, Tensor.__isub__,
    torch.mul, Tensor.mul, Tensor.mul_, Tensor.__mul__, Tensor.__rmul__, Tensor.__imul__,
    torch.div, Tensor.div, Tensor.div_, Tensor.__truediv__, Tensor.__itruediv__,
}  # fmt: skip


def refuse_packed_sequence(module: nn.Module, args: tuple) -> None:
    """A forward pre-hook: a recurrent layer given a PackedSequence is one clear error (torch.func cannot run the
    packed kernel, even on one example: "Cannot access data pointer of Tensor that doesn't have storage")."""
    if isinstance(module, nn.RNNBase) and args and isinstance(args[0], PackedSequence):
        raise ValueError(
            f"the model runs {type(module).__name__} over a PackedSequence (pack_padded_sequence), which torch.func "
            "cannot differentiate per example: give the recurrent layer the padded batch instead (and read each "
            "sequence's output at its last real step), or use the instruments that need only backward passes "
            "(curvature, interpolation)"
        )


@contextlib.contextmanager
def packed_sequences_refused(model: nn.Module) -> Iterator[None]:
    """Inside the block, ``refuse_packed_sequence`` guards the model's recurrent layers."""
    handles = [
        m.register_forward_pre_hook(refuse_packed_sequence) for m in model.modules() if isinstance(m, nn.RNNBase)
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _local_names(module: nn.Module, *, recurse: bool) -> dict[int, str]:
    return {id(p): name for name, p in module.named_parameters(recurse=recurse)}


class _TensorSet:
    """Tensors by identity, held weakly: one leaves the set when it is freed (its id may then be reused)."""

    def __init__(self) -> None:
        self._refs: dict[int, weakref.ref] = {}

    def add(self, t: Tensor) -> None:
        self._refs[id(t)] = weakref.ref(t, functools.partial(self._forget, id(t)))

    def _forget(self, key: int, _: weakref.ref) -> None:
        self._refs.pop(key, None)

    def __contains__(self, t: object) -> bool:
        ref = self._refs.get(id(t)) if isinstance(t, Tensor) else None
        return ref is not None and ref() is t

    def __bool__(self) -> bool:
        return bool(self._refs)


class Recorder(TorchFunctionMode):
    """Attributes every use of a trainable parameter during one forward pass (rules 1–4 of the module doc)."""

    def __init__(self, model: nn.Module, names: Mapping[int, str], n: int, *, expand_shared: bool = True):
        super().__init__()
        self.n = n
        # a module output computed once for the batch ([1, …]) is expanded to one copy per example, so that its
        # output gradient is per example; ``expansion_changed_the_pass`` when it was then used otherwise than
        # _METADATA, _CARRIES or _BROADCASTS allow (a norm over it, a reshape): the pass must be made again
        # without expanding (its parameters then take the whole-model vmap)
        self.expand_shared = expand_shared
        self.expanded_any = False
        self.expansion_changed_the_pass = False
        self._copies = _TensorSet()  # the expanded outputs and what carries them
        self.trainable = {id(p): p for p in model.parameters() if id(p) in names}
        self.open: list[Call] = []
        self.calls: list[Call] = []
        self.exact_path: set[int] = set()  # ids of parameters whose gradients come from the whole-model vmap
        self.drew_from_a_generator = False  # a torch.Generator passed to an operation (its state may not tell)
        self.clock = 0
        self._batched = _TensorSet()  # tensors computed from the model's input
        self._direct: dict[int, dict[int, str]] = {}
        self._handles = []
        for module in model.modules():
            self._direct[id(module)] = _local_names(module, recurse=False)
            self._handles.append(module.register_forward_pre_hook(self._enter))
            self._handles.append(module.register_forward_hook(self._note_returned, prepend=True))
            self._handles.append(module.register_forward_hook(self._leave, with_kwargs=True))

    def mark_batched(self, tree: object) -> None:
        """Tensors in ``tree`` hold examples (the model's input, or anything computed from it)."""
        for t in _tensors(tree):
            self._batched.add(t)

    def is_batched(self, t: object) -> bool:
        return t in self._batched

    def remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def _enter(self, module: nn.Module, args: tuple) -> None:
        refuse_packed_sequence(module, args)
        self.open.append(Call(module, self.tick()))

    def _note_returned(self, module: nn.Module, args: tuple, output: object) -> None:
        call = self.open[-1]
        call.returned = _primary(output)
        call.returned_version = call.returned._version if isinstance(call.returned, Tensor) else 0

    def _leave(self, module: nn.Module, args: tuple, kwargs: dict, output: object) -> object:
        call = self.open.pop()
        call.stop = self.tick()
        primary = _primary(output)
        call.hooked = bool(torch_module._global_forward_hooks) or not (
            call.returned is primary and getattr(primary, "_version", 0) == call.returned_version
        )
        call.returned = None
        if not call.params:
            return None
        rest = output[1:] if isinstance(output, tuple) else ()
        returned = None
        if (
            not isinstance(primary, Tensor)
            or primary.dim() == 0
            or any(isinstance(t, Tensor) and t.requires_grad for t in pytree.tree_leaves(rest))
        ):
            self._give_up(call)
            return None
        leaves = pytree.tree_leaves((args, kwargs))
        if not (primary.shape[0] == self.n and self.is_batched(primary)):
            if primary.shape[0] != 1 or any(self.is_batched(t) for t in leaves):
                self._give_up(call)  # e.g. a table looked up with positions [T] when T happens to equal n
                return None
            if not self.expand_shared:
                self._give_up(call)
                return None
            # computed once for the whole batch and broadcast (e.g. a position embedding): give each example
            # its own copy, so that its output gradient is per example
            primary = primary.expand(self.n, *primary.shape[1:])
            self.mark_batched(primary)
            self._track_expanded(primary)
            returned = (primary, *rest) if isinstance(output, tuple) else primary
            call.per_example = tuple(
                i for i, t in enumerate(leaves) if isinstance(t, Tensor) and t.dim() and t.shape[0] == 1
            )
        else:
            examples = [i for i, t in enumerate(leaves) if self.is_batched(t) and t.dim()]
            call.per_example = tuple(i for i in examples if leaves[i].shape[0] == self.n)
            # other inputs computed from the examples are shared if they have one leading row and no dimension
            # of n (a mask [1, 1, L, L]); else they hold the examples along another dimension ([L, n, d])
            if any(leaves[i].shape[0] != 1 or self.n in leaves[i].shape for i in examples if i not in call.per_example):
                self._give_up(call)
                return None
        detach = _detached if returned is None else self._expanded
        call.args, call.kwargs = pytree.tree_map(detach, (args, kwargs))
        call.output, call.version = primary, primary._version
        self.calls.append(call)
        return returned

    def _expanded(self, leaf: object) -> object:
        if isinstance(leaf, Tensor) and leaf.dim() and leaf.shape[0] == 1:
            return leaf.detach().expand(self.n, *leaf.shape[1:])
        return _detached(leaf)

    def _track_expanded(self, t: Tensor) -> None:
        self.expanded_any = True
        self._copies.add(t)

    def is_expanded(self, t: object) -> bool:
        return t in self._copies

    def _check_expanded_use(self, func: Callable, leaves: list[Tensor], result: object) -> None:
        """Whether ``func`` on an expanded output keeps the pass what it was (see ``__init__``)."""
        if func in _METADATA or _attribute_name(func) in _METADATA_ATTRIBUTES:  # .shape, .dtype, .device, …
            return
        if func in _CARRIES and isinstance(result, Tensor):
            self._track_expanded(result)
            return
        others = [t for t in leaves if not self.is_expanded(t)]
        if func in _BROADCASTS and isinstance(result, Tensor) and result.dim() and result.shape[0] == self.n:
            if not any(self.is_batched(t) and t.dim() and t.shape[0] == self.n for t in others):
                self._track_expanded(result)  # still one row for all examples, copied
            return
        self.expansion_changed_the_pass = True

    def _give_up(self, call: Call) -> None:
        self.exact_path.update(id(p) for p in call.params.values())

    def __torch_function__(self, func: Callable, types: tuple, args: tuple = (), kwargs: dict | None = None) -> object:
        kwargs = kwargs or {}
        if isinstance(kwargs.get("generator"), torch.Generator):
            self.drew_from_a_generator = True
        if func is F.scaled_dot_product_attention and _dropout_p(args, kwargs) > 0:
            with math_attention():  # its dropout mask a plain draw, recorded for the passes that re-compute examples
                result = func(*args, **kwargs)
        else:
            result = func(*args, **kwargs)
        leaves = list(_tensors((args, kwargs)))
        if self._copies and any(self.is_expanded(t) for t in leaves):
            self._check_expanded_use(func, leaves, result)
        if any(self.is_batched(t) for t in leaves):
            self.mark_batched(result)
        used = {id(t): t for t in leaves if id(t) in self.trainable}
        if used and any(t.requires_grad for t in _tensors(result)):
            self._attribute(func, args, kwargs, result, used)
        return result

    def _attribute(self, func: Callable, args: tuple, kwargs: dict, result: object, used: dict[int, Tensor]) -> None:
        innermost = self.open[-1] if self.open else None
        direct = self._direct[id(innermost.module)] if innermost is not None else {}
        linear = self._functional_linear(func, args, kwargs, result, direct)
        for key, p in used.items():
            if key in direct:
                innermost.params[direct[key]] = p
            elif linear is not None and any(q is p for q in linear.params.values()):
                continue
            elif innermost is not None and key in (contained := _local_names(innermost.module, recurse=True)):
                innermost.params[contained[key]] = p
            else:
                self.exact_path.add(key)
        if linear is not None:
            self.calls.append(linear)

    def _functional_linear(
        self, func: Callable, args: tuple, kwargs: dict, result: object, direct: Mapping[int, str]
    ) -> Call | None:
        """An ``F.linear`` on a batch whose weight or bias is a parameter the innermost module does not hold."""
        if func is not F.linear:
            return None
        named = dict(zip(("input", "weight", "bias"), args, strict=False)) | kwargs
        h = named["input"]
        if not (isinstance(result, Tensor) and self.is_batched(h) and h.dim() >= 2 and h.shape[0] == self.n):
            return None
        params = {
            k: named[k] for k in ("weight", "bias") if id(named.get(k)) in self.trainable and id(named[k]) not in direct
        }
        if not params:
            return None
        stamp = self.tick()
        return Call(None, stamp, (h.detach(),), {}, result, result._version, stamp, params, per_example=(0,))


def _attribute_name(func: Callable) -> str | None:
    """The name of the tensor attribute a ``__get__`` reads (``shape``, ``T``, …), None for other functions."""
    if getattr(func, "__name__", "") != "__get__":
        return None
    return getattr(getattr(func, "__self__", None), "__name__", None)


def _primary(output: object) -> object:
    """A module's main output: the first element of a tuple."""
    return output[0] if isinstance(output, tuple) and output else output


def _dropout_p(args: tuple, kwargs: dict) -> float:
    """``dropout_p`` of a ``F.scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, …)`` call."""
    return float(args[4] if len(args) > 4 else kwargs.get("dropout_p", 0.0))


def _tensors(tree: object) -> Iterator[Tensor]:
    """The tensors in a torch operation's arguments or results: tensors, and lists, tuples and dicts of them
    (a faster walk than ``pytree.tree_leaves`` for what torch functions take and return)."""
    if isinstance(tree, Tensor):
        yield tree
    elif isinstance(tree, list | tuple):
        for item in tree:
            yield from _tensors(item)
    elif isinstance(tree, dict):
        for item in tree.values():
            yield from _tensors(item)


def _detached(leaf: object) -> object:
    return leaf.detach() if isinstance(leaf, Tensor) else leaf
