import os
import signal
import time

import click
import pytest
from click.testing import CliRunner

from sgdnoise.cli import main
from sgdnoise.experiments import experiment_names


def test_list_shows_every_experiment_with_a_description():
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert [line.split()[0] for line in lines] == experiment_names()
    assert all(len(line.split()) > 3 for line in lines)


def test_help_shows_each_commands_whole_one_line_summary():
    """`sgdnoise --help` cut tune's line at "App." (click takes the docstring's first sentence): every command's
    summary is its docstring's first line, short enough to show whole at 80 columns."""
    result = CliRunner().invoke(main, ["--help"], terminal_width=80)
    commands = result.output.split("Commands:\n", 1)[1].splitlines()
    assert len(commands) == len(main.commands) and not any(line.endswith("...") for line in commands)
    for name, command in main.commands.items():
        summary = command.help.strip().splitlines()[0]
        assert summary.endswith(".") and f"  {name:10s}  {summary}" in commands


def test_unknown_experiment_is_one_clear_line_with_a_suggestion():
    result = CliRunner().invoke(main, ["reproduce", "smith-le-evidense"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert "unknown experiment 'smith-le-evidense'" in result.output
    assert "Did you mean smith-le-evidence" in result.output
    assert "Traceback" not in result.output


def test_bad_scale_and_bad_device_are_rejected_without_traceback(tmp_path):
    runner = CliRunner()
    bad_scale = runner.invoke(main, ["reproduce", "smith-le-evidence", "--scale", "huge"])
    assert bad_scale.exit_code == 2 and "huge" in bad_scale.output
    bad_device = runner.invoke(main, ["reproduce", "smith-le-evidence", "--device", "tpu9", "--out", str(tmp_path)])
    assert bad_device.exit_code == 2
    assert "Error: invalid device 'tpu9': not a device name (auto, cpu, cuda:N, …); this machine has " in (
        bad_device.output
    )
    assert "Traceback" not in bad_device.output
    # before, 2⁶⁴ trained and failed every run on "Overflow when unpacking long long", again on every rerun
    huge_seed = runner.invoke(main, ["reproduce", "smith-le-gap", "--seed", str(2**64), "--out", str(tmp_path)])
    assert huge_seed.exit_code == 2 and "Invalid value for '--seed'" in huge_seed.output
    assert not list(tmp_path.iterdir())
    (tmp_path / "file").write_text("")  # before: a traceback, NotADirectoryError raised writing failure.json
    blocked = tmp_path / "file" / "root"
    suite = runner.invoke(main, ["reproduce", "all", "--only", "smith-le-gap", "--tiny", "--out", str(blocked)])
    assert suite.exit_code == 2
    assert suite.output == f"Error: cannot write to the output directory '{blocked}': Not a directory\n"


@pytest.mark.parametrize("device", ["mps", "xpu", "meta", "cpu:3"])
def test_a_device_this_machine_lacks_is_one_line_before_any_work(pretend_machine, tmp_path, device):
    pretend_machine(None)
    dry_run = ["reproduce", "smith-le-gap", "--dry-run", "--device", device, "--out", str(tmp_path)]
    advise = ["advise", "no_such_module:problem", "--budget-epochs", "1", "--device", device, "--out", str(tmp_path)]
    for arguments in (dry_run, advise):
        result = CliRunner().invoke(main, arguments)
        assert result.exit_code == 2
        assert result.output == f"Error: device '{device}' is not available; this machine has only cpu\n"


def test_an_existing_out_without_write_permission_is_one_line_before_any_work(tmp_path, unwritable_directories):
    result = CliRunner().invoke(main, ["reproduce", "smith-le-gap", "--tiny", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output == f"Error: cannot write to the output directory '{tmp_path}': Permission denied\n"
    assert list(tmp_path.iterdir()) == []


def test_report_on_a_directory_without_summary_says_what_to_do(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "no summary.json" in result.output and "sgdnoise reproduce" in result.output


def test_scale_solves_for_the_learning_rate_that_keeps_the_noise_scale():
    reference = "--lr 0.1 --batch-size 100 --train-size 10000 --momentum 0.9"
    args = f"scale {reference} --new-batch-size 1000 --solve-for lr --rule noise_scale_approx".split()
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1:] for line in result.output.strip().splitlines()[1:]}
    assert float(rows["lr"][1]) == pytest.approx(1.0)  # B ×10 → ε ×10 at fixed εN/(B(1−m))
    assert float(rows["batch_size"][1]) == 1000
    assert rows["lr"][2:] == ["<-", "solved"]


def test_scale_with_an_impossible_setting_is_one_clear_line():
    args = "scale --lr 0.1 --batch-size 100 --train-size 1000 --new-batch-size 5000 --solve-for lr".split()
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ("--new-momentum 1.5", "Error: new momentum must satisfy 0 <= m < 1, got 1.5"),
        ("--new-batch-size 0", "Error: new batch size must be >= 1, got 0.0"),
        (
            "",
            "Error: nothing changed: give at least one of --new-lr, --new-batch-size, --new-momentum, --new-train-size",
        ),
        ("--new-lr 0.3", "Error: --solve-for lr asks for the new lr: do not give --new-lr too"),
    ],
)
def test_scale_names_a_bad_or_missing_new_value_in_one_line(changes, message):
    args = f"scale --lr 0.1 --batch-size 128 --train-size 50000 {changes} --solve-for lr".split()
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.output == message + "\n"


def test_scale_from_a_full_batch_reference_and_solve_for_spelled_as_the_flags():
    """Before: 'learning rate must be > 0, got 0.0' for a full-batch reference; --solve-for batch-size refused."""
    args = "scale --lr 0.1 --batch-size 50000 --train-size 50000 --new-batch-size 1024 --solve-for lr".split()
    result = CliRunner().invoke(main, args)
    assert (
        result.exit_code == 2 and "the reference is full-batch (B = N = 50000): its noise scale is 0" in result.output
    )
    args = "scale --lr 0.1 --batch-size 128 --train-size 50000 --new-lr 0.2 --solve-for batch-size".split()
    solved = CliRunner().invoke(main, args)
    underscored = CliRunner().invoke(main, [*args[:-1], "batch_size"])
    assert solved.exit_code == 0 and solved.output == underscored.output


def test_scale_without_a_valid_solution_states_the_setting_in_the_papers_symbols():
    args = "scale --lr 0.1 --batch-size 128 --train-size 50000 --new-batch-size 4 --solve-for momentum".split()
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "SGDConfig(" not in result.output  # before: the dataclass's repr
    assert result.output.startswith(
        "Error: no valid momentum keeps the noise_scale of (ε=0.1, B=128, N=50000, m=0) fixed: "
    )


def test_set_with_an_unknown_key_names_the_valid_ones(tmp_path):
    args = ["reproduce", "smith-le-batch", "--set", "seed=3", "--out", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "unknown setting 'seed' for smith-le-batch (quick); valid keys: batch_sizes, seeds, budget" in result.output
    bad_type = CliRunner().invoke(main, ["reproduce", "smith-le-batch", "--set", "seeds=two", "--out", str(tmp_path)])
    assert (
        bad_type.exit_code == 2
        and "setting seeds='two'" in bad_type.output
        and "expected an integer" in bad_type.output
    )
    malformed = CliRunner().invoke(main, ["reproduce", "smith-le-batch", "--set", "seeds"])
    assert malformed.exit_code == 2 and "--set expects KEY=VALUE" in malformed.output


@pytest.mark.parametrize(
    ("name", "assignment", "message"),
    [
        ("smith-le-gap", "epsilons=nan", "setting epsilons='nan' for smith-le-gap (quick): expected a finite number"),
        ("smith-le-gap", "epsilons=inf", "setting epsilons='inf' for smith-le-gap (quick): expected a finite number"),
        ("smith-le-gap", "max_examples_per_run=0", "max_examples_per_run must be >= 1 or none, got 0"),
        ("smith-le-gap", "max_examples_per_run=-5", "max_examples_per_run must be >= 1 or none, got -5"),
        ("smith-le-gap", "max_examples_per_run=10", "no run to train"),
        ("smith-le-gap", "momenta=0.9,0.9", "momenta must be one or more distinct values, got (0.9, 0.9)"),
        ("smith-le-gap", "train_sizes=10000000", "train_sizes must lie in [1, 60000]"),
        ("smith-le-gap", "eval_points=0", "eval_points must be >= 1 (the figure draws the test metrics"),
        ("smith-le-gradient-noise", "hidden_width=-3", "hidden_width must be >= 1, got -3"),
        ("smith-le-gradient-noise", "n_train=10000000", "n_train must be at most 60000"),
    ],
)
def test_a_value_the_spec_cannot_use_is_one_line_naming_the_setting_even_in_a_dry_run(
    tmp_path, name, assignment, message
):
    result = CliRunner().invoke(main, ["reproduce", name, "--set", assignment, "--dry-run", "--out", str(tmp_path)])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith("Error: ") and message in result.output
    key = assignment.split("=")[0]
    assert f"--set {assignment} for {name} (quick): " in result.output or f"setting {key}=" in result.output
    assert not (tmp_path / "store.sqlite").exists()


def test_set_help_lists_the_settings_with_their_values():
    result = CliRunner().invoke(main, ["reproduce", "smith-le-gap", "--scale", "paper", "--set", "help"])
    assert result.exit_code == 0
    assert "parameterisation" in result.output and "'calibrated'" in result.output
    assert "budget" in result.output and "10000" in result.output
    # the types say what --set takes (they read "(Literal)" and "(tuple)" before)
    assert "(one of 'calibrated', 'literal')" in result.output and "(comma-separated ints)" in result.output


def test_set_help_with_tiny_lists_the_values_the_tiny_run_uses():
    shown = {}
    for flags in ([], ["--tiny"]):
        result = CliRunner().invoke(main, ["reproduce", "smith-le-gap", *flags, "--set", "help"])
        assert result.exit_code == 0, result.output
        shown[bool(flags)] = {line.split()[0]: line.split()[1] for line in result.output.splitlines()[1:]}
    assert (shown[False]["budget"], shown[False]["dataset"]) == ("1000", "'mnist'")
    assert (shown[True]["budget"], shown[True]["dataset"]) == ("3", "'standin'")


def test_list_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys; from sgdnoise.cli import main; main(['list'], standalone_mode=False); "
    code += "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


def test_sigterm_stops_a_command_like_ctrl_c_with_the_resume_hint_and_the_handler_is_restored():
    """Before: SIGTERM (kill, a job scheduler's time limit) ended the process silently with exit 143."""
    from sgdnoise.cli import _user_errors

    @click.command()
    @_user_errors
    def terminated() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this

    before = signal.getsignal(signal.SIGTERM)
    result = CliRunner().invoke(terminated, [])
    assert result.exit_code == 130 and "interrupted: finished runs are saved" in result.output
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reproduce", "smith-le-gap", "--tiny", "--out", ""], "an empty path"),
        (["report", ""], "an empty path"),
        (["scoreboard", ""], "an empty path"),
        (["reproduce", "smith-le-gap", "--dry-run", "--data", ""], "give a path, or NAME=PATH with both parts"),
        (["reproduce", "smith-le-gap", "--dry-run", "--data", "=."], "give a path, or NAME=PATH with both parts"),
        (["reproduce", "smith-le-gap", "--dry-run", "--data", "mnist="], "give a path, or NAME=PATH with both parts"),
        (["reproduce", "smith-le-gap", "--dry-run", "--data", "foo=."], "unknown dataset 'foo'"),  # before content
    ],
)
def test_empty_paths_and_names_are_refused_not_taken_as_the_current_directory(tmp_path, monkeypatch, args, message):
    """Before, --out "" wrote the run into the current directory and --data =PATH dropped the empty name."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not any(tmp_path.iterdir())


def test_scale_overflow_is_one_line_without_a_numpy_warning():
    import warnings

    args = ["scale", "--lr", "1e308", "--batch-size", "128", "--train-size", "50000", "--new-batch-size", "256"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # before: "RuntimeWarning: overflow encountered in multiply" and its line
        result = CliRunner().invoke(main, [*args, "--solve-for", "lr"])
    assert result.exit_code == 2 and result.output.startswith("Error: no valid lr keeps"), result.output
