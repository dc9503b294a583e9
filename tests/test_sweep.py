"""Sweeps: grid expansion, grouping, executors, resume (also after kill -9), divergence, concurrency."""

from __future__ import annotations

import functools
import importlib.util
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sgdnoise.data import synthetic_task
from sgdnoise.engine import TrainConfig, train_group
from sgdnoise.models import MLPSpec, ResNetSpec, jastrzebski_bn_mlp, logistic_regression, smith_le_shallow_net
from sgdnoise.store import Store, run_key
from sgdnoise.sweep import (
    MissingDependencyError,
    Sweep,
    SweepRun,
    SweptRun,
    expand_grid,
    group_runs,
    layout_groups,
    run_sweep,
    stacked_runs,
    stacks_well,
    threads_for_group,
)

TASK = functools.partial(synthetic_task, seed=0, n_train=64, n_test=32, dim=20)
SPEC = MLPSpec(input_dim=20, hidden=(8,), num_classes=2)
BASE = TrainConfig(SPEC, 0.1, 8, steps=30, eval_points=3)
TESTS_DIR = Path(__file__).parent


def make_sweep(experiment: str = "demo", batch_sizes: tuple[int, ...] = (4, 8, 16), steps: int = 30) -> Sweep:
    """One group per batch size, two learning rates × two seeds in each (also used by the subprocesses)."""
    base = TrainConfig(SPEC, 0.1, 8, steps=steps, eval_points=3)
    return Sweep(
        experiment, TASK, expand_grid(base, batch_size=list(batch_sizes), learning_rate=[0.05, 0.2], seed=[0, 1])
    )


def assert_close(x: dict[str, Any], y: dict[str, Any]) -> None:
    """Equal keys; numbers equal to float tolerance, other values exactly."""
    assert x.keys() == y.keys()
    for name in x:
        if isinstance(x[name], list | float):
            assert x[name] == pytest.approx(y[name], rel=1e-5, abs=1e-7), name
        else:
            assert x[name] == y[name], name


def assert_same_results(a: list[SweptRun], b: list[SweptRun]) -> None:
    assert [r.key for r in a] == [r.key for r in b]
    for x, y in zip(a, b, strict=True):
        assert x.status == y.status
        assert_close(x.metrics, y.metrics)
        assert_close(x.history, y.history)


def failing_for_batch_8(configs: list[TrainConfig], *args: Any, **kwargs: Any) -> Any:
    """A trainer whose B=8 group raises (module-level, so worker processes can receive it)."""
    if configs[0].batch_size(0.0) == 8:
        raise MemoryError("no room")
    return train_group(configs, *args, **kwargs)


class CountingTrainer:
    """``engine.train_group`` that records every config it is handed and raises ``fail(configs)`` when
    that returns an exception (in-process executor: passed to ``run_sweep(trainer=...)``)."""

    def __init__(self, fail: Any = None) -> None:
        self.trained: list[TrainConfig] = []
        self.calls = 0
        self.fail = fail

    def __call__(self, configs: list[TrainConfig], *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        error = self.fail(configs, self.calls) if self.fail is not None else None
        if error is not None:
            raise error
        self.trained.extend(configs)
        return train_group(configs, *args, **kwargs)


def table_rows(path: Path) -> list[tuple[Any, ...]]:
    try:
        with sqlite3.connect(path, timeout=30) as conn:
            return conn.execute("SELECT * FROM runs ORDER BY key").fetchall()
    except sqlite3.OperationalError:  # file or table not created yet
        return []


def integrity(path: Path) -> str:
    with sqlite3.connect(path, timeout=30) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


# --------------------------------------------------------------------------------------------------
# Grid, sweep and grouping
# --------------------------------------------------------------------------------------------------


def test_expand_grid_is_the_product_with_first_axis_outermost() -> None:
    grid = expand_grid(BASE, batch_size=[4, 16], learning_rate=[0.1, 0.3, 1.0], seed=[7])
    assert len(grid) == 6
    assert [(c.batch_size(0.0), c.learning_rate(0.0), c.seed) for c in grid] == [
        (4, 0.1, 7),
        (4, 0.3, 7),
        (4, 1.0, 7),
        (16, 0.1, 7),
        (16, 0.3, 7),
        (16, 1.0, 7),
    ]
    assert all(c.steps == BASE.steps and c.model == BASE.model for c in grid)
    assert expand_grid(BASE) == [BASE]


@pytest.mark.parametrize(
    ("axes", "error"),
    [({"lr": [0.1]}, ValueError), ({"seed": []}, ValueError), ({"seed": "01"}, TypeError), ({"seed": 3}, TypeError)],
)
def test_expand_grid_rejects_bad_axes(axes: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        expand_grid(BASE, **axes)


def test_sweep_validates_its_runs() -> None:
    with pytest.raises(ValueError, match="same run twice"):
        Sweep("x", TASK, [BASE, BASE])
    with pytest.raises(ValueError, match="tasks are"):
        Sweep("x", TASK, [SweepRun(BASE, task="other")])
    with pytest.raises(ValueError, match="SweepRun"):
        Sweep("x", {"a": TASK, "b": TASK}, [BASE])
    with pytest.raises(ValueError, match="at least one run"):
        Sweep("x", TASK, [])
    with pytest.raises(ValueError, match="clashes"):
        SweepRun(BASE, labels={"seed": 3})
    with pytest.raises(TypeError, match="JSON"):
        SweepRun(BASE, labels={"n": object()})
    # the same config on two tasks (or with different labels) are two runs with two store keys
    sweep = Sweep(
        "x",
        {"a": TASK, "b": TASK},
        [SweepRun(BASE, "a"), SweepRun(BASE, "b"), SweepRun(BASE, "b", labels={"trial": 2})],
    )
    assert len(set(sweep.keys())) == 3
    assert sweep.keys()[2] == run_key("x", BASE.to_dict() | {"task": "b", "trial": 2})


def test_group_runs_respects_group_keys_tasks_and_size() -> None:
    configs = expand_grid(BASE, batch_size=[4, 8], seed=[0, 1, 2], momentum=[0.0, 0.9])
    runs = [SweepRun(c, task="small" if c.seed == 1 else "large") for c in configs]
    groups = group_runs(runs, max_group_size=3)
    assert sorted(id(r) for g in groups for r in g) == sorted(id(r) for r in runs)
    for group in groups:
        assert 1 <= len(group) <= 3
        assert len({(r.task, r.config.group_key()) for r in group}) == 1
        positions = [runs.index(r) for r in group]
        assert positions == sorted(positions)
    tasks_in_order = [g[0].task for g in groups]
    assert tasks_in_order == sorted(tasks_in_order, key=tasks_in_order.index)  # each task's groups contiguous
    assert tasks_in_order[0] == "large"  # the task of the first run comes first
    # without a cap: one group per (task, batch size)
    assert len(group_runs(runs)) == 4
    with pytest.raises(ValueError, match="max_group_size"):
        group_runs(runs, max_group_size=0)


def test_thread_heuristic_gives_all_cores_only_to_large_batch_groups() -> None:
    shallow = smith_le_shallow_net()
    assert threads_for_group([TrainConfig(shallow, 0.1, 10, steps=5)], 1000, cores=2) == 1
    assert threads_for_group([TrainConfig(shallow, 0.1, 300, steps=5)], 1000, cores=2) == 2
    # batch clipped to the training-set size: B=300 on N=32 is a small-batch group
    assert threads_for_group([TrainConfig(shallow, 0.1, 300, steps=5)], 32, cores=2) == 1
    # large batch but a tiny model: per-step work too small to share between threads
    assert threads_for_group([TrainConfig(logistic_regression(20), 0.1, 500, steps=5)], 1000, cores=2) == 1


# --------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------


def test_inline_and_process_pool_give_the_same_results() -> None:
    """Also when a group raises (inside a worker process for the pool): its runs are failed, the rest go on."""
    sweep = make_sweep()
    with Store(":memory:") as inline_store, Store(":memory:") as pool_store:
        inline = run_sweep(sweep, inline_store, executor="inline", show_progress=False, trainer=failing_for_batch_8)
        pooled = run_sweep(
            sweep, pool_store, executor="processes", workers=2, show_progress=False, trainer=failing_for_batch_8
        )
        assert len(pool_store.runs("demo")) == len(sweep.runs)
    assert [r.status for r in pooled] == ["finished"] * 4 + ["failed"] * 4 + ["finished"] * 4
    assert all(r.error == "MemoryError: no room" and r.metrics == {} for r in pooled[4:8])
    inline, pooled = inline[:4] + inline[8:], pooled[:4] + pooled[8:]
    assert all(r.trained and r.status == "finished" and r.error is None for r in inline + pooled)
    assert all(r.seconds > 0 and r.probes == {} and r.measurements == {} for r in inline)
    assert all(len(r.history["step"]) == 4 and r.history["step"][-1] == 30 for r in inline)
    assert_same_results(inline, pooled)


def test_multi_task_sweep_trains_each_run_on_its_task() -> None:
    tasks = {f"n{n}": functools.partial(synthetic_task, seed=0, n_train=n, n_test=16, dim=20) for n in (32, 64)}
    runs = [SweepRun(BASE, task=name, labels={"n_train": int(name[1:])}) for name in tasks]
    with Store(":memory:") as store:
        results = run_sweep(Sweep("n-scaling", tasks, runs), store, executor="inline", show_progress=False)
        stored = store.get("n-scaling", BASE.to_dict() | {"task": "n32", "n_train": 32})
    assert stored is not None and stored.config["n_train"] == 32
    # epochs after 30 steps of B=8 are 30·8/N: the run saw its own task's training set
    assert [r.metrics["epoch"] for r in results] == [30 * 8 / 32, 30 * 8 / 64]


def test_resume_trains_only_missing_runs_and_matches_an_uninterrupted_sweep() -> None:
    sweep = make_sweep()
    with Store(":memory:") as reference_store:
        reference = run_sweep(sweep, reference_store, executor="inline", show_progress=False)
    half = [run.config for run in sweep.runs[::2]]
    counting = CountingTrainer()
    with Store(":memory:") as store:
        run_sweep(Sweep("demo", TASK, half), store, executor="inline", show_progress=False)
        resumed = run_sweep(sweep, store, executor="inline", show_progress=False, trainer=counting)
        again = run_sweep(sweep, store, executor="inline", show_progress=False, trainer=counting)
    missing = [run.config for run in sweep.runs[1::2]]
    assert sorted(map(repr, counting.trained)) == sorted(map(repr, missing))
    assert [r.trained for r in resumed] == [i % 2 == 1 for i in range(len(sweep.runs))]
    assert not any(r.trained for r in again)
    assert_same_results(resumed, reference)
    assert_same_results(again, reference)


def test_diverged_runs_are_stored_as_diverged() -> None:
    sweep = Sweep("div", TASK, expand_grid(BASE, learning_rate=[0.1, 1e5], seed=[0, 1]))
    with Store(":memory:") as store:
        results = run_sweep(sweep, store, executor="inline", show_progress=False)
        statuses = [store.get("div", run.store_config()).status for run in sweep.runs]  # type: ignore[union-attr]
    assert statuses == ["finished", "finished", "diverged", "diverged"]
    assert [r.diverged for r in results] == [False, False, True, True]
    for result in results[2:]:
        assert 0 <= result.metrics["diverged_at_step"] < 30
        assert all(step < 30 for step in result.history.get("step", []))
    assert results[0].metrics["steps_done"] == 30 and results[0].metrics["diverged_at_step"] is None


def test_interrupt_keeps_finished_groups_and_reraises() -> None:
    interrupted = CountingTrainer(fail=lambda configs, call: KeyboardInterrupt() if call == 2 else None)
    sweep = make_sweep()
    with Store(":memory:") as store:
        with pytest.raises(KeyboardInterrupt):
            run_sweep(sweep, store, executor="inline", show_progress=False, trainer=interrupted)
        assert store.finished_keys("demo") == set(sweep.keys()[:4])  # the first group (B=4)
        results = run_sweep(sweep, store, executor="inline", show_progress=False)
    assert [r.trained for r in results] == [False] * 4 + [True] * 8


def test_a_group_that_raises_is_recorded_failed_and_retried_next_time() -> None:
    sweep = make_sweep()
    doomed = set(map(repr, sweep.runs[4:8]))  # the B=8 group
    with Store(":memory:") as store:
        trainer = CountingTrainer(fail=lambda configs, call: MemoryError("no room") if call == 2 else None)
        first = run_sweep(sweep, store, executor="inline", show_progress=False, trainer=trainer)
        assert [r.status for r in first] == ["finished"] * 4 + ["failed"] * 4 + ["finished"] * 4
        assert all(r.error == "MemoryError: no room" and r.metrics == {} for r in first[4:8])
        assert store.finished_keys("demo") == set(sweep.keys()) - set(sweep.keys()[4:8])
        retried = CountingTrainer()
        second = run_sweep(sweep, store, executor="inline", show_progress=False, trainer=retried)
    assert set(map(repr, (SweepRun(c) for c in retried.trained))) == doomed
    assert all(r.status == "finished" and r.error is None for r in second)
    assert [r.trained for r in second] == [False] * 4 + [True] * 4 + [False] * 4


def test_run_sweep_rejects_bad_arguments() -> None:
    sweep = make_sweep()
    unpicklable = Sweep("lambda", lambda: TASK(), [BASE, replace_seed(BASE, 1), replace_seed(BASE, 2)])
    with Store(":memory:") as store:
        with pytest.raises(ValueError, match="executor"):
            run_sweep(sweep, store, executor="threads", show_progress=False)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="workers"):
            run_sweep(sweep, store, workers=0, show_progress=False)
        with pytest.raises(TypeError, match="lambda or closure"):
            run_sweep(unpicklable, store, executor="processes", show_progress=False)
        assert store.finished_keys("demo") == set()


def replace_seed(config: TrainConfig, seed: int) -> TrainConfig:
    return expand_grid(config, seed=[seed])[0]


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="Ray is installed")
def test_ray_executor_without_ray_fails_with_install_hint() -> None:
    with Store(":memory:") as store, pytest.raises(MissingDependencyError, match=r"sgdnoise\[ray\]"):
        run_sweep(make_sweep(), store, executor="ray", show_progress=False)


# --------------------------------------------------------------------------------------------------
# Other processes: kill -9 and concurrent sweeps on one store
# --------------------------------------------------------------------------------------------------

# Runs make_sweep's sweep inline on the store argv[2]; each group pauses argv[3] seconds after training.
SCRIPT = """
import sys, time
sys.path.insert(0, sys.argv[1])
from sgdnoise.engine import train_group
from sgdnoise.store import Store
from sgdnoise.sweep import run_sweep
from test_sweep import make_sweep
def slow(*args, **kwargs):
    results = train_group(*args, **kwargs)
    time.sleep(float(sys.argv[3]))
    return results
results = run_sweep(make_sweep(batch_sizes=(2, 4, 8, 16, 32, 64)), Store(sys.argv[2]),
                    executor="inline", show_progress=False, trainer=slow)
print(len(results), sum(r.trained for r in results))
"""


def launch(store_path: Path, pause: float) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(TESTS_DIR), str(store_path), str(pause)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_kill_9_then_resume_recomputes_nothing_that_was_stored(tmp_path: Path) -> None:
    store_path = tmp_path / "store.sqlite"
    process = launch(store_path, pause=0.5)
    deadline = time.monotonic() + 120
    while not table_rows(store_path):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    before = table_rows(store_path)
    sweep = make_sweep(batch_sizes=(2, 4, 8, 16, 32, 64))
    assert 0 < len(before) < len(sweep.runs)  # killed mid-sweep
    counting = CountingTrainer()
    with Store(store_path) as store:
        results = run_sweep(sweep, store, executor="inline", show_progress=False, trainer=counting)
    after = {row[0]: row for row in table_rows(store_path)}
    assert set(after) == set(sweep.keys())
    assert all(after[row[0]] == row for row in before)  # stored rows untouched (same `finished` time)
    assert len(counting.trained) == len(sweep.runs) - len(before)
    assert sum(r.trained for r in results) == len(sweep.runs) - len(before)
    assert integrity(store_path) == "ok"


def test_two_processes_on_one_store_store_every_run_exactly_once(tmp_path: Path) -> None:
    store_path = tmp_path / "store.sqlite"
    processes = [launch(store_path, pause=0.2) for _ in range(2)]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err for _, err in outputs]
    sweep = make_sweep(batch_sizes=(2, 4, 8, 16, 32, 64))
    rows = table_rows(store_path)
    assert sorted(row[0] for row in rows) == sorted(sweep.keys())  # one row per run, none missing
    counts = [tuple(map(int, out.split())) for out, _ in outputs]
    assert all(total == len(sweep.runs) for total, _ in counts)  # each process returned every run
    assert sum(trained for _, trained in counts) >= len(sweep.runs)
    assert integrity(store_path) == "ok"


def test_layout_stacks_fast_path_runs_in_small_groups_and_trains_other_models_one_run_per_group() -> None:
    mlp = [SweepRun(c) for c in expand_grid(BASE, seed=list(range(9)))]
    assert [len(g) for g in layout_groups(mlp, None, processes=2)] == [4, 4, 1]  # ceil(9/2) = 5 > 4 runs
    assert [len(g) for g in layout_groups(mlp[:6], None, processes=2)] == [3, 3]
    assert [len(g) for g in layout_groups(mlp[:6], None, processes=1)] == [4, 2]
    conv = TrainConfig(ResNetSpec(depth=8, input_shape=(3, 8, 8), num_classes=2), 0.1, 8, steps=3)
    augmented = replace(BASE, model=MLPSpec(192, (4,), 2), augmentation="crop-flip")
    others = [SweepRun(c) for base in (conv, augmented) for c in expand_grid(base, seed=[0, 1])]
    assert [len(g) for g in layout_groups(others, None, processes=1)] == [1, 1, 1, 1]
    assert stacks_well(BASE) and not stacks_well(conv) and not stacks_well(augmented)
    # at most 4 MiB of float32 parameters per group: the shallow net (2.5 MB) one run, the BN-MLP (1.6 MB) two
    shallow, bn_mlp = (replace(BASE, model=m) for m in (smith_le_shallow_net(), jastrzebski_bn_mlp()))
    assert [stacked_runs(c) for c in (BASE, shallow, bn_mlp, conv)] == [4, 1, 2, 1]


def test_the_progress_bar_never_runs_past_its_total():
    """Float work units summed over many updates, or a group reporting more steps than it planned, ran the bar
    past its total: tqdm's 'clamping frac to range [0, 1]' warning in the middle of a reproduce run."""
    import types
    import warnings

    from sgdnoise.engine.config import GroupProgress
    from sgdnoise.sweep.planning import Job
    from sgdnoise.sweep.running import Coordinator

    jobs = [Job(index, "train", "default", [], 1, 0.1) for index in range(10)]
    sweep = types.SimpleNamespace(runs=(), keys=list, experiment="bar")
    coordinator = Coordinator(sweep, Store(":memory:"), jobs, 0, show_progress=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for job in jobs:
            for done in (3, 7, 11):  # the last report is past the group's planned 10 steps
                coordinator.progress(job, GroupProgress(done, 10, 1, 0, 0))
        coordinator.close()
    assert coordinator.bar.n <= coordinator.bar.total


def _report_sigint_handler(result) -> None:
    import signal as _signal

    result.put(_signal.getsignal(_signal.SIGINT) == _signal.SIG_IGN)


def test_pool_workers_start_with_sigint_ignored_so_a_ctrl_c_while_they_import_prints_nothing():
    """Before, a Ctrl-C while the spawned workers imported torch printed their tracebacks beside the parent's
    one-line 'interrupted' message (the workers set SIG_IGN only once running)."""
    import multiprocessing
    import signal as _signal

    from sgdnoise.sweep.executors import sigint_ignored_by_children

    context = multiprocessing.get_context("spawn")
    result = context.Queue()
    child = context.Process(target=_report_sigint_handler, args=(result,))
    before = _signal.getsignal(_signal.SIGINT)
    with sigint_ignored_by_children():
        child.start()
    assert _signal.getsignal(_signal.SIGINT) is before  # the parent's own handling is back
    assert result.get(timeout=60) is True
    child.join(timeout=60)
