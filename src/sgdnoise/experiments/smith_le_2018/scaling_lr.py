"""Smith & Le 2018, §5, Figure 5: the optimal batch size grows with the learning rate, B_opt ∝ ε.

The §4 shallow net on N = 1000 MNIST images (set-up in :mod:`.sgd`, lr = 0.1·ε, docs/epsilon-mapping.md),
m = 0.9: final test accuracy vs B for several ε, each run taking round(budget/ε) updates. Quick scale:
runs above 350 000 examples are skipped (ε = 0.3: B ≥ 300; ε = 1: B = 1000, ≥ 10× the expected optimum).
At ε = 10 the best B is N = 1000 itself, which no grid extension can pass: that curve is an edge and never
counts in the scaling claims.
"""

from __future__ import annotations

from sgdnoise.experiments.base import Experiment
from sgdnoise.experiments.claims import SMITH_LE_2018, ClaimSpec, ClaimTest, NotEnoughData, Verdict
from sgdnoise.experiments.smith_le_2018.scaling import (
    ScalingData,
    compare_curves,
    curve_at,
    peak_accuracy,
    scaling_claims,
    scaling_experiment_fields,
)
from sgdnoise.experiments.smith_le_2018.sgd import CALIBRATED, EPSILON_MAPPING, PAPER_B_GRID, SGDSweepSpec

PEAK_FALL_EPSILON = 3.0  # Fig. 5a: the peak accuracy "does not begin to fall until ε ∼ 3"
REFERENCE_EPSILON = 1.0  # ... compared with the paper's default ε = 1


def check_peak_falls(data: ScalingData) -> Verdict:
    """The peak accuracy (at each curve's B_opt) at the largest ε above PEAK_FALL_EPSILON against ε = 1."""
    above = [c["x"] for c in data["curves"] if c["x"] > PEAK_FALL_EPSILON]
    if not above:
        raise NotEnoughData(f"no ε above {PEAK_FALL_EPSILON:g} was run")
    return compare_curves(data, curve_at(data, max(above)), curve_at(data, REFERENCE_EPSILON), peak_accuracy, -1)


TITLE = "Fig. 5 — the optimal batch size grows with the learning rate, B_opt ∝ ε (Smith & Le 2018)"


CLAIMS = (
    *scaling_claims(
        "fig5",
        "ε",
        grows=SMITH_LE_2018.cite(
            "§5, Fig. 5a", "Exactly as predicted, the peak moves to the right as ε increases.", evidence=EPSILON_MAPPING
        ),
        exponent=SMITH_LE_2018.cite(
            "§5, Fig. 5b",
            "we plot the best observed batch size as a function of learning rate, observing a clear linear trend, "
            "Bopt ∝ ε",
            "k = 1 (B_opt ∝ ε), across two orders of magnitude",
            evidence=EPSILON_MAPPING,
        ),
    ),
    ClaimSpec(
        id="fig5a/peak-accuracy-falls-above-3",
        statement=f"the peak test accuracy (at the best observed B) at the largest ε > {PEAK_FALL_EPSILON:g} is lower "
        f"than at ε = {REFERENCE_EPSILON:g}" + CALIBRATED,
        kind="paper",
        provenance=SMITH_LE_2018.cite(
            "§5, Fig. 5a",
            "the peak test accuracy achieved at a given learning rate does not begin to fall until ε ∼ 3 [...] Above "
            "this point, the discretization error begins to dominate and the peak test accuracy falls rapidly.",
            "ε ≳ 3",
            evidence=EPSILON_MAPPING,
        ),
        test=ClaimTest(
            "per seed, the final test accuracy at each curve's best observed B, at the largest ε above "
            "PEAK_FALL_EPSILON and at REFERENCE_EPSILON; Welch's 95% interval on the difference",
            "holds when the interval lies below zero, fails when above, else (or with fewer than 3 seeds) inconclusive",
            {"PEAK_FALL_EPSILON": PEAK_FALL_EPSILON, "REFERENCE_EPSILON": REFERENCE_EPSILON},
        ),
        check=check_peak_falls,
    ),
)


EXPERIMENT = Experiment(
    name="smith-le-scaling-lr",
    description="Accuracy vs batch size for several ε (steps = budget/ε); B_opt vs ε.",
    paper="Smith & Le, ICLR 2018, §5, Figure 5",
    specs={
        "quick": SGDSweepSpec(
            batch_sizes=PAPER_B_GRID,
            seeds=3,
            budget=1000,
            epsilons=(0.3, 1.0, 3.0, 10.0),
            max_examples_per_run=350_000,
            extend_grid=True,
        ),
        "paper": SGDSweepSpec(
            batch_sizes=PAPER_B_GRID, seeds=5, budget=10_000, epsilons=(0.1, 0.3, 1.0, 3.0, 10.0), extend_grid=True
        ),
    },
    claims=CLAIMS,
    **scaling_experiment_fields(
        "fig5", TITLE, swept="epsilon", x_name="ε", x_label="learning rate ε", tiny={"epsilons": (1.0, 3.0)}
    ),
)
