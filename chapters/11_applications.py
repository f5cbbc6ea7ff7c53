# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 11 · Applications
#
# The seed article ends with what diffusion models are used for: photo and art synthesis, style
# transfer, textures, data augmentation, molecules, medical images. This chapter turns the uses that the
# book's own checkpoints can honestly serve on a CPU into working tools, each derived in a few lines from
# what the reader already knows, and each measured: **inpainting** (fill a hole so that it fits the
# rest), **SDEdit** (redraw an image part of the way, or into another class), **seamless textures**, and
# **data augmentation**, measured by what it does to a classifier.
# The three editing tools need no new model or new sampler: they change where the reverse process starts, which
# timesteps it visits, or what it is told after each step, through the one loop of chapter 05
# (`samplers.sample_loop`). `diffusion_lite.editing` has the three, and the command line's `edit` runs
# them on any pixel-space checkpoint. Then a domain that is not images at all: the 3-D shapes of
# **molecules**.
#
# **Learning goals.** After this chapter you can
# 1. derive inpainting as conditioning by replacement, and say why it harmonises badly;
# 2. run RePaint's resampling (Lugmayr et al. 2022) and read its measured cost and benefit;
# 3. run SDEdit (Meng et al. 2021) and read its realism–faithfulness trade-off, with and without class
#    guidance;
# 4. make a UNet see its image as a torus, and measure what that does to a sample;
# 5. say, from a measurement with its spread, whether synthetic images help a classifier trained on little
#    real data;
# 6. diffuse molecular conformers through their torsion angles and score them as the field does.

# %%
import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from diffusion_lite import datasets
from diffusion_lite.checkpoints import load_model
from diffusion_lite.editing import circular_padding, make_mask, painting, repaint_timesteps, seam_gap
from diffusion_lite.generation import edit, generate
from diffusion_lite.metrics import CHECKPOINT_DIR, classifier_outputs, load_classifier
from diffusion_lite.plotting import show_images
from diffusion_lite.precision import describe

_ = torch.manual_seed(0)
ddpm, recipe, meta = load_model(CHECKPOINT_DIR / "fashion_ddpm")  # chapter 04's unconditional model
classifier = load_classifier()
test_images, test_labels = datasets.load_fashion_mnist("test")
originals = test_images[:8]
x0 = datasets.to_model_range(originals)  # (8, 1, 28, 28) in [−1, 1]
editing_results = json.loads(Path("../benchmarks/results/editing.json").read_text())["parts"]
print(describe())

# %% [markdown]
# ## 1. Inpainting: conditioning by replacement
#
# We know part of an image, x0 where the mask m is 0, and want the rest to be drawn from the model,
# consistently with what we know. The forward process tells us exactly what the known part looks like at
# every noise level: q(x_s | x0) = N(√ᾱs·x0, (1 − ᾱs)·I) (chapter 01), one sample of which needs no
# network. So run the reverse process as usual, and after every step to level s, replace the known
# region by a fresh sample of it at that level:
#
# x_s ← m ⊙ x_s + (1 − m) ⊙ (√ᾱs·x0 + √(1 − ᾱs)·ε),  ε ~ N(0, I),
#
# with m = 1 where the image is generated. At the last step (s = −1, ᾱ = 1) the known pixels are pasted
# exactly. This is the "imputation" of Song et al. (2021, Sec. 5) and the baseline that Lugmayr et al.
# (2022) improve on. In code it is a `condition(x, s)` that `sample_loop` applies after each step
# (`editing.inpaint_options` builds it), so it works with every sampler of chapter 05. Three masks, on
# the first eight test images, with DDIM in 50 steps:

# %%
masks = {kind: make_mask(kind, len(x0), generator=torch.Generator().manual_seed(0)) for kind in ("box", "half", "strokes")}
start = time.perf_counter()
completed = {kind: edit(ddpm, x0, "inpaint", mask=mask, sampler="ddim", steps=50, progress=False)
             for kind, mask in masks.items()}
print(f"3 × 8 completions in {time.perf_counter() - start:.1f} s")
rows = [x0]
for kind, mask in masks.items():
    rows += [x0 * (1 - mask) + 0.2 * mask, completed[kind]]  # the hole in grey, then the completion
show_images(torch.cat(rows), ncols=8, scale=0.9)
plt.suptitle("originals; then for a box, the bottom half and strokes: the input (hole in grey), the completion",
             fontsize=9)
plt.show()
for kind in masks:
    assert torch.equal(completed[kind] * (1 - masks[kind]), x0 * (1 - masks[kind]))  # the known pixels, exactly

# %% [markdown]
# The box and the strokes are easy: the known pixels around them say almost everything. The bottom half
# is the real test: the completions are garments, and most continue the top half's outline, but some
# change their mind halfway (a sneaker's top above a bag, trouser legs that end in one). The reason is in the update itself.
# The generated half never sees the known half as it is, only through the noise pasted over it at the
# current level; early on, at high noise, that says little, and the model commits to a layout that
# fits the noise, not the known half. Once the noise is low enough for the known half to be read, the
# layout of the generated half is settled.
#
# ## 2. RePaint: going back to revise
#
# Lugmayr et al. (2022, Alg. 1) let the generated part revise its layout after it has seen the known
# one: every `jump_length` steps, noise the whole state back up by `jump_length` steps with the forward
# process, x_t = √(ᾱt/ᾱs)·x_s + √(1 − ᾱt/ᾱs)·ε (no network call), and denoise that stretch again,
# `resample` times in all. In `sample_loop` that is just a list of timesteps that goes back up now and
# then:

# %%
down = ddpm.sampling_timesteps(50, "trailing")
schedule = repaint_timesteps(down, jump_length=5, resample=4)
calls = sum(1 for a, b in zip(schedule, schedule[1:] + [-1]) if b < a)
print(f"{len(down)} steps down become {len(schedule)} moves, {calls} of them network calls "
      f"({calls / len(down):.0f}× the plain sampler's)")
fig, ax = plt.subplots(figsize=(8, 2.4))
ax.plot(down, ".-", lw=1, ms=3, label="DDIM, 50 steps")
ax.plot(schedule, lw=1, label="RePaint, jump length 5, resample 4")
ax.set_xlabel("move")
ax.set_ylabel("timestep t")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
assert calls == len(down) + len(range(5, len(down), 5)) * 3 * 5  # 3 more passes over 5 steps at each jump

# %% [markdown]
# The same eight bottom halves, completed with RePaint at resample 4:

# %%
start = time.perf_counter()
repainted = edit(ddpm, x0, "inpaint", mask=masks["half"], method="repaint", jump_length=5, resample=4,
                 sampler="ddim", steps=50, progress=False)
print(f"8 RePaint completions in {time.perf_counter() - start:.1f} s")
show_images(torch.cat([x0 * (1 - masks["half"]) + 0.2 * masks["half"], completed["half"], repainted]), ncols=8,
            scale=0.9)
plt.suptitle("the input; replacement; RePaint (resample 4)", fontsize=9)
plt.show()

# %% [markdown]
# Eight images tell little. `benchmarks/editing.py` completes the bottom halves of the first 1,000 test
# images each way and asks the book's classifier two questions: is the completion the same kind of
# garment as the original (**agreement** of its predicted classes), and is it realistic (**FID** against
# the real-vs-real floor)? The originals are the ceiling (agreement 1, FID at the floor), the half-black
# inputs the other end.

# %%
inpaint = editing_results["inpaint"]
print(f"bottom half of the first {inpaint['num_images']:,} test images, {inpaint['sampler'].upper()}-"
      f"{inpaint['steps']}, {inpaint['threads']} threads ({inpaint['machine']})\n")
print(f"{'':14s} {'agreement':>9s} {'FID':>6s} {'floor':>6s} {'PSNR':>6s} {'seconds':>8s}")
for name, r in inpaint["rows"].items():
    seconds = f"{r['seconds']:8.1f}" if "seconds" in r else f"{'—':>8s}"
    print(f"{name:14s} {r['class_agreement']:9.3f} {r['fid']:6.1f} {r['fid_floor']:6.1f} {r['psnr']:6.2f} {seconds}")
rows = inpaint["rows"]
assert rows["originals"]["class_agreement"] == 1 and rows["masked"]["fid"] > rows["replace"]["fid"]

# %% [markdown]
# **Reading the table.** The classifier already recognises most half-black inputs (the top half of a
# garment often decides its class), so agreement has little room to rise; replacement barely adds to it,
# but it does turn the inputs into images of far lower FID. RePaint raises both, more with more
# resampling, and pays for it in time: each revision is another pass over its stretch of steps. None
# reaches the originals: half of a Fashion-MNIST image often does not decide the garment (the top of a
# pullover, a shirt and a coat look alike), so perfect agreement is not even the right target.

# %%
assert rows["repaint-r4"]["class_agreement"] > rows["repaint-r2"]["class_agreement"] > rows["replace"]["class_agreement"]
assert rows["repaint-r4"]["fid"] < rows["repaint-r2"]["fid"] < rows["replace"]["fid"] < rows["masked"]["fid"]
assert rows["repaint-r4"]["seconds"] > rows["repaint-r2"]["seconds"] > rows["replace"]["seconds"]

# %% [markdown]
# ## 3. SDEdit: starting the reverse process mid-way
#
# Meng et al. (2021) edit an image without any mask: noise it to a level t0 with the forward process,
# x_t0 = √ᾱt0·x + √(1 − ᾱt0)·ε, and run the reverse process from there. At small t0 the noise hides only
# fine detail, and the model redraws the detail; at t0 = T it hides everything, and the result is an
# unconditional sample. The **strength** t0/T sets where between the two an edit lands. With `num_steps`
# steps, SDEdit runs the last round(strength·num_steps) of them (`editing.sdedit_options`). SDEdit is
# meant for guides that are not realistic, such as a rough painting; ours is a test image as flat
# 4×4-pixel blocks of its mean (`editing.painting`). One test image and its painting, at ten strengths:

# %%
strengths = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
guides = torch.cat([x0[1:2], painting(x0[1:2])])
strips = [torch.cat([guide[None]] + [edit(ddpm, guide[None], "sdedit", strength=s, steps=50, progress=False)
                                     for s in strengths]) for guide in guides]
show_images(torch.cat(strips), ncols=11, titles=["input"] + [f"{s:.1f}" for s in strengths] + [""] * 11,
            scale=0.9)
plt.show()

# %% [markdown]
# Over 1,000 test images (`benchmarks/editing.py`), for real inputs and for their paintings: realism
# (FID against the floor) and faithfulness (the original's class kept, and PSNR to the input), by
# strength; strength 0 is the input itself.

# %%
curves = {"real inputs": editing_results["sdedit"]["rows"], "paintings": editing_results["sdedit-paint"]["rows"]}
fig, axes = plt.subplots(1, 3, figsize=(11, 3))
for k, (kind, rows) in enumerate(curves.items()):
    s_values = [r["strength"] for r in rows.values()]
    for ax, key in zip(axes, ("fid", "class_agreement", "psnr")):
        ax.plot(s_values, [r[key] for r in rows.values()], "o-", ms=3, color=f"C{k}", label=kind)
axes[0].axhline(inpaint["rows"]["originals"]["fid_floor"], color="k", lw=1, ls=":", label="real-vs-real floor")
axes[0].set_yscale("log")
for ax, title in zip(axes, ("FID (log scale; lower is more realistic)", "the original's class kept",
                            "PSNR to the input (dB)")):
    ax.set(xlabel="strength t0/T", title=title)
    ax.legend(fontsize=7)
plt.tight_layout()
plt.show()
print(f"{'strength':>8s} | {'real inputs: FID':>16s} {'class':>6s} {'PSNR':>6s} | {'paintings: FID':>14s} {'class':>6s} "
      f"{'PSNR':>6s} {'seconds':>8s}")
paint = curves["paintings"]
for name, r in paint.items():
    real = curves["real inputs"].get(name)
    left = (f"{real['fid']:16.1f} {real['class_agreement']:6.3f} {real['psnr']:6.2f}" if real
            else f"{'(the input)':>16s} {'':6s} {'':6s}")
    print(f"{r['strength']:8.1f} | {left} | {r['fid']:14.1f} {r['class_agreement']:6.3f} {r['psnr']:6.2f} "
          f"{r.get('seconds', 0):8.1f}")
real_rows = curves["real inputs"]
assert real_rows["strength-0.1"]["fid"] < real_rows["strength-1.0"]["fid"]  # real inputs only lose realism
assert real_rows["strength-0.1"]["class_agreement"] > real_rows["strength-1.0"]["class_agreement"]
assert paint["strength-0.0"]["fid"] > paint["strength-0.5"]["fid"]  # a painting gains it

# %% [markdown]
# **Real inputs** can only lose: at strength 0.1 the image is still the input, at the real-vs-real
# floor, and as the strength grows its FID rises to the model's own (an unconditional sample at t0 = T)
# while the class kept falls to chance, one in ten. **Paintings** are where SDEdit earns its keep, and
# where the trade-off of Meng et al. (2021, Fig. 3) appears: the painting itself is far from realistic;
# a moderate strength turns it into a garment while it keeps the painting's layout and, most of the
# time, its class; past the middle, realism stops improving and faithfulness keeps falling. The useful
# edits are in between.
#
# **Edits with guidance.** The class-conditional `fashion_cfg` of chapter 06 can be steered while it
# redraws: SDEdit with the label "coat" and its guidance scale turns the same eight test images into
# coats, keeping more of each input at the lower strength.

# %%
cfg, _, cfg_meta = load_model(CHECKPOINT_DIR / "fashion_cfg")
w = cfg_meta["metrics"]["guidance_scale"]
coat = datasets.CLASS_NAMES.index("coat")
to_coat = {s: edit(cfg, x0, "sdedit", strength=s, steps=50, labels=torch.full((8,), coat), guidance_scale=w,
                   progress=False) for s in (0.5, 0.8)}
show_images(torch.cat([x0, to_coat[0.5], to_coat[0.8]]), ncols=8, scale=0.9)
plt.suptitle(f"the inputs; SDEdit towards 'coat' at w = {w:g}, strength 0.5; strength 0.8", fontsize=9)
plt.show()
for s, images in to_coat.items():
    _, predicted = classifier_outputs(classifier, images)
    print(f"strength {s}: the classifier calls {int((predicted == coat).sum())} of 8 a coat "
          f"(the inputs: {int((test_labels[:8] == coat).sum())} coats)")

# %% [markdown]
# ## 4. Seamless textures: a network on a torus
#
# A 3×3 convolution with zero padding knows where the border is: outside it, everything is zero. Pad
# circularly instead, so that the left neighbour of the first column is the last column, and the UNet
# sees its image as a torus: its average pooling and nearest-neighbour upsampling align with the wrap
# (28 halves to 14 and 7), and attention has no positions, so the whole network is equivariant to cyclic
# shifts (a test in `tests/test_editing.py` checks it). What it samples then has no border at all, and
# tiles. `editing.circular_padding` switches every padded convolution for the duration of a block; the
# weights are the same. Sixteen samples of `fashion_ddpm` each way, and four of the circular ones tiled 2×2:

# %%
plain = generate(ddpm, 16, "ddim", 50, seed=0, progress=False)
with circular_padding(ddpm.network):
    torus = generate(ddpm, 16, "ddim", 50, seed=0, progress=False)
show_images(torch.cat([plain, torus]), ncols=16, scale=0.7)
plt.suptitle("zero padding (the checkpoint as trained); circular padding, the same weights and noise", fontsize=9)
plt.show()
show_images(torus[:4, 0].repeat(1, 2, 2)[:, None], ncols=4, scale=2.0)
plt.suptitle("four circular samples, each tiled 2 × 2", fontsize=9)
plt.show()


def border_ink(images):
    """The share of border pixels that are not background."""
    border = torch.cat([images[..., 0, :], images[..., -1, :], images[..., :, 0], images[..., :, -1]], dim=-1)
    return float((border > -0.5).float().mean())


for name, images in (("zero padding", plain), ("circular padding", torus)):
    wrap, inside = seam_gap(images)
    print(f"{name:16s}: |seam| {wrap:.3f} against |neighbours| {inside:.3f} inside; "
          f"{border_ink(images):.0%} of the border is ink")
assert border_ink(torus) > 3 * border_ink(plain)

# %% [markdown]
# Both kinds tile, by the measure: the step across the seam is no larger than between neighbours inside.
# A Fashion-MNIST sample tiles anyway, on its black ground. What circular padding changes is what the
# network draws. Trained with zero padding, it found the centre of the picture through the zeros at the
# border; on a torus there is no centre, so the garment's parts are drawn wherever they happen to start,
# cross the border, and break into texture: fabric-like patterns that tile seamlessly, but no longer
# garments. A texture model is trained the same way it samples: circular padding during training too, on
# images that are themselves textures (random crops of fabric or terrain), so that "no centre" is what
# it learned.

# %% [markdown]
# ## 5. Data augmentation, measured
#
# A generative model can make training data: ask `fashion_cfg` for coats and it draws coats, labelled by
# the class asked for. Does a classifier trained on little real data get better when such images are
# added? The claim is common and rarely measured against its own baseline, so `benchmarks/augmentation.py`
# measures it: the book's classifier architecture (chapter 04's, trained by `metrics.train_classifier`
# with random flips) on 20 or 100 real training images of each class, with 0, 100 or 500 synthetic images
# of each class added (DPM-Solver++ in 20 steps at the checkpoint's guidance scale), three seeds each (a
# seed draws the real subset and the training order), every run the same 400 batches of 64 drawn from the
# union, and scored by accuracy on the 10,000 test images:

# %%
augmentation = json.loads(Path("../benchmarks/results/augmentation.json").read_text())
aug_runs = list(augmentation["runs"].values())
print(f"{augmentation['settings']['steps']} steps of {augmentation['settings']['batch_size']} each; synthetic "
      f"pool drawn in {augmentation['synthetic']['sample_seconds'] / 60:.0f} min at w = "
      f"{augmentation['synthetic']['guidance_scale']:g} ({augmentation['machine']}, {augmentation['threads']} threads)\n")
real_sizes = sorted({r["real_per_class"] for r in aug_runs})
synthetic_sizes = sorted({r["synthetic_per_class"] for r in aug_runs})
accuracy = {(n, m): torch.tensor([r["test_accuracy"] for r in aug_runs
                                  if (r["real_per_class"], r["synthetic_per_class"]) == (n, m)])
            for n in real_sizes for m in synthetic_sizes}
print(f"{'real / class':>12s} " + " ".join(f"{'+' + str(m) + ' synthetic':>17s}" for m in synthetic_sizes))
for n in real_sizes:
    print(f"{n:12d} " + " ".join(f"{float(accuracy[n, m].mean()):9.3f} ± {float(accuracy[n, m].std()):.3f}"
                                 for m in synthetic_sizes))
fig, ax = plt.subplots(figsize=(5.5, 3.2))
for c, n in enumerate(real_sizes):
    means = [float(accuracy[n, m].mean()) for m in synthetic_sizes]
    spreads = [float(accuracy[n, m].std()) for m in synthetic_sizes]
    ax.errorbar(synthetic_sizes, means, yerr=spreads, marker="o", capsize=3, color=f"C{c}",
                label=f"{n} real images per class")
ax.set(xlabel="synthetic images per class added", ylabel="test accuracy", xticks=synthetic_sizes)
ax.legend(fontsize=8)
ax.set_title("A classifier on little real data, with fashion_cfg's images added", fontsize=10)
plt.tight_layout()
plt.show()
assert all(len(a) == 3 for a in accuracy.values())
gain_small = float(accuracy[20, 500].mean() - accuracy[20, 0].mean())
gain_large = max(float(accuracy[100, m].mean() - accuracy[100, 0].mean()) for m in synthetic_sizes if m)
print(f"gain with 20 real per class: {gain_small:+.3f}; best gain with 100 real per class: {gain_large:+.3f}")
full = json.loads((CHECKPOINT_DIR / "fashion_classifier.json").read_text())
print(f"the same architecture on all 60,000 real images (the book's classifier): {full['test_accuracy']:.3f}")
assert gain_small > 3 * float(accuracy[20, 0].std()) and gain_large < gain_small / 3

# %% [markdown]
# **Reading the result.** Where real data are scarce, synthetic images help, clearly: with 20 real images
# of each class, 100 synthetic ones per class add about six points of test accuracy and 500 about seven,
# many times the spread over seeds. With 100 real images per class the gain shrinks to less than a point,
# within about two spreads of no gain at all, and 500 synthetic images do no better than 100. The reason
# is in what the generator knows: `fashion_cfg` learned from all 60,000 training images, so at 20 per
# class its samples carry information the classifier's own data lack (that is also why this is not a
# free lunch: the generator saw far more real data than the classifier). Once the real subset shows the
# classes well, the synthetic images, which are blurrier and less varied than real ones (FID well above
# the floor, chapter 06), add little, and a large share of them dilutes the real batches. All of it stays
# well under what 60,000 real images give the same architecture.

# %% [markdown]
# ## 6. A non-image domain: molecular conformers
#
# A molecule's **conformers** are the 3-D shapes it takes; a drug binds in one of them, and finding the
# likely ones is what RDKit's ETKDG embedding (Riniker & Landrum 2015) plus a force field does, and what
# GeoDiff (Xu et al. 2022) and torsional diffusion (Jing et al. 2022) learn to do with diffusion. For a
# small flexible molecule the bond lengths and angles barely vary between conformers; what varies are
# the angles of its rotatable bonds, the **torsions**. Jing et al. diffuse the torsions on the torus they
# live on. The book's DDPM diffuses points in a plane, so `diffusion_lite.molecules` embeds each torsion θ
# as (cos θ, sin θ): the DDPM of chapter 02 learns the 2m numbers of a molecule with m torsions, and
# atan2 maps a sample back to angles, which are set on the rigid parts of one RDKit conformer. Torsions
# do not change when a molecule is moved or turned, so this model is invariant to both by construction.
#
# Live, for hexane (three rotatable C–C bonds, each gauche+, anti or gauche−: up to 27 minima): 300
# RDKit conformers to learn from, 50 held-out ones to score against.

# %%
from diffusion_lite import DDPM, MLPDenoiser  # noqa: E402
from diffusion_lite import molecules  # noqa: E402
from diffusion_lite.training import TrainConfig, Trainer  # noqa: E402

start = time.perf_counter()
hexane_train = molecules.conformers(molecules.MOLECULES["hexane"], 300, seed=0)
hexane_reference = molecules.conformers(molecules.MOLECULES["hexane"], 50, seed=1)
angles = molecules.torsions(hexane_train)  # (300, 3) radians
print(f"RDKit: 350 conformers in {time.perf_counter() - start:.1f} s; torsions {tuple(angles.shape)}")
torch.manual_seed(0)
torsion_ddpm = DDPM(MLPDenoiser(dim=2 * angles.shape[1]), timesteps=1000, schedule="cosine")
trainer = Trainer(torsion_ddpm, molecules.to_circle(angles),
                  TrainConfig(steps=1500, batch_size=128, lr=2e-3, warmup_steps=100, ema_decay=0.995))
trainer.train(progress=False)
points = trainer.ema.sample((200, 2 * angles.shape[1]), generator=torch.Generator().manual_seed(0), num_steps=50,
                            sampler="ddim", spacing="trailing")
generated = molecules.with_torsions(hexane_train, molecules.from_circle(points))
print(f"trained {trainer.step} steps in {trainer.seconds:.0f} s, 200 conformers drawn")
live_scores = molecules.coverage_matching(molecules.rmsd_matrix(generated, hexane_reference))
print(f"against the 50 held-out conformers: coverage {live_scores['coverage_recall']:.2f}, "
      f"matching {live_scores['matching_recall']:.2f} Å (δ = {live_scores['threshold']} Å)")

fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
drawn = molecules.torsions(generated)
for ax, (a, b) in zip(axes, ((0, 1), (1, 2))):
    ax.scatter(angles[:, a], angles[:, b], s=8, alpha=0.5, label="RDKit (training)")
    ax.scatter(drawn[:, a], drawn[:, b], s=8, alpha=0.5, marker="x", label="diffusion")
    ax.set(xlabel=f"torsion {a + 1} (rad)", ylabel=f"torsion {b + 1} (rad)", xlim=(-3.3, 3.3), ylim=(-3.3, 3.3))
axes[0].legend(fontsize=8, loc="upper left")
plt.suptitle("hexane's torsions: the training conformers and the model's", fontsize=10)
plt.tight_layout()
plt.show()
assert live_scores["coverage_recall"] > 0.5

# %% [markdown]
# The model's samples gather where RDKit's conformers are: the anti (±π) and gauche (±π/3) wells, in
# the combinations the force field allows. `benchmarks/molecules.py` does the same for four molecules with
# 3 to 5 torsions (300 training and 100 held-out conformers each, 3,000 training steps, 200 samples), and
# puts three other sets of 200 beside the model's: RDKit's own sampler (fresh embeddings, optimised),
# RDKit's torsions set on the model's rigid template (the best a torsion-only model can do here), and
# uniformly random torsions (the floor). Coverage is the share of held-out conformers with a generated
# one within 0.5 Å, matching the mean RMSD to the nearest (recall: from the held-out side; precision: from
# the generated side, which punishes implausible samples); the energy is MMFF94's, as drawn.

# %%
mol_results = json.loads(Path("../benchmarks/results/molecules.json").read_text())
print(f"{mol_results['settings']['steps']:,} steps each, {mol_results['threads']} threads ({mol_results['machine']})\n")
print(f"{'molecule':16s} {'m':>2s} {'set':42s} {'coverage R/P':>13s} {'matching R/P (Å)':>17s} {'MMFF median':>12s}")
for name, r in mol_results["molecules"].items():
    for k, (label, sc) in enumerate(r["sets"].items()):
        print(f"{name if k == 0 else '':16s} {r['torsions'] if k == 0 else '':>2} {label:42s} "
              f"{sc['coverage_recall']:6.2f}/{sc['coverage_precision']:.2f} "
              f"{sc['matching_recall']:8.3f}/{sc['matching_precision']:.3f} {sc['energy_median']:12.1f}")
    print(f"{'':16s} {'':2s} {'(the held-out conformers themselves)':42s} {'':13s} {'':17s} "
          f"{r['reference_energy_median']:12.1f}")
for r in mol_results["molecules"].values():
    assert r["sets"]["diffusion"]["coverage_precision"] > r["sets"]["random torsions"]["coverage_precision"]

# %% [markdown]
# **Reading the table.** The model covers most held-out conformers of the three- and four-torsion
# molecules, and fewer of diethoxyethane's five torsions, where 3⁵ combinations of wells share 300
# training examples. Its precision is well above random torsions' (random angles land between the wells,
# and their MMFF energies show it): the samples are plausible shapes. It does not match RDKit, whose
# optimised conformers fall exactly into the force field's minima (matching near 0 Å), while a sample of
# the model lies near a minimum, not in it (matching 0.2–0.4 Å, and higher energies as drawn; a few
# steps of MMFF relaxation, as torsional diffusion's evaluation allows, would close most of that). The
# rigid template costs little: RDKit's own torsions set on it match to 0.03–0.05 Å. Trained for seconds
# on a laptop CPU, a DDPM of 2m numbers learns where a molecule's torsions go.

# %% [markdown]
# **What this chapter leaves out.** Medical imaging is the other use the seed article names, and the
# methods here are the ones it uses (inpainting of missing slices, SDEdit-like translation between
# scanners and contrasts, and, most of all, reconstruction from undersampled MRI or sparse-view CT,
# where the known part is a set of measurements rather than pixels and replacement becomes a projection
# onto the data). It is out of scope here for two reasons: the book installs from package registries
# only, and the small medical image sets that exist (MedMNIST's 28×28 scans, for one) are downloaded from
# elsewhere; and a medical result needs validation against clinical ground truth, which no FID or
# classifier score replaces.

# %% [markdown]
# ## 7. Exercises
#
# Each exercise has a check function; replace `None` with your answer and run the cell. Solutions are in
# `chapters/solutions/ch11.py`.
#
# **Exercise 1.** Inpainting by replacement pastes the known region at level s. A known pixel has value
# x0 = 0.5, the level has ᾱs = 0.25, and the noise drawn for that pixel is ε = −1. What value is pasted?

# %%
from checks.ch11 import check_pasted_value, check_repaint_calls, check_sdedit_calls  # noqa: E402

answer = None
check_pasted_value(answer)

# %% [markdown]
# **Exercise 2.** SDEdit at strength 0.3 with 50 DDIM steps and no guidance: how many network calls does
# one image cost?

# %%
answer = None
check_sdedit_calls(answer)

# %% [markdown]
# **Exercise 3.** RePaint over 20 DDIM steps with jump length 5 and resample 3: how many network calls
# does one image cost? (A move back up is no call.)

# %%
answer = None
check_repaint_calls(answer)

# %% [markdown]
# ## Summary
#
# - Inpainting, SDEdit and seamless textures need no new model: they change the state the reverse
#   process starts from (SDEdit), the timesteps it visits (SDEdit, RePaint) or what it is told after each
#   step (replacement), all through chapter 05's one loop. `python -m diffusion_lite edit` runs them.
# - Replacement keeps the known pixels exactly, but the generated part sees them only through noise and
#   may commit to a layout that does not fit; RePaint's jumps back up let it revise, at a price in
#   network calls that the benchmark puts beside its gain.
# - SDEdit's strength trades faithfulness for freedom; with class guidance it redraws an image into
#   another class.
# - Circular padding makes the network a torus: samples tile, and a model trained on centred garments
#   draws texture instead, which is what a texture model should be trained to do.
# - Synthetic images from `fashion_cfg` lift a classifier trained on 20 real images per class by several
#   points, far beyond the spread over seeds; at 100 per class the gain is under a point.
# - A molecule's conformers are, to a good approximation, its torsions: embedded on circles, they are
#   data for the same DDPM, and the samples cover most of RDKit's held-out conformers at 0.5 Å.
