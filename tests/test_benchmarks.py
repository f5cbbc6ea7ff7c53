"""The benchmark scripts: their variants are valid recipes, their results match them, bad input is refused."""
import importlib.util
import json
import statistics
from pathlib import Path

import pytest

from diffusion_lite.checkpoints import Recipe, get_recipe

ROOT = Path(__file__).resolve().parent.parent


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_recipe_search_variant_is_a_valid_recipe_and_its_results_match_it():
    search = load_script("recipe_search")
    for name, (minutes, steps, changes) in search.VARIANTS.items():
        recipe = search.variant_recipe(name)  # validates the UNet, DDPM and training settings
        assert minutes in (15, 60, 240) and recipe.train.steps == steps > 0
        assert all(str(getattr(getattr(recipe, k.split(".")[0]), k.split(".")[1])) == str(v) for k, v in changes.items())
    for file in ("recipe_search", "recipe_search_noflip"):  # the second: the search without flips on a lent H100
        for name, r in json.loads((ROOT / f"benchmarks/results/{file}.json").read_text()).items():
            minutes, steps, changes = search.VARIANTS[name]
            assert (r["budget_minutes"], r["steps"]) == (minutes, steps) and r["reached"] <= steps
            assert r["changes"] == json.loads(json.dumps(changes)), name
            assert r["ddim-50"]["fid"] > r["ddim-50"]["fid_floor"] > 0


def test_the_book_recipes_are_the_searched_variants():
    search = load_script("recipe_search")
    for variant, name in (("probe-15", "fashion-probe"), ("add-quick-noflip-15", "fashion-quick"),
                          ("noflip-vpred-cosine-60", "fashion-ddpm")):
        searched = search.variant_recipe(variant).to_dict()
        if name == "fashion-ddpm":  # sampled at the linear schedule's noise levels: a sampling choice, not training's
            searched["ddpm"]["sampling_schedule"] = "linear"
        assert searched == get_recipe(name).to_dict(), name


def test_the_stored_lever_timings_cover_every_lever_chapter_03_reads():
    levers = load_script("levers")
    results = json.loads((ROOT / "benchmarks/results/levers.json").read_text())
    assert list(results["sampling"]) == list(levers.LEVERS)
    assert list(results["training"]) == [lever for lever in levers.LEVERS if lever not in levers.SAMPLING_ONLY]
    for kind in ("training", "sampling"):
        for lever, timing in results[kind].items():
            assert ("compile_seconds" in timing) == ("compile" in lever) and min(timing.values()) > 0, (kind, lever)
    assert len(results["layers_ms"]) == 4 and min(results["layers_ms"].values()) > 0
    ceiling = results["ceiling"]
    assert ceiling["matmul_4096_bfloat16_gflops"] > ceiling["matmul_4096_float32_gflops"] > 0
    assert len(ceiling["conv_gflops"]) == 3 and min(ceiling["conv_gflops"].values()) > 0
    assert ceiling["best_gflops"] == max(ceiling["matmul_4096_bfloat16_gflops"], *ceiling["conv_gflops"].values())
    assert ceiling["seconds_per_1000x50_at_best"] == pytest.approx(
        ceiling["forward_mflop_per_image"] * 1e6 * 50_000 / (ceiling["best_gflops"] * 1e9))


# the book's checkpoint and its two predecessors: linear βt with v-prediction, then with ε-prediction
@pytest.mark.parametrize("name", ["deepcache", "deepcache_vlinear", "deepcache_eps"])
def test_the_stored_deep_cache_results_cover_the_grid_chapter_05_reads(name):
    sampling = load_script("sampling")
    entries = json.loads((ROOT / f"benchmarks/results/{name}.json").read_text())["entries"]
    assert [(e["sampler"], e["steps"], e["cache_every"]) for e in entries] == [
        (sampler, steps, every) for (sampler, steps), everys in sampling.CACHE_GRID.items() for every in everys]
    for e in entries:
        full = e["network_calls"] if e["cache_every"] == 1 else e["full_network_calls"]
        assert full == -(-e["network_calls"] // e["cache_every"]) and e["fid"] > e["fid_floor"] > 0, e


@pytest.mark.parametrize("name", ["last_step", "last_step_vlinear", "last_step_eps"])
def test_the_stored_last_step_results_cover_the_grid(name):
    sampling = load_script("sampling")
    entries = json.loads((ROOT / f"benchmarks/results/{name}.json").read_text())["entries"]
    assert [(e["sampler"], e["steps"], e["cache_every"], e["seed"], e["last_t"]) for e in entries] == [
        (*key, last) for key, lasts in sampling.LAST_GRID.items() for last in lasts]
    assert all(e["num_images"] == 1000 and e["fid"] > e["fid_floor"] > 0 for e in entries)


@pytest.mark.parametrize("name", ["formats", "formats_vlinear", "formats_eps"])
def test_the_stored_number_format_results_cover_every_format(name):
    sampling = load_script("sampling")
    entries = json.loads((ROOT / f"benchmarks/results/{name}.json").read_text())["entries"]
    assert [(e["last_t"], e["seed"], e["format"]) for e in entries] == [
        (last, seed, f) for last, formats in sampling.FORMAT_GRID for seed in sampling.FORMAT_SEEDS for f in formats]
    assert all((e["sampler"], e["steps"], e["num_images"]) == ("ddim", 50, 1000) and e["fid"] > e["fid_floor"] > 0
               for e in entries)


@pytest.mark.parametrize("name", ["samplers", "samplers_vlinear", "samplers_eps"])
def test_the_stored_sampler_results_cover_the_grid_and_count_the_calls_made(name):
    sampling = load_script("sampling")
    entries = json.loads((ROOT / f"benchmarks/results/{name}.json").read_text())["entries"]
    assert [(e["sampler"], e["steps"]) for e in entries] == [
        (sampler, n) for sampler, steps in sampling.SAMPLER_GRID.items() for n in steps]
    ddpm = get_recipe("fashion-ddpm")
    for e in entries:  # the cosine model's 1,000 linear noise levels fall on fewer distinct t's (chapter 05)
        merged = name == "samplers" and e["steps"] >= 100
        assert (e["network_calls"] < e["steps"]) if merged else e["network_calls"] in (e["steps"], 2 * e["steps"] - 1)
        assert e["fid"] > e["fid_floor"] > 0
    assert ddpm.ddpm.sampling_schedule == "linear" != ddpm.ddpm.schedule


def test_the_stored_grid_results_compare_both_schedules_noise_levels():
    sampling = load_script("sampling")
    entries = json.loads((ROOT / "benchmarks/results/grid.json").read_text())["entries"]
    kinds = (get_recipe("fashion-ddpm").ddpm.schedule, get_recipe("fashion-ddpm").ddpm.sampling_schedule)
    assert [(e["sampler"], e["steps"], e["noise_levels_of"]) for e in entries] == [
        (sampler, steps, kind) for sampler, steps in sampling.GRID_GRID for kind in kinds]
    assert all(e["num_images"] == 1000 and e["fid"] > e["fid_floor"] > 0 for e in entries)


def test_the_stored_workers_timings_interleave_the_four_settings():
    results = json.loads((ROOT / "benchmarks/results/workers.json").read_text())
    threads = results["threads"]
    assert [(e["workers"], e["cache_every"]) for e in results["entries"]] == [(1, 1), (threads, 1), (1, 2), (threads, 2)]
    assert results["num_images"] % (100 * threads) == 0
    for e in results["entries"]:
        assert len(e["seconds_per_1000"]) == results["rounds"] and min(e["seconds_per_1000"]) > 0
        assert e["median_seconds_per_1000"] == statistics.median(e["seconds_per_1000"])


@pytest.mark.parametrize("script, argv, message", [
    ("train_budget", ["--models", "nope"], "unknown model 'nope'; choose from ("),
    ("recipe_search", ["--variants", "nope"], "invalid choice: 'nope'"),
    ("levers", ["--levers", "nope"], "invalid choice: 'nope'"),
    ("levers", ["--seconds", "0"], "--threads, --repeats and --batch must be >= 1 and --seconds > 0"),
    ("sampling", ["workers", "--checkpoint", "x", "--rounds", "0", "--out", "y.json"],
     "--num, --threads and --rounds must be >= 1"),
    ("sampling", ["workers", "--checkpoint", "x", "--threads", "1", "--out", "y.json"],
     "workers compares one batch at a time with a batch per core, so it needs --threads >= 2"),
    ("recipe_search", ["--variants", "add-60", "--samplers", "ddim-x"],
     "--samplers takes SAMPLER-STEPS with SAMPLER one of ddpm, ddim, euler, heun, dpmpp_2m, got 'ddim-x'"),
    ("vae_sweep", ["--variants", "nope"], "invalid choice: 'nope'"),
    ("t2i_levers", ["--arms", "nope"], "invalid choice: 'nope'"),
    ("t2i_levers", ["--minutes", "0"], "--minutes and --probe-seconds must be > 0"),
    ("vae_sweep", ["--num", "1"], "--threads must be >= 1 and --num in [2, 10000]"),
    ("vae_sweep", ["--sweep", "full", "--variants", "beta1e-2-c4"], "the full sweep's variants are beta1e-4-c4, "),
    ("vae_sweep", ["--checkpoint", "data/checkpoints/fashion_ldm"], "is a ldm checkpoint, not an autoencoder"),
    ("editing", ["--parts", "blur"], "invalid choice: 'blur'"),
    ("editing", ["--num", "1"], "--num must be in [2, 10000] and --threads >= 1"),
    ("editing", ["--checkpoint", "data/checkpoints/scenes_ldm"], "is not a pixel-space Fashion-MNIST model"),
    ("augmentation", ["--steps", "0"], "--per-class, --steps, --batch-size and --threads must be >= 1"),
    ("molecules", ["--molecules", "benzene"], "invalid choice: 'benzene'"),
    ("molecules", ["--threshold", "0"], "--threshold > 0"),
    ("flow", ["--arms", "nope"], "invalid choice: 'nope'"),
    ("flow", ["--minutes", "0"], "--minutes and --probe-seconds must be > 0"),
    ("probability_flow", ["--tolerances", "0"], "--calls >= 1 and --tolerances > 0"),
])
def test_bad_arguments_are_refused_with_what_is_allowed(script, argv, message, monkeypatch, capsys):
    module = load_script(script)
    monkeypatch.setattr("sys.argv", [script, *argv])
    with pytest.raises(SystemExit) as stop:
        module.main()
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_print_recipe_gives_the_cli_the_variants_recipe(monkeypatch, capsys, tmp_path):
    search = load_script("recipe_search")
    monkeypatch.setattr("sys.argv", ["recipe_search", "--variants", "noflip-vpred-cosine-60", "--print-recipe",
                                     "--out", str(tmp_path / "unused.json")])
    search.main()
    printed = json.loads(capsys.readouterr().out)
    assert Recipe.from_dict(printed).to_dict() == search.variant_recipe("noflip-vpred-cosine-60").to_dict()
    assert printed["ddpm"]["schedule"] == "cosine" and not (tmp_path / "unused.json").exists()
    book = json.loads(json.dumps(get_recipe("fashion-ddpm").to_dict()))
    assert book["ddpm"].pop("sampling_schedule") == "linear"  # the book's recipe, but for where it samples
    assert {**printed, "ddpm": {k: v for k, v in printed["ddpm"].items() if k != "sampling_schedule"}} == book


def test_the_stored_vae_sweep_matches_its_variants_and_measures_the_rate_falling_as_beta_grows():
    sweep = load_script("vae_sweep")
    steps, names, path = sweep.SWEEPS["short"]
    results = json.loads((ROOT / path).read_text())
    runs = results["variants"]
    assert list(runs) == list(names) and results["steps"] == steps == sweep.STEPS and results["num_images"] == 1000
    for name in names:
        kl_weight, channels, norm, _ = sweep.VARIANTS[name]
        r = runs[name]
        assert norm == "channel"
        assert (r["kl_weight"], r["latent_channels"], r["steps"]) == (kl_weight, channels, sweep.STEPS), name
        assert sweep.variant_recipe(name, sweep.STEPS).vae.latent_shape(28, 28) == (channels, 7, 7)
        assert (r["latent_numbers"], r["pixels"], len(r["latent_channel_std"])) == (channels * 49, 784, channels)
        assert r["fid"] > r["fid_floor"] > 0 and r["prior_fid"] > r["fid_floor"] and r["psnr"] > 0, name
        assert r["kl_per_image"] >= 0 and r["kl_per_latent_number"] == pytest.approx(
            r["kl_per_image"] / r["latent_numbers"], abs=1e-4)
        # the stored factor (10,000 training latents) is 1/std of the test latents too, within 5 %
        assert r["scaling_factor"] == pytest.approx(1 / r["latent_std"], rel=0.05), name
    betas = [runs[name] for name in ("beta1e-6-c4", "beta1e-4-c4", "beta1e-2-c4")]
    rate, fid, psnr = ([r[k] for r in betas] for k in ("kl_per_latent_number", "fid", "psnr"))
    assert rate[0] > rate[1] > rate[2] and fid[0] < fid[1] < fid[2] and psnr[0] > psnr[1] > psnr[2]
    assert betas[0]["latent_std"] > betas[1]["latent_std"] > betas[2]["latent_std"]  # the KL pulls the means in
    assert betas[0]["prior_fid"] > betas[1]["prior_fid"] > betas[2]["prior_fid"]  # ... towards the prior
    # wider latents: the same rate per image, spread over more numbers
    widths = [runs[name] for name in ("beta1e-4-c2", "beta1e-4-c4", "beta1e-4-c8")]
    assert widths[0]["kl_per_latent_number"] > widths[1]["kl_per_latent_number"] > widths[2]["kl_per_latent_number"]
    per_image = [r["kl_per_image"] for r in widths]
    assert max(per_image) < 1.25 * min(per_image)


def test_the_full_vae_sweep_is_the_recipe_at_its_length_and_its_stored_variant_is_the_books_checkpoint():
    sweep = load_script("vae_sweep")
    steps, names, path = sweep.SWEEPS["full"]
    results = json.loads((ROOT / path).read_text())
    runs = results["variants"]
    assert steps == get_recipe("fashion-vae").train.steps and results["steps"] == steps
    assert list(runs) == [n for n in names if n in runs] and {"beta1e-4-c4", "beta5e-7-c4"} <= set(runs)
    for name, r in runs.items():
        assert (r["kl_weight"], r["latent_channels"], r["norm"]) == sweep.VARIANTS[name][:3] and r["steps"] == steps
        assert r.get("ema_decay", 0.999) == sweep.VARIANTS[name][3]
        assert r["fid"] > 0 and r["scene_item_fid"] > r["scene_item_fid_floor"] > 0 and 0 < r["scene_prompt"] <= 1
        assert r["scaling_factor"] == pytest.approx(1 / r["latent_std"], rel=0.05), name
        if r["norm"] == "channel":  # a local code: the cells' latents away from the seams
            assert r["interior_gap"] < r["seam_gap"] / 5, name
    # the book's autoencoder is the variant of its recipe, and the sweep measured it as train --evaluate did
    book, recipe, metadata = sweep.load_model(ROOT / "data/checkpoints/fashion_vae")
    assert sweep.stored_variant(ROOT / "data/checkpoints/fashion_vae", steps)[0] == "beta5e-7-c4"
    assert runs["beta5e-7-c4"]["fid"] == pytest.approx(metadata["metrics"]["fid"], abs=0.01)
    assert runs["beta5e-7-c4"]["fid"] < runs["beta1e-4-c4"]["fid"] / 1.5  # the KL weight was the cause
    with pytest.raises(ValueError, match="no variant's recipe at 400 steps"):
        sweep.stored_variant(ROOT / "data/checkpoints/fashion_vae", 400)
    with pytest.raises(ValueError, match="not an autoencoder"):
        sweep.stored_variant(ROOT / "data/checkpoints/fashion_ldm", steps)


def test_each_t2i_lever_arm_is_the_text_to_image_recipe_with_one_change():
    levers = load_script("t2i_levers")
    base = get_recipe("scenes-ldm").to_dict()
    assert levers.arm_recipe("base").to_dict() == base and levers.ARMS["compute-2x"][2] == 2
    for name in levers.ARMS:
        recipe = levers.arm_recipe(name)
        assert Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe, name
        changed = {(section, key) for section, values in recipe.to_dict().items() if isinstance(values, dict)
                   for key, value in values.items() if base.get(section, {}).get(key) != value}
        changed |= {(section, None) for section in set(base) ^ set(recipe.to_dict())}
        if name in ("base", "compute-2x"):
            assert not changed, name
        elif name == "pixels":  # no autoencoder: the network gets the pixels' channel, size and two more levels
            assert {s for s, _ in changed} == {"latent", "unet", "ddpm"} and recipe.unet.image_size == 56
        else:
            assert len({s for s, _ in changed}) == 1, (name, changed)
    for path in (ROOT / "benchmarks/results/t2i_levers").glob("*.json"):
        r = json.loads(path.read_text())
        assert r["arm"] == path.stem and Recipe.from_dict(r["recipe"]).text == levers.arm_recipe(path.stem).text
        assert r["num_scenes"] == 500 and r["minutes"] == 12 * levers.ARMS[path.stem][2]
        assert r["prompt"] <= 1 and r["ceiling"]["prompt"] > 0.7


def test_t2i_levers_skips_the_arms_that_have_a_result(tmp_path, monkeypatch, capsys):
    levers = load_script("t2i_levers")
    (tmp_path / "base.json").write_text("{}")
    monkeypatch.setattr("sys.argv", ["t2i_levers", "--arms", "base", "--out", str(tmp_path)])
    with pytest.raises(KeyError):  # nothing trained: straight to the table, which reads the (empty) result
        levers.main()
    assert f"skipping base: results in {tmp_path}" in capsys.readouterr().out


def test_the_editing_results_read_against_their_ends():
    editing = load_script("editing")
    parts = json.loads((ROOT / "benchmarks/results/editing.json").read_text())["parts"]
    inpaint = parts["inpaint"]["rows"]
    assert set(inpaint) == {"originals", "masked", *editing.INPAINT} and parts["inpaint"]["num_images"] == 1000
    assert inpaint["originals"]["class_agreement"] == 1 and inpaint["originals"]["fid"] < 1.1 * inpaint["originals"]["fid_floor"]
    for name, options in editing.INPAINT.items():
        r = inpaint[name]
        assert {k: r[k] for k in options} == options and 0 < r["class_agreement"] <= 1
        assert inpaint["originals"]["fid"] < r["fid"] < inpaint["masked"]["fid"], name
    for part in ("sdedit", "sdedit-paint"):
        if part in parts:
            rows = parts[part]["rows"]
            strengths = [r["strength"] for r in rows.values()]
            assert strengths == sorted(strengths) and strengths[-1] == 1.0
            assert rows["strength-0.1"]["psnr"] > rows["strength-1.0"]["psnr"]


def test_the_molecule_results_hold_every_set_for_every_molecule():
    results = json.loads((ROOT / "benchmarks/results/molecules.json").read_text())
    from diffusion_lite.molecules import MOLECULES
    assert set(results["molecules"]) <= set(MOLECULES)
    for name, r in results["molecules"].items():
        assert r["smiles"] == MOLECULES[name] and 3 <= r["torsions"] <= 5
        assert set(r["sets"]) == {"diffusion", "rdkit", "rdkit torsions, the template's rigid parts", "random torsions"}
        for scores in r["sets"].values():
            assert 0 <= scores["coverage_recall"] <= 1 and scores["matching_recall"] >= 0
            assert scores["threshold"] == results["settings"]["threshold"]


def test_the_augmentation_results_cover_every_cell_with_three_seeds():
    results = json.loads((ROOT / "benchmarks/results/augmentation.json").read_text())
    runs = results["runs"].values()
    cells = {(r["real_per_class"], r["synthetic_per_class"]) for r in runs}
    assert cells == {(n, m) for n in (20, 100) for m in (0, 100, 500)}
    for n, m in cells:
        seeds = sorted(r["seed"] for r in runs if (r["real_per_class"], r["synthetic_per_class"]) == (n, m))
        assert seeds == [0, 1, 2]
    assert all(0.1 < r["test_accuracy"] <= 1 for r in runs)  # better than chance on ten classes
    assert results["synthetic"]["per_class"] == 500 and results["settings"]["checkpoint"].endswith("fashion_cfg")


def test_the_flow_results_hold_both_arms_with_every_sampler_setting():
    flow = load_script("flow")
    arms = {name: json.loads((ROOT / f"benchmarks/results/flow/{name}.json").read_text()) for name in flow.ARMS}
    for name, r in arms.items():
        assert r["arm"] == name and r["minutes"] == 15 and r["steps"] > 0 and 0 < r["straightness"] <= 1
        assert set(r["samples"]) == {f"{s}-{c}" for s, c, _ in flow.SETTINGS}
        for s, c, steps in flow.SETTINGS:
            v = r["samples"][f"{s}-{c}"]
            assert (v["sampler"], v["calls"], v["steps"]) == (s, c, steps) and v["fid"] > v["fid_floor"] > 0
    assert arms["ddpm"]["machine"] == arms["flow"]["machine"]  # one machine, or the budgets are not the same


def test_the_probability_flow_results_compare_solvers_of_one_ode():
    pf = json.loads((ROOT / "benchmarks/results/probability_flow.json").read_text())
    runs = pf["runs"]
    rk45 = sorted((r for r in runs.values() if r["solver"] == "RK45"), key=lambda r: -r["tolerance"])
    assert pf["reference"] == f"rk45-{rk45[-1]['tolerance']:g}" and runs[pf["reference"]]["rms_to_reference"] == 0
    calls = [r["calls"] for r in rk45]
    assert calls == sorted(calls)  # a tighter tolerance costs more evaluations
    for sampler in ("ddim", "dpmpp_2m"):
        fixed = sorted((r for r in runs.values() if r["solver"] == sampler), key=lambda r: r["calls"])
        assert [r["calls"] for r in fixed] == [10, 20, 50]
        assert fixed[0]["rms_to_reference"] > fixed[-1]["rms_to_reference"]  # more steps, nearer the ODE's answer
    assert all(r["fid"] > r["fid_floor"] > 0 for r in runs.values())


def test_the_distributed_results_time_the_three_setups_on_the_same_steps():
    results = json.loads((ROOT / "benchmarks/results/distributed.json").read_text())
    distributed = load_script("distributed")
    assert set(results["setups"]) == set(distributed.SETUPS)
    for name, (processes, threads) in distributed.SETUPS.items():
        r = results["setups"][name]
        assert (r["processes"], r["threads_per_process"]) == (processes, threads)
        assert r["images_per_second"] > 0 and r["wall_seconds"] > r["train_seconds"] > 0
    assert len({r["steps"] for r in results["setups"].values()}) == 1
