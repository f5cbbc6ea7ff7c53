"""Does synthetic data help a classifier trained on little real data? Measured with `fashion_cfg` (issue 34).

    .venv/bin/python benchmarks/augmentation.py

The book's classifier architecture (`metrics.FashionClassifier`, trained by `metrics.train_classifier` as
the book's classifier was: AdamW 2e-3 with one-cycle, random horizontal flips) on a small real subset of the training
set, `--per-class` images of each class (20 and 100 by default, drawn per seed), with and without
`--synthetic` images of each class drawn by the class-conditional `fashion_cfg` (DPM-Solver++(2M), 20
steps, at the guidance scale its checkpoint records; labelled by the class asked for), for three seeds.
Every run takes the same `--steps` of `--batch-size` (the same compute whatever the data), drawn
uniformly from the union of the real and synthetic images, and is scored by accuracy on the 10,000
test images. The synthetic pool is drawn once (seed 0) and cut to each amount.

Results: benchmarks/results/augmentation.json, written after every run (a rerun skips the runs it has),
printed as mean ± standard deviation over the seeds.
"""
import argparse
import json
import statistics
import time
from datetime import date
from pathlib import Path

import torch

from diffusion_lite.checkpoints import load_ddpm
from diffusion_lite.datasets import load_fashion_mnist, to_model_range
from diffusion_lite.generation import generate
from diffusion_lite.metrics import classifier_outputs, train_classifier
from diffusion_lite.precision import cpu_name

OUT = Path("benchmarks/results/augmentation.json")


def synthetic_pool(checkpoint: str, per_class: int) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """`per_class` images of each class from the checkpoint, in [−1, 1], with their labels, class by class in
    turn (0, 1, …, 9, 0, 1, …) so that any prefix of 10·k images holds k of each."""
    ddpm, _, metadata = load_ddpm(checkpoint)
    w = metadata["metrics"]["guidance_scale"]
    labels = torch.arange(10 * per_class) % 10
    t0 = time.perf_counter()
    images = generate(ddpm, len(labels), "dpmpp_2m", 20, seed=0, labels=labels, guidance_scale=w)
    return images, labels, {"guidance_scale": w, "sample_seconds": time.perf_counter() - t0}


def real_subset(per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = load_fashion_mnist("train")
    g = torch.Generator().manual_seed(1000 + seed)
    chosen = torch.cat([torch.nonzero(labels == c)[:, 0][torch.randperm(int((labels == c).sum()), generator=g)[:per_class]]
                        for c in range(10)])
    return to_model_range(images[chosen]), labels[chosen]


def test_accuracy(x: torch.Tensor, y: torch.Tensor, steps: int, batch_size: int, seed: int,
                  test: tuple[torch.Tensor, torch.Tensor]) -> float:
    model = train_classifier(x, y, steps, batch_size, seed=seed)
    _, predicted = classifier_outputs(model, test[0])
    return float((predicted == test[1]).float().mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, nargs="+", default=[20, 100], help="real images of each class")
    parser.add_argument("--synthetic", type=int, nargs="+", default=[0, 100, 500],
                        help="synthetic images of each class added")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--checkpoint", default="data/checkpoints/fashion_cfg")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    if min(args.per_class) < 1 or min(args.synthetic) < 0 or args.steps < 1 or args.batch_size < 1 or args.threads < 1:
        parser.error("--per-class, --steps, --batch-size and --threads must be >= 1 and --synthetic >= 0")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    settings = {"steps": args.steps, "batch_size": args.batch_size, "checkpoint": args.checkpoint}
    results = json.loads(out.read_text()) if out.exists() else {}
    if results.get("settings") != settings:
        results = {"settings": settings, "runs": {}}
    pool = None
    if max(args.synthetic) > 0:
        print(f"drawing {max(args.synthetic)} synthetic images of each class", flush=True)
        pool_x, pool_y, pool_info = synthetic_pool(args.checkpoint, max(args.synthetic))
        pool = (pool_x, pool_y)
        results["synthetic"] = {**pool_info, "per_class": max(args.synthetic)}
    test_images, test_labels = load_fashion_mnist("test")
    test = (to_model_range(test_images), test_labels)
    for real in args.per_class:
        for synthetic in args.synthetic:
            for seed in args.seeds:
                key = f"real{real}-synthetic{synthetic}-seed{seed}"
                if key in results["runs"]:
                    continue
                x, y = real_subset(real, seed)
                if synthetic:
                    x, y = torch.cat([x, pool[0][:10 * synthetic]]), torch.cat([y, pool[1][:10 * synthetic]])
                t0 = time.perf_counter()
                accuracy = test_accuracy(x, y, args.steps, args.batch_size, seed, test)
                results["runs"][key] = {"real_per_class": real, "synthetic_per_class": synthetic, "seed": seed,
                                        "test_accuracy": accuracy, "train_seconds": time.perf_counter() - t0}
                results.update(machine=cpu_name(), threads=args.threads, torch=torch.__version__,
                               date=date.today().isoformat())
                out.write_text(json.dumps(results, indent=2))
                print(f"  {key:28s} accuracy {accuracy:.4f}", flush=True)
    print(f"\n{'real/class':>10s} {'synthetic/class':>15s} {'test accuracy':>16s}")
    for real in args.per_class:
        for synthetic in args.synthetic:
            accs = [r["test_accuracy"] for r in results["runs"].values()
                    if (r["real_per_class"], r["synthetic_per_class"]) == (real, synthetic)]
            if accs:
                spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
                print(f"{real:10d} {synthetic:15d} {statistics.mean(accs):9.4f} ± {spread:.4f}")


if __name__ == "__main__":
    main()
