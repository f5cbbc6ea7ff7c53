"""Timestep embeddings: how a network is told which noise level it is looking at."""
from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer-style embedding of integer timesteps (Vaswani et al. 2017, Sec. 3.5; Ho et al. 2020, App. B).

    Returns (B, dim): [cos(t·ω_0), ..., cos(t·ω_{k−1}), sin(t·ω_0), ..., sin(t·ω_{k−1})] with
    ω_i = max_period^(−i/k), k = dim/2. `dim` must be even.
    """
    if dim < 2 or dim % 2:
        raise ValueError(f"embedding dim must be an even integer >= 2, got {dim!r}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None, :]  # (B, half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepEmbedding(nn.Module):
    """Sinusoidal embedding followed by a two-layer MLP (Linear, SiLU, Linear), as in DDPM's UNet."""

    def __init__(self, dim: int, out_dim: int | None = None):
        super().__init__()
        self.dim = dim
        out_dim = out_dim or 4 * dim
        self.mlp = nn.Sequential(nn.Linear(dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:  # (B,) -> (B, out_dim)
        return self.mlp(sinusoidal_embedding(t, self.dim).to(self.mlp[0].weight.dtype))
