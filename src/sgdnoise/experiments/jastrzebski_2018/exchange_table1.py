"""Jastrzębski et al. 2018, App. F.4, Table 1 and Fig. 16, as ``jastrzebski-exchange`` measures them
(``exchange`` declares the experiment: the spec, the run and Fig. 4/13): the claims on Table 1's columns
(``seed_statistics.table1``) and ‖H‖_F along training, and their figures.

Table 1, as the paper states it, each comparison decided by Welch's interval over seeds (``analysis.effects``;
at least 3 seeds a schedule, else inconclusive; a claim of several comparisons holds when all hold and fails
when one fails): every cyclic schedule beats the best constant one on test accuracy (95% interval on the
difference above 0); the discrete schedules are similar to or better than the triangle one (non-inferiority:
the 90% interval's low end above −``NOT_WORSE_MARGIN`` = 1 point, the margin of ``exchange``'s endpoint
equivalence); discrete-S ends at a smaller ‖H‖_F than the other cyclic schedules (95% interval on the
difference of mean log ‖H‖_F below 0). Fig. 16: every cyclic run ends at a smaller ‖H‖_F than
``constant-low``, whose final η/S is the same ("cyclical schemes find wider minima"; the same interval); and,
this project's reading of "oscillate between sharp and wide regions" (an extension), ‖H‖_F is larger after the
low-η/S half of a cycle than after its high-η/S half (geometric mean over cycles, median over seeds, in every
cyclic schedule). The full ordering of the schedules is recorded as it comes out. The paper measured ‖H‖_F on
one of its six repetitions; here every seed is measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from sgdnoise import plots
from sgdnoise.analysis.effects import Difference, all_hold, directional_effect, non_inferiority
from sgdnoise.experiments.claims import JASTRZEBSKI_2018, ClaimSpec, ClaimTest, NotEnoughData, Verdict
from sgdnoise.experiments.jastrzebski_2018.seed_statistics import (
    endpoints_by_schedule,
    finished_seeds,
    mean_or_nan,
    oscillation_ratio,
    percent,
    seed_curves,
    table1,
)
from sgdnoise.results import nan_if_none

if TYPE_CHECKING:
    from sgdnoise.experiments.jastrzebski_2018.exchange import ExchangeData, ScheduleData

NOT_WORSE_MARGIN = 0.01  # "similar or slightly better": not worse by 1 point of test accuracy (non-inferiority)
CYCLIC = ("discrete-S", "discrete-η", "triangle-η")
CONSTANT = ("constant-low", "constant-low-large", "constant-high")
TABLE1 = "App. F.4, Table 1"


def _means(schedules: Mapping[str, ScheduleData], quantity: str) -> dict[str, float]:
    """The seed mean of one endpoint quantity per schedule."""
    return {label: mean_or_nan(values) for label, values in endpoints_by_schedule(schedules, quantity).items()}


def _verdict(results: Mapping[str, Difference], note: str, value: dict[str, Any] | None = None) -> Verdict:
    """The verdict of several comparisons (``all_hold``), each one's interval in the note and the value."""
    described = "; ".join(f"{label}: {r.describe()}" for label, r in results.items())
    record = {label: r.to_dict() for label, r in results.items()} | (value or {})
    return Verdict(all_hold(results.values()), record, f"{note}; {described}")


def _log_hessians(schedules: Mapping[str, ScheduleData]) -> dict[str, np.ndarray]:
    hessians = endpoints_by_schedule(schedules, "hessian_norm")
    return {label: np.log(values[values > 0]) for label, values in hessians.items()}


def check_cyclic_beat_constant(data: ExchangeData) -> Verdict:
    schedules = data["table1_schedules"]
    mean_test, test = _means(schedules, "test_acc"), endpoints_by_schedule(schedules, "test_acc")
    order = sorted(mean_test, key=lambda label: -mean_test[label] if math.isfinite(mean_test[label]) else math.inf)
    constants = [label for label in CONSTANT if label in schedules]
    best = max(constants, key=lambda label: mean_test[label] if math.isfinite(mean_test[label]) else -1)
    results = {f"{c} − {best}": directional_effect(test[c], test[best], direction=1) for c in CYCLIC}
    note = "by test accuracy: " + " > ".join(f"{label} {percent(mean_test[label])}" for label in order)
    return _verdict(results, note, {"by_test_acc": order, "test_acc_mean": mean_test, "best_constant": best})


def check_discrete_not_worse(data: ExchangeData) -> Verdict:
    test = endpoints_by_schedule(data["table1_schedules"], "test_acc")
    results = {
        f"{c} − triangle-η": non_inferiority(test[c], test["triangle-η"], margin=NOT_WORSE_MARGIN)
        for c in ("discrete-S", "discrete-η")
    }
    return _verdict(results, f"test accuracy, non-inferiority margin {100 * NOT_WORSE_MARGIN:g} point")


def check_discrete_s_widest(data: ExchangeData) -> Verdict:
    schedules = data["table1_schedules"]
    mean_h, log_h = _means(schedules, "hessian_norm"), _log_hessians(schedules)
    results = {
        f"discrete-S − {c}": directional_effect(log_h["discrete-S"], log_h[c], direction=-1)
        for c in CYCLIC
        if c != "discrete-S"
    }
    return _verdict(results, "mean final ‖H‖_F " + ", ".join(f"{c} {mean_h[c]:.4g}" for c in CYCLIC))


def check_cyclic_wider(data: ExchangeData) -> Verdict:
    schedules = data["schedules"]
    mean_h, loss, log_h = _means(schedules, "hessian_norm"), _means(schedules, "train_loss"), _log_hessians(schedules)
    shown = (*CYCLIC, "constant-low")
    results = {f"{c} − constant-low": directional_effect(log_h[c], log_h["constant-low"], direction=-1) for c in CYCLIC}
    note = (
        "mean final ‖H‖_F "
        + ", ".join(f"{c} {mean_h[c]:.4g}" for c in shown)
        + " (final train loss "
        + ", ".join(f"{loss[c]:.3g}" for c in shown)
        + ")"
    )
    return _verdict(results, note, {f"{c}_train_loss": loss[c] for c in shown})


def check_hessian_oscillates(data: ExchangeData) -> Verdict:
    schedules, cycle = data["schedules"], data["cycle_epochs"]  # Fig. 16's runs: η_max and cycle of Fig. 4
    rows = table1(schedules, cycle)
    ratios = {c: rows[c]["hessian_oscillation"] for c in CYCLIC}
    loss_ratios = {c: rows[c]["train_loss_oscillation"] for c in CYCLIC}
    logs = {c: np.log([oscillation_ratio(s, cycle) for s in finished_seeds(schedules[c])]) for c in CYCLIC}
    log_ratios = {c: v[np.isfinite(v)] for c, v in logs.items()}  # a seed without a whole cycle has no ratio
    flat = [c for c, v in log_ratios.items() if v.size > 1 and not np.ptp(v)]  # against 0: a point interval
    results = {
        f"{c}: log ratio > 0": directional_effect(v, np.zeros(v.size), direction=1)
        for c, v in log_ratios.items()
        if c not in flat
    }
    note = ", ".join(f"{c} ‖H‖_F ×{ratios[c]:.3g} (train loss ×{loss_ratios[c]:.3g})" for c in CYCLIC)
    verdict = (
        _verdict(results, note + " — low-η/S half over high-η/S half", {"hessian_ratio": ratios}) if results else None
    )
    if flat and (verdict is None or verdict.outcome != "fails"):  # a flat schedule decides nothing but a fail
        raise NotEnoughData(
            f"the seeds' oscillation ratios do not vary in {', '.join(flat)}: their noise is unmeasured"
        )
    assert verdict is not None  # no flat schedule: every cyclic schedule has a result
    return Verdict(verdict.outcome, verdict.value | {"train_loss_ratio": loss_ratios}, verdict.reason)


CLAIMS = (
    ClaimSpec(
        id="table1/cyclic-beat-constant",
        statement="every cyclic schedule ends at a higher mean test accuracy than the best constant one",
        kind="paper",
        provenance=JASTRZEBSKI_2018.cite(
            TABLE1,
            "Test acc: Discrete η 90.04% ± 0.18%, Discrete S 90.07% ± 0.32%, Triangle η 90.03% ± 0.10%, "
            "Baseline 87.70% ± 0.56%",
            "90.04%, 90.07%, 90.03% vs baseline 87.70%",
        ),
        test=ClaimTest(
            "mean endpoint test accuracy of each cyclic schedule − that of the best constant one: Welch's 95% interval",
            "holds if every interval lies above 0, fails if one lies below, else inconclusive (≥ 3 seeds)",
        ),
        check=check_cyclic_beat_constant,
    ),
    ClaimSpec(
        id="table1/discrete-not-worse-than-triangle",
        statement="the discrete schedules perform similarly or better than triangle-η: mean test accuracy not below "
        "it by 1 point or more (non-inferiority)",
        kind="paper",
        provenance=JASTRZEBSKI_2018.cite(
            TABLE1,
            "Discrete schedules perform similarly, or slightly better than triangular.",
            "90.04%, 90.07% vs 90.03%",
        ),
        test=ClaimTest(
            "mean test acc(discrete) − mean test acc(triangle-η), Welch's 90% interval, for discrete-S and discrete-η",
            "holds if both intervals lie above −NOT_WORSE_MARGIN, fails if one lies below it, else inconclusive",
            {"NOT_WORSE_MARGIN": NOT_WORSE_MARGIN},
        ),
        check=check_discrete_not_worse,
    ),
    ClaimSpec(
        id="table1/discrete-s-widest",
        statement="discrete-S ends at a smaller ‖H‖_F than each other cyclic schedule",
        kind="paper",
        provenance=JASTRZEBSKI_2018.cite(
            TABLE1, "discrete S schedule leads to much wider minima for similar loss", "13918 vs 36470 and 35310"
        ),
        test=ClaimTest(
            "mean log final ‖H‖_F (finite differences) of discrete-S − that of each other cyclic schedule: Welch's "
            "95% interval",
            "holds if both intervals lie below 0, fails if one lies above, else inconclusive (≥ 3 seeds)",
        ),
        check=check_discrete_s_widest,
    ),
    ClaimSpec(
        id="fig16/cyclic-wider-than-constant",
        statement="every cyclic schedule ends at a smaller ‖H‖_F than constant-low, which trains at their final η/S "
        "throughout",
        kind="paper",
        provenance=JASTRZEBSKI_2018.cite(
            "App. F.4, Fig. 16, Table 1",
            "cyclical schemes find wider minima than baseline run for same level of loss, which might explain "
            "their better generalization",
            "Table 1: 13918, 36470, 35310 vs baseline 57838",
        ),
        test=ClaimTest(
            "mean log final ‖H‖_F of each cyclic schedule − constant-low's: Welch's 95% interval",
            "holds if every interval lies below 0, fails if one lies above, else inconclusive (≥ 3 seeds)",
        ),
        check=check_cyclic_wider,
    ),
    ClaimSpec(
        id="fig16/hessian-oscillates-with-the-cycle",
        statement="in every cyclic schedule ‖H‖_F is larger after the low-η/S half of a cycle than after its "
        "high-η/S half",
        kind="extension",
        provenance=JASTRZEBSKI_2018.cite(
            "App. F.4, Fig. 16 (the direction is this project's inference)",
            "cyclical schemes oscillate between sharp and wide regions of the parameter space",
        ),
        test=ClaimTest(
            "‖H‖_F after the low-η/S half over ‖H‖_F after the high-η/S half: geometric mean over cycles, median "
            "over seeds",
            "per seed, the log of that ratio: Welch's 95% interval on its mean above 0 in every cyclic schedule holds, "
            "below 0 in one fails, else inconclusive (≥ 3 seeds, and seeds whose ratios vary)",
        ),
        check=check_hessian_oscillates,
    ),
)


# ---- figures ------------------------------------------------------------------------------------------------


def band_over_seeds(ax: Axes, schedule: ScheduleData, block: str, quantity: str, **style: Any) -> np.ndarray:
    """Mean over the finished seeds of one probed quantity, the band their range (which stays positive on log
    axes, where mean ± std would not); returns the mean."""
    x, mean, low, high = seed_curves(schedule, block, quantity)
    ax.plot(x, mean, **style)
    ax.fill_between(x, low, high, color=style.get("color"), alpha=0.15, linewidth=0)
    return mean


def _schedule_text(schedule: Mapping[str, Any]) -> str:
    """ "0.1" for a constant, "0.02↔0.1" for a cycle (a schedule's dict as the engine writes it)."""
    if schedule.get("type") == "Cyclic":
        return f"{schedule['low']:g}↔{schedule['high']:g}"
    return f"{schedule.get('value', '?'):g}" if isinstance(schedule.get("value"), int | float) else "?"


def draw_fig16(data: ExchangeData, fig_dir: Path) -> Path:
    """Fig. 16: training loss and ‖H‖_F over epochs, one panel per schedule, one ‖H‖_F scale for all."""
    schedules = data["schedules"]
    labels = list(schedules)
    fig, axes = plt.subplots(math.ceil(len(labels) / 3), 3, figsize=(12, 6.4), squeeze=False, sharex=True, sharey=True)
    twins, hessian_values = [], []
    for ax, label in zip(axes.flat, labels, strict=False):
        schedule = schedules[label]
        band_over_seeds(ax, schedule, "curve", "train_loss", color="tab:red")
        ax.set_yscale("log")
        lr, batch = _schedule_text(schedule["learning_rate"]), _schedule_text(schedule["batch_size"])
        ax.set_title(f"{label} (η {lr}, S {batch})", fontsize=9)
        twin = ax.twinx()
        mean = band_over_seeds(twin, schedule, "hessian", "value", color="tab:blue", marker="o", markersize=3)
        twin.set_yscale("log")
        twins.append(twin)
        hessian_values.extend(v for v in mean if np.isfinite(v) and v > 0)
    if hessian_values:  # one ‖H‖_F scale for every panel, so the schedules compare at a glance
        for twin in twins:
            twin.set_ylim(min(hessian_values) / 1.3, max(hessian_values) * 1.3)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for row in axes:
        row[0].set_ylabel("training loss (red)")
    for i, twin in enumerate(twins):  # the right-hand panel of each row
        if i % 3 == 2 or i == len(twins) - 1:
            twin.set_ylabel("‖H‖_F (blue)")
    fig.suptitle("Fig. 16: training loss (red) and ‖H‖_F (blue, finite differences, right axis) over training")
    fig.tight_layout()
    return plots.save(fig, fig_dir / "fig16_exchange_hessian.png")


def draw_table1(data: ExchangeData, fig_dir: Path) -> list[Path]:
    """Table 1: test accuracy, final training loss and final ‖H‖_F per schedule, mean ± std over seeds."""
    rows = data.get("table1") or {}
    if not rows:
        return []
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), layout="constrained")
    positions = np.arange(len(rows))
    colours = ["tab:blue" if "constant" not in label else "tab:gray" for label in rows]
    panels = (
        ("test_acc", "test accuracy", False),
        ("train_loss", "final training loss", True),
        ("hessian_norm", "final ‖H‖_F", True),
    )
    for ax, (quantity, ylabel, log) in zip(axes, panels, strict=True):
        mean = np.asarray([nan_if_none(rows[label][quantity]["mean"]) for label in rows], float)
        std = np.asarray([nan_if_none(rows[label][quantity]["std"]) for label in rows], float)
        for position, m, s_, colour in zip(positions, mean, std, colours, strict=True):
            ax.errorbar([position], [m], yerr=[s_], fmt="o", color=colour, capsize=3)
        ax.set_xticks(positions, list(rows), rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Table 1: cyclic (blue) vs constant (grey) schedules, mean ± std over seeds")
    return [plots.save(fig, fig_dir / "table1_exchange.png")]
