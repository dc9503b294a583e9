"""The registry of reproducible experiments, found without a hand-kept list.

Every module in a paper package (``experiments/<paper>/``) that assigns ``EXPERIMENT = Experiment(name=...,
description=..., ...)`` is an experiment. The registry reads each module's source with ``ast`` — the name
and description are string literals — so ``sgdnoise list`` and ``--help`` answer at once; the module (and
torch) is imported only when the experiment is asked for, and the conformance suite checks that what the
registry read is what the module declares.
"""

from __future__ import annotations

import ast
import difflib
import importlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sgdnoise.experiments.base import Experiment
    from sgdnoise.experiments.claims import Inventory

# the paper packages, in the order ``sgdnoise list`` shows them (publication order)
PAPER_PACKAGES: tuple[str, ...] = ("smith_le_2018", "jastrzebski_2018", "smith_elsen_de_2020")
_ROOT = Path(__file__).resolve().parent
SCALES: tuple[str, ...] = ("quick", "paper")


@dataclass(frozen=True)
class Entry:
    """A registered experiment: its name, the module that declares it, one line for ``sgdnoise list``."""

    name: str
    module: str
    description: str


class UnknownExperimentError(ValueError):
    """An experiment name that is not registered (the message suggests close names)."""


def _declaration(path: Path) -> tuple[str, str] | None:
    """(name, description) of the module's ``EXPERIMENT = Experiment(...)``, or None if it declares none."""
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        if not (isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "EXPERIMENT" for t in node.targets)):
            continue
        if not isinstance(node.value, ast.Call):
            raise RuntimeError(f"{path}: EXPERIMENT must be assigned an Experiment(...) call")
        literals = {
            kw.arg: kw.value.value
            for kw in node.value.keywords
            if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str)
        }
        if "name" not in literals or "description" not in literals:
            raise RuntimeError(f"{path}: Experiment(name=..., description=...) must be given as string literals")
        return literals["name"], literals["description"]
    return None


@cache
def entries() -> tuple[Entry, ...]:
    """Every registered experiment: paper packages in publication order, modules by file name."""
    found: list[Entry] = []
    for package in PAPER_PACKAGES:
        for path in sorted((_ROOT / package).glob("*.py")):
            declared = _declaration(path)
            if declared is not None:
                name, description = declared
                found.append(Entry(name, f"sgdnoise.experiments.{package}.{path.stem}", description))
    names = [entry.name for entry in found]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise RuntimeError(f"experiment names declared more than once: {repeated}")
    return tuple(found)


def experiment_names() -> list[str]:
    return [entry.name for entry in entries()]


def entry(name: str) -> Entry:
    """The registry entry of ``name``; an unknown name is one clear error suggesting close names."""
    by_name = {entry.name: entry for entry in entries()}
    if name not in by_name:
        close = difflib.get_close_matches(name, by_name, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownExperimentError(
            f"unknown experiment {name!r}.{hint} Known: {', '.join(by_name)} (see `sgdnoise list`)."
        )
    return by_name[name]


def get_experiment(name: str) -> Experiment:
    """The experiment registered under ``name`` (imports its module)."""
    found = entry(name)
    experiment = importlib.import_module(found.module).EXPERIMENT
    if experiment.name != name or experiment.description != found.description:
        raise RuntimeError(f"{found.module} declares {experiment.name!r}, but its source reads {name!r}")
    return experiment


def check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    return scale


def inventories() -> tuple[Inventory, ...]:
    """Each paper package's claim inventory (``<package>/inventory.py`` declaring ``INVENTORIES``: the
    papers that package reproduces, every figure, and what is left unchecked with the reason)."""
    found: list[Inventory] = []
    for package in PAPER_PACKAGES:
        found.extend(importlib.import_module(f"sgdnoise.experiments.{package}.inventory").INVENTORIES)
    return tuple(found)
