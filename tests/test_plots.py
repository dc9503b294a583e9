"""The shared drawing primitives: where the legend goes, what a log axis reads, and what save writes."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from sgdnoise import plots


def _drawn_extent(fig: plt.Figure, artist: object) -> object:
    fig.canvas.draw()
    return artist.get_window_extent(fig.canvas.get_renderer())  # type: ignore[attr-defined]


def test_legend_below_gathers_the_twin_axis_curves_once_and_sits_under_the_axes_and_their_labels():
    fig, ax = plt.subplots(layout="constrained")
    twin = ax.twinx()
    ax.plot([1, 2], [1, 2], label="left")
    twin.plot([1, 2], [3, 1], label="right")
    twin.plot([1, 2], [2, 2], label="left")  # a repeated label is one entry
    ax.set_xlabel("x")
    plots.legend_below(ax, twin, title="stats")
    legend = ax.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["left", "right"]
    assert legend.get_title().get_text() == "stats"
    below = _drawn_extent(fig, legend)
    assert below.y1 < _drawn_extent(fig, ax.xaxis.label).y0  # under the x label, so it covers no data
    plt.close(fig)


def test_legend_below_without_labelled_curves_draws_nothing():
    fig, ax = plt.subplots()
    ax.plot([1, 2], [1, 2])
    plots.legend_below(ax)
    assert ax.get_legend() is None
    plt.close(fig)


def test_plain_log_ticks_label_one_two_and_five_times_a_power_of_ten_plainly():
    fig, ax = plt.subplots()
    ax.set_xscale("log")
    plots.plain_log_ticks(ax.xaxis)
    label = ax.xaxis.get_minor_formatter()
    assert [label(v, 0) for v in (0.002, 0.003, 0.005, 0.01, 0.07, 20.0)] == ["0.002", "", "0.005", "0.01", "", "20"]
    assert ax.xaxis.get_major_formatter()(0.1, 0) == "0.1"
    plt.close(fig)


def test_band_draws_the_mean_and_a_band_one_std_either_side():
    fig, ax = plt.subplots()
    plots.band(ax, [0, 1, 2], {"mean": [1.0, 2.0, 3.0], "std": [0.5, 0.5, 1.0]}, "curve")
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_ydata(), [1.0, 2.0, 3.0])
    (fill,) = ax.collections
    vertices = fill.get_paths()[0].vertices
    assert vertices[:, 1].min() == pytest.approx(0.5) and vertices[:, 1].max() == pytest.approx(4.0)
    plt.close(fig)


def test_save_refuses_a_path_without_an_image_suffix_and_closes_the_figure(tmp_path):
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="suffix"):
        plots.save(fig, tmp_path / "figure")
    assert not plt.fignum_exists(fig.number)
    fig, _ = plt.subplots()
    written = plots.save(fig, tmp_path / "nested" / "figure.png")
    assert written.read_bytes().startswith(b"\x89PNG") and not plt.fignum_exists(fig.number)
