"""Claims declared as data: ids, kinds, provenance and tests are validated at declaration; a check's
verdict, or NotEnoughData as ``inconclusive``, becomes the recorded claim."""

import dataclasses

import pytest

from sgdnoise.experiments.claims import (
    ClaimSpec,
    ClaimTest,
    NotEnoughData,
    Provenance,
    Verdict,
    claim_set,
    evaluate_claims,
)

PROVENANCE = Provenance("smith-le-2018", "§4, Fig. 3", "B = 30 beats B = 1000", paper_value="+5 points")
TEST = ClaimTest("test accuracy gap", "gap ≥ MARGIN", {"MARGIN": 0.01})


def _gap(data):
    if len(data["acc"]) < 2:
        raise NotEnoughData("need two batch sizes")
    gap = data["acc"][0] - data["acc"][1]
    return Verdict.of(gap >= 0.01, {"gap": gap}, "" if gap >= 0.01 else f"gap {gap:.3f} below 0.01")


def _claim(claim_id="fig3/small-batch-wins", check=_gap, kind="paper"):
    return ClaimSpec(claim_id, "small batches generalise better", kind, PROVENANCE, TEST, check)


def test_a_check_decides_holds_or_fails_with_its_value_and_reason():
    held = _claim().evaluate({"acc": [0.9, 0.85]})
    assert held.verdict == "holds" and held.holds and held.value == {"gap": pytest.approx(0.05)}
    failed = _claim().evaluate({"acc": [0.9, 0.895]})
    assert failed.verdict == "fails" and not failed.holds and "below 0.01" in failed.note
    record = failed.to_dict()
    assert record["provenance"]["paper_value"] == "+5 points" and record["provenance"]["file"].endswith(".txt")
    assert record["test"] == {"statistic": "test accuracy gap", "rule": "gap ≥ MARGIN", "thresholds": {"MARGIN": 0.01}}


def test_too_little_data_is_inconclusive_not_a_failure():
    claim = _claim().evaluate({"acc": [0.9]})
    assert claim.verdict == "inconclusive" and claim.note == "need two batch sizes" and not claim.holds


def test_a_bug_in_a_check_is_not_turned_into_a_verdict():
    with pytest.raises(KeyError):
        _claim().evaluate({})
    with pytest.raises(TypeError, match="not a Verdict"):
        _claim(check=lambda data: True).evaluate({})


@pytest.mark.parametrize(
    "bad_id", ["hessian_norm_falls", "fig3/Small-Batch", "fig3/", "fig3/a/b", "figure/x y", "memorization/p25/x"]
)
def test_malformed_ids_are_refused(bad_id):
    with pytest.raises(ValueError, match="<figure>/<slug>"):
        _claim(bad_id)


@pytest.mark.parametrize("good_id", ["fig3/a", "fig6-7/flat-then-falls", "table1/discrete-s-widest", "appE/x-10"])
def test_well_formed_ids_are_accepted(good_id):
    assert _claim(good_id).id == good_id


def test_duplicate_ids_unknown_kinds_papers_and_non_numeric_thresholds_are_refused():
    with pytest.raises(ValueError, match="declared twice"):
        claim_set([_claim(), _claim()])
    with pytest.raises(ValueError, match="kind"):
        _claim(kind="guess")
    with pytest.raises(ValueError, match="unknown paper"):
        Provenance("smith-2099", "§1", "x")
    with pytest.raises(ValueError, match="where in the paper"):
        Provenance("smith-le-2018", "", "x")
    with pytest.raises(TypeError, match="must be a number"):
        ClaimTest("s", "r", {"MARGIN": "0.01"})


def test_a_claim_without_a_provenance_or_a_test_is_refused_where_it_is_declared_not_after_the_run():
    good = _claim()
    with pytest.raises(TypeError, match="claim fig3/small-batch-wins: provenance must be a Provenance, got None"):
        dataclasses.replace(good, provenance=None)
    with pytest.raises(TypeError, match="claim fig3/small-batch-wins: test must be a ClaimTest"):
        dataclasses.replace(good, test=("statistic", "rule"))


def test_claims_are_evaluated_in_declaration_order():
    other = _claim("fig4/peak", lambda data: Verdict.inconclusive("no peak yet"))
    checked = evaluate_claims((_claim(), other), {"acc": [0.9, 0.8]})
    assert [c.id for c in checked] == ["fig3/small-batch-wins", "fig4/peak"]
