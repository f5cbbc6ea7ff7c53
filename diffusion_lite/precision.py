"""The number format the networks compute in: one place decides it, for training, sampling and encoding.

bfloat16 autocast runs the convolutions and matrix products in bfloat16 and keeps the weights, the
optimiser and the loss in float32. Whether that pays depends entirely on the CPU:

- with native bfloat16 instructions (AVX-512-BF16, as on AMD Zen 4 and Intel Cooper Lake or newer, or
  AMX on Sapphire Rapids) one forward and backward pass of the book's UNet runs about 1.8× faster
  than in float32;
- without them (AVX2 only: AMD Zen 3 and older, most Intel laptop chips, Apple silicon) bfloat16 is
  emulated and the same pass runs about 12× *slower* (benchmarks/RESULTS.md, "Precision").

So `precision="auto"` (the default everywhere) means bfloat16 autocast where the CPU computes
bfloat16 natively and float32 elsewhere. The check asks PyTorch three things, all of which must hold:
the CPU has the instructions (`torch.cpu._is_avx512_bf16_supported()` or
`torch.cpu._is_amx_tile_supported()`), PyTorch's own kernels use AVX-512
(`torch.backends.cpu.get_cpu_capability()`), and oneDNN, which runs the convolutions, will use
bfloat16 (`torch.ops.mkldnn._is_mkldnn_bf16_supported()`). The last two follow the environment
variables `ATEN_CPU_CAPABILITY=avx2` and `ONEDNN_MAX_CPU_ISA=AVX2`, which is how a machine with
AVX-512-BF16 imitates one without (tests/test_precision.py measures both choices wherever it runs).
"""
from __future__ import annotations

import contextlib
import platform
from functools import cache
from pathlib import Path

import torch

PRECISIONS = ("auto", "bf16", "float32")


@cache
def native_bf16() -> tuple[bool, str]:
    """(whether this CPU computes bfloat16 natively, and the evidence in words)."""
    has_bf16 = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    capability = torch.backends.cpu.get_cpu_capability()
    onednn = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    if not has_bf16:
        return False, f"no AVX-512-BF16 or AMX instructions (PyTorch's kernels: {capability})"
    if not capability.startswith("AVX512") or not onednn:
        return False, (f"AVX-512-BF16 is present but the kernels are limited to {capability}"
                       f"{'' if onednn else ', oneDNN without bfloat16'}")
    return True, f"AVX-512-BF16{' and AMX' if torch.cpu._is_amx_tile_supported() else ''}, kernels {capability}"


def resolve(precision: str = "auto") -> str:
    """"bf16" or "float32": `precision` itself, or for "auto" the faster of the two on this CPU."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS} "
                         "(auto: bfloat16 where the CPU computes it natively, float32 elsewhere)")
    if precision != "auto":
        return precision
    return "bf16" if native_bf16()[0] else "float32"


def describe(precision: str = "auto") -> str:
    """One line saying which format `precision` runs in on this CPU, and why (train and sample print it)."""
    chosen = resolve(precision)
    name = "bfloat16 autocast" if chosen == "bf16" else "float32"
    if precision != "auto":
        return f"precision: {name}, as asked (--precision auto picks by the CPU)"
    native, evidence = native_bf16()
    why = "this CPU computes bfloat16 natively" if native else "bfloat16 would be emulated, about 12x slower"
    return f"precision: {name} (auto: {why}; {evidence})"


def autocast(precision: str = "auto"):
    """A context in which the networks compute in `precision`: bfloat16 autocast, or plain float32."""
    if resolve(precision) == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@cache
def cpu_name() -> str:
    """The CPU's model name and its kind for this module ("AMD EPYC, native bfloat16"), recorded beside every
    timing: the same recipe runs at very different speeds on the two kinds."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
             if line.startswith("model name")]
    name = names[0] if names else platform.processor() or platform.machine()
    return f"{name}, {'native bfloat16' if native_bf16()[0] else 'no native bfloat16'}"
