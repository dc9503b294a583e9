"""The training engine: trains a *group* of runs (same model shape, data, batch-size schedule and
budget) in one process with stacked parameters and one batched forward/backward per step.

Public API: ``TrainConfig`` (one run, JSON round-trip), ``group_configs`` (split a list of runs into
groups), ``train_group`` (train one group → ``RunResult`` per run), ``plan_steps``, the schedules
(``Constant``, ``Linear``, ``StepDecay``, ``Cyclic``, ``Join``, ``Scale``, ``schedule_from_dict``) and
``GroupProgress`` for the progress callback.
"""

from sgdnoise.engine.config import GroupProgress, RunResult, TrainConfig, group_configs
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
from sgdnoise.engine.train import EpochSampler, StepPlan, plan_steps, train_group

__all__ = [
    "Constant",
    "Cyclic",
    "EpochSampler",
    "GroupProgress",
    "Join",
    "Linear",
    "RunResult",
    "Scale",
    "Schedule",
    "StepDecay",
    "StepPlan",
    "TrainConfig",
    "as_schedule",
    "group_configs",
    "plan_steps",
    "schedule_from_dict",
    "train_group",
]
