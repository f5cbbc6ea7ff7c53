"""Checks for chapter 04 (DDPM on images): `from checks.ch04 import check_...`.

Every check computes the right answer with `diffusion_lite` or torch (running the EMA update, counting
a sampler's calls, evaluating FID on feature sets), never from a stored number; the exercise inputs
below are the single source of the numbers the chapter shows the reader.
"""
from __future__ import annotations

import torch
from torch import nn

from diffusion_lite.checkpoints import get_recipe
from diffusion_lite.ddpm import DDPM
from diffusion_lite.datasets import load_fashion_mnist, to_model_range
from diffusion_lite.metrics import classifier_outputs, frechet_distance, load_classifier
from diffusion_lite.samplers import sample_loop
from diffusion_lite.schedules import NoiseSchedule
from diffusion_lite.training import ema_decay_at, ema_update

from . import close, unanswered, verdict

# Exercise 1: a plain EMA (constant decay, no warm-up) after EMA_STEPS updates.
EMA_DECAY, EMA_STEPS = 0.999, 1750
# Exercise 2: the EMA window at the last update of this recipe.
WINDOW_RECIPE = "fashion-ddpm"
# Exercise 3: network evaluations for NUM_IMAGES images, DDIM with DDIM_STEPS steps vs ancestral DDPM.
NUM_IMAGES, DDIM_STEPS, T = 1000, 50, 1000
# Exercise 4: two exactly Gaussian 2-D feature sets.
MU_A, SIGMA_A = torch.tensor([0.0, 0.0]), torch.diag(torch.tensor([1.0, 4.0]))
MU_B, SIGMA_B = torch.tensor([1.0, 1.0]), torch.diag(torch.tensor([4.0, 1.0]))
# Exercise 5: the real-vs-real FID of REAL_N training against REAL_N test images, indices from REAL_SEED.
REAL_N, REAL_SEED = 300, 1
# Exercise 6: the min-SNR-γ weight of an ε-prediction example at WEIGHT_T, for the fashion-ddpm schedule.
WEIGHT_GAMMA, WEIGHT_T = 5.0, 50


def ema_initial_weight() -> float:
    """Run the package's EMA update on one parameter: it starts at 1 (the initial network) and the
    model's weight is 0 at every step, so what is left afterwards is the initial weights' share."""
    ema, model = (nn.Linear(1, 1, bias=False, dtype=torch.float64) for _ in range(2))
    with torch.no_grad():
        ema.weight.fill_(1.0)
        model.weight.fill_(0.0)
    for _ in range(EMA_STEPS):
        ema_update(ema, model, EMA_DECAY)
    return ema.weight.item()


def check_ema_initial_weight(answer) -> bool:
    """Exercise 1: the weight a constant-decay EMA still gives the initial network after EMA_STEPS steps."""
    if unanswered(answer):
        return False
    right = ema_initial_weight()
    hint = (f"Each update multiplies what the average holds of the initial weights by d = {EMA_DECAY}; "
            f"after n updates that is d^n.")
    if close(answer, 1 - right, rel=1e-3):
        hint = "That is the share of the trained weights; the question asks for what is left of the initial ones."
    return verdict(close(answer, right, rel=1e-3),
                   f"{EMA_DECAY}^{EMA_STEPS} = {right:.4f}: about {right:.0%} of the average is still the untrained "
                   "network, whose output is 0.", hint)


def ema_window() -> float:
    cfg = get_recipe(WINDOW_RECIPE).train
    return 1 / (1 - ema_decay_at(cfg.steps - 1, cfg.ema_decay))


def check_ema_window(answer) -> bool:
    """Exercise 2: 1/(1 − d_n) at the last EMA update (n = steps − 1) of WINDOW_RECIPE, with warm-up."""
    if unanswered(answer):
        return False
    cfg = get_recipe(WINDOW_RECIPE).train
    right = ema_window()
    hint = (f"Compute d_n = min({cfg.ema_decay}, (1 + n)/(10 + n)) at n = steps − 1 of the recipe, "
            "then 1/(1 − d_n).")
    if close(answer, 1 / (1 - cfg.ema_decay), rel=1e-3):
        hint = (f"That is the window of d = {cfg.ema_decay} itself; is the warm-up's (1 + n)/(10 + n) above or below "
                f"{cfg.ema_decay} at n = {cfg.steps - 1:,}?")
    return verdict(close(answer, right, rel=5e-3),
                   f"{right:.1f} steps: at step {cfg.steps - 1:,} the warm-up still holds the decay at "
                   f"{1 - 1 / right:.5f}, below {cfg.ema_decay}.", hint)


def network_evaluations() -> tuple[int, int]:
    """Count the images a stand-in network is called on while the package's loop samples NUM_IMAGES images."""
    schedule = NoiseSchedule.make("linear", T, 1e-4, 0.02)
    counts = []
    for sampler, steps, options in (("ddim", DDIM_STEPS, {"eta": 0.0}), ("ddpm", None, {"variance": "beta"})):
        seen = [0]

        def network(x, t):
            seen[0] += x.shape[0]
            return torch.zeros_like(x)

        x = torch.zeros(NUM_IMAGES, 1, 1, 1)  # one-pixel images: only the number of calls matters here
        for _ in sample_loop(network, x, schedule, steps, sampler, "trailing" if sampler == "ddim" else "leading",
                             generator=torch.Generator().manual_seed(0), **options):
            pass
        counts.append(seen[0])
    return counts[0], counts[1]


def check_network_evaluations(answer) -> bool:
    """Exercise 3: (DDIM-DDIM_STEPS, ancestral DDPM over all T steps) network evaluations for NUM_IMAGES images."""
    if unanswered(answer):
        return False
    right = network_evaluations()
    try:
        yours = tuple(int(v) for v in answer)
    except (TypeError, ValueError):
        yours = None
    hint = "Each sampling step calls the network once on every image; count steps × images for each sampler."
    if yours == (DDIM_STEPS, T):
        hint = f"Those are the evaluations per image; the question asks for all {NUM_IMAGES:,} images."
    return verdict(yours == right, f"{right[0]:,} and {right[1]:,}: DDIM-{DDIM_STEPS} needs {right[1] // right[0]}× "
                                   "fewer evaluations.", hint)


def gaussian_fid() -> float:
    """Build feature sets whose sample mean and covariance are exactly (μ, Σ) and run metrics.frechet_distance."""
    def exact(mu, sigma):
        z = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        z = z - z.mean(0)
        z = z @ torch.linalg.inv(torch.linalg.cholesky(torch.cov(z.T))).T  # sample covariance exactly I
        vals, vecs = torch.linalg.eigh(sigma.double())
        return z @ (vecs @ torch.diag(vals.sqrt()) @ vecs.T) + mu.double()

    return frechet_distance(exact(MU_A, SIGMA_A), exact(MU_B, SIGMA_B))


def check_gaussian_fid(answer) -> bool:
    """Exercise 4: FID (Heusel et al. 2017, Eq. 6) between N(MU_A, SIGMA_A) and N(MU_B, SIGMA_B)."""
    if unanswered(answer):
        return False
    right = gaussian_fid()
    mean_term = float(((MU_A - MU_B) ** 2).sum())
    hint = "FID = ‖μa − μb‖² + Tr(Σa + Σb − 2(ΣaΣb)^½); here ΣaΣb is diagonal, so its root is entry by entry."
    if close(answer, right - mean_term, rel=1e-3):
        hint = "That is the covariance term alone; add the mean term ‖μa − μb‖²."
    return verdict(close(answer, right, rel=1e-4),
                   f"{right:.4f} = {mean_term:g} (means) + {right - mean_term:g} (covariances).", hint)


def real_fid() -> float:
    g = torch.Generator().manual_seed(REAL_SEED)
    train, _ = load_fashion_mnist("train")
    test, _ = load_fashion_mnist("test")
    a = train[torch.randperm(len(train), generator=g)[:REAL_N]]
    b = test[torch.randperm(len(test), generator=g)[:REAL_N]]
    classifier = load_classifier()
    feats_a, _ = classifier_outputs(classifier, to_model_range(a))
    feats_b, _ = classifier_outputs(classifier, to_model_range(b))
    return frechet_distance(feats_a, feats_b)


def check_real_fid(answer) -> bool:
    """Exercise 5: FID between the classifier features of REAL_N training and REAL_N test images."""
    if unanswered(answer):
        return False
    right = real_fid()
    hint = ("Take the indices from one generator, training images first; convert with to_model_range, get the "
            "features with classifier_outputs(load_classifier(), ...), and call frechet_distance.")
    if close(answer, 0.0, abs_=1e-6):
        hint = "Two finite real sets are never identical: their FID is the floor, not zero."
    return verdict(close(answer, right, rel=1e-3),
                   f"FID {right:.2f} between two real sets of {REAL_N}: the floor at N = {REAL_N}; compare it with "
                   "section 6's curve at N = 200 and 500.", hint)


def min_snr_weight() -> float:
    d = get_recipe("fashion-ddpm").ddpm
    ddpm = DDPM(nn.Identity(), d.timesteps, d.beta_start, d.beta_end, "linear", min_snr_gamma=WEIGHT_GAMMA)
    return float(ddpm.loss_weights(torch.tensor([WEIGHT_T]))[0])


def check_min_snr_weight(answer) -> bool:
    """Exercise 6: min(SNR_t, γ)/SNR_t at t = WEIGHT_T for the linear schedule of chapters 01–03."""
    if unanswered(answer):
        return False
    right = min_snr_weight()
    hint = "SNR_t = ᾱt/(1 − ᾱt) with ᾱt = ∏(1 − βs) over s = 0..t; the ε-weight is min(SNR_t, γ)/SNR_t."
    if close(answer, WEIGHT_GAMMA, rel=1e-3):
        hint = f"{WEIGHT_GAMMA:g} is the weight on the x0-error, min(SNR_t, γ); divide by SNR_t for the ε-error."
    elif close(answer, 1.0, rel=1e-6):
        hint = "A weight of 1 means SNR_t <= γ; at this t the image is still clean enough that SNR_t > γ."
    return verdict(close(answer, right, rel=1e-3),
                   f"{right:.4f}: at t = {WEIGHT_T} the ε-loss counts {right:.0%} as much as at a noisy step.", hint)
