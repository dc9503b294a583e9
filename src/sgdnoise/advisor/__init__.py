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
2. **Curvature at initialisation**: λ_max of the Hessian (Lanczos, ``instruments.hessian_eigenvalues``, residual
   ≤ ``CURVATURE_TOL``·λ_max) on ``curvature_examples`` examples, ε_crit = 2/λ_max (SED §3.1,
   ``theory.critical_learning_rate``), and the stability bound of SGD with momentum on a quadratic of
   curvature λ, in effective-learning-rate units: ε_stab = ε_crit·(1+m)/(1−m) (heavy ball is stable iff
   ε < 2(1+m)/λ).
3. **The temperature scan**: short runs (``pilot_fraction`` f of the budget, ``pilot_seeds`` seeds; defaults
   f = 1/2, one seed) at a small pilot batch B₀ (the largest candidate ≤ B_simple(init)/2 that gives the
   scan runs at least ``MIN_PILOT_STEPS`` updates, else the smallest) on a 2^k grid of ε_eff: ε_stab/4
   (``SCAN_START``) and one point either side (``SCAN_POINTS``), extended by ×2 past an edge optimum until
   the optimum is interior (SED §4: an optimum at the grid edge is a bound; ``next_exponent``), at most
   ``MAX_SCAN_POINTS`` runs. The best-k-of-n protocol (SED §4, ``analysis.tune_best_k_of_n``) and a
   least-squares parabola in log ε through the best point and up to ``SCAN_FIT_HALFWIDTH`` = 2 points
   either side (``analysis.optimum_on_grid``) place ε₀ = ε_eff,opt(B₀) at the scan's budget. An optimum
   still at the edge after the last run makes the advice **inconclusive** (``Advice.inconclusive`` says
   why; the predictions are then bounds).
4. **Gradient noise late in training**: tr Σ and |G|² at the end of the first seed's scan runs within ×2
   of ε₀ (their models are kept until the scan ends) and in the middle of the first run to finish (the
   trajectory shown); B_simple(end) = Σ tr Σ_i / Σ |G|²_i over those end readings (``pooled_noise_scale``: the ratio of
   pooled means, as McCandlish et al. App. A.1 average the numerator and the denominator separately; one
   reading's ratio is heavy-tailed once |G|² is small).

The rules (SED §3–5, Fig. 1; Smith & Le 2018 §5; McCandlish et al. 2018):

- **Budget**: the full budget's ε_eff,opt(B₀) = ε₀·f^α with α = ``BUDGET_EXPONENT`` = 1/2, measured on the
  design tasks (docs/advisor.md; faster than SED §7's test-accuracy optimum, which moves ×2 over a 128× budget,
  and like its training-loss optimum), and T = ε₀·f^α/B₀ (SED §3.3, T = ε/(B(1−m))).
- **Noise-dominated, B < B***: the optimal temperature is fixed, ε_eff,opt(B) = T·B (SED §3.3, Fig. 1a:
  the optimal learning rate is proportional to the batch size).
- **Curvature-dominated, B ≥ B***: ε_eff,opt(B) = ε_max (SED §3.1, Fig. 1a's plateau), the smaller of two
  bounds but never below what the scan measured at B₀ (``ceiling``):
  ε_max = max(min(κ·ε_stab, T·B_simple(end)), T·B₀), κ = ``CURVATURE_FACTOR`` = 2. κ·ε_stab is the
  curvature bound; T·B_simple(end) is the noise bound, B* ≈ B_noise (McCandlish et al. §2.2: the critical
  batch size is about the noise scale measured along training); T·B₀ because an optimum measured at B₀ is
  reachable there whatever λ_max says (then B* = B₀ and ε_eff,opt is flat).
- Hence the hinge ε_eff,opt(B) = min(T·B, ε_max) and **B* = ε_max/T**.
- **Intervals**: T's from the scan (the protocol's one-std band, at least ×/÷ 2 around the optimum);
  ε_max's from κ ∈ ``CURVATURE_FACTOR_RANGE`` = [1, 4], B_simple(end) within ×/÷ ``NOISE_CEILING_RANGE`` = 2
  and T over its interval.
- **Recommendation** for the budget: the largest candidate B ≤ min(B*/4, B_simple(end)/8)
  (``batch_margin``, ``noise_margin``), at ε_eff,opt(B), with the user's momentum; none: the smallest
  candidate. At a fixed epoch budget the accuracy falls before B* is reached (SED Fig. 1b); McCandlish et
  al.'s trade-off E/E_min = 1 + B/B_noise makes B = B_noise/8 cost about 1/8 more examples for the same loss.

Where the constants come from — measurements on the design tasks of ``benchmarks/advisor.py`` (logistic
regression, Smith & Le's MLP, SED's batch-norm MLP; and, since v2 of these rules, the CNN and the
character LM, which were held out from v1) and this project's ``sed-epoch-budget`` runs (docs/advisor.md has the
tables):

- κ = 2: the plateau of the swept ε_eff,opt is 2.1× ε_stab at m = 0 and 1.8× at m = 0.9 in
  ``sed-epoch-budget``, 2.7× on the batch-norm MLP here. On the CNN it is 0.16× (ε_stab from λ_max at init
  is 12× too high: λ_max is 4–5× larger a quarter into a scan run) and on the LM 3.5–7×: hence the noise
  bound and the floor T·B₀. λ_max measured in the middle of a scan run did not do better (the CNN's bound stays ≥ 2×
  the plateau, the LM's optimum stays 2–7× above 2/λ_max), so the ceiling keeps λ_max at initialisation.
- The scan (ε_stab/4 centre, ×2 steps, 5-point parabola) and α = 1/2: on a lattice of half-budget runs
  (ε_stab·2^-10 … 2^3, two seeds, five design tasks) the simulated scan's log2(swept full-budget
  ε_eff,opt(B₀)/ε₀) has mean −0.45, std 0.22, worst deviation from its mean 0.32, in 5.1 runs on average
  (at most 7); v1's scan (ε_stab/8 centre, 3-point parabola) gives −0.26, 0.54, 1.30. The mean
  −0.45 ≈ −α·log2(1/f) gives α ≈ 1/2 (v1's value, fitted on three tasks). Extending by ×4 after the
  first step (v2's first candidate) biased the fit on the uneven grid it leaves (std 0.70).
- ``NOISE_CEILING_RANGE`` = 2 is a stated tolerance, not a fit: McCandlish et al. give B_crit ≈ B_noise
  only roughly, and the one design task with a swept plateau where the noise bound binds (the CNN) has
  B_simple(end) = 92 against a swept B* of 102.
- ``CURVATURE_TOL`` = 0.1: λ_max within 12% of its value at tol = 1e-2 on the five design tasks, with 36–75%
  of the Hessian-vector products (the sweep's 1.9% on the batch-norm MLP at 1e-2).
- The margins 1/4 and 1/8: at 3 epochs of 1024 examples, B = 64 already lost 0.95 points on Smith & Le's
  MLP (B_simple(end) ≈ 240) and 0.5 on the batch-norm MLP (≈ 230) under v1.
- B_simple(end) pooled: one 256-example end reading on the MLP read 1759 where four other 256-example
  subsets of the same model read 158–445 (pooled 249, 1024 examples 260).

The cost comparison: the SED protocol sweep on the candidates — every candidate B × a 2^k grid of
``sweep_grid_points`` ε_eff × ``sweep_seeds`` seeds, each run the full budget (its evaluations and any
grid extension left out, which favours the sweep).

The package, by job: ``problem`` (:class:`Problem`, :class:`Budget`), ``training`` (:func:`train_run`, the
loop every run shares), ``pilot`` (steps 1–4: :func:`run_pilot`, its :class:`PilotSettings`, :class:`Pilot`,
:func:`pooled_noise_scale`, :func:`next_exponent`), ``prediction`` (the rules: :func:`ceiling`,
:func:`predict`, :func:`sweep_cost`), ``advice`` (:func:`advise`, :class:`Advice`), ``figure``
(:func:`plot_advice`). Every public name is re-exported here.
"""

from sgdnoise.advisor.advice import DEFAULT_CANDIDATES, Advice, advise, advise_problem
from sgdnoise.advisor.figure import draw_prediction, plot_advice
from sgdnoise.advisor.pilot import (
    CURVATURE_TOL,
    FORWARD_COST,
    GRID_RATIO,
    MAX_SCAN_POINTS,
    MEASUREMENT_BATCH,
    MIDDLE_READING,
    MIN_PILOT_STEPS,
    SCAN_FIT_HALFWIDTH,
    SCAN_POINTS,
    SCAN_START,
    Pilot,
    PilotSettings,
    ScanRun,
    next_exponent,
    pooled_noise_scale,
    run_pilot,
)
from sgdnoise.advisor.prediction import (
    BATCH_MARGIN,
    BUDGET_EXPONENT,
    CURVATURE_FACTOR,
    CURVATURE_FACTOR_RANGE,
    NOISE_CEILING_RANGE,
    NOISE_MARGIN,
    BatchPrediction,
    Prediction,
    batches_checked,
    ceiling,
    predict,
    sweep_cost,
)
from sgdnoise.advisor.problem import Budget, LossFn, Objective, Problem, Regime
from sgdnoise.advisor.training import DIVERGENCE_FACTOR, as_model_data, check_accuracy_output, evaluate, train_run

__all__ = [
    "BATCH_MARGIN",
    "BUDGET_EXPONENT",
    "CURVATURE_FACTOR",
    "CURVATURE_FACTOR_RANGE",
    "CURVATURE_TOL",
    "DEFAULT_CANDIDATES",
    "DIVERGENCE_FACTOR",
    "FORWARD_COST",
    "GRID_RATIO",
    "MAX_SCAN_POINTS",
    "MEASUREMENT_BATCH",
    "MIDDLE_READING",
    "MIN_PILOT_STEPS",
    "NOISE_CEILING_RANGE",
    "NOISE_MARGIN",
    "SCAN_FIT_HALFWIDTH",
    "SCAN_POINTS",
    "SCAN_START",
    "Advice",
    "BatchPrediction",
    "Budget",
    "LossFn",
    "Objective",
    "Pilot",
    "PilotSettings",
    "Prediction",
    "Problem",
    "Regime",
    "ScanRun",
    "advise",
    "advise_problem",
    "as_model_data",
    "batches_checked",
    "ceiling",
    "check_accuracy_output",
    "draw_prediction",
    "evaluate",
    "next_exponent",
    "plot_advice",
    "pooled_noise_scale",
    "predict",
    "run_pilot",
    "sweep_cost",
    "train_run",
]
