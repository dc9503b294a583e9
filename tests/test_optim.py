"""SGLD against the closed-form posterior of Bayesian linear regression; batch-size schedules against their
closed forms, and a DataLoader resumed from a checkpoint yields the same batches."""

import math

import pytest
import torch

from sgdnoise import theory
from sgdnoise.optim import SGLD, CyclicBatchSize, IncreaseBatchSize, ScheduledBatchSampler


def bayesian_linear_regression(n: int = 50, noise: float = 0.5, prior_precision: float = 2.0):
    """C(w) = Σ (y_i − x_i·w)²/(2σ²) + α|w|²/2: posterior N(μ, A⁻¹), A = XᵀX/σ² + αI, μ = A⁻¹Xᵀy/σ²."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    y = x @ torch.tensor([1.0, -0.5], dtype=torch.float64) + noise * torch.randn(n, generator=gen, dtype=torch.float64)
    precision = x.T @ x / noise**2 + prior_precision * torch.eye(2, dtype=torch.float64)
    mean = torch.linalg.solve(precision, x.T @ y / noise**2)

    def mean_cost(w: torch.Tensor) -> torch.Tensor:  # C/N for each of the chains (rows of w), summed over chains
        return (((y - w @ x.T) ** 2).sum(1) / (2 * noise**2) + prior_precision * (w**2).sum(1) / 2).sum() / n

    return mean_cost, precision, mean


def sample(lr: float, temperature: float = 1.0, chains: int = 4000, steps: int = 300):
    mean_cost, precision, mean = bayesian_linear_regression()
    w = torch.zeros(chains, 2, dtype=torch.float64, requires_grad=True)
    optimizer = SGLD([w], lr=lr, train_size=50, temperature=temperature, generator=torch.Generator().manual_seed(1))
    for _ in range(steps):
        optimizer.zero_grad()
        mean_cost(w).backward()
        optimizer.step()
    return w.detach(), precision, mean


def stationary_covariance(precision: torch.Tensor, lr: float, n: int, temperature: float) -> torch.Tensor:
    """Exact stationary covariance of eq. 17 on a quadratic: per eigenvalue λ of A, T/(λ(1 − hλ/2)), h = ε/N."""
    lam, vectors = torch.linalg.eigh(precision)
    h = lr / n
    return vectors @ torch.diag(temperature / (lam * (1 - h * lam / 2))) @ vectors.T


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_sgld_moments_match_the_discretised_posterior(temperature):
    lr = 0.3
    w, precision, mean = sample(lr, temperature)
    expected = stationary_covariance(precision, lr, 50, temperature)
    chains = w.shape[0]
    sd = expected.diagonal().sqrt()
    assert torch.all((w.mean(0) - mean).abs() < 4 * sd / math.sqrt(chains))  # 4 standard errors
    covariance = torch.cov(w.T)
    # sample covariance of 4000 Gaussian draws: relative s.e. of a variance sqrt(2/4000) = 2.2%
    torch.testing.assert_close(covariance.diagonal(), expected.diagonal(), rtol=0.1, atol=0)
    correlation = covariance[0, 1] / covariance.diagonal().prod().sqrt()
    assert correlation.item() == pytest.approx((expected[0, 1] / expected.diagonal().prod().sqrt()).item(), abs=0.05)


def test_sgld_discretisation_error_falls_with_the_step():
    _, precision, _ = bayesian_linear_regression()
    posterior = torch.linalg.inv(precision)
    errors = [
        (stationary_covariance(precision, lr, 50, 1.0) - posterior).norm() / posterior.norm() for lr in (0.3, 0.03)
    ]
    assert errors[1] < errors[0] / 9  # the bias is O(ε): 10× smaller step, > 9× smaller error
    # at ε = 0.01 the bias hλ/2 is ~2%: the samples' variances are the posterior's within ~2 + 3×2.2% (s.e.)
    w, _, _ = sample(lr=0.01, steps=1500)
    torch.testing.assert_close(torch.cov(w.T).diagonal(), posterior.diagonal(), rtol=0.1, atol=0)


def test_cyclic_batch_size_keeps_the_temperature_or_noise_scale():
    params = [torch.zeros(1, requires_grad=True)]
    for keep in ("temperature", "noise_scale"):
        optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9)
        sampler = ScheduledBatchSampler(1000, 16)
        scheduler = CyclicBatchSize(sampler, low=16, high=256, period=8, optimizer=optimizer, keep=keep)
        sizes, values = [], []
        for _ in range(9):
            sizes.append(scheduler.get_last_bs())
            lr = scheduler.get_last_lr()[0]
            rule = (
                theory.temperature(lr, sizes[-1], 0.9)
                if keep == "temperature"
                else theory.noise_scale(lr, sizes[-1], 1000, 0.9)
            )
            values.append(rule)
            scheduler.step()
        assert sizes == [16, 32, 64, 128, 256, 128, 64, 32, 16]
        assert values == pytest.approx([values[0]] * 9, rel=1e-12)


def test_increasing_the_batch_size_follows_the_decayed_temperature():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.4, momentum=0.5)
    sampler = ScheduledBatchSampler(1000, 50)
    scheduler = IncreaseBatchSize(sampler, milestones=[2, 4, 6], factor=5, optimizer=optimizer)
    seen = []
    for count in range(8):
        decayed_lr = 0.4 / 5 ** sum(count >= m for m in (2, 4, 6))
        lr, batch = scheduler.get_last_lr()[0], scheduler.get_last_bs()
        assert theory.temperature(lr, batch, 0.5) == pytest.approx(theory.temperature(decayed_lr, 50, 0.5), rel=1e-12)
        seen.append((batch, lr))
        scheduler.step()
    assert [b for b, _ in seen] == [50, 50, 250, 250, 1000, 1000, 1000, 1000]  # capped at N
    assert seen[-1][1] == pytest.approx(0.4 * 1000 / (50 * 125))


def run(loader, scheduler, batches: int) -> list[list[int]]:
    out = []
    for (xb,) in loader:
        out.append(xb.tolist())
        scheduler.step()
        if len(out) == batches:
            break
    return out


def make(n: int = 40):
    sampler = ScheduledBatchSampler(n, 3, seed=7)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(n)), batch_sampler=sampler)
    return sampler, CyclicBatchSize(sampler, low=3, high=12, period=4), loader


def test_a_resumed_loader_yields_the_same_batches():
    sampler, scheduler, loader = make()
    straight = run(loader, scheduler, 12) + run(loader, scheduler, 20)  # crosses epoch boundaries
    sampler, scheduler, loader = make()
    first = run(loader, scheduler, 7)  # stop mid-epoch, checkpoint
    state = {"sampler": sampler.state_dict(), "scheduler": scheduler.state_dict()}
    sampler, scheduler, loader = make()
    sampler.load_state_dict(state["sampler"])
    scheduler.load_state_dict(state["scheduler"])
    resumed = first + run(loader, scheduler, 5) + run(loader, scheduler, 20)
    assert resumed == straight
    epoch = [i for batch in straight[:5] for i in batch]  # sizes 3, 6, 12, 6, 3 … one epoch visits each once
    assert len(set(epoch)) == len(epoch)


def test_a_schedule_beyond_n_fails_at_construction_not_mid_training():
    """CyclicBatchSize(high > N) and IncreaseBatchSize(max_batch_size > N) were accepted, then failed in step()."""
    with pytest.raises(ValueError, match="high=256 exceeds the sampler's training-set size N=100"):
        CyclicBatchSize(ScheduledBatchSampler(100, 16), low=16, high=256, period=4)
    with pytest.raises(
        ValueError, match=r"max_batch_size must lie in \[the sampler's batch size 10, N=100\], got 1000"
    ):
        IncreaseBatchSize(ScheduledBatchSampler(100, 10), [1, 2], 2.0, max_batch_size=1000)
    with pytest.raises(ValueError, match=r"max_batch_size must lie in \[the sampler's batch size 10, N=100\], got 5"):
        IncreaseBatchSize(ScheduledBatchSampler(100, 10), [1, 2], 2.0, max_batch_size=5)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="keep='noise_scale' needs high < N=100: at B = N the noise scale"):
        CyclicBatchSize(ScheduledBatchSampler(100, 10), 10, 100, period=4, optimizer=optimizer, keep="noise_scale")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"lr": math.nan}, "lr must be a finite number > 0, got nan"),
        ({"lr": math.inf}, "lr must be a finite number > 0, got inf"),
        ({"lr": 0.1, "temperature": math.nan}, "temperature must be a finite number >= 0, got nan"),
        ({"lr": 0.1, "temperature": -1.0}, "temperature must be a finite number >= 0, got -1.0"),
    ],
)
def test_sgld_refuses_non_finite_settings(arguments, message):
    with pytest.raises(ValueError, match=message):
        SGLD([torch.zeros(1, requires_grad=True)], train_size=10, **arguments)


def test_numpy_scalars_are_numbers():
    """np.float32(0.1) as SGLD's lr and np.int64(10) as a batch size were refused."""
    import numpy as np

    optimizer = SGLD([torch.zeros(1, requires_grad=True)], lr=np.float32(0.5), train_size=np.int64(10))
    assert optimizer.defaults["lr"] == 0.5 and type(optimizer.defaults["lr"]) is float
    sampler = ScheduledBatchSampler(np.int64(100), np.int64(10))
    assert sampler.batch_size == 10 and type(sampler.batch_size) is int and len(list(sampler)) == 10
    scheduler = CyclicBatchSize(sampler, np.int64(10), np.int64(40), np.int64(4))
    assert [scheduler.get_last_bs(), scheduler.step(), scheduler.get_last_bs()] == [10, None, 20]


def test_invalid_arguments():
    with pytest.raises(ValueError, match="train_size"):
        SGLD([torch.zeros(1, requires_grad=True)], lr=0.1, train_size=0)
    with pytest.raises(ValueError, match="needs the optimizer"):
        CyclicBatchSize(ScheduledBatchSampler(100, 4), 4, 8, 4, keep="temperature")
    with pytest.raises(ValueError, match="exceeds the training-set size"):
        ScheduledBatchSampler(10, 11)


def test_batch_size_schedules_compose_with_torchs_chainable_schedulers():
    """A StepLR decay or a LinearLR warm-up changes ε between steps: the schedule keeps that as a factor
    (before: it set ε from its own rule every step and erased them)."""
    p = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    sampler = ScheduledBatchSampler(1000, 32)
    cyclic = CyclicBatchSize(sampler, 32, 128, 4, optimizer=optimizer, keep="temperature")
    decay = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.1)
    for step in range(1, 6):
        optimizer.step()
        decay.step()
        cyclic.step()
        kept = 0.1 * sampler.batch_size / 32  # T kept: ε ∝ B
        assert optimizer.param_groups[0]["lr"] == pytest.approx(kept * 0.1 ** (step // 2), rel=1e-12), step
    optimizer = torch.optim.SGD([p], lr=0.1)
    warm_up = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.25, total_iters=4)
    increase = IncreaseBatchSize(ScheduledBatchSampler(1000, 32), [100], 2.0, optimizer=optimizer)
    for step in range(1, 6):
        optimizer.step()
        warm_up.step()
        increase.step()
        assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * min(1.0, 0.25 + 0.1875 * step), rel=1e-12)


def test_a_parameter_group_at_lr_zero_stays_there():
    """A frozen body in a group at ε = 0 (before: 'learning rate must be > 0' from every schedule's constructor)."""
    body, head = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([{"params": [body], "lr": 0.0}, {"params": [head]}], lr=0.1, momentum=0.9)
    sampler = ScheduledBatchSampler(1000, 32)
    cyclic = CyclicBatchSize(sampler, 32, 128, 4, optimizer=optimizer, keep="temperature")
    cyclic.step()
    assert sampler.batch_size == 64 and cyclic.get_last_lr() == [0.0, pytest.approx(0.2, rel=1e-12)]


def test_sgld_checks_each_parameter_groups_own_settings():
    """Before: a group's lr = -1 was accepted and step() raised 'math domain error'; train_size = 0 a
    ZeroDivisionError."""
    p = torch.nn.Parameter(torch.zeros(2))
    for group, message in [({"lr": -1.0}, "lr must be"), ({"train_size": 0}, "train_size must be")]:
        with pytest.raises(ValueError, match=message):
            SGLD([{"params": [p], **group}], lr=0.1, train_size=10)


def test_a_schedule_names_a_sampler_or_optimizer_of_the_wrong_kind():
    sampler = ScheduledBatchSampler(100, 10)
    with pytest.raises(TypeError, match=r"optimizer must be a torch\.optim\.Optimizer, got str"):
        CyclicBatchSize(sampler, 10, 20, 4, optimizer="sgd")
    plain = torch.utils.data.BatchSampler(range(100), 10, drop_last=False)
    with pytest.raises(TypeError, match=r"sampler must be a sgdnoise\.optim\.ScheduledBatchSampler"):
        CyclicBatchSize(plain, 10, 20, 4)
    adam = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(TypeError, match=r"keep='temperature' holds an SGD quantity .* got Adam"):
        CyclicBatchSize(sampler, 10, 20, 4, optimizer=adam, keep="temperature")
    for seed, error in [
        (None, r"seed must be an integer in \[0, 2\*\*32\), got None"),
        (2**62, r"seed must be an integer in \[0, 2\*\*32\), got 4611686018427387904"),
    ]:
        with pytest.raises(ValueError, match=error):
            ScheduledBatchSampler(100, 10, seed=seed)


def test_a_learning_rate_taken_to_zero_and_back_recovers():
    """A warm-up from 0 or a group frozen and unfrozen by hand (before: the factor became 0 for good)."""
    p = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([p], lr=0.1)
    increase = IncreaseBatchSize(ScheduledBatchSampler(100, 10), [50], 2.0, optimizer=optimizer)
    used = []
    for step in range(6):
        if step < 3:
            optimizer.param_groups[0]["lr"] = 0.1 * step / 3  # 0, 0.033, 0.067
        used.append(optimizer.param_groups[0]["lr"])
        increase.step()
    optimizer.param_groups[0]["lr"] = 0.1  # the warm-up ends
    increase.step()
    assert used[:3] == pytest.approx([0.0, 0.1 / 3, 0.2 / 3]) and optimizer.param_groups[0]["lr"] == pytest.approx(0.1)


def test_resuming_keeps_a_decay_stepped_after_the_schedule_and_reads_an_earlier_versions_state():
    p = torch.nn.Parameter(torch.zeros(2))

    def build():
        optimizer = torch.optim.SGD([p], lr=0.1, momentum=0.9)
        sampler = ScheduledBatchSampler(1000, 32)
        schedule = CyclicBatchSize(sampler, 32, 128, 4, optimizer=optimizer, keep="temperature")
        return optimizer, sampler, schedule, torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)

    optimizer, _, schedule, decay = build()
    for _ in range(2):
        optimizer.step()
        schedule.step()
        decay.step()  # after the schedule, just before the checkpoint
    saved = [optimizer.state_dict(), schedule.state_dict(), decay.state_dict()]
    optimizer.step()
    schedule.step()
    straight = optimizer.param_groups[0]["lr"]
    for optimizer_first in (True, False):
        optimizer, _, schedule, decay = build()
        parts = [(optimizer, saved[0]), (schedule, saved[1])]
        for part, state in parts if optimizer_first else parts[::-1]:
            part.load_state_dict(state)
        decay.load_state_dict(saved[2])
        optimizer.step()
        schedule.step()
        assert optimizer.param_groups[0]["lr"] == pytest.approx(straight, rel=1e-12), optimizer_first
    # a state saved before composition existed: ε set again from the schedule, and keep=None references ignored
    optimizer = torch.optim.SGD([p], lr=0.1)
    increase = IncreaseBatchSize(ScheduledBatchSampler(100, 10), [2], 2.0, optimizer=optimizer)
    old = {"last_epoch": 3, "base_lrs": [0.1], "references": [vars(theory.SGDConfig(0.1, 10, 100, 0.0))]}
    increase.load_state_dict(old)
    assert increase.get_last_bs() == 20 and optimizer.param_groups[0]["lr"] == pytest.approx(0.1)


def test_milestones_may_be_any_iterable_of_integers():
    import numpy as np

    increase = IncreaseBatchSize(ScheduledBatchSampler(100, 10), np.array([2, 4]), 2.0)
    assert increase.milestones == [2, 4]
