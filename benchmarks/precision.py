"""bfloat16 autocast against float32 on both kinds of CPU, and what precision "auto" picks on each.

    .venv/bin/python benchmarks/precision.py --out benchmarks/results/precision.json

On this machine, one torch thread, nothing else running, it times
- a training step: forward and backward of the book's UNet (recipe `fashion-ddpm`) on 32 images;
- a sampling call: the same network on 100 images under `torch.no_grad`, as `generate` calls it;
each in float32 and under bfloat16 autocast, in turn for --repeats rounds (the median is kept; one
warm-up round first). It does so twice, each time in a fresh process:
- **as this CPU is** (on the book's machines an AMD EPYC of the Zen 4 generation: AVX-512-BF16);
- **imitating a CPU without native bfloat16**: `ATEN_CPU_CAPABILITY=avx2` limits PyTorch's kernels to
  AVX2 and `ONEDNN_MAX_CPU_ISA=AVX2` limits oneDNN's (the convolutions), as on an AMD Zen 3 or most
  laptops. bfloat16 is then emulated, as it is there.
Each record names the CPU, PyTorch's capability, and the precision `auto` resolves to there.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

KINDS = {"as this CPU is": {},
         "imitating a CPU without native bfloat16": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}}


def measure(repeats: int) -> dict:
    """In this process: the median seconds of each task in each format, and what `auto` picks."""
    import torch

    from diffusion_lite.checkpoints import build_model, get_recipe
    from diffusion_lite.precision import autocast, cpu_name, native_bf16, resolve
    torch.set_num_threads(1)
    torch.manual_seed(0)
    ddpm = build_model(get_recipe("fashion-ddpm"))
    g = torch.Generator().manual_seed(0)
    train_x, sample_x = torch.randn(32, 1, 28, 28, generator=g), torch.randn(100, 1, 28, 28, generator=g)

    def train_step():
        loss = ddpm.loss(train_x, torch.Generator().manual_seed(0))
        loss.backward()

    def sample_call():
        with torch.no_grad():
            ddpm.network(sample_x, torch.full((100,), 500))

    tasks = {"train step, 32 images": train_step, "sampling call, 100 images": sample_call}
    seconds = {(task, fmt): [] for task in tasks for fmt in ("float32", "bf16")}
    for round_ in range(repeats + 1):
        for (task, fmt), times in seconds.items():
            t0 = time.perf_counter()
            with autocast(fmt):
                tasks[task]()
            if round_:  # round 0 warms up
                times.append(time.perf_counter() - t0)
    median = {key: sorted(times)[len(times) // 2] for key, times in seconds.items()}
    return {"cpu": cpu_name(), "capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": native_bf16()[0], "evidence": native_bf16()[1], "auto": resolve("auto"),
            "tasks": {task: {"float32_seconds": round(median[task, "float32"], 4),
                             "bf16_seconds": round(median[task, "bf16"], 4),
                             "bf16_speedup": round(median[task, "float32"] / median[task, "bf16"], 2)}
                      for task in tasks}}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/precision.json")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.repeats)))
        return
    import torch
    kinds = {}
    for kind, env in KINDS.items():
        out = subprocess.run([sys.executable, __file__, "--measure", "--repeats", str(args.repeats)],
                             env={**os.environ, **env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                             check=True).stdout
        kinds[kind] = {"environment": env, **json.loads(out.splitlines()[-1])}
        print(kind, json.dumps(kinds[kind], indent=2))
    result = {"date": date.today().isoformat(), "torch": torch.__version__, "threads": 1, "kinds": kinds}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
