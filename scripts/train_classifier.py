"""Train the book's Fashion-MNIST classifier (features for FID/KID, labels for class accuracy).

    python scripts/train_classifier.py [--epochs 4] [--out data/checkpoints/fashion_classifier.safetensors]

Writes the weights (safetensors) and a JSON beside them with the recipe, training time and test accuracy.
Seeded: the same machine and thread count give the same weights.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm.auto import tqdm

from diffusion_lite.datasets import load_fashion_mnist, to_model_range
from diffusion_lite.metrics import CLASSIFIER_PATH, FashionClassifier, classifier_outputs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(CLASSIFIER_PATH))
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    images, labels = load_fashion_mnist("train")
    x, y = to_model_range(images), labels
    model = FashionClassifier()
    steps = args.epochs * (len(x) // args.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=steps)
    start = time.time()
    model.train()
    for _ in tqdm(range(steps), desc="classifier"):
        idx = torch.randint(0, len(x), (args.batch_size,), generator=g)
        xb = x[idx]
        flip = torch.rand(len(xb), generator=g) < 0.5
        xb = torch.where(flip.view(-1, 1, 1, 1), xb.flip(-1), xb)
        loss = F.cross_entropy(model(xb), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    seconds = time.time() - start
    model.eval()
    test_images, test_labels = load_fashion_mnist("test")
    _, pred = classifier_outputs(model, to_model_range(test_images))
    accuracy = (pred == test_labels).float().mean().item()
    save_file(model.state_dict(), args.out)
    recipe = {k: v for k, v in vars(args).items() if k != "out"} | {"optimizer": "AdamW + OneCycle", "hflip": True}
    meta = {"model": "FashionClassifier", "recipe": recipe,
            "steps": steps, "train_seconds": round(seconds, 1), "threads": torch.get_num_threads(),
            "test_accuracy": round(accuracy, 4), "torch": torch.__version__}
    with open(args.out.replace(".safetensors", ".json"), "w") as f:
        json.dump(meta, f, indent=2)
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
