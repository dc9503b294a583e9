"""Random draws recorded for a batch and served again per example: the split by example, and the errors."""

import warnings

import pytest
import torch
from architectures import masked_loop_gradients
from torch import nn
from torch.func import vmap

from sgdnoise.instruments import per_example_gradients
from sgdnoise.instruments._draws import DrawRecorder, per_example


def test_a_draw_splits_by_example_along_the_one_dimension_that_holds_the_batch():
    n, heads, length = 3, 2, 4
    draw = torch.rand(n * heads, length, length)  # [n·heads, L, L], batch-major as in attention weights
    split = per_example(draw, n, (heads, length, length))
    torch.testing.assert_close(split, draw.view(n, heads, length, length), rtol=0, atol=0)
    seq_first = torch.rand(length, n, 5)  # [L, n, d]
    torch.testing.assert_close(per_example(seq_first, n, (length, 1, 5))[:, :, 0], seq_first.transpose(0, 1))
    shared = torch.rand(5)  # drawn once for all examples
    assert torch.equal(per_example(shared, n, (5,)), shared.expand(n, 5))
    with pytest.raises(ValueError, match="does not split into draws of shape"):
        per_example(torch.rand(7, 4), n, (2, 4))


def test_draws_are_served_again_in_order_under_vmap_and_one_example_at_a_time():
    n = 4
    recorder = DrawRecorder(iter(range(1, 100)).__next__, n)
    x = torch.randn(n, 6)
    with recorder:
        batched = torch.nn.functional.dropout(x, 0.5) + torch.randn(n, 6)
    draws = recorder.all()
    assert len(draws.tensors) == 2

    def one(xi: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.dropout(xi.unsqueeze(0), 0.5)[0] + torch.randn(1, 6)[0]

    with draws.replayed(1, 4, batched=True):
        again = vmap(one, randomness="different")(x[1:])
    torch.testing.assert_close(again, batched[1:], rtol=0, atol=0)
    with draws.replayed(2, 3, batched=False):
        torch.testing.assert_close(one(x[2]), batched[2], rtol=0, atol=0)
    with draws.replayed(0, 1, batched=False), pytest.raises(RuntimeError, match="more random numbers"):
        one(x[0]) + torch.rand(1)


def test_draws_vmap_merges_with_the_examples_or_makes_one_example_at_a_time_are_served_again():
    # multinomial's batching rule folds the examples into its first dimension; randperm's calls it per example
    n = 5
    recorder = DrawRecorder(iter(range(1, 100)).__next__, n)
    weights = torch.rand(n, 1, 7) + 0.1
    with recorder:
        picked, order = torch.multinomial(weights.squeeze(1), 7, replacement=True), torch.randperm(7)
    draws = recorder.all()

    def one(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.multinomial(w, 7, replacement=True)[0], torch.randperm(7)

    with draws.replayed(2, 5, batched=True):
        again, orders = vmap(one, randomness="different")(weights[2:])
    assert torch.equal(again, picked[2:])
    assert torch.equal(orders, order.expand(3, 7))  # one permutation drawn for all examples, served to each


class DrawsFromAllExamples(nn.Module):
    """Noise drawn for a shape that is not n times one example's: it cannot be split by example."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        noise = torch.rand(x.shape[0] + 1, 3)
        return (x * self.scale).sum(1, keepdim=True) + noise[: x.shape[0], :1].detach()


def test_a_draw_that_mixes_the_examples_is_one_clear_error():
    model = DrawsFromAllExamples().train()
    x, y = torch.randn(5, 3), torch.randn(5, 1)
    with pytest.raises(ValueError, match="eval mode"):
        per_example_gradients(model, nn.MSELoss(), (x, y), method="layers")


class HeadMajorDropout(nn.Module):
    """Dropout on a tensor that merges heads and examples head-major ([heads·n, d]): the mask cannot be split
    by example batch-major, so the re-computed gradients would be wrong."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [n, 2, 4]
        merged = (x * self.scale).transpose(0, 1).reshape(-1, 4)  # [2·n, 4], head-major
        dropped = nn.functional.dropout(merged, 0.5, self.training).reshape(2, -1, 4).transpose(0, 1)
        return dropped.sum((1, 2)).unsqueeze(1)


def test_gradients_re_computed_with_a_wrongly_split_draw_are_an_error_not_a_silent_number():
    torch.manual_seed(0)
    model = HeadMajorDropout().double().train()
    x, y = torch.randn(6, 2, 4, dtype=torch.float64), torch.randn(6, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="could not be served again example by example"):
        per_example_gradients(model, nn.MSELoss(), (x, y))
    model.eval()  # no draws: exact, as the message says
    assert per_example_gradients(model, nn.MSELoss(), (x, y)).shape == (6, 4)


class MonteCarloDropout(nn.Module):
    """Dropout drawn in eval mode too (``training=True``), on a parameter no layer rule covers."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, 4))
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(nn.functional.dropout(x * self.scale, 0.3, training=True))


def test_draws_are_served_again_whatever_the_module_mode():
    torch.manual_seed(0)
    model = MonteCarloDropout().double().eval()
    x, y = torch.randn(6, 4, dtype=torch.float64), torch.randint(0, 3, (6,))
    expected = masked_loop_gradients(model, nn.CrossEntropyLoss(), x, y, seed=2)
    torch.manual_seed(2)
    got = per_example_gradients(model, nn.CrossEntropyLoss(), (x, y))
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


class SmallBranch(nn.Module):
    """A large Linear path plus a branch scaled by 0.01 whose head-major dropout cannot be split by example:
    its parameters carry about 1% of the gradient."""

    def __init__(self):
        super().__init__()
        self.big, self.head = nn.Linear(8, 3), nn.Linear(8, 3)
        self.weight = nn.Parameter(0.3 * torch.randn(8, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        merged = x.reshape(n, 2, 4).transpose(0, 1).reshape(2 * n, 4)  # head-major
        h = nn.functional.dropout(merged, 0.5, self.training).reshape(2, n, 4).transpose(0, 1).reshape(n, 8)
        return 5 * self.big(x) + 0.01 * self.head(torch.tanh(h @ self.weight))


def test_the_sum_check_holds_each_parameter_to_its_own_gradients():
    torch.manual_seed(0)
    model = SmallBranch().double().train()
    x, y = torch.randn(6, 8, dtype=torch.float64), torch.randint(0, 3, (6,))
    with pytest.raises(ValueError, match=r"'weight'.*could not be served again example by example"):
        per_example_gradients(model, nn.CrossEntropyLoss(), (x, y))


class OwnStream(nn.Module):
    """Dropout from a generator the module holds, and a permutation and a multinomial draw from torch's, on
    parameters no layer rule covers."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, 8))
        self.head = nn.Linear(8, 3)
        self.generator = torch.Generator()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = torch.rand(x.shape, generator=self.generator) > 0.3
        h = (x * self.scale * keep)[:, torch.randperm(8)]
        picked = torch.multinomial(x.detach().abs() + 0.1, 8, replacement=True)
        return self.head(h + h.gather(1, picked))


def test_draws_from_a_module_held_generator_and_permutations_are_served_again():
    torch.manual_seed(0)
    model = OwnStream().double()
    x, y = torch.randn(6, 8, dtype=torch.float64), torch.randint(0, 3, (6,))
    model.generator.manual_seed(11)
    expected = masked_loop_gradients(model, nn.CrossEntropyLoss(), x, y, seed=4)
    model.generator.manual_seed(11)
    torch.manual_seed(4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # served under vmap, not by the one-example-at-a-time fallback
        got = per_example_gradients(model, nn.CrossEntropyLoss(), (x, y))
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


class UnservableNoise(nn.Module):
    """rrelu's random slopes or binomial noise (random operations that are not plain draws) on a parameter no
    layer rule covers."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self.scale = nn.Parameter(torch.linspace(-1, 1, 6))
        self.head = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x * self.scale
        if self.kind == "rrelu":
            h = nn.functional.rrelu(h, training=self.training)
        elif self.training:
            h = h * (1 + 0.02 * (torch.binomial(torch.full_like(h, 4.0), torch.full_like(h, 0.5)) - 2))
        return self.head(h)


@pytest.mark.parametrize("kind", ["rrelu", "binomial"])
def test_a_random_operation_that_cannot_be_served_again_is_one_clear_error_at_any_size(kind):
    # at 512 examples, 2% binomial noise kept the replayed sums within their tolerance: the operation itself
    # is refused when an example is re-computed through it
    torch.manual_seed(0)
    model = UnservableNoise(kind).double().train()
    x, y = torch.randn(512, 6, dtype=torch.float64), torch.randint(0, 3, (512,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # vmap has no batching rule for rrelu: the one-example loop refuses it
        with pytest.raises(ValueError, match=f"{kind}.*cannot be served again.*eval mode"):
            per_example_gradients(model, nn.CrossEntropyLoss(), (x, y))
    model.eval()  # the same model in eval mode is measured
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert per_example_gradients(model, nn.CrossEntropyLoss(), (x[:5], y[:5])).shape == (5, 27)


class SeededInForward(nn.Module):
    """Dropout from a generator made and seeded inside ``forward`` (its state never moves between passes), drawn
    features-first and transposed."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, 6))
        self.head = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        generator = torch.Generator().manual_seed(1234)
        keep = (torch.rand(x.shape[1], x.shape[0], generator=generator, dtype=x.dtype) > 0.5).T
        return self.head(x * self.scale * keep * 2)


def test_draws_from_a_generator_seeded_inside_forward_are_served_again():
    torch.manual_seed(0)
    model = SeededInForward().double().train()
    x, y = torch.randn(5, 6, dtype=torch.float64), torch.randint(0, 3, (5,))
    expected = masked_loop_gradients(model, nn.CrossEntropyLoss(), x, y, seed=0)
    got = per_example_gradients(model, nn.CrossEntropyLoss(), (x, y))
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
