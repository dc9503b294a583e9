"""Private: the check every instrument makes of ``loss_fn`` (``checked_loss``): a scalar, finite, the MEAN over
examples of per-example losses that reach the model only through its outputs."""

import torch
from torch import Tensor
from torch.utils import _pytree as pytree

from sgdnoise.instruments._batches import LossFn, holds_examples, leading_examples


class NonFiniteLossError(ValueError):
    """The loss is NaN or infinite at the model's parameters (a diverged run, or a loss_fn that gives NaN)."""


SINGLE_EXAMPLES_CHECKED = 8
GRADIENT_EXAMPLES_CHECKED = 4  # examples whose output gradients are compared (memory: a few copies of theirs)


def _blocks(n: int) -> list[list[tuple[int, int]]]:
    """The partitions of a batch of n on which a mean loss must equal the size-weighted mean of its blocks' losses:
    its halves, and its first ``SINGLE_EXAMPLES_CHECKED`` examples one by one with the rest as one block."""
    singles = min(n, SINGLE_EXAMPLES_CHECKED)
    ones = [(i, i + 1) for i in range(singles)] + ([(singles, n)] if singles < n else [])
    return [[(0, n // 2), (n // 2, n)], ones]


def _detached(tree: object) -> object:
    """``tree`` with every tensor in it detached (cut from the model's graph)."""
    return pytree.tree_map(lambda t: t.detach() if isinstance(t, Tensor) else t, tree)


def _free_outputs(outputs: object, start: int, stop: int, n: int) -> tuple[object, list[Tensor]]:
    """Examples ``start:stop`` of ``outputs`` (as ``leading_examples``), each floating tensor of them computed from a
    detached leaf that requires grad (no graph back into the model; a loss may still write into what it is given),
    and those leaves: the same number, in the same order, for every block of the batch."""
    leaves, spec = pytree.tree_flatten(_detached(outputs))
    free: list[Tensor] = []
    given = []
    for leaf in leaves:
        if holds_examples(leaf, n):
            part = leaf[start:stop]
            if part.is_floating_point():
                free.append(part.requires_grad_())
                part = free[-1].clone()
            leaf = part
        given.append(leaf)
    return pytree.tree_unflatten(given, spec), free


def _scaled_block_losses(
    loss_fn: LossFn, outputs: object, targets: Tensor, blocks: list[tuple[int, int]], n: int
) -> tuple[list[Tensor], list[list[Tensor]]]:
    """n_b·L_b for the blocks b of the batch, each computed from leaves of its own (``_free_outputs``) with grad
    enabled, under ``torch.no_grad()`` too; and those leaves, block by block."""
    with torch.enable_grad():
        per_block = [_free_outputs(outputs, start, stop, n) for start, stop in blocks]
        values = [
            (stop - start) * loss_fn(block, targets[start:stop])
            for (start, stop), (block, _) in zip(blocks, per_block, strict=True)
        ]
    return values, [leaves for _, leaves in per_block]


def _same_output_gradients(
    whole: tuple[list[Tensor], list[list[Tensor]]], parts: tuple[list[Tensor], list[list[Tensor]]]
) -> bool:
    """Whether n·∂L/∂o_i = n_b·∂L_b/∂o_i for every example i of every block b (``whole``, ``parts``: the
    ``_scaled_block_losses`` of the batch as one block and in blocks), to 8 eps of the gradients' dtype (relative,
    and times the largest entry). For a mean both are ∂ℓ_i/∂o_i up to the rounding of n/n and n_b/n_b, however
    spread the examples' losses; a weighted mean scales example i's by n·w_i/Σw against n_b·w_i/Σ_b w. True if the
    loss needs no gradient of the outputs. One backward pass over per-block leaves."""
    (whole_values, (whole_leaves,)), (part_values, part_leaves) = whole, parts
    leaves = [*whole_leaves, *(leaf for block in part_leaves for leaf in block)]
    with torch.enable_grad():  # under torch.no_grad() too
        total = sum(whole_values) + sum(part_values)
    if not leaves or not total.requires_grad:
        return True
    grads = torch.autograd.grad(total, leaves, materialize_grads=True)
    width = len(whole_leaves)
    for i, b in enumerate(grads[:width]):
        a = torch.cat(grads[width + i :: width])
        rtol = 8 * torch.finfo(b.dtype).eps
        if not torch.allclose(a, b, rtol=rtol, atol=rtol * float(b.abs().max()) if b.numel() else 0.0):
            return False
    return True


def _detached_block_losses(
    loss_fn: LossFn, outputs: object, targets: Tensor, blocks: list[tuple[int, int]], n: int
) -> list[Tensor]:
    """n_b·L_b for the blocks b of the batch, the outputs detached but grad enabled (under ``torch.no_grad()``
    too): a loss that still needs a gradient reads tensors besides the outputs."""
    with torch.enable_grad():
        return [
            (stop - start) * loss_fn(_detached(leading_examples(outputs, start, stop, n)), targets[start:stop])
            for start, stop in blocks
        ]


def _reads_only_outputs(values: list[Tensor]) -> None:
    """A ValueError if a loss of detached outputs needs a gradient: it reads the model's parameters (or others)."""
    if any(value.requires_grad for value in values):
        raise ValueError(
            "loss_fn depends on tensors that require grad besides the model's outputs (a penalty or a learnable "
            "loss weight read from model.parameters(), a loss module's own parameters): the instruments "
            "differentiate only through model(x), so they would leave those terms out. loss_fn may depend on the "
            "model only through its outputs; for weight decay, leave the penalty out and pass l2= to "
            "hessian_eigenvalues or critical_learning_rate"
        )


def _mean_of_blocks(loss: Tensor, scaled: list[Tensor], outputs: object, targets: Tensor) -> None:
    """A ValueError unless the batch's loss is Σ_b n_b·L_b/n (``scaled``: the n_b·L_b) to a relative
    max(1e-3, 16 eps) of its dtype (sums round)."""
    parts = sum(value.detach() for value in scaled) / targets.shape[0]
    if not torch.isclose(parts, loss.detach(), rtol=max(1e-3, 16 * torch.finfo(loss.dtype).eps), atol=1e-7):
        raise _not_a_mean(
            f"the loss of a batch ({float(loss.detach()):.6g}) is not the size-weighted mean of its {len(scaled)} "
            f"blocks' losses ({float(parts):.6g})",
            outputs,
            targets,
        )


def _not_examples_first(outputs: object, n: int, error: Exception | None = None) -> ValueError:
    """The refusal of outputs whose leading dimension is not the examples (``error``: loss_fn's on the halves)."""
    shapes = ", ".join(str(tuple(t.shape)) for t in pytree.tree_leaves(outputs) if isinstance(t, Tensor))
    failed = f"; loss_fn failed on the first {n // 2} of them: {type(error).__name__}: {error}" if error else ""
    return ValueError(
        f"the instruments need model outputs with the examples along their leading dimension ({n} in this chunk; "
        f"got outputs of shape {shapes or 'none'}{failed}): they evaluate loss_fn on slices of the examples. Return "
        "e.g. logits [n, T, V], not flattened to [n·T, V] nor sequence-first [T, n, V] (wrap the model in an "
        "nn.Module whose forward reshapes them), and flatten or transpose inside loss_fn"
    )


def _not_a_mean(differs: str, outputs: object, targets: Tensor) -> ValueError:
    """The refusal of a loss that is not a mean of per-example losses; first, floating targets broadcast against
    an output across examples (MSE of outputs (n, 1) against targets (n,) averages all n² pairs)."""
    for leaf in pytree.tree_leaves(outputs):
        if isinstance(leaf, Tensor) and leaf.is_floating_point() and targets.is_floating_point():
            try:
                numel = torch.broadcast_shapes(leaf.shape, targets.shape).numel()
            except RuntimeError:
                continue
            if numel > max(leaf.numel(), targets.numel()):
                return ValueError(
                    f"loss_fn broadcasts the model's output of shape {tuple(leaf.shape)} against targets of shape "
                    f"{tuple(targets.shape)}, pairing every example's output with every example's target: give "
                    "them one shape, e.g. model(x).squeeze(-1) or y.unsqueeze(-1)"
                )
    return ValueError(
        f"loss_fn must be the MEAN of the per-example losses (e.g. reduction='mean'): {differs}. A sum is not, nor "
        "a mean that weights examples unequally: targets left out (ignore_index padding) or class weight= under a "
        "mean over all targets; average each example's own loss instead (reduction='none', then each example's "
        "mean, then the mean over examples)"
    )


def checked_loss(loss_fn: LossFn, outputs: object, targets: Tensor, *, finite: bool = True) -> Tensor:
    """``loss_fn(outputs, targets)``, checked to be what every instrument assumes: the mean over examples of
    per-example losses that reach the model only through ``outputs``. So its value equals the size-weighted mean
    of its blocks' losses, L = Σ_b n_b·L_b/n, over two partitions of the batch (``_blocks``: halves; the first 8
    examples singly and the rest, unless ``loss_fn`` cannot take one example, e.g. ``o.squeeze()`` against
    targets of shape (1,)), to a relative max(1e-3, 16·eps) of the loss's dtype (sums round); and on the first
    ``GRADIENT_EXAMPLES_CHECKED`` examples (m) its gradients at the outputs agree, m·∂L_m/∂o_i = ∂ℓ_i/∂o_i (the
    halves of the m if ``loss_fn`` cannot take one example), to 8·eps of their dtype: this tells a weighted mean
    from a plain one whatever the spread of the examples' losses (near-uniform predictions, a zero-initialised
    head), at the memory of a few copies of m examples' outputs.

    A sum-reduced loss, a mean that weights examples unequally (targets left out by ``ignore_index`` under a mean
    over tokens, class ``weight=``), a loss with ``reduction='none'`` (not a scalar), a loss of detached outputs
    that still needs a gradient (it reads the model's parameters), and outputs without the examples leading are
    each a ValueError. Only ``loss_fn`` is evaluated again (on slices of ``outputs``, detached), the same way
    under ``torch.no_grad()``, so the check holds for models whose examples interact, such as batch norm in train
    mode. With ``finite``, a NaN or infinite loss is a ``NonFiniteLossError`` (a ValueError; the inputs are
    finite: ``Batches`` checks them); without it, it is returned (a blown-up point of a line in parameter space).
    """
    loss = loss_fn(outputs, targets)
    if not isinstance(loss, Tensor) or loss.dim() != 0:
        shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        raise ValueError(f"loss_fn must return a scalar tensor (the mean over the batch), got {shape}")
    if not bool(torch.isfinite(loss)):
        if finite:
            raise NonFiniteLossError(
                f"the loss is not finite ({float(loss.detach())}) at the model's parameters on a chunk of "
                f"{targets.shape[0]} examples: the parameters hold NaN/inf (a diverged run) or loss_fn gives "
                "NaN/inf on these targets"
            )
        return loss  # a non-finite loss has no halves to compare
    n = targets.shape[0]
    if n < 2:
        _reads_only_outputs(_detached_block_losses(loss_fn, outputs, targets, [(0, n)], n))
        return loss
    if not any(holds_examples(leaf, n) for leaf in pytree.tree_leaves(outputs)):
        raise _not_examples_first(outputs, n)
    halves, singles = _blocks(n)
    try:
        values = _detached_block_losses(loss_fn, outputs, targets, halves, n)
    except Exception as error:
        raise _not_examples_first(outputs, n, error) from error
    _reads_only_outputs(values)
    _mean_of_blocks(loss, values, outputs, targets)
    # the gradients on the first few examples alone: a copy of their outputs, not of the batch's (an LM's logits);
    # their single losses serve the value check of the singles too
    m = min(n, GRADIENT_EXAMPLES_CHECKED)
    head, head_targets = leading_examples(outputs, 0, m, n), targets[:m]
    blocks = [(i, i + 1) for i in range(m)]
    try:
        parts = _scaled_block_losses(loss_fn, head, head_targets, blocks, m)
        rest = _detached_block_losses(loss_fn, outputs, targets, singles[m:], n)
    except Exception:  # a loss that cannot take one example (o.squeeze() against targets of shape (1,)): halves only
        blocks = [(0, m // 2), (m // 2, m)]
        parts = _scaled_block_losses(loss_fn, head, head_targets, blocks, m)
    else:
        _mean_of_blocks(loss, [value.detach() for value in parts[0]] + rest, outputs, targets)
    whole = _scaled_block_losses(loss_fn, head, head_targets, [(0, m)], m)
    if not _same_output_gradients(whole, parts):
        raise _not_a_mean(
            f"the gradient of the loss of the first {m} examples at an example's outputs, times {m}, is not that of "
            f"its block's loss times the block's size ({len(blocks)} blocks)",
            outputs,
            targets,
        )
    return loss
