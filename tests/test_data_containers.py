"""Tests for sgdnoise.data.containers: Dataset checks, TaskData splits and moves."""

import pickle

import pytest
import torch

from sgdnoise.data import Dataset, TaskData


def toy(n: int, name: str) -> Dataset:
    return Dataset(torch.arange(2.0 * n).reshape(n, 2), torch.arange(n) % 2, 2, name)


def test_dataset_validation() -> None:
    with pytest.raises(ValueError, match="examples"):
        Dataset(torch.zeros(3, 2), torch.zeros(4, dtype=torch.int64), 2, "bad")
    with pytest.raises(ValueError, match="int64"):
        Dataset(torch.zeros(3, 2), torch.zeros(3, dtype=torch.int32), 2, "bad")
    with pytest.raises(ValueError, match="labels must lie"):
        Dataset(torch.zeros(3, 2), torch.tensor([0, 1, 2]), 2, "bad")


def test_taskdata_positional_calls_keep_their_meaning_and_validation_is_keyword_only() -> None:
    train, test = toy(4, "tr"), toy(2, "te")
    task = TaskData(train, test, {"seed": 3})
    assert task.meta == {"seed": 3} and task.validation is None
    assert list(task.splits) == ["train", "test"] and task.splits["test"] is test
    with pytest.raises(TypeError):
        TaskData(train, test, {}, toy(1, "va"))  # type: ignore[misc]
    with pytest.raises(TypeError, match="validation must be a Dataset"):
        TaskData(train, test, validation=torch.zeros(1))  # type: ignore[arg-type]


def test_splits_are_ordered_and_to_moves_every_split() -> None:
    task = TaskData(toy(4, "tr"), toy(2, "te"), {"k": 1}, validation=toy(3, "va"))
    assert list(task.splits) == ["train", "validation", "test"]
    assert [len(split) for split in task.splits.values()] == [4, 3, 2]
    moved = task.to(dtype=torch.float64)
    assert all(split.x.dtype == torch.float64 and split.y.dtype == torch.int64 for split in moved.splits.values())
    assert torch.equal(moved.validation.x, task.validation.x.double()) and moved.meta == task.meta
    assert pickle.loads(pickle.dumps(task)).splits.keys() == task.splits.keys()
