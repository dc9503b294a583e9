import math

import numpy as np
import pytest
import torch

from sgdnoise.experiments.smith_le_2018 import langevin as exp
from sgdnoise.experiments.smith_le_2018 import langevin_parts as parts


def test_sgld_chains_reach_the_exact_stationary_law_of_the_discretised_gaussian():
    # C = a ω²/2 per coordinate (N = 1): ω ← (1 − ha)ω + √(2h)ξ has stationary variance 1/(a(1 − ha/2))
    a = torch.tensor([4.0, 1.0], dtype=torch.float64)
    h = 0.5 / 4.0
    start = torch.full((20000, 2), 3.0, dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    samples, recorded = parts.run_chains(lambda w: a * w, start, h, 1, 200, generator, record=(100,))
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
    row = parts.linear_statistics(samples, mean, precision, covariance, curvatures, h=1e-6)
    assert row["excess_variance_predicted"] == pytest.approx(0.0, abs=1e-5)
    assert abs(row["excess_variance"]) < 4 * row["excess_variance_se"]
    assert row["mean_chi2_p"] > 0.001 and row["whitened_cov_max_abs_z"] < 4
    inflated = parts.linear_statistics(samples, mean, precision, covariance, curvatures, h=0.5)
    assert inflated["excess_variance_predicted"] == pytest.approx(np.mean(1 / (1 - 0.5 * curvatures / 2)) - 1)


def test_two_wells_gradient_bowls_and_masses_agree_with_closed_forms():
    wells = parts.TwoWells(separation=8.0, sharp=16.0, wide=4.0, depth_gap=1.0)
    points = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 3
    points.requires_grad_(True)
    (autograd,) = torch.autograd.grad(wells.cost(points).sum(), points)
    assert torch.allclose(wells.gradient(points.detach()), autograd)
    centres = wells.centres(torch.device("cpu"))
    assert wells.bowl(centres + 0.3).tolist() == [0, 1]
    # well separated: each bowl integral is a_i·2π/c_i (2-D Gaussian)
    masses = parts._bowl_masses(wells, torch.device("cpu"))
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


def _claims(data, part):
    """The claims of one part ("linear", "logistic", "wells") checked on ``data``, in declaration order."""
    return [claim.evaluate(data) for claim in exp.CLAIMS if claim.id.startswith(f"appA/{part}-")]


def test_linear_claims_follow_the_numbers():
    linear = {"dim": 2, "chains": 1000, "rows": _linear_rows([0.30, 0.12, 0.01], [0.31, 0.12, 0.02])}
    data = {"linear": linear}
    assert [c.verdict for c in _claims(data, "linear")] == ["holds"] * 3
    linear["rows"] = _linear_rows([0.30, 0.12, 0.15], [0.31, 0.12, 0.02])
    moments, falls, predicted = _claims(data, "linear")
    assert moments.verdict == "holds"  # χ² and z of the smallest step are fine
    # a rise of 0.03 with a combined s.e. of 0.014 (z = 2.1 < 2.24, two pairs at 0.05) is noise, not a failure
    # (strictly decreasing was the whole rule before the claims audit: this failed)
    assert falls.verdict == "inconclusive" and "0.5→0.1 (0.12→0.15" in falls.note
    linear["rows"][-1]["excess_variance"] = 0.20  # z = 5.7
    assert _claims(data, "linear")[1].verdict == "fails"
    linear["rows"][-1]["excess_variance"] = 0.15
    assert predicted.verdict == "fails" and predicted.value["z"][2] == pytest.approx(13.0)
    assert predicted.value["z_limit"] == pytest.approx(2.394, abs=1e-3)  # two-sided 0.05, Bonferroni over 3 steps
    linear["rows"][-1]["mean_chi2_p"] = 1e-4
    assert _claims(data, "linear")[0].verdict == "fails"


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
    laplace, beats = _claims({"logistic": logistic}, "logistic")
    assert laplace.verdict == beats.verdict == "holds" and beats.value["fraction_lower"] == 0.25
    logistic |= {"variance_ratio": [0.9, 1.6], "test_errors": [0.12, 0.10, 0.11, 0.13]}
    laplace, beats = _claims({"logistic": logistic}, "logistic")
    assert laplace.verdict == "fails" and "[0.9, 1.6]" in laplace.note and "skewed outwards" in laplace.note
    assert beats.verdict == "fails" and "only 0.0%" in beats.note

    minima = [{"cost": 0.0, "log_local_evidence": -1.0}, {"cost": 0.9, "log_local_evidence": -0.5}]
    wells = {"fraction_wide": 0.6, "fraction_wide_halfway": 0.6, "chains": 10000, "minima": minima}
    wells |= {"laplace_log_ratio": math.log(1.5), "exact_log_ratio": math.log(1.5)}
    occupation, evidence = _claims({"wells": wells}, "wells")
    assert occupation.verdict == "holds" and occupation.value["z_vs_laplace"] == pytest.approx(0.0, abs=1e-9)
    # z = 3.57 (the run that once set the limit at 4) fails the standard two-sided 0.05 test, limit 1.96
    se = 1 / math.sqrt(10000 * 0.6 * 0.4)
    at_357 = wells | {"laplace_log_ratio": math.log(1.5) - 3.57 * se}
    occupation, _ = _claims({"wells": at_357}, "wells")
    assert occupation.verdict == "fails" and occupation.value["z_limit"] == pytest.approx(1.96, abs=0.01)
    assert evidence.verdict == "holds"
    wells |= {"fraction_wide": 0.45, "laplace_log_ratio": math.log(1.5), "exact_log_ratio": math.log(0.8)}
    occupation, evidence = _claims({"wells": wells}, "wells")
    assert occupation.verdict == "fails" and "Laplace's own error is +0.629" in occupation.note
    assert evidence.verdict == "fails"
    # f within 1.96 binomial s.e. of 1/2 (100 chains: s.e. 0.05) is no evidence either way; before, f = 0.52 held
    assert _claims({"wells": wells | {"fraction_wide": 0.52, "chains": 100}}, "wells")[1].verdict == "inconclusive"
    # a set-up where the wide bowl does not also have the larger local evidence cannot test the claim
    swapped = [minima[0] | {"log_local_evidence": 0.0}, minima[1]]
    evidence = _claims({"wells": wells | {"fraction_wide": 0.6, "minima": swapped}}, "wells")[1]
    assert (
        evidence.verdict == "inconclusive" and "not both higher in cost and larger in local evidence" in evidence.note
    )


def test_wells_log_ratio_is_the_log_odds_and_infinite_at_the_ends():
    assert exp.wells_log_ratio(0.75) == pytest.approx(math.log(3))
    assert exp.wells_log_ratio(0.0) == -math.inf and exp.wells_log_ratio(1.0) == math.inf


def test_bad_settings_are_one_clear_error():
    with pytest.raises(ValueError, match="stability"):
        parts.LangevinSpec(step_fractions=(2.5, 0.1))
    with pytest.raises(ValueError, match="decreasing"):
        parts.LangevinSpec(step_fractions=(0.1, 0.5))


def _figure_data(fraction_wide: float) -> dict:
    row = {
        "step_fraction": 0.1,
        "excess_variance": 0.01,
        "excess_variance_se": 0.002,
        "excess_variance_predicted": 0.01,
    }
    return {
        "linear": {"rows": [row]},
        "logistic": {"test_errors": [0.1, 0.12], "test_error_w0": 0.11, "test_error_bayes_average": 0.1, "l2": 1.0},
        "wells": {"fraction_wide": fraction_wide, "chains": 100, "laplace_log_ratio": 0.38, "exact_log_ratio": 0.37},
    }


@pytest.mark.parametrize("fraction", [0.0, 1.0, 0.6])
def test_the_figure_draws_when_every_chain_ends_in_one_bowl(tmp_path, fraction):
    """f = 0 or 1 (a ratio of 0 or ∞, no binomial SE): drawn without an error bar, not a figure error."""
    assert exp.draw_app_a(_figure_data(fraction), tmp_path).exists()
