"""Smith & Le 2018, Fig. 5: the ``smith-le-scaling-lr`` experiment (set-up and claims in ``smith_le_sgd``)."""

from sgdnoise.experiments.smith_le_sgd import EXPERIMENTS

EXPERIMENT = EXPERIMENTS["smith-le-scaling-lr"]
