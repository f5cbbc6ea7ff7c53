"""Solutions to chapter 10's exercises, worked out from the definitions as a reader would.

`ANSWERS[name]()` passes `checks.ch10.<name>`; `WRONG[name]` is a plausible mistake that fails it.
"""
from __future__ import annotations

from checks.ch10 import SCENE_SIDE, STEPS


def latent_shape() -> tuple:
    """Exercise 1: 4 channels, each side divided by 4 (two halvings)."""
    return (4, SCENE_SIDE // 4, SCENE_SIDE // 4)


def layout() -> tuple:
    """Exercise 2: the bag (8) in the top left (cell 0), the sneaker (7) in the bottom right (cell 3)."""
    return (8, -1, -1, 7)


def guided_calls() -> int:
    """Exercise 3: one call with the caption and one without at each of the 20 steps."""
    return 2 * STEPS


ANSWERS = {"check_latent_shape": latent_shape, "check_layout": layout, "check_guided_calls": guided_calls}
WRONG = {"check_latent_shape": (4, 7, 7), "check_layout": (7, -1, -1, 8), "check_guided_calls": STEPS}
