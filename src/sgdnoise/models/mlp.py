"""Fully connected models (Smith & Le 2018; Jastrzębski et al. 2018; Smith, Elsen & De 2020 §3.2).

- logistic regression (Smith & Le 2018 §3): ``MLPSpec(input_dim, hidden=())``;
- MLPs with ReLU and optional (ghost) batch norm;
- the Smith & Le 2018 §4 shallow net: 784 → 800 ReLU → 10 (P = 636,010);
- Jastrzębski et al.'s 4-layer batch-normalised ReLU MLP on Fashion-MNIST (§4.1).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from sgdnoise.models.norm import GhostBatchNorm1d
from sgdnoise.models.spec import register_model_spec

InitScheme = Literal["pytorch", "glorot"]
INIT_SCHEMES: tuple[str, ...] = ("pytorch", "glorot")


class MLP(nn.Module):
    """Fully connected ReLU network ``input → hidden… → classes`` (logits out). Inputs of any shape
    ``[n, ...]`` are flattened. With batch norm each hidden layer is Linear → BN → ReLU."""

    def __init__(
        self,
        input_dim: int,
        hidden: tuple[int, ...],
        num_classes: int,
        batch_norm: bool = False,
        ghost_batch_size: int | None = None,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = input_dim
        for size in hidden:
            layers.append(nn.Linear(width, size))
            if batch_norm:
                layers.append(GhostBatchNorm1d(size, ghost_batch_size))
            layers.append(nn.ReLU())
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


@register_model_spec
@dataclass(frozen=True)
class MLPSpec:
    """An MLP (``hidden=()`` is multinomial logistic regression).

    ``init="pytorch"`` keeps ``nn.Linear``'s default (Kaiming-uniform weights with a=√5, uniform
    biases ±1/√fan_in); ``init="glorot"`` is TensorFlow's default: Glorot/Xavier-uniform weights,
    zero biases.
    """

    type: ClassVar[str] = "MLPSpec"
    input_dim: int
    hidden: tuple[int, ...] = ()
    num_classes: int = 10
    batch_norm: bool = False
    ghost_batch_size: int | None = None
    init: InitScheme = "pytorch"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))
        if not (isinstance(self.input_dim, int) and self.input_dim > 0):
            raise ValueError(f"input_dim must be a positive int, got {self.input_dim!r}")
        if not all(isinstance(h, int) and h > 0 for h in self.hidden):
            raise ValueError(f"hidden sizes must be positive ints, got {self.hidden!r}")
        if not (isinstance(self.num_classes, int) and self.num_classes >= 2):
            raise ValueError(f"num_classes must be an int >= 2, got {self.num_classes!r}")
        if self.init not in INIT_SCHEMES:
            raise ValueError(f"init must be one of {INIT_SCHEMES}, got {self.init!r}")
        if self.ghost_batch_size is not None and not self.batch_norm:
            raise ValueError("ghost_batch_size needs batch_norm=True")
        if self.ghost_batch_size is not None and self.ghost_batch_size < 2:
            raise ValueError(f"ghost_batch_size must be >= 2, got {self.ghost_batch_size}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example after flattening: ``(input_dim,)`` (any ``[n, ...]`` input is flattened)."""
        return (self.input_dim,)

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """(input_dim, *hidden, num_classes)."""
        return (self.input_dim, *self.hidden, self.num_classes)

    @property
    def num_parameters(self) -> int:
        """Trainable parameter count (weights, biases and BN scales/shifts)."""
        sizes = self.layer_sizes
        count = sum(a * b + b for a, b in itertools.pairwise(sizes))
        return count + (2 * sum(self.hidden) if self.batch_norm else 0)

    def build(self) -> nn.Module:
        """A freshly initialised ``MLP`` (draws from torch's global RNG; see ``build_model``)."""
        model = MLP(self.input_dim, self.hidden, self.num_classes, self.batch_norm, self.ghost_batch_size)
        if self.init == "glorot":
            for module in model.modules():
                if isinstance(module, nn.Linear):
                    nn.init.xavier_uniform_(module.weight)
                    nn.init.zeros_(module.bias)
        return model

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self), "hidden": list(self.hidden)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MLPSpec:
        kwargs = {k: v for k, v in data.items() if k != "type"}
        kwargs["hidden"] = tuple(kwargs.get("hidden", ()))
        return cls(**kwargs)


def logistic_regression(input_dim: int, num_classes: int = 2, init: InitScheme = "pytorch") -> MLPSpec:
    """Multinomial logistic regression (softmax of an affine map), Smith & Le 2018 §3."""
    return MLPSpec(input_dim=input_dim, hidden=(), num_classes=num_classes, init=init)


def smith_le_shallow_net(init: InitScheme = "glorot") -> MLPSpec:
    """Smith & Le 2018 §4: 784 → 800 ReLU → 10 on MNIST, P = 636,010. Default init is Glorot-uniform
    (TensorFlow's default; the paper used TensorFlow, App. D), ``init="pytorch"`` for torch's."""
    return MLPSpec(input_dim=784, hidden=(800,), num_classes=10, init=init)


def jastrzebski_bn_mlp(
    input_dim: int = 784,
    width: int = 256,
    depth: int = 4,
    num_classes: int = 10,
    ghost_batch_size: int | None = None,
    init: InitScheme = "pytorch",
) -> MLPSpec:
    """Jastrzębski et al. 2018 §4.1 / Fig. 1: a "4 layer Batch Normalized ReLU MLP" on Fashion-MNIST.

    The paper (incl. App. F) states neither the widths nor whether "4 layer" counts hidden layers.
    We read it as ``depth`` = 4 hidden Linear → BN → ReLU layers (the 20-layer net of App. F.1 is then
    20 hidden layers) of ``width`` = 256 units, the width the paper gives for its other MLP (§4.3,
    "similar to Arpit et al. 2017, but with 256 hidden units"): 784 → 256 ×4 → 10, P = 402,954.
    """
    if not (isinstance(width, int) and width > 0 and isinstance(depth, int) and depth > 0):
        raise ValueError(f"width and depth must be positive ints, got width={width!r}, depth={depth!r}")
    return MLPSpec(input_dim, (width,) * depth, num_classes, True, ghost_batch_size, init)
