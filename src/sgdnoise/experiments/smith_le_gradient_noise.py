"""Smith & Le 2018, App. C, Figure 9: is minibatch gradient noise Gaussian?

The §4–5 shallow net (784 → 800 ReLU → 10, Glorot init, mean cross-entropy) right after initialisation,
on N = 1000 random MNIST training images (one fixed subset seed, recorded). For one randomly chosen
element of the softmax-layer weight matrix, ``gradient_noise_gaussianity`` measures the gradient over
every single training example (Fig. 9a) and over minibatch means of B = 30 examples drawn without
replacement (Fig. 9b). The paper shows one parameter; here the measurement is repeated ``n_repeats``
times, repeat r with initialisation seed and parameter/minibatch seed ``seed + r``, and the paper's
figure is drawn for the first.

Criteria, fixed before running (a claim about a random parameter holds when it holds in at least
``REQUIRED_FRACTION`` of the repeats):

- not Gaussian: D'Agostino–Pearson K² p-value < ``NOT_GAUSSIAN_PVALUE``;
- double peaked: a Gaussian kernel density estimate (Silverman's robust bandwidth) has ≥ 2 modes of
  prominence ≥ ``MODE_PROMINENCE`` × its maximum;
- much closer to Gaussian: K²(single) / K²(minibatch) ≥ ``IMPROVEMENT_FACTOR``, both computed on the same
  number of samples (min(N, number of minibatches)), since K² grows with the sample size;
- minibatch spread as predicted: |std(minibatch means) / (σ·√(1/B − 1/N)) − 1| ≤ ``STD_TOLERANCE``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.signal
import scipy.stats
import torch
from torch import nn

from sgdnoise.data import TaskData, mnist_standin_task, smith_le_mnist_task
from sgdnoise.experiments.base import Experiment, ExperimentResult, RunContext
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.instruments import gradient_noise_gaussianity
from sgdnoise.models import InitScheme, MLPSpec, build_model
from sgdnoise.results import Claim

NOT_GAUSSIAN_PVALUE = 1e-3
IMPROVEMENT_FACTOR = 10.0
STD_TOLERANCE = 0.10
REQUIRED_FRACTION = 0.8
MODE_PROMINENCE = 0.05
KDE_GRID_POINTS = 2048


@dataclass(frozen=True)
class GradientNoiseSpec:
    """Settings: training set size, network width and init, batch size, minibatch count, repeats."""

    n_train: int = 1000
    hidden_width: int = 800
    init: InitScheme = "glorot"
    batch_size: int = 30
    n_minibatches: int = 1000
    n_repeats: int = 5
    histogram_bins: int = 50
    dataset: Literal["mnist", "standin"] = "mnist"

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size < self.n_train:
            raise ValueError(f"batch_size must lie in [1, n_train={self.n_train}), got {self.batch_size}")
        if self.dataset not in ("mnist", "standin"):
            raise ValueError(f"dataset must be 'mnist' or 'standin' (synthetic, for smoke tests), got {self.dataset!r}")
        if self.n_minibatches < 20 or self.n_repeats < 1 or self.histogram_bins < 2:
            raise ValueError("need n_minibatches >= 20, n_repeats >= 1 and histogram_bins >= 2")


SPECS = {
    "quick": GradientNoiseSpec(n_minibatches=1000, n_repeats=5),
    "paper": GradientNoiseSpec(n_minibatches=10000, n_repeats=20),
}


def load_task(dataset: str, seed: int, n_train: int, device: torch.device) -> TaskData:
    """The §4 task: ``n_train`` random MNIST training images (10 classes), or the synthetic stand-in."""
    if dataset == "standin":
        return mnist_standin_task(seed, n_train).to(device)
    return smith_le_mnist_task(seed, n_train, device=device)


def count_modes(sample: np.ndarray, prominence: float = MODE_PROMINENCE) -> int:
    """Modes of a Gaussian KDE of ``sample`` with Silverman's robust bandwidth 0.9·min(σ, IQR/1.349)·n^(−1/5)
    (σ alone when the IQR is 0), counting local maxima of prominence ≥ ``prominence`` × the peak density."""
    sample = np.asarray(sample, float)
    sigma = sample.std(ddof=1)
    if not sigma > 0:
        return 1
    iqr = float(np.subtract(*np.percentile(sample, [75, 25])))
    spread = min(sigma, iqr / 1.349) if iqr > 0 else sigma
    bandwidth = 0.9 * spread * sample.size ** (-0.2)
    grid = np.linspace(sample.min() - 4 * bandwidth, sample.max() + 4 * bandwidth, KDE_GRID_POINTS)
    density = np.zeros_like(grid)
    for chunk in np.array_split(sample, max(1, sample.size // 256)):
        density += np.exp(-0.5 * ((grid[:, None] - chunk[None, :]) / bandwidth) ** 2).sum(axis=1)
    peaks, _ = scipy.signal.find_peaks(density, prominence=prominence * density.max())
    return int(peaks.size)


def _histogram(sample: np.ndarray, bins: int) -> dict[str, Any]:
    counts, edges = np.histogram(sample, bins=bins)
    return {
        "counts": counts.tolist(),
        "edges": edges.tolist(),
        "mean": float(sample.mean()),
        "std": float(sample.std(ddof=1)),
        "n": int(sample.size),
    }


def measure(model: nn.Module, task: TaskData, spec: GradientNoiseSpec, seed: int) -> dict[str, Any]:
    """One repeat: the Fig. 9 measurement on ``model`` plus the statistics the claims rest on."""
    result = gradient_noise_gaussianity(
        model,
        nn.CrossEntropyLoss(),
        (task.train.x, task.train.y),
        spec.batch_size,
        n_minibatches=spec.n_minibatches,
        seed=seed,
    )
    single, minibatch = result.single_example_gradients, result.minibatch_gradients
    n_equal = min(single.size, minibatch.size)
    return {
        "parameter_name": result.parameter_name,
        "parameter_index": result.parameter_index,
        "single": asdict(result.single),
        "minibatch": asdict(result.minibatch),
        "predicted_minibatch_std": result.predicted_minibatch_std,
        "equal_n": n_equal,
        "single_statistic_equal_n": float(scipy.stats.normaltest(single[:n_equal]).statistic),
        "minibatch_statistic_equal_n": float(scipy.stats.normaltest(minibatch[:n_equal]).statistic),
        "single_modes": count_modes(single),
        "minibatch_modes": count_modes(minibatch),
        "single_zero_fraction": float(np.mean(single == 0)),
        "single_histogram": _histogram(single, spec.histogram_bins),
        "minibatch_histogram": _histogram(minibatch, spec.histogram_bins),
    }


class SmithLeGradientNoise(Experiment):
    name = "smith-le-gradient-noise"
    title = "Minibatch gradient noise is close to Gaussian (Smith & Le 2018, Fig. 9)"
    paper = "Smith & Le, ICLR 2018, Appendix C, Figure 9"

    def run(self, spec: Any, ctx: RunContext) -> ExperimentResult:
        task: TaskData | None = None
        repeats = []
        with ctx.progress(spec.n_repeats, "gradient distributions") as bar:
            for r in range(spec.n_repeats):
                seed = ctx.seed + r
                config = {**spec_to_dict(spec), "data_seed": ctx.seed, "seed": seed}
                config.pop("n_repeats")
                record = ctx.store.get(self.name, config)
                if record is None:
                    task = task if task is not None else load_task(spec.dataset, ctx.seed, spec.n_train, ctx.device)
                    model_spec = MLPSpec(
                        input_dim=int(task.train.x[0].numel()),
                        hidden=(spec.hidden_width,),
                        num_classes=task.train.n_classes,
                        init=spec.init,
                    )
                    model = build_model(model_spec, seed, device=ctx.device)
                    metrics = {"seed": seed, **measure(model, task, spec, seed)}
                    ctx.store.put(self.name, config, metrics=metrics)
                else:
                    metrics = record.metrics
                repeats.append(metrics)
                bar.update()
        data = {"n_train": spec.n_train, "batch_size": spec.batch_size, "data_seed": ctx.seed, "repeats": repeats}
        claims = check_claims(repeats, spec.batch_size, spec.n_train)
        return ExperimentResult(claims=claims, data=data, settings=spec_to_dict(spec))

    def plot(self, data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
        from sgdnoise import plots

        return plots.smith_le_gradient_noise_figures(data, fig_dir)


def _verdict(flags: Sequence[bool]) -> tuple[bool, str]:
    held = sum(bool(f) for f in flags)
    return held >= REQUIRED_FRACTION * len(flags), f"{held}/{len(flags)}"


def _negative_fraction(histogram: Mapping[str, Any]) -> float:
    """Fraction of the sample in histogram bins whose centre is below zero."""
    edges = np.asarray(histogram["edges"], dtype=float)
    counts = np.asarray(histogram["counts"], dtype=float)
    centres = 0.5 * (edges[:-1] + edges[1:])
    return float(counts[centres < 0].sum() / max(counts.sum(), 1.0))


def _one_mode_note(repeats: Sequence[Mapping[str, Any]], negative: Sequence[float]) -> str:
    """Why a repeat shows one mode, in this run's numbers: the sign split and skewness of the sample."""
    skew = float(np.mean([r["single"]["skewness"] for r in repeats]))
    zero = float(np.mean([r["single_zero_fraction"] for r in repeats]))
    shape = "a one-sided tail" if abs(skew) > 1 else "a roughly symmetric spread"
    side = "negative" if skew < 0 else "positive"
    return (
        f"mean over repeats: {np.mean(negative):.0%} of single-example gradients are negative, {zero:.0%} exactly "
        f"zero (ReLU off), skewness {skew:.3g}: one mode with {shape}"
        + (f" on the {side} side" if abs(skew) > 1 else "")
        + " rather than two peaks"
    )


def _skewness_note(
    repeats: Sequence[Mapping[str, Any]], batch_size: int, below: list[float], above: list[float]
) -> str:
    """Measured minibatch skewness against the i.i.d. CLT's γ₁/√B, and the zero fractions, of this run."""
    measured = np.array([r["minibatch"]["skewness"] for r in repeats], dtype=float)
    predicted = np.array([r["single"]["skewness"] / math.sqrt(batch_size) for r in repeats], dtype=float)
    ratio = float(np.median(measured / predicted)) if np.all(predicted != 0) else math.nan
    return (
        f"minibatch skewness / CLT prediction γ₁/√B = {ratio:.2f} (median over repeats): the means stay as skewed "
        f"as averaging {batch_size} draws predicts, which bounds how Gaussian they can look; fraction of exactly-zero "
        f"single-example gradients: {below} in the repeats below the factor, {above} in those above"
        if 0.5 <= ratio <= 2.0
        else f"minibatch skewness / CLT prediction γ₁/√B = {ratio:.2f} (median over repeats); fraction of "
        f"exactly-zero single-example gradients: {below} in the repeats below the factor, {above} in those above"
    )


def check_claims(repeats: Sequence[Mapping[str, Any]], batch_size: int, n_train: int) -> list[Claim]:
    """The claims of App. C on the repeats (the first is the paper's single-parameter figure)."""
    if not repeats:
        raise ValueError("check_claims needs at least one repeat")
    first = repeats[0]
    required = f"in ≥ {REQUIRED_FRACTION:.0%} of the repeats (random parameter and init seed each)"
    claims = []

    single_p = [r["single"]["normal_pvalue"] for r in repeats]
    holds, count = _verdict([p < NOT_GAUSSIAN_PVALUE for p in single_p])
    claims.append(
        Claim(
            id="fig9/single-example-not-gaussian",
            statement=f"single-example gradients: D'Agostino–Pearson p < {NOT_GAUSSIAN_PVALUE:g} {required}",
            holds=holds,
            value={
                "repeats_holding": count,
                "paper_parameter": first["parameter_name"],
                "K2": first["single"]["normal_statistic"],
                "p_value": first["single"]["normal_pvalue"],
                "skewness": first["single"]["skewness"],
                "excess_kurtosis": first["single"]["excess_kurtosis"],
                "excess_kurtosis_per_repeat": [r["single"]["excess_kurtosis"] for r in repeats],
                "zero_fraction_per_repeat": [r["single_zero_fraction"] for r in repeats],
            },
        )
    )

    modes = [r["single_modes"] for r in repeats]
    negative = [_negative_fraction(r["single_histogram"]) for r in repeats]
    holds, count = _verdict([m >= 2 for m in modes])
    claims.append(
        Claim(
            id="fig9/single-example-double-peaked",
            statement=f"single-example gradient distribution has ≥ 2 KDE modes (prominence ≥ {MODE_PROMINENCE:.0%}) "
            + required,
            holds=holds,
            value={
                "repeats_holding": count,
                "modes_per_repeat": modes,
                "negative_fraction_per_repeat": negative,
            },
            note="" if holds else _one_mode_note(repeats, negative),
        )
    )

    ratios = [r["single_statistic_equal_n"] / max(r["minibatch_statistic_equal_n"], 1e-12) for r in repeats]
    holds, count = _verdict([q >= IMPROVEMENT_FACTOR for q in ratios])
    zeros = [round(r["single_zero_fraction"], 2) for r in repeats]
    below = [z for z, q in zip(zeros, ratios, strict=True) if q < IMPROVEMENT_FACTOR]
    above = [z for z, q in zip(zeros, ratios, strict=True) if q >= IMPROVEMENT_FACTOR]
    claims.append(
        Claim(
            id="fig9/minibatch-closer-to-gaussian",
            statement=f"minibatch means of B = {batch_size}: K²(single) / K²(minibatch) ≥ {IMPROVEMENT_FACTOR:g} on "
            f"equal sample sizes {required}",
            holds=holds,
            value={
                "repeats_holding": count,
                "K2_ratio_per_repeat": ratios,
                "equal_n": first["equal_n"],
                "paper_parameter_minibatch_p_value": first["minibatch"]["normal_pvalue"],
                "paper_parameter_minibatch_skewness": first["minibatch"]["skewness"],
                "paper_parameter_minibatch_excess_kurtosis": first["minibatch"]["excess_kurtosis"],
                "minibatch_skewness_per_repeat": [r["minibatch"]["skewness"] for r in repeats],
                "iid_clt_skewness_per_repeat": [r["single"]["skewness"] / math.sqrt(batch_size) for r in repeats],
                "iid_clt_excess_kurtosis": first["single"]["excess_kurtosis"] / batch_size,
                "minibatch_modes_per_repeat": [r["minibatch_modes"] for r in repeats],
            },
            note="" if holds else _skewness_note(repeats, batch_size, below, above),
        )
    )

    std_ratios = [r["minibatch"]["std"] / r["predicted_minibatch_std"] for r in repeats]
    holds, count = _verdict([abs(q - 1) <= STD_TOLERANCE for q in std_ratios])
    claims.append(
        Claim(
            id="fig9/minibatch-std-matches-prediction",
            statement=f"std of minibatch means within ±{STD_TOLERANCE:.0%} of σ·√(1/B − 1/N) "
            f"(B = {batch_size}, N = {n_train}) {required}",
            holds=holds,
            value={
                "repeats_holding": count,
                "measured_over_predicted_per_repeat": std_ratios,
                "paper_parameter_measured_std": first["minibatch"]["std"],
                "paper_parameter_predicted_std": first["predicted_minibatch_std"],
            },
        )
    )
    return claims


EXPERIMENTS = (SmithLeGradientNoise(SPECS),)
