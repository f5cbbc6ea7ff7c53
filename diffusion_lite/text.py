"""Text for text-to-image: a word-level tokenizer, a small transformer text encoder, and the CLIP-style
contrastive model that trains it against images (Vaswani et al. 2017; Radford et al. 2021).

Shape walk for the default config (captions of at most 31 words, width 64):
    "a bag in the top left"  → tokens (B, 32): <start> a bag in the top left <pad> … (ids, 0 = <pad>)
    token + position embeddings (B, 32, 64) → 2 pre-norm blocks, bidirectional, padding masked
    → LayerNorm → tokens (B, 32, 64) for cross-attention, the mask (B, 32), pooled = the <start> token (B, 64)
The CLIP model adds an image encoder (a 56×56 scene → (B, 128)) and projects both sides to one unit
sphere, where a scene's caption is the nearest of all captions (chapter 08).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .attention import TransformerBlock

# The words of the scene captions' grammar (datasets.caption): a closed vocabulary, so a word-level
# tokenizer covers every caption and can refuse every other word.
CAPTION_WORDS = ("a", "an", "in", "the", "and", "t-shirt", "trouser", "pullover", "dress", "coat", "sandal",
                 "shirt", "sneaker", "bag", "ankle", "boot", "top", "bottom", "left", "right")
PAD, START = "<pad>", "<start>"


class Tokenizer:
    """Words → ids: `<pad>` is 0, `<start>` 1, then the vocabulary in order. Every caption starts with
    `<start>` (its output is the pooled vector) and is padded to `max_length`."""

    def __init__(self, vocabulary=CAPTION_WORDS, max_length: int = 32):
        self.words = (PAD, START) + tuple(vocabulary)
        self.ids = {w: i for i, w in enumerate(self.words)}
        if len(self.ids) != len(self.words) or max_length < 2:
            raise ValueError("the vocabulary must hold distinct words, without <pad> and <start>, and "
                             f"max_length must be >= 2; got {vocabulary!r}, {max_length}")
        self.max_length = max_length

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, texts) -> torch.Tensor:
        """A caption or a list of captions → token ids (B, max_length) int64. An unknown word or a caption
        longer than max_length − 1 words raises a ValueError; nothing is dropped or cut silently."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        tokens = torch.zeros(len(texts), self.max_length, dtype=torch.long)
        for row, text in enumerate(texts):
            words = text.split()
            unknown = [w for w in words if w not in self.ids or w in (PAD, START)]
            if unknown:
                raise ValueError(f"unknown word {unknown[0]!r} in {text!r}; the vocabulary is: "
                                 f"{', '.join(self.words[2:])}")
            if len(words) > self.max_length - 1:
                raise ValueError(f"{text!r} has {len(words)} words; at most {self.max_length - 1} fit "
                                 f"(max_length {self.max_length}, one for <start>)")
            tokens[row, :len(words) + 1] = torch.tensor([1] + [self.ids[w] for w in words])
        return tokens

    def decode(self, tokens: torch.Tensor) -> list[str]:
        """Token ids (B, L) → captions, without <start> and padding."""
        return [" ".join(self.words[i] for i in row.tolist() if i > 1) for row in tokens]


@dataclass
class TextConfig:
    vocabulary: tuple = CAPTION_WORDS
    max_length: int = 32
    width: int = 64  # D, the width of every token vector
    layers: int = 2
    num_heads: int = 4

    def __post_init__(self):
        self.vocabulary = tuple(self.vocabulary)
        if self.width % self.num_heads or self.layers < 1:
            raise ValueError(f"width ({self.width}) must be divisible by num_heads ({self.num_heads}) and "
                             f"layers >= 1 (got {self.layers})")


class TextOutput(NamedTuple):
    tokens: torch.Tensor  # (B, L, D): one vector per token, what the UNet cross-attends to
    mask: torch.Tensor  # (B, L) bool: True for real tokens, False for padding
    pooled: torch.Tensor  # (B, D): the <start> token's vector, a summary of the whole caption


class TextEncoder(nn.Module):
    """Token and learnt position embeddings, `layers` pre-norm transformer blocks with bidirectional
    attention (padding masked out of the keys), and a final LayerNorm."""

    def __init__(self, config: TextConfig | None = None):
        super().__init__()
        cfg = self.config = config or TextConfig()
        self.tokenizer = Tokenizer(cfg.vocabulary, cfg.max_length)
        self.token_embed = nn.Embedding(len(self.tokenizer), cfg.width)
        self.pos_embed = nn.Parameter(torch.randn(cfg.max_length, cfg.width) * 0.02)
        self.blocks = nn.ModuleList(TransformerBlock(cfg.width, None, cfg.num_heads) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.width)

    def forward(self, tokens: torch.Tensor) -> TextOutput:
        """Token ids (B, L) → `TextOutput`. L is the tokenizer's max_length, or fewer when every caption of
        the batch is shorter (`trim`): the real tokens' vectors are the same, padding being masked."""
        if tokens.ndim != 2 or not 1 <= tokens.shape[1] <= self.config.max_length:
            raise ValueError(f"tokens must be (B, {self.config.max_length}) ids from the tokenizer, "
                             f"got {tuple(tokens.shape)}")
        mask = tokens != 0  # (B, L)
        x = self.token_embed(tokens) + self.pos_embed[:tokens.shape[1]]  # (B, L, D)
        for block in self.blocks:
            x = block(x, self_mask=mask)
        x = self.norm(x)
        return TextOutput(x, mask, x[:, 0])

    def encode(self, captions) -> TextOutput:
        """Captions (a string or a list) straight to `TextOutput`."""
        return self(self.tokenizer.encode(captions).to(self.pos_embed.device))


def trim(tokens: torch.Tensor) -> torch.Tensor:
    """Token ids without the padding columns that no caption of the batch uses."""
    return tokens[:, :max(1, int((tokens != 0).sum(1).max()))]


class ImageEncoder(nn.Module):
    """A scene (B, 1, 56, 56) in [−1, 1] → (B, out_dim): three stride-2 conv stages (56 → 28 → 14 → 7),
    then a linear map of the whole 7×7 feature map, which keeps where each feature was (a global average
    pool would forget which cell an item is in)."""

    def __init__(self, channels: tuple = (32, 64, 128), image_size: int = 56, out_dim: int = 128):
        super().__init__()
        layers, c_in = [], 1
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.GroupNorm(8, c), nn.SiLU(),
                       nn.Conv2d(c, c, 3, padding=1), nn.GroupNorm(8, c), nn.SiLU()]
            c_in = c
        side = image_size // 2 ** len(channels)
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * side * side, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@dataclass
class ClipConfig:
    text: TextConfig = field(default_factory=TextConfig)
    image_channels: tuple = (32, 64, 128)
    image_size: int = 56
    embed_dim: int = 64  # the shared space where images and captions are compared
    init_temperature: float = 0.07  # CLIP's τ; the logit scale 1/τ is learnt, capped at 100

    def __post_init__(self):
        if isinstance(self.text, dict):
            self.text = TextConfig(**self.text)
        self.image_channels = tuple(self.image_channels)
        if self.image_size % 2 ** len(self.image_channels) or not 0 < self.init_temperature:
            raise ValueError(f"image_size ({self.image_size}) must be divisible by 2^{len(self.image_channels)} "
                             f"and init_temperature > 0 (got {self.init_temperature})")


class CLIP(nn.Module):
    """An image encoder and a text encoder trained so that matching (scene, caption) pairs have the
    largest cosine similarity in the batch (Radford et al. 2021, Fig. 3)."""

    def __init__(self, config: ClipConfig | None = None):
        super().__init__()
        cfg = self.config = config or ClipConfig()
        self.text = TextEncoder(cfg.text)
        self.image = ImageEncoder(cfg.image_channels, cfg.image_size, cfg.embed_dim)
        self.text_proj = nn.Linear(cfg.text.width, cfg.embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / cfg.init_temperature)))

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """Scenes (B, 1, H, W) in [−1, 1] → unit vectors (B, embed_dim)."""
        return F.normalize(self.image(images), dim=-1)

    def embed_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token ids (B, L) → unit vectors (B, embed_dim), from the pooled <start> token."""
        return F.normalize(self.text_proj(self.text(tokens).pooled), dim=-1)

    def logits(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """(B_images, B_texts) cosine similarities times the learnt scale 1/τ (at most 100)."""
        scale = self.logit_scale.clamp(max=math.log(100)).exp()
        return scale * self.embed_images(images) @ self.embed_text(tokens).T

    def loss(self, images: torch.Tensor, generator: torch.Generator | None = None,
             labels: torch.Tensor | None = None) -> torch.Tensor:
        """Symmetric InfoNCE (Oord et al. 2018; Radford et al. 2021): cross-entropy of each image over the
        batch's captions and of each caption over the images. `labels` are the captions' token ids (the
        `Trainer`'s labels). A batch often holds the same caption twice (there are only 40 one-item
        captions): every pair with an identical caption counts as a match, the target spread evenly over them."""
        if labels is None:
            raise ValueError("CLIP.loss needs the captions' token ids as labels")
        logits = self.logits(images, labels)  # (B, B)
        same = (labels[:, None, :] == labels[None, :, :]).all(-1).float()  # (B, B): identical captions
        target = same / same.sum(1, keepdim=True)
        return 0.5 * (torch.sum(-target * logits.log_softmax(1), 1).mean()
                      + torch.sum(-target * logits.T.log_softmax(1), 1).mean())
