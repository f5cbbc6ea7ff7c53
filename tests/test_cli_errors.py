"""Bad input at the command line, tried as a new user would: each case ends in one clear message that
says what is wrong and what is allowed (never a traceback), before any minutes of work, and writes nothing.

argparse rejects malformed options with exit status 2 and its usage line; the commands themselves
reject what only they can check (files, checkpoints, recipes) with status 1. Both print to stderr.
"""
import json

import numpy as np
import pytest
import torch

from diffusion_lite.__main__ import main
from diffusion_lite.checkpoints import Recipe, build_ddpm, build_model, save_model

TINY = {"unet": {"channels": [16, 32]}, "ddpm": {"timesteps": 50}, "train": {"steps": 2, "batch_size": 4}}
COND = {**TINY, "unet": {**TINY["unet"], "num_classes": 10}}
CHECKPOINT = CONDITIONAL = None  # placeholders in the table, filled in by the `files` fixture

# (command line with {ck} a checkpoint, {cond} a conditional one, {text} a text-to-image one, {dir} a temporary folder;
#  what the message must say)
BAD = [
    # sample: the options
    ("sample --checkpoint {ck} --num -3 --out {dir}/x.npz", 2, "argument --num: must be an integer >= 1, got '-3'"),
    ("sample --checkpoint {ck} --num 0 --out {dir}/x.npz", 2, "argument --num: must be an integer >= 1, got '0'"),
    ("sample --checkpoint {ck} --num ten --out {dir}/x.npz", 2, "argument --num: must be an integer >= 1, got 'ten'"),
    ("sample --checkpoint {ck} --steps 0 --out {dir}/x.npz", 2, "argument --steps: must be an integer >= 1, got '0'"),
    ("sample --checkpoint {ck} --steps 60 --out {dir}/x.npz", 1, "num_steps must be in [1, 50] (the training T), got 60"),
    ("sample --checkpoint {ck} --sampler plms --out {dir}/x.npz", 2,
     "invalid choice: 'plms' (choose from 'ddpm', 'ddim', 'euler', 'heun', 'dpmpp_2m')"),
    ("sample --checkpoint {ck} --eta -1 --out {dir}/x.npz", 2,
     "argument --eta: must be a number >= 0 (0 = deterministic DDIM, 1 = DDPM's variance), got '-1'"),
    ("sample --checkpoint {ck} --sampler heun --eta 0.5 --out {dir}/x.npz", 1, "--eta applies to --sampler ddim only"),
    ("sample --checkpoint {ck} --seed x --out {dir}/x.npz", 2, "argument --seed: invalid int value: 'x'"),
    ("sample --checkpoint {ck} --batch-size 0 --out {dir}/x.npz", 2, "argument --batch-size: must be an integer >= 1"),
    ("sample --checkpoint {ck} --workers 0 --out {dir}/x.npz", 2, "argument --workers: must be an integer >= 1"),
    ("sample --checkpoint {ck} --cache-every 0 --out {dir}/x.npz", 2,
     "argument --cache-every: must be an integer >= 1 (1 = off), got '0'"),
    ("sample --checkpoint {ck} --last-t -4 --out {dir}/x.npz", 2, "argument --last-t: must be an integer >= 0"),
    ("sample --checkpoint {ck} --steps 4 --last-t 47 --out {dir}/x.npz", 1,
     "last_t must be an integer in [0, 46] for 4 steps of T = 50, got 47"),
    ("sample --checkpoint {ck} --out {dir}/x.png", 1, "--out must be a .npz file in an existing folder, got"),
    ("sample --checkpoint {ck} --out {dir}/no/such/folder/x.npz", 1, "--out must be a .npz file in an existing folder"),
    # sample: labels and guidance
    ("sample --checkpoint {ck} --label 3 --out {dir}/x.npz", 1, "--label needs a class-conditional checkpoint"),
    ("sample --checkpoint {cond} --label 12 --out {dir}/x.npz", 1,
     "--label must be an integer in [0, 9] or 'all', got '12'"),
    ("sample --checkpoint {cond} --label shoe --out {dir}/x.npz", 1, "--label must be an integer in [0, 9] or 'all'"),
    ("sample --checkpoint {ck} --guidance-scale 3 --out {dir}/x.npz", 1,
     "--guidance-scale needs --label (a class, or 'all') or a prompt"),
    ("sample --checkpoint {cond} --label 1 --guidance-scale -2 --out {dir}/x.npz", 2,
     "argument --guidance-scale: must be a number >= 0 (0 = unconditional, 1 = no guidance), got '-2'"),
    # sample: prompts, for a text-to-image checkpoint ({text}) and not for others
    ("sample --checkpoint {text} --out {dir}/x.npz", 1, "this checkpoint draws scenes from captions: give --prompt"),
    ("sample --checkpoint {text} --prompt hat --out {dir}/x.npz", 1,
     "--prompt: 'hat' is not 'a NAME in the CELL'; a caption is 1 to 4 items"),
    ("sample --checkpoint {text} --prompts-file {dir}/hats.txt --out {dir}/x.npz", 1,
     "line 2 of {dir}/hats.txt: unknown item 'hat' in 'a hat in the top right'; NAME is one of t-shirt, trouser"),
    ("sample --checkpoint {text} --prompts-file {dir}/blank.txt --out {dir}/x.npz", 1,
     "--prompts-file {dir}/blank.txt holds no caption: write one caption a line"),
    ("sample --checkpoint {text} --prompts-file {dir}/nofile.txt --out {dir}/x.npz", 1,
     "--prompts-file: cannot read"),
    ("sample --checkpoint {text} --prompts-file {dir}/hats.txt --num 3 --out {dir}/x.npz", 1,
     "--num does not apply with --prompts-file: it draws one image per non-empty line"),
    ("sample --checkpoint {text} --label 3 --out {dir}/x.npz", 1,
     "--label is for class-conditional checkpoints; this one draws scenes from captions"),
    ("sample --checkpoint {ck} --prompts-file {dir}/hats.txt --out {dir}/x.npz", 1,
     "--prompt and --prompts-file need a text-to-image checkpoint such as scenes_ldm; this one reads no text"),
    ("sample --checkpoint {cond} --prompt a --out {dir}/x.npz", 1, "--prompt and --prompts-file need a text-to-image"),
    # sample: the checkpoint files
    ("sample --checkpoint {dir}/missing --out {dir}/x.npz", 1,
     "a checkpoint is two files, missing.safetensors and missing.json"),
    ("sample --checkpoint {dir}/truncated --out {dir}/x.npz", 1,
     "truncated.safetensors is not a readable safetensors file"),
    ("sample --checkpoint {dir}/badjson --out {dir}/x.npz", 1, "badjson.json is not valid JSON"),
    ("sample --checkpoint {dir}/classifier --out {dir}/x.npz", 1,
     "classifier.json does not describe a model of the package (no recipe with a 'unet', a 'vae' or a 'clip')"),
    ("sample --checkpoint {dir}/mismatch --out {dir}/x.npz", 1,
     "checkpoint mismatch.safetensors does not match the model its JSON describes"),
    # train
    ("train --recipe nope --out {dir}/run", 1,
     "unknown recipe 'nope'; choose one of ('fashion-probe', 'fashion-ddpm', 'fashion-quick', 'fashion-cfg', 'fashion-vae', 'fashion-flow', 'fashion-ldm', 'scenes-clip', 'scenes-ldm')"),
    ("train --config {dir}/nofile.json --out {dir}/run", 1, "--config: no such file"),
    ("train --config {dir}/badjson.json --out {dir}/run", 1, "--config: {dir}/badjson.json is not valid JSON"),
    ("train --config {dir}/badkey.json --out {dir}/run", 1,
     "unknown unet keys ['chanels'] in the recipe; allowed: in_channels, image_size"),
    ("train --config {dir}/badsection.json --out {dir}/run", 1,
     "unknown recipe keys ['optimizer']; allowed: unet, ddpm, train, dataset"),
    ("train --config {dir}/badvalue.json --out {dir}/run", 1, "steps and batch_size must be >= 1"),
    ("train --recipe fashion-quick --steps 0 --out {dir}/run", 2, "argument --steps: must be an integer >= 1, got '0'"),
    ("train --recipe fashion-quick --threads 0 --out {dir}/run", 2, "argument --threads: must be an integer >= 1"),
    ("train --recipe fashion-quick --evaluate 1 --out {dir}/run", 2,
     "argument --evaluate: must be 0 (no evaluation) or an integer in [2, 10000]"),
    ("train --recipe fashion-quick --evaluate 20000 --out {dir}/run", 2, "argument --evaluate: must be 0"),
    ("train --recipe fashion-quick --guidance-scale 2 --out {dir}/run", 1,
     "--guidance-scale needs a class- or text-conditional recipe; this one is neither"),
    ("train --recipe fashion-quick --out {dir}/notes.txt", 1, "--out must be a folder"),
    # evaluate
    ("evaluate {dir}/missing.npz", 1, "missing.npz does not exist; evaluate reads an .npz from `sample`"),
    ("evaluate {dir}/notes.txt", 1, "notes.txt is not an .npz file; evaluate reads an .npz from `sample` holding"),
    ("evaluate {dir}/float.npz", 1, "must be an .npz from `sample` holding 'images', uint8 (N, 28, 28)"),
    ("evaluate {dir}/noimages.npz", 1, "it has no 'images'"),
    ("evaluate {dir}/wrongsize.npz", 1, "it has 'images' uint8 (3, 32, 32)"),
    ("evaluate {dir}/badlabels.npz", 1, "'labels' must be N = 3 integers in [0, 9]"),
    ("evaluate {dir}/noprompts.npz", 1, "noprompts.npz: scenes need their 'prompts', 3 strings"),
    ("evaluate {dir}/badprompt.npz", 1, "unknown item 'hat' in 'a hat in the top left'; NAME is one of t-shirt"),
    ("evaluate {dir}/one.npz", 1, "images must be uint8 (N, 28, 28) with N >= 2"),
    # edit
    ("edit --checkpoint {ck} --input test --mode blur --out {dir}/x.npz", 2,
     "argument --mode: invalid choice: 'blur' (choose from 'inpaint', 'sdedit')"),
    ("edit --checkpoint {ck} --input test --mode inpaint --out {dir}/x.npz", 1,
     "--mode inpaint needs --mask: box, half, strokes, or an .npz with a 'mask' array"),
    ("edit --checkpoint {ck} --input test --mode inpaint --mask circle --out {dir}/x.npz", 1,
     "--mask must be one of box, half, strokes or an .npz file, got 'circle'"),
    ("edit --checkpoint {ck} --input test --mode inpaint --mask {dir}/smallmask.npz --out {dir}/x.npz", 1,
     "a mask must be (H, W) or (N, H, W) with H × W = (28, 28) and N = 1 or 10000, got (1, 1, 14, 14)"),
    ("edit --checkpoint {ck} --input test --mode inpaint --mask {dir}/greymask.npz --out {dir}/x.npz", 1,
     "a mask must be binary: 1 where the image is generated, 0 where it is kept"),
    ("edit --checkpoint {ck} --input test --mode inpaint --mask {dir}/one.npz --out {dir}/x.npz", 1,
     "--mask {dir}/one.npz has no 'mask' array (it has images)"),
    ("edit --checkpoint {ck} --input test --mode inpaint --mask half --strength 0.5 --out {dir}/x.npz", 1,
     "--strength is for --mode sdedit"),
    ("edit --checkpoint {ck} --input test --mode sdedit --mask half --out {dir}/x.npz", 1,
     "--mask and --method are for --mode inpaint"),
    ("edit --checkpoint {ck} --input test --mode sdedit --strength 1.5 --out {dir}/x.npz", 1,
     "--strength must be in (0, 1], got 1.5"),
    ("edit --checkpoint {ck} --input test --mode sdedit --strength 0 --out {dir}/x.npz", 1,
     "--strength must be in (0, 1], got 0"),
    ("edit --checkpoint {ck} --input {dir}/float.npz --mode sdedit --out {dir}/x.npz", 1,
     "--input must hold 'images' uint8 (N, 28, 28), as `sample` writes; got float32 (3, 28, 28)"),
    ("edit --checkpoint {ck} --input {dir}/wrongsize.npz --mode sdedit --out {dir}/x.npz", 1,
     "--input must hold 'images' uint8 (N, 28, 28), as `sample` writes; got uint8 (3, 32, 32)"),
    ("edit --checkpoint {ck} --input {dir}/missing.npz --mode sdedit --out {dir}/x.npz", 1,
     "--input {dir}/missing.npz does not exist"),
    ("edit --checkpoint {ck} --input {dir}/one.npz --num 5 --mode sdedit --out {dir}/x.npz", 1,
     "--num 5 is more than the 1 images of"),
    ("edit --checkpoint {text} --input {dir}/one.npz --mode sdedit --out {dir}/x.npz", 1,
     "edit works on pixel-space Fashion-MNIST checkpoints such as fashion_ddpm and fashion_cfg"),
    ("edit --checkpoint {ck} --input {dir}/one.npz --mode sdedit --label coat --out {dir}/x.npz", 1,
     "--label needs a class-conditional checkpoint"),
    ("edit --checkpoint {cond} --input {dir}/one.npz --mode sdedit --label hat --out {dir}/x.npz", 1,
     "--label must be an integer in [0, 9] or 'all', got 'hat'"),
    # data
    ("data fetch", 2, "argument action: invalid choice: 'fetch' (choose from 'check', 'download')"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The files the table names: two small valid checkpoints and every kind of broken input."""
    d = tmp_path_factory.mktemp("bad")
    for name, config in (("ck", TINY), ("cond", COND)):
        recipe = Recipe.from_dict(config)
        save_model(build_ddpm(recipe), recipe, d / name)
    text = Recipe.from_dict({"unet": {"in_channels": 4, "image_size": 14, "channels": [16, 32], "context_dim": 128,
                                      "cross_attention_levels": [1]}, "ddpm": {"timesteps": 50},
                             "latent": {"image_size": 56}, "text": {}, "dataset": "scenes"})
    save_model(build_model(text), text, d / "text")
    (d / "hats.txt").write_text("a bag in the top left\n\na hat in the top right\n")
    (d / "blank.txt").write_text("\n  \n")
    good = (d / "ck.safetensors").read_bytes()
    (d / "truncated.safetensors").write_bytes(good[:1000])
    (d / "truncated.json").write_text((d / "ck.json").read_text())
    (d / "badjson.safetensors").write_bytes(good)
    (d / "badjson.json").write_text("{not json")
    (d / "classifier.safetensors").write_bytes(good)
    (d / "classifier.json").write_text(json.dumps({"recipe": {"lr": 1e-3}, "metadata": {}}))
    mismatch = json.loads((d / "ck.json").read_text())
    mismatch["recipe"]["unet"]["channels"] = [16, 48]
    (d / "mismatch.safetensors").write_bytes(good)
    (d / "mismatch.json").write_text(json.dumps(mismatch))
    (d / "badkey.json").write_text(json.dumps({"unet": {"chanels": [16]}}))
    (d / "badsection.json").write_text(json.dumps({"optimizer": "sgd"}))
    (d / "badvalue.json").write_text(json.dumps({"train": {"steps": 0}}))
    (d / "notes.txt").write_text("not an archive")
    np.savez(d / "float.npz", images=np.zeros((3, 28, 28), np.float32))
    np.savez(d / "noimages.npz", pictures=np.zeros((3, 28, 28), np.uint8))
    np.savez(d / "wrongsize.npz", images=np.zeros((3, 32, 32), np.uint8))
    np.savez(d / "badlabels.npz", images=np.zeros((3, 28, 28), np.uint8), labels=np.array([1, 2, 30]))
    np.savez(d / "one.npz", images=np.zeros((1, 28, 28), np.uint8))
    np.savez(d / "smallmask.npz", mask=np.ones((14, 14), np.uint8))
    np.savez(d / "greymask.npz", mask=np.full((28, 28), 0.5))
    np.savez(d / "noprompts.npz", images=np.zeros((3, 56, 56), np.uint8))
    np.savez(d / "badprompt.npz", images=np.zeros((3, 56, 56), np.uint8),
             prompts=np.array(["a bag in the top left", "a hat in the top left", "a coat in the top right"]))
    return d


@pytest.mark.parametrize("command, status, message", BAD, ids=[b[0].split(" --out")[0] for b in BAD])
def test_bad_input_gets_one_clear_message(files, command, status, message, capsys):
    before = sorted(p.name for p in files.iterdir())
    argv = command.format(ck=files / "ck", cond=files / "cond", text=files / "text", dir=files).split()
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = capsys.readouterr().err
    assert code == status, err
    lines = err.strip().splitlines()
    assert message.format(dir=files) in lines[-1] and "error: " in lines[-1]  # one line says it all
    assert len(lines) == 1 or lines[0].startswith("usage: ")  # after argparse's usage, if argparse's error
    assert sorted(p.name for p in files.iterdir()) == before  # nothing written, nothing lost


def test_the_message_for_a_truncated_checkpoint_says_how_to_recover(files, capsys):
    assert main(["sample", "--checkpoint", str(files / "truncated"), "--out", str(files / "x.npz")]) == 1
    assert "restore it (git checkout) or retrain it (make checkpoints)" in capsys.readouterr().err
    torch.manual_seed(0)  # leave the global generator as other tests in this worker expect
