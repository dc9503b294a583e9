"""Run configurations (JSON-serialisable, so a store can key finished runs by them) and results."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sgdnoise.engine.schedules import Schedule, as_schedule, schedule_from_dict
from sgdnoise.models import ModelSpec, model_spec_from_dict
from sgdnoise.results import RunOutcome


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines one training run (the data set is supplied separately).

    Optimiser (Smith & Le 2018 App. D, TensorFlow form): ``A ← m·A + g``, ``ω ← ω − ε·A`` with A = 0
    initially — identical to ``torch.optim.SGD(momentum=m, dampening=0)``. The loss is the mean
    cross-entropy over the minibatch plus ``l2·|ω|²/2`` over all parameters, so ``g`` includes
    ``l2·ω`` (identical to SGD's ``weight_decay=l2``).

    - ``learning_rate``: number or ``Schedule`` of progress (a number means ``Constant``).
    - ``batch_size``: number or ``Schedule`` (rounded to the nearest int, clipped to [1, N]); it is
      shared by the whole group, so runs with different batch-size schedules go to different groups.
    - budget: exactly one of ``steps`` (updates) or ``epochs`` (training stops once
      ``epochs·N`` examples have been processed). Progress p is ``step/steps`` or
      ``examples_processed/(epochs·N)``, evaluated before each update.
    - ``seed``: initial parameters (``models.build_model``) and data order (per-run generator).
    - ``eval_points``: metrics at ``eval_points`` log-spaced steps in [1, total], plus step 0 and the
      last step (``0`` = only those two).
    - ``augmentation``: a name from ``sgdnoise.data.augment.AUGMENTATIONS`` (e.g. ``"crop-flip"``) applied
      to every training minibatch on the training device, with random numbers from a per-run generator
      seeded from ``seed``; None (default) trains on the examples as they are. It is part of the run's
      dict (and store key) only when set, so runs without augmentation keep the keys they always had.
    """

    model: ModelSpec
    learning_rate: Schedule
    batch_size: Schedule
    steps: int | None = None
    epochs: float | None = None
    momentum: float = 0.0
    l2: float = 0.0
    seed: int = 0
    eval_points: int = 20
    augmentation: str | None = None

    def __init__(
        self,
        model: ModelSpec,
        learning_rate: float | Schedule,
        batch_size: float | Schedule,
        *,
        steps: int | None = None,
        epochs: float | None = None,
        momentum: float = 0.0,
        l2: float = 0.0,
        seed: int = 0,
        eval_points: int = 20,
        augmentation: str | None = None,
    ) -> None:
        if not isinstance(model, ModelSpec):
            raise TypeError(f"model must be a model spec (build(), to_dict()), got {type(model).__name__}")
        set_ = object.__setattr__
        set_(self, "model", model)
        set_(self, "learning_rate", as_schedule(learning_rate))
        set_(self, "batch_size", as_schedule(batch_size))
        if (steps is None) == (epochs is None):
            raise ValueError("give exactly one budget: steps=... or epochs=...")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise ValueError(f"steps must be a positive int, got {steps!r}")
        if epochs is not None and not (isinstance(epochs, int | float) and math.isfinite(epochs) and epochs > 0):
            raise ValueError(f"epochs must be a positive number, got {epochs!r}")
        if not (isinstance(momentum, int | float) and 0.0 <= momentum < 1.0):
            raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
        if not (isinstance(l2, int | float) and math.isfinite(l2) and l2 >= 0.0):
            raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        if isinstance(eval_points, bool) or not isinstance(eval_points, int) or eval_points < 0:
            raise ValueError(f"eval_points must be an int >= 0, got {eval_points!r}")
        if augmentation is not None:
            from sgdnoise.data.augment import AUGMENTATIONS

            if augmentation not in AUGMENTATIONS:
                raise ValueError(
                    f"augmentation must be None or one of {', '.join(AUGMENTATIONS)}, got {augmentation!r}"
                )
        set_(self, "steps", steps)
        set_(self, "epochs", None if epochs is None else float(epochs))
        set_(self, "momentum", float(momentum))
        set_(self, "l2", float(l2))
        set_(self, "seed", seed)
        set_(self, "eval_points", eval_points)
        set_(self, "augmentation", augmentation)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable; ``TrainConfig.from_dict(c.to_dict()) == c``."""
        return {
            "model": self.model.to_dict(),
            "learning_rate": self.learning_rate.to_dict(),
            "batch_size": self.batch_size.to_dict(),
            "steps": self.steps,
            "epochs": self.epochs,
            "momentum": self.momentum,
            "l2": self.l2,
            "seed": self.seed,
            "eval_points": self.eval_points,
        } | ({"augmentation": self.augmentation} if self.augmentation is not None else {})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        model = model_spec_from_dict(data.pop("model"))
        learning_rate = schedule_from_dict(data.pop("learning_rate"))
        batch_size = schedule_from_dict(data.pop("batch_size"))
        return cls(model, learning_rate, batch_size, **data)

    def group_key(self) -> tuple[Any, ...]:
        """Runs with equal keys can train together in one group (same model shape, batch-size
        schedule, budget, evaluation steps and augmentation); they may differ in lr, momentum, l2 and seed."""
        return (
            repr(self.model.to_dict()),
            repr(self.batch_size.to_dict()),
            self.steps,
            self.epochs,
            self.eval_points,
            self.augmentation,
        )


def group_configs(configs: list[TrainConfig], max_group_size: int | None = None) -> list[list[TrainConfig]]:
    """Partition ``configs`` into groups that ``train_group`` accepts, keeping the input order inside
    each group; groups larger than ``max_group_size`` are split."""
    if max_group_size is not None and max_group_size < 1:
        raise ValueError(f"max_group_size must be >= 1, got {max_group_size}")
    by_key: dict[tuple[Any, ...], list[TrainConfig]] = {}
    for config in configs:
        by_key.setdefault(config.group_key(), []).append(config)
    groups: list[list[TrainConfig]] = []
    for members in by_key.values():
        size = max_group_size or len(members)
        groups.extend(members[i : i + size] for i in range(0, len(members), size))
    return groups


@dataclass(frozen=True, kw_only=True)
class RunResult(RunOutcome):
    """What ``train_group`` returns for one run: its outcome, its ``config`` and, when asked for
    (``keep_state``), ``state_dict``, the final ``nn.Module`` state (CPU; not stored)."""

    config: TrainConfig
    state_dict: dict[str, Any] | None = None


@dataclass(frozen=True)
class GroupProgress:
    """Passed to the progress callback: updates done by the group so far, runs finished/diverged."""

    steps_done: int
    total_steps: int
    runs_total: int
    runs_finished: int
    runs_diverged: int
