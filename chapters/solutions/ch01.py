"""Solutions to chapter 01's exercises, solved as a reader would, with the package's `NoiseSchedule`."""
from __future__ import annotations

import math

import torch

from diffusion_lite import NoiseSchedule


def beta_end() -> float:
    """Exercise 1: ᾱ_T falls as β_end grows, so bisect on β_end until ᾱ_T = 1e-3.

    Start from the first-order estimate: ln ᾱ_T = Σ ln(1 − βt) ≈ −Σβt = −T·(β_start + β_end)/2, so
    β_end ≈ 2·ln(1000)/T − β_start ≈ 0.01372. That keeps ᾱ_T a little below 1e-3 (ln(1 − β) < −β), so
    the exact answer is slightly smaller; bracket it and bisect.
    """
    def alpha_bar_T(b):
        return float(NoiseSchedule.make("linear", 1000, 1e-4, b).alphas_cumprod[-1])

    lo, hi = 0.01, 0.02  # ᾱ_T(0.01) > 1e-3 > ᾱ_T(0.02)
    while hi - lo > 1e-10:
        mid = (lo + hi) / 2
        if alpha_bar_T(mid) < 1e-3:
            hi = mid
        else:
            lo = mid
    return hi


def cosine_snr_crossing() -> int:
    """Exercise 2: SNR(t) < 1 ⇔ ᾱt < 1/2; the first code index where that holds."""
    alphas_cumprod = NoiseSchedule.make("cosine", 1000).alphas_cumprod
    return int(torch.nonzero(alphas_cumprod < 0.5)[0])


def two_step_variance() -> float:
    """Exercise 3: x_2 = √α2·(√α1·x0 + √β1·ε1) + √β2·ε2, so Var(x_2 | x_0) = α2·β1 + β2 = 1 − α1·α2."""
    beta1, beta2 = 0.1, 0.2
    return (1 - beta2) * beta1 + beta2


def constant_beta_steps() -> int:
    """Exercise 4: ᾱ_T = (1 − β)^T < 1e-3 ⇔ T > ln(1e-3)/ln(1 − β); the smallest such integer."""
    return math.floor(math.log(1e-3) / math.log(1 - 0.02)) + 1


ANSWERS = {
    "check_beta_end": beta_end,
    "check_cosine_snr_crossing": cosine_snr_crossing,
    "check_two_step_variance": two_step_variance,
    "check_constant_beta_steps": constant_beta_steps,
}

# Plausible mistakes, each of which the check must reject.
WRONG = {
    "check_beta_end": 2 * math.log(1000) / 1000 - 1e-4,  # the first-order estimate, 0.5% too large
    "check_cosine_snr_crossing": 497,  # the paper's step number, not the code's index
    "check_two_step_variance": 0.1 + 0.2,  # β1 + β2: forgets that step 2 shrinks the first noise
    "check_constant_beta_steps": math.ceil(math.log(1000) / 0.02),  # ln(1 − β) ≈ −β gives 346
}
