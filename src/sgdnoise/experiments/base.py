"""What every reproduced experiment is: a declarative spec per scale, a run that fills the store and
returns the numbers behind each figure with the paper's claims checked, and a plot that draws the
figures from those numbers alone (so `sgdnoise report DIR` can redraw them from summary.json)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from tqdm.auto import tqdm

from sgdnoise.store import Store

SCALES = ("quick", "paper")


@dataclass(frozen=True)
class Claim:
    """One claim of a paper, checked on this machine's results.

    ``value`` is the measured number (or small dict of numbers) the verdict rests on; ``note`` says
    why it holds or not when that is not obvious from the value (never used to tune a verdict away).
    """

    id: str
    statement: str
    holds: bool
    value: Any
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "statement": self.statement,
            "holds": bool(self.holds),
            "value": self.value,
            "note": self.note,
        }


@dataclass
class RunContext:
    """Where and how an experiment runs: its scale, seed, store, device and progress display."""

    scale: str
    seed: int
    out_dir: Path
    store: Store
    device: torch.device
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
    """A reproduced figure or table. Subclasses set the class attributes and implement run and plot."""

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]  # one line, shown by `sgdnoise list`
    paper: ClassVar[str]  # which paper, section and figures

    @abstractmethod
    def spec(self, scale: str) -> Any:
        """The declarative settings (a frozen dataclass) of this experiment at ``scale``."""

    @abstractmethod
    def run(self, ctx: RunContext) -> ExperimentResult:
        """Run (resuming from ``ctx.store``), and check the paper's claims on the results."""

    @abstractmethod
    def plot(self, data: Mapping[str, Any], fig_dir: Path) -> list[Path]:
        """Draw the figures from ``data`` (as returned by run, or read back from summary.json)."""


def spec_to_dict(spec: Any) -> dict[str, Any]:
    """A spec dataclass as a JSON-able dict (for summary.json and store keys)."""
    if not is_dataclass(spec):
        raise TypeError(f"spec must be a dataclass instance, got {type(spec).__name__}")
    return asdict(spec)


def check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    return scale
