"""Checks for chapter 02 (DDPM on 2-D data): `from checks.ch02 import check_...`.

Every check recomputes the right answer with `diffusion_lite`; the exercise inputs below are the
single source of the numbers the chapter shows the reader.
"""
from __future__ import annotations

import torch

from diffusion_lite.datasets import toy_2d
from diffusion_lite.metrics import sliced_wasserstein
from diffusion_lite.process import x0_from_eps
from diffusion_lite.samplers import ddpm_step
from diffusion_lite.schedules import NoiseSchedule

from . import close, unanswered, verdict

# DDPM's schedule (Ho et al. 2020, Sec. 4): linear betas from 1e-4 to 0.02 over T = 1000 steps.
T, BETA_START, BETA_END = 1000, 1e-4, 0.02
# Exercise 1: the posterior variance at this code index (the paper's t = 11).
T_POSTERIOR = 10
# Exercise 2: x̂0 from x_t and the network's ε̂ at code index T_X0 (the paper's t = 301).
# Exercise 3: one reverse step from the same x_t and ε̂ at code index T_STEP (the paper's t = 2), noise z.
T_X0, T_STEP = 300, 1
X_T = torch.tensor([[0.8, -1.3]], dtype=torch.float64)
EPS_HAT = torch.tensor([[0.4, -0.9]], dtype=torch.float64)
Z = torch.tensor([[-0.5, 1.1]], dtype=torch.float64)
# Exercise 4: pure N(0, I) "samples" against held-out data.
DATASET, NUM_POINTS, HELDOUT_SEED, NOISE_SEED = "swiss_roll", 2000, 1, 0


def _schedule() -> NoiseSchedule:
    return NoiseSchedule.make("linear", T, BETA_START, BETA_END)


def _as_points(answer) -> torch.Tensor | None:
    """The answer as a float64 tensor shaped like X_T, or None if it cannot be one."""
    try:
        a = torch.as_tensor(answer, dtype=torch.float64)
        return a.reshape(X_T.shape) if a.numel() == X_T.numel() else None
    except (TypeError, ValueError, RuntimeError):
        return None


def check_posterior_variance(answer) -> bool:
    """β̃t = (1 − ᾱ_{t−1})/(1 − ᾱt)·βt at code index t = T_POSTERIOR (Ho et al. 2020, Eq. 7)."""
    if unanswered(answer):
        return False
    s = _schedule()
    right = float(s.posterior_variance[T_POSTERIOR])
    beta = float(s.betas[T_POSTERIOR])
    return verdict(close(answer, right, rel=1e-3),
                   f"β̃ at t = {T_POSTERIOR} is {right:.4e}, {100 * (1 - right / beta):.0f} % below β = {beta:.4e}.",
                   "β̃t = (1 − ᾱ_{t−1})/(1 − ᾱt)·βt, where in code indices ᾱt = α0·α1·…·αt and αs = 1 − βs.")


def check_x0_hat(answer) -> bool:
    """x̂0 = (x_t − √(1 − ᾱt)·ε̂)/√ᾱt (Eq. 4 of Ho et al. 2020 solved for x0)."""
    if unanswered(answer):
        return False
    right = x0_from_eps(_schedule(), X_T, T_X0, EPS_HAT)
    a = _as_points(answer)
    ok = a is not None and torch.allclose(a, right, rtol=1e-4, atol=1e-6)
    return verdict(ok, f"x̂0 = {right.flatten().tolist()}; the posterior mean at this x̂0 is the seed's update.",
                   "Solve x_t = √ᾱt·x0 + √(1 − ᾱt)·ε for x0 with ε̂ in place of ε; the answer has the shape "
                   f"of X_T, {tuple(X_T.shape)}.")


def check_ddpm_step(answer) -> bool:
    """x_{t−1} = μ̃t(x_t, x̂0) + √β̃t·z, one ancestral step with the variance choice σt² = β̃t."""
    if unanswered(answer):
        return False
    s = _schedule()
    right = ddpm_step(s, X_T, T_STEP, T_STEP - 1, x0_from_eps(s, X_T, T_STEP, EPS_HAT), Z, variance="beta_tilde")
    a = _as_points(answer)
    ok = a is not None and torch.allclose(a, right, rtol=1e-4, atol=1e-6)
    return verdict(ok, f"x_(t−1) = {right.flatten().tolist()}.",
                   "Take the seed's mean (x_t − βt/√(1 − ᾱt)·ε̂)/√αt and add √β̃t·z, not √βt·z.")


def check_noise_distance(answer) -> bool:
    """Sliced Wasserstein distance between N(0, I) draws and held-out data (diffusion_lite.metrics)."""
    if unanswered(answer):
        return False
    heldout = toy_2d(DATASET, NUM_POINTS, seed=HELDOUT_SEED)
    noise = torch.randn(NUM_POINTS, 2, generator=torch.Generator().manual_seed(NOISE_SEED))
    right = sliced_wasserstein(noise, heldout)
    # Another draw of the 2000 noise points moves the distance by a few per cent: accept 10 %.
    return verdict(close(answer, right, rel=0.1),
                   f"About {right:.3f}: several times the distance of a trained model's samples.",
                   f"Draw {NUM_POINTS} points with torch.randn({NUM_POINTS}, 2, generator=torch.Generator()"
                   f".manual_seed({NOISE_SEED})) and pass them and toy_2d({DATASET!r}, {NUM_POINTS}, "
                   f"seed={HELDOUT_SEED}) to sliced_wasserstein.")
