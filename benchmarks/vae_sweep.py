"""Measure the rate–distortion trade-off of the book's autoencoder: the KL weight β and the number of latent
channels C against reconstruction quality, the KL (the rate) and the statistics of the latents.

    .venv/bin/python benchmarks/vae_sweep.py --out benchmarks/results/vae_sweep.json

Each variant is the recipe `fashion-vae` (chapter 07) with β = `VAEConfig.kl_weight` or
C = `VAEConfig.latent_channels` changed, trained as `python -m diffusion_lite train --recipe fashion-vae
--steps N` trains it (the package's `Trainer`, the recipe's seed, optimiser, 200 warm-up steps and cosine
decay over the N steps), for the same `--steps` each: 400 of 128 by default, 3–4 minutes on 2 threads
(17 minutes for all five, 2026-12-03), where the book's `fashion_vae` trained 2,600. Its EMA weights are
stored in float16 and loaded back, with the scaling factor of 10,000 training latents, as `train` stores
them; then, on the first 1,000 test images:
- distortion: PSNR, and FID/KID of the reconstructions decode(mean of q(z|x)) on the book classifier's
  features, beside the real-vs-real floor at the same N (as `train --evaluate` scores an autoencoder);
- rate: KL(q(z|x) ‖ N(0, I)) in nats, per image and per latent number (C·7·7 of them, against 784 pixels);
- the latents: mean, std and per-channel std of the posterior means, the mean posterior σ, and the
  scaling factor 1/std;
- the prior: FID/KID of 1,000 decodes of z ~ N(0, I) drawn at the posterior's own scale, unscaled. The
  VAE's prior is N(0, I) on that scale (the KL term pulls each q(z|x) towards it); the scaling factor is
  for a diffusion model, which sees s·z.
Results are merged into --out by variant name (at the same steps and threads) and printed as a table.
Chapter 07, section 6, reads them.
"""
import argparse
import json
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import torch

from diffusion_lite.precision import autocast, cpu_name
from diffusion_lite.checkpoints import build_model, get_recipe, load_model, save_model
from diffusion_lite.datasets import from_model_range, load_fashion_mnist, to_model_range
from diffusion_lite.generation import SAMPLE_BATCH, reconstruct
from diffusion_lite.metrics import image_quality, psnr
from diffusion_lite.training import Trainer

STEPS = 400  # of 128 images: 0.33 s a step on 2 threads when fashion_vae trained, 0.45–0.6 s on 2026-12-03
# name: (β = kl_weight, C = latent_channels). The book's fashion-vae is β = 1e-4, C = 4.
VARIANTS = {
    "beta1e-6-c4": (1e-6, 4),
    "beta1e-4-c4": (1e-4, 4),
    "beta1e-2-c4": (1e-2, 4),
    "beta1e-4-c2": (1e-4, 2),
    "beta1e-4-c8": (1e-4, 8),
}


def variant_recipe(name: str, steps: int):
    kl_weight, channels = VARIANTS[name]
    recipe = get_recipe("fashion-vae")
    return replace(recipe, vae=replace(recipe.vae, kl_weight=kl_weight, latent_channels=channels),
                   train=replace(recipe.train, steps=steps))


def train_variant(name: str, steps: int, x: torch.Tensor, folder: Path) -> dict:
    """Train as `_train` in diffusion_lite/__main__.py does, store the EMA weights in float16 and load them back."""
    recipe = variant_recipe(name, steps)
    torch.manual_seed(recipe.train.seed)
    trainer = Trainer(build_model(recipe), x, recipe.train)
    trainer.train(progress=False)
    final = trainer.ema
    final.scaling_factor.fill_(final.latent_scaling_factor(x[:10_000]))
    path = save_model(final, recipe, folder / name)
    vae, _, _ = load_model(path)
    return {"vae": vae, "steps": trainer.step, "batch_size": recipe.train.batch_size,
            "train_seconds": trainer.seconds,
            "images_per_second": trainer.step * recipe.train.batch_size / trainer.seconds,
            "params": sum(p.numel() for p in vae.parameters()),
            "final_loss_mean_100": sum(trainer.losses[-100:]) / len(trainer.losses[-100:])}


@torch.no_grad()
def decode_prior(vae, num: int, seed: int = 0) -> torch.Tensor:
    """decode(z), z ~ N(0, I) of the latent's shape (C, 7, 7), unscaled, in batches in precision "auto"
    as `generation.reconstruct` decodes."""
    z = torch.randn(num, *vae.config.latent_shape(28, 28), generator=torch.Generator().manual_seed(seed))
    with autocast():
        return torch.cat([vae.decode(z[i:i + SAMPLE_BATCH]).float() for i in range(0, num, SAMPLE_BATCH)])


@torch.no_grad()
def measure(vae, images: torch.Tensor, labels: torch.Tensor) -> dict:
    """Distortion, rate, latent statistics and prior-sample quality on `images` (uint8, N × 28 × 28)."""
    x = to_model_range(images)
    recon = from_model_range(reconstruct(vae, x))
    posteriors = [vae.encode(x[i:i + 500]) for i in range(0, len(x), 500)]  # float32, as `latents` encodes
    mean = torch.cat([q.mean for q in posteriors])  # (N, C, 7, 7)
    kl = torch.cat([q.kl() for q in posteriors])  # (N,) nats, summed over the latent's numbers
    quality = image_quality(recon, labels)
    prior = image_quality(from_model_range(decode_prior(vae, len(images))))
    return {"latent_numbers": mean[0].numel(), "pixels": images[0].numel(),
            "psnr": psnr(recon, images), **{k: quality[k] for k in ("fid", "fid_floor", "kid", "kid_floor",
                                                                     "class_accuracy")},
            "kl_per_image": float(kl.mean()), "kl_per_latent_number": float(kl.mean()) / mean[0].numel(),
            "latent_mean": float(mean.mean()), "latent_std": float(mean.std()),
            "latent_channel_std": [round(float(s), 4) for s in mean.std(dim=(0, 2, 3))],
            "posterior_sigma_mean": float(torch.cat([q.std for q in posteriors]).mean()),
            "scaling_factor": float(vae.scaling_factor),
            "prior_fid": prior["fid"], "prior_kid": prior["kid"], "prior_class_shares": prior["class_shares"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS, metavar="VARIANT",
                        help=f"any of {', '.join(VARIANTS)} (default: all)")
    parser.add_argument("--steps", type=int, default=STEPS, help="training steps of 128 images per variant")
    parser.add_argument("--num", type=int, default=1000, help="test images to reconstruct, and prior samples")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/vae_sweep.json")
    args = parser.parse_args()
    if args.steps < 1 or args.threads < 1 or not 2 <= args.num <= 10_000:
        parser.error("--steps and --threads must be >= 1 and --num in [2, 10000]")
    torch.set_num_threads(args.threads)
    x = to_model_range(load_fashion_mnist("train")[0])
    test_images, test_labels = (a[:args.num] for a in load_fashion_mnist("test"))
    results = {"machine": cpu_name(), "threads": args.threads,
               "steps": args.steps, "num_images": args.num, "variants": {}}
    out = Path(args.out)
    if out.exists():  # add to an earlier run at the same settings (a subset of --variants)
        earlier = json.loads(out.read_text())
        if (earlier["steps"], earlier["threads"], earlier["num_images"]) == (args.steps, args.threads, args.num):
            results["variants"] = earlier["variants"]
    with tempfile.TemporaryDirectory() as folder:
        for name in args.variants:
            kl_weight, channels = VARIANTS[name]
            print(f"== {name}: β = {kl_weight:g}, C = {channels}, {args.steps} steps", flush=True)
            r = train_variant(name, args.steps, x, Path(folder))
            t0 = time.perf_counter()
            r.update(measure(r.pop("vae"), test_images, test_labels), eval_seconds=time.perf_counter() - t0)
            print(f"   {r['train_seconds']:.0f} s, {r['images_per_second']:.0f} images/s; rFID {r['fid']:.1f}, "
                  f"KL {r['kl_per_latent_number']:.3f} nats per latent number", flush=True)
            results["variants"][name] = {"kl_weight": kl_weight, "latent_channels": channels,
                                         "torch": torch.__version__, "date": date.today().isoformat(),
                                         **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}}
            out.write_text(json.dumps(results, indent=2))
    print(f"\n{'variant':12s} {'β':>6s} {'C':>2s} {'numbers':>7s} {'img/s':>6s} {'PSNR':>6s} {'rFID':>6s} "
          f"{'floor':>6s} {'KL/num':>7s} {'KL/img':>7s} {'z std':>6s} {'σ mean':>7s} {'prior FID':>9s}")
    for name, r in results["variants"].items():
        print(f"{name:12s} {r['kl_weight']:6.0e} {r['latent_channels']:2d} {r['latent_numbers']:7d} "
              f"{r['images_per_second']:6.0f} {r['psnr']:6.2f} {r['fid']:6.1f} {r['fid_floor']:6.1f} "
              f"{r['kl_per_latent_number']:7.3f} {r['kl_per_image']:7.1f} {r['latent_std']:6.2f} "
              f"{r['posterior_sigma_mean']:7.3f} {r['prior_fid']:9.1f}")


if __name__ == "__main__":
    main()
