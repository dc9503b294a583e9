"""A small GPT-style language model for the monitor's worked example and the instruments' benchmark.

Token and position embeddings, pre-norm blocks of causal self-attention (``F.scaled_dot_product_attention``)
and a GELU MLP, a final LayerNorm and an output head tied to the token embedding (Press & Wolf 2017):
logits = LayerNorm(h)·Eᵀ. Inputs are token indices ``[n, T]``; outputs are logits ``[n, T, vocab]``.
"""

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"width={width} must be a multiple of heads={heads}")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, h: Tensor) -> Tensor:
        n, t, width = h.shape
        q, k, v = self.qkv(h).view(n, t, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(attended.transpose(1, 2).reshape(n, t, width))


class TransformerBlock(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width), nn.Dropout(dropout)
        )

    def forward(self, h: Tensor) -> Tensor:
        h = h + self.attention(self.norm1(h))
        return h + self.mlp(self.norm2(h))


class TinyTransformerLM(nn.Module):
    """GPT-style LM with a tied head: ``vocab`` tokens, ``context`` positions, ``layers`` blocks of ``width``."""

    def __init__(self, vocab: int, context: int, width: int = 64, heads: int = 4, layers: int = 2):
        super().__init__()
        self.embedding = nn.Embedding(vocab, width)
        self.positions = nn.Embedding(context, width)
        self.blocks = nn.Sequential(*(TransformerBlock(width, heads) for _ in range(layers)))
        self.norm = nn.LayerNorm(width)
        nn.init.normal_(self.embedding.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)

    def forward(self, tokens: Tensor) -> Tensor:
        where = torch.arange(tokens.shape[1], device=tokens.device)[None]
        h = self.blocks(self.embedding(tokens) + self.positions(where))
        return F.linear(self.norm(h), self.embedding.weight)


def next_token_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy of the next token over every position of every sequence."""
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())
