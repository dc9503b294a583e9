"""Learning-rate and batch-size schedules as small composable functions of training progress.

Every schedule is a frozen dataclass, callable on the progress ``p ∈ [0, 1]`` (the fraction of the
budget consumed *before* the update it governs) and serialisable with ``to_dict`` /
``schedule_from_dict``, in the spirit of optax's schedules but indexed by progress instead of steps,
so the same schedule serves step and epoch budgets.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal

from sgdnoise.validation import positive_number, registered_type

_REGISTRY: dict[str, type[Schedule]] = {}
_EPS = 1e-9  # progress is a ratio of integers; guard floor() against 0.55 * 20 = 10.999999...


def _check_progress(p: float) -> float:
    if not 0.0 <= p <= 1.0 + _EPS:
        raise ValueError(f"schedule progress must lie in [0, 1], got {p}")
    return p


class Schedule:
    """Base class: ``schedule(p)`` is the value at progress ``p``; ``to_dict`` round-trips."""

    kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.kind = cls.__name__
        _REGISTRY[cls.__name__] = cls

    def __call__(self, p: float) -> float:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, ``{"type": ClassName, **fields}`` (nested schedules as dicts)."""
        out: dict[str, Any] = {"type": self.kind}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, Schedule):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = [v.to_dict() if isinstance(v, Schedule) else v for v in value]
            out[f.name] = value
        return out


def schedule_from_dict(data: dict[str, Any]) -> Schedule:
    """Inverse of ``Schedule.to_dict``."""
    schedule_type = registered_type(data, _REGISTRY, "schedule")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key == "type":
            continue
        if isinstance(value, dict):
            value = schedule_from_dict(value)
        elif isinstance(value, list):
            value = tuple(schedule_from_dict(v) if isinstance(v, dict) else v for v in value)
        kwargs[key] = value
    return schedule_type(**kwargs)


def as_schedule(value: float | Schedule) -> Schedule:
    """A number becomes ``Constant(number)``; a schedule is returned unchanged."""
    if isinstance(value, Schedule):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number or a Schedule, got {type(value).__name__}")
    return Constant(float(value))


@dataclass(frozen=True)
class Constant(Schedule):
    """The same value throughout training (Smith & Le 2018 §4: constant ε = 1.0)."""

    value: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ValueError(f"Constant value must be finite, got {self.value}")

    def __call__(self, p: float) -> float:
        _check_progress(p)
        return float(self.value)


@dataclass(frozen=True)
class Linear(Schedule):
    """Linear interpolation from ``start`` at p = 0 to ``end`` at p = 1 (e.g. warm-up inside ``Join``)."""

    start: float
    end: float

    def __call__(self, p: float) -> float:
        p = min(_check_progress(p), 1.0)
        return float(self.start + (self.end - self.start) * p)


@dataclass(frozen=True)
class StepDecay(Schedule):
    """Smith, Elsen & De 2020 §4 / App. B.1: hold ``initial`` for the first ``hold`` of the budget, then
    divide by ``gamma`` every ``interval`` of the budget.

    With the defaults (hold = 1/2, interval = 1/20) the first division happens at p = 0.5 and the last
    (the 10th) at p = 0.95, so the final value is ``initial · γ^-10`` (their ε_f = ε_0 γ^-10). On S
    updates the k-th division applies from update ⌈S·(10+k−1)/20⌉ (S = 9765: from 4883, then every 488
    or 489; the paper says "constant for 4882 updates, then ÷2 every 488"). ``from_final`` sets
    γ = (ε_0/ε_f)^(1/10) (§7.1).
    """

    initial: float
    gamma: float = 2.0
    hold: float = 0.5
    interval: float = 0.05

    def __post_init__(self) -> None:
        positive_number("StepDecay.initial", self.initial)
        positive_number("StepDecay.gamma", self.gamma)
        positive_number("StepDecay.interval", self.interval)
        if not 0.0 <= self.hold <= 1.0:
            raise ValueError(f"StepDecay.hold must lie in [0, 1], got {self.hold}")

    @classmethod
    def from_final(cls, initial: float, final: float, hold: float = 0.5, interval: float = 0.05) -> StepDecay:
        """The schedule that decays from ``initial`` to ``final`` over the decay phase (Smith et al. §7.1)."""
        positive_number("initial", initial)
        positive_number("final", final)
        n_decays = math.floor((1.0 - hold) / interval + _EPS)
        return cls(initial=initial, gamma=(initial / final) ** (1.0 / n_decays), hold=hold, interval=interval)

    def __call__(self, p: float) -> float:
        p = _check_progress(p)
        if p < self.hold - _EPS:
            return float(self.initial)
        n_decays = math.floor((p - self.hold) / self.interval + _EPS) + 1
        return float(self.initial / self.gamma**n_decays)


@dataclass(frozen=True)
class Cyclic(Schedule):
    """A cycle between ``low`` and ``high`` with ``period`` (a fraction of the budget), as in Jastrzębski
    et al. 2018 §4.2 and App. F.4: ``shape="triangle"`` interpolates linearly (the triangular CLR of
    Smith 2015), ``shape="discrete"`` switches between the two values every half period. ``start`` says
    which value the cycle begins at. The paper cycles lr in [0.001, 0.005] against a batch size in
    [128, 640] with equal ratio η/S at all times, i.e. a lr cycle starting "high" pairs with a batch-size
    cycle starting "low".
    """

    low: float
    high: float
    period: float
    shape: Literal["triangle", "discrete"] = "triangle"
    start: Literal["low", "high"] = "low"

    def __post_init__(self) -> None:
        positive_number("Cyclic.period", self.period)
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low <= self.high):
            raise ValueError(f"Cyclic needs finite low <= high, got low={self.low}, high={self.high}")
        if self.shape not in ("triangle", "discrete"):
            raise ValueError(f"Cyclic.shape must be 'triangle' or 'discrete', got {self.shape!r}")
        if self.start not in ("low", "high"):
            raise ValueError(f"Cyclic.start must be 'low' or 'high', got {self.start!r}")

    def __call__(self, p: float) -> float:
        p = _check_progress(p)
        phase = (p / self.period + _EPS) % 1.0  # position inside the current cycle, in [0, 1)
        if self.shape == "triangle":
            towards_other = 1.0 - abs(2.0 * phase - 1.0)  # 0 at the cycle's start, 1 at its middle
        else:
            towards_other = 0.0 if phase < 0.5 else 1.0
        first, second = (self.low, self.high) if self.start == "low" else (self.high, self.low)
        return float(first + (second - first) * towards_other)


@dataclass(frozen=True)
class Join(Schedule):
    """Piecewise composition (optax.join_schedules on progress): ``schedules[i]`` runs on
    ``[boundaries[i-1], boundaries[i])`` and sees its own progress rescaled to [0, 1]."""

    schedules: tuple[Schedule, ...]
    boundaries: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedules", tuple(self.schedules))
        object.__setattr__(self, "boundaries", tuple(float(b) for b in self.boundaries))
        if len(self.schedules) != len(self.boundaries) + 1:
            raise ValueError("Join needs exactly one more schedule than boundaries")
        edges = (0.0, *self.boundaries, 1.0)
        if any(b <= a for a, b in itertools.pairwise(edges)):
            raise ValueError(f"Join boundaries must increase strictly inside (0, 1), got {self.boundaries}")
        if not all(isinstance(s, Schedule) for s in self.schedules):
            raise TypeError("Join.schedules must all be Schedule instances")

    def __call__(self, p: float) -> float:
        p = _check_progress(p)
        edges = (0.0, *self.boundaries, 1.0)
        index = sum(1 for b in self.boundaries if p >= b - _EPS)
        lo, hi = edges[index], edges[index + 1]
        return self.schedules[index](min(max((p - lo) / (hi - lo), 0.0), 1.0))


@dataclass(frozen=True)
class Scale(Schedule):
    """``factor · schedule(p)``: e.g. ``Scale(Cyclic(1, 5, 0.1), 1e-3)``."""

    schedule: Schedule
    factor: float

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, Schedule):
            raise TypeError("Scale.schedule must be a Schedule")
        if not math.isfinite(self.factor):
            raise ValueError(f"Scale.factor must be finite, got {self.factor}")

    def __call__(self, p: float) -> float:
        return float(self.factor * self.schedule(p))
