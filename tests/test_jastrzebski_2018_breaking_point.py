"""Jastrzębski et al. 2018 §4.4, Fig. 6–7 (breaking point): the claim checks and the seed bootstrap on
synthetic curves with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from sgdnoise.experiments.jastrzebski_2018.beta_star import bootstrap_readings
from sgdnoise.experiments.jastrzebski_2018.breaking_point import CLAIMS, analyse

BETAS = [1, 2, 4, 8, 16, 32, 64]


def _curves(beta_star: dict[tuple[int, float], int]) -> list[dict]:
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
    return curves


def _claims(curves: list[dict]) -> dict:
    data = analyse(curves, 20.0, n_bootstrap=100)
    return {c.id: c for c in (claim.evaluate(data) for claim in CLAIMS)}


def test_breaking_point_claims_read_a_drop_set_by_steps_per_epoch() -> None:
    # β* ∝ N and unchanged by halving η: the drop sits at one number of updates per epoch
    claims = _claims(_curves({(1000, 1.0): 4, (1000, 0.5): 4, (4000, 1.0): 16, (4000, 0.5): 16}))
    assert claims["fig6/flat-then-falls"].verdict == "holds"
    assert claims["fig6/beta-star-rises-with-n"].verdict == "holds"
    assert claims["fig6/beta-star-rises-with-n"].value["point"]["beta_star"] == [4.0, 16.0]
    assert claims["fig6/smaller-eta-raises-beta-star"].verdict == "fails"
    reading = claims["fig6/eta-reading"]
    assert reading.verdict == "fails" and reading.value["supported_reading"] == "steps per epoch"
    assert reading.value["log2_spread_steps_per_epoch"] == pytest.approx(0.0)
    assert reading.value["log2_spread_learning_rate"] == pytest.approx(np.std([0, -1, 2, 1]))
    # drops of 0.15 against a seed spread of 0.002: every resample finds the same β*
    assert reading.value["bootstrap"] == {"steps per epoch": 1.0}
    assert claims["fig6/beta-star-rises-with-n"].value["bootstrap_fraction_holding"] == 1.0
    assert claims["fig6/smaller-eta-raises-beta-star"].value["bootstrap_fraction_holding"] == 0.0


def test_breaking_point_bootstrap_splits_when_a_drop_is_within_the_seed_noise() -> None:
    # N = 4000 at the base η: seed 0 drops by 0.1 at β = 16, the other two do not, so whether β* is 8
    # (below N = 1000's 16) or 64 depends on whether a resample draws seed 0 ((2/3)³ ≈ 30% do not)
    curves = _curves({(1000, 1.0): 16, (1000, 0.5): 16, (4000, 1.0): 64, (4000, 0.5): 32})
    next(c for c in curves if c["tag"] == "n4000-eta1")["scores"][0][4] = 0.75
    readings = bootstrap_readings(curves, n_bootstrap=200)
    assert 0.15 < readings["beta_star_rises_with_n"] < 0.45
    assert sum(readings["readings"].values()) == pytest.approx(1.0)
    assert len(readings["readings"]) >= 2


def test_breaking_point_claims_read_a_drop_set_by_the_learning_rate() -> None:
    # β* independent of N and doubled by halving η: the drop sits at one learning rate
    claims = _claims(_curves({(1000, 1.0): 8, (1000, 0.5): 16, (4000, 1.0): 8, (4000, 0.5): 16}))
    assert claims["fig6/smaller-eta-raises-beta-star"].verdict == "holds"
    assert claims["fig6/beta-star-rises-with-n"].verdict == "fails"
    reading = claims["fig6/eta-reading"]
    assert reading.verdict == "holds" and reading.value["supported_reading"] == "learning rate"
    assert reading.value["log2_spread_learning_rate"] == pytest.approx(0.0)


def test_breaking_point_without_a_drop_is_inconclusive() -> None:
    claims = _claims(_curves({(1000, 1.0): 64, (4000, 1.0): 64}))
    flat = claims["fig6/flat-then-falls"]
    assert flat.verdict == "inconclusive" and "lower bound" in flat.note
    reading = claims["fig6/eta-reading"]
    assert reading.verdict == "inconclusive" and "fewer than 3" in reading.value["supported_reading"]
    # one learning-rate factor: no bootstrap fraction for the η/2 claim, and nothing to pair
    smaller = claims["fig6/smaller-eta-raises-beta-star"]
    assert smaller.verdict == "inconclusive" and smaller.value["pairs"] == []
    assert "needs two learning-rate factors" in smaller.note


def test_breaking_point_drop_before_beta_two_fails() -> None:
    assert _claims(_curves({(1000, 1.0): 1, (4000, 1.0): 8}))["fig6/flat-then-falls"].verdict == "fails"


STEPS_PER_EPOCH = {(1000, 1.0): 4, (1000, 0.5): 4, (4000, 1.0): 16, (4000, 0.5): 16}


def test_breaking_point_claims_need_min_seeds_distinct_seeds_on_every_curve() -> None:
    """Before, one seed (or one seed copied three times) decided every claim: its bootstrap gives only 0% or 100%."""
    one = _curves(STEPS_PER_EPOCH)
    for curve in one:
        curve["scores"], curve["status"] = curve["scores"][:1], curve["status"][:1]
    copied = _curves(STEPS_PER_EPOCH)
    for curve in copied:
        curve["scores"] = [list(curve["scores"][0]) for _ in range(3)]
    for curves in (one, copied):
        claims = _claims(curves)
        assert {c.verdict for c in claims.values()} == {"inconclusive"}, {i: c.verdict for i, c in claims.items()}
        assert "distinct seed" in claims["fig6/beta-star-rises-with-n"].note
    # one curve short of seeds is enough: it enters every comparison at the base η
    short = _curves(STEPS_PER_EPOCH)
    short[0]["scores"] = short[0]["scores"][:2]
    claims = _claims(short)
    assert claims["fig6/flat-then-falls"].verdict == claims["fig6/beta-star-rises-with-n"].verdict == "inconclusive"


def test_a_drop_found_against_a_seed_spread_of_zero_is_inconclusive() -> None:
    """Seeds equal on the plateau: σ = 0, the drop's threshold falls back to MIN_DROP and decides it."""
    curves = _curves(STEPS_PER_EPOCH)
    for curve in curves:
        star = 4 if curve["n_train"] == 1000 else 16
        curve["scores"] = [[0.85 if b <= star else 0.7 + 0.01 * s for b in BETAS] for s in range(3)]
    claims = _claims(curves)
    assert {c.verdict for c in claims.values()} == {"inconclusive"}, {i: c.verdict for i, c in claims.items()}
    assert "spread of 0" in claims["fig6/flat-then-falls"].note
