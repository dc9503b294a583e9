"""Smith & Le 2018, Fig. 8: the ``smith-le-l2`` experiment (set-up and claims in ``smith_le_sgd``)."""

from sgdnoise.experiments.smith_le_sgd import EXPERIMENTS

EXPERIMENT = EXPERIMENTS["smith-le-l2"]
