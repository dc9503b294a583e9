"""``reproduce all``: selection by name or paper, failures recorded while the rest go on, resumption that
trains nothing twice, and the scoreboard written at the end — on real tiny runs."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from sgdnoise import experiments, report, scoreboard
from sgdnoise.cli import main
from sgdnoise.engine import train as engine_train
from sgdnoise.experiments import reproduce
from sgdnoise.experiments.base import RunsFailedError
from sgdnoise.experiments.registry import entries, entry, get_experiment
from sgdnoise.experiments.suite import (
    FAILURE_FILE,
    is_complete,
    read_failure,
    read_selection,
    reproduce_all,
    select,
)
from sgdnoise.results import DirectoryInUse, claimed_directory
from sgdnoise.store import Store

FIRST, SECOND = "smith-le-batch", "smith-le-gradient-noise"  # the two fastest tiny runs
OPTIONS = {"device": "cpu", "executor": "inline", "show_progress": False}


def tiny(name: str) -> dict:
    return dict(get_experiment(name).tiny["quick"])


def names(selected) -> list[str]:
    return [e.name for e in selected]


def test_select_takes_names_and_papers():
    jastrzebski = [e.name for e in entries() if ".jastrzebski_2018." in e.module]
    assert jastrzebski and names(select(["jastrzebski"])) == jastrzebski
    assert names(select(["sed"])) == names(select(["smith-elsen-de-2020"])) == names(select(["smith_elsen_de_2020"]))
    smith_le = names(select(["smith-le"], skip=[FIRST]))
    assert FIRST not in smith_le and SECOND in smith_le and all(n.startswith("smith-le-") for n in smith_le)
    assert names(select([FIRST, "jastrzebski"])) == [FIRST, *jastrzebski]
    assert names(select()) == [e.name for e in entries()]
    with pytest.raises(ValueError, match=r"'jastrzebsky' is neither an experiment .* nor a paper"):
        select(["jastrzebsky"])


def test_cli_rejects_selection_mistakes_in_one_line():
    runner = CliRunner()
    unknown = runner.invoke(main, ["reproduce", "all", "--only", "nobody"])
    assert unknown.exit_code == 2 and len(unknown.output.strip().splitlines()) == 1 and "nobody" in unknown.output
    misplaced = runner.invoke(main, ["reproduce", FIRST, "--only", "sed"])
    assert misplaced.exit_code == 2 and "use them with `reproduce all`" in misplaced.output
    nothing = runner.invoke(main, ["reproduce", "all", "--only", "sed", "--skip", "sed"])
    assert nothing.exit_code == 2 and "leave no experiment" in nothing.output


def count_store_writes(monkeypatch) -> list[str]:
    """Record which store each trained run (``put``) or measurement is written to."""
    writes: list[str] = []
    for method in ("put", "add_measurements"):
        original = getattr(Store, method)

        def counted(store, *args, _original=original, **kwargs):
            writes.append(str(store.path))
            return _original(store, *args, **kwargs)

        monkeypatch.setattr(Store, method, counted)
    return writes


def test_failure_is_recorded_the_rest_go_on_and_reruns_train_only_what_is_missing(tmp_path, monkeypatch):
    selected = [entry(FIRST), entry(SECOND)]
    broken = {FIRST: tiny(FIRST), SECOND: tiny(SECOND) | {"n_repeats": 0}}  # the spec refuses 0 repeats
    first = reproduce_all(selected, tmp_path, scale="quick", overrides=broken, **OPTIONS)
    assert [(o.name, o.status) for o in first] == [(FIRST, "ran"), (SECOND, "failed")]
    assert "n_repeats" in first[1].error
    failure = read_failure(tmp_path / SECOND)
    assert failure["experiment"] == SECOND and "Traceback" in failure["traceback"] and failure["wall_seconds"] >= 0

    board = scoreboard.write(tmp_path, [FIRST, SECOND])
    failed_rows = [r for r in board["claims"] if r["experiment"] == SECOND]
    assert len(failed_rows) == len(get_experiment(SECOND).claims)
    assert all(r["verdict"] == "not checked" and "n_repeats" in r["note"] for r in failed_rows)

    writes = count_store_writes(monkeypatch)
    fixed = {FIRST: tiny(FIRST), SECOND: tiny(SECOND)}
    second = reproduce_all(selected, tmp_path, scale="quick", overrides=fixed, **OPTIONS)
    assert [(o.name, o.status) for o in second] == [(FIRST, "skipped"), (SECOND, "ran")]
    assert writes and all(SECOND in path for path in writes), "the complete experiment was trained again"
    assert not (tmp_path / SECOND / FAILURE_FILE).exists()
    resumed = report.read_summary(tmp_path / SECOND)  # its wall time adds the failed call's
    assert resumed["wall_seconds_covers"].endswith(": the previous failure.json)")
    assert resumed["wall_seconds"] >= failure["wall_seconds"]

    # killed after its runs were stored but before summary.json: the rerun reads them back, trains nothing
    (tmp_path / SECOND / report.SUMMARY_FILE).unlink()
    writes.clear()
    third = reproduce_all(selected, tmp_path, scale="quick", overrides=fixed, **OPTIONS)
    assert [(o.name, o.status) for o in third] == [(FIRST, "skipped"), (SECOND, "ran")]
    assert writes == [] and (tmp_path / SECOND / report.SUMMARY_FILE).is_file()
    assert not is_complete(tmp_path / FIRST, FIRST, "quick", 1, fixed[FIRST]), "another seed is another run"
    assert not is_complete(tmp_path / FIRST, FIRST, "paper", 0, fixed[FIRST])
    assert is_complete(tmp_path / FIRST, FIRST, "quick", 0, fixed[FIRST])


def test_the_selection_is_recorded_before_anything_runs_and_each_call_adds_to_it(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiments, "reproduce", interrupted)  # every call stops in its first experiment
    with pytest.raises(KeyboardInterrupt):
        reproduce_all([entry(SECOND), entry(FIRST)], tmp_path, scale="quick", tiny=True, **OPTIONS)
    first = {"scale": "quick", "seed": 0, "tiny": True}
    assert read_selection(tmp_path) == {SECOND: first, FIRST: first}
    assert not (tmp_path / FIRST).exists() and not (tmp_path / SECOND).exists()

    # a later call into the same directory: the union, with the latest settings of an experiment selected again
    with pytest.raises(KeyboardInterrupt):
        reproduce_all([entry(FIRST), entry("smith-le-gap")], tmp_path, scale="paper", **OPTIONS | {"seed": 1})
    latest = {"scale": "paper", "seed": 1, "tiny": False}
    assert read_selection(tmp_path) == {SECOND: first, FIRST: latest, "smith-le-gap": latest}
    board = scoreboard.build(tmp_path)
    held = [e.name for e in entries() if e.name in {FIRST, SECOND, "smith-le-gap"}]
    assert [(e["name"], e["status"]) for e in board["experiments"]] == [(name, "not run") for name in held]
    assert board["totals"]["overall"]["not checked"] == board["totals"]["overall"]["total"]


def test_cli_reproduce_all_writes_the_scoreboard_and_reports_failures(tmp_path):
    result = CliRunner().invoke(
        main,
        ["reproduce", "all", "--tiny", "--only", FIRST, "--out", str(tmp_path), "--executor", "inline", "--quiet"],
    )
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / scoreboard.SCOREBOARD_JSON).read_text())
    assert [e["name"] for e in document["experiments"]] == [FIRST]
    assert scoreboard.totals_line(document["totals"]["overall"]) in result.output
    assert (tmp_path / scoreboard.SCOREBOARD_HTML).is_file()
    rebuilt = CliRunner().invoke(main, ["scoreboard", str(tmp_path)])
    assert rebuilt.exit_code == 0 and scoreboard.totals_line(document["totals"]["overall"]) in rebuilt.output

    # a --tiny run says so everywhere, and its verdicts are not counted as the papers'
    summary = report.read_summary(tmp_path / FIRST)
    assert summary["tiny"] is True and summary["overrides"] == {} and summary["settings"]["dataset"] == "standin"
    assert is_complete(tmp_path / FIRST, FIRST, "quick", 0, {}, tiny=True)
    assert not is_complete(tmp_path / FIRST, FIRST, "quick", 0, {})
    rows = [r for r in document["claims"] if r["experiment"] == FIRST]
    assert rows and all(r["verdict"] == "not checked" and r["scale"] == "quick --tiny" for r in rows)
    recorded = [c["verdict"] for c in summary["claims"]]
    assert [r["note"] for r in rows] == [f"{report.TINY_NOTE} (it says {verdict})" for verdict in recorded]
    assert document["totals"]["overall"]["not checked"] == document["totals"]["overall"]["total"]
    shown = CliRunner().invoke(main, ["report", str(tmp_path / FIRST)])
    assert shown.exit_code == 0 and "scale=quick --tiny" in shown.output and report.TINY_NOTE in shown.output
    assert report.TINY_NOTE in (tmp_path / FIRST / report.REPORT_FILE).read_text()


def test_summary_records_parsed_overrides_and_an_older_summary_of_raw_strings_still_counts_as_complete(tmp_path):
    assigned = {key: str(value) for key, value in tiny(SECOND).items()}  # what --set hands over
    summary = reproduce(SECOND, overrides=assigned, out_dir=tmp_path, **OPTIONS)
    assert summary["overrides"] == report.read_summary(tmp_path)["overrides"] == tiny(SECOND)
    assert summary["overrides"]["n_repeats"] == summary["settings"]["n_repeats"] == 2
    assert is_complete(tmp_path, SECOND, "quick", 0, assigned)
    assert is_complete(tmp_path, SECOND, "quick", 0, tiny(SECOND))

    older = json.loads((tmp_path / report.SUMMARY_FILE).read_text()) | {"overrides": assigned}
    (tmp_path / report.SUMMARY_FILE).write_text(json.dumps(older))
    (tmp_path / report.REPORT_FILE).touch()  # drawn after the summary, as a finished call leaves them
    assert is_complete(tmp_path, SECOND, "quick", 0, tiny(SECOND))
    assert not is_complete(tmp_path, SECOND, "quick", 0, tiny(SECOND) | {"n_repeats": 3})
    (tmp_path / report.SUMMARY_FILE).write_text(json.dumps(older | {"overrides": {"renamed_since": "1"}}))
    (tmp_path / report.REPORT_FILE).touch()
    assert not is_complete(tmp_path, SECOND, "quick", 0, tiny(SECOND))


def test_a_call_killed_between_its_summary_and_its_report_is_not_complete_and_a_rerun_draws_it(tmp_path):
    """Before: summary.json alone made an experiment complete, so a call killed while drawing left a missing
    report, or the report of an earlier seed beside a later seed's summary, that every rerun skipped."""
    selected = [entry(SECOND)]
    reproduce_all(selected, tmp_path, scale="quick", tiny=True, **OPTIONS)
    target = tmp_path / SECOND
    page, summary = target / report.REPORT_FILE, target / report.SUMMARY_FILE
    assert is_complete(target, SECOND, "quick", 0, {}, tiny=True)
    older = summary.stat().st_mtime_ns - 60 * 10**9
    os.utime(page, ns=(older, older))  # a copy of the directory, its files' times in any order: complete
    assert is_complete(target, SECOND, "quick", 0, {}, tiny=True)
    finished = report.read_summary(target)["environment"]["finished_at"]
    page.write_text(page.read_text().replace(finished, "2026-01-01T00:00:00+00:00"))  # an earlier call's report
    assert not is_complete(target, SECOND, "quick", 0, {}, tiny=True)
    page.unlink()
    assert not is_complete(target, SECOND, "quick", 0, {}, tiny=True)
    rerun = reproduce_all(selected, tmp_path, scale="quick", tiny=True, **OPTIONS)
    assert [o.status for o in rerun] == ["ran"] and page.is_file()
    assert page.stat().st_mtime_ns >= summary.stat().st_mtime_ns


def test_a_successful_reproduce_removes_an_earlier_failure(tmp_path):
    """Before: only ``reproduce all`` removed failure.json, so after a failed ``all`` and a good ``reproduce
    NAME`` the scoreboard still said failed beside the fresh summary."""
    (tmp_path / FAILURE_FILE).write_text(json.dumps({"experiment": SECOND, "reason": "ValueError: earlier"}))
    reproduce(SECOND, tiny=True, out_dir=tmp_path, **OPTIONS)
    assert not (tmp_path / FAILURE_FILE).exists() and is_complete(tmp_path, SECOND, "quick", 0, {}, tiny=True)


def test_when_every_run_fails_the_error_names_how_many_and_the_first_ones_error(tmp_path, monkeypatch):
    class BrokenMLP:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("the model is broken")

    monkeypatch.setattr(engine_train, "StackedMLP", BrokenMLP)  # every run of an MLP group fails in the engine
    message = r"^2 of 2 runs failed \(the store keeps .*; the first: RuntimeError: the model is broken$"
    with pytest.raises(RunsFailedError, match=message):  # smith-le-gap's analysis copes: the all-failed check speaks
        reproduce("smith-le-gap", tiny=True, out_dir=tmp_path / "gap", **OPTIONS)
    assert not (tmp_path / "gap" / report.SUMMARY_FILE).exists()

    # smith-le-batch's grid extension raises on the failed runs' NaN scores: the error names the runs instead
    (outcome,) = reproduce_all([entry(FIRST)], tmp_path, scale="quick", tiny=True, **OPTIONS)
    assert outcome.status == "failed" and outcome.error.startswith("RunsFailedError: 6 of 6 runs failed")
    assert read_failure(tmp_path / FIRST)["error"].endswith("the first: RuntimeError: the model is broken")
    with Store(tmp_path / FIRST / "store.sqlite") as store:
        assert {run.error for run in store.runs("smith-le-sgd")} == {"RuntimeError: the model is broken"}


def test_wall_seconds_add_up_over_calls_and_a_rerun_that_trains_nothing_keeps_them(tmp_path):
    name = "smith-le-gap"
    first = reproduce(name, tiny=True, out_dir=tmp_path, **OPTIONS)
    assert first["wall_seconds"] > 0 and first["wall_seconds_covers"] == "this call"
    again = reproduce(name, tiny=True, out_dir=tmp_path, **OPTIONS)  # trains nothing
    assert again["wall_seconds"] >= first["wall_seconds"]
    assert again["wall_seconds_covers"].endswith(f"({first['wall_seconds']:.1f} s: the previous summary.json)")

    # a call killed (kill -9) before writing its summary: the store's training seconds stand in for it
    (tmp_path / report.SUMMARY_FILE).unlink()
    with Store(tmp_path / "store.sqlite") as store:
        trained = [run.seconds for run in store.runs("smith-le-sgd")]
    resumed = reproduce(name, tiny=True, out_dir=tmp_path, **OPTIONS)
    assert len(trained) == 2 and resumed["wall_seconds"] >= sum(trained) > 0
    assert resumed["wall_seconds_covers"].endswith(
        f"({sum(trained):.1f} s: the training time the store recorded for the 2 runs this call found done)"
    )

    # the same directory at another seed: the summary there is seed 0's, so this call counts only its own time
    other_seed = reproduce(name, tiny=True, out_dir=tmp_path, **OPTIONS | {"seed": 1})
    assert other_seed["wall_seconds_covers"] == "this call"


def test_a_directory_another_process_holds_is_refused_at_once_and_recorded_as_no_failure(tmp_path):
    """Before: two processes on one --out each trained every run (the loser's results dropped) and the summary
    counted the time twice; a second `reproduce all` would have written failure.json into the first's work."""
    target = tmp_path / SECOND
    target.mkdir()
    with claimed_directory(target):  # as another process would (flock: another open file conflicts)
        with pytest.raises(DirectoryInUse, match=rf"{target} is in use by sgdnoise process \d+: wait for it"):
            reproduce(SECOND, tiny=True, out_dir=target, **OPTIONS)
        with pytest.raises(DirectoryInUse):
            reproduce_all([entry(SECOND)], tmp_path, scale="quick", tiny=True, **OPTIONS)
        assert not (target / FAILURE_FILE).exists() and not (target / "store.sqlite").exists()
        result = CliRunner().invoke(main, ["reproduce", SECOND, "--tiny", "--out", str(target), "--quiet"])
        assert result.exit_code == 2 and result.output.count("\n") == 1 and "is in use by" in result.output
    with claimed_directory(tmp_path):
        cli = CliRunner().invoke(main, ["reproduce", "all", "--tiny", "--only", SECOND, "--out", str(tmp_path)])
        assert cli.exit_code == 2 and "is in use by" in cli.output
    reproduce(SECOND, tiny=True, out_dir=target, **OPTIONS)  # released: the next call works
    assert is_complete(target, SECOND, "quick", 0, {}, tiny=True)


@pytest.mark.parametrize("content", ["[1]", '"text"'])
def test_a_failure_json_that_holds_no_record_is_read_as_unreadable(tmp_path, content):
    """Before: AttributeError tracebacks from the scoreboard and from reproduce all's failure handler."""
    (tmp_path / SECOND).mkdir()
    (tmp_path / SECOND / FAILURE_FILE).write_text(content)
    assert read_failure(tmp_path / SECOND) == {"error": f"{tmp_path / SECOND / FAILURE_FILE} holds no failure record"}
    board = scoreboard.build(tmp_path)
    assert [(e["name"], e["status"]) for e in board["experiments"]] == [(SECOND, "failed")]
    assert [o.status for o in reproduce_all([entry(SECOND)], tmp_path, scale="quick", tiny=True, **OPTIONS)] == ["ran"]


def test_a_file_system_without_flock_runs_unguarded_with_a_warning(tmp_path, monkeypatch):
    """Before: an OSError traceback (ENOLCK, ENOSYS on some NFS, CIFS or Lustre mounts) where it had worked."""
    import errno
    import fcntl

    def no_locks(handle, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.warns(RuntimeWarning, match="cannot be locked \\(No locks available\\)"):
        with claimed_directory(tmp_path):
            (tmp_path / "written").write_text("ok")
    assert (tmp_path / "written").read_text() == "ok"


def test_a_summary_from_before_the_eq4_split_redraws(tmp_path):
    """The figure's n* line reads the older key critical_noise_eq4 (the same value) instead of a KeyError."""
    summary = reproduce("jastrzebski-equilibrium", tiny=True, out_dir=tmp_path, **OPTIONS)
    for dim in (1, 2):
        sweep = summary["data"][f"occupation_{dim}d"]
        sweep["critical_noise_eq4"] = sweep.pop("critical_noise_ratio")
        del sweep["critical_noise_eq4_printed"]
    assert experiments.render(tmp_path, summary)


def test_a_claim_whose_check_changed_is_checked_again_from_the_store(tmp_path, monkeypatch):
    """Before, completeness compared only ids, statements and kinds, so a fixed check (same words, new code)
    left the old verdict on the scoreboard; now the summary must record what today's checks give on its data."""
    import dataclasses

    from sgdnoise.experiments import suite
    from sgdnoise.experiments.claims import Verdict

    selected = [entry(SECOND)]
    reproduce_all(selected, tmp_path, scale="quick", tiny=True, **OPTIONS)
    target = tmp_path / SECOND
    assert is_complete(target, SECOND, "quick", 0, {}, tiny=True)
    experiment = get_experiment(SECOND)
    first, *rest = experiment.claims
    changed = dataclasses.replace(first, check=lambda data: Verdict("inconclusive", None, "a changed check"))
    monkeypatch.setattr(suite, "get_experiment", lambda name: dataclasses.replace(experiment, claims=(changed, *rest)))
    assert not is_complete(target, SECOND, "quick", 0, {}, tiny=True)
    monkeypatch.setattr(suite, "get_experiment", lambda name: dataclasses.replace(experiment, claims=()))
    assert not is_complete(target, SECOND, "quick", 0, {}, tiny=True)  # a claim removed

    def broken(data):
        raise KeyError("a check that cannot read the data")

    broken_claim = dataclasses.replace(first, check=broken)
    monkeypatch.setattr(suite, "get_experiment", lambda name: dataclasses.replace(experiment, claims=(broken_claim,)))
    assert not is_complete(target, SECOND, "quick", 0, {}, tiny=True)
    # a check that cannot read the JSON copy of the data falls back to the declarations (no re-run on every call)
    same_words = (broken_claim, *rest)
    monkeypatch.setattr(suite, "get_experiment", lambda name: dataclasses.replace(experiment, claims=same_words))
    assert is_complete(target, SECOND, "quick", 0, {}, tiny=True)
    monkeypatch.undo()
    trained = []
    monkeypatch.setattr(engine_train, "train_group", lambda *a, **k: trained.append(1))
    rerun = reproduce_all(selected, tmp_path, scale="quick", tiny=True, **OPTIONS)
    assert [o.status for o in rerun] == ["skipped"] and not trained


def test_one_experiment_into_another_ones_directory_is_refused(tmp_path):
    """Before, it overwrote the summary and report, kept the other's figures and added its wall time."""
    reproduce(SECOND, out_dir=tmp_path, tiny=True, **OPTIONS)
    with pytest.raises(ValueError, match=f"holds the results of {SECOND} .*, not {FIRST}: give --out another"):
        reproduce(FIRST, out_dir=tmp_path, tiny=True, **OPTIONS)
    assert report.read_summary(tmp_path)["experiment"] == SECOND


def test_the_cli_refuses_a_held_directory_before_it_builds_anything(tmp_path, monkeypatch):
    """Before, the refusal came after the experiment's imports and spec (5 s on a busy 2-core machine)."""
    from sgdnoise.results import refuse_if_in_use

    def too_far(*args, **kwargs):
        raise AssertionError("the spec was built before the directory was checked")

    monkeypatch.setattr(experiments, "configured_spec", too_far)
    refuse_if_in_use(tmp_path)  # no lock file yet: nothing to refuse
    with claimed_directory(tmp_path):
        with pytest.raises(DirectoryInUse, match=r"is in use by sgdnoise process \d+"):
            refuse_if_in_use(tmp_path)
        result = CliRunner().invoke(main, ["reproduce", SECOND, "--tiny", "--out", str(tmp_path)])
        assert result.exit_code == 2 and "is in use by sgdnoise process" in result.output, result.output
    refuse_if_in_use(tmp_path)  # released


def test_another_commands_quick_probe_does_not_make_a_claim_fail(tmp_path):
    """refuse_if_in_use holds a shared lock for an instant; a claim starting then waits it out instead of naming
    a stale holder."""
    import fcntl
    import threading

    (tmp_path / ".sgdnoise.lock").write_text("sgdnoise process 1")
    probe = open(tmp_path / ".sgdnoise.lock")  # closed by the timer below: the probe lets go
    fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
    timer = threading.Timer(0.03, probe.close)
    timer.start()
    with claimed_directory(tmp_path):
        pass
    timer.join()
