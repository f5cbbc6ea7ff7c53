"""A small MLP denoiser for 2-D (or any flat) data: the network of chapter 02."""
from __future__ import annotations

import torch
from torch import nn

from .embeddings import TimestepEmbedding


class MLPDenoiser(nn.Module):
    """ε̂θ(x_t, t) for flat data x of shape (B, dim).

    The time embedding is added to the first hidden layer; residual hidden blocks follow
    (LayerNorm, Linear, SiLU), so a few hundred steps of Adam already fit a toy distribution.
    """

    def __init__(self, dim: int = 2, hidden: int = 128, num_blocks: int = 3, time_dim: int = 32):
        super().__init__()
        if dim < 1 or hidden < 1 or num_blocks < 1:
            raise ValueError(f"dim, hidden and num_blocks must be >= 1, got {dim}, {hidden}, {num_blocks}")
        self.dim = dim
        self.time_embed = TimestepEmbedding(time_dim, hidden)
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.SiLU()) for _ in range(num_blocks))
        self.out = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"MLPDenoiser expects x of shape (B, {self.dim}), got {tuple(x.shape)}")
        h = self.inp(x) + self.time_embed(t)  # (B, hidden)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)
