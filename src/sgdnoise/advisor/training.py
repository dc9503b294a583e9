"""The training loop every run shares (pilot scan runs and the benchmark's sweep): SGD with momentum under
SED's step-decay schedule, divergence detection, validation."""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from sgdnoise.advisor.problem import LossFn, Problem
from sgdnoise.engine.schedules import StepDecay
from sgdnoise.instruments._batches import forked_random_state

DIVERGENCE_FACTOR = 10.0  # a run whose training loss exceeds this × its initial loss has diverged


def _model(problem: Problem, seed: int, device: torch.device) -> nn.Module:
    torch.manual_seed(seed)
    model = problem.model_factory()
    if not isinstance(model, nn.Module):
        raise ValueError(f"model_factory must return an nn.Module, got {type(model).__name__}")
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(
            f"the model ({type(model).__name__}) has no trainable parameters: there is nothing to advise on"
        )
    return model.to(device)


def as_model_data(data: tuple[Tensor, Tensor], model: nn.Module) -> tuple[Tensor, Tensor]:
    """``data`` on the model's device, floating tensors in its floating dtype (integer ids and labels kept)."""
    device, dtype = next(((p.device, p.dtype) for p in model.parameters() if p.is_floating_point()), (None, None))
    return tuple(t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype) for t in data)  # type: ignore[return-value]


def fresh_model(problem: Problem, seed: int, device: torch.device) -> nn.Module:
    """The pilot's first model, from a factory checked to build a new module on every call (a factory returning
    one shared module would make every scan run continue the last), with the model and loss run on two
    training and two validation examples: a user's mistake there is one ValueError naming the data."""
    model = _model(problem, seed, device)
    with forked_random_state(device):
        other = problem.model_factory()
    if not isinstance(other, nn.Module):
        raise ValueError(f"model_factory must return an nn.Module, got {type(other).__name__} on its second call")
    if other is model or {id(p) for p in model.parameters()} & {id(p) for p in other.parameters()}:
        raise ValueError(
            "model_factory must build a new module on every call (e.g. lambda: MyModel()): it returned the "
            "same module, or modules sharing parameters, twice"
        )
    pairs = {"training": problem.train, "validation": problem.validation}
    # the training pair keeps its graph: its loss must carry a gradient for SGD to train
    outputs = {
        name: _on_two(name, lambda data=data, name=name: _outputs_of_two(model, data, grad=name == "training"))
        for name, data in pairs.items()
    }
    check_accuracy_output(model, problem)
    losses = {name: _loss_on_two(name, problem.loss_fn, output, y) for name, (output, y) in outputs.items()}
    if not (isinstance(losses["training"], Tensor) and losses["training"].requires_grad):
        raise ValueError(
            "loss_fn's loss does not depend on the model's parameters (is the output detached, or taken through "
            ".item() or numpy?): SGD could not train it"
        )
    return model


def _on_two(name: str, run: Callable[[], Any]) -> Any:
    """``run()``; an error from the user's model or loss there (not one of ours) as a ValueError naming the data."""
    try:
        return run()
    except ValueError:
        raise
    except Exception as error:
        raise ValueError(
            f"the model and loss_fn fail on two {name} examples: {type(error).__name__}: {error}"
        ) from error


def _loss_on_two(name: str, loss_fn: LossFn, output: object, y: Tensor) -> Any:
    """``loss_fn(output, y)`` on two examples; a loss that broadcasts the output against targets of another
    shape (torch's "Using a target size … different to the input size": MSE on (n, 1) vs (n,) averages all n²
    pairs) is a ValueError, as training would silently minimise that other loss."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loss = _on_two(name, lambda: loss_fn(output, y))
    for warning in caught:
        if str(warning.message).startswith("Using a target size"):
            shape = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
            raise ValueError(
                f"loss_fn broadcasts the model's output of shape {shape} against {name} targets of shape "
                f"{tuple(y.shape)} (torch: {str(warning.message).split('. ')[0]}): give them one shape, e.g. "
                "model(x).squeeze(-1) or y.unsqueeze(-1)"
            )
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return loss


def _outputs_of_two(model: nn.Module, data: tuple[Tensor, Tensor], *, grad: bool = False) -> tuple[object, Tensor]:
    """The model's outputs (eval mode, torch's random state kept, with a graph when ``grad``) on the first two
    examples of ``data``, with their targets."""
    was_training = model.training
    model.eval()
    try:
        with forked_random_state(next(model.parameters()).device), torch.set_grad_enabled(grad):
            x, y = as_model_data((data[0][:2], data[1][:2]), model)
            return model(x), y
    finally:
        model.train(was_training)


def check_accuracy_output(model: nn.Module, problem: Problem) -> None:
    """For the ``accuracy`` objective: the model's output on two validation examples must be a tensor holding
    one score per class on a last axis beyond y's shape (accuracy: argmax of that axis against y), else a
    ValueError."""
    if problem.objective != "accuracy":
        return
    output, y = _outputs_of_two(model, problem.validation)
    if not isinstance(output, Tensor):
        raise ValueError(
            f"objective 'accuracy' needs the model to return a tensor of class scores, got {type(output).__name__} "
            "(a Hugging Face model: wrap it to return model(x).logits)"
        )
    shape = tuple(output.shape)
    if shape[:-1] != tuple(y.shape) or shape[-1] < 2:
        raise ValueError(
            f"objective 'accuracy' needs a model output of one score per class, shape y.shape + (classes,): got "
            f"{shape} for y of shape {tuple(y.shape)}; pass objective='loss' for regression"
        )
    for name, (_, labels) in (("training", problem.train), ("validation", problem.validation)):
        if int(labels.min()) < 0 or int(labels.max()) >= shape[-1]:
            raise ValueError(
                f"{name} y holds labels from {int(labels.min())} to {int(labels.max())}, but the model scores "
                f"{shape[-1]} classes: labels must be class indices 0 to {shape[-1] - 1}"
            )


@torch.no_grad()
def evaluate(model: nn.Module, loss_fn: LossFn, data: tuple[Tensor, Tensor], chunk: int = 1024) -> tuple[float, float]:
    """Mean loss and accuracy (argmax of the last axis against y, over every element of y; 0 when the output is
    not a tensor of class scores, e.g. a tuple under ``objective="loss"``) on ``data``."""
    was_training = model.training
    model.eval()
    x, y = as_model_data(data, model)
    loss_sum, correct = 0.0, 0.0
    for lo in range(0, x.shape[0], chunk):
        out = model(x[lo : lo + chunk])
        n = min(chunk, x.shape[0] - lo)
        loss_sum += float(loss_fn(out, y[lo : lo + chunk])) * n
        if isinstance(out, Tensor) and out.dim() == y.dim() + 1:
            correct += float((out.argmax(-1) == y[lo : lo + chunk]).float().mean()) * n
    model.train(was_training)
    return loss_sum / x.shape[0], correct / x.shape[0]


def train_run(
    problem: Problem,
    *,
    batch_size: int,
    lr_eff: float,
    momentum: float,
    steps: int,
    seed: int,
    device: torch.device,
    probe: Callable[[nn.Module], None] | None = None,
    probe_steps: Sequence[int] = (),
) -> tuple[nn.Module | None, float | None]:
    """SGD with momentum (``torch.optim.SGD``, lr ε = ε_eff·(1−m)) for ``steps`` updates on shuffled
    minibatches (a new permutation every epoch), SED's step-decay schedule; → (model, validation score) or
    (None, None) when the loss became non-finite or exceeded ``DIVERGENCE_FACTOR`` × its first value.
    ``probe(copy of the model)`` runs before each update in ``probe_steps``. Deterministic given ``seed``;
    torch's global random state is left unchanged."""
    n = problem.train[0].shape[0]
    schedule = StepDecay(lr_eff * (1.0 - momentum))
    with forked_random_state(device):
        model = _model(problem, seed, device)
        x, y = as_model_data(problem.train, model)
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=schedule.initial, momentum=momentum)
        generator = torch.Generator().manual_seed(seed + 1_000_003)
        order, position, first = torch.randperm(n, generator=generator), 0, None
        for step in range(steps):
            if position + batch_size > n:
                order, position = torch.randperm(n, generator=generator), 0
            index = order[position : position + batch_size].to(device)
            position += batch_size
            for group in optimizer.param_groups:
                group["lr"] = schedule(step / steps)
            if probe is not None and step in probe_steps:
                probe(copy.deepcopy(model))
            loss = problem.loss_fn(model(x[index]), y[index])
            value = float(loss.detach())
            first = value if first is None else first
            if not math.isfinite(value) or value > DIVERGENCE_FACTOR * max(first, 1e-12):
                return None, None
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    loss_value, accuracy = evaluate(model, problem.loss_fn, problem.validation)
    if not math.isfinite(loss_value):
        return None, None
    return model, (accuracy if problem.objective == "accuracy" else loss_value)
