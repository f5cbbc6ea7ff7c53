"""Checks for chapter 00's exercises."""
import torch

from diffusion_lite import NoiseSchedule
from diffusion_lite.datasets import CLASS_NAMES, FILES, load_fashion_mnist

from . import unanswered, verdict


def check_paper_index(answer) -> bool:
    if unanswered(answer):
        return False
    s = NoiseSchedule.make()
    right = answer == 499 and s.alphas_cumprod[answer] == torch.prod(s.alphas[:500])
    return verdict(right, "The paper's step t is the code's index t − 1.",
                   "Papers count steps from 1, the code from 0.")


def check_header_bytes(answer) -> bool:
    if unanswered(answer):
        return False
    size = FILES["train-images-idx3-ubyte.gz"][0]
    images, _ = load_fashion_mnist("train")
    return verdict(answer == size - images.numel(), "4 numbers of 4 bytes: magic, count, rows, columns.",
                   "Subtract one byte per pixel of every image from the file size.")


def check_brightest_class(answer) -> bool:
    if unanswered(answer):
        return False
    images, labels = load_fashion_mnist("test")
    means = torch.stack([images[labels == c].float().mean() for c in range(10)])
    best = int(means.argmax())
    return verdict(answer == best, f"Class {best} ({CLASS_NAMES[best]}) has the highest mean "
                   f"pixel, {means[best]:.0f} of 255.",
                   "Average all pixels of the images of each class and take the largest.")
