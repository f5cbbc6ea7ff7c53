"""The command line and checkpoints: train (resumable) → sample (.npz contract) → evaluate; clear errors."""
import json

import numpy as np
import pytest
import torch

from diffusion_lite.__main__ import main
from diffusion_lite.checkpoints import RECIPES, Recipe, build_ddpm, get_recipe, load_model, save_model
from diffusion_lite.datasets import from_model_range
from diffusion_lite.precision import autocast

TINY = {"unet": {"channels": [16, 32], "mid_attention": True}, "ddpm": {"timesteps": 50},
        "train": {"steps": 3, "batch_size": 8, "warmup_steps": 1, "checkpoint_every": 2}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    (root / "tiny.json").write_text(json.dumps(TINY))
    assert main(["train", "--config", str(root / "tiny.json"), "--out", str(root / "run"), "--threads", "1",
                 "--evaluate", "4", "--export", str(root / "exported")]) == 0
    return root


def test_train_writes_a_loadable_checkpoint_with_metadata(trained):
    ddpm, recipe, meta = load_model(trained / "run" / "model")
    assert recipe.unet.channels == (16, 32) and ddpm.timesteps == 50
    assert meta["steps"] == 3 and meta["train_seconds"] > 0 and "images_per_second" in meta
    assert (trained / "run" / "state.pt").exists()
    assert meta["heldout_loss"] > 0 and meta["metrics"]["num_images"] == 4 and {"fid", "fid_floor", "kid", "sample_seconds"} <= set(meta["metrics"])
    assert load_model(trained / "exported")[2] == meta


def test_train_again_resumes_and_continues(trained, capsys):
    assert main(["train", "--config", str(trained / "tiny.json"), "--out", str(trained / "run"), "--steps", "5",
                 "--threads", "1"]) == 0
    assert "resuming from step 3 of 5" in capsys.readouterr().out
    assert load_model(trained / "run" / "model")[2]["steps"] == 5


def test_sample_writes_the_npz_contract_and_evaluate_reads_it(trained, capsys):
    out = trained / "s.npz"
    args = ["sample", "--checkpoint", str(trained / "run" / "model"), "--num", "6", "--steps", "4", "--seed", "1",
            "--out", str(out)]
    assert main(args) == 0
    with np.load(out) as f:
        images = f["images"]
    assert images.dtype == np.uint8 and images.shape == (6, 28, 28)
    assert main(args[:-1] + [str(trained / "t.npz")]) == 0
    assert np.array_equal(np.load(trained / "t.npz")["images"], images)  # same seed, same images
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_images"] == 6 and report["fid"] > 0 and len(report["class_shares"]) == 10


def test_generate_runs_the_network_in_the_precision_asked(trained, capsys):
    """precision="float32" is the plain sampler, without autocast; "bf16" is the sampler under bfloat16 autocast,
    which differs; "auto" is one of the two, the one `precision.resolve` picks; --float32 is --precision float32."""
    from diffusion_lite.generation import generate
    from diffusion_lite.precision import resolve
    ddpm, _, _ = load_model(trained / "run" / "model")
    draw = {p: generate(ddpm, 3, "ddim", 5, seed=2, progress=False, precision=p) for p in ("float32", "bf16", "auto")}
    plain = ddpm.sample((3, 1, 28, 28), generator=torch.Generator().manual_seed(2), num_steps=5, sampler="ddim",
                        spacing="trailing")
    assert torch.equal(draw["float32"], plain) and not torch.equal(draw["bf16"], plain)
    assert torch.equal(draw["auto"], draw[resolve("auto")])
    for flag in (["--float32"], ["--precision", "float32"]):
        out = trained / "f32.npz"
        assert main(["sample", "--checkpoint", str(trained / "run" / "model"), "--num", "3", "--steps", "5",
                     "--seed", "2", *flag, "--out", str(out)]) == 0
        assert "precision: float32, as asked" in capsys.readouterr().out
        with np.load(out) as f:
            assert np.array_equal(f["images"], from_model_range(draw["float32"]).numpy())


def test_workers_sample_batches_in_threads_with_a_generator_each(trained):
    """workers > 1: batch k is the sequential sampler on generator k, whose seed is the k-th draw from `seed`;
    the same images for any workers > 1, and the caller's train mode and torch threads come back."""
    from diffusion_lite.generation import generate
    ddpm, _, _ = load_model(trained / "run" / "model")
    ddpm.train()
    threads = torch.get_num_threads()
    two = generate(ddpm, 7, "ddpm", 4, seed=3, batch_size=3, progress=False, workers=2)
    assert ddpm.network.training and torch.get_num_threads() == threads
    assert torch.equal(generate(ddpm, 7, "ddpm", 4, seed=3, batch_size=3, progress=False, workers=3), two)
    seeds = torch.randint(2**62, (3,), generator=torch.Generator().manual_seed(3)).tolist()
    ddpm.eval()
    with autocast("auto"):
        by_hand = torch.cat([ddpm.sample((n, 1, 28, 28), generator=torch.Generator().manual_seed(s), num_steps=4,
                                         spacing="trailing").float() for n, s in zip((3, 3, 1), seeds)])
    assert two.shape == (7, 1, 28, 28) and torch.equal(two, by_hand)
    assert not torch.equal(generate(ddpm, 7, "ddpm", 4, seed=3, batch_size=3, progress=False), two)


def test_sample_last_t_spaces_the_steps_down_to_it(trained):
    """--last-t = T/steps − 1 is the default "trailing" spacing (T = 50 here); another last t changes the images."""
    def images(*extra):
        out = trained / "last.npz"
        assert main(["sample", "--checkpoint", str(trained / "run" / "model"), "--num", "3", "--steps", "5",
                     *extra, "--out", str(out)]) == 0
        with np.load(out) as f:
            return f["images"]
    trailing = images()
    assert np.array_equal(images("--last-t", "9"), trailing)
    assert not np.array_equal(images("--last-t", "20"), trailing)


TINY_COND = {**TINY, "unet": {**TINY["unet"], "num_classes": 10}, "ddpm": {"timesteps": 50, "label_dropout": 0.2}}


def test_a_conditional_checkpoint_samples_labels_with_guidance(tmp_path, capsys):
    (tmp_path / "cond.json").write_text(json.dumps(TINY_COND))
    assert main(["train", "--config", str(tmp_path / "cond.json"), "--out", str(tmp_path / "run"), "--threads", "1",
                 "--evaluate", "10", "--guidance-scale", "2"]) == 0
    meta = load_model(tmp_path / "run" / "model")[2]
    assert meta["metrics"]["guidance_scale"] == 2.0 and 0 <= meta["metrics"]["class_accuracy"] <= 1
    model = str(tmp_path / "run" / "model")
    for label, expected in (("4", [4] * 12), ("all", list(range(10)) + [0, 1])):
        out = tmp_path / f"c{label}.npz"
        assert main(["sample", "--checkpoint", model, "--num", "12", "--steps", "3", "--sampler", "dpmpp_2m",
                     "--label", label, "--guidance-scale", "3", "--out", str(out)]) == 0
        with np.load(out) as f:
            assert f["images"].shape == (12, 28, 28) and f["labels"].tolist() == expected
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "call.npz")]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["class_accuracy"] <= 1


def test_sample_guides_at_the_checkpoints_recorded_scale_unless_told(tmp_path, capsys):
    """Without --guidance-scale, `sample` uses the w the checkpoint was evaluated at and says so;
    --guidance-scale 1 still means no guidance."""
    recipe = Recipe.from_dict(TINY_COND)
    torch.manual_seed(0)
    ddpm = build_ddpm(recipe)
    with torch.no_grad():  # an untrained UNet's last layer is zero, so guidance would change nothing
        for p in ddpm.network.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_model(ddpm, recipe, tmp_path / "cond", {"metrics": {"guidance_scale": 3.0}})

    def images(*extra):
        out = tmp_path / "g.npz"
        assert main(["sample", "--checkpoint", str(tmp_path / "cond"), "--num", "4", "--steps", "3", "--label", "1",
                     *extra, "--out", str(out)]) == 0
        with np.load(out) as f:
            return f["images"]
    default = images()
    assert "guidance scale w = 3, the one this checkpoint was evaluated at" in capsys.readouterr().out
    assert np.array_equal(default, images("--guidance-scale", "3"))
    assert not np.array_equal(default, images("--guidance-scale", "1"))
    assert "guidance scale w" not in capsys.readouterr().out  # said only when chosen for the user


def test_a_checkpoint_that_does_not_match_its_config_is_refused(trained, tmp_path):
    recipe = Recipe.from_dict(TINY)
    save_model(build_ddpm(recipe), recipe, tmp_path / "m")
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["recipe"]["unet"]["channels"] = [16, 48]
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="does not match the model its JSON describes"):
        load_model(tmp_path / "m")


def test_recipes_round_trip_and_reject_unknown_keys():
    for name in RECIPES:
        assert Recipe.from_dict(json.loads(json.dumps(get_recipe(name).to_dict()))) == RECIPES[name]
    with pytest.raises(ValueError, match="unknown recipe keys \\['optimizer'\\]"):
        Recipe.from_dict({"optimizer": "sgd"})
    torch.manual_seed(0)
