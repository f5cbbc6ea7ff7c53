"""Latent diffusion (Rombach et al. 2022): a DDPM that works on an autoencoder's latents, not on pixels, and
the network that lets it read captions.

Training encodes every image once, z = s·mean(q(z|x)) with the VAE's scaling factor s (so that z has
unit variance, as the DDPM's noise does), and trains the unchanged `DDPM` on those latents. Sampling
draws latents with any sampler of the book and decodes them, x = decode(z / s).

A latent whose side the UNet cannot halve (7×7 for a 28×28 image and a factor-4 VAE) can be padded to
the UNet's `image_size` (8×8): training pads each latent with zeros on the bottom and right, sampling
crops them off before decoding (chapter 07 measures the choice).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import SpatialTransformer
from .ddpm import DDPM
from .text import TextEncoder, trim
from .unet import UNet
from .vae import AutoencoderKL


class TextConditionedUNet(nn.Module):
    """`network(x_t, t, labels)` with `labels` the captions' token ids (B, L): the text encoder's tokens are
    the UNet's cross-attention context (Rombach et al. 2022, Eq. 3), so the DDPM, its training loop and
    classifier-free guidance treat a caption as they treat a class label. `null_label` is the empty
    caption (`<start>` alone), the null condition of caption dropout and guidance.

    With `train_text=False` the text encoder is frozen: each distinct caption of a batch is encoded once,
    without the padding none of them uses. With `train_text=True` it learns with the UNet. With
    `pooled=True` the context is the pooled `<start>` vector alone (B, 1, D): every position's softmax runs
    over one key, so the caption reaches every place alike (chapter 09), the baseline cross-attention beats.

    With `layout_loss` = λ > 0, each training call also scores its cross-attention maps against the layout
    the captions describe: `layout(captions, L, side)` gives each token's target region on a side × side
    map (B, L, side²), zero for tokens that name nothing (`datasets.layout_maps`: an item's NAME, its
    cell). Of the attention such a token receives (averaged over heads), the share s that comes from its
    region should be 1, and λ·mean (1 − s)² over those tokens and the UNet's cross-attention layers is kept
    for the DDPM's loss to add (`auxiliary_loss`): TokenCompose's token loss (Wang et al. 2024), with cells
    for segmentation masks.
    """

    def __init__(self, unet: UNet, text_encoder: TextEncoder, train_text: bool = False, pooled: bool = False,
                 layout_loss: float = 0.0, layout=None):
        super().__init__()
        if layout_loss > 0 and layout is None:
            raise ValueError("layout_loss > 0 needs layout(captions, length, side), the tokens' target regions")
        if unet.config.context_dim != text_encoder.config.width:
            raise ValueError(f"the UNet's context_dim ({unet.config.context_dim}) must be the text encoder's width "
                             f"({text_encoder.config.width})")
        self.unet, self.text_encoder, self.train_text = unet, text_encoder.requires_grad_(train_text), train_text
        self.pooled, self.layout_loss, self.layout, self._auxiliary = pooled, layout_loss, layout, None
        self._cross = [m.block.attn2 for m in unet.modules() if isinstance(m, SpatialTransformer)]
        self.register_buffer("null_label", text_encoder.tokenizer.encode("")[0], persistent=False)  # (L,)

    @property
    def config(self):
        return self.unet.config

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        track = self.layout_loss > 0 and self.training and torch.is_grad_enabled()
        recording = [attn.record for attn in self._cross]
        for attn in self._cross if track else ():
            attn.record = "graph"
        try:
            if self.train_text:
                tokens, mask = self._context(self.text_encoder(labels))
                out = self.unet(x, t, context=tokens, context_mask=mask)
            else:
                unique, index = torch.unique(labels, dim=0, return_inverse=True)  # (U, L): the distinct captions
                with torch.no_grad():
                    tokens, mask = self._context(self.text_encoder(trim(unique)))
                out = self.unet(x, t, context=tokens[index], context_mask=mask[index])
            if track:
                self._auxiliary = self.layout_loss * self._layout_term(labels)
        finally:
            for attn, record in zip(self._cross, recording):
                attn.record = record
        return out

    def auxiliary_loss(self) -> torch.Tensor | None:
        """The layout loss of the last training call, handed over once (then None), or None."""
        loss, self._auxiliary = self._auxiliary, None
        return loss

    def _layout_term(self, labels: torch.Tensor) -> torch.Tensor:
        """mean (1 − s)² over the tokens with a target region and the cross-attention layers (class docstring)."""
        unique, index = torch.unique(labels, dim=0, return_inverse=True)
        captions = self.text_encoder.tokenizer.decode(unique)
        terms, targets = [], {}  # the targets by (length, side): the layers at one resolution share them
        for attn in self._cross:
            weights = attn.weights.float().mean(1)  # (B, N, L'): averaged over heads
            shape = (weights.shape[2], int(weights.shape[1] ** 0.5))
            if shape not in targets:
                targets[shape] = self.layout(captions, *shape).to(weights.device)[index]  # (B, L', N)
            target = targets[shape]
            named = target.sum(-1) > 0
            if not named.any():
                return weights.sum() * 0  # nothing named in the batch (every caption dropped)
            share = (weights * target.transpose(1, 2)).sum(1) / weights.sum(1).clamp(min=1e-8)  # (B, L')
            terms.append(((1 - share[named]) ** 2).mean())
        return torch.stack(terms).mean()

    def _context(self, text) -> tuple[torch.Tensor, torch.Tensor]:
        """What the UNet attends to: the tokens (B, L, D) and their mask, or the pooled vector as one token."""
        return (text.pooled[:, None], text.mask[:, :1]) if self.pooled else (text.tokens, text.mask)


class LatentDDPM(nn.Module):
    """`ddpm` on the scaled latents of `vae` (kept frozen), for images of `image_size`. `sample` returns
    decoded images, so every tool that samples a `DDPM` (`generation.generate`, the CLI) samples this too."""

    def __init__(self, ddpm: DDPM, vae: AutoencoderKL, image_size: int = 28):
        super().__init__()
        self.ddpm, self.vae, self.image_size = ddpm, vae.requires_grad_(False).eval(), image_size
        cfg = ddpm.network.config
        channels, self.latent_size, _ = vae.config.latent_shape(image_size, image_size)
        if cfg.in_channels != channels or cfg.image_size < self.latent_size:
            raise ValueError(f"the VAE's latent of a {image_size}×{image_size} image is {channels}×"
                             f"{self.latent_size}×{self.latent_size}; the UNet needs in_channels = {channels} and "
                             f"image_size >= {self.latent_size}, got {cfg.in_channels} and {cfg.image_size}")

    @property
    def network(self):
        return self.ddpm.network

    @property
    def timesteps(self) -> int:
        return self.ddpm.timesteps

    def sampling_timesteps(self, *args, **kwargs) -> list[int]:
        return self.ddpm.sampling_timesteps(*args, **kwargs)

    def encode(self, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """Images (N, C, H, W) in [−1, 1] → scaled latents, zero-padded to the UNet's size (N, C', S, S)."""
        z = self.vae.latents(images, batch_size) * self.vae.scaling_factor
        pad = self.network.config.image_size - self.latent_size
        return F.pad(z, (0, pad, 0, pad))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Scaled, padded latents → images (N, C, H, W): crop the padding, undo the scaling, decode."""
        n = self.latent_size
        return self.vae.decode(z[..., :n, :n] / self.vae.scaling_factor)

    def sample(self, shape, device="cpu", **options) -> torch.Tensor:
        """Latents of `shape` (N, C', S, S) drawn by `DDPM.sample` with `options`, decoded to images."""
        z = self.ddpm.sample(shape, device, **options)
        with torch.no_grad():
            return self.decode(z.float())
