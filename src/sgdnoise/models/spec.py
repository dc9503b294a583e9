"""The model-spec protocol, its registry (``to_dict`` ↔ ``model_spec_from_dict``) and ``build_model``."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, Self, runtime_checkable

import torch
from torch import nn

from sgdnoise.validation import registered_type


@runtime_checkable
class ModelSpec(Protocol):
    """What the engine needs of a model description."""

    def build(self) -> nn.Module: ...

    def to_dict(self) -> dict[str, Any]: ...


_SPECS: dict[str, type] = {}


def register_model_spec(cls: type) -> type:
    """Class decorator: make ``model_spec_from_dict`` know ``cls`` (keyed by its class name)."""
    _SPECS[cls.__name__] = cls
    return cls


def model_spec_from_dict(data: dict[str, Any]) -> ModelSpec:
    """Inverse of ``spec.to_dict()`` for every registered spec class."""
    return registered_type(data, _SPECS, "model spec").from_dict(data)


def spec_to_dict(spec: Any) -> dict[str, Any]:
    """A dataclass spec as a JSON-ready dict: ``{"type": class name, field: value…}``, tuples as lists."""
    fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    return {"type": type(spec).__name__, **{k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}}


def spec_kwargs(data: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments from ``spec_to_dict`` output (lists back to tuples)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k != "type"}


class DataclassSpec:
    """``to_dict`` / ``from_dict`` of a frozen-dataclass model spec (``spec_to_dict`` / ``spec_kwargs``)."""

    def to_dict(self) -> dict[str, Any]:
        return spec_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return cls(**spec_kwargs(data))


def check_image_shape(input_shape: Any) -> tuple[int, int, int]:
    """``input_shape`` as a ``(channels, height, width)`` tuple of positive ints, or a ValueError."""
    shape = tuple(input_shape) if isinstance(input_shape, tuple | list) else ()
    if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise ValueError(f"input_shape must be (channels, height, width) of positive ints, got {input_shape!r}")
    return shape  # type: ignore[return-value]


def build_model(
    spec: ModelSpec, seed: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> nn.Module:
    """``spec.build()`` with torch's CPU RNG seeded by ``seed`` (global RNG state restored afterwards),
    then moved to ``device``/``dtype``. Parameters are drawn on the CPU in float32, so the same seed
    gives the same initial model on every device and dtype."""
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"spec must have build() and to_dict(), got {type(spec).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = spec.build()
    return model.to(device=device, dtype=dtype)
