"""The claim inventory of Jastrzębski et al. 2018: every figure and table, and the empirical claims no
experiment here checks, each with the paper's line, its number and the reason."""

from __future__ import annotations

import functools

from sgdnoise.experiments.claims import Inventory, NotChecked

PAPER = "jastrzebski-2018"


_unchecked = functools.partial(NotChecked.citing, PAPER)


INVENTORIES = (
    Inventory(
        paper=PAPER,
        figures=(*(f"fig{i}" for i in range(1, 17)), "table1"),
        repeats={
            "fig10": ("fig2", "Fig. 2's interpolations for other initialisations: fig2/* pool every seed"),
            "fig11": ("fig2", "Fig. 2's interpolations for other initialisations: fig2/* pool every seed"),
            "fig12": ("fig2", "Fig. 2's interpolations for other initialisations: fig2/* pool every seed"),
        },
        not_checked=(
            _unchecked(
                "fig7",
                "§4.4; appendix, Fig. 7",
                "multiplying the ratio by a factor up to 5 results in similar performances. However, the "
                "performance degrades for factor superior to 5.",
                "ResNet-56 on CIFAR-10: scaling η and S together keeps validation accuracy up to β = 5 and not beyond",
                "ResNet-56 on all of CIFAR-10 for several β and seeds is GPU-days; jastrzebski-breaking-point checks "
                "the same protocol (Fig. 6) and runs it with --set model=resnet56 at paper scale, but no claim is "
                "declared for that network",
                "breaking point at β ≈ 5",
            ),
            _unchecked(
                "fig8",
                "App. F.1, Fig. 8",
                "We notice there is a peak validation accuracy at a learning rate to batch-size ratio of around "
                "2×10^{-3}",
                "ResNet-56 on CIFAR-10: validation accuracy peaks at an interior η/S, not at the largest",
                "a grid of ResNet-56 runs on all of CIFAR-10 (GPU-days); the quick and paper scales of "
                "jastrzebski-sharpness run Fig. 1's MLP instead",
                "peak near η/S ≈ 2·10⁻³",
            ),
            _unchecked(
                "fig9",
                "App. F.1, Fig. 9",
                "We again observe a correlation of Hessian norm with learning rate to batch-size ratio (though "
                "weaker), and similarly between validation performance and learning rate to batch-size ratio.",
                "a 20-layer ReLU MLP without batch norm on Fashion-MNIST: ‖H‖_F falls and validation accuracy rises "
                "with η/S (good and bad initialisation)",
                "the models here build the batch-normalised MLP of Fig. 1; a 20-layer MLP without batch norm and "
                "the paper's 'bad initialisation' are not implemented",
            ),
            _unchecked(
                "fig13",
                "§4.2; App. F.2, Fig. 13",
                "each run with smaller batch-size has higher variance in per-iteration loss than it's same-noise pair",
                "of two runs with equal η/S, the one with the smaller batch has the larger per-iteration loss variance",
                "the engine records losses at probe points, not every iteration's minibatch loss; Fig. 13's "
                "epoch-averaged curves are checked by fig4/cyclic-curves-track",
            ),
            _unchecked(
                "fig14",
                "§4.3; App. F.3, Fig. 14",
                "We also reproduce the observation reported by (Arpit et al., 2017): that memorization roughly "
                "starts after reaching maximum generalization.",
                "training accuracy on the randomly labelled examples starts to rise only after validation accuracy "
                "has peaked",
                "jastrzebski-memorization records accuracy on the whole (partly random) training set, not on its "
                "randomly labelled part alone, so the onset of memorisation is not measured",
            ),
            _unchecked(
                "fig15",
                "App. F.3, Fig. 15",
                "show correlation between batch size and learning rate ratio and norm of Hessian",
                "in the memorisation runs, ‖H‖_F at the best-validation point falls as η/S grows (momentum 0 and 0.9)",
                "jastrzebski-memorization does not keep the best-validation weights nor measure ‖H‖_F; "
                "jastrzebski-sharpness checks the same correlation on clean labels (fig1/hessian-norm-falls-end)",
            ),
        ),
    ),
)
