"""Sweeps: a grid of training runs, grouped for the engine, executed in-process, on a local process pool
or on Ray, every run committed to the store the moment its group returns.

- ``specs``: ``SweepRun``, ``expand_grid`` (a base ``TrainConfig`` and axes → runs) and ``Sweep`` (the
  experiment name = store namespace, its named tasks, its runs, measurements, probes, ``keep_weights``).
  A run trains on a named task (a picklable factory returning ``TaskData``, built once per process), so
  a sweep whose curves use different data (e.g. Smith & Le 2018 §5, one N per curve) is one sweep.
- ``planning``: grouping (``group_runs``), the fastest layout (``layout_groups``: stacked MLP groups
  that fit the cache, one run per group otherwise), the thread heuristic, jobs.
- ``executors``: inline, local process pool, Ray (imported only when asked for).
- ``running``: ``run_sweep`` and the coordinator, the only writer of the store.

Resume: a run is identified by ``store.run_key(experiment, Sweep.key_config(run))``; done runs are never
recomputed nor re-measured, and an interrupted sweep (Ctrl-C, ``kill -9``) resumes where it stopped.
Only the calling process writes to the store, one short transaction per run, and it re-reads the store
before dispatching each job, so several processes (or machines sharing the file) can run the same
sweep on one store: they split the remaining jobs between them.
"""

from sgdnoise.sweep.executors import RAY_MAX_RETRIES, ClusterError, GroupTrainer, MissingDependencyError
from sgdnoise.sweep.planning import (
    LARGE_BATCH_SIZE,
    MAX_STACKED_RUNS,
    MIN_THREADED_STEP_WORK,
    STACKED_BYTES,
    available_cores,
    group_runs,
    layout_groups,
    stacked_runs,
    stacks_well,
    threads_for_group,
)
from sgdnoise.sweep.running import EXECUTORS, Executor, SweptRun, run_sweep
from sgdnoise.sweep.specs import DEFAULT_TASK, Sweep, SweepRun, TaskFactory, expand_grid

__all__ = [
    "DEFAULT_TASK",
    "EXECUTORS",
    "LARGE_BATCH_SIZE",
    "MAX_STACKED_RUNS",
    "MIN_THREADED_STEP_WORK",
    "RAY_MAX_RETRIES",
    "STACKED_BYTES",
    "ClusterError",
    "Executor",
    "GroupTrainer",
    "MissingDependencyError",
    "Sweep",
    "SweepRun",
    "SweptRun",
    "TaskFactory",
    "available_cores",
    "expand_grid",
    "group_runs",
    "layout_groups",
    "run_sweep",
    "stacked_runs",
    "stacks_well",
    "threads_for_group",
]
