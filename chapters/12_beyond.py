# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 12 · Beyond
#
# Eleven chapters built one kind of model: DDPM, a chain of 1,000 small Gaussian steps, sampled faster by
# solvers that skip most of them. This chapter connects it to where the field went next, with the book's
# own networks and measured on the same CPU: the **score / SDE view** (Song et al. 2021), in which DDPM is
# one discretisation of a continuous process and every deterministic sampler of chapter 05 solves one
# ordinary differential equation; **flow matching** and **rectified flow** (Lipman et al. 2023; Liu et al.
# 2023), which replace the noise schedule by a straight line and are what Stable Diffusion 3 and FLUX
# train; and how the book's training grows past one process with **`torchrun`**.
#
# **Learning goals.** After this chapter you can
# 1. read DDPM as the variance-preserving SDE, read the score off a trained ε-network, and check it
#    against an exact one;
# 2. integrate a trained model's probability-flow ODE with an adaptive solver and say what DDIM and
#    DPM-Solver++ save against it;
# 3. derive flow matching on the linear path, show that it is a DDPM with another schedule (so every
#    sampler of the book runs on it), and read the measured comparison with DDPM on the same network;
# 4. straighten a flow's paths by one round of reflow and measure the paths before and after;
# 5. train data-parallel with `torchrun` and PyTorch's `DistributedDataParallel`, and read what two
#    processes buy on a two-core machine.

# %%
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from diffusion_lite import DDPM, MLPDenoiser, datasets
from diffusion_lite.checkpoints import build_ddpm, get_recipe, load_model
from diffusion_lite.flow import FlowMatching, path_scale, straightness
from diffusion_lite.generation import ode_sample
from diffusion_lite.metrics import CHECKPOINT_DIR, sliced_wasserstein
from diffusion_lite.plotting import plot_trajectories, scatter_2d, show_images
from diffusion_lite.precision import describe
from diffusion_lite.samplers import ddim_step, sigma_at
from diffusion_lite.training import TrainConfig, Trainer

_ = torch.manual_seed(0)
RESULTS = Path("../benchmarks/results")
print(describe())

# %% [markdown]
# ## 1. DDPM as a stochastic differential equation
#
# The forward step of chapter 01, x_t = √(1 − βt)·x_{t−1} + √βt·z, is for small βt the same as
# x_t − x_{t−1} ≈ −½βt·x_{t−1} + √βt·z: one Euler–Maruyama step, of length 1/T, of the
# **variance-preserving SDE** (Song et al. 2021, Eq. 11)
#
# dx = −½β(t)·x dt + √β(t) dw,  with β(t/T) = T·βt,
#
# whose marginals are x_t = √ᾱ(t)·x0 + √(1 − ᾱ(t))·ε with ᾱ(t) = exp(−∫₀ᵗ β(s) ds). The discrete ᾱt is
# the product of the (1 − βs), the continuous one the exponential of minus their sum, and for the linear
# schedule they agree to within a per cent over the first half of the steps (they part only where ᾱ is
# already tiny, as Σβ² grows). An SDE of this form runs backwards in time as another
# SDE (Anderson 1982; Song et al. 2021, Eq. 6), whose only unknown is the **score** ∇ₓ log p_t(x), the
# direction in which the noisy data's density rises:
#
# dx = [−½β(t)·x − β(t)·∇ₓ log p_t(x)] dt + √β(t) dw̄.

# %%
from diffusion_lite.schedules import NoiseSchedule  # noqa: E402

linear = NoiseSchedule.make("linear", 1000)
discrete = linear.alphas_cumprod
continuous = torch.exp(-torch.cumsum(linear.betas, 0))
for t in (250, 500, 999):
    print(f"t = {t}: ᾱ discrete {float(discrete[t]):.5f}, continuous {float(continuous[t]):.5f}, "
          f"ratio {float(discrete[t] / continuous[t]):.4f}")
assert float((discrete / continuous - 1).abs()[:500].max()) < 0.01

# %% [markdown]
# **The score is the ε-network, rescaled.** For x_t = √ᾱ·x0 + √(1 − ᾱ)·ε the score of q(x_t | x0) is
# −ε/√(1 − ᾱ), and averaging over the x0 that could have produced x_t (Vincent 2011) gives the score of
# the noisy data itself: s(x, t) = −E[ε | x_t]/√(1 − ᾱt) = −ε̂(x, t)/√(1 − ᾱt). So the network that
# chapter 02 trained to predict noise *is* a score model; only the scale differs. We check it where the
# true score is known exactly: eight Gaussians of standard deviation 0.1 on a circle (chapter 02's
# `eight_gaussians`), whose noised density is again a mixture, N(√ᾱ·μk, (0.01·ᾱ + 1 − ᾱ)·I) for each
# centre μk. A small DDPM, trained live on 20,000 points:

# %%
points = datasets.toy_2d("eight_gaussians", 20_000, seed=0)
held_out = datasets.toy_2d("eight_gaussians", 2_000, seed=1)
toy_config = TrainConfig(steps=2000, batch_size=256, lr=2e-3, warmup_steps=100, ema_decay=0.995)
torch.manual_seed(0)
start = time.perf_counter()
toy_ddpm = Trainer(DDPM(MLPDenoiser(dim=2), timesteps=1000, schedule="linear"), points, toy_config)
toy_ddpm.train(progress=False)
toy_ddpm = toy_ddpm.ema.eval()
print(f"trained 2,000 steps in {time.perf_counter() - start:.1f} s")


def exact_score(x, abar, std=0.1):
    """∇ log p_t(x) for the eight Gaussians noised to level ᾱ: a responsibility-weighted pull to each centre."""
    k = torch.arange(8)
    centres = torch.stack([torch.cos(k * math.pi / 4), torch.sin(k * math.pi / 4)], 1) * 1.4 * abar**0.5
    var = std**2 * abar + 1 - abar
    log_w = -((x[:, None] - centres[None]) ** 2).sum(-1) / (2 * var)
    return (log_w.softmax(1)[..., None] * (centres[None] - x[:, None])).sum(1) / var


t = int((toy_ddpm.schedule.alphas_cumprod > 0.85).sum())  # ᾱ ≈ 0.85: blurred, but the eight wells still there
abar = float(toy_ddpm.schedule.alphas_cumprod[t])
grid = torch.stack(torch.meshgrid(torch.linspace(-2, 2, 15), torch.linspace(-2, 2, 15), indexing="xy"), -1).view(-1, 2)
with torch.no_grad():
    learned = -toy_ddpm.network(grid, torch.full((len(grid),), t)) / (1 - abar) ** 0.5
exact = exact_score(grid, abar)
cosine = torch.nn.functional.cosine_similarity(learned, exact, dim=1)
weights = exact.norm(dim=1)  # where the field is strong, the direction matters most
print(f"t = {t} (ᾱ = {abar:.3f}): learned score against exact, cosine similarity weighted by |score|: "
      f"{float((cosine * weights).sum() / weights.sum()):.3f}; median relative error of the vectors "
      f"{float(((learned - exact).norm(dim=1) / exact.norm(dim=1)).median()):.2f}")

fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.6))
for ax, field, title in ((axes[0], exact, "exact score"), (axes[1], learned, "−ε̂/√(1 − ᾱ) of the trained DDPM")):
    ax.quiver(grid[:, 0], grid[:, 1], field[:, 0], field[:, 1], color="C0", angles="xy")
    ax.scatter(held_out[:400, 0] * abar**0.5, held_out[:400, 1] * abar**0.5, s=2, c="grey", alpha=0.4)
    ax.set(xlim=(-2.1, 2.1), ylim=(-2.1, 2.1), aspect="equal", xticks=[], yticks=[], title=title)
plt.suptitle(f"The score of eight Gaussians noised to t = {t}", fontsize=10)
plt.tight_layout()
plt.show()
assert float((cosine * weights).sum() / weights.sum()) > 0.9

# %% [markdown]
# The two fields agree: each arrow points towards the nearest well, longer the farther it is from one. This is
# Song et al.'s unification: DDPM's ε-prediction (Ho et al. 2020) and the noise-conditional score
# networks of Song & Ermon (2019) learn the same function, and the reverse SDE with the learned score in
# it is what the ancestral sampler of chapter 02 discretises.

# %% [markdown]
# ## 2. The probability-flow ODE, solved properly
#
# The same marginals p_t are produced by a deterministic process, the **probability-flow ODE** (Song et
# al. 2021, Eq. 13): dx = [−½β(t)·x − ½β(t)·∇ₓ log p_t(x)] dt. No noise is injected; a starting point
# x_T ~ N(0, I) is carried to one image. Karras et al. (2022, Eq. 4) write it in the σ view of chapter 05,
# x̃ = x_t/√ᾱt = x0 + σ·ε, where it is as simple as it gets:
#
# dx̃/dσ = (x̃ − x̂0(x̃, σ))/σ = ε̂(x̃, σ).
#
# DDIM is this equation's Euler step; Heun and DPM-Solver++ are higher-order solvers of it. A
# general-purpose **adaptive** solver is the check on all of them: SciPy's `solve_ivp` (Dormand–Prince
# RK45) picks its own steps to keep an error estimate under a tolerance. `samplers.probability_flow`
# writes the model's ODE for it, in log σ so that its steps scale with the noise level, the network asked
# at the fractional timestep whose σ is the solver's (its sinusoidal embedding takes any real t), and
# `generation.ode_sample` runs the solver from the largest σ of the sampling grid to the smallest. Live,
# eight images from chapter 04's `fashion_ddpm`, and the same eight starting points through DDIM and
# DPM-Solver++ with ten network calls each:

# %%
ddpm, recipe, meta = load_model(CHECKPOINT_DIR / "fashion_ddpm")
ddpm.clip_x0 = None  # the ODE itself: no clipping of x̂0, for every solver here
x_T = torch.randn((8, 1, 28, 28), generator=torch.Generator().manual_seed(0))
start = time.perf_counter()
ode_images, ode_calls = ode_sample(ddpm, x_T, tolerance=1e-3)
print(f"RK45 at tolerance 1e-3: {ode_calls} network calls per image, {time.perf_counter() - start:.1f} s for 8")
with torch.no_grad():
    fixed = {name: ddpm.sample(x_T.shape, start=x_T, sampler=name, num_steps=10, spacing="trailing")
             for name in ("ddim", "dpmpp_2m")}
for name, x in fixed.items():
    print(f"{name:9s} 10 calls: RMS distance to the ODE solution {float(((x.clamp(-1, 1) - ode_images) ** 2).mean().sqrt()):.3f}")
show_images(torch.cat([ode_images, fixed["ddim"], fixed["dpmpp_2m"]]), ncols=8,
            titles=[f"RK45, {ode_calls} calls"] + [""] * 7 + ["DDIM, 10"] + [""] * 7 + ["DPM-Solver++, 10"] + [""] * 7)
plt.show()

# %% [markdown]
# One equation, three solvers, the same eight garments: DPM-Solver++ in ten calls lands close to the
# adaptive solver's answer, DDIM in ten calls visibly less so (blurrier, its first-order error). The
# benchmark does this for 1,000 images at three tolerances and scores every run by FID:

# %%
pf = json.loads((RESULTS / "probability_flow.json").read_text())
print(f"{pf['num_samples']:,} images from the same noise, {pf['machine']}, {pf['threads']} threads; "
      f"RMS to the tightest solution ({pf['reference']})\n")
print(f"{'solver':14s} {'calls':>6s} {'FID':>7s} {'floor':>6s} {'RMS':>7s} {'seconds':>8s}")
for key, r in sorted(pf["runs"].items(), key=lambda kv: (kv[1]["solver"] != "RK45", kv[1]["solver"], kv[1]["calls"])):
    print(f"{key:14s} {r['calls']:6d} {r['fid']:7.1f} {r['fid_floor']:6.1f} {r['rms_to_reference']:7.3f} {r['seconds']:8.0f}")
rk = {r["tolerance"]: r for r in pf["runs"].values() if r["solver"] == "RK45"}
assert min(rk) == float(pf["reference"].split("-")[1])
assert pf["runs"]["dpmpp_2m-20"]["rms_to_reference"] < pf["runs"]["ddim-20"]["rms_to_reference"]

# %% [markdown]
# **Reading the table.** The adaptive solver needs its calls to reach the ODE's own answer; DPM-Solver++
# gets most of the way there in 20 and DDIM needs all 50, which is what the book's samplers were built
# for: a sampler is an ODE solver that knows the equation's form (Lu et al. 2022 integrate its linear part
# exactly). The FID column is read against its floor, and shows one more thing: the exact ODE solution is
# not the best-scoring one. A model's errors are in its ε̂, not in the solver, and a solver's own error can
# push the other way (chapter 05 saw DDIM's blur lower FID at few steps on some models).
#
# **Why not the exact likelihood.** The same ODE gives log p(x0) exactly, by the instantaneous change of
# variables (Song et al. 2021, Sec. 4.3; Chen et al. 2018): integrate the divergence of the ODE's right-hand
# side along the path. The divergence of a 784-dimensional network output costs 784 backward passes per
# evaluation, or one vector–Jacobian product per sample of Hutchinson's trace estimator, whose noise then
# needs averaging; times a hundred or more adaptive steps per image, times 10,000 test images for a bits-per-dimension
# number: days on two CPU cores, for a number that FID and the held-out loss already bound. Out of this
# book's budget, and said here rather than approximated.

# %% [markdown]
# ## 3. Flow matching: a straight line from data to noise
#
# DDPM chose its path from data to noise by a schedule of βs. Flow matching (Lipman et al. 2023) and
# rectified flow (Liu et al. 2023) choose the simplest path there is, a straight line,
#
# x_t = (1 − t)·x0 + t·ε,  t ∈ [0, 1],
#
# whose velocity along the line is constant, dx_t/dt = ε − x0. A network v̂(x_t, t) is trained to predict
# it by plain regression, L = E‖(ε − x0) − v̂(x_t, t)‖² (Liu et al. 2023, Eq. 1; Lipman et al. 2023's
# conditional flow matching with σ_min = 0). What it learns is the average of ε − x0 over all the lines
# that pass through x_t, a velocity field whose ODE dx/dt = v̂(x, t), integrated from noise at t = 1 to
# t = 0, carries N(0, I) to the data (Lipman et al. 2023, Thm. 2).
#
# **It is a DDPM in other coordinates.** Divide x_t by c(t) = √((1 − t)² + t²) and it reads
# x_t/c = √ᾱ·x0 + √(1 − ᾱ)·ε with √ᾱ = (1 − t)/c: a variance-preserving process, noise level
# σ = t/(1 − t) in the σ view. So `diffusion_lite.flow.FlowMatching` is a `DDPM` whose ᾱ table is that
# line's (`linear_path_schedule`), whose loss is the velocity regression, and whose network is read through
# x̂0 = x_t − t·v̂. Every sampler of the book runs on it unchanged, and the flow's own Euler step
# x_s = x_t + (s − t)·v̂ *is* DDIM. The check, with an untrained network (any velocity field will do):

# %%
flow_check = FlowMatching(MLPDenoiser(dim=2), timesteps=1000)
k, j = 700, 400
t_k, t_j = float(flow_check.times[k]), float(flow_check.times[j])
x_line = torch.randn(5, 2, dtype=torch.float64)
with torch.no_grad():
    v = flow_check.network(x_line.float(), torch.full((5,), k)).double()
    euler = x_line + (t_j - t_k) * v
    x0_hat = x_line - t_k * v  # what the velocity says about x0
    ddim = ddim_step(flow_check.schedule, x_line / path_scale(torch.tensor(t_k, dtype=torch.float64)), k, j, x0_hat, None)
ddim_on_line = ddim * path_scale(torch.tensor(t_j, dtype=torch.float64))
print(f"σ at t = {t_k:.3f}: {sigma_at(flow_check.schedule, k):.4f} = t/(1 − t) = {t_k / (1 - t_k):.4f}")
print(f"largest difference between the flow's Euler step and DDIM on the rescaled state: "
      f"{float((euler - ddim_on_line).abs().max()):.1e}")
assert torch.allclose(euler, ddim_on_line, atol=1e-6)

# %% [markdown]
# **Straight lines, straight paths?** Each training line is straight, but the learned ODE's paths need not
# be: lines from different data points cross, and the field averages them. Live, on the eight Gaussians, a
# flow trained exactly as the DDPM of section 1 was, then both sampled in 20 deterministic steps (DDIM,
# the flow's Euler) from the same noise. To compare their paths fairly, both are drawn in the *same*
# coordinates, the line's: a variance-preserving state √ᾱ·x0 + √(1 − ᾱ)·ε divided by √ᾱ + √(1 − ᾱ) is
# (1 − t)·x0 + t·ε with t = √(1 − ᾱ)/(√ᾱ + √(1 − ᾱ)). Straightness is a path's chord over its length (1 for a line).

# %%
torch.manual_seed(0)
start = time.perf_counter()
toy_flow = Trainer(FlowMatching(MLPDenoiser(dim=2), timesteps=1000), points, toy_config)
toy_flow.train(progress=False)
toy_flow = toy_flow.ema.eval()
print(f"trained 2,000 steps in {time.perf_counter() - start:.1f} s")
noise = torch.randn((2000, 2), generator=torch.Generator().manual_seed(2))
with torch.no_grad():
    _, ddpm_path = toy_ddpm.sample(noise.shape, start=noise, sampler="ddim", num_steps=20, spacing="trailing",
                                   return_trajectory=True)
    _, flow_path = toy_flow.sample(noise.shape, start=noise, sampler="ddim", num_steps=20, spacing="trailing",
                                   return_trajectory=True)
abars = toy_ddpm.schedule.alphas_cumprod[toy_ddpm.sampling_timesteps(20, "trailing")]
abars = torch.cat([abars, torch.ones(1, dtype=abars.dtype)]).float().view(-1, 1, 1)  # the last state is x0
paths = {"DDPM": ddpm_path / (abars.sqrt() + (1 - abars).sqrt()), "flow": toy_flow.on_line(flow_path, 20)}
own = {"DDPM": float(straightness(ddpm_path).mean()), "flow": float(straightness(paths["flow"]).mean())}
straight = {name: float(straightness(path).mean()) for name, path in paths.items()}
quality = {name: sliced_wasserstein(path[-1], held_out) for name, path in paths.items()}
fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.8))
for ax, (name, path) in zip(axes, paths.items()):
    plot_trajectories(path, ax=ax, num=40, lim=3.2)
    ax.set_title(f"{name} on the line: straightness {straight[name]:.3f}, SW₂ {quality[name]:.3f}", fontsize=9)
plt.tight_layout()
plt.show()
print(f"straightness in each model's own coordinates (where its DDIM steps): DDPM {own['DDPM']:.3f}, "
      f"flow {own['flow']:.3f}")
print(f"held-out against held-out at the same N, the floor: SW₂ "
      f"{sliced_wasserstein(datasets.toy_2d('eight_gaussians', 2_000, seed=3), held_out):.3f}")
gap = float((paths["DDPM"][-1] - paths["flow"][-1]).norm(dim=1).median())
print(f"median distance between the DDPM's and the flow's sample from the same noise: {gap:.3f}")
assert abs(straight["DDPM"] - straight["flow"]) < 0.05 and max(quality.values()) < 0.2

# %% [markdown]
# Drawn in the same coordinates, the two models' paths are the same curves, to within training error:
# they start at the same noise, end near the same sample, and bend the same way, inwards and out
# again. That is not a coincidence. With the exact score, the probability-flow ODE of *any*
# variance-preserving process traces the same curve in the σ view for any schedule (Karras et al. 2022,
# Sec. 3), and the line's coordinates are a per-step rescaling of the σ view; so flow matching and
# DDPM, trained perfectly, sample the same way from the same noise. What the flow changes is what the
# network is asked to predict, where the sampler's steps fall, and the coordinates its Euler step moves
# in. Straightness itself depends on the coordinates: measured in each model's own (the second printed
# line) the two numbers differ, though the curves are the same. The bend comes from the data: halfway along, the
# line's marginal (1 − t)·x0 + t·ε has only half the variance of either end, so paths from noise to the
# wells dip towards the centre (straightness about ½). Straightening them takes a change to the
# *pairing*, not to the path.

# %% [markdown]
# ## 4. Rectified flow: one reflow round
#
# Paths cross because the noise and the data were paired at random during training. Liu et al. (2023)
# re-pair them: draw noise, carry each draw to a sample with the trained flow, and train a new flow on
# exactly these (sample, noise) pairs, the **reflow**. The new lines no longer cross in the same way (each
# noise has one sample), so the new field is straighter, and fewer steps suffice; a flow that is straight
# needs one. `FlowMatching(coupled=True)` trains on such pairs, stacked as (x0, ε) per example:

# %%
pair_noise = torch.randn((20_000, 2), generator=torch.Generator().manual_seed(4))
with torch.no_grad():
    pair_samples = toy_flow.sample(pair_noise.shape, start=pair_noise, sampler="dpmpp_2m", num_steps=20,
                                   spacing="trailing")
torch.manual_seed(0)
start = time.perf_counter()
reflow = Trainer(FlowMatching(MLPDenoiser(dim=2), timesteps=1000, coupled=True),
                 torch.stack([pair_samples, pair_noise], 1), toy_config)
reflow.train(progress=False)
reflow = reflow.ema.eval()
print(f"20,000 pairs drawn and the reflow trained in {time.perf_counter() - start:.1f} s")
rows = []
with torch.no_grad():
    for name, model in (("flow", toy_flow), ("reflow", reflow)):
        _, path = model.sample(noise.shape, start=noise, sampler="ddim", num_steps=20, spacing="trailing",
                               return_trajectory=True)
        few = {n: sliced_wasserstein(model.sample(noise.shape, start=noise, sampler="ddim", num_steps=n,
                                                  spacing="trailing"), held_out) for n in (1, 2, 4)}
        rows.append((name, float(straightness(model.on_line(path, 20)).mean()), few))
print(f"{'model':7s} {'straightness':>12s} {'SW₂ at 1 / 2 / 4 Euler steps':>30s}")
for name, s, few in rows:
    print(f"{name:7s} {s:12.4f} {' / '.join(f'{v:.3f}' for v in few.values()):>30s}")
fig, axes = plt.subplots(1, 2, figsize=(7, 3.5))
with torch.no_grad():
    for ax, (name, model) in zip(axes, (("flow", toy_flow), ("reflow", reflow))):
        scatter_2d(model.sample(noise.shape, start=noise, sampler="ddim", num_steps=1, spacing="trailing"), ax=ax,
                   lim=2.2, title=f"{name}, one Euler step")
plt.tight_layout()
plt.show()
assert rows[1][1] > rows[0][1] and rows[1][2][1] < rows[0][2][1]

# %% [markdown]
# After one reflow the paths are nearly straight, and one Euler step lands on the ring the wells sit on
# (blurred along it) instead of in a clump at the centre, at the cost of a second training and the pairs' sampling. On images, the same
# round needs 60,000 pairs from a trained image flow and a second training run: beyond this edition's
# measured budget, so the image benchmark below compares the first flow with DDPM only.

# %% [markdown]
# ## 5. Flow matching against DDPM, measured on images
#
# `benchmarks/flow.py` trains chapter 04's 15-minute network twice for the same 15 minutes on this CPU:
# once as a DDPM with the book's best objective (v-prediction on cosine ᾱ, min-SNR-5, sampled at the linear
# schedule's noise levels: `fashion-ddpm`'s) and once as a flow (recipe `fashion-flow`: the same network
# and training, the velocity loss). Then 1,000 samples from each at 5, 10, 20 and 50 network calls, with
# DDIM (the flow's Euler), DPM-Solver++ and Heun (two calls a step), FID against the floor:

# %%
arms = {name: json.loads((RESULTS / "flow" / f"{name}.json").read_text()) for name in ("ddpm", "flow")}
settings = list(arms["ddpm"]["samples"])
print(f"{arms['ddpm']['minutes']:g} min of training each, {arms['ddpm']['machine']}, {arms['ddpm']['threads']} threads, "
      f"{arms['ddpm']['num_samples']:,} samples, FID floor {arms['ddpm']['samples'][settings[0]]['fid_floor']:.1f}\n")
print(f"{'arm':5s} {'steps':>6s} {'img/s':>6s} {'straight':>8s}  " + " ".join(f"{s:>11s}" for s in settings))
for name, r in arms.items():
    print(f"{name:5s} {r['steps']:6,d} {r['images_per_second']:6.0f} {r['straightness']:8.3f}  "
          + " ".join(f"{r['samples'][s]['fid']:11.1f}" for s in settings))
fig, ax = plt.subplots(figsize=(6.5, 3.4))
for c, (name, r) in enumerate(arms.items()):
    for style, sampler in (("-", "ddim"), ("--", "dpmpp_2m"), (":", "heun")):
        runs = [v for v in r["samples"].values() if v["sampler"] == sampler]
        ax.plot([v["calls"] for v in runs], [v["fid"] for v in runs], style, marker="o", color=f"C{c}",
                label=f"{name}, {sampler}")
ax.axhline(arms["ddpm"]["samples"][settings[0]]["fid_floor"], color="grey", lw=1, label="real-vs-real floor")
ax.set(xscale="log", yscale="log", xlabel="network calls per image", ylabel="FID (1,000 samples)")
ax.minorticks_off()
ax.set_xticks([5, 10, 20, 50], ["5", "10", "20", "50"])
ax.legend(fontsize=7, ncol=2)
ax.set_title("The same network, 15 minutes each: DDPM against flow matching", fontsize=10)
plt.tight_layout()
plt.show()
best = {name: min(r["samples"].values(), key=lambda v: v["fid"]) for name, r in arms.items()}
for name, b in best.items():
    print(f"best {name}: FID {b['fid']:.1f} with {b['sampler']} at {b['calls']} calls")
assert arms["flow"]["straightness"] > arms["ddpm"]["straightness"]
assert arms["ddpm"]["steps"] > 0 and arms["flow"]["steps"] > 0

# %% [markdown]
# **Reading the table.** At this budget the flow loses to the DDPM at every setting: its best score
# (DPM-Solver++ at 20 calls) is well above the DDPM's best, and both are far above the floor after a
# couple of thousand steps of float32 training. Its paths are straighter in its own coordinates (each
# arm's straightness is measured in its own, as the toy's second line was), but that did not buy it
# few-step quality: at five Euler (DDIM) steps it is the worse of the two. Two things
# the table does not settle. The DDPM arm is the book's tuned objective (v-prediction, cosine ᾱ,
# min-SNR weighting, chapter 03's search) against a flow with the plain uniform-t loss; Esser et al.
# (2024) found the flow's gain at scale only with a reweighting of t (logit-normal), the flow's min-SNR.
# And the table's Heun stepped in the σ view, where the flow's uniform grid in t puts its first step from
# σ ≈ 1,000 to σ ≈ 4, far too long for a trapezoid. A flow's Heun now averages its two slopes in the
# flow's own time t, as flow papers do (`heun_step`'s `line_time`, the default for a `FlowMatching`):
# on an exact Gaussian velocity five steps miss the spread by a third in t and by twice the spread in σ
# (`tests/test_flow.py`); its score on these images is not measured yet. What the measurement does show
# is that "straight lines" is not by itself a free lunch on a small network and a short budget.

# %% [markdown]
# ## 6. Training on more than one process
#
# When one process is not enough, the standard answer is **data parallelism**: N copies of the model,
# each computing the gradient on its share of the batch, the gradients averaged across copies before every
# optimiser step, so that all copies take the same step. PyTorch's `DistributedDataParallel` (DDP) does the
# averaging (an all-reduce, bucketed so it overlaps with the backward pass), and `torchrun` starts the N
# processes, gives each its rank and the rendezvous address. The book's `Trainer` is DDP-ready: started
# under `torchrun`, every process draws the same global batch from the same seeded generator and computes
# the loss on its own slice of it (`DDPM.loss(part=...)`), so N processes take *exactly* the step that one
# process takes on the whole batch, and rank 0 alone writes the checkpoints (resume works as before).
# Live, a tiny model for four steps, with one process and with two:

# %%
tiny = {"unet": {"channels": [8, 16], "num_groups": 4, "mid_attention": False}, "ddpm": {"timesteps": 100},
        "train": {"steps": 4, "batch_size": 16, "warmup_steps": 1, "precision": "float32"}, "dataset_size": 256}
runs = Path("../data/runs/chapter12").resolve()  # the commands run from the repository root
runs.mkdir(parents=True, exist_ok=True)
(runs / "tiny.json").write_text(json.dumps(tiny))
launch = {1: [sys.executable, "-m", "diffusion_lite"],
          2: [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
              "-m", "diffusion_lite"]}
for n, command in launch.items():
    out = runs / f"{n}-process"
    for old in out.glob("*"):
        old.unlink()
    start = time.perf_counter()
    subprocess.run(command + ["train", "--config", str(runs / "tiny.json"), "--out", str(out), "--threads", "1"],
                   check=True, capture_output=True, cwd="..")
    print(f"{n} process{'es' if n > 1 else ''}: {time.perf_counter() - start:.1f} s, start-up included")
one, two = (torch.load(runs / f"{n}-process" / "state.pt", weights_only=False)["model"] for n in (1, 2))
print(f"largest weight difference after 4 steps: {max(float((one[k] - two[k]).abs().max()) for k in one):.1e}")
assert all(torch.allclose(one[k], two[k], atol=1e-5) for k in one)

# %% [markdown]
# The same weights, up to the order in which floating-point sums are taken. Whether two processes are
# *faster* is a matter of hardware, measured by `benchmarks/distributed.py` on this machine:

# %%
dist = json.loads((RESULTS / "distributed.json").read_text())
print(f"{dist['recipe']}, {dist['cores']} cores, {dist['machine']}\n")
for name, r in dist["setups"].items():
    print(f"{name:24s} {r['images_per_second']:7.1f} images/s  ({r['steps']} steps, {r['wall_seconds']:.0f} s with start-up)")
speed = {name: r["images_per_second"] for name, r in dist["setups"].items()}
assert set(speed) == {"1 process x 1 thread", "1 process x 2 threads", "2 processes x 1 thread"}
base = speed["1 process x 1 thread"]
print(f"\nagainst one process on one thread: two threads {speed['1 process x 2 threads'] / base:.2f}×, "
      f"two processes {speed['2 processes x 1 thread'] / base:.2f}×")
grads = sum(p.numel() for p in build_ddpm(get_recipe(dist["recipe"])).parameters())
print(f"gradients all-reduced per step: {grads:,} float32 numbers, {grads * 4 / 1e6:.1f} MB")

# %% [markdown]
# **Reading the numbers.** Both ways of using the second core help, and on this machine two processes beat
# two threads by about a tenth. A single process spreads each operator over its threads, and the small
# convolutions of a 28 × 28 network split imperfectly; two processes each run half the batch on one core
# with no synchronisation inside an operator, and meet once a step for the all-reduce, a few megabytes
# of gradients between two processes on one machine, milliseconds against a step of half a second.
# What data parallelism cannot do here is go past the cores: two cores give at most 2× over one, however
# the work is split, and the measured speed-up stays short of that. It pays where each process has a
# device of its own (a GPU, a machine): there the speed grows almost N-fold while the all-reduce hides
# behind the backward pass, and the numbers above are its lower end.
#
# **On a cluster** the command is the same, with more processes and a rendezvous. On one machine with
# eight GPUs: `torchrun --nproc_per_node 8 -m diffusion_lite train --recipe fashion-ddpm --out runs/ddp`;
# on two such machines, the same line on each with `--nnodes 2 --rdzv-backend c10d --rdzv-endpoint
# HOST:29400 --rdzv-id fashion`. The book's package trains on the CPU, so its process group uses the gloo
# backend; on GPUs one puts each process's model on `cuda:LOCAL_RANK` and asks for nccl, and nothing else
# in the loop changes. The recipe's `batch_size` is the *global* batch, so the learning rate and the
# number of steps mean what they meant on one process; only the wall-clock time per step changes.
#
# **Mixed precision** is the other lever every large run pulls, and the book already uses it: bfloat16
# autocast (`precision="auto"`) runs the network's matrix products in bfloat16 where the CPU computes it
# natively, and keeps the weights, the optimiser and the loss in float32:

# %%
prec = json.loads((RESULTS / "precision.json").read_text())
for kind, r in prec["kinds"].items():
    tasks = "; ".join(f"{task} {v['float32_seconds'] * 1000:.0f} ms in float32, {v['bf16_speedup']:.2f}× in bfloat16"
                      for task, v in r["tasks"].items())
    print(f"{kind} ({r['cpu']}): {tasks}")
formats = json.loads((RESULTS / "formats.json").read_text())["entries"]
fid = {(e["format"], e["seed"]): e["fid"] for e in formats if e["last_t"] is None}
print("fashion_ddpm, DDIM-50, 1,000 images, FID by seed: " + "; ".join(
    f"{fmt} " + " / ".join(f"{fid[fmt, seed]:.1f}" for seed in (0, 1, 2)) for fmt in ("float32", "bfloat16 autocast")))
print(f"this machine: {describe()}")
assert max(abs(fid["float32", seed] - fid["bfloat16 autocast", seed]) for seed in (0, 1, 2)) < 0.5

# %% [markdown]
# Where bfloat16 is native it trains about 1.6× and samples about 1.9× faster, and the samples score the
# same FID as float32's to within a few tenths on every seed (chapter 03, section 6); where it is emulated
# it is an order of magnitude *slower*, which is why "auto" falls back to float32 there. On GPUs the same
# autocast is the default of every large diffusion run.

# %% [markdown]
# ## 7. What to read next
#
# - **The SDE view and its samplers**: Song et al. (2021), *Score-based generative modeling through SDEs*;
#   Karras et al. (2022), *Elucidating the design space* (EDM: the σ view, preconditioning, Heun); Lu et al.
#   (2022), *DPM-Solver++*; Zhang & Chen (2023), *DEIS*.
# - **Flows**: Lipman et al. (2023), *Flow matching*; Liu et al. (2023), *Flow straight and fast*
#   (rectified flow); Albergo & Vanden-Eijnden (2023), *stochastic interpolants*; Esser et al. (2024),
#   *Scaling rectified flow transformers* (Stable Diffusion 3: logit-normal times, a transformer backbone).
# - **Fewer steps**: Salimans & Ho (2022), *progressive distillation*; Song et al. (2023), *consistency
#   models*; Sauer et al. (2023), *adversarial diffusion distillation*.
# - **Objectives, unified**: Kingma & Gao (2023), *Understanding diffusion objectives as the ELBO with
#   simple data augmentation*, which shows ε-, v- and flow losses are one loss under different weightings
#   of the noise levels, the reason section 3's rewrite works.
# - **Bigger backbones**: Peebles & Xie (2023), *DiT*, the transformer that replaced the UNet at scale.

# %% [markdown]
# ## 8. Exercises
#
# Each exercise has a check function; replace `None` with your answer and run the cell. Solutions are in
# `chapters/solutions/ch12.py`.
#
# **Exercise 1.** A trained ε-network predicts ε̂ = 0.8 for one coordinate at a level with ᾱ = 0.36.
# What is the score ∇ log p_t there, for that coordinate?

# %%
from checks.ch12 import check_ddp_share, check_line_sigma, check_score  # noqa: E402

answer = None
check_score(answer)

# %% [markdown]
# **Exercise 2.** On the linear path x_t = (1 − t)·x0 + t·ε, what noise level σ (in the σ view, x̃ = x0 + σ·ε)
# does t = 0.2 correspond to?

# %%
answer = None
check_line_sigma(answer)

# %% [markdown]
# **Exercise 3.** A recipe with `batch_size` 96 is trained with `torchrun --nproc_per_node 3`. How many
# images does each process compute the loss on, per step?

# %%
answer = None
check_ddp_share(answer)

# %% [markdown]
# ## Summary
#
# - DDPM is the Euler–Maruyama discretisation of the variance-preserving SDE; the ε-network divided by
#   −√(1 − ᾱ) is its score, and matches an exact one where the density is known.
# - The probability-flow ODE carries noise to the same distribution without noise; DDIM is its Euler step,
#   DPM-Solver++ a solver that knows its form, and an adaptive RK45 the check on both.
# - Flow matching trains a velocity on straight lines from data to noise; rescaled, it is a DDPM with
#   σ = t/(1 − t), so the book's samplers, guidance, edits and checkpoints all serve it. In the same
#   coordinates its paths are the DDPM's; one reflow round re-pairs noise and data and straightens them,
#   down to one-step samples on toy data. On images, at 15 minutes, it lost to the DDPM.
# - `torchrun --nproc_per_node N -m diffusion_lite train …` trains data-parallel with PyTorch's DDP,
#   taking exactly one process's steps; whether it is faster depends on the machine, and on two cores it
#   is measured above.
