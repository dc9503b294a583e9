"""jastrzebski-interpolation (Jastrzębski et al. 2018 §4.1, Fig. 2–3): the claim checks on widths with known
answers (a width beyond the cap counts as wider; no finite width never passes), and which equal-η/S
comparison each Fig. 3 claim reads."""

from __future__ import annotations

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
    # the large batch (second, lower η/S) is about 2.4x sharper in every seed
    large = lower_noise_sharper(_comparison([0.6, 0.5, 0.58, 0.55], [0.2, 0.3, 0.25, 0.22], False, 2e-4), 1.0, 64.0)
    assert large.outcome == "holds"
    assert large.value["wide_over_sharp"] == pytest.approx(0.5575 / 0.2425)
    # a wide side beyond the cap enters at the cap (64): a lower bound, said in the note
    capped = lower_noise_sharper(_comparison([0.6, 0.5, None], [0.2, 0.3, 0.25], False, 2e-4), 1.0, 64.0)
    assert "1 of 6 widths beyond the cap (train loss < 1 at d = 64) (counted at the cap)" in capped.reason
    assert capped.value["log_width_difference"]["n_b"] == 3
    wider = lower_noise_sharper(_comparison([0.2, 0.25, 0.22], [0.6, 0.5, 0.55], False, 2e-4), 1.0, 64.0)
    assert wider.outcome == "fails"  # the lower-η/S side is clearly the wider one
    mixed = lower_noise_sharper(_comparison([0.6, 0.5, 0.4], [0.2, 0.55, 0.45], False, 2e-4), 1.0, 64.0)
    assert mixed.outcome == "inconclusive"  # the interval contains zero
    close = equal_width(_comparison([0.5, 0.6, 0.55, 0.52], [0.55, 0.62, 0.5, 0.56], True, 2e-3), 1.0, 64.0)
    assert close.outcome == "holds"
    apart = equal_width(_comparison([0.5, 0.52, 0.51], [1.5, 1.52, 1.49], True, 2e-3), 1.0, 64.0)
    assert apart.outcome == "fails"  # three times wider: outside the factor-1.5 margin


def test_claims_never_pass_without_evidence() -> None:
    sharp_missing = lower_noise_sharper(_comparison([None, 0.6, 0.7], [None, 0.3, 0.2], False, 2e-4), 1.0, 64.0)
    assert sharp_missing.outcome == "inconclusive"
    assert lower_noise_sharper(_comparison([0.6, 0.5], [0.2, 0.3], False, 2e-4), 1.0, 64.0).outcome == "inconclusive"
    vacuous = equal_width(_comparison([None, None, None], [None, None, None], True, 2e-3), 1.0, 64.0)
    one_missing = equal_width(_comparison([3.0, None, 3.0], [3.1, 3.2, 3.0], True, 2e-3), 1.0, 64.0)
    two_seeds = equal_width(_comparison([3.0, 3.01], [3.0, 3.01], True, 2e-3), 1.0, 64.0)  # fewer seeds never pass
    for verdict in (vacuous, one_missing, two_seeds):
        assert verdict.outcome == "inconclusive"
    assert "6 of 6 widths beyond the cap" in vacuous.reason
    assert lower_noise_sharper(_comparison([], [], False, 2e-4), 1.0, 64.0).outcome == "inconclusive"


_EQUAL = ([0.5, 0.6, 0.55], [0.55, 0.58, 0.52])
_APART = ([0.5, 0.52, 0.51], [0.9, 0.92, 0.91])


def test_fig3_claims_read_the_smallest_and_the_largest_beta() -> None:
    data = {
        "comparisons": {
            "large-batch": _comparison([0.6, 0.62, 0.61], [0.2, 0.21, 0.19], False, 2e-4),
            "small-lr": _comparison([0.6, 0.62, 0.61], [0.9, 0.92, 0.91], False, 2e-4, lr2=0.01),
            "large-batch-vs-small-lr": _comparison(*_EQUAL, True, 2e-4, lr2=0.01),  # β = 0.1: not a Fig. 3 pair
            "beta=0.25": _comparison(*_APART, True, 2e-3, lr2=0.025),  # fails
            "beta=0.5": _comparison(*_EQUAL, True, 2e-3, lr2=0.05),  # holds
            "beta=2": _comparison(*_EQUAL, True, 2e-3, lr2=0.2),  # holds
            "beta=4": _comparison(*_APART, True, 2e-3, lr2=0.4),  # fails
        },
        "loss_threshold": 1.0,
        "width_cap": 64.0,
    }
    claims = {c.id: c.evaluate(data) for c in CLAIMS}
    assert claims["fig2/lower-noise-sharper-large-batch"].verdict == "holds"
    assert claims["fig2/lower-noise-sharper-small-lr"].verdict == "fails"
    assert claims["fig2/equal-noise-equal-width-large-batch-vs-small-lr"].verdict == "holds"
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
