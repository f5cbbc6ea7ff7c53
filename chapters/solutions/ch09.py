"""Solutions to chapter 09's exercises, worked out from the definitions as a reader would (the checks
run the modules, so each solution is also a cross-check of them).

`ANSWERS[name]()` passes `checks.ch09.<name>`; `WRONG[name]` is a plausible mistake that fails it.
"""
from __future__ import annotations

from checks.ch09 import BATCH, C3, HEADS, L3, LENGTH, QUERY_SHAPE, SIDE, SIDE3


def seed_batches() -> tuple:
    """Exercise 1: sequence-first, so axis 1 (the 49 pixels) is the batch and axis 0 (the 8 images) the sequence."""
    return (QUERY_SHAPE[1], QUERY_SHAPE[0])


def attention_weights_shape() -> tuple:
    """Exercise 2: (B, heads, H·W, L)."""
    return (BATCH, HEADS, SIDE * SIDE, LENGTH)


def cross_attention_macs() -> int:
    """Exercise 3: N·L·C."""
    return SIDE3 * SIDE3 * L3 * C3


ANSWERS = {"check_seed_batches": seed_batches, "check_attention_weights_shape": attention_weights_shape,
           "check_cross_attention_macs": cross_attention_macs}
WRONG = {"check_seed_batches": QUERY_SHAPE[:2], "check_attention_weights_shape": (BATCH, HEADS, LENGTH, SIDE * SIDE),
         "check_cross_attention_macs": (SIDE3 * SIDE3) ** 2 * C3}
