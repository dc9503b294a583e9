"""The protocol every backend implements: R runs of one architecture as one stacked state.

- ``StackedMLP`` (``engine.mlp``): ReLU MLPs without batch norm, batched matmuls, hand-written backward.
- ``StackedModule`` (``engine.general``): any ``nn.Module`` under ``torch.func.vmap`` with autograd.
- ``SingleModule`` (``engine.single``): one run as the plain ``nn.Module``, no vmap (a group of one).

The trainer (``engine.train``) only talks to this protocol: it gathers minibatches, asks for the loss and
gradient, applies the one SGD-with-momentum update to ``params``, evaluates, drops diverged runs and
reads a run's state back as an ``nn.Module`` state dict.
"""

from __future__ import annotations

from typing import Protocol

import torch


class Backend(Protocol):
    """R stacked runs. ``params`` and ``grad`` are flat ``[R, P]`` buffers (row r = run r)."""

    params: torch.Tensor
    grad: torch.Tensor

    def gather(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run r's minibatch ``train[indices[r]]`` for every run: inputs ``[R, B, ...]``, labels ``[R, B]``."""
        ...

    def loss_and_grad(
        self, x: torch.Tensor, y: torch.Tensor, velocity: torch.Tensor | None = None, momentum: float = 0.0
    ) -> torch.Tensor:
        """Per-run mean cross-entropy ``[R]`` of the minibatches; the gradient of each run's loss goes to
        ``grad``, or with ``velocity`` is accumulated as ``velocity ← momentum·velocity + g``."""
        ...

    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed cross-entropy ``[R]`` and number of correct predictions ``[R]`` of every run on (x, y),
        in eval mode."""
        ...

    def keep(self, mask: torch.Tensor) -> None:
        """Drop the runs where ``mask`` ([R] bool) is False."""
        ...

    def state_dict(self, run: int) -> dict[str, torch.Tensor]:
        """The ``nn.Module`` state dict of row ``run`` (loadable into a model built from the spec)."""
        ...
