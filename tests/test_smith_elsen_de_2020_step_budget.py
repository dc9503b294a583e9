"""Table 1: the rows read off tuned curves, and the two claims on them."""

import numpy as np
import pytest
from test_smith_elsen_de_2020_setup import peaked, tuned_curve

from sgdnoise.experiments.smith_elsen_de_2020.step_budget import CLAIMS, table_rows

GRID = 2.0 ** np.arange(-2, 4)


def _data(heights, losses=None):
    curves = []
    for b, h in heights.items():
        acc = peaked(GRID, 2.0, h)
        loss = None if losses is None else np.full_like(acc, losses[b]) + 0.001 * (1 - acc)
        curves.append(tuned_curve("bn-mlp", 0.9, b, 1, GRID, acc, loss))
    return {"curves": curves, "table": table_rows(curves, keep=3), "steps": 160}


def _claims(data):
    return {spec.id: spec.evaluate(data) for spec in CLAIMS}


def test_step_budget_claims_read_the_table():
    data = _data({256: 0.90, 512: 0.92, 1024: 0.93, 2048: 0.91}, {256: 0.30, 512: 0.20, 1024: 0.10, 2048: 0.05})
    assert [r["lr"] for r in data["table"]] == [2.0] * 4
    assert [r["batch_size"] for r in data["table"]] == [256, 512, 1024, 2048]
    claims = _claims(data)
    peak, loss = claims["table1/accuracy-peaks-then-falls"], claims["table1/train-loss-keeps-falling"]
    assert peak.verdict == "holds" and peak.value["B_peak"] == 1024 and peak.value["drop_points"] == pytest.approx(2.0)
    assert loss.verdict == "holds" and loss.value["monotone_in_B"]
    assert loss.value["margin"] == pytest.approx(0.05, abs=1e-3)


def test_no_peak_and_a_rising_loss_fail_with_their_numbers():
    rising = _claims(_data({256: 0.90, 512: 0.91, 1024: 0.92}))
    assert rising["table1/accuracy-peaks-then-falls"].verdict == "fails"
    assert rising["table1/accuracy-peaks-then-falls"].note == "accuracy peaks at the largest batch size 1024"
    assert rising["table1/train-loss-keeps-falling"].verdict == "fails"
    higher = _claims(_data({256: 0.90, 512: 0.93, 1024: 0.91}, {256: 0.1, 512: 0.1, 1024: 0.2}))
    note = higher["table1/train-loss-keeps-falling"].note
    assert higher["table1/train-loss-keeps-falling"].verdict == "fails" and note.startswith(
        "training loss at the largest B is higher than at the peak by 0.1"
    )


def test_fewer_than_three_batch_sizes_are_inconclusive():
    claims = _claims(_data({256: 0.90, 512: 0.92}))
    assert {c.verdict for c in claims.values()} == {"inconclusive"}
