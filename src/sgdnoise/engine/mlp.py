"""Fast path: a group of ReLU MLPs, with or without (ghost) batch norm, with stacked parameters, batched
matmuls and a hand-written backward.

It beats the general path (torch.func.vmap + autograd) and a plain one-run loop because it skips
autograd bookkeeping, per-step allocations and the input gradient, and multiplies the R runs' small
matrices in one batched call (benchmarks/engine.py; numbers in the README), so the engine uses it for
every ``MLPSpec`` and keeps the general path for everything else.

Parameters of all R runs live in one flat ``[R, P]`` buffer (per run and layer: W as [in, out], b, and
after a hidden layer with batch norm its γ, β) so the optimiser update is a couple of vector ops; layer
weights are strided views of it. Batch norm (Ioffe & Szegedy 2015; ghost batches of Hoffer et al. 2017
as in Smith, Elsen & De 2020 §3.2) follows ``models.GhostBatchNorm1d`` exactly: per ghost batch
ẑ = (z − μ)/√(σ² + eps) with the biased variance, output γẑ + β, running averages (one per run) updated
with the mean over ghost batches of μ and of the unbiased variance; eval mode uses them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sgdnoise.models import MLP, MLPSpec


def fast_path_supports(spec: object) -> bool:
    """True for the models this path trains: every ``MLPSpec``."""
    return isinstance(spec, MLPSpec)


@dataclass(frozen=True)
class _Layer:
    """Offsets of one layer's parameters in a run's flat vector (γ/β offsets None without batch norm)."""

    weight: int
    bias: int
    fan_in: int
    fan_out: int
    gamma: int | None
    beta: int | None


@dataclass(frozen=True)
class _Norm:
    """A hidden layer's batch norm: its module's constants and state-dict prefix."""

    name: str
    ghost: int | None
    momentum: float
    eps: float


class StackedMLP:
    """R copies of an MLP trained together. ``loss_and_grad`` computes each run's mean cross-entropy on
    its own minibatch and writes the gradients (forward + weight gradients only: the input gradient is
    never formed, 4·B·P FLOPs per run-step) into ``self.grad``."""

    def __init__(
        self, spec: MLPSpec, models: list[nn.Module], train_x: torch.Tensor, train_y: torch.Tensor, max_batch: int
    ) -> None:
        if not fast_path_supports(spec):
            raise ValueError("the MLP fast path needs an MLPSpec")
        if not all(isinstance(model, MLP) for model in models):
            raise TypeError("the MLP fast path needs models built from an MLPSpec")
        self.sizes = spec.layer_sizes
        self.train_x = train_x.reshape(train_x.shape[0], -1)
        self.train_y = train_y
        device, dtype = self.train_x.device, self.train_x.dtype
        linear_names = [name for name, m in models[0].named_modules() if isinstance(m, nn.Linear)]
        norm_modules = [(name, m) for name, m in models[0].named_modules() if hasattr(m, "running_mean")]
        self._linear_names = linear_names
        self._norms = [_Norm(name, m.ghost_batch_size, float(m.momentum), float(m.eps)) for name, m in norm_modules]
        self._layout: list[_Layer] = []
        offset = 0
        for index, (fan_in, fan_out) in enumerate(zip(self.sizes, self.sizes[1:], strict=False)):
            normed = spec.batch_norm and index < len(self.sizes) - 2
            weight, bias = offset, offset + fan_in * fan_out
            offset = bias + fan_out
            gamma, beta = (offset, offset + fan_out) if normed else (None, None)
            offset += 2 * fan_out if normed else 0
            self._layout.append(_Layer(weight, bias, fan_in, fan_out, gamma, beta))
        self.num_parameters = offset
        self.params = torch.empty(len(models), offset, device=device, dtype=dtype)
        self.running: list[tuple[torch.Tensor, torch.Tensor]] = []  # per batch-norm layer: [R, F] mean, var
        for run, model in enumerate(models):
            modules = dict(model.named_modules())
            norms = iter(self._norms)
            for layer, name in zip(self._layout, linear_names, strict=True):
                linear = modules[name]
                self.params[run, layer.weight : layer.bias] = linear.weight.detach().t().reshape(-1)
                self.params[run, layer.bias : layer.bias + layer.fan_out] = linear.bias.detach()
                if layer.gamma is not None and layer.beta is not None:
                    norm = modules[next(norms).name]
                    self.params[run, layer.gamma : layer.beta] = norm.weight.detach()
                    self.params[run, layer.beta : layer.beta + layer.fan_out] = norm.bias.detach()
        for norm in self._norms:
            stacked = [dict(m.named_modules())[norm.name] for m in models]
            mean = torch.stack([m.running_mean.detach() for m in stacked]).clone()
            var = torch.stack([m.running_var.detach() for m in stacked]).clone()
            self.running.append((mean, var))
        self.grad = torch.zeros_like(self.params)
        runs = len(models)
        self._max_rows = runs * max_batch
        self._x_buffer = torch.empty(self._max_rows * self.sizes[0], device=device, dtype=dtype)
        self._act_buffers = [torch.empty(self._max_rows * w, device=device, dtype=dtype) for w in self.sizes[1:]]
        self._delta_buffers = [torch.empty(self._max_rows * w, device=device, dtype=dtype) for w in self.sizes[1:-1]]
        self._normed_buffers = [
            torch.empty(self._max_rows * layer.fan_out, device=device, dtype=dtype) if layer.gamma is not None else None
            for layer in self._layout
        ]
        self._minus_one = torch.full((self._max_rows, 1), -1.0, device=device, dtype=dtype)
        self._refresh_views()

    @property
    def runs(self) -> int:
        return self.params.shape[0]

    def _views(self, flat: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        """Per layer (W [R, in, out], b [R, 1, out]) plus (γ, β) [R, 1, out] after batch norm."""
        runs = flat.shape[0]
        views: list[tuple[torch.Tensor, ...]] = []
        for layer in self._layout:
            weight = flat[:, layer.weight : layer.bias].view(runs, layer.fan_in, layer.fan_out)
            bias = flat[:, layer.bias : layer.bias + layer.fan_out].view(runs, 1, layer.fan_out)
            if layer.gamma is None or layer.beta is None:
                views.append((weight, bias))
            else:
                gamma = flat[:, layer.gamma : layer.beta].view(runs, 1, layer.fan_out)
                beta = flat[:, layer.beta : layer.beta + layer.fan_out].view(runs, 1, layer.fan_out)
                views.append((weight, bias, gamma, beta))
        return views

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

    def _ghost(self, norm: _Norm, batch: int) -> int:
        ghost = batch if norm.ghost is None else min(norm.ghost, batch)
        if batch % ghost or ghost < 2:
            raise ValueError(
                f"batch norm in training needs batches of >= 2 examples that are a multiple of the ghost batch "
                f"size; got batch {batch}, ghost batch {ghost}"
            )
        return ghost

    @torch.no_grad()
    def _normalise_(self, z: torch.Tensor, norm: _Norm, running: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """z ([R, B, F]) ← ẑ in place, per ghost batch; update the running averages; returns 1/√(σ²+eps)
        per ghost batch ([R, G, 1, F])."""
        runs, batch, features = z.shape
        ghost = self._ghost(norm, batch)
        groups = z.view(runs, batch // ghost, ghost, features)
        mean = groups.mean(dim=2, keepdim=True)
        groups.sub_(mean)
        var = groups.square().mean(dim=2, keepdim=True)
        inv_std = var.add(norm.eps).rsqrt_()
        groups.mul_(inv_std)
        running_mean, running_var = running
        running_mean.mul_(1.0 - norm.momentum).add_(mean.mean(dim=(1, 2)), alpha=norm.momentum)
        unbiased = var.mean(dim=(1, 2)).mul_(ghost / (ghost - 1))
        running_var.mul_(1.0 - norm.momentum).add_(unbiased, alpha=norm.momentum)
        return inv_std

    def loss_and_grad(
        self, x: torch.Tensor, y: torch.Tensor, velocity: torch.Tensor | None = None, momentum: float = 0.0
    ) -> torch.Tensor:
        """Per-run mean cross-entropy of the minibatches ``x`` ([R, B, D]), ``y`` ([R, B]); gradients of
        it go to ``self.grad``. Backward by hand: dlogits = (softmax − onehot)/B, ReLU masks, batch norm
        dz = (1/√(σ²+eps))·(dẑ − mean(dẑ) − ẑ·mean(dẑ·ẑ)) per ghost batch with dẑ = γ·dout, weight
        gradients by batched matmul.

        With ``velocity`` ([R, P], laid out like ``params``) the gradient is instead accumulated into
        it as ``velocity ← momentum·velocity + g`` inside the weight-gradient matmul (``baddbmm`` with
        ``beta=momentum``): the momentum step of App. D eq. 29 without writing and re-reading ``g``,
        which at small B is most of a step's memory traffic."""
        runs, batch = y.shape
        rows = runs * batch
        targets = y.view(runs, batch, 1)
        activations = [x]
        normed: list[tuple[torch.Tensor, torch.Tensor] | None] = []
        norms = iter(zip(self._norms, self.running, strict=True))
        last = len(self._layout) - 1
        for layer, views in enumerate(self._param_views):
            weight, bias = views[0], views[1]
            width = weight.shape[2]
            out = self._act_buffers[layer][: rows * width].view(runs, batch, width)
            if len(views) == 2:
                torch.baddbmm(bias, activations[-1], weight, out=out)
                normed.append(None)
            else:
                buffer = self._normed_buffers[layer]
                assert buffer is not None
                z_hat = buffer[: rows * width].view(runs, batch, width)
                torch.baddbmm(bias, activations[-1], weight, out=z_hat)
                norm, running = next(norms)
                inv_std = self._normalise_(z_hat, norm, running)
                torch.addcmul(views[3], z_hat, views[2], out=out)
                normed.append((z_hat, inv_std))
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
            grads = targets_views[layer]
            saved = normed[layer]
            if saved is not None:  # delta = dL/d(γẑ + β) → dL/dz
                z_hat, inv_std = saved
                self._accumulate(grads[2], (delta * z_hat).sum(dim=1, keepdim=True), velocity, momentum)
                self._accumulate(grads[3], delta.sum(dim=1, keepdim=True), velocity, momentum)
                delta.mul_(self._param_views[layer][2])
                shape = (runs, inv_std.shape[1], -1, delta.shape[2])
                groups, hat = delta.view(shape), z_hat.view(shape)
                projection = (groups * hat).mean(dim=2, keepdim=True)
                groups.sub_(groups.mean(dim=2, keepdim=True)).sub_(hat * projection).mul_(inv_std)
            grad_weight, grad_bias = grads[0], grads[1]
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

    @staticmethod
    def _accumulate(target: torch.Tensor, value: torch.Tensor, velocity: torch.Tensor | None, momentum: float) -> None:
        if velocity is None:
            target.copy_(value)
        else:
            target.mul_(momentum).add_(value)

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed cross-entropy and number of correct predictions of every run on (x, y): ([R], [R]),
        batch norm with the running averages (eval mode)."""
        h = x.reshape(x.shape[0], -1)
        last = len(self._param_views) - 1
        norms = iter(zip(self._norms, self.running, strict=True))
        for layer, views in enumerate(self._param_views):
            h = torch.matmul(h, views[0]).add_(views[1])
            if len(views) == 4:
                norm, (mean, var) = next(norms)
                scale = var.add(norm.eps).rsqrt_().unsqueeze(1)
                h = h.sub_(mean.unsqueeze(1)).mul_(scale).mul_(views[2]).add_(views[3])
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
        self.running = [(mean[mask].contiguous(), var[mask].contiguous()) for mean, var in self.running]
        self._refresh_views()

    def state_dict(self, run: int) -> dict[str, torch.Tensor]:
        """The ``nn.Module`` state dict of run ``run`` (loadable into ``spec.build()``)."""
        state = {}
        norms = iter(zip(self._norms, self.running, strict=True))
        for views, name in zip(self._param_views, self._linear_names, strict=True):
            state[f"{name}.weight"] = views[0][run].t().clone()
            state[f"{name}.bias"] = views[1][run, 0].clone()
            if len(views) == 4:
                norm, (mean, var) = next(norms)
                state[f"{norm.name}.weight"] = views[2][run, 0].clone()
                state[f"{norm.name}.bias"] = views[3][run, 0].clone()
                state[f"{norm.name}.running_mean"] = mean[run].clone()
                state[f"{norm.name}.running_var"] = var[run].clone()
        return state
