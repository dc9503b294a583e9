import functools
import json
import sqlite3

import numpy as np
import pytest

from sgdnoise import experiments
from sgdnoise.experiments import smith_le_sgd as sl

NAMES = (
    "smith-le-gap",
    "smith-le-batch",
    "smith-le-scaling-lr",
    "smith-le-scaling-n",
    "smith-le-scaling-momentum",
    "smith-le-l2",
)


def _curve(accuracy, *, x=1.0, status=None, steps=1000, l2_lambda=0.0, label="c"):
    accuracy = [list(row) for row in accuracy]
    if status is None:
        status = [["finished" if v is not None else "diverged" for v in row] for row in accuracy]
    return {
        "accuracy": accuracy,
        "status": status,
        "x": x,
        "steps": steps,
        "l2_lambda": l2_lambda,
        "l2": l2_lambda / 1000,
        "label": label,
    }


def _peaked(batch_sizes, peak, seeds=3, noise=0.0005, rng=None):
    """Accuracy curves [seed][B] peaking at ``peak`` (a Gaussian bump in log B) with small seed noise."""
    rng = rng or np.random.default_rng(0)
    logb = np.log(np.asarray(batch_sizes, float))
    base = 0.9 - 0.005 * (logb - np.log(peak)) ** 2
    return (base + noise * rng.standard_normal((seeds, len(batch_sizes)))).tolist()


GRID = (1, 3, 10, 30, 100, 300, 1000, 3000)


# ---------------------------------------------------------------------------------------------- specs


@pytest.mark.parametrize("name", NAMES)
def test_every_experiment_is_registered_with_both_scales(name):
    experiment = experiments.get_experiment(name)
    assert experiment.name == name
    for scale in ("quick", "paper"):
        spec = experiment.spec(scale)
        assert isinstance(spec, sl.SGDSweepSpec)
        assert spec.parameterisation == "calibrated"
        assert set(spec.batch_sizes) <= set(range(1, 10_001))
        assert all(0.0 <= m < 1.0 for m in spec.momenta)


def test_paper_scale_uses_the_papers_budget_and_grids():
    for name in NAMES:
        assert experiments.get_experiment(name).spec("paper").budget == 10_000
    lr = experiments.get_experiment("smith-le-scaling-lr").spec("paper")
    assert [lr.steps(e) for e in lr.epsilons] == [round(10_000 / e) for e in lr.epsilons]
    assert lr.max_examples_per_run is None
    assert experiments.get_experiment("smith-le-batch").spec("paper").batch_sizes == (1, 3, 10, 30, 100, 300, 1000)
    assert max(experiments.get_experiment("smith-le-scaling-n").spec("paper").train_sizes) == 60_000
    assert experiments.get_experiment("smith-le-scaling-n").spec("paper").fit_min_x == 20_000


def test_quick_grids_are_subsets_of_sensible_ranges():
    quick_lr = experiments.get_experiment("smith-le-scaling-lr").spec("quick")
    assert [quick_lr.steps(e) for e in quick_lr.epsilons] == [round(1000 / e) for e in quick_lr.epsilons]
    assert set(quick_lr.epsilons) <= {0.1, 0.3, 1.0, 3.0, 10.0}
    assert set(experiments.get_experiment("smith-le-batch").spec("quick").batch_sizes) == {1, 3, 10, 30, 100, 300, 1000}
    assert all(1000 <= n <= 60_000 for n in experiments.get_experiment("smith-le-scaling-n").spec("quick").train_sizes)
    for name in NAMES:
        quick, paper = experiments.get_experiment(name).spec("quick"), experiments.get_experiment(name).spec("paper")
        assert quick.budget <= paper.budget and quick.seeds >= 2


def test_learning_rate_and_l2_follow_the_parameterisation():
    spec = experiments.get_experiment("smith-le-l2").spec("quick")
    assert spec.learning_rate(1.0) == pytest.approx(0.1)
    literal = sl.SGDSweepSpec(batch_sizes=(30,), seeds=1, budget=10, parameterisation="literal")
    assert literal.learning_rate(3.0) == pytest.approx(3.0)
    config = sl._train_config(spec, 1.0, 1000, 0.9, 0.1, 30, seed=0)
    assert config.l2 == pytest.approx(1e-3) and config.momentum == 0.9 and config.steps == 1000
    assert literal.weight_decay(0.1, 1000) == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="parameterisation"):
        sl.SGDSweepSpec(batch_sizes=(30,), seeds=1, budget=10, parameterisation="damped")
    with pytest.raises(ValueError, match="batch_sizes"):
        sl.SGDSweepSpec(batch_sizes=(30, 10), seeds=1, budget=10)


def test_runs_beyond_the_example_cap_or_the_training_set_are_skipped():
    spec = sl.SGDSweepSpec(batch_sizes=(300, 1000), seeds=1, budget=1000, max_examples_per_run=1_000_000)
    assert spec.runs_batch(0.3, 1000, 300) and not spec.runs_batch(0.3, 1000, 1000)
    assert spec.runs_batch(1.0, 1000, 1000) and not spec.runs_batch(1.0, 500, 1000)


# ---------------------------------------------------------------------------------------------- claims


def test_batch_claims_find_an_interior_peak_and_failing_small_batches():
    batch_sizes = (1, 3, 10, 30, 100, 300, 1000)
    acc = np.array(_peaked(batch_sizes, 30))
    acc[:, :2] = 0.1  # B = 1, 3 fail
    claims, optimum = sl.check_batch_claims(_curve(acc), batch_sizes)
    by_id = {c.id: c for c in claims}
    assert by_id["fig4/peak-interior"].holds and optimum["value"] == 30
    assert by_id["fig4/small-batches-fail"].holds
    assert by_id["fig4/small-batches-fail"].value == {"1": pytest.approx(0.1), "3": pytest.approx(0.1)}

    acc = np.array(_peaked(batch_sizes, 5000))  # monotone: optimum at the right edge
    claims, optimum = sl.check_batch_claims(_curve(acc), batch_sizes)
    by_id = {c.id: c for c in claims}
    assert not by_id["fig4/peak-interior"].holds and optimum["value"] == 1000
    assert not by_id["fig4/small-batches-fail"].holds  # B = 1, 3 reach ~0.8


def test_a_diverged_small_batch_counts_as_failing():
    batch_sizes = (3, 30, 300)
    curve = _curve([[None, 0.91, 0.89], [0.2, 0.90, 0.88]])
    assert sl.final_accuracy(curve, 3, batch_sizes) == pytest.approx(0.15)
    claims, _ = sl.check_batch_claims(curve, batch_sizes)
    assert {c.id: c.holds for c in claims} == {"fig4/peak-interior": True, "fig4/small-batches-fail": True}


def test_gap_and_l2_claims_compare_final_accuracies():
    batch_sizes = (30, 1000)
    plain = _curve([[0.91, 0.89], [0.91, 0.90]])
    regularised = _curve([[0.92, 0.915], [0.92, 0.915]], l2_lambda=0.1)
    gap = sl.check_gap_claim("fig3", plain, batch_sizes)
    assert gap.holds and gap.value["gap"] == pytest.approx(0.015)
    l2 = sl.check_l2_claim(regularised, plain, batch_sizes)
    assert l2.holds
    assert l2.value["gap_with_l2"] == pytest.approx(0.005) and l2.value["gap_without_l2"] == pytest.approx(0.015)
    assert not sl.check_l2_claim(plain, regularised, batch_sizes).holds
    assert not sl.check_gap_claim("fig3", _curve([[0.88, 0.9]]), batch_sizes).holds


def test_scaling_claims_recover_a_linear_law():
    rng = np.random.default_rng(1)
    x = [0.3, 1.0, 3.0]  # optima at 10, 30, 100 (×√10 steps: on the grid up to rounding)
    curves = [_curve(_peaked(GRID, 30 * xi, rng=rng), x=xi) for xi in x]
    claims, data = sl.check_scaling_claims(
        "fig5", "ε", curves, GRID, require_paper_exponent_in_ci=True, n_bootstrap=200
    )
    by_id = {c.id: c for c in claims}
    assert by_id["fig5/bopt-grows"].holds
    assert by_id["fig5/bopt-grows"].value["B_opt"] == [10.0, 30.0, 100.0]
    exponent = by_id["fig5/exponent"]
    assert exponent.holds and exponent.value["k"] == pytest.approx(np.log(10) / np.log(10), abs=0.01)
    assert exponent.value["paper_k_in_ci"]
    assert data["fit"]["slope"] == pytest.approx(exponent.value["k"])


def test_scaling_claims_fail_for_a_pinned_optimum_and_drop_edge_curves():
    rng = np.random.default_rng(2)
    pinned = [_curve(_peaked(GRID, 30, rng=rng), x=xi) for xi in (250.0, 1000.0, 4000.0)]
    claims, _ = sl.check_scaling_claims("fig6", "N", pinned, GRID, n_bootstrap=50)
    by_id = {c.id: c for c in claims}
    assert not by_id["fig6/bopt-grows"].holds
    assert not by_id["fig6/exponent"].holds and by_id["fig6/exponent"].value["k"] == pytest.approx(0.0, abs=0.02)

    edge = [_curve(_peaked(GRID, 30, rng=rng), x=1.0), _curve(_peaked(GRID, 1e5, rng=rng), x=10.0)]
    claims, data = sl.check_scaling_claims("fig5", "ε", edge, GRID, n_bootstrap=50)
    by_id = {c.id: c for c in claims}
    assert by_id["fig5/bopt-grows"].holds and "edge" in by_id["fig5/bopt-grows"].note
    assert not by_id["fig5/exponent"].holds and "no exponent" in by_id["fig5/exponent"].note
    assert data["fit"] is None and data["fit_indices"] == [0]


def test_an_optimum_just_before_skipped_batch_sizes_counts_as_an_edge():
    rng = np.random.default_rng(3)
    acc = np.array(_peaked(GRID, 3000, rng=rng))
    acc[:, -2:] = np.nan
    status = [["finished"] * (len(GRID) - 2) + [None] * 2 for _ in range(3)]
    skipped = _curve(acc.tolist(), x=1.0, status=status)
    optimum = sl.grid_optimum(skipped, GRID)
    assert optimum.value == 300 and optimum.at_edge


def test_scaling_claims_ignore_curves_below_fit_min_x():
    rng = np.random.default_rng(4)
    curves = [_curve(_peaked(GRID, 30, rng=rng), x=1000.0), _curve(_peaked(GRID, 30, rng=rng), x=3000.0)]
    curves += [_curve(_peaked(GRID, 30 * n / 2e4, rng=rng), x=n) for n in (2e4, 6e4)]
    claims, data = sl.check_scaling_claims("fig6", "N", curves, GRID, fit_min_x=2e4, n_bootstrap=50)
    by_id = {c.id: c for c in claims}
    assert by_id["fig6/bopt-grows"].holds and by_id["fig6/bopt-grows"].value["x"] == [2e4, 6e4]
    assert data["considered"] == [False, False, True, True]


# ------------------------------------------------------------------------------------- end to end


TINY = {
    "batch_sizes": (1, 4, 16, 40),
    "seeds": 2,
    "budget": 4,
    "train_sizes": (40,),
    "eval_points": 2,
    "max_examples_per_run": 100,
    "dataset": "standin",
}


def _finish_times(path):
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT key, finished FROM runs").fetchall())


def test_reproduce_writes_summary_and_resumes_without_training(tmp_path):
    out = tmp_path / "batch"
    run = functools.partial(
        experiments.reproduce, "smith-le-batch", overrides=TINY, out_dir=out, executor="inline", show_progress=False
    )
    summary = run()
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["experiment"] == "smith-le-batch" and on_disk["scale"] == "quick"
    assert on_disk["overrides"]["dataset"] == "standin" and on_disk["settings"]["seeds"] == 2
    assert {c["id"] for c in on_disk["claims"]} == {"fig4/peak-interior", "fig4/small-batches-fail"}
    assert all(isinstance(c["holds"], bool) for c in on_disk["claims"])
    data = on_disk["data"]
    assert data["parameterisation"]["name"] == "calibrated" and data["parameterisation"]["lr_per_epsilon"] == 0.1
    assert data["parameterisation"]["why"]
    assert on_disk["settings"]["lr_per_epsilon"] == 0.1 and on_disk["settings"]["subset_seed"] == 0
    (curve,) = data["curves"]
    assert curve["steps"] == 4 and curve["learning_rate"] == pytest.approx(0.1)
    assert [row[-1] for row in curve["status"]] == [None, None]  # 40·4 > 100 examples: not run
    assert all(v is not None for row in curve["accuracy"] for v in row[:3])
    assert set(curve["history"]) == {"1", "4", "16"}
    assert len(curve["history"]["4"]["test_accuracy"]["mean"]) == len(curve["history"]["4"]["step"])
    assert data["optimum"]["value"] in (1, 4, 16)
    assert [p.name for p in (out / "figures").iterdir()] == ["fig4_batch_size.png"]
    stored = _finish_times(out / "store.sqlite")
    assert len(stored) == 3 * 2

    again = run()  # every run is in the store: nothing is trained or written again
    assert again["claims"] == summary["claims"]
    assert _finish_times(out / "store.sqlite") == stored
    # the declared spec is untouched by the overrides
    assert experiments.get_experiment("smith-le-batch").spec("quick").dataset == "mnist"


def test_figures_are_drawn_from_plain_data(tmp_path):
    rng = np.random.default_rng(5)
    history = {
        "step": [0, 10, 100],
        "test_accuracy": {"mean": [0.1, 0.8, 0.9], "std": [0.0, 0.01, None]},
        "test_cross_entropy": {"mean": [2.3, 0.5, 0.4], "std": [0.0, 0.0, 0.0]},
    }
    gap_data = {
        "batch_sizes": [30, 1000],
        "curves": [
            _curve([[0.91, 0.89]], l2_lambda=lam) | {"history": {"30": history, "1000": history}} for lam in (0.0, 0.1)
        ],
    }
    scaling_curves = [_curve(_peaked(GRID, 30 * xi, rng=rng), x=xi) | {"history": {}} for xi in (0.3, 1.0, 3.0)]
    _, scaling = sl.check_scaling_claims("fig5", "ε", scaling_curves, GRID, n_bootstrap=20)
    scaling_data = {"batch_sizes": list(GRID), "curves": scaling_curves, "scaling": json.loads(json.dumps(scaling))}
    batch_data = {"batch_sizes": [30, 1000], "curves": [gap_data["curves"][0]]}
    paths = [
        *experiments.get_experiment("smith-le-l2").plot(gap_data, tmp_path),
        *experiments.get_experiment("smith-le-batch").plot(batch_data, tmp_path),
        *experiments.get_experiment("smith-le-scaling-lr").plot(scaling_data, tmp_path),
    ]
    assert [p.name for p in paths] == [
        "fig8_test_accuracy_cross_entropy.png",
        "fig4_batch_size.png",
        "fig5_scaling.png",
    ]
    assert all(p.stat().st_size > 10_000 for p in paths)
