import errno
import os
import tempfile

import pytest
import torch

from sgdnoise.runtime import torch_threads


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tests use small tensors, for which one intra-op thread is fastest and never oversubscribes a busy
    machine (two threads on a loaded 2-core machine made small models up to 300x slower)."""
    with torch_threads(1):
        yield


@pytest.fixture
def pretend_machine(monkeypatch):
    """``pretend_machine(accelerator, count)``: torch reports ``count`` devices of type ``accelerator`` (None: no
    accelerator), so device checks are tested without a GPU."""

    def pretend(accelerator: str | None, count: int = 0) -> None:
        reported = None if accelerator is None else torch.device(accelerator)
        monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda check_available=False: reported)
        monkeypatch.setattr(torch.accelerator, "device_count", lambda: count)

    return pretend


@pytest.fixture
def unwritable_directories(monkeypatch):
    """Creating a temporary file raises what it raises in a read-only directory (tests may run as root, who may
    write anywhere)."""

    def refused(**_):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refused)


@pytest.fixture
def output_mode():
    """The mode an output file gets under the current umask: 0666 less the umask."""
    current = os.umask(0)
    os.umask(current)
    return 0o666 & ~current
