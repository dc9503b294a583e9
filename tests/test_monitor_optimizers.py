"""NoiseMonitor reads its optimizer's update rule: Nesterov's stability threshold, and Adam's preconditioned
sharpness over the parameters Adam has stepped."""

import csv
import warnings

import numpy as np
import pytest
import torch
from architectures import WithUnused, exact_hessian
from torch import nn

from sgdnoise.monitor import NoiseMonitor
from sgdnoise.theory import (
    heavy_ball_stability_learning_rate,
    nesterov_stability_learning_rate,
    sgd_stability_learning_rate,
)


def nesterov_iteration(lam: float, lr: float, momentum: float) -> np.ndarray:
    """(w, v) ← M (w, v) for torch's Nesterov step v ← m·v + λw, w ← w − ε(λw + m·v) on the loss λw²/2."""
    h = lr * lam
    return np.array([[1 - h * (1 + momentum), -lr * momentum**2], [lam, momentum]])


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9, 0.99])
def test_nesterov_stability_learning_rate_is_where_torchs_nesterov_iteration_leaves_the_unit_circle(momentum):
    lam = 5.0
    bound = nesterov_stability_learning_rate(lam, momentum)
    assert bound == pytest.approx(2 * (1 + momentum) / ((1 + 2 * momentum) * lam), rel=1e-15)
    for factor, stable in ((0.999, True), (1.001, False)):
        iteration = nesterov_iteration(lam, factor * bound, momentum)
        radius = np.abs(np.linalg.eigvals(iteration)).max()
        assert (radius < 1) == stable, (momentum, factor, radius)
        w = nn.Parameter(torch.tensor(1.0, dtype=torch.float64))  # the matrix is torch's step
        sgd = torch.optim.SGD([w], lr=factor * bound, momentum=momentum, nesterov=momentum > 0)
        state = np.array([1.0, 0.0])
        for _ in range(5):
            sgd.zero_grad()
            (0.5 * lam * w**2).backward()
            sgd.step()
            state = iteration @ state
            assert w.item() == pytest.approx(state[0], rel=1e-12, abs=1e-15)


def test_nesterov_stability_learning_rate_is_vectorised_and_checked():
    np.testing.assert_allclose(nesterov_stability_learning_rate(np.array([1.0, 4.0]), 0.9), [3.8 / 2.8, 0.95 / 2.8])
    assert nesterov_stability_learning_rate(2.0) == heavy_ball_stability_learning_rate(2.0) == 1.0
    assert sgd_stability_learning_rate(4.0, 0.9, nesterov=True) == nesterov_stability_learning_rate(4.0, 0.9)
    assert sgd_stability_learning_rate(4.0, 0.9) == heavy_ball_stability_learning_rate(4.0, 0.9)
    with pytest.raises(ValueError, match="momentum"):
        nesterov_stability_learning_rate(1.0, 1.0)


def least_squares(n: int = 8):
    """Linear regression with the mean squared error: a quadratic of Hessian H = 2XᵀX/n."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64) + 0.3 * torch.randn(n, 1, generator=gen)
    torch.manual_seed(0)
    lam = torch.linalg.eigvalsh(2 * x.T @ x / n)[-1].item()
    return nn.Linear(3, 1, bias=False, dtype=torch.float64), nn.MSELoss(), x, y, lam


def test_the_monitor_holds_sgd_with_nesterov_to_nesterovs_threshold(tmp_path):
    """At ε = 0.9·2(1 + m)/((1 + 2m)λ_max), m = 0.9, Nesterov is near divergence; heavy ball's 2(1 + m)/ε would
    put it at 0.9/2.8 = 0.32 of its threshold, "intermediate"."""
    model, loss_fn, x, y, lam = least_squares()
    momentum = 0.9
    lr = 0.9 * 2 * (1 + momentum) / ((1 + 2 * momentum) * lam)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=True)
    log = tmp_path / "monitor.csv"
    monitor = NoiseMonitor(model, loss_fn, train_size=64, optimizer=optimizer, every=1, log_path=log)
    record = monitor.step(x, y)
    assert record.nesterov and record.max_eigenvalue == pytest.approx(lam, rel=1e-6)
    assert record.stability_threshold == pytest.approx(2 * (1 + momentum) / ((1 + 2 * momentum) * lr), rel=1e-6)
    assert record.curvature_ratio == pytest.approx(0.9, rel=1e-6)
    assert record.regime == "curvature-dominated" and "ε near Nesterov's stability bound" in record.verdict
    assert "Nesterov's threshold 2(1+m)/((1+2m)ε)=" in record.verdict
    assert record.temperature == pytest.approx(lr / (8 * (1 - momentum)), rel=1e-12)  # ε/(1 − m) as heavy ball
    with log.open() as f:
        assert next(csv.DictReader(f))["nesterov"] == "True"
    assert monitor.plot(tmp_path / "monitor.png").stat().st_size > 0


def train_steps(model: nn.Module, optimizer: torch.optim.Optimizer, monitor: NoiseMonitor, x, y, steps: int = 3):
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
        record = monitor.step(x, y)
    return record


def preconditioned_sharpness(hessian: torch.Tensor, optimizer: torch.optim.Optimizer, params, t: int) -> float:
    """Brute force: λ_max(P⁻¹H) with P = √(v/(1 − β₂^t)) + ε from the optimizer's state, in ``params`` order."""
    beta2, eps = optimizer.param_groups[0]["betas"][1], optimizer.param_groups[0]["eps"]
    p = torch.cat([(optimizer.state[q]["exp_avg_sq"] / (1 - beta2**t)).sqrt().reshape(-1) + eps for q in params])
    return torch.linalg.eigvals(hessian / p[:, None]).real.max().item()


def classification(n: int = 8):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    gen = torch.Generator().manual_seed(1)
    return net, torch.randn(n, 4, generator=gen, dtype=torch.float64), torch.randint(0, 3, (n,), generator=gen)


def test_adam_with_a_parameter_that_never_gets_a_gradient_measures_the_rest():
    """An unused pooler has no Adam state and never moves: λ_max(P⁻¹H) is that of the model without it."""
    net, x, y = classification()
    model = WithUnused(net)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    monitor = NoiseMonitor(model, nn.CrossEntropyLoss(), optimizer=optimizer, every=1, curvature_every=1)
    record = train_steps(model, optimizer, monitor, x, y)
    assert model.unused.weight not in optimizer.state
    assert model.unused.weight.requires_grad and model.unused.bias.requires_grad  # held fixed only while measuring
    hessian = exact_hessian(net, nn.CrossEntropyLoss(), x, y)
    lam = preconditioned_sharpness(hessian, optimizer, list(net.parameters()), t=3)
    assert record.max_eigenvalue == pytest.approx(lam, rel=1e-3)
    assert record.curvature_ratio == pytest.approx(lam * 0.01 / 38, rel=1e-3)
    assert "λ_max(P⁻¹H)/threshold=" in record.verdict


def test_adam_on_the_head_alone_measures_the_heads_block_of_the_hessian():
    """Fine-tuning the head with the body still trainable: Adam never steps the body, so the preconditioned
    sharpness is that of the head's block, P_head⁻¹H_head,head."""
    model, x, y = classification()
    head = list(model[2].parameters())
    optimizer = torch.optim.Adam(head, lr=0.01)
    monitor = NoiseMonitor(model, nn.CrossEntropyLoss(), optimizer=optimizer, every=1, curvature_every=1)
    record = train_steps(model, optimizer, monitor, x, y)
    head_size = sum(p.numel() for p in head)
    hessian = exact_hessian(model, nn.CrossEntropyLoss(), x, y)[-head_size:, -head_size:]
    assert record.max_eigenvalue == pytest.approx(preconditioned_sharpness(hessian, optimizer, head, t=3), rel=1e-3)


def test_sgd_on_the_head_alone_measures_the_heads_block_of_the_hessian():
    """SGD never moves parameters it does not hold, trainable or not: λ_max is that of the head's block."""
    model, x, y = classification()
    head = list(model[2].parameters())
    optimizer = torch.optim.SGD(head, lr=0.1, momentum=0.9)
    monitor = NoiseMonitor(model, nn.CrossEntropyLoss(), optimizer=optimizer, every=1, curvature_every=1)
    record = train_steps(model, optimizer, monitor, x, y, steps=2)
    head_size = sum(p.numel() for p in head)
    hessian = exact_hessian(model, nn.CrossEntropyLoss(), x, y)
    assert record.max_eigenvalue == pytest.approx(
        torch.linalg.eigvalsh(hessian[-head_size:, -head_size:])[-1].item(), rel=1e-4
    )
    assert record.max_eigenvalue < torch.linalg.eigvalsh(hessian)[-1].item() * 0.999  # not the whole model's
    assert not record.preconditioned and all(p.requires_grad for p in model.parameters())


class Quadratic(nn.Module):
    """The loss ½ wᵀHw of w = (first, second), two parameters of two coordinates each, whatever the batch."""

    def __init__(self, hessian: torch.Tensor):
        super().__init__()
        self.hessian = hessian
        self.first = nn.Parameter(torch.ones(2, dtype=torch.float64))
        self.second = nn.Parameter(torch.ones(2, dtype=torch.float64))

    def forward(self, x):
        w = torch.cat([self.first, self.second])
        return (0.5 * w @ self.hessian @ w).expand(x.shape[0]) + 0 * x.sum(-1)


def sgd_on_quadratic(hessian: torch.Tensor, second_group: dict, lr: float, momentum: float, steps: int = 3000):
    """(|w| after ``steps`` of torch's SGD, the monitor's record at the start), the second parameter in a group
    with the settings ``second_group``."""
    model = Quadratic(hessian)
    optimizer = torch.optim.SGD(
        [{"params": [model.first]}, {"params": [model.second], **second_group}], lr=lr, momentum=momentum
    )
    monitor = NoiseMonitor(model, lambda out, y: out.mean(), optimizer=optimizer, every=1, curvature_every=1)
    x = torch.zeros(4, 1, dtype=torch.float64)
    record = monitor.step(x, torch.zeros(4, dtype=torch.float64))
    for _ in range(steps):
        optimizer.zero_grad()
        model(x).mean().backward()
        optimizer.step()
    return float(torch.cat([model.first, model.second]).detach().norm()), record


def test_sgd_groups_at_different_learning_rates_measure_the_sharpness_of_d_h():
    """Group ε_i: heavy ball is stable iff λ_max(DH) < 2(1 + m)/ε_0, D = diag(ε_i/ε_0). Checked against the
    real iteration: torch's SGD on the quadratic ½ wᵀHw diverges just above that ε_0 and not just below."""
    torch.manual_seed(0)
    a = torch.randn(6, 4, dtype=torch.float64)
    hessian = a.T @ a / 6 + torch.diag(torch.tensor([0.0, 0.0, 3.0, 0.0], dtype=torch.float64))
    momentum, scale = 0.5, torch.tensor([1.0, 1.0, 0.1, 0.1], dtype=torch.float64)  # second group at ε_0/10
    sharpness = torch.linalg.eigvals(torch.diag(scale) @ hessian).real.max().item()
    limit = 2 * (1 + momentum) / sharpness
    below, record = sgd_on_quadratic(hessian, {"lr": 0.98 * limit / 10}, 0.98 * limit, momentum)
    above, _ = sgd_on_quadratic(hessian, {"lr": 1.02 * limit / 10}, 1.02 * limit, momentum)
    assert below < 1e-3 and above > 1e3
    assert record.preconditioned and record.max_eigenvalue == pytest.approx(sharpness, rel=1e-6)
    assert record.curvature_ratio == pytest.approx(0.98, rel=1e-6)
    assert "λ_max(DH)" in record.verdict
    assert torch.linalg.eigvalsh(hessian)[-1].item() > 1.5 * sharpness  # the plain λ_max would misread it


def test_adam_groups_at_different_learning_rates_scale_each_block_of_p():
    """Adam's step for group i is η_i/(√v̂ + ε): relative to the first group's η, P_i = (√v̂ + ε)·η_0/η_i."""
    model, x, y = classification()
    body, head = list(model[0].parameters()), list(model[2].parameters())
    optimizer = torch.optim.Adam([{"params": body}, {"params": head, "lr": 0.002}], lr=0.01)
    monitor = NoiseMonitor(model, nn.CrossEntropyLoss(), optimizer=optimizer, every=1, curvature_every=1)
    record = train_steps(model, optimizer, monitor, x, y)
    beta2, eps = 0.999, 1e-8
    p = torch.cat(
        [
            ((optimizer.state[q]["exp_avg_sq"] / (1 - beta2**3)).sqrt().reshape(-1) + eps) * ratio
            for q, ratio in [(q, 1.0) for q in body] + [(q, 5.0) for q in head]
        ]
    )
    hessian = exact_hessian(model, nn.CrossEntropyLoss(), x, y)
    assert record.max_eigenvalue == pytest.approx(
        torch.linalg.eigvals(hessian / p[:, None]).real.max().item(), rel=1e-3
    )


def test_groups_that_differ_in_the_update_rule_are_warned_about_once():
    model, _, _ = classification()
    optimizer = torch.optim.SGD(
        [{"params": model[0].parameters()}, {"params": model[2].parameters(), "momentum": 0.5}], lr=0.1, momentum=0.9
    )
    with pytest.warns(UserWarning, match="differ in momentum: .* use the first group's"):
        NoiseMonitor(model, nn.CrossEntropyLoss(), optimizer=optimizer)
    same_rule = torch.optim.SGD(
        [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.01}], lr=0.1, momentum=0.9
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        NoiseMonitor(model, nn.CrossEntropyLoss(), optimizer=same_rule)


def test_step_can_say_nesterov_without_an_optimizer():
    model, loss_fn, x, y, _ = least_squares()
    momentum, lr = 0.9, 0.5
    monitor = NoiseMonitor(model, loss_fn, every=1)
    record = monitor.step(x, y, lr=lr, momentum=momentum, nesterov=True)
    assert record.nesterov and record.stability_threshold == pytest.approx(
        2 * (1 + momentum) / ((1 + 2 * momentum) * lr), rel=1e-9
    )
    assert not monitor.step(x, y, lr=lr, momentum=momentum).nesterov  # heavy ball unless told
    with pytest.raises(ValueError, match="nesterov must be True or False"):
        monitor.step(x, y, lr=lr, nesterov="yes")
    adam = torch.optim.Adam(model.parameters())
    with pytest.raises(ValueError, match="nesterov= is for SGD"):
        NoiseMonitor(model, loss_fn, optimizer=adam, every=1).step(x, y, nesterov=True)


def test_a_compiled_model_is_monitored_like_the_module_it_compiles():
    """Before, the first curvature measurement of a torch.compile'd model raised inside the training loop."""
    records = []
    for compile_it in (False, True):
        model, x, y = classification()
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        trained = torch.compile(model, backend="aot_eager") if compile_it else model
        monitor = NoiseMonitor(trained, nn.CrossEntropyLoss(), optimizer=optimizer, every=1, curvature_every=1)
        records.append(train_steps(trained, optimizer, monitor, x, y))
    plain, compiled = records
    assert compiled.max_eigenvalue == pytest.approx(plain.max_eigenvalue, rel=1e-9)
    assert compiled.covariance_trace == pytest.approx(plain.covariance_trace, rel=1e-9)
    assert compiled.grad_sq_norm == pytest.approx(plain.grad_sq_norm, rel=1e-9)


def test_sgd_weight_decay_is_part_of_the_curvature_the_iteration_meets():
    """torch's SGD adds λθ to the gradient, so it descends ½wᵀHw + ½λ|w|²: with groups at decays λ_i it is
    stable iff λ_max(H + diag(λ_i)) < 2(1 + m)/ε. Checked against the real iteration, as for group ε_i."""
    torch.manual_seed(0)
    a = torch.randn(6, 4, dtype=torch.float64)
    hessian = a.T @ a / 6
    momentum, decays = 0.5, torch.tensor([0.0, 0.0, 4.0, 4.0], dtype=torch.float64)  # only the second group decays
    sharpness = torch.linalg.eigvalsh(hessian + torch.diag(decays))[-1].item()
    limit = 2 * (1 + momentum) / sharpness
    below, record = sgd_on_quadratic(hessian, {"weight_decay": 4.0}, 0.98 * limit, momentum)
    above, _ = sgd_on_quadratic(hessian, {"weight_decay": 4.0}, 1.02 * limit, momentum)
    assert below < 1e-3 and above > 1e3
    assert record.max_eigenvalue == pytest.approx(sharpness, rel=1e-6)
    assert record.curvature_ratio == pytest.approx(0.98, rel=1e-6)
    assert torch.linalg.eigvalsh(hessian)[-1].item() < 0.9 * sharpness  # H alone would misread it


def test_adams_coupled_weight_decay_is_preconditioned_and_adamws_is_left_out():
    """Adam(weight_decay=λ) preconditions ∇L + λθ: λ_max(P⁻¹(H + λI)); AdamW decays θ outside P: λ_max(P⁻¹H)."""
    for optimizer_class, decayed in [(torch.optim.Adam, True), (torch.optim.AdamW, False)]:
        model, x, y = classification()
        optimizer = optimizer_class(model.parameters(), lr=0.01, weight_decay=0.5)
        monitor = NoiseMonitor(model, nn.CrossEntropyLoss(), optimizer=optimizer, every=1, curvature_every=1)
        record = train_steps(model, optimizer, monitor, x, y)
        hessian = exact_hessian(model, nn.CrossEntropyLoss(), x, y)
        if decayed:
            hessian = hessian + 0.5 * torch.eye(hessian.shape[0], dtype=torch.float64)
        lam = preconditioned_sharpness(hessian, optimizer, list(model.parameters()), t=3)
        assert record.max_eigenvalue == pytest.approx(lam, rel=1e-3), optimizer_class.__name__


@pytest.mark.parametrize("case", ["frozen", "lr-zero-group", "adam-unused"])
def test_weight_decay_on_parameters_that_do_not_move_is_left_out(case):
    """Decay given to a frozen parameter, one in a group at ε = 0, or one Adam never stepped is not a Hessian
    coordinate: the reading is that of the moved parameters (before: a ValueError out of ``step``)."""
    net, x, y = classification()
    model = WithUnused(net) if case == "adam-unused" else net
    if case == "frozen":
        net[0].requires_grad_(False)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.5)
    elif case == "lr-zero-group":
        optimizer = torch.optim.SGD(
            [{"params": net[0].parameters(), "lr": 0.0}, {"params": net[2].parameters()}], lr=0.1, weight_decay=0.5
        )
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=0.5)
    monitor = NoiseMonitor(model, nn.CrossEntropyLoss(), optimizer=optimizer, every=1, curvature_every=1)
    record = train_steps(model, optimizer, monitor, x, y)
    hessian = exact_hessian(net, nn.CrossEntropyLoss(), x, y)  # over the trainable parameters
    hessian = hessian + 0.5 * torch.eye(hessian.shape[0], dtype=torch.float64)
    if case == "adam-unused":
        expected = preconditioned_sharpness(hessian, optimizer, list(net.parameters()), t=3)
    else:
        head = sum(p.numel() for p in net[2].parameters())
        expected = torch.linalg.eigvalsh(hessian[-head:, -head:])[-1].item()
    assert record.max_eigenvalue == pytest.approx(expected, rel=1e-3)
