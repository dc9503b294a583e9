"""Sweeps: a grid of training runs, grouped for the engine, executed in-process, on a local process pool
or on Ray, every finished run committed to the store the moment its group returns.

- ``expand_grid`` turns a base ``TrainConfig`` and axes (ε, B, m, λ, seed, …) into runs.
- ``Sweep`` names the experiment (the store namespace), its task(s) and its runs. A run is trained on
  a named task (a picklable factory returning ``TaskData``, built once per process), so a sweep whose
  curves use different data (e.g. Smith & Le 2018 §5, one training-set size N per curve) is one sweep.
- ``run_sweep`` trains what the store does not hold yet and returns every run, in the sweep's order.

Resume: a run is identified by ``store.run_key(experiment, config.to_dict() | {"task": …} | labels)``;
finished runs are never recomputed, and an interrupted sweep (Ctrl-C, ``kill -9``) resumes where it
stopped. Only the parent process writes to the store, one short transaction per finished run, and it
re-reads the finished runs before dispatching each group, so several processes (or machines sharing
the file) can run the same sweep on one store: they split the remaining groups between them.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import multiprocessing as mp
import os
import pickle
import queue
import signal
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from typing import Any, Literal

import torch
from tqdm.auto import tqdm

from sgdnoise.data import TaskData
from sgdnoise.engine import GroupProgress, RunResult, TrainConfig, plan_steps, train_group
from sgdnoise.models import ModelSpec
from sgdnoise.store import Store, jsonable, run_key

__all__ = [
    "DEFAULT_TASK",
    "EXECUTORS",
    "LARGE_BATCH_SIZE",
    "MIN_THREADED_STEP_WORK",
    "MissingDependencyError",
    "Sweep",
    "SweepRun",
    "SweptRun",
    "TaskFactory",
    "available_cores",
    "expand_grid",
    "group_runs",
    "run_sweep",
    "threads_for_group",
]

TaskFactory = Callable[[], TaskData]
Executor = Literal["auto", "inline", "processes", "ray"]
EXECUTORS: tuple[str, ...] = ("auto", "inline", "processes", "ray")
DEFAULT_TASK = "default"

# Thread heuristic (see ``threads_for_group``): a group gets all cores only when its mean batch size is
# at least LARGE_BATCH_SIZE *and* one run's step multiplies at least MIN_THREADED_STEP_WORK
# batch-examples × parameters; otherwise one thread, and independent groups run in parallel processes.
LARGE_BATCH_SIZE = 64
MIN_THREADED_STEP_WORK = 1_000_000


class MissingDependencyError(ImportError, ValueError):
    """An optional dependency of the chosen feature is not installed (a ValueError too, so the CLI
    prints it as one line)."""


# --------------------------------------------------------------------------------------------------
# Runs, grids and sweeps
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its training config, the name of the task it trains on, and optional extra
    JSON labels that become part of its store key (e.g. ``{"n_train": 4000}`` to find it later)."""

    config: TrainConfig
    task: str = DEFAULT_TASK
    labels: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.config, TrainConfig):
            raise TypeError(f"SweepRun.config must be a TrainConfig, got {type(self.config).__name__}")
        if not isinstance(self.task, str) or not self.task:
            raise ValueError(f"SweepRun.task must be a non-empty task name, got {self.task!r}")
        if not isinstance(self.labels, Mapping):
            raise TypeError(f"SweepRun.labels must be a mapping, got {type(self.labels).__name__}")
        reserved = {*self.config.to_dict(), "task"}
        for name in self.labels:
            if not isinstance(name, str):
                raise TypeError(f"label names must be strings, got {name!r}")
            if name in reserved:
                raise ValueError(f"label {name!r} clashes with a config field or 'task'; rename it")
        try:
            json.dumps(jsonable(dict(self.labels)))
        except (TypeError, ValueError) as error:
            raise TypeError(f"labels must be JSON-serialisable: {error}") from None
        object.__setattr__(self, "labels", dict(self.labels))

    def store_config(self) -> dict[str, Any]:
        """What the store keys this run by: ``config.to_dict() | {"task": task} | labels``."""
        return self.config.to_dict() | {"task": self.task} | dict(self.labels)


def expand_grid(base: TrainConfig, **axes: Sequence[Any]) -> list[TrainConfig]:
    """The Cartesian product of ``axes`` applied to ``base`` (like ``dataclasses.replace``), first axis
    outermost: ``expand_grid(base, batch_size=[10, 100], seed=[0, 1])`` → (10,0), (10,1), (100,0), (100,1).
    Axis names are ``TrainConfig`` fields (``learning_rate``, ``batch_size``, ``momentum``, ``l2``,
    ``seed``, ``steps``, ``epochs``, ``model``, ``eval_points``)."""
    if not isinstance(base, TrainConfig):
        raise TypeError(f"base must be a TrainConfig, got {type(base).__name__}")
    known = {f.name for f in fields(TrainConfig)}
    for name, values in axes.items():
        if name not in known:
            raise ValueError(f"unknown grid axis {name!r}; axes are TrainConfig fields: {', '.join(sorted(known))}")
        if isinstance(values, str | bytes) or not isinstance(values, Sequence):
            raise TypeError(f"grid axis {name!r} must be a list or tuple of values, got {type(values).__name__}")
        if len(values) == 0:
            raise ValueError(f"grid axis {name!r} is empty")
    names = list(axes)
    return [replace(base, **dict(zip(names, point, strict=True))) for point in itertools.product(*axes.values())]


@dataclass(frozen=True, init=False)
class Sweep:
    """A named set of runs and the task(s) they train on.

    ``task`` is one factory (every run trains on it, under the name ``"default"``) or a mapping
    ``name → factory``. A factory is a zero-argument callable returning ``TaskData``, e.g.
    ``functools.partial(smith_le_mnist_task, seed=0, n_train=1000)``; it must be picklable (a
    module-level function or a partial of one) for the process-pool and Ray executors. ``runs`` are
    ``SweepRun``s, or plain ``TrainConfig``s when there is a single task.
    """

    experiment: str
    tasks: Mapping[str, TaskFactory]
    runs: tuple[SweepRun, ...]

    def __init__(
        self,
        experiment: str,
        task: TaskFactory | Mapping[str, TaskFactory],
        runs: Iterable[TrainConfig | SweepRun],
    ) -> None:
        if not isinstance(experiment, str) or not experiment:
            raise ValueError(f"experiment must be a non-empty name, got {experiment!r}")
        tasks = dict(task) if isinstance(task, Mapping) else {DEFAULT_TASK: task}
        if not tasks:
            raise ValueError("a sweep needs at least one task")
        for name, factory in tasks.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"task names must be non-empty strings, got {name!r}")
            if not callable(factory):
                raise TypeError(f"task {name!r} must be a callable returning TaskData, got {type(factory).__name__}")
        only_task = next(iter(tasks)) if len(tasks) == 1 else None
        normalised: list[SweepRun] = []
        for run in runs:
            if isinstance(run, TrainConfig):
                if only_task is None:
                    raise ValueError("with several tasks, give each run as SweepRun(config, task=NAME)")
                run = SweepRun(run, task=only_task)
            if not isinstance(run, SweepRun):
                raise TypeError(f"runs must be TrainConfig or SweepRun, got {type(run).__name__}")
            if run.task not in tasks:
                raise ValueError(f"run names task {run.task!r}, but the sweep's tasks are {sorted(tasks)}")
            normalised.append(run)
        if not normalised:
            raise ValueError("a sweep needs at least one run")
        keys = [run_key(experiment, run.store_config()) for run in normalised]
        if len(set(keys)) != len(keys):
            duplicate = next(run for run, key in zip(normalised, keys, strict=True) if keys.count(key) > 1)
            raise ValueError(f"the sweep lists the same run twice: {duplicate.store_config()}")
        object.__setattr__(self, "experiment", experiment)
        object.__setattr__(self, "tasks", tasks)
        object.__setattr__(self, "runs", tuple(normalised))

    def keys(self) -> list[str]:
        """The store key of every run, in order."""
        return [run_key(self.experiment, run.store_config()) for run in self.runs]


@dataclass(frozen=True)
class SweptRun:
    """A finished run as stored: ``status`` is ``"done"`` or ``"diverged"``; ``metrics`` are the
    engine's final evaluation row plus ``steps_done``, ``diverged_at_step`` and ``wall_seconds`` (of
    its group); ``history`` holds the evaluation rows as columns (``{"step": [...], "test_loss":
    [...], ...}``); ``seconds`` is the run's share of its group's wall time; ``trained`` says whether
    this call trained it (False: read back from the store)."""

    run: SweepRun
    key: str
    status: str
    metrics: dict[str, Any]
    history: dict[str, list[Any]]
    seconds: float
    trained: bool

    @property
    def config(self) -> TrainConfig:
        return self.run.config

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"


def group_runs(runs: Sequence[SweepRun], max_group_size: int | None = None) -> list[list[SweepRun]]:
    """Partition runs into engine groups: same task and same ``TrainConfig.group_key()``, at most
    ``max_group_size`` runs each. Groups keep the runs' order, appear in the order of their first run,
    and the groups of one task are contiguous (so a worker holds one task's data at a time)."""
    if max_group_size is not None and (
        isinstance(max_group_size, bool) or not isinstance(max_group_size, int) or max_group_size < 1
    ):
        raise ValueError(f"max_group_size must be a positive int or None, got {max_group_size!r}")
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


# --------------------------------------------------------------------------------------------------
# How many threads per group
# --------------------------------------------------------------------------------------------------


def available_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@lru_cache(maxsize=64)
def _parameter_count(model_json: str) -> int:
    from sgdnoise.models import model_spec_from_dict

    return sum(p.numel() for p in model_spec_from_dict(json.loads(model_json)).build().parameters())


def _num_parameters(spec: ModelSpec) -> int:
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
    """
    if not configs:
        raise ValueError("threads_for_group needs at least one config")
    cores = available_cores() if cores is None else cores
    plan = plan_steps(configs[0], num_train)
    mean_batch = float(plan.batch_sizes.mean())
    step_work = mean_batch * _num_parameters(configs[0].model)
    large = mean_batch >= LARGE_BATCH_SIZE and step_work >= MIN_THREADED_STEP_WORK
    return cores if large else 1


# --------------------------------------------------------------------------------------------------
# Training one group (shared by all executors) and turning its results into store rows
# --------------------------------------------------------------------------------------------------


class _TaskCache:
    """Holds the most recently built task (groups of one task are contiguous, so this builds each task
    about once per process while keeping at most one task's data in memory)."""

    def __init__(self) -> None:
        self._token: str | None = None
        self._data: TaskData | None = None

    def get(self, token: str, factory: TaskFactory) -> TaskData:
        if self._token != token or self._data is None:
            self._data = None  # free the previous task before building the next
            data = factory()
            if not isinstance(data, TaskData):
                raise TypeError(f"task factory {factory!r} returned {type(data).__name__}, expected TaskData")
            self._token, self._data = token, data
        return self._data


def _history_columns(rows: list[dict[str, float]]) -> dict[str, list[Any]]:
    names = list(dict.fromkeys(name for row in rows for name in row))
    return {name: [row.get(name) for row in rows] for name in names}


def _storable(result: RunResult, group_size: int) -> dict[str, Any]:
    """A run's store row (without its key): status, metrics, history as columns, seconds."""
    metrics = dict(result.final)
    metrics["steps_done"] = result.steps_done
    metrics["diverged_at_step"] = result.diverged_at_step
    wall = float(result.final.get("wall_seconds", 0.0))
    return {
        "status": "done" if result.status == "finished" else "diverged",
        "metrics": metrics,
        "history": _history_columns(result.history),
        "seconds": wall / group_size,
    }


def _train_job(
    cache: _TaskCache,
    token: str,
    factory: TaskFactory,
    configs: list[TrainConfig],
    device: torch.device | None,
    dtype: torch.dtype,
    path: str,
    threads: int,
    progress: Callable[[GroupProgress], None] | None,
) -> list[dict[str, Any]]:
    data = cache.get(token, factory)
    results = train_group(
        configs,
        data.train.x,
        data.train.y,
        data.test.x,
        data.test.y,
        device=device,
        dtype=dtype,
        path=path,
        progress=progress,
        num_threads=threads,  # type: ignore[arg-type]
    )
    return [_storable(result, len(configs)) for result in results]


# --------------------------------------------------------------------------------------------------
# Coordination: claiming groups, progress, committing results (always in the parent process)
# --------------------------------------------------------------------------------------------------


@dataclass
class _Job:
    index: int
    task: str
    runs: list[SweepRun]
    threads: int
    work: float  # estimated multiply-adds, for the progress bar's ETA


class _Coordinator:
    """Owns the store writes and the progress bar. Before a group is dispatched, ``claim`` drops the
    runs that finished meanwhile (e.g. in another process); ``finish`` commits a group's runs at once,
    one short transaction each, keeping a record another process stored first."""

    def __init__(self, sweep: Sweep, store: Store, jobs: list[_Job], stored: int, show_progress: bool) -> None:
        self.experiment = sweep.experiment
        self.store = store
        self.keys = {id(run): key for run, key in zip(sweep.runs, sweep.keys(), strict=True)}
        self.pending_runs = sum(len(job.runs) for job in jobs)
        self.runs_done = 0
        self.runs_diverged = 0
        self.stored_before = stored
        self.trained_keys: set[str] = set()
        self._fraction: dict[int, float] = {}
        self._live_diverged: dict[int, int] = {}
        self._work = {job.index: job.work for job in jobs}
        # Units are estimated multiply-adds, so groups of different batch sizes and budgets weigh what
        # they cost; the ETA uses the average rate since the first progress report (smoothing=0).
        self.bar = tqdm(
            total=sum(self._work.values()),
            desc=sweep.experiment,
            disable=not show_progress,
            dynamic_ncols=True,
            leave=False,
            smoothing=0.0,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]",
        )
        self._started = False
        self._refresh()

    def close(self) -> None:
        self.bar.close()

    def _refresh(self) -> None:
        diverged = self.runs_diverged + sum(self._live_diverged.values())
        stored = f" (+{self.stored_before} stored)" if self.stored_before else ""
        self.bar.set_postfix_str(
            f"runs {self.runs_done}/{self.pending_runs}{stored}, diverged {diverged}", refresh=False
        )

    def _advance(self, job: _Job, fraction: float) -> None:
        if not self._started:  # start the clock when training starts (not while workers spawn)
            self._started = True
            self.bar.reset(total=self.bar.total)
        previous = self._fraction.get(job.index, 0.0)
        if fraction > previous:
            self._fraction[job.index] = fraction
            self.bar.update(self._work[job.index] * (fraction - previous))

    def claim(self, job: _Job) -> list[SweepRun]:
        finished = self.store.finished_keys(self.experiment)
        runs = [run for run in job.runs if self.keys[id(run)] not in finished]
        skipped = len(job.runs) - len(runs)
        if skipped:
            self.pending_runs -= skipped
            self.stored_before += skipped
            if not runs:
                self._advance(job, 1.0)
            self._refresh()
        return runs

    def progress(self, job: _Job, update: GroupProgress) -> None:
        self._advance(job, update.steps_done / max(update.total_steps, 1))
        self._live_diverged[job.index] = update.runs_diverged
        self._refresh()

    def finish(self, job: _Job, runs: list[SweepRun], rows: list[dict[str, Any]]) -> None:
        finished = self.store.finished_keys(self.experiment)
        for run, row in zip(runs, rows, strict=True):
            key = self.keys[id(run)]
            if key not in finished:
                self.store.put(
                    self.experiment,
                    run.store_config(),
                    metrics=row["metrics"],
                    history=row["history"],
                    status=row["status"],
                    seconds=row["seconds"],
                )
                self.trained_keys.add(key)
            self.runs_done += 1
            self.runs_diverged += row["status"] == "diverged"
        self._live_diverged.pop(job.index, None)
        self._advance(job, 1.0)
        self._refresh()


# --------------------------------------------------------------------------------------------------
# Executors
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Training:
    device: torch.device | None
    dtype: torch.dtype
    path: str


def _run_inline(
    jobs: list[_Job], sweep: Sweep, coordinator: _Coordinator, training: _Training, cache: _TaskCache
) -> None:
    for job in jobs:
        runs = coordinator.claim(job)
        if not runs:
            continue
        rows = _train_job(
            cache,
            job.task,
            sweep.tasks[job.task],
            [run.config for run in runs],
            training.device,
            training.dtype,
            training.path,
            job.threads,
            lambda update, job=job: coordinator.progress(job, update),
        )
        coordinator.finish(job, runs, rows)


def _picklable_exception(error: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        text = "".join(traceback.format_exception(error))
        return RuntimeError(f"a sweep worker failed:\n{text}")


def _worker_main(
    worker: int, jobs: Any, messages: Any, tasks: Mapping[str, TaskFactory], training: _Training, parent_pid: int
) -> None:
    """A local pool worker: trains the groups it is sent and reports progress and results; the parent
    handles Ctrl-C (workers ignore SIGINT) and the worker exits when its parent has gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cache = _TaskCache()

    def report(job_index: int, update: GroupProgress) -> None:
        if os.getppid() != parent_pid:
            os._exit(1)
        messages.put(("progress", worker, job_index, update))

    while True:
        try:
            job = jobs.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent_pid:
                return
            continue
        if job is None:
            return
        job_index, task, configs, threads = job
        try:
            rows = _train_job(
                cache,
                task,
                tasks[task],
                configs,
                training.device,
                training.dtype,
                training.path,
                threads,
                lambda update, job_index=job_index: report(job_index, update),
            )
            messages.put(("done", worker, job_index, rows))
        except Exception as error:
            messages.put(("error", worker, job_index, _picklable_exception(error)))


def _run_processes(
    jobs: list[_Job], sweep: Sweep, coordinator: _Coordinator, training: _Training, workers: int, thread_budget: int
) -> None:
    """Local pool of ``workers`` spawned processes; groups run concurrently while the sum of their
    threads stays within ``thread_budget`` (so 1-thread groups run side by side, an all-core group
    alone). Results come back to this process, which commits them."""
    context = mp.get_context("spawn")  # torch + fork is unsafe
    messages = context.Queue()
    job_queues = [context.Queue() for _ in range(workers)]
    processes = [
        context.Process(
            target=_worker_main,
            args=(w, job_queues[w], messages, sweep.tasks, training, os.getpid()),
            daemon=True,
            name=f"sgdnoise-sweep-{w}",
        )
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    waiting = deque(jobs)
    busy: dict[int, tuple[_Job, list[SweepRun]]] = {}
    threads_in_use = 0
    clean = False
    try:
        while waiting or busy:
            while waiting and len(busy) < workers:
                job = waiting[0]
                threads = min(job.threads, thread_budget)
                if busy and threads_in_use + threads > thread_budget:
                    break
                waiting.popleft()
                runs = coordinator.claim(job)
                if not runs:
                    continue
                worker = next(w for w in range(workers) if w not in busy)
                job_queues[worker].put((job.index, job.task, [run.config for run in runs], threads))
                busy[worker] = (job, runs)
                threads_in_use += threads
            if not busy:
                continue
            try:
                kind, worker, _, payload = messages.get(timeout=0.5)
            except queue.Empty:
                for worker, (_, runs) in busy.items():
                    if not processes[worker].is_alive():
                        raise RuntimeError(
                            f"sweep worker {processes[worker].pid} died (exit code {processes[worker].exitcode}) "
                            f"while training a group of {len(runs)} runs; finished runs are stored, rerun to resume"
                        ) from None
                continue
            job, runs = busy[worker]
            if kind == "progress":
                coordinator.progress(job, payload)
            elif kind == "done":
                coordinator.finish(job, runs, payload)
                del busy[worker]
                threads_in_use -= min(job.threads, thread_budget)
            else:
                raise payload
        clean = True
    finally:
        for worker, process in enumerate(processes):
            if clean:
                job_queues[worker].put(None)
            else:
                process.terminate()
        for process in processes:
            process.join(timeout=10.0)
            if process.is_alive():
                process.kill()
                process.join()
        for channel in (messages, *job_queues):
            channel.close()
            channel.cancel_join_thread()


_RAY_TASK_CACHE = _TaskCache()


def _ray_train_job(
    token: str, factory: TaskFactory, configs: list[TrainConfig], training: _Training, threads: int
) -> list[dict[str, Any]]:
    """Runs inside a Ray worker process (reused across tasks, hence the per-process task cache)."""
    return _train_job(
        _RAY_TASK_CACHE, token, factory, configs, training.device, training.dtype, training.path, threads, None
    )


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(
            "executor='ray' needs Ray, which is not installed; install it with: pip install 'sgdnoise[ray]'"
        ) from None
    return ray


def _run_ray(jobs: list[_Job], sweep: Sweep, coordinator: _Coordinator, training: _Training) -> None:
    """Every group as one Ray task (``num_cpus`` = its threads) on the cluster ``ray.init()`` finds
    (``RAY_ADDRESS``) or a local one. Progress advances per finished group; the parent commits."""
    ray = _import_ray()
    if not ray.is_initialized():
        ray.init()
    remote = ray.remote(_ray_train_job)
    factories = {}
    for name in dict.fromkeys(job.task for job in jobs):
        payload = pickle.dumps(sweep.tasks[name])
        token = f"{sweep.experiment}/{name}/{hashlib.sha256(payload).hexdigest()[:16]}"
        factories[name] = (token, ray.put(sweep.tasks[name]))
    in_flight: dict[Any, tuple[_Job, list[SweepRun]]] = {}
    try:
        for job in jobs:
            runs = coordinator.claim(job)
            if runs:
                token, factory = factories[job.task]
                ref = remote.options(num_cpus=job.threads).remote(
                    token, factory, [run.config for run in runs], training, job.threads
                )
                in_flight[ref] = (job, runs)
        while in_flight:
            (ref,), _ = ray.wait(list(in_flight), num_returns=1)
            job, runs = in_flight.pop(ref)
            coordinator.finish(job, runs, ray.get(ref))
    finally:
        for ref in in_flight:
            ray.cancel(ref, force=True)


# --------------------------------------------------------------------------------------------------
# run_sweep
# --------------------------------------------------------------------------------------------------


def _check_positive_int(value: int | None, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")


def _check_picklable(sweep: Sweep, names: Iterable[str], executor: str) -> None:
    for name in names:
        try:
            pickle.dumps(sweep.tasks[name])
        except Exception as error:
            raise TypeError(
                f"task {name!r} cannot be sent to executor={executor!r} ({error}); use a module-level function "
                "or a functools.partial of one, not a lambda or closure"
            ) from None


def _estimated_work(configs: Sequence[TrainConfig], data: TaskData) -> float:
    """Multiply-adds of a group: R·P·(examples trained on + one third of the evaluated examples)."""
    plan = plan_steps(configs[0], len(data.train))
    evaluated = len(plan.eval_steps) * (len(data.train) + len(data.test)) / 3.0
    return float(len(configs) * _num_parameters(configs[0].model) * (plan.batch_sizes.sum() + evaluated))


def _plan_jobs(
    sweep: Sweep,
    pending: list[SweepRun],
    cache: _TaskCache,
    threads: int | None,
    max_group_size: int | None,
    cores: int,
) -> list[_Job]:
    """The pending runs as engine groups with their thread counts and work estimates (this builds each
    task once in this process to learn its size)."""
    jobs: list[_Job] = []
    for index, group in enumerate(group_runs(pending, max_group_size)):
        configs = [run.config for run in group]
        data = cache.get(group[0].task, sweep.tasks[group[0].task])
        group_threads = threads if threads is not None else threads_for_group(configs, len(data.train), cores)
        jobs.append(_Job(index, group[0].task, group, group_threads, _estimated_work(configs, data)))
    return jobs


@contextlib.contextmanager
def _closing(coordinator: _Coordinator) -> Iterator[_Coordinator]:
    try:
        yield coordinator
    finally:
        coordinator.close()


def run_sweep(
    sweep: Sweep,
    store: Store,
    *,
    executor: Executor = "auto",
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    path: Literal["auto", "fast", "general"] = "auto",
    workers: int | None = None,
    threads: int | None = None,
    max_group_size: int | None = None,
    show_progress: bool = True,
) -> list[SweptRun]:
    """Train the runs of ``sweep`` that ``store`` does not hold yet and return all runs, in the order of
    ``sweep.runs`` (stored ones read back, not recomputed).

    Each group's runs are committed the moment the group returns. Executors: ``"inline"`` (this
    process, one group at a time), ``"processes"`` (``workers`` spawned processes, default one per
    core; groups run side by side while their threads fit in max(cores, workers)), ``"ray"``
    (``pip install 'sgdnoise[ray]'``), and ``"auto"``: processes when at least two pending groups
    are single-threaded and there are several workers, otherwise inline. ``threads`` overrides the
    per-group thread heuristic (``threads_for_group``); ``max_group_size`` caps runs per group
    (memory). ``device``/``dtype``/``path`` go to ``train_group``. On Ctrl-C, workers are stopped and
    ``KeyboardInterrupt`` is re-raised; every finished run is already stored.
    """
    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep must be a Sweep, got {type(sweep).__name__}")
    if not isinstance(store, Store):
        raise TypeError(f"store must be a Store, got {type(store).__name__}")
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    if path not in ("auto", "fast", "general"):
        raise ValueError(f"path must be 'auto', 'fast' or 'general', got {path!r}")
    _check_positive_int(workers, "workers")
    _check_positive_int(threads, "threads")
    _check_positive_int(max_group_size, "max_group_size")
    training = _Training(None if device is None else torch.device(device), dtype, path)
    if executor == "ray":
        _import_ray()  # fail before any work when Ray is missing

    keys = sweep.keys()
    finished = store.finished_keys(sweep.experiment)
    pending = [run for run, key in zip(sweep.runs, keys, strict=True) if key not in finished]
    trained: set[str] = set()
    if pending:
        cores = available_cores()
        cache = _TaskCache()
        jobs = _plan_jobs(sweep, pending, cache, threads, max_group_size, cores)
        pool_size = workers if workers is not None else cores
        chosen = executor
        if chosen == "auto":
            single_threaded = sum(job.threads == 1 for job in jobs)
            chosen = "processes" if single_threaded >= 2 and pool_size > 1 else "inline"
        if chosen != "inline":
            _check_picklable(sweep, {job.task for job in jobs}, chosen)
            cache = _TaskCache()  # free the parent's copy of the data before workers build theirs
        stored_before = len(sweep.runs) - len(pending)
        with _closing(_Coordinator(sweep, store, jobs, stored_before, show_progress)) as coordinator:
            if chosen == "inline":
                _run_inline(jobs, sweep, coordinator, training, cache)
            elif chosen == "processes":
                _run_processes(jobs, sweep, coordinator, training, min(pool_size, len(jobs)), max(cores, pool_size))
            else:
                _run_ray(jobs, sweep, coordinator, training)
            trained = coordinator.trained_keys

    records = {record.key: record for record in store.runs(sweep.experiment)}
    missing = [key for key in keys if key not in records]
    if missing:
        raise RuntimeError(f"{len(missing)} runs of {sweep.experiment!r} are missing from the store after the sweep")
    return [
        SweptRun(
            run=run,
            key=key,
            status=records[key].status,
            metrics=records[key].metrics,
            history=records[key].history,
            seconds=records[key].seconds,
            trained=key in trained,
        )
        for run, key in zip(sweep.runs, keys, strict=True)
    ]
