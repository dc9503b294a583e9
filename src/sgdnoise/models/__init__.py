"""The papers' models as plain ``nn.Module``s, described by small serialisable specs.

A *spec* is a frozen dataclass with ``build() -> nn.Module``, ``to_dict()``/``from_dict()``,
``num_classes`` and ``input_shape``; ``model_spec_from_dict`` inverts ``to_dict`` for every registered
spec, so the engine and the store can key runs by their model. ``build_model(spec, seed)`` is the one
place that turns a seed into initial parameters (used by the engine and by reference loops).

- ``spec``: the protocol, registry and ``build_model``;
- ``norm``: vmap-compatible (ghost) batch norm, ``GhostBatchNorm1d``/``GhostBatchNorm2d``;
- ``mlp``: logistic regression, MLPs, Smith & Le's shallow net, Jastrzębski et al.'s BN-MLP;
- ``conv``: VGG-11 (BN), CIFAR ResNets (ResNet-56), Wide-ResNets (WRN-16-4: BN, ghost BN, SkipInit,
  Regularized SkipInit);
- ``transformer``: a small GPT-style language model with a tied head (the monitor's worked example).
"""

from sgdnoise.models.conv import (
    VGG,
    ResNet,
    ResNetSpec,
    VGGSpec,
    WideResNet,
    WideResNetSpec,
    regularized_skipinit_wrn_16_4,
    resnet56,
    vgg11,
    wrn_16_4,
)
from sgdnoise.models.mlp import (
    INIT_SCHEMES,
    MLP,
    InitScheme,
    MLPSpec,
    jastrzebski_bn_mlp,
    logistic_regression,
    smith_le_shallow_net,
)
from sgdnoise.models.norm import GhostBatchNorm1d, GhostBatchNorm2d
from sgdnoise.models.spec import ModelSpec, build_model, model_spec_from_dict, register_model_spec
from sgdnoise.models.transformer import TinyTransformerLM, next_token_loss

__all__ = [
    "INIT_SCHEMES",
    "MLP",
    "VGG",
    "GhostBatchNorm1d",
    "GhostBatchNorm2d",
    "InitScheme",
    "MLPSpec",
    "ModelSpec",
    "ResNet",
    "ResNetSpec",
    "TinyTransformerLM",
    "VGGSpec",
    "WideResNet",
    "WideResNetSpec",
    "build_model",
    "jastrzebski_bn_mlp",
    "logistic_regression",
    "model_spec_from_dict",
    "next_token_loss",
    "register_model_spec",
    "regularized_skipinit_wrn_16_4",
    "resnet56",
    "smith_le_shallow_net",
    "vgg11",
    "wrn_16_4",
]
