import pytest
from test_smith_le_2018_sgd import curve, data

from sgdnoise.experiments.smith_le_2018 import gap


def test_small_batch_beats_full_batch_on_final_accuracy():
    (claim,) = gap.CLAIMS
    result = claim.evaluate(data([curve([[0.91, 0.89], [0.91, 0.90]])], (30, 1000)))
    assert result.id == "fig3/small-batch-beats-full-batch" and result.holds
    assert result.value["B30"] == pytest.approx(0.91) and result.value["gap"] == pytest.approx(0.015)
    assert result.provenance["evidence"] == "docs/epsilon-mapping.md"
    assert claim.evaluate(data([curve([[0.88, 0.9]])], (30, 1000))).verdict == "fails"
    # a diverged full-batch run counts as chance
    assert claim.evaluate(data([curve([[0.5, None]])], (30, 1000))).value["B1000"] == pytest.approx(0.1)
    # a grid without B = 1000 cannot decide
    assert claim.evaluate(data([curve([[0.9, 0.9]])], (30, 100))).verdict == "inconclusive"
