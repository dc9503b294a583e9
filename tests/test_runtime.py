"""The device resolver: what it accepts and rejects on machines with no accelerator, two CUDA GPUs or an
Apple GPU (torch's accelerator report is monkeypatched, so no GPU is needed)."""

import pytest
import torch

from sgdnoise.runtime import resolve_device


@pytest.mark.parametrize(
    ("accelerator", "count", "accepted", "resolved_auto"),
    [
        (None, 0, ["cpu", "cpu:0"], "cpu"),
        ("cuda", 2, ["cpu", "cuda", "cuda:0", "cuda:1"], "cuda"),
        ("mps", 1, ["cpu", "mps", "mps:0"], "cpu"),
        ("xpu", 1, ["cpu", "xpu", "xpu:0"], "cpu"),
    ],
)
def test_devices_this_machine_has_are_accepted(pretend_machine, accelerator, count, accepted, resolved_auto):
    pretend_machine(accelerator, count)
    assert [resolve_device(name) for name in accepted] == [torch.device(name) for name in accepted]
    assert resolve_device("auto") == resolve_device(None) == torch.device(resolved_auto)


@pytest.mark.parametrize(
    ("accelerator", "count", "rejected", "has"),
    [
        (None, 0, ["cuda", "cuda:0", "mps", "xpu", "meta", "cpu:3"], "only cpu"),
        ("cuda", 2, ["cuda:2", "mps", "meta", "cpu:1"], "cpu, cuda:0, cuda:1"),
        ("mps", 1, ["mps:1", "cuda", "xpu", "meta"], "cpu, mps:0"),
    ],
)
def test_devices_this_machine_lacks_are_one_error_naming_those_it_has(
    pretend_machine, accelerator, count, rejected, has
):
    pretend_machine(accelerator, count)
    for name in rejected:
        with pytest.raises(ValueError, match=f"^device '{name}' is not available; this machine has {has}$"):
            resolve_device(name)


def test_a_malformed_device_is_one_error():
    with pytest.raises(ValueError, match="invalid device 'tpu9'"):
        resolve_device("tpu9")
