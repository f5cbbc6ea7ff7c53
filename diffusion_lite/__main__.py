"""The command line: `python -m diffusion_lite COMMAND ...` (or `diffusion-lite COMMAND ...`).

    data check|download                       verify Fashion-MNIST, or fetch it into data/fashion-mnist/
    train --recipe NAME --out DIR [--evaluate N] [--export PATH]
                                              train (resumes from DIR/state.pt); writes DIR/model.safetensors + .json
    sample --checkpoint PATH --num N --out F.npz [--sampler ddpm|ddim|euler|heun|dpmpp_2m --steps S
           --eta E --seed K --cache-every N --last-t T --workers J --float32] [--label L|all --guidance-scale W]
                                              (labels: class-conditional)
    evaluate F.npz                            FID/KID (book classifier features) against the test set, with the
                                              real-vs-real floor at the same sample size
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import datasets
from .samplers import STEPS


def _data(args) -> int:
    if args.action == "check":
        folder = datasets.find_fashion_mnist()
        for split in ("train", "test"):
            images, _ = datasets.load_fashion_mnist(split)
            print(f"{split}: {len(images)} images, verified")
        print(f"Fashion-MNIST OK in {folder}")
    else:
        folder = datasets.download_fashion_mnist(args.dest, args.url)
        print(f"Fashion-MNIST downloaded and verified in {folder}")
    return 0


def _train(args) -> int:
    from .checkpoints import Recipe, build_ddpm, get_recipe, save_model
    from .training import Trainer
    recipe = Recipe.from_dict(json.loads(Path(args.config).read_text())) if args.config else get_recipe(args.recipe)
    if args.steps:
        recipe.train.steps = args.steps
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    torch.manual_seed(recipe.train.seed)
    ddpm = build_ddpm(recipe)
    images, labels = datasets.load_fashion_mnist("train")
    labels = labels.long() if recipe.unet.num_classes else None  # class-conditional recipes train with labels
    trainer = Trainer.resume(out / "state.pt", ddpm, datasets.to_model_range(images), recipe.train, labels)
    if trainer.step:
        print(f"resuming from step {trainer.step} of {recipe.train.steps} ({out / 'state.pt'})")
    trainer.train(checkpoint=out / "state.pt")
    metadata = {
        "recipe_name": args.recipe if not args.config else args.config, "steps": trainer.step,
        "train_seconds": round(trainer.seconds, 1), "threads": torch.get_num_threads(),
        "images_per_second": round(trainer.step * recipe.train.batch_size / max(trainer.seconds, 1e-9), 1),
        "final_loss_mean_100": float(np.mean(trainer.losses[-100:])), "torch": torch.__version__}
    path = save_model(trainer.ema, recipe, out / "model", metadata)
    if args.evaluate:  # measured on the weights as stored (float16), not on the in-memory copy
        from .checkpoints import load_model
        from .metrics import heldout_loss, image_quality
        stored, _, _ = load_model(path)
        metadata["heldout_loss"] = heldout_loss(stored)
        t0 = time.perf_counter()
        labels = sample_labels("all", args.evaluate, recipe.unet.num_classes) if recipe.unet.num_classes else None
        x = generate(stored, args.evaluate, "ddim", 50, seed=0, labels=labels, guidance_scale=args.guidance_scale)
        metadata["metrics"] = {"sampler": "ddim", "steps": 50, "sample_seconds": round(time.perf_counter() - t0, 1),
                               **({} if labels is None else {"guidance_scale": args.guidance_scale}),
                               **image_quality(datasets.from_model_range(x), labels)}
        print(json.dumps(metadata["metrics"], indent=2))
    for target in [out / "model"] + ([Path(args.export)] if args.export else []):
        path = save_model(trainer.ema, recipe, target, metadata)
        print(f"wrote {path} and {path.with_suffix('.json')}")
    return 0


SAMPLE_BATCH = 100  # images per network call when sampling (see `generate`)


def generate(ddpm, num: int, sampler: str, steps: int | None, seed: int, eta: float = 0.0,
             batch_size: int = SAMPLE_BATCH, progress: bool = True, labels=None, guidance_scale: float = 1.0,
             cache_every: int = 1, last_t: int | None = None, bf16: bool = True, workers: int = 1) -> torch.Tensor:
    """`num` images (N, 1, H, W) in [−1, 1], drawn in batches from one seeded generator, with "trailing"
    timestep spacing (the first step starts from pure noise for any number of steps), or with `last_t`
    the steps evenly spaced from t = T − 1 down to t = last_t (chapter 05, section 6). The network runs
    under bfloat16 autocast, or in float32 with `bf16=False` (about 1.8× slower, chapter 03). `labels` (N,)
    guides a class-conditional model with classifier-free guidance at `guidance_scale`. `cache_every` > 1
    runs the whole UNet on every that-many-th call only and reuses its deep features between
    (`unet.DeepCache`, chapter 05).

    The images depend on `batch_size` (the generator's noise is drawn batch by batch). Batches of 100
    keep a 28×28 UNet's activations in the CPU's caches: 1,000 DDIM-50 images of the book's model took
    67-76 s on 2 threads, against 98-99 s in batches of 500 (fresh processes, `sample --batch-size`).

    `workers` > 1 samples that many batches at once, each in its own Python thread on one torch thread
    (the network's small operations, GroupNorm and SiLU on 28×28 maps, gain more from a core of their own
    than from splitting one batch between cores: 10-15 % faster on 2 cores, `benchmarks/sampling.py
    workers`; chapter 03, section 6). Each batch then draws from its own generator, seeded in turn from
    `seed`, so the images are the same for any `workers` > 1, but differ from those of `workers` = 1."""
    from concurrent.futures import ThreadPoolExecutor
    from tqdm.auto import tqdm
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    g = torch.Generator().manual_seed(seed)
    cfg, device = ddpm.network.config, next(ddpm.parameters()).device
    options = {"eta": eta} if sampler == "ddim" else {}
    starts = range(0, num, batch_size)

    def batch(start, generator):  # autocast is per thread, so each batch enters it itself
        n = min(batch_size, num - start)
        guide = {} if labels is None else {"labels": labels[start:start + n], "guidance_scale": guidance_scale}
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return ddpm.sample((n, cfg.in_channels, cfg.image_size, cfg.image_size), device, generator=generator,
                               num_steps=steps, sampler=sampler, cache_every=cache_every,
                               spacing="trailing" if last_t is None else "linspace", last_t=last_t,
                               **guide, **options).float()

    with tqdm(total=len(starts), disable=not progress, desc=f"{sampler} x{steps or ddpm.timesteps}") as bar:
        if workers == 1:
            out = []
            for start in starts:
                out.append(batch(start, g))
                bar.update()
            return torch.cat(out)
        seeds = torch.randint(2**62, (len(starts),), generator=g).tolist()
        was_training, threads = ddpm.network.training, torch.get_num_threads()
        ddpm.network.eval()  # here, not in each thread: a thread's sample() would restore train mode under the others
        torch.set_num_threads(1)  # the worker threads see this setting too
        try:
            with ThreadPoolExecutor(workers) as pool:
                futures = [pool.submit(batch, start, torch.Generator().manual_seed(s)) for start, s in zip(starts, seeds)]
                for f in futures:
                    f.add_done_callback(lambda _: bar.update())
                return torch.cat([f.result() for f in futures])
        finally:
            torch.set_num_threads(threads)
            ddpm.network.train(was_training)


def sample_labels(label: str | None, num: int, num_classes: int | None) -> torch.Tensor | None:
    """The --label argument as (N,) labels: one class for all, "all" for the classes in turn, or None."""
    if label is None:
        return None
    if not num_classes:
        raise ValueError("--label needs a class-conditional checkpoint; this one is unconditional")
    if label == "all":
        return torch.arange(num) % num_classes
    if not label.isdigit() or int(label) >= num_classes:
        raise ValueError(f"--label must be an integer in [0, {num_classes - 1}] or 'all', got {label!r}")
    return torch.full((num,), int(label))


def _sample(args) -> int:
    from .checkpoints import load_model
    ddpm, _, _ = load_model(args.checkpoint)
    labels = sample_labels(args.label, args.num, ddpm.network.config.num_classes)
    if labels is None and args.guidance_scale != 1.0:
        raise ValueError("--guidance-scale needs --label (a class, or 'all')")
    t0 = time.perf_counter()
    x = generate(ddpm, args.num, args.sampler, args.steps, args.seed, args.eta, args.batch_size,
                 labels=labels, guidance_scale=args.guidance_scale, cache_every=args.cache_every, last_t=args.last_t,
                 bf16=not args.float32, workers=args.workers)
    arrays = {"images": datasets.from_model_range(x).numpy()}
    if labels is not None:
        arrays["labels"] = labels.numpy().astype(np.uint8)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.num} images to {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _evaluate(args) -> int:
    from .metrics import image_quality
    with np.load(args.file) as f:
        if "images" not in f or f["images"].dtype != np.uint8 or f["images"].ndim != 3:
            raise ValueError(f"{args.file} must hold an array 'images' of uint8 (N, 28, 28)")
        images = torch.from_numpy(f["images"])
        labels = torch.from_numpy(f["labels"]) if "labels" in f else None
    print(json.dumps(image_quality(images, labels), indent=2))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m diffusion_lite", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    data = commands.add_parser("data", help="check or download Fashion-MNIST")
    data.add_argument("action", choices=("check", "download"))
    data.add_argument("--dest", default=str(datasets.REPO_DIR), help="download folder (default: %(default)s)")
    data.add_argument("--url", default=datasets.UPSTREAM_URL, help="base URL of the four files (default: %(default)s)")
    train = commands.add_parser("train", help="train a recipe (resumable)")
    train.add_argument("--recipe", default="fashion-ddpm")
    train.add_argument("--config", help="a recipe as JSON (keys unet, ddpm, train), instead of --recipe")
    train.add_argument("--steps", type=int, help="override the recipe's number of steps")
    train.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    train.add_argument("--out", required=True, help="run folder: state.pt while training, model.* at the end")
    train.add_argument("--evaluate", type=int, default=0, metavar="N",
                       help="after training, record FID/KID of N DDIM-50 samples in the checkpoint's metadata")
    train.add_argument("--export", help="also write the final checkpoint to EXPORT.safetensors/.json")
    train.add_argument("--guidance-scale", type=float, default=1.0,
                       help="class-conditional recipes: the w of the --evaluate samples (one per class in turn)")
    sample = commands.add_parser("sample", help="draw images from a checkpoint into an .npz")
    sample.add_argument("--checkpoint", required=True)
    sample.add_argument("--num", type=int, default=64)
    sample.add_argument("--sampler", default="ddim", choices=tuple(STEPS))
    sample.add_argument("--steps", type=int, default=50)
    sample.add_argument("--eta", type=float, default=0.0)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--label", help="class-conditional checkpoints: a class 0-9 for every image, or 'all' "
                                        "for the classes in turn")
    sample.add_argument("--guidance-scale", type=float, default=1.0,
                        help="classifier-free guidance w (1 = plain conditional, 0 = unconditional)")
    sample.add_argument("--batch-size", type=int, default=SAMPLE_BATCH)
    sample.add_argument("--cache-every", type=int, default=1,
                        help="run the whole UNet on every N-th network call only, reusing its deep features "
                             "between (DeepCache; 1 = off)")
    sample.add_argument("--last-t", type=int,
                        help="space the steps evenly from t = T-1 down to this t, then step to the clean image "
                             "(default: 'trailing' spacing, which ends at t = T/steps - 1)")
    sample.add_argument("--workers", type=int, default=1,
                        help="sample this many batches at once, each in its own thread on one torch thread "
                             "(different images from the default 1, the same for any N > 1)")
    sample.add_argument("--float32", action="store_true",
                        help="run the network in float32 instead of under bfloat16 autocast (about 1.8x slower)")
    sample.add_argument("--out", required=True)
    evaluate = commands.add_parser("evaluate", help="FID/KID of an .npz of images against the test set")
    evaluate.add_argument("file")
    args = parser.parse_args(argv)
    try:
        return {"data": _data, "train": _train, "sample": _sample, "evaluate": _evaluate}[args.command](args)
    except (datasets.DataError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
