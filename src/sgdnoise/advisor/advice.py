"""The advisor's entry points: :func:`advise` validates the arguments, runs the pilot, applies the rules and
returns an :class:`Advice` (the rules and the pilot: the package docstring, ``sgdnoise.advisor``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from sgdnoise.advisor.pilot import Pilot, PilotSettings, run_pilot
from sgdnoise.advisor.prediction import (
    BATCH_MARGIN,
    NOISE_MARGIN,
    Prediction,
    batches_checked,
    ceiling,
    predict,
    sweep_cost,
)
from sgdnoise.advisor.problem import Budget, LossFn, Objective, Problem
from sgdnoise.runtime import resolve_device
from sgdnoise.validation import momentum_coefficient, positive_int, random_seed

DEFAULT_CANDIDATES = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


@dataclass(frozen=True)
class Advice:
    """The advisor's answer (see the package docstring): the recommended (B, ε, m), the prediction at every
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
    inconclusive: str | None = None

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
            "pilot: B_simple at init, mid-run and at the end (pooled over the scan runs near the optimum): "
            + ", ".join(f"{b:.3g} at {f:g}" for f, b in self.pilot.noise_trajectory())
            + f"; 2/λ_max = {self.pilot.critical_lr:.4g} at init; "
            f"{len(self.pilot.runs)} scan runs at B = {self.pilot.batch_size}; cost {self.pilot_cost:.4g} "
            f"example passes = {100 * self.cost_fraction:.2f}% of {self.sweep} ({self.sweep_cost:.4g})",
        ]
        if self.inconclusive is not None:
            out.append(f"INCONCLUSIVE: {self.inconclusive}")
        return out


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
    (B, ε, m) for the budget from a pilot (the rules and the pilot: the package docstring).

    ``candidate_batch_sizes`` default: the powers of two from 16 up to the training-set size (at most 4096).
    ``objective``: maximise validation ``accuracy`` or minimise validation ``loss``. ``sweep_grid_points`` and
    ``sweep_seeds`` describe the sweep the cost is compared with. Raises ValueError (one line) for a budget
    too small for a pilot, a model that diverges at every tried ε, data smaller than the largest candidate.
    """
    problem = Problem(model_factory, loss_fn, train, validation, objective)
    budget = Budget(budget_epochs, budget_steps)
    momentum_coefficient("momentum", momentum)
    random_seed("seed", seed)
    n = problem.train[0].shape[0]
    if candidate_batch_sizes is None:
        candidate_batch_sizes = [b for b in DEFAULT_CANDIDATES if b <= n] or [n]
    candidates = batches_checked(candidate_batch_sizes)
    if candidates[-1] > n:
        raise ValueError(
            f"the training set ({n} examples) is smaller than the largest candidate batch size {candidates[-1]}"
        )
    settings = PilotSettings(pilot_fraction, pilot_seeds, noise_examples, curvature_examples)
    positive_int("sweep_grid_points", sweep_grid_points)
    positive_int("sweep_seeds", sweep_seeds)
    resolved = resolve_device(device)
    pilot = run_pilot(
        problem,
        candidates,
        budget=budget,
        momentum=float(momentum),
        seed=seed,
        device=resolved,
        settings=settings,
        show_progress=show_progress,
    )
    b0, correction = pilot.batch_size, pilot.budget_correction
    temperature = (pilot.temperature, pilot.lr_eff_low * correction / b0, pilot.lr_eff_high * correction / b0)
    noise_scale = pilot.noise_scale_end
    prediction = predict(
        temperature,
        ceiling(temperature, pilot.stability_lr_eff, noise_scale, b0),
        candidates,
        momentum=float(momentum),
        budget=budget,
        n_train=n,
        batch_margin=batch_margin,
        noise_scale=noise_scale,
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
        inconclusive=_edge_note(pilot),
    )


def _edge_note(pilot: Pilot) -> str | None:
    """Why the advice is only a bound (SED §4: an optimum at the grid's edge is not established), or None."""
    if not pilot.at_edge:
        return None
    lrs = sorted({r.lr_eff for r in pilot.runs})
    side = "highest" if abs(pilot.lr_eff_opt - lrs[-1]) <= abs(pilot.lr_eff_opt - lrs[0]) else "lowest"
    return (
        f"the temperature scan's best ε_eff is its {side} tried value ({pilot.lr_eff_opt:.3g}, {len(lrs)} points "
        f"from {lrs[0]:.3g} to {lrs[-1]:.3g}, the scan's cap): the optimum lies beyond it, so the predictions above "
        "are bounds, not estimates"
    )


def advise_problem(problem: Problem | Mapping[str, Any], **kwargs: Any) -> Advice:
    """:func:`advise` on a :class:`Problem` (or a mapping of its fields, ``objective`` among them)."""
    if "objective" in kwargs:
        raise ValueError("the objective is the problem's: give it as Problem(..., objective=) or the 'objective' key")
    p = Problem.coerce(problem)
    return advise(p.model_factory, p.loss_fn, p.train, p.validation, objective=p.objective, **kwargs)
