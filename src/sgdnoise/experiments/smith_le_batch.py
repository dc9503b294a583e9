"""Smith & Le 2018, Fig. 4: the ``smith-le-batch`` experiment (set-up and claims in ``smith_le_sgd``)."""

from sgdnoise.experiments.smith_le_sgd import EXPERIMENTS

EXPERIMENT = EXPERIMENTS["smith-le-batch"]
