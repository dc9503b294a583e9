"""Seed statistics of the Jastrzębski et al. cyclic-schedule experiment (``exchange``, Fig. 4, 13, 16 and
Table 1), on its plain data: a schedule is ``{"seeds": [{"status", "curve", "hessian", "endpoint"}, …]}``
(``curve``/``hessian``: ``epoch`` plus one column per probed quantity; ``endpoint``: the last of each).
The endpoint values of a schedule's seeds (``endpoint_values``; ``analysis.effects`` compares them between
schedules), the distance of two schedules' seed-mean curves (``curve_distance``), the
oscillation of a probed quantity with the cycle (``oscillation_ratio``) and Table 1's columns
(``table1``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sgdnoise.analysis.effects import mean_difference, welch_interval
from sgdnoise.results import nan_if_none


def finished_seeds(schedule: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in schedule["seeds"] if s["status"] == "finished"]


def endpoints_by_schedule(schedules: Mapping[str, Mapping[str, Any]], quantity: str) -> dict[str, np.ndarray]:
    """``endpoint_values`` of every schedule."""
    return {label: endpoint_values(schedule, quantity) for label, schedule in schedules.items()}


def endpoint_values(schedule: Mapping[str, Any], quantity: str) -> np.ndarray:
    """One endpoint quantity (e.g. ``test_acc``, ``hessian_norm``) over the finished seeds."""
    values = []
    for seed in finished_seeds(schedule):
        value = seed["endpoint"].get(quantity)
        if value is not None and math.isfinite(value):
            values.append(float(value))
    return np.asarray(values)


def curve_matrix(schedule: Mapping[str, Any], quantity: str, epochs: Sequence[float]) -> np.ndarray:
    """[seeds, epochs] of a probed quantity at the given epochs (NaN where a seed lacks it)."""
    rows = []
    for seed in finished_seeds(schedule):
        curve = seed["curve"]
        by_epoch = {round(e, 6): v for e, v in zip(curve["epoch"], curve.get(quantity, []), strict=True)}
        rows.append([nan_if_none(by_epoch.get(round(e, 6))) for e in epochs])
    return np.asarray(rows, float).reshape(len(rows), len(epochs))


def common_epochs(*schedules: Mapping[str, Any], after: float = 0.0) -> list[float]:
    """The probe epochs later than ``after`` that every finished seed of every schedule has."""
    sets = [{round(e, 6) for e in seed["curve"]["epoch"] if e > after} for s in schedules for seed in finished_seeds(s)]
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


def welch_sizes(a: np.ndarray, b: np.ndarray, confidence: float) -> dict[str, float]:
    """mean(a) − mean(b) with its Welch SE and two-sided ``confidence`` interval [low, high], and the smallest and
    the largest |difference| that interval allows (``analysis.effects.welch_interval``; 2 values a group needed)."""
    _, low, high = welch_interval(a, b, confidence)
    smallest = 0.0 if low <= 0 <= high else min(abs(low), abs(high))
    sizes = {"low": low, "high": high, "smallest": smallest, "largest": max(abs(low), abs(high))}
    return mean_difference(a, b).to_dict() | sizes


def mean_or_nan(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan


def percent(value: float) -> str:
    return f"{100 * value:.2f}%" if math.isfinite(value) else "n/a"


def table1(schedules: Mapping[str, Mapping[str, Any]], cycle_epochs: float) -> dict[str, dict[str, Any]]:
    """Table 1's columns per schedule: test and validation accuracy, training loss (mean ± std over seeds),
    final ‖H‖_F (mean) and the ‖H‖_F oscillation ratio (median over seeds)."""
    rows = {}
    for label, schedule in schedules.items():
        row: dict[str, Any] = {}
        for quantity in ("test_acc", "validation_acc", "train_loss", "train_acc", "hessian_norm"):
            values = endpoint_values(schedule, quantity)
            std = float(values.std(ddof=1)) if values.size > 1 else math.nan
            row[quantity] = {"mean": mean_or_nan(values), "std": std}
        for key, block, quantity in (("hessian", "hessian", "value"), ("train_loss", "curve", "train_loss")):
            ratios = [oscillation_ratio(seed, cycle_epochs, block, quantity) for seed in finished_seeds(schedule)]
            row[f"{key}_oscillation"] = float(np.nanmedian(ratios)) if np.isfinite(ratios).any() else math.nan
        row["seeds_finished"] = len(finished_seeds(schedule))
        rows[label] = row
    return rows


def seed_curves(schedule: Mapping[str, Any], block: str, quantity: str) -> tuple[np.ndarray, ...]:
    """Epochs, then mean, minimum and maximum over the finished seeds of one probed quantity (``block``:
    curve or hessian)."""
    seeds = [s for s in schedule["seeds"] if s["status"] == "finished" and s.get(block)]
    if not seeds:
        return np.array([]), np.array([]), np.array([]), np.array([])
    epochs = sorted({round(e, 6) for s in seeds for e in s[block]["epoch"]})
    rows = []
    for s in seeds:
        by_epoch = {round(e, 6): v for e, v in zip(s[block]["epoch"], s[block][quantity], strict=True)}
        rows.append([nan_if_none(by_epoch.get(e)) for e in epochs])
    values = np.asarray(rows, float)
    return np.asarray(epochs), np.nanmean(values, axis=0), np.nanmin(values, axis=0), np.nanmax(values, axis=0)
