"""Engine throughput against a plain one-run PyTorch loop.

Workloads: the MLP fast path on the Smith & Le 2018 shallow net (784-800-10, P = 636,010; B = 10 … 1000)
and, with ``--general``, the models the next papers train: Jastrzębski et al.'s 4-layer BN-MLP
(``jastrzebski_bn_mlp()``, 784-256×4-10; B = 16, 64, 256, 1024) and a CIFAR-shaped ResNet-8
(3×32×32; B = 32, 128).

For each B it prints the steps/s of (a) a plain loop — ``nn.Module`` + ``torch.optim.SGD(momentum)`` +
indexing a resident tensor, the better of one thread and all threads — and (b) the engine in the layout
a sweep of 8 runs at that B uses (``sweep.planning.plan_jobs`` and the auto executor: group size R, one
process on the group's threads or one single-threaded process per core), with the ratio (b)/(a) the
targets are checked on; then the best of all measured layouts. Engine rates count training steps only,
timed between the engine's progress reports, so the full-split evaluations at the first and last step
are excluded (the plain loop evaluates nothing). For the shallow net also GFLOP/s (4·B·P per model-step:
forward + weight gradients) and % of the measured fp32 matmul peak.

Targets (issue 7 part 9): shallow net ≥ 1× plain at every B, ≥ 50% of the matmul peak at B = 30,
≥ 1.5× at B = 100, ≥ 70% of the peak at B ≥ 300; BN-MLP ≥ 2× plain at B ≤ 64 and ≥ 1× at B ≥ 256;
conv net ≥ 1× at every B. Last line: ``targets: met`` or ``targets: missed: …``.

Timings are wall-clock on whatever else the machine is doing (best of repeats); run it alone
(``flock /tmp/sgdnoise-cpu.lock``) for numbers to quote.

    python benchmarks/engine.py [--quick] [--general] [--sweep]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F

from sgdnoise.data import Dataset, TaskData
from sgdnoise.engine import TrainConfig, plan_steps, train_group
from sgdnoise.models import ModelSpec, ResNetSpec, build_model, jastrzebski_bn_mlp, smith_le_shallow_net
from sgdnoise.sweep import SweepRun
from sgdnoise.sweep.planning import auto_executor, num_parameters, plan_jobs

SWEEP_RUNS = 8  # the sweep whose layout is measured: 8 runs (e.g. learning rates × seeds) at one B


@dataclass(frozen=True)
class Workload:
    name: str
    spec: ModelSpec
    input_shape: tuple[int, ...]
    num_train: int
    batch_sizes: tuple[int, ...]
    group_sizes: tuple[int, ...]


SHALLOW = Workload(
    "shallow net 784-800-10", smith_le_shallow_net(), (784,), 1000, (10, 30, 100, 300, 1000), (1, 2, 4, 8)
)
BN_MLP = Workload("BN-MLP 784-256x4-10", jastrzebski_bn_mlp(), (784,), 4096, (16, 64, 256, 1024), (1, 2, 4))
RESNET8 = Workload(
    "ResNet-8 3x32x32", ResNetSpec(depth=8, input_shape=(3, 32, 32)), (3, 32, 32), 1024, (32, 128), (1, 2)
)


def synthetic_task(workload: Workload) -> TaskData:
    """Random inputs of the workload's shape (throughput does not depend on the values); a tiny test split."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(workload.num_train, *workload.input_shape, generator=generator)
    y = torch.randint(0, 10, (workload.num_train,), generator=generator)
    return TaskData(Dataset(x, y, 10, "train"), Dataset(x[:10], y[:10], 10, "test"))


def matmul_peak_gflops(size: int, repeats: int) -> float:
    """Best fp32 GFLOP/s of a size×size sgemm on all of torch's threads."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        best = max(best, 2.0 * size**3 / (time.perf_counter() - start) / 1e9)
    return best


def plain_loop_steps_per_second(workload: Workload, task: TaskData, batch_size: int, steps: int) -> float:
    """One run: nn.Module + torch.optim.SGD(momentum) + indexing a resident tensor, epoch permutations."""
    x, y = task.train.x, task.train.y
    model = build_model(workload.spec, seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    generator = torch.Generator().manual_seed(0)
    per_epoch = workload.num_train // batch_size
    perm = torch.randperm(workload.num_train, generator=generator)

    def run(n: int) -> None:
        nonlocal perm
        for step in range(n):
            if step % per_epoch == 0:
                perm = torch.randperm(workload.num_train, generator=generator)
            idx = perm[(step % per_epoch) * batch_size : (step % per_epoch + 1) * batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    run(3)
    start = time.perf_counter()
    run(steps)
    return steps / (time.perf_counter() - start)


def engine_steps_per_second(
    workload: Workload, task: TaskData, batch_size: int, group_size: int, steps: int, threads: int | None
) -> float:
    """Model-steps/s of ``train_group`` on ``group_size`` runs, between its first and last progress
    report inside the budget (the evaluations at step 0 and at the end are outside that window)."""
    configs = [
        TrainConfig(workload.spec, 0.01, batch_size, steps=steps, momentum=0.9, seed=seed, eval_points=0)
        for seed in range(group_size)
    ]
    marks: list[tuple[float, int]] = []
    train_group(
        configs, task, num_threads=threads, progress=lambda u: marks.append((time.perf_counter(), u.steps_done))
    )
    inside = [(t, s) for t, s in marks if 0 < s < steps]
    (t0, s0), (t1, s1) = inside[0], inside[-1]
    return group_size * (s1 - s0) / (t1 - t0)


def _worker(args: tuple[Workload, int, int, int, Any]) -> float:
    workload, batch_size, group_size, steps, barrier = args
    task = synthetic_task(workload)
    engine_steps_per_second(workload, task, batch_size, group_size, 4, 1)  # warm-up
    barrier.wait()
    return engine_steps_per_second(workload, task, batch_size, group_size, steps, 1)


class WorkerPool:
    """``processes`` single-threaded worker processes, started once (spawning re-imports torch) and
    released together by a barrier for each measurement."""

    def __init__(self, processes: int) -> None:
        context = mp.get_context("spawn")
        self.processes = processes
        self._manager = context.Manager()
        self._barrier = self._manager.Barrier(processes)
        self._pool = context.Pool(processes)

    def steps_per_second(self, workload: Workload, batch_size: int, group_size: int, steps: int) -> float:
        """Total model-steps/s while every worker trains its own group (``processes`` × the slowest)."""
        jobs = [(workload, batch_size, group_size, steps, self._barrier)] * self.processes
        return self.processes * min(self._pool.map(_worker, jobs))

    def close(self) -> None:
        self._pool.close()
        self._pool.join()
        self._manager.shutdown()


@dataclass(frozen=True)
class Layout:
    group_size: int
    processes: int  # n > 1: n single-threaded processes, one group each
    threads: int  # of the one process when processes == 1

    def __str__(self) -> str:
        if self.processes > 1:
            return f"R={self.group_size}×{self.processes}proc"
        return f"R={self.group_size} {self.threads}thr"


def sweep_layout(workload: Workload, task: TaskData, batch_size: int, cores: int) -> Layout:
    """The layout ``run_sweep(executor="auto")`` trains a sweep of ``SWEEP_RUNS`` runs at B in."""
    runs = [SweepRun(TrainConfig(workload.spec, 0.01, batch_size, steps=10, seed=s)) for s in range(SWEEP_RUNS)]
    jobs = plan_jobs(runs, [], lambda name: task, None, None, cores, cores)
    processes = cores if auto_executor(jobs, cores) == "processes" else 1
    return Layout(len(jobs[0].runs), processes, 1 if processes > 1 else jobs[0].threads)


def measure(
    layout: Layout,
    workload: Workload,
    task: TaskData,
    batch_size: int,
    steps: int,
    repeats: int,
    pool: WorkerPool | None,
) -> float:
    best = 0.0
    group_steps = max(12, steps // layout.group_size)
    for _ in range(repeats):
        if layout.processes == 1:
            engine_steps_per_second(workload, task, batch_size, layout.group_size, 4, layout.threads)
            rate = engine_steps_per_second(workload, task, batch_size, layout.group_size, group_steps, layout.threads)
        else:
            assert pool is not None and pool.processes == layout.processes
            rate = pool.steps_per_second(workload, batch_size, layout.group_size, group_steps)
        best = max(best, rate)
    return best


def run_workload(
    workload: Workload, seconds: float, repeats: int, cores: int, pool: WorkerPool | None, peak: float | None
) -> list[tuple[int, float, float]]:
    """Print the workload's table; returns (B, ratio of the sweep's layout to plain, its GFLOP/s) per B."""
    threads = torch.get_num_threads()
    task = synthetic_task(workload)
    print(f"\n{workload.name} (P = {num_parameters(workload.spec):,}, N = {workload.num_train})")
    flops_column = f" {'GF/s':>6} {'%peak':>6}" if peak else ""
    print(
        f"{'B':>5} {'plain st/s':>10} {'engine st/s':>11} {'ratio':>6}  {'sweep layout':<14}{flops_column}"
        "  best measured"
    )
    rows = []
    for batch_size in workload.batch_sizes:
        calibration = plain_loop_steps_per_second(workload, task, batch_size, 3)
        steps = max(12, int(seconds * calibration))
        plain = 0.0  # conservative baseline: the best plain loop on all threads or on one
        for plain_threads in dict.fromkeys((threads, 1)):
            torch.set_num_threads(plain_threads)
            for _ in range(repeats):
                plain = max(plain, plain_loop_steps_per_second(workload, task, batch_size, steps))
        torch.set_num_threads(threads)
        layouts = {Layout(r, 1, threads) for r in workload.group_sizes}
        if pool is not None:
            layouts |= {Layout(r, cores, 1) for r in workload.group_sizes}
        chosen = sweep_layout(workload, task, batch_size, cores)
        layouts.add(chosen)
        rates = {
            layout: measure(layout, workload, task, batch_size, steps, repeats, pool)
            for layout in sorted(layouts, key=str)
        }
        best = max(rates, key=rates.__getitem__)
        engine = rates[chosen]
        gflops = engine * 4.0 * batch_size * num_parameters(workload.spec) / 1e9
        flops = f" {gflops:>6.1f} {100 * gflops / peak:>5.0f}%" if peak else ""
        print(
            f"{batch_size:>5} {plain:>10.1f} {engine:>11.1f} {engine / plain:>6.2f}  {chosen!s:<14}{flops}  "
            f"{best} {rates[best]:.1f}",
            flush=True,
        )
        print("      layouts: " + ", ".join(f"{layout} {rate:.1f}" for layout, rate in rates.items()), flush=True)
        rows.append((batch_size, engine / plain, gflops))
    return rows


def sweep_flop_efficiency(peak_gflops: float) -> tuple[float, float, float]:
    """Run ``sgdnoise reproduce smith-le-batch --scale quick`` into a fresh directory and return (wall
    seconds, TFLOPs done, fraction of the matmul peak): Σ over its runs of 4·P·B per update done,
    divided by the whole command's wall time (data loading, evaluation and reports included)."""
    from sgdnoise.experiments import reproduce
    from sgdnoise.experiments.smith_le_2018.sgd import STORE_NAMESPACE
    from sgdnoise.store import Store

    known = {f.name for f in fields(TrainConfig)}
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        reproduce("smith-le-batch", scale="quick", out_dir=out, show_progress=False)
        seconds = time.perf_counter() - start
        flops = 0.0
        for record in Store(f"{out}/store.sqlite").runs(STORE_NAMESPACE):
            if record.status == "failed":
                continue
            config = TrainConfig.from_dict({k: v for k, v in record.config.items() if k in known})
            plan = plan_steps(config, SHALLOW.num_train)  # smith-le-batch trains on N = 1000 images
            steps = int(record.metrics["steps_done"])
            flops += 4.0 * num_parameters(config.model) * float(plan.batch_sizes[:steps].sum())
    return seconds, flops / 1e12, flops / seconds / 1e9 / peak_gflops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter measurements, fewer repeats")
    parser.add_argument("--general", action="store_true", help="also the BN-MLP and the ResNet-8 (general models)")
    parser.add_argument("--sweep", action="store_true", help="also time the smith-le-batch quick sweep (minutes)")
    args = parser.parse_args()
    repeats = 2 if args.quick else 3
    seconds = 0.5 if args.quick else 1.0
    cores = os.cpu_count() or 1
    peak_size = 2048 if args.quick else 4096
    peak_before = matmul_peak_gflops(peak_size, repeats + 2)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cores} cores")
    print(f"fp32 matmul peak (before the tables): {peak_before:.1f} GFLOP/s", flush=True)
    pool = WorkerPool(cores) if cores > 1 else None
    shallow = run_workload(SHALLOW, seconds, repeats, cores, pool, peak_before)
    general = {}
    if args.general:
        general = {w.name: run_workload(w, seconds, repeats, cores, pool, None) for w in (BN_MLP, RESNET8)}
    if pool is not None:
        pool.close()
    # the machine may be shared: the peak for the targets is the best of a measurement before and after
    peak = max(peak_before, matmul_peak_gflops(peak_size, repeats + 2))
    print(f"\nfp32 matmul peak (best of before/after, used for the targets): {peak:.1f} GFLOP/s")
    missed: list[str] = []
    for batch_size, ratio, gflops in shallow:
        percent = 100.0 * gflops / peak
        if ratio < 1.0:
            missed.append(f"shallow B={batch_size} ratio {ratio:.2f} < 1")
        if batch_size == 30 and percent < 50.0:
            missed.append(f"shallow B=30 {percent:.0f}% of peak < 50%")
        if batch_size == 100 and ratio < 1.5:
            missed.append(f"shallow B=100 ratio {ratio:.2f} < 1.5")
        if batch_size >= 300 and percent < 70.0:
            missed.append(f"shallow B={batch_size} {percent:.0f}% of peak < 70%")
    for batch_size, ratio, _ in general.get(BN_MLP.name, []):
        needed = 2.0 if batch_size <= 64 else 1.0
        if ratio < needed:
            missed.append(f"BN-MLP B={batch_size} ratio {ratio:.2f} < {needed:g}")
    for batch_size, ratio, _ in general.get(RESNET8.name, []):
        if ratio < 1.0:
            missed.append(f"ResNet-8 B={batch_size} ratio {ratio:.2f} < 1")
    if args.sweep:
        wall, tflops, efficiency = sweep_flop_efficiency(peak)
        print(
            f"smith-le-batch --scale quick sweep: {wall:.0f} s wall, {tflops:.1f} TFLOP, "
            f"FLOP efficiency {100 * efficiency:.0f}% of the matmul peak"
        )
    print("targets: met" if not missed else "targets: missed: " + "; ".join(missed))


if __name__ == "__main__":
    main()
