"""Train image diffusion models for the same wall-clock budget on this CPU and compare them side by side.

    .venv/bin/python benchmarks/train_budget.py --minutes 15 --models fashion-ddpm fashion-probe diffusers

For each model: measure training speed (images/s) on a few steps, size the run to the budget (so the
learning-rate schedule decays over exactly the budget), train, draw 1,000 samples with DDIM (50 steps,
EMA weights where the recipe has them), and report FID/KID on the book classifier's features next to
the real-vs-real floor at the same sample size. Models:
- any recipe name of `diffusion_lite.checkpoints.RECIPES` (the book's recipe, the issue's CPU probe),
  including latent recipes such as `fashion-ldm`: the DDPM on a trained autoencoder's latents (the
  autoencoder's own training is not in the budget; encoding the data once is reported apart, as
  `encode_seconds`);
- `diffusers`: diffusers' `UNet2DModel` in its course configuration for small images (32×32 input,
  channels 32/64/64, two res blocks per level, attention at 16×16 and 8×8: 1.7 M parameters, 2.3 GFLOP
  per training image), `DDPMScheduler` for training and `DDIMScheduler` for sampling, fp32, AdamW 1e-3.
  Fashion-MNIST is padded from 28 to 32 pixels with the background value and cropped back.
- `lucidrains`: `denoising-diffusion-pytorch`'s `Unet(dim=32, dim_mults=(1, 2, 2))` with its
  `GaussianDiffusion` (defaults: sigmoid schedule, v-prediction; DDIM with `sampling_timesteps=50`),
  fp32, AdamW 1e-3, batch 128. It needs torchvision and another torch, so it runs in its own
  environment (benchmarks/RESULTS.md gives the commands), with the same --out: results are merged into the file
  by model.
Results are printed as a table and written to --out as JSON.
"""
import argparse
import json
import time
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F

from diffusion_lite.precision import cpu_name
from diffusion_lite.checkpoints import RECIPES, Recipe, build_ddpm, build_model, get_recipe
from diffusion_lite.datasets import from_model_range, load_fashion_mnist, to_model_range
from diffusion_lite.generation import generate
from diffusion_lite.metrics import image_quality
from diffusion_lite.pipeline import LatentDDPM
from diffusion_lite.training import Trainer


def load_recipe(name):
    """A recipe by name, or from a JSON file in the `Recipe.to_dict` layout."""
    return Recipe.from_dict(json.loads(Path(name).read_text())) if name.endswith(".json") else get_recipe(name)


def run_recipe(name, data, seconds, num, probe_seconds=30):
    recipe = load_recipe(name)
    torch.manual_seed(recipe.train.seed)
    model, extra = build_model(recipe), {}
    if recipe.kind == "ldm":  # the autoencoder (trained beforehand) encodes the data once; the DDPM learns latents
        t0 = time.perf_counter()
        data = model.encode(data)
        extra = {"latent": True, "encode_seconds": time.perf_counter() - t0}
    network = (lambda: build_model(recipe).ddpm) if recipe.kind == "ldm" else (lambda: build_ddpm(recipe))
    trainer = Trainer(network(), data, recipe.train)
    trainer.train(until=5, progress=False)  # warm-up, not timed
    # Size the run from `probe_seconds` of steps: a few steps undershoot (an 8-step probe once sized a
    # 15-minute run at 72 % of the steps the machine then took).
    probe_steps, probe_time = train_for(lambda: trainer.train(until=trainer.step + 1, progress=False), probe_seconds)
    rate = probe_steps * recipe.train.batch_size / probe_time
    recipe.train.steps = max(20, int(seconds * rate / recipe.train.batch_size))
    torch.manual_seed(recipe.train.seed)
    trainer = Trainer(network(), data, recipe.train)
    t0 = time.perf_counter()
    trainer.train(progress=True)
    train_seconds = time.perf_counter() - t0
    trainer.ema.eval()
    sampled = LatentDDPM(trainer.ema, model.vae, recipe.latent.image_size) if recipe.kind == "ldm" else trainer.ema
    t0 = time.perf_counter()
    x = generate(sampled, num, "ddim", 50, seed=0, progress=False)
    return {"steps": recipe.train.steps, "batch_size": recipe.train.batch_size, "train_seconds": train_seconds,
            "images_per_second": recipe.train.steps * recipe.train.batch_size / train_seconds,
            "params": sum(p.numel() for p in trainer.model.parameters()),
            "sample_seconds": time.perf_counter() - t0, "images": from_model_range(x), **extra}


def train_for(step, seconds: float) -> tuple[int, float]:
    """Run a training `step` until `seconds` of training have passed, after one untimed warm-up step.
    Peers train this way (constant learning rate, nothing to size in advance); recipes are sized by a
    short run of it. Returns (steps, seconds)."""
    step()
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        steps += 1
    return steps, time.perf_counter() - t0


def run_diffusers(data, seconds, num, batch_size=128, lr=1e-3):
    from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel
    torch.manual_seed(0)
    net = UNet2DModel(sample_size=32, in_channels=1, out_channels=1, layers_per_block=2,
                      block_out_channels=(32, 64, 64),
                      down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
                      up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"))
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    opt = torch.optim.AdamW(net.parameters(), lr=lr)
    data = F.pad(data, (2, 2, 2, 2), value=-1.0)  # 28 -> 32, background is -1
    g = torch.Generator().manual_seed(0)

    def step():
        x0 = data[torch.randint(0, len(data), (batch_size,), generator=g)]
        noise = torch.randn(x0.shape, generator=g)
        t = torch.randint(0, 1000, (batch_size,), generator=g)
        loss = F.mse_loss(net(sched.add_noise(x0, noise, t), t).sample, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()

    steps, train_seconds = train_for(step, seconds)
    net.eval()
    ddim = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    ddim.set_timesteps(50)
    t0 = time.perf_counter()
    out = []
    with torch.no_grad():
        for start in range(0, num, 250):
            x = torch.randn(min(250, num - start), 1, 32, 32, generator=g)
            for t in ddim.timesteps:
                x = ddim.step(net(x, t).sample, t, x).prev_sample
            out.append(x[:, :, 2:30, 2:30])
    return {"steps": steps, "batch_size": batch_size, "train_seconds": train_seconds,
            "images_per_second": steps * batch_size / train_seconds,
            "params": sum(p.numel() for p in net.parameters()),
            "sample_seconds": time.perf_counter() - t0, "images": from_model_range(torch.cat(out))}


def run_lucidrains(data, seconds, num, batch_size=128, lr=1e-3):
    from denoising_diffusion_pytorch import GaussianDiffusion, Unet
    torch.manual_seed(0)
    diffusion = GaussianDiffusion(Unet(dim=32, dim_mults=(1, 2, 2), channels=1), image_size=28,
                                  timesteps=1000, sampling_timesteps=50)
    opt = torch.optim.AdamW(diffusion.parameters(), lr=lr)
    data = (data + 1) / 2  # it takes images in [0, 1] and rescales them itself
    g = torch.Generator().manual_seed(0)

    def step():
        loss = diffusion(data[torch.randint(0, len(data), (batch_size,), generator=g)])  # draws t and ε itself
        opt.zero_grad()
        loss.backward()
        opt.step()

    steps, train_seconds = train_for(step, seconds)
    diffusion.eval()
    torch.manual_seed(0)  # its sampler draws from the global generator
    t0 = time.perf_counter()
    with torch.no_grad():
        out = torch.cat([diffusion.sample(batch_size=min(250, num - start)) for start in range(0, num, 250)])
    return {"steps": steps, "batch_size": batch_size, "train_seconds": train_seconds,
            "images_per_second": steps * batch_size / train_seconds,
            "params": sum(p.numel() for p in diffusion.model.parameters()),
            "sample_seconds": time.perf_counter() - t0, "images": from_model_range(out * 2 - 1)}


PEERS = {"diffusers": run_diffusers, "lucidrains": run_lucidrains}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--models", nargs="+", default=["fashion-ddpm", "fashion-probe", "diffusers"],
                        help=f"recipes {tuple(RECIPES)}, recipe JSON files, 'diffusers' or 'lucidrains'")
    parser.add_argument("--num", type=int, default=1000, help="samples for FID/KID")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/train_budget.json")
    args = parser.parse_args()
    for m in args.models:
        if m not in RECIPES and m not in PEERS and not (m.endswith(".json") and Path(m).is_file()):
            parser.error(f"unknown model {m!r}; choose from {tuple(RECIPES) + tuple(PEERS)} or a recipe .json file")
    torch.set_num_threads(args.threads)
    data = to_model_range(load_fashion_mnist("train")[0])
    results = {"machine": cpu_name(), "threads": args.threads,
               "minutes": args.minutes, "num_samples": args.num, "models": {}}
    out = Path(args.out)
    if out.exists():  # add to an earlier run with the same budget (e.g. a peer run in its own environment)
        earlier = json.loads(out.read_text())
        if (earlier["minutes"], earlier["threads"], earlier["num_samples"]) == (args.minutes, args.threads, args.num):
            results["models"] = earlier["models"]
    for m in args.models:
        print(f"== {m}: {args.minutes} min", flush=True)
        r = PEERS[m](data, 60 * args.minutes, args.num) if m in PEERS else \
            run_recipe(m, data, 60 * args.minutes, args.num)
        r.update(image_quality(r.pop("images")))
        results["models"][Path(m).stem] = {"torch": torch.__version__, "date": date.today().isoformat(),  # a recipe file by its name
                                **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}}
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
    print(f"\n{'model':16s} {'img/s':>7s} {'steps':>6s} {'params':>8s} {'FID':>8s} {'floor':>7s} "
          f"{'KID':>8s} {'sample s':>9s}")
    for m, r in results["models"].items():
        print(f"{m:16s} {r['images_per_second']:7.0f} {r['steps']:6d} {r['params'] / 1e6:7.2f}M {r['fid']:8.1f} "
              f"{r['fid_floor']:7.1f} {r['kid']:8.2f} {r['sample_seconds']:9.1f}")


if __name__ == "__main__":
    main()
