"""The βt explorer of chapter 01, driven without a browser: move each control, check what it computed and showed."""
import base64
import io

import ipywidgets as W
import matplotlib.pyplot as plt
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
    assert ex.controls["beta_end"].value == 0.04  # exact: only the browser's handle snaps to the slider's steps
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


def test_sliders_send_only_when_released_so_values_set_from_code_stay_exact():
    """A log slider's browser view snaps its handle to base**(min + k·step); with continuous_update it also
    sends that snapped value back whenever the kernel moves the slider, which after Run All left chapter 01's
    explorer at an invalid setting (tests/test_browser.py drives that in a real browser)."""
    ex = BetaExplorer(IMAGES)
    sliders = [c for c in ex.controls.values() if isinstance(c, (W.FloatLogSlider, W.IntSlider))]
    assert len(sliders) == 3 and not any(c.continuous_update for c in sliders)


def test_same_noise_for_every_setting_so_only_the_schedule_changes():
    for kind in ("linear", "cosine"):
        r = explore_schedule(IMAGES, kind, 1e-4, 0.02, 1000)
        abar = r["schedule"].alphas_cumprod[r["timesteps"]].float().view(1, -1, 1, 1, 1)
        noise = (r["noised"] - abar.sqrt() * IMAGES[:, None]) / (1 - abar).sqrt()  # Eq. 4 solved for ε
        assert torch.allclose(noise, noise[:, -1:].expand_as(noise), atol=2e-3)  # one ε for every t
        assert torch.allclose(noise[:, -1], torch.randn(IMAGES.shape, generator=torch.Generator().manual_seed(0)),
                              atol=1e-4)


def png_of(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def test_display_bundle_is_the_live_widget_plus_a_png_of_the_current_figure():
    """JupyterLab renders the widget view; a static page (the HTML book) shows the PNG where the sliders are."""
    ex = BetaExplorer(IMAGES)
    bundle = ex._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.widget.model_id
    first = base64.b64decode(bundle["image/png"])
    assert first.startswith(b"\x89PNG") and first == png_of(ex.static_figure())
    assert "SNR falls below 1 at t = 259" in ex.static_figure()._suptitle.get_text()
    assert bundle["text/plain"] == "BetaExplorer(kind='linear', beta_start=0.0001, beta_end=0.02, num_timesteps=1000)"

    ex.controls["num_timesteps"].value = 100  # the PNG follows the controls
    moved = base64.b64decode(ex._repr_mimebundle_()["image/png"])
    assert moved != first and moved == png_of(ex.static_figure())

    ex.controls["beta_start"].value = 0.05  # invalid: no figure to show, the widget still shows the message
    bundle = ex._repr_mimebundle_()
    assert "image/png" not in bundle and "application/vnd.jupyter.widget-view+json" in bundle
