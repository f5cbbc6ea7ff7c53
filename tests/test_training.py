"""The training loop: schedule of the learning rate, EMA, exact resume, NaN detection."""
import pytest
import torch

from diffusion_lite import DDPM, MLPDenoiser
from diffusion_lite.datasets import toy_2d
from diffusion_lite.training import TrainConfig, Trainer, ema_decay_at, ema_update, lr_at


def make(cfg):
    torch.manual_seed(0)
    return Trainer(DDPM(MLPDenoiser(hidden=32, num_blocks=1), 100), toy_2d("two_moons", 512), cfg)


def test_lr_warms_up_then_decays_to_zero():
    cfg = TrainConfig(steps=100, lr=1.0, warmup_steps=10)
    assert lr_at(0, cfg) == pytest.approx(0.1) and lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(55, cfg) == pytest.approx(0.5) and lr_at(100, cfg) == pytest.approx(0.0, abs=1e-12)


def test_ema_update_is_a_weighted_average():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    expected = 0.9 * a.weight.detach().clone() + 0.1 * b.weight.detach()
    ema_update(a, b, 0.9)
    assert torch.allclose(a.weight, expected)


def test_ema_decay_warms_up_to_its_target():
    assert ema_decay_at(0, 0.999) == pytest.approx(0.1)
    assert ema_decay_at(90, 0.999) == pytest.approx(0.91)
    assert ema_decay_at(100_000, 0.999) == 0.999


def test_resume_is_exact(tmp_path):
    cfg = TrainConfig(steps=30, batch_size=32, warmup_steps=5, checkpoint_every=10, hflip=True)
    straight = make(cfg)
    straight.train(progress=False)
    first = make(cfg)
    first.train(until=20, checkpoint=tmp_path / "ckpt.pt", progress=False)
    resumed = Trainer.resume(tmp_path / "ckpt.pt", DDPM(MLPDenoiser(hidden=32, num_blocks=1), 100),
                             toy_2d("two_moons", 512), cfg)
    assert resumed.step == 20
    resumed.train(progress=False)
    for name in ("model", "ema"):
        a, b = straight.state_dict()[name], resumed.state_dict()[name]
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert straight.losses == resumed.losses
    assert not list(tmp_path.glob("*.tmp"))


def test_nan_loss_stops_with_a_clear_message():
    trainer = make(TrainConfig(steps=5, batch_size=8))
    trainer.data = torch.full_like(trainer.data, float("nan"))
    with pytest.raises(FloatingPointError, match="loss became nan at step 0"):
        trainer.train(progress=False)


def test_bad_config():
    with pytest.raises(ValueError, match="ema_decay in \\[0, 1\\)"):
        TrainConfig(ema_decay=1.0)


def test_a_run_saved_on_other_data_is_refused_not_resumed(tmp_path):
    cfg = TrainConfig(steps=4, batch_size=16, warmup_steps=1, checkpoint_every=2)
    make(cfg).train(until=2, checkpoint=tmp_path / "state.pt", progress=False)
    data = toy_2d("two_moons", 512)
    same = Trainer.resume(tmp_path / "state.pt", DDPM(MLPDenoiser(hidden=32, num_blocks=1), 100), data, cfg)
    assert same.step == 2 and torch.load(tmp_path / "state.pt", weights_only=False)["data"] == same.data_digest()
    with pytest.raises(ValueError, match="saved by a run on other data .*Delete it to train from scratch"):
        Trainer.resume(tmp_path / "state.pt", DDPM(MLPDenoiser(hidden=32, num_blocks=1), 100), data * 1.01, cfg)
