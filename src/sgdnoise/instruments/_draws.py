"""The random numbers a batched forward pass draws (dropout masks), recorded and served again per example.

Per-example gradients that ``torch.func.vmap`` re-computes (a module no closed form covers, or the whole model)
must see the masks the batched forward pass drew, not fresh ones: the closed forms use that pass's activations,
and its output gradients δ_i. ``DrawRecorder`` keeps, in order, every tensor a seeded random operation draws
while it is active (``aten.bernoulli_`` under CPU dropout, ``aten.native_dropout``'s mask on CUDA, ``rand``,
``normal_``, …), each stamped by a clock shared with the module-call recorder. ``Draws.replayed`` serves
those tensors again, in the same order, cut to the examples being re-computed: a draw of shape S_n for n examples
and S_1 for one example differs in one dimension d, where S_n[d] = n·S_1[d] (batch-major, as in
``[n·heads, L, L]`` attention weights); a draw without the batch (S_n = S_1) is the same for every example.
Both work at the dispatcher, below autograd and every ``torch.func`` transform, so they see the draws inside
any module (``nn.MultiheadAttention``'s attention dropout) and, under ``vmap``, tensors with the examples as
leading dimension. Random operations that are not plain draws (``rrelu``, ``binomial``, Dirichlet samples) are
refused when an example is re-computed through them.
"""

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch._ops import OpOverload
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

_DRAWS = frozenset(
    {
        aten.bernoulli,
        aten.bernoulli_,
        aten.rand,
        aten.rand_like,
        aten.randn,
        aten.randn_like,
        aten.randint,
        aten.randint_like,
        aten.normal,
        aten.normal_,
        aten.uniform,
        aten.uniform_,
        aten.exponential,
        aten.exponential_,
        aten.geometric,
        aten.geometric_,
        aten.log_normal,
        aten.log_normal_,
        aten.cauchy,
        aten.cauchy_,
        aten.poisson,
        aten._standard_gamma,
        aten.multinomial,
        aten.randperm,
        aten.random,
        aten.random_,
    }
)


# random operations whose draws are not a tensor this module can record and serve again: re-computing an example
# through one of them is an error, never fresh random numbers
_CANNOT_SERVE = frozenset(
    {
        aten.rrelu_with_noise,
        aten.rrelu_with_noise_,
        aten.rrelu_with_noise_functional,
        aten.binomial,
        aten._sample_dirichlet,
    }
)


def _is_in_place(func: OpOverload) -> bool:
    return func.overloadpacket.__name__.endswith("_")


@dataclass(frozen=True)
class Draws:
    """The random draws a forward pass over ``n`` examples made, in order."""

    tensors: tuple[Tensor, ...] = ()
    n: int = 1
    recorded: bool = True  # False: the pass drew nothing, so there is nothing to serve again

    def replayed(self, start: int, stop: int, *, batched: bool) -> contextlib.AbstractContextManager:
        """A block in which the same draws are served again for examples ``start:stop``: ``batched`` inside
        ``vmap`` over those examples, else one example (``stop = start + 1``) re-run on its own."""
        if not self.recorded:
            return contextlib.nullcontext()
        return _Replay(self.tensors, self.n, start, stop, batched)


NO_DRAWS = Draws(recorded=False)


class DrawRecorder(TorchDispatchMode):
    """Records every random draw made while active, for ``n`` examples, with a ``clock()`` stamp."""

    def __init__(self, clock: Callable[[], int], n: int):
        super().__init__()
        self._clock, self._n = clock, n
        self._stamped: list[tuple[int, Tensor]] = []

    def __torch_dispatch__(
        self, func: OpOverload, types: tuple, args: tuple = (), kwargs: dict | None = None
    ) -> object:
        result = func(*args, **(kwargs or {}))
        if func.overloadpacket is aten.native_dropout:
            self._stamped.append((self._clock(), result[1].clone()))
        elif func.overloadpacket in _DRAWS:
            self._stamped.append((self._clock(), (args[0] if _is_in_place(func) else result).clone()))
        return result

    def between(self, start: int, stop: int) -> Draws:
        """The draws made after stamp ``start`` and before ``stop`` (inside one module call)."""
        return Draws(tuple(t for stamp, t in self._stamped if start < stamp < stop), self._n)

    def all(self) -> Draws:
        return Draws(tuple(t for _, t in self._stamped), self._n)


def per_example(draw: Tensor, n: int, example_shape: Sequence[int]) -> Tensor:
    """``[n, *example_shape]``: the part of each of n examples in a draw made for all of them at once."""
    full, one = tuple(draw.shape), tuple(example_shape)
    if full == one:
        return draw.expand(n, *full)
    differing = [d for d in range(len(full)) if full[d] != one[d]] if len(full) == len(one) else []
    if len(differing) != 1 or full[differing[0]] != n * one[differing[0]]:
        raise ValueError(
            f"a random draw of shape {list(full)} for {n} examples does not split into draws of shape {list(one)} "
            "per example (a model whose random draws mix the examples): measure it in eval mode "
            "(train_mode=False)"
        )
    d = differing[0]
    return draw.unflatten(d, (n, one[d])).movedim(d, 0)


# draws vmap (randomness="different") makes by calling the operation once per example, in turn
_LOOPED_UNDER_VMAP = frozenset({aten.randperm})


def _batched_part(draw: Tensor, n: int, start: int, stop: int, shape: Sequence[int]) -> Tensor:
    """Examples ``start:stop`` of a draw made for n examples, laid out as vmap asks for them: ``shape`` is
    ``[examples, *example_shape]``, or that with the examples merged into the first dimension (a batching rule
    that flattens them, as multinomial's does)."""
    full, count = tuple(draw.shape), stop - start
    candidates = [full, *((*full[:d], full[d] // n, *full[d + 1 :]) for d in range(len(full)) if full[d] % n == 0)]
    for one in candidates:
        if tuple(shape) == (count, *one) or (one and tuple(shape) == (count * one[0], *one[1:])):
            return per_example(draw, n, one)[start:stop].reshape(shape)
    raise ValueError(
        f"a random draw of shape {list(full)} for {n} examples is asked for under vmap as {list(shape)} for "
        f"{count}: it does not split by example; measure the model in eval mode (train_mode=False)"
    )


class _Replay(TorchDispatchMode):
    """Serves recorded draws in order: one example's part when it is re-run alone; under ``vmap``, the
    examples' parts at once, or, for an operation vmap calls once per example, each example's part in turn."""

    def __init__(self, draws: Sequence[Tensor], n: int, start: int, stop: int, batched: bool):
        super().__init__()
        self._draws = list(draws)
        self._n, self._start, self._stop, self._batched = n, start, stop, batched
        self._looped = 0  # examples already served the head draw, one call each

    def _next(self, func: OpOverload, shape: torch.Size) -> Tensor:
        if not self._draws:
            raise RuntimeError(
                "the model drew more random numbers when re-run for one example than in its forward pass"
            )
        if not self._batched:
            return per_example(self._draws.pop(0), self._n, shape)[self._start]
        if func.overloadpacket not in _LOOPED_UNDER_VMAP:
            return _batched_part(self._draws.pop(0), self._n, self._start, self._stop, shape)
        part = per_example(self._draws[0], self._n, shape)[self._start + self._looped]
        self._looped += 1
        if self._looped == self._stop - self._start:
            self._draws.pop(0)
            self._looped = 0
        return part

    def __torch_dispatch__(
        self, func: OpOverload, types: tuple, args: tuple = (), kwargs: dict | None = None
    ) -> object:
        kwargs = kwargs or {}
        if func.overloadpacket in _CANNOT_SERVE:
            raise ValueError(
                f"the model draws random numbers with {func.overloadpacket.__name__}, which cannot be served again "
                "example by example: measure it in eval mode (train_mode=False)"
            )
        if func.overloadpacket is aten.native_dropout:
            x, p = args[0], args[1]
            mask = self._next(func, x.shape).to(torch.bool)
            return x * mask * (1.0 / (1.0 - p) if p < 1 else 0.0), mask
        if func.overloadpacket not in _DRAWS:
            return func(*args, **kwargs)
        if _is_in_place(func):
            target = args[0]
            return target.copy_(self._next(func, target.shape))
        result = func(*args, **kwargs)  # for its shape, dtype and device
        return result.copy_(self._next(func, result.shape))
