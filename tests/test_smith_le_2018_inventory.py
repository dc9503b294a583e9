"""Smith & Le's claim inventories name every figure and the appendices with experiments (that each is checked
or has a reason is ``test_experiments_inventory``'s, for every paper)."""

from sgdnoise.experiments.smith_le_2018.inventory import INVENTORIES


def test_the_iclr_paper_has_every_figure_and_the_appendices_with_experiments():
    iclr = INVENTORIES[0]
    assert {f"fig{i}" for i in range(1, 10)} | {"appA", "appE"} <= set(iclr.figures)
    assert all(item.reason and item.provenance.quote for item in iclr.not_checked)
    assert {item.figure for item in iclr.not_checked} >= {"sec4", "appE"}
