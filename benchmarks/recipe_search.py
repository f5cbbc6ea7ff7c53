"""Compare variants of the book's recipe at the step counts this CPU reaches in a budget, on any device.

    .venv/bin/python benchmarks/recipe_search.py --variants probe-15 quick-15 --out benchmarks/results/recipe_search.json

`train_budget.py` answers "which recipe is best in 15 minutes on this CPU?" but costs 15 minutes per
recipe. This script answers "which *variant* is best?" faster: each variant trains for the number of
steps that 2 threads of this CPU reach in the budget (from its images/s, measured by
`.venv/bin/python benchmarks/train_budget.py` or chapter 03), on CUDA when there is a GPU (the same
code in float32; several variants can run at once, one process each) or else on the CPU, and is
scored like `train_budget.py`: FID/KID of 1,000 EMA samples (DDIM, 50 steps; and DPM-Solver++, 20
steps; or the samplers that `--samplers` names, e.g. `ddpm-1000` too) against the real-vs-real floor.
`--limit-minutes` stops a variant's training early; the JSON then records the step it reached, and its
numbers are not comparable with complete runs.
Results are merged into --out by variant name. Chapter 04 reads them. The search without flips on
a lent H100 (8 variants at once, one process each, stopped at 7.3 minutes, halfway) went into
`recipe_search_noflip.json`, RESULTS.md's leads:

    for v in add-ema9995-noflip-60 add-ema9995-noflip-vpred-60 noflip-vpred-ema9998-60 ...; do
        python3 benchmarks/recipe_search.py --variants $v --limit-minutes 7.3 --out /tmp/r/$v.json & done

`--print-recipe` prints a variant's recipe as JSON instead, for the CLI, which trains it with
checkpoints, resume and its stored weights (`add-ema9995-noflip-vpred-60` was run this way on the CPU):

    .venv/bin/python benchmarks/recipe_search.py --variants add-ema9995-noflip-vpred-60 --print-recipe > vpred.json
    .venv/bin/python -m diffusion_lite train --config vpred.json --out data/runs/fashion-ddpm-vpred --evaluate 1000
"""
import argparse
import json
import time
from pathlib import Path

import torch

from diffusion_lite.generation import SAMPLE_BATCH, generate
from diffusion_lite.checkpoints import Recipe, build_ddpm, get_recipe
from diffusion_lite.datasets import from_model_range, load_fashion_mnist, to_model_range
from diffusion_lite.metrics import image_quality
from diffusion_lite.samplers import STEPS
from diffusion_lite.training import Trainer

PATCH2 = {"unet.patch_size": 2, "unet.channels": (64, 128)}  # chapter 03's 2×2-patch UNet
MIN_SNR = {"ddpm.min_snr_gamma": 5.0}
QUICK = {**MIN_SNR, "train.batch_size": 64, "unet.skip": "add"}  # the recipe fashion-quick
NOFLIP_60 = {**QUICK, "train.ema_decay": 0.9995, "train.hflip": False}  # the recipe fashion-ddpm
NOFLIP_V = {**NOFLIP_60, "ddpm.prediction_type": "v_prediction"}
# name: (budget in minutes, steps = CPU images/s × budget / batch, changes to the probe recipe fashion-probe:
# the concatenating UNet, batch 128, the plain ε-loss, EMA 0.999).
# CPU images/s on 2 threads: the probe's UNet 238 (batch 128) and 231 (batch 64), the 2×2-patch UNet 388,
# the same with 2 blocks per level 253, with channels (96, 192) 204, the probe's UNet with 2 blocks 151.
VARIANTS = {
    "probe-15": (15, 1750, {}),
    "probe-minsnr-15": (15, 1750, MIN_SNR),
    "probe-minsnr-lr4e-3-15": (15, 1750, {**MIN_SNR, "train.lr": 4e-3}),
    "quick-15": (15, 3300, {**MIN_SNR, "train.batch_size": 64}),
    "add-quick-15": (15, 4000, {**MIN_SNR, "train.batch_size": 64, "unet.skip": "add"}),  # fashion-quick, with flips
    "patch2-15": (15, 2700, PATCH2),
    "patch2-minsnr-15": (15, 2700, {**PATCH2, **MIN_SNR}),
    "patch2-2blocks-minsnr-15": (15, 1780, {**PATCH2, **MIN_SNR, "unet.blocks_per_level": 2}),
    "probe-60": (60, 7000, {}),  # the shipped checkpoint's recipe until 2026-11-26, trained on this CPU
    "2blocks-minsnr-60": (60, 4250, {**MIN_SNR, "unet.blocks_per_level": 2}),
    "patch2-60": (60, 10000, PATCH2),
    "patch2-minsnr-60": (60, 10000, {**PATCH2, **MIN_SNR}),
    "patch2-vcosine-60": (60, 10000, {**PATCH2, "ddpm.prediction_type": "v_prediction", "ddpm.schedule": "cosine"}),
    "patch2-2blocks-60": (60, 6900, {**PATCH2, "unet.blocks_per_level": 2}),
    "patch2-2blocks-minsnr-60": (60, 6900, {**PATCH2, **MIN_SNR, "unet.blocks_per_level": 2}),
    "patch2-wide-60": (60, 5600, {"unet.patch_size": 2, "unet.channels": (96, 192)}),
    # fashion-quick for an hour: additive skips at about 320 images/s on 2 threads (fused AdamW), batch 64,
    # so 15,000 steps (50 minutes); variants at their own speeds: batch 128 (~340 img/s), channels 48/96/192
    # (~180), 2 blocks per level (~205), attention also at 14×14 (~245). add-ema9995-60 is fashion-ddpm.
    "add-60": (60, 15000, QUICK),
    "add-b128-60": (60, 7500, {**QUICK, "train.batch_size": 128}),
    "add-ema9995-60": (60, 15000, {**QUICK, "train.ema_decay": 0.9995}),
    "add-vpred-60": (60, 15000, {**QUICK, "ddpm.prediction_type": "v_prediction"}),
    "add-wide-60": (60, 8400, {**QUICK, "unet.channels": (48, 96, 192)}),
    "add-2blocks-60": (60, 9600, {**QUICK, "unet.blocks_per_level": 2}),
    "add-attn14-60": (60, 11500, {**QUICK, "unet.attention_levels": (1,)}),
    # Not an hour: four times its images (batch 256), to see how far more training alone would go.
    "add-b256-240": (240, 15000, {**QUICK, "train.batch_size": 256}),
    # Every variant above trains on randomly mirrored images, as the probe does. Fashion-MNIST's shoes all
    # face left, so that changes the distribution (chapter 04, section 7). These two drop the flips:
    # add-quick-15 without them, and fashion-ddpm. The search without flips starts with v-prediction, the
    # one-hour change that came closest to the best with flips (add-vpred-60, stopped 500 steps short).
    "add-quick-noflip-15": (15, 4000, {**QUICK, "train.hflip": False}),
    "add-ema9995-noflip-60": (60, 15000, NOFLIP_60),
    "add-ema9995-noflip-vpred-60": (60, 15000, NOFLIP_V),
    # The search without flips goes on from fashion-ddpm with v-prediction, one change at a time (2 blocks per
    # level at its own speed, ~205 images/s): the EMA's length, the loss weighting, the learning rate and the
    # noise schedule. Run on a lent H100 into recipe_search_noflip.json, beside both no-flip recipes above
    # as controls trained there too, since a GPU in float32 does not give the CPU's numbers.
    "noflip-vpred-ema9998-60": (60, 15000, {**NOFLIP_V, "train.ema_decay": 0.9998}),
    "noflip-vpred-nominsnr-60": (60, 15000, {**NOFLIP_V, "ddpm.min_snr_gamma": None}),
    "noflip-vpred-lr1e-3-60": (60, 15000, {**NOFLIP_V, "train.lr": 1e-3}),
    "noflip-vpred-lr4e-3-60": (60, 15000, {**NOFLIP_V, "train.lr": 4e-3}),
    "noflip-vpred-cosine-60": (60, 15000, {**NOFLIP_V, "ddpm.schedule": "cosine"}),
    "noflip-vpred-2blocks-60": (60, 9600, {**NOFLIP_V, "unet.blocks_per_level": 2}),
}


def variant_recipe(name: str) -> Recipe:
    """The fashion-probe recipe with the variant's steps and changes, validated."""
    _, steps, changes = VARIANTS[name]
    recipe = get_recipe("fashion-probe").to_dict()
    recipe["train"]["steps"] = steps
    for key, value in changes.items():
        section, field = key.split(".")
        if field not in recipe[section]:
            raise ValueError(f"variant {name!r}: {section} has no setting {field!r}")
        recipe[section][field] = value
    return Recipe.from_dict(recipe)  # runs every config's checks


def run(name: str, limit_seconds: float, device: str, samplers: list[tuple[str, int]]) -> dict:
    minutes, steps, changes = VARIANTS[name]
    recipe = variant_recipe(name)
    data = to_model_range(load_fashion_mnist("train")[0]).to(device)
    torch.manual_seed(recipe.train.seed)
    trainer = Trainer(build_ddpm(recipe).to(device), data, recipe.train)
    t0 = time.time()
    while trainer.step < steps and time.time() - t0 < limit_seconds:
        trainer.train(until=min(steps, trainer.step + 250), progress=False)
    result = {"budget_minutes": minutes, "steps": steps, "reached": trainer.step, "changes": changes,
              "params": sum(p.numel() for p in trainer.model.parameters()), "train_seconds": round(time.time() - t0),
              "device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "torch": torch.__version__}
    trainer.ema.eval()
    batch = 1000 if device == "cuda" else SAMPLE_BATCH  # one batch on a GPU; cache-sized on a CPU
    for sampler, num_steps in samplers:
        quality = image_quality(from_model_range(generate(trainer.ema, 1000, sampler, num_steps, seed=0,
                                                          batch_size=batch, progress=False).cpu()))
        result[f"{sampler}-{num_steps}"] = {k: round(quality[k], 1) for k in ("fid", "kid", "fid_floor")}
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", required=True, choices=tuple(VARIANTS), metavar="NAME",
                        help=f"any of {', '.join(VARIANTS)}")
    parser.add_argument("--out", default="benchmarks/results/recipe_search.json")
    parser.add_argument("--limit-minutes", type=float, default=float("inf"), help="stop each training early")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--samplers", nargs="+", default=["ddim-50", "dpmpp_2m-20"], metavar="SAMPLER-STEPS",
                        help="how to score each variant (default: ddim-50 dpmpp_2m-20; e.g. ddpm-1000 too)")
    parser.add_argument("--print-recipe", action="store_true",
                        help="print each variant's recipe as JSON (for `python -m diffusion_lite train --config`)")
    args = parser.parse_args()
    if args.print_recipe:
        for name in args.variants:
            print(json.dumps(variant_recipe(name).to_dict(), indent=1))
        return
    samplers = []
    for item in args.samplers:
        sampler, _, steps = item.rpartition("-")
        if sampler not in STEPS or not steps.isdigit() or int(steps) < 1:
            parser.error(f"--samplers takes SAMPLER-STEPS with SAMPLER one of {', '.join(STEPS)}, got {item!r}")
        samplers.append((sampler, int(steps)))
    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    out = Path(args.out)
    for name in args.variants:
        result = run(name, 60 * args.limit_minutes, device, samplers)
        results = json.loads(out.read_text()) if out.exists() else {}  # re-read: other processes may write too
        results[name] = result
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1))
        print(name, json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
