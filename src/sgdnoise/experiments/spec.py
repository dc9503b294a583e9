"""Changing an experiment's spec from outside: ``--set KEY=VALUE`` on the command line and
``reproduce(..., overrides={...})`` in Python both go through :func:`apply_overrides`, which returns a
new spec (``dataclasses.replace``) and never touches module state.

Values given as strings (the CLI) are parsed by the field's declared type: ``int``, ``float`` (finite:
no nan or inf), ``bool`` (true/false, yes/no, 1/0), ``str``, ``Literal[...]`` (one of its values),
``X | None`` (``none`` for None) and tuples (comma-separated: ``--set batch_sizes=10,30,100``). Values
given as Python objects are checked against the same types. Every mistake is one ValueError line naming
the setting: the valid keys, the expected type, or (a value the spec's own validation refuses) the
assignments given. A repeat count (``seeds``, ``runs``) above ``MAX_REPEATS`` and a ``*_seed`` outside
[0, 2**32) are refused here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin

from sgdnoise.validation import random_seed

# The repeat counts (seeds of every grid point): a run is built per repeat and point before anything trains, so
# an absurd count would hang while the runs are made; the papers use at most 10.
REPEAT_FIELDS = ("seeds", "confirm_seeds", "runs")
MAX_REPEATS = 1000
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def spec_fields(spec: Any) -> dict[str, Any]:
    """Field name → resolved type annotation of a spec dataclass (instance or class)."""
    if not dataclasses.is_dataclass(spec):
        raise TypeError(f"a spec must be a dataclass, got {type(spec).__name__}")
    cls = spec if isinstance(spec, type) else type(spec)
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def spec_to_dict(spec: Any) -> dict[str, Any]:
    """A spec as a plain dict (for ``summary.json`` settings and store keys)."""
    if not dataclasses.is_dataclass(spec) or isinstance(spec, type):
        raise TypeError(f"spec must be a dataclass instance, got {type(spec).__name__}")
    return dataclasses.asdict(spec)


def parse_assignments(assignments: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``["a=1", "b=x,y"]`` → ``{"a": "1", "b": "x,y"}``; a malformed or repeated key is an error."""
    parsed: dict[str, str] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        if key in parsed:
            raise ValueError(f"--set {key} given twice")
        parsed[key] = value.strip()
    return parsed


def apply_overrides(spec: Any, overrides: Mapping[str, Any], *, what: str = "this experiment") -> Any:
    """A copy of ``spec`` with ``overrides`` applied (strings parsed by field type, others checked)."""
    if not overrides:
        return spec
    types_by_name = spec_fields(spec)
    changes: dict[str, Any] = {}
    for key, raw in overrides.items():
        if key not in types_by_name:
            raise ValueError(f"unknown setting {key!r} for {what}; valid keys: {', '.join(types_by_name)}")
        try:
            changes[key] = _coerce(raw, types_by_name[key])
            if key in REPEAT_FIELDS and changes[key] > MAX_REPEATS:
                raise ValueError(f"at most {MAX_REPEATS} (a run is made per repeat and grid point)")
            if key.endswith("_seed"):  # a data-subset or validation-split seed, drawn by numpy and torch
                random_seed(key, changes[key])
        except ValueError as error:
            raise ValueError(f"setting {key}={raw!r} for {what}: {error}") from None
    try:
        return dataclasses.replace(spec, **changes)
    except (TypeError, ValueError) as error:
        given = " ".join(f"--set {key}={raw if isinstance(raw, str) else repr(raw)}" for key, raw in overrides.items())
        raise ValueError(f"{given} for {what}: {error}") from None


def overridden_values(spec: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The values ``overrides`` gave the fields of ``spec`` (a result of :func:`apply_overrides`), parsed: what
    ``summary.json`` records as its ``overrides``."""
    return {key: getattr(spec, key) for key in overrides}


def _coerce(value: Any, annotation: Any) -> Any:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if type(None) in args and (value is None or (isinstance(value, str) and value.lower() in ("none", "null"))):
            return None
        errors = []
        for option in options:
            try:
                return _coerce(value, option)
            except ValueError as error:
                errors.append(str(error))
        raise ValueError("; ".join(errors))
    if origin is Literal:
        if value in args:
            return value
        raise ValueError(f"expected one of {', '.join(map(repr, args))}")
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if isinstance(items, str | bytes) or not isinstance(items, list | tuple):
            raise ValueError("expected a comma-separated list")
        element = args[0] if args else str
        if (len(args) == 2 and args[1] is Ellipsis) or len(args) <= 1:
            return tuple(_coerce(item.strip() if isinstance(item, str) else item, element) for item in items)
        if len(items) != len(args):
            raise ValueError(f"expected {len(args)} comma-separated values")
        return tuple(_coerce(item, arg) for item, arg in zip(items, args, strict=True))
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ValueError("expected true or false")
    if annotation is int or annotation is float:
        accepted, what = (int, "an integer") if annotation is int else (int | float, "a finite number")
        number = None
        if isinstance(value, accepted) and not isinstance(value, bool):
            number = annotation(value)
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                number = annotation(value)
        if number is None or (annotation is float and not math.isfinite(number)):
            raise ValueError(f"expected {what}")
        return number
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ValueError("expected a string")
    raise ValueError(f"this setting ({annotation}) cannot be changed with --set")


def describe_type(annotation: Any) -> str:
    """What ``--set`` takes for a field of this type, in words: ``int``, ``one of 'a', 'b'``, ``comma-separated
    floats``, ``int or none``."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        options = [describe_type(a) for a in args if a is not type(None)]
        return " or ".join(options + (["none"] if type(None) in args else []))
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin is tuple:
        element = args[0] if args else str
        if (len(args) == 2 and args[1] is Ellipsis) or len(args) <= 1:
            return f"comma-separated {describe_type(element)}s"
        return f"{len(args)} comma-separated values ({', '.join(describe_type(a) for a in args)})"
    return {str: "string"}.get(annotation) or getattr(annotation, "__name__", str(annotation))
