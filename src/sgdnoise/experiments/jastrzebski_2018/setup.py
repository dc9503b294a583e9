"""The set-up the Jastrzębski et al. experiments share: the task (``task_factory``: Fashion-MNIST
class-balanced subsets, CIFAR-10, or the CIFAR-shaped stand-in, each with a validation split), the model
(``model_spec``: the 4-layer batch-normalised ReLU MLP of §4.1, VGG-11 or ResNet-56), the (η, S) grid
(``noise_pairs``), the two "train to a target" budgets (``budget_steps``, ``first_reached``) and the set-up
fields every spec shares (``SharedSetup``, ``BudgetedSetup``)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sgdnoise.data import (
    TaskData,
    cifar10_task,
    cifar_standin_task,
    fashion_mnist_task,
    with_validation_split,
)
from sgdnoise.models import ModelSpec, jastrzebski_bn_mlp, resnet56, vgg11

Dataset = Literal["fashion-mnist", "cifar10", "standin"]
ModelName = Literal["bn-mlp", "vgg11", "resnet56"]
DATASETS: tuple[str, ...] = ("fashion-mnist", "cifar10", "standin")
# the paper-scale CIFAR-10 set-up the specs share: all 50k training images but a 5k validation split (our
# choice: the paper reports validation accuracy without the split), and the full 10k test set
CIFAR10_FULL: dict[str, Any] = {"dataset": "cifar10", "n_train": None, "validation": 5000, "n_test": None}
MODELS: tuple[str, ...] = ("bn-mlp", "vgg11", "resnet56")


def _standin(n_train: int, validation: int, n_test: int, seed: int) -> TaskData:
    task = cifar_standin_task(n_train + validation, n_test, seed)
    return with_validation_split(task, validation, seed) if validation else task


def _cifar10(n_train: int | None, validation: int, n_test: int | None, seed: int) -> TaskData:
    return cifar10_task(n_train=n_train, seed=seed, validation=validation or None, n_test=n_test)


def task_factory(
    dataset: str,
    n_train: int | None,
    validation: int,
    n_test: int | None,
    subset_seed: int,
    pool: int | None = None,
) -> Callable[[], TaskData]:
    """A picklable factory of the task: ``"fashion-mnist"`` (§4.1: a class-balanced subset of ``n_train``
    images, ``validation`` more held out from the training set, ``n_test`` test images, optional
    ``pool``×``pool`` average pooling, standardised), ``"cifar10"`` (the user's CIFAR-10; ``n_train=None``
    = all training images but the validation ones) or ``"standin"`` (``data.cifar_standin_task``, a tiny
    CIFAR-shaped synthetic task for smoke tests)."""
    if dataset == "fashion-mnist":
        if n_train is None:
            raise ValueError("fashion-mnist needs n_train")
        return functools.partial(
            fashion_mnist_task, n_train, subset_seed, pool, n_test, validation or None, flatten=True
        )
    if dataset == "cifar10":
        return functools.partial(_cifar10, n_train, validation, n_test, subset_seed)
    if dataset == "standin":
        if n_train is None or n_test is None:
            raise ValueError("the stand-in needs n_train and n_test")
        return functools.partial(_standin, n_train, validation, n_test, subset_seed)
    raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")


def task_name(
    dataset: str, n_train: int | None, validation: int, n_test: int | None, subset_seed: int, pool: int | None
) -> str:
    """The store's name of a task (every parameter that changes the data)."""
    return f"jastrzebski-{dataset}-n{n_train}-val{validation}-test{n_test}-pool{pool}-subset{subset_seed}"


def model_spec(model: str, dataset: str, *, pool: int | None = None, width: int = 256, depth: int = 4) -> ModelSpec:
    """``"bn-mlp"``: §4.1's 4-layer batch-normalised ReLU MLP (``models.jastrzebski_bn_mlp``; input
    28²/pool² for Fashion-MNIST, 3·32² for CIFAR-shaped data); ``"vgg11"`` (§4.2); ``"resnet56"`` (App. F)."""
    if model == "bn-mlp":
        side = 28 // (pool or 1)
        input_dim = side * side if dataset == "fashion-mnist" else 3 * 32 * 32
        return jastrzebski_bn_mlp(input_dim=input_dim, width=width, depth=depth)
    if dataset == "fashion-mnist":
        raise ValueError(f"{model} needs CIFAR-shaped data (dataset cifar10 or standin)")
    if model == "vgg11":
        return vgg11()
    if model == "resnet56":
        return resnet56()
    raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")


def noise_pairs(learning_rates: Sequence[float], batch_sizes: Sequence[int]) -> list[tuple[float, int]]:
    """Every (η, S) of the grid ``learning_rates`` × ``batch_sizes``, sorted by n = η/S (then η)."""
    if not learning_rates or not batch_sizes:
        raise ValueError("need at least one learning rate and one batch size")
    if any(lr <= 0 for lr in learning_rates) or any(b < 1 for b in batch_sizes):
        raise ValueError("learning rates must be > 0 and batch sizes >= 1")
    pairs = {(float(lr), int(b)) for lr in learning_rates for b in batch_sizes}
    return sorted(pairs, key=lambda p: (p[0] / p[1], p[0]))


def spec_task(spec: Any) -> tuple[str, Callable[[], TaskData]]:
    """The store name and factory of a spec's task, from its shared set-up fields ``dataset``,
    ``n_train``, ``validation``, ``n_test``, ``subset_seed`` and ``pool``."""
    args = (spec.dataset, spec.n_train, spec.validation, spec.n_test, spec.subset_seed, spec.pool)
    return task_name(*args), task_factory(*args)


def spec_model(spec: Any) -> ModelSpec:
    """``model_spec`` of a spec's shared set-up fields ``model``, ``dataset``, ``pool``, ``width``, ``depth``."""
    return model_spec(spec.model, spec.dataset, pool=spec.pool, width=spec.width, depth=spec.depth)


def budget_steps(learning_rate: float, batch_size: int, n_train: int, min_epochs: float, eta_time: float) -> int:
    """Phase-1 budget of a pair: at least ``min_epochs`` epochs and at least ``eta_time``/η updates (a
    small η needs ~η⁻¹ updates to reach the same SDE time ηt, whatever S is)."""
    by_epochs = math.ceil(min_epochs * n_train / batch_size)
    by_time = math.ceil(eta_time / learning_rate) if eta_time > 0 else 0
    return max(1, by_epochs, by_time)


def first_reached(
    history: Mapping[str, Sequence[Any]], column: str, target: float, *, above: bool, min_step: int = 1
) -> int | None:
    """The first evaluated step ≥ ``min_step`` (default 1: a run is trained to a target only once it
    has trained) whose ``column`` is ≥ ``target`` (``above``) or ≤ it; None if never."""
    steps, values = history.get("step") or [], history.get(column) or []
    for step, value in zip(steps, values, strict=False):
        if step < min_step or value is None or not math.isfinite(value):
            continue
        if (value >= target) if above else (value <= target):
            return int(step)
    return None


@dataclass(frozen=True, kw_only=True)
class SharedSetup:
    """The set-up fields the Jastrzębski specs share, declared once: the seeds, the split sizes, the dataset,
    the model, Fashion-MNIST's average pooling, the MLP's width and depth and the seed of the training subset
    (``n_train``/``n_test`` None: all of CIFAR-10's). A spec inherits them as
    keyword-only fields with these defaults (so ``--set dataset=…`` works as before, and the store's task
    names and run configs, built from the same values by ``spec_task``/``spec_model``, do not change); a
    spec's own ``__post_init__`` ends with ``super().__post_init__()``."""

    seeds: int
    n_train: int | None
    validation: int
    n_test: int | None
    dataset: Dataset = "fashion-mnist"
    model: ModelName = "bn-mlp"
    pool: int | None = None
    width: int = 256
    depth: int = 4
    subset_seed: int = 0

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS or self.model not in MODELS:
            raise ValueError(f"dataset must be one of {DATASETS} and model one of {MODELS}")


@dataclass(frozen=True, kw_only=True)
class BudgetedSetup(SharedSetup):
    """``SharedSetup`` plus the phase-1 budget of ``budget_steps``: ``min_epochs`` and ``eta_time``."""

    min_epochs: float
    eta_time: float

    def budget(self, learning_rate: float, batch_size: int, n_train: int) -> int:
        return budget_steps(learning_rate, batch_size, n_train, self.min_epochs, self.eta_time)
