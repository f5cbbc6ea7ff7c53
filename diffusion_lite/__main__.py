"""The command line: `python -m diffusion_lite COMMAND ...` (or `diffusion-lite COMMAND ...`).

    data check|download                       verify Fashion-MNIST, or fetch it into data/fashion-mnist/
    train --recipe NAME --out DIR [--evaluate N] [--export PATH]
                                              train a diffusion model or an autoencoder (resumes from
                                              DIR/state.pt); writes DIR/model.safetensors + .json;
                                              `torchrun --nproc_per_node N -m diffusion_lite train ...`
                                              trains a diffusion model data-parallel on N processes
    sample --checkpoint PATH --num N --out F.npz [--sampler ddpm|ddim|euler|heun|dpmpp_2m --steps S
           --eta E --seed K --cache-every N --last-t T --workers J --precision auto|bf16|float32]
           [--label L|all | --prompt "a bag in the top left" | --prompts-file F] [--guidance-scale W]
                                              (labels: class-conditional; prompts: text-to-image;
                                              w: the checkpoint's unless given)
    edit --checkpoint PATH --input IN.npz|test --mode inpaint --mask box|half|strokes|M.npz [--method replace|repaint
         --jump-length J --resample R] | --mode sdedit --strength S  [--label coat] [--num N --out F.npz]
                                              inpaint or redraw the images of IN.npz with a pixel-space model
    reconstruct --checkpoint PATH --split test --num N --out F.npz
                                              an autoencoder's reconstructions of the first N images, in order
    evaluate F.npz                            FID/KID (book classifier features) against the test set, with the
                                              real-vs-real floor at the same sample size; for scenes with their
                                              prompts, prompt fidelity beside real scenes' (the ceiling)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

from . import datasets
from .generation import EDIT_MODES, SAMPLE_BATCH, edit, generate, reconstruct, sample_labels, sample_prompts
from .precision import PRECISIONS, autocast, cpu_name, describe, resolve
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
    from .checkpoints import Recipe, build_model, get_recipe, save_model, tokenizer_of
    from .pipeline import LatentDDPM
    from .training import Trainer
    recipe = Recipe.from_dict(_read_json(args.config, "--config")) if args.config else get_recipe(args.recipe)
    conditional = recipe.kind in ("ddpm", "ldm") and (recipe.unet.num_classes or recipe.text is not None)
    if args.steps is not None:
        recipe.train.steps = args.steps
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.precision is not None:
        recipe.train.precision = args.precision
    print(describe(recipe.train.precision))
    if args.guidance_scale != 1.0 and not conditional:
        raise ValueError("--guidance-scale needs a class- or text-conditional recipe; this one is neither")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out must be a folder (the run's state and model go in it), but {out} is a file")
    rank = _start_process_group()
    torch.manual_seed(recipe.train.seed)
    model = build_model(recipe)
    if recipe.dataset == "scenes":  # captioned scenes: the captions' token ids are the labels
        images, captions, _ = datasets.scenes("train", recipe.dataset_size or datasets.TRAIN_SCENES,
                                              seed=recipe.train.seed)
        labels, conditional = tokenizer_of(model).encode(captions), True
    else:
        images, labels = (a[:recipe.dataset_size] for a in datasets.load_fashion_mnist("train"))
    x = datasets.to_model_range(images)
    if recipe.kind == "ldm":  # the autoencoder encodes every image once; the DDPM then trains on the latents
        with autocast(recipe.train.precision):
            x = model.encode(x).float()
    trained = model.ddpm if recipe.kind == "ldm" else model
    trainer = Trainer.resume(out / "state.pt", trained, x, recipe.train, labels.long() if conditional else None)
    if trainer.step:
        print(f"resuming from step {trainer.step} of {recipe.train.steps} ({out / 'state.pt'})")
    trainer.train(checkpoint=out / "state.pt")
    if trainer.world > 1:
        import torch.distributed as dist
        dist.destroy_process_group()
    if rank > 0:  # rank 0 holds the same weights and writes them
        return 0
    metadata = {
        "recipe_name": args.recipe if not args.config else args.config, "steps": trainer.step,
        "train_seconds": round(trainer.seconds, 1), "threads": torch.get_num_threads(),
        "images_per_second": round(trainer.step * recipe.train.batch_size / max(trainer.seconds, 1e-9), 1),
        "processes": trainer.world,
        "final_loss_mean_100": float(np.mean(trainer.losses[-100:])), "torch": torch.__version__,
        "precision": resolve(recipe.train.precision), "cpu": cpu_name()}
    final = trainer.ema
    if recipe.kind == "vae":  # the factor that gives the training latents unit variance, stored with the weights
        final.scaling_factor.fill_(final.latent_scaling_factor(x[:10_000]))
        metadata["scaling_factor"] = float(final.scaling_factor)
    if recipe.kind == "ldm":
        final = LatentDDPM(trainer.ema, model.vae, recipe.latent.image_size)
    path = save_model(final, recipe, out / "model", metadata)
    if args.evaluate:  # measured on the weights as stored (float16), not on the in-memory copy
        metadata.update(_evaluate_stored(path, args.evaluate, args.guidance_scale))
        print(json.dumps(metadata["metrics"], indent=2))
    for target in [out / "model"] + ([Path(args.export)] if args.export else []):
        path = save_model(final, recipe, target, metadata)
        print(f"wrote {path} and {path.with_suffix('.json')}")
    return 0


def _start_process_group() -> int:
    """Under `torchrun` (which sets WORLD_SIZE, RANK and the rendezvous address), join its process group with
    the gloo backend (the package trains on the CPU; on GPUs, with the model on cuda:LOCAL_RANK, it would be
    nccl) and return this process's rank; a plain `train` is rank 0 of one."""
    import os
    import torch.distributed as dist
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return dist.get_rank()


def _evaluate_stored(path: Path, num: int, guidance_scale: float) -> dict:
    """The held-out loss and the metrics of `num` images from a stored checkpoint: DDIM-50 samples of a
    diffusion model (one per class in turn for a conditional one), DPM-Solver++-20 scenes for `num` test
    captions from a text-to-image model (prompt fidelity beside real scenes'), reconstructions of the first
    `num` test images by an autoencoder (with their PSNR), or caption retrieval on `num` test scenes."""
    from .checkpoints import load_model, tokenizer_of
    from .metrics import caption_retrieval, heldout_loss, image_quality, prompt_fidelity, prompt_fidelity_ceiling, psnr
    model, recipe, _ = load_model(path)
    result = {"heldout_loss": heldout_loss(model)}
    t0 = time.perf_counter()
    if recipe.kind == "clip":
        metrics = caption_retrieval(model, *datasets.scenes("test", num, seed=datasets.TEST_SEED))
        metrics["seconds"] = round(time.perf_counter() - t0, 1)
    elif recipe.kind == "vae":
        images, labels = (a[:num] for a in datasets.load_fashion_mnist("test"))
        x = datasets.from_model_range(reconstruct(model, datasets.to_model_range(images)))
        metrics = {"reconstructed": "test", "seconds": round(time.perf_counter() - t0, 1),
                   "psnr": psnr(x, images), **image_quality(x, labels)}
    elif recipe.text is not None:  # text-to-image: prompt fidelity of scenes for `num` test captions
        _, captions, _ = datasets.scenes("test", num, seed=datasets.TEST_SEED)
        x = generate(model, num, "dpmpp_2m", 20, seed=0, labels=tokenizer_of(model).encode(captions),
                     guidance_scale=guidance_scale)
        metrics = {"sampler": "dpmpp_2m", "steps": 20, "sample_seconds": round(time.perf_counter() - t0, 1),
                   "guidance_scale": guidance_scale, **prompt_fidelity(datasets.from_model_range(x), captions),
                   "ceiling": prompt_fidelity_ceiling(captions)}
    else:
        labels = sample_labels("all", num, recipe.unet.num_classes) if recipe.unet.num_classes else None
        x = generate(model, num, "ddim", 50, seed=0, labels=labels, guidance_scale=guidance_scale)
        metrics = {"sampler": "ddim", "steps": 50, "sample_seconds": round(time.perf_counter() - t0, 1),
                   **({} if labels is None else {"guidance_scale": guidance_scale}),
                   **image_quality(datasets.from_model_range(x), labels)}
    return {**result, "metrics": metrics}


def _guidance_scale(requested: float | None, labels, metadata: dict) -> float:
    """The w to sample with: as asked, else the one the checkpoint was evaluated at (said aloud), else 1."""
    if labels is None:
        if requested is not None:
            raise ValueError("--guidance-scale needs --label (a class, or 'all') or a prompt")
        return 1.0
    if requested is not None:
        return requested
    recorded = metadata.get("metrics", {}).get("guidance_scale")
    if recorded is None:
        print("guidance scale w = 1 (no guidance): the checkpoint records none; --guidance-scale W to change")
        return 1.0
    print(f"guidance scale w = {recorded:g}, the one this checkpoint was evaluated at; "
          "--guidance-scale W to change (1 = no guidance)")
    return float(recorded)


def _check_out(path: str) -> Path:
    out = Path(path)
    if out.suffix != ".npz" or not out.parent.is_dir():  # checked before minutes of work, not after
        raise ValueError(f"--out must be a .npz file in an existing folder, got {path!r}")
    return out


def _sample(args) -> int:
    from .checkpoints import load_ddpm, tokenizer_of
    out = _check_out(args.out)
    if args.eta and args.sampler != "ddim":
        raise ValueError(f"--eta applies to --sampler ddim only, not {args.sampler}")
    if args.float32 and args.precision not in ("auto", "float32"):
        raise ValueError(f"--float32 means --precision float32; it contradicts --precision {args.precision}")
    ddpm, _, metadata = load_ddpm(args.checkpoint)
    tokenizer = tokenizer_of(ddpm)
    if tokenizer is not None and args.label is not None:
        raise ValueError("--label is for class-conditional checkpoints; this one draws scenes from captions: "
                         "give --prompt or --prompts-file")
    captions = sample_prompts(args.prompt, args.prompts_file, args.num, tokenizer)
    num = len(captions) if captions else args.num or 64
    labels = (tokenizer.encode(captions) if captions else
              sample_labels(args.label, num, ddpm.network.config.num_classes))
    guidance_scale = _guidance_scale(args.guidance_scale, labels, metadata)
    precision = "float32" if args.float32 else args.precision
    print(describe(precision))
    t0 = time.perf_counter()
    x = generate(ddpm, num, args.sampler, args.steps, args.seed, args.eta, args.batch_size,
                 labels=labels, guidance_scale=guidance_scale, cache_every=args.cache_every, last_t=args.last_t,
                 precision=precision, workers=args.workers)
    arrays = {"images": datasets.from_model_range(x).numpy()}
    if captions:
        arrays["prompts"] = np.array(captions, dtype=str)  # a unicode array: loads with allow_pickle=False
    elif labels is not None:
        arrays["labels"] = labels.numpy().astype(np.uint8)
    np.savez_compressed(out, **arrays)
    print(f"wrote {num} images to {out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _read_images(path: str, option: str, key: str = "images") -> np.ndarray:
    """The uint8 array `key` of an .npz (as `sample` and `reconstruct` write), refused clearly otherwise."""
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{option} {path} {'does not exist' if not Path(path).exists() else 'is not an .npz file'}")
    with np.load(path, allow_pickle=False) as f:
        if key not in f.files:
            raise ValueError(f"{option} {path} has no {key!r} array (it has {', '.join(f.files) or 'none'})")
        return f[key]


def _edit(args) -> int:
    from .checkpoints import load_ddpm, tokenizer_of
    from .editing import MASKS, check_mask, make_mask
    out = _check_out(args.out)
    if args.mode == "inpaint" and args.strength is not None:
        raise ValueError("--strength is for --mode sdedit; inpainting keeps the unmasked pixels as they are")
    if args.mode == "sdedit" and (args.mask is not None or args.method is not None):
        raise ValueError("--mask and --method are for --mode inpaint; sdedit redraws the whole image")
    if args.mode == "inpaint" and args.mask is None:
        raise ValueError(f"--mode inpaint needs --mask: {', '.join(MASKS)}, or an .npz with a 'mask' array "
                         "(1 where the image is generated)")
    images = datasets.load_fashion_mnist("test")[0].numpy() if args.input == "test" else _read_images(args.input, "--input")
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"--input must hold 'images' uint8 (N, 28, 28), as `sample` writes; got {images.dtype} "
                         f"{images.shape}")
    if args.num is not None and args.num > len(images):
        raise ValueError(f"--num {args.num} is more than the {len(images)} images of {args.input}")
    images = torch.from_numpy(images[:args.num])
    mask = None
    if args.mask in MASKS:
        mask = make_mask(args.mask, len(images), generator=torch.Generator().manual_seed(args.seed))
    elif args.mask is not None:
        if not args.mask.endswith(".npz"):
            raise ValueError(f"--mask must be one of {', '.join(MASKS)} or an .npz file, got {args.mask!r}")
        mask = torch.from_numpy(_read_images(args.mask, "--mask", "mask").astype(np.float32))
    if mask is not None:
        mask = check_mask(mask, images[:, None])
    if args.strength is not None and not 0 < args.strength <= 1:
        raise ValueError(f"--strength must be in (0, 1], got {args.strength:g}")
    ddpm, recipe, metadata = load_ddpm(args.checkpoint)
    if recipe.kind != "ddpm" or tokenizer_of(ddpm) is not None:
        raise ValueError(f"{Path(args.checkpoint).name} is a {'text-to-image' if recipe.text else 'latent'} model; "
                         "edit works on pixel-space Fashion-MNIST checkpoints such as fashion_ddpm and fashion_cfg")
    num_classes = ddpm.network.config.num_classes
    label, names = args.label, [n.lower() for n in datasets.CLASS_NAMES]
    if label is not None and label.lower() in names:  # a class by name, as --label coat
        label = str(names.index(label.lower()))
    labels = sample_labels(label, len(images), num_classes)
    guidance_scale = _guidance_scale(args.guidance_scale, labels, metadata)
    print(describe(args.precision))
    t0 = time.perf_counter()
    x = edit(ddpm, datasets.to_model_range(images), args.mode, mask=mask,
             strength=args.strength if args.strength is not None else 0.6, method=args.method or "replace",
             jump_length=args.jump_length, resample=args.resample, sampler=args.sampler, steps=args.steps,
             seed=args.seed, labels=labels, guidance_scale=guidance_scale, batch_size=args.batch_size,
             precision=args.precision)
    arrays = {"images": datasets.from_model_range(x).numpy(), "inputs": images.numpy()}
    if mask is not None:
        arrays["masks"] = mask[:, 0].numpy().astype(np.uint8)
    if labels is not None:
        arrays["labels"] = labels.numpy().astype(np.uint8)
    np.savez_compressed(out, **arrays)
    print(f"wrote {len(images)} edited images ({args.mode}) to {out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _reconstruct(args) -> int:
    from .checkpoints import load_model
    from .metrics import psnr
    out = _check_out(args.out)
    vae, recipe, _ = load_model(args.checkpoint)
    if recipe.kind != "vae":
        raise ValueError(f"{Path(args.checkpoint).name} is a diffusion model; reconstruct needs an autoencoder "
                         "checkpoint such as fashion_vae")
    images, labels = datasets.load_fashion_mnist(args.split)
    if args.num > len(images):
        raise ValueError(f"--num must be at most {len(images)}, the size of the {args.split} split, got {args.num}")
    images, labels = images[:args.num], labels[:args.num]
    t0 = time.perf_counter()
    x = datasets.from_model_range(reconstruct(vae, datasets.to_model_range(images)))
    np.savez_compressed(out, images=x.numpy(), labels=labels.numpy().astype(np.uint8))
    print(f"wrote {args.num} reconstructions of the first {args.num} {args.split} images to {out} in "
          f"{time.perf_counter() - t0:.1f} s; PSNR {psnr(x, images):.2f} dB")
    return 0


def _evaluate(args) -> int:
    from .metrics import image_quality, prompt_fidelity, prompt_fidelity_ceiling
    contract = ("an .npz from `sample` holding 'images', uint8 (N, 28, 28), and optionally 'labels' (N,); or "
                "scenes: 'images' uint8 (N, 56, 56) and their 'prompts' (N,) strings")
    if not zipfile.is_zipfile(args.file):
        what = "does not exist" if not Path(args.file).exists() else "is not an .npz file"
        raise ValueError(f"{args.file} {what}; evaluate reads {contract}")
    with np.load(args.file, allow_pickle=False) as f:
        arrays = {name: f[name] for name in f.files if name in ("images", "labels", "prompts")}
    images, labels, prompts = arrays.get("images"), arrays.get("labels"), arrays.get("prompts")
    if images is not None and images.dtype == np.uint8 and images.ndim == 3 and images.shape[1:] == (56, 56):
        if prompts is None or prompts.dtype.kind != "U" or prompts.shape != (len(images),):
            raise ValueError(f"{args.file}: scenes need their 'prompts', {len(images)} strings (a NumPy unicode "
                             f"array); evaluate reads {contract}")
        captions = [str(p) for p in prompts]
        print(json.dumps({"generated": prompt_fidelity(torch.from_numpy(images), captions),
                          "ceiling": prompt_fidelity_ceiling(captions)}, indent=2))
        return 0
    if images is None or images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        got = "no 'images'" if images is None else f"'images' {images.dtype} {images.shape}"
        raise ValueError(f"{args.file} must be {contract}; it has {got}")
    if labels is not None and (labels.shape != (len(images),) or labels.dtype.kind not in "iu" or labels.max() > 9):
        raise ValueError(f"{args.file}: 'labels' must be N = {len(images)} integers in [0, 9], "
                         f"got {labels.dtype} {labels.shape}")
    labels = None if labels is None else torch.from_numpy(labels.astype(np.int64))
    print(json.dumps(image_quality(torch.from_numpy(images), labels), indent=2))
    return 0


def _read_json(path: str, option: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"{option}: no such file {path!r}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{option}: {path} is not valid JSON ({e})") from None


def _at_least(minimum: int, meaning: str = ""):
    """An argparse type: an integer >= minimum, with the allowed range in the error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}{meaning}, got {text!r}")
        return value
    return parse


def _non_negative(meaning: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not value >= 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a number >= 0 ({meaning}), got {text!r}")
        return value
    return parse


def _evaluate_count(text: str) -> int:
    value = _at_least(0)(text)
    if value == 1 or value > 10_000:
        raise argparse.ArgumentTypeError(f"must be 0 (no evaluation) or an integer in [2, 10000] (the test set's "
                                         f"size), got {text!r}")
    return value


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
    train.add_argument("--steps", type=_at_least(1), help="override the recipe's number of steps")
    train.add_argument("--threads", type=_at_least(1), help="torch threads (default: torch's choice)")
    train.add_argument("--out", required=True, help="run folder: state.pt while training, model.* at the end")
    train.add_argument("--evaluate", type=_evaluate_count, default=0, metavar="N",
                       help="after training, record FID/KID of N DDIM-50 samples in the checkpoint's metadata")
    train.add_argument("--export", help="also write the final checkpoint to EXPORT.safetensors/.json")
    train.add_argument("--precision", choices=PRECISIONS,
                       help="override the recipe's number format (auto: bfloat16 autocast where the CPU computes it "
                            "natively, float32 elsewhere; bf16; float32)")
    train.add_argument("--guidance-scale", type=_non_negative("0 = unconditional, 1 = no guidance"), default=1.0,
                       help="class- or text-conditional recipes: the w of the --evaluate samples (one per class in "
                            "turn, or one scene per test caption)")
    sample = commands.add_parser("sample", help="draw images from a checkpoint into an .npz")
    sample.add_argument("--checkpoint", required=True, help="PATH of PATH.safetensors + PATH.json")
    sample.add_argument("--num", type=_at_least(1), help="images to draw (default: 64)")
    sample.add_argument("--sampler", default="ddim", choices=tuple(STEPS), help="(default: %(default)s)")
    sample.add_argument("--steps", type=_at_least(1), default=50,
                        help="sampling steps, at most T (default: %(default)s)")
    sample.add_argument("--eta", type=_non_negative("0 = deterministic DDIM, 1 = DDPM's variance"), default=0.0,
                        help="DDIM's η (default: %(default)s)")
    sample.add_argument("--seed", type=int, default=0,
                        help="the same seed gives the same images (default: %(default)s)")
    sample.add_argument("--label", help="class-conditional checkpoints: a class 0-9 for every image, or 'all' "
                                        "for the classes in turn")
    sample.add_argument("--prompt", help="text-to-image checkpoints: the caption of every image, in the scenes' "
                                         "grammar ('a bag in the top left and a sneaker in the bottom right')")
    sample.add_argument("--prompts-file", help="text-to-image checkpoints: one image per non-empty line, each line a "
                                               "caption")
    sample.add_argument("--guidance-scale", type=_non_negative("0 = unconditional, 1 = no guidance"),
                        help="classifier-free guidance w (1 = plain conditional, 0 = unconditional; default: the w "
                             "recorded in the checkpoint)")
    sample.add_argument("--batch-size", type=_at_least(1), default=SAMPLE_BATCH,
                        help="images per network call (default: %(default)s)")
    sample.add_argument("--cache-every", type=_at_least(1, " (1 = off)"), default=1,
                        help="run the whole UNet on every N-th network call only, reusing its deep features "
                             "between (DeepCache; 1 = off)")
    sample.add_argument("--last-t", type=_at_least(0),
                        help="space the steps evenly from t = T-1 down to this t, then step to the clean image "
                             "(default: 'trailing' spacing, which ends at t = T/steps - 1)")
    sample.add_argument("--workers", type=_at_least(1), default=1,
                        help="sample this many batches at once, each in its own thread on one torch thread "
                             "(different images from the default 1, the same for any N > 1)")
    sample.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="the network's number format: auto (bfloat16 autocast where the CPU computes it "
                             "natively, float32 elsewhere), bf16 or float32 (default: %(default)s)")
    sample.add_argument("--float32", action="store_true", help="the same as --precision float32")
    sample.add_argument("--out", required=True, help="the .npz to write")
    edit_ = commands.add_parser("edit", help="inpaint or redraw (SDEdit) images with a pixel-space checkpoint")
    edit_.add_argument("--checkpoint", required=True, help="PATH of PATH.safetensors + PATH.json (fashion_ddpm, "
                                                           "fashion_cfg)")
    edit_.add_argument("--input", required=True, help="an .npz with 'images' uint8 (N, 28, 28), as sample writes, "
                                                      "or 'test' for Fashion-MNIST's test images")
    edit_.add_argument("--mode", required=True, choices=EDIT_MODES)
    edit_.add_argument("--mask", help="inpaint: box, half, strokes (random, from --seed) or an .npz with a 'mask' "
                                      "(28, 28) or (N, 28, 28) of 0 and 1, 1 where the image is generated")
    edit_.add_argument("--method", choices=("replace", "repaint"), help="inpaint: paste the known pixels at every "
                       "step, or RePaint's resampling as well (default: replace)")
    edit_.add_argument("--jump-length", type=_at_least(1), default=5, help="repaint: steps between jumps back up "
                                                                          "(default: %(default)s)")
    edit_.add_argument("--resample", type=_at_least(1), default=3, help="repaint: passes over each stretch "
                                                                       "(default: %(default)s)")
    edit_.add_argument("--strength", type=float, help="sdedit: how far towards noise the input goes, in (0, 1] "
                                                      "(default: 0.6)")
    edit_.add_argument("--label", help="class-conditional checkpoints: steer towards a class, by number 0-9 or name "
                                       "(coat), or 'all' for the classes in turn")
    edit_.add_argument("--guidance-scale", type=_non_negative("0 = unconditional, 1 = no guidance"),
                       help="classifier-free guidance w with --label (default: the checkpoint's)")
    edit_.add_argument("--num", type=_at_least(1), help="edit the first NUM images of --input (default: all)")
    edit_.add_argument("--sampler", default="ddim", choices=tuple(STEPS), help="(default: %(default)s)")
    edit_.add_argument("--steps", type=_at_least(1), default=50, help="sampling steps (default: %(default)s)")
    edit_.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    edit_.add_argument("--batch-size", type=_at_least(1), default=SAMPLE_BATCH, help="(default: %(default)s)")
    edit_.add_argument("--precision", choices=PRECISIONS, default="auto", help="(default: %(default)s)")
    edit_.add_argument("--out", required=True, help="the .npz to write: images, inputs, masks (inpaint), labels")
    recon = commands.add_parser("reconstruct", help="encode and decode Fashion-MNIST images with an autoencoder")
    recon.add_argument("--checkpoint", required=True, help="an autoencoder's PATH.safetensors + PATH.json")
    recon.add_argument("--split", default="test", choices=("train", "test"), help="(default: %(default)s)")
    recon.add_argument("--num", type=_at_least(1), default=1000,
                       help="the first NUM images of the split, in order (default: %(default)s)")
    recon.add_argument("--out", required=True, help="the .npz to write: images and the originals' labels")
    evaluate = commands.add_parser("evaluate", help="FID/KID of an .npz of images against the test set, or the "
                                                    "prompt fidelity of scenes")
    evaluate.add_argument("file")
    args = parser.parse_args(argv)
    try:
        return {"data": _data, "train": _train, "sample": _sample, "edit": _edit, "reconstruct": _reconstruct,
                "evaluate": _evaluate}[args.command](args)
    except (datasets.DataError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
