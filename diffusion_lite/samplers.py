"""Samplers: pure step functions with the noise passed in, and one short, visible sampling loop.

Every step function has the same signature,

    step(schedule, x_t, t, s, x0_hat, noise, *, denoise=None, previous=None, **options) -> x_s,

mapping x_t to x_s for s < t (s = −1 means "past the last step": ᾱ = 1, the clean image), given the
network's x̂0 at (x_t, t) and the noise to inject. Two samplers need more than one network call per
step: Heun calls `denoise(x, s)` (x̂0 of the network at another state, the loop's closure) and
DPM-Solver++(2M) reads `previous` = (t_prev, x̂0_prev) from the step before. Nothing here draws random
numbers: the loop draws them from the generator it is given, so every trajectory repeats exactly.

Two views of the same process (Karras et al. 2022, Sec. 2): the ᾱ view of DDPM/DDIM, x_t = √ᾱt·x0 +
√(1 − ᾱt)·ε, and the σ view x̃ = x_t/√ᾱt = x0 + σt·ε with σt = √((1 − ᾱt)/ᾱt) (`NoiseSchedule.sigmas`).
In the σ view the probability-flow ODE is dx̃/dσ = (x̃ − x̂0(x̃, σ))/σ = ε̂: Euler, Heun and
DPM-Solver++ are ODE solvers written there, DDPM and DDIM are written in the ᾱ view.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator

import torch

from .process import PREDICTION_TYPES, predicted_x0_eps
from .schedules import NoiseSchedule, matched_timesteps, timesteps as make_timesteps

VARIANCES = ("beta", "beta_tilde")


def alpha_bar_at(schedule: NoiseSchedule, t: int) -> float:
    """ᾱt as a Python float, with ᾱ at t = −1 (before the first forward step) equal to 1."""
    return 1.0 if t < 0 else float(schedule.alphas_cumprod[t])


def sigma_at(schedule: NoiseSchedule, t: int) -> float:
    """σt = √((1 − ᾱt)/ᾱt) as a Python float; 0 at t = −1 (the clean image)."""
    abar = alpha_bar_at(schedule, t)
    return math.sqrt((1 - abar) / abar)


def ddpm_step(schedule: NoiseSchedule, x_t: torch.Tensor, t: int, s: int, x0_hat: torch.Tensor,
              noise: torch.Tensor | None, *, variance: str = "beta", denoise=None, previous=None) -> torch.Tensor:
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
              noise: torch.Tensor | None, *, eta: float = 0.0, denoise=None, previous=None) -> torch.Tensor:
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


def euler_step(schedule: NoiseSchedule, x_t: torch.Tensor, t: int, s: int, x0_hat: torch.Tensor,
               noise: torch.Tensor | None = None, *, denoise=None, previous=None) -> torch.Tensor:
    """One Euler step of the probability-flow ODE in the σ view (Karras et al. 2022, Algorithm 1 without
    churn): x̃s = x̃t + (σs − σt)·d with d = (x̃t − x̂0)/σt. The same update as DDIM with η = 0, written
    in the other view (a test checks they agree to float precision)."""
    abar_t, abar_s = alpha_bar_at(schedule, t), alpha_bar_at(schedule, s)
    sigma_t, sigma_s = sigma_at(schedule, t), sigma_at(schedule, s)
    x_tilde = x_t / abar_t**0.5  # into the σ view
    d = (x_tilde - x0_hat) / sigma_t
    return (x_tilde + (sigma_s - sigma_t) * d) * abar_s**0.5  # back to the ᾱ view


def heun_step(schedule: NoiseSchedule, x_t: torch.Tensor, t: int, s: int, x0_hat: torch.Tensor,
              noise: torch.Tensor | None = None, *, denoise: Callable | None = None, previous=None,
              line_time: bool = False) -> torch.Tensor:
    """Heun's second-order step (Karras et al. 2022, Algorithm 2 without churn): an Euler step to σs,
    a second slope d′ there from `denoise(x, s)` (one more network call), then the step again with the
    mean slope (d + d′)/2. The last step (σs = 0) is a plain Euler step, as in the paper.

    `line_time` integrates in the straight line's time τ = σ/(1 + σ) ∈ [0, 1) instead, on the states
    u = x̃/(1 + σ) = (1 − τ)·x0 + τ·ε with slope (u − x̂0)/τ: flow matching's own variable (`flow`). The
    Euler step is the same either way (DDIM), but the mean of two slopes is not: from a flow's σ ≈ 1000 the
    first step in σ spans hundreds of units and averaging the slopes at its two ends amplifies x̂0's error."""
    if denoise is None:
        raise ValueError("heun_step needs denoise(x, s) -> x̂0 for its second network call")
    abar_t, abar_s = alpha_bar_at(schedule, t), alpha_bar_at(schedule, s)
    sigma_t, sigma_s = sigma_at(schedule, t), sigma_at(schedule, s)
    # The variable r and the state y = x̃·k in it: (σ, x̃) by default, (τ, u) on the line.
    r_t, r_s = (sigma_t / (1 + sigma_t), sigma_s / (1 + sigma_s)) if line_time else (sigma_t, sigma_s)
    k_t, k_s = (1 / (1 + sigma_t), 1 / (1 + sigma_s)) if line_time else (1.0, 1.0)
    y = x_t / abar_t**0.5 * k_t
    d = (y - x0_hat) / r_t
    y_euler = y + (r_s - r_t) * d
    if s < 0:
        return y_euler
    d_next = (y_euler - denoise(y_euler / k_s * abar_s**0.5, s)) / r_s
    return (y + (r_s - r_t) * (d + d_next) / 2) / k_s * abar_s**0.5


def dpmpp_2m_step(schedule: NoiseSchedule, x_t: torch.Tensor, t: int, s: int, x0_hat: torch.Tensor,
                  noise: torch.Tensor | None = None, *, denoise=None, previous=None) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) in the σ view, with λ = −log σ and h = λs − λt:

    x̃s = (σs/σt)·x̃t + (1 − σs/σt)·D,  D = (1 + 1/(2r))·x̂0 − 1/(2r)·x̂0_prev,  r = (λt − λ_prev)/h.

    The first step (no `previous`) and the last (σs = 0, where h is infinite) use D = x̂0: first order,
    which is the DDIM/Euler step.
    """
    abar_t, abar_s = alpha_bar_at(schedule, t), alpha_bar_at(schedule, s)
    sigma_t, sigma_s = sigma_at(schedule, t), sigma_at(schedule, s)
    d = x0_hat
    if previous is not None and s >= 0:
        t_prev, x0_prev = previous
        lam = lambda u: -math.log(sigma_at(schedule, u))  # noqa: E731
        r = (lam(t) - lam(t_prev)) / (lam(s) - lam(t))
        d = (1 + 1 / (2 * r)) * x0_hat - 1 / (2 * r) * x0_prev
    ratio = sigma_s / sigma_t
    return (ratio * x_t / abar_t**0.5 + (1 - ratio) * d) * abar_s**0.5


STEPS = {"ddpm": ddpm_step, "ddim": ddim_step, "euler": euler_step, "heun": heun_step, "dpmpp_2m": dpmpp_2m_step}


def network_calls(sampler: str, num_steps: int) -> int:
    """Network evaluations per image: one per step, except Heun's two (one on its last step)."""
    if sampler not in STEPS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {tuple(STEPS)}")
    return 2 * num_steps - 1 if sampler == "heun" else num_steps


def visited_timesteps(schedule: NoiseSchedule, num_steps: int | None = None, spacing: str = "leading",
                      last_t: int | None = None, grid: NoiseSchedule | None = None) -> list[int]:
    """The timesteps `sample_loop` visits, in order: `num_steps` of the T training steps (all T by
    default) with the given `spacing`, ending at `last_t` with "linspace" (`schedules.timesteps`); with a
    `grid` schedule, at `grid`'s noise levels there (`schedules.matched_timesteps`)."""
    ts = make_timesteps(schedule.num_timesteps, num_steps or schedule.num_timesteps, spacing, last_t)
    return (ts if grid is None else matched_timesteps(schedule, grid, ts)).tolist()


def sample_loop(model: Callable, x: torch.Tensor, schedule: NoiseSchedule, num_steps: int | None = None,
                sampler: str = "ddpm", spacing: str = "leading", prediction_type: str = "epsilon",
                clip_x0: float | None = None, generator: torch.Generator | None = None, last_t: int | None = None,
                grid: NoiseSchedule | None = None, timesteps: list[int] | None = None,
                condition: Callable | None = None,
                **step_options) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Run a sampler from x = x_T, yielding (t, x_s, x̂0) after each step; the last x is the sample.

    `model(x_t, t_batch)` returns the network's output (ε̂, x̂0 or v̂ by `prediction_type`: for a trained
    `DDPM`, `DDPM.sample_steps` passes its own settings). The timesteps are `visited_timesteps(schedule,
    num_steps, spacing, last_t, grid)`. `clip_x0` clamps x̂0 to [−clip_x0, clip_x0] before the step
    (images live in [−1, 1]).

    Edits (`editing`) change two things. `timesteps` visits these instead, with x at the first one: a
    tail of the usual ones (SDEdit starts mid-way), or a list that goes back up now and then (RePaint):
    a move up from t to s > t is no network call but the forward process q(x_s | x_t), x_s = √(ᾱs/ᾱt)·x_t
    + √(1 − ᾱs/ᾱt)·ε (the next step down starts a new multistep history). `condition(x, s)`, applied
    after every move, returns the state to go on from (inpainting pastes the known pixels, noised to s).
    """
    if sampler not in STEPS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {tuple(STEPS)}")
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"unknown prediction_type {prediction_type!r}; choose one of {PREDICTION_TYPES}")
    step = STEPS[sampler]

    def denoise(x, t):  # x̂0 of the network at (x, t), clipped
        t_batch = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        x0_hat, _ = predicted_x0_eps(schedule, x, t, model(x, t_batch), prediction_type)
        return x0_hat if clip_x0 is None else x0_hat.clamp(-clip_x0, clip_x0)

    ts = visited_timesteps(schedule, num_steps, spacing, last_t, grid) if timesteps is None else list(timesteps)
    previous, x0_hat = None, None
    for i, t in enumerate(ts):
        s = ts[i + 1] if i + 1 < len(ts) else -1
        if s > t:  # back up: q(x_s | x_t), no network call
            ratio = alpha_bar_at(schedule, s) / alpha_bar_at(schedule, t)
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
            x, previous = ratio**0.5 * x + (1 - ratio) ** 0.5 * noise, None
        else:
            x0_hat = denoise(x, t)
            # The generator advances only when noise is used: not on Algorithm 2's last step, not for DDIM at η = 0
            # (so each batch of `generate` starts from the noise its seed gives, whatever the sampler).
            noisy = s >= 0 and (sampler == "ddpm" or (sampler == "ddim" and step_options.get("eta", 0.0) > 0))
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device) if noisy else None
            x = step(schedule, x, t, s, x0_hat, noise, denoise=denoise, previous=previous, **step_options)
            previous = (t, x0_hat)
        if condition is not None:
            x = condition(x, s)
        yield t, x, x0_hat


def invert_loop(model: Callable, x0: torch.Tensor, schedule: NoiseSchedule, num_steps: int | None = None,
                spacing: str = "trailing", prediction_type: str = "epsilon",
                grid: NoiseSchedule | None = None) -> Iterator[tuple[int, torch.Tensor]]:
    """DDIM inversion: deterministic encoding of images x0 into noise, yielding (t, x_t) after each step.

    The η = 0 update run forwards over the same timesteps that `sample_loop` visits backwards (with the
    same `grid`):
    x_t = √ᾱt·x̂0 + √(1 − ᾱt)·ε̂, with ε̂ evaluated at the current, slightly less noisy state but at the
    target t (as in diffusers' `DDIMInverseScheduler`), and x̂0 = (x_s − √(1 − ᾱs)·ε̂)/√ᾱs. Decoding the
    result with `sample_loop(..., sampler="ddim")` over the same steps gives x0 back, up to the error of
    that approximation, which shrinks with the step size.
    """
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"unknown prediction_type {prediction_type!r}; choose one of {PREDICTION_TYPES}")
    ts = visited_timesteps(schedule, num_steps, spacing, grid=grid)[::-1]
    x, s = x0, -1
    for t in ts:
        t_batch = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        abar_s, abar_t = alpha_bar_at(schedule, s), alpha_bar_at(schedule, t)
        output = model(x, t_batch)
        if prediction_type == "epsilon":
            eps_hat = output
        else:  # the network's ε̂ as if x were at level t (close to s for small steps)
            _, eps_hat = predicted_x0_eps(schedule, x, t, output, prediction_type)
        x0_hat = (x - (1 - abar_s) ** 0.5 * eps_hat) / abar_s**0.5
        x = abar_t**0.5 * x0_hat + (1 - abar_t) ** 0.5 * eps_hat
        s = t
        yield t, x


def timestep_at_sigma(schedule: NoiseSchedule, sigma: float) -> float:
    """The fractional timestep t at which the schedule's σt equals `sigma`, linear in log σ between its
    integer steps (σt rises with t), clamped to [0, T − 1]: how a network trained on integer steps is asked
    about a noise level between them (the sinusoidal embedding takes any real t)."""
    log_sigmas = schedule.sigmas.log()
    x = math.log(sigma)
    if x <= log_sigmas[0]:
        return 0.0
    if x >= log_sigmas[-1]:
        return float(schedule.num_timesteps - 1)
    i = int(torch.searchsorted(log_sigmas, torch.tensor(x, dtype=torch.float64))) - 1
    return i + float((x - log_sigmas[i]) / (log_sigmas[i + 1] - log_sigmas[i]))


def probability_flow(model: Callable, schedule: NoiseSchedule, prediction_type: str = "epsilon") -> Callable:
    """The probability-flow ODE of a trained model in the σ view (Song et al. 2021, Eq. 13; Karras et al.
    2022, Eq. 4 with σ(t) = t), written in log σ so that a solver's steps scale with the noise level:

        dx̃/d(log σ) = σ·dx̃/dσ = σ·ε̂(x̃, σ),  x̃ = x_t/√ᾱt, ᾱ = 1/(1 + σ²).

    Returns f(log_sigma, x̃) → dx̃/d(log σ) for a continuous noise level, the network asked at the fractional
    timestep `timestep_at_sigma` and its output turned into ε̂ with ᾱ of σ itself. An adaptive solver
    (SciPy's `solve_ivp`, chapter 12) integrates it from σ_max down to σ_min; `sample_loop`'s solvers take
    fixed steps on the same ODE (DDIM is its Euler step, `euler_step`)."""
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"unknown prediction_type {prediction_type!r}; choose one of {PREDICTION_TYPES}")

    def f(log_sigma: float, x_tilde: torch.Tensor) -> torch.Tensor:
        sigma = math.exp(log_sigma)
        abar = 1 / (1 + sigma**2)
        x = x_tilde * abar**0.5
        t = torch.full((x.shape[0],), timestep_at_sigma(schedule, sigma), device=x.device)
        out = model(x, t)
        eps = {"epsilon": lambda: out, "v_prediction": lambda: (1 - abar) ** 0.5 * x + abar**0.5 * out,
               "sample": lambda: (x - abar**0.5 * out) / (1 - abar) ** 0.5}[prediction_type]()
        return sigma * eps

    return f
