"""Every shipped diffusion checkpoint loads, fits the 5 MB budget, records how it was made, and still
reaches the held-out loss it recorded."""
import json

import pytest

from diffusion_lite.checkpoints import load_model
from diffusion_lite.metrics import CHECKPOINT_DIR, heldout_loss

MODELS = sorted(p.with_suffix("") for p in CHECKPOINT_DIR.glob("*.json") if "unet" in json.loads(p.read_text()).get("recipe", {}))


@pytest.mark.parametrize("path", MODELS, ids=[p.name for p in MODELS])
def test_checkpoint_reaches_its_recorded_heldout_loss(path):
    assert path.with_suffix(".safetensors").stat().st_size <= 5 * 2**20
    ddpm, recipe, meta = load_model(path)
    assert meta["steps"] == recipe.train.steps and meta["train_seconds"] > 0
    assert {"fid", "fid_floor", "kid", "kid_floor", "num_images"} <= set(meta["metrics"])
    assert heldout_loss(ddpm) <= meta["heldout_loss"] * 1.01
