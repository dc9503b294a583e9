"""The checks of Jastrzębski et al.'s Fig. 2–3 width claims (``interpolation`` declares the experiment: the
spec, the run, the claims and the figures): the equivalence margin, fixed before any run, and the verdicts on
one comparison's α-widths over seeds — the lower-η/S side sharper (``lower_noise_sharper``), or equal η/S with
equivalent widths (``equal_width``) — and the checks that pick a comparison out of the figure data by label or
by β (the module docstring of ``interpolation`` says how widths are measured and decided)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sgdnoise.analysis.effects import directional_effect, equivalence
from sgdnoise.experiments.claims import NotEnoughData, Verdict

if TYPE_CHECKING:
    from sgdnoise.experiments.jastrzebski_2018.interpolation import InterpolationData

WIDTH_RATIO_MARGIN = 1.5  # equal η/S: mean log widths equivalent within ±ln 1.5 (two one-sided tests)


def _width_stats(values: Sequence[float | None]) -> tuple[float, float, int]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan, 0
    return float(np.mean(finite)), float(np.std(finite)), len(finite)


def _widths(comp: Mapping[str, Any], threshold: float, cap: float) -> tuple[dict[str, Any], int, str]:
    """The widths' summary (the verdict's value), how many are beyond the cap, and that as a sentence."""
    w1, w2 = comp["widths"]["first"], comp["widths"]["second"]
    m1, s1, n1 = _width_stats(w1)
    m2, s2, n2 = _width_stats(w2)
    value = {
        "width_first_mean": m1,
        "width_first_std": s1,
        "width_second_mean": m2,
        "width_second_std": s2,
        "widths_first": w1,
        "widths_second": w2,
        "seeds": len(w1),
        "finite_first": n1,
        "finite_second": n2,
    }
    missing = (len(w1) - n1) + (len(w2) - n2)
    beyond = f"{missing} of {len(w1) + len(w2)} widths beyond the cap (train loss < {threshold:g} at d = {cap:g})"
    return value, missing, beyond


def _log_widths(values: Sequence[float | None], cap: float | None) -> np.ndarray:
    """log width per seed; a width beyond the cap is the cap (a lower bound) when ``cap`` is given, else NaN."""
    filled = [cap if w is None else w for w in values]
    with np.errstate(divide="ignore"):  # a width of 0 (the loss crosses the threshold at once) is log 0 = −inf
        return np.log(np.asarray([math.nan if w is None else w for w in filled], float))


def _verdict(result: Any, value: dict[str, Any], note: str) -> Verdict:
    return Verdict(result.outcome, value | {"log_width_difference": result.to_dict()}, note)


def lower_noise_sharper(comp: Mapping[str, Any], threshold: float, cap: float = math.inf) -> Verdict:
    """Fig. 2 on one comparison: mean log width of the lower-η/S endpoint below the other's, by Welch's 95%
    interval over seeds (``analysis.effects.directional_effect``); a sharp side beyond the cap: inconclusive."""
    value, missing, beyond = _widths(comp, threshold, cap)
    lower_is_second = comp["second"]["noise"] < comp["first"]["noise"]
    sharp_side, wide_side = ("second", "first") if lower_is_second else ("first", "second")
    sharp, wide = comp["widths"][sharp_side], comp["widths"][wide_side]
    m_sharp, m_wide = value[f"width_{sharp_side}_mean"], value[f"width_{wide_side}_mean"]
    value |= {
        "width_sharp_mean": m_sharp,
        "width_wide_mean": m_wide,
        "wide_over_sharp": m_wide / m_sharp if m_sharp > 0 else math.nan,
    }
    if any(w is None for w in sharp):
        return Verdict.inconclusive(f"the lower-η/S side is beyond the cap in some seed; {beyond}", value)
    result = directional_effect(_log_widths(sharp, None), _log_widths(wide, cap), direction=-1)
    note = f"log width(lower η/S) − log width(other): {result.describe()}; {result.reason}"
    return _verdict(result, value, note + (f"; {beyond} (counted at the cap)" if missing else ""))


def equal_width(comp: Mapping[str, Any], threshold: float, cap: float = math.inf) -> Verdict:
    """Fig. 2 (right) / Fig. 3 on one comparison: mean log widths equivalent within ±ln WIDTH_RATIO_MARGIN,
    by two one-sided tests over seeds (``analysis.effects.equivalence``); a width beyond the cap: inconclusive."""
    value, missing, beyond = _widths(comp, threshold, cap)
    if missing:
        return Verdict.inconclusive(beyond, value)
    first, second = comp["widths"]["first"], comp["widths"]["second"]
    result = equivalence(_log_widths(first, None), _log_widths(second, None), margin=math.log(WIDTH_RATIO_MARGIN))
    ratio = value["width_first_mean"] / value["width_second_mean"] if value["width_second_mean"] else math.nan
    note = f"widths {value['width_first_mean']:.3g} vs {value['width_second_mean']:.3g} (ratio {ratio:.3g}); "
    return _verdict(result, value, note + f"log widths: {result.describe()}; {result.reason}")


def _beta(comp: Mapping[str, Any]) -> float:
    return comp["second"]["learning_rate"] / comp["first"]["learning_rate"]


def by_label(label: str, verdict: Callable[..., Verdict]) -> Callable[[InterpolationData], Verdict]:
    def check(data: InterpolationData) -> Verdict:
        if label not in data["comparisons"]:
            raise NotEnoughData(f"no {label} comparison was run")
        return verdict(data["comparisons"][label], data["loss_threshold"], data["width_cap"])

    return check


def by_beta(below: bool) -> Callable[[InterpolationData], Verdict]:
    """The equal-η/S comparison with the smallest β < 1 (``below``) or the largest β > 1."""

    def check(data: InterpolationData) -> Verdict:
        betas = [c for label, c in data["comparisons"].items() if label.startswith("beta=")]
        equal = [c for c in betas if (_beta(c) < 1) == below and _beta(c) != 1]
        if not equal:
            raise NotEnoughData(f"no β {'<' if below else '>'} 1 among the spec's betas")
        comp = min(equal, key=_beta) if below else max(equal, key=_beta)
        return equal_width(comp, data["loss_threshold"], data["width_cap"])

    return check
