"""Smith & Le 2018, App. A: Bayesian posterior sampling by Langevin dynamics (``sgdnoise.optim.SGLD``, eq. 17).

SGLD integrates dω/dt = −dC/dω + η(t) (eq. 15, T = 1) over steps of ε/N: Δω = −(ε/N)·dC/dω + α with
α ~ N(0, 2ε/N·I), C the summed regularised cost. Its samples should be drawn from P(ω) ∝ e^{−C} (eq. 14).
Every part runs ``chains`` independent chains side by side (one parameter tensor [chains, d], full-batch
gradients of C/N written into ``.grad``, one ``SGLD.step()`` per update) and takes each chain's final state as
one sample, so the samples are independent and their sampling errors are the textbook ones. The sampler and
the three parts' computations are in ``langevin_parts``; the claims (``CLAIMS``) and the figure are below.

(a) Bayesian linear regression, C = Σ_n (y_n − x_n·ω)²/(2σ²) + λ|ω|²/2: the posterior is N(μ, A⁻¹) with
    A = XᵀX/σ² + λI, μ = A⁻¹Xᵀy/σ². With h = ε/N the chain ω ← ω − hA(ω − μ) + √(2h)ξ is linear, so its
    stationary law is exactly Gaussian: mean μ (no bias) and covariance V diag(1/(a_i(1 − h·a_i/2))) Vᵀ (a_i the
    eigenvalues of A). The discretisation error is therefore known in closed form; the step sizes are set as
    fractions h·a_max. Measured: the excess variance e = tr(A·S)/d − 1 of the sample covariance S (0 for the
    exact posterior) against its prediction mean_i 1/(1 − h·a_i/2) − 1, and χ²/z tests at the smallest ε.
(b) L2 logistic regression (the synthetic task, informative labels, bias regularised): SGLD samples of the
    evidence instrument's own cost (``instruments.evidence.logistic_problem``) against the Laplace posterior
    N(ω₀, H⁻¹) from ``instruments.logistic_regression_evidence`` (Newton minimum ω₀; its Hessian eigenvalues are
    checked against the H used here); and App. A's remark that "a single posterior sample ω_p often achieves
    lower test error than the cost function minimum ω₀": the fraction of samples with strictly lower test error.
(c) A two-minimum cost, C(ω) = −ln Σ_i a_i exp(−½(ω − μ_i)ᵀH_i(ω − μ_i)) in 2-D: a deep sharp minimum and a
    shallower wide one. Chains start at the deep minimum; each sample is assigned to the bowl its gradient flow
    ends in (eq. 18's D). The fraction in each bowl is compared with the ratio of local evidences by Laplace,
    e^{−C_i}(2π)^{d/2}/√det H_i at the located minima (eq. 21), and with the exact bowl integrals (quadrature)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from sgdnoise import plots
from sgdnoise.experiments.base import Experiment, Figure, RunContext
from sgdnoise.experiments.claims import SMITH_LE_2018, ClaimSpec, ClaimTest, NotEnoughData, Provenance, Verdict
from sgdnoise.experiments.smith_le_2018.langevin_parts import LangevinSpec, linear_part, logistic_part, wells_part
from sgdnoise.experiments.spec import spec_to_dict
from sgdnoise.results import strict_json

FAMILY_P = 0.001  # a test "fails" below this family-wise p-value (Bonferroni over its entries)
# measured vs predicted: a two-sided z test at the standard family-wise level 0.05 (Bonferroni over the values
# compared). It replaces a limit of 4 s.e. that was set in the commit that measured z = 3.57 for (c).
THEORY_ALPHA = 0.05
VARIANCE_RATIO_LOW, VARIANCE_RATIO_HIGH = 2 / 3, 3 / 2  # (b) Laplace "matches": every marginal variance ratio in
MEAN_OFFSET_SD = 0.5  # ... and every coordinate of the SGLD mean within 0.5 Laplace sd of ω₀
OFTEN = 0.25  # (b) "often": at least a quarter of the posterior samples beat ω₀ on test error


# ---- the data -----------------------------------------------------------------------------------------------


class LinearRow(TypedDict):
    """(a) one step size: moments of the samples against the exact posterior and the discretised chain."""

    h: float
    step_fraction: float
    mean_chi2: float
    mean_chi2_p: float
    whitened_cov_max_abs_z: float
    excess_variance: float
    excess_variance_predicted: float
    excess_variance_se: float
    relative_cov_error: float
    steps: int
    epsilon: float


class LinearData(TypedDict):
    dim: int
    n: int
    chains: int
    curvatures: list[float]
    posterior_mean: list[float]
    step_fractions: list[float]
    rows: list[LinearRow]


class LogisticData(TypedDict):
    """(b) SGLD samples against the Laplace posterior, and the samples' test errors against ω₀'s."""

    dim: int
    n_train: int
    n_test: int
    l2: float
    chains: int
    h: float
    epsilon: float
    steps: int
    hessian_eigenvalues: list[float]
    hessian_vs_instrument_max_rel_diff: float
    newton_converged: bool
    variance_ratio: list[float]
    mean_offset_sd: list[float]
    whitened_offset: float
    variance_drift: float
    test_error_w0: float
    test_errors: list[float]
    test_error_posterior_mean: float
    test_error_bayes_average: float
    weight_norm_w0: float
    offset_cosine_w0: float


class Minimum(TypedDict):
    location: list[float]
    cost: float
    log_det_hessian: float
    log_local_evidence: float


class WellsData(TypedDict):
    """(c) the fraction of samples in the wide bowl against the local evidences."""

    minima: list[Minimum]
    laplace_log_ratio: float
    exact_log_ratio: float
    fraction_wide: float
    fraction_wide_halfway: float
    chains: int
    h: float
    steps: int
    well_time: float
    wells: dict[str, float]


class LangevinData(TypedDict):
    linear: LinearData
    logistic: LogisticData
    wells: WellsData


# each part: its computation and the prefixes of the spec fields it depends on (its store record's config)
PARTS: dict[str, tuple[Callable[[LangevinSpec, RunContext], Any], tuple[str, ...]]] = {
    "linear": (linear_part, ("chains", "linear_", "step_fractions", "relaxation_times", "data_seed")),
    "logistic": (logistic_part, ("logistic_", "data_seed")),
    "wells": (wells_part, ("well_", "sharp_", "wide_", "depth_gap")),
}


def run(spec: LangevinSpec, ctx: RunContext) -> LangevinData:
    """Every part not yet in the store (one store record per part)."""
    settings = spec_to_dict(spec)
    data: dict[str, Any] = {}
    with ctx.progress(len(PARTS), "langevin parts") as bar:
        for part, (compute, prefixes) in PARTS.items():
            config = {"part": part} | {k: v for k, v in settings.items() if k.startswith(prefixes)}
            config |= {"seed": ctx.seed, "device_type": ctx.device.type}
            stored = ctx.store.get(EXPERIMENT.name, config)
            if stored is None:
                data[part] = strict_json(compute(spec, ctx))
                ctx.store.put(EXPERIMENT.name, config, metrics=data[part])
            else:
                data[part] = stored.metrics
            bar.update()
    return data  # type: ignore[return-value]


# ---- claims: (a) Bayesian linear regression -----------------------------------------------------------------


def check_linear_moments(data: LangevinData) -> Verdict:
    linear = data["linear"]
    smallest, d = linear["rows"][-1], linear["dim"]
    entries = d * (d + 1) // 2
    z_limit = float(stats.norm.isf(FAMILY_P / (2 * entries)))
    holds = smallest["mean_chi2_p"] >= FAMILY_P and smallest["whitened_cov_max_abs_z"] <= z_limit
    return Verdict.of(
        holds,
        {
            "mean_chi2": smallest["mean_chi2"],
            "mean_chi2_p": smallest["mean_chi2_p"],
            "cov_max_abs_z": smallest["whitened_cov_max_abs_z"],
            "z_limit": z_limit,
            "excess_variance": smallest["excess_variance"],
            "excess_variance_predicted": smallest["excess_variance_predicted"],
            "excess_variance_se": smallest["excess_variance_se"],
            "samples": linear["chains"],
        },
        ""
        if holds
        else (
            f"mean χ² p = {smallest['mean_chi2_p']:.3g}, max |z| = {smallest['whitened_cov_max_abs_z']:.3g}; "
            f"the predicted discretisation excess at this step is {smallest['excess_variance_predicted']:.3g} "
            f"(s.e. {smallest['excess_variance_se']:.3g})"
        ),
    )


def _z(difference: float, se: float) -> float:
    """difference / se, ±inf (or 0) for an exact difference (se = 0)."""
    return difference / se if se > 0 else math.copysign(math.inf, difference) if difference else 0.0


def check_linear_error_falls(data: LangevinData) -> Verdict:
    """Holds when the excess falls at every smaller step; a rise is a failure only when it exceeds its
    standard error (both steps' s.e. combined) by the family-wise z limit, else too little evidence."""
    rows = data["linear"]["rows"]
    excess = [r["excess_variance"] for r in rows]
    falling = all(a > b for a, b in itertools.pairwise(excess))
    limit = theory_z_limit(max(1, len(rows) - 1))
    rise_z = [
        _z(b["excess_variance"] - a["excess_variance"], math.hypot(a["excess_variance_se"], b["excess_variance_se"]))
        for a, b in itertools.pairwise(rows)
    ]
    outcome = "holds" if falling else "fails" if any(z > limit for z in rise_z) else "inconclusive"
    return Verdict(
        outcome,
        {
            "step_fraction": [r["step_fraction"] for r in rows],
            "epsilon": [r["epsilon"] for r in rows],
            "excess_variance": excess,
            "relative_cov_error": [r["relative_cov_error"] for r in rows],
            "rise_z": rise_z,
            "z_limit": limit,
        },
        ""
        if falling
        else "rises between step fractions "
        + ", ".join(
            f"{rows[i]['step_fraction']:g}→{rows[i + 1]['step_fraction']:g} ({excess[i]:.3g}→{excess[i + 1]:.3g}, "
            f"z = {rise_z[i]:.2f} against {limit:.2f})"
            for i in range(len(rows) - 1)
            if excess[i] <= excess[i + 1]
        ),
    )


def theory_z_limit(compared: int) -> float:
    """|z| limit of a two-sided test at family-wise level THEORY_ALPHA over ``compared`` values (Bonferroni)."""
    return float(stats.norm.isf(THEORY_ALPHA / (2 * compared)))


def check_linear_error_as_predicted(data: LangevinData) -> Verdict:
    rows = data["linear"]["rows"]
    z = [(r["excess_variance"] - r["excess_variance_predicted"]) / r["excess_variance_se"] for r in rows]
    limit = theory_z_limit(len(z))
    return Verdict.of(
        all(abs(v) <= limit for v in z),
        {
            "predicted": [r["excess_variance_predicted"] for r in rows],
            "measured": [r["excess_variance"] for r in rows],
            "z": z,
            "z_limit": limit,
        },
    )


# ---- claims: (b) logistic regression against the Laplace posterior ------------------------------------------


def check_logistic_laplace(data: LangevinData) -> Verdict:
    logistic = data["logistic"]
    ratios = np.asarray(logistic["variance_ratio"])
    offsets = np.abs(np.asarray(logistic["mean_offset_sd"]))
    inside = bool(
        ratios.min() >= VARIANCE_RATIO_LOW and ratios.max() <= VARIANCE_RATIO_HIGH and offsets.max() <= MEAN_OFFSET_SD
    )
    note = ""
    if not inside:
        outwards = logistic["offset_cosine_w0"] > 0.5
        worst = int(np.argmax(np.abs(np.log(ratios))))
        note = (
            f"variance ratios span [{ratios.min():.3g}, {ratios.max():.3g}] (worst: parameter {worst}), mean offsets "
            f"up to {offsets.max():.3g} sd; the SGLD mean lies {logistic['whitened_offset']:.3g} Laplace sd from ω₀ "
            f"at cosine {logistic['offset_cosine_w0']:.2f} with ω₀ itself (|ω₀| = {logistic['weight_norm_w0']:.3g})"
            + (": the posterior is skewed outwards along the weight direction" if outwards else "")
            + f"; the largest relative change of a marginal variance over the second half of the run: "
            f"{logistic['variance_drift']:.2g}"
        )
    return Verdict.of(
        inside,
        {
            "variance_ratio_min": float(ratios.min()),
            "variance_ratio_median": float(np.median(ratios)),
            "variance_ratio_max": float(ratios.max()),
            "mean_offset_max_sd": float(offsets.max()),
            "whitened_offset": logistic["whitened_offset"],
            "variance_drift_second_half": logistic["variance_drift"],
            "hessian_vs_instrument_max_rel_diff": logistic["hessian_vs_instrument_max_rel_diff"],
            "samples": logistic["chains"],
        },
        note,
    )


def check_logistic_sample_beats_minimum(data: LangevinData) -> Verdict:
    logistic = data["logistic"]
    errors = np.asarray(logistic["test_errors"])
    lower = float(np.mean(errors < logistic["test_error_w0"]))
    return Verdict.of(
        lower >= OFTEN,
        {
            "fraction_lower": lower,
            "fraction_equal": float(np.mean(errors == logistic["test_error_w0"])),
            "test_error_w0": logistic["test_error_w0"],
            "test_error_samples_mean": float(errors.mean()),
            "test_error_samples_quartiles": np.quantile(errors, [0.25, 0.5, 0.75]).tolist(),
            "test_error_posterior_mean": logistic["test_error_posterior_mean"],
            "test_error_bayes_average": logistic["test_error_bayes_average"],
        },
        ""
        if lower >= OFTEN
        else (
            f"only {lower:.1%} of samples beat ω₀ (test error {logistic['test_error_w0']:.4f}; samples' mean "
            f"{errors.mean():.4f}, posterior average {logistic['test_error_bayes_average']:.4f}): in this convex "
            "model there is a single bowl, so sampling adds spread around "
            "ω₀ but cannot prefer a better minimum, the mechanism App. A invokes"
        ),
    )


# ---- claims: (c) two minima ---------------------------------------------------------------------------------


def wells_log_ratio(fraction: float) -> float:
    """log(f/(1 − f)), ±inf at the ends."""
    if fraction <= 0 or fraction >= 1:
        return math.copysign(math.inf, fraction - 0.5)
    return math.log(fraction / (1 - fraction))


def check_wells_occupation(data: LangevinData) -> Verdict:
    wells = data["wells"]
    f, m = wells["fraction_wide"], wells["chains"]
    observed = wells_log_ratio(f)
    se = 1 / math.sqrt(m * f * (1 - f)) if 0 < f < 1 else math.inf  # s.e. of the log-odds of a binomial fraction
    z_laplace = (observed - wells["laplace_log_ratio"]) / se
    half = wells["fraction_wide_halfway"]
    drift_z = (f - half) / math.sqrt(2 * f * (1 - f) / m) if 0 < f < 1 else math.inf
    deep, wide = wells["minima"]
    notes = [f"halfway through the run the fraction was {half:.4f} (drift {drift_z:+.2g} s.e.)"]
    limit = theory_z_limit(1)
    if abs(z_laplace) > limit:
        laplace_error = wells["laplace_log_ratio"] - wells["exact_log_ratio"]
        notes.append(
            f"the exact bowl integrals give log ratio {wells['exact_log_ratio']:.4f} vs Laplace "
            f"{wells['laplace_log_ratio']:.4f}: Laplace's own error is {laplace_error:+.3g}"
        )
    return Verdict.of(
        abs(z_laplace) <= limit,
        {
            "fraction_wide": f,
            "fraction_deep": 1 - f,
            "sampled_log_ratio": observed,
            "sampled_log_ratio_se": se,
            "laplace_log_ratio": wells["laplace_log_ratio"],
            "exact_log_ratio": wells["exact_log_ratio"],
            "z_vs_laplace": z_laplace,
            "z_limit": limit,
            "z_vs_exact": (observed - wells["exact_log_ratio"]) / se,
            "drift_z": drift_z,
            "cost_deep": deep["cost"],
            "cost_wide": wide["cost"],
        },
        "; ".join(notes),
    )


def check_wells_evidence_beats_depth(data: LangevinData) -> Verdict:
    """The set-up must pit evidence against depth (the wide bowl higher in cost, larger in local evidence), else
    inconclusive; then f against 1/2 by its binomial s.e.: holds above, fails below, inconclusive within ±z."""
    wells = data["wells"]
    f, m = wells["fraction_wide"], wells["chains"]
    deep, wide = wells["minima"]
    value = {
        "fraction_wide": f,
        "cost_deep": deep["cost"],
        "cost_wide": wide["cost"],
        "log_local_evidence_deep": deep["log_local_evidence"],
        "log_local_evidence_wide": wide["log_local_evidence"],
    }
    if not (wide["cost"] > deep["cost"] and wide["log_local_evidence"] > deep["log_local_evidence"]):
        raise NotEnoughData("the wide bowl is not both higher in cost and larger in local evidence: no test")
    z = (f - 0.5) / math.sqrt(0.25 / m)  # the binomial s.e. of f under f = 1/2
    limit = theory_z_limit(1)
    value |= {"z_vs_half": z, "z_limit": limit}
    if abs(z) <= limit:
        return Verdict.inconclusive(f"f = {f:.4f} is within {limit:.3g} s.e. of 1/2", value)
    return Verdict.of(z > limit, value)


def _app_a(where: str, quote: str) -> Provenance:
    return SMITH_LE_2018.cite(f"App. A, {where}", quote)


_VALID_SAMPLES = _app_a(
    "eq. 17",
    "The larger the step size ε, the greater the discretization error, but if ε is sufficiently small and we "
    "iterate equation 17 sufficiently many times, we will obtain valid samples from the posterior.",
)
_PROPORTIONAL = _app_a(
    "eq. 18–21",
    "the probability of sampling the parameter vector from a local minimum is proportional to the evidence in "
    "favor of that minimum",
)

CLAIMS = (
    ClaimSpec(
        id="appA/linear-posterior-moments",
        statement="(a) at the smallest step the SGLD samples' mean and covariance match the exact posterior "
        f"N(μ, A⁻¹) within sampling error (χ² p ≥ {FAMILY_P:g}; every entry of A^½SA^½ − I within the Bonferroni "
        "z limit over the d(d+1)/2 entries)",
        kind="paper",
        provenance=_VALID_SAMPLES,
        test=ClaimTest(
            "at the smallest step: χ² of the sample mean against N(μ, stationary covariance); z of every entry of the "
            "whitened sample covariance A^½SA^½ − I",
            "χ² p ≥ FAMILY_P and max |z| ≤ the normal quantile of FAMILY_P/(2·entries) (Bonferroni)",
            {"FAMILY_P": FAMILY_P},
        ),
        check=check_linear_moments,
    ),
    ClaimSpec(
        id="appA/linear-discretisation-error-falls",
        statement="(a) the discretisation error (excess variance tr(A·S)/d − 1) falls at every step as ε falls",
        kind="paper",
        provenance=_VALID_SAMPLES,
        test=ClaimTest(
            "excess variance tr(A·S)/d − 1 at each step fraction h·a_max, largest to smallest",
            "holds when strictly decreasing from each step to the next smaller one; fails when it rises somewhere by "
            "more than the normal quantile of THEORY_ALPHA/(2·(steps − 1)) in combined s.e., else inconclusive",
            {"THEORY_ALPHA": THEORY_ALPHA},
        ),
        check=check_linear_error_falls,
    ),
    ClaimSpec(
        id="appA/linear-discretisation-error-as-predicted",
        statement="(a) at every ε the excess variance agrees with the discretised chain's exact value "
        "mean_i 1/(1 − h·a_i/2) − 1 (so the error is O(ε) with the predicted constant): a two-sided z test at "
        f"family-wise level {THEORY_ALPHA:g}, Bonferroni over the step sizes",
        kind="extension",
        provenance=_VALID_SAMPLES,
        test=ClaimTest(
            "z = (measured − predicted excess variance) / its s.e., at every step",
            "|z| ≤ the normal quantile of THEORY_ALPHA/(2·steps) at every step (a standard level fixed a priori; it "
            "replaces a limit of 4 s.e. chosen after a run)",
            {"THEORY_ALPHA": THEORY_ALPHA},
        ),
        check=check_linear_error_as_predicted,
    ),
    ClaimSpec(
        id="appA/logistic-laplace-matches-sgld",
        statement="(b) the Laplace posterior N(ω₀, H⁻¹) of the evidence instrument matches the SGLD samples: every "
        f"marginal variance ratio SGLD/Laplace in [{VARIANCE_RATIO_LOW:.3g}, {VARIANCE_RATIO_HIGH:.3g}] and every "
        f"coordinate of the SGLD mean within {MEAN_OFFSET_SD:g} Laplace sd of ω₀",
        kind="extension",
        provenance=_app_a(
            "§2 and App. A",
            "In a convex model, there is only one such minimum; which allows us to accurately estimate the model "
            "evidence.",
        ),
        test=ClaimTest(
            "marginal variance ratios SGLD/Laplace and offsets of the SGLD mean from ω₀ in Laplace sd",
            "every ratio in [VARIANCE_RATIO_LOW, VARIANCE_RATIO_HIGH] and every |offset| ≤ MEAN_OFFSET_SD",
            {
                "VARIANCE_RATIO_LOW": VARIANCE_RATIO_LOW,
                "VARIANCE_RATIO_HIGH": VARIANCE_RATIO_HIGH,
                "MEAN_OFFSET_SD": MEAN_OFFSET_SD,
            },
        ),
        check=check_logistic_laplace,
    ),
    ClaimSpec(
        id="appA/logistic-sample-beats-minimum",
        statement=f"(b) App. A: a posterior sample often (in ≥ {OFTEN:.0%} of samples) has strictly lower test "
        "error than the minimum ω₀",
        kind="paper",
        provenance=_app_a(
            "last paragraph",
            "a single posterior sample ωp often achieves lower test error than the cost function minimum ω0",
        ),
        test=ClaimTest(
            "fraction of posterior samples with strictly lower test error than ω₀",
            "≥ OFTEN",
            {"OFTEN": OFTEN},
        ),
        check=check_logistic_sample_beats_minimum,
    ),
    ClaimSpec(
        id="appA/wells-occupation-vs-local-evidence",
        statement="(c) the log ratio of samples in the wide vs the deep bowl agrees with the log ratio of their "
        "Laplace local evidences e^{−C_i}(2π)^{d/2}/√det H_i: a two-sided z test at level "
        f"{THEORY_ALPHA:g}",
        kind="extension",
        provenance=_PROPORTIONAL,
        test=ClaimTest(
            "z = (sampled log(f/(1 − f)) − Laplace log evidence ratio) / binomial s.e. of the log-odds",
            "|z| ≤ the normal quantile of THEORY_ALPHA/2 (1.96; a standard level fixed a priori, replacing a limit of "
            "4 s.e. set in the commit that measured z = 3.57)",
            {"THEORY_ALPHA": THEORY_ALPHA},
        ),
        check=check_wells_occupation,
    ),
    ClaimSpec(
        id="appA/wells-evidence-beats-depth",
        statement="(c) the wide bowl, whose minimum has the higher cost, holds more samples than the deep sharp one "
        "(samples favour evidence, not depth)",
        kind="paper",
        provenance=_app_a(
            "eq. 18–21",
            "bayesian posterior samples are biased in favor of local minima whose evidence is large",
        ),
        test=ClaimTest(
            "fraction f of samples in the wide bowl over the chains; costs and local evidences of the two minima",
            "when C(wide) > C(deep) and the wide bowl's local evidence is larger (else inconclusive): holds when "
            "f − 1/2 exceeds the normal quantile of THEORY_ALPHA/2 in binomial s.e., fails when below minus it, "
            "else inconclusive",
            {"THEORY_ALPHA": THEORY_ALPHA},
        ),
        check=check_wells_evidence_beats_depth,
    ),
)


# ---- figure -------------------------------------------------------------------------------------------------


def draw_app_a(data: LangevinData, fig_dir: Path) -> Path:
    """App. A: (a) SGLD's excess variance vs step size against the discretised chain's exact value, (b) test
    errors of posterior samples against the minimum ω₀, (c) bowl occupation against local evidences."""
    fig, (ax_a, ax_b, ax_c) = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    rows = data["linear"]["rows"]
    fractions = [r["step_fraction"] for r in rows]
    ax_a.errorbar(
        fractions,
        [r["excess_variance"] for r in rows],
        yerr=[r["excess_variance_se"] for r in rows],
        fmt="o",
        capsize=3,
        label="SGLD samples",
    )
    ax_a.plot(fractions, [r["excess_variance_predicted"] for r in rows], "k--", label="exact, discretised chain")
    ax_a.set_xscale("log")
    ax_a.set_yscale("symlog", linthresh=1e-3)
    ax_a.set_xlabel("step h·a_max (h = ε/N)")
    ax_a.set_ylabel("excess variance tr(A·S)/d − 1")
    ax_a.set_title("(a) Bayesian linear regression")
    ax_a.legend(fontsize=8)
    logistic = data["logistic"]
    errors = np.asarray(logistic["test_errors"], float)
    ax_b.hist(errors, bins=30, color="C0", alpha=0.7, label="posterior samples")
    ax_b.axvline(logistic["test_error_w0"], color="k", label="minimum ω₀")
    ax_b.axvline(logistic["test_error_bayes_average"], color="C3", linestyle="--", label="posterior average")
    ax_b.set_xlabel("test error")
    ax_b.set_ylabel("samples")
    ax_b.set_title(f"(b) logistic regression, λ = {logistic['l2']:g}")
    ax_b.legend(fontsize=8)
    wells = data["wells"]
    fraction, chains = wells["fraction_wide"], wells["chains"]
    ratios = [math.exp(v) for v in (wells_log_ratio(fraction), wells["laplace_log_ratio"], wells["exact_log_ratio"])]
    ax_c.bar(range(3), [r if math.isfinite(r) else math.nan for r in ratios], color=["C0", "C1", "C2"])
    if 0 < fraction < 1:  # every chain in one bowl: a ratio of 0 or ∞, with no binomial SE
        se = math.sqrt(fraction * (1 - fraction) / chains)
        low, high = (math.exp(wells_log_ratio(min(max(f, 1e-9), 1 - 1e-9))) for f in (fraction - se, fraction + se))
        ax_c.errorbar([0], [ratios[0]], yerr=[[ratios[0] - low], [high - ratios[0]]], color="k", capsize=4)
    infinite = " = ∞" if math.isinf(ratios[0]) else ""
    sampled = f"SGLD samples{infinite}\n(± 1 binomial SE,\n{chains} chains)"
    ax_c.set_xticks(range(3), [sampled, "Laplace\nevidences", "exact bowl\nintegrals"])
    ax_c.axhline(1.0, color="0.5", linewidth=0.8)
    ax_c.set_ylabel("P(wide bowl) / P(deep bowl)")
    ax_c.set_title("(c) two minima: occupation vs local evidence")
    return plots.save(fig, fig_dir / "appA_langevin.png")


_TINY = {
    "chains": 2000,
    "step_fractions": (0.5, 0.1),
    "relaxation_times": 4.0,
    "logistic_chains": 100,
    "logistic_dim": 5,
    "logistic_n_train": 50,
    "logistic_n_test": 200,
    "logistic_relaxation_times": 2.0,
    "well_chains": 200,
    "well_time": 5.0,
}

EXPERIMENT = Experiment(
    name="smith-le-langevin",
    description="SGLD (App. A eq. 17): exact linear-regression posterior, Laplace vs samples, two-minimum bowl occupation.",  # noqa: E501
    title="Posterior sampling by Langevin dynamics (Smith & Le 2018, App. A)",
    paper="Smith & Le, ICLR 2018, Appendix A (eq. 14-21)",
    specs={
        "quick": LangevinSpec(),
        "paper": LangevinSpec(
            chains=100_000, logistic_chains=4000, logistic_dim=200, well_chains=20_000, well_time=500.0
        ),
    },
    tiny={"quick": _TINY, "paper": _TINY},
    run=run,
    claims=CLAIMS,
    figures=(Figure("appA", draw_app_a, LangevinData),),
)
