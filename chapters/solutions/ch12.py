"""Solutions to chapter 12's exercises, worked out from the definitions as a reader would.

`ANSWERS[name]()` passes `checks.ch12.<name>`; `WRONG[name]` is a plausible mistake that fails it.
"""
from __future__ import annotations

from checks.ch12 import ABAR, BATCH, EPS_HAT, PROCESSES, T_LINE


def score() -> float:
    """Exercise 1: −ε̂/√(1 − ᾱ) = −0.8/0.8 = −1."""
    return -EPS_HAT / (1 - ABAR) ** 0.5


def line_sigma() -> float:
    """Exercise 2: σ = t/(1 − t) = 0.2/0.8 = 0.25."""
    return T_LINE / (1 - T_LINE)


def ddp_share() -> int:
    """Exercise 3: 96/3 = 32 images per process."""
    return BATCH // PROCESSES


ANSWERS = {"check_score": score, "check_line_sigma": line_sigma, "check_ddp_share": ddp_share}
WRONG = {"check_score": EPS_HAT / (1 - ABAR) ** 0.5, "check_line_sigma": T_LINE, "check_ddp_share": BATCH}
