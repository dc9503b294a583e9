"""Convolutional nets for 3×32×32 CIFAR-style inputs: VGG-11 with batch norm, He et al.'s CIFAR ResNets
and Wide-ResNets (batch norm, ghost batch norm, SkipInit or Regularized SkipInit). Every normalisation layer is the
vmap-compatible ``GhostBatchNorm2d``. Convolution weights are He-normal (He et al. 2015: N(0, 2/fan_in)),
convolution biases zero, linear layers keep PyTorch's default initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from sgdnoise.models.norm import GhostBatchNorm2d
from sgdnoise.models.spec import DataclassSpec, check_image_shape, register_model_spec

Norm = Literal["batch", "ghost", "skipinit"]
NORMS: tuple[str, ...] = ("batch", "ghost", "skipinit")
DEFAULT_GHOST_BATCH_SIZE = 64  # Smith, Elsen & De 2020 §3.2
# Regularized SkipInit's dropout before the final linear layer (De & Smith 2020, arXiv:2002.10444, §5 as this
# project reads it; Smith, Elsen & De 2020 name the scheme but not the rate): a choice, see ``wrn_16_4``
REGULARIZED_SKIPINIT_DROPOUT = 0.6
VGG11_CONFIG: tuple[int | str, ...] = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")
CIFAR_SHAPE = (3, 32, 32)


def _he_init(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def _int_at_least(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _check_common(spec: Any) -> None:
    object.__setattr__(spec, "input_shape", check_image_shape(spec.input_shape))
    if not _int_at_least(spec.num_classes, 2):
        raise ValueError(f"num_classes must be an int >= 2, got {spec.num_classes!r}")
    ghost = spec.ghost_batch_size
    if ghost is not None and not _int_at_least(ghost, 2):
        raise ValueError(f"ghost_batch_size must be an int >= 2 (or None), got {ghost!r}")


class VGG(nn.Module):
    """VGG (Simonyan & Zisserman 2015) for small images: 3×3 convs (padding 1, with bias) → BN → ReLU,
    2×2 max pools at the "M" entries, then one linear classifier on the flattened features."""

    def __init__(
        self,
        config: tuple[int | str, ...],
        input_shape: tuple[int, int, int],
        num_classes: int,
        ghost_batch_size: int | None,
    ) -> None:
        super().__init__()
        channels, height, width = input_shape
        layers: list[nn.Module] = []
        for item in config:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            else:
                assert isinstance(item, int)
                layers += [nn.Conv2d(channels, item, 3, padding=1), GhostBatchNorm2d(item, ghost_batch_size), nn.ReLU()]
                channels = item
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels * height * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


@register_model_spec
@dataclass(frozen=True)
class VGGSpec(DataclassSpec):
    """A VGG with batch norm; ``config`` lists conv widths and "M" (max pool). ``ghost_batch_size=None``
    is ordinary batch norm. The input height and width must be divisible by 2^(number of pools)."""

    type: ClassVar[str] = "VGGSpec"
    config: tuple[int | str, ...] = VGG11_CONFIG
    num_classes: int = 10
    input_shape: tuple[int, int, int] = CIFAR_SHAPE
    ghost_batch_size: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", tuple(self.config))
        _check_common(self)
        if not any(isinstance(c, int) for c in self.config) or not all(
            c == "M" or _int_at_least(c, 1) for c in self.config
        ):
            raise ValueError(f"config must hold positive conv widths and 'M' (max pool), got {self.config!r}")
        factor = 2 ** self.config.count("M")
        if self.input_shape[1] % factor or self.input_shape[2] % factor:
            raise ValueError(f"input height and width must be divisible by {factor} for {self.config.count('M')} pools")

    def build(self) -> nn.Module:
        return _he_init(VGG(self.config, self.input_shape, self.num_classes, self.ghost_batch_size))


def vgg11(num_classes: int = 10, ghost_batch_size: int | None = None) -> VGGSpec:
    """VGG-11 ("A", Simonyan & Zisserman 2015) for CIFAR-10, the network of Jastrzębski et al. 2018 §4.2 /
    App. F.4, which name it without details: batch norm and a single Linear(512, 10) classifier (the common
    CIFAR variant) are this project's choices; 8 convs, 5 pools (32×32 → 1×1×512); no dropout, which would need
    per-run randomness under vmap.
    P = 9,231,114 (the variant with a 512-512-10 classifier has 9,756,426)."""
    return VGGSpec(VGG11_CONFIG, num_classes, CIFAR_SHAPE, ghost_batch_size)


class _BasicBlock(nn.Module):
    """He et al. 2016 §4.2 basic block: conv-BN-ReLU-conv-BN, plus the shortcut, then ReLU. Option-A
    shortcut: the identity, subsampled by the stride and zero-padded with the extra channels."""

    def __init__(self, inputs: int, outputs: int, stride: int, ghost_batch_size: int | None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = GhostBatchNorm2d(outputs, ghost_batch_size)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = GhostBatchNorm2d(outputs, ghost_batch_size)
        self.stride, self.extra_channels = stride, outputs - inputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.extra_channels:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra_channels))
        return F.relu(out + shortcut)


class ResNet(nn.Module):
    """He et al. 2016 §4.2 CIFAR ResNet: 3×3 conv (16) → BN → ReLU, three stages of ``blocks`` basic
    blocks with 16, 32, 64 channels (stride 2 at the start of stages 2 and 3), global average pool,
    linear classifier; 6·blocks + 2 weighted layers."""

    def __init__(self, blocks: int, input_shape: tuple[int, int, int], num_classes: int, ghost: int | None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(input_shape[0], 16, 3, 1, 1, bias=False)
        self.bn = GhostBatchNorm2d(16, ghost)
        layers: list[nn.Module] = []
        inputs = 16
        for stage, width in enumerate((16, 32, 64)):
            for block in range(blocks):
                layers.append(_BasicBlock(inputs, width, 2 if stage > 0 and block == 0 else 1, ghost))
                inputs = width
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.blocks(F.relu(self.bn(self.conv(x)))).mean(dim=(2, 3)))


@register_model_spec
@dataclass(frozen=True)
class ResNetSpec(DataclassSpec):
    """A He et al. 2016 CIFAR ResNet of ``depth`` = 6n + 2 (n blocks per stage; 8 for tests, 20, 32,
    44, 56, 110) with option-A (parameter-free, zero-padded identity) shortcuts — the paper's choice
    for CIFAR-10 — and (ghost) batch norm (``ghost_batch_size=None``: ordinary batch norm)."""

    type: ClassVar[str] = "ResNetSpec"
    depth: int = 56
    num_classes: int = 10
    input_shape: tuple[int, int, int] = CIFAR_SHAPE
    ghost_batch_size: int | None = None

    def __post_init__(self) -> None:
        _check_common(self)
        if not (_int_at_least(self.depth, 8) and self.depth % 6 == 2):
            raise ValueError(f"ResNet depth must be 6n + 2 with n >= 1 (8, 14, 20, …, 56, 110), got {self.depth!r}")

    def build(self) -> nn.Module:
        return _he_init(ResNet((self.depth - 2) // 6, self.input_shape, self.num_classes, self.ghost_batch_size))


def resnet56(num_classes: int = 10, ghost_batch_size: int | None = None) -> ResNetSpec:
    """ResNet-56 for CIFAR-10 (He et al. 2016 §4.2; Jastrzębski et al. 2018 App. F): P = 853,018."""
    return ResNetSpec(56, num_classes, CIFAR_SHAPE, ghost_batch_size)


class _WideBlock(nn.Module):
    """Zagoruyko & Komodakis 2016 pre-activation block: norm-ReLU-conv3×3-norm-ReLU-conv3×3 (no dropout)
    added to the shortcut (identity, or a 1×1 conv of the pre-activated input when the shape changes).
    With SkipInit (De & Smith 2020) the norms are absent, the convs have biases and the residual branch
    is multiplied by a learnable scalar ``alpha`` initialised to 0, so the block starts as its shortcut."""

    def __init__(self, inputs: int, outputs: int, stride: int, norm: str, ghost: int | None) -> None:
        super().__init__()
        skipinit = norm == "skipinit"
        self.norm1 = nn.Identity() if skipinit else GhostBatchNorm2d(inputs, ghost)
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=skipinit)
        self.norm2 = nn.Identity() if skipinit else GhostBatchNorm2d(outputs, ghost)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=skipinit)
        projection = inputs != outputs or stride != 1
        self.shortcut = nn.Conv2d(inputs, outputs, 1, stride, bias=skipinit) if projection else None
        self.alpha = nn.Parameter(torch.zeros(())) if skipinit else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = F.relu(self.norm1(x))
        branch = self.conv2(F.relu(self.norm2(self.conv1(activated))))
        if self.alpha is not None:
            branch = self.alpha * branch
        return (x if self.shortcut is None else self.shortcut(activated)) + branch


class SeededDropout(nn.Module):
    """Dropout (Srivastava et al. 2014: zero each input with probability ``p`` in train mode, scale the rest
    by 1/(1 − p)) drawing its masks from its own CPU generator, which ``reseed`` seeds from torch's global
    RNG once the model's parameters are drawn — ``build_model`` seeds that by the run's seed, so a run's
    masks follow from its seed and its parameters are those of the same net without dropout. It trains one
    run per group: under ``torch.func.vmap`` (several runs stacked) the draw raises, as vmap refuses
    random operations."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.generator = torch.Generator()

    def reseed(self) -> None:
        self.generator.manual_seed(int(torch.randint(2**62, ())))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand(x.shape, generator=self.generator) >= self.p
        return x * keep.to(device=x.device, dtype=x.dtype) / (1 - self.p)


class WideResNet(nn.Module):
    """Zagoruyko & Komodakis 2016 WRN-d-k: 3×3 conv (16), three groups of (d − 4)/6 blocks with 16k,
    32k, 64k channels (stride 2 at the start of groups 2 and 3), norm-ReLU, global average pool,
    dropout with probability ``dropout`` (none when 0), linear."""

    def __init__(
        self,
        depth: int,
        widen: int,
        input_shape: tuple[int, int, int],
        num_classes: int,
        norm: str,
        ghost: int | None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(input_shape[0], 16, 3, 1, 1, bias=norm == "skipinit")
        layers: list[nn.Module] = []
        inputs = 16
        for group, width in enumerate((16 * widen, 32 * widen, 64 * widen)):
            for block in range((depth - 4) // 6):
                layers.append(_WideBlock(inputs, width, 2 if group > 0 and block == 0 else 1, norm, ghost))
                inputs = width
        self.blocks = nn.Sequential(*layers)
        self.norm = nn.Identity() if norm == "skipinit" else GhostBatchNorm2d(inputs, ghost)
        self.dropout = SeededDropout(dropout) if dropout else nn.Identity()
        self.fc = nn.Linear(inputs, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(F.relu(self.norm(self.blocks(self.conv(x)))).mean(dim=(2, 3))))


@register_model_spec
@dataclass(frozen=True)
class WideResNetSpec(DataclassSpec):
    """WRN-``depth``-``widen_factor`` (depth = 6n + 4) with ``norm``: "batch" (ordinary batch norm),
    "ghost" (ghost batch norm, ``ghost_batch_size`` defaulting to 64 as in Smith, Elsen & De 2020 §3.2)
    or "skipinit" (no normalisation; De & Smith 2020). ``dropout``: the probability of dropout on the
    pooled features before the final linear layer (0: none); SkipInit with dropout there is De & Smith's
    "Regularized SkipInit", which Smith, Elsen & De 2020 §5 and §7 use without batch norm."""

    type: ClassVar[str] = "WideResNetSpec"
    depth: int = 16
    widen_factor: int = 4
    num_classes: int = 10
    norm: Norm = "batch"
    ghost_batch_size: int | None = None
    input_shape: tuple[int, int, int] = CIFAR_SHAPE
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.norm == "ghost" and self.ghost_batch_size is None:
            object.__setattr__(self, "ghost_batch_size", DEFAULT_GHOST_BATCH_SIZE)
        if self.norm != "ghost" and self.ghost_batch_size is not None:
            raise ValueError(f"ghost_batch_size needs norm='ghost', got norm={self.norm!r}")
        _check_common(self)
        if not (_int_at_least(self.depth, 10) and self.depth % 6 == 4):
            raise ValueError(f"Wide-ResNet depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, …), got {self.depth!r}")
        if not _int_at_least(self.widen_factor, 1):
            raise ValueError(f"widen_factor must be a positive int, got {self.widen_factor!r}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, int | float) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1), got {self.dropout!r}")

    def build(self) -> nn.Module:
        model = WideResNet(
            self.depth,
            self.widen_factor,
            self.input_shape,
            self.num_classes,
            self.norm,
            self.ghost_batch_size,
            self.dropout,
        )
        _he_init(model)
        if isinstance(model.dropout, SeededDropout):
            model.dropout.reseed()  # after every parameter is drawn
        return model


def wrn_16_4(
    norm: Norm = "batch", num_classes: int = 10, ghost_batch_size: int | None = None, dropout: float = 0.0
) -> WideResNetSpec:
    """The 16-4 Wide-ResNet of Smith, Elsen & De 2020 (CIFAR-10). P = 2,748,890 with (ghost) batch norm,
    2,747,536 with SkipInit (conv biases and 6 branch scalars instead of the batch-norm scales/shifts)."""
    return WideResNetSpec(16, 4, num_classes, norm, ghost_batch_size, CIFAR_SHAPE, dropout)


def regularized_skipinit_wrn_16_4(num_classes: int = 10) -> WideResNetSpec:
    """The 16-4 Wide-ResNet with "Regularized SkipInit" (De & Smith 2020; Smith, Elsen & De 2020 §5: "To
    ensure training is stable without batch normalization we use the 'Regularized SkipInit' initialization
    scheme"): no normalisation, a learnable scalar initialised to 0 at the end of every residual branch,
    biases in the convolutions, and dropout before the final linear layer. The drop probability,
    ``REGULARIZED_SKIPINIT_DROPOUT``, is not stated by Smith, Elsen & De; it is this project's reading of
    De & Smith 2020, whose text is not in this repository — a choice, not a quoted number."""
    return wrn_16_4("skipinit", num_classes, dropout=REGULARIZED_SKIPINIT_DROPOUT)
