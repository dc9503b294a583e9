"""Measurements of trained runs (the ``sgdnoise.engine.Measurement`` protocol), adapting the instruments.

Each is a frozen dataclass holding its parameters, picklable, called by the engine as ``m(model, task)``
on a run's final model (or during training through a ``Probe``) and returning ``{quantity: value}``. Each
works on a bounded, deterministic subset of the data: at most ``max_examples`` examples of a split drawn
without replacement with a generator seeded by ``seed`` (the same subset for every run, so runs are
compared on the same examples). The loss is the mean cross-entropy of the model's logits (without L2).

- ``HessianNorm``: ‖H‖_F by finite differences (Jastrzębski et al. 2018 §4.1, Fig. 1a).
- ``LambdaMax``: the largest Hessian eigenvalue by Lanczos (Smith, Elsen & De 2020 §3.1: ε_crit = 2/λ_max).
- ``BNRecalibratedAccuracy``: loss and accuracy per split after batch-norm running statistics are
  re-estimated on training data (Jastrzębski et al. 2018 §4.1 evaluate interpolated BN nets this way).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sgdnoise.data import Dataset, TaskData
from sgdnoise.instruments import hessian_eigenvalues, hessian_norm, recalibrate_batch_norm
from sgdnoise.validation import positive_int


def _check_common(name: str, max_examples: int, seed: int) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"a measurement name must be a non-empty string, got {name!r}")
    positive_int("max_examples", max_examples)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")


def _split(task: TaskData, name: str) -> Dataset:
    splits = task.splits
    if name not in splits:
        raise ValueError(f"the task has no {name!r} split (it has {', '.join(splits)})")
    return splits[name]


def subset(dataset: Dataset, max_examples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """At most ``max_examples`` examples of ``dataset`` drawn without replacement (seeded; all of it,
    in order, when it is no larger)."""
    n = len(dataset)
    if n <= max_examples:
        return dataset.x, dataset.y
    chosen = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:max_examples].sort().values
    return dataset.x[chosen], dataset.y[chosen]


def _to_dict(measurement: Any) -> dict[str, Any]:
    return {"type": type(measurement).__name__} | dataclasses.asdict(measurement)


@dataclass(frozen=True)
class HessianNorm:
    """‖H‖_F of the mean training loss at the model's parameters (Jastrzębski et al. 2018 §4.1, Fig. 1a):
    ‖H‖_F² = E_v ‖Hv‖² over ``n_samples`` Gaussian probes v, Hv by central differences of the gradient
    (Wu et al. 2017; ``instruments.hessian_norm``). Eval mode (batch norm uses running statistics), so
    the loss is a fixed function of the parameters. Returns ``value`` and its standard error ``stderr``.

    ``fd_step`` is the finite-difference step ε of Hv ≈ (∇L(θ+εv) − ∇L(θ−εv))/2ε, passed to
    ``instruments.hessian_norm``; None (the default) is the instrument's own rule, ε = cbrt(machine
    eps)·max(1, rms θ)/rms v (≈ 4.9e-3 in float32 when rms θ < 1), the behaviour this measurement always
    had. ``to_dict`` lists ``fd_step`` only when it is set, so the store keys of runs probed with the
    default are those written before the parameter existed. The store keeps a measurement's values
    under its ``name``: measure with another step under another name, or the old values are read back."""

    name: str = "hessian_norm"
    split: str = "train"
    max_examples: int = 1000
    n_samples: int = 20
    seed: int = 0
    fd_step: float | None = None

    def __post_init__(self) -> None:
        _check_common(self.name, self.max_examples, self.seed)
        if isinstance(self.n_samples, bool) or not isinstance(self.n_samples, int) or self.n_samples < 2:
            raise ValueError(f"n_samples must be an int >= 2, got {self.n_samples!r}")
        if self.fd_step is not None and (
            isinstance(self.fd_step, bool)
            or not isinstance(self.fd_step, int | float)
            or not math.isfinite(self.fd_step)
            or self.fd_step <= 0
        ):
            raise ValueError(f"fd_step must be None or a finite float > 0, got {self.fd_step!r}")

    def to_dict(self) -> dict[str, Any]:
        out = _to_dict(self)
        if self.fd_step is None:
            del out["fd_step"]
        return out

    def __call__(self, model: nn.Module, task: TaskData) -> dict[str, float]:
        data = subset(_split(task, self.split), self.max_examples, self.seed)
        estimate = hessian_norm(
            model,
            F.cross_entropy,
            data,
            n_samples=self.n_samples,
            seed=self.seed,
            fd_step=None if self.fd_step is None else float(self.fd_step),
            train_mode=False,
        )
        return {"value": estimate.value, "stderr": estimate.stderr}


@dataclass(frozen=True)
class LambdaMax:
    """λ_max, the largest eigenvalue of the Hessian of the mean training loss, by Lanczos with full
    reorthogonalisation (``instruments.hessian_eigenvalues``), in eval mode. Smith, Elsen & De 2020
    §3.1: gradient descent is stable below ε_crit = 2/λ_max. Returns ``value`` and the Lanczos
    residual bound ``residual`` (λ_max lies within it of a true eigenvalue): the instrument's warning that
    ``max_iter`` did not reach its tolerance is not repeated, the residual is recorded instead."""

    name: str = "lambda_max"
    split: str = "train"
    max_examples: int = 1000
    max_iter: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        _check_common(self.name, self.max_examples, self.seed)
        positive_int("max_iter", self.max_iter)

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)

    def __call__(self, model: nn.Module, task: TaskData) -> dict[str, float]:
        data = subset(_split(task, self.split), self.max_examples, self.seed)
        parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".* did not reach residual", category=RuntimeWarning)
            result = hessian_eigenvalues(
                model,
                F.cross_entropy,
                data,
                k=1,
                max_iter=min(self.max_iter, parameters),
                seed=self.seed,
                train_mode=False,
            )
        return {"value": float(result.eigenvalues[0]), "residual": float(result.residuals[0])}


@dataclass(frozen=True)
class BNRecalibratedAccuracy:
    """Loss and accuracy on every split (``{split}_loss``, ``{split}_acc``) after the batch-norm running
    statistics are re-estimated from ``max_examples`` training examples in batches of ``batch_size``
    (``recalibrate_batch_norm``); evaluated in eval mode on at most ``max_examples`` of each split. The
    model's own statistics are restored afterwards. A model without batch norm is evaluated as it is."""

    name: str = "bn_recalibrated"
    max_examples: int = 1000
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        _check_common(self.name, self.max_examples, self.seed)
        positive_int("batch_size (batch statistics need two examples)", self.batch_size, minimum=2)

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)

    def __call__(self, model: nn.Module, task: TaskData) -> dict[str, float]:
        parameter = next(model.parameters())
        device, dtype = parameter.device, parameter.dtype
        saved = {name: value.clone() for name, value in model.state_dict().items()}
        try:
            train_x, _ = subset(task.train, self.max_examples, self.seed)
            recalibrate_batch_norm(model, train_x.to(device, dtype).split(self.batch_size))
            model.eval()
            values: dict[str, float] = {}
            with torch.no_grad():
                for split_name, split in task.splits.items():
                    x, y = subset(split, self.max_examples, self.seed)
                    logits = torch.cat([model(x[i : i + 1000].to(device, dtype)) for i in range(0, len(x), 1000)])
                    y = y.to(device)
                    values[f"{split_name}_loss"] = float(F.cross_entropy(logits, y))
                    values[f"{split_name}_acc"] = float((logits.argmax(dim=1) == y).double().mean())
            return values
        finally:
            model.load_state_dict(saved)


__all__ = ["BNRecalibratedAccuracy", "HessianNorm", "LambdaMax", "subset"]
