"""What a reproduction will cost, before it starts (``sgdnoise reproduce NAME|all --dry-run``).

The experiment's own ``run`` is called with a planning context: every sweep it asks for is recorded
instead of trained (a sweep whose runs the output directory's store holds comes back with their results,
as a real run would see them; any other with every run failed as "dry run"), and the experiment stops
being planned where it would compute outside a sweep (it touches the store directly) or where it needs
results a dry run does not have.
For each recorded sweep the plan counts, from the tasks and ``engine.plan_steps``, the runs, the engine
groups, the SGD steps and the training examples processed; the FLOPs as 3 × the model's forward FLOPs per
example (``torch.utils.flop_counter``; backward ≈ 2 × forward); and the time as the sweep engine would
spend it: the runs are laid out in engine groups and jobs as ``run_sweep`` lays them out
(``sweep.planning.plan_jobs``), each kind of group is timed by the engine itself (``engine.time_group``:
a few updates at the smallest and the largest batch, a line ``seconds = a + b·B`` per update, and one
evaluation), and the jobs are scheduled on the workers as the executor would run them. Each measurement the
sweep takes (final, and probes at the steps ``Probe.schedule`` gives) is timed once on the model as built
(``engine.time_measurements``) and counted per run: an untrained model's Lanczos or finite differences may
take fewer or more iterations than a trained one's.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sgdnoise.experiments.base import RunContext
from sgdnoise.experiments.registry import get_experiment

if TYPE_CHECKING:
    import numpy as np
    import torch

    from sgdnoise.data import TaskData
    from sgdnoise.engine import Measurement, Probe, StepPlan
    from sgdnoise.store import Store
    from sgdnoise.sweep import Sweep, SweptRun
    from sgdnoise.sweep.planning import Job

DRY_RUN = "dry run: not trained"
TIMED_STEPS = 7  # each timed alone; their median is the step time (robust to a busy machine's preemptions)
WARMUP_STEPS = 2
MAX_TIMED_BATCH = 256  # larger batches are extrapolated along the fitted line


class _ComputesDirectly(Exception):
    """The experiment reached work done outside a sweep, which the plan does not cover."""


class _NeedsResults(Exception):
    """The experiment reached a stage decided by results of runs a dry run has not trained."""


class _NoStore:
    """The store a planning context hands out: any use means work outside a sweep."""

    def __getattr__(self, name: str) -> Any:
        raise _ComputesDirectly(name)


@dataclass(frozen=True)
class ModelCost:
    """A kind of engine group: its model's forward FLOPs per example, and, timed with ``runs`` stacked runs on
    ``threads`` threads, the seconds per update ``a + b·B``, per evaluation and per call of each measurement of
    one run (None: not timed, ``why`` says why)."""

    description: str
    task: str
    parameters: int
    forward_flops: float
    runs: int
    threads: int | None
    step_seconds: tuple[float, float] | None
    evaluation_seconds: float | None
    timed_batches: tuple[int, ...]
    measurement_seconds: Mapping[str, float] | None = None
    why: str = ""

    def group_seconds(
        self, plan: StepPlan, probes: Sequence[Probe] = (), measurements: Sequence[Measurement] = ()
    ) -> float | None:
        """One group's time under ``plan``: Σ over updates of a + b·B, its evaluations, and per run its
        ``probes`` at their steps and its final ``measurements`` (None: not timed)."""
        if self.step_seconds is None or self.evaluation_seconds is None or self.measurement_seconds is None:
            return None
        a, b = self.step_seconds
        training = (
            a * plan.total_steps + b * float(plan.batch_sizes.sum()) + self.evaluation_seconds * len(plan.eval_steps)
        )
        seconds = self.measurement_seconds
        per_run = sum(seconds[m.name] for m in measurements) + sum(
            seconds[p.measurement.name] * len(p.schedule(plan.epochs)) for p in probes
        )
        return training + self.runs * per_run


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

    def decided_by_results(self, stage: str) -> None:
        if self.placeholders:
            raise _NeedsResults(stage)

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
        except _NeedsResults as needs:
            return recorded, (
                f"the first {len(recorded)} sweep(s); then {needs}, decided by the results of runs not trained yet "
                "(not estimated)"
            )
        except Exception:  # it needed results that a dry run does not have (else: a real error, shown)
            if not context.placeholders:
                raise
            return recorded, (
                f"the first {len(recorded)} sweep(s); planning stops where the experiment needs the results of runs "
                "not trained yet: a sweep it adds on seeing them (e.g. a grid extension) is not estimated"
            )
    return recorded, "every sweep"


def _forward_flops(spec: Any, input_shape: tuple[int, ...], device: torch.device) -> tuple[int, float]:
    """The model's parameter count and forward FLOPs per example."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = spec.build().to(device)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.train(False)
        model(torch.zeros(2, *input_shape, device=device))
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() / 2


def _group_cost(
    jobs: Sequence[Job],
    schedules: Sequence[np.ndarray],
    task: TaskData,
    measurements: Sequence[Measurement],
    device: torch.device,
    time_steps: bool,
) -> ModelCost:
    """The cost of one kind of group (``jobs`` share model, task, size and threads; ``schedules`` are their batch
    sizes per update): its FLOPs, and the engine's update time at the smallest and largest batch any of them
    trains at, its evaluation time, and one call of each of ``measurements`` on one run."""
    from sgdnoise.engine import time_group, time_measurements

    first = jobs[0]
    parameters, forward = _forward_flops(first.runs[0].config.model, tuple(task.train.x.shape[1:]), device)
    description = (
        f"{type(first.runs[0].config.model).__name__} ({parameters / 1e6:.3g} M parameters, {forward:.3g} forward "
        f"FLOPs/example)"
    )
    threads = first.threads if device.type == "cpu" else None
    if not time_steps:
        return ModelCost(
            description, first.task, parameters, forward, len(first.runs), threads, None, None, (), why="not timed"
        )
    smallest = min(int(batches.min()) for batches in schedules)
    widest = max(range(len(jobs)), key=lambda i: int(schedules[i].max()))  # its engine takes every timed batch
    timed = tuple(sorted({min(b, MAX_TIMED_BATCH) for b in (smallest, int(schedules[widest].max()))}))
    per_step, evaluation = time_group(
        [run.config for run in jobs[widest].runs], task, timed, device=device, repeats=TIMED_STEPS,
        warmup=WARMUP_STEPS, num_threads=threads,
    )  # fmt: skip
    if len(timed) == 1:
        fit = (0.0, per_step[0] / timed[0])
    else:
        slope = max(0.0, (per_step[1] - per_step[0]) / (timed[1] - timed[0]))
        fit = (max(0.0, per_step[0] - slope * timed[0]), slope)
    measured = time_measurements(first.runs[0].config, task, measurements, device=device, num_threads=threads)
    return ModelCost(
        description, first.task, parameters, forward, len(first.runs), threads, fit, evaluation, timed, measured
    )


def _makespan(seconds: Sequence[float], threads: Sequence[int], workers: int, budget: int) -> float:
    """The wall time of jobs of ``seconds`` run in order by ``workers`` side by side while their ``threads``
    fit ``budget`` (``sweep.executors.run_processes``'s rule; one worker: one after another)."""
    running: list[tuple[float, int]] = []  # (end time, threads) of the jobs in flight
    now = 0.0
    for length, need in zip(seconds, threads, strict=True):
        need = min(need, budget)
        while running and (len(running) >= workers or sum(t for _, t in running) + need > budget):
            now = max(now, min(end for end, _ in running))
            running = [(end, t) for end, t in running if end > now]
        running.append((now + length, need))
    return max((end for end, _ in running), default=now)


def plan_sweep(
    sweep: Sweep,
    device: torch.device,
    stored_keys: Callable[[list[str]], set[str]],
    time_steps: bool = True,
    executor: str = "auto",
) -> SweepPlan:
    """Count one recorded sweep (see the module docstring); ``stored_keys`` says which keys are done. The jobs
    are scheduled as ``executor`` runs them (``"ray"``: as a process pool of this machine's cores)."""
    from sgdnoise.engine import plan_steps
    from sgdnoise.sweep.planning import auto_executor, available_cores, plan_jobs

    keys = sweep.keys()
    done = stored_keys(keys)
    pending = [run for run, key in zip(sweep.runs, keys, strict=True) if key not in done]
    tasks = {name: factory() for name, factory in sweep.tasks.items() if any(r.task == name for r in sweep.runs)}
    sizes = {name: len(task.train) for name, task in tasks.items()}
    cores = available_cores()
    processes = 1 if executor == "inline" else cores
    jobs = plan_jobs(pending, [], tasks.__getitem__, None, None, cores, processes) if pending else []

    schedules = [plan_steps(job.runs[0].config, sizes[job.task]) for job in jobs]
    kinds: dict[str, list[int]] = {}  # jobs of one kind cost the same per update
    for index, job in enumerate(jobs):
        key = json.dumps([job.runs[0].config.model.to_dict(), job.task, len(job.runs), job.threads], sort_keys=True)
        kinds.setdefault(key, []).append(index)
    measured = {m.name: m for m in (*sweep.measurements, *(p.measurement for p in sweep.probes))}
    costs = [
        _group_cost(
            [jobs[i] for i in members], [schedules[i].batch_sizes for i in members], tasks[jobs[members[0]].task],
            list(measured.values()), device, time_steps,
        )
        for members in kinds.values()
    ]  # fmt: skip
    cost_of = {i: cost for cost, members in zip(costs, kinds.values(), strict=True) for i in members}
    runs = [len(job.runs) for job in jobs]
    examples_per_run = [int(plan.batch_sizes.sum()) for plan in schedules]
    steps = sum(r * plan.total_steps for r, plan in zip(runs, schedules, strict=True))
    examples = sum(r * e for r, e in zip(runs, examples_per_run, strict=True))
    flops = sum((3.0 * cost_of[i].forward_flops * runs[i] * examples_per_run[i] for i in range(len(jobs))), 0.0)
    job_seconds = [cost_of[i].group_seconds(plan, sweep.probes, sweep.measurements) for i, plan in enumerate(schedules)]
    seconds = None
    if None not in job_seconds:
        # on the CPU as run_sweep runs them (side by side in processes, or one after another); on an
        # accelerator one after another, as they share it
        chosen = auto_executor(jobs, cores) if executor == "auto" else executor
        side_by_side = device.type == "cpu" and len(jobs) > 1 and chosen != "inline"
        known = [s for s in job_seconds if s is not None]
        seconds = _makespan(known, [job.threads for job in jobs], cores if side_by_side else 1, cores)
    return SweepPlan(
        sweep.experiment, len(sweep.runs), len(sweep.runs) - len(pending), len(jobs), sizes, steps, examples,
        flops, seconds, costs,
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
    executor: str = "auto",
) -> Plan:
    """The plan of experiment ``name`` with ``spec`` (runs already in ``out_dir``'s store count as stored, and
    the experiment sees their results), its sweeps run by ``executor``."""
    from sgdnoise.store import Store

    store_file = out_dir / "store.sqlite"
    with tempfile.TemporaryDirectory(prefix="sgdnoise-plan-") as scratch:
        with Store(store_file if store_file.is_file() else Path(scratch) / "empty.sqlite") as store:
            sweeps, coverage = record_sweeps(name, spec, scale, seed, device, store)

            def stored_keys(keys: list[str]) -> set[str]:
                return {key for key, record in store.lookup(keys).items() if record.done}

            plan = Plan(name, scale, str(device), coverage=coverage)
            plan.sweeps = [plan_sweep(sweep, device, stored_keys, time_steps, executor) for sweep in sweeps]
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
            group = f"groups of {model.runs} run(s)" + (f" on {model.threads} thread(s)" if model.threads else "")
            if len(sweep.train_examples) > 1:
                group += f", task {model.task}"
            timing = (
                f"timed at B={', '.join(map(str, model.timed_batches))}: {model.step_seconds[0] * 1e3:.3g} ms "
                f"+ {model.step_seconds[1] * 1e3:.3g} ms per example per update, "
                f"{(model.evaluation_seconds or 0.0) * 1e3:.3g} ms per evaluation"
                + "".join(f", {name} {seconds:.3g} s" for name, seconds in (model.measurement_seconds or {}).items())
                if model.step_seconds
                else model.why
            )
            lines.append(f"    model {model.description}, {group}; {timing}")
        lines.append(
            f"    to train: {sweep.steps:,} steps, {sweep.examples:,} examples, {sweep.flops:.3g} FLOPs, "
            f"~{duration(sweep.seconds)}"
        )
    lines.append(f"  total: {_totals_text(plan.totals())} on {plan.device} ({_COUNTED})")
    return lines


def suite_lines(plans: Sequence[Plan], unplanned: Sequence[str] = ()) -> list[str]:
    """The grand total that ``reproduce all --dry-run`` prints after the experiments' plans, and the experiments
    ``unplanned`` for want of their data."""
    missing = (
        [f"  {len(unplanned)} not planned, their data not found here (give it with --data): {', '.join(unplanned)}"]
        if unplanned
        else []
    )
    if not plans:
        return [f"no experiment planned: {len(unplanned)} need data not found here", *missing]
    each = [plan.totals() for plan in plans]
    summed = {key: sum(totals[key] for totals in each) for key in ("runs", "stored", "steps", "examples", "flops")}
    seconds = [totals["seconds"] for totals in each]
    summed["seconds"] = None if None in seconds else sum(seconds)
    partial = [plan.experiment for plan in plans if plan.coverage != "every sweep"]
    counted = f"all {len(plans)} experiments" if len(plans) > 1 else "the 1 experiment"
    lines = [f"{counted}: {_totals_text(summed)} on {plans[0].device} ({_COUNTED})", *missing]
    if partial:
        lines.append(
            f"  {len(partial)} of them are planned only up to where they stop (see their 'covers' line), so the "
            f"total counts less than they will train: {', '.join(partial)}"
        )
    return lines


_COUNTED = "training, evaluation, probes and measurements, each measurement timed once on an untrained model"


def _totals_text(totals: Mapping[str, Any]) -> str:
    return (
        f"{totals['runs']} runs ({totals['stored']} stored), {totals['steps']:,} steps, {totals['examples']:,} "
        f"examples, {totals['flops']:.3g} FLOPs, ~{duration(totals['seconds'])}"
    )
