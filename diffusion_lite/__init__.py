"""diffusion_lite: the small package behind the diffusion-lite textbook.

Modules form layers; each imports only from its own layer or those below:
1. mathematics on plain tensors: `schedules`, `process`, `samplers`
2. networks: `embeddings`, `mlp`, `attention`, `unet`, `vae`, `text`
3. models combining a network with the mathematics: `ddpm`, `guidance`, `pipeline`, `editing`,
   `flow`
4. tools: `datasets`, `training`, `checkpoints`, `generation`, `metrics`, `plotting`, `widgets`, the CLI
   (`python -m diffusion_lite`)
"""
from .ddpm import DDPM
from .mlp import MLPDenoiser
from .schedules import NoiseSchedule, beta_schedule, timesteps

__version__ = "0.1.0"
__all__ = ["DDPM", "MLPDenoiser", "NoiseSchedule", "beta_schedule", "timesteps"]
