"""Recipes (named, complete training setups) and model checkpoints: `safetensors` weights + a JSON config.

A checkpoint is two files side by side, `NAME.safetensors` (the EMA weights of the network, stored in
float16 so that a book model stays under 5 MB) and `NAME.json` (everything needed to rebuild the model,
how it was trained, and the metrics it reached, measured with the stored weights).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .datasets import layout_maps
from .ddpm import DDPM
from .flow import FlowMatching
from .pipeline import LatentDDPM, TextConditionedUNet
from .text import CLIP, ClipConfig, TextConfig, TextEncoder
from .training import TrainConfig
from .unet import UNet, UNetConfig
from .vae import AutoencoderKL, VAEConfig


@dataclass
class DDPMConfig:
    timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    schedule: str = "linear"
    prediction_type: str = "epsilon"
    variance: str = "beta"
    clip_x0: float | None = 1.0
    label_dropout: float = 0.0  # for class-conditional models: the share of labels trained as "no label"
    min_snr_gamma: float | None = None  # min-SNR-γ loss weighting (Hang et al. 2023); None: the plain loss
    sampling_schedule: str | None = None  # the schedule whose noise levels samplers visit; None: `schedule`'s
    # "diffusion" (the DDPM above) or "flow" (flow matching on the linear path, `flow.FlowMatching`: it has its
    # own schedule, target and loss, so beta_start, beta_end, schedule, prediction_type, variance and
    # min_snr_gamma do not apply and sampling_schedule must stay None)
    objective: str = "diffusion"

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown ddpm.objective {self.objective!r}; choose one of {OBJECTIVES}")
        if self.objective == "flow" and (self.min_snr_gamma is not None or self.sampling_schedule is not None):
            raise ValueError("a flow-matching model (ddpm.objective 'flow') has its own loss and schedule: "
                             "set ddpm.min_snr_gamma and ddpm.sampling_schedule to null")


OBJECTIVES = ("diffusion", "flow")


@dataclass
class LatentConfig:
    """A latent diffusion model's autoencoder: its checkpoint (a path, relative to the repository or
    absolute) and, once a model has been trained on it, the SHA-256 of its weights, which loading checks."""
    vae: str = "data/checkpoints/fashion_vae"
    sha256: str | None = None
    image_size: int = 28


@dataclass
class TextConditioning:
    """A text-to-image model's text encoder: the text half of a CLIP-style checkpoint (a path, as for
    `LatentConfig.vae`), its SHA-256 once a model has been trained with it, and whether it trains with the
    UNet (`train`; when frozen, the model's checkpoint stores the UNet's weights only). `from_scratch`
    starts a text encoder of that checkpoint's shape and vocabulary from random weights (it must train);
    `pooled` gives the UNet the pooled `<start>` vector alone as its context, one token, as chapter 09's
    seed block does, in place of the caption's token sequence. `layout_loss` > 0 adds that weight times a
    loss asking each item's NAME to be read in its cell (`pipeline.TextConditionedUNet`)."""
    encoder: str = "data/checkpoints/scenes_clip"
    sha256: str | None = None
    train: bool = False
    from_scratch: bool = False
    pooled: bool = False
    layout_loss: float = 0.0

    def __post_init__(self):
        if self.from_scratch and not self.train:
            raise ValueError("text.from_scratch needs text.train: a text encoder from random weights must learn")
        if not self.layout_loss >= 0:
            raise ValueError(f"text.layout_loss must be >= 0, got {self.layout_loss}")


DATASETS = ("fashion-mnist", "scenes")  # Fashion-MNIST's train images, or 60,000 captioned train scenes


@dataclass
class Recipe:
    """A diffusion model (`unet` + `ddpm`, in pixels or, with `latent`, in an autoencoder's latent space),
    an autoencoder (`vae`) or a CLIP-style text and image encoder (`clip`), and how to train it."""
    unet: UNetConfig | None = field(default_factory=UNetConfig)
    ddpm: DDPMConfig | None = field(default_factory=DDPMConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    dataset: str = "fashion-mnist"
    vae: VAEConfig | None = None
    latent: LatentConfig | None = None
    clip: ClipConfig | None = None
    text: TextConditioning | None = None  # a diffusion model that reads captions: its text encoder
    dataset_size: int | None = None  # train on the first N examples only (None: the whole train split)

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {DATASETS}")
        if (self.kind == "clip" or self.text is not None) and self.dataset != "scenes":
            raise ValueError(f"a {'clip' if self.kind == 'clip' else 'text'} recipe trains on captioned scenes: "
                             "set dataset to 'scenes'")
        if self.dataset_size is not None and self.dataset_size < 1:
            raise ValueError(f"dataset_size must be >= 1 (or null for the whole split), got {self.dataset_size}")

    @property
    def kind(self) -> str:
        return ("vae" if self.vae is not None else "clip" if self.clip is not None
                else "ldm" if self.latent is not None else "ddpm")

    def to_dict(self) -> dict:
        model = ({"vae": asdict(self.vae)} if self.kind == "vae" else {"clip": asdict(self.clip)}
                 if self.kind == "clip" else {"unet": asdict(self.unet), "ddpm": asdict(self.ddpm)})
        for key in ("latent", "text"):
            if getattr(self, key) is not None:
                model[key] = asdict(getattr(self, key))
        size = {} if self.dataset_size is None else {"dataset_size": self.dataset_size}
        return {**model, "train": asdict(self.train), "dataset": self.dataset, **size}

    @classmethod
    def from_dict(cls, d: dict) -> "Recipe":
        unknown = set(d) - {"unet", "ddpm", "latent", "text", "vae", "clip", "train", "dataset", "dataset_size"}
        if unknown:
            raise ValueError(f"unknown recipe keys {sorted(unknown)}; allowed: unet, ddpm, train, dataset "
                             "(a diffusion model, with latent for one in a VAE's latent space and text for one "
                             "that reads captions), vae, train, dataset (an autoencoder) or clip, train, dataset "
                             "(a text and image encoder), and dataset_size with any of them")
        models = [key for key in ("vae", "clip") if key in d] + (
            ["unet/ddpm"] if {"unet", "ddpm", "latent", "text"} & set(d) else [])
        if len(models) > 1:
            raise ValueError(f"a recipe describes one model: a diffusion model (unet, ddpm), an autoencoder (vae) "
                             f"or a text encoder (clip), not {' and '.join(models)}")
        sections = ((("vae", VAEConfig),) if "vae" in d else (("clip", ClipConfig),) if "clip" in d
                    else (("unet", UNetConfig), ("ddpm", DDPMConfig)))
        sections += tuple((key, config) for key, config in (("latent", LatentConfig), ("text", TextConditioning))
                          if key in d)
        if "bf16" in d.get("train", {}):  # checkpoints from before `precision`: bf16 true meant bfloat16 autocast
            train = dict(d["train"])
            train.setdefault("precision", "bf16" if train.pop("bf16") else "float32")
            d = {**d, "train": train}
        configs = {"unet": None, "ddpm": None, "vae": None, "latent": None, "clip": None, "text": None}
        for key, config in sections + (("train", TrainConfig),):
            _check_keys(key, d.get(key, {}), config)
            if key == "clip":
                _check_keys("clip.text", d[key].get("text", {}), TextConfig)
            configs[key] = config(**d.get(key, {}))
        return cls(configs["unet"], configs["ddpm"], configs["train"], d.get("dataset", "fashion-mnist"),
                   configs["vae"], configs["latent"], configs["clip"], configs["text"], d.get("dataset_size"))


def _check_keys(section: str, given: dict, config) -> None:
    allowed = [f.name for f in fields(config)]
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {section} keys {unknown} in the recipe; allowed: {', '.join(allowed)}")


RECIPES = {
    # The CPU probe, kept as the baseline to beat: 32/64/128 channels, one block per level,
    # attention only in the 7×7 middle, linear βs, ε-prediction, AdamW 2e-3, 200 warm-up steps, cosine
    # decay, batch 128, flips, clipping at 1, EMA 0.999 (every recipe computes in precision "auto").
    "fashion-probe": Recipe(train=TrainConfig(steps=1750, batch_size=128, lr=2e-3, warmup_steps=200,
                                              grad_clip=1.0, ema_decay=0.999, hflip=True)),
    # The book's unconditional Fashion-MNIST model, as `make checkpoints` trains it (about 55 minutes):
    # fashion-quick for an hour's images, 15,000 steps, with a longer EMA, no flips, v-prediction and cosine ᾱ.
    # `benchmarks/recipe_search.py`'s one-hour variants (add-60 etc.) land within a few FID of each other; the
    # longer EMA was the best additive one, v-prediction the next. They all mirror half the images, but
    # Fashion-MNIST's shoes all face left: half-mirrored real images alone score about FID 50 against the test
    # set (chapter 04, section 7). Without flips, v-prediction beat ε on 22 of 23 sampler settings, and cosine ᾱ
    # beat linear βs with every sampler once the samplers visit the linear schedule's noise levels (benchmarks/RESULTS.md).
    "fashion-ddpm": Recipe(unet=UNetConfig(skip="add"),
                           ddpm=DDPMConfig(min_snr_gamma=5.0, prediction_type="v_prediction", schedule="cosine",
                                           sampling_schedule="linear"),
                           train=TrainConfig(steps=15000, batch_size=64, lr=2e-3, warmup_steps=200, grad_clip=1.0,
                                             ema_decay=0.9995, hflip=False)),
    # The book's recipe for a 15-minute budget on 2 threads (benchmarks/train_budget.py): the probe's UNet with
    # additive skips (about 1.3× the images/s, so 4,000 steps), min-SNR-5 loss weighting and batch 64 (twice
    # the updates for the same images), all chosen by measurement (chapter 04, "Choosing the recipe by
    # measurement"), and no flips (worth over 35 FID at these steps: recipe_search's add-quick-noflip-15).
    "fashion-quick": Recipe(unet=UNetConfig(skip="add"), ddpm=DDPMConfig(min_snr_gamma=5.0),
                            train=TrainConfig(steps=4000, batch_size=64, lr=2e-3, warmup_steps=200, grad_clip=1.0,
                                              ema_decay=0.999, hflip=False)),
    # The book's class-conditional model (chapter 06): fashion-ddpm's network and training plus a class
    # embedding, with 10 % of the labels dropped to the null class so that one network also learns the
    # unconditional model that classifier-free guidance needs (Ho & Salimans 2022 found 0.1-0.2 best);
    # 10,000 steps of 64, the images of the probe recipe's 5,000 steps of 128, in about 40 minutes; v-prediction
    # and cosine ᾱ, sampled at the linear schedule's noise levels, as fashion-ddpm.
    "fashion-cfg": Recipe(unet=UNetConfig(skip="add", num_classes=10),
                          ddpm=DDPMConfig(min_snr_gamma=5.0, label_dropout=0.1, prediction_type="v_prediction",
                                          schedule="cosine", sampling_schedule="linear"),
                          train=TrainConfig(steps=10000, batch_size=64, lr=2e-3, warmup_steps=200, grad_clip=1.0,
                                            ema_decay=0.9995, hflip=False)),
    # The book's autoencoder (chapter 07): the default VAEConfig, a 4×7×7 latent for a 28×28 image, trained
    # with L1 + MSE + 5e-7·KL in batches of 128; 2,600 steps at about 400 images/s fit BOOK.md's 15 minutes.
    # The KL is summed over the latent's 196 numbers and the pixel terms are means, so β = 5e-7 ≈ 1e-4 / 196
    # is 1e-4 per latent number; β = 1e-4 summed weighed it 196× more and kept rFID at 2.8× the floor, not
    # 1.56× (benchmarks/RESULTS.md, "The autoencoder at full length"; GroupNorm did no better).
    "fashion-vae": Recipe(unet=None, ddpm=None, vae=VAEConfig(kl_weight=5e-7),
                          train=TrainConfig(steps=2600, batch_size=128, lr=2e-3, warmup_steps=200, grad_clip=1.0,
                                            ema_decay=0.999, hflip=False)),
    # Flow matching on the linear path (chapter 12): fashion-quick's network and training, its DDPM objective
    # replaced by the velocity ε − x0 on x_t = (1 − t)·x0 + t·ε (no min-SNR weighting: the loss has its own).
    # benchmarks/flow.py trains it beside a v-prediction DDPM for the same 15 minutes.
    "fashion-flow": Recipe(unet=UNetConfig(skip="add"), ddpm=DDPMConfig(objective="flow"),
                           train=TrainConfig(steps=4000, batch_size=64, lr=2e-3, warmup_steps=200, grad_clip=1.0,
                                             ema_decay=0.999, hflip=False)),
    # The book's latent diffusion model (chapter 07): fashion-ddpm's recipe on fashion_vae's 4×7×7 latents,
    # with a UNet of one level at 7×7 (96 channels, two blocks, attention in the middle). Trained for the same
    # 15 minutes, it beat the latents zero-padded to 8×8 and halved once (64/128 channels) by 9.6 FID, at 0.7×
    # their images/s (benchmarks/results/train_budget_latent.json). No x̂0 clipping: unit-variance latents are
    # not bounded by ±1 as pixels are.
    "fashion-ldm": Recipe(unet=UNetConfig(in_channels=4, image_size=7, channels=(96,), blocks_per_level=2,
                                          skip="add"),
                          ddpm=DDPMConfig(min_snr_gamma=5.0, prediction_type="v_prediction", schedule="cosine",
                                          sampling_schedule="linear", clip_x0=None),
                          latent=LatentConfig(),
                          train=TrainConfig(steps=15000, batch_size=64, lr=2e-3, warmup_steps=200, grad_clip=1.0,
                                            ema_decay=0.9995, hflip=False)),
    # The book's text encoder (chapter 08): a 3-layer, 128-wide transformer over the caption's words and a
    # conv image encoder, trained CLIP-style on 60,000 train scenes in batches of 256 (the more captions in a
    # batch, the more negatives each pair is told apart from); 1,900 steps fit BOOK.md's 15 minutes. The
    # default 2-layer, 64-wide encoder runs 1.9x faster and, trained 3,000 steps in the same time, retrieved as
    # well (top-1 86.3 % against 86.2 %); both are limited by binding classes to cells (benchmarks/RESULTS.md).
    "scenes-clip": Recipe(unet=None, ddpm=None, clip=ClipConfig(text=TextConfig(width=128, layers=3), embed_dim=128),
                          dataset="scenes",
                          train=TrainConfig(steps=1900, batch_size=256, lr=2e-3, warmup_steps=100, grad_clip=1.0,
                                            ema_decay=0.999, hflip=False)),
    # The book's text-to-image model (chapter 10): a DDPM on fashion_vae's 4×14×14 latents of the 56×56
    # captioned scenes, its UNet (64/128 channels at 14×14 and 7×7, additive skips) cross-attending to the
    # frozen scenes_clip text encoder's tokens at 7×7 and in the middle only (cross-attention at 14×14 was
    # measured at 169 images/s, too slow to train and sample in the book's budgets), 10 % of the captions
    # dropped to the empty one for classifier-free guidance. fashion-ldm's v-prediction and cosine ᾱ, but no
    # min-SNR weighting: it down-weights the noisiest steps, where the layout is decided (in a short run
    # without it the ink reached the named cell 63 % of the time, against 9 % with min-SNR-5).
    "scenes-ldm": Recipe(unet=UNetConfig(in_channels=4, image_size=14, channels=(64, 128), skip="add",
                                         context_dim=128, cross_attention_levels=(1,)),
                         ddpm=DDPMConfig(prediction_type="v_prediction", schedule="cosine", sampling_schedule="linear",
                                         clip_x0=None, label_dropout=0.1),
                         latent=LatentConfig(image_size=56), text=TextConditioning(), dataset="scenes",
                         train=TrainConfig(steps=8000, batch_size=64, lr=1e-3, warmup_steps=200, grad_clip=1.0,
                                           ema_decay=0.9995, hflip=False)),
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {tuple(RECIPES)} or pass --config FILE.json")
    return Recipe.from_dict(RECIPES[name].to_dict())  # a copy the caller may change


def build_ddpm(recipe: Recipe) -> DDPM:
    """The recipe's DDPM on its UNet; a text recipe's UNet reads the captions through its text encoder."""
    d, network = recipe.ddpm, UNet(recipe.unet)
    if recipe.text is not None:
        encoder = load_dependency(recipe.text, "clip")
        if recipe.text.from_scratch:
            encoder = TextEncoder(encoder.config)
        network = TextConditionedUNet(network, encoder, recipe.text.train, recipe.text.pooled, recipe.text.layout_loss,
                                      layout_maps)
    if d.objective == "flow":
        return FlowMatching(network, d.timesteps, d.clip_x0, d.label_dropout)
    return DDPM(network, d.timesteps, d.beta_start, d.beta_end, d.schedule, d.prediction_type,
                d.variance, d.clip_x0, d.label_dropout, d.min_snr_gamma, d.sampling_schedule)


def build_model(recipe: Recipe) -> DDPM | LatentDDPM | AutoencoderKL | CLIP:
    """The untrained model a recipe describes: a DDPM, a latent DDPM on its (trained) autoencoder, an
    autoencoder or a CLIP-style pair of encoders."""
    if recipe.kind == "vae":
        return AutoencoderKL(recipe.vae)
    if recipe.kind == "clip":
        return CLIP(recipe.clip)
    if recipe.kind == "ldm":
        return LatentDDPM(build_ddpm(recipe), load_dependency(recipe.latent, "vae"), recipe.latent.image_size)
    return build_ddpm(recipe)


def weights_of(model) -> torch.nn.Module:
    """The module whose weights a checkpoint stores: a DDPM's network (its schedule is rebuilt from the
    recipe; a latent DDPM's autoencoder has a checkpoint of its own, and so has a frozen text encoder, so
    only the UNet is stored), or the whole autoencoder (with its latent scaling factor, or both encoders)."""
    if isinstance(model, (AutoencoderKL, CLIP)):
        return model
    network = model.network
    return network.unet if isinstance(network, TextConditionedUNet) and not network.train_text else network


def tokenizer_of(model):
    """The tokenizer of a model that reads captions (a CLIP-style pair, or a diffusion model over a
    `TextConditionedUNet`), or None for one that does not."""
    if isinstance(model, CLIP):
        return model.text.tokenizer
    network = getattr(model, "network", None)
    return network.text_encoder.tokenizer if isinstance(network, TextConditionedUNet) else None


REPO = Path(__file__).resolve().parent.parent


def sha256_of(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def dependency_path(name: str) -> Path:
    """A checkpoint a model is built on (its autoencoder, its text encoder): as given if it exists there,
    else in the repository."""
    path = Path(name)
    return path if path.is_absolute() or path.with_suffix(".safetensors").is_file() else REPO / path


DEPENDENCIES = {"vae": ("latent", "vae", "autoencoder"), "clip": ("text", "encoder", "text encoder")}


def load_dependency(config: LatentConfig | TextConditioning, kind: str):
    """The autoencoder (kind "vae") or CLIP-style text encoder (kind "clip") that `config` names, refused if
    its weights are not the ones the model was trained with (`config.sha256`)."""
    section, key, role = DEPENDENCIES[kind]
    path = dependency_path(getattr(config, key))
    model, recipe, _ = load_model(path)
    if recipe.kind != kind:
        raise ValueError(f"{section}.{key} must name a {role} checkpoint; {getattr(config, key)} is a {recipe.kind}")
    found = sha256_of(path.with_suffix(".safetensors"))
    if config.sha256 is not None and found != config.sha256:
        raise ValueError(f"this model was trained with the {role} {path.name}.safetensors of SHA-256 "
                         f"{config.sha256[:12]}…, but {path.with_suffix('.safetensors')} has {found[:12]}…; "
                         f"restore that {role}, or retrain the model with this one")
    return model if kind == "vae" else model.text


def save_model(model: DDPM | AutoencoderKL | CLIP, recipe: Recipe, path: Path | str, metadata: dict | None = None) -> Path:
    """Write PATH.safetensors (the weights, in float16) and PATH.json (recipe + metadata), atomically."""
    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    for section, key, _ in DEPENDENCIES.values():  # record the autoencoder and text encoder these weights need
        config = getattr(recipe, section)
        if config is not None and config.sha256 is None:
            found = sha256_of(dependency_path(getattr(config, key)).with_suffix(".safetensors"))
            recipe = replace(recipe, **{section: replace(config, sha256=found)})
    state = {k: v.detach().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous()
             for k, v in weights_of(model).state_dict().items()}
    for target, write in ((path, lambda p: save_file(state, p)),
                          (path.with_suffix(".json"), lambda p: Path(p).write_text(
                              json.dumps({"recipe": recipe.to_dict(), "metadata": metadata or {}}, indent=2)))):
        tmp = target.with_name(target.name + ".tmp")
        write(tmp)
        os.replace(tmp, target)
    return path


def load_model(path: Path | str) -> tuple[DDPM | AutoencoderKL | CLIP, Recipe, dict]:
    """(model in eval mode, recipe, metadata) from a checkpoint written by `save_model`."""
    path = Path(path).with_suffix(".safetensors")
    meta_path = path.with_suffix(".json")
    if not path.is_file() or not meta_path.is_file():
        raise FileNotFoundError(f"a checkpoint is two files, {path.name} and {meta_path.name}, in {path.parent}; "
                                "at least one is missing")
    try:
        info = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"checkpoint {meta_path} is not valid JSON ({e})") from None
    if not isinstance(info, dict) or not {"unet", "vae", "clip"} & set(info.get("recipe", {})):
        raise ValueError(f"{meta_path} does not describe a model of the package (no recipe with a 'unet', a "
                         "'vae' or a 'clip'); load the checkpoints that `train` writes, such as fashion_ddpm")
    recipe = Recipe.from_dict(info["recipe"])
    model = build_model(recipe)
    try:
        state = load_file(path)
    except SafetensorError as e:  # a truncated or foreign file: say which, not the parser's internals
        raise ValueError(f"{path} is not a readable safetensors file ({e}); it may be truncated: "
                         "restore it (git checkout) or retrain it (make checkpoints)") from None
    module = weights_of(model)
    expected = module.state_dict()
    if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in state):
        bad = sorted(k for k in set(state) | set(expected)
                     if k not in state or k not in expected or state[k].shape != expected[k].shape)
        raise ValueError(f"checkpoint {path.name} does not match the model its JSON describes: "
                         f"{len(bad)} tensors differ (first: {bad[:3]})")
    module.load_state_dict(state)  # copies the float16 values into the float32 parameters
    model.eval()
    return model, recipe, info.get("metadata", {})


def load_ddpm(path: Path | str) -> tuple[DDPM | LatentDDPM, Recipe, dict]:
    """`load_model` for the commands that need a diffusion model, with a clear error for an autoencoder."""
    model, recipe, metadata = load_model(path)
    refusal = {"vae": "a VAE checkpoint, not a diffusion model; use `reconstruct` for an autoencoder",
               "clip": "a CLIP checkpoint, not a diffusion model"}
    if recipe.kind in refusal:
        raise ValueError(f"{Path(path).name} is {refusal[recipe.kind]}")
    return model, recipe, metadata
