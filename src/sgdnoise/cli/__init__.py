"""The ``sgdnoise`` command: a thin layer over :mod:`sgdnoise.experiments` and :mod:`sgdnoise.theory`."""

from __future__ import annotations

import functools
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from sgdnoise.cli.user_code import UserCodeError, function_identity, load_function, user_frame
from sgdnoise.experiments.base import FigureError
from sgdnoise.experiments.registry import SCALES, entries

EXECUTOR_CHOICES = ("auto", "inline", "processes", "ray")
DEVICE_HELP = "auto (cuda if present, else cpu), cpu, cuda, cuda:N, or another accelerator torch has here (mps, xpu)."


def _user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user mistakes into one clear line and exit code 2, an error in the user's own code into one line
    and exit code 1; an interrupt into a resume hint."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        main = threading.current_thread() is threading.main_thread()  # handlers are set in the main thread only
        terminate = signal.signal(signal.SIGTERM, _interrupt) if main else None  # SIGTERM (kill, a scheduler) as ^C
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
        except FigureError as error:
            if click.get_current_context().find_root().params.get("debug"):
                raise
            click.echo(f"Bug: {error}", err=True)
            sys.exit(1)
        except UserCodeError as error:
            if click.get_current_context().find_root().params.get("debug"):
                raise
            click.echo(
                f"Error in your code: {error} (sgdnoise --debug {click.get_current_context().info_name} ... "
                "shows the traceback)",
                err=True,
            )
            sys.exit(1)
        finally:
            if main:
                signal.signal(signal.SIGTERM, terminate if terminate is not None else signal.SIG_DFL)

    return wrapper


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class _Directory(click.Path):
    """A directory path that may not be empty (click's Path takes "" as the current directory)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("an empty path; give a directory (use . for the current one)", param, ctx)
        return super().convert(value, param, ctx)


DIRECTORY = _Directory(file_okay=False, path_type=Path)


def _first_choice_default(flag: str, choices: tuple[str, ...], help_text: str) -> Callable[..., Any]:
    """A ``--flag`` option restricted to ``choices``, defaulting to the first."""
    return click.option(flag, type=click.Choice(choices), default=choices[0], show_default=True, help=help_text)


def _out_option(default: str, help_text: str) -> Callable[..., Any]:
    """An ``--out DIR`` option (as ``out_dir``) with a default directory."""
    return click.option(
        "--out",
        "out_dir",
        type=DIRECTORY,
        default=Path(default),
        show_default=True,
        help=help_text,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="sgdnoise")
def main(debug: bool) -> None:
    """Measure, predict and exploit the effect of SGD noise on generalization."""


@main.command("list")
def list_experiments() -> None:
    """List the reproducible experiments."""
    for entry in entries():
        click.echo(f"{entry.name:32s} {entry.description}")


@main.command()
@click.argument("name")
@_first_choice_default(
    "--scale",
    SCALES,
    "quick: minutes on a 2-core CPU (smaller models, data and budgets); paper: the paper's set-up where "
    "the paper states it, recorded choices elsewhere.",
)
@click.option(
    "--out",
    "out_dir",
    type=DIRECTORY,
    default=None,
    help="Output directory [default: runs/NAME].",
)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="Base random seed.")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="KEY=VALUE",
    help="Change one setting of the experiment's spec (repeatable), e.g. --set seeds=5.",
)
@_first_choice_default("--executor", EXECUTOR_CHOICES, "Where sweeps run: this process, a local process pool, or Ray.")
@click.option(
    "--address",
    "ray_address",
    default=None,
    metavar="HOST:PORT",
    help="With --executor ray: the Ray cluster's address [default: $RAY_ADDRESS, a cluster on this machine, "
    "else a local Ray].",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "--tiny",
    is_flag=True,
    help="A smoke run of seconds on stand-in data (the conformance suite's settings): checks an installation; "
    "its verdicts say nothing about the papers.",
)
@click.option(
    "--data",
    "data_items",
    multiple=True,
    metavar="[NAME=]PATH",
    help="Your dataset files (repeatable): a CIFAR-10 archive or folder, or a directory of MNIST / Fashion-MNIST "
    "IDX files; checked against the canonical checksums. NAME (mnist, fashion-mnist, cifar10) is needed only for "
    "non-canonical IDX files.",
)
@click.option("--no-verify", is_flag=True, help="Accept --data files whose content is not canonical (recorded).")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan (runs, groups, steps, examples, FLOPs) and a time estimate from a few updates of each "
    "kind of engine group timed on --device; train nothing.",
)
@click.option("--only", multiple=True, metavar="NAME|PAPER", help="With `all`: only these experiments or papers.")
@click.option("--skip", multiple=True, metavar="NAME|PAPER", help="With `all`: leave out these experiments or papers.")
@_user_errors
def reproduce(
    name: str,
    scale: str,
    out_dir: Path | None,
    seed: int,
    device: str,
    assignments: tuple[str, ...],
    executor: str,
    ray_address: str | None,
    quiet: bool,
    tiny: bool,
    data_items: tuple[str, ...],
    no_verify: bool,
    dry_run: bool,
    only: tuple[str, ...],
    skip: tuple[str, ...],
) -> None:
    """Reproduce experiment NAME (or all) and check its claims.

    Writes summary.json, figures and report.html (and, for `all`, scoreboard.json and scoreboard.html over
    every experiment).

    Running the same command again resumes: finished runs are read from the store, not recomputed, and
    `reproduce all` skips the experiments that are complete.
    `sgdnoise reproduce NAME --set help` lists the settings --set can change.
    """
    from sgdnoise.results import refuse_if_in_use

    if not dry_run and assignments != ("help",):  # one line within a second, before the slow imports
        refuse_if_in_use(out_dir or Path("runs") / (name if name != "all" else ""))

    from sgdnoise import experiments, report
    from sgdnoise.data import downloads_off, user_data
    from sgdnoise.data.errors import DatasetNotFoundError
    from sgdnoise.experiments.datasets import assign_user_data, needed_datasets
    from sgdnoise.experiments.plan import plan_experiment, plan_lines, suite_lines
    from sgdnoise.experiments.spec import parse_assignments
    from sgdnoise.experiments.suite import select
    from sgdnoise.runtime import resolve_device
    from sgdnoise.sweep.executors import check_ray_address, ray_address_form
    from sgdnoise.validation import ensure_writable_directory

    if ray_address is not None and executor != "ray":
        raise ValueError(f"--address is for --executor ray, not --executor {executor}")
    if no_verify and not data_items:
        raise ValueError("--no-verify applies to the files given with --data")
    if name == "all":
        if assignments:
            raise ValueError("--set changes one experiment's spec; use it with `reproduce NAME`, not `reproduce all`")
        selected = [entry.name for entry in select(only, skip)]
        if not selected:
            raise ValueError("--only/--skip leave no experiment to run")
        overrides = {}
    else:
        if only or skip:
            raise ValueError("--only and --skip choose among experiments: use them with `reproduce all`")
        if assignments == ("help",):
            _print_settings(name, scale, tiny)
            return
        selected = [name]
        overrides = {name: parse_assignments(assignments)}
    specs = {n: experiments.configured_spec(n, scale, overrides.get(n), tiny=tiny) for n in selected}
    datasets = assign_user_data(data_items, {n: needed_datasets(spec) for n, spec in specs.items()}, not no_verify)
    resolved = resolve_device(device)  # a bad device is one line before anything starts
    if ray_address is not None and name == "all" and not dry_run:  # `reproduce NAME` checks it itself
        check_ray_address(ray_address)  # one line, not a failure.json per experiment
    if ray_address is not None and dry_run:
        ray_address_form(ray_address)  # its form only: a plan needs no cluster
    out_root = out_dir or Path("runs") / (name if name != "all" else "")
    if dry_run:
        plans, unplanned = [], []
        no_download = "not attempted: a --dry-run downloads nothing; run without --dry-run to download it"
        with user_data(datasets, not no_verify), downloads_off(no_download):
            for n, spec in specs.items():
                target = out_root / n if name == "all" else out_root
                try:
                    plan = plan_experiment(
                        n, spec, scale=scale, device=resolved, out_dir=target, seed=seed, executor=executor
                    )
                except DatasetNotFoundError as error:
                    if name != "all":
                        raise
                    # the rest of the set is still planned; the line says what is missing, the total says who
                    click.echo(f"plan of {n} at scale {scale}: not planned: {str(error).split('. ')[0]} (--data PATH)")
                    unplanned.append(n)
                    continue
                plans.append(plan)
                click.echo("\n".join(plan_lines(plan)))
        if name == "all":
            click.echo("\n" + "\n".join(suite_lines(plans, unplanned)))
        return
    options = {
        "seed": seed,
        "device": device,
        "executor": executor,
        "ray_address": ray_address,
        "datasets": datasets,
        "verify_data": not no_verify,
    }
    if name == "all":
        ensure_writable_directory(out_root)  # one line here, not a failure.json that cannot be written either
        _reproduce_all(scale, out_root, selected, quiet, options | {"tiny": tiny})
        return
    summary = experiments.reproduce(
        name, scale=scale, overrides=overrides[name], tiny=tiny, out_dir=out_root, show_progress=not quiet, **options
    )
    report.print_claims(summary)
    click.echo(
        f"\nwrote {out_root / report.SUMMARY_FILE}, {out_root / report.FIGURES_DIR}/, {out_root / report.REPORT_FILE}"
    )


def _print_settings(name: str, scale: str, tiny: bool) -> None:
    """``reproduce NAME --set help``: the spec's fields, their values (with ``--tiny``, the tiny run's) and types."""
    from sgdnoise import experiments
    from sgdnoise.experiments.spec import describe_type

    spec = experiments.configured_spec(name, scale, tiny=tiny)
    click.echo(f"settings of {name} at scale={scale}{' with --tiny' if tiny else ''} (change with --set KEY=VALUE):")
    for key, annotation in experiments.spec_fields(spec).items():
        click.echo(f"  {key:28s} {getattr(spec, key)!r}  ({describe_type(annotation)})")


def _reproduce_all(scale: str, out_root: Path, selected: list[str], quiet: bool, options: dict[str, Any]) -> None:
    """``reproduce all``: every selected experiment into OUT/<name>/, then the scoreboard."""
    from tqdm.auto import tqdm

    from sgdnoise import scoreboard
    from sgdnoise.experiments.registry import entry
    from sgdnoise.experiments.suite import reproduce_all

    def say(outcome: Any) -> None:
        detail = f": {outcome.error}" if outcome.error else f" ({outcome.seconds:.0f} s)" if outcome.seconds else ""
        tqdm.write(f"{outcome.status:8s} {outcome.name}{detail}")

    outcomes = reproduce_all(
        [entry(n) for n in selected],
        out_root,
        scale=scale,
        show_progress=not quiet,
        on_outcome=say,
        **options,
    )
    document = scoreboard.write(out_root)  # the whole root's selection, not only this call's
    click.echo(f"\n{scoreboard.totals_line(document['totals']['overall'])}")
    for paper, counts in document["totals"]["by_paper"].items():
        click.echo(f"  {paper:24s} {scoreboard.totals_line(counts)}")
    click.echo(f"wrote {out_root / scoreboard.SCOREBOARD_HTML} and {out_root / scoreboard.SCOREBOARD_JSON}")
    failed = [o.name for o in outcomes if o.status == "failed"]
    if failed:
        click.echo(f"{len(failed)} experiment(s) failed (see their failure.json): {', '.join(failed)}", err=True)
        sys.exit(1)


@main.command("scoreboard")
@click.argument("out_dir", type=DIRECTORY)
@_user_errors
def scoreboard_command(out_dir: Path) -> None:
    """Rebuild the scoreboard of a `reproduce all` directory.

    Writes scoreboard.json and scoreboard.html from the experiments' outputs.
    """
    from sgdnoise import report, scoreboard
    from sgdnoise.experiments.suite import stray_directories

    document = scoreboard.write(out_dir)
    for stray in stray_directories(out_dir):
        click.echo(f"left out: {stray} holds a {report.SUMMARY_FILE} but is named after no experiment")
    click.echo(scoreboard.totals_line(document["totals"]["overall"]))
    click.echo(f"wrote {out_dir / scoreboard.SCOREBOARD_HTML} and {out_dir / scoreboard.SCOREBOARD_JSON}")


@main.command("report")
@click.argument("out_dir", type=DIRECTORY)
@_user_errors
def report_command(out_dir: Path) -> None:
    """Redraw an output directory's figures and HTML page.

    Reads the directory's summary.json.
    """
    from sgdnoise import experiments, report, scoreboard

    if hint := scoreboard.suite_report_hint(out_dir):
        raise FileNotFoundError(hint)
    summary = report.read_summary(out_dir)
    figures = experiments.render(out_dir, summary)
    report.print_claims(summary)
    click.echo(f"\nwrote {len(figures)} figures and {out_dir / report.REPORT_FILE}")


_QUANTITIES = ("lr", "batch_size", "momentum", "train_size")


@main.command()
@click.option("--lr", type=float, required=True, help="Reference learning rate ε.")
@click.option("--batch-size", type=float, required=True, help="Reference batch size B.")
@click.option("--train-size", type=float, required=True, help="Training-set size N.")
@click.option("--momentum", type=float, default=0.0, show_default=True, help="Reference momentum m.")
@click.option(
    "--solve-for",
    type=click.Choice((*_QUANTITIES, "batch-size", "train-size")),  # spelled as the flags are, too
    required=True,
    help="The quantity to solve for.",
)
@click.option("--new-lr", type=float, default=None, help="Changed learning rate.")
@click.option("--new-batch-size", type=float, default=None, help="Changed batch size.")
@click.option("--new-momentum", type=float, default=None, help="Changed momentum.")
@click.option("--new-train-size", type=float, default=None, help="Changed training-set size.")
@click.option(
    "--rule",
    type=click.Choice(["noise_scale", "noise_scale_approx", "temperature"]),
    default="noise_scale",
    show_default=True,
    help="What stays fixed: g = ε(N/B−1)/(1−m), εN/(B(1−m)), or T = ε/(B(1−m)).",
)
@_user_errors
def scale(
    lr: float,
    batch_size: float,
    train_size: float,
    momentum: float,
    solve_for: str,
    new_lr: float | None,
    new_batch_size: float | None,
    new_momentum: float | None,
    new_train_size: float | None,
    rule: str,
) -> None:
    """The equivalent SGD setting after changing ε, B, m or N.

    Smith & Le 2018 §5, App. D; Smith et al. 2020: give at least one --new-* value.

    Example: sgdnoise scale --lr 0.1 --batch-size 128 --momentum 0.9 --train-size 50000
    --new-batch-size 1024 --solve-for lr
    """
    import numpy as np

    from sgdnoise import theory

    solve_for = solve_for.replace("-", "_")
    new = {"lr": new_lr, "batch_size": new_batch_size, "momentum": new_momentum, "train_size": new_train_size}
    if set(new.values()) == {None}:
        raise ValueError(
            "nothing changed: give at least one of --new-lr, --new-batch-size, --new-momentum, --new-train-size"
        )
    if new[solve_for] is not None:
        flag = solve_for.replace("_", "-")
        raise ValueError(f"--solve-for {solve_for} asks for the new {flag}: do not give --new-{flag} too")
    reference = theory.SGDConfig(lr=lr, batch_size=batch_size, train_size=train_size, momentum=momentum)
    with np.errstate(over="ignore"):  # an overflow gives inf, which the solution's own check refuses in one line
        solved = theory.equivalent_config(
            reference,
            solve_for,
            lr=new_lr,
            batch_size=new_batch_size,
            momentum=new_momentum,
            train_size=new_train_size,
            rule=rule,
        )
    click.echo(f"{'':10s} {'reference':>12s} {'equivalent':>12s}")
    for name in _QUANTITIES:
        mark = "  <- solved" if name == solve_for else ""
        click.echo(f"{name:10s} {getattr(reference, name):12.6g} {getattr(solved, name):12.6g}{mark}")
    for name, label in (("noise_scale", "g"), ("temperature", "T")):
        click.echo(f"{label:10s} {getattr(reference, name):12.6g} {getattr(solved, name):12.6g}")


_DEFAULT_TUNE_GRID = "16,32,64,128,256"


@main.command("tune")
@click.argument("function")
@click.option("--train-size", type=int, required=True, help="N, the number of training examples.")
@_out_option("tuning", "Directory of tuning.sqlite (every trial; resumable), tuning.json and tuning.png.")
@click.option("--batch-sizes", default=_DEFAULT_TUNE_GRID, show_default=True, help="Step 1's logarithmic grid.")
@click.option("--lr", type=float, default=0.1, show_default=True, help="Step 1's learning rate.")
@click.option("--momentum", type=float, default=0.9, show_default=True, help="Step 1's momentum.")
@click.option("--max-batch-size", type=int, default=None, help="The hardware limit on B (default N).")
@click.option("--tolerance", type=float, default=0.0, show_default=True, help="A fall: this far below the best.")
@_user_errors
def tune(
    function: str,
    train_size: int,
    out_dir: Path,
    batch_sizes: str,
    lr: float,
    momentum: float,
    max_batch_size: int | None,
    tolerance: float,
) -> None:
    """Large-batch tuning of a training function (Smith & Le 2018).

    The three steps of Smith & Le 2018, App. E, on FUNCTION = MODULE:NAME, a function
    train_and_evaluate(lr, batch_size, momentum) -> validation accuracy (NaN: unstable).

    Running the same command again resumes: finished trials are read from tuning.sqlite.
    """
    from sgdnoise import report, tuning
    from sgdnoise.validation import ensure_writable_directory, momentum_coefficient, positive_int, positive_number

    grid = _batch_sizes(batch_sizes)
    # a bad flag is one line naming the flag, before the user's code loads (tune_large_batch checks them again,
    # by their Python names, for Python callers)
    positive_int("--train-size", train_size, minimum=2)
    for size in grid:
        positive_int("--batch-sizes", size)
    positive_number("--lr", lr)
    momentum_coefficient("--momentum", momentum)
    if max_batch_size is not None:
        positive_int("--max-batch-size", max_batch_size)
    limits = [(train_size, "--train-size")] + [(max_batch_size, "--max-batch-size")] * (max_batch_size is not None)
    limit, bound = min(limits)
    if max(grid) > limit:
        default = " (the default grid reaches 256)" if batch_sizes == _DEFAULT_TUNE_GRID else ""
        raise ValueError(f"--batch-sizes holds {max(grid)}, above {bound} {limit}{default}: give a grid within it")
    tuning.accuracy_tolerance("--tolerance", tolerance)
    ensure_writable_directory(out_dir)
    fn = load_function(
        function,
        ("lr", "batch_size", "momentum"),
        kept=f"; the trials finished before it are kept in {out_dir / 'tuning.sqlite'}, and the same command resumes",
    )
    result = tuning.tune_large_batch(
        fn,
        train_size,
        out_dir / "tuning.sqlite",
        batch_sizes=grid,
        lr=lr,
        momentum=momentum,
        max_batch_size=max_batch_size,
        tolerance=tolerance,
        identity=function_identity(function),
    )
    click.echo(f"{'step':24s} {'lr':>9s} {'B':>7s} {'m':>8s} {'accuracy':>9s} {'updates/epoch':>14s}")
    for t in result.trail:
        accuracy = "unstable" if t.accuracy is None else f"{t.accuracy:.4f}"
        click.echo(
            f"{t.step:24s} {t.lr:9.4g} {t.batch_size:7d} {t.momentum:8.5g} {accuracy:>9s} {t.updates_per_epoch:14.4g}"
        )
    start = result.initial
    click.echo(
        f"recommendation: lr={result.lr:.4g}, batch_size={result.batch_size}, momentum={result.momentum:.5g}, "
        f"accuracy {result.accuracy:.4f} (initial optimum B={start.batch_size}: {start.accuracy:.4f}; "
        f"{result.batch_size / start.batch_size:.3g}× the batch size, "
        f"{start.batch_size / result.batch_size:.3g}× the updates per epoch)"
    )
    report.write_json_atomic(out_dir / "tuning.json", result.to_dict())
    tuning.plot_tuning(result, out_dir / "tuning.png")
    click.echo(f"wrote {out_dir / 'tuning.json'} and {out_dir / 'tuning.png'}")


def _batch_sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(b) for b in text.split(","))
    except ValueError:
        raise ValueError(f"--batch-sizes must be integers separated by commas, got {text!r}") from None


@main.command("advise")
@click.argument("function")
@click.option("--budget-epochs", type=float, default=None, help="The training budget in epochs.")
@click.option("--budget-steps", type=int, default=None, help="The training budget in updates (instead of epochs).")
@click.option("--momentum", type=float, default=0.9, show_default=True, help="The momentum m you will train with.")
@click.option(
    "--batch-sizes", default=None, help="Candidate batch sizes, e.g. 16,32,64 [default: powers of 2 from 16]."
)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="Seed of the pilot.")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@_out_option("advice", "Directory of advice.json and advice.png.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_user_errors
def advise(
    function: str,
    budget_epochs: float | None,
    budget_steps: int | None,
    momentum: float,
    batch_sizes: str | None,
    seed: int,
    device: str,
    out_dir: Path,
    quiet: bool,
) -> None:
    """Recommend a batch size and learning rate from a cheap pilot.

    Predicts the best learning rate at every batch size, the critical batch size B* and the (B, ε, m) to
    use, from a pilot of a few % of a sweep's cost (Smith, Elsen & De 2020; ``sgdnoise.advisor``).

    FUNCTION = MODULE:NAME returns the problem: an ``advisor.Problem`` or a dict with model_factory (a
    callable returning a fresh nn.Module), loss_fn (mean over the batch), train and validation ((x, y)
    tensors) and optionally objective ("accuracy" or "loss").
    """
    from sgdnoise import advisor, report
    from sgdnoise.runtime import resolve_device
    from sgdnoise.validation import ensure_writable_directory, momentum_coefficient, positive_int, positive_number

    # a bad flag, --device or --out is one line before the user's code runs
    if (budget_epochs is None) == (budget_steps is None):
        raise ValueError("give exactly one budget: --budget-epochs or --budget-steps")
    if budget_epochs is not None:
        positive_number("--budget-epochs", budget_epochs)
    else:
        positive_int("--budget-steps", budget_steps)
    momentum_coefficient("--momentum", momentum)
    candidates = None if batch_sizes is None else _batch_sizes(batch_sizes)
    resolved = resolve_device(device)
    ensure_writable_directory(out_dir)
    try:
        problem = advisor.Problem.coerce(load_function(function, ())())
    except TypeError as error:  # a wrong type in the user's problem: one line, like a ValueError
        raise ValueError(str(error)) from error
    try:
        advice = advisor.advise_problem(
            problem,
            budget_epochs=budget_epochs,
            budget_steps=budget_steps,
            momentum=momentum,
            candidate_batch_sizes=candidates,
            seed=seed,
            device=resolved,
            show_progress=not quiet,
        )
    except KeyboardInterrupt:
        click.echo("\ninterrupted: the pilot keeps no partial results; the same command starts it over.", err=True)
        sys.exit(130)
    except Exception as error:  # raised through the user's model, factory or loss: say where, not our traceback
        where = user_frame(error)
        if where is None:
            raise
        raise UserCodeError(f"{where} raised {type(error).__name__}: {error}") from error
    click.echo("\n".join(advice.lines()))
    report.write_json_atomic(out_dir / "advice.json", advice.to_dict())
    advisor.plot_advice(advice, out_dir / "advice.png")
    click.echo(f"wrote {out_dir / 'advice.json'} and {out_dir / 'advice.png'}")
