"""Tests for sgdnoise.data.subsets and sgdnoise.data.preprocessing: subsets, validation splits, label
noise, standardisation, pooling."""

import pytest
import torch

from sgdnoise.data import (
    Dataset,
    Standardizer,
    TaskData,
    average_pool,
    balanced_subset,
    first_n,
    random_subset,
    randomize_labels,
    standardize,
    stratified_subset,
    with_validation_split,
)


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 1.0])
def test_randomize_labels_fraction_is_exact(fraction: float) -> None:
    y = torch.arange(1000) % 10
    labels, randomized = randomize_labels(y, 10, fraction, torch.Generator().manual_seed(0))
    assert int(randomized.sum()) == round(fraction * 1000)
    assert torch.equal(labels[~randomized], y[~randomized])
    assert labels.dtype == torch.int64 and int(labels.min()) >= 0 and int(labels.max()) < 10


def test_randomize_labels_may_keep_or_must_change_the_true_label() -> None:
    y = torch.arange(20000) % 10
    labels, randomized = randomize_labels(y, 10, 1.0, torch.Generator().manual_seed(1))
    assert randomized.all()
    assert abs((labels == y).float().mean() - 0.1) < 0.013  # 1/K of random labels equal the true one
    changed, mask = randomize_labels(y, 10, 0.5, torch.Generator().manual_seed(1), exclude_true=True)
    assert torch.all(changed[mask] != y[mask]) and torch.equal(changed[~mask], y[~mask])
    again = randomize_labels(y, 10, 0.5, torch.Generator().manual_seed(1), exclude_true=True)
    assert torch.equal(again.labels, changed)
    with pytest.raises(ValueError, match="fraction"):
        randomize_labels(y, 10, 1.5)


def make_dataset() -> Dataset:
    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    x = torch.arange(100, dtype=torch.float32).unsqueeze(1).repeat(1, 3)
    return Dataset(x, y, 3, "toy")


def test_first_n_and_random_subset() -> None:
    ds = make_dataset()
    assert first_n(ds, 7).x[:, 0].tolist() == list(range(7))
    sub = random_subset(ds, 40, torch.Generator().manual_seed(0))
    rows = sub.x[:, 0].long()
    assert len(sub) == 40 and len(set(rows.tolist())) == 40
    assert torch.equal(sub.y, ds.y[rows])
    with pytest.raises(ValueError, match="n must be"):
        random_subset(ds, 101, torch.Generator())


def test_balanced_subset_counts_and_relabelling() -> None:
    ds = make_dataset()
    sub = balanced_subset(ds, [2, 0], 15, torch.Generator().manual_seed(0))
    assert sub.n_classes == 2 and torch.bincount(sub.y).tolist() == [15, 15]
    original = ds.y[sub.x[:, 0].long()]
    assert torch.equal(sub.y, (original == 0).long())  # classes[k] -> k: 2 -> 0, 0 -> 1
    kept = balanced_subset(ds, [1, 2], 10, torch.Generator().manual_seed(0), relabel=False)
    assert kept.n_classes == 3 and sorted(set(kept.y.tolist())) == [1, 2]
    with pytest.raises(ValueError, match="class 2 has 20"):
        balanced_subset(ds, [0, 2], 21, torch.Generator())


def test_stratified_subset_keeps_proportions() -> None:
    ds = make_dataset()
    sub = stratified_subset(ds, 10, torch.Generator().manual_seed(0))
    assert torch.bincount(sub.y, minlength=3).tolist() == [5, 3, 2]
    odd = stratified_subset(ds, 7, torch.Generator().manual_seed(0))  # quotas 3.5, 2.1, 1.4
    assert torch.bincount(odd.y, minlength=3).tolist() == [4, 2, 1]


def test_standardize_uses_training_statistics() -> None:
    train_x = torch.tensor([[1.0, 5.0], [3.0, 5.0]])
    test_x = torch.tensor([[5.0, 6.0]])
    task = TaskData(Dataset(train_x, torch.tensor([0, 1]), 2, "tr"), Dataset(test_x, torch.tensor([1]), 2, "te"), {})
    out = standardize(task)
    assert torch.equal(out.train.x, torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
    assert torch.equal(out.test.x, torch.tensor([[3.0, 1.0]]))  # (5-2)/1 and constant column only centred
    assert out.meta["standardized"]
    fitted = Standardizer.fit(train_x)
    assert torch.equal(fitted.std, torch.tensor([1.0, 1.0]))


def test_standardize_per_channel_and_every_split() -> None:
    train_x = torch.tensor([[[[0.0, 2.0]], [[1.0, 1.0]]], [[[4.0, 6.0]], [[1.0, 1.0]]]])  # [2, 2, 1, 2]
    other = torch.full((1, 2, 1, 2), 3.0)
    labels = torch.tensor([0, 1])
    task = TaskData(
        Dataset(train_x, labels, 2, "tr"),
        Dataset(other, torch.tensor([0]), 2, "te"),
        {"seed": 1},
        validation=Dataset(other, torch.tensor([1]), 2, "va"),
    )
    out = standardize(task, per="channel")
    # channel 0: values 0, 2, 4, 6 (mean 3, std √5); channel 1 constant 1 (only centred)
    expected_0 = (torch.tensor([[0.0, 2.0], [4.0, 6.0]]) - 3.0) / 5.0**0.5
    assert torch.allclose(out.train.x[:, 0, 0], expected_0) and torch.equal(out.train.x[:, 1], torch.zeros(2, 1, 2))
    assert torch.equal(out.validation.x, out.test.x) and torch.equal(out.test.x[0, 1], torch.full((1, 2), 2.0))
    assert out.meta == {"seed": 1, "standardized": "per-channel, train statistics"}
    with pytest.raises(ValueError, match="per must be"):
        Standardizer.fit(train_x, per="pixel")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[N, C, \.\.\.\]"):
        Standardizer.fit(torch.zeros(3, 4), per="channel")


def test_average_pool_flat_and_image_shapes() -> None:
    image = torch.arange(16.0).reshape(1, 4, 4)
    expected = torch.tensor([[[2.5, 4.5], [10.5, 12.5]]])
    task = TaskData(Dataset(image, torch.tensor([0]), 1, "a"), Dataset(image.reshape(1, 16), torch.tensor([0]), 1, "b"))
    pooled = average_pool(task, 2)
    assert torch.equal(pooled.train.x, expected) and torch.equal(pooled.test.x, expected.reshape(1, 4))
    assert pooled.meta == {"pooled": 2}
    with pytest.raises(ValueError, match="cannot pool"):
        average_pool(task, 3)


def test_with_validation_split_is_stratified_disjoint_and_seeded() -> None:
    ds = make_dataset()
    task = TaskData(ds, first_n(ds, 5), {"task": "toy"})
    split = with_validation_split(task, 10, seed=4)
    assert list(split.splits) == ["train", "validation", "test"]
    assert len(split.train) == 90 and len(split.validation) == 10 and split.test is task.test
    assert torch.bincount(split.validation.y, minlength=3).tolist() == [5, 3, 2]
    held, kept = split.validation.x[:, 0].long(), split.train.x[:, 0].long()
    assert sorted(held.tolist() + kept.tolist()) == list(range(100))  # a partition of the training set
    assert kept.tolist() == sorted(kept.tolist())  # the rest keeps its order
    record = split.meta["validation"]
    assert record == {"size": 10, "seed": 4, "stratified": True, "train_indices": held.tolist()}
    assert split.meta["task"] == "toy" and split.meta["n_train"] == 90
    assert torch.equal(with_validation_split(task, 10, seed=4).validation.x, split.validation.x)
    assert not torch.equal(with_validation_split(task, 10, seed=5).validation.x, split.validation.x)
    with pytest.raises(ValueError, match="already has a validation split"):
        with_validation_split(split, 5, seed=0)
    with pytest.raises(ValueError, match="size must be"):
        with_validation_split(task, 100, seed=0)
    with pytest.raises(ValueError, match="size must be >= 1"):
        with_validation_split(task, 0, seed=0)
