import pytest
from test_smith_le_2018_sgd import curve, data

from sgdnoise.experiments.smith_le_2018 import l2


def _claims(curves):
    return {c.id: c for c in (claim.evaluate(data(curves, (30, 1000))) for claim in l2.CLAIMS)}


def test_l2_shrinks_the_gap_and_small_batches_still_win():
    plain = curve([[0.91, 0.89], [0.91, 0.90]])
    regularised = curve([[0.92, 0.915], [0.92, 0.915]], l2_lambda=0.1)
    claims = _claims([plain, regularised])
    shrinks = claims["fig8/l2-shrinks-gap"]
    assert shrinks.holds and shrinks.value["gap_with_l2"] == pytest.approx(0.005)
    assert shrinks.value["gap_without_l2"] == pytest.approx(0.015)
    assert shrinks.value["with_l2"] == {"30": pytest.approx(0.92), "1000": pytest.approx(0.915)}
    assert claims["fig8/small-batch-beats-full-batch"].holds  # checked on the regularised (last) curve
    assert claims["fig8/small-batch-beats-full-batch"].kind == "extension"

    swapped = _claims([regularised | {"l2_lambda": 0.0}, plain | {"l2_lambda": 0.1}])
    assert swapped["fig8/l2-shrinks-gap"].verdict == "fails"


def test_without_an_unregularised_curve_the_claim_cannot_decide():
    claims = _claims([curve([[0.92, 0.915]], l2_lambda=0.1)])
    assert claims["fig8/l2-shrinks-gap"].verdict == "inconclusive"
