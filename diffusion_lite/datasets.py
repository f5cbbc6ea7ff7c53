"""The book's data: 2-D toy distributions made from a seed, and Fashion-MNIST read from local files.

Fashion-MNIST (Xiao et al. 2017, MIT licence) is never downloaded at run time. The loader looks in
`$DIFFUSION_LITE_DATA`, then `data/fashion-mnist/` in the repository, then Debian's package folder
`/usr/share/datasets/fashion-mnist/`, and checks each file's decompressed size and SHA-256.
`python -m diffusion_lite data download` fetches the upstream files into `data/fashion-mnist/`.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import shutil
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import torch

TOYS = ("swiss_roll", "two_moons", "eight_gaussians", "checkerboard")


def toy_2d(name: str, n: int, seed: int = 0) -> torch.Tensor:
    """n points (n, 2) from a named 2-D distribution, scaled to roughly unit variance per axis."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    g = torch.Generator().manual_seed(seed)
    u = lambda *shape: torch.rand(shape, generator=g, dtype=torch.float64)  # noqa: E731
    if name == "swiss_roll":
        theta = 1.5 * math.pi * (1 + 2 * u(n))
        x = torch.stack([theta * theta.cos(), theta * theta.sin()], 1) / 7.5
        x = x + 0.05 * torch.randn(n, 2, generator=g, dtype=torch.float64)
    elif name == "two_moons":
        upper = u(n) < 0.5
        theta = math.pi * u(n)
        x = torch.stack([theta.cos(), theta.sin()], 1)
        x[~upper] = torch.stack([1 - theta.cos(), 0.5 - theta.sin()], 1)[~upper]
        x = (x - torch.tensor([0.5, 0.25], dtype=torch.float64)) / 0.6
        x = x + 0.06 * torch.randn(n, 2, generator=g, dtype=torch.float64)
    elif name == "eight_gaussians":
        k = torch.randint(0, 8, (n,), generator=g)
        centres = torch.stack([torch.cos(k * math.pi / 4), torch.sin(k * math.pi / 4)], 1).double() * 1.4
        x = centres + 0.1 * torch.randn(n, 2, generator=g, dtype=torch.float64)
    elif name == "checkerboard":
        x1 = 4 * u(n) - 2
        x2 = 2 * u(n) - 2 + 2 * (torch.floor(x1) % 2)  # one square in each 2-wide column, alternating rows
        x = torch.stack([x1, x2], 1) / 1.15
    else:
        raise ValueError(f"unknown toy distribution {name!r}; choose one of {TOYS}")
    return x.float()


# ----------------------------------------------------------------------------------------------
# Fashion-MNIST
CLASS_NAMES = ("T-shirt/top", "trouser", "pullover", "dress", "coat",
               "sandal", "shirt", "sneaker", "bag", "ankle boot")
UPSTREAM_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
REPO_DIR = Path(__file__).resolve().parent.parent / "data" / "fashion-mnist"
# file name -> (decompressed size in bytes, SHA-256 of the decompressed bytes)
FILES = {
    "train-images-idx3-ubyte.gz": (47_040_016, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train-labels-idx1-ubyte.gz": (60_008, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "t10k-images-idx3-ubyte.gz": (7_840_016, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "t10k-labels-idx1-ubyte.gz": (10_008, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}
HOW_TO_GET = (
    "Get Fashion-MNIST in one of these ways:\n"
    "  - on Debian/Ubuntu as root: apt-get install dataset-fashion-mnist   (what `make` does)\n"
    "  - anywhere else: python -m diffusion_lite data download   (into data/fashion-mnist/)\n"
    "  - or put the four original .gz files in a folder and set DIFFUSION_LITE_DATA to it."
)


class DataError(RuntimeError):
    """Fashion-MNIST is missing or corrupt; the message says where we looked and how to get it."""


def search_dirs() -> list[Path]:
    """Where the loader looks, in order."""
    dirs = [Path(os.environ["DIFFUSION_LITE_DATA"])] if os.environ.get("DIFFUSION_LITE_DATA") else []
    return dirs + [REPO_DIR, SYSTEM_DIR]


def _read_verified(path: Path, name: str | None = None) -> bytes:
    """The decompressed contents of the .gz file `name` stored at `path`, or DataError if its size or
    checksum is wrong."""
    size, sha = FILES[name or path.name]
    try:
        with gzip.open(path, "rb") as f:
            data = f.read(size + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path} is not a readable gzip file ({e}).\n{HOW_TO_GET}") from None
    if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
        raise DataError(f"{path} is corrupt: its decompressed contents do not match the expected "
                        f"size ({size} bytes) and SHA-256.\n{HOW_TO_GET}")
    return data


def find_fashion_mnist() -> Path:
    """The first search folder holding all four files (checked when read), or DataError."""
    for d in search_dirs():
        if all((d / name).is_file() for name in FILES):
            return d
    looked = "\n".join(f"  {d}" for d in search_dirs())
    raise DataError(f"Fashion-MNIST not found. Looked for {', '.join(FILES)} in:\n{looked}\n{HOW_TO_GET}")


@functools.lru_cache(maxsize=4)
def _load(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    prefix = "train" if split == "train" else "t10k"
    images = _read_verified(folder / f"{prefix}-images-idx3-ubyte.gz")
    labels = _read_verified(folder / f"{prefix}-labels-idx1-ubyte.gz")
    images = np.frombuffer(images, dtype=np.uint8, offset=16).reshape(-1, 28, 28)  # IDX: 16-byte header
    labels = np.frombuffer(labels, dtype=np.uint8, offset=8)  # IDX: 8-byte header
    return images, labels


def load_fashion_mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) for split "train" (60,000) or "test" (10,000)."""
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")
    images, labels = _load(find_fashion_mnist(), split)
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, H, W) in [0, 255] -> float (N, 1, H, W) in [−1, 1], the range models work in."""
    return images.float().div(127.5).sub(1).unsqueeze(1)


def from_model_range(x: torch.Tensor) -> torch.Tensor:
    """float (N, 1, H, W) in [−1, 1] -> uint8 (N, H, W), clamping values outside the range."""
    return ((x.squeeze(1).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def download_fashion_mnist(dest: Path | str = REPO_DIR, base_url: str = UPSTREAM_URL, timeout: float = 60) -> Path:
    """Fetch the four files from `base_url` into `dest`, verify each, and move it into place.

    A file already present and valid is kept. A file that fails verification is not written, and the
    DataError says which one, so nothing half-downloaded is ever left where the loader looks.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        target = dest / name
        if target.is_file():
            try:
                _read_verified(target)
                continue
            except DataError:
                pass
        with tempfile.NamedTemporaryFile(dir=dest, suffix=".part", delete=False) as tmp:
            try:
                with urllib.request.urlopen(base_url.rstrip("/") + "/" + name, timeout=timeout) as response:
                    shutil.copyfileobj(response, tmp)
            except OSError as e:
                os.unlink(tmp.name)
                raise DataError(f"could not download {name} from {base_url}: {e}") from None
        part = Path(tmp.name)
        try:
            _read_verified(part, name)
        except DataError:
            part.unlink()
            raise DataError(f"the downloaded {name} from {base_url} failed verification (size or SHA-256); "
                            "nothing was written.") from None
        part.replace(target)
    _load.cache_clear()
    return dest
