"""Batch norm and ghost batch norm written with plain tensor ops, so they run under
``torch.func.vmap`` with stacked (per-run) running statistics — the engine's general path. (``nn.BatchNorm*``
updates its running statistics inside ``F.batch_norm``, which vmap does not support.)

Ghost batch norm (Hoffer et al. 2017; Smith, Elsen & De 2020 §3.2, ghost batch size 64): training
statistics are computed separately on consecutive ghost batches of ``ghost_batch_size`` examples, so the
noise from batch statistics does not change with the batch size. ``ghost_batch_size=None`` is ordinary
batch norm: biased batch variance in the forward pass, unbiased variance in the running average
(identical to ``nn.BatchNorm1d``/``nn.BatchNorm2d`` in training and eval mode). With ghost batches the
running averages are updated once per call with the mean over ghost batches of their means and of
their unbiased variances.
"""

from __future__ import annotations

import torch
from torch import nn


class _GhostBatchNorm(nn.Module):
    """Shared implementation; subclasses fix the input rank (``_input_dims``, batch axis included)."""

    _input_dims: int

    def __init__(
        self, num_features: int, ghost_batch_size: int | None = None, momentum: float = 0.1, eps: float = 1e-5
    ) -> None:
        super().__init__()
        if not (isinstance(num_features, int) and num_features > 0):
            raise ValueError(f"num_features must be a positive int, got {num_features!r}")
        if ghost_batch_size is not None and not (isinstance(ghost_batch_size, int) and ghost_batch_size >= 2):
            raise ValueError(f"ghost_batch_size must be an int >= 2 (or None), got {ghost_batch_size!r}")
        self.ghost_batch_size = ghost_batch_size
        self.momentum = momentum
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != self._input_dims:
            raise ValueError(f"{type(self).__name__} expects {self._input_dims}-D input, got shape {tuple(x.shape)}")
        features = x.shape[1]
        per_feature = (features,) + (1,) * (x.ndim - 2)  # broadcast over spatial axes
        weight, bias = self.weight.view(per_feature), self.bias.view(per_feature)
        if not self.training:
            scale = torch.rsqrt(self.running_var.view(per_feature) + self.eps)
            return (x - self.running_mean.view(per_feature)) * scale * weight + bias
        batch = x.shape[0]
        ghost = batch if self.ghost_batch_size is None else min(self.ghost_batch_size, batch)
        if batch % ghost:
            raise ValueError(f"batch size {batch} is not a multiple of the ghost batch size {ghost}")
        groups = x.reshape(batch // ghost, ghost, *x.shape[1:])
        reduce = (1, *range(3, groups.ndim))  # ghost-batch axis and spatial axes
        count = ghost * x[0, 0].numel()  # values per feature in one ghost batch
        if count < 2:
            raise ValueError("batch norm needs at least 2 values per feature per (ghost) batch in training mode")
        mean = groups.mean(dim=reduce, keepdim=True)
        var = groups.var(dim=reduce, unbiased=False, keepdim=True)
        out = ((groups - mean) * torch.rsqrt(var + self.eps)).reshape(x.shape)
        with torch.no_grad():
            keep = 1.0 - self.momentum
            batch_mean = mean.reshape(batch // ghost, features).mean(dim=0)
            batch_var = var.reshape(batch // ghost, features).mean(dim=0) * (count / (count - 1))
            self.running_mean.mul_(keep).add_(batch_mean, alpha=self.momentum)
            self.running_var.mul_(keep).add_(batch_var, alpha=self.momentum)
        return out * weight + bias


class GhostBatchNorm1d(_GhostBatchNorm):
    """(Ghost) batch norm over the features of ``[batch, features]`` inputs (see the module docstring)."""

    _input_dims = 2


class GhostBatchNorm2d(_GhostBatchNorm):
    """Per-channel (ghost) batch norm of ``[batch, channels, height, width]`` inputs: statistics over
    the examples of each ghost batch and all spatial positions (see the module docstring)."""

    _input_dims = 4
