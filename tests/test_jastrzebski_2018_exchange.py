"""jastrzebski-exchange (Jastrzębski et al. 2018 §4.2, App. F.4): the schedules keep η/S equal where the
paper says so, the seed statistics against hand-computed answers, and the claims (Fig. 4, Table 1, Fig. 16)
on synthetic data that satisfy / violate them."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from sgdnoise.experiments.jastrzebski_2018.exchange import EXPERIMENT, ExchangeSpec
from sgdnoise.experiments.jastrzebski_2018.exchange_table1 import CONSTANT, CYCLIC
from sgdnoise.experiments.jastrzebski_2018.seed_statistics import (
    curve_distance,
    oscillation_ratio,
    table1,
)


def _claims(data: dict) -> dict:
    return {c.id: c for c in EXPERIMENT.check(data)}


QUICK = EXPERIMENT.spec("quick")


def _noise(spec: ExchangeSpec, label: str, p: float) -> float:
    lr, batch = spec.schedules()[label]
    return lr(p) / round(batch(p))


def test_cyclic_batch_and_cyclic_lr_have_equal_noise_at_every_moment() -> None:
    for p in np.linspace(0.0, 1.0, 997):
        assert _noise(QUICK, "discrete-S", p) == pytest.approx(_noise(QUICK, "discrete-η", p), rel=1e-12)
    high, low = QUICK.max_lr / QUICK.min_batch, QUICK.max_lr / (QUICK.factor * QUICK.min_batch)
    assert _noise(QUICK, "discrete-S", 0.0) == pytest.approx(high)
    period = QUICK.cycle_epochs / QUICK.epochs
    assert _noise(QUICK, "discrete-S", 0.75 * period) == pytest.approx(low)  # second half: low η/S
    for label in ("constant-low", "constant-low-large"):  # Fig. 4 right: the two constant pairs
        assert _noise(QUICK, label, 0.3) == pytest.approx(low)
    assert _noise(QUICK, "constant-high", 0.3) == pytest.approx(high)


def test_triangle_has_the_discrete_cycles_mean_and_every_cyclic_run_ends_at_the_low_noise() -> None:
    period = QUICK.cycle_epochs / QUICK.epochs
    grid = np.linspace(0.0, period, 20001)[:-1]
    mean = {label: np.mean([QUICK.schedules()[label][0](p) for p in grid]) for label in ("discrete-η", "triangle-η")}
    assert mean["triangle-η"] == pytest.approx(mean["discrete-η"], rel=1e-3)
    low = QUICK.max_lr / (QUICK.factor * QUICK.min_batch)
    for label in CYCLIC:
        assert _noise(QUICK, label, 1.0 - 1e-9) == pytest.approx(low, rel=1e-3)


def test_spec_rejects_a_budget_that_is_not_whole_cycles_or_curve_points_and_one_seed() -> None:
    with pytest.raises(ValueError, match="whole number of cycles"):
        ExchangeSpec(seeds=2, n_train=100, validation=0, n_test=10, max_lr=0.1, min_batch=5, epochs=15)
    with pytest.raises(ValueError, match="multiple of curve_every_epochs"):
        ExchangeSpec(seeds=2, n_train=100, validation=0, n_test=10, max_lr=0.1, min_batch=5, curve_every_epochs=7)
    with pytest.raises(ValueError, match="seeds >= 2"):
        ExchangeSpec(seeds=1, n_train=100, validation=0, n_test=10, max_lr=0.1, min_batch=5)


def _seed(curve: dict[str, list[float]], hessian: list[float] | None = None, cycle: float = 2.0) -> dict:
    epochs = [cycle / 2 * k for k in range(len(hessian or []))]
    return {
        "status": "finished",
        "curve": curve,
        "hessian": {"epoch": epochs, "value": hessian or []},
        "endpoint": {key: values[-1] for key, values in curve.items() if key != "epoch"}
        | {"hessian_norm": (hessian or [None])[-1]},
    }


def test_curve_distance_is_the_rms_of_mean_differences_with_its_rms_se() -> None:
    epochs = [0.0, 1.0, 2.0]

    def schedule(*curves: list[float]) -> dict:
        return {"seeds": [_seed({"epoch": epochs, "train_acc": curve}) for curve in curves]}

    x = schedule([0.1, 0.5, 0.7], [0.1, 0.7, 0.9])
    y = schedule([0.1, 0.4, 0.8], [0.1, 0.6, 0.8])
    d = curve_distance(x, y, "train_acc")  # epoch 0 (the shared initialisation) is left out
    assert d["epochs"] == 2
    assert d["rms_difference"] == pytest.approx(math.sqrt((0.1**2 + 0.0**2) / 2))
    se2 = [0.02 / 2 + 0.02 / 2, 0.02 / 2 + 0.0]  # var(ddof 1) of two values a, b is (a − b)²/2
    assert d["rms_se"] == pytest.approx(math.sqrt(np.mean(se2)))
    later = curve_distance(x, y, "train_acc", after=1.0)  # epoch 2 only
    assert later["epochs"] == 1 and later["rms_difference"] == pytest.approx(0.0, abs=1e-12)


def test_oscillation_ratio_is_the_geometric_mean_of_low_over_high_half_values() -> None:
    seed = _seed({"epoch": [0.0]}, hessian=[50.0, 10.0, 40.0, 20.0, 20.0], cycle=2.0)  # epochs 0, 1, 2, 3, 4
    assert oscillation_ratio(seed, 2.0) == pytest.approx(math.sqrt((40 / 10) * (20 / 20)))
    assert math.isnan(oscillation_ratio(_seed({"epoch": [0.0]}, hessian=[5.0]), 2.0))
    # a curve probed every epoch with a 4-epoch cycle: only epochs 2 (half) and 4 (whole) count
    every_epoch = _seed({"epoch": [0.0, 1.0, 2.0, 3.0, 4.0], "train_loss": [2.0, 9.0, 0.5, 9.0, 0.25]})
    assert oscillation_ratio(every_epoch, 4.0, "curve", "train_loss") == pytest.approx(0.5)


def _synthetic(test_acc: dict[str, list[float]], hessians: dict[str, list[float]]) -> dict:
    """Four seeds per schedule with a flat curve at the given endpoint accuracy, cycle 2 epochs."""
    schedules = {}
    for label, accs in test_acc.items():
        seeds = []
        for i, acc in enumerate(accs):
            curve = {"epoch": [0.0, 1.0, 2.0], "test_acc": [0.1, acc, acc], "train_acc": [0.1, 0.9, 1.0]}
            curve |= {"train_loss": [2.3, 0.1, 0.05], "validation_acc": [0.1, acc, acc]}
            # each seed scaled, and its low-η/S values by a further 1 + 0.01·i: seeds differ in level and ratio
            scaled = [
                x * (1 + 0.01 * i) * (1 + 0.01 * i) ** (k % 2 == 0 and k > 0) for k, x in enumerate(hessians[label])
            ]
            seeds.append(_seed(curve, hessian=scaled))
        schedules[label] = {"seeds": seeds}
    return {
        "schedules": schedules,
        "table1_schedules": schedules,
        "table1_tuning": {},
        "table1": table1(schedules, 2.0),
        "cycle_epochs": 2.0,
    }


def test_claims_hold_on_data_shaped_like_the_paper() -> None:
    jitter = [0.0, 0.002, -0.002, 0.001]
    acc = {"discrete-S": 0.90, "discrete-η": 0.90, "triangle-η": 0.899, "constant-low": 0.87}
    acc |= {"constant-low-large": 0.87, "constant-high": 0.85}
    osc = [100.0, 10.0, 50.0, 10.0, 50.0]  # low-noise half ends sharper
    hess = {"discrete-S": [*osc[:-1], 14.0], "discrete-η": [*osc[:-1], 36.0], "triangle-η": [*osc[:-1], 35.0]}
    hess |= {c: [100.0, 58.0, 58.0, 58.0, 58.0] for c in CONSTANT}
    data = _synthetic({k: [v + j for j in jitter] for k, v in acc.items()}, hess)
    claims = _claims(data)
    failing = [c.id for c in claims.values() if not c.holds]
    assert not failing, failing
    # whole-cycle over half-cycle values: 50/10 in the first cycle, 14/10 in the second (seed 0), the seeds'
    # ratios ×1, ×1.01, ×1.02, ×1.03: their median ×1.015
    ratio = claims["fig16/hessian-oscillates-with-the-cycle"].value["hessian_ratio"]["discrete-S"]
    assert ratio == pytest.approx(math.sqrt(5 * 1.4) * 1.015)
    rows = table1(data["schedules"], 2.0)
    assert rows["discrete-S"]["test_acc"]["mean"] == pytest.approx(0.90025)
    assert claims["table1/cyclic-beat-constant"].value["by_test_acc"][0] in CYCLIC


def test_claims_fail_when_the_cyclic_pair_disagrees_and_matches_another_noise() -> None:
    jitter = [0.0, 0.001, -0.001, 0.0005]
    acc = {"discrete-S": 0.90, "discrete-η": 0.85, "triangle-η": 0.95, "constant-low": 0.90}
    acc |= {"constant-low-large": 0.80, "constant-high": 0.96}
    hess = {label: [10.0, 50.0, 10.0, 50.0, 10.0] for label in acc}  # sharper after the high-noise half
    data = _synthetic({k: [v + j for j in jitter] for k, v in acc.items()}, hess)
    claims = {i: c.holds for i, c in _claims(data).items()}
    for claim_id in (
        "fig4/cyclic-endpoints-match",
        "fig4/constant-endpoints-match",
        "fig4/other-noise-differs-clearly",
        "table1/cyclic-beat-constant",
        "table1/discrete-not-worse-than-triangle",
        "table1/discrete-s-widest",
        "fig16/cyclic-wider-than-constant",
        "fig16/hessian-oscillates-with-the-cycle",
    ):
        assert claims[claim_id] is False, claim_id


def test_endpoint_claims_are_equivalence_tests_that_fewer_seeds_cannot_pass() -> None:
    acc = {label: 0.85 for label in (*CYCLIC, *CONSTANT)}
    spread = [-0.002, 0.0, 0.002, -0.001, 0.001]
    tests = {label: [v + d for d in spread] for label, v in acc.items()}
    tests["discrete-η"] = [0.853 + d for d in spread]  # 0.3 points apart, tight: inside the 1-point margin
    tests["constant-low-large"] = [0.88 + d for d in spread]  # 3 points apart: outside it
    hess = {label: [10.0, 10.0, 10.0, 10.0, 10.0] for label in acc}
    claims = _claims(_synthetic(tests, hess))
    cyclic, constant = claims["fig4/cyclic-endpoints-match"], claims["fig4/constant-endpoints-match"]
    assert cyclic.verdict == "holds" and cyclic.value["difference"] == pytest.approx(-0.003)
    assert constant.verdict == "fails" and constant.value["difference"] == pytest.approx(-0.03)
    # the same means on two seeds: no verdict, however close they are
    two = {label: values[:2] for label, values in tests.items()}
    assert _claims(_synthetic(two, hess))["fig4/cyclic-endpoints-match"].verdict == "inconclusive"
    # close means but seeds spread over ±2 points: the interval straddles the margin
    wide = tests | {"discrete-η": [0.83, 0.87, 0.85, 0.84, 0.86]}
    assert _claims(_synthetic(wide, hess))["fig4/cyclic-endpoints-match"].verdict == "inconclusive"


def test_other_noise_with_one_finished_seed_is_inconclusive_not_failing() -> None:
    """One seed gives no standard error, so the bar was NaN and every comparison with it false: "fails"."""
    acc = {"discrete-S": [0.90, 0.901], "discrete-η": [0.90], "triangle-η": [0.9, 0.9], "constant-low": [0.8, 0.8]}
    acc |= {"constant-low-large": [0.8, 0.8], "constant-high": [0.8, 0.8]}
    hess = {label: [10.0] * 5 for label in acc}
    claim = _claims(_synthetic(acc, hess))["fig4/other-noise-differs-clearly"]
    assert claim.verdict == "inconclusive" and "'discrete-η': 1" in claim.note


def _other_noise(test_acc: dict[str, list[float]]):
    acc = test_acc | {label: [0.8] * 4 for label in ("triangle-η", "constant-low-large", "constant-high")}
    return _claims(_synthetic(acc, {label: [10.0] * 5 for label in acc}))["fig4/other-noise-differs-clearly"]


def test_other_noise_weighs_each_difference_by_its_own_welch_interval() -> None:
    """Before, only the cyclic pair's SE set the bar: constant-low's seed spread could grow tenfold, or every seed be
    identical (a bar of 0), and a difference of 1e-9 still held."""
    jitter = [0.0, 0.002, -0.002, 0.001]
    cyclic = {"discrete-S": [0.90 + j for j in jitter], "discrete-η": [0.90 + j for j in jitter]}
    tight = _other_noise(cyclic | {"constant-low": [0.87 + j for j in jitter]})
    assert tight.verdict == "holds"
    # the same means, constant-low's seeds spread ±2 points: its Welch interval reaches down to 0.3 points
    wide = _other_noise(cyclic | {"constant-low": [0.87 + 10 * j for j in jitter]})
    assert wide.verdict == "inconclusive"
    # identical seeds: no spread, no interval to weigh a 1e-9 difference against
    same = {"discrete-S": [0.8] * 4, "discrete-η": [0.8] * 4, "constant-low": [0.8 + 1e-9] * 4}
    flat = _other_noise(same)
    assert flat.verdict == "inconclusive" and "spread" in flat.note
    # two seeds a schedule: fewer than MIN_SEEDS
    two = _other_noise({label: values[:2] for label, values in (cyclic | {"constant-low": [0.8, 0.81]}).items()})
    assert two.verdict == "inconclusive"
    # holds: the smallest size discrete-S − constant-low's interval allows beats twice the largest the pair's allows
    assert tight.value["discrete-S"]["low"] > 2 * max(abs(tight.value["cyclic_pair"][end]) for end in ("low", "high"))


def test_hessian_oscillation_needs_the_seeds_to_agree_on_its_direction() -> None:
    """Per seed, ‖H‖_F after the low-η/S half over after the high-η/S half: ratios that straddle 1 are seed noise
    (before, a median ratio above 1 by any amount held)."""
    acc = {label: [0.9, 0.9, 0.9, 0.9] for label in (*CYCLIC, *CONSTANT)}
    hess = {label: [10.0, 10.0, 12.0, 10.0, 12.0] for label in acc}
    data = _synthetic(acc, hess)
    for seed, high in zip(data["schedules"]["discrete-S"]["seeds"], (8.0, 14.0, 9.0, 15.0), strict=True):
        seed["hessian"]["value"] = [10.0, high, 12.0, high, 12.0]  # ratios 1.5, 0.86, 1.33, 0.8
    for seed in data["schedules"]["discrete-η"]["seeds"]:
        seed["hessian"]["value"] = [10.0, 8.0, 12.0, 8.0, 12.0]  # every seed alike: a point interval
    flat = _claims(data)["fig16/hessian-oscillates-with-the-cycle"]
    assert flat.verdict == "inconclusive" and "do not vary in discrete-η" in flat.note
    falling = copy.deepcopy(data)
    for seed, high in zip(falling["schedules"]["discrete-S"]["seeds"], (20.0, 24.0, 22.0, 26.0), strict=True):
        seed["hessian"]["value"] = [10.0, high, 12.0, high, 12.0]  # every seed sharper after the high-η/S half
    assert _claims(falling)["fig16/hessian-oscillates-with-the-cycle"].verdict == "fails"  # a flat one cannot save it
    data["schedules"]["discrete-η"] = data["schedules"]["discrete-S"]
    claim = _claims(data)["fig16/hessian-oscillates-with-the-cycle"]
    assert claim.value["hessian_ratio"]["discrete-S"] > 1 and claim.verdict == "inconclusive"
    assert "discrete-S: log ratio > 0: d = " in claim.note
