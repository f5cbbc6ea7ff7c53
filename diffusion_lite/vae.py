"""A convolutional KL-autoencoder with a spatial latent, as in Stable Diffusion (Rombach et al. 2022, Sec. 3
and App. G), small enough to train on a CPU.

Shape walk for the default config (28×28 Fashion-MNIST, channels (32, 64, 128), 4 latent channels):
    x (B, 1, 28, 28) → conv_in (B, 32, 28, 28)
    encoder: level 0 (B, 32, 28, 28) → down → level 1 (B, 64, 14, 14) → down → level 2 (B, 128, 7, 7)
             → norm, SiLU, conv → (B, 2·4, 7, 7): the mean and log-variance of q(z|x)
    z (B, 4, 7, 7) = mean + σ ⊙ ε
    decoder: the mirror image, (B, 4, 7, 7) → (B, 128, 7, 7) → up → … → (B, 1, 28, 28)
The latent has 16× fewer positions than the image and 4× fewer numbers.

Normalisation: Stable Diffusion's autoencoder uses GroupNorm, whose statistics run over every position
of the feature map, so what it makes of one garment depends on what else is in the picture.
`norm="channel"` (the default) normalises each position's channels on their own (a LayerNorm over
channels, as in ConvNeXt), so the network is local: a 56×56 scene of four 28×28 cells encodes to the
four cells' latents side by side, except within the encoder's reach of a cell border (chapter 07).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("channel", "group")


@dataclass
class VAEConfig:
    in_channels: int = 1
    latent_channels: int = 4
    channels: tuple = (32, 64, 128)  # one entry per resolution level; the image is halved between levels
    blocks_per_level: int = 1
    norm: str = "channel"  # "channel": per position, so the network is local; "group": GroupNorm, as SD's
    num_groups: int = 8  # for norm="group"
    kl_weight: float = 1e-4  # β of the loss L1 + MSE + β·KL (see `AutoencoderKL.loss`)

    def __post_init__(self):
        self.channels = tuple(self.channels)
        if len(self.channels) < 1 or self.in_channels < 1 or self.latent_channels < 1 or self.blocks_per_level < 1:
            raise ValueError("channels must list at least one level; in_channels, latent_channels and "
                             "blocks_per_level must be >= 1")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.norm == "group" and any(c % self.num_groups for c in self.channels):
            raise ValueError(f"with norm='group' every channel count must be divisible by num_groups "
                             f"({self.num_groups}); got channels {self.channels}")
        if self.kl_weight < 0:
            raise ValueError(f"kl_weight must be >= 0, got {self.kl_weight}")

    @property
    def factor(self) -> int:
        """How many times smaller each side of the latent is than the image's: 2 per halving."""
        return 2 ** (len(self.channels) - 1)

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """(C, H/f, W/f) for an image of height × width, or a ValueError naming the allowed sizes."""
        f = self.factor
        if height % f or width % f:
            raise ValueError(f"image sides must be multiples of {f} (the VAE halves them {len(self.channels) - 1} "
                             f"times), got {height}×{width}")
        return self.latent_channels, height // f, width // f


class DiagonalGaussian:
    """q(z|x) = N(mean, diag(exp(logvar))), one Gaussian per latent number (Kingma & Welling 2014, Sec. 3)."""

    def __init__(self, moments: torch.Tensor):
        self.mean, logvar = moments.chunk(2, dim=1)  # (B, C, h, w) each
        self.logvar = logvar.clamp(-30.0, 20.0)  # as Stable Diffusion's: keeps exp() finite early in training
        self.std = torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """z = mean + σ ⊙ ε, the reparameterisation trick (Kingma & Welling 2014, Eq. 10): the noise is an
        input, so gradients flow to mean and σ."""
        if noise is None:
            noise = torch.randn(self.mean.shape, generator=generator, dtype=self.mean.dtype).to(self.mean.device)
        return self.mean + self.std * noise

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q(z|x) ‖ N(0, I)) per example, summed over the latent's numbers (Kingma & Welling 2014,
        App. B): ½ Σ (μ² + σ² − 1 − log σ²)."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar).flatten(1).sum(1)


class ChannelNorm(nn.Module):
    """LayerNorm over the channels at each position of a (B, C, H, W) map, with a learned scale and shift."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(channels)), nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x):
        x = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


def make_norm(cfg: VAEConfig, channels: int) -> nn.Module:
    return ChannelNorm(channels) if cfg.norm == "channel" else nn.GroupNorm(cfg.num_groups, channels)


class ResBlock(nn.Module):
    """norm → SiLU → conv → norm → SiLU → conv, plus the input (through a 1×1 conv if the width changes)."""

    def __init__(self, cfg: VAEConfig, in_ch: int, out_ch: int):
        super().__init__()
        self.norm1, self.conv1 = make_norm(cfg, in_ch), nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.norm2, self.conv2 = make_norm(cfg, out_ch), nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        ch = cfg.channels
        self.conv_in = nn.Conv2d(cfg.in_channels, ch[0], 3, padding=1)
        blocks = []
        for i, c in enumerate(ch):
            prev = ch[max(i - 1, 0)]
            blocks += [ResBlock(cfg, prev if j == 0 else c, c) for j in range(cfg.blocks_per_level)]
            if i < len(ch) - 1:
                blocks.append(nn.Conv2d(c, c, 3, stride=2, padding=1))  # halve the size
        self.blocks = nn.Sequential(*blocks)
        self.norm_out = make_norm(cfg, ch[-1])
        self.conv_out = nn.Conv2d(ch[-1], 2 * cfg.latent_channels, 3, padding=1)

    def forward(self, x):
        return self.conv_out(F.silu(self.norm_out(self.blocks(self.conv_in(x)))))


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        ch = cfg.channels[::-1]
        self.conv_in = nn.Conv2d(cfg.latent_channels, ch[0], 3, padding=1)
        blocks = []
        for i, c in enumerate(ch):
            prev = ch[max(i - 1, 0)]
            blocks += [ResBlock(cfg, prev if j == 0 else c, c) for j in range(cfg.blocks_per_level)]
            if i < len(ch) - 1:  # double the size: nearest-neighbour, then a conv (no checkerboard artefacts)
                blocks += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, padding=1)]
        self.blocks = nn.Sequential(*blocks)
        self.norm_out = make_norm(cfg, ch[-1])
        self.conv_out = nn.Conv2d(ch[-1], cfg.in_channels, 3, padding=1)

    def forward(self, z):
        return self.conv_out(F.silu(self.norm_out(self.blocks(self.conv_in(z)))))


class AutoencoderKL(nn.Module):
    """encode: image (B, C_in, H, W) in [−1, 1] → q(z|x); decode: z (B, C, H/f, W/f) → image.

    `scaling_factor` multiplies latents before diffusion so that they have unit variance, and divides
    them after (Rombach et al. 2022, Sec. 4.3.2; Stable Diffusion's 0.18215). It is measured on the
    training latents after training (`latent_scaling_factor`) and stored with the weights.
    """

    def __init__(self, config: VAEConfig | None = None):
        super().__init__()
        self.config = config or VAEConfig()
        self.encoder, self.decoder = Encoder(self.config), Decoder(self.config)
        self.register_buffer("scaling_factor", torch.tensor(1.0))

    def _check(self, x: torch.Tensor, channels: int, what: str):
        if x.ndim != 4 or x.shape[1] != channels:
            raise ValueError(f"{what} must be (B, {channels}, H, W), got {tuple(x.shape)}")

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        self._check(x, self.config.in_channels, "images")
        self.config.latent_shape(*x.shape[-2:])
        return DiagonalGaussian(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        self._check(z, self.config.latent_channels, "latents")
        return self.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """(reconstruction, posterior), decoding a sample of q(z|x)."""
        posterior = self.encode(x)
        return self.decode(posterior.sample(generator)), posterior

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """L1 + MSE per pixel, plus β·KL per example (β = config.kl_weight).

        The negative ELBO for a Gaussian likelihood of variance s² is Σ (x − x̂)²/(2s²) + KL, up to a
        constant; averaging the squared error over the pixels instead of summing is that with a large
        s², and β rescales the KL the same way. L1 sharpens edges that MSE alone leaves soft.
        """
        recon, posterior = self(x, generator)
        error = (recon.float() - x).flatten(1)
        return (error.abs().mean() + error.pow(2).mean() + self.config.kl_weight * posterior.kl().float().mean())

    @torch.no_grad()
    def latents(self, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """The posterior means of `images` (N, C, H, W), encoded in batches: unscaled latents."""
        return torch.cat([self.encode(images[i:i + batch_size]).mode() for i in range(0, len(images), batch_size)])

    def latent_scaling_factor(self, images: torch.Tensor, batch_size: int = 500) -> float:
        """1 / std of the posterior means of `images`: the factor that gives the latents unit variance."""
        return float(1.0 / self.latents(images, batch_size).float().std())

    def to_config_dict(self) -> dict:
        return asdict(self.config)
