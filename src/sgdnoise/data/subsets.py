"""Subsets (first, random, balanced, stratified), validation splits and label randomisation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from sgdnoise.data.containers import Dataset, TaskData

__all__ = [
    "RandomizedLabels",
    "balanced_indices",
    "balanced_subset",
    "first_n",
    "random_subset",
    "randomize_labels",
    "stratified_indices",
    "stratified_subset",
    "with_validation_split",
]


def _check_count(n: int, available: int, what: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{what} must be an int, got {type(n).__name__}")
    if not 0 <= n <= available:
        raise ValueError(f"{what} must be in [0, {available}], got {n}")


def _seeded(seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return torch.Generator().manual_seed(seed)


def first_n(ds: Dataset, n: int) -> Dataset:
    """The first ``n`` examples in the dataset's order."""
    _check_count(n, len(ds), "n")
    return ds.select(torch.arange(n))


def random_subset(ds: Dataset, n: int, generator: torch.Generator) -> Dataset:
    """``n`` examples drawn uniformly without replacement, kept in their original order."""
    _check_count(n, len(ds), "n")
    return ds.select(torch.randperm(len(ds), generator=generator)[:n].sort().values)


def balanced_indices(y: Tensor, classes: Sequence[int], per_class: int, generator: torch.Generator) -> Tensor:
    """Indices of ``per_class`` random examples of each class in ``classes``, ascending order."""
    if len(set(classes)) != len(classes) or not classes:
        raise ValueError(f"classes must be a non-empty list of distinct labels, got {list(classes)}")
    y = y.cpu()
    chosen = []
    for c in classes:
        members = torch.nonzero(y == c).flatten()
        _check_count(per_class, len(members), f"per_class (class {c} has {len(members)} examples)")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return torch.cat(chosen).sort().values


def balanced_subset(
    ds: Dataset, classes: Sequence[int], per_class: int, generator: torch.Generator, relabel: bool = True
) -> Dataset:
    """``per_class`` random examples of each listed class; ``relabel`` maps classes[k] to label k."""
    index = balanced_indices(ds.y, classes, per_class, generator)
    subset = ds.select(index)
    if not relabel:
        return subset
    mapping = torch.full((ds.n_classes,), -1, dtype=torch.int64)
    mapping[torch.as_tensor(list(classes))] = torch.arange(len(classes))
    return subset.with_labels(mapping[subset.y.cpu()].to(subset.y.device), n_classes=len(classes))


def stratified_indices(y: Tensor, n_classes: int, n: int, generator: torch.Generator) -> Tensor:
    """Ascending indices of ``n`` random examples whose class counts follow the proportions in ``y``.

    Per-class counts are n·p_c rounded by the largest-remainder method (they sum to exactly n; ties go
    to the lower class), so on a balanced pool the subset is balanced to within one example per class.
    """
    _check_count(n, len(y), "n")
    y = y.cpu()
    counts = torch.bincount(y, minlength=n_classes)
    quota = counts.double() * n / max(len(y), 1)
    allocation = quota.floor().long()
    remainder_order = torch.argsort(quota - allocation, descending=True, stable=True)
    allocation[remainder_order[: n - int(allocation.sum())]] += 1
    chosen = []
    for c in range(n_classes):
        members = torch.nonzero(y == c).flatten()
        chosen.append(members[torch.randperm(len(members), generator=generator)[: int(allocation[c])]])
    return torch.cat(chosen).sort().values


def stratified_subset(ds: Dataset, n: int, generator: torch.Generator) -> Dataset:
    """``n`` random examples with class proportions matching the full dataset (see stratified_indices)."""
    return ds.select(stratified_indices(ds.y, ds.n_classes, n, generator))


def with_validation_split(task: TaskData, size: int, seed: int) -> TaskData:
    """Move ``size`` training examples, stratified by class, into a validation split.

    Smith, Elsen & De 2020 (§4) tune the learning rate on the test set; a validation split held out from
    the training set lets the same grid-search protocol pick hyper-parameters without touching the test
    set. The rest of the training set keeps its order; ``meta["validation"]`` records the size, the seed
    and the held-out indices (positions in the training set given).
    """
    if task.validation is not None:
        raise ValueError("task already has a validation split")
    _check_count(size, len(task.train) - 1, "size")
    if size < 1:
        raise ValueError("size must be >= 1 (a validation split of no examples is no split)")
    held_out = stratified_indices(task.train.y, task.train.n_classes, size, _seeded(seed))
    keep = torch.ones(len(task.train), dtype=torch.bool)
    keep[held_out] = False
    train = task.train.select(torch.nonzero(keep).flatten())
    validation = task.train.select(held_out)
    validation = Dataset(validation.x, validation.y, validation.n_classes, f"{task.train.name}-validation")
    meta = {
        **task.meta,
        "n_train": len(train),
        "validation": {"size": size, "seed": seed, "stratified": True, "train_indices": held_out.tolist()},
    }
    return TaskData(train, task.test, meta, validation=validation)


class RandomizedLabels(NamedTuple):
    labels: Tensor
    randomized: Tensor  # bool mask of the examples that received a random label


def randomize_labels(
    y: Tensor,
    n_classes: int,
    fraction: float = 1.0,
    generator: torch.Generator | None = None,
    exclude_true: bool = False,
) -> RandomizedLabels:
    """Give exactly round(fraction·N) examples, chosen uniformly, a uniformly random label.

    As in Zhang et al. 2017 and the memorisation experiment of Jastrzębski et al. (§4.3, 25%/50% random
    labels) the random label is drawn from all ``n_classes`` classes, so it equals the true label with
    probability 1/n_classes; ``exclude_true=True`` draws from the other n_classes-1 classes instead, so
    every selected label is wrong. ``generator`` (CPU) makes it reproducible without touching global RNG.
    """
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {tuple(y.shape)}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    n = len(y)
    n_random = round(fraction * n)
    chosen = torch.randperm(n, generator=generator)[:n_random]
    labels = y.detach().cpu().to(torch.int64).clone()
    if exclude_true:
        offset = torch.randint(1, n_classes, (n_random,), generator=generator)
        labels[chosen] = (labels[chosen] + offset) % n_classes
    else:
        labels[chosen] = torch.randint(0, n_classes, (n_random,), generator=generator)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[chosen] = True
    return RandomizedLabels(labels.to(y.device), mask.to(y.device))
