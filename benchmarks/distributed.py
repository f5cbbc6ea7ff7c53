"""Training images/s with one process and with two data-parallel processes on this machine (issue 35, chapter 12).

    .venv/bin/python benchmarks/distributed.py

Trains `--recipe` (fashion-quick) for `--steps` steps with the command line, three ways, each into a fresh
folder under `--runs`: one process on 1 thread, one process on 2 threads, and
`torchrun --nproc_per_node 2 -m diffusion_lite train` (two processes of 1 thread each, gloo, each on half of
every batch of 64). Each run's images/s is the one its checkpoint records (training steps only, no start-up);
the wall time of the whole command, start-up included, is recorded beside it. The two-process run takes the
same steps as the one-process runs (tests/test_distributed.py checks it), so their quality is the same:
only the speed differs.

Results: benchmarks/results/distributed.json.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import torch

from diffusion_lite.precision import cpu_name

OUT = Path("benchmarks/results/distributed.json")
SETUPS = {"1 process x 1 thread": (1, 1), "1 process x 2 threads": (1, 2), "2 processes x 1 thread": (2, 1)}


def run(recipe: str, steps: int, processes: int, threads: int, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    command = ["train", "--recipe", recipe, "--steps", str(steps), "--threads", str(threads), "--out", str(out)]
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), "-m",
                 "diffusion_lite"] if processes > 1 else [sys.executable, "-m", "diffusion_lite"])
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    t0 = time.perf_counter()
    subprocess.run(launcher + command, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    meta = json.loads((out / "model.json").read_text())["metadata"]
    return {"processes": processes, "threads_per_process": threads, "steps": meta["steps"],
            "images_per_second": meta["images_per_second"], "train_seconds": meta["train_seconds"],
            "wall_seconds": wall, "precision": meta["precision"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="fashion-quick")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--runs", default="data/runs/distributed")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    results = {}
    for name, (processes, threads) in SETUPS.items():
        results[name] = run(args.recipe, args.steps, processes, threads, Path(args.runs) / name.replace(" ", ""))
        r = results[name]
        print(f"{name:24s} {r['images_per_second']:7.1f} images/s  ({r['train_seconds']:.0f} s training, "
              f"{r['wall_seconds']:.0f} s in all)", flush=True)
    Path(args.out).write_text(json.dumps({"recipe": args.recipe, "setups": results, "machine": cpu_name(),
                                          "cores": os.cpu_count(), "torch": torch.__version__,
                                          "date": date.today().isoformat()}, indent=2))


if __name__ == "__main__":
    main()
