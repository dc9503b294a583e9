"""Measurements of trained runs against exact answers: the Hessian formed by autograd on tiny models, and
batch-norm statistics against torch's own cumulative average."""

from __future__ import annotations

import copy
import math
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sgdnoise.data import Dataset, TaskData
from sgdnoise.engine import Measurement
from sgdnoise.instruments import hessian_norm, recalibrate_batch_norm
from sgdnoise.measurements import BNRecalibratedAccuracy, HessianNorm, LambdaMax, subset
from sgdnoise.models import MLPSpec, build_model

F64 = torch.float64


@pytest.fixture(scope="module")
def task() -> TaskData:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(60, 4, generator=generator, dtype=F64)
    y = (x[:, 0] + 0.3 * torch.randn(60, generator=generator, dtype=F64) > 0).long()
    test_x = torch.randn(30, 4, generator=generator, dtype=F64)
    return TaskData(Dataset(x, y, 2, "train"), Dataset(test_x, (test_x[:, 0] > 0).long(), 2, "test"))


def exact_hessian(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(vector: torch.Tensor) -> torch.Tensor:
        pieces = torch.split(vector, [s.numel() for s in shapes])
        params = {n: piece.view(s) for n, piece, s in zip(names, pieces, shapes, strict=True)}
        return F.cross_entropy(torch.func.functional_call(model, params, (x,)), y)

    return torch.autograd.functional.hessian(loss, flat)


def test_hessian_norm_and_lambda_max_match_the_formed_hessian(task: TaskData) -> None:
    model = build_model(MLPSpec(4, (3,), 2), seed=1, dtype=F64).eval()
    x, y = subset(task.train, 40, seed=0)
    hessian = exact_hessian(model, x, y)
    norm = HessianNorm(max_examples=40, n_samples=400)(model, task)
    assert norm["value"] == pytest.approx(float(torch.linalg.matrix_norm(hessian)), abs=4 * norm["stderr"])
    assert norm == HessianNorm(max_examples=40, n_samples=400)(model, task)  # deterministic
    top = LambdaMax(max_examples=40)(model, task)
    assert top["value"] == pytest.approx(float(torch.linalg.eigvalsh(hessian).max()), rel=1e-8)
    assert top["residual"] < 1e-6


def test_hessian_norm_finite_difference_step_is_passed_to_the_instrument(task: TaskData) -> None:
    model = build_model(MLPSpec(4, (3,), 2), seed=1, dtype=F64).eval()
    data = subset(task.train, 40, seed=0)
    for step in (None, 1e-4, 0.5):
        measured = HessianNorm(max_examples=40, n_samples=8, fd_step=step)(model, task)
        direct = hessian_norm(model, F.cross_entropy, data, n_samples=8, seed=0, fd_step=step, train_mode=False)
        assert measured == {"value": direct.value, "stderr": direct.stderr}  # the same computation, exactly
        if step is not None:
            assert direct.step == step
    assert HessianNorm(fd_step=0.5)(model, task) != HessianNorm()(model, task)
    exact = float(torch.linalg.matrix_norm(exact_hessian(model, *data)))
    small = HessianNorm(max_examples=40, n_samples=400, fd_step=1e-4)(model, task)
    assert small["value"] == pytest.approx(exact, abs=4 * small["stderr"])


def test_hessian_norm_records_a_set_step_and_keeps_the_default_keys() -> None:
    assert "fd_step" not in HessianNorm().to_dict()  # the store keys of default probes are unchanged
    assert HessianNorm().to_dict() == {
        "type": "HessianNorm",
        "name": "hessian_norm",
        "split": "train",
        "max_examples": 1000,
        "n_samples": 20,
        "seed": 0,
    }
    assert HessianNorm(fd_step=1e-3).to_dict()["fd_step"] == 1e-3
    for bad in (0.0, -1e-3, math.inf, math.nan, True, "0.01"):
        with pytest.raises(ValueError, match="fd_step"):
            HessianNorm(fd_step=bad)


def test_subset_is_seeded_bounded_and_whole_when_small(task: TaskData) -> None:
    x, _ = subset(task.train, 10, seed=3)
    again, _ = subset(task.train, 10, seed=3)
    assert x.shape == (10, 4) and torch.equal(x, again) and not torch.equal(x, subset(task.train, 10, seed=4)[0])
    whole, _ = subset(task.train, 1000, seed=3)
    assert torch.equal(whole, task.train.x)


def test_recalibration_is_the_cumulative_average_over_batches() -> None:
    """Against nn.BatchNorm1d(momentum=None), torch's cumulative moving average over the same batches."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2)).double()
    x = torch.randn(64, 4, dtype=F64)
    reference = copy.deepcopy(net)
    reference[1].momentum = None
    reference[1].reset_running_stats()
    reference.train()
    with torch.no_grad():
        for start in range(0, 64, 16):
            reference(x[start : start + 16])
    recalibrate_batch_norm(net, x.split(16))
    torch.testing.assert_close(net[1].running_mean, reference[1].running_mean, atol=1e-14, rtol=0)
    torch.testing.assert_close(net[1].running_var, reference[1].running_var, atol=1e-14, rtol=0)
    assert net[1].momentum == 0.1 and net.training


def test_bn_recalibrated_accuracy_uses_train_statistics_and_restores_the_model(task: TaskData) -> None:
    model = build_model(MLPSpec(4, (6,), 2, batch_norm=True), seed=2, dtype=F64).eval()
    before = copy.deepcopy(model.state_dict())
    measured = BNRecalibratedAccuracy(max_examples=60, batch_size=20)(model, task)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    expected = copy.deepcopy(model)
    recalibrate_batch_norm(expected, task.train.x.split(20))
    expected.eval()
    first_linear = next(m for m in expected.modules() if isinstance(m, nn.Linear))
    norm_layer = next(m for m in expected.modules() if hasattr(m, "running_mean"))
    with torch.no_grad():
        batch_means = [first_linear(task.train.x[i : i + 20]).mean(0) for i in (0, 20, 40)]
        torch.testing.assert_close(norm_layer.running_mean, torch.stack(batch_means).mean(0), atol=1e-14, rtol=0)
        for split, data in task.splits.items():
            logits = expected(data.x)
            assert measured[f"{split}_loss"] == pytest.approx(float(F.cross_entropy(logits, data.y)), abs=1e-12)
            assert measured[f"{split}_acc"] == pytest.approx(float((logits.argmax(1) == data.y).double().mean()))


def test_measurements_follow_the_protocol_and_validate_their_parameters() -> None:
    for measurement in (HessianNorm(), LambdaMax(), BNRecalibratedAccuracy()):
        assert isinstance(measurement, Measurement)
        assert pickle.loads(pickle.dumps(measurement)) == measurement
        assert measurement.to_dict()["type"] == type(measurement).__name__
    with pytest.raises(ValueError, match="max_examples"):
        HessianNorm(max_examples=0)
    with pytest.raises(ValueError, match="n_samples"):
        HessianNorm(n_samples=1)
    tiny = Dataset(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long), 2, "tiny")
    with pytest.raises(ValueError, match="no 'validation' split"):
        LambdaMax(split="validation")(nn.Linear(4, 2), TaskData(tiny, tiny))
