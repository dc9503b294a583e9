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
    """``auto`` (or None) picks cuda when present, else cpu; anything else must name a device this machine has:
    ``cpu`` or the accelerator torch reports available (``cuda``, ``mps``, ``xpu``, …), with an index below its
    device count."""
    devices = _available_devices()
    if device is None or device == "auto":
        return torch.device("cuda" if "cuda" in devices else "cpu")
    accelerators = [f"{kind}:{index}" for kind, count in devices.items() if kind != "cpu" for index in range(count)]
    has = ", ".join(["cpu", *accelerators]) if accelerators else "only cpu"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"invalid device {device!r}: not a device name (auto, cpu, cuda:N, …); this machine has {has}"
        ) from None
    if resolved.type not in devices or (resolved.index or 0) >= devices[resolved.type]:
        raise ValueError(f"device {device!r} is not available; this machine has {has}")
    return resolved


def _available_devices() -> dict[str, int]:
    """Device type → number of devices: cpu (one) and the accelerator torch reports available, if any."""
    accelerator = torch.accelerator.current_accelerator(check_available=True)
    return {"cpu": 1} | ({accelerator.type: torch.accelerator.device_count()} if accelerator is not None else {})
