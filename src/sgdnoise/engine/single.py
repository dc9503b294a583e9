"""One-at-a-time path: a group of one run trained as the plain ``nn.Module`` it is — no vmap.

The module's parameters are replaced by views into one flat ``[1, P]`` buffer and their ``.grad`` by
views into one flat gradient buffer (autograd accumulates into them in place), so the optimiser update
is the same few vector ops as on the stacked paths, while forward and backward are exactly those of a
plain training loop. Buffers (batch-norm running statistics) stay the module's own and are updated by
its train-mode forward. ``torch.func.vmap`` over R stacked runs costs more per run than this for the
batch-norm MLPs and conv nets measured in benchmarks/engine.py --general, so the sweep trains those
models one run per group, one group per core (``sweep.planning.stacks_well``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SingleModule:
    """The ``Backend`` of one run: ``model`` itself, its parameters living in ``params[0]``."""

    def __init__(self, model: nn.Module, train_x: torch.Tensor, train_y: torch.Tensor) -> None:
        self.model = model
        self.train_x = train_x
        self.train_y = train_y
        named = list(model.named_parameters())
        sizes = [p.numel() for _, p in named]
        device, dtype = named[0][1].device, named[0][1].dtype
        self.params = torch.empty(1, sum(sizes), device=device, dtype=dtype)
        self.grad = torch.zeros_like(self.params)
        offset = 0
        for (name, parameter), size in zip(named, sizes, strict=True):
            self.params[0, offset : offset + size] = parameter.detach().reshape(-1)
            view = nn.Parameter(self.params[0, offset : offset + size].view(parameter.shape))
            view.grad = self.grad[0, offset : offset + size].view(parameter.shape)
            owner, _, attribute = name.rpartition(".")
            model.get_submodule(owner)._parameters[attribute] = view
            offset += size

    def gather(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The minibatch ``train[indices[0]]`` as ([1, B, *input shape], [1, B])."""
        flat = indices.reshape(-1)
        return self.train_x.index_select(0, flat).unsqueeze(0), self.train_y.index_select(0, flat).unsqueeze(0)

    def loss_and_grad(
        self, x: torch.Tensor, y: torch.Tensor, velocity: torch.Tensor | None = None, momentum: float = 0.0
    ) -> torch.Tensor:
        """Mean cross-entropy ``[1]`` of the minibatch in train mode; its gradient goes to ``grad``, or
        with ``velocity`` is accumulated as ``velocity ← momentum·velocity + g`` (App. D eq. 29)."""
        self.grad.zero_()
        self.model.train()
        with torch.enable_grad():
            loss = F.cross_entropy(self.model(x[0]), y[0])
            loss.backward()
        if velocity is not None:
            velocity.mul_(momentum).add_(self.grad)
        return loss.detach().view(1)

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed cross-entropy ``[1]`` and correct predictions ``[1]`` on (x, y), in eval mode."""
        self.model.eval()
        logits = self.model(x)
        self.model.train()
        loss = F.cross_entropy(logits, y, reduction="sum")
        return loss.view(1), (logits.argmax(dim=1) == y).sum().view(1)

    def keep(self, mask: torch.Tensor) -> None:
        """Drop the run when ``mask`` is False (the group is then empty)."""
        if not bool(mask.all()):
            self.params, self.grad = self.params[:0], self.grad[:0]

    def state_dict(self, run: int) -> dict[str, torch.Tensor]:
        """The module's state dict (parameters and buffers), cloned."""
        if run != 0 or self.params.shape[0] == 0:
            raise IndexError(f"a one-run group has no run {run}")
        return {name: value.detach().clone() for name, value in self.model.state_dict().items()}
