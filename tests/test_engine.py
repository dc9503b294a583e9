import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sgdnoise.engine import (
    Constant,
    Cyclic,
    StepDecay,
    TrainConfig,
    group_configs,
    plan_steps,
    train_group,
)
from sgdnoise.engine.train import _flush_denormal_enabled, momentum_sgd_update_
from sgdnoise.models import MLPSpec, build_model, logistic_regression

F64 = torch.float64
N = 48


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(N, 6, generator=generator, dtype=F64)
    y = (x[:, 0] + 0.5 * torch.randn(N, generator=generator, dtype=F64) > 0).long() + (x[:, 1] > 1).long()
    test_x = torch.randn(20, 6, generator=generator, dtype=F64)
    return x, y, test_x, (test_x[:, 0] > 0).long()


def plain_loop(config: TrainConfig, x, y):
    """Reference: one nn.Module, torch.optim.SGD(momentum, weight_decay), indices from a per-run
    generator (randperm per epoch, consecutive slices, remainder dropped), batch size and lr from the
    schedules at progress step/steps."""
    model = build_model(config.model, config.seed, dtype=F64)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0, momentum=config.momentum, weight_decay=config.l2)
    generator = torch.Generator().manual_seed(config.seed)
    perm, cursor = torch.randperm(N, generator=generator), 0
    for step in range(config.steps):
        p = step / config.steps
        batch = round(config.batch_size(p))
        if cursor + batch > N:
            perm, cursor = torch.randperm(N, generator=generator), 0
        idx = perm[cursor : cursor + batch]
        cursor += batch
        optimizer.param_groups[0]["lr"] = config.learning_rate(p)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def assert_state_close(model, state, atol=1e-10):
    reference = model.state_dict()
    assert set(reference) == set(state)
    for name, value in reference.items():
        torch.testing.assert_close(state[name].to(value.dtype), value, atol=atol, rtol=0)


MLP = MLPSpec(6, (9, 7), 3)


def mixed_group(spec=MLP, batch=8, steps=12):
    return [
        TrainConfig(spec, 0.2, batch, steps=steps, seed=0),
        TrainConfig(spec, StepDecay(0.3), batch, steps=steps, momentum=0.9, seed=1),
        TrainConfig(spec, 0.05, batch, steps=steps, momentum=0.5, l2=0.1, seed=2),
    ]


def shared_momentum_group(spec=MLP, batch=8, steps=12):
    """One momentum for the whole group: the fast path folds A ← m·A + g into the gradient matmul."""
    return [
        TrainConfig(spec, 0.2, batch, steps=steps, momentum=0.9, seed=0),
        TrainConfig(spec, StepDecay(0.3), batch, steps=steps, momentum=0.9, l2=0.1, seed=1),
    ]


@pytest.mark.parametrize("group", [mixed_group, shared_momentum_group])
@pytest.mark.parametrize("path", ["fast", "general"])
def test_group_matches_one_run_at_a_time_plain_loop(data, path, group):
    x, y, _, _ = data
    configs = group()
    results = train_group(configs, x, y, dtype=F64, path=path, return_state=True)
    for config, result in zip(configs, results, strict=True):
        assert result.status == "finished" and result.steps_done == 12
        assert_state_close(plain_loop(config, x, y), result.state_dict)


def test_general_path_equals_fast_path(data):
    x, y, test_x, test_y = data
    configs = mixed_group()
    fast = train_group(configs, x, y, test_x, test_y, dtype=F64, path="fast", return_state=True)
    general = train_group(configs, x, y, test_x, test_y, dtype=F64, path="general", return_state=True)
    for a, b in zip(fast, general, strict=True):
        for name in a.state_dict:
            torch.testing.assert_close(a.state_dict[name], b.state_dict[name], atol=1e-12, rtol=0)
        for row_a, row_b in zip(a.history, b.history, strict=True):
            assert row_a == pytest.approx(row_b, abs=1e-12)


@pytest.mark.parametrize("ghost", [None, 4])
def test_batch_norm_mlp_on_general_path_matches_plain_loop(data, ghost):
    x, y, test_x, test_y = data
    spec = MLPSpec(6, (8,), 3, batch_norm=True, ghost_batch_size=ghost)
    configs = mixed_group(spec, batch=12, steps=10)
    results = train_group(configs, x, y, test_x, test_y, dtype=F64, return_state=True)
    for config, result in zip(configs, results, strict=True):
        model = plain_loop(config, x, y)
        assert_state_close(model, result.state_dict)  # includes the running statistics
        model.eval()
        with torch.no_grad():
            test_loss = F.cross_entropy(model(test_x), test_y).item()
        assert result.final["test_loss"] == pytest.approx(test_loss, abs=1e-10)


def test_metrics_are_full_set_evaluations_at_log_spaced_steps(data):
    x, y, test_x, test_y = data
    spec = logistic_regression(6, 3)
    config = TrainConfig(spec, 0.5, 10, steps=100, seed=3, eval_points=5)
    (result,) = train_group([config], x, y, test_x, test_y, dtype=F64, return_state=True)
    assert [row["step"] for row in result.history] == [0, 1, 3, 10, 32, 100]
    first, last = result.history[0], result.history[-1]
    initial = build_model(spec, 3, dtype=F64)
    trained = build_model(spec, 3, dtype=F64)
    trained.load_state_dict(result.state_dict)
    with torch.no_grad():
        for model, row in ((initial, first), (trained, last)):
            assert row["train_loss"] == pytest.approx(F.cross_entropy(model(x), y).item(), abs=1e-12)
            assert row["test_acc"] == pytest.approx((model(test_x).argmax(1) == test_y).double().mean().item())
    assert last["epoch"] == pytest.approx(100 * 10 / N)
    assert result.final["train_loss"] == last["train_loss"]


def test_momentum_update_is_tensorflow_form_and_matches_closed_form():
    """On C = hω²/2: A ← mA + hω, ω ← ω − εA (Smith & Le App. D eq. 29-30). The state (ω, A) evolves by
    the matrix M = [[1 − εh, −εm], [h, m]], so ω_t is the first entry of M^t (ω₀, 0)."""
    h, lr, m, steps = 2.0, 0.3, 0.8, 40
    params = torch.tensor([[1.0]], dtype=F64)
    velocity = torch.zeros_like(params)
    reference = torch.nn.Parameter(torch.tensor([1.0], dtype=F64))
    optimizer = torch.optim.SGD([reference], lr=lr, momentum=m)
    transfer = np.array([[1 - lr * h, -lr * m], [h, m]])
    for t in range(1, steps + 1):
        grad = h * params.clone()
        momentum_sgd_update_(
            params, grad, velocity, torch.tensor([[-lr]], dtype=F64), torch.tensor([[m]], dtype=F64), None
        )
        optimizer.zero_grad()
        (0.5 * h * reference**2).sum().backward()
        optimizer.step()
        closed = (np.linalg.matrix_power(transfer, t) @ np.array([1.0, 0.0]))[0]
        assert params.item() == pytest.approx(closed, rel=1e-12, abs=1e-14)
        assert reference.item() == pytest.approx(closed, rel=1e-12, abs=1e-14)


def test_l2_gradient_is_lambda_omega():
    params = torch.tensor([[2.0, -1.0]], dtype=F64)
    momentum_sgd_update_(
        params,
        torch.zeros_like(params),
        None,
        torch.tensor([[-0.5]], dtype=F64),
        torch.zeros(1, 1, dtype=F64),
        torch.tensor([[0.1]], dtype=F64),
    )
    torch.testing.assert_close(params, torch.tensor([[2.0 * 0.95, -1.0 * 0.95]], dtype=F64))


def test_divergent_run_is_recorded_and_others_unaffected(data):
    x, y, test_x, test_y = data
    stable = mixed_group(steps=10)
    wild = TrainConfig(MLP, 1e200, 8, steps=10, momentum=0.9, seed=5)
    events = []
    with_wild = train_group(
        [stable[0], wild, *stable[1:]], x, y, test_x, test_y, dtype=F64, return_state=True, progress=events.append
    )
    without = train_group(stable, x, y, test_x, test_y, dtype=F64, return_state=True)
    assert with_wild[1].status == "diverged"
    assert 0 < with_wild[1].diverged_at_step < 10 and with_wild[1].state_dict is None
    assert all(row["step"] < with_wild[1].diverged_at_step for row in with_wild[1].history)
    for a, b in zip([with_wild[0], *with_wild[2:]], without, strict=True):
        assert a.status == "finished"
        for name in a.state_dict:
            torch.testing.assert_close(a.state_dict[name], b.state_dict[name], atol=1e-12, rtol=0)
        assert [r["test_loss"] for r in a.history] == pytest.approx([r["test_loss"] for r in b.history])
    assert events[-1].steps_done == 10 and events[-1].runs_finished == 3 and events[-1].runs_diverged == 1


def test_all_runs_diverging_ends_the_group(data):
    x, y, _, _ = data
    results = train_group([TrainConfig(MLP, 1e200, 8, steps=30, momentum=0.9, seed=s) for s in range(2)], x, y)
    assert [r.status for r in results] == ["diverged", "diverged"]


def test_batch_size_schedule(data):
    x, y, _, _ = data
    batch = Cyclic(4, 16, period=0.25, shape="discrete")
    configs = [TrainConfig(MLP, 0.1, batch, steps=24, momentum=0.9, seed=s) for s in range(2)]
    plan = plan_steps(configs[0], N)
    assert list(plan.batch_sizes) == [4, 4, 4, 16, 16, 16] * 4
    results = train_group(configs, x, y, dtype=F64, return_state=True)
    for config, result in zip(configs, results, strict=True):
        assert_state_close(plain_loop(config, x, y), result.state_dict)


def test_epoch_budget():
    config = TrainConfig(MLP, 0.1, Cyclic(10, 30, 0.5, shape="discrete"), epochs=3)
    plan = plan_steps(config, 100)
    examples = np.cumsum(plan.batch_sizes)
    assert examples[-1] >= 300 > examples[-2]
    assert plan.progress[1] == pytest.approx(10 / 300)
    assert plan.eval_steps[0] == 0 and plan.eval_steps[-1] == plan.total_steps


def test_config_round_trip_and_grouping():
    config = TrainConfig(
        MLPSpec(6, (5,), 3, init="glorot"),
        StepDecay(0.1),
        Constant(30),
        steps=100,
        momentum=0.9,
        l2=1e-3,
        seed=4,
        eval_points=7,
    )
    restored = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config and hash(restored) == hash(config)
    other_batch = TrainConfig(MLPSpec(6, (5,), 3, init="glorot"), 0.1, 10, steps=100)
    groups = group_configs([config, other_batch, restored], max_group_size=1)
    assert [len(g) for g in groups] == [1, 1, 1]
    assert len(group_configs([config, other_batch, restored])) == 2
    with pytest.raises(ValueError, match="share"):
        train_group([config, other_batch], torch.randn(40, 6), torch.zeros(40, dtype=torch.long))


def test_invalid_inputs_give_clear_errors(data):
    x, y, _, _ = data
    with pytest.raises(ValueError, match="exactly one budget"):
        TrainConfig(MLP, 0.1, 8)
    with pytest.raises(ValueError, match="momentum"):
        TrainConfig(MLP, 0.1, 8, steps=5, momentum=1.0)
    config = TrainConfig(MLP, 0.1, 8, steps=5)
    with pytest.raises(ValueError, match="same"):
        train_group([config], x, y[:-1])
    with pytest.raises(TypeError, match="integer"):
        train_group([config], x, y.double())
    with pytest.raises(ValueError, match=r"path=.fast. needs"):
        train_group([TrainConfig(MLPSpec(6, (4,), 3, batch_norm=True), 0.1, 8, steps=2)], x, y, path="fast")


def test_global_state_restored(data):
    x, y, _, _ = data
    threads, flush, rng = torch.get_num_threads(), _flush_denormal_enabled(), torch.get_rng_state()
    train_group([TrainConfig(MLP, 0.1, 8, steps=3)], x, y, num_threads=1)
    assert torch.get_num_threads() == threads
    assert _flush_denormal_enabled() == flush
    assert torch.equal(torch.get_rng_state(), rng)
