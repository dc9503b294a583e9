"""Smith & Le 2018, §5 and App. D, Figure 7: the optimal batch size grows with momentum, B_opt ∝ 1/(1−m).

The §4 shallow net on N = 1000 MNIST images (set-up in :mod:`.sgd`, lr = 0.1·ε with undamped momentum,
docs/epsilon-mapping.md), ε = 1: final test accuracy vs B for several momentum coefficients m. Quick
scale: m ∈ {0.5, 0.9, 0.95} and B ∈ {3, …, 300}.
"""

from __future__ import annotations

from sgdnoise.experiments.base import Experiment
from sgdnoise.experiments.claims import SMITH_LE_2018
from sgdnoise.experiments.smith_le_2018.scaling import scaling_claims, scaling_experiment_fields
from sgdnoise.experiments.smith_le_2018.sgd import EPSILON_MAPPING, PAPER_B_GRID, SGDSweepSpec

TITLE = "Fig. 7 — the optimal batch size grows with momentum, B_opt ∝ 1/(1−m) (Smith & Le 2018)"


CLAIMS = scaling_claims(
    "fig7",
    "1/(1−m)",
    grows=SMITH_LE_2018.cite(
        "§5, Fig. 7a",
        "As expected, the peak moves to the right as the momentum coefficient increases.",
        evidence=EPSILON_MAPPING,
    ),
    exponent=SMITH_LE_2018.cite(
        "§5 and App. D, Fig. 7b",
        "When m > 0, we obtain an additional scaling rule Bopt ∝ 1/(1 − m).",
        "k = 1 (B_opt ∝ 1/(1−m))",
        evidence=EPSILON_MAPPING,
    ),
)


EXPERIMENT = Experiment(
    name="smith-le-scaling-momentum",
    description="Accuracy vs batch size for several momentum coefficients m; B_opt vs 1/(1−m).",
    paper="Smith & Le, ICLR 2018, §5 and Appendix D, Figure 7",
    specs={
        "quick": SGDSweepSpec(
            batch_sizes=(3, 10, 30, 100, 300), seeds=3, budget=1000, momenta=(0.5, 0.9, 0.95), extend_grid=True
        ),
        "paper": SGDSweepSpec(
            batch_sizes=PAPER_B_GRID,
            seeds=5,
            budget=10_000,
            momenta=(0.0, 0.5, 0.8, 0.9, 0.95, 0.98),
            extend_grid=True,
        ),
    },
    claims=CLAIMS,
    **scaling_experiment_fields(
        "fig7", TITLE, swept="momentum", x_name="1/(1−m)", x_label="1/(1−m)", tiny={"momenta": (0.5, 0.9)}
    ),
)
