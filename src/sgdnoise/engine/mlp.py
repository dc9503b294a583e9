"""Fast path: a group of ReLU MLPs (no batch norm) with stacked parameters, batched matmuls and a
hand-written backward.

Measured on the shared 2-core CPU (benchmarks/engine.py, Smith & Le 784-800-10, "vmap st/s" column):
this path beats the general path (torch.func.vmap + autograd) at every batch size — e.g. 41 vs 24
model-steps/s at B = 10 (R = 4), 133 vs 118 at B = 300 (R = 1), one process — because it skips autograd
bookkeeping, per-step allocations and the input gradient; so the engine uses it for every MLP without
batch norm and keeps vmap for everything else.

Parameters of all R runs live in one flat ``[R, P]`` buffer (per run: W₁ as [in, out], b₁, W₂, b₂, …)
so the optimiser update is a couple of vector ops; layer weights are strided views of it.
"""

from __future__ import annotations

import torch
from torch import nn

from sgdnoise.models import MLP, MLPSpec


def fast_path_supports(spec: object) -> bool:
    """True for the MLPs this path trains: ``MLPSpec`` without batch norm."""
    return isinstance(spec, MLPSpec) and not spec.batch_norm


class StackedMLP:
    """R copies of an MLP trained together. ``loss_and_grad`` computes each run's mean cross-entropy on
    its own minibatch and writes the gradients (forward + weight gradients only: the input gradient is
    never formed, 4·B·P FLOPs per run-step) into ``self.grad``."""

    def __init__(
        self, spec: MLPSpec, models: list[nn.Module], train_x: torch.Tensor, train_y: torch.Tensor, max_batch: int
    ) -> None:
        if not fast_path_supports(spec):
            raise ValueError("the MLP fast path needs an MLPSpec without batch norm")
        self.sizes = spec.layer_sizes
        self.train_x = train_x.reshape(train_x.shape[0], -1)
        self.train_y = train_y
        device, dtype = self.train_x.device, self.train_x.dtype
        self._layout: list[tuple[int, int, int, int]] = []  # (weight offset, bias offset, in, out)
        offset = 0
        for fan_in, fan_out in zip(self.sizes, self.sizes[1:], strict=False):
            self._layout.append((offset, offset + fan_in * fan_out, fan_in, fan_out))
            offset += fan_in * fan_out + fan_out
        self.num_parameters = offset
        self._state_names = [
            (f"{name}.weight", f"{name}.bias")
            for name, module in models[0].named_modules()
            if isinstance(module, nn.Linear)
        ]
        self.params = torch.empty(len(models), offset, device=device, dtype=dtype)
        for run, model in enumerate(models):
            if not isinstance(model, MLP):
                raise TypeError("the MLP fast path needs models built from an MLPSpec")
            linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
            for (w_off, b_off, _fan_in, fan_out), linear in zip(self._layout, linears, strict=True):
                self.params[run, w_off:b_off] = linear.weight.detach().t().reshape(-1)
                self.params[run, b_off : b_off + fan_out] = linear.bias.detach()
        self.grad = torch.zeros_like(self.params)
        runs = len(models)
        self._max_rows = runs * max_batch
        self._x_buffer = torch.empty(self._max_rows * self.sizes[0], device=device, dtype=dtype)
        self._act_buffers = [torch.empty(self._max_rows * w, device=device, dtype=dtype) for w in self.sizes[1:]]
        self._delta_buffers = [torch.empty(self._max_rows * w, device=device, dtype=dtype) for w in self.sizes[1:-1]]
        self._minus_one = torch.full((self._max_rows, 1), -1.0, device=device, dtype=dtype)
        self._refresh_views()

    @property
    def runs(self) -> int:
        return self.params.shape[0]

    def _views(self, flat: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        runs = flat.shape[0]
        return [
            (flat[:, w:b].view(runs, fan_in, fan_out), flat[:, b : b + fan_out].view(runs, 1, fan_out))
            for w, b, fan_in, fan_out in self._layout
        ]

    def _refresh_views(self) -> None:
        self._param_views = self._views(self.params)
        self._grad_views = self._views(self.grad)

    def gather(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The minibatches ``train[indices[r]]`` as ([R, B, D] in a reused buffer, [R, B])."""
        runs, batch = indices.shape
        rows = runs * batch
        flat_indices = indices.reshape(-1)
        x = self._x_buffer[: rows * self.sizes[0]].view(runs, batch, self.sizes[0])
        torch.index_select(self.train_x, 0, flat_indices, out=x.view(rows, self.sizes[0]))
        return x, self.train_y.index_select(0, flat_indices).view(runs, batch)

    def loss_and_grad(
        self, x: torch.Tensor, y: torch.Tensor, velocity: torch.Tensor | None = None, momentum: float = 0.0
    ) -> torch.Tensor:
        """Per-run mean cross-entropy of the minibatches ``x`` ([R, B, D]), ``y`` ([R, B]); gradients of
        it go to ``self.grad``. Backward by hand: dlogits = (softmax − onehot)/B, ReLU masks, weight
        gradients by batched matmul.

        With ``velocity`` ([R, P], laid out like ``params``) the gradient is instead accumulated into
        it as ``velocity ← momentum·velocity + g`` inside the weight-gradient matmul (``baddbmm`` with
        ``beta=momentum``): the momentum step of App. D eq. 29 without writing and re-reading ``g``,
        which at small B is most of a step's memory traffic."""
        runs, batch = y.shape
        rows = runs * batch
        targets = y.view(runs, batch, 1)
        activations = [x]
        last = len(self._layout) - 1
        for layer, (weight, bias) in enumerate(self._param_views):
            width = weight.shape[2]
            out = self._act_buffers[layer][: rows * width].view(runs, batch, width)
            torch.baddbmm(bias, activations[-1], weight, out=out)
            if layer < last:
                out.relu_()
            activations.append(out)
        logits = activations.pop()
        log_norm = torch.logsumexp(logits, dim=2, keepdim=True)
        loss = (log_norm - logits.gather(2, targets)).mean(dim=(1, 2))
        delta = logits.sub_(log_norm).exp_()  # softmax, in place over the logits
        delta.scatter_add_(2, targets, self._minus_one[:rows].view(runs, batch, 1)).mul_(1.0 / batch)
        targets_views = self._grad_views if velocity is None else self._views(velocity)
        for layer in range(last, -1, -1):
            grad_weight, grad_bias = targets_views[layer]
            if velocity is None:
                torch.bmm(activations[layer].transpose(1, 2), delta, out=grad_weight)
                torch.sum(delta, dim=1, keepdim=True, out=grad_bias)
            else:
                torch.baddbmm(grad_weight, activations[layer].transpose(1, 2), delta, beta=momentum, out=grad_weight)
                grad_bias.mul_(momentum).add_(delta.sum(dim=1, keepdim=True))
            if layer > 0:
                width = self.sizes[layer]
                upstream = self._delta_buffers[layer - 1][: rows * width].view(runs, batch, width)
                torch.bmm(delta, self._param_views[layer][0].transpose(1, 2), out=upstream)
                upstream.masked_fill_(activations[layer] <= 0, 0.0)
                delta = upstream
        return loss

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed cross-entropy and number of correct predictions of every run on (x, y): ([R], [R])."""
        h = x.reshape(x.shape[0], -1)
        last = len(self._param_views) - 1
        for layer, (weight, bias) in enumerate(self._param_views):
            h = torch.matmul(h, weight).add_(bias)
            if layer < last:
                h.relu_()
        log_norm = torch.logsumexp(h, dim=2)
        target_logit = h.gather(2, y.view(1, -1, 1).expand(h.shape[0], -1, 1)).squeeze(2)
        loss_sum = (log_norm - target_logit).sum(dim=1)
        correct = (h.argmax(dim=2) == y.view(1, -1)).sum(dim=1)
        return loss_sum, correct

    def keep(self, mask: torch.Tensor) -> None:
        """Drop the runs where ``mask`` is False."""
        self.params = self.params[mask].contiguous()
        self.grad = self.grad[mask].contiguous()
        self._refresh_views()

    def state_dict(self, run: int) -> dict[str, torch.Tensor]:
        """The ``nn.Module`` state dict of run ``run`` (loadable into ``spec.build()``)."""
        state = {}
        for (weight, bias), (weight_name, bias_name) in zip(self._param_views, self._state_names, strict=True):
            state[weight_name] = weight[run].t().clone()
            state[bias_name] = bias[run, 0].clone()
        return state
