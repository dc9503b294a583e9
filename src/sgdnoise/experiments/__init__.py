"""The reproduced experiments, one module per paper figure or table, and the runner behind
``sgdnoise reproduce``."""

from __future__ import annotations

import difflib
import importlib
import time
from pathlib import Path
from typing import Any

import torch

from sgdnoise.experiments.base import SCALES, Claim, Experiment, ExperimentResult, RunContext, check_scale
from sgdnoise.store import Store

# name -> module that defines it (imported on first use, so `sgdnoise list` stays fast)
_MODULES = {
    "smith-le-evidence": "sgdnoise.experiments.smith_le_evidence",
    "smith-le-gap": "sgdnoise.experiments.smith_le_gap",
    "smith-le-batch": "sgdnoise.experiments.smith_le_batch",
    "smith-le-scaling-lr": "sgdnoise.experiments.smith_le_scaling_lr",
    "smith-le-scaling-n": "sgdnoise.experiments.smith_le_scaling_n",
    "smith-le-scaling-momentum": "sgdnoise.experiments.smith_le_scaling_momentum",
    "smith-le-l2": "sgdnoise.experiments.smith_le_l2",
    "smith-le-gradient-noise": "sgdnoise.experiments.smith_le_gradient_noise",
}

__all__ = [
    "SCALES",
    "Claim",
    "Experiment",
    "ExperimentResult",
    "RunContext",
    "experiment_names",
    "get_experiment",
    "reproduce",
    "resolve_device",
]


class UnknownExperimentError(ValueError):
    """Raised for an experiment name that is not registered (the message suggests close names)."""


def experiment_names() -> list[str]:
    return list(_MODULES)


def get_experiment(name: str) -> Experiment:
    """The experiment registered under ``name``."""
    if name not in _MODULES:
        close = difflib.get_close_matches(name, _MODULES, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownExperimentError(
            f"unknown experiment {name!r}.{hint} Known: {', '.join(_MODULES)} (see `sgdnoise list`)."
        )
    module = importlib.import_module(_MODULES[name])
    return module.EXPERIMENT


def resolve_device(device: str) -> torch.device:
    """``auto`` picks cuda when present, else cpu; anything else must name an available device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"invalid device {device!r}: {error}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
    return resolved


def reproduce(
    name: str,
    *,
    scale: str = "quick",
    out_dir: str | Path | None = None,
    seed: int = 0,
    device: str = "auto",
    show_progress: bool = True,
) -> dict[str, Any]:
    """Run one experiment end to end and write its outputs; returns the summary document.

    Writes ``out_dir`` (default ``runs/NAME``): ``store.sqlite`` (every finished run, so running the
    same command again resumes and recomputes nothing), ``summary.json``, ``figures/*.png`` and
    ``report.html``.
    """
    from sgdnoise import report

    experiment = get_experiment(name)
    check_scale(scale)
    out = Path(out_dir) if out_dir is not None else Path("runs") / name
    out.mkdir(parents=True, exist_ok=True)
    resolved = resolve_device(device)
    start = time.perf_counter()
    with Store(out / "store.sqlite") as store:
        ctx = RunContext(scale=scale, seed=seed, out_dir=out, store=store, device=resolved, show_progress=show_progress)
        result = experiment.run(ctx)
    summary = report.build_summary(
        experiment=name,
        title=experiment.title,
        paper=experiment.paper,
        scale=scale,
        seed=seed,
        device=str(resolved),
        wall_seconds=time.perf_counter() - start,
        claims=result.claims,
        data=result.data,
        settings=result.settings,
    )
    report.write_json_atomic(out / report.SUMMARY_FILE, summary)
    render(out, summary)
    return summary


def render(out_dir: Path, summary: dict[str, Any]) -> list[Path]:
    """(Re)draw an output directory's figures and HTML page from its summary."""
    from sgdnoise import report

    experiment = get_experiment(summary["experiment"])
    figures = experiment.plot(summary["data"], Path(out_dir) / report.FIGURES_DIR)
    report.write_html(Path(out_dir), summary, figures)
    return figures
