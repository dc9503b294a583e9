import itertools
import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.special import logsumexp

from sgdnoise.instruments.evidence import (
    EvidenceResult,
    LogisticFit,
    accuracy,
    fit_logistic_regression,
    laplace_neg_log_evidence,
    logistic_problem,
    logistic_regression_evidence,
    logistic_regression_evidence_path,
    margins,
    mean_cross_entropy,
    mean_margin,
    occam_penalty,
    predict_proba,
)


# ------------------------------------------------------------------ independent numpy reference model
def with_ones(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)


def sigmoid_cost(theta: np.ndarray, xa: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """C(θ) for θ of shape (..., P): summed cross-entropy + λ|θ|²/2."""
    z = theta @ xa.T
    return np.logaddexp(0, -(2 * y - 1) * z).sum(-1) + 0.5 * lam * (theta**2).sum(-1)


def sigmoid_gradient(theta: np.ndarray, xa: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    return xa.T @ (1 / (1 + np.exp(-(xa @ theta))) - y) + lam * theta


def softmax_cost(theta_flat: np.ndarray, xa: np.ndarray, y: np.ndarray, k: int, lam: float) -> float:
    theta = theta_flat.reshape(k, -1)
    z = xa @ theta.T
    return float((logsumexp(z, axis=1) - z[np.arange(len(y)), y]).sum() + 0.5 * lam * (theta**2).sum())


def softmax_gradient(theta_flat: np.ndarray, xa: np.ndarray, y: np.ndarray, k: int, lam: float) -> np.ndarray:
    theta = theta_flat.reshape(k, -1)
    z = xa @ theta.T
    p = np.exp(z - logsumexp(z, axis=1, keepdims=True))
    p[np.arange(len(y)), y] -= 1
    return (p.T @ xa + lam * theta).ravel()


def finite_difference_hessian(gradient, theta: np.ndarray, step: float = 1e-5) -> np.ndarray:
    columns = []
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = step
        columns.append((gradient(theta + e) - gradient(theta - e)) / (2 * step))
    hessian = np.stack(columns, axis=1)
    return 0.5 * (hessian + hessian.T)


def grid_neg_log_evidence(cost, theta0: np.ndarray, hessian: np.ndarray, lam: float) -> float:
    """−ln[(λ/2π)^{P/2} ∫ e^{−C(θ)} dθ] by the trapezoid rule on a grid in whitened coordinates θ0 + L u,
    u ∈ [−12, 12]^P (61 points per axis), L L^T = H⁻¹. `cost` maps (M, P) parameter rows to (M,) costs."""
    p = theta0.size
    chol = np.linalg.cholesky(np.linalg.inv(hessian))
    axis = np.linspace(-12.0, 12.0, 61)
    c0 = float(cost(theta0[None, :])[0])
    total = 0.0
    for block in itertools.product(axis, repeat=p - 1) if p > 1 else [()]:
        u = np.column_stack([*(np.full(axis.size, b) for b in block), axis])
        total += float(np.exp(-(cost(theta0 + u @ chol.T) - c0)).sum())
    integral = total * (axis[1] - axis[0]) ** p * abs(np.linalg.det(chol))
    return c0 - math.log(integral) - 0.5 * p * math.log(lam / (2 * math.pi))


def logistic_data(n: int, d: int, seed: int, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    logits = x @ (np.ones(d) if weights is None else weights) + 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(np.int64)
    return x, y


# ------------------------------------------------------------------ (a) exact for a quadratic cost
def test_laplace_is_exact_for_ridge_regression():
    rng = np.random.default_rng(0)
    n, p, lam = 30, 4, 0.7
    x, y = rng.normal(size=(n, p)), rng.normal(size=n)
    # y = x w + N(0, 1) noise, prior w ~ N(0, I/λ):  C(w) = |y − xw|²/2 + (N/2) ln 2π + λ|w|²/2
    hessian = x.T @ x + lam * np.eye(p)
    w0 = np.linalg.solve(hessian, x.T @ y)
    cost_at_min = 0.5 * np.sum((y - x @ w0) ** 2) + 0.5 * n * math.log(2 * math.pi) + 0.5 * lam * w0 @ w0
    # exact marginal likelihood: y ~ N(0, I + x xᵀ/λ)
    cov = np.eye(n) + x @ x.T / lam
    exact = 0.5 * y @ np.linalg.solve(cov, y) + 0.5 * np.linalg.slogdet(cov)[1] + 0.5 * n * math.log(2 * math.pi)
    eigenvalues = np.linalg.eigvalsh(hessian)
    assert laplace_neg_log_evidence(cost_at_min, eigenvalues, lam) == pytest.approx(exact, rel=1e-12)
    assert laplace_neg_log_evidence(cost_at_min, torch.tensor(eigenvalues), lam) == pytest.approx(exact, rel=1e-12)


def test_occam_penalty_keeps_only_eigenvalues_at_least_lambda():
    assert occam_penalty([0.5, 1.0, 4.0, -3.0], 1.0) == pytest.approx(0.5 * math.log(4.0))
    assert occam_penalty([2.0, 8.0], 2.0) == pytest.approx(0.5 * math.log(4.0))
    assert occam_penalty([], 1.0) == 0.0


# ------------------------------------------------------------------ (b) brute-force true evidence
@pytest.mark.parametrize("n_features", [0, 1])  # 1 parameter (bias only) and 2 parameters
def test_laplace_approaches_brute_force_evidence_as_n_grows(n_features):
    lam = 1.0
    errors = []
    for n in (10, 40, 160, 640):
        x, y = logistic_data(n, n_features, seed=n, weights=np.array([1.5])[:n_features])
        result = logistic_regression_evidence(x, y, lam)
        xa = with_ones(x)
        theta0 = result.weights.numpy()
        true_value = grid_neg_log_evidence(
            lambda t, xa=xa, y=y: sigmoid_cost(t, xa, y, lam),
            theta0,
            finite_difference_hessian(lambda t, xa=xa, y=y: sigmoid_gradient(t, xa, y, lam), theta0),
            lam,
        )
        errors.append(abs(result.neg_log_evidence - true_value))
    assert errors[0] < 0.05
    assert all(a > b for a, b in itertools.pairwise(errors)), errors
    assert errors[-1] < 0.2 * errors[0]


def test_grid_integral_is_exact_for_a_gaussian():
    # sanity check of the brute-force integrator on exp(−C) with quadratic C: equals the Laplace value
    hessian, lam = np.array([[3.0, 1.0], [1.0, 2.0]]), 0.5
    center = np.array([0.3, -0.2])
    value = grid_neg_log_evidence(
        lambda t: 1.5 + 0.5 * np.einsum("mi,ij,mj->m", t - center, hessian, t - center), center, hessian, lam
    )
    assert value == pytest.approx(laplace_neg_log_evidence(1.5, np.linalg.eigvalsh(hessian), lam), rel=1e-12)


def test_softmax_three_classes_against_brute_force():
    rng = np.random.default_rng(3)
    n, k, lam = 300, 3, 1.0
    y = rng.choice(k, size=n, p=[0.5, 0.3, 0.2])
    x = np.zeros((n, 0))  # bias only: 3 parameters
    result = logistic_regression_evidence(x, y, lam, n_classes=k)
    counts = np.bincount(y, minlength=k)

    def cost(theta: np.ndarray) -> np.ndarray:
        return n * logsumexp(theta, axis=1) - theta @ counts + 0.5 * lam * (theta**2).sum(1)

    theta0 = result.weights.numpy().ravel()
    hessian = finite_difference_hessian(lambda t: softmax_gradient(t, np.ones((n, 1)), y, k, lam), theta0)
    true_value = grid_neg_log_evidence(cost, theta0, hessian, lam)
    assert abs(result.neg_log_evidence - true_value) < 0.02
    assert result.null_neg_log_evidence == pytest.approx(n * math.log(3))


# ------------------------------------------------------------------ (c) the minimum and the exact Hessian
def test_minimum_agrees_with_scipy_and_hessian_with_finite_differences():
    x, y = logistic_data(60, 3, seed=1)
    lam = 0.3
    fit = fit_logistic_regression(x, y, lam)
    assert fit.converged and fit.grad_norm < 1e-9
    xa = with_ones(x)
    reference = minimize(
        sigmoid_cost,
        np.zeros(4),
        args=(xa, y, lam),
        jac=sigmoid_gradient,
        method="BFGS",
        options={"gtol": 1e-10},
    )
    np.testing.assert_allclose(fit.weights.numpy(), reference.x, atol=1e-6)
    assert fit.cost == pytest.approx(reference.fun, rel=1e-12)
    result = logistic_regression_evidence(x, y, lam)
    fd = finite_difference_hessian(lambda t: sigmoid_gradient(t, xa, y, lam), fit.weights.numpy())
    np.testing.assert_allclose(result.eigenvalues, np.linalg.eigvalsh(fd), rtol=1e-7)


def test_softmax_minimum_and_hessian():
    rng = np.random.default_rng(2)
    x, y, k, lam = rng.normal(size=(50, 2)), rng.integers(0, 3, size=50), 3, 0.5
    result = logistic_regression_evidence(x, y, lam, n_classes=k)
    assert result.weights.shape == (3, 3) and result.converged and result.grad_norm < 1e-9
    xa = with_ones(x)
    reference = minimize(
        softmax_cost,
        np.zeros(9),
        args=(xa, y, k, lam),
        jac=softmax_gradient,
        method="BFGS",
        options={"gtol": 1e-10},
    )
    np.testing.assert_allclose(result.weights.numpy().ravel(), reference.x, atol=1e-6)
    fd = finite_difference_hessian(lambda t: softmax_gradient(t, xa, y, k, lam), result.weights.numpy().ravel())
    np.testing.assert_allclose(result.eigenvalues, np.linalg.eigvalsh(fd), rtol=1e-7)
    assert result.occam == pytest.approx(0.5 * np.sum(np.log(np.linalg.eigvalsh(fd) / lam)), rel=1e-8)


# ------------------------------------------------------------------ (d) softmax with two classes vs sigmoid
def test_two_class_softmax_at_lambda_equals_sigmoid_at_half_lambda():
    x, y = logistic_data(80, 5, seed=4)
    lam = 0.8
    softmax = logistic_regression_evidence(x, y, lam, n_classes=2, output="softmax")
    sigmoid = logistic_regression_evidence(x, y, lam / 2)
    w = softmax.weights
    np.testing.assert_allclose((w[1] - w[0]).numpy(), sigmoid.weights.numpy(), atol=1e-9)
    np.testing.assert_allclose((w[1] + w[0]).numpy(), 0.0, atol=1e-9)
    assert softmax.cost == pytest.approx(sigmoid.cost, rel=1e-10)
    assert softmax.occam == pytest.approx(sigmoid.occam, rel=1e-8)
    assert softmax.log_evidence_ratio == pytest.approx(sigmoid.log_evidence_ratio, rel=1e-9)
    assert softmax.eigenvalues.size == 2 * sigmoid.eigenvalues.size
    np.testing.assert_allclose(
        margins(softmax.fit, x, y).numpy(), margins(sigmoid.fit, x, y).numpy(), rtol=1e-7, atol=1e-9
    )


# ------------------------------------------------------------------ (e) limits of the evidence ratio
def test_huge_regularisation_matches_null_model():
    x, y = logistic_data(100, 10, seed=5)
    result = logistic_regression_evidence(x, y, 1e7)
    assert abs(result.log_evidence_ratio_per_example) < 1e-4
    assert result.null_neg_log_evidence == pytest.approx(100 * math.log(2))
    assert mean_cross_entropy(result.fit, x, y) == pytest.approx(math.log(2), abs=1e-4)


def test_random_labels_weakly_regularised_are_worse_than_null_and_informative_labels_better():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(40, 60))  # D > N: any labelling is linearly separable
    random_labels = rng.integers(0, 2, size=40)
    memorised = logistic_regression_evidence(x, random_labels, 1e-3)
    assert accuracy(memorised.fit, x, random_labels) == 1.0
    assert memorised.log_evidence_ratio > 0
    x_big = rng.normal(size=(200, 20))
    informative = (x_big.sum(axis=1) > 0).astype(int)  # the workshop paper's task
    assert logistic_regression_evidence(x_big, informative, 1.0).log_evidence_ratio < 0


# ------------------------------------------------------------------ optimiser robustness and options
def test_converges_at_tiny_lambda_on_separable_data():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(40, 60)), rng.integers(0, 2, size=40)
    result = logistic_regression_evidence(x, y, 1e-8)
    assert result.converged and result.grad_norm < 1e-8
    assert float(result.weights.norm()) > 5  # |ω| grows like ln(1/λ) on separable data
    assert accuracy(result.fit, x, y) == 1.0
    assert np.all(result.eigenvalues >= 1e-8 * (1 - 1e-6))
    assert result.cost == pytest.approx(sigmoid_cost(result.weights.numpy(), with_ones(x), y, 1e-8), rel=1e-9)


def test_path_matches_independent_solves_and_keeps_order():
    x, y = logistic_data(120, 8, seed=8)
    lams = [1e-2, 10.0, 1e-6, 0.3]
    path = logistic_regression_evidence_path(x, y, lams)
    assert [r.l2 for r in path] == lams
    for lam, from_path in zip(lams, path, strict=True):
        alone = logistic_regression_evidence(x, y, lam)
        assert from_path.converged
        assert from_path.log_evidence_ratio == pytest.approx(alone.log_evidence_ratio, rel=1e-8, abs=1e-8)


def test_cholesky_occam_equals_eigenvalue_occam():
    x, y = logistic_data(100, 6, seed=9)
    with_eig = logistic_regression_evidence(x, y, 0.05)
    without = logistic_regression_evidence(x, y, 0.05, compute_eigenvalues=False)
    assert without.eigenvalues is None
    assert without.occam == pytest.approx(with_eig.occam, rel=1e-10)


def test_logistic_problem_gives_the_cost_gradient_and_hessian_on_every_column():
    # the problem the evidence is computed for, as Langevin sampling uses it: rows of ω at once, zero columns kept
    x, y = logistic_data(50, 3, seed=4)
    x = np.concatenate([x, np.zeros((50, 1))], axis=1)
    lam = 0.7
    problem = logistic_problem(x, y, lam)
    xa = with_ones(x)
    rows = torch.as_tensor(np.random.default_rng(5).normal(size=(6, 5)))
    expected = np.stack([sigmoid_gradient(w, xa, y, lam) for w in rows.numpy()])
    np.testing.assert_allclose(problem.gradients(rows).numpy(), expected, rtol=1e-12, atol=1e-12)
    for w in rows:
        cost, gradient = problem.cost_and_gradient(w)
        assert float(cost) == pytest.approx(sigmoid_cost(w.numpy(), xa, y, lam), rel=1e-12)
        np.testing.assert_allclose(gradient.numpy(), sigmoid_gradient(w.numpy(), xa, y, lam), rtol=1e-12)
    w0 = logistic_regression_evidence(x, y, lam).weights
    hessian = problem.hessian_from_data(problem.data_hessian(w0)).numpy()
    fd = finite_difference_hessian(lambda t: sigmoid_gradient(t, xa, y, lam), w0.numpy())
    np.testing.assert_allclose(hessian, fd, rtol=1e-6, atol=1e-8)
    assert hessian[3, 3] == lam  # the zero column decouples with curvature λ


def test_zero_feature_columns_decouple():
    x, y = logistic_data(70, 4, seed=10)
    padded = np.concatenate([np.zeros((70, 2)), x], axis=1)
    plain, with_zeros = logistic_regression_evidence(x, y, 0.2), logistic_regression_evidence(padded, y, 0.2)
    assert with_zeros.log_evidence_ratio == pytest.approx(plain.log_evidence_ratio, rel=1e-12)
    assert with_zeros.eigenvalues.size == 7
    assert np.sum(np.isclose(with_zeros.eigenvalues, 0.2, rtol=1e-12)) >= 2
    assert torch.all(with_zeros.weights[:2] == 0)


def test_warm_start_from_the_minimum_needs_one_step():
    x, y = logistic_data(50, 3, seed=11)
    fit = fit_logistic_regression(x, y, 0.1)
    again = fit_logistic_regression(x, y, 0.1, initial_weights=fit.weights)
    assert again.iterations == 1
    np.testing.assert_allclose(again.weights.numpy(), fit.weights.numpy(), atol=1e-10)


def test_torch_and_numpy_inputs_agree_and_images_are_flattened():
    x, y = logistic_data(60, 6, seed=12)
    from_numpy = logistic_regression_evidence(x, y, 0.1)
    from_torch = logistic_regression_evidence(torch.tensor(x, dtype=torch.float32), torch.tensor(y), 0.1)
    assert from_torch.weights.dtype == torch.float64
    x32 = x.astype(np.float32).astype(np.float64)
    assert from_torch.log_evidence_ratio == pytest.approx(logistic_regression_evidence(x32, y, 0.1).log_evidence_ratio)
    images = logistic_regression_evidence(x.reshape(60, 2, 3), y, 0.1)
    assert images.log_evidence_ratio == pytest.approx(from_numpy.log_evidence_ratio, rel=1e-12)
    assert isinstance(from_numpy, EvidenceResult) and isinstance(from_numpy.fit, LogisticFit)
    assert from_numpy.log_evidence_ratio == pytest.approx(
        from_numpy.cost + from_numpy.occam - 60 * math.log(2), rel=1e-12
    )
    assert from_numpy.log_evidence_ratio_per_example == pytest.approx(from_numpy.log_evidence_ratio / 60)


# ------------------------------------------------------------------ predictions
def test_margins_are_signed_distances_to_the_boundary():
    x, y = logistic_data(40, 2, seed=13)
    fit = fit_logistic_regression(x, y, 0.5)
    w, b = fit.coef.numpy(), float(fit.intercept)
    expected = (2 * y - 1) * (x @ w + b) / np.linalg.norm(w)
    np.testing.assert_allclose(margins(fit, x, y).numpy(), expected, rtol=1e-12)
    assert mean_margin(fit, x, y) == pytest.approx(expected.mean(), rel=1e-12)
    # the foot of each perpendicular lies on the decision boundary w·x + b = 0
    feet = x - ((2 * y - 1) * expected)[:, None] * w / np.linalg.norm(w)
    np.testing.assert_allclose(feet @ w + b, 0.0, atol=1e-10)


def test_softmax_margin_is_distance_to_nearest_class_boundary():
    fit = LogisticFit(
        weights=torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0, -1.0, 0.0]], dtype=torch.float64),
        output="softmax",
        n_classes=3,
        l2=1.0,
        cost=0.0,
        grad_norm=0.0,
        converged=True,
        iterations=0,
        n_examples=1,
    )
    point = np.array([[2.0, 0.5]])  # class 0; boundaries with class 1 (x0 = x1) and class 2 (2x0 + x1 = 0)
    expected = min((2.0 - 0.5) / math.sqrt(2), (2 * 2.0 + 0.5) / math.sqrt(5))
    assert float(margins(fit, point, [0])[0]) == pytest.approx(expected, rel=1e-12)
    assert float(margins(fit, point, [1])[0]) < 0


def test_probabilities_accuracy_cross_entropy():
    x, y = logistic_data(90, 3, seed=14)
    for n_classes, labels in ((2, y), (3, (y + (x[:, 0] > 1)).astype(int))):
        fit = fit_logistic_regression(x, labels, 0.2, n_classes=n_classes)
        probs = predict_proba(fit, x).numpy()
        assert probs.shape == (90, n_classes)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
        assert accuracy(fit, x, labels) == pytest.approx(np.mean(probs.argmax(axis=1) == labels))
        assert mean_cross_entropy(fit, x, labels) == pytest.approx(-np.mean(np.log(probs[np.arange(90), labels])))
    fit = fit_logistic_regression(x, y, 0.2)
    assert mean_cross_entropy(fit, x, y) * 90 == pytest.approx(
        fit.cost - 0.5 * 0.2 * float(fit.weights @ fit.weights), rel=1e-12
    )


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"l2": 0.0}, ValueError, "l2"),
        ({"l2": -1.0}, ValueError, "l2"),
        ({"l2": math.nan}, ValueError, "l2"),
        ({"l2": "big"}, TypeError, "l2"),
        ({"y": np.array([0, 1, 2, 0])}, ValueError, "labels must lie"),
        ({"y": np.array([0, 1, 1])}, ValueError, "shape"),
        ({"y": np.array([0.0, 1.5, 1.0, 0.0])}, ValueError, "integer"),
        ({"n_classes": 1}, ValueError, "n_classes"),
        ({"n_classes": 3, "output": "sigmoid"}, ValueError, "sigmoid"),
        ({"output": "probit"}, ValueError, "output"),
        ({"x": np.array([[0.0], [math.nan], [1.0], [2.0]])}, ValueError, "NaN"),
        ({"x": np.zeros((0, 3)), "y": np.zeros(0, dtype=int)}, ValueError, "at least one example"),
        ({"initial_weights": np.zeros(5)}, ValueError, "initial_weights"),
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"tol": 0.0}, ValueError, "tol"),
    ],
)
def test_invalid_inputs(kwargs, error, message):
    arguments = {"x": np.arange(4.0)[:, None], "y": np.array([0, 1, 1, 0]), "l2": 1.0} | kwargs
    with pytest.raises(error, match=message):
        logistic_regression_evidence(**arguments)


def test_prediction_errors():
    x, y = logistic_data(20, 3, seed=15)
    fit = fit_logistic_regression(x, y, 1.0)
    with pytest.raises(ValueError, match="features"):
        predict_proba(fit, x[:, :2])
    with pytest.raises(ValueError, match="l2_values"):
        logistic_regression_evidence_path(x, y, [])
    zero = LogisticFit(torch.zeros(4, dtype=torch.float64), "sigmoid", 2, 1.0, 0.0, 0.0, True, 0, 20)
    with pytest.raises(ValueError, match="zero"):
        margins(zero, x, y)
