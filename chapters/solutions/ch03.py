"""Solutions to chapter 03's exercises, counted by hand from the layer shapes as a reader would (the
checks build the layers and count, so each solution is also a cross-check of the package).

`ANSWERS[name]()` passes `checks.ch03.<name>`; `WRONG[name]` is a plausible mistake that fails it.
"""
from __future__ import annotations

from checks.ch03 import (ATTN_HEADS, ATTN_SIZE, CONV_IN, CONV_OUT, CONV_SIZE, EMB_DIM, MID_CHANNELS,
                         MID_IMAGE_SIZE, RES_IN, RES_OUT)


def resblock_params() -> int:
    """Exercise 1: GroupNorms have a scale and a shift per channel; convolutions and Linears a bias per output."""
    norm1 = 2 * RES_IN
    conv1 = RES_IN * RES_OUT * 3 * 3 + RES_OUT
    emb = EMB_DIM * RES_OUT + RES_OUT
    norm2 = 2 * RES_OUT
    conv2 = RES_OUT * RES_OUT * 3 * 3 + RES_OUT
    skip = RES_IN * RES_OUT + RES_OUT if RES_IN != RES_OUT else 0  # the 1×1 convolution on the residual path
    return norm1 + conv1 + emb + norm2 + conv2 + skip


def attention_entries() -> int:
    """Exercise 2: one (H·W) × (H·W) matrix per head."""
    positions = ATTN_SIZE * ATTN_SIZE
    return ATTN_HEADS * positions ** 2


def mid_shape() -> tuple:
    """Exercise 3: L levels halve the size L − 1 times; the middle has the last level's channels."""
    size = MID_IMAGE_SIZE // 2 ** (len(MID_CHANNELS) - 1)
    return (1, MID_CHANNELS[-1], size, size)


def conv_flops() -> int:
    """Exercise 4: H·W·C_out outputs, each C_in·9 multiply-adds of 2 FLOPs."""
    return 2 * CONV_SIZE * CONV_SIZE * CONV_OUT * CONV_IN * 9


ANSWERS = {
    "check_resblock_params": resblock_params,
    "check_attention_entries": attention_entries,
    "check_mid_shape": mid_shape,
    "check_conv_flops": conv_flops,
}
WRONG = {
    "check_resblock_params": resblock_params() - (RES_IN * RES_OUT + RES_OUT),  # forgot the 1×1 skip conv
    "check_attention_entries": (ATTN_SIZE * ATTN_SIZE) ** 2,  # one head only
    "check_mid_shape": (1, MID_CHANNELS[-1], MID_IMAGE_SIZE // 2 ** len(MID_CHANNELS),
                        MID_IMAGE_SIZE // 2 ** len(MID_CHANNELS)),  # halved once per level, one time too many
    "check_conv_flops": conv_flops() // 2,  # multiply-adds, not FLOPs
}
