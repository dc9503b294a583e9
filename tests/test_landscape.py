"""Loss along the line between two parameter vectors."""

import copy

import pytest
import torch
from torch import nn

from sgdnoise.instruments.landscape import interpolate


def problem(batch_norm: bool = False, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    layers = [nn.Linear(5, 8)] + ([nn.BatchNorm1d(8)] if batch_norm else []) + [nn.Tanh(), nn.Linear(8, 3)]
    model_a = nn.Sequential(*layers).double()
    model_b = copy.deepcopy(model_a)
    with torch.no_grad():
        for p in model_b.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    x = torch.randn(60, 5, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (60,), generator=gen)
    return model_a, model_b, nn.CrossEntropyLoss(), x, y


def eval_loss_and_accuracy(model, loss_fn, x, y):
    model.eval()
    with torch.no_grad():
        out = model(x)
        return loss_fn(out, y).item(), (out.argmax(1) == y).double().mean().item()


def snapshot(model):
    return [t.clone() for t in (*model.parameters(), *model.buffers())], [m.training for m in model.modules()]


def assert_unchanged(model, before):
    tensors, modes = before
    assert all(torch.equal(a, b) for a, b in zip(tensors, (*model.parameters(), *model.buffers()), strict=True))
    assert modes == [m.training for m in model.modules()]


def test_endpoints_are_the_two_models_exactly():
    model_a, model_b, loss_fn, x, y = problem()
    model = copy.deepcopy(model_a).train()
    before = snapshot(model)
    loss_a, acc_a = eval_loss_and_accuracy(copy.deepcopy(model_a), loss_fn, x, y)
    loss_b, acc_b = eval_loss_and_accuracy(copy.deepcopy(model_b), loss_fn, x, y)
    flat_a = torch.cat([p.detach().reshape(-1) for p in model_a.parameters()])
    cases = [
        (model_a.state_dict(), model_b.state_dict(), None),
        (model_a, model_b, torch.linspace(-1, 2, 31)),
        (flat_a, model_b, None),
    ]
    for a, b, alphas in cases:
        result = interpolate(a, b, model, loss_fn, (x, y), alphas)
        assert result.alphas.shape == (31,) and result.alphas[0] == -1 and result.alphas[-1] == 2
        assert result.alphas[10] == 0 and result.alphas[20] == 1
        assert result.losses[10].item() == loss_a and result.losses[20].item() == loss_b
        assert result.accuracies is not None
        assert result.accuracies[10].item() == acc_a and result.accuracies[20].item() == acc_b
    assert_unchanged(model, before)


def test_midpoint_and_extrapolation_follow_the_line():
    model_a, model_b, loss_fn, x, y = problem(seed=1)
    result = interpolate(model_a, model_b, model_a, loss_fn, [(x[:25], y[:25]), (x[25:], y[25:])], alphas=[0.5, -0.7])
    for i, alpha in enumerate([0.5, -0.7]):
        mixed = copy.deepcopy(model_a)
        with torch.no_grad():
            for p, pa, pb in zip(mixed.parameters(), model_a.parameters(), model_b.parameters(), strict=True):
                p.copy_((1 - alpha) * pa + alpha * pb)
        assert result.losses[i].item() == pytest.approx(eval_loss_and_accuracy(mixed, loss_fn, x, y)[0], rel=1e-12)
    assert result.losses.dtype == torch.float64


def reestimated_loss(model, loss_fn, x, y, bn_x):
    model = copy.deepcopy(model)
    bn = model[1]
    bn.reset_running_stats()
    bn.momentum = None
    model.train()
    with torch.no_grad():
        for chunk in bn_x:
            model(chunk)
    return eval_loss_and_accuracy(model, loss_fn, x, y)[0]


def test_batch_norm_statistics_are_reestimated_at_each_alpha():
    model_a, model_b, loss_fn, x, y = problem(batch_norm=True, seed=2)
    model = copy.deepcopy(model_a)
    model(x * 3 + 1)  # stale running statistics that re-estimation must replace
    model.eval()
    before = snapshot(model)
    result = interpolate(model_a, model_b, model, loss_fn, (x, y), chunk_size=20)
    expected_a = reestimated_loss(model_a, loss_fn, x, y, x.split(20))
    expected_b = reestimated_loss(model_b, loss_fn, x, y, x.split(20))
    assert result.losses[10].item() == pytest.approx(expected_a, rel=1e-12)
    assert result.losses[20].item() == pytest.approx(expected_b, rel=1e-12)
    stale = eval_loss_and_accuracy(copy.deepcopy(model), loss_fn, x, y)[0]
    assert abs(stale - expected_a) > 1e-3
    assert_unchanged(model, before)
    assert model[1].momentum == 0.1
    bn_x = x[:30] * 2
    separate = interpolate(model_a, model_b, model, loss_fn, (x, y), alphas=torch.tensor([0.0]), bn_data=(bn_x, y[:30]))
    assert separate.losses[0].item() == pytest.approx(reestimated_loss(model_a, loss_fn, x, y, [bn_x]), rel=1e-12)


def test_train_mode_uses_batch_statistics():
    model_a, model_b, loss_fn, x, y = problem(batch_norm=True, seed=3)
    result = interpolate(model_a, model_b, model_a, loss_fn, (x, y), alphas=torch.tensor([0.0]), train_mode=True)
    model = copy.deepcopy(model_a).train()
    with torch.no_grad():
        assert result.losses[0].item() == pytest.approx(loss_fn(model(x), y).item(), rel=1e-12)


def test_regression_targets_have_no_accuracy():
    gen = torch.Generator().manual_seed(4)
    model = nn.Linear(3, 1, dtype=torch.float64)
    x = torch.randn(10, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(10, 1, generator=gen, dtype=torch.float64)
    target = {k: v + 1 for k, v in model.state_dict().items()}
    result = interpolate(model.state_dict(), target, model, nn.MSELoss(), (x, y), alphas=torch.tensor([0.0, 1.0]))
    assert result.accuracies is None


def test_invalid_arguments():
    model_a, model_b, loss_fn, x, y = problem()
    with pytest.raises(ValueError, match="lacks the model parameters"):
        interpolate({"0.weight": model_a[0].weight}, model_b, model_a, loss_fn, (x, y))
    with pytest.raises(ValueError, match="shape"):
        interpolate(torch.zeros(3), model_b, model_a, loss_fn, (x, y))
    with pytest.raises(ValueError, match="alphas"):
        interpolate(model_a, model_b, model_a, loss_fn, (x, y), alphas=torch.zeros(2, 2))


def test_interpolation_re_estimates_ghost_batch_norm_statistics_too():
    from sgdnoise.instruments import recalibrate_batch_norm
    from sgdnoise.models import MLPSpec, build_model

    torch.manual_seed(0)
    x, y = torch.randn(64, 5, dtype=torch.float64), torch.randint(0, 3, (64,))
    model = build_model(MLPSpec(5, (7,), 3, batch_norm=True, ghost_batch_size=16), seed=1, dtype=torch.float64)
    layer = next(m for m in model.modules() if hasattr(m, "running_mean"))
    reference = copy.deepcopy(model)
    recalibrate_batch_norm(reference, x.split(16))
    hidden = reference.layers[1](x)  # the statistics are the plain mean over the four batches
    expected = torch.stack([h.mean(0) for h in hidden.split(16)]).mean(0)
    torch.testing.assert_close(
        next(m for m in reference.modules() if hasattr(m, "running_mean")).running_mean, expected
    )
    path = interpolate(model, model, model, nn.CrossEntropyLoss(), (x, y), alphas=[0.0], bn_data=(x, y))
    reference.eval()
    torch.testing.assert_close(
        path.losses[0].item(), nn.functional.cross_entropy(reference(x), y).item(), rtol=1e-6, atol=0
    )
    assert torch.equal(layer.running_mean, torch.zeros(7))  # the model's own statistics are restored
