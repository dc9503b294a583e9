import json
import math

import pytest

from sgdnoise.engine.schedules import (
    Constant,
    Cyclic,
    Join,
    Linear,
    Scale,
    StepDecay,
    as_schedule,
    schedule_from_dict,
)


def test_constant_and_linear():
    assert Constant(0.3)(0.0) == 0.3 == Constant(0.3)(1.0)
    assert Linear(0.0, 2.0)(0.25) == pytest.approx(0.5)
    assert as_schedule(2) == Constant(2.0)
    with pytest.raises(ValueError, match="progress"):
        Constant(1.0)(1.5)
    with pytest.raises(TypeError):
        as_schedule("0.1")


@pytest.mark.parametrize(
    ("p", "divisions"),
    [(0.0, 0), (0.4999, 0), (0.5, 1), (0.5499, 1), (0.55, 2), (0.6, 3), (0.9, 9), (0.95, 10), (0.9999, 10)],
)
def test_step_decay_smith_elsen_de(p, divisions):
    """Constant for half the budget, then ÷γ every 1/20: ε_f = ε₀·γ^-10 (Smith, Elsen & De 2020 §4, §7.1)."""
    assert StepDecay(0.8, gamma=2.0)(p) == pytest.approx(0.8 / 2**divisions)


def test_step_decay_on_integer_steps_hits_boundaries_exactly():
    steps = 9765  # Smith, Elsen & De Table 1 budget
    values = [StepDecay(1.0)(s / steps) for s in range(steps)]
    boundaries = [s for s in range(1, steps) if values[s] != values[s - 1]]
    assert boundaries == [math.ceil(steps * (10 + k) / 20) for k in range(10)]
    assert values[-1] == pytest.approx(2.0**-10)


def test_step_decay_from_final():
    schedule = StepDecay.from_final(1.0, 1e-3)
    assert schedule.gamma == pytest.approx(1e3 ** (1 / 10))
    assert schedule(0.99) == pytest.approx(1e-3)


def test_cyclic_triangle_and_discrete():
    triangle = Cyclic(1.0, 5.0, period=0.5)
    assert [triangle(p) for p in (0.0, 0.125, 0.25, 0.375, 0.5, 0.75)] == pytest.approx([1, 3, 5, 3, 1, 5])
    down = Cyclic(1.0, 5.0, period=0.5, start="high")
    assert [down(p) for p in (0.0, 0.25, 0.5)] == pytest.approx([5, 1, 5])
    discrete = Cyclic(128, 640, period=0.2, shape="discrete")
    assert [discrete(p) for p in (0.0, 0.099, 0.1, 0.199, 0.2, 0.35)] == [128, 128, 640, 640, 128, 640]


def test_cyclic_lr_and_batch_size_keep_equal_ratio():
    """Jastrzębski et al. §4.2: lr cycle in [0.001, 0.005] vs batch cycle in [128, 640], equal η/S."""
    lr = Cyclic(0.001, 0.005, period=0.1, shape="discrete", start="high")
    batch = Cyclic(128, 640, period=0.1, shape="discrete", start="low")
    for i in range(100):
        p = i / 100
        assert 0.005 / batch(p) == pytest.approx(lr(p) / 128)


def test_join_and_scale():
    warmup_then_decay = Join((Linear(0.0, 1.0), StepDecay(1.0)), boundaries=(0.2,))
    assert warmup_then_decay(0.1) == pytest.approx(0.5)
    assert warmup_then_decay(0.2) == pytest.approx(1.0)
    assert warmup_then_decay(0.6) == pytest.approx(0.5)  # local progress 0.5 → first decay
    assert Scale(Cyclic(1.0, 5.0, 0.5), 1e-3)(0.25) == pytest.approx(5e-3)


SCHEDULES = [
    Constant(0.1),
    Linear(0.0, 1.0),
    StepDecay(0.4, gamma=3.0, hold=0.3, interval=0.1),
    Cyclic(1.0, 5.0, 0.25, shape="discrete", start="high"),
    Join((Linear(0.0, 1.0), Scale(StepDecay(1.0), 0.5), Constant(0.01)), boundaries=(0.1, 0.9)),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_round_trip_serialisation(schedule):
    restored = schedule_from_dict(json.loads(json.dumps(schedule.to_dict())))
    assert restored == schedule
    assert hash(restored) == hash(schedule)
    assert [restored(i / 17) for i in range(18)] == [schedule(i / 17) for i in range(18)]


def test_invalid_schedules_raise():
    with pytest.raises(ValueError):
        StepDecay(-1.0)
    with pytest.raises(ValueError):
        Cyclic(5.0, 1.0, 0.1)
    with pytest.raises(ValueError):
        Cyclic(1.0, 5.0, 0.1, shape="sine")
    with pytest.raises(ValueError):
        Join((Constant(1.0), Constant(2.0)), boundaries=(1.2,))
    with pytest.raises(ValueError, match="unknown schedule"):
        schedule_from_dict({"type": "Cosine"})
