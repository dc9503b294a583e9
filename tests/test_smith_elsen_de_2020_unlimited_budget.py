"""Fig. 2c–d: the test-accuracy optimum against the training-loss optimum across epoch budgets."""

import numpy as np
import pytest
from test_smith_elsen_de_2020_setup import peaked, tuned_curve

from sgdnoise.experiments.smith_elsen_de_2020.unlimited_budget import CLAIMS, loss_jump_above

GRID = 2.0 ** np.arange(-8, 3)
LABELS = {"bn-mlp": "batch norm (ghost 64)", "mlp": "no normalisation"}


def _claims(curves, labels=LABELS):
    data = {"curves": curves, "batch_size": 64, "labels": labels}
    return {spec.id: spec.evaluate(data) for spec in CLAIMS}


def test_unlimited_budget_claims_compare_the_two_optima():
    curves = []
    for i, epochs in enumerate((2, 4, 8, 16)):
        acc = peaked(GRID, 0.5 if i < 2 else 0.25, 0.9)  # test optimum moves by 2×
        loss = -peaked(GRID, 2.0**-i, 0.0)  # loss optimum halves with every budget
        curves.append(tuned_curve("bn-mlp", 0.9, 64, epochs, GRID, acc, loss))
        curves.append(tuned_curve("mlp", 0.9, 64, epochs, GRID, peaked(GRID, 2.0**-i, 0.9), loss))
    claims = _claims(curves)
    assert claims["fig2c/test-lr-stays"].verdict == "holds" and claims["fig2c/test-lr-stays"].value["max_over_min"] == 2
    assert claims["fig2c/loss-lr-falls"].verdict == "holds"
    assert claims["fig2c/loss-lr-falls"].value["first_over_last"] == pytest.approx(8.0)
    assert claims["fig2d/test-lr-stays"].verdict == "fails" and claims["fig2d/test-lr-stays"].value["max_over_min"] == 8
    assert claims["fig2c/loss-lr-falls"].note == ""  # smooth losses: no stability note


def test_a_loss_cliff_above_the_optimum_is_noted_with_its_ratio():
    loss = np.where(GRID[:, None] > 1.0, 5.0, 0.5 - 0.01 * (np.log2(GRID)[:, None] ** 2) * -1)
    cliff = tuned_curve("mlp", 0.9, 64, 4, GRID, peaked(GRID, 0.5, 0.9), np.repeat(loss, 4, axis=1))
    assert loss_jump_above(cliff) == pytest.approx(10.0)
    flat = tuned_curve("mlp", 0.9, 64, 2, GRID, peaked(GRID, 0.5, 0.9), np.repeat(loss, 4, axis=1))
    claims = _claims([flat, cliff], {"mlp": "no normalisation"})
    note = claims["fig2d/loss-lr-falls"].note
    assert "more than 2× higher" in note and "2: 10" in note and "4: 10" in note
    # no batch-norm architecture was run: its panel cannot be decided
    assert claims["fig2c/test-lr-stays"].verdict == "inconclusive"
    assert _claims([flat], {"mlp": "no normalisation"})["fig2d/test-lr-stays"].verdict == "inconclusive"
