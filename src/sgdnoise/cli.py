"""The ``sgdnoise`` command: a thin layer over :mod:`sgdnoise.experiments` and :mod:`sgdnoise.theory`."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from sgdnoise.experiments.base import SCALES


def _user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user mistakes into one clear line and exit code 2; an interrupt into a resume hint."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            click.echo("\ninterrupted: finished runs are saved; run the same command again to resume.", err=True)
            sys.exit(130)
        except (ValueError, FileNotFoundError) as error:
            if click.get_current_context().find_root().params.get("debug"):
                raise
            click.echo(f"Error: {error}", err=True)
            sys.exit(2)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="sgdnoise")
def main(debug: bool) -> None:
    """Measure, predict and exploit the effect of SGD noise on generalization."""


@main.command("list")
def list_experiments() -> None:
    """List the reproducible experiments."""
    from sgdnoise.experiments import experiment_names, get_experiment

    for name in experiment_names():
        experiment = get_experiment(name)
        click.echo(f"{name:32s} {experiment.description}")


@main.command()
@click.argument("name")
@click.option(
    "--scale",
    type=click.Choice(SCALES),
    default="quick",
    show_default=True,
    help="quick: minutes on a 2-core CPU; paper: the paper's settings.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output directory [default: runs/NAME].",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Base random seed.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@_user_errors
def reproduce(name: str, scale: str, out_dir: Path | None, seed: int, device: str, quiet: bool) -> None:
    """Reproduce experiment NAME, check the paper's claims, write summary.json, figures and report.html.

    Running the same command again resumes: finished runs are read from the store, not recomputed.
    """
    from sgdnoise import experiments, report

    summary = experiments.reproduce(
        name, scale=scale, out_dir=out_dir, seed=seed, device=device, show_progress=not quiet
    )
    report.print_claims(summary)
    out = out_dir or Path("runs") / name
    click.echo(f"\nwrote {out / report.SUMMARY_FILE}, {out / report.FIGURES_DIR}/, {out / report.REPORT_FILE}")


@main.command("report")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@_user_errors
def report_command(out_dir: Path) -> None:
    """Redraw the figures and HTML page of an output directory from its summary.json."""
    from sgdnoise import experiments, report

    summary = report.read_summary(out_dir)
    figures = experiments.render(out_dir, summary)
    report.print_claims(summary)
    click.echo(f"\nwrote {len(figures)} figures and {out_dir / report.REPORT_FILE}")
