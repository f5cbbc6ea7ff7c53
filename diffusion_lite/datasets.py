"""The book's data: 2-D toy distributions made from a seed, Fashion-MNIST read from local files, and
captioned scenes of Fashion-MNIST items made from a seed (`scenes`, with the caption grammar's
`caption` and `parse_caption`; chapter 08).

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


# ----------------------------------------------------------------------------------------------
# Captioned scenes: 56×56 canvases of up to four Fashion-MNIST items, and the captions that name them
SCENE_NAMES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")
CELLS = ("top left", "top right", "bottom left", "bottom right")  # reading order, as a layout lists them
HELD_OUT = ((1, 0), (8, 1), (7, 2), (3, 3))  # (class, cell) pairs never in the train split: trouser·top left,
#                                            bag·top right, sneaker·bottom left, dress·bottom right
CELL = 28  # a cell's side; a scene is 2×2 cells
TRAIN_SCENES = 60_000  # the scenes a model trains on: scenes("train", TRAIN_SCENES, seed)
TEST_SEED = 1  # the book measures on scenes("test", N, TEST_SEED)


def item_phrase(label: int, cell: int) -> str:
    """`a NAME in the CELL` ("an" before a vowel): "an ankle boot in the bottom right"."""
    name = SCENE_NAMES[label]
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name} in the {CELLS[cell]}"


def caption(items) -> str:
    """The caption of (class, cell) items, in the order given, joined by " and "."""
    return " and ".join(item_phrase(label, cell) for label, cell in items)


def cell_shares(size: int) -> torch.Tensor:
    """(4, size·size): the share of each position of a size × size feature map of a scene that lies in each
    cell, in `CELLS` order. With an odd size the middle row and column are split half and half."""
    edges = torch.arange(size + 1, dtype=torch.float32) / size  # position i spans [i/size, (i+1)/size) of a side
    first = (edges[1:].clamp(max=0.5) - edges[:-1].clamp(max=0.5)) * size  # (size,): the share in the first half
    halves = torch.stack([first, 1 - first])  # (2, size): top/bottom for rows, left/right for columns
    return torch.einsum("ri,cj->rcij", halves, halves).reshape(4, size * size)


def caption_items(text: str) -> list[tuple[int, int]]:
    """The (class, cell) items a caption names, in the caption's order; the inverse of `caption` for 1 to 4
    items in distinct cells. Anything outside the grammar raises a ValueError that names the wrong phrase
    and what is allowed."""
    grammar = ("a caption is 1 to 4 items 'a NAME in the CELL' ('an' before a vowel) joined by ' and ', "
               f"NAME one of {', '.join(SCENE_NAMES)}; CELL one of {', '.join(CELLS)}")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"empty caption; {grammar}")
    items = []
    for phrase in text.split(" and "):
        words = phrase.split(" ")
        if "in" not in words or words.index("in") < 2 or words[words.index("in") + 1:words.index("in") + 2] != ["the"]:
            raise ValueError(f"{phrase!r} is not 'a NAME in the CELL'; {grammar}")
        i = words.index("in")
        name, cell = " ".join(words[1:i]), " ".join(words[i + 2:])
        if name not in SCENE_NAMES:
            raise ValueError(f"unknown item {name!r} in {phrase!r}; NAME is one of {', '.join(SCENE_NAMES)}")
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r} in {phrase!r}; CELL is one of {', '.join(CELLS)}")
        label, position = SCENE_NAMES.index(name), CELLS.index(cell)
        if phrase != item_phrase(label, position):
            raise ValueError(f"{phrase!r} should read {item_phrase(label, position)!r} ('an' before a vowel)")
        if position in (c for _, c in items):
            raise ValueError(f"two items in the {cell} in {text!r}; each cell holds at most one item")
        items.append((label, position))
    return items


def word_cells(text: str) -> list[int]:
    """For each word of a caption, the cell (`CELLS` order) of the item whose NAME it is part of, or −1
    for the other words ('a', 'in the CELL', 'and'): "a bag in the top left" → [−1, 0, −1, −1, −1, −1]."""
    cells = []
    for (_, cell), phrase in zip(caption_items(text), text.split(" and ")):  # caption_items checks the grammar
        words = phrase.split(" ")
        name = words.index("in") - 1  # the NAME's words, after the article
        cells += ([-1] if cells else []) + [-1] + [cell] * name + [-1] * (len(words) - 1 - name)
    return cells


def layout_maps(texts: list[str], length: int, side: int) -> torch.Tensor:
    """(B, length, side·side): for each token of each caption as the tokenizer lays it out (`<start>`, the
    words, padding; the first `length`) the share of each position of a side × side feature map that lies in
    the cell of the item whose NAME the token is part of, zeros for every other token and for the empty
    caption: the targets of a layout loss on cross-attention (`pipeline.TextConditionedUNet`)."""
    maps, shares = torch.zeros(len(texts), length, side * side), cell_shares(side)
    for row, text in enumerate(texts):
        for position, cell in enumerate(word_cells(text) if text else [], start=1):
            if cell >= 0 and position < length:
                maps[row, position] = shares[cell]
    return maps


def parse_caption(text: str) -> torch.Tensor:
    """The layout (4,) int64 a caption describes: the class in each cell in reading order, or −1
    (`caption_items` checks the grammar)."""
    layout = torch.full((4,), -1, dtype=torch.long)
    for label, cell in caption_items(text):
        layout[cell] = label
    return layout


def held_out_cells(layouts: torch.Tensor) -> torch.Tensor:
    """(N, 4) bool: which cells of layouts (N, 4) hold their held-out class (`HELD_OUT`)."""
    held = torch.zeros(layouts.shape, dtype=torch.bool)
    for label, cell in HELD_OUT:
        held[:, cell] = layouts[:, cell] == label
    return held


def scenes(split: str, num: int, seed: int = 0, max_items: int = 4):
    """`num` captioned scenes: (images uint8 (N, 56, 56), captions [N strings], layouts int64 (N, 4)).

    Each scene draws its number of items uniformly in [1, max_items], their cells uniformly, each item's
    class uniformly and a random image of that class from the split; the caption names the items in a
    random order. In the train split a cell never gets its held-out class (`HELD_OUT`): that cell's class
    is drawn from the other nine. The same arguments give the same scenes.
    """
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")
    if not isinstance(num, int) or num < 1 or max_items not in (1, 2, 3, 4):
        raise ValueError(f"num must be an integer >= 1 and max_items one of 1, 2, 3, 4; got {num!r}, {max_items!r}")
    g = torch.Generator().manual_seed(seed)
    count = torch.randint(1, max_items + 1, (num, 1), generator=g)
    cell_rank = torch.rand(num, 4, generator=g).argsort(1).argsort(1)  # a random order of the four cells
    occupied = cell_rank < count  # (N, 4): the first `count` cells in that order
    classes = torch.randint(0, 10, (num, 4), generator=g)
    if split == "train":
        for label, cell in HELD_OUT:  # nine classes for this cell: skip the held-out one
            allowed = torch.randint(0, 9, (num,), generator=g)
            classes[:, cell] = allowed + (allowed >= label).long()
    layouts = torch.where(occupied, classes, torch.full_like(classes, -1))
    images = compose(layouts, split, g)
    mention = torch.rand(num, 4, generator=g).argsort(1)  # the caption's order of the cells
    captions = [caption((int(layout[c]), int(c)) for c in perm if layout[c] >= 0)
                for layout, perm in zip(layouts, mention)]
    return images, captions, layouts


def compose(layouts: torch.Tensor, split: str = "test", generator: torch.Generator | None = None) -> torch.Tensor:
    """Scenes (N, 56, 56) uint8 for layouts (N, 4): in each cell a random `split` image of its class, or black.
    Real scenes for given captions (`parse_caption`) are what generated ones are compared with."""
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")
    if layouts.ndim != 2 or layouts.shape[1] != 4 or int(layouts.min()) < -1 or int(layouts.max()) > 9:
        raise ValueError(f"layouts must be (N, 4) classes in [0, 9] or -1 for empty, got {tuple(layouts.shape)}")
    items, labels = load_fashion_mnist(split)
    num, classes = len(layouts), layouts.clamp(min=0)
    # a random image of each item's class: items sorted by class, then a uniform index within the class
    order = labels.argsort(stable=True)
    per_class = torch.bincount(labels, minlength=10)
    start = torch.cumsum(per_class, 0) - per_class
    pick = order[start[classes] + (torch.rand(num, 4, generator=generator) * per_class[classes]).long()]  # (N, 4)
    cells = torch.where((layouts >= 0)[..., None, None], items[pick], torch.zeros((), dtype=torch.uint8))
    return cells.view(num, 2, 2, CELL, CELL).permute(0, 1, 3, 2, 4).reshape(num, 2 * CELL, 2 * CELL)


def scene_cells(images: torch.Tensor) -> torch.Tensor:
    """Scenes (N, 56, 56) → their cells (N, 4, 28, 28) in reading order (top left, top right, bottom left,
    bottom right): what a classifier scores, cell by cell."""
    n = images.shape[0]
    return images.reshape(n, 2, CELL, 2, CELL).permute(0, 1, 3, 2, 4).reshape(n, 4, CELL, CELL)


def hard_negatives(text: str) -> dict[str, list[str]]:
    """Captions that differ from `text` in one thing, by kind: "class" (one item's class changed, 9 per
    item), "cell" (one item moved to an empty cell) and "swap" (two items of different classes trade
    cells: the same words, bound differently). The items keep the caption's order."""
    items = caption_items(text)
    empty = [c for c in range(4) if c not in {cell for _, cell in items}]
    out = {"class": [], "cell": [], "swap": []}
    for i, (label, cell) in enumerate(items):
        out["class"] += [caption(items[:i] + [(k, cell)] + items[i + 1:]) for k in range(10) if k != label]
        out["cell"] += [caption(items[:i] + [(label, c)] + items[i + 1:]) for c in empty]
        for j in range(i + 1, len(items)):
            if items[j][0] != label:
                swapped = list(items)
                swapped[i], swapped[j] = (label, items[j][1]), (items[j][0], cell)
                out["swap"].append(caption(swapped))
    return out
