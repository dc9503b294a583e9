"""Smith, Elsen & De 2020, "On the generalization benefit of noise in SGD" (§4–7, Fig. 1–3, Table 1).

Every run uses the paper's schedule (§4, App. B.1; ``engine.StepDecay``): the initial learning rate for
the first half of the budget, then ÷γ every 1/20 of it (γ = 2; §7.1 tunes ε_0 and ε_f with
γ = (ε_0/ε_f)^(1/10)). The swept coordinate is the *effective* learning rate ε_eff = ε/(1−m) on a 2^k
grid (the engine's lr is ε = ε_eff·(1−m), PyTorch momentum ``A ← mA + g``). Every grid point is trained
``runs`` times (seeds), the best ``keep`` are kept per objective, and the optimum, its one-std band and
an edge flag come from the tuning protocol (``grid.TuningProtocol``; ``--set extend_grid=true`` adds
points beyond an edge optimum automatically):

- ``sed-epoch-budget`` (Fig. 1): fixed epochs, B on a ×2 grid, SGD (m = 0) and momentum (m = 0.9);
  ε_opt(B) with the hinge fit ε_opt ∝ B below B* and flat above (bootstrap interval of B*); B_simple
  (gradient noise scale) and ε_crit = 2/λ_max measured at initialisation beside it.
- ``sed-step-budget`` (Table 1): a fixed number of updates at every B (momentum).
- ``sed-unlimited-budget`` (Fig. 2): B fixed, several epoch budgets, the ε that maximises test
  accuracy and the ε that minimises the final training loss, tuned independently; with and without
  batch normalisation.
- ``sed-initial-final-lr`` (Fig. 3): B fixed, several epoch budgets, ε_0 and ε_f tuned jointly on a
  2-D grid (ε_f ≤ ε_0).

Quick scale: a batch-norm MLP (196 → 128 → 128 → 10, ghost batch 64; B < 64 normalises over the whole
batch) on 4096 class-balanced Fashion-MNIST training images pooled to 14×14 and standardised, tested on
the full 10k test set, no L2, no augmentation; the no-normalisation variant is the same MLP without
batch norm. Paper scale: a 16-4 Wide-ResNet with ghost batch norm 64 (SkipInit without normalisation)
on CIFAR-10 supplied by the user, crop-flip augmentation, L2 5e-4, m = 0.9, 15 runs keeping the best 12
(7 keeping 5 for Fig. 3). The paper's main text does not list its learning-rate grids beyond Table 1's
2^0–2^5; the paper-scale grids here are 2^k ranges covering those, and the protocol checks that every
optimum is interior (extend with ``--set extend_grid=true``).

Tuning is on the test set, as in the paper (§4). Thresholds of every claim are fixed here, a priori.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from torch import nn

from sgdnoise import analysis
from sgdnoise.data import TaskData, cifar10_task, cifar_standin_task, fashion_mnist_task
from sgdnoise.engine import StepDecay, TrainConfig
from sgdnoise.experiments.base import Experiment, ExperimentResult, RunContext
from sgdnoise.experiments.grid import TunedCurves, TuningProtocol, join_notes, nullable, tune_curves
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.models import MLPSpec, wrn_16_4
from sgdnoise.results import Claim
from sgdnoise.sweep import Sweep, SweepRun, run_sweep

STORE_NAMESPACE = "smith-elsen-de"
Architecture = Literal["bn-mlp", "mlp", "wrn-16-4", "wrn-16-4-skipinit"]
DatasetName = Literal["fashion-mnist", "cifar10", "cifar-standin"]
OBJECTIVES = {"test_acc": True, "train_loss": False}  # name → maximise
MOMENTUM_MATCH_POINTS = 0.3  # Fig. 1 claim: momentum within 0.3 points of SGD for B ≤ B*
UNLIMITED_LR_FACTOR = 2.0  # Fig. 2 claim: the test-accuracy optimum varies by at most 2×
B_SIMPLE_FACTOR = 2.0  # B_simple at init within a factor 2 of B*
GHOST_BATCH = 64


@dataclass(frozen=True)
class SEDSpec:
    """One experiment at one scale.

    ``architectures``: the models compared (``"bn-mlp"``/``"mlp"`` at quick scale, ``"wrn-16-4"`` with
    ghost BN / ``"wrn-16-4-skipinit"`` at paper scale). ``batch_sizes`` × ``momenta`` × ``epoch_budgets``
    are the curves; ``steps`` replaces the epoch budget by a fixed number of updates (Table 1).
    ``lr_exponents`` = (lo, hi): the initial grid ε_eff = 2^k, k = lo..hi; ``final_lr_exponents`` the
    ε_f grid of Fig. 3 (empty otherwise). ``runs`` seeds per point, the best ``keep`` kept.
    ``n_train``/``n_test``: the subset sizes (None: the whole split); ``data_dir``: where the user's
    CIFAR-10 is (None: the default locations). ``measure_init``: B_simple and 2/λ_max at init.
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
    extend_grid: bool = False
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


def _bn_mlp(hidden: tuple[int, ...], input_dim: int) -> MLPSpec:
    return MLPSpec(input_dim, hidden, 10, batch_norm=True, ghost_batch_size=GHOST_BATCH)


ARCHITECTURES: dict[str, Callable[[SEDSpec], Any]] = {
    "bn-mlp": lambda spec: _bn_mlp(spec.hidden, 196),
    "mlp": lambda spec: MLPSpec(196, spec.hidden, 10),
    "wrn-16-4": lambda spec: wrn_16_4("ghost", ghost_batch_size=GHOST_BATCH),
    "wrn-16-4-skipinit": lambda spec: wrn_16_4("skipinit"),
}
ARCHITECTURE_LABELS = {
    "bn-mlp": "batch norm (ghost 64)",
    "mlp": "no normalisation",
    "wrn-16-4": "batch norm (ghost 64)",
    "wrn-16-4-skipinit": "no normalisation (SkipInit)",
}


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
    spec: SEDSpec, architecture: str, momentum: float, batch: int, budget: float, eff_lr: float, seed: int, final=None
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


# --------------------------------------------------------------------------------------------------
# Running: one sweep per tuning round
# --------------------------------------------------------------------------------------------------

CurveKey = tuple[str, float, int, float]  # (architecture, momentum, batch size, epoch budget)


def _finished_value(run: Any, name: str) -> float:
    if run.status != "finished":
        return math.nan
    value = run.metrics.get(name)
    return math.nan if value is None else float(value)


def sweep_points(
    spec: SEDSpec, ctx: RunContext, points: Sequence[tuple[CurveKey, float, float | None]]
) -> dict[tuple[CurveKey, float, float | None], list[Any]]:
    """Train (or read back) every (curve, ε_eff, ε_f) point's ``runs`` seeds; → the swept runs."""
    name = task_name(spec)
    runs, keys = [], []
    for point in points:
        (architecture, momentum, batch, budget), eff_lr, final = point
        for index in range(spec.runs):
            config = train_config(spec, architecture, momentum, batch, budget, eff_lr, ctx.seed + index, final)
            runs.append(SweepRun(config, task=name))
            keys.append(point)
    swept = run_sweep(
        Sweep(STORE_NAMESPACE, {name: task_factory(spec)}, runs),
        ctx.store,
        executor=ctx.executor,
        ray_address=ctx.ray_address,
        device=ctx.device,
        show_progress=ctx.show_progress,
    )
    out: dict[tuple[CurveKey, float, float | None], list[Any]] = {}
    for key, run in zip(keys, swept, strict=True):
        out.setdefault(key, []).append(run)
    return out


def tune(spec: SEDSpec, ctx: RunContext, curves: Sequence[CurveKey]) -> TunedCurves:
    """The tuning protocol on every curve (grid extension when the spec asks)."""

    def evaluate(grids: Mapping[CurveKey, tuple[float, ...]]) -> dict[CurveKey, dict[str, np.ndarray]]:
        swept = sweep_points(spec, ctx, [(key, lr, None) for key, values in grids.items() for lr in values])
        return {
            key: {
                name: np.array([[_finished_value(r, name) for r in swept[(key, lr, None)]] for lr in values])
                for name in OBJECTIVES
            }
            for key, values in grids.items()
        }

    return tune_curves({key: spec.lr_grid() for key in curves}, evaluate, spec.protocol())


def curve_record(key: CurveKey, tuned: TunedCurves) -> dict[str, Any]:
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
        "optima": {name: opt.to_dict() for name, opt in tuned.optima[key].items()},
    }


def _optimum(curve: Mapping[str, Any], objective: str = "test_acc") -> Mapping[str, Any]:
    return curve["optima"][objective]


def _kept_values(curve: Mapping[str, Any], objective: str, keep: int, at_value: float) -> np.ndarray:
    """The best ``keep`` finished runs' values of ``objective`` at grid value ``at_value``."""
    row = np.array(
        [np.nan if v is None else v for v in curve["scores"][objective][curve["lr_grid"].index(at_value)]], float
    )
    row = row[np.isfinite(row)]
    ordered = np.sort(row)[::-1] if OBJECTIVES[objective] else np.sort(row)
    return ordered[:keep]


def train_loss_at_test_optimum(curve: Mapping[str, Any], keep: int) -> tuple[float, float]:
    """Mean ± std of the final training loss of the runs kept (by test accuracy) at the test optimum
    (Fig. 1b, Table 1: "the mean final training loss at the optimal learning rate")."""
    lr = _optimum(curve)["value"]
    row = curve["lr_grid"].index(lr)
    acc = np.array([np.nan if v is None else v for v in curve["scores"]["test_acc"][row]], float)
    loss = np.array([np.nan if v is None else v for v in curve["scores"]["train_loss"][row]], float)
    finished = np.flatnonzero(np.isfinite(acc) & np.isfinite(loss))
    best = finished[np.argsort(-acc[finished], kind="stable")[:keep]]
    if best.size == 0:
        return math.nan, math.nan
    return float(loss[best].mean()), float(loss[best].std(ddof=1)) if best.size > 1 else 0.0


# --------------------------------------------------------------------------------------------------
# Instruments at initialisation (B_simple, 2/λ_max)
# --------------------------------------------------------------------------------------------------


def measure_at_init(spec: SEDSpec, ctx: RunContext, architecture: str) -> dict[str, Any]:
    """B_simple = tr Σ/|G|² (McCandlish et al. 2018) and ε_crit = 2/λ_max (§3.1) on the training set at
    initialisation, per seed; batch-norm statistics re-estimated on the training set first (the
    per-example gradients are those of the evaluation-mode network)."""
    from sgdnoise.instruments import critical_learning_rate, gradient_noise, recalibrate_batch_norm
    from sgdnoise.models import build_model

    task = task_factory(spec)().to(ctx.device)
    x, y = task.train.x, task.train.y
    loss = nn.CrossEntropyLoss()
    rows = []
    for index in range(min(spec.runs, 4)):
        model = build_model(ARCHITECTURES[architecture](spec), seed=ctx.seed + index).to(ctx.device)
        recalibrate_batch_norm(model, x.split(GHOST_BATCH))
        model.eval()
        noise = gradient_noise(model, loss, (x, y), batch_size=min(spec.batch_sizes), train_mode=False)
        crit = critical_learning_rate(model, loss, (x, y), seed=index, train_mode=False)
        rows.append({"seed": ctx.seed + index, "B_simple": noise.noise_scale_simple, "epsilon_crit": crit.value})
    b = np.array([r["B_simple"] for r in rows])
    e = np.array([r["epsilon_crit"] for r in rows])
    return {
        "architecture": architecture,
        "per_seed": rows,
        "B_simple": float(np.exp(np.log(b).mean())),
        "epsilon_crit": float(e.mean()),
        "epsilon_crit_std": float(e.std(ddof=1)) if e.size > 1 else 0.0,
    }


# --------------------------------------------------------------------------------------------------
# Claims (pure functions of plain data)
# --------------------------------------------------------------------------------------------------


def _claim_unavailable(claim_id: str, statement: str, why: str) -> Claim:
    return Claim(id=claim_id, statement=statement, holds=False, value=None, note=why)


def regime_fit(curves: Sequence[Mapping[str, Any]], keep: int, n_bootstrap: int, seed: int) -> dict[str, Any]:
    """Hinge fit of ε_opt(B) with a bootstrap interval for B* (``analysis.bootstrap_regime_change``)."""
    ordered = sorted(curves, key=lambda c: c["batch_size"])
    grids = [c["lr_grid"] for c in ordered]
    scores = [np.array([[np.nan if v is None else v for v in row] for row in c["scores"]["test_acc"]]) for c in ordered]
    fit = analysis.bootstrap_regime_change(
        [c["batch_size"] for c in ordered], grids, scores, keep, n_bootstrap=n_bootstrap, seed=seed
    )
    return fit.to_dict() | {"edge_optima": [c["batch_size"] for c in ordered if _optimum(c)["at_edge"]]}


def epoch_budget_claims(
    sgd: Sequence[Mapping[str, Any]],
    momentum: Sequence[Mapping[str, Any]],
    regime: Mapping[str, Any] | None,
    init: Mapping[str, Any] | None,
) -> list[Claim]:
    """Fig. 1: ε_opt ∝ B then flat (SGD); momentum's ε_eff keeps growing beyond B*; momentum within
    0.3 points of SGD for B ≤ B* and better above; B_simple at init within 2× of B*."""
    claims: list[Claim] = []
    prefix = "fig1"
    if regime is None:
        why = "the hinge fit needs at least 3 batch sizes"
        for suffix, text in (
            ("sgd-regimes", "SGD's ε_opt grows ∝ B below B* and is flat above"),
            ("momentum-scales-further", "momentum's ε_eff,opt keeps growing beyond SGD's B*"),
            ("momentum-matches-then-beats-sgd", "momentum within 0.3 points of SGD for B ≤ B*, better above"),
            ("b-simple-near-b-star", "B_simple at initialisation within a factor 2 of B*"),
        ):
            claims.append(_claim_unavailable(f"{prefix}/{suffix}", text, why))
        return claims
    fit = regime["fit"]
    b_star = fit["breakpoint"] * (1 + 1e-9)  # B* is fitted in log space: a grid B* comes back a hair low
    slope, curv_slope = fit["slope_noise"], fit["slope_curvature"]
    largest = max(c["batch_size"] for c in sgd)
    smallest = min(c["batch_size"] for c in sgd)
    # a priori: rising segment slope in [0.5, 1.5] (∝ B), the plateau flat (|slope| ≤ 0.25), and a
    # break strictly inside the B range (both regimes visible)
    holds = (
        0.5 <= slope <= 1.5
        and curv_slope is not None
        and abs(curv_slope) <= 0.25
        and smallest < b_star < largest
        and fit["sse"] < fit["sse_line"]
    )
    edge = regime["edge_optima"]
    failed = [
        text
        for ok, text in (
            (0.5 <= slope <= 1.5, f"rising slope {slope:.2f} outside [0.5, 1.5]"),
            (curv_slope is not None and abs(curv_slope) <= 0.25, f"slope above B* {curv_slope} not within ±0.25"),
            (smallest < b_star < largest, f"B* = {fit['breakpoint']:.3g} at the end of the B range"),
            (fit["sse"] < fit["sse_line"], "the hinge fits no better than one straight line"),
        )
        if not ok
    ]
    claims.append(
        Claim(
            id=f"{prefix}/sgd-regimes",
            statement="SGD's optimal ε grows ∝ B below a breakpoint B* (hinge slope in [0.5, 1.5]) and is flat "
            "above (slope of the points above B* within ±0.25), with B* inside the batch-size range",
            holds=bool(holds),
            value={
                "B_star": fit["breakpoint"],
                "B_star_interval": [regime["low"], regime["high"]],
                "interval_level": regime["level"],
                "slope_noise": slope,
                "slope_curvature": curv_slope,
                "sse_hinge": fit["sse"],
                "sse_line": fit["sse_line"],
                "optimal_lr": dict(zip(map(str, regime["batch_sizes"]), regime["optimal_lr"], strict=True)),
            },
            note=join_notes(
                "; ".join(failed),
                f"test-accuracy optimum at the edge of its grid for B = {edge} (bounds, not peaks)" if edge else "",
            ),
        )
    )
    by_b_sgd = {c["batch_size"]: c for c in sgd}
    by_b_mom = {c["batch_size"]: c for c in momentum}
    above = [b for b in sorted(by_b_sgd) if b > b_star and b in by_b_mom]
    ratios = {str(b): _optimum(by_b_mom[b])["value"] / _optimum(by_b_sgd[b])["value"] for b in above}
    mom_lr = [_optimum(by_b_mom[b])["value"] for b in above]
    grows = len(above) >= 2 and mom_lr[-1] > mom_lr[0] and all(r >= 1.0 for r in ratios.values())
    claims.append(
        Claim(
            id=f"{prefix}/momentum-scales-further",
            statement="above SGD's B*, momentum's optimal ε_eff keeps growing with B (larger at the largest B than "
            "just above B*) and is at least SGD's at every such B",
            holds=bool(grows),
            value={"B": above, "momentum_eff_lr": mom_lr, "ratio_momentum_to_sgd": ratios},
            note="" if len(above) >= 2 else f"fewer than 2 batch sizes above B* = {b_star:.3g}",
        )
    )
    gap = {
        b: _optimum(by_b_mom[b])["score"] - _optimum(by_b_sgd[b])["score"] for b in sorted(by_b_sgd) if b in by_b_mom
    }
    below = {b: g for b, g in gap.items() if b <= b_star}
    over = {b: g for b, g in gap.items() if b > b_star}
    matches = bool(below) and all(abs(g) * 100 <= MOMENTUM_MATCH_POINTS for g in below.values())
    beats = bool(over) and all(g > 0 for g in over.values())
    worst_below = max(below, key=lambda b: abs(below[b])) if below else None
    claims.append(
        Claim(
            id=f"{prefix}/momentum-matches-then-beats-sgd",
            statement=f"optimal test accuracy of momentum within {MOMENTUM_MATCH_POINTS} points of SGD for every "
            "B ≤ B* and higher than SGD's for every B > B*",
            holds=matches and beats,
            value={
                "gap_points": {str(b): 100 * g for b, g in gap.items()},
                "matches_below": matches,
                "beats_above": beats,
                "largest_gap_below_points": None if worst_below is None else 100 * below[worst_below],
            },
            note=join_notes(
                ""
                if below and over
                else f"no batch size on one side of B* = {b_star:.3g}: the comparison is incomplete",
                "momentum differs by more than the threshold at B ≤ B* = "
                + ", ".join(
                    f"{b} ({100 * g:+.2f} points)" for b, g in below.items() if abs(g) * 100 > MOMENTUM_MATCH_POINTS
                )
                if below and not matches
                else "",
                "momentum is not better at B > B* = "
                + ", ".join(f"{b} ({100 * g:+.2f} points)" for b, g in over.items() if g <= 0)
                if over and not beats
                else "",
            ),
        )
    )
    if init is None:
        claims.append(
            _claim_unavailable(
                f"{prefix}/b-simple-near-b-star",
                "B_simple at initialisation within a factor 2 of B*",
                "B_simple was not measured (measure_init=false)",
            )
        )
    else:
        ratio = init["B_simple"] / fit["breakpoint"]
        within = 1.0 / B_SIMPLE_FACTOR <= ratio <= B_SIMPLE_FACTOR
        claims.append(
            Claim(
                id=f"{prefix}/b-simple-near-b-star",
                statement=f"the gradient noise scale B_simple at initialisation lies within a factor "
                f"{B_SIMPLE_FACTOR:g} of SGD's regime boundary B*",
                holds=within,
                value={
                    "B_simple": init["B_simple"],
                    "B_star": fit["breakpoint"],
                    "ratio": ratio,
                    "epsilon_crit_at_init": init["epsilon_crit"],
                    "sgd_plateau_lr": fit["plateau"],
                },
                note=""
                if within
                else f"B_simple at initialisation is {ratio:.2f}× B*, outside "
                f"[{1 / B_SIMPLE_FACTOR:g}, {B_SIMPLE_FACTOR:g}]× (B_simple measured at initialisation only)",
            )
        )
    return claims


def step_budget_claims(curves: Sequence[Mapping[str, Any]], keep: int) -> tuple[list[Claim], list[dict[str, Any]]]:
    """Table 1: test accuracy peaks at an intermediate B and falls at the largest B, while the final
    training loss at the optimum is lower at the largest B than at the peak (margins vs seed spread)."""
    ordered = sorted(curves, key=lambda c: c["batch_size"])
    rows = []
    for c in ordered:
        opt = _optimum(c)
        loss, loss_std = train_loss_at_test_optimum(c, keep)
        rows.append(
            {
                "batch_size": c["batch_size"],
                "test_acc": opt["score"],
                "test_acc_std": opt["score_std"],
                "train_loss": loss,
                "train_loss_std": loss_std,
                "lr": opt["value"],
                "lr_band": [opt["band_lower"], opt["band_upper"]],
                "lr_at_edge": opt["at_edge"],
                "lowest_train_loss": _optimum(c, "train_loss")["score"],
                "lr_lowest_train_loss": _optimum(c, "train_loss")["value"],
            }
        )
    if len(rows) < 3:
        why = "needs at least 3 batch sizes"
        return [
            _claim_unavailable("table1/accuracy-peaks-then-falls", "test accuracy peaks at an intermediate B", why),
            _claim_unavailable("table1/train-loss-keeps-falling", "training loss lower at the largest B", why),
        ], rows
    peak = max(range(len(rows)), key=lambda i: rows[i]["test_acc"])
    last = rows[-1]
    drop = rows[peak]["test_acc"] - last["test_acc"]
    spread = math.hypot(rows[peak]["test_acc_std"], last["test_acc_std"])
    claims = [
        Claim(
            id="table1/accuracy-peaks-then-falls",
            statement="under a constant step budget the optimal test accuracy peaks at an intermediate batch size "
            "and is lower at the largest batch size by more than the combined seed spread",
            holds=0 < peak < len(rows) - 1 and drop > spread,
            value={
                "B_peak": rows[peak]["batch_size"],
                "peak_accuracy": rows[peak]["test_acc"],
                "largest_B": last["batch_size"],
                "accuracy_at_largest_B": last["test_acc"],
                "drop_points": 100 * drop,
                "spread_points": 100 * spread,
            },
            note=join_notes(
                f"accuracy peaks at the {'smallest' if peak == 0 else 'largest'} batch size {rows[peak]['batch_size']}"
                if peak in (0, len(rows) - 1)
                else "",
                f"the drop at the largest B, {100 * drop:.2f} points, is within the seed spread {100 * spread:.2f}"
                if 0 < peak < len(rows) - 1 and drop <= spread
                else "",
            ),
        )
    ]
    loss_margin = rows[peak]["train_loss"] - last["train_loss"]
    loss_spread = math.hypot(rows[peak]["train_loss_std"], last["train_loss_std"])
    losses = [r["train_loss"] for r in rows]
    monotone = all(b <= a for a, b in itertools.pairwise(losses))
    claims.append(
        Claim(
            id="table1/train-loss-keeps-falling",
            statement="the final training loss at the optimal learning rate is lower at the largest batch size than "
            "at the accuracy peak, by more than the combined seed spread",
            holds=bool(peak < len(rows) - 1 and loss_margin > loss_spread),
            value={
                "train_loss_at_peak": rows[peak]["train_loss"],
                "train_loss_at_largest_B": last["train_loss"],
                "margin": loss_margin,
                "spread": loss_spread,
                "monotone_in_B": monotone,
                "lowest_train_loss_per_B": {str(r["batch_size"]): r["lowest_train_loss"] for r in rows},
            },
            note=join_notes(
                "the accuracy peak is at the largest batch size: nothing to compare" if peak == len(rows) - 1 else "",
                f"training loss at the largest B is higher than at the peak by {-loss_margin:.4f}; the lowest "
                f"training loss over the grid at B = {last['batch_size']} is {last['lowest_train_loss']:.4f} "
                f"(at ε_eff = {last['lr_lowest_train_loss']:g}, vs the test optimum ε_eff = {last['lr']:g})"
                if peak < len(rows) - 1 and loss_margin <= 0
                else "",
                f"margin {loss_margin:.4f} within the seed spread {loss_spread:.4f}"
                if peak < len(rows) - 1 and 0 < loss_margin <= loss_spread
                else "",
            ),
        )
    )
    return claims, rows


def loss_jump_above(curve: Mapping[str, Any]) -> float | None:
    """Mean final training loss at the grid point just above the training-loss optimum over the loss at
    the optimum (inf when no run there finished; None when the optimum is the top of the grid): a
    large jump says the optimum is limited by stability (the curvature), not by the budget."""
    optimum = _optimum(curve, "train_loss")
    index = optimum["index"]
    if index + 1 >= len(curve["lr_grid"]):
        return None
    above = [v for v in curve["scores"]["train_loss"][index + 1] if v is not None]
    return math.inf if not above else float(np.mean(above)) / optimum["score"]


def unlimited_budget_claims(curves: Sequence[Mapping[str, Any]]) -> list[Claim]:
    """Fig. 2c–d per architecture: the test-accuracy optimum varies by ≤ 2× across budgets, the
    training-loss optimum falls (lower at the largest budget than at the smallest)."""
    claims = []
    for architecture in dict.fromkeys(c["architecture"] for c in curves):
        mine = sorted((c for c in curves if c["architecture"] == architecture), key=lambda c: c["epochs"])
        epochs = [c["epochs"] for c in mine]
        test_lr = [_optimum(c, "test_acc")["value"] for c in mine]
        loss_lr = [_optimum(c, "train_loss")["value"] for c in mine]
        edges = [
            c["epochs"] for c in mine if _optimum(c, "test_acc")["at_edge"] or _optimum(c, "train_loss")["at_edge"]
        ]
        note = f"an optimum at the edge of its grid for budgets {edges} (bounds, not peaks)" if edges else ""
        spread = max(test_lr) / min(test_lr)
        jumps = {c["epochs"]: loss_jump_above(c) for c in mine}
        steep = {e: j for e, j in jumps.items() if j is not None and j > 2.0}
        stability = (
            "the training loss one grid point above its optimum is more than 2× higher (budget: ratio) "
            + ", ".join(f"{e}: {j:.3g}" for e, j in steep.items())
            if steep
            else ""
        )
        claims.append(
            Claim(
                id=f"fig2/{architecture}/test-lr-stays",
                statement=f"[{ARCHITECTURE_LABELS[architecture]}] the ε_eff that maximises test accuracy varies by at "
                f"most {UNLIMITED_LR_FACTOR:g}× across the epoch budgets",
                holds=len(mine) >= 2 and spread <= UNLIMITED_LR_FACTOR,
                value={"epochs": epochs, "test_lr": test_lr, "max_over_min": spread},
                note=note,
            )
        )
        claims.append(
            Claim(
                id=f"fig2/{architecture}/loss-lr-falls",
                statement=f"[{ARCHITECTURE_LABELS[architecture]}] the ε_eff that minimises the final training loss is "
                "lower at the largest epoch budget than at the smallest (and never rises from one budget to the next)",
                holds=len(mine) >= 2
                and loss_lr[-1] < loss_lr[0]
                and all(b <= a for a, b in itertools.pairwise(loss_lr)),
                value={"epochs": epochs, "train_loss_lr": loss_lr, "first_over_last": loss_lr[0] / loss_lr[-1]},
                note=join_notes(note, stability),
            )
        )
    return claims


def pair_optimum(pairs: Sequence[tuple[float, float]], scores: np.ndarray, keep: int, maximize: bool) -> dict[str, Any]:
    """The tuning protocol on a 2-D grid of (ε_0, ε_f) pairs (§7.1): best ``keep`` runs per pair, mean
    ± std (ddof=1), the best pair, and the band of pairs whose mean is within one std of it (its
    ε_0 and ε_f ranges are the error bars); a best ε_0 or ε_f at the edge of its axis is flagged."""
    arr = np.asarray(scores, dtype=float)
    oriented = arr if maximize else -arr
    filled = np.where(np.isfinite(oriented), oriented, np.nanmin(oriented))
    ranking = np.where(np.isfinite(oriented), oriented, -np.inf)
    best = np.take_along_axis(filled, np.argsort(-ranking, axis=1, kind="stable")[:, :keep], axis=1)
    means = best.mean(axis=1)
    stds = best.std(axis=1, ddof=1) if keep > 1 else np.zeros_like(means)
    index = int(np.argmax(means))
    band = [pairs[i] for i in np.flatnonzero(means >= means[index] - stds[index])]
    initials, finals = sorted({p[0] for p in pairs}), sorted({p[1] for p in pairs})
    initial, final = pairs[index]
    sign = 1.0 if maximize else -1.0
    return {
        "initial": initial,
        "final": final,
        "score": sign * float(means[index]),
        "score_std": float(stds[index]),
        "initial_band": [min(p[0] for p in band), max(p[0] for p in band)],
        "final_band": [min(p[1] for p in band), max(p[1] for p in band)],
        "initial_at_edge": initial in (initials[0], initials[-1]),
        "final_at_edge": final in (finals[0], finals[-1]),
        "means": nullable(sign * means),
    }


def initial_final_claims(budgets: Sequence[Mapping[str, Any]]) -> list[Claim]:
    """Fig. 3c: the optimal ε_0 for test accuracy does not fall from the smallest to the largest
    budget (nor between consecutive budgets), while the optimal ε_f does fall."""
    ordered = sorted(budgets, key=lambda b: b["epochs"])
    epochs = [b["epochs"] for b in ordered]
    initial = [b["test_acc"]["initial"] for b in ordered]
    final = [b["test_acc"]["final"] for b in ordered]
    edges = [b["epochs"] for b in ordered if b["test_acc"]["initial_at_edge"] or b["test_acc"]["final_at_edge"]]
    note = f"the best ε_0 or ε_f at the edge of its axis for budgets {edges} (bounds)" if edges else ""
    enough = len(ordered) >= 2
    return [
        Claim(
            id="fig3/initial-lr-does-not-fall",
            statement="the ε_0 that maximises test accuracy does not fall as the epoch budget grows "
            "(never lower than at the previous budget)",
            holds=enough and all(b >= a for a, b in itertools.pairwise(initial)),
            value={
                "epochs": epochs,
                "initial_lr": initial,
                "initial_band": [b["test_acc"]["initial_band"] for b in ordered],
            },
            note=note,
        ),
        Claim(
            id="fig3/final-lr-falls",
            statement="the ε_f that maximises test accuracy is lower at the largest epoch budget than at the smallest",
            holds=enough and final[-1] < final[0],
            value={"epochs": epochs, "final_lr": final, "final_band": [b["test_acc"]["final_band"] for b in ordered]},
            note=note,
        ),
    ]


# --------------------------------------------------------------------------------------------------
# The four experiments
# --------------------------------------------------------------------------------------------------


def _settings(spec: SEDSpec) -> dict[str, Any]:
    return spec_to_dict(spec) | {
        "schedule": "StepDecay: ε for the first half of the budget, then ÷γ every 1/20 (γ = 2; Fig. 3: "
        "γ = (ε_0/ε_f)^(1/10))",
        "swept": "effective learning rate ε_eff = ε/(1−m) on a 2^k grid; engine lr = ε_eff·(1−m)",
        "protocol": f"{spec.runs} runs per point, best {spec.keep} kept, mean ± std, band = every ε within one "
        "std of the best mean (tuned on the test set, as in the paper)",
        "store_namespace": STORE_NAMESPACE,
    }


class _SED(Experiment):
    paper = "Smith, Elsen & De, ICML 2020"

    def _curves(self, spec: SEDSpec, ctx: RunContext, keys: Sequence[CurveKey]) -> list[dict[str, Any]]:
        tuned = tune(spec, ctx, keys)
        return [curve_record(key, tuned) for key in keys]


class EpochBudget(_SED):
    name = "sed-epoch-budget"
    title = "Fig. 1 — two regimes of SGD under a constant epoch budget (Smith, Elsen & De 2020)"

    def run(self, spec: SEDSpec, ctx: RunContext) -> ExperimentResult:
        architecture, budget = spec.architectures[0], spec.epoch_budgets[0]
        keys = [(architecture, m, b, budget) for m in spec.momenta for b in spec.batch_sizes]
        curves = self._curves(spec, ctx, keys)
        sgd = [c for c in curves if c["momentum"] == min(spec.momenta)]
        mom = [c for c in curves if c["momentum"] == max(spec.momenta)]
        regime = regime_fit(sgd, spec.keep, spec.n_bootstrap, ctx.seed) if len(sgd) >= 3 else None
        init = measure_at_init(spec, ctx, architecture) if spec.measure_init else None
        for c in curves:
            c["train_loss_at_optimum"] = train_loss_at_test_optimum(c, spec.keep)
        data = {"curves": curves, "regime": regime, "init": init, "momenta": list(spec.momenta)}
        return ExperimentResult(epoch_budget_claims(sgd, mom, regime, init), data, _settings(spec))

    def plot(self, data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
        from sgdnoise import plots

        return [plots.sed_epoch_budget_figure(data, fig_dir)]


class StepBudget(_SED):
    name = "sed-step-budget"
    title = "Table 1 — constant step budget: test accuracy vs training loss (Smith, Elsen & De 2020)"

    def run(self, spec: SEDSpec, ctx: RunContext) -> ExperimentResult:
        if spec.steps is None:
            raise ValueError("sed-step-budget needs steps (the constant step budget)")
        architecture = spec.architectures[0]
        keys = [(architecture, spec.momenta[0], b, spec.epoch_budgets[0]) for b in spec.batch_sizes]
        curves = self._curves(spec, ctx, keys)
        claims, rows = step_budget_claims(curves, spec.keep)
        return ExperimentResult(claims, {"curves": curves, "table": rows, "steps": spec.steps}, _settings(spec))

    def plot(self, data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
        from sgdnoise import plots

        return [plots.sed_step_budget_table(data, fig_dir)]


class UnlimitedBudget(_SED):
    name = "sed-unlimited-budget"
    title = "Fig. 2 — optimal learning rates as the epoch budget grows (Smith, Elsen & De 2020)"

    def run(self, spec: SEDSpec, ctx: RunContext) -> ExperimentResult:
        batch, momentum = spec.batch_sizes[0], spec.momenta[0]
        keys = [(a, momentum, batch, e) for a in spec.architectures for e in spec.epoch_budgets]
        curves = self._curves(spec, ctx, keys)
        data = {
            "curves": curves,
            "batch_size": batch,
            "labels": {a: ARCHITECTURE_LABELS[a] for a in spec.architectures},
        }
        return ExperimentResult(unlimited_budget_claims(curves), data, _settings(spec))

    def plot(self, data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
        from sgdnoise import plots

        return [plots.sed_unlimited_budget_figure(data, fig_dir)]


class InitialFinalLR(_SED):
    name = "sed-initial-final-lr"
    title = "Fig. 3 — independently tuned initial and final learning rates (Smith, Elsen & De 2020)"

    def run(self, spec: SEDSpec, ctx: RunContext) -> ExperimentResult:
        if not spec.final_lr_exponents:
            raise ValueError("sed-initial-final-lr needs final_lr_exponents (the ε_f grid)")
        architecture, batch, momentum = spec.architectures[0], spec.batch_sizes[0], spec.momenta[0]
        finals = [2.0**k for k in spec.final_lr_exponents]
        pairs = [(e0, ef) for e0 in spec.lr_grid() for ef in finals if ef < e0]
        if len(pairs) < 2:
            raise ValueError("the (ε_0, ε_f) grid has fewer than 2 pairs with ε_f < ε_0")
        keys = [(architecture, momentum, batch, e) for e in spec.epoch_budgets]
        swept = sweep_points(spec, ctx, [(key, e0, ef) for key in keys for e0, ef in pairs])
        budgets = []
        for key in keys:
            record: dict[str, Any] = {"epochs": key[3], "pairs": [list(p) for p in pairs]}
            for name, maximize in OBJECTIVES.items():
                arr = np.array([[_finished_value(r, name) for r in swept[(key, e0, ef)]] for e0, ef in pairs])
                record[name] = pair_optimum(pairs, arr, spec.keep, maximize)
            budgets.append(record)
        data = {"budgets": budgets, "batch_size": batch, "initial_grid": list(spec.lr_grid()), "final_grid": finals}
        return ExperimentResult(initial_final_claims(budgets), data, _settings(spec))

    def plot(self, data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
        from sgdnoise import plots

        return [plots.sed_initial_final_figure(data, fig_dir)]


_QUICK = {"architectures": ("bn-mlp",), "runs": 4, "keep": 3}
_PAPER = {
    "architectures": ("wrn-16-4",),
    "runs": 15,
    "keep": 12,
    "dataset": "cifar10",
    "n_train": None,
    "l2": 5e-4,
    "augmentation": "crop-flip",
}
QUICK_B = tuple(2**k for k in range(4, 13))  # 16 .. 4096
SPECS: dict[str, dict[str, SEDSpec]] = {
    "sed-epoch-budget": {
        "quick": SEDSpec(
            **_QUICK,
            batch_sizes=QUICK_B,
            momenta=(0.0, 0.9),
            epoch_budgets=(10,),
            lr_exponents=(-4, 2),
            measure_init=True,
            extend_grid=True,
        ),
        "paper": SEDSpec(
            **_PAPER,
            batch_sizes=tuple(2**k for k in range(4, 15)),
            momenta=(0.0, 0.9),
            epoch_budgets=(200,),
            lr_exponents=(-6, 5),
            measure_init=True,
        ),
    },
    "sed-step-budget": {
        "quick": SEDSpec(
            **_QUICK,
            batch_sizes=tuple(2**k for k in range(5, 13)),
            momenta=(0.9,),
            epoch_budgets=(1,),
            steps=160,
            lr_exponents=(-3, 2),
            extend_grid=True,
        ),
        "paper": SEDSpec(
            **_PAPER,
            batch_sizes=tuple(2**k for k in range(8, 16)),
            momenta=(0.9,),
            epoch_budgets=(1,),
            steps=9765,
            lr_exponents=(-1, 6),
        ),
    },
    "sed-unlimited-budget": {
        "quick": SEDSpec(
            runs=4,
            keep=3,
            architectures=("bn-mlp", "mlp"),
            batch_sizes=(64,),
            momenta=(0.9,),
            epoch_budgets=(2, 4, 8, 16, 32),
            lr_exponents=(-5, 1),
            extend_grid=True,
        ),
        "paper": SEDSpec(
            **(_PAPER | {"architectures": ("wrn-16-4", "wrn-16-4-skipinit")}),
            batch_sizes=(64,),
            momenta=(0.9,),
            epoch_budgets=tuple(50 * 2**k for k in range(8)),
            lr_exponents=(-5, 3),
        ),
    },
    "sed-initial-final-lr": {
        "quick": SEDSpec(
            **_QUICK,
            batch_sizes=(64,),
            momenta=(0.9,),
            epoch_budgets=(2, 8, 32),
            lr_exponents=(-3, 0),
            final_lr_exponents=(-10, -8, -6, -4),
        ),
        "paper": SEDSpec(
            **(_PAPER | {"runs": 7, "keep": 5}),
            batch_sizes=(64,),
            momenta=(0.9,),
            epoch_budgets=tuple(50 * 2**k for k in range(8)),
            lr_exponents=(-3, 3),
            final_lr_exponents=(-12, -10, -8, -6, -4, -2, 0),
        ),
    },
}

EXPERIMENTS: tuple[_SED, ...] = (
    EpochBudget(SPECS["sed-epoch-budget"]),
    StepBudget(SPECS["sed-step-budget"]),
    UnlimitedBudget(SPECS["sed-unlimited-budget"]),
    InitialFinalLR(SPECS["sed-initial-final-lr"]),
)
