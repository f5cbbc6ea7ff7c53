# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Faster sampling
#
# Ancestral DDPM sampling calls the network once for each of the T = 1,000 training steps: 1,000 calls
# per image. Chapter 04 already cheated with DDIM and 50 steps. This chapter shows why that works, and
# goes further. It derives DDIM from a family of forward processes that share DDPM's marginals. It
# rewrites sampling as an ordinary differential equation in the σ view of Karras et al. (2022). It
# solves that equation with Euler, Heun and DPM-Solver++(2M). It runs DDIM backwards to turn images
# into noise and back. Last, it reads the measured curve of quality against network calls for every
# sampler on the book's model, sees why that model, trained with the cosine schedule, samples at the
# linear schedule's noise levels, and tries the other way to sample faster: cheaper calls, which reuse
# the UNet's deep features from one step to the next. It ends with a variable the curve hides: where
# a sampler's last step lands.
#
# **Learning goals.** After this chapter you can
# 1. explain why a network trained for DDPM can be sampled with fewer steps: DDIM's non-Markovian
#    forward processes have the same marginals q(x_t | x0), so the same loss and the same network;
# 2. move between the ᾱ view x_t = √ᾱt·x0 + √(1 − ᾱt)·ε and the σ view x̃ = x0 + σ·ε, and write the
#    probability-flow ODE dx̃/dσ = ε̂;
# 3. write Euler, Heun and DPM-Solver++(2M) steps, count their network calls, and measure their order
#    of accuracy on an equation whose solution is known;
# 4. encode an image into noise with DDIM inversion and decode it back;
# 5. read a quality-versus-network-calls curve measured with FID against its floor, pick a sampler,
#    choose the noise levels it visits apart from the training schedule, and see where its steps end;
# 6. say what reusing a UNet's deep features between steps (DeepCache) saves and costs, and why it
#    harms second-order samplers most.

# %%
import json
import math
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from diffusion_lite.generation import generate
from diffusion_lite.precision import autocast
from diffusion_lite.checkpoints import load_model
from diffusion_lite.datasets import load_fashion_mnist, to_model_range
from diffusion_lite.metrics import CHECKPOINT_DIR, classifier_outputs, frechet_distance, load_classifier
from diffusion_lite.plotting import show_images
from diffusion_lite.samplers import (ddim_step, dpmpp_2m_step, euler_step, invert_loop, network_calls, sample_loop,
                                     sigma_at)
from diffusion_lite.schedules import NoiseSchedule, timesteps
from diffusion_lite.unet import DeepCache

schedule = NoiseSchedule.make("linear", 1000)  # linear βt from 1e-4 to 0.02: the noise levels the book samples at
abar = schedule.alphas_cumprod  # ᾱt, float64, t = 0..999
print(f"T = {schedule.num_timesteps}, ᾱ at t = 0, 499, 999: "
      f"{abar[0]:.5f}, {abar[499]:.5f}, {abar[999]:.2e}; {torch.get_num_threads()} torch thread(s)")

# %% [markdown]
# ## 1. Why skipping steps works: DDIM
#
# DDPM's loss (Ho et al. 2020, Eq. 14) only ever looks at one noisy image at a time: x0, then
# x_t = √ᾱt·x0 + √(1 − ᾱt)·ε, then the network's guess of ε. It depends on the forward process only
# through the **marginals** q(x_t | x0); the chain of single steps q(x_t | x_{t−1}) that produced them
# is never used. Song et al. (2021, Sec. 4.1) exploit this. For any s < t and any σ ≥ 0 they define the
# *non-Markovian* reverse-time process
#
# $$q_\sigma(x_s \mid x_t, x_0) = \mathcal N\Big(\sqrt{\bar\alpha_s}\,x_0 + \sqrt{1-\bar\alpha_s-\sigma^2}\,
#   \frac{x_t-\sqrt{\bar\alpha_t}\,x_0}{\sqrt{1-\bar\alpha_t}},\ \sigma^2 I\Big) \qquad \text{(Song et al., Eq. 7)}$$
#
# and show that if x_t ~ q(x_t | x0) then x_s ~ q(x_s | x0): the same marginals for every σ. The fraction
# in the middle is exactly the ε that made x_t, so x_s is √ᾱs·x0 plus a noise of variance
# (1 − ᾱs − σ²) + σ² = 1 − ᾱs, as the marginal requires. A network trained with DDPM's loss therefore
# fits *every* member of the family, and nothing forces s = t − 1: any decreasing subsequence of the
# timesteps will do. Replacing x0 by the network's x̂0 gives the DDIM update (Eq. 12), with
# σ = η·√((1 − ᾱs)/(1 − ᾱt))·√(1 − ᾱt/ᾱs) (Eq. 16). η = 1 is ancestral DDPM with variance β̃ (chapter
# 04's test suite checks that); η = 0 is deterministic.
#
# Let us check the claim by sampling: fix four values of x0, jump from t = 900 straight to s = 300 with
# Eq. 7, and compare the mean and standard deviation of x_s with those of q(x_s | x0).

# %%
g = torch.Generator().manual_seed(0)
x0 = torch.tensor([-1.0, -0.3, 0.4, 1.0], dtype=torch.float64)
t, s, n = 900, 300, 200_000
eps = torch.randn(n, 4, generator=g, dtype=torch.float64)
x_t = abar[t].sqrt() * x0 + (1 - abar[t]).sqrt() * eps  # x_t ~ q(x_t | x0)
for eta in (0.0, 0.5, 1.0):
    sigma = eta * ((1 - abar[s]) / (1 - abar[t]) * (1 - abar[t] / abar[s])).sqrt()
    z = torch.randn(n, 4, generator=g, dtype=torch.float64)
    x_s = abar[s].sqrt() * x0 + (1 - abar[s] - sigma**2).sqrt() * (x_t - abar[t].sqrt() * x0) / (1 - abar[t]).sqrt() \
        + sigma * z  # Eq. 7
    sd = (1 - abar[s]).sqrt()
    mean_err = (x_s.mean(0) - abar[s].sqrt() * x0).abs().max() / (sd / math.sqrt(n))  # in standard errors
    sd_err = (x_s.std(0) / sd - 1).abs().max()
    print(f"η = {eta}: σ = {float(sigma):.3f}; mean of x_s within {mean_err:.1f} standard errors of √ᾱs·x0, "
          f"standard deviation within {sd_err:.2%} of √(1 − ᾱs) = {float(sd):.3f}")
    assert mean_err < 5 and sd_err < 0.01

# %% [markdown]
# Whatever η, one jump of 600 steps lands on the right marginal. With η = 0 the jump injects no noise
# at all: x_s is a *function* of x_t. Sampling then becomes the deterministic map x_T ↦ x0, and that map
# has a name.
#
# ## 2. The σ view and the probability-flow ODE
#
# Divide x_t = √ᾱt·x0 + √(1 − ᾱt)·ε by √ᾱt. The scaled state x̃ = x_t/√ᾱt is
#
# $$\tilde x = x_0 + \sigma_t\,\varepsilon, \qquad \sigma_t = \sqrt{(1-\bar\alpha_t)/\bar\alpha_t}$$
#
# the clean image plus noise of standard deviation σt, with no shrinking of the signal. This is the
# **σ view** of Karras et al. (2022, Sec. 2), and `NoiseSchedule.sigmas` holds σt. In it, deterministic
# DDIM becomes very simple. With ε̂ = (x̃ − x̂0)/σt, Eq. 12 with η = 0 reads x̃s = x̂0 + σs·ε̂, that is
#
# $$\tilde x_s = \tilde x_t + (\sigma_s - \sigma_t)\,\hat\varepsilon(\tilde x_t, \sigma_t) ,$$
#
# one **Euler step** of the ordinary differential equation
#
# $$\frac{d\tilde x}{d\sigma} = \hat\varepsilon(\tilde x, \sigma) = \frac{\tilde x - \hat x_0(\tilde x, \sigma)}{\sigma}
#   \qquad \text{(Karras et al., Eq. 4, with } s(t) = 1\text{)},$$
#
# the **probability-flow ODE** of Song et al. (2021b): its solutions carry noise of level σ_T to images
# while keeping every marginal the same as the stochastic process. So DDIM is Euler's method, and any
# better ODE solver is a better DDIM. The package writes `ddim_step` in the ᾱ view and `euler_step` in
# the σ view; they agree to float precision:

# %%
g = torch.Generator().manual_seed(1)
x, x0_hat = (torch.randn(3, 1, 28, 28, generator=g, dtype=torch.float64) for _ in range(2))
for t, s in [(999, 899), (500, 400), (100, 0), (20, -1)]:  # s = −1: the last step, to the clean image
    gap = (euler_step(schedule, x, t, s, x0_hat, None) - ddim_step(schedule, x, t, s, x0_hat, None, eta=0.0)).abs().max()
    print(f"t = {t:3d} → s = {s:3d}: σ {sigma_at(schedule, t):8.3f} → {sigma_at(schedule, s):6.3f}, "
          f"|Euler − DDIM| = {gap:.1e}")
    assert gap < 1e-12

# %% [markdown]
# How big are the steps? Samplers visit a subsequence of the timesteps; with the "trailing" spacing
# (Lin et al. 2024, as in diffusers) n steps start at t = T − 1 and are evenly spaced in t. The figure
# shows where 10 of them fall on the σ axis: σ runs from about 157 at t = 999 down to 0.01 at t = 0,
# and steps evenly spaced in t take giant leaps in σ at the start and tiny ones at the end.

# %%
ts10 = timesteps(1000, 10, "trailing").tolist()
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].semilogy(range(1000), schedule.sigmas.numpy(), label="σt")
axes[0].semilogy(ts10, [sigma_at(schedule, t) for t in ts10], "o", color="C3", label="10 trailing steps")
axes[0].set(xlabel="t", ylabel="σt", title="σt = √((1 − ᾱt)/ᾱt), linear βt")
axes[0].legend()
axes[1].semilogy(range(1000), (1 / schedule.sigmas**2).numpy(), color="C1")
axes[1].set(xlabel="t", ylabel="SNR = 1/σt²", title="signal-to-noise ratio")
plt.tight_layout()
plt.show()
print("steps:", " → ".join(f"{t} (σ {sigma_at(schedule, t):.2g})" for t in ts10), "→ clean")

# %% [markdown]
# ## 3. Better solvers: Heun and DPM-Solver++(2M)
#
# Euler's method is first order: halving the step size halves its error. Two classic ways to do better,
# both with the package's shared step signature
# `step(schedule, x_t, t, s, x0_hat, noise, *, denoise, previous)`:
#
# - **Heun** (Karras et al., Algorithm 2) takes the Euler step to σs, asks the network for the slope
#   d′ there, and redoes the step with the average slope (d + d′)/2. Second order, at two network calls
#   per step (one on the last step, which goes to σ = 0 and is a plain Euler step): `heun_step` calls
#   `denoise(x, s)`, a closure of the sampling loop.
# - **DPM-Solver++(2M)** (Lu et al. 2022, Algorithm 2) reuses the previous step's x̂0 instead of
#   calling the network again. With λ = −log σ (half the log-SNR) and h = λs − λt it extrapolates
#   D = (1 + 1/(2r))·x̂0 − 1/(2r)·x̂0_prev, r = (λt − λ_prev)/h, and steps with D where Euler uses x̂0:
#
#   $$\tilde x_s = \frac{\sigma_s}{\sigma_t}\,\tilde x_t + \Big(1 - \frac{\sigma_s}{\sigma_t}\Big) D .$$
#
#   With D = x̂0 this *is* the Euler step (expand it), which is what its first and last steps use.
#   Second order at one network call per step. (The paper writes it in the ᾱ view; a test checks the
#   two forms agree.)
#
# Which is better at equal cost? On real data the answer needs FID (section 5), but there is a case
# where the exact ODE solution is known. If the data are Gaussian, x0 ~ N(0, s²), the ideal denoiser is
# x̂0(x̃, σ) = s²/(s² + σ²)·x̃, and the ODE dx̃/dσ = σx̃/(s² + σ²) has the solution
# x̃(σ) = x̃_T·√((s² + σ²)/(s² + σ_T²)). We run each sampler with this perfect "network" and measure how
# far its x0 lands from the exact one:

# %%
STD = 0.5  # the data's standard deviation


def oracle(x, t):
    """The exact ε̂ for N(0, STD²) data, in the ᾱ view: ε̂ = √(1 − ᾱt)·x/(ᾱt·STD² + 1 − ᾱt)."""
    a = schedule.alphas_cumprod[t].to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
    return (1 - a).sqrt() * x / (a * STD**2 + 1 - a)


def ode_error(sampler, steps):
    x_T = torch.linspace(-3, 3, 7, dtype=torch.float64).view(7, 1)
    for _, x, _ in sample_loop(oracle, x_T, schedule, steps, sampler, "trailing"):
        pass
    s_T = sigma_at(schedule, 999)
    exact = x_T / abar[999].sqrt() * STD / math.sqrt(STD**2 + s_T**2)  # x̃(0), and at σ = 0 x = x̃
    return float((x - exact).abs().max())


STEP_COUNTS = [5, 10, 20, 40, 80]
errors = {sampler: [ode_error(sampler, n) for n in STEP_COUNTS] for sampler in ("euler", "heun", "dpmpp_2m")}
fig, ax = plt.subplots(figsize=(5.5, 3.6))
for sampler, errs in errors.items():
    ax.loglog([network_calls(sampler, n) for n in STEP_COUNTS], errs, "o-", label=sampler)
ax.set(xlabel="network calls per image", ylabel="max |x0 − exact x0|", title="solving a known ODE")
ax.legend()
plt.show()
for sampler, errs in errors.items():
    order = math.log2(errs[1] / errs[2])
    print(f"{sampler:9s} error at 10 → 20 steps: {errs[1]:.2e} → {errs[2]:.2e}, observed order {order:.1f}")
assert math.log2(errors["euler"][1] / errors["euler"][2]) < 1.1
assert min(math.log2(errors[s][1] / errors[s][2]) for s in ("heun", "dpmpp_2m")) > 1.5

# %% [markdown]
# Euler's error halves when the steps double (order 1); Heun's and DPM-Solver++'s fall three to four times
# (order about 2; the giant first steps in σ keep the observed order from being exactly 2). Per network
# call, DPM-Solver++ wins: the same order as Heun at half the calls. Past about 40 steps its curve stops
# falling: what is left is the error of its first-order last step, far below anything visible.
#
# ## 4. The book's model, one starting noise, five samplers
#
# The ODE samplers all solve the same equation, so from the same x_T they should converge to the *same*
# image. Here are eight starting noises of the chapter-04 model taken through DDIM and DPM-Solver++ with
# 10 network calls, Heun with 5 steps (9 calls), DPM-Solver++ with 20 calls, and DDIM with 200 calls as
# the reference solution; the last row is ancestral DDPM with 100 steps from the same x_T.

# %%
ddpm, recipe, meta = load_model(CHECKPOINT_DIR / "fashion_ddpm")
x_T = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(5))


def run(sampler, steps, x, spacing="trailing", last_t=None):
    g = torch.Generator().manual_seed(0)
    with torch.no_grad(), autocast():
        for _, x, _ in ddpm.sample_steps(x, steps, sampler, spacing, generator=g, last_t=last_t):
            pass
    return x.float()


rows = [("ddim", 10), ("heun", 5), ("dpmpp_2m", 10), ("dpmpp_2m", 20), ("ddim", 200), ("ddpm", 100)]
start = time.perf_counter()
images = {row: run(*row, x_T) for row in rows}
print(f"{len(rows)} rows of 8 images in {time.perf_counter() - start:.1f} s")
reference = images[("ddim", 200)]
fig, axes = plt.subplots(len(rows), 8, figsize=(8 * 0.9, len(rows) * 0.95))
for r, row in enumerate(rows):
    show_images(images[row], ax=axes[r])
    gap = (images[row] - reference).pow(2).mean().sqrt()
    axes[r, 0].text(-3, 14, f"{row[0]} {row[1]}\n{network_calls(*row)} calls\nRMS {gap:.2f}", ha="right",
                    va="center", fontsize=7)
plt.subplots_adjust(left=0.16, wspace=0.05, hspace=0.05)
plt.show()
rms = {row: float((images[row] - reference).pow(2).mean().sqrt()) for row in rows}
assert rms[("dpmpp_2m", 20)] < rms[("dpmpp_2m", 10)] < rms[("ddim", 10)] < rms[("heun", 5)] < rms[("ddpm", 100)]

# %% [markdown]
# The rows are read against the DDIM-200 reference (RMS: root-mean-square pixel difference in [−1, 1]).
# All the ODE samplers find the same garments. DDIM with 10 calls is already close, a little smoother
# than the reference; DPM-Solver++ with the same 10 calls is about twice as close, and with 20 calls it
# is nearly the reference. Heun with 5 steps (9 calls) is the farthest of them: five steps mean giant
# leaps in σ (section 2), and a second-order method's error grows fastest when its steps are large;
# look at the second image. Ancestral DDPM starts from the same noise but injects fresh noise at every
# step, so it ends somewhere else entirely: the same kind of images, different ones.
#
# ## 5. DDIM inversion: from an image to its noise
#
# A deterministic sampler is an invertible map between noises and images, up to its discretisation
# error. Running the η = 0 step with t increasing (`invert_loop`) encodes a real test image into an x_T;
# decoding that x_T with DDIM over the same steps should give the image back. The encoder needs ε̂ at
# the level it is heading to while it only knows the current state, so it evaluates the network at the
# target t on the current, slightly less noisy state (as diffusers' `DDIMInverseScheduler` does). That
# approximation is the round trip's only error, and it shrinks with the step size:

# %%
test_images, test_labels = load_fashion_mnist("test")
real = to_model_range(test_images[:8])


def invert_then_decode(x0, steps):
    with torch.no_grad(), autocast():
        for _, x_T in invert_loop(ddpm.network, x0, ddpm.schedule, steps, prediction_type=ddpm.prediction_type,
                                  grid=ddpm.grid):
            pass
        for _, x, _ in sample_loop(ddpm.network, x_T, ddpm.schedule, steps, "ddim", "trailing", ddpm.prediction_type,
                                   grid=ddpm.grid):  # no x̂0 clipping: decode exactly what was encoded
            pass
    return x_T.float(), x.float()


round_trip = {}
for steps in (10, 50, 100):
    encoded, decoded = invert_then_decode(real, steps)
    round_trip[steps] = (encoded, decoded, float((decoded - real).pow(2).mean().sqrt()))
    print(f"{steps:3d} steps each way: RMS error of the round trip {round_trip[steps][2]:.3f}; "
          f"encoded x_T has mean {encoded.mean():+.2f}, std {encoded.std():.2f}")
assert round_trip[100][2] < round_trip[50][2] < round_trip[10][2] / 2
fig, axes = plt.subplots(4, 8, figsize=(8 * 0.9, 4 * 0.95))
show_images(real, ax=axes[0])
show_images(round_trip[50][0] / 3, ax=axes[1])  # the noise, scaled into view
show_images(round_trip[50][1], ax=axes[2])
show_images(round_trip[10][1], ax=axes[3])
for r, name in enumerate(["test image", "x_T (50 steps)", "decoded, 50", "decoded, 10"]):
    axes[r, 0].text(-3, 14, name, ha="right", va="center", fontsize=7)
plt.subplots_adjust(left=0.14, wspace=0.05, hspace=0.05)
plt.show()

# %% [markdown]
# The encoded x_T (second row, divided by 3 to fit the grey scale) are not typical Gaussian noise: their
# standard deviation is below 1, and the garment's outline, even the lettering of the second image, is still
# visible in them. Decoded with 50 steps they give back the test images; with 10 steps the round trip drifts
# (last row: the two-tone trouser and the blouse come back lighter), because the inversion's approximation,
# ε̂ taken at the wrong noise level, is too coarse with steps that large. The error falls as the steps grow
# (the printout). This is the basis of image editing with diffusion models (chapter 11): encode, change the
# condition or the noise, decode. We can also walk between two encodings. Interpolating on the sphere
# (spherical linear interpolation, "slerp", which keeps the norm of high-dimensional noise instead of
# shrinking it as a straight line would) and decoding every point gives a path from a pullover to a trouser:

# %%
def slerp(a, b, u):
    omega = torch.arccos((a * b).sum() / (a.norm() * b.norm()))
    return (torch.sin((1 - u) * omega) * a + torch.sin(u * omega) * b) / torch.sin(omega)


encoded = round_trip[50][0]
i, j = 1, 2  # test images 1 and 2: a pullover and a trouser
path = torch.stack([slerp(encoded[i], encoded[j], u) for u in torch.linspace(0, 1, 8)])
with torch.no_grad(), autocast():
    for _, walk, _ in sample_loop(ddpm.network, path, ddpm.schedule, 50, "ddim", "trailing", ddpm.prediction_type,
                                  grid=ddpm.grid):
        pass
show_images(walk.float(), titles=[f"u = {u:.2f}" for u in torch.linspace(0, 1, 8).tolist()])
plt.show()

# %% [markdown]
# Every point of the path decodes to a garment, never to a double exposure of the two ends: the print
# fades first, the pullover passes through a T-shirt, and then it becomes a trouser. A straight-line blend of the two
# *images* would show both at once; the sampler maps every noise on the way to something that looks like
# data.
#
# ## 6. Quality against network calls, measured
#
# Pictures of eight images cannot rank samplers. The benchmark `benchmarks/sampling.py samplers` draws
# 1,000 images from the chapter-04 model with every sampler at several step counts (same seed), times
# them on this machine's 2 threads, and measures FID and KID against 1,000 test images on the book
# classifier's features (chapter 04), beside the real-vs-real floor at the same N. That takes the better
# part of an hour (ancestral DDPM alone makes a million network calls), so the chapter reads its
# results file:

# %%
results_path = Path("../benchmarks/results/samplers.json")
results = json.loads(results_path.read_text())
entries = results["entries"]
floor = entries[0]["fid_floor"]
timing = results.get("timing", {"images": results["num_images"], "threads": results["threads"]})
print(f"{results['num_images']:,} samples each, torch {results['torch']}; real-vs-real floor FID {floor:.1f}; "
      f"seconds per 1,000 images timed on {timing['images']} images with {timing['threads']} thread(s)\n")
print(f"{'sampler':9s} {'steps':>5s} {'calls':>6s} {'FID':>7s} {'KID':>6s} {'s/1000 img':>11s}")
for e in sorted(entries, key=lambda e: (e["sampler"], e["network_calls"])):
    print(f"{e['sampler']:9s} {e['steps']:5d} {e['network_calls']:6d} {e['fid']:7.1f} {e['kid']:6.1f} "
          f"{e['seconds_per_1000']:11.1f}")

fig, ax = plt.subplots(figsize=(6.5, 3.8))
for k, sampler in enumerate(("ddpm", "ddim", "heun", "dpmpp_2m")):
    pts = sorted((e["network_calls"], e["fid"]) for e in entries if e["sampler"] == sampler)
    ax.plot(*zip(*pts), "o-", color=f"C{k}", label=sampler + (" (= euler)" if sampler == "ddim" else ""))
ddpm_1000 = next(e for e in entries if e["sampler"] == "ddpm" and e["steps"] == 1000)
ax.axhspan(ddpm_1000["fid"], 1.1 * ddpm_1000["fid"], color="C0", alpha=0.15, label="DDPM-1000 + 10 %")
ax.axhline(floor, color="grey", ls="--", label="real-vs-real floor")
ax.set(xscale="log", yscale="log", xlabel="network calls per image", ylabel=f"FID ({results['num_images']} samples)",
       title="quality against cost, the book's model")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The curves tell the story of sections 2 and 3 on real data. Ancestral DDPM is by far the worst sampler
# at few steps: every step adds fresh noise that a short chain cannot remove. DDIM (Euler) improves
# steadily with calls, and slowly: with 50 calls it is still above the other two. DPM-Solver++(2M)
# with 20 calls beats DDIM with 50 by 3 FID, and so does Heun with 10 steps (19 calls) by 2; with 5
# steps (9 calls) Heun beats DDIM with 20. (On the Gaussian of section 3, DPM-Solver++ was the more
# accurate per call, as it is here; a real network's ODE is not that Gaussian's, which is why we
# measure.) The second-order samplers then level off: more calls solve the ODE more exactly, but the
# ODE of this network, not the data's, and at N = 1,000 differences of a few FID between them are
# within the measurement's own noise (Heun with 25 steps, 49 calls, is the lowest in the table, but
# only 1 below DPM-Solver++ with 20). Ancestral DDPM needs all 1,000 steps to come near that level.
# (On this model "1,000 steps" are 678 network calls: the linear schedule's 1,000 noise levels include
# 326 above σ = 10, where the cosine schedule has only its last few dozen timesteps, so neighbouring
# levels fall on the same t and are merged; the next subsection explains the grid.) The DPM-Solver++
# paper asks whether about 20 calls can match 1,000-step ancestral sampling within 10 % of FID; for
# this model the answer is printed below, beside the same comparison for four earlier checkpoints of
# the book: the same recipe with linear βt (`samplers_vlinear.json`), and then also with ε-prediction
# (`samplers_eps.json`), the ε-recipe trained on randomly mirrored images (`samplers_mirrored.json`;
# chapter 04, section 7, says why the mirrors cost so much), and the probe's recipe for 7,000 steps,
# which also had no min-SNR weighting (`samplers_probe60.json`).

# %%
best_20 = min((e for e in entries if e["network_calls"] <= 20), key=lambda e: e["fid"])
ratio = best_20["fid"] / ddpm_1000["fid"]
print(f"best with ≤ 20 calls: {best_20['sampler']} {best_20['steps']} steps, FID {best_20['fid']:.1f}; "
      f"DDPM-1000 FID {ddpm_1000['fid']:.1f}: ratio {ratio:.2f} "
      f"({'within' if ratio <= 1.1 else 'not within'} 10 %)")
print(f"time per 1,000 images: {best_20['seconds_per_1000']:.0f} s against {ddpm_1000['seconds_per_1000']:.0f} s")
by = {(e["sampler"], e["steps"]): e["fid"] for e in entries}
models = {"this model (v, cosine, min-SNR-5)": by}
for name, file in (("v, linear βt (min-SNR-5)", "samplers_vlinear.json"),
                   ("ε-prediction (min-SNR-5)", "samplers_eps.json"),
                   ("ε, mirrored images (min-SNR-5)", "samplers_mirrored.json"),
                   ("probe-60 (plain ε-loss, mirrored)", "samplers_probe60.json")):
    models[name] = {(e["sampler"], e["steps"]): e["fid"]
                    for e in json.loads(Path(f"../benchmarks/results/{file}").read_text())["entries"]}
ode_level = {}  # the best FID of any ODE sampler (not ancestral DDPM), per model
for name, fids in models.items():
    ode_level[name] = min(fid for (sampler, _), fid in fids.items() if sampler != "ddpm")
    print(f"{name:34s} best ODE sampler FID {ode_level[name]:5.1f}, DDPM-1000 {fids[('ddpm', 1000)]:5.1f}")
share = {kind: float((NoiseSchedule.make(kind, 1000).sigmas < 5 ** -0.5).double().mean())
         for kind in ("linear", "cosine")}
print("share of training timesteps with SNR > 5 (σ < 0.45), where min-SNR-5 down-weights: "
      + ", ".join(f"{kind} {v:.0%}" for kind, v in share.items()))
assert by[("dpmpp_2m", 20)] < by[("heun", 10)] < by[("ddim", 50)] < by[("ddim", 20)] < by[("ddpm", 20)]
assert by[("heun", 5)] < by[("ddim", 20)] and by[("heun", 25)] == min(by.values())  # 9 calls against 20
for name, fids in models.items():  # linear min-SNR models: DDPM-1000 well above the ODE samplers' level
    gap = fids[("ddpm", 1000)] - ode_level[name]
    assert (gap > 5) if "min-SNR" in name and "cosine" not in name else (gap < 5), name

# %% [markdown]
# The models disagree about ancestral sampling. For the probe's, DDPM-1000 ends well *below* the ODE
# samplers' level: its fresh noise at every step keeps correcting the errors the imperfect network
# makes, where an ODE sampler carries them along (Karras et al. 2022, Sec. 4, make the same observation
# and add a controlled amount of noise to their ODE samplers for it). For the three min-SNR models
# trained with linear βt, v or ε, with and without mirrored training images, it ends well above. One
# reading: min-SNR-5 takes weight off the nearly clean timesteps, where SNR_t > 5 (σt < 0.45: t < 130
# with linear βt; chapter 04, section 7), and those are where an ancestral sampler spends 130 of its
# steps, removing the noise it has just added; a network trained to care less there serves the ODE
# samplers, which cross that range in a few steps, better than it serves DDPM. The book's model fits
# that reading too: with the cosine schedule and t drawn uniformly in training, twice the share of
# its training examples lies in that range (the last line printed), and its DDPM-1000 lands within 4
# FID of the ODE samplers and below DDIM-50, with the same 130 steps there. We have not tested the
# reading: the models also differ in their skips, batch, target and length of training, and float32
# replicas of seven min-SNR models on a GPU (chapter 04's one-hour variants, scored with
# `recipe_search.py --samplers ddpm-1000`) put DDPM-1000 anywhere from 8 FID below DPM-Solver++-20 to
# 7 above it. The rule that survives all of them: measure the sampler on the model.

# %% [markdown]
# A small live check of the ordering, at a sample size a notebook can afford: 250 images with DDIM and
# with DPM-Solver++, 10 calls each, against 250 test images, and the floor at N = 250 (training against
# test images). FIDs at N = 250 sit higher than at N = 1,000 (chapter 04's sample-size bias), so compare
# these numbers with each other only.

# %%
classifier = load_classifier()
n_live = 250
g = torch.Generator().manual_seed(0)
ref_feats, _ = classifier_outputs(classifier, to_model_range(test_images[torch.randperm(10_000, generator=g)[:n_live]]))
train_images, _ = load_fashion_mnist("train")
real_feats, _ = classifier_outputs(classifier, to_model_range(train_images[torch.randperm(60_000, generator=g)[:n_live]]))
live = {}
for sampler in ("ddim", "dpmpp_2m"):
    start = time.perf_counter()
    feats, _ = classifier_outputs(classifier, generate(ddpm, n_live, sampler, 10, seed=3, progress=False))
    live[sampler] = frechet_distance(feats, ref_feats)
    print(f"{sampler:9s} 10 calls: FID {live[sampler]:6.1f} ({time.perf_counter() - start:.1f} s)")
print(f"floor at N = {n_live}: FID {frechet_distance(real_feats, ref_feats):6.1f}")
assert live["dpmpp_2m"] < live["ddim"]

# %% [markdown]
# ### The noise levels the steps visit
#
# In the σ view a sampler is a list of noise levels, from large to 0: the network sees the state only
# at those levels, and each step carries x̃ from one to the next. Which timesteps t give those levels
# depends on the schedule the network was trained with, and the book's model is trained with the
# cosine schedule of chapter 01, not the linear one of sections 1–3 (chapter 04, section 7, says why).
# Here are the levels that 10 "trailing" steps visit on each:

# %%
linear = NoiseSchedule.make("linear", 1000)
trailing_10 = timesteps(1000, 10, "trailing").tolist()
visited_10 = ddpm.sampling_timesteps(10, "trailing")  # the book's model: linear's noise levels, its own t's
print(f"{'t':>5s} {'σ, linear':>10s} {'σ, cosine':>10s}   the book's model visits")
for t, own in zip(trailing_10, visited_10):
    print(f"{t:5d} {sigma_at(linear, t):10.3g} {sigma_at(ddpm.schedule, t):10.3g}   "
          f"t = {own:3d}, σ = {sigma_at(ddpm.schedule, own):.3g}")
ratios = [sigma_at(linear, a) / sigma_at(linear, b) for a, b in zip(trailing_10, trailing_10[1:])]
print(f"linear: σ falls by a factor {min(ratios):.1f} to {max(ratios):.1f} per step; cosine: "
      f"{sigma_at(ddpm.schedule, 999) / sigma_at(ddpm.schedule, 899):,.0f} on the first step")
assert max(ratios) < 3 and sigma_at(ddpm.schedule, 999) > 100 * sigma_at(ddpm.schedule, 899)

# %% [markdown]
# On the cosine schedule, ᾱt at t = 999 is about 2·10⁻⁹, so σ there is about 20,000, and the first trailing
# step would jump from there to 6.4 while the other nine crowd below it. On the linear schedule σ falls by a
# factor of about 2 per step, from 157 to 0.34: nearly evenly spaced in log σ, that is in log-SNR, one of
# the spacings the DPM-Solver paper studies (Lu et al. 2022). The training schedule and the sampler's noise
# levels are separate choices (Karras et al. 2022 make the same separation), so the book's model samples at
# the linear schedule's levels. Its recipe sets `sampling_schedule="linear"`, and `DDPM.sample_steps` then
# visits, for each of linear's timesteps, the cosine t with the nearest σ (`schedules.matched_timesteps`;
# the right-hand column). Every sample of the book's model in this chapter was drawn that way. What the grid
# does to the samples, measured by `benchmarks/sampling.py grid` (1,000 images per row, same seed):

# %%
grid_results = json.loads(Path("../benchmarks/results/grid.json").read_text())["entries"]
by_grid = {(e["sampler"], e["steps"], e["noise_levels_of"]): e for e in grid_results}
print(f"{'sampler':9s} {'steps':>5s} {'FID, cosine t':>14s} {'FID, linear σ':>14s}")
for sampler, steps in sorted({(s, n) for s, n, _ in by_grid}, key=lambda k: k[1]):
    own, lin = by_grid[sampler, steps, "cosine"], by_grid[sampler, steps, "linear"]
    print(f"{sampler:9s} {steps:5d} {own['fid']:14.1f} {lin['fid']:14.1f}")
assert all(by_grid[s, n, "linear"]["fid"] < by_grid[s, n, "cosine"]["fid"] for s, n, _ in by_grid)
assert by_grid["heun", 10, "cosine"]["fid"] > 10 * by_grid["heun", 10, "linear"]["fid"]

# %% [markdown]
# The same 8 starting noises as in section 4, Heun with 10 steps, at the cosine schedule's own trailing
# timesteps and at the linear schedule's noise levels:

# %%
with torch.no_grad(), autocast():  # sample_loop, not sample_steps: no grid
    own_states = [x.float() for _, x, _ in sample_loop(ddpm.network, x_T, ddpm.schedule, 10, "heun", "trailing",
                                                        ddpm.prediction_type, clip_x0=ddpm.clip_x0)]  # its own t's
first_state, heun_own = own_states[0], own_states[-1]
heun_linear = run("heun", 10, x_T)  # section 4's helper: the model's own sampling settings
fig, axes = plt.subplots(2, 8, figsize=(8 * 0.9, 2 * 0.95))
show_images(heun_own.clamp(-1, 1), ax=axes[0])
show_images(heun_linear, ax=axes[1])
for row, label in zip(axes, ("cosine t's", "linear σ's")):
    row[0].text(-3, 14, label, ha="right", va="center", fontsize=8)
plt.subplots_adjust(left=0.13, wspace=0.05, hspace=0.05)
plt.show()
print(f"after Heun's first step on the cosine t's, max |x_t| = {first_state.abs().max():.0f}; "
      f"in the starting noise x_T: {x_T.abs().max():.1f}")
assert first_state.abs().max() > 20

# %% [markdown]
# Heun's step averages the slopes at its two ends, (d + d′)/2, and multiplies by the step's length in σ.
# From σ ≈ 20,000 to 6.4 that length is 20,000, so any difference between the slopes at the two ends,
# which the first-order Euler step would ignore, is multiplied twenty-thousandfold: after that first
# step the state is far outside anything the network saw in training, and the rest of the run cannot
# recover (the top row). DDIM and DPM-Solver++ take a first-order first step and survive, but they too
# are better at the linear schedule's levels, by the table above. With the right grid the cosine model
# is better than the book's earlier linear-βt model with every sampler (chapter 04, section 7, and
# benchmarks/RESULTS.md compare them).

# %% [markdown]
# ### Cheaper calls: reusing the deep features
#
# Every sampler above pays for whole network calls. Chapter 03 showed where a call's work goes:
# convolutions, spread over all three levels, and that PyTorch's own switches take little off their
# time. So the other way to sample faster is to compute less per call. Adjacent steps of a sampler see nearly the same image, and
# DeepCache (Ma et al. 2024) bets that the UNet's coarse levels then compute nearly the same features.
# The package splits `UNet.forward` into three parts for this: `top_down` (embeddings, `conv_in` and
# down level 0), `deep` (everything below level 0 and back up, ending in the features that enter up
# level 0), and `top_up` (up level 0 and the output layers). Here is how much each part's output moves
# from one DDIM step to the next, along 50 steps for 16 images:

# %%
net = ddpm.network.eval()
moves = {"deep features: change since the step before": [],
         "v̂: change since the step before": [],
         "v̂ computed with the deep features of the step before: its error": []}
last = {}  # the previous call's deep features and output


def recording(x, t):
    """The network, split in three, noting how far its deep features and its output moved since the
    last call, and what reusing the last call's deep features would have done to the output."""
    h, emb, skips = net.top_down(x, t)
    kept = net.deep(h, emb)
    out = net.top_up(kept, emb, list(skips))  # top_up takes the skips off the list, so give it a copy
    if last:
        stale = net.top_up(last["kept"], emb, list(skips))
        for trace, now, before in zip(moves.values(), (kept, out, out), (last["kept"], last["out"], stale)):
            trace.append(float((now - before).norm() / now.norm()))
    last.update(kept=kept, out=out)
    return out


x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(2))
with torch.no_grad():
    for _ in ddpm.sample_steps(x, 50, "ddim", "trailing", network=recording):
        pass
fig, ax = plt.subplots(figsize=(6.5, 3.2))
for name, trace in moves.items():
    ax.plot(range(2, 51), trace, label=name)
ax.set(yscale="log", xlabel="DDIM step (of 50; noisy → clean)", ylabel="relative change",
       title="16 images, 50 DDIM steps: what moves between adjacent steps")
ax.legend(fontsize=7)
plt.show()
median_move = {name: sorted(trace)[len(trace) // 2] for name, trace in moves.items()}
for name, m in median_move.items():
    print(f"median over the steps, {name}: {m:.3f}")

# %% [markdown]
# The bet does not hold as stated: the deep features move 0.5–35 % from one step to the next, more
# than the network's output v̂ itself (about 1.4 times, by the medians printed above; the book's model
# predicts v, chapter 04). What makes reuse work anyway is the third curve. Computing v̂ with the deep
# features of the step before, instead of fresh ones, changes it by less than v̂ changes from one step
# to the next anyway, about half as much over the second half of the run: level 0, which is recomputed
# at every call, and its skip carry most of what v̂ needs, and the deep part's latest change reaches v̂
# damped by the up block. All three curves are highest at the clean end, where each step removes the
# most noise relative to what is left, so that is where reuse does the most harm.

# %%
assert median_move["deep features: change since the step before"] > 1.3 * median_move["v̂: change since the step before"]
assert (median_move["v̂ computed with the deep features of the step before: its error"]
        < median_move["v̂: change since the step before"])

# %% [markdown]
# `unet.DeepCache(network, every)` runs the whole network on every `every`-th call and only `top_down`
# and `top_up` on the calls between, with the deep features of the last full call; `generate(...,
# cache_every=N)` and `python -m diffusion_lite sample --cache-every N` use it. Here are the same 8
# starting noises as in section 4, with DDIM and 50 steps, and the deep features computed on every call,
# every 2nd, 3rd and 5th:

# %%
live_cache = {}
for every in (1, 2, 3, 5):
    start = time.perf_counter()
    with torch.no_grad(), autocast():
        for _, x, _ in ddpm.sample_steps(x_T, 50, "ddim", "trailing", network=DeepCache(net, every)):
            pass
    live_cache[every] = x.float()
    print(f"every {every}: {time.perf_counter() - start:.1f} s for 8 images; "
          f"RMS from the images of the plain network {(live_cache[every] - live_cache[1]).pow(2).mean().sqrt():.3f}")
gaps = [float((live_cache[every] - live_cache[1]).pow(2).mean().sqrt()) for every in (1, 2, 3, 5)]
assert gaps[0] == 0 < gaps[1] < gaps[2] < gaps[3]
fig, axes = plt.subplots(4, 8, figsize=(8 * 0.9, 4 * 0.95))
for row, (every, imgs) in zip(axes, live_cache.items()):
    show_images(imgs, ax=row)
    row[0].text(-3, 14, f"every {every}", ha="right", va="center", fontsize=8)
plt.subplots_adjust(left=0.12, wspace=0.05, hspace=0.05)
plt.show()

# %% [markdown]
# What it buys, measured by `benchmarks/sampling.py cache` on 1,000 images per row (2 threads, nothing
# else running, same seed; FID against the floor as above):

# %%
cache_results = json.loads(Path("../benchmarks/results/deepcache.json").read_text())
print(f"{'sampler':9s} {'steps':>5s} {'every':>6s} {'full calls':>10s} {'FID':>6s} {'KID':>6s} {'s/1000 img':>11s}")
cached = {}
for e in cache_results["entries"]:
    cached[e["sampler"], e["steps"], e["cache_every"]] = e
    print(f"{e['sampler']:9s} {e['steps']:5d} {e['cache_every']:6d} {e.get('full_network_calls', e['network_calls']):10d} "
          f"{e['fid']:6.1f} {e['kid']:6.1f} {e['seconds_per_1000']:11.1f}")

# %% [markdown]
# Reuse turns the same starting noise into the same garments; every 2nd call is hard to tell from the
# plain network, every 3rd changes small details, every 5th roughens textures and leaves specks. On
# 1,000 images, DDIM with 50 steps and the deep features of every 3rd call draws in 33 s instead of
# 55 s, for 4 more FID; every 2nd call saves a quarter of the time for 1 FID. A cached call costs
# about 40 % of a full one in this run: level 0's blocks are 26 % of this network's FLOPs (59 of 229
# MFLOP per image), and its 28×28 maps are the slowest to move through memory. (This machine's timings
# move by 10–30 % between runs hours apart: the same run on the book's previous checkpoint, the same
# network, took 47 s and 27 s.) Reuse and chapter 03's batch per core (`sample --workers 2`) add up:
# `benchmarks/sampling.py workers` timed DDIM-50 on 1,000 images in turn, three rounds, in a slower
# hour: 57.7 s one batch at a time, 50.8 s a batch per core, 42.8 s with every 2nd call in full and
# 35.8 s with both (medians).
#
# On the second-order samplers reuse costs far more: DPM-Solver++-20 with every 2nd call loses 4.5
# FID, Heun-10 loses 13. Both correct their step with the *difference* of two x̂0, Heun's between the two ends
# of one step, DPM-Solver++'s between this step and the last; with every 2nd call reused, each Heun
# corrector runs on its own predictor's deep features, and a difference of two nearly equal estimates
# is exactly what a stale part spoils. So the two ways to sample faster do not add up here, and the
# better sampler wins outright: Heun-10 without reuse is both faster and better than DDIM-50 with any
# reuse in the table. Feature reuse pays where a model needs many steps of a first-order sampler; the
# book's `generate` leaves it off by default.

# %%
ddim_cached = [e for (sampler, _, every), e in cached.items() if sampler == "ddim" and every > 1]
heun_10 = cached["heun", 10, 1]
assert cached["ddim", 50, 3]["seconds_per_1000"] < 0.65 * cached["ddim", 50, 1]["seconds_per_1000"]
assert [cached["ddim", 50, every]["fid"] for every in (1, 2, 3, 5)] == sorted(cached["ddim", 50, every]["fid"]
                                                                             for every in (1, 2, 3, 5))
assert cached["heun", 10, 2]["fid"] - heun_10["fid"] > cached["ddim", 50, 2]["fid"] - cached["ddim", 50, 1]["fid"] + 10
assert all(heun_10["fid"] < e["fid"] and heun_10["seconds_per_1000"] < e["seconds_per_1000"] for e in ddim_cached)

# %% [markdown]
# ### Where the steps end
#
# One more variable hides in the curve at the start of this section. With "trailing" spacing, n steps
# are evenly spaced from t = 999 down to t = T/n − 1, and from there the last step jumps straight to
# x̂0. So 10 steps stop at t = 99, 20 at t = 49, and 50 at t = 19: more steps also means that the sampler
# goes on stepping nearer the clean image, in the range where SNR_t > 5 (σ < 0.45, t < 130 on the
# linear grid) that min-SNR-5 weighted least in training (chapter 04, section 7).
# `timesteps(T, n, "linspace", last_t=...)` separates the two: n steps evenly spaced from T − 1 down to
# any last t ("trailing" is the case last_t = T/n − 1, a test checks); these t's are the linear grid's,
# and the book's model visits their noise levels, as everywhere in this chapter. `generate(...,
# last_t=...)` and `python -m diffusion_lite sample --last-t` use it. `benchmarks/sampling.py last`
# drew 1,000 images for each row (2 threads; FID against the same floor as above):

# %%
last_results = json.loads(Path("../benchmarks/results/last_step.json").read_text())
T = ddpm.schedule.num_timesteps
ends = {}  # (sampler, steps, cache_every, seed, last t) -> entry
print(f"{'sampler':9s} {'steps':>5s} {'every':>5s} {'seed':>4s} {'last t':>6s} {'σ there':>7s} {'FID':>6s} "
      f"{'KID':>6s} {'s/1000 img':>11s}")
for e in last_results["entries"]:
    last = T // e["steps"] - 1 if e["last_t"] is None else e["last_t"]  # "trailing" ends at T/n − 1
    ends[e["sampler"], e["steps"], e["cache_every"], e["seed"], last] = e
    print(f"{e['sampler']:9s} {e['steps']:5d} {e['cache_every']:5d} {e['seed']:4d} "
          f"{last:6d}{'*' if e['last_t'] is None else ' '} {sigma_at(linear, last):7.3f} {e['fid']:6.1f} "
          f"{e['kid']:6.1f} {e['seconds_per_1000']:11.1f}")
print("* the trailing spacing's own end")

# %% [markdown]
# On the book's previous model, the same recipe with linear βt, where the steps end mattered as much
# as anything else in this section: for DDIM-50, ending at t = 74 instead of trailing's t = 19 lowered
# FID by 3.5 to 5.4 and KID by 4.6 to 5.8 on each of three seeds. On the book's model it hardly moves
# FID (the lines printed below): ending at t = 74 is within 1.3 of ending at t = 19 on each seed,
# lower on one and higher on two, and only ending later than that costs (2.6 more at t = 99, 5.4 at
# t = 124). KID still prefers the later end, by 1.6 to 2.6 on each seed. That fits the reading of the
# ancestral samplers above: the linear-βt model, trained least at σ < 0.45, gained from not stepping
# there; the cosine model, trained on twice the share of those noise levels, loses little by it.
#
# DPM-Solver++-20 is best where trailing spacing already ends it (t = 49). Heun-10, whose trailing end
# is t = 99, still gains from going further: ending at t = 74 is 1.4 to 3.1 FID lower on each of four
# seeds, 19.3 to 27.0, and ending at t = 49 (seed 0) 24.8. Every one of these is within 3× the floor
# (31.4), at 1.8–2.6×: the best numbers the book measures for its unconditional model, at 19 calls per
# image.

# %%
fid_at = {key: e["fid"] for key, e in ends.items()}
before = {}  # the same grid on the linear-βt model
for e in json.loads(Path("../benchmarks/results/last_step_vlinear.json").read_text())["entries"]:
    last = T // e["steps"] - 1 if e["last_t"] is None else e["last_t"]
    before[e["sampler"], e["steps"], e["cache_every"], e["seed"], last] = e
for seed in (0, 1, 2):  # DDIM-50 ending at t = 74 instead of 19: what it bought each model
    now = {k: ends["ddim", 50, 1, seed, 19][k] - ends["ddim", 50, 1, seed, 74][k] for k in ("fid", "kid")}
    then = {k: before["ddim", 50, 1, seed, 19][k] - before["ddim", 50, 1, seed, 74][k] for k in ("fid", "kid")}
    print(f"seed {seed}: DDIM-50 ending at t = 74 instead of 19 lowers FID / KID by "
          f"{now['fid']:+.1f} / {now['kid']:+.1f} on this model, {then['fid']:+.1f} / {then['kid']:+.1f} "
          "on the linear-βt model")
    assert then["fid"] > 3 and then["kid"] > 4 and abs(now["fid"]) < 1.5 and now["kid"] > 1, seed
ddim_ends = {last: fid for (sampler, _, every, seed, last), fid in fid_at.items()
             if (sampler, every, seed) == ("ddim", 1, 0)}
assert ddim_ends[49] < ddim_ends[19] < ddim_ends[99] < ddim_ends[124]
dpmpp_ends = {last: fid for (sampler, *_, last), fid in fid_at.items() if sampler == "dpmpp_2m"}
assert min(dpmpp_ends, key=dpmpp_ends.get) == 49
assert fid_at["heun", 10, 1, 0, 49] < fid_at["heun", 10, 1, 0, 74]
for seed in (0, 1, 2, 3):  # Heun-10 ending at t = 74 instead of 99: lower on every seed, within 3× the floor
    assert 1 < fid_at["heun", 10, 1, seed, 99] - fid_at["heun", 10, 1, seed, 74] < 3.5
    assert fid_at["heun", 10, 1, seed, 99] < 3 * ends["heun", 10, 1, seed, 99]["fid_floor"]

# %% [markdown]
# What changes in the pictures? The same 8 starting noises as in section 4, DDIM-50 ending at t = 19
# and at t = 74, and their difference (grey: none; white: brighter at t = 19), then a sharpness measure,
# the mean absolute Laplacian of the pixels, on 100 samples of each against 1,000 test images:

# %%
ending = {last: run("ddim", 50, x_T, "linspace", last) for last in (19, 74)}  # section 4's helper
fig, axes = plt.subplots(3, 8, figsize=(8 * 0.9, 3 * 0.95))
show_images(ending[19], ax=axes[0])
show_images(ending[74], ax=axes[1])
show_images((ending[19] - ending[74]) * 4, ax=axes[2])
for row, label in zip(axes, ("last t = 19", "last t = 74", "difference × 4")):
    row[0].text(-3, 14, label, ha="right", va="center", fontsize=8)
plt.subplots_adjust(left=0.13, wspace=0.05, hspace=0.05)
plt.show()

laplacian = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3)


def sharpness(images):
    """Mean |Laplacian| of images in [−1, 1]: how much the pixels change from one to the next."""
    return float(torch.nn.functional.conv2d(images.float(), laplacian).abs().mean())


start = time.perf_counter()
sharp = {"test images (1,000)": sharpness(to_model_range(test_images[:1000]))}
for last in (19, 74):
    sharp[f"DDIM-50, last t = {last} (100)"] = sharpness(generate(ddpm, 100, "ddim", 50, seed=4, progress=False,
                                                                  last_t=last))
for name, value in sharp.items():
    print(f"{name:28s} mean |Laplacian| {value:.3f}")
print(f"({time.perf_counter() - start:.1f} s)")
assert sharp["DDIM-50, last t = 74 (100)"] < sharp["DDIM-50, last t = 19 (100)"] < sharp["test images (1,000)"]

# %% [markdown]
# The garments are the same; the difference is a fine, pixel-scale grain spread over each of them.
# That grain is what trailing spacing's last small steps add. By the pixels, ending at t = 74 makes the
# samples smoother, and so further from the test images' sharpness; by KID on the classifier's
# features, it brings them closer to the test set, and by FID, on this model, it is level (on the
# linear-βt model both went down). Both can hold: the real images' sharpness lies in edges, seams and
# prints, while the grain has no structure. One measure of quality is one view of it.
#
# The book keeps trailing spacing as `generate`'s default, so every number before this subsection stays
# comparable with the others. For DDIM-50 on this model any end from t = 19 to 74 is as good by FID;
# for Heun-10, `last_t=74` is the better choice. Which end is best depends on the model and the sampler
# (the linear-βt model's best DDIM end was not this one's), so measure it, as the benchmark does.

# %% [markdown]
# ## 7. Exercises
#
# Replace each `None` with your answer and run the cell. The inputs are defined in `checks/ch05.py`;
# the solutions are in `solutions/ch05.py`.

# %%
from checks.ch05 import (check_cache_flops, check_dpmpp_order, check_euler_step, check_heun_calls,  # noqa: E402
                         check_last_t, check_sigma)

# %% [markdown]
# **Exercise 1.** What is σt = √((1 − ᾱt)/ᾱt) at t = 499 for the linear schedule (βt from 1e-4
# to 0.02, T = 1,000)? Use `schedule.alphas_cumprod`, not `schedule.sigmas`.

# %%
answer = None  # a float
check_sigma(answer);

# %% [markdown]
# **Exercise 2.** How many network calls does Heun with 25 steps make to draw 1,000 images?

# %%
answer = None  # an integer
check_heun_calls(answer);

# %% [markdown]
# **Exercise 3.** One Euler step by hand, in the σ view. A pixel has x_t = 0.3 at t = 600 (ᾱ view) and
# the network says x̂0 = 0.8. What is x_s at s = 400, in the ᾱ view? Go to the σ view, step, come back.

# %%
answer = None  # a float
check_euler_step(answer);

# %% [markdown]
# **Exercise 4.** Measure the order of DPM-Solver++(2M) between 20 and 40 steps: p = log2(e20/e40), with
# e_n the error of section 3's `ode_error("dpmpp_2m", n)`. Is it still near 2? Why not (section 3's
# last paragraph)?

# %%
answer = None  # a float
check_dpmpp_order(answer);

# %% [markdown]
# **Exercise 5.** DDIM with 50 steps through `DeepCache(network, 3)`, for the book's checkpoint network:
# how many times fewer FLOPs per image than the plain network? A full call costs 229 MFLOP per image, a
# cached call 59 (section 6), and the first call always runs in full.

# %%
answer = None  # a float
check_cache_flops(answer);

# %% [markdown]
# **Exercise 6.** DDIM with 30 steps and "trailing" spacing (T = 1,000): at which t does it call the
# network for the last time, before its last step jumps to the clean image? Work it out from the
# spacing's definition (section 2 and `schedules.timesteps`), not by calling `timesteps`.

# %%
answer = None  # an integer
check_last_t(answer);

# %% [markdown]
# ## Summary
#
# - DDPM's loss depends only on the marginals q(x_t | x0). DDIM's family of forward processes shares
#   them, so the same network can be sampled on any subsequence of timesteps, with any η: η = 1 is
#   ancestral DDPM, η = 0 a deterministic map from noise to images.
# - In the σ view x̃ = x_t/√ᾱt = x0 + σ·ε, deterministic DDIM is Euler's method for the probability-flow
#   ODE dx̃/dσ = ε̂. The package's `euler_step` and `ddim_step` agree to 1e-12.
# - Heun (two calls per step) and DPM-Solver++(2M) (one call, reusing the last x̂0) are second-order
#   solvers of the same ODE; on a Gaussian, where the exact solution is known, their error falls about
#   four times faster than Euler's per doubling of steps. Per network call, DPM-Solver++ is the best of
#   the three.
# - DDIM inversion runs the deterministic step forwards to turn an image into its noise; decoding gives
#   the image back, and interpolating between encodings gives smooth paths between images.
# - On the book's model, with FID read against its floor at the same N, DPM-Solver++ with 20 calls
#   and Heun with 10 steps (19 calls) beat DDIM with 50 and ancestral DDPM with hundreds: rank samplers
#   on the model. The measured table above gives the seconds per 1,000 images.
# - A sampler is a list of noise levels, and the training schedule need not choose it. The cosine
#   schedule's own trailing timesteps start at σ ≈ 20,000 and break Heun; the book's model, trained
#   with the cosine schedule, samples at the linear schedule's levels (`sampling_schedule="linear"`,
#   `schedules.matched_timesteps`), which is better with every sampler measured.
# - Reusing the UNet's deep features between calls (`DeepCache`, `cache_every`) makes a call about
#   2.5× cheaper: DDIM-50 draws 1,000 images in about 60 % of the time with every 3rd call in full, for
#   4 more FID. Heun and DPM-Solver++ lose far more, because their corrections are differences of two
#   network outputs; Heun-10 without reuse stays faster and better than any cached DDIM-50.
# - With trailing spacing, more steps also means ending nearer the clean image (t = T/n − 1). Where
#   to end is the model's choice: for DDIM-50, ending at t = 74 instead of 19 (`last_t`) lowered FID
#   by 3.5 to 5.4 on the linear-βt model and leaves it level on the book's, which was trained on twice
#   the share of nearly clean noise levels; Heun-10 gains 1.4 to 3.1 from it on each of four seeds,
#   1.8–2.6× the floor. The pixels get slightly smoother while KID on the classifier's features gets
#   closer to the data's: read one metric as one view.
#
# Chapter 06 adds a label to the network and uses guidance to make the samples follow it.
