"""Smith & Le 2018, App. C, Figure 9: is minibatch gradient noise Gaussian?

The §4–5 shallow net (784 → 800 ReLU → 10, Glorot init, mean cross-entropy) right after initialisation,
on N = 1000 random MNIST training images (one fixed subset seed, recorded). For one randomly chosen
element of the softmax-layer weight matrix, ``gradient_noise_gaussianity`` measures the gradient over
every single training example (Fig. 9a) and over minibatch means of B = 30 examples drawn without
replacement (Fig. 9b). The paper shows one parameter; here the measurement is repeated ``n_repeats``
times, repeat r with initialisation seed and parameter/minibatch seed ``seed + r``, and the paper's
figure is drawn for the first.

The claims (``CLAIMS``) and the figure (``draw_fig9``) are declared below the run.

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
from typing import Any, Literal, TypedDict

import matplotlib.pyplot as plt
import numpy as np
import scipy.signal
import scipy.stats
import torch
from torch import nn

from sgdnoise import plots
from sgdnoise.data import TaskData, mnist_standin_task, smith_le_mnist_task
from sgdnoise.experiments.base import Experiment, Figure, RunContext
from sgdnoise.experiments.claims import SMITH_LE_2018, ClaimSpec, ClaimTest, NotEnoughData, Verdict
from sgdnoise.experiments.smith_le_2018.sgd import MNIST_TRAIN_SIZE
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.instruments import gradient_noise_gaussianity
from sgdnoise.models import InitScheme, MLPSpec, build_model

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
        if self.n_train > MNIST_TRAIN_SIZE:
            raise ValueError(f"n_train must be at most {MNIST_TRAIN_SIZE} (MNIST's training set), got {self.n_train}")
        if self.hidden_width < 1:
            raise ValueError(f"hidden_width must be >= 1, got {self.hidden_width}")
        if self.dataset not in ("mnist", "standin"):
            raise ValueError(f"dataset must be 'mnist' or 'standin' (synthetic, for smoke tests), got {self.dataset!r}")
        if self.n_minibatches < 20 or self.n_repeats < 1 or self.histogram_bins < 2:
            raise ValueError("need n_minibatches >= 20, n_repeats >= 1 and histogram_bins >= 2")


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


def _histogram(sample: np.ndarray, bins: int) -> Histogram:
    counts, edges = np.histogram(sample, bins=bins)
    return {
        "counts": counts.tolist(),
        "edges": edges.tolist(),
        "mean": float(sample.mean()),
        "std": float(sample.std(ddof=1)),
        "n": int(sample.size),
    }


class Histogram(TypedDict):
    counts: list[int]
    edges: list[float]
    mean: float
    std: float
    n: int


class Repeat(TypedDict):
    """One repeat of the Fig. 9 measurement (one random softmax weight, one initialisation)."""

    seed: int
    parameter_name: str
    parameter_index: list[int]
    single: dict[str, float]  # DistributionStats of the single-example gradients
    minibatch: dict[str, float]  # DistributionStats of the minibatch means
    predicted_minibatch_std: float
    equal_n: int
    single_statistic_equal_n: float
    minibatch_statistic_equal_n: float
    single_modes: int
    minibatch_modes: int
    single_zero_fraction: float
    single_histogram: Histogram
    minibatch_histogram: Histogram


class GradientNoiseData(TypedDict):
    """The numbers behind Fig. 9 and its claims."""

    n_train: int
    batch_size: int
    data_seed: int
    repeats: list[Repeat]


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


def run(spec: GradientNoiseSpec, ctx: RunContext) -> GradientNoiseData:
    """Measure every repeat not yet in the store (one store record per repeat)."""
    task: TaskData | None = None
    repeats = []
    with ctx.progress(spec.n_repeats, "gradient distributions") as bar:
        for r in range(spec.n_repeats):
            seed = ctx.seed + r
            config = {**spec_to_dict(spec), "data_seed": ctx.seed, "seed": seed}
            config.pop("n_repeats")
            record = ctx.store.get(EXPERIMENT.name, config)
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
                ctx.store.put(EXPERIMENT.name, config, metrics=metrics)
            else:
                metrics = record.metrics
            repeats.append(metrics)
            bar.update()
    return {"n_train": spec.n_train, "batch_size": spec.batch_size, "data_seed": ctx.seed, "repeats": repeats}


# ---- claims -------------------------------------------------------------------------------------------------

REQUIRED = f"in ≥ {REQUIRED_FRACTION:.0%} of the repeats (random parameter and init seed each)"


def _repeats(data: GradientNoiseData) -> list[Repeat]:
    if not data["repeats"]:
        raise NotEnoughData("no repeat was measured")
    return data["repeats"]


def _count(flags: Sequence[bool]) -> tuple[bool, str]:
    """Whether the flags hold in at least REQUIRED_FRACTION of the repeats, and the count."""
    held = sum(bool(f) for f in flags)
    return held >= REQUIRED_FRACTION * len(flags), f"{held}/{len(flags)}"


def _negative_fraction(histogram: Mapping[str, Any]) -> float:
    """Fraction of the sample in histogram bins whose centre is below zero."""
    edges = np.asarray(histogram["edges"], dtype=float)
    counts = np.asarray(histogram["counts"], dtype=float)
    centres = 0.5 * (edges[:-1] + edges[1:])
    return float(counts[centres < 0].sum() / max(counts.sum(), 1.0))


def _one_mode_note(repeats: Sequence[Repeat], negative: Sequence[float]) -> str:
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


def _skewness_note(repeats: Sequence[Repeat], batch_size: int, below: list[float], above: list[float]) -> str:
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


def check_not_gaussian(data: GradientNoiseData) -> Verdict:
    repeats = _repeats(data)
    first = repeats[0]
    holds, count = _count([r["single"]["normal_pvalue"] < NOT_GAUSSIAN_PVALUE for r in repeats])
    return Verdict.of(
        holds,
        {
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


def check_double_peaked(data: GradientNoiseData) -> Verdict:
    repeats = _repeats(data)
    modes = [r["single_modes"] for r in repeats]
    negative = [_negative_fraction(r["single_histogram"]) for r in repeats]
    holds, count = _count([m >= 2 for m in modes])
    return Verdict.of(
        holds,
        {"repeats_holding": count, "modes_per_repeat": modes, "negative_fraction_per_repeat": negative},
        "" if holds else _one_mode_note(repeats, negative),
    )


def check_minibatch_closer(data: GradientNoiseData) -> Verdict:
    repeats, batch_size = _repeats(data), data["batch_size"]
    first = repeats[0]
    ratios = [r["single_statistic_equal_n"] / max(r["minibatch_statistic_equal_n"], 1e-12) for r in repeats]
    holds, count = _count([q >= IMPROVEMENT_FACTOR for q in ratios])
    zeros = [round(r["single_zero_fraction"], 2) for r in repeats]
    below = [z for z, q in zip(zeros, ratios, strict=True) if q < IMPROVEMENT_FACTOR]
    above = [z for z, q in zip(zeros, ratios, strict=True) if q >= IMPROVEMENT_FACTOR]
    return Verdict.of(
        holds,
        {
            "repeats_holding": count,
            "batch_size": batch_size,
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
        "" if holds else _skewness_note(repeats, batch_size, below, above),
    )


def check_minibatch_single_peaked(data: GradientNoiseData) -> Verdict:
    repeats = _repeats(data)
    modes = [r["minibatch_modes"] for r in repeats]
    holds, count = _count([m == 1 for m in modes])
    return Verdict.of(
        holds,
        {"repeats_holding": count, "minibatch_modes_per_repeat": modes, "batch_size": data["batch_size"]},
    )


def check_minibatch_std(data: GradientNoiseData) -> Verdict:
    repeats = _repeats(data)
    first = repeats[0]
    std_ratios = [r["minibatch"]["std"] / r["predicted_minibatch_std"] for r in repeats]
    holds, count = _count([abs(q - 1) <= STD_TOLERANCE for q in std_ratios])
    return Verdict.of(
        holds,
        {
            "repeats_holding": count,
            "batch_size": data["batch_size"],
            "n_train": data["n_train"],
            "measured_over_predicted_per_repeat": std_ratios,
            "paper_parameter_measured_std": first["minibatch"]["std"],
            "paper_parameter_predicted_std": first["predicted_minibatch_std"],
        },
    )


SINGLE_EXAMPLE_PROVENANCE = SMITH_LE_2018.cite(
    "App. C, Fig. 9", "The distribution is double peaked and clearly not Gaussian."
)


MINIBATCH_PROVENANCE = SMITH_LE_2018.cite(
    "App. C, Fig. 9b",
    "A single peak emerges, and while the distribution is still slightly skewed, it is clearly already "
    "approaching the Gaussian limit.",
    paper_value="mini-batches of 30 images (without replacement)",
)


def _per_repeat_test(statistic: str, rule: str, **thresholds: float) -> ClaimTest:
    """A test that holds when ``rule`` holds in at least REQUIRED_FRACTION of the repeats."""
    return ClaimTest(
        statistic,
        f"{rule} in ≥ REQUIRED_FRACTION of the repeats",
        {**thresholds, "REQUIRED_FRACTION": REQUIRED_FRACTION},
    )


CLAIMS = (
    ClaimSpec(
        id="fig9/single-example-not-gaussian",
        statement=f"single-example gradients: D'Agostino–Pearson p < {NOT_GAUSSIAN_PVALUE:g} {REQUIRED}",
        kind="paper",
        provenance=SINGLE_EXAMPLE_PROVENANCE,
        test=_per_repeat_test(
            "D'Agostino–Pearson K² p-value of one random softmax weight's single-example gradients",
            "p < NOT_GAUSSIAN_PVALUE",
            NOT_GAUSSIAN_PVALUE=NOT_GAUSSIAN_PVALUE,
        ),
        check=check_not_gaussian,
    ),
    ClaimSpec(
        id="fig9/single-example-double-peaked",
        statement=f"single-example gradient distribution has ≥ 2 KDE modes (prominence ≥ {MODE_PROMINENCE:.0%}) "
        + REQUIRED,
        kind="paper",
        provenance=SINGLE_EXAMPLE_PROVENANCE,
        test=_per_repeat_test(
            "modes of a Gaussian KDE (Silverman's robust bandwidth) of the single-example gradients",
            "≥ 2 modes of prominence ≥ MODE_PROMINENCE × the peak,",
            MODE_PROMINENCE=MODE_PROMINENCE,
        ),
        check=check_double_peaked,
    ),
    ClaimSpec(
        id="fig9/minibatch-closer-to-gaussian",
        statement=f"minibatch means of B examples: K²(single) / K²(minibatch) ≥ {IMPROVEMENT_FACTOR:g} on equal "
        f"sample sizes {REQUIRED}",
        kind="paper",
        provenance=MINIBATCH_PROVENANCE,
        test=_per_repeat_test(
            "K²(single) / K²(minibatch means), both on min(N, number of minibatches) samples",
            "≥ IMPROVEMENT_FACTOR",
            IMPROVEMENT_FACTOR=IMPROVEMENT_FACTOR,
        ),
        check=check_minibatch_closer,
    ),
    ClaimSpec(
        id="fig9b/minibatch-single-peaked",
        statement=f"minibatch means of B examples: the KDE has exactly one mode (prominence ≥ {MODE_PROMINENCE:.0%}) "
        + REQUIRED,
        kind="paper",
        provenance=MINIBATCH_PROVENANCE,
        test=_per_repeat_test(
            "modes of a Gaussian KDE (Silverman's robust bandwidth) of the minibatch-mean gradients",
            "exactly 1 mode of prominence ≥ MODE_PROMINENCE × the peak,",
            MODE_PROMINENCE=MODE_PROMINENCE,
        ),
        check=check_minibatch_single_peaked,
    ),
    ClaimSpec(
        id="fig9/minibatch-std-matches-prediction",
        statement=f"std of minibatch means within ±{STD_TOLERANCE:.0%} of σ·√(1/B − 1/N) {REQUIRED}",
        kind="extension",
        provenance=SMITH_LE_2018.cite(
            "App. C; §5 (the noise model behind the scaling rules)",
            "we approximated the difference between the full batch gradient and the mini-batch gradient estimate, "
            "α = (dC − dĈ), by a Gaussian random variable",
        ),
        test=_per_repeat_test(
            "std(minibatch means) / (σ·√(1/B − 1/N)), σ the single-example std",
            "|ratio − 1| ≤ STD_TOLERANCE",
            STD_TOLERANCE=STD_TOLERANCE,
        ),
        check=check_minibatch_std,
    ),
)


# ---- figures ------------------------------------------------------------------------------------------------


def _histogram_panel(ax: Any, histogram: Histogram, stats: Mapping[str, float], title: str, xlabel: str) -> None:
    """A density histogram with the fitted normal N(mean, std) drawn over it and the normality test noted."""
    counts, edges = np.asarray(histogram["counts"], float), np.asarray(histogram["edges"], float)
    widths = np.diff(edges)
    ax.bar(
        edges[:-1],
        counts / (counts.sum() * widths),
        width=widths,
        align="edge",
        color="C0",
        alpha=0.7,
        edgecolor="white",
        linewidth=0.3,
        label="measured",
    )
    grid = np.linspace(edges[0], edges[-1], 400)
    mean, std = histogram["mean"], histogram["std"]
    if std > 0:
        ax.plot(
            grid,
            np.exp(-0.5 * ((grid - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi)),
            color="C3",
            label="fitted normal",
        )
    ax.set(xlabel=xlabel, ylabel="density", title=title)
    plots.legend_below(
        ax,
        title=f"n = {histogram['n']}, K² = {stats['normal_statistic']:.3g}, {_p_text(stats['normal_pvalue'])}, "
        f"skew {stats['skewness']:.2f}, excess kurtosis {stats['excess_kurtosis']:.2f}",
    )


def _p_text(p_value: float) -> str:
    """A p-value as text; one that underflowed to 0 is below the smallest positive double."""
    return f"p < {np.finfo(float).tiny:.0e}" if p_value == 0 else f"p = {p_value:.2g}"


def _panels(axes: Any, repeat: Repeat, batch_size: int, label: str = "") -> None:
    """Fig. 9's two panels for one repeat: (a) single examples, (b) minibatch means."""
    suffix = f": {label}" if label else ""
    ax_single, ax_batch = axes
    _histogram_panel(
        ax_single,
        repeat["single_histogram"],
        repeat["single"],
        f"(a) gradient of a single example{suffix}",
        "∂C_i/∂ω",
    )
    _histogram_panel(
        ax_batch,
        repeat["minibatch_histogram"],
        repeat["minibatch"],
        f"(b) mean gradient over mini-batch (B = {batch_size}){suffix}",
        "mean of ∂C_i/∂ω",
    )


def draw_fig9(data: GradientNoiseData, fig_dir: Path, max_repeats: int = 6) -> list[Path]:
    """Smith & Le Fig. 9 (App. C): one softmax-layer weight's gradient at initialisation, (a) over single
    training examples and (b) over minibatch means of B examples, each with the fitted normal; first the
    paper's single-parameter figure (first repeat), then one row per repeat (up to ``max_repeats``)."""
    repeat = data["repeats"][0]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    _panels(axes, repeat, data["batch_size"])
    fig.suptitle(
        f"Fig. 9 — gradient distribution of {repeat['parameter_name']} at initialisation (N = {data['n_train']})"
    )
    paths = [plots.save(fig, fig_dir / "fig9_gradient_distribution.png")]
    shown = data["repeats"][:max_repeats]
    fig, rows = plt.subplots(len(shown), 2, figsize=(12, 3.0 * len(shown)), layout="constrained", squeeze=False)
    for axes, repeat in zip(rows, shown, strict=True):
        _panels(axes, repeat, data["batch_size"], f"{repeat['parameter_name']}, seed {repeat['seed']}")
    fig.suptitle(f"Fig. 9 repeated: random softmax-layer weights and initialisation seeds (N = {data['n_train']})")
    paths.append(plots.save(fig, fig_dir / "fig9_gradient_distribution_repeats.png"))
    return paths


EXPERIMENT = Experiment(
    name="smith-le-gradient-noise",
    description="One softmax weight's gradient at init: single examples vs means of 30, normality tests.",
    title="Minibatch gradient noise is close to Gaussian (Smith & Le 2018, Fig. 9)",
    paper="Smith & Le, ICLR 2018, Appendix C, Figure 9",
    specs={
        "quick": GradientNoiseSpec(n_minibatches=1000, n_repeats=5),
        "paper": GradientNoiseSpec(n_minibatches=10000, n_repeats=20),
    },
    tiny={
        scale: {
            "n_train": 200,
            "hidden_width": 16,
            "batch_size": 10,
            "n_minibatches": 200,
            "n_repeats": 2,
            "histogram_bins": 12,
            "dataset": "standin",
        }
        for scale in ("quick", "paper")
    },
    run=run,
    claims=CLAIMS,
    figures=(Figure("fig9", draw_fig9, GradientNoiseData),),
)
