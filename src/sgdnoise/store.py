"""Results store: one SQLite file (WAL mode) per output directory.

Every finished run is committed the moment it finishes, keyed by a hash of its experiment name and
its JSON config, so re-running a command never recomputes a finished run and an interrupted sweep
(Ctrl-C, ``kill -9``, power loss) resumes where it stopped. SQLite's own locking makes several
processes writing one file safe; ``busy_timeout`` makes them wait for each other instead of failing.
"""

from __future__ import annotations

import hashlib
import json
import math
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUN_STATUSES = ("done", "diverged")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key        TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    config     TEXT NOT NULL,
    status     TEXT NOT NULL,
    metrics    TEXT NOT NULL,
    history    TEXT NOT NULL,
    seconds    REAL NOT NULL,
    finished   REAL NOT NULL,
    host       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs (experiment);
"""


def _canonical_json(value: Any) -> str:
    """JSON with sorted keys, no whitespace, and NaN/inf written as strings (valid JSON everywhere)."""
    return json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"), allow_nan=False)


def jsonable(value: Any) -> Any:
    """``value`` with numpy/torch numbers turned into Python ones and NaN/inf into strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy / torch scalars and arrays
        return jsonable(value.tolist())
    return value


def _restore_floats(value: Any) -> Any:
    if value in ("nan", "inf", "-inf"):
        return float(value)
    if isinstance(value, dict):
        return {k: _restore_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore_floats(v) for v in value]
    return value


def run_key(experiment: str, config: Mapping[str, Any]) -> str:
    """Stable identity of a run: sha256 of the experiment name and its canonical JSON config."""
    return hashlib.sha256(f"{experiment}\n{_canonical_json(config)}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class RunRecord:
    """One finished run as stored."""

    key: str
    experiment: str
    config: dict[str, Any]
    status: str
    metrics: dict[str, Any]
    history: dict[str, Any]
    seconds: float


class Store:
    """A resumable results store in one SQLite file.

    >>> store = Store(":memory:")
    >>> store.put("demo", {"lr": 0.1}, metrics={"acc": 0.9})
    >>> store.get("demo", {"lr": 0.1}).metrics
    {'acc': 0.9}
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout = 60000")
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        with self._transaction() as conn:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def put(
        self,
        experiment: str,
        config: Mapping[str, Any],
        *,
        metrics: Mapping[str, Any],
        history: Mapping[str, Any] | None = None,
        status: str = "done",
        seconds: float = 0.0,
    ) -> str:
        """Commit one finished run (replacing an earlier record of the same run); returns its key."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {RUN_STATUSES}, got {status!r}")
        key = run_key(experiment, config)
        row = (
            key,
            experiment,
            _canonical_json(config),
            status,
            _canonical_json(metrics),
            _canonical_json(history or {}),
            float(seconds),
            time.time(),
            socket.gethostname(),
        )
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        return key

    def get(self, experiment: str, config: Mapping[str, Any]) -> RunRecord | None:
        """The stored run with this config, or None if it has not finished yet."""
        rows = self._select("WHERE key = ?", (run_key(experiment, config),))
        return rows[0] if rows else None

    def runs(self, experiment: str) -> list[RunRecord]:
        """All finished runs of one experiment, in the order they finished."""
        return self._select("WHERE experiment = ? ORDER BY finished", (experiment,))

    def finished_keys(self, experiment: str) -> set[str]:
        with self._lock:
            cursor = self._conn.execute("SELECT key FROM runs WHERE experiment = ?", (experiment,))
            return {key for (key,) in cursor.fetchall()}

    def _select(self, where: str, params: tuple[Any, ...]) -> list[RunRecord]:
        query = f"SELECT key, experiment, config, status, metrics, history, seconds FROM runs {where}"
        with self._lock:
            rows = self._conn.execute(query, params).fetchall()
        return [
            RunRecord(
                key=key,
                experiment=experiment,
                config=_restore_floats(json.loads(config)),
                status=status,
                metrics=_restore_floats(json.loads(metrics)),
                history=_restore_floats(json.loads(history)),
                seconds=seconds,
            )
            for key, experiment, config, status, metrics, history, seconds in rows
        ]
