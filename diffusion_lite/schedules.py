"""Noise schedules: the table of βt, αt, ᾱt, σt and SNR that every other module reads.

Glossary (the same names are used in every module and chapter):

| code                 | symbol  | meaning                                             |
|----------------------|---------|-----------------------------------------------------|
| `betas`              | βt      | variance added at step t of the forward process     |
| `alphas`             | αt      | 1 − βt                                              |
| `alphas_cumprod`     | ᾱt      | ∏_{s≤t} αs ("alpha-bar"): signal kept up to step t  |
| `sigmas`             | σt      | √((1 − ᾱt)/ᾱt): noise-to-signal ratio (Karras' σ)   |
| `snr`                | SNR(t)  | ᾱt / (1 − ᾱt) = 1/σt²                                |
| `posterior_variance` | β̃t      | (1 − ᾱ_{t−1})/(1 − ᾱt)·βt  (Ho et al. 2020, Eq. 7)  |

Index convention: the papers number steps t = 1..T; the code numbers them t = 0..T−1, so the code's
`betas[0]` is the paper's β1 and `alphas_cumprod[T-1]` is the paper's ᾱT. "ᾱ before the first
step" (the paper's ᾱ0 = 1) is `alphas_cumprod_prev[0]`.

Tables are kept in float64 so that identities between them hold to float precision; functions that
apply them to data cast to the data's dtype.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch

SCHEDULES = ("linear", "scaled_linear", "cosine", "sigmoid")
SPACINGS = ("leading", "trailing", "linspace")


def _check_range(num_timesteps: int, beta_start: float, beta_end: float) -> None:
    if not isinstance(num_timesteps, (int, np.integer)) or num_timesteps < 1:
        raise ValueError(f"num_timesteps (T) must be an integer >= 1, got {num_timesteps!r}")
    for name, beta in (("beta_start", beta_start), ("beta_end", beta_end)):
        if not 0.0 < beta < 1.0:
            raise ValueError(f"{name} must lie in (0, 1), got {beta:.4g}")
    if beta_end < beta_start:
        raise ValueError(f"beta_end must be >= beta_start, got beta_start={beta_start:.4g} > beta_end={beta_end:.4g}")


def cosine_betas(num_timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Cosine schedule, Nichol & Dhariwal 2021, Eq. 17: ᾱ(t) = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s)·π/2).

    βt = 1 − ᾱ(t+1)/ᾱ(t), clipped at `max_beta` (0.999) to avoid the singularity at t = T.
    """
    f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    betas = [min(1 - f((i + 1) / num_timesteps) / f(i / num_timesteps), max_beta) for i in range(num_timesteps)]
    return torch.tensor(betas, dtype=torch.float64)


def beta_schedule(kind: str = "linear", num_timesteps: int = 1000, beta_start: float = 1e-4,
                  beta_end: float = 0.02) -> torch.Tensor:
    """βt for t = 0..T−1, float64. The same values as diffusers' `DDPMScheduler` for the same name.

    - "linear": evenly spaced from beta_start to beta_end (Ho et al. 2020, Sec. 4).
    - "scaled_linear": evenly spaced in √β, then squared (Stable Diffusion's schedule).
    - "sigmoid": beta_start + (beta_end − beta_start)·sigmoid(u), u evenly spaced on [−6, 6].
    - "cosine": Nichol & Dhariwal 2021 (diffusers' "squaredcos_cap_v2"); it is defined by ᾱt, so
      beta_start and beta_end are not used (they are still checked).
    """
    _check_range(num_timesteps, beta_start, beta_end)
    if kind == "linear":
        return torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64)
    if kind == "scaled_linear":
        return torch.linspace(beta_start**0.5, beta_end**0.5, num_timesteps, dtype=torch.float64) ** 2
    if kind == "sigmoid":
        u = torch.linspace(-6, 6, num_timesteps, dtype=torch.float64)
        return torch.sigmoid(u) * (beta_end - beta_start) + beta_start
    if kind == "cosine":
        return cosine_betas(num_timesteps)
    raise ValueError(f"unknown schedule {kind!r}; choose one of {SCHEDULES}")


@dataclass(frozen=True)
class NoiseSchedule:
    """All per-step coefficients of a diffusion process, derived from βt (index t = 0..T−1)."""

    betas: torch.Tensor

    def __post_init__(self):
        betas = torch.as_tensor(self.betas, dtype=torch.float64)
        if betas.ndim != 1 or len(betas) < 1:
            raise ValueError(f"betas must be a 1-D tensor with T >= 1 entries, got shape {tuple(betas.shape)}")
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("every beta must lie in (0, 1); got min "
                             f"{betas.min().item():.3g}, max {betas.max().item():.3g}")
        object.__setattr__(self, "betas", betas)

    @classmethod
    def make(cls, kind: str = "linear", num_timesteps: int = 1000, beta_start: float = 1e-4,
             beta_end: float = 0.02) -> "NoiseSchedule":
        """`NoiseSchedule.make("cosine", 1000)`: a schedule by name; see `beta_schedule`."""
        return cls(beta_schedule(kind, num_timesteps, beta_start, beta_end))

    @property
    def num_timesteps(self) -> int:
        return len(self.betas)

    @property
    def alphas(self) -> torch.Tensor:
        return 1.0 - self.betas

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        return torch.cumprod(self.alphas, dim=0)

    @property
    def alphas_cumprod_prev(self) -> torch.Tensor:
        """ᾱ_{t−1}, with ᾱ before the first step equal to 1."""
        return torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])

    @property
    def sigmas(self) -> torch.Tensor:
        """σt = √((1 − ᾱt)/ᾱt), the noise level of x_t/√ᾱt (Karras et al. 2022, Table 1, VP)."""
        abar = self.alphas_cumprod
        return ((1 - abar) / abar).sqrt()

    @property
    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio ᾱt/(1 − ᾱt) (Kingma et al. 2021, Eq. 2)."""
        abar = self.alphas_cumprod
        return abar / (1 - abar)

    @property
    def posterior_variance(self) -> torch.Tensor:
        """β̃t = (1 − ᾱ_{t−1})/(1 − ᾱt)·βt (Ho et al. 2020, Eq. 7); β̃ at t = 0 is 0."""
        return (1 - self.alphas_cumprod_prev) / (1 - self.alphas_cumprod) * self.betas

    @property
    def posterior_mean_coef1(self) -> torch.Tensor:
        """Coefficient of x0 in μ̃t(x_t, x0): √ᾱ_{t−1}·βt/(1 − ᾱt) (Ho et al. 2020, Eq. 7)."""
        return self.alphas_cumprod_prev.sqrt() * self.betas / (1 - self.alphas_cumprod)

    @property
    def posterior_mean_coef2(self) -> torch.Tensor:
        """Coefficient of x_t in μ̃t(x_t, x0): √αt·(1 − ᾱ_{t−1})/(1 − ᾱt) (Ho et al. 2020, Eq. 7)."""
        return self.alphas.sqrt() * (1 - self.alphas_cumprod_prev) / (1 - self.alphas_cumprod)

    def first_t_below_snr(self, level: float = 1.0) -> int:
        """The first t (0-based) at which SNR(t) < level, or T if it never falls below it."""
        below = torch.nonzero(self.snr < level)
        return int(below[0]) if len(below) else self.num_timesteps


def timesteps(num_train_timesteps: int, num_steps: int, spacing: str = "leading",
              last_t: int | None = None) -> torch.Tensor:
    """The decreasing timesteps a sampler visits when it takes `num_steps` of the T training steps.

    As diffusers' `DDIMScheduler.set_timesteps` defines them (Lin et al. 2024, Table 2, compares them):
    - "leading": 0, k, 2k, ... with k = T // num_steps (never visits t = T−1: the last step is skipped);
    - "trailing": T−1, T−1−T/n, ... rounded (starts at the last, noisiest step);
    - "linspace": num_steps points evenly spaced on [last_t, T−1], rounded (last_t = 0 by default).
    When n divides T, "trailing" is "linspace" with last_t = T/n − 1: the last noise level it visits
    before the final step to the clean image moves with the number of steps (chapter 05, section 6).
    """
    if not 1 <= num_steps <= num_train_timesteps:
        raise ValueError(f"num_steps must be in [1, {num_train_timesteps}] (the training T), got {num_steps!r}")
    if last_t is not None and spacing != "linspace":
        raise ValueError(f"last_t sets where the 'linspace' spacing ends; it does not apply to {spacing!r}")
    last = 0 if last_t is None else last_t
    if isinstance(last, bool) or not isinstance(last, Integral) or not 0 <= last <= num_train_timesteps - num_steps:
        raise ValueError(f"last_t must be an integer in [0, {num_train_timesteps - num_steps}] for {num_steps} "
                         f"steps of T = {num_train_timesteps}, got {last_t!r}")
    if spacing == "leading":
        ts = np.arange(0, num_steps) * (num_train_timesteps // num_steps)
        ts = ts[::-1]
    elif spacing == "trailing":
        ts = np.round(np.arange(num_train_timesteps, 0, -num_train_timesteps / num_steps)) - 1
    elif spacing == "linspace":
        ts = np.linspace(last, num_train_timesteps - 1, num_steps).round()[::-1]
    else:
        raise ValueError(f"unknown timestep spacing {spacing!r}; choose one of {SPACINGS}")
    return torch.from_numpy(ts.astype(np.int64).copy())


def matched_timesteps(schedule: NoiseSchedule, reference: NoiseSchedule, ts: torch.Tensor) -> torch.Tensor:
    """The timesteps of `schedule` at the noise levels that `reference` has at `ts` (decreasing).

    Samplers step in σ (Karras et al. 2022), so a model trained on one schedule can be sampled at the
    noise levels of another: each t becomes the t of `schedule` whose log σ is nearest `reference`'s
    σ at t. Neighbours that land on the same t are merged (a step from t to t would be a wasted network
    call), so a long grid can come out shorter: chapter 05, section 6, shows where this matters.
    """
    if schedule.num_timesteps != reference.num_timesteps:
        raise ValueError(f"the schedules must have the same T, got {schedule.num_timesteps} and "
                         f"{reference.num_timesteps}")
    log_sigma = schedule.sigmas.log()
    matched = (log_sigma[None, :] - reference.sigmas[torch.as_tensor(ts)].log()[:, None]).abs().argmin(dim=1)
    return torch.unique_consecutive(matched)
