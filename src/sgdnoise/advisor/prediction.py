"""The predictor (pure): the hinge rules on the pilot's numbers, their intervals, B* and the recommendation;
the cost of the sweep the pilot replaces (the rules: the package docstring, ``sgdnoise.advisor``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sgdnoise.advisor.problem import Budget, Regime
from sgdnoise.validation import positive_int, positive_number

CURVATURE_FACTOR = 2.0  # κ = ε_max/ε_stab
CURVATURE_FACTOR_RANGE = (1.0, 4.0)  # the interval of the curvature bound: κ's spread
NOISE_CEILING_RANGE = 2.0  # the noise bound B* = B_simple(end) holds within ×/÷ this
BATCH_MARGIN = 0.25
NOISE_MARGIN = 0.125
BUDGET_EXPONENT = 0.5  # ε_opt ∝ budget^-α between the scan's and the full budget


@dataclass(frozen=True)
class BatchPrediction:
    """The prediction at one batch size: ε_eff,opt with its interval, the torch lr ε = ε_eff·(1−m), the regime
    and the updates the budget gives."""

    batch_size: int
    lr_eff: float
    lr_eff_low: float
    lr_eff_high: float
    lr: float
    regime: Regime
    steps: int


@dataclass(frozen=True)
class Prediction:
    """The hinge ε_eff,opt(B) = min(T·B, ε_max) on the candidates, B* = ε_max/T and the recommendation."""

    temperature: float
    temperature_low: float
    temperature_high: float
    max_lr_eff: float
    max_lr_eff_low: float
    max_lr_eff_high: float
    critical_batch_size: float
    critical_batch_low: float
    critical_batch_high: float
    batches: tuple[BatchPrediction, ...]
    recommended: BatchPrediction


def predict(
    temperature: tuple[float, float, float],
    max_lr_eff: tuple[float, float, float],
    batch_sizes: Sequence[int],
    *,
    momentum: float,
    budget: Budget,
    n_train: int,
    batch_margin: float = BATCH_MARGIN,
    noise_scale: float | None = None,
    noise_margin: float = NOISE_MARGIN,
) -> Prediction:
    """The rules of the package docstring on pilot numbers: ``temperature`` and ``max_lr_eff`` as (value,
    low, high). ε_eff,opt(B) = min(T·B, ε_max) with interval [min(T_lo·B, ε_max,lo), min(T_hi·B, ε_max,hi)];
    B* = ε_max/T with interval [ε_max,lo/T_hi, ε_max,hi/T_lo]; the recommendation is the largest candidate
    B ≤ ``batch_margin``·B* and, when ``noise_scale`` (B_simple late in training) is given, ≤
    ``noise_margin``·B_simple (none: the smallest)."""
    t, t_lo, t_hi = (positive_number("temperature", v) for v in temperature)
    e, e_lo, e_hi = (positive_number("max_lr_eff", v) for v in max_lr_eff)
    if not (t_lo <= t <= t_hi and e_lo <= e <= e_hi):
        raise ValueError("each interval must contain its value: (value, low, high) with low <= value <= high")
    positive_number("batch_margin", batch_margin)
    positive_number("noise_margin", noise_margin)
    limit = batch_margin * e / t
    if noise_scale is not None:
        limit = min(limit, noise_margin * _noise_scale_checked(noise_scale))
    critical = e / t
    batches = []
    for b in sorted(batch_sizes):
        lr_eff = min(t * b, e)
        batches.append(
            BatchPrediction(
                batch_size=int(b),
                lr_eff=lr_eff,
                lr_eff_low=min(t_lo * b, e_lo),
                lr_eff_high=min(t_hi * b, e_hi),
                lr=lr_eff * (1.0 - momentum),
                regime="noise-dominated" if b < critical else "curvature-dominated",
                steps=budget.steps_at(int(b), n_train),
            )
        )
    fitting = [b for b in batches if b.batch_size <= limit]
    recommended = fitting[-1] if fitting else batches[0]
    return Prediction(t, t_lo, t_hi, e, e_lo, e_hi, critical, e_lo / t_hi, e_hi / t_lo, tuple(batches), recommended)


def ceiling(
    temperature: tuple[float, float, float],
    stability_lr_eff: float,
    noise_scale: float,
    pilot_batch: int,
    curvature_factor: float = CURVATURE_FACTOR,
) -> tuple[float, float, float]:
    """The curvature-dominated plateau ε_max as (value, low, high) (rules of the package docstring):
    ε_max = max(min(κ·ε_stab, T·B_noise), T·B₀) — the smaller of the curvature bound and the noise bound
    (B* ≈ B_simple late in training, McCandlish et al. 2018 §2.2), never below the optimum the scan measured
    at its own batch B₀. The interval takes κ over ``CURVATURE_FACTOR_RANGE``, B_noise within ×/÷
    ``NOISE_CEILING_RANGE`` and T over its interval."""
    t, t_lo, t_hi = (positive_number("temperature", v) for v in temperature)
    stability = positive_number("stability_lr_eff", stability_lr_eff)
    noise = _noise_scale_checked(noise_scale)
    batch = positive_int("pilot_batch", pilot_batch)
    assert batch is not None
    k_lo, k_hi = CURVATURE_FACTOR_RANGE
    r = NOISE_CEILING_RANGE
    value = max(min(curvature_factor * stability, t * noise), t * batch)
    low = max(min(k_lo * stability, t_lo * noise / r), t_lo * batch)
    high = max(min(k_hi * stability, t_hi * noise * r), t_hi * batch)
    return value, low, high


def sweep_cost(
    batch_sizes: Sequence[int], budget: Budget, n_train: int, grid_points: int, seeds: int
) -> tuple[float, str]:
    """Example passes of the SED protocol sweep over ``batch_sizes`` (each run the full budget) and its
    description."""
    per_grid = sum(budget.steps_at(b, n_train) * b for b in batches_checked(batch_sizes))
    description = (
        f"the SED protocol sweep ({len(batch_sizes)} batch sizes × {grid_points} learning rates × {seeds} seeds)"
    )
    return float(per_grid * grid_points * seeds), description


def _noise_scale_checked(value: float) -> float:
    """A B_simple reading: > 0, or inf (a pooled |G|² ≤ 0: the noise swamps the signal, no bound)."""
    return math.inf if value == math.inf else positive_number("noise_scale", value)


def batches_checked(batch_sizes: Sequence[int]) -> list[int]:
    if isinstance(batch_sizes, str | bytes) or not isinstance(batch_sizes, Sequence) or not batch_sizes:
        raise TypeError(f"candidate batch sizes must be a non-empty list of integers, got {batch_sizes!r}")
    out = [positive_int("candidate batch size", b, minimum=2) for b in batch_sizes]
    if len(set(out)) != len(out):
        raise ValueError(f"candidate batch sizes must be distinct, got {list(batch_sizes)}")
    return sorted(out)  # type: ignore[arg-type]
