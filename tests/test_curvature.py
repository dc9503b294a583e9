"""Curvature instruments against exact Hessians of tiny float64 problems."""

import copy
import math
import warnings

import numpy as np
import pytest
import torch
from architectures import ARCHITECTURES, OldStyleFunction, WithUnused, exact_hessian, tiny_gpt
from torch import nn

from sgdnoise.instruments.curvature import (
    critical_learning_rate,
    hessian_eigenvalues,
    hessian_norm,
    hessian_trace,
    hessian_vector_product,
)
from sgdnoise.instruments.gradnoise import per_example_gradient_norms
from sgdnoise.monitor import NoiseMonitor


def tanh_mlp(seed: int = 0, dtype: torch.dtype = torch.float64, n: int = 40):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 12), nn.Tanh(), nn.Linear(12, 3)).to(dtype)
    x = torch.randn(n, 5, generator=gen, dtype=dtype)
    y = torch.randint(0, 3, (n,), generator=gen)
    return model, nn.CrossEntropyLoss(), x, y


def snapshot(model: nn.Module):
    return (
        [t.clone() for t in (*model.parameters(), *model.buffers())],
        [m.training for m in model.modules()],
    )


def assert_unchanged(model: nn.Module, before) -> None:
    tensors, modes = before
    for old, new in zip(tensors, (*model.parameters(), *model.buffers()), strict=True):
        assert torch.equal(old, new)
    assert modes == [m.training for m in model.modules()]


class Logistic(nn.Module):
    """Logistic regression whose output carries the L2 penalty, so loss = mean BCE + λ/2 |w|²."""

    def __init__(self, d: int, l2: float):
        super().__init__()
        self.linear = nn.Linear(d, 1, bias=False, dtype=torch.float64)
        self.l2 = l2

    def forward(self, x):
        return self.linear(x).squeeze(1), 0.5 * self.l2 * self.linear.weight.square().sum()


def logistic_loss(outputs, y):
    logits, penalty = outputs
    return nn.functional.binary_cross_entropy_with_logits(logits, y) + penalty


def test_top_k_eigenvalues_match_exact_spectrum():
    model, loss_fn, x, y = tanh_mlp()
    exact = torch.linalg.eigvalsh(exact_hessian(model, loss_fn, x, y))
    largest = exact.flip(0)[:10]
    magnitude = exact[exact.abs().argsort(descending=True)][:10]
    assert (exact < 0).any()  # the two orderings differ on this problem
    before = snapshot(model)
    for which, expected in [("largest", largest), ("magnitude", magnitude)]:
        result = hessian_eigenvalues(model, loss_fn, (x, y), k=10, which=which)
        assert result.converged and result.method == "lanczos"
        torch.testing.assert_close(result.eigenvalues, expected, rtol=1e-6, atol=0)
        assert (result.residuals <= 1.5e-8 * exact.abs().max()).all()
    power = hessian_eigenvalues(model, loss_fn, (x, y), k=3, method="power", which="magnitude", max_iter=5000)
    assert power.converged and power.method == "power"
    torch.testing.assert_close(power.eigenvalues, magnitude[:3], rtol=1e-6, atol=0)
    power = hessian_eigenvalues(model, loss_fn, (x, y), k=2, method="power", max_iter=5000)
    torch.testing.assert_close(power.eigenvalues, largest[:2], rtol=1e-6, atol=0)
    assert_unchanged(model, before)


def test_eigenvectors_are_eigenvectors():
    model, loss_fn, x, y = tanh_mlp(seed=1)
    hess = exact_hessian(model, loss_fn, x, y)
    result = hessian_eigenvalues(model, loss_fn, (x, y), k=3, return_eigenvectors=True)
    vectors = result.eigenvectors
    assert vectors is not None and vectors.shape == (3, hess.shape[0])
    torch.testing.assert_close(vectors @ vectors.T, torch.eye(3, dtype=torch.float64), atol=1e-10, rtol=0)
    residual = (vectors @ hess - result.eigenvalues[:, None] * vectors).norm(dim=1)
    torch.testing.assert_close(residual, result.residuals, atol=1e-9, rtol=0)


def test_low_rank_quadratic_with_krylov_breakdown():
    # L(w) = mean_i (w·x_i − y_i)², H = 2 XᵀX / N has rank N = 5 < d = 30: Lanczos must restart.
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(5, 30, generator=gen, dtype=torch.float64)
    y = torch.randn(5, 1, generator=gen, dtype=torch.float64)
    model = nn.Linear(30, 1, bias=False, dtype=torch.float64)
    exact = torch.linalg.eigvalsh(2 * x.T @ x / 5).flip(0)[:8]
    result = hessian_eigenvalues(model, nn.MSELoss(), (x, y), k=8)
    assert result.converged
    torch.testing.assert_close(result.eigenvalues, exact, rtol=1e-6, atol=1e-10 * exact[0].item())
    # torch.func's forward-over-reverse fails on mse_loss in some torch versions: the fallback is exact too
    v = torch.randn(30, generator=gen, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        hv = hessian_vector_product(model, nn.MSELoss(), (x, y), v, method="forward-over-reverse")
    torch.testing.assert_close(hv, 2 * x.T @ (x @ v) / 5, rtol=1e-12, atol=1e-12)


def test_forward_over_reverse_falls_back_to_double_backward_for_an_old_style_autograd_function():
    torch.manual_seed(0)
    model = OldStyleFunction().double()
    x, y = torch.randn(10, 4, dtype=torch.float64), torch.randint(0, 3, (10,))
    v = torch.randn(sum(p.numel() for p in model.parameters()), dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="using reverse-over-reverse"):
        hv = hessian_vector_product(model, nn.CrossEntropyLoss(), (x, y), v, method="forward-over-reverse")
    torch.testing.assert_close(hv, exact_hessian(model, nn.CrossEntropyLoss(), x, y) @ v, rtol=1e-10, atol=1e-12)


def test_logistic_regression_hvp_matches_closed_form():
    gen = torch.Generator().manual_seed(4)
    d, n, l2 = 6, 50, 0.3
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = (torch.rand(n, generator=gen) < 0.5).to(torch.float64)
    torch.manual_seed(4)
    model = Logistic(d, l2)
    p = torch.sigmoid(x @ model.linear.weight.detach()[0])
    closed_form = x.T @ torch.diag(p * (1 - p)) @ x / n + l2 * torch.eye(d, dtype=torch.float64)
    v = torch.randn(d, generator=gen, dtype=torch.float64)
    batches = [(x[:17], y[:17]), (x[17:], y[17:])]  # unequal chunks: the mean must weight them by size
    for method, rtol in [("forward-over-reverse", 1e-12), ("reverse-over-reverse", 1e-12), ("finite-difference", 1e-7)]:
        hv = hessian_vector_product(model, logistic_loss, batches, v, method=method)
        torch.testing.assert_close(hv, closed_form @ v, rtol=rtol, atol=0)
    as_dict = hessian_vector_product(model, logistic_loss, (x, y), {"linear.weight": v[None]})
    torch.testing.assert_close(as_dict["linear.weight"][0], closed_form @ v, rtol=1e-12, atol=0)
    result = hessian_eigenvalues(model, logistic_loss, (x, y), k=d)
    torch.testing.assert_close(result.eigenvalues, torch.linalg.eigvalsh(closed_form).flip(0), rtol=1e-6, atol=0)
    trace = hessian_trace(model, logistic_loss, (x, y), n_samples=9)
    assert abs(trace.value - closed_form.trace().item()) <= 3 * trace.stderr + 1e-10


@pytest.mark.parametrize("method", ["hutch++", "hutchinson"])
def test_trace_error_within_three_standard_errors(method):
    for seed in range(4):
        model, loss_fn, x, y = tanh_mlp(seed=seed, n=30)
        exact = exact_hessian(model, loss_fn, x, y).trace().item()
        estimate = hessian_trace(model, loss_fn, (x, y), method=method, n_samples=60, seed=seed)
        assert estimate.n_samples == 60 and estimate.stderr > 0
        assert abs(estimate.value - exact) <= 3 * estimate.stderr, (seed, estimate, exact)


def test_hutchpp_is_exact_when_sketch_covers_the_range():
    # rank-4 Hessian, sketch of 10 vectors: tr(QᵀHQ) is the whole trace, the residual part vanishes.
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 20, generator=gen, dtype=torch.float64)
    y = torch.randn(4, 1, generator=gen, dtype=torch.float64)
    model = nn.Linear(20, 1, bias=False, dtype=torch.float64)
    estimate = hessian_trace(model, nn.MSELoss(), (x, y), n_samples=30)
    assert estimate.value == pytest.approx((2 * x.square().sum() / 4).item(), rel=1e-10)
    assert estimate.stderr < 1e-10


def test_frobenius_norm_estimate():
    model, loss_fn, x, y = tanh_mlp(seed=2)
    exact = torch.linalg.norm(exact_hessian(model, loss_fn, x, y)).item()
    exact_products = hessian_norm(model, loss_fn, (x, y), n_samples=200, hvp_method="forward-over-reverse")
    assert exact_products.step is None
    assert abs(exact_products.value - exact) <= 3 * exact_products.stderr
    assert exact_products.stderr < 0.05 * exact
    # the finite-difference estimator sees the same probes: it differs only by its O(ε²) truncation error
    finite = hessian_norm(model, loss_fn, (x, y), n_samples=200)
    assert finite.step is not None and finite.step > 0
    assert finite.squared == pytest.approx(exact_products.squared, rel=1e-7)
    assert finite.stderr == pytest.approx(exact_products.stderr, rel=1e-5)


def test_critical_learning_rate_is_two_over_lambda_max():
    model, loss_fn, x, y = tanh_mlp(seed=6)
    lam = torch.linalg.eigvalsh(exact_hessian(model, loss_fn, x, y))[-1].item()
    result = critical_learning_rate(model, loss_fn, (x, y))
    assert result.max_eigenvalue == pytest.approx(lam, rel=1e-8)
    assert result.value == pytest.approx(2 / lam, rel=1e-8)
    assert 0 <= result.max_eigenvalue_error < 1e-6 * lam


def test_an_unused_parameter_adds_zero_rows_to_the_hessian():
    net, loss_fn, x, y = tanh_mlp(seed=9, n=12)
    model = WithUnused(net)
    exact = torch.linalg.eigvalsh(exact_hessian(net, loss_fn, x, y))
    expected = exact.flip(0)[:3]
    for hvp_method in ("reverse-over-reverse", "forward-over-reverse", "finite-difference"):
        tol = 1e-6 if hvp_method == "finite-difference" else 1e-9
        result = hessian_eigenvalues(model, loss_fn, (x, y), k=3, hvp_method=hvp_method)
        torch.testing.assert_close(result.eigenvalues, expected, rtol=tol, atol=0)
    extra = sum(p.numel() for p in model.unused.parameters())
    v = torch.randn(sum(p.numel() for p in model.parameters()), dtype=torch.float64)
    hv = hessian_vector_product(model, loss_fn, (x, y), v)
    torch.testing.assert_close(hv[:-extra], exact_hessian(net, loss_fn, x, y) @ v[:-extra], rtol=1e-9, atol=1e-12)
    assert torch.equal(hv[-extra:], torch.zeros(extra, dtype=torch.float64))
    assert critical_learning_rate(model, loss_fn, (x, y)).value == pytest.approx(2 / exact[-1].item(), rel=1e-8)
    # Hutchinson with probes as many as P: z over the unused coordinates adds nothing to zᵀHz
    trace = hessian_trace(model, loss_fn, (x, y), method="hutchinson", n_samples=400)
    assert abs(trace.value - exact.sum().item()) <= 4 * trace.stderr
    norm = hessian_norm(model, loss_fn, (x, y), n_samples=300, hvp_method="reverse-over-reverse")
    assert abs(norm.value - exact.square().sum().sqrt().item()) <= 4 * norm.stderr


def test_tensors_and_batches_give_the_same_answers():
    model, loss_fn, x, y = tanh_mlp(seed=7)
    batches = [(x[:13], y[:13]), (x[13:29], y[13:29]), (x[29:], y[29:])]
    for data_a, data_b in [((x, y), batches), ((x, y), (x, y))]:
        kwargs_b = {"chunk_size": 7} if data_b is not batches else {}
        eig_a = hessian_eigenvalues(model, loss_fn, data_a, k=5)
        eig_b = hessian_eigenvalues(model, loss_fn, data_b, k=5, **kwargs_b)
        torch.testing.assert_close(eig_a.eigenvalues, eig_b.eigenvalues, rtol=1e-9, atol=0)
        tr_a = hessian_trace(model, loss_fn, data_a, n_samples=12)
        tr_b = hessian_trace(model, loss_fn, data_b, n_samples=12, **kwargs_b)
        assert tr_a.value == pytest.approx(tr_b.value, rel=1e-9)
        norm_a = hessian_norm(model, loss_fn, data_a, n_samples=5)
        norm_b = hessian_norm(model, loss_fn, data_b, n_samples=5, **kwargs_b)
        assert norm_a.value == pytest.approx(norm_b.value, rel=1e-7)


def test_float32_model_follows_its_dtype():
    model, loss_fn, x, y = tanh_mlp(seed=8, dtype=torch.float32)
    exact = torch.linalg.eigvalsh(exact_hessian(model.double(), loss_fn, x.double(), y)).flip(0)[:3]
    model.float()
    result = hessian_eigenvalues(model, loss_fn, (x.double(), y), k=3)  # float64 data is cast to float32
    assert result.converged
    torch.testing.assert_close(result.eigenvalues, exact, rtol=1e-4, atol=0)
    hv = hessian_vector_product(model, loss_fn, (x, y), torch.ones(sum(p.numel() for p in model.parameters())))
    assert hv.dtype == torch.float32


def test_batch_norm_model_in_either_mode_is_left_unchanged():
    torch.manual_seed(9)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 2)).double()
    x = torch.randn(32, 4, dtype=torch.float64)
    y = torch.randint(0, 2, (32,))
    model(x)  # give the running statistics non-trivial values
    model.eval()
    loss_fn = nn.CrossEntropyLoss()
    before = snapshot(model)
    eval_top = hessian_eigenvalues(model, loss_fn, (x, y), k=2, train_mode=False)
    train_top = hessian_eigenvalues(model, loss_fn, (x, y), k=2, train_mode=True)
    hessian_trace(model, loss_fn, (x, y), n_samples=6, train_mode=True)
    hessian_norm(model, loss_fn, (x, y), n_samples=3, train_mode=True)
    assert_unchanged(model, before)
    assert model[1].track_running_stats
    # train mode normalises with the batch statistics: a different loss, a different Hessian
    assert not torch.allclose(eval_top.eigenvalues, train_top.eigenvalues)
    model.train()
    with torch.no_grad():
        model[1].track_running_stats = False
        exact_train = torch.linalg.eigvalsh(exact_hessian(model, loss_fn, x, y)).flip(0)[:2]
        model[1].track_running_stats = True
    torch.testing.assert_close(train_top.eigenvalues, exact_train, rtol=1e-6, atol=0)
    # in chunks, train mode normalises each by its own statistics: another loss, said in a warning
    with pytest.warns(RuntimeWarning, match="ghost batches and changes with chunk_size"):
        halves = hessian_eigenvalues(model, loss_fn, (x, y), k=2, train_mode=True, chunk_size=16)
    assert not torch.allclose(halves.eigenvalues, train_top.eigenvalues)


def test_invalid_arguments_raise_clear_errors():
    model, loss_fn, x, y = tanh_mlp()
    with pytest.raises(ValueError, match="exceeds the number of trainable parameters"):
        hessian_eigenvalues(model, loss_fn, (x, y), k=10_000)
    with pytest.raises(ValueError, match="method"):
        hessian_eigenvalues(model, loss_fn, (x, y), k=2, method="arnoldi")
    with pytest.raises(TypeError, match="one-shot iterator"):
        hessian_trace(model, loss_fn, iter([(x, y)]))
    with pytest.raises(ValueError, match="flat vector"):
        hessian_vector_product(model, loss_fn, (x, y), torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="different numbers of examples"):
        hessian_norm(model, loss_fn, (x, y[:5]))
    with pytest.raises(ValueError, match=r"^data: x and y need a leading batch dimension"):
        hessian_eigenvalues(model, loss_fn, (x[0], y[0]), k=1)
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        hessian_trace(lambda t: t, loss_fn, (x, y))
    # before: "each batch must be a pair of tensors, got Tensor", "... got ndarray", "Overflow when unpacking"
    with pytest.raises(TypeError, match=r"^data is a tuple of 3 tensors: pass \(x, y\)"):
        hessian_eigenvalues(model, loss_fn, (x, y, y), k=1)
    with pytest.raises(TypeError, match=r"^data's x is a dict \(of input_ids\): the instruments call model\(x\)"):
        hessian_eigenvalues(model, loss_fn, ({"input_ids": x}, y), k=1)  # before: "... got dict"
    with pytest.raises(TypeError, match=r"^data holds ndarray and ndarray: pass torch tensors"):
        hessian_eigenvalues(model, loss_fn, (x.numpy(), y.numpy()), k=1)
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*64\), got 1180591620717411303424"):
        hessian_eigenvalues(model, loss_fn, (x, y), k=1, seed=2**70)
    assert math.isfinite(hessian_trace(model, loss_fn, (x, y), n_samples=3).value)
    assert np.isfinite(hessian_trace(model, loss_fn, (x, y), method="hutchinson", n_samples=2).stderr)


class SamePassEveryTime:
    """An iterable whose ``__iter__`` returns one and the same iterator: it gives its batches once."""

    def __init__(self, batches):
        self.batches = iter(batches)

    def __iter__(self):
        return self.batches


class OneShotStream(torch.utils.data.IterableDataset):
    def __init__(self, x, y):
        self.examples = zip(x, y, strict=True)

    def __iter__(self):
        return self.examples


def test_data_that_can_be_iterated_only_once_is_refused_on_its_second_pass():
    """Before: "data holds no examples" on the second pass, though the first had given batches."""
    model, loss_fn, x, y = tanh_mlp(n=12)
    v = torch.randn(sum(p.numel() for p in model.parameters()), generator=torch.Generator().manual_seed(1))
    batches = [(x[:5], y[:5]), (x[5:], y[5:])]
    for once in (SamePassEveryTime(batches), torch.utils.data.DataLoader(OneShotStream(x, y), batch_size=5)):
        with pytest.raises(TypeError, match=r"^data gave no batches on pass 2, .* can be iterated only once"):
            hessian_vector_product(model, loss_fn, once, v.double())
    exact = exact_hessian(model, loss_fn, x, y) @ v.double()
    torch.testing.assert_close(
        hessian_vector_product(model, loss_fn, batches, v.double()), exact, rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("train_mode", [False, True])
def test_every_curvature_instrument_refuses_a_summed_loss(train_mode):
    # the Hessian of a summed loss is the mean's times the chunk size: a wrong number, so one clear error;
    # with batch norm in train mode too (the check re-evaluates only the loss, on halves of the outputs)
    torch.manual_seed(9)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 2)).double()
    x, y = torch.randn(32, 4, dtype=torch.float64), torch.randint(0, 2, (32,))
    data, summed = (x, y), nn.CrossEntropyLoss(reduction="sum")
    v = torch.ones(sum(p.numel() for p in model.parameters()), dtype=torch.float64)
    calls = [
        lambda: hessian_vector_product(model, summed, data, v, train_mode=train_mode),
        lambda: hessian_eigenvalues(model, summed, data, k=1, train_mode=train_mode),
        lambda: critical_learning_rate(model, summed, data, train_mode=train_mode),
        lambda: hessian_trace(model, summed, data, n_samples=3, train_mode=train_mode),
        lambda: hessian_norm(model, summed, data, n_samples=2, train_mode=train_mode),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=r"loss_fn must be the MEAN .* \(e\.g\. reduction='mean'\)"):
            call()
    none = nn.CrossEntropyLoss(reduction="none")
    with pytest.raises(ValueError, match=r"loss_fn must return a scalar tensor .*got \(32,\)"):
        hessian_eigenvalues(model, none, data, k=1, train_mode=train_mode)
    mean_top = hessian_eigenvalues(model, nn.CrossEntropyLoss(), data, k=1, train_mode=train_mode)
    assert mean_top.converged


def test_non_finite_data_parameters_or_loss_are_one_clear_error():
    model, loss_fn, x, y = tanh_mlp(n=12)
    v = torch.ones(sum(p.numel() for p in model.parameters()), dtype=torch.float64)
    instruments = [
        lambda data, lf=loss_fn: hessian_vector_product(model, lf, data, v),
        lambda data, lf=loss_fn: hessian_eigenvalues(model, lf, data, k=1),
        lambda data, lf=loss_fn: critical_learning_rate(model, lf, data),
        lambda data, lf=loss_fn: hessian_trace(model, lf, data, n_samples=3),
        lambda data, lf=loss_fn: hessian_norm(model, lf, data, n_samples=2),
    ]
    x_nan, x_inf = x.clone(), x.clone()
    x_nan[3, 2], x_inf[8, 0] = math.nan, math.inf
    for call in instruments:
        with pytest.raises(ValueError, match=r"^data holds NaN or inf in x"):
            call((x_nan, y))
        with pytest.raises(ValueError, match=r"^data \(batch 1\) holds NaN or inf in x"):
            call([(x[:6], y[:6]), (x_inf[6:], y[6:])])
        with pytest.raises(ValueError, match=r"loss_fn must return a scalar tensor .*got float"):
            call((x, y), lambda outputs, targets: float(loss_fn(outputs, targets)))
    with torch.no_grad():
        model[0].weight[0, 0] = math.nan
    for call in instruments:
        with pytest.raises(ValueError, match=r"the loss is not finite \(nan\) at the model's parameters"):
            call((x, y))


def test_unconverged_run_warns_and_says_so():
    model, loss_fn, x, y = tanh_mlp(seed=10)
    with pytest.warns(RuntimeWarning, match="did not reach"):
        result = hessian_eigenvalues(model, loss_fn, (x, y), k=5, max_iter=6)
    assert not result.converged and result.n_matvecs == 6
    assert (result.residuals > 0).all()


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_curvature_through_attention_and_normalisation_is_exact(architecture):
    # fused SDPA has no double backward; LayerNorm, GroupNorm, Embedding, GELU and the tied head must all pass
    model, loss_fn, x, y = ARCHITECTURES[architecture]()
    hess = exact_hessian(model, loss_fn, x, y)
    exact = torch.linalg.eigvalsh(hess).flip(0)
    v = torch.randn(hess.shape[0], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for method in ("reverse-over-reverse", "forward-over-reverse"):
        hv = hessian_vector_product(model, loss_fn, (x, y), v, method=method, chunk_size=4)
        torch.testing.assert_close(hv, hess @ v, rtol=1e-9, atol=1e-11)
    result = hessian_eigenvalues(model, loss_fn, (x, y), k=3, tol=1e-9)
    torch.testing.assert_close(result.eigenvalues, exact[:3], rtol=1e-8, atol=1e-10)
    crit = critical_learning_rate(model, loss_fn, (x, y), tol=1e-9)
    assert crit.value == pytest.approx(2 / exact[0].item(), rel=1e-8)
    trace = hessian_trace(model, loss_fn, (x, y), n_samples=12)
    assert abs(trace.value - hess.trace().item()) <= 4 * trace.stderr


def test_dropout_in_train_mode_has_a_fixed_mask_so_the_hessian_is_one_matrix():
    model, loss_fn, x, y = tiny_gpt(dropout=0.3)
    model.train()
    torch.manual_seed(0)  # the mask of the operator's one chunk (chunk index 0)
    hess = exact_hessian(model, loss_fn, x, y)
    state = torch.random.get_rng_state()
    result = hessian_eigenvalues(model, loss_fn, (x, y), k=2, tol=1e-9)
    torch.testing.assert_close(result.eigenvalues, torch.linalg.eigvalsh(hess).flip(0)[:2], rtol=1e-8, atol=1e-10)
    assert torch.equal(torch.random.get_rng_state(), state) and model.training


def test_preconditioned_eigenvalues_are_those_of_p_inverse_h():
    model, loss_fn, x, y = tanh_mlp()
    hess = exact_hessian(model, loss_fn, x, y)
    diagonal = torch.rand(hess.shape[0], generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 0.1
    exact = torch.linalg.eigvals(hess / diagonal[:, None]).real.sort(descending=True).values[:2]
    pieces = diagonal.split([p.numel() for p in model.parameters()])
    by_name = {n: d.reshape(p.shape) for (n, p), d in zip(model.named_parameters(), pieces, strict=True)}
    for preconditioner in (diagonal, by_name):
        result = hessian_eigenvalues(model, loss_fn, (x, y), k=2, tol=1e-9, preconditioner=preconditioner)
        torch.testing.assert_close(result.eigenvalues, exact, rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match="preconditioner must be positive"):
        hessian_eigenvalues(model, loss_fn, (x, y), k=1, preconditioner=-diagonal)


def test_an_l2_penalty_adds_its_diagonal_to_the_hessian():
    """l2 = λ (one, or by parameter name): the eigenvalues of H + diag(λ), also preconditioned."""
    model, loss_fn, x, y = tanh_mlp()
    hess = exact_hessian(model, loss_fn, x, y)
    sizes = {n: p.numel() for n, p in model.named_parameters()}
    by_name = {"0.weight": 0.3, "2.bias": 2.0}  # the other parameters: 0
    diagonal = torch.cat([torch.full((size,), by_name.get(n, 0.0), dtype=torch.float64) for n, size in sizes.items()])
    p = torch.rand(hess.shape[0], generator=torch.Generator().manual_seed(2), dtype=torch.float64) + 0.1
    cases = [
        (0.7, {}, torch.linalg.eigvalsh(hess).flip(0) + 0.7),
        (by_name, {}, torch.linalg.eigvalsh(hess + torch.diag(diagonal)).flip(0)),
        (by_name, {"preconditioner": p}, torch.linalg.eigvals((hess + torch.diag(diagonal)) / p[:, None]).real),
    ]
    for l2, extra, exact in cases:
        result = hessian_eigenvalues(model, loss_fn, (x, y), k=2, tol=1e-9, l2=l2, **extra)
        torch.testing.assert_close(result.eigenvalues, exact.sort(descending=True).values[:2], rtol=1e-8, atol=1e-10)
    assert critical_learning_rate(model, loss_fn, (x, y), tol=1e-9, l2=0.7).max_eigenvalue == pytest.approx(
        torch.linalg.eigvalsh(hess)[-1].item() + 0.7, rel=1e-8
    )
    for bad, message in [(-0.1, "l2 must be"), (math.nan, "l2 must be"), ({"nope": 1.0}, "not trainable")]:
        with pytest.raises(ValueError, match=message):
            hessian_eigenvalues(model, loss_fn, (x, y), k=1, l2=bad)


def test_a_penalty_that_loss_fn_reads_from_the_parameters_is_refused_and_points_to_l2():
    """An L2 penalty over model.parameters() inside loss_fn: the Hessian is taken through the outputs only, so
    λ_max came out short by exactly λ; l2= is the way to add it."""
    model, loss_fn, x, y = tanh_mlp()

    def penalised(out, t):
        return loss_fn(out, t) + 0.025 * sum(p.square().sum() for p in model.parameters())

    v = torch.ones(sum(p.numel() for p in model.parameters()), dtype=torch.float64)
    for call in (
        lambda: hessian_eigenvalues(model, penalised, (x, y), k=1),
        lambda: critical_learning_rate(model, penalised, (x, y)),
        lambda: hessian_vector_product(model, penalised, (x, y), v),
    ):
        with pytest.raises(ValueError, match=r"only through its outputs; for weight decay, .* pass l2="):
            call()


def test_the_curvature_instruments_refuse_a_weighted_mean_where_every_example_has_the_same_loss():
    """They check each chunk under torch.no_grad(), where the gradients at the outputs were not compared: class
    weights at a zero head (every loss ln 3) gave a λ_max of neither the weighted loss nor a mean."""
    model, _, x, y = tanh_mlp()
    nn.init.zeros_(model[2].weight)
    nn.init.zeros_(model[2].bias)
    weighted = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 5.0], dtype=torch.float64))
    for call in (
        lambda: hessian_eigenvalues(model, weighted, (x, y), k=1),
        lambda: hessian_trace(model, weighted, (x, y), n_samples=3),
    ):
        with pytest.raises(ValueError, match=r"MEAN of the per-example losses .* gradient of the loss of the first"):
            call()


@pytest.mark.parametrize("outputs", [2, 3])
def test_repeated_eigenvalues_are_returned_as_often_as_they_occur(outputs):
    # a linear map to `outputs` targets under MSE has H = I ⊗ A: every eigenvalue occurs `outputs` times, and
    # the Krylov space of one start vector holds only one copy of each
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 8, generator=gen, dtype=torch.float64) * torch.linspace(0.2, 3, 8, dtype=torch.float64)
    y = torch.randn(200, outputs, generator=gen, dtype=torch.float64)
    model = nn.Linear(8, outputs, dtype=torch.float64)
    exact = torch.linalg.eigvalsh(exact_hessian(model, nn.MSELoss(), x, y))
    for which, expected in [("largest", exact.flip(0)), ("magnitude", exact[exact.abs().argsort(descending=True)])]:
        result = hessian_eigenvalues(model, nn.MSELoss(), (x, y), k=5, which=which, tol=1e-10, return_eigenvectors=True)
        assert result.converged
        torch.testing.assert_close(result.eigenvalues, expected[:5], rtol=1e-10, atol=0)
        vectors = result.eigenvectors
        torch.testing.assert_close(vectors @ vectors.T, torch.eye(5, dtype=torch.float64), atol=1e-8, rtol=0)


def test_a_preconditioner_by_name_must_match_each_parameter_shape():
    model, loss_fn, x, y = tanh_mlp()
    by_name = {n: torch.ones_like(p) for n, p in model.named_parameters()}
    transposed = {**by_name, "0.weight": torch.ones(5, 12, dtype=torch.float64)}  # [12, 5] in the model
    with pytest.raises(ValueError, match=r"'0.weight'.*\[12, 5\]"):
        hessian_eigenvalues(model, loss_fn, (x, y), k=1, preconditioner=transposed)
    with pytest.raises(ValueError, match="finite"):
        hessian_eigenvalues(
            model, loss_fn, (x, y), k=1, preconditioner={**by_name, "2.bias": torch.full((3,), math.inf)}
        )


def test_a_loader_that_reshuffles_is_refused_where_chunks_fix_the_randomness():
    # in train mode each chunk's dropout mask is fixed by its index: chunks whose examples change from one pass
    # to the next would make H a different matrix at every product
    model, loss_fn, x, y = tanh_mlp()
    model = nn.Sequential(model[0], nn.Dropout(0.3), *model[1:])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8, shuffle=True)
    with pytest.raises(ValueError, match="shuffle"):
        hessian_eigenvalues(model, loss_fn, loader, k=2, train_mode=True)
    eval_mode = hessian_eigenvalues(model, loss_fn, loader, k=2, train_mode=False, tol=1e-9)  # a sum over all
    exact = torch.linalg.eigvalsh(exact_hessian(model.eval(), loss_fn, x, y)).flip(0)[:2]
    torch.testing.assert_close(eval_mode.eigenvalues, exact, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("train_mode", [False, True])
def test_data_that_brings_other_examples_on_another_pass_is_refused_in_every_mode(train_mode):
    """Before, in eval mode each product saw another subset: Hv of one v differed by 49-125% between calls and
    Lanczos reported convergence on a wrong λ_max. Shuffling alone (the same examples) stays exact."""
    model, loss_fn, x, y = tanh_mlp()
    dataset = torch.utils.data.TensorDataset(x, y)
    v = torch.randn(sum(p.numel() for p in model.parameters()), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)  # the loaders draw from torch's generator
    for loader in (
        torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True, drop_last=True),  # 32 of the 40
        torch.utils.data.DataLoader(dataset, batch_size=16, sampler=torch.utils.data.RandomSampler(dataset, True)),
        torch.utils.data.DataLoader(
            dataset, batch_size=16, sampler=torch.utils.data.WeightedRandomSampler([1] * 40, 40)
        ),
    ):
        with pytest.raises(
            ValueError, match=r"^the data gave other examples on pass 2 than on the first \((32|40) examples against"
        ):
            hessian_vector_product(model, loss_fn, loader, v.double(), train_mode=train_mode)
    shuffled = torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True)
    exact = exact_hessian(model, loss_fn, x, y) @ v.double()
    torch.testing.assert_close(
        hessian_vector_product(model, loss_fn, shuffled, v.double()), exact, rtol=1e-12, atol=1e-14
    )


class RunningNormaliser(nn.Module):
    """Inputs standardised by running statistics that each train-mode forward moves (RL's RunningMeanStd)."""

    def __init__(self, width: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(width, dtype=torch.float64))
        self.register_buffer("var", torch.ones(width, dtype=torch.float64))

    def forward(self, x):
        if self.training:
            with torch.no_grad():
                self.mean.mul_(0.9).add_(0.1 * x.mean(0))
                self.var.mul_(0.9).add_(0.1 * x.var(0))
        return (x - self.mean) / self.var.sqrt()


def test_a_model_whose_forward_changes_its_buffers_is_refused_and_measured_in_eval_mode():
    """Before, the buffers moved with every product: λ_max 0.911 'converged', against 1.707 at the current buffers
    and 0.585 at their fixed point. Batch norm in train mode keeps its handling (its statistics frozen), and
    buffers that a pass changes without changing the function are no reason to refuse."""
    _, loss_fn, x, y = tanh_mlp()
    torch.manual_seed(3)
    model = nn.Sequential(RunningNormaliser(5), nn.Linear(5, 3, dtype=torch.float64))
    before = snapshot(model)
    with pytest.raises(
        ValueError, match=r"^a forward pass changed the model's buffers \(0\.mean, 0\.var\).*train_mode=False"
    ):
        hessian_eigenvalues(model, loss_fn, (x, y), k=1, train_mode=True)
    assert_unchanged(model, before)
    spectral = nn.Sequential(nn.utils.spectral_norm(nn.Linear(5, 3, dtype=torch.float64)))  # old API: hooks
    with pytest.raises(ValueError, match=r"changed the model's buffers \(0\.weight_u, 0\.weight_v\)"):
        hessian_trace(spectral, loss_fn, (x, y), train_mode=True)
    top = hessian_eigenvalues(model, loss_fn, (x, y), k=2, train_mode=False, tol=1e-10).eigenvalues
    exact = torch.linalg.eigvalsh(exact_hessian(model.eval(), loss_fn, x, y)).flip(0)[:2]
    torch.testing.assert_close(top, exact, rtol=1e-10, atol=1e-12)
    # buffers that do not enter the function: instance norm's running statistics in train mode
    instance = nn.Sequential(
        nn.Unflatten(1, (1, 5)),
        nn.InstanceNorm1d(1, affine=True, track_running_stats=True),
        nn.Flatten(),
        nn.Linear(5, 3),
    ).double()
    top = hessian_eigenvalues(instance, loss_fn, (x, y), k=2, train_mode=True, tol=1e-10).eigenvalues
    exact = torch.linalg.eigvalsh(exact_hessian(instance.train(), loss_fn, x, y)).flip(0)[:2]
    torch.testing.assert_close(top, exact, rtol=1e-10, atol=1e-12)


def test_hutchpp_runs_in_half_precision():
    # its QR runs in float32 (no half-precision kernel); with a sketch covering H the estimate is exact up to
    # float16 rounding
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 3, generator=gen, dtype=torch.float64), torch.randint(0, 2, (30,), generator=gen)
    model = nn.Linear(3, 2, dtype=torch.float64)
    exact = float(exact_hessian(model, nn.CrossEntropyLoss(), x, y).trace())
    trace = hessian_trace(model.half(), nn.CrossEntropyLoss(), (x.half(), y), n_samples=24, method="hutch++")
    assert trace.value == pytest.approx(exact, rel=2e-2)


class HandWeightNorm(nn.Module):
    """The reference: W = g·v/‖v‖ written out, per output row (dim 0) and over the whole matrix (dim None)."""

    def __init__(self):
        super().__init__()
        gen = torch.Generator().manual_seed(3)
        self.v1 = nn.Parameter(torch.randn(5, 4, generator=gen, dtype=torch.float64))
        self.g1 = nn.Parameter(torch.rand(5, 1, generator=gen, dtype=torch.float64) + 0.5)
        self.b1 = nn.Parameter(torch.randn(5, generator=gen, dtype=torch.float64))
        self.v2 = nn.Parameter(torch.randn(3, 5, generator=gen, dtype=torch.float64))
        self.g2 = nn.Parameter(torch.tensor(1.3, dtype=torch.float64))
        self.b2 = nn.Parameter(torch.randn(3, generator=gen, dtype=torch.float64))

    def forward(self, x):
        w1 = self.g1 * self.v1 / self.v1.norm(dim=1, keepdim=True)
        w2 = self.g2 * self.v2 / self.v2.norm()
        return nn.functional.linear(torch.tanh(nn.functional.linear(x, w1, self.b1)), w2, self.b2)


def weight_normed_like(hand: HandWeightNorm) -> nn.Module:
    """The same function through torch's weight norm: parametrized (dim 0) and the older hook (dim None)."""
    first, second = nn.Linear(4, 5, dtype=torch.float64), nn.Linear(5, 3, dtype=torch.float64)
    first = nn.utils.parametrizations.weight_norm(first)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch deprecates the hook form, which models still use
        second = nn.utils.weight_norm(second, dim=None)
    with torch.no_grad():
        first.parametrizations.weight.original0.copy_(hand.g1)
        first.parametrizations.weight.original1.copy_(hand.v1)
        first.bias.copy_(hand.b1)
        second.weight_g.copy_(hand.g2)
        second.weight_v.copy_(hand.v2)
        second.bias.copy_(hand.b2)
    return nn.Sequential(first, nn.Tanh(), second)


def test_weight_norm_curvature_is_exact_though_torchs_fused_second_derivatives_are_not():
    """torch._weight_norm's fused kernel gives wrong second derivatives (before, λ_max of one weight-normed linear
    layer under cross-entropy read 0.806 for a true 1.252, from finite differences of the gradient; here Hv was off
    by up to 0.08); the instruments compose it from primitives, so H is that of the hand-written function."""
    hand = HandWeightNorm()
    model = weight_normed_like(hand)
    gen = torch.Generator().manual_seed(4)
    x, y = torch.randn(10, 4, generator=gen, dtype=torch.float64), torch.randint(0, 3, (10,), generator=gen)
    loss_fn = nn.CrossEntropyLoss()
    torch.testing.assert_close(model(x), hand(x))
    # the hand model's Hessian in the weight-normed model's parameter order
    order = {
        "0.bias": "b1", "0.parametrizations.weight.original0": "g1", "0.parametrizations.weight.original1": "v1",
        "2.bias": "b2", "2.weight_g": "g2", "2.weight_v": "v2",
    }  # fmt: skip
    names = [name for name, _ in model.named_parameters()]
    assert set(names) == set(order)
    hand_sizes = {name: p.numel() for name, p in hand.named_parameters()}
    starts = dict(zip(hand_sizes, np.cumsum([0, *hand_sizes.values()])[:-1], strict=True))
    index = torch.cat([torch.arange(starts[order[n]], starts[order[n]] + hand_sizes[order[n]]) for n in names])
    g2_size = model[2].weight_g.numel()
    assert g2_size == 1
    hess = exact_hessian(hand, loss_fn, x, y)[index][:, index]
    v = torch.randn(hess.shape[0], generator=gen, dtype=torch.float64)
    for method in ("reverse-over-reverse", "forward-over-reverse"):
        hv = hessian_vector_product(model, loss_fn, (x, y), v, method=method, chunk_size=4)
        torch.testing.assert_close(hv, hess @ v, rtol=1e-9, atol=1e-11)
    top = torch.linalg.eigvalsh(hess)[-1].item()
    assert hessian_eigenvalues(model, loss_fn, (x, y), k=1, tol=1e-10).eigenvalues[0].item() == pytest.approx(top)


class BagOfWords(nn.Module):
    """EmbeddingBag (mean) into a tanh head: torch has no second derivative for embedding_bag."""

    def __init__(self, bag: bool, **gradient_flags: bool):
        super().__init__()
        torch.manual_seed(5)
        self.table = (nn.EmbeddingBag if bag else nn.Embedding)(9, 4, dtype=torch.float64, **gradient_flags)
        self.head = nn.Linear(4, 3, dtype=torch.float64)
        self.bag = bag

    def forward(self, tokens):
        pooled = self.table(tokens) if self.bag else self.table(tokens).mean(1)
        return self.head(torch.tanh(pooled))


def multi_margin_by_hand(scores, y):
    """nn.MultiMarginLoss written out: mean_i Σ_{j≠y_i} max(0, 1 − s_{i,y_i} + s_{i,j}) / classes."""
    margins = (1 - scores.gather(1, y[:, None]) + scores).clamp(min=0)
    return (margins.sum(1) - 1).mean() / scores.shape[1]  # the j = y_i term is max(0, 1) = 1


@pytest.mark.parametrize("case", ["embedding-bag", "multi-margin"])
def test_an_operation_without_a_second_derivative_falls_back_to_finite_differences_with_a_warning(case):
    """Before, both raised torch's NotImplementedError/RuntimeError from inside the Hessian-vector product."""
    gen = torch.Generator().manual_seed(6)
    if case == "embedding-bag":
        model, reference, loss_fn, reference_loss = BagOfWords(True), BagOfWords(False), nn.CrossEntropyLoss(), None
        reference.load_state_dict(model.state_dict())
        x = torch.randint(0, 9, (8, 3), generator=gen)
    else:
        model, loss_fn, reference_loss = tanh_mlp(n=8)[0], nn.MultiMarginLoss(), multi_margin_by_hand
        reference, x = model, torch.randn(8, 5, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (8,), generator=gen)
    hess = exact_hessian(reference, reference_loss or loss_fn, x, y)
    v = torch.randn(hess.shape[0], generator=gen, dtype=torch.float64)
    for method in ("reverse-over-reverse", "forward-over-reverse"):
        with pytest.warns(RuntimeWarning, match="torch has no second derivative .* central differences"):
            hv = hessian_vector_product(model, loss_fn, (x, y), v, method=method)
        torch.testing.assert_close(hv, hess @ v, rtol=1e-6, atol=1e-8)
    with pytest.warns(RuntimeWarning, match="no second derivative"):
        top = hessian_eigenvalues(model, loss_fn, (x, y), k=1, tol=1e-8).eigenvalues[0].item()
    assert top == pytest.approx(torch.linalg.eigvalsh(hess)[-1].item(), rel=1e-5)


@pytest.mark.parametrize("bag", [False, True])
@pytest.mark.parametrize("flags", [{"scale_grad_by_freq": True}, {"sparse": True}])
def test_embedding_gradient_flags_leave_the_hessian_that_of_the_loss(bag, flags):
    """Before: scale_grad_by_freq's backward (the gradient divided by each token's count in the batch) is no
    loss's gradient, so Hv was not symmetric (u·Hv − v·Hu 0.4 against u·Hv ≈ 0.5) and Lanczos gave a wrong λ_max;
    sparse=True crashed in the finite-difference fallback ("reshape is not implemented for sparse tensors")."""
    gen = torch.Generator().manual_seed(6)
    model, reference = BagOfWords(bag, **flags), BagOfWords(False)  # a bag's mean is the embeddings' mean
    reference.load_state_dict(model.state_dict())
    x, y = torch.randint(0, 9, (8, 3), generator=gen), torch.randint(0, 3, (8,), generator=gen)
    hess = exact_hessian(reference, nn.CrossEntropyLoss(), x, y)
    u, v = torch.randn(2, hess.shape[0], generator=gen, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if bag else "error")  # embedding_bag: central differences, with a warning
        hv = hessian_vector_product(model, nn.CrossEntropyLoss(), (x, y), v)
        hu = hessian_vector_product(model, nn.CrossEntropyLoss(), (x, y), u)
        top = hessian_eigenvalues(model, nn.CrossEntropyLoss(), (x, y), k=2, tol=1e-10).eigenvalues
    tolerance = {"rtol": 1e-6, "atol": 1e-8} if bag else {"rtol": 1e-10, "atol": 1e-12}
    torch.testing.assert_close(hv, hess @ v, **tolerance)
    assert float(u @ hv) == pytest.approx(float(v @ hu), rel=tolerance["rtol"])
    torch.testing.assert_close(top, torch.linalg.eigvalsh(hess).flip(0)[:2], **tolerance)
    assert getattr(model.table, next(iter(flags)))  # the module's flag as it was


def test_a_compiled_model_is_measured_through_the_module_it_compiles():
    """torch.compile's graphs have no double backward: before, every curvature instrument raised torch's
    RuntimeError on a compiled model. Same parameters, so the same H; a preconditioner may use either naming."""
    model, loss_fn, x, y = tanh_mlp(n=12)
    compiled = torch.compile(model, backend="aot_eager")  # aot_autograd, as the default backend, without a compiler
    exact = hessian_eigenvalues(model, loss_fn, (x, y), k=2, tol=1e-10).eigenvalues
    torch.testing.assert_close(hessian_eigenvalues(compiled, loss_fn, (x, y), k=2, tol=1e-10).eigenvalues, exact)
    diagonal = {name: torch.full_like(p, 2.0) for name, p in compiled.named_parameters()}
    assert all(name.startswith("_orig_mod.") for name in diagonal)
    halved = hessian_eigenvalues(compiled, loss_fn, (x, y), k=1, tol=1e-10, preconditioner=diagonal).eigenvalues
    torch.testing.assert_close(halved, exact[:1] / 2)


@pytest.mark.parametrize("form", ["model.compile()", "a compiled submodule"])
def test_a_model_compiled_in_place_or_in_part_is_measured_eagerly(form):
    """Before, every Hessian instrument raised torch's "torch.compile with aot_autograd does not currently support
    double backward" on ``model.compile()`` or a submodule replaced by ``torch.compile(submodule)``."""
    model, loss_fn, x, y = tanh_mlp(n=12)
    plain = copy.deepcopy(model)
    if form == "model.compile()":
        model.compile(backend="aot_eager")
    else:
        model[0] = torch.compile(model[0], backend="aot_eager")
    exact = hessian_eigenvalues(plain, loss_fn, (x, y), k=1, tol=1e-10).eigenvalues
    torch.testing.assert_close(hessian_eigenvalues(model, loss_fn, (x, y), k=1, tol=1e-10).eigenvalues, exact)
    torch.testing.assert_close(
        per_example_gradient_norms(model, loss_fn, (x, y)), per_example_gradient_norms(plain, loss_fn, (x, y))
    )


class MixedPrecision(nn.Module):
    """A float32 body under a float64 head (as Hugging Face's ``keep_in_fp32_modules`` keeps some layers wider)."""

    def __init__(self):
        super().__init__()
        self.body, self.head = nn.Linear(3, 4), nn.Linear(4, 3, dtype=torch.float64)

    def forward(self, x):
        return self.head(torch.tanh(self.body(x)).double())


def test_a_model_with_parameters_of_two_dtypes_has_its_curvature_measured():
    """Before, every instrument but the Hessian-vector product raised torch's "dot : expected both vectors to have
    same dtype" (Lanczos and Hutchinson vectors in the first parameter's dtype, H·v in the widest)."""
    torch.manual_seed(3)
    model, loss_fn = MixedPrecision(), nn.CrossEntropyLoss()
    x, y = torch.randn(12, 3), torch.randint(0, 3, (12,))
    hess = exact_hessian(copy.deepcopy(model).double(), loss_fn, x.double(), y)  # the body's float32 values, widened
    spectrum = torch.linalg.eigvalsh(hess)
    top = hessian_eigenvalues(model, loss_fn, (x, y), k=2, tol=1e-6).eigenvalues
    torch.testing.assert_close(top, spectrum.flip(0)[:2], rtol=1e-5, atol=1e-7)
    trace = hessian_trace(model, loss_fn, (x, y), n_samples=3 * hess.shape[0] + 3)
    assert trace.value == pytest.approx(float(hess.trace()), rel=1e-5)
    crit = critical_learning_rate(model, loss_fn, (x, y))
    assert crit.value == pytest.approx(2 / float(spectrum[-1]), rel=1e-4)
    record = NoiseMonitor(model, loss_fn, every=1, curvature_tol=1e-6).step(x, y, lr=0.1)
    assert record.max_eigenvalue == pytest.approx(float(spectrum[-1]), rel=1e-4)
    v = {name: torch.randn_like(p) for name, p in model.named_parameters()}
    hv = hessian_vector_product(model, loss_fn, (x, y), v, method="forward-over-reverse")
    assert [t.dtype for t in hv.values()] == [p.dtype for p in model.parameters()]
    flat_v = torch.cat([t.double().reshape(-1) for t in v.values()])
    torch.testing.assert_close(
        torch.cat([t.double().reshape(-1) for t in hv.values()]), hess @ flat_v, rtol=1e-5, atol=1e-6
    )
