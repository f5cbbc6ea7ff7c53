"""The βt explorer of chapter 01, driven without a browser: move each control, check what it computed and showed."""
import torch

from diffusion_lite.schedules import NoiseSchedule
from diffusion_lite.widgets import BetaExplorer, explore_schedule

IMAGES = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1


def expected(kind="linear", beta_start=1e-4, beta_end=0.02, T=1000):
    s = NoiseSchedule.make(kind, T, beta_start, beta_end)
    return float(s.alphas_cumprod[-1]), s.first_t_below_snr(1.0)


def test_initial_state_and_each_control():
    ex = BetaExplorer(IMAGES)
    assert ex.result["alpha_bar_T"] == expected()[0]
    assert ex.result["timesteps"] == [0, 100, 250, 500, 749, 999]
    assert ex.result["noised"].shape == (2, 6, 1, 28, 28)
    assert f"t = {expected()[1]} of T = 1000" in ex.status.value

    ex.controls["beta_end"].value = 0.04
    assert abs(ex.controls["beta_end"].value - 0.04) < 1e-3  # a log slider snaps to its steps
    assert ex.result["alpha_bar_T"] == expected(beta_end=ex.controls["beta_end"].value)[0]

    ex.controls["beta_start"].value = 1e-3
    start, end = ex.controls["beta_start"].value, ex.controls["beta_end"].value
    assert ex.result["alpha_bar_T"] == expected(beta_start=start, beta_end=end)[0]

    ex.controls["num_timesteps"].value = 200
    assert ex.result["schedule"].num_timesteps == 200 and ex.result["timesteps"][-1] == 199
    assert ex.result["alpha_bar_T"] == expected(beta_start=start, beta_end=end, T=200)[0]

    ex.controls["kind"].value = "cosine"
    assert ex.result["alpha_bar_T"] == expected("cosine", start, end, 200)[0]
    assert "not used" in ex.status.value


def test_invalid_setting_shows_the_message_and_the_explorer_keeps_working():
    ex = BetaExplorer(IMAGES)
    ex.controls["beta_start"].value = 0.05
    ex.controls["beta_end"].value = 0.01
    assert "beta_end must be >= beta_start" in ex.result["error"]
    assert "Invalid setting" in ex.status.value and "beta_end must be &gt;= beta_start" in ex.status.value
    ex.controls["beta_end"].value = 0.1
    assert "error" not in ex.result and "Invalid" not in ex.status.value
    assert ex.result["alpha_bar_T"] == expected(beta_start=ex.controls["beta_start"].value,
                                                beta_end=ex.controls["beta_end"].value)[0]


def test_same_noise_for_every_setting_so_only_the_schedule_changes():
    for kind in ("linear", "cosine"):
        r = explore_schedule(IMAGES, kind, 1e-4, 0.02, 1000)
        abar = r["schedule"].alphas_cumprod[r["timesteps"]].float().view(1, -1, 1, 1, 1)
        noise = (r["noised"] - abar.sqrt() * IMAGES[:, None]) / (1 - abar).sqrt()  # Eq. 4 solved for ε
        assert torch.allclose(noise, noise[:, -1:].expand_as(noise), atol=2e-3)  # one ε for every t
        assert torch.allclose(noise[:, -1], torch.randn(IMAGES.shape, generator=torch.Generator().manual_seed(0)),
                              atol=1e-4)
