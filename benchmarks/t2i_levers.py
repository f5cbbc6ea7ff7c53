"""Which change binds words to places? Chapter 10's text-to-image recipe with one change per arm, each trained
for the same wall-clock budget on this CPU and scored by prompt fidelity (issue 33).

    .venv/bin/python benchmarks/t2i_levers.py                    # every arm without a result yet
    .venv/bin/python benchmarks/t2i_levers.py --arms base where  # these (skipped if they have a result)

Each arm is the recipe `scenes-ldm` with one change (`ARMS`), trained through the package's `Trainer` on the
60,000 train scenes (encoded once by `fashion_vae`, captions tokenized by `scenes_clip`) for `--minutes`
(12 by default; the `compute-2x` arm twice that): a probe of `--probe-seconds` measures its steps per
second and sizes the run, so that its learning-rate schedule decays over exactly the budget (as
`train_budget.py` sizes its runs). Then the EMA weights draw one scene for each of `--num` test captions
(`datasets.scenes("test", N, TEST_SEED)`) with DPM-Solver++(2M) in 20 steps at w = 3, scored by
`metrics.prompt_fidelity` beside the same measure on real scenes with those captions: prompt fidelity,
by number of items, items at held-out (class, cell) pairs, empty cells, item FID against its floor,
training images/s, and the seconds those scenes took, scaled to 1,000.

Each arm writes benchmarks/results/t2i_levers/ARM.json as soon as it finishes, and a rerun skips the arms
that have one (--force retrains them), so a stopped session loses one arm at most; the table of every
arm with a result is printed at the end.
"""
import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import torch

from diffusion_lite import datasets
from diffusion_lite.checkpoints import Recipe, build_model, get_recipe, tokenizer_of
from diffusion_lite.generation import generate
from diffusion_lite.metrics import prompt_fidelity, prompt_fidelity_ceiling
from diffusion_lite.pipeline import LatentDDPM
from diffusion_lite.precision import autocast, cpu_name, resolve
from diffusion_lite.training import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling script, also when loaded from elsewhere
from train_budget import train_for  # noqa: E402

RESULTS = Path("benchmarks/results/t2i_levers")
GUIDANCE, SAMPLER, SAMPLER_STEPS = 3.0, "dpmpp_2m", 20


def _unet(**changes):
    return lambda r: replace(r, unet=replace(r.unet, **changes))


def _pixels(r: Recipe) -> Recipe:
    """The base model's network on 56×56 pixels: two more halvings in front (32 and 64 channels at 56×56 and
    28×28), then the base's 64/128 channels at 14×14 and 7×7 with cross-attention at 7×7 and in the middle,
    as in the base; x̂0 clipped to the pixels' [−1, 1]."""
    return replace(r, latent=None, unet=replace(r.unet, in_channels=1, image_size=56, channels=(32, 64, 64, 128),
                                                cross_attention_levels=(3,)),
                   ddpm=replace(r.ddpm, clip_x0=1.0))


# name: (what changes, the recipe with the change, the budget's multiple)
ARMS = {
    "base": ("chapter 10's scenes-ldm as shipped", lambda r: r, 1),
    "where": ("a learned position embedding added to every cross-attention's queries", _unet(query_position=True), 1),
    "text-finetune": ("scenes_clip's text encoder fine-tuned with the UNet",
                      lambda r: replace(r, text=replace(r.text, train=True)), 1),
    "text-scratch": ("a text encoder of scenes_clip's shape trained with the UNet from random weights",
                     lambda r: replace(r, text=replace(r.text, train=True, from_scratch=True)), 1),
    "pooled": ("the pooled <start> vector as the only context token (chapter 09's seed), not the token sequence",
               lambda r: replace(r, text=replace(r.text, pooled=True)), 1),
    "layout-loss": ("a loss (weight 0.1) asking each item's name to be attended to from its own cell (TokenCompose)",
                    lambda r: replace(r, text=replace(r.text, layout_loss=0.1)), 1),
    "attention-14": ("cross-attention at 14×14 too, not only at 7×7 and in the middle",
                     _unet(cross_attention_levels=(0, 1)), 1),
    "heads-8": ("8 attention heads instead of 4", _unet(num_heads=8), 1),
    "pixels": ("the same network on 56×56 pixels instead of 14×14 latents", _pixels, 1),
    "compute-2x": ("twice the budget", lambda r: r, 2),
    "wide": ("channels 96/192 instead of 64/128", _unet(channels=(96, 192)), 1),
}


def arm_recipe(name: str) -> Recipe:
    return ARMS[name][1](get_recipe("scenes-ldm"))


class Scenes:
    """The train scenes, their captions' token ids, and their latents under the recipe's autoencoder, made
    once per invocation (encoding 60,000 scenes takes about a minute)."""

    def __init__(self, num: int):
        self.images, captions, _ = datasets.scenes("train", num, seed=get_recipe("scenes-ldm").train.seed)
        self.captions, self._latents = captions, {}  # by autoencoder and size: every arm here shares one

    def data(self, model, recipe: Recipe) -> tuple[torch.Tensor, torch.Tensor]:
        labels = tokenizer_of(model).encode(self.captions).long()
        x = datasets.to_model_range(self.images)
        if recipe.kind != "ldm":
            return x, labels
        key = (recipe.latent.vae, recipe.latent.image_size)
        if key not in self._latents:
            with autocast(recipe.train.precision):
                self._latents[key] = model.encode(x).float()
        return self._latents[key], labels


def run_arm(name: str, scenes: Scenes, seconds: float, num: int, probe_seconds: float) -> dict:
    recipe, budget = arm_recipe(name), seconds * ARMS[name][2]
    torch.manual_seed(recipe.train.seed)
    model = build_model(recipe)
    x, labels = scenes.data(model, recipe)
    network = lambda: build_model(recipe).ddpm if recipe.kind == "ldm" else build_model(recipe)  # noqa: E731
    trainer = Trainer(network(), x, recipe.train, labels)
    trainer.train(until=3, progress=False)  # warm-up, not timed
    probe_steps, probe_time = train_for(lambda: trainer.train(until=trainer.step + 1, progress=False), probe_seconds)
    recipe.train.steps = max(20, int(budget * probe_steps / probe_time))
    recipe.train.warmup_steps = min(recipe.train.warmup_steps, recipe.train.steps // 4)
    torch.manual_seed(recipe.train.seed)
    trainer = Trainer(network(), x, recipe.train, labels)
    trainer.train(progress=True)
    trainer.ema.eval()
    sampled = LatentDDPM(trainer.ema, model.vae, recipe.latent.image_size) if recipe.kind == "ldm" else trainer.ema
    _, captions, _ = datasets.scenes("test", num, seed=datasets.TEST_SEED)
    t0 = time.perf_counter()
    images = generate(sampled, num, SAMPLER, SAMPLER_STEPS, seed=0, labels=tokenizer_of(model).encode(captions),
                      guidance_scale=GUIDANCE, progress=False)
    sample_seconds = time.perf_counter() - t0
    return {"arm": name, "change": ARMS[name][0], "recipe": recipe.to_dict(), "steps": trainer.step,
            "batch_size": recipe.train.batch_size, "train_seconds": trainer.seconds,
            "images_per_second": trainer.step * recipe.train.batch_size / trainer.seconds,
            "params": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
            "final_loss_mean_100": sum(trainer.losses[-100:]) / len(trainer.losses[-100:]),
            "sampler": SAMPLER, "sampler_steps": SAMPLER_STEPS, "guidance_scale": GUIDANCE,
            "sample_seconds": sample_seconds, "seconds_per_1000": sample_seconds * 1000 / num,
            **prompt_fidelity(datasets.from_model_range(images), captions),
            "ceiling": prompt_fidelity_ceiling(captions)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", choices=ARMS, metavar="ARM",
                        help=f"any of {', '.join(ARMS)} (default: every arm without a result)")
    parser.add_argument("--force", action="store_true", help="retrain arms that already have a result")
    parser.add_argument("--minutes", type=float, default=12.0, help="the training budget of an arm")
    parser.add_argument("--num", type=int, default=500, help="test captions to draw and score")
    parser.add_argument("--probe-seconds", type=float, default=30.0, help="the probe that sizes each run")
    parser.add_argument("--scenes", type=int, default=datasets.TRAIN_SCENES, help="train scenes (the recipe's 60,000)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS), help="the folder of ARM.json files")
    args = parser.parse_args()
    if args.minutes <= 0 or args.probe_seconds <= 0 or args.threads < 1 or args.num < 2 or args.scenes < 1:
        parser.error("--minutes and --probe-seconds must be > 0, --threads and --scenes >= 1, --num >= 2")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    todo = [a for a in (args.arms or ARMS) if args.force or not (out / f"{a}.json").exists()]
    skipped = [a for a in (args.arms or ARMS) if a not in todo]
    if skipped:
        print(f"skipping {', '.join(skipped)}: results in {out} (--force retrains them)")
    scenes = Scenes(args.scenes) if todo else None
    for name in todo:
        print(f"== {name}: {ARMS[name][0]}; {args.minutes * ARMS[name][2]:g} min", flush=True)
        r = run_arm(name, scenes, 60 * args.minutes, args.num, args.probe_seconds)
        r.update(minutes=args.minutes * ARMS[name][2], threads=args.threads, machine=cpu_name(),
                 precision=resolve(arm_recipe(name).train.precision), torch=torch.__version__,
                 date=date.today().isoformat())
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.json").write_text(json.dumps(r, indent=2))
    runs = {a: json.loads((out / f"{a}.json").read_text()) for a in ARMS if (out / f"{a}.json").exists()}
    print(f"\n{'arm':14s} {'steps':>6s} {'img/s':>6s} {'prompt':>7s} {'× ceil':>6s} {'1/2/3/4 items':>23s} "
          f"{'held-out':>8s} {'empty':>6s} {'item FID':>8s} {'s/1000':>7s}")
    for a, r in runs.items():
        items = "/".join("—" if r["by_items"][k] is None else f"{r['by_items'][k]:.2f}" for k in "1234")
        print(f"{a:14s} {r['steps']:6d} {r['images_per_second']:6.0f} {r['prompt']:7.3f} "
              f"{r['prompt'] / r['ceiling']['prompt']:5.2f}× {items:>23s} {r['held_out_item'] or 0:8.3f} "
              f"{r['empty']:6.3f} {r['item_fid']:8.1f} {r['seconds_per_1000']:7.1f}")


if __name__ == "__main__":
    main()
