"""Jastrzębski et al. 2018, §4.1 Fig. 2–3 and App. F.1 Fig. 10–12 (``jastrzebski-interpolation``): loss and
accuracy along (1−α)θ₁ + αθ₂, α ∈ [−1, 2], between endpoints of different η/S (Fig. 2: a large batch and a
small learning rate against a baseline) and of equal η/S (Fig. 3: (βη, βS) against the baseline).

Width of an endpoint (``instruments.landscape.outward_width``): the distance d in α units from it, outwards
along the same line θ(α) = (1−α)θ₁ + αθ₂ (α = −d for θ₁, α = 1 + d for θ₂), to where the training loss, batch-
norm statistics re-estimated at every α, first reaches ``LOSS_THRESHOLD``. Inside the plotted grid the
crossing is bracketed by the grid's points; beyond it the search continues along the same line, doubling d (2,
4, 8, …, at most ``width_cap``) until the loss reaches the threshold; the bracket is then bisected down to
``WIDTH_TOLERANCE`` and the crossing interpolated linearly inside it ("first" at the points probed). Why: a
flat endpoint's loss can stay below the threshold over the whole grid (the equal-η/S pairs of the quick scale
do), which would leave the equal-width claims vacuous. Both widths of a pair are measured on the same line in
the same units (α, i.e. multiples of ‖θ₂ − θ₁‖), so they stay comparable however far out they lie; widths of
different pairs are not (their lines have different lengths, recorded as ``line_length``). The cap (64 × the
endpoints' distance), the threshold and the tolerance were fixed before any run; a side still below the
threshold at the cap has width None ("beyond the cap"), and a claim with no finite width to rest on
fails.

Claims (``CLAIMS``; their checks in ``interpolation_checks``), decided on log widths over seeds
(``analysis.effects``: Welch intervals, at least 3 seeds with finished runs, else inconclusive). Fig. 2, per
comparison (large batch, small learning rate): the lower-η/S endpoint sits on the sharper side — the 95% interval
on mean log width(lower η/S) − mean log width(other) lies below zero (a wide side beyond the cap enters at the
cap, a lower bound, which can only shrink the effect; a sharp side beyond the cap makes the claim inconclusive).
Fig. 2 (right) and Fig. 3 (equal η/S: the large batch against the small learning rate, and the smallest β < 1 and
the largest β > 1 of the spec's ``betas`` against the baseline): the widths are equivalent — two one-sided tests
on the log widths with the margin ln ``WIDTH_RATIO_MARGIN`` (a factor 1.5, fixed before the run; the paper gives
no number, it says "similar width"); a width beyond the cap makes it inconclusive.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import matplotlib.pyplot as plt
import numpy as np

from sgdnoise import plots
from sgdnoise.data import TaskData
from sgdnoise.engine import TrainConfig
from sgdnoise.experiments.base import Experiment, Figure, RunContext
from sgdnoise.experiments.claims import JASTRZEBSKI_2018, ClaimSpec, ClaimTest, Provenance, Verdict
from sgdnoise.experiments.jastrzebski_2018.interpolation_checks import (
    WIDTH_RATIO_MARGIN,
    by_beta,
    by_label,
    equal_width,
    lower_noise_sharper,
)
from sgdnoise.experiments.jastrzebski_2018.setup import (
    CIFAR10_FULL,
    MODELS,
    BudgetedSetup,
    ModelName,
    model_spec,
    spec_task,
)
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.instruments.landscape import endpoint_widths
from sgdnoise.sweep import Sweep, SweepRun

LOSS_THRESHOLD = 1.0  # an endpoint's width ends where the training loss first reaches this
WIDTH_TOLERANCE = 0.01  # the crossing is bisected down to this many α units

Pair = tuple[float, int]


@dataclass(frozen=True)
class InterpolationSpec(BudgetedSetup):
    """Fig. 2: a baseline (η, S) against a large batch (η, f_S·S) and a small learning rate (η/f_η, S),
    both at a lower η/S. Fig. 3: the baseline against (βη, βS) for each β (equal η/S). Every run trains
    for ``budget`` (long enough to reach ~100% training accuracy, recorded) and keeps its weights.
    The curves are plotted on the grid α ∈ [−1, 2] (step ``alpha_step``); the width search stops at
    ``width_cap`` (see the module docstring)."""

    baseline_lr: float = 0.1
    baseline_batch: int = 50
    large_batch_factor: int = 10
    small_lr_factor: float = 10.0
    betas: tuple[float, ...] = (0.5, 4.0)
    beta_batch: int | None = None
    beta_model: ModelName | None = None
    alpha_step: float = 0.05
    width_cap: float = 64.0
    measure_examples: int = 1000
    bn_batch: int = 128

    def __post_init__(self) -> None:
        if self.seeds < 1 or self.alpha_step <= 0:
            raise ValueError("need seeds >= 1 and alpha_step > 0")
        if not self.width_cap >= 1:
            raise ValueError("need width_cap >= 1 (the grid reaches d = 1 on both sides)")
        if self.beta_model is not None and self.beta_model not in MODELS:
            raise ValueError(f"beta_model must be one of {MODELS}, got {self.beta_model!r}")
        super().__post_init__()

    def comparisons(self) -> dict[str, tuple[str, Pair, Pair, bool]]:
        """name → (network, θ₁ pair, θ₂ pair, equal η/S). Fig. 2 trains ``model`` around (η, S) =
        (baseline_lr, baseline_batch); Fig. 3 trains ``beta_model`` (default ``model``) around (baseline_lr,
        ``beta_batch``) (default ``baseline_batch``)."""
        net, base = self.model, (self.baseline_lr, self.baseline_batch)
        large = (self.baseline_lr, self.baseline_batch * self.large_batch_factor)
        small = (self.baseline_lr / self.small_lr_factor, self.baseline_batch)
        out = {
            "large-batch": (net, base, large, False),
            "small-lr": (net, base, small, False),
            # Fig. 2 (right): the large batch against the small learning rate, two endpoints of equal η/S
            "large-batch-vs-small-lr": (net, large, small, True),
        }
        beta_net, beta_batch = self.beta_model or self.model, self.beta_batch or self.baseline_batch
        for beta in self.betas:
            # S·β rounds to a whole batch (β = 0.25 of S = 50: 12, so η/S is 4% off the baseline's)
            beta_pair = (self.baseline_lr * beta, max(1, round(beta_batch * beta)))
            out[f"beta={beta:g}"] = (beta_net, (self.baseline_lr, beta_batch), beta_pair, True)
        return out

    def alphas(self) -> list[float]:
        count = round(3.0 / self.alpha_step)
        return [round(-1.0 + 3.0 * i / count, 10) for i in range(count + 1)]


class Endpoint(TypedDict):
    learning_rate: float
    batch_size: int
    noise: float


class WidthSearch(TypedDict):
    """``outward_width``'s answer for one side of one seed's line."""

    width: float | None
    beyond_cap: bool
    points: list[list[float]]


class Comparison(TypedDict):
    """One pair of endpoints (θ₁ at α = 0, θ₂ at α = 1): per seed the curve along the line (a column per
    quantity of ``BNRecalibratedAccuracy``, e.g. ``train_loss``, ``test_acc``) and each side's width."""

    model: str
    first: Endpoint
    second: Endpoint
    equal_noise: bool
    alphas: list[float]
    curves: list[dict[str, list[float]]]
    widths: dict[str, list[float | None]]
    width_searches: dict[str, list[WidthSearch]]
    line_length: list[float]
    endpoint_train_acc: dict[str, list[float | None]]


class InterpolationData(TypedDict):
    """The numbers behind Fig. 2–3 and their claims."""

    comparisons: dict[str, Comparison]
    loss_threshold: float
    width_cap: float
    width_tolerance: float
    seeds: list[int]


def settings(spec: InterpolationSpec) -> dict[str, Any]:
    """The spec and the width search's fixed threshold and tolerance."""
    return spec_to_dict(spec) | {"loss_threshold": LOSS_THRESHOLD, "width_tolerance": WIDTH_TOLERANCE}


class _Line:
    """The model at (1−α)θ₁ + αθ₂, measured with batch-norm statistics re-estimated at every α
    (``measurements.BNRecalibratedAccuracy``, the measurement of every split the runs report)."""

    def __init__(
        self,
        config_a: TrainConfig,
        state_a: Mapping[str, Any],
        state_b: Mapping[str, Any],
        task: TaskData,
        spec: InterpolationSpec,
        device: Any,
    ) -> None:
        import torch

        from sgdnoise.engine import model_from_state
        from sgdnoise.measurements import BNRecalibratedAccuracy

        self.model = model_from_state(config_a, state_a, torch.device(device), torch.float32)
        self.names = [name for name, _ in self.model.named_parameters()]
        self.a = {n: state_a[n].to(device) for n in self.names}
        self.b = {n: state_b[n].to(device) for n in self.names}
        self.params = dict(self.model.named_parameters())
        self.task = task
        self.measure = BNRecalibratedAccuracy(max_examples=spec.measure_examples, batch_size=spec.bn_batch)
        self.length = float(torch.sqrt(sum(((self.b[n] - self.a[n]).double() ** 2).sum() for n in self.names)).item())

    def at(self, alpha: float) -> dict[str, float]:
        import torch

        with torch.no_grad():
            for n in self.names:
                self.params[n].copy_((1 - alpha) * self.a[n] + alpha * self.b[n])
        return self.measure(self.model, self.task)

    def train_loss(self, alpha: float) -> float:
        return self.at(alpha)["train_loss"]


LINES_NAMESPACE = "jastrzebski-interpolation-lines"


def _measured_line(
    config_a: TrainConfig,
    key_a: str,
    key_b: str,
    task: TaskData,
    alphas: list[float],
    spec: InterpolationSpec,
    ctx: RunContext,
) -> dict[str, Any]:
    """The curve along the line between two stored runs (``config_a`` the first's), its length and both
    endpoints' widths: read from the store, or measured and stored, so a rerun measures nothing."""
    config = {
        "first": key_a,
        "second": key_b,
        "alphas": alphas,
        "measure_examples": spec.measure_examples,
        "bn_batch": spec.bn_batch,
        "loss_threshold": LOSS_THRESHOLD,
        "width_cap": spec.width_cap,
        "width_tolerance": WIDTH_TOLERANCE,
    }
    record = ctx.store.get(LINES_NAMESPACE, config)
    if record is not None:
        return dict(record.metrics)
    line = _Line(config_a, ctx.store.load_weights(key_a), ctx.store.load_weights(key_b), task, spec, ctx.device)
    curve: dict[str, list[float]] = {}
    for alpha in alphas:
        for quantity, value in line.at(alpha).items():
            curve.setdefault(quantity, []).append(value)
    found = endpoint_widths(
        line.train_loss,
        alphas,
        curve["train_loss"],
        threshold=LOSS_THRESHOLD,
        cap=spec.width_cap,
        tolerance=WIDTH_TOLERANCE,
    )
    measured = {"curve": curve, "length": line.length, "widths": found}
    ctx.store.put(LINES_NAMESPACE, config, metrics=measured)
    return measured


def run(spec: InterpolationSpec, ctx: RunContext) -> InterpolationData:
    """Train every pair × seed (weights kept), then measure each comparison's line and widths."""
    name, factory = spec_task(spec)
    task = factory()
    n_train = len(task.train)
    comparisons = spec.comparisons()
    nets = {
        net: model_spec(net, spec.dataset, pool=spec.pool, width=spec.width, depth=spec.depth)
        for net, *_ in comparisons.values()
    }
    trained = sorted({(net, p) for net, first, second, _ in comparisons.values() for p in (first, second)})
    seeds = [ctx.seed + i for i in range(spec.seeds)]
    keys = [(net, p, seed) for net, p in trained for seed in seeds]
    runs = [
        SweepRun(
            TrainConfig(nets[net], lr, b, steps=spec.budget(lr, b, n_train), seed=seed, eval_points=0),
            task=name,
        )
        for net, (lr, b), seed in keys
    ]
    swept = ctx.sweep(Sweep("jastrzebski-interpolation", {name: factory}, runs, keep_weights=True))
    by_key = dict(zip(keys, swept, strict=True))
    alphas = spec.alphas()
    out: dict[str, Comparison] = {}
    for label, (net, first, second, equal) in comparisons.items():
        curves, lengths = [], []
        widths: dict[str, list[float | None]] = {"first": [], "second": []}
        searches: dict[str, list[WidthSearch]] = {"first": [], "second": []}
        for seed in seeds:
            ra, rb = by_key[(net, first, seed)], by_key[(net, second, seed)]
            if ra.status != "finished" or rb.status != "finished":
                continue
            measured = _measured_line(ra.run.config, ra.key, rb.key, task, alphas, spec, ctx)
            curve = measured["curve"]
            curves.append(curve)
            lengths.append(measured["length"])
            found = measured["widths"]
            for side in ("first", "second"):
                widths[side].append(found[side]["width"])
                searches[side].append(found[side])  # type: ignore[arg-type]
        out[label] = {
            "model": net,
            "first": {"learning_rate": first[0], "batch_size": first[1], "noise": first[0] / first[1]},
            "second": {"learning_rate": second[0], "batch_size": second[1], "noise": second[0] / second[1]},
            "equal_noise": equal,
            "alphas": alphas,
            "curves": curves,
            "widths": widths,
            "width_searches": searches,
            "line_length": lengths,
            "endpoint_train_acc": {
                "first": [by_key[(net, first, s)].metrics.get("train_acc") for s in seeds],
                "second": [by_key[(net, second, s)].metrics.get("train_acc") for s in seeds],
            },
        }
    return {
        "comparisons": out,
        "loss_threshold": LOSS_THRESHOLD,
        "width_cap": spec.width_cap,
        "width_tolerance": WIDTH_TOLERANCE,
        "seeds": seeds,
    }


# ---- claims -------------------------------------------------------------------------------------------------


WIDTH_TEST = "α-distance from each endpoint, outwards along the line, to train loss LOSS_THRESHOLD (BN re-estimated)"
SHARPER_TEST = ClaimTest(
    WIDTH_TEST + "; mean log width of the lower-η/S side minus the other's, Welch's 95% interval over seeds",
    "holds if the interval lies below 0, fails if above, else inconclusive (≥ 3 seeds; a wide side beyond the cap "
    "counts at the cap, a sharp side beyond it is inconclusive)",
    {"LOSS_THRESHOLD": LOSS_THRESHOLD, "WIDTH_TOLERANCE": WIDTH_TOLERANCE},
)
EQUAL_TEST = ClaimTest(
    WIDTH_TEST + "; mean log width of each side, Welch's 90% interval on their difference (two one-sided tests)",
    "holds if the interval lies inside ±ln WIDTH_RATIO_MARGIN, fails if outside, else inconclusive (≥ 3 seeds, "
    "every width inside the cap)",
    {"WIDTH_RATIO_MARGIN": WIDTH_RATIO_MARGIN, "LOSS_THRESHOLD": LOSS_THRESHOLD, "WIDTH_TOLERANCE": WIDTH_TOLERANCE},
)
FIG2 = JASTRZEBSKI_2018.cite(
    "§4.1, Fig. 2; App. F.1, Fig. 10–12",
    "models with large batch size (Fig. 2-left) or low learning rate (Fig. 2-middle; both having a lower η/S "
    "than the baseline) end up in a sharper minimum relative to the baseline model",
)
FIG2_RIGHT = JASTRZEBSKI_2018.cite(
    "§4.1, Fig. 2 (right)",
    "figure 2 (right) shows that models trained with roughly the same level of noise end up in minima of similar "
    "quality",
    paper_value="η = 0.1, S = 1024 against η = 0.01, S = 128 (ResNet-56, CIFAR-10)",
)
FIG3 = JASTRZEBSKI_2018.cite(
    "§4.1, Fig. 3",
    "The interpolation results indicate that all the minima have similar width and depth",
    paper_value="β ∈ {1/4, 4} around η = 0.1, S = 50 (VGG-11, CIFAR-10)",
)
SIDE = f"rises faster (smaller α-width to train loss {LOSS_THRESHOLD:g}; mean log width over seeds)"
EQUAL_WIDTHS = f"the widths are equivalent within a factor {WIDTH_RATIO_MARGIN:g} (two one-sided tests on log widths)"


def _width_claim(
    claim_id: str, statement: str, check: Callable[[InterpolationData], Verdict], provenance: Provenance
) -> ClaimSpec:
    """A paper claim on the α-widths: lower η/S sharper (Fig. 2) or equal η/S, equivalent widths."""
    return ClaimSpec(
        id=claim_id,
        statement=statement,
        kind="paper",
        provenance=provenance,
        test=SHARPER_TEST if provenance is FIG2 else EQUAL_TEST,
        check=check,
    )


CLAIMS = (
    _width_claim(
        "fig2/lower-noise-sharper-large-batch",
        "baseline (η, S) vs large batch (η, f_S·S), f_S = large_batch_factor: the lower-η/S (large-batch) "
        f"endpoint's side {SIDE}",
        by_label("large-batch", lower_noise_sharper),
        FIG2,
    ),
    _width_claim(
        "fig2/lower-noise-sharper-small-lr",
        "baseline (η, S) vs small learning rate (η/f_η, S), f_η = small_lr_factor: the lower-η/S (small-η) "
        f"endpoint's side {SIDE}",
        by_label("small-lr", lower_noise_sharper),
        FIG2,
    ),
    _width_claim(
        "fig2/equal-noise-equal-width-large-batch-vs-small-lr",
        "large batch (η, f_S·S) vs small learning rate (η/f_η, S), of (roughly) equal η/S: " + EQUAL_WIDTHS,
        by_label("large-batch-vs-small-lr", equal_width),
        FIG2_RIGHT,
    ),
    _width_claim(
        "fig3/equal-noise-equal-width-small-beta",
        "baseline (η, S) vs (βη, βS) with the smallest β < 1 of betas (equal η/S; quick β = 0.5, paper 0.25): "
        + EQUAL_WIDTHS,
        by_beta(below=True),
        FIG3,
    ),
    _width_claim(
        "fig3/equal-noise-equal-width-large-beta",
        "baseline (η, S) vs (βη, βS) with the largest β > 1 of betas (equal η/S; β = 4 at both scales): "
        + EQUAL_WIDTHS,
        by_beta(below=False),
        FIG3,
    ),
)


# ---- figures ------------------------------------------------------------------------------------------------


def _draw(data: InterpolationData, fig_dir: Path, equal: bool) -> list[Path]:
    """Train/test loss (left axis, log) and accuracy (right) along (1−α)θ₁ + αθ₂, seed means; θ₁ at α = 0,
    θ₂ at α = 1, one panel per comparison of different (Fig. 2) or equal (Fig. 3) η/S. Each side's width
    (α-distance to the loss threshold, dotted) is in the panel's title (mean ± std over seeds) and marked
    dashed when inside the plot."""
    stem, title = (
        ("fig3_interpolation", "Fig. 3: equal η/S") if equal else ("fig2_interpolation", "Fig. 2: different η/S")
    )
    items = [(label, c) for label, c in data["comparisons"].items() if c["equal_noise"] == equal and c["curves"]]
    if not items:
        return []
    fig, axes = plt.subplots(1, len(items), figsize=(4.6 * len(items), 3.9), squeeze=False, layout="constrained")
    for ax, (label, comp) in zip(axes[0], items, strict=True):
        alphas = np.asarray(comp["alphas"], float)
        twin = ax.twinx()
        for split, style in (("train", "-"), ("test", "--")):
            loss = np.nanmean(plots.as_float_array([c[f"{split}_loss"] for c in comp["curves"]]), axis=0)
            acc = np.nanmean(plots.as_float_array([c[f"{split}_acc"] for c in comp["curves"]]), axis=0)
            ax.plot(alphas, loss, style, color="tab:red", label=f"{split} loss")
            twin.plot(alphas, acc, style, color="tab:blue", label=f"{split} accuracy")
        ax.axhline(data["loss_threshold"], color="grey", lw=0.6, ls=":", label="loss threshold of the width")
        ax.set_yscale("log")
        ax.set_xlabel("α")
        ax.set_ylabel("cross-entropy", color="tab:red")
        twin.set_ylabel("accuracy", color="tab:blue")
        widths_text = []
        for side, endpoint, outwards in (("first", 0.0, -1), ("second", 1.0, 1)):
            widths = [w for w in comp["widths"][side] if w is not None]
            if not widths:
                widths_text.append(f"α = {endpoint:g}: no width")
                continue
            edge = endpoint + outwards * float(np.mean(widths))
            if alphas[0] <= edge <= alphas[-1]:
                ax.axvline(edge, color="grey", lw=0.8, ls="--", label="mean width from each end")
            widths_text.append(f"α = {endpoint:g}: {np.mean(widths):.2f} ± {np.std(widths):.2f}")
        first, second = comp["first"], comp["second"]
        ax.set_title(
            f"{label}: α=0 η={first['learning_rate']:g}, S={first['batch_size']}; "
            f"α=1 η={second['learning_rate']:g}, S={second['batch_size']}\nwidth (in α, seeds' mean ± std): "
            + ", ".join(widths_text),
            fontsize=8,
        )
        plots.legend_below(ax, twin, fontsize=7)
    fig.suptitle(f"Jastrzębski et al. 2018 {title}")
    return [plots.save(fig, fig_dir / f"{stem}_interpolation.png")]


def draw_fig2(data: InterpolationData, fig_dir: Path) -> list[Path]:
    """Fig. 2: endpoints of different η/S (large batch, small learning rate) against the baseline."""
    return _draw(data, fig_dir, equal=False)


def draw_fig3(data: InterpolationData, fig_dir: Path) -> list[Path]:
    """Fig. 3: endpoints of equal η/S, (βη, βS) against the baseline."""
    return _draw(data, fig_dir, equal=True)


EXPERIMENT = Experiment(
    name="jastrzebski-interpolation",
    description="Loss/accuracy on (1−α)θ₁ + αθ₂, BN re-estimated: lower η/S sharper, equal η/S equal width (Fig. 2-3).",
    title="Loss and accuracy on the line between endpoints of different / equal η/S (Fig. 2-3)",
    paper="Jastrzębski et al. 2018, §4.1 Fig. 2-3, App. F.1 Fig. 10-12",
    specs={
        # quick: baseline η=0.1, S=50 on 1000 pooled Fashion-MNIST images; S=500 and η=0.01 at 10× lower
        # η/S; β ∈ {0.5, 4}: (0.05, 25) and (0.4, 200) at the baseline's η/S; 3 seeds
        "quick": InterpolationSpec(
            seeds=3, n_train=1000, validation=1000, n_test=2000, min_epochs=50, eta_time=25.0, pool=2
        ),
        # paper (§4.1): Fig. 2 is ResNet-56 on CIFAR-10 with SGD without momentum, the baseline η = 0.1, S = 128
        # against S = 1024 (×8) and η = 0.01 (÷10); Fig. 3 is VGG-11 with (0.1β, 50β), β ∈ {0.25, 1, 4}.
        # 45k/5k train/validation, 200 epochs and 3 seeds are our choices (the paper gives no budget and
        # shows one initialisation per panel, three more in Fig. 10-12). A constant η is our choice too: App. F.1
        # says Fig. 10-12's models used "similar learning rate decay throughout training", which the paper does
        # not specify; a constant η keeps each run's η/S the ratio compared.
        "paper": InterpolationSpec(
            **CIFAR10_FULL,
            seeds=3,
            min_epochs=200,
            eta_time=0.0,
            baseline_batch=128,
            large_batch_factor=8,
            small_lr_factor=10.0,
            betas=(0.25, 4.0),
            beta_batch=50,
            beta_model="vgg11",
            model="resnet56",
        ),
    },
    tiny={
        "quick": {
            "dataset": "standin",
            "seeds": 2,
            "n_train": 32,
            "validation": 16,
            "n_test": 16,
            "min_epochs": 2,
            "eta_time": 0,
            "baseline_batch": 8,
            "large_batch_factor": 2,
            "betas": "0.5,2",
            "width": 16,
            "depth": 2,
            "alpha_step": 0.5,
            "measure_examples": 16,
            "bn_batch": 8,
        },
        "paper": {  # one smoke step of ResNet-56 per run
            "dataset": "standin",
            "seeds": 1,
            "n_train": 8,
            "validation": 4,
            "n_test": 4,
            "min_epochs": 0.5,
            "baseline_batch": 4,
            "large_batch_factor": 2,
            "betas": "2",
            "alpha_step": 1.5,
            "measure_examples": 4,
            "bn_batch": 4,
        },
    },
    run=run,
    claims=CLAIMS,
    figures=(Figure("fig2", draw_fig2, InterpolationData), Figure("fig3", draw_fig3, InterpolationData)),
    settings=settings,
)
