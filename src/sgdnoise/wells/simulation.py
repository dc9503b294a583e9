"""SGD's SDE (Jastrzębski et al. 2018, eq. 1) by Euler–Maruyama, and the discrete SGD update, on a toy
loss: the occupation of the two basins by many independent chains (`simulate`), first-passage times
from one minimum to the other (`first_passage_times`), and a simulation beside both theorems'
predictions (`equilibrium_comparison`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from sgdnoise.results import strict_json
from sgdnoise.validation import positive_int, positive_number
from sgdnoise.wells.gibbs import GibbsRatio, gibbs_log_ratio, laplace_log_ratio
from sgdnoise.wells.losses import LocatedMinimum, LossSurface, find_minimum

Method = Literal["sde", "sgd"]
METHODS: tuple[str, ...] = ("sde", "sgd")


@dataclass(frozen=True)
class Occupation:
    """Measured occupation of basins A and B by independent chains after burn-in.

    ``fraction_a``/``fraction_b`` are means over chains of each chain's fraction of recorded samples in
    the basin; ``log_ratio_se`` is the delta-method standard error of ln(p_A/p_B) from their covariance
    across chains. Samples are recorded once per unit of SDE time (one SGD step).

    Equilibration checks. ``start_z`` is the occupation of A by the chains that started in basin A minus
    that of the chains that started in B, over its standard error (``fraction_a_from_a``,
    ``fraction_a_from_b``, ``chains_from_a``, ``chains_from_b``): at equilibrium the start is forgotten and
    the two agree; |start_z| of 3 or more says the run was too short for the chains to forget where they
    began (NaN when fewer than two chains started in either basin; ±inf when neither group's chains ever
    moved). ``drift_z`` is (ln ratio in the record's second half − first half)/its SE, a weaker check.
    """

    method: str
    lr: float
    batch_size: float
    gradient_variance: float
    step_fraction: float
    chains: int
    diverged_chains: int
    integrator_steps: int
    burn_in_steps: int
    samples_per_chain: int
    fraction_a: float
    fraction_b: float
    log_ratio: float
    log_ratio_se: float
    drift_z: float
    seed: int
    start_z: float = math.nan
    fraction_a_from_a: float = math.nan
    fraction_a_from_b: float = math.nan
    chains_from_a: int = 0
    chains_from_b: int = 0

    @property
    def ratio(self) -> float:
        return math.exp(self.log_ratio) if math.isfinite(self.log_ratio) else math.nan

    @property
    def ratio_se(self) -> float:
        return self.ratio * self.log_ratio_se

    def z(self, predicted_log_ratio: float) -> float:
        """(measured − predicted ln ratio)/SE: the discrepancy in units of the sampling error."""
        if not self.log_ratio_se > 0:
            return math.nan
        return (self.log_ratio - predicted_log_ratio) / self.log_ratio_se

    def to_dict(self) -> dict[str, Any]:
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return strict_json(fields | {"ratio": self.ratio, "ratio_se": self.ratio_se})


def simulate(
    loss: LossSurface,
    *,
    lr: float,
    batch_size: float,
    gradient_variance: float,
    method: Method = "sde",
    step_fraction: float = 0.1,
    duration: float,
    burn_in: float,
    chains: int = 1000,
    seed: int = 0,
    init: np.ndarray | None = None,
    minima: tuple[LocatedMinimum, LocatedMinimum] | None = None,
) -> Occupation:
    """Occupation ratio p_A/p_B of SGD's SDE or of discrete SGD on ``loss``, with its standard error.

    method="sde": Euler–Maruyama for Jastrzębski eq. 1 with C = σ²I, time step Δt = ``step_fraction`` of one
    SGD step (1/step_fraction must be an integer): θ ← θ − ηg Δt + (ησ/√S) √Δt ξ. method="sgd": the update
    θ ← θ − η(g + σξ/√S), i.e. the same scheme at Δt = 1. ``duration`` and ``burn_in`` are in SGD steps
    (units of t); samples after the burn-in are recorded once per unit of t. ``init`` is one point [d] or
    one per chain [chains, d]; by default the first half of the chains start at minimum A and the rest at
    minimum B, so that `Occupation.start_z` can compare them (it groups chains by the basin they start in,
    whatever ``init``). How long a run must be is not decided here: see `kramers_escape_times`. Chains
    whose state turns non-finite are dropped and counted as diverged. Deterministic given ``seed``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    lr, batch_size = positive_number("lr", lr), positive_number("batch_size", batch_size)
    gradient_variance = positive_number("gradient_variance", gradient_variance)
    chains = positive_int("chains", chains, minimum=2)
    dt = 1.0 if method == "sgd" else positive_number("step_fraction", step_fraction)
    per_unit = round(1.0 / dt)
    if dt > 1 or abs(per_unit * dt - 1.0) > 1e-9:
        raise ValueError(f"step_fraction must be 1/k for an integer k >= 1, got {step_fraction!r}")
    duration, burn_in = positive_number("duration", duration), float(burn_in)
    if not (math.isfinite(burn_in) and 0 <= burn_in < duration):
        raise ValueError(f"burn_in must satisfy 0 <= burn_in < duration, got {burn_in!r} and {duration!r}")
    units, burn_units = round(duration), round(burn_in)
    if units - burn_units < 2:
        raise ValueError("duration − burn_in must be at least 2 SGD steps to record samples")
    if minima is None:
        minima = (find_minimum(loss, 0), find_minimum(loss, 1))
    a, b = minima[0].location, minima[1].location
    labeller = loss.labeller((a, b))
    rng = np.random.default_rng(seed)
    theta = _initial_states(init, chains, loss.dim, a, b)
    started = labeller(theta)
    drift_step = lr * dt
    noise_step = lr * math.sqrt(gradient_variance / batch_size) * math.sqrt(dt)
    samples = units - burn_units
    half = samples // 2
    counts = np.zeros((2, 2, chains))  # [half, basin, chain]
    alive = np.ones(chains, dtype=bool)
    for unit in range(units):
        noise = rng.standard_normal((per_unit, *theta.shape))
        noise *= noise_step
        for k in range(per_unit):
            theta -= drift_step * loss.gradient(theta)
            theta += noise[k]
        if unit >= burn_units:
            alive &= np.all(np.isfinite(theta), axis=-1)
            labels = labeller(np.where(alive[:, None], theta, a))
            part = 0 if unit - burn_units < half else 1
            counts[part, 0] += (labels == 0) & alive
            counts[part, 1] += (labels == 1) & alive
    alive &= np.all(np.isfinite(theta), axis=-1)
    fractions = counts[:, :, alive]  # [half, basin, alive chains]
    whole = fractions.sum(axis=0) / samples
    log_ratio, se = _log_ratio_and_se(whole[0], whole[1])
    first, se_first = _log_ratio_and_se(fractions[0, 0] / half, fractions[0, 1] / half)
    second, se_second = _log_ratio_and_se(fractions[1, 0] / (samples - half), fractions[1, 1] / (samples - half))
    drift_z = (second - first) / math.hypot(se_first, se_second) if se_first > 0 and se_second > 0 else math.nan
    from_a, from_b = whole[0][started[alive] == 0], whole[0][started[alive] == 1]
    start_z = _difference_z(from_a, from_b)
    return Occupation(
        method=method,
        lr=lr,
        batch_size=batch_size,
        gradient_variance=gradient_variance,
        step_fraction=dt,
        chains=chains,
        diverged_chains=int(chains - alive.sum()),
        integrator_steps=units * per_unit,
        burn_in_steps=burn_units * per_unit,
        samples_per_chain=samples,
        fraction_a=float(whole[0].mean()) if whole.shape[1] else math.nan,
        fraction_b=float(whole[1].mean()) if whole.shape[1] else math.nan,
        log_ratio=log_ratio,
        log_ratio_se=se,
        drift_z=float(drift_z),
        seed=int(seed),
        start_z=start_z,
        fraction_a_from_a=float(from_a.mean()) if from_a.size else math.nan,
        fraction_a_from_b=float(from_b.mean()) if from_b.size else math.nan,
        chains_from_a=int(from_a.size),
        chains_from_b=int(from_b.size),
    )


def _difference_z(x: np.ndarray, y: np.ndarray) -> float:
    """(mean x − mean y)/SE of the difference (independent samples); ±inf if both are constant and differ."""
    if x.size < 2 or y.size < 2:
        return math.nan
    diff = float(x.mean() - y.mean())
    se = math.sqrt(float(x.var(ddof=1)) / x.size + float(y.var(ddof=1)) / y.size)
    if se > 0:
        return diff / se
    return 0.0 if diff == 0 else math.copysign(math.inf, diff)


def _initial_states(init: np.ndarray | None, chains: int, dim: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``init`` broadcast to [chains, d]; by default the first half of the chains at A, the rest at B."""
    if init is None:
        theta = np.empty((chains, dim))
        theta[: chains // 2], theta[chains // 2 :] = a, b
        return theta
    start = np.asarray(init, dtype=np.float64)
    if start.shape == (dim,):
        return np.broadcast_to(start, (chains, dim)).copy()
    if start.shape == (chains, dim):
        return start.copy()
    raise ValueError(f"init must have shape ({dim},) or ({chains}, {dim}), got {start.shape}")


def _log_ratio_and_se(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """ln(mean a / mean b) and its delta-method SE from the across-chain (co)variance of a and b."""
    m = a.size
    if m < 2:
        return math.nan, math.nan
    mean_a, mean_b = float(a.mean()), float(b.mean())
    if mean_a <= 0 or mean_b <= 0:
        return (math.inf if mean_a > 0 else -math.inf if mean_b > 0 else math.nan), math.nan
    cov = np.cov(np.stack([a, b]), ddof=1)
    var = cov[0, 0] / mean_a**2 + cov[1, 1] / mean_b**2 - 2 * cov[0, 1] / (mean_a * mean_b)
    return math.log(mean_a / mean_b), math.sqrt(max(var, 0.0) / m)


def first_passage_times(
    loss: LossSurface,
    *,
    lr: float,
    batch_size: float,
    gradient_variance: float,
    start: int = 0,
    step_fraction: float = 0.1,
    chains: int = 500,
    max_duration: float,
    seed: int = 0,
    minima: tuple[LocatedMinimum, LocatedMinimum] | None = None,
) -> np.ndarray:
    """Simulated first-passage times of SGD's SDE from minimum A (start=0) or B (1) to the other minimum.

    Each chain starts at the minimum and runs Euler–Maruyama (as `simulate`, method="sde") until its
    projection on the line through the two minima first reaches the other minimum's; the time (in SGD
    steps, resolution ``step_fraction``) is returned per chain, NaN for chains that had not arrived by
    ``max_duration``. Their mean is what `kramers_escape_times` predicts (τ_A for start=0).
    """
    if start not in (0, 1):
        raise ValueError(f"start must be 0 (A) or 1 (B), got {start!r}")
    lr, batch_size = positive_number("lr", lr), positive_number("batch_size", batch_size)
    gradient_variance = positive_number("gradient_variance", gradient_variance)
    chains = positive_int("chains", chains, minimum=1)
    dt = positive_number("step_fraction", step_fraction)
    steps = math.ceil(positive_number("max_duration", max_duration) / dt)
    if minima is None:
        minima = (find_minimum(loss, 0), find_minimum(loss, 1))
    origin, target = minima[start].location, minima[1 - start].location
    direction = (target - origin) / np.linalg.norm(target - origin)
    goal = float((target - origin) @ direction)
    rng = np.random.default_rng(seed)
    theta = np.broadcast_to(origin, (chains, loss.dim)).copy()
    times = np.full(chains, math.nan)
    waiting = np.ones(chains, dtype=bool)
    drift_step = lr * dt
    noise_step = lr * math.sqrt(gradient_variance / batch_size * dt)
    block = 256
    for first in range(0, steps, block):
        noise = rng.standard_normal((min(block, steps - first), *theta.shape))
        noise *= noise_step
        for k in range(noise.shape[0]):
            theta -= drift_step * loss.gradient(theta)
            theta += noise[k]
            arrived = waiting & ((theta - origin) @ direction >= goal)
            times[arrived] = (first + k + 1) * dt
            waiting &= ~arrived
        if not waiting.any():
            break
    return times


@dataclass(frozen=True)
class EquilibriumComparison:
    """Simulated occupation ratio beside Theorem 1's Gibbs integral and Theorem 2's Laplace ratio."""

    occupation: Occupation
    gibbs: GibbsRatio
    laplace_log_ratio: float
    minimum_a: LocatedMinimum
    minimum_b: LocatedMinimum

    @property
    def z_gibbs(self) -> float:
        return self.occupation.z(self.gibbs.log_ratio)

    @property
    def z_laplace(self) -> float:
        return self.occupation.z(self.laplace_log_ratio)

    def to_dict(self) -> dict[str, Any]:
        return strict_json(
            {
                "occupation": self.occupation.to_dict(),
                "gibbs": self.gibbs.to_dict(),
                "laplace_log_ratio": self.laplace_log_ratio,
                "laplace_ratio": math.exp(self.laplace_log_ratio),
                "z_gibbs": self.z_gibbs,
                "z_laplace": self.z_laplace,
                "minimum_a": self.minimum_a.to_dict(),
                "minimum_b": self.minimum_b.to_dict(),
            }
        )


def equilibrium_comparison(
    loss: LossSurface,
    *,
    lr: float,
    batch_size: float,
    gradient_variance: float,
    grid_points: int = 1201,
    **simulation: Any,
) -> EquilibriumComparison:
    """`simulate` (``simulation``: its other keyword arguments) and both predictions (Thm 1 eq. 2 integral,
    Thm 2 eq. 3 Laplace) for one setting."""
    minima = (find_minimum(loss, 0), find_minimum(loss, 1))
    noise = {"lr": lr, "batch_size": batch_size, "gradient_variance": gradient_variance}
    gibbs = gibbs_log_ratio(loss, **noise, grid_points=grid_points, minima=minima)
    occupation = simulate(loss, **noise, **simulation, minima=minima)
    laplace = laplace_log_ratio(*minima, **noise)
    return EquilibriumComparison(occupation, gibbs, laplace, *minima)
