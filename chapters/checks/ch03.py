"""Checks for chapter 03 (the UNet): `from checks.ch03 import check_...`.

Every check builds the piece in question with `diffusion_lite` or torch and reads the right answer off
it (a parameter count, a tensor's shape, a FLOP counter); the exercise inputs below are the single
source of the numbers the chapter shows the reader.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from diffusion_lite.attention import SelfAttention2d
from diffusion_lite.unet import ResBlock, UNet, UNetConfig

from . import unanswered, verdict

# Exercise 1: a ResBlock from IN_CH to OUT_CH channels in the default UNet (emb_dim 4·32, 8 groups).
RES_IN, RES_OUT, EMB_DIM, NUM_GROUPS = 32, 64, 128, 8
# Exercise 2: the attention matrices of one image at ATTN_SIZE × ATTN_SIZE with ATTN_HEADS heads.
ATTN_CHANNELS, ATTN_SIZE, ATTN_HEADS = 64, 14, 4
# Exercise 3: the tensor entering the middle attention of a four-level UNet on MID_IMAGE_SIZE images.
MID_CHANNELS, MID_IMAGE_SIZE = (32, 64, 128, 256), 40
# Exercise 4: one 3×3 convolution (padding 1) on a CONV_SIZE × CONV_SIZE map, one image.
CONV_IN, CONV_OUT, CONV_SIZE = 96, 32, 28


def _as_int(answer) -> int | None:
    try:
        value = float(answer)
    except (TypeError, ValueError, RuntimeError):
        return None
    return int(value) if value == int(value) else None


def _as_shape(answer) -> tuple | None:
    try:
        return tuple(int(s) for s in answer)
    except (TypeError, ValueError):
        return None


def check_resblock_params(answer) -> bool:
    """Exercise 1: the number of parameters of ResBlock(RES_IN → RES_OUT, EMB_DIM, NUM_GROUPS)."""
    if unanswered(answer):
        return False
    block = ResBlock(RES_IN, RES_OUT, EMB_DIM, NUM_GROUPS, dropout=0.0)
    right = sum(p.numel() for p in block.parameters())
    skip = sum(p.numel() for p in block.skip.parameters())
    yours = _as_int(answer)
    hint = ("Count weights and biases of norm1 (2·in), conv1 (in·out·9 + out), emb (emb_dim·out + out), "
            "norm2 (2·out), conv2 (out·out·9 + out).")
    if yours == right - skip:
        hint = "Close: in ≠ out, so the residual path needs a 1×1 convolution (weights and bias) too."
    return verdict(yours == right, f"{right:,} parameters, {skip:,} of them in the 1×1 skip convolution.", hint)


def check_attention_entries(answer) -> bool:
    """Exercise 2: entries of all attention matrices softmax(QKᵀ/√d) for one image."""
    if unanswered(answer):
        return False
    attn = SelfAttention2d(ATTN_CHANNELS, num_heads=ATTN_HEADS)
    x = torch.zeros(1, ATTN_CHANNELS, ATTN_SIZE, ATTN_SIZE)
    n, d = ATTN_SIZE * ATTN_SIZE, ATTN_CHANNELS // ATTN_HEADS
    tokens = attn.norm(x).view(1, ATTN_CHANNELS, n).transpose(1, 2)  # (1, HW, C)
    q, k, _ = attn.qkv(tokens).chunk(3, dim=-1)
    q, k = (z.view(1, n, ATTN_HEADS, d).transpose(1, 2) for z in (q, k))  # (1, heads, HW, d)
    right = (q @ k.transpose(-1, -2)).numel()  # (1, heads, HW, HW)
    yours = _as_int(answer)
    hint = "Each head has its own (H·W) × (H·W) matrix: every position scores every position."
    if yours == right // ATTN_HEADS:
        hint = f"That is one head's matrix; there are {ATTN_HEADS} heads, each with its own."
    return verdict(yours == right, f"{right:,} = {ATTN_HEADS} heads × ({ATTN_SIZE}·{ATTN_SIZE})² entries.", hint)


def check_mid_shape(answer) -> bool:
    """Exercise 3: the shape of the tensor entering the middle attention, batch 1."""
    if unanswered(answer):
        return False
    cfg = UNetConfig(image_size=MID_IMAGE_SIZE, channels=MID_CHANNELS)
    net, seen = UNet(cfg), []
    handle = net.mid_attn.register_forward_hook(lambda module, args, out: seen.append(tuple(args[0].shape)))
    with torch.no_grad():
        net(torch.zeros(1, 1, MID_IMAGE_SIZE, MID_IMAGE_SIZE), torch.tensor([0]))
    handle.remove()
    right, yours = seen[0], _as_shape(answer)
    return verdict(yours == right, f"{right}: {len(MID_CHANNELS)} levels halve {MID_IMAGE_SIZE} "
                                   f"{len(MID_CHANNELS) - 1} times, and the middle keeps the last level's channels.",
                   "Give (batch, channels, height, width). The first level works at full size; each further "
                   "level halves it once, and the middle runs at the last level's size and channels.")


def check_conv_flops(answer) -> bool:
    """Exercise 4: FLOPs (a multiply-add counts 2) of Conv2d(CONV_IN, CONV_OUT, 3, padding=1) on one image."""
    if unanswered(answer):
        return False
    conv = nn.Conv2d(CONV_IN, CONV_OUT, 3, padding=1)
    with FlopCounterMode(display=False) as counter:
        conv(torch.zeros(1, CONV_IN, CONV_SIZE, CONV_SIZE))
    right, yours = counter.get_total_flops(), _as_int(answer)
    hint = "Each output value (H·W·C_out of them) is a sum of C_in·3·3 products; count 2 FLOPs per multiply-add."
    if yours == right // 2:
        hint = "That counts multiply-adds; FLOP counters (and this book) count each as 2 FLOPs."
    return verdict(yours == right, f"{right:,} FLOPs = 2·{CONV_SIZE}·{CONV_SIZE}·{CONV_OUT}·{CONV_IN}·9.", hint)
