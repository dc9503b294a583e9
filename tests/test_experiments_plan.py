"""``--dry-run``: the plan counts what the spec says it will train, trains and stores nothing, and counts
runs already stored as done."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from sgdnoise import experiments
from sgdnoise.cli import main
from sgdnoise.experiments import configured_spec
from sgdnoise.experiments.plan import duration, plan_experiment
from sgdnoise.experiments.registry import get_experiment
from sgdnoise.experiments.spec import apply_overrides
from sgdnoise.store import Store

NAME = "smith-le-batch"
SETTINGS = {"dataset": "standin", "seeds": 2, "batch_sizes": (10, 20, 30), "budget": 50, "max_examples_per_run": None}


def spec():
    return apply_overrides(get_experiment(NAME).spec("quick"), SETTINGS)


def test_plan_counts_match_the_spec_and_stored_runs_count_as_done(tmp_path):
    chosen = spec()
    plan = plan_experiment(NAME, chosen, scale="quick", device=torch.device("cpu"), out_dir=tmp_path, time_steps=False)
    (sweep,) = plan.sweeps
    runs = len(chosen.batch_sizes) * chosen.seeds  # ε = 1: every run takes `budget` updates
    assert (sweep.runs, sweep.stored) == (runs, 0)
    assert sweep.steps == runs * chosen.budget
    assert sweep.examples == chosen.seeds * chosen.budget * sum(chosen.batch_sizes)
    (model,) = sweep.models
    assert model.forward_flops > 2 * 784 * 800  # at least the first layer's multiply-adds
    assert sweep.flops == 3 * model.forward_flops * sweep.examples
    assert sweep.seconds is None and plan.totals()["seconds"] is None  # not timed
    assert not (tmp_path / "store.sqlite").exists()

    experiments.reproduce(
        NAME, overrides=SETTINGS | {"batch_sizes": (10, 20)}, out_dir=tmp_path, device="cpu", executor="inline",
        show_progress=False,
    )  # fmt: skip
    again = plan_experiment(NAME, chosen, scale="quick", device=torch.device("cpu"), out_dir=tmp_path, time_steps=False)
    (sweep,) = again.sweeps
    assert (sweep.runs, sweep.stored) == (runs, 2 * chosen.seeds)  # the B = 10 and B = 20 runs are stored
    assert sweep.examples == chosen.seeds * chosen.budget * 30


def test_cli_dry_run_prints_the_plan_with_a_time_estimate(tmp_path):
    args = ["reproduce", NAME, "--dry-run", "--device", "cpu", "--out", str(tmp_path)]
    for key, value in SETTINGS.items():
        text = ",".join(map(str, value)) if isinstance(value, tuple) else "none" if value is None else str(value)
        args += ["--set", f"{key}={text}"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "6 runs (0 already stored)" in result.output and "300 steps, 6,000 examples" in result.output
    assert "timed at B=10, 30" in result.output and "~unknown" not in result.output
    assert not (tmp_path / "store.sqlite").exists()


def test_duration_reads_naturally():
    assert [duration(s) for s in (12.0, 600.0, 7200.0, None)] == ["12 s", "10 min", "2 h", "unknown"]


@pytest.mark.parametrize("name", ["smith-le-gap", "jastrzebski-breaking-point"])
def test_a_one_sweep_experiment_is_planned_whole(tmp_path, name):
    plan = plan_experiment(
        name, configured_spec(name, "quick", tiny=True), scale="quick", device=torch.device("cpu"), out_dir=tmp_path,
        time_steps=False,
    )  # fmt: skip
    assert plan.coverage == "every sweep" and len(plan.sweeps) == 1


def test_a_later_sweep_that_needs_results_is_named_as_not_estimated_until_the_results_are_stored(tmp_path):
    def plan():
        return plan_experiment(
            NAME, configured_spec(NAME, "quick", tiny=True), scale="quick", device=torch.device("cpu"),
            out_dir=tmp_path, time_steps=False,
        )  # fmt: skip

    before = plan()
    assert before.coverage.startswith("the first 1 sweep(s); planning stops where the experiment needs the results")
    assert "not estimated" in before.coverage and "Error" not in before.coverage
    experiments.reproduce(NAME, tiny=True, out_dir=tmp_path, device="cpu", executor="inline", show_progress=False)
    after = plan()  # every run stored: the experiment sees their results and asks for what follows (the lr = ε grid)
    assert after.coverage == "every sweep" and len(after.sweeps) == 2
    with Store(tmp_path / "store.sqlite") as store:
        assert after.totals()["runs"] == after.totals()["stored"] == len(store.runs("smith-le-sgd"))
