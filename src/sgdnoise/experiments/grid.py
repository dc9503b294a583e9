"""Grid machinery shared by every swept experiment: runs laid out on named axes (B, ε, m, N, η/S, β,
λ, schedule, …) plus a seed axis, per-seed arrays with NaN where a run diverged, failed or was not
run, mean ± std over seeds, the optimum along one axis with the papers' error bars, and the
scaling-law claim B_opt ∝ x^k (Smith & Le 2018 §5) built on it.

A sweep's runs are keyed by their grid coordinates, ``GridResults(axes, seeds, runs)`` with ``runs``
mapping ``(*coordinates, seed_index)`` to any object with ``status``, ``metrics``, ``history``,
``probes`` and ``measurements`` (``sweep.SweptRun``); a coordinate missing from ``runs`` was not run.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import numpy as np

from sgdnoise import analysis
from sgdnoise.analysis.effects import MIN_SEEDS
from sgdnoise.experiments.claims import ClaimSpec, ClaimTest, NotEnoughData, Provenance, Verdict
from sgdnoise.results import VerdictName, nan_if_none

Value = str | Callable[[Any], float | None]


def metric(name: str) -> Callable[[Any], float | None]:
    """A value getter: the final metric ``name`` of a run (``"test_acc"``), or a measurement quantity
    written ``"measurement.quantity"`` (``"hessian_norm.value"``)."""
    measurement, dot, quantity = name.partition(".")
    if dot:
        return lambda run: run.measurements.get(measurement, {}).get(quantity)
    return lambda run: run.metrics.get(name)


def _getter(value: Value) -> Callable[[Any], float | None]:
    return metric(value) if isinstance(value, str) else value


def nullable(values: Sequence[float | None] | np.ndarray) -> list[float | None]:
    """Floats with NaN/inf as None (strict JSON's missing number)."""
    out: list[float | None] = []
    for v in np.asarray(values, dtype=float).ravel():
        out.append(float(v) if math.isfinite(v) else None)
    return out


def mean_std(rows: np.ndarray | Sequence[Sequence[float | None]]) -> dict[str, list[float | None]]:
    """Mean and (population) std over the first axis, ignoring NaN; a column without any finite
    value gives None. Rows of unequal length are NaN-padded."""
    if isinstance(rows, np.ndarray):
        arr = rows.astype(float)
    else:
        length = max((len(r) for r in rows), default=0)
        arr = np.full((len(rows), length), np.nan)
        for i, row in enumerate(rows):
            arr[i, : len(row)] = [nan_if_none(v) for v in row]
    finite = np.isfinite(arr).any(axis=0)
    mean = np.full(arr.shape[1:], np.nan)
    std = np.full(arr.shape[1:], np.nan)
    mean[finite] = np.nanmean(arr[:, finite], axis=0)
    std[finite] = np.nanstd(arr[:, finite], axis=0)
    return {"mean": nullable(mean), "std": nullable(std)}


@dataclass(frozen=True)
class GridResults:
    """Runs on named axes. ``axes`` maps each axis name to its values in grid order; ``seeds`` are
    the seeds of the last (seed) axis; ``runs`` maps ``(*coordinates, seed_index)`` to a run."""

    axes: Mapping[str, tuple[Any, ...]]
    seeds: tuple[int, ...]
    runs: Mapping[tuple[Any, ...], Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "axes", {name: tuple(values) for name, values in self.axes.items()})
        object.__setattr__(self, "seeds", tuple(self.seeds))
        for key in self.runs:
            if len(key) != len(self.axes) + 1:
                raise ValueError(f"run key {key!r} does not have one coordinate per axis {list(self.axes)} + seed")

    @property
    def shape(self) -> tuple[int, ...]:
        return (*(len(v) for v in self.axes.values()), len(self.seeds))

    def _free_axes(self, fixed: Mapping[str, Any]) -> list[str]:
        unknown = set(fixed) - set(self.axes)
        if unknown:
            raise ValueError(f"unknown grid axes {sorted(unknown)}; axes are {list(self.axes)}")
        free = [name for name in self.axes if name not in fixed]
        for name, value in fixed.items():
            if value not in self.axes[name]:
                raise ValueError(f"{value!r} is not on axis {name!r} {self.axes[name]}")
        return free

    def run(self, seed_index: int, **coordinates: Any) -> Any | None:
        """The run at full ``coordinates`` and ``seed_index`` (None: not run)."""
        return self.runs.get((*(coordinates[name] for name in self.axes), seed_index))

    def array(self, value: Value, **fixed: Any) -> np.ndarray:
        """[*free axes, seed] values of ``value`` with the ``fixed`` axes held at the given points; NaN
        where the run is missing, did not finish, or the value is missing or not finite."""
        get = _getter(value)
        free = self._free_axes(fixed)
        shape = (*(len(self.axes[name]) for name in free), len(self.seeds))
        out = np.full(shape, np.nan)
        for index in itertools.product(*(range(n) for n in shape)):
            coords = dict(fixed)
            coords.update({name: self.axes[name][i] for name, i in zip(free, index, strict=False)})
            run = self.run(index[-1], **coords)
            if run is None or run.status != "finished":
                continue
            got = get(run)
            out[index] = nan_if_none(got)
        return out

    def status(self, **fixed: Any) -> np.ndarray:
        """[*free axes, seed] run status (``finished``/``diverged``/``failed``), None where not run."""
        free = self._free_axes(fixed)
        shape = (*(len(self.axes[name]) for name in free), len(self.seeds))
        out = np.full(shape, None, dtype=object)
        for index in itertools.product(*(range(n) for n in shape)):
            coords = dict(fixed)
            coords.update({name: self.axes[name][i] for name, i in zip(free, index, strict=False)})
            run = self.run(index[-1], **coords)
            out[index] = None if run is None else run.status
        return out

    def curve(self, value: Value, along: str, **fixed: Any) -> np.ndarray:
        """[seed, len(axis)] values along one axis (every other axis fixed)."""
        rest = [name for name in self.axes if name != along and name not in fixed]
        if rest:
            raise ValueError(f"fix the axes {rest} to take a curve along {along!r}")
        return self.array(value, **fixed).T


def join_notes(*notes: str) -> str:
    return "; ".join(note for note in notes if note)


class ScalingLaw(TypedDict):
    """The analysis behind a scaling-law figure (Smith & Le 2018 Fig. 5–7 b): per curve its swept value
    ``x`` and its optimum (``analysis.GridOptimum.to_dict``), which curves the exponent's fit considers, the
    curves entering the fit (considered, interior optimum), the fit (``analysis.ScalingFit.to_dict``, None when
    fewer than two distinct x have an interior optimum), ``seeds``, the fewest seeds with a finite score on any
    curve, and ``fit_seeds``, the same over the fitted curves (a verdict needs ``MIN_SEEDS``)."""

    x_name: str
    x: list[float]
    optima: list[dict[str, Any]]
    considered: list[bool]
    fit_indices: list[int]
    fit: dict[str, Any] | None
    seeds: NotRequired[int]
    fit_seeds: NotRequired[int]


def scaling_law(
    x_name: str,
    x: Sequence[float],
    values: Sequence[float],
    scores: Sequence[np.ndarray],
    *,
    ran: Sequence[np.ndarray] | None = None,
    considered: Sequence[bool] | None = None,
    n_bootstrap: int = 1000,
) -> ScalingLaw:
    """Optima and power-law fit of curves of a score over a grid ``values`` (one [seed, grid] array per
    x; NaN = failed or not run), the data :func:`scaling_law_claims` checks.

    Per curve the optimum is the best grid value of the mean score among the points that were run
    (Smith & Le 2018 §5, error bars to the neighbouring points). The exponent is the OLS slope of
    log optimum on log x over the considered curves whose optimum is interior, with an expanded
    percentile bootstrap CI over seeds (``analysis.fit_scaling_law``), fitted on the sub-grid optimum (vertex of a
    parabola through the best point and its neighbours): best-observed grid values alone make the
    bootstrap CI collapse to one grid-rounded slope, which can never contain k = 1. ``ran`` gives per
    curve the grid points that were run (default: those with a finite score; a point whose runs all
    diverged then still counts, scored as the worst); ``considered`` leaves curves out of the exponent's fit
    (Fig. 6: "proportional … once N ≳ 20000"), never out of the growth claim, which the paper makes of every curve.
    """
    grid = np.asarray(values, dtype=float)
    masks = list(ran) if ran is not None else [np.isfinite(s).any(axis=0) for s in scores]
    optima = [analysis.optimum_on_grid(grid[m], s[:, m]) for s, m in zip(scores, masks, strict=True)]
    xs = np.asarray(x, dtype=float)
    keep = [True] * len(xs) if considered is None else [bool(c) for c in considered]
    fit_indices = [i for i in _considered_order(xs.tolist(), keep) if not optima[i].at_edge]
    fit_data: dict[str, Any] | None = None
    if len({float(xs[i]) for i in fit_indices}) >= 2:
        # a grid point not run on a curve scores as a failure, never as its optimum
        stacked = np.stack([scores[i] for i in fit_indices])
        fit = analysis.fit_scaling_law(
            [float(xs[i]) for i in fit_indices], grid, stacked, n_bootstrap=n_bootstrap, use_refined=True
        )
        fit_data = fit.to_dict()
    finished = [int(np.isfinite(s).any(axis=1).sum()) for s in scores]  # seeds with a finite score, per curve
    return {
        "x_name": x_name,
        "x": xs.tolist(),
        "optima": [opt.to_dict() for opt in optima],
        "considered": keep,
        "fit_indices": [int(i) for i in fit_indices],
        "fit": fit_data,
        "seeds": min(finished, default=0),
        "fit_seeds": min((finished[i] for i in fit_indices), default=min(finished, default=0)),
    }


def _considered_order(x: Sequence[float], considered: Sequence[bool] | None = None) -> list[int]:
    """Indices of the considered curves (None: every curve) in increasing x (stable)."""
    return [
        int(i) for i in np.argsort(np.asarray(x, dtype=float), kind="stable") if considered is None or considered[i]
    ]


def scaling_law_claims(
    figure: str,
    x_name: str,
    *,
    grows: Provenance,
    exponent: Provenance,
    exponent_range: tuple[float, float],
    paper_exponent: float = 1.0,
    caveat: str = "",
    extra: Callable[[Any], Mapping[str, Sequence[Any]]] | None = None,
    optimum_name: str = "B_opt",
    key: str = "scaling",
    min_seeds: int = MIN_SEEDS,
) -> tuple[ClaimSpec[Any], ClaimSpec[Any], ClaimSpec[Any]]:
    """The three claims of a scaling law, declared for figure ``figure`` and checked on the
    :class:`ScalingLaw` at ``data[key]`` (see :func:`scaling_law`), each decided by the bootstrap CI of
    the fitted k so that seed noise alone cannot settle it: ``<figure>/<optimum>-grows``, the best grid
    value grows with x over every curve whose optimum is interior and the CI of k lies above 0 (fails when
    the CI lies below 0);
    ``<figure>/exponent``, best ∝ x^k with the CI of k inside ``exponent_range``;
    ``<figure>/exponent-matches-paper``, the paper's ``paper_exponent`` inside that CI and the CI inside
    ``exponent_range`` (fails when the CI excludes it). An optimum at the edge of the points run is a
    bound, not a value: it never counts, and fewer than 2 curves with an interior optimum, fewer than
    ``min_seeds`` seeds, or a CI without width leave all three claims inconclusive. ``caveat`` is appended
    to every note; ``extra(data)`` adds per-curve values (ordered like the curves) to the first claim's
    value (e.g. epochs at the optimum)."""
    low_k, high_k = exponent_range

    def law_with_seeds(data: Any, count: str = "seeds") -> ScalingLaw:
        """The law, if the curves it rests on (``count``: every curve, or the fitted ones) have the seeds."""
        law: ScalingLaw = data[key]
        if "seeds" not in law:
            raise NotEnoughData(
                join_notes("the summary does not record the seeds per curve (an older version)", caveat)
            )
        seeds = law.get(count, law["seeds"])  # type: ignore[misc]
        if seeds < min_seeds:
            raise NotEnoughData(
                join_notes(f"{seeds} seed(s) per curve, fewer than the {min_seeds} a verdict needs", caveat)
            )
        return law

    def check_grows(data: Any) -> Verdict:
        law = law_with_seeds(data)
        order = _considered_order(law["x"])  # every curve: `considered` limits only the exponent's fit
        interior = [i for i in order if not law["optima"][i]["at_edge"]]
        edge = [float(law["x"][i]) for i in order if law["optima"][i]["at_edge"]]
        edge_note = f"optimum at the edge of the points run for {x_name} = {edge}: a bound, not counted" if edge else ""
        if len(interior) < 2:
            raise NotEnoughData(
                join_notes(f"only {len(interior)} curve(s) with an interior optimum, 2 needed", edge_note, caveat)
            )
        best = [law["optima"][i]["value"] for i in interior]
        ordered = all(b >= a for a, b in itertools.pairwise(best)) and best[-1] > best[0]
        *_, low, high = fitted(data)
        value: dict[str, Any] = {"x": [float(law["x"][i]) for i in interior], optimum_name: best, "k_ci": [low, high]}
        for name, column in (extra(data) if extra is not None else {}).items():
            value[name] = [column[i] for i in interior]
        if high < 0:
            return Verdict(
                "fails", value, join_notes(f"the CI of k lies below 0: {optimum_name} falls", edge_note, caveat)
            )
        if ordered and low > 0:
            return Verdict("holds", value, join_notes(edge_note, caveat))
        growth = "the observed optima grow" if ordered else "the observed optima do not grow"
        trend = "the CI of k lies above 0" if low > 0 else "the CI of k contains 0"
        return Verdict.inconclusive(join_notes(f"{growth} but {trend}", edge_note, caveat), value)

    def fitted(data: Any) -> tuple[ScalingLaw, Mapping[str, Any], float, float, float]:
        law = law_with_seeds(data, "fit_seeds")
        fit, fit_indices = law["fit"], law["fit_indices"]
        if fit is None:
            raise NotEnoughData(
                join_notes(
                    f"only {len(fit_indices)} curve(s) with an interior optimum: no exponent can be fitted", caveat
                )
            )
        slope, (low, high) = nan_if_none(fit["slope"]), (nan_if_none(v) for v in fit["slope_ci"])
        if not all(math.isfinite(v) for v in (slope, low, high)):
            raise NotEnoughData(
                join_notes(
                    f"the fitted exponent or its interval is not finite (k = {slope}, CI [{low}, {high}])", caveat
                )
            )
        if not low < high:
            raise NotEnoughData(
                join_notes(f"the CI of k has no width ([{low}, {high}]): the seeds gave the same optima", caveat)
            )
        return law, fit, slope, low, high

    def check_paper_exponent(data: Any) -> Verdict:
        _, _, slope, low, high = fitted(data)
        value = {"k": slope, "k_ci": [low, high], "paper_k": paper_exponent}
        if not low <= paper_exponent <= high:
            return Verdict("fails", value, caveat)
        if low_k <= low and high <= high_k:
            return Verdict("holds", value, caveat)
        return Verdict.inconclusive(
            join_notes(f"the CI contains k = {paper_exponent:g} but reaches beyond [{low_k}, {high_k}]", caveat), value
        )

    def check_exponent(data: Any) -> Verdict:
        law, fit, slope, low, high = fitted(data)
        fit_indices = law["fit_indices"]
        contains = bool(low <= paper_exponent <= high)
        if low_k <= low and high <= high_k:
            outcome: VerdictName = "holds"
        elif high < low_k or low > high_k:
            outcome = "fails"
        else:
            outcome = "inconclusive"
        considered = len(_considered_order(law["x"], law["considered"]))
        return Verdict(
            outcome,
            {
                "k": slope,
                "k_ci": [low, high],
                "paper_k_in_ci": contains,
                "x": [float(law["x"][i]) for i in fit_indices],
                optimum_name: list(fit["estimates"]),
                "n_curves": len(fit_indices),
            },
            join_notes(
                f"{considered - len(fit_indices)} curve(s) with an edge optimum left out of the fit"
                if len(fit_indices) < considered
                else "",
                caveat,
            ),
        )

    fit_statistic = (
        f"OLS slope k of log {optimum_name} (sub-grid vertex) on log {x_name} over the curves the fit considers "
        "(all, or those at or above the experiment's fit_min_x) with an interior optimum, with a 95% expanded "
        "percentile bootstrap CI over seeds (Hesterberg 2015: with 3 seeds it spans every resample)"
    )
    return (
        ClaimSpec(
            id=f"{figure}/{optimum_name.lower().replace('_', '')}-grows",
            statement=f"the best observed {optimum_name} grows with {x_name} (non-decreasing, and larger at the "
            f"largest {x_name} than at the smallest; an optimum at a grid edge does not count)",
            kind="paper",
            provenance=grows,
            test=ClaimTest(
                f"best observed {optimum_name} of the mean score over seeds, per curve in increasing {x_name} "
                "(the points run only; a diverged run scores as the worst)",
                "holds when, over the curves with an interior optimum, it is non-decreasing and larger at the largest "
                "than at the smallest, and the bootstrap CI of the fitted k (exponent claim) lies above 0; fails when "
                "the CI lies below 0; else inconclusive (also with fewer than 2 such curves, fewer than min_seeds "
                "seeds, or a CI without width)",
                {"min_seeds": min_seeds},
            ),
            check=check_grows,
        ),
        ClaimSpec(
            id=f"{figure}/exponent",
            statement=f"{optimum_name} ∝ {x_name}^k with k in [{low_k}, {high_k}]",
            kind="paper",
            provenance=exponent,
            test=ClaimTest(
                fit_statistic,
                "holds when the CI of k lies inside [exponent_min, exponent_max], fails when it lies wholly outside, "
                "else inconclusive (also when fewer than 2 curves have an interior optimum, fewer than min_seeds "
                "seeds, or the CI has no width)",
                {"exponent_min": low_k, "exponent_max": high_k, "min_seeds": min_seeds},
            ),
            check=check_exponent,
        ),
        ClaimSpec(
            id=f"{figure}/exponent-matches-paper",
            statement=f"the paper's exponent k = {paper_exponent:g} lies inside the bootstrap CI of the fitted k, "
            f"and the CI inside [{low_k}, {high_k}]",
            kind="paper",
            provenance=exponent,
            test=ClaimTest(
                fit_statistic,
                "fails when the bootstrap CI excludes paper_exponent; holds when it contains it and lies "
                "inside [exponent_min, exponent_max]; else inconclusive (also when fewer than 2 curves have an "
                "interior optimum, fewer than min_seeds seeds, or the CI has no width)",
                {
                    "paper_exponent": paper_exponent,
                    "exponent_min": low_k,
                    "exponent_max": high_k,
                    "min_seeds": min_seeds,
                },
            ),
            check=check_paper_exponent,
        ),
    )


# --------------------------------------------------------------------------------------------------
# The tuning protocol over per-curve learning-rate grids, with grid extension (Smith, Elsen & De §4)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TuningProtocol:
    """Smith, Elsen & De 2020 §4: ``runs`` runs per grid point, the best ``keep`` kept by each
    objective (name → ``maximize``), mean ± std, the optimum and its one-std band
    (``analysis.tune_best_k_of_n``). With ``extend_grid`` a curve whose optimum or one-std band for any
    objective reaches an edge of its grid gets one more point beyond that edge (×``ratio`` or ÷``ratio``),
    repeated for at most ``max_extensions`` rounds (§4: "we always verify that both the optimal learning
    rate and the error bars are not at the boundary of our learning rate grid")."""

    runs: int
    keep: int
    objectives: Mapping[str, bool]
    extend_grid: bool = False
    ratio: float = 2.0
    max_extensions: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.keep <= self.runs:
            raise ValueError(f"keep must lie in [1, runs={self.runs}], got {self.keep}")
        if not self.objectives:
            raise ValueError("name at least one objective")
        if self.ratio <= 1.0 or self.max_extensions < 0:
            raise ValueError("ratio must be > 1 and max_extensions >= 0")

    def tune(self, values: Sequence[float], scores: Mapping[str, np.ndarray]) -> dict[str, analysis.TunedOptimum]:
        """Per objective the tuned optimum of [n_values, runs] ``scores``."""
        return {
            name: analysis.tune_best_k_of_n(values, scores[name], self.keep, maximize=maximize)
            for name, maximize in self.objectives.items()
        }


def extended_values(
    values: Sequence[float], optima: Mapping[str, analysis.TunedOptimum], ratio: float
) -> tuple[float, ...]:
    """``values`` plus one point beyond every edge that some objective's optimum or one-std band reaches."""
    grid = sorted(values)
    low = any(opt.band_lower <= grid[0] for opt in optima.values())
    high = any(opt.band_upper >= grid[-1] for opt in optima.values())
    return tuple(([grid[0] / ratio] if low else []) + grid + ([grid[-1] * ratio] if high else []))


@dataclass(frozen=True)
class TunedCurves:
    """The outcome of ``tune_curves``: per curve its final grid, the [n_values, runs] scores per
    objective, the tuned optima, and how many points extension added."""

    grids: dict[Any, tuple[float, ...]]
    scores: dict[Any, dict[str, np.ndarray]]
    optima: dict[Any, dict[str, analysis.TunedOptimum]]
    added: dict[Any, int]
    rounds: int


def tune_curves(
    grids: Mapping[Any, Sequence[float]],
    evaluate: Callable[[Mapping[Any, tuple[float, ...]]], Mapping[Any, Mapping[str, np.ndarray]]],
    protocol: TuningProtocol,
) -> TunedCurves:
    """Run the tuning protocol on every curve's grid; ``evaluate(grids)`` returns per curve and
    objective the [n_values, runs] scores (NaN = a failed run) and is called once per round with
    every curve's current grid (so already-trained points come back from a store). With
    ``protocol.extend_grid`` the curves whose optimum or band reaches an edge are extended and
    re-evaluated until none does, or ``max_extensions`` rounds have been added."""
    current = {key: tuple(sorted(values)) for key, values in grids.items()}
    rounds = 0
    while True:
        scores = {
            key: {name: np.asarray(arr, dtype=float) for name, arr in got.items()}
            for key, got in evaluate(current).items()
        }
        optima = {key: protocol.tune(current[key], scores[key]) for key in current}
        if not protocol.extend_grid or rounds >= protocol.max_extensions:
            break
        grown = {key: extended_values(current[key], optima[key], protocol.ratio) for key in current}
        if grown == current:
            break
        current, rounds = grown, rounds + 1
    added = {key: len(current[key]) - len(tuple(grids[key])) for key in current}
    return TunedCurves(current, scores, optima, added, rounds)
