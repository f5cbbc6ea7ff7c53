"""The probability-flow ODE of `fashion_ddpm`, integrated by an adaptive solver, against DDIM and DPM-Solver++
at the same number of network calls (issue 35, chapter 12).

    .venv/bin/python benchmarks/probability_flow.py

`samplers.probability_flow` writes the model's ODE in log σ; `generation.ode_sample` integrates it with
SciPy's `solve_ivp` (Dormand–Prince RK45, rtol = atol = each of `--tolerances`) for `--num` images at once
(one state, one step size for all: the network calls per image are the solver's function evaluations),
from the sampling grid's σ_max down to its σ_min, and one last call reads x̂0 there. Every run starts from the same noise (`--seed`), so the
samplers are compared image by image as well: the RMS distance (in [−1, 1] pixels) of each fixed-step
sample to the tightest ODE solution, and FID on the book classifier's features beside the real-vs-real
floor at the same N. DDIM and DPM-Solver++(2M) run at `--calls` (10, 20 and 50: the solver's looser runs
use about that many). None of them clips x̂0 (the checkpoint's `clip_x0` is switched off): clipping is not
part of the ODE, and the point is to compare solvers of one equation.

Results: benchmarks/results/probability_flow.json.
"""
import argparse
import json
import time
from datetime import date
from pathlib import Path

import torch

from diffusion_lite.checkpoints import load_ddpm
from diffusion_lite.datasets import from_model_range
from diffusion_lite.generation import SAMPLE_BATCH, ode_sample
from diffusion_lite.metrics import image_quality
from diffusion_lite.precision import cpu_name

OUT = Path("benchmarks/results/probability_flow.json")


def start_noise(num: int, shape: tuple, seed: int) -> torch.Tensor:
    """x_T as `generation.generate` draws it: batch after batch of SAMPLE_BATCH from one generator."""
    g = torch.Generator().manual_seed(seed)
    return torch.cat([torch.randn((min(SAMPLE_BATCH, num - i), *shape), generator=g) for i in range(0, num, SAMPLE_BATCH)])


def fixed_step(ddpm, x_T: torch.Tensor, sampler: str, steps: int) -> torch.Tensor:
    """`sampler` in `steps` trailing steps from exactly these x_T, SAMPLE_BATCH at a time: the x_T the RK45
    solves start from, passed in rather than redrawn, so that every solver starts where the reference does."""
    with torch.no_grad():
        return torch.cat([ddpm.sample(x.shape, start=x, sampler=sampler, num_steps=steps, spacing="trailing")
                          for x in x_T.split(SAMPLE_BATCH)]).clamp(-1, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="data/checkpoints/fashion_ddpm")
    parser.add_argument("--num", type=int, default=1000)
    parser.add_argument("--tolerances", type=float, nargs="+", default=[1e-2, 1e-3, 1e-4],
                        help="rtol = atol values for RK45, the tightest is the reference")
    parser.add_argument("--calls", type=int, nargs="+", default=[10, 20, 50], help="fixed-step call counts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    if args.num < 2 or args.threads < 1 or min(args.tolerances) <= 0 or min(args.calls) < 1:
        parser.error("--num must be >= 2, --threads and --calls >= 1 and --tolerances > 0")
    torch.set_num_threads(args.threads)
    ddpm, _, _ = load_ddpm(args.checkpoint)
    ddpm.clip_x0 = None  # the ODE itself, for every solver
    cfg = ddpm.network.config
    x_T = start_noise(args.num, (cfg.in_channels, cfg.image_size, cfg.image_size), args.seed)
    runs, images = {}, {}
    for tol in sorted(args.tolerances, reverse=True):
        t0 = time.perf_counter()
        images[f"rk45-{tol:g}"], calls = ode_sample(ddpm, x_T, tol)
        runs[f"rk45-{tol:g}"] = {"solver": "RK45", "tolerance": tol, "calls": calls,
                                 "seconds": time.perf_counter() - t0}
        print(f"RK45 tol {tol:g}: {calls} calls, {runs[f'rk45-{tol:g}']['seconds']:.0f} s", flush=True)
    for sampler in ("ddim", "dpmpp_2m"):
        for n in sorted(args.calls):
            t0 = time.perf_counter()
            images[f"{sampler}-{n}"] = fixed_step(ddpm, x_T, sampler, n)
            runs[f"{sampler}-{n}"] = {"solver": sampler, "calls": n, "seconds": time.perf_counter() - t0}
    reference = images[f"rk45-{min(args.tolerances):g}"]
    for key, x in images.items():
        quality = image_quality(from_model_range(x))
        runs[key].update(fid=quality["fid"], fid_floor=quality["fid_floor"],
                         rms_to_reference=float(((x - reference) ** 2).mean().sqrt()))
        print(f"{key:16s} {runs[key]['calls']:4d} calls  FID {quality['fid']:6.1f} (floor {quality['fid_floor']:.1f})"
              f"  RMS to the tightest ODE solution {runs[key]['rms_to_reference']:.4f}", flush=True)
    OUT_ = Path(args.out)
    OUT_.parent.mkdir(parents=True, exist_ok=True)
    OUT_.write_text(json.dumps({"checkpoint": args.checkpoint, "num_samples": args.num, "seed": args.seed,
                                "reference": f"rk45-{min(args.tolerances):g}", "runs": runs, "machine": cpu_name(),
                                "threads": args.threads, "torch": torch.__version__,
                                "date": date.today().isoformat()}, indent=2))


if __name__ == "__main__":
    main()
