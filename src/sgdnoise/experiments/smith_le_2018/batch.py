"""Smith & Le 2018, §4, Figure 4: an optimal batch size.

The §4 shallow net on N = 1000 MNIST images (set-up in :mod:`.sgd`), ε = 1, m = 0.9: test accuracy
during training and after the budget for B from 1 to 1000. Both claims rest on the lr = 0.1·ε
calibration (docs/epsilon-mapping.md §2–3: with the literal lr = ε every ReLU dies for B ≤ 30 and no
peak appears).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from sgdnoise import plots
from sgdnoise.experiments.base import Experiment, Figure, RunContext
from sgdnoise.experiments.claims import ClaimSpec, ClaimTest, NotEnoughData, Verdict
from sgdnoise.experiments.smith_le_2018.sgd import (
    CHANCE_ACCURACY,
    FAIL_ACCURACY,
    PAPER_B_GRID,
    TINY,
    Curve,
    SGDSweepSpec,
    SweepData,
    final_accuracy,
    final_accuracy_panel,
    grid_optimum,
    history_band,
    paper,
    settings,
    sweep_data,
)

SMALL_BATCH_LIMIT = 10  # Fig. 4: "the model cannot train when the batch size B ≲ 10"


class BatchData(SweepData):
    """The ε = 1 curve and its optimum (``analysis.GridOptimum.to_dict``)."""

    optimum: dict[str, Any]


def run(spec: SGDSweepSpec, ctx: RunContext) -> BatchData:
    data = sweep_data(spec, ctx, "none")
    optimum = grid_optimum(data["curves"][0], spec.batch_sizes).to_dict()
    return {**data, "optimum": optimum}


def _curve(data: SweepData) -> Curve:
    if not data["curves"]:
        raise NotEnoughData("no curve was run")
    return data["curves"][0]


def check_peak_interior(data: SweepData) -> Verdict:
    optimum = grid_optimum(_curve(data), data["batch_sizes"])
    return Verdict.of(
        not optimum.at_edge,
        {
            "B_opt": optimum.value,
            "accuracy_at_B_opt": optimum.score,
            "mean_accuracy": dict(zip(map(str, optimum.values), optimum.mean_scores, strict=True)),
        },
    )


def check_small_batches_fail(data: SweepData) -> Verdict:
    curve, batch_sizes = _curve(data), data["batch_sizes"]
    small = [b for b in batch_sizes if b < SMALL_BATCH_LIMIT]
    accuracies = {str(b): final_accuracy(curve, b, batch_sizes) for b in small}
    return Verdict.of(
        bool(small) and all(a < FAIL_ACCURACY for a in accuracies.values()),
        accuracies,
        "" if small else f"the grid has no batch size below {SMALL_BATCH_LIMIT}",
    )


CLAIMS = (
    ClaimSpec(
        id="fig4/peak-interior",
        statement="final test accuracy peaks at an intermediate batch size (not at either end of the grid)",
        kind="paper",
        provenance=paper(
            "§4, Fig. 4b",
            "A clear peak emerges, indicating that there is indeed an optimum batch size which maximizes the test "
            "accuracy",
            calibrated=True,
        ),
        test=ClaimTest(
            "best observed batch size of the mean final test accuracy over seeds, on the points run (a diverged "
            "run scores as the worst)",
            "not at either end of the points run (an optimum just before skipped batch sizes is an edge)",
        ),
        check=check_peak_interior,
    ),
    ClaimSpec(
        id="fig4/small-batches-fail",
        statement=f"every B < {SMALL_BATCH_LIMIT} fails to train at ε = 1 (fail: mean final test accuracy "
        f"< {FAIL_ACCURACY}; a diverged run counts as chance, {CHANCE_ACCURACY})",
        kind="paper",
        provenance=paper(
            "§4, Fig. 4a",
            "We find that the model cannot train when the batch size B ≲ 10.",
            calibrated=True,
        ),
        test=ClaimTest(
            "mean over seeds of the final test accuracy at each B < SMALL_BATCH_LIMIT",
            "every one < FAIL_ACCURACY (fails when the grid has no such B)",
            {"SMALL_BATCH_LIMIT": SMALL_BATCH_LIMIT, "FAIL_ACCURACY": FAIL_ACCURACY},
        ),
        check=check_small_batches_fail,
    ),
)


def draw_fig4(data: SweepData, fig_dir: Path) -> Path:
    """Smith & Le Fig. 4: (a) test accuracy during training per batch size, (b) final test accuracy vs
    batch size with error bars over seeds."""
    fig, (ax_curves, ax_final) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    curve = data["curves"][0]
    for i, (batch, history) in enumerate(curve["history"].items()):
        color = plt.cm.viridis(i / max(1, len(curve["history"]) - 1))
        history_band(ax_curves, history, "test_accuracy", f"B = {batch}", color=color)
    ax_curves.set(xscale="log", xlabel="gradient descent updates", ylabel="test accuracy", title="(a)")
    ax_curves.legend(fontsize=8)
    final_accuracy_panel(ax_final, data)
    ax_final.set_title(f"(b) after {curve['steps']} updates")
    fig.suptitle("Fig. 4 — test accuracy vs batch size (ε = 1)")
    return plots.save(fig, fig_dir / "fig4_batch_size.png")


EXPERIMENT = Experiment(
    name="smith-le-batch",
    description="Test accuracy during and after training for B from 1 to 1000 (ε = 1, MNIST, N = 1000).",
    title="An optimal batch size (Smith & Le 2018, Fig. 4)",
    paper="Smith & Le, ICLR 2018, §4, Figure 4",
    specs={
        "quick": SGDSweepSpec(batch_sizes=PAPER_B_GRID, seeds=2, budget=1000, eval_points=12),
        "paper": SGDSweepSpec(batch_sizes=PAPER_B_GRID, seeds=5, budget=10_000, eval_points=30),
    },
    tiny={scale: {**TINY, "eval_points": 2} for scale in ("quick", "paper")},
    run=run,
    claims=CLAIMS,
    figures=(Figure("fig4", draw_fig4, SweepData),),
    settings=settings,
)
