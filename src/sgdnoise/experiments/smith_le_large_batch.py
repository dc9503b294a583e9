"""Smith & Le 2018, App. E: the large-batch tuning heuristic, run on the 800-unit MLP of §4.

``sgdnoise.tuning.tune_large_batch`` runs App. E's three steps on a ``train_and_evaluate(ε, B, m) ->
validation accuracy``; here that function trains the §4 model (784 → 800 ReLU → 10, Glorot init) through
the engine on ``n_images`` random MNIST training images of which ``validation_size`` (stratified, seeded)
are held out as the validation set, and returns the mean validation accuracy over ``seeds`` runs (NaN if
any run diverged: "training is not stable"). ε is the paper's learning rate; the PyTorch lr is
``LR_PER_EPSILON[parameterisation]·ε`` exactly as in ``smith_le_sgd`` (calibrated: 0.1·ε), momentum in the
TensorFlow form of App. D.

Budget: every trial trains for the same number of ``epochs``. App. E states no budget of its own; its
goal is to "reduce the final number of gradient updates", which is the number of updates at a fixed
number of epochs, epochs·N/B. Under the two scalings of step 2 (ε ∝ B, then (1 − m) ∝ 1/B) a fixed epoch
count also keeps the integration time of the SDE, (ε/(1 − m))·updates, fixed (§5 and App. D).

App. E as stated: ε = 0.1, m = 0.9, a logarithmic grid of B (``batch_sizes``); ×3 steps of B with ε ∝ B
until the accuracy falls, then with (1 − m) ∝ 1/B until it falls or B reaches N (the "hardware limit"
is the training-set size here); then a linear retune of B around the result. "Falls" means below the
best accuracy of the step so far by more than ``tolerance`` (0: any fall, the paper's wording).

Claims. The tuning accepts a setting only when its validation accuracy does not fall, so on the tuning
runs themselves "no more than 0.5 points below the initial optimum" holds by construction (tolerance 0);
the informative check is the second claim: the initial and the final setting retrained from
``confirm_seeds`` fresh seeds, compared on the validation set (test accuracy reported beside it).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sgdnoise.data import TaskData, mnist_standin_task, smith_le_mnist_task, with_validation_split
from sgdnoise.engine import TrainConfig
from sgdnoise.experiments.base import Experiment, ExperimentResult, RunContext
from sgdnoise.experiments.smith_le_sgd import LR_PER_EPSILON, PARAMETERISATION_WHY, Parameterisation
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.models import smith_le_shallow_net
from sgdnoise.results import Claim, canonical_json
from sgdnoise.sweep import Sweep, SweepRun, SweptRun, run_sweep
from sgdnoise.tuning import tune_large_batch

STORE_NAMESPACE = "smith-le-large-batch"
BATCH_FACTOR = 10.0  # the claim: the final B is at least 10× the initial optimum
ACCURACY_SLACK = 0.005  # ... with validation accuracy at most 0.5 points below the initial optimum's
CONFIRM_SEED_OFFSET = 1000  # fresh seeds of the confirmation runs: ctx.seed + 1000 + i


@dataclass(frozen=True)
class LargeBatchSpec:
    """Settings of the App. E run.

    ``n_images``: training images drawn (``subset_seed``); ``validation_size`` of them are held out
    (stratified, ``validation_seed``). ``epochs``: the fixed budget of every trial. ``seeds``: runs averaged
    per trial. ``batch_sizes``: step 1's logarithmic grid; ``lr``/``momentum``: App. E's ε = 0.1, m = 0.9;
    ``tolerance``: how far below the step's best a trial may be without counting as a fall;
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
    tolerance: float = 0.0
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


SPECS = {
    "quick": LargeBatchSpec(epochs=30, seeds=2, confirm_seeds=3),
    "paper": LargeBatchSpec(epochs=300, seeds=5, confirm_seeds=5),
}


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
        ctx = self.ctx
        return run_sweep(
            Sweep(STORE_NAMESPACE, {self.task_name: self.factory}, runs),
            ctx.store,
            executor=ctx.executor,
            ray_address=ctx.ray_address,
            device=ctx.device,
            show_progress=ctx.show_progress,
        )

    def tuning_seeds(self) -> list[int]:
        return [self.ctx.seed + i for i in range(self.spec.seeds)]

    def __call__(self, epsilon: float, batch_size: int, momentum: float) -> float:
        return summarise(self.runs([(epsilon, batch_size, momentum)], self.tuning_seeds()))["validation_accuracy"]


def summarise(runs: list[SweptRun]) -> dict[str, Any]:
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
        "updates": int(runs[0].metrics["steps_done"]) if stable else None,
        "stable": stable,
    }


def _tuning_file(spec: LargeBatchSpec, ctx: RunContext) -> Path:
    """The tuning's trial cache, one per spec and base seed (its trials are keyed by (ε, B, m) alone)."""
    identity = canonical_json(spec_to_dict(spec) | {"seed": ctx.seed})
    return ctx.out_dir / f"tuning-{hashlib.sha256(identity.encode()).hexdigest()[:16]}.sqlite"


class SmithLeLargeBatch(Experiment):
    name = "smith-le-large-batch"
    title = "Large-batch training by App. E's tuning heuristic (Smith & Le 2018, App. E)"
    paper = "Smith & Le, ICLR 2018, Appendix E"

    def run(self, spec: LargeBatchSpec, ctx: RunContext) -> ExperimentResult:
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
            tolerance=spec.tolerance,
            local_fractions=spec.local_fractions,
        )
        trail = []
        for trial in result.trail:
            summary = summarise(trainer.runs([(trial.lr, trial.batch_size, trial.momentum)], trainer.tuning_seeds()))
            trail.append(
                {"step": trial.step, "lr": trial.lr, "batch_size": trial.batch_size, "momentum": trial.momentum}
                | summary
            )
        initial = (result.initial.lr, result.initial.batch_size, result.initial.momentum)
        final = (result.lr, result.batch_size, result.momentum)
        fresh = [ctx.seed + CONFIRM_SEED_OFFSET + i for i in range(spec.confirm_seeds)]
        confirmed = trainer.runs([initial, final], fresh)
        data = {
            "trail": trail,
            "initial": _setting(initial) | _find(trail, initial),
            "final": _setting(final) | _find(trail, final),
            "confirmation": {
                "seeds": fresh,
                "initial": summarise(confirmed[: len(fresh)]),
                "final": summarise(confirmed[len(fresh) :]),
            },
            "n_train": spec.n_train,
            "validation_size": spec.validation_size,
            "epochs": spec.epochs,
        }
        settings = spec_to_dict(spec) | {
            "lr_per_epsilon": LR_PER_EPSILON[spec.parameterisation],
            "parameterisation_why": PARAMETERISATION_WHY[spec.parameterisation],
            "model": "784-800-10 ReLU MLP, Glorot-uniform weights, zero biases",
            "budget": f"{spec.epochs:g} epochs per trial (updates = epochs·N/B)",
            "store_namespace": STORE_NAMESPACE,
        }
        return ExperimentResult(claims=check_claims(data), data=data, settings=settings)

    def plot(self, data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
        from sgdnoise import plots

        return [plots.smith_le_large_batch_figure(data, fig_dir)]


def _setting(setting: tuple[float, int, float]) -> dict[str, Any]:
    lr, batch_size, momentum = setting
    return {"lr": lr, "batch_size": batch_size, "momentum": momentum}


def _find(trail: list[dict[str, Any]], setting: tuple[float, int, float]) -> dict[str, Any]:
    """The tuning's numbers of ``setting`` (its first trial in the trail)."""
    lr, batch_size, momentum = setting
    row = next(
        t
        for t in trail
        if math.isclose(t["lr"], lr) and t["batch_size"] == batch_size and math.isclose(t["momentum"], momentum)
    )
    return {k: row[k] for k in ("validation_accuracy", "test_accuracy", "updates")}


def check_claims(data: Mapping[str, Any]) -> list[Claim]:
    """App. E's promise: B_final ≥ 10·B_initial, validation accuracy at most 0.5 points below the initial
    optimum's, fewer updates; on the tuning runs and on fresh-seed retraining of both settings."""
    initial, final = data["initial"], data["final"]
    factor = final["batch_size"] / initial["batch_size"]
    fewer = final["updates"] < initial["updates"]
    claims = []
    for label, before, after, note in (
        (
            "tuning",
            initial,
            final,
            "on the tuning runs the accuracy condition holds by construction (a setting is accepted only if its "
            "validation accuracy did not fall)",
        ),
        ("fresh-seeds", data["confirmation"]["initial"], data["confirmation"]["final"], ""),
    ):
        drop = before["validation_accuracy"] - after["validation_accuracy"]  # NaN if unstable
        accurate = bool(drop <= ACCURACY_SLACK)
        holds = factor >= BATCH_FACTOR and accurate and fewer
        reasons = []
        if factor < BATCH_FACTOR:
            reasons.append(f"the tuning ended at B = {final['batch_size']}, only {factor:.3g}× the initial optimum")
        if not accurate:
            reasons.append(f"validation accuracy fell by {100 * drop:.3g} points (allowed {100 * ACCURACY_SLACK:g})")
        if not fewer:
            reasons.append(f"{final['updates']} updates vs {initial['updates']}")
        if reasons:
            reasons.extend(stopping_reasons(data["trail"]))
        claims.append(
            Claim(
                id=f"appE/large-batch-{label}",
                statement=f"({label}) App. E ends at B ≥ {BATCH_FACTOR:g}× the initial optimum with validation "
                f"accuracy at most {100 * ACCURACY_SLACK:g} points below the initial optimum's, in fewer updates",
                holds=holds,
                value={
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
                note="; ".join(reasons) if reasons else note,
            )
        )
    return claims


def stopping_reasons(trail: list[Mapping[str, Any]]) -> list[str]:
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
        best = max(t["validation_accuracy"] for t in before)
        last = rows[-1]
        if not last["stable"]:
            reasons.append(f"step {phase} stopped at B = {last['batch_size']}: training diverged")
        elif last["validation_accuracy"] < best:
            reasons.append(
                f"step {phase} stopped at B = {last['batch_size']} (ε = {last['lr']:.3g}, m = {last['momentum']:.4g}): "
                f"validation accuracy {last['validation_accuracy']:.4f} < best so far {best:.4f}"
            )
    return reasons


EXPERIMENTS = (SmithLeLargeBatch(SPECS),)
