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

1. endpoints of equal η/S: |test acc(discrete-S) − test acc(discrete-η)| < the pooled seed std
   √((σ_X² + σ_Y²)/2) — the paper: 89.39 % vs 89.24 %; the same for the constant pairs (87.25 % vs 86.92 %);
2. training curves track: the RMS over epochs of the difference of the two cyclic runs' seed-mean training
   (and test) accuracy is at most ``TRACK_IN_SE`` = 2 times the RMS SE of that difference. Only epochs after
   the first switch count: until then both runs are the same run (η_max, S_min, the same seed);
3. another η/S differs clearly more: each cyclic run's endpoint test accuracy differs from
   ``constant-low``'s (the same final η/S) by more than twice both the cyclic pair's difference and the SE;
4. Table 1, as the paper states it: every cyclic schedule beats the best constant one on test accuracy; the
   discrete schedules are not worse than the triangle one (by more than 2 SE); discrete-S ends at the
   smallest ‖H‖_F of the cyclic schedules; every cyclic run ends at a smaller ‖H‖_F than ``constant-low``,
   whose final η/S is the same (Fig. 16: "cyclical schemes find wider minima"); ‖H‖_F oscillates with the
   cycle (larger after the low-η/S half than after the high-η/S half, geometric mean over cycles, median
   over seeds, in every cyclic schedule). The full ordering of the schedules is recorded as it comes out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sgdnoise.engine import Constant, Cyclic, Probe, Schedule, TrainConfig
from sgdnoise.experiments.base import Experiment, ExperimentResult, RunContext
from sgdnoise.experiments.jastrzebski import DATASETS, MODELS, Dataset, ModelName, spec_model, spec_task
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.measurements import BNRecalibratedAccuracy, HessianNorm
from sgdnoise.results import Claim
from sgdnoise.sweep import Sweep, SweepRun, run_sweep

TRACK_IN_SE = 2.0  # curves track when their RMS difference is within 2 RMS standard errors
CLEARLY_MORE = 2.0  # "clearly more": twice the cyclic pair's difference and twice its SE
EFFECT_SE = 2.0  # "not worse": a shortfall of at most 2 standard errors
CYCLIC = ("discrete-S", "discrete-η", "triangle-η")
CONSTANT = ("constant-low", "constant-low-large", "constant-high")
SCHEDULES = CYCLIC + CONSTANT
CURVE = "curve"  # measurement names (probe columns are "{name}.{quantity}")
HESSIAN = "hessian_norm"


@dataclass(frozen=True)
class ExchangeSpec:
    """The cycle (η_max = ``max_lr``, S_min = ``min_batch``, ratio ``factor``, ``cycle_epochs``), the budget,
    seeds, task, model and the two probes. ``epochs`` must be a whole number of cycles, so every run ends
    after a low-η/S half."""

    seeds: int
    n_train: int | None
    validation: int
    n_test: int | None
    max_lr: float
    min_batch: int
    factor: int = 5
    epochs: float = 60.0
    cycle_epochs: float = 10.0
    dataset: Dataset = "fashion-mnist"
    model: ModelName = "bn-mlp"
    pool: int | None = None
    width: int = 256
    depth: int = 4
    momentum: float = 0.0
    curve_every_epochs: float = 1.0
    curve_examples: int = 5000
    hessian_examples: int = 500
    hessian_samples: int = 10
    bn_batch: int = 128
    subset_seed: int = 0

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
        if self.dataset not in DATASETS or self.model not in MODELS:
            raise ValueError(f"dataset must be one of {DATASETS} and model one of {MODELS}")

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


EXCHANGE_SPECS = {
    "quick": ExchangeSpec(seeds=6, n_train=2000, validation=1000, n_test=5000, max_lr=0.1, min_batch=25, pool=2),
    # paper (§4.2, App. F.4): VGG-11 on CIFAR-10 (45k train / 5k validation), η 0.001↔0.005, S 128↔640,
    # cycle 15 epochs, 6 repetitions; 150 epochs is our choice (the paper gives no budget)
    "paper": ExchangeSpec(
        seeds=6,
        n_train=None,
        validation=5000,
        n_test=None,
        max_lr=0.005,
        min_batch=128,
        epochs=150.0,
        cycle_epochs=15.0,
        dataset="cifar10",
        model="vgg11",
        curve_examples=10_000,
        hessian_examples=1000,
    ),
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


def run_exchange(spec: ExchangeSpec, ctx: RunContext) -> dict[str, Any]:
    """Train every schedule × seed with both probes; return per schedule its per-seed curves and endpoints,
    and Table 1's rows (``table1``)."""
    name, factory = spec_task(spec)
    model = spec_model(spec)
    schedules = spec.schedules()
    seeds = [ctx.seed + i for i in range(spec.seeds)]
    keys = [(label, seed) for label in SCHEDULES for seed in seeds]
    runs = [
        SweepRun(
            TrainConfig(
                model,
                schedules[label][0],
                schedules[label][1],
                epochs=spec.epochs,
                momentum=spec.momentum,
                seed=seed,
                eval_points=0,
            ),
            task=name,
        )
        for label, seed in keys
    ]
    swept = run_sweep(
        Sweep("jastrzebski-exchange", {name: factory}, runs, probes=spec.probes()),
        ctx.store,
        executor=ctx.executor,
        ray_address=ctx.ray_address,
        device=ctx.device,
        show_progress=ctx.show_progress,
    )
    period = spec.cycle_epochs / spec.epochs
    out: dict[str, Any] = {}
    for label in SCHEDULES:
        lr, batch = schedules[label]
        low, high = _noise_range(lr, batch, period)
        per_seed = []
        for (run_label, seed), result in zip(keys, swept, strict=True):
            if run_label != label:
                continue
            row: dict[str, Any] = {"seed": seed, "status": result.status}
            if result.status == "finished":
                curve = _probe_columns(result.probes, CURVE)
                hessian = _probe_columns(result.probes, HESSIAN)
                row |= {
                    "curve": curve,
                    "hessian": {"epoch": hessian["epoch"], "value": hessian.get("value", [])},
                    "endpoint": {key: values[-1] for key, values in curve.items() if key != "epoch" and values}
                    | {"hessian_norm": hessian["value"][-1] if hessian.get("value") else None},
                }
            per_seed.append(row)
        out[label] = {
            "learning_rate": lr.to_dict(),
            "batch_size": batch.to_dict(),
            "noise_low": low,
            "noise_high": high,
            "seeds": per_seed,
        }
    return {
        "schedules": out,
        "table1": table1(out, spec.cycle_epochs),
        "epochs": spec.epochs,
        "cycle_epochs": spec.cycle_epochs,
        "seeds": seeds,
    }


# --------------------------------------------------------------------------------------------------
# claims: pure functions of the returned data
# --------------------------------------------------------------------------------------------------


def _finished(schedule: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in schedule["seeds"] if s["status"] == "finished"]


def endpoint_values(schedule: Mapping[str, Any], quantity: str) -> np.ndarray:
    """One endpoint quantity (e.g. ``test_acc``, ``hessian_norm``) over the finished seeds."""
    values = []
    for seed in _finished(schedule):
        value = seed["endpoint"].get(quantity)
        if value is not None and math.isfinite(value):
            values.append(float(value))
    return np.asarray(values)


@dataclass(frozen=True)
class Difference:
    """Mean of X minus mean of Y over seeds, the SE of that difference and the pooled seed std."""

    difference: float
    se: float
    pooled_std: float
    seeds: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        return {"difference": self.difference, "se": self.se, "pooled_std": self.pooled_std, "seeds": self.seeds}


def difference(x: np.ndarray, y: np.ndarray) -> Difference:
    """mean x − mean y with SE √(s_x²/n_x + s_y²/n_y) and pooled std √((s_x² + s_y²)/2) (ddof = 1);
    NaN where a side has fewer than two values."""
    if x.size < 2 or y.size < 2:
        return Difference(math.nan, math.nan, math.nan, (int(x.size), int(y.size)))
    vx, vy = float(x.var(ddof=1)), float(y.var(ddof=1))
    return Difference(
        float(x.mean() - y.mean()), math.sqrt(vx / x.size + vy / y.size), math.sqrt((vx + vy) / 2), (x.size, y.size)
    )


def curve_matrix(schedule: Mapping[str, Any], quantity: str, epochs: Sequence[float]) -> np.ndarray:
    """[seeds, epochs] of a probed quantity at the given epochs (NaN where a seed lacks it)."""
    rows = []
    for seed in _finished(schedule):
        curve = seed["curve"]
        by_epoch = {round(e, 6): v for e, v in zip(curve["epoch"], curve.get(quantity, []), strict=True)}
        rows.append([np.nan if (v := by_epoch.get(round(e, 6))) is None else v for e in epochs])
    return np.asarray(rows, float).reshape(len(rows), len(epochs))


def common_epochs(*schedules: Mapping[str, Any], after: float = 0.0) -> list[float]:
    """The probe epochs later than ``after`` that every finished seed of every schedule has."""
    sets = [{round(e, 6) for e in seed["curve"]["epoch"] if e > after} for s in schedules for seed in _finished(s)]
    return sorted(set.intersection(*sets)) if sets else []


def curve_distance(x: Mapping[str, Any], y: Mapping[str, Any], quantity: str, after: float = 0.0) -> dict[str, float]:
    """RMS over the common epochs later than ``after`` of the difference of seed-mean curves, and the RMS SE
    of that difference."""
    epochs = common_epochs(x, y, after=after)
    a, b = curve_matrix(x, quantity, epochs), curve_matrix(y, quantity, epochs)
    if not epochs or a.shape[0] < 2 or b.shape[0] < 2:
        return {"rms_difference": math.nan, "rms_se": math.nan, "epochs": len(epochs)}
    diff = np.nanmean(a, axis=0) - np.nanmean(b, axis=0)
    se2 = np.nanvar(a, axis=0, ddof=1) / a.shape[0] + np.nanvar(b, axis=0, ddof=1) / b.shape[0]
    return {
        "rms_difference": float(np.sqrt(np.nanmean(diff**2))),
        "rms_se": float(np.sqrt(np.nanmean(se2))),
        "epochs": len(epochs),
    }


def oscillation_ratio(
    seed: Mapping[str, Any], cycle_epochs: float, block: str = "hessian", quantity: str = "value"
) -> float:
    """Geometric mean over cycles of ‖H‖_F (or another probed ``quantity`` of ``block``) after a cycle's
    low-η/S half (at whole cycles) over its value after the high-η/S half (at half cycles); NaN without such
    pairs. Every cyclic schedule here spends the first half of a cycle at (or rising to) the high η/S and
    ends it at the low one."""
    epochs, values = seed[block]["epoch"], seed[block][quantity]
    halves = [(e / (cycle_epochs / 2), v) for e, v in zip(epochs, values, strict=True) if v is not None and v > 0]
    by_half = {round(h): v for h, v in halves if abs(h - round(h)) < 1e-6}  # only values at half-cycle marks
    logs = [
        math.log(by_half[2 * k] / by_half[2 * k - 1])
        for k in range(1, max(by_half, default=0) // 2 + 1)
        if 2 * k in by_half and 2 * k - 1 in by_half
    ]
    return math.exp(float(np.mean(logs))) if logs else math.nan


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%" if math.isfinite(value) else "n/a"


def table1(schedules: Mapping[str, Mapping[str, Any]], cycle_epochs: float) -> dict[str, dict[str, Any]]:
    """Table 1's columns per schedule: test and validation accuracy, training loss (mean ± std over seeds),
    final ‖H‖_F (mean) and the ‖H‖_F oscillation ratio (median over seeds)."""
    rows = {}
    for label, schedule in schedules.items():
        row: dict[str, Any] = {}
        for quantity in ("test_acc", "validation_acc", "train_loss", "train_acc", "hessian_norm"):
            values = endpoint_values(schedule, quantity)
            row[quantity] = {"mean": _mean(values), "std": float(values.std(ddof=1)) if values.size > 1 else math.nan}
        for key, block, quantity in (("hessian", "hessian", "value"), ("train_loss", "curve", "train_loss")):
            ratios = [oscillation_ratio(seed, cycle_epochs, block, quantity) for seed in _finished(schedule)]
            row[f"{key}_oscillation"] = float(np.nanmedian(ratios)) if np.isfinite(ratios).any() else math.nan
        row["seeds_finished"] = len(_finished(schedule))
        rows[label] = row
    return rows


def exchange_claims(data: Mapping[str, Any]) -> list[Claim]:
    """The claims of the module docstring, from ``run_exchange``'s data alone."""
    schedules, cycle = data["schedules"], data["cycle_epochs"]
    test = {label: endpoint_values(s, "test_acc") for label, s in schedules.items()}
    claims = []
    for claim_id, (x, y), paper in (
        ("cyclic_endpoints_match", ("discrete-S", "discrete-η"), "89.39% vs 89.24%"),
        ("constant_endpoints_match", ("constant-low", "constant-low-large"), "87.25% vs 86.92%"),
    ):
        d = difference(test[x], test[y])
        claims.append(
            Claim(
                claim_id,
                f"{x} and {y} (equal η/S at all times) end at test accuracies differing by less than the pooled "
                f"seed std (paper: {paper})",
                bool(abs(d.difference) < d.pooled_std),
                d.to_dict() | {x: _mean(test[x]), y: _mean(test[y])},
                f"{_pct(_mean(test[x]))} vs {_pct(_mean(test[y]))}: |Δ| = {100 * abs(d.difference):.2f} points vs "
                f"seed std {100 * d.pooled_std:.2f} ({d.seeds[0]} and {d.seeds[1]} seeds)",
            )
        )
    distances = {
        quantity: curve_distance(schedules["discrete-S"], schedules["discrete-η"], quantity, after=cycle / 2)
        for quantity in ("train_acc", "test_acc")
    }
    claims.append(
        Claim(
            "cyclic_curves_track",
            f"discrete-S and discrete-η training and test accuracy curves track each other: RMS difference of the "
            f"seed means over the epochs after the first switch ≤ {TRACK_IN_SE:g}× its RMS standard error",
            all(d["rms_difference"] <= TRACK_IN_SE * d["rms_se"] for d in distances.values()),
            distances,
            "; ".join(
                f"{q}: RMS Δ {100 * d['rms_difference']:.2f} points vs RMS SE {100 * d['rms_se']:.2f} "
                f"over {d['epochs']} epochs"
                for q, d in distances.items()
            ),
        )
    )
    pair = difference(test["discrete-S"], test["discrete-η"])
    bar = CLEARLY_MORE * max(abs(pair.difference), pair.se)
    against = {c: difference(test[c], test["constant-low"]) for c in ("discrete-S", "discrete-η")}
    other_curves = curve_distance(schedules["discrete-S"], schedules["constant-low"], "test_acc", after=cycle / 2)
    claims.append(
        Claim(
            "other_noise_differs_clearly",
            f"each cyclic run's test accuracy differs from constant-low's (another η/S over training, the same at "
            f"the end) by more than {CLEARLY_MORE:g}× the cyclic pair's difference and its SE",
            all(abs(d.difference) > bar for d in against.values()),
            {c: d.to_dict() for c, d in against.items()}
            | {"bar": bar, "cyclic_pair": pair.to_dict(), "test_curve_distance_vs_discrete_S": other_curves},
            ", ".join(f"{c} − constant-low = {100 * d.difference:+.2f} points" for c, d in against.items())
            + f" vs bar {100 * bar:.2f}",
        )
    )
    claims += _table1_claims(data["table1"], test)
    return claims


def _table1_claims(rows: Mapping[str, Mapping[str, Any]], test: Mapping[str, np.ndarray]) -> list[Claim]:
    mean_test = {label: rows[label]["test_acc"]["mean"] for label in rows}
    mean_h = {label: rows[label]["hessian_norm"]["mean"] for label in rows}
    order = sorted(rows, key=lambda label: -mean_test[label] if math.isfinite(mean_test[label]) else math.inf)
    ordering = {"by_test_acc": order, "test_acc_mean": mean_test}
    best_constant = max(CONSTANT, key=lambda label: mean_test[label] if math.isfinite(mean_test[label]) else -1)
    claims = [
        Claim(
            "table1_cyclic_beat_constant",
            "every cyclic schedule ends at a higher mean test accuracy than the best constant one (paper: ≈ 90.0% vs "
            "87.7%)",
            all(mean_test[c] > mean_test[best_constant] for c in CYCLIC),
            ordering | {"best_constant": best_constant},
            "by test accuracy: " + " > ".join(f"{label} {_pct(mean_test[label])}" for label in order),
        )
    ]
    versus_triangle = {c: difference(test[c], test["triangle-η"]) for c in ("discrete-S", "discrete-η")}
    claims.append(
        Claim(
            "table1_discrete_not_worse_than_triangle",
            f"the discrete schedules perform similarly or better than triangle-η: mean test accuracy not below it by "
            f"more than {EFFECT_SE:g} SE (paper: 90.04%, 90.07% vs 90.03%)",
            all(d.difference >= -EFFECT_SE * d.se for d in versus_triangle.values()),
            {c: d.to_dict() for c, d in versus_triangle.items()},
            ", ".join(
                f"{c} − triangle-η = {100 * d.difference:+.2f} ± {100 * d.se:.2f} points"
                for c, d in versus_triangle.items()
            ),
        )
    )
    claims.append(
        Claim(
            "table1_discrete_s_widest",
            "discrete-S ends at the smallest ‖H‖_F of the cyclic schedules (paper: 13918 vs 36470 and 35310)",
            all(mean_h["discrete-S"] < mean_h[c] for c in CYCLIC if c != "discrete-S"),
            {c: mean_h[c] for c in CYCLIC},
            ", ".join(f"{c} {mean_h[c]:.4g}" for c in CYCLIC),
        )
    )
    claims.append(
        Claim(
            "cyclic_wider_than_constant_same_final_noise",
            "every cyclic schedule ends at a smaller ‖H‖_F than constant-low, which trains at their final η/S "
            "throughout (Fig. 16, Table 1: cyclical schemes reach wider minima)",
            all(mean_h[c] < mean_h["constant-low"] for c in CYCLIC),
            {c: mean_h[c] for c in (*CYCLIC, "constant-low")}
            | {f"{c}_train_loss": rows[c]["train_loss"]["mean"] for c in (*CYCLIC, "constant-low")},
            ", ".join(f"{c} {mean_h[c]:.4g}" for c in (*CYCLIC, "constant-low"))
            + " (final train loss "
            + ", ".join(f"{rows[c]['train_loss']['mean']:.3g}" for c in (*CYCLIC, "constant-low"))
            + ")",
        )
    )
    ratios = {c: rows[c]["hessian_oscillation"] for c in CYCLIC}
    loss_ratios = {c: rows[c]["train_loss_oscillation"] for c in CYCLIC}
    claims.append(
        Claim(
            "hessian_oscillates_with_the_cycle",
            "in every cyclic schedule ‖H‖_F is larger after the low-η/S half of a cycle than after its high-η/S "
            "half (ratio > 1: geometric mean over cycles, median over seeds; Fig. 16)",
            all(math.isfinite(r) and r > 1 for r in ratios.values()),
            {"hessian_ratio": ratios, "train_loss_ratio": loss_ratios},
            ", ".join(f"{c} ‖H‖_F ×{ratios[c]:.3g} (train loss ×{loss_ratios[c]:.3g})" for c in CYCLIC)
            + " — low-η/S half over high-η/S half",
        )
    )
    return claims


class JastrzebskiExchange(Experiment):
    name = "jastrzebski-exchange"
    title = "Cyclic batch size vs cyclic learning rate at equal η/S; discrete vs triangle vs constant (Fig. 4, Table 1)"
    paper = "Jastrzębski et al. 2018, §4.2 Fig. 4, App. F.2 Fig. 13, App. F.4 Table 1, Fig. 16"

    def run(self, spec: ExchangeSpec, ctx: RunContext) -> ExperimentResult:
        data = run_exchange(spec, ctx)
        claims = exchange_claims(data)
        settings = spec_to_dict(spec) | {
            "hessian_fd_step": "instrument default: h = cbrt(float32 eps) ≈ 4.9e-3 per unit-rms probe coordinate",
        }
        return ExperimentResult(claims, data, settings)

    def plot(self, data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
        from sgdnoise import plots

        return plots.jastrzebski_exchange_figures(data, fig_dir)


EXPERIMENTS = (JastrzebskiExchange(EXCHANGE_SPECS),)
__all__ = ["ExchangeSpec", "curve_distance", "difference", "exchange_claims", "oscillation_ratio", "table1"]
