"""jastrzebski-interpolation (Jastrzębski et al. 2018 §4.1, Fig. 2–3): the claim checks on widths with known
answers (a width beyond the cap counts as wider; no finite width never passes), and which equal-η/S
comparison each Fig. 3 claim reads."""

from __future__ import annotations

import math

import pytest

from sgdnoise.experiments.jastrzebski_2018.interpolation import CLAIMS, equal_width, lower_noise_sharper


def _comparison(w1: list, w2: list, equal: bool, noise2: float, lr2: float = 0.1) -> dict:
    return {
        "first": {"learning_rate": 0.1, "batch_size": 50, "noise": 2e-3},
        "second": {"learning_rate": lr2, "batch_size": 500, "noise": noise2},
        "equal_noise": equal,
        "widths": {"first": w1, "second": w2},
    }


def test_claims_known_answers() -> None:
    large = lower_noise_sharper(_comparison([0.6, 0.5, None], [0.2, 0.3, 0.25], False, 2e-4), 1.0, 64.0)
    assert large.outcome == "holds"  # None: beyond the cap, wider than any finite width
    assert large.value["seeds_sharper"] == 3
    assert "1 of 6 widths beyond the cap" in large.reason
    small = lower_noise_sharper(_comparison([0.6, 0.5, 0.4], [0.2, 0.55, 0.25], False, 2e-4), 1.0, 64.0)
    assert small.outcome == "fails"  # seed 2 not sharper
    assert small.value["seeds_sharper"] == 2
    assert small.value["wide_over_sharp"] == pytest.approx(1.5)  # 0.5 / (1/3)
    close = equal_width(_comparison([0.5, 0.6], [0.55, 0.65], True, 2e-3), 1.0, 64.0)
    assert close.outcome == "holds"  # diff 0.05 ≤ 2 × pooled 0.05
    assert close.value["difference"] == pytest.approx(0.05)
    assert close.value["pooled_std"] == pytest.approx(0.05)
    assert equal_width(_comparison([0.5, 0.52], [0.9, 0.92], True, 2e-3), 1.0, 64.0).outcome == "fails"


def test_claims_never_pass_without_finite_widths() -> None:
    sharp_missing = lower_noise_sharper(_comparison([None, None], [None, 0.3], False, 2e-4), 1.0, 64.0)
    assert sharp_missing.outcome == "fails"
    assert sharp_missing.value["seeds_sharper"] == 1  # seed 1: 0.3 < beyond cap
    vacuous = equal_width(_comparison([None, None], [None, None], True, 2e-3), 1.0, 64.0)  # the old vacuous pass
    one_missing = equal_width(_comparison([3.0, None], [3.1, 3.2], True, 2e-3), 1.0, 64.0)
    one_seed = equal_width(_comparison([3.0], [3.0], True, 2e-3), 1.0, 64.0)  # no spread to compare with
    for verdict in (vacuous, one_missing, one_seed):
        assert verdict.outcome == "fails" and verdict.reason.startswith("not evaluable")
    assert "4 of 4 widths beyond the cap" in vacuous.reason
    assert math.isnan(one_missing.value["difference"])
    assert lower_noise_sharper(_comparison([], [], False, 2e-4), 1.0, 64.0).reason.startswith("not evaluable")


def test_fig3_claims_read_the_smallest_and_the_largest_beta() -> None:
    data = {
        "comparisons": {
            "large-batch": _comparison([0.6], [0.2], False, 2e-4),
            "small-lr": _comparison([0.6], [0.7], False, 2e-4, lr2=0.01),
            "beta=0.25": _comparison([0.5, 0.52], [0.9, 0.92], True, 2e-3, lr2=0.025),  # fails
            "beta=0.5": _comparison([0.5, 0.6], [0.55, 0.65], True, 2e-3, lr2=0.05),  # holds
            "beta=2": _comparison([0.5, 0.6], [0.55, 0.65], True, 2e-3, lr2=0.2),  # holds
            "beta=4": _comparison([0.5, 0.52], [0.9, 0.92], True, 2e-3, lr2=0.4),  # fails
        },
        "loss_threshold": 1.0,
        "width_cap": 64.0,
    }
    claims = {c.id: c.evaluate(data) for c in CLAIMS}
    assert claims["fig2/lower-noise-sharper-large-batch"].verdict == "holds"
    assert claims["fig2/lower-noise-sharper-small-lr"].verdict == "fails"
    assert claims["fig3/equal-noise-equal-width-small-beta"].verdict == "fails"  # β = 0.25, not 0.5
    assert claims["fig3/equal-noise-equal-width-large-beta"].verdict == "fails"  # β = 4, not 2
    del data["comparisons"]["beta=4"], data["comparisons"]["beta=0.25"]
    claims = {c.id: c.evaluate(data) for c in CLAIMS}
    assert claims["fig3/equal-noise-equal-width-small-beta"].verdict == "holds"
    assert claims["fig3/equal-noise-equal-width-large-beta"].verdict == "holds"
    del data["comparisons"]["beta=2"]
    assert {c.id: c.evaluate(data) for c in CLAIMS}["fig3/equal-noise-equal-width-large-beta"].verdict == (
        "inconclusive"
    )
