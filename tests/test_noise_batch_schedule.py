"""NoiseScaleBatchSize: the growth rule on scripted B_simple records, the regime's ε rule, growth only,
resumption, argument checks, and a DataLoader loop with a real NoiseMonitor on a tiny model."""

import copy
import dataclasses
import math

import pytest
import torch
from torch import nn

from sgdnoise import theory
from sgdnoise.monitor import MonitorRecord, NoiseMonitor
from sgdnoise.optim import NoiseScaleBatchSize, ScheduledBatchSampler

MOMENTUM = 0.9


def blank_record(step: int) -> MonitorRecord:
    """A record with every field empty; tests set the fields the scheduler reads."""
    values = {f.name: None for f in dataclasses.fields(MonitorRecord)}
    return MonitorRecord(**{**values, "step": step, "window": 0})


def scripted(step: int, b_simple: float | None, stderr: float | None, window: int, lam: float | None = None):
    return dataclasses.replace(
        blank_record(step),
        noise_scale_simple=b_simple,
        noise_scale_simple_stderr=stderr,
        window=window,
        max_eigenvalue=lam,
    )


def setup(lr: float = 0.016, batch: int = 16, train_size: int = 4096, window: int = 4, nesterov=False, **kwargs):
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM, nesterov=nesterov)
    monitor = NoiseMonitor(model, nn.CrossEntropyLoss(), train_size=train_size, optimizer=optimizer, window=window)
    sampler = ScheduledBatchSampler(train_size, batch)
    return sampler, monitor, optimizer, NoiseScaleBatchSize(sampler, monitor, optimizer, **kwargs)


# (B̂, se, window) per record → B after the scheduler reads it (B₀ = 16, factor 2, z = 1, window 4, max 1000)
SCRIPT = [
    ((100.0, 5.0, 1), 16),  # window not full: no decision
    ((100.0, 5.0, 4), 64),  # bound 95: largest rung ≤ 95 is 64 (two rungs at once)
    ((120.0, 10.0, 4), 64),  # bound 110 < 128: stays
    ((127.0, 0.0, 4), 64),  # bound 127 < 128: stays
    ((140.0, 5.0, 4), 128),  # bound 135 ≥ 128
    ((30.0, 1.0, 4), 128),  # B_simple fell: B never shrinks
    ((None, None, 4), 128),  # |G|² estimate ≤ 0: B̂ undefined, no decision
    ((600.0, 50.0, 4), 512),  # bound 550
    ((1e6, 1.0, 4), 1000),  # the last rung is max_batch_size
]


def test_growth_rule_on_a_scripted_noise_scale():
    sampler, monitor, _, scheduler = setup(max_batch_size=1000)
    assert scheduler.rungs == [16, 32, 64, 128, 256, 512, 1000]
    assert scheduler.get_last_bs() == 16
    for step, ((b, se, window), expected) in enumerate(SCRIPT, start=1):
        monitor.records.append(scripted(step, b, se, window))
        scheduler.step()
        assert (scheduler.get_last_bs(), sampler.batch_size) == (expected, expected), step
        scheduler.step()  # no new record: nothing changes
        assert scheduler.get_last_bs() == expected


def test_z_fraction_and_min_estimates_enter_the_bound():
    # bound = fraction·(B̂ − z·se) = 0.5·(300 − 2·20) = 130 → 128; with the defaults it would be 256
    _, monitor, _, scheduler = setup(fraction=0.5, z=2.0, min_estimates=3)
    monitor.records.append(scripted(1, 300.0, 20.0, 3))
    scheduler.step()
    assert scheduler.get_last_bs() == 128
    _, monitor, _, scheduler = setup()
    monitor.records.append(scripted(1, 300.0, 20.0, 3))  # window 3 < min_estimates = monitor's window 4
    scheduler.step()
    assert scheduler.get_last_bs() == 16


def test_temperature_is_kept_below_the_cap_and_the_learning_rate_capped_above():
    # T = 0.016/(16·0.1) = 0.01; ε = T·B·(1 − m) = 0.001·B until max_lr = 0.1 (B* = 100)
    _, monitor, optimizer, scheduler = setup(max_lr=0.1, max_batch_size=1000)
    for step, ((b, se, window), expected) in enumerate(SCRIPT, start=1):
        monitor.records.append(scripted(step, b, se, window))
        scheduler.step()
        lr = scheduler.get_last_lr()[0]
        assert lr == optimizer.param_groups[0]["lr"]
        if expected < 100:  # noise-dominated: the temperature is the initial one
            assert theory.temperature(lr, expected, MOMENTUM) == pytest.approx(0.01, rel=1e-12)
        else:  # curvature-dominated: ε stops at the cap
            assert lr == 0.1
    assert scheduler.get_last_lr() == [0.1]


def test_nesterov_is_capped_by_its_own_stability_bound():
    # λ_max = 152: Nesterov is stable for ε < 2(1 + 0.9)/((1 + 1.8)·152) ≈ 0.00893 (heavy ball: 0.025)
    _, monitor, _, scheduler = setup(lr=0.001, temperature=0.01, critical_fraction=0.5, max_lr=1.0, nesterov=True)
    monitor.records.append(scripted(1, 40.0, 1.0, 4, lam=152.0))
    scheduler.step()
    assert scheduler.get_last_lr() == [pytest.approx(0.5 * 2 * 1.9 / (2.8 * 152), rel=1e-12)]


def test_curvature_cap_from_the_monitors_max_eigenvalue():
    # λ_max = 152: heavy ball is stable for ε < 2(1 + 0.9)/152 = 0.025, the cap 0.5·that = 0.0125;
    # T = 0.01 → ε = T·B·(1 − m) = 0.001·B
    _, monitor, _, scheduler = setup(lr=0.001, temperature=0.01, critical_fraction=0.5, max_lr=1.0)
    assert scheduler.get_last_lr() == [pytest.approx(0.016)]  # the given T, not the optimizer's ε
    monitor.records.append(scripted(1, 40.0, 1.0, 4, lam=152.0))
    scheduler.step()
    assert scheduler.get_last_bs() == 32
    assert scheduler.get_last_lr() == [pytest.approx(0.0125)]  # T·B·(1 − m) = 0.032 > cap
    monitor.records.append(scripted(2, 40.0, 1.0, 4, lam=None))  # no new λ_max: the last one still caps
    scheduler.step()
    assert scheduler.get_last_lr() == [pytest.approx(0.0125)]
    monitor.records.append(scripted(3, 40.0, 1.0, 4, lam=38.0))  # flatter: cap 0.05, the temperature rules
    scheduler.step()
    assert scheduler.get_last_lr() == [pytest.approx(0.032)]


def test_the_curvature_cap_counts_sgds_dampening():
    """torch's SGD with dampening d is heavy ball at ε(1 − d): stable up to 2(1 + m)/((1 − d)λ_max) (before: the
    cap ignored d, a factor 1 − d too low, where the monitor itself reads ε(1 − d))."""
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=MOMENTUM, dampening=0.5)
    monitor = NoiseMonitor(model, nn.CrossEntropyLoss(), train_size=4096, optimizer=optimizer, window=4)
    scheduler = NoiseScaleBatchSize(
        ScheduledBatchSampler(4096, 16), monitor, optimizer, temperature=1.0, critical_fraction=1.0
    )  # T·B·(1 − m) = 3.2 at B = 32: the cap binds
    monitor.records.append(scripted(1, 40.0, 1.0, 4, lam=40.0))
    scheduler.step()
    assert scheduler.get_last_lr() == [pytest.approx(2 * 1.9 / (0.5 * 40), rel=1e-12)]  # 0.19, not 0.095
    assert scheduler.learning_rate_cap(MOMENTUM, dampening=0.5) == pytest.approx(0.19, rel=1e-12)


def test_a_window_of_one_grows_b_without_a_standard_error_only_at_z_zero():
    """Before: a monitor window of 1 (no standard error) left B at B₀ for good, silently."""
    with pytest.raises(ValueError, match=r"z=1 standard errors need the monitor's window >= 2"):
        setup(window=1)
    _, monitor, _, scheduler = setup(window=1, z=0.0)
    monitor.records.append(scripted(1, 100.0, None, 1))
    scheduler.step()
    assert scheduler.get_last_bs() == 64


def test_another_schedulers_factor_applies_to_the_rule_and_resumes():
    """A cosine decay on top: ε = T·B·(1 − m) times the decay's factor (before: the schedule overwrote it)."""
    _, monitor, optimizer, scheduler = setup(max_lr=1.0)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4)
    expected = []
    for step in range(1, 4):
        optimizer.step()
        cosine.step()
        monitor.records.append(scripted(step, 40.0 * step, 1.0, 4))
        scheduler.step()
        factor = (1 + math.cos(math.pi * step / 4)) / 2
        expected.append(0.01 * scheduler.get_last_bs() * (1 - MOMENTUM) * factor)
        assert scheduler.get_last_lr() == [pytest.approx(expected[-1], rel=1e-12)], step
    state = scheduler.state_dict()
    _, resumed_monitor, _, resumed = setup(max_lr=1.0)
    resumed_monitor.records = list(monitor.records)
    resumed.load_state_dict(state)
    assert resumed.get_last_lr() == [pytest.approx(expected[-1], rel=1e-12)]


def test_a_scheduler_made_after_the_sampler_grew_resumes_on_the_runs_rungs():
    """B₀ (which sets the rungs) is saved: a scheduler built when the loaded sampler already holds B = 22 keeps
    the rungs 10·1.5^k of the run (before: rungs from 22, so B = 33 where the run went to 34)."""
    _, monitor, _, scheduler = setup(batch=10, factor=1.5)
    monitor.records.append(scripted(1, 30.0, 1.0, 4))
    scheduler.step()
    assert scheduler.get_last_bs() == 22
    state = scheduler.state_dict()
    _, monitor2, _, resumed = setup(batch=22, factor=1.5)
    resumed.load_state_dict(state)
    assert resumed.rungs == scheduler.rungs
    monitor2.records.append(scripted(2, 36.0, 1.0, 4))
    resumed.step()
    assert resumed.get_last_bs() == 34


def test_every_parameter_group_keeps_its_own_temperature():
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))
    optimizer = torch.optim.SGD(
        [{"params": model[0].parameters(), "lr": 0.01}, {"params": model[1].parameters(), "momentum": 0.5}],
        lr=0.04,
        momentum=MOMENTUM,
    )
    with pytest.warns(UserWarning, match="differ in momentum"):
        monitor = NoiseMonitor(model, nn.CrossEntropyLoss(), optimizer=optimizer, window=2)
    scheduler = NoiseScaleBatchSize(ScheduledBatchSampler(1000, 10), monitor, optimizer)
    monitor.records.append(scripted(1, 45.0, 2.0, 2))
    scheduler.step()
    assert scheduler.get_last_bs() == 40
    assert scheduler.get_last_lr() == [pytest.approx(0.04), pytest.approx(0.16)]


def test_state_dict_round_trips_and_resumes_the_same_sequence():
    def run(sampler_monitor_scheduler, records):
        _, monitor, _, scheduler = sampler_monitor_scheduler
        out = []
        for record in records:
            monitor.records.append(record)
            scheduler.step()
            out.append((scheduler.get_last_bs(), scheduler.get_last_lr()))
        return out

    records = [scripted(step, b, se, w, lam=8.0) for step, ((b, se, w), _) in enumerate(SCRIPT, start=1)]
    kwargs = {"max_lr": 0.2, "critical_fraction": 0.5, "max_batch_size": 1000}
    straight = run(setup(**kwargs), records)
    first = setup(**kwargs)
    head = run(first, records[:5])
    state = copy.deepcopy({"monitor": first[1].state_dict(), "scheduler": first[3].state_dict()})
    resumed = setup(**kwargs)
    resumed[1].load_state_dict(state["monitor"])
    resumed[3].load_state_dict(state["scheduler"])
    assert resumed[3].state_dict() == state["scheduler"]
    assert (resumed[3].get_last_bs(), resumed[3].get_last_lr()) == head[-1]
    assert head + run(resumed, records[5:]) == straight


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"temperature": 0.0}, ValueError, "temperature"),
        ({"max_lr": -1.0}, ValueError, "max_lr"),
        ({"critical_fraction": float("nan")}, ValueError, "critical_fraction"),
        ({"fraction": 0}, ValueError, "fraction"),
        ({"factor": 1.0}, ValueError, "factor must be > 1"),
        ({"z": -1.0}, ValueError, "z must be"),
        ({"max_batch_size": 8}, ValueError, "max_batch_size must lie in"),
        ({"max_batch_size": 5000}, ValueError, "max_batch_size must lie in"),
        ({"min_estimates": 1}, ValueError, "min_estimates"),
        ({"min_estimates": 5}, ValueError, "exceeds the monitor's window"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        setup(**kwargs)


def test_invalid_monitor_optimizer_or_training_set():
    sampler, monitor, optimizer, _ = setup()
    with pytest.raises(TypeError, match="NoiseMonitor"):
        NoiseScaleBatchSize(sampler, object(), optimizer)  # type: ignore[arg-type]
    adam = torch.optim.Adam(nn.Linear(3, 2).parameters())
    with pytest.raises(TypeError, match=r"torch\.optim\.SGD"):
        NoiseScaleBatchSize(sampler, monitor, adam)
    with pytest.raises(ValueError, match="differs from the sampler's N=100"):
        NoiseScaleBatchSize(ScheduledBatchSampler(100, 16), monitor, optimizer)


def test_a_dataloader_loop_with_a_real_monitor_grows_the_batch_as_the_loss_falls():
    """Separable logistic regression: |G|² falls faster than tr Σ, so B_simple grows and so does B."""
    gen = torch.Generator().manual_seed(0)
    n = 512
    x = torch.randn(n, 5, generator=gen)
    y = (x @ torch.tensor([2.0, -1.0, 1.0, 0.5, 0.0]) > 0).long()
    torch.manual_seed(0)
    model = nn.Linear(5, 2)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=MOMENTUM)
    monitor = NoiseMonitor(model, loss_fn, train_size=n, optimizer=optimizer, every=2, window=4, curvature_every=5)
    sampler = ScheduledBatchSampler(n, 8, seed=1)
    scheduler = NoiseScaleBatchSize(sampler, monitor, optimizer, max_lr=0.4, critical_fraction=0.5, max_batch_size=256)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_sampler=sampler)
    seen = []  # (batch size the loader yielded, B the scheduler had set for it)
    for _ in range(6):
        for xb, yb in loader:
            seen.append((len(xb), scheduler.get_last_bs()))
            optimizer.zero_grad()
            loss_fn(model(xb), yb).backward()
            optimizer.step()
            before = scheduler.get_last_bs()
            record = monitor.step(xb, yb)
            scheduler.step()
            after = scheduler.get_last_bs()
            if after != before:  # grew only on a new full-window record whose lower bound reaches the rung
                assert record is not None and record.window == 4 and after > before
                assert after <= record.noise_scale_simple - record.noise_scale_simple_stderr
            lr = scheduler.get_last_lr()[0]
            cap = scheduler.learning_rate_cap(MOMENTUM)
            assert lr == pytest.approx(min(theory.temperature(0.05, 8, MOMENTUM) * after * (1 - MOMENTUM), cap))
    sizes = [b for _, b in seen]
    assert sizes == sorted(sizes) and sizes[-1] >= 64  # grew at least three rungs, never shrank
    short = [(got, wanted) for got, wanted in seen if got != wanted]
    assert len(short) <= 6 and all(got < wanted for got, wanted in short)  # only each epoch's last batch
    assert scheduler.max_eigenvalue is not None and scheduler.max_eigenvalue > 0


def test_the_curvature_cap_scales_every_group_together():
    """Groups at T and T/10: where the first group's ε hits the cap 0.5·2(1 + m)/λ_max, both are scaled by one
    factor, so the ratio 10:1 (the D of the monitor's λ_max(DH)) holds; max_lr is each group's own ceiling."""
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))
    optimizer = torch.optim.SGD(
        [{"params": model[0].parameters()}, {"params": model[1].parameters(), "lr": 0.0016}],
        lr=0.016,
        momentum=MOMENTUM,
    )
    monitor = NoiseMonitor(model, nn.CrossEntropyLoss(), optimizer=optimizer, window=4)
    scheduler = NoiseScaleBatchSize(
        ScheduledBatchSampler(4096, 16), monitor, optimizer, critical_fraction=0.5, max_lr=0.03
    )
    monitor.records.append(scripted(1, 70.0, 1.0, 4, lam=152.0))  # B → 64: wanted ε = 0.064 and 0.0064
    scheduler.step()
    cap = 0.5 * 2 * (1 + MOMENTUM) / 152.0  # 0.0125
    assert scheduler.get_last_bs() == 64
    assert scheduler.get_last_lr() == [pytest.approx(cap), pytest.approx(cap / 10)]
    monitor.records.append(scripted(2, 70.0, 1.0, 4, lam=19.0))  # cap 0.1 > 0.064: max_lr = 0.03 holds group 0 only
    scheduler.step()
    assert scheduler.get_last_lr() == [pytest.approx(0.03), pytest.approx(0.0064)]


def test_a_group_at_lr_zero_stays_there_also_with_a_given_temperature():
    body, head = nn.Linear(3, 3), nn.Linear(3, 2)
    optimizer = torch.optim.SGD(
        [{"params": body.parameters(), "lr": 0.0}, {"params": head.parameters()}], lr=0.1, momentum=MOMENTUM
    )
    model = nn.Sequential(body, head)
    monitor = NoiseMonitor(model, nn.CrossEntropyLoss(), train_size=4096, optimizer=optimizer, window=4)
    scheduler = NoiseScaleBatchSize(ScheduledBatchSampler(4096, 16), monitor, optimizer, temperature=0.01)
    monitor.records.append(scripted(1, 40.0, 1.0, 4))
    scheduler.step()
    assert scheduler.get_last_lr() == [0.0, pytest.approx(0.01 * 32 * (1 - MOMENTUM))]


def test_dampening_without_momentum_does_not_move_the_cap():
    """torch's SGD applies dampening to its momentum buffer only: at m = 0 the step is ε·g whatever d is."""
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, dampening=0.5)
    monitor = NoiseMonitor(model, nn.CrossEntropyLoss(), train_size=4096, optimizer=optimizer, window=4)
    scheduler = NoiseScaleBatchSize(
        ScheduledBatchSampler(4096, 16), monitor, optimizer, temperature=1.0, critical_fraction=1.0
    )
    monitor.records.append(scripted(1, 40.0, 1.0, 4, lam=40.0))
    scheduler.step()
    assert scheduler.get_last_lr() == [pytest.approx(2 / 40, rel=1e-12)]
