import dataclasses
import functools
import json
import re
import sqlite3

import numpy as np
import pytest
import scipy.stats

from sgdnoise import experiments
from sgdnoise.experiments import smith_le_gradient_noise as exp
from sgdnoise.instruments.gradnoise import DistributionStats

TINY_SETTINGS = {
    "n_train": 200,
    "hidden_width": 16,
    "batch_size": 10,
    "n_minibatches": 200,
    "n_repeats": 2,
    "histogram_bins": 12,
    "dataset": "standin",
}
TINY = exp.GradientNoiseSpec(**TINY_SETTINGS)


def _finish_times(path):
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT key, finished FROM runs").fetchall())


def test_count_modes_tells_a_bimodal_mixture_from_a_normal():
    rng = np.random.default_rng(0)
    assert exp.count_modes(rng.normal(size=1000)) == 1
    mixture = np.concatenate([rng.normal(-3, 1, 700), rng.normal(3, 1, 300)])
    assert exp.count_modes(mixture) == 2
    assert exp.count_modes(np.zeros(50)) == 1


def _repeat(single: np.ndarray, minibatch: np.ndarray, batch_size: int) -> dict:
    """A repeat record as ``measure`` builds it, from given samples."""
    n = min(single.size, minibatch.size)
    return {
        "parameter_name": "w[0, 0]",
        "single": dataclasses.asdict(DistributionStats.of(single)),
        "minibatch": dataclasses.asdict(DistributionStats.of(minibatch)),
        "predicted_minibatch_std": float(single.std(ddof=1) * np.sqrt(1 / batch_size - 1 / single.size)),
        "equal_n": n,
        "single_statistic_equal_n": float(scipy.stats.normaltest(single[:n]).statistic),
        "minibatch_statistic_equal_n": float(scipy.stats.normaltest(minibatch[:n]).statistic),
        "single_modes": exp.count_modes(single),
        "minibatch_modes": exp.count_modes(minibatch),
        "single_zero_fraction": float(np.mean(single == 0)),
        "single_histogram": exp._histogram(single, 40),
        "minibatch_histogram": exp._histogram(minibatch, 40),
    }


def test_claims_on_a_bimodal_population_and_its_minibatch_means():
    rng = np.random.default_rng(1)
    n, batch = 1000, 30
    repeats = []
    for _ in range(5):
        single = np.concatenate([rng.normal(-1.0, 0.2, 600), rng.normal(1.5, 0.2, 400)])
        minibatch = np.array([single[rng.choice(n, batch, replace=False)].mean() for _ in range(n)])
        repeats.append(_repeat(single, minibatch, batch))
    claims = {c.id: c for c in exp.check_claims(repeats, batch, n)}
    assert claims["fig9/single-example-not-gaussian"].holds
    assert claims["fig9/single-example-double-peaked"].holds
    assert claims["fig9/minibatch-closer-to-gaussian"].holds
    assert claims["fig9/minibatch-std-matches-prediction"].holds
    assert claims["fig9/minibatch-std-matches-prediction"].value["repeats_holding"] == "5/5"
    ratios = claims["fig9/minibatch-closer-to-gaussian"].value["K2_ratio_per_repeat"]
    assert min(ratios) >= exp.IMPROVEMENT_FACTOR


def test_claims_fail_when_the_numbers_say_so():
    rng = np.random.default_rng(2)
    n, batch = 1000, 30
    gaussian = rng.normal(size=n)
    # minibatch "means" as non-Gaussian as the examples, with half the predicted spread
    fake_minibatch = gaussian * 0.5 * np.sqrt(1 / batch - 1 / n)
    repeats = [_repeat(gaussian, fake_minibatch, batch) for _ in range(5)]
    claims = {c.id: c for c in exp.check_claims(repeats, batch, n)}
    assert not claims["fig9/single-example-not-gaussian"].holds
    assert not claims["fig9/single-example-double-peaked"].holds
    assert re.search(
        r"(4[5-9]|5[0-5])% of single-example gradients are negative", claims["fig9/single-example-double-peaked"].note
    )
    assert "roughly symmetric" in claims["fig9/single-example-double-peaked"].note
    assert not claims["fig9/minibatch-closer-to-gaussian"].holds
    assert not claims["fig9/minibatch-std-matches-prediction"].holds
    assert claims["fig9/minibatch-std-matches-prediction"].value["measured_over_predicted_per_repeat"][0] == (
        pytest.approx(0.5)
    )
    tail = -rng.exponential(size=n)  # one mode with a long negative tail: the note says so from the numbers
    note = exp.check_claims([_repeat(tail, fake_minibatch, batch)] * 5, batch, n)[1].note
    assert "100% of single-example gradients are negative" in note and "on the negative side" in note
    # 3 of 5 repeats holding is below the 80% rule, 4 of 5 is not
    flags = [True, True, True, False, False]
    assert exp._verdict(flags) == (False, "3/5")
    assert exp._verdict([*flags[:3], True, False]) == (True, "4/5")


def test_spec_rejects_a_batch_larger_than_the_training_set():
    with pytest.raises(ValueError, match="batch_size"):
        exp.GradientNoiseSpec(n_train=100, batch_size=100)


def test_reproduce_writes_summary_and_figures_and_resumes(tmp_path):
    out = tmp_path / "run"
    run = functools.partial(
        experiments.reproduce, "smith-le-gradient-noise", overrides=TINY_SETTINGS, out_dir=out, show_progress=False
    )
    summary = run()
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["experiment"] == "smith-le-gradient-noise" and on_disk["scale"] == "quick"
    assert {c["id"] for c in on_disk["claims"]} == {
        "fig9/single-example-not-gaussian",
        "fig9/single-example-double-peaked",
        "fig9/minibatch-closer-to-gaussian",
        "fig9/minibatch-std-matches-prediction",
    }
    repeats = on_disk["data"]["repeats"]
    assert [r["seed"] for r in repeats] == [0, 1]
    for repeat in repeats:
        assert repeat["parameter_name"].startswith("layers.3.weight[")  # the softmax-layer weight matrix
        assert sum(repeat["single_histogram"]["counts"]) == TINY.n_train
        assert sum(repeat["minibatch_histogram"]["counts"]) == TINY.n_minibatches
        assert len(repeat["single_histogram"]["edges"]) == TINY.histogram_bins + 1
    assert sorted(p.name for p in (out / "figures").iterdir()) == [
        "fig9_gradient_distribution.png",
        "fig9_gradient_distribution_repeats.png",
    ]
    stored = _finish_times(out / "store.sqlite")
    assert len(stored) == TINY.n_repeats

    again = run()
    assert again["claims"] == summary["claims"]
    assert _finish_times(out / "store.sqlite") == stored  # nothing measured or written again
