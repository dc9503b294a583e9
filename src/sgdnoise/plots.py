"""Figures laid out like the papers', drawn from the plain data an experiment returns (never from
live objects), so that `sgdnoise report DIR` can redraw them from summary.json."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from sgdnoise.analysis import ratio_key

DATASET_TITLES = {"mnist01": "MNIST 0/1 (800 train)", "synthetic": "synthetic 200-D (200 train)"}


def save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def band(ax: Axes, x: Sequence[float], curve: Mapping[str, Sequence[float]], label: str, **style: Any) -> None:
    """Mean curve with a ±1 std band over seeds."""
    mean, std = np.asarray(curve["mean"], float), np.asarray(curve["std"], float)
    (line,) = ax.plot(x, mean, label=label, **style)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)


def _twin_panel(
    ax: Axes,
    x: np.ndarray,
    curves: Mapping[str, Any],
    left: Sequence[tuple[str, str, dict[str, Any]]],
    right: tuple[str, str, dict[str, Any]],
    right_label: str,
    legend_loc: str,
) -> Axes:
    """Curves on the left axis, one more curve on a twin right axis, one legend for all."""
    for metric, label, style in left:
        band(ax, x, curves[metric], label, **style)
    twin = ax.twinx()
    metric, label, style = right
    band(twin, x, curves[metric], label, **style)
    twin.set_ylabel(right_label)
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc=legend_loc, fontsize=8)
    return twin


def evidence_figures(data: Mapping[str, Any], fig_dir: Path, datasets: Sequence[str]) -> list[Path]:
    """Smith & Le Fig. 1 (accuracy and mean margin vs λ) and Fig. 2 (cross-entropy and log evidence
    ratio vs λ), panels (a) random and (b) informative labels, one pair of figures per dataset."""
    lambdas = np.asarray(data["lambda"], float)
    paths = []
    for dataset in datasets:
        title = DATASET_TITLES.get(dataset, dataset)
        fig1, axes1 = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
        fig2, axes2 = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
        for ax1, ax2, labels, tag in zip(axes1, axes2, ("random", "informative"), "ab", strict=True):
            curves = data[dataset][labels]
            _twin_panel(
                ax1,
                lambdas,
                curves,
                left=[
                    ("train_accuracy", "training accuracy", {"color": "C0"}),
                    ("test_accuracy", "test accuracy", {"color": "C1", "linestyle": "--"}),
                ],
                right=("mean_margin", "mean margin", {"color": "C2", "linestyle": ":"}),
                right_label="mean training margin",
                legend_loc="lower left",
            )
            ax1.set(
                xscale="log",
                xlabel="regularisation coefficient λ",
                ylabel="accuracy",
                ylim=(0.4, 1.02),
                title=f"({tag}) {labels} labels",
            )
            twin = _twin_panel(
                ax2,
                lambdas,
                curves,
                left=[
                    ("train_cross_entropy", "training cross-entropy", {"color": "C0"}),
                    ("test_cross_entropy", "test cross-entropy", {"color": "C1", "linestyle": "--"}),
                ],
                right=(
                    "log_evidence_ratio_per_example",
                    "log evidence ratio E/N",
                    {"color": "C3", "linestyle": "-."},
                ),
                right_label="log evidence ratio per example, E/N",
                legend_loc="upper right",
            )
            ax2.axhline(np.log(2), color="grey", linewidth=0.8)
            twin.axhline(0.0, color="C3", linewidth=0.6, alpha=0.5)
            ax2.set(
                xscale="log",
                yscale="log",
                xlabel="regularisation coefficient λ",
                ylabel="mean cross-entropy",
                title=f"({tag}) {labels} labels",
            )
        fig1.suptitle(f"Fig. 1 — {title}")
        fig2.suptitle(f"Fig. 2 — {title}")
        paths.append(save(fig1, fig_dir / f"fig1_{dataset}_accuracy_margin.png"))
        paths.append(save(fig2, fig_dir / f"fig2_{dataset}_cross_entropy_evidence.png"))
    return paths


def _none_to_nan(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _history_band(ax: Axes, history: Mapping[str, Any], metric: str, label: str, **style: Any) -> None:
    """A during-training curve (mean ± std over seeds) against updates; step 0 is left out (log x)."""
    steps = np.asarray(history["step"], float)
    mean, std = _none_to_nan(history[metric]["mean"]), _none_to_nan(history[metric]["std"])
    n = min(len(steps), len(mean))
    shown = steps[:n] > 0
    steps, mean, std = steps[:n][shown], mean[:n][shown], std[:n][shown]
    (line,) = ax.plot(steps, mean, label=label, **style)
    ax.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)


def smith_le_gap_figure(data: Mapping[str, Any], fig_dir: Path, name: str, title: str) -> Path:
    """Smith & Le Fig. 3 / Fig. 8: (a) test accuracy and (b) test cross-entropy vs gradient updates
    (log x), one curve per batch size; with several L2 strengths, unregularised curves are dotted."""
    fig, (ax_acc, ax_ce) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    regularised = [c for c in data["curves"] if c["l2_lambda"] > 0]
    for curve in data["curves"]:
        faint = bool(regularised) and curve["l2_lambda"] == 0
        for i, (batch, history) in enumerate(curve["history"].items()):
            label = f"B = {batch}" + (f", λ = {curve['l2_lambda']:g}" if regularised else "")
            style = {"color": f"C{i}", "linestyle": ":" if faint else "-", "alpha": 0.6 if faint else 1.0}
            _history_band(ax_acc, history, "test_accuracy", label, **style)
            _history_band(ax_ce, history, "test_cross_entropy", label, **style)
    ax_acc.set(xscale="log", xlabel="gradient descent updates", ylabel="test accuracy", title="(a)")
    ax_ce.set(xscale="log", xlabel="gradient descent updates", ylabel="test cross-entropy", title="(b)")
    ax_acc.legend(fontsize=8)
    ax_ce.legend(fontsize=8)
    fig.suptitle(title)
    return save(fig, fig_dir / f"{name}_test_accuracy_cross_entropy.png")


def _final_accuracy_panel(ax: Axes, data: Mapping[str, Any]) -> None:
    """Final test accuracy vs batch size (log x) per curve, mean ± std over seeds; points not run omitted."""
    batch_sizes = np.asarray(data["batch_sizes"], float)
    for i, curve in enumerate(data["curves"]):
        acc = np.array([_none_to_nan(row) for row in curve["accuracy"]])
        run = np.array([any(row[j] != "not_run" for row in curve["status"]) for j in range(len(batch_sizes))])
        scored = np.where(np.isfinite(acc), acc, 0.1)  # diverged runs drawn at chance
        mean, std = scored.mean(axis=0), scored.std(axis=0)
        ax.errorbar(
            batch_sizes[run], mean[run], yerr=std[run], marker="o", capsize=3, color=f"C{i}", label=curve["label"]
        )
    ax.set(xscale="log", xlabel="batch size B", ylabel="final test accuracy")
    ax.legend(fontsize=8)


def smith_le_batch_figure(data: Mapping[str, Any], fig_dir: Path) -> Path:
    """Smith & Le Fig. 4: (a) test accuracy during training per batch size, (b) final test accuracy vs
    batch size with error bars over seeds."""
    fig, (ax_curves, ax_final) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    curve = data["curves"][0]
    for i, (batch, history) in enumerate(curve["history"].items()):
        _history_band(
            ax_curves,
            history,
            "test_accuracy",
            f"B = {batch}",
            color=plt.cm.viridis(i / max(1, len(curve["history"]) - 1)),
        )
    ax_curves.set(xscale="log", xlabel="gradient descent updates", ylabel="test accuracy", title="(a)")
    ax_curves.legend(fontsize=8)
    _final_accuracy_panel(ax_final, data)
    ax_final.set_title(f"(b) after {curve['steps']} updates")
    fig.suptitle("Fig. 4 — test accuracy vs batch size (ε = 1)")
    return save(fig, fig_dir / "fig4_batch_size.png")


def smith_le_scaling_figure(data: Mapping[str, Any], fig_dir: Path, name: str, title: str, x_label: str) -> Path:
    """Smith & Le Fig. 5–7: (a) final test accuracy vs batch size per curve, (b) best observed batch
    size vs the swept quantity (log-log), error bars to the next sampled batch size (open marker: an
    optimum at an edge, or a curve left out of the check), with the sub-grid optima the power law is
    fitted to, the fitted line and its bootstrap CI."""
    fig, (ax_acc, ax_opt) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    _final_accuracy_panel(ax_acc, data)
    ax_acc.set_title("(a)")
    scaling = data["scaling"]
    x = np.asarray(scaling["x"], float)
    for i, (xi, optimum) in enumerate(zip(x, scaling["optima"], strict=True)):
        value = optimum["value"]
        lower = optimum["lower"] if optimum["lower"] is not None else value
        upper = optimum["upper"] if optimum["upper"] is not None else value
        edge = optimum["at_edge"] or not scaling["considered"][i]
        ax_opt.errorbar(
            [xi],
            [value],
            yerr=[[value - lower], [upper - value]],
            marker="o",
            capsize=3,
            color="C0",
            markerfacecolor="white" if edge else "C0",
            linestyle="none",
        )
    fit = scaling.get("fit")
    if fit and fit["slope"] is not None:
        fitted_x = np.asarray(fit["x"], float)
        ax_opt.plot(fitted_x, fit["estimates"], "x", color="C2", label="sub-grid optimum (fitted)")
        grid = np.geomspace(fitted_x.min(), fitted_x.max(), 50)
        ax_opt.plot(
            grid, np.exp(fit["intercept"]) * grid ** fit["slope"], color="C2", label=f"fit: k = {fit['slope']:.2f}"
        )
        if fit["slope_ci"][0] is not None:
            centre_x = np.exp(np.log(fitted_x).mean())
            centre_y = np.exp(fit["intercept"]) * centre_x ** fit["slope"]
            lows, highs = (centre_y * (grid / centre_x) ** k for k in fit["slope_ci"])
            ax_opt.fill_between(
                grid,
                np.minimum(lows, highs),
                np.maximum(lows, highs),
                color="C2",
                alpha=0.2,
                linewidth=0,
                label=f"CI: k ∈ [{fit['slope_ci'][0]:.2f}, {fit['slope_ci'][1]:.2f}]",
            )
        ax_opt.legend(fontsize=8)
    ax_opt.set(
        xscale="log",
        yscale="log",
        xlabel=x_label,
        ylabel="best observed batch size B_opt",
        title="(b) open marker: optimum at an edge, or curve not checked (not fitted)",
    )
    fig.suptitle(title)
    return save(fig, fig_dir / f"{name}_scaling.png")


def _gradient_histogram_panel(
    ax: Axes, histogram: Mapping[str, Any], stats: Mapping[str, Any], title: str, xlabel: str
) -> None:
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
    ax.text(
        0.02,
        0.97,
        f"n = {histogram['n']}\nK² = {stats['normal_statistic']:.3g}, p = {stats['normal_pvalue']:.2g}"
        f"\nskew = {stats['skewness']:.2f}\nexcess kurtosis = {stats['excess_kurtosis']:.2f}",
        transform=ax.transAxes,
        va="top",
        fontsize=8,
        bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0},
    )
    ax.set(xlabel=xlabel, ylabel="density", title=title)
    ax.legend(fontsize=8, loc="upper right")


def smith_le_gradient_noise_figures(data: Mapping[str, Any], fig_dir: Path, max_repeats: int = 6) -> list[Path]:
    """Smith & Le Fig. 9 (App. C): one softmax-layer weight's gradient at initialisation, (a) over single
    training examples and (b) over minibatch means of B examples, each with the fitted normal; first the
    paper's single-parameter figure (first repeat), then one row per repeat (up to ``max_repeats``)."""
    batch = data["batch_size"]
    single_title, batch_title = "(a) gradient of a single example", f"(b) mean gradient over mini-batch (B = {batch})"
    repeat = data["repeats"][0]
    fig, (ax_single, ax_batch) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    _gradient_histogram_panel(ax_single, repeat["single_histogram"], repeat["single"], single_title, "∂C_i/∂ω")
    _gradient_histogram_panel(
        ax_batch, repeat["minibatch_histogram"], repeat["minibatch"], batch_title, "mean of ∂C_i/∂ω"
    )
    fig.suptitle(
        f"Fig. 9 — gradient distribution of {repeat['parameter_name']} at initialisation (N = {data['n_train']})"
    )
    paths = [save(fig, fig_dir / "fig9_gradient_distribution.png")]
    shown = data["repeats"][:max_repeats]
    fig, axes = plt.subplots(len(shown), 2, figsize=(12, 3.0 * len(shown)), layout="constrained", squeeze=False)
    for (ax_single, ax_batch), repeat in zip(axes, shown, strict=True):
        label = f"{repeat['parameter_name']}, seed {repeat['seed']}"
        _gradient_histogram_panel(
            ax_single, repeat["single_histogram"], repeat["single"], f"{single_title}: {label}", "∂C_i/∂ω"
        )
        _gradient_histogram_panel(
            ax_batch, repeat["minibatch_histogram"], repeat["minibatch"], f"{batch_title}: {label}", "mean of ∂C_i/∂ω"
        )
    fig.suptitle(f"Fig. 9 repeated: random softmax-layer weights and initialisation seeds (N = {data['n_train']})")
    paths.append(save(fig, fig_dir / "fig9_gradient_distribution_repeats.png"))
    return paths


def jastrzebski_equilibrium_figure(data: Mapping[str, Any], fig_dir: Path) -> Path:
    """Jastrzębski et al. 2018 §3 checked by simulation, four panels: (a) the 1-D loss and its Gibbs
    densities; (b) ln(p_A/p_B) vs n — simulated SDE occupation (± SE) with the Gibbs (eq. 2) and Laplace
    (eq. 3) curves and eq. 4's n*; (c) Laplace's relative error vs barrier height ΔL/(nσ²/2); (d) discrete
    SGD at (βη, βS): ln ratio vs β·η·H_B with the Gibbs value and its ±3 SE band."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5), layout="constrained")
    ax = axes[0, 0]
    land = data["landscape_1d"]
    x = np.asarray(land["x"], float)
    ax.plot(x, land["loss"], color="black", label="L(θ)")
    ax.set_xlabel("θ")
    ax.set_ylabel("loss")
    twin = ax.twinx()
    for (factor, density), style in zip(land["densities"].items(), ("--", ":"), strict=False):
        twin.plot(x, density, linestyle=style, label=f"Gibbs density, n = {factor}·n*")
    twin.set_ylabel("P(θ)")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=8, loc="upper center")
    ax.set_title("(a) 1-D loss: A higher and wider, B deeper and sharper", fontsize=10)

    ax = axes[0, 1]
    for dim, color in ((1, "C0"), (2, "C3")):
        sweep = data[f"occupation_{dim}d"]
        curves = sweep["curves"]
        ax.plot(curves["noise"], curves["gibbs_log_ratio"], color=color, label=f"{dim}-D Gibbs integral (eq. 2)")
        laplace_label = f"{dim}-D Laplace (eq. 3)"
        ax.plot(curves["noise"], curves["laplace_log_ratio"], color=color, linestyle="--", label=laplace_label)
        runs = sweep["runs"]
        ax.errorbar(
            [r["noise"] for r in runs],
            _none_to_nan([r["occupation"]["log_ratio"] for r in runs]),
            yerr=_none_to_nan([r["occupation"]["log_ratio_se"] for r in runs]),
            fmt="o",
            color=color,
            capsize=3,
            label=f"{dim}-D SDE simulation ± SE",
        )
        ax.axvline(sweep["critical_noise_eq4"], color=color, linestyle=":", linewidth=1)
    ax.axhline(0.0, color="gray", linewidth=0.8)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("noise n = η/S  (dotted: eq. 4's n*)")
    ax.set_ylabel("ln(p_A / p_B)")
    ax.legend(fontsize=7)
    ax.set_title("(b) occupation of the wider minimum vs noise", fontsize=10)

    ax = axes[1, 0]
    for dim, color in ((1, "C0"), (2, "C3")):
        rows = data[f"laplace_{dim}d"]["rows"]
        ax.plot(
            [r["barrier_over_temperature"] for r in rows],
            [r["relative_error"] for r in rows],
            "o-",
            color=color,
            label=f"{dim}-D",
        )
    ax.axhline(data["laplace_tolerance"], color="gray", linestyle="--", label=f"{data['laplace_tolerance']:.0%}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("barrier ΔL_A / (nσ²/2)")
    ax.set_ylabel("|Laplace ratio / Gibbs ratio − 1|")
    ax.legend(fontsize=8)
    ax.set_title("(c) Theorem 2 vs Theorem 1 as the barrier rises", fontsize=10)

    ax = axes[1, 1]
    inv = data["invariance"]
    rows = inv["runs"]
    lr_h = np.array([r["lr_curvature"] for r in rows])
    ax.errorbar(
        lr_h,
        _none_to_nan([r["occupation"]["log_ratio"] for r in rows]),
        yerr=_none_to_nan([r["occupation"]["log_ratio_se"] for r in rows]),
        fmt="o-",
        capsize=3,
        label="discrete SGD at (βη, βS) ± SE",
    )
    se = np.nanmedian(_none_to_nan([r["occupation"]["log_ratio_se"] for r in rows]))
    gibbs = inv["gibbs_log_ratio"]
    ax.axhline(gibbs, color="black", label="Gibbs integral (eq. 2)")
    ax.axhspan(gibbs - data["z_limit"] * se, gibbs + data["z_limit"] * se, color="gray", alpha=0.2, label="±3 SE")
    ax.axhline(inv["laplace_log_ratio"], color="black", linestyle="--", label="Laplace (eq. 3)")
    ax.set_xscale("log")
    ax.set_xlabel("β·η·H_B (sharper minimum's curvature)")
    ax.set_ylabel("ln(p_A / p_B)")
    ax.legend(fontsize=8)
    ax.set_title(f"(d) (βη, βS) at fixed n = {inv['noise']:.3g}", fontsize=10)
    fig.suptitle("SGD's equilibrium between two minima (Jastrzębski et al. 2018, §3)")
    return save(fig, fig_dir / "equilibrium.png")


# --------------------------------------------------------------------------------------------------
# Smith, Elsen & De 2020 (Fig. 1-3, Table 1)
# --------------------------------------------------------------------------------------------------


def _sed_errorbar(ax: Axes, x: Sequence[float], optima: Sequence[Mapping[str, Any]], label: str, **style: Any) -> None:
    """Optimal learning rate per x with the tuning protocol's one-std band as the error bar; an
    optimum at the edge of its grid is drawn hollow."""
    value = np.array([o["value"] for o in optima], float)
    low = value - np.array([o["band_lower"] for o in optima], float)
    high = np.array([o["band_upper"] for o in optima], float) - value
    ax.errorbar(x, value, yerr=[low, high], marker="o", capsize=3, label=label, **style)
    edge = [i for i, o in enumerate(optima) if o["at_edge"]]
    if edge:
        ax.plot(np.asarray(x, float)[edge], value[edge], "o", mfc="white", mec="black", ms=9, zorder=5)


def sed_epoch_budget_figure(data: Mapping[str, Any], fig_dir: Path) -> Path:
    """Fig. 1: (a) optimal test accuracy, (b) final training loss at the optimum, (c) optimal effective
    learning rate vs B for SGD and momentum, with the hinge fit and B* ± its bootstrap interval."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), layout="constrained")
    for momentum in data["momenta"]:
        curves = sorted((c for c in data["curves"] if c["momentum"] == momentum), key=lambda c: c["batch_size"])
        b = [c["batch_size"] for c in curves]
        label = "SGD" if momentum == 0 else f"Momentum (m = {momentum:g})"
        acc = [c["optima"]["test_acc"] for c in curves]
        axes[0].errorbar(
            b,
            [100 * o["score"] for o in acc],
            yerr=[100 * o["score_std"] for o in acc],
            marker="o",
            capsize=3,
            label=label,
        )
        loss = np.array([c["train_loss_at_optimum"] for c in curves], float)
        axes[1].errorbar(b, loss[:, 0], yerr=loss[:, 1], marker="o", capsize=3, label=label)
        _sed_errorbar(axes[2], b, acc, label)
    regime = data.get("regime")
    if regime:
        fit = regime["fit"]
        bs = np.asarray(regime["batch_sizes"], float)
        line = np.exp(fit["intercept"] + fit["slope_noise"] * np.minimum(np.log(bs), np.log(fit["breakpoint"])))
        axes[2].plot(bs, line, "k--", lw=1, label=f"hinge fit, B* = {fit['breakpoint']:.0f}")
        axes[2].axvspan(
            regime["low"], regime["high"], color="grey", alpha=0.2, label=f"{regime['level']:.0%} interval of B*"
        )
    init = data.get("init")
    if init:
        axes[2].axvline(init["B_simple"], color="tab:green", ls=":", label=f"B_simple at init = {init['B_simple']:.0f}")
    for ax, ylabel, title in (
        (axes[0], "optimal test accuracy (%)", "a) test accuracy"),
        (axes[1], "final training loss at the optimum", "b) training loss"),
        (axes[2], "optimal effective learning rate", "c) optimal ε_eff"),
    ):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size B")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=8)
    axes[1].set_yscale("log")
    axes[2].set_yscale("log", base=2)
    fig.suptitle("Fig. 1 — constant epoch budget (hollow: optimum at the edge of its grid)")
    return save(fig, fig_dir / "fig1_epoch_budget.png")


def sed_step_budget_table(data: Mapping[str, Any], fig_dir: Path) -> Path:
    """Table 1 as a figure: per B the optimal test accuracy, the final training loss at the optimum
    and the optimal ε_eff with its band, under a constant step budget."""
    rows = data["table"]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.2), layout="constrained")
    ax.axis("off")

    def power(v: float) -> str:
        return f"2^{np.log2(v):.0f}"

    cells = [
        [
            str(r["batch_size"]),
            f"{100 * r['test_acc']:.1f} ± {100 * r['test_acc_std']:.1f}",
            f"{r['train_loss']:.3f} ± {r['train_loss_std']:.3f}",
            f"{power(r['lr'])} ({power(r['lr_band'][0])} to {power(r['lr_band'][1])})"
            + (" edge" if r["lr_at_edge"] else ""),
        ]
        for r in rows
    ]
    table = ax.table(
        cellText=cells,
        colLabels=["Batch size", "Optimal test accuracy (%)", "Final training loss", "Optimal effective lr"],
        loc="center",
    )
    table.scale(1, 1.4)
    ax.set_title(f"Table 1 — constant step budget of {data['steps']} updates")
    return save(fig, fig_dir / "table1_step_budget.png")


def sed_unlimited_budget_figure(data: Mapping[str, Any], fig_dir: Path) -> Path:
    """Fig. 2: (a) optimal test accuracy and (b) optimal training loss vs epoch budget, with and without
    batch norm; (c, d) the ε_eff maximising test accuracy and minimising training loss, per model."""
    labels = data["labels"]
    fig, axes = plt.subplots(1, 2 + len(labels), figsize=(5 * (2 + len(labels)), 4.4), layout="constrained")
    for i, (architecture, label) in enumerate(labels.items()):
        curves = sorted((c for c in data["curves"] if c["architecture"] == architecture), key=lambda c: c["epochs"])
        e = [c["epochs"] for c in curves]
        acc = [c["optima"]["test_acc"] for c in curves]
        loss = [c["optima"]["train_loss"] for c in curves]
        axes[0].errorbar(
            e,
            [100 * o["score"] for o in acc],
            yerr=[100 * o["score_std"] for o in acc],
            marker="o",
            capsize=3,
            label=label,
        )
        axes[1].errorbar(
            e, [o["score"] for o in loss], yerr=[o["score_std"] for o in loss], marker="o", capsize=3, label=label
        )
        ax = axes[2 + i]
        _sed_errorbar(ax, e, acc, "max test accuracy")
        _sed_errorbar(ax, e, loss, "min training loss")
        ax.set_yscale("log", base=2)
        ax.set_ylabel("optimal effective learning rate")
        ax.set_title(f"{'cd'[i] if i < 2 else ''}) {label}")
    axes[0].set_ylabel("optimal test accuracy (%)")
    axes[0].set_title("a) test accuracy")
    axes[1].set_ylabel("optimal training loss")
    axes[1].set_yscale("log")
    axes[1].set_title("b) training loss")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("epoch budget")
        ax.legend(fontsize=8)
    fig.suptitle(f"Fig. 2 — batch size {data['batch_size']}, growing epoch budgets (hollow: optimum at a grid edge)")
    return save(fig, fig_dir / "fig2_unlimited_budget.png")


def sed_initial_final_figure(data: Mapping[str, Any], fig_dir: Path) -> Path:
    """Fig. 3: (a) optimal test accuracy, (b) optimal training loss vs epoch budget; (c) the optimal
    ε_0 and ε_f for test accuracy and (d) for training loss, with their one-std bands."""
    budgets = sorted(data["budgets"], key=lambda b: b["epochs"])
    e = [b["epochs"] for b in budgets]
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.4), layout="constrained")
    acc = [b["test_acc"] for b in budgets]
    loss = [b["train_loss"] for b in budgets]
    axes[0].errorbar(
        e, [100 * o["score"] for o in acc], yerr=[100 * o["score_std"] for o in acc], marker="o", capsize=3
    )
    axes[1].errorbar(e, [o["score"] for o in loss], yerr=[o["score_std"] for o in loss], marker="o", capsize=3)
    for ax, optima, title in (
        (axes[2], acc, "c) maximise test accuracy"),
        (axes[3], loss, "d) minimise training loss"),
    ):
        for which, style in (("initial", "-"), ("final", "--")):
            value = np.array([o[which] for o in optima], float)
            band = np.array([o[f"{which}_band"] for o in optima], float)
            ax.errorbar(
                e,
                value,
                yerr=[value - band[:, 0], band[:, 1] - value],
                marker="o",
                ls=style,
                capsize=3,
                label=f"ε_{which[0] if which == 'final' else '0'}",
            )
        ax.set_yscale("log", base=2)
        ax.set_ylabel("optimal effective learning rate")
        ax.set_title(title)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("optimal test accuracy (%)")
    axes[0].set_title("a) test accuracy")
    axes[1].set_ylabel("optimal training loss")
    axes[1].set_yscale("log")
    axes[1].set_title("b) training loss")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("epoch budget")
    fig.suptitle(f"Fig. 3 — batch size {data['batch_size']}, initial and final learning rates tuned independently")
    return save(fig, fig_dir / "fig3_initial_final_lr.png")


# --------------------------------------------------------------------------------------------------
# Smith & Le 2018 App. E (large-batch tuning) and App. A (Langevin posterior sampling)
# --------------------------------------------------------------------------------------------------


def smith_le_large_batch_figure(data: Mapping[str, Any], fig_dir: Path) -> Path:
    """App. E's trail: validation accuracy (left) and updates (right) of every trial against B, by step,
    with the initial optimum and the final setting marked; fresh-seed retraining as error bars."""
    trail = data["trail"]
    fig, (acc_ax, upd_ax) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for step in dict.fromkeys(t["step"] for t in trail):
        rows = [t for t in trail if t["step"] == step and t["stable"]]
        if not rows:
            continue
        style = "o-" if step.startswith("2") else "o"
        acc_ax.plot([t["batch_size"] for t in rows], [t["validation_accuracy"] for t in rows], style, label=step)
        upd_ax.plot([t["batch_size"] for t in rows], [t["updates"] for t in rows], style, label=step)
    for key, marker, label in (("initial", "s", "initial optimum"), ("final", "*", "final setting")):
        point = data[key]
        acc_ax.plot([point["batch_size"]], [point["validation_accuracy"]], "k" + marker, markersize=12, label=label)
        upd_ax.plot([point["batch_size"]], [point["updates"]], "k" + marker, markersize=12, label=label)
        fresh = data["confirmation"][key]
        per_seed = [v for v in fresh["validation_accuracy_per_seed"] if v is not None]
        if per_seed:
            acc_ax.errorbar(
                [point["batch_size"] * 1.08],
                [np.mean(per_seed)],
                yerr=[[np.mean(per_seed) - min(per_seed)], [max(per_seed) - np.mean(per_seed)]],
                fmt="x",
                color="0.4",
                capsize=3,
                label=f"{label}, fresh seeds (range)",
            )
    for ax in (acc_ax, upd_ax):
        ax.set_xscale("log")
        ax.set_xlabel("batch size B")
    upd_ax.set_yscale("log")
    acc_ax.set_ylabel("validation accuracy")
    upd_ax.set_ylabel(f"updates ({data['epochs']:g} epochs)")
    final = data["final"]
    acc_ax.set_title(f"App. E: final B = {final['batch_size']}, ε = {final['lr']:.3g}, m = {final['momentum']:.4g}")
    acc_ax.legend(fontsize=7)
    return save(fig, fig_dir / "appE_large_batch.png")


# --------------------------------------------------------------------------------------------------
# Jastrzębski et al. 2018 §4.1-4.2 (jastrzebski-sharpness, -interpolation, -exchange)
# --------------------------------------------------------------------------------------------------


def _seed_mean(rows: Sequence[Mapping[str, Any]], quantity: str) -> tuple[np.ndarray, np.ndarray]:
    means, stds = [], []
    for row in rows:
        values = [s[quantity] for s in row["seeds"] if s.get(quantity) is not None]
        means.append(np.mean(values) if values else np.nan)
        stds.append(np.std(values) if values else np.nan)
    return np.asarray(means, float), np.asarray(stds, float)


def jastrzebski_sharpness_figure(data: Mapping[str, Any], fig_dir: Path) -> Path:
    """Fig. 1 (a) log ‖H‖_F and (b) validation accuracy vs η/S, plus λ_max; one row per target
    (matched training accuracy, matched training loss); colour = batch size."""
    targets = list(data["targets"])
    fig, axes = plt.subplots(len(targets), 3, figsize=(13, 3.6 * len(targets)), squeeze=False)
    labels = {
        "accuracy": f"train acc ≥ {data.get('accuracy_target')}",
        "loss": f"train loss ≤ {data.get('loss_target')}",
    }
    for row_axes, target in zip(axes, targets, strict=True):
        rows = data["targets"][target]
        batches = sorted({r["batch_size"] for r in rows})
        colours = plt.cm.viridis(np.linspace(0, 0.9, len(batches)))
        for quantity, ax, ylabel, log in (
            ("hessian_norm", row_axes[0], "‖H‖_F (finite differences)", True),
            ("validation_acc", row_axes[1], "validation accuracy", False),
            ("lambda_max", row_axes[2], "λ_max (Lanczos)", True),
        ):
            for batch, colour in zip(batches, colours, strict=True):
                subset = [r for r in rows if r["batch_size"] == batch]
                mean, std = _seed_mean(subset, quantity)
                x = [r["noise"] for r in subset]
                ax.errorbar(x, mean, yerr=std, fmt="o", color=colour, label=f"S={batch}", capsize=2)
            ax.set_xscale("log")
            if log and any(v > 0 for r in rows for s in r["seeds"] if (v := s.get(quantity)) is not None):
                ax.set_yscale("log")
            ax.set_xlabel("η/S")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{ylabel.split(' (')[0]} — {labels.get(target, target)}", fontsize=9)
        row_axes[0].legend(fontsize=7)
    fig.suptitle("Jastrzębski et al. 2018 Fig. 1: η/S vs sharpness and validation accuracy")
    fig.tight_layout()
    return save(fig, fig_dir / "jastrzebski_sharpness.png")


def jastrzebski_interpolation_figures(data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
    """Fig. 2 (different η/S) and Fig. 3 (equal η/S): train/test loss (left, log) and accuracy (right)
    along (1−α)θ₁ + αθ₂, seed means; θ₁ at α = 0, θ₂ at α = 1. Each side's width (α-distance to the loss
    threshold, dotted) is written in its corner (mean ± std over seeds) and marked dashed when inside the plot."""
    paths = []
    for equal, stem, title in (
        (False, "fig2_interpolation", "Fig. 2: different η/S"),
        (True, "fig3_interpolation", "Fig. 3: equal η/S"),
    ):
        items = [(label, c) for label, c in data["comparisons"].items() if c["equal_noise"] == equal and c["curves"]]
        if not items:
            continue
        fig, axes = plt.subplots(1, len(items), figsize=(4.6 * len(items), 3.6), squeeze=False)
        for ax, (label, comp) in zip(axes[0], items, strict=True):
            alphas = np.asarray(comp["alphas"], float)
            twin = ax.twinx()
            for split, style in (("train", "-"), ("test", "--")):
                loss = np.nanmean([_none_to_nan(c[f"{split}_loss"]) for c in comp["curves"]], axis=0)
                acc = np.nanmean([_none_to_nan(c[f"{split}_acc"]) for c in comp["curves"]], axis=0)
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
        paths.append(save(fig, fig_dir / f"{stem}.png"))
    return paths


def smith_le_langevin_figure(data: Mapping[str, Any], fig_dir: Path) -> Path:
    """App. A: (a) SGLD's excess variance vs step size against the discretised chain's exact value, (b) test
    errors of posterior samples against the minimum ω₀, (c) bowl occupation against local evidences."""
    fig, (ax_a, ax_b, ax_c) = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    rows = data["linear"]["rows"]
    fractions = [r["step_fraction"] for r in rows]
    ax_a.errorbar(
        fractions,
        [r["excess_variance"] for r in rows],
        yerr=[r["excess_variance_se"] for r in rows],
        fmt="o",
        capsize=3,
        label="SGLD samples",
    )
    ax_a.plot(fractions, [r["excess_variance_predicted"] for r in rows], "k--", label="exact, discretised chain")
    ax_a.set_xscale("log")
    ax_a.set_yscale("symlog", linthresh=1e-3)
    ax_a.set_xlabel("step h·a_max (h = ε/N)")
    ax_a.set_ylabel("excess variance tr(A·S)/d − 1")
    ax_a.set_title("(a) Bayesian linear regression")
    ax_a.legend(fontsize=8)
    logistic = data["logistic"]
    errors = np.asarray(logistic["test_errors"], float)
    ax_b.hist(errors, bins=30, color="C0", alpha=0.7, label="posterior samples")
    ax_b.axvline(logistic["test_error_w0"], color="k", label="minimum ω₀")
    ax_b.axvline(logistic["test_error_bayes_average"], color="C3", linestyle="--", label="posterior average")
    ax_b.set_xlabel("test error")
    ax_b.set_ylabel("samples")
    ax_b.set_title(f"(b) logistic regression, λ = {logistic['l2']:g}")
    ax_b.legend(fontsize=8)
    wells = data["wells"]
    ratios = {
        "SGLD samples": math.exp(wells_log_ratio(wells["fraction_wide"])),
        "Laplace evidences": math.exp(wells["laplace_log_ratio"]),
        "exact bowl integrals": math.exp(wells["exact_log_ratio"]),
    }
    ax_c.bar(list(ratios), list(ratios.values()), color=["C0", "C1", "C2"])
    ax_c.axhline(1.0, color="0.5", linewidth=0.8)
    ax_c.set_ylabel("P(wide bowl) / P(deep bowl)")
    ax_c.set_title("(c) two minima: occupation vs local evidence")
    return save(fig, fig_dir / "appA_langevin.png")


def wells_log_ratio(fraction: float) -> float:
    """log(f/(1 − f)), ±inf at the ends."""
    if fraction <= 0 or fraction >= 1:
        return math.copysign(math.inf, fraction - 0.5)
    return math.log(fraction / (1 - fraction))


# --------------------------------------------------------------------------------------------------
# Jastrzębski et al. 2018 §4.3-4.4 (Fig. 5, 14, 6-7)
# --------------------------------------------------------------------------------------------------


def _noise_colours(noises: Sequence[float]) -> dict[float, Any]:
    """Warm colour for higher η/S (the paper's Fig. 5/14 convention), on a log scale."""
    values = sorted(set(noises))
    cmap = plt.get_cmap("coolwarm")
    logs = np.log(values)
    span = float(logs[-1] - logs[0]) or 1.0
    return {v: cmap(float((np.log(v) - logs[0]) / span)) for v in values}


def _as_float(values: Sequence[float | None]) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in values], dtype=float)


def jastrzebski_memorization_figures(data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
    """Fig. 5: validation accuracy vs training accuracy on the noisy labels over training, rows = fraction
    of random labels, columns = momentum 0.9 (left) and 0 (right), warm = higher η/S *within the panel*
    (momentum runs have 10× smaller η, so one colour scale would paint them all cold), matched levels
    dotted; the matched comparison itself (validation accuracy at each level per η/S group, mean ± SE over
    its runs); Fig. 14: learning curves without momentum (training solid, validation dotted)."""
    panels = data["panels"]
    fractions = sorted({p["noise_fraction"] for p in panels.values()})
    momenta = sorted({p["momentum"] for p in panels.values()}, reverse=True)
    colours = {tag: _noise_colours([ratio_key(r["noise"]) for r in panel["runs"]]) for tag, panel in panels.items()}
    fig, axes = plt.subplots(
        len(fractions), len(momenta), figsize=(5 * len(momenta), 4 * len(fractions)), squeeze=False
    )
    for tag, panel in panels.items():
        ax = axes[fractions.index(panel["noise_fraction"])][momenta.index(panel["momentum"])]
        for run in panel["runs"]:
            history = run["history"]
            ax.plot(
                _as_float(history["train_acc"]),
                _as_float(history["validation_acc"]),
                color=colours[tag][ratio_key(run["noise"])],
                lw=1,
                alpha=0.8,
            )
        for level in panel["levels"]:
            ax.axvline(level, color="grey", ls=":", lw=0.7)
        ax.set_title(f"{round(100 * panel['noise_fraction'])}% random labels, momentum {panel['momentum']:g}")
        ax.set_xlabel("training accuracy (noisy labels)")
        ax.set_ylabel("validation accuracy")
        handles = [plt.Line2D([], [], color=c, label=f"η/S = {n:.2g}") for n, c in colours[tag].items()]
        ax.legend(handles=handles, fontsize=6, loc="upper left")
    fig.suptitle("Fig. 5 — memorisation vs generalisation over training (warm = higher η/S in each panel)")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    paths = [save(fig, fig_dir / "fig5_memorization.png")]
    comparisons = data.get("comparisons") or {}
    if comparisons:
        fig, axes = plt.subplots(
            len(fractions), len(momenta), figsize=(5 * len(momenta), 3.6 * len(fractions)), squeeze=False
        )
        for tag, panel in panels.items():
            ax = axes[fractions.index(panel["noise_fraction"])][momenta.index(panel["momentum"])]
            matched = comparisons.get(tag, {}).get("matched", {})
            series: dict[float, list[tuple[float, float, float]]] = {}
            for level in matched.get("per_level", []):
                stds = level.get("std") or [math.nan] * len(level["noise_values"])
                ns = level.get("n") or [1] * len(level["noise_values"])
                for noise, mean, std, n in zip(level["noise_values"], level["mean_validation"], stds, ns, strict=True):
                    se = (std if std is not None else math.nan) / math.sqrt(n)
                    series.setdefault(ratio_key(noise), []).append((level["level"], mean, se))
            for noise, points in sorted(series.items()):
                x, y, err = (np.asarray(v, dtype=float) for v in zip(*points, strict=True))
                colour = colours[tag].get(noise, "black")
                ax.errorbar(x, y, yerr=err, color=colour, marker="o", ms=3, capsize=2, label=f"η/S = {noise:.2g}")
            note = matched.get("mean_difference")
            summary = (
                f"highest − lowest η/S: {100 * note:+.2f} ± {100 * matched['mean_se']:.2f} pts"
                if note is not None and matched.get("mean_se") is not None
                else "nothing matched"
            )
            ax.set_title(
                f"{round(100 * panel['noise_fraction'])}% random, momentum {panel['momentum']:g}\n{summary}",
                fontsize=9,
            )
            ax.set_xlabel("matched training accuracy (noisy labels)")
            ax.set_ylabel("validation accuracy at first crossing")
            if series:
                ax.legend(fontsize=6)
            else:
                ax.text(0.5, 0.5, "no level reached by every run", ha="center", transform=ax.transAxes)
        fig.suptitle("Fig. 5, matched levels — validation accuracy per η/S group (mean ± SE over runs)")
        fig.tight_layout(rect=(0, 0, 1, 0.96))
        paths.append(save(fig, fig_dir / "fig5_matched_levels.png"))
    without = [p for p in panels.values() if p["momentum"] == 0.0]
    if without:
        fig, axes = plt.subplots(1, len(without), figsize=(5 * len(without), 4), squeeze=False)
        for ax, panel in zip(axes[0], without, strict=True):
            tag = next(t for t, p in panels.items() if p is panel)
            for run in panel["runs"]:
                epoch = _as_float(run["history"]["epoch"])
                colour = colours[tag][ratio_key(run["noise"])]
                ax.plot(epoch, _as_float(run["history"]["train_acc"]), color=colour, lw=1)
                ax.plot(epoch, _as_float(run["history"]["validation_acc"]), color=colour, lw=1, ls=":")
            ax.set_xscale("symlog", linthresh=1.0)
            handles = [plt.Line2D([], [], color=c, label=f"η/S = {n:.2g}") for n, c in colours[tag].items()]
            ax.legend(handles=handles, fontsize=6, loc="upper left")
            ax.set_title(f"{round(100 * panel['noise_fraction'])}% random labels, momentum 0")
            ax.set_xlabel("epoch")
            ax.set_ylabel("accuracy (solid: train, dotted: validation)")
        fig.suptitle("Fig. 14 — learning curves of the memorisation runs (warm = higher η/S)")
        paths.append(save(fig, fig_dir / "fig14_memorization_curves.png"))
    return paths


def jastrzebski_breaking_point_figures(data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
    """Fig. 6: per curve (N, base η) the mean validation accuracy over training for every β, the legend
    giving the mean ± std of the best validation accuracy (* = a seed diverged); and a summary: best
    validation accuracy vs β per curve with β* marked and its bootstrap interval."""
    curves = data["curves"]
    fits = {f["tag"]: f for f in data.get("fits", [])}
    fig, axes = plt.subplots(1, len(curves), figsize=(4.5 * len(curves), 3.8), squeeze=False)
    for ax, curve in zip(axes[0], curves, strict=True):
        cmap = plt.get_cmap("viridis")
        scores = np.array([_as_float(row) for row in curve["scores"]])
        for j, beta in enumerate(curve["betas"]):
            history = curve["history"].get(str(beta))
            if history is None:
                continue
            star = "*" if any(row[j] != "finished" for row in curve["status"]) else ""
            column = scores[:, j]
            label = f"β={beta} ({np.nanmean(column):.3f} ± {np.nanstd(column):.3f}){star}"
            ax.plot(
                _as_float(history["epoch"]),
                _as_float(history["validation_acc"]["mean"]),
                color=cmap(j / max(1, len(curve["betas"]) - 1)),
                label=label,
            )
        ax.set_title(f"N = {curve['n_train']}, η = {curve['base_learning_rate']:g}·β, S = {curve['base_batch_size']}·β")
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy")
        ax.legend(fontsize=6)
    fig.suptitle("Fig. 6 — breaking point of the (βη, βS) invariance at fixed epochs")
    fig.tight_layout()
    paths = [save(fig, fig_dir / "fig6_breaking_point.png")]
    sizes = sorted({c["n_train"] for c in curves})
    factors = sorted({c["factor"] for c in curves}, reverse=True)
    size_colour = {n: plt.get_cmap("viridis")(i / max(1, len(sizes) - 1) * 0.85) for i, n in enumerate(sizes)}
    fig, axes = plt.subplots(1, len(factors), figsize=(5 * len(factors), 4), squeeze=False, sharey=True)
    for ax, factor in zip(axes[0], factors, strict=True):
        for curve in (c for c in curves if c["factor"] == factor):
            scores = np.array([_as_float(row) for row in curve["scores"]])
            mean = np.nanmean(scores, axis=0)
            count = np.isfinite(scores).sum(axis=0)
            spread = np.sqrt(np.nansum((scores - mean) ** 2, axis=0) / np.maximum(count - 1, 1))
            se = np.where(count > 1, spread / np.sqrt(np.maximum(count, 1)), 0.0)
            colour = size_colour[curve["n_train"]]
            ax.errorbar(curve["betas"], mean, yerr=se, color=colour, marker="o", ms=3, capsize=2)
            fit = fits.get(curve["tag"])
            label = f"N = {curve['n_train']}"
            if fit and fit.get("fit") is not None:
                j = curve["betas"].index(fit["beta_star"]) if fit["beta_star"] in curve["betas"] else None
                if j is not None:
                    low, high = fit["interval"]
                    xerr = [[fit["beta_star"] - low], [high - fit["beta_star"]]]
                    ax.errorbar([fit["beta_star"]], [mean[j]], xerr=xerr, color=colour, marker="*", ms=12, capsize=3)
                star = f"{fit['beta_star']:g}" + ("" if fit["found"] else " (no drop: lower bound)")
                label += f", β* = {star} [{fit['interval'][0]:g}, {fit['interval'][1]:g}]"
            ax.plot([], [], color=colour, marker="o", label=label)
        base = curves[0]["base_learning_rate"] / curves[0]["factor"]
        ax.set_xscale("log", base=2)
        ax.set_xlabel("β")
        ax.set_title(f"η = {factor * base:g}·β, S = {curves[0]['base_batch_size']}·β")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("best validation accuracy (mean ± SE over seeds)")
    fig.suptitle("β* (star, with its 90% seed-bootstrap interval) per data-set size and base η")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    paths.append(save(fig, fig_dir / "fig6_beta_star.png"))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for curve in curves:
        scores = np.array([_as_float(row) for row in curve["scores"]])
        betas = np.asarray(curve["betas"], dtype=float)
        style = {
            "color": size_colour[curve["n_train"]],
            "ls": "-" if curve["factor"] == factors[0] else "--",
            "marker": "o",
            "ms": 3,
            "label": f"N = {curve['n_train']}, η₀ = {curve['base_learning_rate']:g}",
        }
        axes[0].plot(curve["base_learning_rate"] * betas, np.nanmean(scores, axis=0), **style)
        axes[1].plot(curve["n_train"] / (curve["base_batch_size"] * betas), np.nanmean(scores, axis=0), **style)
    axes[0].set_xlabel("learning rate η₀·β")
    axes[1].set_xlabel("updates per epoch N/(S₀·β)")
    for ax in axes:
        ax.set_xscale("log", base=2)
    axes[1].invert_xaxis()
    axes[0].set_ylabel("best validation accuracy (mean over seeds)")
    axes[1].legend(fontsize=7)
    fig.suptitle("What sets the drop: curves that collapse on one axis support that reading")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    paths.append(save(fig, fig_dir / "fig7_breaking_point_readings.png"))
    return paths


# --------------------------------------------------------------------------------------------------
# Jastrzębski et al. 2018 §4.2, App. F.2, F.4 (Fig. 4, 13, 16, Table 1)
# --------------------------------------------------------------------------------------------------


def _seed_curves(schedule: Mapping[str, Any], block: str, quantity: str) -> tuple[np.ndarray, ...]:
    """Epochs, then mean, minimum and maximum over the finished seeds of one probed quantity (``block``:
    curve or hessian); the seeds' range stays positive on log axes, where mean ± std would not."""
    seeds = [s for s in schedule["seeds"] if s["status"] == "finished" and s.get(block)]
    if not seeds:
        return np.array([]), np.array([]), np.array([]), np.array([])
    epochs = sorted({round(e, 6) for s in seeds for e in s[block]["epoch"]})
    rows = []
    for s in seeds:
        by_epoch = {round(e, 6): v for e, v in zip(s[block]["epoch"], s[block][quantity], strict=True)}
        rows.append([np.nan if by_epoch.get(e) is None else by_epoch[e] for e in epochs])
    values = np.asarray(rows, float)
    return np.asarray(epochs), np.nanmean(values, axis=0), np.nanmin(values, axis=0), np.nanmax(values, axis=0)


def _schedule_text(schedule: Mapping[str, Any]) -> str:
    """ "0.1" for a constant, "0.02↔0.1" for a cycle (a schedule's dict as the engine writes it)."""
    if schedule.get("type") == "Cyclic":
        return f"{schedule['low']:g}↔{schedule['high']:g}"
    return f"{schedule.get('value', '?'):g}" if isinstance(schedule.get("value"), int | float) else "?"


def _band(ax: Axes, x: np.ndarray, mean: np.ndarray, low: np.ndarray, high: np.ndarray, **style: Any) -> None:
    ax.plot(x, mean, **style)
    ax.fill_between(x, low, high, color=style.get("color"), alpha=0.15, linewidth=0)


def jastrzebski_exchange_figures(data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
    """Fig. 4 / Fig. 13: accuracy (top) and training loss (bottom) over epochs for the cyclic pair
    (discrete-S vs discrete-η, left) and the constant pairs of equal η/S (right), mean over seeds, band = their range;
    Fig. 16: training loss and ‖H‖_F over epochs per schedule; Table 1 as bars (test accuracy, final ‖H‖_F)."""
    schedules = data["schedules"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for column, (blue, red, title) in enumerate(
        (
            ("discrete-S", "discrete-η", "cyclic: batch size (blue) vs learning rate (red)"),
            ("constant-low", "constant-low-large", "constant pairs of equal η/S"),
        )
    ):
        for label, colour in ((blue, "tab:blue"), (red, "tab:red")):
            for quantity, style in (("train_acc", "-"), ("test_acc", "--")):
                x, *band = _seed_curves(schedules[label], "curve", quantity)
                _band(axes[0][column], x, *band, color=colour, linestyle=style, label=f"{label} {quantity[:-4]}")
            x, *band = _seed_curves(schedules[label], "curve", "train_loss")
            _band(axes[1][column], x, *band, color=colour, label=label)
        axes[0][column].set_title(title, fontsize=10)
        axes[0][column].set_ylabel("accuracy (solid: train, dashed: test)")
        axes[1][column].set_yscale("log")
        axes[1][column].set_ylabel("training loss")
        axes[1][column].set_xlabel("epoch")
        axes[0][column].legend(fontsize=7)
    fig.suptitle(
        "Jastrzębski et al. 2018 Fig. 4 / 13: batch size exchanged for learning rate (BN re-estimated; seed range)"
    )
    fig.tight_layout()
    paths = [save(fig, fig_dir / "fig4_exchange.png")]

    labels = list(schedules)
    columns = 3
    fig, axes = plt.subplots(
        math.ceil(len(labels) / columns), columns, figsize=(12, 6.4), squeeze=False, sharex=True, sharey=True
    )
    twins, hessian_values = [], []
    for ax, label in zip(axes.flat, labels, strict=False):
        x, *band = _seed_curves(schedules[label], "curve", "train_loss")
        _band(ax, x, *band, color="tab:red")
        ax.set_yscale("log")
        schedule = schedules[label]
        lr, batch = _schedule_text(schedule["learning_rate"]), _schedule_text(schedule["batch_size"])
        ax.set_title(f"{label} (η {lr}, S {batch})", fontsize=9)
        twin = ax.twinx()
        x, *band = _seed_curves(schedules[label], "hessian", "value")
        _band(twin, x, *band, color="tab:blue", marker="o", markersize=3)
        twin.set_yscale("log")
        twins.append(twin)
        hessian_values.extend(v for v in band[0] if np.isfinite(v) and v > 0)
    if hessian_values:  # one ‖H‖_F scale for every panel, so the schedules compare at a glance
        for twin in twins:
            twin.set_ylim(min(hessian_values) / 1.3, max(hessian_values) * 1.3)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for row in axes:
        row[0].set_ylabel("training loss (red)")
    fig.suptitle("Fig. 16: training loss (red) and ‖H‖_F (blue, finite differences, right axis) over training")
    fig.tight_layout()
    paths.append(save(fig, fig_dir / "fig16_exchange_hessian.png"))

    rows = data.get("table1") or {}
    if rows:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
        positions = np.arange(len(rows))
        for ax, quantity, ylabel in (
            (axes[0], "test_acc", "test accuracy"),
            (axes[1], "hessian_norm", "final ‖H‖_F"),
        ):
            mean = _as_float([rows[label][quantity]["mean"] for label in rows])
            std = _as_float([rows[label][quantity]["std"] for label in rows])
            ax.bar(positions, mean, yerr=std, color=["tab:blue" if "constant" not in lb else "tab:gray" for lb in rows])
            ax.set_xticks(positions, list(rows), rotation=30, ha="right", fontsize=8)
            ax.set_ylabel(ylabel)
            finite = mean[np.isfinite(mean)]
            if quantity == "test_acc" and finite.size:
                ax.set_ylim(finite.min() - 0.03, min(1.0, finite.max() + 0.02))
        fig.suptitle("Table 1: cyclic (blue) vs constant (grey) schedules, mean ± std over seeds")
        fig.tight_layout()
        paths.append(save(fig, fig_dir / "table1_exchange.png"))
    return paths
