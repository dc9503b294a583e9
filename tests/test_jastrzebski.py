"""Jastrzębski et al. 2018 §4.1-4.2 experiments: shared set-up, claim functions on synthetic data with
known answers, and tiny end-to-end runs through overrides (quick on the stand-in; paper scale one smoke
step) with a resume check."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sgdnoise.experiments import reproduce
from sgdnoise.experiments.jastrzebski import (
    budget_steps,
    endpoint_widths,
    first_reached,
    hessian_step_settings,
    interpolation_claims,
    model_spec,
    noise_pairs,
    outward_width,
    pair_means,
    sharpness_claims,
)
from sgdnoise.measurements import HessianNorm
from sgdnoise.store import Store


def test_noise_pairs_sorted_by_ratio_and_deduplicated() -> None:
    pairs = noise_pairs((0.1, 0.02), (50, 10, 10))
    assert pairs == [(0.02, 50), (0.02, 10), (0.1, 50), (0.1, 10)]  # ties in η/S ordered by η
    with pytest.raises(ValueError):
        noise_pairs((), (10,))
    with pytest.raises(ValueError):
        noise_pairs((0.1,), (0,))


def test_budget_steps_takes_the_longer_of_epochs_and_sde_time() -> None:
    assert budget_steps(0.1, 50, 1000, 50, 25.0) == 1000  # 50 epochs of 20 steps > 250 steps
    assert budget_steps(0.02, 500, 1000, 50, 25.0) == 1250  # 25 / 0.02 > 100 steps
    assert budget_steps(0.1, 50, 1000, 1, 0.0) == 20


def test_first_reached_above_and_below() -> None:
    history = {"step": [0, 5, 10, 20], "train_acc": [0.1, 0.98, None, 0.995], "train_loss": [2.3, 0.2, 0.04, 0.01]}
    assert first_reached(history, "train_acc", 0.99, above=True) == 20
    assert first_reached(history, "train_loss", 0.05, above=False) == 10
    assert first_reached(history, "train_acc", 1.0, above=True) is None
    assert first_reached({}, "train_acc", 0.5, above=True) is None
    assert first_reached(history, "train_loss", 3.0, above=False) == 5  # step 0 (untrained) never counts
    assert first_reached(history, "train_loss", 3.0, above=False, min_step=0) == 0


def test_model_spec_shapes() -> None:
    assert model_spec("bn-mlp", "fashion-mnist", pool=2).input_shape == (196,)
    assert model_spec("bn-mlp", "standin").input_shape == (3072,)
    with pytest.raises(ValueError):
        model_spec("vgg11", "fashion-mnist")


def _rows(hessians: list[float], accuracies: list[list[float]], noises: list[float]) -> list[dict]:
    return [
        {
            "learning_rate": 0.1,
            "batch_size": round(0.1 / n),
            "noise": n,
            "seeds": [
                {"hessian_norm": h * (1 + 0.01 * i), "lambda_max": h / 10, "validation_acc": a}
                for i, a in enumerate(accs)
            ],
        }
        for h, accs, n in zip(hessians, accuracies, noises, strict=True)
    ]


def test_sharpness_claims_on_known_monotone_data() -> None:
    noises = [1e-5, 1e-4, 1e-3, 1e-2]
    rows = _rows([400.0, 100.0, 30.0, 10.0], [[0.80, 0.81], [0.82, 0.83], [0.84, 0.85], [0.86, 0.87]], noises)
    claims = {c.id: c for c in sharpness_claims("accuracy", rows, accuracy_target=0.99, loss_target=0.05)}
    assert claims["hessian_norm_falls_accuracy"].holds
    assert claims["hessian_norm_falls_accuracy"].value["spearman_rho"] == pytest.approx(-1.0)
    assert claims["lambda_max_falls_accuracy"].holds
    assert claims["validation_rises_accuracy"].value["spearman_rho"] == pytest.approx(1.0)
    effect = claims["validation_effect_accuracy"].value
    # seed means 0.805, 0.825, 0.845, 0.865: slope 0.02 per decade over 3 decades; seed std 0.005
    assert effect["slope_per_decade"] == pytest.approx(0.02)
    assert effect["effect"] == pytest.approx(0.06)
    assert effect["seed_spread"] == pytest.approx(0.005)
    assert claims["validation_effect_accuracy"].holds


def test_sharpness_claims_fail_on_reversed_data_and_report_unreached_pairs() -> None:
    noises = [1e-5, 1e-4, 1e-3, 1e-2]
    rows = _rows([10.0, 30.0, 100.0, 400.0], [[0.86, 0.80], [0.84, 0.80], [0.82, 0.80], [0.80, 0.80]], noises)
    rows.append({"learning_rate": 0.01, "batch_size": 1000, "noise": 1e-5, "seeds": [{"validation_acc": None}]})
    claims = {c.id: c for c in sharpness_claims("loss", rows, accuracy_target=0.99, loss_target=0.05)}
    assert not claims["hessian_norm_falls_loss"].holds
    assert claims["hessian_norm_falls_loss"].value["spearman_rho"] == pytest.approx(1.0)
    assert not claims["validation_rises_loss"].holds
    assert not claims["validation_effect_loss"].holds
    assert "1 of 5 pairs never reached" in claims["hessian_norm_falls_loss"].note


def test_pair_means_log_and_missing() -> None:
    rows = [{"seeds": [{"x": math.e}, {"x": math.e**3}]}, {"seeds": [{"x": None}]}]
    means = pair_means(rows, "x", log=True)
    assert means["mean"] == [pytest.approx(2.0), None]
    assert means["count"] == [2, 0]


def _stored(out_dir) -> dict[str, list[tuple[str, float]]]:
    with Store(out_dir / "store.sqlite") as store:
        return {
            ns: sorted((r.key, r.seconds) for r in store.runs(ns))
            for ns in ("jastrzebski-sharpness-budget", "jastrzebski-sharpness-endpoints")
        }


TINY = {
    "dataset": "standin",
    "learning_rates": "0.05,0.2",
    "batch_sizes": "8,16",
    "seeds": 2,
    "n_train": 32,
    "validation": 16,
    "n_test": 16,
    "min_epochs": 3,
    "eta_time": 0,
    "width": 16,
    "depth": 2,
    "accuracy_target": 0.5,
    "loss_target": 1.5,
    "eval_points": 20,
    "hessian_samples": 2,
    "measure_examples": 16,
    "lanczos_iterations": 3,
}


def test_sharpness_end_to_end_on_the_standin_and_resume(tmp_path) -> None:
    summary = reproduce(
        "jastrzebski-sharpness", overrides=TINY, out_dir=tmp_path, device="cpu", executor="inline", show_progress=False
    )
    ids = {c["id"] for c in summary["claims"]}
    assert {"hessian_norm_falls_accuracy", "validation_rises_loss", "validation_effect_accuracy"} <= ids
    rows = summary["data"]["targets"]["accuracy"]
    assert len(rows) == 4
    reached = [s for r in rows for s in r["seeds"] if s["step"] is not None]
    assert reached, "some tiny run should reach 50% training accuracy"
    for s in reached:  # a phase-2 endpoint is the run stopped where it first reached the target
        assert s["train_acc"] >= 0.5
        assert s["hessian_norm"] is not None and s["hessian_norm"] > 0
    assert (tmp_path / "figures" / "jastrzebski_sharpness.png").is_file()
    assert summary["settings"]["hessian_fd_step"] is None  # HessianNorm's default: the instrument's rule
    before = _stored(tmp_path)
    assert before["jastrzebski-sharpness-budget"] and before["jastrzebski-sharpness-endpoints"]
    again = reproduce(
        "jastrzebski-sharpness", overrides=TINY, out_dir=tmp_path, device="cpu", executor="inline", show_progress=False
    )
    assert again["data"]["targets"] == summary["data"]["targets"]
    assert _stored(tmp_path) == before  # the re-run trained and wrote nothing


def test_sharpness_paper_scale_smoke_step_on_the_standin(tmp_path) -> None:
    overrides = {
        "dataset": "standin",
        "learning_rates": "0.1",
        "batch_sizes": "4",
        "seeds": 1,
        "n_train": 8,
        "validation": 4,
        "n_test": 4,
        "min_epochs": 0.5,
        "accuracy_target": 0.01,
        "loss_target": 100.0,
        "eval_points": 1,
        "hessian_samples": 2,
        "measure_examples": 4,
        "lanczos_iterations": 2,
    }
    summary = reproduce(
        "jastrzebski-sharpness",
        scale="paper",
        overrides=overrides,
        out_dir=tmp_path,
        device="cpu",
        executor="inline",
        show_progress=False,
    )
    assert summary["settings"]["model"] == "resnet56"
    row = summary["data"]["targets"]["accuracy"][0]
    assert row["seeds"][0]["step"] == 1  # one smoke step, measured at its end
    assert row["seeds"][0]["hessian_norm"] is not None


def test_endpoint_widths_interpolate_a_crossing_on_the_grid() -> None:
    alphas = [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]
    losses = [3.0, 1.0, 0.0, 0.1, 0.0, 0.5, 1.5]

    def line_loss(alpha: float) -> float:  # piecewise linear through the grid, flat beyond it
        return float(np.interp(alpha, alphas, losses))

    def widths(threshold: float) -> dict:
        return endpoint_widths(line_loss, alphas, losses, threshold=threshold, cap=64.0, tolerance=0.01)

    assert widths(0.5)["first"]["width"] == pytest.approx(0.25)
    assert widths(1.0)["second"]["width"] == pytest.approx(0.75)
    assert widths(5.0)["second"]["width"] is None


def test_outward_width_beyond_the_grid_brackets_by_doubling_then_bisects() -> None:
    calls: list[float] = []

    def linear(d: float) -> float:  # crosses 1.0 at d = 3.3: bracket (2, 4), linear → exact
        calls.append(d)
        return 0.01 + 0.99 * d / 3.3

    grid = [(i / 20, linear(i / 20)) for i in range(21)]
    calls.clear()
    found = outward_width(linear, grid, threshold=1.0, cap=64.0, tolerance=0.01)
    assert found["width"] == pytest.approx(3.3, abs=1e-12)
    assert not found["beyond_cap"]
    assert calls[:2] == [2.0, 4.0]  # doubling from the grid's end d = 1
    assert len(calls) == 2 + math.ceil(math.log2(2 / 0.01))  # then bisection of (2, 4) to 0.01
    assert [d for d, _ in found["points"]] == sorted(d for d, _ in found["points"])

    def quadratic(d: float) -> float:  # crosses 1.0 at d = sqrt(20) ≈ 4.47
        return d * d / 20

    found = outward_width(quadratic, [(0.0, 0.0), (1.0, 0.05)], threshold=1.0, cap=64.0, tolerance=1e-6)
    assert found["width"] == pytest.approx(math.sqrt(20), abs=1e-6)


def test_outward_width_inside_the_grid_at_the_endpoint_and_beyond_the_cap() -> None:
    def bump(d: float) -> float:  # crosses 1.0 at d = 0.8 on the grid
        return 0.1 + (d / 0.8) ** 2 * 0.9

    grid = [(i / 10, bump(i / 10)) for i in range(11)]
    found = outward_width(bump, grid, threshold=1.0, cap=64.0, tolerance=1e-6)
    assert found["width"] == pytest.approx(0.8, abs=1e-6)
    assert max(d for d, _ in found["points"]) == 1.0  # never left the grid
    assert outward_width(lambda d: 2.0, [(0.0, 2.0)], threshold=1.0, cap=64.0, tolerance=0.01)["width"] == 0.0
    flat = outward_width(lambda d: 0.1, [(0.0, 0.1), (1.0, 0.1)], threshold=1.0, cap=20.0, tolerance=0.01)
    assert flat["width"] is None and flat["beyond_cap"]
    assert [d for d, _ in flat["points"]] == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 20.0]  # last step clipped
    blown = outward_width(lambda d: math.nan if d > 5 else 0.1, [(0.0, 0.1)], threshold=1.0, cap=64.0, tolerance=0.01)
    assert blown["width"] == pytest.approx(5.0, abs=0.01)  # a non-finite loss counts as above the threshold
    calls: list[float] = []
    outward_width(lambda d: calls.append(d) or 0.5, [(0.5, 0.5)], threshold=1.0, cap=2.0, tolerance=0.01)
    assert calls == [0.0, 2.0]  # d = 0 measured when absent; doubling starts at d = 1 at least


def test_endpoint_widths_walk_outwards_on_both_sides_of_the_line() -> None:
    def loss(alpha: float) -> float:  # θ₁ side crosses 1.0 at α = -3 (d = 3), θ₂ side at α = 1.6 (d = 0.6)
        return -alpha / 3 if alpha < 0 else (alpha - 1) / 0.6 if alpha > 1 else 0.0

    alphas = [round(-1 + 0.1 * i, 10) for i in range(31)]
    found = endpoint_widths(loss, alphas, [loss(a) for a in alphas], threshold=1.0, cap=64.0, tolerance=1e-3)
    assert found["first"]["width"] == pytest.approx(3.0, abs=1e-9)
    assert found["second"]["width"] == pytest.approx(0.6, abs=1e-9)


def _comparison(w1: list, w2: list, equal: bool, noise2: float) -> dict:
    return {
        "first": {"learning_rate": 0.1, "batch_size": 50, "noise": 2e-3},
        "second": {"learning_rate": 0.1, "batch_size": 500, "noise": noise2},
        "equal_noise": equal,
        "widths": {"first": w1, "second": w2},
    }


def test_interpolation_claims_known_answers() -> None:
    comparisons = {
        "large-batch": _comparison([0.6, 0.5, None], [0.2, 0.3, 0.25], False, 2e-4),  # None: beyond the cap
        "small-lr": _comparison([0.6, 0.5, 0.4], [0.2, 0.55, 0.25], False, 2e-4),  # seed 2 not sharper
        "beta=4": _comparison([0.5, 0.6], [0.55, 0.65], True, 2e-3),  # diff 0.05 ≤ 2 × pooled 0.05
        "beta=0.5": _comparison([0.5, 0.52], [0.9, 0.92], True, 2e-3),  # diff 0.4 ≫ spread 0.01
    }
    claims = {c.id: c for c in interpolation_claims(comparisons, 1.0, 64.0)}
    assert claims["lower_noise_sharper_large-batch"].holds
    assert claims["lower_noise_sharper_large-batch"].value["seeds_sharper"] == 3
    assert "1 of 6 widths beyond the cap" in claims["lower_noise_sharper_large-batch"].note
    assert not claims["lower_noise_sharper_small-lr"].holds
    assert claims["lower_noise_sharper_small-lr"].value["seeds_sharper"] == 2
    assert claims["lower_noise_sharper_small-lr"].value["wide_over_sharp"] == pytest.approx(1.5)  # 0.5 / (1/3)
    assert claims["equal_noise_equal_width_beta=4"].holds
    assert claims["equal_noise_equal_width_beta=4"].value["difference"] == pytest.approx(0.05)
    assert claims["equal_noise_equal_width_beta=4"].value["pooled_std"] == pytest.approx(0.05)
    assert not claims["equal_noise_equal_width_beta=0.5"].holds


def test_interpolation_claims_never_pass_without_finite_widths() -> None:
    comparisons = {
        "large-batch": _comparison([None, None], [None, 0.3], False, 2e-4),  # seed 0: sharp side beyond the cap
        "beta=4": _comparison([None, None], [None, None], True, 2e-3),  # the old vacuous pass
        "beta=2": _comparison([3.0, None], [3.1, 3.2], True, 2e-3),  # one width missing
        "beta=0.5": _comparison([3.0], [3.0], True, 2e-3),  # one seed: no spread to compare with
    }
    claims = {c.id: c for c in interpolation_claims(comparisons, 1.0, 64.0)}
    assert not claims["lower_noise_sharper_large-batch"].holds
    assert claims["lower_noise_sharper_large-batch"].value["seeds_sharper"] == 1  # seed 1: 0.3 < beyond cap
    for label in ("beta=4", "beta=2", "beta=0.5"):
        claim = claims[f"equal_noise_equal_width_{label}"]
        assert not claim.holds and claim.note.startswith("not evaluable")
    assert "4 of 4 widths beyond the cap" in claims["equal_noise_equal_width_beta=4"].note
    assert math.isnan(claims["equal_noise_equal_width_beta=2"].value["difference"])


def test_hessian_step_settings_record_the_measurements_step() -> None:
    default = hessian_step_settings(HessianNorm())
    assert default["hessian_fd_step"] is None and "cbrt(machine eps)" in default["hessian_fd_step_rule"]
    fixed = hessian_step_settings(HessianNorm(fd_step=1e-3))
    assert fixed["hessian_fd_step"] == 1e-3 and "0.001" in fixed["hessian_fd_step_rule"]


def test_interpolation_end_to_end_on_the_standin_and_resume(tmp_path) -> None:
    overrides = {
        "dataset": "standin",
        "seeds": 2,
        "n_train": 32,
        "validation": 16,
        "n_test": 16,
        "min_epochs": 2,
        "eta_time": 0,
        "baseline_batch": 8,
        "large_batch_factor": 2,
        "betas": "2",
        "width": 16,
        "depth": 2,
        "alpha_step": 0.5,
        "measure_examples": 16,
        "bn_batch": 8,
    }
    summary = reproduce(
        "jastrzebski-interpolation",
        overrides=overrides,
        out_dir=tmp_path,
        device="cpu",
        executor="inline",
        show_progress=False,
    )
    comparisons = summary["data"]["comparisons"]
    assert set(comparisons) == {"large-batch", "small-lr", "beta=2"}
    curve = comparisons["large-batch"]["curves"][0]
    assert len(curve["train_loss"]) == 7  # α = -1, -0.5, …, 2
    for comp in comparisons.values():
        for side in ("first", "second"):
            for width, search in zip(comp["widths"][side], comp["width_searches"][side], strict=True):
                assert width == search["width"] and (width is None) == search["beyond_cap"]
                if width:  # the curve's own loss at the endpoint starts the search, below the threshold
                    assert search["points"][0][0] == 0.0 and search["points"][0][1] < 1.0
    assert len(comparisons["large-batch"]["line_length"]) == 2
    assert {c["id"] for c in summary["claims"]} >= {"lower_noise_sharper_small-lr", "equal_noise_equal_width_beta=2"}
    with Store(tmp_path / "store.sqlite") as store:
        before = sorted((r.key, r.seconds) for r in store.runs("jastrzebski-interpolation"))
    again = reproduce(
        "jastrzebski-interpolation",
        overrides=overrides,
        out_dir=tmp_path,
        device="cpu",
        executor="inline",
        show_progress=False,
    )
    assert again["data"]["comparisons"] == comparisons
    with Store(tmp_path / "store.sqlite") as store:
        assert sorted((r.key, r.seconds) for r in store.runs("jastrzebski-interpolation")) == before


def test_interpolation_paper_scale_smoke_step_on_the_standin(tmp_path) -> None:
    overrides = {
        "dataset": "standin",
        "seeds": 1,
        "n_train": 8,
        "validation": 4,
        "n_test": 4,
        "min_epochs": 0.5,
        "baseline_batch": 4,
        "large_batch_factor": 2,
        "betas": "2",
        "alpha_step": 1.5,
        "measure_examples": 4,
        "bn_batch": 4,
    }
    summary = reproduce(
        "jastrzebski-interpolation",
        scale="paper",
        overrides=overrides,
        out_dir=tmp_path,
        device="cpu",
        executor="inline",
        show_progress=False,
    )
    assert summary["settings"]["model"] == "resnet56"
    assert len(summary["data"]["comparisons"]["large-batch"]["curves"][0]["train_loss"]) == 3  # α = -1, 0.5, 2
