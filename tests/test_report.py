import json
import os
import stat

import pytest
from click.testing import CliRunner

from sgdnoise import report
from sgdnoise.cli import main

SUMMARY = {
    "experiment": "smith-le-batch",
    "title": "t",
    "paper": "p",
    "scale": "quick",
    "wall_seconds": 1.0,
    "claims": [],
    "data": {},
}


def test_summary_json_is_strict(tmp_path):
    document = report.build_summary(
        experiment="x",
        title="t",
        paper="p",
        scale="quick",
        seed=0,
        device="cpu",
        wall_seconds=1.0,
        claims=[],
        data={"a": float("nan"), "b": [float("inf"), 1.0]},
        settings={"n": (1, 2)},
    )
    report.write_json_atomic(tmp_path / "summary.json", document)
    text = (tmp_path / "summary.json").read_text()

    def refuse(constant):
        raise AssertionError(f"non-strict JSON constant {constant}")

    parsed = json.loads(text, parse_constant=refuse)
    assert parsed["data"] == {"a": None, "b": [None, 1.0]} and parsed["settings"] == {"n": [1, 2]}
    assert '"nan"' not in text


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_json_is_written_with_the_mode_the_umask_gives_like_the_other_outputs(tmp_path, umask):
    previous = os.umask(umask)
    try:
        report.write_json_atomic(tmp_path / "summary.json", SUMMARY)
        (tmp_path / "report.html").write_text("")
    finally:
        os.umask(previous)
    modes = [stat.S_IMODE((tmp_path / name).stat().st_mode) for name in ("summary.json", "report.html")]
    assert modes == [0o666 & ~umask] * 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "summary.json"]  # no temp file left


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "not a summary object"),
        (json.dumps({k: v for k, v in SUMMARY.items() if k != "data"}), "lacks data"),
        (json.dumps(SUMMARY | {"experiment": "smith-le-gradient-noise"}), "lacks batch_size, data_seed"),
        # hand-edited files: before, KeyError, TypeError or AttributeError tracebacks
        (json.dumps(SUMMARY | {"claims": [{"id": "a/b"}]}), "claim 0 needs an 'id' and a 'verdict' among holds"),
        (json.dumps(SUMMARY | {"claims": [{"id": "a/b", "verdict": "maybe"}]}), "got 'a/b' and 'maybe'"),
        (json.dumps(SUMMARY | {"claims": [1, 2]}), "claim 0 is a int, not an object"),
        (json.dumps(SUMMARY | {"wall_seconds": None}), "'wall_seconds' must be a number, got None"),
        (
            json.dumps(SUMMARY | {"scale": None}),
            "'scale' must be a string, got None; run `sgdnoise reproduce smith-le-batch --out",
        ),
    ],
)
def test_a_bad_summary_is_one_clear_line_naming_the_file(tmp_path, content, message):
    (tmp_path / "summary.json").write_text(content)
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "summary.json" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ([], "run `sgdnoise reproduce NAME --out {dir}` first"),
        (["selection.json"], "a `reproduce all` directory: run `sgdnoise scoreboard {dir}`, or `sgdnoise report "),
        (
            ["smith-le-gap/store.sqlite", "smith-le-batch/summary.json"],
            "for one of its experiments (e.g. `sgdnoise report {dir}/smith-le-batch`)",
        ),
    ],
)
def test_a_directory_without_summary_names_the_command_for_its_kind(tmp_path, written, hint):
    for name in written:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("{}")
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert f"no summary.json in {tmp_path}" in result.output and hint.format(dir=tmp_path) in result.output


def test_report_claims_lead_with_verdict_statement_and_both_numbers(tmp_path):
    from sgdnoise.results import Claim

    claim = Claim(
        id="fig4/peak-interior",
        statement="test accuracy peaks at an intermediate batch size",
        verdict="fails",
        value={"best_batch": 300, "interval": [100, 1000], "per_seed": [1, 2, 3]},
        note="the peak sits at the grid's edge",
        provenance={"where": "§4, Fig. 4", "quote": "the test accuracy peaks", "paper_value": "B_opt ≈ 128"},
    )
    summary = report.build_summary(
        experiment="x", title="t", paper="p", scale="quick", seed=0, device="cpu", wall_seconds=1.0,
        claims=[claim], data={}, settings={},
    )  # fmt: skip
    page = report.write_html(tmp_path, summary, {}).read_text()
    row = page[page.index("<tr class='fails'>") :]
    row = row[: row.index("</tr>")]
    cells = [
        row.index(text)
        for text in ("fails", claim.statement, "B_opt ≈ 128", "best_batch = 300; interval = [100, 1000]")
    ]
    assert cells == sorted(cells), "verdict, statement, the paper's number, ours: in that order"
    assert row.index("the peak sits") < row.index("<details><summary>raw values")
    assert "per_seed" not in row[: row.index("<details><summary>raw values")], "raw values are folded away"
