"""The user's own code behind ``sgdnoise tune`` and ``sgdnoise advise``: loading MODULE:NAME, naming what an
exception raised inside it came from, and what a tuning store's trials are of."""

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


class UserCodeError(Exception):
    """An exception raised inside the user's own module or function (``tune``, ``advise``): one line naming the
    function and the error, the traceback under ``--debug``."""


def load_function(function: str, arguments: tuple[str, ...], *, kept: str = "") -> Callable[..., Any]:
    """The user's function named MODULE:NAME (MODULE importable from the working directory), checked to take
    the positional ``arguments`` it will be given (one error line before it is called), and wrapped so that an
    exception it raises is a ``UserCodeError`` naming the call (and ``kept``: what is saved so far)."""
    import importlib
    import inspect
    import os

    module_name, _, name = function.partition(":")
    if not module_name or not name:
        raise ValueError(f"FUNCTION must be MODULE:NAME, got {function!r}")
    if module_name.endswith(".py"):
        module = Path(module_name).with_suffix("").name
        raise ValueError(
            f"FUNCTION is MODULE:NAME, a module's name and not its file: {module}:{name}, run from the directory "
            f"that holds {Path(module_name).name}"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        fn = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot load {function}: {error}") from None
    except Exception as error:  # the user's module failed while it was imported (a SyntaxError, a NameError, …)
        raise UserCodeError(f"importing {module_name} raised {type(error).__name__}: {error}") from error
    if not callable(fn):
        raise ValueError(f"{function} is not a function")
    try:
        signature = inspect.signature(fn)
    except ValueError:  # no signature to read (some builtins): the call itself tells
        signature = None
    if signature is not None:
        try:
            signature.bind(*arguments)
        except TypeError:
            takes = f"({', '.join(arguments)})" if arguments else "no arguments"
            raise ValueError(f"{function} must be callable with {takes}; its signature is {signature}") from None

    @functools.wraps(fn)
    def reported(*values: Any) -> Any:
        try:
            return fn(*values)
        except Exception as error:
            call = ", ".join(f"{a}={v!r}" for a, v in zip(arguments, values, strict=True))
            raise UserCodeError(f"{function}({call}) raised {type(error).__name__}: {error}{kept}") from error

    return reported


def user_frame(error: BaseException) -> str | None:
    """ "FILE:LINE in NAME" of the deepest frame of ``error``'s traceback in the user's code (outside sgdnoise and
    the Python installation with its packages), or None when it never passed through the user's code."""
    import sysconfig
    import traceback

    installed = [Path(p).resolve() for p in {*sysconfig.get_paths().values(), sys.prefix, sys.base_prefix}]
    ours = Path(__file__).resolve().parents[1]  # the sgdnoise package
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        path = Path(frame.filename).resolve()
        if (
            frame.filename.startswith("<")
            or path.is_relative_to(ours)
            or any(path.is_relative_to(p) for p in installed)
        ):
            continue
        found = f"{path.name}:{frame.lineno} in {frame.name}"
    return found


def function_identity(function: str) -> str:
    """MODULE:NAME with a hash of its module's file (loaded by ``load_function``): trials of an edited file are
    another function's."""
    import hashlib

    source = getattr(sys.modules.get(function.partition(":")[0]), "__file__", None)
    if source is None or not Path(source).is_file():
        return function
    return f"{function} ({Path(source).name} sha256 {hashlib.sha256(Path(source).read_bytes()).hexdigest()[:12]})"
