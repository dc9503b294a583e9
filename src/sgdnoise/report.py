"""Outputs of a reproduction: ``summary.json`` (the contract other tools read), the figures, one
self-contained HTML page, and the claims table printed to the terminal."""

from __future__ import annotations

import base64
import html
import json
import os
import platform
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from sgdnoise import __version__
from sgdnoise.experiments.base import Claim
from sgdnoise.store import jsonable

SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"
FIGURES_DIR = "figures"


def build_summary(
    *,
    experiment: str,
    title: str,
    paper: str,
    scale: str,
    seed: int,
    device: str,
    wall_seconds: float,
    claims: Sequence[Claim],
    data: Mapping[str, Any],
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """The summary.json document: experiment, scale, wall_seconds, claims, data (+ provenance)."""
    import torch

    return {
        "experiment": experiment,
        "title": title,
        "paper": paper,
        "scale": scale,
        "seed": seed,
        "wall_seconds": round(wall_seconds, 3),
        "claims": [claim.to_dict() for claim in claims],
        "data": jsonable(data),
        "settings": jsonable(settings),
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
    """Write JSON so that a reader never sees a half-written file (write to a temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(jsonable(document), handle, indent=2, allow_nan=False)
    os.replace(tmp, path)


def read_summary(out_dir: Path) -> dict[str, Any]:
    path = Path(out_dir) / SUMMARY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {SUMMARY_FILE} in {out_dir}: run `sgdnoise reproduce NAME --out {out_dir}` first")
    return json.loads(path.read_text())


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={format_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def print_claims(summary: Mapping[str, Any]) -> None:
    """The claims table on the terminal: one line per claim, its verdict and its measured value."""
    claims = summary["claims"]
    held = sum(claim["holds"] for claim in claims)
    click.echo(
        f"\n{summary['title']} ({summary['experiment']}, scale={summary['scale']}, "
        f"{summary['wall_seconds']:.0f} s): {held}/{len(claims)} claims hold"
    )
    for claim in claims:
        mark = click.style("HOLDS", fg="green") if claim["holds"] else click.style("FAILS", fg="red")
        click.echo(f"  {mark}  {claim['id']}: {claim['statement']}")
        click.echo(f"         measured: {format_value(claim['value'])}")
        if claim.get("note"):
            click.echo(f"         note: {claim['note']}")


def write_html(out_dir: Path, summary: Mapping[str, Any], figures: Sequence[Path]) -> Path:
    """One self-contained HTML page: claims table and every figure embedded as PNG."""
    rows = "\n".join(
        "<tr class='{cls}'><td>{verdict}</td><td><code>{id}</code></td><td>{statement}</td>"
        "<td>{value}</td><td>{note}</td></tr>".format(
            cls="holds" if c["holds"] else "fails",
            verdict="holds" if c["holds"] else "fails",
            id=html.escape(c["id"]),
            statement=html.escape(c["statement"]),
            value=html.escape(format_value(c["value"])),
            note=html.escape(c.get("note", "")),
        )
        for c in summary["claims"]
    )
    images = "\n".join(
        f"<figure><img alt='{html.escape(p.stem)}' src='data:image/png;base64,"
        f"{base64.b64encode(p.read_bytes()).decode()}'><figcaption>{html.escape(p.stem)}</figcaption></figure>"
        for p in figures
    )
    settings = html.escape(json.dumps(summary.get("settings", {}), indent=2))
    env = html.escape(json.dumps(summary.get("environment", {}), indent=2))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(summary["title"])}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
tr.holds td:first-child {{ color: #070; font-weight: bold; }}
tr.fails td:first-child {{ color: #b00; font-weight: bold; }}
figure {{ display: inline-block; margin: 1em; }} img {{ max-width: 100%; }}
pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; }}
</style></head><body>
<h1>{html.escape(summary["title"])}</h1>
<p>{html.escape(summary["paper"])} &middot; experiment <code>{html.escape(summary["experiment"])}</code>
&middot; scale <b>{html.escape(summary["scale"])}</b> &middot; {summary["wall_seconds"]:.0f} s</p>
<h2>Claims</h2>
<table><tr><th>verdict</th><th>id</th><th>claim</th><th>measured</th><th>note</th></tr>
{rows}
</table>
<h2>Figures</h2>
{images}
<h2>Settings</h2><pre>{settings}</pre>
<h2>Environment</h2><pre>{env}</pre>
</body></html>
"""
    path = Path(out_dir) / REPORT_FILE
    path.write_text(page)
    return path
