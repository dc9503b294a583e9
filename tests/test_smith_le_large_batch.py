import json
import sqlite3

import pytest

from sgdnoise import experiments
from sgdnoise.experiments import smith_le_large_batch as exp

# a stand-in task of 120 images (20 held out), one epoch per trial: the whole pipeline in seconds
TINY = {
    "dataset": "standin",
    "n_images": 120,
    "validation_size": 20,
    "epochs": 1.0,
    "seeds": 1,
    "confirm_seeds": 1,
    "batch_sizes": (4, 8),
    "local_fractions": (1.5,),
}


def _rows(path, table, columns):
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute(f"SELECT {columns} FROM {table}").fetchall())


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


def _data(initial, final, fresh_initial, fresh_final, trail):
    def fresh(accuracy, setting):
        return {"validation_accuracy": accuracy, "test_accuracy": accuracy, "updates": setting["updates"]}

    return {
        "initial": initial,
        "final": final,
        "trail": trail,
        "confirmation": {"initial": fresh(fresh_initial, initial), "final": fresh(fresh_final, final)},
    }


def test_claims_follow_the_numbers():
    grid = [_trial("1: log grid", 4, 0.90), _trial("1: log grid", 16, 0.89)]
    initial = grid[0]
    final = _trial("2b: B×3, 1−m ∝ 1/B", 40, 0.901, lr=1.0, momentum=0.97)
    claims = exp.check_claims(_data(initial, final, 0.90, 0.897, [*grid, final]))
    assert [c.id for c in claims] == ["appE/large-batch-tuning", "appE/large-batch-fresh-seeds"]
    assert all(c.holds for c in claims)  # B ×10, drop ≤ 0.5 points, 20 < 200 updates
    assert claims[1].value["validation_drop_points"] == pytest.approx(0.3)
    assert "by construction" in claims[0].note

    # a fresh-seed drop of 0.6 points fails; a final B of 36 (9×) fails both, with where the trail stopped
    assert not exp.check_claims(_data(initial, final, 0.90, 0.894, [*grid, final]))[1].holds
    short = _trial("2a: B×3, ε ∝ B", 36, 0.905, lr=0.9)
    fell = _trial("2a: B×3, ε ∝ B", 108, 0.88, lr=2.7)
    claims = exp.check_claims(_data(initial, short, 0.90, 0.90, [*grid, short, fell]))
    assert not any(c.holds for c in claims)
    assert claims[0].value["batch_factor"] == pytest.approx(9.0)
    assert "only 9×" in claims[0].note
    assert "edge of step 1's grid [4, 16]" in claims[0].note
    assert "step 2a stopped at B = 108" in claims[0].note and "0.8800 < best so far 0.9050" in claims[0].note


def test_reproduce_tunes_writes_the_contract_and_resumes_without_training(tmp_path):
    out = tmp_path / "run"
    summary = experiments.reproduce(
        "smith-le-large-batch", overrides=TINY, out_dir=out, show_progress=False, executor="inline"
    )
    on_disk = json.loads((out / "summary.json").read_text())
    assert [c["id"] for c in on_disk["claims"]] == ["appE/large-batch-tuning", "appE/large-batch-fresh-seeds"]
    data = on_disk["data"]
    steps = [t["step"][:2] for t in data["trail"]]
    assert steps[:2] == ["1:", "1:"] and steps[-1] == "3:"
    for trial in data["trail"]:  # updates of a one-epoch budget on the 100 training examples left
        assert trial["updates"] == -(-100 // trial["batch_size"])
    assert data["n_train"] == 100 and data["final"]["batch_size"] <= 100
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["appE_large_batch.png"]
    stored = _rows(out / "store.sqlite", "runs", "key, finished")
    (tuning,) = out.glob("tuning-*.sqlite")
    trials = _rows(tuning, "trials", "*")
    # one run per distinct (ε, B, m) of the trail, plus one fresh-seed run each of the initial and final setting
    distinct = {(t["lr"], t["batch_size"], t["momentum"]) for t in data["trail"]}
    assert len(stored) == len(distinct) + 2 and len(trials) == len(distinct)

    again = experiments.reproduce(
        "smith-le-large-batch", overrides=TINY, out_dir=out, show_progress=False, executor="inline"
    )
    assert again["claims"] == summary["claims"] and again["data"] == summary["data"]
    assert _rows(out / "store.sqlite", "runs", "key, finished") == stored  # nothing trained or rewritten
    assert _rows(tuning, "trials", "*") == trials


def test_paper_scale_smoke_step_through_overrides(tmp_path):
    summary = experiments.reproduce(
        "smith-le-large-batch",
        scale="paper",
        overrides=TINY | {"batch_sizes": "8,16", "local_fractions": "0.5"},
        out_dir=tmp_path / "paper",
        show_progress=False,
        executor="inline",
    )
    assert summary["scale"] == "paper" and summary["settings"]["epochs"] == 1.0
    assert {c["id"] for c in summary["claims"]} == {"appE/large-batch-tuning", "appE/large-batch-fresh-seeds"}


def test_bad_settings_are_one_clear_error():
    with pytest.raises(ValueError, match="batch_sizes must not exceed the 100 training examples"):
        experiments.reproduce("smith-le-large-batch", overrides=TINY | {"batch_sizes": (4, 128)})
    with pytest.raises(ValueError, match="validation_size"):
        experiments.reproduce("smith-le-large-batch", overrides=TINY | {"validation_size": 119})
