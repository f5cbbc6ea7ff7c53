"""Editing images with a trained DDPM (chapter 11): inpainting, SDEdit and seamless textures, each a few
lines around `DDPM.sample`'s one loop (`samplers.sample_loop`), for any of its samplers.

- **Inpainting by replacement**: the known pixels x0 are not generated but pasted in. After every step to
  level s the state becomes m·x_s + (1 − m)·(√ᾱs·x0 + √(1 − ᾱs)·ε), m = 1 where the image is to be
  generated: the known region is always exactly as noisy as the rest (Song et al. 2021, who call it
  imputation; the baseline of Lugmayr et al. 2022).
- **RePaint** (Lugmayr et al. 2022, Alg. 1): replacement alone harmonises badly, because the generated
  part only ever sees the known part through noise. RePaint goes back up now and then: every
  `jump_length` steps the state is noised back `jump_length` steps by the forward process and denoised
  again, `resample` times in all, so the generated part is revised after it has seen the known one.
- **SDEdit** (Meng et al. 2021): noise an image to the level t0 = strength·T and run the reverse process
  from there; small strengths keep the input's layout, large ones keep little more than its colours.
  With class guidance it turns one garment into another (`labels`).
- **Seamless textures**: sample with every convolution padding circularly (`circular_padding`): the
  network then sees the image as a torus, and the sample tiles.

Masks are (N, 1, H, W) floats, 1 where the image is generated and 0 where it is kept.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .ddpm import DDPM
from .process import add_noise

MASKS = ("box", "half", "strokes")
METHODS = ("replace", "repaint")


def make_mask(kind: str, num: int, size: int = 28, generator: torch.Generator | None = None) -> torch.Tensor:
    """(num, 1, size, size) masks, 1 where the image is generated: "box", the centre square of half the
    side; "half", the bottom half; "strokes", four random strokes three pixels wide (drawn from `generator`)."""
    if kind not in MASKS:
        raise ValueError(f"unknown mask {kind!r}; choose one of {', '.join(MASKS)} or give a mask file")
    mask = torch.zeros(num, 1, size, size)
    if kind == "box":
        mask[..., size // 4:size // 4 + size // 2, size // 4:size // 4 + size // 2] = 1
    elif kind == "half":
        mask[..., size // 2:, :] = 1
    else:
        ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        for i in range(num):
            for _ in range(4):  # a stroke: a segment between two random points, 1.5 pixels either side
                (y0, x0, y1, x1) = (torch.rand(4, generator=generator) * (size - 1)).tolist()
                length = max(1e-6, ((y1 - y0) ** 2 + (x1 - x0) ** 2) ** 0.5)
                along = (((ys - y0) * (y1 - y0) + (xs - x0) * (x1 - x0)) / length**2).clamp(0, 1)
                distance = ((ys - y0 - along * (y1 - y0)) ** 2 + (xs - x0 - along * (x1 - x0)) ** 2).sqrt()
                mask[i, 0][distance <= 1.5] = 1
    return mask


def check_mask(mask: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """`mask` as (N, 1, H, W) floats for `images` (N, 1, H, W): one mask for all, or one each; refused
    unless it has the images' size and holds only 0 and 1."""
    mask = torch.as_tensor(mask)
    if mask.ndim == 2:
        mask = mask[None, None]
    elif mask.ndim == 3:
        mask = mask[:, None]
    if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[2:] != images.shape[2:] or \
            mask.shape[0] not in (1, len(images)):
        raise ValueError(f"a mask must be (H, W) or (N, H, W) with H × W = {tuple(images.shape[2:])} and N = 1 or "
                         f"{len(images)}, got {tuple(mask.shape)}")
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("a mask must be binary: 1 where the image is generated, 0 where it is kept")
    if not bool(mask.any()):
        raise ValueError("the mask is all 0: nothing to generate")
    return mask.float().expand(len(images), -1, -1, -1)


def repaint_timesteps(ts: list[int], jump_length: int, resample: int) -> list[int]:
    """RePaint's schedule over the descending timesteps `ts`: down `jump_length` steps, back up
    `jump_length`, down again, `resample` times over each stretch, then on. resample = 1 is `ts` itself."""
    if jump_length < 1 or resample < 1:
        raise ValueError(f"jump_length and resample must be >= 1, got {jump_length} and {resample}")
    left = {j: resample - 1 for j in range(jump_length, len(ts), jump_length)}  # jumps still to make at index j
    out, i = [ts[0]], 0
    while i < len(ts) - 1:
        i += 1
        out.append(ts[i])
        if left.get(i, 0):
            left[i] -= 1
            out += ts[i - jump_length:i][::-1]  # back up to ts[i - jump_length]
            i -= jump_length
    return out


def inpaint_options(ddpm: DDPM, images: torch.Tensor, mask: torch.Tensor, num_steps: int,
                    generator: torch.Generator | None = None, method: str = "replace", jump_length: int = 5,
                    resample: int = 3) -> dict:
    """The `timesteps` and `condition` of `DDPM.sample` that inpaint `images` (N, 1, H, W) in [−1, 1] where
    `mask` is 1 (module docstring), over `num_steps` trailing steps."""
    if method not in METHODS:
        raise ValueError(f"unknown inpainting method {method!r}; choose one of {', '.join(METHODS)}")
    mask = check_mask(mask, images)
    ts = ddpm.sampling_timesteps(num_steps, "trailing")
    if method == "repaint":
        ts = repaint_timesteps(ts, jump_length, resample)

    def condition(x: torch.Tensor, s: int) -> torch.Tensor:
        if s < 0:
            known = images
        else:
            noise = torch.randn(images.shape, generator=generator, dtype=images.dtype)
            known = add_noise(ddpm.schedule, images, torch.full((len(images),), s), noise)
        return mask.to(x) * x + (1 - mask.to(x)) * known.to(x)

    return {"timesteps": ts, "condition": condition}


def sdedit_options(ddpm: DDPM, images: torch.Tensor, strength: float, num_steps: int,
                   generator: torch.Generator | None = None) -> dict:
    """The `timesteps` and `start` of `DDPM.sample` for SDEdit: the last round(strength·num_steps) of the
    `num_steps` trailing steps (at least one), from the images noised to the first of them."""
    if not 0 < strength <= 1:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    ts = ddpm.sampling_timesteps(num_steps, "trailing")
    tail = ts[len(ts) - max(1, round(strength * len(ts))):]
    noise = torch.randn(images.shape, generator=generator, dtype=images.dtype)
    return {"timesteps": tail, "start": add_noise(ddpm.schedule, images, torch.full((len(images),), tail[0]), noise)}


def painting(images: torch.Tensor, block: int = 4) -> torch.Tensor:
    """Images (N, 1, H, W) as flat `block` × `block` patches, each its patch's mean: a rough painting, the kind
    of unrealistic guide SDEdit turns into a realistic image."""
    return F.interpolate(F.avg_pool2d(images, block), scale_factor=block, mode="nearest")


@contextmanager
def circular_padding(network: nn.Module):
    """Inside the block every padded `Conv2d` of `network` pads circularly, as if the image were a torus.
    The book's UNet is then equivariant to cyclic shifts by multiples of its total downsampling (pooling
    and upsampling align with the wrap; attention has no positions), so what it samples tiles."""
    convs = [m for m in network.modules() if isinstance(m, nn.Conv2d) and any(p > 0 for p in m.padding)]
    modes = [m.padding_mode for m in convs]
    for m in convs:
        m.padding_mode = "circular"
    try:
        yield network
    finally:
        for m, mode in zip(convs, modes):
            m.padding_mode = mode


def seam_gap(images: torch.Tensor) -> tuple[float, float]:
    """How well images tile: the mean |difference| between the last and first row and column (the seams of
    a tiling), and the mean |difference| between neighbouring rows and columns inside the image."""
    wrap = torch.cat([(images[..., -1, :] - images[..., 0, :]).abs().flatten(),
                      (images[..., :, -1] - images[..., :, 0]).abs().flatten()])
    inside = torch.cat([images.diff(dim=-2).abs().flatten(), images.diff(dim=-1).abs().flatten()])
    return float(wrap.float().mean()), float(inside.float().mean())
