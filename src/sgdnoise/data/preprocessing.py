"""Input preprocessing fitted on the training split: standardisation (per feature or per channel), pooling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from sgdnoise.data.containers import TaskData

__all__ = ["Standardizer", "average_pool", "standardize"]

Per = Literal["feature", "channel"]


@dataclass(frozen=True)
class Standardizer:
    """Affine map (x - mean) / std fitted on a training set (population std, ddof=0).

    ``per="feature"`` fits one mean/std per input coordinate; ``per="channel"`` one per channel (axis 1
    of images ``[N, C, H, W]``, statistics over examples and pixels: the usual CIFAR normalisation).
    Features with zero spread (e.g. MNIST's constant border pixels) are only centred (std taken as 1).
    """

    mean: Tensor
    std: Tensor

    @classmethod
    def fit(cls, x: Tensor, per: Per = "feature") -> Standardizer:
        if x.ndim < 1 or x.shape[0] < 1:
            raise ValueError("cannot fit a standardizer on an empty tensor")
        if per == "feature":
            dims: tuple[int, ...] = (0,)
        elif per == "channel":
            if x.ndim < 3:
                raise ValueError(f"per='channel' needs inputs [N, C, ...], got shape {tuple(x.shape)}")
            dims = (0, *range(2, x.ndim))
        else:
            raise ValueError(f"per must be 'feature' or 'channel', got {per!r}")
        mean = x.mean(dim=dims, keepdim=True)[0]
        std = x.std(dim=dims, correction=0, keepdim=True)[0]
        return cls(mean, torch.where(std > 0, std, torch.ones_like(std)))

    def __call__(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


def standardize(task: TaskData, per: Per = "feature") -> TaskData:
    """Standardise every split with the training split's statistics (per feature or per channel)."""
    standardizer = Standardizer.fit(task.train.x, per)
    return task.map_splits(
        lambda split: split.with_inputs(standardizer(split.x)),
        {**task.meta, "standardized": f"per-{per}, train statistics"},
    )


def average_pool(task: TaskData, size: int) -> TaskData:
    """Every split's images averaged over non-overlapping ``size``×``size`` blocks (28×28 → 14×14 for 2).

    Works on ``[N, H, W]``, ``[N, C, H, W]`` or flattened square images ``[N, H·W]`` (kept flattened).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"pool size must be a positive int, got {size!r}")

    def pool(x: Tensor) -> Tensor:
        if x.ndim == 2:
            side = round(x.shape[1] ** 0.5)
            if side * side != x.shape[1]:
                raise ValueError(f"flattened inputs of {x.shape[1]} features are not square images")
            return pool(x.reshape(-1, side, side)).reshape(x.shape[0], -1)
        if x.ndim == 3:
            return pool(x.unsqueeze(1)).squeeze(1)
        if x.ndim != 4 or x.shape[-1] % size or x.shape[-2] % size:
            raise ValueError(f"cannot pool inputs of shape {tuple(x.shape)} in {size}×{size} blocks")
        return torch.nn.functional.avg_pool2d(x, size)

    return task.map_splits(lambda split: split.with_inputs(pool(split.x)), {**task.meta, "pooled": size})
