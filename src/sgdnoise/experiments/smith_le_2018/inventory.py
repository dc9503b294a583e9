"""Every figure of Smith & Le (ICLR 2018, and its workshop version) and the empirical claims no experiment checks.

ICLR 2018 (000_*.txt): Fig. 1–2 (``smith-le-evidence``), Fig. 3 (``smith-le-gap``), Fig. 4 (``smith-le-batch``),
Fig. 5–7 (``smith-le-scaling-lr``, ``-scaling-n``, ``-scaling-momentum``), Fig. 8 (``smith-le-l2``), Fig. 9
(``smith-le-gradient-noise``), App. A (``smith-le-langevin``) and App. E (``smith-le-large-batch``) each have
``paper`` claims; what they leave out is listed below with the reason. The workshop version (001_*.txt) has
Fig. 1–2 on its synthetic 200-D task (``smith-le-evidence``, dataset ``synthetic``) and points to the ICLR
paper for every SGD result.
"""

from __future__ import annotations

from sgdnoise.experiments.claims import SMITH_LE_2018, Inventory, NotChecked

_NOT_CHECKED_ICLR = (
    NotChecked(
        "fig1",
        "random labels: no significant improvement in model performance as the regularization coefficient "
        "increases; for both label sets the mean margin drops significantly as λ falls",
        SMITH_LE_2018.cite(
            "§3, Fig. 1",
            "No significant improvement in model performance is observed as the regularization coefficient increases. "
            "[...] For both random and informative labels, the margin drops significantly as we reduce the "
            "regularization coefficient.",
        ),
        "'significant' has no criterion in the paper; the curves are drawn in fig1 but only the weak-λ ends are "
        "checked (memorisation, generalisation, margin ratio)",
    ),
    NotChecked(
        "fig3",
        "small batch training takes longer to converge than full batch training",
        SMITH_LE_2018.cite("§4, Fig. 3a", "small batch training takes longer to converge"),
        "the paper gives no convergence criterion; the training curves are drawn in fig3 but not scored",
    ),
    NotChecked(
        "fig6",
        "B_opt ∝ N holds once N ≳ 20000 (Fig. 6b)",
        SMITH_LE_2018.cite(
            "§5, Fig. 6b",
            "The best observed batch size is proportional to the size of the training set once N ≳ 20000.",
            "N ≳ 20000",
        ),
        "checked at paper scale only (N up to 60000); the quick scale tests the trend for N from 4000 to 16000, "
        "below the paper's threshold",
    ),
    NotChecked(
        "fig8",
        "with L2, full batch training takes longer to converge than small batch training",
        SMITH_LE_2018.cite(
            "App. B",
            "To our surprise, regularized full batch training took longer to converge than small batch training.",
        ),
        "the paper gives no convergence criterion; the curves are drawn in fig8 but not scored",
    ),
    NotChecked(
        "sec4",
        "no generalization gap is observed in linear models",
        SMITH_LE_2018.cite(
            "§4",
            "We were unable to observe a generalization gap in linear models (since linear models are convex there "
            "are no sharp minima to avoid).",
        ),
        "a negative result on a model family the paper does not specify; no experiment here trains linear models "
        "with SGD over batch sizes",
    ),
    NotChecked(
        "appE",
        "the App. E procedure reduces the cost of tuning hyper-parameters",
        SMITH_LE_2018.cite(
            "App. E",
            "We believe that this simple procedure will [...] reduce the cost of tuning hyper-parameters",
        ),
        "the paper names no baseline tuning procedure whose cost this one would be compared with",
    ),
)

INVENTORIES = (
    Inventory(
        paper="smith-le-2018",
        figures=("fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8", "fig9", "sec4", "appA", "appE"),
        not_checked=_NOT_CHECKED_ICLR,
    ),
    Inventory(paper="smith-le-2017-workshop", figures=("fig1", "fig2")),
)
