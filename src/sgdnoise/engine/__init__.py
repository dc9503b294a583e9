"""The training engine: trains a *group* of runs (same model shape, data, batch-size schedule and
budget) in one process with stacked parameters and one batched forward/backward per step.

Public API: ``TrainConfig`` (one run, JSON round-trip), ``group_configs`` (split a list of runs into
groups), ``train_group`` (train one group on a ``TaskData`` → ``RunResult`` per run), ``time_group`` (a
group's update and evaluation times) and ``time_measurements`` (one call of each measurement), for a dry run's
estimate, ``plan_steps``, the schedules
(``Constant``, ``Linear``, ``StepDecay``, ``Cyclic``, ``Join``, ``Scale``, ``schedule_from_dict``),
``GroupProgress`` for the progress callback, the ``Backend`` protocol of the stacked runs, and measuring
trained runs: the ``Measurement`` protocol, ``Probe`` (when to measure during training) and
``measure_state`` (measure a run from its kept weights).
"""

from sgdnoise.engine.backend import Backend
from sgdnoise.engine.config import GroupProgress, RunResult, TrainConfig, group_configs
from sgdnoise.engine.measure import Measurement, Probe, measure_state, model_from_state
from sgdnoise.engine.schedules import (
    Constant,
    Cyclic,
    Join,
    Linear,
    Scale,
    Schedule,
    StepDecay,
    as_schedule,
    schedule_from_dict,
)
from sgdnoise.engine.train import (
    EpochSampler,
    MomentumSGD,
    StepPlan,
    plan_steps,
    time_group,
    time_measurements,
    train_group,
)

__all__ = [
    "Backend",
    "Constant",
    "Cyclic",
    "EpochSampler",
    "GroupProgress",
    "Join",
    "Linear",
    "Measurement",
    "MomentumSGD",
    "Probe",
    "RunResult",
    "Scale",
    "Schedule",
    "StepDecay",
    "StepPlan",
    "TrainConfig",
    "as_schedule",
    "group_configs",
    "measure_state",
    "model_from_state",
    "plan_steps",
    "schedule_from_dict",
    "time_group",
    "time_measurements",
    "train_group",
]
