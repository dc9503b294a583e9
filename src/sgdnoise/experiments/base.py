"""What every reproduced experiment is, declared as data: a spec per scale, a run that takes a spec,
fills the store and returns the numbers behind its figures, the claims checked on those numbers, and
the figures drawn from them alone (so ``sgdnoise report DIR`` can redraw them from ``summary.json``).

An experiment module declares one module-level ``EXPERIMENT = Experiment(name=..., description=..., ...)``
with ``name`` and ``description`` written as string literals: the registry reads them without importing
the module. Nothing here holds mutable state: a changed spec is passed in, never written into a module.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sgdnoise.experiments.claims import ClaimSpec, claim_set, evaluate_claims
from sgdnoise.experiments.registry import SCALES, check_scale
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.results import Claim

if TYPE_CHECKING:
    import torch
    from tqdm.auto import tqdm

    from sgdnoise.store import Store
    from sgdnoise.sweep import Sweep, SweptRun

Executor = Literal["auto", "inline", "processes", "ray"]


class RunsFailedError(RuntimeError, ValueError):
    """Runs of an experiment failed (the store keeps each one's error), and it could not report without them.
    A ValueError too, so that the command line shows it as one line."""


@dataclass
class RunContext:
    """Where and how an experiment runs: scale, base seed, output directory, store, device, the sweep
    executor (and the Ray cluster's address), whether progress bars are shown, and ``max_group_size`` (at most
    this many runs trained together in one group; None: the engine's layout rule — results do not depend on
    it beyond float rounding, and forcing 1 shows which verdicts rounding can move). ``swept`` keeps every
    run its sweeps returned (by store key, the latest outcome) and ``trained`` the keys this call trained."""

    scale: str
    seed: int
    out_dir: Path
    store: Store
    device: torch.device
    executor: Executor = "auto"
    ray_address: str | None = None  # the Ray cluster when executor="ray" (None: Ray's default)
    show_progress: bool = True
    max_group_size: int | None = None
    swept: dict[str, SweptRun] = field(default_factory=dict, init=False, repr=False)
    trained: set[str] = field(default_factory=set, init=False, repr=False)

    def progress(self, total: int, desc: str) -> tqdm:
        """A progress bar that stays quiet when progress display is off (tests, --quiet)."""
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, disable=not self.show_progress, dynamic_ncols=True, leave=False)

    def sweep(self, sweep: Sweep, **engine: Any) -> list[SweptRun]:
        """``run_sweep`` of ``sweep`` into this context's store, on its executor, cluster and device, with
        its progress setting; ``engine`` passes further options (``dtype``, ``path``, ``threads``, …)."""
        from sgdnoise.sweep import run_sweep

        results = run_sweep(
            sweep,
            self.store,
            executor=self.executor,
            ray_address=self.ray_address,
            device=self.device,
            show_progress=self.show_progress,
            max_group_size=self.max_group_size,
            **engine,
        )
        self.swept.update((run.key, run) for run in results)
        self.trained.update(run.key for run in results if run.trained)
        return results

    def decided_by_results(self, stage: str) -> None:
        """Mark that what follows (``stage``, e.g. a sweep built from the runs' results) is decided by the results
        of the sweeps so far: nothing in a run, where planning (``--dry-run``) stops and says so when they are
        not trained yet."""

    def runs_failed(self, error: Exception | None = None) -> RunsFailedError | None:
        """The error to raise when runs failed and the experiment raised ``error`` (then named after the
        runs' first error, unless every run failed and ``error`` is only its consequence) or every run failed;
        else None."""
        failed = [run for run in self.swept.values() if run.status == "failed"]
        if not failed or (error is None and len(failed) < len(self.swept)):
            return None
        first = next((line for line in (failed[0].error or "").splitlines() if line.strip()), "no error recorded")
        then = f"; then: {error}" if error is not None and len(failed) < len(self.swept) else ""
        return RunsFailedError(
            f"{len(failed)} of {len(self.swept)} runs failed (the store keeps each one's error; the next run of this "
            f"command trains them again); the first: {first}{then}"
        )


class FigureError(RuntimeError):
    """Figure code raised on data that has what the figure declares it needs: a bug in the figure."""


@dataclass(frozen=True)
class Figure:
    """One figure or table of the paper as drawn here: ``name`` (what the report calls it), ``draw(data,
    fig_dir)`` returning the written file(s), and ``needs``, the TypedDict of the data it reads (its
    required keys are checked before drawing, so missing data is told apart from a bug)."""

    name: str
    draw: Callable[[Any, Path], Path | list[Path]]
    needs: type

    def __post_init__(self) -> None:
        if not callable(self.draw):
            raise TypeError(f"figure {self.name}: draw must be a function of (data, fig_dir), got {self.draw!r}")
        if getattr(self.needs, "__required_keys__", None) is None:
            raise TypeError(f"figure {self.name}: needs must be the TypedDict of the data it draws, got {self.needs!r}")

    @property
    def caption(self) -> str:
        """What the figure shows: its drawing function's docstring (a partial's function's), on one line."""
        draw = self.draw.func if isinstance(self.draw, functools.partial) else self.draw
        return " ".join((inspect.getdoc(draw) or self.name).replace("``", "").split())

    def missing(self, data: Mapping[str, Any]) -> list[str]:
        """The keys ``needs`` requires that ``data`` lacks."""
        return sorted(key for key in self.needs.__required_keys__ if key not in data)


@dataclass(frozen=True)
class Experiment:
    """A reproduced figure or table.

    - ``name``, ``description`` (one line for ``sgdnoise list``), ``title``, ``paper`` (where in which paper);
    - ``specs``: scale → frozen dataclass spec; ``tiny``: scale → ``--set`` overrides that make a run of
      seconds (the conformance suite's smoke run; stand-in data where the real data is large);
    - ``run(spec, ctx)``: fills ``ctx.store`` (resuming) and returns the figure data, a TypedDict;
    - ``claims``: the declared claims, checked on that data; ``figures``: drawn from it;
    - ``settings(spec)``: what ``summary.json`` records as the settings that ran (default: the spec).
    """

    name: str
    description: str
    title: str
    paper: str
    specs: Mapping[str, Any]
    tiny: Mapping[str, Mapping[str, Any]]
    run: Callable[[Any, RunContext], Mapping[str, Any]]
    claims: tuple[ClaimSpec[Any], ...]
    figures: tuple[Figure, ...]
    settings: Callable[[Any], dict[str, Any]] = field(default=spec_to_dict)

    def __post_init__(self) -> None:
        for what, mapping in (("spec", self.specs), ("tiny run", self.tiny)):
            missing = [scale for scale in SCALES if scale not in mapping]
            if missing:
                raise ValueError(f"experiment {self.name!r} declares no {what} for scale(s) {missing}")
        object.__setattr__(self, "claims", claim_set(self.claims))
        names = [figure.name for figure in self.figures]
        if len(set(names)) != len(names):
            raise ValueError(f"experiment {self.name!r} declares a figure name twice: {names}")

    def spec(self, scale: str) -> Any:
        """The declared spec (a frozen dataclass) at ``scale``."""
        return self.specs[check_scale(scale)]

    def check(self, data: Mapping[str, Any]) -> list[Claim]:
        """Every declared claim checked on ``data``."""
        return evaluate_claims(self.claims, data)

    def draw(self, data: Mapping[str, Any], fig_dir: Path) -> dict[Path, str]:
        """Draw every figure from ``data``: each file written → its figure's caption. Data that lacks what a
        figure declares it needs is a ValueError naming the figure and the keys; an error inside figure code
        is a FigureError."""
        fig_dir.mkdir(parents=True, exist_ok=True)
        paths: dict[Path, str] = {}
        for figure in self.figures:
            missing = figure.missing(data)
            if missing:
                raise ValueError(f"the data lacks {', '.join(missing)}, which figure {figure.name} needs")
            try:
                drawn = figure.draw(data, fig_dir)
            except Exception as error:
                raise FigureError(
                    f"figure {figure.name} of {self.name} failed ({type(error).__name__}: {error}); unless its "
                    "summary.json was edited by hand, this is a bug in sgdnoise's figure code — please report it "
                    "(--debug shows the traceback)"
                ) from error
            for path in drawn if isinstance(drawn, list) else [drawn]:
                if path in paths:
                    raise FigureError(
                        f"figure {figure.name} of {self.name} writes {path.name} again: a bug in sgdnoise"
                    )
                paths[path] = figure.caption
        return paths
