# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · Cross-attention
#
# Chapter 06 told the UNet *which class* to draw by adding one vector to every pixel's features. A
# caption says more: "a bag in the top left and a sneaker in the bottom right" asks for one thing here
# and another there. **Cross-attention** lets each position of the feature map read the words that
# concern it (Rombach et al. 2022, "High-Resolution Image Synthesis with Latent Diffusion Models",
# Sec. 3.3). The seed article has a block that tries; this chapter runs it, shows what is wrong with it,
# fixes it, and trains a small model whose attention we can watch.
#
# **Learning goals.** After this chapter you can
# 1. run the seed's `UNetBlock`, find each of its faults with a numerical check (sequence-first
#    attention that mixes the batch, attention over a single pooled token, the time input, no norm, no
#    nonlinearity), and fix them;
# 2. write cross-attention in the paper's symbols, with a padding mask, and check it against PyTorch's
#    `scaled_dot_product_attention` and `nn.MultiheadAttention`;
# 3. place it in a UNet as Stable Diffusion does (a transformer block: self-attention, cross-attention,
#    MLP) and count its cost;
# 4. train a small text-conditional diffusion model and draw which words each position attends to, per
#    head and sampling step.

# %%
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from diffusion_lite import datasets
from diffusion_lite.plotting import show_images

_ = torch.manual_seed(0)  # the networks' initial weights; every other random draw has its own generator

# %% [markdown]
# ## 1. The seed's block, as printed
#
# The article's "Conditional UNet" is this one block, copied exactly:

# %%
class UNetBlock(nn.Module):
    def __init__(self, in_c, out_c, time_emb_dim, text_emb_dim):
        super().__init__()
        self.time_mlp = nn.Linear(time_emb_dim, out_c)
        self.conv1 = nn.Conv2d(in_c, out_c, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(out_c, out_c, kernel_size=3, padding=1)
        # Cross-attention for text conditioning
        self.attn = nn.MultiheadAttention(embed_dim=out_c, num_heads=4)
        self.norm = nn.LayerNorm(out_c)
        self.proj = nn.Linear(text_emb_dim, out_c)

    def forward(self, x, t, text_emb):
        h = self.conv1(x)
        # Add time embedding
        t = F.silu(self.time_mlp(t))
        h = h + t.view(-1, h.shape[1], 1, 1)
        # Cross-attention with text
        batch, channels, height, width = h.shape
        h_flat = h.view(batch, channels, -1).permute(0, 2, 1)
        text_proj = self.proj(text_emb).unsqueeze(1)
        attn_out, _ = self.attn(h_flat, text_proj, text_proj)
        h = h + attn_out.permute(0, 2, 1).view(batch, channels, height, width)
        h = self.conv2(h)
        return h


# %% [markdown]
# It takes a feature map x (B, in_c, H, W), a time embedding t (B, time_emb_dim) and one pooled text
# vector per image (B, text_emb_dim). On a batch of four 8×8 maps it fails:

# %% tags=["raises-exception"]
block = UNetBlock(in_c=1, out_c=32, time_emb_dim=16, text_emb_dim=64)
x, t_emb, text = torch.randn(4, 1, 8, 8), torch.randn(4, 16), torch.randn(4, 64)
block(x, t_emb, text)

# %% [markdown]
# **Fault 1: the attention is sequence-first.** `nn.MultiheadAttention` reads its inputs as
# (sequence, batch, features) unless built with `batch_first=True`. The block feeds it
# `h_flat` (B, H·W, C), so it takes the **batch as the sequence** and the 64 pixels as 64 separate
# "batches"; the text (B, 1, C) then has a batch of 1, and the shapes cannot agree. Where they do agree,
# at a 1×1 feature map (the bottom of a deep UNet), the block runs, and does something worse: each image
# attends over *the whole batch's* captions. Change image 1's caption, and image 0's output changes:

# %%
x1 = torch.randn(4, 1, 1, 1)
out = block(x1, t_emb, text)
other_text = text.clone()
other_text[1] = torch.randn(64)  # only image 1's caption
changed = (block(x1, t_emb, other_text) - out).flatten(1).abs().amax(1)
print("largest change of each image's output when image 1's caption changes:", changed.detach().numpy().round(4))
assert changed[0] > 1e-4 and changed[2] > 1e-4  # the other images changed too: the batch is mixed

# %% [markdown]
# **Fault 2: one key is no attention.** With `batch_first=True` the shapes agree at any size. But the
# text is **pooled to a single token** (B, 1, C), so each pixel's softmax runs over one key, and a softmax
# over one number is 1. Every pixel receives the same vector, W_o·W_v·proj(text): a constant shift per
# image, the same as adding a class embedding (chapter 06). Nothing can say "bag *here*, sneaker
# *there*":

# %%
fixed_layout = nn.MultiheadAttention(32, 4, batch_first=True)
h_flat = torch.randn(4, 64, 32)  # (B, H·W, C)
text_token = block.proj(text).unsqueeze(1)  # (B, 1, C): the pooled caption
attn_out, weights = fixed_layout(h_flat, text_token, text_token)
print("attention weights", tuple(weights.shape), "all equal to 1:", bool(torch.all(weights == 1)))
per_image = fixed_layout.out_proj(F.linear(text_token, fixed_layout.in_proj_weight[64:],
                                           fixed_layout.in_proj_bias[64:]))  # W_o (W_v text + b_v) + b_o
assert torch.allclose(attn_out, per_image.expand(-1, 64, -1), atol=1e-6)  # the same vector at every pixel

# %% [markdown]
# **Fault 3 and more, the rest of the block.**
# - The time input must already be an embedding (B, time_emb_dim): the integer timesteps a DDPM passes
#   fail (the sinusoidal embedding of chapter 03 is missing), and the SiLU comes *after* the linear layer,
#   so the shift added to h can never be negative.
# - `self.norm` is built and never used: no normalisation before the attention, so its input scale
#   drifts with the conv's; its parameters never receive a gradient.
# - There is no nonlinearity between the convolutions. With a single key the attention is affine in h,
#   so the whole block is an **affine map of x**: a straight line through two inputs maps to a straight
#   line.
# - No residual path from x to the output, so a deep stack of these is hard to train.

# %%
try:
    block(x, torch.tensor([10, 200, 500, 999]), text)
except RuntimeError as e:
    print("integer timesteps:", e)
block_fixed_shapes = UNetBlock(1, 32, 16, 64)
block_fixed_shapes.attn = nn.MultiheadAttention(32, 4, batch_first=True)  # fault 1 fixed, to test the rest
a, b = torch.randn(2, 4, 1, 8, 8).unbind(0)
f = lambda z: block_fixed_shapes(z, t_emb, text)  # noqa: E731
lam = 0.3
affine_gap = (f(lam * a + (1 - lam) * b) - (lam * f(a) + (1 - lam) * f(b))).abs().max()
print(f"f(0.3a + 0.7b) − (0.3 f(a) + 0.7 f(b)): {affine_gap:.1e}, an affine map")
assert affine_gap < 1e-5
f(a).sum().backward()
assert block_fixed_shapes.norm.weight.grad is None  # the LayerNorm is never used

# %% [markdown]
# ## 2. Cross-attention, fixed
#
# In the paper's symbols (Rombach et al. 2022, Eq. 3), with $\varphi(z_t) \in \mathbb{R}^{N\times C}$ the
# UNet's features flattened to N = H·W positions and $\tau(y) \in \mathbb{R}^{L\times D}$ the text
# encoder's L token vectors (chapter 08):
#
# $$Q = \varphi(z_t)\,W_Q,\quad K = \tau(y)\,W_K,\quad V = \tau(y)\,W_V,$$
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\Big(\frac{QK^\top}{\sqrt d}\Big)V .$$
#
# The queries come from the pixels, the keys and values from the **tokens**, all L of them, so the
# softmax of each pixel is spread over the caption's words. Padding tokens are masked (score −∞, weight
# 0), and every tensor keeps its batch dimension first, so each image reads only its own caption. With h
# heads, d = C/h and each head has its own W_Q, W_K, W_V slices. From scratch, then checked against the
# package's `CrossAttention`, PyTorch's fused `scaled_dot_product_attention`, and a **batch-first**
# `nn.MultiheadAttention` with the same weights:

# %%
from diffusion_lite.attention import CrossAttention, SpatialTransformer  # noqa: E402
from diffusion_lite.checkpoints import load_model  # noqa: E402

clip, _, _ = load_model("../data/checkpoints/scenes_clip")  # chapter 08's text encoder, frozen
text_encoder = clip.text.requires_grad_(False)
D = text_encoder.config.width  # the width of its token vectors
with torch.no_grad():
    tau = text_encoder.encode(["a bag in the top left", "an ankle boot in the bottom right and a coat in the top left"])
context, mask = tau.tokens, tau.mask  # (2, 32, D), (2, 32)
phi = torch.randn(2, 49, 32)  # (B, N = 7·7, C)
cross = CrossAttention(32, context_dim=D, num_heads=4)
heads = lambda z: z.view(2, -1, 4, 8).transpose(1, 2)  # noqa: E731  (B, N, C) → (B, heads, N, d)
Q, K, V = heads(cross.to_q(phi)), heads(cross.to_k(context)), heads(cross.to_v(context))
scores = Q @ K.transpose(-2, -1) / 8**0.5  # (B, heads, N, L)
A = scores.masked_fill(~mask[:, None, None, :], float("-inf")).softmax(-1)
ours = cross.to_out((A @ V).transpose(1, 2).reshape(2, 49, 32))
assert torch.allclose(ours, cross(phi, context, mask), atol=1e-6)
fused = F.scaled_dot_product_attention(Q, K, V, attn_mask=mask[:, None, None, :])
assert torch.allclose(cross.to_out(fused.transpose(1, 2).reshape(2, 49, 32)), ours, atol=1e-5)
mha = nn.MultiheadAttention(32, 4, kdim=D, vdim=D, batch_first=True)
with torch.no_grad():
    for name, layer in (("q", cross.to_q), ("k", cross.to_k), ("v", cross.to_v)):
        getattr(mha, f"{name}_proj_weight").copy_(layer.weight)
    mha.in_proj_bias.zero_()
    mha.out_proj.load_state_dict(cross.to_out.state_dict())
assert torch.allclose(mha(phi, context, context, key_padding_mask=~mask)[0], ours, atol=1e-5)
print("attention weights", tuple(A.shape), "; on padding:", float(A[0, ..., int(mask[0].sum()):].detach().max()),
      "; each row sums to 1:", bool(torch.allclose(A.sum(-1), torch.ones(2, 4, 49))))

# %% [markdown]
# **In the UNet.** Stable Diffusion wraps cross-attention in a transformer block (its "spatial
# transformer", App. G): GroupNorm and a 1×1 conv in, then on the H·W tokens
# x + SelfAttn(LN x), x + CrossAttn(LN x, τ(y)), x + MLP(LN x), a 1×1 conv out (zero-initialised, so the
# block starts as the identity), plus the input. `UNetConfig(context_dim=D, cross_attention_levels=...)`
# puts one after each ResBlock of those levels and in the middle; `UNet(x, t, context=..., context_mask=...)`.
# A UNet without `context_dim` is unchanged, so the book's earlier checkpoints load as before.
#
# **What it costs.** Per image, in multiply-adds: the projections cost N·C² (queries), L·D·C (keys and
# values, each) and N·C² (output); the attention itself N·L·C twice (QKᵀ and A·V). Self-attention's N²
# becomes N·L: with a 32-token caption of width D = 128 it costs a third of self-attention at 14×14 and
# about the same at 7×7, and both stay below a 3×3 convolution's 9·N·C² there:

# %%
def cross_attention_macs(n, channels, length, context_dim):
    return 2 * n * channels**2 + 2 * length * context_dim * channels + 2 * n * length * channels


print(f"{'map':>6} {'C':>4} {'cross-attn MMAC':>16} {'self-attn MMAC':>15} {'3×3 conv MMAC':>14}")
for size, channels in ((14, 32), (7, 64)):
    n = size * size
    cross_macs = cross_attention_macs(n, channels, 32, D)
    self_macs = 4 * n * channels**2 + 2 * n * n * channels  # q, k, v, out projections + QKᵀ and A·V
    print(f"{size:>3}×{size:<2} {channels:>4} {cross_macs / 1e6:>16.2f} {self_macs / 1e6:>15.2f} "
          f"{9 * n * channels**2 / 1e6:>14.2f}")
assert cross_attention_macs(49, 64, 32, D) < 9 * 49 * 64**2

# %% [markdown]
# ## 3. Train a small model that reads captions
#
# A task small enough for half a minute on the CPU, where the reader can see whether the words land:
# scenes with **one item**, shrunk 4× to 14×14 (each cell is then a 7×7 blob), captioned as before. The
# UNet has two levels (14×14 and 7×7) and cross-attends in its 7×7 middle; the caption's tokens come from
# chapter 08's text encoder, frozen. The package's `DDPM` and training loop are used as they are:
# `pipeline.TextConditionedUNet` takes the captions' token ids where a class-conditional network takes
# labels, and turns them into the context (each distinct caption of a batch encoded once, since the
# encoder does not change). Its `null_label`, the empty caption, is what caption dropout and
# classifier-free guidance use as "no caption" (chapter 10).

# %%
from diffusion_lite.ddpm import DDPM  # noqa: E402
from diffusion_lite.pipeline import TextConditionedUNet  # noqa: E402
from diffusion_lite.training import TrainConfig, Trainer  # noqa: E402
from diffusion_lite.unet import UNet, UNetConfig  # noqa: E402


def shrink(images):  # (N, 56, 56) uint8 → (N, 1, 14, 14) in [−1, 1]
    return F.avg_pool2d(datasets.to_model_range(images), 4)


small_images, small_captions, small_layouts = datasets.scenes("train", 20_000, seed=0, max_items=1)
tokens = text_encoder.tokenizer.encode(small_captions)
unet = UNet(UNetConfig(image_size=14, channels=(32, 64), context_dim=D, skip="add", num_heads=4))
ddpm = DDPM(TextConditionedUNet(unet, text_encoder), schedule="cosine", prediction_type="v_prediction")
trainer = Trainer(ddpm, shrink(small_images), TrainConfig(steps=300, batch_size=64, lr=2e-3, warmup_steps=50,
                                                          ema_decay=0.99), labels=tokens)
t0 = time.perf_counter()
trainer.train(progress=False)
print(f"{sum(p.numel() for p in unet.parameters()):,} UNet parameters; {trainer.step} steps of 64 in "
      f"{time.perf_counter() - t0:.0f} s; loss {sum(trainer.losses[:20]) / 20:.3f} → {sum(trainer.losses[-50:]) / 50:.3f}")

# %% [markdown]
# Now ask it for each class in each cell. DDIM with 25 steps; the noise is the same for every prompt, so
# only the caption differs between images of a column:

# %%
prompts = [datasets.caption([(label, cell)]) for cell in range(4) for label in (0, 1, 5, 8, 9)]
model = trainer.ema
network = model.network
prompt_tokens = text_encoder.tokenizer.encode(prompts)


@torch.no_grad()
def draw(tokens, steps=25, seed=0, record=None):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 1, 14, 14, generator=g).expand(len(tokens), -1, -1, -1).contiguous()
    maps = []
    for t, x, _ in model.sample_steps(x, steps, "ddim", "trailing", network=lambda z, s: network(z, s, tokens)):
        if record is not None:
            maps.append((t, record.weights.clone()))
    return x, maps


samples, _ = draw(prompt_tokens)
axes = show_images(samples, ncols=5, scale=1.3)
for ax, text in zip(axes, prompts):
    ax.set_title(text.replace(" in the ", "\n"), fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# Where did the ink land? For each prompt, the share of the image's brightness (above black) that falls
# in the named quarter; a real shrunk scene puts all of it there.

# %%
def share_in_cell(x, cells):
    ink = (x[:, 0] + 1).clamp(min=0)  # 0 for black
    quarters = ink.view(-1, 2, 7, 2, 7).sum((2, 4)).view(-1, 4)
    return (quarters[torch.arange(len(x)), cells] / quarters.sum(1)).mean()


cells = torch.tensor([cell for cell in range(4) for _ in range(5)])
real = share_in_cell(shrink(small_images[:200]), (small_layouts[:200] >= 0).long().argmax(1))
generated = share_in_cell(samples, cells)
print(f"brightness in the named cell: {generated:.0%} for the 20 prompts (real scenes: {real:.0%}; "
      f"a model that ignored the cell: 25 %)")
assert generated > 0.5

# %% [markdown]
# ## 4. Which words each position attends to
#
# `CrossAttention.record = True` keeps the attention weights of its last call, (B, heads, N, L). For
# the middle block's cross-attention at 7×7, we draw, for each head and at three sampling steps, which
# word each of the 49 positions gives the most weight, and the weight on each word at the last step.

# %%
cross_mid = network.unet.mid_attn.block.attn2
cross_mid.record = True
prompt = datasets.caption([(8, 0)])  # "a bag in the top left"
words = ["<start>"] + prompt.split()
_, maps = draw(text_encoder.tokenizer.encode([prompt]), record=cross_mid)
cross_mid.record = False
picks = [0, len(maps) // 2, len(maps) - 1]
cmap = plt.get_cmap("tab10", len(words))
fig, axes = plt.subplots(4, len(picks), figsize=(2.2 * len(picks) + 1.5, 8))
for col, i in enumerate(picks):
    t, w = maps[i]
    for head in range(4):
        winner = w[0, head, :, :len(words)].argmax(-1).view(7, 7)
        axes[head, col].imshow(winner, cmap=cmap, vmin=-0.5, vmax=len(words) - 0.5)
        axes[head, col].set_xticks([])
        axes[head, col].set_yticks([])
        if col == 0:
            axes[head, col].set_ylabel(f"head {head}")
    axes[0, col].set_title(f"step {i + 1} (t = {t})", fontsize=9)
handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(k)) for k in range(len(words))]
fig.legend(handles, words, loc="center right", fontsize=8)
plt.subplots_adjust(right=0.78)
plt.show()
last = maps[-1][1][0, :, :, :len(words)]  # (heads, 49, words)
assert torch.allclose(last.sum(-1), torch.ones(4, 49), atol=1e-5)  # the caption's words take all the weight

fig, axes = plt.subplots(1, len(words), figsize=(1.4 * len(words), 1.8))
for k, word in enumerate(words):
    axes[k].imshow(last[:, :, k].mean(0).view(7, 7), cmap="magma", vmin=0, vmax=float(last.mean(0).max()))
    axes[k].set_title(word, fontsize=9)
    axes[k].axis("off")
plt.suptitle(f"weight on each word at the last step, averaged over heads: “{prompt}”", fontsize=9)
plt.tight_layout()
plt.show()
top_left = last.mean(0).view(7, 7, -1)[:4, :4].mean((0, 1))
rest = last.mean(0).view(7, 7, -1)[4:, 4:].mean((0, 1))
print("mean weight per word, top-left positions:", {w: round(float(v), 2) for w, v in zip(words, top_left)})
print("mean weight per word, bottom-right positions:", {w: round(float(v), 2) for w, v in zip(words, rest)})
assert top_left[0] > 2 * rest[0]  # where the bag goes, the positions read the caption's summary token

# %% [markdown]
# The maps are not a dictionary lookup from "bag" to bag-shaped pixels. Early in sampling (t near T) the
# heads split the map into regions by word; by the last steps the positions where the bag is drawn read
# mostly the `<start>` token, while the empty cells park their weight on "in" and "the". The text
# encoder is bidirectional (chapter 08), so every token's vector already carries the whole caption:
# `<start>` holds its summary, and the function words, which say little, serve as a place to put
# attention when there is nothing to read (large transformers show the same "attention sinks", Xiao et
# al. 2024). What the model reads is decided per position and per step, which is what a single pooled
# token could not do.

# %% [markdown]
# ## 5. Exercises
#
# Each exercise has a check function; replace `None` with your answer and run the cell. Solutions are in
# `chapters/solutions/ch09.py`.
#
# **Exercise 1.** The seed's `nn.MultiheadAttention` (sequence-first) receives a query of shape
# `checks.ch09.QUERY_SHAPE` = (B, H·W, C) = (8, 49, 64). How many separate attention problems does it
# solve, and over how many positions each? Answer (problems, positions).

# %%
from checks.ch09 import check_attention_weights_shape, check_cross_attention_macs, check_seed_batches  # noqa: E402

answer = None
check_seed_batches(answer);

# %% [markdown]
# **Exercise 2.** A batch of `checks.ch09.BATCH` images with 14×14 feature maps cross-attends with
# `checks.ch09.HEADS` heads to captions padded to `checks.ch09.LENGTH` tokens. What is the shape of the
# attention weights `CrossAttention` records? Answer a tuple.

# %%
answer = None
check_attention_weights_shape(answer);

# %% [markdown]
# **Exercise 3.** How many multiply-adds does QKᵀ alone cost, per image, for a 7×7 map with C = 64
# channels and a 32-token caption (all heads together)?

# %%
answer = None
check_cross_attention_macs(answer);

# %% [markdown]
# ## Summary
#
# - The seed's `UNetBlock` fails on any map larger than 1×1, because `nn.MultiheadAttention` is
#   sequence-first and the block feeds it batch-first tensors; where it runs, each image attends over the
#   whole batch's captions. With `batch_first=True` it runs but attends to one pooled token: the softmax
#   is 1, every pixel gets the same vector, and the block is an affine map of its input.
# - Cross-attention takes queries from the pixels and keys and values from every token of the caption,
#   with padding masked: softmax(QKᵀ/√d)V (Rombach et al. 2022, Eq. 3). The package's `CrossAttention`
#   equals PyTorch's fused attention and a batch-first `nn.MultiheadAttention`.
# - In the UNet it sits in a transformer block (self-attention, cross-attention, MLP, each residual),
#   at low resolution where N·L is small.
# - Half a minute of training on one-item scenes already puts the ink in the named cell; the attention
#   maps show the item's positions reading the caption's summary token and the empty ones parking their
#   weight on function words. Chapter 10 scales this up to four items.
