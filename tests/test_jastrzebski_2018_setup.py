"""Jastrzębski et al. 2018, the shared set-up: the (η, S) grid, the two "train to a target" budgets, the
model shapes and the shared set-up fields (their defaults and validation, and that the store's task name
and model come from them unchanged)."""

from __future__ import annotations

import pytest

from sgdnoise.experiments.jastrzebski_2018.setup import (
    SharedSetup,
    budget_steps,
    first_reached,
    model_spec,
    noise_pairs,
    spec_model,
    spec_task,
)


def test_noise_pairs_sorted_by_ratio_and_deduplicated() -> None:
    pairs = noise_pairs((0.1, 0.02), (50, 10, 10))
    assert pairs == [(0.02, 50), (0.02, 10), (0.1, 50), (0.1, 10)]  # ties in η/S ordered by η
    with pytest.raises(ValueError):
        noise_pairs((), (10,))
    with pytest.raises(ValueError):
        noise_pairs((0.1,), (0,))


def test_budget_steps_takes_the_longer_of_epochs_and_sde_time() -> None:
    assert budget_steps(0.1, 50, 1000, 50, 25.0) == 1000  # 50 epochs of 20 steps > 250 steps
    assert budget_steps(0.02, 500, 1000, 50, 25.0) == 1250  # 25 / 0.02 > 100 steps
    assert budget_steps(0.1, 50, 1000, 1, 0.0) == 20


def test_first_reached_above_and_below() -> None:
    history = {"step": [0, 5, 10, 20], "train_acc": [0.1, 0.98, None, 0.995], "train_loss": [2.3, 0.2, 0.04, 0.01]}
    assert first_reached(history, "train_acc", 0.99, above=True) == 20
    assert first_reached(history, "train_loss", 0.05, above=False) == 10
    assert first_reached(history, "train_acc", 1.0, above=True) is None
    assert first_reached({}, "train_acc", 0.5, above=True) is None
    assert first_reached(history, "train_loss", 3.0, above=False) == 5  # step 0 (untrained) never counts
    assert first_reached(history, "train_loss", 3.0, above=False, min_step=0) == 0


def test_model_spec_shapes() -> None:
    assert model_spec("bn-mlp", "fashion-mnist", pool=2).input_shape == (196,)
    assert model_spec("bn-mlp", "standin").input_shape == (3072,)
    with pytest.raises(ValueError):
        model_spec("vgg11", "fashion-mnist")


def _spec(n_train: int, **fields: object) -> SharedSetup:
    return SharedSetup(seeds=1, n_train=n_train, validation=100, n_test=50, **fields)  # type: ignore[arg-type]


def test_shared_setup_fields_are_keyword_defaults_checked_once() -> None:
    spec = _spec(1000, pool=2)
    assert (spec.dataset, spec.model, spec.pool, spec.width, spec.depth, spec.subset_seed) == (
        "fashion-mnist",
        "bn-mlp",
        2,
        256,
        4,
        0,
    )
    name, _ = spec_task(spec)
    assert name == "jastrzebski-fashion-mnist-n1000-val100-test50-pool2-subset0"
    assert spec_model(spec) == model_spec("bn-mlp", "fashion-mnist", pool=2, width=256, depth=4)
    with pytest.raises(ValueError, match="dataset must be one of"):
        _spec(10, dataset="mnist")
    with pytest.raises(ValueError, match="model one of"):
        _spec(10, model="resnet18")
