"""The argument checks public functions share: one clear ValueError naming the argument and the value."""

from __future__ import annotations

import math
import numbers
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


def positive_int(name: str, value: object, *, minimum: int = 1, optional: bool = False) -> int | None:
    """``value`` as an int if it is an integer ≥ ``minimum`` (or None when ``optional``), else a ValueError
    naming ``name``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        allowed = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {allowed}{' or None' if optional else ''}, got {value!r}")
    return int(value)


def positive_number(name: str, value: object, *, allow_zero: bool = False) -> float:
    """``value`` as a float if it is a finite real number > 0 (≥ 0 with ``allow_zero``), else a ValueError
    naming ``name``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}")
    return float(value)


def random_seed(name: str, value: object, *, bits: int = 32) -> int:
    """``value`` as an int if it is an integer in [0, 2**bits) (a seed), else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < 2**bits:
        raise ValueError(f"{name} must be an integer in [0, 2**{bits}), got {value!r}")
    return int(value)


def momentum_coefficient(name: str, value: object, *, why: str = "") -> float:
    """``value`` as a float if it is a real number in [0, 1) (a momentum or dampening coefficient), else a
    ValueError naming ``name`` (and ``why``, the formula that needs it)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1){f' ({why})' if why else ''}, got {value!r}")
    return float(value)


def registered_type(data: object, registry: Mapping[str, type], what: str) -> type:
    """The class that ``data``'s ``"type"`` names in ``registry`` (a serialised ``{"type": ClassName, …}``);
    a dict without a known type is a ValueError naming ``what`` and the known types."""
    if not isinstance(data, dict) or "type" not in data:
        raise ValueError(f"a {what} dict needs a 'type' key, got {data!r}")
    if data["type"] not in registry:
        raise ValueError(f"unknown {what} type {data['type']!r}; known: {sorted(registry)}")
    return registry[data["type"]]


def ensure_writable_directory(path: str | os.PathLike[str]) -> None:
    """Create the directory ``path`` (and its parents) if missing and check that a file can be created in it;
    else a ValueError naming it. Called before a run starts, so it does not fail when it writes its results."""
    directory = Path(path)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError as error:
        raise ValueError(
            f"cannot write to the output directory {str(directory)!r}: {error.strerror or error}"
        ) from None
