"""Overhead of ``NoiseMonitor`` at its default cadence on Smith & Le's 800-unit MLP (784-800-10, ReLU), B = 128.

A plain PyTorch loop (SGD, lr 0.1, momentum 0.9, MNIST) runs ``--steps`` steps with ``monitor.step(x, y)``
after each update; the overhead is the time inside ``monitor.step`` over the time of the rest of the same run
(robust to load drifting between runs on a shared machine). The fastest of ``--repeats`` runs counts; a run
without the monitor, from the same initialisation and batches, is shown for reference. The default cadence
measures the noise every 50 steps and λ_max every 2000 steps (every 40th measurement): 2000 steps hold one λ_max.

Target: the monitor adds ≤ 10% to the step time. Run: ``python benchmarks/monitor.py [--steps N] [--threads N]``.
"""

import argparse
import time

import torch
from torch import nn

from sgdnoise.data import smith_le_mnist_task
from sgdnoise.monitor import NoiseMonitor

BATCH = 128


def train(x: torch.Tensor, y: torch.Tensor, steps: int, monitored: bool) -> tuple[float, float, NoiseMonitor | None]:
    """(total seconds, seconds inside monitor.step, the monitor)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 800), nn.ReLU(), nn.Linear(800, 10))
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    monitor = NoiseMonitor(model, loss_fn, train_size=x.shape[0], optimizer=optimizer) if monitored else None
    order = torch.randint(0, x.shape[0], (steps, BATCH), generator=torch.Generator().manual_seed(0))
    in_monitor = 0.0
    start = time.perf_counter()
    for index in order:
        xb, yb = x[index], y[index]
        optimizer.zero_grad()
        loss_fn(model(xb), yb).backward()
        optimizer.step()
        if monitor is not None:
            before = time.perf_counter()
            monitor.step(xb, yb)
            in_monitor += time.perf_counter() - before
    return time.perf_counter() - start, in_monitor, monitor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: robust on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = smith_le_mnist_task(seed=0, n_train=10_000)
    x, y = task.train.x.float(), task.train.y
    train(x, y, 100, True)  # warm-up
    plain = min(train(x, y, args.steps, False)[0] for _ in range(args.repeats))
    total, in_monitor, monitor = min((train(x, y, args.steps, True) for _ in range(args.repeats)), key=lambda r: r[0])
    assert monitor is not None
    overhead = in_monitor / (total - in_monitor)
    last = monitor.records[-1]
    print(f"800-unit MLP, B={BATCH}, {args.steps} steps, {args.threads} threads, N={x.shape[0]}")
    print(f"{'plain loop (separate run)':<36} {1000 * plain / args.steps:8.2f} ms/step")
    print(f"{'training steps of the monitored run':<36} {1000 * (total - in_monitor) / args.steps:8.2f} ms/step")
    print(f"{'inside NoiseMonitor.step':<36} {1000 * in_monitor / args.steps:8.2f} ms/step")
    print(f"{'  overhead':<36} {100 * overhead:8.1f} %  ({len(monitor.records)} noise measurements, 1 λ_max)")
    print(f"last record: {last.verdict}")
    print("targets: met" if overhead <= 0.10 else f"targets: missed: overhead {100 * overhead:.1f}% > 10%")


if __name__ == "__main__":
    main()
