import json
import math

import pytest
import torch
from torch import nn

from sgdnoise.models import (
    MLP,
    GhostBatchNorm1d,
    MLPSpec,
    build_model,
    logistic_regression,
    model_spec_from_dict,
    smith_le_shallow_net,
)


def test_smith_le_net_has_636010_parameters():
    spec = smith_le_shallow_net()
    model = build_model(spec, seed=0)
    assert spec.num_parameters == 636_010
    assert sum(p.numel() for p in model.parameters()) == 636_010
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_logistic_regression_is_one_affine_map():
    model = build_model(logistic_regression(4, 2), seed=1)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 1 and not any(isinstance(m, nn.ReLU) for m in model.modules())
    x = torch.randn(5, 4)
    assert torch.allclose(model(x), x @ linears[0].weight.T + linears[0].bias)


def test_build_model_is_seeded_and_leaves_global_rng_alone():
    spec = MLPSpec(6, (5,), 3)
    state = torch.get_rng_state()
    a, b, c = build_model(spec, 7), build_model(spec, 7), build_model(spec, 8)
    assert torch.equal(torch.get_rng_state(), state)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    double = build_model(spec, 7, dtype=torch.float64)
    assert all(torch.equal(pa.double(), pd) for pa, pd in zip(a.parameters(), double.parameters(), strict=True))


def test_glorot_init_matches_tensorflow_default():
    model = build_model(MLPSpec(300, (200,), 10, init="glorot"), seed=0)
    for linear in (m for m in model.modules() if isinstance(m, nn.Linear)):
        fan_out, fan_in = linear.weight.shape
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        assert linear.weight.abs().max() <= bound
        assert linear.weight.abs().max() > 0.95 * bound  # uniform on [-bound, bound]
        assert torch.count_nonzero(linear.bias) == 0
    pytorch = build_model(MLPSpec(300, (200,), 10), seed=0)
    first = next(m for m in pytorch.modules() if isinstance(m, nn.Linear))
    assert first.weight.abs().max() <= 1 / math.sqrt(300) and torch.count_nonzero(first.bias) > 0


def test_batch_norm_without_ghost_equals_torch_batch_norm():
    torch.manual_seed(0)
    ours, ref = GhostBatchNorm1d(4), nn.BatchNorm1d(4)
    with torch.no_grad():
        ours.weight.copy_(torch.randn(4))
        ref.weight.copy_(ours.weight)
    for _ in range(3):
        x = torch.randn(8, 4) * 3 + 1
        assert torch.allclose(ours(x), ref(x), atol=1e-6)
    assert torch.allclose(ours.running_mean, ref.running_mean, atol=1e-6)
    assert torch.allclose(ours.running_var, ref.running_var, atol=1e-6)
    ours.eval()
    ref.eval()
    x = torch.randn(5, 4)
    assert torch.allclose(ours(x), ref(x), atol=1e-6)


def test_ghost_batch_norm_normalises_each_ghost_batch_separately():
    torch.manual_seed(0)
    ghost = GhostBatchNorm1d(3, ghost_batch_size=4)
    x = torch.randn(12, 3)
    out = ghost(x)
    for chunk_in, chunk_out in zip(x.split(4), out.split(4), strict=True):
        plain = GhostBatchNorm1d(3)
        assert torch.allclose(chunk_out, plain(chunk_in), atol=1e-6)
    with pytest.raises(ValueError, match="multiple"):
        ghost(torch.randn(10, 3))


def test_mlp_with_batch_norm_layout():
    model = MLPSpec(5, (4, 3), 2, batch_norm=True, ghost_batch_size=2).build()
    assert isinstance(model, MLP)
    kinds = [type(m).__name__ for m in model.layers]
    assert kinds == ["Flatten", "Linear", "GhostBatchNorm1d", "ReLU", "Linear", "GhostBatchNorm1d", "ReLU", "Linear"]
    assert MLPSpec(5, (4, 3), 2, batch_norm=True).num_parameters == sum(p.numel() for p in model.parameters())


def test_spec_round_trip_and_validation():
    spec = MLPSpec(784, (100, 50), 10, batch_norm=True, ghost_batch_size=64, init="glorot")
    assert model_spec_from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    with pytest.raises(ValueError):
        MLPSpec(0)
    with pytest.raises(ValueError):
        MLPSpec(5, init="he")
    with pytest.raises(ValueError):
        MLPSpec(5, ghost_batch_size=8)
    with pytest.raises(ValueError, match="unknown model spec"):
        model_spec_from_dict({"type": "VGG11"})
