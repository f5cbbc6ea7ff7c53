"""Data-parallel training with torchrun: two gloo processes on the CPU take the steps one process takes on the
same global batch, and a stopped two-process run resumes to the same weights."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import free_port
from diffusion_lite.checkpoints import DDPMConfig, get_recipe
from diffusion_lite.training import TrainConfig, Trainer

ROOT = Path(__file__).resolve().parent.parent
TINY = {"unet": {"channels": [8, 16], "num_groups": 4, "mid_attention": True, "num_classes": 10},
        "ddpm": {"timesteps": 50, "label_dropout": 0.2, "prediction_type": "v_prediction"},
        "train": {"steps": 4, "batch_size": 8, "warmup_steps": 1, "checkpoint_every": 2, "precision": "float32"},
        "dataset_size": 64}


def train(config: Path, out: Path, processes: int, steps: int | None = None) -> None:
    command = ["train", "--config", str(config), "--out", str(out), "--threads", "1"] + (
        ["--steps", str(steps)] if steps else [])
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
                 "--master_port", str(free_port()), "-m", "diffusion_lite"] if processes > 1
                else [sys.executable, "-m", "diffusion_lite"])
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    run = subprocess.run(launcher + command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr


def weights(out: Path) -> dict:
    return torch.load(out / "state.pt", weights_only=False)["model"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    (root / "tiny.json").write_text(json.dumps(TINY))
    train(root / "tiny.json", root / "one", 1)
    train(root / "tiny.json", root / "two", 2)
    train(root / "tiny.json", root / "resumed", 2, steps=2)  # stopped after 2 steps ...
    train(root / "tiny.json", root / "resumed", 2)  # ... and resumed to 4
    return root


def test_two_processes_take_the_single_process_steps_on_the_same_global_batch(runs):
    one, two = weights(runs / "one"), weights(runs / "two")
    assert set(one) == set(two)
    changed = [k for k in one if not torch.equal(one[k], get_initial(k))]
    assert changed, "training changed no weight"
    for k in one:
        assert torch.allclose(one[k], two[k], atol=1e-5, rtol=1e-4), k
    meta = json.loads((runs / "two" / "model.json").read_text())["metadata"]
    assert meta["processes"] == 2 and meta["steps"] == 4


def test_a_stopped_two_process_run_resumes_to_the_same_weights(runs):
    two, resumed = weights(runs / "two"), weights(runs / "resumed")
    for k in two:
        assert torch.allclose(two[k], resumed[k], atol=1e-6), k


_INITIAL = {}


def get_initial(key: str) -> torch.Tensor:
    """The untrained weights of TINY's model, built as `train` builds it (seeded)."""
    if not _INITIAL:
        from diffusion_lite.checkpoints import Recipe, build_model
        recipe = Recipe.from_dict(TINY)
        torch.manual_seed(recipe.train.seed)
        _INITIAL.update(build_model(recipe).state_dict())
    return _INITIAL[key]


def test_a_model_whose_loss_cannot_shard_is_refused_in_a_process_group(monkeypatch):
    import diffusion_lite.training as training
    monkeypatch.setattr(training, "process_group", lambda: (0, 2))
    recipe = get_recipe("fashion-vae")
    from diffusion_lite.checkpoints import build_model
    with pytest.raises(ValueError, match="cannot train data-parallel: its loss does not shard a batch"):
        Trainer(build_model(recipe), torch.zeros(4, 1, 28, 28), recipe.train)
    with pytest.raises(ValueError, match="batch_size 9 must divide evenly among the 2 processes"):
        Trainer(torch.nn.Linear(1, 1), torch.zeros(4, 1), TrainConfig(batch_size=9))
    assert DDPMConfig().objective == "diffusion"


def test_the_readmes_torchrun_example_runs_as_written(tmp_path):
    import re
    import shlex
    readme = (ROOT / "README.md").read_text().replace("\\\n", " ")
    (command,) = re.findall(r"^(torchrun .*)$", readme, re.M)
    argv = shlex.split(command)
    argv[argv.index("--out") + 1] = str(tmp_path / "run")
    torchrun = Path(sys.executable).parent / "torchrun"  # the environment's, as `make` installs it
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    run = subprocess.run([str(torchrun), "--master_port", str(free_port())] + argv[1:], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["metadata"]["processes"] == 2 and meta["recipe"]["ddpm"]["objective"] == "flow"
