"""Smith & Le's claim inventories: every figure of both papers is checked by a ``paper`` claim or listed as
not checked with a reason (issue 16, rule 1)."""

from sgdnoise.experiments import get_experiment
from sgdnoise.experiments.claims import figure_of
from sgdnoise.experiments.registry import experiment_names
from sgdnoise.experiments.smith_le_2018.inventory import INVENTORIES


def _paper_claims_by_figure():
    covered: dict[str, set[str]] = {}
    for name in experiment_names():
        if name.startswith("smith-le-"):
            for claim in get_experiment(name).claims:
                if claim.kind == "paper":
                    covered.setdefault(claim.provenance.paper, set()).add(figure_of(claim.id))
    return covered


def test_every_figure_is_checked_by_a_paper_claim_or_listed_as_not_checked():
    covered = _paper_claims_by_figure()
    assert [inventory.paper for inventory in INVENTORIES] == ["smith-le-2018", "smith-le-2017-workshop"]
    for inventory in INVENTORIES:
        unchecked = {item.figure for item in inventory.not_checked}
        missing = [f for f in inventory.figures if f not in covered.get(inventory.paper, set()) | unchecked]
        assert not missing, f"{inventory.paper}: figures neither checked nor listed as not checked: {missing}"
        # every paper claim names a figure of its paper's inventory
        assert covered.get(inventory.paper, set()) <= set(inventory.figures)


def test_the_iclr_paper_has_every_figure_and_the_appendices_with_experiments():
    iclr = INVENTORIES[0]
    assert {f"fig{i}" for i in range(1, 10)} | {"appA", "appE"} <= set(iclr.figures)
    assert all(item.reason and item.provenance.quote for item in iclr.not_checked)
    assert {item.figure for item in iclr.not_checked} >= {"sec4", "appE"}
