"""PyTorch's speed levers on the book's UNet, on this CPU: number format, memory layout, compilation.

    .venv/bin/python benchmarks/levers.py --out benchmarks/results/levers.json

For the network of the shipped checkpoint (recipe `fashion-ddpm`: `UNetConfig(skip="add")`), on
--threads threads with nothing else running, it times
- training: images/s of the book's training step (`Trainer.train_step`: loss, backward, clipping,
  AdamW, EMA) at batch 64, as the recipes train;
- sampling: seconds for 1,000 images × 50 network calls, in batches of 100 under `torch.no_grad`, as
  `generate` draws them (the sampler's own arithmetic is a few per cent on top);
each as float32, under bfloat16 autocast (the book's choice), bfloat16 autocast on `channels_last`
tensors, and bfloat16 autocast with `torch.compile` (its compile time recorded apart); sampling also
with the weights themselves in bfloat16 (no autocast). And the two layers behind the channels_last
result: a 3×3 convolution 32 → 32 channels and GroupNorm(8, 32) on a batch of 64 28×28 maps, in both
layouts. Each timing is the median of --repeats runs of --seconds seconds.
"""
import argparse
import copy
import json
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import torch
from torch import nn

from diffusion_lite.checkpoints import build_ddpm, get_recipe
from diffusion_lite.training import Trainer

LEVERS = ("float32", "bfloat16", "bfloat16 + channels_last", "bfloat16 + torch.compile", "bfloat16 weights")


def timed(fn, args) -> tuple[float, float]:
    """(median seconds per call of fn over args.repeats runs of about args.seconds each, how much longer
    the first call took: torch.compile's compile time)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    runs = []
    for _ in range(args.repeats):
        calls, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            fn()
            calls += 1
        runs.append((time.perf_counter() - t0) / calls)
    per_call = statistics.median(runs)
    return per_call, first - per_call


def prepare(network: nn.Module, lever: str) -> nn.Module:
    """The network set up for `lever` (autocast is the caller's)."""
    if "channels_last" in lever:
        network = network.to(memory_format=torch.channels_last)
    if lever == "bfloat16 weights":
        network = network.to(torch.bfloat16)
    if "compile" in lever:
        network = torch.compile(network)
    return network


def training_speed(lever: str, data: torch.Tensor, args) -> dict:
    recipe = get_recipe("fashion-ddpm")
    recipe.train.bf16 = lever != "float32"
    torch.manual_seed(0)
    ddpm = build_ddpm(recipe)
    trainer = Trainer(ddpm, data, recipe.train)
    ddpm.network = prepare(ddpm.network, lever)
    if "channels_last" in lever:  # for one channel the two layouts are the same; the convolutions follow the weights
        trainer.data = data.contiguous(memory_format=torch.channels_last)
    step, extra = timed(trainer.train_step, args)  # the first step compiles forward and backward, if asked
    out = {"images_per_second": recipe.train.batch_size / step}
    return {**out, "compile_seconds": extra} if "compile" in lever else out


def sampling_speed(lever: str, args) -> dict:
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

    per_call, extra = timed(call, args)
    out = {"seconds_per_1000x50": per_call * 1000 / args.batch * 50}
    return {**out, "compile_seconds": extra} if "compile" in lever else out


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
            out[f"{name}, {layout}"] = 1000 * timed(call, args)[0]
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
               "machine": platform.processor() or platform.machine(),
               "training_batch": get_recipe("fashion-ddpm").train.batch_size,
               "sampling_batch": args.batch, "training": {}, "sampling": {}}
    for lever in args.levers:
        if lever != "bfloat16 weights":  # bfloat16 weights would need a float32 master copy to train
            results["training"][lever] = training_speed(lever, data, args)
            print(f"training  {lever:26s}", results["training"][lever], flush=True)
        results["sampling"][lever] = sampling_speed(lever, args)
        print(f"sampling  {lever:26s}", results["sampling"][lever], flush=True)
    results["layers_ms"] = layer_times(args)
    for name, ms in results["layers_ms"].items():
        print(f"{name:36s} {ms:7.2f} ms")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
