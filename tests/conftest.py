import pytest

from sgdnoise.runtime import torch_threads


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tests use small tensors, for which one intra-op thread is fastest and never oversubscribes a busy
    machine (two threads on a loaded 2-core machine made small models up to 300x slower)."""
    with torch_threads(1):
        yield
