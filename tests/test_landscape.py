"""Loss along the line between two parameter vectors."""

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from sgdnoise.instruments.curvature import hessian_eigenvalues
from sgdnoise.instruments.landscape import endpoint_widths, interpolate, outward_width


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


def test_one_logit_or_out_of_range_integer_targets_have_no_accuracy():
    """A single-logit binary classifier once got 'accuracy' = the share of label 0 (argmax of one column is 0)."""
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(40, 3, generator=gen, dtype=torch.float64)
    model = nn.Linear(3, 1, dtype=torch.float64)
    y = (model(x).squeeze(1) > 0).long()  # the model classifies every example right
    target = {k: 2 * v for k, v in model.state_dict().items()}

    def bce(out, t):
        return nn.functional.binary_cross_entropy_with_logits(out.squeeze(1), t.to(out.dtype))

    result = interpolate(model.state_dict(), target, model, bce, (x, y), alphas=torch.tensor([0.0, 1.0]))
    assert result.accuracies is None
    counts = nn.Linear(3, 2, dtype=torch.float64)  # two outputs regressed onto integer counts up to 5
    y_counts = torch.randint(0, 6, (40,), generator=gen)

    def count_loss(out, t):
        return nn.functional.mse_loss(out.sum(1), t.to(out.dtype))

    target = {k: v + 1 for k, v in counts.state_dict().items()}
    result = interpolate(counts.state_dict(), target, counts, count_loss, (x, y_counts), alphas=torch.tensor([0.0]))
    assert result.accuracies is None


def test_invalid_arguments():
    model_a, model_b, loss_fn, x, y = problem()
    with pytest.raises(ValueError, match="lacks the model parameters"):
        interpolate({"0.weight": model_a[0].weight}, model_b, model_a, loss_fn, (x, y))
    with pytest.raises(ValueError, match="shape"):
        interpolate(torch.zeros(3), model_b, model_a, loss_fn, (x, y))
    with pytest.raises(ValueError, match="alphas"):
        interpolate(model_a, model_b, model_a, loss_fn, (x, y), alphas=torch.zeros(2, 2))
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match=r"^alphas must be finite, got \[(nan|inf)\]$"):
            interpolate(model_a, model_b, model_a, loss_fn, (x, y), alphas=[0.0, bad])


class DictOutput(nn.Module):
    """The wrapped model's logits in a dict."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.model(x)}


def test_outputs_only_the_loss_reads_give_losses_without_accuracy():
    model_a, model_b, loss_fn, x, y = problem()
    expected = interpolate(model_a, model_b, model_a, loss_fn, (x, y), alphas=[0.0, 0.5, 1.0])
    wrapped_a, wrapped_b = DictOutput(model_a), DictOutput(model_b)
    result = interpolate(
        wrapped_a, wrapped_b, wrapped_a, lambda out, t: loss_fn(out["logits"], t), (x, y), alphas=[0.0, 0.5, 1.0]
    )
    torch.testing.assert_close(result.losses, expected.losses, rtol=1e-12, atol=0)
    assert result.accuracies is None


def test_a_hugging_face_model_output(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=13, n_positions=8, n_embd=8, n_layer=1, n_head=2)
    model_a = transformers.GPT2LMHeadModel(config).double().eval()  # built from a config: nothing is downloaded
    model_b = copy.deepcopy(model_a)
    with torch.no_grad():
        for p in model_b.parameters():
            p.add_(0.1 * torch.randn_like(p))
    tokens = torch.randint(0, 13, (4, 6))

    def loss_fn(outputs, targets):
        return nn.functional.cross_entropy(outputs.logits.flatten(0, 1), targets.flatten())

    result = interpolate(model_a, model_b, model_a, loss_fn, (tokens[:, :-1], tokens[:, 1:]), alphas=[0.0, 1.0])
    with torch.no_grad():
        for loss, model in zip(result.losses.tolist(), (model_a, model_b), strict=True):
            assert loss == pytest.approx(loss_fn(model(tokens[:, :-1]), tokens[:, 1:]).item(), rel=1e-12)
    assert result.accuracies is None


def test_a_summed_or_unreduced_loss_is_one_clear_error():
    model_a, model_b, _, x, y = problem()
    with pytest.raises(ValueError, match=r"loss_fn must be the MEAN .* \(e\.g\. reduction='mean'\)"):
        interpolate(model_a, model_b, model_a, nn.CrossEntropyLoss(reduction="sum"), (x, y), alphas=[0.0, 1.0])
    with pytest.raises(ValueError, match=r"loss_fn must return a scalar tensor .*got \(60,\)"):
        interpolate(model_a, model_b, model_a, nn.CrossEntropyLoss(reduction="none"), (x, y), alphas=[0.0])


def test_a_weighted_mean_where_every_example_has_the_same_loss_is_refused():
    """interpolate checks each chunk under torch.no_grad(), where the gradients at the outputs were not compared:
    class weights at a zero head (every loss ln 3) were accepted, as per_example_gradients does not."""
    model_a, model_b, _, x, y = problem()
    for model in (model_a, model_b):
        nn.init.zeros_(model[2].weight)
        nn.init.zeros_(model[2].bias)
    weighted = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 5.0], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"MEAN of the per-example losses .* gradient of the loss of the first"):
        interpolate(model_a, model_b, model_a, weighted, (x, y), alphas=[0.0, 1.0])


def test_non_finite_data_is_one_clear_error_but_a_blown_up_point_is_a_number():
    model_a, model_b, loss_fn, x, y = problem(batch_norm=True)
    x_nan = x.clone()
    x_nan[5, 1] = math.nan
    with pytest.raises(ValueError, match=r"^data holds NaN or inf in x"):
        interpolate(model_a, model_b, model_a, loss_fn, (x_nan, y), alphas=[0.0, 1.0])
    with pytest.raises(ValueError, match=r"^bn_data holds NaN or inf in x"):
        interpolate(model_a, model_b, model_a, loss_fn, (x, y), alphas=[0.0], bn_data=(x_nan, y))
    # far out along the line the net may overflow: that point's loss is reported, not refused
    model_a, model_b, loss_fn, x, y = problem()
    huge = {name: torch.full_like(p, 1e308) for name, p in model_b.named_parameters()}  # logits inf − inf
    result = interpolate(model_a, huge, model_a, loss_fn, (x, y), alphas=[0.0, 1.0])
    assert math.isfinite(result.losses[0]) and not math.isfinite(result.losses[1])


def test_flat_vectors_of_the_trainable_parameters_follow_a_hessian_eigenvector():
    # a frozen first layer: eigenvectors cover the trainable parameters only, and so may the flat endpoints
    model, _, loss_fn, x, y = problem()
    model[0].requires_grad_(False)
    top = hessian_eigenvalues(model, loss_fn, (x, y), k=1, return_eigenvectors=True)
    theta = torch.cat([p.detach().reshape(-1) for p in model[2].parameters()])
    direction = top.eigenvectors[0]
    assert direction.shape == theta.shape == (27,)
    result = interpolate(theta, theta + direction, model, loss_fn, (x, y), alphas=[0.0, 0.5, 2.0])
    moved = copy.deepcopy(model)
    for alpha, loss in zip((0.0, 0.5, 2.0), result.losses, strict=True):
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(theta + alpha * direction, moved[2].parameters())
            assert loss.item() == pytest.approx(loss_fn(moved(x), y).item(), rel=1e-12)
    # flat vectors of all parameters (frozen first) give the same line
    frozen = torch.cat([p.detach().reshape(-1) for p in model[0].parameters()])
    full = interpolate(
        torch.cat([frozen, theta]), torch.cat([frozen, theta + direction]), model, loss_fn, (x, y), [0.0, 0.5, 2.0]
    )
    torch.testing.assert_close(full.losses, result.losses, rtol=1e-14, atol=0)
    with pytest.raises(ValueError, match=r"trainable parameters, shape \(27,\).*all parameters, shape \(75,\)"):
        interpolate(theta[:-1], theta, model, loss_fn, (x, y))


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


# ---- outward_width / endpoint_widths: how far out from an endpoint the loss stays below a threshold ----------


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
    with pytest.raises(ValueError):
        outward_width(lambda d: 0.0, [], threshold=1.0, cap=0.0, tolerance=0.01)


def test_endpoint_widths_walk_outwards_on_both_sides_of_the_line() -> None:
    def loss(alpha: float) -> float:  # θ₁ side crosses 1.0 at α = -3 (d = 3), θ₂ side at α = 1.6 (d = 0.6)
        return -alpha / 3 if alpha < 0 else (alpha - 1) / 0.6 if alpha > 1 else 0.0

    alphas = [round(-1 + 0.1 * i, 10) for i in range(31)]
    found = endpoint_widths(loss, alphas, [loss(a) for a in alphas], threshold=1.0, cap=64.0, tolerance=1e-3)
    assert found["first"]["width"] == pytest.approx(3.0, abs=1e-9)
    assert found["second"]["width"] == pytest.approx(0.6, abs=1e-9)


def test_interpolate_and_per_example_gradients_leave_torchs_random_state_as_it_was():
    """Train-mode passes through dropout (batch-norm re-estimation, per-example gradients in train mode) draw from
    torch's generator: before, they advanced it, and two identical interpolate calls gave different losses."""
    from sgdnoise.instruments import per_example_gradients

    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    other = copy.deepcopy(model)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.1)
    state = torch.get_rng_state()
    first = interpolate(model, other, model, nn.CrossEntropyLoss(), (x, y), alphas=[0.5]).losses
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(interpolate(model, other, model, nn.CrossEntropyLoss(), (x, y), alphas=[0.5]).losses, first)
    targets, state = torch.randn(64, 8), torch.get_rng_state()
    per_example_gradients(model[:2], nn.MSELoss(), (x, targets), train_mode=True)
    assert torch.equal(torch.get_rng_state(), state)


def test_alphas_that_are_not_numbers_are_one_value_error():
    """Before: TypeError "new(): invalid data type 'str'"."""
    torch.manual_seed(0)
    model, x, y = nn.Linear(3, 2), torch.randn(8, 3), torch.randint(0, 2, (8,))
    for alphas in ("0,1", 3, [0.0, "1"]):
        with pytest.raises(ValueError, match="alphas must be a sequence of numbers or a tensor"):
            interpolate(model, model, model, nn.CrossEntropyLoss(), (x, y), alphas=alphas)
    line = interpolate(model, model, model, nn.CrossEntropyLoss(), (x, y), alphas=np.linspace(0, 1, 3))
    assert line.losses.shape == (3,)
