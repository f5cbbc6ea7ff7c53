"""Solutions to chapter 08's exercises, written from the definitions as a reader would (the checks use
the package, so each solution is also a cross-check of it).

`ANSWERS[name]()` passes `checks.ch08.<name>`; `WRONG[name]` is a plausible mistake that fails it.
"""
from __future__ import annotations

import math

from checks.ch08 import CAPTION, SIMILARITIES, TAU


def token_count() -> int:
    """Exercise 1: <start> plus one token per word."""
    return 1 + len(CAPTION.split())


def infonce() -> float:
    """Exercise 2: the mean of −log softmax of the diagonal, over rows and over columns, at S/τ."""
    s = [[v / TAU for v in row] for row in SIMILARITIES.tolist()]
    rows = [-(s[i][i] - math.log(sum(math.exp(v) for v in s[i]))) for i in range(2)]
    cols = [-(s[j][j] - math.log(sum(math.exp(s[i][j]) for i in range(2)))) for j in range(2)]
    return 0.5 * (sum(rows) / 2 + sum(cols) / 2)


def caption_count() -> int:
    """Exercise 3: C(4, 2) cell pairs, 10 classes each, and 2 orders of naming."""
    return math.comb(4, 2) * 10**2 * 2


ANSWERS = {"check_token_count": token_count, "check_infonce": infonce, "check_caption_count": caption_count}
WRONG = {"check_token_count": len(CAPTION.split()), "check_infonce": 2 * infonce(),
         "check_caption_count": math.comb(4, 2) * 10**2}
