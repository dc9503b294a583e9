"""Smith & Le 2018, §5, Figure 5: the optimal batch size grows with the learning rate, B_opt ∝ ε.

The §4 shallow net on N = 1000 MNIST images (set-up in :mod:`.sgd`, lr = 0.1·ε, docs/epsilon-mapping.md),
m = 0.9: final test accuracy vs B for several ε, each run taking round(budget/ε) updates. Quick scale:
runs above 350 000 examples are skipped (ε = 0.3: B ≥ 300; ε = 1: B = 1000, ≥ 10× the expected optimum).
"""

from __future__ import annotations

from sgdnoise.experiments.base import Experiment
from sgdnoise.experiments.smith_le_2018.scaling import scaling_claims, scaling_experiment_fields
from sgdnoise.experiments.smith_le_2018.sgd import PAPER_B_GRID, SGDSweepSpec, paper

TITLE = "Fig. 5 — the optimal batch size grows with the learning rate, B_opt ∝ ε (Smith & Le 2018)"


CLAIMS = scaling_claims(
    "fig5",
    "ε",
    grows=paper("§5, Fig. 5a", "Exactly as predicted, the peak moves to the right as ε increases.", calibrated=True),
    exponent=paper(
        "§5, Fig. 5b",
        "we plot the best observed batch size as a function of learning rate, observing a clear linear trend, Bopt ∝ ε",
        "k = 1 (B_opt ∝ ε), across two orders of magnitude",
        calibrated=True,
    ),
)


EXPERIMENT = Experiment(
    name="smith-le-scaling-lr",
    description="Accuracy vs batch size for several ε (steps = budget/ε); B_opt vs ε.",
    paper="Smith & Le, ICLR 2018, §5, Figure 5",
    specs={
        "quick": SGDSweepSpec(
            batch_sizes=PAPER_B_GRID,
            seeds=2,
            budget=1000,
            epsilons=(0.3, 1.0, 3.0, 10.0),
            max_examples_per_run=350_000,
        ),
        "paper": SGDSweepSpec(batch_sizes=PAPER_B_GRID, seeds=5, budget=10_000, epsilons=(0.1, 0.3, 1.0, 3.0, 10.0)),
    },
    claims=CLAIMS,
    **scaling_experiment_fields(
        "fig5", TITLE, swept="epsilon", x_name="ε", x_label="learning rate ε", tiny={"epsilons": (1.0, 3.0)}
    ),
)
