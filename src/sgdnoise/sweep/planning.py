"""Planning a sweep: which pending runs train together (engine groups), how many threads each group
gets, and the jobs handed to an executor (a group to train, or finished runs to measure)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from sgdnoise.data import TaskData
from sgdnoise.engine import TrainConfig, plan_steps
from sgdnoise.engine.mlp import fast_path_supports
from sgdnoise.models import ModelSpec, model_spec_from_dict
from sgdnoise.sweep.specs import SweepRun
from sgdnoise.validation import positive_int

# Thread heuristic (see ``threads_for_group``): a group gets all cores only when its mean batch size is
# at least LARGE_BATCH_SIZE *and* one run's step multiplies at least MIN_THREADED_STEP_WORK
# batch-examples × parameters; otherwise one thread, and independent groups run in parallel processes.
LARGE_BATCH_SIZE = 64
MIN_THREADED_STEP_WORK = 1_000_000
# Stacked (fast-path) groups hold at most MAX_STACKED_RUNS runs and at most STACKED_BYTES of float32
# parameters, so that each process's stacked weights stay in its share of the cache: measured with
# benchmarks/engine.py --general on 2 cores (1 MiB L2 each, 32 MiB L3), the BN-MLP (1.6 MB per run)
# trains fastest 2-4 runs per group, the Smith & Le shallow net (2.5 MB) one run per group, R = 8 is
# slower than R = 2-4 everywhere.
MAX_STACKED_RUNS = 4
STACKED_BYTES = 4 * 2**20

JobKind = Literal["train", "measure"]


def available_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@lru_cache(maxsize=64)
def _parameter_count(model_json: str) -> int:
    return sum(p.numel() for p in model_spec_from_dict(json.loads(model_json)).build().parameters())


def num_parameters(spec: ModelSpec) -> int:
    """P of a model spec (its ``num_parameters`` when it has one, else counted on a built model)."""
    count = getattr(spec, "num_parameters", None)
    if isinstance(count, int):
        return count
    return _parameter_count(json.dumps(spec.to_dict(), sort_keys=True))


def threads_for_group(configs: Sequence[TrainConfig], num_train: int, cores: int | None = None) -> int:
    """Torch threads for one group (a heuristic; override with ``run_sweep(threads=...)``).

    An engine step of one run reads its P parameters and does ~B·P multiply-adds, so its arithmetic
    intensity grows with the batch size B. Small-batch steps are memory- and latency-bound: a second
    thread barely helps, so such groups get 1 thread and the process-pool executor runs independent
    groups side by side (2 cores → 2 processes × 1 thread). Large-batch steps are dense matmuls that
    split well over threads, so a group whose mean batch is ≥ ``LARGE_BATCH_SIZE`` and whose per-run
    step is at least ``MIN_THREADED_STEP_WORK`` (B·P) gets all ``cores`` (→ 1 process × 2 threads).
    ``plan_jobs`` uses it only when there are fewer groups than cores: with enough groups one thread
    each, side by side, was faster at every B measured (benchmarks/engine.py).
    """
    if not configs:
        raise ValueError("threads_for_group needs at least one config")
    cores = available_cores() if cores is None else cores
    plan = plan_steps(configs[0], num_train)
    mean_batch = float(plan.batch_sizes.mean())
    step_work = mean_batch * num_parameters(configs[0].model)
    large = mean_batch >= LARGE_BATCH_SIZE and step_work >= MIN_THREADED_STEP_WORK
    return cores if large else 1


def group_runs(runs: Sequence[SweepRun], max_group_size: int | None = None) -> list[list[SweepRun]]:
    """Partition runs into engine groups: same task and same ``TrainConfig.group_key()``, at most
    ``max_group_size`` runs each. Groups keep the runs' order, appear in the order of their first run,
    and the groups of one task are contiguous (so a worker holds one task's data at a time)."""
    positive_int("max_group_size", max_group_size, optional=True)
    by_key: dict[tuple[Any, ...], list[SweepRun]] = {}
    task_order: dict[str, int] = {}
    for run in runs:
        task_order.setdefault(run.task, len(task_order))
        by_key.setdefault((run.task, run.config.group_key()), []).append(run)
    groups: list[list[SweepRun]] = []
    for members in sorted(by_key.values(), key=lambda members: task_order[members[0].task]):
        size = max_group_size or len(members)
        groups.extend(members[i : i + size] for i in range(0, len(members), size))
    return groups


def stacks_well(config: TrainConfig) -> bool:
    """Whether runs of ``config`` train faster stacked into one group: on the MLP fast path (batched
    matmuls, hand-written backward) they do; under vmap a conv net (or a run with augmentation) trains
    slower per run than as the plain module (benchmarks/engine.py --general), so those train one run
    per group, the groups side by side in one process per core."""
    return fast_path_supports(config.model) and config.augmentation is None


def stacked_runs(config: TrainConfig) -> int:
    """How many runs of ``config`` one group stacks at most: 1 unless it ``stacks_well``, else as many
    as fit ``STACKED_BYTES`` of float32 parameters, between 1 and ``MAX_STACKED_RUNS``."""
    if not stacks_well(config):
        return 1
    return max(1, min(MAX_STACKED_RUNS, STACKED_BYTES // (4 * num_parameters(config.model))))


def layout_groups(runs: Sequence[SweepRun], max_group_size: int | None, processes: int) -> list[list[SweepRun]]:
    """``group_runs`` cut to the layout the engine trains fastest: at most ``stacked_runs`` runs per
    group, and few enough that each set of equal runs is split over the ``processes`` that train them."""
    positive_int("processes", processes)
    groups: list[list[SweepRun]] = []
    for group in group_runs(runs, max_group_size):
        spread = math.ceil(len(group) / processes)
        size = min(stacked_runs(group[0].config), spread)
        groups.extend(group[i : i + size] for i in range(0, len(group), size))
    return groups


@dataclass
class Job:
    """One unit of work for an executor: train a group (``kind="train"``), or measure finished runs
    from their kept weights (``kind="measure"``). ``work`` estimates its multiply-adds (progress ETA)."""

    index: int
    kind: JobKind
    task: str
    runs: list[SweepRun]
    threads: int
    work: float


def estimated_work(configs: Sequence[TrainConfig], data: TaskData) -> float:
    """Multiply-adds of a group: R·P·(examples trained on + one third of the evaluated examples)."""
    plan = plan_steps(configs[0], len(data.train))
    evaluated = len(plan.eval_steps) * sum(len(split) for split in data.splits.values()) / 3.0
    return float(len(configs) * num_parameters(configs[0].model) * (plan.batch_sizes.sum() + evaluated))


def plan_jobs(
    to_train: list[SweepRun],
    to_measure: list[SweepRun],
    task_data: Callable[[str], TaskData],
    threads: int | None,
    max_group_size: int | None,
    cores: int,
    processes: int,
) -> list[Job]:
    """The pending runs as jobs: engine groups to train (``layout_groups``, with their thread counts and
    work estimates), then one measuring job per task for finished runs that only lack a measurement.
    ``task_data(name)`` gives a task's data (to learn its size); ``processes`` will run the jobs."""
    jobs: list[Job] = []
    groups = layout_groups(to_train, max_group_size, processes)
    for group in groups:
        configs = [run.config for run in group]
        data = task_data(group[0].task)
        group_threads = threads if threads is not None else threads_for_group(configs, len(data.train), cores)
        if threads is None and len(groups) >= cores and processes >= cores:
            group_threads = 1  # measured: independent groups, one per core, beat one group on all cores
        jobs.append(Job(len(jobs), "train", group[0].task, group, group_threads, estimated_work(configs, data)))
    by_task: dict[str, list[SweepRun]] = {}
    for run in to_measure:
        by_task.setdefault(run.task, []).append(run)
    for task, runs in by_task.items():
        work = sum(num_parameters(run.config.model) for run in runs) * float(len(task_data(task).train))
        jobs.append(Job(len(jobs), "measure", task, runs, threads or 1, work))
    return jobs


def auto_executor(jobs: Sequence[Job], pool_size: int) -> Literal["inline", "processes"]:
    """``executor="auto"``: a process pool when at least two jobs are single-threaded and the pool has
    several workers (independent small-batch groups side by side), else this process."""
    single_threaded = sum(job.threads == 1 for job in jobs)
    return "processes" if single_threaded >= 2 and pool_size > 1 else "inline"
