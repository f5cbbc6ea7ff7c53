"""β schedules and the NoiseSchedule table: closed forms, identities, diffusers parity, bad input."""
import math

import pytest
import torch

from diffusion_lite.schedules import SCHEDULES, NoiseSchedule, beta_schedule, matched_timesteps, timesteps


def test_linear_and_scaled_linear_closed_forms():
    b = beta_schedule("linear", 11, 1e-4, 0.02)
    assert torch.allclose(b, 1e-4 + torch.arange(11, dtype=torch.float64) * (0.02 - 1e-4) / 10)
    s = beta_schedule("scaled_linear", 11, 0.00085, 0.012)
    root = s.sqrt()
    assert torch.allclose(root[1:] - root[:-1], torch.full((10,), (0.012**0.5 - 0.00085**0.5) / 10, dtype=torch.float64))


def test_sigmoid_is_symmetric_between_its_ends():
    b = beta_schedule("sigmoid", 1001, 1e-4, 0.02)
    assert b[500].item() == pytest.approx((1e-4 + 0.02) / 2)
    assert torch.allclose(b + b.flip(0), torch.full_like(b, 1e-4 + 0.02))


def test_cosine_alpha_bar_matches_nichol_dhariwal_eq17():
    T, s = 1000, 0.008
    abar = NoiseSchedule.make("cosine", T).alphas_cumprod
    f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    expected = torch.tensor([f((t + 1) / T) / f(0) for t in range(T)], dtype=torch.float64)
    assert torch.allclose(abar[:-1], expected[:-1], rtol=1e-9, atol=1e-12)  # the last β is clipped
    assert beta_schedule("cosine", T)[-1].item() == 0.999


def test_table_identities():
    s = NoiseSchedule.make("linear", 1000)
    assert torch.allclose(s.alphas_cumprod, torch.tensor([torch.prod(s.alphas[: t + 1]) for t in range(1000)],
                                                         dtype=torch.float64))
    assert torch.allclose(s.sigmas**2, 1 / s.snr)
    assert s.posterior_variance[0].item() == 0.0
    t = 500
    expected = (1 - s.alphas_cumprod[t - 1]) / (1 - s.alphas_cumprod[t]) * s.betas[t]
    assert s.posterior_variance[t].item() == pytest.approx(expected.item())
    # ᾱ falls monotonically; SNR crosses 1 where ᾱ crosses 1/2
    assert bool((s.alphas_cumprod[1:] < s.alphas_cumprod[:-1]).all())
    t1 = s.first_t_below_snr(1.0)
    assert s.alphas_cumprod[t1] < 0.5 <= s.alphas_cumprod[t1 - 1]
    assert s.first_t_below_snr(1e-30) == 1000


@pytest.mark.parametrize("kwargs, message", [
    (dict(beta_start=0.0), "beta_start must lie in \\(0, 1\\)"),
    (dict(beta_start=-1e-3), "beta_start"),
    (dict(beta_end=1.0), "beta_end must lie in \\(0, 1\\)"),
    (dict(beta_start=0.02, beta_end=0.01), "beta_end must be >= beta_start"),
    (dict(beta_start=0.05011872336272725, beta_end=0.01995262314968879),  # 4 significant digits, as sliders show
     "beta_end must be >= beta_start, got beta_start=0.05012 > beta_end=0.01995$"),
    (dict(num_timesteps=0), "num_timesteps \\(T\\) must be an integer >= 1"),
    (dict(num_timesteps=10.5), "integer"),
    (dict(kind="quadratic"), "choose one of \\('linear', 'scaled_linear', 'cosine', 'sigmoid'\\)"),
])
def test_bad_schedules_raise_clear_errors(kwargs, message):
    args = dict(kind="linear", num_timesteps=100, beta_start=1e-4, beta_end=0.02) | kwargs
    with pytest.raises(ValueError, match=message):
        NoiseSchedule.make(**args)


def test_bad_betas_raise():
    with pytest.raises(ValueError, match="every beta must lie in \\(0, 1\\)"):
        NoiseSchedule(torch.tensor([0.1, 1.0]))
    with pytest.raises(ValueError, match="1-D"):
        NoiseSchedule(torch.zeros(0))


@pytest.mark.parametrize("spacing, T, n, expected", [
    ("leading", 10, 5, [8, 6, 4, 2, 0]),
    ("trailing", 10, 5, [9, 7, 5, 3, 1]),
    ("linspace", 10, 4, [9, 6, 3, 0]),
    ("leading", 5, 5, [4, 3, 2, 1, 0]),
])
def test_timestep_spacings_known_values(spacing, T, n, expected):
    assert timesteps(T, n, spacing).tolist() == expected


@pytest.mark.parametrize("n", [1, 10, 20, 50, 125])
def test_trailing_is_linspace_ending_at_T_over_n_minus_1(n):
    """When n divides T, the two spacings agree: "trailing" fixes where the steps end to T/n − 1."""
    assert torch.equal(timesteps(1000, n, "trailing"), timesteps(1000, n, "linspace", last_t=1000 // n - 1))


def test_linspace_ends_at_last_t():
    ts = timesteps(1000, 50, "linspace", last_t=74)
    assert ts[0] == 999 and ts[-1] == 74 and len(set(ts.tolist())) == 50 and bool((ts[:-1] > ts[1:]).all())
    assert torch.equal(timesteps(1000, 50, "linspace", last_t=0), timesteps(1000, 50, "linspace"))
    assert timesteps(10, 4, "linspace", last_t=6).tolist() == [9, 8, 7, 6]  # the largest last_t: consecutive steps


def test_matched_timesteps_visit_the_reference_noise_levels():
    linear, cosine = NoiseSchedule.make("linear", 1000), NoiseSchedule.make("cosine", 1000)
    ts = timesteps(1000, 10, "trailing")
    assert torch.equal(matched_timesteps(linear, linear, ts), ts)  # its own grid: unchanged
    matched = matched_timesteps(cosine, linear, ts)
    log_gap = (cosine.sigmas[matched].log() - linear.sigmas[ts].log()).abs()
    assert len(matched) == 10 and bool((matched[:-1] > matched[1:]).all())
    assert float(log_gap.max()) < 0.05  # within 5 % of each asked-for σ
    for t, m in zip(ts.tolist(), matched.tolist()):  # and no other t of the cosine schedule is nearer
        gaps = (cosine.sigmas.log() - linear.sigmas[t].log()).abs()
        assert gaps[m] == gaps.min()
    # at σ > 157 the cosine schedule has only its last few t's, so a long grid merges its first steps
    every = matched_timesteps(cosine, linear, timesteps(1000, 1000, "trailing"))
    assert len(every) < 1000 and bool((every[:-1] > every[1:]).all())
    with pytest.raises(ValueError, match="the same T, got 1000 and 50"):
        matched_timesteps(cosine, NoiseSchedule.make("linear", 50), ts)


def test_timestep_bad_input():
    with pytest.raises(ValueError, match="num_steps must be in \\[1, 10\\]"):
        timesteps(10, 11)
    with pytest.raises(ValueError, match="choose one of \\('leading', 'trailing', 'linspace'\\)"):
        timesteps(10, 5, "even")
    with pytest.raises(ValueError, match="last_t sets where the 'linspace' spacing ends; it does not apply to 'tr"):
        timesteps(10, 5, "trailing", last_t=2)
    for bad in (7, -1, 2.0, True):
        with pytest.raises(ValueError, match="last_t must be an integer in \\[0, 6\\] for 4 steps of T = 10, got"):
            timesteps(10, 4, "linspace", last_t=bad)


# ------------------------------------------------------------------ cross-checks against diffusers
diffusers = pytest.importorskip("diffusers", reason="diffusers not installed: parity checks skipped")
DIFFUSERS_NAME = {"linear": "linear", "scaled_linear": "scaled_linear", "sigmoid": "sigmoid", "cosine": "squaredcos_cap_v2"}


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("T, start, end", [(1000, 1e-4, 0.02), (50, 0.00085, 0.012)])
def test_betas_equal_diffusers(kind, T, start, end):
    theirs = diffusers.DDPMScheduler(num_train_timesteps=T, beta_start=start, beta_end=end,
                                     beta_schedule=DIFFUSERS_NAME[kind]).betas
    ours = beta_schedule(kind, T, start, end)
    assert torch.allclose(ours.float(), theirs, rtol=1e-6, atol=1e-9)
    theirs_abar = diffusers.DDPMScheduler(num_train_timesteps=T, beta_start=start, beta_end=end,
                                          beta_schedule=DIFFUSERS_NAME[kind]).alphas_cumprod
    assert torch.allclose(NoiseSchedule(ours).alphas_cumprod.float(), theirs_abar, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
@pytest.mark.parametrize("T, n", [(1000, 50), (1000, 20), (1000, 7), (1000, 1000), (100, 33)])
def test_timesteps_equal_diffusers(spacing, T, n):
    sched = diffusers.DDIMScheduler(num_train_timesteps=T, timestep_spacing=spacing)
    sched.set_timesteps(n)
    assert timesteps(T, n, spacing).tolist() == sched.timesteps.tolist()
