"""Classifier-free guidance (Ho & Salimans 2022): one network, trained both with and without its label.

Training drops each label to the null class with probability p (`drop_labels`), so the same network
learns the conditional ε̂(x_t, t, y) and the unconditional ε̂(x_t, t, ∅). Sampling then follows

    ε̃ = ε̂(x_t, t, ∅) + w·(ε̂(x_t, t, y) − ε̂(x_t, t, ∅)),

which for w > 1 moves further along "what the label adds" (w = 1 is the conditional model, w = 0 the
unconditional one). The combination is linear, so it holds for any prediction type (ε, v or x̂0).
"""
from __future__ import annotations

import torch
from torch import nn


def drop_labels(labels: torch.Tensor, p: float, null_label, generator: torch.Generator | None = None):
    """Each label replaced by `null_label` with probability p (label dropout). Labels are classes (B,) with an
    int null class, or captions' token ids (B, L) with the empty caption's ids (L,) as the null (caption
    dropout)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"label dropout must lie in [0, 1], got {p!r}")
    if p == 0:
        return labels
    drop = (torch.rand(labels.shape[0], generator=generator) < p).to(labels.device)
    null = torch.as_tensor(null_label, dtype=labels.dtype, device=labels.device)
    return torch.where(drop.view(-1, *[1] * (labels.ndim - 1)), null, labels)


def null_label_of(network) -> int | torch.Tensor:
    """What a conditional network takes for "no condition": its `null_label` (a text-conditional network's
    empty caption), else its null class `config.num_classes`; a ValueError for an unconditional one."""
    null = getattr(network, "null_label", None)
    if null is None:
        null = getattr(getattr(network, "config", None), "num_classes", None)
    if null is None:
        raise ValueError("classifier-free guidance needs a conditional network: class-conditional (num_classes set) "
                         "or text-conditional (with a null_label, the empty caption)")
    return null


class ClassifierFreeGuidance(nn.Module):
    """A denoiser `(x_t, t) -> output` that guides `network(x_t, t, labels)` towards `labels` with scale w.

    `labels` is (B,) or one int for the whole batch, or for a text-conditional network the captions' token
    ids (B, L), whose null is the empty caption. For w ≠ 1 each call evaluates the conditional and the
    unconditional output in one batch of 2B; w = 1 needs only the conditional half.
    """

    def __init__(self, network: nn.Module, labels, scale: float = 1.0):
        super().__init__()
        null = null_label_of(network)
        labels = torch.as_tensor(labels, dtype=torch.long)
        if isinstance(null, int) and labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= null):
            raise ValueError(f"labels must lie in [0, {null - 1}], got {labels.tolist()}")
        if scale < 0:
            raise ValueError(f"guidance scale must be >= 0 (0 = unconditional, 1 = conditional), got {scale!r}")
        self.network, self.labels, self.scale, self.null_label = network, labels, float(scale), null

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        labels = self.labels.to(x.device).expand(x.shape[0]) if self.labels.ndim == 0 else self.labels.to(x.device)
        if labels.shape[0] != x.shape[0]:
            raise ValueError(f"{labels.shape[0]} labels for a batch of {x.shape[0]}")
        if self.scale == 1.0:
            return self.network(x, t, labels)
        null = torch.as_tensor(self.null_label, dtype=labels.dtype, device=x.device).expand_as(labels)
        if self.scale == 0.0:
            return self.network(x, t, null)
        cond, uncond = self.network(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null])).chunk(2)
        return uncond + self.scale * (cond - uncond)
