"""The drawing primitives every figure shares. Each experiment draws its own figures, beside the data they
read (``experiments/<paper>/<figure>.py``), from plain data only, so ``sgdnoise report DIR`` can redraw
them from summary.json."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import offset_copy

from sgdnoise.results import atomic_file


def save(fig: plt.Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` to ``path`` (a file name with its image suffix, e.g. ``.png``; its directory is created) and
    close it, also when writing fails."""
    path = Path(path)
    try:
        if not path.suffix or path.is_dir():
            raise ValueError(f"a figure's path names its file with a suffix such as .png, got {str(path)!r}")
        with atomic_file(path) as handle:  # never a half-written image, even if killed while drawing
            fig.savefig(handle, format=path.suffix[1:], dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def band(ax: Axes, x: Sequence[float], curve: Mapping[str, Sequence[float]], label: str, **style: Any) -> None:
    """Mean curve with a ±1 std band over seeds."""
    mean, std = np.asarray(curve["mean"], float), np.asarray(curve["std"], float)
    (line,) = ax.plot(x, mean, label=label, **style)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)


LEGEND_DROP_POINTS = 36  # below the tick labels and the x-axis label at the default font sizes


def legend_below(
    ax: Axes, *axes: Axes, fontsize: float = 8, ncols: int | None = None, title: str | None = None
) -> None:
    """One legend for the curves of ``ax`` and of ``axes`` (e.g. its twin), under ``ax``, outside the data, so
    no curve runs over it and it hides none (the figure's saved bounding box takes it in); ``title`` above
    its entries."""
    handles: dict[str, Any] = {}
    for each in (ax, *axes):
        for handle, label in zip(*each.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if not handles:
        return
    ax.legend(
        handles.values(),
        handles.keys(),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        bbox_transform=offset_copy(ax.transAxes, fig=ax.figure, y=-LEGEND_DROP_POINTS, units="points"),
        ncols=ncols or min(len(handles), 3),
        fontsize=fontsize,
        title=title,
        title_fontsize=fontsize,
        frameon=False,
    )


def plain_log_ticks(axis: Axis) -> None:
    """Label a log axis that spans less than a decade or two at 1, 2 and 5 × 10^k, written plainly (0.002)."""

    def label(value: float, _: int) -> str:
        leading = round(value / 10 ** math.floor(math.log10(value))) if value > 0 else 0
        return f"{value:g}" if leading in (1, 2, 5) else ""

    axis.set_major_formatter(FuncFormatter(label))
    axis.set_minor_formatter(FuncFormatter(label))


def as_float_array(values: Any) -> np.ndarray:
    """Numbers as a float array, a missing number (``None``, as summary.json writes it) read as NaN."""
    return np.asarray(values, dtype=float)
