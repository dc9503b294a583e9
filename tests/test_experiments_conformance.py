"""The conformance suite every registered experiment passes (as scikit-learn's ``check_estimator`` runs on
every estimator): both scales declared; the registry reads what the module declares; claim ids unique and
well-formed, each claim with provenance, kind and a test whose thresholds ``--set`` cannot change; a tiny
run finishes at each scale and checks every declared claim; a rerun trains and measures nothing new; the
figures redraw from ``summary.json`` alone; a dry run that says it covers every sweep plans every sweep the
run made."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest
import torch

from sgdnoise import experiments, report
from sgdnoise.experiments.base import RunContext
from sgdnoise.experiments.claims import ID_PATTERN, PAPERS
from sgdnoise.experiments.plan import record_sweeps
from sgdnoise.experiments.registry import SCALES, entries, experiment_names, get_experiment
from sgdnoise.experiments.spec import spec_fields
from sgdnoise.store import Store

NAMES = experiment_names()
THRESHOLD_WORDS = ("threshold", "margin", "tolerance", "min_drop")
PREFIXES = {"smith_le_2018": "smith-le-", "jastrzebski_2018": "jastrzebski-", "smith_elsen_de_2020": "sed-"}


def test_every_registered_experiment_has_a_readme_row_and_papers_come_in_order():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Experiments") :].split("\n\n")[1]
    rows = re.findall(r"^\| `([a-z0-9-]+)` \|", table, flags=re.MULTILINE)
    assert sorted(rows) == sorted(NAMES), "add a README row for each experiment (and only for those)"
    prefixes = [name.split("-")[0] for name in NAMES]
    papers = ["smith", "jastrzebski", "sed"]
    assert set(prefixes) <= set(papers), f"an experiment's name starts smith-le-, jastrzebski- or sed-: {NAMES}"
    assert prefixes == sorted(prefixes, key=papers.index), f"experiments out of the papers' order: {NAMES}"
    for entry in entries():
        package = entry.module.split(".")[2]
        assert entry.name.startswith(PREFIXES[package]), f"{entry.name} in {package}/ must start {PREFIXES[package]}"


@pytest.mark.parametrize("name", NAMES)
def test_declaration(name):
    experiment = get_experiment(name)
    assert experiment.name == name and experiment.description and experiment.title and experiment.paper
    for scale in SCALES:
        spec = experiment.spec(scale)
        assert dataclasses.is_dataclass(spec) and type(spec).__dataclass_params__.frozen
        # the tiny overrides are valid --set assignments of this spec
        assert set(experiment.tiny[scale]) <= set(spec_fields(spec))
    assert experiment.claims, f"{name} declares no claims"
    fields = set().union(*(spec_fields(experiment.spec(scale)) for scale in SCALES))
    threshold_like = sorted(f for f in fields if any(word in f for word in THRESHOLD_WORDS))
    assert not threshold_like, f"claim thresholds must be constants in code, not --set fields: {threshold_like}"
    for claim in experiment.claims:
        assert ID_PATTERN.match(claim.id)
        assert claim.kind in ("paper", "extension", "calibration")
        assert claim.provenance.paper in PAPERS and claim.provenance.where and claim.provenance.quote
        assert claim.test.statistic and claim.test.rule
        shared = {name.lower() for name in claim.test.thresholds} & {f.lower() for f in fields}
        assert not shared, f"{claim.id}: a threshold is also a --set field: {sorted(shared)}"
    assert [c.id for c in experiment.claims] == list(dict.fromkeys(c.id for c in experiment.claims))
    assert {entry.name: entry.module for entry in entries()}[name].startswith("sgdnoise.experiments.")


class _CountingStore:
    """Counts what a run writes to its store (every trained run is a ``put``, every measurement of a stored
    run an ``add_measurements``)."""

    def __init__(self, monkeypatch):
        self.writes = 0
        for method in ("put", "add_measurements"):
            original = getattr(Store, method)

            def counted(store, *args, _original=original, **kwargs):
                self.writes += 1
                return _original(store, *args, **kwargs)

            monkeypatch.setattr(Store, method, counted)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", NAMES)
def test_tiny_run_resumes_and_redraws(name, scale, tmp_path, monkeypatch):
    experiment = get_experiment(name)
    counter = _CountingStore(monkeypatch)
    made = []
    sweep = RunContext.sweep

    def recorded_sweep(context, swept, **engine):
        made.append(swept.experiment)
        return sweep(context, swept, **engine)

    monkeypatch.setattr(RunContext, "sweep", recorded_sweep)
    kwargs = dict(
        scale=scale,
        overrides=experiment.tiny[scale],
        out_dir=tmp_path,
        device="cpu",
        executor="inline",
        show_progress=False,
    )
    summary = experiments.reproduce(name, **kwargs)
    assert [c["id"] for c in summary["claims"]] == [c.id for c in experiment.claims]
    assert all(c["verdict"] in ("holds", "fails", "inconclusive") for c in summary["claims"])
    assert counter.writes > 0, "the run stored nothing, so a rerun could not resume"
    assert report.read_summary(tmp_path)["scale"] == scale

    # --dry-run from scratch: it plans every sweep the run made, or says where it stops
    spec = experiments.configured_spec(name, scale, tiny=True)
    (tmp_path / "dry-run").mkdir()
    with Store(tmp_path / "dry-run" / "store.sqlite") as empty:
        planned, coverage = record_sweeps(name, spec, scale, 0, torch.device("cpu"), empty)
    if coverage == "every sweep":
        assert set(made) <= {s.experiment for s in planned}, f"--dry-run says it covers every sweep, {made=}"

    counter.writes = 0
    again = experiments.reproduce(name, **kwargs)
    assert counter.writes == 0, "the rerun trained or measured again"
    assert again["claims"] == summary["claims"] and again["data"] == summary["data"]

    shutil.rmtree(tmp_path / report.FIGURES_DIR)
    (tmp_path / report.REPORT_FILE).unlink()
    figures = experiments.render(tmp_path, report.read_summary(tmp_path))
    assert figures and all(path.is_file() for path in figures)
    assert (tmp_path / report.REPORT_FILE).is_file()
