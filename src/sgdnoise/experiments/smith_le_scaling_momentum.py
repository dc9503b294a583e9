"""Smith & Le 2018, Fig. 7: the ``smith-le-scaling-momentum`` experiment (set-up and claims in ``smith_le_sgd``)."""

from sgdnoise.experiments.smith_le_sgd import EXPERIMENTS

EXPERIMENT = EXPERIMENTS["smith-le-scaling-momentum"]
