"""One place decides the compute precision: "auto" is bfloat16 autocast only where the CPU computes it natively.

The last test measures, on whatever machine runs it, that "auto" picks the faster of the two formats for one
training step of the book's UNet: on a CPU with AVX-512-BF16 bfloat16 runs about 2× faster than float32,
on one without (or imitating one, `ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`) about 12× slower.
"""
import json
import time

import pytest
import torch

from diffusion_lite import precision
from diffusion_lite.checkpoints import Recipe, build_model, get_recipe
from diffusion_lite.training import TrainConfig


@pytest.fixture
def cpu(monkeypatch):
    """Pretend to be a CPU with (True) or without (False) native bfloat16."""
    def pretend(native: bool):
        monkeypatch.setattr(precision, "native_bf16", lambda: (native, "pretended"))
    return pretend


@pytest.mark.parametrize("native, chosen", [(True, "bf16"), (False, "float32")])
def test_auto_is_bf16_only_where_the_cpu_computes_it_natively(cpu, native, chosen):
    cpu(native)
    assert precision.resolve("auto") == chosen
    assert precision.resolve("bf16") == "bf16" and precision.resolve("float32") == "float32"
    assert ("bfloat16 autocast" if native else "float32") in precision.describe("auto")
    with precision.autocast("auto"):
        y = torch.nn.Linear(4, 4)(torch.randn(2, 4))
    assert y.dtype == (torch.bfloat16 if native else torch.float32)


def test_the_evidence_is_what_pytorch_reports():
    native, evidence = precision.native_bf16()
    instructions = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert native == (instructions and torch.backends.cpu.get_cpu_capability().startswith("AVX512")
                      and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert evidence and precision.cpu_name().endswith("no native bfloat16") != native


def test_an_unknown_precision_is_refused_naming_the_allowed_ones():
    for make in (lambda: precision.resolve("fp16"), lambda: TrainConfig(precision="half")):
        with pytest.raises(ValueError, match=r"'auto', 'bf16', 'float32'"):
            make()


def test_recipes_say_auto_and_old_checkpoints_bf16_key_still_loads():
    assert get_recipe("fashion-ddpm").train.precision == "auto"
    old = get_recipe("fashion-ddpm").to_dict()
    old["train"].pop("precision")
    for bf16, meaning in ((True, "bf16"), (False, "float32")):
        old["train"]["bf16"] = bf16
        assert Recipe.from_dict(json.loads(json.dumps(old))).train.precision == meaning


def test_auto_is_never_much_slower_than_the_faster_format():
    """One forward and backward pass of fashion-ddpm's UNet on 16 images, one thread, in each format in turn for
    three rounds (the machine drifts, so the two are interleaved); the median of each. The margin, 25 %, is
    well above the round-to-round noise here (a few %) and far below the gap either way (about 2× or 12×)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ddpm = build_model(get_recipe("fashion-ddpm"))
        x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
        seconds = {"bf16": [], "float32": []}
        for _ in range(4):
            for fmt in seconds:
                t0 = time.perf_counter()
                with precision.autocast(fmt):
                    loss = ddpm.loss(x, torch.Generator().manual_seed(0))
                loss.backward()
                seconds[fmt].append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
    median = {fmt: sorted(s[1:])[1] for fmt, s in seconds.items()}  # the first round warms up
    chosen = precision.resolve("auto")
    assert median[chosen] <= 1.25 * min(median.values()), (chosen, median, precision.native_bf16())
