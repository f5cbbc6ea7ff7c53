"""The command line and checkpoints: train (resumable) → sample (.npz contract) → evaluate; clear errors."""
import json

import numpy as np
import pytest
import torch

from diffusion_lite.__main__ import main
from diffusion_lite.checkpoints import RECIPES, Recipe, build_ddpm, get_recipe, load_model, save_model
from diffusion_lite.datasets import from_model_range

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


def test_generate_runs_the_network_in_float32_when_asked(trained):
    """bf16=False is the plain float32 sampler, without autocast; the default (bfloat16 autocast) differs."""
    from diffusion_lite.__main__ import generate
    ddpm, _, _ = load_model(trained / "run" / "model")
    in_float32 = generate(ddpm, 3, "ddim", 5, seed=2, progress=False, bf16=False)
    plain = ddpm.sample((3, 1, 28, 28), generator=torch.Generator().manual_seed(2), num_steps=5, sampler="ddim",
                        spacing="trailing")
    assert torch.equal(in_float32, plain)
    assert not torch.equal(generate(ddpm, 3, "ddim", 5, seed=2, progress=False), in_float32)
    out = trained / "f32.npz"
    assert main(["sample", "--checkpoint", str(trained / "run" / "model"), "--num", "3", "--steps", "5", "--seed", "2",
                 "--float32", "--out", str(out)]) == 0
    with np.load(out) as f:
        assert np.array_equal(f["images"], from_model_range(in_float32).numpy())


def test_workers_sample_batches_in_threads_with_a_generator_each(trained):
    """workers > 1: batch k is the sequential sampler on generator k, whose seed is the k-th draw from `seed`;
    the same images for any workers > 1, and the caller's train mode and torch threads come back."""
    from diffusion_lite.__main__ import generate
    ddpm, _, _ = load_model(trained / "run" / "model")
    ddpm.train()
    threads = torch.get_num_threads()
    two = generate(ddpm, 7, "ddpm", 4, seed=3, batch_size=3, progress=False, workers=2)
    assert ddpm.network.training and torch.get_num_threads() == threads
    assert torch.equal(generate(ddpm, 7, "ddpm", 4, seed=3, batch_size=3, progress=False, workers=3), two)
    seeds = torch.randint(2**62, (3,), generator=torch.Generator().manual_seed(3)).tolist()
    ddpm.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
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


def test_clear_errors(trained, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["sample", "--checkpoint", "x", "--sampler", "plms", "--out", "y.npz"])
    assert "invalid choice: 'plms' (choose from 'ddpm', 'ddim', 'euler', 'heun', 'dpmpp_2m')" in capsys.readouterr().err
    assert main(["train", "--recipe", "nope", "--out", str(tmp_path)]) == 1
    assert "unknown recipe 'nope'; choose one of ('fashion-probe', 'fashion-ddpm', 'fashion-quick', 'fashion-cfg')" in capsys.readouterr().err
    model = str(trained / "run" / "model")
    assert main(["sample", "--checkpoint", model, "--label", "3", "--out", str(tmp_path / "y.npz")]) == 1
    assert "--label needs a class-conditional checkpoint" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", model, "--batch-size", "0", "--out", str(tmp_path / "y.npz")]) == 1
    assert "batch_size must be >= 1, got 0" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", model, "--workers", "0", "--out", str(tmp_path / "y.npz")]) == 1
    assert "workers must be >= 1, got 0" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", model, "--cache-every", "0", "--out", str(tmp_path / "y.npz")]) == 1
    assert "every must be an integer >= 1 (1 = no reuse), got 0" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", model, "--steps", "4", "--last-t", "47",
                 "--out", str(tmp_path / "y.npz")]) == 1
    assert "last_t must be an integer in [0, 46] for 4 steps of T = 50, got 47" in capsys.readouterr().err
    assert not (tmp_path / "y.npz").exists()
    assert main(["sample", "--checkpoint", str(tmp_path / "missing"), "--out", "y.npz"]) == 1
    assert "at least one is missing" in capsys.readouterr().err
    np.savez(tmp_path / "bad.npz", images=np.zeros((3, 28, 28), dtype=np.float32))
    assert main(["evaluate", str(tmp_path / "bad.npz")]) == 1
    assert "uint8 (N, 28, 28)" in capsys.readouterr().err


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
    for bad, message in ((["--label", "12"], "integer in [0, 9] or 'all'"),
                         (["--guidance-scale", "3"], "--guidance-scale needs --label")):
        assert main(["sample", "--checkpoint", model, "--out", str(tmp_path / "z.npz")] + bad) == 1
        assert message in capsys.readouterr().err


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
