# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · The forward process
#
# A diffusion model learns to undo a fixed, simple corruption: adding Gaussian noise to an image a
# little at a time until nothing of it is left. This chapter is about that corruption, the
# **forward process**. It has no parameters to learn; all its behaviour is in one list of numbers,
# the variance schedule $\beta_1, \dots, \beta_T$.
#
# **After this chapter you can**
# - write down one step of the forward process, $q(x_t \mid x_{t-1})$ (Ho et al. 2020, Eq. 2), and derive
#   the jump straight from the clean image, $q(x_t \mid x_0)$ (Eq. 4);
# - compute $\beta_t$, $\alpha_t$, $\bar\alpha_t$ and the signal-to-noise ratio SNR($t$) of a schedule, and
#   translate between the paper's step numbers $t = 1..T$ and the code's indices $t = 0..T-1$;
# - check numerically that $T$ small steps and one closed-form jump give the same distribution;
# - compare the linear, scaled-linear, cosine and sigmoid schedules by $\bar\alpha_t$, by SNR and by
#   what they do to images;
# - explore $\beta_{\text{start}}$, $\beta_{\text{end}}$, $T$ and the schedule kind with sliders.

# %%
import math

import matplotlib.pyplot as plt
import torch

from diffusion_lite import NoiseSchedule
from diffusion_lite.datasets import CLASS_NAMES, load_fashion_mnist, to_model_range
from diffusion_lite.plotting import plot_schedule_curves, show_images
from diffusion_lite.process import add_noise, forward_step
from diffusion_lite.schedules import SCHEDULES

# %% [markdown]
# ## 1. One step of noise (Ho et al. 2020, Eq. 2)
#
# Start from a clean image $x_0$. Each step shrinks the current image a little and adds a little
# Gaussian noise:
#
# $$q(x_{1:T} \mid x_0) = \prod_{t=1}^{T} q(x_t \mid x_{t-1}), \qquad
#   q(x_t \mid x_{t-1}) = \mathcal N\!\left(x_t;\ \sqrt{1-\beta_t}\,x_{t-1},\ \beta_t I\right). \tag{Eq. 2}$$
#
# As a sampling rule: $x_t = \sqrt{1-\beta_t}\,x_{t-1} + \sqrt{\beta_t}\,\varepsilon$ with
# $\varepsilon \sim \mathcal N(0, I)$, which is `diffusion_lite.process.forward_step`. The shrink factor
# $\sqrt{1-\beta_t}$ is what keeps the numbers bounded: a pixel with variance 1 keeps variance
# $(1-\beta_t)\cdot 1 + \beta_t = 1$. Without it the variance would grow by $\beta_t$ at every step.
#
# We write $\alpha_t = 1 - \beta_t$ and $\bar\alpha_t = \prod_{s=1}^{t} \alpha_s$ ("alpha-bar").
#
# **Index convention, for the whole book.** The paper numbers the steps $t = 1..T$, with $x_0$ the
# clean image. The code numbers them $t = 0..T-1$, as Python indexes arrays: `schedule.betas[t]` is
# the paper's $\beta_{t+1}$, and `schedule.alphas_cumprod[t]` is the paper's $\bar\alpha_{t+1}$, the
# signal left after $t+1$ steps. So `forward_step(schedule, x, t, noise)` makes the paper's
# $x_{t+1}$ from $x_t$, and `add_noise(schedule, x0, t, noise)` returns the paper's $x_{t+1}$; even code
# step $t = 0$ has one step of noise in it. From here on, a $t$ in code or in a figure is the code's,
# and a $t$ in an equation is the paper's.

# %% [markdown]
# ## 2. Jumping straight to step t (Eq. 4)
#
# Running $t$ steps to get $x_t$ would make training slow: it needs $x_t$ for a random $t$ in every
# example. Gaussians make the loop unnecessary:
#
# $$q(x_t \mid x_0) = \mathcal N\!\left(x_t;\ \sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t) I\right),
#   \qquad\text{i.e.}\qquad x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon. \tag{Eq. 4}$$
#
# *Derivation, by induction on $t$.* For $t = 1$ this is Eq. 2, since $\bar\alpha_1 = \alpha_1$.
# Suppose it holds for $t-1$: $x_{t-1} = \sqrt{\bar\alpha_{t-1}}\,x_0 + \sqrt{1-\bar\alpha_{t-1}}\,\varepsilon'$.
# One more step gives
#
# $$x_t = \sqrt{\alpha_t}\,x_{t-1} + \sqrt{\beta_t}\,\varepsilon
#       = \sqrt{\alpha_t\bar\alpha_{t-1}}\,x_0 + \sqrt{\alpha_t(1-\bar\alpha_{t-1})}\,\varepsilon' + \sqrt{\beta_t}\,\varepsilon .$$
#
# The two noise terms are independent zero-mean Gaussians, so their sum is a zero-mean Gaussian whose
# variance is the sum of theirs: $\alpha_t(1-\bar\alpha_{t-1}) + \beta_t = \alpha_t - \bar\alpha_t + 1 - \alpha_t = 1-\bar\alpha_t$.
# With $\alpha_t\bar\alpha_{t-1} = \bar\alpha_t$ that is Eq. 4 for $t$. $\square$
#
# Eq. 4 is `diffusion_lite.process.add_noise`. It says how much of the image is left at step $t$: the
# signal is scaled by $\sqrt{\bar\alpha_t}$ and the noise has variance $1-\bar\alpha_t$. Their ratio is
# the **signal-to-noise ratio** (Kingma et al. 2021), the number we will compare schedules by:
#
# $$\mathrm{SNR}(t) = \frac{\bar\alpha_t}{1-\bar\alpha_t}.$$
#
# Note what the derivation does *not* say: the $\varepsilon$ of Eq. 4 is a mixture of all the step noises,
# so a jump and a loop give different images. They agree **in distribution**, and that is what we check
# in Section 4. First, a picture: one image pushed through the loop of Eq. 2 (top) and through the jump
# of Eq. 4 (bottom), with Ho et al.'s linear schedule.

# %%
images_uint8, labels = load_fashion_mnist("test")
picks = [int(torch.nonzero(labels == c)[0]) for c in (9, 2, 1, 8)]  # first ankle boot, pullover, trouser, bag
images = to_model_range(images_uint8[picks])  # (4, 1, 28, 28) in [-1, 1]
print([CLASS_NAMES[int(labels[i])] for i in picks], tuple(images.shape),
      f"range [{images.min():.0f}, {images.max():.0f}]")

# %%
schedule = NoiseSchedule.make("linear", num_timesteps=1000, beta_start=1e-4, beta_end=0.02)
shown = [0, 50, 100, 250, 500, 999]
x0 = images[1:2]  # the pullover, (1, 1, 28, 28)
g = torch.Generator().manual_seed(0)

x, looped = x0, []
for t in range(schedule.num_timesteps):  # Eq. 2, one step at a time
    x = forward_step(schedule, x, t, torch.randn(x.shape, generator=g))
    if t in shown:
        looped.append(x[0])
jumped = [add_noise(schedule, x0, t, torch.randn(x0.shape, generator=g))[0] for t in shown]  # Eq. 4

fig, axes = plt.subplots(2, len(shown), figsize=(7.2, 2.8))
show_images(torch.stack(looped), ax=axes[0], titles=[f"loop, t={t}" for t in shown])
show_images(torch.stack(jumped), ax=axes[1], titles=[f"jump, t={t}" for t in shown])
plt.tight_layout()
plt.show()

# %% [markdown]
# The two rows differ pixel by pixel, but they fade alike: the print is still readable at $t = 100$,
# barely there at $t = 250$, and from $t = 500$ on both rows look like noise to the eye, although
# $\bar\alpha_{500} = 0.08$ of the signal variance is still in them.

# %% [markdown]
# ## 3. The seed's schedule
#
# The article this book starts from defines the schedule in its `DDPM.__init__`. Here are those lines,
# run with Ho et al.'s values ($T = 1000$, $\beta$ from $10^{-4}$ to $0.02$):

# %%
# From the seed's DDPM.__init__ (self. dropped):
timesteps, beta_start, beta_end = 1000, 1e-4, 0.02
betas = torch.linspace(beta_start, beta_end, timesteps)
alphas = 1. - betas
alpha_bars = torch.cumprod(alphas, dim=0)

# %% [markdown]
# They agree with the package's `NoiseSchedule`. The package keeps its tables in float64; the seed's
# are float32, about 7 significant digits. So $\beta_t$ agree to float32 precision, and $\bar\alpha_t$,
# a product of 1000 rounded factors, may drift by up to about $1000 \times 6\cdot10^{-8} = 6\cdot10^{-5}$
# in relative terms: that is the tolerance. The seed's noising line from `DDPM.forward` is Eq. 4, and
# agrees with `add_noise`:

# %%
rel_err = ((alpha_bars.double() - schedule.alphas_cumprod) / schedule.alphas_cumprod).abs().max().item()
print(f"largest relative difference in alpha-bar, float32 seed vs float64 package: {rel_err:.1e}")
assert torch.allclose(betas.double(), schedule.betas, rtol=1e-6, atol=0)
assert torch.allclose(alpha_bars.double(), schedule.alphas_cumprod, rtol=6e-5, atol=0)

g = torch.Generator().manual_seed(1)
t = torch.randint(0, timesteps, (len(images),), generator=g)  # one step per image, (B,)
noise = torch.randn(images.shape, generator=g)
alpha_bar = alpha_bars[t].view(-1, 1, 1, 1)  # the seed's DDPM.forward
noisy_x = torch.sqrt(alpha_bar) * images + torch.sqrt(1 - alpha_bar) * noise
assert torch.allclose(noisy_x, add_noise(schedule, images, t, noise), atol=1e-5)

# %% [markdown]
# ## 4. Loop and jump agree in distribution
#
# We check Eq. 4 against $T = 1000$ steps of Eq. 2 for four pixel values
# $x_0 \in \{-1, -0.3, 0.4, 1\}$, each with $N = 20{,}000$ independent chains. After every step we
# compare the sample mean with $\sqrt{\bar\alpha_t}\,x_0$ and the sample variance with $1-\bar\alpha_t$.
#
# **How close is close enough?** For $N$ draws from a Gaussian with variance $v$, the sample mean has
# standard error $\sqrt{v/N}$ and the sample variance $v\sqrt{2/(N-1)}$. We measure every deviation in
# these units (a $z$-score) and require $|z| < 5$. A correct process exceeds 5 with probability
# $6\cdot10^{-7}$ per comparison, so all $2 \times 4 \times 1000$ comparisons pass except with probability
# below 0.5%; and because the generator is seeded, the outcome is the same on every run. To show the test
# has teeth, the same loop also runs a wrong process that forgets the shrink,
# $x_t = x_{t-1} + \sqrt{\beta_t}\,\varepsilon$.

# %%
def simulate(step, x0_values, n, num_timesteps, generator):
    """Run n chains per x0 value through `step`; return per-step means and variances (T, len(x0_values))."""
    x = x0_values.expand(n, -1).clone()  # (N, 4)
    means, variances, snapshots = [], [], {}
    for t in range(num_timesteps):
        x = step(x, t, torch.randn(x.shape, generator=generator))
        means.append(x.mean(0))
        variances.append(x.var(0))
        if t in (9, 99, 299, 999):
            snapshots[t] = x[:, -1].clone()  # the chains that started at x0 = 1
    return torch.stack(means).double(), torch.stack(variances).double(), snapshots


def z_scores(means, variances, x0_values, alphas_cumprod, n):
    """Deviations from Eq. 4 in units of their standard errors."""
    abar = alphas_cumprod[:, None]  # (T, 1)
    z_mean = (means - abar.sqrt() * x0_values.double()) / ((1 - abar) / n).sqrt()
    z_var = (variances - (1 - abar)) / ((1 - abar) * math.sqrt(2 / (n - 1)))
    return z_mean.abs().max().item(), z_var.abs().max().item()


x0_values, n = torch.tensor([-1.0, -0.3, 0.4, 1.0]), 20_000
means, variances, snapshots = simulate(lambda x, t, eps: forward_step(schedule, x, t, eps),
                                       x0_values, n, 1000, torch.Generator().manual_seed(2))
z_mean, z_var = z_scores(means, variances, x0_values, schedule.alphas_cumprod, n)
print(f"Eq. 2 loop vs Eq. 4: largest |z| of the means {z_mean:.2f}, of the variances {z_var:.2f}")
assert z_mean < 5 and z_var < 5

# %%
def no_shrink(x, t, eps):  # wrong on purpose: x_t = x_{t-1} + √βt·ε, without the factor √(1 − βt)
    return x + schedule.betas[t].sqrt().float() * eps


bad_means, bad_variances, _ = simulate(no_shrink, x0_values, n, 1000, torch.Generator().manual_seed(2))
bad_z_mean, bad_z_var = z_scores(bad_means, bad_variances, x0_values, schedule.alphas_cumprod, n)
print(f"without the shrink: largest |z| of the means {bad_z_mean:.0f}, of the variances {bad_z_var:.0f}")
assert bad_z_mean > 100 and bad_z_var > 100

# %% [markdown]
# Mean and variance are not the whole distribution, so here are the chains that started at $x_0 = 1$,
# as histograms, with the density of Eq. 4 drawn over them:

# %%
fig, axes = plt.subplots(1, 4, figsize=(10, 2.6), sharey=False)
for ax, (t, samples) in zip(axes, snapshots.items()):
    abar = schedule.alphas_cumprod[t].item()
    mean, std = math.sqrt(abar), math.sqrt(1 - abar)
    ax.hist(samples.numpy(), bins=60, density=True, color="lightgray", label="loop (Eq. 2)")
    u = torch.linspace(mean - 4 * std, mean + 4 * std, 200)
    ax.plot(u, torch.exp(-0.5 * ((u - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi)), label="Eq. 4")
    ax.set(title=f"t = {t}, ᾱt = {abar:.3f}" if abar > 1e-3 else f"t = {t}, ᾱt = {abar:.0e}",
           xlabel="x_t", yticks=[])
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# At $t = 9$ the pixel is still close to 1 with a narrow spread; by $t = 999$ it is a standard normal
# centred at 0, having forgotten where it started. At every step the histogram follows the curve.

# %% [markdown]
# ## 5. Four schedules
#
# The schedule decides how fast the signal goes. The package knows four, by name (`NoiseSchedule.make`):
#
# | name | $\beta_t$ | used by |
# |---|---|---|
# | `linear` | evenly spaced from $\beta_{\text{start}}$ to $\beta_{\text{end}}$ | Ho et al. 2020 ($10^{-4}$ to $0.02$) |
# | `scaled_linear` | $\sqrt{\beta_t}$ evenly spaced, then squared | Stable Diffusion ($0.00085$ to $0.012$) |
# | `sigmoid` | $\beta_{\text{start}} + (\beta_{\text{end}}-\beta_{\text{start}})\,\mathrm{sigmoid}(u)$, $u$ evenly spaced on $[-6, 6]$ | diffusers' `"sigmoid"` |
# | `cosine` | defined by $\bar\alpha_t = f(t)/f(0)$, $f(t) = \cos^2\!\big(\tfrac{t/T + s}{1+s}\cdot\tfrac{\pi}{2}\big)$, $s = 0.008$; $\beta_t = 1 - \bar\alpha_t/\bar\alpha_{t-1}$, at most 0.999 | Nichol & Dhariwal 2021, Eq. 17 |
#
# We give the first three the same range, $10^{-4}$ to $0.02$ with $T = 1000$, so that only the shape
# differs; the cosine schedule has no $\beta$ range.

# %%
schedules = {kind: NoiseSchedule.make(kind, 1000, 1e-4, 0.02) for kind in SCHEDULES}

fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
for kind, s in schedules.items():
    axes[0].plot(torch.arange(1000) / 1000, s.betas, label=kind)
axes[0].set(yscale="log", xlabel="t / T", ylabel="βt", title="variance added per step, βt")
plot_schedule_curves(schedules, axes=axes[1:])
plt.tight_layout()
plt.show()

# %%
print(f"{'schedule':>14} {'ᾱ at t=250':>11} {'t=500':>7} {'t=750':>7} {'ᾱ_T':>9}   first t with SNR < 1")
for kind, s in schedules.items():
    abar = s.alphas_cumprod
    print(f"{kind:>14} {abar[250]:11.3f} {abar[500]:7.3f} {abar[750]:7.3f} {abar[-1]:9.1e}",
          f"  {s.first_t_below_snr(1.0)}")

# %% [markdown]
# What the curves and the table show:
#
# - **Linear destroys the signal early.** Its SNR falls below 1 at $t = 259$, a quarter of the way
#   in, and $\bar\alpha_t < 0.01$ from $t = 673$ on: the last third of its steps act on images that are
#   already almost pure noise, steps a model spends effort on without much to learn.
# - **Cosine spends its steps evenly.** $\bar\alpha_t$ falls almost in a straight line through the middle,
#   and log SNR is nearly straight there too; SNR crosses 1 at $t = 496$, half way, and 14% of the
#   signal variance is still there at $t = 750$. Its $\beta_t$ is tiny at first and shoots up to the
#   0.999 cap at the very end, which is why its $\bar\alpha_T$ is $2\cdot10^{-9}$.
# - **Sigmoid** keeps the most signal for the first third (its $\beta_t$ stays below about $10^{-3}$ for
#   the first quarter, then rises steeply), and then loses it quickly: from $\bar\alpha = 0.90$ at
#   $t = 250$ to $0.006$ at $t = 750$.
# - **Scaled-linear** has a smaller average $\beta_t$ than linear for the same end points, so it keeps
#   more signal all along, and ends at $\bar\alpha_T = 7\cdot10^{-4}$: some signal is left at the last
#   step. (No schedule here reaches exactly zero; Lin et al. 2024 show why that matters for sampling.)
#
# The same comparison on an image: the pullover, noised at the same steps with the **same noise**
# under each schedule, so that only $\bar\alpha_t$ differs between rows.

# %%
shown = [100, 250, 400, 500, 650, 800]
x0 = images[1:2].expand(len(shown), -1, -1, -1)  # (6, 1, 28, 28), the same image at every step
noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(3))
t = torch.tensor(shown)

fig, axes = plt.subplots(len(schedules), len(shown), figsize=(9.5, 7))
for row, (kind, s) in zip(axes, schedules.items()):
    titles = [f"t={ti}, ᾱ={a:.2f}" if a >= 0.01 else f"t={ti}, ᾱ={a:.0e}" for ti, a in zip(shown, s.alphas_cumprod[t])]
    show_images(add_noise(s, x0, t, noise), ax=row, titles=titles)
    row[0].text(-0.12, 0.5, kind, transform=row[0].transAxes, ha="right", va="center", fontsize=10)
plt.tight_layout()
plt.show()

# %% [markdown]
# Read it column by column. At $t = 250$ the linear row has all but lost the print, which the other
# rows still show. At $t = 400$ the linear row is noise to the eye while the other three still show
# the pullover. At $t = 500$ its shape is clearest in the cosine row ($\bar\alpha = 0.49$) and faint
# in scaled-linear and sigmoid (about 0.3); at $t = 650$ only the cosine row keeps a faint trace; at
# $t = 800$ every row looks like noise, though cosine still has $\bar\alpha = 0.09$.

# %% [markdown]
# ## 6. Explore βt yourself
#
# The explorer below redraws three noised images and the $\bar\alpha_t$ and SNR curves whenever you
# move a control: the schedule kind, $\beta_{\text{start}}$ and $\beta_{\text{end}}$ (both on log scales) and
# $T$. The columns are at 0%, 10%, 25%, 50%, 75% and 100% of the way to $T$, with the same noise
# for every setting. Things to try:
# - linear with $T = 100$ instead of 1000: the last column still shows the images, because
#   $\bar\alpha_T \approx 0.36$; too few steps with small $\beta_t$ never reach noise;
# - linear with $\beta_{\text{end}} = 0.01$, then $0.05$: where does SNR cross 1?
# - $\beta_{\text{end}} < \beta_{\text{start}}$: the explorer says why that is not allowed, and keeps
#   working once you fix it.

# %%
from diffusion_lite.widgets import BetaExplorer

explorer = BetaExplorer(images[:3])
explorer

# %% [markdown]
# A check that the explorer does what it says, by moving its controls from code
# (`explorer.controls[name].value = ...` re-runs it at once) and reading `explorer.result`:

# %%
c = explorer.controls
c["num_timesteps"].value = 100
r = explorer.result
assert r["noised"].shape == (3, 6, 1, 28, 28) and r["timesteps"] == [0, 10, 25, 50, 74, 99]
assert math.isclose(r["alpha_bar_T"], NoiseSchedule.make("linear", 100).alphas_cumprod[-1].item())
print(f"T = 100: ᾱ_T = {r['alpha_bar_T']:.2f}, the images survive to the end")

c["beta_start"].value = 0.05  # now β_end = 0.02 < β_start = 0.05: invalid
print(explorer.result["error"])
assert "beta_end must be >= beta_start" in explorer.result["error"]
assert "Invalid setting" in explorer.status.value

c["beta_end"].value = 0.1  # valid again: 0.05 <= 0.1
assert "error" not in explorer.result
expected = NoiseSchedule.make("linear", 100, beta_start=0.05, beta_end=0.1).alphas_cumprod[-1].item()
assert math.isclose(explorer.result["alpha_bar_T"], expected)
print("fixed:", explorer.status.value)

for name, value in [("beta_start", 1e-4), ("beta_end", 0.02), ("num_timesteps", 1000), ("kind", "cosine")]:
    c[name].value = value
assert explorer.result["snr_below_1_at"] == schedules["cosine"].first_t_below_snr(1.0)
c["kind"].value = "linear"  # back to where it started

# %% [markdown]
# ## 7. Exercises
#
# Replace each `None` with your answer and run the cell; the check computes the right answer with
# `diffusion_lite` and tells you whether yours matches. The solutions are in `solutions/ch01.py`.

# %%
from checks.ch01 import (check_beta_end, check_constant_beta_steps, check_cosine_snr_crossing,
                         check_two_step_variance)

# %% [markdown]
# **Exercise 1.** Ho et al.'s linear schedule ($T = 1000$, $\beta$ from $10^{-4}$ to $0.02$) ends with
# $\bar\alpha_T \approx 4\cdot10^{-5}$. Which $\beta_{\text{end}}$ (same $T$ and $\beta_{\text{start}}$) makes
# $\bar\alpha_T = 10^{-3}$ exactly? Give it to within 0.1%. *Hint:* estimate it first with
# $\ln(1-\beta) \approx -\beta$, then refine numerically with `NoiseSchedule.make`.

# %%
answer = None  # a float, β_end
check_beta_end(answer);

# %% [markdown]
# **Exercise 2.** For the cosine schedule with $T = 1000$, what is the first **code** index $t$ at which
# SNR($t$) falls below 1? *Hint:* SNR $< 1$ means $\bar\alpha_t < 1/2$; estimate where from the formula
# for $f$, then find it exactly in `NoiseSchedule.make("cosine").alphas_cumprod`.

# %%
answer = None  # an integer, the code's index t
check_cosine_snr_crossing(answer);

# %% [markdown]
# **Exercise 3.** Two steps of Eq. 2 with $\beta_1 = 0.1$ and $\beta_2 = 0.2$ (the paper's indices). What is
# the variance of each pixel of $x_2$ given $x_0$? Derive it from Eq. 2 by writing out both steps, then
# compare with what Eq. 4 says.

# %%
answer = None  # a float
check_two_step_variance(answer);

# %% [markdown]
# **Exercise 4.** With the same $\beta$ at every step, $\beta_t = 0.02$, alpha-bar has a closed form,
# $\bar\alpha_T = (1-\beta)^T$. What is the smallest number of steps $T$ with $\bar\alpha_T < 10^{-3}$?

# %%
answer = None  # an integer number of steps
check_constant_beta_steps(answer);

# %% [markdown]
# ## Summary
#
# - The forward process adds Gaussian noise in $T$ steps, $q(x_t \mid x_{t-1}) = \mathcal N(\sqrt{1-\beta_t}\,x_{t-1}, \beta_t I)$
#   (Eq. 2); the shrink $\sqrt{1-\beta_t}$ keeps the variance from growing.
# - Because Gaussians add, $t$ steps collapse into one jump, $x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon$
#   (Eq. 4). Loop and jump give different images but the same distribution, which we checked to
#   within 5 standard errors at every one of 1000 steps.
# - The paper counts steps $1..T$, the code $0..T-1$: `alphas_cumprod[t]` is the paper's $\bar\alpha_{t+1}$.
# - A schedule is judged by its $\bar\alpha_t$ and SNR curves. With the same $\beta$ range, linear loses
#   the signal first (SNR $< 1$ a quarter of the way in), sigmoid and scaled-linear later, and cosine
#   spreads the loss most evenly (SNR $< 1$ half way).
# - The seed's schedule lines are the linear schedule, in float32; `diffusion_lite.NoiseSchedule`
#   computes the same table in float64 and is what the rest of the book uses.
#
# Next, in chapter 02, a network learns to run this process backwards.
