"""The scoreboard of a ``sgdnoise reproduce all`` directory: one row per declared claim, with its paper,
figure, statement and the paper's number beside the measured one and the verdict; totals per paper.

The rows come from the declarations (each experiment's ``ClaimSpec`` list as the code declares it now)
joined with what each experiment's ``summary.json`` recorded. A claim whose recorded id, statement and kind
match the declaration takes the recorded verdict, unless the summary is a ``--tiny`` smoke run (then it is
``not checked``, the smoke run's verdict in its note); any other declared claim (experiment not run, among
them those ``reproduce all`` selected but never started, failed, or declared differently since it ran) is
``not checked``, with the reason; so is every claim of a shown paper that its inventory lists as checked by
no experiment (with the reason). Written as ``scoreboard.json`` (strict JSON) and ``scoreboard.html``
(self-contained: no external asset; filters by paper, verdict and kind work offline and can be set in the
address, e.g. ``#paper=jastrzebski-2018``).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sgdnoise import __version__, report
from sgdnoise.experiments.claims import PAPERS
from sgdnoise.experiments.registry import entries, get_experiment, inventories
from sgdnoise.experiments.suite import SELECTION_FILE, read_failure, suite_experiments
from sgdnoise.results import atomic_file, dumps

SCOREBOARD_JSON = "scoreboard.json"
SCOREBOARD_HTML = "scoreboard.html"
NOT_CHECKED = "not checked"
VERDICTS = ("holds", "fails", "inconclusive", NOT_CHECKED)


def _experiment_status(out_dir: Path, name: str) -> tuple[str, dict[str, Any] | None, str]:
    """(status, summary, reason): ``complete`` with its summary, ``failed``, ``not run`` or ``unreadable``."""
    failure = read_failure(out_dir)
    if failure is not None:
        return "failed", None, f"the run failed: {failure.get('error', '?')}"
    if not (out_dir / report.SUMMARY_FILE).exists():
        return "not run", None, "not run yet"
    try:
        return "complete", report.read_summary(out_dir, name), ""
    except ValueError as error:
        return "unreadable", None, str(error)


def _counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    rows = list(rows)
    return {verdict: sum(r["verdict"] == verdict for r in rows) for verdict in VERDICTS} | {"total": len(rows)}


def experiment_rows(out_root: Path, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The experiment's entry (status, wall time, report link) and one row per claim it declares."""
    experiment = get_experiment(name)
    status, summary, reason = _experiment_status(out_root / name, name)
    recorded = {c["id"]: c for c in summary["claims"]} if summary else {}
    report_file = out_root / name / report.REPORT_FILE
    link = f"{name}/{report.REPORT_FILE}" if summary and report_file.is_file() else None
    wall = summary["wall_seconds"] if summary else None
    scale = report.scale_text(summary) if summary else None
    tiny = bool(summary and summary.get("tiny"))
    rows = []
    for claim in experiment.claims:
        found = recorded.get(claim.id)
        checked = found is not None and (found["statement"], found.get("kind", "paper")) == (
            claim.statement,
            claim.kind,
        )
        if checked and tiny:  # measured on smoke-run settings: the paper's claim is not checked
            verdict, value, note = NOT_CHECKED, found["value"], f"{report.TINY_NOTE} (it says {found['verdict']})"
        elif checked:
            verdict, value, note = found["verdict"], found["value"], found.get("note", "")
        else:
            stale = "declared differently since it ran (run it again)" if summary else reason
            verdict, value, note = NOT_CHECKED, None, stale
        provenance = claim.provenance
        rows.append(
            {
                "experiment": name,
                "id": claim.id,
                "figure": claim.id.split("/", 1)[0],
                "where": provenance.where,
                "paper": provenance.paper,
                "statement": claim.statement,
                "quote": provenance.quote,
                "paper_value": provenance.paper_value,
                "measured": report.measured_text(value) if checked else "",
                "value": value,
                "note": note,
                "verdict": verdict,
                "kind": claim.kind,
                "calibration": _calibration(claim.kind, provenance.evidence),
                "scale": scale,
                "wall_seconds": wall,
                "report": link,
            }
        )
    entry = {"name": name, "title": experiment.title, "status": status, "reason": reason, "wall_seconds": wall}
    return entry | {"report": link, "scale": scale}, rows


def inventory_rows(papers: Iterable[str]) -> list[dict[str, Any]]:
    """One ``not checked`` row per claim of ``papers`` that no experiment checks (the papers' inventories:
    ``experiments/<paper>/inventory.py``), with the reason it is not checked."""
    wanted = set(papers)
    rows = []
    for inventory in inventories():
        if inventory.paper not in wanted:
            continue
        for item in inventory.not_checked:
            provenance = item.provenance
            rows.append(
                {
                    "experiment": None,
                    "id": f"{item.figure} (not checked)",
                    "figure": item.figure,
                    "where": provenance.where,
                    "paper": provenance.paper,
                    "statement": item.statement,
                    "quote": provenance.quote,
                    "paper_value": provenance.paper_value,
                    "measured": "",
                    "value": None,
                    "note": f"no experiment checks it: {item.reason}",
                    "verdict": NOT_CHECKED,
                    "kind": "paper",
                    "calibration": None,
                    "scale": None,
                    "wall_seconds": None,
                    "report": None,
                }
            )
    return rows


def _calibration(kind: str, evidence: str | None) -> str | None:
    """Whether a calibration decides the claim: it is one, or it rests on a calibrated setting (its evidence)."""
    if kind == "calibration":
        return "is a calibration" + (f" ({evidence})" if evidence else "")
    return f"rests on {evidence}" if evidence else None


def suite_report_hint(out_dir: Path) -> str | None:
    """For a ``reproduce all`` directory (its ``selection.json``, or an experiment's directory inside) without a
    summary.json of its own, the error ``sgdnoise report`` gives: run the scoreboard, or one experiment's report;
    None for any other directory."""
    inside = [e.name for e in entries() if (out_dir / e.name).is_dir()]
    if (out_dir / report.SUMMARY_FILE).is_file() or not (inside or (out_dir / SELECTION_FILE).is_file()):
        return None
    reported = [name for name in inside if (out_dir / name / report.SUMMARY_FILE).is_file()]
    example = f" (e.g. `sgdnoise report {out_dir / reported[0]}`)" if reported else ""
    return (
        f"no {report.SUMMARY_FILE} in {out_dir}, a `reproduce all` directory: run `sgdnoise scoreboard {out_dir}`, "
        f"or `sgdnoise report {out_dir / 'NAME'}` for one of its experiments{example}"
    )


def build(out_root: Path, names: Sequence[str] | None = None) -> dict[str, Any]:
    """The scoreboard document of ``out_root`` for ``names`` (default: every experiment its ``selection.json``
    records, started or not, and every registered experiment that has a directory there: see
    :mod:`sgdnoise.experiments.suite`); a directory with none is one clear error, which names ``sgdnoise report``
    for one experiment's directory."""
    if names is None:
        names = suite_experiments(out_root)
        if not names and (out_root / report.SUMMARY_FILE).is_file():
            raise ValueError(
                f"{out_root} is one experiment's output directory (it has {report.SUMMARY_FILE}), not a "
                f"`reproduce all` one: run `sgdnoise report {out_root}`"
            )
        if not names:
            raise FileNotFoundError(
                f"no experiment outputs in {out_root}: run `sgdnoise reproduce all --out {out_root}` first"
            )
    experiments, rows = [], []
    for name in names:
        entry, claims = experiment_rows(out_root, name)
        experiments.append(entry)
        rows.extend(claims)
    papers = [key for key in PAPERS if any(r["paper"] == key for r in rows)]
    rows.extend(inventory_rows(papers))
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sgdnoise": __version__,
        "scales": sorted({e["scale"] for e in experiments if e["scale"]}),
        "wall_seconds": round(sum(e["wall_seconds"] or 0.0 for e in experiments), 3),
        "papers": {key: PAPERS[key].citation for key in papers},
        "totals": {
            "overall": _counts(rows),
            "by_paper": {key: _counts(r for r in rows if r["paper"] == key) for key in papers},
        },
        "experiments": experiments,
        "claims": rows,
    }


def write(out_root: Path, names: Sequence[str] | None = None) -> dict[str, Any]:
    """Write ``scoreboard.json`` and ``scoreboard.html`` into ``out_root``; returns the document."""
    document = build(out_root, names)
    report.write_json_atomic(out_root / SCOREBOARD_JSON, document)
    with atomic_file(out_root / SCOREBOARD_HTML) as handle:
        handle.write(render_html(document).encode("utf-8"))
    return document


def totals_line(counts: Mapping[str, int]) -> str:
    """``"12 hold · 3 fail · 2 inconclusive · 1 not checked (of 18)"``."""
    words = {"holds": "hold", "fails": "fail", "inconclusive": "inconclusive", NOT_CHECKED: NOT_CHECKED}
    return " · ".join(f"{counts[v]} {words[v]}" for v in VERDICTS) + f" (of {counts['total']})"


def render_html(document: Mapping[str, Any]) -> str:
    """The self-contained page: totals table, filters, and the claims table built from the embedded JSON."""
    totals = document["totals"]
    head = "".join(f"<th>{v}</th>" for v in VERDICTS)
    by_paper = "".join(
        f"<tr><td title='{html.escape(document['papers'][key])}'>{html.escape(key)}</td>"
        + "".join(f"<td class='n'>{counts[key]}</td>" for key in (*VERDICTS, "total"))
        + "</tr>"
        for key, counts in totals["by_paper"].items()
    )
    overall = totals["overall"]
    overall_row = (
        "".join(f"<td class='n'>{overall[v]}</td>" for v in VERDICTS) + f"<td class='n'>{overall['total']}</td>"
    )
    options = "".join(f"<option value='{html.escape(k)}'>{html.escape(k)}</option>" for k in document["papers"])
    verdicts = "".join(f"<option value='{v}'>{v}</option>" for v in VERDICTS)
    kinds = "".join(f"<option value='{k}'>{k}</option>" for k in ("paper", "extension", "calibration"))
    failed = [e for e in document["experiments"] if e["status"] != "complete"]
    problems = "".join(
        f"<li><code>{html.escape(e['name'])}</code>: {html.escape(e['status'])} — {html.escape(e['reason'])}</li>"
        for e in failed
    )
    embedded = json.dumps(json.loads(dumps(document["claims"])), ensure_ascii=False).replace("</", "<\\/")
    scales = ", ".join(document["scales"]) or "—"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sgdnoise scoreboard</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; }}
th {{ background: #f3f3f3; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
#claims {{ width: 100%; }} #claims td:nth-child(3) {{ min-width: 22em; }}
.holds .verdict {{ color: #070; }} .fails .verdict {{ color: #b00; }} .inconclusive .verdict {{ color: #a60; }}
.verdict {{ font-weight: bold; white-space: nowrap; }} .not-checked .verdict {{ color: #777; }}
.small {{ font-size: 85%; color: #555; }} .filters label {{ margin-right: 1.5em; }}
details pre {{ max-height: 16em; overflow: auto; background: #f6f6f6; }}
</style></head><body>
<h1>Do the papers hold up? Scoreboard of {len(document["experiments"])} experiment(s)</h1>
<p>scale {html.escape(scales)} &middot; {document["wall_seconds"]:.0f} s of experiment wall time &middot;
sgdnoise {html.escape(document["sgdnoise"])} &middot; built {html.escape(document["generated_at"])}</p>
<h2>Totals</h2>
<table id="totals"><tr><th>paper</th>{head}<th>claims</th></tr>
{by_paper}<tr><th>all papers</th>{overall_row}</tr></table>
{f"<h2>Not complete</h2><ul id='problems'>{problems}</ul>" if problems else ""}
<h2>Claims</h2>
<p class="filters"><label>paper <select id="paper"><option value="">all</option>{options}</select></label>
<label>verdict <select id="verdict"><option value="">all</option>{verdicts}</select></label>
<label>kind <select id="kind"><option value="">all</option>{kinds}</select></label>
<span id="shown"></span></p>
<noscript>The claims table needs JavaScript; scoreboard.json holds the same rows.</noscript>
<table id="claims"><thead><tr><th>verdict</th><th>paper, where</th><th>claim</th><th>paper's number</th>
<th>measured</th><th>kind</th><th>calibration</th><th>scale</th><th>wall</th><th>report</th></tr></thead>
<tbody></tbody></table>
<script type="application/json" id="rows">{embedded}</script>
<script>
"use strict";
const rows = JSON.parse(document.getElementById("rows").textContent);
const body = document.querySelector("#claims tbody");
const filters = ["paper", "verdict", "kind"].map((id) => document.getElementById(id));
function cell(tr, text, extra) {{
  const td = tr.insertCell();
  td.textContent = text == null ? "" : String(text);
  if (extra) td.appendChild(extra);
  return td;
}}
function small(text) {{
  const div = document.createElement("div");
  div.className = "small";
  div.textContent = text;
  return div;
}}
for (const row of rows) {{
  const tr = body.insertRow();
  tr.className = "claim " + row.verdict.replace(" ", "-");
  tr.dataset.paper = row.paper; tr.dataset.verdict = row.verdict; tr.dataset.kind = row.kind;
  cell(tr, row.verdict).className = "verdict";
  cell(tr, row.paper, small(row.where + " · " + row.id));
  const quote = document.createElement("details");
  quote.appendChild(document.createElement("summary")).textContent = "the paper's line";
  quote.appendChild(small(row.quote));
  cell(tr, row.statement, quote);
  cell(tr, row.paper_value || "—");
  const raw = document.createElement("details");
  raw.appendChild(document.createElement("summary")).textContent = "raw values";
  raw.appendChild(document.createElement("pre")).textContent = JSON.stringify(row.value, null, 1);
  const measured = cell(tr, row.measured, row.note ? small(row.note) : null);
  if (row.value !== null) measured.appendChild(raw);
  cell(tr, row.kind);
  cell(tr, row.calibration || "no");
  cell(tr, row.scale || "—");
  cell(tr, row.wall_seconds == null ? "—" : Math.round(row.wall_seconds) + " s").className = "n";
  const link = cell(tr, "");
  if (row.report) {{
    const a = link.appendChild(document.createElement("a"));
    a.href = row.report; a.textContent = row.experiment;
  }} else link.textContent = row.experiment || "no experiment";
}}
function apply() {{
  let shown = 0;
  for (const tr of body.rows) {{
    const match = filters.every((f) => !f.value || tr.dataset[f.id] === f.value);
    tr.hidden = !match;
    shown += match;
  }}
  document.getElementById("shown").textContent = "showing " + shown + " of " + rows.length + " claims";
  const state = filters.filter((f) => f.value).map((f) => f.id + "=" + encodeURIComponent(f.value));
  history.replaceState(null, "", state.length ? "#" + state.join("&") : location.pathname);
}}
function fromAddress() {{
  const wanted = new URLSearchParams(location.hash.slice(1));
  for (const f of filters) f.value = wanted.get(f.id) || "";
  apply();
}}
for (const f of filters) f.addEventListener("change", apply);
window.addEventListener("hashchange", fromAddress);
fromAddress();
</script>
</body></html>
"""
