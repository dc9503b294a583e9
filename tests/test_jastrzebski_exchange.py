"""jastrzebski-exchange (Jastrzębski et al. 2018 §4.2, App. F.4): the schedules keep η/S equal where the
paper says so, the claim statistics against hand-computed answers, the claims on synthetic data that
satisfy / violate them, and tiny end-to-end runs (quick on the stand-in with a resume; paper scale one
smoke step of VGG-11)."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest

from sgdnoise.experiments import reproduce
from sgdnoise.experiments.jastrzebski_exchange import (
    CONSTANT,
    CYCLIC,
    EXCHANGE_SPECS,
    ExchangeSpec,
    curve_distance,
    difference,
    exchange_claims,
    oscillation_ratio,
    table1,
)

QUICK = EXCHANGE_SPECS["quick"]


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


def test_difference_matches_hand_computation() -> None:
    d = difference(np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.0]))
    # means 2 and 1; variances (ddof 1) 1 and 2
    assert d.difference == pytest.approx(1.0)
    assert d.se == pytest.approx(math.sqrt(1 / 3 + 2 / 2))
    assert d.pooled_std == pytest.approx(math.sqrt(1.5))
    assert math.isnan(difference(np.array([1.0]), np.array([1.0, 2.0])).difference)


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
            seeds.append(_seed(curve, hessian=[x * (1 + 0.01 * i) for x in hessians[label]]))
        schedules[label] = {"seeds": seeds}
    return {"schedules": schedules, "table1": table1(schedules, 2.0), "cycle_epochs": 2.0}


def test_claims_hold_on_data_shaped_like_the_paper() -> None:
    jitter = [0.0, 0.002, -0.002, 0.001]
    acc = {"discrete-S": 0.90, "discrete-η": 0.90, "triangle-η": 0.899, "constant-low": 0.87}
    acc |= {"constant-low-large": 0.87, "constant-high": 0.85}
    osc = [100.0, 10.0, 50.0, 10.0, 50.0]  # low-noise half ends sharper
    hess = {"discrete-S": [*osc[:-1], 14.0], "discrete-η": [*osc[:-1], 36.0], "triangle-η": [*osc[:-1], 35.0]}
    hess |= {c: [100.0, 58.0, 58.0, 58.0, 58.0] for c in CONSTANT}
    data = _synthetic({k: [v + j for j in jitter] for k, v in acc.items()}, hess)
    claims = {c.id: c for c in exchange_claims(data)}
    failing = [c.id for c in claims.values() if not c.holds]
    assert not failing, failing
    # whole-cycle over half-cycle values: 50/10 in the first cycle, 14/10 in the second (seed 0)
    ratio = claims["hessian_oscillates_with_the_cycle"].value["hessian_ratio"]["discrete-S"]
    assert ratio == pytest.approx(math.sqrt(5 * 1.4))
    rows = table1(data["schedules"], 2.0)
    assert rows["discrete-S"]["test_acc"]["mean"] == pytest.approx(0.90025)
    assert claims["table1_cyclic_beat_constant"].value["by_test_acc"][0] in CYCLIC


def test_claims_fail_when_the_cyclic_pair_disagrees_and_matches_another_noise() -> None:
    jitter = [0.0, 0.001, -0.001, 0.0005]
    acc = {"discrete-S": 0.90, "discrete-η": 0.85, "triangle-η": 0.95, "constant-low": 0.90}
    acc |= {"constant-low-large": 0.80, "constant-high": 0.96}
    hess = {label: [10.0, 50.0, 10.0, 50.0, 10.0] for label in acc}  # sharper after the high-noise half
    data = _synthetic({k: [v + j for j in jitter] for k, v in acc.items()}, hess)
    claims = {c.id: c.holds for c in exchange_claims(data)}
    for claim_id in (
        "cyclic_endpoints_match",
        "constant_endpoints_match",
        "other_noise_differs_clearly",
        "table1_cyclic_beat_constant",
        "table1_discrete_not_worse_than_triangle",
        "table1_discrete_s_widest",
        "cyclic_wider_than_constant_same_final_noise",
        "hessian_oscillates_with_the_cycle",
    ):
        assert claims[claim_id] is False, claim_id


TINY = {
    "dataset": "standin",
    "n_train": 50,
    "validation": 10,
    "n_test": 20,
    "min_batch": 5,
    "epochs": 4,
    "cycle_epochs": 2,
    "seeds": 2,
    "width": 16,
    "depth": 2,
    "curve_examples": 20,
    "hessian_examples": 10,
    "hessian_samples": 2,
    "bn_batch": 8,
}


def _stored(path) -> list[tuple]:
    with sqlite3.connect(path / "store.sqlite") as db:
        return db.execute("SELECT * FROM runs ORDER BY key").fetchall()


def test_exchange_end_to_end_on_the_standin_follows_the_schedules_and_resumes(tmp_path) -> None:
    summary = reproduce(
        "jastrzebski-exchange", overrides=TINY, out_dir=tmp_path, device="cpu", executor="inline", show_progress=False
    )
    ids = {c["id"] for c in summary["claims"]}
    assert {"cyclic_endpoints_match", "cyclic_curves_track", "table1_discrete_s_widest"} <= ids
    schedules = summary["data"]["schedules"]
    seed = schedules["discrete-S"]["seeds"][0]
    assert seed["status"] == "finished"
    assert seed["curve"]["epoch"] == [0.0, 1.0, 2.0, 3.0, 4.0]  # a curve point every epoch, the end included
    assert seed["hessian"]["epoch"] == [0.0, 1.0, 2.0, 3.0, 4.0]  # ‖H‖_F every half cycle
    assert seed["endpoint"]["test_acc"] == seed["curve"]["test_acc"][-1]
    assert schedules["discrete-S"]["noise_low"] == pytest.approx(schedules["constant-low"]["noise_high"])
    for name in ("fig4_exchange.png", "fig16_exchange_hessian.png", "table1_exchange.png"):
        assert (tmp_path / "figures" / name).is_file()
    before = _stored(tmp_path)
    again = reproduce(
        "jastrzebski-exchange", overrides=TINY, out_dir=tmp_path, device="cpu", executor="inline", show_progress=False
    )
    assert again["data"]["schedules"] == schedules
    assert _stored(tmp_path) == before  # the re-run trained and wrote nothing


def test_exchange_paper_scale_smoke_step_of_vgg11_on_the_standin(tmp_path) -> None:
    overrides = {
        "dataset": "standin",
        "n_train": 10,
        "validation": 2,
        "n_test": 4,
        "min_batch": 2,
        "epochs": 0.2,
        "cycle_epochs": 0.2,
        "seeds": 2,
        "curve_every_epochs": 0.2,
        "curve_examples": 4,
        "hessian_examples": 2,
        "hessian_samples": 2,
        "bn_batch": 2,
    }
    summary = reproduce(
        "jastrzebski-exchange",
        scale="paper",
        overrides=overrides,
        out_dir=tmp_path,
        device="cpu",
        executor="inline",
        show_progress=False,
    )
    assert summary["settings"]["model"] == "vgg11"
    seed = summary["data"]["schedules"]["discrete-η"]["seeds"][0]
    assert seed["status"] == "finished" and seed["endpoint"]["hessian_norm"] is not None
    assert seed["curve"]["epoch"] == [0.0, 0.2]  # one update of S = 2 on 10 examples
