"""Quality against network calls for every sampler, and the guidance sweep of a conditional model.

    .venv/bin/python benchmarks/sampling.py samplers --checkpoint data/checkpoints/fashion_ddpm \
        --out benchmarks/results/samplers.json
    .venv/bin/python benchmarks/sampling.py guidance --checkpoint data/checkpoints/fashion_cfg \
        --out benchmarks/results/guidance.json

`samplers` draws --num images (same seed) with each sampler at several step counts and records the
network calls per image, the wall-clock seconds per 1,000 images (2 threads, precision "auto", batches
of 100), and FID/KID on the book classifier's features beside the real-vs-real floor at the same N.
Euler is not run separately: it is DDIM with η = 0, step for step (tests/test_samplers.py).
`guidance` draws --num images, the ten classes in turn, at each guidance scale w with one sampler, and
records class accuracy by the book classifier beside FID/KID. `cache` draws --num images with a few
samplers, each with the whole UNet run on every call and on every 2nd, 3rd or 5th call only
(`unet.DeepCache`, chapter 05), and records seconds and FID/KID; run it with nothing else running, as
its seconds are the point:

    .venv/bin/python benchmarks/sampling.py cache --checkpoint data/checkpoints/fashion_ddpm \
        --out benchmarks/results/deepcache.json

`last` draws --num images with a few samplers whose steps end at different timesteps before the final
step to the clean image: "trailing" spacing (last_t = T/steps − 1) against the steps evenly spaced from
T − 1 down to a fixed last_t (chapter 05, section 6), on more than one seed where the gap matters:

    .venv/bin/python benchmarks/sampling.py last --checkpoint data/checkpoints/fashion_ddpm \
        --out benchmarks/results/last_step.json

The same grids on the book's two earlier checkpoints are kept beside them: the recipe with linear βs
(v-prediction; the shipped checkpoint on 2026-11-27, `git show df69be6:data/checkpoints/fashion_ddpm.safetensors`
and its .json) as `samplers_vlinear.json`, `deepcache_vlinear.json`, `last_step_vlinear.json` and
`formats_vlinear.json`, and the one before it, with ε-prediction (`git show 10c98bb:...`), as
`samplers_eps.json`, `deepcache_eps.json`, `last_step_eps.json` and `formats_eps.json`; benchmarks/RESULTS.md
compares them. `guidance_eps.json` is the guidance sweep of the conditional checkpoint before it moved
to v-prediction and the cosine schedule (`git show 22508cb:data/checkpoints/fashion_cfg.safetensors`).

`grid` draws --num images with DDIM-50, DPM-Solver++-20 and Heun-10 from a checkpoint trained on one
schedule and sampled at another's noise levels (`sampling_schedule`, chapter 05, section 6), once at
each schedule's own trailing timesteps:

    .venv/bin/python benchmarks/sampling.py grid --checkpoint data/checkpoints/fashion_ddpm \
        --out benchmarks/results/grid.json

`formats` draws --num DDIM-50 images with the network in float32, under bfloat16 autocast (the book's
setting) and with its weights stored in bfloat16 (no autocast), the number formats that
`benchmarks/levers.py` times (chapter 03, section 6), on three seeds, and records seconds and FID/KID;
float32 and autocast again with the steps ending at t = 74 (as in `last`):

    .venv/bin/python benchmarks/sampling.py formats --checkpoint data/checkpoints/fashion_ddpm \
        --out benchmarks/results/formats.json

`workers` times DDIM-50 on --num images with one batch at a time on --threads threads against a batch
per core (`generate(..., workers=--threads)`, each batch on one torch thread; chapter 03, section 6),
each with the whole network on every call and on every 2nd: the four in turn, round after round
(--rounds), so that the machine's drift reaches them alike; it records each round's seconds per
1,000 images and their median (quality is the same network's: `workers` changes only which noise
each batch draws):

    .venv/bin/python benchmarks/sampling.py workers --checkpoint data/checkpoints/fashion_ddpm \
        --out benchmarks/results/workers.json

(with --num a multiple of 100 × --threads, so that every core gets as many batches)

Results are written after every entry,
and entries already in --out are kept and skipped, so an interrupted run resumes where it stopped.
`timing` re-times every entry of --out with --num images on --threads threads and nothing else running,
and replaces its seconds per 1,000 images (the quality runs may share the machine; this one should not):

    .venv/bin/python benchmarks/sampling.py timing --checkpoint data/checkpoints/fashion_ddpm --num 300 \
        --out benchmarks/results/samplers.json
"""
import argparse
import copy
import json
import math
import statistics
import time
from datetime import date
from pathlib import Path

import torch

from diffusion_lite.generation import SAMPLE_BATCH, generate, sample_labels
from diffusion_lite.precision import cpu_name
from diffusion_lite.checkpoints import load_model
from diffusion_lite.datasets import from_model_range
from diffusion_lite.metrics import image_quality
from diffusion_lite.samplers import network_calls
from diffusion_lite.schedules import NoiseSchedule

SAMPLER_GRID = {"dpmpp_2m": [5, 10, 20], "ddim": [10, 20, 50], "heun": [5, 10, 25], "ddpm": [20, 100, 1000]}
GUIDANCE_SCALES = [0.0, 1.0, 2.0, 3.0, 5.0]
CACHE_GRID = {("ddim", 50): [1, 2, 3, 5], ("dpmpp_2m", 20): [1, 2], ("heun", 10): [1, 2]}  # (sampler, steps): every
FORMATS = ("float32", "bfloat16 autocast", "bfloat16 weights")  # how the network computes, for `formats`
FORMAT_SEEDS = (0, 1, 2)
FORMAT_GRID = ((None, FORMATS), (74, FORMATS[:2]))  # (last_t, formats): all with trailing spacing, two at t = 74
# (sampler, steps, cache_every, seed): last timesteps, None for "trailing"
GRID_GRID = [("ddim", 50), ("dpmpp_2m", 20), ("heun", 10)]  # for `grid`, each at both schedules' noise levels
LAST_GRID = {("ddim", 50, 1, 0): [None, 49, 74, 99, 124], **{("ddim", 50, 1, seed): [None, 74] for seed in (1, 2)},
             ("dpmpp_2m", 20, 1, 0): [None, 74, 99], ("heun", 10, 1, 0): [None, 49, 74], ("ddim", 50, 3, 0): [None, 74],
             **{("heun", 10, 1, seed): [None, 74] for seed in (1, 2, 3)}}


class Bfloat16Weights(torch.nn.Module):
    """A copy of `network` with its weights in bfloat16, run without autocast: inputs cast in, outputs out."""

    def __init__(self, network):
        super().__init__()
        self.network, self.config = copy.deepcopy(network).to(torch.bfloat16), network.config

    def forward(self, x, t, *args):
        return self.network(x.to(torch.bfloat16), t, *args).float()


def measure(ddpm, num, sampler, steps, labels=None, w=1.0, cache_every=1, last_t=None, seed=0,
            format="auto", noise_levels_of=None):
    """One sampling run, timed and scored. `format` is a precision ("auto": the package's choice for this CPU)
    or one of FORMATS."""
    network, grid = ddpm.network, ddpm.grid
    if format == "bfloat16 weights":
        ddpm.network = Bfloat16Weights(network)
    if noise_levels_of is not None:  # a schedule kind; the training schedule's own kind visits its own t's
        ddpm.grid = NoiseSchedule.make(noise_levels_of, ddpm.timesteps)
    try:
        t0 = time.perf_counter()
        x = generate(ddpm, num, sampler, steps, seed=seed, labels=labels, guidance_scale=w, cache_every=cache_every,
                     last_t=last_t, precision={"float32": "float32", "bfloat16 autocast": "bf16",
                                               "bfloat16 weights": "float32"}.get(format, format))
        seconds = time.perf_counter() - t0
        visited = ddpm.sampling_timesteps(steps, "trailing" if last_t is None else "linspace", last_t)
    finally:
        ddpm.network, ddpm.grid = network, grid
    quality = image_quality(from_model_range(x), labels)
    calls = network_calls(sampler, len(visited)) * (1 if labels is None or w in (0.0, 1.0) else 2)
    cache = {} if cache_every == 1 else {"full_network_calls": math.ceil(calls / cache_every)}
    return {"sampler": sampler, "steps": steps, "network_calls": calls, **cache,
            "seconds_per_1000": round(seconds * 1000 / num, 1),
            **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in quality.items()}}


def retime(ddpm, results, args, out):
    num_classes = ddpm.network.config.num_classes
    labels = sample_labels("all", args.num, num_classes) if num_classes else None
    generate(ddpm, min(args.num, 50), "ddim", 2, seed=0, progress=False)  # warm-up, not timed
    for e in results["entries"]:
        t0 = time.perf_counter()
        generate(ddpm, args.num, e["sampler"], e["steps"], seed=0, progress=False, labels=labels,
                 guidance_scale=e.get("guidance_scale", 1.0))
        e["seconds_per_1000"] = round((time.perf_counter() - t0) * 1000 / args.num, 1)
        print(e["sampler"], e["steps"], e.get("guidance_scale", ""), e["seconds_per_1000"], "s per 1000", flush=True)
    results["timing"] = {"images": args.num, "threads": args.threads, "batch_size": SAMPLE_BATCH}
    out.write_text(json.dumps(results, indent=1))


def time_workers(ddpm, args, out):
    """Seconds per 1,000 DDIM-50 images, one batch at a time against a batch per core, in rounds."""
    configs = [{"workers": w, "cache_every": every} for every in (1, 2) for w in (1, args.threads)]
    generate(ddpm, 2 * SAMPLE_BATCH, "ddim", 2, seed=0, progress=False, workers=args.threads)  # warm-up
    seconds = [[] for _ in configs]
    for r in range(args.rounds):
        for c, times in zip(configs, seconds):
            t0 = time.perf_counter()
            generate(ddpm, args.num, "ddim", 50, seed=r, progress=False, **c)
            times.append(round((time.perf_counter() - t0) * 1000 / args.num, 1))
            print(f"round {r}", c, times[-1], "s per 1000", flush=True)
    entries = [{"sampler": "ddim", "steps": 50, **c, "seconds_per_1000": times,
                "median_seconds_per_1000": statistics.median(times)} for c, times in zip(configs, seconds)]
    results = {"checkpoint": args.checkpoint, "num_images": args.num, "threads": args.threads,
               "batch_size": SAMPLE_BATCH, "rounds": args.rounds, "date": date.today().isoformat(),
               "machine": cpu_name(), "torch": torch.__version__,
               "entries": entries}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("samplers", "guidance", "cache", "last", "grid", "formats", "timing",
                                         "workers"))
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--num", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sampler", default="dpmpp_2m", help="guidance mode: the sampler (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=20, help="guidance mode: its steps (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="workers mode: rounds of the four timings")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.num < 1 or args.threads < 1 or args.rounds < 1:
        parser.error("--num, --threads and --rounds must be >= 1")
    if args.mode == "workers" and args.threads < 2:
        parser.error("workers compares one batch at a time with a batch per core, so it needs --threads >= 2")
    torch.set_num_threads(args.threads)
    ddpm, recipe, meta = load_model(args.checkpoint)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    if args.mode != "timing":
        results.update({"checkpoint": args.checkpoint, "num_images": args.num, "threads": args.threads,
                        "machine": cpu_name(), "torch": torch.__version__})
    if args.mode == "timing":
        return retime(ddpm, results, args, out)
    if args.mode == "workers":
        return time_workers(ddpm, args, out)
    entries = results.setdefault("entries", [])
    if args.mode == "samplers":
        jobs = [{"sampler": s, "steps": n} for s, steps in SAMPLER_GRID.items() for n in steps]
    elif args.mode == "cache":
        jobs = [{"sampler": s, "steps": n, "cache_every": every} for (s, n), everys in CACHE_GRID.items()
                for every in everys]
    elif args.mode == "last":
        jobs = [{"sampler": s, "steps": n, "cache_every": every, "seed": seed, "last_t": last}
                for (s, n, every, seed), lasts in LAST_GRID.items() for last in lasts]
    elif args.mode == "grid":
        kinds = (recipe.ddpm.schedule, recipe.ddpm.sampling_schedule)
        if kinds[1] in (None, kinds[0]):
            raise ValueError(f"grid compares a checkpoint's two schedules, but {args.checkpoint} is sampled at its "
                             f"training schedule's own timesteps (sampling_schedule {kinds[1]!r})")
        jobs = [{"sampler": s, "steps": n, "noise_levels_of": kind} for s, n in GRID_GRID for kind in kinds]
    elif args.mode == "formats":
        jobs = [{"sampler": "ddim", "steps": 50, "seed": seed, "format": f, "last_t": last}
                for last, formats in FORMAT_GRID for seed in FORMAT_SEEDS for f in formats]
    else:
        jobs = [{"sampler": args.sampler, "steps": args.steps, "guidance_scale": w} for w in GUIDANCE_SCALES]
    labels = sample_labels("all", args.num, ddpm.network.config.num_classes) if args.mode == "guidance" else None
    if args.mode in ("cache", "last", "formats"):
        generate(ddpm, 50, "ddim", 2, seed=0, progress=False)  # warm-up, not timed
    for key in jobs:
        if any(all(e.get(k) == v for k, v in key.items()) for e in entries if e.get("num_images") == args.num):
            continue
        options = {"w" if k == "guidance_scale" else k: v for k, v in key.items() if k not in ("sampler", "steps")}
        entry = measure(ddpm, args.num, key["sampler"], key["steps"], labels, **options)
        entries.append({**key, **entry})
        print(json.dumps({k: v for k, v in entries[-1].items() if k != "class_shares"}), flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
