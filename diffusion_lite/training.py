"""A training loop a reader can follow: AdamW, warm-up then cosine decay, gradient clipping, EMA,
a tqdm bar with loss and images/s, atomic checkpoints, exact resume, and a clear stop on NaN.

Exact resume: every source of randomness (batch order, t, ε, flips) comes from one `torch.Generator`
whose state is saved with the weights, optimiser and EMA, so training N + M steps equals training N,
saving, resuming and training M more.

Data-parallel training (chapter 12): started by `torchrun`, which sets up a process group, the Trainer wraps
the model in PyTorch's `DistributedDataParallel` (its backward pass all-reduces the gradients, averaged over the
processes). Every process draws the same global batch from the same generator and computes the loss on its own
slice (`DDPM.loss(part=...)`): each trains on its shard of every batch, and N processes take exactly the step one
process would take on the whole batch (a test checks it). Parameters, optimiser, generator and EMA stay equal on
every process; rank 0 alone shows the progress bar and writes checkpoints.
"""
from __future__ import annotations

import copy
import hashlib
import inspect
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .precision import autocast, resolve


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 128
    lr: float = 2e-3
    warmup_steps: int = 200
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    hflip: bool = False  # random horizontal flips: not for Fashion-MNIST, whose shoes all face left (chapter 04)
    precision: str = "auto"  # "auto" (bfloat16 autocast where the CPU computes it natively), "bf16" or "float32"
    seed: int = 0
    checkpoint_every: int = 500

    def __post_init__(self):
        resolve(self.precision)  # refuses an unknown name
        if self.steps < 1 or self.batch_size < 1 or self.lr <= 0 or not 0 <= self.ema_decay < 1:
            raise ValueError("steps and batch_size must be >= 1, lr > 0 and ema_decay in [0, 1); "
                             f"got {self.steps}, {self.batch_size}, {self.lr}, {self.ema_decay}")


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to cfg.lr over warmup_steps, then cosine decay to 0 at cfg.steps (Loshchilov & Hutter 2017)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def ema_decay_at(step: int, decay: float) -> float:
    """EMA decay with warm-up, min(decay, (1 + step)/(10 + step)): early on the average forgets the
    initial weights quickly. Without it, after 1,750 steps at 0.999 the average still holds
    e^(−1.75) ≈ 17 % of the untrained network, whose zero-initialised output predicts ε̂ = 0."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """θ_ema ← decay·θ_ema + (1 − decay)·θ, parameter by parameter."""
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p, 1 - decay)


def save_atomic(obj, path: Path) -> None:
    """torch.save to a temporary file, then rename: an interrupted save never leaves a broken checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def process_group() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) unless a `torch.distributed` process group is running."""
    return (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() else (0, 1)


class _Loss(torch.nn.Module):
    """`model.loss` as a module's forward, so that `DistributedDataParallel` sees the call it synchronises."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x, generator, labels, part):
        return self.model.loss(x, generator, labels=labels, part=part)


class Trainer:
    """Trains `model` (anything with `.loss(x, generator)`, e.g. a DDPM) on a tensor of examples `data`;
    inside a `torch.distributed` process group, data-parallel (a DDPM: its `.loss` takes `part`)."""

    def __init__(self, model: torch.nn.Module, data: torch.Tensor, cfg: TrainConfig, labels: torch.Tensor | None = None):
        self.model, self.data, self.labels, self.cfg = model, data, labels, cfg
        self.rank, self.world = process_group()
        if self.world > 1:
            if cfg.batch_size % self.world:
                raise ValueError(f"batch_size {cfg.batch_size} must divide evenly among the {self.world} processes")
            if "part" not in inspect.signature(model.loss).parameters:
                raise ValueError(f"{type(model).__name__} cannot train data-parallel: its loss does not shard a batch "
                                 "(diffusion models do; train autoencoders and text encoders in one process)")
            self.parallel = DistributedDataParallel(_Loss(model))  # broadcasts rank 0's weights to every process
        self.ema = copy.deepcopy(model).requires_grad_(False)
        # fused: one kernel updates every parameter (4 ms a step less than the per-parameter loop here)
        self.opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.step, self.losses, self.seconds = 0, [], 0.0
        self._digest = None

    def data_digest(self) -> str:
        """SHA-256 of the training examples and labels, saved with the state: a run resumes on the same data
        only (a latent model's latents change with its autoencoder, a text model's tokens with its encoder)."""
        if self._digest is None:
            digest = hashlib.sha256()
            for tensor in (self.data, self.labels) if self.labels is not None else (self.data,):
                digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy())  # its buffer, no copy
            self._digest = digest.hexdigest()
        return self._digest

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "ema": self.ema.state_dict(), "opt": self.opt.state_dict(),
                "generator": self.generator.get_state(), "step": self.step, "losses": self.losses,
                "seconds": self.seconds, "train_config": asdict(self.cfg), "data": self.data_digest()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["opt"])
        self.generator.set_state(state["generator"])
        self.step, self.losses, self.seconds = state["step"], list(state["losses"]), state["seconds"]

    def batch(self):
        idx = torch.randint(0, len(self.data), (self.cfg.batch_size,), generator=self.generator)
        x = self.data[idx]
        if self.cfg.hflip:
            flip = (torch.rand(len(x), generator=self.generator) < 0.5).to(x.device)
            x = torch.where(flip.view(-1, *([1] * (x.ndim - 1))), x.flip(-1), x)
        return x, (self.labels[idx] if self.labels is not None else None)

    def train_step(self) -> float:
        for group in self.opt.param_groups:
            group["lr"] = lr_at(self.step, self.cfg)
        x, y = self.batch()
        with autocast(self.cfg.precision):
            if self.world > 1:  # this process's slice of the global batch; DDP averages the gradients
                share = self.cfg.batch_size // self.world
                loss = self.parallel(x, self.generator, y, slice(self.rank * share, (self.rank + 1) * share))
            else:
                loss = self.model.loss(x, self.generator) if y is None else self.model.loss(x, self.generator, labels=y)
        value = loss.detach().float()
        if self.world > 1:  # the global batch's loss, the same on every process (so is a stop on NaN)
            dist.all_reduce(value)
            value /= self.world
        if not torch.isfinite(value):
            raise FloatingPointError(f"loss became {value.item()} at step {self.step}; lower the learning rate "
                                     f"(now {lr_at(self.step, self.cfg):.2e}) or the grad_clip, or check the data")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        ema_update(self.ema, self.model, ema_decay_at(self.step, self.cfg.ema_decay))
        self.step += 1
        return value.item()

    def train(self, until: int | None = None, checkpoint: Path | str | None = None, progress: bool = True):
        """Train to step `until` (cfg.steps by default), saving to `checkpoint` every cfg.checkpoint_every
        steps and at the end. Returns the list of losses so far."""
        until = self.cfg.steps if until is None else until
        bar = tqdm(total=until, initial=self.step, disable=not progress or self.rank > 0, unit="step")
        while self.step < until:
            t0 = time.perf_counter()
            self.losses.append(self.train_step())
            dt = time.perf_counter() - t0
            self.seconds += dt
            bar.update(1)
            bar.set_postfix(loss=f"{self.losses[-1]:.4f}", img_s=f"{self.cfg.batch_size / dt:.0f}")
            if checkpoint and self.rank == 0 and (self.step % self.cfg.checkpoint_every == 0 or self.step == until):
                save_atomic(self.state_dict(), Path(checkpoint))
        bar.close()
        return self.losses

    @classmethod
    def resume(cls, checkpoint: Path | str, model, data, cfg: TrainConfig, labels=None) -> "Trainer":
        """A Trainer restored from `checkpoint` if it exists, or a fresh one. A checkpoint saved by a run on
        other data (`data_digest`) is refused, not continued on this data."""
        trainer = cls(model, data, cfg, labels)
        if Path(checkpoint).exists():
            state = torch.load(checkpoint, weights_only=False)
            if state.get("data", trainer.data_digest()) != trainer.data_digest():  # states before it: no digest
                raise ValueError(f"{checkpoint} was saved by a run on other data (SHA-256 {state['data'][:12]}…, "
                                 f"this data {trainer.data_digest()[:12]}…): if the model's autoencoder or text "
                                 "encoder was retrained since, its latents or tokens changed. Delete it to train "
                                 "from scratch, or train into another --out folder")
            trainer.load_state_dict(state)
        return trainer
