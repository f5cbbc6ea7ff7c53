"""Check functions for the chapters' exercises: `from checks.ch01 import check_...`.

Each check takes the reader's answer, computes the right one with `diffusion_lite` (never a stored
number), prints a one-line verdict with a hint, and returns True or False. An unanswered exercise
(`None`) is reported, not raised, so a chapter always runs top to bottom.
"""
from __future__ import annotations

import math


def verdict(ok, good: str, hint: str) -> bool:
    ok = bool(ok)
    print(("✓ Correct. " + good) if ok else ("✗ Not yet. " + hint))
    return ok


def unanswered(answer) -> bool:
    if answer is None:
        print("… No answer yet: replace None with your answer and run the cell again.")
        return True
    return False


def close(a, b, rel: float = 1e-3, abs_: float = 0.0) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=abs_)
    except (TypeError, ValueError):
        return False


def as_int_tuple(answer):
    """The answer as a tuple of ints, or None if it is not a sequence of integers."""
    try:
        return tuple(int(a) for a in answer)
    except (TypeError, ValueError):
        return None


def as_int(answer):
    """The answer as an int if it is a whole number (3 or 3.0), else None."""
    try:
        return int(answer) if float(answer) == int(answer) else None
    except (TypeError, ValueError, OverflowError):
        return None
