"""NoiseMonitor against the instruments and closed forms on linear regression, its log, state and verdicts."""

import csv
import json
import re
import warnings

import numpy as np
import pytest
import torch
from architectures import WithUnused, exact_hessian, loop_gradients, tiny_gpt
from torch import nn

from sgdnoise import theory
from sgdnoise.instruments import gradient_noise, minibatch_gradient_noise
from sgdnoise.monitor import NoiseMonitor


def regression(n: int = 64, d: int = 3, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64) + 0.3 * torch.randn(n, 1, generator=gen)
    torch.manual_seed(seed)
    return nn.Linear(d, 1, bias=False, dtype=torch.float64), nn.MSELoss(), x, y


def minibatches(x, y, batch: int):
    return [(x[i : i + batch], y[i : i + batch]) for i in range(0, x.shape[0], batch)]


def test_records_match_the_instruments_and_closed_forms(tmp_path):
    model, loss_fn, x, y = regression()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    held = (x[:16], y[:16])
    monitor = NoiseMonitor(
        model, loss_fn, train_size=64, optimizer=optimizer, every=2, curvature_every=2, window=3, held_batch=held
    )
    weights, rng_before = model.weight.detach().clone(), torch.random.get_rng_state()
    batches = minibatches(x, y, 8)
    records = [monitor.step(xb, yb) for xb, yb in batches]  # the model is not updated: every estimate is exact
    assert [r is None for r in records] == [False, True] * 4
    assert torch.equal(model.weight, weights) and model.weight.grad is None
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    measured = [r for r in records if r is not None]
    estimates = [minibatch_gradient_noise(model, loss_fn, *batches[i], train_size=64) for i in (0, 2, 4, 6)]
    last = measured[-1]
    cov = [e.covariance_trace for e in estimates[-3:]]
    grad = [e.mean_grad_sq_norm for e in estimates[-3:]]
    assert last.window == 3 and last.covariance_trace == pytest.approx(estimates[-1].covariance_trace)
    assert last.noise_scale_simple == pytest.approx(sum(cov) / sum(grad), rel=1e-12)
    assert last.noise_scale_simple_stderr > 0
    assert last.temperature == pytest.approx(0.05 / (8 * 0.1)) == theory.temperature(0.05, 8, 0.9)
    assert last.noise_scale == pytest.approx(0.05 * (64 / 8 - 1) / 0.1)
    # λ_max of (1/n)Σ(w·x − y)² on the held batch is the top eigenvalue of (2/n) XᵀX, measured at records 1, 3
    lam = torch.linalg.eigvalsh(2 * held[0].T @ held[0] / 16)[-1].item()
    assert measured[0].max_eigenvalue_step == 1 and measured[-1].max_eigenvalue_step == 5
    assert last.max_eigenvalue == pytest.approx(lam, rel=1e-4)
    assert last.lr_over_critical == pytest.approx(0.05 * lam / 2, rel=1e-4)
    assert last.effective_lr_over_critical == pytest.approx(0.5 * lam / 2, rel=1e-4)


def test_a_parameter_the_forward_pass_never_uses_does_not_stop_the_monitor():
    model, loss_fn, x, y = regression()
    wrapped = WithUnused(model)
    monitor = NoiseMonitor(wrapped, loss_fn, train_size=64, every=1, curvature_every=1)
    record = monitor.step(x[:16], y[:16], lr=0.05)
    lam = torch.linalg.eigvalsh(2 * x[:16].T @ x[:16] / 16)[-1].item()
    assert record.max_eigenvalue == pytest.approx(lam, rel=1e-4)
    exact = minibatch_gradient_noise(model, loss_fn, x[:16], y[:16], train_size=64)
    assert record.covariance_trace == pytest.approx(exact.covariance_trace, rel=1e-12)


def test_a_diverged_run_is_warned_once_and_never_stops_the_training_loop():
    model, loss_fn, x, y = regression()
    monitor = NoiseMonitor(model, loss_fn, train_size=64, every=1, curvature_every=1)
    assert monitor.step(x[:16], y[:16], lr=0.05) is not None
    with torch.no_grad():
        model.weight.fill_(float("nan"))  # what a diverged step leaves
    with pytest.warns(RuntimeWarning, match="step 2: nothing measured: the loss is not finite") as caught:
        assert monitor.step(x[:16], y[:16], lr=0.05) is None
        assert monitor.step(x[16:32], y[16:32], lr=0.05) is None
    assert len(caught) == 1 and len(monitor.records) == 1 and monitor.steps == 3


def test_regime_verdicts_say_what_they_rest_on():
    model, loss_fn, x, y = regression()
    with torch.no_grad():  # next to the least-squares solution: |G|² tiny, B_simple huge
        model.weight.copy_(torch.linalg.lstsq(x, y).solution.T + 1e-3)
    exact = gradient_noise(model, loss_fn, (x, y), 64)
    assert exact.noise_scale_simple > 640
    noisy = NoiseMonitor(model, loss_fn, train_size=64, every=1, curvature_every=100)
    record = noisy.step(x, y, lr=1e-3)  # the whole training set: the estimates are exact
    assert record.noise_scale_simple == pytest.approx(exact.noise_scale_simple, rel=1e-8)
    assert record.regime == "noise-dominated" and "B=64 vs B_simple=" in record.verdict
    lam = torch.linalg.eigvalsh(2 * x[:8].T @ x[:8] / 8)[-1].item()
    stiff = NoiseMonitor(model, loss_fn, train_size=64, every=1)
    record = stiff.step(x[:8], y[:8], lr=0.9 * 2 / lam)
    assert record.regime == "curvature-dominated" and "λ_max/threshold=0.9 " in record.verdict
    assert record.curvature_ratio == pytest.approx(0.9) == pytest.approx(record.effective_lr_over_critical)
    heavy = NoiseMonitor(model, loss_fn, train_size=64, every=1)  # m = 0.9: stable up to ε = 2·1.9/λ_max
    record = heavy.step(x[:8], y[:8], lr=0.9 * 2 / lam, momentum=0.9)
    assert record.stability_threshold == pytest.approx(2 * 1.9 / (0.9 * 2 / lam))
    assert record.curvature_ratio == pytest.approx(0.9 / 1.9)  # ε_eff/ε_crit = 9 would call it unstable
    assert record.effective_lr_over_critical == pytest.approx(9.0)
    assert record.regime != "curvature-dominated" and "heavy ball's threshold 2(1+m)/ε=" in record.verdict


def test_a_noise_scale_within_its_standard_error_of_the_batch_is_not_called_safe():
    """Before, B = 32 against B_simple = 776 ± 2000 read "ε ∝ B scaling is safe"."""
    model, loss_fn, _, _ = regression()
    monitor = NoiseMonitor(model, loss_fn, train_size=64)
    call = {"tokens": 1, "curvature_ratio": None, "threshold": None, "lam_step": None}
    call |= {"nesterov": False, "preconditioned": False}
    regime, verdict = monitor._verdict(32, b_simple=776.0, err=2000.0, **call)
    assert regime == "noise-dominated" and "not yet resolved" in verdict and "is safe" not in verdict
    regime, verdict = monitor._verdict(32, b_simple=776.0, err=50.0, **call)
    assert regime == "noise-dominated" and "ε ∝ B scaling is safe" in verdict
    regime, verdict = monitor._verdict(32, b_simple=776.0, err=None, **call)  # one estimate: no s.e. yet
    assert regime == "noise-dominated" and "not yet resolved" in verdict


def test_logs_plot_and_state_survive_a_checkpoint(tmp_path):
    model, loss_fn, x, y = regression()
    batches = minibatches(x, y, 4) * 2

    def make(log):
        return NoiseMonitor(model, loss_fn, train_size=64, every=3, curvature_every=2, window=4, log_path=log)

    full = make(tmp_path / "full.jsonl")
    first = make(tmp_path / "resumed.csv")
    for xb, yb in batches[:10]:
        full.step(xb, yb, lr=0.1)
        first.step(xb, yb, lr=0.1)
    state = first.state_dict()
    torch.save(state, tmp_path / "monitor.pt")
    resumed = make(tmp_path / "resumed.csv")
    resumed.load_state_dict(torch.load(tmp_path / "monitor.pt", weights_only=True))
    for xb, yb in batches[10:]:
        full.step(xb, yb, lr=0.1)
        resumed.step(xb, yb, lr=0.1)
    assert resumed.records == full.records and len(full.records) == 11
    lines = [json.loads(line) for line in (tmp_path / "full.jsonl").read_text().splitlines()]
    assert [row["step"] for row in lines] == [r.step for r in full.records]
    with (tmp_path / "resumed.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(row["step"]) for row in rows] == [r.step for r in full.records]
    assert float(rows[-1]["noise_scale_simple"]) == pytest.approx(full.records[-1].noise_scale_simple)
    assert full.plot(tmp_path / "monitor.png").stat().st_size > 0


def test_bad_input_gets_one_clear_error(tmp_path):
    model, loss_fn, x, y = regression(n=6)
    with pytest.raises(ValueError, match="exceeds the training-set size"):
        NoiseMonitor(model, loss_fn, train_size=4).step(x, y, lr=0.1)
    with pytest.raises(ValueError, match="MEAN of the per-example losses"):
        NoiseMonitor(model, nn.MSELoss(reduction="sum")).step(x, y, lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        NoiseMonitor(model, loss_fn).step(x, y)
    with pytest.raises(ValueError, match="log_path"):
        NoiseMonitor(model, loss_fn, log_path="log.txt")
    older = tmp_path / "older.csv"  # a log an older version started (no dampening column)
    older.write_text("step,lr,batch_size\n1,0.1,4\n")
    with pytest.raises(ValueError, match=r"other columns \(missing \[.*'dampening'.*\], extra none"):
        NoiseMonitor(model, loss_fn, log_path=older)
    assert older.read_text() == "step,lr,batch_size\n1,0.1,4\n"
    for bad, message in [
        ({"every": 0}, "every must be a positive integer, got 0"),
        ({"window": 2.5}, "window must be a positive integer, got 2.5"),
        ({"train_size": 1}, "train_size must be an integer >= 2 or None, got 1"),
        ({"tokens_per_example": 0}, "tokens_per_example must be a positive integer or None, got 0"),
    ]:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            NoiseMonitor(model, loss_fn, **bad)
    numpy_counts = NoiseMonitor(model, loss_fn, every=np.int64(2), window=np.int32(5), train_size=np.int64(64))
    assert (numpy_counts.every, numpy_counts.window, numpy_counts.train_size) == (2, 5, 64)
    assert type(numpy_counts.every) is int
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        NoiseMonitor(model, loss_fn)


@pytest.mark.parametrize(
    ("arguments", "step_arguments", "message"),
    [
        ({"optimizer": "momentum=1"}, {}, r"momentum must be a number in \[0, 1\) \(T = ε/\(B\(1−m\)\)"),
        ({}, {"lr": 0.1, "momentum": 1.0}, r"momentum must be a number in \[0, 1\)"),
        ({}, {"lr": 0.1, "momentum": -0.5}, r"momentum must be a number in \[0, 1\)"),
        ({"noise_fraction": -1.0}, None, "noise_fraction must be a finite number > 0, got -1.0"),
        ({"curvature_fraction": float("nan")}, None, "curvature_fraction must be a finite number > 0, got nan"),
    ],
)
def test_momentum_one_and_bad_fractions_are_one_value_error(arguments, step_arguments, message):
    """momentum 1.0 (torch's SGD allows it) raised ZeroDivisionError at the first record; the fractions were
    not checked."""
    model, loss_fn, x, y = regression(n=6)
    if "optimizer" in arguments:
        arguments = {"optimizer": torch.optim.SGD(model.parameters(), lr=0.1, momentum=1.0)}
    with pytest.raises(ValueError, match=message):
        NoiseMonitor(model, loss_fn, every=1, **arguments).step(x, y, **(step_arguments or {}))


def test_sgd_dampening_scales_the_learning_rate_by_one_minus_d():
    """torch's SGD with dampening d: v ← m·v + (1 − d)·g after the first step, so under a constant gradient
    the step tends to ε(1 − d)/(1 − m)·g: heavy ball at ε(1 − d). T, g and the curvature ratio use ε(1 − d)."""
    lr, m, d = 0.1, 0.9, 0.5
    w = nn.Parameter(torch.zeros((), dtype=torch.float64))
    sgd = torch.optim.SGD([w], lr=lr, momentum=m, dampening=d)
    for _ in range(400):
        before = w.detach().clone()
        sgd.zero_grad()
        (3.0 * w).backward()  # constant gradient 3
        sgd.step()
    assert float(before - w) == pytest.approx(lr * (1 - d) / (1 - m) * 3.0, rel=1e-9)
    model, loss_fn, x, y = regression()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=m, dampening=d)
    record = NoiseMonitor(model, loss_fn, train_size=64, optimizer=optimizer, every=1).step(x[:8], y[:8])
    assert record.lr == lr and record.dampening == d
    assert record.temperature == pytest.approx(lr * (1 - d) / (8 * (1 - m)), rel=1e-12)
    assert record.noise_scale == pytest.approx(lr * (1 - d) * (64 / 8 - 1) / (1 - m), rel=1e-12)
    lam = torch.linalg.eigvalsh(2 * x[:8].T @ x[:8] / 8)[-1].item()
    assert record.curvature_ratio == pytest.approx(lr * (1 - d) * lam / (2 * (1 + m)), rel=1e-4)
    # without momentum torch's SGD does not dampen: the step is ε·g (before: read as ε(1 − d))
    plain = torch.optim.SGD(model.parameters(), lr=lr, dampening=d)
    record = NoiseMonitor(model, loss_fn, train_size=64, optimizer=plain, every=1).step(x[:8], y[:8])
    assert record.dampening == 0.0 and record.temperature == pytest.approx(lr / 8, rel=1e-12)


def test_adamw_reports_the_preconditioned_sharpness_against_adams_threshold():
    model, loss_fn, x, y = tiny_gpt(n=8)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, betas=(0.9, 0.99), eps=1e-6, weight_decay=0.1)
    monitor = NoiseMonitor(model, loss_fn, train_size=8, optimizer=optimizer, every=3, curvature_every=1)
    first = monitor.step(x, y)  # before Adam's first step: no P yet
    assert first.max_eigenvalue is None and "needs Adam's state" in first.verdict
    assert first.stability_threshold == pytest.approx(38 / 0.01) and first.curvature_ratio is None
    for _ in range(3):
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
        record = monitor.step(x, y)
    assert record is not None and record.optimizer == "AdamW" and record.preconditioned
    assert record.temperature is None and record.noise_scale is None and record.effective_lr_over_critical is None
    assert "SGD quantities" in record.absent
    # brute force: eigenvalues of P⁻¹H with P = √(v/(1 − β₂^t)) + ε from the optimizer's own state
    hess = exact_hessian(model, loss_fn, x, y)
    p = torch.cat(
        [(optimizer.state[q]["exp_avg_sq"] / (1 - 0.99**3)).sqrt().reshape(-1) + 1e-6 for q in model.parameters()]
    )
    lam = torch.linalg.eigvals(hess / p[:, None]).real.max().item()
    assert record.max_eigenvalue == pytest.approx(lam, rel=1e-3)
    assert record.stability_threshold == pytest.approx(38 / 0.01)
    assert record.curvature_ratio == pytest.approx(lam * 0.01 / 38, rel=1e-3)
    assert "λ_max(P⁻¹H)/threshold=" in record.verdict


def test_sequence_models_count_batches_in_tokens_and_b_simple_is_exact():
    model, loss_fn, x, y = tiny_gpt(n=8)
    expected = loop_gradients(model, loss_fn, x, y)
    mean = expected.mean(0)
    b_simple = float((expected - mean).square().sum() / 7 / mean.square().sum())
    monitor = NoiseMonitor(model, loss_fn, train_size=8, every=1, curvature_every=1)
    record = monitor.step(x, y, lr=0.1)  # the whole training set: the estimate is exact
    assert record.tokens_per_example == 5 and record.noise_scale_simple == pytest.approx(b_simple, rel=1e-8)
    assert record.noise_scale_simple_tokens == pytest.approx(5 * b_simple, rel=1e-8)
    assert f"B=40 tokens vs B_simple={5 * b_simple:.3g} tokens" in record.verdict
    lam = torch.linalg.eigvalsh(exact_hessian(model, loss_fn, x, y))[-1].item()
    assert record.max_eigenvalue == pytest.approx(lam, rel=1e-3) and not record.preconditioned


def test_tokens_are_counted_per_batch_without_padding():
    """Before, T was frozen at the first batch's padded length: with dynamic padding B and B_simple in tokens
    were off by the padding (×6 in the QA's Hugging Face-style run)."""
    model, _, x, y = tiny_gpt(n=8)

    def per_sequence_loss(logits, targets):  # each sequence's mean over its own tokens, then over sequences
        losses = nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none", ignore_index=-100)
        return (losses.sum(1) / (targets >= 0).sum(1)).mean()

    first, second = y.clone(), y.clone()
    first[:4, 3:] = -100  # 4 sequences of 3 tokens, 4 of 5: T = 4
    second[:, 1:] = -100  # every sequence 1 token: T = 1
    monitor = NoiseMonitor(model, per_sequence_loss, train_size=8, every=1)
    records = [monitor.step(x, first, lr=0.1), monitor.step(x, second, lr=0.1)]
    assert [r.tokens_per_example for r in records] == [4.0, 1.0]
    last = records[-1]
    assert last.noise_scale_simple_tokens == pytest.approx(2.5 * last.noise_scale_simple, rel=1e-12)
    assert f"B=8 tokens vs B_simple={2.5 * last.noise_scale_simple:.3g} tokens" in last.verdict
    given = NoiseMonitor(model, per_sequence_loss, train_size=8, every=1, tokens_per_example=5)
    assert given.step(x, second, lr=0.1).tokens_per_example == 5


def test_an_optimizer_the_monitor_does_not_know_gets_one_clear_line():
    model, loss_fn, _, _ = regression()
    with pytest.raises(TypeError, match=r"NoiseMonitor knows torch\.optim\.SGD, Adam and AdamW, not RMSprop"):
        NoiseMonitor(model, loss_fn, optimizer=torch.optim.RMSprop(model.parameters()))
    for maximising in (
        torch.optim.SGD(model.parameters(), lr=0.1, maximize=True),
        torch.optim.Adam(model.parameters(), maximize=True),
    ):
        with pytest.raises(ValueError, match="maximize=True: the monitor states the noise and stability of minimising"):
            NoiseMonitor(model, loss_fn, optimizer=maximising)


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda params: torch.optim.SGD(params, lr=0.0, momentum=0.9),
        lambda params: torch.optim.AdamW(params, lr=0.0),
    ],
)
def test_a_learning_rate_of_zero_is_a_record_not_an_error(make_optimizer):
    """A warm-up starting at ε = 0 or a decay ending there takes no step: the ratios are 0, no threshold."""
    model, loss_fn, x, y = regression()
    optimizer = make_optimizer(model.parameters())
    loss_fn(model(x[:8]), y[:8]).backward()
    optimizer.step()  # Adam's state exists from here on
    monitor = NoiseMonitor(model, loss_fn, train_size=64, optimizer=optimizer, every=1, curvature_every=1)
    record = monitor.step(x[:8], y[:8])
    assert record.max_eigenvalue > 0 and record.curvature_ratio == 0.0 and record.stability_threshold is None
    assert "ε = 0: no step" in record.verdict and record.regime != "curvature-dominated"
    if record.optimizer == "SGD":
        assert record.temperature == 0.0 and record.noise_scale == 0.0 and record.effective_lr_over_critical == 0.0
    with pytest.raises(ValueError, match="finite number >= 0"):
        monitor.step(x[:8], y[:8], lr=-0.1)


def test_batch_size_says_what_the_step_averaged_over():
    """Gradient accumulation: the estimate comes from (x, y); B, given, enters T, g and the regime."""
    model, loss_fn, x, y = regression()
    monitor = NoiseMonitor(model, loss_fn, train_size=64, every=1)
    plain = monitor.step(x[:8], y[:8], lr=0.1)
    accumulated = monitor.step(x[:8], y[:8], lr=0.1, batch_size=32)
    assert (plain.batch_size, accumulated.batch_size) == (8, 32)
    assert accumulated.temperature == pytest.approx(0.1 / 32) and accumulated.noise_scale == pytest.approx(0.1 * 1)
    assert accumulated.covariance_trace == pytest.approx(plain.covariance_trace)  # the same minibatch estimate
    assert "B=32 vs B_simple" in accumulated.verdict
    with pytest.raises(ValueError, match="batch_size must be an integer >= 2"):
        monitor.step(x[:8], y[:8], lr=0.1, batch_size=1)
    with pytest.raises(ValueError, match="exceeds the training-set size"):
        monitor.step(x[:8], y[:8], lr=0.1, batch_size=65)


def test_a_one_example_batch_is_skipped_with_a_warning_and_setup_mistakes_are_caught_at_construction():
    """Before: a one-example last batch raised inside the training loop; curvature_tol=-1 and train_mode='eval'
    failed only at the first measurement; an optimizer of another model made every record say "no λ_max yet"."""
    model, loss_fn, x, y = regression()
    monitor = NoiseMonitor(model, loss_fn, every=1)
    assert monitor.step(x[:8], y[:8], lr=0.1) is not None
    with pytest.warns(RuntimeWarning, match="step 2: nothing measured: a minibatch of one example"):
        assert monitor.step(x[:1], y[:1], lr=0.1) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert monitor.step(x[:1], y[:1], lr=0.1) is None  # warned once
    assert monitor.step(x[:8], y[:8], lr=0.1).step == 4
    with pytest.raises(TypeError, match="x and y must be tensors, got ndarray and ndarray"):
        monitor.step(x.numpy(), y.numpy())
    with pytest.raises(ValueError, match="curvature_tol must be a finite number > 0"):
        NoiseMonitor(model, loss_fn, curvature_tol=-1)
    with pytest.raises(TypeError, match="train_mode must be True, False or None, got 'eval'"):
        NoiseMonitor(model, loss_fn, train_mode="eval")
    with pytest.raises(ValueError, match="the optimizer holds none of the model's parameters"):
        NoiseMonitor(model, loss_fn, optimizer=torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1))


def test_an_empty_minibatch_is_skipped_with_a_warning_that_says_so():
    """Before, it warned "a minibatch of one example", and, as the first step's batch, became the held batch, so
    the first curvature measurement raised "data holds no examples"."""
    model, loss_fn, x, y = regression()
    monitor = NoiseMonitor(model, loss_fn, every=1)
    with pytest.warns(RuntimeWarning, match="step 1: nothing measured: an empty minibatch cannot estimate"):
        assert monitor.step(x[:0], y[:0], lr=0.1) is None
    assert monitor.step(x[:8], y[:8], lr=0.1).max_eigenvalue is not None


def test_a_forward_hook_that_changes_a_layers_output_leaves_b_simple_exact():
    """Before: a Linear hooked with 2·out read |G|² 93% and tr Σ 33% off (the layer rule took the hooked output)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    model[0].register_forward_hook(lambda module, args, output: 2.0 * output)
    x, y, loss_fn = torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,)), nn.CrossEntropyLoss()
    expected = loop_gradients(model, loss_fn, x, y)
    mean = expected.mean(0)
    monitor = NoiseMonitor(model, loss_fn, train_size=16, every=1, curvature_every=1)
    record = monitor.step(x, y, lr=0.1)  # the whole training set: the estimate is exact
    assert record.grad_sq_norm == pytest.approx(mean.square().sum().item(), rel=1e-10)
    assert record.covariance_trace == pytest.approx(((expected - mean).square().sum() / 15).item(), rel=1e-10)
