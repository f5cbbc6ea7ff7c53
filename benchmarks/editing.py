"""Inpainting and SDEdit with the book's `fashion_ddpm`, measured (chapter 11, issue 34).

    .venv/bin/python benchmarks/editing.py                  # both parts
    .venv/bin/python benchmarks/editing.py --parts inpaint  # one

- inpaint: the first `--num` test images with their bottom half masked, completed by replacement and by
  RePaint (jump length 5, resample 2 and 4) with DDIM-50 (`generation.edit`). For each: the agreement of
  the book classifier's class for the completion with its class for the original, FID/KID of the
  completions beside the real-vs-real floor, and the seconds it took. The originals themselves are the
  ceiling (agreement 1, FID at the floor); the masked inputs, half black, the other end.
- sdedit: the same images redrawn from strength t0 = 0.1 … 1.0 (DDIM, the last round(t0·50) of 50
  steps): realism (FID) against faithfulness (PSNR to the input, and the class kept).
- sdedit-paint: the same from "paintings" of them, flat 4×4-pixel blocks of their mean (`painting`), the
  kind of unrealistic guide SDEdit is for: realism against faithfulness (PSNR to the painting, the
  original's class kept), the trade-off curve of Meng et al. (2021, Fig. 3) on this model; strength 0 is
  the painting itself.
Each part is written to benchmarks/results/editing.json as soon as it finishes (merged by part).
"""
import argparse
import json
import time
from datetime import date
from pathlib import Path

import torch

from diffusion_lite.checkpoints import load_ddpm
from diffusion_lite.datasets import from_model_range, load_fashion_mnist, to_model_range
from diffusion_lite.editing import make_mask, painting
from diffusion_lite.generation import edit
from diffusion_lite.metrics import classifier_outputs, image_quality, load_classifier, psnr
from diffusion_lite.precision import cpu_name, resolve

PARTS = ("inpaint", "sdedit", "sdedit-paint")
INPAINT = {"replace": {"method": "replace"},
           "repaint-r2": {"method": "repaint", "jump_length": 5, "resample": 2},
           "repaint-r4": {"method": "repaint", "jump_length": 5, "resample": 4}}
STRENGTHS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
SAMPLER, STEPS = "ddim", 50


def scores(images: torch.Tensor, reference: torch.Tensor, classes: torch.Tensor) -> dict:
    """FID/KID against the floor, agreement with the originals' classes, PSNR to `reference` (uint8)."""
    quality = image_quality(images, classes)
    return {"fid": quality["fid"], "fid_floor": quality["fid_floor"], "kid": quality["kid"],
            "class_agreement": quality["class_accuracy"], "psnr": psnr(images, reference)}


def run_part(part: str, ddpm, originals: torch.Tensor, classes: torch.Tensor) -> dict:
    x = to_model_range(originals)
    rows = {}
    if part == "inpaint":
        mask = make_mask("half", len(x))
        rows["originals"] = scores(originals, originals, classes)
        rows["masked"] = scores(from_model_range(x * (1 - mask) - mask), originals, classes)  # half black
        settings = INPAINT
    else:
        settings = {f"strength-{s:.1f}": {"strength": s} for s in STRENGTHS}
        if part == "sdedit-paint":
            x = painting(x)
            rows["strength-0.0"] = {"strength": 0.0, **scores(from_model_range(x), from_model_range(x), classes)}
    for name, options in settings.items():
        t0 = time.perf_counter()
        out = edit(ddpm, x, "inpaint" if part == "inpaint" else "sdedit", mask=mask if part == "inpaint" else None,
                   sampler=SAMPLER, steps=STEPS, progress=False, **options)
        seconds = time.perf_counter() - t0
        reference = from_model_range(x) if part == "sdedit-paint" else originals  # faithful to the input
        rows[name] = {**options, "seconds": seconds, **scores(from_model_range(out), reference, classes)}
        print(f"  {name:14s} {seconds:6.1f} s  FID {rows[name]['fid']:6.1f}  agreement "
              f"{rows[name]['class_agreement']:.3f}  PSNR {rows[name]['psnr']:.2f}", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--checkpoint", default="data/checkpoints/fashion_ddpm")
    parser.add_argument("--num", type=int, default=1000, help="the first NUM test images")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/editing.json")
    args = parser.parse_args()
    if not 2 <= args.num <= 10_000 or args.threads < 1:
        parser.error("--num must be in [2, 10000] and --threads >= 1")
    torch.set_num_threads(args.threads)
    ddpm, recipe, _ = load_ddpm(args.checkpoint)
    if recipe.kind != "ddpm" or recipe.text is not None:
        parser.error(f"{args.checkpoint} is not a pixel-space Fashion-MNIST model")
    originals = load_fashion_mnist("test")[0][:args.num]
    _, classes = classifier_outputs(load_classifier(), to_model_range(originals))
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {"parts": {}}
    for part in args.parts:
        print(f"== {part}", flush=True)
        results["parts"][part] = {"rows": run_part(part, ddpm, originals, classes), "checkpoint": args.checkpoint,
                                  "sampler": SAMPLER, "steps": STEPS, "num_images": args.num,
                                  "threads": args.threads, "machine": cpu_name(),
                                  "precision": resolve("auto"), "torch": torch.__version__,
                                  "date": date.today().isoformat()}
        out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
