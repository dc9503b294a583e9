"""The checks of Smith & Le's §3 claims (``evidence`` declares the experiment: the spec, the run, the claims
built by ``dataset_claims`` and Fig. 1–2): their thresholds, fixed before any run, and one pure function of
the figure data per claim, each taking the dataset it judges (``mnist01`` or ``synthetic``) first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from sgdnoise import analysis
from sgdnoise.analysis import effects
from sgdnoise.experiments.claims import NotEnoughData, Verdict
from sgdnoise.experiments.smith_le_2018.verdicts import joint_verdict

if TYPE_CHECKING:
    from sgdnoise.experiments.smith_le_2018.evidence import Curve, EvidenceData, LabelCurves

# test accuracy that counts as "generalises well" on informative labels at the weakest λ
HIGH_TEST_ACCURACY = {"mnist01": 0.98, "synthetic": 0.70}
CHANCE_TOLERANCE = 0.02  # random labels: test accuracy within 0.5 ± this counts as chance
ZERO_EVIDENCE_PER_EXAMPLE = 0.01  # |E/N| below this counts as E ≈ 0
ARGMIN_FACTOR = 10.0  # argmin_λ E and argmin_λ test cross-entropy within this factor of each other
MIN_SPEARMAN = 0.8  # ... and Spearman ρ(E, test cross-entropy) at least this
# "roughly 50% larger": the margin ratio informative / random between +25% and +100% (the project's band; set
# after the quick run had recorded ratios of 150.5 on MNIST 0/1 and 1.506 on the synthetic task, when this claim
# only tested "larger")
MARGIN_RATIO_LOW, MARGIN_RATIO_HIGH = 1.25, 2.0
LN2_MARGIN = 0.01  # test cross-entropy "at ln 2": within ±0.01 nats (the project's margin; the paper gives none)


def _label_curves(data: EvidenceData, dataset: str) -> tuple[np.ndarray, dict[str, Curve], dict[str, Curve]]:
    """λ, and the random and informative curves of ``dataset``."""
    if dataset not in data:
        raise NotEnoughData(f"{dataset} was not run (datasets setting)")
    label_curves: LabelCurves = data[dataset]  # type: ignore[literal-required]
    lambdas = np.asarray(data["lambda"], float)
    if lambdas.size == 0:
        raise NotEnoughData("no λ was run")
    for labels, curves in label_curves.items():
        for metric, curve in curves.items():
            per_seed = np.asarray(curve["per_seed"], float)  # None (a failed fit in the JSON) becomes NaN
            if per_seed.size == 0 or not np.isfinite(per_seed).all():
                raise NotEnoughData(f"{dataset}, {labels} labels: {metric} is missing or not finite at some λ")
    return lambdas, label_curves["random"], label_curves["informative"]


def _at_weakest(curve: Mapping[str, Curve], metric: str) -> float:
    return float(curve[metric]["mean"][0])


def _worst_seed_at_weakest(curve: Mapping[str, Curve], metric: str) -> float:
    return float(min(seed_curve[0] for seed_curve in curve[metric]["per_seed"]))


def check_informative_fits(dataset: str, data: EvidenceData) -> Verdict:
    lambdas, _, inf = _label_curves(data, dataset)
    train_acc = _worst_seed_at_weakest(inf, "train_accuracy")
    test_acc = _at_weakest(inf, "test_accuracy")
    return Verdict.of(
        train_acc == 1.0 and test_acc >= HIGH_TEST_ACCURACY[dataset],
        {"lambda": float(lambdas[0]), "train_accuracy_min_over_seeds": train_acc, "test_accuracy": test_acc},
    )


def check_random_memorized(dataset: str, data: EvidenceData) -> Verdict:
    lambdas, rnd, _ = _label_curves(data, dataset)
    train_acc = _worst_seed_at_weakest(rnd, "train_accuracy")
    test_acc = _at_weakest(rnd, "test_accuracy")
    return Verdict.of(
        train_acc == 1.0 and abs(test_acc - 0.5) <= CHANCE_TOLERANCE,
        {"lambda": float(lambdas[0]), "train_accuracy_min_over_seeds": train_acc, "test_accuracy": test_acc},
    )


def check_evidence_positive_random(dataset: str, data: EvidenceData) -> Verdict:
    _, rnd, _ = _label_curves(data, dataset)
    per_example = np.array(rnd["log_evidence_ratio_per_example"]["per_seed"])
    violations = (per_example <= 0) & (np.abs(per_example) >= ZERO_EVIDENCE_PER_EXAMPLE)
    value = {
        "min_E_per_example": float(per_example.min()),
        "violations": int(violations.sum()),
        "points": int(per_example.size),
        "min_E_per_example_at_weakest": float(per_example[:, 0].min()),
    }
    if not violations.any() and value["min_E_per_example_at_weakest"] < ZERO_EVIDENCE_PER_EXAMPLE:
        return Verdict.inconclusive("E/N is within the ≈ 0 tolerance at the weakest λ: E > 0 is not seen", value)
    return Verdict.of(not violations.any(), value)


def check_evidence_curve_shape(dataset: str, data: EvidenceData) -> Verdict:
    """§3's curve of E(λ) on informative labels, each part by Welch's interval over seeds: E > 0 at the
    weakest λ, E < 0 at the interior λ where the mean curve is lowest, and E/N ≈ 0 (within
    ±ZERO_EVIDENCE_PER_EXAMPLE, two one-sided tests) at the strongest λ. Holds when all three hold; fails
    when one fails or the mean curve's minimum sits at an end of the λ grid."""
    lambdas, _, inf = _label_curves(data, dataset)
    per_seed = np.asarray(inf["log_evidence_ratio"]["per_seed"], float)
    per_example = np.asarray(inf["log_evidence_ratio_per_example"]["per_seed"], float)
    lowest = int(np.argmin(per_seed.mean(axis=0)))
    zeros = np.zeros(per_seed.shape[0])
    parts = {
        "positive_at_weakest": effects.directional_effect(per_seed[:, 0], zeros, direction=1),
        "negative_at_minimum": effects.directional_effect(per_seed[:, lowest], zeros, direction=-1),
        "zero_at_strongest": effects.equivalence(per_example[:, -1], zeros, margin=ZERO_EVIDENCE_PER_EXAMPLE),
    }
    value = {
        "E_at_weakest": float(per_seed[:, 0].mean()),
        "lambda_of_minimum": float(lambdas[lowest]),
        "E_at_minimum": float(per_seed[:, lowest].mean()),
        "E_per_example_at_strongest": float(per_example[:, -1].mean()),
    }
    verdict = joint_verdict(parts, value | {"parts": part_outcomes(parts)})
    if 0 < lowest < lambdas.size - 1:
        return verdict
    return Verdict(
        "fails",
        verdict.value,
        f"the mean E is lowest at the end of the λ grid (λ = {lambdas[lowest]:g}); {verdict.reason}",
    )


def part_outcomes(parts: Mapping[str, effects.Difference]) -> dict[str, str]:
    """Each part's outcome, by name (for the claim's value)."""
    return {name: part.outcome for name, part in parts.items()}


def check_random_test_ce(dataset: str, data: EvidenceData) -> Verdict:
    """Random labels: test cross-entropy above ln 2 at the weakest λ (it explodes) and at ln 2 at the strongest."""
    _, rnd, _ = _label_curves(data, dataset)
    test_ce = np.asarray(rnd["test_cross_entropy"]["per_seed"], float)
    ln2 = np.full(test_ce.shape[0], np.log(2))
    parts = {
        "above_ln2_at_weakest": effects.directional_effect(test_ce[:, 0], ln2, direction=1),
        "ln2_at_strongest": effects.equivalence(test_ce[:, -1], ln2, margin=LN2_MARGIN),
    }
    value = {"test_ce_weakest": float(test_ce[:, 0].mean()), "test_ce_strongest": float(test_ce[:, -1].mean())}
    return joint_verdict(parts, value | {"parts": part_outcomes(parts)})


def check_informative_test_ce(dataset: str, data: EvidenceData) -> Verdict:
    """Informative labels: test cross-entropy below ln 2 where the mean curve is lowest, at ln 2 at the strongest λ."""
    lambdas, _, inf = _label_curves(data, dataset)
    test_ce = np.asarray(inf["test_cross_entropy"]["per_seed"], float)
    ln2 = np.full(test_ce.shape[0], np.log(2))
    lowest = int(np.argmin(test_ce.mean(axis=0)))
    parts = {
        "below_ln2_at_minimum": effects.directional_effect(test_ce[:, lowest], ln2, direction=-1),
        "ln2_at_strongest": effects.equivalence(test_ce[:, -1], ln2, margin=LN2_MARGIN),
    }
    value = {
        "lambda_of_minimum": float(lambdas[lowest]),
        "test_ce_minimum": float(test_ce[:, lowest].mean()),
        "test_ce_strongest": float(test_ce[:, -1].mean()),
    }
    return joint_verdict(parts, value | {"parts": part_outcomes(parts)})


def check_evidence_positive_weak(dataset: str, data: EvidenceData) -> Verdict:
    lambdas, _, inf = _label_curves(data, dataset)
    weak_e = _at_weakest(inf, "log_evidence_ratio")
    weak_cost, weak_occam = _at_weakest(inf, "cost"), _at_weakest(inf, "occam")
    null = weak_cost + weak_occam - weak_e  # N ln 2
    return Verdict.of(
        weak_e > 0,
        {
            "lambda": float(lambdas[0]),
            "E": weak_e,
            "E_per_example": _at_weakest(inf, "log_evidence_ratio_per_example"),
            "cost": weak_cost,
            "occam": weak_occam,
            "N_ln_2": null,
        },
        ""
        if weak_e > 0
        else (
            f"C(ω0) + Occam = {weak_cost:.3g} + {weak_occam:.3g} stays below N ln 2 = {null:.3g}: the informative "
            "labels are so easy to separate that even the unregularised minimum beats the null model"
        ),
    )


def check_evidence_tracks_test_ce(dataset: str, data: EvidenceData) -> Verdict:
    lambdas, _, inf = _label_curves(data, dataset)
    mean_e = np.array(inf["log_evidence_ratio"]["mean"])
    test_ce = np.array(inf["test_cross_entropy"]["mean"])
    agreement = analysis.argmin_agreement(lambdas, mean_e, test_ce, factor=ARGMIN_FACTOR)
    correlation = analysis.spearman_correlation(mean_e, test_ce)
    return Verdict.of(
        bool(agreement.within) and correlation.rho >= MIN_SPEARMAN,
        {
            "argmin_lambda_E": agreement.argmin_a,
            "argmin_lambda_test_ce": agreement.argmin_b,
            "spearman_rho": correlation.rho,
        },
    )


def check_margin_larger_informative(dataset: str, data: EvidenceData) -> Verdict:
    _, rnd, inf = _label_curves(data, dataset)
    margin_inf, margin_rnd = _at_weakest(inf, "mean_margin"), _at_weakest(rnd, "mean_margin")
    if margin_rnd <= 0:
        raise NotEnoughData(f"the random labels' mean margin is {margin_rnd:.3g}: no ratio")
    ratio = margin_inf / margin_rnd
    return Verdict.of(
        MARGIN_RATIO_LOW <= ratio <= MARGIN_RATIO_HIGH,
        {"informative": margin_inf, "random": margin_rnd, "ratio": ratio},
        f"the ratio is {ratio:.3g}, outside [{MARGIN_RATIO_LOW:g}, {MARGIN_RATIO_HIGH:g}]"
        if not MARGIN_RATIO_LOW <= ratio <= MARGIN_RATIO_HIGH
        else "",
    )
