"""Solutions to chapter 06's exercises, computed as a reader would: from the formulas, and from the
benchmark's results file for exercise 4 (the checks use the package's wrapper and call counts).

`ANSWERS[name]()` passes `checks.ch06.<name>`; `WRONG[name]` is a plausible mistake that fails it.
"""
from __future__ import annotations

import json

from checks.ch06 import (CALLS_IMAGES, CALLS_STEPS, DROPOUT_RECIPE, EPS_COND, EPS_UNCOND, GUIDE_W, RESULTS,
                         TARGET_ACCURACY)
from diffusion_lite.checkpoints import get_recipe


def guided_eps() -> float:
    """Exercise 1: Ho & Salimans' combination."""
    return EPS_UNCOND + GUIDE_W * (EPS_COND - EPS_UNCOND)


def cfg_calls() -> tuple[int, int]:
    """Exercise 2: DPM-Solver++ makes one call per step; guidance doubles it."""
    return 2 * CALLS_STEPS * CALLS_IMAGES, CALLS_STEPS * CALLS_IMAGES


def dropped_examples() -> float:
    """Exercise 3: the expected number of null labels."""
    r = get_recipe(DROPOUT_RECIPE)
    return r.ddpm.label_dropout * r.train.batch_size * r.train.steps


def w_for_accuracy() -> float:
    """Exercise 4: scan the sweep in order of w."""
    for e in sorted(json.loads(RESULTS.read_text())["entries"], key=lambda e: e["guidance_scale"]):
        if e["class_accuracy"] >= TARGET_ACCURACY:
            return e["guidance_scale"]
    raise ValueError("no measured w reaches the target accuracy")


ANSWERS = {
    "check_guided_eps": guided_eps,
    "check_cfg_calls": cfg_calls,
    "check_dropped_examples": dropped_examples,
    "check_w_for_accuracy": w_for_accuracy,
}
WRONG = {
    "check_guided_eps": EPS_COND + GUIDE_W * (EPS_COND - EPS_UNCOND),  # starts from the conditional ε̂
    "check_cfg_calls": (CALLS_STEPS * CALLS_IMAGES, CALLS_STEPS * CALLS_IMAGES),  # forgets the second half
    "check_dropped_examples": get_recipe(DROPOUT_RECIPE).train.batch_size * get_recipe(DROPOUT_RECIPE).train.steps,
    "check_w_for_accuracy": -1.0,  # not a w of the table
}
