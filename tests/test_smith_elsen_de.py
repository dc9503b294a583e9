import math

import numpy as np
import pytest

from sgdnoise.experiments import smith_elsen_de as sed
from sgdnoise.experiments.grid import TuningProtocol, tune_curves

QUICK = sed.SPECS["sed-epoch-budget"]["quick"]


def test_runs_use_the_papers_schedule_on_the_effective_learning_rate():
    # ε_eff = 2 with m = 0.9: engine lr 0.2 for the first half, then ÷2 every 1/20 of the budget
    config = sed.train_config(QUICK, "bn-mlp", 0.9, 64, 10, 2.0, seed=0)
    lr = config.learning_rate
    assert lr(0.0) == pytest.approx(0.2) and lr(0.4999) == pytest.approx(0.2)
    assert lr(0.5) == pytest.approx(0.1) and lr(0.55) == pytest.approx(0.05)
    assert lr(0.96) == pytest.approx(0.2 / 2**10)
    assert config.epochs == 10 and config.momentum == 0.9 and config.batch_size(0.0) == 64
    # §7.1: ε_0 = 1, ε_f = 2^-6 (effective), SGD: γ = 2^(6/10); the last tenth runs at ε_f exactly
    sgd = sed.train_config(QUICK, "bn-mlp", 0.0, 64, 10, 1.0, seed=0, final=2.0**-6).learning_rate
    assert sgd(0.3) == pytest.approx(1.0) and sgd(0.5) == pytest.approx(2 ** (-0.6))
    assert sgd(0.99) == pytest.approx(2.0**-6)
    step = sed.train_config(sed.SPECS["sed-step-budget"]["quick"], "bn-mlp", 0.9, 4096, 1, 1.0, seed=3)
    assert step.steps == 160 and step.epochs is None and step.seed == 3


def _curve(architecture, momentum, batch, epochs, grid, acc, loss=None):
    """A tuned curve record from [n_lr, runs] accuracy (and loss) arrays."""
    acc = np.asarray(acc, float)
    loss = 1.0 - acc if loss is None else np.asarray(loss, float)
    key = (architecture, momentum, batch, epochs)
    tuned = tune_curves(
        {key: tuple(grid)},
        lambda grids: {key: {"test_acc": acc, "train_loss": loss}},
        TuningProtocol(acc.shape[1], acc.shape[1] - 1, sed.OBJECTIVES),
    )
    return sed.curve_record(key, tuned)


def _peaked(grid, peak, height, runs=4, width=0.01, jitter=0.0005):
    """Accuracy = height − width·(log2 ε − log2 peak)², runs spread by ±jitter (deterministic)."""
    clean = height - width * (np.log2(grid) - math.log2(peak)) ** 2
    offsets = jitter * np.linspace(-1, 1, runs)
    return clean[:, None] + offsets[None, :]


GRID = 2.0 ** np.arange(-6, 6)
BATCHES = [16, 32, 64, 128, 256, 512, 1024, 2048]


def _fig1_curves(momentum_gain_above=0.01):
    """SGD: ε_opt = B/128 up to B* = 256, then flat at 2; momentum: the same below B*, growing ∝ B above
    it with higher accuracy (+``momentum_gain_above``); accuracy falls above B*."""
    sgd, mom = [], []
    for b in BATCHES:
        height = 0.9 - 0.02 * max(0.0, math.log2(b / 256))
        sgd.append(_curve("bn-mlp", 0.0, b, 10, GRID, _peaked(GRID, min(b, 256) / 128, height)))
        gain = momentum_gain_above if b > 256 else 0.001
        mom.append(_curve("bn-mlp", 0.9, b, 10, GRID, _peaked(GRID, b / 128, height + gain)))
    return sgd, mom


def test_epoch_budget_claims_on_curves_with_a_known_breakpoint():
    sgd, mom = _fig1_curves()
    regime = sed.regime_fit(sgd, keep=3, n_bootstrap=40, seed=0)
    assert regime["fit"]["breakpoint"] == pytest.approx(256.0)
    assert regime["low"] <= 256.0 * (1 + 1e-9) and regime["high"] >= 256.0 * (1 - 1e-9)
    init = {"B_simple": 180.0, "epsilon_crit": 1.5}
    claims = {c.id: c for c in sed.epoch_budget_claims(sgd, mom, regime, init)}
    assert claims["fig1/sgd-regimes"].holds
    assert claims["fig1/sgd-regimes"].value["slope_noise"] == pytest.approx(1.0)
    assert claims["fig1/momentum-scales-further"].holds
    assert claims["fig1/momentum-scales-further"].value["momentum_eff_lr"] == [4.0, 8.0, 16.0]
    matched = claims["fig1/momentum-matches-then-beats-sgd"]
    assert matched.holds and matched.value["gap_points"]["16"] == pytest.approx(0.1)
    assert claims["fig1/b-simple-near-b-star"].holds
    assert claims["fig1/b-simple-near-b-star"].value["ratio"] == pytest.approx(180 / 256)
    # momentum no better than SGD above B*: the comparison claim fails, with its numbers
    sgd, worse = _fig1_curves(momentum_gain_above=-0.01)
    failing = {c.id: c for c in sed.epoch_budget_claims(sgd, worse, regime, {"B_simple": 40.0, "epsilon_crit": 1.0})}
    assert not failing["fig1/momentum-matches-then-beats-sgd"].holds
    assert failing["fig1/momentum-matches-then-beats-sgd"].value["beats_above"] is False
    assert not failing["fig1/b-simple-near-b-star"].holds
    # a straight line (no plateau): no regime claim
    line = [_curve("bn-mlp", 0.0, b, 10, GRID, _peaked(GRID, b / 128, 0.9)) for b in BATCHES[:6]]
    straight = sed.regime_fit(line, keep=3, n_bootstrap=20, seed=0)
    assert not sed.epoch_budget_claims(line, line, straight, None)[0].holds


def test_step_budget_claims_read_the_table():
    grid = 2.0 ** np.arange(-2, 4)
    heights = {256: 0.90, 512: 0.92, 1024: 0.93, 2048: 0.91}
    losses = {256: 0.30, 512: 0.20, 1024: 0.10, 2048: 0.05}
    curves = []
    for b, h in heights.items():
        acc = _peaked(grid, 2.0, h)
        curves.append(_curve("bn-mlp", 0.9, b, 1, grid, acc, np.full_like(acc, losses[b]) + 0.001 * (1 - acc)))
    claims, rows = sed.step_budget_claims(curves, keep=3)
    peak, loss = claims
    assert peak.holds and peak.value["B_peak"] == 1024 and peak.value["drop_points"] == pytest.approx(2.0)
    assert loss.holds and loss.value["monotone_in_B"] and loss.value["margin"] == pytest.approx(0.05, abs=1e-3)
    assert [r["lr"] for r in rows] == [2.0] * 4
    # accuracy still rising at the largest B: no peak
    rising = [_curve("bn-mlp", 0.9, b, 1, grid, _peaked(grid, 2.0, 0.9 + 0.01 * i)) for i, b in enumerate(heights)]
    assert not sed.step_budget_claims(rising, keep=3)[0][0].holds


def test_unlimited_budget_claims_compare_the_two_optima():
    grid = 2.0 ** np.arange(-8, 3)
    curves = []
    for i, epochs in enumerate((2, 4, 8, 16)):
        acc = _peaked(grid, 0.5 if i < 2 else 0.25, 0.9)  # test optimum moves by 2×
        loss = -_peaked(grid, 2.0**-i, 0.0)  # loss optimum halves with every budget
        curves.append(_curve("bn-mlp", 0.9, 64, epochs, grid, acc, loss))
        curves.append(_curve("mlp", 0.9, 64, epochs, grid, _peaked(grid, 2.0**-i, 0.9), loss))
    claims = {c.id: c for c in sed.unlimited_budget_claims(curves)}
    assert (
        claims["fig2/bn-mlp/test-lr-stays"].holds and claims["fig2/bn-mlp/test-lr-stays"].value["max_over_min"] == 2.0
    )
    assert claims["fig2/bn-mlp/loss-lr-falls"].holds
    assert claims["fig2/bn-mlp/loss-lr-falls"].value["first_over_last"] == pytest.approx(8.0)
    assert not claims["fig2/mlp/test-lr-stays"].holds and claims["fig2/mlp/test-lr-stays"].value["max_over_min"] == 8.0
    assert claims["fig2/bn-mlp/loss-lr-falls"].note == ""  # smooth losses: no stability note
    # a loss that blows up just above its optimum (ε = 1 → 2) is flagged with its ratio
    loss = np.where(grid[:, None] > 1.0, 5.0, 0.5 - 0.01 * (np.log2(grid)[:, None] ** 2) * -1)
    cliff = _curve("mlp", 0.9, 64, 4, grid, _peaked(grid, 0.5, 0.9), np.repeat(loss, 4, axis=1))
    assert sed.loss_jump_above(cliff) == pytest.approx(10.0)
    flat = _curve("mlp", 0.9, 64, 2, grid, _peaked(grid, 0.5, 0.9), np.repeat(loss, 4, axis=1))
    note = {c.id: c for c in sed.unlimited_budget_claims([flat, cliff])}["fig2/mlp/loss-lr-falls"].note
    assert "2: 10" in note and "4: 10" in note


def test_pair_optimum_and_initial_final_claims():
    pairs = [(e0, ef) for e0 in (0.25, 0.5, 1.0, 2.0) for ef in (2.0**-8, 2.0**-6, 2.0**-4) if ef < e0]
    best = {2: (1.0, 2.0**-4), 8: (1.0, 2.0**-6), 32: (2.0, 2.0**-8)}
    budgets = []
    for epochs, (b0, bf) in best.items():
        clean = np.array([0.9 - 0.01 * (math.log2(e0 / b0) ** 2 + math.log2(ef / bf) ** 2) for e0, ef in pairs])
        scores = clean[:, None] + np.array([0.0, 0.0005, -0.0005, -0.05])[None, :]  # one outlier run per pair
        record = {"epochs": epochs, "test_acc": sed.pair_optimum(pairs, scores, keep=3, maximize=True)}
        budgets.append(record)
    assert budgets[0]["test_acc"]["initial"] == 1.0 and budgets[0]["test_acc"]["final"] == 2.0**-4
    assert budgets[0]["test_acc"]["score"] == pytest.approx(0.9) and budgets[0]["test_acc"][
        "score_std"
    ] == pytest.approx(0.0005)
    assert budgets[2]["test_acc"]["initial_at_edge"]  # 2.0 is the largest ε_0 on the grid
    initial, final = sed.initial_final_claims(budgets)
    assert initial.holds and initial.value["initial_lr"] == [1.0, 1.0, 2.0]
    assert final.holds and final.value["final_lr"] == [2.0**-4, 2.0**-6, 2.0**-8]
    assert "edge" in initial.note
    falling = [dict(budgets[0]), dict(budgets[1])]
    falling[1] = {"epochs": 8, "test_acc": dict(budgets[1]["test_acc"], initial=0.5)}
    assert not sed.initial_final_claims(falling)[0].holds


def test_specs_follow_the_issue_and_reject_bad_settings():
    quick = sed.SPECS["sed-epoch-budget"]["quick"]
    assert quick.batch_sizes == tuple(2**k for k in range(4, 13)) and quick.runs >= 4 and quick.epoch_budgets == (10,)
    assert quick.lr_grid() == tuple(2.0**k for k in range(-4, 3))
    paper = sed.SPECS["sed-step-budget"]["paper"]
    assert (paper.steps, paper.runs, paper.keep, paper.architectures) == (9765, 15, 12, ("wrn-16-4",))
    assert sed.SPECS["sed-unlimited-budget"]["paper"].architectures == ("wrn-16-4", "wrn-16-4-skipinit")
    assert sed.ARCHITECTURES["wrn-16-4"](paper).ghost_batch_size == 64
    with pytest.raises(ValueError, match="keep"):
        sed.SEDSpec(("bn-mlp",), (16,), (0.0,), (1,), (0, 1), runs=2, keep=3)
    with pytest.raises(ValueError, match="lr_exponents"):
        sed.SEDSpec(("bn-mlp",), (16,), (0.0,), (1,), (0, 0), runs=2, keep=1)
    with pytest.raises(ValueError, match="architectures"):
        sed.SEDSpec(("resnet",), (16,), (0.0,), (1,), (0, 1), runs=2, keep=1)


def test_paper_scale_runs_one_smoke_step_on_a_cifar_shaped_standin(tmp_path):
    from sgdnoise.experiments import reproduce

    overrides = {
        "dataset": "cifar-standin",
        "n_train": 32,
        "n_test": 16,
        "batch_sizes": (16,),
        "steps": 1,
        "lr_exponents": (-1, 0),
        "runs": 1,
        "keep": 1,
        "augmentation": "none",
    }
    summary = reproduce(
        "sed-step-budget", scale="paper", overrides=overrides, out_dir=tmp_path, device="cpu", show_progress=False
    )
    row = summary["data"]["table"][0]
    assert row["batch_size"] == 16 and 0.0 <= row["test_acc"] <= 1.0 and math.isfinite(row["train_loss"])
    assert {c["id"] for c in summary["claims"]} == {
        "table1/accuracy-peaks-then-falls",
        "table1/train-loss-keeps-falling",
    }
    assert not any(c["holds"] for c in summary["claims"])  # one batch size: nothing can be claimed
    assert (tmp_path / "figures" / "table1_step_budget.png").exists()
    # resume: the same command again trains nothing and writes nothing new to the store
    from sgdnoise.store import Store

    with Store(tmp_path / "store.sqlite") as store:
        before = [(r.key, r.status) for r in store.runs(sed.STORE_NAMESPACE)]
    again = reproduce(
        "sed-step-budget", scale="paper", overrides=overrides, out_dir=tmp_path, device="cpu", show_progress=False
    )
    with Store(tmp_path / "store.sqlite") as store:
        assert [(r.key, r.status) for r in store.runs(sed.STORE_NAMESPACE)] == before
    assert len(before) == 2 and again["data"]["table"] == summary["data"]["table"]
