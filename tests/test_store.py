import json
import math
import multiprocessing as mp
import sqlite3
import stat

import pytest
import torch

from sgdnoise.store import Store, run_key


def _refuse(constant):
    raise ValueError(f"non-strict JSON constant {constant}")


def test_put_get_roundtrip_stores_a_missing_number_as_null(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    config = {"lr": 0.1, "batch_size": 30, "schedule": {"kind": "constant"}}
    store.put(
        "exp",
        config,
        metrics={"acc": 0.9, "loss": float("nan")},
        history={"step": [0, 10], "loss": [1.0, math.inf]},
        probes={"step": [0], "h.value": [2.0]},
        measurements={"h": {"value": 3.0, "stderr": float("nan")}},
        seconds=1.5,
    )
    record = store.get("exp", config)
    assert record is not None and record.status == "finished" and record.error is None
    assert record.metrics == {"acc": 0.9, "loss": None}
    assert record.history == {"step": [0, 10], "loss": [1.0, None]}
    assert record.probes == {"step": [0], "h.value": [2.0]}
    assert record.measurements == {"h": {"value": 3.0, "stderr": None}}
    assert record.config == config and record.seconds == 1.5
    raw = sqlite3.connect(tmp_path / "s.sqlite").execute("SELECT metrics, history FROM runs").fetchone()
    assert [json.loads(text, parse_constant=_refuse) for text in raw]  # strict JSON, no NaN literals or "nan"
    assert "nan" not in "".join(raw).lower()


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
    with pytest.raises(ValueError, match="finished, diverged, failed"):
        store.put("exp", {"x": 2}, metrics={}, status="done")


def test_failed_runs_are_kept_with_their_error_but_not_done(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    finished = store.put("exp", {"x": 1}, metrics={})
    store.put("exp", {"x": 2}, metrics={}, status="failed", error="RuntimeError: out of memory")
    assert store.finished_keys("exp") == {finished}
    assert store.get("exp", {"x": 2}).error == "RuntimeError: out of memory"
    assert [r.done for r in store.runs("exp")] == [True, False]
    store.add_measurements(finished, {"h": {"value": 1.0}})
    store.add_measurements(finished, {"l": {"value": 2.0}}, error="measuring failed: boom")
    record = store.get("exp", {"x": 1})
    assert record.measurements == {"h": {"value": 1.0}, "l": {"value": 2.0}} and record.error.startswith("measuring")


def test_a_corrupted_store_file_is_one_clear_error(tmp_path):
    path = tmp_path / "store.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match=r"store\.sqlite is not a readable sgdnoise results store.*delete it") as error:
        Store(path)
    assert error.value.__cause__ is None and error.value.__suppress_context__
    path.unlink()
    path.mkdir()  # a directory in its place: was sqlite3's "unable to open database file" as a traceback
    with pytest.raises(ValueError, match=r"store\.sqlite is not a file, so it cannot be a results store"):
        Store(path)


def test_a_store_damaged_inside_its_pages_is_the_same_clear_error_when_opened(tmp_path):
    """Before: it opened, and the first read mid-sweep raised sqlite3's 'database disk image is malformed'."""
    path = tmp_path / "store.sqlite"
    with Store(path) as store:
        for i in range(200):
            store.put("exp", {"x": i}, metrics={"acc": 0.5}, history={"loss": [1.0] * 50})
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file
    data = bytearray(path.read_bytes())
    data[8192:12288] = b"\xff" * 4096  # the third page onwards: the header stays valid
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"store\.sqlite is not a readable sgdnoise results store"):
        Store(path)


def test_a_store_from_the_earlier_schema_is_migrated_in_place(tmp_path):
    """Schema 0: status "done", NaN written as the string "nan", no probes/measurements/error columns."""
    path = tmp_path / "old.sqlite"
    key = run_key("exp", {"lr": 0.1})
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE runs (key TEXT PRIMARY KEY, experiment TEXT NOT NULL, config TEXT NOT NULL, "
            "status TEXT NOT NULL, metrics TEXT NOT NULL, history TEXT NOT NULL, seconds REAL NOT NULL, "
            "finished REAL NOT NULL, host TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO runs VALUES (?, 'exp', '{\"lr\":0.1}', 'done', '{\"loss\":\"nan\",\"acc\":0.5}', "
            '\'{"step":[0,1],"loss":[1.0,"inf"]}\', 2.0, 0.0, \'h\')',
            (key,),
        )
    with Store(path) as store:
        (record,) = store.runs("exp")
        assert store.finished_keys("exp") == {key}
    assert record.status == "finished" and record.key == key
    assert record.metrics == {"loss": None, "acc": 0.5} and record.history == {"step": [0, 1], "loss": [1.0, None]}
    assert record.probes == {} and record.measurements == {} and record.error is None
    with Store(path) as reopened:  # already migrated: opening again changes nothing
        assert reopened.runs("exp") == [record]


def test_weights_are_kept_beside_the_store_and_load_without_unpickling(tmp_path, output_mode):
    store = Store(tmp_path / "out" / "store.sqlite")
    state = {"layer.weight": torch.randn(3, 2, dtype=torch.float64), "layer.bias": torch.zeros(3)}
    path = store.save_weights("abc", state)
    assert path == tmp_path / "out" / "weights" / "abc.pt" and store.has_weights("abc")
    assert [p.name for p in path.parent.iterdir()] == ["abc.pt"]  # no temporary file left behind
    assert stat.S_IMODE(path.stat().st_mode) == output_mode  # like the other outputs, not 0600
    loaded = store.load_weights("abc")
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)
    with pytest.raises(FileNotFoundError, match="keep_weights=True"):
        store.load_weights("missing")
    torch.save({"evil": object()}, store.weights_path("evil"))
    with pytest.raises(ValueError, match="not a readable weights file"):
        store.load_weights("evil")
    with pytest.raises(ValueError, match="in-memory"):
        Store(":memory:").save_weights("x", state)


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


def _open_and_put(path: str, barrier, results) -> None:
    barrier.wait()  # every process opens the new store at the same moment
    try:
        with Store(path) as store:
            store.put("race", {"pid": mp.current_process().pid}, status="finished", metrics={})
        results.put("ok")
    except Exception as error:  # reported to the parent, which fails the test
        results.put(repr(error))


def test_processes_opening_one_new_store_at_once_all_succeed(tmp_path) -> None:
    """SQLite may answer the WAL pragma with "database is locked" without waiting, while another process
    creates the same file; the store must wait instead (a raw open failed in ~7% of such processes here)."""
    context = mp.get_context("fork")
    for trial in range(8):
        path = str(tmp_path / f"store{trial}.sqlite")
        barrier, results = context.Barrier(6), context.Queue()
        processes = [context.Process(target=_open_and_put, args=(path, barrier, results)) for _ in range(6)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=60)
        outcomes = [results.get(timeout=5) for _ in processes]
        assert outcomes == ["ok"] * 6, outcomes
        with Store(path) as store:
            assert len(store.runs("race")) == 6
