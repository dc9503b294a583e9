"""Datasets held in memory as tensors, the papers' tasks, subsets, label noise, normalisation, augmentation.

The package's parts: :mod:`~sgdnoise.data.containers` (``Dataset``, ``TaskData``),
:mod:`~sgdnoise.data.formats` (IDX and the CIFAR-10 binary/python batches),
:mod:`~sgdnoise.data.sources` (user path → cache → package → checksummed download; ``load_*``),
:mod:`~sgdnoise.data.subsets` and :mod:`~sgdnoise.data.preprocessing` (subsets, validation splits,
label randomisation, standardisation, pooling), :mod:`~sgdnoise.data.tasks` (the papers' tasks),
:mod:`~sgdnoise.data.text` (next-character windows of a Python package's source) and
:mod:`~sgdnoise.data.augment`. Everything public is importable from ``sgdnoise.data``.
"""

from sgdnoise.data.augment import AUGMENTATIONS, augment
from sgdnoise.data.containers import Dataset, TaskData
from sgdnoise.data.errors import DatasetChecksumError, DatasetFormatError, DatasetNotFoundError, UnsafePickleError
from sgdnoise.data.formats import read_cifar10, read_idx
from sgdnoise.data.preprocessing import Standardizer, average_pool, standardize
from sgdnoise.data.sources import (
    cache_root,
    downloads_off,
    identify_dataset,
    load_cifar10,
    load_fashion_mnist,
    load_mnist,
    user_data,
)
from sgdnoise.data.subsets import (
    RandomizedLabels,
    balanced_indices,
    balanced_subset,
    first_n,
    random_subset,
    randomize_labels,
    stratified_indices,
    stratified_subset,
    with_validation_split,
)
from sgdnoise.data.tasks import (
    cifar10_task,
    cifar_standin_task,
    fashion_mnist_task,
    mnist01_task,
    mnist_standin_task,
    smith_le_mnist_task,
    synthetic_task,
)
from sgdnoise.data.text import CharacterWindows, python_source_windows

__all__ = [
    "AUGMENTATIONS",
    "CharacterWindows",
    "Dataset",
    "DatasetChecksumError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "RandomizedLabels",
    "Standardizer",
    "TaskData",
    "UnsafePickleError",
    "augment",
    "average_pool",
    "balanced_indices",
    "balanced_subset",
    "cache_root",
    "cifar10_task",
    "cifar_standin_task",
    "downloads_off",
    "fashion_mnist_task",
    "first_n",
    "identify_dataset",
    "load_cifar10",
    "load_fashion_mnist",
    "load_mnist",
    "mnist01_task",
    "mnist_standin_task",
    "python_source_windows",
    "random_subset",
    "randomize_labels",
    "read_cifar10",
    "read_idx",
    "smith_le_mnist_task",
    "standardize",
    "stratified_indices",
    "stratified_subset",
    "synthetic_task",
    "user_data",
    "with_validation_split",
]
