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

Claims (``CLAIMS``): Fig. 2, per comparison (large batch, small learning rate): the lower-η/S endpoint
sits on the sharper side — in every seed its width is finite and smaller than the other endpoint's (a width
beyond the cap counts as larger than any finite one). Fig. 3, for the smallest β < 1 and the largest β > 1
of the spec's ``betas``: the two widths' means differ by at most ``WIDTH_SPREAD`` pooled seed stds;
evaluable only when every seed has finite widths on both sides and there are ≥ 2 seeds (else it fails,
with a note saying why).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import matplotlib.pyplot as plt
import numpy as np

from sgdnoise import plots
from sgdnoise.data import TaskData
from sgdnoise.engine import TrainConfig
from sgdnoise.experiments.base import Experiment, Figure, RunContext
from sgdnoise.experiments.claims import ClaimSpec, ClaimTest, NotEnoughData, Provenance, Verdict
from sgdnoise.experiments.jastrzebski_2018.setup import BudgetedSetup, spec_model, spec_task
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.instruments.landscape import endpoint_widths
from sgdnoise.sweep import Sweep, SweepRun

WIDTH_SPREAD = 2.0  # equal η/S: mean widths within 2 pooled seed stds
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
    alpha_step: float = 0.05
    width_cap: float = 64.0
    measure_examples: int = 1000
    bn_batch: int = 128

    def __post_init__(self) -> None:
        if self.seeds < 1 or self.alpha_step <= 0:
            raise ValueError("need seeds >= 1 and alpha_step > 0")
        if not self.width_cap >= 1:
            raise ValueError("need width_cap >= 1 (the grid reaches d = 1 on both sides)")
        super().__post_init__()

    def comparisons(self) -> dict[str, tuple[Pair, Pair, bool]]:
        """name → (θ₁ pair, θ₂ pair, equal η/S)."""
        base = (self.baseline_lr, self.baseline_batch)
        out = {
            "large-batch": (base, (self.baseline_lr, self.baseline_batch * self.large_batch_factor), False),
            "small-lr": (base, (self.baseline_lr / self.small_lr_factor, self.baseline_batch), False),
        }
        for beta in self.betas:
            out[f"beta={beta:g}"] = (base, (self.baseline_lr * beta, max(1, round(self.baseline_batch * beta))), True)
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
    model = spec_model(spec)
    n_train = len(task.train)
    comparisons = spec.comparisons()
    pairs = sorted({p for first, second, _ in comparisons.values() for p in (first, second)})
    seeds = [ctx.seed + i for i in range(spec.seeds)]
    keys = [(p, seed) for p in pairs for seed in seeds]
    runs = [
        SweepRun(
            TrainConfig(
                model,
                lr,
                b,
                steps=spec.budget(lr, b, n_train),
                seed=seed,
                eval_points=0,
            ),
            task=name,
        )
        for (lr, b), seed in keys
    ]
    swept = ctx.sweep(Sweep("jastrzebski-interpolation", {name: factory}, runs, keep_weights=True))
    by_key = dict(zip(keys, swept, strict=True))
    alphas = spec.alphas()
    out: dict[str, Comparison] = {}
    for label, (first, second, equal) in comparisons.items():
        curves, lengths = [], []
        widths: dict[str, list[float | None]] = {"first": [], "second": []}
        searches: dict[str, list[WidthSearch]] = {"first": [], "second": []}
        for seed in seeds:
            ra, rb = by_key[(first, seed)], by_key[(second, seed)]
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
            "first": {"learning_rate": first[0], "batch_size": first[1], "noise": first[0] / first[1]},
            "second": {"learning_rate": second[0], "batch_size": second[1], "noise": second[0] / second[1]},
            "equal_noise": equal,
            "alphas": alphas,
            "curves": curves,
            "widths": widths,
            "width_searches": searches,
            "line_length": lengths,
            "endpoint_train_acc": {
                "first": [by_key[(first, s)].metrics.get("train_acc") for s in seeds],
                "second": [by_key[(second, s)].metrics.get("train_acc") for s in seeds],
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


def _width_stats(values: Sequence[float | None]) -> tuple[float, float, int]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan, 0
    return float(np.mean(finite)), float(np.std(finite)), len(finite)


def _widths(comp: Mapping[str, Any], threshold: float, cap: float) -> tuple[dict[str, Any], int, str]:
    """The widths' summary (the verdict's value), how many are beyond the cap, and that as a sentence."""
    w1, w2 = comp["widths"]["first"], comp["widths"]["second"]
    m1, s1, n1 = _width_stats(w1)
    m2, s2, n2 = _width_stats(w2)
    value = {
        "width_first_mean": m1,
        "width_first_std": s1,
        "width_second_mean": m2,
        "width_second_std": s2,
        "widths_first": w1,
        "widths_second": w2,
        "seeds": len(w1),
        "finite_first": n1,
        "finite_second": n2,
    }
    missing = (len(w1) - n1) + (len(w2) - n2)
    beyond = f"{missing} of {len(w1) + len(w2)} widths beyond the cap (train loss < {threshold:g} at d = {cap:g})"
    return value, missing, beyond


def lower_noise_sharper(comp: Mapping[str, Any], threshold: float, cap: float = math.inf) -> Verdict:
    """Fig. 2 on one comparison: in every seed the lower-η/S endpoint's width is finite and smaller than the
    other's (a width beyond the cap, None, counts as larger than any finite one); no seed: fails."""
    value, missing, beyond = _widths(comp, threshold, cap)
    w1, w2 = value["widths_first"], value["widths_second"]
    lower_is_second = comp["second"]["noise"] < comp["first"]["noise"]
    sharp, wide = (w2, w1) if lower_is_second else (w1, w2)
    per_seed = [s is not None and (w is None or s < w) for s, w in zip(sharp, wide, strict=True)]
    m1, m2 = value["width_first_mean"], value["width_second_mean"]
    ms, mw = (m2, m1) if lower_is_second else (m1, m2)
    note = beyond if missing else ""
    if not per_seed:
        note = "not evaluable: no finished pair of runs"
    return Verdict.of(
        bool(per_seed) and all(per_seed),
        value
        | {
            "seeds_sharper": int(sum(per_seed)),
            "width_sharp_mean": ms,
            "width_wide_mean": mw,
            "wide_over_sharp": mw / ms if value["finite_first"] and value["finite_second"] and ms > 0 else math.nan,
        },
        note,
    )


def equal_width(comp: Mapping[str, Any], threshold: float, cap: float = math.inf) -> Verdict:
    """Fig. 3 on one comparison: mean widths differ by ≤ WIDTH_SPREAD pooled seed stds; fails, with a note
    saying why, unless every seed has finite widths on both sides and there are ≥ 2 seeds."""
    value, missing, beyond = _widths(comp, threshold, cap)
    seeds = value["seeds"]
    evaluable = seeds >= 2 and value["finite_first"] == seeds and value["finite_second"] == seeds
    s1, s2 = value["width_first_std"], value["width_second_std"]
    pooled = math.sqrt((s1**2 + s2**2) / 2) if evaluable else math.nan
    diff = abs(value["width_first_mean"] - value["width_second_mean"]) if evaluable else math.nan
    if evaluable:
        note = ""
    elif missing:
        note = f"not evaluable: {beyond}"
    else:
        note = f"not evaluable: {seeds} seed(s) with finished runs, need >= 2"
    return Verdict.of(
        evaluable and diff <= WIDTH_SPREAD * pooled, value | {"difference": diff, "pooled_std": pooled}, note
    )


def _beta(comp: Mapping[str, Any]) -> float:
    return comp["second"]["learning_rate"] / comp["first"]["learning_rate"]


def _by_label(label: str, verdict: Callable[..., Verdict]) -> Callable[[InterpolationData], Verdict]:
    def check(data: InterpolationData) -> Verdict:
        if label not in data["comparisons"]:
            raise NotEnoughData(f"no {label} comparison was run")
        return verdict(data["comparisons"][label], data["loss_threshold"], data["width_cap"])

    return check


def _by_beta(below: bool) -> Callable[[InterpolationData], Verdict]:
    """The equal-η/S comparison with the smallest β < 1 (``below``) or the largest β > 1."""

    def check(data: InterpolationData) -> Verdict:
        equal = [c for c in data["comparisons"].values() if c["equal_noise"] and (_beta(c) < 1) == below]
        equal = [c for c in equal if _beta(c) != 1]
        if not equal:
            raise NotEnoughData(f"no β {'<' if below else '>'} 1 among the spec's betas")
        comp = min(equal, key=_beta) if below else max(equal, key=_beta)
        return equal_width(comp, data["loss_threshold"], data["width_cap"])

    return check


WIDTH_TEST = "α-distance from each endpoint, outwards along the line, to train loss LOSS_THRESHOLD (BN re-estimated)"
SHARPER_TEST = ClaimTest(
    WIDTH_TEST,
    "in every seed the lower-η/S endpoint's width is finite and smaller than the other's (beyond the cap = larger)",
    {"LOSS_THRESHOLD": LOSS_THRESHOLD, "WIDTH_TOLERANCE": WIDTH_TOLERANCE},
)
EQUAL_TEST = ClaimTest(
    WIDTH_TEST + "; mean over seeds of each side's width",
    "|mean difference| ≤ WIDTH_SPREAD × pooled seed std, with ≥ 2 seeds and every width finite",
    {"WIDTH_SPREAD": WIDTH_SPREAD, "LOSS_THRESHOLD": LOSS_THRESHOLD, "WIDTH_TOLERANCE": WIDTH_TOLERANCE},
)
FIG2 = Provenance(
    "jastrzebski-2018",
    "§4.1, Fig. 2; App. F.1, Fig. 10–12",
    "models with large batch size (Fig. 2-left) or low learning rate (Fig. 2-middle; both having a lower η/S "
    "than the baseline) end up in a sharper minimum relative to the baseline model",
)
FIG3 = Provenance(
    "jastrzebski-2018",
    "§4.1, Fig. 3",
    "The interpolation results indicate that all the minima have similar width and depth",
    paper_value="β ∈ {1/4, 4} around η = 0.1, S = 50 (VGG-11, CIFAR-10)",
)
SIDE = f"rises faster (smaller α-width to train loss {LOSS_THRESHOLD:g}) in every seed"
EQUAL_WIDTHS = f"mean widths differ by ≤ {WIDTH_SPREAD:g} pooled seed stds"


def _width_claim(claim_id: str, statement: str, check: Callable[[InterpolationData], Verdict]) -> ClaimSpec:
    """A paper claim on the α-widths: Fig. 2's (lower η/S sharper) or Fig. 3's (equal η/S, equal width)."""
    fig2 = claim_id.startswith("fig2/")
    return ClaimSpec(
        id=claim_id,
        statement=statement,
        kind="paper",
        provenance=FIG2 if fig2 else FIG3,
        test=SHARPER_TEST if fig2 else EQUAL_TEST,
        check=check,
    )


CLAIMS = (
    _width_claim(
        "fig2/lower-noise-sharper-large-batch",
        "baseline (η, S) vs large batch (η, f_S·S), f_S = large_batch_factor: the lower-η/S (large-batch) "
        f"endpoint's side {SIDE}",
        _by_label("large-batch", lower_noise_sharper),
    ),
    _width_claim(
        "fig2/lower-noise-sharper-small-lr",
        "baseline (η, S) vs small learning rate (η/f_η, S), f_η = small_lr_factor: the lower-η/S (small-η) "
        f"endpoint's side {SIDE}",
        _by_label("small-lr", lower_noise_sharper),
    ),
    _width_claim(
        "fig3/equal-noise-equal-width-small-beta",
        "baseline (η, S) vs (βη, βS) with the smallest β < 1 of betas (equal η/S; quick β = 0.5, paper 0.25): "
        + EQUAL_WIDTHS,
        _by_beta(below=True),
    ),
    _width_claim(
        "fig3/equal-noise-equal-width-large-beta",
        "baseline (η, S) vs (βη, βS) with the largest β > 1 of betas (equal η/S; β = 4 at both scales): "
        + EQUAL_WIDTHS,
        _by_beta(below=False),
    ),
)


# ---- figures ------------------------------------------------------------------------------------------------


def _draw(data: InterpolationData, fig_dir: Path, equal: bool) -> list[Path]:
    """Train/test loss (left axis, log) and accuracy (right) along (1−α)θ₁ + αθ₂, seed means; θ₁ at α = 0,
    θ₂ at α = 1, one panel per comparison of different (Fig. 2) or equal (Fig. 3) η/S. Each side's width
    (α-distance to the loss threshold, dotted) is written in its corner (mean ± std over seeds) and marked
    dashed when inside the plot."""
    stem, title = (
        ("fig3_interpolation", "Fig. 3: equal η/S") if equal else ("fig2_interpolation", "Fig. 2: different η/S")
    )
    items = [(label, c) for label, c in data["comparisons"].items() if c["equal_noise"] == equal and c["curves"]]
    if not items:
        return []
    fig, axes = plt.subplots(1, len(items), figsize=(4.6 * len(items), 3.6), squeeze=False)
    for ax, (label, comp) in zip(axes[0], items, strict=True):
        alphas = np.asarray(comp["alphas"], float)
        twin = ax.twinx()
        for split, style in (("train", "-"), ("test", "--")):
            loss = np.nanmean(plots.as_float_array([c[f"{split}_loss"] for c in comp["curves"]]), axis=0)
            acc = np.nanmean(plots.as_float_array([c[f"{split}_acc"] for c in comp["curves"]]), axis=0)
            ax.plot(alphas, loss, style, color="tab:red", label=f"{split} loss")
            twin.plot(alphas, acc, style, color="tab:blue", label=f"{split} accuracy")
        ax.axhline(data["loss_threshold"], color="grey", lw=0.6, ls=":")
        ax.set_yscale("log")
        ax.set_xlabel("α")
        ax.set_ylabel("cross-entropy", color="tab:red")
        twin.set_ylabel("accuracy", color="tab:blue")
        for side, endpoint, outwards in (("first", 0.0, -1), ("second", 1.0, 1)):
            widths = [w for w in comp["widths"][side] if w is not None]
            if not widths:
                continue
            edge = endpoint + outwards * float(np.mean(widths))
            if alphas[0] <= edge <= alphas[-1]:
                ax.axvline(edge, color="grey", lw=0.8, ls="--")
            ax.text(
                0.02 if outwards < 0 else 0.98,
                0.04,
                f"width {np.mean(widths):.2f} ± {np.std(widths):.2f}",
                transform=ax.transAxes,
                ha="left" if outwards < 0 else "right",
                fontsize=7,
                color="dimgrey",
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
            )
        first, second = comp["first"], comp["second"]
        ax.set_title(
            f"{label}: α=0 η={first['learning_rate']:g}, S={first['batch_size']}; "
            f"α=1 η={second['learning_rate']:g}, S={second['batch_size']}",
            fontsize=8,
        )
    handles = axes[0][0].get_legend_handles_labels()[0] + fig.axes[-1].get_legend_handles_labels()[0]
    axes[0][0].legend(handles=handles, fontsize=7, loc="upper center")
    fig.suptitle(f"Jastrzębski et al. 2018 {title}")
    fig.tight_layout()
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
        # paper: Fig. 2 is ResNet-56 with η=0.1, S=128 vs S=1024 and η=0.01; Fig. 3 is VGG-11 with
        # (0.1β, 50β), β ∈ {0.25, 4}; here one net per run (``model``), CIFAR-10 with 5k validation, 200 epochs
        "paper": InterpolationSpec(
            seeds=3,
            n_train=None,
            validation=5000,
            n_test=None,
            min_epochs=200,
            eta_time=0.0,
            baseline_batch=128,
            large_batch_factor=8,
            betas=(0.25, 4.0),
            dataset="cifar10",
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
