"""The training loop every run shares (pilot scan runs and the benchmark's sweep): SGD with momentum under
SED's step-decay schedule, divergence detection, validation."""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn

from sgdnoise.advisor.problem import LossFn, Problem
from sgdnoise.engine.schedules import StepDecay

DIVERGENCE_FACTOR = 10.0  # a run whose training loss exceeds this × its initial loss has diverged


@contextlib.contextmanager
def _own_rng(device: torch.device) -> Iterator[None]:
    """Leave torch's global random state as it was (CONTRIBUTING: no global state changed)."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield


def _model(problem: Problem, seed: int, device: torch.device) -> nn.Module:
    torch.manual_seed(seed)
    model = problem.model_factory()
    if not isinstance(model, nn.Module):
        raise TypeError(f"model_factory must return an nn.Module, got {type(model).__name__}")
    return model.to(device)


def as_model_data(data: tuple[Tensor, Tensor], model: nn.Module) -> tuple[Tensor, Tensor]:
    """``data`` on the model's device, floating tensors in its floating dtype (integer ids and labels kept)."""
    device, dtype = next(((p.device, p.dtype) for p in model.parameters() if p.is_floating_point()), (None, None))
    return tuple(t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype) for t in data)  # type: ignore[return-value]


@torch.no_grad()
def check_accuracy_output(model: nn.Module, problem: Problem) -> None:
    """For the ``accuracy`` objective: the model's output on two validation examples must hold one score per
    class on a last axis beyond y's shape (accuracy: argmax of that axis against y), else a ValueError."""
    if problem.objective != "accuracy":
        return
    was_training = model.training
    model.eval()
    x, y = as_model_data((problem.validation[0][:2], problem.validation[1][:2]), model)
    shape = tuple(model(x).shape)
    model.train(was_training)
    if shape[:-1] != tuple(y.shape) or shape[-1] < 2:
        raise ValueError(
            f"objective 'accuracy' needs a model output of one score per class, shape y.shape + (classes,): got "
            f"{shape} for y of shape {tuple(y.shape)}; pass objective='loss' for regression"
        )


@torch.no_grad()
def evaluate(model: nn.Module, loss_fn: LossFn, data: tuple[Tensor, Tensor], chunk: int = 1024) -> tuple[float, float]:
    """Mean loss and accuracy (argmax of the last axis against y, over every element of y) on ``data``."""
    was_training = model.training
    model.eval()
    x, y = as_model_data(data, model)
    loss_sum, correct = 0.0, 0.0
    for lo in range(0, x.shape[0], chunk):
        out = model(x[lo : lo + chunk])
        n = min(chunk, x.shape[0] - lo)
        loss_sum += float(loss_fn(out, y[lo : lo + chunk])) * n
        if out.dim() == y.dim() + 1:
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
    with _own_rng(device):
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
