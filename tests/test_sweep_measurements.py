"""Measuring swept runs: a Jastrzębski-style (η, S) toy sweep measures ‖H‖_F on every run in its worker,
survives kill -9 and resumes without retraining or re-measuring; measurements added later; probes; kept
weights and interpolation between two swept minima after a restart."""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from sgdnoise.data import synthetic_task
from sgdnoise.engine import Probe, TrainConfig, model_from_state, train_group
from sgdnoise.instruments import interpolate
from sgdnoise.measurements import HessianNorm, LambdaMax
from sgdnoise.models import MLPSpec
from sgdnoise.store import Store
from sgdnoise.sweep import Sweep, expand_grid, run_sweep

TASK = functools.partial(synthetic_task, seed=0, n_train=64, n_test=32, dim=10)
SPEC = MLPSpec(input_dim=10, hidden=(6,), num_classes=2)
NORM = HessianNorm(max_examples=64, n_samples=4)
TESTS_DIR = Path(__file__).parent


def toy_sweep(keep_weights: bool = True, measurements: tuple[Any, ...] = (NORM,), **kwargs: Any) -> Sweep:
    """Jastrzębski et al. 2018 §4.1 in miniature: a grid of learning rates η × batch sizes S."""
    base = TrainConfig(SPEC, 0.1, 8, steps=20, eval_points=2)
    runs = expand_grid(base, batch_size=[4, 8, 16], learning_rate=[0.05, 0.2])
    return Sweep("jastrzebski-toy", TASK, runs, measurements=measurements, keep_weights=keep_weights, **kwargs)


@dataclass(frozen=True)
class Counted:
    """A measurement that records its calls (in-process executor) and can be told to refuse."""

    inner: Any
    calls: list[str] = field(default_factory=list, compare=False)
    refuse: bool = False

    @property
    def name(self) -> str:
        return self.inner.name

    def to_dict(self) -> dict[str, Any]:
        return self.inner.to_dict()

    def __call__(self, model: torch.nn.Module, task: Any) -> Any:
        if self.refuse:
            raise AssertionError("a stored measurement was taken again")
        self.calls.append(self.name)
        return self.inner(model, task)


class CountingTrainer:
    def __init__(self, refuse: bool = False) -> None:
        self.trained: list[TrainConfig] = []
        self.refuse = refuse

    def __call__(self, configs: list[TrainConfig], *args: Any, **kwargs: Any) -> Any:
        if self.refuse:
            raise AssertionError("a stored run was trained again")
        self.trained.extend(configs)
        return train_group(configs, *args, **kwargs)


def rows(path: Path) -> list[tuple[Any, ...]]:
    try:
        with sqlite3.connect(path, timeout=30) as conn:
            return conn.execute("SELECT * FROM runs ORDER BY key").fetchall()
    except sqlite3.OperationalError:
        return []


SCRIPT = """
import sys, time
sys.path.insert(0, sys.argv[1])
from sgdnoise.engine import train_group
from sgdnoise.store import Store
from sgdnoise.sweep import run_sweep
from test_sweep_measurements import toy_sweep
def slow(*args, **kwargs):
    results = train_group(*args, **kwargs)
    time.sleep(0.5)
    return results
run_sweep(toy_sweep(), Store(sys.argv[2]), executor="inline", show_progress=False, trainer=slow)
"""


def test_toy_sweep_measures_every_run_survives_kill_9_and_resumes_without_redoing_work(tmp_path: Path) -> None:
    store_path = tmp_path / "store.sqlite"
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(TESTS_DIR), str(store_path)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.monotonic() + 120
    while not rows(store_path):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    before = rows(store_path)
    sweep = toy_sweep()
    assert 0 < len(before) < len(sweep.runs)
    norm, trainer = Counted(NORM), CountingTrainer()
    with Store(store_path) as store:
        results = run_sweep(
            toy_sweep(measurements=(norm,)), store, executor="inline", show_progress=False, trainer=trainer
        )
        assert len(trainer.trained) == len(norm.calls) == len(sweep.runs) - len(before)
        assert sum(r.trained for r in results) == len(trainer.trained)
        after = {row[0]: row for row in rows(store_path)}
        assert all(after[row[0]] == row for row in before)  # rows stored before the kill untouched
        for result in results:  # every run measured in its worker; the value is that of its final model
            assert result.status == "finished" and result.measurements["hessian_norm"]["value"] > 0
            model = model_from_state(result.config, store.load_weights(result.key), torch.device("cpu"), torch.float32)
            assert result.measurements["hessian_norm"]["value"] == pytest.approx(NORM(model, TASK())["value"], rel=1e-5)
        again = run_sweep(
            toy_sweep(measurements=(Counted(NORM, refuse=True),)),
            store,
            executor="inline",
            show_progress=False,
            trainer=CountingTrainer(refuse=True),
        )
    assert not any(r.trained for r in again)
    with sqlite3.connect(store_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == sorted(f"{k}.pt" for k in sweep.keys())


def test_a_measurement_added_later_is_taken_from_kept_weights_else_by_retraining(tmp_path: Path) -> None:
    top = LambdaMax(max_examples=64, max_iter=30)
    with Store(tmp_path / "kept" / "store.sqlite") as store:
        first = run_sweep(toy_sweep(measurements=()), store, executor="inline", show_progress=False)
        lam = Counted(top)
        later = run_sweep(
            toy_sweep(measurements=(lam,)),
            store,
            executor="inline",
            show_progress=False,
            trainer=CountingTrainer(refuse=True),
        )
        assert len(lam.calls) == len(first) and not any(r.trained for r in later)
        for result in later:
            model = model_from_state(result.config, store.load_weights(result.key), torch.device("cpu"), torch.float32)
            assert result.measurements["lambda_max"] == pytest.approx(top(model, TASK()))
            assert result.metrics == pytest.approx(next(r.metrics for r in first if r.key == result.key))
    with Store(tmp_path / "not-kept" / "store.sqlite") as store:
        run_sweep(toy_sweep(keep_weights=False, measurements=()), store, executor="inline", show_progress=False)
        trainer = CountingTrainer()
        retrained = run_sweep(
            toy_sweep(keep_weights=False, measurements=(top,)),
            store,
            executor="inline",
            show_progress=False,
            trainer=trainer,
        )
    assert len(trainer.trained) == len(retrained) and all("lambda_max" in r.measurements for r in retrained)
    for again, before in zip(retrained, first, strict=True):  # same seeds, same runs
        assert again.metrics == pytest.approx(before.metrics)


def test_probes_are_stored_as_columns_and_are_part_of_the_key() -> None:
    probe = Probe(NORM, steps=(0, 10, 20))
    with Store(":memory:") as store:
        plain = run_sweep(toy_sweep(keep_weights=False, measurements=()), store, executor="inline", show_progress=False)
        probed = run_sweep(
            toy_sweep(keep_weights=False, measurements=(), probes=(probe,)),
            store,
            executor="inline",
            show_progress=False,
        )
    assert all(r.trained for r in probed) and {r.key for r in plain}.isdisjoint(r.key for r in probed)
    for result in probed:
        assert result.probes["step"] == [0, 10, 20] and len(result.probes["hessian_norm.stderr"]) == 3
        assert result.probes["epoch"][-1] == pytest.approx(20 * result.config.batch_size(0.0) / 64)


def test_interpolation_between_two_swept_minima_after_a_restart(tmp_path: Path) -> None:
    store_path = tmp_path / "store.sqlite"
    with Store(store_path) as store:
        run_sweep(toy_sweep(measurements=()), store, executor="inline", show_progress=False)
    with Store(store_path) as reopened:  # a new process would do the same: nothing but the files on disk
        small, large = run_sweep(
            toy_sweep(measurements=()), reopened, executor="inline", show_progress=False, trainer=CountingTrainer(True)
        )[::5]
        start, end = reopened.load_weights(small.key), reopened.load_weights(large.key)
    model = model_from_state(small.config, start, torch.device("cpu"), torch.float32)
    task = TASK()
    line = interpolate(start, end, model, F.cross_entropy, (task.train.x, task.train.y), alphas=[0.0, 0.5, 1.0])
    assert float(line.losses[0]) == pytest.approx(small.metrics["train_loss"], rel=1e-5)
    assert float(line.losses[2]) == pytest.approx(large.metrics["train_loss"], rel=1e-5)
    with pytest.raises(ValueError, match="in-memory store cannot keep weights"):
        run_sweep(toy_sweep(), Store(":memory:"), executor="inline", show_progress=False)
