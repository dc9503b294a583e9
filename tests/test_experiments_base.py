"""The experiment declaration: figures check their data before drawing and report their own bugs as bugs;
the registry reads names and descriptions from the sources without importing them."""

import html
import sys
from types import SimpleNamespace
from typing import TypedDict

import pytest
from click.testing import CliRunner

from sgdnoise import report
from sgdnoise.cli import main
from sgdnoise.experiments.base import Figure, FigureError, RunContext, RunsFailedError
from sgdnoise.experiments.registry import entries, get_experiment


class _Data(TypedDict):
    xs: list[float]


# a summary whose data has every key Fig. 9 needs, and no repeat to draw (so its figure code fails)
_FIG9_SUMMARY = {
    "experiment": "smith-le-gradient-noise",
    "title": "t",
    "paper": "p",
    "scale": "quick",
    "wall_seconds": 1.0,
    "claims": [],
    "data": {"n_train": 10, "batch_size": 2, "data_seed": 0, "repeats": []},
}


def test_a_figure_names_the_keys_its_data_lacks():
    assert Figure("f", lambda data, fig_dir: fig_dir, _Data).missing({"ys": []}) == ["xs"]
    assert Figure("f", lambda data, fig_dir: fig_dir, _Data).missing({"xs": []}) == []


def test_a_figure_whose_needs_is_no_typed_dict_is_refused_where_it_is_declared():
    with pytest.raises(
        TypeError, match="figure f: needs must be the TypedDict of the data it draws, got <class 'dict'>"
    ):
        Figure("f", lambda data, fig_dir: fig_dir, dict)
    with pytest.raises(TypeError, match="figure f: draw must be a function"):
        Figure("f", "draw_f", _Data)  # type: ignore[arg-type]


def test_a_figure_is_captioned_by_its_drawing_functions_docstring_in_the_report(tmp_path):
    def draw_it(data, fig_dir):
        """Test accuracy against B,
        mean ± std over seeds."""

    assert Figure("f", draw_it, _Data).caption == "Test accuracy against B, mean ± std over seeds."
    experiment = get_experiment("smith-le-gradient-noise")
    figure = experiment.figures[0]
    assert figure.caption.startswith("Smith & Le Fig. 9 (App. C): one softmax-layer weight's gradient")
    png = tmp_path / "figures" / "fig9.png"
    png.parent.mkdir()
    png.write_bytes(b"\x89PNG")
    page = report.write_html(tmp_path, _FIG9_SUMMARY, {png: figure.caption}).read_text()
    assert f"<figcaption><code>fig9.png</code>: {html.escape(figure.caption)}</figcaption>" in page


def test_data_without_what_a_figure_needs_is_a_value_error_and_a_figure_bug_is_a_figure_error(tmp_path):
    experiment = get_experiment("smith-le-gradient-noise")
    with pytest.raises(ValueError, match="lacks batch_size, data_seed, n_train, repeats, which figure fig9 needs"):
        experiment.draw({}, tmp_path)
    with pytest.raises(FigureError, match="figure fig9 of smith-le-gradient-noise failed \\(IndexError"):
        experiment.draw(_FIG9_SUMMARY["data"], tmp_path)


def test_the_cli_reports_a_figure_bug_as_a_bug_and_shows_its_traceback_under_debug(tmp_path):
    (tmp_path / "summary.json").write_text(__import__("json").dumps(_FIG9_SUMMARY))
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 1 and result.output.startswith("Bug: figure fig9")
    assert "Traceback" not in result.output
    debug = CliRunner().invoke(main, ["--debug", "report", str(tmp_path)])
    assert isinstance(debug.exception, FigureError) and isinstance(debug.exception.__cause__, IndexError)


def test_the_registry_lists_without_importing_experiment_modules():
    listed = entries()
    assert all(entry.module.startswith("sgdnoise.experiments.") for entry in listed)
    loaded = [entry.module for entry in listed if entry.module in sys.modules]
    entries.cache_clear()
    entries()
    assert [entry.module for entry in listed if entry.module in sys.modules] == loaded


def test_failed_runs_are_named_when_the_experiment_cannot_report_without_them(tmp_path):
    ctx = RunContext(scale="quick", seed=0, out_dir=tmp_path, store=None, device=None)
    failed = SimpleNamespace(status="failed", error="OSError: disk full\n  (a second line)")
    ctx.swept = {"a": failed, "b": SimpleNamespace(status="finished", error=None)}
    assert ctx.runs_failed() is None  # a run finished: the experiment reports (and the rerun retrains "a")
    partial = ctx.runs_failed(ValueError("no optimum"))
    assert isinstance(partial, RunsFailedError) and isinstance(partial, ValueError)  # one line on the command line
    assert str(partial).startswith("1 of 2 runs failed (the store keeps each one's error")
    assert str(partial).endswith("; the first: OSError: disk full; then: no optimum")
    ctx.swept = {"a": failed}
    assert str(ctx.runs_failed()).endswith("; the first: OSError: disk full")
    assert str(ctx.runs_failed(ValueError("every score is NaN"))).endswith("; the first: OSError: disk full")
    ctx.swept = {"b": SimpleNamespace(status="finished", error=None)}
    assert ctx.runs_failed(ValueError("a bug")) is None  # not about runs: the experiment's own error goes up
