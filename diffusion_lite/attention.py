"""Attention: self-attention over the pixels of a feature map, and cross-attention from pixels to text tokens
(Vaswani et al. 2017, Eq. 1; Ho et al. 2020, App. B; Rombach et al. 2022, Sec. 3.3, Eq. 3).

Self-attention lets every position of a low-resolution feature map look at every other, which a 3×3
convolution cannot do in one layer. Cross-attention takes its queries from the pixels and its keys and
values from a caption's tokens, so each position reads the words that concern it (chapter 09):

    Attention(Q, K, V) = softmax(QKᵀ/√d)·V,  Q = W_Q·φ(z_t),  K = W_K·τ(y),  V = W_V·τ(y)   (Rombach, Eq. 3)

with φ(z_t) the UNet's flattened features (B, H·W, C) and τ(y) the text encoder's tokens (B, L, D).
"""
from __future__ import annotations

import torch
from torch import nn


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
              weights: list | None = None) -> torch.Tensor:
    """softmax(QKᵀ/√d)·V (Vaswani et al. 2017, Eq. 1) for (..., positions, d) tensors, written out.

    `mask` (B, keys) bool, True for keys to attend to (a caption's real tokens, not its padding); a masked
    key gets weight 0. `weights`, a list, receives the attention matrix (..., queries, keys) when given.
    Two matrix products and a softmax, rather than `F.scaled_dot_product_attention`: at the book's
    7×7 = 49 positions the matrix is tiny, and the fused CPU kernel's backward pass took about 8 % of a
    training step (chapter 03 times both). At large H·W the fused kernel, which never stores the
    (H·W)² matrix, is the better choice.
    """
    scores = q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5  # (..., queries, keys)
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))  # (B, 1, 1, keys) over heads, queries
    probs = scores.softmax(dim=-1)
    if weights is not None:
        weights.append(probs)
    return probs @ v


class SelfAttention2d(nn.Module):
    """x + proj(softmax(QKᵀ/√d)·V) over the H·W positions of a (B, C, H, W) map, `num_heads` heads.

    GroupNorm before, a zero-initialised output projection, so the block starts as the identity.
    """

    def __init__(self, channels: int, num_heads: int = 4, num_groups: int = 8):
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"channels ({channels}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.norm = nn.GroupNorm(num_groups, channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = self.norm(x).view(b, c, h * w).transpose(1, 2)  # (B, HW, C)
        q, k, v = self.qkv(tokens).chunk(3, dim=-1)  # 3 × (B, HW, C)
        q, k, v = (z.view(b, h * w, self.num_heads, c // self.num_heads).transpose(1, 2) for z in (q, k, v))
        out = attention(q, k, v)  # (B, heads, HW, C/heads)
        out = out.transpose(1, 2).reshape(b, h * w, c)  # (B, HW, C)
        return x + self.proj(out).transpose(1, 2).view(b, c, h, w)


class CrossAttention(nn.Module):
    """Multi-head attention from `x` (B, N, dim) to `context` (B, L, context_dim), or to x itself when no
    context is given (self-attention). Returns (B, N, dim).

    Set `record = True` to keep each call's attention weights (B, heads, N, L) in `self.weights`, the
    maps chapter 09 draws; `record = "graph"` keeps them in the autograd graph, for a loss on them.
    """

    def __init__(self, dim: int, context_dim: int | None = None, num_heads: int = 4):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be divisible by num_heads ({num_heads})")
        self.num_heads, self.record, self.weights = num_heads, False, None
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim or dim, dim, bias=False)
        self.to_v = nn.Linear(context_dim or dim, dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                context_mask: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        if context.shape[-1] != self.to_k.in_features:
            raise ValueError(f"context must have {self.to_k.in_features} features, got {tuple(context.shape)}")
        b, n, dim = x.shape
        heads = lambda z: z.view(b, z.shape[1], self.num_heads, dim // self.num_heads).transpose(1, 2)  # noqa: E731
        q, k, v = heads(self.to_q(x)), heads(self.to_k(context)), heads(self.to_v(context))  # (B, heads, ·, d)
        kept = [] if self.record else None
        out = attention(q, k, v, context_mask, kept)  # (B, heads, N, d)
        if self.record:
            self.weights = kept[0] if self.record == "graph" else kept[0].detach()
        return self.to_out(out.transpose(1, 2).reshape(b, n, dim))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: x + SelfAttn(LN x), then x + CrossAttn(LN x, context) when
    `context_dim` is set, then x + MLP(LN x) (Vaswani et al. 2017; the order of Stable Diffusion's UNet)."""

    def __init__(self, dim: int, context_dim: int | None = None, num_heads: int = 4, mlp_ratio: int = 4):
        super().__init__()
        self.norm1, self.attn1 = nn.LayerNorm(dim), CrossAttention(dim, None, num_heads)
        self.norm2 = nn.LayerNorm(dim) if context_dim else None
        self.attn2 = CrossAttention(dim, context_dim, num_heads) if context_dim else None
        self.norm3 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, context_mask: torch.Tensor | None = None,
                self_mask: torch.Tensor | None = None, query_position: torch.Tensor | None = None) -> torch.Tensor:
        """`query_position` (1, N, dim), when given, is added to the cross-attention's queries only: keys,
        values and the residual stream do not carry it."""
        x = x + self.attn1(self.norm1(x), context_mask=self_mask)  # (B, N, dim)
        if self.attn2 is not None:
            if context is None:
                raise ValueError("this block cross-attends: pass context (B, L, context_dim)")
            query = self.norm2(x) if query_position is None else self.norm2(x) + query_position
            x = x + self.attn2(query, context, context_mask)
        return x + self.mlp(self.norm3(x))


class SpatialTransformer(nn.Module):
    """A feature map's pixels as tokens through a `TransformerBlock` that cross-attends to `context`:
    GroupNorm, 1×1 conv in, (B, C, H, W) → (B, H·W, C), the block, back, 1×1 conv out (zero-initialised,
    so the module starts as the identity), plus the input (Rombach et al. 2022, App. G).

    With `positions` = H·W, a learned embedding of each position (1, H·W, C), initialised small and random as
    ViT's (Dosovitskiy et al. 2021), is added to the cross-attention's queries: a 3×3 convolution sees where
    it is only through the zero padding at the border, so without it a query in the middle of a cell cannot
    tell which cell it is in."""

    def __init__(self, channels: int, context_dim: int, num_heads: int = 4, num_groups: int = 8,
                 positions: int | None = None):
        super().__init__()
        self.position = None if positions is None else nn.Parameter(0.02 * torch.randn(1, positions, channels))
        self.norm = nn.GroupNorm(num_groups, channels)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.block = TransformerBlock(channels, context_dim, num_heads)
        self.proj_out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                context_mask: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        if self.position is not None and self.position.shape[1] != h * w:
            raise ValueError(f"this block has a position embedding for {self.position.shape[1]} positions; "
                             f"got a {h}×{w} map")
        tokens = self.proj_in(self.norm(x)).view(b, c, h * w).transpose(1, 2)  # (B, HW, C)
        tokens = self.block(tokens, context, context_mask, query_position=self.position)
        return x + self.proj_out(tokens.transpose(1, 2).reshape(b, c, h, w))
