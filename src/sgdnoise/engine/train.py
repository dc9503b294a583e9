"""``train_group``: train a group of runs sharing model shape, data, batch-size schedule and budget."""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from sgdnoise.engine.config import GroupProgress, RunResult, TrainConfig
from sgdnoise.engine.general import StackedModule
from sgdnoise.engine.mlp import StackedMLP, fast_path_supports
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
) -> None:
    """One in-place update of stacked runs (rows), Smith & Le 2018 App. D eq. 29-30 (TensorFlow form):
    ``g ← g + λ·ω`` (gradient of λ|ω|²/2), ``A ← m·A + g``, ``ω ← ω − ε·A``; with ``velocity=None``
    plain SGD ``ω ← ω − ε·g``. ``neg_lr`` (= −ε), ``momentum`` and ``l2`` are [R, 1] columns. ``grad``
    is overwritten when ``l2`` is given."""
    if l2 is not None:
        grad.addcmul_(l2, params)
    direction = grad
    if velocity is not None:
        torch.addcmul(grad, velocity, momentum, out=velocity)  # A ← m·A + g in one pass
        direction = velocity
    params.addcmul_(neg_lr, direction)


def _validate(
    configs: Sequence[TrainConfig],
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor | None,
    test_y: torch.Tensor | None,
    path: str,
) -> None:
    if not configs:
        raise ValueError("train_group needs at least one TrainConfig")
    if not all(isinstance(c, TrainConfig) for c in configs):
        raise TypeError("configs must be TrainConfig instances")
    if len({c.group_key() for c in configs}) != 1:
        raise ValueError(
            "configs of one group must share model, batch-size schedule, budget and "
            "eval_points (use group_configs to split them)"
        )
    if path not in ("auto", "fast", "general"):
        raise ValueError(f"path must be 'auto', 'fast' or 'general', got {path!r}")
    if path == "fast" and not fast_path_supports(configs[0].model):
        raise ValueError("path='fast' needs an MLPSpec without batch norm; use path='general'")
    for name, x, y in (("train", train_x, train_y), ("test", test_x, test_y)):
        if (x is None) != (y is None):
            raise ValueError(f"give both {name}_x and {name}_y, or neither")
        if x is None or y is None:
            continue
        if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise TypeError(f"{name}_x and {name}_y must be tensors")
        if y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ValueError(
                f"{name}_x {tuple(x.shape)} and {name}_y {tuple(y.shape)} must have the same "
                "non-zero number of rows and y must be 1-D"
            )
        if y.dtype.is_floating_point or y.dtype == torch.bool:
            raise TypeError(f"{name}_y must hold integer class labels, got {y.dtype}")
        classes = getattr(configs[0].model, "num_classes", None)
        if classes is not None and (int(y.min()) < 0 or int(y.max()) >= classes):
            raise ValueError(f"{name}_y labels must lie in [0, {classes}) for this model")


def train_group(
    configs: Sequence[TrainConfig],
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor | None = None,
    test_y: torch.Tensor | None = None,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    path: Path = "auto",
    progress: ProgressCallback | None = None,
    return_state: bool = False,
    eval_chunk: int = 1000,
    num_threads: int | None = None,
) -> list[RunResult]:
    """Train ``configs`` (one group, see ``TrainConfig.group_key``) together; one result per config.

    The data are moved once to ``device``/``dtype`` and stay resident; each update is one batched
    forward/backward for all live runs. ``path="auto"`` uses the MLP fast path when the model allows
    (``StackedMLP``) and the general vmap path otherwise. A run whose loss or parameters become
    non-finite is recorded as diverged and dropped; the others continue unchanged. ``progress`` is
    called about 200 times per group and at every evaluation/divergence. ``num_threads`` sets torch's
    CPU threads during the call. Denormals are flushed while training; global state is restored after.
    """
    _validate(configs, train_x, train_y, test_x, test_y, path)
    if eval_chunk < 1:
        raise ValueError(f"eval_chunk must be >= 1, got {eval_chunk}")
    if num_threads is not None and num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    device = torch.device(device) if device is not None else train_x.device
    with _training_environment(num_threads):
        return _train(
            list(configs), train_x, train_y, test_x, test_y, device, dtype, path, progress, return_state, eval_chunk
        )


def _train(
    configs: list[TrainConfig],
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor | None,
    test_y: torch.Tensor | None,
    device: torch.device,
    dtype: torch.dtype,
    path: str,
    progress: ProgressCallback | None,
    return_state: bool,
    eval_chunk: int,
) -> list[RunResult]:
    train_x = train_x.to(device=device, dtype=dtype)
    train_y = train_y.to(device=device, dtype=torch.long)
    if test_x is not None and test_y is not None:
        test_x = test_x.to(device=device, dtype=dtype)
        test_y = test_y.to(device=device, dtype=torch.long)
    num_train = train_x.shape[0]
    plan = plan_steps(configs[0], num_train)
    spec = configs[0].model
    models = [build_model(spec, c.seed, device=device, dtype=dtype) for c in configs]
    use_fast = path == "fast" or (path == "auto" and fast_path_supports(spec))
    backend: StackedMLP | StackedModule
    if use_fast:
        backend = StackedMLP(spec, models, train_x, train_y, max_batch=int(plan.batch_sizes.max()))  # type: ignore[arg-type]
    else:
        backend = StackedModule(models, train_x, train_y)
    del models

    live = list(range(len(configs)))  # config index of each live row of the stacked state
    results = [RunResult(config=c, status="finished", steps_done=0) for c in configs]
    progress_table = plan.progress
    neg_lr = torch.tensor(
        [[-c.learning_rate(float(p)) for c in configs] for p in progress_table], dtype=dtype, device=device
    ).reshape(plan.total_steps, len(configs), 1)
    momentum = torch.tensor([[c.momentum] for c in configs], dtype=dtype, device=device)
    l2 = torch.tensor([[c.l2] for c in configs], dtype=dtype, device=device)
    use_momentum = any(c.momentum > 0 for c in configs)
    use_l2 = any(c.l2 > 0 for c in configs)
    velocity = torch.zeros_like(backend.params) if use_momentum else None
    # one momentum shared by the group on the fast path: fold A ← m·A + g into the gradient matmul
    shared = {c.momentum for c in configs}
    fused_momentum = shared.pop() if use_fast and use_momentum and len(shared) == 1 else None
    sampler = EpochSampler(num_train, [c.seed for c in configs], device)
    eval_steps = set(plan.eval_steps)
    report_every = max(1, plan.total_steps // 200)
    diverged_count = 0

    def report(step: int) -> None:
        if progress is not None:
            finished = len(live) if step == plan.total_steps else 0
            progress(GroupProgress(step, plan.total_steps, len(configs), finished, diverged_count))

    def drop(bad_rows: list[int], step: int) -> None:
        nonlocal velocity, neg_lr, momentum, l2, diverged_count
        for row in bad_rows:
            results[live[row]].status = "diverged"
            results[live[row]].diverged_at_step = step
            results[live[row]].steps_done = step
        diverged_count += len(bad_rows)
        keep = [row not in bad_rows for row in range(len(live))]
        mask = torch.tensor(keep, device=device)
        backend.keep(mask)
        sampler.keep(keep)
        if velocity is not None:
            velocity = velocity[mask].contiguous()
        neg_lr, momentum, l2 = neg_lr[:, mask], momentum[mask], l2[mask]
        live[:] = [config_index for config_index, k in zip(live, keep, strict=True) if k]
        report(step)

    def evaluate(step: int) -> None:
        metrics: dict[str, torch.Tensor] = {}
        splits = [("train", train_x, train_y)]
        if test_x is not None and test_y is not None:
            splits.append(("test", test_x, test_y))
        for name, x, y in splits:
            loss_sum = torch.zeros(len(live), dtype=torch.float64, device=device)
            correct = torch.zeros(len(live), dtype=torch.float64, device=device)
            for start in range(0, x.shape[0], eval_chunk):
                chunk_loss, chunk_correct = backend.evaluate(
                    x[start : start + eval_chunk], y[start : start + eval_chunk]
                )
                loss_sum += chunk_loss.double()
                correct += chunk_correct.double()
            metrics[f"{name}_loss"] = loss_sum / x.shape[0]
            metrics[f"{name}_acc"] = correct / x.shape[0]
        finite = torch.isfinite(metrics["train_loss"]) & torch.isfinite(backend.params).all(dim=1)
        if test_x is not None:
            finite &= torch.isfinite(metrics["test_loss"])
        bad = [row for row, ok in enumerate(finite.tolist()) if not ok]
        columns = {k: v.tolist() for k, v in metrics.items()}
        in_range = step < plan.total_steps
        for row, config_index in enumerate(live):
            if row in bad:
                continue
            entry = {
                "step": step,
                "epoch": float(plan.epochs[step]),
                "learning_rate": configs[config_index].learning_rate(float(progress_table[step]))
                if in_range
                else configs[config_index].learning_rate(1.0),
                "batch_size": int(plan.batch_sizes[min(step, plan.total_steps - 1)]),
            }
            entry.update({k: v[row] for k, v in columns.items()})
            results[config_index].history.append(entry)
        if bad:
            drop(bad, step)

    start_time = time.perf_counter()
    for step in range(plan.total_steps + 1):
        if step in eval_steps:
            evaluate(step)
            report(step)
        if step == plan.total_steps or not live:
            break
        indices = sampler.next(int(plan.batch_sizes[step]))
        if fused_momentum is None:
            loss = backend.loss_and_grad(indices)
        else:
            loss = backend.loss_and_grad(indices, velocity, fused_momentum)
        finite = torch.isfinite(loss)
        if not bool(finite.all()):
            drop([row for row, ok in enumerate(finite.tolist()) if not ok], step)
            if not live:
                break
        with torch.no_grad():
            if fused_momentum is None:
                momentum_sgd_update_(
                    backend.params, backend.grad, velocity, neg_lr[step], momentum, l2 if use_l2 else None
                )
            else:  # velocity already holds m·A + g; add the L2 gradient λ·ω, then ω ← ω − ε·A
                if use_l2:
                    velocity.addcmul_(l2, backend.params)
                backend.params.addcmul_(neg_lr[step], velocity)
        if (step + 1) % report_every == 0 and step + 1 not in eval_steps:
            report(step + 1)

    wall = time.perf_counter() - start_time
    for row, config_index in enumerate(live):
        result = results[config_index]
        result.steps_done = plan.total_steps
        result.final = dict(result.history[-1]) if result.history else {}
        if return_state:
            result.state_dict = {k: v.cpu() for k, v in backend.state_dict(row).items()}
    for result in results:
        result.final["wall_seconds"] = wall
    return results
