"""Checks for chapter 11 (applications): `from checks.ch11 import check_...`.

Every check computes the right answer with `diffusion_lite` (the forward process, SDEdit's and RePaint's
timesteps), never from a stored number.
"""
from __future__ import annotations

import torch

from diffusion_lite import DDPM
from diffusion_lite.editing import repaint_timesteps, sdedit_options
from diffusion_lite.process import add_noise
from diffusion_lite.schedules import NoiseSchedule

from . import as_int, close, unanswered, verdict

# Exercise 1: the value replacement pastes for a known pixel X0 at a level with ᾱ = ABAR and noise EPS.
X0, ABAR, EPS = 0.5, 0.25, -1.0
# Exercise 2: SDEdit's network calls at STRENGTH over SDEDIT_STEPS steps, unguided.
STRENGTH, SDEDIT_STEPS = 0.3, 50
# Exercise 3: RePaint's network calls over REPAINT_STEPS steps with JUMP_LENGTH and RESAMPLE.
REPAINT_STEPS, JUMP_LENGTH, RESAMPLE = 20, 5, 3


def check_pasted_value(answer) -> bool:
    """`process.add_noise` of X0 at a one-step schedule whose ᾱ is ABAR, with noise EPS."""
    if unanswered(answer):
        return False
    schedule = NoiseSchedule(betas=torch.tensor([1 - ABAR]))
    right = float(add_noise(schedule, torch.tensor([X0]), torch.tensor([0]), torch.tensor([EPS])))
    hint = "The known region at level s is a sample of q(x_s | x0): √ᾱs·x0 + √(1 − ᾱs)·ε."
    return verdict(close(answer, right, rel=1e-3), f"{right:.4f} = √{ABAR}·{X0} + √{1 - ABAR}·({EPS:g}): at this "
                   "level the pasted pixel is mostly noise, which is all the generated part sees of it.", hint)


def check_sdedit_calls(answer) -> bool:
    """The length of `editing.sdedit_options`' timesteps (one call each, no guidance)."""
    if unanswered(answer):
        return False
    ddpm = DDPM(torch.nn.Identity(), timesteps=1000)
    right = len(sdedit_options(ddpm, torch.zeros(1, 1, 2, 2), STRENGTH, SDEDIT_STEPS)["timesteps"])
    hint = "SDEdit runs the last strength × steps of the steps, one network call each."
    return verdict(as_int(answer) == right, f"{right}: an edit at strength {STRENGTH} costs {STRENGTH:.0%} of a "
                   "sample.", hint)


def check_repaint_calls(answer) -> bool:
    """The moves down in `editing.repaint_timesteps` (each one network call; moves up are none)."""
    if unanswered(answer):
        return False
    ts = list(range(REPAINT_STEPS))[::-1]
    schedule = repaint_timesteps(ts, JUMP_LENGTH, RESAMPLE)
    right = sum(1 for a, b in zip(schedule, schedule[1:] + [-1]) if b < a)
    hint = (f"Every {JUMP_LENGTH} steps except at the end, the last {JUMP_LENGTH} steps are done "
            f"{RESAMPLE - 1} more times.")
    return verdict(as_int(answer) == right, f"{right}: {right / REPAINT_STEPS:.1f}× the plain sampler's "
                   f"{REPAINT_STEPS} calls.", hint)
