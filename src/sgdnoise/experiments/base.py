"""What every reproduced experiment is: a declarative spec per scale, a run that takes a spec, fills
the store and returns the numbers behind each figure with the paper's claims checked, and a plot that
draws the figures from those numbers alone (so ``sgdnoise report DIR`` can redraw them from
``summary.json``). An experiment object holds no mutable state: a changed spec is passed in, never
written into a module."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tqdm.auto import tqdm

from sgdnoise.experiments import registry
from sgdnoise.results import Claim

if TYPE_CHECKING:
    import torch

    from sgdnoise.store import Store

Executor = Literal["auto", "inline", "processes", "ray"]


@dataclass
class RunContext:
    """Where and how an experiment runs: scale, base seed, output directory, store, device, the sweep
    executor (and the Ray cluster's address) and whether progress bars are shown."""

    scale: str
    seed: int
    out_dir: Path
    store: Store
    device: torch.device
    executor: Executor = "auto"
    ray_address: str | None = None  # the Ray cluster when executor="ray" (None: Ray's default)
    show_progress: bool = True

    def progress(self, total: int, desc: str) -> tqdm:
        """A progress bar that stays quiet when progress display is off (tests, --quiet)."""
        return tqdm(total=total, desc=desc, disable=not self.show_progress, dynamic_ncols=True, leave=False)


@dataclass
class ExperimentResult:
    """What a run returns: checked claims, the data behind every figure, and the settings used."""

    claims: list[Claim]
    data: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)


class Experiment(ABC):
    """A reproduced figure or table: ``name``, ``title``, ``paper`` and one spec per scale."""

    name: str
    title: str
    paper: str

    def __init__(self, specs: Mapping[str, Any]) -> None:
        missing = [scale for scale in registry.SCALES if scale not in specs]
        if missing:
            raise ValueError(f"experiment {self.name!r} declares no spec for scale(s) {missing}")
        self._specs = dict(specs)

    @property
    def description(self) -> str:
        """The one line ``sgdnoise list`` shows (kept in the registry)."""
        return registry.entry(self.name).description

    def spec(self, scale: str) -> Any:
        """The declared spec (a frozen dataclass) at ``scale``."""
        return self._specs[registry.check_scale(scale)]

    @abstractmethod
    def run(self, spec: Any, ctx: RunContext) -> ExperimentResult:
        """Run ``spec`` (resuming from ``ctx.store``) and check the paper's claims on the results."""

    @abstractmethod
    def plot(self, data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
        """Draw the figures from ``data`` (as returned by run, or read back from summary.json)."""
