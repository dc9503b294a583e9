"""App. E large-batch tuning on a synthetic accuracy surface whose optimum the three steps reach by hand."""

import json
import math
import re
import sqlite3

import numpy as np
import pytest
from click.testing import CliRunner

from sgdnoise.cli import UserCodeError, main
from sgdnoise.tuning import plot_tuning, tune_large_batch

N = 50_000
SURFACE = '''
import math

def train_and_evaluate(lr, batch_size, momentum, max_lr=0.5):
    """Peaks at noise scale g = εN/(B(1 − m)) = 1000; diverges (NaN) when ε > max_lr (a curvature limit)."""
    if lr > max_lr:
        return math.nan
    g = lr * 50_000 / (batch_size * (1 - momentum))
    return 0.9 - 0.05 * math.log10(g / 1000) ** 2
'''


def surface(calls: list | None = None, max_lr: float = 0.5):
    scope: dict = {}
    exec(SURFACE, scope)

    def fn(lr, batch_size, momentum):
        if calls is not None:
            calls.append((lr, batch_size, momentum))
        return scope["train_and_evaluate"](lr, batch_size, momentum, max_lr)

    return fn


def test_the_three_steps_reach_the_hand_computed_optimum(tmp_path):
    calls: list = []
    result = tune_large_batch(surface(calls), N, tmp_path / "t.sqlite", max_batch_size=5000)
    steps = [(t.step[:2], t.batch_size, round(t.lr, 6), round(t.momentum, 6), t.accuracy is None) for t in result.trail]
    # 1: ε = 0.1, m = 0.9, g = 50000/B: B = 64 (g = 781) is nearest to 1000 on the grid
    assert result.initial.batch_size == 64 and result.initial.lr == 0.1
    # 2a: B = 192 at ε = 0.3 keeps g; B = 576 needs ε = 0.9 > 0.5: diverges, back to 192
    assert steps[5:7] == [("2a", 192, 0.3, 0.9, False), ("2a", 576, 0.9, 0.9, True)]
    # 2b: (1 − m) ∝ 1/B keeps g: 576, 1728; 5184 exceeds the hardware limit 5000
    assert steps[7:9] == [("2b", 576, 0.3, 0.966667, False), ("2b", 1728, 0.3, 0.988889, False)]
    # 3: B ∈ {864, 1296, 2160, 2592} at ε = 0.3, 1 − m = 1/90: g = 1350000/B, nearest 1000 at B = 1296
    assert [s[1] for s in steps[9:]] == [864, 1296, 2160, 2592]
    assert (result.batch_size, result.lr) == (1296, 0.3) and result.momentum == pytest.approx(1 - 1 / 90)
    g = 0.3 * N / (1296 / 90)
    assert result.accuracy == pytest.approx(0.9 - 0.05 * math.log10(g / 1000) ** 2)
    assert result.batch_size >= 10 * result.initial.batch_size and result.accuracy >= result.initial.accuracy
    # resumable: the same call again trains nothing and recommends the same
    again = tune_large_batch(surface(calls), N, tmp_path / "t.sqlite", max_batch_size=5000)
    assert len(calls) == len(result.trail) and again == tune_large_batch(
        surface(), N, tmp_path / "t.sqlite", max_batch_size=5000
    )
    assert all(t.cached for t in again.trail) and (again.batch_size, again.accuracy) == (1296, result.accuracy)
    assert plot_tuning(result, tmp_path / "t.png").stat().st_size > 0


def test_unstable_step_one_reduces_the_learning_rate(tmp_path):
    result = tune_large_batch(surface(max_lr=0.05), N, tmp_path / "t.sqlite", batch_sizes=(16, 32, 64))
    assert [t.lr for t in result.trail[:3]] == [0.1] * 3 and result.trail[0].accuracy is None
    assert result.initial.lr == pytest.approx(0.1 / 3)


def test_cli_tune_runs_a_users_function_and_resumes(tmp_path, monkeypatch):
    (tmp_path / "user_surface.py").write_text(SURFACE + "\n\ndef two_arguments(lr, batch_size):\n    return 0.5\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    args = ["tune", "user_surface:train_and_evaluate", "--train-size", "50000", "--max-batch-size", "5000"]
    first = CliRunner().invoke(main, [*args, "--out", "out"])
    assert first.exit_code == 0, first.output
    assert "recommendation: lr=0.3, batch_size=1296" in first.output
    assert json.loads((tmp_path / "out" / "tuning.json").read_text())["batch_size"] == 1296
    assert (tmp_path / "out" / "tuning.png").exists()
    assert CliRunner().invoke(main, [*args, "--out", "out"]).output == first.output
    for bad, message in [
        (["tune", "user_surface", "--train-size", "1000"], "MODULE:NAME"),
        (["tune", "nowhere:fn", "--train-size", "1000"], "cannot load"),
        (
            ["tune", "user_surface:train_and_evaluate", "--train-size", "100"],
            "--batch-sizes holds 256, above --train-size 100",
        ),
        (
            ["tune", "user_surface:train_and_evaluate", "--train-size", "500", "--max-batch-size", "8"],
            "--batch-sizes holds 256, above --max-batch-size 8",
        ),
        (
            ["tune", "user_surface:two_arguments", "--train-size", "1000"],
            "must be callable with (lr, batch_size, momentum); its signature is (lr, batch_size)",
        ),
    ]:
        failed = CliRunner().invoke(main, bad)
        assert failed.exit_code == 2 and message in failed.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"lr": math.nan}, "lr must be a finite number > 0, got nan"),
        ({"lr": math.inf}, "lr must be a finite number > 0, got inf"),
        ({"tolerance": math.nan}, "tolerance must be a finite number >= 0, got nan"),
        ({"tolerance": -1.0}, "tolerance must be a finite number >= 0, got -1.0"),
        ({"tolerance": 5.0}, r"tolerance must be below 1 \(accuracies are fractions"),  # was accepted: no fall ever
        ({"momentum": 1.0}, r"momentum must be a number in \[0, 1\), got 1.0"),
        ({"lr_reduction": 1.0}, "lr_reduction must be > 1, got 1.0"),
        ({"batch_sizes": (16, 0)}, "batch_sizes must be a positive integer, got 0"),
        ({"max_batch_size": 0}, "max_batch_size must be a positive integer or None, got 0"),
    ],
)
def test_bad_arguments_are_one_value_error_before_any_trial(tmp_path, arguments, message):
    """--lr nan raised sqlite3.IntegrityError, --lr inf "not stable at any learning rate down to inf", a NaN or
    negative tolerance was accepted."""
    calls: list = []
    with pytest.raises(ValueError, match=message):
        tune_large_batch(surface(calls), N, tmp_path / "t.sqlite", **arguments)
    assert calls == [] and not (tmp_path / "t.sqlite").exists()


@pytest.mark.parametrize("returned", [None, "0.9", [0.9, 0.8]])
def test_a_function_that_returns_no_number_is_one_value_error(tmp_path, returned):
    with pytest.raises(
        ValueError, match=r"must return the validation accuracy, a number in \[0, 1\], or NaN when .* it returned"
    ):
        tune_large_batch(lambda lr, batch_size, momentum: returned, N, tmp_path / "t.sqlite")
    assert tune_large_batch(lambda lr, b, m: 0.5, N, tmp_path / "u.sqlite").accuracy == 0.5  # a number is fine


def test_cli_tune_bad_values_are_one_line(tmp_path, monkeypatch):
    (tmp_path / "bad_surface.py").write_text(SURFACE + "\n\ndef returns_none(lr, batch_size, momentum):\n    pass\n")
    monkeypatch.chdir(tmp_path)
    args = ["tune", "bad_surface:train_and_evaluate", "--train-size", "50000"]
    for bad, message in [
        ([*args, "--lr", "nan"], "--lr must be a finite number > 0, got nan"),
        ([*args, "--lr", "inf"], "--lr must be a finite number > 0, got inf"),
        ([*args, "--tolerance", "nan"], "--tolerance must be a finite number >= 0, got nan"),
        ([*args, "--tolerance", "-1"], "--tolerance must be a finite number >= 0, got -1.0"),
        ([*args, "--tolerance", "5"], "--tolerance must be below 1 (accuracies are fractions"),
        ([*args, "--batch-sizes", "16,99999"], "--batch-sizes holds 99999, above --train-size 50000: give a grid"),
        ([*args, "--momentum", "1"], "--momentum must be a number in [0, 1), got 1.0"),
        ([*args, "--batch-sizes", "16,0"], "--batch-sizes must be a positive integer, got 0"),
        ([*args, "--max-batch-size", "0"], "--max-batch-size must be a positive integer, got 0"),
        (["tune", "bad_surface:train_and_evaluate", "--train-size", "1"], "--train-size must be an integer >= 2"),
        (["tune", "bad_surface:returns_none", "--train-size", "50000"], "must return the validation accuracy"),
    ]:
        failed = CliRunner().invoke(main, [*bad, "--out", "out"])
        assert failed.exit_code == 2 and failed.output.startswith("Error: ") and message in failed.output, failed.output
        assert failed.output.count("\n") == 1, failed.output


def test_cli_tune_an_error_in_the_users_function_is_one_line_and_keeps_the_finished_trials(tmp_path, monkeypatch):
    """Before, a RuntimeError on the third trial printed torch-style tracebacks through sgdnoise's own frames."""
    (tmp_path / "flaky.py").write_text(
        "def train_and_evaluate(lr, batch_size, momentum):\n"
        "    if batch_size == 64:\n"
        "        raise RuntimeError('CUDA out of memory')\n"
        "    return 0.5\n"
    )
    (tmp_path / "broken.py").write_text(
        "def train_and_evaluate(lr, batch_size, momentum):\n    return 0.5\n\nundefined_name\n"
    )
    monkeypatch.chdir(tmp_path)
    args = ["tune", "flaky:train_and_evaluate", "--train-size", "1000", "--batch-sizes", "16,32,64", "--out", "out"]
    failed = CliRunner().invoke(main, args)
    assert failed.exit_code == 1 and failed.output.count("\n") == 1, failed.output
    assert failed.output.startswith(
        "Error in your code: flaky:train_and_evaluate(lr=0.1, batch_size=64, momentum=0.9) raised RuntimeError: "
        "CUDA out of memory; the trials finished before it are kept in out/tuning.sqlite, and the same command "
        "resumes (sgdnoise --debug tune ... shows the traceback)"
    )
    with sqlite3.connect(tmp_path / "out" / "tuning.sqlite") as db:
        assert db.execute("SELECT batch_size FROM trials ORDER BY batch_size").fetchall() == [(16,), (32,)]
    debug = CliRunner().invoke(main, ["--debug", *args])
    assert isinstance(debug.exception, UserCodeError) and isinstance(debug.exception.__cause__, RuntimeError)
    broken = CliRunner().invoke(main, ["tune", "broken:train_and_evaluate", "--train-size", "1000", "--out", "o"])
    assert broken.exit_code == 1 and broken.output.count("\n") == 1
    assert broken.output.startswith("Error in your code: importing broken raised NameError: name 'undefined_name'")


def test_cli_tune_refuses_a_store_of_another_functions_trials(tmp_path, monkeypatch):
    """Before, a second function (or an edited one) tuned into the same --out silently reused the first's
    accuracies, and printed their recommendation."""
    (tmp_path / "identity_surface.py").write_text(
        SURFACE + "\n\ndef constant(lr, batch_size, momentum):\n    return 0.5\n"
    )
    monkeypatch.chdir(tmp_path)
    args = ["--train-size", "50000", "--max-batch-size", "5000", "--out", "out"]
    assert CliRunner().invoke(main, ["tune", "identity_surface:train_and_evaluate", *args]).exit_code == 0
    other = CliRunner().invoke(main, ["tune", "identity_surface:constant", *args])
    assert other.exit_code == 2 and other.output.count("\n") == 1, other.output
    assert "out/tuning.sqlite holds the trials of identity_surface:train_and_evaluate (identity_surface.py sha256 " in (
        other.output
    )
    assert "not of identity_surface:constant (identity_surface.py sha256 " in other.output
    (tmp_path / "identity_surface.py").write_text(SURFACE.replace("0.05", "0.04"))  # the same name, edited
    edited = CliRunner().invoke(main, ["tune", "identity_surface:train_and_evaluate", *args])
    assert edited.exit_code == 2 and "holds the trials of identity_surface:train_and_evaluate" in edited.output
    for bad in ("junk", None):  # not a database; a directory in its place
        target = tmp_path / f"bad-{bad}"
        (target / "tuning.sqlite").mkdir(parents=True) if bad is None else (
            target.mkdir() or (target / "tuning.sqlite").write_text(bad)
        )
        failed = CliRunner().invoke(
            main, ["tune", "identity_surface:constant", "--train-size", "1000", "--out", target]
        )
        assert failed.exit_code == 2 and failed.output.startswith(f"Error: {target / 'tuning.sqlite'} is ")
        assert "move it aside" in failed.output and failed.output.count("\n") == 1


@pytest.mark.parametrize(("returned", "hint"), [(math.inf, "returned inf"), (90.0, "a percentage? return a fraction")])
def test_an_accuracy_outside_zero_to_one_is_one_value_error(tmp_path, returned, hint):
    """Before, inf read as "not stable at any learning rate" and 90 (percent) was taken as an accuracy."""
    with pytest.raises(ValueError, match=re.escape(hint)):
        tune_large_batch(lambda lr, b, m: returned, N, tmp_path / "t.sqlite")


def test_cli_tune_checks_out_before_calling_the_users_function(tmp_path, monkeypatch, unwritable_directories):
    (tmp_path / "user_surface.py").write_text(
        "def train_and_evaluate(lr, batch_size, momentum):\n    raise SystemExit\n"
    )
    monkeypatch.chdir(tmp_path)
    failed = CliRunner().invoke(main, ["tune", "user_surface:train_and_evaluate", "--train-size", "1000", "--out", "o"])
    assert failed.exit_code == 2 and "Error: cannot write to the output directory 'o'" in failed.output


def test_store_paths_and_arguments_that_cannot_work_are_one_clear_error(tmp_path):
    """Before: raw FileExistsError, sqlite3.OperationalError, 'truth value of an array is ambiguous', 'float
    object is not iterable', a TypeError at the first trial after the store was made, and an unlabelled store
    (or identity=5 stored as text) adopted or refused wrongly."""
    fn = surface()
    (tmp_path / "file").write_text("")
    (tmp_path / "directory.sqlite").mkdir()
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE trials (name TEXT)")
    for path, message in [
        (tmp_path / "file" / "t.sqlite", "cannot create the tuning store"),
        (tmp_path / "directory.sqlite", "is a directory, not a tuning store: move it aside"),
        (other, "is not a tuning store (no such column: lr)"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            tune_large_batch(fn, N, path)
    with pytest.raises(TypeError, match="batch_sizes must be a sequence"):
        tune_large_batch(fn, N, tmp_path / "a.sqlite", batch_sizes=64)
    with pytest.raises(TypeError, match="local_fractions must be a sequence"):
        tune_large_batch(fn, N, tmp_path / "a.sqlite", local_fractions=0.5)
    with pytest.raises(ValueError, match=r"batch_sizes holds a batch size twice: \[16, 16\]"):
        tune_large_batch(fn, N, tmp_path / "a.sqlite", batch_sizes=[16, 16])
    with pytest.raises(TypeError, match="train_and_evaluate must be callable"):
        tune_large_batch(3, N, tmp_path / "b.sqlite")
    with pytest.raises(TypeError, match="identity must be a string"):
        tune_large_batch(fn, N, tmp_path / "b.sqlite", identity=5)
    assert not (tmp_path / "b.sqlite").exists()
    unlabelled = tmp_path / "unlabelled.sqlite"
    tune_large_batch(fn, N, unlabelled, max_batch_size=5000)
    with pytest.raises(ValueError, match="holds trials of a function it does not name"):
        tune_large_batch(lambda lr, b, m: 0.1, N, unlabelled, identity="other", max_batch_size=5000)
    grid = np.array([16, 32, 64])  # numpy grids are sequences too
    assert tune_large_batch(fn, N, tmp_path / "c.sqlite", batch_sizes=grid, max_batch_size=5000).batch_size > 0


def test_step_one_unstable_at_every_learning_rate_names_the_batch_sizes(tmp_path):
    """Before, the error said only the last learning rate; the grid's other batch sizes were stable at ε = 0.1."""

    def unstable_above_100(lr, batch_size, momentum):
        return math.nan if batch_size > 100 else 0.5

    with pytest.raises(ValueError, match=r"not stable at any learning rate down to 0\.00123 .* B = 128, 256\)"):
        tune_large_batch(unstable_above_100, N, tmp_path / "t.sqlite")
