import dataclasses

import numpy as np
import pytest
from test_smith_le_2018_sgd import curve, data, peaked

from sgdnoise.experiments.smith_le_2018 import batch

GRID = (1, 3, 10, 30, 100, 300, 1000)


def _verdicts(accuracy, batch_sizes=GRID, literal=None, **kwargs):
    figure = data([curve(accuracy, **kwargs)], batch_sizes)
    if literal is not None:
        figure["literal"] = data([curve(literal, learning_rate=1.0)], batch_sizes)
        figure["literal"]["optimum"] = batch.grid_optimum(figure["literal"]["curves"][0], batch_sizes).to_dict()
    return {c.id: c for c in (claim.evaluate(figure) for claim in batch.CLAIMS)}


def test_an_interior_peak_and_failing_small_batches():
    acc = np.array(peaked(GRID, 30))
    acc[:, :2] = 0.1  # B = 1, 3 fail
    claims = _verdicts(acc)
    assert claims["fig4/peak-interior"].holds and claims["fig4/peak-interior"].value["B_opt"] == 30
    assert claims["fig4/small-batches-fail"].holds
    assert claims["fig4/small-batches-fail"].value["1"]["accuracy"] == pytest.approx(0.1)
    assert all(c.provenance["evidence"] == "docs/epsilon-mapping.md" for c in claims.values())
    assert "decided by the ε calibration" in claims["fig4/peak-interior"].statement
    assert claims["fig4/epsilon-mapping-calibration"].kind == "calibration"
    assert claims["fig4/epsilon-mapping-calibration"].holds  # still at B = 30 under lr = 0.1·ε
    assert claims["fig4/peak-interior-literal"].verdict == "inconclusive"  # the literal setting was not run

    claims = _verdicts(peaked(GRID, 5000))  # monotone: optimum at B = N, small batches train
    assert claims["fig4/peak-interior"].verdict == "fails" and claims["fig4/peak-interior"].value["B_opt"] == 1000
    assert claims["fig4/small-batches-fail"].verdict == "fails"
    assert claims["fig4/epsilon-mapping-calibration"].verdict == "fails"


def test_an_optimum_before_skipped_batch_sizes_or_too_few_seeds_is_inconclusive():
    acc = np.array(peaked(GRID, 5000))
    acc[:, -2:] = np.nan
    status = [["finished"] * 5 + [None] * 2 for _ in range(3)]
    assert _verdicts(acc, status=status)["fig4/peak-interior"].verdict == "inconclusive"
    two_seeds = _verdicts(peaked(GRID, 30, seeds=2))
    assert two_seeds["fig4/peak-interior"].verdict == "inconclusive" and "seed" in two_seeds["fig4/peak-interior"].note


def test_the_literal_setting_is_checked_beside_the_calibrated_one():
    dead = np.array(peaked(GRID, 5000))
    dead[:, :4] = 0.1  # every B ≤ 30 dies with lr = ε
    claims = _verdicts(peaked(GRID, 30), literal=dead)
    assert claims["fig4/peak-interior"].holds and claims["fig4/peak-interior-literal"].verdict == "fails"
    assert claims["fig4/peak-interior-literal"].kind == "extension"
    assert claims["fig4/epsilon-mapping-calibration"].value["literal_B_opt"] == 1000
    assert _verdicts(peaked(GRID, 30), literal=peaked(GRID, 300))["fig4/peak-interior-literal"].holds
    # a plateau: the best B = 300 level with B = 1000 (the first quick run's literal setting) is no clear peak
    plateau = np.array(peaked(GRID, 300))
    plateau[:, -1] = plateau[:, -2] - 1e-5
    literal = _verdicts(peaked(GRID, 30), literal=plateau)["fig4/peak-interior-literal"]
    assert literal.verdict == "inconclusive" and "above B = 1000" in literal.note


def test_small_batches_fail_by_an_interval_over_seeds():
    claims = _verdicts([[None, 0.91, 0.89], [0.2, 0.90, 0.88], [0.1, 0.9, 0.88]], (3, 30, 300))
    assert claims["fig4/peak-interior"].holds and claims["fig4/small-batches-fail"].holds
    noisy = _verdicts([[0.1, 0.91, 0.89], [0.8, 0.90, 0.88], [0.1, 0.9, 0.88]], (3, 30, 300))
    assert noisy["fig4/small-batches-fail"].verdict == "inconclusive"
    claims = _verdicts([[0.9, 0.91, 0.89]] * 3, (10, 30, 300))
    assert (  # nothing to judge: inconclusive (it was "fails" before the claims audit)
        claims["fig4/small-batches-fail"].verdict == "inconclusive"
        and "no batch size below" in claims["fig4/small-batches-fail"].note
    )


def test_a_single_batch_size_runs_through_and_the_peak_claims_are_inconclusive(monkeypatch):
    # `reproduce smith-le-batch --set batch_sizes=4` used to raise NotEnoughData inside run (no optimum of one B)
    one = (4,)
    monkeypatch.setattr(batch, "sweep_data", lambda spec, ctx, swept: data([curve(peaked(one, 4))], one))
    spec = batch.EXPERIMENT.spec("quick")
    figure = batch.run(dataclasses.replace(spec, batch_sizes=one), ctx=None)
    assert figure["optimum"] is None and figure["literal"]["optimum"] is None
    claims = {c.id: c for c in (claim.evaluate(figure) for claim in batch.CLAIMS)}
    for claim_id in ("fig4/epsilon-mapping-calibration", "fig4/peak-interior", "fig4/peak-interior-literal"):
        assert claims[claim_id].verdict == "inconclusive", claim_id
        assert "fewer than 2 batch sizes" in claims[claim_id].note, claim_id
