"""Large-batch tuning: the three-step heuristic of Smith & Le 2018, App. E, on a user's training function.

``train_and_evaluate(lr, batch_size, momentum) -> validation accuracy``, a fraction in [0, 1] (NaN means training
was not stable). The steps, as the paper states them:

1. Set ε = 0.1 and m = 0.9; run a range of batch sizes on a logarithmic scale and take the one with the best
   validation accuracy. If training is not stable, reduce ε and repeat.
2. Repeatedly multiply B by 3 with ε ∝ B until the accuracy starts to fall; then repeatedly multiply B by 3
   with (1 − m) ∝ 1/B until the accuracy falls or B reaches the hardware limit.
3. With the final ε and m, retune B on a linear scale in the neighbourhood of the current B.

"Falls" means below the best accuracy of the step so far by more than ``tolerance``; a fall sends the
procedure back to the last setting that did not fall. Every trial is stored in an SQLite file (stdlib) keyed
by (ε, B, m), so an interrupted tuning resumes and a repeated setting is never retrained; given an ``identity``
(what the trials are of), a store holding another's trials is refused rather than reused.
"""

import math
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sgdnoise.validation import momentum_coefficient, positive_int, positive_number

TrainAndEvaluate = Callable[[float, int, float], float]

_SCHEMA = """CREATE TABLE IF NOT EXISTS trials (
    lr REAL NOT NULL, batch_size INTEGER NOT NULL, momentum REAL NOT NULL,
    accuracy REAL, seconds REAL NOT NULL, PRIMARY KEY (lr, batch_size, momentum));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"""


@dataclass(frozen=True)
class Trial:
    """One call of the user's function. ``accuracy`` None: not stable (non-finite result)."""

    step: str
    lr: float
    batch_size: int
    momentum: float
    accuracy: float | None
    updates_per_epoch: float
    cached: bool


@dataclass(frozen=True)
class TuningResult:
    """The recommendation of App. E with the trail of trials that led to it (in order)."""

    lr: float
    batch_size: int
    momentum: float
    accuracy: float
    initial: Trial
    trail: tuple[Trial, ...]

    def to_dict(self) -> dict:
        return asdict(self)


class _Trials:
    """The user's function behind the SQLite cache; records the trail."""

    def __init__(self, fn: TrainAndEvaluate, path: Path, train_size: int, identity: str | None):
        self.fn, self.train_size, self.trail = fn, train_size, []
        if path.is_dir():
            raise ValueError(f"{path} is a directory, not a tuning store: move it aside to start over")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path)
            self.db.executescript(_SCHEMA)
            self.db.execute("SELECT lr, batch_size, momentum, accuracy, seconds FROM trials LIMIT 1")
            stored = self.db.execute("SELECT value FROM meta WHERE key = 'identity'").fetchone()
            has_trials = self.db.execute("SELECT 1 FROM trials LIMIT 1").fetchone() is not None
        except sqlite3.DatabaseError as error:
            raise ValueError(f"{path} is not a tuning store ({error}): move it aside to start over") from None
        except OSError as error:
            raise ValueError(f"cannot create the tuning store {path}: {error.strerror or error}") from None
        if identity is None:
            return
        if stored is None and has_trials:  # written before stores kept what their trials are of
            raise ValueError(
                f"{path} holds trials of a function it does not name (written before stores kept it): tune into "
                "another directory, or delete the file to start over"
            )
        if stored is None:
            with self.db:
                self.db.execute("INSERT INTO meta VALUES ('identity', ?)", (identity,))
        elif stored[0] != identity:
            raise ValueError(
                f"{path} holds the trials of {stored[0]}, not of {identity}: they would be reused as this "
                "function's; tune into another directory, or delete the file to start over"
            )

    def __call__(self, step: str, lr: float, batch_size: int, momentum: float) -> Trial:
        lr, momentum = float(f"{lr:.12g}"), float(f"{momentum:.12g}")
        row = self.db.execute(
            "SELECT accuracy FROM trials WHERE lr = ? AND batch_size = ? AND momentum = ?", (lr, batch_size, momentum)
        ).fetchone()
        cached = row is not None
        if cached:
            accuracy = row[0]
        else:
            start = time.perf_counter()
            value = _accuracy(self.fn(lr, batch_size, momentum), lr, batch_size, momentum)
            accuracy = None if math.isnan(value) else value
            with self.db:
                self.db.execute(
                    "INSERT INTO trials VALUES (?, ?, ?, ?, ?)",
                    (lr, batch_size, momentum, accuracy, time.perf_counter() - start),
                )
        trial = Trial(step, lr, batch_size, momentum, accuracy, self.train_size / batch_size, cached)
        self.trail.append(trial)
        return trial


def _accuracy(value: object, lr: float, batch_size: int, momentum: float) -> float:
    """The user's result as a float: the validation accuracy in [0, 1], NaN when training was unstable."""
    try:
        if isinstance(value, str | bytes | bool):
            raise TypeError
        accuracy = float(value)  # type: ignore[arg-type]
        if not (math.isnan(accuracy) or 0 <= accuracy <= 1):
            raise ValueError
    except (TypeError, ValueError):
        hint = " (a percentage? return a fraction)" if isinstance(value, int | float) and 1 < value <= 100 else ""
        raise ValueError(
            "train_and_evaluate must return the validation accuracy, a number in [0, 1], or NaN when training was "
            f"not stable; it returned {value!r}{hint} for lr={lr:g}, batch_size={batch_size}, momentum={momentum:g}"
        ) from None
    return accuracy


def _better(trial: Trial, than: Trial) -> bool:
    return trial.accuracy is not None and (than.accuracy is None or trial.accuracy > than.accuracy)


def accuracy_tolerance(name: str, value: object) -> float:
    """``value`` as a float if it is a tolerance on accuracies (fractions): a number in [0, 1); else a ValueError
    naming ``name`` (a tolerance of 1 or more would never see a fall)."""
    tolerance = positive_number(name, value, allow_zero=True)
    if tolerance >= 1:
        raise ValueError(f"{name} must be below 1 (accuracies are fractions; 1 would never see a fall), got {value!r}")
    return tolerance


def tune_large_batch(
    train_and_evaluate: TrainAndEvaluate,
    train_size: int,
    store_path: str | Path,
    *,
    batch_sizes: Sequence[int] = (16, 32, 64, 128, 256),
    lr: float = 0.1,
    momentum: float = 0.9,
    lr_reduction: float = 3.0,
    max_lr_reductions: int = 4,
    max_batch_size: int | None = None,
    tolerance: float = 0.0,
    local_fractions: Sequence[float] = (0.5, 0.75, 1.25, 1.5),
    identity: str | None = None,
) -> TuningResult:
    """Run App. E's three steps (see the module docstring) and return the recommendation with its trail.

    ``batch_sizes``: step 1's logarithmic grid; ``lr_reduction``: the factor ε is divided by when a step-1 run is
    unstable (at most ``max_lr_reductions`` times); ``max_batch_size``: the hardware limit (default N);
    ``local_fractions``: step 3's linear neighbourhood as multiples of the current B (B itself is included);
    ``identity``: what the trials are of (e.g. the function's name and a hash of its code), kept in the store,
    which is refused when it holds another's (None: not checked).
    """
    if not callable(train_and_evaluate):
        raise TypeError(
            f"train_and_evaluate must be callable as f(lr, batch_size, momentum), got {train_and_evaluate!r}"
        )
    if identity is not None and not isinstance(identity, str):
        raise TypeError(f"identity must be a string (what the trials are of), got {type(identity).__name__}")
    for name, values in (("batch_sizes", batch_sizes), ("local_fractions", local_fractions)):
        if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
            raise TypeError(f"{name} must be a sequence of numbers, got {values!r}")
    batch_sizes, local_fractions = list(batch_sizes), list(local_fractions)
    if len(set(batch_sizes)) != len(batch_sizes):
        raise ValueError(f"batch_sizes holds a batch size twice: {batch_sizes}")
    train_size = positive_int("train_size", train_size, minimum=2)
    max_batch_size = positive_int("max_batch_size", max_batch_size, optional=True)
    limit = train_size if max_batch_size is None else min(max_batch_size, train_size)
    if not batch_sizes:
        raise ValueError("batch_sizes must hold at least one batch size")
    batch_sizes = [positive_int("batch_sizes", b) for b in batch_sizes]
    if max(batch_sizes) > limit:
        bound = f"max_batch_size={max_batch_size}" if limit != train_size else f"train_size={train_size}"
        raise ValueError(f"batch_sizes holds {max(batch_sizes)}, above {bound}: give a grid within it")
    lr = positive_number("lr", lr)
    momentum = momentum_coefficient("momentum", momentum)
    if positive_number("lr_reduction", lr_reduction) <= 1:
        raise ValueError(f"lr_reduction must be > 1, got {lr_reduction!r}")
    positive_int("max_lr_reductions", max_lr_reductions, minimum=0)
    tolerance = accuracy_tolerance("tolerance", tolerance)
    for fraction in local_fractions:
        positive_number("local_fractions", fraction)
    trials = _Trials(train_and_evaluate, Path(store_path), train_size, identity)
    for _ in range(max_lr_reductions + 1):  # step 1
        grid = [trials("1: log grid", lr, b, momentum) for b in sorted(batch_sizes)]
        if all(t.accuracy is not None for t in grid):
            break
        lr /= lr_reduction
    else:
        unstable = [t.batch_size for t in grid if t.accuracy is None]
        raise ValueError(
            f"training was not stable at any learning rate down to {lr * lr_reduction:.3g} (step 1 needs every "
            f"batch size of its grid stable; unstable at the last: B = {', '.join(map(str, unstable))})"
        )
    initial = current = max(grid, key=lambda t: t.accuracy)
    best_accuracy = initial.accuracy
    for label, scale_lr in (("2a: B×3, ε ∝ B", True), ("2b: B×3, 1−m ∝ 1/B", False)):  # step 2
        while current.batch_size * 3 <= limit:
            lr_next = current.lr * 3 if scale_lr else current.lr
            m_next = current.momentum if scale_lr else 1 - (1 - current.momentum) / 3
            trial = trials(label, lr_next, current.batch_size * 3, m_next)
            if trial.accuracy is None or trial.accuracy < best_accuracy - tolerance:
                break  # the accuracy fell: stay at the last setting that did not
            current, best_accuracy = trial, max(best_accuracy, trial.accuracy)
    neighbourhood = sorted({max(1, min(limit, round(current.batch_size * f))) for f in local_fractions})
    best = current
    for b in neighbourhood:  # step 3
        if b != current.batch_size:
            trial = trials("3: linear retune of B", current.lr, b, current.momentum)
            best = trial if _better(trial, best) else best
    assert best.accuracy is not None
    return TuningResult(best.lr, best.batch_size, best.momentum, best.accuracy, initial, tuple(trials.trail))


def plot_tuning(result: TuningResult, path: str | Path) -> Path:
    """Validation accuracy against batch size for every trial, by step, with the recommendation marked."""
    import matplotlib.pyplot as plt

    from sgdnoise.plots import save

    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    for step in dict.fromkeys(t.step for t in result.trail):
        points = [(t.batch_size, t.accuracy) for t in result.trail if t.step == step and t.accuracy is not None]
        if points:
            ax.plot(*zip(*points, strict=True), "o-" if step.startswith("2") else "o", label=step)
    ax.plot([result.batch_size], [result.accuracy], "k*", markersize=14, label="recommendation")
    ax.set_xscale("log")
    ax.set_xlabel("batch size B")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"App. E: B={result.batch_size}, ε={result.lr:.3g}, m={result.momentum:.4g}")
    ax.legend(fontsize=8)
    return save(fig, Path(path))
