"""The forward process q and its posterior, and conversions between what a network may predict.

Symbols follow Ho et al. 2020 ("DDPM"); code indices run t = 0..T−1 (see `schedules`).
Every function takes `t` as an integer or a LongTensor of shape (B,), one step per batch element.
"""
from __future__ import annotations

import torch

from .schedules import NoiseSchedule

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


def gather(table: torch.Tensor, t, x: torch.Tensor) -> torch.Tensor:
    """table[t] shaped to broadcast against x: (B,) -> (B, 1, ..., 1), in x's dtype and device."""
    t = torch.as_tensor(t, device=table.device, dtype=torch.long)
    values = table[t].to(device=x.device, dtype=x.dtype)
    if values.ndim == 0:
        return values
    return values.view(-1, *([1] * (x.ndim - 1)))


def add_noise(schedule: NoiseSchedule, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
    """Sample q(x_t | x_0) = N(√ᾱt·x0, (1 − ᾱt)·I) as √ᾱt·x0 + √(1 − ᾱt)·ε (Ho et al. 2020, Eq. 4)."""
    abar = gather(schedule.alphas_cumprod, t, x0)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def forward_step(schedule: NoiseSchedule, x_prev: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
    """One step of the forward process, q(x_t | x_{t−1}) = N(√(1 − βt)·x_{t−1}, βt·I) (Ho et al. 2020, Eq. 2)."""
    beta = gather(schedule.betas, t, x_prev)
    return (1 - beta).sqrt() * x_prev + beta.sqrt() * noise


def posterior(schedule: NoiseSchedule, x0: torch.Tensor, x_t: torch.Tensor, t):
    """Mean and variance of q(x_{t−1} | x_t, x0) = N(μ̃t, β̃t·I) (Ho et al. 2020, Eqs. 6–7).

    μ̃t = √ᾱ_{t−1}·βt/(1 − ᾱt)·x0 + √αt·(1 − ᾱ_{t−1})/(1 − ᾱt)·x_t. Returns (mean, variance), the
    variance broadcastable against x_t.
    """
    mean = gather(schedule.posterior_mean_coef1, t, x_t) * x0 + gather(schedule.posterior_mean_coef2, t, x_t) * x_t
    return mean, gather(schedule.posterior_variance, t, x_t)


def x0_from_eps(schedule: NoiseSchedule, x_t: torch.Tensor, t, eps: torch.Tensor) -> torch.Tensor:
    """x̂0 = (x_t − √(1 − ᾱt)·ε̂)/√ᾱt: Eq. 4 of Ho et al. 2020 solved for x0."""
    abar = gather(schedule.alphas_cumprod, t, x_t)
    return (x_t - (1 - abar).sqrt() * eps) / abar.sqrt()


def eps_from_x0(schedule: NoiseSchedule, x_t: torch.Tensor, t, x0: torch.Tensor) -> torch.Tensor:
    """ε̂ = (x_t − √ᾱt·x̂0)/√(1 − ᾱt): Eq. 4 of Ho et al. 2020 solved for ε."""
    abar = gather(schedule.alphas_cumprod, t, x_t)
    return (x_t - abar.sqrt() * x0) / (1 - abar).sqrt()


def v_target(schedule: NoiseSchedule, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
    """v = √ᾱt·ε − √(1 − ᾱt)·x0 (Salimans & Ho 2022, Sec. 4)."""
    abar = gather(schedule.alphas_cumprod, t, x0)
    return abar.sqrt() * noise - (1 - abar).sqrt() * x0


def predicted_x0_eps(schedule: NoiseSchedule, x_t: torch.Tensor, t, model_output: torch.Tensor,
                     prediction_type: str = "epsilon"):
    """(x̂0, ε̂) from a network's output, whatever it predicts.

    - "epsilon": the output is ε̂;
    - "sample": the output is x̂0;
    - "v_prediction": the output is v̂, and x̂0 = √ᾱt·x_t − √(1 − ᾱt)·v̂, ε̂ = √(1 − ᾱt)·x_t + √ᾱt·v̂.
    """
    if prediction_type == "epsilon":
        return x0_from_eps(schedule, x_t, t, model_output), model_output
    if prediction_type == "sample":
        return model_output, eps_from_x0(schedule, x_t, t, model_output)
    if prediction_type == "v_prediction":
        abar = gather(schedule.alphas_cumprod, t, x_t)
        x0 = abar.sqrt() * x_t - (1 - abar).sqrt() * model_output
        eps = (1 - abar).sqrt() * x_t + abar.sqrt() * model_output
        return x0, eps
    raise ValueError(f"unknown prediction_type {prediction_type!r}; choose one of {PREDICTION_TYPES}")


def training_target(schedule: NoiseSchedule, x0: torch.Tensor, t, noise: torch.Tensor,
                    prediction_type: str = "epsilon") -> torch.Tensor:
    """What the network is trained to output for x_t = add_noise(x0, t, noise)."""
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "sample":
        return x0
    if prediction_type == "v_prediction":
        return v_target(schedule, x0, t, noise)
    raise ValueError(f"unknown prediction_type {prediction_type!r}; choose one of {PREDICTION_TYPES}")
