"""The argument checks public functions share: one clear ValueError naming the argument and the value."""

from __future__ import annotations

import math
import numbers


def positive_int(name: str, value: object, *, minimum: int = 1, optional: bool = False) -> int | None:
    """``value`` as an int if it is an integer ≥ ``minimum`` (or None when ``optional``), else a ValueError
    naming ``name``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        allowed = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {allowed}{' or None' if optional else ''}, got {value!r}")
    return int(value)


def positive_number(name: str, value: object) -> float:
    """``value`` as a float if it is a finite real number > 0, else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)
