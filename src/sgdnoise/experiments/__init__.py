"""The reproduced experiments and the runner behind ``sgdnoise reproduce``.

Each experiment module declares one ``EXPERIMENT`` (:class:`.base.Experiment`); :mod:`.registry` finds
them. ``reproduce(name, scale=, overrides=, tiny=)`` runs one end to end; ``overrides`` (the CLI's
``--set KEY=VALUE``) change the declared spec for this call only (:mod:`.spec`), ``tiny`` (``--tiny``) starts
from the experiment's smoke-run settings (:func:`configured_spec`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sgdnoise.experiments.registry import (
    SCALES,
    UnknownExperimentError,
    check_scale,
    experiment_names,
    get_experiment,
)
from sgdnoise.experiments.spec import apply_overrides, overridden_values, spec_fields
from sgdnoise.validation import ensure_writable_directory, positive_int

if TYPE_CHECKING:
    from sgdnoise.experiments.base import Executor, RunContext

__all__ = [
    "SCALES",
    "UnknownExperimentError",
    "configured_spec",
    "experiment_names",
    "get_experiment",
    "render",
    "reproduce",
    "spec_fields",
]


def configured_spec(name: str, scale: str, overrides: Mapping[str, Any] | None = None, *, tiny: bool = False) -> Any:
    """The spec experiment ``name`` runs with at ``scale``: the declared one, changed by its tiny run's settings
    when ``tiny`` (``--tiny``), then by ``overrides`` (``--set``; see :func:`.spec.apply_overrides`)."""
    experiment = get_experiment(name)
    spec = experiment.spec(check_scale(scale))
    if tiny:
        spec = apply_overrides(spec, experiment.tiny[scale], what=f"{name} ({scale}, --tiny)")
    return apply_overrides(spec, overrides or {}, what=f"{name} ({scale}{', --tiny' if tiny else ''})")


def reproduce(
    name: str,
    *,
    scale: str = "quick",
    overrides: Mapping[str, Any] | None = None,
    tiny: bool = False,
    out_dir: str | Path | None = None,
    seed: int = 0,
    device: str = "auto",
    executor: Executor = "auto",
    ray_address: str | None = None,
    show_progress: bool = True,
    datasets: Mapping[str, str | Path] | None = None,
    verify_data: bool = True,
    max_group_size: int | None = None,
) -> dict[str, Any]:
    """Run one experiment end to end and write its outputs; returns the summary document.

    Writes ``out_dir`` (default ``runs/NAME``): ``store.sqlite`` (every finished run, so running the
    same command again resumes and recomputes nothing), ``summary.json``, ``figures/*.png`` and
    ``report.html``. ``overrides`` maps spec fields to new values (strings are parsed by the field's
    type, as ``--set`` does; ``summary.json`` records the parsed values); the declared specs are never
    modified. ``tiny``: start from the experiment's smoke-run settings (seconds, stand-in data; the summary
    says so and its verdicts say nothing about the papers). ``datasets`` maps a dataset name (``mnist``,
    ``fashion_mnist``, ``cifar10``) to the user's files for it, checked against the canonical checksums
    unless ``verify_data`` is False; ``summary.json`` records both under ``datasets``.
    ``max_group_size`` caps how many runs train together in one group (None: the engine's layout rule; 1:
    every run alone). When every run failed, or runs failed and the experiment then raised, the error is a
    ``RunsFailedError`` naming how many failed and the first one's error.
    """
    from sgdnoise import report
    from sgdnoise.data import user_data
    from sgdnoise.experiments.base import RunContext
    from sgdnoise.experiments.suite import FAILURE_FILE, recorded_wall_seconds
    from sgdnoise.results import claimed_directory
    from sgdnoise.runtime import resolve_device
    from sgdnoise.store import Store
    from sgdnoise.sweep.executors import check_ray_address

    experiment = get_experiment(name)
    spec = configured_spec(name, scale, overrides, tiny=tiny)
    out = Path(out_dir) if out_dir is not None else Path("runs") / name
    resolved = resolve_device(device)
    if executor == "ray" and ray_address is not None:
        check_ray_address(ray_address)  # one line in seconds, before the output directory is made
    ensure_writable_directory(out)
    with claimed_directory(out):  # one process at a time: a second one is refused at once
        _check_same_experiment(out, name)
        _check_same_data(out, {} if verify_data else {key: str(path) for key, path in (datasets or {}).items()})
        earlier = recorded_wall_seconds(out, scale, seed, tiny)
        start = time.perf_counter()
        given_data = user_data(datasets, verify_data) if datasets else contextlib.nullcontext()
        with given_data, Store(out / "store.sqlite") as store:
            ctx = RunContext(
                scale=scale,
                seed=seed,
                out_dir=out,
                store=store,
                device=resolved,
                executor=executor,
                ray_address=ray_address,
                show_progress=show_progress,
                max_group_size=positive_int("max_group_size", max_group_size, optional=True),
            )
            try:
                data = experiment.run(spec, ctx)
            except Exception as error:  # named after the failed runs behind it, if any
                failure = ctx.runs_failed(error)
                if failure is None:
                    raise
                raise failure from error
            if (failure := ctx.runs_failed()) is not None:  # every run failed: nothing to report
                raise failure
        wall_seconds, covers = _wall_time(time.perf_counter() - start, earlier, ctx)
        summary = report.build_summary(
            experiment=name,
            title=experiment.title,
            paper=experiment.paper,
            scale=scale,
            tiny=tiny,
            seed=seed,
            device=str(resolved),
            wall_seconds=wall_seconds,
            wall_seconds_covers=covers,
            claims=experiment.check(data),
            data=data,
            settings=experiment.settings(spec),
            overrides=overridden_values(spec, overrides or {}),
            datasets={name: {"path": str(path), "verified": verify_data} for name, path in (datasets or {}).items()},
        )
        report.write_json_atomic(out / report.SUMMARY_FILE, summary)
        render(out, summary)
        (out / FAILURE_FILE).unlink(missing_ok=True)  # an earlier call's failure, now made good
        return summary


def _wall_time(this_call: float, earlier: tuple[float, str] | None, ctx: RunContext) -> tuple[float, str]:
    """The experiment's wall time so far and what it covers: this call's, plus the earlier calls' as the
    directory's last summary.json or failure.json recorded them, or, when neither exists (the earlier calls
    were killed), the training seconds the store recorded for the runs this call found done."""
    if earlier is None:
        found = [run.seconds for key, run in ctx.swept.items() if key not in ctx.trained]
        seconds = sum(found)
        source = f"the training time the store recorded for the {len(found)} runs this call found done"
        earlier = (seconds, source) if found else None
    if earlier is None:
        return this_call, "this call"
    seconds, source = earlier
    return this_call + seconds, f"this call ({this_call:.1f} s) and the earlier ones ({seconds:.1f} s: {source})"


DATA_FILE = "unverified-data.json"


def _check_same_experiment(out: Path, name: str) -> None:
    """Refuse a directory whose summary.json is another experiment's: its report, figures and wall time would
    mix with this one's."""
    from sgdnoise import report

    try:
        other = report.read_summary(out).get("experiment")
    except (ValueError, FileNotFoundError):
        return
    if other != name:
        raise ValueError(
            f"{out} holds the results of {other} (its summary.json), not {name}: give --out another directory"
        )


def _check_same_data(out: Path, unverified: Mapping[str, str]) -> None:
    """The store keys runs by their settings, not by the data's content: refuse to train on the user's
    unverified files in a directory whose runs came from other data, or the other way round (every
    verified dataset is the canonical one, so only unverified files are told apart, by their path)."""
    import json

    from sgdnoise import report

    marker = out / DATA_FILE
    previous = json.loads(marker.read_text()) if marker.is_file() else {}
    if previous == dict(unverified):
        return
    if (out / "store.sqlite").exists():

        def described(files: Mapping[str, str]) -> str:
            return ", ".join(f"unverified {key} from {path}" for key, path in files.items()) or "canonical data"

        raise ValueError(
            f"{out} holds runs trained on {described(previous)}, not on {described(unverified)}; runs are stored "
            "by their settings, not their data, so give this data another --out"
        )
    if unverified:
        report.write_json_atomic(marker, dict(unverified))
    else:
        marker.unlink(missing_ok=True)


def render(out_dir: str | Path, summary: Mapping[str, Any]) -> list[Path]:
    """(Re)draw an output directory's figures and HTML page from its summary."""
    from sgdnoise import report

    experiment = get_experiment(summary["experiment"])
    try:
        figures = experiment.draw(summary["data"], Path(out_dir) / report.FIGURES_DIR)
    except ValueError as error:
        raise ValueError(
            f"{Path(out_dir) / report.SUMMARY_FILE}: {error}; re-run `sgdnoise reproduce {experiment.name} "
            f"--out {out_dir}`"
        ) from None
    report.write_html(Path(out_dir), summary, figures)
    return list(figures)
