"""Figures laid out like the papers', drawn from the plain data an experiment returns (never from
live objects), so that `sgdnoise report DIR` can redraw them from summary.json."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

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
