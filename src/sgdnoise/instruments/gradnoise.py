"""Gradient noise: per-example gradients, their covariance, the noise scale, Gaussianity of minibatch noise.

Per-example gradients g_i = ∇ℓ_i(θ) come from ``torch.func.vmap`` over ``torch.func.grad`` of the model
called functionally on one example at a time (the mean-reduction ``loss_fn`` of one example is its loss),
in chunks so that memory is bounded by ``chunk_size × P``.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.stats
import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from sgdnoise import theory
from sgdnoise.instruments._batches import (
    Batches,
    Data,
    LossFn,
    ParameterLayout,
    check_model_and_loss,
    has_batch_norm_in_train_mode,
    model_buffers,
    model_device_dtype,
    preserved_model,
    trainable_parameters,
)

_CHUNK_ELEMENTS = 2**25  # per-example gradients held at once (128 MiB in float32)


def _per_example_gradient_dicts(
    model: nn.Module, loss_fn: LossFn, data: Data, chunk_size: int | None, train_mode: bool | None
) -> Iterator[tuple[ParameterLayout, dict[str, Tensor]]]:
    """Per-example gradients chunk by chunk, as ``{name: [n_chunk, *shape]}`` (no flattening copy)."""
    check_model_and_loss(model, loss_fn)
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    with preserved_model(model, train_mode):
        if has_batch_norm_in_train_mode(model):
            raise ValueError(
                "per-example gradients are undefined for batch norm in train mode (batch statistics couple "
                "the examples); pass train_mode=False"
            )
        device, dtype = model_device_dtype(model)
        params = trainable_parameters(model)
        layout = ParameterLayout.of(params)
        size = chunk_size or max(1, min(256, _CHUNK_ELEMENTS // layout.dim))
        buffers = model_buffers(model)

        def example_loss(p: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
            return loss_fn(functional_call(model, (p, buffers), (x.unsqueeze(0),)), y.unsqueeze(0))

        batched = vmap(grad(example_loss), in_dims=(None, 0, 0), randomness="different")
        for x, y in Batches(data, device, dtype, size):
            for start in range(0, x.shape[0], size):
                yield layout, batched(params, x[start : start + size], y[start : start + size])


def per_example_gradient_chunks(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    chunk_size: int | None = None,
    train_mode: bool | None = None,
) -> Iterator[Tensor]:
    """Yield per-example gradients ``[n_chunk, P]`` chunk by chunk, in data order.

    Columns follow the trainable parameters in ``named_parameters`` order. ``chunk_size`` defaults to
    max(1, min(256, 2²⁵ // P)). Batch norm in train mode couples the examples of a batch, so per-example
    gradients are undefined there: such models must be evaluated with ``train_mode=False``.
    """
    for layout, grads in _per_example_gradient_dicts(model, loss_fn, data, chunk_size, train_mode):
        yield layout.flatten_batched(grads)


def per_example_gradients(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    chunk_size: int | None = None,
    train_mode: bool | None = None,
) -> Tensor:
    """Per-example gradients ∇ℓ_i(θ) as one ``[N, P]`` tensor (see ``per_example_gradient_chunks`` for
    large data). Chunks are written straight into the result when N is known (data given as tensors)."""
    chunks = _per_example_gradient_dicts(model, loss_fn, data, chunk_size, train_mode)
    if not (isinstance(data, tuple | list) and len(data) == 2 and isinstance(data[0], Tensor)):
        return torch.cat([layout.flatten_batched(grads) for layout, grads in chunks])
    out: Tensor | None = None
    start = 0
    for layout, grads in chunks:
        pieces = [grads[name].flatten(start_dim=1) for name in layout.names]
        if out is None:
            out = pieces[0].new_empty((data[0].shape[0], layout.dim))
        n = pieces[0].shape[0]
        torch.cat(pieces, dim=1, out=out[start : start + n])
        start += n
    assert out is not None
    return out


@dataclass(frozen=True)
class GradientNoise:
    """Gradient statistics of the training set at the current parameters.

    Exact for the given data (the training set is the population: no sampling error). With g_i the
    per-example gradients and G = (1/N) Σ g_i the full-batch gradient:
    ``mean_grad_sq_norm`` |G|²; ``covariance_trace`` tr Σ, Σ = (1/(N−1)) Σ_i (g_i − G)(g_i − G)ᵀ;
    ``noise_scale_simple`` B_simple = tr Σ / |G|² (McCandlish et al. 2018, eq. 2.8);
    ``minibatch_noise_trace`` = tr Cov(minibatch mean) = tr Σ·(1/B − 1/N) for B examples drawn without
    replacement; if ``lr`` was given, ``temperature`` T = ε/(B(1−m)) (Smith, Elsen & De 2020 §3) and
    ``noise_scale`` g = ε(N/B − 1)/(1 − m) (Smith & Le 2018 eq. 13, App. D).
    """

    n_examples: int
    batch_size: int
    mean_grad_sq_norm: float
    covariance_trace: float
    noise_scale_simple: float
    minibatch_noise_trace: float
    lr: float | None = None
    momentum: float = 0.0
    temperature: float | None = None
    noise_scale: float | None = None


def gradient_noise(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    batch_size: int,
    *,
    lr: float | None = None,
    momentum: float = 0.0,
    chunk_size: int | None = None,
    train_mode: bool | None = None,
) -> GradientNoise:
    """Gradient noise statistics of minibatch SGD with batch size B on ``data`` (see ``GradientNoise``).

    Streams per-example gradients and combines chunk means and sums of squared deviations (Chan et al.'s
    parallel variance), in float64, so neither [N, P] nor a P×P matrix is ever held.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    temperature = float(theory.temperature(lr, batch_size, momentum)) if lr is not None else None
    count = 0
    mean: Tensor | None = None
    sum_sq_dev = 0.0
    for layout, grads in _per_example_gradient_dicts(model, loss_fn, data, chunk_size, train_mode):
        pieces = [grads[name].flatten(start_dim=1).to(torch.float64) for name in layout.names]
        n = pieces[0].shape[0]
        means = [piece.mean(dim=0) for piece in pieces]
        chunk_mean = torch.cat(means)
        chunk_sq_dev = sum(float((piece - m).square().sum()) for piece, m in zip(pieces, means, strict=True))
        if mean is None:
            mean, sum_sq_dev = chunk_mean, chunk_sq_dev
        else:
            delta = chunk_mean - mean
            mean = mean + delta * (n / (count + n))
            sum_sq_dev += chunk_sq_dev + float(delta.square().sum()) * count * n / (count + n)
        count += n
    assert mean is not None
    if batch_size > count:
        raise ValueError(f"batch_size={batch_size} exceeds the number of examples N={count}")
    if count < 2:
        raise ValueError("the gradient covariance needs at least 2 examples")
    mean_sq = float(mean.square().sum())
    cov_trace = sum_sq_dev / (count - 1)
    noise_scale = float(theory.noise_scale(lr, batch_size, count, momentum)) if lr is not None else None
    return GradientNoise(
        n_examples=count,
        batch_size=batch_size,
        mean_grad_sq_norm=mean_sq,
        covariance_trace=cov_trace,
        noise_scale_simple=cov_trace / mean_sq if mean_sq > 0 else math.inf,
        minibatch_noise_trace=cov_trace * (1 / batch_size - 1 / count),
        lr=lr,
        momentum=momentum,
        temperature=temperature,
        noise_scale=noise_scale,
    )


@dataclass(frozen=True)
class DistributionStats:
    """Shape of a sample: moments and D'Agostino–Pearson's K² normality test (``scipy.stats.normaltest``).

    ``skewness`` and ``excess_kurtosis`` are the bias-corrected sample estimates (0 for a Gaussian);
    K² = z(skewness)² + z(kurtosis)² is χ²₂ under normality, so a small ``normal_pvalue`` rejects it.
    """

    n: int
    mean: float
    std: float
    skewness: float
    excess_kurtosis: float
    normal_statistic: float
    normal_pvalue: float

    @classmethod
    def of(cls, sample: np.ndarray) -> "DistributionStats":
        test = scipy.stats.normaltest(sample)
        return cls(
            n=int(sample.size),
            mean=float(sample.mean()),
            std=float(sample.std(ddof=1)),
            skewness=float(scipy.stats.skew(sample, bias=False)),
            excess_kurtosis=float(scipy.stats.kurtosis(sample, fisher=True, bias=False)),
            normal_statistic=float(test.statistic),
            normal_pvalue=float(test.pvalue),
        )


@dataclass(frozen=True, eq=False)
class GradientGaussianity:
    """One parameter's gradient over single examples vs over minibatch means (Smith & Le 2018 App. C, Fig. 9).

    ``single_example_gradients`` [N] and ``minibatch_gradients`` [n_minibatches] are the samples (for
    histograms); ``predicted_minibatch_std`` = std_single·sqrt(1/B − 1/N), the exact standard deviation of
    a mean of B examples drawn without replacement.
    """

    parameter_index: int
    parameter_name: str
    batch_size: int
    single: DistributionStats
    minibatch: DistributionStats
    predicted_minibatch_std: float
    single_example_gradients: np.ndarray
    minibatch_gradients: np.ndarray


def _default_parameter(layout: ParameterLayout, rng: np.random.Generator) -> int:
    """A random element of the last weight matrix (the paper's choice: an output-layer matrix element)."""
    matrices = [i for i, shape in enumerate(layout.shapes) if len(shape) >= 2] or [len(layout.shapes) - 1]
    which = matrices[-1]
    offset = sum(layout.sizes[:which])
    return offset + int(rng.integers(layout.sizes[which]))


def _locate(layout: ParameterLayout, index: int) -> tuple[str, int]:
    """The parameter tensor holding flat index ``index`` and the position inside it."""
    start = 0
    for name, size in zip(layout.names, layout.sizes, strict=True):
        if index < start + size:
            return name, index - start
        start += size
    raise AssertionError("index out of range")


def _parameter_name(layout: ParameterLayout, index: int) -> str:
    name, offset = _locate(layout, index)
    shape = layout.shapes[layout.names.index(name)]
    position = np.unravel_index(offset, tuple(shape)) if len(shape) else ()
    return f"{name}[{', '.join(str(int(i)) for i in position)}]"


def gradient_noise_gaussianity(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    batch_size: int = 30,
    *,
    parameter_index: int | None = None,
    n_minibatches: int = 2000,
    seed: int = 0,
    chunk_size: int | None = None,
    train_mode: bool | None = None,
) -> GradientGaussianity:
    """Is minibatch gradient noise Gaussian? (Smith & Le 2018, App. C, Fig. 9.)

    Takes one parameter's gradient (flat index ``parameter_index`` over the trainable parameters; default a
    random element of the last weight matrix, drawn with ``seed``) over every single example, and over
    ``n_minibatches`` minibatch means of ``batch_size`` examples each drawn without replacement, and reports
    the shape of both distributions (``DistributionStats``). The paper uses B = 30 at initialisation.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(n_minibatches, int) or n_minibatches < 20:
        raise ValueError(f"n_minibatches must be an integer >= 20 (normality test), got {n_minibatches!r}")
    check_model_and_loss(model, loss_fn)
    layout = ParameterLayout.of(trainable_parameters(model))
    rng = np.random.default_rng(seed)
    if parameter_index is None:
        parameter_index = _default_parameter(layout, rng)
    elif not isinstance(parameter_index, int) or not 0 <= parameter_index < layout.dim:
        raise ValueError(f"parameter_index must be an integer in [0, {layout.dim}), got {parameter_index!r}")
    name, offset = _locate(layout, parameter_index)
    column = [
        grads[name].flatten(start_dim=1)[:, offset].to(torch.float64).cpu()
        for _, grads in _per_example_gradient_dicts(model, loss_fn, data, chunk_size, train_mode)
    ]
    single = torch.cat(column).numpy()
    n = single.size
    if n < 20:
        raise ValueError(f"the normality test needs at least 20 examples, got N={n}")
    if batch_size > n:
        raise ValueError(f"batch_size={batch_size} exceeds the number of examples N={n}")
    minibatch = np.array([single[rng.choice(n, batch_size, replace=False)].mean() for _ in range(n_minibatches)])
    return GradientGaussianity(
        parameter_index=parameter_index,
        parameter_name=_parameter_name(layout, parameter_index),
        batch_size=batch_size,
        single=DistributionStats.of(single),
        minibatch=DistributionStats.of(minibatch),
        predicted_minibatch_std=float(single.std(ddof=1) * math.sqrt(1 / batch_size - 1 / n)),
        single_example_gradients=single,
        minibatch_gradients=minibatch,
    )
