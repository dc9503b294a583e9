"""Jastrzębski et al. 2018, §4.3, Fig. 5 and App. F.3, Fig. 14: η/S and the memorisation of random labels.

A fraction p ∈ {25 %, 50 %} of the training labels is replaced by uniformly random ones
(``data.randomize_labels``: the random label may equal the true one, probability 1/10), and an MLP is
trained with and without momentum 0.9 on a grid of (η, S); validation accuracy (clean labels) against
training accuracy on the noisy labels, over training. The paper: "for a specific level of memorization,
high η/S leads to better generalization".

Memorisation, measured at matched levels. A perfect classifier of the *true* labels scores
c = 1 − p + p/10 on the noisy training labels, so memorisation is training accuracy above c. The levels
are a = c + f·(1 − c) for the memorised fractions f of ``memorized_fractions``; a run's validation
accuracy at a level is read at the first moment its training accuracy reaches it (linear interpolation
between the two evaluations around the crossing, ``matched_levels.values_at_levels``). At each level the η/S
values all of whose runs reached it are compared (``matched_levels.compare_at_matched_levels``): Spearman ρ of
validation accuracy vs η/S over the runs, and highest-η/S − lowest-η/S mean difference with Welch's 95% interval
(``analysis.effects.directional_effect``; both η/S values need ``MIN_SEEDS`` = 3 runs, and a seed spread). The
claim holds per panel (p, momentum) when that interval averaged over the levels (its ends averaged) lies above 0
and the median ρ is positive, fails when it lies below 0 (the opposite effect), and is inconclusive otherwise
(until the claims audit of 2026-12-08: difference > 2 level-averaged SE, no least number of seeds). The endpoint
claim compares the final validation accuracy of the runs that end at ≥ ``FIT_THRESHOLD`` training accuracy the same way.
η/S is the paper's colour axis: momentum runs are compared at their own η/S, on η ∈ {0.005, 0.01, 0.02} at
both scales: the paper's grid without the rates above 0.02 ("for runs with momentum we exclude learning rates
higher than 0.02"), 10× below the quick scale's η at momentum 0.

The claims are declared once per panel of the declared specs (``PANELS``: p ∈ {25 %, 50 %} × momentum
∈ {0, 0.9}, the same at both scales); a run whose ``--set noise_fractions``/``momenta`` leaves a panel
out records that panel's claims as inconclusive, and a panel outside ``PANELS`` is drawn but not checked.

Quick scale: 2000 MNIST training images (2×2 average-pooled to 14×14, pixels in [0, 1]) with 2000 clean
validation images, 784/4 → 256 → 256 → 10 ReLU MLP (our reading of "similar to Arpit et al. 2017, but
with 256 hidden units"), S ∈ {16, 32} × η ∈ {0.05, 0.1, 0.2} (momentum: η/10, i.e. the same η/(1 − m)),
so η/S ∈ {1.6, 3.1, 6.3, 12.5}·10⁻³ (the middle two reached by two (η, S) pairs), 200 epochs, 60
evaluations, 4 seeds: ≈ 6 min on 2 cores. Why this grid: without momentum a run's progress per epoch
scales with η/S (SDE time η·N/S per epoch), and the matched comparison only sees the η/S values whose runs
reach the levels. The first quick grid (S ∈ {32, 128}, η ∈ {0.01, 0.04, 0.16}, 150 epochs, 2 seeds) left
its two lowest η/S below even c after 150 epochs, so every level compared two η/S values of 2–4 runs and
the endpoint claims compared nothing (a single η/S fitted ≥ 99 %). The grid was moved up so that the lowest
η/S gets ≈ 600 units of SDE time, enough to reach the top level; the trade-off is an η/S span of 8× instead
of the paper's ≈ 400×: the quick scale says nothing about the slow-memorising low-η/S end of the paper's
grid. Paper scale: MNIST 50 000/10 000 and the paper's grid for 300 epochs, 5 seeds.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

import matplotlib.pyplot as plt
import numpy as np
import torch

from sgdnoise import plots
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
from sgdnoise.experiments.base import Experiment, Figure, RunContext
from sgdnoise.experiments.claims import JASTRZEBSKI_2018, ClaimSpec, ClaimTest, NotEnoughData, Verdict
from sgdnoise.experiments.grid import join_notes
from sgdnoise.experiments.jastrzebski_2018 import matched_levels
from sgdnoise.experiments.jastrzebski_2018.matched_levels import ALPHA, MIN_SEEDS, comparison_value
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.models import MLPSpec
from sgdnoise.results import nan_if_none
from sgdnoise.sweep import Sweep, SweepRun, SweptRun

FIT_THRESHOLD = 0.99  # the endpoint claim compares runs that end at ≥ 99 % training accuracy
N_CLASSES = 10


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


SPECS = {
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


def panel_tag(noise_fraction: float, momentum: float) -> str:
    """A panel's tag: ``p25-m0`` (25 % random labels, no momentum), ``p50-m0.9``, …"""
    return f"p{round(100 * noise_fraction)}-m{momentum:g}"


class MemorizationRun(TypedDict):
    """One trained (η, S, seed) of a panel: its trajectory and endpoint."""

    learning_rate: float
    batch_size: int
    noise: float  # η/S
    seed: int
    status: str
    final_train_acc: float | None
    final_validation_acc: float | None
    history: dict[str, list[float | None]]  # epoch, train_acc, validation_acc at each evaluation


class Panel(TypedDict):
    """One panel of Fig. 5: a fraction of random labels and a momentum, its matched levels and its runs."""

    noise_fraction: float
    momentum: float
    levels: list[float]
    runs: list[MemorizationRun]


class MemorizationData(TypedDict):
    """The numbers behind Fig. 5 and Fig. 14 and the claims: per panel tag its runs, and the comparisons
    (``compare_panel``: matched levels and endpoint) the matched-level figure draws."""

    panels: dict[str, Panel]
    fit_threshold: float  # FIT_THRESHOLD, the endpoint comparison's level
    comparisons: dict[str, dict[str, Any]]


def _history_columns(run: SweptRun) -> dict[str, list[float | None]]:
    history = run.history or {}
    return {key: list(history.get(key) or []) for key in ("epoch", "train_acc", "validation_acc")}


def run(spec: MemorizationSpec, ctx: RunContext) -> MemorizationData:
    """Train every (p, m, η, S, seed) not yet in the store and return per panel its runs (trajectories and
    endpoints) and the comparisons."""
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
    swept = ctx.sweep(Sweep("jastrzebski-memorization", tasks, runs))
    panels: dict[str, Panel] = {}
    for (p, m, lr, batch, index), done in zip(keys, swept, strict=True):
        panel = panels.setdefault(
            panel_tag(p, m), {"noise_fraction": p, "momentum": m, "levels": spec.levels(p), "runs": []}
        )
        metrics = done.metrics or {}
        panel["runs"].append(
            {
                "learning_rate": lr,
                "batch_size": batch,
                "noise": lr / batch,
                "seed": ctx.seed + index,
                "status": done.status,
                "final_train_acc": metrics.get("train_acc"),
                "final_validation_acc": metrics.get("validation_acc"),
                "history": _history_columns(done),
            }
        )
    comparisons = {}
    for tag, panel in panels.items():
        matched, endpoint = compare_panel(panel)
        comparisons[tag] = {"matched": comparison_value(matched), "endpoint": comparison_value(endpoint)}
    return {"panels": panels, "fit_threshold": FIT_THRESHOLD, "comparisons": comparisons}


def _group_arrays(runs: Sequence[Mapping[str, Any]], value: Callable[[Mapping[str, Any]], np.ndarray], n_levels: int):
    """η/S groups (sorted), values [G, R, L] (NaN-padded) and the present mask [G, R]."""
    noises = sorted({matched_levels.ratio_key(r["noise"]) for r in runs})
    members = [[r for r in runs if matched_levels.ratio_key(r["noise"]) == n] for n in noises]
    repeats = max(len(m) for m in members)
    values = np.full((len(noises), repeats, n_levels), np.nan)
    present = np.zeros((len(noises), repeats), dtype=bool)
    for g, group in enumerate(members):
        for r, member in enumerate(group):
            present[g, r] = True
            values[g, r] = value(member)
    return noises, values, present


def _at_levels(run: Mapping[str, Any], levels: Sequence[float]) -> np.ndarray:
    if run["status"] != "finished":
        return np.full(len(levels), np.nan)
    history = run["history"]
    train = [nan_if_none(v) for v in history["train_acc"]]
    validation = [nan_if_none(v) for v in history["validation_acc"]]
    return matched_levels.values_at_levels(train, validation, levels)


def _endpoint(run: Mapping[str, Any]) -> np.ndarray:
    fitted = run["status"] == "finished" and (run["final_train_acc"] or 0.0) >= FIT_THRESHOLD
    return np.array([run["final_validation_acc"] if fitted else math.nan], dtype=float)


def _compare(
    noises: Sequence[float], values: np.ndarray, levels: Sequence[float], present: np.ndarray
) -> matched_levels.MatchedComparison:
    """``matched_levels.compare_at_matched_levels``; with a single η/S value, an empty comparison."""
    if len(noises) < 2:
        return matched_levels.MatchedComparison((), 0, math.nan, math.nan, math.nan)
    return matched_levels.compare_at_matched_levels(noises, values, levels, present=present)


def compare_panel(panel: Panel) -> tuple[matched_levels.MatchedComparison, matched_levels.MatchedComparison]:
    """A panel's two comparisons across η/S: validation accuracy at the matched levels, and final
    validation accuracy of the runs ending at ≥ FIT_THRESHOLD training accuracy."""
    runs, levels = panel["runs"], panel["levels"]
    noises, values, present = _group_arrays(runs, functools.partial(_at_levels, levels=levels), len(levels))
    matched = _compare(noises, values, levels, present)
    noises, values, present = _group_arrays(runs, _endpoint, 1)
    return matched, _compare(noises, values, [FIT_THRESHOLD], present)


# ---- claims -------------------------------------------------------------------------------------------------


def _comparison_note(comparison: matched_levels.MatchedComparison, what: str) -> str:
    if comparison.n_levels == 0:
        return (
            f"no {what} was reached by every run of two η/S values with {MIN_SEEDS} runs each and a seed spread: "
            "nothing to compare"
        )
    direction = "higher" if comparison.mean_difference > 0 else "lower"
    return (
        f"highest η/S {direction} than lowest by {abs(comparison.mean_difference) * 100:.2f} points, Welch "
        f"{100 * (1 - ALPHA):g}% [{100 * comparison.mean_low:+.2f}, {100 * comparison.mean_high:+.2f}] over "
        f"{comparison.n_levels} {what}(s); median Spearman ρ {comparison.median_rho:.2f}"
    )


def check_panel(data: MemorizationData, tag: str, endpoint: bool) -> Verdict:
    """Panel ``tag``'s comparison (matched levels, or the ``endpoint`` one): its level-averaged Welch interval above 0
    with a positive median ρ; inconclusive when this run left the panel out."""
    panel = data["panels"].get(tag)
    if panel is None:
        raise NotEnoughData(f"panel {tag} was not run (this run's noise_fractions × momenta leave it out)")
    comparison = compare_panel(panel)[endpoint]
    runs = panel["runs"]
    diverged = sum(r["status"] != "finished" for r in runs)
    return Verdict(
        comparison.outcome(),
        comparison_value(comparison),
        join_notes(
            _comparison_note(comparison, "endpoint comparison" if endpoint else "level"),
            f"{diverged} of {len(runs)} runs did not finish" if diverged else "",
        ),
    )


# the panels the claims are declared for: those of the declared specs (the same at both scales)
PANELS: tuple[tuple[float, float], ...] = tuple(
    (p, m) for p in SPECS["quick"].noise_fractions for m in SPECS["quick"].momenta
)
_MATCHED_QUOTE = "We observe that for a specific level of memorization, high η/S leads to better generalization."
_ENDPOINT_QUOTE = (
    "larger noise in SGD (regardless if induced by using a smaller batch size or a larger learning rate) leads to "
    "solutions which generalize better for the same amount of random labels memorized on the training set"
)


def panel_claims(noise_fraction: float, momentum: float) -> tuple[ClaimSpec[MemorizationData], ...]:
    """The two claims of one Fig. 5 panel: at matched memorisation levels, and at the endpoint."""
    tag = panel_tag(noise_fraction, momentum)
    where = f"{round(100 * noise_fraction)}% random labels, momentum {momentum:g}"
    side = "left" if momentum else "right"
    thresholds = {"ALPHA": ALPHA, "MIN_SEEDS": MIN_SEEDS}
    return (
        ClaimSpec(
            id=f"fig5/{tag}-matched",
            statement=f"{where}: at matched training accuracy on the noisy labels (memorised fractions of the random "
            "labels), validation accuracy is higher for higher η/S (highest − lowest η/S above 0 by Welch's 95% "
            "interval averaged over levels, median Spearman ρ > 0)",
            kind="paper",
            provenance=JASTRZEBSKI_2018.cite(f"§4.3, Fig. 5 ({side})", _MATCHED_QUOTE),
            test=ClaimTest(
                "validation accuracy at the first crossing of each matched training accuracy, per η/S: highest − "
                "lowest η/S mean difference and its Welch two-sided (1 − ALPHA) interval (levels where both have "
                "≥ MIN_SEEDS runs and not both zero spread), the ends averaged over the levels; median Spearman ρ",
                "holds if the averaged interval lies above 0 and median ρ > 0; fails if it lies below 0; else (or "
                "with no such level) inconclusive",
                thresholds,
            ),
            check=functools.partial(check_panel, tag=tag, endpoint=False),
        ),
        ClaimSpec(
            id=f"fig5/{tag}-endpoint",
            statement=f"{where}: among runs ending at ≥ {FIT_THRESHOLD:g} training accuracy, final validation "
            "accuracy is higher for higher η/S (Welch's 95% interval above 0, Spearman ρ > 0)",
            kind="paper",
            provenance=JASTRZEBSKI_2018.cite(f"§4.3, Fig. 5 ({side})", _ENDPOINT_QUOTE),
            test=ClaimTest(
                "final validation accuracy of the runs ending at ≥ FIT_THRESHOLD training accuracy, per η/S: "
                "highest − lowest η/S mean difference and its Welch two-sided (1 − ALPHA) interval (both ≥ MIN_SEEDS "
                "runs, not both zero spread), Spearman ρ",
                "holds if the interval lies above 0 and ρ > 0; fails if it lies below 0; else (or with fewer runs) "
                "inconclusive",
                thresholds | {"FIT_THRESHOLD": FIT_THRESHOLD},
            ),
            check=functools.partial(check_panel, tag=tag, endpoint=True),
        ),
    )


CLAIMS = tuple(claim for p, m in PANELS for claim in panel_claims(p, m))


# ---- figures ------------------------------------------------------------------------------------------------


class Fig5Data(TypedDict):
    panels: dict[str, Panel]
    comparisons: dict[str, dict[str, Any]]


class Fig14Data(TypedDict):
    panels: dict[str, Panel]


def _noise_colours(noises: Sequence[float]) -> dict[float, Any]:
    """Warm colour for higher η/S (the paper's Fig. 5/14 convention), on a log scale."""
    values = sorted(set(noises))
    cmap = plt.get_cmap("coolwarm")
    logs = np.log(values)
    span = float(logs[-1] - logs[0]) or 1.0
    return {v: cmap(float((np.log(v) - logs[0]) / span)) for v in values}


def _panel_colours(panels: Mapping[str, Panel]) -> dict[str, dict[float, Any]]:
    return {
        tag: _noise_colours([matched_levels.ratio_key(r["noise"]) for r in panel["runs"]])
        for tag, panel in panels.items()
    }


def _legend(ax: Any, colours: Mapping[float, Any], levels: bool = False) -> None:
    handles = [plt.Line2D([], [], color=c, label=f"η/S = {n:.2g}") for n, c in colours.items()]
    handles += [plt.Line2D([], [], color="grey", ls=":", lw=0.7, label="matched training accuracies")] if levels else []
    ax.legend(handles=handles, fontsize=7, loc="upper left")


def _grid(panels: Mapping[str, Panel], height: float) -> tuple[Any, Callable[[Panel], Any]]:
    """Rows = fraction of random labels, columns = momentum 0.9 (left) and 0 (right); the axes of a panel."""
    fractions = sorted({p["noise_fraction"] for p in panels.values()})
    momenta = sorted({p["momentum"] for p in panels.values()}, reverse=True)
    fig, axes = plt.subplots(
        len(fractions), len(momenta), figsize=(5 * len(momenta), height * len(fractions)), squeeze=False
    )
    return fig, lambda panel: axes[fractions.index(panel["noise_fraction"])][momenta.index(panel["momentum"])]


def _matched_panel(ax: Any, panel: Panel, matched: Mapping[str, Any], colours: Mapping[float, Any]) -> None:
    """Validation accuracy at each matched level per η/S group (mean ± SE over its runs)."""
    series: dict[float, list[tuple[float, float, float]]] = {}
    for level in matched.get("per_level", []):
        stds = level.get("std") or [math.nan] * len(level["noise_values"])
        ns = level.get("n") or [1] * len(level["noise_values"])
        for noise, mean, std, n in zip(level["noise_values"], level["mean_validation"], stds, ns, strict=True):
            se = nan_if_none(std) / math.sqrt(n)
            series.setdefault(matched_levels.ratio_key(noise), []).append((level["level"], mean, se))
    for noise, points in sorted(series.items()):
        x, y, err = (np.asarray(v, dtype=float) for v in zip(*points, strict=True))
        colour = colours.get(noise, "black")
        ax.errorbar(x, y, yerr=err, color=colour, marker="o", ms=3, capsize=2, label=f"η/S = {noise:.2g}")
    note = matched.get("mean_difference")
    summary = (
        f"highest − lowest η/S: {100 * note:+.2f} ± {100 * matched['mean_se']:.2f} pts"
        if note is not None and matched.get("mean_se") is not None
        else "nothing matched"
    )
    ax.set_title(
        f"{round(100 * panel['noise_fraction'])}% random, momentum {panel['momentum']:g}\n{summary}", fontsize=9
    )
    ax.set_xlabel("matched training accuracy (noisy labels)")
    ax.set_ylabel("validation accuracy at first crossing")
    if series:
        ax.legend(fontsize=6)
    else:
        ax.text(0.5, 0.5, "no level reached by every run", ha="center", transform=ax.transAxes)


def draw_fig5(data: Fig5Data, fig_dir: Path) -> list[Path]:
    """Fig. 5: validation accuracy vs training accuracy on the noisy labels over training, rows = fraction
    of random labels, columns = momentum 0.9 (left) and 0 (right), warm = higher η/S *within the panel*
    (momentum runs have 10× smaller η, so one colour scale would paint them all cold), matched levels
    dotted; then the matched comparison itself (validation accuracy at each level per η/S group, mean ± SE
    over its runs)."""
    panels = data["panels"]
    colours = _panel_colours(panels)
    fig, axes_of = _grid(panels, 4)
    for tag, panel in panels.items():
        ax = axes_of(panel)
        for one in panel["runs"]:
            train, validation = (plots.as_float_array(one["history"][k]) for k in ("train_acc", "validation_acc"))
            ax.plot(train, validation, color=colours[tag][matched_levels.ratio_key(one["noise"])], lw=1, alpha=0.8)
        for level in panel["levels"]:
            ax.axvline(level, color="grey", ls=":", lw=0.7)
        ax.set_title(f"{round(100 * panel['noise_fraction'])}% random labels, momentum {panel['momentum']:g}")
        ax.set_xlabel("training accuracy (noisy labels)")
        ax.set_ylabel("validation accuracy")
        _legend(ax, colours[tag], levels=bool(panel["levels"]))
    fig.suptitle("Fig. 5 — memorisation vs generalisation over training (warm = higher η/S in each panel)")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    paths = [plots.save(fig, fig_dir / "fig5_memorization.png")]
    comparisons = data["comparisons"]
    if comparisons:
        fig, axes_of = _grid(panels, 3.6)
        for tag, panel in panels.items():
            _matched_panel(axes_of(panel), panel, comparisons.get(tag, {}).get("matched", {}), colours[tag])
        fig.suptitle("Fig. 5, matched levels — validation accuracy per η/S group (mean ± SE over runs)")
        fig.tight_layout(rect=(0, 0, 1, 0.96))
        paths.append(plots.save(fig, fig_dir / "fig5_matched_levels.png"))
    return paths


def draw_fig14(data: Fig14Data, fig_dir: Path) -> list[Path]:
    """Fig. 14: learning curves of the runs without momentum (training solid, validation dotted)."""
    panels = data["panels"]
    without = {tag: p for tag, p in panels.items() if p["momentum"] == 0.0}
    if not without:
        return []
    colours = _panel_colours(without)
    fig, axes = plt.subplots(1, len(without), figsize=(5 * len(without), 4), squeeze=False)
    for ax, (tag, panel) in zip(axes[0], without.items(), strict=True):
        for one in panel["runs"]:
            epoch = plots.as_float_array(one["history"]["epoch"])
            colour = colours[tag][matched_levels.ratio_key(one["noise"])]
            ax.plot(epoch, plots.as_float_array(one["history"]["train_acc"]), color=colour, lw=1)
            ax.plot(epoch, plots.as_float_array(one["history"]["validation_acc"]), color=colour, lw=1, ls=":")
        ax.set_xscale("symlog", linthresh=1.0)
        _legend(ax, colours[tag])
        ax.set_title(f"{round(100 * panel['noise_fraction'])}% random labels, momentum 0")
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (solid: train, dotted: validation)")
    fig.suptitle("Fig. 14 — learning curves of the memorisation runs (warm = higher η/S)")
    return [plots.save(fig, fig_dir / "fig14_memorization_curves.png")]


def settings(spec: MemorizationSpec) -> dict[str, Any]:
    model = spec.model()
    return spec_to_dict(spec) | {
        "model": f"{model.input_dim}-" + "-".join(str(h) for h in model.hidden) + "-10 ReLU MLP",
        "levels": {panel_tag(p, m): spec.levels(p) for p in spec.noise_fractions for m in spec.momenta},
    }


_TINY = {
    "dataset": "standin",
    "learning_rates": "0.05,0.2",
    "momentum_learning_rates": "0.02",
    "batch_sizes": "8",
    "epochs": 2,
    "seeds": 2,
    "n_train": 32,
    "validation": 16,
    "n_test": 8,
    "pool": "none",
    "width": 16,
    "eval_points": 4,
}

EXPERIMENT = Experiment(
    name="jastrzebski-memorization",
    description=(
        "25%/50% random labels, ± momentum: validation accuracy vs η/S at matched noisy-train accuracy (Fig. 5)."
    ),
    title="η/S and memorisation of random labels: validation vs noisy training accuracy (Fig. 5, 14)",
    paper="Jastrzębski et al. 2018, §4.3 Fig. 5, App. F.3 Fig. 14",
    specs=SPECS,
    tiny={"quick": _TINY, "paper": _TINY},
    run=run,
    claims=CLAIMS,
    figures=(Figure("fig5", draw_fig5, Fig5Data), Figure("fig14", draw_fig14, Fig14Data)),
    settings=settings,
)
