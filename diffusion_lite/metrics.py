"""Sample-quality metrics: how far generated samples are from held-out data.

For images, FID and KID compare feature sets (the features come from a classifier). For
low-dimensional data (chapter 02) two distances between point sets:
- the sliced Wasserstein distance (Rabin et al. 2011): the average, over random directions, of the
  1-D Wasserstein-2 distance between the two sets projected on that direction;
- the maximum mean discrepancy with a Gaussian kernel (Gretton et al. 2012, Eq. 3, unbiased form).
All are 0 for identical distributions; read them against the same distance between two real sets
of the same size (`real_vs_real`), the floor that sampling noise alone produces.
For a text encoder, zero-shot caption retrieval (`caption_retrieval`): does a scene's own caption beat
other captions, and captions that differ from it in one detail? For a text-to-image model, prompt
fidelity (`prompt_fidelity`): does each scene show what its caption asks for, cell by cell?
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from .datasets import (TEST_SEED, compose, hard_negatives, held_out_cells, load_fashion_mnist, parse_caption,
                       scene_cells, scenes, to_model_range)
from .text import trim


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, num_projections: int = 256, seed: int = 0) -> float:
    """SW2 between point sets x (N, D) and y (N, D) of equal size, over `num_projections` random directions."""
    if x.ndim != 2 or x.shape != y.shape:
        raise ValueError(f"x and y must both have shape (N, D) with the same N and D, got {tuple(x.shape)}, {tuple(y.shape)}")
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(x.shape[1], num_projections, generator=g, dtype=torch.float64)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    px, _ = (x.double() @ dirs).sort(dim=0)  # (N, P): sorted projections = 1-D optimal transport
    py, _ = (y.double() @ dirs).sort(dim=0)
    return float(((px - py) ** 2).mean().sqrt())


def mmd_rbf(x: torch.Tensor, y: torch.Tensor, bandwidth: float = 0.5) -> float:
    """Unbiased squared MMD with kernel k(a, b) = exp(−‖a − b‖²/(2·bandwidth²)) (Gretton et al. 2012, Eq. 3)."""
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have shapes (N, D) and (M, D), got {tuple(x.shape)}, {tuple(y.shape)}")
    if len(x) < 2 or len(y) < 2:
        raise ValueError("the unbiased MMD needs at least 2 points in each set")
    k = lambda a, b: torch.exp(-torch.cdist(a.double(), b.double()) ** 2 / (2 * bandwidth**2))  # noqa: E731
    n, m = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return float((kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
                 + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1)) - 2 * kxy.mean())


# ----------------------------------------------------------------------------------------------
# Image metrics on the features of a classifier (Heusel et al. 2017; Bińkowski et al. 2018)
def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """FID's formula on two feature sets (N, D): ‖μa − μb‖² + Tr(Σa + Σb − 2(Σa Σb)^½) (Heusel et al. 2017, Eq. 6).

    Tr (Σa Σb)^½ is computed as the sum of square roots of the eigenvalues of Σa^½ Σb Σa^½, which is
    symmetric positive semi-definite, so no complex matrix square root is needed.
    """
    if feats_a.ndim != 2 or feats_b.ndim != 2 or feats_a.shape[1] != feats_b.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D), got {tuple(feats_a.shape)}, {tuple(feats_b.shape)}")
    a, b = feats_a.double(), feats_b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    vals, vecs = torch.linalg.eigh(cov_a)
    root_a = vecs @ torch.diag(vals.clamp(min=0).sqrt()) @ vecs.T
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp(min=0).sqrt().sum()
    return float(((mu_a - mu_b) ** 2).sum() + cov_a.trace() + cov_b.trace() - 2 * cross)


def kernel_inception_distance(feats_a: torch.Tensor, feats_b: torch.Tensor, subset_size: int = 1000,
                              num_subsets: int = 10, seed: int = 0) -> tuple[float, float]:
    """KID: unbiased MMD² with the kernel k(x, y) = (x·y/D + 1)³, averaged over random subsets
    (Bińkowski et al. 2018, Sec. 3). Returns (mean, standard deviation over subsets)."""
    n = min(subset_size, len(feats_a), len(feats_b))
    if n < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    g = torch.Generator().manual_seed(seed)
    d = feats_a.shape[1]
    values = []
    for _ in range(num_subsets):
        x = feats_a[torch.randperm(len(feats_a), generator=g)[:n]].double()
        y = feats_b[torch.randperm(len(feats_b), generator=g)[:n]].double()
        kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        values.append(float((kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
                            + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1)) - 2 * kxy.mean()))
    v = torch.tensor(values)
    return float(v.mean()), float(v.std()) if num_subsets > 1 else 0.0


# ----------------------------------------------------------------------------------------------
# The book's Fashion-MNIST classifier: its 128-d penultimate features are what FID and KID compare,
# and its predictions measure the class accuracy of conditional samples.
CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "data" / "checkpoints"
CLASSIFIER_PATH = CHECKPOINT_DIR / "fashion_classifier.safetensors"


class FashionClassifier(nn.Module):
    """Two conv stages (28 → 14 → 7), then a 128-d feature layer and a linear head over the 10 classes."""

    def __init__(self, feature_dim: int = 128):
        super().__init__()
        def stage(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                                 nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                                 nn.MaxPool2d(2))
        self.body = nn.Sequential(stage(1, 32), stage(32, 64), nn.Flatten(),
                                  nn.Linear(64 * 7 * 7, feature_dim), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(feature_dim, 10))

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 28, 28) in [−1, 1] -> (B, 128)
        if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
            raise ValueError(f"the classifier takes (B, 1, 28, 28) images in [-1, 1], got {tuple(x.shape)}")
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def train_classifier(x: torch.Tensor, y: torch.Tensor, steps: int, batch_size: int = 128, lr: float = 2e-3,
                     seed: int = 0, progress: bool = False) -> FashionClassifier:
    """A `FashionClassifier` trained on images x (N, 1, 28, 28) in [−1, 1] with labels y (N,): `steps` batches
    drawn uniformly, each image flipped left-right with probability ½, AdamW (weight decay 1e-4) with a
    one-cycle learning rate peaking at `lr`, seeded. Returned in eval mode. The book's classifier is this
    on the 60,000 training images for 4 epochs (`scripts/train_classifier.py`)."""
    import torch.nn.functional as F
    from tqdm.auto import tqdm
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = FashionClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    model.train()
    for _ in tqdm(range(steps), desc="classifier", disable=not progress):
        idx = torch.randint(0, len(x), (batch_size,), generator=g)
        xb = x[idx]
        flip = torch.rand(len(xb), generator=g) < 0.5
        xb = torch.where(flip.view(-1, 1, 1, 1), xb.flip(-1), xb)
        loss = F.cross_entropy(model(xb), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


def load_classifier(path: Path | str = CLASSIFIER_PATH) -> FashionClassifier:
    """The book's trained classifier (eval mode), from `scripts/train_classifier.py`'s checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no classifier checkpoint at {path}; make it with "
                                "`python scripts/train_classifier.py` (or `make checkpoints`)")
    model = FashionClassifier()
    model.load_state_dict(load_file(path))
    return model.eval()


@torch.no_grad()
def classifier_outputs(model: FashionClassifier, images: torch.Tensor, batch_size: int = 100):
    """(features (N, 128), predicted labels (N,)) for images (N, 1, 28, 28) in [−1, 1]. Batches of 100
    keep the activations in a CPU's caches, which is faster than larger batches, with the same features."""
    feats = torch.cat([model.features(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    return feats, model.head(feats).argmax(1)


def image_quality(images: torch.Tensor, labels: torch.Tensor | None = None, seed: int = 0) -> dict:
    """FID and KID of uint8 images (N, 28, 28) against N random test images, on the book classifier's
    features, beside the floor: the same metrics for N random *training* images against those test
    images. Also the share of each predicted class, and the class accuracy when `labels` are given."""
    n = len(images)
    if images.dtype != torch.uint8 or images.shape[1:] != (28, 28) or n < 2:
        raise ValueError(f"images must be uint8 (N, 28, 28) with N >= 2, got {images.dtype} {tuple(images.shape)}")
    model = load_classifier()
    g = torch.Generator().manual_seed(seed)
    test, _ = load_fashion_mnist("test")
    train, _ = load_fashion_mnist("train")
    if n > len(test):
        raise ValueError(f"at most {len(test)} images can be compared with the test set, got {n}")
    feats, pred = classifier_outputs(model, to_model_range(images))
    ref, _ = classifier_outputs(model, to_model_range(test[torch.randperm(len(test), generator=g)[:n]]))
    real, _ = classifier_outputs(model, to_model_range(train[torch.randperm(len(train), generator=g)[:n]]))
    kid, kid_sd = kernel_inception_distance(feats, ref, subset_size=min(1000, max(2, n // 2)))
    kid_floor, _ = kernel_inception_distance(real, ref, subset_size=min(1000, max(2, n // 2)))
    result = {"num_images": n, "fid": frechet_distance(feats, ref), "fid_floor": frechet_distance(real, ref),
              "kid": kid, "kid_sd": kid_sd, "kid_floor": kid_floor,
              "class_shares": [round(c / n, 3) for c in torch.bincount(pred, minlength=10).tolist()]}
    if labels is not None:
        result["class_accuracy"] = float((pred == labels.to(pred.dtype)).float().mean())
    return result


def psnr(images: torch.Tensor, reference: torch.Tensor) -> float:
    """Peak signal-to-noise ratio of uint8 images against a uint8 reference, 10·log10(255² / MSE) in dB,
    with the MSE over all pixels of all images."""
    if images.dtype != torch.uint8 or reference.dtype != torch.uint8 or images.shape != reference.shape:
        raise ValueError(f"images and reference must be uint8 of one shape, got {images.dtype} "
                         f"{tuple(images.shape)} and {reference.dtype} {tuple(reference.shape)}")
    mse = (images.double() - reference.double()).pow(2).mean()
    return float(10 * torch.log10(255.0**2 / mse)) if mse > 0 else float("inf")


@torch.no_grad()
def heldout_loss(ddpm, num: int = 1000, seed: int = 0, batch_size: int = 250) -> float:
    """The training loss of a Fashion-MNIST model on the first `num` test images (of a text-to-image model
    on the first `num` test scenes, with their captions), with its randomness drawn from `seed`: a cheap, repeatable check that a checkpoint still works as recorded. For a DDPM the simple
    loss (Ho et al. 2020, Eq. 14) with t and ε drawn; for an autoencoder its own `loss`, z drawn; for a
    CLIP-style model its contrastive loss on the first `num` test scenes (a loss over batches of 250)."""
    if hasattr(ddpm, "embed_text"):  # a CLIP-style model: its contrastive loss on test scenes, in batches of 250
        images, captions, _ = scenes("test", num, TEST_SEED)
        x, tokens = to_model_range(images), ddpm.text.tokenizer.encode(captions)
        return sum(ddpm.loss(x[i:i + batch_size], labels=tokens[i:i + batch_size]).item() * len(x[i:i + batch_size])
                   for i in range(0, num, batch_size)) / num
    text_encoder = getattr(getattr(ddpm, "network", None), "text_encoder", None)
    if text_encoder is not None:  # a text-to-image model: the first `num` test scenes and their captions
        images, captions, _ = scenes("test", num, TEST_SEED)
        x, labels = to_model_range(images), text_encoder.tokenizer.encode(captions)
    else:
        x, labels = to_model_range(load_fashion_mnist("test")[0][:num]), None
    if hasattr(ddpm, "vae") and hasattr(ddpm, "ddpm"):  # a latent DDPM: its DDPM's loss on the test latents
        x, ddpm = ddpm.encode(x), ddpm.ddpm
    g = torch.Generator().manual_seed(seed)
    batches = range(0, num, batch_size)
    was_training = ddpm.training
    ddpm.eval()
    if hasattr(ddpm, "timesteps"):
        t = torch.randint(0, ddpm.timesteps, (num,), generator=g)
        noise = torch.randn(x.shape, generator=g)
        losses = [ddpm(x[i:i + batch_size], t[i:i + batch_size], noise[i:i + batch_size],
                       None if labels is None else labels[i:i + batch_size]).item() * len(x[i:i + batch_size])
                  for i in batches]
    else:
        losses = [ddpm.loss(x[i:i + batch_size], g).item() * len(x[i:i + batch_size]) for i in batches]
    ddpm.train(was_training)
    return sum(losses) / num


@torch.no_grad()
def caption_retrieval(clip, images: torch.Tensor, captions: list[str], layouts: torch.Tensor,
                      num_candidates: int = 100, seed: int = 0, batch_size: int = 500) -> dict:
    """Zero-shot retrieval of each scene's caption by a CLIP-style model (Radford et al. 2021, Sec. 3.1.2).

    "top1": the share of scenes whose own caption has the highest similarity among `num_candidates`
    captions (its own and others drawn from the set, none with the same layout). "class", "cell",
    "swap": the share whose own caption beats all its `datasets.hard_negatives` of that kind (scenes that
    have none are left out). "held_out": the same shares over the scenes that hold a held-out
    (class, cell) pair, "seen" over the others. `images` (N, 56, 56) uint8.
    """
    was_training = clip.training
    clip.eval()
    def embed_text(texts):  # in batches of similar length, each without the padding none of it uses
        tokens = clip.text.tokenizer.encode(texts)
        order = (tokens != 0).sum(1).argsort()
        out = torch.cat([clip.embed_text(trim(tokens[order[i:i + batch_size]])) for i in range(0, len(texts), batch_size)])
        return out[order.argsort()]
    x = to_model_range(images)
    img = torch.cat([clip.embed_images(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])  # (N, D)
    sims = img @ embed_text(captions).T  # (N, N)
    g = torch.Generator().manual_seed(seed)
    distinct = (layouts[:, None, :] != layouts[None, :, :]).any(-1)  # (N, N): a different scene content
    negatives = [hard_negatives(text) for text in captions]  # embedded all at once, then split per scene
    kinds = ("class", "cell", "swap")
    flat = [text for scene in negatives for kind in kinds for text in scene[kind]]
    neg_emb = embed_text(flat).split([len(scene[kind]) for scene in negatives for kind in kinds])
    wins = {"top1": [], "class": [], "cell": [], "swap": []}
    for i in range(len(images)):
        others = distinct[i].nonzero().squeeze(1)
        others = others[torch.randperm(len(others), generator=g)[:num_candidates - 1]]
        wins["top1"].append(bool(sims[i, i] > sims[i, others].max()))
        for j, kind in enumerate(kinds):
            emb = neg_emb[len(kinds) * i + j]
            wins[kind].append(bool(sims[i, i] > (img[i] @ emb.T).max()) if len(emb) else None)
    clip.train(was_training)
    held = held_out_cells(layouts).any(1).tolist()
    share = lambda flags: sum(f for f in flags if f is not None) / max(1, sum(f is not None for f in flags))  # noqa: E731
    subset = lambda keep: {"num_scenes": sum(keep), **{kind: share([f for f, k in zip(flags, keep) if k])  # noqa: E731
                                                       for kind, flags in wins.items()}}
    return {"num_scenes": len(images), "num_candidates": num_candidates,
            **{kind: share(flags) for kind, flags in wins.items()},
            "seen": subset([not h for h in held]), "held_out": subset(held)}


EMPTY_BRIGHTNESS = 8  # a cell whose mean pixel value (of 255) is below this holds nothing; 1 of the 10,000
#                       test items is that dark


@torch.no_grad()
def prompt_fidelity(images: torch.Tensor, captions: list[str], item_fid: bool = True) -> dict:
    """Does each 56×56 scene (N, 56, 56) uint8 show what its caption asks for? The book's classifier reads
    each cell: a named cell is right when it is not empty and its top-1 class is the named one, an unnamed
    cell when it is empty (mean brightness below `EMPTY_BRIGHTNESS`). Returns the shares of scenes with every cell right
    ("prompt", and "by_items" for 1 to 4 items), of named items ("item"), of unnamed cells ("empty"), of
    the items at a held-out (class, cell) pair ("held_out_item"), and the FID of the named cells against
    real test items with its floor at the same N (`image_quality`). Read them against the same measure
    on real scenes with the same captions (`prompt_fidelity_ceiling`)."""
    if images.dtype != torch.uint8 or images.shape[1:] != (56, 56) or len(images) != len(captions):
        raise ValueError(f"images must be uint8 (N, 56, 56) with one caption each, got {images.dtype} "
                         f"{tuple(images.shape)} and {len(captions)} captions")
    layouts = torch.stack([parse_caption(c) for c in captions])  # (N, 4), −1 for an unnamed cell
    cells = scene_cells(images)  # (N, 4, 28, 28)
    _, pred = classifier_outputs(load_classifier(), to_model_range(cells.reshape(-1, 28, 28)))
    pred = pred.view(-1, 4)
    named, empty = layouts >= 0, cells.float().mean((2, 3)) < EMPTY_BRIGHTNESS
    right = torch.where(named, (pred == layouts) & ~empty, empty)  # (N, 4): a black cell names no class
    held = held_out_cells(layouts)
    items = named.sum(1)
    share = lambda flags: float(flags.float().mean()) if flags.numel() else None  # noqa: E731
    result = {"num_scenes": len(images), "prompt": share(right.all(1)), "item": share(right[named]),
              "empty": share(right[~named]), "held_out_item": share(right[held]),
              "by_items": {k: share(right.all(1)[items == k]) for k in range(1, 5)}}
    if item_fid and int(named.sum()) >= 2:
        quality = image_quality(cells[named][:10_000])
        result["item_fid"], result["item_fid_floor"] = quality["fid"], quality["fid_floor"]
    return result


def prompt_fidelity_ceiling(captions: list[str], seed: int = 0, item_fid: bool = True) -> dict:
    """`prompt_fidelity` of real test scenes with the same captions: the classifier errs on some real items,
    so this, not 100 %, is the most a generated set can be expected to reach."""
    layouts = torch.stack([parse_caption(c) for c in captions])
    return prompt_fidelity(compose(layouts, "test", torch.Generator().manual_seed(seed)), captions, item_fid)
