"""The probability-flow ODE of `fashion_ddpm`, integrated by an adaptive solver, against DDIM and DPM-Solver++
at the same number of network calls (issue 35, chapter 12).

    .venv/bin/python benchmarks/probability_flow.py

`samplers.probability_flow` writes the model's ODE in log σ; SciPy's `solve_ivp` (Dormand–Prince RK45,
`--rtol`, `--atol`) integrates it for `--num` images at once (one state, one step size for all: the
network calls per image are the solver's function evaluations), from the sampling grid's σ_max down to
its σ_min, and one last call reads x̂0 there. Every run starts from the same noise (`--seed`), so the
samplers are compared image by image as well: the RMS distance (in [−1, 1] pixels) of each fixed-step
sample to the tightest ODE solution, and FID on the book classifier's features beside the real-vs-real
floor at the same N. DDIM and DPM-Solver++(2M) run at `--calls` (10, 20 and 50: the solver's looser runs
use about that many). None of them clips x̂0 (the checkpoint's `clip_x0` is switched off): clipping is not
part of the ODE, and the point is to compare solvers of one equation.

Results: benchmarks/results/probability_flow.json.
"""
import argparse
import json
import math
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from scipy.integrate import solve_ivp

from diffusion_lite.checkpoints import load_ddpm
from diffusion_lite.datasets import from_model_range
from diffusion_lite.generation import SAMPLE_BATCH, generate
from diffusion_lite.metrics import image_quality
from diffusion_lite.precision import autocast, cpu_name
from diffusion_lite.samplers import probability_flow, sigma_at

OUT = Path("benchmarks/results/probability_flow.json")


def start_noise(num: int, shape: tuple, seed: int) -> torch.Tensor:
    """x_T as `generation.generate` draws it: batch after batch of SAMPLE_BATCH from one generator."""
    g = torch.Generator().manual_seed(seed)
    return torch.cat([torch.randn((min(SAMPLE_BATCH, num - i), *shape), generator=g) for i in range(0, num, SAMPLE_BATCH)])


@torch.no_grad()
def solve_ode(ddpm, x_T: torch.Tensor, rtol: float, atol: float, precision: str = "auto") -> tuple[torch.Tensor, int]:
    """(images in [−1, 1], network calls per image) from the probability-flow ODE solved by RK45."""
    grid = ddpm.grid or ddpm.schedule
    sigma_max, sigma_min = sigma_at(grid, grid.num_timesteps - 1), sigma_at(grid, 0)
    f = probability_flow(ddpm.network, ddpm.schedule, ddpm.prediction_type)
    shape = x_T.shape

    def batched(log_sigma, x):  # the network on SAMPLE_BATCH images at a time, as generate() does
        with autocast(precision):
            return torch.cat([f(log_sigma, x[i:i + SAMPLE_BATCH]).float() for i in range(0, len(x), SAMPLE_BATCH)])

    def fun(log_sigma, y):
        return batched(log_sigma, torch.from_numpy(y).float().view(shape)).double().numpy().ravel()

    x_tilde = x_T.double() * math.sqrt(1 + sigma_max**2)  # x̃ = x_T/√ᾱ
    sol = solve_ivp(fun, (math.log(sigma_max), math.log(sigma_min)), x_tilde.numpy().ravel(), method="RK45",
                    rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    x_end = torch.from_numpy(sol.y[:, -1]).float().view(shape)
    eps = batched(math.log(sigma_min), x_end) / sigma_min  # one more call: x̂0 = x̃ − σ·ε̂ at σ_min
    x0 = (x_end - sigma_min * eps).clamp(-1, 1)
    return x0, sol.nfev + 1


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
        images[f"rk45-{tol:g}"], calls = solve_ode(ddpm, x_T, tol, tol)
        runs[f"rk45-{tol:g}"] = {"solver": "RK45", "tolerance": tol, "calls": calls,
                                 "seconds": time.perf_counter() - t0}
        print(f"RK45 tol {tol:g}: {calls} calls, {runs[f'rk45-{tol:g}']['seconds']:.0f} s", flush=True)
    for sampler in ("ddim", "dpmpp_2m"):
        for n in sorted(args.calls):
            t0 = time.perf_counter()
            images[f"{sampler}-{n}"] = generate(ddpm, args.num, sampler, n, args.seed, progress=False)
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
