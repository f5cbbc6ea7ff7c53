"""Checks for chapter 01, the forward process. Each computes the right answer with `diffusion_lite`."""
from __future__ import annotations

import torch

from diffusion_lite import NoiseSchedule

from . import close, unanswered, verdict


def _alpha_bar_T_linear(beta_end: float, num_timesteps: int = 1000, beta_start: float = 1e-4) -> float:
    return float(NoiseSchedule.make("linear", num_timesteps, beta_start, beta_end).alphas_cumprod[-1])


def _beta_end_for_alpha_bar_T(target: float = 1e-3, num_timesteps: int = 1000, beta_start: float = 1e-4) -> float:
    """The β_end at which ᾱ_T of the linear schedule equals `target`, by bisection (ᾱ_T falls as β_end grows)."""
    lo, hi = beta_start, 0.999
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if _alpha_bar_T_linear(mid, num_timesteps, beta_start) < target else (mid, hi)
    return (lo + hi) / 2


def check_beta_end(answer) -> bool:
    """Exercise 1: β_end of the linear schedule (T = 1000, β_start = 1e-4) with ᾱ_T = 1e-3, within 0.1%."""
    if unanswered(answer):
        return False
    right = _beta_end_for_alpha_bar_T()
    try:
        yours = _alpha_bar_T_linear(float(answer))
    except (TypeError, ValueError) as e:
        return verdict(False, "", f"{answer!r} is not a valid β_end: {e}")
    return verdict(close(answer, right, rel=1e-3), f"Your β_end gives ᾱ_T = {yours:.4g}.",
                   f"Your β_end gives ᾱ_T = {yours:.4g}, not 1e-3 (to 0.1% in β_end). The first-order estimate "
                   "Σβt ≈ −ln ᾱ_T is about 0.5% off; solve ᾱ_T(β_end) = 1e-3 numerically, e.g. by bisection "
                   "with NoiseSchedule.make.")


def check_cosine_snr_crossing(answer) -> bool:
    """Exercise 2: the first code index t (0-based) at which SNR(t) < 1 for the cosine schedule, T = 1000."""
    if unanswered(answer):
        return False
    right = NoiseSchedule.make("cosine", 1000).first_t_below_snr(1.0)
    ok = close(answer, right, rel=0.0, abs_=0.0)
    hint = "SNR(t) < 1 exactly when ᾱt < 1/2; find the first such t in schedule.alphas_cumprod."
    if close(answer, right + 1, rel=0.0):
        hint = "That is the paper's step number; the code counts from 0 (code t = paper t − 1)."
    return verdict(ok, f"From code step t = {right} on, there is more noise than signal.", hint)


def check_two_step_variance(answer) -> bool:
    """Exercise 3: Var(x_2 | x_0) after two one-step noisings with β1 = 0.1, β2 = 0.2."""
    if unanswered(answer):
        return False
    schedule = NoiseSchedule(torch.tensor([0.1, 0.2], dtype=torch.float64))
    right = float(1 - schedule.alphas_cumprod[-1])
    ok = close(answer, right, rel=1e-6, abs_=1e-9)
    return verdict(ok, "Var = α2·β1 + β2 = 1 − α1·α2 = 1 − ᾱ2, as Eq. 4 says.",
                   "Write x_2 = √α2·x_1 + √β2·ε2 and x_1 = √α1·x_0 + √β1·ε1: the first noise is shrunk by √α2 "
                   "too, and variances of independent terms add.")


def check_constant_beta_steps(answer) -> bool:
    """Exercise 4: the smallest number of steps T with ᾱ_T < 1e-3 when every βt = 0.02."""
    if unanswered(answer):
        return False
    schedule = NoiseSchedule(torch.full((2000,), 0.02, dtype=torch.float64))
    right = int(torch.nonzero(schedule.alphas_cumprod < 1e-3)[0]) + 1  # code index t is step t + 1
    ok = close(answer, right, rel=0.0, abs_=0.0)
    return verdict(ok, f"(1 − 0.02)^{right} < 1e-3 ≤ (1 − 0.02)^{right - 1}.",
                   "With constant β, ᾱ_T = (1 − β)^T; solve (1 − β)^T < 1e-3 for the smallest integer T "
                   "(ln(1 − β) ≈ −β is not accurate enough here).")
