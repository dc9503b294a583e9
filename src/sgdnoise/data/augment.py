"""Data augmentation for image batches ``[B, C, H, W]``, vectorised and reproducible on every device.

``"crop-flip"`` is the standard CIFAR recipe (used by the CIFAR-10 experiments of Smith, Elsen & De
2020, following He et al. 2016): pad 4 pixels of zeros on every side, take a random H×W crop, and flip
it horizontally with probability 1/2. The random numbers are drawn on the CPU from the ``generator``
passed in and only then moved to the batch's device, so a seed gives the same augmented batch on every
device.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["AUGMENTATIONS", "CROP_PADDING", "augment", "crop_flip"]

AUGMENTATIONS = ("crop-flip",)
CROP_PADDING = 4


def crop_flip(x: Tensor, generator: torch.Generator, padding: int = CROP_PADDING) -> Tensor:
    """Random crops of the zero-padded images (offsets uniform in 0..2·padding) then random h-flips.

    Output[b, :, i, j] = padded[b, :, dy_b + i, dx_b + j'] with j' = W-1-j when flip_b, else j.
    Draws, in this order: dy (B,), dx (B,), flip (B,) from ``generator``.
    """
    batch, _, height, width = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, batch), generator=generator)
    flips = torch.randint(0, 2, (batch,), generator=generator, dtype=torch.bool)
    rows = offsets[0, :, None] + torch.arange(height)  # [B, H]
    columns = torch.arange(width).expand(batch, width)
    columns = torch.where(flips[:, None], width - 1 - columns, columns) + offsets[1, :, None]  # [B, W]
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    device = x.device
    examples = torch.arange(batch, device=device)[:, None, None]
    # advanced indices on dims 0, 2, 3 separated by a slice: the result is [B, H, W, C]
    out = padded[examples, :, rows.to(device)[:, :, None], columns.to(device)[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


def augment(name: str, x: Tensor, generator: torch.Generator) -> Tensor:
    """The augmentation ``name`` (one of :data:`AUGMENTATIONS`) applied to images ``x`` of shape [B, C, H, W].

    ``generator`` must be a CPU ``torch.Generator``; the output has x's device, dtype and shape.
    """
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; choose one of {', '.join(AUGMENTATIONS)}")
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"augment needs images of shape [B, C, H, W], got {getattr(x, 'shape', type(x))}")
    if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
        raise ValueError("augment needs a CPU torch.Generator (random numbers are drawn on the CPU)")
    return crop_flip(x, generator)
