"""Solutions to chapter 07's exercises, written from the formulas as a reader would (the checks use
the package, so each solution is also a cross-check of it).

`ANSWERS[name]()` passes `checks.ch07.<name>`; `WRONG[name]` is a plausible mistake that fails it.
"""
from __future__ import annotations

import math

from checks.ch07 import LATENT_CHANNELS, LATENTS, LEVEL_CHANNELS, MU, SIGMA, SIZE


def kl() -> float:
    """Exercise 1: ½ (μ² + σ² − 1 − log σ²)."""
    return 0.5 * (MU**2 + SIGMA**2 - 1 - math.log(SIGMA**2))


def scaling_factor() -> float:
    """Exercise 2: 1 / std of all the numbers (the sample standard deviation, n − 1)."""
    values = LATENTS.flatten().tolist()
    mean = sum(values) / len(values)
    return 1 / math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def latent_shape() -> tuple:
    """Exercise 3: each of the len − 1 halvings halves both sides."""
    factor = 2 ** (len(LEVEL_CHANNELS) - 1)
    return (LATENT_CHANNELS, SIZE // factor, SIZE // factor)


ANSWERS = {"check_kl": kl, "check_scaling_factor": scaling_factor, "check_latent_shape": latent_shape}
WRONG = {"check_kl": 0.5 * (MU**2 + SIGMA - 1 - math.log(SIGMA)), "check_scaling_factor": float(LATENTS.std()),
         "check_latent_shape": (LATENT_CHANNELS, SIZE // 4, SIZE // 4)}
