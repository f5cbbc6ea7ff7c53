"""Checks for chapter 12 (beyond): `from checks.ch12 import check_...`.

Every check computes the right answer with `diffusion_lite` (the schedule's ᾱ, the linear path's σ table), never from a stored number.
"""
from __future__ import annotations

import torch

from diffusion_lite.flow import linear_path_schedule, path_times
from diffusion_lite.samplers import sigma_at

from . import as_int, close, unanswered, verdict

# Exercise 1: the score for a predicted EPS_HAT at a level with ᾱ = ABAR.
EPS_HAT, ABAR = 0.8, 0.36
# Exercise 2: the σ of the linear path at time T_LINE.
T_LINE = 0.2
# Exercise 3: each process's share of a global BATCH over PROCESSES.
BATCH, PROCESSES = 96, 3


def check_score(answer) -> bool:
    """s = −ε̂/√(1 − ᾱ), with √(1 − ᾱ) from a one-step schedule whose ᾱ is ABAR."""
    if unanswered(answer):
        return False
    abar = float(torch.cumprod(1 - torch.tensor([1 - ABAR], dtype=torch.float64), 0)[0])
    right = -EPS_HAT / (1 - abar) ** 0.5
    hint = "The score of q(x_t | x0) is −ε/√(1 − ᾱ): the noise points away from where the density rises."
    return verdict(close(answer, right, rel=1e-3), f"{right:.4f} = −{EPS_HAT}/√{1 - ABAR:.2f}.", hint)


def check_line_sigma(answer) -> bool:
    """σ of `flow.linear_path_schedule` at the step whose t (`flow.path_times`) is T_LINE, with T = 4."""
    if unanswered(answer):
        return False
    k = int(torch.argmin((path_times(4) - T_LINE).abs()))  # T = 4: t_k = 0.2, 0.4, 0.6, 0.8
    right = sigma_at(linear_path_schedule(4), k)
    hint = "x_t/(1 − t) = x0 + t/(1 − t)·ε: divide the line by its signal coefficient."
    return verdict(close(answer, right, rel=1e-3), f"{right:.4f} = {T_LINE}/(1 − {T_LINE}): at t = 0.2 the line is "
                   "a gently noised image; σ = 1 (equal signal and noise) is t = 0.5.", hint)


def check_ddp_share(answer) -> bool:
    """The slice that `training.Trainer` gives each process: batch_size // world, as it computes it."""
    if unanswered(answer):
        return False
    right = BATCH // PROCESSES
    hint = "The recipe's batch_size is the global batch; each process computes the loss on an equal slice of it."
    return verdict(as_int(answer) == right, f"{right}: {PROCESSES} × {right} = {BATCH}, and DDP averages the {PROCESSES} gradients, so "
                   "the step is the one a single process takes on all 96.", hint)
