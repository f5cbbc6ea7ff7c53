"""Checks for chapter 06 (conditioning and guidance): `from checks.ch06 import check_...`.

Every check computes the right answer with `diffusion_lite` (the guidance wrapper on a stand-in network,
the samplers' call count, the recipe) or from the benchmark's measured results, never from a stored number.
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from diffusion_lite.checkpoints import get_recipe
from diffusion_lite.guidance import ClassifierFreeGuidance
from diffusion_lite.samplers import network_calls

from . import close, unanswered, verdict

# Exercise 1: one pixel's conditional and unconditional ε̂, and the guidance scale.
EPS_COND, EPS_UNCOND, GUIDE_W = 0.8, 0.5, 4.0
# Exercise 2: DPM-Solver++ with CALLS_STEPS steps for CALLS_IMAGES images at w = CALLS_W and at w = 1.
CALLS_IMAGES, CALLS_STEPS, CALLS_W = 1000, 20, 3.0
# Exercise 3: the recipe whose null-label examples are counted.
DROPOUT_RECIPE = "fashion-cfg"
# Exercise 4: the measured guidance sweep and the accuracy asked for.
RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "guidance.json"
TARGET_ACCURACY = 0.95


class PixelNet(nn.Module):
    """A stand-in network: ε̂ = EPS_COND for a real label, EPS_UNCOND for the null class (label 1)."""

    config = SimpleNamespace(num_classes=1)

    def forward(self, x, t, labels):
        return torch.where(labels.view(-1, 1) == 1, EPS_UNCOND, EPS_COND).to(x.dtype).expand_as(x)


def check_guided_eps(answer) -> bool:
    """Exercise 1: ε̃ = ε̂(∅) + w·(ε̂(y) − ε̂(∅)), computed by the package's wrapper."""
    if unanswered(answer):
        return False
    guided = ClassifierFreeGuidance(PixelNet(), 0, GUIDE_W)
    right = float(guided(torch.zeros(1, 1), torch.zeros(1, dtype=torch.long)))
    hint = "ε̃ = ε̂(∅) + w·(ε̂(y) − ε̂(∅)): start from the unconditional value."
    if close(answer, EPS_COND + GUIDE_W * (EPS_COND - EPS_UNCOND)):
        hint = "Start from the unconditional ε̂(∅), not the conditional one."
    return verdict(close(answer, right), f"ε̃ = {right:.2f}: beyond the conditional value, in the direction the "
                   "label pushes.", hint)


def check_cfg_calls(answer) -> bool:
    """Exercise 2: two evaluations per guided call, one at w = 1."""
    if unanswered(answer):
        return False
    per_image = network_calls("dpmpp_2m", CALLS_STEPS)
    right = (2 * per_image * CALLS_IMAGES, per_image * CALLS_IMAGES)
    try:
        given = tuple(int(a) for a in answer)
    except (TypeError, ValueError):
        given = None
    ok = given == right
    hint = "Each guided step evaluates the conditional and the unconditional output; at w = 1 only the conditional."
    if given == (per_image * CALLS_IMAGES,) * 2:
        hint = "At w = 3 each step needs both ε̂(y) and ε̂(∅): twice the evaluations."
    return verdict(ok, f"{right[0]:,} and {right[1]:,}: guidance doubles the cost of sampling.", hint)


def check_dropped_examples(answer) -> bool:
    """Exercise 3: p · batch size · steps."""
    if unanswered(answer):
        return False
    recipe = get_recipe(DROPOUT_RECIPE)
    right = recipe.ddpm.label_dropout * recipe.train.batch_size * recipe.train.steps
    hint = "Each of the batch_size × steps training examples loses its label with probability label_dropout."
    return verdict(close(answer, right, rel=1e-6), f"{right:,.0f} examples: plenty to learn the unconditional model.",
                   hint)


def check_w_for_accuracy(answer) -> bool:
    """Exercise 4: the smallest measured w with class accuracy ≥ TARGET_ACCURACY."""
    if unanswered(answer):
        return False
    entries = json.loads(RESULTS.read_text())["entries"]
    reached = sorted(e["guidance_scale"] for e in entries if e["class_accuracy"] >= TARGET_ACCURACY)
    right = reached[0] if reached else None
    hint = f"Read the accuracy column top to bottom and stop at the first value ≥ {TARGET_ACCURACY:.0%}."
    return verdict(right is not None and close(answer, right), f"w = {right}: the least guidance that gets there, "
                   "and so the least diversity given up.", hint)
