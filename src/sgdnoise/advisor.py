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
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from sgdnoise import analysis, theory
from sgdnoise.engine.schedules import StepDecay
from sgdnoise.instruments import hessian_eigenvalues, minibatch_gradient_noise, recalibrate_batch_norm
from sgdnoise.validation import positive_int, positive_number

Objective = Literal["accuracy", "loss"]
Regime = Literal["noise-dominated", "curvature-dominated"]
LossFn = Callable[[Tensor, Tensor], Tensor]

CURVATURE_FACTOR = 2.0  # κ = ε_max/ε_stab
CURVATURE_FACTOR_RANGE = (1.0, 4.0)  # the interval of ε_max: κ's spread on the design tasks
BATCH_MARGIN = 0.25
NOISE_MARGIN = 0.125
BUDGET_EXPONENT = 0.5  # ε_opt ∝ budget^-α between the scan's and the full budget
GRID_RATIO = 2.0
SCAN_START = 2.0**-3  # the scan's first grid point, × ε_stab
SCAN_POINTS = 3  # the scan's initial grid
MAX_SCAN_POINTS = 7
MIN_PILOT_STEPS = 8
DIVERGENCE_FACTOR = 10.0  # a run whose training loss exceeds this × its initial loss has diverged
FORWARD_COST = 1.0 / 3.0  # a forward-only pass, in forward+backward passes
READINGS = (0.5, 1.0)  # B_simple during each scan run, as fractions of it
MEASUREMENT_BATCH = 64  # batch-norm statistics are re-estimated over batches of this size
DEFAULT_CANDIDATES = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


@dataclass(frozen=True)
class Problem:
    """What the advisor needs: a factory of fresh models, a loss (the MEAN over the batch), training and
    validation data as (x, y) tensors (examples on the first axis) and the objective to maximise
    (validation ``accuracy``: argmax of the last axis against y; or ``loss``: minimised)."""

    model_factory: Callable[[], nn.Module]
    loss_fn: LossFn
    train: tuple[Tensor, Tensor]
    validation: tuple[Tensor, Tensor]
    objective: Objective = "accuracy"

    def __post_init__(self) -> None:
        if not callable(self.model_factory):
            raise TypeError(f"model_factory must be a callable returning an nn.Module, got {self.model_factory!r}")
        if not callable(self.loss_fn):
            raise TypeError(f"loss_fn must be callable, got {self.loss_fn!r}")
        for name in ("train", "validation"):
            pair = getattr(self, name)
            if not (isinstance(pair, tuple | list) and len(pair) == 2 and all(isinstance(t, Tensor) for t in pair)):
                raise TypeError(f"{name} must be a pair of tensors (x, y), got {type(pair).__name__}")
            if pair[0].shape[0] != pair[1].shape[0] or pair[0].shape[0] < 2:
                raise ValueError(f"{name}: x and y need the same number (>= 2) of examples on their first axis")
            object.__setattr__(self, name, (pair[0], pair[1]))
        if self.objective not in ("accuracy", "loss"):
            raise ValueError(f"objective must be 'accuracy' or 'loss', got {self.objective!r}")

    @classmethod
    def coerce(cls, value: Any) -> Problem:
        """A :class:`Problem`, or one built from a mapping with its field names."""
        if isinstance(value, Problem):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"model_factory", "loss_fn", "train", "validation", "objective"}
            if unknown or not {"model_factory", "loss_fn", "train", "validation"} <= set(value):
                raise ValueError(
                    "a problem needs the keys model_factory, loss_fn, train, validation (and optionally "
                    f"objective); got {sorted(value)}"
                )
            return cls(**value)
        raise TypeError(f"expected an advisor.Problem or a mapping, got {type(value).__name__}")


@dataclass(frozen=True)
class Budget:
    """A training budget: ``epochs`` (examples = epochs·N at every B) or ``steps`` (updates at every B)."""

    epochs: float | None = None
    steps: int | None = None

    def __post_init__(self) -> None:
        if (self.epochs is None) == (self.steps is None):
            raise ValueError("give exactly one budget: budget_epochs or budget_steps")
        if self.epochs is not None:
            positive_number("budget_epochs", self.epochs)
        else:
            positive_int("budget_steps", self.steps)

    def steps_at(self, batch_size: int, n_train: int, fraction: float = 1.0) -> int:
        """Updates of a run at ``batch_size`` on ``n_train`` examples for ``fraction`` of the budget."""
        if self.steps is not None:
            return round(self.steps * fraction)
        assert self.epochs is not None
        return round(self.epochs * fraction * n_train / batch_size)

    def describe(self) -> str:
        return f"{self.epochs:g} epochs" if self.epochs is not None else f"{self.steps} steps"


@dataclass(frozen=True)
class ScanRun:
    """One short run of the temperature scan: its effective learning rate, seed, validation score (None:
    diverged) and, for the first seed, B_simple at ``READINGS`` of the run (the last at its end)."""

    lr_eff: float
    seed: int
    score: float | None
    noise_scale_simple: tuple[float, ...]


@dataclass(frozen=True)
class Pilot:
    """What the pilot measured: B_simple and λ_max at init, the stability bound, the scan and its optimum."""

    batch_size: int
    steps_per_run: int
    noise_scale_simple_init: float
    max_eigenvalue_init: float
    critical_lr: float
    stability_lr_eff: float
    runs: tuple[ScanRun, ...]
    lr_eff_opt: float
    lr_eff_low: float
    lr_eff_high: float
    at_edge: bool
    budget_fraction: float
    cost_passes: float

    @property
    def budget_correction(self) -> float:
        """f^α: the scan ran ``budget_fraction`` = f of the budget; the optimal ε falls with the budget as
        budget^-α (``BUDGET_EXPONENT``), so the full budget's optimum is ε₀·f^α."""
        return self.budget_fraction**BUDGET_EXPONENT

    @property
    def temperature(self) -> float:
        """T = ε₀·f^α/B₀ at the full budget."""
        return self.lr_eff_opt * self.budget_correction / self.batch_size

    def noise_trajectory(self) -> list[tuple[float, float]]:
        """(fraction of the run, B_simple) from init through the scan run nearest the optimum (first seed)."""
        measured = [r for r in self.runs if r.noise_scale_simple]
        if not measured:
            return [(0.0, self.noise_scale_simple_init)]
        nearest = min(measured, key=lambda r: (abs(math.log(r.lr_eff / self.lr_eff_opt)), r.seed))
        return [(0.0, self.noise_scale_simple_init), *zip(READINGS, nearest.noise_scale_simple, strict=False)]


@dataclass(frozen=True)
class BatchPrediction:
    """The prediction at one batch size: ε_eff,opt with its interval, the torch lr ε = ε_eff·(1−m), the regime
    and the updates the budget gives."""

    batch_size: int
    lr_eff: float
    lr_eff_low: float
    lr_eff_high: float
    lr: float
    regime: Regime
    steps: int


@dataclass(frozen=True)
class Prediction:
    """The hinge ε_eff,opt(B) = min(T·B, ε_max) on the candidates, B* = ε_max/T and the recommendation."""

    temperature: float
    temperature_low: float
    temperature_high: float
    max_lr_eff: float
    max_lr_eff_low: float
    max_lr_eff_high: float
    critical_batch_size: float
    critical_batch_low: float
    critical_batch_high: float
    batches: tuple[BatchPrediction, ...]
    recommended: BatchPrediction


@dataclass(frozen=True)
class Advice:
    """The advisor's answer (see the module docstring): the recommended (B, ε, m), the prediction at every
    candidate, B*, the pilot, and the cost of the pilot against the SED protocol sweep it replaces."""

    batch_size: int
    lr: float
    lr_eff: float
    momentum: float
    budget: str
    objective: Objective
    prediction: Prediction
    pilot: Pilot
    pilot_cost: float
    sweep_cost: float
    sweep: str

    @property
    def cost_fraction(self) -> float:
        return self.pilot_cost / self.sweep_cost

    def to_dict(self) -> dict[str, Any]:
        """Plain data (strict-JSON-ready through ``results.dumps``)."""
        return asdict(self) | {"cost_fraction": self.cost_fraction, "temperature": self.pilot.temperature}

    def lines(self) -> list[str]:
        """A human-readable summary: the table of predictions, B*, the recommendation and the cost."""
        p = self.prediction
        out = [f"{'B':>6s} {'ε_eff opt':>10s} {'interval':>19s} {'lr ε':>10s} {'steps':>7s}  regime"]
        for b in p.batches:
            mark = "  <- recommended" if b.batch_size == self.batch_size else ""
            out.append(
                f"{b.batch_size:6d} {b.lr_eff:10.4g} [{b.lr_eff_low:8.3g}, {b.lr_eff_high:8.3g}] {b.lr:10.4g} "
                f"{b.steps:7d}  {b.regime}{mark}"
            )
        out += [
            f"temperature T = ε_eff/B = {p.temperature:.4g} [{p.temperature_low:.3g}, {p.temperature_high:.3g}]; "
            f"curvature ceiling ε_max = {p.max_lr_eff:.4g} [{p.max_lr_eff_low:.3g}, {p.max_lr_eff_high:.3g}]",
            f"critical batch size B* = {p.critical_batch_size:.4g} "
            f"[{p.critical_batch_low:.3g}, {p.critical_batch_high:.3g}]",
            f"recommendation for {self.budget}: batch size {self.batch_size}, lr {self.lr:.4g} "
            f"(ε_eff = {self.lr_eff:.4g}), momentum {self.momentum:g}",
            "pilot: B_simple along the scan run nearest the optimum: "
            + ", ".join(f"{b:.3g} at {f:g}" for f, b in self.pilot.noise_trajectory())
            + f"; 2/λ_max = {self.pilot.critical_lr:.4g} at init; "
            f"{len(self.pilot.runs)} scan runs at B = {self.pilot.batch_size}; cost {self.pilot_cost:.4g} "
            f"example passes = {100 * self.cost_fraction:.2f}% of {self.sweep} ({self.sweep_cost:.4g})",
        ]
        return out


# ---- the predictor (pure) -----------------------------------------------------------------------------------


def predict(
    temperature: tuple[float, float, float],
    max_lr_eff: tuple[float, float, float],
    batch_sizes: Sequence[int],
    *,
    momentum: float,
    budget: Budget,
    n_train: int,
    batch_margin: float = BATCH_MARGIN,
    noise_scale: float | None = None,
    noise_margin: float = NOISE_MARGIN,
) -> Prediction:
    """The rules of the module docstring on pilot numbers: ``temperature`` and ``max_lr_eff`` as (value,
    low, high). ε_eff,opt(B) = min(T·B, ε_max) with interval [min(T_lo·B, ε_max,lo), min(T_hi·B, ε_max,hi)];
    B* = ε_max/T with interval [ε_max,lo/T_hi, ε_max,hi/T_lo]; the recommendation is the largest candidate
    B ≤ ``batch_margin``·B* and, when ``noise_scale`` (B_simple late in training) is given, ≤
    ``noise_margin``·B_simple (none: the smallest)."""
    t, t_lo, t_hi = (positive_number("temperature", v) for v in temperature)
    e, e_lo, e_hi = (positive_number("max_lr_eff", v) for v in max_lr_eff)
    if not (t_lo <= t <= t_hi and e_lo <= e <= e_hi):
        raise ValueError("each interval must contain its value: (value, low, high) with low <= value <= high")
    positive_number("batch_margin", batch_margin)
    positive_number("noise_margin", noise_margin)
    limit = batch_margin * e / t
    if noise_scale is not None:
        limit = min(limit, noise_margin * positive_number("noise_scale", noise_scale))
    critical = e / t
    batches = []
    for b in sorted(batch_sizes):
        lr_eff = min(t * b, e)
        batches.append(
            BatchPrediction(
                batch_size=int(b),
                lr_eff=lr_eff,
                lr_eff_low=min(t_lo * b, e_lo),
                lr_eff_high=min(t_hi * b, e_hi),
                lr=lr_eff * (1.0 - momentum),
                regime="noise-dominated" if b < critical else "curvature-dominated",
                steps=budget.steps_at(int(b), n_train),
            )
        )
    fitting = [b for b in batches if b.batch_size <= limit]
    recommended = fitting[-1] if fitting else batches[0]
    return Prediction(t, t_lo, t_hi, e, e_lo, e_hi, critical, e_lo / t_hi, e_hi / t_lo, tuple(batches), recommended)


def sweep_cost(
    batch_sizes: Sequence[int], budget: Budget, n_train: int, grid_points: int, seeds: int
) -> tuple[float, str]:
    """Example passes of the SED protocol sweep over ``batch_sizes`` (each run the full budget) and its
    description."""
    per_grid = sum(budget.steps_at(b, n_train) * b for b in batches_checked(batch_sizes))
    description = (
        f"the SED protocol sweep ({len(batch_sizes)} batch sizes × {grid_points} learning rates × {seeds} seeds)"
    )
    return float(per_grid * grid_points * seeds), description


def batches_checked(batch_sizes: Sequence[int]) -> list[int]:
    if isinstance(batch_sizes, str | bytes) or not isinstance(batch_sizes, Sequence) or not batch_sizes:
        raise TypeError(f"candidate batch sizes must be a non-empty list of integers, got {batch_sizes!r}")
    out = [positive_int("candidate batch size", b, minimum=2) for b in batch_sizes]
    if len(set(out)) != len(out):
        raise ValueError(f"candidate batch sizes must be distinct, got {list(batch_sizes)}")
    return sorted(out)  # type: ignore[arg-type]


# ---- training ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _own_rng(device: torch.device) -> Iterator[None]:
    """Leave torch's global random state as it was (CONTRIBUTING: no global state changed)."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield


def _model(problem: Problem, seed: int, device: torch.device) -> nn.Module:
    torch.manual_seed(seed)
    model = problem.model_factory()
    if not isinstance(model, nn.Module):
        raise TypeError(f"model_factory must return an nn.Module, got {type(model).__name__}")
    return model.to(device)


@torch.no_grad()
def evaluate(model: nn.Module, loss_fn: LossFn, data: tuple[Tensor, Tensor], chunk: int = 1024) -> tuple[float, float]:
    """Mean loss and accuracy (argmax of the last axis against y, over every element of y) on ``data``."""
    was_training = model.training
    model.eval()
    x, y = data
    loss_sum, correct = 0.0, 0.0
    for lo in range(0, x.shape[0], chunk):
        out = model(x[lo : lo + chunk])
        n = min(chunk, x.shape[0] - lo)
        loss_sum += float(loss_fn(out, y[lo : lo + chunk])) * n
        if out.dim() == y.dim() + 1:
            correct += float((out.argmax(-1) == y[lo : lo + chunk]).float().mean()) * n
    model.train(was_training)
    return loss_sum / x.shape[0], correct / x.shape[0]


def train_run(
    problem: Problem,
    *,
    batch_size: int,
    lr_eff: float,
    momentum: float,
    steps: int,
    seed: int,
    device: torch.device,
    probe: Callable[[nn.Module], None] | None = None,
    probe_steps: Sequence[int] = (),
) -> tuple[nn.Module | None, float | None]:
    """SGD with momentum (``torch.optim.SGD``, lr ε = ε_eff·(1−m)) for ``steps`` updates on shuffled
    minibatches (a new permutation every epoch), SED's step-decay schedule; → (model, validation score) or
    (None, None) when the loss became non-finite or exceeded ``DIVERGENCE_FACTOR`` × its first value.
    ``probe(copy of the model)`` runs before each update in ``probe_steps``. Deterministic given ``seed``;
    torch's global random state is left unchanged."""
    x, y = (t.to(device) for t in problem.train)
    n = x.shape[0]
    schedule = StepDecay(lr_eff * (1.0 - momentum))
    with _own_rng(device):
        model = _model(problem, seed, device)
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=schedule.initial, momentum=momentum)
        generator = torch.Generator().manual_seed(seed + 1_000_003)
        order, position, first = torch.randperm(n, generator=generator), 0, None
        for step in range(steps):
            if position + batch_size > n:
                order, position = torch.randperm(n, generator=generator), 0
            index = order[position : position + batch_size].to(device)
            position += batch_size
            for group in optimizer.param_groups:
                group["lr"] = schedule(step / steps)
            if probe is not None and step in probe_steps:
                probe(copy.deepcopy(model))
            loss = problem.loss_fn(model(x[index]), y[index])
            value = float(loss.detach())
            first = value if first is None else first
            if not math.isfinite(value) or value > DIVERGENCE_FACTOR * max(first, 1e-12):
                return None, None
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    validation = tuple(t.to(device) for t in problem.validation)
    loss_value, accuracy = evaluate(model, problem.loss_fn, validation)  # type: ignore[arg-type]
    if not math.isfinite(loss_value):
        return None, None
    return model, (accuracy if problem.objective == "accuracy" else loss_value)


# ---- the pilot ----------------------------------------------------------------------------------------------


def _subset(data: tuple[Tensor, Tensor], size: int, seed: int, device: torch.device) -> tuple[Tensor, Tensor]:
    index = torch.randperm(data[0].shape[0], generator=torch.Generator().manual_seed(seed))[:size]
    return data[0][index].to(device), data[1][index].to(device)


def _noise_scale(model: nn.Module, problem: Problem, subset: tuple[Tensor, Tensor]) -> float:
    """B_simple of the training set from the ``subset`` (unbiased tr Σ and |G|², McCandlish et al. App. A.1;
    ``instruments.minibatch_gradient_noise``), in eval mode after re-estimating any batch-norm statistics on
    it (per-example gradients are undefined under train-mode batch norm; as ``sed-epoch-budget`` measures it).
    A |G|² estimate ≤ 0 (the noise swamps the signal) gives inf."""
    recalibrate_batch_norm(model, subset[0].split(MEASUREMENT_BATCH))
    n = problem.train[0].shape[0]
    estimate = minibatch_gradient_noise(model, problem.loss_fn, *subset, train_size=n, train_mode=False)
    return estimate.covariance_trace / estimate.mean_grad_sq_norm if estimate.mean_grad_sq_norm > 0 else math.inf


def _scan_optimum(lrs: list[float], scores: np.ndarray, keep: int, maximize: bool) -> tuple[float, float, float, bool]:
    """(ε₀, low, high, at_edge): the protocol's optimum and band (``scores`` [grid, seeds]), refined by the
    parabola in log ε through the mean over seeds."""
    tuned = analysis.tune_best_k_of_n(lrs, scores, keep, maximize=maximize)
    refined = tuned.value
    if not tuned.at_edge:
        refined = analysis.optimum_on_grid(lrs, scores.T, maximize=maximize).refined
    low = min(tuned.band_lower, refined / GRID_RATIO)
    high = max(tuned.band_upper, refined * GRID_RATIO)
    return float(refined), float(low), float(high), bool(tuned.at_edge)


def run_pilot(
    problem: Problem,
    candidates: Sequence[int],
    *,
    budget: Budget,
    momentum: float,
    seed: int,
    device: torch.device,
    pilot_fraction: float,
    pilot_seeds: int,
    noise_examples: int,
    curvature_examples: int,
    show_progress: bool,
) -> Pilot:
    """Steps 1–3 of the module docstring."""
    from tqdm.auto import tqdm

    n = problem.train[0].shape[0]
    noise_subset = _subset(problem.train, min(noise_examples, n), seed, device)
    curvature_subset = _subset(problem.train, min(curvature_examples, n), seed + 1, device)
    with _own_rng(device):
        model = _model(problem, seed, device)
        b_simple = _noise_scale(model, problem, noise_subset)
        eigen = hessian_eigenvalues(
            model, problem.loss_fn, curvature_subset, k=1, tol=1e-2, seed=seed, train_mode=False
        )
    cost = float(noise_subset[0].shape[0]) + 2.0 * eigen.n_matvecs * curvature_subset[0].shape[0]
    lam = float(eigen.eigenvalues[0])
    if not lam > 0:
        raise ValueError(f"the Hessian at initialisation has no positive curvature (λ_max = {lam:.3g}): no ceiling")
    critical = float(theory.critical_learning_rate(lam))
    stability = critical * (1.0 + momentum) / (1.0 - momentum)
    fitting = [b for b in candidates if b <= b_simple / 2]
    batch = fitting[-1] if fitting else candidates[0]
    steps = budget.steps_at(batch, n, pilot_fraction)
    if steps < MIN_PILOT_STEPS:
        raise ValueError(
            f"the budget ({budget.describe()}) is too small for a pilot: {pilot_fraction:g} of it is {steps} updates "
            f"at the pilot batch size {batch} (at least {MIN_PILOT_STEPS} needed)"
        )
    exponents = list(range(-SCAN_POINTS // 2, SCAN_POINTS - SCAN_POINTS // 2))
    scores: dict[int, list[ScanRun]] = {}
    maximize = problem.objective == "accuracy"
    validation_passes = problem.validation[0].shape[0] * FORWARD_COST
    bar = tqdm(total=SCAN_POINTS * pilot_seeds, desc=f"advisor pilot (B = {batch})", disable=not show_progress)
    while True:
        for k in exponents:
            if k in scores:
                continue
            lr_eff = stability * SCAN_START * GRID_RATIO**k
            runs = []
            for s in range(pilot_seeds):
                readings: list[float] = []
                model, score = train_run(
                    problem,
                    batch_size=batch,
                    lr_eff=lr_eff,
                    momentum=momentum,
                    steps=steps,
                    seed=seed + s,
                    device=device,
                    probe=lambda m, readings=readings: readings.append(_noise_scale(m, problem, noise_subset)),
                    probe_steps=[round(f * steps) for f in READINGS[:-1]] if s == 0 else [],
                )
                cost += steps * batch + validation_passes
                if model is not None and s == 0:
                    readings.append(_noise_scale(model, problem, noise_subset))
                cost += len(readings) * noise_subset[0].shape[0]
                runs.append(ScanRun(lr_eff, seed + s, score, tuple(readings)))
                bar.update(1)
            scores[k] = runs
        ordered = sorted(scores)
        table = np.array([[np.nan if r.score is None else r.score for r in scores[k]] for k in ordered])
        finished = np.isfinite(table).any(axis=1)
        if not finished.any():
            grow = ordered[0] - 1  # every run diverged: go lower
        else:
            filled = np.where(np.isfinite(table), table, 0.0)
            means = filled.sum(axis=1) / np.maximum(np.isfinite(table).sum(axis=1), 1)
            means = np.where(finished, means if maximize else -means, -np.inf)
            best = int(np.argmax(means))
            grow = ordered[0] - 1 if best == 0 else ordered[-1] + 1 if best == len(ordered) - 1 else None
        if grow is None or len(scores) >= MAX_SCAN_POINTS:
            break
        exponents = [grow]
        bar.total += pilot_seeds
    bar.close()
    if not finished.any():
        lowest = stability * SCAN_START * GRID_RATIO ** ordered[0]
        raise ValueError(
            f"the model diverged at every tried learning rate (ε_eff from {lowest:.3g} to "
            f"{stability * SCAN_START * GRID_RATIO ** ordered[-1]:.3g} at B = {batch}); check the model and the loss"
        )
    lrs = [stability * SCAN_START * GRID_RATIO**k for k in ordered]
    keep = max(1, pilot_seeds - 1) if pilot_seeds > 2 else pilot_seeds
    value, low, high, at_edge = _scan_optimum(lrs, table, keep, maximize)
    all_runs = tuple(r for k in ordered for r in scores[k])
    return Pilot(
        batch, steps, b_simple, lam, critical, stability, all_runs, value, low, high, at_edge, pilot_fraction, cost
    )


def _device(device: str | torch.device | None, problem: Problem) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r} (auto, cpu, cuda or cuda:N)") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for but CUDA is not available")
    return resolved


def advise(
    model_factory: Callable[[], nn.Module],
    loss_fn: LossFn,
    train: tuple[Tensor, Tensor],
    validation: tuple[Tensor, Tensor],
    *,
    budget_epochs: float | None = None,
    budget_steps: int | None = None,
    momentum: float = 0.9,
    candidate_batch_sizes: Sequence[int] | None = None,
    objective: Objective = "accuracy",
    seed: int = 0,
    device: str | torch.device | None = "auto",
    pilot_fraction: float = 0.5,
    pilot_seeds: int = 1,
    noise_examples: int = 256,
    curvature_examples: int = 128,
    batch_margin: float = BATCH_MARGIN,
    noise_margin: float = NOISE_MARGIN,
    sweep_grid_points: int = 7,
    sweep_seeds: int = 4,
    show_progress: bool = True,
) -> Advice:
    """Predict the best effective learning rate at every candidate batch size, B* and the recommended
    (B, ε, m) for the budget from a pilot (the rules and the pilot: the module docstring).

    ``candidate_batch_sizes`` default: the powers of two from 16 up to the training-set size (at most 4096).
    ``objective``: maximise validation ``accuracy`` or minimise validation ``loss``. ``sweep_grid_points`` and
    ``sweep_seeds`` describe the sweep the cost is compared with. Raises ValueError (one line) for a budget
    too small for a pilot, a model that diverges at every tried ε, data smaller than the largest candidate.
    """
    problem = Problem(model_factory, loss_fn, train, validation, objective)
    budget = Budget(budget_epochs, budget_steps)
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be a number in [0, 1), got {momentum!r}")
    n = problem.train[0].shape[0]
    if candidate_batch_sizes is None:
        candidate_batch_sizes = [b for b in DEFAULT_CANDIDATES if b <= n] or [n]
    candidates = batches_checked(candidate_batch_sizes)
    if candidates[-1] > n:
        raise ValueError(
            f"the training set ({n} examples) is smaller than the largest candidate batch size {candidates[-1]}"
        )
    if not 0.0 < pilot_fraction <= 1.0:
        raise ValueError(f"pilot_fraction must lie in (0, 1], got {pilot_fraction!r}")
    for name, value in (
        ("pilot_seeds", pilot_seeds),
        ("noise_examples", noise_examples),
        ("curvature_examples", curvature_examples),
        ("sweep_grid_points", sweep_grid_points),
        ("sweep_seeds", sweep_seeds),
    ):
        positive_int(name, value, minimum=2 if name == "noise_examples" else 1)
    resolved = _device(device, problem)
    pilot = run_pilot(
        problem,
        candidates,
        budget=budget,
        momentum=float(momentum),
        seed=seed,
        device=resolved,
        pilot_fraction=pilot_fraction,
        pilot_seeds=pilot_seeds,
        noise_examples=noise_examples,
        curvature_examples=curvature_examples,
        show_progress=show_progress,
    )
    b0, correction = pilot.batch_size, pilot.budget_correction
    ceiling = pilot.stability_lr_eff
    low, high = CURVATURE_FACTOR_RANGE
    prediction = predict(
        (pilot.temperature, pilot.lr_eff_low * correction / b0, pilot.lr_eff_high * correction / b0),
        (CURVATURE_FACTOR * ceiling, low * ceiling, high * ceiling),
        candidates,
        momentum=float(momentum),
        budget=budget,
        n_train=n,
        batch_margin=batch_margin,
        noise_scale=pilot.noise_trajectory()[-1][1],
        noise_margin=noise_margin,
    )
    total, description = sweep_cost(candidates, budget, n, sweep_grid_points, sweep_seeds)
    rec = prediction.recommended
    return Advice(
        batch_size=rec.batch_size,
        lr=rec.lr,
        lr_eff=rec.lr_eff,
        momentum=float(momentum),
        budget=budget.describe(),
        objective=objective,
        prediction=prediction,
        pilot=pilot,
        pilot_cost=pilot.cost_passes,
        sweep_cost=total,
        sweep=description,
    )


def advise_problem(problem: Problem | Mapping[str, Any], **kwargs: Any) -> Advice:
    """:func:`advise` on a :class:`Problem` (or a mapping of its fields)."""
    p = Problem.coerce(problem)
    return advise(p.model_factory, p.loss_fn, p.train, p.validation, objective=p.objective, **kwargs)


def plot_advice(advice: Advice, path: Any, truth: Mapping[int, float] | None = None) -> Any:
    """ε_eff,opt(B) predicted (line, interval band, regimes shaded, B* marked, the recommendation starred),
    with ``truth`` (B → swept ε_eff,opt) drawn over it when given."""
    import matplotlib.pyplot as plt

    from sgdnoise.plots import save

    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    draw_prediction(ax, advice, truth)
    return save(fig, path)


def draw_prediction(ax: Any, advice: Advice, truth: Mapping[int, float] | None = None) -> None:
    """The prediction on ``ax`` (see :func:`plot_advice`)."""
    p = advice.prediction
    b = [x.batch_size for x in p.batches]
    ax.fill_between(
        b, [x.lr_eff_low for x in p.batches], [x.lr_eff_high for x in p.batches], alpha=0.2, label="interval"
    )
    ax.plot(b, [x.lr_eff for x in p.batches], "o-", label="predicted ε_eff,opt = min(T·B, ε_max)")
    ax.axvspan(p.critical_batch_size, max(b[-1], p.critical_batch_size) * 1.5, color="grey", alpha=0.1)
    ax.axvline(p.critical_batch_size, color="grey", ls="--", label=f"B* = {p.critical_batch_size:.3g}")
    ax.plot([advice.batch_size], [advice.lr_eff], "k*", ms=14, label="recommended")
    if truth:
        tb = sorted(truth)
        ax.plot(tb, [truth[x] for x in tb], "s", color="C3", label="sweep's ε_eff,opt")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("batch size B")
    ax.set_ylabel("effective learning rate ε/(1−m)")
    ax.legend(fontsize=7)
