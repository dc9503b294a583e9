"""Measuring trained runs: what is measured (a ``Measurement``) kept apart from when (a ``Probe`` during
training, or once on the final model).

A measurement is any picklable object with a ``name``, ``to_dict()`` and ``__call__(model, task) ->
{quantity: value}``; the concrete ones (‖H‖_F, λ_max, accuracy with batch-norm statistics
re-estimated) live in ``sgdnoise.measurements``. The engine calls it on an ``nn.Module`` rebuilt from a
run's stacked state (on the training device and dtype, in eval mode) and the run's ``TaskData``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from sgdnoise.data import TaskData
from sgdnoise.engine.config import TrainConfig
from sgdnoise.models import build_model


@runtime_checkable
class Measurement(Protocol):
    """Something measured on a model and its task: ``{quantity: value}`` (floats; NaN for missing)."""

    name: str

    def to_dict(self) -> dict[str, Any]: ...

    def __call__(self, model: nn.Module, task: TaskData) -> Mapping[str, float]: ...


def check_measurements(measurements: Sequence[Measurement]) -> tuple[Measurement, ...]:
    """``measurements`` as a tuple, each one checked against the protocol, names unique."""
    checked = tuple(measurements)
    for measurement in checked:
        if not isinstance(measurement, Measurement) or not isinstance(measurement.name, str) or not measurement.name:
            raise TypeError(
                f"a measurement needs a non-empty str `name`, `to_dict()` and `__call__(model, task)`, "
                f"got {type(measurement).__name__}"
            )
    names = [m.name for m in checked]
    if len(set(names)) != len(names):
        raise ValueError(f"measurement names must be unique (they key the stored values), got {names}")
    return checked


@dataclass(frozen=True)
class Probe:
    """When to take ``measurement`` during training — exactly one of:

    - ``steps``: after these numbers of updates (0 = at initialisation);
    - ``epochs``: at the first update after which at least this many epochs of examples were processed;
    - ``every_epochs``: at epochs k·every_epochs, k = 0, 1, … within the budget.

    Steps beyond the run's budget are ignored; e.g. Jastrzębski et al. 2018 Table 1 measure ‖H‖_F along
    training: ``Probe(HessianNorm(), every_epochs=1.0)``.
    """

    measurement: Measurement
    steps: tuple[int, ...] = ()
    epochs: tuple[float, ...] = ()
    every_epochs: float | None = None

    def __post_init__(self) -> None:
        check_measurements([self.measurement])
        given = [bool(self.steps), bool(self.epochs), self.every_epochs is not None]
        if sum(given) != 1:
            raise ValueError("a Probe needs exactly one of steps=..., epochs=... or every_epochs=...")
        steps = tuple(self.steps)
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in steps):
            raise ValueError(f"Probe steps must be ints >= 0, got {self.steps!r}")
        epochs = tuple(float(e) for e in self.epochs)
        if any(not math.isfinite(e) or e < 0 for e in epochs):
            raise ValueError(f"Probe epochs must be finite numbers >= 0, got {self.epochs!r}")
        every = self.every_epochs
        if every is not None and not (isinstance(every, int | float) and math.isfinite(every) and every > 0):
            raise ValueError(f"Probe every_epochs must be a positive number, got {every!r}")
        object.__setattr__(self, "steps", tuple(sorted(set(steps))))
        object.__setattr__(self, "epochs", tuple(sorted(set(epochs))))
        object.__setattr__(self, "every_epochs", None if every is None else float(every))

    def schedule(self, epochs_before_step: np.ndarray) -> list[int]:
        """The steps (in [0, total]) at which to measure, given ``epochs_before_step[s]`` = epochs of
        examples processed before update s (``StepPlan.epochs``, length total + 1)."""
        total = len(epochs_before_step) - 1
        if self.steps:
            return [s for s in self.steps if s <= total]
        marks = self.epochs
        if self.every_epochs is not None:
            count = math.floor(epochs_before_step[-1] / self.every_epochs + 1e-9)
            marks = tuple(k * self.every_epochs for k in range(count + 1))
        found = np.searchsorted(epochs_before_step, np.asarray(marks) - 1e-12, side="left")
        return sorted({int(s) for s in found if s <= total})

    def to_dict(self) -> dict[str, Any]:
        return {
            "measurement": self.measurement.to_dict(),
            "steps": list(self.steps),
            "epochs": list(self.epochs),
            "every_epochs": self.every_epochs,
        }


def model_from_state(
    config: TrainConfig, state: Mapping[str, torch.Tensor], device: torch.device, dtype: torch.dtype
) -> nn.Module:
    """A run's ``nn.Module`` (built from its spec) holding ``state``, in eval mode."""
    model = build_model(config.model, config.seed, device=device, dtype=dtype)
    model.load_state_dict({name: value.to(device) for name, value in state.items()})
    return model.eval()


def measure(model: nn.Module, task: TaskData, measurements: Sequence[Measurement]) -> dict[str, dict[str, float]]:
    """``{name: {quantity: value}}`` of every measurement on ``model`` (each starts from eval mode)."""
    values: dict[str, dict[str, float]] = {}
    for measurement in measurements:
        model.eval()
        result = measurement(model, task)
        if not isinstance(result, Mapping):
            raise TypeError(f"measurement {measurement.name!r} returned {type(result).__name__}, expected a mapping")
        values[measurement.name] = {str(quantity): float(value) for quantity, value in result.items()}
    return values


def measure_state(
    config: TrainConfig,
    state: Mapping[str, torch.Tensor],
    task: TaskData,
    measurements: Sequence[Measurement],
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> dict[str, dict[str, float]]:
    """Measure a trained run from its kept weights (e.g. a measurement added after the run finished)."""
    if not state:
        raise ValueError("measure_state needs a non-empty state dict")
    device = torch.device(device) if device is not None else next(iter(state.values())).device
    return measure(model_from_state(config, state, device, dtype), task, check_measurements(measurements))
