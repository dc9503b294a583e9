"""Every experiment at once (``sgdnoise reproduce all``): selection by name or paper, resumption, and
failures recorded per experiment so that the rest go on.

Each experiment writes ``DIR/<name>/`` exactly as ``sgdnoise reproduce NAME --out DIR/<name>`` does. An
experiment is *complete* when its ``summary.json`` was written at the requested scale, seed, ``--set``
changes and ``--tiny`` or not, and records the claims that today's declarations and check code give on its
data (a changed statement, threshold or check is checked again), and its ``report.html`` was drawn from it
(it shows the summary's ``finished_at``: a call killed between the two draws it again); a complete
experiment is skipped, any other one is run, and its store makes that a resumption (finished runs are never
trained again). A failing experiment leaves ``failure.json`` (the error, its traceback and the wall time so
far) in its directory.

Before it runs anything, ``reproduce all`` records its selection in ``DIR/selection.json``: each selected
experiment with the scale, seed and ``--tiny`` setting it was selected at. Calls into one directory add to it
(the union of their selections; an experiment selected again takes the latest call's settings), so it names
every experiment the directory is meant to hold, started or not, and the scoreboard lists the ones never
started as not run. Delete it to make the scoreboard list only the experiment directories present.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sgdnoise.experiments.registry import PAPER_PACKAGES, Entry, entries, get_experiment
from sgdnoise.experiments.spec import overridden_values
from sgdnoise.results import strict_json

FAILURE_FILE = "failure.json"
SELECTION_FILE = "selection.json"
Status = Literal["ran", "skipped", "failed"]


def _paper_aliases(package: str) -> set[str]:
    """The names a paper answers to: its package (``jastrzebski_2018``), kebab-cased, without the year,
    and the prefix its experiments' names share (``smith-le``, ``jastrzebski``, ``sed``)."""
    kebab = package.replace("_", "-")
    without_year = kebab.rsplit("-", 1)[0]
    words = without_year.split("-")
    initials = {"".join(word[0] for word in words)} if len(words) > 2 else set()
    return {package, kebab, without_year, *initials}


def select(only: Sequence[str] = (), skip: Sequence[str] = ()) -> list[Entry]:
    """The registered experiments named by ``only`` (all when empty) minus those named by ``skip``; each
    selector is an experiment name or a paper (``smith-le``, ``jastrzebski``, ``sed`` / ``smith-elsen-de``,
    or the package name). An unknown selector is one clear error listing the valid ones."""
    by_paper = {package: [e for e in entries() if e.module.split(".")[2] == package] for package in PAPER_PACKAGES}
    aliases = {alias: package for package in PAPER_PACKAGES for alias in _paper_aliases(package)}

    def named(selector: str) -> set[str]:
        if selector in aliases:
            return {e.name for e in by_paper[aliases[selector]]}
        if selector in {e.name for e in entries()}:
            return {selector}
        papers = ", ".join(sorted(a for a in aliases if "_" not in a))
        raise ValueError(
            f"--only/--skip: {selector!r} is neither an experiment (see `sgdnoise list`) nor a paper ({papers})"
        )

    chosen = set().union(*(named(s) for s in only)) if only else {e.name for e in entries()}
    dropped = set().union(*(named(s) for s in skip)) if skip else set()
    return [e for e in entries() if e.name in chosen - dropped]


def is_complete(
    out_dir: Path, name: str, scale: str, seed: int, overrides: Mapping[str, Any], tiny: bool = False
) -> bool:
    """Whether ``out_dir`` holds a finished reproduction of ``name`` at ``scale``, ``seed``, with these
    ``overrides`` and as a ``tiny`` run or not, whose claim records today's claims give (see the module
    docstring)."""
    from sgdnoise import report

    if (out_dir / FAILURE_FILE).exists():
        return False
    try:
        summary = report.read_summary(out_dir)
    except (ValueError, FileNotFoundError):
        return False
    page = out_dir / report.REPORT_FILE
    if not page.is_file():
        return False  # killed after writing its summary, before its figures and report: run (and draw) again
    finished = (summary.get("environment") or {}).get("finished_at")
    if isinstance(finished, str) and finished not in page.read_text(errors="replace"):
        return False  # the report of an earlier call, beside this call's summary: draw it again
    ran = (summary["experiment"], summary["scale"], summary.get("tiny", False), summary.get("seed"))
    if ran != (name, scale, tiny, seed) or not _claims_checked_today(name, summary):
        return False

    from sgdnoise.experiments import configured_spec

    def parsed(changes: Mapping[str, Any]) -> Any:  # older summaries hold --set's raw strings: parse both sides
        return strict_json(overridden_values(configured_spec(name, scale, changes, tiny=tiny), changes))

    try:
        return parsed(summary.get("overrides") or {}) == parsed(overrides)
    except ValueError:  # a recorded setting the spec no longer has, or a value it now refuses
        return False


def _claims_checked_today(name: str, summary: Mapping[str, Any]) -> bool:
    """Whether the summary's claim records are what today's claims (declarations and check code) give on the
    summary's own data: a changed statement, threshold or check makes the experiment run again, from its store."""
    experiment = get_experiment(name)
    try:
        today = [claim.to_dict() for claim in experiment.check(summary["data"])]
    except Exception:  # a check that cannot read the JSON copy of its data: compare the declarations (statement,
        # kind, test, provenance), so that the experiment is not re-run on every call for a check only the
        # in-memory data satisfies
        fields = ("id", "statement", "kind", "test", "provenance")
        declared = [
            dict(zip(fields, (c.id, c.statement, c.kind, c.test.to_dict(), c.provenance.to_dict()), strict=True))
            for c in experiment.claims
        ]
        return strict_json(declared) == [{key: c.get(key) for key in fields} for c in summary["claims"]]
    return strict_json(today) == summary["claims"]


@dataclass(frozen=True)
class Outcome:
    """What ``reproduce all`` did with one experiment: ``ran``, ``skipped`` (already complete) or
    ``failed`` (``error``: the one-line reason; the traceback is in its ``failure.json``)."""

    name: str
    status: Status
    seconds: float
    error: str | None = None


def read_failure(out_dir: Path) -> dict[str, Any] | None:
    """The ``failure.json`` of an experiment's directory, or None."""
    path = out_dir / FAILURE_FILE
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return {"error": f"unreadable {path}: {error}"}
    return document if isinstance(document, dict) else {"error": f"{path} holds no failure record"}


def read_selection(out_root: Path) -> dict[str, Any]:
    """The experiments ``out_root``'s ``selection.json`` records (see the module docstring), each with the scale,
    seed and ``tiny`` it was last selected at; empty without the file (a directory written before it existed).
    An unreadable file is one clear error."""
    path = out_root / SELECTION_FILE
    if not path.is_file():
        return {}
    remedy = "delete it (the scoreboard then lists the experiment directories present)"
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}); {remedy}") from None
    recorded = document.get("experiments") if isinstance(document, dict) else None
    if not isinstance(recorded, dict):
        raise ValueError(f"{path} lacks its 'experiments' object; {remedy}")
    return recorded


def suite_experiments(out_root: Path) -> list[str]:
    """The registered experiments a ``reproduce all`` directory is meant to hold, in registry order: those its
    ``selection.json`` records and those with a directory there."""
    selected = read_selection(out_root)
    return [e.name for e in entries() if e.name in selected or (out_root / e.name).is_dir()]


def stray_directories(out_root: Path) -> list[Path]:
    """The directories of ``out_root`` that hold a summary.json under a name no registered experiment has (a
    renamed copy, say): the scoreboard cannot place them, and says so."""
    from sgdnoise import report

    names = {e.name for e in entries()}
    return sorted(
        path
        for path in out_root.iterdir()
        if path.is_dir() and path.name not in names and (path / report.SUMMARY_FILE).is_file()
    )


def _record_selection(out_root: Path, selected: Sequence[Entry], scale: str, seed: int, tiny: bool) -> None:
    """Add ``selected`` to ``out_root``'s ``selection.json``, with this call's settings."""
    from sgdnoise import report

    settings = {"scale": scale, "seed": seed, "tiny": tiny}
    recorded = read_selection(out_root) | {e.name: settings for e in selected}
    report.write_json_atomic(out_root / SELECTION_FILE, {"experiments": recorded})


def recorded_wall_seconds(out_dir: Path, scale: str, seed: int, tiny: bool) -> tuple[float, str] | None:
    """The wall time an experiment's directory records so far for this scale, seed and ``--tiny`` setting, and
    where: the larger of its ``summary.json``'s and ``failure.json``'s ``wall_seconds`` (each adds its call's
    time to the one before); None if neither has one for them (a directory reused at another scale or seed
    keeps each one's time apart)."""
    from sgdnoise import report

    try:
        summary: dict[str, Any] | None = report.read_summary(out_dir)
    except (ValueError, FileNotFoundError):
        summary = None
    recorded = [
        (float(document["wall_seconds"]), f"the previous {file}")
        for document, file in ((summary, report.SUMMARY_FILE), (read_failure(out_dir), FAILURE_FILE))
        if document is not None
        and isinstance(document.get("wall_seconds"), int | float)
        and (document.get("scale"), document.get("seed", seed), bool(document.get("tiny"))) == (scale, seed, tiny)
    ]
    return max(recorded, default=None)


def reproduce_all(
    selected: Sequence[Entry],
    out_dir: Path,
    *,
    scale: str,
    seed: int = 0,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    tiny: bool = False,
    show_progress: bool = True,
    on_outcome: Callable[[Outcome], None] = lambda outcome: None,
    **reproduce_options: Any,
) -> list[Outcome]:
    """Reproduce every ``selected`` experiment into ``out_dir/<name>/`` (see the module docstring), with
    one progress bar over the set; ``overrides`` maps a name to its ``--set`` changes, ``tiny`` runs each
    experiment's smoke-run settings (``--tiny``), ``reproduce_options`` go to
    :func:`sgdnoise.experiments.reproduce`. The selection is added to ``out_dir/selection.json`` first.
    An exception inside an experiment is recorded and the next one starts; an interrupt stops the set, and so
    does another process working in ``out_dir`` or an experiment's directory (``DirectoryInUse``)."""
    from tqdm.auto import tqdm

    from sgdnoise import report
    from sgdnoise.experiments import reproduce
    from sgdnoise.results import DirectoryInUse, claimed_directory

    out_dir.mkdir(parents=True, exist_ok=True)
    with claimed_directory(out_dir):  # a second `reproduce all` into this directory is refused at once
        _record_selection(out_dir, selected, scale, seed, tiny)
        outcomes: list[Outcome] = []
        bar = tqdm(
            total=len(selected),
            desc=f"reproduce all ({scale}{', tiny' if tiny else ''})",
            unit="exp",
            disable=not show_progress,
        )
        with bar:
            for entry in selected:
                bar.set_postfix_str(entry.name)
                target = out_dir / entry.name
                start = time.perf_counter()
                changes = (overrides or {}).get(entry.name, {})
                if is_complete(target, entry.name, scale, seed, changes, tiny):
                    outcome = Outcome(entry.name, "skipped", 0.0)
                else:
                    try:
                        reproduce(
                            entry.name, scale=scale, overrides=changes, tiny=tiny, out_dir=target, seed=seed,
                            show_progress=show_progress, **reproduce_options,
                        )  # fmt: skip
                    except DirectoryInUse:  # another process works in it: not this experiment's failure
                        raise
                    except Exception as error:  # recorded, and the next experiment starts
                        reason, seconds = f"{type(error).__name__}: {error}", time.perf_counter() - start
                        earlier, _ = recorded_wall_seconds(target, scale, seed, tiny) or (0.0, "")
                        record = _failure_record(entry.name, scale, seed, tiny, reason, earlier + seconds)
                        report.write_json_atomic(target / FAILURE_FILE, record)
                        outcome = Outcome(entry.name, "failed", seconds, reason)
                    else:  # reproduce removed any earlier failure.json
                        outcome = Outcome(entry.name, "ran", time.perf_counter() - start)
                outcomes.append(outcome)
                on_outcome(outcome)
                bar.update(1)
        return outcomes


def _failure_record(
    name: str, scale: str, seed: int, tiny: bool, reason: str, wall_seconds: float
) -> Mapping[str, Any]:
    return {
        "experiment": name,
        "scale": scale,
        "seed": seed,
        "tiny": tiny,
        "error": reason,
        "wall_seconds": round(wall_seconds, 3),  # every call's so far (``recorded_wall_seconds``)
        "traceback": traceback.format_exc(),
        "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
