import itertools
import math
import re

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sgdnoise import theory
from sgdnoise.theory import (
    Minimum,
    SGDConfig,
    critical_learning_rate,
    critical_noise,
    critical_noise_as_printed,
    effective_learning_rate,
    equivalent_config,
    heavy_ball_stability_learning_rate,
    jastrzebski_noise,
    log_probability_ratio,
    minimum_log_probability,
    noise_scale,
    noise_scale_approx,
    null_neg_log_evidence,
    predicted_optimal_batch_size,
    temperature,
)


def test_module_does_not_import_torch():
    source = open(theory.__file__, encoding="utf-8").read()
    assert "import torch" not in source


# ------------------------------------------------------------------ closed-form values
def test_noise_scale_closed_form():
    # Smith & Le's MNIST setting: ε = 1, B = 30, N = 1000, m = 0.9
    assert noise_scale(1.0, 30, 1000, 0.9) == pytest.approx((1000 / 30 - 1) / 0.1, rel=1e-14)
    assert noise_scale_approx(1.0, 30, 1000, 0.9) == pytest.approx(1000 / 3, rel=1e-14)
    assert noise_scale(0.1, 10, 100) == pytest.approx(0.9, rel=1e-14)
    assert noise_scale(0.5, 1000, 1000, 0.5) == 0.0  # full batch: no noise


def test_temperature_and_effective_learning_rate():
    assert temperature(0.1, 64, 0.9) == pytest.approx(0.1 / 6.4, rel=1e-14)
    assert temperature(0.2, 100) == pytest.approx(2e-3, rel=1e-14)
    assert effective_learning_rate(0.1, 0.9) == pytest.approx(1.0, rel=1e-14)
    assert effective_learning_rate(0.3) == pytest.approx(0.3, rel=1e-14)
    assert jastrzebski_noise(0.1, 100) == pytest.approx(1e-3, rel=1e-14)


def test_critical_learning_rate_and_null_evidence():
    assert critical_learning_rate(4.0) == 0.5
    np.testing.assert_allclose(critical_learning_rate(np.array([1.0, 2.0, 8.0])), [2.0, 1.0, 0.25])
    assert null_neg_log_evidence(800, 2) == pytest.approx(800 * math.log(2), rel=1e-14)
    assert null_neg_log_evidence(1000, 10) == pytest.approx(1000 * math.log(10), rel=1e-14)


def test_critical_learning_rate_is_divergence_threshold_of_gradient_descent():
    hessian = np.diag([5.0, 1.0, 0.1])
    eps_crit = critical_learning_rate(5.0)
    for factor, diverges in ((0.99, False), (1.01, True)):
        w = np.ones(3)
        for _ in range(3000):
            w = w - factor * eps_crit * hessian @ w
        assert (np.abs(w).max() > 1.0) == diverges


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_heavy_ball_stability_learning_rate_is_the_divergence_threshold_of_torch_sgd(momentum):
    lam = 5.0
    bound = heavy_ball_stability_learning_rate(lam, momentum)
    assert bound == pytest.approx(2 * (1 + momentum) / lam, rel=1e-15)
    for factor, diverges in ((0.99, False), (1.01, True)):
        w = torch.ones(3, requires_grad=True)
        optimizer = torch.optim.SGD([w], lr=factor * bound, momentum=momentum)
        for _ in range(500):
            optimizer.zero_grad()
            (0.5 * (torch.tensor([lam, 1.0, 0.1]) * w**2).sum()).backward()
            optimizer.step()
        assert bool(w.abs().max() > 1.0) == diverges, (momentum, factor, w)
    np.testing.assert_allclose(heavy_ball_stability_learning_rate(np.array([1.0, 4.0]), 0.9), [3.8, 0.95])
    with pytest.raises(ValueError, match="momentum"):
        heavy_ball_stability_learning_rate(1.0, 1.0)


def test_scalar_in_float_out_and_vectorised():
    assert isinstance(noise_scale(1.0, 10, 100), float)
    lrs = np.array([0.1, 1.0, 10.0])
    out = noise_scale(lrs, np.array([[10.0], [20.0]]), 100, 0.5)
    assert isinstance(out, np.ndarray) and out.shape == (2, 3)
    np.testing.assert_allclose(out, lrs[None, :] * (100 / np.array([[10.0], [20.0]]) - 1) / 0.5)
    np.testing.assert_allclose(temperature(lrs, 10, 0.0), lrs / 10)


# ------------------------------------------------------------------ identities
@given(
    lr=st.floats(1e-4, 10),
    batch_size=st.floats(1, 1e3),
    log_ratio=st.floats(0, 8),
    momentum=st.floats(0, 0.99),
)
def test_noise_scale_is_approximation_times_one_minus_b_over_n(lr, batch_size, log_ratio, momentum):
    n = batch_size * 10**log_ratio
    exact, approx = noise_scale(lr, batch_size, n, momentum), noise_scale_approx(lr, batch_size, n, momentum)
    assert exact == pytest.approx(approx * (1 - batch_size / n), rel=1e-9, abs=1e-12)


def test_noise_scale_tends_to_approximation_as_n_grows():
    gaps = [
        abs(noise_scale(0.1, 32, n, 0.9) / noise_scale_approx(0.1, 32, n, 0.9) - 1) for n in 10.0 ** np.arange(3, 9)
    ]
    assert all(a > b for a, b in itertools.pairwise(gaps))
    assert gaps[-1] < 1e-6


def test_config_properties():
    config = SGDConfig(lr=1.0, batch_size=30, train_size=1000, momentum=0.9)
    assert config.noise_scale == noise_scale(1.0, 30, 1000, 0.9)
    assert config.noise_scale_approx == noise_scale_approx(1.0, 30, 1000, 0.9)
    assert config.temperature == temperature(1.0, 30, 0.9)
    assert config.effective_lr == pytest.approx(10.0)
    assert config.epochs_per_step == pytest.approx(0.03)
    assert isinstance(config.batch_size, float)


quantities = st.sampled_from(["lr", "batch_size", "train_size", "momentum"])


@settings(max_examples=300, deadline=None)
@given(
    lr=st.floats(1e-3, 10),
    batch_size=st.floats(1, 500),
    extra=st.floats(1, 1e4),
    momentum=st.floats(0, 0.99),
    changed=quantities,
    solve_for=quantities,
    factor=st.floats(0.2, 5),
    rule=st.sampled_from(["noise_scale", "noise_scale_approx", "temperature"]),
)
def test_equivalent_config_keeps_the_rule_fixed(lr, batch_size, extra, momentum, changed, solve_for, factor, rule):
    assume(changed != solve_for)
    assume(not (rule == "temperature" and solve_for == "train_size"))
    reference = SGDConfig(lr=lr, batch_size=batch_size, train_size=batch_size + extra, momentum=momentum)
    new_value = {
        "lr": lr * factor,
        "batch_size": batch_size * factor,
        "train_size": reference.train_size * factor,
        "momentum": 1 - (1 - momentum) / factor if factor > 1 else momentum * factor,
    }[changed]
    try:
        result = equivalent_config(reference, solve_for, rule=rule, **{changed: new_value})
    except ValueError:
        return  # no valid setting (e.g. B would exceed N, or m would leave [0, 1)): reported, fine
    assert getattr(result, changed) == pytest.approx(new_value, rel=1e-12)
    for name in {"lr", "batch_size", "train_size", "momentum"} - {changed, solve_for}:
        assert getattr(result, name) == getattr(reference, name)
    before, after = getattr(reference, rule), getattr(result, rule)
    assert after == pytest.approx(before, rel=1e-7, abs=1e-9 * abs(before) + 1e-12)


def test_equivalent_config_linear_scaling_rules():
    reference = SGDConfig(lr=0.1, batch_size=32, train_size=50_000, momentum=0.9)
    doubled_lr = equivalent_config(reference, "batch_size", lr=0.2, rule="noise_scale_approx")
    assert doubled_lr.batch_size == pytest.approx(64)
    doubled_n = equivalent_config(reference, "batch_size", train_size=100_000, rule="noise_scale_approx")
    assert doubled_n.batch_size == pytest.approx(64)
    halved_one_minus_m = equivalent_config(reference, "batch_size", momentum=0.95, rule="noise_scale_approx")
    assert halved_one_minus_m.batch_size == pytest.approx(64)
    by_temperature = equivalent_config(reference, "lr", batch_size=128, rule="temperature")
    assert by_temperature.lr == pytest.approx(0.4)
    # exact rule: B' = N / (1 + g(1 − m)/ε')
    exact = equivalent_config(reference, "batch_size", lr=0.2)
    g = reference.noise_scale
    assert exact.batch_size == pytest.approx(50_000 / (1 + g * 0.1 / 0.2))
    assert exact.noise_scale == pytest.approx(g)


def test_predicted_optimal_batch_size():
    measured = SGDConfig(lr=1.0, batch_size=100, train_size=10_000, momentum=0.9)
    np.testing.assert_allclose(predicted_optimal_batch_size(measured, lr=[0.5, 1.0, 3.0]), [50, 100, 300])
    assert predicted_optimal_batch_size(measured, train_size=20_000) == pytest.approx(200)
    assert predicted_optimal_batch_size(measured, momentum=0.98) == pytest.approx(500)
    assert predicted_optimal_batch_size(measured, lr=2.0, train_size=5_000, momentum=0.8) == pytest.approx(50)
    via_config = equivalent_config(measured, "batch_size", lr=2.0, momentum=0.8, rule="noise_scale_approx")
    assert predicted_optimal_batch_size(measured, lr=2.0, momentum=0.8) == pytest.approx(via_config.batch_size)


# ------------------------------------------------------------------ Jastrzębski Theorem 2
def _direct_log_p(loss: float, hessian: np.ndarray, noise: float, sigma2: float) -> float:
    return math.log(1 / math.sqrt(np.linalg.det(hessian)) * math.exp(-2 * loss / (noise * sigma2)))


def test_theorem2_ratio_against_direct_computation_on_2x2():
    h_a = np.array([[2.0, 0.5], [0.5, 1.0]])
    h_b = np.array([[6.0, -1.0], [-1.0, 3.0]])
    a, b = Minimum.from_hessian(0.3, h_a), Minimum.from_hessian(0.2, h_b)
    for noise, sigma2 in ((0.01, 1.0), (0.1, 2.0), (1.0, 0.5)):
        direct_a, direct_b = _direct_log_p(0.3, h_a, noise, sigma2), _direct_log_p(0.2, h_b, noise, sigma2)
        assert minimum_log_probability(a, noise, sigma2) == pytest.approx(direct_a, rel=1e-12)
        assert log_probability_ratio(a, b, noise, sigma2) == pytest.approx(direct_a - direct_b, rel=1e-12)
        paper_ratio = math.sqrt(np.linalg.det(h_b) / np.linalg.det(h_a)) * math.exp(2 / (noise * sigma2) * (0.2 - 0.3))
        assert log_probability_ratio(a, b, noise, sigma2) == pytest.approx(math.log(paper_ratio), rel=1e-12)


def test_theorem2_equal_losses_favour_flatter_minimum():
    flat, sharp = Minimum.from_eigenvalues(1.0, [1.0, 2.0]), Minimum.from_eigenvalues(1.0, [4.0, 8.0])
    assert log_probability_ratio(flat, sharp, noise=0.1) == pytest.approx(0.5 * math.log(16))


def test_theorem2_vectorised_over_noise_and_from_eigenvalues_matches_hessian():
    h = np.array([[3.0, 1.0], [1.0, 2.0]])
    from_h, from_eig = Minimum.from_hessian(0.5, h), Minimum.from_eigenvalues(0.5, np.linalg.eigvalsh(h))
    assert from_h.log_det_hessian == pytest.approx(math.log(5.0), rel=1e-12)
    assert from_eig.log_det_hessian == pytest.approx(from_h.log_det_hessian, rel=1e-12)
    noises = np.array([0.01, 0.1, 1.0])
    np.testing.assert_allclose(minimum_log_probability(from_h, noises), -0.5 * math.log(5.0) - 1.0 / noises)


def test_theorem2_no_overflow_for_huge_determinants():
    eig = np.full(1000, 1e300)  # det = 1e300000 overflows float64; its log does not
    minimum = Minimum.from_eigenvalues(0.0, eig)
    assert minimum.log_det_hessian == pytest.approx(1000 * 300 * math.log(10))
    assert math.isfinite(minimum_log_probability(minimum, 0.1))


def test_critical_noise_balances_the_two_minima():
    higher_flatter = Minimum.from_eigenvalues(0.5, [0.1, 0.2])
    lower_sharper = Minimum.from_eigenvalues(0.2, [3.0, 5.0])
    n_star = critical_noise(higher_flatter, lower_sharper, gradient_variance=2.0)
    assert log_probability_ratio(higher_flatter, lower_sharper, n_star, 2.0) == pytest.approx(0.0, abs=1e-12)
    assert log_probability_ratio(higher_flatter, lower_sharper, 2 * n_star, 2.0) > 0
    assert log_probability_ratio(higher_flatter, lower_sharper, 0.5 * n_star, 2.0) < 0
    with pytest.raises(ValueError, match="higher"):
        critical_noise(lower_sharper, higher_flatter)
    # eq. 4 as printed: (L_A − L_B)/(2σ² ln √(det H_B/det H_A)), here 0.3/(2·2·½ ln 750)
    assert critical_noise_as_printed(higher_flatter, lower_sharper, 2.0) == pytest.approx(0.3 / (2 * math.log(750)))
    assert critical_noise_as_printed(higher_flatter, lower_sharper, 2.0) == pytest.approx(n_star / 4)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: noise_scale(0.0, 10, 100), "learning rate"),
        (lambda: noise_scale(-1.0, 10, 100), "learning rate"),
        (lambda: noise_scale(0.1, 0.5, 100), "batch size"),
        (lambda: noise_scale(0.1, 200, 100), "B <= N"),
        (lambda: noise_scale(0.1, 10, 100, 1.0), "momentum"),
        (lambda: noise_scale(0.1, 10, 100, -0.1), "momentum"),
        (lambda: noise_scale(math.nan, 10, 100), "finite"),
        (lambda: noise_scale(np.array([0.1, -0.1]), 10, 100), "learning rate"),
        (lambda: temperature(0.1, 0, 0.9), "batch size"),
        (lambda: critical_learning_rate(0.0), "> 0"),
        (lambda: critical_learning_rate(-3.0), "> 0"),
        (lambda: null_neg_log_evidence(10, 1), "n_classes"),
        (lambda: SGDConfig(lr=0.1, batch_size=200, train_size=100), "B <= N"),
        (lambda: SGDConfig(lr=0.1, batch_size=10, train_size=100, momentum=1.0), "momentum"),
        (lambda: minimum_log_probability(Minimum(0.1, 0.0), noise=0.0), "noise"),
        (lambda: Minimum.from_hessian(0.1, np.array([[1.0, 0.0], [0.0, -1.0]])), "positive definite"),
        (lambda: Minimum.from_hessian(0.1, np.ones((2, 3))), "square"),
        (lambda: Minimum.from_hessian(0.1, np.array([[1.0, 0.5], [0.0, 1.0]])), "symmetric"),
        (lambda: Minimum(math.inf, 0.0), "finite"),
    ],
)
def test_invalid_inputs_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_invalid_types_raise_type_error():
    with pytest.raises(TypeError):
        noise_scale("fast", 10, 100)
    with pytest.raises(TypeError):
        SGDConfig(lr=True, batch_size=10, train_size=100)


def test_fractions_and_decimals_are_numbers():
    from decimal import Decimal
    from fractions import Fraction

    assert noise_scale(Decimal("0.1"), 128, 50_000) == pytest.approx(noise_scale(Fraction(1, 10), 128, 50_000))


@pytest.mark.parametrize("value", ["1024", b"1024", ["256", 512], True, 1024 + 1j])
def test_numeric_strings_and_booleans_are_not_numbers(value):
    with pytest.raises(TypeError, match="batch_size"):
        noise_scale(0.1, value, 50_000)
    reference = SGDConfig(lr=0.1, batch_size=128, train_size=50_000, momentum=0.9)
    with pytest.raises(TypeError, match="new batch_size must be a real number"):
        equivalent_config(reference, "lr", batch_size=value)


def test_equivalent_config_errors():
    reference = SGDConfig(lr=0.1, batch_size=10, train_size=100, momentum=0.5)
    with pytest.raises(ValueError, match="solved for"):
        equivalent_config(reference, "batch_size", batch_size=20)
    with pytest.raises(ValueError, match="solve_for"):
        equivalent_config(reference, "epochs", lr=0.2)
    with pytest.raises(ValueError, match="rule"):
        equivalent_config(reference, "batch_size", lr=0.2, rule="vibes")
    with pytest.raises(ValueError, match="does not depend"):
        equivalent_config(reference, "train_size", lr=0.2, rule="temperature")
    with pytest.raises(ValueError, match="no valid batch_size"):
        equivalent_config(reference, "batch_size", lr=1e-4)  # would need B < 1
    with pytest.raises(ValueError, match="no valid momentum"):
        equivalent_config(reference, "momentum", lr=1.0)  # would need m < 0
    with pytest.raises(ValueError, match="B = N"):
        equivalent_config(SGDConfig(lr=0.1, batch_size=100, train_size=100), "lr", momentum=0.9)


@pytest.mark.parametrize(
    ("solve_for", "change", "message"),
    [
        ("lr", {"momentum": 1.5}, "new momentum must satisfy 0 <= m < 1, got 1.5"),  # was: no valid lr, ε < 0
        ("batch_size", {"momentum": math.nan}, "new momentum must be finite, got nan"),
        ("batch_size", {"lr": -0.1}, "new learning rate must be > 0, got -0.1"),
        ("lr", {"batch_size": 0.5}, "new batch size must be >= 1, got 0.5"),
        ("momentum", {"train_size": 0}, "new training-set size must be >= 1, got 0"),
    ],
)
def test_equivalent_config_names_an_invalid_new_value(solve_for, change, message):
    reference = SGDConfig(lr=0.1, batch_size=128, train_size=50_000)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        equivalent_config(reference, solve_for, **change)


@pytest.mark.parametrize("rule", ["noise_scale", "noise_scale_approx", "temperature"])
def test_equivalent_config_rejects_a_new_training_set_smaller_than_the_batch_before_solving(rule):
    reference = SGDConfig(lr=0.1, batch_size=128, train_size=50_000)
    with pytest.raises(ValueError, match=r"^batch size must not exceed the training-set size \(B <= N\)"):
        equivalent_config(reference, "lr", train_size=100, rule=rule)
