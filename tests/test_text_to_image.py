"""Text-to-image (chapter 10): a latent DDPM whose UNet reads captions through a frozen text encoder, trained,
saved, loaded and sampled through the command line, and refused with another autoencoder or text encoder."""
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from diffusion_lite.__main__ import main
from diffusion_lite.checkpoints import Recipe, build_model, load_model, tokenizer_of
from diffusion_lite.metrics import CHECKPOINT_DIR
from diffusion_lite.pipeline import LatentDDPM, TextConditionedUNet

TINY = {"unet": {"in_channels": 4, "image_size": 14, "channels": [16, 32], "skip": "add", "context_dim": 128,
                 "cross_attention_levels": [1]},
        "ddpm": {"timesteps": 50, "prediction_type": "v_prediction", "schedule": "cosine", "clip_x0": None,
                 "label_dropout": 0.1},
        "latent": {"image_size": 56}, "text": {}, "dataset": "scenes", "dataset_size": 64,
        "train": {"steps": 2, "batch_size": 8, "warmup_steps": 1}}
PROMPT = "a bag in the top left and a sneaker in the bottom right"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny recipe trained through `train` on copies of the book's autoencoder and text encoder."""
    root = tmp_path_factory.mktemp("t2i")
    for name in ("fashion_vae", "scenes_clip"):
        for suffix in (".json", ".safetensors"):
            shutil.copy(CHECKPOINT_DIR / f"{name}{suffix}", root / f"{name}{suffix}")
    tiny = {**TINY, "latent": {**TINY["latent"], "vae": str(root / "fashion_vae")},
            "text": {"encoder": str(root / "scenes_clip")}}
    (root / "tiny.json").write_text(json.dumps(tiny))
    assert main(["train", "--config", str(root / "tiny.json"), "--out", str(root / "run"), "--threads", "1",
                 "--evaluate", "4", "--guidance-scale", "2"]) == 0
    return root


def test_the_checkpoint_stores_the_unet_only_and_names_both_encoders_by_digest(trained):
    model, recipe, meta = load_model(trained / "run" / "model")
    assert isinstance(model, LatentDDPM) and isinstance(model.network, TextConditionedUNet)
    assert recipe == Recipe.from_dict(recipe.to_dict()) and recipe.text.train is False
    assert len(recipe.latent.sha256) == 64 and len(recipe.text.sha256) == 64
    stored = load_file(trained / "run" / "model.safetensors")
    assert set(stored) == set(model.network.unet.state_dict())  # no text-encoder or VAE weights
    clip, _, _ = load_model(trained / "scenes_clip")
    for ours, theirs in zip(model.network.text_encoder.parameters(), clip.text.parameters()):
        assert torch.equal(ours, theirs)
    assert not any(p.requires_grad for p in model.network.text_encoder.parameters())
    metrics = meta["metrics"]
    assert metrics["guidance_scale"] == 2 and metrics["num_scenes"] == 4 and 0 <= metrics["prompt"] <= 1
    assert metrics["ceiling"]["num_scenes"] == 4 and meta["heldout_loss"] > 0
    assert isinstance(tokenizer_of(clip), type(tokenizer_of(model))) and tokenizer_of(object()) is None


def test_sampling_a_prompt_gives_a_scene(trained):
    from diffusion_lite.generation import generate
    model, _, _ = load_model(trained / "run" / "model")
    tokens = tokenizer_of(model).encode([PROMPT, PROMPT])
    x = generate(model, 2, "dpmpp_2m", 3, seed=0, labels=tokens, guidance_scale=3.0, progress=False)
    assert x.shape == (2, 1, 56, 56) and torch.isfinite(x).all()
    assert torch.equal(generate(model, 2, "dpmpp_2m", 3, seed=0, labels=tokens, guidance_scale=3.0,
                                progress=False), x)


@pytest.mark.parametrize("name, role", [("fashion_vae", "autoencoder"), ("scenes_clip", "text encoder")])
def test_another_autoencoder_or_text_encoder_is_refused_naming_both_digests(trained, tmp_path, name, role):
    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    recipe = json.loads((run / "model.json").read_text())["recipe"]
    changed = tmp_path / name
    for suffix in (".json", ".safetensors"):
        shutil.copy(trained / f"{name}{suffix}", changed.with_suffix(suffix))
    weights = load_file(changed.with_suffix(".safetensors"))
    first = sorted(weights)[0]
    weights[first] = weights[first] + 0.01
    save_file(weights, changed.with_suffix(".safetensors"))
    section, key = ("latent", "vae") if name == "fashion_vae" else ("text", "encoder")
    recipe[section][key] = str(changed)
    (run / "model.json").write_text(json.dumps({"recipe": recipe, "metadata": {}}))
    with pytest.raises(ValueError, match=rf"trained with the {role} {name}.safetensors of SHA-256 "
                                         rf"{recipe[section]['sha256'][:12]}…, but .* has [0-9a-f]{{12}}…"):
        load_model(run / "model")


def test_a_text_recipe_needs_scenes_and_a_clip_checkpoint():
    with pytest.raises(ValueError, match="a text recipe trains on captioned scenes"):
        Recipe.from_dict({**TINY, "dataset": "fashion-mnist"})
    with pytest.raises(ValueError, match=r"unknown text keys \['model'\]"):
        Recipe.from_dict({**TINY, "text": {"model": "x"}})
    with pytest.raises(ValueError, match="text.encoder must name a text encoder checkpoint; .*fashion_vae is a vae"):
        build_model(Recipe.from_dict({**TINY, "text": {"encoder": "data/checkpoints/fashion_vae"}}))


def test_sample_a_prompt_from_the_command_line_and_evaluate_it(trained, capsys):
    """`sample --prompt` writes uint8 (N, 56, 56) scenes and their prompts as a unicode array (no pickle), at the
    guidance scale the checkpoint recorded, said aloud; `--prompts-file` draws one scene per non-empty line;
    `evaluate` reads either and reports prompt fidelity beside its ceiling."""
    import numpy as np
    out = trained / "scenes.npz"
    assert main(["sample", "--checkpoint", str(trained / "run" / "model"), "--prompt", PROMPT, "--num", "3",
                 "--sampler", "dpmpp_2m", "--steps", "3", "--out", str(out)]) == 0
    assert "guidance scale w = 2, the one this checkpoint was evaluated at" in capsys.readouterr().out
    with np.load(out, allow_pickle=False) as f:
        assert f["images"].dtype == np.uint8 and f["images"].shape == (3, 56, 56)
        assert f["prompts"].dtype.kind == "U" and list(f["prompts"]) == [PROMPT] * 3 and "labels" not in f
    (trained / "prompts.txt").write_text(f"a coat in the top right\n\n{PROMPT}\n")
    assert main(["sample", "--checkpoint", str(trained / "run" / "model"), "--prompts-file",
                 str(trained / "prompts.txt"), "--steps", "3", "--guidance-scale", "1", "--out", str(out)]) == 0
    with np.load(out, allow_pickle=False) as f:
        assert list(f["prompts"]) == ["a coat in the top right", PROMPT] and len(f["images"]) == 2
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["generated"]["num_scenes"] == 2 and report["ceiling"]["num_scenes"] == 2
