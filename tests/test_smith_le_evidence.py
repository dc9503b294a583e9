import json
import sqlite3

import numpy as np
import pytest

from sgdnoise import experiments
from sgdnoise.experiments import smith_le_evidence as exp

TINY = {"datasets": ("synthetic",), "lambda_min": 1e-4, "lambda_max": 1e2, "points_per_decade": 1, "seeds": 2}


def _finish_times(path):
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT key, finished FROM runs").fetchall())


def test_lambda_grid_spans_the_range_with_the_requested_density():
    grid = experiments.get_experiment("smith-le-evidence").spec("quick").lambdas()
    assert grid[0] == pytest.approx(1e-8) and grid[-1] == pytest.approx(1e5)
    assert len(grid) == 13 * 4 + 1
    assert np.allclose(np.diff(np.log10(grid)), 0.25)


def test_reproduce_writes_the_output_contract_and_resumes_without_refitting(tmp_path):
    out = tmp_path / "run"
    summary = experiments.reproduce("smith-le-evidence", overrides=TINY, out_dir=out, show_progress=False)
    spec = exp.EvidenceSpec(**TINY)
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["experiment"] == "smith-le-evidence" and on_disk["scale"] == "quick"
    assert on_disk["wall_seconds"] > 0
    assert {c["id"].split("/")[0] for c in on_disk["claims"]} == {"synthetic"}
    for claim in on_disk["claims"]:
        assert set(claim) >= {"id", "statement", "holds", "value"}
        assert isinstance(claim["holds"], bool)
    curves = on_disk["data"]["synthetic"]["informative"]
    assert len(curves["log_evidence_ratio"]["mean"]) == len(spec.lambdas())
    assert sorted(p.name for p in (out / "figures").iterdir()) == [
        "fig1_synthetic_accuracy_margin.png",
        "fig2_synthetic_cross_entropy_evidence.png",
    ]
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 2
    n_fits = len(spec.lambdas()) * 2 * spec.seeds
    stored = _finish_times(out / "store.sqlite")
    assert len(stored) == n_fits

    again = experiments.reproduce("smith-le-evidence", overrides=TINY, out_dir=out, show_progress=False)
    assert again["claims"] == summary["claims"]
    assert _finish_times(out / "store.sqlite") == stored  # nothing refitted or rewritten


def _curves(**means):
    base = {metric: np.zeros(3) for metric in exp.METRICS}
    base.update({k: np.asarray(v, float) for k, v in means.items()})
    return {metric: {"mean": list(v), "std": [0.0] * 3, "per_seed": [list(v)]} for metric, v in base.items()}


def test_claims_follow_the_numbers():
    lambdas = np.array([1e-6, 1e-2, 1e2])
    random = _curves(
        train_accuracy=[1.0, 0.9, 0.5],
        test_accuracy=[0.505, 0.5, 0.5],
        log_evidence_ratio=[300.0, 50.0, 0.1],
        log_evidence_ratio_per_example=[1.5, 0.25, 0.0005],
        mean_margin=[0.1, 0.2, 0.3],
    )
    informative = _curves(
        train_accuracy=[1.0, 1.0, 0.9],
        test_accuracy=[0.99, 0.99, 0.9],
        log_evidence_ratio=[-10.0, -100.0, -1.0],
        test_cross_entropy=[0.5, 0.05, 0.6],
        cost=[0.01, 5.0, 100.0],
        occam=[400.0, 100.0, 1.0],
        mean_margin=[0.15, 0.3, 0.4],
    )
    claims = {
        c.id.split("/")[1]: c
        for c in exp.check_claims("mnist01", lambdas, {"random": random, "informative": informative})
    }
    assert claims["informative-fits-and-generalizes"].holds
    assert claims["random-memorized"].holds
    assert claims["evidence-positive-random"].holds  # E/N = 0.0005 at strong λ counts as E ≈ 0
    assert claims["evidence-negative-informative"].holds
    weak = claims["evidence-positive-weak-informative"]
    assert not weak.holds and "N ln 2" in weak.note
    assert claims["evidence-tracks-test-cross-entropy"].holds
    assert claims["margin-larger-informative"].value["ratio"] == pytest.approx(1.5)

    random["log_evidence_ratio_per_example"]["per_seed"] = [[1.5, -0.5, 0.0]]
    informative["test_accuracy"]["mean"][0] = 0.9
    claims = {
        c.id.split("/")[1]: c
        for c in exp.check_claims("mnist01", lambdas, {"random": random, "informative": informative})
    }
    assert not claims["evidence-positive-random"].holds
    assert claims["evidence-positive-random"].value["violations"] == 1
    assert not claims["informative-fits-and-generalizes"].holds
