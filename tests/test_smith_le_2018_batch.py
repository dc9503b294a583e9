import numpy as np
import pytest
from test_smith_le_2018_sgd import curve, data, peaked

from sgdnoise.experiments.smith_le_2018 import batch

GRID = (1, 3, 10, 30, 100, 300, 1000)


def _verdicts(accuracy, batch_sizes=GRID):
    return {c.id: c for c in (claim.evaluate(data([curve(accuracy)], batch_sizes)) for claim in batch.CLAIMS)}


def test_an_interior_peak_and_failing_small_batches():
    acc = np.array(peaked(GRID, 30))
    acc[:, :2] = 0.1  # B = 1, 3 fail
    claims = _verdicts(acc)
    assert claims["fig4/peak-interior"].holds and claims["fig4/peak-interior"].value["B_opt"] == 30
    assert claims["fig4/small-batches-fail"].holds
    assert claims["fig4/small-batches-fail"].value == {"1": pytest.approx(0.1), "3": pytest.approx(0.1)}
    assert all(c.provenance["evidence"] == "docs/epsilon-mapping.md" for c in claims.values())

    claims = _verdicts(peaked(GRID, 5000))  # monotone: optimum at the right edge, small batches train
    assert claims["fig4/peak-interior"].verdict == "fails" and claims["fig4/peak-interior"].value["B_opt"] == 1000
    assert claims["fig4/small-batches-fail"].verdict == "fails"


def test_a_diverged_small_batch_counts_as_failing_and_a_grid_without_small_batches_fails():
    claims = _verdicts([[None, 0.91, 0.89], [0.2, 0.90, 0.88]], (3, 30, 300))
    assert claims["fig4/peak-interior"].holds and claims["fig4/small-batches-fail"].holds
    claims = _verdicts([[0.9, 0.91, 0.89]], (10, 30, 300))
    assert (
        claims["fig4/small-batches-fail"].verdict == "fails"
        and "no batch size below" in claims["fig4/small-batches-fail"].note
    )
