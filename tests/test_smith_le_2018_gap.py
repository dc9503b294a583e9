import pytest
from test_smith_le_2018_sgd import curve, data

from sgdnoise.experiments.smith_le_2018 import gap

RISING = {
    30: [[0.5, 0.4, 0.45], [0.5, 0.41, 0.47], [0.5, 0.39, 0.46]],
    1000: [[0.6, 0.5, 0.6]] * 2 + [[0.6, 0.5, 0.62]],
}


def _claims(accuracy, cross_entropy=None, history=None, batch_sizes=(30, 1000)):
    figure = data([curve(accuracy, cross_entropy=cross_entropy, history=history)], batch_sizes)
    return {c.id: c for c in (claim.evaluate(figure) for claim in gap.CLAIMS)}


def test_small_batch_beats_full_batch_by_an_interval_over_seeds():
    claims = _claims([[0.91, 0.89], [0.912, 0.90], [0.909, 0.895]], [[0.4, 0.6], [0.42, 0.61], [0.41, 0.58]], RISING)
    beats = claims["fig3/small-batch-beats-full-batch"]
    assert beats.holds and beats.value["B30"] == pytest.approx(0.9103, abs=1e-4)
    assert beats.provenance["evidence"] == "docs/epsilon-mapping.md"
    assert claims["fig3b/small-batch-lower-final-cross-entropy"].holds
    assert claims["fig3b/cross-entropy-rises-after-minimum"].holds
    assert claims["fig3b/cross-entropy-rises-after-minimum"].value["B30"]["argmin_step"] == 1

    flipped = _claims([[0.88, 0.9], [0.881, 0.901], [0.879, 0.902]], [[0.6, 0.4]] * 3)
    assert flipped["fig3/small-batch-beats-full-batch"].verdict == "fails"
    assert flipped["fig3b/small-batch-lower-final-cross-entropy"].verdict == "fails"
    assert flipped["fig3b/cross-entropy-rises-after-minimum"].verdict == "inconclusive"  # no history


def test_few_seeds_a_diverged_run_or_a_missing_batch_size_cannot_decide_or_count_as_chance():
    assert _claims([[0.91, 0.89], [0.91, 0.90]])["fig3/small-batch-beats-full-batch"].verdict == "inconclusive"
    diverged = _claims([[0.5, None], [0.52, None], [0.49, None]])["fig3/small-batch-beats-full-batch"]
    assert diverged.holds and diverged.value["B1000"] == pytest.approx(0.1)
    assert _claims([[0.9, 0.9]] * 3, batch_sizes=(30, 100))["fig3/small-batch-beats-full-batch"].verdict == (
        "inconclusive"
    )
    flat = {30: [[0.5, 0.4, 0.4]] * 3, 1000: [[0.6, 0.5, 0.5]] * 3}
    assert _claims([[0.9, 0.9]] * 3, history=flat)["fig3b/cross-entropy-rises-after-minimum"].verdict == "fails"
