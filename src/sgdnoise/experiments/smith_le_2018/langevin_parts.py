"""Smith & Le 2018, App. A: what the Langevin experiment (``smith_le_2018.langevin``) computes — its
settings, the SGLD sampler run as independent chains, and the three parts (a) Bayesian linear regression,
(b) L2 logistic regression against the Laplace posterior, (c) two minima; the module docstring of
``langevin`` describes each part and its claims.

Every part runs ``chains`` independent chains side by side (one parameter tensor [chains, d], full-batch
gradients of C/N written into ``.grad``, one ``optim.SGLD.step()`` per update) and takes each chain's final
state as one sample, so the samples are independent and their sampling errors are the textbook ones.
Part (b) samples the evidence instrument's own cost (``instruments.evidence.logistic_problem``: the same
L2 logistic cost, gradient and Hessian the evidence is computed from), not a copy of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from scipy import stats

from sgdnoise.data import synthetic_task
from sgdnoise.experiments.base import RunContext
from sgdnoise.instruments.evidence import logistic_problem, logistic_regression_evidence
from sgdnoise.optim import SGLD

DTYPE = torch.float64


@dataclass(frozen=True)
class LangevinSpec:
    """Settings of the three parts (see the module docstring). Step sizes are given as h·a_max with h = ε/N
    and a_max the largest curvature of C (a: eigenvalue of A; b: the bound ¼λ_max(XᵀX) + λ; c: the sharp
    well's curvature); run lengths as multiples of the slowest relaxation time 1/(h·a_min) (a, b) or as
    Langevin time t (c, ``well_time``; an update advances t by h)."""

    chains: int = 20000
    # (a) Bayesian linear regression
    linear_dim: int = 5
    linear_n: int = 100
    linear_noise: float = 1.0
    linear_l2: float = 1.0
    step_fractions: tuple[float, ...] = (1.0, 0.5, 0.25, 0.125, 0.0625, 0.01)
    relaxation_times: float = 8.0
    # (b) logistic regression on the synthetic task (informative labels)
    logistic_chains: int = 1000
    logistic_dim: int = 20
    logistic_n_train: int = 200
    logistic_n_test: int = 10000
    logistic_l2: float = 1.0
    logistic_step_fraction: float = 0.05
    logistic_relaxation_times: float = 6.0
    # (c) two minima
    well_chains: int = 4000
    well_separation: float = 2.0
    sharp_curvature: float = 16.0
    wide_curvature: float = 4.0
    depth_gap: float = 1.0
    well_step_fraction: float = 0.05
    well_time: float = 200.0
    data_seed: int = 0

    def __post_init__(self) -> None:
        counts = (self.chains, self.linear_dim, self.linear_n, self.logistic_chains, self.logistic_dim)
        if min(counts) < 1 or self.logistic_n_train < 2 or self.logistic_n_test < 1 or self.well_chains < 2:
            raise ValueError("chain counts, dimensions and sizes must be positive (n_train >= 2, well_chains >= 2)")
        fractions = (*self.step_fractions, self.logistic_step_fraction, self.well_step_fraction)
        if not self.step_fractions or any(not 0 < f < 2 for f in fractions):
            raise ValueError(f"step fractions h·a_max must lie in (0, 2) (stability), got {fractions}")
        if list(self.step_fractions) != sorted(self.step_fractions, reverse=True):
            raise ValueError("step_fractions must be decreasing")
        positive = (self.linear_noise, self.linear_l2, self.logistic_l2, self.relaxation_times)
        positive += (self.logistic_relaxation_times, self.well_separation, self.sharp_curvature)
        positive += (self.wide_curvature, self.well_time)
        if any(not v > 0 for v in positive):
            raise ValueError("noise, λ, curvatures, separation and run lengths must be > 0")


# --------------------------------------------------------------------------------------------------
# the sampler: independent SGLD chains
# --------------------------------------------------------------------------------------------------


def run_chains(
    mean_cost_gradient: Callable[[torch.Tensor], torch.Tensor],
    start: torch.Tensor,
    lr: float,
    train_size: int,
    steps: int,
    generator: torch.Generator,
    record: tuple[int, ...] = (),
) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """``steps`` SGLD updates (``optim.SGLD``: ε = ``lr``, N = ``train_size``) of every row of ``start`` [chains, d],
    the gradient of C/N given per row; returns the final states and copies at the steps in ``record``."""
    weights = torch.nn.Parameter(start.clone())
    optimizer = SGLD([weights], lr=lr, train_size=train_size, generator=generator)
    recorded = {}
    for step in range(1, steps + 1):
        weights.grad = mean_cost_gradient(weights.detach())
        optimizer.step()
        if step in record:
            recorded[step] = weights.detach().clone()
    return weights.detach(), recorded


def _generator(ctx: RunContext, part: int) -> torch.Generator:
    return torch.Generator(device=ctx.device).manual_seed(1_000_003 * ctx.seed + part)


# --------------------------------------------------------------------------------------------------
# (a) Bayesian linear regression
# --------------------------------------------------------------------------------------------------


def linear_problem(spec: LangevinSpec, device: torch.device) -> dict[str, torch.Tensor]:
    """Inputs, targets and the exact posterior (precision A, mean μ) of part (a)."""
    generator = torch.Generator().manual_seed(spec.data_seed)
    x = torch.randn(spec.linear_n, spec.linear_dim, generator=generator, dtype=DTYPE)
    w_true = torch.randn(spec.linear_dim, generator=generator, dtype=DTYPE)
    y = x @ w_true + spec.linear_noise * torch.randn(spec.linear_n, generator=generator, dtype=DTYPE)
    precision = x.T @ x / spec.linear_noise**2 + spec.linear_l2 * torch.eye(spec.linear_dim, dtype=DTYPE)
    mean = torch.linalg.solve(precision, x.T @ y / spec.linear_noise**2)
    return {k: v.to(device) for k, v in {"x": x, "y": y, "precision": precision, "mean": mean}.items()}


def linear_part(spec: LangevinSpec, ctx: RunContext) -> dict[str, Any]:
    problem = linear_problem(spec, ctx.device)
    precision, mean, n, d = problem["precision"], problem["mean"], spec.linear_n, spec.linear_dim
    b = precision @ mean
    curvatures = torch.linalg.eigvalsh(precision).cpu().numpy()
    covariance = torch.linalg.inv(precision)
    rows = []
    for index, fraction in enumerate(spec.step_fractions):
        h = fraction / curvatures.max()
        steps = math.ceil(spec.relaxation_times / (h * curvatures.min()))
        start = torch.zeros(spec.chains, d, dtype=DTYPE, device=ctx.device)
        samples, _ = run_chains(lambda w: (w @ precision - b) / n, start, h * n, n, steps, _generator(ctx, index))
        rows.append(
            linear_statistics(samples, mean, precision, covariance, curvatures, h) | {"steps": steps, "epsilon": h * n}
        )
    return {
        "dim": d,
        "n": n,
        "chains": spec.chains,
        "curvatures": curvatures.tolist(),
        "posterior_mean": mean.tolist(),
        "step_fractions": list(spec.step_fractions),
        "rows": rows,
    }


def linear_statistics(
    samples: torch.Tensor,
    mean: torch.Tensor,
    precision: torch.Tensor,
    covariance: torch.Tensor,
    curvatures: np.ndarray,
    h: float,
) -> dict[str, Any]:
    """Moments of the samples against the exact posterior and the exact stationary law of the discretised chain."""
    m, d = samples.shape
    sample_mean = samples.mean(0)
    centred = samples - sample_mean
    sample_cov = centred.T @ centred / (m - 1)
    inflation = 1.0 / (1.0 - h * curvatures / 2.0)  # stationary covariance = A⁻¹ scaled per eigen-direction
    offset = sample_mean - mean
    # mean: m·δᵀΣ_h⁻¹δ ~ χ²_d with Σ_h the chain's stationary covariance (A⁻¹ inflated per eigen-direction)
    eigenvalues, vectors = torch.linalg.eigh(precision)
    projected = (vectors.T @ offset).cpu().numpy()
    chi2 = float(m * np.sum(projected**2 * eigenvalues.cpu().numpy() / inflation))
    root = vectors @ torch.diag(eigenvalues.sqrt()) @ vectors.T  # A^{1/2}
    whitened = (root @ sample_cov @ root).cpu().numpy()  # ≈ I for exact posterior samples
    se = np.where(np.eye(d, dtype=bool), math.sqrt(2 / m), math.sqrt(1 / m))
    z = (whitened - np.eye(d)) / se
    excess = float(np.trace(whitened) / d - 1.0)
    predicted = float(inflation.mean() - 1.0)
    excess_se = float(math.sqrt(2 * np.sum(inflation**2) / m) / d)
    return {
        "h": h,
        "step_fraction": float(h * curvatures.max()),
        "mean_chi2": chi2,
        "mean_chi2_p": float(stats.chi2.sf(chi2, d)),
        "whitened_cov_max_abs_z": float(np.abs(z[np.triu_indices(d)]).max()),
        "excess_variance": excess,
        "excess_variance_predicted": predicted,
        "excess_variance_se": excess_se,
        "relative_cov_error": float(torch.linalg.norm(sample_cov - covariance) / torch.linalg.norm(covariance)),
    }


# --------------------------------------------------------------------------------------------------
# (b) logistic regression against the Laplace posterior
# --------------------------------------------------------------------------------------------------


def _test_errors(weights: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Test error of every row of ``weights`` [S, D+1] (predict 1 iff z > 0)."""
    z = x @ weights[:, :-1].T + weights[:, -1]
    return ((z > 0).to(DTYPE) != y[:, None]).to(DTYPE).mean(0)


def logistic_part(spec: LangevinSpec, ctx: RunContext) -> dict[str, Any]:
    task = synthetic_task(
        spec.data_seed,
        n_train=spec.logistic_n_train,
        n_test=spec.logistic_n_test,
        dim=spec.logistic_dim,
        labels="informative",
        device=ctx.device,
        dtype=DTYPE,
    )
    x = task.train.x.to(DTYPE)
    evidence = logistic_regression_evidence(x, task.train.y, spec.logistic_l2)
    problem = logistic_problem(x, task.train.y, spec.logistic_l2)  # the cost the evidence was computed for
    w0 = evidence.weights.to(ctx.device, DTYPE)
    hessian = problem.hessian_from_data(problem.data_hessian(w0))
    eigenvalues = torch.linalg.eigvalsh(hessian).cpu().numpy()
    instrument = np.asarray(evidence.eigenvalues)
    laplace_cov = torch.linalg.inv(hessian)
    n, d = x.shape[0], w0.shape[0]
    xa = problem.xa  # [x, 1]
    bound = 0.25 * float(torch.linalg.eigvalsh(xa.T @ xa).max()) + spec.logistic_l2  # global curvature bound
    h = spec.logistic_step_fraction / bound
    steps = math.ceil(spec.logistic_relaxation_times / (h * spec.logistic_l2))
    start = w0.expand(spec.logistic_chains, d).clone()
    half = steps // 2
    samples, recorded = run_chains(
        lambda w: problem.gradients(w) / n, start, h * n, n, steps, _generator(ctx, 100), record=(half,)
    )
    sample_mean = samples.mean(0)
    centred = samples - sample_mean
    sample_cov = centred.T @ centred / (samples.shape[0] - 1)
    laplace_sd = laplace_cov.diagonal().sqrt()
    ratios = (sample_cov.diagonal() / laplace_cov.diagonal()).cpu().numpy()
    x_test, y_test = task.test.x.to(DTYPE), task.test.y.to(DTYPE)
    errors = _test_errors(samples, x_test, y_test).cpu().numpy()
    error_w0 = float(_test_errors(w0[None, :], x_test, y_test)[0])
    posterior_mean_error = float(_test_errors(sample_mean[None, :], x_test, y_test)[0])
    probability = torch.sigmoid(x_test @ samples[:, :-1].T + samples[:, -1]).mean(1)
    averaged_error = float(((probability > 0.5).to(DTYPE) != y_test).to(DTYPE).mean())
    half_var = recorded[half].var(0)
    return {
        "dim": d,
        "n_train": n,
        "n_test": len(task.test),
        "l2": spec.logistic_l2,
        "chains": spec.logistic_chains,
        "h": h,
        "epsilon": h * n,
        "steps": steps,
        "hessian_eigenvalues": [float(eigenvalues.min()), float(eigenvalues.max())],
        "hessian_vs_instrument_max_rel_diff": float(np.max(np.abs(np.sort(eigenvalues) - instrument) / instrument)),
        "newton_converged": bool(evidence.converged),
        "variance_ratio": ratios.tolist(),
        "mean_offset_sd": ((sample_mean - w0) / laplace_sd).cpu().numpy().tolist(),
        "whitened_offset": float(((sample_mean - w0) @ hessian @ (sample_mean - w0)).sqrt()),
        "variance_drift": float(((sample_cov.diagonal() - half_var) / sample_cov.diagonal()).abs().max()),
        "test_error_w0": error_w0,
        "test_errors": errors.tolist(),
        "test_error_posterior_mean": posterior_mean_error,
        "test_error_bayes_average": averaged_error,
        "weight_norm_w0": float(torch.linalg.vector_norm(w0)),
        "offset_cosine_w0": float(torch.nn.functional.cosine_similarity(sample_mean - w0, w0, dim=0)),
    }


# --------------------------------------------------------------------------------------------------
# (c) two minima: bowl occupation against local evidences
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TwoWells:
    """C(ω) = −ln Σ_i a_i exp(−½ c_i |ω − μ_i|²) in 2-D: well 0 sharp (curvature c_0) and deep (a_0 = 1),
    well 1 wide (c_1) and shallower by ``depth_gap`` (a_1 = e^{−gap}); centres ∓separation/2 on the first axis."""

    separation: float
    sharp: float
    wide: float
    depth_gap: float

    def centres(self, device: torch.device) -> torch.Tensor:
        s = self.separation / 2
        return torch.tensor([[-s, 0.0], [s, 0.0]], dtype=DTYPE, device=device)

    def _terms(self, w: torch.Tensor) -> torch.Tensor:
        centres = self.centres(w.device)
        curvature = torch.tensor([self.sharp, self.wide], dtype=DTYPE, device=w.device)
        log_a = torch.tensor([0.0, -self.depth_gap], dtype=DTYPE, device=w.device)
        squared = ((w[:, None, :] - centres) ** 2).sum(-1)
        return log_a - 0.5 * curvature * squared  # [points, 2]

    def cost(self, w: torch.Tensor) -> torch.Tensor:
        return -torch.logsumexp(self._terms(w), dim=1)

    def gradient(self, w: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self._terms(w), dim=1)  # responsibilities
        curvature = torch.tensor([self.sharp, self.wide], dtype=DTYPE, device=w.device)
        return (weights[:, :, None] * curvature[:, None] * (w[:, None, :] - self.centres(w.device))).sum(1)

    def bowl(self, w: torch.Tensor, max_steps: int = 5000) -> torch.Tensor:
        """Index (0/1) of the minimum the gradient flow from each point ends in: explicit steps of 0.5/c_max
        until every point is within 0.05·separation of a centre (inside its basin), at most ``max_steps``."""
        step, centres = 0.5 / max(self.sharp, self.wide), self.centres(w.device)
        for index in range(max_steps):
            if index % 25 == 0:
                distances = ((w[:, None, :] - centres) ** 2).sum(-1)
                if bool((distances.min(1).values < (0.05 * self.separation) ** 2).all()):
                    break
            w = w - step * self.gradient(w)
        return ((w[:, None, :] - centres) ** 2).sum(-1).argmin(1)


def wells_part(spec: LangevinSpec, ctx: RunContext) -> dict[str, Any]:
    wells = TwoWells(spec.well_separation, spec.sharp_curvature, spec.wide_curvature, spec.depth_gap)
    d = 2
    minima = []
    for centre in wells.centres(ctx.device):  # Newton from each centre: the exact minimum and its Hessian
        w = centre.clone()
        for _ in range(50):
            hessian = torch.autograd.functional.hessian(lambda v: wells.cost(v[None, :])[0], w)
            w = w - torch.linalg.solve(hessian, wells.gradient(w[None, :])[0])
        hessian = torch.autograd.functional.hessian(lambda v: wells.cost(v[None, :])[0], w)
        cost = float(wells.cost(w[None, :])[0])
        log_evidence = -cost + d / 2 * math.log(2 * math.pi) - 0.5 * float(torch.logdet(hessian))
        minima.append({"location": w.tolist(), "cost": cost, "log_det_hessian": float(torch.logdet(hessian))})
        minima[-1]["log_local_evidence"] = log_evidence
    exact = _bowl_masses(wells, ctx.device)
    h = spec.well_step_fraction / max(spec.sharp_curvature, spec.wide_curvature)
    steps = math.ceil(spec.well_time / h)
    start = wells.centres(ctx.device)[0].expand(spec.well_chains, d).clone()  # every chain at the deep minimum
    half = steps // 2
    samples, recorded = run_chains(wells.gradient, start, h, 1, steps, _generator(ctx, 200), record=(half,))
    in_wide = float(wells.bowl(samples).to(DTYPE).mean())
    in_wide_half = float(wells.bowl(recorded[half]).to(DTYPE).mean())
    return {
        "minima": minima,
        "laplace_log_ratio": minima[1]["log_local_evidence"] - minima[0]["log_local_evidence"],
        "exact_log_ratio": math.log(exact[1] / exact[0]),
        "fraction_wide": in_wide,
        "fraction_wide_halfway": in_wide_half,
        "chains": spec.well_chains,
        "h": h,
        "steps": steps,
        "well_time": spec.well_time,
        "wells": asdict(wells),
    }


def _bowl_masses(wells: TwoWells, device: torch.device, points: int = 300) -> list[float]:
    """∫_{D_i} e^{−C} dω for both bowls by a midpoint rule on a square covering both wells (10 wide-well sd
    beyond the centres), each grid point assigned to its bowl by gradient flow."""
    reach = wells.separation / 2 + 10 / math.sqrt(min(wells.sharp, wells.wide))
    axis = torch.linspace(-reach, reach, points + 1, dtype=DTYPE, device=device)
    mids = (axis[1:] + axis[:-1]) / 2
    grid = torch.cartesian_prod(mids, mids)
    density = torch.exp(-wells.cost(grid))
    bowls = wells.bowl(grid)
    cell = float((axis[1] - axis[0]) ** 2)
    return [float(density[bowls == i].sum()) * cell for i in (0, 1)]
