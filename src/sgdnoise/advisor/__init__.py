"""The batch size and learning rate for a user's model and budget, predicted from a cheap pilot.

``advise(model_factory, loss_fn, train, validation, budget_epochs=E | budget_steps=S)`` runs a pilot and
returns an :class:`Advice`: for every candidate batch size B the predicted optimal effective learning rate
ε_eff = ε/(1−m) with an interval and the regime of B, the critical batch size B*, the recommended (B, ε, m)
and the pilot's cost as a fraction of the sweep it replaces.

Every run (pilot and full) uses Smith, Elsen & De 2020's schedule (§4, App. B.1): ε for the first half of
the budget, then ÷2 every 1/20 of it; SGD with momentum m (``torch.optim.SGD``, lr ε = ε_eff·(1−m)).

The pilot (its cost is counted in forward+backward passes of one example; a forward-only pass counts 1/3):

1. **Gradient noise at initialisation**: B_simple = tr Σ/|G|² (McCandlish et al. 2018, eq. 2.8, with
   the unbiased estimates of ``instruments.minibatch_gradient_noise``) on ``noise_examples`` training
   examples. Measurements run in eval mode,
   batch-norm statistics re-estimated on the examples first (per-example gradients are undefined under
   train-mode batch norm).
2. **Curvature at initialisation**: λ_max of the Hessian (Lanczos, ``instruments.hessian_eigenvalues``) on
   ``curvature_examples`` examples, ε_crit = 2/λ_max (SED §3.1, ``theory.critical_learning_rate``), and the
   stability bound of SGD with momentum on a quadratic of curvature λ, in effective-learning-rate units:
   ε_stab = ε_crit·(1+m)/(1−m) (heavy ball is stable iff ε < 2(1+m)/λ).
3. **The temperature scan**: short runs (``pilot_fraction`` f of the budget, ``pilot_seeds`` seeds; defaults
   f = 1/2, one seed) at a small pilot batch B₀ (the largest candidate ≤ B_simple(init)/2, else the
   smallest) on a 2^k grid of ε_eff centred on ε_stab/8 (3 points), extended at an edge optimum until the
   optimum is interior (SED §4: an optimum at the grid edge is a bound; at most ``MAX_SCAN_POINTS``). The
   best-k-of-n protocol (SED §4, ``analysis.tune_best_k_of_n``) and a parabola in log ε through the best
   point and its neighbours (``analysis.optimum_on_grid``) place ε₀ = ε_eff,opt(B₀) at the scan's budget.
   B_simple is measured again at the middle and the end of the first seed's scan runs (it grows as the
   loss falls); the end reading of the run nearest ε₀, B_simple(end), limits the recommendation.

The rules (SED §3–5, Fig. 1; Smith & Le 2018 §5; McCandlish et al. 2018):

- **Budget**: the optimal ε falls slowly as the budget grows (SED §6–7, Fig. 2, Fig. 3c); the full budget's
  ε_eff,opt(B₀) = ε₀·f^α with α = ``BUDGET_EXPONENT`` = 1/2, and T = ε₀·f^α/B₀ (SED §3.3, T = ε/(B(1−m))).
- **Noise-dominated, B < B***: the optimal temperature is fixed, ε_eff,opt(B) = T·B (SED §3.3, Fig. 1a:
  the optimal learning rate is proportional to the batch size).
- **Curvature-dominated, B ≥ B***: ε_eff,opt(B) = ε_max = κ·ε_stab, κ = ``CURVATURE_FACTOR`` = 2 (SED §3.1:
  above B* the learning rate is bounded by the curvature, Fig. 1a's plateau).
- Hence the hinge ε_eff,opt(B) = min(T·B, ε_max) and **B* = ε_max/T**.
- **Intervals**: T's from the scan (the protocol's one-std band, at least ×/÷ 2 around the optimum);
  ε_max's from κ ∈ ``CURVATURE_FACTOR_RANGE`` = [1, 4].
- **Recommendation** for the budget: the largest candidate B ≤ min(B*/4, B_simple(end)/8)
  (``batch_margin``, ``noise_margin``), at ε_eff,opt(B), with the user's momentum; none: the smallest
  candidate. At a fixed epoch budget the accuracy falls before B* is reached (SED Fig. 1b); McCandlish et
  al.'s trade-off E/E_min = 1 + B/B_noise makes B = B_noise/8 cost about 1/8 more examples for the same loss.

Where the constants come from: κ = 2 from this project's ``sed-epoch-budget`` runs (the plateau of the swept
ε_eff,opt is 2.1× ε_stab at m = 0 and 1.8× at m = 0.9); α = 1/2 and the margin 1/8 from the design tasks of
``benchmarks/advisor.py`` (Smith & Le's MLP on MNIST, logistic regression on synthetic data, SED's
batch-norm MLP on Fashion-MNIST: the scan at half the budget placed ε₀ 1.99×, 1.51× and 0.90× the swept
optimum, geometric mean ≈ 2^0.48; B = 64 lost 0.95 points on the MLP, whose B_simple(end) was ≈ 240). The
benchmark names its held-out tasks and reports the targets it meets or misses.

The cost comparison: the SED protocol sweep on the candidates — every candidate B × a 2^k grid of
``sweep_grid_points`` ε_eff × ``sweep_seeds`` seeds, each run the full budget (its evaluations and any
grid extension left out, which favours the sweep).

The package, by job: ``problem`` (:class:`Problem`, :class:`Budget`), ``training`` (:func:`train_run`, the
loop every run shares), ``pilot`` (steps 1–3: :func:`run_pilot`, :class:`Pilot`), ``prediction`` (the rules:
:func:`predict`, :func:`sweep_cost`), ``advice`` (:func:`advise`, :class:`Advice`), ``figure``
(:func:`plot_advice`). Every public name is re-exported here.
"""

from sgdnoise.advisor.advice import DEFAULT_CANDIDATES, Advice, advise, advise_problem
from sgdnoise.advisor.figure import draw_prediction, plot_advice
from sgdnoise.advisor.pilot import (
    FORWARD_COST,
    GRID_RATIO,
    MAX_SCAN_POINTS,
    MEASUREMENT_BATCH,
    MIN_PILOT_STEPS,
    READINGS,
    SCAN_POINTS,
    SCAN_START,
    Pilot,
    ScanRun,
    run_pilot,
)
from sgdnoise.advisor.prediction import (
    BATCH_MARGIN,
    BUDGET_EXPONENT,
    CURVATURE_FACTOR,
    CURVATURE_FACTOR_RANGE,
    NOISE_MARGIN,
    BatchPrediction,
    Prediction,
    batches_checked,
    predict,
    sweep_cost,
)
from sgdnoise.advisor.problem import Budget, LossFn, Objective, Problem, Regime
from sgdnoise.advisor.training import DIVERGENCE_FACTOR, evaluate, train_run

__all__ = [
    "BATCH_MARGIN",
    "BUDGET_EXPONENT",
    "CURVATURE_FACTOR",
    "CURVATURE_FACTOR_RANGE",
    "DEFAULT_CANDIDATES",
    "DIVERGENCE_FACTOR",
    "FORWARD_COST",
    "GRID_RATIO",
    "MAX_SCAN_POINTS",
    "MEASUREMENT_BATCH",
    "MIN_PILOT_STEPS",
    "NOISE_MARGIN",
    "READINGS",
    "SCAN_POINTS",
    "SCAN_START",
    "Advice",
    "BatchPrediction",
    "Budget",
    "LossFn",
    "Objective",
    "Pilot",
    "Prediction",
    "Problem",
    "Regime",
    "ScanRun",
    "advise",
    "advise_problem",
    "batches_checked",
    "draw_prediction",
    "evaluate",
    "plot_advice",
    "predict",
    "run_pilot",
    "sweep_cost",
    "train_run",
]
