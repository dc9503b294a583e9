"""Optimisers and batch-size schedules for your own training loop.

* ``SGLD``: Langevin posterior sampling, Smith & Le 2018 App. A eq. 17.
* ``ScheduledBatchSampler`` with ``CyclicBatchSize`` and ``IncreaseBatchSize``: batch-size schedules shaped like
  ``torch.optim.lr_scheduler`` (``step()``, ``get_last_bs()``, ``state_dict()``/``load_state_dict()``) that drive
  a ``DataLoader`` through its batch sampler; ``keep="temperature"`` or ``"noise_scale"`` rescales the
  optimiser's learning rate whenever B changes so that T = ε/(B(1 − m)) (Smith, Elsen & De 2020 §3.3) or
  g = ε(N/B − 1)/(1 − m) (Smith & Le 2018 eq. 13, App. D) stays at its starting value.
"""

import math
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from sgdnoise import theory

Keep = Literal["temperature", "noise_scale"]


class SGLD(torch.optim.Optimizer):
    """Stochastic-gradient Langevin dynamics: Δω = −(ε/N)·dC/dω + α, α ~ N(0, 2εT/N·I) (Smith & Le 2018 App. A
    eq. 17; Welling & Teh 2011), whose stationary density is ∝ exp(−C(ω)/T): the posterior at T = 1.

    C is the SUMMED regularised cost (eq. 14); backpropagate the MEAN cost C/N (mean data loss plus the
    regulariser divided by N), so the step (ε/N)·dC/dω is ``lr`` times the gradient you computed.
    ``train_size`` N sets the noise variance 2ε·T/N; ``temperature`` T; ``generator`` draws the noise
    (default: torch's global generator). Gradients from minibatches add SGD's own noise on top.
    """

    def __init__(
        self,
        params: Any,
        lr: float,
        train_size: int,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ):
        if not isinstance(lr, int | float) or lr <= 0:
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        if not isinstance(train_size, int) or isinstance(train_size, bool) or train_size < 1:
            raise ValueError(f"train_size must be a positive integer, got {train_size!r}")
        if not isinstance(temperature, int | float) or temperature < 0:
            raise ValueError(f"temperature must be a number >= 0, got {temperature!r}")
        super().__init__(params, {"lr": lr, "train_size": train_size, "temperature": temperature})
        self.generator = generator

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, std = group["lr"], math.sqrt(2 * group["lr"] * group["temperature"] / group["train_size"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                noise = torch.randn(p.shape, generator=self.generator, dtype=p.dtype, device=p.device)
                p.add_(p.grad, alpha=-lr).add_(noise, alpha=std)
        return loss


class ScheduledBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batch sampler over a dataset of ``train_size`` examples whose batch size can change between batches.

    Each epoch visits a random permutation drawn from ``seed`` and the epoch number (without replacement); each
    batch takes the current ``batch_size`` (set by a scheduler). ``state_dict()`` records the epoch and the
    position in it, so a loader restored from a checkpoint yields exactly the batches that would have followed.
    Exact resumption needs ``DataLoader(num_workers=0)``: workers prefetch batches ahead of training.
    """

    def __init__(self, train_size: int, batch_size: int, *, seed: int = 0, drop_last: bool = False):
        if not isinstance(train_size, int) or train_size < 1:
            raise ValueError(f"train_size must be a positive integer, got {train_size!r}")
        self.train_size, self.seed, self.drop_last = train_size, seed, drop_last
        self.batch_size = batch_size
        self.epoch, self.position = 0, 0

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"batch_size must be a positive integer, got {value!r}")
        if value > self.train_size:
            raise ValueError(f"batch_size={value} exceeds the training-set size N={self.train_size}")
        self._batch_size = value

    def _permutation(self) -> Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.train_size, generator=generator)

    def __iter__(self) -> Iterator[list[int]]:
        order = self._permutation()
        while self.position < self.train_size:
            end = min(self.position + self.batch_size, self.train_size)
            if self.drop_last and end - self.position < self.batch_size:
                break
            batch = order[self.position : end].tolist()
            self.position = end
            yield batch
        self.epoch, self.position = self.epoch + 1, 0

    def __len__(self) -> int:
        """Batches left in the current epoch at the current batch size."""
        left = self.train_size - self.position
        return left // self.batch_size if self.drop_last else math.ceil(left / self.batch_size)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "batch_size": self.batch_size, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position, self.seed = state["epoch"], state["position"], state["seed"]
        self.batch_size = state["batch_size"]


class BatchSizeScheduler:
    """Base of the batch-size schedules: ``step()`` advances the count and sets the sampler's batch size.

    With an ``optimizer`` and ``keep``, the learning rate of every parameter group is re-solved when B changes so
    that the temperature or noise scale keeps its value at creation (``theory.equivalent_config``; the noise
    scale needs ``train_size`` N, taken from the sampler). Subclasses define ``schedule(count) -> (B, lr factor)``.
    """

    def __init__(
        self, sampler: ScheduledBatchSampler, optimizer: torch.optim.Optimizer | None = None, keep: Keep | None = None
    ):
        if keep not in (None, "temperature", "noise_scale"):
            raise ValueError(f"keep must be None, 'temperature' or 'noise_scale', got {keep!r}")
        if keep is not None and optimizer is None:
            raise ValueError(f"keep={keep!r} adjusts the learning rate, so it needs the optimizer")
        self.sampler, self.optimizer, self.keep = sampler, optimizer, keep
        groups = optimizer.param_groups if optimizer is not None else []
        self.base_lrs = [float(g["lr"]) for g in groups]
        self.references = [
            theory.SGDConfig(g["lr"], sampler.batch_size, sampler.train_size, g.get("momentum", 0.0)) for g in groups
        ]
        self.last_epoch = -1
        self.step()

    def schedule(self, count: int) -> tuple[int, float]:
        """(batch size, learning-rate factor) after ``count`` calls of ``step()``."""
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        batch_size, lr_factor = self.schedule(self.last_epoch)
        self.sampler.batch_size = batch_size
        if self.optimizer is None:
            return
        for group, base, ref in zip(self.optimizer.param_groups, self.base_lrs, self.references, strict=True):
            lr = base
            if self.keep is not None:
                lr = theory.equivalent_config(ref, "lr", batch_size=batch_size, rule=self.keep).lr
            group["lr"] = lr * lr_factor

    def get_last_bs(self) -> int:
        return self.sampler.batch_size

    def get_last_lr(self) -> list[float]:
        return [float(g["lr"]) for g in self.optimizer.param_groups] if self.optimizer is not None else []

    def state_dict(self) -> dict[str, Any]:
        return {
            "last_epoch": self.last_epoch,
            "base_lrs": self.base_lrs,
            "references": [vars(r) for r in self.references],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.base_lrs = list(state["base_lrs"])
        self.references = [theory.SGDConfig(**r) for r in state["references"]]
        self.last_epoch = state["last_epoch"] - 1
        self.step()


class CyclicBatchSize(BatchSizeScheduler):
    """Batch size cycling geometrically between ``low`` and ``high``: up for ``period/2`` steps, then down.

    B(c) = round(low·(high/low)^{1 − |1 − 2·frac(c/period)|}); start at ``low``.
    """

    def __init__(
        self,
        sampler: ScheduledBatchSampler,
        low: int,
        high: int,
        period: int,
        optimizer: torch.optim.Optimizer | None = None,
        keep: Keep | None = None,
    ):
        if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
            raise ValueError(f"need integers 1 <= low <= high, got low={low!r}, high={high!r}")
        if not isinstance(period, int) or period < 2:
            raise ValueError(f"period must be an integer >= 2, got {period!r}")
        self.low, self.high, self.period = low, high, period
        super().__init__(sampler, optimizer, keep)

    def schedule(self, count: int) -> tuple[int, float]:
        phase = (count % self.period) / self.period
        return round(self.low * (self.high / self.low) ** (1 - abs(1 - 2 * phase))), 1.0


class IncreaseBatchSize(BatchSizeScheduler):
    """ "Increase the batch size instead of decaying the learning rate" (Smith, Kindermans, Ying & Le 2018):
    at each milestone B is multiplied by ``factor`` where a step schedule would divide ε by it, so the temperature
    ε/(B(1 − m)) follows the same sequence as under the learning-rate decay, in fewer updates.

    Once B would exceed ``max_batch_size`` (default N) B stays there and ε takes the rest of the decay, so the
    temperature still matches the decayed schedule's.
    """

    def __init__(
        self,
        sampler: ScheduledBatchSampler,
        milestones: Sequence[int],
        factor: float,
        optimizer: torch.optim.Optimizer | None = None,
        max_batch_size: int | None = None,
    ):
        if list(milestones) != sorted(milestones) or any(not isinstance(m, int) or m < 1 for m in milestones):
            raise ValueError(f"milestones must be increasing positive integers, got {milestones!r}")
        if not isinstance(factor, int | float) or factor <= 1:
            raise ValueError(f"factor must be > 1, got {factor!r}")
        self.milestones, self.factor = list(milestones), float(factor)
        self.initial_batch_size = sampler.batch_size
        self.max_batch_size = max_batch_size or sampler.train_size
        super().__init__(sampler, optimizer, None)

    def schedule(self, count: int) -> tuple[int, float]:
        decay = self.factor ** sum(count >= m for m in self.milestones)
        batch_size = min(round(self.initial_batch_size * decay), self.max_batch_size)
        return batch_size, batch_size / (self.initial_batch_size * decay)
