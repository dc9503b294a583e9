"""The drawing primitives every figure shares. Each experiment draws its own figures, beside the data they
read (``experiments/<paper>/<figure>.py``), from plain data only, so ``sgdnoise report DIR`` can redraw
them from summary.json."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

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


def as_float_array(values: Any) -> np.ndarray:
    """Numbers as a float array, a missing number (``None``, as summary.json writes it) read as NaN."""
    return np.asarray(values, dtype=float)
