"""Analysis of sweep results: optima on a grid with error bars, scaling-law fits, the tuning protocol,
regime detection and correlations (the statistics of Jastrzębski et al.'s matched levels and breaking
points live with their experiments, in ``experiments.jastrzebski_2018.matched_levels``).

Pure functions on numpy arrays (no torch, no I/O). Every result is a small frozen dataclass with its
uncertainty and a ``to_dict()`` whose output is strict JSON (non-finite floats become ``None``).

Conventions shared by every function here:

* *Failed runs.* A score that is not finite (NaN from a diverged run, ±inf) counts as a failure. It is
  replaced by ``failed_score`` before any averaging; by default that is the worst finite score
  observed in the same array (the lowest when maximising, the highest when minimising), so a failure
  is never better than the worst run that finished. Pass chance level (e.g. 0.1 for 10-class
  accuracy) to score failures as guessing instead. An array with no finite score is an error.
* *Logarithms* are natural logarithms; slopes of log-log fits do not depend on the base.
* *Ties* between grid points resolve to the smallest grid value.
"""

from sgdnoise.analysis.correlation import ArgminAgreement, Correlation, argmin_agreement, spearman_correlation
from sgdnoise.analysis.optima import GridOptimum, TunedOptimum, optimum_on_grid, tune_best_k_of_n
from sgdnoise.analysis.regimes import RegimeChange, RegimeInterval, bootstrap_regime_change, detect_regime_change
from sgdnoise.analysis.scaling import ScalingFit, fit_scaling_law

__all__ = [
    "ArgminAgreement",
    "Correlation",
    "GridOptimum",
    "RegimeChange",
    "RegimeInterval",
    "ScalingFit",
    "TunedOptimum",
    "argmin_agreement",
    "bootstrap_regime_change",
    "detect_regime_change",
    "fit_scaling_law",
    "optimum_on_grid",
    "spearman_correlation",
    "tune_best_k_of_n",
]
