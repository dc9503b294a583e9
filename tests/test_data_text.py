"""python_source_windows: shifted targets, windows taken from the right part of the text, determinism, errors."""

import json
from pathlib import Path

import pytest
import torch

from sgdnoise.data import python_source_windows

TEXT = "".join(path.read_text(encoding="utf-8") for path in sorted(Path(json.__file__).parent.glob("*.py")))


def decode(windows, alphabet, row):
    inputs, targets = windows
    return "".join(alphabet[i] for i in inputs[row]) + alphabet[int(targets[row, -1])]


def test_windows_are_substrings_of_their_part_of_the_text_with_targets_shifted_by_one():
    data = python_source_windows("json", 12, 50, 20, seed=3)
    assert data.alphabet == "".join(sorted(set(TEXT))) and data.vocab == len(set(TEXT))
    split = int(0.9 * len(TEXT))
    for (inputs, targets), n in ((data.train, 50), (data.test, 20)):
        assert inputs.shape == targets.shape == (n, 12) and inputs.dtype == torch.int64
        assert torch.equal(inputs[:, 1:], targets[:, :-1])
    for row in range(50):
        assert decode(data.train, data.alphabet, row) in TEXT[:split]
    for row in range(20):
        assert decode(data.test, data.alphabet, row) in TEXT[split:]


def test_same_seed_same_windows_other_seed_other_windows():
    a, b, c = (python_source_windows("json", 8, 30, 10, seed=s) for s in (0, 0, 1))
    assert torch.equal(a.train[0], b.train[0]) and torch.equal(a.test[1], b.test[1])
    assert not torch.equal(a.train[0], c.train[0])


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("no_such_package_xyz", 8, 10, 10), {}, "cannot import package"),
        (("math", 8, 10, 10), {}, "not a package"),
        (("json", 0, 10, 10), {}, "context"),
        (("json", 8, 0, 10), {}, "n_train"),
        (("json", 8, 10, 10), {"train_fraction": 1.0}, "train_fraction"),
        (("json", 10**7, 10, 10), {}, "too short"),
    ],
)
def test_bad_arguments_are_one_clear_error(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        python_source_windows(*args, **kwargs)
