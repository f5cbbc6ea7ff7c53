"""Checks for chapter 07 (the VAE): `from checks.ch07 import check_...`.

Every check computes the right answer with `diffusion_lite` (the posterior's closed-form KL, the VAE's
latent shapes) or torch, never from a stored number.
"""
from __future__ import annotations

import torch

from diffusion_lite.vae import DiagonalGaussian, VAEConfig

from . import close, unanswered, verdict

# Exercise 1: the KL divergence of one latent number's posterior N(MU, SIGMA²) from N(0, 1).
MU, SIGMA = 1.5, 0.5
# Exercise 2: the scaling factor for these (unscaled) latents, as the book computes it.
LATENTS = torch.tensor([[0.5, -2.0, 3.0, 1.5], [-1.0, 4.0, 0.0, -2.5]])
# Exercise 3: the latent of a SIZE×SIZE image with an autoencoder of these channels (one halving between
# levels) and LATENT_CHANNELS channels.
SIZE, LEVEL_CHANNELS, LATENT_CHANNELS = 56, (32, 64, 128, 128), 4


def check_kl(answer) -> bool:
    """½ (μ² + σ² − 1 − log σ²) (Kingma and Welling 2014, App. B), computed by DiagonalGaussian.kl."""
    if unanswered(answer):
        return False
    moments = torch.tensor([MU, 2 * torch.log(torch.tensor(SIGMA)).item()], dtype=torch.float64).view(1, 2, 1, 1)
    right = float(DiagonalGaussian(moments).kl())
    hint = "KL = ½ (μ² + σ² − 1 − log σ²), with σ² the variance, not σ."
    if close(answer, 0.5 * (MU**2 + SIGMA - 1 - torch.log(torch.tensor(SIGMA)).item())):
        hint = "Square σ: the formula uses the variance σ² and log σ²."
    return verdict(close(answer, right, rel=1e-4), f"KL = {right:.4f} nats: the mean's offset costs μ²/2 = "
                   f"{MU**2 / 2:.3f}, the narrow width the rest.", hint)


def check_scaling_factor(answer) -> bool:
    """1 / the standard deviation of all the latents' numbers (torch.std, with Bessel's correction)."""
    if unanswered(answer):
        return False
    right = float(1 / LATENTS.std())
    hint = "Take the standard deviation over all the numbers together, then its reciprocal."
    if close(answer, float(LATENTS.std())):
        hint = "That is the standard deviation itself; the factor divides by it."
    return verdict(close(answer, right, rel=1e-3), f"s = {right:.4f}: s·z then has standard deviation 1.", hint)


def check_latent_shape(answer) -> bool:
    """(C, H/f, W/f) with f = 2 per halving, from VAEConfig.latent_shape."""
    if unanswered(answer):
        return False
    right = VAEConfig(channels=LEVEL_CHANNELS, latent_channels=LATENT_CHANNELS).latent_shape(SIZE, SIZE)
    try:
        ok = tuple(int(a) for a in answer) == right
    except (TypeError, ValueError):
        ok = False
    return verdict(ok, f"{right}: {len(LEVEL_CHANNELS)} levels halve the picture {len(LEVEL_CHANNELS) - 1} times.",
                   "Count the halvings: one fewer than the levels; each halves both sides. Answer (C, H, W).")
