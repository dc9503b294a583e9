"""The set-up the Smith, Elsen & De experiments share: the spec (:class:`SEDSpec`), the task
(``task_factory``), the models (``ARCHITECTURES``), the paper's schedule on the effective learning rate
(``train_config``) and the tuning sweep (``tuned_curves``, ``sweep_points``).

Every run uses the paper's schedule (§4, App. B.1; ``engine.StepDecay``): the initial learning rate for
the first half of the budget, then ÷γ every 1/20 of it (γ = 2; §7.1 tunes ε_0 and ε_f with
γ = (ε_0/ε_f)^(1/10)). The swept coordinate is the *effective* learning rate ε_eff = ε/(1−m) on a 2^k
grid (the engine's lr is ε = ε_eff·(1−m), PyTorch momentum ``A ← mA + g``). Every grid point is trained
``runs`` times (seeds), the best ``keep`` are kept per objective, and the optimum, its one-std band and
an edge flag come from the tuning protocol (``grid.TuningProtocol``). The paper "always verif[ies] that
both the optimal learning rate and the error bars are not at the boundary of our learning rate grid"
(§4), so grid extension is on by default at both scales: a curve whose optimum or one-std band reaches a
grid edge gets a point beyond it, up to ``max_extensions`` rounds; an optimum still at an edge after that
makes every claim on its location inconclusive (``edge_note``), a band still there every claim that reads it.

Quick scale: a batch-norm MLP (196 → 128 → 128 → 10, ghost batch 64; B < 64 normalises over the whole
batch) on 4096 class-balanced Fashion-MNIST training images pooled to 14×14 and standardised, tested on
the full 10k test set, no L2, no augmentation; the no-normalisation variant is the same MLP without
batch norm. Paper scale: a 16-4 Wide-ResNet with ghost batch norm 64 (Regularized SkipInit without
normalisation, §5 and §7) on CIFAR-10 supplied by the user, crop-flip augmentation, L2 5e-4, m = 0.9,
15 runs keeping the best 12 (7 keeping 5 for Fig. 3); ``tests/test_smith_elsen_de_2020_paper_scale.py``
pins each paper-scale spec against the paper's lines. The paper's main text does not list its
learning-rate grids beyond Table 1's 2^0–2^5; the paper-scale grids here are 2^k ranges covering those,
extended automatically where an optimum or its error bar reaches an edge. Tuning is on the test set, as in the
paper (§4).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

import numpy as np
from matplotlib.axes import Axes

from sgdnoise import plots
from sgdnoise.analysis.effects import Difference, directional_effect
from sgdnoise.data import TaskData, cifar10_task, cifar_standin_task, fashion_mnist_task
from sgdnoise.engine import StepDecay, TrainConfig
from sgdnoise.experiments.base import RunContext
from sgdnoise.experiments.claims import NotEnoughData, Verdict
from sgdnoise.experiments.grid import TunedCurves, TuningProtocol, nullable, tune_curves
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.models import MLPSpec, regularized_skipinit_wrn_16_4, wrn_16_4
from sgdnoise.results import nan_if_none
from sgdnoise.sweep import Sweep, SweepRun

STORE_NAMESPACE = "smith-elsen-de"
PAPER = "Smith, Elsen & De, ICML 2020"
Architecture = Literal["bn-mlp", "mlp", "wrn-16-4", "wrn-16-4-regularized-skipinit"]
DatasetName = Literal["fashion-mnist", "cifar10", "cifar-standin"]
OBJECTIVES = {"test_acc": True, "train_loss": False}  # name → maximise
GHOST_BATCH = 64
FASHION_MNIST_INPUT = 196  # 28×28 pooled 2×2 to 14×14
CIFAR_INPUT = 3 * 32 * 32  # the MLPs on the CIFAR-shaped stand-in (tiny runs)


@dataclass(frozen=True)
class SEDSpec:
    """One experiment at one scale.

    ``architectures``: the models compared (``"bn-mlp"``/``"mlp"`` at quick scale, ``"wrn-16-4"`` with
    ghost BN / ``"wrn-16-4-regularized-skipinit"`` at paper scale). ``batch_sizes`` × ``momenta`` × ``epoch_budgets``
    are the curves; ``steps`` replaces the epoch budget by a fixed number of updates (Table 1).
    ``lr_exponents`` = (lo, hi): the initial grid ε_eff = 2^k, k = lo..hi; ``final_lr_exponents`` the
    ε_f grid of Fig. 3 (empty otherwise). ``runs`` seeds per point, the best ``keep`` kept.
    ``n_train``/``n_test``: the subset sizes (None: the whole split); ``data_dir``: where the user's
    CIFAR-10 is (None: the default locations). ``measure_init``: B_simple and 2/λ_max at init.
    ``extend_grid`` (default on, §4): a point beyond an edge an optimum or its band reaches, at most
    ``max_extensions`` rounds.
    """

    architectures: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    momenta: tuple[float, ...]
    epoch_budgets: tuple[float, ...]
    lr_exponents: tuple[int, int]
    runs: int
    keep: int
    dataset: DatasetName = "fashion-mnist"
    n_train: int | None = 4096
    n_test: int | None = None
    steps: int | None = None
    final_lr_exponents: tuple[int, ...] = ()
    l2: float = 0.0
    augmentation: str | None = None
    extend_grid: bool = True
    max_extensions: int = 3
    measure_init: bool = False
    subset_seed: int = 0
    data_dir: str | None = None
    hidden: tuple[int, ...] = (128, 128)
    n_bootstrap: int = 1000

    def __post_init__(self) -> None:
        if not self.architectures or any(a not in ARCHITECTURES for a in self.architectures):
            raise ValueError(f"architectures must be among {sorted(ARCHITECTURES)}, got {self.architectures}")
        if not self.batch_sizes or list(self.batch_sizes) != sorted(set(self.batch_sizes)) or self.batch_sizes[0] < 2:
            raise ValueError(f"batch_sizes must be distinct increasing ints >= 2, got {self.batch_sizes}")
        if not self.momenta or any(not 0.0 <= m < 1.0 for m in self.momenta):
            raise ValueError(f"momenta must lie in [0, 1), got {self.momenta}")
        if not self.epoch_budgets or any(e <= 0 for e in self.epoch_budgets):
            raise ValueError(f"epoch_budgets must be positive, got {self.epoch_budgets}")
        if self.lr_exponents[0] >= self.lr_exponents[1]:
            raise ValueError(
                f"lr_exponents must be (lo, hi) with lo < hi (a grid of >= 2 points), got {self.lr_exponents}"
            )
        if not 1 <= self.keep <= self.runs:
            raise ValueError(f"keep must lie in [1, runs={self.runs}], got {self.keep}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.dataset not in ("fashion-mnist", "cifar10", "cifar-standin"):
            raise ValueError(f"unknown dataset {self.dataset!r}")

    def lr_grid(self) -> tuple[float, ...]:
        return tuple(2.0**k for k in range(self.lr_exponents[0], self.lr_exponents[1] + 1))

    def protocol(self, objectives: Mapping[str, bool] = OBJECTIVES) -> TuningProtocol:
        return TuningProtocol(
            self.runs, self.keep, objectives, extend_grid=self.extend_grid, max_extensions=self.max_extensions
        )


def _mlp_input(spec: SEDSpec) -> int:
    """The MLPs read Fashion-MNIST pooled to 14×14, or the CIFAR-shaped stand-in flattened (tiny runs)."""
    return FASHION_MNIST_INPUT if spec.dataset == "fashion-mnist" else CIFAR_INPUT


ARCHITECTURES: dict[str, Callable[[SEDSpec], Any]] = {
    "bn-mlp": lambda spec: MLPSpec(_mlp_input(spec), spec.hidden, 10, batch_norm=True, ghost_batch_size=GHOST_BATCH),
    "mlp": lambda spec: MLPSpec(_mlp_input(spec), spec.hidden, 10),
    "wrn-16-4": lambda spec: wrn_16_4("ghost", ghost_batch_size=GHOST_BATCH),
    "wrn-16-4-regularized-skipinit": lambda spec: regularized_skipinit_wrn_16_4(),
}
ARCHITECTURE_LABELS = {
    "bn-mlp": "batch norm (ghost 64)",
    "mlp": "no normalisation",
    "wrn-16-4": "batch norm (ghost 64)",
    "wrn-16-4-regularized-skipinit": "no normalisation (Regularized SkipInit)",
}
BATCH_NORM = frozenset({"bn-mlp", "wrn-16-4"})  # the rest train without normalisation


def task_factory(spec: SEDSpec) -> Callable[[], TaskData]:
    """A picklable factory of the spec's task."""
    if spec.dataset == "fashion-mnist":
        if spec.n_train is None:
            raise ValueError("the Fashion-MNIST task needs n_train (e.g. 4096)")
        return functools.partial(fashion_mnist_task, spec.n_train, spec.subset_seed, 2, spec.n_test)
    if spec.dataset == "cifar10":
        return functools.partial(cifar10_task, spec.data_dir, spec.n_train, spec.subset_seed, n_test=spec.n_test)
    return functools.partial(cifar_standin_task, spec.n_train or 256, spec.n_test or 128, spec.subset_seed)


def task_name(spec: SEDSpec) -> str:
    return f"{spec.dataset}-n{spec.n_train}-test{spec.n_test}-subset{spec.subset_seed}"


def train_config(
    spec: SEDSpec,
    architecture: str,
    momentum: float,
    batch: int,
    budget: float,
    eff_lr: float,
    seed: int,
    final: float | None = None,
) -> TrainConfig:
    """One run: the paper's schedule on the effective learning rate ε_eff (engine lr = ε_eff·(1−m)).
    ``final`` (Fig. 3): the effective final learning rate ε_f, γ = (ε_0/ε_f)^(1/10)."""
    scale = 1.0 - momentum
    schedule = StepDecay(eff_lr * scale) if final is None else StepDecay.from_final(eff_lr * scale, final * scale)
    budget_kw = {"steps": spec.steps} if spec.steps is not None else {"epochs": budget}
    return TrainConfig(
        ARCHITECTURES[architecture](spec),
        schedule,
        batch,
        momentum=momentum,
        l2=spec.l2,
        seed=seed,
        eval_points=0,
        augmentation=spec.augmentation,
        **budget_kw,
    )


def settings(spec: SEDSpec) -> dict[str, Any]:
    """What ``summary.json`` records as the settings that ran."""
    return spec_to_dict(spec) | {
        "schedule": "StepDecay: ε for the first half of the budget, then ÷γ every 1/20 (γ = 2; Fig. 3: "
        "γ = (ε_0/ε_f)^(1/10))",
        "swept": "effective learning rate ε_eff = ε/(1−m) on a 2^k grid; engine lr = ε_eff·(1−m)",
        "protocol": f"{spec.runs} runs per point, best {spec.keep} kept, mean ± std, band = every ε within one "
        "std of the best mean (tuned on the test set, as in the paper)",
        "store_namespace": STORE_NAMESPACE,
    }


# ---- the tuning sweep ---------------------------------------------------------------------------------------

CurveKey = tuple[str, float, int, float]  # (architecture, momentum, batch size, epoch budget)
Point = tuple[CurveKey, float, float | None]  # (curve, ε_eff, ε_f)


class Optimum(TypedDict):
    """The fields of ``analysis.TunedOptimum.to_dict()`` read here: one curve's tuned optimum for one
    objective (the stored record holds the rest of them too)."""

    index: int
    value: float
    band_lower: float
    band_upper: float
    band_at_edge: bool
    at_edge: bool
    score: float
    score_std: float


class Curve(TypedDict):
    """One tuned curve: its key, the final ε_eff grid, every run's score per objective ([grid, runs],
    None where a run did not finish) and the tuned optimum per objective."""

    architecture: str
    momentum: float
    batch_size: int
    epochs: float
    lr_grid: list[float]
    grid_points_added: int
    scores: dict[str, list[list[float | None]]]
    optima: dict[str, Optimum]


def finished_value(run: Any, name: str) -> float:
    """The final metric ``name`` of a swept run, NaN unless it finished."""
    if run.status != "finished":
        return math.nan
    return nan_if_none(run.metrics.get(name))


def sweep_points(spec: SEDSpec, ctx: RunContext, points: Sequence[Point]) -> dict[Point, list[Any]]:
    """Train (or read back) every (curve, ε_eff, ε_f) point's ``runs`` seeds; → the swept runs."""
    name = task_name(spec)
    runs, keys = [], []
    for point in points:
        (architecture, momentum, batch, budget), eff_lr, final = point
        for index in range(spec.runs):
            config = train_config(spec, architecture, momentum, batch, budget, eff_lr, ctx.seed + index, final)
            runs.append(SweepRun(config, task=name))
            keys.append(point)
    swept = ctx.sweep(Sweep(STORE_NAMESPACE, {name: task_factory(spec)}, runs))
    out: dict[Point, list[Any]] = {}
    for key, run in zip(keys, swept, strict=True):
        out.setdefault(key, []).append(run)
    return out


def tune(spec: SEDSpec, ctx: RunContext, curves: Sequence[CurveKey]) -> TunedCurves:
    """The tuning protocol on every curve (grid extension when the spec asks)."""

    def evaluate(grids: Mapping[CurveKey, tuple[float, ...]]) -> dict[CurveKey, dict[str, np.ndarray]]:
        swept = sweep_points(spec, ctx, [(key, lr, None) for key, values in grids.items() for lr in values])
        return {
            key: {
                name: np.array([[finished_value(r, name) for r in swept[(key, lr, None)]] for lr in values])
                for name in OBJECTIVES
            }
            for key, values in grids.items()
        }

    return tune_curves({key: spec.lr_grid() for key in curves}, evaluate, spec.protocol())


def curve_record(key: CurveKey, tuned: TunedCurves) -> Curve:
    """Plain data of one tuned curve (for claims, figures and summary.json)."""
    architecture, momentum, batch, budget = key
    scores = tuned.scores[key]
    return {
        "architecture": architecture,
        "momentum": momentum,
        "batch_size": batch,
        "epochs": budget,
        "lr_grid": list(tuned.grids[key]),
        "grid_points_added": tuned.added[key],
        "scores": {name: [nullable(row) for row in arr] for name, arr in scores.items()},
        "optima": {name: opt.to_dict() for name, opt in tuned.optima[key].items()},  # type: ignore[misc]
    }


def tuned_curves(spec: SEDSpec, ctx: RunContext, keys: Sequence[CurveKey]) -> list[Curve]:
    """Tune every curve of ``keys`` and return their records, in the order of ``keys``."""
    tuned = tune(spec, ctx, keys)
    return [curve_record(key, tuned) for key in keys]


def optimum(curve: Curve, objective: str = "test_acc") -> Optimum:
    return curve["optima"][objective]


def scores_row(curve: Curve, objective: str, row: int) -> np.ndarray:
    """The runs' scores of ``objective`` at grid row ``row``, NaN where a run did not finish."""
    return plots.as_float_array(curve["scores"][objective][row])


def kept_at_optimum(curve: Curve, keep: int, objective: str = "test_acc", value: str | None = None) -> np.ndarray:
    """The ``value`` (default: ``objective`` itself) of the best ``keep`` finished runs by ``objective`` at
    its optimum: the per-seed sample behind the protocol's mean ± std, the groups the claims compare."""
    maximize = OBJECTIVES[objective]
    row = curve["lr_grid"].index(optimum(curve, objective)["value"])
    ranked, values = scores_row(curve, objective, row), scores_row(curve, value or objective, row)
    finished = np.flatnonzero(np.isfinite(ranked) & np.isfinite(values))
    order = np.argsort(-ranked[finished] if maximize else ranked[finished], kind="stable")
    return values[finished[order[:keep]]]


def train_loss_at_test_optimum(curve: Curve, keep: int) -> tuple[float, float]:
    """Mean ± std of the final training loss of the runs kept (by test accuracy) at the test optimum
    (Fig. 1b, Table 1: "the mean final training loss at the optimal learning rate")."""
    loss = kept_at_optimum(curve, keep, value="train_loss")
    if loss.size == 0:
        return math.nan, math.nan
    return float(loss.mean()), float(loss.std(ddof=1)) if loss.size > 1 else 0.0


def all_of(comparisons: Mapping[str, Difference], extra: Mapping[str, Any] | None = None, note: str = "") -> Verdict:
    """One verdict from several seed comparisons (``analysis.effects``): ``holds`` when every one holds,
    ``fails`` when any fails, else ``inconclusive``; the value lists each comparison's interval."""
    if not comparisons:
        raise NotEnoughData("nothing to compare")
    outcomes = {d.outcome for d in comparisons.values()}
    outcome = "fails" if "fails" in outcomes else "holds" if outcomes == {"holds"} else "inconclusive"
    value = dict(extra or {}) | {"comparisons": {name: d.describe() for name, d in comparisons.items()}}
    reasons = [f"{name}: {d.reason}" for name, d in comparisons.items() if d.outcome != "holds"]
    return Verdict(outcome, value, "; ".join(filter(None, [note, *reasons])))


def best_larger_budget(scores: Sequence[float]) -> int:
    """The index of the best score among the budgets above the smallest (index 0), which a "rises" claim compares
    with the smallest: taken among the larger budgets, so a peak at the smallest budget can fail the claim."""
    larger = np.asarray(scores[1:], dtype=float)
    if len(scores) < 2 or not np.isfinite(larger).any():
        raise NotEnoughData(f"{len(scores)} epoch budget(s), {int(np.isfinite(larger).sum())} larger with a score")
    return 1 + int(np.nanargmax(larger))


def falls_at_every_step(epochs: Sequence[float], samples: Sequence[Any], label: str = "") -> dict[str, Difference]:
    """Per pair of consecutive budgets, the Welch comparison "lower at the larger budget" of the per-seed
    ``samples`` (Fig. 2b, 3b: "the training loss falls monotonically as the epoch budget rises")."""
    return {
        f"{label}{b:g} < {a:g} epochs": directional_effect(lb, la, direction=-1)
        for (a, la), (b, lb) in itertools.pairwise(zip(epochs, samples, strict=True))
    }


EDGE_RULE = "; inconclusive while an optimum it rests on sits at a grid edge after extension"
"""Appended to the rule of every claim that ``unless_at_edge`` guards."""


BAND_RULE = "; inconclusive while a band it rests on reaches its grid's edge (§4: a bound, not an error bar)"
"""Appended to the rule of every claim that ``unless_bands_interior`` guards."""


def unless_bands_interior(edges: Sequence[Any], what: str) -> None:
    """Raise ``NotEnoughData`` when a one-std band of the optimal ε a claim reads reaches the edge of its grid: the
    grid cut it, so its true extent is unknown (§4: "we always verify that both the optimal learning rate and the
    error bars are not at the boundary of our learning rate grid")."""
    if edges:
        raise NotEnoughData(f"the one-std band of ε reaches the grid's edge for {what} {list(edges)}: a bound")


def optimum_band(curve: Curve, objective: str = "test_acc") -> tuple[float, float]:
    """The one-std band [lower, upper] of ``curve``'s tuned optimum for ``objective`` (§4's error bar)."""
    best = optimum(curve, objective)
    return best["band_lower"], best["band_upper"]


def band_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> tuple[float, float]:
    """The least and the greatest ε_a/ε_b with ε_a in the one-std band ``numerator`` and ε_b in ``denominator``
    (§4's error bars, each [lower, upper]): within their error bars two optima are that close and that far apart.
    A claim that an optimum moves reads the least move (it moved only if even that did); a claim that it stays
    reads whether the bands allow no move, as the paper reads its error bars."""
    return numerator[0] / denominator[1], numerator[1] / denominator[0]


def unless_seeds_vary(a: Sequence[float], b: Sequence[float], what: str) -> None:
    """Raise ``NotEnoughData`` when neither group of kept runs varies: Welch's interval is then the point [d, d]
    and would decide any difference, however small, without a measure of the seeds' noise."""
    groups = [v[np.isfinite(v)] for v in (np.asarray(a, float), np.asarray(b, float))]
    spreads = [np.ptp(v) for v in groups if v.size]
    if spreads and not any(spreads):
        raise NotEnoughData(f"the kept runs of {what} do not vary: the noise of their difference is not measured")


def peak_at_an_end(peak: Sequence[float], runner_up: Sequence[float], found: str, runner: str, value: Any) -> Verdict:
    """A peak-then-fall claim whose peak sits at an end of the grid (``found`` says where): ``fails`` when the peak's
    kept runs lie clearly above the runner-up's (``runner``; Welch 95%, ``directional_effect``), else inconclusive."""
    clear = directional_effect(peak, runner_up, direction=1)
    if clear.outcome != "holds":
        raise NotEnoughData(f"{found}, not clearly above {runner}: {clear.describe()}")
    return Verdict.of(False, value, f"{found}, above {runner}: {clear.describe()}")


def unless_at_edge(edges: Sequence[Any], what: str) -> None:
    """Raise ``NotEnoughData`` (→ inconclusive) when an optimum a location claim rests on sits at the edge of
    its grid after extension: a bound, never a value (§4: the paper verifies every optimum is interior)."""
    if edges:
        raise NotEnoughData(f"optimum at the edge of its grid (after extension) for {what} {list(edges)}: a bound")


# ---- shared figure primitives --------------------------------------------------------------------------------


def score_errorbar(
    ax: Axes, x: Sequence[float], optima: Sequence[Mapping[str, Any]], scale: float = 1.0, **style: Any
) -> None:
    """The optimal score per x (× ``scale``, e.g. 100 for accuracy in %) with its std as the error bar."""
    score = [scale * o["score"] for o in optima]
    ax.errorbar(x, score, yerr=[scale * o["score_std"] for o in optima], marker="o", capsize=3, **style)


def lr_errorbar(ax: Axes, x: Sequence[float], optima: Sequence[Mapping[str, Any]], label: str, **style: Any) -> None:
    """Optimal learning rate per x with the tuning protocol's one-std band as the error bar; an
    optimum at the edge of its grid is drawn hollow."""
    value = np.array([o["value"] for o in optima], float)
    low = value - np.array([o["band_lower"] for o in optima], float)
    high = np.array([o["band_upper"] for o in optima], float) - value
    ax.errorbar(x, value, yerr=[low, high], marker="o", capsize=3, label=label, **style)
    mark_edges(ax, x, value, [o["at_edge"] for o in optima])


EDGE_LABEL = "optimum at its grid's edge"
LR_BARS = "bars: the tuning protocol's one-std band"


def mark_edges(ax: Axes, x: Sequence[float], value: np.ndarray, at_edge: Sequence[bool]) -> None:
    """Ring the optima that sit at the edge of their learning-rate grid (not established, SED §4)."""
    edge = [i for i, flag in enumerate(at_edge) if flag]
    if edge:
        labelled = EDGE_LABEL in ax.get_legend_handles_labels()[1]
        ax.plot(
            np.asarray(x, float)[edge],
            value[edge],
            "o",
            mfc="white",
            mec="black",
            ms=9,
            zorder=5,
            label=None if labelled else EDGE_LABEL,
        )


def budget_panels(axes: Sequence[Axes]) -> None:
    """The panels Fig. 2 and Fig. 3 share: (a) optimal test accuracy, (b) optimal training loss (log scale),
    and every panel against the epoch budget on a log₂ axis."""
    axes[0].set_ylabel("optimal test accuracy (%)")
    axes[0].set_title("a) test accuracy")
    axes[1].set_ylabel("optimal training loss")
    axes[1].set_yscale("log")
    axes[1].set_title("b) training loss")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("epoch budget")


# the spec fields every scale shares
QUICK = {"architectures": ("bn-mlp",), "runs": 4, "keep": 3}
PAPER_SCALE = {
    "architectures": ("wrn-16-4",),
    "runs": 15,
    "keep": 12,
    "dataset": "cifar10",
    "n_train": None,
    "l2": 5e-4,
    "augmentation": "crop-flip",
}
# Fig. 2 and 3 at paper scale: B = 64, momentum, epoch budgets 50 .. 6400
PAPER_BUDGETS = {"batch_sizes": (64,), "momenta": (0.9,), "epoch_budgets": tuple(50 * 2**k for k in range(8))}
# a run of seconds on the CIFAR-shaped stand-in (the conformance suite's smoke run)
TINY = {
    "architectures": ("bn-mlp",),
    "dataset": "cifar-standin",
    "n_train": 64,
    "n_test": 32,
    "hidden": (8,),
    "runs": 2,
    "keep": 1,
    "l2": 0.0,
    "augmentation": None,
    "extend_grid": False,
    "n_bootstrap": 20,
}
# the smoke run of the growing-budget experiments (Fig. 2 and 3): one batch size, two budgets, two ε
TINY_BUDGETS = TINY | {"batch_sizes": (16,), "momenta": (0.9,), "epoch_budgets": (1, 2), "lr_exponents": (-2, -1)}
