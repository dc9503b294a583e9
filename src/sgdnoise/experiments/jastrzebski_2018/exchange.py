"""Jastrzębski et al. 2018 §4.2, App. F.2 and F.4 (Fig. 4, Fig. 13, Fig. 16, Table 1): exchanging batch size
for learning rate in a cyclic schedule.

``jastrzebski-exchange`` trains six schedules, each for ``epochs`` epochs and ``seeds`` seeds:

- ``discrete-S``: η = η_max fixed, S switching S_min → f·S_min every half cycle (cyclic batch size, CBS);
- ``discrete-η``: S = S_min fixed, η switching η_max → η_max/f every half cycle (cyclic learning rate, CLR).
  At every moment η/S equals that of ``discrete-S``: both start the cycle at η_max/S_min and spend its
  second half at η_max/(f·S_min);
- ``triangle-η``: S_min, η interpolated linearly η_max/f → η_max → η_max/f over each cycle (Smith 2015's
  triangular CLR; the same mean η/S over a cycle, and every cycle ends at the low value);
- ``constant-low`` (η_max/f, S_min) and ``constant-low-large`` (η_max, f·S_min): the two constant pairs of
  Fig. 4 (right), at the cycles' lowest η/S, which is also where every cyclic run ends;
- ``constant-high`` (η_max, S_min): the cycles' highest η/S (Fig. 16's other constant run).

The paper's set-up is VGG-11 on CIFAR-10 with S 128↔640 and η 0.001↔0.005 (f = 5), cycle length 15 epochs
(Fig. 16), six repetitions (Table 1). The epochs are not given: 150 (ten cycles) is our choice; the paper
does not say whether momentum was used (``momentum`` = 0 here). Quick scale: the 4-layer batch-norm ReLU MLP
of §4.1 on 2000 Fashion-MNIST images pooled to 14×14, η 0.02↔0.1, S 25↔125 (f = 5), 60 epochs in cycles of
10, 6 seeds (Table 1 repeats six times). Budgets are in epochs, and a schedule is a function of the
fraction of examples processed, so a half cycle of either schedule is the same number of epochs (a switch
takes effect at the first update after it; at quick scale every switch falls on a step boundary, since
N·cycle/2 is a multiple of f·S_min).

What is measured, during training (``engine.Probe``): every ``curve_every_epochs`` the loss and accuracy of
every split with batch-norm statistics re-estimated on training data (``measurements.BNRecalibratedAccuracy``
— the running averages lag behind a batch size that changes fivefold), and every half cycle ‖H‖_F of the
training loss by finite differences (``measurements.HessianNorm``, the step of ``jastrzebski-sharpness``).
Endpoints are the last of those measurements (the end of the budget).

Claims, with thresholds fixed before any run (n seeds, σ the seeds' std, SE of a difference of two means
√(σ_X²/n + σ_Y²/n)):

1. endpoints of equal η/S are equivalent: two one-sided tests (``analysis.effects.equivalence``, α = 0.05,
   at least 3 seeds a schedule) on test acc(discrete-S) − test acc(discrete-η) with the margin
   ``ENDPOINT_MARGIN`` = 1 point — the paper: 89.39 % vs 89.24 %; the same for the constant pairs (87.25 % vs
   86.92 %). The margin is fixed from the paper, before any run: three times the larger gap it calls
   "similar" (0.33 points) and under half the gain it reports for cyclic over constant schedules (Table 1:
   ≈ 2.3 points). Fewer seeds widen the interval, so they can only make the claim less likely to hold;
2. training curves track: the RMS over epochs of the difference of the two cyclic runs' seed-mean training
   (and test) accuracy is below ``CURVE_MARGIN`` = 1 point (the endpoint margin). Seed noise inflates that
   RMS, so fewer seeds can only make the claim less likely to hold; with fewer than 3 seeds a schedule it is
   inconclusive. Only epochs after the first switch count: until then both runs are the same run (η_max,
   S_min, the same seed);
3. another η/S differs clearly more: each cyclic run's endpoint test accuracy differs from
   ``constant-low``'s (the same final η/S) by more than ``CLEARLY_MORE`` = 2 × the cyclic pair's difference, each
   difference with its own Welch 95% interval (at least 3 seeds a schedule): holds when the smallest size each
   cyclic − constant-low interval allows exceeds 2 × the largest the pair's allows, fails when the largest it
   allows is below 2 × the smallest the pair's allows, else (and with no seed spread) inconclusive;
4. Table 1 and Fig. 16: see ``exchange_table1``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import matplotlib.pyplot as plt
import numpy as np

from sgdnoise import plots
from sgdnoise.analysis.effects import MIN_SEEDS, equivalence
from sgdnoise.engine import Constant, Cyclic, Probe, Schedule, TrainConfig
from sgdnoise.experiments.base import Experiment, Figure, RunContext
from sgdnoise.experiments.claims import JASTRZEBSKI_2018, ClaimSpec, ClaimTest, NotEnoughData, Verdict
from sgdnoise.experiments.jastrzebski_2018 import exchange_table1
from sgdnoise.experiments.jastrzebski_2018.exchange_table1 import CONSTANT, CYCLIC, band_over_seeds
from sgdnoise.experiments.jastrzebski_2018.seed_statistics import (
    curve_distance,
    endpoints_by_schedule,
    finished_seeds,
    mean_or_nan,
    percent,
    table1,
    welch_sizes,
)
from sgdnoise.experiments.jastrzebski_2018.setup import CIFAR10_FULL, SharedSetup, spec_model, spec_task
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.measurements import BNRecalibratedAccuracy, HessianNorm
from sgdnoise.sweep import Sweep, SweepRun

ENDPOINT_MARGIN = 0.01  # equivalence margin for endpoints of equal η/S: 1 point of test accuracy (docstring)
CURVE_MARGIN = 0.01  # curves track when the RMS difference of their seed means is below 1 point
CLEARLY_MORE = 2.0  # "clearly more": twice the cyclic pair's difference, both weighed by their Welch intervals
CONFIDENCE = 0.95  # the two-sided Welch intervals of claim 3 (α = 0.05)
SCHEDULES = CYCLIC + CONSTANT
TABLE1_SCHEDULES = (*CYCLIC, "constant-high")  # Table 1's rows: three cyclic schedules and the constant baseline
TUNING_SEED_OFFSET = 1000  # Table 1's tuning runs use seeds apart from the repetitions'
CURVE = "curve"  # measurement names (probe columns are "{name}.{quantity}")
HESSIAN = "hessian_norm"


@dataclass(frozen=True)
class ExchangeSpec(SharedSetup):
    """The cycle (η_max = ``max_lr``, S_min = ``min_batch``, ratio ``factor``, ``cycle_epochs``), the budget,
    seeds, task, model and the two probes. ``epochs`` must be a whole number of cycles, so every run ends
    after a low-η/S half."""

    max_lr: float
    min_batch: int
    factor: int = 5
    epochs: float = 60.0
    cycle_epochs: float = 10.0
    momentum: float = 0.0
    curve_every_epochs: float = 1.0
    curve_examples: int = 5000
    hessian_examples: int = 500
    hessian_samples: int = 10
    bn_batch: int = 128
    table1_max_lrs: tuple[float, ...] = ()
    table1_cycle_epochs: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.seeds < 2:
            raise ValueError("need seeds >= 2 (the claims compare differences with the seed spread)")
        if self.max_lr <= 0 or self.min_batch < 1 or self.factor < 2:
            raise ValueError("need max_lr > 0, min_batch >= 1 and factor >= 2")
        if self.cycle_epochs <= 0 or self.epochs <= 0:
            raise ValueError("need epochs > 0 and cycle_epochs > 0")
        cycles = self.epochs / self.cycle_epochs
        if abs(cycles - round(cycles)) > 1e-9 or round(cycles) < 1:
            raise ValueError(f"epochs ({self.epochs:g}) must be a whole number of cycles ({self.cycle_epochs:g})")
        if self.curve_every_epochs <= 0 or self.curve_examples < 1 or self.hessian_examples < 1:
            raise ValueError("need curve_every_epochs > 0, curve_examples >= 1 and hessian_examples >= 1")
        points = self.epochs / self.curve_every_epochs
        if abs(points - round(points)) > 1e-9:  # the last curve point is the endpoint
            raise ValueError(
                f"epochs ({self.epochs:g}) must be a multiple of curve_every_epochs ({self.curve_every_epochs:g})"
            )
        if self.hessian_samples < 2 or self.bn_batch < 2:
            raise ValueError("need hessian_samples >= 2 and bn_batch >= 2")
        if bool(self.table1_max_lrs) != bool(self.table1_cycle_epochs):
            raise ValueError("table1_max_lrs and table1_cycle_epochs are tuned together: give both or neither")
        if any(lr <= 0 for lr in self.table1_max_lrs):
            raise ValueError("table1_max_lrs must be > 0")
        for cycle in self.table1_cycle_epochs:
            if cycle <= 0 or abs(self.epochs / cycle - round(self.epochs / cycle)) > 1e-9:
                raise ValueError(f"epochs ({self.epochs:g}) must be a whole number of each table1 cycle ({cycle:g})")
        super().__post_init__()

    def with_cycle(self, max_lr: float, cycle_epochs: float) -> ExchangeSpec:
        """This spec with another η_max and cycle length (Table 1's tuning grid)."""
        return dataclasses.replace(
            self, max_lr=max_lr, cycle_epochs=cycle_epochs, table1_max_lrs=(), table1_cycle_epochs=()
        )

    def table1_grid(self) -> dict[str, list[tuple[float, float]]]:
        """Table 1's tuning grid per schedule, (η_max, cycle length); a constant has no cycle to tune."""
        pairs = [(lr, cycle) for lr in self.table1_max_lrs for cycle in self.table1_cycle_epochs]
        constant = [(lr, self.table1_cycle_epochs[0]) for lr in self.table1_max_lrs]
        return {label: constant if label in CONSTANT else pairs for label in TABLE1_SCHEDULES}

    def schedules(self) -> dict[str, tuple[Schedule, Schedule]]:
        """name → (learning-rate schedule, batch-size schedule), functions of training progress."""
        period = self.cycle_epochs / self.epochs
        low_lr, high_batch = self.max_lr / self.factor, self.min_batch * self.factor

        def cyclic(low: float, high: float, shape: str, start: str) -> Cyclic:
            return Cyclic(low, high, period, shape=shape, start=start)  # type: ignore[arg-type]

        return {
            "discrete-S": (Constant(self.max_lr), cyclic(self.min_batch, high_batch, "discrete", "low")),
            "discrete-η": (cyclic(low_lr, self.max_lr, "discrete", "high"), Constant(self.min_batch)),
            "triangle-η": (cyclic(low_lr, self.max_lr, "triangle", "low"), Constant(self.min_batch)),
            "constant-low": (Constant(low_lr), Constant(self.min_batch)),
            "constant-low-large": (Constant(self.max_lr), Constant(high_batch)),
            "constant-high": (Constant(self.max_lr), Constant(self.min_batch)),
        }

    def probes(self) -> tuple[Probe, Probe]:
        curve = BNRecalibratedAccuracy(name=CURVE, max_examples=self.curve_examples, batch_size=self.bn_batch)
        hessian = HessianNorm(name=HESSIAN, max_examples=self.hessian_examples, n_samples=self.hessian_samples)
        return (
            Probe(curve, every_epochs=self.curve_every_epochs),
            Probe(hessian, every_epochs=self.cycle_epochs / 2),
        )


class SeedRun(TypedDict):
    """One seed of one schedule: the probed curves (``epoch`` and one column per quantity of
    ``BNRecalibratedAccuracy``), ‖H‖_F every half cycle, and the endpoint (the last of each)."""

    seed: int
    status: str
    curve: NotRequired[dict[str, list[Any]]]
    hessian: NotRequired[dict[str, list[Any]]]
    endpoint: NotRequired[dict[str, float | None]]


class ScheduleData(TypedDict):
    learning_rate: dict[str, Any]  # the schedules as the engine writes them (Schedule.to_dict)
    batch_size: dict[str, Any]
    noise_low: float
    noise_high: float
    seeds: list[SeedRun]


class TuningPoint(TypedDict):
    max_lr: float
    cycle_epochs: float
    validation_acc: float | None


class Table1Tuning(TypedDict):
    """One schedule's Table 1 tuning: the validation accuracy at each grid point and the chosen point."""

    grid: list[TuningPoint]
    chosen: TuningPoint | None


class ExchangeData(TypedDict):
    """The numbers behind Fig. 4, 13, 16 (``schedules``) and Table 1 (``table1_schedules``: the Fig. 4 runs, or
    at paper scale each schedule repeated at its tuned η_max and cycle length, ``table1_tuning``; ``table1``:
    its columns per schedule)."""

    schedules: dict[str, ScheduleData]
    table1_schedules: dict[str, ScheduleData]
    table1_tuning: dict[str, Table1Tuning]
    table1: dict[str, dict[str, Any]]
    epochs: float
    cycle_epochs: float
    seeds: list[int]


def settings(spec: ExchangeSpec) -> dict[str, Any]:
    """The spec and the finite-difference step of the ‖H‖_F probe."""
    return spec_to_dict(spec) | {
        "hessian_fd_step": "instrument default: h = cbrt(float32 eps) ≈ 4.9e-3 per unit-rms probe coordinate",
    }


def _noise_range(lr: Schedule, batch: Schedule, cycle: float) -> tuple[float, float]:
    """Lowest and highest η/S over one cycle (sampled finely; the schedules are piecewise linear)."""
    grid = np.linspace(0.0, min(cycle, 1.0), 2001)
    ratios = [lr(float(p)) / max(1, round(batch(float(p)))) for p in grid]
    return float(min(ratios)), float(max(ratios))


def _probe_columns(probes: Mapping[str, Sequence[Any]], name: str) -> dict[str, list[Any]]:
    """The rows of one probe (where its columns are not None): ``epoch`` plus its quantities."""
    prefix = f"{name}."
    quantities = [key for key in probes if key.startswith(prefix)]
    if not quantities:
        return {"epoch": []}
    first = probes[quantities[0]]
    rows = [i for i, value in enumerate(first) if value is not None]
    out = {"epoch": [float(probes["epoch"][i]) for i in rows]}
    for key in quantities:
        out[key[len(prefix) :]] = [probes[key][i] for i in rows]
    return out


def _seed_row(seed: int, result: Any) -> SeedRun:
    """One run's probed curve and ‖H‖_F, and its endpoint (the last of each)."""
    row: SeedRun = {"seed": seed, "status": result.status}
    if result.status == "finished":
        curve = _probe_columns(result.probes, CURVE)
        hessian = _probe_columns(result.probes, HESSIAN)
        row |= {
            "curve": curve,
            "hessian": {"epoch": hessian["epoch"], "value": hessian.get("value", [])},
            "endpoint": {key: values[-1] for key, values in curve.items() if key != "epoch" and values}
            | {"hessian_norm": hessian["value"][-1] if hessian.get("value") else None},
        }
    return row


def _schedule_data(spec: ExchangeSpec, label: str, rows: list[SeedRun]) -> ScheduleData:
    lr, batch = spec.schedules()[label]
    low, high = _noise_range(lr, batch, spec.cycle_epochs / spec.epochs)
    return {"learning_rate": lr.to_dict(), "batch_size": batch.to_dict(), "noise_low": low, "noise_high": high,
            "seeds": rows}  # fmt: skip


def _train(
    plan: Sequence[tuple[str, ExchangeSpec, int]], probes: Sequence[Probe], name: str, factory: Any, ctx: RunContext
) -> list[Any]:
    """Train (schedule label, spec, seed) runs of the spec's model on the task, with ``probes``."""
    runs = []
    for label, variant, seed in plan:
        lr, batch = variant.schedules()[label]
        config = TrainConfig(
            spec_model(variant), lr, batch, epochs=variant.epochs, momentum=variant.momentum, seed=seed, eval_points=0
        )
        runs.append(SweepRun(config, task=name))
    return ctx.sweep(Sweep("jastrzebski-exchange", {name: factory}, runs, probes=tuple(probes)))


def _tune_table1(spec: ExchangeSpec, name: str, factory: Any, ctx: RunContext) -> dict[str, Table1Tuning]:
    """App. F.4: "For each schedule we optimize η in [1e-3, 5e-2] and cycle length in {5, 10, 15} on a validation
    set" — one run per grid point (seed ``ctx.seed + TUNING_SEED_OFFSET``), the validation accuracy at its end
    (batch-norm statistics re-estimated); the best point of each schedule (ties: the first)."""
    grid = spec.table1_grid()
    plan = [
        (label, spec.with_cycle(lr, cycle), ctx.seed + TUNING_SEED_OFFSET)
        for label in grid
        for lr, cycle in grid[label]
    ]
    end = BNRecalibratedAccuracy(name=CURVE, max_examples=spec.curve_examples, batch_size=spec.bn_batch)
    results = iter(_train(plan, (Probe(end, every_epochs=spec.epochs),), name, factory, ctx))
    tuned: dict[str, Table1Tuning] = {}
    for label, points in grid.items():
        rows = []
        for lr, cycle in points:
            row = _seed_row(0, next(results))
            value = row.get("endpoint", {}).get("validation_acc")
            rows.append({"max_lr": lr, "cycle_epochs": cycle, "validation_acc": value})
        finite = [r for r in rows if r["validation_acc"] is not None and math.isfinite(r["validation_acc"])]
        tuned[label] = {"grid": rows, "chosen": max(finite, key=lambda r: r["validation_acc"]) if finite else None}
    return tuned


def run(spec: ExchangeSpec, ctx: RunContext) -> ExchangeData:
    """Train every schedule × seed with both probes (Fig. 4, 13, 16); return per schedule its per-seed curves
    and endpoints, and Table 1's rows (``table1``). With a Table 1 grid (``table1_max_lrs`` ×
    ``table1_cycle_epochs``, the paper scale) Table 1's schedules are tuned first and repeated ``seeds`` times at
    their best point; without one, Table 1 reads the Fig. 4 runs."""
    name, factory = spec_task(spec)
    seeds = [ctx.seed + i for i in range(spec.seeds)]
    plan = [(label, spec, seed) for label in SCHEDULES for seed in seeds]
    swept = _train(plan, spec.probes(), name, factory, ctx)
    rows: dict[str, list[SeedRun]] = {label: [] for label in SCHEDULES}
    for (label, _, seed), result in zip(plan, swept, strict=True):
        rows[label].append(_seed_row(seed, result))
    out = {label: _schedule_data(spec, label, rows[label]) for label in SCHEDULES}
    tuning = _tune_table1(spec, name, factory, ctx) if spec.table1_max_lrs else {}
    table1_schedules = {label: out[label] for label in SCHEDULES}
    for label, tuned in tuning.items():
        chosen = tuned["chosen"]
        if chosen is None:  # every tuning run failed: Table 1 has no row for this schedule
            table1_schedules[label] = _schedule_data(spec, label, [])
            continue
        variant = spec.with_cycle(chosen["max_lr"], chosen["cycle_epochs"])
        repeated = _train([(label, variant, seed) for seed in seeds], variant.probes(), name, factory, ctx)
        table1_schedules[label] = _schedule_data(
            variant, label, [_seed_row(seed, result) for seed, result in zip(seeds, repeated, strict=True)]
        )
    if tuning:
        table1_schedules = {label: table1_schedules[label] for label in TABLE1_SCHEDULES}
    return {
        "schedules": out,
        "table1_schedules": table1_schedules,
        "table1_tuning": tuning,
        "table1": table1(table1_schedules, spec.cycle_epochs),
        "epochs": spec.epochs,
        "cycle_epochs": spec.cycle_epochs,
        "seeds": seeds,
    }


# ---- claims -------------------------------------------------------------------------------------------------


def _test_acc(data: ExchangeData) -> dict[str, np.ndarray]:
    return endpoints_by_schedule(data["schedules"], "test_acc")


def endpoints_match(x: str, y: str) -> Callable[[ExchangeData], Verdict]:
    """Schedules ``x`` and ``y`` end at equivalent test accuracies: TOST within ±ENDPOINT_MARGIN."""

    def check(data: ExchangeData) -> Verdict:
        test = _test_acc(data)
        result = equivalence(test[x], test[y], margin=ENDPOINT_MARGIN)
        return Verdict(
            result.outcome,
            result.to_dict() | {x: mean_or_nan(test[x]), y: mean_or_nan(test[y])},
            f"{percent(mean_or_nan(test[x]))} vs {percent(mean_or_nan(test[y]))}: {result.describe()}; {result.reason}",
        )

    return check


def check_curves_track(data: ExchangeData) -> Verdict:
    schedules, after = data["schedules"], data["cycle_epochs"] / 2
    distances = {
        quantity: curve_distance(schedules["discrete-S"], schedules["discrete-η"], quantity, after=after)
        for quantity in ("train_acc", "test_acc")
    }
    seeds = min(len(finished_seeds(schedules[label])) for label in ("discrete-S", "discrete-η"))
    reason = "; ".join(
        f"{q}: RMS Δ {100 * d['rms_difference']:.2f} points (RMS SE {100 * d['rms_se']:.2f}) over {d['epochs']} epochs"
        for q, d in distances.items()
    )
    if seeds < MIN_SEEDS:
        return Verdict.inconclusive(f"{seeds} seeds, fewer than {MIN_SEEDS}; {reason}", distances)
    return Verdict.of(all(d["rms_difference"] < CURVE_MARGIN for d in distances.values()), distances, reason)


def check_other_noise(data: ExchangeData) -> Verdict:
    schedules, test = data["schedules"], _test_acc(data)
    seeds = {c: int(np.isfinite(test[c]).sum()) for c in ("discrete-S", "discrete-η", "constant-low")}
    if min(seeds.values()) < MIN_SEEDS:
        raise NotEnoughData(f"finished seeds {seeds}: each schedule needs {MIN_SEEDS}")
    flat = [c for c in seeds if np.ptp(test[c][np.isfinite(test[c])]) == 0]
    if len(flat) >= 2:  # the difference of two schedules without spread has a point interval
        raise NotEnoughData(f"no seed spread in {', '.join(flat)}: the noise of their difference is not measured")
    pairs = {"cyclic_pair": ("discrete-S", "discrete-η"), "discrete-S": ("discrete-S", "constant-low")}
    pairs["discrete-η"] = ("discrete-η", "constant-low")
    value: dict[str, Any] = {name: welch_sizes(test[a], test[b], CONFIDENCE) for name, (a, b) in pairs.items()}
    pair, against = value["cyclic_pair"], {c: value[c] for c in ("discrete-S", "discrete-η")}
    holds = all(d["smallest"] > CLEARLY_MORE * pair["largest"] for d in against.values())
    fails = any(d["largest"] < CLEARLY_MORE * pair["smallest"] for d in against.values())
    value |= {"bar": CLEARLY_MORE * pair["largest"], "seeds": seeds}
    value["test_curve_distance_vs_discrete_S"] = curve_distance(
        schedules["discrete-S"], schedules["constant-low"], "test_acc", after=data["cycle_epochs"] / 2
    )
    intervals = [f"{c} ∈ [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}]" for c, d in value.items() if c in pairs]
    return Verdict(
        "holds" if holds else "fails" if fails else "inconclusive",
        value,
        f"Welch {100 * CONFIDENCE:g}% intervals (points; discrete-S/η − constant-low): {', '.join(intervals)}",
    )


ENDPOINT_TEST = ClaimTest(
    "mean test acc(X) − mean test acc(Y) at the endpoint: Welch's 90% interval (two one-sided tests at α = 0.05)",
    "holds if the interval lies inside ±ENDPOINT_MARGIN, fails if it lies outside, else inconclusive "
    "(and inconclusive below 3 seeds a schedule)",
    {"ENDPOINT_MARGIN": ENDPOINT_MARGIN},
)
CLAIMS = (
    ClaimSpec(
        id="fig4/cyclic-endpoints-match",
        statement="discrete-S and discrete-η (equal η/S at all times) end at equivalent test accuracies (within "
        "1 point, by two one-sided tests)",
        kind="paper",
        provenance=JASTRZEBSKI_2018.cite(
            "§4.2, Fig. 4 (left)",
            "the test accuracy when training with a cyclic batch size and cyclic learning rate is 89.39% and 89.24%, "
            "respectively, and we emphasize that these are similar scores",
            "89.39% vs 89.24%",
        ),
        test=ENDPOINT_TEST,
        check=endpoints_match("discrete-S", "discrete-η"),
    ),
    ClaimSpec(
        id="fig4/constant-endpoints-match",
        statement="constant-low and constant-low-large (equal η/S at all times) end at equivalent test accuracies "
        "(within 1 point, by two one-sided tests)",
        kind="paper",
        provenance=JASTRZEBSKI_2018.cite(
            "§4.2, Fig. 4 (right)",
            "the test accuracy is 87.25% and 86.92%, respectively, and we again emphasize that these two scores are "
            "similar to each other",
            "87.25% vs 86.92%",
        ),
        test=ENDPOINT_TEST,
        check=endpoints_match("constant-low", "constant-low-large"),
    ),
    ClaimSpec(
        id="fig4/cyclic-curves-track",
        statement="discrete-S and discrete-η training and test accuracy curves track each other after the first switch "
        "(RMS difference of the seed means below 1 point)",
        kind="paper",
        provenance=JASTRZEBSKI_2018.cite(
            "§4.2, Fig. 4; App. F.2, Fig. 13",
            "lines (cyclic schedules) have the same ratio of learning rate to batch-size as each other throughout, "
            "and that their dynamics are very similar to each other",
        ),
        test=ClaimTest(
            "RMS over the epochs after the first switch of the difference of the seed-mean curves",
            "RMS difference < CURVE_MARGIN for training and for test accuracy (inconclusive below 3 seeds)",
            {"CURVE_MARGIN": CURVE_MARGIN},
        ),
        check=check_curves_track,
    ),
    ClaimSpec(
        id="fig4/other-noise-differs-clearly",
        statement="each cyclic run's test accuracy differs from constant-low's (another η/S over training, the same "
        "at the end) by more than twice the cyclic pair's difference, each difference weighed by its Welch interval",
        kind="extension",
        provenance=JASTRZEBSKI_2018.cite(
            "§4.2 (a control this project adds)",
            "by changing noise levels cyclical schemes reach different endpoints than constant learning rate "
            "schemes with same final noise level",
        ),
        test=ClaimTest(
            "mean test acc(cyclic) − mean test acc(constant-low), for discrete-S and discrete-η, and the cyclic "
            "pair's mean test acc(discrete-S) − mean test acc(discrete-η), each with its Welch CONFIDENCE interval",
            "holds if, for both cyclic runs, the smallest |difference| its interval allows > CLEARLY_MORE × the "
            "largest |pair difference| the pair's interval allows; fails if, for one, the largest it allows < "
            "CLEARLY_MORE × the smallest the pair's allows; else inconclusive, and inconclusive below MIN_SEEDS "
            "finished seeds in a schedule or with two of the three schedules without seed spread",
            {"CLEARLY_MORE": CLEARLY_MORE, "CONFIDENCE": CONFIDENCE, "MIN_SEEDS": MIN_SEEDS},
        ),
        check=check_other_noise,
    ),
)


# ---- figures ------------------------------------------------------------------------------------------------


def draw_fig4(data: ExchangeData, fig_dir: Path) -> Path:
    """Fig. 4 / Fig. 13: accuracy (top) and training loss (bottom) over epochs for the cyclic pair
    (discrete-S vs discrete-η, left) and the constant pairs of equal η/S (right), mean over seeds, band = their
    range."""
    schedules = data["schedules"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for column, (blue, red, title) in enumerate(
        (
            ("discrete-S", "discrete-η", "cyclic: batch size (blue) vs learning rate (red)"),
            ("constant-low", "constant-low-large", "constant pairs of equal η/S"),
        )
    ):
        for label, colour in ((blue, "tab:blue"), (red, "tab:red")):
            for quantity, style in (("train_acc", "-"), ("test_acc", "--")):
                band_over_seeds(
                    axes[0][column], schedules[label], "curve", quantity, color=colour, linestyle=style,
                    label=f"{label} {quantity[:-4]}",
                )  # fmt: skip
            band_over_seeds(axes[1][column], schedules[label], "curve", "train_loss", color=colour, label=label)
        axes[0][column].set_title(title, fontsize=10)
        axes[0][column].set_ylabel("accuracy (solid: train, dashed: test)")
        axes[1][column].set_yscale("log")
        axes[1][column].set_ylabel("training loss")
        axes[1][column].set_xlabel("epoch")
        axes[0][column].legend(fontsize=7)
    fig.suptitle(
        "Jastrzębski et al. 2018 Fig. 4 / 13: batch size exchanged for learning rate (BN re-estimated; seed range)"
    )
    fig.tight_layout()
    return plots.save(fig, fig_dir / "fig4_exchange.png")


EXPERIMENT = Experiment(
    name="jastrzebski-exchange",
    description="Cyclic batch size vs cyclic lr at equal η/S, constant pairs, discrete vs triangle, ‖H‖_F "
    "(Fig. 4, Table 1).",
    title="Cyclic batch size vs cyclic learning rate at equal η/S; discrete vs triangle vs constant (Fig. 4, Table 1)",
    paper="Jastrzębski et al. 2018, §4.2 Fig. 4, App. F.2 Fig. 13, App. F.4 Table 1, Fig. 16",
    specs={
        "quick": ExchangeSpec(seeds=6, n_train=2000, validation=1000, n_test=5000, max_lr=0.1, min_batch=25, pool=2),
        # paper (§4.2, App. F.4): VGG-11 on CIFAR-10 (45k train / 5k validation), η 0.001↔0.005, S 128↔640,
        # cycle 15 epochs, 6 repetitions; Table 1 tunes η_max in [1e-3, 5e-2] and the cycle in {5, 10, 15} on
        # the validation set (the six grid values of η_max are our choice); 150 epochs is our choice (the paper
        # gives no budget)
        "paper": ExchangeSpec(
            **CIFAR10_FULL,
            seeds=6,
            max_lr=0.005,
            min_batch=128,
            epochs=150.0,
            cycle_epochs=15.0,
            model="vgg11",
            curve_examples=10_000,
            hessian_examples=1000,
            table1_max_lrs=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05),
            table1_cycle_epochs=(5.0, 10.0, 15.0),
        ),
    },
    tiny={
        "quick": {
            "dataset": "standin",
            "n_train": 50,
            "validation": 10,
            "n_test": 20,
            "min_batch": 5,
            "epochs": 4,
            "cycle_epochs": 2,
            "seeds": 2,
            "width": 16,
            "depth": 2,
            "curve_examples": 20,
            "hessian_examples": 10,
            "hessian_samples": 2,
            "bn_batch": 8,
        },
        "paper": {  # one update of VGG-11 (S = 2 on 10 examples) per run, Table 1 tuned over two η_max
            "dataset": "standin",
            "table1_max_lrs": "0.005,0.01",
            "table1_cycle_epochs": "0.2",
            "n_train": 10,
            "validation": 2,
            "n_test": 4,
            "min_batch": 2,
            "epochs": 0.2,
            "cycle_epochs": 0.2,
            "seeds": 2,
            "curve_every_epochs": 0.2,
            "curve_examples": 4,
            "hessian_examples": 2,
            "hessian_samples": 2,
            "bn_batch": 2,
        },
    },
    run=run,
    claims=CLAIMS + exchange_table1.CLAIMS,
    figures=(
        Figure("fig4", draw_fig4, ExchangeData),
        Figure("fig16", exchange_table1.draw_fig16, ExchangeData),
        Figure("table1", exchange_table1.draw_table1, ExchangeData),
    ),
    settings=settings,
)
