"""Sample-quality metrics: how far generated samples are from held-out data.

For low-dimensional data (chapter 02) two distances between point sets:
- the sliced Wasserstein distance (Rabin et al. 2011): the average, over random directions, of the
  1-D Wasserstein-2 distance between the two sets projected on that direction;
- the maximum mean discrepancy with a Gaussian kernel (Gretton et al. 2012, Eq. 3, unbiased form).
Both are 0 for identical distributions; read them against the same distance between two real sets
of the same size (`real_vs_real`), the floor that sampling noise alone produces.
"""
from __future__ import annotations

import torch


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, num_projections: int = 256, seed: int = 0) -> float:
    """SW2 between point sets x (N, D) and y (N, D) of equal size, over `num_projections` random directions."""
    if x.ndim != 2 or x.shape != y.shape:
        raise ValueError(f"x and y must both have shape (N, D) with the same N and D, got {tuple(x.shape)}, {tuple(y.shape)}")
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(x.shape[1], num_projections, generator=g, dtype=torch.float64)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    px, _ = (x.double() @ dirs).sort(dim=0)  # (N, P): sorted projections = 1-D optimal transport
    py, _ = (y.double() @ dirs).sort(dim=0)
    return float(((px - py) ** 2).mean().sqrt())


def mmd_rbf(x: torch.Tensor, y: torch.Tensor, bandwidth: float = 0.5) -> float:
    """Unbiased squared MMD with kernel k(a, b) = exp(−‖a − b‖²/(2·bandwidth²)) (Gretton et al. 2012, Eq. 3)."""
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have shapes (N, D) and (M, D), got {tuple(x.shape)}, {tuple(y.shape)}")
    if len(x) < 2 or len(y) < 2:
        raise ValueError("the unbiased MMD needs at least 2 points in each set")
    k = lambda a, b: torch.exp(-torch.cdist(a.double(), b.double()) ** 2 / (2 * bandwidth**2))  # noqa: E731
    n, m = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return float((kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
                 + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1)) - 2 * kxy.mean())
