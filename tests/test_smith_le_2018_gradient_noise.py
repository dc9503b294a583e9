import dataclasses
import re

import numpy as np
import pytest
import scipy.stats

from sgdnoise.experiments.smith_le_2018 import gradient_noise as exp
from sgdnoise.instruments.gradnoise import DistributionStats


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
        "seed": 0,
        "parameter_name": "w[0, 0]",
        "parameter_index": [0, 0],
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


def _claims(repeats: list, batch_size: int, n_train: int) -> dict:
    data = {"n_train": n_train, "batch_size": batch_size, "data_seed": 0, "repeats": repeats}
    return {claim.id: claim.evaluate(data) for claim in exp.CLAIMS}


def test_claims_on_a_bimodal_population_and_its_minibatch_means():
    rng = np.random.default_rng(1)
    n, batch = 1000, 30
    repeats = []
    for _ in range(5):
        single = np.concatenate([rng.normal(-1.0, 0.2, 600), rng.normal(1.5, 0.2, 400)])
        minibatch = np.array([single[rng.choice(n, batch, replace=False)].mean() for _ in range(n)])
        repeats.append(_repeat(single, minibatch, batch))
    claims = _claims(repeats, batch, n)
    assert claims["fig9/single-example-not-gaussian"].verdict == "holds"
    assert claims["fig9/single-example-double-peaked"].verdict == "holds"
    assert claims["fig9/minibatch-closer-to-gaussian"].verdict == "holds"
    assert claims["fig9/minibatch-std-matches-prediction"].verdict == "holds"
    assert claims["fig9/minibatch-std-matches-prediction"].value["repeats_holding"] == "5/5"
    assert claims["fig9b/minibatch-single-peaked"].verdict == "holds"
    ratios = claims["fig9/minibatch-closer-to-gaussian"].value["K2_ratio_per_repeat"]
    assert min(ratios) >= exp.IMPROVEMENT_FACTOR


def test_claims_fail_when_the_numbers_say_so():
    rng = np.random.default_rng(2)
    n, batch = 1000, 30
    gaussian = rng.normal(size=n)
    # minibatch "means" as non-Gaussian as the examples, with half the predicted spread
    fake_minibatch = gaussian * 0.5 * np.sqrt(1 / batch - 1 / n)
    claims = _claims([_repeat(gaussian, fake_minibatch, batch) for _ in range(5)], batch, n)
    assert claims["fig9/single-example-not-gaussian"].verdict == "fails"
    double_peaked = claims["fig9/single-example-double-peaked"]
    assert double_peaked.verdict == "fails"
    assert re.search(r"(4[5-9]|5[0-5])% of single-example gradients are negative", double_peaked.note)
    assert "roughly symmetric" in double_peaked.note
    assert claims["fig9/minibatch-closer-to-gaussian"].verdict == "fails"
    bimodal = np.concatenate([rng.normal(-1.0, 0.2, 600), rng.normal(1.5, 0.2, 400)])
    two_peaks = _claims([_repeat(gaussian, bimodal, batch)] * 5, batch, n)["fig9b/minibatch-single-peaked"]
    assert two_peaks.verdict == "fails" and two_peaks.value["minibatch_modes_per_repeat"] == [2] * 5
    std = claims["fig9/minibatch-std-matches-prediction"]
    assert std.verdict == "fails"
    assert std.value["measured_over_predicted_per_repeat"][0] == pytest.approx(0.5)
    tail = -rng.exponential(size=n)  # one mode with a long negative tail: the note says so from the numbers
    note = _claims([_repeat(tail, fake_minibatch, batch)] * 5, batch, n)["fig9/single-example-double-peaked"].note
    assert "100% of single-example gradients are negative" in note and "on the negative side" in note
    # 3 of 5 repeats holding is below the 80% rule, 4 of 5 is not
    flags = [True, True, True, False, False]
    assert exp._count(flags) == (False, "3/5")
    assert exp._count([*flags[:3], True, False]) == (True, "4/5")


def test_no_repeat_is_inconclusive():
    claims = _claims([], 30, 1000)
    assert {claim.verdict for claim in claims.values()} == {"inconclusive"}


def test_spec_rejects_a_batch_larger_than_the_training_set():
    with pytest.raises(ValueError, match="batch_size"):
        exp.GradientNoiseSpec(n_train=100, batch_size=100)
