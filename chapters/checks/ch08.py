"""Checks for chapter 08 (a text encoder): `from checks.ch08 import check_...`.

Every check computes the right answer with `diffusion_lite` (its tokenizer, the CLIP loss's formula
through torch, the caption grammar), never from a stored number.
"""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from diffusion_lite.datasets import caption
from diffusion_lite.text import Tokenizer

from . import close, unanswered, verdict

# Exercise 1: the caption whose non-padding tokens are counted.
CAPTION = "an ankle boot in the top left and a t-shirt in the bottom right"
# Exercise 2: cosine similarities of two images (rows) with two captions (columns), and the temperature.
SIMILARITIES = torch.tensor([[0.8, 0.2], [0.3, 0.6]], dtype=torch.float64)
TAU = 0.1


def check_token_count(answer) -> bool:
    """The ids that are not <pad>: <start> plus one per word."""
    if unanswered(answer):
        return False
    right = int((Tokenizer().encode(CAPTION) != 0).sum())
    hint = "One token per word (\"t-shirt\" is one word, \"ankle boot\" two), and do not forget one more."
    if close(answer, right - 1):
        hint = "Every caption also starts with the <start> token."
    return verdict(close(answer, right), f"{right} tokens: <start> and {right - 1} words; the other "
                   f"{32 - right} are padding.", hint)


def check_infonce(answer) -> bool:
    """½ (cross-entropy over each row of S/τ + over each column), targets on the diagonal."""
    if unanswered(answer):
        return False
    logits = SIMILARITIES / TAU
    right = float(0.5 * (F.cross_entropy(logits, torch.arange(2)) + F.cross_entropy(logits.T, torch.arange(2))))
    hint = "Divide the similarities by τ, then average −log softmax of the diagonal over the rows and the columns."
    if close(answer, float(F.cross_entropy(logits, torch.arange(2)))):
        hint = "That is the image-to-caption half; average it with the caption-to-image half (the columns)."
    return verdict(close(answer, right, rel=1e-3), f"L = {right:.4f} nats.", hint)


def check_caption_count(answer) -> bool:
    """Every ordered pair of items in two distinct cells, each of 10 classes, by enumerating captions."""
    if unanswered(answer):
        return False
    right = len({caption([(a, c1), (b, c2)]) for c1, c2 in itertools.permutations(range(4), 2)
                 for a in range(10) for b in range(10)})
    hint = "Choose the two cells, a class for each, and the order in which the caption names them."
    if close(answer, right // 2):
        hint = "That counts scenes; each two-item scene has two captions (either item first)."
    return verdict(close(answer, right), f"{right} captions: C(4, 2) = 6 cell pairs × 10² classes × 2 orders.",
                   hint)
