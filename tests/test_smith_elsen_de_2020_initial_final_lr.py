"""Fig. 3: the joint (ε_0, ε_f) optimum and the two claims on it."""

import math

import numpy as np
import pytest

from sgdnoise.experiments.smith_elsen_de_2020.initial_final_lr import CLAIMS, pair_optimum


def _claims(budgets):
    data = {"budgets": budgets, "batch_size": 64, "initial_grid": [], "final_grid": []}
    return {spec.id: spec.evaluate(data) for spec in CLAIMS}


def test_pair_optimum_and_initial_final_claims():
    pairs = [(e0, ef) for e0 in (0.25, 0.5, 1.0, 2.0) for ef in (2.0**-8, 2.0**-6, 2.0**-4) if ef < e0]
    best = {2: (1.0, 2.0**-4), 8: (1.0, 2.0**-6), 32: (2.0, 2.0**-8)}
    budgets = []
    for epochs, (b0, bf) in best.items():
        clean = np.array([0.9 - 0.01 * (math.log2(e0 / b0) ** 2 + math.log2(ef / bf) ** 2) for e0, ef in pairs])
        scores = clean[:, None] + np.array([0.0, 0.0005, -0.0005, -0.05])[None, :]  # one outlier run per pair
        budgets.append({"epochs": epochs, "test_acc": pair_optimum(pairs, scores, keep=3, maximize=True)})
    first = budgets[0]["test_acc"]
    assert first["initial"] == 1.0 and first["final"] == 2.0**-4
    assert first["score"] == pytest.approx(0.9) and first["score_std"] == pytest.approx(0.0005)
    assert budgets[2]["test_acc"]["initial_at_edge"]  # 2.0 is the largest ε_0 on the grid
    claims = _claims(budgets)
    initial, final = claims["fig3/initial-lr-does-not-fall"], claims["fig3/final-lr-falls"]
    assert initial.verdict == "holds" and initial.value["initial_lr"] == [1.0, 1.0, 2.0]
    assert final.verdict == "holds" and final.value["final_lr"] == [2.0**-4, 2.0**-6, 2.0**-8]
    assert "edge" in initial.note
    falling = [budgets[0], {"epochs": 8, "test_acc": dict(budgets[1]["test_acc"], initial=0.5)}]
    assert _claims(falling)["fig3/initial-lr-does-not-fall"].verdict == "fails"
    assert {c.verdict for c in _claims(budgets[:1]).values()} == {"inconclusive"}


def test_pair_optimum_minimises_and_scores_failed_runs_as_the_worst():
    pairs = [(1.0, 0.25), (1.0, 0.5), (2.0, 0.25)]
    loss = np.array([[0.3, 0.3, np.nan], [0.1, 0.1, 0.1], [np.nan, np.nan, np.nan]])
    opt = pair_optimum(pairs, loss, keep=2, maximize=False)
    assert (opt["initial"], opt["final"], opt["score"]) == (1.0, 0.5, pytest.approx(0.1))
    assert opt["means"][2] == pytest.approx(0.3)  # every run failed: scored as the worst observed
