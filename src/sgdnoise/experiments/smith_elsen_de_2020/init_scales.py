"""Smith, Elsen & De 2020, Fig. 1's scales at initialisation: B_simple, the simple gradient noise scale
(McCandlish et al. 2018), and ε_crit = 2/λ_max (§3.1), measured beside the tuned curves of ``epoch_budget``
(one store record per seed, so a rerun measures nothing again)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypedDict

import numpy as np
from torch import nn

from sgdnoise.experiments.base import RunContext
from sgdnoise.experiments.smith_elsen_de_2020.setup import ARCHITECTURES, GHOST_BATCH, SEDSpec, task_factory, task_name

INIT_SEEDS = 4  # seeds of the measurement at initialisation (at most ``runs``)


class InitSeed(TypedDict):
    seed: int
    B_simple: float
    epsilon_crit: float


class InitMeasurement(TypedDict):
    """B_simple (geometric mean over seeds) and ε_crit = 2/λ_max (mean ± std) at initialisation."""

    architecture: str
    per_seed: list[InitSeed]
    B_simple: float
    epsilon_crit: float
    epsilon_crit_std: float


def _measure_seed(model: nn.Module, task: Any, spec: SEDSpec, index: int) -> tuple[float, float]:
    """B_simple and 2/λ_max of one initialised model, batch-norm statistics re-estimated first."""
    from sgdnoise.instruments import critical_learning_rate, gradient_noise, recalibrate_batch_norm

    x, y = task.train.x, task.train.y
    loss = nn.CrossEntropyLoss()
    recalibrate_batch_norm(model, x.split(GHOST_BATCH))
    model.eval()
    noise = gradient_noise(model, loss, (x, y), batch_size=min(spec.batch_sizes), train_mode=False)
    crit = critical_learning_rate(model, loss, (x, y), seed=index, train_mode=False)
    return noise.noise_scale_simple, crit.value


def measure_at_init(spec: SEDSpec, ctx: RunContext, experiment: str, architecture: str) -> InitMeasurement:
    """B_simple = tr Σ/|G|² (McCandlish et al. 2018) and ε_crit = 2/λ_max (§3.1) on the training set at
    initialisation, per seed (one store record each); batch-norm statistics re-estimated on the training
    set first (the per-example gradients are those of the evaluation-mode network); ``experiment`` names the
    store records."""
    from sgdnoise.models import build_model

    model_spec = ARCHITECTURES[architecture](spec)
    task = None
    rows: list[InitSeed] = []
    for index in range(min(spec.runs, INIT_SEEDS)):
        seed = ctx.seed + index
        config = {
            "measurement": "init",
            "architecture": architecture,
            "model": dataclasses.asdict(model_spec),
            "task": task_name(spec),
            "batch_size": min(spec.batch_sizes),
            "seed": seed,
            "power_iteration_seed": index,
        }
        record = ctx.store.get(experiment, config)
        if record is None:
            task = task if task is not None else task_factory(spec)().to(ctx.device)
            model = build_model(model_spec, seed=seed).to(ctx.device)
            b_simple, crit = _measure_seed(model, task, spec, index)
            metrics = {"seed": seed, "B_simple": b_simple, "epsilon_crit": crit}
            ctx.store.put(experiment, config, metrics=metrics)
        else:
            metrics = record.metrics
        rows.append({"seed": metrics["seed"], "B_simple": metrics["B_simple"], "epsilon_crit": metrics["epsilon_crit"]})
    b = np.array([r["B_simple"] for r in rows])
    e = np.array([r["epsilon_crit"] for r in rows])
    return {
        "architecture": architecture,
        "per_seed": rows,
        "B_simple": float(np.exp(np.log(b).mean())),
        "epsilon_crit": float(e.mean()),
        "epsilon_crit_std": float(e.std(ddof=1)) if e.size > 1 else 0.0,
    }
