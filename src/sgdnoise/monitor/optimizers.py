"""What the monitor reads from its optimizer: which update rule it is (SGD, Adam, AdamW), Adam's
preconditioner, each parameter group's learning rate relative to the first (``step_ratios``), the weight decay
its gradient carries (``gradient_weight_decay``), and the parameters it moves."""

import contextlib
import warnings
from collections.abc import Collection, Iterator

import torch
from torch import Tensor, nn


def optimizer_kind(optimizer: torch.optim.Optimizer | None) -> str:
    """ "SGD" or "Adam"/"AdamW"; TypeError for an optimizer whose noise and stability the monitor cannot state,
    ValueError for one that maximises."""
    if optimizer is not None and any(group.get("maximize", False) for group in optimizer.param_groups):
        raise ValueError(
            "the optimizer has maximize=True: the monitor states the noise and stability of minimising loss_fn; "
            "give it the loss the optimizer minimises (the negated objective) and maximize=False"
        )
    if optimizer is None or isinstance(optimizer, torch.optim.SGD):
        return "SGD"
    if isinstance(optimizer, torch.optim.AdamW):
        return "AdamW"
    if isinstance(optimizer, torch.optim.Adam):
        return "Adam"
    raise TypeError(
        f"NoiseMonitor knows torch.optim.SGD, Adam and AdamW, not {type(optimizer).__name__}: pass one of those, "
        "or no optimizer and lr=/momentum= to step() for SGD's quantities"
    )


def adam_preconditioner(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Tensor] | None:
    """Adam's diagonal P = √v̂ + ε, v̂ = v/(1 − β₂^t) (``max_exp_avg_sq`` with amsgrad), from the optimizer's
    state, for each trainable parameter it has stepped (one without state, never given a gradient or not held
    by the optimizer, has not moved); None before its first step."""
    groups = {id(p): group for group in optimizer.param_groups for p in group["params"]}
    diagonal: dict[str, Tensor] = {}
    for name, p in model.named_parameters():
        state = optimizer.state.get(p, {})
        if not p.requires_grad or "exp_avg_sq" not in state:
            continue
        group = groups[id(p)]
        second = state["max_exp_avg_sq"] if group.get("amsgrad") else state["exp_avg_sq"]
        corrected = second / (1 - group["betas"][1] ** float(state["step"]))
        diagonal[name] = (corrected.sqrt() + group["eps"]).detach()
    return diagonal or None


def step_ratios(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """Each trainable parameter the optimizer holds in a group with ε > 0 → its group's ε over the reference ε
    (the first group's; the largest when the first group's is 0); while every group is at ε = 0 (a warm-up's
    start), every parameter it holds → 1. Heavy ball with a step ε_i per coordinate on a quadratic is stable iff
    λ_max(DH) < 2(1 + m)/ε_ref, D = diag(ε_i/ε_ref): the sharpness of P⁻¹H, P = D⁻¹ (for Adam,
    P = diag(√v̂ + ε)·D⁻¹ against its threshold at η_ref)."""
    rates = {id(p): float(group["lr"]) for group in optimizer.param_groups for p in group["params"]}
    first = float(optimizer.param_groups[0]["lr"])
    reference = first if first > 0 else max(rates.values(), default=0.0)
    return {
        name: rates[id(p)] / reference if reference > 0 else 1.0
        for name, p in model.named_parameters()
        if p.requires_grad and id(p) in rates and (rates[id(p)] > 0 or reference == 0)
    }


def sgd_dampening(dampening: float, momentum: float) -> float:
    """The dampening d that torch's SGD applies: to its momentum buffer only, so none at m = 0 (then the step
    is ε·g whatever d is); with momentum the step is heavy ball at ε(1 − d)."""
    return dampening if momentum > 0 else 0.0


def gradient_weight_decay(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """Each trainable parameter → its group's weight decay λ where the optimizer adds λθ to the gradient (SGD,
    Adam): the step then follows the loss plus ½λ|θ|², whose Hessian is H + λI. Decoupled decay (AdamW, or
    Adam's ``decoupled_weight_decay``: θ ← θ − ηλθ outside the preconditioner) is left out. Empty when no group
    decays."""
    decays = {
        id(p): float(group.get("weight_decay", 0.0))
        for group in optimizer.param_groups
        if not group.get("decoupled_weight_decay", False)
        for p in group["params"]
    }
    return {
        name: decays[id(p)] for name, p in model.named_parameters() if p.requires_grad and decays.get(id(p), 0.0) > 0
    }


def warn_if_groups_differ(optimizer: torch.optim.Optimizer | None) -> None:
    """The monitor states one update rule: momentum (β₁), dampening and Nesterov of the first parameter group
    (each group's ε enters the curvature reading); say so when other groups differ there."""
    if optimizer is None:
        return
    first = optimizer.param_groups[0]
    rule = [key for key in ("momentum", "dampening", "nesterov", "betas") if key in first]
    differ = sorted({key for group in optimizer.param_groups[1:] for key in rule if group.get(key) != first[key]})
    if differ:
        warnings.warn(
            f"the optimizer's parameter groups differ in {', '.join(differ)}: the monitor's temperature, noise "
            "scale and stability threshold use the first group's",
            UserWarning,
            stacklevel=3,
        )


@contextlib.contextmanager
def trainable_only(model: nn.Module, names: Collection[str]) -> Iterator[None]:
    """Within the block only the named parameters require gradients (the Hessian's coordinates); every other
    trainable parameter is held fixed, and requires gradients again afterwards."""
    held_fixed = [p for name, p in model.named_parameters() if p.requires_grad and name not in names]
    try:
        for p in held_fixed:
            p.requires_grad_(False)
        yield
    finally:
        for p in held_fixed:
            p.requires_grad_(True)
