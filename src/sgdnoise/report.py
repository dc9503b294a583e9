"""Outputs of a reproduction: ``summary.json`` (the contract other tools read), the figures, one
self-contained HTML page, and the claims table printed to the terminal."""

from __future__ import annotations

import base64
import html
import json
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from sgdnoise import __version__
from sgdnoise.results import VERDICTS, Claim, atomic_file, dumps, strict_json

SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"
FIGURES_DIR = "figures"
# what a summary.json must hold for `sgdnoise report` to redraw it
REQUIRED_KEYS = ("experiment", "title", "paper", "scale", "wall_seconds", "claims", "data")


def build_summary(
    *,
    experiment: str,
    title: str,
    paper: str,
    scale: str,
    seed: int,
    device: str,
    wall_seconds: float,
    wall_seconds_covers: str = "this call",
    tiny: bool = False,
    claims: Sequence[Claim],
    data: Mapping[str, Any],
    settings: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    datasets: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The summary.json document: experiment, scale, tiny (a ``--tiny`` smoke run), wall_seconds (and what they
    cover), claims, data, settings (the spec that ran), overrides (what ``--set`` changed), datasets (the user's
    files given with ``--data`` and whether they were verified) and provenance; strict JSON throughout."""
    import torch

    return {
        "experiment": experiment,
        "title": title,
        "paper": paper,
        "scale": scale,
        "tiny": tiny,
        "seed": seed,
        "wall_seconds": round(wall_seconds, 3),
        "wall_seconds_covers": wall_seconds_covers,
        "claims": [claim.to_dict() for claim in claims],
        "data": strict_json(data),
        "settings": strict_json(settings),
        "overrides": strict_json(overrides or {}),
        "datasets": strict_json(datasets or {}),
        "environment": {
            "sgdnoise": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "device": device,
            "threads": torch.get_num_threads(),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    }


def write_json_atomic(path: Path, document: Mapping[str, Any]) -> None:
    """Write JSON so that a reader never sees a half-written file (:func:`results.atomic_file`)."""
    with atomic_file(path) as handle:
        handle.write(dumps(document, indent=2).encode())


def read_summary(out_dir: Path, experiment: str | None = None) -> dict[str, Any]:
    """The summary.json of ``out_dir``, checked: a missing, unreadable or incomplete file (or, given
    ``experiment``, another experiment's) is one clear error saying what to do."""
    path = Path(out_dir) / SUMMARY_FILE
    redo = f"run `sgdnoise reproduce {experiment or 'NAME'} --out {out_dir}` to write it again"
    if not path.is_file():
        raise FileNotFoundError(
            f"no {SUMMARY_FILE} in {out_dir}: run `sgdnoise reproduce {experiment or 'NAME'} --out {out_dir}` first"
        )
    try:
        summary = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}); {redo}") from None
    if not isinstance(summary, dict):
        raise ValueError(f"{path} holds a {type(summary).__name__}, not a summary object; {redo}")
    other = summary.get("experiment")
    if experiment is not None and isinstance(other, str) and other != experiment:
        raise ValueError(
            f"{path} is the summary of {other!r}, not of {experiment}: move {out_dir} aside (or rename it to "
            f"{other!r}) before running `sgdnoise reproduce {experiment}` there"
        )
    if isinstance(other, str):
        redo = redo.replace("NAME", other)
    missing = [key for key in REQUIRED_KEYS if key not in summary]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}; {redo}")
    if not isinstance(summary["data"], dict) or not isinstance(summary["claims"], list):
        raise ValueError(f"{path}: 'data' must be an object and 'claims' a list; {redo}")
    for key in ("experiment", "title", "paper", "scale"):
        if not isinstance(summary[key], str):
            raise ValueError(f"{path}: {key!r} must be a string, got {summary[key]!r}; {redo}")
    if not isinstance(summary["wall_seconds"], int | float) or isinstance(summary["wall_seconds"], bool):
        raise ValueError(f"{path}: 'wall_seconds' must be a number, got {summary['wall_seconds']!r}; {redo}")
    for index, claim in enumerate(summary["claims"]):
        if not isinstance(claim, dict):
            raise ValueError(f"{path}: claim {index} is a {type(claim).__name__}, not an object; {redo}")
        if "verdict" not in claim and "holds" in claim:  # a summary written before verdicts had three values
            claim["verdict"] = "holds" if claim["holds"] else "fails"
        if claim.get("verdict") not in VERDICTS or not isinstance(claim.get("id"), str):
            raise ValueError(
                f"{path}: claim {index} needs an 'id' and a 'verdict' among {', '.join(VERDICTS)}, got "
                f"{claim.get('id')!r} and {claim.get('verdict')!r}; {redo}"
            )
    return summary


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={format_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


VERDICT_COLOURS = {"holds": "green", "fails": "red", "inconclusive": "yellow"}
TINY_NOTE = "a --tiny smoke run (seconds, stand-in data): its verdicts say nothing about the papers"


def scale_text(summary: Mapping[str, Any]) -> str:
    """The scale a summary ran at, as shown: ``quick``, ``quick --tiny``, ``paper (changed by --set)``."""
    tiny = " --tiny" if summary.get("tiny") else ""
    return summary["scale"] + tiny + (" (changed by --set)" if summary.get("overrides") else "")


def verdict_counts(claims: Sequence[Mapping[str, Any]]) -> str:
    """``"3 hold, 1 fails, 1 inconclusive"`` (only the verdicts that occur)."""
    counts = {verdict: sum(c["verdict"] == verdict for c in claims) for verdict in VERDICT_COLOURS}
    words = {"holds": ("holds", "hold"), "fails": ("fails", "fail"), "inconclusive": ("inconclusive",) * 2}
    parts = [f"{n} {words[v][n != 1]}" for v, n in counts.items() if n]
    return ", ".join(parts) + f" of {len(claims)} claims" if parts else "no claims"


def print_claims(summary: Mapping[str, Any]) -> None:
    """The claims table on the terminal: one line per claim, its verdict and its measured value."""
    claims = summary["claims"]
    click.echo(
        f"\n{summary['title']} ({summary['experiment']}, scale={scale_text(summary)}, "
        f"{summary['wall_seconds']:.0f} s): {verdict_counts(claims)}"
    )
    if summary.get("tiny"):
        click.echo(f"  {TINY_NOTE}")
    for claim in claims:
        verdict = claim["verdict"]
        mark = click.style(f"{verdict.upper():12s}", fg=VERDICT_COLOURS[verdict])
        kind = "" if claim.get("kind", "paper") == "paper" else f" [{claim['kind']}]"
        click.echo(f"  {mark} {claim['id']}{kind}: {claim['statement']}")
        click.echo(f"               measured: {format_value(claim['value'])}")
        if claim.get("note"):
            click.echo(f"               note: {claim['note']}")


def measured_text(value: Any, max_items: int = 4) -> str:
    """The measured number(s) a verdict rests on, short: a number, or a claim value's first few numbers and
    intervals (two-number lists) by name; the full value stays in ``summary.json``."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return "—" if value is None else str(value)
    if isinstance(value, int | float):
        return format_value(value)
    if isinstance(value, Mapping):
        short = [
            f"{key} = {format_value(item)}"
            for key, item in value.items()
            if isinstance(item, int | float | bool | str)
            or (isinstance(item, list) and len(item) == 2 and all(isinstance(x, int | float) for x in item))
        ]
        more = " …" if len(short) > max_items or len(short) < len(value) else ""
        return "; ".join(short[:max_items]) + more if short else f"{len(value)} values …"
    if isinstance(value, list | tuple):
        return format_value(list(value[:max_items])) + (" …" if len(value) > max_items else "")
    return format_value(value)


def _claim_row(claim: Mapping[str, Any]) -> str:
    """One row of the report's claims table in reading order: verdict, statement, the paper's number, ours
    (with the note); the claim's id, kind, the paper's line and the raw measured values folded away."""
    provenance = claim.get("provenance") or {}
    kind = claim.get("kind", "paper")
    paper_value = provenance.get("paper_value") or "—"
    where = html.escape(provenance.get("where", ""))
    quote = provenance.get("quote")
    origin = f"{where}: <q>{html.escape(quote)}</q>" if quote else where
    note = f"<div class='note'>{html.escape(claim['note'])}</div>" if claim.get("note") else ""
    return (
        f"<tr class='{claim['verdict']}'><td class='verdict'>{claim['verdict']}</td>"
        f"<td>{html.escape(claim['statement'])} <span class='kind {kind}'>{kind}</span>"
        f"<details><summary>in the paper</summary><code>{html.escape(claim['id'])}</code> {origin}</details></td>"
        f"<td class='num'>{html.escape(paper_value)}</td>"
        f"<td><span class='num'>{html.escape(measured_text(claim['value']))}</span>{note}"
        f"<details><summary>raw values</summary>"
        f"<pre>{html.escape(json.dumps(claim['value'], indent=1, ensure_ascii=False))}</pre></details></td></tr>"
    )


def write_html(out_dir: Path, summary: Mapping[str, Any], figures: Mapping[Path, str]) -> Path:
    """One self-contained HTML page: claims table and every figure (file → caption) embedded as PNG."""
    rows = "\n".join(_claim_row(c) for c in summary["claims"])
    images = "\n".join(
        f"<figure><img alt='{html.escape(p.stem)}' src='data:image/png;base64,"
        f"{base64.b64encode(p.read_bytes()).decode()}'><figcaption><code>{html.escape(p.name)}</code>: "
        f"{html.escape(caption)}</figcaption></figure>"
        for p, caption in figures.items()
    )
    settings = html.escape(json.dumps(summary.get("settings", {}), indent=2))
    env = html.escape(json.dumps(summary.get("environment", {}), indent=2))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(summary["title"])}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
td {{ vertical-align: top; }} td.verdict {{ font-weight: bold; white-space: nowrap; }}
tr.holds td.verdict {{ color: #070; }} tr.fails td.verdict {{ color: #b00; }}
tr.inconclusive td.verdict {{ color: #a60; }}
.kind {{ font-size: 80%; padding: 0 4px; border-radius: 3px; background: #eee; }}
.kind.extension {{ background: #def; }} .kind.calibration {{ background: #fed; }}
q, .note {{ color: #555; font-size: 90%; }} details pre {{ max-height: 20em; overflow: auto; }}
table.claims td:nth-child(2) {{ width: 45%; }} table.claims td:nth-child(3) {{ width: 15%; }}
figure {{ display: inline-block; margin: 1em; }} img {{ max-width: 100%; }}
pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; }}
</style></head><body>
<h1>{html.escape(summary["title"])}</h1>
<p>{html.escape(summary["paper"])} &middot; experiment <code>{html.escape(summary["experiment"])}</code>
&middot; scale <b>{html.escape(scale_text(summary))}</b> &middot; {summary["wall_seconds"]:.0f} s</p>
{f"<p><b>{html.escape(TINY_NOTE)}</b></p>" if summary.get("tiny") else ""}
<h2>Claims: {verdict_counts(summary["claims"])}</h2>
<table class='claims'><tr><th>verdict</th><th>claim</th><th>the paper's number</th><th>measured here</th></tr>
{rows}
</table>
<h2>Figures</h2>
{images}
<h2>Settings</h2><pre>{settings}</pre>
<h2>Environment</h2><pre>{env}</pre>
</body></html>
"""
    path = Path(out_dir) / REPORT_FILE
    with atomic_file(path) as handle:
        handle.write(page.encode())
    return path
