"""The Smith, Elsen & De set-up: the paper's schedule on the effective learning rate, the specs, and the
tuned-curve records the four experiments share. ``tuned_curve`` and ``peaked`` build synthetic curves
with a known optimum for the claim tests of the other modules."""

import math

import numpy as np
import pytest

from sgdnoise.experiments.grid import TuningProtocol, tune_curves
from sgdnoise.experiments.registry import get_experiment
from sgdnoise.experiments.smith_elsen_de_2020 import setup
from sgdnoise.experiments.smith_elsen_de_2020.setup import OBJECTIVES, SEDSpec, curve_record, train_config


def tuned_curve(architecture, momentum, batch, epochs, grid, acc, loss=None):
    """A tuned curve record from [n_lr, runs] accuracy (and loss) arrays, keeping all runs but one."""
    acc = np.asarray(acc, float)
    loss = 1.0 - acc if loss is None else np.asarray(loss, float)
    key = (architecture, momentum, batch, epochs)
    tuned = tune_curves(
        {key: tuple(grid)},
        lambda grids: {key: {"test_acc": acc, "train_loss": loss}},
        TuningProtocol(acc.shape[1], acc.shape[1] - 1, OBJECTIVES),
    )
    return curve_record(key, tuned)


def peaked(grid, peak, height, runs=4, width=0.01, jitter=0.0005):
    """Accuracy = height − width·(log2 ε − log2 peak)², runs spread by ±jitter (deterministic)."""
    clean = height - width * (np.log2(grid) - math.log2(peak)) ** 2
    offsets = jitter * np.linspace(-1, 1, runs)
    return clean[:, None] + offsets[None, :]


def spec(name, scale="quick"):
    return get_experiment(name).spec(scale)


def test_runs_use_the_papers_schedule_on_the_effective_learning_rate():
    quick = spec("sed-epoch-budget")
    # ε_eff = 2 with m = 0.9: engine lr 0.2 for the first half, then ÷2 every 1/20 of the budget
    config = train_config(quick, "bn-mlp", 0.9, 64, 10, 2.0, seed=0)
    lr = config.learning_rate
    assert lr(0.0) == pytest.approx(0.2) and lr(0.4999) == pytest.approx(0.2)
    assert lr(0.5) == pytest.approx(0.1) and lr(0.55) == pytest.approx(0.05)
    assert lr(0.96) == pytest.approx(0.2 / 2**10)
    assert config.epochs == 10 and config.momentum == 0.9 and config.batch_size(0.0) == 64
    assert config.model.input_dim == 196 and config.model.ghost_batch_size == 64
    # §7.1: ε_0 = 1, ε_f = 2^-6 (effective), SGD: γ = 2^(6/10); the last tenth runs at ε_f exactly
    sgd = train_config(quick, "bn-mlp", 0.0, 64, 10, 1.0, seed=0, final=2.0**-6).learning_rate
    assert sgd(0.3) == pytest.approx(1.0) and sgd(0.5) == pytest.approx(2 ** (-0.6))
    assert sgd(0.99) == pytest.approx(2.0**-6)
    step = train_config(spec("sed-step-budget"), "bn-mlp", 0.9, 4096, 1, 1.0, seed=3)
    assert step.steps == 160 and step.epochs is None and step.seed == 3


def test_specs_follow_the_issue_and_reject_bad_settings():
    quick = spec("sed-epoch-budget")
    assert quick.batch_sizes == tuple(2**k for k in range(4, 13)) and quick.runs >= 4 and quick.epoch_budgets == (10,)
    assert quick.lr_grid() == tuple(2.0**k for k in range(-4, 3))
    paper = spec("sed-step-budget", "paper")
    assert (paper.steps, paper.runs, paper.keep, paper.architectures) == (9765, 15, 12, ("wrn-16-4",))
    assert spec("sed-unlimited-budget", "paper").architectures == ("wrn-16-4", "wrn-16-4-regularized-skipinit")
    assert setup.ARCHITECTURES["wrn-16-4"](paper).ghost_batch_size == 64
    with pytest.raises(ValueError, match="keep"):
        SEDSpec(("bn-mlp",), (16,), (0.0,), (1,), (0, 1), runs=2, keep=3)
    with pytest.raises(ValueError, match="lr_exponents"):
        SEDSpec(("bn-mlp",), (16,), (0.0,), (1,), (0, 0), runs=2, keep=1)
    with pytest.raises(ValueError, match="architectures"):
        SEDSpec(("resnet",), (16,), (0.0,), (1,), (0, 1), runs=2, keep=1)


def test_curve_record_and_the_training_loss_of_the_kept_runs():
    grid = 2.0 ** np.arange(-2, 3)
    acc = peaked(grid, 1.0, 0.9)
    loss = np.tile([0.4, 0.3, 0.2, 0.1], (len(grid), 1))  # the most accurate run has the lowest loss
    curve = tuned_curve("bn-mlp", 0.9, 64, 2, grid, acc, loss)
    assert curve["optima"]["test_acc"]["value"] == 1.0 and curve["lr_grid"] == list(grid)
    # the 3 most accurate runs at ε = 1 (of 4) have losses 0.3, 0.2, 0.1
    assert setup.train_loss_at_test_optimum(curve, keep=3) == pytest.approx((0.2, 0.1))
    curve["scores"]["train_loss"][2] = [None, None, None, 0.1]
    assert setup.train_loss_at_test_optimum(curve, keep=3) == (0.1, 0.0)


def test_band_ratio_is_the_least_and_greatest_ratio_within_two_bands():
    from sgdnoise.experiments.smith_elsen_de_2020.setup import band_ratio

    assert band_ratio([0.5, 1.0], [0.25, 0.5]) == (1.0, 4.0)
    assert band_ratio([0.25, 0.25], [0.25, 0.25]) == (1.0, 1.0)
    low, high = band_ratio([0.125, 2.0], [0.25, 1.0])
    # brute force over the grid points inside each band
    points = 2.0 ** np.arange(-4, 2)
    ratios = [a / b for a in points if 0.125 <= a <= 2.0 for b in points if 0.25 <= b <= 1.0]
    assert (low, high) == (min(ratios), max(ratios)) == (0.125, 8.0)
