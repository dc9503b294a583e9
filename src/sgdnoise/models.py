"""The papers' models as plain ``nn.Module``s, described by small serialisable specs.

A *spec* is a frozen dataclass with ``build() -> nn.Module`` and ``to_dict()``; ``model_spec_from_dict``
inverts it, so the engine and the store can key runs by their model. ``build_model(spec, seed)`` is
the one place that turns a seed into initial parameters (used by the engine and by reference loops).

- logistic regression (Smith & Le 2018 §3): ``MLPSpec(input_dim, hidden=())``;
- MLPs with ReLU and optional (ghost) batch norm (Jastrzębski et al. 2018; Smith, Elsen & De 2020 §3.2);
- the Smith & Le 2018 §4 shallow net: 784 → 800 ReLU → 10 (P = 636,010).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import torch
from torch import nn

InitScheme = Literal["pytorch", "glorot"]
INIT_SCHEMES: tuple[str, ...] = ("pytorch", "glorot")


@runtime_checkable
class ModelSpec(Protocol):
    """What the engine needs of a model description."""

    def build(self) -> nn.Module: ...

    def to_dict(self) -> dict[str, Any]: ...


_SPECS: dict[str, type] = {}


def register_model_spec(cls: type) -> type:
    """Class decorator: make ``model_spec_from_dict`` know ``cls`` (keyed by its class name)."""
    _SPECS[cls.__name__] = cls
    return cls


def model_spec_from_dict(data: dict[str, Any]) -> ModelSpec:
    """Inverse of ``spec.to_dict()`` for every registered spec class."""
    if not isinstance(data, dict) or "type" not in data:
        raise ValueError(f"a model spec dict needs a 'type' key, got {data!r}")
    kind = data["type"]
    if kind not in _SPECS:
        raise ValueError(f"unknown model spec type {kind!r}; known: {sorted(_SPECS)}")
    return _SPECS[kind].from_dict(data)


class GhostBatchNorm1d(nn.Module):
    """Batch norm over features whose training statistics are computed on ghost batches of
    ``ghost_batch_size`` examples (Hoffer et al. 2017; Smith, Elsen & De 2020 §3.2 use 64), so the
    noise from batch statistics does not change with the batch size. ``ghost_batch_size=None`` is
    ordinary batch norm (identical to ``nn.BatchNorm1d`` with biased batch variance in the forward
    pass and unbiased variance in the running average). Written with plain tensor ops so it also runs
    under ``torch.func.vmap`` with stacked (per-run) buffers.
    """

    def __init__(
        self, num_features: int, ghost_batch_size: int | None = None, momentum: float = 0.1, eps: float = 1e-5
    ) -> None:
        super().__init__()
        if ghost_batch_size is not None and ghost_batch_size < 2:
            raise ValueError(f"ghost_batch_size must be >= 2 (or None), got {ghost_batch_size}")
        self.ghost_batch_size = ghost_batch_size
        self.momentum = momentum
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            mean, var = self.running_mean, self.running_var
            return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias
        batch, features = x.shape
        ghost = batch if self.ghost_batch_size is None else min(self.ghost_batch_size, batch)
        if batch % ghost:
            raise ValueError(f"batch size {batch} is not a multiple of the ghost batch size {ghost}")
        if ghost < 2:
            raise ValueError("batch norm needs at least 2 examples per (ghost) batch in training mode")
        groups = x.reshape(batch // ghost, ghost, features)
        mean = groups.mean(dim=1, keepdim=True)
        var = groups.var(dim=1, unbiased=False, keepdim=True)
        out = ((groups - mean) * torch.rsqrt(var + self.eps)).reshape(batch, features)
        with torch.no_grad():
            unbiased = var * (ghost / (ghost - 1))
            keep = 1.0 - self.momentum
            self.running_mean.mul_(keep).add_(mean.mean(dim=0).reshape(features), alpha=self.momentum)
            self.running_var.mul_(keep).add_(unbiased.mean(dim=0).reshape(features), alpha=self.momentum)
        return out * self.weight + self.bias


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


def build_model(
    spec: ModelSpec, seed: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> nn.Module:
    """``spec.build()`` with torch's CPU RNG seeded by ``seed`` (global RNG state restored afterwards),
    then moved to ``device``/``dtype``. Parameters are drawn on the CPU in float32, so the same seed
    gives the same initial model on every device and dtype."""
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"spec must have build() and to_dict(), got {type(spec).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = spec.build()
    return model.to(device=device, dtype=dtype)
