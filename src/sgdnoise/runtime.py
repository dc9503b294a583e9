"""Torch's runtime: the device a run asks for, and process-wide settings changed only for the duration of a
block and then restored."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads (None: leave as is).

    Small dense linear algebra (a few hundred rows) is fastest on one thread, and several processes
    each using all cores oversubscribe the machine badly.
    """
    previous = torch.get_num_threads()
    if n is not None:
        if n < 1:
            raise ValueError(f"number of threads must be >= 1, got {n}")
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto`` (or None) picks cuda when present, else cpu; anything else must name an available device."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"invalid device {device!r}: {error}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
    return resolved
