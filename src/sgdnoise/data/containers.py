"""In-memory containers: a labelled :class:`Dataset` and a :class:`TaskData` bundle of splits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = ["SPLITS", "Dataset", "TaskData"]

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Dataset:
    """Examples ``x`` (leading axis = example) with int64 class labels ``y`` in ``[0, n_classes)``."""

    x: Tensor
    y: Tensor
    n_classes: int
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.x, Tensor) or not isinstance(self.y, Tensor):
            raise TypeError("Dataset.x and Dataset.y must be torch tensors")
        if self.y.ndim != 1 or self.y.dtype != torch.int64:
            raise ValueError(
                f"Dataset.y must be a 1-D int64 tensor, got shape {tuple(self.y.shape)} dtype {self.y.dtype}"
            )
        if self.x.ndim < 1 or self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"Dataset.x has {self.x.shape[0] if self.x.ndim else 0} examples but y has {self.y.shape[0]}"
            )
        if self.n_classes < 1:
            raise ValueError(f"n_classes must be >= 1, got {self.n_classes}")
        if len(self.y) and (int(self.y.min()) < 0 or int(self.y.max()) >= self.n_classes):
            raise ValueError(
                f"labels must lie in [0, {self.n_classes}), got range [{int(self.y.min())}, {int(self.y.max())}]"
            )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def select(self, indices: Tensor | Sequence[int]) -> Dataset:
        """The examples at ``indices`` (in that order)."""
        index = torch.as_tensor(indices, dtype=torch.int64, device=self.y.device)
        return Dataset(self.x[index], self.y[index], self.n_classes, self.name)

    def with_labels(self, y: Tensor, n_classes: int | None = None) -> Dataset:
        """The same inputs with new labels."""
        return Dataset(self.x, y, self.n_classes if n_classes is None else n_classes, self.name)

    def with_inputs(self, x: Tensor) -> Dataset:
        """The same labels with new inputs (e.g. standardised or pooled)."""
        return Dataset(x, self.y, self.n_classes, self.name)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Dataset:
        """Moved to ``device`` and/or with inputs cast to ``dtype`` (labels stay int64)."""
        return Dataset(self.x.to(device=device, dtype=dtype), self.y.to(device), self.n_classes, self.name)


@dataclass(frozen=True)
class TaskData:
    """Train/test (and optionally validation) splits plus JSON-serialisable ``meta`` (seeds, source, sizes).

    ``validation`` is keyword-only so ``TaskData(train, test, meta)`` keeps its meaning; it holds the
    held-out examples used to tune hyper-parameters (Smith, Elsen & De 2020 tune on a validation set
    carved from the training set, see :func:`with_validation_split`).
    """

    train: Dataset
    test: Dataset
    meta: dict[str, Any] = field(default_factory=dict)
    validation: Dataset | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        for split in SPLITS:
            value = getattr(self, split)
            if value is not None and not isinstance(value, Dataset):
                raise TypeError(f"TaskData.{split} must be a Dataset, got {type(value).__name__}")

    @property
    def splits(self) -> dict[str, Dataset]:
        """The present splits by name, in the order train, validation, test."""
        return {name: split for name in SPLITS if (split := getattr(self, name)) is not None}

    def map_splits(self, function: Callable[[Dataset], Dataset], meta: dict[str, Any] | None = None) -> TaskData:
        """Every present split passed through ``function(dataset) -> Dataset`` (``meta`` replaces the old)."""
        validation = None if self.validation is None else function(self.validation)
        return TaskData(
            function(self.train), function(self.test), self.meta if meta is None else meta, validation=validation
        )

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> TaskData:
        """Every split moved to ``device`` and/or with inputs cast to ``dtype``."""
        return self.map_splits(lambda split: split.to(device, dtype))
