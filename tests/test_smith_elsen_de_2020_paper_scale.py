"""Every paper-scale spec of the four ``sed-*`` experiments against the paper's set-up. Each row of ``TABLE``
is (experiment, setting, expected value, source): the source quotes the line of Smith, Elsen & De 2020
(``/work/shared/papers/003_*.txt``, line numbers of that file) or, where the paper is silent, begins with
"choice:" and says why."""

import pytest

from sgdnoise.experiments.registry import get_experiment
from sgdnoise.experiments.smith_elsen_de_2020.setup import ARCHITECTURES, train_config

EPOCH, STEP, UNLIMITED, INITIAL_FINAL = (
    "sed-epoch-budget",
    "sed-step-budget",
    "sed-unlimited-budget",
    ("sed-initial-final-lr"),
)
ALL = (EPOCH, STEP, UNLIMITED, INITIAL_FINAL)
PAPER_BUDGETS = (50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0)

PROTOCOL = "L114: 'we train the Wide-ResNet model 15 times … we take the best 12 runs'"
DATA = "L112/L120: 'Wide-ResNets on CIFAR-10'; the full training set and the 10k test set (tuned on the test set, L116)"
AUGMENT = "L114: 'We apply data augmentation including padding, random crops and left-right flips'"
L2 = "L114: 'the L2 regularization coefficient is 5 × 10^-4'"
EXTEND = (
    "L114: 'we always verify that both the optimal learning rate and the error bars are not at the boundary of our "
    "learning rate grid' — extension by one point per round, at most 3 rounds (choice: bounds the cost)"
)

TABLE = [
    # Fig. 1: constant epoch budget (§5)
    (EPOCH, "architectures", ("wrn-16-4",), "L110: 'A 16-4 Wide-ResNet, trained with ghost batch normalization'"),
    (EPOCH, "dataset", "cifar10", DATA),
    (EPOCH, "n_train", None, DATA),
    (EPOCH, "n_test", None, DATA),
    (EPOCH, "epoch_budgets", (200,), "L110/L120: 'on CIFAR-10 for 200 epochs'"),
    (EPOCH, "momenta", (0.0, 0.9), "L110: 'SGD with and without Momentum'; L114: 'The momentum coefficient m = 0.9'"),
    (
        EPOCH,
        "batch_sizes",
        tuple(2**k for k in range(4, 15)),
        "choice: the text gives no B range for Fig. 1; 16 … 16384 brackets B* ≈ 512 (L122) by 5 doublings each side",
    ),
    (EPOCH, "lr_exponents", (-6, 5), "choice: grid 2^-6 … 2^5 not given; extended where an optimum is at an edge"),
    (EPOCH, "runs", 15, PROTOCOL),
    (EPOCH, "keep", 12, PROTOCOL),
    (EPOCH, "augmentation", "crop-flip", AUGMENT),
    (EPOCH, "l2", 5e-4, L2),
    (EPOCH, "extend_grid", True, EXTEND),
    (EPOCH, "max_extensions", 3, EXTEND),
    (EPOCH, "measure_init", True, "choice: B_simple and 2/λ_max for the extension claim fig1/b-simple-near-b-star"),
    # Table 1: constant step budget (§6)
    (STEP, "architectures", ("wrn-16-4",), "L124: 'we train a 16-4 Wide-ResNet with ghost batch normalization'"),
    (STEP, "dataset", "cifar10", DATA),
    (STEP, "n_train", None, DATA),
    (STEP, "n_test", None, DATA),
    (STEP, "epoch_budgets", (1,), "choice: a placeholder, unused: 'steps' replaces the epoch budget (L145)"),
    (STEP, "steps", 9765, "L124/L145: 'for 9765 updates' (L32's '9725' is a typo: 200 epochs at B = 1024)"),
    (
        STEP,
        "batch_sizes",
        tuple(2**k for k in range(8, 16)),
        "L126–135 and L145: 'batch sizes ranging from 256 to 32768'",
    ),
    (STEP, "momenta", (0.9,), "L145: 'using SGD with Momentum'; L114: 'm = 0.9'"),
    (STEP, "lr_exponents", (-1, 6), "choice: Table 1's optima and bands span 2^0 … 2^5 (L128–135); one point beyond"),
    (STEP, "runs", 15, PROTOCOL),
    (STEP, "keep", 12, PROTOCOL),
    (STEP, "augmentation", "crop-flip", AUGMENT),
    (STEP, "l2", 5e-4, L2),
    (STEP, "extend_grid", True, EXTEND),
    # Fig. 2: growing epoch budgets (§7)
    (
        UNLIMITED,
        "architectures",
        ("wrn-16-4", "wrn-16-4-regularized-skipinit"),
        "L156: 'We train with and without batch normalization'; L162: 'without batch normalization (using "
        "Regularized SkipInit (De & Smith, 2020))'",
    ),
    (UNLIMITED, "batch_sizes", (64,), "L156: 'at batch size of 64'; L162: 'we select a fixed batch size of 64'"),
    (UNLIMITED, "momenta", (0.9,), "L162: 'using SGD with Momentum'; L114: 'm = 0.9'"),
    (
        UNLIMITED,
        "epoch_budgets",
        PAPER_BUDGETS,
        "L168: 'from 50 to 6400 epochs' (choice: the budgets between, doubling, are not listed in the text)",
    ),
    (UNLIMITED, "lr_exponents", (-5, 3), "choice: grid not given; extended where an optimum is at an edge"),
    (UNLIMITED, "runs", 15, PROTOCOL + " (§4's protocol; §7 gives no other)"),
    (UNLIMITED, "keep", 12, PROTOCOL),
    (UNLIMITED, "dataset", "cifar10", DATA),
    (UNLIMITED, "n_train", None, DATA),
    (UNLIMITED, "n_test", None, DATA),
    (UNLIMITED, "augmentation", "crop-flip", AUGMENT),
    (UNLIMITED, "l2", 5e-4, L2),
    (UNLIMITED, "extend_grid", True, EXTEND),
    # Fig. 3: initial and final learning rates tuned independently (§7.1)
    (INITIAL_FINAL, "architectures", ("wrn-16-4",), "L181: 'we only study the 16-4 Wide-ResNet model with batch norm'"),
    (INITIAL_FINAL, "batch_sizes", (64,), "L181: 'at a batch size of 64 using SGD with Momentum'"),
    (INITIAL_FINAL, "momenta", (0.9,), "L181: 'using SGD with Momentum'; L114: 'm = 0.9'"),
    (INITIAL_FINAL, "epoch_budgets", PAPER_BUDGETS, "L181: 'We consider epoch budgets between 50 and 6400 epochs'"),
    (INITIAL_FINAL, "runs", 7, "L181: 'We evaluate the average performance of the best 5 out of 7 runs.'"),
    (INITIAL_FINAL, "keep", 5, "L181: 'the best 5 out of 7 runs'"),
    (INITIAL_FINAL, "lr_exponents", (-3, 3), "choice: ε_0 grid not given; extended where an optimum is at an edge"),
    (
        INITIAL_FINAL,
        "final_lr_exponents",
        (-12, -10, -8, -6, -4, -2, 0),
        "choice: ε_f grid not given; ×4 spacing from 2^-12 (ε_0 = 2^-2 decayed 2^10 times) up; extended at an edge",
    ),
    (INITIAL_FINAL, "dataset", "cifar10", DATA),
    (INITIAL_FINAL, "n_train", None, DATA),
    (INITIAL_FINAL, "n_test", None, DATA),
    (INITIAL_FINAL, "augmentation", "crop-flip", AUGMENT),
    (INITIAL_FINAL, "l2", 5e-4, L2),
    (INITIAL_FINAL, "extend_grid", True, EXTEND),
]


@pytest.mark.parametrize(("name", "setting", "expected", "source"), TABLE, ids=[f"{r[0]}:{r[1]}" for r in TABLE])
def test_paper_scale_spec_matches_the_paper(name, setting, expected, source):
    assert source.startswith(("L", "choice:"))
    assert getattr(get_experiment(name).spec("paper"), setting) == expected


def test_every_spec_field_of_every_paper_scale_is_pinned_or_left_to_its_default_on_purpose():
    """A field the table does not name keeps a value that changes no training: bookkeeping only."""
    bookkeeping = {"subset_seed", "data_dir", "hidden", "n_bootstrap", "final_lr_exponents", "steps", "measure_init"}
    for name in ALL:
        pinned = {row[1] for row in TABLE if row[0] == name}
        spec = get_experiment(name).spec("paper")
        unpinned = set(vars(spec)) - pinned - bookkeeping - {"max_extensions"}
        assert not unpinned, f"{name}: paper-scale settings not in the table: {sorted(unpinned)}"


def test_paper_scale_models_schedule_and_ghost_batch():
    """L116: 'when batch normalization is used we set the ghost batch size to 64'; L139/L162: Regularized
    SkipInit without normalisation (dropout 0.6 before the classifier: choice, De & Smith 2020's value as
    this project reads it — the Smith, Elsen & De text does not state it); L112: hold the learning rate for
    N/2 epochs, then ÷γ every N/20, γ = 2; L174: γ = (ε_0/ε_f)^(1/10) in Fig. 3; L145: Table 1 holds for
    4882 updates, then ÷2 every 488."""
    spec = get_experiment(UNLIMITED).spec("paper")
    bn, skip = (ARCHITECTURES[a](spec) for a in spec.architectures)
    assert (bn.depth, bn.widen_factor, bn.norm, bn.ghost_batch_size, bn.dropout) == (16, 4, "ghost", 64, 0.0)
    assert (skip.depth, skip.widen_factor, skip.norm, skip.dropout) == (16, 4, "skipinit", 0.6)
    config = train_config(spec, "wrn-16-4", 0.9, 64, 200, 2.0, seed=0)
    schedule = config.learning_rate
    assert schedule.initial == pytest.approx(0.2) and (schedule.gamma, schedule.hold, schedule.interval) == (
        2.0,
        0.5,
        0.05,
    )
    assert (config.momentum, config.l2, config.augmentation, config.epochs) == (0.9, 5e-4, "crop-flip", 200)
    final = train_config(spec, "wrn-16-4", 0.9, 64, 200, 1.0, seed=0, final=2.0**-10).learning_rate
    assert final.gamma == pytest.approx(2.0)
    step = get_experiment(STEP).spec("paper")
    lr = train_config(step, "wrn-16-4", 0.9, 1024, 1, 1.0, seed=0).learning_rate
    assert step.steps * 0.5 == pytest.approx(4882.5) and lr(4882 / 9765) == pytest.approx(0.1)
    assert lr(4883 / 9765) == pytest.approx(0.05) and lr((4883 + 489) / 9765) == pytest.approx(0.025)


def test_every_sed_experiment_is_pinned():
    from sgdnoise.experiments.registry import experiment_names

    assert sorted(ALL) == sorted(n for n in experiment_names() if n.startswith("sed-")), (
        "add the new experiment's paper-scale rows to TABLE and its name to ALL"
    )
