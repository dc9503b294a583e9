"""``train_group``: train a group of runs sharing model shape, data, batch-size schedule and budget.

The loop is ``_GroupTraining``: a small state object holding the stacked runs (a ``Backend``), the one
SGD-with-momentum update (``MomentumSGD``), the per-run minibatch sampler and augmentation generators,
and each run's result; its methods are the three things that happen to a group — ``step`` (one update
of every live run), ``evaluate`` (full-split metrics, probes) and ``drop`` (remove diverged runs).
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from sgdnoise.data import TaskData
from sgdnoise.engine.backend import Backend
from sgdnoise.engine.config import GroupProgress, RunResult, TrainConfig
from sgdnoise.engine.general import StackedModule
from sgdnoise.engine.measure import Measurement, Probe, check_measurements, measure, model_from_state
from sgdnoise.engine.mlp import StackedMLP, fast_path_supports
from sgdnoise.engine.single import SingleModule
from sgdnoise.models import build_model

Path = Literal["auto", "fast", "general"]
ProgressCallback = Callable[[GroupProgress], None]


@dataclass(frozen=True)
class StepPlan:
    """The group's deterministic schedule: per update, its batch size and progress p (before the
    update); ``epochs[s]`` = examples processed before update s divided by N."""

    batch_sizes: np.ndarray
    progress: np.ndarray
    epochs: np.ndarray
    eval_steps: tuple[int, ...]

    @property
    def total_steps(self) -> int:
        return len(self.batch_sizes)


def plan_steps(config: TrainConfig, num_train: int) -> StepPlan:
    """Batch size and progress of every update of ``config`` on a training set of ``num_train``
    examples, and its evaluation steps (log-spaced, plus 0 and the last)."""

    def batch_at(p: float) -> int:
        value = config.batch_size(p)
        if not math.isfinite(value):
            raise ValueError(f"batch-size schedule gave {value} at progress {p}")
        return int(min(max(round(value), 1), num_train))

    sizes: list[int] = []
    progress: list[float] = []
    if config.steps is not None:
        for step in range(config.steps):
            progress.append(step / config.steps)
            sizes.append(batch_at(progress[-1]))
    else:
        assert config.epochs is not None
        target = config.epochs * num_train
        seen = 0
        while seen < target:
            progress.append(seen / target)
            sizes.append(batch_at(progress[-1]))
            seen += sizes[-1]
    batch_sizes = np.asarray(sizes, dtype=np.int64)
    epochs = np.concatenate([[0], np.cumsum(batch_sizes)]) / num_train
    total = len(sizes)
    points = np.geomspace(1, total, config.eval_points) if config.eval_points else np.zeros(0)
    eval_steps = tuple(sorted({0, total, *points.round().astype(int).tolist()}))
    return StepPlan(batch_sizes, np.asarray(progress), epochs, eval_steps)


class EpochSampler:
    """Per-run minibatch indices without replacement: each run has its own ``torch.Generator`` seeded
    with its seed, draws ``torch.randperm(N)`` at the start of every epoch and takes consecutive
    slices of B; when fewer than B examples remain in the permutation they are skipped and a new
    epoch (a fresh permutation) starts — like ``DataLoader(shuffle=True, drop_last=True)``."""

    def __init__(self, num_examples: int, seeds: Sequence[int], device: torch.device) -> None:
        self.num_examples = num_examples
        self.device = device
        self.generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        self._reshuffle()

    def _reshuffle(self) -> None:
        perms = [torch.randperm(self.num_examples, generator=g) for g in self.generators]
        self.permutations = torch.stack(perms).to(self.device) if perms else torch.empty(0, 0)
        self.cursor = 0

    def next(self, batch_size: int) -> torch.Tensor:
        """The next [R, batch_size] indices."""
        if self.cursor + batch_size > self.num_examples:
            self._reshuffle()
        indices = self.permutations[:, self.cursor : self.cursor + batch_size]
        self.cursor += batch_size
        return indices

    def keep(self, mask: list[bool]) -> None:
        self.generators = [g for g, k in zip(self.generators, mask, strict=True) if k]
        self.permutations = self.permutations[torch.tensor(mask, device=self.device)]


def _flush_denormal_enabled() -> bool:
    """Whether the CPU currently flushes denormals (torch has no getter; a denormal product tells)."""
    tiny = torch.tensor([1e-39], dtype=torch.float32)
    return bool((tiny * 1.0).item() == 0.0)


@contextlib.contextmanager
def _training_environment(num_threads: int | None) -> Iterator[None]:
    """Flush denormals (converged runs are ~10× slower with them) and optionally set the thread count;
    both restored on exit. The general path's gradients are strided views of one flat buffer, which
    autograd accumulates into correctly but warns about ("gradient layout contract"): silenced here."""
    previous_flush = _flush_denormal_enabled()
    previous_threads = torch.get_num_threads()
    torch.set_flush_denormal(True)
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="grad and param do not obey the gradient layout contract")
            yield
    finally:
        torch.set_flush_denormal(previous_flush)
        torch.set_num_threads(previous_threads)


def momentum_sgd_update_(
    params: torch.Tensor,
    grad: torch.Tensor,
    velocity: torch.Tensor | None,
    neg_lr: torch.Tensor,
    momentum: torch.Tensor,
    l2: torch.Tensor | None,
    *,
    accumulated: bool = False,
) -> None:
    """One in-place update of stacked runs (rows), Smith & Le 2018 App. D eq. 29-30 (TensorFlow form):
    ``g ← g + λ·ω`` (gradient of λ|ω|²/2), ``A ← m·A + g``, ``ω ← ω − ε·A``; with ``velocity=None``
    plain SGD ``ω ← ω − ε·g``. ``neg_lr`` (= −ε), ``momentum`` and ``l2`` are [R, 1] columns. ``grad``
    is overwritten when ``l2`` is given.

    ``accumulated=True`` is the fused form: the backend has already formed ``A ← m·A + g`` while
    computing the gradient (``loss_and_grad(..., velocity, m)``), so only ``A ← A + λ·ω`` and the step
    remain (``grad`` is not read)."""
    if accumulated:
        if velocity is None:
            raise ValueError("accumulated=True needs the velocity the gradient was accumulated into")
        if l2 is not None:
            velocity.addcmul_(l2, params)
        params.addcmul_(neg_lr, velocity)
        return
    if l2 is not None:
        grad.addcmul_(l2, params)
    direction = grad
    if velocity is not None:
        torch.addcmul(grad, velocity, momentum, out=velocity)  # A ← m·A + g in one pass
        direction = velocity
    params.addcmul_(neg_lr, direction)


class MomentumSGD:
    """The optimiser state of a group: per-step learning rates (−ε, [steps, R, 1]), momenta and L2
    coefficients ([R, 1] columns) and the velocity A ([R, P], absent when no run uses momentum).

    When every run of the group shares one momentum m > 0, the momentum step is folded into the
    backend's gradient computation (``fused_momentum`` = m; the MLP fast path does it inside the
    weight-gradient matmul) and ``update`` applies the rest of the same update."""

    def __init__(self, configs: Sequence[TrainConfig], plan: StepPlan, params: torch.Tensor) -> None:
        device, dtype = params.device, params.dtype
        self.neg_lr = torch.tensor(
            [[-c.learning_rate(float(p)) for c in configs] for p in plan.progress], dtype=dtype, device=device
        ).reshape(plan.total_steps, len(configs), 1)
        self.momentum = torch.tensor([[c.momentum] for c in configs], dtype=dtype, device=device)
        uses_l2 = any(c.l2 > 0 for c in configs)
        self.l2 = torch.tensor([[c.l2] for c in configs], dtype=dtype, device=device) if uses_l2 else None
        uses_momentum = any(c.momentum > 0 for c in configs)
        self.velocity = torch.zeros_like(params) if uses_momentum else None
        momenta = {c.momentum for c in configs}
        self.fused_momentum = momenta.pop() if uses_momentum and len(momenta) == 1 else None

    def gradient_target(self) -> tuple[torch.Tensor | None, float]:
        """What ``Backend.loss_and_grad`` accumulates the gradient into: (velocity, m) when fused."""
        if self.fused_momentum is None:
            return None, 0.0
        return self.velocity, self.fused_momentum

    @torch.no_grad()
    def update(self, step: int, params: torch.Tensor, grad: torch.Tensor) -> None:
        momentum_sgd_update_(
            params,
            grad,
            self.velocity,
            self.neg_lr[step],
            self.momentum,
            self.l2,
            accumulated=self.fused_momentum is not None,
        )

    def keep(self, mask: torch.Tensor) -> None:
        self.neg_lr, self.momentum = self.neg_lr[:, mask], self.momentum[mask]
        if self.l2 is not None:
            self.l2 = self.l2[mask]
        if self.velocity is not None:
            self.velocity = self.velocity[mask].contiguous()


def _validate(configs: Sequence[TrainConfig], task: TaskData, path: str) -> None:
    if not configs:
        raise ValueError("train_group needs at least one TrainConfig")
    if not all(isinstance(c, TrainConfig) for c in configs):
        raise TypeError("configs must be TrainConfig instances")
    if len({c.group_key() for c in configs}) != 1:
        raise ValueError(
            "configs of one group must share model, batch-size schedule, budget, eval_points and "
            "augmentation (use group_configs to split them)"
        )
    if not isinstance(task, TaskData):
        raise TypeError(f"task must be a TaskData, got {type(task).__name__}")
    if path not in ("auto", "fast", "general"):
        raise ValueError(f"path must be 'auto', 'fast' or 'general', got {path!r}")
    augmentation = configs[0].augmentation
    if path == "fast" and not (fast_path_supports(configs[0].model) and augmentation is None):
        raise ValueError("path='fast' needs an MLPSpec and no augmentation; use path='general'")
    if augmentation is not None and task.train.x.ndim != 4:
        raise ValueError(
            f"augmentation {augmentation!r} needs image inputs [N, C, H, W], got {tuple(task.train.x.shape)}"
        )
    classes = getattr(configs[0].model, "num_classes", None)
    for name, split in task.splits.items():
        if split.x.shape[0] == 0:
            raise ValueError(f"the {name} split of the task holds no examples")
        if classes is not None and (int(split.y.min()) < 0 or int(split.y.max()) >= classes):
            raise ValueError(f"{name} labels must lie in [0, {classes}) for this model")


def train_group(
    configs: Sequence[TrainConfig],
    task: TaskData,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    path: Path = "auto",
    progress: ProgressCallback | None = None,
    probes: Sequence[Probe] = (),
    measurements: Sequence[Measurement] = (),
    keep_state: bool = False,
    num_threads: int | None = None,
    eval_chunk: int = 1000,
) -> list[RunResult]:
    """Train ``configs`` (one group, see ``TrainConfig.group_key``) on ``task``; one result per config.

    The splits of ``task`` are moved once to ``device``/``dtype`` (default: where the training inputs
    are) and stay resident; each update is one batched forward/backward for all live runs.
    ``path="auto"`` uses the MLP fast path when the model allows (``StackedMLP``; no augmentation) and
    the general path otherwise: ``StackedModule`` (vmap) for several runs, ``SingleModule`` (the plain
    module, no vmap) for a group of one. Every evaluation step measures loss and accuracy on every split
    (``task.splits``: train, validation if present, test). A run whose loss or parameters become
    non-finite is recorded as diverged and dropped; the others continue unchanged.

    ``probes`` measure during training at their steps (after the evaluation of that step);
    ``measurements`` run once on each finished run's final model. Both receive an ``nn.Module`` rebuilt
    from the run's stacked state and ``task``. ``keep_state`` returns each finished run's final state
    dict (CPU). ``progress`` is called about 200 times per group and at every evaluation/divergence.
    ``num_threads`` sets torch's CPU threads during the call. Denormals are flushed while training;
    global state is restored after.
    """
    _validate(configs, task, path)
    probes = tuple(probes)
    if not all(isinstance(p, Probe) for p in probes):
        raise TypeError("probes must be Probe instances")
    measurements = check_measurements(measurements)
    if eval_chunk < 1:
        raise ValueError(f"eval_chunk must be >= 1, got {eval_chunk}")
    if num_threads is not None and num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    device = torch.device(device) if device is not None else task.train.x.device
    with _training_environment(num_threads):
        training = _GroupTraining(list(configs), task, device, dtype, path, progress, probes, eval_chunk)
        return training.run(measurements, keep_state)


def time_group(
    configs: Sequence[TrainConfig],
    task: TaskData,
    batch_sizes: Sequence[int],
    *,
    device: torch.device,
    repeats: int,
    warmup: int,
    num_threads: int | None = None,
) -> tuple[list[float], float]:
    """What ``train_group`` spends on the group ``configs``: the median seconds of one update of every run at
    each of ``batch_sizes`` (each timed alone, after ``warmup`` untimed ones), and the seconds of one
    evaluation of every split. For a dry run's estimate: the parameters are the initial ones, and the update
    steps are those of the first learning rate."""

    def timed(work: Callable[[], object]) -> float:
        _synchronize(device)
        start = time.perf_counter()
        work()
        _synchronize(device)
        return time.perf_counter() - start

    with _training_environment(num_threads):
        training = _GroupTraining(list(configs), task, device, torch.float32, "auto", None, (), 1000)
        evaluation = timed(lambda: training.evaluate(0))

        def update(batch_size: int) -> None:
            training.gradient(batch_size)
            training.optimizer.update(0, training.backend.params, training.backend.grad)

        updates = []
        for batch_size in batch_sizes:
            seconds = [timed(lambda b=batch_size: update(b)) for _ in range(warmup + repeats)]
            updates.append(statistics.median(seconds[warmup:]))
    return updates, evaluation


def time_measurements(
    config: TrainConfig,
    task: TaskData,
    measurements: Sequence[Measurement],
    *,
    device: torch.device,
    num_threads: int | None = None,
) -> dict[str, float]:
    """The seconds of one call of each of ``measurements`` (by name) on the run ``config``'s model as built,
    untrained: what each costs a run per final measurement or probe, for a dry run's estimate."""
    with _training_environment(num_threads):
        model = build_model(config.model, config.seed, device=device, dtype=torch.float32)
        seconds = {}
        for measurement in check_measurements(measurements):
            _synchronize(device)
            start = time.perf_counter()
            measure(model, task, [measurement])
            _synchronize(device)
            seconds[measurement.name] = time.perf_counter() - start
    return seconds


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _augmentation_generator(seed: int) -> torch.Generator:
    """A run's CPU generator for augmentation, seeded from its seed but independent of its sampler."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 1]).generate_state(1)[0]))


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    names = list(dict.fromkeys(name for row in rows for name in row))
    return {name: [row.get(name) for row in rows] for name in names}


class _GroupTraining:
    """One group in training. ``live[row]`` is the config index of each row of the stacked state."""

    def __init__(
        self,
        configs: list[TrainConfig],
        task: TaskData,
        device: torch.device,
        dtype: torch.dtype,
        path: str,
        progress: ProgressCallback | None,
        probes: tuple[Probe, ...],
        eval_chunk: int,
    ) -> None:
        self.configs, self.task, self.device, self.dtype = configs, task, device, dtype
        self.splits = {
            name: (split.x.to(device=device, dtype=dtype), split.y.to(device=device, dtype=torch.long))
            for name, split in task.splits.items()
        }
        train_x, train_y = self.splits["train"]
        self.plan = plan_steps(configs[0], train_x.shape[0])
        spec = configs[0].model
        models = [build_model(spec, c.seed, device=device, dtype=dtype) for c in configs]
        use_fast = path == "fast" or (path == "auto" and fast_path_supports(spec) and configs[0].augmentation is None)
        self.backend: Backend
        if use_fast:
            max_batch = int(self.plan.batch_sizes.max())
            self.backend = StackedMLP(spec, models, train_x, train_y, max_batch=max_batch)  # type: ignore[arg-type]
        elif len(models) == 1:
            self.backend = SingleModule(models[0], train_x, train_y)
        else:
            self.backend = StackedModule(models, train_x, train_y)
        del models
        self.optimizer = MomentumSGD(configs, self.plan, self.backend.params)
        self.sampler = EpochSampler(train_x.shape[0], [c.seed for c in configs], device)
        self.augmentation = configs[0].augmentation
        self.augment_generators = [_augmentation_generator(c.seed) for c in configs] if self.augmentation else []
        self.live = list(range(len(configs)))
        self.ends: dict[int, dict[str, Any]] = {}  # config index → its status, metrics (measurements, state)
        self.history: list[list[dict[str, Any]]] = [[] for _ in configs]
        self.probe_rows: list[list[dict[str, Any]]] = [[] for _ in configs]
        self.probes_at: dict[int, list[Measurement]] = {}
        for probe in probes:
            for step in probe.schedule(self.plan.epochs):
                self.probes_at.setdefault(step, []).append(probe.measurement)
        self.progress = progress
        self.eval_chunk = eval_chunk
        self.diverged = 0

    def run(self, measurements: tuple[Measurement, ...], keep_state: bool) -> list[RunResult]:
        """Train to the end of the budget (or until every run diverged) and fill in the results."""
        plan = self.plan
        eval_steps = set(plan.eval_steps)
        report_every = max(1, plan.total_steps // 200)
        start = time.perf_counter()
        for step in range(plan.total_steps + 1):
            if step in eval_steps:
                self.evaluate(step)
            if step in self.probes_at:
                self.probe(step, self.probes_at[step])
            if step in eval_steps:
                self.report(step)
            if step == plan.total_steps or not self.live:
                break
            self.step(step)
            if not self.live:
                break
            if (step + 1) % report_every == 0 and step + 1 not in eval_steps:
                self.report(step + 1)
        for row, index in enumerate(self.live):
            metrics = self.history[index][-1] | {"steps_done": plan.total_steps, "diverged_at_step": None}
            end = self.ends[index] = {"status": "finished", "metrics": metrics}
            if measurements or keep_state:
                state = self.backend.state_dict(row)
                if measurements:
                    model = model_from_state(self.configs[index], state, self.device, self.dtype)
                    end["measurements"] = measure(model, self.task, measurements)
                if keep_state:
                    end["state_dict"] = {name: value.cpu() for name, value in state.items()}
        seconds = (time.perf_counter() - start) / len(self.configs)
        return [
            RunResult(
                config=config,
                history=_columns(self.history[index]),
                probes=_columns(self.probe_rows[index]),
                seconds=seconds,
                **self.ends[index],
            )
            for index, config in enumerate(self.configs)
        ]

    def step(self, step: int) -> None:
        """One update of every live run on its own minibatch; runs with a non-finite loss are dropped."""
        loss = self.gradient(int(self.plan.batch_sizes[step]))
        finite = torch.isfinite(loss)
        if not bool(finite.all()):
            self.drop([row for row, ok in enumerate(finite.tolist()) if not ok], step)
            if not self.live:
                return
        self.optimizer.update(step, self.backend.params, self.backend.grad)

    def gradient(self, batch_size: int) -> torch.Tensor:
        """Every live run's loss on its next minibatch of ``batch_size``; its gradient goes where the update
        reads it (``MomentumSGD.gradient_target``)."""
        x, y = self.backend.gather(self.sampler.next(batch_size))
        if self.augmentation is not None:
            from sgdnoise.data.augment import augment

            x = torch.stack([augment(self.augmentation, x[r], g) for r, g in enumerate(self.augment_generators)])
        velocity, momentum = self.optimizer.gradient_target()
        return self.backend.loss_and_grad(x, y, velocity, momentum)

    def evaluate(self, step: int) -> None:
        """Mean loss and accuracy of every live run on every split (in chunks of ``eval_chunk``), one
        history row each; runs with a non-finite loss or parameters are dropped instead."""
        columns: dict[str, list[float]] = {}
        finite = torch.isfinite(self.backend.params).all(dim=1)
        for name, (x, y) in self.splits.items():
            loss_sum = torch.zeros(len(self.live), dtype=torch.float64, device=self.device)
            correct = torch.zeros(len(self.live), dtype=torch.float64, device=self.device)
            for start in range(0, x.shape[0], self.eval_chunk):
                chunk = slice(start, start + self.eval_chunk)
                chunk_loss, chunk_correct = self.backend.evaluate(x[chunk], y[chunk])
                loss_sum += chunk_loss.double()
                correct += chunk_correct.double()
            finite &= torch.isfinite(loss_sum)
            columns[f"{name}_loss"] = (loss_sum / x.shape[0]).tolist()
            columns[f"{name}_acc"] = (correct / x.shape[0]).tolist()
        plan = self.plan
        progress = float(plan.progress[step]) if step < plan.total_steps else 1.0
        bad = [row for row, ok in enumerate(finite.tolist()) if not ok]
        for row, index in enumerate(self.live):
            if row not in bad:
                self.history[index].append(
                    {
                        "step": step,
                        "epoch": float(plan.epochs[step]),
                        "learning_rate": self.configs[index].learning_rate(progress),
                        "batch_size": int(plan.batch_sizes[min(step, plan.total_steps - 1)]),
                    }
                    | {column: values[row] for column, values in columns.items()}
                )
        if bad:
            self.drop(bad, step)

    def probe(self, step: int, measurements: list[Measurement]) -> None:
        """Measure every live run's current model (rebuilt from its row of the stacked state)."""
        for row, index in enumerate(self.live):
            model = model_from_state(self.configs[index], self.backend.state_dict(row), self.device, self.dtype)
            values = measure(model, self.task, measurements)
            row_values: dict[str, Any] = {"step": step, "epoch": float(self.plan.epochs[step])}
            row_values |= {f"{name}.{q}": v for name, quantities in values.items() for q, v in quantities.items()}
            self.probe_rows[index].append(row_values)

    def drop(self, rows: list[int], step: int) -> None:
        """Record the runs in ``rows`` as diverged after ``step`` updates and remove them from the group."""
        for row in rows:
            self.ends[self.live[row]] = {
                "status": "diverged",
                "metrics": {"steps_done": step, "diverged_at_step": step},
            }
        self.diverged += len(rows)
        keep = [row not in rows for row in range(len(self.live))]
        mask = torch.tensor(keep, device=self.device)
        self.backend.keep(mask)
        self.optimizer.keep(mask)
        self.sampler.keep(keep)
        self.augment_generators = [g for g, k in zip(self.augment_generators, keep, strict=False) if k]
        self.live = [index for index, k in zip(self.live, keep, strict=True) if k]
        self.report(step)

    def report(self, step: int) -> None:
        if self.progress is not None:
            total = self.plan.total_steps
            finished = len(self.live) if step == total else 0
            self.progress(GroupProgress(step, total, len(self.configs), finished, self.diverged))
