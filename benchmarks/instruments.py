"""Benchmark of the measuring instruments on Smith & Le's 800-unit MLP (784-800-10, ReLU) on MNIST images.

The model is briefly trained (50 SGD steps, ε = 0.1, B = 100, from PyTorch's default initialisation) so the
Hessian has the outlier eigenvalues of a real network. Measured:

* top-20 Hessian eigenvalues (largest magnitude) by Lanczos with full reorthogonalisation vs power iteration
  with deflation, both with double-backward Hessian-vector products, to the SAME accuracy: every returned
  pair has residual ||Hy − λy|| ≤ tol·|λ_1| (tol = 1e-3, float32). Power iteration is capped per eigenvalue;
  if it hits the cap its time is a lower bound and the speed-up is reported as "≥". Lanczos's products include
  its check for missed copies of repeated eigenvalues (a second run with the pairs found locked away), which
  deflated power iteration does not need.
* Hutch++ and Hutchinson trace time.
* per-example gradient throughput: the layer rules (outer products from layer inputs and output gradients, one
  forward and one backward) and whole-model torch.func.vmap vs a Python loop of backward passes; per-example
  gradient norms (‖a_i‖²‖δ_i‖², no [N, P] matrix) vs the same loop.
* the physical anchor: per-example gradient norms (hence tr Σ and B_simple) of a batch as a multiple of ONE
  ordinary forward + backward over the same examples, on the MLP (256 images) and on a small transformer LM
  (``TinyTransformerLM``: 2 blocks of width 128, tied head, 32 sequences of 64 tokens); and the per-example
  full gradients of the MLP as bytes written per second against filling a new tensor of the same size.

Targets: Lanczos ≥ 3× faster than deflated power iteration; per-example gradient norms ≥ 30× the loop and
≤ 1.5× one forward + backward on both models. Per-example full gradients: the former "≥ 10× a loop" is
replaced by a physical target, because returning the [N, P] gradients is bound by writing N·P floats into new
memory (the loop pays the same): ≥ 50% of the rate of filling a NEW tensor of that size (the first touch of
each page, not arithmetic, dominates on this machine), with warm-memory write bandwidth printed beside it; the
speed-up over the loop is still printed.
Run: ``python benchmarks/instruments.py [--quick] [--anchor-only] [--threads N]``.
"""

import argparse
import time

import torch
from torch import nn

from sgdnoise.data import smith_le_mnist_task
from sgdnoise.instruments.curvature import hessian_eigenvalues, hessian_trace
from sgdnoise.instruments.gradnoise import per_example_gradient_norms, per_example_gradients
from sgdnoise.models.transformer import TinyTransformerLM, next_token_loss

K = 20
TOL = 1e-3


def briefly_trained_mlp(x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(784, 800), nn.ReLU(), nn.Linear(800, 10))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(50):
        index = torch.randint(0, x.shape[0], (100,), generator=gen)
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x[index]), y[index]).backward()
        optimiser.step()
    model.zero_grad(set_to_none=True)
    return model


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def loop_gradients(model: nn.Module, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    rows = []
    for i in range(x.shape[0]):
        model.zero_grad()
        loss_fn(model(x[i : i + 1]), y[i : i + 1]).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    model.zero_grad(set_to_none=True)
    return torch.stack(rows)


def best_time(fn, repeats: int = 9) -> float:
    fn()  # warm-up
    return min(timed(fn)[1] for _ in range(repeats))


def forward_backward_multiple(model: nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(seconds of one forward + backward, per-example norms of the same batch as a multiple of it)."""

    def forward_backward() -> None:
        model.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()

    anchor = best_time(forward_backward)
    model.zero_grad(set_to_none=True)
    norms = best_time(lambda: per_example_gradient_norms(model, loss_fn, (x, y), chunk_size=x.shape[0]))
    return anchor, norms / anchor


def fresh_write_rate(rows: int, columns: int) -> float:
    """Bytes per second of filling a NEW float32 [rows, columns] tensor: the floor of any method that returns the
    per-example gradients as a new tensor (the operating system maps and zeroes each page on first touch)."""

    def fill() -> None:
        torch.empty(rows, columns).fill_(0.0)

    return rows * columns * 4 / best_time(fill, 3)


def warm_write_rate() -> float:
    """Bytes per second of filling an already-touched float32 tensor of 256 MiB (memory bandwidth for writes)."""
    target = torch.empty(2**26)
    return target.numel() * 4 / best_time(lambda: target.fill_(1.0))


def anchor_rows(model: nn.Module, x: torch.Tensor, y: torch.Tensor, quick: bool) -> tuple[list, list]:
    """Rows and missed targets of the physical-anchor measurements."""
    torch.manual_seed(0)
    lm = TinyTransformerLM(vocab=96, context=64, width=128, heads=4, layers=2)
    tokens = torch.randint(0, 96, (32, 65), generator=torch.Generator().manual_seed(0))
    cases = [
        ("784-800-10 MLP, 256 images", model, nn.CrossEntropyLoss(), x[:256], y[:256]),
        ("transformer LM, 32×64 tokens", lm, next_token_loss, tokens[:, :-1], tokens[:, 1:]),
    ]
    rows, missed = [], []
    for name, net, loss_fn, xs, ys in cases:
        anchor, multiple = forward_backward_multiple(net, loss_fn, xs, ys)
        params = sum(p.numel() for p in net.parameters())
        rows.append(
            (f"norms / (forward + backward): {name}", f"{multiple:.2f}×", f"P = {params:,}, f+b {anchor * 1e3:.1f} ms")
        )
        if multiple > 1.5:
            missed.append(f"{name}: norms {multiple:.2f}× > 1.5× forward + backward")
    n_rows = 64 if quick else 256
    params = sum(p.numel() for p in model.parameters())
    seconds = best_time(lambda: per_example_gradients(model, nn.CrossEntropyLoss(), (x[:n_rows], y[:n_rows])), 3)
    written = n_rows * params * 4 / seconds
    fresh, warm = fresh_write_rate(n_rows, params), warm_write_rate()
    share = written / fresh
    rows.append(
        (
            f"per-example grads written, MLP ({n_rows})",
            f"{written / 1e9:.2f} GB/s",
            f"{share:.0%} of filling a new [N, P] tensor ({fresh / 1e9:.2f} GB/s); warm writes {warm / 1e9:.1f} GB/s",
        )
    )
    if share < 0.5:
        missed.append(f"per-example gradients written at {share:.0%} < 50% of the rate of filling a new tensor")
    return rows, missed


def print_rows(rows: list) -> None:
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>14}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tighter power cap, fewer probes")
    parser.add_argument("--anchor-only", action="store_true", help="only the forward + backward multiples")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: robust on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    n_images = 1000
    power_cap = 25 if args.quick else 50
    n_trace = 15 if args.quick else 60
    n_per_example = 100 if args.quick else 300
    task = smith_le_mnist_task(seed=0, n_train=n_images)
    x, y = task.train.x.float(), task.train.y
    model = briefly_trained_mlp(x, y)
    loss_fn = nn.CrossEntropyLoss()
    data = (x, y)
    if args.anchor_only:
        rows, missed = anchor_rows(model, x, y, args.quick)
        print_rows(rows)
        print("targets: met" if not missed else "targets: missed: " + "; ".join(missed))
        return
    print(
        f"model 784-800-10 ReLU, briefly trained (50 SGD steps); {n_images} MNIST images; float32; "
        f"{args.threads} threads; tol {TOL} (residual ≤ tol·|λ_1|)"
    )

    lanczos, t_lanczos = timed(
        lambda: hessian_eigenvalues(model, loss_fn, data, k=K, which="magnitude", tol=TOL, max_iter=400)
    )
    power, t_power = timed(
        lambda: hessian_eigenvalues(
            model, loss_fn, data, k=K, method="power", which="magnitude", tol=TOL, max_iter=power_cap
        )
    )
    agreement = ((lanczos.eigenvalues - power.eigenvalues).abs() / lanczos.eigenvalues.abs()).max().item()
    power_done = int((power.residuals <= TOL * power.eigenvalues.abs().max()).sum())
    speedup = t_power / t_lanczos
    bound = "" if power.converged else "≥"
    hutchpp, t_hutchpp = timed(lambda: hessian_trace(model, loss_fn, data, n_samples=n_trace))
    hutch, t_hutch = timed(lambda: hessian_trace(model, loss_fn, data, method="hutchinson", n_samples=n_trace))

    xs, ys = x[:n_per_example], y[:n_per_example]
    per_example_gradients(model, loss_fn, (xs[:8], ys[:8]), method="vmap")  # warm-up
    vmapped, t_vmap = timed(lambda: per_example_gradients(model, loss_fn, (xs, ys), method="vmap"))
    del vmapped
    layered, t_layers = timed(lambda: per_example_gradients(model, loss_fn, (xs, ys)))
    norms, t_norms = timed(lambda: per_example_gradient_norms(model, loss_fn, (xs, ys)))
    looped, t_loop = timed(lambda: loop_gradients(model, loss_fn, xs, ys))
    grads_match = torch.allclose(layered, looped, rtol=1e-4, atol=1e-6)
    norms_match = torch.allclose(norms, looped.norm(dim=1), rtol=1e-4, atol=1e-6)
    grads_ratio, norms_ratio = t_loop / t_layers, t_loop / t_norms

    rows = [
        (
            "Lanczos top-20 (double backward)",
            f"{t_lanczos:.1f} s",
            f"{lanczos.n_matvecs} HVPs, converged={lanczos.converged}",
        ),
        (
            "power iteration top-20, deflated",
            f"{t_power:.1f} s",
            f"{power.n_matvecs} HVPs, {power_done}/{K} pairs reached tol (cap {power_cap} HVPs/eigenvalue)",
        ),
        ("  speed-up Lanczos vs power", f"{bound}{speedup:.1f}×", f"max rel. eigenvalue difference {agreement:.1e}"),
        ("  λ_1, λ_20", f"{lanczos.eigenvalues[0]:.4g}, {lanczos.eigenvalues[-1]:.4g}", ""),
        (f"Hutch++ trace ({n_trace} HVPs)", f"{t_hutchpp:.1f} s", f"{hutchpp.value:.4g} ± {hutchpp.stderr:.2g}"),
        (f"Hutchinson trace ({n_trace} HVPs)", f"{t_hutch:.1f} s", f"{hutch.value:.4g} ± {hutch.stderr:.2g}"),
        (
            f"per-example grads, layer rules ({n_per_example})",
            f"{n_per_example / t_layers:.0f} ex/s",
            f"match loop: {grads_match}",
        ),
        (f"per-example grads, whole-model vmap ({n_per_example})", f"{n_per_example / t_vmap:.0f} ex/s", ""),
        (
            f"per-example grad norms ({n_per_example})",
            f"{n_per_example / t_norms:.0f} ex/s",
            f"match loop: {norms_match}",
        ),
        (f"per-example grads loop ({n_per_example})", f"{n_per_example / t_loop:.0f} ex/s", ""),
        ("  speed-up layer rules vs loop", f"{grads_ratio:.1f}×", f"vmap vs loop {t_loop / t_vmap:.1f}×"),
        ("  speed-up norms vs loop", f"{norms_ratio:.1f}×", ""),
    ]
    extra_rows, missed = anchor_rows(model, x, y, args.quick)
    print_rows(rows + extra_rows)

    if speedup < 3:
        missed.append(f"Lanczos {bound}{speedup:.1f}× < 3× power iteration")
    if agreement > 1e-3 and power.converged:
        missed.append(f"Lanczos and power iteration disagree ({agreement:.1e})")
    if norms_ratio < 30:
        missed.append(f"per-example norms {norms_ratio:.1f}× < 30× loop")
    if not (grads_match and norms_match):
        missed.append("per-example gradients or norms differ from the loop")
    print("targets: met" if not missed else "targets: missed: " + "; ".join(missed))


if __name__ == "__main__":
    main()
