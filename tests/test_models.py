import inspect
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from sgdnoise.engine import TrainConfig, train_group
from sgdnoise.models import (
    MLP,
    GhostBatchNorm1d,
    GhostBatchNorm2d,
    MLPSpec,
    ResNetSpec,
    VGGSpec,
    WideResNetSpec,
    build_model,
    jastrzebski_bn_mlp,
    logistic_regression,
    model_spec_from_dict,
    regularized_skipinit_wrn_16_4,
    resnet56,
    smith_le_shallow_net,
    vgg11,
    wrn_16_4,
)

F64 = torch.float64


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


# ---------------------------------------------------------------------------------------------------
# GhostBatchNorm2d
# ---------------------------------------------------------------------------------------------------


def test_batch_norm_2d_without_ghost_equals_torch_batch_norm():
    torch.manual_seed(0)
    ours, ref = GhostBatchNorm2d(3).double(), nn.BatchNorm2d(3).double()
    with torch.no_grad():
        ours.weight.copy_(torch.randn(3))
        ours.bias.copy_(torch.randn(3))
        ref.load_state_dict(ours.state_dict(), strict=False)
    for _ in range(3):  # train mode: biased variance forward, unbiased variance in the running average
        x = torch.randn(4, 3, 5, 2, dtype=F64) * 3 + 1
        torch.testing.assert_close(ours(x), ref(x), atol=1e-12, rtol=0)
    torch.testing.assert_close(ours.running_mean, ref.running_mean, atol=1e-12, rtol=0)
    torch.testing.assert_close(ours.running_var, ref.running_var, atol=1e-12, rtol=0)
    ours.eval()
    ref.eval()
    x = torch.randn(2, 3, 5, 2, dtype=F64)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-12, rtol=0)


def test_ghost_batch_norm_2d_normalises_each_ghost_batch_and_averages_their_statistics():
    torch.manual_seed(0)
    ghost = GhostBatchNorm2d(2, ghost_batch_size=3, momentum=0.5).double()
    x = torch.randn(9, 2, 4, 4, dtype=F64) * 2 + 3
    out = ghost(x)
    for chunk_in, chunk_out in zip(x.split(3), out.split(3), strict=True):
        mean = chunk_in.mean(dim=(0, 2, 3), keepdim=True)
        var = chunk_in.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
        torch.testing.assert_close(chunk_out, (chunk_in - mean) / torch.sqrt(var + 1e-5), atol=1e-12, rtol=0)
    chunks = x.view(3, 3, 2, 4, 4)
    ghost_means = chunks.mean(dim=(1, 3, 4))  # [ghost batch, channel]
    ghost_vars = chunks.transpose(1, 2).reshape(3, 2, -1).var(dim=2, unbiased=True)  # 48 values each
    torch.testing.assert_close(ghost.running_mean, 0.5 * ghost_means.mean(0), atol=1e-12, rtol=0)
    torch.testing.assert_close(ghost.running_var, 0.5 + 0.5 * ghost_vars.mean(0), atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="multiple"):
        ghost(torch.randn(8, 2, 4, 4, dtype=F64))
    with pytest.raises(ValueError, match="4-D"):
        ghost(torch.randn(9, 2, dtype=F64))
    with pytest.raises(ValueError, match="ghost_batch_size"):
        GhostBatchNorm2d(2, ghost_batch_size=1)


def test_ghost_batch_norm_2d_runs_under_vmap_with_stacked_running_statistics():
    torch.manual_seed(0)
    layers = [GhostBatchNorm2d(3, ghost_batch_size=2).double() for _ in range(2)]
    with torch.no_grad():
        for layer in layers:
            layer.weight.normal_()
    params = {k: torch.stack([getattr(m, k) for m in layers]) for k in ("weight", "bias")}
    buffers = {k: torch.stack([getattr(m, k) for m in layers]).clone() for k in ("running_mean", "running_var")}
    x = torch.randn(2, 4, 3, 2, 2, dtype=F64)
    stacked = vmap(lambda p, b, xs: functional_call(layers[0], (p, b), (xs,)))(params, buffers, x)
    for run, layer in enumerate(layers):
        torch.testing.assert_close(stacked[run], layer(x[run]), atol=1e-12, rtol=0)
        torch.testing.assert_close(buffers["running_var"][run], layer.running_var, atol=1e-12, rtol=0)
        torch.testing.assert_close(buffers["running_mean"][run], layer.running_mean, atol=1e-12, rtol=0)


# ---------------------------------------------------------------------------------------------------
# Paper models: parameter counts, shapes, specs
# ---------------------------------------------------------------------------------------------------


def count(spec) -> int:
    return sum(p.numel() for p in spec.build().parameters())


@pytest.mark.parametrize(
    ("spec", "exact", "standard"),
    [
        (jastrzebski_bn_mlp(), 402_954, None),  # 784 → 256×4 → 10 with BN (widths our choice)
        (vgg11(), 9_231_114, 9.2e6),  # VGG-11-BN with a single Linear(512, 10) classifier
        (resnet56(), 853_018, 0.85e6),  # He et al. 2016 Table 6: 0.85 M
        (wrn_16_4("batch"), 2_748_890, 2.75e6),  # Zagoruyko & Komodakis 2016: 2.7 M
        (wrn_16_4("ghost"), 2_748_890, 2.75e6),
        (wrn_16_4("skipinit"), 2_747_536, 2.75e6),
        (regularized_skipinit_wrn_16_4(), 2_747_536, 2.75e6),  # dropout has no parameters
    ],
)
def test_paper_models_have_the_standard_parameter_counts(spec, exact, standard):
    assert count(spec) == exact
    if standard is not None:
        assert exact == pytest.approx(standard, rel=0.01)


def test_parameter_counts_by_hand():
    # ResNet-8 (n = 1): stem 3·16·9 + BN 32; blocks 16→16, 16→32, 32→64 (two 3×3 convs and two BNs each,
    # option-A shortcuts have no parameters); fc 64·10 + 10
    stages = ((16, 16), (16, 32), (32, 64))
    blocks = sum(9 * (a * b + b * b) + 4 * b for a, b in stages)
    assert count(ResNetSpec(depth=8)) == 3 * 16 * 9 + 32 + blocks + 650
    # WRN-10-1: pre-activation blocks 16→16, 16→32 (1×1 projection), 32→64 (projection); final BN, fc
    wide = sum(9 * (a * b + b * b) + 2 * a + 2 * b + (a * b if a != b else 0) for a, b in stages)
    assert count(WideResNetSpec(depth=10, widen_factor=1)) == 3 * 16 * 9 + wide + 128 + 650
    # SkipInit: no BN, a bias per conv output channel, one scalar per block
    skip = sum(9 * (a * b + b * b) + 2 * b + 1 + (a * b + b if a != b else 0) for a, b in stages)
    assert count(WideResNetSpec(depth=10, widen_factor=1, norm="skipinit")) == 3 * 16 * 9 + 16 + skip + 650
    # VGG: 3×3 convs with biases + BN scale/shift, one linear layer on the flattened features
    assert count(VGGSpec((4, "M", 6), input_shape=(2, 4, 4), num_classes=3)) == (
        (2 * 4 * 9 + 4 + 8) + (4 * 6 * 9 + 6 + 12) + (6 * 2 * 2 * 3 + 3)
    )


def test_jastrzebski_mlp_layout():
    spec = jastrzebski_bn_mlp()
    assert spec.layer_sizes == (784, 256, 256, 256, 256, 10) and spec.batch_norm and spec.input_shape == (784,)
    assert sum(isinstance(m, GhostBatchNorm1d) for m in spec.build().modules()) == 4
    assert jastrzebski_bn_mlp(ghost_batch_size=64).ghost_batch_size == 64
    with pytest.raises(ValueError, match="width and depth"):
        jastrzebski_bn_mlp(depth=0)


@pytest.mark.parametrize(
    "spec",
    [
        vgg11(),
        resnet56(),
        ResNetSpec(depth=8, ghost_batch_size=4, num_classes=5, input_shape=(1, 12, 12)),
        wrn_16_4("batch"),
        wrn_16_4("ghost"),
        wrn_16_4("skipinit", num_classes=100),
        regularized_skipinit_wrn_16_4(),
        VGGSpec((4, "M"), input_shape=(3, 6, 6)),
        jastrzebski_bn_mlp(),
    ],
)
def test_spec_round_trip_and_attributes(spec):
    restored = model_spec_from_dict(json.loads(json.dumps(spec.to_dict())))
    assert restored == spec and hash(restored) == hash(spec)
    assert isinstance(spec.num_classes, int) and isinstance(spec.input_shape, tuple)


def test_conv_nets_on_cifar_shaped_input_give_logits_and_use_only_vmap_compatible_norms():
    x = torch.randn(2, 3, 32, 32)
    for spec in (vgg11(), ResNetSpec(depth=8), WideResNetSpec(depth=10, widen_factor=1, norm="ghost")):
        model = spec.build()
        assert model(x).shape == (2, 10)
        assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
        assert any(isinstance(m, GhostBatchNorm2d) for m in model.modules())
    assert wrn_16_4("ghost").ghost_batch_size == 64 and wrn_16_4("batch").ghost_batch_size is None
    assert all(m.ghost_batch_size == 64 for m in wrn_16_4("ghost").build().modules() if isinstance(m, GhostBatchNorm2d))


def test_skipinit_branches_start_at_zero_so_the_network_is_its_shortcut_path():
    spec = WideResNetSpec(depth=10, widen_factor=1, norm="skipinit", input_shape=(3, 8, 8))
    model = build_model(spec, seed=0, dtype=F64)
    assert not any(isinstance(m, GhostBatchNorm2d) for m in model.modules())
    alphas = [p for name, p in model.named_parameters() if name.endswith("alpha")]
    assert len(alphas) == 3 and all(a.shape == () and a.item() == 0.0 for a in alphas)
    assert all(m.bias is not None for m in model.modules() if isinstance(m, nn.Conv2d))
    x = torch.randn(4, 3, 8, 8, dtype=F64)
    with torch.no_grad():
        before = model(x)
        identity_block = model.blocks[0]  # 16 → 16: its output is its input
        torch.testing.assert_close(identity_block(x.new_ones(2, 16, 8, 8)), x.new_ones(2, 16, 8, 8))
        for block in model.blocks:  # the residual branches do not contribute at initialisation
            block.conv1.weight.normal_()
            block.conv2.bias.normal_()
        torch.testing.assert_close(model(x), before, atol=0, rtol=0)


def test_conv_specs_validate_their_arguments():
    cases = [
        (lambda: ResNetSpec(depth=10), "6n \\+ 2"),
        (lambda: WideResNetSpec(depth=16, norm="layer"), "norm must be one of"),
        (lambda: WideResNetSpec(depth=12), "6n \\+ 4"),
        (lambda: WideResNetSpec(widen_factor=0), "widen_factor"),
        (lambda: WideResNetSpec(norm="batch", ghost_batch_size=32), "needs norm='ghost'"),
        (lambda: WideResNetSpec(norm="ghost", ghost_batch_size=1), "ghost_batch_size"),
        (lambda: VGGSpec((64, "P")), "config"),
        (lambda: VGGSpec(input_shape=(3, 24, 24)), "divisible by 32"),
        (lambda: ResNetSpec(input_shape=(32, 32)), "input_shape"),
        (lambda: ResNetSpec(num_classes=1), "num_classes"),
    ]
    for make, message in cases:
        with pytest.raises(ValueError, match=message):
            make()


# ---------------------------------------------------------------------------------------------------
# Every new model trains under the engine's stacked general path exactly like a plain loop
# ---------------------------------------------------------------------------------------------------

N_IMAGES, CLASSES = 16, 3
TINY = {"num_classes": CLASSES, "input_shape": (3, 8, 8)}


@pytest.fixture(scope="module")
def images():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(N_IMAGES, 3, 8, 8, generator=generator, dtype=F64)
    return x, torch.arange(N_IMAGES) % CLASSES


def train_stacked(configs, x, y):
    """``train_group`` on the general path → (final state dict, final metrics) per run, whichever of its
    two signatures is current (x/y tensors, or a ``TaskData``)."""
    if "task" in inspect.signature(train_group).parameters:
        from sgdnoise.data import Dataset, TaskData

        split = Dataset(x, y, CLASSES, "images")
        results = train_group(configs, TaskData(split, split), dtype=F64, path="general", keep_state=True)
        return [(r.status, r.state_dict, r.metrics) for r in results]
    results = train_group(configs, x, y, dtype=F64, path="general", return_state=True)
    return [(r.status, r.state_dict, r.final) for r in results]


def plain_loop(config: TrainConfig, x, y) -> nn.Module:
    """One nn.Module, torch.optim.SGD(momentum, dampening=0), the engine's per-run data order."""
    model = build_model(config.model, config.seed, dtype=F64)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.learning_rate(0.0), momentum=config.momentum)
    generator = torch.Generator().manual_seed(config.seed)
    perm, cursor = torch.randperm(N_IMAGES, generator=generator), 0
    batch = round(config.batch_size(0.0))
    for _ in range(config.steps):
        if cursor + batch > N_IMAGES:
            perm, cursor = torch.randperm(N_IMAGES, generator=generator), 0
        idx = perm[cursor : cursor + batch]
        cursor += batch
        optimizer.zero_grad()
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        optimizer.step()
    return model


@pytest.mark.parametrize(
    "spec",
    [
        jastrzebski_bn_mlp(input_dim=192, width=6, num_classes=CLASSES, ghost_batch_size=4),
        VGGSpec((4, "M", 6, "M"), **TINY),
        ResNetSpec(depth=8, ghost_batch_size=4, **TINY),
        WideResNetSpec(depth=10, widen_factor=1, norm="batch", **TINY),
        WideResNetSpec(depth=10, widen_factor=1, norm="ghost", ghost_batch_size=4, **TINY),
        WideResNetSpec(depth=10, widen_factor=1, norm="skipinit", **TINY),
    ],
    ids=["bn-mlp", "vgg", "resnet8-ghost", "wrn-batch", "wrn-ghost", "wrn-skipinit"],
)
def test_model_on_stacked_general_path_matches_plain_loop(images, spec):
    x, y = images
    configs = [
        TrainConfig(spec, 0.1, 8, steps=3, momentum=0.9, seed=0, eval_points=0),
        TrainConfig(spec, 0.03, 8, steps=3, momentum=0.5, seed=1, eval_points=0),
    ]
    for config, (status, state, metrics) in zip(configs, train_stacked(configs, x, y), strict=True):
        assert status == "finished"
        model = plain_loop(config, x, y)
        reference = model.state_dict()
        assert set(state) == set(reference)  # parameters and BN running statistics
        for name, value in reference.items():
            torch.testing.assert_close(state[name], value, atol=1e-10, rtol=0, msg=name)
        model.eval()  # the engine evaluates in eval mode (running statistics), stacked under vmap
        with torch.no_grad():
            assert metrics["train_loss"] == pytest.approx(F.cross_entropy(model(x), y).item(), abs=1e-10)


def test_regularized_skipinit_is_skipinit_with_seeded_dropout_before_the_classifier(images):
    """De & Smith 2020's Regularized SkipInit (Smith, Elsen & De 2020 §5): SkipInit plus dropout on the
    pooled features; masks follow the run's seed, eval mode drops nothing."""
    spec = regularized_skipinit_wrn_16_4()
    assert (spec.norm, spec.dropout, spec.depth, spec.widen_factor) == ("skipinit", 0.6, 16, 4)
    tiny = WideResNetSpec(depth=10, widen_factor=1, norm="skipinit", dropout=0.5, **TINY)
    plain = WideResNetSpec(depth=10, widen_factor=1, norm="skipinit", **TINY)
    x, _ = images
    first, again, other = (build_model(tiny, seed, dtype=F64) for seed in (0, 0, 1))
    reference = build_model(plain, 0, dtype=F64)
    assert isinstance(reference.dropout, nn.Identity) and first.dropout.p == 0.5
    with torch.no_grad():
        torch.testing.assert_close(first(x), again(x), atol=0, rtol=0)  # same seed, same masks
        assert not torch.equal(build_model(tiny, 0, dtype=F64)(x), other(x))
        features = torch.ones(64, 1000, dtype=F64)
        dropped = first.dropout(features)
        assert set(dropped.unique().tolist()) == {0.0, 2.0}  # kept inputs scaled by 1/(1 − p)
        assert dropped.mean().item() == pytest.approx(1.0, abs=0.02)
        first.eval()
        reference.eval()
        torch.testing.assert_close(first(x), reference(x), atol=0, rtol=0)  # same parameters, no dropout


def test_dropout_trains_one_run_per_group_and_refuses_vmap(images):
    x, y = images
    spec = WideResNetSpec(depth=10, widen_factor=1, norm="skipinit", dropout=0.5, **TINY)
    config = TrainConfig(spec, 0.1, 8, steps=3, momentum=0.9, seed=0, eval_points=0)
    ((status, state, _),) = train_stacked([config], x, y)
    ((_, again, _),) = train_stacked([config], x, y)
    assert status == "finished" and all(torch.equal(state[k], again[k]) for k in state)
    with pytest.raises(RuntimeError, match="random"):
        train_stacked([config, TrainConfig(spec, 0.1, 8, steps=3, momentum=0.9, seed=1, eval_points=0)], x, y)


@pytest.mark.parametrize("dropout", [-0.1, 1.0, True, "0.5"])
def test_wide_resnet_dropout_must_be_a_probability(dropout):
    with pytest.raises(ValueError, match="dropout"):
        WideResNetSpec(depth=10, dropout=dropout)
