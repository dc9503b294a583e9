"""Private: the contributions of one recorded use to its parameters' per-example gradients, from the use's
input and output gradient: the layer rules (``nn.Linear``/``F.linear``, ``nn.Embedding``, ``nn.LayerNorm``,
``nn.Conv2d``) and, for any other call, vmap of its vector-Jacobian product (``perexample``'s module docstring)."""

import functools
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import vjp, vmap
from torch.nn import functional as F
from torch.nn.modules import module as torch_module
from torch.nn.utils.stateless import _reparametrize_module
from torch.utils import _pytree as pytree

from sgdnoise.instruments._batches import math_attention
from sgdnoise.instruments._draws import Draws
from sgdnoise.instruments._uses import Call


@dataclass(frozen=True)
class OuterSum:
    """Σ_k u_k v_kᵀ per example: ``rows`` [n, K, r] (dense u) or [n, K] (indices of one-hot u), ``cols`` [n, K, c]."""

    rows: Tensor
    cols: Tensor

    @property
    def terms(self) -> int:
        return self.cols.shape[1]

    def block(self, start: int, stop: int, shape: torch.Size, into: Tensor | None = None) -> Tensor:
        """The formed per-example gradients of examples start:stop, written into ``into`` when given."""
        rows, cols = self.rows[start:stop], self.cols[start:stop]
        m, c = stop - start, cols.shape[2]
        if into is not None:
            into = into.view(m, -1, c)
        if rows.is_floating_point():
            u = rows.transpose(1, 2)
            if self.terms == 1:  # an outer product: no reduction, written once
                return torch.mul(u, cols, out=into).view(m, *shape) if into is not None else (u * cols).view(m, *shape)
            return torch.matmul(u, cols, out=into).view(m, *shape) if into is not None else (u @ cols).view(m, *shape)
        formed = into.zero_() if into is not None else cols.new_zeros(m, shape[0], c)
        return formed.scatter_add_(1, rows[:, :, None].expand(-1, -1, c), cols).view(m, *shape)

    def total(self, shape: torch.Size) -> Tensor:
        rows, cols = self.rows.flatten(0, 1), self.cols.flatten(0, 1)
        if rows.is_floating_point():
            return (rows.T @ cols).reshape(shape)
        return cols.new_zeros(shape[0], cols.shape[1]).index_add_(0, rows, cols).reshape(shape)


def row_gram(a: Tensor, b: Tensor) -> Tensor:
    """[n, Ka, Kb] inner products u_k·u_l of two sets of rows, dense or one-hot."""
    if a.is_floating_point() and b.is_floating_point():
        return a @ b.transpose(1, 2)
    if a.is_floating_point():
        return a.gather(2, b[:, None, :].expand(-1, a.shape[1], -1))
    if b.is_floating_point():
        return row_gram(b, a).transpose(1, 2)
    return a[:, :, None] == b[:, None, :]


@dataclass(frozen=True)
class Formed:
    """Per-example gradients formed block by block: ``block(start, stop)`` → [stop − start, *shape];
    ``footprint``: elements per example the block function holds at once (0: those of the parameter alone)."""

    block_fn: Callable[[int, int], Tensor]
    footprint: int = 0

    def block(self, start: int, stop: int, shape: torch.Size, into: Tensor | None = None) -> Tensor:
        formed = self.block_fn(start, stop)
        return into.copy_(formed) if into is not None else formed


Contribution = OuterSum | Formed


def _sequence(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1, t.shape[-1])


def _linear_contributions(params: Mapping[str, Tensor], a: Tensor, delta: Tensor) -> dict[str, Contribution]:
    a3, d3 = _sequence(a), _sequence(delta)
    found: dict[str, Contribution] = {}
    if "weight" in params:
        found["weight"] = OuterSum(d3, a3)
    if "bias" in params:
        found["bias"] = Formed(lambda s, e: d3[s:e].sum(1))
    return found


def _embedding_contributions(module: nn.Embedding, indices: Tensor, delta: Tensor) -> dict[str, Contribution]:
    d3 = delta.reshape(delta.shape[0], -1, delta.shape[-1])
    idx = indices.expand(delta.shape[0], *indices.shape[1:]).reshape(delta.shape[0], -1)
    if module.padding_idx is not None:  # the padding row receives no gradient
        d3 = d3 * (idx != module.padding_idx)[:, :, None]
    return {"weight": OuterSum(idx, d3)}


def _layer_norm_contributions(module: nn.LayerNorm, a: Tensor, delta: Tensor) -> dict[str, Contribution]:
    """y = x̂ ⊙ γ + β with x̂ the input normalised over its last dimensions: ∇_γ ℓ_i = Σ_t δ_{i,t} ⊙ x̂_{i,t},
    ∇_β ℓ_i = Σ_t δ_{i,t}."""
    shape = module.normalized_shape
    normalized = F.layer_norm(a, shape, None, None, module.eps)
    n = delta.shape[0]
    d3, x3 = delta.reshape(n, -1, *shape), normalized.reshape(n, -1, *shape)
    return {
        "weight": Formed(lambda s, e: (d3[s:e] * x3[s:e]).sum(1)),
        "bias": Formed(lambda s, e: d3[s:e].sum(1)),
    }


def _conv2d_contributions(module: nn.Conv2d, a: Tensor, delta: Tensor) -> dict[str, Contribution]:
    n = delta.shape[0]
    d3 = delta.reshape(n, delta.shape[1], -1)
    found: dict[str, Contribution] = {}

    def weight(s: int, e: int) -> Tensor:
        patches = F.unfold(a[s:e], module.kernel_size, module.dilation, module.padding, module.stride)
        return torch.einsum("nol,nkl->nok", d3[s:e], patches).reshape(e - s, *module.weight.shape)

    found["weight"] = Formed(weight)
    found["bias"] = Formed(lambda s, e: d3[s:e].sum(2))
    return found


def map_examples(fn: Callable, inputs: tuple, start: int, draws: Draws, *, vmappable: bool = True) -> Any:
    """``fn`` over the leading dimension of every tensor in ``inputs`` (examples ``start``, ``start + 1``, …),
    each example seeing its part of ``draws``: by ``vmap``, or one example at a time — the same numbers, slower —
    for a model vmap cannot batch (a recurrent kernel, data-dependent control flow, ``.item()``, an operation
    without a batching rule)."""
    n = pytree.tree_leaves(inputs)[0].shape[0]
    vmap_error = None
    if vmappable:
        try:
            with draws.replayed(start, start + n, batched=True):
                return vmap(fn, randomness="different")(*inputs)
        except RuntimeError as error:  # torch's errors under vmap do not all say "vmap": try the loop
            vmap_error = error
    rows = []
    for j in range(n):
        with draws.replayed(start + j, start + j + 1, batched=False):
            try:
                rows.append(fn(*pytree.tree_map(lambda t, j=j: t[j], inputs)))
            except RuntimeError as error:
                if "setup_context" in str(error):
                    raise ValueError(
                        "the model calls a torch.autograd.Function without a setup_context staticmethod, which "
                        "torch.func (per-example gradients) cannot transform: give it setup_context (torch's "
                        "'Extending torch.func with autograd.Function'), or use the instruments that need only "
                        "backward passes (curvature, interpolation)"
                    ) from error
                raise error from vmap_error  # the model's own error, not vmap's
    if vmap_error is not None:
        reason = str(vmap_error).splitlines()[0][:200]
        warnings.warn(
            f"per-example gradients one example at a time (exact, slower): vmap cannot batch this model ({reason})",
            stacklevel=3,
        )
    return pytree.tree_map(lambda *parts: torch.stack(parts), *rows)


def _forward_and_hooks(module: nn.Module, args: tuple, kwargs: dict) -> object:
    """The module's call as the recorded pass made it from ``args``, its inputs after the forward pre-hooks (which
    are not run again): ``forward``, then the forward hooks, global and the module's, in torch's order."""
    result = module.forward(*args, **kwargs)
    hooks = (*torch_module._global_forward_hooks.items(), *module._forward_hooks.items())
    for key, hook in hooks:
        with_kwargs = key in module._forward_hooks_with_kwargs or key in torch_module._global_forward_hooks_with_kwargs
        changed = hook(module, args, kwargs, result) if with_kwargs else hook(module, args, result)
        if changed is not None:
            result = changed
    return result


def vjp_contributions(call: Call, delta: Tensor, draws: Draws) -> dict[str, Contribution]:
    """Per-example vector-Jacobian products of the call alone w.r.t. the parameters it is responsible for, with
    the random draws (dropout masks) the call made in the batched forward pass."""
    module = call.module
    params = {name: p.detach() for name, p in call.params.items()}
    constants = {name: p.detach() for name, p in module.named_parameters()}  # no graph outside the transform
    leaves, spec = pytree.tree_flatten((call.args, call.kwargs))
    batched = call.per_example

    def one(example_leaves: tuple[Tensor, ...], example_delta: Tensor) -> dict[str, Tensor]:
        filled = list(leaves)
        for i, t in zip(batched, example_leaves, strict=True):
            filled[i] = t.unsqueeze(0)
        args, kwargs = pytree.tree_unflatten(filled, spec)

        def output(p: dict[str, Tensor]) -> Tensor:
            with _reparametrize_module(module, {**constants, **p}, tie_weights=True):
                result = _forward_and_hooks(module, args, kwargs)
            return result[0] if isinstance(result, tuple) else result

        _, pullback = vjp(output, params)
        return pullback(example_delta.unsqueeze(0))[0]

    last: dict[tuple[int, int], dict[str, Tensor]] = {}

    def block(s: int, e: int) -> dict[str, Tensor]:  # one vmap serves every parameter of the call
        if (s, e) not in last:
            last.clear()
            with math_attention():
                last[s, e] = map_examples(one, (tuple(leaves[i][s:e] for i in batched), delta[s:e]), s, draws)
        return last[s, e]

    footprint = sum(p.numel() for p in params.values())
    return {name: Formed(lambda s, e, name=name: block(s, e)[name], footprint) for name in params}


def closed_form(call: Call) -> Callable[[Tensor], dict[str, Contribution]] | None:
    """The layer rule giving a call's contributions from its output gradient δ, or None: vmap of its VJP (also
    when forward hooks changed the output the rules assume, ``Call.hooked``)."""
    if call.hooked:
        return None
    module, a = call.module, call.args[0] if call.args else None
    own = set(call.params) <= {"weight", "bias"}

    def owned(found: dict[str, Contribution]) -> dict[str, Contribution]:
        return {k: v for k, v in found.items() if k in call.params}

    if module is None or (type(module).forward is nn.Linear.forward and own and isinstance(a, Tensor)):
        return functools.partial(_linear_contributions, call.params, a)
    if (
        type(module).forward is nn.LayerNorm.forward
        and own
        and isinstance(a, Tensor)
        and a.shape[0] == call.output.shape[0]
    ):
        return lambda delta: owned(_layer_norm_contributions(module, a, delta))
    if (
        type(module).forward is nn.Embedding.forward
        and own
        and module.max_norm is None
        and not module.scale_grad_by_freq  # its gradient depends on the batch's token counts: vmap
        and isinstance(a, Tensor)
    ):
        return functools.partial(_embedding_contributions, module, a)
    if (
        type(module) is nn.Conv2d
        and own
        and module.groups == 1
        and module.padding_mode == "zeros"
        and isinstance(module.padding, tuple)
        and isinstance(a, Tensor)
        and a.dim() == 4
    ):
        return lambda delta: owned(_conv2d_contributions(module, a, delta))
    return None
