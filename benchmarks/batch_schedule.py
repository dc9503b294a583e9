"""The noise-driven batch-size schedule (``NoiseScaleBatchSize``) against the best constant batch size.

Protocol, fixed before any result was seen (issue 19 part 3):

* Tasks. ``fmnist-mlp``: Fashion-MNIST, 8192 training images pooled to 14×14 and standardised, 2000 held-out
  training images for accuracy, MLP 196-128-128-10 (ReLU). ``mnist-logreg``: MNIST, 8192 training images
  (pixels in [0, 1]), a fixed 2000-image subset of the test set for accuracy, logistic regression 784-10.
* Training. SGD with momentum m = 0.9 on the mean cross-entropy, ε constant within a run (no decay),
  ``EPOCHS`` epochs for every run, batches from ``ScheduledBatchSampler`` through a ``DataLoader``; accuracy on
  the held-out set after every N/8 training examples. Updates = SGD steps; wall = seconds of training
  (batches, steps, the monitor and the scheduler; evaluations excluded), one torch thread.
* Learning-rate cap. ε_max = (1 − m)·2/λ_max: ε_eff = ε/(1 − m) at the critical learning rate 2/λ_max
  (Smith, Elsen & De 2020 §3.1) of seed 0's initial model (λ_max of the Hessian on 1024 training images).
* Constant batch sizes. Stage 1 at B₀ = 32: ε ∈ ε_max·2^−k, k = 0…4; the best ε₀ by final accuracy sets the
  temperature T = ε₀/(B₀(1 − m)). Stage 2 at B ∈ {64, …, 1024}: ε ∈ {½, 1, 2}·min(T·B(1 − m), ε_max).
* Schedule. ``NoiseScaleBatchSize`` from B₀ = 32 with T, ``max_lr`` = ε_max, factor 2, fraction 1, z = 1,
  max batch 1024 (the constant grid's range), on a ``NoiseMonitor`` measuring every 8 steps over a window of 8.
* Statistics. Accuracy curves are averaged over seeds at each evaluation; a configuration's final accuracy is
  the mean of its last 4 evaluations (the last half epoch). Target accuracy = the best constant configuration's
  final accuracy − ``TOLERANCE`` (1 point: equal within seed noise). A configuration's updates (and wall) to
  the target: the seed means at the first evaluation where its mean curve reaches the target. The best
  constant configuration: the one reaching the target in the fewest updates.
* Pooled-reading variant (added in session 23, before its first run): the same schedule, but the monitor reads
  tr Σ and |G|² on ``NOISE_EXAMPLES`` = 256 random training examples per measurement (the advisor's reading)
  instead of the training minibatch (32 examples at B₀), still pooled as the ratio of the window's means (8
  readings: 2048 examples). Same seeds, constants, target and verdict rule; reported as a second schedule row
  with its own verdict.
* Target: on every task the schedule's final accuracy ≥ the target accuracy, and it needs ≥ 30% fewer updates
  to the target than the best constant configuration. Wall-clock savings are reported, not targeted (on a CPU a
  step costs about B, so fewer, larger steps save less time than updates).

Run: ``python benchmarks/batch_schedule.py [--quick] [--out DIR]`` (figures and ``results.json`` in
``runs/benchmarks/batch_schedule/``, git-ignored).
"""

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from sgdnoise.data import fashion_mnist_task, smith_le_mnist_task
from sgdnoise.instruments import hessian_eigenvalues
from sgdnoise.monitor import NoiseMonitor
from sgdnoise.optim import NoiseScaleBatchSize, ScheduledBatchSampler
from sgdnoise.runtime import torch_threads

MOMENTUM = 0.9
N_TRAIN = 8192
N_EVAL = 2000
EVALS_PER_EPOCH = 8
FINAL_EVALS = 4
FIRST_BATCH = 32
BATCHES = (64, 128, 256, 512, 1024)
FIRST_LR_STEPS = 5  # stage 1: ε_max·2^−k, k < 5
LR_FACTORS = (0.5, 1.0, 2.0)
TOLERANCE = 0.01
UPDATES_SAVED_TARGET = 0.30
MONITOR_EVERY, MONITOR_WINDOW = 8, 8
NOISE_EXAMPLES = 256  # the pooled-reading variant's examples per monitor reading


@dataclass(frozen=True)
class Task:
    name: str
    x: Tensor
    y: Tensor
    eval_x: Tensor
    eval_y: Tensor
    build: Callable[[], nn.Module]


def fmnist_mlp() -> Task:
    task = fashion_mnist_task(N_TRAIN, seed=0, pool=2, validation=N_EVAL)
    assert task.validation is not None
    width = task.train.x.shape[1]

    def build() -> nn.Module:
        return nn.Sequential(nn.Linear(width, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))

    return Task("fmnist-mlp", task.train.x, task.train.y, task.validation.x, task.validation.y, build)


def mnist_logreg() -> Task:
    task = smith_le_mnist_task(0, n_train=N_TRAIN)
    pick = torch.randperm(len(task.test), generator=torch.Generator().manual_seed(0))[:N_EVAL]
    return Task(
        "mnist-logreg", task.train.x, task.train.y, task.test.x[pick], task.test.y[pick], lambda: nn.Linear(784, 10)
    )


@dataclass
class Run:
    """One training run: per evaluation the updates, training seconds and accuracy; B and ε at every change."""

    updates: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    changes: list[tuple[int, int, float]] = field(default_factory=list)  # (update, B, ε)
    noise_scale: list[tuple[int, float]] = field(default_factory=list)  # (update, the monitor's B_simple)
    diverged: bool = False


@torch.no_grad()
def accuracy(model: nn.Module, task: Task) -> float:
    return float((model(task.eval_x).argmax(1) == task.eval_y).float().mean())


def train(
    task: Task,
    seed: int,
    batch: int,
    lr: float,
    epochs: int,
    schedule: dict | None = None,
    noise_examples: int | None = None,
) -> Run:
    """SGD (m = 0.9) for ``epochs`` epochs at constant (B, ε), or under ``NoiseScaleBatchSize(**schedule)``;
    ``noise_examples``: the monitor reads that many random training examples instead of the minibatch."""
    torch.manual_seed(seed)
    model = task.build()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
    sampler = ScheduledBatchSampler(len(task.x), batch, seed=seed)
    loader = torch.utils.data.DataLoader(  # the sampler yields index lists: one tensor index per batch
        torch.utils.data.TensorDataset(task.x, task.y), sampler=sampler, batch_size=None
    )
    monitor = scheduler = None
    if schedule is not None:
        monitor = NoiseMonitor(
            model,
            loss_fn,
            train_size=len(task.x),
            optimizer=optimizer,
            every=MONITOR_EVERY,
            window=MONITOR_WINDOW,
            curvature_every=10**9,  # λ_max once, at the first measurement: the cap here is max_lr
        )
        scheduler = NoiseScaleBatchSize(sampler, monitor, optimizer, **schedule)
        reader = torch.Generator().manual_seed(seed + 7919)
    run = Run(changes=[(0, sampler.batch_size, float(optimizer.param_groups[0]["lr"]))])
    eval_every = len(task.x) // EVALS_PER_EPOCH
    examples = updates = 0
    seconds = 0.0
    start = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            updates += 1
            examples += len(xb)
            if monitor is not None and scheduler is not None:
                if noise_examples is not None:
                    pick = torch.randint(len(task.x), (noise_examples,), generator=reader)
                    record = monitor.step(task.x[pick], task.y[pick])
                else:
                    record = monitor.step(xb, yb)
                if record is not None and record.noise_scale_simple is not None:
                    run.noise_scale.append((updates, record.noise_scale_simple))
                scheduler.step()
                if scheduler.get_last_bs() != run.changes[-1][1] or scheduler.get_last_lr()[0] != run.changes[-1][2]:
                    run.changes.append((updates, scheduler.get_last_bs(), scheduler.get_last_lr()[0]))
            if examples >= eval_every * (len(run.accuracy) + 1):
                seconds += time.perf_counter() - start
                acc = accuracy(model, task)
                while examples >= eval_every * (len(run.accuracy) + 1):
                    run.updates.append(updates)
                    run.seconds.append(seconds)
                    run.accuracy.append(acc)
                start = time.perf_counter()
            if not math.isfinite(loss.item()):  # diverged: the remaining evaluations hold the NaN model's accuracy
                run.diverged, acc = True, accuracy(model, task)
                while len(run.accuracy) < epochs * EVALS_PER_EPOCH:
                    run.updates.append(updates)
                    run.seconds.append(seconds)
                    run.accuracy.append(acc)
                return run
    return run


@dataclass
class Summary:
    """Seed means of a configuration's runs and its crossing of the target accuracy."""

    label: str
    batch: int | str
    lr: float | str
    runs: list[Run]
    final: float = 0.0
    final_std: float = 0.0
    to_target: tuple[float, float] | None = None  # (updates, seconds)

    def __post_init__(self) -> None:
        finals = [statistics.fmean(r.accuracy[-FINAL_EVALS:]) for r in self.runs]
        self.final = statistics.fmean(finals)
        self.final_std = statistics.stdev(finals) if len(finals) > 1 else 0.0

    def mean(self, attribute: str) -> list[float]:
        return [statistics.fmean(values) for values in zip(*(getattr(r, attribute) for r in self.runs), strict=True)]

    def cross(self, target: float) -> None:
        updates, seconds = self.mean("updates"), self.mean("seconds")
        hits = [i for i, acc in enumerate(self.mean("accuracy")) if acc >= target]
        self.to_target = (updates[hits[0]], seconds[hits[0]]) if hits else None

    @property
    def total(self) -> tuple[float, float]:
        return self.mean("updates")[-1], self.mean("seconds")[-1]


def max_learning_rate(task: Task) -> float:
    """ε_max = (1 − m)·2/λ_max of seed 0's initial model on 1024 training images (module docstring)."""
    torch.manual_seed(0)
    lam = float(
        hessian_eigenvalues(task.build(), nn.CrossEntropyLoss(), (task.x[:1024], task.y[:1024]), k=1).eigenvalues[0]
    )
    return (1 - MOMENTUM) * 2 / lam


def benchmark(task: Task, seeds: int, epochs: int, log: Callable[[str], None]) -> dict:
    eps_max = max_learning_rate(task)
    log(f"{task.name}: ε_max = (1 − m)·2/λ_max = {eps_max:.4g}")

    def configuration(batch: int, lr: float) -> Summary:
        runs = [train(task, seed, batch, lr, epochs) for seed in range(seeds)]
        summary = Summary(f"B={batch} ε={lr:.3g}", batch, lr, runs)
        log(f"  {summary.label:<22} final {100 * summary.final:.2f}±{100 * summary.final_std:.2f}%")
        return summary

    first = [configuration(FIRST_BATCH, eps_max * 2.0**-k) for k in range(FIRST_LR_STEPS)]
    best_first = max(first, key=lambda s: s.final)
    temperature = float(best_first.lr) / (FIRST_BATCH * (1 - MOMENTUM))
    constants = first + [
        configuration(batch, factor * min(temperature * batch * (1 - MOMENTUM), eps_max))
        for batch in BATCHES
        for factor in LR_FACTORS
    ]
    schedule = {
        "temperature": temperature,
        "max_lr": eps_max,
        "factor": 2.0,
        "fraction": 1.0,
        "z": 1.0,
        "max_batch_size": BATCHES[-1],
    }
    schedules = []
    for label, examples in (("noise schedule", None), ("pooled 256-ex. readings", NOISE_EXAMPLES)):
        runs = [
            train(task, seed, FIRST_BATCH, float(best_first.lr), epochs, schedule, examples) for seed in range(seeds)
        ]
        schedules.append(Summary(label, f"{FIRST_BATCH}→{max(r.changes[-1][1] for r in runs)}", "T, capped", runs))
        log(f"  {label:<22} final {100 * schedules[-1].final:.2f}±{100 * schedules[-1].final_std:.2f}%")
    target = max(s.final for s in constants) - TOLERANCE
    for summary in [*constants, *schedules]:
        summary.cross(target)
    reaching = [s for s in constants if s.to_target is not None]
    best = min(reaching, key=lambda s: s.to_target[0])  # the best final accuracy always reaches the target
    return {
        "task": task.name,
        "eps_max": eps_max,
        "temperature": temperature,
        "target": target,
        "constants": constants,
        "best": best,
        "schedules": schedules,
    }


def saved(ours: float, theirs: float) -> float:
    return 1 - ours / theirs


def table(result: dict) -> list[str]:
    lines = [
        f"{result['task']}: target accuracy {100 * result['target']:.2f}% (best constant final − "
        f"{100 * TOLERANCE:.0f} pt), T = {result['temperature']:.4g}, ε_max = {result['eps_max']:.4g}",
        f"  {'configuration':<24} {'final acc %':>13} {'updates→target':>15} {'updates total':>14} "
        f"{'wall→target s':>14} {'wall total s':>13}",
    ]

    def rank(s: Summary) -> tuple[bool, float]:  # the ε reaching the target first, else the best final
        return (s.to_target is None, s.to_target[0] if s.to_target else -s.final)

    by_batch: dict[int | str, Summary] = {}
    for s in result["constants"]:
        if s.batch not in by_batch or rank(s) < rank(by_batch[s.batch]):
            by_batch[s.batch] = s
    rows = [*by_batch.values(), *result["schedules"]]
    for s in rows:
        mark = " *" if s is result["best"] else ""
        reach = (f"{s.to_target[0]:15.0f}", f"{s.to_target[1]:14.1f}") if s.to_target else (f"{'—':>15}", f"{'—':>14}")
        lines.append(
            f"  {s.label + mark:<24} {100 * s.final:7.2f}±{100 * s.final_std:4.2f} {reach[0]} {s.total[0]:14.0f} "
            f"{reach[1]} {s.total[1]:13.1f}"
        )
    best = result["best"]
    for ours in result["schedules"]:
        if ours.to_target is None:
            lines.append(f"  {ours.label}: never reached the target accuracy")
            continue
        fractions = {
            "updates→target": saved(ours.to_target[0], best.to_target[0]),
            "updates total": saved(ours.total[0], best.total[0]),
            "wall→target": saved(ours.to_target[1], best.to_target[1]),
            "wall total": saved(ours.total[1], best.total[1]),
        }
        lines.append(
            f"  {ours.label}: saved vs the best constant (*): "
            + ", ".join(f"{k} {100 * v:.0f}%" for k, v in fractions.items())
        )
    return lines


def verdicts(result: dict, ours: Summary) -> list[str]:
    """The missed targets of schedule ``ours`` on one task (empty: met)."""
    best, name = result["best"], result["task"]
    missed = []
    if ours.final < result["target"]:
        missed.append(f"{name} final accuracy {100 * ours.final:.2f}% < target {100 * result['target']:.2f}%")
    if ours.to_target is None:
        missed.append(f"{name} schedule never reached the target accuracy")
    elif (fraction := saved(ours.to_target[0], best.to_target[0])) < UPDATES_SAVED_TARGET:
        missed.append(f"{name} updates saved {100 * fraction:.0f}% < {100 * UPDATES_SAVED_TARGET:.0f}%")
    return missed


def draw(result: dict, schedule: Summary, out: Path) -> Path:
    import matplotlib.pyplot as plt

    from sgdnoise.plots import save

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), constrained_layout=True)
    for seed, run in enumerate(schedule.runs):
        steps = [u for u, _, _ in run.changes] + [run.updates[-1]]
        (line,) = axes[0].step(
            steps, [b for _, b, _ in run.changes] + [run.changes[-1][1]], where="post", label=f"B, seed {seed}"
        )
        axes[0].plot(*zip(*run.noise_scale, strict=True), ":", color=line.get_color(), label=f"B_simple, seed {seed}")
        axes[1].step(steps, [e for _, _, e in run.changes] + [run.changes[-1][2]], where="post", label=f"seed {seed}")
    axes[0].set(xlabel="updates", ylabel="batch size B", yscale="log", title="B(t) and the monitor's B_simple")
    axes[1].set(xlabel="updates", ylabel="learning rate ε", yscale="log", title="ε(t), noise schedule")
    axes[1].axhline(result["eps_max"], color="gray", linestyle=":", label="ε_max")
    for s, style in ((result["best"], "--"), (schedule, "-")):
        axes[2].plot(s.mean("updates"), s.mean("accuracy"), style, label=s.label)
    axes[2].axhline(result["target"], color="gray", linestyle=":", label="target")
    axes[2].set(xlabel="updates", ylabel="held-out accuracy", xscale="log", title="schedule vs best constant")
    for ax in axes:
        ax.legend(fontsize=8)
    suffix = "" if schedule is result["schedules"][0] else "-pooled"
    return save(fig, out / f"{result['task']}{suffix}.png")


def as_json(result: dict) -> dict:
    def summary(s: Summary) -> dict:
        return {
            "label": s.label,
            "batch": s.batch,
            "lr": s.lr,
            "final": s.final,
            "final_std": s.final_std,
            "to_target": s.to_target,
            "total": s.total,
            "runs": [vars(r) for r in s.runs],
        }

    return {
        **{k: result[k] for k in ("task", "eps_max", "temperature", "target")},
        "best": result["best"].label,
        "constants": [summary(s) for s in result["constants"]],
        "schedules": [summary(s) for s in result["schedules"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 4 epochs (a check, not the measurement)")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks/batch_schedule"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: robust on a shared machine)")
    args = parser.parse_args()
    seeds, epochs = (2, 4) if args.quick else (3, 10)
    start = time.perf_counter()
    results = []
    with torch_threads(args.threads):
        for build in (fmnist_mlp, mnist_logreg):
            results.append(benchmark(build(), seeds, epochs, lambda line: print(line, flush=True)))
    args.out.mkdir(parents=True, exist_ok=True)
    for result in results:
        for schedule in result["schedules"]:
            draw(result, schedule, args.out)
    (args.out / "results.json").write_text(json.dumps([as_json(r) for r in results], indent=1))
    print(
        f"\n{seeds} seeds, {epochs} epochs, N={N_TRAIN}, {args.threads} thread(s), {time.perf_counter() - start:.0f} s"
    )
    for result in results:
        print("\n".join(table(result)))
    for index, name in enumerate(("noise schedule (the protocol's)", "pooled 256-example readings")):
        missed = [m for r in results for m in verdicts(r, r["schedules"][index])]
        print(f"{name}: " + ("targets: met" if not missed else f"targets: missed: {'; '.join(missed)}"))


if __name__ == "__main__":
    main()
