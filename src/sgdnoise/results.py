"""The result vocabulary shared by every layer: a run's status and outcome, a checked claim, the one
JSON sanitiser through which every stored or written document passes, the one way an output file is
written (:func:`atomic_file`), and the one way a process claims an output directory (:func:`claimed_directory`).

This module imports nothing from sgdnoise, so every package may use it (nothing imports upward).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import math
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, BinaryIO, Literal, Self

RunStatus = Literal["finished", "diverged", "failed"]
RUN_STATUSES: tuple[str, ...] = ("finished", "diverged", "failed")
DONE_STATUSES = ("finished", "diverged")  # a run in one of these is never trained again


def check_status(status: str) -> str:
    """``status`` if it is one of ``RUN_STATUSES``, else a ValueError naming them."""
    if status not in RUN_STATUSES:
        raise ValueError(f"run status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
    return status


@dataclass(frozen=True)
class RunOutcome:
    """The platform's one result shape of a run: the engine returns it (``RunResult``), the store keeps
    it (``RunRecord``) and ``run_sweep`` returns it (``SweptRun``), each adding only its own fields.

    - ``status``: ``"finished"``, ``"diverged"`` (its loss or parameters became non-finite) or
      ``"failed"`` (its group raised; ``error`` says why).
    - ``metrics``: the final evaluation on every split — ``step``, ``epoch``, ``learning_rate``,
      ``batch_size``, ``{split}_loss``, ``{split}_acc`` (losses: mean cross-entropy without the L2
      term) — plus ``steps_done`` and ``diverged_at_step`` (updates after which it was first seen
      non-finite, else None). A diverged run has only those two.
    - ``history``: the evaluation rows as columns (``{"step": [...], "test_loss": [...], ...}``), up to
      the last evaluation before divergence.
    - ``probes``: measurements taken during training, as columns ``step``, ``epoch`` and
      ``"{measurement}.{quantity}"`` (None where a probe did not measure at that step).
    - ``measurements``: ``{name: {quantity: value}}`` of the final measurements (finished runs only).
    - ``seconds``: the run's share of its group's wall time.
    - ``error``: why it failed, or why a measurement of it failed; else None.
    """

    status: RunStatus
    metrics: dict[str, Any] = field(default_factory=dict)
    history: dict[str, list[Any]] = field(default_factory=dict)
    probes: dict[str, list[Any]] = field(default_factory=dict)
    measurements: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    @property
    def done(self) -> bool:
        """Finished or diverged: never trained again (a failed run is)."""
        return self.status in DONE_STATUSES

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

    @property
    def steps_done(self) -> int:
        return int(self.metrics.get("steps_done", 0))

    @property
    def diverged_at_step(self) -> int | None:
        return self.metrics.get("diverged_at_step")

    def to_dict(self) -> dict[str, Any]:
        """The outcome's fields by name (what the store keeps; a subclass's own fields left out)."""
        return {name: getattr(self, name) for name in _OUTCOME_FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **own: Any) -> Self:
        """The inverse of ``to_dict``; ``own`` gives a subclass's own fields (e.g. ``key=...``)."""
        return cls(**data, **own)


_OUTCOME_FIELDS = tuple(f.name for f in dataclasses.fields(RunOutcome))


VerdictName = Literal["holds", "fails", "inconclusive"]
VERDICTS: tuple[str, ...] = ("holds", "fails", "inconclusive")
ClaimKind = Literal["paper", "extension", "calibration"]
CLAIM_KINDS: tuple[str, ...] = ("paper", "extension", "calibration")


@dataclass(frozen=True)
class Claim:
    """One claim of a paper, checked on this machine's results (declared by an experiment as a
    ``ClaimSpec``; this is what its check produced).

    ``verdict`` is ``holds``, ``fails`` or ``inconclusive`` (too little evidence to decide); ``value`` is
    the measured number (or small dict of numbers) the verdict rests on; ``note`` says why it holds or
    not when that is not obvious from the value (never used to tune a verdict away); ``kind``,
    ``provenance`` and ``test`` are the declaration's (where the claim comes from, how it is decided).
    """

    id: str
    statement: str
    verdict: VerdictName
    value: Any
    note: str = ""
    kind: ClaimKind = "paper"
    provenance: Mapping[str, Any] = field(default_factory=dict)
    test: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"claim {self.id}: verdict must be one of {', '.join(VERDICTS)}, got {self.verdict!r}")
        if self.kind not in CLAIM_KINDS:
            raise ValueError(f"claim {self.id}: kind must be one of {', '.join(CLAIM_KINDS)}, got {self.kind!r}")

    @property
    def holds(self) -> bool:
        return self.verdict == "holds"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "statement": self.statement,
            "verdict": self.verdict,
            "holds": self.holds,
            "kind": self.kind,
            "value": strict_json(self.value),
            "note": self.note,
            "provenance": strict_json(self.provenance),
            "test": strict_json(self.test),
        }


def strict_json(value: Any) -> Any:
    """``value`` as strict JSON data: numpy/torch numbers and arrays become Python numbers and lists,
    tuples lists, dataclasses dicts, paths and enums strings, and a non-finite float (NaN, ±inf)
    becomes ``None`` — a missing number is ``null``, never ``NaN`` or the string ``"nan"``."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [strict_json(v) for v in items]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        to_dict = getattr(value, "to_dict", None)
        return strict_json(to_dict() if callable(to_dict) else dataclasses.asdict(value))
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, enum.Enum):
        return strict_json(value.value)
    if hasattr(value, "tolist"):  # numpy / torch scalars and arrays
        return strict_json(value.tolist())
    if hasattr(value, "item"):
        return strict_json(value.item())
    raise TypeError(f"cannot write {type(value).__name__} as JSON: {value!r}")


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of ``strict_json(value)``; refuses NaN/Infinity literals (``allow_nan=False``)."""
    return json.dumps(strict_json(value), allow_nan=False, **kwargs)


def canonical_json(value: Any) -> str:
    """Strict JSON with sorted keys and no whitespace: the form store keys are hashed from."""
    return dumps(value, sort_keys=True, separators=(",", ":"))


def nan_if_none(value: float | None) -> float:
    """The inverse of the sanitiser for one number: ``None`` (a missing number) reads as NaN."""
    return math.nan if value is None else float(value)


@contextlib.contextmanager
def atomic_file(path: Path, *, durable: bool = False) -> Iterator[BinaryIO]:
    """A binary file that replaces ``path`` only when the block ends without error: it is written beside
    ``path`` as ``.<name>.<random>.tmp`` and renamed into place, so a reader never sees a partial file, and
    removed on error. The file gets the mode of any other output, 0666 less the umask (``tempfile`` would give
    0600). ``durable``: flushed to disk before the rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as handle:
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


LOCK_FILE = ".sgdnoise.lock"


class DirectoryInUse(ValueError):
    """Another process holds the output directory (``claimed_directory``)."""


def _in_use(path: Path, holder: str) -> DirectoryInUse:
    return DirectoryInUse(
        f"{path} is in use by {holder.strip() or 'another process'}: wait for it to finish, or give this command "
        "another --out"
    )


def refuse_if_in_use(path: Path) -> None:
    """``DirectoryInUse`` now if another process holds ``path`` (see ``claimed_directory``, which stays the
    guard): a command checks this before its slow imports, so that a second one is refused within a second."""
    try:
        import fcntl

        handle = open(path / LOCK_FILE)  # closed by the with block below
    except (ImportError, OSError):
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _in_use(path, handle.read()) from None
        except OSError:
            return
        fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_soon(fcntl: Any, handle: Any, attempts: int = 10, pause: float = 0.01) -> None:
    """An exclusive lock on ``handle``, tried ``attempts`` times ``pause`` s apart: another command's
    ``refuse_if_in_use`` probe holds a shared lock for an instant, which must not read as a holder."""
    for attempt in range(attempts):
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if attempt == attempts - 1:
                raise
            time.sleep(pause)


@contextlib.contextmanager
def claimed_directory(path: Path) -> Iterator[None]:
    """Hold ``path`` (an existing directory) for this process for the block: a second process that asks for it
    meanwhile gets ``DirectoryInUse`` at once (two processes training into one store would each train every
    run). An advisory lock on ``path/.sgdnoise.lock``, released when the block ends or the process dies; where
    the platform has no ``fcntl`` (Windows) the block runs unguarded."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path / LOCK_FILE, "a+") as handle:
        try:
            _lock_soon(fcntl, handle)
        except BlockingIOError:
            handle.seek(0)
            raise _in_use(path, handle.read()) from None
        except OSError as error:  # a file system without flock (some NFS, CIFS, Lustre mounts): unguarded
            import warnings

            warnings.warn(
                f"{path} cannot be locked ({error.strerror or error}): another process writing to it would not be "
                "refused",
                RuntimeWarning,
                stacklevel=3,
            )
            yield
            return
        handle.seek(0)
        handle.truncate()
        handle.write(f"sgdnoise process {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
