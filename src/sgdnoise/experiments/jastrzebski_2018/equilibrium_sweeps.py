"""The sweeps behind the §3 equilibrium experiment (``equilibrium.py``) and the toy landscape they run on:
the shipped two-well loss (``LOSS_PARAMETERS``) with its minima, saddle, curvature and eq. 4's n*
(``Setting``); the a-priori run-length rule from the Kramers escape time (``schedule``); the SDE runs over
n (``occupation_sweep``) and the discrete-SGD runs over β (``beta_sweep``), each simulated case kept in
the store (``simulate``: one record per case, so a rerun simulates nothing); and the deterministic numbers
around them, recomputed on every run: Theorem 2 vs Theorem 1 over barrier heights (``barrier_sweep``), the
exact Gibbs crossing and the crossing fitted to the simulated ratios (``gibbs_crossing``,
``fit_crossing``), and the 1-D landscape with its Gibbs densities (``landscape``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
from scipy import optimize

from sgdnoise import theory, wells
from sgdnoise.experiments.base import RunContext

if TYPE_CHECKING:
    from sgdnoise.experiments.jastrzebski_2018.equilibrium import EquilibriumSpec

LOSS_PARAMETERS = {
    "depth_a": 1.0,
    "width_a": 1.0,
    "depth_b": 1.2,
    "width_b": 0.4,
    "separation": 2.5,
    "l2": 0.05,
}


def shipped_loss(dim: int) -> wells.LossSurface:
    return wells.gaussian_wells(dim, **LOSS_PARAMETERS)


class Setting:
    """One loss with its minima, the sharper curvature H_B and the critical noise n* at the spec's σ² (solved from
    the paper's ratio p_A/p_B: 4 × eq. 4 as printed, ``theory.critical_noise``)."""

    def __init__(self, dim: int, spec: EquilibriumSpec) -> None:
        self.loss = shipped_loss(dim)
        self.minima = (wells.find_minimum(self.loss, 0), wells.find_minimum(self.loss, 1))
        self.curvature = float(np.linalg.eigvalsh(self.minima[1].hessian).max())
        self.sigma2 = spec.gradient_variance
        self.critical_noise = theory.critical_noise(self.minima[0].minimum, self.minima[1].minimum, self.sigma2)
        self.critical_noise_printed = theory.critical_noise_as_printed(
            self.minima[0].minimum, self.minima[1].minimum, self.sigma2
        )
        self.barriers = wells.barrier_heights(self.loss, self.minima)
        self.saddle = wells.find_saddle(self.loss, self.minima)
        self.lr = spec.lr_curvature / self.curvature

    def gibbs(self, noise: float, grid_points: int) -> wells.GibbsRatio:
        return wells.gibbs_log_ratio(
            self.loss,
            lr=noise,
            batch_size=1.0,
            gradient_variance=self.sigma2,
            grid_points=grid_points,
            minima=self.minima,
        )

    def laplace(self, noise: float) -> float:
        return wells.laplace_log_ratio(*self.minima, lr=noise, batch_size=1.0, gradient_variance=self.sigma2)

    def escape(self, noise: float) -> wells.EscapeTimes:
        """Kramers escape times of the SDE at the experiment's η (η·H_B = lr_curvature) and S = η/n."""
        return wells.kramers_escape_times(
            self.loss,
            lr=self.lr,
            batch_size=self.lr / noise,
            gradient_variance=self.sigma2,
            minima=self.minima,
            saddle=self.saddle,
        )

    def temperature(self, noise: float) -> float:
        return noise * self.sigma2 / 2.0


def schedule(escape: wells.EscapeTimes, spec: EquilibriumSpec) -> dict[str, Any]:
    """Burn-in and duration (SGD steps at the SDE's η) for one run, from its escape time, decided a priori.

    τ = escape.slowest (the Kramers escape time out of the well that is harder to leave); burn-in =
    max(burn_in_min, ⌈burn_in_escapes·τ⌉), record = max(record_min, ⌈record_escapes·τ⌉). If their sum
    exceeds max_duration both are scaled down in proportion to fit and ``capped`` is True: such a run is
    shorter than the rule asks and is reported as such (an infinite τ keeps the burn-in share of the rule).
    """
    tau = escape.slowest
    if math.isfinite(tau):
        burn = max(spec.burn_in_min, math.ceil(spec.burn_in_escapes * tau))
        record = max(spec.record_min, math.ceil(spec.record_escapes * tau))
        share = burn / (burn + record)
    else:
        burn = record = math.inf
        share = spec.burn_in_escapes / (spec.burn_in_escapes + spec.record_escapes)
    wanted = burn + record
    capped = wanted > spec.max_duration
    if capped:
        burn = math.floor(share * spec.max_duration)
        record = spec.max_duration - burn
    return {
        "burn_in": int(burn),
        "duration": int(burn + record),
        "wanted_duration": wanted,
        "capped": bool(capped),
        "escape_time": tau,
        "burn_in_over_escape_time": burn / tau,
        "record_over_escape_time": record / tau,
        "escape": escape.to_dict(),
    }


class BarrierRow(TypedDict):
    barrier_over_temperature: float
    noise: float
    gibbs_log_ratio: float
    laplace_log_ratio: float
    relative_error: float
    quadrature_error: float


class BarrierSweep(TypedDict):
    rows: list[BarrierRow]


class Landscape(TypedDict):
    x: list[float]
    loss: list[float]
    densities: dict[str, list[float]]  # noise factor → normalised Gibbs density on x


def describe(setting: Setting) -> dict[str, Any]:
    return {
        "name": setting.loss.name,
        "minimum_a": setting.minima[0].to_dict(),
        "minimum_b": setting.minima[1].to_dict(),
        "barrier_a": setting.barriers[0],
        "barrier_b": setting.barriers[1],
        "saddle": setting.saddle.to_dict(),
        "critical_noise_ratio": setting.critical_noise,
        "critical_noise_eq4_printed": setting.critical_noise_printed,
        "gradient_variance": setting.sigma2,
        "sde_lr": setting.lr,
        "curvature_b": setting.curvature,
    }


def landscape(setting: Setting, spec: EquilibriumSpec) -> Landscape:
    """The 1-D loss and its normalised Gibbs densities at the lowest and highest simulated n."""
    x = np.linspace(-4.0, 4.0, 801)
    loss = setting.loss.value(x[:, None])
    densities = {}
    for factor in (min(spec.noise_factors), max(spec.noise_factors)):
        p = np.exp(-(loss - loss.min()) / setting.temperature(factor * setting.critical_noise))
        densities[f"{factor:g}"] = (p / np.trapezoid(p, x)).tolist()
    return {"x": x.tolist(), "loss": loss.tolist(), "densities": densities}


def barrier_sweep(setting: Setting, spec: EquilibriumSpec) -> BarrierSweep:
    """Theorem 2 vs Theorem 1 by quadrature at barrier ΔL_A/T from barrier_min to barrier_max."""
    heights = np.geomspace(spec.barrier_min, spec.barrier_max, spec.barrier_points)
    rows: list[BarrierRow] = []
    for height in heights:
        noise = 2.0 * setting.barriers[0] / (height * setting.sigma2)
        gibbs = setting.gibbs(float(noise), spec.grid_points)
        laplace = setting.laplace(float(noise))
        rows.append(
            {
                "barrier_over_temperature": float(height),
                "noise": float(noise),
                "gibbs_log_ratio": gibbs.log_ratio,
                "laplace_log_ratio": laplace,
                "relative_error": abs(math.expm1(laplace - gibbs.log_ratio)),
                "quadrature_error": gibbs.quadrature_error,
            }
        )
    return {"rows": rows}


def gibbs_crossing(setting: Setting, grid: np.ndarray, log_ratios: list[float], grid_points: int) -> float | None:
    """The n where the Gibbs ratio is 1, by brentq inside the first sign change on the curve grid."""
    values = np.asarray(log_ratios)
    change = np.flatnonzero(np.sign(values[:-1]) != np.sign(values[1:]))
    if change.size == 0:
        return None
    i = int(change[0])
    return float(
        optimize.brentq(lambda n: setting.gibbs(n, grid_points).log_ratio, grid[i], grid[i + 1], xtol=1e-12, rtol=1e-10)
    )


def fit_crossing(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Weighted least squares ln r = a + b/n (weights 1/SE²); n* = −b/a with its delta-method SE."""
    rows = [r for r in runs if r["occupation"]["log_ratio_se"] and r["occupation"]["log_ratio"] is not None]
    if len(rows) < 2:
        return {"value": None, "se": None, "chi2_per_dof": None, "points": len(rows)}
    x = np.array([1.0 / r["noise"] for r in rows])
    y = np.array([r["occupation"]["log_ratio"] for r in rows])
    w = 1.0 / np.array([r["occupation"]["log_ratio_se"] for r in rows]) ** 2
    design = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(design.T @ (w[:, None] * design))
    a, b = cov @ design.T @ (w * y)
    residual = y - (a + b * x)
    dof = len(rows) - 2
    value = -b / a if a != 0 else math.nan
    jac = np.array([b / a**2, -1.0 / a]) if a != 0 else np.array([math.nan, math.nan])
    return {
        "value": float(value),
        "se": float(math.sqrt(max(jac @ cov @ jac, 0.0))),
        "intercept": float(a),
        "slope": float(b),
        "chi2_per_dof": float(np.sum(w * residual**2) / dof) if dof > 0 else None,
        "points": len(rows),
    }


# ---- the simulations (kept in the store, one record per simulated case) and their sweeps -------------------


class OccupationRun(TypedDict):
    """One SDE run at n = noise_factor·n*: its schedule, occupation (`wells.Occupation.to_dict`) and z's."""

    noise_factor: float
    noise: float
    barrier_over_temperature: float
    schedule: dict[str, Any]
    occupation: dict[str, Any]
    start_z: float | None
    gibbs_log_ratio: float
    gibbs_quadrature_error: float
    laplace_log_ratio: float
    z_gibbs: float
    z_laplace: float


class OccupationSweep(TypedDict):
    runs: list[OccupationRun]
    curves: dict[str, list[float]]  # noise, gibbs_log_ratio, laplace_log_ratio on a fine grid of n
    critical_noise_ratio: float  # n* solved from the paper's ratio p_A/p_B (theory.critical_noise)
    critical_noise_eq4_printed: float  # eq. 4 as printed: a quarter of it
    critical_noise_gibbs: float | None
    critical_noise_simulated: dict[str, Any]  # the weighted fit of ln r = a + b/n


class BetaRun(TypedDict):
    beta: float
    lr: float
    batch_size: float
    lr_curvature: float
    occupation: dict[str, Any]
    start_z: float | None
    z_gibbs: float


class Invariance(TypedDict):
    noise: float
    schedule: dict[str, Any]
    curvature_b: float
    gibbs_log_ratio: float
    laplace_log_ratio: float
    runs: list[BetaRun]


def stored_z(occupation: dict[str, Any], predicted_log_ratio: float) -> float:
    """`wells.Occupation.z` on the stored occupation: (measured − predicted ln ratio)/SE, NaN without an SE."""
    se = occupation["log_ratio_se"]
    if se is None or not se > 0:
        return math.nan
    return (occupation["log_ratio"] - predicted_log_ratio) / se


def simulate(ctx: RunContext, name: str, setting: Setting, **simulation: Any) -> dict[str, Any]:
    """The occupation of one simulated case (`wells.simulate` with ``simulation``), from the store if there."""
    config = {"dim": setting.loss.dim, "loss": LOSS_PARAMETERS, "gradient_variance": setting.sigma2, **simulation}
    record = ctx.store.get(name, config)
    if record is not None:
        return record.metrics
    occupation = wells.simulate(
        setting.loss, gradient_variance=setting.sigma2, minima=setting.minima, **simulation
    ).to_dict()
    ctx.store.put(name, config, metrics=occupation)
    return occupation


def occupation_sweep(
    ctx: RunContext, name: str, setting: Setting, spec: EquilibriumSpec, factors: tuple[float, ...], bar: Any
) -> OccupationSweep:
    """SDE runs at n = factor·n*, with η fixed (η·H_B = lr_curvature) and S = η/n."""
    runs: list[OccupationRun] = []
    for i, factor in enumerate(factors):
        noise = factor * setting.critical_noise
        plan = schedule(setting.escape(noise), spec)
        occupation = simulate(
            ctx,
            name,
            setting,
            lr=setting.lr,
            batch_size=setting.lr / noise,
            method="sde",
            step_fraction=spec.step_fraction,
            duration=plan["duration"],
            burn_in=plan["burn_in"],
            chains=spec.chains,
            seed=ctx.seed + 1000 * setting.loss.dim + i,
        )
        gibbs = setting.gibbs(noise, spec.grid_points)
        laplace = setting.laplace(noise)
        runs.append(
            {
                "noise_factor": factor,
                "noise": noise,
                "barrier_over_temperature": setting.barriers[0] / setting.temperature(noise),
                "schedule": plan,
                "occupation": occupation,
                "start_z": occupation["start_z"],
                "gibbs_log_ratio": gibbs.log_ratio,
                "gibbs_quadrature_error": gibbs.quadrature_error,
                "laplace_log_ratio": laplace,
                "z_gibbs": stored_z(occupation, gibbs.log_ratio),
                "z_laplace": stored_z(occupation, laplace),
            }
        )
        bar.update()
    lo, hi = min(min(factors), 0.5), max(max(factors), 3.0)
    grid = np.geomspace(lo, hi, spec.curve_points) * setting.critical_noise
    curves = {
        "noise": grid.tolist(),
        "gibbs_log_ratio": [setting.gibbs(float(n), spec.grid_points).log_ratio for n in grid],
        "laplace_log_ratio": [setting.laplace(float(n)) for n in grid],
    }
    return {
        "runs": runs,
        "curves": curves,
        "critical_noise_ratio": setting.critical_noise,
        "critical_noise_eq4_printed": setting.critical_noise_printed,
        "critical_noise_gibbs": gibbs_crossing(setting, grid, curves["gibbs_log_ratio"], spec.grid_points),
        "critical_noise_simulated": fit_crossing(runs),
    }


def beta_sweep(ctx: RunContext, name: str, setting: Setting, spec: EquilibriumSpec, bar: Any) -> Invariance:
    """Discrete SGD at (βη0, βS0), n fixed, for the same SDE time η·t; η0 is the SDE runs' Euler step."""
    base_lr = setting.lr * spec.step_fraction
    noise = spec.beta_noise_factor * setting.critical_noise
    plan = schedule(setting.escape(noise), spec)
    sde_time = plan["duration"] * setting.lr
    burn_time = plan["burn_in"] * setting.lr
    gibbs = setting.gibbs(noise, spec.grid_points)
    runs: list[BetaRun] = []
    for i, beta in enumerate(spec.betas):
        lr = beta * base_lr
        duration = max(round(sde_time / lr), 4)
        occupation = simulate(
            ctx,
            name,
            setting,
            lr=lr,
            batch_size=lr / noise,
            method="sgd",
            duration=duration,
            burn_in=min(round(burn_time / lr), duration - 2),
            chains=spec.chains,
            seed=ctx.seed + 5000 + i,
        )
        runs.append(
            {
                "beta": beta,
                "lr": lr,
                "batch_size": lr / noise,
                "lr_curvature": lr * setting.curvature,
                "occupation": occupation,
                "start_z": occupation["start_z"],
                "z_gibbs": stored_z(occupation, gibbs.log_ratio),
            }
        )
        bar.update()
    return {
        "noise": noise,
        "schedule": plan,
        "curvature_b": setting.curvature,
        "gibbs_log_ratio": gibbs.log_ratio,
        "laplace_log_ratio": setting.laplace(noise),
        "runs": runs,
    }
