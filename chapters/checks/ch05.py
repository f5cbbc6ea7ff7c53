"""Checks for chapter 05 (faster sampling): `from checks.ch05 import check_...`.

Every check computes the right answer with `diffusion_lite` (the schedule's tables, the package's step
functions and sampling loop), never from a stored number.
"""
from __future__ import annotations

import math

import torch

from torch.utils.flop_counter import FlopCounterMode

from diffusion_lite.checkpoints import get_recipe
from diffusion_lite.samplers import euler_step, network_calls, sample_loop, sigma_at
from diffusion_lite.schedules import NoiseSchedule, timesteps
from diffusion_lite.unet import DeepCache, UNet

from . import close, unanswered, verdict

SCHEDULE = NoiseSchedule.make("linear", 1000)
# Exercise 1: σt at this t.
SIGMA_T = 499
# Exercise 2: Heun with HEUN_STEPS steps for HEUN_IMAGES images.
HEUN_STEPS, HEUN_IMAGES = 25, 1000
# Exercise 3: one Euler step of a single pixel.
EULER_X, EULER_X0, EULER_T, EULER_S = 0.3, 0.8, 600, 400
# Exercise 4: DPM-Solver++(2M)'s observed order between these step counts, on N(0, ORACLE_STD²) data.
ORDER_STEPS, ORACLE_STD = (20, 40), 0.5
# Exercise 5: the FLOPs saved by DeepCache(network, CACHE_EVERY) over CACHE_CALLS calls (DDIM with 50 steps).
CACHE_EVERY, CACHE_CALLS = 3, 50
# Exercise 6: the last timestep that "trailing" spacing visits with this many steps (T = 1,000).
LAST_STEPS = 30


def check_sigma(answer) -> bool:
    """Exercise 1: σt = √((1 − ᾱt)/ᾱt)."""
    if unanswered(answer):
        return False
    right = float(SCHEDULE.sigmas[SIGMA_T])
    hint = "σt = √((1 − ᾱt)/ᾱt) with ᾱt = schedule.alphas_cumprod[t]."
    if close(answer, right**2, rel=1e-3):
        hint = "That is σt², the noise-to-signal ratio of variances; take its square root."
    elif close(answer, float((1 - SCHEDULE.alphas_cumprod[SIGMA_T]).sqrt()), rel=1e-3):
        hint = "That is √(1 − ᾱt), the noise's standard deviation in the ᾱ view; divide by √ᾱt."
    return verdict(close(answer, right, rel=1e-3), f"σ_{SIGMA_T} = {right:.4f}: at t = {SIGMA_T} the noise in the "
                   "σ view is about as large as the image's own range.", hint)


def check_heun_calls(answer) -> bool:
    """Exercise 2: Heun's calls: two per step, one on the last."""
    if unanswered(answer):
        return False
    right = network_calls("heun", HEUN_STEPS) * HEUN_IMAGES
    hint = "Two calls per step, except the last step to σ = 0, which is a plain Euler step; times the images."
    if close(answer, 2 * HEUN_STEPS * HEUN_IMAGES):
        hint = "Almost: the last step (to σ = 0) makes only one call."
    return verdict(close(answer, right), f"{right:,} calls: (2·{HEUN_STEPS} − 1) per image.", hint)


def euler_answer() -> float:
    x, x0 = torch.tensor([EULER_X], dtype=torch.float64), torch.tensor([EULER_X0], dtype=torch.float64)
    return float(euler_step(SCHEDULE, x, EULER_T, EULER_S, x0, None))


def check_euler_step(answer) -> bool:
    """Exercise 3: x̃t = x_t/√ᾱt, x̃s = x̃t + (σs − σt)(x̃t − x̂0)/σt, x_s = √ᾱs·x̃s."""
    if unanswered(answer):
        return False
    right = euler_answer()
    abar_s = float(SCHEDULE.alphas_cumprod[EULER_S])
    hint = ("x̃t = x_t/√ᾱt; d = (x̃t − x̂0)/σt; x̃s = x̃t + (σs − σt)·d; then multiply by √ᾱs to return "
            "to the ᾱ view.")
    if close(answer, right / abar_s**0.5, rel=1e-3):
        hint = "That is x̃s, still in the σ view: multiply by √ᾱs."
    return verdict(close(answer, right, rel=1e-3),
                   f"x_s = {right:.4f}, σ {sigma_at(SCHEDULE, EULER_T):.3f} → {sigma_at(SCHEDULE, EULER_S):.3f}; "
                   "the same number as DDIM with η = 0.", hint)


def oracle(x, t):
    a = SCHEDULE.alphas_cumprod[t].to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
    return (1 - a).sqrt() * x / (a * ORACLE_STD**2 + 1 - a)


def ode_error(sampler: str, steps: int) -> float:
    x_T = torch.linspace(-3, 3, 7, dtype=torch.float64).view(7, 1)
    for _, x, _ in sample_loop(oracle, x_T, SCHEDULE, steps, sampler, "trailing"):
        pass
    s_T = sigma_at(SCHEDULE, 999)
    exact = x_T / float(SCHEDULE.alphas_cumprod[999]) ** 0.5 * ORACLE_STD / math.sqrt(ORACLE_STD**2 + s_T**2)
    return float((x - exact).abs().max())


def check_dpmpp_order(answer) -> bool:
    """Exercise 4: log2(e20/e40) for DPM-Solver++(2M)."""
    if unanswered(answer):
        return False
    a, b = ORDER_STEPS
    right = math.log2(ode_error("dpmpp_2m", a) / ode_error("dpmpp_2m", b))
    hint = f"p = log2(e{a}/e{b}) with e_n = ode_error('dpmpp_2m', n) from section 3."
    if close(answer, -right, rel=1e-2):
        hint = f"The sign: the error falls, so e{a}/e{b} > 1 and p > 0."
    return verdict(close(answer, right, rel=1e-2),
                   f"p = {right:.2f}: well above 2 here, because at 40 steps the error is already down to that "
                   "of the first-order last step, which does not shrink at the same rate; past that the curve "
                   "flattens (and even rises at 80).", hint)


def cached_flop_ratio() -> float:
    """FLOPs of CACHE_CALLS plain calls of the book's checkpoint network over those of the same calls
    through DeepCache, counted by running both on one image."""
    torch.manual_seed(0)
    network = UNet(get_recipe("fashion-ddpm").unet).eval()  # the FLOPs do not depend on the weights
    x = torch.randn(1, 1, 28, 28)
    flops = []
    for model in (network, DeepCache(network, CACHE_EVERY)):
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            for t in range(CACHE_CALLS):
                model(x, torch.tensor([999 - 20 * t]))
        flops.append(counter.get_total_flops())
    return flops[0] / flops[1]


def check_cache_flops(answer) -> bool:
    """Exercise 5: 50 full calls against ⌈50/3⌉ full and the rest level-0-only calls."""
    if unanswered(answer):
        return False
    right = cached_flop_ratio()
    full = -(-CACHE_CALLS // CACHE_EVERY)
    hint = (f"Count the full calls (the first, then every {CACHE_EVERY}rd) and the cached ones, and what each "
            "costs per image: a full call 229 MFLOP, a cached one 59 (section 6).")
    if close(answer, CACHE_CALLS / full, rel=1e-2) or close(answer, CACHE_EVERY, rel=1e-2):
        hint = "That counts only the full calls: the cached calls still run level 0, 59 MFLOP each."
    return verdict(close(answer, right, rel=1e-2),
                   f"{right:.2f}× fewer FLOPs: {full} full calls and {CACHE_CALLS - full} cached ones. The "
                   "measured time fell by less (52 s to 30 s), as level 0's large maps are the slowest to move "
                   "through memory.", hint)


def check_last_t(answer) -> bool:
    """Exercise 6: the last t of "trailing" spacing, from the package's `timesteps`."""
    if unanswered(answer):
        return False
    T = SCHEDULE.num_timesteps
    right = int(timesteps(T, LAST_STEPS, "trailing")[-1])
    hint = (f"Trailing spacing visits round(T − k·T/n) − 1 for k = 0, ..., n − 1; take k = n − 1 with "
            f"n = {LAST_STEPS}.")
    if close(answer, 0):
        hint = "t = 0 is where 'leading' and 'linspace' spacing end; trailing stops short of it."
    elif close(answer, round(T / LAST_STEPS)):
        hint = "Off by one: timesteps count from 0, so trailing spacing starts at T − 1 = 999, not at 1,000."
    return verdict(close(answer, right), f"t = {right} (σ ≈ {sigma_at(SCHEDULE, right):.2f}): from there the last "
                   "step jumps to x̂0. With trailing spacing that end moves with the number of steps; `last_t` "
                   "fixes it.", hint)
