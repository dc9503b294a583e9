"""Jastrzębski et al. 2018, App. F.4, Table 1 and Fig. 16, as ``jastrzebski-exchange`` measures them
(``exchange`` declares the experiment: the spec, the run and Fig. 4/13): the claims on Table 1's columns
(``seed_statistics.table1``) and ‖H‖_F along training, and their figures.

Table 1, as the paper states it: every cyclic schedule beats the best constant one on test accuracy; the
discrete schedules are not worse than the triangle one (by more than ``EFFECT_SE`` SE); discrete-S ends at the
smallest ‖H‖_F of the cyclic schedules. Fig. 16: every cyclic run ends at a smaller ‖H‖_F than
``constant-low``, whose final η/S is the same ("cyclical schemes find wider minima"); and, this project's
reading of "oscillate between sharp and wide regions" (an extension), ‖H‖_F is larger after the low-η/S half
of a cycle than after its high-η/S half (geometric mean over cycles, median over seeds, in every cyclic
schedule). The full ordering of the schedules is recorded as it comes out.
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
from sgdnoise.experiments.claims import ClaimSpec, ClaimTest, Provenance, Verdict
from sgdnoise.experiments.jastrzebski_2018.seed_statistics import (
    difference,
    endpoints_by_schedule,
    percent,
    seed_curves,
)
from sgdnoise.results import nan_if_none

if TYPE_CHECKING:
    from sgdnoise.experiments.jastrzebski_2018.exchange import ExchangeData, ScheduleData

EFFECT_SE = 2.0  # "not worse": a shortfall of at most 2 standard errors
CYCLIC = ("discrete-S", "discrete-η", "triangle-η")
CONSTANT = ("constant-low", "constant-low-large", "constant-high")
TABLE1 = "App. F.4, Table 1"


def paper_provenance(where: str, quote: str, value: str | None = None) -> Provenance:
    return Provenance("jastrzebski-2018", where, quote, paper_value=value)


def _means(data: ExchangeData, quantity: str) -> dict[str, float]:
    return {label: row[quantity]["mean"] for label, row in data["table1"].items()}


def check_cyclic_beat_constant(data: ExchangeData) -> Verdict:
    mean_test = _means(data, "test_acc")
    order = sorted(mean_test, key=lambda label: -mean_test[label] if math.isfinite(mean_test[label]) else math.inf)
    best = max(CONSTANT, key=lambda label: mean_test[label] if math.isfinite(mean_test[label]) else -1)
    return Verdict.of(
        all(mean_test[c] > mean_test[best] for c in CYCLIC),
        {"by_test_acc": order, "test_acc_mean": mean_test, "best_constant": best},
        "by test accuracy: " + " > ".join(f"{label} {percent(mean_test[label])}" for label in order),
    )


def check_discrete_not_worse(data: ExchangeData) -> Verdict:
    test = endpoints_by_schedule(data["schedules"], "test_acc")
    versus = {c: difference(test[c], test["triangle-η"]) for c in ("discrete-S", "discrete-η")}
    return Verdict.of(
        all(d.difference >= -EFFECT_SE * d.se for d in versus.values()),
        {c: d.to_dict() for c, d in versus.items()},
        ", ".join(f"{c} − triangle-η = {100 * d.difference:+.2f} ± {100 * d.se:.2f} points" for c, d in versus.items()),
    )


def check_discrete_s_widest(data: ExchangeData) -> Verdict:
    mean_h = _means(data, "hessian_norm")
    return Verdict.of(
        all(mean_h["discrete-S"] < mean_h[c] for c in CYCLIC if c != "discrete-S"),
        {c: mean_h[c] for c in CYCLIC},
        ", ".join(f"{c} {mean_h[c]:.4g}" for c in CYCLIC),
    )


def check_cyclic_wider(data: ExchangeData) -> Verdict:
    mean_h, loss = _means(data, "hessian_norm"), _means(data, "train_loss")
    shown = (*CYCLIC, "constant-low")
    return Verdict.of(
        all(mean_h[c] < mean_h["constant-low"] for c in CYCLIC),
        {c: mean_h[c] for c in shown} | {f"{c}_train_loss": loss[c] for c in shown},
        ", ".join(f"{c} {mean_h[c]:.4g}" for c in shown)
        + " (final train loss "
        + ", ".join(f"{loss[c]:.3g}" for c in shown)
        + ")",
    )


def check_hessian_oscillates(data: ExchangeData) -> Verdict:
    rows = data["table1"]
    ratios = {c: rows[c]["hessian_oscillation"] for c in CYCLIC}
    loss_ratios = {c: rows[c]["train_loss_oscillation"] for c in CYCLIC}
    return Verdict.of(
        all(math.isfinite(r) and r > 1 for r in ratios.values()),
        {"hessian_ratio": ratios, "train_loss_ratio": loss_ratios},
        ", ".join(f"{c} ‖H‖_F ×{ratios[c]:.3g} (train loss ×{loss_ratios[c]:.3g})" for c in CYCLIC)
        + " — low-η/S half over high-η/S half",
    )


CLAIMS = (
    ClaimSpec(
        id="table1/cyclic-beat-constant",
        statement="every cyclic schedule ends at a higher mean test accuracy than the best constant one",
        kind="paper",
        provenance=paper_provenance(
            TABLE1,
            "one can exchange cyclic learning rate schedule (CLR) with cyclic batch size (CBS) and approximately "
            "preserve the practical benefit of CLR",
            "90.04%, 90.07%, 90.03% vs baseline 87.70%",
        ),
        test=ClaimTest("mean endpoint test accuracy per schedule", "every cyclic mean > the best constant mean"),
        check=check_cyclic_beat_constant,
    ),
    ClaimSpec(
        id="table1/discrete-not-worse-than-triangle",
        statement="the discrete schedules perform similarly or better than triangle-η: mean test accuracy not below "
        "it by more than two SE",
        kind="paper",
        provenance=paper_provenance(
            TABLE1,
            "Discrete schedules perform similarly, or slightly better than triangular.",
            "90.04%, 90.07% vs 90.03%",
        ),
        test=ClaimTest(
            "mean test acc(discrete) − mean test acc(triangle-η) with its SE, for discrete-S and discrete-η",
            "difference ≥ −EFFECT_SE × SE",
            {"EFFECT_SE": EFFECT_SE},
        ),
        check=check_discrete_not_worse,
    ),
    ClaimSpec(
        id="table1/discrete-s-widest",
        statement="discrete-S ends at the smallest ‖H‖_F of the cyclic schedules",
        kind="paper",
        provenance=paper_provenance(
            TABLE1, "discrete S schedule leads to much wider minima for similar loss", "13918 vs 36470 and 35310"
        ),
        test=ClaimTest("mean final ‖H‖_F (finite differences) per cyclic schedule", "discrete-S's is the smallest"),
        check=check_discrete_s_widest,
    ),
    ClaimSpec(
        id="fig16/cyclic-wider-than-constant",
        statement="every cyclic schedule ends at a smaller ‖H‖_F than constant-low, which trains at their final η/S "
        "throughout",
        kind="paper",
        provenance=paper_provenance(
            "App. F.4, Fig. 16, Table 1",
            "cyclical schemes find wider minima than baseline run for same level of loss, which might explain "
            "their better generalization",
            "Table 1: 13918, 36470, 35310 vs baseline 57838",
        ),
        test=ClaimTest("mean final ‖H‖_F per schedule", "every cyclic mean < constant-low's"),
        check=check_cyclic_wider,
    ),
    ClaimSpec(
        id="fig16/hessian-oscillates-with-the-cycle",
        statement="in every cyclic schedule ‖H‖_F is larger after the low-η/S half of a cycle than after its "
        "high-η/S half",
        kind="extension",
        provenance=paper_provenance(
            "App. F.4, Fig. 16 (the direction is this project's inference)",
            "cyclical schemes oscillate between sharp and wide regions of the parameter space",
        ),
        test=ClaimTest(
            "‖H‖_F after the low-η/S half over ‖H‖_F after the high-η/S half: geometric mean over cycles, median "
            "over seeds",
            "ratio > 1 in every cyclic schedule",
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
    fig.suptitle("Fig. 16: training loss (red) and ‖H‖_F (blue, finite differences, right axis) over training")
    fig.tight_layout()
    return plots.save(fig, fig_dir / "fig16_exchange_hessian.png")


def draw_table1(data: ExchangeData, fig_dir: Path) -> list[Path]:
    """Table 1 as bars: test accuracy and final ‖H‖_F per schedule, mean ± std over seeds."""
    rows = data.get("table1") or {}
    if not rows:
        return []
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    positions = np.arange(len(rows))
    for ax, quantity, ylabel in ((axes[0], "test_acc", "test accuracy"), (axes[1], "hessian_norm", "final ‖H‖_F")):
        mean = np.asarray([nan_if_none(rows[label][quantity]["mean"]) for label in rows], float)
        std = np.asarray([nan_if_none(rows[label][quantity]["std"]) for label in rows], float)
        ax.bar(positions, mean, yerr=std, color=["tab:blue" if "constant" not in lb else "tab:gray" for lb in rows])
        ax.set_xticks(positions, list(rows), rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        finite = mean[np.isfinite(mean)]
        if quantity == "test_acc" and finite.size:
            ax.set_ylim(finite.min() - 0.03, min(1.0, finite.max() + 0.02))
    fig.suptitle("Table 1: cyclic (blue) vs constant (grey) schedules, mean ± std over seeds")
    fig.tight_layout()
    return [plots.save(fig, fig_dir / "table1_exchange.png")]
