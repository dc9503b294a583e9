"""Gradient-noise instruments against per-example loops and closed forms."""

import copy
import itertools
import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
import torch
from architectures import loop_gradients
from torch import nn

from sgdnoise.instruments._mean_loss import checked_loss
from sgdnoise.instruments.gradnoise import (
    gradient_noise,
    gradient_noise_gaussianity,
    minibatch_gradient_noise,
    per_example_gradient_chunks,
    per_example_gradient_norms,
    per_example_gradients,
)
from sgdnoise.models.norm import GhostBatchNorm1d


def tanh_mlp(seed: int = 0, n: int = 40):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 12), nn.Tanh(), nn.Linear(12, 3)).double()
    x = torch.randn(n, 5, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (n,), generator=gen)
    return model, nn.CrossEntropyLoss(), x, y


def linear_regression(n: int = 12, d: int = 4, seed: int = 1):
    """ℓ_i(w) = (w·x_i − y_i)²: g_i = 2(w·x_i − y_i) x_i in closed form."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randn(n, 1, generator=gen, dtype=torch.float64)
    torch.manual_seed(seed)
    model = nn.Linear(d, 1, bias=False, dtype=torch.float64)
    w = model.weight.detach()[0]
    per_example = 2 * (x @ w - y[:, 0])[:, None] * x
    return model, nn.MSELoss(), x, y, per_example


def test_per_example_gradients_match_a_loop():
    model, loss_fn, x, y = tanh_mlp()
    expected = loop_gradients(model, loss_fn, x, y)
    before = [p.clone() for p in model.parameters()]
    for chunk_size in (None, 1, 7):
        torch.testing.assert_close(per_example_gradients(model, loss_fn, (x, y), chunk_size=chunk_size), expected)
    batches = [(x[:11], y[:11]), (x[11:], y[11:])]
    torch.testing.assert_close(per_example_gradients(model, loss_fn, batches), expected)
    chunks = list(per_example_gradient_chunks(model, loss_fn, (x, y), chunk_size=16))
    assert [c.shape[0] for c in chunks] == [16, 16, 8]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert all(p.grad is None for p in model.parameters())


def test_gradient_noise_matches_closed_form_linear_regression():
    model, loss_fn, x, y, g = linear_regression()
    n, batch = g.shape[0], 3
    mean = g.mean(0)
    cov_trace = ((g - mean) ** 2).sum().item() / (n - 1)
    for data, chunk_size in [((x, y), None), ((x, y), 5), ([(x[:4], y[:4]), (x[4:], y[4:])], None)]:
        noise = gradient_noise(model, loss_fn, data, batch, chunk_size=chunk_size)
        assert noise.n_examples == n and noise.batch_size == batch
        assert noise.mean_grad_sq_norm == pytest.approx(mean.square().sum().item(), rel=1e-12)
        assert noise.covariance_trace == pytest.approx(cov_trace, rel=1e-12)
        assert noise.noise_scale_simple == pytest.approx(cov_trace / mean.square().sum().item(), rel=1e-12)
        assert noise.temperature is None and noise.noise_scale is None


def test_minibatch_noise_trace_is_the_variance_of_minibatch_means_without_replacement():
    # enumerate every minibatch of B = 2 out of N = 6 examples: the exact covariance of the minibatch mean
    model, loss_fn, x, y, g = linear_regression(n=6, d=3, seed=2)
    means = torch.stack([g[list(subset)].mean(0) for subset in itertools.combinations(range(6), 2)])
    exact = ((means - g.mean(0)) ** 2).sum(1).mean().item()
    noise = gradient_noise(model, loss_fn, (x, y), 2)
    assert noise.minibatch_noise_trace == pytest.approx(exact, rel=1e-12)
    assert gradient_noise(model, loss_fn, (x, y), 6).minibatch_noise_trace == pytest.approx(0.0, abs=1e-15)


def test_temperature_and_noise_scale_with_momentum():
    model, loss_fn, x, y, _ = linear_regression(n=40)
    noise = gradient_noise(model, loss_fn, (x, y), 8, lr=0.2, momentum=0.9)
    assert noise.temperature == pytest.approx(0.2 / (8 * 0.1))
    assert noise.noise_scale == pytest.approx(0.2 * (40 / 8 - 1) / 0.1)
    assert noise.lr == 0.2 and noise.momentum == 0.9


def test_gaussianity_of_single_examples_vs_minibatch_means():
    model, loss_fn, x, y = tanh_mlp(seed=3, n=400)
    result = gradient_noise_gaussianity(model, loss_fn, (x, y), batch_size=30, n_minibatches=3000, seed=1)
    column = loop_gradients(model, loss_fn, x, y)[:, result.parameter_index].numpy()
    np.testing.assert_allclose(result.single_example_gradients, column, rtol=1e-12, atol=1e-15)
    assert result.parameter_name.startswith("2.weight[")  # an element of the output-layer matrix
    assert result.single.skewness == pytest.approx(scipy.stats.skew(column, bias=False))
    assert result.single.normal_pvalue == pytest.approx(scipy.stats.normaltest(column).pvalue)
    # a minibatch mean of 30 without replacement has std σ·sqrt(1/B − 1/N) (3000 draws: ~1.3% sampling error)
    assert result.minibatch.std == pytest.approx(result.predicted_minibatch_std, rel=0.05)
    assert result.minibatch.mean == pytest.approx(column.mean(), abs=4 * result.predicted_minibatch_std / 50)
    # averaging drives the distribution towards the Gaussian (Smith & Le App. C)
    assert result.single.normal_pvalue < 1e-3
    assert abs(result.minibatch.skewness) < abs(result.single.skewness) / 3
    assert result.minibatch.normal_statistic < result.single.normal_statistic
    chosen = gradient_noise_gaussianity(model, loss_fn, (x, y), batch_size=30, parameter_index=0, n_minibatches=50)
    assert chosen.parameter_name == "0.weight[0, 0]" and chosen.minibatch_gradients.shape == (50,)


def test_integer_inputs_give_gradients_in_the_parameters_dtype():
    # token ids are int64: the per-example buffers must follow the parameters (float64), not the input
    torch.manual_seed(5)
    model = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(12, 2)).double()
    x, y = torch.randint(0, 10, (30, 3)), torch.randint(0, 2, (30,))
    loss_fn = nn.CrossEntropyLoss()
    expected = loop_gradients(model, loss_fn, x, y)
    chunks = list(per_example_gradient_chunks(model, loss_fn, (x, y), chunk_size=8))
    torch.testing.assert_close(torch.cat(chunks), expected, rtol=1e-12, atol=1e-14)
    batches = [(x[:11], y[:11]), (x[11:], y[11:])]
    torch.testing.assert_close(per_example_gradients(model, loss_fn, batches), expected, rtol=1e-12, atol=1e-14)
    result = gradient_noise_gaussianity(model, loss_fn, (x, y), batch_size=5, parameter_index=3, n_minibatches=50)
    np.testing.assert_allclose(result.single_example_gradients, expected[:, 3].numpy(), rtol=1e-12, atol=1e-14)


def test_batch_norm_needs_eval_mode_and_is_left_unchanged():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 2)).double()
    x = torch.randn(30, 4, dtype=torch.float64)
    y = torch.randint(0, 2, (30,))
    model(x)
    buffers = [b.clone() for b in model.buffers()]
    with pytest.raises(ValueError, match="train_mode=False"):
        gradient_noise(model, nn.CrossEntropyLoss(), (x, y), 5)
    noise = gradient_noise(model, nn.CrossEntropyLoss(), (x, y), 5, train_mode=False)
    assert math.isfinite(noise.covariance_trace) and noise.covariance_trace > 0
    model.eval()
    expected = loop_gradients(model, nn.CrossEntropyLoss(), x, y)
    model.train()
    torch.testing.assert_close(per_example_gradients(model, nn.CrossEntropyLoss(), (x, y), train_mode=False), expected)
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(a, b) for a, b in zip(buffers, model.buffers(), strict=True))


def test_invalid_arguments():
    model, loss_fn, x, y = tanh_mlp()
    with pytest.raises(ValueError, match="exceeds the number of examples"):
        gradient_noise(model, loss_fn, (x, y), 41)
    with pytest.raises(ValueError, match="batch_size"):
        gradient_noise(model, loss_fn, (x, y), 0)
    with pytest.raises(ValueError, match="momentum"):
        gradient_noise(model, loss_fn, (x, y), 4, lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match=r"^lr must be a finite number > 0, got 0"):  # before: theory's own error
        gradient_noise(model, loss_fn, (x, y), 4, lr=0.0)
    for momentum in (1.5, -0.1, 1.0):  # without lr too: the result would record an impossible momentum
        with pytest.raises(ValueError, match=rf"^momentum must be a number in \[0, 1\), got {momentum}"):
            gradient_noise(model, loss_fn, (x, y), 4, momentum=momentum)
    for train_size in (-5, 0, 2.5):
        with pytest.raises(ValueError, match=rf"^train_size must be a positive integer or None, got {train_size}"):
            minibatch_gradient_noise(model, loss_fn, x[:2], y[:2], train_size=train_size)
    # one example without its batch dimension: one line saying so, from every entry point
    single = r"x and y need a leading batch dimension .*got x of shape \(5,\) and y of shape \(\)"
    with pytest.raises(ValueError, match=single):
        gradient_noise(model, loss_fn, (x[0], y[0]), 1)
    with pytest.raises(ValueError, match=single):
        per_example_gradients(model, loss_fn, [(x[0], y[0])])
    with pytest.raises(ValueError, match=single):
        minibatch_gradient_noise(model, loss_fn, x[0], y[0])
    with pytest.raises(ValueError, match="parameter_index"):
        gradient_noise_gaussianity(model, loss_fn, (x, y), parameter_index=10_000)
    with pytest.raises(TypeError, match="pair of tensors"):
        per_example_gradients(model, loss_fn, x)


def test_non_finite_data_or_parameters_are_one_clear_error_not_a_wrong_number():
    model, loss_fn, x, y = tanh_mlp(n=30)
    instruments = [
        lambda data: gradient_noise(model, loss_fn, data, 4),
        lambda data: minibatch_gradient_noise(model, loss_fn, *data),
        lambda data: per_example_gradient_norms(model, loss_fn, data),
        lambda data: per_example_gradients(model, loss_fn, data),
        lambda data: gradient_noise_gaussianity(model, loss_fn, data, batch_size=4, n_minibatches=20),
    ]
    x_nan, x_inf = x.clone(), x.clone()
    x_nan[3, 2], x_inf[0, 0] = math.nan, math.inf  # inf in x gave B_simple = inf, NaN blamed the loss
    for bad in (x_nan, x_inf):
        for call in instruments:
            with pytest.raises(ValueError, match=r"^data holds NaN or inf in x"):
                call((bad, y))
    with pytest.raises(ValueError, match=r"^data \(batch 0\) holds NaN or inf in y"):
        gradient_noise(model, nn.MSELoss(), [(x, torch.full((30, 3), math.nan, dtype=torch.float64))], 4)
    with torch.no_grad():
        model[0].weight[0, 0] = math.nan
    for call in instruments:
        with pytest.raises(ValueError, match=r"the loss is not finite \(nan\) at the model's parameters"):
            call((x, y))


PEAK_SCRIPT = """
import resource, torch
from torch import nn
from sgdnoise.instruments import gradient_noise

class Bare(nn.Module):  # weights held by the model itself: per-example gradients are formed (per-call vmap)
    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(1500, 1000) / 40)
        self.w2 = nn.Parameter(torch.randn(10, 1500) / 40)

    def forward(self, x):
        return torch.tanh(x @ self.w1.T) @ self.w2.T

torch.manual_seed(0)
torch.set_num_threads(1)
model, x, y = Bare(), torch.randn(64, 1000), torch.randint(0, 10, (64,))
gradient_noise(model, nn.CrossEntropyLoss(), (x[:2], y[:2]), 1)  # imports and first allocations
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = gradient_noise(model, nn.CrossEntropyLoss(), (x, y), 32, memory_budget=2**24)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024, result.noise_scale_simple)
"""


def test_peak_memory_of_the_noise_scale_stays_far_below_the_gradient_matrix():
    # 1.5 M parameters × 64 examples: the [N, P] matrix would be 388 MB; formed gradients are held in blocks
    # under a 16 MiB budget (2 examples), so the peak grows by a few times that at most
    completed = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT], capture_output=True, text=True, check=True, timeout=300
    )
    growth, b_simple = (float(v) for v in completed.stdout.split())
    assert growth < 0.25 * 64 * 1_515_000 * 4
    assert math.isfinite(b_simple) and b_simple > 0


class MaxNormBag(nn.Module):
    """Mean of token embeddings whose rows ``nn.Embedding(max_norm=1)`` renormalises in place in forward."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(9, 4, max_norm=1.0)
        self.out = nn.Linear(4, 3)

    def forward(self, tokens):
        return self.out(self.embedding(tokens).mean(1))


@pytest.mark.filterwarnings("ignore:There is a performance drop", "ignore:per-example gradients one example")
def test_an_embedding_with_max_norm_is_left_as_it_was_found():
    torch.manual_seed(0)
    model = MaxNormBag().double()
    x, y = torch.randint(0, 9, (10, 3)), torch.randint(0, 3, (10,))
    loss_fn = nn.CrossEntropyLoss()
    before = [p.clone() for p in model.parameters()]
    renormalised = copy.deepcopy(model)
    expected = loop_gradients(renormalised, loss_fn, x, y)  # at the weights the forward pass renormalises
    assert not torch.equal(renormalised.embedding.weight, before[0])
    trace = (expected - expected.mean(0)).square().sum() / 9
    cases = [
        (lambda: per_example_gradients(model, loss_fn, (x, y)), expected),
        (lambda: per_example_gradient_norms(model, loss_fn, (x, y), squared=True), expected.square().sum(1)),
        (lambda: gradient_noise(model, loss_fn, (x, y), 2).covariance_trace, trace),
        (lambda: minibatch_gradient_noise(model, loss_fn, x, y).covariance_trace, trace),
    ]
    for call, result in cases:
        torch.testing.assert_close(torch.as_tensor(call(), dtype=torch.float64), result)
        assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_buffers_a_failed_pass_wrote_are_restored():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), GhostBatchNorm1d(3), nn.Linear(3, 2)).double()
    buffers = [b.clone() for b in model.buffers()]
    x, y = torch.randn(8, 4, dtype=torch.float64), torch.randint(0, 2, (8,))
    with pytest.raises(ValueError, match="batch norm"):  # train mode couples the examples
        gradient_noise(model, nn.CrossEntropyLoss(), (x, y), 2)
    assert all(torch.equal(a, b) for a, b in zip(buffers, model.buffers(), strict=True))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_mean_loss_in_half_precision_is_accepted_and_a_summed_one_refused(dtype):
    model, loss_fn, x, y = tanh_mlp(n=40)
    reference = gradient_noise(model, loss_fn, (x, y), 4)
    assert gradient_noise(model.to(dtype), loss_fn, (x, y), 4).covariance_trace == pytest.approx(
        reference.covariance_trace, rel=0.1
    )
    summed = nn.CrossEntropyLoss(reduction="sum")
    with pytest.raises(ValueError, match="loss_fn must be the MEAN"):
        gradient_noise(model, summed, (x, y), 4)
    gen = torch.Generator().manual_seed(0)
    for n in range(2, 130):  # rounding separates a batch's mean from its halves' by a few eps; a sum by ≥ 1/3
        outputs = (3 * torch.randn(n, 5, generator=gen)).to(dtype)
        targets = torch.randint(0, 5, (n,), generator=gen)
        checked_loss(loss_fn, outputs, targets)
        with pytest.raises(ValueError, match="loss_fn must be the MEAN"):
            checked_loss(summed, outputs, targets)


def test_a_learning_rate_that_is_not_a_number_is_refused():
    """Before, lr='0.1' was accepted and stored as the string in the result."""
    model = nn.Linear(3, 2)
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    for lr in ("0.1", True, -0.1):
        with pytest.raises(ValueError, match="lr must be a finite number > 0"):
            gradient_noise(model, nn.CrossEntropyLoss(), (x, y), 4, lr=lr)


def test_every_instrument_refuses_to_measure_inside_parametrize_cached():
    """Inside ``parametrize.cached()`` the parametrized weight is computed once and reused: before, per-example
    gradients of an orthogonal layer were silently wrong (they did not even average to the batch gradient),
    method="vmap" raised torch's "cat(): functions with out=..." and λ_max read 0.54 for 0.61."""
    from torch.nn.utils import parametrize
    from torch.nn.utils.parametrizations import orthogonal

    from sgdnoise.instruments import hessian_eigenvalues

    model, loss_fn, x, y = tanh_mlp(n=8)
    orthogonal(model[0])
    instruments = [
        lambda: per_example_gradients(model, loss_fn, (x, y)),
        lambda: per_example_gradients(model, loss_fn, (x, y), method="vmap"),
        lambda: per_example_gradient_norms(model, loss_fn, [(x, y)]),
        lambda: minibatch_gradient_noise(model, loss_fn, x, y),
        lambda: hessian_eigenvalues(model, loss_fn, (x, y), k=1),
    ]
    with parametrize.cached():
        for instrument in instruments:
            with pytest.raises(ValueError, match=r"parametrize\.cached\(\).*measure outside"):
                instrument()
    expected = loop_gradients(model, loss_fn, x, y)
    torch.testing.assert_close(per_example_gradients(model, loss_fn, (x, y)), expected)


def test_every_instrument_refuses_a_model_on_the_meta_device():
    """Before: torch's "Tensor.item() cannot be called on meta tensors" or "Device 'meta' does not have a
    corresponding module registered as 'torch.meta'"."""
    from sgdnoise.instruments import hessian_eigenvalues, interpolate

    model, loss_fn, x, y = tanh_mlp(n=8)
    with torch.device("meta"):
        unloaded = nn.Sequential(nn.Linear(5, 12), nn.Tanh(), nn.Linear(12, 3)).double()
    instruments = [
        lambda: per_example_gradients(unloaded, loss_fn, (x, y)),
        lambda: gradient_noise(unloaded, loss_fn, (x, y), 4),
        lambda: hessian_eigenvalues(unloaded, loss_fn, (x, y), k=1),
        lambda: interpolate(model, model, unloaded, loss_fn, (x, y), alphas=[0.0]),  # model: the third
    ]
    for instrument in instruments:
        with pytest.raises(ValueError, match=r"^the model's parameters are on the meta device \(not materialised"):
            instrument()
    unloaded.to_empty(device="cpu").load_state_dict(model.state_dict())
    torch.testing.assert_close(per_example_gradients(unloaded, loss_fn, (x, y)), loop_gradients(model, loss_fn, x, y))


def test_an_x_of_several_tensors_is_refused_with_what_to_do():
    """Before, ((u, v), y) read as an iterable of two batches, (u, v) and y: torch's "mat1 and mat2 shapes cannot
    be multiplied" or "too many values to unpack"; in a list of batches, "each batch must be a pair of tensors"."""
    from sgdnoise.instruments import hessian_eigenvalues

    model, loss_fn, x, y = tanh_mlp(n=8)
    u, v = x[:, :3], x[:, 3:]
    for data, where in [(((u, v), y), "data's"), (([u, v], y), "data's"), ([((u, v), y)], r"data \(batch 0\)'s")]:
        for instrument in (per_example_gradient_norms, per_example_gradients):
            with pytest.raises(TypeError, match=rf"^{where} x is a (tuple|list) of 2 tensors: .* one tensor"):
                instrument(model, loss_fn, data)
        with pytest.raises(TypeError, match=rf"^{where} x is a (tuple|list) of 2 tensors"):
            hessian_eigenvalues(model, loss_fn, data, k=1)
    with pytest.raises(TypeError, match=r"^data \(batch 0\)'s x is a dict \(of u\)"):
        per_example_gradient_norms(model, loss_fn, [({"u": u}, y)])
