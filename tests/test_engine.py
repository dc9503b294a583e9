import json
import math
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sgdnoise.data import Dataset, TaskData
from sgdnoise.data.augment import augment
from sgdnoise.engine import (
    Constant,
    Cyclic,
    Probe,
    StepDecay,
    TrainConfig,
    group_configs,
    plan_steps,
    time_group,
    time_measurements,
    train_group,
)
from sgdnoise.engine.train import _augmentation_generator, _flush_denormal_enabled, momentum_sgd_update_
from sgdnoise.models import MLPSpec, ResNetSpec, build_model, logistic_regression

F64 = torch.float64
N = 48


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(N, 6, generator=generator, dtype=F64)
    y = (x[:, 0] + 0.5 * torch.randn(N, generator=generator, dtype=F64) > 0).long() + (x[:, 1] > 1).long()
    test_x = torch.randn(20, 6, generator=generator, dtype=F64)
    return x, y, test_x, (test_x[:, 0] > 0).long()


def task_of(x, y, test_x=None, test_y=None, validation=None) -> TaskData:
    """A TaskData of the given tensors (test defaults to the training set)."""
    if test_x is None:
        test_x, test_y = x, y
    return TaskData(Dataset(x, y, 3, "train"), Dataset(test_x, test_y, 3, "test"), validation=validation)


def rows(history):
    """History columns as rows."""
    return [dict(zip(history, values, strict=True)) for values in zip(*history.values(), strict=True)]


def plain_loop(config: TrainConfig, x, y, stop: int | None = None):
    """Reference: one nn.Module, torch.optim.SGD(momentum, weight_decay), indices from a per-run
    generator (randperm per epoch, consecutive slices, remainder dropped), batch size and lr from the
    schedules at progress step/steps."""
    model = build_model(config.model, config.seed, dtype=F64)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0, momentum=config.momentum, weight_decay=config.l2)
    generator = torch.Generator().manual_seed(config.seed)
    perm, cursor = torch.randperm(N, generator=generator), 0
    for step in range(config.steps if stop is None else stop):
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
MLP_CONFIG = TrainConfig(MLP, 0.1, 8, steps=5)


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


BN_MLP = MLPSpec(6, (8, 5), 3, batch_norm=True, ghost_batch_size=4)


@pytest.mark.parametrize("spec", [MLP, BN_MLP])
@pytest.mark.parametrize("group", [mixed_group, shared_momentum_group])
@pytest.mark.parametrize("path", ["fast", "general"])
def test_group_matches_one_run_at_a_time_plain_loop(data, path, group, spec):
    x, y, _, _ = data
    configs = group(spec)
    results = train_group(configs, task_of(x, y), dtype=F64, path=path, keep_state=True)
    for config, result in zip(configs, results, strict=True):
        assert result.status == "finished" and result.steps_done == 12
        assert_state_close(plain_loop(config, x, y), result.state_dict)


def test_general_path_equals_fast_path(data):
    x, y, test_x, test_y = data
    configs = mixed_group()
    task = task_of(x, y, test_x, test_y)
    fast = train_group(configs, task, dtype=F64, path="fast", keep_state=True)
    general = train_group(configs, task, dtype=F64, path="general", keep_state=True)
    for a, b in zip(fast, general, strict=True):
        for name in a.state_dict:
            torch.testing.assert_close(a.state_dict[name], b.state_dict[name], atol=1e-12, rtol=0)
        assert a.history.keys() == b.history.keys()
        for column in a.history:
            assert a.history[column] == pytest.approx(b.history[column], abs=1e-12)


@pytest.mark.parametrize(("path", "runs"), [("fast", 3), ("fast", 1), ("general", 3), ("general", 1)])
@pytest.mark.parametrize("ghost", [None, 4])
def test_batch_norm_mlp_matches_plain_loop(data, ghost, path, runs):
    """Fast path (hand-written batch-norm backward), vmap path (3 runs) and plain module (1 run)."""
    x, y, test_x, test_y = data
    spec = MLPSpec(6, (8, 5), 3, batch_norm=True, ghost_batch_size=ghost)
    configs = mixed_group(spec, batch=12, steps=10)[-runs:]
    results = train_group(configs, task_of(x, y, test_x, test_y), dtype=F64, path=path, keep_state=True)
    for config, result in zip(configs, results, strict=True):
        model = plain_loop(config, x, y)
        assert_state_close(model, result.state_dict)  # includes the running statistics
        model.eval()
        with torch.no_grad():
            test_loss = F.cross_entropy(model(test_x), test_y).item()
        assert result.metrics["test_loss"] == pytest.approx(test_loss, abs=1e-10)


def test_metrics_are_full_split_evaluations_at_log_spaced_steps(data):
    x, y, test_x, test_y = data
    valid_x, valid_y = test_x[:7], (test_x[:7, 1] > 0).long()
    spec = logistic_regression(6, 3)
    config = TrainConfig(spec, 0.5, 10, steps=100, seed=3, eval_points=5)
    task = task_of(x, y, test_x, test_y, validation=Dataset(valid_x, valid_y, 3, "validation"))
    (result,) = train_group([config], task, dtype=F64, keep_state=True)
    assert result.history["step"] == [0, 1, 3, 10, 32, 100]
    first, *_, last = rows(result.history)
    initial = build_model(spec, 3, dtype=F64)
    trained = build_model(spec, 3, dtype=F64)
    trained.load_state_dict(result.state_dict)
    with torch.no_grad():
        for model, row in ((initial, first), (trained, last)):
            for split, (sx, sy) in {
                "train": (x, y),
                "validation": (valid_x, valid_y),
                "test": (test_x, test_y),
            }.items():
                assert row[f"{split}_loss"] == pytest.approx(F.cross_entropy(model(sx), sy).item(), abs=1e-12)
                assert row[f"{split}_acc"] == pytest.approx((model(sx).argmax(1) == sy).double().mean().item())
    assert last["epoch"] == pytest.approx(100 * 10 / N)
    assert result.metrics == last | {"steps_done": 100, "diverged_at_step": None}
    assert result.status == "finished" and result.error is None and result.seconds > 0


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
    task = task_of(x, y, test_x, test_y)
    with_wild = train_group([stable[0], wild, *stable[1:]], task, dtype=F64, keep_state=True, progress=events.append)
    without = train_group(stable, task, dtype=F64, keep_state=True)
    assert with_wild[1].status == "diverged"
    assert 0 < with_wild[1].diverged_at_step < 10 and with_wild[1].state_dict is None
    assert with_wild[1].metrics == {
        "steps_done": with_wild[1].diverged_at_step,
        "diverged_at_step": with_wild[1].diverged_at_step,
    }
    assert all(step < with_wild[1].diverged_at_step for step in with_wild[1].history["step"])
    for a, b in zip([with_wild[0], *with_wild[2:]], without, strict=True):
        assert a.status == "finished"
        for name in a.state_dict:
            torch.testing.assert_close(a.state_dict[name], b.state_dict[name], atol=1e-12, rtol=0)
        assert a.history["test_loss"] == pytest.approx(b.history["test_loss"])
    assert events[-1].steps_done == 10 and events[-1].runs_finished == 3 and events[-1].runs_diverged == 1


def test_all_runs_diverging_ends_the_group(data):
    x, y, _, _ = data
    results = train_group([TrainConfig(MLP, 1e200, 8, steps=30, momentum=0.9, seed=s) for s in range(2)], task_of(x, y))
    assert [r.status for r in results] == ["diverged", "diverged"]
    (single,) = train_group(
        [TrainConfig(MLPSpec(6, (4,), 3, batch_norm=True), 1e200, 8, steps=30, seed=0)], task_of(x, y)
    )
    assert single.status == "diverged" and single.history["step"] == [0]


def test_batch_size_schedule(data):
    x, y, _, _ = data
    batch = Cyclic(4, 16, period=0.25, shape="discrete")
    configs = [TrainConfig(MLP, 0.1, batch, steps=24, momentum=0.9, seed=s) for s in range(2)]
    plan = plan_steps(configs[0], N)
    assert list(plan.batch_sizes) == [4, 4, 4, 16, 16, 16] * 4
    results = train_group(configs, task_of(x, y), dtype=F64, keep_state=True)
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
        train_group([config, other_batch], task_of(torch.randn(40, 6), torch.zeros(40, dtype=torch.long)))


def test_invalid_inputs_give_clear_errors(data):
    x, y, _, _ = data
    with pytest.raises(ValueError, match="exactly one budget"):
        TrainConfig(MLP, 0.1, 8)
    with pytest.raises(ValueError, match="momentum"):
        TrainConfig(MLP, 0.1, 8, steps=5, momentum=1.0)
    config = TrainConfig(MLP, 0.1, 8, steps=5)
    with pytest.raises(TypeError, match="TaskData"):
        train_group([config], (x, y))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        train_group([TrainConfig(MLPSpec(6, (4,), 2), 0.1, 8, steps=5)], task_of(x, y))
    with pytest.raises(ValueError, match=r"path=.fast. needs"):
        train_group(
            [TrainConfig(ResNetSpec(depth=8, input_shape=(3, 8, 8), num_classes=3), 0.1, 8, steps=2)],
            task_of(x, y),
            path="fast",
        )
    with pytest.raises(ValueError, match="multiple of the ghost batch"):
        train_group(
            [TrainConfig(MLPSpec(6, (4,), 3, batch_norm=True, ghost_batch_size=4), 0.1, 6, steps=2)],
            task_of(x, y),
            path="fast",
        )
    with pytest.raises(ValueError, match="augmentation"):
        TrainConfig(MLP, 0.1, 8, steps=5, augmentation="mixup")


def test_global_state_restored(data):
    x, y, _, _ = data
    threads, flush, rng = torch.get_num_threads(), _flush_denormal_enabled(), torch.get_rng_state()
    train_group([TrainConfig(MLP, 0.1, 8, steps=3)], task_of(x, y), num_threads=1)
    assert torch.get_num_threads() == threads
    assert _flush_denormal_enabled() == flush
    assert torch.equal(torch.get_rng_state(), rng)


class SquaredNorm:
    """A measurement with an exact answer: |ω|² of the model's parameters (and the task's train size)."""

    name = "squared_norm"

    def to_dict(self):
        return {"type": "SquaredNorm"}

    def __call__(self, model, task):
        norm = sum(float(p.detach().double().square().sum()) for p in model.parameters())
        return {"value": norm, "n": len(task.train)}


def squared_norm(state):
    return sum(float(v.double().square().sum()) for name, v in state.items() if "running" not in name)


@pytest.mark.parametrize("path", ["fast", "general"])
def test_probes_and_final_measurements_see_each_runs_model(data, path):
    x, y, _, _ = data
    configs = mixed_group(steps=12)
    probe = Probe(SquaredNorm(), steps=(0, 5, 12, 99))
    results = train_group(
        configs, task_of(x, y), dtype=F64, path=path, probes=[probe], measurements=[SquaredNorm()], keep_state=True
    )
    for config, result in zip(configs, results, strict=True):
        assert result.probes["step"] == [0, 5, 12]  # 99 lies beyond the budget
        assert result.probes["epoch"] == pytest.approx([0.0, 5 * 8 / N, 12 * 8 / N])
        initial = squared_norm(build_model(config.model, config.seed, dtype=F64).state_dict())
        midway = plain_loop(
            TrainConfig(
                config.model,
                config.learning_rate,
                8,
                steps=12,
                momentum=config.momentum,
                l2=config.l2,
                seed=config.seed,
            ),
            x,
            y,
            stop=5,
        )
        final = squared_norm(result.state_dict)
        assert result.probes["squared_norm.value"] == pytest.approx([initial, squared_norm(midway.state_dict()), final])
        assert result.measurements == {"squared_norm": {"value": pytest.approx(final), "n": N}}


def test_probe_schedules_in_steps_and_epochs():
    config = TrainConfig(MLP, 0.1, 10, epochs=3)
    plan = plan_steps(config, 25)  # 2.5 updates per epoch: epochs before step s are 0.4·s
    assert Probe(SquaredNorm(), every_epochs=1.0).schedule(plan.epochs) == [0, 3, 5, 8]
    assert Probe(SquaredNorm(), epochs=(0.5, 2)).schedule(plan.epochs) == [2, 5]
    with pytest.raises(ValueError, match="exactly one"):
        Probe(SquaredNorm(), steps=(1,), epochs=(1.0,))
    with pytest.raises(TypeError, match="measurement"):
        Probe(object(), steps=(1,))


def test_fused_momentum_update_equals_the_two_pass_form():
    generator = torch.Generator().manual_seed(1)
    params, grad, velocity = (torch.randn(2, 5, generator=generator, dtype=F64) for _ in range(3))
    neg_lr, momentum, l2 = (
        torch.tensor([[-0.1], [-0.2]], dtype=F64),
        torch.tensor([[0.9], [0.9]], dtype=F64),
        torch.tensor([[0.01], [0.0]], dtype=F64),
    )
    two_pass = params.clone(), velocity.clone()
    momentum_sgd_update_(two_pass[0], grad.clone(), two_pass[1], neg_lr, momentum, l2)
    fused = params.clone(), velocity.clone() * 0.9 + grad  # what the backend accumulates
    momentum_sgd_update_(fused[0], torch.full_like(grad, math.nan), fused[1], neg_lr, momentum, l2, accumulated=True)
    torch.testing.assert_close(fused[0], two_pass[0], atol=1e-14, rtol=0)
    torch.testing.assert_close(fused[1], two_pass[1], atol=1e-14, rtol=0)


def test_augmentation_is_per_batch_and_per_run_seeded_like_a_plain_loop():
    """Each run's minibatch is augmented with its own generator (seeded from its seed): the group equals
    a plain loop calling ``augment`` on its minibatches with that generator."""
    generator = torch.Generator().manual_seed(2)
    images = torch.randn(N, 3, 4, 4, generator=generator, dtype=F64)
    labels = torch.randint(0, 3, (N,), generator=generator)
    spec = MLPSpec(48, (5,), 3)
    configs = [TrainConfig(spec, 0.1, 8, steps=10, momentum=0.9, seed=s, augmentation="crop-flip") for s in (0, 1)]
    results = train_group(configs, task_of(images, labels), dtype=F64, keep_state=True)
    for config, result in zip(configs, results, strict=True):
        model = build_model(spec, config.seed, dtype=F64)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        order, crops = torch.Generator().manual_seed(config.seed), _augmentation_generator(config.seed)
        perm, cursor = torch.randperm(N, generator=order), 0
        for _ in range(10):
            if cursor + 8 > N:
                perm, cursor = torch.randperm(N, generator=order), 0
            idx = perm[cursor : cursor + 8]
            cursor += 8
            loss = F.cross_entropy(model(augment("crop-flip", images[idx], crops)), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        assert_state_close(model, result.state_dict)
    with pytest.raises(ValueError, match="image inputs"):
        train_group(configs, task_of(images.flatten(1), labels))
    assert configs[0].to_dict()["augmentation"] == "crop-flip" and "augmentation" not in MLP_CONFIG.to_dict()


def test_time_group_times_the_engines_update_at_each_batch_size_and_one_evaluation(data):
    x, y, test_x, test_y = data
    configs = [TrainConfig(MLP, 0.1, 16, steps=5, seed=seed) for seed in (0, 1)]
    updates, evaluation = time_group(
        configs, task_of(x, y, test_x, test_y), [4, 16], device=torch.device("cpu"), repeats=3, warmup=1
    )
    assert len(updates) == 2 and all(0 < seconds < 10 for seconds in updates) and 0 < evaluation < 10


class SlowMeasurement:
    """Sleeps 50 ms and records the model it was given."""

    def __init__(self, name: str):
        self.name, self.seen = name, []

    def to_dict(self):
        return {"name": self.name}

    def __call__(self, model, task):
        self.seen.append((model.training, [p.detach().clone() for p in model.parameters()]))
        time.sleep(0.05)
        return {"value": 1.0}


def test_time_measurements_times_one_call_of_each_on_the_untrained_model(data):
    x, y, test_x, test_y = data
    config = TrainConfig(MLP, 0.1, 16, steps=5, seed=3)
    first, second = SlowMeasurement("first"), SlowMeasurement("second")
    seconds = time_measurements(config, task_of(x, y, test_x, test_y), [first, second], device=torch.device("cpu"))
    assert list(seconds) == ["first", "second"] and all(0.05 <= s < 5 for s in seconds.values())
    (training, params), built = first.seen[0], build_model(MLP, 3)
    assert len(first.seen) == len(second.seen) == 1 and not training
    assert all(torch.equal(a, b) for a, b in zip(params, built.parameters(), strict=True))
    with pytest.raises(ValueError, match="unique"):
        time_measurements(config, task_of(x, y), [first, first], device=torch.device("cpu"))
