"""Verdicts of Smith & Le's claims from seed intervals (``analysis.effects``): one test, or several parts
that must all hold."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from sgdnoise.analysis.effects import Difference
from sgdnoise.experiments.claims import Verdict


def finite_mean(values: np.ndarray) -> float | None:
    """The mean of the finite values (None when there is none)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None


def effect_verdict(effect: Difference, value: Mapping[str, Any], note: str = "") -> Verdict:
    """The verdict of one seed-interval test, its difference, interval and seed counts added to ``value``."""
    numbers = {
        "difference": effect.difference,
        "interval": [effect.low, effect.high],
        "seeds": [effect.n_a, effect.n_b],
    }
    return Verdict(
        effect.outcome, {**value, **numbers}, "; ".join(filter(None, [effect.describe(), effect.reason, note]))
    )


def joint_verdict(parts: Mapping[Any, Difference], value: Mapping[str, Any], label: str = "{}") -> Verdict:
    """All ``parts`` must hold: ``holds`` when every one holds, ``fails`` when one fails, else
    ``inconclusive``; the note gives each part's interval (named by ``label.format(key)``)."""
    outcomes = {part.outcome for part in parts.values()}
    outcome = "holds" if outcomes == {"holds"} else "fails" if "fails" in outcomes else "inconclusive"
    note = "; ".join(f"{label.format(key)}: {part.describe()}, {part.reason}" for key, part in parts.items())
    return Verdict(outcome, dict(value), note)
