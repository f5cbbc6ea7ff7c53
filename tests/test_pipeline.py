"""Latent diffusion: the DDPM trains on scaled, padded latents and samples decoded images; a latent
checkpoint records its autoencoder's SHA-256 and refuses another."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from diffusion_lite.__main__ import main
from diffusion_lite.checkpoints import Recipe, build_ddpm, load_model, save_model
from diffusion_lite.ddpm import DDPM
from diffusion_lite.pipeline import LatentDDPM
from diffusion_lite.unet import UNet, UNetConfig
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
    assert "was trained with the autoencoder vae.safetensors of SHA-256" in capsys.readouterr().err


def tiny_text_network(train_text=False, pooled=False):
    from diffusion_lite.pipeline import TextConditionedUNet
    from diffusion_lite.text import TextConfig, TextEncoder
    torch.manual_seed(0)
    unet = UNet(UNetConfig(image_size=8, channels=(16, 32), context_dim=16, skip="add"))
    for p in unet.parameters():  # leave the zero initialisation, so that the caption matters
        torch.nn.init.normal_(p, std=0.05) if p.ndim > 1 else None
    return TextConditionedUNet(unet, TextEncoder(TextConfig(width=16, layers=1)), train_text, pooled)


def test_a_text_conditioned_unet_reads_captions_as_labels_with_the_empty_caption_as_null():
    from diffusion_lite.guidance import ClassifierFreeGuidance
    net = tiny_text_network()
    captions = ["a bag in the top left", "a coat in the top right and a bag in the bottom left", "a bag in the top left"]
    tokens = net.text_encoder.tokenizer.encode(captions)
    x, t = torch.randn(3, 1, 8, 8), torch.tensor([3, 300, 900])
    text = net.text_encoder(tokens)  # full length, each caption encoded even when repeated
    out = net(x, t, tokens)
    assert torch.allclose(out, net.unet(x, t, context=text.tokens, context_mask=text.mask), atol=1e-5)
    assert net.null_label.tolist() == [1] + [0] * 31 and net.config is net.unet.config
    null = net.null_label.expand_as(tokens)
    guided = ClassifierFreeGuidance(net, tokens, 3.0)(x, t)
    assert torch.allclose(guided, net(x, t, null) + 3.0 * (out - net(x, t, null)), atol=1e-5)
    assert torch.allclose(ClassifierFreeGuidance(net, tokens, 1.0)(x, t), out)
    # caption dropout: with p = 1 every caption is the empty one, drawn from the same generator
    ddpm = DDPM(net, timesteps=50, label_dropout=1.0)
    x0 = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        loss = ddpm.loss(x0, torch.Generator().manual_seed(0), labels=tokens)
        plain = DDPM(net, timesteps=50).loss(x0, torch.Generator().manual_seed(0), labels=null.clone())
    assert abs(float(loss) - float(plain)) < 1e-6  # the same t and ε; the dropout draw comes after them
    with torch.no_grad():
        kept = DDPM(net, timesteps=50).loss(x0, torch.Generator().manual_seed(0), labels=tokens)
    assert abs(float(kept) - float(plain)) > 1e-4  # the captions matter to this network
    images = ddpm.sample((3, 1, 8, 8), generator=torch.Generator().manual_seed(1), num_steps=3, sampler="ddim",
                         labels=tokens, guidance_scale=2.0)
    assert images.shape == (3, 1, 8, 8) and torch.isfinite(images).all()


def test_a_text_conditioned_unet_trains_its_encoder_only_when_asked():
    for train_text in (False, True):
        net = tiny_text_network(train_text)
        tokens = net.text_encoder.tokenizer.encode(["a bag in the top left", "a coat in the top right"])
        net(torch.randn(2, 1, 8, 8), torch.tensor([5, 50]), tokens).sum().backward()
        grads = [p.grad for p in net.text_encoder.parameters()]
        assert all(g is not None for g in grads) if train_text else all(g is None for g in grads)
        assert all(p.grad is not None for p in net.unet.parameters() if p.requires_grad)
    from diffusion_lite.pipeline import TextConditionedUNet
    from diffusion_lite.text import TextEncoder
    with pytest.raises(ValueError, match=r"context_dim \(16\) must be the text encoder's width \(64\)"):
        TextConditionedUNet(net.unet, TextEncoder())


def test_a_pooled_text_network_attends_to_the_start_token_alone_and_cannot_tell_where():
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([300, 300])
    for train_text in (False, True):
        net = tiny_text_network(train_text, pooled=True)
        tokens = net.text_encoder.tokenizer.encode(["a bag in the top left", "a coat in the top right"])
        text = net.text_encoder(tokens)
        expected = net.unet(x, t, context=text.pooled[:, None], context_mask=torch.ones(2, 1, dtype=torch.bool))
        assert torch.allclose(net(x, t, tokens), expected, atol=1e-5)
        assert not torch.allclose(net(x, t, tokens), tiny_text_network(train_text)(x, t, tokens), atol=1e-4)


def test_a_text_recipe_from_scratch_builds_a_new_encoder_of_the_checkpoints_shape_and_must_train():
    from diffusion_lite.checkpoints import TextConditioning, build_model, get_recipe
    recipe = get_recipe("scenes-ldm")
    pretrained = build_model(recipe).ddpm.network.text_encoder
    recipe.text = TextConditioning(train=True, from_scratch=True)
    scratch = build_model(recipe).ddpm.network
    assert scratch.train_text and scratch.text_encoder.config == pretrained.config
    assert all(p.requires_grad for p in scratch.text_encoder.parameters())
    assert not torch.allclose(scratch.text_encoder.token_embed.weight, pretrained.token_embed.weight)
    with pytest.raises(ValueError, match="text.from_scratch needs text.train"):
        TextConditioning(from_scratch=True)


def test_word_cells_and_cell_shares_give_the_layout_a_caption_describes():
    from diffusion_lite.datasets import cell_shares, layout_maps, word_cells
    assert word_cells("a bag in the top left") == [-1, 0, -1, -1, -1, -1]
    assert word_cells("an ankle boot in the bottom right and a coat in the top right") == \
        [-1, 3, 3, -1, -1, -1, -1] + [-1] + [-1, 1, -1, -1, -1, -1]
    with pytest.raises(ValueError, match="unknown item 'hat'"):
        word_cells("a hat in the top left")
    assert torch.equal(cell_shares(2), torch.eye(4))
    shares = cell_shares(7)  # the middle row and column are split between cells
    assert torch.allclose(shares.sum(0), torch.ones(49)) and float(shares[0].sum()) == 3.5 ** 2
    assert float(shares[3].view(7, 7)[3, 3]) == 0.25 and float(shares[1].view(7, 7)[0, 6]) == 1
    maps = layout_maps(["an ankle boot in the bottom right", ""], 6, 2)  # <start> an ankle boot in the
    assert maps.shape == (2, 6, 4) and torch.equal(maps[0, 2], torch.eye(4)[3]) and torch.equal(maps[0, 3], maps[0, 2])
    assert float(maps[0, [0, 1, 4, 5]].abs().sum()) == 0 and float(maps[1].abs().sum()) == 0


def test_the_layout_loss_is_zero_for_attention_from_the_named_cell_and_trains_the_attention():
    from diffusion_lite.datasets import cell_shares, layout_maps
    net = tiny_text_network(pooled=False)
    net.layout_loss, net.layout = 0.5, layout_maps
    captions = ["a bag in the top left", "a coat in the top right and a sandal in the bottom left", ""]
    tokens = net.text_encoder.tokenizer.encode(captions)
    x, t = torch.randn(3, 1, 8, 8), torch.tensor([10, 500, 900])
    ddpm = DDPM(net, timesteps=1000)
    net.train()
    net(x, t, tokens)
    aux = net.auxiliary_loss()
    assert aux is not None and 0 < float(aux.detach()) <= 0.5 and net.auxiliary_loss() is None  # handed over once
    aux.backward()
    assert all(a.to_q.weight.grad.abs().sum() > 0 for a in net._cross)
    assert all(a.record is False for a in net._cross)  # recording put back as it was
    with pytest.raises(ValueError, match="layout_loss > 0 needs layout"):
        type(net)(net.unet, net.text_encoder, layout_loss=0.1)
    # attention a NAME receives only from its own cell scores 0; spread evenly over a 4×4 map, (1 − 1/4)²
    for attn in net._cross:
        side = int(attn.weights.shape[2] ** 0.5)
        shares = cell_shares(side)  # (4, N)
        weights = torch.zeros(3, 2, side * side, tokens.shape[1])
        weights[..., 0] = 1  # every position attends to <start> ...
        weights[0, :, :, 2] = shares[0]  # ... and to "bag" from the top left only
        weights[1, :, :, 2], weights[1, :, :, 9] = shares[1], shares[2]  # "coat" top right, "sandal" bottom left
        attn.weights = weights
    assert float(net._layout_term(tokens)) == pytest.approx(0, abs=1e-6)
    for attn in net._cross:
        attn.weights[..., 2] = attn.weights[..., 9] = 1.0
    assert float(net._layout_term(tokens)) == pytest.approx(0.75 ** 2)
    # the DDPM adds it in training, not in evaluation; a network without the loss adds nothing
    with torch.no_grad():
        net.eval()
        plain = ddpm.loss(torch.randn(3, 1, 8, 8), torch.Generator().manual_seed(0), labels=tokens)
        assert net.auxiliary_loss() is None
    net.train()
    with_loss = ddpm.loss(torch.randn(3, 1, 8, 8), torch.Generator().manual_seed(0), labels=tokens)
    net.layout_loss = 0
    without = ddpm.loss(torch.randn(3, 1, 8, 8), torch.Generator().manual_seed(0), labels=tokens)
    assert float(with_loss.detach()) > float(without.detach()) and torch.isfinite(plain)
