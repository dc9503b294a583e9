"""Jastrzębski et al. 2018 §4.3, Fig. 5 (memorisation): the task, the levels, and the claim checks on
synthetic data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from sgdnoise.data import mnist_standin_task, with_validation_split
from sgdnoise.experiments.jastrzebski_2018.memorization import (
    CLAIMS,
    SPECS,
    MemorizationSpec,
    compare_panel,
    comparison_value,
    memorization_task,
)

BY_ID = {claim.id: claim for claim in CLAIMS}


def test_memorization_task_randomises_exactly_the_fraction_and_keeps_validation_clean() -> None:
    task = memorization_task("standin", 40, 20, 10, 0.25, None, 3)
    clean = with_validation_split(mnist_standin_task(3, 60, 10), 20, 3)
    assert task.meta["randomized"] == 10  # round(0.25 · 40)
    assert int((task.train.y != clean.train.y).sum()) == task.meta["randomized_and_wrong"] <= 10
    assert task.validation is not None and bool((task.validation.y == clean.validation.y).all())
    assert bool((task.train.x == clean.train.x).all())
    pooled = memorization_task("standin", 40, 20, 10, 0.5, 2, 3)
    assert pooled.train.x.shape == (40, 196)


def test_memorization_levels_are_fractions_of_the_excess_over_a_clean_classifier() -> None:
    spec = MemorizationSpec(memorized_fractions=(0.2, 0.8))
    assert spec.levels(0.25) == pytest.approx([0.775 + 0.2 * 0.225, 0.775 + 0.8 * 0.225])
    assert spec.levels(0.5) == pytest.approx([0.55 + 0.2 * 0.45, 0.55 + 0.8 * 0.45])


def test_claims_are_declared_once_per_panel_of_both_scales() -> None:
    assert list(BY_ID) == [
        f"fig5/{tag}-{kind}" for tag in ("p25-m0", "p25-m0.9", "p50-m0", "p50-m0.9") for kind in ("matched", "endpoint")
    ]
    for spec in SPECS.values():
        assert (spec.noise_fractions, spec.momenta) == ((0.25, 0.5), (0.0, 0.9))


def _memorization_run(noise: float, seed: int, offset: float) -> dict:
    train = list(np.linspace(0.1, 1.0, 10))
    validation = [0.5 + offset + 0.001 * seed - 0.1 * t for t in train]  # falls as memorisation proceeds
    return {
        "noise": noise,
        "status": "finished",
        "final_train_acc": 1.0,
        "final_validation_acc": validation[-1],
        "history": {"epoch": list(range(10)), "train_acc": train, "validation_acc": validation},
    }


def _memorization_data(offsets: dict[float, float]) -> dict:
    runs = [_memorization_run(noise, seed, offset) for noise, offset in offsets.items() for seed in (0, 1, 2)]
    return {
        "fit_threshold": 0.99,
        "panels": {"p25-m0": {"noise_fraction": 0.25, "momentum": 0.0, "levels": [0.82, 0.91], "runs": runs}},
        "comparisons": {},
    }


def test_memorization_claims_hold_when_higher_noise_generalises_better_at_every_level() -> None:
    data = _memorization_data({1e-4: 0.0, 1e-3: 0.01, 1e-2: 0.03})
    matched = BY_ID["fig5/p25-m0-matched"].evaluate(data)
    assert matched.verdict == "holds" and matched.value["levels_compared"] == 2
    assert matched.value["mean_difference"] == pytest.approx(0.03)
    assert matched.value["median_rho"] > 0.8
    endpoint = BY_ID["fig5/p25-m0-endpoint"].evaluate(data)
    assert endpoint.verdict == "holds" and endpoint.value["mean_difference"] == pytest.approx(0.03)


def test_memorization_claims_fail_when_reversed_and_are_inconclusive_when_nothing_is_matched() -> None:
    data = _memorization_data({1e-4: 0.03, 1e-3: 0.01, 1e-2: 0.0})
    assert {BY_ID[f"fig5/p25-m0-{kind}"].evaluate(data).verdict for kind in ("matched", "endpoint")} == {"fails"}
    data = _memorization_data({1e-4: 0.0, 1e-2: 0.03})
    for run in data["panels"]["p25-m0"]["runs"]:
        if run["noise"] == 1e-4:  # never memorises: no level is reached by two η/S values
            run["history"]["train_acc"] = [0.1] * 10
            run["final_train_acc"] = 0.1
    matched = BY_ID["fig5/p25-m0-matched"].evaluate(data)
    assert matched.verdict == "inconclusive" and matched.value["levels_compared"] == 0
    assert "nothing to compare" in matched.note


def test_a_panel_the_run_left_out_is_inconclusive() -> None:
    data = _memorization_data({1e-4: 0.0, 1e-3: 0.01, 1e-2: 0.03})
    claim = BY_ID["fig5/p50-m0.9-matched"].evaluate(data)
    assert claim.verdict == "inconclusive" and "p50-m0.9 was not run" in claim.note


def test_memorization_groups_pairs_of_one_ratio_whose_float_quotients_differ() -> None:
    assert 0.07 / 50 != 0.21 / 150  # one η/S, two floats
    data = _memorization_data({0.07 / 50: 0.0, 1e-1: 0.03})
    data["panels"]["p25-m0"]["runs"].extend(_memorization_run(0.21 / 150, seed, 0.0) for seed in (0, 1, 2))
    matched, _ = compare_panel(data["panels"]["p25-m0"])
    for level in comparison_value(matched)["per_level"]:
        assert level["noise_values"] == [0.0014, 0.1]


def _panel_of(groups: dict[float, list[float]]) -> dict:
    """One panel whose runs of each η/S score the given validation offsets (one run each)."""
    data = _memorization_data({})
    runs = data["panels"]["p25-m0"]["runs"]
    for noise, offsets in groups.items():
        runs.extend(_memorization_run(noise, 0, offset) for offset in offsets)
    return data


def test_memorization_claims_are_decided_by_welch_intervals_of_at_least_min_seeds() -> None:
    """Before, a fixed 2-SE bar with no least number of seeds: two seeds a group 2.1 SE apart held, so did three,
    and seeds without spread made a difference of 1e-9 hold."""
    # two seeds a group, 2.1 SE apart (sample variance 0.5e-6 a group: SE = √(2 · 0.5e-6 / 2))
    se = float(np.sqrt(2 * 0.5e-6 / 2))
    two = _panel_of({1e-4: [0.0, 0.001], 1e-2: [2.1 * se, 0.001 + 2.1 * se]})
    for kind in ("matched", "endpoint"):
        assert BY_ID[f"fig5/p25-m0-{kind}"].evaluate(two).verdict == "inconclusive", kind
    # three seeds a group 2.1 SE apart: Welch's 95% interval (t ≈ 2.78 at 4 degrees of freedom) contains zero
    se = float(np.sqrt(2 * 1e-6 / 3))
    three = _panel_of({1e-4: [0.0, 0.001, 0.002], 1e-2: [2.1 * se, 0.001 + 2.1 * se, 0.002 + 2.1 * se]})
    assert BY_ID["fig5/p25-m0-matched"].evaluate(three).verdict == "inconclusive"
    # three identical seeds a group, 1e-9 apart: no spread, no interval
    flat = _panel_of({1e-4: [0.0] * 3, 1e-2: [1e-9] * 3})
    assert BY_ID["fig5/p25-m0-matched"].evaluate(flat).verdict == "inconclusive"
    # the same three seeds 5 SE apart: the interval excludes zero
    five = _panel_of({1e-4: [0.0, 0.001, 0.002], 1e-2: [5 * se, 0.001 + 5 * se, 0.002 + 5 * se]})
    matched = BY_ID["fig5/p25-m0-matched"].evaluate(five)
    assert matched.verdict == "holds" and matched.value["mean_low"] > 0
