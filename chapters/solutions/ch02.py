"""Solutions to chapter 02's exercises, written from the formulas as a reader would (the checks use
the package, so each solution is also a cross-check of it).

`ANSWERS[name]()` passes `checks.ch02.<name>`; `WRONG[name]` is a plausible mistake that fails it.
"""
from __future__ import annotations

import torch

from checks.ch02 import (BETA_END, BETA_START, DATASET, EPS_HAT, HELDOUT_SEED, NOISE_SEED, NUM_POINTS, T,
                         T_POSTERIOR, T_STEP, T_X0, X_T, Z)
from diffusion_lite.datasets import toy_2d
from diffusion_lite.metrics import sliced_wasserstein


def _tables():
    """βt, αt and ᾱt of DDPM's linear schedule, float64, code indices 0..T−1."""
    betas = torch.linspace(BETA_START, BETA_END, T, dtype=torch.float64)
    alphas = 1 - betas
    return betas, alphas, torch.cumprod(alphas, dim=0)


def posterior_variance() -> float:
    """Exercise 1: β̃t = (1 − ᾱ_{t−1})/(1 − ᾱt)·βt (Ho et al. 2020, Eq. 7)."""
    betas, _, abar = _tables()
    t = T_POSTERIOR
    return float((1 - abar[t - 1]) / (1 - abar[t]) * betas[t])


def x0_hat() -> torch.Tensor:
    """Exercise 2: Eq. 4 solved for x0, x̂0 = (x_t − √(1 − ᾱt)·ε̂)/√ᾱt."""
    _, _, abar = _tables()
    a = abar[T_X0]
    return (X_T - (1 - a).sqrt() * EPS_HAT) / a.sqrt()


def ddpm_step() -> torch.Tensor:
    """Exercise 3: the seed's mean (Eq. 11) plus √β̃t·z instead of √βt·z."""
    betas, alphas, abar = _tables()
    t = T_STEP
    mean = (X_T - betas[t] / (1 - abar[t]).sqrt() * EPS_HAT) / alphas[t].sqrt()
    beta_tilde = (1 - abar[t - 1]) / (1 - abar[t]) * betas[t]
    return mean + beta_tilde.sqrt() * Z


def noise_distance() -> float:
    """Exercise 4: sliced Wasserstein distance of N(0, I) draws to held-out data."""
    heldout = toy_2d(DATASET, NUM_POINTS, seed=HELDOUT_SEED)
    noise = torch.randn(NUM_POINTS, 2, generator=torch.Generator().manual_seed(NOISE_SEED))
    return sliced_wasserstein(noise, heldout)


def _wrong_values() -> dict:
    betas, alphas, abar = _tables()

    def seed_mean(t):  # the seed's update without noise, Eq. 11
        return (X_T - betas[t] / (1 - abar[t]).sqrt() * EPS_HAT) / alphas[t].sqrt()

    return {
        "check_posterior_variance": float(betas[T_POSTERIOR]),  # βt: the other variance choice
        "check_x0_hat": seed_mean(T_X0),  # the mean of x_{t−1}, not the predicted x0
        "check_ddpm_step": seed_mean(T_STEP) + betas[T_STEP].sqrt() * Z,  # σt² = βt, the seed's choice
        # two real held-out sets: the floor, not the distance of noise
        "check_noise_distance": sliced_wasserstein(toy_2d(DATASET, NUM_POINTS, seed=HELDOUT_SEED + 1),
                                                   toy_2d(DATASET, NUM_POINTS, seed=HELDOUT_SEED)),
    }


ANSWERS = {
    "check_posterior_variance": posterior_variance,
    "check_x0_hat": x0_hat,
    "check_ddpm_step": ddpm_step,
    "check_noise_distance": noise_distance,
}
WRONG = _wrong_values()
