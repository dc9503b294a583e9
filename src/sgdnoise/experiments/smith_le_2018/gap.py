"""Smith & Le 2018, §4, Figure 3: the generalization gap between small (B = 30) and full (B = 1000) batches.

The §4 shallow net on N = 1000 MNIST images (set-up in :mod:`.sgd`, lr = 0.1·ε, docs/epsilon-mapping.md),
ε = 1, m = 0.9, no regularisation: test accuracy and test cross-entropy during training for B = 30 and
B = N = 1000. ``smith-le-l2`` (Fig. 8) repeats it with L2 and shares these unregularised runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sgdnoise.experiments.base import Experiment, Figure
from sgdnoise.experiments.claims import ClaimSpec, ClaimTest, NotEnoughData, Verdict
from sgdnoise.experiments.smith_le_2018.sgd import (
    CHANCE_ACCURACY,
    Curve,
    SGDSweepSpec,
    SweepData,
    Swept,
    final_accuracy,
    gap_figure,
    paper,
    settings,
    sweep_data,
)

SMALL_BATCH = 30  # the paper's small batch
FULL_BATCH = 1000  # the paper's full batch (N = 1000)


def accuracy_gap(curve: Curve, batch_sizes: list[int]) -> dict[str, float]:
    """Mean final test accuracy at B = SMALL_BATCH and B = FULL_BATCH, and their difference."""
    small = final_accuracy(curve, SMALL_BATCH, batch_sizes)
    large = final_accuracy(curve, FULL_BATCH, batch_sizes)
    return {f"B{SMALL_BATCH}": small, f"B{FULL_BATCH}": large, "gap": small - large}


def small_beats_full(curve_index: int) -> Callable[[SweepData], Verdict]:
    """Check: after the budget, B = SMALL_BATCH has higher mean test accuracy than B = FULL_BATCH on
    the curve at ``curve_index`` (Fig. 3: the only curve; Fig. 8: the last, most regularised one)."""

    def check(data: SweepData) -> Verdict:
        if not data["curves"]:
            raise NotEnoughData("no curve was run")
        value = accuracy_gap(data["curves"][curve_index], data["batch_sizes"])
        return Verdict.of(value[f"B{SMALL_BATCH}"] > value[f"B{FULL_BATCH}"], value)

    return check


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


GAP_TEST = ClaimTest(
    f"mean over seeds of the final test accuracy at B = {SMALL_BATCH} and B = {FULL_BATCH} (a diverged run "
    f"counts as chance, {CHANCE_ACCURACY})",
    "accuracy(SMALL_BATCH) > accuracy(FULL_BATCH)",
    {"SMALL_BATCH": SMALL_BATCH, "FULL_BATCH": FULL_BATCH},
)

CLAIMS = (
    ClaimSpec(
        id="fig3/small-batch-beats-full-batch",
        statement=f"after the budget, B = {SMALL_BATCH} has higher mean test accuracy than B = {FULL_BATCH}",
        kind="paper",
        provenance=paper(
            "§4, Fig. 3a",
            "after a thousand gradient updates a clear generalization gap in model accuracy emerges between small "
            "and large training batches",
            "B = 30 vs full batches of 1000 images",
            calibrated=True,
        ),
        test=GAP_TEST,
        check=small_beats_full(0),
    ),
)


EXPERIMENT = Experiment(
    name="smith-le-gap",
    description="Test accuracy and cross-entropy during training, B = 30 vs B = 1000 (MNIST, N = 1000).",
    title="Generalization gap between small and full batches (Smith & Le 2018, Fig. 3)",
    paper="Smith & Le, ICLR 2018, §4, Figure 3",
    specs={
        "quick": SGDSweepSpec(batch_sizes=(30, 1000), seeds=2, budget=1000, eval_points=20),
        "paper": SGDSweepSpec(batch_sizes=(30, 1000), seeds=5, budget=10_000, eval_points=40),
    },
    claims=CLAIMS,
    **gap_experiment_fields("fig3", "Fig. 3 — B = 30 vs full batch, no regularisation", swept="none"),
)
