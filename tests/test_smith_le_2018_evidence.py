import numpy as np
import pytest

from sgdnoise.experiments.smith_le_2018 import evidence as exp


def test_lambda_grid_spans_the_range_with_the_requested_density():
    grid = exp.EXPERIMENT.spec("quick").lambdas()
    assert grid[0] == pytest.approx(1e-8) and grid[-1] == pytest.approx(1e7)
    assert len(grid) == 15 * 4 + 1
    assert np.allclose(np.diff(np.log10(grid)), 0.25)


def test_claims_are_declared_once_per_dataset():
    ids = [claim.id for claim in exp.CLAIMS]
    assert len(ids) == 9 * len(exp.DATASETS)
    assert "fig1/mnist01-random-memorized" in ids and "fig2/synthetic-evidence-tracks-test-cross-entropy" in ids
    synthetic = next(c for c in exp.CLAIMS if c.id == "fig1/synthetic-informative-fits-and-generalizes")
    assert synthetic.test.thresholds == {"HIGH_TEST_ACCURACY": 0.70}
    assert synthetic.provenance.paper == "smith-le-2017-workshop"


def _curves(**means):
    """Three seeds per metric, the mean given and (but for accuracies) a relative spread of 1e-4 around it."""
    base = {metric: np.zeros(3) for metric in exp.METRICS}
    base.update({k: np.asarray(v, float) for k, v in means.items()})
    spread = {metric: 0.0 if "accuracy" in metric else 1e-4 for metric in base}
    return {
        metric: {
            "mean": list(v),
            "std": [0.0] * 3,
            "per_seed": [list(v * (1 + d * spread[metric])) for d in (-1, 0, 1)],
        }
        for metric, v in base.items()
    }


def _claims(data):
    """The mnist01 claims checked on ``data``, by slug."""
    return {c.id.split("/")[1].removeprefix("mnist01-"): c.evaluate(data) for c in exp.dataset_claims("mnist01")}


def test_claims_follow_the_numbers():
    random = _curves(
        train_accuracy=[1.0, 0.9, 0.5],
        test_accuracy=[0.505, 0.5, 0.5],
        log_evidence_ratio=[300.0, 50.0, 0.1],
        log_evidence_ratio_per_example=[1.5, 0.25, 0.0005],
        mean_margin=[0.1, 0.2, 0.3],
    )
    random["test_cross_entropy"] = _curves(test_cross_entropy=[5.0, 1.0, np.log(2)])["test_cross_entropy"]
    informative = _curves(
        train_accuracy=[1.0, 1.0, 0.9],
        test_accuracy=[0.99, 0.99, 0.9],
        log_evidence_ratio=[-10.0, -100.0, -1.0],
        log_evidence_ratio_per_example=[-0.01, -0.1, -0.001],
        test_cross_entropy=[0.5, 0.05, 0.69],
        cost=[0.01, 5.0, 100.0],
        occam=[400.0, 100.0, 1.0],
        mean_margin=[0.15, 0.3, 0.4],
    )
    data = {"lambda": [1e-6, 1e-2, 1e2], "seeds": [0], "mnist01": {"random": random, "informative": informative}}
    claims = _claims(data)
    assert claims["informative-fits-and-generalizes"].verdict == "holds"
    assert claims["random-memorized"].verdict == "holds"
    assert claims["evidence-positive-random"].verdict == "holds"  # E/N = 0.0005 at strong λ counts as E ≈ 0
    within_tolerance = {
        **random,
        "log_evidence_ratio_per_example": _curves(log_evidence_ratio_per_example=[-0.009, -0.009, -0.009])[
            "log_evidence_ratio_per_example"
        ],
    }
    vacuous = _claims({**data, "mnist01": {"random": within_tolerance, "informative": informative}})
    assert vacuous["evidence-positive-random"].verdict == "inconclusive"  # E < 0 everywhere, yet "≈ 0" everywhere
    # E < 0 already at the weakest λ: the paper's curve (positive, then below zero, then back to zero) fails
    shape = claims["evidence-negative-informative"]
    assert shape.verdict == "fails" and shape.value["parts"] == {
        "positive_at_weakest": "fails",
        "negative_at_minimum": "holds",
        "zero_at_strongest": "holds",
    }
    assert claims["random-test-cross-entropy"].verdict == "holds"
    assert claims["informative-test-cross-entropy"].verdict == "holds"
    weak = claims["evidence-positive-weak-informative"]
    assert weak.verdict == "fails" and "N ln 2" in weak.note
    assert claims["evidence-tracks-test-cross-entropy"].verdict == "holds"
    assert claims["margin-larger-informative"].value["ratio"] == pytest.approx(1.5)

    random["log_evidence_ratio_per_example"]["per_seed"] = [[1.5, -0.5, 0.0]]
    informative["test_accuracy"]["mean"][0] = 0.9
    informative["log_evidence_ratio"] = _curves(log_evidence_ratio=[10.0, -100.0, -1.0])["log_evidence_ratio"]
    informative["test_cross_entropy"] = _curves(test_cross_entropy=[0.5, 0.9, 0.8])["test_cross_entropy"]
    claims = _claims(data)
    assert claims["evidence-negative-informative"].verdict == "holds"
    assert claims["informative-test-cross-entropy"].verdict == "fails"  # never below ln 2
    assert claims["evidence-positive-random"].verdict == "fails"
    assert claims["evidence-positive-random"].value["violations"] == 1
    assert claims["informative-fits-and-generalizes"].verdict == "fails"


def test_the_evidence_curve_with_its_minimum_at_an_end_of_the_grid_fails_and_one_seed_is_inconclusive():
    informative = _curves(log_evidence_ratio=[10.0, -1.0, -100.0], log_evidence_ratio_per_example=[0.1, -0.01, -1.0])
    random = _curves(mean_margin=[0.1, 0.2, 0.3])
    data = {"lambda": [1e-6, 1e-2, 1e2], "seeds": [0], "mnist01": {"random": random, "informative": informative}}
    shape = _claims(data)["evidence-negative-informative"]
    assert shape.verdict == "fails" and "end of the λ grid" in shape.note
    for curve in informative.values():
        curve["per_seed"] = curve["per_seed"][:1]
    informative["log_evidence_ratio"]["per_seed"] = [[10.0, -100.0, -1.0]]
    assert _claims(data)["evidence-negative-informative"].verdict == "inconclusive"


def test_a_dataset_not_run_leaves_its_claims_inconclusive():
    claims = _claims({"lambda": [1e-6, 1.0], "seeds": [0]})
    assert {c.verdict for c in claims.values()} == {"inconclusive"}
    assert "mnist01 was not run" in claims["random-memorized"].note


def test_a_failed_fit_leaves_the_datasets_claims_inconclusive_not_holding():
    """A non-finite value (a failed fit: None in summary.json) used to pass "E > 0 wherever E ≠ 0" (NaN is neither
    ≤ 0 nor ≥ 0.01 in size) and reach the other checks; now every claim on that dataset is inconclusive."""
    random = _curves(log_evidence_ratio_per_example=[1.5, 0.25, 0.0005], mean_margin=[0.1, 0.2, 0.3])
    random["log_evidence_ratio_per_example"]["per_seed"][1][1] = None
    data = {"lambda": [1e-6, 1e-2, 1e2], "seeds": [0], "mnist01": {"random": random, "informative": _curves()}}
    claims = _claims(data)
    assert {c.verdict for c in claims.values()} == {"inconclusive"}
    assert "random labels: log_evidence_ratio_per_example is missing or not finite" in claims["random-memorized"].note


def test_lines_only_the_iclr_paper_says_are_extensions_on_the_synthetic_task():
    kinds = {c.id: c.kind for c in exp.CLAIMS}
    transferred = ("random-test-cross-entropy", "informative-test-cross-entropy")
    transferred += ("evidence-positive-weak-informative", "margin-larger-informative")
    for claim_id, kind in kinds.items():
        on_synthetic_from_iclr = "/synthetic-" in claim_id and claim_id.endswith(transferred)
        assert kind == ("extension" if on_synthetic_from_iclr else "paper"), claim_id
    assert sum(kind == "extension" for kind in kinds.values()) == 4


def test_the_margin_claim_is_the_papers_roughly_50_percent_not_just_larger():
    informative = _curves(mean_margin=[3.0, 0.3, 0.4])
    data = {"lambda": [1e-6, 1e-2, 1e2], "seeds": [0]}
    for random_margin, verdict in ((2.0, "holds"), (0.02, "fails"), (2.9, "fails")):  # ratios 1.5, 150, 1.03
        random = _curves(mean_margin=[random_margin, 0.2, 0.3])
        claim = _claims(data | {"mnist01": {"random": random, "informative": informative}})["margin-larger-informative"]
        assert claim.verdict == verdict, random_margin
    assert claim.note == "the ratio is 1.03, outside [1.25, 2]"
