"""General path: any ``nn.Module`` classifier, R runs stacked along a leading axis and evaluated with
``torch.func.functional_call`` under ``torch.func.vmap``; gradients by ordinary autograd.

Buffers (e.g. batch-norm running statistics) are stacked per run too, so train-mode batch norm updates
each run's own statistics; evaluation uses eval mode (running statistics). Parameters are views into
one flat ``[R, P]`` buffer and their ``.grad`` are views into one flat gradient buffer (autograd
accumulates into them in place), so the optimiser update is the same few vector ops as on the fast path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap


class StackedModule:
    """R copies of ``models[0]``'s architecture with the parameters and buffers of each model."""

    def __init__(self, models: list[nn.Module], train_x: torch.Tensor, train_y: torch.Tensor) -> None:
        self.template = models[0]
        self.train_x = train_x
        self.train_y = train_y
        named = [dict(m.named_parameters()) for m in models]
        self._names = list(named[0])
        self._shapes = [named[0][n].shape for n in self._names]
        sizes = [named[0][n].numel() for n in self._names]
        self._offsets = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
        self.num_parameters = self._offsets[-1]
        device, dtype = named[0][self._names[0]].device, named[0][self._names[0]].dtype
        self.params = torch.empty(len(models), self.num_parameters, device=device, dtype=dtype)
        for run, params in enumerate(named):
            for name, lo, hi in zip(self._names, self._offsets, self._offsets[1:], strict=False):
                self.params[run, lo:hi] = params[name].detach().reshape(-1)
        self.buffers = {
            name: torch.stack([dict(m.named_buffers())[name].detach() for m in models]).clone()
            for name, _ in self.template.named_buffers()
        }
        self.grad = torch.zeros_like(self.params)
        self._refresh_views()

        def logits(params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.template, (params, buffers), (x,))

        self._train_forward = vmap(logits, in_dims=(0, 0, 0))
        self._eval_forward = vmap(logits, in_dims=(0, 0, None))

    @property
    def runs(self) -> int:
        return self.params.shape[0]

    def _refresh_views(self) -> None:
        runs = self.params.shape[0]
        self._param_views: dict[str, torch.Tensor] = {}
        for name, shape, lo, hi in zip(self._names, self._shapes, self._offsets, self._offsets[1:], strict=False):
            view = self.params[:, lo:hi].view(runs, *shape).requires_grad_(True)
            view.grad = self.grad[:, lo:hi].view(runs, *shape)
            self._param_views[name] = view

    def gather(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The minibatches ``train[indices[r]]`` as ([R, B, *input shape], [R, B])."""
        runs, batch = indices.shape
        flat_indices = indices.reshape(-1)
        x = self.train_x.index_select(0, flat_indices).view(runs, batch, *self.train_x.shape[1:])
        return x, self.train_y.index_select(0, flat_indices).view(runs, batch)

    def loss_and_grad(
        self, x: torch.Tensor, y: torch.Tensor, velocity: torch.Tensor | None = None, momentum: float = 0.0
    ) -> torch.Tensor:
        """Per-run mean cross-entropy of the minibatches ``x`` ([R, B, ...]), ``y`` ([R, B]) in train
        mode (batch norm updates each run's running statistics); its gradient goes to ``self.grad``, or
        with ``velocity`` is accumulated as ``velocity ← momentum·velocity + g`` (App. D eq. 29)."""
        runs, batch = y.shape
        self.grad.zero_()
        self.template.train()
        with torch.enable_grad():
            logits = self._train_forward(self._param_views, self.buffers, x)
            loss = F.cross_entropy(logits.reshape(runs * batch, -1), y.reshape(-1), reduction="none").view(runs, batch)
            loss = loss.mean(dim=1)
            loss.sum().backward()
        if velocity is not None:
            velocity.mul_(momentum).add_(self.grad)
        return loss.detach()

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed cross-entropy and correct predictions of every run on (x, y), in eval mode."""
        self.template.eval()
        logits = self._eval_forward(self._param_views, self.buffers, x)
        self.template.train()
        runs, n = logits.shape[:2]
        loss = F.cross_entropy(logits.reshape(runs * n, -1), y.repeat(runs), reduction="none").view(runs, n)
        correct = (logits.argmax(dim=2) == y.view(1, -1)).sum(dim=1)
        return loss.sum(dim=1), correct

    def keep(self, mask: torch.Tensor) -> None:
        """Drop the runs where ``mask`` is False."""
        self.params = self.params[mask].contiguous()
        self.grad = self.grad[mask].contiguous()
        self.buffers = {name: value[mask].contiguous() for name, value in self.buffers.items()}
        self._refresh_views()

    def state_dict(self, run: int) -> dict[str, torch.Tensor]:
        """The ``nn.Module`` state dict of run ``run`` (loadable into a model built from the same spec)."""
        state = {name: view[run].detach().clone() for name, view in self._param_views.items()}
        state.update({name: value[run].clone() for name, value in self.buffers.items()})
        return state
