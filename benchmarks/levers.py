"""PyTorch's speed levers on the book's UNet, on this CPU: number format, memory layout, compilation,
threads; and the ceiling the network's FLOPs set.

    .venv/bin/python benchmarks/levers.py --out benchmarks/results/levers.json

For the network of the shipped checkpoint (recipe `fashion-ddpm`: `UNetConfig(skip="add")`), on
--threads threads with nothing else running, it times
- training: images/s of the book's training step (`Trainer.train_step`: loss, backward, clipping,
  AdamW, EMA) at batch 64, as the recipes train;
- sampling: seconds for 1,000 images × 50 network calls, in batches of 100 under `torch.no_grad`, as
  `generate` draws them (the sampler's own arithmetic adds under 1 %: 0.3 s for 1,000 DDIM-50 images
  with a network that returns zeros);
each as float32, under bfloat16 autocast (the book's choice), bfloat16 autocast on `channels_last`
tensors, and bfloat16 autocast with `torch.compile` (its compile time recorded apart); sampling also
with the weights themselves in bfloat16 (no autocast), and under autocast with one batch per core:
--threads Python threads, each calling the network on its own batch on one torch thread, as
`generate(..., workers=N)` samples. And the two layers behind the channels_last result: a 3×3
convolution 32 → 32 channels and GroupNorm(8, 32) on a batch of 64 28×28 maps, in both layouts.

And the ceiling: how fast this CPU multiplies bfloat16 and float32 4096 × 4096 matrices, how fast it
runs the network's 3×3 convolutions at each level's size (batch --batch, autocast), the network's
FLOPs per image and call (`torch.utils.flop_counter`), and the seconds the 1,000 × 50 calls would take
if every FLOP ran as fast as the fastest of those products.

This shared machine's speed drifts by 10-30 % within minutes, so the levers are timed in turn: each
of --repeats rounds runs every training lever, then every sampling lever, for about --seconds each,
and each timing is the median over the rounds (the first call of each, which compiles, is untimed).
The layers and the ceiling's products are each the median of --repeats runs of --seconds seconds.
"""
import argparse
import copy
import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

# A fresh compile cache, so that compile_seconds is what a first run pays, not a cache hit from an earlier one.
os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="levers-inductor-")

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from diffusion_lite.precision import cpu_name
from diffusion_lite.checkpoints import build_ddpm, get_recipe
from diffusion_lite.training import Trainer

LEVERS = ("float32", "bfloat16", "bfloat16 + channels_last", "bfloat16 + torch.compile", "bfloat16 weights",
          "bfloat16, a batch per core")
SAMPLING_ONLY = ("bfloat16 weights", "bfloat16, a batch per core")  # no float32 master copy; no backward


def interleaved(fns: dict, args) -> dict:
    """name -> (median seconds per call over args.repeats rounds, how much longer the first call took).
    Each round runs every fn in turn for about args.seconds, so the machine's drift reaches them alike."""
    first = {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        fn()
        first[name] = time.perf_counter() - t0
    runs = {name: [] for name in fns}
    for _ in range(args.repeats):
        for name, fn in fns.items():
            calls, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < args.seconds:
                fn()
                calls += 1
            runs[name].append((time.perf_counter() - t0) / calls)
    return {name: (statistics.median(r), first[name] - statistics.median(r)) for name, r in runs.items()}


def prepare(network: nn.Module, lever: str) -> nn.Module:
    """The network set up for `lever` (autocast is the caller's)."""
    if "channels_last" in lever:
        network = network.to(memory_format=torch.channels_last)
    if lever == "bfloat16 weights":
        network = network.to(torch.bfloat16)
    if "compile" in lever:
        network = torch.compile(network)
    return network


def training_step(lever: str, data: torch.Tensor):
    """(the book's training step set up for `lever`, its batch size)."""
    recipe = get_recipe("fashion-ddpm")
    recipe.train.precision = "float32" if lever == "float32" else "bf16"
    torch.manual_seed(0)
    ddpm = build_ddpm(recipe)
    trainer = Trainer(ddpm, data, recipe.train)
    ddpm.network = prepare(ddpm.network, lever)
    if "channels_last" in lever:  # for one channel the two layouts are the same; the convolutions follow the weights
        trainer.data = data.contiguous(memory_format=torch.channels_last)
    return trainer.train_step, recipe.train.batch_size


def sampling_call(lever: str, args):
    """One network call on a batch of args.batch noisy images, set up for `lever`, as sampling makes it;
    for "a batch per core", args.threads such calls at once, one per Python thread."""
    torch.manual_seed(0)
    network = build_ddpm(get_recipe("fashion-ddpm")).network.eval()
    network = prepare(network, lever)
    dtype = torch.bfloat16 if lever == "bfloat16 weights" else torch.float32
    x = torch.randn(args.batch, 1, 28, 28, dtype=dtype)
    t = torch.full((args.batch,), 500)

    def call():  # autocast for every lever but plain float32 and weights already in bfloat16
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16,
                                             enabled=lever not in ("float32", "bfloat16 weights")):
            network(x, t)

    if lever != "bfloat16, a batch per core":
        return call
    pool = ThreadPoolExecutor(args.threads)

    def together():  # autocast and no_grad are per thread, so `call` enters them in each
        torch.set_num_threads(1)  # seen by the pool's threads too
        try:
            list(pool.map(lambda _: call(), range(args.threads)))
        finally:
            torch.set_num_threads(args.threads)
    return together


def timed(fn, args) -> float:
    """Median seconds per call of fn over args.repeats runs of about args.seconds each, after one untimed call."""
    return interleaved({"fn": fn}, args)["fn"][0]


def layer_times(args) -> dict:
    """Milliseconds per call, forward only under bfloat16 autocast, of the layers channels_last changes."""
    torch.manual_seed(0)
    x = torch.randn(64, 32, 28, 28)
    layers = {"conv 3×3, 32 → 32": nn.Conv2d(32, 32, 3, padding=1), "GroupNorm(8, 32)": nn.GroupNorm(8, 32)}
    out = {}
    for name, layer in layers.items():
        for layout, fmt in (("contiguous", torch.contiguous_format), ("channels_last", torch.channels_last)):
            lay, inp = copy.deepcopy(layer).to(memory_format=fmt), x.contiguous(memory_format=fmt)

            def call():
                with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                    lay(inp)
            out[f"{name}, {layout}"] = 1000 * timed(call, args)
    return out


def ceiling(args) -> dict:
    """The best case: the bfloat16 and float32 GFLOP/s of a 4096 × 4096 matrix product, the GFLOP/s of the
    network's 3×3 convolutions at each level's size (batch --batch, under autocast), the network's MFLOP
    per image and call, and the seconds of 1,000 × 50 calls if every FLOP ran at the best of those speeds."""
    out = {}
    a, b = torch.randn(4096, 4096), torch.randn(4096, 4096)
    for dtype in (torch.bfloat16, torch.float32):
        x, y = a.to(dtype), b.to(dtype)
        out[f"matmul_4096_{str(dtype).removeprefix('torch.')}_gflops"] = 2 * 4096 ** 3 / timed(lambda: x @ y, args) / 1e9
    torch.manual_seed(0)
    network = build_ddpm(get_recipe("fashion-ddpm")).network.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        network(torch.randn(1, 1, 28, 28), torch.tensor([500]))
    out["conv_gflops"] = {}
    for size, ch in zip((28, 14, 7), network.config.channels):
        conv, x = nn.Conv2d(ch, ch, 3, padding=1), torch.randn(args.batch, ch, size, size)

        def call():
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                conv(x)
        flops = 2 * 9 * ch * ch * size * size * args.batch
        out["conv_gflops"][f"{size}×{size}, {ch} → {ch}"] = flops / timed(call, args) / 1e9
    out["best_gflops"] = max(out["matmul_4096_bfloat16_gflops"], *out["conv_gflops"].values())
    out["forward_mflop_per_image"] = counter.get_total_flops() / 1e6
    out["seconds_per_1000x50_at_best"] = counter.get_total_flops() * 1000 * 50 / (out["best_gflops"] * 1e9)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levers", nargs="+", default=list(LEVERS), choices=LEVERS, metavar="LEVER",
                        help=f"any of {LEVERS}")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of one timed run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=100, help="images per network call when sampling")
    parser.add_argument("--out", default="benchmarks/results/levers.json")
    args = parser.parse_args()
    if args.threads < 1 or args.seconds <= 0 or args.repeats < 1 or args.batch < 1:
        parser.error("--threads, --repeats and --batch must be >= 1 and --seconds > 0")
    torch.set_num_threads(args.threads)
    from diffusion_lite.datasets import load_fashion_mnist, to_model_range
    data = to_model_range(load_fashion_mnist("train")[0][:10_000])
    results = {"date": date.today().isoformat(), "torch": torch.__version__, "threads": args.threads,
               "machine": cpu_name(),
               "training_batch": get_recipe("fashion-ddpm").train.batch_size,
               "sampling_batch": args.batch, "training": {}, "sampling": {}}
    steps = {lever: training_step(lever, data) for lever in args.levers if lever not in SAMPLING_ONLY}
    for lever, (per_step, extra) in interleaved({lever: fn for lever, (fn, _) in steps.items()}, args).items():
        out = {"images_per_second": steps[lever][1] / per_step}
        results["training"][lever] = {**out, "compile_seconds": extra} if "compile" in lever else out
        print(f"training  {lever:30s}", results["training"][lever], flush=True)
    calls = {lever: sampling_call(lever, args) for lever in args.levers}
    for lever, (per_call, extra) in interleaved(calls, args).items():
        per_batch = per_call / args.threads if lever == "bfloat16, a batch per core" else per_call
        out = {"seconds_per_1000x50": per_batch * 1000 / args.batch * 50}
        results["sampling"][lever] = {**out, "compile_seconds": extra} if "compile" in lever else out
        print(f"sampling  {lever:30s}", results["sampling"][lever], flush=True)
    results["layers_ms"] = layer_times(args)
    for name, ms in results["layers_ms"].items():
        print(f"{name:36s} {ms:7.2f} ms")
    results["ceiling"] = ceiling(args)
    print("ceiling", json.dumps(results["ceiling"], indent=2, ensure_ascii=False), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
