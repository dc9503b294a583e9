"""Smith & Le 2018, §4–5 and App. B, D (Figures 3–8): the shared set-up of the batch-size experiments.

A shallow MLP (784 → 800 ReLU → 10, Glorot init) on N random MNIST training images (one fixed subset
seed, recorded), tested on the full 10k test set, trained with constant-ε SGD and TensorFlow-form
momentum (App. D eq. 29–30: ``A ← m·A + g``, ``ω ← ω − lr·A``, no damping) on the mean cross-entropy.
One module per figure uses it:

- ``gap`` (``smith-le-gap``, Fig. 3): test accuracy and cross-entropy during training, B = 30 vs B = 1000.
- ``batch`` (``smith-le-batch``, Fig. 4): test accuracy during training and after the budget, B from 1 to 1000.
- ``scaling_lr`` (``smith-le-scaling-lr``, Fig. 5): accuracy vs B for several ε (steps = budget/ε), B_opt ∝ ε.
- ``scaling_n`` (``smith-le-scaling-n``, Fig. 6): accuracy vs B for several N, B_opt ∝ N.
- ``scaling_momentum`` (``smith-le-scaling-momentum``, Fig. 7): accuracy vs B for several m, B_opt ∝ 1/(1−m).
  (What Fig. 5–7 share beyond this set-up is in ``scaling``.)
- ``l2`` (``smith-le-l2``, Fig. 8, App. B): Fig. 3 with L2 λ = 0.1 on the *summed* cost, C = H + λ|ω|²/2
  with H = Σ_i C_i. Per mean loss that is λ/N (1e-4 at N = 1000), and the paper's update shrinks ω by
  ε·λ/N per step; the engine's weight decay is ``l2 = λ/(c·N)`` with c = ``LR_PER_EPSILON`` (so lr·l2 =
  ε·λ/N): 1e-3 calibrated, 1e-4 literal. (At 1e-4 with lr = 0.1 the decay time, 10⁴ steps, exceeds the
  budget and L2 has no visible effect — docs/epsilon-mapping.md §4.)

Parameterisation (the ε ↔ PyTorch-lr mapping, docs/epsilon-mapping.md): the default ``"calibrated"``
uses ``lr = LR_PER_EPSILON["calibrated"]·ε = 0.1·ε`` with undamped momentum, because with the literal
``lr = ε`` (eq. 11 and App. D read literally) every ReLU dies for B ≤ 30 and no batch-size optimum
appears, while 0.1·ε reproduces the peak at B ≈ 30 and its shift with ε and m. Every term the paper
multiplies by ε keeps its size, so the L2 weight decay becomes λ/(0.1·N) (see ``weight_decay``). The
paper's literal setting is ``"literal"`` (``lr = ε``): ``sgdnoise reproduce smith-le-batch --set
parameterisation=literal``. The claims whose verdict rests on this calibration cite
``EPSILON_MAPPING`` as their evidence. The learning rate is part of every run's store key, so both
parameterisations can share a store.

Budgets: ``budget`` is the number of updates at ε = 1 and every run takes ``round(budget/ε)`` updates
(§5: 10⁴/ε at paper scale). A run that would process more than ``max_examples_per_run`` examples
(B·steps) or whose B exceeds N is *not run*: its status is None, it is drawn nowhere, and a curve whose
best run batch size is the last one run before such a gap counts as having its optimum at the edge
(not established), exactly like an optimum at the end of the grid.

All runs of all six experiments live in one store namespace (``STORE_NAMESPACE``), keyed by the
training config and the task (N, subset seed), so runs whose configs coincide are trained once when
experiments share a store: ``smith-le-l2``'s unregularised runs are exactly ``smith-le-gap``'s runs
(copy ``runs/smith-le-gap/store.sqlite`` into ``runs/smith-le-l2/`` before running it to reuse them).

Quick scale (each a few minutes on a quiet 2-core machine): 1000 updates at ε = 1 instead of 10⁴
(the B = 30 vs full-batch gap is complete by then, docs/epsilon-mapping.md §5), 3 seeds (the fewest a
verdict over seeds takes, analysis.effects.MIN_SEEDS), and reduced grids (see each figure's module).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

import numpy as np
from matplotlib.axes import Axes

from sgdnoise import analysis, plots
from sgdnoise.data import TaskData, mnist_standin_task, smith_le_mnist_task
from sgdnoise.engine import TrainConfig
from sgdnoise.experiments.base import RunContext
from sgdnoise.experiments.claims import NotEnoughData
from sgdnoise.experiments.grid import GridResults, mean_std, nullable
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.models import smith_le_shallow_net
from sgdnoise.sweep import Sweep, SweepRun

Parameterisation = Literal["calibrated", "literal"]
# PyTorch learning rate per unit of the paper's ε (docs/epsilon-mapping.md §2)
LR_PER_EPSILON: dict[str, float] = {"calibrated": 0.1, "literal": 1.0}
PARAMETERISATION_WHY = {
    "calibrated": (
        "lr = 0.1·ε: with the literal lr = ε every ReLU dies for B ≤ 30 and no batch-size optimum appears, "
        "whereas 0.1·ε (momentum undamped, mean loss, pixels in [0,1], Glorot init) reproduces the optimum "
        "at B ≈ 30 and its shift with ε and m (docs/epsilon-mapping.md)"
    ),
    "literal": "lr = ε: the paper's eq. 11 and App. D eq. 29-30 read literally with the mean batch loss",
}
EPSILON_MAPPING = "docs/epsilon-mapping.md"  # the measurements behind lr = 0.1·ε
STORE_NAMESPACE = "smith-le-sgd"
FAIL_ACCURACY = 0.5  # "fails to train": final test accuracy below this (chance is 0.1)
CHANCE_ACCURACY = 0.1  # a diverged run's score in final_accuracy (10 classes)
# a change of the test cross-entropy after its minimum smaller than this (nats) counts as none: the project's
# margin (≈ 5% of its level, 0.3–0.5 here; the paper gives none), for Fig. 3b "increasing" and App. B "does not degrade"
CROSS_ENTROPY_MARGIN = 0.02
# the text says only "between 1 and 1000" (§4); the 1-3-10 series is this project's reading of the figures' axes
PAPER_B_GRID = (1, 3, 10, 30, 100, 300, 1000)
MNIST_TRAIN_SIZE = 60_000  # the most training images N can be (the stand-in keeps to MNIST's size too)
# a run of seconds on the synthetic stand-in (the conformance suite's smoke run; per figure a few more fields)
TINY: dict[str, Any] = {
    "batch_sizes": (1, 4, 16, 40),
    "seeds": 2,
    "budget": 4,
    "train_sizes": (40,),
    "max_examples_per_run": 100,
    "dataset": "standin",
}
Swept = Literal["none", "epsilon", "n_train", "momentum", "l2_lambda"]
CurveKey = tuple[float, int, float, float]  # (ε, N, m, λ)


def beyond(batch_size: int, up: bool) -> int | None:
    """The next batch size above (``up``) or below ``batch_size`` on the paper's series 1, 3, 10, 30, …
    (None below 1)."""
    series = [m * 10**k for k in range(9) for m in (1, 3)]
    if up:
        return next(b for b in series if b > batch_size)
    below = [b for b in series if b < batch_size]
    return below[-1] if below else None


@dataclass(frozen=True)
class SGDSweepSpec:
    """One experiment's grid: every combination of ε, N, m and λ is one curve over ``batch_sizes``.

    ``budget``: updates at ε = 1 (a run at ε takes round(budget/ε)). ``l2_lambdas``: the paper's λ on
    the summed cost (engine ``l2 = λ/(c·N)``). ``fit_min_x``: only curves whose swept value is at least
    this enter the exponent's fit (Fig. 6: the paper sees B_opt ∝ N only for N ≳ 20000).
    ``dataset``: ``"mnist"`` (the paper's) or ``"standin"``, a synthetic MNIST-shaped task (784 inputs,
    10 classes, a random linear teacher) for smoke tests of the whole pipeline without MNIST.
    ``extend_grid``: a curve whose best batch size sits at an edge of the points run gets the next batch
    size beyond that edge on the paper's 1-3-10 series (``beyond``), when B ≤ N and the example cap
    allow it, for at most ``max_extensions`` rounds (SED §4's protocol: never an optimum at a grid edge).
    ``compare_literal`` (``smith-le-batch``): also run the grid with the literal lr = ε.
    """

    batch_sizes: tuple[int, ...]
    seeds: int
    budget: int
    epsilons: tuple[float, ...] = (1.0,)
    train_sizes: tuple[int, ...] = (1000,)
    momenta: tuple[float, ...] = (0.9,)
    l2_lambdas: tuple[float, ...] = (0.0,)
    eval_points: int = 0
    max_examples_per_run: int | None = None
    subset_seed: int = 0
    dataset: Literal["mnist", "standin"] = "mnist"
    parameterisation: Parameterisation = "calibrated"
    fit_min_x: float | None = None
    extend_grid: bool = False
    max_extensions: int = 2
    compare_literal: bool = False

    def __post_init__(self) -> None:
        if (
            not self.batch_sizes
            or any(b < 1 for b in self.batch_sizes)
            or list(self.batch_sizes) != sorted(set(self.batch_sizes))
        ):
            raise ValueError(f"batch_sizes must be distinct increasing positive ints, got {self.batch_sizes}")
        if self.seeds < 1 or self.budget < 1:
            raise ValueError("seeds and budget must be >= 1")
        for axis in ("epsilons", "train_sizes", "momenta", "l2_lambdas"):  # a value twice would be a run twice
            values = getattr(self, axis)
            if not values or len(set(values)) != len(values):
                raise ValueError(f"{axis} must be one or more distinct values, got {values}")
        if not all(0 < e < math.inf for e in self.epsilons):
            raise ValueError(f"epsilons must be finite and > 0, got {self.epsilons}")
        if not all(1 <= n <= MNIST_TRAIN_SIZE for n in self.train_sizes):
            raise ValueError(
                f"train_sizes must lie in [1, {MNIST_TRAIN_SIZE}] (MNIST's training set), got {self.train_sizes}"
            )
        if any(not 0.0 <= m < 1.0 for m in self.momenta) or any(lam < 0 for lam in self.l2_lambdas):
            raise ValueError("momenta must lie in [0, 1) and l2_lambdas be >= 0")
        if self.eval_points < 0:
            raise ValueError(f"eval_points must be >= 0, got {self.eval_points}")
        if self.max_examples_per_run is not None and self.max_examples_per_run < 1:
            raise ValueError(f"max_examples_per_run must be >= 1 or none, got {self.max_examples_per_run}")
        if self.dataset not in ("mnist", "standin"):
            raise ValueError(f"dataset must be 'mnist' or 'standin', got {self.dataset!r}")
        if self.parameterisation not in LR_PER_EPSILON:
            raise ValueError(f"parameterisation must be one of {sorted(LR_PER_EPSILON)}, got {self.parameterisation!r}")
        if self.max_extensions < 0:
            raise ValueError("max_extensions must be >= 0")
        if not any(self.allows(e, n, b) for e in self.epsilons for n in self.train_sizes for b in self.batch_sizes):
            raise ValueError(
                f"no run to train: every batch size exceeds N (train_sizes={self.train_sizes}) or would process more "
                f"than max_examples_per_run={self.max_examples_per_run} examples (B·budget/ε)"
            )

    def steps(self, epsilon: float) -> int:
        """§5: the budget scales as 1/ε (paper: 10⁴/ε updates)."""
        return max(1, round(self.budget / epsilon))

    def learning_rate(self, epsilon: float) -> float:
        return LR_PER_EPSILON[self.parameterisation] * epsilon

    def weight_decay(self, lam: float, n_train: int) -> float:
        """Engine ``l2`` for the paper's λ (App. B): λ|ω|²/2 on the summed cost is (λ/N)|ω|²/2 on the
        mean loss, so the paper's update shrinks ω by ε·λ/N per step. With lr = c·ε (c =
        ``LR_PER_EPSILON``) that same shrink needs ``l2 = λ/(c·N)``; literal (c = 1): λ/N."""
        return lam / (LR_PER_EPSILON[self.parameterisation] * n_train)

    def allows(self, epsilon: float, n_train: int, batch_size: int) -> bool:
        """Whether a run at this batch size may be trained (B ≤ N and within the per-run example cap)."""
        if batch_size > n_train:
            return False
        cap = self.max_examples_per_run
        return cap is None or batch_size * self.steps(epsilon) <= cap

    def runs_batch(self, epsilon: float, n_train: int, batch_size: int) -> bool:
        """Whether this grid point is trained (on the grid and allowed)."""
        return batch_size in self.batch_sizes and self.allows(epsilon, n_train, batch_size)

    def curve_keys(self) -> list[CurveKey]:
        """(ε, N, m, λ) of every curve, ε outermost."""
        return [
            (e, n, m, lam)
            for e in self.epsilons
            for n in self.train_sizes
            for m in self.momenta
            for lam in self.l2_lambdas
        ]


@dataclass(frozen=True)
class HistorySweepSpec(SGDSweepSpec):
    """The grid of a figure that draws the test metrics during training (Fig. 3, 4, 8): ``eval_points`` ≥ 1 (at
    0 the runs are evaluated only at their start and end, and no history is kept)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.eval_points < 1:
            raise ValueError(
                f"eval_points must be >= 1 (the figure draws the test metrics during training), got {self.eval_points}"
            )


# ---- the data every figure of the family reads ---------------------------------------------------------------


class MeanStd(TypedDict):
    mean: list[float | None]
    std: list[float | None]


class History(TypedDict):
    """One batch size's test metrics during training, mean ± std over the seeds that finished."""

    step: list[int]
    test_accuracy: MeanStd
    test_cross_entropy: MeanStd
    test_cross_entropy_per_seed: list[list[float | None]]


class Curve(TypedDict):
    """One (ε, N, m, λ) curve over the batch sizes: per [seed][B] the final test accuracy and
    cross-entropy (None where a run diverged, failed or was not run) and the run status (None: not run)."""

    epsilon: float
    n_train: int
    momentum: float
    l2_lambda: float
    l2: float
    learning_rate: float
    steps: int
    x: float
    label: str
    accuracy: list[list[float | None]]
    cross_entropy: list[list[float | None]]
    status: list[list[str | None]]
    mean_accuracy: list[float | None]
    history: dict[str, History]
    added_batch_sizes: list[int]


class ParameterisationRecord(TypedDict):
    name: str
    lr_per_epsilon: float
    momentum_form: str
    l2: str
    why: str


class SweepData(TypedDict):
    """What ``sweep_data`` returns: the figure data every experiment of the family starts from."""

    parameterisation: ParameterisationRecord
    batch_sizes: list[int]
    seeds: list[int]
    subset_seed: int
    swept: str
    curves: list[Curve]


# ---- running a grid ------------------------------------------------------------------------------------------


def task_factory(dataset: str, n_train: int, subset_seed: int) -> Callable[[], TaskData]:
    """A picklable factory of the §4 task: ``n_train`` random MNIST images and the full test set (or
    the synthetic stand-in)."""
    builder = smith_le_mnist_task if dataset == "mnist" else mnist_standin_task
    return functools.partial(builder, subset_seed, n_train)


def task_name(dataset: str, n_train: int, subset_seed: int) -> str:
    prefix = "smith-le-mnist" if dataset == "mnist" else "smith-le-standin"
    return f"{prefix}-n{n_train}-subset{subset_seed}"


def train_config(
    spec: SGDSweepSpec, epsilon: float, n_train: int, momentum: float, lam: float, batch: int, seed: int
) -> TrainConfig:
    return TrainConfig(
        smith_le_shallow_net(),
        spec.learning_rate(epsilon),
        batch,
        steps=spec.steps(epsilon),
        momentum=momentum,
        l2=spec.weight_decay(lam, n_train),
        seed=seed,
        eval_points=spec.eval_points,
    )


def run_grid(
    spec: SGDSweepSpec, ctx: RunContext, added: Mapping[CurveKey, tuple[int, ...]] | None = None
) -> GridResults:
    """Train (or read back) every run of ``spec`` on the axes (ε, N, m, λ, B) × seed, plus per curve the
    batch sizes ``added`` by grid extension (the B axis is the union)."""
    added = added or {}
    batch_axis = tuple(sorted(set(spec.batch_sizes).union(*added.values())))
    runs: list[SweepRun] = []
    keys: list[tuple[Any, ...]] = []
    tasks = {}
    for curve_key in spec.curve_keys():
        epsilon, n_train, momentum, lam = curve_key
        name = task_name(spec.dataset, n_train, spec.subset_seed)
        tasks[name] = task_factory(spec.dataset, n_train, spec.subset_seed)
        for batch in batch_axis:
            if not (spec.runs_batch(epsilon, n_train, batch) or batch in added.get(curve_key, ())):
                continue
            for index in range(spec.seeds):
                config = train_config(spec, epsilon, n_train, momentum, lam, batch, ctx.seed + index)
                runs.append(SweepRun(config, task=name))
                keys.append((epsilon, n_train, momentum, lam, batch, index))
    swept = ctx.sweep(Sweep(STORE_NAMESPACE, tasks, runs))
    axes = {
        "epsilon": spec.epsilons,
        "n_train": spec.train_sizes,
        "momentum": spec.momenta,
        "l2_lambda": spec.l2_lambdas,
        "batch_size": batch_axis,
    }
    seeds = tuple(ctx.seed + i for i in range(spec.seeds))
    return GridResults(axes, seeds, dict(zip(keys, swept, strict=True)))


def _histories(spec: SGDSweepSpec, grid: GridResults, at: Mapping[str, Any]) -> dict[str, History]:
    """Per batch size the test accuracy and cross-entropy during training, mean ± std over seeds (and the
    cross-entropy of every seed)."""
    histories: dict[str, History] = {}
    if not spec.eval_points:
        return histories
    for batch in grid.axes["batch_size"]:
        per_seed = [grid.run(i, **at, batch_size=batch) for i in range(spec.seeds)]
        done = [r for r in per_seed if r is not None and r.status == "finished" and r.history.get("step")]
        if not done:
            continue
        longest = max(done, key=lambda r: len(r.history["step"]))
        histories[str(batch)] = {
            "step": longest.history["step"],
            "test_accuracy": mean_std([r.history["test_acc"] for r in done]),  # type: ignore[typeddict-item]
            "test_cross_entropy": mean_std([r.history["test_loss"] for r in done]),  # type: ignore[typeddict-item]
            "test_cross_entropy_per_seed": [nullable(r.history["test_loss"]) for r in done],
        }
    return histories


def build_curves(
    spec: SGDSweepSpec, grid: GridResults, swept: Swept, added: Mapping[CurveKey, tuple[int, ...]] | None = None
) -> list[Curve]:
    """Per curve: the final test accuracy / cross-entropy and run status per [seed][B] (None where a
    run diverged, failed or was not run), (when evaluated during training) the test-accuracy and
    test-CE histories per B, mean ± std over seeds, and the batch sizes grid extension ``added``."""
    curves: list[Curve] = []
    for curve_key in spec.curve_keys():
        epsilon, n_train, momentum, lam = curve_key
        at = {"epsilon": epsilon, "n_train": n_train, "momentum": momentum, "l2_lambda": lam}
        accuracy = grid.curve("test_acc", "batch_size", **at)
        x = 1.0 / (1.0 - momentum) if swept == "momentum" else at.get(swept, epsilon)
        curves.append(
            {
                "epsilon": epsilon,
                "n_train": n_train,
                "momentum": momentum,
                "l2_lambda": lam,
                "l2": spec.weight_decay(lam, n_train),
                "learning_rate": spec.learning_rate(epsilon),
                "steps": spec.steps(epsilon),
                "x": float(x),
                "label": _curve_label(swept, at),
                "accuracy": [nullable(row) for row in accuracy],
                "cross_entropy": [nullable(row) for row in grid.curve("test_loss", "batch_size", **at)],
                "status": grid.status(**at).T.tolist(),
                "mean_accuracy": mean_std(accuracy)["mean"],
                "history": _histories(spec, grid, at),
                "added_batch_sizes": list((added or {}).get(curve_key, ())),
            }
        )
    return curves


def _curve_label(swept: Swept, values: Mapping[str, float]) -> str:
    labels = {"epsilon": "ε", "n_train": "N", "momentum": "m", "l2_lambda": "λ"}
    if swept in labels:
        return f"{labels[swept]} = {values[swept]:g}"
    return "ε = 1"


def parameterisation_record(spec: SGDSweepSpec) -> ParameterisationRecord:
    """How the paper's ε maps onto the PyTorch learning rate, and why (for summary.json)."""
    return {
        "name": spec.parameterisation,
        "lr_per_epsilon": LR_PER_EPSILON[spec.parameterisation],
        "momentum_form": "TensorFlow/PyTorch, undamped: A ← m·A + g, ω ← ω − lr·A (App. D eq. 29-30)",
        "l2": "engine l2 = λ/(lr_per_epsilon·N): λ|ω|²/2 is added to the summed cost (App. B), i.e. λ/N per "
        "mean loss, and dividing by lr_per_epsilon keeps the paper's per-step shrink ε·λ/N",
        "why": PARAMETERISATION_WHY[spec.parameterisation],
    }


def _extended(
    spec: SGDSweepSpec, curves: Sequence[Curve], batch_axis: Sequence[int], added: Mapping[CurveKey, tuple[int, ...]]
) -> dict[CurveKey, tuple[int, ...]]:
    """``added`` plus, for every curve whose best batch size sits at an edge of its points run, the next
    batch size beyond that edge (``beyond``) when the spec allows it there."""
    grown = dict(added)
    for key, curve in zip(spec.curve_keys(), curves, strict=True):
        run = np.asarray(batch_axis)[run_mask(curve)]
        if run.size < 2:
            continue
        optimum = analysis.optimum_on_grid(run.astype(float), accuracy_matrix(curve)[:, run_mask(curve)])
        if not optimum.at_edge:
            continue
        candidate = beyond(int(optimum.value), up=optimum.index == run.size - 1)
        if candidate is not None and candidate not in run and spec.allows(key[0], key[1], candidate):
            grown[key] = tuple(sorted({*grown.get(key, ()), candidate}))
    return grown


def sweep_data(spec: SGDSweepSpec, ctx: RunContext, swept: Swept) -> SweepData:
    """Train (or read back) the spec's grid and lay out its curves (the run of every experiment here); with
    ``extend_grid``, curves whose optimum sits at an edge are extended and rerun (``_extended``)."""
    added: dict[CurveKey, tuple[int, ...]] = {}
    rounds = spec.max_extensions if spec.extend_grid else 0
    while True:
        grid = run_grid(spec, ctx, added)
        curves = build_curves(spec, grid, swept, added)
        grown = _extended(spec, curves, grid.axes["batch_size"], added) if rounds else added
        if grown == added:
            break
        added, rounds = grown, rounds - 1
    return {
        "parameterisation": parameterisation_record(spec),
        "batch_sizes": list(grid.axes["batch_size"]),
        "seeds": [ctx.seed + i for i in range(spec.seeds)],
        "subset_seed": spec.subset_seed,
        "swept": swept,
        "curves": curves,
    }


def settings(spec: SGDSweepSpec) -> dict[str, Any]:
    """What summary.json records as the settings that ran."""
    return spec_to_dict(spec) | {
        "lr_per_epsilon": LR_PER_EPSILON[spec.parameterisation],
        "parameterisation_why": PARAMETERISATION_WHY[spec.parameterisation],
        "model": "784-800-10 ReLU MLP, Glorot-uniform weights, zero biases",
        "task": "N random MNIST training images (subset_seed), full 10k test set, pixels in [0, 1]"
        if spec.dataset == "mnist"
        else "synthetic MNIST-shaped stand-in (smoke test): random linear teacher, 500 test examples",
        "fail_accuracy": FAIL_ACCURACY,
        "store_namespace": STORE_NAMESPACE,
    }


# ---- statistics the claims read -------------------------------------------------------------------------------


def accuracy_matrix(curve: Curve) -> np.ndarray:
    """[seed, B] final test accuracy, NaN where a run diverged or was not run."""
    return plots.as_float_array(curve["accuracy"])


def run_mask(curve: Curve) -> np.ndarray:
    """[B] whether the grid point was trained (for any seed)."""
    return np.array([any(row[j] is not None for row in curve["status"]) for j in range(len(curve["status"][0]))])


def seed_values(
    curve: Curve, batch_size: int, batch_sizes: Sequence[int], metric: Literal["accuracy", "cross_entropy"] = "accuracy"
) -> np.ndarray:
    """Per seed the final test ``metric`` at ``batch_size``: a diverged run's accuracy counts as chance
    (0.1), its cross-entropy is left out (NaN); a point not run is all NaN."""
    if batch_size not in batch_sizes:
        raise NotEnoughData(f"batch size {batch_size} is not on the grid {list(batch_sizes)}")
    j = list(batch_sizes).index(batch_size)
    column = plots.as_float_array(curve[metric])[:, j]
    if metric == "accuracy":
        ran = np.array([row[j] is not None for row in curve["status"]])
        column = np.where(ran & ~np.isfinite(column), CHANCE_ACCURACY, column)
    return column


def final_accuracy(curve: Curve, batch_size: int, batch_sizes: Sequence[int]) -> float:
    """Mean over seeds of the final test accuracy at ``batch_size`` (diverged runs count as chance, 0.1)."""
    column = seed_values(curve, batch_size, batch_sizes)
    if not np.isfinite(column).any():
        raise NotEnoughData(f"batch size {batch_size} was not run on curve {curve['label']!r}")
    return float(np.nanmean(column))


def cross_entropy_rise(curve: Curve, batch_size: int) -> tuple[np.ndarray, int]:
    """Per seed the final test cross-entropy minus its value at the evaluation where the mean-over-seeds
    curve is lowest, and that step (Fig. 3b, 8b: does the cross-entropy rise again after its minimum?)."""
    history = curve["history"].get(str(batch_size))
    if history is None:
        raise NotEnoughData(f"no test cross-entropy history at B = {batch_size} (eval_points = 0, or not run)")
    mean = plots.as_float_array(history["test_cross_entropy"]["mean"])
    if not np.isfinite(mean).any():
        raise NotEnoughData(f"the test cross-entropy at B = {batch_size} has no finite value")
    lowest = int(np.nanargmin(mean))
    rises = []
    for row in history["test_cross_entropy_per_seed"]:
        values = plots.as_float_array(row)
        finite = np.flatnonzero(np.isfinite(values))
        ok = lowest < values.size and finite.size and np.isfinite(values[lowest])
        rises.append(values[finite[-1]] - values[lowest] if ok else np.nan)
    return np.asarray(rises, dtype=float), int(history["step"][lowest])


def seed_count(curve: Curve) -> int:
    """Seeds with at least one finished run on the curve."""
    return int(np.isfinite(accuracy_matrix(curve)).any(axis=1).sum())


def grid_optimum(curve: Curve, batch_sizes: Sequence[int]) -> analysis.GridOptimum:
    """Best batch size of the mean-over-seeds accuracy on the grid points that were run (diverged
    runs score as the worst observed accuracy)."""
    mask = run_mask(curve)
    values = np.asarray(batch_sizes, dtype=float)[mask]
    if values.size < 2:
        raise NotEnoughData(f"curve {curve['label']!r} has fewer than 2 batch sizes that were run")
    return analysis.optimum_on_grid(values, accuracy_matrix(curve)[:, mask])


CALIBRATED = (
    " — decided by the ε calibration (lr = 0.1·ε, chosen because it makes Fig. 4's peak appear; "
    "docs/epsilon-mapping.md, the record fig4/epsilon-mapping-calibration)"
)
"""Appended to the statement of every claim whose outcome the ε calibration decides."""


# ---- figures --------------------------------------------------------------------------------------------------


def history_band(
    ax: Axes, history: History, metric: Literal["test_accuracy", "test_cross_entropy"], label: str, **style: Any
) -> None:
    """A during-training curve (mean ± std over seeds) against updates; step 0 is left out (log x)."""
    steps = np.asarray(history["step"], float)
    mean = plots.as_float_array(history[metric]["mean"])
    std = plots.as_float_array(history[metric]["std"])
    n = min(len(steps), len(mean))
    shown = steps[:n] > 0
    plots.band(ax, steps[:n][shown], {"mean": mean[:n][shown], "std": std[:n][shown]}, label, **style)


def final_accuracy_panel(ax: Axes, data: SweepData, first_color: int = 0, suffix: str = "") -> None:
    """Final test accuracy vs batch size (log x) per curve, mean ± std over seeds; points not run omitted
    (colours from C``first_color``, ``suffix`` added to each label)."""
    batch_sizes = np.asarray(data["batch_sizes"], float)
    for i, curve in enumerate(data["curves"], start=first_color):
        scored = np.where(np.isfinite(acc := accuracy_matrix(curve)), acc, CHANCE_ACCURACY)  # diverged: chance
        mean, std = scored.mean(axis=0), scored.std(axis=0)
        run = run_mask(curve)
        ax.errorbar(
            batch_sizes[run],
            mean[run],
            yerr=std[run],
            marker="o",
            capsize=3,
            color=f"C{i}",
            label=curve["label"] + suffix,
        )
    ax.set(xscale="log", xlabel="batch size B", ylabel="final test accuracy")
    ax.legend(fontsize=8)
