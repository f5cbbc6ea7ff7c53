"""The seed article's `DDPM` class, corrected and generalised (Ho et al. 2020).

What changed from the seed, and why (chapter 02 runs the seed's version and shows each problem):
- The schedule lives in a `NoiseSchedule` (any kind, float64) and is gathered to the data's shape,
  device and dtype: the seed's `.view(-1, 1, 1, 1)` only fits 4-D images (2-D points broadcast to a
  (B, 1, B, 2) tensor and the loss silently mixes examples), and its tables were plain attributes that
  `.to(device)` does not move.
- Randomness is an argument: `sample` takes a `torch.Generator`, so samples repeat exactly.
- Both variance choices of the paper (σt² = βt or β̃t), optional x̂0 clipping, and other prediction
  types ("epsilon", "v_prediction", "sample").
- `sample` switches the network to eval mode and restores its previous mode.
- Optional min-SNR-γ loss weighting (Hang et al. 2023), which the book's 15-minute recipe uses (chapter 04).
- A sampling grid of its own: `sampling_schedule` names a schedule whose noise levels the samplers
  visit, whatever schedule the network was trained with (the book's model: trained with cosine ᾱ,
  sampled at the linear schedule's noise levels, chapter 05).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .guidance import ClassifierFreeGuidance, drop_labels, null_label_of
from .process import PREDICTION_TYPES, add_noise, training_target
from .samplers import VARIANCES, sample_loop, visited_timesteps
from .schedules import SCHEDULES, NoiseSchedule
from .unet import DeepCache


class DDPM(nn.Module):
    """`DDPM(network, timesteps, beta_start, beta_end)`: the seed's API, `forward` → loss, `sample` → images.

    `network(x_t, t)` maps a noisy batch and its integer timesteps (B,) to a tensor shaped like x_t; a
    class-conditional network also takes `labels` (B,). With `label_dropout` = p > 0, training replaces
    each label by the null class with probability p, for classifier-free guidance (see `guidance`).
    `sample_steps` runs any sampler with the model's own settings (prediction type, x̂0 clipping and
    sampling grid); `sample` draws images with it.
    """

    def __init__(self, network: nn.Module, timesteps: int = 1000, beta_start: float = 1e-4,
                 beta_end: float = 0.02, schedule: str = "linear", prediction_type: str = "epsilon",
                 variance: str = "beta", clip_x0: float | None = None, label_dropout: float = 0.0,
                 min_snr_gamma: float | None = None, sampling_schedule: str | None = None):
        super().__init__()
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"unknown prediction_type {prediction_type!r}; choose one of {PREDICTION_TYPES}")
        if variance not in VARIANCES:
            raise ValueError(f"unknown variance {variance!r}; choose one of {VARIANCES}")
        self.network = network
        self.timesteps = timesteps
        self.schedule = NoiseSchedule.make(schedule, timesteps, beta_start, beta_end)
        # None: the samplers visit this schedule's own timesteps; a kind: that schedule's noise levels
        if sampling_schedule is not None and sampling_schedule not in SCHEDULES:
            raise ValueError(f"unknown sampling_schedule {sampling_schedule!r}; choose one of {SCHEDULES}, or None "
                             "for the training schedule's own timesteps")
        self.sampling_schedule = sampling_schedule
        self.grid = None if sampling_schedule is None else NoiseSchedule.make(sampling_schedule, timesteps,
                                                                              beta_start, beta_end)
        self.prediction_type = prediction_type
        self.variance = variance
        self.clip_x0 = clip_x0
        if not 0.0 <= label_dropout <= 1.0:
            raise ValueError(f"label_dropout must lie in [0, 1], got {label_dropout!r}")
        self.label_dropout = label_dropout
        if min_snr_gamma is not None and not min_snr_gamma > 0:
            raise ValueError(f"min_snr_gamma must be a positive number or None (no weighting), got {min_snr_gamma!r}")
        self.min_snr_gamma = min_snr_gamma

    def forward(self, x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        """Simple loss L_simple = E‖target − network(x_t, t)‖² (Ho et al. 2020, Eq. 14), one t per example;
        with `min_snr_gamma` = γ, each example's squared error is weighted by `loss_weights(t)`. A network
        with an `auxiliary_loss()` (a layout loss on its attention) adds what it returns."""
        self.check_inputs(x, t, noise)
        x_t = add_noise(self.schedule, x, t, noise)
        target = training_target(self.schedule, x, t, noise, self.prediction_type)
        output = self.network(x_t, t) if labels is None else self.network(x_t, t, labels)
        if self.min_snr_gamma is None:
            loss = F.mse_loss(output, target)
        else:
            loss = (self.loss_weights(t).to(output.device).view(-1, *[1] * (x.ndim - 1))
                    * (output - target).float() ** 2).mean()
        extra = self.network.auxiliary_loss() if hasattr(self.network, "auxiliary_loss") else None
        return loss if extra is None else loss + extra  # a network's own term (TextConditionedUNet's layout loss)

    def check_inputs(self, x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> None:
        """Refuse noise not shaped like x, and t not one timestep in [0, T − 1] per example."""
        if noise.shape != x.shape:
            raise ValueError(f"noise must have the shape of x {tuple(x.shape)}, got {tuple(noise.shape)}")
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must have shape (batch,) = ({x.shape[0]},), got {tuple(t.shape)}")
        if int(t.min()) < 0 or int(t.max()) >= self.timesteps:
            raise ValueError(f"timesteps must lie in [0, {self.timesteps - 1}], got [{int(t.min())}, {int(t.max())}]")

    def loss_weights(self, t: torch.Tensor) -> torch.Tensor:
        """Min-SNR-γ weights (Hang et al. 2023): the x0-error weight min(SNR_t, γ), written for the
        prediction type. An ε-error equals the x0-error times SNR_t, so ε gets min(SNR_t, γ)/SNR_t;
        v gets min(SNR_t, γ)/(SNR_t + 1). Low-noise steps, which are easy, stop dominating the gradient."""
        if self.min_snr_gamma is None:
            return torch.ones(t.shape, dtype=torch.float32)
        snr = self.schedule.snr[torch.as_tensor(t, dtype=torch.long).cpu()]
        clipped = snr.clamp(max=self.min_snr_gamma)
        weights = {"epsilon": clipped / snr, "v_prediction": clipped / (snr + 1), "sample": clipped}
        return weights[self.prediction_type].float()

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None,
             labels: torch.Tensor | None = None, part: slice | None = None) -> torch.Tensor:
        """`forward` with t ~ U{0..T−1} and ε ~ N(0, I) drawn from `generator` (Algorithm 1, one step),
        and the labels dropped to the null class with probability `label_dropout`. With `part`, the draws
        are made for the whole batch and the loss is computed on that slice of it: a data-parallel process's
        share (`training`), with exactly the t, ε and labels the whole batch would give those examples."""
        t = torch.randint(0, self.timesteps, (x.shape[0],), generator=generator).to(x.device)
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        if labels is not None and self.label_dropout > 0:
            labels = drop_labels(labels, self.label_dropout, null_label_of(self.network), generator)
        if part is not None:
            x, t, noise, labels = x[part], t[part], noise[part], None if labels is None else labels[part]
        return self(x, t, noise, labels)

    def sampling_timesteps(self, num_steps: int | None = None, spacing: str = "leading",
                           last_t: int | None = None) -> list[int]:
        """The timesteps a sampler visits with these settings, in order (`samplers.visited_timesteps`)."""
        return visited_timesteps(self.schedule, num_steps, spacing, last_t, self.grid)

    def sample_steps(self, x: torch.Tensor, num_steps: int | None = None, sampler: str = "ddpm",
                     spacing: str = "leading", network=None, clip_x0: float | None = None,
                     generator: torch.Generator | None = None, last_t: int | None = None, **step_options):
        """`samplers.sample_loop` from x = x_T with this model's schedule, prediction type, x̂0 clipping
        (unless `clip_x0` is given) and sampling grid, yielding (t, x_s, x̂0) after each step. `network`
        replaces `self.network` for the call (a wrapper such as `unet.DeepCache`, or a guided model)."""
        return sample_loop(self.network if network is None else network, x, self.schedule, num_steps, sampler,
                           spacing, prediction_type=self.prediction_type,
                           clip_x0=self.clip_x0 if clip_x0 is None else clip_x0, generator=generator,
                           last_t=last_t, grid=self.grid, **step_options)

    @torch.no_grad()
    def sample(self, shape, device="cpu", generator: torch.Generator | None = None, variance: str | None = None,
               clip_x0: float | None = None, num_steps: int | None = None, return_trajectory: bool = False,
               sampler: str = "ddpm", spacing: str = "leading", labels=None, guidance_scale: float = 1.0,
               cache_every: int = 1, last_t: int | None = None, start: torch.Tensor | None = None, **step_options):
        """Draw `shape` samples with ancestral sampling (Ho et al. 2020, Algorithm 2), or another sampler.

        Noise comes from `generator` (on the CPU) so results repeat on any device. `variance` and
        `clip_x0` override the model's defaults for this call; `num_steps` < T visits a subset of the
        timesteps with the given `spacing` (with "linspace", down to `last_t`). `sampler` is one of
        `samplers.STEPS` ("ddim" takes `eta=...`).
        `labels` (an int or (B,)) and `guidance_scale` w apply classifier-free guidance to a
        class-conditional network; without labels such a network samples unconditionally (null class).
        `cache_every` > 1 computes a UNet's deep features on every that-many-th call only (`unet.DeepCache`).
        With `return_trajectory=True` also returns the stacked states (num_steps + 1, *shape), x_T first.
        An edit (`editing`) gives `start`, the state to begin from instead of x_T ~ N(0, I), and the
        `timesteps` and `condition` of `samplers.sample_loop`.
        """
        was_training = self.network.training
        self.network.eval()
        try:
            x = torch.randn(tuple(shape), generator=generator).to(device) if start is None else start.to(device)
            states = [x.cpu()] if return_trajectory else None
            if sampler == "ddpm":
                step_options["variance"] = variance or self.variance
            elif variance is not None:
                raise ValueError(f"variance={variance!r} applies to sampler='ddpm' only, not {sampler!r}")
            if labels is None and guidance_scale != 1.0:
                raise ValueError("guidance_scale needs labels to guide towards")
            network = self.network if cache_every == 1 else DeepCache(self.network, cache_every)
            model = network if labels is None else ClassifierFreeGuidance(network, labels, guidance_scale)
            for _, x, _ in self.sample_steps(x, num_steps, sampler, spacing, model, clip_x0, generator, last_t,
                                             **step_options):
                if return_trajectory:
                    states.append(x.cpu())
        finally:
            self.network.train(was_training)
        return (x, torch.stack(states)) if return_trajectory else x
