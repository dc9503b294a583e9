"""Results store: one SQLite file (WAL mode) per output directory, and optionally the runs' final weights
beside it (``<store dir>/weights/<run key>.pt``).

Every run is committed the moment it ends, keyed by a hash of its experiment name and its JSON config, so
re-running a command never recomputes a finished run and an interrupted sweep (Ctrl-C, ``kill -9``,
power loss) resumes where it stopped. SQLite's own locking makes several processes writing one file safe;
``busy_timeout`` makes them wait for each other instead of failing.

A stored run has the one result shape of the platform (``results.RunOutcome``): ``status``
(``finished`` / ``diverged`` / ``failed``), ``metrics``, ``history`` and ``probes`` (columns),
``measurements`` (``{name: {quantity: value}}``), ``seconds`` and ``error``. Documents are written with
``results.canonical_json``: a missing number (NaN, ±inf) is stored as ``null`` and read back as
``None``. A ``failed`` run is kept for its error text but counts as not done: the next sweep trains it
again.

Stores written by sgdnoise before this shape (schema version 0: status ``"done"``, NaN written as the
string ``"nan"``, no probes/measurements/error columns) are migrated in place when opened: ``done`` reads
as ``finished`` and the ``"nan"``/``"inf"`` strings become ``null``; run keys are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sgdnoise.results import DONE_STATUSES, RUN_STATUSES, RunOutcome, atomic_file, canonical_json, check_status

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key          TEXT PRIMARY KEY,
    experiment   TEXT NOT NULL,
    config       TEXT NOT NULL,
    status       TEXT NOT NULL,
    metrics      TEXT NOT NULL,
    history      TEXT NOT NULL,
    seconds      REAL NOT NULL,
    finished     REAL NOT NULL,
    host         TEXT NOT NULL,
    probes       TEXT NOT NULL DEFAULT '{}',
    measurements TEXT NOT NULL DEFAULT '{}',
    error        TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs (experiment);
"""
_COLUMNS = "key, experiment, config, status, metrics, history, probes, measurements, seconds, error"


def run_key(experiment: str, config: Mapping[str, Any]) -> str:
    """Stable identity of a run: sha256 of the experiment name and its canonical JSON config."""
    return hashlib.sha256(f"{experiment}\n{canonical_json(config)}".encode()).hexdigest()[:32]


@dataclass(frozen=True, kw_only=True)
class RunRecord(RunOutcome):
    """One run as stored: its outcome, plus its key, experiment and (store-key) config."""

    key: str
    experiment: str
    config: dict[str, Any]


def _null_strings(value: Any) -> Any:
    """Schema-0 documents wrote NaN/inf as strings; a missing number is now ``None``."""
    if value in ("nan", "inf", "-inf"):
        return None
    if isinstance(value, dict):
        return {k: _null_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_null_strings(v) for v in value]
    return value


BUSY_SECONDS = 60.0  # how long a store waits for another process's lock before giving up


def _is_locked(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL mode. SQLite can answer this pragma with "database is locked" at once, without its
    busy handler, while another process is creating the same new store; retry until ``BUSY_SECONDS``."""
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if not _is_locked(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class Store:
    """A resumable results store in one SQLite file.

    >>> store = Store(":memory:")
    >>> key = store.put("demo", {"lr": 0.1}, metrics={"acc": 0.9, "loss": float("nan")})
    >>> store.get("demo", {"lr": 0.1}).metrics
    {'acc': 0.9, 'loss': None}
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        if self.path != ":memory:" and Path(self.path).exists() and not Path(self.path).is_file():
            raise ValueError(f"{self.path} is not a file, so it cannot be a results store; move it aside")
        self._conn = sqlite3.connect(self.path, timeout=BUSY_SECONDS, check_same_thread=False, isolation_level=None)
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_SECONDS * 1000)}")
            if self.path != ":memory:":
                _enable_wal(self._conn)
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._create_or_migrate()
            if self.path != ":memory:":  # damage inside its pages, found now rather than in a read mid-sweep
                (verdict, *_) = self._conn.execute("PRAGMA quick_check(1)").fetchone()
                if verdict != "ok":
                    raise sqlite3.DatabaseError(verdict)
        except sqlite3.DatabaseError as error:
            self._conn.close()
            if isinstance(error, sqlite3.OperationalError) and _is_locked(error):
                raise RuntimeError(
                    f"{self.path} stayed locked by another process for {BUSY_SECONDS:g} s; is another sweep "
                    "writing to it?"
                ) from None
            raise ValueError(
                f"{self.path} is not a readable sgdnoise results store ({error}); move it aside or delete it "
                "to start a fresh store (its runs will be recomputed)"
            ) from None

    def _create_or_migrate(self) -> None:
        with self._transaction() as conn:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='runs'").fetchone()
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"schema version {version} is newer than this sgdnoise ({SCHEMA_VERSION})")
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)  # IF NOT EXISTS: a no-op on an existing store
            if exists and version == 0:
                self._migrate_from_version_0(conn)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @staticmethod
    def _migrate_from_version_0(conn: sqlite3.Connection) -> None:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
        for name, declaration in (
            ("probes", "TEXT NOT NULL DEFAULT '{}'"),
            ("measurements", "TEXT NOT NULL DEFAULT '{}'"),
            ("error", "TEXT"),
        ):
            if name not in columns:
                conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {declaration}")
        rows = conn.execute("SELECT key, status, metrics, history FROM runs").fetchall()
        for key, status, metrics, history in rows:
            conn.execute(
                "UPDATE runs SET status = ?, metrics = ?, history = ? WHERE key = ?",
                (
                    "finished" if status == "done" else status,
                    canonical_json(_null_strings(json.loads(metrics))),
                    canonical_json(_null_strings(json.loads(history))),
                    key,
                ),
            )

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

    # ----------------------------------------------------------------------------------------------
    # runs
    # ----------------------------------------------------------------------------------------------

    def put(
        self,
        experiment: str,
        config: Mapping[str, Any],
        *,
        metrics: Mapping[str, Any],
        status: str = "finished",
        history: Mapping[str, Any] | None = None,
        probes: Mapping[str, Any] | None = None,
        measurements: Mapping[str, Mapping[str, Any]] | None = None,
        seconds: float = 0.0,
        error: str | None = None,
    ) -> str:
        """Commit one run (replacing an earlier record of the same run); returns its key."""
        check_status(status)
        key = run_key(experiment, config)
        row = (
            key,
            experiment,
            canonical_json(config),
            status,
            canonical_json(metrics),
            canonical_json(history or {}),
            float(seconds),
            time.time(),
            socket.gethostname(),
            canonical_json(probes or {}),
            canonical_json(measurements or {}),
            error,
        )
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        return key

    def add_measurements(
        self, key: str, measurements: Mapping[str, Mapping[str, Any]], error: str | None = None
    ) -> None:
        """Merge ``measurements`` into the stored run ``key`` (a measurement of an already trained run)
        and set its ``error`` (None: the measuring succeeded)."""
        with self._transaction() as conn:
            found = conn.execute("SELECT measurements FROM runs WHERE key = ?", (key,)).fetchone()
            if found is None:
                raise KeyError(f"no stored run with key {key!r}")
            merged = json.loads(found[0]) | dict(measurements)
            conn.execute(
                "UPDATE runs SET measurements = ?, error = ? WHERE key = ?", (canonical_json(merged), error, key)
            )

    def get(self, experiment: str, config: Mapping[str, Any]) -> RunRecord | None:
        """The stored run with this config, or None if it has not been stored."""
        return self.lookup([run_key(experiment, config)]).get(run_key(experiment, config))

    def lookup(self, keys: Iterable[str]) -> dict[str, RunRecord]:
        """The stored runs among ``keys``, by key."""
        keys = list(keys)
        found: dict[str, RunRecord] = {}
        for start in range(0, len(keys), 500):  # SQLite's bound-parameter limit
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update((r.key, r) for r in self._select(f"WHERE key IN ({marks})", tuple(chunk)))
        return found

    def runs(self, experiment: str) -> list[RunRecord]:
        """All stored runs of one experiment (failed ones included), in the order they were stored."""
        return self._select("WHERE experiment = ? ORDER BY finished", (experiment,))

    def finished_keys(self, experiment: str) -> set[str]:
        """Keys of the runs of ``experiment`` that are done (finished or diverged; not failed)."""
        marks = ",".join("?" * len(DONE_STATUSES))
        with self._lock:
            cursor = self._conn.execute(
                f"SELECT key FROM runs WHERE experiment = ? AND status IN ({marks})", (experiment, *DONE_STATUSES)
            )
            return {key for (key,) in cursor.fetchall()}

    def _select(self, where: str, params: tuple[Any, ...]) -> list[RunRecord]:
        with self._lock:
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM runs {where}", params).fetchall()
        return [
            RunRecord(
                key=key,
                experiment=experiment,
                config=json.loads(config),
                status=status,
                metrics=json.loads(metrics),
                history=json.loads(history),
                probes=json.loads(probes),
                measurements=json.loads(measurements),
                seconds=seconds,
                error=error,
            )
            for key, experiment, config, status, metrics, history, probes, measurements, seconds, error in rows
        ]

    # ----------------------------------------------------------------------------------------------
    # final weights beside the store
    # ----------------------------------------------------------------------------------------------

    @property
    def weights_dir(self) -> Path:
        """``<store dir>/weights``: one ``<run key>.pt`` per kept run (a plain state dict of tensors)."""
        if self.path == ":memory:":
            raise ValueError("an in-memory store cannot keep weights; open a store file to keep final weights")
        return Path(self.path).parent / "weights"

    def weights_path(self, key: str) -> Path:
        return self.weights_dir / f"{key}.pt"

    def has_weights(self, key: str) -> bool:
        return self.path != ":memory:" and self.weights_path(key).is_file()

    def save_weights(self, key: str, state: Mapping[str, torch.Tensor]) -> Path:
        """Write a run's final state dict atomically (a temporary file renamed into place), as plain
        CPU tensors so ``load_weights`` reads it without unpickling arbitrary objects. Temporary files
        of this run left by a writer killed mid-write are removed first."""
        if not all(isinstance(name, str) and isinstance(value, torch.Tensor) for name, value in state.items()):
            raise TypeError("weights must be a mapping of parameter names to tensors")
        path = self.weights_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        plain = {name: value.detach().cpu().clone() for name, value in state.items()}
        for stale in path.parent.glob(f".{key}.*.tmp"):
            stale.unlink(missing_ok=True)
        with atomic_file(path, durable=True) as file:
            torch.save(plain, file)
        return path

    def load_weights(self, key: str) -> dict[str, torch.Tensor]:
        """The kept final state dict of run ``key`` (``torch.load(weights_only=True)``: tensors only)."""
        path = self.weights_path(key)
        if not path.is_file():
            raise FileNotFoundError(
                f"no weights kept for run {key} (expected {path}); run the sweep with keep_weights=True"
            )
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise ValueError(
                f"{path} is not a readable weights file ({error}); delete it and rerun the sweep"
            ) from None


__all__ = ["DONE_STATUSES", "RUN_STATUSES", "SCHEMA_VERSION", "RunRecord", "Store", "run_key"]
