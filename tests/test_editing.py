"""Inpainting, RePaint, SDEdit and seamless textures (diffusion_lite.editing), through DDPM.sample's one loop."""
import pytest
import torch

from diffusion_lite import DDPM
from diffusion_lite.editing import (check_mask, circular_padding, inpaint_options, make_mask, repaint_timesteps,
                                    sdedit_options, seam_gap)
from diffusion_lite.generation import edit
from diffusion_lite.process import add_noise
from diffusion_lite.samplers import alpha_bar_at, sample_loop
from diffusion_lite.unet import UNet, UNetConfig


class Recorder(torch.nn.Module):
    """A network that predicts ε̂ = 0.1·x and remembers the timesteps it was called at."""

    def __init__(self):
        super().__init__()
        self.calls, self.config = [], UNetConfig(image_size=8, channels=(16, 32))
        self.weight = torch.nn.Parameter(torch.tensor(0.1))

    def forward(self, x, t, labels=None):
        self.calls.append(int(t[0]))
        return self.weight * x


def test_the_masks_cover_what_they_say_and_strokes_repeat_with_their_seed():
    box, half = make_mask("box", 2), make_mask("half", 1)
    assert box.shape == (2, 1, 28, 28) and float(box[0].sum()) == 14 * 14 and float(box[0, 0, 7:21, 7:21].mean()) == 1
    assert float(half.sum()) == 14 * 28 and float(half[0, 0, 14:].mean()) == 1
    strokes = make_mask("strokes", 3, generator=torch.Generator().manual_seed(0))
    assert set(strokes.unique().tolist()) == {0.0, 1.0} and 0.05 < float(strokes.mean()) < 0.6
    assert torch.equal(strokes, make_mask("strokes", 3, generator=torch.Generator().manual_seed(0)))
    assert not torch.equal(strokes[0], strokes[1])
    with pytest.raises(ValueError, match="unknown mask 'circle'; choose one of box, half, strokes"):
        make_mask("circle", 1)


def test_a_mask_must_fit_the_images_and_be_binary():
    images = torch.zeros(3, 1, 28, 28)
    assert check_mask(make_mask("half", 1)[0, 0], images).shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match=r"H × W = \(28, 28\) and N = 1 or 3, got \(1, 1, 14, 14\)"):
        check_mask(torch.ones(14, 14), images)
    with pytest.raises(ValueError, match="a mask must be binary"):
        check_mask(torch.full((28, 28), 0.5), images)
    with pytest.raises(ValueError, match="all 0: nothing to generate"):
        check_mask(torch.zeros(28, 28), images)


def test_repaint_goes_back_up_every_jump_length_steps_resample_times():
    ts = list(range(9, -1, -1))  # 9, 8, ..., 0
    assert repaint_timesteps(ts, 3, 1) == ts
    out = repaint_timesteps(ts, 3, 2)
    assert out == [9, 8, 7, 6, 7, 8, 9, 8, 7, 6, 5, 4, 3, 4, 5, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0]
    downs = sum(b < a for a, b in zip(out, out[1:]))
    assert downs == 2 * (len(ts) - 1) and out[0] == 9 and out[-1] == 0
    with pytest.raises(ValueError, match="jump_length and resample must be >= 1"):
        repaint_timesteps(ts, 0, 2)


def test_a_move_back_up_is_the_forward_process_and_costs_no_network_call():
    ddpm = DDPM(Recorder(), timesteps=100)
    x = torch.randn(2, 1, 8, 8)
    steps = list(sample_loop(ddpm.network, x, ddpm.schedule, sampler="ddim", timesteps=[20, 50, 30],
                             generator=torch.Generator().manual_seed(0)))
    assert ddpm.network.calls == [50, 30] and [t for t, _, _ in steps] == [20, 50, 30]
    ratio = alpha_bar_at(ddpm.schedule, 50) / alpha_bar_at(ddpm.schedule, 20)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(steps[0][1], ratio**0.5 * x + (1 - ratio) ** 0.5 * noise)
    # the condition sees every state, at the level it is at
    seen = []
    list(sample_loop(ddpm.network, x, ddpm.schedule, sampler="ddim", timesteps=[20, 50, 30],
                     condition=lambda z, s: seen.append(s) or z * 0))
    assert seen == [50, 30, -1]


def test_inpainting_keeps_the_known_pixels_and_generates_the_rest():
    torch.manual_seed(0)
    unet = UNet(UNetConfig(image_size=8, channels=(16, 32)))
    for p in unet.parameters():
        torch.nn.init.normal_(p, std=0.05)
    ddpm = DDPM(unet, timesteps=100)
    images = torch.rand(4, 1, 8, 8) * 2 - 1
    mask = make_mask("half", 1, size=8)
    for method in ("replace", "repaint"):
        for sampler in ("ddim", "ddpm", "dpmpp_2m"):
            out = edit(ddpm, images, "inpaint", mask=mask, method=method, jump_length=2, resample=2,
                       sampler=sampler, steps=6, progress=False)
            assert torch.equal(out[..., :4, :], images[..., :4, :]), (method, sampler)  # the kept top half
            assert (out[..., 4:, :] - images[..., 4:, :]).abs().mean() > 0.05
            assert torch.isfinite(out).all()
    again = edit(ddpm, images, "inpaint", mask=mask, method="repaint", jump_length=2, resample=2, steps=6,
                 progress=False)
    assert torch.equal(again, edit(ddpm, images, "inpaint", mask=mask, method="repaint", jump_length=2, resample=2,
                                   steps=6, progress=False))  # seeded
    options = inpaint_options(ddpm, images, mask, 6, method="repaint", jump_length=2, resample=3)
    assert len(options["timesteps"]) == 6 + 2 * 2 * 2 + 2 * 2 * 2  # 5 steps down, jumps at 2 and 4, twice each


def test_sdedit_starts_from_the_noised_input_at_strength_times_the_steps():
    ddpm = DDPM(Recorder(), timesteps=1000)
    images = torch.rand(2, 1, 8, 8) * 2 - 1
    full = ddpm.sampling_timesteps(10, "trailing")
    options = sdedit_options(ddpm, images, 0.3, 10, torch.Generator().manual_seed(1))
    assert options["timesteps"] == full[-3:]
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(options["start"], add_noise(ddpm.schedule, images, torch.full((2,), full[-3]), noise))
    assert sdedit_options(ddpm, images, 1.0, 10)["timesteps"] == full
    assert len(sdedit_options(ddpm, images, 0.01, 10)["timesteps"]) == 1
    ddpm.network.calls.clear()
    out = edit(ddpm, images, "sdedit", strength=0.3, steps=10, progress=False)
    assert ddpm.network.calls == full[-3:] and out.shape == images.shape
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match=r"strength must be in \(0, 1\]"):
            edit(ddpm, images, "sdedit", strength=bad, progress=False)
    with pytest.raises(ValueError, match="unknown edit mode 'blur'; choose one of inpaint, sdedit"):
        edit(ddpm, images, "blur", progress=False)
    with pytest.raises(ValueError, match="inpainting needs a mask"):
        edit(ddpm, images, "inpaint", progress=False)


def test_circular_padding_makes_the_unet_equivariant_to_shifts_and_is_undone_after():
    torch.manual_seed(0)
    unet = UNet(UNetConfig(image_size=8, channels=(16, 32))).eval()
    for p in unet.parameters():
        torch.nn.init.normal_(p, std=0.05)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([10, 400])
    shift = lambda z: torch.roll(z, (2, 4), dims=(-2, -1))  # noqa: E731  multiples of the one halving
    with torch.no_grad():
        plain = unet(x, t)
        assert not torch.allclose(unet(shift(x), t), shift(plain), atol=1e-4)  # zero padding sees the border
        with circular_padding(unet):
            assert torch.allclose(unet(shift(x), t), shift(unet(x, t)), atol=1e-5)
        assert torch.equal(unet(x, t), plain)  # the zero padding is back
    assert all(m.padding_mode == "zeros" for m in unet.modules() if isinstance(m, torch.nn.Conv2d))


def test_seam_gap_tells_a_tiling_image_from_one_that_does_not_tile():
    ys = torch.arange(16.0)
    periodic = torch.sin(2 * torch.pi * ys / 16)[:, None] * torch.cos(2 * torch.pi * ys / 16)[None]
    ramp = (ys[:, None] + ys[None]) / 30
    wrap, inside = seam_gap(periodic[None, None])
    assert wrap < 2 * inside
    wrap, inside = seam_gap(ramp[None, None])
    assert wrap > 10 * inside


def test_the_edit_command_writes_the_edited_images_with_their_inputs_and_masks(tmp_path, capsys):
    import numpy as np

    from diffusion_lite.__main__ import main
    from diffusion_lite.checkpoints import Recipe, build_model, save_model
    recipe = Recipe.from_dict({"unet": {"channels": [16, 32], "num_classes": 10}, "ddpm": {"timesteps": 50}})
    torch.manual_seed(0)
    save_model(build_model(recipe), recipe, tmp_path / "cond")
    images = (torch.rand(3, 28, 28) * 255).to(torch.uint8).numpy()
    np.savez(tmp_path / "in.npz", images=images)
    common = ["edit", "--checkpoint", str(tmp_path / "cond"), "--input", str(tmp_path / "in.npz"), "--steps", "4"]
    assert main(common + ["--mode", "inpaint", "--mask", "box", "--method", "repaint", "--out",
                          str(tmp_path / "a.npz")]) == 0
    with np.load(tmp_path / "a.npz") as f:
        assert sorted(f.files) == ["images", "inputs", "masks"] and f["images"].shape == (3, 28, 28)
        kept = f["masks"] == 0
        assert np.array_equal(f["inputs"], images) and np.array_equal(f["images"][kept], images[kept])
    assert main(common + ["--mode", "sdedit", "--strength", "0.5", "--label", "coat", "--guidance-scale", "2",
                          "--num", "2", "--out", str(tmp_path / "b.npz")]) == 0
    with np.load(tmp_path / "b.npz") as f:
        assert sorted(f.files) == ["images", "inputs", "labels"] and f["labels"].tolist() == [4, 4]
    assert "wrote 2 edited images (sdedit)" in capsys.readouterr().out


def test_the_readmes_edit_examples_run_as_written(tmp_path, monkeypatch):
    import re
    import shlex
    from pathlib import Path

    import numpy as np

    from diffusion_lite.__main__ import main
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text().replace("\\\n", " ")
    commands = re.findall(r"^python -m diffusion_lite (edit .*)$", readme, re.M)
    assert len(commands) == 2
    monkeypatch.chdir(root)
    for command in commands:
        argv = shlex.split(command)
        out = argv[argv.index("--out") + 1]
        argv[argv.index("--out") + 1] = str(tmp_path / out)
        assert main(argv) == 0, command
        with np.load(tmp_path / out) as f:
            assert f["images"].shape == (16, 28, 28)


def test_a_painting_is_flat_blocks_of_the_means():
    from diffusion_lite.editing import painting
    x = torch.arange(64.0).view(1, 1, 8, 8)
    p = painting(x, 4)
    assert p.shape == x.shape and float(p[0, 0, 0, 0]) == float(x[0, 0, :4, :4].mean())
    assert torch.equal(p[0, 0, :4, :4], p[0, 0, :1, :1].expand(4, 4)) and float(p.mean()) == float(x.mean())
