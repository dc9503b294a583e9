import json

import pytest

from sgdnoise import experiments
from sgdnoise.experiments import jastrzebski_equilibrium as exp

TINY = {
    "chains": 40,
    "duration": 200,
    "burn_in": 50,
    "step_fraction": 0.5,
    "noise_factors": (1.0, 2.0),
    "noise_factors_2d": (1.0, 2.0),
    "barrier_points": 3,
    "betas": (1.0, 8.0),
    "curve_points": 3,
    "grid_points": 201,
}


def test_reproduce_writes_summary_claims_and_the_figure(tmp_path):
    out = tmp_path / "run"
    summary = experiments.reproduce("jastrzebski-equilibrium", overrides=TINY, out_dir=out, show_progress=False)
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["experiment"] == "jastrzebski-equilibrium"
    assert [c["id"] for c in on_disk["claims"]] == [
        "occupation-matches-gibbs",
        "laplace-matches-gibbs-at-high-barrier",
        "crossover-noise-eq4",
        "beta-invariance-until-step-too-large",
    ]
    assert all(isinstance(c["holds"], bool) for c in on_disk["claims"])
    assert len(on_disk["data"]["occupation_1d"]["runs"]) == 2
    assert (out / "figures" / "equilibrium.png").exists()
    assert summary["claims"] == on_disk["claims"]


def test_paper_spec_is_larger_and_specs_validate():
    quick, paper = (experiments.get_experiment("jastrzebski-equilibrium").spec(s) for s in ("quick", "paper"))
    assert paper.chains > quick.chains and paper.duration > quick.duration
    with pytest.raises(ValueError):
        exp.EquilibriumSpec(burn_in=20000)
    with pytest.raises(ValueError):
        exp.EquilibriumSpec(betas=(0.5,))


def _data(z_1d, laplace_errors, n_sim, z_beta):
    runs = [{"noise_factor": 1.0, "z_gibbs": z, "occupation": {"drift_z": 0.0}} for z in z_1d]
    occupation = {"runs": runs, "critical_noise_eq4": 1.0, "critical_noise_gibbs": 1.0,
                  "critical_noise_simulated": {"value": n_sim, "se": 0.01, "chi2_per_dof": 1.0}}  # fmt: skip
    rows = [
        {"barrier_over_temperature": b, "relative_error": e} for b, e in zip((1, 3, 10), laplace_errors, strict=True)
    ]
    beta_rows = [
        {"beta": b, "lr_curvature": 0.1 * b, "z_gibbs": z, "occupation": {"ratio": 1.0}}
        for b, z in zip((1, 4, 16), z_beta, strict=True)
    ]
    return {
        "occupation_1d": occupation,
        "occupation_2d": occupation,
        "laplace_1d": {"rows": rows},
        "laplace_2d": {"rows": rows},
        "invariance": {"runs": beta_rows, "gibbs_log_ratio": 0.0},
    }


def test_claims_follow_the_numbers():
    good = {c.id: c for c in exp.check_claims(_data([0.5, -1.0], [0.5, 0.05, 0.01], 1.05, [0.2, 1.0, 8.0]))}
    assert all(c.holds for c in good.values())
    assert good["beta-invariance-until-step-too-large"].value["beta_first_break"] == 16
    assert good["laplace-matches-gibbs-at-high-barrier"].value["1d"]["barrier_where_error_stays_below_tolerance"] == 3
    bad = {c.id: c for c in exp.check_claims(_data([0.5, 3.5], [0.5, 0.2, 0.15], 1.2, [4.0, 1.0, 8.0]))}
    assert not any(c.holds for c in bad.values())
