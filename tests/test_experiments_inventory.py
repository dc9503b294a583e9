"""Each paper's claim inventory is complete: every figure and table of the paper is checked by a claim of kind
``paper``, repeats a figure that is, or is listed as not checked with the reason; and no claim names a figure
its paper's inventory does not list."""

from __future__ import annotations

import pytest

from sgdnoise.experiments.claims import PAPERS, Inventory, NotChecked, Provenance, figure_of
from sgdnoise.experiments.registry import entries, get_experiment, inventories


def _paper_claims() -> dict[str, set[str]]:
    """paper → the figures its ``paper`` claims check."""
    checked: dict[str, set[str]] = {}
    for entry in entries():
        for claim in get_experiment(entry.name).claims:
            if claim.kind == "paper":
                checked.setdefault(claim.provenance.paper, set()).add(figure_of(claim.id))
    return checked


def test_every_paper_has_one_inventory() -> None:
    papers = [inventory.paper for inventory in inventories()]
    assert sorted(papers) == sorted(PAPERS)


@pytest.mark.parametrize("inventory", inventories(), ids=lambda inventory: inventory.paper)
def test_every_figure_is_checked_or_has_a_reason(inventory: Inventory) -> None:
    checked = _paper_claims().get(inventory.paper, set())
    unchecked = {item.figure for item in inventory.not_checked}
    repeats = {figure for figure, (by, _) in inventory.repeats.items() if by in checked}
    missing = [f for f in inventory.figures if f not in checked | unchecked | repeats]
    assert not missing, f"{inventory.paper}: figures neither checked nor listed as not checked: {missing}"


@pytest.mark.parametrize("inventory", inventories(), ids=lambda inventory: inventory.paper)
def test_claims_name_only_figures_of_their_paper(inventory: Inventory) -> None:
    named = {f for f in _paper_claims().get(inventory.paper, set()) if f.startswith(("fig", "table"))}
    assert named <= set(inventory.figures), sorted(named - set(inventory.figures))


def test_inventory_refuses_what_it_cannot_account_for() -> None:
    where = Provenance("jastrzebski-2018", "Fig. 1", "a line")
    with pytest.raises(ValueError, match="not among"):
        Inventory("jastrzebski-2018", ("fig1",), (NotChecked("fig2", "a claim", where, "a reason"),))
    with pytest.raises(ValueError, match="needs a statement"):
        NotChecked("fig1", "a claim", where, " ")
    with pytest.raises(ValueError, match="figure name"):
        NotChecked("Figure 1", "a claim", where, "a reason")
    with pytest.raises(ValueError, match="cites"):
        Inventory("smith-le-2018", ("fig1",), (NotChecked("fig1", "a claim", where, "a reason"),))
    with pytest.raises(ValueError, match="repeats"):
        Inventory("jastrzebski-2018", ("fig1",), repeats={"fig10": ("fig1", "why")})
