"""The claim inventory of Smith, Elsen & De 2020: every figure and table of the main text (Fig. 1–3, Table 1)
is checked by the four ``sed-*`` experiments; the appendices the text points to (B–E) and the empirical
lines no experiment checks are listed with the paper's line, its number and the reason. The paper text
held here (``/work/shared/papers/003_*.txt``) is the main text only: the appendices' figures are known
from the main text's references to them."""

from __future__ import annotations

import functools

from sgdnoise.experiments.claims import Inventory, NotChecked

PAPER = "smith-elsen-de-2020"
_NO_APPENDIX = (
    "the appendix is not in the paper text held here (main text only), so its figures and numbers are unknown"
)


_unchecked = functools.partial(NotChecked.citing, PAPER)


INVENTORIES = (
    Inventory(
        paper=PAPER,
        figures=("fig1", "table1", "fig2", "fig3", "appB", "appC", "appD", "appE"),
        not_checked=(
            _unchecked(
                "table1",
                "§6",
                "For completeness, we have verified that batch size 16384 does not achieve higher test accuracies "
                "with smaller step budgets.",
                "at B = 16384 a smaller step budget than 9765 updates does not give a higher test accuracy",
                "the paper gives neither the smaller budgets nor their accuracies; sed-step-budget runs one budget",
            ),
            _unchecked(
                "table1",
                "§6, Table 1",
                "Optimal effective learning rate: 2^2 (2^1 to 2^2) at B = 256 … 2^5 (2^0 to 2^5) at B = 32768",
                "the optimal effective learning rate per batch size under a constant step budget",
                "the paper states no trend for this column (it rises, drops to 2^2 at B = 8192, rises again); "
                "sed-step-budget records and draws it, no claim is made on it",
                "2^2, 2^2, 2^3, 2^3, 2^4, 2^2, 2^5, 2^5 at B = 256 … 32768",
            ),
            _unchecked(
                "fig3",
                "§7.1",
                "We note that the error bars on the final learning rate are much larger than those on the initial "
                "learning rate",
                "the one-std band of the optimal ε_f is much wider than that of the optimal ε_0",
                "the ε_f grid is spaced 4× against ε_0's 2× at both scales, so band widths in grid steps are not "
                "comparable; sed-initial-final-lr records both bands",
            ),
            _unchecked(
                "appB",
                "§4; App. B.1",
                "We illustrate this schedule in appendix B.1, and we found that it reliably meets or exceeds the "
                "performance of the schedules used by the authors of the original papers.",
                "the step-decay schedule meets or exceeds the original papers' schedules",
                "the comparison with other schedules is in the appendix; " + _NO_APPENDIX + ". The schedule itself "
                "is implemented and tested (engine.StepDecay)",
            ),
            _unchecked(
                "appC",
                "§5; App. C.1–C.3",
                "We therefore repeat this experiment without normalization in appendix C.2. … We provide the full "
                "results of a learning rate sweep at two batch sizes in appendix C.1, as well as similar experiments "
                "for a range of models in appendix C.3.",
                "the two regimes under a constant epoch budget without normalisation (C.2), full sweeps at two batch "
                "sizes (C.1), and for ResNet-50 on ImageNet, LSTMs and autoencoders (C.3; one model without linear "
                "scaling)",
                _NO_APPENDIX + "; C.3 needs ImageNet, an LSTM language model and an autoencoder (GPU-weeks)",
            ),
            _unchecked(
                "appD",
                "§6; App. D",
                "In appendix D, we also observed a drop in the test accuracy for very large batch sizes (under "
                "constant step budgets) when training a 16-4 Wide-ResNet without batch normalization on CIFAR-10, a "
                "28-10 Wide-ResNet with or without batch normalization on CIFAR-100, as well as the autoencoder and "
                "LSTM tasks.",
                "under a constant step budget the test accuracy drops at very large batch sizes for four more models",
                _NO_APPENDIX + "; needs CIFAR-100 with a 28-10 Wide-ResNet, an autoencoder and an LSTM",
            ),
            _unchecked(
                "appE",
                "§7; App. E",
                "We provide additional experimental results on other architectures in appendix E.",
                "the test-optimal learning rate stays while the loss-optimal one falls with the epoch budget, for "
                "other architectures",
                _NO_APPENDIX,
            ),
        ),
    ),
)
