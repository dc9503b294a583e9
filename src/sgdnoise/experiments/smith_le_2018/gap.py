"""Smith & Le 2018, §4, Figure 3: the generalization gap between small (B = 30) and full (B = 1000) batches.

The §4 shallow net on N = 1000 MNIST images (set-up in :mod:`.sgd`, lr = 0.1·ε, docs/epsilon-mapping.md),
ε = 1, m = 0.9, no regularisation: test accuracy and test cross-entropy during training for B = 30 and
B = N = 1000. ``smith-le-l2`` (Fig. 8) repeats it with L2 and shares these unregularised runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import matplotlib.pyplot as plt
import numpy as np

from sgdnoise import plots
from sgdnoise.analysis.effects import directional_effect
from sgdnoise.experiments.base import Experiment, Figure
from sgdnoise.experiments.claims import SMITH_LE_2018, ClaimSpec, ClaimTest, NotEnoughData, Verdict
from sgdnoise.experiments.smith_le_2018.sgd import (
    CALIBRATED,
    CHANCE_ACCURACY,
    CROSS_ENTROPY_MARGIN,
    EPSILON_MAPPING,
    Curve,
    HistorySweepSpec,
    SweepData,
    Swept,
    cross_entropy_rise,
    history_band,
    seed_values,
    settings,
    sweep_data,
)
from sgdnoise.experiments.smith_le_2018.verdicts import effect_verdict, finite_mean, joint_verdict

SMALL_BATCH = 30  # the paper's small batch
FULL_BATCH = 1000  # the paper's full batch (N = 1000)


def accuracy_gaps(curve: Curve, batch_sizes: list[int]) -> np.ndarray:
    """Per seed index the final test accuracy at B = SMALL_BATCH minus at B = FULL_BATCH."""
    return seed_values(curve, SMALL_BATCH, batch_sizes) - seed_values(curve, FULL_BATCH, batch_sizes)


def compare_batches(
    curve_index: int, metric: Literal["accuracy", "cross_entropy"], direction: Literal[1, -1]
) -> Callable[[SweepData], Verdict]:
    """Check: on the curve at ``curve_index`` (Fig. 3: the only curve; Fig. 8: the last, most regularised)
    the final test ``metric`` at B = SMALL_BATCH differs from B = FULL_BATCH in ``direction``, by Welch's
    interval over seeds."""

    def check(data: SweepData) -> Verdict:
        if not data["curves"]:
            raise NotEnoughData("no curve was run")
        curve, batch_sizes = data["curves"][curve_index], data["batch_sizes"]
        small, full = (seed_values(curve, b, batch_sizes, metric) for b in (SMALL_BATCH, FULL_BATCH))
        value = {f"B{SMALL_BATCH}": finite_mean(small), f"B{FULL_BATCH}": finite_mean(full)}
        return effect_verdict(directional_effect(small, full, direction=direction), value)

    return check


def cross_entropy_rises(curve_index: int) -> Callable[[SweepData], Verdict]:
    """Check: at both batch sizes the test cross-entropy ends above its minimum (``cross_entropy_rise``:
    final minus the value at the minimum of the mean curve, per seed; Welch's interval above zero, and a
    rise inside ±CROSS_ENTROPY_MARGIN fails)."""

    def check(data: SweepData) -> Verdict:
        if not data["curves"]:
            raise NotEnoughData("no curve was run")
        curve = data["curves"][curve_index]
        rises = {b: cross_entropy_rise(curve, b) for b in (SMALL_BATCH, FULL_BATCH)}
        effects = {
            b: directional_effect(rise, np.zeros(rise.size), direction=1, margin=CROSS_ENTROPY_MARGIN)
            for b, (rise, _) in rises.items()
        }
        value = {
            f"B{b}": {"rise": e.difference, "interval": [e.low, e.high], "argmin_step": rises[b][1]}
            for b, e in effects.items()
        }
        return joint_verdict(effects, value, "B = {}")

    return check


def gap_figure(data: SweepData, fig_dir: Path, name: str, title: str) -> Path:
    """Smith & Le Fig. 3 / Fig. 8: (a) test accuracy and (b) test cross-entropy vs gradient updates
    (log x), one curve per batch size; with several L2 strengths, unregularised curves are dotted."""
    fig, (ax_acc, ax_ce) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    regularised = [c for c in data["curves"] if c["l2_lambda"] > 0]
    for curve in data["curves"]:
        faint = bool(regularised) and curve["l2_lambda"] == 0
        for i, (batch, history) in enumerate(curve["history"].items()):
            label = f"B = {batch}" + (f", λ = {curve['l2_lambda']:g}" if regularised else "")
            style = {"color": f"C{i}", "linestyle": ":" if faint else "-", "alpha": 0.6 if faint else 1.0}
            history_band(ax_acc, history, "test_accuracy", label, **style)
            history_band(ax_ce, history, "test_cross_entropy", label, **style)
    ax_acc.set(xscale="log", xlabel="gradient descent updates", ylabel="test accuracy", title="(a)")
    ax_ce.set(xscale="log", xlabel="gradient descent updates", ylabel="test cross-entropy", title="(b)")
    ax_acc.legend(fontsize=8)
    ax_ce.legend(fontsize=8)
    fig.suptitle(title)
    return plots.save(fig, fig_dir / f"{name}_test_accuracy_cross_entropy.png")


def gap_experiment_fields(figure: str, figure_title: str, swept: Swept) -> dict[str, Any]:
    """The ``Experiment`` fields Fig. 3 and Fig. 8 share but for the figure's name and title and what is
    swept: the tiny run, the run, the figure (``gap_figure``) and the settings."""
    return {
        "tiny": {
            scale: {"budget": 3, "seeds": 1, "eval_points": 2, "dataset": "standin"} for scale in ("quick", "paper")
        },
        "run": functools.partial(sweep_data, swept=swept),
        "figures": (Figure(figure, functools.partial(gap_figure, name=figure, title=figure_title), SweepData),),
        "settings": settings,
    }


def seed_test(metric: str, rule: str) -> ClaimTest:
    """A B = SMALL_BATCH vs B = FULL_BATCH comparison by Welch's interval over seeds."""
    return ClaimTest(
        f"{metric} at B = {SMALL_BATCH} and B = {FULL_BATCH}, per seed (a diverged run's accuracy counts as chance, "
        f"{CHANCE_ACCURACY}; its cross-entropy is left out); Welch's 95% interval on the difference of means",
        f"{rule}: holds when the interval excludes zero in that direction, fails when it excludes it in the other, "
        "else (or with fewer than 3 seeds) inconclusive",
        {"SMALL_BATCH": SMALL_BATCH, "FULL_BATCH": FULL_BATCH},
    )


GAP_TEST = seed_test("final test accuracy", "accuracy(SMALL_BATCH) > accuracy(FULL_BATCH)")
RISE_TEST = ClaimTest(
    "per seed, final test cross-entropy minus its value at the step where the mean-over-seeds curve is lowest, at "
    f"B = {SMALL_BATCH} and B = {FULL_BATCH}",
    "Welch's 95% interval above zero at both batch sizes; fails if it lies below zero or inside "
    "±CROSS_ENTROPY_MARGIN at either; else (or with fewer than 3 seeds) inconclusive",
    {"SMALL_BATCH": SMALL_BATCH, "FULL_BATCH": FULL_BATCH, "CROSS_ENTROPY_MARGIN": CROSS_ENTROPY_MARGIN},
)

CLAIMS = (
    ClaimSpec(
        id="fig3/small-batch-beats-full-batch",
        statement=f"after the budget, B = {SMALL_BATCH} has higher mean test accuracy than B = {FULL_BATCH}"
        + CALIBRATED,
        kind="paper",
        provenance=SMITH_LE_2018.cite(
            "§4, Fig. 3a",
            "after a thousand gradient updates a clear generalization gap in model accuracy emerges between small "
            "and large training batches",
            "B = 30 vs full batches of 1000 images",
            evidence=EPSILON_MAPPING,
        ),
        test=GAP_TEST,
        check=compare_batches(0, "accuracy", 1),
    ),
    ClaimSpec(
        id="fig3b/small-batch-lower-final-cross-entropy",
        statement=f"at the end of training the test cross-entropy is lower at B = {SMALL_BATCH} than at "
        f"B = {FULL_BATCH}" + CALIBRATED,
        kind="paper",
        provenance=SMITH_LE_2018.cite(
            "§4, Fig. 3b",
            "While the test cross-entropy for small batch training is lower at the end of training",
            "B = 30 vs 1000",
            evidence=EPSILON_MAPPING,
        ),
        test=seed_test("final test cross-entropy", "cross-entropy(SMALL_BATCH) < cross-entropy(FULL_BATCH)"),
        check=compare_batches(0, "cross_entropy", -1),
    ),
    ClaimSpec(
        id="fig3b/cross-entropy-rises-after-minimum",
        statement=f"at both B = {SMALL_BATCH} and B = {FULL_BATCH} the test cross-entropy passes a minimum and is "
        "higher at the end (over-fitting)" + CALIBRATED,
        kind="paper",
        provenance=SMITH_LE_2018.cite(
            "§4, Fig. 3b",
            "the cross-entropy of both small and large training batches is increasing, indicative of over-fitting. "
            "Both models exhibit a minimum test cross-entropy, although after different numbers of gradient updates.",
            evidence=EPSILON_MAPPING,
        ),
        test=RISE_TEST,
        check=cross_entropy_rises(0),
    ),
)


EXPERIMENT = Experiment(
    name="smith-le-gap",
    description="Test accuracy and cross-entropy during training, B = 30 vs B = 1000 (MNIST, N = 1000).",
    title="Generalization gap between small and full batches (Smith & Le 2018, Fig. 3)",
    paper="Smith & Le, ICLR 2018, §4, Figure 3",
    specs={
        "quick": HistorySweepSpec(batch_sizes=(30, 1000), seeds=3, budget=1000, eval_points=20),
        "paper": HistorySweepSpec(batch_sizes=(30, 1000), seeds=5, budget=10_000, eval_points=40),
    },
    claims=CLAIMS,
    **gap_experiment_fields("fig3", "Fig. 3 — B = 30 vs full batch, no regularisation", swept="none"),
)
