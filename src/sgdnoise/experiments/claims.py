"""Claims declared as data.

A claim is declared once, at module level, beside the figure it belongs to (:class:`ClaimSpec`): its
id (``<figure>/<slug>``), the statement, where it comes from (:class:`Provenance`: the paper, the
section or figure, the line it rests on and the paper's own number), its kind (``paper``: the paper
states it; ``extension``: a check this project adds; ``calibration``: a setting chosen from
measurements, so it cannot test anything), the test (:class:`ClaimTest`: the statistic, the rule and
the thresholds, constants fixed in code before any run) and a check function of the figure data.

The check returns a :class:`Verdict` — ``holds``, ``fails`` or ``inconclusive`` — with the measured value
and the reason; a check that finds too little data to decide raises :class:`NotEnoughData` (or returns
``Verdict.inconclusive``), which the framework records as ``inconclusive``. Any other exception in a check
is a bug and propagates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sgdnoise.results import CLAIM_KINDS, Claim, ClaimKind, VerdictName

D = TypeVar("D")

# <figure>/<slug>: the figure part names where in the paper (fig3, fig6-7, table1, appE, thm1, eq4, sec5);
# the slug is lower-case kebab-case.
ID_PATTERN = re.compile(r"^(fig|table|app|thm|eq|sec)[A-Za-z0-9.-]*/[a-z0-9]+(?:-[a-z0-9.]+)*$")


@dataclass(frozen=True)
class Paper:
    """One of the papers the project implements: its key in claim records, a citation and its text's file
    name in the papers folder. ``cite(where, quote, …)`` is a :class:`Provenance` in this paper."""

    key: str
    citation: str
    file: str

    def cite(self, where: str, quote: str, paper_value: str | None = None, evidence: str | None = None) -> Provenance:
        return Provenance(self.key, where, quote, paper_value, evidence)


SMITH_LE_2018 = Paper(
    "smith-le-2018",
    "Smith & Le, A Bayesian Perspective on Generalization and Stochastic Gradient Descent, ICLR 2018",
    "000_6a6432fb4bef74c1.txt",
)
SMITH_LE_2017_WORKSHOP = Paper(
    "smith-le-2017-workshop",
    "Smith & Le, Understanding Generalization and Stochastic Gradient Descent (workshop version)",
    "001_691b9ee8260b3f44.txt",
)
JASTRZEBSKI_2018 = Paper(
    "jastrzebski-2018",
    "Jastrzębski, Kenton, Arpit, Ballas, Fischer, Bengio & Storkey, Three Factors Influencing Minima in SGD",
    "002_67b6d72c3b381218.txt",
)
SMITH_ELSEN_DE_2020 = Paper(
    "smith-elsen-de-2020",
    "Smith, Elsen & De, On the Generalization Benefit of Noise in Stochastic Gradient Descent, ICML 2020",
    "003_4fbd2bb013c5f9ea.txt",
)
PAPERS: dict[str, Paper] = {
    paper.key: paper for paper in (SMITH_LE_2018, SMITH_LE_2017_WORKSHOP, JASTRZEBSKI_2018, SMITH_ELSEN_DE_2020)
}


@dataclass(frozen=True)
class Provenance:
    """Where a claim comes from: ``paper`` (a key of :data:`PAPERS`), ``where`` (section, figure or
    table), ``quote`` (the paper's line the claim rests on, or for an extension the line it extends),
    ``paper_value`` (the paper's own number, where the paper gives one) and ``evidence`` (a document in
    this repository that backs a calibration, e.g. ``docs/epsilon-mapping.md``)."""

    paper: str
    where: str
    quote: str
    paper_value: str | None = None
    evidence: str | None = None

    def __post_init__(self) -> None:
        if self.paper not in PAPERS:
            raise ValueError(f"unknown paper {self.paper!r}; known: {', '.join(PAPERS)}")
        if not self.where.strip() or not self.quote.strip():
            raise ValueError(
                f"a claim's provenance ({self.paper}, where={self.where!r}) needs where in the paper (where=) and the "
                "line it rests on (quote=)"
            )

    def to_dict(self) -> dict[str, Any]:
        paper = PAPERS[self.paper]
        return {
            "paper": self.paper,
            "citation": paper.citation,
            "file": paper.file,
            "where": self.where,
            "quote": self.quote,
            "paper_value": self.paper_value,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class ClaimTest:
    """How a claim is decided: the ``statistic`` measured, the ``rule`` that turns it into a verdict, and
    the ``thresholds`` the rule uses (name → number; module constants fixed before any run, never
    settings that ``--set`` can change)."""

    statistic: str
    rule: str
    thresholds: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.statistic.strip() or not self.rule.strip():
            raise ValueError("a claim's test needs a statistic and a rule")
        for name, value in self.thresholds.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"threshold {name!r} must be a number, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"statistic": self.statistic, "rule": self.rule, "thresholds": dict(self.thresholds)}


class NotEnoughData(Exception):
    """Raised by a check when the data cannot decide the claim (recorded as ``inconclusive``)."""


@dataclass(frozen=True)
class Verdict:
    """What a check returns: ``outcome`` (holds / fails / inconclusive), the measured ``value`` the verdict
    rests on, and the ``reason`` (the run's own numbers, when the value alone does not say why)."""

    outcome: VerdictName
    value: Any = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in ("holds", "fails", "inconclusive"):
            raise ValueError(f"a verdict is holds, fails or inconclusive, got {self.outcome!r}")

    @classmethod
    def of(cls, holds: bool, value: Any = None, reason: str = "") -> Verdict:
        """``holds`` if ``holds`` else ``fails``."""
        return cls("holds" if bool(holds) else "fails", value, reason)

    @classmethod
    def inconclusive(cls, reason: str, value: Any = None) -> Verdict:
        return cls("inconclusive", value, reason)


@dataclass(frozen=True)
class ClaimSpec(Generic[D]):
    """A claim declared as data (see the module docstring); ``evaluate(data)`` checks it."""

    id: str
    statement: str
    kind: ClaimKind
    provenance: Provenance
    test: ClaimTest
    check: Callable[[D], Verdict]

    def __post_init__(self) -> None:
        if not ID_PATTERN.match(self.id):
            raise ValueError(
                f"claim id {self.id!r} is not <figure>/<slug> (figure: fig…, table…, app…, thm…, eq… or sec…; "
                "slug: lower-case kebab-case)"
            )
        if self.kind not in CLAIM_KINDS:
            raise ValueError(f"claim {self.id}: kind must be one of {', '.join(CLAIM_KINDS)}, got {self.kind!r}")
        if not self.statement.strip():
            raise ValueError(f"claim {self.id} has no statement")
        for name, kind in (("provenance", Provenance), ("test", ClaimTest)):
            if not isinstance(getattr(self, name), kind):
                raise TypeError(f"claim {self.id}: {name} must be a {kind.__name__}, got {getattr(self, name)!r}")
        if not callable(self.check):
            raise TypeError(f"claim {self.id}: check must be a function of the figure data")

    def evaluate(self, data: D) -> Claim:
        """The checked claim: the check's verdict, or ``inconclusive`` when it raises NotEnoughData."""
        try:
            verdict = self.check(data)
        except NotEnoughData as reason:
            verdict = Verdict.inconclusive(str(reason))
        if not isinstance(verdict, Verdict):
            raise TypeError(f"the check of claim {self.id} returned {type(verdict).__name__}, not a Verdict")
        return Claim(
            id=self.id,
            statement=self.statement,
            verdict=verdict.outcome,
            value=verdict.value,
            note=verdict.reason,
            kind=self.kind,
            provenance=self.provenance.to_dict(),
            test=self.test.to_dict(),
        )


FIGURE_PATTERN = re.compile(r"^(fig|table|app|thm|eq|sec)[A-Za-z0-9.]*$")


def figure_of(claim_id: str) -> str:
    """The figure or table a claim id names, without a panel letter (``fig2c/test-lr-stays`` → ``fig2``,
    ``appE/large-batch-tuning`` → ``appE``)."""
    part = claim_id.split("/", 1)[0]
    return re.sub(r"^((?:fig|table)\d+)[a-z]$", r"\1", part)


@dataclass(frozen=True)
class NotChecked:
    """An empirical claim of a paper that no experiment checks: the ``figure`` it belongs to (``fig3``,
    ``table1``, ``sec5``: the first part of a claim id), what the paper says (``statement``, with its
    ``provenance``) and why this project does not check it (``reason``: needs ImageNet, an LSTM, …)."""

    figure: str
    statement: str
    provenance: Provenance
    reason: str

    def __post_init__(self) -> None:
        if not FIGURE_PATTERN.match(self.figure):
            raise ValueError(f"{self.figure!r} is not a figure name like fig3, table1 or appE")
        if not self.statement.strip() or not self.reason.strip():
            raise ValueError(f"the unchecked claim of {self.figure} needs a statement and the reason it is unchecked")

    @classmethod
    def citing(
        cls, paper: str, figure: str, where: str, quote: str, statement: str, reason: str, value: str | None = None
    ) -> NotChecked:
        """The unchecked claim of ``paper``'s ``figure``, citing ``where`` and its line ``quote`` (and the
        paper's number ``value``), with the ``reason`` no experiment checks it."""
        return cls(figure, statement, Provenance(paper, where, quote, paper_value=value), reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "statement": self.statement,
            "provenance": self.provenance.to_dict(),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Inventory:
    """Every figure and table of one paper (``figures``, named as claim ids name them) and the empirical
    claims no experiment checks (``not_checked``). A figure must be covered by a ``paper`` claim of some
    experiment or by a :class:`NotChecked` entry; the conformance suite enforces it. ``repeats`` maps a figure
    that repeats another's experiment (more initialisations, the same set-up) to the figure whose claims check
    it, with the reason, e.g. ``{"fig10": ("fig2", "Fig. 2's interpolation for other initialisations")}``."""

    paper: str
    figures: tuple[str, ...]
    not_checked: tuple[NotChecked, ...] = ()
    repeats: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.paper not in PAPERS:
            raise ValueError(f"unknown paper {self.paper!r}; known: {', '.join(PAPERS)}")
        for figure in self.figures:
            if not FIGURE_PATTERN.match(figure):
                raise ValueError(f"{figure!r} is not a figure name like fig3, table1 or appE")
        for item in self.not_checked:
            if item.provenance.paper != self.paper:
                raise ValueError(f"an unchecked claim of {item.figure} cites {item.provenance.paper}, not {self.paper}")
            if item.figure not in self.figures:
                raise ValueError(f"unchecked claim names {item.figure}, which is not among {self.paper}'s figures")
        for figure, (checked_by, _reason) in self.repeats.items():
            if figure not in self.figures or checked_by not in self.figures:
                raise ValueError(f"repeats names {figure} → {checked_by}; both must be among {self.paper}'s figures")


def claim_set(claims: Iterable[ClaimSpec[Any]]) -> tuple[ClaimSpec[Any], ...]:
    """``claims`` as a tuple, refusing a repeated id."""
    result = tuple(claims)
    seen: set[str] = set()
    for claim in result:
        if not isinstance(claim, ClaimSpec):
            raise TypeError(f"expected ClaimSpec, got {type(claim).__name__}")
        if claim.id in seen:
            raise ValueError(f"claim id {claim.id!r} declared twice")
        seen.add(claim.id)
    return result


def evaluate_claims(claims: Iterable[ClaimSpec[D]], data: D) -> list[Claim]:
    """Every declared claim checked on ``data``, in declaration order."""
    return [claim.evaluate(data) for claim in claims]
