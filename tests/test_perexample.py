"""Per-example gradients and norms by the layer rules against a loop of backward passes; the one-minibatch
noise estimators against their exact expectations over every minibatch of an enumerable problem."""

import copy
import itertools
import warnings

import pytest
import torch
from architectures import (
    ARCHITECTURES,
    OldStyleFunction,
    TinyGPT,
    lm_loss,
    loop_gradients,
    masked_loop_gradients,
    tiny_gpt,
)
from torch import nn

from sgdnoise.instruments import (
    gradient_noise,
    minibatch_gradient_noise,
    per_example_gradient_norms,
    per_example_gradients,
    perexample,
)
from sgdnoise.instruments.perexample import _Forward, layer_statistics


class Scale(nn.Module):
    """A parameterised module no layer rule knows: handled by per-layer vmap."""

    def __init__(self, width: int):
        super().__init__()
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class Tied(nn.Module):
    """One Linear applied twice and a sequence input (Linear over an extra dimension)."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(4, 4)
        self.unused = nn.Linear(2, 2)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [n, 5, 4]
        h = torch.tanh(self.inner(torch.tanh(self.inner(x))))
        return self.head(h).mean(1)


def conv_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1),
        nn.Tanh(),
        nn.Conv2d(3, 4, 3, stride=2, dilation=2, padding=2, bias=False),
        nn.GroupNorm(2, 4),
        nn.Conv2d(4, 4, 1, groups=2),  # grouped: per-layer vmap
        nn.Flatten(),
        nn.LayerNorm(64),
        Scale(64),
        nn.Linear(64, 3),
    )


CASES = {
    "conv": (conv_net, (2, 8, 8)),
    "tied-and-sequence": (Tied, (5, 4)),
    "inplace-relu": (lambda: nn.Sequential(nn.Linear(6, 5), nn.ReLU(inplace=True), nn.Linear(5, 3)), (6,)),
}


@pytest.mark.parametrize("case", CASES)
def test_gradients_and_norms_match_a_loop(case):
    build, shape = CASES[case]
    torch.manual_seed(0)
    model = build().double()
    if case == "conv":
        model[-1].bias.requires_grad_(False)  # a frozen parameter is left out
    x = torch.randn(9, *shape, dtype=torch.float64)
    y = torch.randint(0, 3, (9,))
    loss_fn = nn.CrossEntropyLoss()
    expected = loop_gradients(model, loss_fn, x, y)
    for chunk_size in (None, 4):
        got = per_example_gradients(model, loss_fn, (x, y), chunk_size=chunk_size)
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
        norms = per_example_gradient_norms(model, loss_fn, (x, y), chunk_size=chunk_size, squared=True)
        torch.testing.assert_close(norms, expected.square().sum(1), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(per_example_gradients(model, loss_fn, (x, y), method="vmap"), expected)
    assert all(p.grad is None for p in model.parameters())


class SharedAcrossDepth(TinyGPT):
    """One block applied twice (weights shared across layers), positions from an ``nn.Embedding`` looked up once
    for the whole batch and broadcast (as Hugging Face GPT-2 does), and a head through ``weight.T`` (a use no
    closed form covers: the exact path)."""

    def __init__(self):
        super().__init__(vocab=9, width=8, context=5)
        self.positions = nn.Embedding(5, 8)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        where = torch.arange(tokens.shape[1])[None]
        h = self.embedding(tokens) + self.positions(where) + self.position[: tokens.shape[1]]
        h = self.blocks(self.blocks(h))
        return self.norm(h) @ self.embedding.weight.T


def shared_across_depth(n: int = 6):
    torch.manual_seed(0)
    model = SharedAcrossDepth().double().eval()
    tokens = torch.randint(0, 9, (n, 6), generator=torch.Generator().manual_seed(1))
    return model, lm_loss, tokens[:, :-1], tokens[:, 1:]


class PositionsAsLongAsTheBatch(TinyGPT):
    """Positions looked up as ``positions(arange(T))`` ([T, width], broadcast over the batch) with T equal to
    the number of examples: their leading dimension looks like a batch but holds no examples."""

    def __init__(self):
        super().__init__(vocab=9, width=8, context=5)
        self.positions = nn.Embedding(5, 8)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embedding(tokens) + self.positions(torch.arange(tokens.shape[1]))
        return self.forward_from(h)


def positions_as_long_as_the_batch():
    torch.manual_seed(0)
    model = PositionsAsLongAsTheBatch().double().eval()
    tokens = torch.randint(0, 9, (5, 6), generator=torch.Generator().manual_seed(1))
    return model, lm_loss, tokens[:, :-1], tokens[:, 1:]


class NormalisedLearnedQuery(nn.Module):
    """A query computed once for the batch from a constant ([1, 4]) and normalised over all its entries: a
    per-example copy of it would change the norm, so its parameters take the whole-model vmap."""

    def __init__(self):
        super().__init__()
        self.query, self.body, self.head = nn.Linear(2, 4), nn.Linear(3, 4), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.query(torch.ones(1, 2, dtype=x.dtype))
        return self.head(torch.tanh(self.body(x) * q / q.norm()))


class RepeatedClassToken(nn.Module):
    """A [CLS] row looked up once ([1, 1, 4]) and repeated to the batch: a per-example copy would repeat n²."""

    def __init__(self):
        super().__init__()
        self.tokens, self.cls, self.head = nn.Embedding(5, 4), nn.Embedding(1, 4), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.cls(torch.zeros(1, 1, dtype=torch.long)).repeat(x.shape[0], 1, 1)
        return self.head(torch.cat([c, self.tokens(x)], dim=1).mean(1))


class TransposedLearnedQuery(nn.Module):
    """A query computed once for the batch and used through its transpose (``q.T``, not metadata): the pass is
    made without per-example copies."""

    def __init__(self):
        super().__init__()
        self.query, self.body, self.head = nn.Linear(2, 4), nn.Linear(3, 4), nn.Linear(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.query(torch.ones(1, 2, dtype=x.dtype))
        return self.head(torch.tanh(self.body(x)) @ q.T)


def shared_row_model(model: nn.Module, x: torch.Tensor):
    torch.manual_seed(0)
    return model.double(), nn.CrossEntropyLoss(), x, torch.tensor([0, 1, 1, 0])


SHARED = {
    **ARCHITECTURES,
    # before: the [1, …] output was replaced by n copies, which the norm summed (norms off by up to 25%) and
    # the repeat multiplied (an error inside the model's forward)
    "normalised_learned_query": lambda: shared_row_model(NormalisedLearnedQuery(), torch.randn(4, 3).double()),
    "repeated_class_token": lambda: shared_row_model(RepeatedClassToken(), torch.randint(0, 5, (4, 3))),
    "transposed_learned_query": lambda: shared_row_model(TransposedLearnedQuery(), torch.randn(4, 3).double()),
    # K²(r + c) < 2rc for every weight: the Gram form, with one-hot rows (embedding) beside dense ones (head)
    "tiny_gpt_gram_form": lambda: tiny_gpt(vocab=64, width=16, context=2),
    "shared_across_depth": shared_across_depth,
    "positions_as_long_as_the_batch": positions_as_long_as_the_batch,
}


@pytest.mark.parametrize("case", SHARED)
def test_shared_weights_sum_their_uses_per_example_like_a_loop(case):
    model, loss_fn, x, y = SHARED[case]()
    expected = loop_gradients(model, loss_fn, x, y)
    torch.testing.assert_close(per_example_gradients(model, loss_fn, (x, y)), expected, rtol=1e-10, atol=1e-12)
    sq = expected.square().sum(1)
    torch.testing.assert_close(per_example_gradient_norms(model, loss_fn, (x, y), squared=True), sq, rtol=1e-10, atol=0)
    names = {id(p): name for name, p in model.named_parameters()}
    blocked = layer_statistics(model, loss_fn, x, y, names, budget=1)  # one example at a time
    torch.testing.assert_close(blocked.sq_norms, sq, rtol=1e-10, atol=0)
    mean = expected.mean(0)
    b_simple = float((expected - mean).square().sum() / (x.shape[0] - 1) / mean.square().sum())
    assert gradient_noise(model, loss_fn, (x, y), 2).noise_scale_simple == pytest.approx(b_simple, rel=1e-10)
    assert all(p.grad is None for p in model.parameters())


def test_a_position_embedding_broadcast_over_the_batch_keeps_its_layer_rule():
    """Positions looked up once ([1, T, d]) and added to the examples: a per-example copy changes nothing, so they
    keep the embedding rule instead of the whole-model vmap."""
    model, _, x, _ = shared_across_depth()
    names = {id(p): name for name, p in model.named_parameters()}
    forward = _Forward.record(model, x, names, x.shape[0], draws=False)
    assert id(model.positions.weight) not in forward.exact
    assert any(call.module is model.positions for call in forward.calls)


def test_minibatch_estimators_are_unbiased_over_every_minibatch():
    # ℓ_i(w) = (w·x_i − y_i)²; every minibatch of B = 3 out of N = 7 without replacement
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(7, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(7, 1, generator=gen, dtype=torch.float64)
    torch.manual_seed(3)
    model, loss_fn = nn.Linear(3, 1, dtype=torch.float64), nn.MSELoss()
    exact = gradient_noise(model, loss_fn, (x, y), 3)
    estimates = [
        minibatch_gradient_noise(model, loss_fn, x[list(s)], y[list(s)], train_size=7)
        for s in itertools.combinations(range(7), 3)
    ]
    mean_grad_sq = sum(e.mean_grad_sq_norm for e in estimates) / len(estimates)
    cov_trace = sum(e.covariance_trace for e in estimates) / len(estimates)
    assert mean_grad_sq == pytest.approx(exact.mean_grad_sq_norm, rel=1e-10)
    assert cov_trace == pytest.approx(exact.covariance_trace, rel=1e-10)
    # the full training set as the minibatch: the estimates are the exact values
    full = minibatch_gradient_noise(model, loss_fn, x, y, train_size=7)
    assert full.mean_grad_sq_norm == pytest.approx(exact.mean_grad_sq_norm, rel=1e-10)
    assert full.noise_scale_simple == pytest.approx(exact.noise_scale_simple, rel=1e-10)
    # with replacement (train_size None) the i.i.d. form: E over all B^N ordered draws
    draws = list(itertools.product(range(7), repeat=2))
    iid = [minibatch_gradient_noise(model, loss_fn, x[list(d)], y[list(d)]) for d in draws]
    population_var = exact.covariance_trace * 6 / 7  # the i.i.d. covariance has the 1/N normalisation
    assert sum(e.covariance_trace for e in iid) / len(iid) == pytest.approx(population_var, rel=1e-10)
    assert sum(e.mean_grad_sq_norm for e in iid) / len(iid) == pytest.approx(exact.mean_grad_sq_norm, rel=1e-10)


def padded_tokens():
    """Sequences of 2, 4, 4 and 2 real tokens (the rest -100): the halves hold 6 tokens each."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(5, 4), nn.Tanh(), nn.Linear(4, 5)).double()
    x, y = torch.randint(0, 5, (4, 4)), torch.randint(0, 5, (4, 4))
    y[0, 2:] = -100
    y[3, 2:] = -100
    return model, x, y


def test_a_mean_that_weights_examples_unequally_is_refused_even_when_the_halves_balance():
    """A mean over all real tokens weights an example by its token count: per-example gradients would be
    (n·T_i/ΣT)·∇ℓ_i, off by 2/3 and 4/3 here, and the halves' check alone passes (6 tokens each)."""
    model, x, y = padded_tokens()

    def over_tokens(out, t):
        return nn.functional.cross_entropy(out.flatten(0, 1), t.flatten())

    with pytest.raises(ValueError, match="weights examples unequally: targets left out"):
        per_example_gradient_norms(model, over_tokens, (x, y))
    weighted = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 3.0], dtype=torch.float64))
    classifier = nn.Linear(3, 2).double()
    with pytest.raises(ValueError, match="MEAN of the per-example losses"):  # labels 0, 1 | 1, 0: halves balance
        per_example_gradient_norms(
            classifier, weighted, (torch.randn(4, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0]))
        )

    def per_example_mean(out, t):  # each sequence's own mean over its tokens, then the mean over sequences
        losses = nn.functional.cross_entropy(out.transpose(1, 2), t, reduction="none")
        return (losses.sum(1) / (t != -100).sum(1)).mean()

    norms = per_example_gradient_norms(model, per_example_mean, (x, y))
    torch.testing.assert_close(norms, loop_gradients(model, per_example_mean, x, y).norm(dim=1), rtol=1e-10, atol=0)


def test_a_weighted_mean_is_refused_even_where_every_example_has_the_same_loss():
    """A zero head gives every example the loss ln 3, so no loss value can tell class weights from a plain mean;
    the gradients at the outputs can: example i's is w_i/Σw of its batch (B_simple read 6.44 instead of 13.27)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    nn.init.zeros_(model[2].weight)
    nn.init.zeros_(model[2].bias)
    x, y = torch.randn(10, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2, 2, 2, 1, 0])
    weighted = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    with pytest.raises(
        ValueError, match=r"MEAN of the per-example losses .* gradient of the loss of the first 4 examples"
    ):
        gradient_noise(model, weighted, (x, y), batch_size=2)
    with pytest.raises(ValueError, match="MEAN of the per-example losses"):
        gradient_noise(model, nn.CrossEntropyLoss(ignore_index=2), (x, y), batch_size=2)
    plain = gradient_noise(model, nn.CrossEntropyLoss(), (x, y), batch_size=2)
    expected = loop_gradients(model, nn.CrossEntropyLoss(), x, y)
    assert plain.mean_grad_sq_norm == pytest.approx(float(expected.mean(0).square().sum()), rel=1e-12)


def near_uniform_padded_lm(dtype: torch.dtype):
    """A tiny LM at init N(0, 0.1), so every token's loss is near ln V, on right-padded sequences of 2 to 8 tokens."""
    torch.manual_seed(0)
    vocab, n, steps = 50, 16, 8
    model = nn.Sequential(nn.Embedding(vocab, 16), nn.Tanh(), nn.Linear(16, vocab))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1) if p.dim() > 1 else p.zero_()
    x, y = torch.randint(1, vocab, (n, steps)), torch.randint(0, vocab, (n, steps))
    y[torch.arange(steps) >= torch.randint(2, steps + 1, (n, 1))] = -100
    return model.to(dtype), x, y


def over_tokens(out, t):
    return nn.functional.cross_entropy(out.flatten(0, 1), t.flatten())


def per_sequence_mean(out, t):  # each sequence's own mean over its tokens, then the mean over sequences
    losses = nn.functional.cross_entropy(out.transpose(1, 2), t, reduction="none")
    return (losses.sum(1) / (t != -100).sum(1)).mean()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_a_token_mean_over_padded_sequences_is_refused_near_uniform_predictions(dtype):
    """Near ln V for every token, the token mean and the mean of the sequences' own means agree to 1e-3 (the
    values' tolerance), yet per-example gradients would be off by n·T_i/ΣT (0.4 to 1.6): the gradients at the
    outputs tell them apart; each sequence's own mean passes in every dtype."""
    model, x, y = near_uniform_padded_lm(dtype)
    with pytest.raises(ValueError, match=r"MEAN of the per-example losses .* gradient of the loss of the first"):
        per_example_gradient_norms(model, over_tokens, (x, y))
    norms = per_example_gradient_norms(model, per_sequence_mean, (x, y))
    expected = loop_gradients(model.double(), per_sequence_mean, x, y).norm(dim=1)
    torch.testing.assert_close(norms.double(), expected, rtol=0.05 if dtype == torch.bfloat16 else 1e-5, atol=0)


def test_a_loss_that_reads_the_model_is_refused():
    """A learnable loss weight the model holds (uncertainty weighting, exp(−s)·CE + s): the instruments
    differentiate through the outputs only, so s would get a zero per-example gradient (true ≈ 0.56)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    model.register_parameter("log_var", nn.Parameter(torch.tensor(0.3, dtype=torch.float64)))
    x, y = torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,))

    def weighted(out, t):
        return torch.exp(-model.log_var) * nn.functional.cross_entropy(out, t) + model.log_var

    for call in (per_example_gradients, lambda *args: gradient_noise(*args, batch_size=4)):
        with pytest.raises(ValueError, match="depend on the model only through its outputs"):
            call(model, weighted, (x, y))
    with pytest.raises(ValueError, match="only through its outputs"):  # a chunk of one example too
        per_example_gradients(model, weighted, (x, y), chunk_size=1)


class FlatLogits(nn.Module):
    """A language model returning its logits flattened to [n·T, V], or sequence-first [T, n, V]."""

    def __init__(self, sequence_first: bool = False):
        super().__init__()
        self.embed, self.head, self.sequence_first = nn.Embedding(7, 5), nn.Linear(5, 7), sequence_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(torch.tanh(self.embed(x)))
        return logits.transpose(0, 1) if self.sequence_first else logits.flatten(0, 1)


@pytest.mark.parametrize(("sequence_first", "steps"), [(False, 4), (True, 4), (True, 6)])
def test_outputs_without_the_examples_leading_are_one_clear_error(sequence_first, steps):
    """The loss runs on the batch, but the check slices the outputs by examples: torch's "Expected input
    batch_size (24) to match target batch_size (12)" becomes one line saying what the instruments need."""
    torch.manual_seed(0)
    x, y = torch.randint(0, 7, (6, steps)), torch.randint(0, 7, (6, steps))

    def loss_fn(out, t):
        if sequence_first:
            return nn.functional.cross_entropy(out.permute(1, 2, 0), t)
        return nn.functional.cross_entropy(out, t.flatten())

    with pytest.raises(ValueError, match="examples along their leading dimension"):
        per_example_gradients(FlatLogits(sequence_first).double(), loss_fn, (x, y))


class _BatchNormByHand(nn.Module):
    """A batch norm from plain operations: the statistics of the batch couple its examples."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.scale, self.shift = nn.Parameter(torch.ones(width)), nn.Parameter(torch.zeros(width))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return (h - h.mean(0)) / (h.var(0, unbiased=False) + 1e-5).sqrt() * self.scale + self.shift


class _Centred(nn.Module):
    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h - h.mean(0)


@pytest.mark.parametrize("coupling", [_BatchNormByHand(6), _Centred()], ids=["batch-norm-by-hand", "centred"])
@pytest.mark.parametrize("method", ["layers", "vmap"])
def test_a_layer_that_mixes_the_examples_of_a_batch_is_refused_not_measured(coupling, method):
    """Re-run one example at a time, such a layer gave the scale a per-example gradient of exactly 0 (and the
    centring, which keeps the sum right, per-example gradients 47% off): no example has a gradient of its own."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), coupling, nn.Tanh(), nn.Linear(6, 3)).double()
    x, y = torch.randn(10, 4, dtype=torch.float64), torch.randint(0, 3, (10,))
    with pytest.raises(ValueError, match="changes when the rest of the batch is left out: a layer mixes the examples"):
        per_example_gradients(model, nn.CrossEntropyLoss(), (x, y), method=method)


def test_with_dropout_a_layer_that_mixes_examples_is_caught_by_the_sum_of_the_per_example_gradients():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), _BatchNormByHand(6), nn.Tanh(), nn.Dropout(0.3), nn.Linear(6, 3)).double()
    x, y = torch.randn(10, 4, dtype=torch.float64), torch.randint(0, 3, (10,))
    with pytest.raises(ValueError, match=r"of '1.scale' sum to .* away from the batch gradient .* a layer mixes"):
        per_example_gradients(model, nn.CrossEntropyLoss(), (x, y), train_mode=True)


def test_an_old_style_autograd_function_is_measured_by_the_layer_rules_and_named_where_torch_func_is_needed():
    torch.manual_seed(0)
    model = OldStyleFunction().double()
    x, y = torch.randn(10, 4, dtype=torch.float64), torch.randint(0, 3, (10,))
    got = per_example_gradients(model, nn.CrossEntropyLoss(), (x, y))  # the function holds no parameter
    torch.testing.assert_close(got, loop_gradients(model, nn.CrossEntropyLoss(), x, y), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match=r"autograd\.Function without a setup_context staticmethod"):
        per_example_gradients(model, nn.CrossEntropyLoss(), (x, y), method="vmap")


class _Squeezed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).squeeze()  # one example gives a 0-dim output, not one row


@pytest.mark.parametrize("method", ["layers", "vmap"])
def test_independent_examples_are_not_refused_for_the_shape_a_squeezed_output_takes_on_one_example(method):
    """A last chunk of 2 is compared with 1 example alone, whose squeezed output has no rows: not compared."""
    torch.manual_seed(0)
    model = _Squeezed().double()
    x, y = torch.randn(10, 3, dtype=torch.float64), torch.randn(10, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # mse_loss warns of () against (1,) on one example
        got = per_example_gradients(model, nn.functional.mse_loss, (x, y), chunk_size=4, method=method)
        expected = loop_gradients(model, lambda o, t: nn.functional.mse_loss(o.reshape(-1), t), x, y)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("method", ["layers", "vmap"])
def test_a_forward_that_updates_its_own_buffers_is_not_refused_and_its_buffers_are_restored(method):
    """The old spectral_norm takes a power-iteration step (its buffer u) in every train-mode forward, so the pass
    on 2 examples alone sees another σ than the batch's pass: nothing is compared, and u is put back."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.utils.spectral_norm(nn.Linear(4, 5)), nn.Tanh(), nn.Linear(5, 3)).double()
    x, y = torch.randn(10, 4, dtype=torch.float64), torch.randint(0, 3, (10,))
    per_example_gradients(model, nn.CrossEntropyLoss(), (x, y), train_mode=True, method=method)


def test_a_loss_that_writes_into_the_outputs_it_is_given_is_checked_like_any_other():
    torch.manual_seed(0)
    model = nn.Linear(4, 5).double()
    x, y = torch.randn(12, 4, dtype=torch.float64), torch.randint(0, 4, (12,))

    def masked(out, t):
        out[:, 4] = -1e9  # a class no target uses, masked in place
        return nn.functional.cross_entropy(out, t)

    got = per_example_gradients(model, masked, (x, y))
    torch.testing.assert_close(got, loop_gradients(model, masked, x, y), rtol=1e-12, atol=1e-14)


def test_bad_input_gets_one_clear_error():
    x, y = torch.randn(6, 3), torch.randn(6, 1)
    model = nn.Linear(3, 1)
    with pytest.raises(ValueError, match="MEAN of the per-example losses"):
        per_example_gradient_norms(model, nn.MSELoss(reduction="sum"), (x, y))
    with pytest.raises(ValueError, match="must return a scalar"):
        per_example_gradient_norms(model, nn.MSELoss(reduction="none"), (x, y))
    with pytest.raises(
        ValueError, match=r"broadcasts the model's output of shape \(6, 1\) against targets of shape \(6,\)"
    ):
        per_example_gradient_norms(model, nn.MSELoss(), (x, y[:, 0]))  # an n × n broadcast, not a sum
    with pytest.raises(ValueError, match="must not exceed the training-set size"):
        minibatch_gradient_noise(model, nn.MSELoss(), x, y, train_size=5)
    with pytest.raises(ValueError, match="method"):
        per_example_gradients(model, nn.MSELoss(), (x, y), method="loop")
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        minibatch_gradient_noise(model, nn.MSELoss(), x, y)


class Recurrent(nn.Module):
    """A recurrent layer (batch first) read at its last step by a Linear head."""

    def __init__(self, layer: type[nn.RNNBase]):
        super().__init__()
        self.rnn = layer(4, 5, batch_first=True, dtype=torch.float64)
        self.head = nn.Linear(5, 3, dtype=torch.float64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


@pytest.mark.parametrize("layer", [nn.GRU, nn.RNN, nn.LSTM])
def test_recurrent_layers_have_exact_per_example_gradients(layer):
    # torch's recurrent kernels have no vmap batching rule ("output with shape [1, 5] doesn't match the
    # broadcast shape [20, 1, 5]"): their parameters' gradients are taken one example at a time
    torch.manual_seed(11)
    model, loss_fn = Recurrent(layer), nn.CrossEntropyLoss()
    x, y = torch.randn(12, 6, 4, dtype=torch.float64), torch.randint(0, 3, (12,))
    expected = loop_gradients(model, loss_fn, x, y)
    for method in ("layers", "vmap"):
        got = per_example_gradients(model, loss_fn, (x, y), method=method, chunk_size=5)
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-13)
    mean = expected.mean(0)
    noise = gradient_noise(model, loss_fn, (x, y), 4)
    assert noise.covariance_trace == pytest.approx(((expected - mean).square().sum() / 11).item(), rel=1e-10)


class AttentionWithDropout(nn.Module):
    """``nn.MultiheadAttention`` (attention dropout inside the module: per-call vmap, or the whole-model vmap
    when the sequence comes first) and an ``nn.TransformerEncoderLayer``, both with dropout."""

    def __init__(self, batch_first: bool, need_weights: bool):
        super().__init__()
        self.batch_first, self.need_weights = batch_first, need_weights
        self.embed = nn.Linear(4, 8)
        self.attention = nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=batch_first)
        self.dropout = nn.Dropout(0.4)
        self.encoder = nn.TransformerEncoderLayer(8, 2, 12, dropout=0.3, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        q = h if self.batch_first else h.transpose(0, 1)
        a = self.attention(q, q, q, need_weights=self.need_weights)[0]
        h = self.encoder(self.dropout(h + (a if self.batch_first else a.transpose(0, 1))))
        return self.head(h.mean(1))


class RecurrentWithDropout(Recurrent):
    def __init__(self):
        super().__init__(nn.GRU)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.rnn(self.dropout(x))[0][:, -1]))


class StackedLSTMWithDropout(nn.Module):
    """nn.LSTM's own dropout between its layers (drawn inside the recurrent kernel)."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 5, num_layers=2, dropout=0.5, batch_first=True)
        self.head = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


DROPOUT_CASES = {
    "attention-batch-first": (lambda: AttentionWithDropout(True, False), (5, 4), nn.CrossEntropyLoss()),
    "attention-weights": (lambda: AttentionWithDropout(True, True), (5, 4), nn.CrossEntropyLoss()),
    "attention-sequence-first": (lambda: AttentionWithDropout(False, False), (5, 4), nn.CrossEntropyLoss()),
    "gpt": (lambda: TinyGPT(context=5, dropout=0.3), None, lm_loss),
    "recurrent": (RecurrentWithDropout, (6, 4), nn.CrossEntropyLoss()),
    "recurrent-inter-layer": (StackedLSTMWithDropout, (6, 4), nn.CrossEntropyLoss()),
}


@pytest.mark.parametrize("case", DROPOUT_CASES)
def test_dropout_in_train_mode_uses_the_forward_pass_masks(case):
    # parameters whose per-example gradients vmap re-computes (inside nn.MultiheadAttention, the whole model
    # for a sequence-first attention or a recurrent layer) draw the masks the batched pass drew, so every
    # per-example gradient is that of the same forward pass, as the closed forms' are
    build, shape, loss_fn = DROPOUT_CASES[case]
    torch.manual_seed(0)
    model = build().double().train()
    if shape is None:
        x = torch.randint(0, 11, (7, 5))
        y = torch.randint(0, 11, (7, 5))
    else:
        x, y = torch.randn(7, *shape, dtype=torch.float64), torch.randint(0, 3, (7,))
    expected = masked_loop_gradients(model, loss_fn, x, y, seed=5)
    torch.manual_seed(5)
    got = per_example_gradients(model, loss_fn, (x, y))
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    torch.manual_seed(5)
    noise = gradient_noise(model, loss_fn, (x, y), 2, memory_budget=2**10)  # the whole-model vmap in blocks
    mean = expected.mean(0)
    assert noise.covariance_trace == pytest.approx(((expected - mean).square().sum() / 6).item(), rel=1e-10)
    assert noise.mean_grad_sq_norm == pytest.approx(mean.square().sum().item(), rel=1e-10)


class SequenceFirst(nn.Module):
    """Takes [n, L, d] and runs its layers on [L, n, d] (sequence first)."""

    def __init__(self):
        super().__init__()
        self.inner, self.head = nn.Linear(3, 3), nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.inner(x.transpose(0, 1))).mean(0))


def sequence_first_encoder() -> nn.Module:
    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            layer = nn.TransformerEncoderLayer(8, 2, 12, dropout=0.2)  # sequence first
            self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
            self.head = nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.encoder(x.transpose(0, 1)).mean(0))

    return Encoder()


@pytest.mark.parametrize("build", [SequenceFirst, sequence_first_encoder])
def test_a_sequence_as_long_as_the_chunk_is_not_taken_for_the_examples(build):
    # [L, n, d] with L = n reads like examples first: the chunk is split so that only the examples scale
    torch.manual_seed(0)
    model = build().double().eval()
    n = 5
    x, y = torch.randn(n, n, 3 if build is SequenceFirst else 8, dtype=torch.float64), torch.randint(0, 2, (n,))
    loss_fn = nn.CrossEntropyLoss()
    expected = loop_gradients(model, loss_fn, x, y)
    for chunk_size in (None, 5):
        got = per_example_gradients(model, loss_fn, (x, y), chunk_size=chunk_size)
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    sq = per_example_gradient_norms(model, loss_fn, (x, y), squared=True, chunk_size=5)
    torch.testing.assert_close(sq, expected.square().sum(1), rtol=1e-10, atol=1e-12)


def test_a_width_equal_to_the_chunk_is_told_apart_from_a_sequence_without_splitting(monkeypatch):
    # [n, n] hidden activations of a batch-first MLP read both ways: a pass on 2 examples tells which
    def no_split(*args, **kwargs):
        raise AssertionError("split")

    monkeypatch.setattr(perexample, "_split_statistics", no_split)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    x, y = torch.randn(6, 3, dtype=torch.float64), torch.randint(0, 2, (6,))
    expected = loop_gradients(model, nn.CrossEntropyLoss(), x, y)
    got = per_example_gradients(model, nn.CrossEntropyLoss(), (x, y), chunk_size=6)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    with pytest.raises(AssertionError, match="split"):  # while a sequence-first one is split
        per_example_gradients(SequenceFirst().double(), nn.CrossEntropyLoss(), (torch.randn(4, 4, 3).double(), y[:4]))


class TableBlock(nn.Module):
    """A block given a constant table [T, d] whole (positions sliced inside): T = n must not make it examples."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, 4))

    def forward(self, h: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        return (h + table[: h.shape[1]]) * self.scale


class WithTable(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("table", torch.randn(6, 4))
        self.block, self.head = TableBlock(), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.block(x, self.table)).mean(1))


class Pool(nn.Module):
    """Reads [L, n, d], returns [n, d]: its examples are not its input's rows."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.linspace(0.5, 1.5, 4))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z * self.w).tanh().mean(0)


class SequenceInExamplesOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner, self.pool, self.head = nn.Linear(4, 4), Pool(), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.inner(x).transpose(0, 1)))


@pytest.mark.parametrize("case", ["table", "sequence-in-examples-out", "length-one-sequence"])
def test_only_the_inputs_that_hold_examples_are_split_by_example(case):
    # which inputs of a call hold examples is tracked from the model's input, never read off a leading size
    torch.manual_seed(0)
    model = (WithTable() if case == "table" else SequenceInExamplesOut()).double()
    length = {"table": 3, "sequence-in-examples-out": 5, "length-one-sequence": 1}[case]
    x, y = torch.randn(6, length, 4, dtype=torch.float64), torch.randint(0, 2, (6,))
    expected = loop_gradients(model, nn.CrossEntropyLoss(), x, y)
    for chunk_size in (None, 6, 4):
        got = per_example_gradients(model, nn.CrossEntropyLoss(), (x, y), chunk_size=chunk_size)
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_a_sequence_as_long_as_the_chunk_with_dropout_gives_the_gradients_of_the_split_passes():
    # each part of the split is a forward pass of its own, with its own masks: its replayed per-example
    # gradients must sum to its batch gradient, parameter by parameter (checked inside; the draws once
    # mis-split along the sequence raised instead)
    torch.manual_seed(0)
    model, loss_fn = sequence_first_encoder().double().train(), nn.CrossEntropyLoss()
    x, y = torch.randn(5, 5, 8, dtype=torch.float64), torch.randint(0, 2, (5,))
    got = per_example_gradients(model, loss_fn, (x, y), chunk_size=5)
    assert got.shape == (5, sum(p.numel() for p in model.parameters())) and torch.isfinite(got).all()
    assert not torch.allclose(got, loop_gradients(model.eval(), loss_fn, x, y))  # the masks were applied


class DataDependent(nn.Module):
    """A data-dependent shape, per example, which vmap cannot batch, in a module no layer rule covers: boolean
    indexing (vmap's error names vmap) or bincount (vmap runs it per example, then fails to stack rows of
    different lengths, with an error that does not)."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self.scale = nn.Parameter(torch.linspace(-0.5, 1.5, 4))
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x * self.scale
        if self.kind == "boolean-index":
            extra = torch.stack([row[row > 0].square().sum() for row in h])
        else:
            extra = torch.stack(
                [row.square().sum() * torch.bincount((row.detach().abs() * 3).long()).max() for row in h]
            )
        return self.head(h) + extra.unsqueeze(1)


@pytest.mark.filterwarnings("ignore:There is a performance drop")  # torch's, for bincount under vmap
@pytest.mark.parametrize("kind", ["boolean-index", "bincount"])
def test_a_model_vmap_cannot_batch_is_taken_one_example_at_a_time(kind):
    torch.manual_seed(0)
    model, loss_fn = DataDependent(kind).double(), nn.CrossEntropyLoss()
    x, y = torch.randn(6, 4, dtype=torch.float64), torch.randint(0, 3, (6,))
    with pytest.warns(UserWarning, match=r"one example at a time.*vmap cannot batch"):
        got = per_example_gradients(model, loss_fn, (x, y))
    torch.testing.assert_close(got, loop_gradients(model, loss_fn, x, y), rtol=1e-10, atol=1e-12)


class LearnedTemperature(nn.Module):
    """Logits over a learned scalar temperature (a 0-dimensional parameter, like CLIP's logit scale)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(4, 3, dtype=torch.float64)
        self.temperature = nn.Parameter(torch.tensor(1.5, dtype=torch.float64))

    def forward(self, x):
        return self.linear(x) / self.temperature


@pytest.mark.parametrize("method", ["layers", "vmap"])
def test_a_zero_dimensional_parameter_has_its_column(method):
    """Before, every per-example instrument raised IndexError ("Dimension out of range") on it."""
    model = LearnedTemperature()
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(12, 4, generator=gen, dtype=torch.float64), torch.randint(0, 3, (12,), generator=gen)
    expected = loop_gradients(model, nn.CrossEntropyLoss(), x, y)
    got = per_example_gradients(model, nn.CrossEntropyLoss(), (x, y), method=method, chunk_size=5)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)
    norms = per_example_gradient_norms(model, nn.CrossEntropyLoss(), (x, y), squared=True)
    torch.testing.assert_close(norms, expected.square().sum(1), rtol=1e-12, atol=0)


class CappedEmbeddingGRU(nn.Module):
    """An embedding with max_norm (renormalised in place on lookup) into a GRU (no layer rule: whole-model vmap)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(10, 8, max_norm=1.0, dtype=torch.float64)
        self.gru = nn.GRU(8, 8, batch_first=True, dtype=torch.float64)
        self.head = nn.Linear(8, 3, dtype=torch.float64)

    def forward(self, tokens):
        return self.head(self.gru(self.embedding(tokens))[0][:, -1])


@pytest.mark.parametrize("method", ["layers", "vmap"])
def test_an_embedding_with_max_norm_beside_a_layer_without_a_rule_is_exact(method):
    """Before: functorch refused the in-place embedding_renorm_ inside the whole-model transform."""
    model = CappedEmbeddingGRU()
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randint(0, 10, (12, 5), generator=gen), torch.randint(0, 3, (12,), generator=gen)
    expected = loop_gradients(copy.deepcopy(model), nn.CrossEntropyLoss(), x, y)
    table = model.embedding.weight.detach().clone()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the GRU runs one example at a time
        got = per_example_gradients(model, nn.CrossEntropyLoss(), (x, y), method=method)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)
    assert torch.equal(model.embedding.weight, table) and model.embedding.max_norm == 1.0  # left as it was


def test_an_embedding_that_scales_its_gradient_by_token_frequency_matches_a_loop():
    """scale_grad_by_freq divides a row's gradient by the token's count in the batch: one example's gradient
    counts that example's tokens (before: the plain embedding rule, 2× off for a token seen twice)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(6, 3, scale_grad_by_freq=True), nn.Flatten(), nn.Linear(9, 2)).double()
    x, y = torch.tensor([[0, 0, 1], [2, 0, 0], [1, 1, 1], [3, 4, 0]]), torch.tensor([0, 1, 1, 0])
    got = per_example_gradients(model, nn.CrossEntropyLoss(), (x, y))
    torch.testing.assert_close(got, loop_gradients(model, nn.CrossEntropyLoss(), x, y), rtol=1e-12, atol=1e-14)


def test_a_loss_that_cannot_take_one_example_is_still_measured():
    """F.binary_cross_entropy_with_logits(o.squeeze(), t) fails on one example (shape () against (1,)): the
    check of single examples is skipped, as a batch of 4 or more never reached one example before."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    x, y = torch.randn(16, 3, dtype=torch.float64), (torch.rand(16) > 0.5).double()

    def squeezed(o, t):
        return nn.functional.binary_cross_entropy_with_logits(o.squeeze(), t)

    expected = loop_gradients(model, lambda o, t: nn.functional.binary_cross_entropy_with_logits(o[:, 0], t), x, y)
    torch.testing.assert_close(per_example_gradients(model, squeezed, (x, y)), expected, rtol=1e-10, atol=1e-12)


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))


def _conv_group_norm() -> nn.Module:
    return nn.Sequential(nn.Conv2d(2, 4, 3), nn.GroupNorm(2, 4), nn.Flatten(), nn.Linear(36, 3))


IMAGE, TOKENS = (2, 5, 5), None  # an example's shape (None: 3 tokens of 7)
# case: (model, hooked layer, forward hook, forward pre-hook, example shape); "global": a global forward hook
HOOKED = {
    "linear-affine": (_mlp, 0, lambda m, i, o: 3.0 * o + 1.0, None, (5,)),
    "linear-in-place": (_mlp, 0, lambda m, i, o: o.mul_(2.0), None, (5,)),
    "layer-norm": (lambda: nn.Sequential(nn.Linear(5, 8), nn.LayerNorm(8), nn.Linear(8, 3)), 1, lambda m, i, o: o**2,
                   None, (5,)),
    "embedding": (lambda: nn.Sequential(nn.Embedding(7, 4), nn.Flatten(), nn.Linear(12, 3)), 0,
                  lambda m, i, o: torch.sin(o), None, TOKENS),
    "conv2d": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(27, 3)), 0,
               lambda m, i, o: torch.tanh(o), None, IMAGE),
    "group-norm-pre-hook": (_conv_group_norm, 1, None, lambda m, i: (i[0] ** 2,), IMAGE),
    "group-norm-both-hooks": (_conv_group_norm, 1, lambda m, i, o: 3.0 * o, lambda m, i: (i[0] ** 2,), IMAGE),
    "global": (lambda: nn.Sequential(nn.Linear(5, 8), nn.Linear(8, 3)), 0, None, None, (5,)),
}  # fmt: skip


def _tanh_of_the_first_linear(module, args, output):
    return torch.tanh(output) if isinstance(module, nn.Linear) and module.out_features == 8 else None


@pytest.mark.parametrize("case", HOOKED)
def test_a_forward_hook_that_changes_a_layers_output_is_differentiated_through(case):
    """Before: the layer rules took a hooked output for the layer's own (Linear out*3+1: per-example gradients 40%
    off); a vjp re-ran the module's forward pre-hooks on inputs they had already changed (GroupNorm: 2% off)."""
    build, layer, hook, pre_hook, shape = HOOKED[case]
    torch.manual_seed(0)
    model, loss_fn = build().double(), nn.CrossEntropyLoss()
    if hook is not None:
        model[layer].register_forward_hook(hook)
    if pre_hook is not None:
        model[layer].register_forward_pre_hook(pre_hook)
    x = torch.randint(0, 7, (10, 3)) if shape is TOKENS else torch.randn(10, *shape, dtype=torch.float64)
    y = torch.randint(0, 3, (10,))
    handle = (
        torch.nn.modules.module.register_module_forward_hook(_tanh_of_the_first_linear) if case == "global" else None
    )
    try:
        expected = loop_gradients(model, loss_fn, x, y)
        torch.testing.assert_close(per_example_gradients(model, loss_fn, (x, y)), expected, rtol=1e-10, atol=1e-12)
        noise = gradient_noise(model, loss_fn, (x, y), 2)
    finally:
        if handle is not None:
            handle.remove()
    mean = expected.mean(0)
    assert noise.covariance_trace == pytest.approx(((expected - mean).square().sum() / 9).item(), rel=1e-10)
    assert noise.mean_grad_sq_norm == pytest.approx(mean.square().sum().item(), rel=1e-10)


def test_a_forward_hook_that_leaves_the_output_alone_keeps_the_layer_rule():
    """A hook that only reads the output (an activation logger) changes nothing: the Linear keeps its closed form."""
    torch.manual_seed(0)
    model, seen = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double(), []
    model[0].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    x, y = torch.randn(6, 5, dtype=torch.float64), torch.randint(0, 3, (6,))
    names = {id(p): name for name, p in model.named_parameters()}
    forward = _Forward.record(model, x, names, 6, draws=False)
    assert forward.calls and not any(call.hooked for call in forward.calls) and not forward.recomputes()
    expected = loop_gradients(model, nn.CrossEntropyLoss(), x, y)
    torch.testing.assert_close(per_example_gradients(model, nn.CrossEntropyLoss(), (x, y)), expected)


class PackedLSTM(nn.Module):
    """An LSTM over pack_padded_sequence: torch.func cannot run the packed kernel, even on one example."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(9, 4, padding_idx=0)
        self.lstm = nn.LSTM(4, 5, batch_first=True)
        self.head = nn.Linear(5, 3)

    def forward(self, tokens):
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embedding(tokens), (tokens != 0).sum(1), batch_first=True, enforce_sorted=False
        )
        return self.head(self.lstm(packed)[1][0][0])


@pytest.mark.parametrize("method", ["layers", "vmap"])
def test_a_packed_sequence_into_a_recurrent_layer_is_one_clear_error(method):
    """Before: torch's 'Cannot access data pointer of Tensor that doesn't have storage'."""
    torch.manual_seed(0)
    x, y = torch.randint(1, 9, (6, 5)), torch.randint(0, 3, (6,))
    x[1, 2:], x[3, 1:] = 0, 0
    with pytest.raises(ValueError, match=r"PackedSequence.*padded batch"):
        per_example_gradients(PackedLSTM(), nn.CrossEntropyLoss(), (x, y), method=method)
    with pytest.raises(ValueError, match=r"PackedSequence.*padded batch"):
        gradient_noise(PackedLSTM(), nn.CrossEntropyLoss(), (x, y), 2)


class SortedInside(nn.Module):
    """Sorts its batch by a key, applies a layer, restores the order (as before pack_padded_sequence)."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 5), nn.Linear(5, 5), nn.Linear(5, 3)

    def forward(self, x):
        order = x[:, 0].argsort(descending=True)
        return self.c(torch.tanh(self.b(torch.tanh(self.a(x))[order]))[order.argsort()])


def test_a_model_that_reorders_its_batch_is_exact_by_vmap_and_in_its_sums_over_examples():
    """The documented limit: the layer rules pair the reordered layer's rows with other examples (unchecked), but
    sums over examples stay exact, and method="vmap" gives the gradients themselves."""
    torch.manual_seed(0)
    model, loss_fn = SortedInside().double(), nn.CrossEntropyLoss()
    x, y = torch.randn(10, 4, dtype=torch.float64), torch.randint(0, 3, (10,))
    expected = loop_gradients(model, loss_fn, x, y)
    torch.testing.assert_close(per_example_gradients(model, loss_fn, (x, y), method="vmap"), expected)
    mean = expected.mean(0)
    noise = gradient_noise(model, loss_fn, (x, y), 2)
    assert noise.covariance_trace == pytest.approx(((expected - mean).square().sum() / 9).item(), rel=1e-10)
    assert noise.mean_grad_sq_norm == pytest.approx(mean.square().sum().item(), rel=1e-10)
