"""Checks for chapter 10 (latent diffusion): `from checks.ch10 import check_...`.

Every check computes the right answer with `diffusion_lite` (the autoencoder's config, the caption parser,
the samplers' call count), never from a stored number.
"""
from __future__ import annotations

from diffusion_lite.checkpoints import load_model
from diffusion_lite.datasets import parse_caption
from diffusion_lite.metrics import CHECKPOINT_DIR
from diffusion_lite.samplers import network_calls

from . import as_int_tuple, unanswered, verdict

# Exercise 1: the latent shape of a SCENE_SIDE × SCENE_SIDE scene through fashion_vae.
SCENE_SIDE = 56
# Exercise 2: the layout a caption asks for, cell by cell in reading order, −1 for an empty cell.
CAPTION = "a sneaker in the bottom right and a bag in the top left"
# Exercise 3: the network calls per scene of SAMPLER with STEPS steps at guidance scale W.
SAMPLER, STEPS, W = "dpmpp_2m", 20, 3.0


def check_latent_shape(answer) -> bool:
    """The autoencoder's latent_shape for the scene's size, read from its stored config."""
    if unanswered(answer):
        return False
    vae, _, _ = load_model(CHECKPOINT_DIR / "fashion_vae")
    right = tuple(vae.config.latent_shape(SCENE_SIDE, SCENE_SIDE))
    hint = "The autoencoder halves each side twice and keeps 4 channels: (C, H/4, W/4)."
    return verdict(as_int_tuple(answer) == right, f"{right}: {right[0] * right[1] * right[2]:,} numbers for "
                   f"{SCENE_SIDE * SCENE_SIDE:,} pixels, and the UNet diffuses those.", hint)


def check_layout(answer) -> bool:
    """`datasets.parse_caption` of CAPTION."""
    if unanswered(answer):
        return False
    right = tuple(parse_caption(CAPTION).tolist())
    hint = ("Cells in reading order: top left, top right, bottom left, bottom right; class ids as in "
            "datasets.SCENE_NAMES; the order of the items in the caption does not matter.")
    return verdict(as_int_tuple(answer) == right, f"{right}: prompt fidelity asks the classifier for these classes "
                   "in these cells, and for nothing in the others.", hint)


def check_guided_calls(answer) -> bool:
    """network_calls(SAMPLER, STEPS), twice when w ≠ 1 (the conditional and the unconditional prediction)."""
    if unanswered(answer):
        return False
    right = network_calls(SAMPLER, STEPS) * (1 if W == 1 else 2)
    try:
        ok = int(answer) == right
    except (TypeError, ValueError):
        ok = False
    hint = ("Each step needs ε̂ with the caption and with the empty caption, unless w = 1; DPM-Solver++(2M) "
            "calls the network once per step.")
    return verdict(ok, f"{right}: guidance doubles the cost of sampling (the two go in one batch in some "
                   "libraries, which does not make them cheaper on a CPU).", hint)
