"""Smith & Le 2018, Fig. 6: the ``smith-le-scaling-n`` experiment (set-up and claims in ``smith_le_sgd``)."""

from sgdnoise.experiments.smith_le_sgd import EXPERIMENTS

EXPERIMENT = EXPERIMENTS["smith-le-scaling-n"]
