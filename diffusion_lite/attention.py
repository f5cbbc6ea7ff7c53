"""Multi-head attention over the pixels of a feature map (Vaswani et al. 2017, Eq. 1; Ho et al. 2020, App. B).

Self-attention lets every position of a low-resolution feature map look at every other, which a 3×3
convolution cannot do in one layer. Cross-attention (queries from pixels, keys and values from text
tokens) comes with the text chapters.
"""
from __future__ import annotations

import torch
from torch import nn


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(QKᵀ/√d)·V (Vaswani et al. 2017, Eq. 1) for (..., positions, d) tensors, written out.

    Two matrix products and a softmax, rather than `F.scaled_dot_product_attention`: at the book's
    7×7 = 49 positions the matrix is tiny, and the fused CPU kernel's backward pass took about 8 % of a
    training step (chapter 03 times both). At large H·W the fused kernel, which never stores the
    (H·W)² matrix, is the better choice.
    """
    return (q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5).softmax(dim=-1) @ v


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
