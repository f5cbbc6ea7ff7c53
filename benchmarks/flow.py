"""Flow matching against DDPM on the same network and the same budget (issue 35, chapter 12).

    .venv/bin/python benchmarks/flow.py                      # both arms, 15 minutes of training each
    .venv/bin/python benchmarks/flow.py --arms flow --minutes 1 --num 200 --out /tmp/flow   # a quick look

Arms (one change between them): `ddpm`, fashion-quick's UNet and training with fashion-ddpm's objective
(v-prediction, cosine ᾱ, min-SNR-5, sampled at the linear schedule's noise levels), and `flow`, the recipe
`fashion-flow`: the same UNet and training, the objective flow matching on the linear path. Each arm is
sized by a probe of `--probe-seconds` (keep the machine idle meanwhile) to `--minutes` of training on
`--threads` threads, trained through the package's `Trainer`, saved with `checkpoints.save_model` under
`--runs`/ARM, then scored: `--num` images at 5, 10, 20 and 50 network calls with DDIM (which is the
flow's own Euler step), DPM-Solver++(2M) and Heun (10 and 20 calls: 5 and 10 steps, less one call), FID
on the book classifier's features beside the real-vs-real floor at the same N; and the straightness of
50-step DDIM paths of 200 images, chord over path length (1 = a straight line), in each model's own
coordinates (the line's states for the flow, x_t for the DDPM).

Each arm writes `--out`/ARM.json when it finishes; a rerun skips the arms that have one.
"""
import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import torch

from diffusion_lite.checkpoints import DDPMConfig, build_ddpm, get_recipe, save_model
from diffusion_lite.datasets import from_model_range, load_fashion_mnist, to_model_range
from diffusion_lite.flow import FlowMatching, straightness
from diffusion_lite.generation import generate
from diffusion_lite.metrics import image_quality
from diffusion_lite.precision import cpu_name, resolve
from diffusion_lite.training import Trainer

sys.path.insert(0, str(Path(__file__).parent))
from train_budget import train_for  # noqa: E402

ARMS = ("ddpm", "flow")
CALLS = (5, 10, 20, 50)
SETTINGS = [("ddim", n, n) for n in CALLS] + [("dpmpp_2m", n, n) for n in CALLS] + [("heun", 10, 5), ("heun", 20, 10)]


def arm_recipe(name: str):
    if name == "flow":
        return get_recipe("fashion-flow")
    recipe = get_recipe("fashion-quick")
    recipe.ddpm = DDPMConfig(min_snr_gamma=5.0, prediction_type="v_prediction", schedule="cosine",
                             sampling_schedule="linear")
    return recipe


def path_straightness(model, num: int = 200, steps: int = 50, seed: int = 0) -> float:
    """Mean over `num` images of `flow.straightness` along a `steps`-step DDIM path, on the line for a flow."""
    cfg = model.network.config
    with torch.no_grad():
        _, states = model.sample((num, cfg.in_channels, cfg.image_size, cfg.image_size), sampler="ddim",
                                 num_steps=steps, spacing="trailing", return_trajectory=True,
                                 generator=torch.Generator().manual_seed(seed))
    if isinstance(model, FlowMatching):
        states = model.on_line(states, steps)
    return float(straightness(states).mean())


def run_arm(name: str, data: torch.Tensor, seconds: float, num: int, probe_seconds: float, runs: Path) -> dict:
    recipe = arm_recipe(name)
    torch.manual_seed(recipe.train.seed)
    trainer = Trainer(build_ddpm(recipe), data, recipe.train)
    trainer.train(until=5, progress=False)  # warm-up, not timed
    probe_steps, probe_time = train_for(lambda: trainer.train(until=trainer.step + 1, progress=False), probe_seconds)
    recipe.train.steps = max(20, int(seconds * probe_steps / probe_time))
    torch.manual_seed(recipe.train.seed)
    trainer = Trainer(build_ddpm(recipe), data, recipe.train)
    t0 = time.perf_counter()
    trainer.train(progress=True)
    train_seconds = time.perf_counter() - t0
    model = trainer.ema.eval()
    save_model(model, recipe, runs / name, {"steps": recipe.train.steps, "train_seconds": train_seconds})
    result = {"steps": recipe.train.steps, "batch_size": recipe.train.batch_size, "train_seconds": train_seconds,
              "images_per_second": recipe.train.steps * recipe.train.batch_size / train_seconds,
              "precision": resolve(recipe.train.precision), "samples": {}}
    for sampler, calls, steps in SETTINGS:
        t0 = time.perf_counter()
        x = generate(model, num, sampler, steps, seed=0, progress=False, workers=2)
        quality = image_quality(from_model_range(x))
        result["samples"][f"{sampler}-{calls}"] = {"sampler": sampler, "calls": calls, "steps": steps,
                                                   "fid": quality["fid"], "fid_floor": quality["fid_floor"],
                                                   "sample_seconds": time.perf_counter() - t0}
        print(f"  {name} {sampler:9s} {calls:3d} calls: FID {quality['fid']:.1f} (floor {quality['fid_floor']:.1f})",
              flush=True)
    result["straightness"] = path_straightness(model)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--probe-seconds", type=float, default=30.0)
    parser.add_argument("--num", type=int, default=1000, help="samples for FID")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", default="data/runs/flow-bench", help="where each arm's model is saved")
    parser.add_argument("--out", default="benchmarks/results/flow")
    args = parser.parse_args()
    if args.minutes <= 0 or args.probe_seconds <= 0 or args.threads < 1 or args.num < 2:
        parser.error("--minutes and --probe-seconds must be > 0, --threads >= 1 and --num >= 2")
    torch.set_num_threads(args.threads)
    data = to_model_range(load_fashion_mnist("train")[0])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.arms:
        if (out / f"{name}.json").exists():
            print(f"== {name}: done, skipped ({out / name}.json)")
            continue
        print(f"== {name}: {args.minutes} min", flush=True)
        r = run_arm(name, data, 60 * args.minutes, args.num, args.probe_seconds, Path(args.runs))
        r.update(arm=name, minutes=args.minutes, num_samples=args.num, machine=cpu_name(), threads=args.threads,
                 torch=torch.__version__, date=date.today().isoformat())
        (out / f"{name}.json").write_text(json.dumps(r, indent=2))
    print(f"\n{'arm':6s} {'steps':>6s} {'img/s':>6s} " + " ".join(f"{s[:5]}-{c:<3d}" for s, c, _ in SETTINGS)
          + "  straight")
    for name in ARMS:
        if (out / f"{name}.json").exists():
            r = json.loads((out / f"{name}.json").read_text())
            print(f"{name:6s} {r['steps']:6d} {r['images_per_second']:6.0f} "
                  + " ".join(f"{r['samples'][f'{s}-{c}']['fid']:9.1f}" for s, c, _ in SETTINGS)
                  + f"  {r['straightness']:.3f}")


if __name__ == "__main__":
    main()
