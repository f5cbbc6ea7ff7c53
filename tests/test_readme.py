"""The README's numbers come from files: its headline table from the checkpoints' JSON metadata, its
targets from the benchmark results. Change a checkpoint without its README line (or the other way round)
and these tests fail. Also: the README's code example runs, and data/README.md lists every checkpoint."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = ROOT / "data" / "checkpoints"
RESULTS = ROOT / "benchmarks" / "results"
README = (ROOT / "README.md").read_text()
STEMS = sorted(p.stem for p in CHECKPOINTS.glob("*.safetensors"))


def section(text: str, heading: str) -> str:
    """The text from `heading` (a line of its own) to the next heading of the same or a higher level."""
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    level = heading.split(" ")[0]
    following = [m.start() for m in re.finditer(r"^#{1,%d} " % len(level), text[start:], re.M)]
    return text[start:start + following[0]] if following else text[start:]


def headline_rows() -> dict[str, dict[str, str]]:
    lines = [line for line in section(README, "## Headline results").splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = dict(zip(header, (c.strip() for c in line.strip().strip("|").split("|"))))
        rows[cells["checkpoint"].strip("`")] = cells
    return rows


def number(pattern: str, text: str) -> float:
    found = re.findall(pattern, text)
    assert len(found) == 1, f"expected one match of {pattern!r} in {text!r}, found {found}"
    return float(found[0].replace(",", ""))


def metadata(stem: str) -> dict:
    info = json.loads((CHECKPOINTS / f"{stem}.json").read_text())
    return info.get("metadata", info)  # the classifier's JSON is flat


def test_headline_table_has_a_row_for_every_checkpoint():
    assert sorted(headline_rows()) == STEMS


@pytest.mark.parametrize("stem", STEMS)
def test_headline_row_matches_the_checkpoint_metadata(stem):
    row, meta = headline_rows()[stem], metadata(stem)
    assert number(r"^(\d+) min$", row["trained in"]) == round(meta["train_seconds"] / 60)
    quality, timing = row["quality"], row["1,000 images in"]
    if "test_accuracy" in meta:  # the classifier
        assert number(r"test accuracy ([\d.]+) %", quality) == round(100 * meta["test_accuracy"], 1)
        assert timing == "—"
        return
    m = meta["metrics"]
    if "top1" in m:  # a text encoder: caption retrieval on 1,000 test scenes
        assert m["num_scenes"] == 1000 and m["num_candidates"] == 100 and timing == "—"
        assert number(r"top-1 ([\d.]+) % among 100", quality) == round(100 * m["top1"], 1)
        for kind in ("class", "cell", "swap"):
            assert number(rf"{kind} ([\d.]+) %", quality) == round(100 * m[kind], 1), kind
        return
    if "prompt" in m:  # text-to-image: prompt fidelity of scenes for 1,000 test captions, against real scenes
        assert m["num_scenes"] == 1000 and m["sampler"] == "dpmpp_2m"
        assert number(r"prompt fidelity ([\d.]+) against", quality) == round(m["prompt"], 2)
        assert number(r"a ceiling of ([\d.]+)", quality) == round(m["ceiling"]["prompt"], 2)
        assert number(r"held-out pairs ([\d.]+)", quality) == round(m["held_out_item"], 2)
        assert f"with DPM-Solver++-{m['steps']}" in timing and number(r"w = ([\d.]+)", timing) == m["guidance_scale"]
        assert number(r"^(\d+) s ", timing) == round(m["sample_seconds"])
        return
    assert m["num_images"] == 1000
    if "reconstructed" in m:  # an autoencoder: the first 1,000 test images, reconstructed
        assert number(r"rFID ([\d.]+)", quality) == round(m["fid"], 1)
        assert number(r"floor ([\d.]+)", quality) == round(m["fid_floor"], 1)
        assert number(r"PSNR ([\d.]+) dB", quality) == round(m["psnr"], 1)
        assert number(r"^(\d+) s, reconstructed$", timing) == round(m["seconds"])
        return
    assert number(r"FID ([\d.]+)", quality) == round(m["fid"], 1)
    assert number(r"floor ([\d.]+)", quality) == round(m["fid_floor"], 1)
    sampler = {"ddim": "DDIM", "dpmpp_2m": "DPM-Solver++", "heun": "Heun", "ddpm": "DDPM"}[m["sampler"]]
    for text in (quality, timing):
        assert f"with {sampler}-{m['steps']}" in text, text
    assert number(r"^(\d+) s ", timing) == round(m["sample_seconds"])
    if "class_accuracy" in m:
        assert number(r"class accuracy ([\d.]+) %", quality) == round(100 * m["class_accuracy"], 1)
    if m.get("guidance_scale", 1.0) != 1.0:
        for text in (quality, timing):
            assert number(r"w = ([\d.]+)", text) == m["guidance_scale"], text
    else:
        assert "w =" not in quality + timing


def test_headline_floor_sentence_matches_the_checkpoints():
    intro = section(README, "## Headline results").split("\n|")[0]
    floors = {round(metadata(s)["metrics"]["fid_floor"], 1) for s in STEMS if "fid_floor" in metadata(s).get("metrics", {})}
    assert floors == {number(r"FID ([\d.]+)\.", intro)}


def test_targets_quote_the_results_files():
    targets = section(README, "## Headline results").split("Targets.")[1]
    ddpm = metadata("fashion_ddpm")["metrics"]
    samplers = json.loads((RESULTS / "samplers.json").read_text())["entries"]
    dpm = next(e for e in samplers if (e["sampler"], e["steps"]) == ("dpmpp_2m", 20))
    ceiling = json.loads((RESULTS / "levers.json").read_text())["ceiling"]["seconds_per_1000x50_at_best"]
    assert number(r"DDIM-50 \(([\d.]+), ", targets) == round(ddpm["fid"], 1)
    assert number(r"DDIM-50 \([\d.]+, ([\d.]+)×\)", targets) == round(ddpm["fid"] / ddpm["fid_floor"], 1)
    assert number(r"in 20 steps \(([\d.]+), ", targets) == round(dpm["fid"], 1)
    assert number(r"in 20 steps \([\d.]+, ([\d.]+)×\)", targets) == round(dpm["fid"] / dpm["fid_floor"], 1)
    assert number(r"would need ([\d.]+) s", targets) == round(ceiling, 1)
    assert number(r"draws 1,000 images in\s+(\d+) s", targets) == round(dpm["seconds_per_1000"])
    # DDIM-50 with the whole network on every call, over every stored run of it on the shipped checkpoint.
    seconds = [ddpm["sample_seconds"]]
    for name in ("samplers", "deepcache", "last_step", "formats", "grid"):
        seconds += [e["seconds_per_1000"] for e in json.loads((RESULTS / f"{name}.json").read_text())["entries"]
                    if (e["sampler"], e["steps"], e.get("cache_every", 1)) == ("ddim", 50, 1)
                    and e.get("format", "bfloat16 autocast") == "bfloat16 autocast"]
    seconds += [s for e in json.loads((RESULTS / "workers.json").read_text())["entries"]
                if (e["workers"], e["cache_every"]) == (1, 1) for s in e["seconds_per_1000"]]
    low, high = re.search(r"DDIM-50 takes (\d+)–(\d+) s", targets).groups()
    assert (int(low), int(high)) == (round(min(seconds)), round(max(seconds)))
    ddpm_json = metadata("fashion_ddpm")
    assert max(metadata(s)["train_seconds"] for s in STEMS) < 3600 and "under an hour" in targets
    assert ddpm_json["metrics"]["fid"] <= 3 * ddpm_json["metrics"]["fid_floor"] and "3× the floor: met" in targets
    assert min(seconds) > 30 and "30 s: not met" in targets
    vae = metadata("fashion_vae")
    assert vae["train_seconds"] > 900 and "autoencoder trains in 15 minutes: not met by today's" in targets
    assert number(r"checkpoint\*\*, ([\d.]+) min at", targets) == round(vae["train_seconds"] / 60, 1)
    assert number(r"min at (\d+)\s+images/s", targets) == round(vae["images_per_second"])
    assert number(r"floor: not met\*\*, rFID ([\d.]+)", targets) == round(vae["metrics"]["fid"], 1)
    assert number(r"rFID [\d.]+ against ([\d.]+) \(", targets) == round(vae["metrics"]["fid_floor"], 1)
    ratio = vae["metrics"]["fid"] / vae["metrics"]["fid_floor"]
    assert number(r"\(([\d.]+)×; 2\.8× before", targets) == round(ratio, 2)
    assert ratio > 1.2 and "within 1.2× the floor: not met" in targets
    latent = json.loads((RESULTS / "train_budget_latent.json").read_text())["models"]
    pixel, ldm, padded = latent["fashion-quick"], latent["fashion-ldm"], latent["fashion-ldm-8x8"]
    assert ldm["fid"] < pixel["fid"] and "a lower FID, met" in targets
    assert number(r"met \(([\d.]+) against\s+[\d.]+\); \*\*at least 3", targets) == round(ldm["fid"], 1)
    assert number(r"met \([\d.]+ against\s+([\d.]+)\); \*\*at least 3", targets) == round(pixel["fid"], 1)
    speedup = ldm["images_per_second"] / pixel["images_per_second"]
    assert speedup < 3 and number(r"not met\*\*, ([\d.]+)× \(", targets) == round(speedup, 1)
    assert number(r"\((\d+) against \d+ images/s", targets) == round(ldm["images_per_second"])
    assert number(r"\(\d+ against (\d+) images/s", targets) == round(pixel["images_per_second"])
    assert number(r"runs\s+at\s+([\d.]+)×", targets) == round(padded["images_per_second"] / pixel["images_per_second"], 1)
    assert number(r"scores\s+FID\s+([\d.]+)\)", targets) == round(padded["fid"], 1)
    clip = metadata("scenes_clip")
    assert clip["train_seconds"] <= 900 and "text encoder trains in 15 minutes: met" in targets
    assert clip["metrics"]["top1"] < 0.95 and "at least 95 %: not met**" in targets
    assert number(r"not met\*\*,\s+([\d.]+) %:", targets) == round(100 * clip["metrics"]["top1"], 1)
    assert number(r"([\d.]+) % on the test scenes whose", targets) == round(100 * clip["metrics"]["seen"]["top1"], 1)
    assert number(r"([\d.]+) % on those with a held-out", targets) == round(100 * clip["metrics"]["held_out"]["top1"], 1)


def test_readme_code_example_runs(monkeypatch):
    import torch
    monkeypatch.chdir(ROOT)  # the example loads data/checkpoints/... from the repository root
    block = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    namespace = {}
    torch.manual_seed(0)
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["points"].shape == (1000, 2)
    assert namespace["images"].shape == (8, 1, 28, 28)
    assert -1 <= float(namespace["images"].min()) <= float(namespace["images"].max()) <= 1


def test_data_readme_lists_every_checkpoint():
    text = (ROOT / "data" / "README.md").read_text()
    listed = set(re.findall(r"^\| `(\w+)` \|", section(text, "## Checkpoints"), re.M))
    assert listed == set(STEMS)
    assert "coming with chapter" not in text


def test_chapters_11_and_12_sentence_quotes_the_results_files():
    text = section(README, "## Headline results").split("Chapters 11 and 12, measured")[1]
    inpaint = json.loads((RESULTS / "editing.json").read_text())["parts"]["inpaint"]["rows"]
    assert number(r"at FID ([\d.]+) against", text) == round(inpaint["repaint-r4"]["fid"], 1)
    assert number(r"replacement's ([\d.]+),", text) == round(inpaint["replace"]["fid"], 1)
    assert number(r"kept in (\d+) %", text) == round(100 * inpaint["repaint-r4"]["class_agreement"])
    assert number(r"against (\d+) %;", text) == round(100 * inpaint["replace"]["class_agreement"])
    runs = json.loads((RESULTS / "augmentation.json").read_text())["runs"].values()

    def accuracy(real, synthetic):
        values = [r["test_accuracy"] for r in runs if (r["real_per_class"], r["synthetic_per_class"]) == (real, synthetic)]
        return sum(values) / len(values)
    assert number(r"add ([\d.]+) points", text) == round(100 * (accuracy(20, 500) - accuracy(20, 0)), 1)
    best = max(accuracy(100, m) for m in (100, 500)) - accuracy(100, 0)
    assert number(r"class and ([\d.]+) points at 100", text) == round(100 * best, 1)
    fids = {arm: min(v["fid"] for v in json.loads((RESULTS / "flow" / f"{arm}.json").read_text())["samples"].values())
            for arm in ("ddpm", "flow")}
    assert fids["flow"] > fids["ddpm"] and "flow matching loses to DDPM" in text
    assert number(r"best FID ([\d.]+) against", text) == round(fids["flow"], 1)
    assert number(r"best FID [\d.]+ against ([\d.]+)\)", text) == round(fids["ddpm"], 1)
    speed = {k: v["images_per_second"] for k, v in json.loads((RESULTS / "distributed.json").read_text())["setups"].items()}
    two = speed["2 processes x 1 thread"]
    assert number(r"train at ([\d.]+)× one thread", text) == round(two / speed["1 process x 1 thread"], 2)
    assert number(r"images/s, ([\d.]+)× two threads", text) == round(two / speed["1 process x 2 threads"], 2)
