"""Smith & Le 2018, §5, Figure 6: the optimal batch size grows with the training set size, B_opt ∝ N.

The §4 shallow net (set-up in :mod:`.sgd`, lr = 0.1·ε, docs/epsilon-mapping.md), ε = 1, m = 0.9: final
test accuracy vs B for several N. Quick scale: N ∈ {1000, 4000, 8000, 16000} with B ∈ {10, 30, 50, 100,
200, 400} (denser near the optimum), and the shift is checked only for N ≥ ``fit_min_x`` = 4000 (below,
the optimum is pinned at B ≈ 30 by the small-batch failure edge, docs/epsilon-mapping.md §4; with 1000
updates at N = 16000 a run at B = 100 sees only ~6 epochs, so part of any shift is a budget effect — the
claims report the epochs at each optimum).
"""

from __future__ import annotations

from sgdnoise.experiments.base import Experiment
from sgdnoise.experiments.smith_le_2018.scaling import scaling_claims, scaling_experiment_fields
from sgdnoise.experiments.smith_le_2018.sgd import SGDSweepSpec, paper

TITLE = "Fig. 6 — the optimal batch size grows with the training set size, B_opt ∝ N (Smith & Le 2018)"
CAVEAT = (
    "at a fixed number of updates, B ∝ N also keeps the number of epochs B·steps/N fixed (see "
    "epochs_at_B_opt), so unless every run has converged this design (the paper's too) cannot tell the noise "
    "scale εN/B from a budget effect"
)


CLAIMS = scaling_claims(
    "fig6",
    "N",
    grows=paper("§5, Fig. 6a", "Once again, the peak shifts right as the training set size rises", calibrated=True),
    exponent=paper(
        "§5, Fig. 6b",
        "we plot the best observed batch size as a function of training set size; observing another linear trend, "
        "Bopt ∝ N",
        "k = 1 (B_opt ∝ N)",
        calibrated=True,
    ),
    caveat=CAVEAT,
)


EXPERIMENT = Experiment(
    name="smith-le-scaling-n",
    description="Accuracy vs batch size for several training-set sizes N; B_opt vs N.",
    paper="Smith & Le, ICLR 2018, §5, Figure 6",
    specs={
        "quick": SGDSweepSpec(
            batch_sizes=(10, 30, 50, 100, 200, 400),
            seeds=2,
            budget=1000,
            train_sizes=(1000, 4000, 8000, 16000),
            fit_min_x=4000,
        ),
        "paper": SGDSweepSpec(
            batch_sizes=(1, 3, 10, 30, 100, 300, 1000, 3000, 10_000),
            seeds=5,
            budget=10_000,
            train_sizes=(1000, 3000, 10_000, 20_000, 40_000, 60_000),
            fit_min_x=20_000,
        ),
    },
    claims=CLAIMS,
    **scaling_experiment_fields(
        "fig6",
        TITLE,
        swept="n_train",
        x_name="N",
        x_label="training set size N",
        tiny={"train_sizes": (40, 80), "fit_min_x": None},
    ),
)
