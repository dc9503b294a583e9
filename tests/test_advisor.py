"""The advisor: its rules on synthetic pilot numbers (exact answers), the cost arithmetic, an end-to-end pilot
on a tiny problem, the CLI, and the one-line errors for bad input."""

import itertools
import json
import math
import re
import textwrap

import pytest
import torch
from click.testing import CliRunner
from torch import nn
from torch.nn import functional as F

from sgdnoise import advisor
from sgdnoise.cli import main
from sgdnoise.engine import StepDecay


def test_hinge_rule_and_critical_batch_size_are_exact():
    budget = advisor.Budget(epochs=2)
    p = advisor.predict(
        (0.01, 0.005, 0.02), (1.0, 0.5, 4.0), [200, 10, 50, 100], momentum=0.9, budget=budget, n_train=1000
    )
    assert p.critical_batch_size == pytest.approx(100.0)  # B* = ε_max/T
    assert (p.critical_batch_low, p.critical_batch_high) == pytest.approx((0.5 / 0.02, 4.0 / 0.005))
    assert [b.batch_size for b in p.batches] == [10, 50, 100, 200]
    assert [b.lr_eff for b in p.batches] == pytest.approx([0.1, 0.5, 1.0, 1.0])  # min(T·B, ε_max)
    assert [b.lr for b in p.batches] == pytest.approx([0.01, 0.05, 0.1, 0.1])  # ε = ε_eff·(1 − m)
    assert [b.lr_eff_low for b in p.batches] == pytest.approx([0.05, 0.25, 0.5, 0.5])
    assert [b.lr_eff_high for b in p.batches] == pytest.approx([0.2, 1.0, 2.0, 4.0])
    assert [b.regime for b in p.batches] == ["noise-dominated"] * 2 + ["curvature-dominated"] * 2
    assert [b.steps for b in p.batches] == [200, 40, 20, 10]
    assert p.recommended.batch_size == 10  # the largest B <= B*/4 = 25
    assert (
        advisor.predict(
            (0.01,) * 3, (1.0,) * 3, [10, 50], momentum=0, budget=budget, n_train=1000, batch_margin=0.5
        ).recommended.batch_size
        == 50
    )
    noisy = advisor.predict(
        (0.01,) * 3,
        (1.0,) * 3,
        [10, 20, 50],
        momentum=0,
        budget=budget,
        n_train=1000,
        batch_margin=0.5,
        noise_scale=240,
    )
    assert noisy.recommended.batch_size == 20  # min(B*/2 = 50, B_simple/8 = 30) limits B
    assert (
        advisor.predict(
            (0.01,) * 3, (0.05,) * 3, [10, 50], momentum=0, budget=budget, n_train=1000
        ).recommended.batch_size
        == 10
    )


def test_pooled_noise_scale_is_the_ratio_of_pooled_means():
    assert advisor.pooled_noise_scale([(2.0, 1.0), (4.0, 3.0)]) == pytest.approx(6.0 / 4.0)
    assert advisor.pooled_noise_scale([(5.0, 0.01)]) == pytest.approx(500.0)
    assert advisor.pooled_noise_scale([(1.0, -1.0), (1.0, 0.5)]) == math.inf  # pooled |G|² ≤ 0: no signal
    with pytest.raises(ValueError, match="at least one reading"):
        advisor.pooled_noise_scale([])


def test_pooled_noise_scale_recovers_the_closed_form_where_single_readings_scatter():
    """Per-example gradients g ~ N(G, Σ) with tr Σ/|G|² = 400 in closed form; each reading is the unbiased pair
    (tr Σ̂, |ḡ|² − tr Σ̂/n) from n = 64 examples, as ``instruments.minibatch_gradient_noise`` computes it."""
    g = torch.Generator().manual_seed(0)
    dim, n, readings = 50, 64, 4000
    mean = torch.zeros(dim, dtype=torch.float64)
    mean[0] = 0.5  # |G|² = 0.25
    scale = math.sqrt(100.0 / dim)  # tr Σ = 100, isotropic
    parts = []
    for _ in range(readings):
        sample = mean + scale * torch.randn(n, dim, generator=g, dtype=torch.float64)
        trace = float(sample.var(dim=0, unbiased=True).sum())
        parts.append((trace, float(sample.mean(0).square().sum()) - trace / n))
    assert advisor.pooled_noise_scale(parts) == pytest.approx(400.0, rel=0.08)  # 4 standard errors
    singles = [trace / g2 if g2 > 0 else math.inf for trace, g2 in parts]
    assert max(singles) > 4 * 400.0 and min(singles) < 400.0 / 2  # one reading alone is off by > ×2


def test_the_scan_extends_past_an_edge_and_stops_at_an_interior_optimum():
    import numpy as np

    assert advisor.next_exponent([-1, 0, 1], np.array([1.0, 2.0, 3.0])) == 2
    assert advisor.next_exponent([-2, -1, 0, 1], np.array([4.0, 3.0, 2.0, 1.0])) == -3
    assert advisor.next_exponent([-1, 0, 1], np.array([1.0, 3.0, 2.0])) is None  # interior: done
    assert advisor.next_exponent([-1, 0, 1, 2], np.array([1, 2, 3, -np.inf])) is None  # bracketed by divergence
    assert advisor.next_exponent([-1, 0, 1], np.full(3, -np.inf)) == -2  # every run diverged: lower


def test_ceiling_takes_the_smaller_bound_but_never_less_than_the_scan_measured():
    t = (0.01, 0.005, 0.02)
    low_k, high_k = advisor.CURVATURE_FACTOR_RANGE
    r = advisor.NOISE_CEILING_RANGE
    # the curvature bound κ·ε_stab = 2 binds (noise bound T·B_noise = 0.01·1000 = 10)
    assert advisor.ceiling(t, 1.0, 1000.0, 16) == pytest.approx(
        (2.0, min(low_k, 0.005 * 1000 / r), min(high_k, 0.02 * 1000 * r))
    )
    # the noise bound binds: T·B_noise = 0.01·50 = 0.5 < 2
    assert advisor.ceiling(t, 1.0, 50.0, 16) == pytest.approx((0.5, 0.005 * 50 / r, min(high_k, 0.02 * 50 * r)))
    # both bounds below the scan's own optimum T·B₀ = 0.01·64 = 0.64: the measurement wins, B* = B₀
    assert advisor.ceiling(t, 0.1, 20.0, 64) == pytest.approx((0.64, 0.005 * 64, 0.02 * 64))
    assert advisor.ceiling(t, 1.0, math.inf, 16)[0] == pytest.approx(2.0)  # no noise bound
    with pytest.raises(ValueError, match="noise_scale"):
        advisor.ceiling(t, 1.0, -3.0, 16)


def test_predict_refuses_an_interval_that_misses_its_value():
    with pytest.raises(ValueError, match="interval must contain"):
        advisor.predict(
            (0.01, 0.02, 0.03), (1.0, 0.5, 2.0), [10], momentum=0.0, budget=advisor.Budget(steps=10), n_train=100
        )


def test_budget_steps_and_sweep_cost_arithmetic():
    epochs, steps = advisor.Budget(epochs=2), advisor.Budget(steps=30)
    assert epochs.steps_at(10, 100) == 20 and epochs.steps_at(10, 100, 0.25) == 5 and steps.steps_at(64, 100) == 30
    cost, description = advisor.sweep_cost([50, 10], epochs, 100, grid_points=7, seeds=4)
    assert cost == (20 * 10 + 4 * 50) * 7 * 4  # every B × 7 ε × 4 seeds, each run 2 epochs = 200 examples
    assert "2 batch sizes × 7 learning rates × 4 seeds" in description
    assert advisor.sweep_cost([10, 50], steps, 100, grid_points=2, seeds=1)[0] == 30 * 60 * 2
    with pytest.raises(ValueError, match="exactly one budget"):
        advisor.Budget(epochs=1, steps=1)


def _problem(n=192, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n + 128, 6, generator=g)
    y = (x[:, 0] - x[:, 1] + 0.3 * torch.randn(n + 128, generator=g) > 0).long()
    return {
        "model_factory": lambda: nn.Linear(6, 2),
        "loss_fn": nn.CrossEntropyLoss(),
        "train": (x[:n], y[:n]),
        "validation": (x[n:], y[n:]),
    }


FAST = {"pilot_seeds": 1, "noise_examples": 64, "curvature_examples": 64, "show_progress": False, "device": "cpu"}


def test_advise_end_to_end_on_logistic_regression_is_deterministic_and_consistent():
    state = torch.random.get_rng_state()
    advice = advisor.advise_problem(
        _problem(), budget_epochs=4, candidate_batch_sizes=[8, 16, 32, 64], momentum=0.5, **FAST
    )
    assert torch.equal(torch.random.get_rng_state(), state)  # the global random state is left alone
    pilot, p = advice.pilot, advice.prediction
    assert pilot.batch_size in (8, 16, 32, 64) and pilot.steps_per_run == round(4 * 0.5 * 192 / pilot.batch_size)
    assert pilot.stability_lr_eff == pytest.approx(2 / pilot.max_eigenvalue_init * 1.5 / 0.5)  # 2(1+m)/((1−m)λ)
    scanned = sorted({r.lr_eff for r in pilot.runs})
    assert scanned[0] <= pilot.lr_eff_opt <= scanned[-1] and len(scanned) >= advisor.SCAN_POINTS
    assert all(b / a == pytest.approx(2.0) for a, b in itertools.pairwise(scanned))
    assert p.temperature == pytest.approx(pilot.lr_eff_opt * 0.5**advisor.BUDGET_EXPONENT / pilot.batch_size)
    read = [r for r in pilot.runs if r.noise_end is not None]
    assert read and all(0.5 <= r.lr_eff / pilot.lr_eff_opt <= 2.0 and r.seed == 0 for r in read)
    assert pilot.noise_scale_end == pytest.approx(advisor.pooled_noise_scale([r.noise_end for r in read]))
    assert sum(r.noise_middle is not None for r in pilot.runs) == 1  # the first run to finish, for the trajectory
    assert len(pilot.noise_trajectory()) == 3
    expected = max(
        min(advisor.CURVATURE_FACTOR * pilot.stability_lr_eff, p.temperature * pilot.noise_scale_end),
        p.temperature * pilot.batch_size,
    )
    assert p.max_lr_eff == pytest.approx(expected)
    assert p.critical_batch_size == pytest.approx(p.max_lr_eff / p.temperature)
    assert advice.batch_size == p.recommended.batch_size and advice.lr == pytest.approx(advice.lr_eff * 0.5)
    assert advice.cost_fraction == pytest.approx(advice.pilot_cost / advice.sweep_cost)
    assert 0 < advice.cost_fraction < 1
    document = json.loads(json.dumps(advice.to_dict(), allow_nan=False))
    assert document["batch_size"] == advice.batch_size and len(document["prediction"]["batches"]) == 4
    again = advisor.advise_problem(
        _problem(), budget_epochs=4, candidate_batch_sizes=[8, 16, 32, 64], momentum=0.5, **FAST
    )
    assert again.to_dict() == advice.to_dict()


def test_the_pilot_batch_leaves_the_scan_enough_updates():
    """Random labels: G ≈ 0 at init, so B_simple(init)/2 exceeds every candidate; B = 64 would give the scan
    0.5·2·192/64 = 3 updates, so the pilot takes the largest candidate with at least MIN_PILOT_STEPS."""
    problem = _problem() | {"train": (_problem()["train"][0], torch.randint(0, 2, (192,), generator=torch.Generator()))}
    advice = advisor.advise_problem(problem, budget_epochs=2, candidate_batch_sizes=[8, 16, 64], momentum=0.0, **FAST)
    assert advice.pilot.noise_scale_simple_init > 2 * 64
    assert advice.pilot.batch_size == 16 and advice.pilot.steps_per_run == 12


def test_the_progress_bar_counts_scan_runs_without_a_total_that_grows(capsys):
    """The bar's total grew each time the adaptive scan extended; it now counts runs and says the scan adapts."""
    advice = advisor.advise_problem(
        _problem(n=64), budget_epochs=4, candidate_batch_sizes=[8], **(FAST | {"show_progress": True})
    )
    shown = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert f"advisor pilot scan at B = 8 (adaptive: {advisor.SCAN_POINTS} to {advisor.MAX_SCAN_POINTS}" in shown
    assert f"rates): {len(advice.pilot.runs)}run [" in shown and re.search(r"\d/\d", shown) is None  # no n/total


def test_train_run_matches_a_plain_sgd_loop():
    problem = advisor.Problem.coerce(_problem(n=64))
    model, score = advisor.train_run(
        problem, batch_size=16, lr_eff=0.4, momentum=0.5, steps=6, seed=3, device=torch.device("cpu")
    )
    with torch.random.fork_rng():
        torch.manual_seed(3)
        reference = nn.Linear(6, 2)
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.2, momentum=0.5)
    generator = torch.Generator().manual_seed(3 + 1_000_003)
    x, y = problem.train
    for step in range(6):  # 4 batches of 16 per permutation of the 64 examples: step 4 draws a new one
        if step % 4 == 0:
            order = torch.randperm(64, generator=generator)
        index = order[(step % 4) * 16 : (step % 4 + 1) * 16]
        for group in optimizer.param_groups:
            group["lr"] = StepDecay(0.2)(step / 6)
        optimizer.zero_grad()
        nn.functional.cross_entropy(reference(x[index]), y[index]).backward()
        optimizer.step()
    assert torch.allclose(model.weight, reference.weight, atol=1e-6) and torch.allclose(
        model.bias, reference.bias, atol=1e-6
    )
    assert 0.0 <= score <= 1.0


def test_bad_inputs_are_one_clear_value_error():
    problem = _problem(n=64)
    with pytest.raises(ValueError, match="too small for a pilot"):
        advisor.advise_problem(problem, budget_steps=4, candidate_batch_sizes=[8, 16], **FAST)
    with pytest.raises(ValueError, match="smaller than the largest candidate batch size 128"):
        advisor.advise_problem(problem, budget_epochs=2, candidate_batch_sizes=[8, 128], **FAST)
    with pytest.raises(ValueError, match="momentum"):
        advisor.advise_problem(problem, budget_epochs=2, momentum=1.0, **FAST)
    with pytest.raises(ValueError, match="exactly one budget"):
        advisor.advise_problem(problem, **FAST)
    with pytest.raises(TypeError, match=r"train must be a pair \(x, y\), got list"):
        advisor.advise_problem(problem | {"train": [1, 2, 3]}, budget_epochs=2, **FAST)
    with pytest.raises(ValueError, match="keys model_factory"):
        advisor.advise_problem({"model_factory": nn.Linear}, budget_epochs=2, **FAST)
    with pytest.raises(ValueError, match=r"the model \(Flatten\) has no trainable parameters"):  # was 'StopIteration:'
        advisor.advise_problem(problem | {"model_factory": nn.Flatten}, budget_epochs=2, **FAST)


def _regression(n=64):
    problem = _problem(n=n)
    (x, _), (xv, _) = problem["train"], problem["validation"]
    return problem | {"model_factory": lambda: nn.Linear(6, 1), "loss_fn": nn.MSELoss(), "train": (x, x[:, :1]),
                      "validation": (xv, xv[:, :1])}  # fmt: skip


def test_accuracy_on_regression_targets_or_outputs_is_refused():
    """Accuracy (argmax of the last axis against y) scored 0 at every run on a regression problem."""
    with pytest.raises(ValueError, match=r"'accuracy' needs integer class-index targets y .* objective='loss'"):
        advisor.advise_problem(_regression(), budget_epochs=2, **FAST)
    advice = advisor.advise_problem(
        _regression() | {"objective": "loss"}, budget_epochs=4, candidate_batch_sizes=[8], **FAST
    )
    assert all(r.score is None or r.score > 0 for r in advice.pilot.runs)  # validation losses
    column = _problem(n=64)  # integer targets of shape [N, 1] against an output [N, 2]
    column |= {key: (column[key][0], column[key][1][:, None]) for key in ("train", "validation")}
    with pytest.raises(ValueError, match=r"one score per class.*got \(2, 2\) for y of shape \(2, 1\)"):
        advisor.advise_problem(column, budget_epochs=2, **FAST)


def test_floating_data_follows_the_model_dtype_and_integer_ids_stay_integer():
    """A float64 model on float32 data gave "mat1 and mat2 must have the same dtype"; the instruments and the
    monitor convert floating data to the model's dtype, so the advisor does too: the same advice as on
    float64 data."""
    problem = _problem(n=64) | {"model_factory": lambda: nn.Linear(6, 2).double()}
    as_double = problem | {key: (problem[key][0].double(), problem[key][1]) for key in ("train", "validation")}
    settings = dict(budget_epochs=4, candidate_batch_sizes=[8], **FAST)
    assert (
        advisor.advise_problem(problem, **settings).to_dict() == advisor.advise_problem(as_double, **settings).to_dict()
    )
    tokens = (torch.tensor([[1, 2], [3, 4]]), torch.tensor([0.5, 1.5]))
    x, y = advisor.as_model_data(tokens, nn.Embedding(5, 3).double())
    assert x.dtype == torch.int64 and torch.equal(x, tokens[0]) and y.dtype == torch.float64


def test_the_problem_is_checked_at_the_boundary():
    """A model instance as the factory, NaN only in the validation set and numpy data each failed deep inside
    (torch's "forward() missing 1 required positional argument", "the model diverged at every tried learning
    rate", "train must be a pair of tensors (x, y), got tuple"): one error naming the argument, or numpy
    accepted."""
    problem = _problem(n=64)
    with pytest.raises(TypeError, match=r"model_factory must be a callable .* got an nn.Module instance \(Linear\)"):
        advisor.advise_problem(problem | {"model_factory": nn.Linear(6, 2)}, budget_epochs=2, **FAST)
    x, y = problem["validation"]
    with pytest.raises(ValueError, match=r"validation x holds non-finite values \(NaN or inf\)"):
        advisor.advise_problem(problem | {"validation": (x.masked_fill(x > 2, math.nan), y)}, budget_epochs=2, **FAST)
    with pytest.raises(ValueError, match="train x holds non-finite"):
        advisor.Problem.coerce(problem | {"train": (problem["train"][0] * math.inf, problem["train"][1])})
    with pytest.raises(
        TypeError, match=r"train must be a pair \(x, y\) of torch tensors or numpy arrays, got \(list, "
    ):
        advisor.Problem.coerce(problem | {"train": ([[1.0]], problem["train"][1])})
    as_numpy = problem | {key: tuple(t.numpy() for t in problem[key]) for key in ("train", "validation")}
    settings = dict(budget_epochs=4, candidate_batch_sizes=[8], **FAST)
    assert (
        advisor.advise_problem(as_numpy, **settings).to_dict() == advisor.advise_problem(problem, **settings).to_dict()
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"pilot_fraction": 0.0}, r"pilot_fraction must lie in \(0, 1\]"),
        ({"pilot_fraction": 1.5}, r"pilot_fraction must lie in \(0, 1\]"),
        ({"pilot_fraction": "half"}, r"pilot_fraction must lie in \(0, 1\]"),
        ({"pilot_seeds": 0}, "pilot_seeds must be a positive integer"),
        ({"noise_examples": 1}, "noise_examples must be an integer >= 2"),
        ({"curvature_examples": 2.5}, "curvature_examples must be a positive integer"),
    ],
)
def test_pilot_settings_are_checked_where_they_are_made(settings, message):
    with pytest.raises(ValueError, match=message):
        advisor.PilotSettings(**settings)
    with pytest.raises(ValueError, match=message):
        advisor.advise_problem(_problem(n=64), budget_epochs=2, **(FAST | settings))


def test_a_model_that_diverges_at_every_learning_rate_is_one_line():
    built = []

    class Poisoned(nn.Linear):
        """Healthy for the measurements at init (the first model built); every trained model goes NaN after
        its first update."""

        def forward(self, x):
            self.calls = getattr(self, "calls", 0) + 1
            out = super().forward(x)
            return out * math.nan if self.poisoned and self.calls > 1 else out

    def factory():
        model = Poisoned(6, 2)
        model.poisoned = bool(built)
        built.append(model)
        return model

    problem = _problem(n=64) | {"model_factory": factory}
    with pytest.raises(ValueError, match="diverged at every tried learning rate"):
        advisor.advise_problem(problem, budget_epochs=4, candidate_batch_sizes=[8, 16], **FAST)
    assert len(built) == 2 + advisor.MAX_SCAN_POINTS  # the pilot's model, one to check it is new, the scan


PROBLEM_MODULE = """
import torch
from torch import nn
from torch.nn import functional as F


def problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 6, generator=g)
    y = (x[:, 0] > 0).long()
    return {"model_factory": lambda: nn.Linear(6, 2), "loss_fn": nn.CrossEntropyLoss(),
            "train": (x[:192], y[:192]), "validation": (x[192:], y[192:])}


def not_a_problem():
    return 3


def needs_arg(x):
    return problem()


def detached_loss():
    return problem() | {"loss_fn": lambda out, y: nn.functional.cross_entropy(out.detach(), y)}


def cannot_read_its_data():
    raise FileNotFoundError("[Errno 2] No such file or directory: 'train.npz'")


class RunsOutOfMemory(nn.Linear):
    calls = 0

    def forward(self, x):
        RunsOutOfMemory.calls += 1
        if RunsOutOfMemory.calls > 20:
            raise RuntimeError("CUDA out of memory (simulated)")
        return super().forward(x)


def forward_fails_later():
    return problem() | {"model_factory": lambda: RunsOutOfMemory(6, 2)}


def broken_factory():
    built = []

    def factory():
        built.append(1)
        if len(built) > 2:
            raise ValueError("factory broke")
        return nn.Linear(6, 2)

    return problem() | {"model_factory": factory}


def nan_validation():
    p = problem()
    x, y = p["validation"]
    p["validation"] = (x * float("nan"), y)
    return p


def double_model():
    return problem() | {"model_factory": lambda: nn.Linear(6, 2).double()}


SHARED = nn.Linear(6, 2)


def shared_model():  # every scan run would continue the last one's training
    return problem() | {"model_factory": lambda: SHARED}


def returns_none():
    return problem() | {"model_factory": lambda: None}


class Scores(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 2)

    def forward(self, x):
        return {"logits": self.linear(x)}


def dict_output():
    return problem() | {"model_factory": Scores}


def narrow_validation():
    p = problem()
    x, y = p["validation"]
    p["validation"] = (x[:, :4], y)
    return p


def label_out_of_range():
    p = problem()
    x, y = p["train"]
    p["train"] = (x, y + 5)
    return p


def broadcast_regression():  # MSE of a (n, 1) output against (n,) targets: torch averages all n² pairs
    p = problem()
    (x, y), (xv, yv) = p["train"], p["validation"]
    return p | {
        "model_factory": lambda: nn.Linear(6, 1),
        "loss_fn": nn.MSELoss(),
        "train": (x, y.float()),
        "validation": (xv, yv.float()),
        "objective": "loss",
    }
"""


@pytest.mark.parametrize("function", ["problem", "double_model"])
def test_cli_advise_prints_the_recommendation_and_writes_json_and_figure(tmp_path, monkeypatch, function):
    (tmp_path / "tiny_problem.py").write_text(textwrap.dedent(PROBLEM_MODULE))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main,
        [
            "advise",
            f"tiny_problem:{function}",
            "--budget-epochs",
            "4",
            "--batch-sizes",
            "8,16,32",
            "--quiet",
            "--out",
            "out",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "recommendation for 4 epochs: batch size" in result.output and "critical batch size B* =" in result.output
    document = json.loads((tmp_path / "out" / "advice.json").read_text())
    assert document["batch_size"] in (8, 16, 32) and 0 < document["cost_fraction"] < 1
    assert (tmp_path / "out" / "advice.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["missing_module:problem", "--budget-epochs", "2"], "cannot load missing_module:problem"),
        (["tiny_problem", "--budget-epochs", "2"], "FUNCTION must be MODULE:NAME"),
        (["tiny_problem:problem"], "Error: give exactly one budget: --budget-epochs or --budget-steps"),
        (["tiny_problem:problem", "--budget-epochs", "-1"], "Error: --budget-epochs must be a finite number > 0"),
        (["tiny_problem:problem", "--budget-steps", "0"], "Error: --budget-steps must be a positive integer"),
        (["tiny_problem:problem", "--budget-epochs", "2", "--batch-sizes", "8,512"], "smaller than the largest"),
        (["tiny_problem:problem", "--budget-epochs", "2", "--batch-sizes", "8,x"], "--batch-sizes must be integers"),
        (["tiny_problem:not_a_problem", "--budget-epochs", "2"], "expected an advisor.Problem"),
        (
            ["tiny_problem:needs_arg", "--budget-epochs", "2"],
            "tiny_problem:needs_arg must be callable with no arguments",
        ),
        (["builtins:dict", "--budget-epochs", "2"], "a problem needs the keys"),  # no signature to read: called
        (["tiny_problem:nan_validation", "--budget-epochs", "2"], "validation x holds non-finite values"),
        (["tiny_problem:shared_model", "--budget-epochs", "2"], "model_factory must build a new module"),
        (["tiny_problem:returns_none", "--budget-epochs", "2"], "model_factory must return an nn.Module, got NoneType"),
        (["tiny_problem:dict_output", "--budget-epochs", "2"], "wrap it to return model(x).logits"),
        (["tiny_problem:narrow_validation", "--budget-epochs", "2"], "fail on two validation examples"),
        (["tiny_problem:label_out_of_range", "--budget-epochs", "2"], "training y holds labels from 5 to 6"),
        (["tiny_problem:detached_loss", "--budget-epochs", "2"], "loss does not depend on the model's parameters"),
        (["tiny_problem:broadcast_regression", "--budget-epochs", "2"], "output of shape (2, 1) against training"),
        (["tiny_problem.py:problem", "--budget-epochs", "2"], "not its file: tiny_problem:problem"),
    ],
)
def test_cli_advise_user_mistakes_are_one_line(tmp_path, monkeypatch, arguments, message):
    (tmp_path / "tiny_problem.py").write_text(textwrap.dedent(PROBLEM_MODULE))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["advise", *arguments, "--quiet"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and message in result.output and "Traceback" not in result.output


def test_cli_advise_an_error_in_the_users_problem_function_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "tiny_problem.py").write_text(textwrap.dedent(PROBLEM_MODULE))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["advise", "tiny_problem:cannot_read_its_data", "--budget-epochs", "2"])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "Traceback" not in result.output
    assert result.output.startswith(
        "Error in your code: tiny_problem:cannot_read_its_data() raised FileNotFoundError: [Errno 2] No such file "
        "or directory: 'train.npz' (sgdnoise --debug advise ... shows the traceback)"
    )


@pytest.mark.parametrize(
    ("function", "raising", "where"),
    [
        ("forward_fails_later", "raise RuntimeError", "in forward raised RuntimeError: CUDA out of memory (simulated)"),
        ("broken_factory", 'raise ValueError("factory', "in factory raised ValueError: factory broke"),
    ],
)
def test_cli_advise_an_error_in_the_users_model_during_the_pilot_says_where(
    tmp_path, monkeypatch, function, raising, where
):
    """Before: a 30-line traceback through sgdnoise (RuntimeError), or "Error: factory broke" as if it were a
    mistake in the command (ValueError)."""
    text = textwrap.dedent(PROBLEM_MODULE)
    (tmp_path / "tiny_problem.py").write_text(text)
    line = next(number for number, row in enumerate(text.splitlines(), start=1) if raising in row)
    where = f"tiny_problem.py:{line} {where}"
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["advise", f"tiny_problem:{function}", "--budget-epochs", "2", "--quiet"])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"Error in your code: {where} (sgdnoise --debug advise ... shows the traceback)")


def test_cli_advise_checks_its_flags_before_the_users_code_runs(tmp_path, monkeypatch):
    (tmp_path / "loud_problem.py").write_text("def problem():\n    raise SystemExit('the problem ran')\n")
    monkeypatch.chdir(tmp_path)
    for flags, message in [
        (["--momentum", "1"], "Error: --momentum must be a number in [0, 1), got 1.0"),
        (["--batch-sizes", "8,x"], "--batch-sizes must be integers"),
        (["--seed", str(2**64)], "Invalid value for '--seed'"),
    ]:
        result = CliRunner().invoke(main, ["advise", "loud_problem:problem", "--budget-epochs", "2", *flags])
        assert result.exit_code == 2 and message in result.output and "the problem ran" not in result.output


def test_cli_advise_checks_out_before_loading_the_problem(tmp_path):
    (tmp_path / "file").write_text("")
    blocked = tmp_path / "file" / "advice"
    arguments = ["advise", "no_such_module:problem", "--budget-epochs", "2", "--out", str(blocked), "--quiet"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2
    assert result.output == f"Error: cannot write to the output directory '{blocked}': Not a directory\n"


def test_an_optimum_left_at_the_scan_edge_makes_the_advice_inconclusive():
    from sgdnoise.advisor.advice import _edge_note

    runs = tuple(advisor.ScanRun(lr, 0, score, (10.0, 1.0)) for lr, score in ((0.1, 0.5), (0.2, 0.6), (0.4, 0.7)))
    fields = dict(
        batch_size=16, steps_per_run=10, noise_scale_simple_init=5.0, max_eigenvalue_init=1.0, critical_lr=2.0,
        stability_lr_eff=2.0, runs=runs, lr_eff_opt=0.4, lr_eff_low=0.2, lr_eff_high=0.8, budget_fraction=0.5,
        cost_passes=1.0,
    )  # fmt: skip
    note = _edge_note(advisor.Pilot(at_edge=True, **fields))
    assert note is not None and "highest tried value (0.4, 3 points from 0.1 to 0.4" in note and "bounds" in note
    assert _edge_note(advisor.Pilot(at_edge=False, **fields)) is None
    assert advisor.Pilot(at_edge=False, **fields).noise_scale_end == pytest.approx(10.0)  # 30/3


def test_cli_advise_interrupted_says_the_pilot_starts_over(tmp_path, monkeypatch):
    # the pilot keeps nothing until it ends: the resume hint of `reproduce` would promise what is not there
    (tmp_path / "tiny_problem.py").write_text(textwrap.dedent(PROBLEM_MODULE))
    monkeypatch.chdir(tmp_path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(advisor, "advise_problem", interrupted)
    result = CliRunner().invoke(main, ["advise", "tiny_problem:problem", "--budget-epochs", "2", "--quiet"])
    assert result.exit_code == 130
    assert "the pilot keeps no partial results" in result.output and "resume" not in result.output


class TwoHeads(nn.Module):
    """Returns (logits, auxiliary), as many models do; the loss unpacks it."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 2)

    def forward(self, x):
        return self.linear(x), x.mean()


def test_a_tuple_output_under_the_loss_objective_runs_the_pilot(tmp_path):
    """Before: AttributeError "'tuple' object has no attribute 'dim'" after the first scan run."""
    problem = _problem() | {"model_factory": TwoHeads, "loss_fn": lambda out, t: F.cross_entropy(out[0], t)}
    advice = advisor.advise_problem(
        problem | {"objective": "loss"}, budget_epochs=2, candidate_batch_sizes=[8, 16], **FAST
    )
    assert advice.batch_size in (8, 16)
    assert advisor.plot_advice(advice, str(tmp_path / "advice.png")).stat().st_size > 0  # a str path: was an error
    with pytest.raises(ValueError, match="a figure's path names its file with a suffix"):
        advisor.plot_advice(advice, tmp_path)


def test_the_pilot_leaves_torchs_random_state_and_its_runs_as_they_were_with_dropout():
    """Before: the B_simple reading re-estimated batch norm through dropout with no batch norm there, advancing
    torch's generator, and a reading in the middle of a scan run changed that run's later dropout masks."""
    from sgdnoise.advisor.pilot import _noise_parts, _subset
    from sgdnoise.advisor.training import train_run

    def factory():
        return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))

    problem = advisor.Problem.coerce(_problem() | {"model_factory": factory})
    torch.manual_seed(7)
    state = torch.get_rng_state()
    advisor.advise_problem(problem, budget_epochs=2, candidate_batch_sizes=[8, 16], **FAST)
    assert torch.equal(torch.get_rng_state(), state)
    subset = _subset(problem.train, 64, 0)
    settings = dict(batch_size=8, lr_eff=0.5, momentum=0.9, steps=24, seed=0, device=torch.device("cpu"))
    plain, _ = train_run(problem, **settings)
    probed, _ = train_run(problem, **settings, probe=lambda m: _noise_parts(m, problem, subset), probe_steps=[12])
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), probed.parameters(), strict=True))


@pytest.mark.parametrize("seed", [1.5, "0", None, -1, 2**64 - 1, True])
def test_a_seed_that_is_not_a_small_integer_is_one_value_error(seed):
    """Before: torch's RuntimeError, TypeError or overflow from inside the pilot."""
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*32\)"):
        advisor.advise_problem(_problem(), budget_epochs=2, seed=seed, **FAST)
    with pytest.raises(ValueError, match="the objective is the problem's"):
        advisor.advise_problem(_problem(), budget_epochs=2, objective="loss", **FAST)
