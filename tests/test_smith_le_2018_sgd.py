import numpy as np
import pytest

from sgdnoise.experiments import get_experiment
from sgdnoise.experiments.claims import NotEnoughData
from sgdnoise.experiments.smith_le_2018 import sgd
from sgdnoise.experiments.smith_le_2018.scaling import epochs_at_optimum, with_scaling_law

NAMES = (
    "smith-le-gap",
    "smith-le-batch",
    "smith-le-scaling-lr",
    "smith-le-scaling-n",
    "smith-le-scaling-momentum",
    "smith-le-l2",
)
GRID = (1, 3, 10, 30, 100, 300, 1000, 3000)


def _nullable(rows):
    return [[None if v is None or np.isnan(v) else float(v) for v in row] for row in np.asarray(rows, object)]


def curve(
    accuracy,
    *,
    x=1.0,
    status=None,
    steps=1000,
    n_train=1000,
    l2_lambda=0.0,
    label="c",
    cross_entropy=None,
    history=None,
    learning_rate=0.1,
):
    """A synthetic ``sgd.Curve`` with the fields the claims read ([seed][B] accuracy and cross-entropy,
    None = diverged; ``history``: B → [seed][evaluation] test cross-entropy)."""
    accuracy = _nullable(accuracy)
    if status is None:
        status = [["finished" if v is not None else "diverged" for v in row] for row in accuracy]
    ce = _nullable(cross_entropy) if cross_entropy is not None else [[None] * len(row) for row in accuracy]
    histories = {
        str(b): {
            "step": list(range(len(rows[0]))),
            "test_cross_entropy": {"mean": np.mean(rows, axis=0).tolist(), "std": np.std(rows, axis=0).tolist()},
            "test_cross_entropy_per_seed": _nullable(rows),
        }
        for b, rows in (history or {}).items()
    }
    return {
        "accuracy": accuracy,
        "cross_entropy": ce,
        "learning_rate": learning_rate,
        "epsilon": 1.0,
        "status": status,
        "x": x,
        "steps": steps,
        "n_train": n_train,
        "l2_lambda": l2_lambda,
        "l2": l2_lambda / 100,
        "label": label,
        "history": histories,
    }


def peaked(batch_sizes, peak, seeds=3, noise=0.0005, rng=None):
    """Accuracy curves [seed][B] peaking at ``peak`` (a Gaussian bump in log B) with small seed noise."""
    rng = rng or np.random.default_rng(0)
    logb = np.log(np.asarray(batch_sizes, float))
    base = 0.9 - 0.005 * (logb - np.log(peak)) ** 2
    return (base + noise * rng.standard_normal((seeds, len(batch_sizes)))).tolist()


def data(curves, batch_sizes):
    return {"batch_sizes": list(batch_sizes), "curves": curves}


@pytest.mark.parametrize("name", NAMES)
def test_every_experiment_uses_the_calibrated_sweep_spec_at_both_scales(name):
    for scale in ("quick", "paper"):
        spec = get_experiment(name).spec(scale)
        assert isinstance(spec, sgd.SGDSweepSpec) and spec.parameterisation == "calibrated"
        assert set(spec.batch_sizes) <= set(range(1, 10_001)) and all(0.0 <= m < 1.0 for m in spec.momenta)
    quick, paper = get_experiment(name).spec("quick"), get_experiment(name).spec("paper")
    assert quick.budget == 1000 and paper.budget == 10_000 and quick.seeds >= 3


def test_paper_and_quick_grids():
    lr = get_experiment("smith-le-scaling-lr").spec("paper")
    assert [lr.steps(e) for e in lr.epsilons] == [round(10_000 / e) for e in lr.epsilons]
    assert lr.max_examples_per_run is None
    assert get_experiment("smith-le-batch").spec("paper").batch_sizes == sgd.PAPER_B_GRID
    n = get_experiment("smith-le-scaling-n")
    assert max(n.spec("paper").train_sizes) == 60_000 and n.spec("paper").fit_min_x == 20_000
    assert n.spec("quick").fit_min_x == 4000
    quick_lr = get_experiment("smith-le-scaling-lr").spec("quick")
    assert [quick_lr.steps(e) for e in quick_lr.epsilons] == [3333, 1000, 333, 100]
    # smith-le-l2's unregularised runs are smith-le-gap's runs (same configs, one store namespace)
    gap, l2 = get_experiment("smith-le-gap").spec("quick"), get_experiment("smith-le-l2").spec("quick")
    assert sgd.train_config(gap, 1.0, 1000, 0.9, 0.0, 30, 0) == sgd.train_config(l2, 1.0, 1000, 0.9, 0.0, 30, 0)


def test_learning_rate_and_l2_follow_the_parameterisation():
    spec = get_experiment("smith-le-l2").spec("quick")
    assert spec.learning_rate(1.0) == pytest.approx(0.1)
    literal = sgd.SGDSweepSpec(batch_sizes=(30,), seeds=1, budget=10, parameterisation="literal")
    assert literal.learning_rate(3.0) == pytest.approx(3.0)
    config = sgd.train_config(spec, 1.0, 1000, 0.9, 0.1, 30, seed=0)
    assert config.l2 == pytest.approx(1e-3) and config.momentum == 0.9 and config.steps == 1000
    assert literal.weight_decay(0.1, 1000) == pytest.approx(1e-4)
    assert sgd.LR_PER_EPSILON == {"calibrated": 0.1, "literal": 1.0} and set(sgd.PARAMETERISATION_WHY) == {
        "calibrated",
        "literal",
    }
    with pytest.raises(ValueError, match="parameterisation"):
        sgd.SGDSweepSpec(batch_sizes=(30,), seeds=1, budget=10, parameterisation="damped")
    with pytest.raises(ValueError, match="batch_sizes"):
        sgd.SGDSweepSpec(batch_sizes=(30, 10), seeds=1, budget=10)


def test_runs_beyond_the_example_cap_or_the_training_set_are_skipped():
    spec = sgd.SGDSweepSpec(batch_sizes=(300, 1000), seeds=1, budget=1000, max_examples_per_run=1_000_000)
    assert spec.runs_batch(0.3, 1000, 300) and not spec.runs_batch(0.3, 1000, 1000)
    assert spec.runs_batch(1.0, 1000, 1000) and not spec.runs_batch(1.0, 500, 1000)


def test_a_diverged_run_counts_as_chance_and_an_absent_batch_size_cannot_decide():
    c = curve([[None, 0.91, 0.89], [0.2, 0.90, 0.88]])
    assert sgd.final_accuracy(c, 3, (3, 30, 300)) == pytest.approx(0.15)
    with pytest.raises(NotEnoughData, match="not on the grid"):
        sgd.final_accuracy(c, 1000, (3, 30, 300))


def test_an_optimum_just_before_skipped_batch_sizes_counts_as_an_edge():
    acc = np.array(peaked(GRID, 3000, rng=np.random.default_rng(3)))
    acc[:, -2:] = np.nan
    status = [["finished"] * (len(GRID) - 2) + [None] * 2 for _ in range(3)]
    optimum = sgd.grid_optimum(curve(acc, status=status), GRID)
    assert optimum.value == 300 and optimum.at_edge
    assert sgd.run_mask(curve(acc, status=status)).tolist() == [True] * 6 + [False] * 2


def test_epochs_at_the_optimum_come_from_the_scaling_law():
    rng = np.random.default_rng(1)
    curves = [curve(peaked(GRID, 30 * x, rng=rng), x=x, n_train=2000) for x in (1.0, 3.0)]
    scaling = with_scaling_law(data(curves, GRID), "ε", None)
    assert [o["value"] for o in scaling["scaling"]["optima"]] == [30.0, 100.0]
    assert epochs_at_optimum(scaling) == {"epochs_at_B_opt": [15.0, 50.0]}


def test_beyond_steps_along_the_papers_one_three_ten_series():
    assert [sgd.beyond(b, up=True) for b in (1, 30, 400, 1000)] == [3, 100, 1000, 3000]
    assert [sgd.beyond(b, up=False) for b in (10, 3, 50, 1)] == [3, 1, 30, None]


def test_an_edge_optimum_is_extended_where_the_spec_allows_it():
    spec = sgd.SGDSweepSpec(batch_sizes=(10, 30, 100), seeds=3, budget=1000, extend_grid=True, train_sizes=(1000,))
    key = spec.curve_keys()[0]
    rising = curve(peaked((10, 30, 100), 1000))
    assert sgd._extended(spec, [rising], (10, 30, 100), {}) == {key: (300,)}
    falling = curve(peaked((10, 30, 100), 1))
    assert sgd._extended(spec, [falling], (10, 30, 100), {}) == {key: (3,)}
    interior = curve(peaked((10, 30, 100), 30))
    assert sgd._extended(spec, [interior], (10, 30, 100), {}) == {}
    # B beyond N (or beyond the example cap) is never added: the edge stays
    small = sgd.SGDSweepSpec(batch_sizes=(10, 30, 100), seeds=3, budget=1000, train_sizes=(100,))
    assert sgd._extended(small, [rising], (10, 30, 100), {}) == {}
    # a batch size added to one curve is run on that curve only
    assert spec.runs_batch(1.0, 1000, 30) and not spec.runs_batch(1.0, 1000, 300)


def test_seed_values_score_a_diverged_accuracy_as_chance_and_leave_its_cross_entropy_out():
    c = curve([[None, 0.9], [0.5, 0.8]], cross_entropy=[[None, 0.3], [1.0, 0.4]])
    assert sgd.seed_values(c, 3, (3, 30)).tolist() == [pytest.approx(0.1), 0.5]
    assert np.isnan(sgd.seed_values(c, 3, (3, 30), "cross_entropy")[0])
    not_run = curve([[0.9, None]], status=[["finished", None]])
    assert np.isnan(sgd.seed_values(not_run, 30, (3, 30))[0])
    with pytest.raises(NotEnoughData, match="was not run"):
        sgd.final_accuracy(not_run, 30, (3, 30))


def test_cross_entropy_rise_is_measured_from_the_minimum_of_the_mean_curve():
    history = {30: [[1.0, 0.5, 0.7], [1.0, 0.6, 0.9]]}
    rise, step = sgd.cross_entropy_rise(curve([[0.9], [0.9]], history=history), 30)
    assert step == 1 and rise.tolist() == [pytest.approx(0.2), pytest.approx(0.3)]
    with pytest.raises(NotEnoughData, match="no test cross-entropy history"):
        sgd.cross_entropy_rise(curve([[0.9]]), 1000)
