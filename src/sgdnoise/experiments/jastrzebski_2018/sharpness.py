"""Jastrzębski et al. 2018, §4.1 Fig. 1 and App. F.1 (``jastrzebski-sharpness``): ‖H‖_F, λ_max, validation and test
accuracy vs n = η/S after the same number of epochs for every pair (the paper's endpoint: "Each experiment is run
for 200 epochs; most models reach approximately 100% accuracy on train set") and, as this project's controls, at
endpoints of *equal training accuracy* and of *equal training loss*.

Phase 1 trains every pair for a budget long enough for all pairs (``budget_steps``; 200 epochs at paper scale),
evaluating every split at ``eval_points`` dense log-spaced steps, and measures each final model. Target ``end``,
whose claims are the paper's, is every pair after the same ``min_epochs`` epochs: phase 1's final model where
the budget is just that (every pair at paper scale, where ``eta_time`` = 0), else the run retrained to it in
phase 2 (at quick scale a small η gets a longer budget, up to 625 epochs against 50). "Train to a target", the
controls: the engine has no early stopping, so it is done in two honest steps. ``first_reached`` finds the first
evaluated step at which the run's training accuracy reaches ``accuracy_target`` (resp. its training loss falls
to ``loss_target``). Phase 2 trains the same run again (same seed, same constant η and S) for exactly that many
steps and measures its final model: the run stopped at its target, up to float32 rounding — phase 2 stacks runs
into groups of other sizes, whose batched products round differently, and over thousands of steps that moves the
endpoint a little (at quick scale the matched-accuracy endpoints have 98.4–99.6% training accuracy for the 99%
target; each endpoint's own accuracy and loss are recorded beside it). A pair that never reaches a target within
its budget is reported (``unreached``) and left out of that target's claims. Resolution: the eval steps are log-
spaced, so the stopping step is at most one eval interval (a few % of the budget) late.

Sharpness. ‖H‖_F is ``measurements.HessianNorm``: Wu et al.'s estimator E_v‖Hv‖² with central differences of the
gradient, Hv ≈ (∇L(θ+hv) − ∇L(θ−hv))/2h, at the step ``HessianNorm.fd_step`` of ``sharpness_measurements``
(None, the instrument's default, recorded in the settings as ``hessian_fd_step``): every coordinate moves by
h·|v_i| with h = cbrt(ε_float32) ≈ 4.9e-3 (our parameters have rms < 1). Why this step (measured on this task,
784→256×4→10 BN-MLP, 1000 training examples, eval mode, against the exact double-backward product): ReLU kinks
bias *tiny* steps upwards — a kink crossed inside [θ−hv, θ+hv] adds a gradient jump Δg/2h to Hv, and the
probability of crossing one grows only like h, so the kinks' share of ‖Hv‖² grows like 1/h (float64, h = 1e-5:
99.6 vs exact 19.8; 1131 vs 85 on a second net); large steps are biased by the loss's higher derivatives (h =
0.1: 5274 vs 19.8). In between the estimate is flat within a factor ~1.5 (h = 1e-3: 25.4 / 180; 4.9e-3: 33.1 /
122; 1e-2: 78.6 / 117 vs exact 19.8 / 85). The finite-difference value therefore includes the curvature of the
kinks at the scale of h — the paper's choice — and λ_max (``measurements.LambdaMax``, exact Hessian-vector
products by Lanczos) is reported beside it as a kink-free sharpness.

Claims (``CLAIMS``), per target (equal epochs, the paper's; matched training accuracy and matched training loss,
this project's controls; until the claims audit of 2026-12-07 the matched-accuracy claims were counted as the
paper's and equal-epoch endpoints were not measured): log ‖H‖_F and log λ_max fall with log η/S, and validation
accuracy rises with it (Spearman's ρ of the per-pair seed means, decided when significant at ``ALPHA`` = 0.05,
two-sided: the stated sign holds, the other fails, else inconclusive; until issue 16 these were ρ ≤ −0.8 and ρ >
0), and the size of that rise (OLS slope on log10 η/S times the decades spanned, with the slope's 95% interval)
exceeds ``EFFECT_OVER_SPREAD`` × the pooled sample std over the pairs' seeds (inconclusive below 3 levels, MIN_SEEDS
− 1 dof or a spread of 0; until 2026-12-08 the point slope against the mean of the pairs' std with ddof = 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from sgdnoise import plots
from sgdnoise.analysis.effects import MIN_SEEDS, monotone_trend
from sgdnoise.data import TaskData
from sgdnoise.engine import TrainConfig
from sgdnoise.experiments.base import Experiment, Figure, RunContext
from sgdnoise.experiments.claims import JASTRZEBSKI_2018, ClaimSpec, ClaimTest, NotEnoughData, Verdict
from sgdnoise.experiments.grid import nullable
from sgdnoise.experiments.jastrzebski_2018.setup import (
    BudgetedSetup,
    budget_steps,
    first_reached,
    noise_pairs,
    spec_model,
    spec_task,
)
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.measurements import HessianNorm, LambdaMax
from sgdnoise.models import ModelSpec
from sgdnoise.sweep import Sweep, SweepRun, SweptRun

ALPHA = 0.05  # a trend with η/S is decided when Spearman's ρ is significant at this level (two-sided)
EFFECT_OVER_SPREAD = 2.0  # the validation-accuracy effect counts as resolved above 2× the seed spread
# where each run is measured: after the same number of epochs for every pair, min_epochs (the paper's "each
# experiment is run for 200 epochs"), and, as this project's matched endpoints, where it first reaches the
# training-accuracy or the training-loss target
TARGETS = ("end", "accuracy", "loss")


@dataclass(frozen=True)
class SharpnessSpec(BudgetedSetup):
    """The (η, S) grid, seeds, task, model and the two targets.

    Phase-1 budget per pair: ``budget(η, S, n_train)``. ``accuracy_target``:
    training accuracy of the matched-accuracy endpoints (the paper's "approximately 100%");
    ``loss_target``: training loss of the matched-loss control. Both fixed before any run.
    """

    learning_rates: tuple[float, ...]
    batch_sizes: tuple[int, ...]
    momentum: float = 0.0
    accuracy_target: float = 0.99
    loss_target: float = 0.05
    eval_points: int = 150
    hessian_samples: int = 20
    measure_examples: int = 1000
    lanczos_iterations: int = 30

    def __post_init__(self) -> None:
        noise_pairs(self.learning_rates, self.batch_sizes)
        if self.seeds < 1 or self.min_epochs <= 0 or self.eta_time < 0:
            raise ValueError("need seeds >= 1, min_epochs > 0 and eta_time >= 0")
        if not 0 < self.accuracy_target <= 1 or self.loss_target <= 0:
            raise ValueError("accuracy_target must lie in (0, 1] and loss_target be > 0")
        super().__post_init__()

    def pairs(self) -> list[tuple[float, int]]:
        return noise_pairs(self.learning_rates, self.batch_sizes)


class SeedEndpoint(TypedDict):
    """One seed of one pair at one target: the step measured (None: never reached, or the run did not finish)
    and its measurements."""

    seed: int
    step: int | None
    epoch: float | None
    train_acc: float | None
    train_loss: float | None
    validation_acc: float | None
    test_acc: float | None
    hessian_norm: float | None
    hessian_norm_stderr: float | None
    lambda_max: float | None


class PairRow(TypedDict):
    learning_rate: float
    batch_size: int
    noise: float
    seeds: list[SeedEndpoint]


class BudgetRow(TypedDict):
    """A pair's phase-1 budget and where its runs ended."""

    learning_rate: float
    batch_size: int
    budget_steps: int
    budget_epochs: float
    final_train_acc: list[float | None]
    final_train_loss: list[float | None]
    status: list[str]


class SharpnessData(TypedDict):
    """The numbers behind Fig. 1 and its claims: per target (``end``, ``accuracy``, ``loss``) one row per pair."""

    targets: dict[str, list[PairRow]]
    budgets: list[BudgetRow]
    n_train: int
    seeds: list[int]
    accuracy_target: float
    loss_target: float


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


def settings(spec: SharpnessSpec) -> dict[str, Any]:
    """The spec, the Hessian's finite-difference step and the stopping rule."""
    return spec_to_dict(spec) | {
        **hessian_step_settings(sharpness_measurements(spec)[0]),
        "stopping": "phase 1 budget; phase 2 retrained to min_epochs (where the budget is longer) and to the first "
        "eval step reaching each target",
    }


def _config(
    spec: SharpnessSpec, model: ModelSpec, lr: float, batch: int, steps: int, seed: int, eval_points: int
) -> TrainConfig:
    return TrainConfig(model, lr, batch, steps=steps, momentum=spec.momentum, seed=seed, eval_points=eval_points)


def _endpoint(seed: int, step: int | None, batch: int, n_train: int, end: SweptRun | None) -> SeedEndpoint:
    ok = end is not None and end.status == "finished"
    m = end.metrics if ok else {}
    meas = end.measurements if ok else {}
    return {
        "seed": seed,
        "step": step,
        "epoch": None if step is None else step * batch / n_train,
        "train_acc": m.get("train_acc"),
        "train_loss": m.get("train_loss"),
        "validation_acc": m.get("validation_acc"),
        "test_acc": m.get("test_acc"),
        "hessian_norm": meas.get("hessian_norm", {}).get("value"),
        "hessian_norm_stderr": meas.get("hessian_norm", {}).get("stderr"),
        "lambda_max": meas.get("lambda_max", {}).get("value"),
    }


def run(spec: SharpnessSpec, ctx: RunContext) -> SharpnessData:
    """Phase 1 (full budgets) and phase 2 (every run retrained to the step where it first reached each
    target, then measured); returns per pair and seed the numbers behind Fig. 1."""
    name, factory = spec_task(spec)
    model = spec_model(spec)
    n_train = _n_train_of(spec, factory)
    pairs = spec.pairs()
    seeds = [ctx.seed + i for i in range(spec.seeds)]
    budgets = {p: spec.budget(p[0], p[1], n_train) for p in pairs}
    phase1 = [
        SweepRun(_config(spec, model, lr, b, budgets[(lr, b)], seed, spec.eval_points), task=name)
        for lr, b in pairs
        for seed in seeds
    ]
    swept = ctx.sweep(
        Sweep("jastrzebski-sharpness-budget", {name: factory}, phase1, measurements=sharpness_measurements(spec))
    )
    ctx.decided_by_results(
        "phase 2: every run retrained to where it first reached each target (and to min_epochs where its budget is "
        "longer), then its Hessian measured"
    )
    hits: dict[tuple[str, float, int, int], int | None] = {}
    phase1_ends: dict[tuple[float, int, int, int], SweptRun] = {}  # keyed with step -1, apart from phase 2's steps
    for run_, result in zip(phase1, swept, strict=True):
        lr, b, seed = float(run_.config.learning_rate(0.0)), int(run_.config.batch_size(0.0)), run_.config.seed
        phase1_ends[(lr, b, seed, -1)] = result
        finished = result.status == "finished"
        same_epochs = budget_steps(lr, b, n_train, spec.min_epochs, 0.0)  # the paper's endpoint: equal epochs
        # -1: phase 1's own end (its budget is min_epochs), else phase 2 retrains the run to min_epochs
        hits[("end", lr, b, seed)] = (-1 if same_epochs == budgets[(lr, b)] else same_epochs) if finished else None
        hits[("accuracy", lr, b, seed)] = (
            first_reached(result.history, "train_acc", spec.accuracy_target, above=True) if finished else None
        )
        hits[("loss", lr, b, seed)] = (
            first_reached(result.history, "train_loss", spec.loss_target, above=False) if finished else None
        )
    endpoint_steps = sorted({(lr, b, seed, s) for (_, lr, b, seed), s in hits.items() if s is not None and s > 0})
    endpoints = dict(phase1_ends)
    if endpoint_steps:
        phase2 = [SweepRun(_config(spec, model, lr, b, s, seed, 0), task=name) for lr, b, seed, s in endpoint_steps]
        measured = ctx.sweep(
            Sweep("jastrzebski-sharpness-endpoints", {name: factory}, phase2, measurements=sharpness_measurements(spec))
        )
        endpoints |= dict(zip(endpoint_steps, measured, strict=True))
    rows: dict[str, list[PairRow]] = {target: [] for target in TARGETS}
    for target in TARGETS:
        for lr, b in pairs:
            per_seed = []
            for seed in seeds:
                step = hits[(target, lr, b, seed)]
                end = endpoints.get((lr, b, seed, step)) if step else None
                shown = budgets[(lr, b)] if step == -1 else step
                per_seed.append(_endpoint(seed, shown, b, n_train, end))
            rows[target].append({"learning_rate": lr, "batch_size": b, "noise": lr / b, "seeds": per_seed})
    budget_rows: list[BudgetRow] = [
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
    return {
        "targets": rows,
        "budgets": budget_rows,
        "n_train": n_train,
        "seeds": seeds,
        "accuracy_target": spec.accuracy_target,
        "loss_target": spec.loss_target,
    }


def _is_pair(run_: SweptRun, lr: float, batch: int) -> bool:
    config = run_.run.config
    return float(config.learning_rate(0.0)) == lr and int(config.batch_size(0.0)) == batch


# ---- claims -------------------------------------------------------------------------------------------------


def pair_means(rows: Sequence[Mapping[str, Any]], quantity: str, *, log: bool = False) -> dict[str, list[float | None]]:
    """Per pair: mean and sample std (ddof = 1; NaN below two) over the seeds that reached the target (log: of the
    natural log)."""
    means, stds, counts = [], [], []
    for row in rows:
        values = [s[quantity] for s in row["seeds"] if s.get(quantity) is not None and math.isfinite(s[quantity])]
        if log:
            values = [math.log(v) for v in values if v > 0]
        means.append(float(np.mean(values)) if values else math.nan)
        # equal seeds have a spread of exactly 0 (np.std can leave a rounding residue of their mean)
        stds.append(math.nan if len(values) < 2 else float(np.std(values, ddof=1)) if np.ptp(values) else 0.0)
        counts.append(len(values))
    return {"mean": nullable(means), "std": nullable(stds), "count": counts}


def _trend(rows: Sequence[PairRow], quantity: str, direction: Literal[1, -1], log_y: bool) -> Verdict:
    """Whether the per-pair seed mean of ``quantity`` (log when ``log_y``) rises (+1) or falls (−1) with log η/S:
    ``analysis.effects.monotone_trend`` (Spearman ρ, two-sided p < ALPHA), over the pairs some seed reached."""
    means = plots.as_float_array(pair_means(rows, quantity)["mean"])
    noise = np.asarray([r["noise"] for r in rows], float)
    y = np.log(np.where(means > 0, means, np.nan)) if log_y else means
    trend = monotone_trend(np.log(noise), y, direction=direction, alpha=ALPHA)
    return Verdict(trend.outcome, {"spearman_rho": trend.rho, "p_value": trend.p_value, "pairs": trend.n}, trend.reason)


def _unreached_note(rows: Sequence[PairRow]) -> str:
    counts = pair_means(rows, "validation_acc")["count"]
    unreached = [f"η={r['learning_rate']:g},S={r['batch_size']}" for r, c in zip(rows, counts, strict=True) if c == 0]
    return (
        f"{len(unreached)} of {len(rows)} pairs never reached the target (or never finished): {', '.join(unreached)}"
        if unreached
        else ""
    )


def hessian_falls(target: str) -> Callable[[SharpnessData], Verdict]:
    def check(data: SharpnessData) -> Verdict:
        rows = data["targets"][target]
        verdict = _trend(rows, "hessian_norm", -1, log_y=True)
        unreached = _unreached_note(rows)
        return Verdict(verdict.outcome, verdict.value, "; ".join(filter(None, (verdict.reason, unreached))))

    return check


def lambda_max_falls(target: str) -> Callable[[SharpnessData], Verdict]:
    def check(data: SharpnessData) -> Verdict:
        return _trend(data["targets"][target], "lambda_max", -1, log_y=True)

    return check


def validation_rises(target: str) -> Callable[[SharpnessData], Verdict]:
    def check(data: SharpnessData) -> Verdict:
        return _trend(data["targets"][target], "validation_acc", 1, log_y=False)

    return check


def validation_effect(target: str) -> Callable[[SharpnessData], Verdict]:
    def check(data: SharpnessData) -> Verdict:
        rows = data["targets"][target]
        val = pair_means(rows, "validation_acc")
        acc = plots.as_float_array(val["mean"])
        ok = np.isfinite(acc)
        log_noise = np.log10(np.asarray([r["noise"] for r in rows], float))
        pooled = [(c - 1, sd) for sd, c in zip(val["std"], val["count"], strict=True) if sd is not None and c >= 2]
        dof = sum(d for d, _ in pooled)
        spread = math.sqrt(sum(d * sd**2 for d, sd in pooled) / dof) if dof else math.nan
        if ok.sum() < 3 or dof < MIN_SEEDS - 1 or not spread > 0:
            raise NotEnoughData(
                f"{int(ok.sum())} levels with a validation accuracy (3 needed), spread {spread:.3g} on {dof} dof"
            )
        fit = stats.linregress(log_noise[ok], acc[ok])
        decades = float(log_noise[ok].max() - log_noise[ok].min())
        effect = float(fit.slope) * decades
        half = float(stats.t.ppf(0.975, int(ok.sum()) - 2) * fit.stderr) * decades  # the slope's 95% interval
        bar = EFFECT_OVER_SPREAD * spread
        outcome = "holds" if effect - half > bar else "fails" if effect + half < bar else "inconclusive"
        return Verdict(
            outcome,
            {
                "slope_per_decade": float(fit.slope),
                "decades": decades,
                "effect": effect,
                "effect_interval": [effect - half, effect + half],
                "seed_spread": spread,
                "effect_over_spread": effect / spread,
            },
            f"effect {100 * effect:.2f} ± {100 * half:.2f} points, bar {100 * bar:.2f} (seed std {100 * spread:.2f})",
        )

    return check


HESSIAN_QUOTE = "As n grows, we observe that the norm of the Hessian at the minima also decreases"
VALIDATION_QUOTE = "confirms that better generalization correlates with higher n"
AT = {
    "end": "after min_epochs epochs for every pair (the paper's endpoint, 'each experiment is run for 200 epochs': "
    "200 at paper scale, 50 at quick scale)",
    "accuracy": "at matched training accuracy (endpoints stopped where training accuracy first reaches "
    "accuracy_target, 0.99 at both scales; this project's control)",
    "loss": "at matched training loss (endpoints stopped where training loss first falls to loss_target, 0.05 at "
    "both scales; this project's control)",
}
RHO_TEST = ClaimTest(
    "Spearman ρ of log per-pair seed means against log η/S (pairs where some seed reached the endpoint), two-sided p",
    "holds if ρ < 0 with p < ALPHA, fails if ρ > 0 with p < ALPHA, else inconclusive (until issue 16: ρ ≤ −0.8)",
    {"ALPHA": ALPHA},
)


def _target_claims(target: str) -> list[ClaimSpec[SharpnessData]]:
    kind = "paper" if target == "end" else "extension"
    control = {"accuracy": "matched training accuracy", "loss": "matched training loss"}.get(target)
    where = f"§4.1, Fig. 1a ({control}: this project's control)" if control else "§4.1, Fig. 1a"
    return [
        ClaimSpec(
            id=f"fig1/hessian-norm-falls-{target}",
            statement=f"log ‖H‖_F falls with log η/S {AT[target]}",
            kind=kind,
            provenance=JASTRZEBSKI_2018.cite(where, HESSIAN_QUOTE),
            test=RHO_TEST,
            check=hessian_falls(target),
        ),
        ClaimSpec(
            id=f"fig1/lambda-max-falls-{target}",
            statement=f"log λ_max falls with log η/S {AT[target]} (exact Hessian-vector products, no kinks)",
            kind="extension",
            provenance=JASTRZEBSKI_2018.cite("§4.1, Fig. 1a (λ_max: this project's kink-free check)", HESSIAN_QUOTE),
            test=RHO_TEST,
            check=lambda_max_falls(target),
        ),
        ClaimSpec(
            id=f"fig1/validation-rises-{target}",
            statement=f"validation accuracy rises with η/S {AT[target]}",
            kind=kind,
            provenance=JASTRZEBSKI_2018.cite(where.replace("1a", "1b"), VALIDATION_QUOTE),
            test=ClaimTest(
                "Spearman ρ of per-pair mean validation accuracy against log η/S, two-sided p",
                "holds if ρ > 0 with p < ALPHA, fails if ρ < 0 with p < ALPHA, else inconclusive "
                "(until issue 16: ρ > 0)",
                {"ALPHA": ALPHA},
            ),
            check=validation_rises(target),
        ),
        ClaimSpec(
            id=f"fig1/validation-effect-{target}",
            statement=f"the rise of validation accuracy over the η/S span exceeds {EFFECT_OVER_SPREAD:g}× the seed "
            f"spread {AT[target]}",
            kind="extension",
            provenance=JASTRZEBSKI_2018.cite("§4.1, Fig. 1b (effect size: this project's check)", VALIDATION_QUOTE),
            test=ClaimTest(
                "OLS slope of per-pair mean validation accuracy on log10 η/S × decades spanned, over the seed spread "
                "(pooled sample std over the pairs' seeds)",
                "holds when the slope's 95% interval puts the effect above EFFECT_OVER_SPREAD × seed spread, fails "
                "when below, else inconclusive (also below 3 noise levels, MIN_SEEDS − 1 dof or a spread of 0)",
                {"EFFECT_OVER_SPREAD": EFFECT_OVER_SPREAD, "MIN_SEEDS": MIN_SEEDS},
            ),
            check=validation_effect(target),
        ),
    ]


CLAIMS = tuple(claim for target in TARGETS for claim in _target_claims(target))


# ---- figure -------------------------------------------------------------------------------------------------


def _seed_mean(rows: Sequence[PairRow], quantity: str) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, the mean over seeds and its error bar, the sample std (ddof = 1; none with one seed)."""
    values = [[s[quantity] for s in row["seeds"] if s.get(quantity) is not None] for row in rows]
    means = [np.mean(v) if v else np.nan for v in values]
    stds = [np.std(v, ddof=1) if len(v) > 1 else np.nan for v in values]
    return np.asarray(means, float), np.asarray(stds, float)


def draw_fig1(data: SharpnessData, fig_dir: Path) -> Path:
    """Fig. 1 (a) log ‖H‖_F and (b) validation accuracy vs η/S, plus λ_max; one row per target (equal epochs,
    matched training accuracy, matched training loss); colour = batch size."""
    targets = list(data["targets"])
    fig, axes = plt.subplots(len(targets), 3, figsize=(13, 3.6 * len(targets)), squeeze=False)
    end_epochs = {s["epoch"] for r in data["targets"].get("end", []) for s in r["seeds"] if s.get("epoch") is not None}
    labels = {
        "end": f"after {min(end_epochs):.3g} epochs" if end_epochs else "equal epochs",  # ceil(steps): ≥ min_epochs
        "accuracy": f"train acc ≥ {data.get('accuracy_target')}",
        "loss": f"train loss ≤ {data.get('loss_target')}",
    }
    for row_axes, target in zip(axes, targets, strict=True):
        rows = data["targets"][target]
        batches = sorted({r["batch_size"] for r in rows})
        colours = plt.cm.viridis(np.linspace(0, 0.9, len(batches)))
        for quantity, ax, ylabel, log in (
            ("hessian_norm", row_axes[0], "‖H‖_F (finite differences)", True),
            ("validation_acc", row_axes[1], "validation accuracy", False),
            ("lambda_max", row_axes[2], "λ_max (Lanczos)", True),
        ):
            for batch, colour in zip(batches, colours, strict=True):
                subset = [r for r in rows if r["batch_size"] == batch]
                mean, std = _seed_mean(subset, quantity)
                x = [r["noise"] for r in subset]
                ax.errorbar(x, mean, yerr=std, fmt="o", color=colour, label=f"S={batch}", capsize=2)
            ax.set_xscale("log")
            if log and any(v > 0 for r in rows for s in r["seeds"] if (v := s.get(quantity)) is not None):
                ax.set_yscale("log")
            ax.set_xlabel("η/S")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{ylabel.split(' (')[0]} — {labels.get(target, target)}", fontsize=9)
        row_axes[0].legend(fontsize=7)
    fig.suptitle("Jastrzębski et al. 2018 Fig. 1: η/S vs sharpness and validation accuracy")
    fig.tight_layout()
    return plots.save(fig, fig_dir / "fig1_sharpness.png")


EXPERIMENT = Experiment(
    name="jastrzebski-sharpness",
    description="BN-MLP, Fashion-MNIST: ‖H‖_F, λ_max, validation accuracy vs η/S after equal epochs and at "
    "matched train accuracy / loss (Fig. 1).",
    title="η/S vs ‖H‖_F, λ_max and validation accuracy after equal epochs and at matched training accuracy / "
    "loss (Fig. 1)",
    paper="Jastrzębski et al. 2018, §4.1 Fig. 1, App. F.1",
    specs={
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
        # paper (§4.1, Fig. 1): the 4-layer batch-normalised ReLU MLP on Fashion-MNIST (28×28, not pooled),
        # each run 200 epochs, η ∈ [5e-3, 1e-1] × S ∈ [25, 1000]. The paper gives the ranges, not the grid:
        # five η and six S spanning them are our choice, as are the 5000 validation images held out of the
        # 60000 (the paper reports validation accuracy without the split), two seeds, the width 256 (not
        # given) and momentum 0 (the paper's SGD has none in §4.1's runs of Fig. 2).
        "paper": SharpnessSpec(
            learning_rates=(0.005, 0.01, 0.02, 0.05, 0.1),
            batch_sizes=(25, 50, 100, 250, 500, 1000),
            seeds=2,
            n_train=55_000,
            validation=5000,
            n_test=10_000,
            min_epochs=200,
            eta_time=0.0,
            dataset="fashion-mnist",
            model="bn-mlp",
            pool=None,
            eval_points=200,
        ),
    },
    tiny={
        "quick": {
            "dataset": "standin",
            "learning_rates": "0.05,0.2",
            "batch_sizes": "8,16",
            "seeds": 2,
            "n_train": 32,
            "validation": 16,
            "n_test": 16,
            "min_epochs": 3,
            "eta_time": 0,
            "width": 16,
            "depth": 2,
            "accuracy_target": 0.5,
            "loss_target": 1.5,
            "eval_points": 20,
            "hessian_samples": 2,
            "measure_examples": 16,
            "lanczos_iterations": 3,
        },
        "paper": {  # one smoke step of the paper's MLP (full width and depth) on CIFAR-shaped stand-in data
            "dataset": "standin",
            "learning_rates": "0.1",
            "batch_sizes": "4",
            "seeds": 1,
            "n_train": 8,
            "validation": 4,
            "n_test": 4,
            "min_epochs": 0.5,
            "accuracy_target": 0.01,
            "loss_target": 100.0,
            "eval_points": 1,
            "hessian_samples": 2,
            "measure_examples": 4,
            "lanczos_iterations": 2,
        },
    },
    run=run,
    claims=CLAIMS,
    figures=(Figure("fig1", draw_fig1, SharpnessData),),
    settings=settings,
)
