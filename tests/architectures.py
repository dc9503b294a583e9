"""Tiny models of today's architectures and the brute-force references the instruments are tested against.

Shared by the curvature, gradient-noise, per-example and monitor tests: a GPT-style language model (token
embedding, a position parameter, causal attention through ``F.scaled_dot_product_attention``, LayerNorm, GELU,
dropout, the output head tied to the embedding), an ``nn.TransformerEncoder`` classifier and a GroupNorm CNN.
"""

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from sgdnoise.models.transformer import TransformerBlock, next_token_loss


class TinyGPT(nn.Module):
    """GPT-style LM; the head reuses the embedding matrix (``F.linear(h, embedding.weight)``), the position
    table is a bare parameter of the model: two uses of one weight per example, one outside its module."""

    def __init__(
        self, vocab: int = 11, width: int = 8, heads: int = 2, layers: int = 1, context: int = 6, dropout: float = 0.0
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab, width)
        self.position = nn.Parameter(0.1 * torch.randn(context, width))
        self.blocks = nn.Sequential(*(TransformerBlock(width, heads, dropout) for _ in range(layers)))
        self.norm = nn.LayerNorm(width)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.forward_from(self.embedding(tokens) + self.position[: tokens.shape[1]])

    def forward_from(self, h: torch.Tensor) -> torch.Tensor:
        return F.linear(self.norm(self.blocks(h)), self.embedding.weight)


lm_loss = next_token_loss


def tiny_gpt(seed: int = 0, n: int = 6, context: int = 5, dtype: torch.dtype = torch.float64, **kwargs):
    torch.manual_seed(seed)
    model = TinyGPT(context=context, **kwargs).to(dtype).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    tokens = torch.randint(0, model.embedding.num_embeddings, (n, context + 1), generator=gen)
    return model, lm_loss, tokens[:, :-1], tokens[:, 1:]


class EncoderClassifier(nn.Module):
    def __init__(self, width: int = 8, classes: int = 3):
        super().__init__()
        layer = nn.TransformerEncoderLayer(width, nhead=2, dim_feedforward=12, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x).mean(1))


def transformer_encoder(seed: int = 0, n: int = 6, dtype: torch.dtype = torch.float64):
    torch.manual_seed(seed)
    model = EncoderClassifier().to(dtype).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(n, 4, 8, generator=gen, dtype=dtype)
    return model, nn.CrossEntropyLoss(), x, torch.randint(0, 3, (n,), generator=gen)


def groupnorm_cnn(seed: int = 0, n: int = 6, dtype: torch.dtype = torch.float64):
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.GroupNorm(2, 4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, stride=2),
        nn.GroupNorm(2, 4),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(4 * 2 * 2, 3),
    ).to(dtype)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(n, 2, 5, 5, generator=gen, dtype=dtype)
    return model, nn.CrossEntropyLoss(), x, torch.randint(0, 3, (n,), generator=gen)


ARCHITECTURES = {"tiny_gpt": tiny_gpt, "transformer_encoder": transformer_encoder, "groupnorm_cnn": groupnorm_cnn}


class _Square(torch.autograd.Function):
    """x², written the old way (forward takes ctx; no setup_context): torch.func cannot transform it."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return 2 * x * grad


class OldStyleFunction(nn.Module):
    """Linear → x² by an old-style autograd.Function → Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.first, self.second = nn.Linear(4, 5), nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(_Square.apply(self.first(x)))


class WithUnused(nn.Module):
    """``net`` beside a Linear the forward pass never calls (like a Hugging Face model's unused pooler)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.unused = nn.Linear(4, 2, dtype=next(net.parameters()).dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def loop_gradients(model: nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example gradients ``[N, P]`` by one backward pass per example (the reference)."""
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for i in range(x.shape[0]):
        grads = torch.autograd.grad(loss_fn(model(x[i : i + 1]), y[i : i + 1]), params, allow_unused=True)
        rows.append(
            torch.cat(
                [(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads, strict=True)]
            )
        )
    return torch.stack(rows)


def exact_hessian(model: nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The full Hessian ``[P, P]`` of the mean loss by ``torch.autograd.functional.hessian`` (math attention:
    the fused CPU kernel has no double backward)."""
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    names, shapes = list(params), [p.shape for p in params.values()]
    sizes = [p.numel() for p in params.values()]

    def loss(vector):
        pieces = [t.reshape(s) for t, s in zip(torch.split(vector, sizes), shapes, strict=True)]
        return loss_fn(functional_call(model, dict(zip(names, pieces, strict=True)), (x,)), y)

    flat = torch.cat([p.reshape(-1) for p in params.values()])
    with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
        try:  # all rows at once by vmap over the backward pass
            return torch.autograd.functional.hessian(loss, flat, vectorize=True)
        except RuntimeError:  # group and batch norm's double backward have no batching rule: row by row
            return torch.autograd.functional.hessian(loss, flat)


def masked_loop_gradients(model: nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
    """Per-example gradients ``[N, P]`` of ONE batched forward pass in train mode, with the dropout masks it
    draws from torch's generator seeded by ``seed`` (attention in its math form): a backward pass per example
    through that pass's graph (the reference for dropout in train mode)."""
    params = [p for p in model.parameters() if p.requires_grad]
    torch.manual_seed(seed)
    with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
        outputs = model(x)
    rows = []
    for i in range(x.shape[0]):
        grads = torch.autograd.grad(loss_fn(outputs[i : i + 1], y[i : i + 1]), params, retain_graph=True)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(rows)
