"""Samplers: pure step functions with the noise passed in, and one short, visible sampling loop.

A step function maps x_t to x_s for s < t (s = −1 means "past the last step": ᾱ = 1, the clean
image), given the network's x̂0 and ε̂ at (x_t, t) and the noise to inject. Nothing here draws random
numbers: the loop draws them from the generator it is given, so every trajectory repeats exactly.
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch

from .process import PREDICTION_TYPES, predicted_x0_eps
from .schedules import NoiseSchedule, timesteps as make_timesteps

VARIANCES = ("beta", "beta_tilde")


def alpha_bar_at(schedule: NoiseSchedule, t: int) -> float:
    """ᾱt as a Python float, with ᾱ at t = −1 (before the first forward step) equal to 1."""
    return 1.0 if t < 0 else float(schedule.alphas_cumprod[t])


def ddpm_step(schedule: NoiseSchedule, x_t: torch.Tensor, t: int, s: int, x0_hat: torch.Tensor,
              noise: torch.Tensor | None, variance: str = "beta") -> torch.Tensor:
    """Ancestral DDPM step x_t → x_s (Ho et al. 2020, Eqs. 6–7 and Algorithm 2), s < t.

    With αts = ᾱt/ᾱs and βts = 1 − αts (βt itself when s = t − 1), the mean is the posterior mean
    μ̃ = √ᾱs·βts/(1 − ᾱt)·x̂0 + √αts·(1 − ᾱs)/(1 − ᾱt)·x_t, and the variance is either
    βts ("beta", the seed's and DDPM's σt² = βt) or β̃ts = (1 − ᾱs)/(1 − ᾱt)·βts ("beta_tilde").
    No noise is added on the last step (s = −1), as in Algorithm 2; `noise` may then be None.
    """
    if variance not in VARIANCES:
        raise ValueError(f"unknown variance {variance!r}; choose one of {VARIANCES}")
    abar_t, abar_s = alpha_bar_at(schedule, t), alpha_bar_at(schedule, s)
    alpha_ts = abar_t / abar_s
    beta_ts = 1 - alpha_ts
    mean = (abar_s**0.5 * beta_ts / (1 - abar_t)) * x0_hat + (alpha_ts**0.5 * (1 - abar_s) / (1 - abar_t)) * x_t
    if s < 0:
        return mean
    var = beta_ts if variance == "beta" else (1 - abar_s) / (1 - abar_t) * beta_ts
    return mean + var**0.5 * noise


def ddim_step(schedule: NoiseSchedule, x_t: torch.Tensor, t: int, s: int, x0_hat: torch.Tensor,
              noise: torch.Tensor | None, eta: float = 0.0) -> torch.Tensor:
    """DDIM update x_t → x_s (Song et al. 2021, Eq. 12), s < t:

    x_s = √ᾱs·x̂0 + √(1 − ᾱs − σ²)·ε̂ + σ·z,  σ = η·√((1 − ᾱs)/(1 − ᾱt))·√(1 − ᾱt/ᾱs)  (Eq. 16),
    with ε̂ = (x_t − √ᾱt·x̂0)/√(1 − ᾱt), so a clipped x̂0 gives a consistent ε̂. η = 0 is deterministic;
    η = 1 is the ancestral DDPM step with σ² = β̃ts.
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0 (0 = deterministic DDIM, 1 = DDPM), got {eta!r}")
    abar_t, abar_s = alpha_bar_at(schedule, t), alpha_bar_at(schedule, s)
    eps_hat = (x_t - abar_t**0.5 * x0_hat) / (1 - abar_t) ** 0.5
    sigma = eta * ((1 - abar_s) / (1 - abar_t) * (1 - abar_t / abar_s)) ** 0.5
    x_s = abar_s**0.5 * x0_hat + max(1 - abar_s - sigma**2, 0.0) ** 0.5 * eps_hat
    return x_s + sigma * noise if sigma > 0 else x_s


STEPS = {"ddpm": ddpm_step, "ddim": ddim_step}


def sample_loop(model: Callable, x: torch.Tensor, schedule: NoiseSchedule, num_steps: int | None = None,
                sampler: str = "ddpm", spacing: str = "leading", prediction_type: str = "epsilon",
                clip_x0: float | None = None, generator: torch.Generator | None = None,
                **step_options) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Run a sampler from x = x_T, yielding (t, x_s, x̂0) after each step; the last x is the sample.

    `model(x_t, t_batch)` returns the network's output (ε̂, x̂0 or v̂ by `prediction_type`).
    `num_steps` of the T training steps are visited with the given `spacing` (all T by default).
    `clip_x0` clamps x̂0 to [−clip_x0, clip_x0] before the step (images live in [−1, 1]).
    """
    if sampler not in STEPS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {tuple(STEPS)}")
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"unknown prediction_type {prediction_type!r}; choose one of {PREDICTION_TYPES}")
    step = STEPS[sampler]
    ts = make_timesteps(schedule.num_timesteps, num_steps or schedule.num_timesteps, spacing).tolist()
    for i, t in enumerate(ts):
        s = ts[i + 1] if i + 1 < len(ts) else -1
        t_batch = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        x0_hat, _ = predicted_x0_eps(schedule, x, t, model(x, t_batch), prediction_type)
        if clip_x0 is not None:
            x0_hat = x0_hat.clamp(-clip_x0, clip_x0)
        # Algorithm 2 adds no noise on the last step, so it draws none: the generator advances only when used.
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device) if s >= 0 else None
        x = step(schedule, x, t, s, x0_hat, noise, **step_options)
        yield t, x, x0_hat
