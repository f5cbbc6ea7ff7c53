"""The corrected seed DDPM: loss, ancestral sampling with a perfect denoiser, determinism, diffusers parity."""
import pytest
import torch
from torch import nn

from diffusion_lite import DDPM, MLPDenoiser
from diffusion_lite.embeddings import sinusoidal_embedding
from diffusion_lite.process import add_noise, predicted_x0_eps, x0_from_eps
from diffusion_lite.samplers import ddpm_step, sample_loop
from diffusion_lite.schedules import NoiseSchedule


class GaussianOracle(nn.Module):
    """The exact ε̂(x_t, t) = E[ε | x_t] when the data are N(mu, std²) per coordinate."""

    def __init__(self, schedule, mu, std):
        super().__init__()
        self.schedule, self.mu, self.std = schedule, torch.tensor(mu), torch.tensor(std)

    def forward(self, x, t):
        abar = self.schedule.alphas_cumprod[t].float().view(-1, *([1] * (x.ndim - 1)))
        var_t = abar * self.std**2 + 1 - abar
        return (1 - abar).sqrt() * (x - abar.sqrt() * self.mu) / var_t


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x, t):
        return self.fn(x, t)


def oracle_ddpm(T=1000):
    ddpm = DDPM(nn.Identity(), T)
    ddpm.network = GaussianOracle(ddpm.schedule, [1.0, -2.0], [0.5, 0.2])
    return ddpm


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_sampling_with_perfect_denoiser_recovers_the_gaussian(variance):
    x = oracle_ddpm().sample((20_000, 2), generator=torch.Generator().manual_seed(0), variance=variance)
    assert torch.allclose(x.mean(0), torch.tensor([1.0, -2.0]), atol=0.02)
    assert torch.allclose(x.std(0), torch.tensor([0.5, 0.2]), rtol=0.03)


def test_with_skipped_steps_the_two_variances_bracket_the_truth():
    """Ho et al. 2020, Sec. 3.2: σ² = βt and σ² = β̃t are the two extremes; with 100 of 1000 steps the
    difference shows: β̃ gives too little spread and β too much (Bao et al. 2022 fit the optimum)."""
    std = {v: oracle_ddpm().sample((20_000, 2), generator=torch.Generator().manual_seed(0), variance=v,
                                   num_steps=100).std(0) for v in ("beta", "beta_tilde")}
    assert bool((std["beta_tilde"] < torch.tensor([0.5, 0.2])).all())
    assert bool((std["beta"] > torch.tensor([0.5, 0.2])).all())


def test_seed_update_equals_ddpm_step():
    """The seed's line x = (x − (1−α)/√(1−ᾱ)·ε̂)/√α + √β·z is the posterior-mean step of Ho et al. Eq. 11."""
    s = NoiseSchedule.make("linear", 1000)
    g = torch.Generator().manual_seed(0)
    x, eps, z = (torch.randn(5, 2, generator=g, dtype=torch.float64) for _ in range(3))
    for t in (999, 400, 1, 0):
        a, abar, beta = s.alphas[t], s.alphas_cumprod[t], s.betas[t]
        seed = (x - (1 - a) / (1 - abar).sqrt() * eps) / a.sqrt() + (beta.sqrt() * z if t > 0 else 0)
        ours = ddpm_step(s, x, t, t - 1, x0_from_eps(s, x, t, eps), z, variance="beta")
        assert torch.allclose(ours, seed, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
def test_loss_is_zero_for_an_oracle_and_positive_otherwise(prediction_type):
    ddpm = DDPM(nn.Identity(), 100, prediction_type=prediction_type)
    g = torch.Generator().manual_seed(0)
    x, noise = torch.randn(6, 1, 4, 4, generator=g), torch.randn(6, 1, 4, 4, generator=g)
    t = torch.randint(0, 100, (6,), generator=g)
    target = {"epsilon": noise, "sample": x, "v_prediction": None}[prediction_type]
    if target is None:
        abar = ddpm.schedule.alphas_cumprod[t].float().view(-1, 1, 1, 1)
        target = abar.sqrt() * noise - (1 - abar).sqrt() * x
    ddpm.network = Fn(lambda x_t, t_: target)
    assert ddpm(x, t, noise).item() == pytest.approx(0.0, abs=1e-12)
    ddpm.network = Fn(lambda x_t, t_: torch.zeros_like(x_t))
    assert ddpm(x, t, noise).item() > 0.1


def test_loss_on_2d_data_compares_each_example_with_its_own_noise():
    """The seed's .view(-1, 1, 1, 1) broadcast (B, 2) data to (B, 1, B, 2); the corrected loss keeps shapes."""
    ddpm = DDPM(MLPDenoiser(), 100)
    x = torch.randn(7, 2)
    seen = {}
    ddpm.network = Fn(lambda x_t, t: seen.setdefault("shape", x_t.shape) and torch.zeros_like(x_t))
    ddpm(x, torch.zeros(7, dtype=torch.long), torch.randn(7, 2))
    assert seen["shape"] == (7, 2)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_min_snr_weighting_is_the_x0_error_weight_min_snr_gamma(prediction_type):
    """Hang et al. 2023: every prediction type's weighted loss equals min(SNR_t, γ)·‖x̂0 − x0‖², so the
    three weights differ exactly by the factor that turns each type's error into the x0-error."""
    gamma, x, noise = 5.0, torch.randn(6, 2), torch.randn(6, 2)
    t = torch.tensor([0, 10, 40, 60, 80, 99])
    ddpm = DDPM(MLPDenoiser(), 100, prediction_type=prediction_type, min_snr_gamma=gamma)
    output = torch.randn(6, 2)
    ddpm.network = Fn(lambda x_t, t_: output)
    x0_hat, _ = predicted_x0_eps(ddpm.schedule, add_noise(ddpm.schedule, x, t, noise), t, output, prediction_type)
    snr = ddpm.schedule.snr[t].float()
    expected = (snr.clamp(max=gamma).view(-1, 1) * (x0_hat - x) ** 2).mean()
    torch.testing.assert_close(ddpm(x, t, noise), expected, rtol=1e-4, atol=1e-6)
    assert ddpm.loss_weights(t).max() <= max(1.0, gamma)


def test_min_snr_with_a_gamma_above_every_snr_is_the_plain_epsilon_loss():
    x, noise, t = torch.randn(5, 2), torch.randn(5, 2), torch.tensor([0, 1, 50, 98, 99])
    plain, weighted = DDPM(MLPDenoiser(), 100), DDPM(MLPDenoiser(), 100, min_snr_gamma=1e9)
    weighted.network.load_state_dict(plain.network.state_dict())
    torch.testing.assert_close(weighted(x, t, noise), plain(x, t, noise))
    assert not torch.equal(DDPM(MLPDenoiser(), 100, min_snr_gamma=5).loss_weights(t), torch.ones(5))


def test_bad_inputs():
    ddpm = DDPM(MLPDenoiser(), 100)
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match="timesteps must lie in \\[0, 99\\]"):
        ddpm(x, torch.tensor([0, 1, 2, 100]), torch.randn(4, 2))
    with pytest.raises(ValueError, match="noise must have the shape of x"):
        ddpm(x, torch.zeros(4, dtype=torch.long), torch.randn(4, 3))
    with pytest.raises(ValueError, match="t must have shape \\(batch,\\)"):
        ddpm(x, torch.zeros(3, dtype=torch.long), torch.randn(4, 2))
    with pytest.raises(ValueError, match="choose one of \\('beta', 'beta_tilde'\\)"):
        DDPM(MLPDenoiser(), 100, variance="learned")
    with pytest.raises(ValueError, match="prediction_type"):
        DDPM(MLPDenoiser(), 100, prediction_type="score")
    with pytest.raises(ValueError, match="min_snr_gamma must be a positive number or None"):
        DDPM(MLPDenoiser(), 100, min_snr_gamma=0)
    with pytest.raises(ValueError, match="beta_end must be >= beta_start"):
        DDPM(MLPDenoiser(), 100, beta_start=0.02, beta_end=0.01)
    with pytest.raises(ValueError, match="expects x of shape \\(B, 2\\)"):
        MLPDenoiser()(torch.zeros(3, 1, 2), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="applies to sampler='ddpm' only"):
        ddpm.sample((2, 2), sampler="ddim", variance="beta")
    with pytest.raises(ValueError, match="unknown sampler .plms.; choose one of"):
        next(sample_loop(lambda x, t: x, torch.zeros(1, 2), ddpm.schedule, sampler="plms"))
    with pytest.raises(ValueError, match="unknown sampling_schedule 'karras'; choose one of \\('linear'"):
        DDPM(MLPDenoiser(), 100, sampling_schedule="karras")


@pytest.mark.parametrize("sampling_schedule", [None, "linear"])
def test_sample_steps_run_the_loop_with_the_models_own_settings(sampling_schedule):
    torch.manual_seed(0)
    ddpm = DDPM(MLPDenoiser(hidden=16, num_blocks=1), 100, schedule="cosine", prediction_type="v_prediction",
                clip_x0=1.0, sampling_schedule=sampling_schedule).eval()
    grid = None if sampling_schedule is None else NoiseSchedule.make("linear", 100)
    x_T = torch.randn(6, 2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = list(ddpm.sample_steps(x_T, 10, "heun", "trailing"))
        loop = list(sample_loop(ddpm.network, x_T, ddpm.schedule, 10, "heun", "trailing", "v_prediction",
                                clip_x0=1.0, grid=grid))
    assert [t for t, _, _ in ours] == [t for t, _, _ in loop] == ddpm.sampling_timesteps(10, "trailing")
    assert all(torch.equal(a[1], b[1]) for a, b in zip(ours, loop))
    assert torch.equal(ddpm.sample((6, 2), generator=torch.Generator().manual_seed(1), num_steps=10,
                                   sampler="heun", spacing="trailing"), ours[-1][1])
    if sampling_schedule:  # the linear grid's noise levels, at the cosine schedule's own t's
        assert ours[0][0] < 99 and abs(float(ddpm.schedule.sigmas[ours[0][0]].log() - grid.sigmas[99].log())) < 0.3


def test_sampling_is_deterministic_and_restores_training_mode():
    torch.manual_seed(0)
    ddpm = DDPM(MLPDenoiser(hidden=16, num_blocks=1), 50)
    ddpm.train()
    a, traj = ddpm.sample((10, 2), generator=torch.Generator().manual_seed(3), return_trajectory=True)
    b = ddpm.sample((10, 2), generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and ddpm.network.training
    assert traj.shape == (51, 10, 2) and torch.equal(traj[-1], a)


def test_training_reduces_the_loss_on_toy_data():
    from diffusion_lite.datasets import toy_2d
    torch.manual_seed(0)
    data, g = toy_2d("eight_gaussians", 4096, seed=0), torch.Generator().manual_seed(0)
    ddpm = DDPM(MLPDenoiser(hidden=64, num_blocks=2), 200)
    opt = torch.optim.Adam(ddpm.parameters(), lr=3e-3)
    losses = []
    for _ in range(300):
        loss = ddpm.loss(data[torch.randint(0, 4096, (256,), generator=g)], g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-50:]) / 50 < 0.6 * sum(losses[:10]) / 10


def test_sinusoidal_embedding_known_values():
    e = sinusoidal_embedding(torch.tensor([0, 1]), 4)
    assert torch.allclose(e[0], torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert torch.allclose(e[1], torch.tensor([torch.cos(torch.tensor(1.0)), torch.cos(torch.tensor(0.01)),
                                              torch.sin(torch.tensor(1.0)), torch.sin(torch.tensor(0.01))]))
    with pytest.raises(ValueError, match="even"):
        sinusoidal_embedding(torch.tensor([0]), 5)


# ------------------------------------------------------------------ cross-check against diffusers
@pytest.mark.parametrize("variance, diffusers_name", [("beta", "fixed_large"), ("beta_tilde", "fixed_small")])
def test_ancestral_trajectory_equals_diffusers_ddpm_scheduler(variance, diffusers_name):
    diffusers = pytest.importorskip("diffusers", reason="diffusers not installed")
    T = 100
    s = NoiseSchedule.make("linear", T, 1e-4, 0.02)
    sched = diffusers.DDPMScheduler(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02,
                                    variance_type=diffusers_name, clip_sample=False)
    sched.set_timesteps(T)
    x = torch.randn(4, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    net = lambda x_t, t: 0.3 * x_t + 0.1 * t.float().view(-1, 1, 1, 1) / T  # noqa: E731
    ours, theirs = x.clone(), x.clone()
    g_ours, g_theirs = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    for t in sched.timesteps.tolist():
        z = torch.randn(x.shape, generator=g_ours) if t > 0 else None  # diffusers draws only when t > 0
        tb = torch.full((4,), t)
        ours = ddpm_step(s, ours, t, t - 1, x0_from_eps(s, ours, t, net(ours, tb)), z, variance=variance)
        theirs = sched.step(net(theirs, tb), t, theirs, generator=g_theirs).prev_sample
        assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-5), t


# ------------------------------------------------------------------ DDIM
def test_ddim_with_eta_one_is_the_ancestral_step_with_beta_tilde():
    from diffusion_lite.samplers import ddim_step
    s = NoiseSchedule.make("linear", 1000)
    g = torch.Generator().manual_seed(0)
    x, x0, z = (torch.randn(4, 2, generator=g, dtype=torch.float64) for _ in range(3))
    for t, prev in [(999, 949), (500, 499), (20, 0), (10, -1)]:
        assert torch.allclose(ddim_step(s, x, t, prev, x0, z, eta=1.0),
                              ddpm_step(s, x, t, prev, x0, z, variance="beta_tilde"), atol=1e-10)


def test_deterministic_ddim_with_a_perfect_denoiser_converges_to_the_gaussian():
    """η = 0 integrates the probability-flow ODE with a first-order method: the spread it produces
    approaches the data's as the number of steps grows (50 steps undershoot it by several percent)."""
    ddpm, errors = oracle_ddpm(), []
    for n in (50, 200, 1000):
        x = torch.randn(20_000, 2, generator=torch.Generator().manual_seed(0))
        for _, x, _ in sample_loop(ddpm.network, x, ddpm.schedule, num_steps=n, sampler="ddim", spacing="trailing"):
            pass
        errors.append(float((x.std(0) / torch.tensor([0.5, 0.2]) - 1).abs().max()))
        assert torch.allclose(x.mean(0), torch.tensor([1.0, -2.0]), atol=0.02)
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.01


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("spacing", ["leading", "trailing"])
def test_ddim_trajectory_equals_diffusers_ddim_scheduler(eta, spacing):
    diffusers = pytest.importorskip("diffusers", reason="diffusers not installed")
    from diffusion_lite.samplers import ddim_step
    from diffusion_lite.schedules import timesteps
    T, n = 1000, 20
    s = NoiseSchedule.make("linear", T, 1e-4, 0.02)
    sched = diffusers.DDIMScheduler(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02, clip_sample=False,
                                    timestep_spacing=spacing, set_alpha_to_one=True)
    sched.set_timesteps(n)
    ts = timesteps(T, n, spacing).tolist()
    assert ts == sched.timesteps.tolist()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 1, 3, 3, generator=g)
    net = lambda x_t, t: 0.3 * x_t + 0.1 * t.float().view(-1, 1, 1, 1) / T  # noqa: E731
    ours, theirs = x.clone(), x.clone()
    for i, t in enumerate(ts):
        prev = ts[i + 1] if i + 1 < len(ts) else -1
        z = torch.randn(x.shape, generator=g)
        tb = torch.full((4,), t)
        ours = ddim_step(s, ours, t, prev, x0_from_eps(s, ours, t, net(ours, tb)), z, eta=eta)
        theirs = sched.step(net(theirs, tb), t, theirs, eta=eta, variance_noise=z).prev_sample
        assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-5), t
