"""Optimisers and batch-size schedules for your own training loop.

* ``SGLD``: Langevin posterior sampling, Smith & Le 2018 App. A eq. 17.
* ``ScheduledBatchSampler`` with ``CyclicBatchSize`` and ``IncreaseBatchSize``: batch-size schedules shaped like
  ``torch.optim.lr_scheduler`` (``step()``, ``get_last_bs()``, ``state_dict()``/``load_state_dict()``) that drive
  a ``DataLoader`` through its batch sampler; ``keep="temperature"`` or ``"noise_scale"`` rescales the
  optimiser's learning rate whenever B changes so that T = ε/(B(1 − m)) (Smith, Elsen & De 2020 §3.3) or
  g = ε(N/B − 1)/(1 − m) (Smith & Le 2018 eq. 13, App. D) stays at its starting value.
* ``NoiseScaleBatchSize``: B grows with the gradient noise scale B_simple that a ``NoiseMonitor`` measures
  during training (McCandlish et al. 2018), ε follows the regime's rule of Smith, Elsen & De 2020 §3–5.
"""

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from sgdnoise import theory
from sgdnoise.monitor import MonitorRecord, NoiseMonitor
from sgdnoise.monitor.optimizers import sgd_dampening
from sgdnoise.validation import positive_int, positive_number, random_seed

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
        defaults = {
            "lr": positive_number("lr", lr),
            "train_size": positive_int("train_size", train_size),
            "temperature": positive_number("temperature", temperature, allow_zero=True),
        }
        super().__init__(params, defaults)
        self.generator = generator

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """A group's own ``lr``, ``train_size`` or ``temperature`` is checked as the constructor's are."""
        checks = {
            "lr": positive_number,
            "train_size": positive_int,
            "temperature": lambda name, value: positive_number(name, value, allow_zero=True),
        }
        for key, check in checks.items():
            if key in param_group:
                param_group[key] = check(key, param_group[key])
        super().add_param_group(param_group)

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
        self.train_size: int = positive_int("train_size", train_size)  # type: ignore[assignment]
        self.seed, self.drop_last = random_seed("seed", seed), bool(drop_last)
        self.batch_size = batch_size
        self.epoch, self.position = 0, 0

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        value = positive_int("batch_size", value)  # type: ignore[assignment]
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
    scale needs ``train_size`` N, taken from the sampler); a group at ε = 0 (a frozen body) stays there.
    Subclasses define ``schedule(count) -> (B, lr factor)``.

    Like torch's chainable learning-rate schedulers, it composes with them: a change another scheduler (or the
    user) makes to a group's ε between two ``step()`` calls is kept as a factor on everything this schedule sets
    afterwards (a decay, a warm-up). Schedulers that set ε outright (``LambdaLR``, ``OneCycleLR``) are not
    composed: stepped after this schedule they overwrite its factor, stepped before it they give a mix.
    """

    def __init__(
        self, sampler: ScheduledBatchSampler, optimizer: torch.optim.Optimizer | None = None, keep: Keep | None = None
    ):
        if keep not in (None, "temperature", "noise_scale"):
            raise ValueError(f"keep must be None, 'temperature' or 'noise_scale', got {keep!r}")
        if keep is not None and optimizer is None:
            raise ValueError(f"keep={keep!r} adjusts the learning rate, so it needs the optimizer")
        if keep is not None and not isinstance(optimizer, torch.optim.SGD):
            raise TypeError(
                f"keep={keep!r} holds an SGD quantity (ε/(B(1 − m)) or ε(N/B − 1)/(1 − m)), so the optimizer must be "
                f"torch.optim.SGD, got {type(optimizer).__name__}"
            )
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        self.sampler, self.optimizer, self.keep = _scheduled(sampler), optimizer, keep
        groups = optimizer.param_groups if optimizer is not None else []
        self.base_lrs = [float(g["lr"]) for g in groups]
        self.references = [
            theory.SGDConfig(g["lr"], sampler.batch_size, sampler.train_size, g.get("momentum", 0.0))
            if keep is not None and g["lr"] > 0
            else None
            for g in groups
        ]
        self.outside_factors = [1.0] * len(groups)  # what other schedulers made of each group's ε, as a factor
        self.last_set: list[float | None] = [None] * len(groups)  # each group's ε as this schedule last set it
        self.intrinsic: list[float | None] = [None] * len(groups)  # the same before the outside factor
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
        self._read_outside_changes()
        groups = zip(self.optimizer.param_groups, self.base_lrs, self.references, strict=True)
        for i, (group, base, ref) in enumerate(groups):
            lr = base
            if self.keep is not None and ref is not None:
                lr = theory.equivalent_config(ref, "lr", batch_size=batch_size, rule=self.keep).lr
            self._set_lr(i, group, lr * lr_factor)

    def _read_outside_changes(self) -> None:
        """Where another scheduler (or the user) changed a group's ε since this schedule last set it, its factor
        becomes that ε over this schedule's own value (so an ε taken to 0 and back recovers)."""
        assert self.optimizer is not None
        for i, group in enumerate(self.optimizer.param_groups):
            last, own, now = self.last_set[i], self.intrinsic[i], float(group["lr"])
            if last is not None and own is not None and now != last and own > 0:
                self.outside_factors[i] = now / own

    def _set_lr(self, index: int, group: dict[str, Any], lr: float, ceiling: float = math.inf) -> None:
        """Set ε = this schedule's ``lr`` times the outside factor, at most ``ceiling``."""
        factor = self.outside_factors[index]
        self.intrinsic[index] = lr
        group["lr"] = self.last_set[index] = min(lr * factor, ceiling) if factor != 1.0 else lr

    def _restore_lrs(self, state: dict[str, Any]) -> None:
        self.last_set, self.intrinsic = list(state["last_set"]), list(state["intrinsic"])
        if self.optimizer is not None:
            for group, lr in zip(self.optimizer.param_groups, state["lrs"], strict=True):
                group["lr"] = lr

    def get_last_bs(self) -> int:
        return self.sampler.batch_size

    def get_last_lr(self) -> list[float]:
        return [float(g["lr"]) for g in self.optimizer.param_groups] if self.optimizer is not None else []

    def state_dict(self) -> dict[str, Any]:
        return {
            "last_epoch": self.last_epoch,
            "base_lrs": self.base_lrs,
            "references": [vars(r) if r is not None else None for r in self.references],
            "outside_factors": list(self.outside_factors),
            "last_set": list(self.last_set),
            "intrinsic": list(self.intrinsic),
            "lrs": self.get_last_lr(),  # ε as it is now, with what other schedulers did since this one's step
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the schedule, the sampler's B and every group's ε as they were when the state was saved (so a
        decay stepped after this schedule's last step is kept, whether the optimizer's state is loaded before or
        after); from an earlier version's state, ε is set again from the schedule."""
        self.base_lrs = list(state["base_lrs"])
        self.references = [theory.SGDConfig(**r) if r is not None else None for r in state["references"]]
        self.outside_factors = list(state.get("outside_factors", [1.0] * len(self.base_lrs)))
        self.last_epoch = state["last_epoch"]
        if "last_set" in state:
            self._restore_lrs(state)
            self.sampler.batch_size = self.schedule(self.last_epoch)[0]
        else:
            self.last_epoch -= 1
            self.step()


def _scheduled(sampler: object) -> ScheduledBatchSampler:
    """``sampler`` if it is a ``ScheduledBatchSampler``, else a TypeError saying what a schedule needs."""
    if not isinstance(sampler, ScheduledBatchSampler):
        raise TypeError(
            f"sampler must be a sgdnoise.optim.ScheduledBatchSampler (its batch size can change), got "
            f"{type(sampler).__name__}"
        )
    return sampler


def _max_batch_size(sampler: ScheduledBatchSampler, max_batch_size: int | None) -> int:
    """A schedule's cap on B (None: N), checked to lie between the sampler's batch size and N."""
    cap: int = positive_int("max_batch_size", max_batch_size, optional=True) or sampler.train_size  # type: ignore[assignment]
    if not sampler.batch_size <= cap <= sampler.train_size:
        raise ValueError(
            f"max_batch_size must lie in [the sampler's batch size {sampler.batch_size}, N={sampler.train_size}], "
            f"got {cap}"
        )
    return cap


class CyclicBatchSize(BatchSizeScheduler):
    """Batch size cycling geometrically between ``low`` and ``high``: up for ``period/2`` steps, then down.

    B(c) = round(low·(high/low)^{1 − |1 − 2·frac(c/period)|}); start at ``low``; ``high`` ≤ the sampler's N.
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
        _scheduled(sampler)
        low, high = positive_int("low", low), positive_int("high", high)
        if not low <= high:  # type: ignore[operator]
            raise ValueError(f"need low <= high, got low={low}, high={high}")
        if high > sampler.train_size:  # type: ignore[operator]
            raise ValueError(f"high={high} exceeds the sampler's training-set size N={sampler.train_size}")
        if keep == "noise_scale" and high == sampler.train_size:
            raise ValueError(
                f"keep='noise_scale' needs high < N={sampler.train_size}: at B = N the noise scale ε(N/B − 1)/(1 − m) "
                "is 0 for every ε, so no learning rate keeps it"
            )
        self.low, self.high, self.period = low, high, positive_int("period", period, minimum=2)
        super().__init__(sampler, optimizer, keep)

    def schedule(self, count: int) -> tuple[int, float]:
        phase = (count % self.period) / self.period
        return round(self.low * (self.high / self.low) ** (1 - abs(1 - 2 * phase))), 1.0


class IncreaseBatchSize(BatchSizeScheduler):
    """ "Increase the batch size instead of decaying the learning rate" (Smith, Kindermans, Ying & Le 2018):
    at each milestone B is multiplied by ``factor`` where a step schedule would divide ε by it, so the temperature
    ε/(B(1 − m)) follows the same sequence as under the learning-rate decay, in fewer updates.

    Once B would exceed ``max_batch_size`` (default N; it must lie between the sampler's batch size and N) B stays
    there and ε takes the rest of the decay, so the temperature still matches the decayed schedule's.
    """

    def __init__(
        self,
        sampler: ScheduledBatchSampler,
        milestones: Sequence[int],
        factor: float,
        optimizer: torch.optim.Optimizer | None = None,
        max_batch_size: int | None = None,
    ):
        _scheduled(sampler)
        if not isinstance(milestones, Iterable) or isinstance(milestones, str):
            raise TypeError(f"milestones must be the steps to grow B at, e.g. [30, 60], got {milestones!r}")
        self.milestones = [positive_int("milestones", int(m) if hasattr(m, "__index__") else m) for m in milestones]
        if self.milestones != sorted(self.milestones):
            raise ValueError(f"milestones must be increasing positive integers, got {milestones!r}")
        self.factor = positive_number("factor", factor)
        if self.factor <= 1:
            raise ValueError(f"factor must be > 1, got {factor!r}")
        self.initial_batch_size = sampler.batch_size
        self.max_batch_size = _max_batch_size(sampler, max_batch_size)
        super().__init__(sampler, optimizer, None)

    def schedule(self, count: int) -> tuple[int, float]:
        decay = self.factor ** sum(count >= m for m in self.milestones)
        batch_size = min(round(self.initial_batch_size * decay), self.max_batch_size)
        return batch_size, batch_size / (self.initial_batch_size * decay)


class NoiseScaleBatchSize(BatchSizeScheduler):
    """Batch size grown with the measured gradient noise scale; ε set by the regime's rule.

    B_simple = tr Σ/|G|² (McCandlish et al. 2018 eq. 2.8) estimates the critical batch B_crit, beyond which a
    larger batch stops cutting the number of updates S = S_min(1 + B_noise/B) (eq. 2.11); it grows as the
    loss falls. After every new record of ``monitor`` (``NoiseMonitor``: B̂ = ratio of window means, with its
    standard error se), ``step()`` applies, with B₀ the sampler's batch size at creation:

    * growth only, on the rungs B₀·factor^k (rounded) and ``max_batch_size`` (default N): B moves up to the
      largest rung ≤ fraction·(B̂ − z·se), once the window holds ≥ ``min_estimates`` estimates (default: the
      monitor's window). The lower bound (z standard errors) and the rung spacing (a rung is ``factor``× the
      last) are the hysteresis: noise in B̂ cannot make B jitter, and B never shrinks;
    * ε per parameter group (momentum m): ε = min(T·B·(1 − m), ε_max). Below the cap training is noise-dominated
      and the temperature T = ε/(B(1 − m)) is kept (Smith, Elsen & De 2020 §3.3: ε ∝ B at fixed T); at the cap it
      is curvature-dominated and ε stops growing (§3.1, §5). ε_max = min(``max_lr``, ``critical_fraction``·
      2(1 + m)/λ_max): a fraction of the largest stable ε of heavy-ball SGD on a quadratic of curvature λ_max
      (``theory.heavy_ball_stability_learning_rate``; ε_crit = 2/λ_max at m = 0), λ_max the monitor's latest
      curvature measurement (none yet: only ``max_lr`` caps). With several groups the curvature cap is the first
      group's (its m and Nesterov flag), and where it binds every group's ε is scaled by the same factor: the
      monitor's λ_max is then that of DH, D = each group's ε over the first's, whose bound holds only while
      those ratios do. SGD's dampening d makes the step heavy ball at ε(1 − d), so ε_stable is divided by 1 − d;
      a factor another scheduler applied to ε below 1 multiplies the ε set, one above 1 never lifts it past the caps.

    ``temperature``: T for every group at ε > 0 (default: each group's ε/(B₀(1 − m)) at creation); a group at
    ε = 0 stays there. ``optimizer`` must be
    ``torch.optim.SGD`` (the temperature is an SGD quantity). Call ``monitor.step(x, y)`` then ``step()`` after
    every ``optimizer.step()``; the sampler's next batch has the new B. Resume with ``state_dict()`` together
    with the monitor's, the sampler's and the optimizer's.
    """

    def __init__(
        self,
        sampler: ScheduledBatchSampler,
        monitor: NoiseMonitor,
        optimizer: torch.optim.Optimizer,
        *,
        temperature: float | None = None,
        max_lr: float | None = None,
        critical_fraction: float | None = None,
        fraction: float = 1.0,
        factor: float = 2.0,
        z: float = 1.0,
        max_batch_size: int | None = None,
        min_estimates: int | None = None,
    ):
        _scheduled(sampler)
        if not isinstance(monitor, NoiseMonitor):
            raise TypeError(f"monitor must be a sgdnoise.monitor.NoiseMonitor, got {type(monitor).__name__}")
        if not isinstance(optimizer, torch.optim.SGD):
            raise TypeError(
                f"optimizer must be torch.optim.SGD (the temperature ε/(B(1 − m)) is an SGD quantity), "
                f"got {type(optimizer).__name__}"
            )
        if monitor.train_size is not None and monitor.train_size != sampler.train_size:
            raise ValueError(
                f"the monitor's train_size={monitor.train_size} differs from the sampler's N={sampler.train_size}"
            )
        for name, value in (("temperature", temperature), ("max_lr", max_lr), ("critical_fraction", critical_fraction)):
            if value is not None:
                positive_number(name, value)
        positive_number("fraction", fraction)
        if positive_number("factor", factor) <= 1:
            raise ValueError(f"factor must be > 1, got {factor!r}")
        if isinstance(z, bool) or not isinstance(z, int | float) or not 0 <= z < math.inf:
            raise ValueError(f"z must be a finite number >= 0, got {z!r}")
        self.initial_batch_size = sampler.batch_size
        self.max_batch_size = _max_batch_size(sampler, max_batch_size)
        self.min_estimates = positive_int("min_estimates", min_estimates, minimum=2, optional=True) or monitor.window
        if z > 0 and monitor.window < 2:
            raise ValueError(
                f"z={z:g} standard errors need the monitor's window >= 2 estimates (it is {monitor.window}: B_simple "
                "has no standard error, so B would never grow); widen the window or pass z=0"
            )
        if self.min_estimates > monitor.window:
            raise ValueError(
                f"min_estimates={self.min_estimates} exceeds the monitor's window={monitor.window}: never reached"
            )
        self.monitor, self.max_lr, self.critical_fraction = monitor, max_lr, critical_fraction
        self.fraction, self.factor, self.z = float(fraction), float(factor), float(z)
        self.momenta = [float(g.get("momentum", 0.0)) for g in optimizer.param_groups]
        self.dampenings = [
            sgd_dampening(float(g.get("dampening", 0.0)), m)
            for g, m in zip(optimizer.param_groups, self.momenta, strict=True)
        ]
        self.temperatures = [
            0.0  # a group at ε = 0 (a frozen body) stays there
            if g["lr"] == 0
            else float(temperature)
            if temperature is not None
            else float(theory.temperature(g["lr"], sampler.batch_size, m))
            for g, m in zip(optimizer.param_groups, self.momenta, strict=True)
        ]
        self.rungs = self._rungs()
        self.batch_size = self.initial_batch_size
        self.last_record_step: int | None = None
        self.max_eigenvalue: float | None = None
        super().__init__(sampler, optimizer, None)

    def _rungs(self) -> list[int]:
        """The batch sizes B may take: B₀·factor^k rounded, below ``max_batch_size``, then ``max_batch_size``."""
        rungs, k = {self.max_batch_size}, 0
        while (rung := round(self.initial_batch_size * self.factor**k)) < self.max_batch_size:
            rungs.add(rung)
            k += 1
        return sorted(rungs)

    def _grown(self, record: MonitorRecord) -> int:
        """The largest rung ≤ fraction·(B̂ − z·se), if above the current B (the docstring's growth rule)."""
        estimate, stderr = record.noise_scale_simple, record.noise_scale_simple_stderr
        if estimate is None or (stderr is None and self.z > 0) or record.window < self.min_estimates:
            return self.batch_size
        bound = self.fraction * (estimate - self.z * (stderr or 0.0))
        return max([self.batch_size] + [rung for rung in self.rungs if rung <= bound])

    def learning_rate_cap(self, momentum: float, *, nesterov: bool = False, dampening: float = 0.0) -> float:
        """ε_max = min(max_lr, critical_fraction·ε_stable) (inf when nothing caps), with ε_stable = 2(1 + m)/λ_max
        for heavy ball and 2(1 + m)/((1 + 2m)λ_max) for Nesterov, over (1 − d) for SGD's dampening d."""
        ceiling = self.max_lr if self.max_lr is not None else math.inf
        return min(ceiling, self._curvature_cap(momentum, nesterov, dampening))

    def _curvature_cap(self, momentum: float, nesterov: bool, dampening: float = 0.0) -> float:
        """critical_fraction·ε_stable at the monitor's latest λ_max (inf without either); torch's SGD with
        dampening d steps heavy ball at ε(1 − d), so its ε_stable is that of heavy ball over (1 − d)."""
        if self.critical_fraction is None or self.max_eigenvalue is None:
            return math.inf
        stable = float(theory.sgd_stability_learning_rate(self.max_eigenvalue, momentum, nesterov=nesterov))
        return self.critical_fraction * stable / (1.0 - dampening)

    def step(self) -> None:
        """Read the monitor's latest record (if new), grow B by the rule, then set B and every group's ε."""
        self.last_epoch += 1
        records = self.monitor.records
        if records and records[-1].step != self.last_record_step:
            record = records[-1]
            self.last_record_step = record.step
            if record.max_eigenvalue is not None and record.max_eigenvalue > 0:
                self.max_eigenvalue = record.max_eigenvalue
            self.batch_size = self._grown(record)
        self._apply()

    def _apply(self) -> None:
        """Every group's ε = T·B·(1 − m), all scaled down together where the reference group's (the first, or the
        largest when the first is at ε = 0) exceeds its curvature cap (the ratios between groups are those of D in
        the monitor's λ_max(DH)), then each held to ``max_lr``; another scheduler's factor below 1 multiplies the
        result (a decay, a warm-up), one above 1 never lifts ε past it (the caps keep their meaning)."""
        self.sampler.batch_size = self.batch_size
        assert self.optimizer is not None
        groups = self.optimizer.param_groups
        self._read_outside_changes()
        wanted = [t * self.batch_size * (1 - m) for t, m in zip(self.temperatures, self.momenta, strict=True)]
        reference = 0 if wanted[0] > 0 else max(range(len(wanted)), key=wanted.__getitem__)
        nesterov = bool(groups[reference].get("nesterov", False))
        cap = self._curvature_cap(self.momenta[reference], nesterov, self.dampenings[reference])
        scale = min(1.0, cap / wanted[reference]) if wanted[reference] > 0 else 1.0
        ceiling = self.max_lr if self.max_lr is not None else math.inf
        for i, (group, lr) in enumerate(zip(groups, wanted, strict=True)):
            own = min(scale * lr, ceiling)
            self._set_lr(i, group, own, ceiling=own)

    def state_dict(self) -> dict[str, Any]:
        return {
            "last_epoch": self.last_epoch,
            "batch_size": self.batch_size,
            "last_record_step": self.last_record_step,
            "max_eigenvalue": self.max_eigenvalue,
            "temperatures": list(self.temperatures),
            "outside_factors": list(self.outside_factors),
            "last_set": list(self.last_set),
            "intrinsic": list(self.intrinsic),
            "lrs": self.get_last_lr(),
            "initial_batch_size": self.initial_batch_size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the count, B, the last record read, λ_max and T without reading the monitor; set B, and ε as
        ``BatchSizeScheduler.load_state_dict`` does (left to the optimizer's state when this version saved it)."""
        self.last_epoch, self.batch_size = state["last_epoch"], state["batch_size"]
        self.last_record_step, self.max_eigenvalue = state["last_record_step"], state["max_eigenvalue"]
        self.temperatures = list(state["temperatures"])
        self.outside_factors = list(state.get("outside_factors", [1.0] * len(self.temperatures)))
        if "initial_batch_size" in state:  # B₀ sets the rungs: a scheduler made after the sampler grew has the run's
            self.initial_batch_size = state["initial_batch_size"]
            self.rungs = self._rungs()
        if "last_set" in state:
            self._restore_lrs(state)
            self.sampler.batch_size = self.batch_size
        else:
            self._apply()
