"""The pilot (steps 1–4 of the package docstring, ``sgdnoise.advisor``): gradient noise and curvature at
initialisation, the temperature scan at a small batch size and its optimum, gradient noise pooled over the
scan runs near that optimum."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor, nn

from sgdnoise import analysis, theory
from sgdnoise.advisor.prediction import BUDGET_EXPONENT
from sgdnoise.advisor.problem import Budget, Problem
from sgdnoise.advisor.training import as_model_data, fresh_model, train_run
from sgdnoise.instruments import hessian_eigenvalues, minibatch_gradient_noise, recalibrate_batch_norm
from sgdnoise.instruments._batches import forked_random_state
from sgdnoise.validation import positive_int

GRID_RATIO = 2.0
SCAN_START = 2.0**-2  # the scan's centre, × ε_stab
SCAN_POINTS = 3  # the scan's initial grid: the centre and one point either side
MAX_SCAN_POINTS = 7
SCAN_FIT_HALFWIDTH = 2  # the parabola through the best scan point and up to 2 points either side
MIN_PILOT_STEPS = 8
FORWARD_COST = 1.0 / 3.0  # a forward-only pass, in forward+backward passes
MIDDLE_READING = 0.5  # B_simple at this fraction of the first scan run that finishes (the trajectory shown)
CURVATURE_TOL = 0.1  # Lanczos residual ≤ 0.1·λ_max: λ_max within 12% of its tol = 1e-2 value, at ~half the cost
MEASUREMENT_BATCH = 64  # batch-norm statistics are re-estimated over batches of this size


@dataclass(frozen=True)
class PilotSettings:
    """What the pilot spends: ``pilot_fraction`` of the budget per scan run, ``pilot_seeds`` seeds per scan
    point, ``noise_examples`` (≥ 2) training examples for B_simple, ``curvature_examples`` for λ_max."""

    pilot_fraction: float = 0.5
    pilot_seeds: int = 1
    noise_examples: int = 256
    curvature_examples: int = 128

    def __post_init__(self) -> None:
        fraction = self.pilot_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0.0 < fraction <= 1.0:
            raise ValueError(f"pilot_fraction must lie in (0, 1], got {fraction!r}")
        positive_int("pilot_seeds", self.pilot_seeds)
        positive_int("noise_examples", self.noise_examples, minimum=2)
        positive_int("curvature_examples", self.curvature_examples)


@dataclass(frozen=True)
class ScanRun:
    """One short run of the temperature scan: its effective learning rate, seed, validation score (None:
    diverged) and gradient-noise readings (tr Σ, |G|²): ``noise_end`` at its end for the first seed's runs
    within ×2 of ε₀ (the pooled ones), ``noise_middle`` at ``MIDDLE_READING`` of the first run to finish;
    else None."""

    lr_eff: float
    seed: int
    score: float | None
    noise_end: tuple[float, float] | None = None
    noise_middle: tuple[float, float] | None = None


@dataclass(frozen=True)
class Pilot:
    """What the pilot measured: B_simple and λ_max at init, the stability bound, the scan and its optimum."""

    batch_size: int
    steps_per_run: int
    noise_scale_simple_init: float
    max_eigenvalue_init: float
    critical_lr: float
    stability_lr_eff: float
    runs: tuple[ScanRun, ...]
    lr_eff_opt: float
    lr_eff_low: float
    lr_eff_high: float
    at_edge: bool
    budget_fraction: float
    cost_passes: float

    @property
    def noise_scale_end(self) -> float:
        """B_simple late in training: ``pooled_noise_scale`` over the end readings of the scan runs within ×2
        of ε₀ (no reading: B_simple at initialisation)."""
        ends = [r.noise_end for r in self.runs if r.noise_end is not None]
        return pooled_noise_scale(ends) if ends else self.noise_scale_simple_init

    @property
    def budget_correction(self) -> float:
        """f^α: the scan ran ``budget_fraction`` = f of the budget; the optimal ε falls with the budget as
        budget^-α (``BUDGET_EXPONENT``), so the full budget's optimum is ε₀·f^α."""
        return self.budget_fraction**BUDGET_EXPONENT

    @property
    def temperature(self) -> float:
        """T = ε₀·f^α/B₀ at the full budget."""
        return self.lr_eff_opt * self.budget_correction / self.batch_size

    def noise_trajectory(self) -> list[tuple[float, float]]:
        """(fraction of the run, B_simple): at init, the middle of the first scan run to finish, and the pooled
        end reading near ε₀ (``noise_scale_end``)."""
        middle = [(MIDDLE_READING, pooled_noise_scale([r.noise_middle])) for r in self.runs if r.noise_middle]
        return [(0.0, self.noise_scale_simple_init), *middle[:1], (1.0, self.noise_scale_end)]


def near(lr_eff: float, centre: float, ratio: float = GRID_RATIO) -> bool:
    """Whether ``lr_eff`` lies within ×/÷ ``ratio`` of ``centre``."""
    return abs(math.log(lr_eff / centre)) <= math.log(ratio) * (1 + 1e-9)


def _subset(data: tuple[Tensor, Tensor], size: int, seed: int) -> tuple[Tensor, Tensor]:
    index = torch.randperm(data[0].shape[0], generator=torch.Generator().manual_seed(seed))[:size]
    return data[0][index], data[1][index]


def _noise_parts(model: nn.Module, problem: Problem, subset: tuple[Tensor, Tensor]) -> tuple[float, float]:
    """(tr Σ, |G|²) of the training set from the ``subset`` (unbiased estimates, McCandlish et al. App. A.1;
    ``instruments.minibatch_gradient_noise``), in eval mode after re-estimating any batch-norm statistics on
    it (per-example gradients are undefined under train-mode batch norm; as ``sed-epoch-budget`` measures it).
    The |G|² estimate can be ≤ 0 when the noise swamps the signal. Torch's random state is left as it was: a
    reading during a scan run does not move that run's later dropout draws."""
    with forked_random_state(next(model.parameters()).device):
        recalibrate_batch_norm(model, subset[0].split(MEASUREMENT_BATCH))
        n = problem.train[0].shape[0]
        estimate = minibatch_gradient_noise(model, problem.loss_fn, *subset, train_size=n, train_mode=False)
    return float(estimate.covariance_trace), float(estimate.mean_grad_sq_norm)


def pooled_noise_scale(parts: Sequence[tuple[float, float]]) -> float:
    """B_simple from several readings (tr Σ_i, |G|²_i): the ratio of the pooled means, Σ tr Σ_i / Σ |G|²_i
    (McCandlish et al. 2018 App. A.1 estimate the numerator and the denominator separately and average each
    before taking the ratio, because the ratio of one noisy |G|² estimate is biased and heavy-tailed); inf
    when the pooled |G|² is ≤ 0."""
    if not parts:
        raise ValueError("pooling B_simple needs at least one reading")
    trace, g2 = (math.fsum(p[i] for p in parts) for i in (0, 1))
    return trace / g2 if g2 > 0 else math.inf


def next_exponent(ordered: Sequence[int], means: np.ndarray) -> int | None:
    """The scan's next grid exponent k (ε_eff = ε_stab·SCAN_START·2^k), or None when the optimum is interior.
    ``ordered``: the exponents run so far (consecutive, increasing); ``means``: their mean scores, higher is
    better, -inf where every seed diverged. An optimum at an edge extends the grid by one ×2 step past it
    (SED §4: an optimum at the edge is only a bound); every run diverged: lower."""
    best = int(np.argmax(means)) if np.isfinite(means).any() else 0
    if best == 0:
        return ordered[0] - 1
    if best == len(ordered) - 1:
        return ordered[-1] + 1
    return None


def _oriented_means(table: np.ndarray, maximize: bool) -> np.ndarray:
    """Per grid point the mean score over the seeds that finished, higher is better; -inf where all diverged."""
    done = np.isfinite(table)
    means = np.where(done, table, 0.0).sum(axis=1) / np.maximum(done.sum(axis=1), 1)
    return np.where(done.any(axis=1), means if maximize else -means, -np.inf)


def _scan_optimum(lrs: list[float], scores: np.ndarray, keep: int, maximize: bool) -> tuple[float, float, float, bool]:
    """(ε₀, low, high, at_edge): the protocol's optimum and band (``scores`` [grid, seeds]), refined by the
    parabola in log ε through the mean over seeds at the best point and ``SCAN_FIT_HALFWIDTH`` points either
    side (least squares: with one seed, neighbouring learning rates average the seed noise)."""
    tuned = analysis.tune_best_k_of_n(lrs, scores, keep, maximize=maximize)
    refined = tuned.value
    if not tuned.at_edge:
        refined = analysis.optimum_on_grid(lrs, scores.T, maximize=maximize, fit_halfwidth=SCAN_FIT_HALFWIDTH).refined
    low = min(tuned.band_lower, refined / GRID_RATIO)
    high = max(tuned.band_upper, refined * GRID_RATIO)
    return float(refined), float(low), float(high), bool(tuned.at_edge)


def run_pilot(
    problem: Problem,
    candidates: Sequence[int],
    *,
    budget: Budget,
    momentum: float,
    seed: int,
    device: torch.device,
    settings: PilotSettings,
    show_progress: bool,
) -> Pilot:
    """Steps 1–4 of the package docstring."""
    from tqdm.auto import tqdm

    pilot_fraction, pilot_seeds = settings.pilot_fraction, settings.pilot_seeds
    noise_examples, curvature_examples = settings.noise_examples, settings.curvature_examples
    n = problem.train[0].shape[0]
    with forked_random_state(device):
        model = fresh_model(problem, seed, device)
        noise_subset = as_model_data(_subset(problem.train, min(noise_examples, n), seed), model)
        curvature_subset = as_model_data(_subset(problem.train, min(curvature_examples, n), seed + 1), model)
        b_simple = pooled_noise_scale([_noise_parts(model, problem, noise_subset)])
        eigen = hessian_eigenvalues(
            model, problem.loss_fn, curvature_subset, k=1, tol=CURVATURE_TOL, seed=seed, train_mode=False
        )
    cost = float(noise_subset[0].shape[0]) + 2.0 * eigen.n_matvecs * curvature_subset[0].shape[0]
    lam = float(eigen.eigenvalues[0])
    if not lam > 0:
        raise ValueError(f"the Hessian at initialisation has no positive curvature (λ_max = {lam:.3g}): no ceiling")
    critical = float(theory.critical_learning_rate(lam))
    stability = critical * (1.0 + momentum) / (1.0 - momentum)
    fitting = [b for b in candidates if b <= b_simple / 2 and budget.steps_at(b, n, pilot_fraction) >= MIN_PILOT_STEPS]
    batch = fitting[-1] if fitting else candidates[0]
    steps = budget.steps_at(batch, n, pilot_fraction)
    if steps < MIN_PILOT_STEPS:
        raise ValueError(
            f"the budget ({budget.describe()}) is too small for a pilot: {pilot_fraction:g} of it is {steps} updates "
            f"at the pilot batch size {batch} (at least {MIN_PILOT_STEPS} needed)"
        )
    half = SCAN_POINTS // 2
    exponents = list(range(-half, SCAN_POINTS - half))
    scores: dict[int, list[ScanRun]] = {}
    kept: dict[int, nn.Module] = {}  # the first seed's trained models near the best so far, read at the end
    have_middle = False
    maximize = problem.objective == "accuracy"
    validation_passes = problem.validation[0].shape[0] * FORWARD_COST
    description = f"advisor pilot scan at B = {batch} (adaptive: {SCAN_POINTS} to {MAX_SCAN_POINTS} learning rates)"
    with tqdm(desc=description, unit="run", disable=not show_progress) as bar:  # no total: the scan extends as needed
        while True:
            for k in exponents:
                lr_eff = stability * SCAN_START * GRID_RATIO**k
                runs = []
                for s in range(pilot_seeds):
                    middle: list[tuple[float, float]] = []
                    model, score = train_run(
                        problem,
                        batch_size=batch,
                        lr_eff=lr_eff,
                        momentum=momentum,
                        steps=steps,
                        seed=seed + s,
                        device=device,
                        probe=lambda m, middle=middle: middle.append(_noise_parts(m, problem, noise_subset)),
                        probe_steps=[round(MIDDLE_READING * steps)] if s == 0 and not have_middle else [],
                    )
                    cost += steps * batch + validation_passes + len(middle) * noise_subset[0].shape[0]
                    if model is not None and s == 0:
                        kept[k] = model
                    keep_middle = model is not None and bool(middle)  # a diverged run's reading is dropped
                    have_middle = have_middle or keep_middle
                    runs.append(ScanRun(lr_eff, seed + s, score, None, middle[0] if keep_middle else None))
                    bar.update(1)
                scores[k] = runs
            ordered = sorted(scores)
            table = np.array([[np.nan if r.score is None else r.score for r in scores[k]] for k in ordered])
            finished = np.isfinite(table).any(axis=1)
            oriented = _oriented_means(table, maximize)
            best = ordered[int(np.argmax(oriented))]
            kept = {k: m for k, m in kept.items() if abs(k - best) <= 2}  # the runs ε₀'s ×2 neighbourhood can reach
            grow = next_exponent(ordered, oriented)
            if grow is None or len(scores) >= MAX_SCAN_POINTS:
                break
            exponents = [grow]
    if not finished.any():
        lowest = stability * SCAN_START * GRID_RATIO ** ordered[0]
        raise ValueError(
            f"the model diverged at every tried learning rate (ε_eff from {lowest:.3g} to "
            f"{stability * SCAN_START * GRID_RATIO ** ordered[-1]:.3g} at B = {batch}); check the model and the loss"
        )
    lrs = [stability * SCAN_START * GRID_RATIO**k for k in ordered]
    keep = max(1, pilot_seeds - 1) if pilot_seeds > 2 else pilot_seeds
    value, low, high, at_edge = _scan_optimum(lrs, table, keep, maximize)
    lr_of = dict(zip(ordered, lrs, strict=True))
    read = [k for k in kept if near(lr_of[k], value)]
    if not read and kept:  # the parabola's vertex lies more than ×2 from every kept run: the nearest
        read = [min(kept, key=lambda k: abs(math.log(lr_of[k] / value)))]
    all_runs = []
    for k in ordered:
        for run in scores[k]:
            if run.seed == seed and k in read:
                run = replace(run, noise_end=_noise_parts(kept[k], problem, noise_subset))
                cost += noise_subset[0].shape[0]
            all_runs.append(run)
    return Pilot(
        batch,
        steps,
        b_simple,
        lam,
        critical,
        stability,
        tuple(all_runs),
        value,
        low,
        high,
        at_edge,
        pilot_fraction,
        cost,
    )
