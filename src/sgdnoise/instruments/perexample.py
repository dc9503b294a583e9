"""Per-example gradients and their norms from one forward and one backward pass, exact for shared weights.

For a loss reduced by the mean over n examples that do not interact (no batch norm in train mode), one backward
pass gives δ_i = n·∂L/∂y_i = ∂ℓ_i/∂y_i at the output y of every call that uses a parameter. A parameter used
several times per example (a head tied to the embedding, a module called twice, a layer shared across depth)
has the per-example gradient g_i = Σ_uses ∇^{use} ℓ_i: the contributions of its uses are summed per example
BEFORE any norm is taken.

Each use of a trainable parameter (an operation taking it and returning a tensor that requires grad, seen by a
``TorchFunctionMode`` while forward hooks keep the stack of module calls) is attributed to

1. the innermost module call whose module holds the parameter itself;
2. else, a functional ``F.linear(h, W, b)`` (e.g. a head tied to the embedding matrix);
3. else, the innermost module call whose module contains the parameter, unless another use of it is nested
   inside that call (its vector-Jacobian product would count that use twice);
4. else (or when a call's output is not computed from the model's input with the batch as leading dimension,
   or is modified in place): the parameter's per-example gradients come from ``torch.func.vmap`` of
   ``torch.func.grad`` over the whole model — exact, slower, never an approximation (a model vmap cannot batch
   — a recurrent layer, ``nn.RNNBase``; ``.item()``; a data-dependent shape — one example at a time, with a
   warning).

A call computed once for the whole batch, from nothing that holds examples, with leading dimension 1 (a
position embedding looked up with positions [1, T]) is broadcast: its output is expanded to one copy per
example, so its output gradient is per example. Which tensors hold examples is tracked through every
operation from the model's input, not guessed from shapes (positions [T] with T = n are not examples). That
the examples are the LEADING dimension is checked where a tensor has another dimension of size n (sequence
first, ``[L, n, d]`` with L = n): a pass on 2 examples must shrink exactly the leading dimensions, else the chunk
is measured in two halves, each checked the same way.

Contributions of a use, with a_{i,t} its input and δ_{i,t} its output gradient over the extra dimensions t:

* ``nn.Linear`` / ``F.linear``: ∇_W ℓ_i = Σ_t δ_{i,t} a_{i,t}ᵀ, ∇_b ℓ_i = Σ_t δ_{i,t};
  ``nn.Embedding``: ∇_E ℓ_i = Σ_t e_{k_{i,t}} δ_{i,t}ᵀ (one-hot rows e_k of the looked-up indices k).
  A weight's outer-product terms of all its uses are joined (K terms u_k v_kᵀ, W of shape r × c) and
  ‖g_i‖² = Σ_{k,l} (u_k·u_l)(v_k·v_l), the per-example Gram form (Goodfellow 2015: ‖a‖²‖δ‖² when K = 1), or
  g_i itself is formed when K(r + c) ≥ rc and it fits the budget.
* ``nn.LayerNorm``: ∇_γ ℓ_i = Σ_t δ_{i,t} ⊙ x̂_{i,t}, ∇_β ℓ_i = Σ_t δ_{i,t} (x̂ the normalised input), formed.
* ``nn.Conv2d`` (groups = 1, zero padding): the outer product over the unfolded input patches (im2col), formed.
* any other module, or one whose forward hooks changed its output (or with global forward hooks):
  ``torch.func.vmap`` of the vector-Jacobian product of that call alone — ``forward`` and its forward hooks, at
  its recorded inputs (after its forward pre-hooks) — with cotangent δ_i, formed.

Limit: rows are tracked as holding examples, not as WHICH example. A model that reorders its batch inside
``forward`` (sort, apply a layer, unsort) gets that layer's rows paired with other examples': sums over examples
(‖g_i‖² summed, Σ_i g_i) stay exact, per-example gradients do not, and no check here sees it (``method="vmap"``
in ``gradnoise`` runs each example alone).

Formed per-example gradients are held for at most ``budget`` elements at a time (examples in blocks), so no
[n, P] matrix exists unless the caller asks for the gradients themselves. When the forward pass draws random
numbers (dropout in train mode) and vmap re-computes examples, the draws are recorded and served again to each
example (``sgdnoise.instruments._draws``): every g_i is that of the same forward pass.
"""

import contextlib
import functools
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad
from torch.utils import _pytree as pytree

from sgdnoise.instruments._batches import (
    LossFn,
    forked_random_state,
    generator_states,
    holds_examples,
    math_attention,
    model_buffers,
    model_device_dtype,
)
from sgdnoise.instruments._contributions import (
    Contribution,
    Formed,
    OuterSum,
    closed_form,
    map_examples,
    row_gram,
    vjp_contributions,
)
from sgdnoise.instruments._draws import NO_DRAWS, DrawRecorder, Draws
from sgdnoise.instruments._mean_loss import checked_loss
from sgdnoise.instruments._uses import Call, Recorder, packed_sequences_refused

DEFAULT_BUDGET = 2**25  # elements of per-example gradients formed at once (128 MiB in float32)


@dataclass(frozen=True)
class LayerStatistics:
    """Per-example results of one chunk: ``sq_norms`` ‖∇ℓ_i‖² over all trainable parameters ``[n]``, and
    ``gradient_sum`` ``{name: Σ_i ∇ℓ_i}``."""

    sq_norms: Tensor
    gradient_sum: dict[str, Tensor]


# ----------------------------------------------------------------------------------------------------------
# combining the contributions of each parameter
# ----------------------------------------------------------------------------------------------------------
def _blocks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, max(1, size)):
        yield start, min(n, start + max(1, size))


def _gram_sq_norms(terms: list[OuterSum], n: int, budget: int) -> Tensor:
    """‖Σ_k u_k v_kᵀ‖² = Σ_{k,l} (u_k·u_l)(v_k·v_l) per example, over the joined terms of every use."""
    total_terms = sum(t.terms for t in terms)
    sq = terms[0].cols.new_zeros(n)
    for s, e in _blocks(n, budget // total_terms**2):
        for a in terms:
            for b in terms:
                rows = row_gram(a.rows[s:e], b.rows[s:e])
                sq[s:e] += (rows * (a.cols[s:e] @ b.cols[s:e].transpose(1, 2))).sum((1, 2))
    return sq


def _statistics_of(
    parts: list[Contribution], param: Tensor, n: int, budget: int, out: Tensor | None
) -> tuple[Tensor, Tensor]:
    """(‖g_i‖² [n], Σ_i g_i) of one parameter from the contributions of all its uses; with ``out`` ([n, *shape])
    the per-example gradients are also written into it. Outer-product sums give the norms by the Gram form when
    K(r + c) < rc or g_i exceeds the budget; else g_i is formed in blocks of examples under ``budget`` elements."""
    outer = [p for p in parts if isinstance(p, OuterSum)]
    shape, numel = param.shape, param.numel()
    outer_only = len(outer) == len(parts)
    # the Gram form's extra K²(r + c) per example runs as small dense products, while forming g_i writes r·c new
    # numbers per example and reads them twice (norm, sum): measured on this project's transformer LM, the Gram
    # form is the faster one while K(r + c) < rc; a g_i larger than the budget is never formed
    terms = sum(t.terms for t in outer)
    gram = outer_only and (terms * (shape[0] + numel // shape[0]) < numel or numel > budget)
    sq = _gram_sq_norms(outer, n, budget) if gram else param.new_zeros(n)
    total = outer[0].total(shape) if outer_only else torch.zeros_like(param)
    for term in outer[1:] if outer_only else ():
        total += term.total(shape)
    if gram and out is None:
        return sq, total
    footprint = max([numel, *(p.footprint for p in parts if isinstance(p, Formed))])
    for s, e in _blocks(n, budget // footprint):
        formed = parts[0].block(s, e, shape, into=out[s:e] if out is not None else None)
        for part in parts[1:]:
            formed += part.block(s, e, shape)
        if not gram:
            sq[s:e] = torch.linalg.vector_norm(formed.reshape(e - s, -1), dim=1).square()
        if not outer_only:
            total += formed.sum(0)
    return sq, total


def model_gradients(
    model: nn.Module,
    loss_fn: LossFn,
    x: Tensor,
    y: Tensor,
    params: Mapping[str, Tensor],
    *,
    draws: Draws = NO_DRAWS,
    first: int = 0,
) -> dict[str, Tensor]:
    """Per-example gradients ``{name: [n, *shape]}`` of ``params`` by ``torch.func.vmap`` of ``torch.func.grad``
    over the whole model (the exact path for any model whose examples do not interact). With ``draws`` (made by
    a forward pass over examples ``first``, ``first + 1``, … of which ``x`` is a slice) the model re-draws the
    same dropout masks; without, each example draws its own."""
    buffers = model_buffers(model)
    constants = {name: p.detach() for name, p in model.named_parameters()}  # no graph outside the transform
    detached = {name: p.detach() for name, p in params.items()}

    def example_loss(p: dict[str, Tensor], xi: Tensor, yi: Tensor) -> Tensor:
        return loss_fn(functional_call(model, ({**constants, **p}, buffers), (xi.unsqueeze(0),)), yi.unsqueeze(0))

    # torch's recurrent kernels (nn.GRU, nn.RNN, float64 nn.LSTM) have no batching rule: one example at a time
    recurrent = any(isinstance(m, nn.RNNBase) for m in model.modules())
    with math_attention(), _renormed_beforehand(model, x), packed_sequences_refused(model):
        return map_examples(
            functools.partial(grad(example_loss), detached), (x, y), first, draws, vmappable=not recurrent
        )


@contextlib.contextmanager
def _renormed_beforehand(model: nn.Module, x: Tensor) -> Iterator[None]:
    """For embeddings with ``max_norm``: the rows ``x`` looks up renormalised in place by one forward pass, as the
    model does, then ``max_norm`` off inside the block (the transforms forbid writing a captured tensor; renorming
    a renormed row changes nothing, and the renorm is not differentiated)."""
    capped = [m for m in model.modules() if isinstance(m, nn.Embedding | nn.EmbeddingBag) and m.max_norm is not None]
    if not capped:
        yield
        return
    device, _ = model_device_dtype(model)
    with torch.no_grad(), forked_random_state(device):
        model(x)
    norms = [(m, m.max_norm) for m in capped]
    try:
        for m in capped:
            m.max_norm = None
        yield
    finally:
        for m, max_norm in norms:
            m.max_norm = max_norm


def _own_generators(model: nn.Module) -> list[torch.Generator]:
    """The ``torch.Generator`` objects the model's modules hold as attributes (a dropout with its own stream)."""
    return [
        value for module in model.modules() for value in vars(module).values() if isinstance(value, torch.Generator)
    ]


def _generator_states(model: nn.Module, device: torch.device) -> list[Tensor]:
    """The states of the generators a forward pass of ``model`` on ``device`` may draw from: torch's (the CPU's,
    and the accelerator's) and those its modules hold."""
    return generator_states(device) + [generator.get_state() for generator in _own_generators(model)]


def _drew(model: nn.Module, device: torch.device, before: list[Tensor]) -> bool:
    """Whether anything drew random numbers since the generators were in the states ``before``."""
    return any(not torch.equal(a, b) for a, b in zip(_generator_states(model, device), before, strict=True))


def _set_generator_states(model: nn.Module, device: torch.device, states: list[Tensor]) -> None:
    torch.set_rng_state(states[0])
    if device.type != "cpu":
        torch.get_device_module(device.type).set_rng_state(states[1], device)
    for generator, state in zip(_own_generators(model), states[2 if device.type != "cpu" else 1 :], strict=True):
        generator.set_state(state)


def _per_example_tensors(call: Call) -> list[Tensor]:
    """The tensors holding examples that a call read and wrote."""
    leaves = pytree.tree_leaves((call.args, call.kwargs))
    return [call.output, *(leaves[i] for i in call.per_example)]


@dataclass
class _Forward:
    """One recorded forward pass over a chunk: its outputs, the calls whose contributions come from their
    output gradients, the parameters left to the whole-model vmap (``exact``), and its random draws when they
    were recorded."""

    outputs: object
    calls: list[Call]
    exact: set[int]
    generators: list[Tensor]
    draw_recorder: DrawRecorder | None
    n: int  # examples
    drew_from_a_generator: bool

    @classmethod
    def record(cls, model: nn.Module, x: Tensor, names: Mapping[int, str], n: int, *, draws: bool) -> "_Forward":
        """The pass over x; made again without expanding shared outputs when expanding one changed the pass
        (``Recorder``: it was used otherwise than broadcast against the examples, returned, or the pass failed)."""
        generators = _generator_states(model, x.device)
        try:
            forward, recorder = cls._record(model, x, names, n, draws=draws, expand_shared=True)
            returned = any(recorder.is_expanded(t) for t in pytree.tree_leaves(forward.outputs))
            if not (recorder.expanded_any and (recorder.expansion_changed_the_pass or returned)):
                return forward
        except Exception:  # the same pass without expanding raises it again if expanding was not the cause
            pass
        _set_generator_states(model, x.device, generators)
        return cls._record(model, x, names, n, draws=draws, expand_shared=False)[0]

    @classmethod
    def _record(
        cls, model: nn.Module, x: Tensor, names: Mapping[int, str], n: int, *, draws: bool, expand_shared: bool
    ) -> tuple["_Forward", Recorder]:
        recorder = Recorder(model, names, n, expand_shared=expand_shared)
        recorder.mark_batched(x)
        draw_recorder = DrawRecorder(recorder.tick, n) if draws else None
        # attention with dropout runs in its math form, where its mask is a plain draw (the recorder sees
        # F.scaled_dot_product_attention, but not the call inside nn.MultiheadAttention)
        attention_dropout = any(
            isinstance(m, nn.MultiheadAttention) and m.training and m.dropout > 0 for m in model.modules()
        )
        generators = _generator_states(model, x.device)
        try:
            with (
                recorder,
                draw_recorder or contextlib.nullcontext(),
                math_attention() if attention_dropout else contextlib.nullcontext(),
            ):
                outputs = model(x)
        finally:
            recorder.remove_hooks()
        exact = set(recorder.exact_path)
        responsible: dict[int, list[Call]] = defaultdict(list)
        for call in recorder.calls:
            if call.output._version != call.version:
                exact.update(id(p) for p in call.params.values())
            for p in call.params.values():
                responsible[id(p)].append(call)
        for key, owners in responsible.items():
            if any(a.contains(b) for a in owners for b in owners if a is not b):
                exact.add(key)
        calls = [c for c in recorder.calls if any(id(p) not in exact for p in c.params.values())]
        return cls(outputs, calls, exact, generators, draw_recorder, n, recorder.drew_from_a_generator), recorder

    def drew(self, model: nn.Module, device: torch.device) -> bool:
        """Whether the pass drew random numbers: the generators moved on, or one was passed to an operation (a
        generator made or re-seeded inside ``forward`` ends where it started)."""
        return self.drew_from_a_generator or _drew(model, device, self.generators)

    def sizes(self) -> set[int]:
        """Every dimension but the first (the examples') of the tensors holding examples that the calls read
        and write."""
        return {size for call in self.calls for t in _per_example_tensors(call) for size in t.shape[1:]}

    def examples_lead(self, model: nn.Module, x: Tensor, names: Mapping[int, str]) -> bool:
        """Whether the examples are the leading dimension of every tensor holding examples that the calls read
        and write (all have n leading). Certain unless such a tensor has another dimension of size n (a
        sequence-first ``[L, n, d]`` with L = n reads like examples first); then the same pass on k < n examples
        (k = 2, or 1) must shrink exactly those leading dimensions to k."""
        n = self.n
        if n == 1 or n not in self.sizes():
            return True
        k = 2 if n > 2 else 1
        states = _generator_states(model, x.device)
        probe = _Forward.record(model, x[:k], names, k, draws=False)
        _set_generator_states(model, x.device, states)
        if len(probe.calls) != len(self.calls):
            return False
        for call, small in zip(self.calls, probe.calls, strict=True):
            tensors, smaller = _per_example_tensors(call), _per_example_tensors(small)
            if len(tensors) != len(smaller) or any(
                tuple(u.shape) != (k, *t.shape[1:]) for t, u in zip(tensors, smaller, strict=True)
            ):
                return False
        return True

    def recomputes(self) -> bool:
        """Whether vmap re-computes examples: a whole-model fallback, or a call without a layer rule."""
        return bool(self.exact) or any(closed_form(call) is None for call in self.calls)

    def replayed(self) -> set[int]:
        """Ids of the parameters whose per-example gradients vmap re-computes in a pass that drew random numbers
        (served again where recorded: a random operation the recorder does not know, rrelu, is caught by the
        check of their sums)."""
        if self.draw_recorder is None:
            return set()
        return self.exact | {id(p) for c in self.calls if closed_form(c) is None for p in c.params.values()}

    def draws(self, call: Call | None = None) -> Draws:
        """The recorded draws of the whole pass, or of one call."""
        if self.draw_recorder is None:
            return NO_DRAWS
        return self.draw_recorder.all() if call is None else self.draw_recorder.between(call.start, call.stop)


def _check_sums(
    batch: Mapping[str, Tensor | None], gradient_sum: Mapping[str, Tensor], scales: Mapping[str, float], replayed: bool
) -> None:
    """Per-example gradients must sum to the batch gradient, parameter by parameter: a layer that mixes the
    examples of a batch (a hand-written batch norm), or a draw split by example wrongly (a dimension merging the
    batch with another one other than batch-major) when draws were served again (``replayed``), is an error, not
    a silently wrong g_i. Tolerance: 1e-3 (more for half precision) of the parameter's Σ_i ‖g_i‖ (``scales``), and
    at least 30 ε of the whole model's (a gradient that is zero but for rounding, as a key bias's in attention)."""
    overall = sum(scales.values())
    for name, g in batch.items():
        total = gradient_sum[name]
        gap = float(torch.linalg.vector_norm(total - (torch.zeros_like(total) if g is None else g)))
        eps = torch.finfo(total.dtype).eps
        tolerance = max(max(1e-3, 30 * eps) * scales[name], 30 * eps * overall)
        if gap > tolerance:
            draws = (
                "; or the model's random draws could not be served again example by example (a draw split wrongly, "
                "or a random operation other than a plain draw, such as rrelu): measure it in eval mode "
                "(train_mode=False)"
                if replayed
                else ""
            )
            raise ValueError(
                f"the per-example gradients of {name!r} sum to {gap:.3g} away from the batch gradient (tolerance "
                f"{tolerance:.3g}): a layer mixes the examples of a batch (a hand-written batch norm, statistics "
                f"over the batch), so no example has a gradient of its own{draws}"
            )


EXAMPLES_RTOL = 1e-4  # outputs on k examples alone vs in the batch, relative to the output's largest entry
EXAMPLES_RTOL_IN_EPS = 50  # … at least this many ε of the output's dtype (half precision)


def check_examples_independent(model: nn.Module, x: Tensor, outputs: object = None) -> None:
    """The model's ``outputs`` on the chunk ``x`` (of a pass that drew no random numbers; None: such a pass made
    here, the check skipped if it draws) for its first k examples (2, or 1) must be what it gives on those k
    alone: else a layer mixes the examples of a batch (``h - h.mean(0)``, a hand-written batch norm) and an
    example has no gradient of its own. Outputs are paired by their place in the output's structure; one whose
    shape on k examples is not k rows of the batch's (``.squeeze()`` on one example) or that is not finite (the loss
    check names a diverged model) is not compared, nor is any
    when the pass on k examples changes the model's buffers (a forward that updates its own state, such as the
    old ``spectral_norm`` in train mode: the two passes did not see the same model; the buffers are restored).
    Blind to a model that permutes its batch and restores the order (the module docstring's limit)."""
    n = x.shape[0]
    if n < 2:
        return
    k = 2 if n > 2 else 1
    states = _generator_states(model, x.device)
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    try:
        with torch.no_grad():
            if outputs is None:
                outputs = model(x)
                if _drew(model, x.device, states):
                    return
            alone = model(x[:k])
    except Exception as error:
        raise ValueError(
            f"the model fails on {k} of a chunk's {n} examples alone ({type(error).__name__}: {error}): its examples "
            "are not independent (statistics over the batch?), so an example has no gradient of its own"
        ) from error
    finally:
        _set_generator_states(model, x.device, states)
        changed = {name for name, b in model.named_buffers() if not torch.equal(b, buffers[name])}
        with torch.no_grad():
            for name, b in model.named_buffers():
                if name in changed:
                    b.copy_(buffers[name])
    if changed:
        return
    batched, small = pytree.tree_leaves(outputs), pytree.tree_leaves(alone)
    if len(batched) != len(small):
        return
    for full, part in zip(batched, small, strict=True):
        if not (holds_examples(full, n) and isinstance(part, Tensor) and part.shape == (k, *full.shape[1:])):
            continue
        full, part = full[:k].detach(), part.detach()
        if full.is_floating_point() and not bool(torch.isfinite(full).all()):
            continue  # a diverged model: the loss's check names it
        if not full.is_floating_point():
            same = torch.equal(full, part)
        elif full.numel():
            rtol = max(EXAMPLES_RTOL, EXAMPLES_RTOL_IN_EPS * torch.finfo(full.dtype).eps)
            same = float((full - part).abs().max()) <= rtol * max(float(full.abs().max()), 1e-12)
        else:
            same = True
        if not same:
            raise ValueError(
                f"the model's output for {k} example(s) changes when the rest of the batch is left out: a layer "
                "mixes the examples of a batch (statistics over the batch such as h - h.mean(0), a hand-written "
                "batch norm), so an example has no gradient of its own"
            )


def _split_statistics(
    model: nn.Module,
    loss_fn: LossFn,
    x: Tensor,
    y: Tensor,
    names: Mapping[int, str],
    out: Mapping[str, Tensor] | None,
    budget: int,
) -> LayerStatistics:
    """The statistics of a chunk of n examples whose examples are not the leading dimension of every tensor (a
    sequence-first layout with as many steps as examples reads as examples first), from its two halves: with
    fewer examples than steps, each half is measured as any chunk is (its own check, and split again if need be)."""
    n = y.shape[0]
    parts = [
        layer_statistics(
            model, loss_fn, x[s:e], y[s:e], names, out=None if out is None else {k: v[s:e] for k, v in out.items()},
            budget=budget,
        )
        for s, e in _blocks(n, (n + 1) // 2)
    ]  # fmt: skip
    total = {name: sum(part.gradient_sum[name] for part in parts) for name in parts[0].gradient_sum}
    return LayerStatistics(torch.cat([part.sq_norms for part in parts]), total)


def layer_statistics(
    model: nn.Module,
    loss_fn: LossFn,
    x: Tensor,
    y: Tensor,
    names: Mapping[int, str],
    *,
    out: Mapping[str, Tensor] | None = None,
    budget: int = DEFAULT_BUDGET,
) -> LayerStatistics:
    """Per-example gradient norms and sums of one chunk (see the module docstring); with ``out``
    (``{name: [n, *shape]}``, e.g. views into one [n, P] buffer) also the per-example gradients, written into it.

    ``names`` maps ``id(parameter)`` to its name for every trainable parameter. The model must already be in
    the mode to evaluate (batch norm in eval mode).
    """
    n = y.shape[0]
    forward = _Forward.record(model, x, names, n, draws=False)
    if not forward.examples_lead(model, x, names):
        return _split_statistics(model, loss_fn, x, y, names, out, budget)
    drew = forward.drew(model, x.device)
    if forward.recomputes() and drew:
        # it drew random numbers (dropout) that vmap must see again: the same pass, recording them
        _set_generator_states(model, x.device, forward.generators)
        forward = _Forward.record(model, x, names, n, draws=True)
    if not drew:  # a pass with random draws cannot be compared (the sums below check it); before the loss, which
        check_examples_independent(model, x, forward.outputs)  # may write into the outputs it is given
    loss = checked_loss(loss_fn, forward.outputs, y)
    calls, exact = forward.calls, forward.exact
    by_id = {id(p): p for p in model.parameters() if id(p) in names}
    # on a pass that drew random numbers (which the outputs could not check), the batch gradients: the per-example
    # gradients must sum to them (but an embedding that scales its rows' gradients by the tokens' counts in the
    # batch, where an example's gradient counts its own tokens)
    by_count = {
        id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding | nn.EmbeddingBag) and m.scale_grad_by_freq
    }
    every = [p for key, p in by_id.items() if key not in by_count] if drew else []
    wanted = [c.output for c in calls] + every
    found_grads = torch.autograd.grad(loss * n, wanted, allow_unused=True) if wanted else ()
    deltas, batch_sums = found_grads[: len(calls)], found_grads[len(calls) :]
    parts: dict[int, list[Contribution]] = defaultdict(list)
    for call, delta in zip(calls, deltas, strict=True):
        delta = torch.zeros_like(call.output) if delta is None else delta.detach()
        rule = closed_form(call)
        found = rule(delta) if rule is not None else vjp_contributions(call, delta, forward.draws(call))
        for local, contribution in found.items():
            if id(call.params[local]) not in exact:
                parts[id(call.params[local])].append(contribution)
    sq_norms = x.new_zeros(n, dtype=loss.dtype)
    gradient_sum: dict[str, Tensor] = {}
    scales: dict[str, float] = defaultdict(float)  # Σ_i ‖g_i‖ of each parameter
    for key, contributions in parts.items():
        name = names[key]
        target = out[name] if out is not None else None
        sq, gradient_sum[name] = _statistics_of(contributions, by_id[key].detach(), n, budget, target)
        sq_norms = sq_norms + sq
        scales[name] = float(sq.sqrt().sum())
    fallback = {names[key]: by_id[key] for key in exact}
    if fallback:
        size = max(1, budget // sum(p.numel() for p in fallback.values()))
        made = forward.draws()
        for s, e in _blocks(n, size):
            grads = model_gradients(model, loss_fn, x[s:e], y[s:e], fallback, draws=made, first=s)
            for name, g in grads.items():
                sq = g.reshape(e - s, -1).square().sum(1)
                sq_norms[s:e] += sq
                scales[name] += float(sq.sqrt().sum())
                gradient_sum[name] = g.sum(0) + gradient_sum.get(name, 0)
                if out is not None:
                    out[name][s:e].copy_(g)
    for key in by_id.keys() - parts.keys() - exact:  # trainable parameters the loss does not depend on
        gradient_sum[names[key]] = torch.zeros_like(by_id[key])
        if out is not None:
            out[names[key]].zero_()
    _check_sums(
        {names[id(p)]: g for p, g in zip(every, batch_sums, strict=True)},
        gradient_sum,
        scales,
        bool(forward.replayed()),
    )
    return LayerStatistics(sq_norms.detach(), {k: v.detach() for k, v in gradient_sum.items()})
