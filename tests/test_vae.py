"""The autoencoder: the KL term against torch.distributions and Monte Carlo, the reparameterisation
trick, shapes and sizes, the latent scaling factor, locality, checkpoints and the `reconstruct` verb."""
import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from diffusion_lite.__main__ import main
from diffusion_lite.checkpoints import Recipe, load_model, save_model
from diffusion_lite.metrics import psnr
from diffusion_lite.vae import AutoencoderKL, DiagonalGaussian, VAEConfig

SMALL = VAEConfig(channels=(8, 16, 16))


def posterior(seed=0, shape=(3, 4, 2, 2)):
    g = torch.Generator().manual_seed(seed)
    return DiagonalGaussian(torch.cat([torch.randn(shape, generator=g), torch.randn(shape, generator=g)], 1))


def test_kl_is_the_closed_form_of_torch_distributions():
    q = posterior()
    expected = kl_divergence(Normal(q.mean, q.std), Normal(0.0, 1.0)).flatten(1).sum(1)
    assert torch.allclose(q.kl(), expected, atol=1e-5)


def test_kl_matches_a_monte_carlo_estimate():
    """KL = E_q[log q(z) − log p(z)], estimated from 200,000 draws of z."""
    q = posterior(1, (1, 2, 1, 1))
    draws = q.mean + q.std * torch.randn((200_000, *q.mean.shape[1:]), generator=torch.Generator().manual_seed(0))
    log_q = Normal(q.mean, q.std).log_prob(draws).flatten(1).sum(1)
    log_p = Normal(0.0, 1.0).log_prob(draws).flatten(1).sum(1)
    assert abs(float((log_q - log_p).mean()) - float(q.kl())) < 0.02


def test_reparameterised_samples_have_the_posteriors_moments_and_carry_gradients():
    moments = torch.tensor([[[[0.5]], [[-1.0]]]], requires_grad=True)  # mean 0.5, log σ² = −1
    q = DiagonalGaussian(moments)
    z = q.sample(noise=torch.randn(100_000, 1, 1, 1, generator=torch.Generator().manual_seed(0)))
    assert abs(float(z.detach().mean()) - 0.5) < 0.01 and abs(float(z.detach().std()) - float(np.exp(-0.5))) < 0.01
    z.mean().backward()
    assert moments.grad is not None and moments.grad.abs().sum() > 0
    assert torch.equal(q.mode(), q.mean)


def test_shapes_for_items_and_scenes_and_clear_errors():
    vae = AutoencoderKL(SMALL)
    assert SMALL.factor == 4 and SMALL.latent_shape(28, 28) == (4, 7, 7) and SMALL.latent_shape(56, 56) == (4, 14, 14)
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    q = vae.encode(x)
    assert q.mean.shape == (2, 4, 7, 7) and vae.decode(q.sample()).shape == (2, 1, 28, 28)
    assert vae.encode(torch.zeros(1, 1, 56, 56)).mean.shape == (1, 4, 14, 14)
    with pytest.raises(ValueError, match="image sides must be multiples of 4 .* got 30×30"):
        vae.encode(torch.zeros(1, 1, 30, 30))
    with pytest.raises(ValueError, match=r"images must be \(B, 1, H, W\), got \(1, 3, 28, 28\)"):
        vae.encode(torch.zeros(1, 3, 28, 28))
    with pytest.raises(ValueError, match=r"latents must be \(B, 4, H, W\), got \(1, 3, 7, 7\)"):
        vae.decode(torch.zeros(1, 3, 7, 7))
    with pytest.raises(ValueError, match="norm must be one of"):
        VAEConfig(norm="batch")


def test_loss_is_l1_plus_mse_plus_weighted_kl():
    vae = AutoencoderKL(VAEConfig(channels=(8, 16), kl_weight=0.01))
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    recon, q = vae(x, torch.Generator().manual_seed(3))
    expected = (recon - x).abs().mean() + (recon - x).pow(2).mean() + 0.01 * q.kl().mean()
    assert torch.allclose(vae.loss(x, torch.Generator().manual_seed(3)), expected)


def test_scaling_factor_gives_unit_variance_latents():
    vae = AutoencoderKL(SMALL)
    x = torch.rand(64, 1, 28, 28) * 2 - 1
    factor = vae.latent_scaling_factor(x)
    with torch.no_grad():
        assert abs(float((vae.encode(x).mode() * factor).std()) - 1) < 1e-4


def test_channel_norm_keeps_the_encoder_local_and_group_norm_does_not():
    """Changing the bottom-right cell of a 56×56 scene changes the channel-norm encoder's latent only within
    its reach of that cell (here: not in the top-left 2×2 latent positions), GroupNorm's everywhere."""
    torch.manual_seed(0)
    scene = torch.rand(1, 1, 56, 56) * 2 - 1
    other = scene.clone()
    other[..., 28:, 28:] = -1.0  # the bottom-right item removed
    for norm, local in (("channel", True), ("group", False)):
        vae = AutoencoderKL(VAEConfig(channels=(8, 16, 16), norm=norm))
        with torch.no_grad():
            delta = (vae.encode(scene).mean - vae.encode(other).mean).abs()
        assert (float(delta[..., :2, :2].max()) == 0.0) == local, norm
        assert float(delta[..., 7:, 7:].max()) > 0


def test_a_vae_checkpoint_round_trips_with_its_scaling_factor(tmp_path):
    recipe = Recipe.from_dict({"vae": {"channels": [8, 16]}, "train": {"steps": 2}})
    assert recipe.kind == "vae" and recipe.unet is None and set(recipe.to_dict()) == {"vae", "train", "dataset"}
    vae = AutoencoderKL(recipe.vae)
    vae.scaling_factor.fill_(0.75)
    save_model(vae, recipe, tmp_path / "v", {"scaling_factor": 0.75})
    loaded, again, meta = load_model(tmp_path / "v")
    assert isinstance(loaded, AutoencoderKL) and again == recipe and float(loaded.scaling_factor) == 0.75
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    assert torch.allclose(loaded.encode(x).mean, vae.half().float().encode(x).mean, atol=1e-3)
    with pytest.raises(ValueError, match="a recipe describes one model: .*, not vae and unet/ddpm"):
        Recipe.from_dict({"vae": {}, "unet": {}})


def test_reconstruct_writes_the_npz_contract_in_order(tmp_path, capsys):
    recipe = Recipe.from_dict({"vae": {"channels": [8, 16]}})
    save_model(AutoencoderKL(recipe.vae), recipe, tmp_path / "v")
    out = tmp_path / "r.npz"
    assert main(["reconstruct", "--checkpoint", str(tmp_path / "v"), "--num", "5", "--out", str(out)]) == 0
    with np.load(out) as f:
        images, labels = f["images"], f["labels"]
    assert images.dtype == np.uint8 and images.shape == (5, 28, 28) and labels.tolist() == [9, 2, 1, 1, 6]
    assert "PSNR" in capsys.readouterr().out
    assert main(["reconstruct", "--checkpoint", str(tmp_path / "v"), "--num", "20000", "--out", str(out)]) == 1
    assert "--num must be at most 10000" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(tmp_path / "v"), "--out", str(out)]) == 1
    assert "is a VAE checkpoint, not a diffusion model; use `reconstruct`" in capsys.readouterr().err


def test_psnr_known_values():
    a = torch.zeros(2, 4, 4, dtype=torch.uint8)
    assert psnr(a, a) == float("inf")
    assert abs(psnr(a + 1, a) - 10 * np.log10(255**2)) < 1e-9  # MSE 1
    with pytest.raises(ValueError, match="uint8 of one shape"):
        psnr(a.float(), a)
