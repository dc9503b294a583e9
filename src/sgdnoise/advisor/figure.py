"""The advice drawn: predicted ε_eff,opt(B), its interval, the regimes, B* and the recommendation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sgdnoise.advisor.advice import Advice


def plot_advice(advice: Advice, path: Any, truth: Mapping[int, float] | None = None) -> Any:
    """ε_eff,opt(B) predicted (line, interval band, regimes shaded, B* marked, the recommendation starred),
    with ``truth`` (B → swept ε_eff,opt) drawn over it when given."""
    import matplotlib.pyplot as plt

    from sgdnoise.plots import save

    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    draw_prediction(ax, advice, truth)
    return save(fig, path)


def draw_prediction(ax: Any, advice: Advice, truth: Mapping[int, float] | None = None) -> None:
    """The prediction on ``ax`` (see :func:`plot_advice`)."""
    p = advice.prediction
    b = [x.batch_size for x in p.batches]
    ax.fill_between(
        b, [x.lr_eff_low for x in p.batches], [x.lr_eff_high for x in p.batches], alpha=0.2, label="interval"
    )
    ax.plot(b, [x.lr_eff for x in p.batches], "o-", label="predicted ε_eff,opt = min(T·B, ε_max)")
    ax.axvspan(p.critical_batch_size, max(b[-1], p.critical_batch_size) * 1.5, color="grey", alpha=0.1)
    ax.axvline(p.critical_batch_size, color="grey", ls="--", label=f"B* = {p.critical_batch_size:.3g}")
    ax.plot([advice.batch_size], [advice.lr_eff], "k*", ms=14, label="recommended")
    if truth:
        tb = sorted(truth)
        ax.plot(tb, [truth[x] for x in tb], "s", color="C3", label="sweep's ε_eff,opt")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("batch size B")
    ax.set_ylabel("effective learning rate ε/(1−m)")
    ax.legend(fontsize=7)
