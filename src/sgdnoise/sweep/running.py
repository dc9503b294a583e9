"""Running a sweep: ``run_sweep`` decides what the store still lacks, plans jobs, hands them to an
executor, and returns every run in the sweep's order. The ``Coordinator`` (always in the calling
process) is the only writer of the store and of kept weights, and owns the progress bar."""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from tqdm.auto import tqdm

from sgdnoise.engine import GroupProgress, TrainConfig, train_group
from sgdnoise.results import RunOutcome
from sgdnoise.store import RunRecord, Store
from sgdnoise.sweep.executors import (
    GroupTrainer,
    Outcome,
    Payload,
    TaskCache,
    Training,
    check_ray_address,
    import_ray,
    run_inline,
    run_processes,
    run_ray,
)
from sgdnoise.sweep.planning import Job, JobKind, auto_executor, available_cores, plan_jobs
from sgdnoise.sweep.specs import Sweep, SweepRun
from sgdnoise.validation import positive_int

Executor = Literal["auto", "inline", "processes", "ray"]
EXECUTORS: tuple[str, ...] = ("auto", "inline", "processes", "ray")


@dataclass(frozen=True, kw_only=True)
class SweptRun(RunOutcome):
    """A run of the sweep as stored: its outcome, its ``run`` and store ``key``; ``trained`` says
    whether this call trained it (False: read back)."""

    run: SweepRun
    key: str
    trained: bool

    @property
    def config(self) -> TrainConfig:
        return self.run.config


def missing_work(sweep: Sweep, store: Store, key: str, record: RunRecord | None) -> JobKind | None:
    """What a run still needs: ``"train"`` (not stored, failed, or finished but lacking weights the
    sweep keeps / a measurement with no kept weights to take it from), ``"measure"`` (finished, lacks
    a measurement, weights kept) or None (done)."""
    if record is None or not record.done:
        return "train"
    if record.status == "diverged":
        return None
    lacking = [m.name for m in sweep.measurements if m.name not in record.measurements]
    if not lacking and not sweep.keep_weights:
        return None
    if not store.has_weights(key):
        return "train"
    return "measure" if lacking else None


class Coordinator:
    """Owns the store writes and the progress bar. Before a job is dispatched, ``claim`` re-reads the
    store and drops the runs that no longer need that job (e.g. done meanwhile by another process);
    ``finish`` commits a job's runs at once, one short transaction each, keeping a record another
    process stored first."""

    def __init__(self, sweep: Sweep, store: Store, jobs: list[Job], stored: int, show_progress: bool) -> None:
        self.sweep = sweep
        self.store = store
        self.keys = {id(run): key for run, key in zip(sweep.runs, sweep.keys(), strict=True)}
        self.pending_runs = sum(len(job.runs) for job in jobs)
        self.counts = {"done": 0, "diverged": 0, "failed": 0}
        self.stored_before = stored
        self.trained_keys: set[str] = set()
        self._claimed: dict[int, list[SweepRun]] = {}
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
        diverged = self.counts["diverged"] + sum(self._live_diverged.values())
        stored = f" (+{self.stored_before} stored)" if self.stored_before else ""
        failed = f", failed {self.counts['failed']}" if self.counts["failed"] else ""
        self.bar.set_postfix_str(
            f"runs {self.counts['done']}/{self.pending_runs}{stored}, diverged {diverged}{failed}", refresh=False
        )

    def _advance(self, job: Job, fraction: float) -> None:
        fraction = min(fraction, 1.0)
        if not self._started:  # start the clock when training starts (not while workers spawn)
            self._started = True
            self.bar.reset(total=self.bar.total)
        previous = self._fraction.get(job.index, 0.0)
        if fraction > previous:
            self._fraction[job.index] = fraction
            # float work units: the sum of the steps may round past the total (tqdm then warns)
            self.bar.update(min(self._work[job.index] * (fraction - previous), self.bar.total - self.bar.n))

    def _needing(self, job: Job) -> list[SweepRun]:
        records = self.store.lookup(self.keys[id(run)] for run in job.runs)
        return [
            run
            for run in job.runs
            if missing_work(self.sweep, self.store, self.keys[id(run)], records.get(self.keys[id(run)])) == job.kind
        ]

    def claim(self, job: Job) -> Payload | None:
        """The payload of ``job`` restricted to the runs that still need it (None: none does)."""
        runs = self._needing(job)
        skipped = len(job.runs) - len(runs)
        if skipped:
            self.pending_runs -= skipped
            self.stored_before += skipped
            if not runs:
                self._advance(job, 1.0)
            self._refresh()
        if not runs:
            return None
        self._claimed[job.index] = runs
        configs = [run.config for run in runs]
        if job.kind == "train":
            return Payload(job.index, "train", job.task, configs, job.threads)
        records = self.store.lookup(self.keys[id(run)] for run in runs)
        lacking = [
            tuple(m.name for m in self.sweep.measurements if m.name not in records[self.keys[id(run)]].measurements)
            for run in runs
        ]
        states = [self.store.load_weights(self.keys[id(run)]) for run in runs]
        return Payload(job.index, "measure", job.task, configs, job.threads, states, lacking)

    def progress(self, job: Job, update: GroupProgress) -> None:
        self._advance(job, update.steps_done / max(update.total_steps, 1))
        self._live_diverged[job.index] = update.runs_diverged
        self._refresh()

    def finish(self, job: Job, outcomes: Sequence[Outcome]) -> None:
        """Commit the outcomes of a claimed job (weights first, then the run's row)."""
        runs = self._claimed.pop(job.index)
        still_needing = {id(run) for run in self._needing(Job(job.index, job.kind, job.task, runs, 0, 0.0))}
        for run, outcome in zip(runs, outcomes, strict=True):
            key = self.keys[id(run)]
            if id(run) not in still_needing:
                continue  # another process stored it first
            if job.kind == "measure":
                self.store.add_measurements(key, outcome["measurements"], outcome["error"])
                self.counts["failed"] += outcome["error"] is not None
                continue
            if self.sweep.keep_weights and outcome.status == "finished":
                self.store.save_weights(key, outcome.state_dict)
            self.store.put(self.sweep.experiment, self.sweep.key_config(run), **outcome.to_dict())
            self.trained_keys.add(key)
            self.counts["diverged" if outcome.diverged else "done"] += outcome.status != "failed"
            self.counts["failed"] += outcome.status == "failed"
        self._live_diverged.pop(job.index, None)
        self._advance(job, 1.0)
        self._refresh()


def _check_picklable(sweep: Sweep, names: Iterable[str], training: Training, executor: str) -> None:
    for what, value in [*((f"task {name!r}", sweep.tasks[name]) for name in names), ("the trainer", training)]:
        try:
            pickle.dumps(value)
        except Exception as error:
            raise TypeError(
                f"{what} cannot be sent to executor={executor!r} ({error}); use module-level functions, "
                "functools.partial of them and picklable measurements, not a lambda or closure"
            ) from None


@contextlib.contextmanager
def _closing(coordinator: Coordinator) -> Iterator[Coordinator]:
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
    trainer: GroupTrainer = train_group,
    ray_address: str | None = None,
) -> list[SweptRun]:
    """Do what ``store`` still lacks of ``sweep`` and return all runs, in the order of ``sweep.runs``
    (stored ones read back, neither retrained nor re-measured; see ``Sweep`` for when a run is done).

    Each job's runs are committed the moment it returns; a job that raises records its runs as
    ``failed`` with the error text and the sweep goes on (they are trained again by the next call).
    Executors: ``"inline"`` (this process, one job at a time), ``"processes"`` (``workers`` spawned
    processes, default one per core; jobs run side by side while their threads fit in max(cores,
    workers)), ``"ray"`` (``pip install 'sgdnoise[ray]'``; one Ray task per job on the cluster at
    ``ray_address``, default ``$RAY_ADDRESS``, a cluster started on this machine, else a new local Ray;
    a task whose worker dies is retried), and ``"auto"``: processes when at least
    two pending jobs are single-threaded and there are several workers, otherwise inline. Groups are
    cut to the fastest layout for the processes that train them (``planning.layout_groups``). ``threads``
    overrides the per-group thread heuristic (``threads_for_group``); ``max_group_size`` caps runs per
    group (memory). ``device``/``dtype``/``path`` go to the engine; ``trainer`` replaces
    ``engine.train_group`` (same signature; e.g. to count or fail training in tests). On Ctrl-C,
    workers are stopped and ``KeyboardInterrupt`` is re-raised; every finished run is already stored.
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
    if not callable(trainer):
        raise TypeError(f"trainer must be callable like engine.train_group, got {type(trainer).__name__}")
    positive_int("workers", workers, optional=True)
    positive_int("threads", threads, optional=True)
    positive_int("max_group_size", max_group_size, optional=True)
    if sweep.keep_weights:
        store.weights_dir  # noqa: B018  (an in-memory store cannot keep weights: fail before any work)
    training = Training(
        None if device is None else torch.device(device),
        dtype,
        path,
        sweep.probes,
        sweep.measurements,
        sweep.keep_weights,
        trainer,
    )
    if ray_address is not None and (not isinstance(ray_address, str) or not ray_address):
        raise ValueError(f"ray_address must be a Ray cluster address such as 'HOST:6379', got {ray_address!r}")
    if ray_address is not None and executor != "ray":
        raise ValueError(f"ray_address is for executor='ray', not executor={executor!r}")
    if executor == "ray":
        import_ray()  # fail before any work when Ray is missing or the cluster cannot be reached
        if ray_address is not None:
            check_ray_address(ray_address)

    keys = sweep.keys()
    records = store.lookup(keys)
    needs = [missing_work(sweep, store, key, records.get(key)) for key in keys]
    to_train = [run for run, need in zip(sweep.runs, needs, strict=True) if need == "train"]
    to_measure = [run for run, need in zip(sweep.runs, needs, strict=True) if need == "measure"]
    trained: set[str] = set()
    if to_train or to_measure:
        cores = available_cores()
        cache = TaskCache()
        pool_size = workers if workers is not None else cores
        processes = 1 if executor == "inline" else pool_size
        jobs = plan_jobs(
            to_train,
            to_measure,
            lambda name: cache.get(name, sweep.tasks[name]),
            threads,
            max_group_size,
            cores,
            processes,
        )
        chosen = auto_executor(jobs, pool_size) if executor == "auto" else executor
        if chosen != "inline":
            _check_picklable(sweep, {job.task for job in jobs}, training, chosen)
            cache = TaskCache()  # free the parent's copy of the data before workers build theirs
        stored_before = len(sweep.runs) - len(to_train) - len(to_measure)
        with _closing(Coordinator(sweep, store, jobs, stored_before, show_progress)) as coordinator:
            if chosen == "inline":
                run_inline(jobs, sweep.tasks, coordinator, training, cache)
            elif chosen == "processes":
                thread_budget = max(cores, pool_size)
                run_processes(jobs, sweep.tasks, coordinator, training, min(pool_size, len(jobs)), thread_budget)
            else:
                run_ray(jobs, sweep.tasks, sweep.experiment, coordinator, training, ray_address)
            trained = coordinator.trained_keys

    records = store.lookup(keys)
    missing = [key for key in keys if key not in records]
    if missing:
        raise RuntimeError(f"{len(missing)} runs of {sweep.experiment!r} are missing from the store after the sweep")
    return [
        SweptRun.from_dict(records[key].to_dict(), run=run, key=key, trained=key in trained)
        for run, key in zip(sweep.runs, keys, strict=True)
    ]
