"""The pilot (steps 1–3 of the package docstring, ``sgdnoise.advisor``): gradient noise and curvature at
initialisation, the temperature scan at a small batch size and its optimum."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from sgdnoise import analysis, theory
from sgdnoise.advisor.prediction import BUDGET_EXPONENT
from sgdnoise.advisor.problem import Budget, Problem
from sgdnoise.advisor.training import _model, _own_rng, train_run
from sgdnoise.instruments import hessian_eigenvalues, minibatch_gradient_noise, recalibrate_batch_norm

GRID_RATIO = 2.0
SCAN_START = 2.0**-3  # the scan's first grid point, × ε_stab
SCAN_POINTS = 3  # the scan's initial grid
MAX_SCAN_POINTS = 7
MIN_PILOT_STEPS = 8
FORWARD_COST = 1.0 / 3.0  # a forward-only pass, in forward+backward passes
READINGS = (0.5, 1.0)  # B_simple during each scan run, as fractions of it
MEASUREMENT_BATCH = 64  # batch-norm statistics are re-estimated over batches of this size


@dataclass(frozen=True)
class ScanRun:
    """One short run of the temperature scan: its effective learning rate, seed, validation score (None:
    diverged) and, for the first seed, B_simple at ``READINGS`` of the run (the last at its end)."""

    lr_eff: float
    seed: int
    score: float | None
    noise_scale_simple: tuple[float, ...]


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
    def budget_correction(self) -> float:
        """f^α: the scan ran ``budget_fraction`` = f of the budget; the optimal ε falls with the budget as
        budget^-α (``BUDGET_EXPONENT``), so the full budget's optimum is ε₀·f^α."""
        return self.budget_fraction**BUDGET_EXPONENT

    @property
    def temperature(self) -> float:
        """T = ε₀·f^α/B₀ at the full budget."""
        return self.lr_eff_opt * self.budget_correction / self.batch_size

    def noise_trajectory(self) -> list[tuple[float, float]]:
        """(fraction of the run, B_simple) from init through the scan run nearest the optimum (first seed)."""
        measured = [r for r in self.runs if r.noise_scale_simple]
        if not measured:
            return [(0.0, self.noise_scale_simple_init)]
        nearest = min(measured, key=lambda r: (abs(math.log(r.lr_eff / self.lr_eff_opt)), r.seed))
        return [(0.0, self.noise_scale_simple_init), *zip(READINGS, nearest.noise_scale_simple, strict=False)]


def _subset(data: tuple[Tensor, Tensor], size: int, seed: int, device: torch.device) -> tuple[Tensor, Tensor]:
    index = torch.randperm(data[0].shape[0], generator=torch.Generator().manual_seed(seed))[:size]
    return data[0][index].to(device), data[1][index].to(device)


def _noise_scale(model: nn.Module, problem: Problem, subset: tuple[Tensor, Tensor]) -> float:
    """B_simple of the training set from the ``subset`` (unbiased tr Σ and |G|², McCandlish et al. App. A.1;
    ``instruments.minibatch_gradient_noise``), in eval mode after re-estimating any batch-norm statistics on
    it (per-example gradients are undefined under train-mode batch norm; as ``sed-epoch-budget`` measures it).
    A |G|² estimate ≤ 0 (the noise swamps the signal) gives inf."""
    recalibrate_batch_norm(model, subset[0].split(MEASUREMENT_BATCH))
    n = problem.train[0].shape[0]
    estimate = minibatch_gradient_noise(model, problem.loss_fn, *subset, train_size=n, train_mode=False)
    return estimate.covariance_trace / estimate.mean_grad_sq_norm if estimate.mean_grad_sq_norm > 0 else math.inf


def _scan_optimum(lrs: list[float], scores: np.ndarray, keep: int, maximize: bool) -> tuple[float, float, float, bool]:
    """(ε₀, low, high, at_edge): the protocol's optimum and band (``scores`` [grid, seeds]), refined by the
    parabola in log ε through the mean over seeds."""
    tuned = analysis.tune_best_k_of_n(lrs, scores, keep, maximize=maximize)
    refined = tuned.value
    if not tuned.at_edge:
        refined = analysis.optimum_on_grid(lrs, scores.T, maximize=maximize).refined
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
    pilot_fraction: float,
    pilot_seeds: int,
    noise_examples: int,
    curvature_examples: int,
    show_progress: bool,
) -> Pilot:
    """Steps 1–3 of the package docstring."""
    from tqdm.auto import tqdm

    n = problem.train[0].shape[0]
    noise_subset = _subset(problem.train, min(noise_examples, n), seed, device)
    curvature_subset = _subset(problem.train, min(curvature_examples, n), seed + 1, device)
    with _own_rng(device):
        model = _model(problem, seed, device)
        b_simple = _noise_scale(model, problem, noise_subset)
        eigen = hessian_eigenvalues(
            model, problem.loss_fn, curvature_subset, k=1, tol=1e-2, seed=seed, train_mode=False
        )
    cost = float(noise_subset[0].shape[0]) + 2.0 * eigen.n_matvecs * curvature_subset[0].shape[0]
    lam = float(eigen.eigenvalues[0])
    if not lam > 0:
        raise ValueError(f"the Hessian at initialisation has no positive curvature (λ_max = {lam:.3g}): no ceiling")
    critical = float(theory.critical_learning_rate(lam))
    stability = critical * (1.0 + momentum) / (1.0 - momentum)
    fitting = [b for b in candidates if b <= b_simple / 2]
    batch = fitting[-1] if fitting else candidates[0]
    steps = budget.steps_at(batch, n, pilot_fraction)
    if steps < MIN_PILOT_STEPS:
        raise ValueError(
            f"the budget ({budget.describe()}) is too small for a pilot: {pilot_fraction:g} of it is {steps} updates "
            f"at the pilot batch size {batch} (at least {MIN_PILOT_STEPS} needed)"
        )
    exponents = list(range(-SCAN_POINTS // 2, SCAN_POINTS - SCAN_POINTS // 2))
    scores: dict[int, list[ScanRun]] = {}
    maximize = problem.objective == "accuracy"
    validation_passes = problem.validation[0].shape[0] * FORWARD_COST
    bar = tqdm(total=SCAN_POINTS * pilot_seeds, desc=f"advisor pilot (B = {batch})", disable=not show_progress)
    while True:
        for k in exponents:
            if k in scores:
                continue
            lr_eff = stability * SCAN_START * GRID_RATIO**k
            runs = []
            for s in range(pilot_seeds):
                readings: list[float] = []
                model, score = train_run(
                    problem,
                    batch_size=batch,
                    lr_eff=lr_eff,
                    momentum=momentum,
                    steps=steps,
                    seed=seed + s,
                    device=device,
                    probe=lambda m, readings=readings: readings.append(_noise_scale(m, problem, noise_subset)),
                    probe_steps=[round(f * steps) for f in READINGS[:-1]] if s == 0 else [],
                )
                cost += steps * batch + validation_passes
                if model is not None and s == 0:
                    readings.append(_noise_scale(model, problem, noise_subset))
                cost += len(readings) * noise_subset[0].shape[0]
                runs.append(ScanRun(lr_eff, seed + s, score, tuple(readings)))
                bar.update(1)
            scores[k] = runs
        ordered = sorted(scores)
        table = np.array([[np.nan if r.score is None else r.score for r in scores[k]] for k in ordered])
        finished = np.isfinite(table).any(axis=1)
        if not finished.any():
            grow = ordered[0] - 1  # every run diverged: go lower
        else:
            filled = np.where(np.isfinite(table), table, 0.0)
            means = filled.sum(axis=1) / np.maximum(np.isfinite(table).sum(axis=1), 1)
            means = np.where(finished, means if maximize else -means, -np.inf)
            best = int(np.argmax(means))
            grow = ordered[0] - 1 if best == 0 else ordered[-1] + 1 if best == len(ordered) - 1 else None
        if grow is None or len(scores) >= MAX_SCAN_POINTS:
            break
        exponents = [grow]
        bar.total += pilot_seeds
    bar.close()
    if not finished.any():
        lowest = stability * SCAN_START * GRID_RATIO ** ordered[0]
        raise ValueError(
            f"the model diverged at every tried learning rate (ε_eff from {lowest:.3g} to "
            f"{stability * SCAN_START * GRID_RATIO ** ordered[-1]:.3g} at B = {batch}); check the model and the loss"
        )
    lrs = [stability * SCAN_START * GRID_RATIO**k for k in ordered]
    keep = max(1, pilot_seeds - 1) if pilot_seeds > 2 else pilot_seeds
    value, low, high, at_edge = _scan_optimum(lrs, table, keep, maximize)
    all_runs = tuple(r for k in ordered for r in scores[k])
    return Pilot(
        batch, steps, b_simple, lam, critical, stability, all_runs, value, low, high, at_edge, pilot_fraction, cost
    )
