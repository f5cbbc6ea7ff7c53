"""A UNet for ε̂θ(x_t, t[, class]) on small images, lean enough to train on a CPU (Ronneberger et al. 2015;
Ho et al. 2020, App. B; Dhariwal & Nichol 2021 for class conditioning).

Shape walk for the default config (28×28 Fashion-MNIST, channels (32, 64, 128)):
    x (B, 1, 28, 28) → conv_in (B, 32, 28, 28)
    down:  level 0 (B, 32, 28, 28) → pool → level 1 (B, 64, 14, 14) → pool → level 2 (B, 128, 7, 7)
    mid:   res, attention over the 7·7 = 49 positions, res   (B, 128, 7, 7)
    up:    level 2 (B, 128, 7, 7) → up → level 1 (B, 64, 14, 14) → up → level 0 (B, 32, 28, 28)
    out:   GroupNorm, SiLU, conv → (B, 1, 28, 28)
Each up block concatenates the matching down block's output (the skip connection). With
skip="add", the up path instead adds it: a 1×1 conv first brings the coarser level's features to this
level's channels, so every up block works on C channels instead of 2C or 3C (chapter 03 measures it).
With `context_dim` = D, the UNet reads text: a `SpatialTransformer` (self-attention, cross-attention to
the caption's tokens (B, L, D), MLP) follows each block of the `cross_attention_levels` and replaces the
middle's self-attention (Rombach et al. 2022, Sec. 3.3; chapter 09).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .attention import SelfAttention2d, SpatialTransformer
from .embeddings import TimestepEmbedding


@dataclass
class UNetConfig:
    in_channels: int = 1
    image_size: int = 28
    patch_size: int = 1  # > 1: fold p×p pixel patches into channels first (pixel unshuffle), unfold at the end
    channels: tuple = (32, 64, 128)  # one entry per resolution level, halving the size each time
    blocks_per_level: int = 1
    attention_levels: tuple = ()  # levels (0 = full resolution) with self-attention after each block
    mid_attention: bool = True
    num_heads: int = 4
    num_groups: int = 8
    num_classes: int | None = None  # class-conditional when set; label `num_classes` is the null class
    context_dim: int | None = None  # text-conditional when set: the width D of the context tokens (B, L, D)
    cross_attention_levels: tuple = ()  # levels with a SpatialTransformer (self- and cross-attention) after
    #                                     each block; with context_dim, the middle's attention cross-attends too
    query_position: bool = False  # with context_dim: a learned embedding of each position added to the queries
    #                               of every cross-attention, so a query can tell where it is (issue 33)
    dropout: float = 0.0
    skip: str = "concat"  # how the up path takes the down path's features: "concat" (Ronneberger) or "add"
    extra: dict = field(default_factory=dict)  # free-form notes kept with the config (e.g. a recipe name)

    def __post_init__(self):
        self.channels, self.attention_levels = tuple(self.channels), tuple(self.attention_levels)
        self.cross_attention_levels = tuple(self.cross_attention_levels)
        levels = len(self.channels)
        if levels < 1 or self.in_channels < 1 or self.blocks_per_level < 1 or self.patch_size < 1:
            raise ValueError("channels must list at least one level; in_channels, blocks_per_level and "
                             "patch_size must be >= 1")
        if self.image_size % self.divisor:
            raise ValueError(f"image_size {self.image_size} cannot be cut into {self.patch_size}×{self.patch_size} "
                             f"patches and halved {levels - 1} times by {levels} levels; allowed sizes are "
                             f"multiples of {self.divisor}")
        for c in self.channels:
            if c % self.num_groups or c % self.num_heads:
                raise ValueError(f"every channel count must be divisible by num_groups ({self.num_groups}) "
                                 f"and num_heads ({self.num_heads}); got channels {self.channels}")
        if self.skip not in ("concat", "add"):
            raise ValueError(f"skip must be 'concat' or 'add', got {self.skip!r}")
        if any(not 0 <= i < levels for i in self.attention_levels + self.cross_attention_levels):
            raise ValueError(f"attention_levels and cross_attention_levels must be in [0, {levels - 1}], got "
                             f"{self.attention_levels} and {self.cross_attention_levels}")
        if (self.cross_attention_levels or self.query_position) and not self.context_dim:
            raise ValueError("cross_attention_levels and query_position need context_dim, the width of the "
                             "tokens to attend to")

    @property
    def divisor(self) -> int:
        """Image sides must be multiples of this: the patch size times 2 per halving."""
        return self.patch_size * 2 ** (len(self.channels) - 1)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "UNetConfig":
        return cls(**json.loads(text))


class ResBlock(nn.Module):
    """GroupNorm → SiLU → conv, plus the time(+class) embedding, then GroupNorm → SiLU → conv; residual."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, num_groups: int, dropout: float):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(num_groups, in_ch), nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2, self.conv2 = nn.GroupNorm(num_groups, out_ch), nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()
        nn.init.zeros_(self.conv2.weight)  # start as the identity (plus skip): stable early training
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, out, H, W)
        h = h + self.emb(F.silu(emb))[:, :, None, None]  # the same shift at every pixel
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


def attention_block(channels: int, level: int | None, cfg: UNetConfig) -> nn.Module:
    """What follows a ResBlock at `level` (None: the middle): a SpatialTransformer where the UNet
    cross-attends to text, self-attention where asked, else nothing."""
    middle = level is None and cfg.mid_attention
    if cfg.context_dim and (middle or level in cfg.cross_attention_levels):
        side = cfg.image_size // cfg.patch_size // 2 ** (len(cfg.channels) - 1 if level is None else level)
        return SpatialTransformer(channels, cfg.context_dim, cfg.num_heads, cfg.num_groups,
                                  side * side if cfg.query_position else None)
    if middle or level in cfg.attention_levels:
        return SelfAttention2d(channels, cfg.num_heads, cfg.num_groups)
    return nn.Identity()


def attend(block: nn.Module, h: torch.Tensor, context, context_mask) -> torch.Tensor:
    """Apply an `attention_block`, giving the text to the ones that read it."""
    return block(h, context, context_mask) if isinstance(block, SpatialTransformer) else block(h)


class Level(nn.Module):
    """The blocks of one resolution: ResBlocks, each followed by attention where asked."""

    def __init__(self, in_chs, out_ch, emb_dim, level: int, cfg: UNetConfig):
        super().__init__()
        self.res = nn.ModuleList(ResBlock(c, out_ch, emb_dim, cfg.num_groups, cfg.dropout) for c in in_chs)
        self.attn = nn.ModuleList(attention_block(out_ch, level, cfg) for _ in in_chs)


class UNet(nn.Module):
    """`UNet(UNetConfig(...))(x, t, labels=None, context=None, context_mask=None)` → a tensor shaped like x.

    A class-conditional UNet (`num_classes`) takes `labels` (B,); a text-conditional one (`context_dim`)
    takes a caption's tokens `context` (B, L, D) and their `context_mask` (B, L), True for real tokens.
    """

    def __init__(self, config: UNetConfig | None = None):
        super().__init__()
        cfg = self.config = config or UNetConfig()
        ch, n = cfg.channels, cfg.blocks_per_level
        emb_dim = 4 * ch[0]
        self.time_embed = TimestepEmbedding(ch[0], emb_dim)
        self.class_embed = nn.Embedding(cfg.num_classes + 1, emb_dim) if cfg.num_classes else None
        patch_channels = cfg.in_channels * cfg.patch_size ** 2
        self.conv_in = nn.Conv2d(patch_channels, ch[0], 3, padding=1)
        self.down = nn.ModuleList(
            Level([ch[max(i - 1, 0)]] + [ch[i]] * (n - 1), ch[i], emb_dim, i, cfg)
            for i in range(len(ch)))
        self.mid1 = ResBlock(ch[-1], ch[-1], emb_dim, cfg.num_groups, cfg.dropout)
        self.mid_attn = attention_block(ch[-1], None, cfg)
        self.mid2 = ResBlock(ch[-1], ch[-1], emb_dim, cfg.num_groups, cfg.dropout)
        # Up level i takes the level above (or the middle) plus one skip per block: concatenated, or
        # added after a 1×1 conv `lift` has brought the level above to ch[i] channels.
        concat = cfg.skip == "concat"
        self.up = nn.ModuleList(
            Level([ch[min(i + 1, len(ch) - 1)] + ch[i]] + [2 * ch[i]] * (n - 1) if concat else [ch[i]] * n,
                  ch[i], emb_dim, i, cfg)
            for i in range(len(ch)))
        self.lift = None if concat else nn.ModuleList(nn.Conv2d(ch[i + 1], ch[i], 1) for i in range(len(ch) - 1))
        self.norm_out = nn.GroupNorm(cfg.num_groups, ch[0])
        self.conv_out = nn.Conv2d(ch[0], patch_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None,
                context: torch.Tensor | None = None, context_mask: torch.Tensor | None = None) -> torch.Tensor:
        h, emb, skips = self.top_down(x, t, labels, context, context_mask)
        return self.top_up(self.deep(h, emb, context, context_mask), emb, skips, context, context_mask)

    # The forward pass in three parts, so that `DeepCache` can reuse the middle one between calls.
    def top_down(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None,
                 context: torch.Tensor | None = None, context_mask: torch.Tensor | None = None):
        """Checks, embeddings, conv_in and the blocks of down level 0: (h, emb, level 0's skips)."""
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != cfg.in_channels:
            raise ValueError(f"UNet expects x of shape (B, {cfg.in_channels}, H, W), got {tuple(x.shape)}")
        if x.shape[-1] % cfg.divisor or x.shape[-2] % cfg.divisor:
            raise ValueError(f"image size {tuple(x.shape[-2:])} must be a multiple of {cfg.divisor} for "
                             f"{len(cfg.channels)} levels and patch_size {cfg.patch_size}")
        emb = self.time_embed(t)  # (B, 4·C0)
        if self.class_embed is not None:
            if labels is None:
                labels = torch.full((x.shape[0],), cfg.num_classes, device=x.device)  # the null class
            emb = emb + self.class_embed(labels)
        elif labels is not None:
            raise ValueError("this UNet is unconditional (num_classes=None) but labels were given")
        if (context is None) != (cfg.context_dim is None):
            raise ValueError("this UNet cross-attends to text: pass context (B, L, D) and context_mask (B, L)"
                             if context is None else "this UNet has no cross-attention (context_dim=None) but a "
                             "context was given")
        if context is not None and (context.ndim != 3 or context.shape[0] != x.shape[0]
                                    or context.shape[-1] != cfg.context_dim):
            raise ValueError(f"context must be (B, L, {cfg.context_dim}) with B = {x.shape[0]}, got {tuple(context.shape)}")
        if cfg.patch_size > 1:
            x = F.pixel_unshuffle(x, cfg.patch_size)  # (B, C·p², H/p, W/p)
        skips = []
        return self._down(0, self.conv_in(x), emb, skips, context, context_mask), emb, skips

    def deep(self, h: torch.Tensor, emb: torch.Tensor, context=None, context_mask=None) -> torch.Tensor:
        """Levels 1 and below, the middle, and back up: the features that enter up level 0."""
        skips = []
        for i in range(1, len(self.down)):
            h = self._down(i, F.avg_pool2d(h, 2), emb, skips, context, context_mask)  # (B, C_i, H/2^i, W/2^i)
        h = self.mid2(attend(self.mid_attn, self.mid1(h, emb), context, context_mask), emb)
        for i in reversed(range(1, len(self.up))):
            h = self._up(i, h if i == len(self.up) - 1 else self._rise(i, h), emb, skips, context, context_mask)
        return self._rise(0, h) if len(self.up) > 1 else h

    def top_up(self, h: torch.Tensor, emb: torch.Tensor, skips: list, context=None, context_mask=None) -> torch.Tensor:
        """The blocks of up level 0 on h and level 0's skips, then the output layers."""
        out = self.conv_out(F.silu(self.norm_out(self._up(0, h, emb, skips, context, context_mask))))
        return F.pixel_shuffle(out, self.config.patch_size) if self.config.patch_size > 1 else out

    def _down(self, i: int, h: torch.Tensor, emb: torch.Tensor, skips: list, context, context_mask) -> torch.Tensor:
        for res, attn in zip(self.down[i].res, self.down[i].attn):
            h = attend(attn, res(h, emb), context, context_mask)
            skips.append(h)
        return h

    def _up(self, i: int, h: torch.Tensor, emb: torch.Tensor, skips: list, context, context_mask) -> torch.Tensor:
        for res, attn in zip(self.up[i].res, self.up[i].attn):
            skip = skips.pop()
            h = attend(attn, res(torch.cat([h, skip], dim=1) if self.lift is None else h + skip, emb), context,
                       context_mask)
        return h

    def _rise(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """From level i + 1 up to level i's resolution."""
        if self.lift is not None:
            h = self.lift[i](h)  # (B, C_i, H, W): 1×1 conv before upsampling, 4× cheaper than after
        return F.interpolate(h, scale_factor=2.0, mode="nearest")  # the next ResBlock's conv smooths it


class DeepCache:
    """A UNet that reuses its deep features between sampling steps (Ma et al. 2024, "DeepCache").

    Adjacent steps of a sampler see almost the same image, and the output depends little on how the
    deep features changed since the step before (chapter 05 measures it). So every `every`-th call runs
    the whole network and keeps the features that enter up level 0; the calls between run only level 0
    (`top_down`, then `top_up` on the kept features), about 30 % of a full call for the book's UNet.
    `every=1` is the plain network. Use a new instance for each trajectory: its first call runs in full.
    """

    def __init__(self, network: UNet, every: int):
        if not all(hasattr(network, part) for part in ("top_down", "deep", "top_up")):
            raise ValueError(f"DeepCache needs a UNet (top_down, deep, top_up), got {type(network).__name__}")
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer >= 1 (1 = no reuse), got {every!r}")
        self.network, self.every, self.calls, self.kept = network, every, 0, None
        self.config = network.config

    def __call__(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None,
                 context: torch.Tensor | None = None, context_mask: torch.Tensor | None = None) -> torch.Tensor:
        h, emb, skips = self.network.top_down(x, t, labels, context, context_mask)
        if self.calls % self.every == 0 or self.kept.shape[0] != x.shape[0]:
            self.kept = self.network.deep(h, emb, context, context_mask)
        self.calls += 1
        return self.network.top_up(self.kept, emb, skips, context, context_mask)
