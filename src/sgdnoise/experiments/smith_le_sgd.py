"""Smith & Le 2018, §4–5 and App. B, D (Figures 3–8): batch size, noise scale and generalization.

A shallow MLP (784 → 800 ReLU → 10, Glorot init) on N random MNIST training images (one fixed subset
seed, recorded), tested on the full 10k test set, trained with constant-ε SGD and TensorFlow-form
momentum (App. D eq. 29–30: ``A ← m·A + g``, ``ω ← ω − lr·A``, no damping) on the mean cross-entropy:

- ``smith-le-gap`` (Fig. 3): test accuracy and cross-entropy during training, B = 30 vs B = 1000.
- ``smith-le-batch`` (Fig. 4): test accuracy during training and after the budget, B from 1 to 1000.
- ``smith-le-scaling-lr`` (Fig. 5): accuracy vs B for several ε (steps = budget/ε), B_opt ∝ ε.
- ``smith-le-scaling-n`` (Fig. 6): accuracy vs B for several N, B_opt ∝ N.
- ``smith-le-scaling-momentum`` (Fig. 7): accuracy vs B for several m, B_opt ∝ 1/(1−m).
- ``smith-le-l2`` (Fig. 8, App. B): Fig. 3 with L2 λ = 0.1 on the *summed* cost, C = H + λ|ω|²/2 with
  H = Σ_i C_i. Per mean loss that is λ/N (1e-4 at N = 1000), and the paper's update shrinks ω by ε·λ/N
  per step; the engine's weight decay is ``l2 = λ/(c·N)`` with c = ``LR_PER_EPSILON`` (so lr·l2 = ε·λ/N):
  1e-3 calibrated, 1e-4 literal. (At 1e-4 with lr = 0.1 the decay time, 10⁴ steps, exceeds the
  budget and L2 has no visible effect — notes/epsilon-mapping.md §4.)

Parameterisation (the ε ↔ PyTorch-lr mapping, notes/epsilon-mapping.md): the default ``"calibrated"``
uses ``lr = LR_PER_EPSILON["calibrated"]·ε = 0.1·ε`` with undamped momentum, because with the literal
``lr = ε`` (eq. 11 and App. D read literally) every ReLU dies for B ≤ 30 and no batch-size optimum
appears, while 0.1·ε reproduces the peak at B ≈ 30 and its shift with ε and m. Every term the paper
multiplies by ε keeps its size, so the L2 weight decay becomes λ/(0.1·N) (see ``weight_decay``). The paper's literal
setting is ``"literal"`` (``lr = ε``): ``sgdnoise reproduce smith-le-batch --set parameterisation=literal``
(or ``reproduce("smith-le-batch", overrides={"parameterisation": "literal"})`` from Python).

The learning rate is part of every run's store key, so both parameterisations can share a store.

Budgets: ``budget`` is the number of updates at ε = 1 and every run takes ``round(budget/ε)`` updates
(§5: 10⁴/ε at paper scale). A run that would process more than ``max_examples_per_run`` examples
(B·steps) or whose B exceeds N is *not run*; it is recorded as ``"not_run"``, drawn nowhere, and a
curve whose best run batch size is the last one run before such a gap counts as having its optimum at
the edge (not established), exactly like an optimum at the end of the grid.

All runs of all six experiments live in one store namespace (``STORE_NAMESPACE``), keyed by the
training config and the task (N, subset seed), so runs whose configs coincide are trained once when
experiments share a store: ``smith-le-l2``'s unregularised runs are exactly ``smith-le-gap``'s runs
(copy ``runs/smith-le-gap/store.sqlite`` into ``runs/smith-le-l2/`` before running it to reuse them).

Quick scale (each a few minutes on a quiet 2-core machine): 1000 updates at ε = 1 instead of 10⁴
(the B = 30 vs full-batch gap is complete by then, notes §5), 2 seeds, and reduced grids: Fig. 5 skips
runs above 350 000 examples (ε = 0.3: B ≥ 300; ε = 1: B = 1000 — ≥ 10× the expected optimum), Fig. 6
uses N ∈ {1000, 4000, 8000, 16000} with B ∈ {10, 30, 50, 100, 200, 400} (denser near the optimum) and
checks the shift only for N ≥ 4000 (below, the optimum is pinned at B ≈ 30 by the small-batch failure
edge, notes §4; with 1000 updates at N = 16000 a run at B = 100 sees only ~6 epochs, so part of any
shift is a budget effect — the claim reports the epochs), Fig. 7 uses B ∈ {3, …, 300}.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sgdnoise import analysis
from sgdnoise.data import TaskData, mnist_standin_task, smith_le_mnist_task
from sgdnoise.engine import TrainConfig
from sgdnoise.experiments.base import Experiment, ExperimentResult, RunContext
from sgdnoise.experiments.grid import GridResults, mean_std, nullable, scaling_law_claims
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.models import smith_le_shallow_net
from sgdnoise.results import Claim
from sgdnoise.sweep import Sweep, SweepRun, run_sweep

Parameterisation = Literal["calibrated", "literal"]
# PyTorch learning rate per unit of the paper's ε (notes/epsilon-mapping.md §2)
LR_PER_EPSILON: dict[str, float] = {"calibrated": 0.1, "literal": 1.0}
PARAMETERISATION_WHY = {
    "calibrated": (
        "lr = 0.1·ε: with the literal lr = ε every ReLU dies for B ≤ 30 and no batch-size optimum appears, "
        "whereas 0.1·ε (momentum undamped, mean loss, pixels in [0,1], Glorot init) reproduces the optimum "
        "at B ≈ 30 and its shift with ε and m (notes/epsilon-mapping.md)"
    ),
    "literal": "lr = ε: the paper's eq. 11 and App. D eq. 29-30 read literally with the mean batch loss",
}
STORE_NAMESPACE = "smith-le-sgd"
FAIL_ACCURACY = 0.5  # "fails to train": final test accuracy below this (chance is 0.1)
SMALL_BATCH_LIMIT = 10  # Fig. 4: "the model cannot train when the batch size B ≲ 10"
EXPONENT_RANGE = (0.5, 1.5)
AXES = ("epsilon", "n_train", "momentum", "l2_lambda", "batch_size")


@dataclass(frozen=True)
class SGDSweepSpec:
    """One experiment's grid: every combination of ε, N, m and λ is one curve over ``batch_sizes``.

    ``budget``: updates at ε = 1 (a run at ε takes round(budget/ε)). ``l2_lambdas``: the paper's λ on
    the summed cost (engine ``l2 = λ/N``). ``fit_min_x``: only curves whose swept value is at least
    this enter the B_opt checks (Fig. 6: the paper sees B_opt ∝ N only for N ≳ 20000).
    ``require_paper_exponent_in_ci``: the exponent claim also needs the paper's k = 1 in the bootstrap CI.
    ``dataset``: ``"mnist"`` (the paper's) or ``"standin"``, a synthetic MNIST-shaped task (784 inputs,
    10 classes, a random linear teacher) for smoke tests of the whole pipeline without MNIST.
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
    require_paper_exponent_in_ci: bool = False

    def __post_init__(self) -> None:
        if (
            not self.batch_sizes
            or any(b < 1 for b in self.batch_sizes)
            or list(self.batch_sizes) != sorted(set(self.batch_sizes))
        ):
            raise ValueError(f"batch_sizes must be distinct increasing positive ints, got {self.batch_sizes}")
        if self.seeds < 1 or self.budget < 1:
            raise ValueError("seeds and budget must be >= 1")
        if any(e <= 0 for e in self.epsilons) or any(n < 1 for n in self.train_sizes):
            raise ValueError("epsilons must be > 0 and train_sizes >= 1")
        if any(not 0.0 <= m < 1.0 for m in self.momenta) or any(lam < 0 for lam in self.l2_lambdas):
            raise ValueError("momenta must lie in [0, 1) and l2_lambdas be >= 0")
        if self.dataset not in ("mnist", "standin"):
            raise ValueError(f"dataset must be 'mnist' or 'standin', got {self.dataset!r}")
        if self.parameterisation not in LR_PER_EPSILON:
            raise ValueError(f"parameterisation must be one of {sorted(LR_PER_EPSILON)}, got {self.parameterisation!r}")

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

    def runs_batch(self, epsilon: float, n_train: int, batch_size: int) -> bool:
        """Whether this grid point is trained (B ≤ N and within the per-run example cap)."""
        if batch_size > n_train:
            return False
        cap = self.max_examples_per_run
        return cap is None or batch_size * self.steps(epsilon) <= cap

    def curve_keys(self) -> list[tuple[float, int, float, float]]:
        """(ε, N, m, λ) of every curve, ε outermost."""
        return [
            (e, n, m, lam)
            for e in self.epsilons
            for n in self.train_sizes
            for m in self.momenta
            for lam in self.l2_lambdas
        ]


PAPER_B_GRID = (1, 3, 10, 30, 100, 300, 1000)
SPECS: dict[str, dict[str, SGDSweepSpec]] = {
    "smith-le-gap": {
        "quick": SGDSweepSpec(batch_sizes=(30, 1000), seeds=2, budget=1000, eval_points=20),
        "paper": SGDSweepSpec(batch_sizes=(30, 1000), seeds=5, budget=10_000, eval_points=40),
    },
    "smith-le-batch": {
        "quick": SGDSweepSpec(batch_sizes=PAPER_B_GRID, seeds=2, budget=1000, eval_points=12),
        "paper": SGDSweepSpec(batch_sizes=PAPER_B_GRID, seeds=5, budget=10_000, eval_points=30),
    },
    "smith-le-scaling-lr": {
        "quick": SGDSweepSpec(
            batch_sizes=PAPER_B_GRID,
            seeds=2,
            budget=1000,
            epsilons=(0.3, 1.0, 3.0, 10.0),
            max_examples_per_run=350_000,
        ),
        "paper": SGDSweepSpec(
            batch_sizes=PAPER_B_GRID,
            seeds=5,
            budget=10_000,
            epsilons=(0.1, 0.3, 1.0, 3.0, 10.0),
            require_paper_exponent_in_ci=True,
        ),
    },
    "smith-le-scaling-n": {
        "quick": SGDSweepSpec(
            batch_sizes=(10, 30, 50, 100, 200, 400),
            seeds=2,
            budget=1000,
            train_sizes=(1000, 4000, 8000, 16000),
            fit_min_x=4000,
        ),
        "paper": SGDSweepSpec(
            batch_sizes=(1, 3, 10, 30, 100, 300, 1000, 3000, 10_000),
            seeds=5,
            budget=10_000,
            train_sizes=(1000, 3000, 10_000, 20_000, 40_000, 60_000),
            fit_min_x=20_000,
            require_paper_exponent_in_ci=True,
        ),
    },
    "smith-le-scaling-momentum": {
        "quick": SGDSweepSpec(
            batch_sizes=(3, 10, 30, 100, 300),
            seeds=2,
            budget=1000,
            momenta=(0.5, 0.9, 0.95),
        ),
        "paper": SGDSweepSpec(
            batch_sizes=PAPER_B_GRID,
            seeds=5,
            budget=10_000,
            momenta=(0.0, 0.5, 0.8, 0.9, 0.95, 0.98),
            require_paper_exponent_in_ci=True,
        ),
    },
    "smith-le-l2": {
        "quick": SGDSweepSpec(batch_sizes=(30, 1000), seeds=2, budget=1000, l2_lambdas=(0.0, 0.1), eval_points=20),
        "paper": SGDSweepSpec(
            batch_sizes=(30, 1000),
            seeds=5,
            budget=10_000,
            l2_lambdas=(0.0, 0.1),
            eval_points=40,
        ),
    },
}
# smith-le-gap and smith-le-l2 share their unregularised runs at both scales (same configs and task)


# --------------------------------------------------------------------------------------------------
# Running a grid
# --------------------------------------------------------------------------------------------------


def task_factory(dataset: str, n_train: int, subset_seed: int) -> Callable[[], TaskData]:
    """A picklable factory of the §4 task: ``n_train`` random MNIST images and the full test set (or
    the synthetic stand-in)."""
    builder = smith_le_mnist_task if dataset == "mnist" else mnist_standin_task
    return functools.partial(builder, subset_seed, n_train)


def task_name(dataset: str, n_train: int, subset_seed: int) -> str:
    prefix = "smith-le-mnist" if dataset == "mnist" else "smith-le-standin"
    return f"{prefix}-n{n_train}-subset{subset_seed}"


def _train_config(
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


def run_grid(spec: SGDSweepSpec, ctx: RunContext) -> GridResults:
    """Train (or read back) every run of ``spec`` on the axes (ε, N, m, λ, B) × seed."""
    runs: list[SweepRun] = []
    keys: list[tuple[Any, ...]] = []
    tasks = {}
    for epsilon, n_train, momentum, lam in spec.curve_keys():
        name = task_name(spec.dataset, n_train, spec.subset_seed)
        tasks[name] = task_factory(spec.dataset, n_train, spec.subset_seed)
        for batch in spec.batch_sizes:
            if not spec.runs_batch(epsilon, n_train, batch):
                continue
            for index in range(spec.seeds):
                config = _train_config(spec, epsilon, n_train, momentum, lam, batch, ctx.seed + index)
                runs.append(SweepRun(config, task=name))
                keys.append((epsilon, n_train, momentum, lam, batch, index))
    swept = run_sweep(
        Sweep(STORE_NAMESPACE, tasks, runs),
        ctx.store,
        executor=ctx.executor,
        ray_address=ctx.ray_address,
        device=ctx.device,
        show_progress=ctx.show_progress,
    )
    axes = {
        "epsilon": spec.epsilons,
        "n_train": spec.train_sizes,
        "momentum": spec.momenta,
        "l2_lambda": spec.l2_lambdas,
        "batch_size": spec.batch_sizes,
    }
    seeds = tuple(ctx.seed + i for i in range(spec.seeds))
    return GridResults(axes, seeds, dict(zip(keys, swept, strict=True)))


def build_curves(spec: SGDSweepSpec, grid: GridResults, swept: str) -> list[dict[str, Any]]:
    """Per curve: the final test accuracy / cross-entropy and run status per [seed][B] (None where a
    run diverged, failed or was not run), and (when evaluated during training) the test-accuracy and
    test-CE histories per B, mean ± std over seeds."""
    curves = []
    for epsilon, n_train, momentum, lam in spec.curve_keys():
        at = {"epsilon": epsilon, "n_train": n_train, "momentum": momentum, "l2_lambda": lam}
        accuracy = grid.curve("test_acc", "batch_size", **at)
        histories: dict[str, Any] = {}
        if spec.eval_points:
            for batch in spec.batch_sizes:
                per_seed = [grid.run(i, **at, batch_size=batch) for i in range(spec.seeds)]
                done = [r for r in per_seed if r is not None and r.status == "finished" and r.history.get("step")]
                if not done:
                    continue
                longest = max(done, key=lambda r: len(r.history["step"]))
                histories[str(batch)] = {
                    "step": longest.history["step"],
                    "test_accuracy": mean_std([r.history["test_acc"] for r in done]),
                    "test_cross_entropy": mean_std([r.history["test_loss"] for r in done]),
                }
        x = 1.0 / (1.0 - momentum) if swept == "momentum" else at.get(swept, epsilon)
        curves.append(
            {
                **at,
                "l2": spec.weight_decay(lam, n_train),
                "learning_rate": spec.learning_rate(epsilon),
                "steps": spec.steps(epsilon),
                "x": float(x),
                "label": _curve_label(swept, at),
                "accuracy": [nullable(row) for row in accuracy],
                "cross_entropy": [nullable(row) for row in grid.curve("test_loss", "batch_size", **at)],
                "status": grid.status(**at).T.tolist(),
                "mean_accuracy": mean_std(accuracy)["mean"],
                "history": histories,
            }
        )
    return curves


def _curve_label(swept: str, values: Mapping[str, float]) -> str:
    if swept == "epsilon":
        return f"ε = {values['epsilon']:g}"
    if swept == "n_train":
        return f"N = {values['n_train']:g}"
    if swept == "momentum":
        return f"m = {values['momentum']:g}"
    if swept == "l2_lambda":
        return f"λ = {values['l2_lambda']:g}"
    return "ε = 1"


def _common_data(spec: SGDSweepSpec, ctx: RunContext, swept: str) -> dict[str, Any]:
    return {
        "parameterisation": parameterisation_record(spec),
        "batch_sizes": list(spec.batch_sizes),
        "seeds": [ctx.seed + i for i in range(spec.seeds)],
        "subset_seed": spec.subset_seed,
        "swept": swept,
    }


def parameterisation_record(spec: SGDSweepSpec) -> dict[str, Any]:
    """How the paper's ε maps onto the PyTorch learning rate, and why (for summary.json)."""
    return {
        "name": spec.parameterisation,
        "lr_per_epsilon": LR_PER_EPSILON[spec.parameterisation],
        "momentum_form": "TensorFlow/PyTorch, undamped: A ← m·A + g, ω ← ω − lr·A (App. D eq. 29-30)",
        "l2": "engine l2 = λ/(lr_per_epsilon·N): λ|ω|²/2 is added to the summed cost (App. B), i.e. λ/N per "
        "mean loss, and dividing by lr_per_epsilon keeps the paper's per-step shrink ε·λ/N",
        "why": PARAMETERISATION_WHY[spec.parameterisation],
    }


def _settings(spec: SGDSweepSpec) -> dict[str, Any]:
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


# --------------------------------------------------------------------------------------------------
# Claims (pure functions of the data)
# --------------------------------------------------------------------------------------------------


def _accuracy_matrix(curve: Mapping[str, Any]) -> np.ndarray:
    """[seed, B] final test accuracy, NaN where a run diverged or was not run."""
    return np.array([[np.nan if v is None else v for v in row] for row in curve["accuracy"]], dtype=float)


def _run_mask(curve: Mapping[str, Any]) -> np.ndarray:
    """[B] whether the grid point was trained (for any seed)."""
    return np.array([any(row[j] is not None for row in curve["status"]) for j in range(len(curve["status"][0]))])


def final_accuracy(curve: Mapping[str, Any], batch_size: int, batch_sizes: Sequence[int]) -> float:
    """Mean over seeds of the final test accuracy at ``batch_size`` (diverged runs count as chance, 0.1)."""
    column = _accuracy_matrix(curve)[:, list(batch_sizes).index(batch_size)]
    return float(np.where(np.isfinite(column), column, 0.1).mean())


def check_gap_claim(
    prefix: str, curve: Mapping[str, Any], batch_sizes: Sequence[int], small: int = 30, large: int = 1000
) -> Claim:
    """Fig. 3: after the budget, B = ``small`` has higher test accuracy than B = ``large``."""
    acc_small, acc_large = final_accuracy(curve, small, batch_sizes), final_accuracy(curve, large, batch_sizes)
    return Claim(
        id=f"{prefix}/small-batch-beats-full-batch",
        statement=f"after {curve['steps']} updates, B = {small} has higher mean test accuracy than B = {large}",
        holds=acc_small > acc_large,
        value={f"B{small}": acc_small, f"B{large}": acc_large, "gap": acc_small - acc_large},
    )


def grid_optimum(curve: Mapping[str, Any], batch_sizes: Sequence[int]) -> analysis.GridOptimum:
    """Best batch size of the mean-over-seeds accuracy on the grid points that were run (diverged
    runs score as the worst observed accuracy)."""
    mask = _run_mask(curve)
    values = np.asarray(batch_sizes, dtype=float)[mask]
    if values.size < 2:
        raise ValueError(f"curve {curve.get('label')!r} has fewer than 2 batch sizes that were run")
    return analysis.optimum_on_grid(values, _accuracy_matrix(curve)[:, mask])


def check_batch_claims(curve: Mapping[str, Any], batch_sizes: Sequence[int]) -> tuple[list[Claim], dict[str, Any]]:
    """Fig. 4: the final accuracy peaks at an interior B; batches B < 10 fail to train at ε = 1."""
    optimum = grid_optimum(curve, batch_sizes)
    claims = [
        Claim(
            id="fig4/peak-interior",
            statement="final test accuracy peaks at an intermediate batch size (not at either end of the grid)",
            holds=not optimum.at_edge,
            value={
                "B_opt": optimum.value,
                "accuracy_at_B_opt": optimum.score,
                "mean_accuracy": dict(zip(map(str, optimum.values), optimum.mean_scores, strict=True)),
            },
        )
    ]
    small = [b for b in batch_sizes if b < SMALL_BATCH_LIMIT]
    accuracies = {str(b): final_accuracy(curve, b, batch_sizes) for b in small}
    claims.append(
        Claim(
            id="fig4/small-batches-fail",
            statement=f"every B < {SMALL_BATCH_LIMIT} fails to train at ε = 1 (fail: mean final test accuracy "
            f"< {FAIL_ACCURACY}; a diverged run counts as chance, 0.1)",
            holds=bool(small) and all(a < FAIL_ACCURACY for a in accuracies.values()),
            value=accuracies,
            note="" if small else f"the grid has no batch size below {SMALL_BATCH_LIMIT}",
        )
    )
    return claims, optimum.to_dict()


def check_scaling_claims(
    prefix: str,
    x_name: str,
    curves: Sequence[Mapping[str, Any]],
    batch_sizes: Sequence[int],
    *,
    fit_min_x: float | None = None,
    require_paper_exponent_in_ci: bool = False,
    caveat: str = "",
    n_bootstrap: int = 1000,
) -> tuple[list[Claim], dict[str, Any]]:
    """Fig. 5–7: B_opt grows with x (ε, N or 1/(1−m)) and B_opt ∝ x^k with k in [0.5, 1.5] (paper
    k = 1), by ``grid.scaling_law_claims`` on the final test accuracy. Curves with x < ``fit_min_x``
    are left out of both checks; ``caveat`` is appended to both notes."""
    x = [float(curve["x"]) for curve in curves]
    claims, data = scaling_law_claims(
        prefix,
        x_name,
        x,
        batch_sizes,
        [_accuracy_matrix(curve) for curve in curves],
        ran=[_run_mask(curve) for curve in curves],
        considered=[fit_min_x is None or value >= fit_min_x for value in x],
        exponent_range=EXPONENT_RANGE,
        require_paper_exponent_in_ci=require_paper_exponent_in_ci,
        caveat=caveat,
        n_bootstrap=n_bootstrap,
        extra={"epochs_at_B_opt": [_epochs(c, grid_optimum(c, batch_sizes).value) for c in curves]},
    )
    return claims, data


def _epochs(curve: Mapping[str, Any], batch_size: float) -> float | None:
    """Passes over the training set a run at ``batch_size`` made (budget effects at large N)."""
    if "n_train" not in curve or "steps" not in curve:
        return None
    return float(batch_size * curve["steps"] / curve["n_train"])


def check_l2_claim(
    regularised: Mapping[str, Any],
    unregularised: Mapping[str, Any],
    batch_sizes: Sequence[int],
    small: int = 30,
    large: int = 1000,
) -> Claim:
    """Fig. 8 / App. B: L2 regularisation shrinks the gap between B = 30 and B = 1000."""

    def gap(curve: Mapping[str, Any]) -> float:
        return final_accuracy(curve, small, batch_sizes) - final_accuracy(curve, large, batch_sizes)

    with_l2, without = gap(regularised), gap(unregularised)
    return Claim(
        id="fig8/l2-shrinks-gap",
        statement=f"with L2 (λ = {regularised['l2_lambda']:g} on the summed cost, engine weight decay "
        f"{regularised['l2']:g}) the test-accuracy gap between B = {small} and B = {large} is smaller than without",
        holds=with_l2 < without,
        value={
            "gap_with_l2": with_l2,
            "gap_without_l2": without,
            "with_l2": {str(b): final_accuracy(regularised, b, batch_sizes) for b in (small, large)},
            "without_l2": {str(b): final_accuracy(unregularised, b, batch_sizes) for b in (small, large)},
        },
    )


# --------------------------------------------------------------------------------------------------
# The six experiments
# --------------------------------------------------------------------------------------------------


class _SmithLeSGD(Experiment):
    """Shared run: train the spec's grid through the store and build the per-curve data."""

    swept = "none"
    paper = "Smith & Le, ICLR 2018"

    def run(self, spec: SGDSweepSpec, ctx: RunContext) -> ExperimentResult:
        data = _common_data(spec, ctx, self.swept) | {"curves": build_curves(spec, run_grid(spec, ctx), self.swept)}
        return ExperimentResult(claims=self.check(spec, data), data=data, settings=_settings(spec))

    @abstractmethod
    def check(self, spec: SGDSweepSpec, data: dict[str, Any]) -> list[Claim]:
        """The figure's claims on the per-curve ``data`` (may add the analysis behind them to ``data``)."""


class SmithLeGap(_SmithLeSGD):
    name = "smith-le-gap"
    title = "Generalization gap between small and full batches (Smith & Le 2018, Fig. 3)"
    paper = "Smith & Le, ICLR 2018, §4, Figure 3"

    def check(self, spec: SGDSweepSpec, data: dict[str, Any]) -> list[Claim]:
        return [check_gap_claim("fig3", data["curves"][0], spec.batch_sizes)]

    def plot(self, data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
        from sgdnoise import plots

        return [plots.smith_le_gap_figure(data, fig_dir, "fig3", "Fig. 3 — B = 30 vs full batch, no regularisation")]


class SmithLeL2(_SmithLeSGD):
    name = "smith-le-l2"
    title = "L2 regularisation shrinks the generalization gap (Smith & Le 2018, Fig. 8, App. B)"
    paper = "Smith & Le, ICLR 2018, Appendix B, Figure 8"
    swept = "l2_lambda"

    def check(self, spec: SGDSweepSpec, data: dict[str, Any]) -> list[Claim]:
        curves = data["curves"]
        unregularised = next((c for c in curves if c["l2_lambda"] == 0.0), None)
        if unregularised is None:
            raise ValueError("smith-le-l2 needs λ = 0 among l2_lambdas (the unregularised comparison)")
        claims = [
            check_l2_claim(curve, unregularised, spec.batch_sizes) for curve in curves if curve["l2_lambda"] > 0.0
        ]
        return [*claims, check_gap_claim("fig8", curves[-1], spec.batch_sizes)]

    def plot(self, data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
        from sgdnoise import plots

        return [plots.smith_le_gap_figure(data, fig_dir, "fig8", "Fig. 8 — B = 30 vs full batch with L2")]


class SmithLeBatch(_SmithLeSGD):
    name = "smith-le-batch"
    title = "An optimal batch size (Smith & Le 2018, Fig. 4)"
    paper = "Smith & Le, ICLR 2018, §4, Figure 4"

    def check(self, spec: SGDSweepSpec, data: dict[str, Any]) -> list[Claim]:
        claims, data["optimum"] = check_batch_claims(data["curves"][0], spec.batch_sizes)
        return claims

    def plot(self, data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
        from sgdnoise import plots

        return [plots.smith_le_batch_figure(data, fig_dir)]


class _Scaling(_SmithLeSGD):
    figure: str
    x_name: str
    x_label: str
    caveat = ""

    def check(self, spec: SGDSweepSpec, data: dict[str, Any]) -> list[Claim]:
        claims, data["scaling"] = check_scaling_claims(
            self.figure,
            self.x_name,
            data["curves"],
            spec.batch_sizes,
            fit_min_x=spec.fit_min_x,
            require_paper_exponent_in_ci=spec.require_paper_exponent_in_ci,
            caveat=self.caveat,
        )
        return claims

    def plot(self, data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
        from sgdnoise import plots

        return [plots.smith_le_scaling_figure(data, fig_dir, self.figure, self.title, self.x_label)]


class SmithLeScalingLR(_Scaling):
    name = "smith-le-scaling-lr"
    title = "Fig. 5 — the optimal batch size grows with the learning rate, B_opt ∝ ε (Smith & Le 2018)"
    paper = "Smith & Le, ICLR 2018, §5, Figure 5"
    swept = "epsilon"
    figure = "fig5"
    x_name = "ε"
    x_label = "learning rate ε"


class SmithLeScalingN(_Scaling):
    name = "smith-le-scaling-n"
    title = "Fig. 6 — the optimal batch size grows with the training set size, B_opt ∝ N (Smith & Le 2018)"
    paper = "Smith & Le, ICLR 2018, §5, Figure 6"
    swept = "n_train"
    figure = "fig6"
    x_name = "N"
    x_label = "training set size N"
    caveat = (
        "at a fixed number of updates, B ∝ N also keeps the number of epochs B·steps/N fixed (see "
        "epochs_at_B_opt), so unless every run has converged this design (the paper's too) cannot tell the noise "
        "scale εN/B from a budget effect"
    )


class SmithLeScalingMomentum(_Scaling):
    name = "smith-le-scaling-momentum"
    title = "Fig. 7 — the optimal batch size grows with momentum, B_opt ∝ 1/(1−m) (Smith & Le 2018)"
    paper = "Smith & Le, ICLR 2018, §5 and Appendix D, Figure 7"
    swept = "momentum"
    figure = "fig7"
    x_name = "1/(1−m)"
    x_label = "1/(1−m)"


EXPERIMENTS: tuple[_SmithLeSGD, ...] = (
    SmithLeGap(SPECS["smith-le-gap"]),
    SmithLeBatch(SPECS["smith-le-batch"]),
    SmithLeScalingLR(SPECS["smith-le-scaling-lr"]),
    SmithLeScalingN(SPECS["smith-le-scaling-n"]),
    SmithLeScalingMomentum(SPECS["smith-le-scaling-momentum"]),
    SmithLeL2(SPECS["smith-le-l2"]),
)
