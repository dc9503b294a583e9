"""The user's problem (model factory, loss, data, objective) and the training budget, validated."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from sgdnoise.validation import positive_int, positive_number

Objective = Literal["accuracy", "loss"]
Regime = Literal["noise-dominated", "curvature-dominated"]
LossFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Problem:
    """What the advisor needs: a factory of fresh models, a loss (the MEAN over the batch), training and
    validation data as (x, y) tensors (examples on the first axis) and the objective to maximise
    (validation ``accuracy``: argmax of the last axis against y; or ``loss``: minimised)."""

    model_factory: Callable[[], nn.Module]
    loss_fn: LossFn
    train: tuple[Tensor, Tensor]
    validation: tuple[Tensor, Tensor]
    objective: Objective = "accuracy"

    def __post_init__(self) -> None:
        if isinstance(self.model_factory, nn.Module):
            raise TypeError(
                "model_factory must be a callable returning a fresh nn.Module (e.g. lambda: MyModel()), got an "
                f"nn.Module instance ({type(self.model_factory).__name__})"
            )
        if not callable(self.model_factory):
            raise TypeError(f"model_factory must be a callable returning an nn.Module, got {self.model_factory!r}")
        if not callable(self.loss_fn):
            raise TypeError(f"loss_fn must be callable, got {self.loss_fn!r}")
        if self.objective not in ("accuracy", "loss"):
            raise ValueError(f"objective must be 'accuracy' or 'loss', got {self.objective!r}")
        for name in ("train", "validation"):
            object.__setattr__(self, name, _checked_pair(name, getattr(self, name), self.objective))

    @classmethod
    def coerce(cls, value: Any) -> Problem:
        """A :class:`Problem`, or one built from a mapping with its field names."""
        if isinstance(value, Problem):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"model_factory", "loss_fn", "train", "validation", "objective"}
            if unknown or not {"model_factory", "loss_fn", "train", "validation"} <= set(value):
                raise ValueError(
                    "a problem needs the keys model_factory, loss_fn, train, validation (and optionally "
                    f"objective); got {sorted(value)}"
                )
            return cls(**value)
        raise TypeError(f"expected an advisor.Problem or a mapping, got {type(value).__name__}")


def _checked_pair(name: str, pair: object, objective: Objective) -> tuple[Tensor, Tensor]:
    """``pair`` as (x, y) tensors (numpy arrays converted), checked: same number (≥ 2) of examples, finite
    floating values, integer class indices y for the ``accuracy`` objective; else one error naming ``name``."""
    if not (isinstance(pair, tuple | list) and len(pair) == 2):
        raise TypeError(f"{name} must be a pair (x, y), got {type(pair).__name__}")
    if not all(isinstance(t, Tensor | np.ndarray) for t in pair):
        found = ", ".join(type(t).__name__ for t in pair)
        raise TypeError(f"{name} must be a pair (x, y) of torch tensors or numpy arrays, got ({found})")
    x, y = (torch.as_tensor(t) for t in pair)
    if x.dim() == 0 or y.dim() == 0 or x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise ValueError(f"{name}: x and y need the same number (>= 2) of examples on their first axis")
    for part, t in (("x", x), ("y", y)):
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} {part} holds non-finite values (NaN or inf)")
    if objective == "accuracy" and (y.is_floating_point() or y.is_complex()):
        raise ValueError(
            f"objective 'accuracy' needs integer class-index targets y (and a model output of one score per "
            f"class), but {name} y is {y.dtype}: pass objective='loss' for regression"
        )
    return x, y


@dataclass(frozen=True)
class Budget:
    """A training budget: ``epochs`` (examples = epochs·N at every B) or ``steps`` (updates at every B)."""

    epochs: float | None = None
    steps: int | None = None

    def __post_init__(self) -> None:
        if (self.epochs is None) == (self.steps is None):
            raise ValueError("give exactly one budget: budget_epochs or budget_steps")
        if self.epochs is not None:
            positive_number("budget_epochs", self.epochs)
        else:
            positive_int("budget_steps", self.steps)

    def steps_at(self, batch_size: int, n_train: int, fraction: float = 1.0) -> int:
        """Updates of a run at ``batch_size`` on ``n_train`` examples for ``fraction`` of the budget."""
        if self.steps is not None:
            return round(self.steps * fraction)
        assert self.epochs is not None
        return round(self.epochs * fraction * n_train / batch_size)

    def describe(self) -> str:
        if self.epochs is not None:
            return f"{self.epochs:g} epoch{'' if self.epochs == 1 else 's'}"
        return f"{self.steps} step{'' if self.steps == 1 else 's'}"
