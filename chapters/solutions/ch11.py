"""Solutions to chapter 11's exercises, worked out from the definitions as a reader would.

`ANSWERS[name]()` passes `checks.ch11.<name>`; `WRONG[name]` is a plausible mistake that fails it.
"""
from __future__ import annotations

from checks.ch11 import ABAR, EPS, JUMP_LENGTH, REPAINT_STEPS, RESAMPLE, SDEDIT_STEPS, STRENGTH, X0


def pasted_value() -> float:
    """Exercise 1: √ᾱ·x0 + √(1 − ᾱ)·ε = 0.5·0.5 − √0.75 ≈ −0.616."""
    return ABAR ** 0.5 * X0 + (1 - ABAR) ** 0.5 * EPS


def sdedit_calls() -> int:
    """Exercise 2: the last 0.3 × 50 = 15 steps."""
    return round(STRENGTH * SDEDIT_STEPS)


def repaint_calls() -> int:
    """Exercise 3: 20 steps down, plus (resample − 1) = 2 passes over 5 steps at each of the jumps at steps
    5, 10 and 15 (none at the end): 20 + 3·2·5 = 50."""
    jumps = len(range(JUMP_LENGTH, REPAINT_STEPS, JUMP_LENGTH))
    return REPAINT_STEPS + jumps * (RESAMPLE - 1) * JUMP_LENGTH


ANSWERS = {"check_pasted_value": pasted_value, "check_sdedit_calls": sdedit_calls, "check_repaint_calls": repaint_calls}
WRONG = {"check_pasted_value": X0 * ABAR + (1 - ABAR) * EPS, "check_sdedit_calls": SDEDIT_STEPS,
         "check_repaint_calls": REPAINT_STEPS * RESAMPLE}
