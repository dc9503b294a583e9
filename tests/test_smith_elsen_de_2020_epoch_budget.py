"""Fig. 1's claims on synthetic curves with a known regime boundary B* = 256."""

import math

import numpy as np
import pytest
from test_smith_elsen_de_2020_setup import peaked, tuned_curve

from sgdnoise.experiments.smith_elsen_de_2020.epoch_budget import CLAIMS, regime_fit
from sgdnoise.experiments.smith_elsen_de_2020.setup import train_loss_at_test_optimum

GRID = 2.0 ** np.arange(-6, 6)
BATCHES = [16, 32, 64, 128, 256, 512, 1024, 2048]


def _fig1_curves(momentum_gain_above=0.01):
    """SGD: ε_opt = B/128 up to B* = 256, then flat at 2; momentum: the same below B*, growing ∝ B above
    it with higher accuracy (+``momentum_gain_above``); accuracy falls above B*."""
    sgd, mom = [], []
    for b in BATCHES:
        height = 0.9 - 0.02 * max(0.0, math.log2(b / 256))
        sgd.append(tuned_curve("bn-mlp", 0.0, b, 10, GRID, peaked(GRID, min(b, 256) / 128, height)))
        gain = momentum_gain_above if b > 256 else 0.001
        mom.append(tuned_curve("bn-mlp", 0.9, b, 10, GRID, peaked(GRID, b / 128, height + gain)))
    return sgd, mom


def _data(sgd, mom, regime, init):
    curves = [dict(c, train_loss_at_optimum=train_loss_at_test_optimum(c, 3)) for c in sgd + mom]
    return {"curves": curves, "regime": regime, "init": init, "momenta": [0.0, 0.9], "keep": 3}


def _claims(data):
    return {spec.id: spec.evaluate(data) for spec in CLAIMS}


@pytest.fixture(scope="module")
def regime():
    sgd, _ = _fig1_curves()
    return regime_fit(sgd, keep=3, n_bootstrap=40, seed=0)


def test_regime_fit_finds_the_known_breakpoint(regime):
    assert regime["fit"]["breakpoint"] == pytest.approx(256.0)
    assert regime["low"] <= 256.0 * (1 + 1e-9) and regime["high"] >= 256.0 * (1 - 1e-9)
    assert regime["edge_optima"] == []


def test_epoch_budget_claims_hold_on_curves_with_a_known_breakpoint(regime):
    claims = _claims(_data(*_fig1_curves(), regime, {"B_simple": 180.0, "epsilon_crit": 1.5}))
    assert {c.verdict for c in claims.values()} == {"holds"}
    assert claims["fig1/sgd-regimes"].value["slope_noise"] == pytest.approx(1.0)
    assert claims["fig1/momentum-scales-further"].value["momentum_eff_lr"] == [4.0, 8.0, 16.0]
    matches = claims["fig1/momentum-matches-sgd-below-b-star"]
    assert set(matches.value["comparisons"]) == {f"B = {b}" for b in (16, 32, 64, 128, 256)}
    assert set(claims["fig1/momentum-beats-sgd-above-b-star"].value["comparisons"]) == {
        "B = 512",
        "B = 1024",
        "B = 2048",
    }
    assert set(claims["fig1a/sgd-accuracy-flat-then-falls"].value["comparisons"]) == {
        "B = 16 ≈ B = 256",
        "B = 256 > B = 2048",
    }
    assert claims["fig1b/train-loss-like-accuracy"].value["sgd_train_loss"]["2048"] == pytest.approx(0.16, abs=1e-3)
    assert claims["fig1/b-simple-near-b-star"].value["ratio"] == pytest.approx(180 / 256)


def test_b_simple_is_this_projects_extension_and_every_other_claim_the_papers():
    kinds = {spec.id: spec.kind for spec in CLAIMS}
    assert kinds.pop("fig1/b-simple-near-b-star") == "extension"
    assert set(kinds.values()) == {"paper"}
    assert "not the paper's" in next(s.statement for s in CLAIMS if s.id == "fig1/b-simple-near-b-star")
    assert next(s for s in CLAIMS if s.id == "fig1/sgd-regimes").provenance.paper_value.startswith("B* ≈ 512")


def test_momentum_no_better_above_b_star_fails_only_the_second_half(regime):
    sgd, worse = _fig1_curves(momentum_gain_above=-0.01)
    claims = _claims(_data(sgd, worse, regime, {"B_simple": 40.0, "epsilon_crit": 1.0}))
    assert claims["fig1/momentum-matches-sgd-below-b-star"].verdict == "holds"
    beats = claims["fig1/momentum-beats-sgd-above-b-star"]
    assert beats.verdict == "fails" and "B = 512: the interval excludes zero in the opposite direction" in beats.note
    assert claims["fig1b/train-loss-like-accuracy"].verdict == "fails"  # momentum's loss is higher there
    assert claims["fig1/b-simple-near-b-star"].verdict == "fails"
    assert "0.16× B*" in claims["fig1/b-simple-near-b-star"].note


def test_momentum_off_by_more_than_the_margin_below_b_star_fails(regime):
    sgd, mom = _fig1_curves()
    mom[0] = tuned_curve("bn-mlp", 0.9, 16, 10, GRID, peaked(GRID, 16 / 128, 0.9 - 0.005))  # 0.5 points worse
    matches = _claims(_data(sgd, mom, regime, None))["fig1/momentum-matches-sgd-below-b-star"]
    assert matches.verdict == "fails" and "B = 16: the 90% interval lies outside ±0.003" in matches.note


def test_a_noisy_gap_is_inconclusive(regime):
    sgd, mom = _fig1_curves()
    noisy = peaked(GRID, 16 / 128, 0.9 - 0.002, jitter=0.01)  # 0.2 points worse, ±1 point between seeds
    mom[0] = tuned_curve("bn-mlp", 0.9, 16, 10, GRID, noisy)
    assert _claims(_data(sgd, mom, regime, None))["fig1/momentum-matches-sgd-below-b-star"].verdict == "inconclusive"


def test_an_optimum_at_a_grid_edge_makes_every_location_claim_inconclusive():
    sgd, mom = _fig1_curves()
    low = 2.0 ** np.arange(-6, 2)  # SGD at B = 2048 peaks at 2 = the top of this grid
    sgd[-1] = tuned_curve("bn-mlp", 0.0, 2048, 10, low, peaked(low, 2.0, 0.9 - 0.06))
    edged = regime_fit(sgd, keep=3, n_bootstrap=20, seed=0)
    assert edged["edge_optima"] == [2048]
    claims = _claims(_data(sgd, mom, edged, {"B_simple": 180.0, "epsilon_crit": 1.5}))
    assert {c.verdict for c in claims.values()} == {"inconclusive"}
    assert "edge of its grid (after extension) for SGD at B = [2048]" in claims["fig1/sgd-regimes"].note


def test_fewer_than_two_momentum_batch_sizes_above_b_star_is_inconclusive(regime):
    """It was "fails" before the claims audit: too little data is not evidence against the claim."""
    sgd, mom = _fig1_curves()
    claims = _claims(_data(sgd, mom[:-2], regime, {"B_simple": 180.0, "epsilon_crit": 1.5}))
    claim = claims["fig1/momentum-scales-further"]
    assert claim.verdict == "inconclusive" and "fewer than 2 batch sizes above B*" in claim.note


def test_a_straight_line_has_no_regimes_and_missing_data_is_inconclusive(regime):
    line = [tuned_curve("bn-mlp", 0.0, b, 10, GRID, peaked(GRID, b / 128, 0.9)) for b in BATCHES[:6]]
    straight = regime_fit(line, keep=3, n_bootstrap=20, seed=0)
    data = {**_data(line, [], straight, None), "momenta": [0.0]}
    claims = _claims(data)
    assert claims["fig1/sgd-regimes"].verdict == "fails"
    assert claims["fig1/b-simple-near-b-star"].verdict == "inconclusive"
    none = _claims({**data, "regime": None})
    assert {c.verdict for c in none.values()} == {"inconclusive"}
    assert none["fig1/sgd-regimes"].note == "the hinge fit needs at least 3 batch sizes"


def test_a_hinge_through_every_point_or_with_an_unplaced_breakpoint_is_inconclusive(regime):
    """Three batch sizes fit a 3-parameter hinge exactly (no residual degrees of freedom); a B* whose bootstrap
    interval reaches an end of the B range is not located (QA: both used to hold)."""
    sgd, mom = _fig1_curves()
    three = [c for c in sgd if c["batch_size"] in (128, 256, 512)]
    exact = _claims({**_data(three, [], regime_fit(three, keep=3, n_bootstrap=20, seed=0), None), "momenta": [0.0]})
    assert exact["fig1/sgd-regimes"].verdict == "inconclusive" and "needs 5" in exact["fig1/sgd-regimes"].note
    unplaced = _claims(_data(sgd, mom, {**regime, "low": 32.0}, None))  # the second B: B*'s lowest place
    assert unplaced["fig1/sgd-regimes"].verdict == "inconclusive"
    assert "reaches an end of its range 32–1024" in unplaced["fig1/sgd-regimes"].note
    high = _claims(_data(sgd, mom, {**regime, "high": 1024.0}, None))["fig1/sgd-regimes"]  # the second-to-last B
    assert high.verdict == "inconclusive" and "reaches an end" in high.note
    assert _claims(_data(sgd, mom, {**regime, "high": 1000.0}, None))["fig1/sgd-regimes"].verdict == "holds"


def _with_test_band(curve, value, band):
    best = curve["optima"]["test_acc"] | {"value": value, "band_lower": band[0], "band_upper": band[1]}
    return curve | {"optima": curve["optima"] | {"test_acc": best}}


def test_momentum_scaling_is_read_from_the_one_std_bands(regime):
    """Before, the point optima alone decided: momentum's ε_eff 4 → 8 held though its bands allowed no growth,
    and a point one grid step below SGD's failed though the bands overlapped."""
    sgd, mom = _fig1_curves()
    index = {c["batch_size"]: i for i, c in enumerate(mom)}
    flat = list(mom)
    flat[index[512]] = _with_test_band(mom[index[512]], 4.0, (4.0, 16.0))
    flat[index[2048]] = _with_test_band(mom[index[2048]], 16.0, (4.0, 16.0))
    claim = _claims(_data(sgd, flat, regime, None))["fig1/momentum-scales-further"]
    assert claim.verdict == "inconclusive" and claim.value["growth_within_bands"] == [0.25, 4.0]
    below = list(mom)
    below[index[512]] = _with_test_band(mom[index[512]], 1.0, (1.0, 2.0))  # SGD's optimum at 512 is 2
    claim = _claims(_data(sgd, below, regime, None))["fig1/momentum-scales-further"]
    assert claim.verdict == "holds" and claim.value["ratio_momentum_to_sgd"]["512"] == 0.5
    apart = list(mom)
    apart[index[512]] = _with_test_band(mom[index[512]], 1.0, (1.0, 1.0))
    claim = _claims(_data(sgd, apart, regime, None))["fig1/momentum-scales-further"]
    assert claim.verdict == "fails" and claim.value["ratio_within_bands"]["512"] == [0.5, 0.5]
