"""Interactive explorers for the chapters: thin ipywidgets wrappers around tested functions.

The mathematics is in `explore_schedule` (plain tensors in, numbers and images out); the widget only
reads sliders, calls it, shows the result or the error message, and keeps working either way.
"""
from __future__ import annotations

import base64
import html
import io

import ipywidgets as W
import matplotlib.pyplot as plt
import torch
from IPython.display import clear_output

from .process import add_noise
from .schedules import SCHEDULES, NoiseSchedule

DEFAULT_FRACTIONS = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)


def explore_schedule(images: torch.Tensor, kind: str = "linear", beta_start: float = 1e-4, beta_end: float = 0.02,
                     num_timesteps: int = 1000, fractions=DEFAULT_FRACTIONS, seed: int = 0) -> dict:
    """Everything the βt explorer shows for one setting of its controls.

    `images` are (N, 1, H, W) in [−1, 1]. Returns the schedule, the timesteps shown
    (t = round(f·(T − 1)) for each fraction f), the images noised at each of them with the same noise
    for every setting (N, len(fractions), 1, H, W), ᾱ at the last step, and the first t where SNR < 1.
    Raises ValueError for invalid settings, naming the allowed values.
    """
    schedule = NoiseSchedule.make(kind, num_timesteps, beta_start, beta_end)
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    ts = [round(f * (num_timesteps - 1)) for f in fractions]
    noised = torch.stack([add_noise(schedule, images, t, noise) for t in ts], dim=1)
    return {"schedule": schedule, "timesteps": ts, "noised": noised,
            "alpha_bar_T": float(schedule.alphas_cumprod[-1]),
            "snr_below_1_at": schedule.first_t_below_snr(1.0)}


class BetaExplorer:
    """Sliders for the schedule kind, β_start, β_end and T, redrawing noised images and ᾱt / SNR curves.

    `explorer.controls[name].value = v` re-runs the explorer synchronously (that is how the tests
    drive it); `explorer.result` holds the latest `explore_schedule` output, or {"error": message}.
    """

    def __init__(self, images: torch.Tensor, kind: str = "linear", beta_start: float = 1e-4,
                 beta_end: float = 0.02, num_timesteps: int = 1000, fractions=DEFAULT_FRACTIONS, seed: int = 0):
        self.images, self.fractions, self.seed = images, fractions, seed
        # Sliders send their value when the reader lets go or presses a key, never while they move
        # (continuous_update=False). Besides sparing a redraw per pixel dragged, this keeps values set
        # from code: a log slider's browser view otherwise sends back its handle position, snapped to
        # base**(min + k·step), whenever the kernel moves it (0.02 comes back as 0.01995), and a snapped
        # value queued while the kernel is busy can arrive after the kernel has moved on.
        style, on_release = {"description_width": "90px"}, {"continuous_update": False}
        self.controls = {
            "kind": W.Dropdown(options=SCHEDULES, value=kind, description="schedule", style=style),
            "beta_start": W.FloatLogSlider(value=beta_start, base=10, min=-5, max=-1, step=0.05,
                                           readout_format=".5f", description="β_start", style=style, **on_release),
            "beta_end": W.FloatLogSlider(value=beta_end, base=10, min=-4, max=-0.01, step=0.05,
                                         readout_format=".4f", description="β_end", style=style, **on_release),
            "num_timesteps": W.IntSlider(value=num_timesteps, min=1, max=2000, step=1, description="T",
                                         style=style, **on_release),
        }
        self.status = W.HTML()
        self.output = W.Output()
        for control in self.controls.values():
            control.observe(lambda _change: self.update(), names="value")
        self.widget = W.VBox([W.HBox([self.controls["kind"], self.controls["num_timesteps"]]),
                              W.HBox([self.controls["beta_start"], self.controls["beta_end"]]),
                              self.status, self.output])
        self.result: dict = {}
        self.update()

    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def update(self) -> dict:
        try:
            self.result = explore_schedule(self.images, fractions=self.fractions, seed=self.seed, **self.values())
        except ValueError as e:
            self.result = {"error": str(e)}
            self.status.value = f"<span style='color:#b00020'><b>Invalid setting:</b> {html.escape(str(e))}</span>"
            return self.result
        r = self.result
        note = " (cosine is defined by ᾱt; β_start and β_end are not used)" if self.values()["kind"] == "cosine" else ""
        self.status.value = (f"ᾱ at the last step = {r['alpha_bar_T']:.2e}; SNR falls below 1 at "
                             f"t = {r['snr_below_1_at']} of T = {r['schedule'].num_timesteps}{note}")
        with self.output:
            clear_output(wait=True)
            fig = self._draw()
            plt.show()
            plt.close(fig)
        return r

    def _draw(self):
        r = self.result
        n, k = r["noised"].shape[:2]
        fig = plt.figure(figsize=(1.0 * k + 5.0, 1.1 * n + 0.6))
        grid = fig.add_gridspec(n, k + 6, left=0.02, right=0.98, bottom=0.15, wspace=0.2)
        for i in range(n):
            for j in range(k):
                ax = fig.add_subplot(grid[i, j])
                ax.imshow((r["noised"][i, j, 0].clamp(-1, 1) + 1).numpy() / 2, cmap="gray", vmin=0, vmax=1)
                ax.set_axis_off()
                if i == 0:
                    ax.set_title(f"t={r['timesteps'][j]}", fontsize=8)
        s = r["schedule"]
        u = torch.arange(s.num_timesteps)
        marker = "." if s.num_timesteps <= 50 else None  # a curve of a few points still shows
        ax1 = fig.add_subplot(grid[:, k + 1:k + 3])
        ax1.plot(u, s.alphas_cumprod, marker=marker)
        ax1.set(title="ᾱt", xlabel="t", ylim=(0, 1.02))
        ax2 = fig.add_subplot(grid[:, k + 4:k + 6])
        ax2.plot(u, s.snr.log10(), marker=marker)
        ax2.axhline(0, color="grey", lw=0.8, ls=":")
        ax2.set(title="log10 SNR(t)", xlabel="t")
        return fig

    def static_figure(self):
        """The current figure with the status line and the settings above it: what a page without widgets shows."""
        fig = self._draw()
        fig.subplots_adjust(top=0.78)
        settings = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                             for k, v in self.values().items())
        fig.suptitle(f"βt explorer, {settings}: {html.unescape(self.status.value)}\n"
                     "(a picture of the explorer; in JupyterLab its sliders redraw it)", fontsize=8)
        return fig

    def _repr_mimebundle_(self, include=None, exclude=None):
        """The live widget's view plus a PNG of its current figure, for front ends that cannot run widgets.

        JupyterLab renders the widget view (its widget renderer outranks images); a static page, such as
        the HTML book, shows the PNG where the sliders would be.
        """
        bundle = self.widget._repr_mimebundle_()
        bundle["text/plain"] = f"BetaExplorer({', '.join(f'{k}={v!r}' for k, v in self.values().items())})"
        if "error" not in self.result:
            fig = self.static_figure()
            png = io.BytesIO()
            fig.savefig(png, format="png")
            plt.close(fig)
            bundle["image/png"] = base64.b64encode(png.getvalue()).decode("ascii")
        return bundle
