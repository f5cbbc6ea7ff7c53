"""Measure the rate–distortion trade-off of the book's autoencoder: the KL weight β, the number of latent
channels C and the normalisation against reconstruction quality, the KL (the rate) and the latents.

    .venv/bin/python benchmarks/vae_sweep.py                # --sweep short: 5 variants, 400 steps each
    .venv/bin/python benchmarks/vae_sweep.py --sweep full   # 5 variants at fashion-vae's full 2,600 steps

Each variant is the recipe `fashion-vae` (chapter 07) with β = `VAEConfig.kl_weight`, C =
`VAEConfig.latent_channels` or `VAEConfig.norm` changed, trained as `python -m diffusion_lite train --recipe
fashion-vae --steps N` trains it (the package's `Trainer`, the recipe's seed, optimiser, 200 warm-up steps and
cosine decay over the N steps). The short sweep (`vae_sweep.json`) trains five variants 400 steps of 128
(3–4 minutes each on 2 threads); the full one (`vae_sweep_full.json`) trains β ∈ {1e-4, 5e-7, 0}, GroupNorm
and no EMA (the raw weights) at β = 5e-7 for the recipe's whole length (15–22 minutes each). A stored
checkpoint trained by such a recipe can be measured instead of trained again (`--checkpoint PATH`: the book's `fashion_vae` is `beta5e-7-c4`, the one
before 2026-12-07 `beta1e-4-c4`). Each model's EMA weights are stored in float16 and loaded back, with the
scaling factor of 10,000 training latents, as `train` stores them; then, on the first 1,000 test images:
- distortion: PSNR, and FID/KID of the reconstructions decode(mean of q(z|x)) on the book classifier's
  features, beside the real-vs-real floor at the same N (as `train --evaluate` scores an autoencoder);
- rate: KL(q(z|x) ‖ N(0, I)) in nats, per image and per latent number (C·7·7 of them, against 784 pixels);
- the latents: mean, std and per-channel std of the posterior means, the mean posterior σ, and the
  scaling factor 1/std;
- the prior: FID/KID of 1,000 decodes of z ~ N(0, I) drawn at the posterior's own scale, unscaled. The
  VAE's prior is N(0, I) on that scale (the KL term pulls each q(z|x) towards it); the scaling factor is
  for a diffusion model, which sees s·z.
and on 1,000 test scenes of chapter 10 (56×56, four cells), what a text-to-image model decodes through it:
- the seam: |latent of the scene − its four cells' latents side by side| over the latents' std, at the
  latent positions next to a cell border and at those two or more away (a local code gives 0 there);
- the scenes reconstructed: PSNR, prompt fidelity (`metrics.prompt_fidelity`, every cell as its caption
  says) and item FID, beside the same for the real scenes: the ceiling a latent model trained on it has.
Results are merged into the sweep's file by variant name as each finishes (a rerun skips none: name the
variants to run) and printed as a table. Chapter 07, section 6, reads them.
"""
import argparse
import json
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import torch

from diffusion_lite import datasets
from diffusion_lite.checkpoints import Recipe, build_model, get_recipe, load_model, save_model
from diffusion_lite.datasets import from_model_range, load_fashion_mnist, to_model_range
from diffusion_lite.generation import SAMPLE_BATCH, reconstruct
from diffusion_lite.metrics import image_quality, prompt_fidelity, psnr
from diffusion_lite.precision import autocast, cpu_name
from diffusion_lite.training import Trainer

STEPS = 400  # the short sweep, of 128 images: 0.33 s a step on 2 threads when fashion_vae trained, 0.45–0.6 s on 2026-12-03
# name: (β = kl_weight, C = latent_channels, norm, EMA decay). The book's fashion-vae is β = 5e-7, C = 4,
# channel norm, EMA 0.999; an EMA decay of 0 keeps the raw weights (the average is the last step's weights).
VARIANTS = {
    "beta1e-6-c4": (1e-6, 4, "channel", 0.999),
    "beta1e-4-c4": (1e-4, 4, "channel", 0.999),
    "beta1e-2-c4": (1e-2, 4, "channel", 0.999),
    "beta1e-4-c2": (1e-4, 2, "channel", 0.999),
    "beta1e-4-c8": (1e-4, 8, "channel", 0.999),
    "beta5e-7-c4": (5e-7, 4, "channel", 0.999),
    "beta0-c4": (0.0, 4, "channel", 0.999),
    "beta5e-7-c4-group": (5e-7, 4, "group", 0.999),
    "beta5e-7-c4-noema": (5e-7, 4, "channel", 0.0),
}
# name: (steps, its variants, its results file)
SWEEPS = {
    "short": (STEPS, ("beta1e-6-c4", "beta1e-4-c4", "beta1e-2-c4", "beta1e-4-c2", "beta1e-4-c8"),
              "benchmarks/results/vae_sweep.json"),
    "full": (get_recipe("fashion-vae").train.steps,
             ("beta1e-4-c4", "beta5e-7-c4", "beta0-c4", "beta5e-7-c4-group", "beta5e-7-c4-noema"),
             "benchmarks/results/vae_sweep_full.json"),
}


def variant_recipe(name: str, steps: int):
    kl_weight, channels, norm, ema_decay = VARIANTS[name]
    recipe = get_recipe("fashion-vae")
    return replace(recipe, vae=replace(recipe.vae, kl_weight=kl_weight, latent_channels=channels, norm=norm),
                   train=replace(recipe.train, steps=steps, ema_decay=ema_decay))


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


def stored_variant(path: str, steps: int) -> tuple[str, dict]:
    """A stored autoencoder trained by a variant's recipe for `steps`: (the variant's name, a dict like
    `train_variant`'s with the training numbers from the checkpoint's metadata), or a ValueError saying why not."""
    description = Path(path).with_suffix(".json")
    if not description.is_file():
        raise ValueError(f"no checkpoint {description}")
    recipe = Recipe.from_dict(json.loads(description.read_text())["recipe"])
    if recipe.kind != "vae":  # before loading it: a latent model would load (and check) its autoencoder
        raise ValueError(f"{path} is a {recipe.kind} checkpoint, not an autoencoder")
    same = [name for name in VARIANTS if (variant := variant_recipe(name, steps)).vae == recipe.vae
            and replace(recipe.train, precision=variant.train.precision) == variant.train]
    if not same:
        raise ValueError(f"{path} was trained by no variant's recipe at {steps} steps (its VAE: {recipe.vae}, "
                         f"{recipe.train.steps} steps)")
    vae, _, metadata = load_model(path)
    return same[0], {"vae": vae, "from_checkpoint": str(path), "steps": metadata["steps"],
                     "batch_size": recipe.train.batch_size, "train_seconds": metadata["train_seconds"],
                     "images_per_second": metadata["images_per_second"],
                     "params": sum(p.numel() for p in vae.parameters()),
                     "final_loss_mean_100": metadata["final_loss_mean_100"],
                     "trained_on": metadata.get("cpu", "not recorded")}


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
            "prior_fid": prior["fid"], "prior_kid": prior["kid"], "prior_class_shares": prior["class_shares"],
            **measure_scenes(vae, float(mean.std()))}


@torch.no_grad()
def measure_scenes(vae, latent_std: float, num: int = 1000) -> dict:
    """The seam and the reconstructed scenes of `num` test scenes (see the docstring)."""
    images, captions, _ = datasets.scenes("test", num, seed=datasets.TEST_SEED)
    x = to_model_range(images)  # (N, 1, 56, 56)
    cells = to_model_range(datasets.scene_cells(images).reshape(-1, 28, 28))  # (4N, 1, 28, 28)
    z_scene = vae.latents(x)  # (N, C, 14, 14)
    z_cells = vae.latents(cells).view(num, 2, 2, -1, 7, 7)  # (N, row, column, C, 7, 7)
    tiled = z_cells.permute(0, 3, 1, 4, 2, 5).reshape(z_scene.shape)
    gap = ((z_scene - tiled).abs() / latent_std).mean((0, 1))  # (14, 14), in units of the latents' std
    seam = ((torch.arange(14) - 6.5).abs() - 0.5).long()  # latent positions from the seam between the cells
    distance = torch.minimum(seam[:, None], seam[None, :])
    recon = from_model_range(reconstruct(vae, x))
    fidelity = prompt_fidelity(recon, captions)
    return {"seam_gap": float(gap[distance == 0].mean()), "interior_gap": float(gap[distance >= 2].mean()),
            "scene_psnr": psnr(recon, images), "scene_prompt": fidelity["prompt"], "scene_item": fidelity["item"],
            "scene_item_fid": fidelity["item_fid"], "scene_item_fid_floor": fidelity["item_fid_floor"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", default="short", choices=SWEEPS,
                        help="short: 5 variants of 400 steps; full: 5 of the recipe's 2,600 (default: %(default)s)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, metavar="VARIANT",
                        help="some of the sweep's variants to train (default: all of them)")
    parser.add_argument("--checkpoint", nargs="+", default=[], metavar="PATH",
                        help="measure these stored autoencoders as the variants whose recipe trained them, "
                             "instead of training those")
    parser.add_argument("--num", type=int, default=1000, help="test images to reconstruct, and prior samples")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="the results file (default: the sweep's)")
    args = parser.parse_args()
    steps, names, default_out = SWEEPS[args.sweep]
    if args.threads < 1 or not 2 <= args.num <= 10_000:
        parser.error("--threads must be >= 1 and --num in [2, 10000]")
    if not set(args.variants or ()) <= set(names):
        parser.error(f"the {args.sweep} sweep's variants are {', '.join(names)}")
    torch.set_num_threads(args.threads)
    try:  # refused before any training
        stored = dict(stored_variant(path, steps) for path in args.checkpoint)
    except ValueError as e:
        parser.error(str(e))
    if not set(stored) <= set(names):
        parser.error(f"{', '.join(set(stored) - set(names))} is not a variant of the {args.sweep} sweep")
    todo = [name for name in (args.variants or ([] if stored else names)) if name not in stored]
    x = to_model_range(load_fashion_mnist("train")[0])
    test_images, test_labels = (a[:args.num] for a in load_fashion_mnist("test"))
    results = {"machine": cpu_name(), "threads": args.threads, "steps": steps, "num_images": args.num,
               "variants": {}}
    out = Path(args.out or default_out)
    if out.exists():  # add to an earlier run at the same settings
        earlier = json.loads(out.read_text())
        if (earlier["steps"], earlier["threads"], earlier["num_images"]) == (steps, args.threads, args.num):
            results["variants"] = earlier["variants"]
    with tempfile.TemporaryDirectory() as folder:
        for name in list(stored) + todo:
            kl_weight, channels, norm, ema_decay = VARIANTS[name]
            print(f"== {name}: β = {kl_weight:g}, C = {channels}, {norm} norm, EMA {ema_decay:g}, {steps} steps"
                  + (f", stored in {stored[name]['from_checkpoint']}" if name in stored else ""), flush=True)
            r = stored[name] if name in stored else train_variant(name, steps, x, Path(folder))
            t0 = time.perf_counter()
            r.update(measure(r.pop("vae"), test_images, test_labels), eval_seconds=time.perf_counter() - t0)
            print(f"   {r['train_seconds']:.0f} s, {r['images_per_second']:.0f} images/s; rFID {r['fid']:.1f}, "
                  f"KL {r['kl_per_latent_number']:.3f} nats per latent number", flush=True)
            results["variants"][name] = {"kl_weight": kl_weight, "latent_channels": channels, "norm": norm,
                                         "ema_decay": ema_decay,
                                         "torch": torch.__version__, "date": date.today().isoformat(),
                                         **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}}
            results["variants"] = {n: results["variants"][n] for n in names if n in results["variants"]}
            out.write_text(json.dumps(results, indent=2))
    print(f"\n{'variant':17s} {'β':>6s} {'C':>2s} {'img/s':>6s} {'PSNR':>6s} {'rFID':>6s} {'floor':>6s} "
          f"{'KL/num':>7s} {'z std':>6s} {'σ mean':>7s} {'prior FID':>9s} {'seam':>5s} {'scene PSNR':>10s} "
          f"{'item FID':>8s}")
    for name, r in results["variants"].items():
        scene = (f"{r['seam_gap']:5.2f} {r['scene_psnr']:10.2f} {r['scene_item_fid']:8.1f}" if "seam_gap" in r
                 else "")
        print(f"{name:17s} {r['kl_weight']:6.0e} {r['latent_channels']:2d} {r['images_per_second']:6.0f} "
              f"{r['psnr']:6.2f} {r['fid']:6.1f} {r['fid_floor']:6.1f} {r['kl_per_latent_number']:7.3f} "
              f"{r['latent_std']:6.2f} {r['posterior_sigma_mean']:7.3f} {r['prior_fid']:9.1f} {scene}")


if __name__ == "__main__":
    main()
