"""The argument checks public functions share: one clear ValueError naming the argument and the value."""

from __future__ import annotations

import math
import numbers


def positive_int(name: str, value: object, *, optional: bool = False) -> int | None:
    """``value`` if it is an int ≥ 1 (or None when ``optional``), else a ValueError naming ``name``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        allowed = "a positive integer or None" if optional else "a positive integer"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def positive_number(name: str, value: object) -> float:
    """``value`` as a float if it is a finite real number > 0, else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)
