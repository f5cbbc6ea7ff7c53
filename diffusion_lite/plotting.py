"""Figures the chapters share: image grids, schedule curves, 2-D scatters and trajectories."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch


def show_images(images, ncols: int | None = None, titles=None, ax=None, scale: float = 1.2):
    """Images (N, H, W) or (N, 1, H, W), uint8 in [0, 255] or float in [−1, 1], in one row or a grid."""
    x = torch.as_tensor(images).detach().cpu()
    if x.ndim == 4:
        if x.shape[1] != 1:
            raise ValueError(f"show_images draws grey images (N, 1, H, W) or (N, H, W), got {tuple(x.shape)}")
        x = x[:, 0]
    x = x.float() / 255.0 if x.dtype == torch.uint8 else (x.float().clamp(-1, 1) + 1) / 2
    n = len(x)
    ncols = ncols or n
    nrows = -(-n // ncols)
    if ax is None:
        fig, axes = plt.subplots(nrows, ncols, figsize=(scale * ncols, scale * nrows + (0.3 if titles else 0)),
                                 squeeze=False)
        axes = axes.ravel()
    else:
        axes = np.atleast_1d(ax).ravel()
    for i, a in enumerate(axes):
        a.axis("off")
        if i < n:
            a.imshow(x[i].numpy(), cmap="gray", vmin=0, vmax=1)
            if titles is not None:
                a.set_title(str(titles[i]), fontsize=8)
    return axes


def plot_schedule_curves(schedules: dict, axes=None):
    """ᾱt and log10 SNR(t) against t/T for each named `NoiseSchedule`, side by side."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for name, s in schedules.items():
        u = np.arange(s.num_timesteps) / s.num_timesteps
        axes[0].plot(u, s.alphas_cumprod.numpy(), label=name)
        axes[1].plot(u, np.log10(s.snr.numpy()), label=name)
    axes[0].set(xlabel="t / T", ylabel="ᾱt", title="signal kept, ᾱt")
    axes[1].set(xlabel="t / T", ylabel="log10 SNR(t)", title="signal-to-noise ratio")
    axes[1].axhline(0, color="grey", lw=0.8, ls=":")
    axes[0].legend(fontsize=8)
    return axes


def scatter_2d(points, ax=None, title: str | None = None, lim: float = 2.5, **kwargs):
    """A square scatter plot of (N, 2) points."""
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 3.2))
    p = torch.as_tensor(points).detach().cpu().numpy()
    ax.scatter(p[:, 0], p[:, 1], s=kwargs.pop("s", 2), alpha=kwargs.pop("alpha", 0.5), **kwargs)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_trajectories(trajectory, ax=None, num: int = 20, lim: float = 2.5, start_label: str = "x_T (noise)",
                      end_label: str = "x_0 (sample)"):
    """Paths of `num` points through a sampling run; trajectory is (steps + 1, N, 2), its first state first."""
    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.6))
    tr = torch.as_tensor(trajectory).detach().cpu().numpy()[:, :num]
    for i in range(tr.shape[1]):
        ax.plot(tr[:, i, 0], tr[:, i, 1], lw=0.6, alpha=0.6)
    ax.scatter(tr[0, :, 0], tr[0, :, 1], s=8, c="grey", label=start_label)
    ax.scatter(tr[-1, :, 0], tr[-1, :, 1], s=8, c="black", label=end_label)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])
    ax.legend(fontsize=7, loc="lower right")
    return ax
