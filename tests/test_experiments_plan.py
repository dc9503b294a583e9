"""``--dry-run``: the plan counts what the spec says it will train, trains and stores nothing, and counts
runs already stored as done."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from sgdnoise import experiments
from sgdnoise.cli import main
from sgdnoise.experiments import configured_spec
from sgdnoise.experiments.plan import Plan, SweepPlan, _makespan, duration, plan_experiment, suite_lines
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


def _sweep(runs: int, stored: int, seconds: float | None) -> SweepPlan:
    return SweepPlan("s", runs, stored, 1, {"t": 10}, steps=100 * runs, examples=1000 * runs, flops=1e9 * runs,
                     seconds=seconds, models=[])  # fmt: skip


def test_reproduce_all_dry_run_ends_with_the_sum_over_experiments_and_names_the_partly_planned_ones():
    whole = Plan("a", "quick", "cpu", [_sweep(3, 1, 60.0), _sweep(2, 0, 60.0)])
    partial = Plan("b", "quick", "cpu", [_sweep(5, 0, 480.0)], coverage="the first 1 sweep(s); …")
    first, second = suite_lines([whole, partial])
    assert first.startswith("all 2 experiments: 10 runs (1 stored), 1,000 steps, 10,000 examples, 1e+10 FLOPs, ~10 min")
    assert second.endswith("so the total counts less than they will train: b")
    assert suite_lines([whole]) == [suite_lines([whole])[0]]  # every sweep planned: no caveat
    untimed = Plan("c", "quick", "cpu", [_sweep(1, 0, None)])
    assert "~unknown" in suite_lines([whole, untimed])[0]


def test_cli_reproduce_all_dry_run_prints_each_plan_then_the_grand_total(tmp_path):
    args = ["reproduce", "all", "--dry-run", "--tiny", "--device", "cpu", "--out", str(tmp_path)]
    result = CliRunner().invoke(main, [*args, "--only", "smith-le-gap", "--only", "jastrzebski-breaking-point"])
    assert result.exit_code == 0, result.output
    totals = [line for line in result.output.splitlines() if line.startswith("  total: ")]
    runs = sum(int(line.split()[1]) for line in totals)
    assert len(totals) == 2 and result.output.splitlines()[-1].startswith(f"all 2 experiments: {runs} runs")
    assert not any(tmp_path.iterdir())


def test_cli_reproduce_all_dry_run_plans_the_rest_when_one_experiments_data_is_missing(tmp_path, monkeypatch):
    """Before: the first experiment without its data (CIFAR-10 at paper scale) ended the whole plan with an error."""
    from sgdnoise.data.errors import DatasetNotFoundError
    from sgdnoise.experiments import plan

    planned = plan.plan_experiment

    def without_cifar(name, spec, **kwargs):
        if name == "smith-le-gap":
            raise DatasetNotFoundError("could not find the cifar10 dataset. Provide it in any one of these ways")
        return planned(name, spec, **kwargs)

    monkeypatch.setattr(plan, "plan_experiment", without_cifar)
    args = ["reproduce", "all", "--dry-run", "--tiny", "--device", "cpu", "--out", str(tmp_path)]
    result = CliRunner().invoke(main, [*args, "--only", "smith-le-gap", "--only", "jastrzebski-breaking-point"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "plan of smith-le-gap at scale quick: not planned: could not find the cifar10 dataset (--data PATH)" in lines
    assert any(line.startswith("the 1 experiment: ") for line in lines)
    assert "  1 not planned, their data not found here (give it with --data): smith-le-gap" in lines
    assert suite_lines([], ["a", "b"])[0] == "no experiment planned: 2 need data not found here"
    alone = CliRunner().invoke(main, ["reproduce", "smith-le-gap", "--dry-run", "--tiny", "--out", str(tmp_path)])
    assert alone.exit_code == 2 and alone.output.startswith("Error: could not find the cifar10 dataset")


@pytest.mark.parametrize(
    ("seconds", "threads", "workers", "wall"),
    [
        ([3.0, 1.0, 2.0], [1, 1, 1], 2, 3.0),  # 3 on one worker; 1 then 2 on the other
        ([2.0, 2.0, 2.0], [1, 1, 1], 2, 4.0),
        ([3.0, 1.0, 2.0], [1, 1, 1], 1, 6.0),  # one worker: one after another
        ([3.0, 1.0], [2, 1], 2, 4.0),  # an all-core job leaves no thread for the next
        ([1.0, 3.0, 1.0], [1, 2, 1], 2, 5.0),  # the 2-thread job waits for the first to end
        ([], [], 2, 0.0),
    ],
)
def test_jobs_are_scheduled_as_the_process_pool_runs_them(seconds, threads, workers, wall):
    assert _makespan(seconds, threads, workers, budget=2) == wall


def test_the_estimate_is_the_engine_timed_jobs_scheduled_on_the_workers(tmp_path, monkeypatch):
    """Every update timed at 10 ms (at B = 10 and 30: a + b·B with b = 0) and every evaluation at 100 ms: the
    six one-run jobs (B = 10, 20, 30 × 2
    seeds; 50 updates and 12 evaluations each) run side by side on 2 workers, so the sweep takes three jobs'
    time."""
    import sgdnoise.engine

    timed = []

    def fake_time_group(configs, task, batch_sizes, **options):
        timed.append((len(configs), tuple(batch_sizes), options["num_threads"]))
        return [0.01] * len(batch_sizes), 0.1

    monkeypatch.setattr(sgdnoise.engine, "time_group", fake_time_group)
    monkeypatch.setattr(sgdnoise.engine, "time_measurements", lambda config, task, measurements, **_: {})
    monkeypatch.setattr("sgdnoise.sweep.planning.available_cores", lambda: 2)
    plan = plan_experiment(NAME, spec(), scale="quick", device=torch.device("cpu"), out_dir=tmp_path)
    (sweep,) = plan.sweeps
    assert sweep.groups == 6 and timed == [(1, (10, 30), 1)]  # one kind of group, timed at its batch range
    assert sweep.seconds == pytest.approx(3 * (50 * 0.01 + 12 * 0.1))
    inline = plan_experiment(
        NAME, spec(), scale="quick", device=torch.device("cpu"), out_dir=tmp_path, executor="inline"
    )
    assert inline.sweeps[0].seconds == pytest.approx(6 * (50 * 0.01 + 12 * 0.1))  # --executor inline: one by one
    monkeypatch.setattr("sgdnoise.sweep.planning.available_cores", lambda: 1)
    one_core = plan_experiment(NAME, spec(), scale="quick", device=torch.device("cpu"), out_dir=tmp_path)
    assert one_core.sweeps[0].seconds == pytest.approx(6 * (50 * 0.01 + 12 * 0.1))  # one after another


def test_a_group_counts_its_runs_probes_at_their_steps_and_final_measurements():
    from sgdnoise.engine import Probe, TrainConfig, plan_steps
    from sgdnoise.experiments.plan import ModelCost
    from sgdnoise.measurements import HessianNorm, LambdaMax
    from sgdnoise.models import MLPSpec

    final, along, start = LambdaMax(), HessianNorm(), HessianNorm(name="hessian_at_start")
    probes = (Probe(along, every_epochs=1.0), Probe(start, steps=(0, 10, 1000)))  # epochs 0–4: 5; steps 0, 10: 2
    plan = plan_steps(TrainConfig(MLPSpec(4, (3,), 2), 0.1, 10, epochs=4.0, eval_points=3), 100)
    assert plan.total_steps == 40 and len(probes[0].schedule(plan.epochs)) == 5
    seconds = {final.name: 7.0, along.name: 0.5, start.name: 2.0}
    cost = ModelCost("mlp", "train", 17, 1.0, 3, 1, (0.01, 0.001), 0.2, (10,), seconds)
    training = 40 * 0.01 + 400 * 0.001 + 0.2 * len(plan.eval_steps)
    assert cost.group_seconds(plan) == pytest.approx(training)
    assert cost.group_seconds(plan, probes, [final]) == pytest.approx(training + 3 * (7.0 + 5 * 0.5 + 2 * 2.0))
    untimed = ModelCost("mlp", "train", 17, 1.0, 3, 1, None, None, (), why="not timed")
    assert untimed.group_seconds(plan, probes, [final]) is None
