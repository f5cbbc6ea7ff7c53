# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · The UNet
#
# Chapter 02 denoised points in the plane with a small MLP. An image is a grid of 784 numbers whose
# neighbours belong together, and the network that predicts its noise, ε̂θ(x_t, t), is in almost every
# diffusion model a **UNet**. This chapter builds the book's UNet, `diffusion_lite.unet.UNet`, piece by
# piece, prints the shape of the data at every stage, counts its parameters and its arithmetic, and
# measures what a few other designs would cost on this CPU.
#
# **Learning goals.** After this chapter you can
# 1. say why the denoiser is a UNet: its output has the input's shape, it sees the image at several
#    scales, and skip connections carry fine detail past the coarse middle;
# 2. write the sinusoidal time embedding and say how the time reaches every residual block;
# 3. explain the residual block: why GroupNorm and not BatchNorm, and why it starts as the identity;
# 4. write self-attention over the pixels of a feature map, and say why its cost, which grows with
#    (H·W)², puts it at 7×7 only;
# 5. follow a batch through the whole network, count parameters and FLOPs per part, and read measured
#    tables of training speeds for other designs and for PyTorch's speed switches.

# %%
import json
import math
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from diffusion_lite import DDPM, NoiseSchedule
from diffusion_lite.attention import SelfAttention2d, attention
from diffusion_lite.datasets import load_fashion_mnist, to_model_range
from diffusion_lite.embeddings import TimestepEmbedding, sinusoidal_embedding
from diffusion_lite.precision import autocast, cpu_name, native_bf16, resolve
from diffusion_lite.process import add_noise
from diffusion_lite.unet import ResBlock, UNet, UNetConfig

_ = torch.manual_seed(0)  # the networks' initial weights; every other random draw has its own generator
images = to_model_range(load_fashion_mnist("test")[0][:64])  # (64, 1, 28, 28) in [-1, 1]
schedule = NoiseSchedule.make("linear", 1000, 1e-4, 0.02)

# %% [markdown]
# ## 1. Why a UNet
#
# The network takes a noisy image x_t and its timestep t and returns ε̂, one number per pixel: its output
# has exactly the shape of its input. To predict the noise at a pixel it needs the pixel's neighbourhood
# (is this speck noise or the edge of a sleeve?) and, when the noise is heavy, the whole image (is this a
# shoe or a shirt?). A stack of 3×3 convolutions at full resolution sees only a few pixels around each
# output; seeing all 28×28 would take more than a dozen layers, each paying for 784 positions.
#
# The UNet of Ronneberger, Fischer and Brox (2015), made for segmenting cells, answers both needs. A
# **down path** of convolutions halves the resolution level by level while adding channels, so deep
# layers see the whole image cheaply; an **up path** mirrors it back to full size; and **skip
# connections** hand each level of the down path to the same level of the up path, so fine detail does
# not have to squeeze through the coarse middle. Ho et al. (2020, App. B) took this shape for DDPM and
# added what a denoiser needs: the timestep, fed to every block through a sinusoidal embedding;
# residual blocks with GroupNorm; and self-attention at one low resolution (16×16 for their 32×32
# images). The book's UNet is theirs, made small:
#
# ```
# x (B, 1, 28, 28)                                           ε̂ (B, 1, 28, 28)
#   │ conv_in                                                  ▲ GroupNorm, SiLU, conv_out
# down 0: ResBlock, 32 ch, 28×28 ───────── skip ─────────▶ up 0: ResBlock, 32 ch, 28×28
#   │ average pool                                             ▲ upsample
# down 1: ResBlock, 64 ch, 14×14 ───────── skip ─────────▶ up 1: ResBlock, 64 ch, 14×14
#   │ average pool                                             ▲ upsample
# down 2: ResBlock, 128 ch, 7×7  ───────── skip ─────────▶ up 2: ResBlock, 128 ch, 7×7
#   │                                                          ▲
#   └────▶ middle, 128 ch, 7×7: ResBlock, attention, ResBlock ─┘
# ```
#
# Sections 2 to 4 build its parts: the time embedding, the residual block and self-attention. Section 5
# puts them together, section 6 measures alternatives.

# %% [markdown]
# ## 2. Telling the network the time
#
# One network serves all 1,000 noise levels, so it must be told which one it is looking at. An integer t
# is a poor input: one number, with a scale of hundreds. DDPM borrows the Transformer's position
# encoding (Vaswani et al. 2017, Sec. 3.5): t becomes a vector of sines and cosines of t at geometrically
# spaced frequencies,
#
# $$\mathrm{emb}(t) = \big[\cos(t\,\omega_0), \dots, \cos(t\,\omega_{k-1}),\ \sin(t\,\omega_0), \dots, \sin(t\,\omega_{k-1})\big],
# \qquad \omega_i = 10000^{-i/k},\quad k = \text{dim}/2 .$$
#
# The fast frequencies tell nearby timesteps apart, the slow ones say roughly where in 0..999 t lies.
# Here it is in its simplest form, and the package's `sinusoidal_embedding` gives the same numbers:

# %%
def my_sinusoidal_embedding(t, dim, max_period=10000.0):
    k = dim // 2
    omega = max_period ** (-torch.arange(k) / k)  # (k,) from 1 down to about 1/max_period
    angles = t.float()[:, None] * omega[None, :]  # (B, k)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)  # (B, dim)


t = torch.arange(1000)
emb = my_sinusoidal_embedding(t, 32)
assert torch.allclose(emb, sinusoidal_embedding(t, 32), atol=1e-4)
print("embedding of all 1,000 timesteps:", tuple(emb.shape))

# %% [markdown]
# (Vaswani et al. interleave sin and cos, and DDPM's code puts the sines first with a slightly
# different frequency spacing; the package follows Dhariwal and Nichol's code, cosines first. The
# order does not matter: a Linear layer comes next, and it can permute its inputs.)
#
# How alike are the embeddings of two timesteps? Every pair (cos tω, sin tω) has length 1, so
# ‖emb(t)‖² = k, and cos(tω)cos(t'ω) + sin(tω)sin(t'ω) = cos((t − t')ω): the cosine similarity of
# emb(t) and emb(t') is (1/k)·Σᵢ cos((t − t')ωᵢ), a function of the gap t − t' alone.

# %%
unit = emb / emb.norm(dim=1, keepdim=True)
similarity = unit @ unit.T  # (1000, 1000), entry [t, t'] = cosine similarity of emb(t) and emb(t')
omega = 10000.0 ** (-torch.arange(16) / 16)
gaps = torch.arange(1000)
by_gap = torch.cos(gaps[:, None] * omega).mean(dim=1)  # (1/k)·Σ cos(gap·ωᵢ)
assert torch.allclose(similarity[0], by_gap, atol=1e-4)
assert torch.allclose(similarity[300, 300:], by_gap[:700], atol=1e-4)  # the same curve from any starting t

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1.1, 1]})
im = axes[0].imshow(emb, aspect="auto", cmap="RdBu", vmin=-1, vmax=1, interpolation="nearest")
axes[0].set(xlabel="dimension (cos 0–15, sin 16–31)", ylabel="timestep t", title="sinusoidal_embedding(t, 32)")
fig.colorbar(im, ax=axes[0])
axes[1].plot(gaps, by_gap, lw=1)
axes[1].set(xscale="symlog", xlim=(0, 999), ylim=(-0.3, 1.02), xlabel="gap |t − t'| (log scale above 1)",
            ylabel="cosine similarity", title="similarity of emb(t) and emb(t')")
axes[1].grid(alpha=0.3)
plt.tight_layout()
plt.show()
print("similarity at gap", ", ".join(f"{gap}: {by_gap[gap]:.2f}" for gap in (1, 2, 10, 100, 500, 999)))
print(f"over gaps 100–999: mean {by_gap[100:].mean():.2f}, from {by_gap[100:].min():.2f} to {by_gap[100:].max():.2f}; "
      f"the slowest frequency turns {999 * omega[-1]:.2f} rad over all 1,000 timesteps")

# %% [markdown]
# Left: the first dimensions turn by about a radian per timestep (ω₀ = 1), so at this scale they look like
# noise; they are what tells t from t + 1. Further right the stripes widen, and the last few cosines stay
# close to 1 while the last sines grow almost linearly: with `max_period` 10,000 and only 1,000
# timesteps, the slowest frequency turns by 0.18 rad in all, a slow ramp rather than a wave. Right: the
# similarity is 0.96 for neighbours and falls to about 0.6 within ten steps; for timesteps hundreds
# apart it ripples between about −0.2 and 0.6, around a mean of 0.23, the nearly constant slow
# dimensions keeping it up. Nearby timesteps get nearly the same input and distant ones clearly
# different ones, so the network can be smooth in t and still tell the noise levels apart.
#
# In the UNet, `TimestepEmbedding` passes this vector through a small MLP (Linear, SiLU, Linear) to 4·32
# = 128 numbers, once per forward pass; every residual block then projects those 128 numbers to its own
# channel count and adds them to its feature map, the same shift at every pixel (Ho et al., App. B).

# %%
time_embed = TimestepEmbedding(32, 128)
print(time_embed)
print("t (3,) →", tuple(time_embed(torch.tensor([0, 500, 999])).shape))

# %% [markdown]
# ## 3. The residual block
#
# `diffusion_lite.unet.ResBlock(in_ch, out_ch, emb_dim, num_groups, dropout)` is the UNet's workhorse:
#
# ```
# h = conv1(SiLU(GroupNorm(x)))            (B, out, H, W)
# h = h + Linear(SiLU(emb))[:, :, None, None]   the time, one shift per channel
# h = conv2(SiLU(GroupNorm(h)))            conv2 starts at zero
# return skip(x) + h                       skip is a 1×1 conv when in ≠ out, else the identity
# ```
#
# Normalisation and activation come *before* each convolution ("pre-activation", He et al. 2016), so
# the residual path from input to output is a plain sum that no normalisation touches. We run a block's
# own layers in this order and compare with the block:

# %%
block = ResBlock(32, 64, emb_dim=128, num_groups=8, dropout=0.0)
nn.init.normal_(block.conv2.weight, std=0.05)  # conv2 starts at zero (below); give it weights to test with
x = torch.randn(2, 32, 14, 14, generator=torch.Generator().manual_seed(1))
t_emb = torch.randn(2, 128, generator=torch.Generator().manual_seed(2))

h = block.conv1(F.silu(block.norm1(x)))  # (2, 64, 14, 14)
h = h + block.emb(F.silu(t_emb))[:, :, None, None]  # (2, 64) → (2, 64, 1, 1), broadcast over pixels
h = block.conv2(F.silu(block.norm2(h)))
ours = block.skip(x) + h
assert torch.allclose(ours, block(x, t_emb), atol=1e-6)
print(f"x {tuple(x.shape)} → ResBlock(32 → 64) → {tuple(ours.shape)}; our order of layers == ResBlock")

# %% [markdown]
# ### Why GroupNorm, not BatchNorm
#
# BatchNorm (Ioffe and Szegedy 2015) normalises each channel with a mean and variance taken over the
# whole batch, during training; at evaluation it uses running averages instead. GroupNorm (Wu and He
# 2018) takes them over groups of channels *within one image*. For a diffusion model that difference
# matters twice:
# - a training batch mixes images at very different noise levels (one t per image, drawn uniformly), so
#   BatchNorm's statistics, and therefore every image's features, depend on which t the other images
#   happened to get;
# - at sampling time all images share one t, so a batch looks like no training batch, and in
#   evaluation mode BatchNorm replaces the batch's statistics with running averages over all t, which
#   fit no single t.
#
# To see it, one noised image (t = 200) goes through a convolution and a normalisation three times: in a
# training batch whose seven other images are almost clean (t = 10, batch A); in one whose other images
# are almost pure noise (t = 900, batch B); and in evaluation mode, where BatchNorm uses running
# averages that we first collect over 50 training-like batches of 64 images with random t.

# %%
g = torch.Generator().manual_seed(3)
noise = torch.randn(8, 1, 28, 28, generator=g)
batch_a = add_noise(schedule, images[:8], torch.tensor([200] + [10] * 7), noise)
batch_b = add_noise(schedule, images[:8], torch.tensor([200] + [900] * 7), noise)
assert torch.equal(batch_a[0], batch_b[0])  # image 0 is the same in both batches

conv = nn.Conv2d(1, 32, 3, padding=1)
norms = {"BatchNorm2d(32)": nn.BatchNorm2d(32, momentum=None), "GroupNorm(8, 32)": nn.GroupNorm(8, 32)}
outputs = {}
with torch.no_grad():
    for _ in range(50):  # training-like batches fill BatchNorm's running averages (momentum=None: plain mean)
        t_random = torch.randint(0, 1000, (64,), generator=g)
        norms["BatchNorm2d(32)"](conv(add_noise(schedule, images, t_random, torch.randn(images.shape, generator=g))))
    for name, norm in norms.items():
        a, b = norm(conv(batch_a))[0], norm(conv(batch_b))[0]  # training mode, image 0
        norm.eval()
        e = norm(conv(batch_a))[0]  # evaluation mode, image 0
        norm.train()
        outputs[name] = (a, b, e)
        print(f"{name:17s} image 0's features: std in batch A {a.std():.2f}, in batch B {b.std():.2f}, "
              f"in eval mode {e.std():.2f}; largest difference A vs B {(a - b).abs().max():.2f}")
gn_a, gn_b, gn_eval = outputs["GroupNorm(8, 32)"]
assert torch.allclose(gn_a, gn_b, atol=1e-6) and torch.allclose(gn_a, gn_eval, atol=1e-6)
bn_a, bn_b, bn_eval = outputs["BatchNorm2d(32)"]
assert (bn_a - bn_b).abs().max() > 0.5 and (bn_a - bn_eval).abs().max() > 0.5

# %%
channel = int((bn_a - bn_b).abs().flatten(1).mean(1).argmax())  # the channel BatchNorm changes most
lim = float(max(o[channel].abs().max() for triple in outputs.values() for o in triple))
fig, axes = plt.subplots(2, 4, figsize=(8.2, 4.4))
axes[0, 0].imshow(batch_a[0, 0], cmap="gray", vmin=-1, vmax=1)
axes[0, 0].set_title("image 0, t = 200", fontsize=9)
axes[1, 0].axis("off")
for row, name in enumerate(outputs):
    for col, (out, where) in enumerate(zip(outputs[name], ["batch A", "batch B", "eval mode"]), start=1):
        axes[row, col].imshow(out[channel], cmap="RdBu", vmin=-lim, vmax=lim)
        axes[row, col].set_title(f"{name.split('(')[0]}, {where}", fontsize=9)
for ax in axes.flat:
    ax.set(xticks=[], yticks=[])
plt.suptitle(f"channel {channel} of the normalised features of image 0 (same colour scale)", fontsize=10)
plt.tight_layout()
plt.show()

# %% [markdown]
# GroupNorm gives image 0 the same features in batch A, in batch B and in evaluation mode (the assert
# allows 1e-6), and they have standard deviation 1, as normalised features should. BatchNorm does not.
# In batch A the seven nearly clean images give the channels a small spread, so image 0's features are
# scaled up: the speckled panel, std 1.19 over all channels. In batch B the same image's features are
# scaled down (0.87), and the largest difference between the two, 4.3, is several times the features'
# own spread. In evaluation mode BatchNorm matches batch B, not A: running averages over uniformly drawn
# t are dominated by noisy images (with this schedule SNR < 1 for three quarters of the timesteps,
# chapter 01), so at sampling time a batch of nearly clean images at small t would be normalised with
# the statistics of noise.
#
# ### Starting as the identity
#
# `conv2`, the block's last layer, is initialised to zero, so a fresh block outputs `skip(x) + 0`: the
# identity when in = out. A fresh UNet is then a chain of near-identities, gradients flow through the
# sums unchanged, and training starts stable. (Ho et al.'s released code zero-initialises the same
# layers: each block's last convolution, the attention's output projection and the network's last
# convolution.)

# %%
fresh = ResBlock(64, 64, emb_dim=128, num_groups=8, dropout=0.0)
h = torch.randn(2, 64, 14, 14, generator=torch.Generator().manual_seed(4))
assert torch.equal(fresh(h, t_emb), h)
fresh_up = ResBlock(32, 64, emb_dim=128, num_groups=8, dropout=0.0)
assert torch.equal(fresh_up(x, t_emb), fresh_up.skip(x))
print("fresh ResBlock(64 → 64) returns its input exactly; ResBlock(32 → 64) returns its 1×1 skip conv of it")

# %% [markdown]
# Parameters: a GroupNorm has a scale and a shift per channel, a 3×3 convolution in·out·9 weights plus out
# biases, a Linear in·out + out. For the middle block, ResBlock(128 → 128):

# %%
mid_block = ResBlock(128, 128, emb_dim=128, num_groups=8, dropout=0.0)
by_hand = 2 * 128 + (128 * 128 * 9 + 128) + (128 * 128 + 128) + 2 * 128 + (128 * 128 * 9 + 128)
counted = sum(p.numel() for p in mid_block.parameters())
assert by_hand == counted
print(f"ResBlock(128 → 128): {counted:,} parameters, {2 * (128 * 128 * 9 + 128) / counted:.0%} in its two convolutions")

# %% [markdown]
# ## 4. Self-attention
#
# A 3×3 convolution mixes each pixel with its 8 neighbours. Self-attention (Vaswani et al. 2017, Eq. 1)
# mixes every position with every other in one layer, with weights computed from the data. Treat the H·W
# positions of a (B, C, H, W) map as H·W tokens of C numbers; project each token to a query q, a key k
# and a value v; then each position's output is an average of all values, weighted by how well its
# query matches each key:
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\Big(\frac{QK^\top}{\sqrt d}\Big)V,\qquad
# Q, K, V \in \mathbb R^{HW \times d}.$$
#
# `SelfAttention2d` normalises first (GroupNorm), splits the channels into heads, applies the formula per
# head, projects back and adds the input. Here it is from scratch with one head. The package
# zero-initialises the output projection (so a fresh block is the identity, as above), which would make
# any comparison pass, so we first give the projection random weights:

# %%
def my_self_attention(x, attn):
    """One-head self-attention over the pixels of x (B, C, H, W), with attn's weights."""
    B, C, H, W = x.shape
    tokens = attn.norm(x).reshape(B, C, H * W).transpose(1, 2)  # (B, HW, C)
    Wq, Wk, Wv = attn.qkv.weight.chunk(3)  # 3 × (C, C): one Linear computes all three
    bq, bk, bv = attn.qkv.bias.chunk(3)
    q, k, v = tokens @ Wq.T + bq, tokens @ Wk.T + bk, tokens @ Wv.T + bv  # 3 × (B, HW, C)
    scores = q @ k.transpose(1, 2) / math.sqrt(C)  # (B, HW, HW): every position against every position
    weights = torch.softmax(scores, dim=-1)  # each row sums to 1
    out = weights @ v  # (B, HW, C)
    out = out @ attn.proj.weight.T + attn.proj.bias  # (B, HW, C)
    return x + out.transpose(1, 2).reshape(B, C, H, W), weights


attn = SelfAttention2d(128, num_heads=1, num_groups=8)
nn.init.normal_(attn.proj.weight, std=0.1)
h = torch.randn(2, 128, 7, 7, generator=torch.Generator().manual_seed(5))
ours, weights = my_self_attention(h, attn)
assert torch.allclose(ours, attn(h), atol=1e-5)
print(f"x {tuple(h.shape)} → attention matrix {tuple(weights.shape)} → {tuple(ours.shape)}; ours == SelfAttention2d")
assert torch.equal(SelfAttention2d(128)(h), h)  # and a fresh one is the identity

# %% [markdown]
# The attention matrix has (H·W)² entries per head and image: every position against every other. That
# number, and the FLOPs of QKᵀ and of the weighted sum (2·(H·W)²·C each), grow with the fourth power of
# the side, while a 3×3 convolution's grow with its square. Here are both at the three resolutions of
# the book's UNet, with the channel count each level has there:

# %%
print(f"{'level':>9} {'positions':>9} {'matrix entries':>14} {'MB, batch 64, 4 heads':>22} "
      f"{'attention MFLOP':>16} {'one 3×3 conv MFLOP':>19}")
for size, channels in [(28, 32), (14, 64), (7, 128)]:
    n = size * size
    entries = n * n
    megabytes = 64 * 4 * entries * 4 / 1e6  # float32
    attn_flops = 2 * 2 * n * n * channels  # QKᵀ and weights·V, 2 FLOPs per multiply-add
    conv_flops = 2 * n * channels * channels * 9
    print(f"{size:>4}×{size:<4} {n:>9} {entries:>14,} {megabytes:>22,.0f} {attn_flops / 1e6:>16.1f} "
          f"{conv_flops / 1e6:>19.1f}")

# %% [markdown]
# At 28×28 one head's matrix has 614,656 entries, 629 MB for a batch of 64 with 4 heads in float32,
# and QKᵀ with the weighted sum costs 79 MFLOP per image, more than 5× one of that level's 3×3
# convolutions. At 14×14 the matrix is 16× smaller and attention costs about two thirds of a
# convolution; at 7×7 it has 2,401 entries and costs 1.2 MFLOP, under a tenth of a convolution.
# Halving the side divides attention's cost by 16 but a convolution's by only 4, and the UNet doubles
# the channels at each level, which restores the 4: every 3×3 convolution in the table costs the same
# 14.5 MFLOP. So the book puts attention only where it is cheap: at 7×7, where each of the 49
# positions stands for a 4×4 patch of the image, and one attention layer lets every patch use all the
# others, the whole image at once.
# (FLOPs understate attention's cost on a CPU, as section 6 measures.)
#
# ### Written out, or fused?
#
# `SelfAttention2d` computes Eq. 1 as it is written, two matrix products and a softmax per head, as
# `my_self_attention` does; the package's function `attention(q, k, v)` is that formula. PyTorch also has a fused kernel for it, `F.scaled_dot_product_attention`,
# which never stores the attention matrix; that is what lets attention over thousands of positions fit
# in memory. At 7×7 the matrix is small, and the question is only which runs faster. Time both the way
# training runs them, forward and backward under bfloat16 autocast, on the middle's shapes (a batch of
# 64, 4 heads of 32 channels) and on the shapes attention at 14×14 would have (4 heads of 16):

# %%
def median_milliseconds(step, repeats=7):
    """Median wall time of step() over `repeats` runs, after one warm-up run, in ms."""
    step()  # the first call allocates and picks kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1000 * sorted(times)[repeats // 2]


def attention_milliseconds(fn, shape):
    """Median time of forward + backward of fn(q, k, v) in precision "auto", in ms."""
    gen = torch.Generator().manual_seed(9)
    q, k, v = (torch.randn(shape, generator=gen).requires_grad_() for _ in range(3))

    def step():
        with autocast():
            out = fn(q, k, v)
        out.float().sum().backward()

    return median_milliseconds(step)


print(f"{'level':>6} {'shape (B, heads, HW, d)':>24} {'written out ms':>15} {'fused ms':>9} {'fused / written':>16}")
for size, shape in [(7, (64, 4, 49, 32)), (14, (64, 4, 196, 16))]:
    q, k, v = (torch.randn(2, *shape[1:], generator=torch.Generator().manual_seed(size)) for _ in range(3))
    assert torch.allclose(attention(q, k, v), F.scaled_dot_product_attention(q, k, v), atol=1e-5)
    written = attention_milliseconds(attention, shape)
    fused = attention_milliseconds(F.scaled_dot_product_attention, shape)
    print(f"{size:>3}×{size:<2} {str(shape):>24} {written:>15.2f} {fused:>9.2f} {fused / written:>15.1f}×")

# %% [markdown]
# Both compute the same numbers (the assert), but not at the same speed. On one thread, in five runs of
# this cell under bfloat16 autocast (a CPU with native bfloat16), the written-out version took 5–8 ms
# for the middle's shapes and the fused kernel 35–48 ms, 5.7–8.1× longer; at 14×14 the gap was
# 1.5–2.0×. The fused kernel's backward pass is the slow part: `torch.profiler` gave it about 19 ms per
# call against 2 ms for its forward, in a training step on 2 threads. Kernels that never store the
# matrix are made for long sequences, where the matrix would not fit; 49 positions are not that case.
# So `SelfAttention2d` writes Eq. 1 out, and the book's UNet trains about 8 % faster for it (the same
# training step, timed alternately with each version).
#
# ## 5. The whole UNet
#
# `UNetConfig()` is the book's default UNet: channels (32, 64, 128) for the three levels, one ResBlock per
# level, attention only in the middle, 8 groups, 4 heads. (The book's unconditional checkpoint and its
# 15-minute recipe use it with additive skips, section 6.) Forward hooks on the blocks of the forward
# pass print each one's input and output shape as a batch of two images goes through. The
# pooling and upsampling between levels are functions, not modules, so they show up as a change of size
# from one block to the next.

# %%
cfg = UNetConfig()
net = UNet(cfg)
print(cfg)


def blocks_called(net):
    """(name, module) of every block the forward pass runs, in the order it runs them."""
    def level_blocks(where, i, level):
        named = []
        for j, (res, attn) in enumerate(zip(level.res, level.attn)):
            named.append((f"{where}.{i}.res.{j}", res))
            if isinstance(attn, SelfAttention2d):  # levels without attention hold an nn.Identity
                named.append((f"{where}.{i}.attn.{j}", attn))
        return named

    named = [("time_embed", net.time_embed), ("conv_in", net.conv_in)]
    for i, level in enumerate(net.down):
        named += level_blocks("down", i, level)
    named += [("mid1", net.mid1), ("mid_attn", net.mid_attn), ("mid2", net.mid2)]
    for i in reversed(range(len(net.up))):
        named += level_blocks("up", i, net.up[i])
    return named + [("norm_out", net.norm_out), ("conv_out", net.conv_out)]


def print_shapes(name):
    def hook(module, args, out):
        print(f"{name:13s} {str(tuple(args[0].shape)):>17} → {tuple(out.shape)}")
    return hook


handles = [m.register_forward_hook(print_shapes(name)) for name, m in blocks_called(net)]
t = torch.tensor([100, 600])
x = add_noise(schedule, images[:2], t, torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(8)))
with torch.no_grad():
    eps_hat = net(x, t)
for handle in handles:
    handle.remove()
print(f"{'output':13s} {str(tuple(x.shape)):>17} → {tuple(eps_hat.shape)}")
assert eps_hat.shape == x.shape and torch.equal(eps_hat, torch.zeros_like(x))  # conv_out starts at zero

# %% [markdown]
# Read it top to bottom. The time embedding turns the two timesteps into (2, 128), once per forward
# pass; `conv_in` lifts 1 channel to 32. Each down level's ResBlock sets the channel count (32, 64, 128),
# and average pooling halves the size before down 1 and down 2 (28 → 14 → 7). The middle keeps
# (2, 128, 7, 7); its attention relates 49 positions. In the up path every block's input is wider than
# its output, because the skip is concatenated to it: up 2 gets 128 channels from the middle plus
# 128 from down 2, that is 256; up 1 gets the upsampled 128 plus 64 from down 1, 192; up 0 gets 64 + 32
# = 96. Nearest-neighbour upsampling doubles the size before up 1 and up 0. The output has the input's
# shape, and a fresh UNet outputs exactly zero, because `conv_out` starts at zero.
#
# Printed, the model lists every layer; `Dropout(p=0.0)` does nothing unless a config asks for it, and
# `Identity()` marks where a level has no attention or a block needs no 1×1 skip convolution:

# %%
print(net)

# %% [markdown]
# ### Parameters and FLOPs, part by part
#
# A FLOP here is a multiply or an add, so a multiply-add counts 2, as `torch.utils.flop_counter` counts
# them. The counter counts matrix products and convolutions only; normalisations, activations and the
# softmax add little arithmetic (though not always little time, as section 6 shows). Attention's QKᵀ and
# weights·V are matrix products, so they are counted; had we called the fused kernel instead, we would
# have to teach the counter its formula, for it has no entry for the CPU's version.

# %%
def count_flops(fn):
    """FLOPs of fn(), per module name as FlopCounterMode reports them, and in total."""
    with FlopCounterMode(display=False) as counter:
        fn()
    per_module = {name.removeprefix("UNet."): sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    return per_module, counter.get_total_flops()


with torch.no_grad():
    per_module, forward_flops = count_flops(lambda: net(x[:1], torch.tensor([100])))  # one image

parts = {"time embedding": ["time_embed"], "conv_in": ["conv_in"], "down 0": ["down.0"], "down 1": ["down.1"],
         "down 2": ["down.2"], "middle": ["mid1", "mid_attn", "mid2"], "up 2": ["up.2"], "up 1": ["up.1"],
         "up 0": ["up.0"], "norm_out, conv_out": ["norm_out", "conv_out"]}
resolution = {"down 0": 28, "down 1": 14, "down 2": 7, "middle": 7, "up 2": 7, "up 1": 14, "up 0": 28,
              "conv_in": 28, "norm_out, conv_out": 28}
called = dict(blocks_called(net))
print(f"{'part':20s} {'size':>6} {'parameters':>11} {'share':>6} {'MFLOP/image':>12} {'share':>6}")
total_params = sum(p.numel() for p in net.parameters())
rows = []
for part, prefixes in parts.items():
    members = [n for n in called if any(n == pre or n.startswith(pre + ".") for pre in prefixes)]
    params = sum(p.numel() for n in members for p in called[n].parameters())
    flops = sum(per_module.get(n, 0) for n in members)
    rows.append((part, params, flops))
    size = f"{resolution[part]}²" if part in resolution else ""
    print(f"{part:20s} {size:>6} {params:>11,} {params / total_params:>6.0%} {flops / 1e6:>12.1f} "
          f"{flops / forward_flops:>6.0%}")
print(f"{'total':20s} {'':>6} {total_params:>11,} {'':>6} {forward_flops / 1e6:>12.1f}")
assert sum(r[1] for r in rows) == total_params and sum(r[2] for r in rows) == forward_flops

# %% [markdown]
# Two patterns. **Parameters sit at low resolution**: down 2, the middle and up 2, all at 7×7, hold
# 81% of them, because a 3×3 convolution has C_in·C_out·9 weights and the channels double at each level.
# **FLOPs are spread over all resolutions**: a convolution costs 2·H·W·C_in·C_out·9, and halving the side
# (a quarter of the positions) while doubling the channels (four times the weights) leaves it unchanged,
# so down 0, down 1 and down 2 cost about the same. The up path costs more than twice the down path
# (172 against 74 MFLOP) because its first convolutions read the concatenated skips; adding the skips
# instead (`UNetConfig(skip="add")`, measured in section 6) removes most of that. The middle's
# attention, projections included, is 7.7 of its 65.5 MFLOP, and the time embedding is nothing: it
# runs once per image on 32 numbers.
#
# Check the counter against the formula for one convolution, 2·H·W·C_out·C_in·9, and count a whole
# training step: the backward pass computes two products for every one of the forward pass (the gradient
# with respect to the layer's input and to its weights), so a step costs about 3× the forward pass.

# %%
assert per_module["mid1.conv1"] == 2 * 7 * 7 * 128 * 128 * 9  # Conv2d(128, 128, 3) at 7×7
model = DDPM(UNet(cfg), 1000)
nn.init.normal_(model.network.conv_out.weight, std=0.01)  # so that the loss depends on every layer
train_gen = torch.Generator().manual_seed(6)
_, step_flops = count_flops(lambda: model.loss(images[:1], train_gen).backward())
print(f"forward {forward_flops / 1e6:.0f} MFLOP per image; forward + backward {step_flops / 1e6:.0f} MFLOP, "
      f"{step_flops / forward_flops:.2f}× the forward pass")
assert abs(step_flops / forward_flops - 3) < 0.1

# %% [markdown]
# The counter agrees with the formula, and a training step counts 3.00× the forward pass: the backward
# pass of every convolution and matrix product counts exactly 2× its forward, except `conv_in`'s, whose
# input needs no gradient (0.45 MFLOP saved, too little to show). So one training image costs
# about 0.94 GFLOP. A CPU core that sustains around 100 GFLOP/s on such small convolutions trains on
# roughly a hundred images per second, the order of magnitude section 6 measures.
#
# ### What the skip connections do
#
# Each up block concatenates the output of the same level's down block, which is why up 1 takes
# 128 + 64 = 192 channels and up 0 takes 64 + 32 = 96 in the walk above, and why the up path holds more
# parameters than the down path. What do those channels carry? Ask which input pixels an output pixel
# depends on: the gradient of ε̂ at one pixel with respect to the input image. A trained network is for
# chapter 04; the question is about the wiring, so random weights will do. (Fresh, the zero-initialised
# layers would make every gradient zero, so every weight gets a random value.) Then we cut the skips by
# zeroing the skip channels at the input of every up block, with a forward pre-hook, and ask again.

# %%
torch.manual_seed(7)
wired = UNet(cfg)
for p in wired.parameters():
    nn.init.normal_(p, std=0.05)


def zero_skip_channels(skip_channels):
    def pre_hook(module, args):
        h, emb = args  # h = cat([from below, skip]): the skip is the last `skip_channels` channels
        return torch.cat([h[:, :-skip_channels], torch.zeros_like(h[:, -skip_channels:])], dim=1), emb
    return pre_hook


pixel = (14, 10)
x_one = x[:1].clone()
saliency = {}
for label in ("with skips", "skips zeroed"):
    handles = []
    if label == "skips zeroed":
        handles = [res.register_forward_pre_hook(zero_skip_channels(cfg.channels[i]))
                   for i, level in enumerate(wired.up) for res in level.res]
    x_in = x_one.clone().requires_grad_(True)
    wired(x_in, torch.tensor([100]))[0, 0, pixel[0], pixel[1]].backward()
    saliency[label] = x_in.grad[0, 0].abs()
    for handle in handles:
        handle.remove()
    near = saliency[label][pixel[0] - 2:pixel[0] + 3, pixel[1] - 2:pixel[1] + 3].sum() / saliency[label].sum()
    print(f"{label:12s}: {near:.0%} of the gradient is within 2 pixels of the output pixel")

fig, axes = plt.subplots(1, 3, figsize=(8.4, 3.0))
axes[0].imshow(x_one[0, 0], cmap="gray", vmin=-1, vmax=1)
axes[0].set_title("input x_t (t = 100)", fontsize=9)
for ax, (label, s) in zip(axes[1:], saliency.items()):
    ax.imshow(s / s.max(), cmap="magma", vmin=0, vmax=1)
    ax.set_title(f"|∂ε̂[pixel] / ∂x|, {label}", fontsize=9)
for ax in axes:
    ax.plot(pixel[1], pixel[0], "c+", ms=10)
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# With the skips, the output at the marked pixel depends mostly on the input pixels right around it:
# about three quarters of the gradient lies within 2 pixels, through the short path `conv_in` → down 0 →
# up 0. With the skips zeroed, every path runs through the 7×7 middle, and the dependence spreads over
# much of the image in blocky patches (one 7×7 position covers 4×4 input pixels); only about 15% of it
# is near the pixel. A denoiser must decide whether *this* pixel is a noise speck or the edge of a sleeve,
# which needs the short path; the middle adds what only the whole image can tell. That is why each
# level hands its features across, and why Ronneberger et al. drew the network as a U.
#
# ### Sizes it cannot take
#
# Each level halves the image, so the size must divide by 2^(levels − 1); the config refuses other sizes
# with a message that says which ones work, and the network refuses inputs that do not fit it:

# %%
for make in (lambda: UNetConfig(image_size=30), lambda: UNetConfig(channels=(32, 64, 128, 256)),
             lambda: net(torch.zeros(1, 3, 28, 28), torch.tensor([0]))):
    try:
        make()
    except ValueError as e:
        print("ValueError:", e)

# %% [markdown]
# ## 6. Design choices, measured
#
# Why 32/64/128 channels, one block per level and attention at 7×7 only? Because the book's models must
# train on a 2-core CPU. Here we time a few training steps, `DDPM(UNet(cfg), 1000).loss` then backward
# then AdamW, for the book's default and seven variants, in float32 and under bfloat16 autocast
# (`torch.autocast("cpu", dtype=torch.bfloat16)`: weights and the optimiser stay float32, matrix products
# and convolutions run in bfloat16). Whether bfloat16 pays depends on the CPU, and not by a little:
# - CPUs with native bfloat16 instructions (AVX-512-BF16 or AMX: AMD Zen 4, Intel Sapphire Rapids)
#   compute it several times faster than float32;
# - on the others (AVX2 only: AMD Zen 3 and older, most laptops, Apple silicon) it is emulated, and a
#   training step is about **12× slower** than in float32.
#
# `diffusion_lite.precision` decides once for the whole package: `precision="auto"`, the default of
# every recipe, of `generate` and of the command line, means bfloat16 autocast where the CPU computes it
# natively and float32 elsewhere (its docstring names the checks). On a CPU without native bfloat16 this
# cell times bfloat16 on the book's design only, for one step, to show the cost. Each measurement is one
# warm-up step, then four timed steps on a batch of 32; the book's recipes train with batch 64, which
# runs a little faster per image.
#
# Timings depend on the machine, on the thread count and on whatever else runs at the same time; under
# `make test` each chapter's kernel gets one thread, in JupyterLab torch takes all cores. Read the
# ratios between rows, not the absolute numbers, and rerun the cell to see how much they move. If
# another program keeps the cores busy, multi-threaded timings can collapse (threads wait for each
# other); `torch.set_num_threads(1)` then gives steadier numbers.

# %%
native, evidence = native_bf16()
print(f"torch uses {torch.get_num_threads()} thread(s) of {os.cpu_count()} CPUs; {cpu_name()} ({evidence})")
BOOK = "book: 32/64/128, attention 7²"
designs = {
    BOOK: UNetConfig(),
    "additive skips": UNetConfig(skip="add"),
    "no attention": UNetConfig(mid_attention=False),
    "+ attention at 14²": UNetConfig(attention_levels=(1,)),
    "2 blocks per level": UNetConfig(blocks_per_level=2),
    "wider: 64/128/256": UNetConfig(channels=(64, 128, 256)),
    "2 levels: 64/128": UNetConfig(channels=(64, 128)),
    "2×2 patches, 64/128 at 14²": UNetConfig(channels=(64, 128), patch_size=2),
}
BATCH, TIMED_STEPS = 32, 4
batch = images[:BATCH]


def images_per_second(model, precision, timed_steps=TIMED_STEPS):
    """Training throughput in `precision` ("float32" or "bf16"): one warm-up step, then `timed_steps` timed ones."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)

    def step():
        with autocast(precision):
            loss = model.loss(batch, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    start = time.perf_counter()
    for _ in range(timed_steps):
        step()
    return BATCH * timed_steps / (time.perf_counter() - start)


speeds = {}
for name, design in designs.items():
    torch.manual_seed(0)
    model = DDPM(UNet(design), 1000)
    with torch.no_grad():
        _, flops = count_flops(lambda: model.network(batch[:1], torch.tensor([0])))
    params = sum(p.numel() for p in model.parameters())
    fp32 = images_per_second(model, "float32")
    # bfloat16 for every design where it is native; elsewhere one step of the book's design shows what it costs
    bf16 = (images_per_second(model, "bf16") if native else
            images_per_second(model, "bf16", timed_steps=1) if name == BOOK else float("nan"))
    speeds[name] = (params, flops, fp32, bf16)

fast = 3 if native else 2  # the column of the format `precision="auto"` picks here
print(f"{'design':30s} {'parameters':>10} {'MFLOP/img':>10} {'fp32 img/s':>11} {'bf16 img/s':>11} "
      f"{'bf16 gain':>9} {'vs book':>8} {'GFLOP/s':>8}   (the last two in {resolve('auto')})")
for name, (params, flops, fp32, bf16) in speeds.items():
    achieved = speeds[name][fast] * 3 * flops / 1e9  # a training step ≈ 3 forward passes
    bf16_cells = f"{bf16:>11.0f} {bf16 / fp32:>8.2f}×" if bf16 == bf16 else f"{'—':>11s} {'—':>9s}"  # nan: not timed
    print(f"{name:30s} {params / 1e6:>9.2f}M {flops / 1e6:>10.0f} {fp32:>11.0f} {bf16_cells} "
          f"{speeds[name][fast] / speeds[BOOK][fast]:>7.2f}× {achieved:>8.0f}")
book_gain = speeds[BOOK][3] / speeds[BOOK][2]
assert (book_gain > 1) == native, "precision='auto' would not pick the faster format on this CPU"

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [3, 2]})
names = list(speeds)
ys = torch.arange(len(names)).float()
axes[0].barh(ys - 0.2, [speeds[n][2] for n in names], height=0.4, label="float32")
axes[0].barh(ys + 0.2, [speeds[n][3] for n in names], height=0.4, label="bfloat16 autocast")
axes[0].set(yticks=ys, yticklabels=names, xlabel="training images per second (higher is better)")
axes[0].invert_yaxis()
axes[0].legend(fontsize=8, loc="center right")
axes[1].barh(ys, [speeds[n][1] / 1e6 for n in names], color="grey")
axes[1].set(yticks=ys, yticklabels=[], xlabel="forward MFLOP per image")
axes[1].invert_yaxis()
fig.suptitle(f"one training step (forward, backward, AdamW), batch {BATCH}, {torch.get_num_threads()} thread(s)"
             f"{'' if native else '; bfloat16 (emulated on this CPU) timed on the book design only'}", fontsize=10)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Two kinds of CPU
#
# The bfloat16 column is the one that changes most from machine to machine. `benchmarks/precision.py`
# timed the book's UNet both ways on the book's machine, once as it is and once imitating a CPU without
# native bfloat16 (`ATEN_CPU_CAPABILITY=avx2` and `ONEDNN_MAX_CPU_ISA=AVX2` limit PyTorch's and oneDNN's
# kernels to AVX2, so bfloat16 is emulated as on such a CPU). Beside it, the ratio just measured here:

# %%
recorded = json.loads(Path("../benchmarks/results/precision.json").read_text())
print(f"benchmarks/precision.py, {recorded['date']}, {recorded['threads']} thread, torch {recorded['torch']}")
print(f"{'':42s} {'CPU':44s} {'float32':>8s} {'bfloat16':>9s} {'bf16 gain':>9s}  auto picks")
for kind, r in recorded["kinds"].items():
    step = r["tasks"]["train step, 32 images"]
    print(f"{kind:42s} {r['cpu'] + ', ' + r['capability']:44s} {step['float32_seconds']:7.2f}s {step['bf16_seconds']:8.2f}s "
          f"{step['bf16_speedup']:8.2f}×  {r['auto']}")
print(f"{'this CPU, the table above':42s} {cpu_name():44s} {BATCH / speeds[BOOK][2]:7.2f}s {BATCH / speeds[BOOK][3]:8.2f}s "
      f"{book_gain:8.2f}×  {resolve('auto')}")
by_kind = {r["native_bf16"]: r["tasks"]["train step, 32 images"]["bf16_speedup"] for r in recorded["kinds"].values()}
assert by_kind[True] > 1.3 and by_kind[False] < 0.2  # about 2× faster with native bfloat16, about 12× slower without

# %% [markdown]
# (Seconds per training step of 32 images with AdamW; the recorded rows time forward and backward only.)
# The imitation agrees with a real CPU of the other kind: on an AMD EPYC of the Zen 3 generation (AVX2,
# no AVX-512), one forward and backward pass of `fashion_ddpm`'s UNet on 32 images took 8.69 s under
# bfloat16 autocast and 0.72 s in float32, 12× slower (measured when the book still trained in bfloat16
# everywhere; benchmarks/RESULTS.md, "Precision"). That is why the package never assumes bfloat16, and
# why a timing in this book always names the CPU it was measured on.
#
# What the table and the chart show (this text was written from runs with one thread, as under
# `make test`, on a CPU with native bfloat16; your numbers will differ, the ratios less so):
# - **bfloat16 autocast** speeds every design up, by about 1.5–2×, where it is native; where it is not,
#   the table's one bfloat16 step is an order of magnitude slower, and `precision="auto"` trains in float32.
# - **Additive skips** (`skip="add"`) take a quarter of the FLOPs off and run 1.3–1.4× faster in
#   runs of this cell (a few timed steps are noisy; 15-minute runs in chapter 04 give 1.35–1.42×), the largest
#   gain in the table that keeps every level. A concatenating up block convolves 2C or 3C
#   channels (96 at 28×28 in up 0); with `skip="add"` a 1×1 convolution `lift` first brings the coarser
#   level to C channels, at its low resolution, and the skip is added, so every up block convolves C
#   channels. The up path then costs about what the down path does, and the full-resolution tensors
#   are a third as wide, which matters as much as the FLOPs on a CPU whose cache they overflow.
#   Whether it learns as much per step is a training question; chapter 04 (section 7) answers it, and
#   the book's 15-minute recipe and its unconditional checkpoint use it.
# - **Attention at 7×7 costs about what its FLOPs say**, once it is written out (section 4): dropping it
#   saves 2% of the FLOPs and 6–8% of the time. At 14×14 attention is dearer than its FLOPs: it adds
#   10% of them and costs about a fifth of the speed. The softmax and memory traffic over 196×196
#   matrices are not in the FLOP count, and they gain little from bfloat16 (see its low GFLOP/s).
# - **Two blocks per level** cost about 1.7× the FLOPs and run at about 0.6× the speed.
# - **Wider** (64/128/256) is 4× the parameters and FLOPs and runs at about a third of the speed: a
#   little better than 4×, because its larger matrix products run closer to the CPU's peak (the
#   GFLOP/s column).
# - **Two levels** (64/128) has about the book's parameter count but three times its FLOPs and runs at
#   well under half its speed: 64 channels at 28×28 and attention at 14×14. A parameter count does not
#   say what a model costs; where the parameters work does.
# - **2×2 patches** (`patch_size=2`) fold each 2×2 block of pixels into 4 channels first
#   (`F.pixel_unshuffle`) and unfold the output at the end, so the same two levels work at 14×14 and 7×7:
#   the fastest design in the table. Is it as good? Trained for the same 5 minutes on 2 threads
#   (`benchmarks/train_budget.py --minutes 5` with the design as a recipe JSON file) it took 45 % more
#   steps than the book's default and reached about the same FID (368 against 344, at 1,000 DDIM-50
#   samples; both models were far from done after 5 minutes). Chapter 04 settles it at 15 minutes and
#   an hour (its section 7): faster steps that learn less per step lose, FID 187 against 147 at 15
#   minutes, so the book keeps its default and leaves the patched design as a measured option.
#
# The book's default is the fastest design here that keeps a global view in the middle. Each extra
# block, width or attention level is worth trying when a model underfits, at the price this table
# states; chapter 04 trains the default on Fashion-MNIST.
#
# ### Four more switches: memory layout, compilation, bfloat16 weights, a batch per core
#
# Guides to PyTorch speed recommend two more switches, bfloat16 has a second form, and sampling can
# share out the cores another way. None of them changes what the network computes, up to rounding:
# - `model.to(memory_format=torch.channels_last)` stores a feature map pixel by pixel, the channels of
#   one pixel side by side (B, H, W, C in memory), instead of one channel's plane after another. That is
#   the layout the CPU's convolution kernels (oneDNN) compute in, so they skip a reordering on the way
#   in and out.
# - `torch.compile(model)` traces the network on its first call and generates fused code for the
#   elementwise work between the convolutions (GroupNorm, SiLU, additions): fewer passes over memory.
# - `model.to(torch.bfloat16)` stores the weights themselves in bfloat16, so nothing is cast at each
#   call. That suits sampling only: training keeps float32 weights, because AdamW's updates are often
#   smaller than bfloat16's resolution of about 3 significant digits.
# - **A batch per core**: torch splits every operation of one call between its threads, one per core.
#   A convolution splits well; a GroupNorm or SiLU on 100 maps of 28×28 takes a fraction of a
#   millisecond, and splitting it costs the threads about as much as it saves. Sampling has many
#   independent batches, so it can instead give each core its own: Python threads, each running one
#   batch on one torch thread (torch releases Python's lock inside its operations, so they do run at
#   once). That suits sampling only, whose batches do not depend on each other. `generate(...,
#   workers=2)` and `python -m diffusion_lite sample --workers 2` sample this way.
#
# The layout changes the two layers of a residual block in opposite ways. Here they are, timed on a
# batch of 64 maps of 32 channels at 28×28, as in level 0 (forward, in precision "auto", median of 7 runs):

# %%
def forward_milliseconds(layer, inputs, calls=5):
    """Milliseconds per forward call in precision "auto": section 4's median of 7 runs of `calls` calls."""
    def step():
        with torch.no_grad(), autocast():
            for _ in range(calls):
                layer(inputs)

    return median_milliseconds(step) / calls


maps = torch.randn(64, 32, 28, 28, generator=torch.Generator().manual_seed(0))
layer_ms = {}
level_0_layers = {"conv 3×3, 32 → 32": nn.Conv2d(32, 32, 3, padding=1), "GroupNorm(8, 32)": nn.GroupNorm(8, 32)}
for name, layer in level_0_layers.items():
    for layout, fmt in (("contiguous", torch.contiguous_format), ("channels_last", torch.channels_last)):
        layer_ms[name, layout] = forward_milliseconds(layer.to(memory_format=fmt), maps.contiguous(memory_format=fmt))
    print(f"{name:18s} contiguous {layer_ms[name, 'contiguous']:6.2f} ms    "
          f"channels_last {layer_ms[name, 'channels_last']:6.2f} ms")
assert layer_ms["GroupNorm(8, 32)", "channels_last"] > 2 * layer_ms["GroupNorm(8, 32)", "contiguous"]

# %% [markdown]
# For the whole network the switches were timed by `benchmarks/levers.py` on 2 threads with nothing
# else running, in turn and round after round, so that the machine's drift from minute to minute
# reaches them all alike: the book's training step (loss, backward, clipping, AdamW, EMA) at batch 64,
# and the network calls of sampling 1,000 images with 50 steps, in batches of 100 as `generate` draws
# them.
# Compiling takes minutes on one thread, so the chapter reads the stored results:

# %%
levers = json.loads(Path("../benchmarks/results/levers.json").read_text())
train, sample = levers["training"], levers["sampling"]
print(f"benchmarks/levers.py, {levers['date']}, {levers['threads']} threads, torch {levers['torch']}, "
      f"the network of the book's checkpoint")
print(f"{'':28s} {'training':>19s}   {'1,000 × 50 network calls':>26s}")
print(f"{'':28s} {'images/s':>9s} {'vs bf16':>9s}   {'seconds':>15s} {'vs bf16':>10s}   compile")
base_images, base_seconds = train["bfloat16"]["images_per_second"], sample["bfloat16"]["seconds_per_1000x50"]
for lever in sample:
    t, s = train.get(lever), sample[lever]
    training = f"{t['images_per_second']:9.0f} {t['images_per_second'] / base_images:8.2f}×" if t else f"{'—':>9s} {'':9s}"
    compiling = f"{t['compile_seconds']:.0f} s + {s['compile_seconds']:.0f} s" if "compile_seconds" in s else ""
    print(f"{lever:28s} {training}   {s['seconds_per_1000x50']:15.1f} {base_seconds / s['seconds_per_1000x50']:9.2f}×   "
          f"{compiling}")
layout_cost = train["bfloat16"]["images_per_second"] / train["bfloat16 + channels_last"]["images_per_second"]
compile_gain = train["bfloat16 + torch.compile"]["images_per_second"] / train["bfloat16"]["images_per_second"]
assert layout_cost > 1
assert sample["bfloat16 + channels_last"]["seconds_per_1000x50"] > sample["bfloat16"]["seconds_per_1000x50"]
assert 0.9 < compile_gain < 1.1 and train["bfloat16 + torch.compile"]["compile_seconds"] > 30
assert sample["bfloat16, a batch per core"]["seconds_per_1000x50"] < sample["bfloat16"]["seconds_per_1000x50"]
assert sample["float32"]["seconds_per_1000x50"] > 1.5 * sample["bfloat16"]["seconds_per_1000x50"]

# %% [markdown]
# Both "vs bf16" columns are speeds relative to bfloat16 autocast, the book's setting (above 1× is
# faster). On this CPU, for this network:
# - **channels_last loses**: 0.81× in training, 0.74× in sampling. The convolution gains a few per cent
#   in that layout (about 5 against 5.5 ms on one thread above), but GroupNorm becomes 7–10× slower
#   (about 4.5 against 0.5 ms), and every residual block has as many GroupNorms as convolutions. Advice to use
#   channels_last is mostly written for GPUs, where convolutions dominate even more.
# - **torch.compile gains nothing measurable**: 0.97× in training and 0.99× in sampling in this run,
#   after 74 s of compiling for training and 31 s for sampling (and again for each new batch shape);
#   an earlier run, which timed the levers one after the other instead of in turn, gave 1.06× and
#   1.06×. It also needs a C++ compiler where it runs. What it fuses is the elementwise work between
#   the convolutions, and the convolutions take most of the time. The book leaves it off.
# - **bfloat16 weights** sample about as fast as autocast (0.99× here, 1.08× in the earlier run),
#   although autocast casts the float32 weights to bfloat16 at every call. Stored in bfloat16,
#   GroupNorm's scales and shifts lose the float32 precision that autocast leaves them, and GroupNorm
#   itself, which autocast runs in float32, runs in bfloat16.
# - **A batch per core** is the one lever that gains in sampling, 1.06× here. Whole samplers gain a
#   little more: `benchmarks/sampling.py workers`, timing them the same way, in turn, drew 1,000 DDIM-50
#   images in 50.8 s with a batch per core against 57.7 s one batch at a time (medians of three rounds,
#   `benchmarks/results/workers.json`), 0.88× the time.
#
# Rounding to bfloat16 changes what the network computes, a little, and a sampler chains 50 network
# calls. Does that cost quality? `benchmarks/sampling.py formats` drew 1,000 images with DDIM and 50
# steps from the book's checkpoint in each format, from the same noise, on three seeds, and scored
# them with FID and KID against the test set; and the same from the book's two previous checkpoints,
# the same recipe with linear βt instead of the cosine schedule, and then also with ε-prediction
# instead of v (chapter 04, sections 1 and 7). Chapter 04 introduces FID and KID: lower is closer to
# the test images, and 1,000 real images score FID 10.5 against them. It also ran float32 and autocast with the
# steps ending at t = 74 instead of 19, a choice that chapter 05, section 6, explains:

# %%
formats = json.loads(Path("../benchmarks/results/formats.json").read_text())["entries"]
by_format = {}  # (format, last t) -> the three seeds' entries
for e in formats:
    by_format.setdefault((e["format"], e["last_t"] or 19), []).append(e)
print(f"{'DDIM-50, 1,000 images':24s} {'last t':>6s}   {'FID, seeds 0 / 1 / 2':>22s} {'mean':>6s} "
      f"{'KID mean':>9s} {'s/1000 img':>11s}")
for (fmt, last), runs in by_format.items():
    fids = [e["fid"] for e in runs]
    print(f"{fmt:24s} {last:6d}   {' / '.join(f'{fid:5.1f}' for fid in fids):>22s} {sum(fids) / 3:6.1f} "
          f"{sum(e['kid'] for e in runs) / 3:9.1f} {sum(e['seconds_per_1000'] for e in runs) / 3:11.0f}")
assert all(w["fid"] >= bf16["fid"] for w, bf16 in zip(by_format["bfloat16 weights", 19],
                                                      by_format["bfloat16 autocast", 19]))
assert all(e["seconds_per_1000"] > 1.5 * bf16["seconds_per_1000"]
           for e, bf16 in zip(by_format["float32", 19], by_format["bfloat16 autocast", 19]))


def float32_gain(entries):
    """(last t, seed) -> FID under bfloat16 autocast minus FID in float32, from the same noise."""
    fid = {(e["format"], e["last_t"] or 19, e["seed"]): e["fid"] for e in entries}
    return {(last, seed): fid["bfloat16 autocast", last, seed] - fid[fmt, last, seed]
            for fmt, last, seed in fid if fmt == "float32"}


gains = {"v, cosine (the book's)": float32_gain(formats)}
for name, file in (("v, linear βt (previous)", "formats_vlinear"), ("ε, linear βt (before)", "formats_eps")):
    gains[name] = float32_gain(json.loads(Path(f"../benchmarks/results/{file}.json").read_text())["entries"])
for name, gain in gains.items():
    print(f"FID gained by float32, {name:24s}", "  ".join(f"t={last} seed {seed}: {g:+.1f}"
                                                           for (last, seed), g in gain.items()))
assert all(abs(g) < 0.5 for name in ("v, cosine (the book's)", "v, linear βt (previous)")
           for g in gains[name].values())
assert all(g > 1 for g in gains["ε, linear βt (before)"].values())
assert all(abs(at_74["fid"] - at_19["fid"]) < 2 for fmt in ("float32", "bfloat16 autocast")
           for at_74, at_19 in zip(by_format[fmt, 74], by_format[fmt, 19]))
abar = NoiseSchedule.make("linear", 1000).alphas_cumprod
print(f"at t = 999, 1/√ᾱt = {abar[-1] ** -0.5:.0f}")

# %% [markdown]
# For the book's checkpoint float32 buys nothing: on every seed and at both ends it is within 0.2 FID
# of autocast (the same noise goes in, so the seeds can be compared pair by pair), and it takes about
# 1.8× as long (84–98 s against 45–51 s; the first float32 run, 158 s, shared the machine). Weights
# stored in bfloat16 are at most 0.1 FID worse than autocast on each seed, and about as fast (a few per
# cent either way between runs). A seed alone moves FID by about 1.5 here. So the book samples under
# autocast, and leaves float32 to `generate(..., bf16=False)` and `python -m diffusion_lite sample
# --float32`. Ending the steps at t = 74 instead (chapter 05, section 6) moves FID by at most 1.5
# either way on this model; on the linear-βt model before it, it gained 3.3 to 5.4 on each seed.
#
# The same recipe with linear βt, v-prediction, was as indifferent to float32 (the second line
# printed). The one before it, which predicted ε, told another story (the last line): float32 was
# better on every seed, by 1.4 to 3.2 FID. The network is the same; what differs is how its output
# becomes the estimate x̂0 of the clean image that every sampler step uses (chapter 02). From ε̂,
# x̂0 = (x_t − √(1 − ᾱt)·ε̂)/√ᾱt multiplies any error of the network, rounding included, by
# √(1 − ᾱt)/√ᾱt, up to the 157 printed at the noisy end. From v̂, x̂0 = √ᾱt·x_t − √(1 − ᾱt)·v̂ never
# multiplies it by more than 1. That is a reading of the two measurements, not a proof, but it is
# the same reason that made v-prediction attractive for training (Salimans and Ho 2022).
#
# ### How fast could it be?
#
# Is 45–55 s for 1,000 images × 50 calls near what this CPU can do at all? Count the work and divide
# by the best speed measured. `benchmarks/levers.py` also timed a large bfloat16 matrix product, the
# CPU's best case, and a 3×3 convolution at each level's size and width (batch 100, autocast), and
# counted the FLOPs of one call of the checkpoint's network with `FlopCounterMode` as above (additive
# skips, so fewer than the concatenating default of section 5):

# %%
ceiling = levers["ceiling"]
total_flop = ceiling["forward_mflop_per_image"] * 1e6 * 1000 * 50
print(f"network: {ceiling['forward_mflop_per_image']:.1f} MFLOP per image and call; 1,000 × 50 calls: "
      f"{total_flop / 1e12:.1f} TFLOP")
print(f"matrix product 4096 × 4096: {ceiling['matmul_4096_bfloat16_gflops']:4.0f} GFLOP/s in bfloat16, "
      f"{ceiling['matmul_4096_float32_gflops']:.0f} in float32")
for shape, gflops in ceiling["conv_gflops"].items():
    print(f"conv 3×3 {shape:15s} {gflops:4.0f} GFLOP/s")
print(f"every FLOP at the best, {ceiling['best_gflops']:.0f} GFLOP/s: {ceiling['seconds_per_1000x50_at_best']:.1f} s")
for lever, timing in sample.items():
    seconds = timing["seconds_per_1000x50"]
    print(f"{lever:28s} {seconds:5.1f} s = {total_flop / seconds / 1e9:4.0f} GFLOP/s, "
          f"{ceiling['seconds_per_1000x50_at_best'] / seconds:4.0%} of the best")
conv = ceiling["conv_gflops"]
assert ceiling["seconds_per_1000x50_at_best"] > 25 and conv["28×28, 32 → 32"] < conv["14×14, 64 → 64"]
assert all(timing["seconds_per_1000x50"] > 1.4 * ceiling["seconds_per_1000x50_at_best"] for timing in sample.values())

# %% [markdown]
# The best setting runs at about 60 % of the best speed this CPU showed, and even if every operation ran
# at that speed, the 11.4 TFLOP of 1,000 × 50 calls would take about 30 s. The other 40 % goes to work
# that has few FLOPs but passes over every activation: GroupNorm, SiLU, the casts between float32
# and bfloat16 around each convolution, attention's softmax, the additions of the skips; and the
# 28×28 convolutions, a quarter of the FLOPs, run about 20 % slower than the others, for 32 channels
# give the CPU's vector units short rows to work on. For this network, 30 s would need every
# operation, GroupNorm and SiLU included, to run as fast as the fastest convolution; no switch comes
# near that.
#
# None of the four switches comes near the factor of 1.6–1.7 that bfloat16 autocast gives over float32,
# or the factors between the designs of the table above. Getting much faster means doing less work per
# image: fewer calls of a better sampler, or cheaper calls. Chapter 05 measures both.
#
# ## 7. Exercises
#
# Replace each `None` with your answer and run the cell; the check builds the piece with `diffusion_lite`
# and counts. The exercises' inputs are defined in `checks/ch03.py`, and the solutions are in
# `solutions/ch03.py`.

# %%
from checks.ch03 import check_attention_entries, check_conv_flops, check_mid_shape, check_resblock_params  # noqa: E402

# %% [markdown]
# **Exercise 1.** By hand, from the layer list of section 3: how many parameters does
# `ResBlock(32, 64, emb_dim=128, num_groups=8, dropout=0.0)` have? Count each layer's weights and biases.

# %%
answer = None  # an integer
check_resblock_params(answer);

# %% [markdown]
# **Exercise 2.** Attention at 14×14 on 64 channels with 4 heads, as in the "+ attention at 14²" design:
# how many entries do the attention matrices softmax(QKᵀ/√d) of one image have in all?

# %%
answer = None  # an integer
check_attention_entries(answer);

# %% [markdown]
# **Exercise 3.** A four-level UNet, `UNetConfig(channels=(32, 64, 128, 256), image_size=40)`: what is the
# shape of the tensor that enters its middle attention, for a batch of one image? Give a tuple
# (batch, channels, height, width).

# %%
answer = None  # a tuple of four integers
check_mid_shape(answer);

# %% [markdown]
# **Exercise 4.** The first convolution of `up 0` is `Conv2d(96, 32, 3, padding=1)` on a 28×28 map. How
# many FLOPs is it for one image, counting a multiply-add as 2 and ignoring the bias? What share of the
# whole forward pass is that?

# %%
answer = None  # an integer
check_conv_flops(answer);

# %% [markdown]
# ## Summary
#
# - A UNet keeps the input's shape, sees the image at 28×28, 14×14 and 7×7, and passes each level's
#   features across to the up path through skip connections: with them an output pixel depends mostly
#   on its own neighbourhood; without them, only on what the 7×7 middle kept.
# - The timestep enters as a sinusoidal embedding (Vaswani et al. 2017), an MLP, and a per-channel shift
#   in every residual block.
# - Residual blocks normalise with GroupNorm, which computes its statistics per image, so one image's
#   output never depends on the rest of the batch and training and sampling behave alike; BatchNorm
#   fails both. Zero-initialised last layers make every block, and the whole network, start as the
#   identity (or zero).
# - Self-attention relates every position to every other; its cost grows with (H·W)², so the book
#   uses it only at 7×7, where it is cheap.
# - The book's UNet has 1.75 M parameters and costs about 0.31 GFLOP per image forward, about 3× that
#   per training step. Parameters sit at low resolution, FLOPs spread over all of them. On this CPU,
#   bfloat16 autocast nearly doubles training speed; more blocks, more channels, fewer levels or
#   attention at 14×14 each cost a large share of it. channels_last is slower here (GroupNorm), and
#   torch.compile gains about 6 % after a minute or more of compiling; the book uses neither.
#
# Next, chapter 04 trains this UNet on Fashion-MNIST.
