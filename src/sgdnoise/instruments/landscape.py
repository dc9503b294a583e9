"""The loss along the line between two parameter vectors (Goodfellow et al. 2014; Jastrzębski et al. 2018
§4.1, Fig. 2-3: L((1 − α)θ₁ + αθ₂) for α ∈ [−1, 2]), and how far out from an endpoint along that line
the loss stays below a threshold (``outward_width``, ``endpoint_widths``).
"""

import itertools
import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from sgdnoise.instruments._batches import (
    Batches,
    Data,
    LossFn,
    ParameterLayout,
    check_model_and_loss,
    forked_random_state,
    model_device_dtype,
    preserved_model,
    trainable_parameters,
)
from sgdnoise.instruments._mean_loss import checked_loss

ParamsLike = Mapping[str, Tensor] | nn.Module | Tensor


@dataclass(frozen=True, eq=False)
class InterpolationResult:
    """Dataset-mean loss (and accuracy, for class-index targets) at each α, all float64 on the CPU."""

    alphas: Tensor
    losses: Tensor
    accuracies: Tensor | None


def _named_parameters(params: ParamsLike, model: nn.Module, which: str) -> dict[str, Tensor]:
    reference = dict(model.named_parameters())
    if isinstance(params, nn.Module):
        params = dict(params.named_parameters())
    if isinstance(params, Tensor):
        trainable = ParameterLayout.of(trainable_parameters(model))
        every = ParameterLayout.of(reference)
        layout = trainable if params.shape == (trainable.dim,) else every if params.shape == (every.dim,) else None
        if layout is None:
            raise ValueError(
                f"{which} as a flat vector must cover the trainable parameters, shape ({trainable.dim},) as the "
                f"Hessian instruments' eigenvectors do, or all parameters, shape ({every.dim},); "
                f"got {tuple(params.shape)}"
            )
        params = {name: p.detach() for name, p in reference.items()} | layout.unflatten(params)
    if not isinstance(params, Mapping):
        raise TypeError(f"{which} must be a state dict, a module or a flat tensor, got {type(params).__name__}")
    missing = [n for n in reference if n not in params]
    if missing:
        raise ValueError(f"{which} lacks the model parameters {missing}")
    out = {}
    for name, p in reference.items():
        value = params[name]
        if value.shape != p.shape:
            raise ValueError(f"{which}[{name!r}] has shape {tuple(value.shape)}, the model has {tuple(p.shape)}")
        out[name] = value.detach().to(p.device, p.dtype, copy=True)  # may alias the model's own parameters
    return out


def running_statistics_layers(model: nn.Module) -> list[nn.Module]:
    """Layers that keep running statistics: ``nn.BatchNorm*`` tracking them, and any layer with
    ``running_mean`` and ``momentum`` (the models' plain-op ghost batch norm)."""
    return [
        m
        for m in model.modules()
        if isinstance(getattr(m, "running_mean", None), Tensor)
        and hasattr(m, "momentum")
        and getattr(m, "track_running_stats", True)
    ]


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, batches: Iterable[Tensor | tuple[Tensor, Tensor]]) -> None:
    """Replace every batch-norm layer's running statistics by their average over train-mode forward passes
    on ``batches`` (inputs, or (inputs, labels) pairs): the k-th batch enters with momentum 1/k, so the
    running mean and variance end as the plain mean over batches — the cumulative average of SWA's
    ``bn_update`` (Izmailov et al. 2018), for ``nn.BatchNorm*`` and ghost batch norm alike. The model's
    train/eval flag and the layers' momenta are restored. A model without such layers is not run (its dropout
    would draw from torch's generator for nothing)."""
    layers = running_statistics_layers(model)
    if not layers:
        return
    momenta = [m.momentum for m in layers]
    training = model.training
    try:
        model.train()
        for k, batch in enumerate(batches, start=1):
            for m in layers:
                m.momentum = 1.0 / k
            model(batch[0] if isinstance(batch, tuple | list) else batch)
    finally:
        for m, momentum in zip(layers, momenta, strict=True):
            m.momentum = momentum
        model.train(training)


@torch.no_grad()
def _evaluate(model: nn.Module, loss_fn: LossFn, batches: Batches) -> tuple[float, float | None]:
    loss_sum = 0.0
    correct = 0.0
    count = 0
    classification = True
    for x, y in batches:
        outputs = model(x)
        n = x.shape[0]
        loss_sum += float(checked_loss(loss_fn, outputs, y, finite=False)) * n  # far from θ_a, θ_b it may blow up
        # one score per class (a dict or ModelOutput: only loss_fn reads it; one logit: no argmax to take)
        logits = isinstance(outputs, Tensor) and outputs.ndim == 2 and outputs.shape[1] >= 2
        indices = y.ndim == 1 and not y.is_floating_point() and y.dtype != torch.bool
        classification = classification and logits and indices and bool(((y >= 0) & (y < outputs.shape[1])).all())
        if classification:
            correct += float((outputs.argmax(dim=1) == y).sum())
        count += n
    return loss_sum / count, (correct / count if classification else None)


def interpolate(
    params_a: ParamsLike,
    params_b: ParamsLike,
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    alphas: Tensor | Sequence[float] | None = None,
    *,
    bn_data: Data | None = None,
    train_mode: bool = False,
    chunk_size: int | None = None,
) -> InterpolationResult:
    """Loss L((1 − α)θ_a + αθ_b) of the dataset-mean loss at each α (default −1, −0.9, …, 2).

    ``params_a``/``params_b``: state dicts (parameters are taken by name; buffers ignored), modules of the same
    architecture, or flat vectors in ``named_parameters`` order: of the trainable parameters (as the Hessian
    instruments' eigenvectors; frozen ones keep the model's values) or of all parameters. ``model`` provides the
    architecture and is restored afterwards. When it has batch norm with running statistics and ``train_mode`` is
    False, the running statistics are re-estimated at every α from train-mode passes over ``bn_data`` (default:
    ``data``) before the eval-mode loss is measured. Outputs may be anything ``loss_fn`` takes (a tensor, a dict, a
    Hugging Face ``ModelOutput``); accuracy is reported when they are a ``[n, C]`` tensor of logits, C ≥ 2, and
    targets class indices in [0, C) (one logit has no argmax to take: no accuracy). α = 0 and α = 1 give θ_a and
    θ_b exactly (α within a few rounding errors of 0 or 1, as ``torch.linspace`` leaves it, is taken as the
    endpoint). Torch's random state is left as it was.
    """
    check_model_and_loss(model, loss_fn)
    if not isinstance(train_mode, bool):
        raise TypeError(f"train_mode must be True or False, got {train_mode!r}")
    if alphas is None:
        alphas = torch.arange(-10, 21, dtype=torch.float64) / 10  # -1.0, -0.9, ..., 2.0 with exact 0 and 1
    if not isinstance(alphas, Tensor):
        values = list(alphas) if isinstance(alphas, Iterable) and not isinstance(alphas, str | bytes) else None
        if values is None or not all(isinstance(a, numbers.Real) for a in values):
            raise ValueError(f"alphas must be a sequence of numbers or a tensor, got {alphas!r}")
        alphas = torch.tensor(values, dtype=torch.float64)
    if alphas.ndim != 1 or alphas.numel() == 0 or not alphas.is_floating_point():
        raise ValueError("alphas must be a non-empty 1-D sequence of floating interpolation coefficients")
    if not bool(torch.isfinite(alphas).all()):
        raise ValueError(f"alphas must be finite, got {alphas[~torch.isfinite(alphas)].tolist()}")
    # linspace rounding (1.5e-8 instead of 0 in float32) must not move the endpoints
    snap = 8 * torch.finfo(alphas.dtype).eps * max(1.0, float(alphas.abs().max()))
    alphas = alphas.to(torch.float64)
    for endpoint in (0.0, 1.0):
        alphas = torch.where((alphas - endpoint).abs() <= snap, endpoint, alphas)
    device, dtype = model_device_dtype(model)
    start = _named_parameters(params_a, model, "params_a")
    end = _named_parameters(params_b, model, "params_b")
    batches = Batches(data, device, dtype, chunk_size)
    bn_batches = Batches(bn_data, device, dtype, chunk_size, name="bn_data") if bn_data is not None else batches
    reestimate = not train_mode and bool(running_statistics_layers(model))
    losses, accuracies = [], []
    # train-mode passes through dropout draw from torch's generators
    with forked_random_state(device), preserved_model(model, None, freeze_batch_norm=False):
        parameters = dict(model.named_parameters())
        for alpha in alphas.tolist():
            with torch.no_grad():
                for name, p in parameters.items():
                    p.copy_((1 - alpha) * start[name] + alpha * end[name])
            if reestimate:
                recalibrate_batch_norm(model, bn_batches)
            model.train(train_mode)
            loss, accuracy = _evaluate(model, loss_fn, batches)
            losses.append(loss)
            accuracies.append(accuracy)
    has_accuracy = all(a is not None for a in accuracies)
    return InterpolationResult(
        alphas=alphas.to(torch.float64).cpu(),
        losses=torch.tensor(losses, dtype=torch.float64),
        accuracies=torch.tensor(accuracies, dtype=torch.float64) if has_accuracy else None,
    )


def _crossed(loss: float | None, threshold: float) -> bool:
    """A loss at or above the threshold; a non-finite loss (the net blew up) counts as above it."""
    return loss is not None and (not math.isfinite(loss) or loss >= threshold)


def outward_width(
    loss_at: Callable[[float], float],
    known: Sequence[tuple[float, float]],
    *,
    threshold: float,
    cap: float,
    tolerance: float,
) -> dict[str, Any]:
    """Distance d ≥ 0 outwards from an endpoint to where ``loss_at(d)`` first reaches ``threshold`` — on
    the line of :func:`interpolate`, d in units of ‖θ₂ − θ₁‖ (α = −d beyond θ₁, α = 1 + d beyond θ₂).

    ``known``: (d, loss) already measured (the plotted grid's points on this side, 0 ≤ d ≤ 1). They are
    scanned in order of d (d = 0 is measured first if absent); if none reaches the threshold, d doubles
    from the largest known distance (at least 1) up to ``cap``, the last step clipped to it. The first
    bracket [d_lo, d_hi] with loss(d_lo) < threshold ≤ loss(d_hi) is bisected until d_hi − d_lo ≤
    ``tolerance`` and the width interpolated linearly inside it (exact for a loss linear in d; the
    midpoint if loss(d_hi) is not finite). Returns ``width`` (None: still below at ``cap``),
    ``beyond_cap`` and ``points``, every (d, loss) used, in order of d."""
    if cap <= 0 or tolerance <= 0:
        raise ValueError("need cap > 0 and tolerance > 0")
    points = {float(d): float(v) for d, v in known if 0 <= d <= cap}
    if 0.0 not in points:
        points[0.0] = float(loss_at(0.0))
    ordered = sorted(points)
    if _crossed(points[0.0], threshold):
        return {"width": 0.0, "beyond_cap": False, "points": [[d, points[d]] for d in ordered]}
    lo = hi = None
    for previous, d in itertools.pairwise(ordered):
        if _crossed(points[d], threshold):
            lo, hi = previous, d
            break
    if hi is None:
        lo = ordered[-1]
        d = max(lo, 1.0)
        while lo < cap:
            d = min(2 * d, cap)
            points[d] = float(loss_at(d))
            if _crossed(points[d], threshold):
                hi = d
                break
            lo = d
    if hi is None:
        return {"width": None, "beyond_cap": True, "points": [[d, points[d]] for d in sorted(points)]}
    while hi - lo > tolerance:
        mid = (lo + hi) / 2
        points[mid] = float(loss_at(mid))
        if _crossed(points[mid], threshold):
            hi = mid
        else:
            lo = mid
    low, high = points[lo], points[hi]
    if math.isfinite(high) and high != low:
        width = lo + (threshold - low) / (high - low) * (hi - lo)
    else:
        width = (lo + hi) / 2
    return {"width": float(width), "beyond_cap": False, "points": [[d, points[d]] for d in sorted(points)]}


def endpoint_widths(
    line_loss: Callable[[float], float],
    alphas: Sequence[float],
    train_loss: Sequence[float],
    *,
    threshold: float,
    cap: float,
    tolerance: float,
) -> dict[str, dict[str, Any]]:
    """``outward_width`` of θ₁ (α = −d) and θ₂ (α = 1 + d) on the line whose training loss at α is
    ``line_loss(α)``, starting from the plotted grid's (α, loss) points on each side."""
    out = {}
    for side, endpoint, outwards in (("first", 0.0, -1), ("second", 1.0, 1)):
        known = [
            ((a - endpoint) * outwards, loss)
            for a, loss in zip(alphas, train_loss, strict=True)
            if (a - endpoint) * outwards >= -1e-12
        ]
        known = [(max(0.0, round(d, 10)), loss) for d, loss in known]
        out[side] = outward_width(
            lambda d, e=endpoint, o=outwards: line_loss(e + o * d),
            known,
            threshold=threshold,
            cap=cap,
            tolerance=tolerance,
        )
    return out
