"""Smith & Le 2018, §5, Figures 5–7: the optimal batch size grows with a swept quantity x (ε, N or 1/(1−m)).

What the three scaling modules share (on the set-up in :mod:`.sgd`): the run (the curves plus the scaling
law of their final test accuracy over B), the two claims, the figure, and ``scaling_experiment_fields``,
the part of their ``Experiment`` declarations that differs only by figure name, title and swept quantity.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from sgdnoise import plots
from sgdnoise.analysis.effects import directional_effect
from sgdnoise.experiments.base import Figure, RunContext
from sgdnoise.experiments.claims import ClaimSpec, NotEnoughData, Provenance, Verdict
from sgdnoise.experiments.grid import ScalingLaw, scaling_law, scaling_law_claims
from sgdnoise.experiments.smith_le_2018.sgd import (
    CALIBRATED,
    TINY,
    SGDSweepSpec,
    SweepData,
    Swept,
    accuracy_matrix,
    final_accuracy_panel,
    run_mask,
    seed_values,
    settings,
    sweep_data,
)
from sgdnoise.experiments.smith_le_2018.verdicts import effect_verdict, finite_mean

# Fig. 5-7: B_opt ∝ x^k with k in [EXPONENT_MIN, EXPONENT_MAX]; and, a claim of its own at both scales, the
# paper's k = PAPER_EXPONENT inside the bootstrap CI (once a spec field, on at paper scale only)
EXPONENT_MIN, EXPONENT_MAX, PAPER_EXPONENT = 0.5, 1.5, 1.0
N_BOOTSTRAP = 1000  # bootstrap resamples of the fitted exponent


class ScalingData(SweepData):
    """Fig. 5–7: the curves plus the scaling-law analysis the claims check."""

    scaling: ScalingLaw


def scaling_run(spec: SGDSweepSpec, ctx: RunContext, swept: Swept, x_name: str) -> ScalingData:
    """Fig. 5–7's run: the curves and the scaling law of their final test accuracy over B."""
    return with_scaling_law(sweep_data(spec, ctx, swept), x_name, spec.fit_min_x)


def with_scaling_law(data: SweepData, x_name: str, fit_min_x: float | None) -> ScalingData:
    """``data`` plus the scaling law (``grid.scaling_law``) of its curves' final test accuracy over B;
    curves with x < ``fit_min_x`` stay out of the exponent's fit."""
    x = [curve["x"] for curve in data["curves"]]
    law = scaling_law(
        x_name,
        x,
        data["batch_sizes"],
        [accuracy_matrix(curve) for curve in data["curves"]],
        ran=[run_mask(curve) for curve in data["curves"]],
        considered=[fit_min_x is None or value >= fit_min_x for value in x],
        n_bootstrap=N_BOOTSTRAP,
    )
    return {**data, "scaling": law}


def epochs_at_optimum(data: ScalingData) -> dict[str, list[float]]:
    """Per curve the passes over the training set a run at its B_opt made (budget effects at large N)."""
    optima = data["scaling"]["optima"]
    return {
        "epochs_at_B_opt": [
            float(optimum["value"] * curve["steps"] / curve["n_train"])
            for curve, optimum in zip(data["curves"], optima, strict=True)
        ]
    }


def peak_accuracy(data: ScalingData, index: int) -> np.ndarray:
    """Per seed the final test accuracy of curve ``index`` at its best observed batch size (its peak)."""
    optimum = data["scaling"]["optima"][index]["value"]
    return seed_values(data["curves"][index], int(optimum), data["batch_sizes"])


def compare_curves(
    data: ScalingData, a: int, b: int, per_seed: Callable[[ScalingData, int], np.ndarray], direction: Literal[1, -1]
) -> Verdict:
    """Welch's interval over seeds on ``per_seed`` of curve ``a`` minus curve ``b``, in ``direction``."""
    first, second = per_seed(data, a), per_seed(data, b)
    value = {
        "x": [data["curves"][a]["x"], data["curves"][b]["x"]],
        "B_opt": [data["scaling"]["optima"][i]["value"] for i in (a, b)],
        "means": [finite_mean(first), finite_mean(second)],
    }
    return effect_verdict(directional_effect(first, second, direction=direction), value)


def curve_at(data: ScalingData, x: float) -> int:
    """The index of the curve whose swept value is ``x``."""
    for i, curve in enumerate(data["curves"]):
        if math.isclose(curve["x"], x):
            return i
    raise NotEnoughData(f"no curve at x = {x:g}")


def scaling_claims(
    figure: str, x_name: str, grows: Provenance, exponent: Provenance, caveat: str = ""
) -> tuple[ClaimSpec[ScalingData], ClaimSpec[ScalingData], ClaimSpec[ScalingData]]:
    """Fig. 5–7's three claims (``grid.scaling_law_claims``): B_opt grows with x (edge optima not counted),
    B_opt ∝ x^k with k in [EXPONENT_MIN, EXPONENT_MAX], and the paper's k inside its CI; the first claim's
    value adds the epochs at each curve's B_opt. Every one is decided by the ε calibration (``CALIBRATED``)."""
    claims = scaling_law_claims(
        figure,
        x_name,
        grows=grows,
        exponent=exponent,
        exponent_range=(EXPONENT_MIN, EXPONENT_MAX),
        paper_exponent=PAPER_EXPONENT,
        caveat=caveat,
        extra=epochs_at_optimum,
    )
    return tuple(dataclasses.replace(claim, statement=claim.statement + CALIBRATED) for claim in claims)  # type: ignore[return-value]


# ---- figure ---------------------------------------------------------------------------------------------------


def _optima_panel(ax: Axes, scaling: ScalingLaw, x_label: str) -> None:
    """B_opt vs the swept quantity (log-log), error bars to the next sampled batch size (open marker:
    an optimum at an edge, or a curve left out of the fit), the sub-grid optima the power law is
    fitted to, the fitted line and its bootstrap CI."""
    labelled: set[bool] = set()
    for i, (xi, optimum) in enumerate(zip(scaling["x"], scaling["optima"], strict=True)):
        value = optimum["value"]
        lower = optimum["lower"] if optimum["lower"] is not None else value
        upper = optimum["upper"] if optimum["upper"] is not None else value
        edge = optimum["at_edge"] or not scaling["considered"][i]
        ax.errorbar(
            [xi],
            [value],
            yerr=[[value - lower], [upper - value]],
            marker="o",
            capsize=3,
            color="C0",
            markerfacecolor="white" if edge else "C0",
            linestyle="none",
            label=None
            if edge in labelled
            else ("B_opt at a grid edge, or left out of the fit" if edge else "B_opt (best observed)"),
        )
        labelled.add(edge)
    fit = scaling["fit"]
    if fit and fit["slope"] is not None:
        fitted_x = np.asarray(fit["x"], float)
        ax.plot(fitted_x, fit["estimates"], "x", color="C2", label="sub-grid optimum (fitted)")
        grid = np.geomspace(fitted_x.min(), fitted_x.max(), 50)
        ax.plot(grid, np.exp(fit["intercept"]) * grid ** fit["slope"], color="C2", label=f"fit: k = {fit['slope']:.2f}")
        if fit["slope_ci"][0] is not None:
            centre_x = np.exp(np.log(fitted_x).mean())
            centre_y = np.exp(fit["intercept"]) * centre_x ** fit["slope"]
            lows, highs = (centre_y * (grid / centre_x) ** k for k in fit["slope_ci"])
            ax.fill_between(
                grid,
                np.minimum(lows, highs),
                np.maximum(lows, highs),
                color="C2",
                alpha=0.2,
                linewidth=0,
                label=f"CI: k ∈ [{fit['slope_ci'][0]:.2f}, {fit['slope_ci'][1]:.2f}]",
            )
    plots.legend_below(ax, ncols=2)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=x_label,
        ylabel="best observed batch size B_opt",
        title="(b) best observed batch size and the scaling law",
    )
    plots.plain_log_ticks(ax.xaxis)


def scaling_figure(data: ScalingData, fig_dir: Path, name: str, title: str, x_label: str) -> Path:
    """Smith & Le Fig. 5–7: (a) final test accuracy vs batch size per curve, (b) best observed batch
    size vs the swept quantity with the fitted power law (open markers: an optimum at a grid edge, or a curve
    left out of the fit)."""
    fig, (ax_acc, ax_opt) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    final_accuracy_panel(ax_acc, data)
    ax_acc.set_title("(a)")
    _optima_panel(ax_opt, data["scaling"], x_label)
    fig.suptitle(title)
    return plots.save(fig, fig_dir / f"{name}_scaling.png")


def scaling_experiment_fields(
    figure: str, title: str, swept: Swept, x_name: str, x_label: str, tiny: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``Experiment`` fields of Fig. 5–7 besides name, description, paper, specs and claims: the title,
    the tiny run (``TINY`` plus ``tiny``), the run sweeping ``swept``, the figure ``figure`` and the settings."""
    return {
        "title": title,
        "tiny": {scale: {**TINY, **tiny} for scale in ("quick", "paper")},
        "run": functools.partial(scaling_run, swept=swept, x_name=x_name),
        "figures": (
            Figure(figure, functools.partial(scaling_figure, name=figure, title=title, x_label=x_label), ScalingData),
        ),
        "settings": settings,
    }
