"""The papers' tasks: MNIST 0/1, the synthetic Gaussian task, Smith & Le's MNIST subset, Fashion-MNIST,
CIFAR-10 and a CIFAR-shaped synthetic stand-in.

Every task is a module-level function of plain arguments (picklable, so a sweep can send it to worker
processes and build the task once per worker) returning a :class:`TaskData` whose ``meta`` records the
seed, the source and the indices drawn.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from sgdnoise.data.containers import Dataset, TaskData
from sgdnoise.data.preprocessing import Standardizer, average_pool, standardize
from sgdnoise.data.sources import load_cifar10, load_fashion_mnist, load_mnist
from sgdnoise.data.subsets import _check_count, _seeded, stratified_indices

__all__ = [
    "cifar10_task",
    "cifar_standin_task",
    "fashion_mnist_task",
    "mnist01_task",
    "smith_le_mnist_task",
    "synthetic_task",
]


def _shape_images(x: Tensor, flatten: bool) -> Tensor:
    return x.reshape(x.shape[0], -1) if flatten else x.reshape(x.shape[0], 28, 28)


def mnist01_task(
    seed: int,
    n_train_per_class: int = 400,
    n_test_per_class: int = 5000,
    random_labels: bool = False,
    *,
    flatten: bool = True,
    mnist: TaskData | None = None,
    device: torch.device | str | None = None,
) -> TaskData:
    """The MNIST 0-vs-1 task of Smith & Le 2018 §3 (Fig. 1-2): 400+400 train, 5000+5000 test images.

    MNIST's test split has only 980 zeros, so both sets are drawn, disjoint, from the union of MNIST's
    train and test splits (union index i < 60000 is train[i], else test[i - 60000]); ``meta`` records
    the seed and these indices. Labels are 0/1 (n_classes=2). With ``random_labels`` the labels of both
    training and test sets are replaced by independent uniform 0/1 labels, as in the paper.
    ``mnist`` reuses an already loaded MNIST (any flattening); by default it is loaded with load_mnist().
    """
    generator = _seeded(seed)
    source = mnist if mnist is not None else load_mnist()
    n_source_train = len(source.train)
    y_all = torch.cat([source.train.y, source.test.y]).cpu()
    train_parts, test_parts = [], []
    for digit in (0, 1):
        members = torch.nonzero(y_all == digit).flatten()
        needed = n_train_per_class + n_test_per_class
        if n_train_per_class < 1 or n_test_per_class < 1 or needed > len(members):
            raise ValueError(
                f"need n_train_per_class, n_test_per_class >= 1 with sum <= {len(members)} "
                f"(number of {digit}s in MNIST), got {n_train_per_class} + {n_test_per_class}"
            )
        members = members[torch.randperm(len(members), generator=generator)]
        train_parts.append(members[:n_train_per_class])
        test_parts.append(members[n_train_per_class:needed])
    train_index, test_index = torch.cat(train_parts).sort().values, torch.cat(test_parts).sort().values

    def split(index: Tensor, name: str) -> Dataset:
        labels = y_all[index]
        if random_labels:
            labels = torch.randint(0, 2, (len(index),), generator=generator)
        from_train = index < n_source_train  # ascending index: train rows first, then test rows
        x = torch.cat(
            [
                source.train.x[index[from_train].to(source.train.x.device)],
                source.test.x[(index[~from_train] - n_source_train).to(source.test.x.device)],
            ]
        )
        x = _shape_images(x, flatten)
        target = device if device is not None else x.device
        return Dataset(x.to(target), labels.to(target), 2, name)

    train, test = split(train_index, "mnist01-train"), split(test_index, "mnist01-test")
    meta = {
        "task": "mnist01",
        "seed": seed,
        "source": source.meta.get("source"),
        "n_train": len(train),
        "n_test": len(test),
        "random_labels": random_labels,
        "train_indices": train_index.tolist(),
        "test_indices": test_index.tolist(),
        "indices_refer_to": "union of MNIST train (0..59999) and test (60000..69999)",
    }
    return TaskData(train, test, meta)


def smith_le_mnist_task(
    seed: int,
    n_train: int = 1000,
    *,
    flatten: bool = True,
    mnist: TaskData | None = None,
    device: torch.device | str | None = None,
) -> TaskData:
    """Smith & Le 2018 §4: ``n_train`` random MNIST training images (10 classes), full 10000 test set."""
    generator = _seeded(seed)
    source = mnist if mnist is not None else load_mnist()
    _check_count(n_train, len(source.train), "n_train")
    index = torch.randperm(len(source.train), generator=generator)[:n_train].sort().values
    chosen = source.train.select(index)
    target = device if device is not None else chosen.x.device
    train = Dataset(_shape_images(chosen.x, flatten).to(target), chosen.y.to(target), 10, "smith-le-mnist-train")
    test = Dataset(
        _shape_images(source.test.x, flatten).to(target), source.test.y.to(target), 10, "smith-le-mnist-test"
    )
    meta = {
        "task": "smith_le_mnist",
        "seed": seed,
        "source": source.meta.get("source"),
        "n_train": n_train,
        "n_test": len(test),
        "train_indices": index.tolist(),
    }
    return TaskData(train, test, meta)


def synthetic_task(
    seed: int,
    n_train: int = 200,
    n_test: int = 10000,
    dim: int = 200,
    labels: Literal["random", "informative"] = "random",
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> TaskData:
    """The 200-D Gaussian toy tasks of Smith & Le (workshop version §3).

    Inputs x ~ N(0, I) are normalised per component with the *training set's* mean and std, so the
    training inputs have exactly <x_i> = 0 and <x_i²> = 1; the same map is applied to the test inputs.
    Labels are either uniform random {0,1} (train and test) or informative: y = 1 iff Σ_i x_i > 0 on
    the normalised inputs. At a given seed both label kinds share the same inputs.
    """
    if labels not in ("random", "informative"):
        raise ValueError(f"labels must be 'random' or 'informative', got {labels!r}")
    for value, what in ((n_train, "n_train"), (n_test, "n_test"), (dim, "dim")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} must be a positive int, got {value!r}")
    if n_train < 2:
        raise ValueError("n_train must be >= 2 to normalise with training statistics")
    generator = _seeded(seed)
    raw = torch.randn(n_train + n_test, dim, generator=generator, dtype=torch.float64)
    standardizer = Standardizer.fit(raw[:n_train])
    x = standardizer(raw)
    if labels == "random":
        y = torch.randint(0, 2, (n_train + n_test,), generator=generator)
    else:
        y = (x.sum(dim=1) > 0).to(torch.int64)
    x = x.to(device=device, dtype=dtype)
    y = y.to(x.device)
    train = Dataset(x[:n_train], y[:n_train], 2, f"synthetic-{labels}-train")
    test = Dataset(x[n_train:], y[n_train:], 2, f"synthetic-{labels}-test")
    meta = {
        "task": "synthetic",
        "seed": seed,
        "labels": labels,
        "dim": dim,
        "n_train": n_train,
        "n_test": n_test,
        "normalisation": "per component, training-set mean and std (ddof=0)",
    }
    return TaskData(train, test, meta)


# --------------------------------------------------------------------------------------------------
# Fashion-MNIST and CIFAR-10 subsets with optional validation splits
# --------------------------------------------------------------------------------------------------


def _optional_count(value: int | None, what: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{what} must be None or a positive int, got {value!r}")


def _draw_train_validation(
    y: Tensor, n_classes: int, n_train: int | None, validation: int | None, generator: torch.Generator
) -> tuple[Tensor, Tensor | None]:
    """Disjoint ascending train and validation indices into a training pool, both class-stratified.

    With ``n_train`` the training examples are drawn first and the validation examples from the rest;
    without it the validation examples are drawn first and every other example trains.
    """
    _optional_count(n_train, "n_train")
    _optional_count(validation, "validation")
    n_validation = validation or 0
    if (n_train or 1) + n_validation > len(y):
        raise ValueError(
            f"n_train ({n_train}) + validation ({n_validation}) exceeds the {len(y)} training examples available"
        )
    y = y.cpu()
    everything = torch.arange(len(y))
    if n_train is None:
        held_out = stratified_indices(y, n_classes, n_validation, generator)
        rest = torch.ones(len(y), dtype=torch.bool)
        rest[held_out] = False
        return everything[rest], (held_out if validation else None)
    train = stratified_indices(y, n_classes, n_train, generator)
    if not validation:
        return train, None
    rest = torch.ones(len(y), dtype=torch.bool)
    rest[train] = False
    pool = everything[rest]
    return train, pool[stratified_indices(y[pool], n_classes, validation, generator)]


def _subset_task(
    source: TaskData,
    name: str,
    n_train: int | None,
    n_test: int | None,
    validation: int | None,
    generator: torch.Generator,
) -> tuple[TaskData, dict[str, object]]:
    """Stratified train/validation/test subsets of ``source`` (labels and inputs untouched) and their indices."""
    n_classes = source.train.n_classes
    train_index, validation_index = _draw_train_validation(source.train.y, n_classes, n_train, validation, generator)
    _optional_count(n_test, "n_test")
    if n_test is not None:
        _check_count(n_test, len(source.test), f"n_test (the {name} test set holds {len(source.test)} images)")
        test_index = stratified_indices(source.test.y, n_classes, n_test, generator)
        test = source.test.select(test_index)
    else:
        test_index, test = None, source.test

    def named(split: Dataset, suffix: str) -> Dataset:
        return Dataset(split.x, split.y, split.n_classes, f"{name}-{suffix}")

    task = TaskData(
        named(source.train.select(train_index), "train"),
        named(test, "test"),
        validation=None if validation_index is None else named(source.train.select(validation_index), "validation"),
    )
    indices = {
        "train_indices": train_index.tolist() if n_train is not None else None,
        "validation_indices": None if validation_index is None else validation_index.tolist(),
        "test_indices": None if test_index is None else test_index.tolist(),
    }
    return task, indices


def fashion_mnist_task(
    n_train: int,
    seed: int,
    pool: int | None = None,
    n_test: int | None = None,
    validation: int | None = None,
    *,
    flatten: bool = True,
    fashion_mnist: TaskData | None = None,
    device: torch.device | str | None = None,
) -> TaskData:
    """A class-balanced Fashion-MNIST subset with standardised pixels (Jastrzębski et al. 2018 §4 use
    Fashion-MNIST; the Smith, Elsen & De quick scale trains on 4096 training images pooled to 14×14).

    ``n_train`` training images are drawn stratified (Fashion-MNIST has 6000 per class, so the classes
    differ by at most one image), ``validation`` more from the remaining training images, and ``n_test``
    test images (default: all 10000). ``pool=2`` averages 2×2 blocks (28×28 → 14×14). Every pixel is then
    standardised with the training subset's mean and std (:func:`standardize`, per feature). Inputs are
    ``(N, side²)`` with ``flatten`` else ``(N, side, side)``. ``fashion_mnist`` reuses a loaded copy
    (any flattening); by default it is loaded with :func:`load_fashion_mnist`.
    """
    generator = _seeded(seed)
    _optional_count(pool, "pool")
    source = fashion_mnist if fashion_mnist is not None else load_fashion_mnist(flatten=False)
    images = TaskData(
        source.train.with_inputs(_shape_images(source.train.x, flatten=False)),
        source.test.with_inputs(_shape_images(source.test.x, flatten=False)),
    )
    _check_count(n_train, len(images.train), "n_train")
    task, indices = _subset_task(images, "fashion-mnist", n_train, n_test, validation, generator)
    if pool is not None:
        task = average_pool(task, pool)
    task = standardize(task)
    if flatten:
        task = task.map_splits(lambda split: split.with_inputs(split.x.reshape(len(split), -1)))
    if device is not None:
        task = task.to(device)
    side = task.train.x.shape[-1] if not flatten else math.isqrt(task.train.x.shape[1])
    meta = {
        "task": "fashion_mnist",
        "seed": seed,
        "source": source.meta.get("source"),
        **_split_sizes(task),
        "pool": pool,
        "image_side": side,
        "standardized": "per-feature, train statistics",
        **indices,
    }
    return TaskData(task.train, task.test, meta, validation=task.validation)


def _split_sizes(task: TaskData) -> dict[str, int]:
    """``n_train``, ``n_validation`` (0 without a validation split) and ``n_test`` of a task, for its meta."""
    return {
        "n_train": len(task.train),
        "n_validation": 0 if task.validation is None else len(task.validation),
        "n_test": len(task.test),
    }


def cifar10_task(
    path: str | Path | None = None,
    n_train: int | None = None,
    seed: int = 0,
    validation: int | None = None,
    *,
    n_test: int | None = None,
    cifar10: TaskData | None = None,
    cache_dir: str | Path | None = None,
    download: bool = True,
    device: torch.device | str | None = None,
) -> TaskData:
    """CIFAR-10 images ``(N, 3, 32, 32)`` standardised per channel with training statistics (the usual
    recipe of the papers' CIFAR-10 experiments, e.g. Smith, Elsen & De 2020 §4).

    ``n_train`` (default: all) training images are drawn class-stratified, ``validation`` more are held
    out from the remaining training images (or from all of them when ``n_train`` is None), ``n_test``
    (default: all 10000) test images. The data come from :func:`load_cifar10` (``path``, the cache, or a
    download) unless a loaded copy is passed as ``cifar10``.
    """
    generator = _seeded(seed)
    source = cifar10 if cifar10 is not None else load_cifar10(path, cache_dir=cache_dir, download=download)
    shaped = source.map_splits(lambda split: split.with_inputs(split.x.reshape(len(split), 3, 32, 32)))
    task, indices = _subset_task(shaped, "cifar10", n_train, n_test, validation, generator)
    task = standardize(task, per="channel")
    if device is not None:
        task = task.to(device)
    meta = {
        "task": "cifar10",
        "seed": seed,
        "source": source.meta.get("source"),
        **_split_sizes(task),
        "standardized": "per-channel, train statistics",
        **indices,
    }
    return TaskData(task.train, task.test, meta, validation=task.validation)


# --------------------------------------------------------------------------------------------------
# A CIFAR-shaped synthetic stand-in
# --------------------------------------------------------------------------------------------------

_STANDIN_FREQUENCIES = torch.tensor([(kx, ky) for kx in range(3) for ky in range(3) if (kx, ky) != (0, 0)])
_STANDIN_MAX_SHIFT = 3
_STANDIN_NOISE = 1.0


def _standin_images(
    labels: Tensor, amplitude_cos: Tensor, amplitude_sin: Tensor, shifts: Tensor, noise: Tensor
) -> Tensor:
    """x[n,c,i,j] = Σ_f A[y,c,f]·cos(2π(kx_f(i+s_n) + ky_f(j+t_n))/32 + φ[y,c,f]) + noise, via cos(a+φ) identity."""
    grid = torch.arange(32, dtype=torch.float64)
    kx, ky = _STANDIN_FREQUENCIES[:, 0].double(), _STANDIN_FREQUENCIES[:, 1].double()
    rows = grid[None, :] + shifts[:, 0:1].double()  # [n, 32]
    cols = grid[None, :] + shifts[:, 1:2].double()
    angle = (2 * math.pi / 32) * (
        kx[None, :, None, None] * rows[:, None, :, None] + ky[None, :, None, None] * cols[:, None, None, :]
    )  # [n, F, 32, 32]
    pattern = torch.einsum("ncf,nfij->ncij", amplitude_cos[labels], torch.cos(angle))
    pattern -= torch.einsum("ncf,nfij->ncij", amplitude_sin[labels], torch.sin(angle))
    return pattern + noise


def mnist_standin_task(seed: int, n_train: int, n_test: int = 500) -> TaskData:
    """A synthetic MNIST-shaped task for smoke tests (no MNIST needed): inputs uniform in [0, 1]^784,
    labels the argmax over 10 classes of a random linear teacher; everything drawn from ``seed``."""
    for value, what in ((n_train, "n_train"), (n_test, "n_test")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} must be a positive int, got {value!r}")
    generator = _seeded(seed)
    teacher = torch.randn(784, 10, generator=generator)

    def split(n: int, name: str) -> Dataset:
        x = torch.rand(n, 784, generator=generator)
        return Dataset(x, (x @ teacher).argmax(dim=1), 10, name)

    return TaskData(
        split(n_train, "mnist-standin-train"),
        split(n_test, "mnist-standin-test"),
        {"task": "mnist-standin", "seed": seed},
    )


def cifar_standin_task(
    n_train: int,
    n_test: int,
    seed: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> TaskData:
    """A tiny synthetic task shaped like CIFAR-10 (3×32×32 inputs, 10 classes) for smoke tests of conv nets.

    Each class c has, per channel, a fixed random mix of the 8 lowest spatial frequencies (kx, ky ≤ 2)
    with unit root-mean-square amplitude; an example of class c is that pattern translated by a random
    shift of up to ±3 pixels in each direction plus i.i.d. N(0, 1) pixel noise. Labels are balanced
    (classes differ by at most one example per split). Inputs are standardised per channel with the
    training statistics, like :func:`cifar10_task`. Everything is drawn from ``seed`` alone (CPU
    generator, float64, then cast), so the task is identical on every device.
    """
    for value, what in ((n_train, "n_train"), (n_test, "n_test")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} must be a positive int, got {value!r}")
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch dtype, got {dtype}")
    generator = _seeded(seed)
    n_classes, n_frequencies = 10, len(_STANDIN_FREQUENCIES)
    amplitude = torch.randn(n_classes, 3, n_frequencies, generator=generator, dtype=torch.float64)
    amplitude /= (amplitude.square().sum(dim=2, keepdim=True) / 2).sqrt()  # unit RMS pattern per channel
    phase = 2 * math.pi * torch.rand(n_classes, 3, n_frequencies, generator=generator, dtype=torch.float64)
    amplitude_cos, amplitude_sin = amplitude * phase.cos(), amplitude * phase.sin()

    def split(n: int, name: str) -> Dataset:
        labels = (torch.arange(n) % n_classes)[torch.randperm(n, generator=generator)]
        shifts = torch.randint(-_STANDIN_MAX_SHIFT, _STANDIN_MAX_SHIFT + 1, (n, 2), generator=generator)
        noise = _STANDIN_NOISE * torch.randn(n, 3, 32, 32, generator=generator, dtype=torch.float64)
        chunks = [
            _standin_images(labels[i : i + 512], amplitude_cos, amplitude_sin, shifts[i : i + 512], noise[i : i + 512])
            for i in range(0, n, 512)
        ]
        return Dataset(torch.cat(chunks), labels, n_classes, f"cifar-standin-{name}")

    raw = TaskData(split(n_train, "train"), split(n_test, "test"))
    standardizer = Standardizer.fit(raw.train.x, per="channel")
    task = raw.map_splits(lambda s: s.with_inputs(standardizer(s.x)).to(device=device, dtype=dtype))
    meta = {
        "task": "cifar_standin",
        "seed": seed,
        "n_train": n_train,
        "n_test": n_test,
        "frequencies": _STANDIN_FREQUENCIES.tolist(),
        "max_shift": _STANDIN_MAX_SHIFT,
        "noise_std": _STANDIN_NOISE,
        "standardized": "per-channel, train statistics",
    }
    return TaskData(task.train, task.test, meta)
