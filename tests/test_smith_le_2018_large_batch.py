import pytest

from sgdnoise.experiments.smith_le_2018 import large_batch as exp


def _trial(step, batch_size, accuracy, lr=0.1, momentum=0.9, updates=None):
    return {
        "step": step,
        "lr": lr,
        "batch_size": batch_size,
        "momentum": momentum,
        "validation_accuracy": accuracy,
        "test_accuracy": accuracy,
        "updates": updates if updates is not None else 800 // batch_size,
        "stable": True,
    }


def _data(initial, final, fresh_initial, fresh_final, trail, spread=0.001):
    def fresh(accuracy, setting):
        per_seed = [accuracy - spread, accuracy, accuracy + spread]
        return {
            "validation_accuracy": accuracy,
            "test_accuracy": accuracy,
            "test_accuracy_per_seed": per_seed,
            "updates": setting["updates"],
        }

    return {
        "initial": initial,
        "final": final,
        "trail": trail,
        "confirmation": {"initial": fresh(fresh_initial, initial), "final": fresh(fresh_final, final)},
    }


def _claims(data):
    """The two extension claims (≥ 10× the batch at ≤ 0.5 points lower), tuning and fresh seeds."""
    return [claim.evaluate(data) for claim in exp.CLAIMS if claim.kind == "extension"]


def _paper_claims(data):
    return {claim.id: claim.evaluate(data) for claim in exp.CLAIMS if claim.kind == "paper"}


def test_the_paper_claims_are_app_e_s_last_sentence():
    grid = [_trial("1: log grid", 4, 0.90), _trial("1: log grid", 16, 0.89)]
    final = _trial("2b: B×3, 1−m ∝ 1/B", 40, 0.905, lr=1.0, momentum=0.97)
    claims = _paper_claims(_data(grid[0], final, 0.90, 0.905, [*grid, final]))
    assert set(claims) == {"appE/fewer-updates", "appE/test-accuracy-increases"}
    assert claims["appE/fewer-updates"].holds and claims["appE/fewer-updates"].value["updates_final"] == 20
    assert claims["appE/test-accuracy-increases"].holds
    assert all(c.provenance["evidence"] == "docs/epsilon-mapping.md" for c in claims.values())
    lower = _paper_claims(_data(grid[0], final, 0.90, 0.89, [*grid, final]))
    assert lower["appE/test-accuracy-increases"].verdict == "fails"
    noisy = _paper_claims(_data(grid[0], final, 0.90, 0.901, [*grid, final], spread=0.01))
    assert noisy["appE/test-accuracy-increases"].verdict == "inconclusive"
    same = _paper_claims(_data(grid[0], grid[0], 0.90, 0.90, grid))
    assert same["appE/fewer-updates"].verdict == "fails"


def test_claims_follow_the_numbers():
    grid = [_trial("1: log grid", 4, 0.90), _trial("1: log grid", 16, 0.89)]
    initial = grid[0]
    final = _trial("2b: B×3, 1−m ∝ 1/B", 40, 0.901, lr=1.0, momentum=0.97)
    claims = _claims(_data(initial, final, 0.90, 0.897, [*grid, final]))
    assert [c.id for c in claims] == ["appE/large-batch-tuning", "appE/large-batch-fresh-seeds"]
    assert all(c.verdict == "holds" for c in claims)  # B ×10, drop ≤ 0.5 points, 20 < 200 updates
    assert claims[1].value["validation_drop_points"] == pytest.approx(0.3)
    assert "by construction" in claims[0].note

    # a fresh-seed drop of 0.6 points fails; a final B of 36 (9×) fails both, with where the trail stopped
    assert _claims(_data(initial, final, 0.90, 0.894, [*grid, final]))[1].verdict == "fails"
    short = _trial("2a: B×3, ε ∝ B", 36, 0.905, lr=0.9)
    fell = _trial("2a: B×3, ε ∝ B", 108, 0.88, lr=2.7)
    claims = _claims(_data(initial, short, 0.90, 0.90, [*grid, short, fell]))
    assert all(c.verdict == "fails" for c in claims)
    assert claims[0].value["batch_factor"] == pytest.approx(9.0)
    assert "only 9×" in claims[0].note
    assert "edge of step 1's grid [4, 16]" in claims[0].note
    assert "step 2a stopped at B = 108" in claims[0].note and "0.8800 < best so far 0.9050" in claims[0].note


def test_a_diverged_retraining_fails_the_accuracy_condition():
    grid = [_trial("1: log grid", 4, 0.90), _trial("1: log grid", 16, 0.89)]
    final = _trial("2b: B×3, 1−m ∝ 1/B", 40, 0.901, lr=1.0, momentum=0.97)
    fresh_seeds = _claims(_data(grid[0], final, 0.90, float("nan"), [*grid, final]))[1]
    assert fresh_seeds.verdict == "fails" and "validation accuracy fell by nan points" in fresh_seeds.note


def test_bad_settings_are_one_clear_error():
    tiny = dict(exp.EXPERIMENT.tiny["quick"])
    with pytest.raises(ValueError, match="batch_sizes must not exceed the 100 training examples"):
        exp.LargeBatchSpec(**tiny | {"batch_sizes": (4, 128)})
    with pytest.raises(ValueError, match="validation_size"):
        exp.LargeBatchSpec(**tiny | {"validation_size": 119})
