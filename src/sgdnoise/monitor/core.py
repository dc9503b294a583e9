"""The noise and curvature monitor for a plain PyTorch training loop.

Every ``every`` steps ``NoiseMonitor.step(x, y)`` records, on the current minibatch and at the current
parameters, the gradient noise scale B_simple = tr Σ/|G|² (McCandlish et al. 2018 eq. 2.8; optimizer-free)
from the unbiased one-minibatch estimators of ``minibatch_gradient_noise``, with the batch size B. For
sequence models (integer targets with a time axis) B and B_simple are also counted in tokens, as McCandlish
et al. count them: B·T and B_simple·T for T tokens per example (each batch's own T, its target entries ≥ 0:
PyTorch's and Hugging Face's ignore index −100 marks padding; B_simple's T is the mean over its window).

* SGD with momentum m (``torch.optim.SGD`` or no optimizer): the temperature T = ε/(B(1 − m)) (Smith, Elsen &
  De 2020 §3.3), the noise scale g = ε(N/B − 1)/(1 − m) (Smith & Le 2018 eq. 13, App. D) and, every
  ``curvature_every`` measurements, λ_max of the Hessian on a held batch (Lanczos) with ε/ε_crit and
  ε_eff/ε_crit, ε_crit = 2/λ_max (Smith, Elsen & De 2020 §3.1), and λ_max against the sharpness at which
  SGD at this ε turns unstable on a quadratic: heavy ball's 2(1 + m)/ε (``theory.heavy_ball_stability_learning_rate``;
  2/ε at m = 0, the edge of stability of Cohen et al. 2021) or, with ``nesterov=True``, Nesterov's
  2(1 + m)/((1 + 2m)ε) (``theory.nesterov_stability_learning_rate``). Nesterov's step under a constant gradient
  also tends to ε/(1 − m)·g, so T and g are the same. H is over the parameters the optimizer moves; parameter
  groups at different ε_i make it λ_max(DH), D = diag(ε_i/ε of the first group) (``step_ratios``). Weight decay
  λ that the optimizer adds to the gradient (SGD's or Adam's ``weight_decay``) is part of H: H + λI per group;
  AdamW's decoupled decay is not.
* Adam/AdamW with (β₁, β₂, ε_adam): no temperature, g or ε/ε_crit (SGD quantities; the reason is recorded).
  Instead the preconditioned sharpness λ_max(P⁻¹H), P = diag(√v̂ + ε_adam) with v̂ the optimizer's bias-
  corrected second moment, against Adam's stability threshold (2 + 2β₁)/((1 − β₁)η) (Cohen et al. 2022).
  A trainable parameter the optimizer has not stepped (never given a gradient, like an unused pooler, or not held
  by the optimizer) has no v̂ and does not move, so H is that of the loss in the stepped parameters, the others
  held fixed.

Smoothing: B_simple is the ratio of the window means of the last ``window`` per-measurement estimates of tr Σ
and |G|² (the ratio of means, not the mean of ratios: McCandlish et al. App. A.1); its standard error is the
delta-method error of that ratio from the window's sample variances and covariance, treating the window's
estimates (different minibatches) as independent and the parameters as nearly constant over the window.
"""

import contextlib
import csv
import json
import math
import warnings
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sgdnoise import theory
from sgdnoise.instruments import hessian_eigenvalues, minibatch_gradient_noise
from sgdnoise.instruments._batches import check_model_and_loss, forked_random_state, uncompiled
from sgdnoise.instruments._mean_loss import NonFiniteLossError
from sgdnoise.monitor.optimizers import (
    adam_preconditioner,
    gradient_weight_decay,
    optimizer_kind,
    sgd_dampening,
    step_ratios,
    trainable_only,
    warn_if_groups_differ,
)
from sgdnoise.results import dumps, nan_if_none
from sgdnoise.validation import momentum_coefficient, positive_int, positive_number

LossFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class MonitorRecord:
    """One measurement (None: not measured at this step, or undefined). See the module docstring.

    ``momentum`` is SGD's m, or β₁ for Adam; ``dampening`` SGD's d (every SGD quantity uses ε(1 − d) for ε);
    ``nesterov`` whether SGD uses Nesterov momentum. ``max_eigenvalue`` is λ_max(H) for SGD and λ_max(P⁻¹H) for
    Adam (``preconditioned``); ``curvature_ratio`` is λ_max over ``stability_threshold``: 2(1 + m)/ε for SGD,
    2(1 + m)/((1 + 2m)ε) with ``nesterov`` (so the ratio is ε over its largest stable ε, ε_eff/ε_crit at m = 0),
    Adam's (2 + 2β₁)/((1 − β₁)η).
    ``absent`` says why SGD's quantities are not reported.
    """

    step: int
    optimizer: str
    lr: float
    batch_size: int
    tokens_per_example: float
    momentum: float
    temperature: float | None
    noise_scale: float | None
    grad_sq_norm: float
    covariance_trace: float
    noise_scale_simple: float | None
    noise_scale_simple_stderr: float | None
    noise_scale_simple_tokens: float | None
    window: int
    max_eigenvalue: float | None
    max_eigenvalue_step: int | None
    preconditioned: bool
    lr_over_critical: float | None
    effective_lr_over_critical: float | None
    stability_threshold: float | None
    curvature_ratio: float | None
    absent: str | None
    regime: str
    verdict: str
    dampening: float = 0.0
    nesterov: bool = False


_ADAM_ABSENT = (
    "temperature, g and ε/ε_crit are SGD quantities: Adam's step is preconditioned by √v̂ + ε, so its stability "
    "is λ_max(P⁻¹H) against (2 + 2β₁)/((1 − β₁)η) (Cohen et al. 2022)"
)


def _ratio_with_stderr(numerators: list[float], denominators: list[float]) -> tuple[float | None, float | None]:
    """mean(num)/mean(den) and its delta-method standard error (None when undefined)."""
    w = len(numerators)
    num, den = sum(numerators) / w, sum(denominators) / w
    if den <= 0:
        return None, None
    ratio = num / den
    if w < 2:
        return ratio, None
    var_n = sum((a - num) ** 2 for a in numerators) / (w - 1)
    var_d = sum((b - den) ** 2 for b in denominators) / (w - 1)
    cov = sum((a - num) * (b - den) for a, b in zip(numerators, denominators, strict=True)) / (w - 1)
    var_ratio = (var_n - 2 * ratio * cov + ratio**2 * var_d) / (den**2 * w)
    return ratio, math.sqrt(max(var_ratio, 0.0))


def _csv_columns() -> list[str]:
    return [field.name for field in fields(MonitorRecord)]


def _check_csv_header(path: Path) -> None:
    """A CSV log to append to must have this version's columns (an older one's rows would not line up)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open(newline="") as f:
        header = next(csv.reader(f), [])
    if header != _csv_columns():
        missing = [c for c in _csv_columns() if c not in header]
        extra = [c for c in header if c not in _csv_columns()]
        raise ValueError(
            f"log_path {str(path)!r} holds a log with other columns (missing {missing or 'none'}, extra "
            f"{extra or 'none'}, or in another order): rows appended to it would not line up; give a new log_path"
        )


class NoiseMonitor:
    """Noise and curvature monitor: call ``step(x, y)`` once per optimiser step, after ``optimizer.step()``.

    ``model``/``loss_fn``: the trained model and its MEAN-reduced loss. ``train_size`` N (None: no noise scale
    g). ``optimizer``: read lr and momentum (β₁ for Adam) from its first parameter group, unless ``step`` is
    given them (m < 1); λ_max is taken over the parameters it moves (held in a group with ε > 0), each group's
    block scaled by its ε over the first group's (``step_ratios``). torch.optim.SGD's dampening d: its velocity
    accumulates (1 − d)·g (after the first step), which is heavy ball at ε(1 − d), so T, g and the curvature ratios
    use ε(1 − d); its ``nesterov`` switches the stability threshold to Nesterov's. torch.optim.Adam and AdamW
    switch the curvature reading to the preconditioned one (module docstring), any other optimizer is a TypeError.
    ``tokens_per_example``: T for counting batches in tokens (None: per batch, the mean count of an example's
    target entries ≥ 0 when targets are integers with a time axis, padding marked −100; else 1). ``held_batch``:
    (x, y) for λ_max (default: a copy of the first minibatch seen). ``log_path``: ``.jsonl`` or ``.csv``, one row per
    measurement, appended. Regime thresholds: noise-dominated if B ≤ ``noise_fraction``·B_simple and
    ``curvature_ratio`` < ``curvature_fraction``; curvature-dominated if ``curvature_ratio`` ≥
    ``curvature_fraction``.
    ``train_mode``: the mode to measure in (None: as the model is; batch norm needs False).
    Measurements never change the model, its gradients, or torch's random-number state.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        *,
        train_size: int | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        tokens_per_example: int | None = None,
        every: int = 50,
        curvature_every: int = 40,
        window: int = 20,
        held_batch: tuple[Tensor, Tensor] | None = None,
        curvature_tol: float = 1e-2,
        log_path: str | Path | None = None,
        noise_fraction: float = 0.1,
        curvature_fraction: float = 0.5,
        train_mode: bool | None = None,
    ):
        check_model_and_loss(model, loss_fn)
        every = positive_int("every", every)
        curvature_every = positive_int("curvature_every", curvature_every)
        window = positive_int("window", window)
        train_size = positive_int("train_size", train_size, minimum=2, optional=True)
        if log_path is not None and Path(log_path).suffix not in (".jsonl", ".csv"):
            raise ValueError(f"log_path must end in .jsonl or .csv, got {str(log_path)!r}")
        tokens_per_example = positive_int("tokens_per_example", tokens_per_example, optional=True)
        curvature_tol = positive_number("curvature_tol", curvature_tol)
        if train_mode is not None and not isinstance(train_mode, bool):
            raise TypeError(f"train_mode must be True, False or None, got {train_mode!r}")
        self.kind = optimizer_kind(optimizer)
        held = {id(p) for group in optimizer.param_groups for p in group["params"]} if optimizer is not None else None
        if held is not None and not held & {id(p) for p in model.parameters()}:
            raise ValueError("the optimizer holds none of the model's parameters: pass the one that trains this model")
        warn_if_groups_differ(optimizer)
        # a torch.compile'd model is measured through the module it compiles (same parameters, eager passes)
        self.model, self.loss_fn, self.train_size, self.optimizer = uncompiled(model), loss_fn, train_size, optimizer
        self.tokens_per_example = tokens_per_example
        self.every, self.curvature_every, self.window = every, curvature_every, window
        self.curvature_tol, self.train_mode = curvature_tol, train_mode
        self.noise_fraction = positive_number("noise_fraction", noise_fraction)
        self.curvature_fraction = positive_number("curvature_fraction", curvature_fraction)
        self.log_path = Path(log_path) if log_path is not None else None
        if self.log_path is not None and self.log_path.suffix == ".csv":
            _check_csv_header(self.log_path)
        self.held_batch = held_batch
        self.steps = 0
        self.records: list[MonitorRecord] = []
        self._skipped: set[str] = set()  # the reasons of skipped measurements already warned about
        self._grad_sq: deque[float] = deque(maxlen=window)
        self._cov_trace: deque[float] = deque(maxlen=window)
        self._tokens_seen: deque[float] = deque(maxlen=window)  # T of the batches behind B_simple's estimates
        self._max_eigenvalue: tuple[float, int, bool] | None = None  # (λ_max, step, of P⁻¹H)

    # ------------------------------------------------------------------------------------------------------
    def _hyperparameters(
        self, lr: float | None, momentum: float | None, nesterov: bool | None
    ) -> tuple[float, float, float, bool]:
        """(ε, m or β₁, SGD's dampening d, whether SGD's momentum is Nesterov's), checked."""
        group = self.optimizer.param_groups[0] if self.optimizer is not None else {}
        lr = group.get("lr") if lr is None else lr
        if lr is None:
            raise ValueError("the monitor needs the learning rate: pass optimizer= to NoiseMonitor or lr= to step()")
        if momentum is None:
            momentum = group["betas"][0] if self.kind != "SGD" else group.get("momentum", 0.0)
        if not (math.isfinite(float(lr)) and float(lr) >= 0):
            raise ValueError(f"the learning rate must be a finite number >= 0, got {lr!r}")
        if self.kind == "SGD":
            why = "T = ε/(B(1−m)) and g = ε(N/B−1)/(1−m) need m < 1"
            momentum = momentum_coefficient("momentum", momentum, why=why)
            dampening = momentum_coefficient("dampening", group.get("dampening", 0.0), why="the step is ε(1−d)")
            dampening = sgd_dampening(dampening, momentum)
            if nesterov is None:
                nesterov = group.get("nesterov", False)
            elif not isinstance(nesterov, bool):
                raise ValueError(f"nesterov must be True or False, got {nesterov!r}")
            return float(lr), momentum, dampening, bool(nesterov)
        if nesterov is not None:
            raise ValueError(f"nesterov= is for SGD, and this monitor follows its {self.kind} optimizer")
        why = "Adam's stability threshold (2 + 2β₁)/((1 − β₁)η) needs β₁ < 1"
        return float(lr), momentum_coefficient("Adam's β₁", momentum, why=why), 0.0, False

    def _tokens(self, y: Tensor) -> float:
        """T of this batch: the given ``tokens_per_example``, else its targets' entries ≥ 0 per example (integer
        targets with a time axis; padding is −100), else 1."""
        if self.tokens_per_example is not None:
            return float(self.tokens_per_example)
        if y.is_floating_point() or y.is_complex() or y.dim() < 2 or y.dtype == torch.bool:
            return 1.0
        return float((y >= 0).sum()) / y.shape[0]

    def _window_tokens(self) -> float:
        """The mean T over the batches behind B_simple's estimates (B_simple in tokens is B_simple times it)."""
        return sum(self._tokens_seen) / len(self._tokens_seen)

    def _measure_curvature(self) -> None:
        """λ_max(H) (SGD) or λ_max(P⁻¹H) over the parameters Adam has stepped (Adam) on the held batch, stored
        with the step; H includes the weight decay the optimizer adds to the gradient (H + λI)."""
        preconditioner = None
        coordinates = contextlib.nullcontext()
        moved: Collection[str] = ()  # the Hessian's coordinates: the parameters the optimizer moves
        if self.kind != "SGD":
            adam = adam_preconditioner(self.model, self.optimizer)
            if adam is None:  # before Adam's first step there is no P
                return
            ratios = step_ratios(self.model, self.optimizer)
            preconditioner = {name: diagonal / ratios[name] for name, diagonal in adam.items() if name in ratios}
            if not preconditioner:  # no stepped parameter is held by a group at η > 0 (nothing moves)
                return
            coordinates = trainable_only(self.model, preconditioner)
            moved = preconditioner
        elif self.optimizer is not None:
            ratios = step_ratios(self.model, self.optimizer)
            if not ratios:  # the optimizer holds no trainable parameter
                return
            coordinates = trainable_only(self.model, ratios)
            moved = ratios
            if any(ratio != 1.0 for ratio in ratios.values()):
                named = dict(self.model.named_parameters())
                preconditioner = {name: torch.full_like(named[name], 1.0 / r) for name, r in ratios.items()}
        # the decay λ the gradient carries, by moved parameter: H + λI
        decays = gradient_weight_decay(self.model, self.optimizer) if self.optimizer is not None else {}
        weight_decay = {name: decay for name, decay in decays.items() if name in moved}
        with coordinates:
            result = hessian_eigenvalues(
                self.model,
                self.loss_fn,
                self.held_batch,
                k=1,
                tol=self.curvature_tol,
                train_mode=self.train_mode,
                preconditioner=preconditioner,
                l2=weight_decay or None,
            )
        self._max_eigenvalue = (float(result.eigenvalues[0]), self.steps, preconditioner is not None)

    def step(
        self,
        x: Tensor,
        y: Tensor,
        *,
        lr: float | None = None,
        momentum: float | None = None,
        nesterov: bool | None = None,
        batch_size: int | None = None,
    ) -> MonitorRecord | None:
        """Count one optimiser step; every ``every`` steps measure on minibatch (x, y) and return the record.
        ``lr``, ``momentum`` and ``nesterov`` (SGD) override the optimizer's first group (without an optimizer:
        heavy ball unless ``nesterov=True``). ``batch_size``: B, the examples the step's gradient averaged over,
        when it is not x's size: k·r·len(x) with gradient accumulation over k micro-batches on each of r
        data-parallel ranks (T, g and B against B_simple use it; B_simple itself does not depend on B).
        Where the loss at the current parameters is not finite (the run diverged), or the minibatch holds one
        example (an epoch's last, short batch) or none, nothing is measured: it returns None and warns once (a
        ``RuntimeWarning``), so the training loop goes on."""
        if not isinstance(x, Tensor) or not isinstance(y, Tensor):
            raise TypeError(f"x and y must be tensors, got {type(x).__name__} and {type(y).__name__}")
        self.steps += 1
        if self.held_batch is None and x.shape[0] > 0:
            self.held_batch = (x.detach().clone(), y.detach().clone())
        if (self.steps - 1) % self.every:
            return None
        lr, momentum, dampening, nesterov = self._hyperparameters(lr, momentum, nesterov)
        if x.shape[0] == 0:
            self._skip("no examples", "an empty minibatch cannot estimate the gradient covariance")
            return None
        if x.shape[0] == 1:  # tr Σ needs two examples' gradients
            self._skip(
                "one example",
                "a minibatch of one example cannot estimate the gradient covariance (an epoch's last batch? "
                "drop_last=True avoids it)",
            )
            return None
        batch = int(x.shape[0]) if batch_size is None else positive_int("batch_size", batch_size, minimum=2)
        if self.train_size is not None and batch > self.train_size:
            raise ValueError(f"the batch size B={batch} exceeds the training-set size N={self.train_size}")
        try:
            with forked_random_state(x.device):
                estimate = minibatch_gradient_noise(
                    self.model, self.loss_fn, x, y, train_size=self.train_size, train_mode=self.train_mode
                )
                if len(self.records) % self.curvature_every == 0:
                    self._measure_curvature()
        except NonFiniteLossError as error:  # the run diverged: say so, and leave the training loop to the user
            self._skip("diverged", str(error))
            return None
        self._grad_sq.append(estimate.mean_grad_sq_norm)
        self._cov_trace.append(estimate.covariance_trace)
        self._tokens_seen.append(self._tokens(y))
        record = self._record(
            lr,
            dampening,
            nesterov,
            batch,
            self._tokens_seen[-1],
            momentum,
            estimate.mean_grad_sq_norm,
            estimate.covariance_trace,
        )
        self.records.append(record)
        if self.log_path is not None:
            self._append_log(record)
        return record

    def _skip(self, reason: str, message: str) -> None:
        """Warn, once per ``reason``, that a step measured nothing."""
        if reason not in self._skipped:
            warnings.warn(f"step {self.steps}: nothing measured: {message}", RuntimeWarning, stacklevel=3)
            self._skipped.add(reason)

    def _record(
        self,
        lr: float,
        dampening: float,
        nesterov: bool,
        batch: int,
        tokens: float,
        momentum: float,
        grad_sq: float,
        cov_trace: float,
    ) -> MonitorRecord:
        b_simple, b_simple_err = _ratio_with_stderr(list(self._cov_trace), list(self._grad_sq))
        lam, lam_step, preconditioned = (
            self._max_eigenvalue if self._max_eigenvalue is not None else (None, None, False)
        )
        sgd = self.kind == "SGD"
        ratio = eff_ratio = threshold = curvature_ratio = None
        # ε = 0 (a warm-up's start, a decay's end) takes no step: every ratio is 0 and no threshold exists
        step_lr = lr * (1.0 - dampening)  # SGD's ε(1 − d)
        if not sgd:
            threshold = float(theory.adam_stability_threshold(lr, momentum)) if lr > 0 else None
            if lam is not None:
                curvature_ratio = lam / threshold if threshold is not None else 0.0
        elif lam is not None and lam > 0:
            crit = float(theory.critical_learning_rate(lam))
            ratio, eff_ratio = step_lr / crit, step_lr / (1 - momentum) / crit
            curvature_ratio = step_lr / float(theory.sgd_stability_learning_rate(lam, momentum, nesterov=nesterov))
            threshold = lam / curvature_ratio if lr > 0 else None  # 2(1 + m)/(ε(1 − d)), 2(1 + m)/((1 + 2m)ε)
        regime, verdict = self._verdict(
            batch,
            tokens,
            b_simple,
            b_simple_err,
            curvature_ratio,
            threshold,
            lam_step,
            nesterov,
            preconditioned,
            self._window_tokens(),
        )
        return MonitorRecord(
            step=self.steps,
            optimizer=self.kind,
            lr=lr,
            batch_size=batch,
            tokens_per_example=tokens,
            momentum=momentum,
            temperature=(
                float(theory.temperature(step_lr, batch, momentum)) if sgd and lr > 0 else (0.0 if sgd else None)
            ),
            noise_scale=(
                (float(theory.noise_scale(step_lr, batch, self.train_size, momentum)) if lr > 0 else 0.0)
                if sgd and self.train_size
                else None
            ),
            grad_sq_norm=grad_sq,
            covariance_trace=cov_trace,
            noise_scale_simple=b_simple,
            noise_scale_simple_stderr=b_simple_err,
            noise_scale_simple_tokens=b_simple * self._window_tokens() if b_simple is not None else None,
            window=len(self._grad_sq),
            max_eigenvalue=lam,
            max_eigenvalue_step=lam_step,
            preconditioned=preconditioned or not sgd,
            lr_over_critical=ratio,
            effective_lr_over_critical=eff_ratio,
            stability_threshold=threshold,
            curvature_ratio=curvature_ratio,
            absent=None if sgd else _ADAM_ABSENT,
            regime=regime,
            verdict=verdict,
            dampening=dampening,
            nesterov=nesterov,
        )

    def _verdict(
        self,
        batch: int,
        tokens: float,
        b_simple: float | None,
        err: float | None,
        curvature_ratio: float | None,
        threshold: float | None,
        lam_step: int | None,
        nesterov: bool,
        preconditioned: bool,
        window_tokens: float | None = None,
    ) -> tuple[str, str]:
        """Regime of Smith, Elsen & De 2020 §3.2–3.3 (for Adam: Cohen et al. 2022's edge of stability) and what
        the call rests on; ``window_tokens``: the mean T behind B_simple (default: this batch's ``tokens``)."""
        b_text = "B_simple undefined (|G|² estimate ≤ 0)"
        if b_simple is not None:
            window = tokens if window_tokens is None else window_tokens
            unit = " tokens" if max(tokens, window) > 1 else ""
            b_text = f"B={batch * tokens:g}{unit} vs B_simple={b_simple * window:.3g}{unit}"
            b_text += f"±{err * window:.2g}" if err is not None else ""
            b_text += f" (mean of {len(self._grad_sq)} minibatch estimates)"
        c_text = "no λ_max yet" if self.kind == "SGD" else "no λ_max(P⁻¹H) yet (needs Adam's state)"
        sharpness = "λ_max(DH) (D: each group's ε over the first's)" if preconditioned else "λ_max"
        sgd_method, sgd_threshold = ("Nesterov", "2(1+m)/((1+2m)ε)") if nesterov else ("heavy ball", "2(1+m)/ε")
        if curvature_ratio is not None and threshold is None:
            c_text = f"ε = 0: no step, no curvature constraint (λ_max measured at step {lam_step})"
        elif curvature_ratio is not None and self.kind != "SGD":
            c_text = (
                f"λ_max(P⁻¹H)/threshold={curvature_ratio:.3g} (Adam's threshold (2+2β₁)/((1−β₁)η)={threshold:.3g}; "
                f"held batch at step {lam_step})"
            )
        elif curvature_ratio is not None:
            c_text = (
                f"{sharpness}/threshold={curvature_ratio:.3g} "
                f"({sgd_method}'s threshold {sgd_threshold}={threshold:.3g}: "
                f"ε is {curvature_ratio:.3g}× its largest stable ε; λ_max on the held batch at step {lam_step})"
            )
        elif lam_step is not None:
            c_text = f"λ_max ≤ 0 at step {lam_step}: no curvature constraint"
        basis = f"{b_text}; {c_text}"
        if curvature_ratio is not None and curvature_ratio >= self.curvature_fraction:
            where = (
                f"ε near {sgd_method}'s stability bound" if self.kind == "SGD" else "Adam near its edge of stability"
            )
            return "curvature-dominated", f"curvature-dominated: {where}, larger batches will not help ({basis})"
        if b_simple is not None and batch <= self.noise_fraction * b_simple:
            if err is None or batch > self.noise_fraction * (b_simple - err):  # one estimate, or not within one s.e.
                why = "a single estimate" if err is None else "one s.e. down it is not ≫ B"
                advice = f"ε ∝ B scaling is indicated, but B_simple is not yet resolved ({why})"
            else:
                advice = "ε ∝ B scaling is safe"
            return "noise-dominated", f"noise-dominated: B well below B_simple, {advice} ({basis})"
        return "intermediate", f"neither regime clearly ({basis})"

    # ------------------------------------------------------------------------------------------------------
    def _append_log(self, record: MonitorRecord) -> None:
        assert self.log_path is not None
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.log_path.suffix == ".jsonl":
            with self.log_path.open("a") as f:
                f.write(dumps(asdict(record)) + "\n")
            return
        new = not self.log_path.exists() or self.log_path.stat().st_size == 0
        with self.log_path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=_csv_columns())
            if new:
                writer.writeheader()
            writer.writerow({k: "" if v is None else v for k, v in json.loads(dumps(asdict(record))).items()})

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue after a checkpoint (``torch.save``-able; the log file is appended to)."""
        return {
            "steps": self.steps,
            "records": [asdict(r) for r in self.records],
            "grad_sq": list(self._grad_sq),
            "cov_trace": list(self._cov_trace),
            "tokens": list(self._tokens_seen),
            "max_eigenvalue": self._max_eigenvalue,
            "held_batch": self.held_batch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state["steps"])
        self.records = [MonitorRecord(**r) for r in state["records"]]
        self._grad_sq = deque(state["grad_sq"], maxlen=self.window)
        self._cov_trace = deque(state["cov_trace"], maxlen=self.window)
        window = [r.tokens_per_example for r in self.records][len(self.records) - len(self._grad_sq) :]
        self._tokens_seen = deque(state.get("tokens", window), maxlen=self.window)  # older checkpoints: the records'
        held = state["max_eigenvalue"]
        if held is not None and len(held) == 2:  # a checkpoint from before SGD's per-group ε: P only for Adam
            held = (*held, self.kind != "SGD")
        self._max_eigenvalue = tuple(held) if held is not None else None
        self.held_batch = state["held_batch"]

    def plot(self, path: str | Path) -> Path:
        """Against the step: temperature and noise scale (SGD) or λ_max(P⁻¹H) and Adam's threshold; B_simple
        (±1 s.e.) against B, in tokens for sequence models; λ_max over heavy ball's 2(1 + m)/ε or Nesterov's
        2(1 + m)/((1 + 2m)ε) (SGD, as the last record) or λ_max(P⁻¹H) over Adam's threshold."""
        import matplotlib.pyplot as plt

        from sgdnoise.plots import save

        if not self.records:
            raise ValueError("nothing to plot: no measurement recorded yet")

        def column(name: str) -> list[float]:
            return [nan_if_none(getattr(r, name)) for r in self.records]

        steps = column("step")
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
        if self.kind == "SGD":
            axes[0].plot(steps, column("temperature"), label="temperature ε/(B(1−m))")
            if self.train_size is not None:
                axes[0].plot(steps, column("noise_scale"), label="noise scale ε(N/B−1)/(1−m)")
        else:
            axes[0].plot(steps, column("max_eigenvalue"), "o-", label="λ_max(P⁻¹H), P = diag(√v̂ + ε)")
            axes[0].plot(steps, column("stability_threshold"), "k--", label="Adam's threshold (2+2β₁)/((1−β₁)η)")
        axes[0].set_yscale("log")
        tokens = [r.tokens_per_example for r in self.records]
        unit = " (tokens)" if max(tokens) > 1 else ""
        b = column("noise_scale_simple_tokens")  # B_simple times the mean T of its window
        scale = [t / v if v else math.nan for t, v in zip(b, column("noise_scale_simple"), strict=True)]
        err = [e * f for e, f in zip(column("noise_scale_simple_stderr"), scale, strict=True)]
        axes[1].plot(steps, b, label=f"B_simple = tr Σ/|G|²{unit}")
        axes[1].fill_between(
            steps, [v - e for v, e in zip(b, err, strict=True)], [v + e for v, e in zip(b, err, strict=True)], alpha=0.2
        )
        batch = [r.batch_size * t for r, t in zip(self.records, tokens, strict=True)]
        axes[1].plot(steps, batch, "k--", label=f"batch size B{unit}")
        axes[1].set_yscale("log")
        label = "λ_max(P⁻¹H) / Adam's threshold"
        if self.kind == "SGD":
            last = self.records[-1]
            sharpness = "λ_max(DH)" if last.preconditioned else "λ_max"  # D: each group's ε over the first's
            label = f"{sharpness} / (2(1 + m)/((1 + 2m)ε))" if last.nesterov else f"{sharpness} / (2(1 + m)/ε)"
        axes[2].plot(steps, column("curvature_ratio"), "o-", label=label)
        axes[2].axhline(self.curvature_fraction, color="gray", linestyle=":", label="curvature threshold")
        axes[2].set_yscale("log")
        for ax in axes:
            ax.set_xlabel("step")
            ax.legend(fontsize=8)
        return save(fig, Path(path))
