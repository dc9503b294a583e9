"""Toy landscapes: SGD's equilibrium between two minima of any 1-D or 2-D loss, simulated and predicted.

Pure numpy/scipy (no models, no data): `losses` (the loss surface, the `gaussian_wells` family, minima,
barriers, the saddle), `gibbs` (Theorem 1's integral, Theorem 2's Laplace ratio), `kramers` (escape
times), `simulation` (the SDE/SGD simulator). Every public name is re-exported here.

Jastrzębski et al. 2018, "Three Factors Influencing Minima in SGD", §3: SGD with learning rate η, batch
size S and isotropic gradient covariance C = σ²I is approximated by the Langevin equation (eq. 1)

    dθ/dt = −η g(θ) + (η/√S) σ f(t),

one SGD update being one unit of t. Its equilibrium is the Gibbs density P(θ) ∝ exp(−2L/(nσ²)), n = η/S
(Theorem 1, eq. 2), and Laplace's method near each minimum gives p̃_A = det(H_A)^{−½} exp(−2L_A/(nσ²))
(Theorem 2, eq. 3; `sgdnoise.theory`). This package holds the three against each other for a loss the
user gives (a function and its gradient, vectorised over points of shape [..., d], d = 1 or 2):

* `simulate` runs many independent chains of either the SDE by Euler–Maruyama with a time step that is a
  chosen fraction of one SGD step, or the discrete SGD update θ ← θ − η(g + σξ/√S) itself (which is the
  Euler–Maruyama scheme with a step of exactly one unit), and measures the occupation ratio p_A/p_B of
  two basins after a burn-in, with its standard error across the independent chains;
* `gibbs_log_ratio` integrates eq. 2 over the two basins (scipy.integrate.quad in 1-D, a fine grid in 2-D);
* `find_minimum` locates a minimum with scipy and its Hessian (exact if given, else central differences
  of the gradient); `laplace_log_ratio` applies Theorem 2 (`theory.log_probability_ratio`);
* `gaussian_wells` is a loss family with two minima of chosen depth and width plus a weak L2 term
  (the regulariser Theorem 1 assumes), in 1-D or 2-D.

Why the standard error is taken across chains, not by batch means: the chains are independent by
construction, so the spread of their time-averaged occupations gives an honest error without estimating
an autocorrelation time. In a double well that time is set by the rare barrier crossings, and batch means
over batches shorter than it understate the error. What no standard error can show is a burn-in too short
for the chains to equilibrate. Two checks address it:

* how long to run is decided before simulating, from `kramers_escape_times` (the Kramers–Langer mean time
  to escape each well over the saddle, `find_saddle`): a run shorter than a few escape times out of the
  slower well cannot have equilibrated, whatever its standard error says;
* `Occupation.start_z` compares chains started in basin A with chains started in B (by default half start
  at each minimum): at equilibrium their time-averaged occupations agree, before it they differ by about
  (escape time / record length) × the initial imbalance. This detects a too-short run even when the
  record's first and second halves look alike (`Occupation.drift_z`, kept as a secondary check: a slow
  relaxation changes little within one record, so the halves agree while both are biased).
"""

from __future__ import annotations

from sgdnoise.wells.gibbs import EDGE_DENSITY_LIMIT, GibbsRatio, gibbs_log_ratio, gibbs_temperature, laplace_log_ratio
from sgdnoise.wells.kramers import EscapeTimes, kramers_escape_times
from sgdnoise.wells.losses import (
    LocatedMinimum,
    LocatedSaddle,
    LossSurface,
    barrier_heights,
    find_minimum,
    find_saddle,
    finite_difference_hessian,
    gaussian_wells,
)
from sgdnoise.wells.simulation import (
    METHODS,
    EquilibriumComparison,
    Method,
    Occupation,
    equilibrium_comparison,
    first_passage_times,
    simulate,
)

__all__ = [
    "EDGE_DENSITY_LIMIT",
    "METHODS",
    "EquilibriumComparison",
    "EscapeTimes",
    "GibbsRatio",
    "LocatedMinimum",
    "LocatedSaddle",
    "LossSurface",
    "Method",
    "Occupation",
    "barrier_heights",
    "equilibrium_comparison",
    "find_minimum",
    "find_saddle",
    "finite_difference_hessian",
    "first_passage_times",
    "gaussian_wells",
    "gibbs_log_ratio",
    "gibbs_temperature",
    "kramers_escape_times",
    "laplace_log_ratio",
    "simulate",
]
