"""Per-example gradients and their norms from layer inputs and output gradients (one forward, one backward).

For a loss reduced by the mean over n examples that do not interact (no batch norm in train mode), one backward
pass gives δ_i = n·∂L/∂y_i = ∂ℓ_i/∂y_i at every layer output y. From the layer input a:

* ``nn.Linear`` (y = aWᵀ + b): ∇_W ℓ_i = Σ_t δ_{i,t} a_{i,t}ᵀ and ∇_b ℓ_i = Σ_t δ_{i,t} over any extra
  dimensions t; without extra dimensions ‖∇_W ℓ_i‖² = ‖a_i‖²·‖δ_i‖², so the norm never forms the gradient
  (Goodfellow 2015, "Efficient per-example gradient computations").
* ``nn.Conv2d`` (groups = 1, zero padding): the same outer product over the unfolded input patches (im2col).
* any other module holding trainable parameters: ``torch.func.vmap`` of the vector-Jacobian product of that
  module alone, at its recorded inputs, with cotangent δ_i.

``layer_statistics`` returns ``None`` when the rules do not apply (a module called with non-tensor arguments,
returning a non-tensor, or whose output is modified in place); callers then vmap over the whole model.
"""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call, vjp, vmap
from torch.nn import functional as F

from sgdnoise.instruments._batches import LossFn


def check_mean_reduced(loss_fn: LossFn, loss: Tensor, outputs: Tensor, targets: Tensor) -> None:
    """Raise ValueError unless ``loss`` is a scalar equal to the size-weighted mean of its two halves' losses.

    A sum-reduced loss gives the sum of the halves instead (about twice the weighted mean), a loss with
    ``reduction='none'`` is not a scalar.
    """
    if loss.dim() != 0:
        raise ValueError(f"loss_fn must return a scalar (the mean over the batch), got shape {tuple(loss.shape)}")
    n = outputs.shape[0]
    if n < 2:
        return
    half = n // 2
    with torch.no_grad():
        first, second = loss_fn(outputs[:half], targets[:half]), loss_fn(outputs[half:], targets[half:])
        parts = (half * first + (n - half) * second) / n
    if not torch.isclose(parts, loss.detach(), rtol=1e-3, atol=1e-7):
        raise ValueError(
            "loss_fn must be the MEAN of the per-example losses (e.g. reduction='mean'): the loss of a batch "
            f"({float(loss.detach()):.6g}) is not the size-weighted mean of its two halves' ({float(parts):.6g})"
        )


@dataclass(frozen=True)
class _Call:
    module: nn.Module
    inputs: tuple[Tensor, ...]
    output: Tensor
    version: int


@dataclass(frozen=True)
class LayerStatistics:
    """Per-example results of one chunk: ``sq_norms`` ‖∇ℓ_i‖² over all trainable parameters ``[n]``, and
    ``gradient_sum`` ``{name: Σ_i ∇ℓ_i}``."""

    sq_norms: Tensor
    gradient_sum: dict[str, Tensor]


def _module_params(module: nn.Module) -> dict[str, Tensor]:
    return {local: p for local, p in module.named_parameters(recurse=False) if p.requires_grad}


def _record_calls(model: nn.Module, x: Tensor) -> tuple[Tensor, list[_Call] | None]:
    owners = [m for m in model.modules() if _module_params(m)]
    calls: list[_Call] = []
    supported = True

    def hook(module: nn.Module, args: tuple, output: object) -> None:
        nonlocal supported
        if args and isinstance(output, Tensor) and all(isinstance(a, Tensor) for a in args):
            calls.append(_Call(module, tuple(a.detach() for a in args), output, output._version))
        else:
            supported = False

    handles = [m.register_forward_hook(hook) for m in owners]
    try:
        outputs = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return outputs, calls if supported else None


def _linear_rule(module: nn.Linear, a: Tensor, delta: Tensor) -> dict[str, Tensor]:
    n = a.shape[0]
    a3, d3 = a.reshape(n, -1, a.shape[-1]), delta.reshape(n, -1, delta.shape[-1])
    grads = {"weight": torch.einsum("nto,nti->noi", d3, a3), "bias": d3.sum(1)}
    return {k: v for k, v in grads.items() if k in _module_params(module)}


def _conv2d_rule(module: nn.Conv2d, a: Tensor, delta: Tensor) -> dict[str, Tensor]:
    n = a.shape[0]
    patches = F.unfold(a, module.kernel_size, module.dilation, module.padding, module.stride)
    d3 = delta.reshape(n, delta.shape[1], -1)
    grads = {"weight": torch.einsum("nol,nkl->nok", d3, patches).reshape(n, *module.weight.shape), "bias": d3.sum(2)}
    return {k: v for k, v in grads.items() if k in _module_params(module)}


def _vjp_rule(module: nn.Module, inputs: tuple[Tensor, ...], delta: Tensor) -> dict[str, Tensor]:
    params = {k: v.detach() for k, v in _module_params(module).items()}

    def one(example_inputs: tuple[Tensor, ...], example_delta: Tensor) -> dict[str, Tensor]:
        batched = tuple(t.unsqueeze(0) for t in example_inputs)
        _, pullback = vjp(lambda p: functional_call(module, p, batched), params)
        return pullback(example_delta.unsqueeze(0))[0]

    return vmap(one, randomness="different")(inputs, delta)


def _call_gradients(call: _Call, delta: Tensor) -> dict[str, Tensor]:
    module, a = call.module, call.inputs[0]
    if type(module) is nn.Linear:
        return _linear_rule(module, a, delta)
    if (
        type(module) is nn.Conv2d
        and module.groups == 1
        and module.padding_mode == "zeros"
        and isinstance(module.padding, tuple)
        and a.dim() == 4
    ):
        return _conv2d_rule(module, a, delta)
    return _vjp_rule(module, call.inputs, delta)


def layer_statistics(
    model: nn.Module,
    loss_fn: LossFn,
    x: Tensor,
    y: Tensor,
    names: Mapping[int, str],
    *,
    out: Mapping[str, Tensor] | None = None,
) -> LayerStatistics | None:
    """Per-example gradient norms and sums of one chunk by the layer rules; with ``out`` (``{name: [n, *shape]}``,
    e.g. views into one [n, P] buffer) also the per-example gradients, written straight into it.

    ``names`` maps ``id(parameter)`` to its name for every trainable parameter. The model must already be in
    the mode to evaluate (batch norm in eval mode). ``None``: the rules do not apply to this model.
    """
    outputs, calls = _record_calls(model, x)
    loss = loss_fn(outputs, y)
    check_mean_reduced(loss_fn, loss, outputs, y)
    if calls is None or any(c.output._version != c.version for c in calls):
        return None
    n = x.shape[0]
    deltas = torch.autograd.grad(loss * n, [c.output for c in calls], allow_unused=True)
    uses: dict[int, int] = defaultdict(int)
    for call in calls:
        for p in _module_params(call.module).values():
            uses[id(p)] += 1
    sq_norms = outputs.new_zeros(n)
    gradient_sum: dict[str, Tensor] = {}
    gradients: dict[str, Tensor] = {}  # materialised per-example gradients of the parameters not done in closed form
    for call, delta in zip(calls, deltas, strict=True):
        delta = torch.zeros_like(call.output) if delta is None else delta.detach()
        params = _module_params(call.module)
        a = call.inputs[0]
        if type(call.module) is nn.Linear and a.dim() == 2 and all(uses[id(p)] == 1 for p in params.values()):
            delta_sq = delta.square().sum(1)
            if "weight" in params:
                name = names[id(params["weight"])]
                sq_norms = sq_norms + a.square().sum(1) * delta_sq
                gradient_sum[name] = delta.T @ a
                if out is not None:
                    torch.mul(delta[:, :, None], a[:, None, :], out=out[name])
            if "bias" in params:
                name = names[id(params["bias"])]
                sq_norms = sq_norms + delta_sq
                gradient_sum[name] = delta.sum(0)
                if out is not None:
                    out[name].copy_(delta)
            continue
        for local, grad in _call_gradients(call, delta).items():
            name = names[id(params[local])]
            gradients[name] = gradients[name] + grad if name in gradients else grad
    for name, grad in gradients.items():
        sq_norms = sq_norms + grad.flatten(1).square().sum(1)
        gradient_sum[name] = grad.sum(0)
        if out is not None:
            out[name].copy_(grad)
    by_name = {name: p for p in model.parameters() if (name := names.get(id(p))) is not None}
    for name in by_name.keys() - gradient_sum.keys():  # trainable parameters the loss does not depend on
        gradient_sum[name] = torch.zeros_like(by_name[name])
        if out is not None:
            out[name].zero_()
    return LayerStatistics(sq_norms.detach(), gradient_sum)
