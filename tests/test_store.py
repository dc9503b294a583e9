import math
import multiprocessing as mp
import sqlite3

import pytest

from sgdnoise.store import Store, run_key


def test_put_get_roundtrip_keeps_nan_and_nested_values(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    config = {"lr": 0.1, "batch_size": 30, "schedule": {"kind": "constant"}}
    store.put("exp", config, metrics={"acc": 0.9, "loss": float("nan")}, history={"step": [0, 10]})
    record = store.get("exp", config)
    assert record is not None
    assert record.metrics["acc"] == 0.9
    assert math.isnan(record.metrics["loss"])
    assert record.history == {"step": [0, 10]}
    assert record.config == config


def test_key_ignores_dict_order_but_not_values_or_experiment():
    assert run_key("e", {"a": 1, "b": 2}) == run_key("e", {"b": 2, "a": 1})
    assert run_key("e", {"a": 1}) != run_key("e", {"a": 2})
    assert run_key("e", {"a": 1}) != run_key("f", {"a": 1})


def test_missing_run_is_none_and_results_survive_reopening(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        assert store.get("exp", {"x": 1}) is None
        store.put("exp", {"x": 1}, metrics={"y": 2})
    with Store(path) as reopened:
        assert reopened.get("exp", {"x": 1}).metrics == {"y": 2}
        assert len(reopened.finished_keys("exp")) == 1
        assert reopened.finished_keys("other") == set()


def test_put_replaces_same_run_and_rejects_unknown_status(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.put("exp", {"x": 1}, metrics={"y": 1})
    store.put("exp", {"x": 1}, metrics={"y": 2}, status="diverged")
    (record,) = store.runs("exp")
    assert record.metrics == {"y": 2} and record.status == "diverged"
    with pytest.raises(ValueError, match="status"):
        store.put("exp", {"x": 2}, metrics={}, status="running")


def _write_many(path: str, writer: int, n: int) -> None:
    store = Store(path)
    for i in range(n):
        store.put("exp", {"writer": writer, "i": i}, metrics={"value": i}, history={"curve": list(range(50))})
    store.close()


def test_two_processes_writing_one_store_lose_nothing(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    Store(path).close()
    ctx = mp.get_context("spawn")
    workers = [ctx.Process(target=_write_many, args=(path, w, 150)) for w in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    store = Store(path)
    assert len(store.runs("exp")) == 300
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)
