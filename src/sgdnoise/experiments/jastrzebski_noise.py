"""Jastrzębski et al. 2018, "Three factors influencing minima in SGD", §4.3–4.4, App. F.3 (Fig. 5–7, 14).

- ``jastrzebski-memorization`` (§4.3, Fig. 5, Fig. 14): a fraction p ∈ {25 %, 50 %} of the training
  labels replaced by uniformly random ones (``data.randomize_labels``: the random label may equal the true
  one, probability 1/10), an MLP trained with and without momentum 0.9 on a grid of (η, S); validation
  accuracy (clean labels) against training accuracy on the noisy labels, over training. The paper: "for
  a specific level of memorization, high η/S leads to better generalization".
- ``jastrzebski-breaking-point`` (§4.4, Fig. 6–7): (η, S) → (βη, βS) at fixed η/S and fixed epochs
  (equal SDE time), β = 1 … 64, several training-set sizes, the base η and η/2. The paper: validation
  accuracy is flat up to a β* and then drops; β* is larger for larger data sets; halving η moves the drop
  to "much larger β", read as "the reason behind breaking point is the use of a high learning rate".

Memorisation, measured at matched levels. A perfect classifier of the *true* labels scores
c = 1 − p + p/10 on the noisy training labels, so memorisation is training accuracy above c. The levels
are a = c + f·(1 − c) for the memorised fractions f of ``memorized_fractions``; a run's validation
accuracy at a level is read at the first moment its training accuracy reaches it (linear interpolation
between the two evaluations around the crossing, ``analysis.values_at_levels``). At each level the η/S
values all of whose runs reached it are compared (``analysis.compare_at_matched_levels``): Spearman ρ of
validation accuracy vs η/S over the runs, and highest-η/S − lowest-η/S mean difference with its Welch SE.
The claim holds per panel (p, momentum) when the level-averaged difference exceeds ``EFFECT_IN_SE`` = 2
times the level-averaged SE and the median ρ is positive (fixed in advance). The endpoint claim compares
the final validation accuracy of the runs that end at ≥ ``fit_threshold`` training accuracy the same way.
η/S is the paper's colour axis: momentum runs are compared at their own η/S (the paper's grid), their η
being 10× smaller (the paper: "for runs with momentum we exclude learning rates higher than 0.02").

Breaking point. The score of a run is its best validation accuracy over the evaluations (the paper's
bracketed numbers: "mean and standard deviation of the maximum validation accuracy"); a diverged run scores
chance (0.1). β* per curve (N, η) is ``analysis.find_breaking_point``: the last β before the first one whose
mean falls more than max(k·σ, ``min_drop``) below the plateau, the mean over all smaller β (σ: their pooled
seed std), with a bootstrap interval over seeds. Two readings of what sets β*, both checked on every curve
with a drop, using the geometric midpoint β_c = √(β*·β_drop): (η) the drop happens at one learning rate, so
f·η₀·β_c is the same for every N and for η₀/2 — halving η doubles β*; (steps) the drop happens at one number
of updates per epoch, so N/(S₀·β_c) is the same on every curve — β* ∝ N and halving η does not move it
(equal epochs: total updates = epochs·N/(S₀β)). The data support the reading whose quantity has the smaller
spread (std of log₂ over the curves) by more than ``reading_margin`` octaves. β sits on an octave grid, so
one seed's noise can move a β* by a factor 2: ``bootstrap_readings`` resamples the seeds of every curve at
once and reports how often each comparison between curves (β* rises with N, η/2 raises β*, each reading)
comes out — beside the point verdicts, which it does not change.

Quick scale: memorisation on 2000 MNIST training images (2×2 average-pooled to 14×14, pixels in [0, 1]) with
2000 clean validation images, 784/4 → 256 → 256 → 10 ReLU MLP (our reading of "similar to Arpit et al. 2017,
but with 256 hidden units"), S ∈ {16, 32} × η ∈ {0.05, 0.1, 0.2} (momentum: η/10, i.e. the same η/(1 − m)),
so η/S ∈ {1.6, 3.1, 6.3, 12.5}·10⁻³ (the middle two reached by two (η, S) pairs), 200 epochs, 60
evaluations, 4 seeds: ≈ 6 min on the 2-core machine. Why this grid: without momentum a run's progress per
epoch scales with η/S (the SDE time η·N/S per epoch), and the matched comparison only sees the η/S values
whose runs reach the levels. The first quick grid (S ∈ {32, 128}, η ∈ {0.01, 0.04, 0.16}, 150 epochs, 2
seeds; 2 min) left the two lowest of its four η/S values below even the clean-fit accuracy c after 150
epochs, so every level compared two η/S values of 2–4 runs each and the endpoint claims compared nothing (a
single η/S fitted ≥ 99 %). The grid was moved up so that the lowest η/S gets ≈ 600 units of SDE time, enough
to reach the top level; the trade-off is an η/S span of 8× instead of the paper's ≈ 400× — the quick scale
says nothing about the slow-memorising low-η/S end of the paper's grid. Breaking point on the 4-layer BN-MLP
of §4.1 (``jastrzebski.model_spec``) on Fashion-MNIST 14×14 (``jastrzebski.task_factory``), N ∈ {1000, 2000,
4000}, η₀ = 0.1 (the paper's), S₀ = 8, 20 epochs, 5 seeds (the paper's count; the first quick spec had N ∈
{1000, 4000} and 3 seeds, 2 min, and its β* of N = 4000 rested on a 1.6-point dip at the 2σ edge). Paper
scale: MNIST 50 000/10 000 and the paper's grid for 300 epochs, 5 seeds; VGG-11 on CIFAR-10 (η₀ = 0.1, S₀ =
50, 5 seeds; ``--set model=resnet56`` for Fig. 7) — the paper gives neither the data-set sizes of Fig. 6a–c
nor the epochs: 12 500 / 25 000 / 45 000 and 100 epochs are our choice.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from sgdnoise import analysis
from sgdnoise.data import (
    TaskData,
    average_pool,
    load_mnist,
    mnist_standin_task,
    randomize_labels,
    stratified_subset,
    with_validation_split,
)
from sgdnoise.engine import TrainConfig
from sgdnoise.experiments.base import Experiment, ExperimentResult, RunContext
from sgdnoise.experiments.grid import join_notes, mean_std
from sgdnoise.experiments.jastrzebski import Dataset, ModelName, spec_model, task_factory, task_name
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.models import MLPSpec
from sgdnoise.results import Claim
from sgdnoise.sweep import Sweep, SweepRun, SweptRun, run_sweep

EFFECT_IN_SE = 2.0  # an effect counts when it exceeds 2 standard errors (fixed in advance)
CHANCE = 0.1  # 10 classes: a diverged run scores as guessing
N_CLASSES = 10

# --------------------------------------------------------------------------------------------------
# jastrzebski-memorization (§4.3, Fig. 5, Fig. 14)
# --------------------------------------------------------------------------------------------------


def memorization_task(
    dataset: str, n_train: int, validation: int, n_test: int, noise_fraction: float, pool: int | None, seed: int
) -> TaskData:
    """``n_train`` training images (class-stratified, of MNIST or of ``data.mnist_standin_task``) of which
    round(``noise_fraction``·n_train) get a uniformly random label (``data.randomize_labels``), a clean
    validation split of ``validation`` more, ``n_test`` test images; optional ``pool``×``pool`` average
    pooling. Everything is drawn from ``seed`` (the labels are the same for every run)."""
    generator = torch.Generator().manual_seed(seed)
    if dataset == "mnist":
        source = load_mnist()
        train = stratified_subset(source.train, n_train + validation, generator)
        test = stratified_subset(source.test, n_test, generator)
    elif dataset == "standin":
        standin = mnist_standin_task(seed, n_train + validation, n_test)
        train, test = standin.train, standin.test
    else:
        raise ValueError(f"dataset must be 'mnist' or 'standin', got {dataset!r}")
    task = with_validation_split(TaskData(train, test), validation, seed)
    noisy = randomize_labels(task.train.y, N_CLASSES, noise_fraction, generator)
    meta = {
        **task.meta,
        "task": f"memorization-{dataset}",
        "noise_fraction": noise_fraction,
        "randomized": int(noisy.randomized.sum()),
        "randomized_and_wrong": int((noisy.labels != task.train.y).sum()),
    }
    task = TaskData(task.train.with_labels(noisy.labels), task.test, meta, validation=task.validation)
    return average_pool(task, pool) if pool else task


@dataclass(frozen=True)
class MemorizationSpec:
    """The (η, S) grid per momentum (``learning_rates`` at momentum 0, ``momentum_learning_rates``
    otherwise), label-noise fractions, the MLP (``depth`` hidden layers of ``width``), the budget and the
    matched levels (``memorized_fractions`` of the noisy labels' excess over c = 1 − p + p/10)."""

    noise_fractions: tuple[float, ...] = (0.25, 0.5)
    momenta: tuple[float, ...] = (0.0, 0.9)
    learning_rates: tuple[float, ...] = (0.05, 0.1, 0.2)
    momentum_learning_rates: tuple[float, ...] = (0.005, 0.01, 0.02)
    batch_sizes: tuple[int, ...] = (16, 32)
    epochs: float = 200.0
    seeds: int = 4
    n_train: int = 2000
    validation: int = 2000
    n_test: int = 1000
    dataset: Literal["mnist", "standin"] = "mnist"
    pool: int | None = 2
    width: int = 256
    depth: int = 2
    eval_points: int = 60
    memorized_fractions: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)
    fit_threshold: float = 0.99
    subset_seed: int = 0

    def __post_init__(self) -> None:
        if any(not 0.0 < p < 1.0 for p in self.noise_fractions) or not self.noise_fractions:
            raise ValueError(f"noise_fractions must lie in (0, 1), got {self.noise_fractions}")
        if any(not 0.0 <= m < 1.0 for m in self.momenta) or not self.momenta:
            raise ValueError(f"momenta must lie in [0, 1), got {self.momenta}")
        if any(lr <= 0 for lr in (*self.learning_rates, *self.momentum_learning_rates)):
            raise ValueError("learning rates must be > 0")
        if not self.batch_sizes or any(b < 1 or b > self.n_train for b in self.batch_sizes):
            raise ValueError(f"batch sizes must lie in [1, n_train], got {self.batch_sizes}")
        if self.seeds < 1 or self.epochs <= 0 or self.eval_points < 2:
            raise ValueError("seeds >= 1, epochs > 0 and eval_points >= 2 are needed")
        if any(not 0.0 < f < 1.0 for f in self.memorized_fractions):
            raise ValueError(f"memorized_fractions must lie in (0, 1), got {self.memorized_fractions}")

    def lrs(self, momentum: float) -> tuple[float, ...]:
        return self.learning_rates if momentum == 0.0 else self.momentum_learning_rates

    def levels(self, noise_fraction: float) -> list[float]:
        """Training accuracies a = c + f(1 − c), c = 1 − p + p/10 (a clean classifier's noisy accuracy)."""
        clean = 1.0 - noise_fraction + noise_fraction / N_CLASSES
        return [clean + f * (1.0 - clean) for f in self.memorized_fractions]

    def model(self) -> MLPSpec:
        side = 28 // (self.pool or 1)
        return MLPSpec(side * side, (self.width,) * self.depth, N_CLASSES)


MEMORIZATION_SPECS = {
    "quick": MemorizationSpec(),
    "paper": MemorizationSpec(
        learning_rates=(0.005, 0.01, 0.02, 0.05, 0.07, 0.1),
        momentum_learning_rates=(0.005, 0.01, 0.02),
        batch_sizes=(50, 100, 200, 500, 1000),
        epochs=300.0,
        seeds=5,
        n_train=50_000,
        validation=10_000,
        n_test=10_000,
        pool=None,
        eval_points=60,
    ),
}


def _panel(p: float, m: float) -> str:
    return f"p{round(100 * p)}-m{m:g}"


def _history_columns(run: SweptRun) -> dict[str, list[float | None]]:
    history = run.history or {}
    return {key: list(history.get(key) or []) for key in ("epoch", "train_acc", "validation_acc")}


def run_memorization(spec: MemorizationSpec, ctx: RunContext) -> dict[str, Any]:
    """Train every (p, m, η, S, seed) and return per panel its runs (trajectories and endpoints)."""
    tasks: dict[str, Callable[[], TaskData]] = {}
    runs: list[SweepRun] = []
    keys: list[tuple[float, float, float, int, int]] = []
    for p in spec.noise_fractions:
        name = f"memorization-{spec.dataset}-n{spec.n_train}-val{spec.validation}-p{p:g}-pool{spec.pool}"
        tasks[name] = functools.partial(
            memorization_task, spec.dataset, spec.n_train, spec.validation, spec.n_test, p, spec.pool, spec.subset_seed
        )
        for m in spec.momenta:
            for lr in spec.lrs(m):
                for batch in spec.batch_sizes:
                    for index in range(spec.seeds):
                        config = TrainConfig(
                            spec.model(),
                            lr,
                            batch,
                            epochs=spec.epochs,
                            momentum=m,
                            seed=ctx.seed + index,
                            eval_points=spec.eval_points,
                        )
                        runs.append(SweepRun(config, task=name))
                        keys.append((p, m, lr, batch, index))
    swept = run_sweep(
        Sweep("jastrzebski-memorization", tasks, runs),
        ctx.store,
        executor=ctx.executor,
        ray_address=ctx.ray_address,
        device=ctx.device,
        show_progress=ctx.show_progress,
    )
    panels: dict[str, dict[str, Any]] = {}
    for (p, m, lr, batch, index), run in zip(keys, swept, strict=True):
        panel = panels.setdefault(
            _panel(p, m), {"noise_fraction": p, "momentum": m, "levels": spec.levels(p), "runs": []}
        )
        metrics = run.metrics or {}
        panel["runs"].append(
            {
                "learning_rate": lr,
                "batch_size": batch,
                "noise": lr / batch,
                "seed": ctx.seed + index,
                "status": run.status,
                "final_train_acc": metrics.get("train_acc"),
                "final_validation_acc": metrics.get("validation_acc"),
                "history": _history_columns(run),
            }
        )
    return {"panels": panels, "fit_threshold": spec.fit_threshold}


def _group_arrays(runs: Sequence[Mapping[str, Any]], value: Callable[[Mapping[str, Any]], np.ndarray], n_levels: int):
    """η/S groups (sorted), values [G, R, L] (NaN-padded) and the present mask [G, R]."""
    noises = sorted({analysis.ratio_key(r["noise"]) for r in runs})
    members = [[r for r in runs if analysis.ratio_key(r["noise"]) == n] for n in noises]
    repeats = max(len(m) for m in members)
    values = np.full((len(noises), repeats, n_levels), np.nan)
    present = np.zeros((len(noises), repeats), dtype=bool)
    for g, group in enumerate(members):
        for r, run in enumerate(group):
            present[g, r] = True
            values[g, r] = value(run)
    return noises, values, present


def _at_levels(run: Mapping[str, Any], levels: Sequence[float]) -> np.ndarray:
    if run["status"] != "finished":
        return np.full(len(levels), np.nan)
    history = run["history"]
    train = [math.nan if v is None else v for v in history["train_acc"]]
    validation = [math.nan if v is None else v for v in history["validation_acc"]]
    return analysis.values_at_levels(train, validation, levels)


def _endpoint(run: Mapping[str, Any], fit_threshold: float) -> np.ndarray:
    fitted = run["status"] == "finished" and (run["final_train_acc"] or 0.0) >= fit_threshold
    return np.array([run["final_validation_acc"] if fitted else math.nan], dtype=float)


def _comparison_value(comparison: analysis.MatchedComparison) -> dict[str, Any]:
    return {
        "levels_compared": comparison.n_levels,
        "mean_difference": comparison.mean_difference,
        "mean_se": comparison.mean_se,
        "median_rho": comparison.median_rho,
        "per_level": [
            {
                "level": level.level,
                "noise_values": list(level.groups),
                "mean_validation": list(level.mean),
                "std": list(level.std),
                "n": list(level.n),
                "difference": level.difference,
                "se": level.se,
                "rho": level.rho,
            }
            for level in comparison.levels
        ],
    }


def _comparison_note(comparison: analysis.MatchedComparison, what: str) -> str:
    if comparison.n_levels == 0:
        return f"no {what} was reached by every run of at least two η/S values: nothing to compare"
    direction = "higher" if comparison.mean_difference > 0 else "lower"
    size = abs(comparison.mean_difference) / comparison.mean_se if comparison.mean_se > 0 else math.inf
    return (
        f"highest η/S {direction} than lowest by {abs(comparison.mean_difference) * 100:.2f} points "
        f"({size:.1f} SE) over {comparison.n_levels} {what}(s); median Spearman ρ {comparison.median_rho:.2f}"
    )


def _compare(
    noises: Sequence[float], values: np.ndarray, levels: Sequence[float], present: np.ndarray
) -> analysis.MatchedComparison:
    """``analysis.compare_at_matched_levels``; with a single η/S value, an empty comparison."""
    if len(noises) < 2:
        return analysis.MatchedComparison((), 0, math.nan, math.nan, math.nan)
    return analysis.compare_at_matched_levels(noises, values, levels, present=present)


def memorization_claims(data: Mapping[str, Any]) -> tuple[list[Claim], dict[str, Any]]:
    """Per panel (p, momentum): validation accuracy rises with η/S at matched memorisation levels, and at
    the endpoint (runs ending at ≥ fit_threshold training accuracy); both need > EFFECT_IN_SE SEs and a
    positive median ρ. Returns the claims and the comparisons (for the figures)."""
    claims: list[Claim] = []
    comparisons: dict[str, Any] = {}
    threshold = float(data["fit_threshold"])
    for tag, panel in data["panels"].items():
        runs, levels = panel["runs"], panel["levels"]
        noises, values, present = _group_arrays(runs, functools.partial(_at_levels, levels=levels), len(levels))
        matched = _compare(noises, values, levels, present)
        noises, values, present = _group_arrays(runs, functools.partial(_endpoint, fit_threshold=threshold), 1)
        endpoint = _compare(noises, values, [threshold], present)
        comparisons[tag] = {"matched": _comparison_value(matched), "endpoint": _comparison_value(endpoint)}
        where = f"{round(100 * panel['noise_fraction'])}% random labels, momentum {panel['momentum']:g}"
        diverged = sum(r["status"] != "finished" for r in runs)
        caveat = f"{diverged} of {len(runs)} runs did not finish" if diverged else ""
        claims.append(
            Claim(
                id=f"memorization/{tag}/matched",
                statement=(
                    f"{where}: at matched training accuracy on the noisy labels (memorised fractions of the "
                    f"random labels), validation accuracy is higher for higher η/S (highest − lowest η/S "
                    f"> {EFFECT_IN_SE:g} SE averaged over levels, median Spearman ρ > 0)"
                ),
                holds=matched.exceeds(EFFECT_IN_SE),
                value=comparisons[tag]["matched"],
                note=join_notes(_comparison_note(matched, "level"), caveat),
            )
        )
        claims.append(
            Claim(
                id=f"memorization/{tag}/endpoint",
                statement=(
                    f"{where}: among runs ending at ≥ {threshold:g} training accuracy, final validation accuracy "
                    f"is higher for higher η/S (> {EFFECT_IN_SE:g} SE, Spearman ρ > 0)"
                ),
                holds=endpoint.exceeds(EFFECT_IN_SE),
                value=comparisons[tag]["endpoint"],
                note=join_notes(_comparison_note(endpoint, "endpoint comparison"), caveat),
            )
        )
    return claims, comparisons


class JastrzebskiMemorization(Experiment):
    name = "jastrzebski-memorization"
    title = "η/S and memorisation of random labels: validation vs noisy training accuracy (Fig. 5, 14)"
    paper = "Jastrzębski et al. 2018, §4.3 Fig. 5, App. F.3 Fig. 14"

    def run(self, spec: MemorizationSpec, ctx: RunContext) -> ExperimentResult:
        data = run_memorization(spec, ctx)
        claims, data["comparisons"] = memorization_claims(data)
        settings = spec_to_dict(spec) | {
            "model": f"{spec.model().input_dim}-" + "-".join(str(h) for h in spec.model().hidden) + "-10 ReLU MLP",
            "effect_in_se": EFFECT_IN_SE,
            "levels": {tag: panel["levels"] for tag, panel in data["panels"].items()},
        }
        return ExperimentResult(claims, data, settings)

    def plot(self, data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
        from sgdnoise import plots

        return plots.jastrzebski_memorization_figures(data, fig_dir)


# --------------------------------------------------------------------------------------------------
# jastrzebski-breaking-point (§4.4, Fig. 6-7)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BreakingPointSpec:
    """(βη₀f, βS₀) for β in ``betas``, f in ``learning_rate_factors`` (1 = the base η₀, 0.5 = Fig. 6d),
    per training-set size, for ``epochs`` epochs; the β* test (``k``, ``min_drop``) and the reading margin
    (octaves) are fixed in advance. β with βS₀ > N is not run."""

    train_sizes: tuple[int, ...] = (1000, 2000, 4000)
    betas: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    learning_rate: float = 0.1
    learning_rate_factors: tuple[float, ...] = (1.0, 0.5)
    batch_size: int = 8
    epochs: float = 20.0
    seeds: int = 5
    validation: int = 2000
    n_test: int | None = 1000
    dataset: Dataset = "fashion-mnist"
    model: ModelName = "bn-mlp"
    pool: int | None = 2
    width: int = 256
    depth: int = 4
    momentum: float = 0.0
    eval_points: int = 12
    k: float = 2.0
    min_drop: float = 0.01
    n_bootstrap: int = 1000
    reading_margin: float = 0.5
    subset_seed: int = 0

    def __post_init__(self) -> None:
        if not self.train_sizes or list(self.train_sizes) != sorted(set(self.train_sizes)):
            raise ValueError(f"train_sizes must be distinct and increasing, got {self.train_sizes}")
        if len(self.betas) < 2 or list(self.betas) != sorted(set(self.betas)) or self.betas[0] < 1:
            raise ValueError(f"betas must be >= 2 distinct increasing values >= 1, got {self.betas}")
        if self.learning_rate <= 0 or any(f <= 0 for f in self.learning_rate_factors) or self.batch_size < 1:
            raise ValueError("learning_rate and its factors must be > 0, batch_size >= 1")
        if self.seeds < 1 or self.epochs <= 0:
            raise ValueError("seeds >= 1 and epochs > 0 are needed")


BREAKING_POINT_SPECS = {
    "quick": BreakingPointSpec(),
    "paper": BreakingPointSpec(
        train_sizes=(12_500, 25_000, 45_000),
        betas=(1, 2, 4, 8, 16, 32, 64),
        learning_rate=0.1,
        batch_size=50,
        epochs=100.0,
        seeds=5,
        validation=5000,
        n_test=None,
        dataset="cifar10",
        model="vgg11",
        pool=None,
        eval_points=30,
    ),
}


def _curve_tag(n_train: int, factor: float) -> str:
    return f"n{n_train}-eta{factor:g}"


def _score(run: SweptRun) -> float:
    """The best validation accuracy over the evaluations (the paper's bracketed numbers); NaN unless finished."""
    if run.status != "finished":
        return math.nan
    values = [v for v in (run.history or {}).get("validation_acc") or [] if v is not None]
    return float(max(values)) if values else math.nan


def run_breaking_point(spec: BreakingPointSpec, ctx: RunContext) -> dict[str, Any]:
    """Train every (N, f, β, seed) and return per curve the scores [seed][β] and mean validation histories."""
    tasks: dict[str, Callable[[], TaskData]] = {}
    runs: list[SweepRun] = []
    keys: list[tuple[int, float, int, int]] = []
    model = spec_model(spec)
    for n_train in spec.train_sizes:
        name = task_name(spec.dataset, n_train, spec.validation, spec.n_test, spec.subset_seed, spec.pool)
        tasks[name] = task_factory(spec.dataset, n_train, spec.validation, spec.n_test, spec.subset_seed, spec.pool)
        for factor in spec.learning_rate_factors:
            for beta in spec.betas:
                if beta * spec.batch_size > n_train:
                    continue
                for index in range(spec.seeds):
                    config = TrainConfig(
                        model,
                        beta * factor * spec.learning_rate,
                        beta * spec.batch_size,
                        epochs=spec.epochs,
                        momentum=spec.momentum,
                        seed=ctx.seed + index,
                        eval_points=spec.eval_points,
                    )
                    runs.append(SweepRun(config, task=name))
                    keys.append((n_train, factor, beta, index))
    swept = run_sweep(
        Sweep("jastrzebski-breaking-point", tasks, runs),
        ctx.store,
        executor=ctx.executor,
        ray_address=ctx.ray_address,
        device=ctx.device,
        show_progress=ctx.show_progress,
    )
    by_key = dict(zip(keys, swept, strict=True))
    curves = []
    for n_train in spec.train_sizes:
        for factor in spec.learning_rate_factors:
            betas = [b for b in spec.betas if b * spec.batch_size <= n_train]
            scores, histories, statuses = [], {}, []
            for beta in betas:
                done = [by_key[(n_train, factor, beta, i)] for i in range(spec.seeds)]
                scores.append([_score(r) for r in done])
                statuses.append([r.status for r in done])
                finished = [r for r in done if r.status == "finished" and (r.history or {}).get("epoch")]
                if finished:
                    longest = max(finished, key=lambda r: len(r.history["epoch"]))
                    histories[str(beta)] = {
                        "epoch": longest.history["epoch"],
                        "validation_acc": mean_std([r.history["validation_acc"] for r in finished]),
                    }
            curves.append(
                {
                    "tag": _curve_tag(n_train, factor),
                    "n_train": n_train,
                    "factor": factor,
                    "base_learning_rate": factor * spec.learning_rate,
                    "base_batch_size": spec.batch_size,
                    "betas": betas,
                    "scores": np.asarray(scores, dtype=float).T.tolist(),  # [seed][β]
                    "status": np.asarray(statuses, dtype=object).T.tolist(),
                    "history": histories,
                }
            )
    return {"curves": curves, "epochs": spec.epochs}


def _spread(values: Sequence[float]) -> float:
    return float(np.std(np.log2(values))) if len(values) >= 2 else math.nan


def _read(found: Sequence[Mapping[str, Any]], margin: float) -> tuple[str, bool, float, float]:
    """Which reading the curves with a drop support: (reading, the paper's reading holds, log₂ spread of
    η·β_c, log₂ spread of N/(S₀β_c))."""
    eta_spread = _spread([f["critical_learning_rate"] for f in found])
    steps_spread = _spread([f["critical_steps_per_epoch"] for f in found])
    if len(found) < 3:
        return "undetermined (fewer than 3 curves with a drop)", False, eta_spread, steps_spread
    if eta_spread + margin < steps_spread:
        return "learning rate", True, eta_spread, steps_spread
    if steps_spread + margin < eta_spread:
        return "steps per epoch", False, eta_spread, steps_spread
    return "undecided (spreads within the margin)", False, eta_spread, steps_spread


def _critical(curve: Mapping[str, Any], beta_star: float, beta_drop: float) -> tuple[float, float]:
    """η·β_c and N/(S₀β_c) at the geometric midpoint β_c = √(β*·β_drop) of a curve's drop."""
    beta_mid = math.sqrt(beta_star * beta_drop)
    return curve["base_learning_rate"] * beta_mid, curve["n_train"] / (curve["base_batch_size"] * beta_mid)


def _curve_scores(curve: Mapping[str, Any]) -> np.ndarray:
    return np.array([[math.nan if v is None else v for v in row] for row in curve["scores"]], dtype=float)


def bootstrap_readings(
    data: Mapping[str, Any], *, k: float, min_drop: float, margin: float, n_bootstrap: int, seed: int = 0
) -> dict[str, Any]:
    """The uncertainty of the three comparisons between curves: every curve's seeds are resampled with
    replacement at every β (as ``analysis.find_breaking_point`` does for one curve), β* is found again on
    every curve, and the fraction of resamples is counted in which β* rises with N at the base η (the
    claim's test), in which the smaller η raises β* at every N, and in which each reading is supported
    (``_read``, same margin). Reported beside the point verdicts, never replacing them."""
    curves = [c for c in data["curves"] if len(c["betas"]) >= 2]
    factors = sorted({c["factor"] for c in curves}, reverse=True)
    rng = np.random.default_rng(seed)
    filled = [np.where(np.isfinite(s := _curve_scores(c)), s, CHANCE) for c in curves]
    rises = raised = 0
    readings: dict[str, int] = {}
    for _ in range(n_bootstrap):
        fits = []
        for curve, scores in zip(curves, filled, strict=True):
            sample = np.take_along_axis(scores, rng.integers(0, scores.shape[0], size=scores.shape), axis=0)
            fit = analysis.find_breaking_point(
                curve["betas"], sample, k=k, min_drop=min_drop, failed_score=CHANCE, n_bootstrap=1
            )
            eta_c, steps_c = _critical(curve, fit.beta_star, fit.beta_drop) if fit.found else (math.nan, math.nan)
            fits.append(
                {
                    "n_train": curve["n_train"],
                    "factor": curve["factor"],
                    "beta_star": fit.beta_star,
                    "found": fit.found,
                    "critical_learning_rate": eta_c,
                    "critical_steps_per_epoch": steps_c,
                }
            )
        base = sorted((f for f in fits if factors and f["factor"] == factors[0]), key=lambda f: f["n_train"])
        stars = [f["beta_star"] for f in base]
        rises += len(stars) >= 2 and all(b >= a for a, b in itertools.pairwise(stars)) and stars[-1] > stars[0]
        if len(factors) >= 2:
            pairs = [
                (f, next((g for g in fits if g["n_train"] == f["n_train"] and g["factor"] == factors[-1]), None))
                for f in base
            ]
            pairs = [(f, g) for f, g in pairs if g is not None]
            raised += bool(pairs) and all(g["beta_star"] > f["beta_star"] for f, g in pairs)
        reading = _read([f for f in fits if f["found"]], margin)[0]
        readings[reading] = readings.get(reading, 0) + 1
    return {
        "n_bootstrap": n_bootstrap,
        "beta_star_rises_with_n": rises / n_bootstrap,
        "smaller_eta_raises_beta_star": raised / n_bootstrap if len(factors) >= 2 else None,
        "readings": {name: count / n_bootstrap for name, count in sorted(readings.items())},
    }


def breaking_point_claims(
    data: Mapping[str, Any], *, k: float, min_drop: float, n_bootstrap: int, reading_margin: float, seed: int = 0
) -> tuple[list[Claim], list[dict[str, Any]]]:
    """β* per curve (with its interval) and the four claims: flat then falling at the base η; β* rises with
    N; halving η raises β*; the η reading fits better than the steps-per-epoch reading."""
    fits = []
    for curve in data["curves"]:
        scores = _curve_scores(curve)
        if len(curve["betas"]) < 2:
            fits.append({"tag": curve["tag"], "n_train": curve["n_train"], "factor": curve["factor"], "fit": None})
            continue
        fit = analysis.find_breaking_point(
            curve["betas"],
            scores,
            k=k,
            min_drop=min_drop,
            failed_score=CHANCE,
            n_bootstrap=n_bootstrap,
            seed=seed,
        )
        diverged = int(sum(s != "finished" for row in curve["status"] for s in row))
        eta_c, steps_c = _critical(curve, fit.beta_star, fit.beta_drop) if fit.found else (None, None)
        fits.append(
            {
                "tag": curve["tag"],
                "n_train": curve["n_train"],
                "factor": curve["factor"],
                "fit": fit.to_dict(),
                "beta_star": fit.beta_star,
                "beta_drop": fit.beta_drop if fit.found else None,
                "interval": [fit.low, fit.high],
                "found": fit.found,
                "diverged_runs": diverged,
                "critical_learning_rate": eta_c,
                "critical_steps_per_epoch": steps_c,
            }
        )
    usable = [f for f in fits if f["fit"] is not None]
    boot = bootstrap_readings(data, k=k, min_drop=min_drop, margin=reading_margin, n_bootstrap=n_bootstrap, seed=seed)
    factors = sorted({f["factor"] for f in usable}, reverse=True)
    base = [f for f in usable if f["factor"] == factors[0]] if factors else []

    def brief(f: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "curve": f["tag"],
            "beta_star": f["beta_star"],
            "drop_at": f["beta_drop"],
            "interval": f["interval"],
            "diverged_runs": f["diverged_runs"],
        }

    claims = []
    flat_fall = bool(base) and all(f["found"] and f["beta_star"] >= 2 for f in base)
    claims.append(
        Claim(
            id="breaking-point/flat-then-falls",
            statement=(
                f"at the base η, best validation accuracy stays flat while (η, S) → (βη, βS) up to a β* ≥ 2 and then "
                f"falls (first mean more than max({k:g}σ, {min_drop:g}) below the plateau) on every data-set size"
            ),
            holds=flat_fall,
            value=[brief(f) for f in base],
            note=join_notes(
                *(f"{f['tag']}: no drop up to β = {f['beta_star']:g} (a lower bound)" for f in base if not f["found"]),
                *(
                    f"{f['tag']}: drop already at β = {f['beta_drop']:g}"
                    for f in base
                    if f["found"] and f["beta_star"] < 2
                ),
            ),
        )
    )
    ordered = sorted(base, key=lambda f: f["n_train"])
    stars = [f["beta_star"] for f in ordered]
    rises = len(stars) >= 2 and all(b >= a for a, b in itertools.pairwise(stars)) and stars[-1] > stars[0]
    overlap = len(ordered) >= 2 and ordered[-1]["interval"][0] <= ordered[0]["interval"][1]
    claims.append(
        Claim(
            id="breaking-point/beta-star-rises-with-n",
            statement=(
                "at the base η, β* is non-decreasing in the training-set size and larger at the largest than at "
                "the smallest"
            ),
            holds=rises,
            value={
                "n_train": [f["n_train"] for f in ordered],
                "beta_star": stars,
                "interval": [f["interval"] for f in ordered],
            },
            note=join_notes(
                "the bootstrap intervals of the smallest and largest N overlap" if overlap else "",
                "a β* with no drop in the grid is a lower bound" if any(not f["found"] for f in ordered) else "",
            ),
        )
    )
    pairs = []
    if len(factors) >= 2:
        for f in base:
            other = next((g for g in usable if g["n_train"] == f["n_train"] and g["factor"] == factors[-1]), None)
            if other is not None:
                pairs.append(
                    {"n_train": f["n_train"], "base": brief(f), "reduced": brief(other), "factor": factors[-1]}
                )
    raised = bool(pairs) and all(p["reduced"]["beta_star"] > p["base"]["beta_star"] for p in pairs)
    claims.append(
        Claim(
            id="breaking-point/smaller-eta-raises-beta-star",
            statement=(
                "with the base η multiplied by the smaller factor (Fig. 6d: η/2), β* is larger at every data-set size"
            ),
            holds=raised,
            value=pairs,
            note=join_notes(
                *(f"N = {p['n_train']}: β* {p['base']['beta_star']:g} → {p['reduced']['beta_star']:g}" for p in pairs),
                "needs two learning-rate factors" if not pairs else "",
            ),
        )
    )
    found = [f for f in usable if f["found"]]
    reading, holds, eta_spread, steps_spread = _read(found, reading_margin)
    claims.append(
        Claim(
            id="breaking-point/eta-reading",
            statement=(
                "the paper's reading: β* is set by η getting too large — η·β at the drop is the same on every curve "
                f"(its log₂ spread is smaller, by > {reading_margin:g} octave, than that of the updates per epoch "
                "N/(S₀β) at the drop)"
            ),
            holds=holds,
            value={
                "supported_reading": reading,
                "log2_spread_learning_rate": eta_spread,
                "log2_spread_steps_per_epoch": steps_spread,
                "curves": [
                    {
                        "curve": f["tag"],
                        "critical_learning_rate": f["critical_learning_rate"],
                        "critical_steps_per_epoch": f["critical_steps_per_epoch"],
                    }
                    for f in found
                ],
            },
            note=join_notes(
                f"the data support: {reading} (log₂ spread η·β_c {eta_spread:.2f}, N/(S₀β_c) {steps_spread:.2f})",
                f"seed bootstrap: {_fractions(boot['readings'])}",
            ),
        )
    )
    for i, key in ((1, "beta_star_rises_with_n"), (2, "smaller_eta_raises_beta_star")):
        if boot[key] is not None:
            claims[i] = dataclasses.replace(
                claims[i],
                value={"point": claims[i].value, "bootstrap_fraction_holding": boot[key]},
                note=join_notes(claims[i].note, f"holds in {100 * boot[key]:.0f}% of seed-bootstrap resamples"),
            )
    claims[3].value["bootstrap"] = boot["readings"]
    return claims, fits


def _fractions(readings: Mapping[str, float]) -> str:
    return ", ".join(f"{name} {100 * share:.0f}%" for name, share in sorted(readings.items(), key=lambda kv: -kv[1]))


class JastrzebskiBreakingPoint(Experiment):
    name = "jastrzebski-breaking-point"
    title = "Breaking point of the (βη, βS) invariance: β* vs data-set size and base η (Fig. 6-7)"
    paper = "Jastrzębski et al. 2018, §4.4 Fig. 6-7"

    def run(self, spec: BreakingPointSpec, ctx: RunContext) -> ExperimentResult:
        data = run_breaking_point(spec, ctx)
        claims, data["fits"] = breaking_point_claims(
            data,
            k=spec.k,
            min_drop=spec.min_drop,
            n_bootstrap=spec.n_bootstrap,
            reading_margin=spec.reading_margin,
            seed=ctx.seed,
        )
        settings = spec_to_dict(spec) | {
            "score": "best validation accuracy over the evaluations; a diverged run scores 0.1 (chance)",
            "beta_star_test": "first β whose mean is > max(k·σ, min_drop) below the mean of the β before it",
        }
        return ExperimentResult(claims, data, settings)

    def plot(self, data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
        from sgdnoise import plots

        return plots.jastrzebski_breaking_point_figures(data, fig_dir)


EXPERIMENTS = (JastrzebskiMemorization(MEMORIZATION_SPECS), JastrzebskiBreakingPoint(BREAKING_POINT_SPECS))
