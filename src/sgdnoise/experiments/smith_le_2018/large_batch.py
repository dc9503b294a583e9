"""Smith & Le 2018, App. E: the large-batch tuning heuristic, run on the 800-unit MLP of §4.

``sgdnoise.tuning.tune_large_batch`` runs App. E's three steps on a ``train_and_evaluate(ε, B, m) ->
validation accuracy``; here that function trains the §4 model (784 → 800 ReLU → 10, Glorot init) through
the engine on ``n_images`` random MNIST training images of which ``validation_size`` (stratified, seeded)
are held out as the validation set, and returns the mean validation accuracy over ``seeds`` runs (NaN if
any run diverged: "training is not stable"). ε is the paper's learning rate; the PyTorch lr is
``LR_PER_EPSILON[parameterisation]·ε`` exactly as in ``smith_le_2018.sgd`` (calibrated: 0.1·ε), momentum in
the TensorFlow form of App. D.

Budget: every trial trains for the same number of ``epochs``. App. E states no budget of its own; its
goal is to "reduce the final number of gradient updates", which is the number of updates at a fixed
number of epochs, epochs·N/B. Under the two scalings of step 2 (ε ∝ B, then (1 − m) ∝ 1/B) a fixed epoch
count also keeps the integration time of the SDE, (ε/(1 − m))·updates, fixed (§5 and App. D).

App. E as stated: ε = 0.1, m = 0.9, a logarithmic grid of B (``batch_sizes``); ×3 steps of B with ε ∝ B
until the accuracy falls, then with (1 − m) ∝ 1/B until it falls or B reaches N (the "hardware limit"
is the training-set size here); then a linear retune of B around the result. "Falls" means below the
best accuracy of the step so far by more than ``FALL_TOLERANCE`` (0: any fall, the paper's wording).

Claims (``CLAIMS``, below the run). App. E gives a heuristic and no numbers; what it claims is its last
sentence: the procedure "will increase the test accuracy, reduce the cost of tuning hyper-parameters, and
significantly reduce the final number of gradient updates". The paper claims are the first and the last of
these, final setting against the initial optimum (step 1's best at ε = 0.1, m = 0.9): more test accuracy on
``confirm_seeds`` fresh seeds (Welch's interval), fewer updates. (The cost of tuning has no baseline here: not
checked.) "≥ 10× the batch at ≤ 0.5 points lower validation accuracy, in fewer updates" is this project's
reading of "large batch training" (kind ``extension``), on the tuning runs (where the accuracy condition
holds by construction: a setting is accepted only if its validation accuracy did not fall) and on the fresh
seeds. Every claim is decided by the ε calibration (lr = 0.1·ε, ``smith_le_2018.sgd``).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

import matplotlib.pyplot as plt
import numpy as np

from sgdnoise import plots
from sgdnoise.analysis.effects import directional_effect
from sgdnoise.data import TaskData, mnist_standin_task, smith_le_mnist_task, with_validation_split
from sgdnoise.engine import TrainConfig
from sgdnoise.experiments.base import Experiment, Figure, RunContext
from sgdnoise.experiments.claims import SMITH_LE_2018, ClaimSpec, ClaimTest, Provenance, Verdict
from sgdnoise.experiments.smith_le_2018.sgd import (
    CALIBRATED,
    EPSILON_MAPPING,
    LR_PER_EPSILON,
    PARAMETERISATION_WHY,
    Parameterisation,
)
from sgdnoise.experiments.smith_le_2018.verdicts import effect_verdict, finite_mean
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.models import smith_le_shallow_net
from sgdnoise.results import canonical_json
from sgdnoise.sweep import Sweep, SweepRun, SweptRun
from sgdnoise.tuning import tune_large_batch

STORE_NAMESPACE = "smith-le-large-batch"
BATCH_FACTOR = 10.0  # the claim: the final B is at least 10× the initial optimum
ACCURACY_SLACK = 0.005  # ... with validation accuracy at most 0.5 points below the initial optimum's
FALL_TOLERANCE = 0.0  # the tuning: a trial "falls" when below the step's best by more than this (the paper: any fall)
CONFIRM_SEED_OFFSET = 1000  # fresh seeds of the confirmation runs: ctx.seed + 1000 + i


@dataclass(frozen=True)
class LargeBatchSpec:
    """Settings of the App. E run.

    ``n_images``: training images drawn (``subset_seed``); ``validation_size`` of them are held out
    (stratified, ``validation_seed``). ``epochs``: the fixed budget of every trial. ``seeds``: runs averaged
    per trial. ``batch_sizes``: step 1's logarithmic grid; ``lr``/``momentum``: App. E's ε = 0.1, m = 0.9;
    ``local_fractions``: step 3's linear neighbourhood (multiples of B). ``confirm_seeds``: fresh seeds
    retraining the initial and the final setting. ``dataset``: ``"mnist"`` or ``"standin"`` (the synthetic
    MNIST-shaped task of ``sgdnoise.data.mnist_standin_task``, for smoke tests).
    """

    epochs: float
    seeds: int
    confirm_seeds: int
    batch_sizes: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128, 256)
    lr: float = 0.1
    momentum: float = 0.9
    local_fractions: tuple[float, ...] = (0.5, 0.75, 1.25, 1.5)
    n_images: int = 1000
    validation_size: int = 200
    subset_seed: int = 0
    validation_seed: int = 0
    dataset: Literal["mnist", "standin"] = "mnist"
    parameterisation: Parameterisation = "calibrated"

    def __post_init__(self) -> None:
        if not self.epochs > 0 or self.seeds < 1 or self.confirm_seeds < 1:
            raise ValueError("epochs must be > 0 and seeds, confirm_seeds >= 1")
        if not 1 <= self.validation_size < self.n_images - 1:
            raise ValueError(f"validation_size must lie in [1, n_images − 2], got {self.validation_size}")
        if any(b > self.n_train for b in self.batch_sizes):
            raise ValueError(f"batch_sizes must not exceed the {self.n_train} training examples left")
        if self.dataset not in ("mnist", "standin"):
            raise ValueError(f"dataset must be 'mnist' or 'standin', got {self.dataset!r}")
        if self.parameterisation not in LR_PER_EPSILON:
            raise ValueError(f"parameterisation must be one of {sorted(LR_PER_EPSILON)}")

    @property
    def n_train(self) -> int:
        return self.n_images - self.validation_size


class SettingSummary(TypedDict):
    """One (ε, B, m) over its seeds: mean accuracies (NaN if any run diverged) and updates."""

    validation_accuracy: float
    validation_accuracy_per_seed: list[float | None]
    test_accuracy: float
    test_accuracy_per_seed: NotRequired[list[float | None]]
    updates: int | None
    stable: bool


class Trial(SettingSummary):
    """One trial of the tuning trail: its step and setting, and its summary over the tuning seeds."""

    step: str
    lr: float
    batch_size: int
    momentum: float


class Setting(TypedDict):
    """The initial optimum or the final setting, with its numbers on the tuning runs."""

    lr: float
    batch_size: int
    momentum: float
    validation_accuracy: float
    test_accuracy: float
    updates: int | None


class Confirmation(TypedDict):
    """The initial and the final setting retrained from fresh seeds."""

    seeds: list[int]
    initial: SettingSummary
    final: SettingSummary


class LargeBatchData(TypedDict):
    """The numbers behind the App. E figure and its claims."""

    trail: list[Trial]
    initial: Setting
    final: Setting
    confirmation: Confirmation
    n_train: int
    validation_size: int
    epochs: float


def tuning_task(dataset: str, n_images: int, validation_size: int, subset_seed: int, validation_seed: int) -> TaskData:
    """The §4 task (``n_images`` random MNIST training images, full test set, or the stand-in) with a
    stratified validation split carved from the training images."""
    builder = smith_le_mnist_task if dataset == "mnist" else mnist_standin_task
    base = builder(subset_seed, n_images)
    return with_validation_split(base, validation_size, validation_seed)


class _Trainer:
    """``train_and_evaluate(ε, B, m)`` through the engine and the store (a trained run is never retrained)."""

    def __init__(self, spec: LargeBatchSpec, ctx: RunContext) -> None:
        self.spec, self.ctx = spec, ctx
        self.task_name = (
            f"smith-le-{spec.dataset}-n{spec.n_images}-subset{spec.subset_seed}"
            f"-val{spec.validation_size}-seed{spec.validation_seed}"
        )
        self.factory = functools.partial(
            tuning_task, spec.dataset, spec.n_images, spec.validation_size, spec.subset_seed, spec.validation_seed
        )

    def config(self, epsilon: float, batch_size: int, momentum: float, seed: int) -> TrainConfig:
        lr = LR_PER_EPSILON[self.spec.parameterisation] * epsilon
        return TrainConfig(
            smith_le_shallow_net(), lr, batch_size, epochs=self.spec.epochs, momentum=momentum, seed=seed, eval_points=0
        )

    def runs(self, settings: list[tuple[float, int, float]], seeds: list[int]) -> list[SweptRun]:
        """Train (or read back) every (ε, B, m) × seed in one sweep, in that order."""
        runs = [SweepRun(self.config(*setting, seed), task=self.task_name) for setting in settings for seed in seeds]
        return self.ctx.sweep(Sweep(STORE_NAMESPACE, {self.task_name: self.factory}, runs))

    def tuning_seeds(self) -> list[int]:
        return [self.ctx.seed + i for i in range(self.spec.seeds)]

    def __call__(self, epsilon: float, batch_size: int, momentum: float) -> float:
        return summarise(self.runs([(epsilon, batch_size, momentum)], self.tuning_seeds()))["validation_accuracy"]


def summarise(runs: list[SweptRun]) -> SettingSummary:
    """Mean validation/test accuracy and updates of the runs of one setting (NaN accuracies if any diverged)."""
    stable = all(r.status == "finished" for r in runs)
    if not all(r.status in ("finished", "diverged") for r in runs):
        failed = next(r for r in runs if r.status not in ("finished", "diverged"))
        raise RuntimeError(f"a training run failed: {failed.error}")
    mean = (lambda key: float(np.mean([r.metrics[key] for r in runs]))) if stable else (lambda key: math.nan)
    return {
        "validation_accuracy": mean("validation_acc"),
        "validation_accuracy_per_seed": [r.metrics.get("validation_acc") for r in runs],
        "test_accuracy": mean("test_acc"),
        "test_accuracy_per_seed": [r.metrics.get("test_acc") for r in runs],
        "updates": int(runs[0].metrics["steps_done"]) if stable else None,
        "stable": stable,
    }


def _tuning_file(spec: LargeBatchSpec, ctx: RunContext) -> Path:
    """The tuning's trial cache, one per spec, fall tolerance and base seed (its trials are keyed by (ε, B, m)
    alone)."""
    identity = canonical_json(spec_to_dict(spec) | {"tolerance": FALL_TOLERANCE, "seed": ctx.seed})
    return ctx.out_dir / f"tuning-{hashlib.sha256(identity.encode()).hexdigest()[:16]}.sqlite"


def _setting(setting: tuple[float, int, float], trail: list[Trial]) -> Setting:
    """``setting`` with the tuning's numbers of it (its first trial in the trail)."""
    lr, batch_size, momentum = setting
    row = next(
        t
        for t in trail
        if math.isclose(t["lr"], lr) and t["batch_size"] == batch_size and math.isclose(t["momentum"], momentum)
    )
    return {
        "lr": lr,
        "batch_size": batch_size,
        "momentum": momentum,
        "validation_accuracy": row["validation_accuracy"],
        "test_accuracy": row["test_accuracy"],
        "updates": row["updates"],
    }


def run(spec: LargeBatchSpec, ctx: RunContext) -> LargeBatchData:
    trainer = _Trainer(spec, ctx)
    # step 1's grid in one sweep (its runs train side by side); the tuning then reads them back
    trainer.runs([(spec.lr, b, spec.momentum) for b in spec.batch_sizes], trainer.tuning_seeds())
    result = tune_large_batch(
        trainer,
        spec.n_train,
        _tuning_file(spec, ctx),
        batch_sizes=spec.batch_sizes,
        lr=spec.lr,
        momentum=spec.momentum,
        tolerance=FALL_TOLERANCE,
        local_fractions=spec.local_fractions,
    )
    trail: list[Trial] = []
    for trial in result.trail:
        summary = summarise(trainer.runs([(trial.lr, trial.batch_size, trial.momentum)], trainer.tuning_seeds()))
        trail.append(
            {"step": trial.step, "lr": trial.lr, "batch_size": trial.batch_size, "momentum": trial.momentum} | summary  # type: ignore[typeddict-item]
        )
    initial = (result.initial.lr, result.initial.batch_size, result.initial.momentum)
    final = (result.lr, result.batch_size, result.momentum)
    fresh = [ctx.seed + CONFIRM_SEED_OFFSET + i for i in range(spec.confirm_seeds)]
    confirmed = trainer.runs([initial, final], fresh)
    return {
        "trail": trail,
        "initial": _setting(initial, trail),
        "final": _setting(final, trail),
        "confirmation": {
            "seeds": fresh,
            "initial": summarise(confirmed[: len(fresh)]),
            "final": summarise(confirmed[len(fresh) :]),
        },
        "n_train": spec.n_train,
        "validation_size": spec.validation_size,
        "epochs": spec.epochs,
    }


def settings(spec: LargeBatchSpec) -> dict[str, Any]:
    """The spec and what it implies: the lr per ε, the model, the budget, the fall tolerance, the store."""
    return spec_to_dict(spec) | {
        "tolerance": FALL_TOLERANCE,
        "lr_per_epsilon": LR_PER_EPSILON[spec.parameterisation],
        "parameterisation_why": PARAMETERISATION_WHY[spec.parameterisation],
        "model": "784-800-10 ReLU MLP, Glorot-uniform weights, zero biases",
        "budget": f"{spec.epochs:g} epochs per trial (updates = epochs·N/B)",
        "store_namespace": STORE_NAMESPACE,
    }


# ---- claims -------------------------------------------------------------------------------------------------


def stopping_reasons(trail: Sequence[Trial]) -> list[str]:
    """Where the trail stopped, from its numbers: an initial optimum at the edge of step 1's grid, and the
    trial of each step-2 phase whose accuracy fell (or that it reached the training-set size)."""
    reasons = []
    grid = [t for t in trail if t["step"].startswith("1") and t["stable"]]
    if grid:
        best = max(grid, key=lambda t: t["validation_accuracy"])
        sizes = sorted(t["batch_size"] for t in grid)
        if best["batch_size"] in (sizes[0], sizes[-1]):
            reasons.append(f"the initial optimum B = {best['batch_size']} is at the edge of step 1's grid {sizes}")
    for phase in ("2a", "2b"):
        rows = [t for t in trail if t["step"].startswith(phase)]
        if not rows:
            continue
        before = [t for t in trail[: trail.index(rows[-1])] if t["stable"]]
        best_accuracy = max(t["validation_accuracy"] for t in before)
        last = rows[-1]
        if not last["stable"]:
            reasons.append(f"step {phase} stopped at B = {last['batch_size']}: training diverged")
        elif last["validation_accuracy"] < best_accuracy:
            reasons.append(
                f"step {phase} stopped at B = {last['batch_size']} (ε = {last['lr']:.3g}, m = {last['momentum']:.4g}): "
                f"validation accuracy {last['validation_accuracy']:.4f} < best so far {best_accuracy:.4f}"
            )
    return reasons


def _large_batch_verdict(
    data: LargeBatchData, before: SettingSummary | Setting, after: SettingSummary | Setting, note: str
) -> Verdict:
    """App. E's promise with the validation accuracies ``before`` (initial optimum) and ``after`` (final)."""
    initial, final = data["initial"], data["final"]
    factor = final["batch_size"] / initial["batch_size"]
    fewer = final["updates"] < initial["updates"]  # type: ignore[operator]
    drop = before["validation_accuracy"] - after["validation_accuracy"]  # NaN if unstable
    accurate = bool(drop <= ACCURACY_SLACK)
    reasons = []
    if factor < BATCH_FACTOR:
        reasons.append(f"the tuning ended at B = {final['batch_size']}, only {factor:.3g}× the initial optimum")
    if not accurate:
        reasons.append(f"validation accuracy fell by {100 * drop:.3g} points (allowed {100 * ACCURACY_SLACK:g})")
    if not fewer:
        reasons.append(f"{final['updates']} updates vs {initial['updates']}")
    if reasons:
        reasons.extend(stopping_reasons(data["trail"]))
    return Verdict.of(
        factor >= BATCH_FACTOR and accurate and fewer,
        {
            "initial": {"B": initial["batch_size"], "lr": initial["lr"], "momentum": initial["momentum"]},
            "final": {"B": final["batch_size"], "lr": final["lr"], "momentum": final["momentum"]},
            "batch_factor": factor,
            "validation_accuracy_initial": before["validation_accuracy"],
            "validation_accuracy_final": after["validation_accuracy"],
            "validation_drop_points": 100 * drop,
            "test_accuracy_initial": before["test_accuracy"],
            "test_accuracy_final": after["test_accuracy"],
            "updates_initial": initial["updates"],
            "updates_final": final["updates"],
        },
        "; ".join(reasons) if reasons else note,
    )


def check_tuning(data: LargeBatchData) -> Verdict:
    return _large_batch_verdict(
        data,
        data["initial"],
        data["final"],
        "on the tuning runs the accuracy condition holds by construction (a setting is accepted only if its "
        "validation accuracy did not fall)",
    )


def check_fresh_seeds(data: LargeBatchData) -> Verdict:
    return _large_batch_verdict(data, data["confirmation"]["initial"], data["confirmation"]["final"], "")


def check_fewer_updates(data: LargeBatchData) -> Verdict:
    initial, final = data["initial"], data["final"]
    fewer = final["updates"] is not None and initial["updates"] is not None and final["updates"] < initial["updates"]
    return Verdict.of(
        fewer,
        {
            "updates_initial": initial["updates"],
            "updates_final": final["updates"],
            "B_initial": initial["batch_size"],
            "B_final": final["batch_size"],
        },
        "" if fewer else "; ".join(stopping_reasons(data["trail"])),
    )


def check_test_accuracy_increases(data: LargeBatchData) -> Verdict:
    confirmation = data["confirmation"]
    final, initial = (
        np.asarray([np.nan if v is None else v for v in confirmation[key].get("test_accuracy_per_seed", [])], float)
        for key in ("final", "initial")
    )
    value = {
        "test_accuracy_initial": finite_mean(initial),
        "test_accuracy_final": finite_mean(final),
        "B_initial": data["initial"]["batch_size"],
        "B_final": data["final"]["batch_size"],
    }
    return effect_verdict(directional_effect(final, initial, direction=1), value)


_APP_E_QUOTE = (
    "We believe that this simple procedure will increase the test accuracy, reduce the cost of tuning "
    "hyper-parameters, and significantly reduce the final number of gradient updates required to train a model."
)


def _app_e(paper_value: str | None = None) -> Provenance:
    """App. E's closing promise; every App. E verdict rests on the ε calibration (EPSILON_MAPPING)."""
    return SMITH_LE_2018.cite("App. E", _APP_E_QUOTE, paper_value, EPSILON_MAPPING)


_PROMISE = (
    f"App. E ends at B ≥ {BATCH_FACTOR:g}× the initial optimum with validation accuracy at most "
    f"{100 * ACCURACY_SLACK:g} points below the initial optimum's, in fewer updates"
)
_RULE = "B_final/B_initial ≥ BATCH_FACTOR, accuracy drop ≤ ACCURACY_SLACK and updates_final < updates_initial"

CLAIMS = (
    ClaimSpec(
        id="appE/fewer-updates",
        statement="App. E's procedure ends at a setting that trains in fewer gradient updates than the initial "
        "optimum (step 1's best batch size at ε = 0.1, m = 0.9), at the same number of epochs" + CALIBRATED,
        kind="paper",
        provenance=_app_e("no number: 'significantly reduce'"),
        test=ClaimTest(
            "updates of a run at the final and at the initial setting (epochs·N/B)",
            "updates_final < updates_initial",
        ),
        check=check_fewer_updates,
    ),
    ClaimSpec(
        id="appE/test-accuracy-increases",
        statement="App. E's final setting reaches a higher test accuracy than the initial optimum (step 1's best "
        "batch size at ε = 0.1, m = 0.9), both retrained from fresh seeds" + CALIBRATED,
        kind="paper",
        provenance=_app_e("no number: 'increase the test accuracy'"),
        test=ClaimTest(
            "final test accuracy per fresh seed, final setting minus initial optimum; Welch's 95% interval",
            "holds when the interval lies above zero, fails when below, else (or with fewer than 3 seeds) inconclusive",
        ),
        check=check_test_accuracy_increases,
    ),
    ClaimSpec(
        id="appE/large-batch-tuning",
        statement=f"(tuning) {_PROMISE}" + CALIBRATED,
        kind="extension",
        provenance=_app_e(),
        test=ClaimTest(
            "final vs initial setting on the tuning runs: batch-size factor, validation accuracy drop, updates",
            _RULE + " (the drop holds by construction when FALL_TOLERANCE = 0)",
            {"BATCH_FACTOR": BATCH_FACTOR, "ACCURACY_SLACK": ACCURACY_SLACK, "FALL_TOLERANCE": FALL_TOLERANCE},
        ),
        check=check_tuning,
    ),
    ClaimSpec(
        id="appE/large-batch-fresh-seeds",
        statement=f"(fresh-seeds) {_PROMISE}" + CALIBRATED,
        kind="extension",
        provenance=_app_e(),
        test=ClaimTest(
            "final vs initial setting retrained from fresh seeds: batch-size factor, validation accuracy drop, updates",
            _RULE,
            {"BATCH_FACTOR": BATCH_FACTOR, "ACCURACY_SLACK": ACCURACY_SLACK},
        ),
        check=check_fresh_seeds,
    ),
)


# ---- figure -------------------------------------------------------------------------------------------------


def draw_app_e(data: LargeBatchData, fig_dir: Path) -> Path:
    """App. E's trail: validation accuracy (left) and updates (right) of every trial against B, by step,
    with the initial optimum and the final setting marked; fresh-seed retraining as error bars."""
    trail = data["trail"]
    fig, (acc_ax, upd_ax) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for step in dict.fromkeys(t["step"] for t in trail):
        rows = [t for t in trail if t["step"] == step and t["stable"]]
        if not rows:
            continue
        style = "o-" if step.startswith("2") else "o"
        acc_ax.plot([t["batch_size"] for t in rows], [t["validation_accuracy"] for t in rows], style, label=step)
        upd_ax.plot([t["batch_size"] for t in rows], [t["updates"] for t in rows], style, label=step)
    for key, marker, label in (("initial", "s", "initial optimum"), ("final", "*", "final setting")):
        point: Setting = data[key]  # type: ignore[literal-required]
        acc_ax.plot([point["batch_size"]], [point["validation_accuracy"]], "k" + marker, markersize=12, label=label)
        upd_ax.plot([point["batch_size"]], [point["updates"]], "k" + marker, markersize=12, label=label)
        fresh: SettingSummary = data["confirmation"][key]  # type: ignore[literal-required]
        per_seed = [v for v in fresh["validation_accuracy_per_seed"] if v is not None]
        if per_seed:
            acc_ax.errorbar(
                [point["batch_size"] * 1.08],
                [np.mean(per_seed)],
                yerr=[[np.mean(per_seed) - min(per_seed)], [max(per_seed) - np.mean(per_seed)]],
                fmt=marker,
                color="0.4",
                markerfacecolor="none",
                capsize=3,
                label=f"{label}, fresh seeds (range)",
            )
    for ax in (acc_ax, upd_ax):
        ax.set_xscale("log")
        ax.set_xlabel("batch size B")
    upd_ax.set_yscale("log")
    acc_ax.set_ylabel("validation accuracy")
    upd_ax.set_ylabel(f"updates ({data['epochs']:g} epochs)")
    final = data["final"]
    acc_ax.set_title(f"App. E: final B = {final['batch_size']}, ε = {final['lr']:.3g}, m = {final['momentum']:.4g}")
    upd_ax.set_title("updates each trial takes")
    plots.legend_below(acc_ax, fontsize=7, ncols=4)
    return plots.save(fig, fig_dir / "appE_large_batch.png")


# a stand-in task of 120 images (20 held out), one epoch per trial: the whole pipeline in seconds
_TINY = {
    "dataset": "standin",
    "n_images": 120,
    "validation_size": 20,
    "epochs": 1.0,
    "seeds": 1,
    "confirm_seeds": 1,
    "batch_sizes": (4, 8),
    "local_fractions": (1.5,),
}

EXPERIMENT = Experiment(
    name="smith-le-large-batch",
    description="App. E tuning on the 800-unit MLP: B_opt at ε = 0.1, m = 0.9, then B×3 with ε ∝ B and 1−m ∝ 1/B.",
    title="Large-batch training by App. E's tuning heuristic (Smith & Le 2018, App. E)",
    paper="Smith & Le, ICLR 2018, Appendix E",
    specs={
        "quick": LargeBatchSpec(epochs=30, seeds=2, confirm_seeds=3),
        "paper": LargeBatchSpec(epochs=300, seeds=5, confirm_seeds=5),
    },
    tiny={"quick": _TINY, "paper": _TINY},
    run=run,
    claims=CLAIMS,
    figures=(Figure("appE", draw_app_e, LargeBatchData),),
    settings=settings,
)
