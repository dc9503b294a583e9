"""What a reproduction will cost, before it starts (``sgdnoise reproduce NAME|all --dry-run``).

The experiment's own ``run`` is called with a planning context: every sweep it asks for is recorded
instead of trained (a sweep whose runs the output directory's store holds comes back with their results,
as a real run would see them; any other with every run failed as "dry run"), and the experiment stops
being planned where it would compute outside a sweep (it touches the store directly) or where it needs
results a dry run does not have.
For each recorded sweep the plan counts, from the tasks and ``engine.plan_steps``, the runs, the engine
groups, the SGD steps and the training examples processed; the FLOPs as 3 × the model's forward FLOPs per
example (``torch.utils.flop_counter``; backward ≈ 2 × forward); and the time from a few timed SGD steps of
the real model on the chosen device at the smallest and the largest batch of the sweep (a line
``seconds = a + b·B`` per step, through the median step time at each). Evaluations, probes and final
measurements are not counted: the estimate is a lower bound on the training time.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sgdnoise.experiments.base import RunContext
from sgdnoise.experiments.registry import get_experiment

if TYPE_CHECKING:
    import torch

    from sgdnoise.store import Store
    from sgdnoise.sweep import Sweep, SweptRun

DRY_RUN = "dry run: not trained"
TIMED_STEPS = 7  # each timed alone; their median is the step time (robust to a busy machine's preemptions)
WARMUP_STEPS = 2
MAX_TIMED_BATCH = 256  # larger batches are extrapolated along the fitted line


class _ComputesDirectly(Exception):
    """The experiment reached work done outside a sweep, which the plan does not cover."""


class _NoStore:
    """The store a planning context hands out: any use means work outside a sweep."""

    def __getattr__(self, name: str) -> Any:
        raise _ComputesDirectly(name)


@dataclass(frozen=True)
class ModelCost:
    """A model's forward FLOPs per example and the fitted seconds per SGD step ``a + b·B`` (None: not
    timed, ``why`` says why)."""

    description: str
    parameters: int
    forward_flops: float
    step_seconds: tuple[float, float] | None
    timed_batches: tuple[int, ...]
    why: str = ""


@dataclass(frozen=True)
class SweepPlan:
    """One sweep: its runs (``stored``: already done in the output directory's store), engine groups, and
    over the runs still to train their steps, examples, FLOPs and estimated seconds."""

    name: str
    runs: int
    stored: int
    groups: int
    train_examples: dict[str, int]
    steps: int
    examples: int
    flops: float
    seconds: float | None
    models: list[ModelCost]


@dataclass
class Plan:
    """The plan of one experiment at one scale on one device (``coverage`` says where planning stopped)."""

    experiment: str
    scale: str
    device: str
    sweeps: list[SweepPlan] = field(default_factory=list)
    coverage: str = "every sweep"

    def totals(self) -> dict[str, Any]:
        seconds = [s.seconds for s in self.sweeps]
        return {
            "runs": sum(s.runs for s in self.sweeps),
            "stored": sum(s.stored for s in self.sweeps),
            "groups": sum(s.groups for s in self.sweeps),
            "steps": sum(s.steps for s in self.sweeps),
            "examples": sum(s.examples for s in self.sweeps),
            "flops": sum(s.flops for s in self.sweeps),
            "seconds": None if None in seconds else sum(seconds),  # type: ignore[arg-type]
        }


class _PlanningContext(RunContext):
    """A RunContext that records sweeps instead of running them: a sweep whose every run ``stored`` holds done
    comes back as stored; any other comes back failed (``DRY_RUN``), which ``placeholders`` counts."""

    def __init__(self, recorded: list[Sweep], stored: Store, **context: Any) -> None:
        super().__init__(**context)
        self.recorded = recorded
        self.stored = stored
        self.placeholders = 0

    def sweep(self, sweep: Sweep, **engine: Any) -> list[SweptRun]:
        from sgdnoise.sweep import SweptRun

        self.recorded.append(sweep)
        keys = sweep.keys()
        records = self.stored.lookup(keys)
        if all(key in records and records[key].done for key in keys):
            return [
                SweptRun.from_dict(records[key].to_dict(), run=run, key=key, trained=False)
                for run, key in zip(sweep.runs, keys, strict=True)
            ]
        self.placeholders += 1
        return [
            SweptRun(status="failed", error=DRY_RUN, run=run, key=key, trained=False)
            for run, key in zip(sweep.runs, keys, strict=True)
        ]


def record_sweeps(
    name: str, spec: Any, scale: str, seed: int, device: torch.device, stored: Store
) -> tuple[list[Sweep], str]:
    """The sweeps experiment ``name`` asks for with ``spec`` (given the runs ``stored`` holds), and how far
    that covers it."""
    recorded: list[Sweep] = []
    with tempfile.TemporaryDirectory(prefix="sgdnoise-plan-") as scratch:
        context = _PlanningContext(
            recorded, stored, scale=scale, seed=seed, out_dir=Path(scratch), store=_NoStore(), device=device,
            show_progress=False,
        )  # fmt: skip
        try:
            get_experiment(name).run(spec, context)
        except _ComputesDirectly:
            stage = "its first stage" if not recorded else f"the first {len(recorded)} sweep(s)"
            return recorded, f"{stage}; it then computes outside the sweep engine (not estimated)"
        except Exception:  # it needed results that a dry run does not have (else: a real error, shown)
            if not context.placeholders:
                raise
            return recorded, (
                f"the first {len(recorded)} sweep(s); planning stops where the experiment needs the results of runs "
                "not trained yet: a sweep it adds on seeing them (e.g. a grid extension) is not estimated"
            )
    return recorded, "every sweep"


def _model_cost(
    spec: Any, input_shape: tuple[int, ...], batches: tuple[int, int], device: torch.device, time_steps: bool
) -> ModelCost:
    """Forward FLOPs per example, and a fitted step time from timed SGD steps at the two batch sizes."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = spec.build().to(device)
    parameters = sum(p.numel() for p in model.parameters())
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.train(False)
        model(torch.zeros(2, *input_shape, device=device))
    forward = counter.get_total_flops() / 2
    description = f"{type(spec).__name__} ({parameters / 1e6:.3g} M parameters, {forward:.3g} forward FLOPs/example)"
    if not time_steps:
        return ModelCost(description, parameters, forward, None, (), "not timed")
    model.train(True)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    timed = tuple(sorted({min(b, MAX_TIMED_BATCH) for b in batches}))
    per_step = []
    generator = torch.Generator(device="cpu").manual_seed(0)
    for batch in timed:
        x = torch.randn(batch, *input_shape, generator=generator).to(device)
        y = torch.randint(0, 10, (batch,), generator=generator).to(device)
        seconds = []
        for _ in range(WARMUP_STEPS + TIMED_STEPS):
            _synchronize(device)
            start = time.perf_counter()
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
            _synchronize(device)
            seconds.append(time.perf_counter() - start)
        per_step.append(statistics.median(seconds[WARMUP_STEPS:]))
    if len(timed) == 1:
        fit = (0.0, per_step[0] / timed[0])
    else:
        slope = max(0.0, (per_step[1] - per_step[0]) / (timed[1] - timed[0]))
        fit = (max(0.0, per_step[0] - slope * timed[0]), slope)
    return ModelCost(description, parameters, forward, fit, timed)


def _synchronize(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plan_sweep(
    sweep: Sweep, device: torch.device, stored_keys: Callable[[list[str]], set[str]], time_steps: bool = True
) -> SweepPlan:
    """Count one recorded sweep (see the module docstring); ``stored_keys`` says which keys are done."""
    from sgdnoise.engine import plan_steps
    from sgdnoise.runtime import torch_threads
    from sgdnoise.sweep.planning import available_cores, layout_groups, threads_for_group

    keys = sweep.keys()
    done = stored_keys(keys)
    pending = [run for run, key in zip(sweep.runs, keys, strict=True) if key not in done]
    tasks = {name: factory() for name, factory in sweep.tasks.items() if any(r.task == name for r in sweep.runs)}
    sizes = {name: len(task.train) for name, task in tasks.items()}
    steps = examples = 0
    flops = 0.0
    seconds: float | None = 0.0
    costs: dict[str, ModelCost] = {}
    batches_by_model: dict[str, list[int]] = {}
    planned = [(run, plan_steps(run.config, sizes[run.task]).batch_sizes) for run in pending]
    for run, batch_sizes in planned:
        model_key = json.dumps([run.config.model.to_dict(), run.task], sort_keys=True)
        batches_by_model.setdefault(model_key, []).extend((int(batch_sizes.min()), int(batch_sizes.max())))
    for run, batch_sizes in planned:
        model_key = json.dumps([run.config.model.to_dict(), run.task], sort_keys=True)
        if model_key not in costs:
            shape = tuple(tasks[run.task].train.x.shape[1:])
            span = (min(batches_by_model[model_key]), max(batches_by_model[model_key]))
            threads = threads_for_group([run.config], sizes[run.task]) if device.type == "cpu" else None
            with torch_threads(threads):
                costs[model_key] = _model_cost(run.config.model, shape, span, device, time_steps)
        cost = costs[model_key]
        run_examples = int(batch_sizes.sum())
        steps += len(batch_sizes)
        examples += run_examples
        flops += 3.0 * cost.forward_flops * run_examples
        if cost.step_seconds is None or seconds is None:
            seconds = None
        else:
            seconds += cost.step_seconds[0] * len(batch_sizes) + cost.step_seconds[1] * run_examples
    groups = layout_groups(pending, None, available_cores()) if pending else []
    return SweepPlan(
        sweep.experiment, len(sweep.runs), len(sweep.runs) - len(pending), len(groups), sizes, steps, examples,
        flops, seconds, list(costs.values()),
    )  # fmt: skip


def plan_experiment(
    name: str,
    spec: Any,
    *,
    scale: str,
    device: torch.device,
    out_dir: Path,
    seed: int = 0,
    time_steps: bool = True,
) -> Plan:
    """The plan of experiment ``name`` with ``spec`` (runs already in ``out_dir``'s store count as stored, and
    the experiment sees their results)."""
    from sgdnoise.store import Store

    store_file = out_dir / "store.sqlite"
    with tempfile.TemporaryDirectory(prefix="sgdnoise-plan-") as scratch:
        with Store(store_file if store_file.is_file() else Path(scratch) / "empty.sqlite") as store:
            sweeps, coverage = record_sweeps(name, spec, scale, seed, device, store)

            def stored_keys(keys: list[str]) -> set[str]:
                return {key for key, record in store.lookup(keys).items() if record.done}

            plan = Plan(name, scale, str(device), coverage=coverage)
            plan.sweeps = [plan_sweep(sweep, device, stored_keys, time_steps) for sweep in sweeps]
    return plan


def duration(seconds: float | None) -> str:
    """``"3.2 h"``, ``"41 min"``, ``"12 s"`` (``"unknown"`` for None)."""
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    if seconds >= 5400:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 60:.3g} min" if seconds >= 90 else f"{seconds:.2g} s"


def plan_lines(plan: Plan) -> list[str]:
    """The plan as the CLI prints it."""
    lines = [f"plan of {plan.experiment} at scale {plan.scale} on {plan.device} (covers {plan.coverage})"]
    for sweep in plan.sweeps:
        data = ", ".join(f"{task}: {n} training examples" for task, n in sweep.train_examples.items())
        lines.append(
            f"  sweep {sweep.name}: {sweep.runs} runs ({sweep.stored} already stored), {sweep.groups} engine "
            f"groups; {data}"
        )
        for model in sweep.models:
            timing = (
                f"timed at B={', '.join(map(str, model.timed_batches))}: {model.step_seconds[0] * 1e3:.3g} ms "
                f"+ {model.step_seconds[1] * 1e3:.3g} ms per example per step"
                if model.step_seconds
                else model.why
            )
            lines.append(f"    model {model.description}; {timing}")
        lines.append(
            f"    to train: {sweep.steps:,} steps, {sweep.examples:,} examples, {sweep.flops:.3g} FLOPs, "
            f"~{duration(sweep.seconds)}"
        )
    lines.append(f"  total: {_totals_text(plan.totals())} on {plan.device} ({_LOWER_BOUND})")
    return lines


def suite_lines(plans: Sequence[Plan]) -> list[str]:
    """The grand total that ``reproduce all --dry-run`` prints after the experiments' plans."""
    each = [plan.totals() for plan in plans]
    summed = {key: sum(totals[key] for totals in each) for key in ("runs", "stored", "steps", "examples", "flops")}
    seconds = [totals["seconds"] for totals in each]
    summed["seconds"] = None if None in seconds else sum(seconds)
    partial = [plan.experiment for plan in plans if plan.coverage != "every sweep"]
    lines = [f"all {len(plans)} experiments: {_totals_text(summed)} on {plans[0].device} ({_LOWER_BOUND})"]
    if partial:
        lines.append(
            f"  {len(partial)} of them are planned only up to where they stop (see their 'covers' line), so the "
            f"total counts less than they will train: {', '.join(partial)}"
        )
    return lines


_LOWER_BOUND = "training steps only; evaluations, probes and measurements add to it"


def _totals_text(totals: Mapping[str, Any]) -> str:
    return (
        f"{totals['runs']} runs ({totals['stored']} stored), {totals['steps']:,} steps, {totals['examples']:,} "
        f"examples, {totals['flops']:.3g} FLOPs, ~{duration(totals['seconds'])}"
    )
