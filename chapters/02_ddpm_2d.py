# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · DDPM on 2-D data
#
# Chapter 01 destroyed data with the forward process. This chapter learns to run it backwards, as in
# *Denoising Diffusion Probabilistic Models* (Ho, Jain and Abbeel 2020, "DDPM"). We work with points in
# the plane, so a model trains in seconds and every sample can be seen.
#
# **Learning goals.** After this chapter you can
# 1. derive the reverse-process mean in terms of predicted noise (Eq. 11) and the simple loss (Eq. 14);
# 2. run the seed article's `DDPM` class, say what goes wrong with it on 2-D data, on a GPU and for
#    reproducibility, and how `diffusion_lite.DDPM` fixes each problem;
# 3. train an ε-prediction model on a toy distribution (Algorithm 1) and sample from it (Algorithm 2);
# 4. compare the two variance choices σt² = βt and σt² = β̃t;
# 5. measure sample quality with a sliced Wasserstein distance to held-out data, read against the
#    distance between two real sets.
#
# Equations are numbered as in Ho et al. 2020 and use the paper's indices t = 1..T. Code indices run
# t = 0..T−1 (chapter 01), so code index `t` is the paper's t + 1: `betas[0]` is β1.

# %%
import inspect
import time
import warnings

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from diffusion_lite.datasets import toy_2d
from diffusion_lite.metrics import sliced_wasserstein
from diffusion_lite.mlp import MLPDenoiser
from diffusion_lite.plotting import plot_trajectories, scatter_2d
from diffusion_lite.process import add_noise, gather, posterior, x0_from_eps
from diffusion_lite.samplers import ddpm_step
from diffusion_lite.schedules import NoiseSchedule

_ = torch.manual_seed(0)  # the networks' initial weights; every other random draw has its own generator

# %% [markdown]
# ## 1. The reverse process
#
# The forward process adds a little Gaussian noise at each of T steps, and has a closed form for any t:
#
# $$q(x_t \mid x_{t-1}) = \mathcal N\big(x_t;\ \sqrt{1-\beta_t}\,x_{t-1},\ \beta_t I\big) \qquad (2)$$
#
# $$q(x_t \mid x_0) = \mathcal N\big(x_t;\ \sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t) I\big),
# \quad\text{i.e.}\quad x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon,\ \ \epsilon \sim \mathcal N(0, I) \qquad (4)$$
#
# with αt = 1 − βt and ᾱt = α1⋯αt. DDPM's generative model is a Markov chain that runs the other way,
# from p(x_T) = N(0, I), with Gaussian steps whose mean a network learns and whose variance is fixed
# (Sec. 3.2):
#
# $$p_\theta(x_{t-1} \mid x_t) = \mathcal N\big(x_{t-1};\ \mu_\theta(x_t, t),\ \sigma_t^2 I\big) \qquad (1)$$
#
# Training minimises a variational bound on −log pθ(x0) (Eq. 3). Rewritten with the forward process's
# posterior (Eq. 5), its terms compare each reverse step with the step the forward process would take
# back if it knew x0. That posterior is Gaussian (Eqs. 6–7):
#
# $$q(x_{t-1} \mid x_t, x_0) = \mathcal N\big(x_{t-1};\ \tilde\mu_t(x_t, x_0),\ \tilde\beta_t I\big),\quad
# \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\,x_0 + \frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}\,x_t,\quad
# \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\,\beta_t$$
#
# and the KL divergence between two Gaussians with fixed variances is a squared distance between means:
#
# $$L_{t-1} = \mathbb E_q\Big[\tfrac{1}{2\sigma_t^2}\,\big\|\tilde\mu_t(x_t, x_0) - \mu_\theta(x_t, t)\big\|^2\Big] + C \qquad (8)$$

# %% [markdown]
# ## 2. Predict the noise, not the mean
#
# Put x0 = (x_t − √(1 − ᾱt)·ε)/√ᾱt (Eq. 4 solved for x0) into μ̃t. With ᾱt = αt·ᾱ_{t−1} and
# βt = 1 − αt, the coefficient of x_t becomes
#
# $$\frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{(1-\bar\alpha_t)\sqrt{\bar\alpha_t}} + \frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}
# = \frac{\beta_t + \alpha_t - \bar\alpha_t}{(1-\bar\alpha_t)\sqrt{\alpha_t}} = \frac{1}{\sqrt{\alpha_t}},$$
#
# and that of ε becomes −√ᾱ_{t−1}·βt/(1 − ᾱt)·√(1 − ᾱt)/√ᾱt = −βt/(√αt·√(1 − ᾱt)). So the target
# mean is (1/√αt)(x_t − βt/√(1 − ᾱt)·ε) (the step from Eq. 8 to Eq. 10), and DDPM lets the network
# predict ε:
#
# $$\mu_\theta(x_t, t) = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,\epsilon_\theta(x_t, t)\Big) \qquad (11)$$
#
# $$L_{t-1} - C = \mathbb E_{x_0, \epsilon}\Big[\frac{\beta_t^2}{2\sigma_t^2\,\alpha_t\,(1-\bar\alpha_t)}\,
# \big\|\epsilon - \epsilon_\theta(\sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon,\ t)\big\|^2\Big] \qquad (12)$$
#
# Ho et al. drop the weight and draw t uniformly; this trained better on images:
#
# $$L_\text{simple}(\theta) = \mathbb E_{t, x_0, \epsilon}\Big[\big\|\epsilon - \epsilon_\theta(\sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon,\ t)\big\|^2\Big] \qquad (14)$$
#
# **Algorithm 1 (training).** Repeat: x0 ~ q(x0); t ~ Uniform{1, …, T}; ε ~ N(0, I); take a gradient
# step on ‖ε − εθ(√ᾱt·x0 + √(1 − ᾱt)·ε, t)‖².
#
# **Algorithm 2 (sampling).** x_T ~ N(0, I); for t = T, …, 1: z ~ N(0, I) if t > 1, else z = 0;
# x_{t−1} = (1/√αt)(x_t − (1 − αt)/√(1 − ᾱt)·εθ(x_t, t)) + σt·z. Return x0.
#
# Sec. 3.2 tries two variances, σt² = βt and σt² = β̃t, and reports similar results: βt is optimal when
# x0 ~ N(0, I), β̃t when x0 is one fixed point. We compare them in section 7.
#
# The package writes the same step another way: it turns ε̂ into x̂0 = (x_t − √(1 − ᾱt)·ε̂)/√ᾱt and
# takes the posterior mean μ̃t(x_t, x̂0). By the algebra above that is exactly Eq. 11, and it extends
# to clipping x̂0, to networks that predict x0 or v, and to skipping steps (chapter 05).

# %% [markdown]
# ## 3. The seed's `DDPM`, run as written
#
# Here is the seed article's class. Only the indentation, lost in the article's layout, is restored.

# %%
class DDPM(nn.Module):
    def __init__(self, network, timesteps, beta_start, beta_end):
        super().__init__()
        self.network = network
        self.timesteps = timesteps
        # Define beta schedule
        self.betas = torch.linspace(beta_start, beta_end, timesteps)
        # Pre-calculate diffusion parameters
        self.alphas = 1. - self.betas
        self.alpha_bars = torch.cumprod(self.alphas, dim=0)

    def forward(self, x, t, noise):
        alpha_bar = self.alpha_bars[t].view(-1, 1, 1, 1)
        noisy_x = torch.sqrt(alpha_bar) * x + torch.sqrt(1 - alpha_bar) * noise
        predicted_noise = self.network(noisy_x, t)
        loss = F.mse_loss(predicted_noise, noise)
        return loss

    @torch.no_grad()
    def sample(self, shape, device):
        # Start from pure noise
        x = torch.randn(shape, device=device)
        for t in reversed(range(self.timesteps)):
            t_tensor = torch.full((shape[0],), t, device=device, dtype=torch.long)
            pred_noise = self.network(x, t_tensor)
            alpha = self.alphas[t]
            alpha_bar = self.alpha_bars[t]
            x = (x - (1-alpha)/torch.sqrt(1-alpha_bar)*pred_noise)/torch.sqrt(alpha)
            if t > 0:
                x += torch.sqrt(self.betas[t]) * torch.randn_like(x)
        return x


SeedDDPM = DDPM  # a name that cannot be confused with the package's DDPM, imported in section 4

# %% [markdown]
# Read against the algorithms: `forward` is one step of Algorithm 1 (the caller draws t and ε), with
# Eq. 4 for `noisy_x` and Eq. 14 for the loss (`mse_loss` averages where Eq. 14 sums, a constant
# factor). `sample` is Algorithm 2 with σt² = βt, and `1-alpha` is βt. The mathematics is right. Three
# things around it are not.
#
# ### Problem 1: `.view(-1, 1, 1, 1)` assumes images
#
# For a batch of images (B, C, H, W), ᾱt shaped (B, 1, 1, 1) scales each image by its own ᾱt. A batch of
# 2-D points is (B, 2), and broadcasting lines up trailing axes:

# %%
B = 4
x0 = toy_2d("swiss_roll", B)                # (B, 2): four points
t = torch.tensor([0, 300, 600, 999])        # one timestep per point
noise = torch.randn(B, 2, generator=torch.Generator().manual_seed(0))

seed_model = SeedDDPM(MLPDenoiser(), 1000, 1e-4, 0.02)
alpha_bar = seed_model.alpha_bars[t].view(-1, 1, 1, 1)  # the seed's line
noisy_x = torch.sqrt(alpha_bar) * x0 + torch.sqrt(1 - alpha_bar) * noise
print(f"alpha_bar {tuple(alpha_bar.shape)} * x {tuple(x0.shape)} -> noisy_x {tuple(noisy_x.shape)}")

# %% [markdown]
# Instead of four noisy points we get a (4, 1, 4, 2) tensor. Entry [i, 0, j] is point j, with point j's
# noise, at the noise level of point i: every point at every level, B² of them.

# %%
for i in range(B):
    for j in range(B):
        expected = alpha_bar[i].sqrt() * x0[j] + (1 - alpha_bar[i]).sqrt() * noise[j]
        assert torch.allclose(noisy_x[i, 0, j], expected.flatten())
print(f"noisy_x[i, 0, j] = √ᾱ(t_i)·x0_j + √(1 − ᾱ(t_i))·ε_j for all {B * B} pairs (i, j)")

# %% [markdown]
# That alone would be wasteful (65,536 points for a batch of 256) but not wrong. What breaks is the
# timestep the network is told. A network that adds a per-example time embedding of shape (B, H) to its
# hidden features, as `MLPDenoiser` does, lines the embedding up with the *last* batch axis, j. A
# stand-in "network" that outputs the timestep it is told shows what each entry receives:

# %%
def told_t(x_t, t):  # outputs, at each point, the timestep it was told, broadcast like a (B, 1) embedding
    return 0 * x_t + t.float().view(-1, 1)


print("rows: noise level of t_i = 0, 300, 600, 999; entries: the t the network is told")
print(told_t(noisy_x, t)[:, 0, :, 0].int())

# %% [markdown]
# Every row is told t = 0, 300, 600, 999 whatever its real noise level: only the diagonal is labelled
# right, and the loss trains the network to predict ε_j from points whose stated t is wrong three times
# in four. `MLPDenoiser` checks its input and refuses; a network that accepts any shape (here one that
# ignores t) trains on, and only a warning from `mse_loss` hints at it:

# %%
try:
    seed_model(x0, t, noise)
except ValueError as e:
    print("MLPDenoiser:", e)


class PointwiseNet(nn.Module):  # acts on the last axis and ignores t, so any shape goes through
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)

    def forward(self, x, t):
        return self.linear(x)


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    loss = SeedDDPM(PointwiseNet(), 1000, 1e-4, 0.02)(x0, t, noise)
print(f"PointwiseNet: loss {loss.item():.3f}, no error; warning: {caught[0].message}")

# %% [markdown]
# ### Problem 2: the schedule does not move with `.to(device)`
#
# `self.betas`, `self.alphas` and `self.alpha_bars` are plain tensor attributes, not registered buffers.
# `nn.Module.to` moves parameters and buffers only, and `state_dict` holds only those. The `meta`
# device below stands in for a GPU, so this runs on any machine:

# %%
moved = SeedDDPM(MLPDenoiser(), 1000, 1e-4, 0.02).to("meta")
print("buffers:", dict(moved.named_buffers()))
print("network weights on:", next(moved.parameters()).device, "| alpha_bars on:", moved.alpha_bars.device)

# %% [markdown]
# After `.to("cuda")` the network is on the GPU and the tables are still on the CPU, so `forward` stops
# with a `RuntimeError`: "indices should be either on cpu or on the same device as the indexed tensor"
# when t is on the GPU, "Expected all tensors to be on the same device" when t is on the CPU and the
# data on the GPU. The package keeps its tables in a `NoiseSchedule` (float64, on the
# CPU) and `process.gather` moves the few values a batch needs to the data's device and dtype on every
# call, so `.to(device)` only has to move the network.
#
# ### Problem 3: sampling draws from the global random generator
#
# `sample` calls `torch.randn` and `torch.randn_like` with no generator, and takes no argument for one:

# %%
print("seed:", inspect.signature(SeedDDPM.sample))

# %% [markdown]
# To repeat a sample you must reset the *global* generator with `torch.manual_seed`, which also resets
# every other user of it (weight initialisation, dropout, data shuffling). The package's `sample` takes
# a `torch.Generator`, as every function in `diffusion_lite` that draws noise does.
#
# ### The update itself is right
#
# Before replacing the seed's sampler, check that its update (Eq. 11 plus σt·z with σt² = βt) is the
# package's `ddpm_step`: x̂0 from ε̂, the posterior mean μ̃t(x_t, x̂0) of Eq. 7, and the same z. We take
# the seed's float32 tables from a `SeedDDPM` and random x_t, ε̂ and z, at several timesteps:

# %%
schedule = NoiseSchedule.make("linear", 1000, 1e-4, 0.02)
seed_tables = SeedDDPM(nn.Identity(), 1000, 1e-4, 0.02)  # only its tables are used
g = torch.Generator().manual_seed(1)
worst = 0.0
for t_code in [999, 500, 100, 10, 1, 0]:
    x_t, eps_hat, z = torch.randn(3, 256, 2, generator=g)
    # the seed's lines
    alpha, alpha_bar = seed_tables.alphas[t_code], seed_tables.alpha_bars[t_code]
    seed_mean = (x_t - (1 - alpha) / torch.sqrt(1 - alpha_bar) * eps_hat) / torch.sqrt(alpha)
    seed_next = seed_mean + torch.sqrt(seed_tables.betas[t_code]) * z if t_code > 0 else seed_mean
    # the package: x̂0 (Eq. 4 solved for x0), the posterior mean at x̂0, one ancestral step
    x0_hat = x0_from_eps(schedule, x_t, t_code, eps_hat)
    mean, _ = posterior(schedule, x0_hat, x_t, t_code)
    step = ddpm_step(schedule, x_t, t_code, t_code - 1, x0_hat, z, variance="beta")
    assert torch.allclose(seed_mean, mean, atol=1e-5) and torch.allclose(seed_next, step, atol=1e-5)
    worst = max(worst, (seed_next - step).abs().max().item())
print(f"seed's update == ddpm_step at all six t; largest difference {worst:.1e} (float32 rounding)")

# %% [markdown]
# ## 4. The package's `DDPM`
#
# `diffusion_lite.DDPM` keeps the seed's API, `DDPM(network, timesteps, beta_start, beta_end)`, with
# `forward(x, t, noise)` returning the loss and `sample(shape, device, generator=...)` returning samples.
# The network is `MLPDenoiser`: a sinusoidal time embedding added to the first hidden layer, then three
# residual blocks (LayerNorm, Linear, SiLU).

# %%
from diffusion_lite import DDPM  # noqa: E402  (the package's class; `SeedDDPM` is the seed's)

model = DDPM(MLPDenoiser(dim=2, hidden=128, num_blocks=3), 1000, 1e-4, 0.02)
print(model.network)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")
print("ᾱt gathered for a (4, 2) batch:", tuple(gather(model.schedule.alphas_cumprod, t, x0).shape))
print(f"loss on the four points above: {model(x0, t, noise).item():.3f}")
print("sample:", inspect.signature(DDPM.sample))

# %% [markdown]
# The data: 20,000 training points from a swiss roll (change `DATASET` to try `"two_moons"`,
# `"eight_gaussians"` or `"checkerboard"`), and six held-out sets of 2,000 points made from other seeds,
# which the model never sees. We use them to measure samples in section 8.

# %%
DATASET = "swiss_roll"
N_TRAIN, N_EVAL = 20_000, 2_000
train = toy_2d(DATASET, N_TRAIN, seed=0)
heldout = [toy_2d(DATASET, N_EVAL, seed=k) for k in range(1, 7)]

# %% [markdown]
# ## 5. Training: Algorithm 1
#
# Each step draws a batch of x0, one t per example and the noise ε, all from one generator, and takes an
# AdamW step on L_simple (`model.loss(x0_batch, generator=g)` draws t and ε the same way). A one-cycle
# learning rate warms up, then anneals to almost zero, which steadies the end of a short run.

# %%
STEPS, BATCH, LR = 5000, 256, 2e-3
optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
lr_schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LR, total_steps=STEPS)
g = torch.Generator().manual_seed(0)
losses, start = [], time.perf_counter()
for step in range(STEPS):
    x0_batch = train[torch.randint(0, N_TRAIN, (BATCH,), generator=g)]  # x0 ~ q(x0)
    t_batch = torch.randint(0, model.timesteps, (BATCH,), generator=g)  # t ~ U{0, ..., T−1}
    eps = torch.randn(BATCH, 2, generator=g)  # ε ~ N(0, I)
    loss = model(x0_batch, t_batch, eps)  # Eq. 14
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    lr_schedule.step()
    losses.append(loss.item())
print(f"{STEPS} steps in {time.perf_counter() - start:.0f} s; "
      f"mean loss over the first 100 steps {sum(losses[:100]) / 100:.3f}, last 500 {sum(losses[-500:]) / 500:.3f}")

# %%
smooth = torch.tensor(losses).unfold(0, 100, 1).mean(1)  # running mean over 100 steps
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.plot(losses, lw=0.4, alpha=0.35, label="each step")
ax.plot(range(99, STEPS), smooth, lw=1.5, label="mean of 100 steps")
ax.set(xlabel="training step", ylabel="L_simple", ylim=(0, 1.2), title="training loss")
ax.legend()
plt.show()

# %% [markdown]
# The loss falls fast in the first few hundred steps and then slowly, and it levels off far above zero.
# That is expected: the minimiser of Eq. 14 is E[ε | x_t], and what remains is the spread of ε given
# x_t, which no network can remove. So the loss says little about sample quality; section 8 measures it.
#
# ## 6. Sampling: Algorithm 2
#
# `sample` runs all 1,000 steps from x_T ~ N(0, I); with `return_trajectory=True` it also returns every
# state, x_T first.

# %%
samples, trajectory = model.sample((N_EVAL, 2), generator=torch.Generator().manual_seed(1),
                                   return_trajectory=True)
print("samples", tuple(samples.shape), "| trajectory", tuple(trajectory.shape))
fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.4))
scatter_2d(heldout[0], ax=axes[0], title="held-out data")
scatter_2d(samples, ax=axes[1], title="DDPM samples, σt² = βt")
plt.show()

# %% [markdown]
# The samples trace the same spiral as the data, arm for arm, with a few points strayed between the
# arms. Two more checks. With the same generator seed the package repeats its samples exactly and
# leaves the global generator alone. And the seed's own loop, driven by our trained network, gives the
# same samples when its global generator is seeded the same way, since both draw x_T and then one z per
# step in the same order:

# %%
rng_state = torch.get_rng_state()
a = model.sample((100, 2), generator=torch.Generator().manual_seed(7))
b = model.sample((100, 2), generator=torch.Generator().manual_seed(7))
assert torch.equal(a, b) and torch.equal(rng_state, torch.get_rng_state())

torch.manual_seed(7)  # the only way to make the seed's sampler repeat: reset the global generator
c = SeedDDPM(model.network, 1000, 1e-4, 0.02).sample((100, 2), "cpu")
print(f"package vs seed's loop, same noise: largest difference {(a - c).abs().max().item():.1e}")
assert torch.allclose(a, c, atol=1e-3)

# %% [markdown]
# So the seed's sampler was right all along on 2-D data; its problems are in `forward` and in the
# bookkeeping around the schedule and the random numbers. The two agree to float32 rounding, which 1,000
# steps accumulate.
#
# ### Trajectories
#
# Left, the paths of 12 samples through all 1,000 steps (every 20th state drawn); right, the last 100
# steps of the same paths, over the data in light grey:

# %%
fig, axes = plt.subplots(1, 2, figsize=(7.6, 3.9))
plot_trajectories(trajectory[::20], ax=axes[0], num=12)
axes[0].set_title("x_T → x_0, every 20th step", fontsize=9)
scatter_2d(heldout[0], ax=axes[1], c="lightgrey", s=1)
plot_trajectories(trajectory[-101:], ax=axes[1], num=12, start_label="x_100")
axes[1].set_title("the last 100 steps", fontsize=9)
plt.show()

# %% [markdown]
# On the left, each path runs from a grey x_T to a black sample and looks like a random walk: while
# the noise level is high, the injected noise σt·z is as large as the drift. On the right, at t = 100
# each point is already close to where it ends, and the last 100 steps are a short local walk that
# settles onto the nearest arm.
#
# The sample cloud at several t (the paper's indices: state k of the trajectory is x_{T−k}), above the
# forward process q(x_t) applied to held-out data at the same t. If the model has learned the reverse
# process, each column shows one distribution twice:

# %%
T = model.timesteps
show_t = [1000, 300, 150, 100, 50, 0]
g = torch.Generator().manual_seed(2)
fig, axes = plt.subplots(2, len(show_t), figsize=(2.0 * len(show_t), 4.3))
gaps = []
for col, tp in enumerate(show_t):
    forward = heldout[0] if tp == 0 else add_noise(model.schedule, heldout[0], tp - 1, torch.randn(N_EVAL, 2, generator=g))
    reverse = trajectory[T - tp]
    gaps.append(sliced_wasserstein(forward, reverse))
    scatter_2d(forward, ax=axes[0, col], title=f"q(x_t), t = {tp}", s=1)
    scatter_2d(reverse, ax=axes[1, col], title=f"sampler, t = {tp}", s=1, color="C1")
plt.tight_layout()
plt.show()
print("sliced Wasserstein, forward vs sampler:", ", ".join(f"t={tp}: {d:.3f}" for tp, d in zip(show_t, gaps)))

# %% [markdown]
# Down to t = 150 both rows are a round blob. At t = 100 a hole opens in the middle, at t = 50 the arms
# show but are thick, and the last 50 steps sharpen them: with this schedule the shape appears only in
# the last tenth of the steps. The two rows look alike at every t, and the distances printed under the
# figure (0.03 to 0.06) are of the size we will measure between two real sets in section 8 (about
# 0.04): the sampler walks the forward process's marginals backwards.
#
# ## 7. Two variances: σt² = βt or β̃t
#
# β̃t < βt at every step, but with T = 1,000 the two differ by more than 5 % only in the first 35 steps
# (β̃1 = 0; exercise 1 asks for β̃ at another t). We sample again with the same generator seed, so x_T
# and every z are the same and only the scale of the injected noise differs. We also run a 20-step
# sampler, which jumps 50 steps at a time (chapter 05 treats such samplers properly). For a jump from t
# to s, `ddpm_step` uses βts = 1 − ᾱt/ᾱs or β̃ts = (1 − ᾱs)/(1 − ᾱt)·βts, so the two choices differ much
# more there.

# %%
runs = {}
for steps in (1000, 20):
    for variance in ("beta", "beta_tilde"):
        if (steps, variance) == (1000, "beta"):
            runs[steps, variance] = samples  # drawn above with the same generator seed
        else:
            runs[steps, variance] = model.sample((N_EVAL, 2), generator=torch.Generator().manual_seed(1),
                                                 variance=variance, num_steps=steps)
fig, axes = plt.subplots(2, 2, figsize=(6.4, 6.6))
for ax, ((steps, variance), x) in zip(axes.ravel(), runs.items()):
    name = "βt" if variance == "beta" else "β̃t"
    scatter_2d(x, ax=ax, title=f"{steps} steps, σt² = {name}")
plt.tight_layout()
plt.show()
abar = model.schedule.alphas_cumprod  # the 20-step run visits code indices 950, 900, ..., 50, 0
for t_from, t_to in [(950, 900), (500, 450), (100, 50), (50, 0)]:
    beta_ts = 1 - abar[t_from] / abar[t_to]
    beta_tilde_ts = (1 - abar[t_to]) / (1 - abar[t_from]) * beta_ts
    print(f"jump {t_from:3d} → {t_to:3d}: √βts = {beta_ts.sqrt():.2f}, √β̃ts = {beta_tilde_ts.sqrt():.2f}")

# %% [markdown]
# With 1,000 steps the two clouds look alike. With 20 steps they do not, and neither matches the data.
# The printed standard deviations (code indices) say why: most jumps inject about the same noise under
# both choices, and they part only at the end. From 50 to 0, √βts = 0.17, the noise level of x at
# t = 50, and the final step to x0 adds no noise and removes almost none: the roll blurs into a thick
# ring. √β̃ts is 0.01 there, so the β̃t arms are sharp, and they show what both runs share: a few big
# jumps strand points between the arms, where the network's x̂0, an average over the nearby arms, put
# them. Over many small steps the variance choice hardly matters; over big jumps it does.
#
# ## 8. Measuring quality
#
# A picture is not a number. For point clouds we use the **sliced Wasserstein distance**
# (`diffusion_lite.metrics.sliced_wasserstein`): project both sets onto a random direction, sort, and
# compare the sorted values, which is the exact 1-D optimal transport; average over 256 directions. It
# is zero for identical sets, but two finite samples of the *same* distribution are never identical, so
# every number needs a **floor**: the distance between two real held-out sets of the same size. We
# measure each cloud against five held-out sets and report the mean and spread; the floor is a sixth
# real set against the same five.

# %%
def distance(points):
    """Mean and standard deviation of the sliced Wasserstein distance to held-out sets 1–5."""
    d = torch.tensor([sliced_wasserstein(points, h) for h in heldout[:5]])
    return d.mean().item(), d.std().item()


table = {"real data (floor)": distance(heldout[5])}
for (steps, variance), x in runs.items():
    table[f"DDPM, {steps:4d} steps, σt² = {'βt' if variance == 'beta' else 'β̃t'}"] = distance(x)
print(f"{'samples (2,000 points)':34s} sliced Wasserstein to held-out data")
for name, (mean, sd) in table.items():
    print(f"{name:34s} {mean:.3f} ± {sd:.3f}")

# %% [markdown]
# Read the table against its first row. With 1,000 steps both variance choices land close to the
# floor (about 0.045 against 0.041), and the difference between them is far smaller than the spread
# from one held-out set to the next: on this data, as Ho et al. found on images, the choice does not
# matter.
# With 20 steps both are well above the floor, and the distance ranks the blurred ring of σt² = βt
# (0.064) ahead of the sharp but stranded spiral of σt² = β̃t (0.092). The distance measures how far
# probability mass must move to match the data, not how sharp the arms look; when a number and a picture
# disagree, report both. And keep the spread in mind: with 2,000 points, differences of a few
# thousandths are noise.
#
# ## 9. Exercises
#
# Replace each `None` with your answer and run the cell; the check says whether it is right. The inputs
# come from `checks.ch02` so that the check and the text use the same numbers.
#
# **Exercise 1.** Compute the posterior variance β̃t (Eq. 7) of DDPM's linear schedule (βt from 1e-4 to
# 0.02, T = 1000) at code index t = `T_POSTERIOR` = 10. By how much is it below βt?

# %%
from checks.ch02 import (EPS_HAT, T_POSTERIOR, T_STEP, T_X0, X_T, Z,  # noqa: E402
                         check_ddpm_step, check_noise_distance, check_posterior_variance, check_x0_hat)

answer = None  # a float
check_posterior_variance(answer);

# %% [markdown]
# **Exercise 2.** The network returns ε̂ = `EPS_HAT` at x_t = `X_T` and code index t = `T_X0` = 300.
# Which x̂0 does the seed's update implicitly use, that is, which x̂0 makes μ̃t(x_t, x̂0) equal to the
# seed's mean? Give a tensor shaped like `X_T`.

# %%
print("X_T =", X_T.tolist(), "| EPS_HAT =", EPS_HAT.tolist(), "| T_X0 =", T_X0)
answer = None  # a (1, 2) tensor
check_x0_hat(answer);

# %% [markdown]
# **Exercise 3.** Take one ancestral step from the same x_t and ε̂, now at code index t = `T_STEP` = 1
# (the paper's t = 2, the last step that adds noise), with noise z = `Z` and the variance σt² = β̃t. How
# does the result differ from the seed's choice σt² = βt, and why is the difference larger here than
# at t = 300?

# %%
print("T_STEP =", T_STEP, "| Z =", Z.tolist())
answer = None  # a (1, 2) tensor
check_ddpm_step(answer);

# %% [markdown]
# **Exercise 4.** The worst sampler returns its input: pure N(0, I) noise. Draw 2,000 points with
# `torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))` and compute their sliced
# Wasserstein distance to `heldout[0]`. How many times the floor is it?

# %%
answer = None  # a float
check_noise_distance(answer);

# %% [markdown]
# ## Summary
#
# - DDPM's reverse step is a Gaussian whose mean the network supplies through predicted noise:
#   μθ = (1/√αt)(x_t − βt/√(1 − ᾱt)·εθ) (Eq. 11), the posterior mean μ̃t(x_t, x̂0) with x̂0 from ε̂.
#   Training regresses ε with L_simple (Eq. 14); sampling is Algorithm 2.
# - The seed's `DDPM` has that mathematics right: its update is the package's `ddpm_step`, and its
#   sampling loop gives the package's samples to float32 rounding. Around it: `.view(-1, 1, 1, 1)` turns a (B, 2) batch into a (B, 1, B, 2) grid
#   whose points are told the wrong timestep; its tables are not buffers, so `.to(device)` leaves them
#   behind; and its sampler can only be repeated by resetting the global generator.
#   `diffusion_lite.DDPM` fixes all three and keeps the API.
# - A 70k-parameter MLP trained for 5,000 steps in well under a minute samples a swiss roll that the
#   eye, and the sliced Wasserstein distance, find close to real held-out data.
# - σt² = βt and σt² = β̃t agree with 1,000 steps. With 20 big jumps they part: βts leaves the last
#   jump's noise in the samples, β̃ts keeps the arms sharp, and both are far from the data.
# - Report a distance with its floor, the same distance between two real sets, and with its spread.
#
# Next, chapter 03 builds the UNet that replaces the MLP for images.
