"""Solutions to chapter 05's exercises, computed as a reader would: from the formulas (the checks use the
package's tables, step functions and sampling loop, so each solution is also a cross-check).

`ANSWERS[name]()` passes `checks.ch05.<name>`; `WRONG[name]` is a plausible mistake that fails it.
"""
from __future__ import annotations

import math

import torch

from checks.ch05 import (CACHE_CALLS, CACHE_EVERY, EULER_S, EULER_T, EULER_X, EULER_X0, HEUN_IMAGES, HEUN_STEPS,
                         LAST_STEPS, ORACLE_STD, ORDER_STEPS, SIGMA_T)

T, BETA_START, BETA_END = 1000, 1e-4, 0.02


def alpha_bar(t: int) -> float:
    betas = torch.linspace(BETA_START, BETA_END, T, dtype=torch.float64)
    return float(torch.cumprod(1 - betas, 0)[t])


def sigma(t: int) -> float:
    """Exercise 1: σt = √((1 − ᾱt)/ᾱt)."""
    return math.sqrt((1 - alpha_bar(t)) / alpha_bar(t))


def heun_calls() -> int:
    """Exercise 2: 2N − 1 calls per image."""
    return (2 * HEUN_STEPS - 1) * HEUN_IMAGES


def euler_step() -> float:
    """Exercise 3: into the σ view, one Euler step, back."""
    x_tilde = EULER_X / math.sqrt(alpha_bar(EULER_T))
    d = (x_tilde - EULER_X0) / sigma(EULER_T)
    return (x_tilde + (sigma(EULER_S) - sigma(EULER_T)) * d) * math.sqrt(alpha_bar(EULER_S))


def dpmpp_order() -> float:
    """Exercise 4: the errors of DPM-Solver++(2M), written out step by step for the Gaussian oracle."""
    def ideal_x0(x_tilde, s):  # the ideal denoiser for N(0, std²) data, in the σ view
        return ORACLE_STD**2 / (ORACLE_STD**2 + s**2) * x_tilde

    def error(n):
        ts = [round(T - 1 - k * T / n) for k in range(n)] + [-1]  # "trailing": T−1 down to T/n − 1, then clean
        sig = [sigma(t) if t >= 0 else 0.0 for t in ts]
        x_T = torch.linspace(-3, 3, 7, dtype=torch.float64)
        x, prev = x_T / math.sqrt(alpha_bar(T - 1)), None
        for i in range(n):
            x0 = ideal_x0(x, sig[i])
            d = x0
            if prev is not None and sig[i + 1] > 0:
                h, h_prev = math.log(sig[i] / sig[i + 1]), math.log(sig[i - 1] / sig[i])
                r = h_prev / h
                d = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * prev
            x, prev = sig[i + 1] / sig[i] * x + (1 - sig[i + 1] / sig[i]) * d, x0
        exact = x_T / math.sqrt(alpha_bar(T - 1)) * ORACLE_STD / math.sqrt(ORACLE_STD**2 + sig[0] ** 2)
        return float((x - exact).abs().max())

    a, b = ORDER_STEPS
    return math.log2(error(a) / error(b))


def cache_flops() -> float:
    """Exercise 5: with chapter 05's numbers, 229 MFLOP per full call and 59 per cached call."""
    full = math.ceil(CACHE_CALLS / CACHE_EVERY)  # calls 0, 3, 6, ..., 48: 17 of them
    return CACHE_CALLS * 229 / (full * 229 + (CACHE_CALLS - full) * 59)


def last_t() -> int:
    """Exercise 6: trailing spacing visits round(T − k·T/n) − 1, k = 0, ..., n − 1; the last is k = n − 1."""
    return round(T - (LAST_STEPS - 1) * T / LAST_STEPS) - 1  # round(33.3) − 1 = 32


ANSWERS = {
    "check_sigma": lambda: sigma(SIGMA_T),
    "check_heun_calls": heun_calls,
    "check_euler_step": euler_step,
    "check_dpmpp_order": dpmpp_order,
    "check_cache_flops": cache_flops,
    "check_last_t": last_t,
}
WRONG = {
    "check_sigma": math.sqrt(1 - alpha_bar(SIGMA_T)),  # the ᾱ view's noise level, not σ
    "check_heun_calls": 2 * HEUN_STEPS * HEUN_IMAGES,  # forgets that the last step is a single call
    "check_euler_step": euler_step() / math.sqrt(alpha_bar(EULER_S)),  # left in the σ view
    "check_dpmpp_order": 1.0,  # "second-order methods have order 2, first-order 1": guessed, not measured
    "check_cache_flops": CACHE_CALLS / math.ceil(CACHE_CALLS / CACHE_EVERY),  # cached calls taken as free
    "check_last_t": round(T / LAST_STEPS),  # T/n, forgetting that timesteps count from 0
}
