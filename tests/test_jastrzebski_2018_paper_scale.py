"""The paper scale of every Jastrzębski et al. 2018 experiment is the paper's set-up: each spec field pinned
against the line of the paper it comes from, or marked as this project's choice where the paper is silent."""

from __future__ import annotations

import pytest

from sgdnoise.experiments.registry import get_experiment

CHOICE = "choice: {}"  # a field the paper does not give, and why it has this value

# (experiment, field, value, where it comes from)
PINNED = [
    # §4.1, Fig. 1: "a 4-layer Batch Normalized ReLU MLP trained on Fashion-MNIST ... η ∈ [5e-3, 1e-1] and
    # S ∈ [25, 1000]. Each experiment is run for 200 epochs"
    ("jastrzebski-sharpness", "dataset", "fashion-mnist", "§4.1: trained on Fashion-MNIST"),
    ("jastrzebski-sharpness", "model", "bn-mlp", "§4.1: a 4-layer Batch Normalized ReLU MLP"),
    ("jastrzebski-sharpness", "depth", 4, "§4.1: a 4-layer ... MLP"),
    ("jastrzebski-sharpness", "pool", None, "§4.1: Fashion-MNIST as it is (28×28)"),
    ("jastrzebski-sharpness", "min_epochs", 200, "§4.1: Each experiment is run for 200 epochs"),
    ("jastrzebski-sharpness", "eta_time", 0.0, "§4.1: a fixed budget of 200 epochs"),
    ("jastrzebski-sharpness", "momentum", 0.0, CHOICE.format("§4.1 names plain SGD")),
    ("jastrzebski-sharpness", "learning_rates", (0.005, 0.01, 0.02, 0.05, 0.1), "§4.1: η ∈ [5e-3, 1e-1]"),
    ("jastrzebski-sharpness", "batch_sizes", (25, 50, 100, 250, 500, 1000), "§4.1: S ∈ [25, 1000] (grid: choice)"),
    ("jastrzebski-sharpness", "n_train", 55_000, CHOICE.format("60k minus a 5k validation split")),
    ("jastrzebski-sharpness", "width", 256, CHOICE.format("the paper gives no width")),
    # §4.1, Fig. 2-3
    ("jastrzebski-interpolation", "dataset", "cifar10", "§4.1: Resnet56 models on CIFAR10; VGG-11 on CIFAR-10"),
    ("jastrzebski-interpolation", "model", "resnet56", "§4.1, Fig. 2: three Resnet56 models"),
    ("jastrzebski-interpolation", "beta_model", "vgg11", "§4.1, Fig. 3: We train VGG-11 models"),
    ("jastrzebski-interpolation", "baseline_lr", 0.1, "§4.1: Our baseline model uses η=0.1"),
    ("jastrzebski-interpolation", "baseline_batch", 128, "§4.1: Our baseline model uses ... S=128"),
    ("jastrzebski-interpolation", "large_batch_factor", 8, "§4.1: a large batch model with η=0.1, S=1024"),
    ("jastrzebski-interpolation", "small_lr_factor", 10.0, "§4.1: a small learning rate model with η=0.01, S=128"),
    ("jastrzebski-interpolation", "beta_batch", 50, "§4.1, Fig. 3: η = 0.1×β, S = 50×β"),
    ("jastrzebski-interpolation", "betas", (0.25, 4.0), "§4.1, Fig. 3: β = 0.25, 1, 4 (β = 1 is the baseline)"),
    ("jastrzebski-interpolation", "min_epochs", 200, CHOICE.format("the paper gives no budget")),
    # §4.2, Fig. 4 and App. F.4, Fig. 16
    ("jastrzebski-exchange", "dataset", "cifar10", "§4.2: VGG-11 architecture on the CIFAR10 dataset"),
    ("jastrzebski-exchange", "model", "vgg11", "§4.2: VGG-11"),
    ("jastrzebski-exchange", "max_lr", 0.005, "Fig. 4: cyclic learning rate schedule in range 0.001 to 0.005"),
    ("jastrzebski-exchange", "min_batch", 128, "Fig. 4: cyclic batch size schedule in range 128 to 640"),
    ("jastrzebski-exchange", "cycle_epochs", 15.0, "Fig. 16: cycle length 15 epochs"),
    ("jastrzebski-exchange", "seeds", 6, "App. F.4: Each experiment is repeated six times"),
    ("jastrzebski-exchange", "epochs", 150.0, CHOICE.format("the paper gives no budget: ten cycles")),
    # §4.3, Fig. 5
    ("jastrzebski-memorization", "dataset", "mnist", "§4.3: Experiments are performed on the MNIST dataset"),
    ("jastrzebski-memorization", "width", 256, "§4.3: an MLP ... with 256 hidden units"),
    ("jastrzebski-memorization", "batch_sizes", (50, 100, 200, 500, 1000), "§4.3: batch size in {50, ..., 1000}"),
    ("jastrzebski-memorization", "learning_rates", (0.005, 0.01, 0.02, 0.05, 0.07, 0.1), "§4.3: learning rate in …"),
    ("jastrzebski-memorization", "momentum_learning_rates", (0.005, 0.01, 0.02), "§4.3: η ≤ 0.02 with momentum"),
    ("jastrzebski-memorization", "momenta", (0.0, 0.9), "§4.3: momentum in {0.0, 0.9}"),
    ("jastrzebski-memorization", "noise_fractions", (0.25, 0.5), "Fig. 5: 25% and 50% of labels ... random"),
    ("jastrzebski-memorization", "epochs", 300.0, "§4.3: Models are trained for 300 epochs"),
    ("jastrzebski-memorization", "pool", None, "§4.3: MNIST as it is (28×28)"),
    # §4.4, Fig. 6
    ("jastrzebski-breaking-point", "dataset", "cifar10", "Fig. 6: VGG-11 architecture trained on CIFAR10"),
    ("jastrzebski-breaking-point", "model", "vgg11", "Fig. 6: VGG-11"),
    ("jastrzebski-breaking-point", "learning_rate", 0.1, "Fig. 6: β × (η = 0.1)"),
    ("jastrzebski-breaking-point", "batch_size", 50, "Fig. 6: β × (S = 50)"),
    ("jastrzebski-breaking-point", "learning_rate_factors", (1.0, 0.5), "Fig. 6d: half the noise level, η = 0.05"),
    ("jastrzebski-breaking-point", "seeds", 5, "Fig. 6: All experiments are repeated 5 times"),
    ("jastrzebski-breaking-point", "epochs", 100.0, CHOICE.format("the paper gives no budget")),
]


# experiments whose paper scale has no set-up in the paper to pin, and why
NO_PAPER_SET_UP = {
    "jastrzebski-equilibrium": "§3's theorems checked by simulating toy wells; the paper runs no such simulation",
}


def test_every_jastrzebski_experiment_is_pinned_or_says_why_not() -> None:
    from sgdnoise.experiments.registry import experiment_names

    pinned = {name for name, *_ in PINNED} | set(NO_PAPER_SET_UP)
    assert pinned == {n for n in experiment_names() if n.startswith("jastrzebski-")}, (
        "pin the new experiment's paper-scale fields in PINNED (or say in NO_PAPER_SET_UP why there are none)"
    )


@pytest.mark.parametrize(("name", "field", "value", "source"), PINNED, ids=lambda x: str(x)[:40])
def test_paper_spec_matches_the_paper(name: str, field: str, value: object, source: str) -> None:
    spec = get_experiment(name).specs["paper"]
    assert getattr(spec, field) == value, f"{name}.{field}: {source}"


def test_table1_is_tuned_at_paper_scale_as_the_paper_tuned_it() -> None:
    # App. F.4: "For each schedule we optimize η in [1e-3, 5e-2] and cycle length in {5, 10, 15} on a validation set"
    spec = get_experiment("jastrzebski-exchange").specs["paper"]
    assert min(spec.table1_max_lrs) == 1e-3 and max(spec.table1_max_lrs) == 5e-2
    assert spec.table1_cycle_epochs == (5.0, 10.0, 15.0)
    grid = spec.table1_grid()
    assert len(grid["discrete-S"]) == 18 and len(grid["constant-high"]) == 6
