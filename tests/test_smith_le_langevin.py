import json
import math
import sqlite3

import numpy as np
import pytest
import torch

from sgdnoise import experiments
from sgdnoise.experiments import smith_le_langevin as exp

TINY = {
    "chains": 2000,
    "step_fractions": (0.5, 0.1),
    "relaxation_times": 4.0,
    "logistic_chains": 100,
    "logistic_dim": 5,
    "logistic_n_train": 50,
    "logistic_n_test": 200,
    "logistic_relaxation_times": 2.0,
    "well_chains": 200,
    "well_time": 5.0,
}


def _finish_times(path):
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT key, finished FROM runs").fetchall())


def test_sgld_chains_reach_the_exact_stationary_law_of_the_discretised_gaussian():
    # C = a ω²/2 per coordinate (N = 1): ω ← (1 − ha)ω + √(2h)ξ has stationary variance 1/(a(1 − ha/2))
    a = torch.tensor([4.0, 1.0], dtype=torch.float64)
    h = 0.5 / 4.0
    start = torch.full((20000, 2), 3.0, dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    samples, recorded = exp.run_chains(lambda w: a * w, start, h, 1, 200, generator, record=(100,))
    predicted = 1 / (a * (1 - h * a / 2))
    assert torch.allclose(samples.var(0), predicted, rtol=0.04)  # s.e. of a variance: √(2/20000) ≈ 1%
    assert samples.mean(0).abs().max() < 4 * predicted.sqrt().max() / math.sqrt(20000)
    assert set(recorded) == {100}


def test_linear_statistics_match_the_closed_forms_on_exact_samples():
    generator = torch.Generator().manual_seed(1)
    precision = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    covariance = torch.linalg.inv(precision)
    mean = torch.tensor([1.0, -1.0], dtype=torch.float64)
    noise = torch.randn(50000, 2, generator=generator, dtype=torch.float64)
    samples = mean + noise @ torch.linalg.cholesky(covariance).T  # exact posterior samples
    curvatures = torch.linalg.eigvalsh(precision).numpy()
    row = exp.linear_statistics(samples, mean, precision, covariance, curvatures, h=1e-6)
    assert row["excess_variance_predicted"] == pytest.approx(0.0, abs=1e-5)
    assert abs(row["excess_variance"]) < 4 * row["excess_variance_se"]
    assert row["mean_chi2_p"] > 0.001 and row["whitened_cov_max_abs_z"] < 4
    inflated = exp.linear_statistics(samples, mean, precision, covariance, curvatures, h=0.5)
    assert inflated["excess_variance_predicted"] == pytest.approx(np.mean(1 / (1 - 0.5 * curvatures / 2)) - 1)


def test_two_wells_gradient_bowls_and_masses_agree_with_closed_forms():
    wells = exp.TwoWells(separation=8.0, sharp=16.0, wide=4.0, depth_gap=1.0)
    points = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 3
    points.requires_grad_(True)
    (autograd,) = torch.autograd.grad(wells.cost(points).sum(), points)
    assert torch.allclose(wells.gradient(points.detach()), autograd)
    centres = wells.centres(torch.device("cpu"))
    assert wells.bowl(centres + 0.3).tolist() == [0, 1]
    # well separated: each bowl integral is a_i·2π/c_i (2-D Gaussian)
    masses = exp._bowl_masses(wells, torch.device("cpu"))
    assert masses[0] == pytest.approx(2 * math.pi / 16, rel=1e-3)
    assert masses[1] == pytest.approx(math.exp(-1) * 2 * math.pi / 4, rel=1e-3)


def _linear_rows(excess, predicted, se=0.01):
    return [
        {
            "step_fraction": f,
            "epsilon": f,
            "h": f,
            "excess_variance": e,
            "excess_variance_predicted": p,
            "excess_variance_se": se,
            "relative_cov_error": e,
            "mean_chi2": 2.0,
            "mean_chi2_p": 0.5,
            "whitened_cov_max_abs_z": 1.0,
        }
        for f, e, p in zip((1.0, 0.5, 0.1), excess, predicted, strict=True)
    ]


def test_linear_claims_follow_the_numbers():
    data = {"dim": 2, "chains": 1000, "rows": _linear_rows([0.30, 0.12, 0.01], [0.31, 0.12, 0.02])}
    assert all(c.holds for c in exp.check_linear_claims(data))
    data["rows"] = _linear_rows([0.30, 0.12, 0.15], [0.31, 0.12, 0.02])
    moments, falls, predicted = exp.check_linear_claims(data)
    assert moments.holds  # χ² and z of the smallest step are fine
    assert not falls.holds and "0.5→0.1 (0.12→0.15" in falls.note
    assert not predicted.holds and predicted.value["z"][2] == pytest.approx(13.0)
    data["rows"][-1]["mean_chi2_p"] = 1e-4
    assert not exp.check_linear_claims(data)[0].holds


def test_logistic_and_wells_claims_follow_the_numbers():
    logistic = {
        "variance_ratio": [0.9, 1.1, 1.4],
        "mean_offset_sd": [0.1, -0.3, 0.2],
        "whitened_offset": 0.4,
        "variance_drift": 0.02,
        "hessian_vs_instrument_max_rel_diff": 1e-12,
        "chains": 100,
        "test_errors": [0.10, 0.12, 0.08, 0.11],
        "test_error_w0": 0.10,
        "test_error_posterior_mean": 0.1,
        "test_error_bayes_average": 0.1,
        "weight_norm_w0": 3.0,
        "offset_cosine_w0": 0.9,
    }
    laplace, beats = exp.check_logistic_claims(logistic)
    assert laplace.holds and beats.holds and beats.value["fraction_lower"] == 0.25
    logistic |= {"variance_ratio": [0.9, 1.6], "test_errors": [0.12, 0.10, 0.11, 0.13]}
    laplace, beats = exp.check_logistic_claims(logistic)
    assert not laplace.holds and "[0.9, 1.6]" in laplace.note and "skewed outwards" in laplace.note
    assert not beats.holds and "only 0.0%" in beats.note

    minima = [{"cost": 0.0}, {"cost": 0.9}]
    wells = {"fraction_wide": 0.6, "fraction_wide_halfway": 0.6, "chains": 10000, "minima": minima}
    wells |= {"laplace_log_ratio": math.log(1.5), "exact_log_ratio": math.log(1.5)}
    occupation, evidence = exp.check_wells_claims(wells)
    assert occupation.holds and occupation.value["z_vs_laplace"] == pytest.approx(0.0, abs=1e-9)
    assert evidence.holds
    wells |= {"fraction_wide": 0.45, "laplace_log_ratio": math.log(1.5), "exact_log_ratio": math.log(0.8)}
    occupation, evidence = exp.check_wells_claims(wells)
    assert not occupation.holds and "Laplace's own error is +0.629" in occupation.note
    assert not evidence.holds


def test_reproduce_writes_the_contract_and_resumes_without_recomputing(tmp_path):
    out = tmp_path / "run"
    summary = experiments.reproduce("smith-le-langevin", overrides=TINY, out_dir=out, show_progress=False)
    on_disk = json.loads((out / "summary.json").read_text())
    assert [c["id"].split("/")[1].split("-")[0] for c in on_disk["claims"]] == [
        "linear",
        "linear",
        "linear",
        "logistic",
        "logistic",
        "wells",
        "wells",
    ]
    rows = on_disk["data"]["linear"]["rows"]
    assert [r["step_fraction"] for r in rows] == pytest.approx([0.5, 0.1])
    assert rows[0]["excess_variance_predicted"] > rows[1]["excess_variance_predicted"] > 0
    assert len(on_disk["data"]["logistic"]["test_errors"]) == 100
    assert on_disk["data"]["logistic"]["hessian_vs_instrument_max_rel_diff"] < 1e-8
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["appA_langevin.png"]
    stored = _finish_times(out / "store.sqlite")
    assert len(stored) == 3
    again = experiments.reproduce("smith-le-langevin", overrides=TINY, out_dir=out, show_progress=False)
    assert again["claims"] == summary["claims"]
    assert _finish_times(out / "store.sqlite") == stored


def test_paper_scale_smoke_step_through_overrides(tmp_path):
    summary = experiments.reproduce(
        "smith-le-langevin", scale="paper", overrides=TINY, out_dir=tmp_path / "paper", show_progress=False
    )
    assert summary["scale"] == "paper" and summary["settings"]["chains"] == 2000
    assert len(summary["claims"]) == 7


def test_bad_settings_are_one_clear_error():
    with pytest.raises(ValueError, match="stability"):
        experiments.reproduce("smith-le-langevin", overrides=TINY | {"step_fractions": (2.5, 0.1)})
    with pytest.raises(ValueError, match="decreasing"):
        experiments.reproduce("smith-le-langevin", overrides=TINY | {"step_fractions": (0.1, 0.5)})
