import pytest
from test_smith_le_2018_sgd import curve, data

from sgdnoise.experiments.smith_le_2018 import l2

FLAT = {30: [[0.5, 0.3, 0.301]] * 3, 1000: [[0.5, 0.35, 0.352], [0.5, 0.35, 0.351], [0.5, 0.35, 0.353]]}


def _claims(curves):
    return {c.id: c for c in (claim.evaluate(data(curves, (30, 1000))) for claim in l2.CLAIMS)}


def test_l2_shrinks_the_gap_and_full_batch_catches_up():
    plain = curve(
        [[0.91, 0.89], [0.912, 0.892], [0.909, 0.889]], cross_entropy=[[0.44, 0.6], [0.45, 0.6], [0.44, 0.61]]
    )
    regularised = curve(
        [[0.905, 0.9], [0.906, 0.901], [0.904, 0.9]],
        cross_entropy=[[0.31, 0.36], [0.32, 0.36], [0.31, 0.37]],
        l2_lambda=0.1,
        history=FLAT,
    )
    claims = _claims([plain, regularised])
    shrinks = claims["fig8/l2-shrinks-gap"]
    assert shrinks.holds and shrinks.value["gap_with_l2"] == pytest.approx(0.0047, abs=1e-4)
    assert claims["fig8/full-batch-similar-at-long-times"].holds
    assert claims["fig8/full-batch-similar-at-long-times"].kind == "paper"
    assert claims["fig8a/regularised-full-batch-below-plain-small-batch"].holds
    assert claims["fig8b/regularised-full-batch-lower-cross-entropy"].holds
    assert claims["fig8b/regularised-cross-entropy-does-not-degrade"].holds
    assert all("decided by the ε calibration" in c.statement for c in claims.values())

    swapped = _claims([regularised | {"l2_lambda": 0.0}, plain | {"l2_lambda": 0.1}])
    assert swapped["fig8/l2-shrinks-gap"].verdict == "fails"
    assert swapped["fig8/full-batch-similar-at-long-times"].verdict == "fails"  # 2 points apart, margin 1
    assert swapped["fig8b/regularised-cross-entropy-does-not-degrade"].verdict == "inconclusive"  # no history


def test_without_an_unregularised_curve_or_enough_seeds_the_claims_cannot_decide():
    claims = _claims([curve([[0.92, 0.915]] * 3, l2_lambda=0.1)])
    assert claims["fig8/l2-shrinks-gap"].verdict == "inconclusive"
    two = _claims([curve([[0.91, 0.89], [0.91, 0.9]]), curve([[0.92, 0.915], [0.92, 0.916]], l2_lambda=0.1)])
    assert two["fig8/l2-shrinks-gap"].verdict == two["fig8/full-batch-similar-at-long-times"].verdict == "inconclusive"
    rising = {30: [[0.5, 0.3, 0.4]] * 3, 1000: [[0.5, 0.3, 0.4]] * 3}
    degrading = _claims([curve([[0.9, 0.9]] * 3), curve([[0.9, 0.9]] * 3, l2_lambda=0.1, history=rising)])
    assert degrading["fig8b/regularised-cross-entropy-does-not-degrade"].verdict == "fails"
