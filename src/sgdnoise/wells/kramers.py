"""Kramers–Langer mean escape times of SGD's SDE out of each minimum over the saddle between them: how
long a simulation must run to reach equilibrium (`kramers_escape_times`; the tests hold it against the
simulated first-passage times of `sgdnoise.wells.simulation.first_passage_times`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sgdnoise.results import strict_json
from sgdnoise.validation import positive_number
from sgdnoise.wells.gibbs import gibbs_temperature
from sgdnoise.wells.losses import LocatedMinimum, LocatedSaddle, LossSurface, find_minimum, find_saddle


@dataclass(frozen=True)
class EscapeTimes:
    """Kramers–Langer mean escape times out of A and out of B (units: SGD steps, i.e. of t in eq. 1).

    ``relaxation`` = 1/(1/τ_A + 1/τ_B) is the time constant with which the two-basin occupation relaxes
    to equilibrium; ``slowest`` = max(τ_A, τ_B) is the escape time out of the well that is harder to
    leave (the deeper one, unless its prefactor says otherwise); ``barrier_over_temperature`` is
    (L_saddle − L_X)/T for X = A, B: the asymptotics need it large (corrections of order T/ΔL).
    """

    tau_a: float
    tau_b: float
    barrier_a: float
    barrier_b: float
    temperature: float
    saddle: LocatedSaddle

    @property
    def relaxation(self) -> float:
        rate = 1.0 / self.tau_a + 1.0 / self.tau_b
        return 1.0 / rate if rate > 0 else math.inf

    @property
    def slowest(self) -> float:
        return max(self.tau_a, self.tau_b)

    @property
    def barrier_over_temperature(self) -> tuple[float, float]:
        return self.barrier_a / self.temperature, self.barrier_b / self.temperature

    def to_dict(self) -> dict[str, Any]:
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__} | {"saddle": self.saddle.to_dict()}
        derived = {"relaxation": self.relaxation, "slowest": self.slowest}
        return strict_json(fields | derived | {"barrier_over_temperature": self.barrier_over_temperature})


def kramers_escape_times(
    loss: LossSurface,
    *,
    lr: float,
    batch_size: float,
    gradient_variance: float,
    minima: tuple[LocatedMinimum, LocatedMinimum] | None = None,
    saddle: LocatedSaddle | None = None,
) -> EscapeTimes:
    """Mean time for SGD's SDE (eq. 1, C = σ²I) to escape each minimum over the saddle, in SGD steps.

    Derivation. Eq. 1 reads dθ = −η∇L dt + (ησ/√S) dW. Since (ησ/√S)² = 2η·T with T = nσ²/2, n = η/S, this
    is overdamped Langevin dynamics with mobility η at temperature T, whose equilibrium is exp(−L/T)
    (Theorem 1). For it the Kramers–Langer rate of escape from minimum X over an index-1 saddle s is

        k_X = (η |λ_−| / 2π) · √(det H_X / |det H_s|) · exp(−(L_s − L_X)/T),

    λ_− the saddle's negative Hessian eigenvalue; τ_X = 1/k_X. In 1-D this is the textbook
    τ = 2π/(η√(H_X |L''(s)|)) · exp(2ΔL/(nσ²)); in d dimensions the determinant ratio carries the
    transverse curvatures (for H_s = diag(λ_−, λ_⊥) and H_X = diag(λ_1, λ_2): τ = 2π/(η√(λ_1|λ_−|)) ·
    √(λ_⊥/λ_2) · exp(ΔL/T), so a narrower saddle means a slower escape). τ_X is the mean first-passage time
    from X to beyond the saddle (to the other minimum); it is asymptotic in ΔL/T, with relative corrections of
    order T/ΔL. For the discrete update (method="sgd") it holds as long as η·H is small.
    """
    temperature = gibbs_temperature(lr, batch_size, gradient_variance)
    lr = positive_number("lr", lr)
    if minima is None:
        minima = (find_minimum(loss, 0), find_minimum(loss, 1))
    if saddle is None:
        saddle = find_saddle(loss, minima)
    log_det_saddle = float(np.sum(np.log(np.abs(np.linalg.eigvalsh(saddle.hessian)))))
    taus, barriers = [], []
    for minimum in minima:
        log_det = float(np.linalg.slogdet(minimum.hessian)[1])
        barrier = saddle.loss - minimum.loss
        log_tau = (
            math.log(2 * math.pi / (lr * abs(saddle.negative_eigenvalue)))
            + 0.5 * (log_det_saddle - log_det)
            + barrier / temperature
        )
        taus.append(math.exp(log_tau) if log_tau < 700.0 else math.inf)  # beyond float range: never escapes
        barriers.append(barrier)
    return EscapeTimes(taus[0], taus[1], barriers[0], barriers[1], temperature, saddle)
