"""The one registry of reproducible experiments: name → module that declares it, and its one-line
description. Deliberately free of heavy imports, so ``sgdnoise list`` and ``--help`` answer at once;
an experiment's module (and torch) is imported only when the experiment is asked for."""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sgdnoise.experiments.base import Experiment

SCALES: tuple[str, ...] = ("quick", "paper")


@dataclass(frozen=True)
class Entry:
    """A registered experiment: its name, the module whose ``EXPERIMENTS`` declares it, one line for
    ``sgdnoise list``."""

    name: str
    module: str
    description: str


_SMITH_LE_SGD = "sgdnoise.experiments.smith_le_sgd"
_SMITH_ELSEN_DE = "sgdnoise.experiments.smith_elsen_de"
_JASTRZEBSKI = "sgdnoise.experiments.jastrzebski"
REGISTRY: tuple[Entry, ...] = (
    Entry(
        "smith-le-evidence",
        "sgdnoise.experiments.smith_le_evidence",
        "Logistic regression on random vs informative labels: accuracy, margin, evidence vs λ.",
    ),
    Entry(
        "smith-le-gap",
        _SMITH_LE_SGD,
        "Test accuracy and cross-entropy during training, B = 30 vs B = 1000 (MNIST, N = 1000).",
    ),
    Entry(
        "smith-le-batch",
        _SMITH_LE_SGD,
        "Test accuracy during and after training for B from 1 to 1000 (ε = 1, MNIST, N = 1000).",
    ),
    Entry("smith-le-scaling-lr", _SMITH_LE_SGD, "Accuracy vs batch size for several ε (steps = budget/ε); B_opt vs ε."),
    Entry("smith-le-scaling-n", _SMITH_LE_SGD, "Accuracy vs batch size for several training-set sizes N; B_opt vs N."),
    Entry(
        "smith-le-scaling-momentum",
        _SMITH_LE_SGD,
        "Accuracy vs batch size for several momentum coefficients m; B_opt vs 1/(1−m).",
    ),
    Entry(
        "smith-le-l2",
        _SMITH_LE_SGD,
        "Fig. 3 with L2 λ = 0.1 on the summed cost: the B = 30 vs B = 1000 gap with and without L2.",
    ),
    Entry(
        "smith-le-gradient-noise",
        "sgdnoise.experiments.smith_le_gradient_noise",
        "One softmax weight's gradient at init: single examples vs means of 30, normality tests.",
    ),
    Entry(
        "smith-le-large-batch",
        "sgdnoise.experiments.smith_le_large_batch",
        "App. E tuning on the 800-unit MLP: B_opt at ε = 0.1, m = 0.9, then B×3 with ε ∝ B and 1−m ∝ 1/B.",
    ),
    Entry(
        "smith-le-langevin",
        "sgdnoise.experiments.smith_le_langevin",
        "SGLD (App. A eq. 17): exact linear-regression posterior, Laplace vs samples, two-minimum bowl occupation.",
    ),
    Entry(
        "jastrzebski-equilibrium",
        "sgdnoise.experiments.jastrzebski_equilibrium",
        "Two minima in 1-D/2-D: simulated SDE/SGD occupation vs Gibbs (Thm 1), Laplace (Thm 2), eq. 4, (βη, βS).",
    ),
    Entry(
        "jastrzebski-sharpness",
        _JASTRZEBSKI,
        "BN-MLP, Fashion-MNIST: ‖H‖_F, λ_max, validation accuracy vs η/S at matched train accuracy / loss (Fig. 1).",
    ),
    Entry(
        "jastrzebski-interpolation",
        _JASTRZEBSKI,
        "Loss/accuracy on (1−α)θ₁ + αθ₂, BN re-estimated: lower η/S sharper, equal η/S equal width (Fig. 2-3).",
    ),
    Entry(
        "jastrzebski-exchange",
        "sgdnoise.experiments.jastrzebski_exchange",
        "Cyclic batch size vs cyclic lr at equal η/S, constant pairs, discrete vs triangle, ‖H‖_F (Fig. 4, Table 1).",
    ),
    Entry(
        "jastrzebski-memorization",
        "sgdnoise.experiments.jastrzebski_noise",
        "25%/50% random labels, ± momentum: validation accuracy vs η/S at matched noisy-train accuracy (Fig. 5).",
    ),
    Entry(
        "jastrzebski-breaking-point",
        "sgdnoise.experiments.jastrzebski_noise",
        "(βη, βS) at fixed η/S and epochs, β = 1…64, several N, η and η/2: β* and what sets it (Fig. 6-7).",
    ),
    Entry(
        "sed-epoch-budget", _SMITH_ELSEN_DE, "SGD vs momentum at a constant epoch budget: ε_opt ∝ B, then flat (B*)."
    ),
    Entry("sed-step-budget", _SMITH_ELSEN_DE, "Constant step budget: test accuracy vs final training loss over B."),
    Entry(
        "sed-unlimited-budget",
        _SMITH_ELSEN_DE,
        "B fixed, growing epoch budgets: ε for best test accuracy vs for lowest train loss, ± BN.",
    ),
    Entry("sed-initial-final-lr", _SMITH_ELSEN_DE, "Initial and final learning rates tuned independently vs budget."),
)
_BY_NAME = {entry.name: entry for entry in REGISTRY}


class UnknownExperimentError(ValueError):
    """An experiment name that is not registered (the message suggests close names)."""


def experiment_names() -> list[str]:
    return [entry.name for entry in REGISTRY]


def entry(name: str) -> Entry:
    """The registry entry of ``name``; an unknown name is one clear error suggesting close names."""
    if name not in _BY_NAME:
        close = difflib.get_close_matches(name, _BY_NAME, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownExperimentError(
            f"unknown experiment {name!r}.{hint} Known: {', '.join(_BY_NAME)} (see `sgdnoise list`)."
        )
    return _BY_NAME[name]


def get_experiment(name: str) -> Experiment:
    """The experiment registered under ``name`` (imports its module)."""
    module = importlib.import_module(entry(name).module)
    declared = {experiment.name: experiment for experiment in module.EXPERIMENTS}
    if name not in declared:
        raise RuntimeError(f"registry says {name!r} lives in {entry(name).module}, which does not declare it")
    return declared[name]


def check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    return scale
