"""Jastrzębski et al. 2018 §4.3-4.4 (memorisation, breaking point): the task, claim functions on synthetic
data with known answers, tiny end-to-end runs on stand-ins with a resume check, a paper-scale smoke step."""

from __future__ import annotations

import numpy as np
import pytest

from sgdnoise.data import mnist_standin_task, with_validation_split
from sgdnoise.experiments import reproduce
from sgdnoise.experiments.jastrzebski_noise import (
    MemorizationSpec,
    bootstrap_readings,
    breaking_point_claims,
    memorization_claims,
    memorization_task,
)
from sgdnoise.store import Store


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
    }


def test_memorization_claims_hold_when_higher_noise_generalises_better_at_every_level() -> None:
    claims, comparisons = memorization_claims(_memorization_data({1e-4: 0.0, 1e-3: 0.01, 1e-2: 0.03}))
    by_id = {c.id: c for c in claims}
    matched = by_id["memorization/p25-m0/matched"]
    assert matched.holds and matched.value["levels_compared"] == 2
    assert matched.value["mean_difference"] == pytest.approx(0.03)
    assert matched.value["median_rho"] > 0.8
    assert by_id["memorization/p25-m0/endpoint"].holds
    assert comparisons["p25-m0"]["endpoint"]["mean_difference"] == pytest.approx(0.03)


def test_memorization_claims_fail_when_the_order_is_reversed_or_nothing_is_matched() -> None:
    claims, _ = memorization_claims(_memorization_data({1e-4: 0.03, 1e-3: 0.01, 1e-2: 0.0}))
    assert not any(c.holds for c in claims)
    data = _memorization_data({1e-4: 0.0, 1e-2: 0.03})
    for run in data["panels"]["p25-m0"]["runs"]:
        if run["noise"] == 1e-4:  # never memorises: no level is reached by two η/S values
            run["history"]["train_acc"] = [0.1] * 10
            run["final_train_acc"] = 0.1
    claims, _ = memorization_claims(data)
    matched = next(c for c in claims if c.id.endswith("matched"))
    assert not matched.holds and matched.value["levels_compared"] == 0 and "nothing to compare" in matched.note


def test_memorization_groups_pairs_of_one_ratio_whose_float_quotients_differ() -> None:
    assert 0.07 / 50 != 0.21 / 150  # one η/S, two floats
    data = _memorization_data({0.07 / 50: 0.0, 1e-1: 0.03})
    extra = [_memorization_run(0.21 / 150, seed, 0.0) for seed in (0, 1, 2)]
    data["panels"]["p25-m0"]["runs"].extend(extra)
    _, comparisons = memorization_claims(data)
    for level in comparisons["p25-m0"]["matched"]["per_level"]:
        assert level["noise_values"] == [0.0014, 0.1]


BETAS = [1, 2, 4, 8, 16, 32, 64]


def _breaking_data(beta_star: dict[tuple[int, float], int]) -> dict:
    """Curves flat at 0.85 up to the given β*, 0.7 beyond, 3 seeds with ±0.002 spread."""
    curves = []
    for (n_train, factor), star in beta_star.items():
        rows = [[0.85 + 0.002 * (s - 1) if b <= star else 0.7 for b in BETAS] for s in range(3)]
        curves.append(
            {
                "tag": f"n{n_train}-eta{factor:g}",
                "n_train": n_train,
                "factor": factor,
                "base_learning_rate": 0.1 * factor,
                "base_batch_size": 8,
                "betas": BETAS,
                "scores": rows,
                "status": [["finished"] * len(BETAS)] * 3,
                "history": {},
            }
        )
    return {"curves": curves, "epochs": 20}


def _claims(data: dict) -> dict:
    claims, _ = breaking_point_claims(data, k=2.0, min_drop=0.01, n_bootstrap=100, reading_margin=0.5)
    return {c.id: c for c in claims}


def test_breaking_point_claims_read_a_drop_set_by_steps_per_epoch() -> None:
    # β* ∝ N and unchanged by halving η: the drop sits at one number of updates per epoch
    claims = _claims(_breaking_data({(1000, 1.0): 4, (1000, 0.5): 4, (4000, 1.0): 16, (4000, 0.5): 16}))
    assert claims["breaking-point/flat-then-falls"].holds
    assert claims["breaking-point/beta-star-rises-with-n"].holds
    assert claims["breaking-point/beta-star-rises-with-n"].value["point"]["beta_star"] == [4.0, 16.0]
    assert not claims["breaking-point/smaller-eta-raises-beta-star"].holds
    reading = claims["breaking-point/eta-reading"]
    assert not reading.holds and reading.value["supported_reading"] == "steps per epoch"
    assert reading.value["log2_spread_steps_per_epoch"] == pytest.approx(0.0)
    assert reading.value["log2_spread_learning_rate"] == pytest.approx(np.std([0, -1, 2, 1]))
    # drops of 0.15 against a seed spread of 0.002: every resample finds the same β*
    assert reading.value["bootstrap"] == {"steps per epoch": 1.0}
    assert claims["breaking-point/beta-star-rises-with-n"].value["bootstrap_fraction_holding"] == 1.0
    assert claims["breaking-point/smaller-eta-raises-beta-star"].value["bootstrap_fraction_holding"] == 0.0


def test_breaking_point_bootstrap_splits_when_a_drop_is_within_the_seed_noise() -> None:
    # N = 4000 at the base η: seed 0 drops by 0.1 at β = 16, the other two do not, so whether β* is 8
    # (below N = 1000's 16) or 64 depends on whether a resample draws seed 0 ((2/3)³ ≈ 30% do not)
    data = _breaking_data({(1000, 1.0): 16, (1000, 0.5): 16, (4000, 1.0): 64, (4000, 0.5): 32})
    curve = next(c for c in data["curves"] if c["tag"] == "n4000-eta1")
    curve["scores"][0][4] = 0.75
    readings = bootstrap_readings(data, k=2.0, min_drop=0.01, margin=0.5, n_bootstrap=200)
    assert 0.15 < readings["beta_star_rises_with_n"] < 0.45
    assert sum(readings["readings"].values()) == pytest.approx(1.0)
    assert len(readings["readings"]) >= 2


def test_breaking_point_claims_read_a_drop_set_by_the_learning_rate() -> None:
    # β* independent of N and doubled by halving η: the drop sits at one learning rate
    claims = _claims(_breaking_data({(1000, 1.0): 8, (1000, 0.5): 16, (4000, 1.0): 8, (4000, 0.5): 16}))
    assert claims["breaking-point/smaller-eta-raises-beta-star"].holds
    assert not claims["breaking-point/beta-star-rises-with-n"].holds
    reading = claims["breaking-point/eta-reading"]
    assert reading.holds and reading.value["supported_reading"] == "learning rate"
    assert reading.value["log2_spread_learning_rate"] == pytest.approx(0.0)


def test_breaking_point_without_a_drop_is_a_lower_bound() -> None:
    claims = _claims(_breaking_data({(1000, 1.0): 64, (4000, 1.0): 64}))
    flat = claims["breaking-point/flat-then-falls"]
    assert not flat.holds and "lower bound" in flat.note
    assert "fewer than 3" in claims["breaking-point/eta-reading"].value["supported_reading"]


MEMORIZATION_TINY = {
    "dataset": "standin",
    "noise_fractions": "0.25",
    "momenta": "0,0.9",
    "learning_rates": "0.05,0.2",
    "momentum_learning_rates": "0.02",
    "batch_sizes": "8",
    "epochs": 2,
    "seeds": 2,
    "n_train": 32,
    "validation": 16,
    "n_test": 8,
    "pool": "none",
    "width": 16,
    "eval_points": 4,
}


def _keys(path, experiment: str) -> list:
    with Store(path / "store.sqlite") as store:
        return sorted((r.key, r.seconds) for r in store.runs(experiment))


def test_memorization_end_to_end_on_the_standin_and_resume(tmp_path) -> None:
    kwargs = {"out_dir": tmp_path, "device": "cpu", "executor": "inline", "show_progress": False}
    summary = reproduce("jastrzebski-memorization", overrides=MEMORIZATION_TINY, **kwargs)
    panels = summary["data"]["panels"]
    assert set(panels) == {"p25-m0", "p25-m0.9"}
    assert len(panels["p25-m0"]["runs"]) == 4 and len(panels["p25-m0.9"]["runs"]) == 2
    assert {c["id"] for c in summary["claims"]} == {
        f"memorization/{tag}/{kind}" for tag in panels for kind in ("matched", "endpoint")
    }
    for figure in ("fig5_memorization.png", "fig5_matched_levels.png", "fig14_memorization_curves.png"):
        assert (tmp_path / "figures" / figure).exists()
    before = _keys(tmp_path, "jastrzebski-memorization")
    assert len(before) == 6
    again = reproduce("jastrzebski-memorization", overrides=MEMORIZATION_TINY, **kwargs)
    assert again["data"]["panels"] == panels
    assert _keys(tmp_path, "jastrzebski-memorization") == before


BREAKING_TINY = {
    "dataset": "standin",
    "train_sizes": "16,32",
    "betas": "1,2,4",
    "batch_size": 4,
    "epochs": 1,
    "seeds": 2,
    "validation": 8,
    "n_test": 8,
    "pool": "none",
    "width": 16,
    "depth": 2,
    "eval_points": 2,
    "n_bootstrap": 20,
}


def test_breaking_point_end_to_end_on_the_standin_and_resume(tmp_path) -> None:
    kwargs = {"out_dir": tmp_path, "device": "cpu", "executor": "inline", "show_progress": False}
    summary = reproduce("jastrzebski-breaking-point", overrides=BREAKING_TINY, **kwargs)
    curves = summary["data"]["curves"]
    assert [c["tag"] for c in curves] == ["n16-eta1", "n16-eta0.5", "n32-eta1", "n32-eta0.5"]
    assert curves[0]["betas"] == [1, 2, 4] and len(curves[0]["scores"]) == 2
    assert len(summary["claims"]) == 4
    for figure in ("fig6_breaking_point.png", "fig6_beta_star.png", "fig7_breaking_point_readings.png"):
        assert (tmp_path / "figures" / figure).exists()
    before = _keys(tmp_path, "jastrzebski-breaking-point")
    assert len(before) == 2 * 2 * 3 * 2
    again = reproduce("jastrzebski-breaking-point", overrides=BREAKING_TINY, **kwargs)
    assert again["data"]["curves"] == curves
    assert _keys(tmp_path, "jastrzebski-breaking-point") == before


def test_breaking_point_paper_scale_smoke_step_on_the_standin(tmp_path) -> None:
    overrides = {
        "dataset": "standin",
        "train_sizes": "8",
        "betas": "1,2",
        "learning_rate_factors": "1",
        "batch_size": 4,
        "epochs": 0.5,
        "seeds": 1,
        "validation": 4,
        "n_test": 4,
        "eval_points": 2,
        "n_bootstrap": 5,
    }
    summary = reproduce(
        "jastrzebski-breaking-point",
        scale="paper",
        overrides=overrides,
        out_dir=tmp_path,
        device="cpu",
        executor="inline",
        show_progress=False,
    )
    assert summary["settings"]["model"] == "vgg11"
    assert [c["betas"] for c in summary["data"]["curves"]] == [[1, 2]]
