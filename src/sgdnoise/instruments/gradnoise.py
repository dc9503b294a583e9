"""Gradient noise: per-example gradients, their covariance, the noise scale, Gaussianity of minibatch noise.

Per-example gradients g_i = ∇ℓ_i(θ) come from one forward and one backward pass per chunk by the rules of
``sgdnoise.instruments.perexample`` (outer products and their Gram form for Linear/Embedding, im2col for Conv2d,
per-call vmap otherwise; the uses of a shared weight summed per example), or from ``torch.func.vmap`` over
``torch.func.grad`` of the whole model for parameters those rules do not cover; ``loss_fn`` must be the mean
over examples. Chunks bound memory by ``chunk_size × P``; the norms need no [N, P] at all.
"""

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.stats
import torch
from torch import Tensor, nn

from sgdnoise import theory
from sgdnoise.instruments._batches import (
    DEFAULT_CHUNK_SIZE,
    Batches,
    Data,
    LossFn,
    ParameterLayout,
    check_examples,
    check_model_and_loss,
    forked_random_state,
    has_batch_norm_in_train_mode,
    model_device_dtype,
    preserved_model,
    trainable_parameters,
    uncompiled,
)
from sgdnoise.instruments.perexample import check_examples_independent, layer_statistics, model_gradients
from sgdnoise.validation import momentum_coefficient, positive_int, positive_number

_CHUNK_ELEMENTS = 2**25  # per-example gradients held at once (128 MiB in float32)
DEFAULT_MEMORY_BUDGET = 2**27  # bytes of per-example gradients formed at once while computing norms


Method = Literal["layers", "vmap"]
_METHODS = ("layers", "vmap")


@contextlib.contextmanager
def _evaluation(model: nn.Module, loss_fn: LossFn, train_mode: bool | None) -> Iterator[None]:
    """Validate, then run a block with the model in ``train_mode`` and restore it, and torch's random state (dropout
    in train mode draws from it), afterwards."""
    check_model_and_loss(model, loss_fn)
    device, _ = model_device_dtype(model)
    with (
        forked_random_state(device),
        preserved_model(model, train_mode, snapshot=False),
    ):  # forward and backward passes only
        if has_batch_norm_in_train_mode(model):
            raise ValueError(
                "per-example gradients are undefined for batch norm in train mode (batch statistics couple "
                "the examples); pass train_mode=False"
            )
        yield


def _elements(memory_budget: int | None, dtype: torch.dtype) -> int:
    """Elements of per-example gradients formed at once under ``memory_budget`` bytes (default 128 MiB)."""
    positive_int("memory_budget", memory_budget, optional=True)
    return (memory_budget or DEFAULT_MEMORY_BUDGET) // torch.empty((), dtype=dtype).element_size()


def _chunk_size(chunk_size: int | None, default: int) -> int:
    return positive_int("chunk_size", chunk_size, optional=True) or default


def _parameter_names(model: nn.Module) -> dict[int, str]:
    return {id(p): name for name, p in model.named_parameters() if p.requires_grad}


def _per_example_gradient_rows(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    chunk_size: int | None,
    train_mode: bool | None,
    method: Method,
    out: Tensor | None = None,
) -> Iterator[Tensor]:
    """Per-example gradients ``[n_chunk, P]`` chunk by chunk, written into consecutive rows of ``out`` when given.

    ``method="layers"`` uses the layer rules of ``perexample`` (vmap over the whole model where they do not
    apply; in train mode, the batched pass's dropout masks); ``"vmap"`` always vmaps over the whole model, each
    example drawing masks of its own.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    model = uncompiled(model)
    with _evaluation(model, loss_fn, train_mode):
        device, dtype = model_device_dtype(model)
        layout = ParameterLayout.of(trainable_parameters(model))
        names = _parameter_names(model)
        size = _chunk_size(chunk_size, max(1, min(256, _CHUNK_ELEMENTS // layout.dim)))
        offsets = [sum(layout.sizes[:i]) for i in range(len(layout.sizes))]
        row = 0
        for x, y in Batches(data, device, dtype, size):
            for start in range(0, x.shape[0], size):
                xc, yc = x[start : start + size], y[start : start + size]
                n = xc.shape[0]
                rows = (
                    out[row : row + n] if out is not None else torch.empty((n, layout.dim), device=device, dtype=dtype)
                )
                row += n
                views = {
                    name: rows[:, offset : offset + size_].view(n, *shape)
                    for name, offset, size_, shape in zip(
                        layout.names, offsets, layout.sizes, layout.shapes, strict=True
                    )
                }
                if method == "vmap":
                    check_examples_independent(model, xc)
                    grads = model_gradients(model, loss_fn, xc, yc, trainable_parameters(model))
                    torch.cat([grads[name].reshape(n, -1) for name in layout.names], dim=1, out=rows)
                else:
                    layer_statistics(model, loss_fn, xc, yc, names, out=views)
                yield rows


def _per_example_norm_chunks(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    chunk_size: int | None,
    train_mode: bool | None,
    memory_budget: int | None = None,
) -> Iterator[tuple[ParameterLayout, Tensor, dict[str, Tensor]]]:
    """(layout, ‖g_i‖² [n_chunk], Σ_i g_i by name) chunk by chunk, by the layer rules (vmap where they fail)."""
    model = uncompiled(model)
    with _evaluation(model, loss_fn, train_mode):
        device, dtype = model_device_dtype(model)
        layout = ParameterLayout.of(trainable_parameters(model))
        names = _parameter_names(model)
        size = _chunk_size(chunk_size, DEFAULT_CHUNK_SIZE)
        for x, y in Batches(data, device, dtype, size):
            for start in range(0, x.shape[0], size):
                xc, yc = x[start : start + size], y[start : start + size]
                stats = layer_statistics(model, loss_fn, xc, yc, names, budget=_elements(memory_budget, dtype))
                yield layout, stats.sq_norms, stats.gradient_sum


def per_example_gradient_norms(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    squared: bool = False,
    chunk_size: int | None = None,
    train_mode: bool | None = None,
    memory_budget: int | None = None,
) -> Tensor:
    """‖∇ℓ_i(θ)‖ (or its square) for every example, ``[N]``, without forming the [N, P] gradient matrix.

    ``nn.Linear`` layers give ‖∇_W ℓ_i‖² = ‖a_i‖²‖δ_i‖² from their input and output gradient (the Gram form
    over sequence positions and shared uses); other layers form their own per-example gradients one layer at a
    time (see ``sgdnoise.instruments.perexample``), at most ``memory_budget`` bytes of them at once (default
    128 MiB; ``chunk_size`` examples' activations are held besides).
    """
    chunks = _per_example_norm_chunks(model, loss_fn, data, chunk_size, train_mode, memory_budget)
    sq = torch.cat([sq for _, sq, _ in chunks])
    return sq if squared else sq.sqrt()


def per_example_gradient_chunks(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    chunk_size: int | None = None,
    train_mode: bool | None = None,
    method: Method = "layers",
) -> Iterator[Tensor]:
    """Yield per-example gradients ``[n_chunk, P]`` chunk by chunk, in data order.

    Columns follow the trainable parameters in ``named_parameters`` order. ``chunk_size`` defaults to
    max(1, min(256, 2²⁵ // P)). Batch norm in train mode couples the examples of a batch, so per-example
    gradients are undefined there: such models must be evaluated with ``train_mode=False``. ``method``:
    "layers" (closed forms per layer, vmap for the rest; dropout in train mode with the batched pass's masks)
    or "vmap" (whole model; each example draws masks of its own). A model that reorders its batch inside
    ``forward`` (sort, a layer, unsort) needs "vmap": "layers" pairs the reordered layer's rows with other
    examples, unchecked (sums over examples stay exact).
    """
    yield from _per_example_gradient_rows(model, loss_fn, data, chunk_size, train_mode, method)


def per_example_gradients(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    chunk_size: int | None = None,
    train_mode: bool | None = None,
    method: Method = "layers",
) -> Tensor:
    """Per-example gradients ∇ℓ_i(θ) as one ``[N, P]`` tensor (see ``per_example_gradient_chunks`` for
    large data). Chunks are written straight into the result when N is known (data given as tensors)."""
    if not (isinstance(data, tuple | list) and len(data) == 2 and isinstance(data[0], Tensor)):
        return torch.cat(list(_per_example_gradient_rows(model, loss_fn, data, chunk_size, train_mode, method)))
    check_model_and_loss(model, loss_fn)
    device, dtype = model_device_dtype(model)
    dim = ParameterLayout.of(trainable_parameters(model)).dim
    out = torch.empty((data[0].shape[0], dim), device=device, dtype=dtype)
    for _ in _per_example_gradient_rows(model, loss_fn, data, chunk_size, train_mode, method, out=out):
        pass
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
    memory_budget: int | None = None,
) -> GradientNoise:
    """Gradient noise statistics of minibatch SGD with batch size B on ``data`` (see ``GradientNoise``).

    Streams per-example gradient norms ‖g_i‖² and chunk gradient sums (never [N, P] nor P×P): a chunk's
    sum of squared deviations is Σ‖g_i‖² − n‖ḡ‖², and chunks combine by Chan et al.'s parallel variance,
    in float64. ``memory_budget``: bytes of per-example gradients formed at once (see
    ``per_example_gradient_norms``).
    """
    positive_int("batch_size", batch_size)
    momentum = momentum_coefficient("momentum", momentum)
    lr = positive_number("lr", lr) if lr is not None else None  # T and g need ε > 0
    temperature = float(theory.temperature(lr, batch_size, momentum)) if lr is not None else None
    count = 0
    mean: Tensor | None = None
    sum_sq_dev = 0.0
    chunks = _per_example_norm_chunks(model, loss_fn, data, chunk_size, train_mode, memory_budget)
    for layout, sq_norms, sums in chunks:
        n = sq_norms.shape[0]
        chunk_mean = layout.flatten(sums).to(torch.float64) / n
        chunk_sq_dev = float(sq_norms.to(torch.float64).sum()) - n * float(chunk_mean.square().sum())
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
class MinibatchNoiseEstimate:
    """Unbiased estimates of |G|² and tr Σ from ONE minibatch of B per-example gradients (Smith & Le 2018 §5;
    McCandlish et al. 2018 App. A.1).

    With ḡ the minibatch mean and the B examples drawn without replacement from N (N = ∞: i.i.d.):
    ``covariance_trace`` S = (Σ_i ‖g_i‖² − B‖ḡ‖²)/(B − 1), unbiased for tr Σ (Σ with the 1/(N − 1) population
    normalisation of ``GradientNoise``), because E‖ḡ‖² = |G|² + tr Σ·(1/B − 1/N);
    ``mean_grad_sq_norm`` = ‖ḡ‖² − S·(1/B − 1/N), unbiased for |G|² (it can be negative when |G|² is small);
    ``noise_scale_simple`` = S/|G|²-estimate (a ratio of unbiased estimates, consistent but not unbiased).
    """

    batch_size: int
    train_size: int | None
    mean_grad_sq_norm: float
    covariance_trace: float
    noise_scale_simple: float


def minibatch_gradient_noise(
    model: nn.Module,
    loss_fn: LossFn,
    x: Tensor,
    y: Tensor,
    *,
    train_size: int | None = None,
    train_mode: bool | None = None,
) -> MinibatchNoiseEstimate:
    """Estimate |G|², tr Σ and B_simple from the per-example gradient norms of one minibatch (x, y).

    One forward and one backward pass (``per_example_gradient_norms``); see ``MinibatchNoiseEstimate``.
    ``train_size`` N corrects for sampling without replacement (None: an infinite training set).
    """
    train_size = positive_int("train_size", train_size, optional=True)
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(f"x and y must be tensors, got {type(x).__name__} and {type(y).__name__}")
    batch = check_examples(x, y, "the minibatch")
    if batch < 2:
        raise ValueError(f"estimating the gradient covariance needs a minibatch of at least 2 examples, got {batch}")
    if train_size is not None and batch > train_size:
        raise ValueError(f"the batch size B={batch} must not exceed the training-set size N={train_size}")
    ((_, sq_norms, sums),) = _per_example_norm_chunks(model, loss_fn, (x, y), batch, train_mode)
    sq_norm_sum = float(sq_norms.sum(dtype=torch.float64))
    mean_sq = sum(float(torch.linalg.vector_norm(s, dtype=torch.float64)) ** 2 for s in sums.values()) / batch**2
    cov_trace = (sq_norm_sum - batch * mean_sq) / (batch - 1)
    finite = 1 / batch - (1 / train_size if train_size is not None else 0.0)
    grad_sq = mean_sq - cov_trace * finite
    return MinibatchNoiseEstimate(
        batch_size=batch,
        train_size=train_size,
        mean_grad_sq_norm=grad_sq,
        covariance_trace=cov_trace,
        noise_scale_simple=cov_trace / grad_sq if grad_sq > 0 else math.inf,
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
    positive_int("batch_size", batch_size)
    if not isinstance(n_minibatches, int) or n_minibatches < 20:
        raise ValueError(f"n_minibatches must be an integer >= 20 (normality test), got {n_minibatches!r}")
    check_model_and_loss(model, loss_fn)
    layout = ParameterLayout.of(trainable_parameters(model))
    rng = np.random.default_rng(seed)
    if parameter_index is None:
        parameter_index = _default_parameter(layout, rng)
    elif not isinstance(parameter_index, int) or not 0 <= parameter_index < layout.dim:
        raise ValueError(f"parameter_index must be an integer in [0, {layout.dim}), got {parameter_index!r}")
    column = [
        rows[:, parameter_index].to(torch.float64).cpu()
        for rows in _per_example_gradient_rows(model, loss_fn, data, chunk_size, train_mode, "layers")
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
