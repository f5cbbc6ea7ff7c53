"""Train the book's Fashion-MNIST classifier (features for FID/KID, labels for class accuracy).

    python scripts/train_classifier.py [--epochs 4] [--out data/checkpoints/fashion_classifier.safetensors]

Writes the weights (safetensors) and a JSON beside them with the recipe, training time and test accuracy.
Seeded: the same machine and thread count give the same weights.
"""
import argparse
import json
import time

import torch
from safetensors.torch import save_file

from diffusion_lite.datasets import load_fashion_mnist, to_model_range
from diffusion_lite.metrics import CLASSIFIER_PATH, classifier_outputs, train_classifier


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(CLASSIFIER_PATH))
    args = parser.parse_args()

    images, labels = load_fashion_mnist("train")
    steps = args.epochs * (len(images) // args.batch_size)
    start = time.time()
    model = train_classifier(to_model_range(images), labels, steps, args.batch_size, args.lr, args.seed, progress=True)
    seconds = time.time() - start
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
