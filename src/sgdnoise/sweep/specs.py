"""What a sweep is: its runs (``SweepRun``), grids of them (``expand_grid``) and the ``Sweep`` — the
experiment name (store namespace), the named tasks, the runs and what to measure on them."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from sgdnoise.data import TaskData
from sgdnoise.engine import Measurement, Probe, TrainConfig
from sgdnoise.engine.measure import check_measurements
from sgdnoise.results import dumps
from sgdnoise.store import run_key

TaskFactory = Callable[[], TaskData]
DEFAULT_TASK = "default"
_SWEEP_KEYS = ("task", "probes")  # store-key entries the sweep adds to a run's config


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
        reserved = {f.name for f in fields(TrainConfig)} | set(_SWEEP_KEYS)
        for name in self.labels:
            if not isinstance(name, str):
                raise TypeError(f"label names must be strings, got {name!r}")
            if name in reserved:
                raise ValueError(f"label {name!r} clashes with a config field, 'task' or 'probes'; rename it")
        try:
            dumps(dict(self.labels))
        except (TypeError, ValueError) as error:
            raise TypeError(f"labels must be JSON-serialisable: {error}") from None
        object.__setattr__(self, "labels", dict(self.labels))

    def store_config(self) -> dict[str, Any]:
        """What the store keys this run by (without the sweep's probes): ``config.to_dict() |
        {"task": task} | labels``."""
        return self.config.to_dict() | {"task": self.task} | dict(self.labels)


def expand_grid(base: TrainConfig, **axes: Sequence[Any]) -> list[TrainConfig]:
    """The Cartesian product of ``axes`` applied to ``base`` (like ``dataclasses.replace``), first axis
    outermost: ``expand_grid(base, batch_size=[10, 100], seed=[0, 1])`` → (10,0), (10,1), (100,0), (100,1).
    Axis names are ``TrainConfig`` fields (``learning_rate``, ``batch_size``, ``momentum``, ``l2``,
    ``seed``, ``steps``, ``epochs``, ``model``, ``eval_points``, ``augmentation``)."""
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
    """A named set of runs, the task(s) they train on, and what is measured on them.

    ``task`` is one factory (every run trains on it, under the name ``"default"``) or a mapping
    ``name → factory``. A factory is a zero-argument callable returning ``TaskData``, e.g.
    ``functools.partial(smith_le_mnist_task, seed=0, n_train=1000)``; it must be picklable (a
    module-level function or a partial of one) for the process-pool and Ray executors. ``runs`` are
    ``SweepRun``s, or plain ``TrainConfig``s when there is a single task.

    ``measurements`` run on every finished run's final model, in the worker that trained it, and are
    stored with the run under their ``name`` (the name identifies the measurement: give a measurement
    with other parameters another name). ``probes`` measure during training; they are part of every
    run's store key (``"probes"``), since they change what the run records. ``keep_weights`` keeps every
    finished run's final state dict beside the store (``Store.load_weights(key)``).

    Resuming: a run is done when the store holds it as diverged, or as finished with every measurement
    of the sweep (and its weights, with ``keep_weights``). A finished run that lacks a measurement is
    measured from its kept weights when they exist, else trained again (same seed, same result).
    """

    experiment: str
    tasks: Mapping[str, TaskFactory]
    runs: tuple[SweepRun, ...]
    measurements: tuple[Measurement, ...]
    probes: tuple[Probe, ...]
    keep_weights: bool

    def __init__(
        self,
        experiment: str,
        task: TaskFactory | Mapping[str, TaskFactory],
        runs: Iterable[TrainConfig | SweepRun],
        *,
        measurements: Sequence[Measurement] = (),
        probes: Sequence[Probe] = (),
        keep_weights: bool = False,
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
        if not all(isinstance(p, Probe) for p in probes):
            raise TypeError("probes must be Probe instances")
        if not isinstance(keep_weights, bool):
            raise TypeError(f"keep_weights must be True or False, got {keep_weights!r}")
        set_ = object.__setattr__
        set_(self, "experiment", experiment)
        set_(self, "tasks", tasks)
        set_(self, "runs", tuple(normalised))
        set_(self, "measurements", check_measurements(measurements))
        set_(self, "probes", tuple(probes))
        set_(self, "keep_weights", keep_weights)
        keys = self.keys()
        if len(set(keys)) != len(keys):
            duplicate = next(run for run, key in zip(normalised, keys, strict=True) if keys.count(key) > 1)
            raise ValueError(f"the sweep lists the same run twice: {duplicate.store_config()}")

    def key_config(self, run: SweepRun) -> dict[str, Any]:
        """What the store keys ``run`` by: its ``store_config()``, plus the probes when there are any."""
        probes = {"probes": [p.to_dict() for p in self.probes]} if self.probes else {}
        return run.store_config() | probes

    def keys(self) -> list[str]:
        """The store key of every run, in order."""
        return [run_key(self.experiment, self.key_config(run)) for run in self.runs]
