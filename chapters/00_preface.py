# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · Preface and setup
#
# **Diffusion Models, from the forward process to text-to-image: a textbook you can run anywhere.**
#
# This book builds diffusion models from the ground up, one idea per chapter, on a laptop CPU. Each
# chapter derives an idea, writes it in the simplest code you can follow, checks that code against the
# small package `diffusion_lite` that ships with the book, and then uses the package to go further.
# Every number and figure in the book is computed when you run the chapter; nothing is pasted in.
#
# **In this chapter you will**
# - check that your environment and the data are in place (every check below is an `assert`);
# - learn how the chapters are organised and how to do their exercises;
# - meet the notation used everywhere in the book, and its one index convention.

# %% [markdown]
# ## What the book covers
#
# The chapters build on each other, in this order. The table is read from `toc.yml`, the book's one
# table of contents, so it always says which chapters are ready.

# %% tags=["hide-input"]
from pathlib import Path

import yaml
from IPython.display import Markdown, display

toc = yaml.safe_load(Path("toc.yml").read_text())["chapters"]
rows = [f"| {c['number']} | {c['title']} | {c['goal']} | "
        f"{'ready' if 'file' in c and Path(c['file']).is_file() else '*coming*'} |" for c in toc]
contents = "\n".join(["| # | chapter | you leave able to | status |", "|---|---|---|---|", *rows])
display(Markdown(contents))

# %% [markdown]
# The book starts from an article, *Diffusion Models: The New Frontier of Generative AI*, whose `DDPM`,
# `VAE` and `UNetBlock` classes appear in the chapters on purpose: we run them, find what is wrong or
# missing, and fix it. Chapter 02 does this for its `DDPM`.

# %% [markdown]
# ## How to read and run it
#
# - **Open** the book with `make lab` from the repository root: it creates a virtual environment,
#   installs the pinned packages, checks the data and opens JupyterLab on `chapters/`. Each chapter is a
#   `.py` file (the source, in git) paired with an `.ipynb` (what you open). Saving in JupyterLab writes both.
# - **Run** each chapter top to bottom (*Run → Run All Cells*). Every chapter finishes in about a
#   minute on a 2-core laptop, with no GPU and no network.
# - **Exercises** end each chapter. Each has a cell `answer = None`; replace `None` with your answer and
#   run the cell: the chapter's check function tells you whether it is right and gives a hint if not.
#   Worked solutions are in `chapters/solutions/`.
# - **The package** `diffusion_lite` is importable in your own code (`pip install -e .`). Its modules are
#   short and read in chapter order; each docstring names the equation it implements.
# - **Tests**: `make test` re-executes every chapter and runs the package's tests.

# %% [markdown]
# ## Environment check

# %%
import os
import platform
import sys

import ipywidgets
import matplotlib
import numpy as np
import torch

import diffusion_lite

print(f"Python            {platform.python_version()}")
print(f"torch             {torch.__version__}  (tested with 2.13.0)")
print(f"numpy             {np.__version__}")
print(f"matplotlib        {matplotlib.__version__}")
print(f"ipywidgets        {ipywidgets.__version__}")
print(f"diffusion_lite    {diffusion_lite.__version__}  from {os.path.dirname(diffusion_lite.__file__)}")
print(f"CPU threads       torch uses {torch.get_num_threads()} of {os.cpu_count()} logical CPUs")
print(f"GPU               {'available, but the book never needs one' if torch.cuda.is_available() else 'none (none needed)'}")
assert sys.version_info >= (3, 10), "the book needs Python 3.10 or newer"
assert int(torch.__version__.split(".")[0]) >= 2, "the book needs torch 2.x"

# %% [markdown]
# The data. Fashion-MNIST (Xiao et al. 2017) is 70,000 greyscale 28×28 pictures of clothing in ten
# classes. The book never downloads anything while you read: the loader looks in `$DIFFUSION_LITE_DATA`,
# then `data/fashion-mnist/`, then Debian's package folder, and checks every file's size and SHA-256.
# If it is missing, the message below says how to get it.

# %%
from diffusion_lite.datasets import CLASS_NAMES, find_fashion_mnist, load_fashion_mnist
from diffusion_lite.plotting import show_images

print("Fashion-MNIST found in", find_fashion_mnist())
train_images, train_labels = load_fashion_mnist("train")
test_images, test_labels = load_fashion_mnist("test")
print("train", tuple(train_images.shape), train_images.dtype, "  test", tuple(test_images.shape))
assert train_images.shape == (60_000, 28, 28) and test_images.shape == (10_000, 28, 28)
assert torch.bincount(train_labels).tolist() == [6000] * 10, "ten balanced classes"

# %% [markdown]
# One example of each class, the first of its kind in the test set:

# %%
first = [int((test_labels == c).nonzero()[0]) for c in range(10)]
show_images(test_images[first], titles=CLASS_NAMES);

# %% [markdown]
# ## Notation
#
# One glossary, used in the chapters, the docstrings and the code alike:
#
# | code | symbol | meaning |
# |---|---|---|
# | `x0`, `x_t` | x₀, x_t | a clean sample; the sample after t steps of noising |
# | `betas` | βt | variance of the noise added at step t |
# | `alphas` | αt = 1 − βt | |
# | `alphas_cumprod` | ᾱt = ∏ₛ≤ₜ αs ("alpha-bar") | signal kept after t steps: x_t = √ᾱt·x₀ + √(1 − ᾱt)·ε |
# | `sigmas` | σt = √((1 − ᾱt)/ᾱt) | noise level in the σ view (Karras et al. 2022) |
# | `snr` | SNR(t) = ᾱt/(1 − ᾱt) | signal-to-noise ratio |
# | `posterior_variance` | β̃t | variance of q(x_{t−1} ∣ x_t, x₀) |
# | `eps_hat`, `x0_hat` | ε̂, x̂₀ | the network's estimate of the noise, of the clean sample |
# | `prediction_type` | | what the network outputs: `"epsilon"`, `"v_prediction"` or `"sample"` |
# | `guidance_scale` | w | classifier-free guidance weight; w = 1 means no guidance |
#
# **The index convention.** Papers number the noising steps t = 1, …, T. Code numbers them
# t = 0, …, T − 1. So the code's `betas[0]` is the paper's β₁, and `alphas_cumprod[T - 1]` is the
# paper's ᾱ_T. The "ᾱ before any noise" (the paper's ᾱ₀ = 1) is `alphas_cumprod_prev[0]`.

# %%
from diffusion_lite import NoiseSchedule

schedule = NoiseSchedule.make("linear", num_timesteps=1000, beta_start=1e-4, beta_end=0.02)
print("code betas[0]           = paper β1 =", schedule.betas[0].item())
print("code alphas_cumprod[999] = paper ᾱT =", f"{schedule.alphas_cumprod[999].item():.3e}")
assert schedule.alphas_cumprod[0] == schedule.alphas[0] == 1 - schedule.betas[0]
assert schedule.alphas_cumprod_prev[0] == 1.0
assert torch.allclose(schedule.sigmas**2, 1 / schedule.snr)

# %% [markdown]
# ## Exercises
#
# Replace `None` with your answer and run the cell; the check prints ✓ or a hint.
#
# **1.** The paper writes ᾱ₅₀₀ for the signal kept after its 500th noising step. Which index of
# `schedule.alphas_cumprod` holds it?

# %%
from checks.ch00 import check_brightest_class, check_header_bytes, check_paper_index

answer = None  # an integer index
check_paper_index(answer);

# %% [markdown]
# **2.** The training images are stored in the IDX format: a header, then one byte per pixel. The
# decompressed file `train-images-idx3-ubyte` is 47,040,016 bytes long. How many bytes is its header?

# %%
answer = None  # an integer number of bytes
check_header_bytes(answer);

# %% [markdown]
# **3.** Which class has the brightest images on average in the test set (the highest mean pixel
# value)? Answer with the class index 0–9 (see `CLASS_NAMES`). Hint: `test_images[test_labels == c]`.

# %%
answer = None  # a class index
check_brightest_class(answer);

# %% [markdown]
# ## Summary
#
# - `make lab` opens the book and `make test` re-executes it; the checks above passed, so your
#   environment and the data are ready.
# - Each chapter: goals, derivation, code checked against `diffusion_lite`, figures, exercises with
#   check functions, summary.
# - Code indices run t = 0..T − 1 where the papers' run 1..T.
#
# Next: **01 · The forward process**, where we destroy images with noise, step by step and in one jump.
