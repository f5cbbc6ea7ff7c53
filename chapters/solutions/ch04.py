"""Solutions to chapter 04's exercises, computed as a reader would: from the formulas for exercises 1 to 4
(the checks run the package's EMA update, sampling loop and FID instead, so each solution is also a
cross-check), and with the package's classifier and FID for exercise 5.

`ANSWERS[name]()` passes `checks.ch04.<name>`; `WRONG[name]` is a plausible mistake that fails it.
"""
from __future__ import annotations

import math

import torch

from checks.ch04 import (DDIM_STEPS, EMA_DECAY, EMA_STEPS, MU_A, MU_B, NUM_IMAGES, REAL_N, REAL_SEED, SIGMA_A,
                         SIGMA_B, T, WEIGHT_GAMMA, WEIGHT_T, WINDOW_RECIPE)
from diffusion_lite.checkpoints import get_recipe
from diffusion_lite.datasets import load_fashion_mnist, to_model_range
from diffusion_lite.metrics import classifier_outputs, frechet_distance, load_classifier


def ema_initial_weight() -> float:
    """Exercise 1: each update keeps a share d of the average, so d^n of the initial weights is left."""
    return EMA_DECAY ** EMA_STEPS


def ema_window() -> float:
    """Exercise 2: d_n = (1 + n)/(10 + n) < 0.9995 for n < 17,990, so 1/(1 − d_n) = (10 + n)/9."""
    cfg = get_recipe(WINDOW_RECIPE).train
    n = cfg.steps - 1
    d_n = min(cfg.ema_decay, (1 + n) / (10 + n))
    return 1 / (1 - d_n)


def network_evaluations() -> tuple[int, int]:
    """Exercise 3: one evaluation per image and step."""
    return NUM_IMAGES * DDIM_STEPS, NUM_IMAGES * T


def gaussian_fid() -> float:
    """Exercise 4: Eq. 6 with diagonal covariances, where (ΣaΣb)^½ is the entrywise root of the product."""
    mean_term = float(((MU_A - MU_B) ** 2).sum())
    var_a, var_b = SIGMA_A.diagonal(), SIGMA_B.diagonal()
    cov_term = float((var_a + var_b - 2 * (var_a * var_b).sqrt()).sum())
    return mean_term + cov_term


def real_fid() -> float:
    """Exercise 5: the floor at N = REAL_N, with the book classifier's features."""
    g = torch.Generator().manual_seed(REAL_SEED)
    train, _ = load_fashion_mnist("train")
    test, _ = load_fashion_mnist("test")
    train_idx = torch.randperm(60000, generator=g)[:REAL_N]
    test_idx = torch.randperm(10000, generator=g)[:REAL_N]
    classifier = load_classifier()
    feats_train, _ = classifier_outputs(classifier, to_model_range(train[train_idx]))
    feats_test, _ = classifier_outputs(classifier, to_model_range(test[test_idx]))
    return frechet_distance(feats_train, feats_test)


def min_snr_weight() -> float:
    """Exercise 6: ᾱt from the linear βs, SNR_t = ᾱt/(1 − ᾱt), weight min(SNR_t, γ)/SNR_t."""
    d = get_recipe("fashion-ddpm").ddpm
    betas = torch.linspace(d.beta_start, d.beta_end, d.timesteps, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0)[WEIGHT_T]
    snr = float(abar / (1 - abar))
    return min(snr, WEIGHT_GAMMA) / snr


ANSWERS = {
    "check_ema_initial_weight": ema_initial_weight,
    "check_ema_window": ema_window,
    "check_network_evaluations": network_evaluations,
    "check_gaussian_fid": gaussian_fid,
    "check_real_fid": real_fid,
    "check_min_snr_weight": min_snr_weight,
}
WRONG = {
    "check_ema_initial_weight": 1 - math.exp(-EMA_STEPS * (1 - EMA_DECAY)),  # the trained share, not the initial one
    "check_ema_window": 1 / (1 - EMA_DECAY),  # ignores the warm-up
    "check_network_evaluations": (DDIM_STEPS, T),  # per image, not for all the images
    "check_gaussian_fid": 2.0,  # the covariance term alone, without ‖μa − μb‖²
    "check_real_fid": 0.0,  # "two real sets of the same data have FID 0"
    "check_min_snr_weight": WEIGHT_GAMMA,  # the x0-error's weight, not the ε-error's
}
