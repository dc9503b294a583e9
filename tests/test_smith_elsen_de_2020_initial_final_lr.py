"""Fig. 3: the joint (ε_0, ε_f) optimum, the 2-D grid extension and the claims on it."""

import math

import numpy as np
import pytest

from sgdnoise.experiments.smith_elsen_de_2020.initial_final_lr import CLAIMS, extended_axes, pair_optimum

INITIALS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)
FINALS = tuple(2.0**k for k in range(-12, 1, 2))
PAIRS = [(e0, ef) for e0 in INITIALS for ef in FINALS if ef < e0]
JITTER = np.array([0.0, 0.0005, -0.0005, -0.05])  # one outlier run per pair


def _optimum(best, height, maximize=True, jitter=JITTER):
    """The pair optimum of a bowl in (log2 ε_0, log2 ε_f) around ``best`` with the given height."""
    b0, bf = best
    bowl = np.array([0.01 * (math.log2(e0 / b0) ** 2 + math.log2(ef / bf) ** 2) for e0, ef in PAIRS])
    clean = height - bowl if maximize else height + bowl
    return pair_optimum(PAIRS, clean[:, None] + (jitter if maximize else -jitter)[None, :], keep=3, maximize=maximize)


def _budget(epochs, test_best, loss_best, acc, loss):
    return {
        "epochs": epochs,
        "test_acc": _optimum(test_best, acc),
        "train_loss": _optimum(loss_best, loss, False),
        "initial_grid": list(INITIALS),
        "final_grid": list(FINALS),
    }


def _claims(budgets):
    data = {"budgets": budgets, "batch_size": 64, "initial_grid": [], "final_grid": [], "keep": 3}
    return {spec.id: spec.evaluate(data) for spec in CLAIMS}


# the paper's picture at 1, 4, 16, 32 epochs: test ε_0 1 → 0.5 then constant, ε_f falls 2^-4 → 2^-10;
# the loss optimum has a lower ε_0 and a higher ε_f; accuracy rises then saturates, loss falls
PAPER_LIKE = [
    _budget(1, (1.0, 2.0**-4), (0.5, 2.0**-2), 0.85, 0.40),
    _budget(4, (0.5, 2.0**-6), (0.25, 2.0**-4), 0.88, 0.20),
    _budget(16, (0.5, 2.0**-8), (0.25, 2.0**-6), 0.90, 0.10),
    _budget(32, (0.5, 2.0**-10), (0.25, 2.0**-8), 0.90, 0.05),
]


def test_pair_optimum_keeps_the_best_runs():
    first = PAPER_LIKE[0]["test_acc"]
    assert first["initial"] == 1.0 and first["final"] == 2.0**-4
    assert first["score"] == pytest.approx(0.85) and first["score_std"] == pytest.approx(0.0005)
    assert first["kept"] == pytest.approx([0.8505, 0.85, 0.8495])
    assert PAPER_LIKE[0]["train_loss"]["kept"] == pytest.approx([0.3995, 0.4, 0.4005])


def test_every_claim_holds_on_the_papers_picture():
    claims = _claims(PAPER_LIKE)
    assert {c.id: c.note for c in claims.values() if c.verdict != "holds"} == {}
    initial = claims["fig3c/initial-lr-slow-then-constant"].value
    assert (initial["initial_fall"], initial["final_fall"], initial["constant_beyond_epochs"]) == (2.0, 64.0, 8.0)
    assert claims["fig3d/loss-initial-slower-than-final"].value["final_lr"][0] == 0.25


def test_the_papers_own_slow_decay_passes_where_never_falls_would_not():
    """The paper's ε_0 "decays very slowly … constant for budgets greater than 400": a fall at small budgets
    is its picture, not a failure (the old claim "never falls" failed on it)."""
    assert PAPER_LIKE[0]["test_acc"]["initial"] > PAPER_LIKE[1]["test_acc"]["initial"]
    assert _claims(PAPER_LIKE)["fig3c/initial-lr-slow-then-constant"].verdict == "holds"


def test_a_falling_late_initial_lr_and_a_fast_initial_decay_fail():
    moving = [*PAPER_LIKE[:3], _budget(32, (0.25, 2.0**-10), (0.25, 2.0**-8), 0.90, 0.05)]
    claim = _claims(moving)["fig3c/initial-lr-slow-then-constant"]
    assert claim.verdict == "fails" and "no ε_0 lies in every one-std band" in claim.note
    fast = [_budget(1, (2.0, 2.0**-8), (1.0, 2.0**-6), 0.85, 0.4), *PAPER_LIKE[1:]]  # both fall 4×
    claim = _claims(fast)["fig3c/initial-lr-slow-then-constant"]
    assert claim.verdict == "fails" and claim.note == "ε_0 falls by as large a factor as ε_f"


def test_test_versus_loss_optima_fail_when_reversed_and_tie_inconclusively():
    reversed_ = [_budget(e, (0.25, 2.0**-4), (0.5, 2.0**-6), 0.9, 0.1) for e in (1, 32)]
    claims = _claims(reversed_)
    assert claims["fig3/test-initial-above-loss-initial"].verdict == "fails"
    assert claims["fig3/test-final-below-loss-final"].verdict == "fails"
    tied = [_budget(e, (0.5, 2.0**-6), (0.5, 2.0**-4), 0.9, 0.1) for e in (1, 32)]
    assert _claims(tied)["fig3/test-initial-above-loss-initial"].verdict == "inconclusive"


def test_accuracy_and_loss_comparisons_fail_or_stay_inconclusive_with_their_seeds():
    still_rising = [*PAPER_LIKE[:3], _budget(32, (0.5, 2.0**-10), (0.25, 2.0**-8), 0.95, 0.05)]
    assert _claims(still_rising)["fig3a/test-accuracy-rises-then-saturates"].verdict == "fails"
    loss_up = [*PAPER_LIKE[:3], _budget(32, (0.5, 2.0**-10), (0.25, 2.0**-8), 0.90, 0.2)]
    assert _claims(loss_up)["fig3b/train-loss-falls"].verdict == "fails"
    noisy = dict(PAPER_LIKE[3], train_loss=_optimum((0.25, 2.0**-8), 0.095, False, np.array([0, 0.05, -0.05, 0])))
    assert _claims([*PAPER_LIKE[:3], noisy])["fig3b/train-loss-falls"].verdict == "inconclusive"


def test_an_optimum_at_an_axis_edge_is_inconclusive_and_extends_the_grid():
    edged = [*PAPER_LIKE[:3], _budget(32, (4.0, 2.0**-12), (0.25, 2.0**-8), 0.90, 0.05)]
    claims = _claims(edged)
    assert claims["fig3c/initial-lr-slow-then-constant"].verdict == "inconclusive"
    assert (
        "edge of its grid (after extension) for epoch budgets [32]"
        in claims["fig3c/initial-lr-slow-then-constant"].note
    )
    assert claims["fig3d/loss-initial-slower-than-final"].verdict == "holds"  # the loss optima are interior
    # ε_0 at the top (4) and ε_f at the bottom (2^-12): one point beyond each, by each axis's spacing
    initials, finals = extended_axes(list(INITIALS), list(FINALS), [edged[3]["test_acc"], edged[3]["train_loss"]])
    assert initials == [*INITIALS, 8.0] and finals == [2.0**-14, *FINALS]
    assert extended_axes(list(INITIALS), list(FINALS), [PAPER_LIKE[1]["test_acc"]]) == (list(INITIALS), list(FINALS))
    # an interior optimum whose one-std band of ε_0 reaches the lowest ε_0 (§4: the error bars too)
    wide = PAPER_LIKE[1]["test_acc"] | {"initial_band": [INITIALS[0], 1.0]}
    assert extended_axes(list(INITIALS), list(FINALS), [wide]) == ([0.0625, *INITIALS], list(FINALS))


def test_pair_optimum_minimises_and_scores_failed_runs_as_the_worst():
    pairs = [(1.0, 0.25), (1.0, 0.5), (2.0, 0.25)]
    loss = np.array([[0.3, 0.3, np.nan], [0.1, 0.1, 0.1], [np.nan, np.nan, np.nan]])
    opt = pair_optimum(pairs, loss, keep=2, maximize=False)
    assert (opt["initial"], opt["final"], opt["score"]) == (1.0, 0.5, pytest.approx(0.1))
    assert opt["means"][2] == pytest.approx(0.3)  # every run failed: scored as the worst observed
    assert opt["final_at_edge"]  # 0.5 is the top of the pairs' ε_f values
    # with ε_f = 2 on the axis (above every ε_0: no pair), ε_f = 0.5 is the family's bound, not a grid edge
    assert not pair_optimum(pairs, loss, keep=2, maximize=False, final_axis=(0.25, 0.5, 2.0))["final_at_edge"]
    assert {c.verdict for c in _claims(PAPER_LIKE[:1]).values()} == {"inconclusive"}


def test_accuracy_that_peaks_at_the_smallest_budget_fails_the_rise():
    """The rise compares the best of the larger budgets with the smallest: before, a peak at the smallest budget
    was compared with itself (d = 0, inconclusive), so the claim could not fail."""
    falling = [
        _budget(e, (0.5, 2.0**-6), (0.25, 2.0**-4), acc, 0.1)
        for e, acc in ((1, 0.90), (4, 0.85), (16, 0.80), (32, 0.80))
    ]
    claim = _claims(falling)["fig3a/test-accuracy-rises-then-saturates"]
    assert claim.verdict == "fails"
    assert "peak (4) > 1 epochs" in claim.value["comparisons"]


def test_an_initial_lr_band_cut_by_the_grid_is_inconclusive():
    """At quick scale the ε_0 bands of the late budgets spanned the whole grid: they intersect, but only because
    nothing is known (§4 verifies the error bars are not at the grid's boundary)."""
    late = [*PAPER_LIKE[:3], PAPER_LIKE[3] | {"test_acc": PAPER_LIKE[3]["test_acc"] | {"initial_band": [0.125, 1.0]}}]
    assert _claims(PAPER_LIKE)["fig3c/initial-lr-slow-then-constant"].verdict == "holds"
    claim = _claims(late)["fig3c/initial-lr-slow-then-constant"]
    assert claim.verdict == "inconclusive" and "band of ε reaches the grid's edge for epoch budgets [32]" in claim.note


def test_the_final_lr_falls_only_when_the_bands_part():
    """ε_f's fall is read from the one-std bands, as the paper's error bars: bands sharing an ε_f cannot tell."""

    def with_bands(first, last):
        return [
            PAPER_LIKE[0] | {"test_acc": PAPER_LIKE[0]["test_acc"] | {"final_band": first}},
            *PAPER_LIKE[1:3],
            PAPER_LIKE[3] | {"test_acc": PAPER_LIKE[3]["test_acc"] | {"final_band": last}},
        ]

    assert _claims(PAPER_LIKE)["fig3c/final-lr-falls"].verdict == "holds"
    touching = _claims(with_bands([2.0**-6, 2.0**-2], [2.0**-12, 2.0**-6]))["fig3c/final-lr-falls"]
    assert touching.verdict == "inconclusive" and "overlap" in touching.note
    assert _claims(with_bands([2.0**-6, 2.0**-2], [2.0**-12, 2.0**-7]))["fig3c/final-lr-falls"].verdict == "holds"
    # the smallest budget's band cut at the bottom of its ε_f grid might reach below the largest budget's
    cut = _claims(with_bands([FINALS[0], 2.0**-2], [2.0**-16, 2.0**-14]))["fig3c/final-lr-falls"]
    assert cut.verdict == "inconclusive" and "reaches the grid's edge for epoch budgets [1]" in cut.note


def _with_bands(budget, objective, **bands):
    return budget | {objective: budget[objective] | {f"{which}_band": band for which, band in bands.items()}}


def test_test_and_loss_optima_are_compared_with_their_bands():
    """Before, the point optima alone decided: a test ε_0 one grid step below the loss optimum's failed
    "consistently higher" though both one-std bands held ε_0 = 0.25 and 0.5 (as at quick scale, 32 epochs)."""
    reversed_ = [_budget(e, (0.25, 2.0**-4), (0.5, 2.0**-6), 0.9, 0.1) for e in (1, 32)]
    overlapping = [
        _with_bands(_with_bands(b, "test_acc", initial=[0.25, 0.5]), "train_loss", initial=[0.25, 1.0])
        for b in reversed_
    ]
    claim = _claims(overlapping)["fig3/test-initial-above-loss-initial"]
    assert claim.verdict == "inconclusive" and "overlap at budgets [1, 32]" in claim.note
    assert claim.value["test_over_loss_within_bands"] == [[0.25, 2.0], [0.25, 2.0]]
    # one budget whose bands lie apart on the wrong side fails it, whatever the others
    apart = [overlapping[0], reversed_[1]]
    assert _claims(apart)["fig3/test-initial-above-loss-initial"].verdict == "fails"


def test_the_loss_optimum_initial_lr_falls_slower_only_when_the_bands_say_so():
    """Before, the point optima alone decided: ε_0 down 2× and ε_f 64× held, though ε_f's band at the largest
    budget reached back to its value at the smallest (ε_f might not have fallen at all)."""
    assert _claims(PAPER_LIKE)["fig3d/loss-initial-slower-than-final"].verdict == "holds"
    wide = [*PAPER_LIKE[:3], _with_bands(PAPER_LIKE[3], "train_loss", final=[2.0**-8, 2.0**-2])]
    claim = _claims(wide)["fig3d/loss-initial-slower-than-final"]
    assert claim.verdict == "inconclusive"
    assert claim.value["initial_fall_within_bands"] == [2.0, 2.0]
    assert claim.value["final_fall_within_bands"] == [1.0, 64.0]
    rising = [*PAPER_LIKE[:3], _budget(32, (0.5, 2.0**-10), (1.0, 2.0**-8), 0.90, 0.05)]
    claim = _claims(rising)["fig3d/loss-initial-slower-than-final"]
    assert claim.verdict == "fails" and claim.note == "ε_0 rises"
