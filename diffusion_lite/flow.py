"""Flow matching with the linear path (Lipman et al. 2023; Liu et al. 2023's rectified flow), on the book's loop.

The model: a straight line from data to noise, x_t = (1 − t)·x0 + t·ε for t ∈ [0, 1], and a network
trained to predict the line's velocity dx_t/dt = ε − x0 from (x_t, t) by plain mean-squared error
(conditional flow matching, Lipman et al. 2023, Eqs. 21–23 with σ_min = 0). Sampling integrates the
ODE dx/dt = v̂(x, t) from pure noise at t = 1 down to t = 0.

Why no second sampling loop is needed: the line is a DDPM in other coordinates. Divide x_t by
c(t) = √((1 − t)² + t²) and it is x_t/c = √ᾱ·x0 + √(1 − ᾱ)·ε with √ᾱ = (1 − t)/c and √(1 − ᾱ) = t/c: a
variance-preserving process with its own ᾱ table (`linear_path_schedule`), the noise level σ = t/(1 − t) of
the samplers' σ view. So `FlowMatching` is a `DDPM` whose schedule is that table and whose network is
wrapped (`VelocityToX0`) to read a variance-preserving state, rescale it onto the line, and return the
x̂0 = x_t − t·v̂ its velocity implies. Every sampler of `samplers` then runs on it unchanged, and DDIM (or
the σ view's Euler) is exactly the flow's own Euler step x_s = x_t + (s − t)·v̂ (chapter 12 checks it).

Time is discrete, as for the book's DDPMs: step k = 0..T−1 is t_k = (k + 1)/(T + 1), so t stays inside
(0, 1) where σ is finite, the network is told k as a DDPM is, and the held-out loss, checkpoints and the
CLI treat a flow like any other model.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .ddpm import DDPM
from .schedules import NoiseSchedule


def path_times(num_timesteps: int) -> torch.Tensor:
    """t_k = (k + 1)/(T + 1) for k = 0..T−1 (float64): the line's times at the model's discrete steps."""
    if num_timesteps < 1:
        raise ValueError(f"num_timesteps must be >= 1, got {num_timesteps}")
    return torch.arange(1, num_timesteps + 1, dtype=torch.float64) / (num_timesteps + 1)


def linear_path_schedule(num_timesteps: int = 1000) -> NoiseSchedule:
    """The variance-preserving schedule of the line x_t = (1 − t)·x0 + t·ε: ᾱ_k = (1 − t)²/((1 − t)² + t²)
    at t = t_k, written as βs (β_k = 1 − ᾱ_k/ᾱ_{k−1}) so that `NoiseSchedule` derives the rest."""
    t = path_times(num_timesteps)
    abar = (1 - t) ** 2 / ((1 - t) ** 2 + t**2)
    return NoiseSchedule(1 - abar / torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]]))


def path_scale(t: torch.Tensor) -> torch.Tensor:
    """c(t) = √((1 − t)² + t²): the line's state x_t is c(t) times the variance-preserving one."""
    return ((1 - t) ** 2 + t**2).sqrt()


class VelocityToX0(nn.Module):
    """A velocity network seen as an x̂0 network on variance-preserving states: (x, k) ↦ x_t − t·v̂(x_t, k) with
    x_t = c(t_k)·x on the line. Extra arguments (labels, captions) pass through to the network, so classifier-free
    guidance may wrap it or sit inside it: x̂0 is affine in v̂, so mixing velocities mixes x̂0s the same way."""

    def __init__(self, network, times: torch.Tensor):
        super().__init__()
        self.network, self.times = network, times

    def forward(self, x: torch.Tensor, t: torch.Tensor, *args) -> torch.Tensor:
        tf = self.times[t.cpu()].to(x.device, x.dtype).view(-1, *[1] * (x.ndim - 1))
        x_line = path_scale(tf) * x
        return x_line - tf * self.network(x_line, t, *args)


class FlowMatching(DDPM):
    """`FlowMatching(network, timesteps)`: conditional flow matching on the linear path, a `DDPM` for everything
    else (the same training loop, checkpoints, samplers, guidance, edits). `network(x_t, k)` predicts the
    velocity ε − x0 at the line's point x_t = (1 − t_k)·x0 + t_k·ε (`path_times`)."""

    def __init__(self, network: nn.Module, timesteps: int = 1000, clip_x0: float | None = None,
                 label_dropout: float = 0.0, coupled: bool = False):
        super().__init__(network, timesteps, prediction_type="sample", clip_x0=clip_x0, label_dropout=label_dropout)
        self.schedule = linear_path_schedule(timesteps)
        self.times = path_times(timesteps)
        self.coupled = coupled  # train on given (x0, ε) pairs: rectified flow's reflow (`loss`)

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None,
             labels: torch.Tensor | None = None, part: slice | None = None) -> torch.Tensor:
        """`DDPM.loss`: ε drawn afresh for each example. A `coupled` model instead trains on pairs x = (B, 2, ...)
        of an x0 and the noise ε it was drawn from (Liu et al. 2023's reflow: the paths of a trained flow,
        straightened by learning its own noise-to-sample coupling)."""
        if not self.coupled:
            return super().loss(x, generator, labels, part)
        if x.ndim < 2 or x.shape[1] != 2:
            raise ValueError(f"a coupled flow trains on pairs (batch, 2, ...) of x0 and its noise, got {tuple(x.shape)}")
        t = torch.randint(0, self.timesteps, (x.shape[0],), generator=generator).to(x.device)
        x0, noise = x[:, 0], x[:, 1]
        if part is not None:
            x0, t, noise, labels = x0[part], t[part], noise[part], None if labels is None else labels[part]
        return self(x0, t, noise, labels)

    def forward(self, x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        """The flow-matching loss E‖(ε − x0) − v̂(x_t, k)‖², x_t = (1 − t_k)·x0 + t_k·ε, one step k per example
        (k ~ U{0..T−1} from `DDPM.loss`), plus a network's `auxiliary_loss()` as for a DDPM."""
        self.check_inputs(x, t, noise)
        tf = self.times[t.cpu()].to(x.device, x.dtype).view(-1, *[1] * (x.ndim - 1))
        x_t = (1 - tf) * x + tf * noise
        output = self.network(x_t, t) if labels is None else self.network(x_t, t, labels)
        loss = F.mse_loss(output, noise - x)
        extra = self.network.auxiliary_loss() if hasattr(self.network, "auxiliary_loss") else None
        return loss if extra is None else loss + extra

    def sample_steps(self, x: torch.Tensor, num_steps: int | None = None, sampler: str = "ddpm",
                     spacing: str = "leading", network=None, clip_x0: float | None = None,
                     generator: torch.Generator | None = None, last_t: int | None = None, **step_options):
        """`DDPM.sample_steps` on the variance-preserving states x_t/c(t), the network seen through
        `VelocityToX0`; x at the first step is pure noise either way (t ≈ 1, c ≈ 1), and so is the last (t = 0).
        Heun averages its two slopes in the line's time t (`samplers.heun_step`'s `line_time`), not in σ."""
        if sampler == "heun":
            step_options.setdefault("line_time", True)
        return super().sample_steps(x, num_steps, sampler, spacing, VelocityToX0(network or self.network, self.times),
                                    clip_x0, generator, last_t, **step_options)

    def on_line(self, trajectory: torch.Tensor, num_steps: int, spacing: str = "trailing") -> torch.Tensor:
        """A trajectory of `sample(..., return_trajectory=True)` (variance-preserving states, x_T first, then one
        per step of `num_steps` with `spacing`) as points on the line, c(t)·x at each state's t (0 at the end)."""
        times = torch.cat([self.times[self.sampling_timesteps(num_steps, spacing)], torch.zeros(1, dtype=torch.float64)])
        if len(times) != len(trajectory):
            raise ValueError(f"a trajectory of {num_steps} steps has {len(times)} states, got {len(trajectory)}")
        return trajectory * path_scale(times).to(trajectory.dtype).view(-1, *[1] * (trajectory.ndim - 1))


def straightness(trajectory: torch.Tensor) -> torch.Tensor:
    """Chord over path length of each path in a trajectory (states, batch, ...): 1 for a straight line,
    less for a curved one."""
    flat = trajectory.flatten(2)
    length = (flat[1:] - flat[:-1]).norm(dim=-1).sum(0)
    return (flat[-1] - flat[0]).norm(dim=-1) / length
