"""Checks for chapter 09 (cross-attention): `from checks.ch09 import check_...`.

Every check computes the right answer with torch or `diffusion_lite` (running the attention modules and
reading their shapes), never from a stored number.
"""
from __future__ import annotations

import torch
from torch import nn

from diffusion_lite.attention import CrossAttention

from . import as_int_tuple, close, unanswered, verdict

# Exercise 1: what a sequence-first nn.MultiheadAttention makes of a batch-first query.
QUERY_SHAPE = (8, 49, 64)
# Exercise 2: the recorded attention weights of a 14×14 map attending to captions of LENGTH tokens.
BATCH, HEADS, LENGTH, SIDE, CHANNELS = 2, 4, 32, 14, 64
# Exercise 3: the multiply-adds of QKᵀ per image for a SIDE3×SIDE3 map, C3 channels and L3 tokens.
SIDE3, C3, L3 = 7, 64, 32


def check_seed_batches(answer) -> bool:
    """Run a sequence-first MultiheadAttention on the query and read its weights' shape (N, L, S)."""
    if unanswered(answer):
        return False
    mha = nn.MultiheadAttention(QUERY_SHAPE[-1], 4)
    q = torch.zeros(QUERY_SHAPE)
    _, weights = mha(q, q, q)  # (batch as it reads it, target length, source length)
    right = (weights.shape[0], weights.shape[1])
    hint = "Without batch_first it reads (sequence, batch, features): which axis is the batch?"
    if as_int_tuple(answer) == right[::-1]:
        hint = "That is what was meant; it reads the first axis as the sequence and the second as the batch."
    return verdict(as_int_tuple(answer) == right, f"{right}: every pixel position is its own problem, attending "
                   f"across the {right[1]} images of the batch.", hint)


def check_attention_weights_shape(answer) -> bool:
    """The shape CrossAttention.record keeps: (B, heads, H·W, L)."""
    if unanswered(answer):
        return False
    attn = CrossAttention(CHANNELS, CHANNELS, HEADS)
    attn.record = True
    attn(torch.zeros(BATCH, SIDE * SIDE, CHANNELS), torch.zeros(BATCH, LENGTH, CHANNELS))
    right = tuple(attn.weights.shape)
    hint = "One weight per (image, head, query position, key token); the positions are the flattened map."
    return verdict(as_int_tuple(answer) == right, f"{right}: a softmax over the {LENGTH} tokens for each of the "
                   f"{SIDE * SIDE} positions, per head.", hint)


def check_cross_attention_macs(answer) -> bool:
    """N·L·d per head for QKᵀ, summed over heads: N·L·C, counted from the tensors' shapes."""
    if unanswered(answer):
        return False
    q, k = torch.zeros(SIDE3 * SIDE3, C3), torch.zeros(L3, C3)
    right = q.shape[0] * k.shape[0] * q.shape[1]  # one multiply-add per (query, key, channel)
    hint = "Each of the N = H·W queries meets each of the L keys in a dot product of C numbers (over all heads)."
    if close(answer, (SIDE3 * SIDE3) ** 2 * C3):
        hint = "That is self-attention's N²·C; here the keys are the L tokens, not the N pixels."
    return verdict(close(answer, right), f"{right:,} multiply-adds: N·L·C = {SIDE3 * SIDE3}·{L3}·{C3}.", hint)
