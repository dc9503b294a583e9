"""Jastrzębski et al. 2018, "Three factors influencing minima in SGD", §4.1–4.2 and App. F.1, F.2, F.4.

Shared set-up (also imported by ``jastrzebski_noise``): a task factory (``task_factory``: Fashion-MNIST
class-balanced subsets, CIFAR-10, or the CIFAR-shaped stand-in, each with a validation split), the model
(``model_spec``: the 4-layer batch-normalised ReLU MLP of §4.1, VGG-11 or ResNet-56), the (η, S) grid
(``noise_pairs``) and the two "train to a target" budgets (``first_reached``).

- ``jastrzebski-sharpness`` (Fig. 1, App. F.1): ‖H‖_F, λ_max, validation and test accuracy vs n = η/S at
  endpoints of *equal training accuracy* and, as a control, of *equal training loss*.
- ``jastrzebski-interpolation`` (Fig. 2–3): loss and accuracy along (1−α)θ₁ + αθ₂, α ∈ [−1, 2].
- ``jastrzebski-exchange`` (Fig. 4, Fig. 13, Table 1): cyclic batch size vs cyclic learning rate at
  equal η/S, constant pairs of equal η/S, discrete vs triangle vs constant schedules with ‖H‖_F probes.

"Train to a target" (the paper: "most models reach approximately 100% accuracy on train set"). The
engine has no early stopping, so it is done in two honest steps. Phase 1 trains every pair for a budget
long enough for all pairs (``budget_steps``), evaluating every split at ``eval_points`` dense log-spaced
steps. ``first_reached`` finds the first evaluated step at which the run's training accuracy reaches
``accuracy_target`` (resp. its training loss falls to ``loss_target``). Phase 2 trains the same run
again (same seed, same constant η and S) for exactly that many steps and measures its final model: the
run stopped at its target, up to float32 rounding — phase 2 stacks runs into groups of other sizes,
whose batched products round differently, and over thousands of steps that moves the endpoint a little
(at quick scale the matched-accuracy endpoints have 98.4–99.6% training accuracy for the 99% target;
each endpoint's own accuracy and loss are recorded beside it). A pair that never reaches a target
within its budget is reported (``unreached``) and left out of that target's claims. Resolution: the
eval steps are log-spaced, so the stopping step is at most one eval interval (a few % of the budget)
late.

Sharpness. ‖H‖_F is ``measurements.HessianNorm``: Wu et al.'s estimator E_v‖Hv‖² with central
differences of the gradient, Hv ≈ (∇L(θ+hv) − ∇L(θ−hv))/2h, at the step ``HessianNorm.fd_step`` of
``sharpness_measurements`` (None, the instrument's default, recorded in the settings as
``hessian_fd_step``): every coordinate moves by h·|v_i| with h = cbrt(ε_float32) ≈ 4.9e-3 (our
parameters have rms < 1). Why this
step (measured on this task, 784→256×4→10 BN-MLP, 1000 training examples, eval mode, against the exact
double-backward product): ReLU kinks bias *tiny* steps upwards — a kink crossed inside [θ−hv, θ+hv]
adds a gradient jump Δg/2h to Hv, and the probability of crossing one grows only like h, so the kinks'
share of ‖Hv‖² grows like 1/h (float64, h = 1e-5: 99.6 vs exact 19.8; 1131 vs 85 on a second net);
large steps are biased by the loss's higher derivatives (h = 0.1: 5274 vs 19.8). In between the
estimate is flat within a factor ~1.5 (h = 1e-3: 25.4 / 180; 4.9e-3: 33.1 / 122; 1e-2: 78.6 / 117 vs
exact 19.8 / 85). The finite-difference value therefore includes the curvature of the kinks at the
scale of h — the paper's choice — and λ_max (``measurements.LambdaMax``, exact Hessian-vector products
by Lanczos) is reported beside it as a kink-free sharpness.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sgdnoise import analysis
from sgdnoise.data import (
    TaskData,
)
from sgdnoise.engine import TrainConfig
from sgdnoise.experiments.base import Experiment, ExperimentResult, RunContext
from sgdnoise.experiments.grid import nullable
from sgdnoise.experiments.jastrzebski_2018.setup import (
    DATASETS,
    MODELS,
    Dataset,
    ModelName,
    budget_steps,
    first_reached,
    model_spec,
    noise_pairs,
    spec_model,
    spec_task,
    task_factory,
    task_name,
)
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.measurements import HessianNorm, LambdaMax
from sgdnoise.models import ModelSpec
from sgdnoise.results import Claim
from sgdnoise.sweep import Sweep, SweepRun, SweptRun, run_sweep


def _loglog_spearman(x: Sequence[float], y: Sequence[float], log_y: bool) -> tuple[float, int]:
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(xs) & np.isfinite(ys) & (xs > 0) & ((ys > 0) if log_y else True)
    if ok.sum() < 3:
        return math.nan, int(ok.sum())
    return float(analysis.spearman_correlation(np.log(xs[ok]), np.log(ys[ok]) if log_y else ys[ok]).rho), int(ok.sum())


# --------------------------------------------------------------------------------------------------
# jastrzebski-sharpness (Fig. 1, App. F.1)
# --------------------------------------------------------------------------------------------------

HESSIAN_RHO_MAX = -0.8  # issue 8: log ‖H‖_F falls with log η/S, Spearman ≤ −0.8
EFFECT_OVER_SPREAD = 2.0  # the validation-accuracy effect counts as resolved above 2× the seed spread
TARGETS = ("accuracy", "loss")


@dataclass(frozen=True)
class SharpnessSpec:
    """The (η, S) grid, seeds, task, model and the two targets.

    Phase-1 budget per pair: ``budget_steps(η, S, n_train, min_epochs, eta_time)``. ``accuracy_target``:
    training accuracy of the matched-accuracy endpoints (the paper's "approximately 100%");
    ``loss_target``: training loss of the matched-loss control. Both fixed before any run.
    """

    learning_rates: tuple[float, ...]
    batch_sizes: tuple[int, ...]
    seeds: int
    n_train: int | None
    validation: int
    n_test: int | None
    min_epochs: float
    eta_time: float
    dataset: Dataset = "fashion-mnist"
    model: ModelName = "bn-mlp"
    pool: int | None = None
    width: int = 256
    depth: int = 4
    momentum: float = 0.0
    accuracy_target: float = 0.99
    loss_target: float = 0.05
    eval_points: int = 150
    hessian_samples: int = 20
    measure_examples: int = 1000
    lanczos_iterations: int = 30
    subset_seed: int = 0

    def __post_init__(self) -> None:
        noise_pairs(self.learning_rates, self.batch_sizes)
        if self.seeds < 1 or self.min_epochs <= 0 or self.eta_time < 0:
            raise ValueError("need seeds >= 1, min_epochs > 0 and eta_time >= 0")
        if not 0 < self.accuracy_target <= 1 or self.loss_target <= 0:
            raise ValueError("accuracy_target must lie in (0, 1] and loss_target be > 0")
        if self.dataset not in DATASETS or self.model not in MODELS:
            raise ValueError(f"dataset must be one of {DATASETS} and model one of {MODELS}")

    def pairs(self) -> list[tuple[float, int]]:
        return noise_pairs(self.learning_rates, self.batch_sizes)


SHARPNESS_SPECS = {
    # quick: 1000 Fashion-MNIST images pooled to 14×14, η ∈ {0.02, 0.05, 0.1} × S ∈ {20, …, 500}:
    # 15 pairs, η/S from 4e-5 to 5e-3 (2.1 decades), 3 pairs at 1e-3, 3 at 2e-4, 2 at 4e-4.
    "quick": SharpnessSpec(
        learning_rates=(0.02, 0.05, 0.1),
        batch_sizes=(20, 50, 100, 250, 500),
        seeds=2,
        n_train=1000,
        validation=1000,
        n_test=2000,
        min_epochs=50,
        eta_time=25.0,
        pool=2,
    ),
    # paper (App. F.1, Fig. 8): ResNet-56 on CIFAR-10 (45k train / 5k validation), 200 epochs,
    # η ∈ [5e-3, 1e-1] × S ∈ [25, 1000] as in Fig. 1
    "paper": SharpnessSpec(
        learning_rates=(0.005, 0.01, 0.02, 0.05, 0.1),
        batch_sizes=(25, 50, 100, 250, 500, 1000),
        seeds=2,
        n_train=None,
        validation=5000,
        n_test=None,
        min_epochs=200,
        eta_time=0.0,
        dataset="cifar10",
        model="resnet56",
        eval_points=200,
    ),
}


def _n_train_of(spec: SharpnessSpec, task: Callable[[], TaskData]) -> int:
    return spec.n_train if spec.n_train is not None else len(task().train)


def sharpness_measurements(spec: SharpnessSpec) -> tuple[HessianNorm, LambdaMax]:
    return (
        HessianNorm(max_examples=spec.measure_examples, n_samples=spec.hessian_samples),
        LambdaMax(max_examples=spec.measure_examples, max_iter=spec.lanczos_iterations),
    )


def hessian_step_settings(measurement: HessianNorm) -> dict[str, Any]:
    """The finite-difference step of ``measurement`` as the settings record it: ``hessian_fd_step`` is
    its ``fd_step`` (None: the instrument's rule), ``hessian_fd_step_rule`` says what that step is."""
    step = measurement.fd_step
    rule = (
        "instrument default: ε = cbrt(machine eps)·max(1, rms θ)/rms v, i.e. h = cbrt(float32 eps) ≈ 4.9e-3 "
        "per unit-rms probe coordinate when rms θ < 1"
        if step is None
        else f"fixed: ε = {step:g} (each coordinate moves by ε·|v_i|)"
    )
    return {"hessian_fd_step": step, "hessian_fd_step_rule": rule}


def _config(
    spec: SharpnessSpec, model: ModelSpec, lr: float, batch: int, steps: int, seed: int, eval_points: int
) -> TrainConfig:
    return TrainConfig(model, lr, batch, steps=steps, momentum=spec.momentum, seed=seed, eval_points=eval_points)


def run_sharpness(spec: SharpnessSpec, ctx: RunContext) -> dict[str, Any]:
    """Phase 1 (full budgets) and phase 2 (every run retrained to the step where it first reached each
    target, then measured); returns per pair and seed the numbers behind Fig. 1 (plain data)."""
    name, factory = spec_task(spec)
    model = spec_model(spec)
    n_train = _n_train_of(spec, factory)
    pairs = spec.pairs()
    seeds = [ctx.seed + i for i in range(spec.seeds)]
    budgets = {p: budget_steps(p[0], p[1], n_train, spec.min_epochs, spec.eta_time) for p in pairs}
    phase1 = [
        SweepRun(_config(spec, model, lr, b, budgets[(lr, b)], seed, spec.eval_points), task=name)
        for lr, b in pairs
        for seed in seeds
    ]
    swept = run_sweep(
        Sweep("jastrzebski-sharpness-budget", {name: factory}, phase1),
        ctx.store,
        executor=ctx.executor,
        ray_address=ctx.ray_address,
        device=ctx.device,
        show_progress=ctx.show_progress,
    )
    hits: dict[tuple[str, float, int, int], int | None] = {}
    for run, result in zip(phase1, swept, strict=True):
        lr, b, seed = float(run.config.learning_rate(0.0)), int(run.config.batch_size(0.0)), run.config.seed
        finished = result.status == "finished"
        hits[("accuracy", lr, b, seed)] = (
            first_reached(result.history, "train_acc", spec.accuracy_target, above=True) if finished else None
        )
        hits[("loss", lr, b, seed)] = (
            first_reached(result.history, "train_loss", spec.loss_target, above=False) if finished else None
        )
    endpoint_steps = sorted({(lr, b, seed, s) for (_, lr, b, seed), s in hits.items() if s is not None and s > 0})
    endpoints: dict[tuple[float, int, int, int], SweptRun] = {}
    if endpoint_steps:
        phase2 = [SweepRun(_config(spec, model, lr, b, s, seed, 0), task=name) for lr, b, seed, s in endpoint_steps]
        measured = run_sweep(
            Sweep(
                "jastrzebski-sharpness-endpoints", {name: factory}, phase2, measurements=sharpness_measurements(spec)
            ),
            ctx.store,
            executor=ctx.executor,
            ray_address=ctx.ray_address,
            device=ctx.device,
            show_progress=ctx.show_progress,
        )
        endpoints = dict(zip(endpoint_steps, measured, strict=True))
    rows: dict[str, list[dict[str, Any]]] = {target: [] for target in TARGETS}
    for target in TARGETS:
        for lr, b in pairs:
            per_seed = []
            for seed in seeds:
                step = hits[(target, lr, b, seed)]
                end = endpoints.get((lr, b, seed, step)) if step else None
                ok = end is not None and end.status == "finished"
                m = end.metrics if ok else {}
                meas = end.measurements if ok else {}
                per_seed.append(
                    {
                        "seed": seed,
                        "step": step,
                        "epoch": None if step is None else step * b / n_train,
                        "train_acc": m.get("train_acc"),
                        "train_loss": m.get("train_loss"),
                        "validation_acc": m.get("validation_acc"),
                        "test_acc": m.get("test_acc"),
                        "hessian_norm": meas.get("hessian_norm", {}).get("value"),
                        "hessian_norm_stderr": meas.get("hessian_norm", {}).get("stderr"),
                        "lambda_max": meas.get("lambda_max", {}).get("value"),
                    }
                )
            rows[target].append({"learning_rate": lr, "batch_size": b, "noise": lr / b, "seeds": per_seed})
    budget_rows = [
        {
            "learning_rate": lr,
            "batch_size": b,
            "budget_steps": budgets[(lr, b)],
            "budget_epochs": budgets[(lr, b)] * b / n_train,
            "final_train_acc": [r.metrics.get("train_acc") for r in swept if _is_pair(r, lr, b)],
            "final_train_loss": [r.metrics.get("train_loss") for r in swept if _is_pair(r, lr, b)],
            "status": [r.status for r in swept if _is_pair(r, lr, b)],
        }
        for lr, b in pairs
    ]
    return {"targets": rows, "budgets": budget_rows, "n_train": n_train, "seeds": seeds}


def _is_pair(run: SweptRun, lr: float, batch: int) -> bool:
    config = run.run.config
    return float(config.learning_rate(0.0)) == lr and int(config.batch_size(0.0)) == batch


def pair_means(rows: Sequence[Mapping[str, Any]], quantity: str, *, log: bool = False) -> dict[str, list[float | None]]:
    """Per pair: mean and std over the seeds that reached the target (log: of the natural log)."""
    means, stds, counts = [], [], []
    for row in rows:
        values = [s[quantity] for s in row["seeds"] if s.get(quantity) is not None and math.isfinite(s[quantity])]
        if log:
            values = [math.log(v) for v in values if v > 0]
        means.append(float(np.mean(values)) if values else math.nan)
        stds.append(float(np.std(values)) if values else math.nan)
        counts.append(len(values))
    return {"mean": nullable(means), "std": nullable(stds), "count": counts}


def sharpness_claims(
    target: str, rows: Sequence[Mapping[str, Any]], *, accuracy_target: float, loss_target: float
) -> list[Claim]:
    """Fig. 1 at one target: (a) log ‖H‖_F falls with log η/S (Spearman of the per-pair seed means ≤
    −0.8), λ_max likewise (supporting, same threshold); (b) validation accuracy rises with η/S
    (Spearman > 0) and the size of that rise, the OLS slope of accuracy on log10 η/S times the
    decades spanned, against the seed spread (mean over pairs of the std over seeds; resolved above
    ``EFFECT_OVER_SPREAD`` times it)."""
    level = f"accuracy ≥ {accuracy_target:g}" if target == "accuracy" else f"loss ≤ {loss_target:g}"
    at = f"at matched training {level}"
    noise = [row["noise"] for row in rows]
    hess = pair_means(rows, "hessian_norm")
    lam = pair_means(rows, "lambda_max")
    val = pair_means(rows, "validation_acc")
    reached = [c > 0 for c in val["count"]]
    unreached = [f"η={r['learning_rate']:g},S={r['batch_size']}" for r, ok in zip(rows, reached, strict=True) if not ok]
    unreached_note = (
        f"{len(unreached)} of {len(rows)} pairs never reached the target: {', '.join(unreached)}" if unreached else ""
    )
    claims = []
    rho_h, n_h = _loglog_spearman(noise, [np.nan if v is None else v for v in hess["mean"]], log_y=True)
    claims.append(
        Claim(
            f"hessian_norm_falls_{target}",
            f"log ‖H‖_F falls with log η/S {at} (Spearman ρ ≤ {HESSIAN_RHO_MAX})",
            bool(math.isfinite(rho_h) and rho_h <= HESSIAN_RHO_MAX),
            {"spearman_rho": rho_h, "pairs": n_h},
            unreached_note,
        )
    )
    rho_l, n_l = _loglog_spearman(noise, [np.nan if v is None else v for v in lam["mean"]], log_y=True)
    claims.append(
        Claim(
            f"lambda_max_falls_{target}",
            f"log λ_max falls with log η/S {at} (Spearman ρ ≤ {HESSIAN_RHO_MAX}; exact HVPs, no kinks)",
            bool(math.isfinite(rho_l) and rho_l <= HESSIAN_RHO_MAX),
            {"spearman_rho": rho_l, "pairs": n_l},
        )
    )
    acc = np.asarray([np.nan if v is None else v for v in val["mean"]], float)
    rho_v, n_v = _loglog_spearman(noise, acc, log_y=False)
    claims.append(
        Claim(
            f"validation_rises_{target}",
            f"validation accuracy rises with η/S {at} (Spearman ρ > 0)",
            bool(math.isfinite(rho_v) and rho_v > 0),
            {"spearman_rho": rho_v, "pairs": n_v},
        )
    )
    ok = np.isfinite(acc)
    log_noise = np.log10(np.asarray(noise, float))
    spread_values = [s for s, c in zip(val["std"], val["count"], strict=True) if s is not None and c >= 2]
    spread = float(np.mean(spread_values)) if spread_values else math.nan
    if ok.sum() >= 3:
        slope = float(np.polyfit(log_noise[ok], acc[ok], 1)[0])
        decades = float(log_noise[ok].max() - log_noise[ok].min())
        effect = slope * decades
    else:
        slope = decades = effect = math.nan
    resolved = math.isfinite(effect) and math.isfinite(spread) and effect > EFFECT_OVER_SPREAD * spread
    claims.append(
        Claim(
            f"validation_effect_{target}",
            f"the rise of validation accuracy over the η/S span exceeds {EFFECT_OVER_SPREAD:g}× the seed spread {at}",
            bool(resolved),
            {
                "slope_per_decade": slope,
                "decades": decades,
                "effect": effect,
                "seed_spread": spread,
                "effect_over_spread": effect / spread if spread and math.isfinite(spread) else math.nan,
            },
            f"effect {effect * 100:.2f} points over {decades:.2f} decades vs seed std {spread * 100:.2f} points"
            if math.isfinite(effect) and math.isfinite(spread)
            else "",
        )
    )
    return claims


class JastrzebskiSharpness(Experiment):
    name = "jastrzebski-sharpness"
    title = "η/S vs ‖H‖_F, λ_max and validation accuracy at matched training accuracy / loss (Fig. 1)"
    paper = "Jastrzębski et al. 2018, §4.1 Fig. 1, App. F.1"

    def run(self, spec: SharpnessSpec, ctx: RunContext) -> ExperimentResult:
        data = run_sharpness(spec, ctx)
        data["accuracy_target"], data["loss_target"] = spec.accuracy_target, spec.loss_target
        claims = []
        for target in TARGETS:
            claims += sharpness_claims(
                target, data["targets"][target], accuracy_target=spec.accuracy_target, loss_target=spec.loss_target
            )
        settings = spec_to_dict(spec) | {
            **hessian_step_settings(sharpness_measurements(spec)[0]),
            "stopping": "phase 1 budget, phase 2 retrained to the first eval step reaching the target",
        }
        return ExperimentResult(claims, data, settings)

    def plot(self, data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
        from sgdnoise import plots

        return [plots.jastrzebski_sharpness_figure(data, fig_dir)]


# --------------------------------------------------------------------------------------------------
# jastrzebski-interpolation (Fig. 2-3)
# --------------------------------------------------------------------------------------------------

WIDTH_SPREAD = 2.0  # equal η/S: mean widths within 2 pooled seed stds


@dataclass(frozen=True)
class InterpolationSpec:
    """Fig. 2: a baseline (η, S) against a large batch (η, f_S·S) and a small learning rate (η/f_η, S),
    both at a lower η/S. Fig. 3: the baseline against (βη, βS) for each β (equal η/S). Every run trains
    for ``budget_steps`` (long enough to reach ~100% training accuracy, recorded) and keeps its weights.
    The curves are plotted on the grid α ∈ [−1, 2] (step ``alpha_step``).

    Width of an endpoint (``outward_width``): the distance d in α units from it, outwards along the same
    line θ(α) = (1−α)θ₁ + αθ₂ (α = −d for θ₁, α = 1 + d for θ₂), to where the training loss, batch-norm
    statistics re-estimated at every α, first reaches ``loss_threshold``. Inside the plotted grid the
    crossing is bracketed by the grid's points; beyond it the search continues along the same line,
    doubling d (2, 4, 8, …, at most ``width_cap``) until the loss reaches the threshold; the bracket is
    then bisected down to ``width_tolerance`` and the crossing interpolated linearly inside it ("first"
    at the points probed: a rise and fall between two of them is not looked for). Why: a
    flat endpoint's loss can stay below the threshold over the whole grid (the equal-η/S pairs of the
    quick scale do, both sides), which made the grid-only width None and the equal-width claims
    vacuous. Both widths of a pair are measured on the same line in the same units (α, i.e. multiples
    of ‖θ₂ − θ₁‖), so they stay comparable however far out they lie; widths of different pairs are not
    (their lines have different lengths, recorded as ``line_length``). The cap (64 × the endpoints'
    distance) and the tolerance were fixed before any run; a side still below the threshold at the cap
    has width None ("beyond the cap"), and a claim with no finite width to rest on fails."""

    seeds: int
    n_train: int | None
    validation: int
    n_test: int | None
    min_epochs: float
    eta_time: float
    baseline_lr: float = 0.1
    baseline_batch: int = 50
    large_batch_factor: int = 10
    small_lr_factor: float = 10.0
    betas: tuple[float, ...] = (0.5, 4.0)
    dataset: Dataset = "fashion-mnist"
    model: ModelName = "bn-mlp"
    pool: int | None = None
    width: int = 256
    depth: int = 4
    alpha_step: float = 0.05
    loss_threshold: float = 1.0
    width_cap: float = 64.0
    width_tolerance: float = 0.01
    measure_examples: int = 1000
    bn_batch: int = 128
    subset_seed: int = 0

    def __post_init__(self) -> None:
        if self.seeds < 1 or self.alpha_step <= 0 or self.loss_threshold <= 0:
            raise ValueError("need seeds >= 1, alpha_step > 0 and loss_threshold > 0")
        if not self.width_cap >= 1 or not self.width_tolerance > 0:
            raise ValueError("need width_cap >= 1 (the grid reaches d = 1 on both sides) and width_tolerance > 0")
        if self.dataset not in DATASETS or self.model not in MODELS:
            raise ValueError(f"dataset must be one of {DATASETS} and model one of {MODELS}")

    def comparisons(self) -> dict[str, tuple[tuple[float, int], tuple[float, int], bool]]:
        """name → (θ₁ pair, θ₂ pair, equal η/S)."""
        base = (self.baseline_lr, self.baseline_batch)
        out = {
            "large-batch": (base, (self.baseline_lr, self.baseline_batch * self.large_batch_factor), False),
            "small-lr": (base, (self.baseline_lr / self.small_lr_factor, self.baseline_batch), False),
        }
        for beta in self.betas:
            out[f"beta={beta:g}"] = (base, (self.baseline_lr * beta, max(1, round(self.baseline_batch * beta))), True)
        return out

    def alphas(self) -> list[float]:
        count = round(3.0 / self.alpha_step)
        return [round(-1.0 + 3.0 * i / count, 10) for i in range(count + 1)]


INTERPOLATION_SPECS = {
    # quick: baseline η=0.1, S=50 on 1000 pooled Fashion-MNIST images; S=500 and η=0.01 at 10× lower
    # η/S; β ∈ {0.5, 4}: (0.05, 25) and (0.4, 200) at the baseline's η/S; 3 seeds
    "quick": InterpolationSpec(
        seeds=3, n_train=1000, validation=1000, n_test=2000, min_epochs=50, eta_time=25.0, pool=2
    ),
    # paper: Fig. 2 is ResNet-56 with η=0.1, S=128 vs S=1024 and η=0.01; Fig. 3 is VGG-11 with
    # (0.1β, 50β), β ∈ {0.25, 4}; here one net per run (``model``), CIFAR-10 with 5k validation, 200 epochs
    "paper": InterpolationSpec(
        seeds=3,
        n_train=None,
        validation=5000,
        n_test=None,
        min_epochs=200,
        eta_time=0.0,
        baseline_batch=128,
        large_batch_factor=8,
        betas=(0.25, 4.0),
        dataset="cifar10",
        model="resnet56",
    ),
}


def _crossed(loss: float | None, threshold: float) -> bool:
    """A loss at or above the threshold; a non-finite loss (the net blew up) counts as above it."""
    return loss is not None and (not math.isfinite(loss) or loss >= threshold)


def outward_width(
    loss_at: Callable[[float], float],
    known: Sequence[tuple[float, float]],
    *,
    threshold: float,
    cap: float,
    tolerance: float,
) -> dict[str, Any]:
    """Distance d ≥ 0 outwards from an endpoint to where ``loss_at(d)`` first reaches ``threshold``.

    ``known``: (d, loss) already measured (the plotted grid's points on this side, 0 ≤ d ≤ 1). They are
    scanned in order of d (d = 0 is measured first if absent); if none reaches the threshold, d doubles
    from the largest known distance (at least 1) up to ``cap``, the last step clipped to it. The first
    bracket [d_lo, d_hi] with loss(d_lo) < threshold ≤ loss(d_hi) is bisected until d_hi − d_lo ≤
    ``tolerance`` and the width interpolated linearly inside it (exact for a loss linear in d; the
    midpoint if loss(d_hi) is not finite). Returns ``width`` (None: still below at ``cap``),
    ``beyond_cap`` and ``points``, every (d, loss) used, in order of d."""
    if cap <= 0 or tolerance <= 0:
        raise ValueError("need cap > 0 and tolerance > 0")
    points = {float(d): float(v) for d, v in known if 0 <= d <= cap}
    if 0.0 not in points:
        points[0.0] = float(loss_at(0.0))
    ordered = sorted(points)
    if _crossed(points[0.0], threshold):
        return {"width": 0.0, "beyond_cap": False, "points": [[d, points[d]] for d in ordered]}
    lo = hi = None
    for previous, d in itertools.pairwise(ordered):
        if _crossed(points[d], threshold):
            lo, hi = previous, d
            break
    if hi is None:
        lo = ordered[-1]
        d = max(lo, 1.0)
        while lo < cap:
            d = min(2 * d, cap)
            points[d] = float(loss_at(d))
            if _crossed(points[d], threshold):
                hi = d
                break
            lo = d
    if hi is None:
        return {"width": None, "beyond_cap": True, "points": [[d, points[d]] for d in sorted(points)]}
    while hi - lo > tolerance:
        mid = (lo + hi) / 2
        points[mid] = float(loss_at(mid))
        if _crossed(points[mid], threshold):
            hi = mid
        else:
            lo = mid
    low, high = points[lo], points[hi]
    if math.isfinite(high) and high != low:
        width = lo + (threshold - low) / (high - low) * (hi - lo)
    else:
        width = (lo + hi) / 2
    return {"width": float(width), "beyond_cap": False, "points": [[d, points[d]] for d in sorted(points)]}


class _Line:
    """The model at (1−α)θ₁ + αθ₂, measured with batch-norm statistics re-estimated at every α
    (``measurements.BNRecalibratedAccuracy``: the model's plain-op BN layers are what it recalibrates;
    ``instruments.interpolate`` only recognises ``nn.BatchNorm*``)."""

    def __init__(
        self,
        config_a: TrainConfig,
        state_a: Mapping[str, Any],
        state_b: Mapping[str, Any],
        task: TaskData,
        spec: InterpolationSpec,
        device: Any,
    ) -> None:
        import torch

        from sgdnoise.engine import model_from_state
        from sgdnoise.measurements import BNRecalibratedAccuracy

        self.model = model_from_state(config_a, state_a, torch.device(device), torch.float32)
        self.names = [name for name, _ in self.model.named_parameters()]
        self.a = {n: state_a[n].to(device) for n in self.names}
        self.b = {n: state_b[n].to(device) for n in self.names}
        self.params = dict(self.model.named_parameters())
        self.task = task
        self.measure = BNRecalibratedAccuracy(max_examples=spec.measure_examples, batch_size=spec.bn_batch)
        self.length = float(torch.sqrt(sum(((self.b[n] - self.a[n]).double() ** 2).sum() for n in self.names)).item())

    def at(self, alpha: float) -> dict[str, float]:
        import torch

        with torch.no_grad():
            for n in self.names:
                self.params[n].copy_((1 - alpha) * self.a[n] + alpha * self.b[n])
        return self.measure(self.model, self.task)

    def train_loss(self, alpha: float) -> float:
        return self.at(alpha)["train_loss"]


def _curve(line: _Line, alphas: Sequence[float]) -> dict[str, list[float]]:
    columns: dict[str, list[float]] = {}
    for alpha in alphas:
        for quantity, value in line.at(alpha).items():
            columns.setdefault(quantity, []).append(value)
    return columns


def endpoint_widths(
    line_loss: Callable[[float], float],
    alphas: Sequence[float],
    train_loss: Sequence[float],
    *,
    threshold: float,
    cap: float,
    tolerance: float,
) -> dict[str, dict[str, Any]]:
    """``outward_width`` of θ₁ (α = −d) and θ₂ (α = 1 + d) on the line whose training loss at α is
    ``line_loss(α)``, starting from the plotted grid's (α, loss) points on each side."""
    out = {}
    for side, endpoint, outwards in (("first", 0.0, -1), ("second", 1.0, 1)):
        known = [
            ((a - endpoint) * outwards, loss)
            for a, loss in zip(alphas, train_loss, strict=True)
            if (a - endpoint) * outwards >= -1e-12
        ]
        known = [(max(0.0, round(d, 10)), loss) for d, loss in known]
        out[side] = outward_width(
            lambda d, e=endpoint, o=outwards: line_loss(e + o * d),
            known,
            threshold=threshold,
            cap=cap,
            tolerance=tolerance,
        )
    return out


def run_interpolation(spec: InterpolationSpec, ctx: RunContext) -> dict[str, Any]:
    name, factory = spec_task(spec)
    task = factory()
    model = spec_model(spec)
    n_train = len(task.train)
    comparisons = spec.comparisons()
    pairs = sorted({p for first, second, _ in comparisons.values() for p in (first, second)})
    seeds = [ctx.seed + i for i in range(spec.seeds)]
    keys = [(p, seed) for p in pairs for seed in seeds]
    runs = [
        SweepRun(
            TrainConfig(
                model,
                lr,
                b,
                steps=budget_steps(lr, b, n_train, spec.min_epochs, spec.eta_time),
                seed=seed,
                eval_points=0,
            ),
            task=name,
        )
        for (lr, b), seed in keys
    ]
    swept = run_sweep(
        Sweep("jastrzebski-interpolation", {name: factory}, runs, keep_weights=True),
        ctx.store,
        executor=ctx.executor,
        ray_address=ctx.ray_address,
        device=ctx.device,
        show_progress=ctx.show_progress,
    )
    by_key = dict(zip(keys, swept, strict=True))
    alphas = spec.alphas()
    out: dict[str, Any] = {}
    for label, (first, second, equal) in comparisons.items():
        curves, lengths = [], []
        widths: dict[str, list[float | None]] = {"first": [], "second": []}
        searches: dict[str, list[dict[str, Any]]] = {"first": [], "second": []}
        for seed in seeds:
            ra, rb = by_key[(first, seed)], by_key[(second, seed)]
            if ra.status != "finished" or rb.status != "finished":
                continue
            line = _Line(
                ra.run.config, ctx.store.load_weights(ra.key), ctx.store.load_weights(rb.key), task, spec, ctx.device
            )
            curve = _curve(line, alphas)
            curves.append(curve)
            lengths.append(line.length)
            found = endpoint_widths(
                line.train_loss,
                alphas,
                curve["train_loss"],
                threshold=spec.loss_threshold,
                cap=spec.width_cap,
                tolerance=spec.width_tolerance,
            )
            for side in ("first", "second"):
                widths[side].append(found[side]["width"])
                searches[side].append(found[side])
        out[label] = {
            "first": {"learning_rate": first[0], "batch_size": first[1], "noise": first[0] / first[1]},
            "second": {"learning_rate": second[0], "batch_size": second[1], "noise": second[0] / second[1]},
            "equal_noise": equal,
            "alphas": alphas,
            "curves": curves,
            "widths": widths,
            "width_searches": searches,
            "line_length": lengths,
            "endpoint_train_acc": {
                "first": [by_key[(first, s)].metrics.get("train_acc") for s in seeds],
                "second": [by_key[(second, s)].metrics.get("train_acc") for s in seeds],
            },
        }
    return {
        "comparisons": out,
        "loss_threshold": spec.loss_threshold,
        "width_cap": spec.width_cap,
        "width_tolerance": spec.width_tolerance,
        "seeds": seeds,
    }


def _width_stats(values: Sequence[float | None]) -> tuple[float, float, int]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan, 0
    return float(np.mean(finite)), float(np.std(finite)), len(finite)


def interpolation_claims(
    comparisons: Mapping[str, Mapping[str, Any]], threshold: float, cap: float = math.inf
) -> list[Claim]:
    """Widths are ``outward_width``'s (None: still below train loss ``threshold`` at the ``cap``).

    Fig. 2: the lower-η/S endpoint sits on the sharper side — in every seed its width is finite and
    smaller than the other endpoint's (a width beyond the cap counts as larger than any finite one: the
    comparison rests on the finite width and the cap as a lower bound). A seed whose sharper-side width
    is None fails, so the claim fails when no finite width backs it. Fig. 3: at equal η/S the two widths'
    means differ by at most ``WIDTH_SPREAD`` pooled seed stds; evaluable only when every seed has finite
    widths on both sides and there are ≥ 2 seeds (else holds=False, with a note saying why)."""
    claims = []
    for label, comp in comparisons.items():
        w1, w2 = comp["widths"]["first"], comp["widths"]["second"]
        m1, s1, n1 = _width_stats(w1)
        m2, s2, n2 = _width_stats(w2)
        value = {
            "width_first_mean": m1,
            "width_first_std": s1,
            "width_second_mean": m2,
            "width_second_std": s2,
            "widths_first": w1,
            "widths_second": w2,
            "seeds": len(w1),
            "finite_first": n1,
            "finite_second": n2,
        }
        missing = (len(w1) - n1) + (len(w2) - n2)
        beyond = f"{missing} of {len(w1) + len(w2)} widths beyond the cap (train loss < {threshold:g} at d = {cap:g})"
        first, second = comp["first"], comp["second"]
        names = (
            f"(η={first['learning_rate']:g}, S={first['batch_size']}) vs "
            f"(η={second['learning_rate']:g}, S={second['batch_size']})"
        )
        if not comp["equal_noise"]:
            lower_is_second = second["noise"] < first["noise"]
            sharp, wide = (w2, w1) if lower_is_second else (w1, w2)
            per_seed = [s is not None and (w is None or s < w) for s, w in zip(sharp, wide, strict=True)]
            ms, mw = (m2, m1) if lower_is_second else (m1, m2)
            note = beyond if missing else ""
            if not per_seed:
                note = "not evaluable: no finished pair of runs"
            claims.append(
                Claim(
                    f"lower_noise_sharper_{label}",
                    f"{names}: the lower-η/S endpoint's side rises faster "
                    f"(smaller α-width to train loss {threshold:g}) in every seed",
                    bool(per_seed) and all(per_seed),
                    value
                    | {
                        "seeds_sharper": int(sum(per_seed)),
                        "width_sharp_mean": ms,
                        "width_wide_mean": mw,
                        "wide_over_sharp": mw / ms if n1 and n2 and ms > 0 else math.nan,
                    },
                    note,
                )
            )
        else:
            evaluable = len(w1) >= 2 and n1 == len(w1) and n2 == len(w2)
            pooled = math.sqrt((s1**2 + s2**2) / 2) if evaluable else math.nan
            diff = abs(m1 - m2) if evaluable else math.nan
            holds = evaluable and diff <= WIDTH_SPREAD * pooled
            if evaluable:
                note = ""
            elif missing:
                note = f"not evaluable: {beyond}"
            else:
                note = f"not evaluable: {len(w1)} seed(s) with finished runs, need >= 2"
            claims.append(
                Claim(
                    f"equal_noise_equal_width_{label}",
                    f"{names} (equal η/S): mean widths differ by ≤ {WIDTH_SPREAD:g} pooled seed stds",
                    bool(holds),
                    value | {"difference": diff, "pooled_std": pooled},
                    note,
                )
            )
    return claims


class JastrzebskiInterpolation(Experiment):
    name = "jastrzebski-interpolation"
    title = "Loss and accuracy on the line between endpoints of different / equal η/S (Fig. 2-3)"
    paper = "Jastrzębski et al. 2018, §4.1 Fig. 2-3, App. F.1 Fig. 10-12"

    def run(self, spec: InterpolationSpec, ctx: RunContext) -> ExperimentResult:
        data = run_interpolation(spec, ctx)
        claims = interpolation_claims(data["comparisons"], spec.loss_threshold, spec.width_cap)
        return ExperimentResult(claims, data, spec_to_dict(spec))

    def plot(self, data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
        from sgdnoise import plots

        return plots.jastrzebski_interpolation_figures(data, fig_dir)


EXPERIMENTS = (JastrzebskiSharpness(SHARPNESS_SPECS), JastrzebskiInterpolation(INTERPOLATION_SPECS))
__all__ = [
    "DATASETS",
    "MODELS",
    "budget_steps",
    "first_reached",
    "model_spec",
    "noise_pairs",
    "sharpness_claims",
    "spec_model",
    "spec_task",
    "task_factory",
    "task_name",
]
