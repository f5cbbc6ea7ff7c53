"""Latent diffusion: the DDPM trains on scaled, padded latents and samples decoded images; a latent
checkpoint records its autoencoder's SHA-256 and refuses another."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from diffusion_lite.__main__ import main
from diffusion_lite.checkpoints import Recipe, build_ddpm, load_model, save_model
from diffusion_lite.pipeline import LatentDDPM
from diffusion_lite.vae import AutoencoderKL, VAEConfig

VAE = {"vae": {"channels": [8, 16, 16]}}  # factor 4: a 28×28 image has a 4×7×7 latent


def latent_recipe(vae_path, size=8):
    return {"unet": {"in_channels": 4, "image_size": size, "channels": [16, 32]}, "ddpm": {"timesteps": 50},
            "latent": {"vae": str(vae_path)}, "train": {"steps": 2, "batch_size": 4, "warmup_steps": 1}}


@pytest.fixture
def vae_checkpoint(tmp_path):
    recipe = Recipe.from_dict(VAE)
    torch.manual_seed(0)
    vae = AutoencoderKL(recipe.vae)
    vae.scaling_factor.fill_(0.5)
    save_model(vae, recipe, tmp_path / "vae")
    return tmp_path / "vae"


def test_latents_are_scaled_padded_and_decoded_back(vae_checkpoint):
    vae = load_model(vae_checkpoint)[0]
    ldm = LatentDDPM(build_ddpm(Recipe.from_dict(latent_recipe(vae_checkpoint))), vae)
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    z = ldm.encode(x)
    assert z.shape == (3, 4, 8, 8) and torch.all(z[..., 7, :] == 0) and torch.all(z[..., :, 7] == 0)
    assert torch.allclose(z[..., :7, :7], vae.encode(x).mode() * 0.5)
    assert torch.allclose(ldm.decode(z), vae.decode(vae.encode(x).mode()), atol=1e-5)
    images = ldm.sample((2, 4, 8, 8), generator=torch.Generator().manual_seed(0), num_steps=3, sampler="ddim")
    assert images.shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="the UNet needs in_channels = 4 and image_size >= 7, got 4 and 6"):
        LatentDDPM(build_ddpm(Recipe.from_dict(latent_recipe(vae_checkpoint, size=6))), vae)


def test_a_latent_checkpoint_refuses_another_autoencoder(vae_checkpoint, tmp_path, capsys):
    (tmp_path / "ldm.json").write_text(json.dumps(latent_recipe(vae_checkpoint)))
    assert main(["train", "--config", str(tmp_path / "ldm.json"), "--out", str(tmp_path / "run"),
                 "--threads", "1"]) == 0
    ldm, recipe, _ = load_model(tmp_path / "run" / "model")
    assert isinstance(ldm, LatentDDPM) and recipe.kind == "ldm" and len(recipe.latent.sha256) == 64
    out = tmp_path / "s.npz"
    assert main(["sample", "--checkpoint", str(tmp_path / "run" / "model"), "--num", "3", "--steps", "3",
                 "--out", str(out)]) == 0
    with np.load(out) as f:
        assert f["images"].shape == (3, 28, 28) and f["images"].dtype == np.uint8
    weights = load_file(vae_checkpoint.with_suffix(".safetensors"))
    weights["decoder.conv_out.bias"] += 0.01
    save_file(weights, vae_checkpoint.with_suffix(".safetensors"))
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(tmp_path / "run" / "model"), "--out", str(out)]) == 1
    assert "was trained on the autoencoder vae.safetensors with SHA-256" in capsys.readouterr().err
