"""The σ-view samplers (Euler, Heun, DPM-Solver++(2M)): the two views agree, the solvers have the order
they claim on an ODE whose solution is known, diffusers parity, and classifier-free guidance."""
import math

import pytest
import torch
from torch import nn

from diffusion_lite import DDPM
from diffusion_lite.guidance import ClassifierFreeGuidance, drop_labels
from diffusion_lite.process import x0_from_eps
from diffusion_lite.samplers import (STEPS, ddim_step, dpmpp_2m_step, euler_step, heun_step, invert_loop,
                                     network_calls, sample_loop, sigma_at)
from diffusion_lite.schedules import NoiseSchedule, timesteps
from diffusion_lite.unet import UNet, UNetConfig

SCHEDULE = NoiseSchedule.make("linear", 1000)


def draws(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(3, 5, generator=g, dtype=torch.float64) for _ in range(n)]


@pytest.mark.parametrize("t, s", [(999, 949), (500, 499), (300, 100), (20, 0), (10, -1)])
def test_euler_in_the_sigma_view_is_ddim_eta_zero_in_the_alpha_bar_view(t, s):
    x, x0 = draws(2)
    assert torch.allclose(euler_step(SCHEDULE, x, t, s, x0, None), ddim_step(SCHEDULE, x, t, s, x0, None, eta=0.0),
                          rtol=0, atol=1e-12)


def dpmpp_alpha_view(t, s, x_t, x0, previous):
    """Lu et al. 2022 (Algorithm 2) as written there, with α = √ᾱ, σ = √(1 − ᾱ), λ = log(α/σ)."""
    def a_s_l(u):
        abar = float(SCHEDULE.alphas_cumprod[u])
        return abar**0.5, (1 - abar) ** 0.5, math.log(abar**0.5 / (1 - abar) ** 0.5)
    (a_t, sd_t, l_t), (a_s, sd_s, l_s) = a_s_l(t), a_s_l(s)
    h = l_s - l_t
    d = x0
    if previous is not None:
        t_prev, x0_prev = previous
        r = (l_t - a_s_l(t_prev)[2]) / h
        d = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * x0_prev
    return sd_s / sd_t * x_t - a_s * math.expm1(-h) * d


@pytest.mark.parametrize("t, s, t_prev", [(949, 899, 999), (500, 450, 550), (40, 20, 60), (999, 949, None)])
def test_dpmpp_2m_in_the_sigma_view_equals_the_alpha_view_of_the_paper(t, s, t_prev):
    x, x0, x0_prev = draws(3)
    previous = None if t_prev is None else (t_prev, x0_prev)
    ours = dpmpp_2m_step(SCHEDULE, x, t, s, x0, None, previous=previous)
    assert torch.allclose(ours, dpmpp_alpha_view(t, s, x, x0, previous), rtol=1e-10, atol=1e-10)


def test_heun_without_its_second_call_refuses_clearly():
    x, x0 = draws(2)
    with pytest.raises(ValueError, match="denoise"):
        heun_step(SCHEDULE, x, 500, 400, x0, None)


# ------------------------------------------------------------------ order of accuracy on a known ODE
STD = 0.5  # data x0 ~ N(0, STD²): the exact x̂0(x̃, σ) = STD²/(STD² + σ²)·x̃ and the ODE is solvable


def oracle(x, t):
    """ε̂ of the exact denoiser for N(0, STD²) data, in the ᾱ view."""
    abar = SCHEDULE.alphas_cumprod[t].to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
    return (1 - abar).sqrt() * x / (abar * STD**2 + 1 - abar)


def ode_error(sampler, n):
    """|sample − exact ODE solution| from the same x_T. In the σ view x̃(σ) = x̃_T·√((STD² + σ²)/(STD² + σ_T²))."""
    x_T = torch.linspace(-3, 3, 7, dtype=torch.float64).view(7, 1)
    x = x_T
    for _, x, _ in sample_loop(oracle, x_T, SCHEDULE, n, sampler, "trailing"):
        pass
    s_T = sigma_at(SCHEDULE, 999)
    exact = x_T / float(SCHEDULE.alphas_cumprod[999]) ** 0.5 * STD / (STD**2 + s_T**2) ** 0.5
    return float((x - exact).abs().max())


def test_the_solvers_have_the_order_they_claim():
    """Doubling the steps from 10 to 20 divides Euler's (= DDIM's) error by about 2 (first order) and
    Heun's and DPM-Solver++(2M)'s by more than 3 (second order, with uniform-in-t steps, whose σ grid is
    very uneven). At equal network calls the second-order methods land closer to the exact solution."""
    err = {s: {n: ode_error(s, n) for n in (10, 20, 40)} for s in ("euler", "heun", "dpmpp_2m")}
    assert 1.8 < err["euler"][10] / err["euler"][20] < 2.1
    assert err["heun"][10] / err["heun"][20] > 3 and err["dpmpp_2m"][10] / err["dpmpp_2m"][20] > 3
    assert err["dpmpp_2m"][20] < err["euler"][20] / 3  # 20 calls each
    assert err["heun"][20] < err["euler"][40] / 1.5  # 39 and 40 calls


def round_trip_error(n):
    x0 = torch.linspace(-1, 1, 5, dtype=torch.float64).view(5, 1)
    for _, x_T in invert_loop(oracle, x0, SCHEDULE, n):
        pass
    for _, x, _ in sample_loop(oracle, x_T, SCHEDULE, n, "ddim", "trailing"):
        pass
    return float((x - x0).abs().max())


def test_ddim_inversion_then_decoding_gives_the_image_back():
    coarse, fine = round_trip_error(20), round_trip_error(200)
    assert fine < coarse / 5 and fine < 0.02, (coarse, fine)  # first order: 10× the steps, ~10× smaller


def test_network_calls():
    assert [network_calls(s, 10) for s in STEPS] == [10, 10, 10, 19, 10]
    with pytest.raises(ValueError, match="dpmpp_2m"):
        network_calls("plms", 10)


def test_deterministic_samplers_draw_no_noise():
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    for sampler in ("euler", "heun", "dpmpp_2m", "ddim"):  # DDIM at η = 0: each batch of `generate` keeps its noise
        for _ in sample_loop(oracle, torch.ones(2, 1, dtype=torch.float64), SCHEDULE, 5, sampler, "trailing",
                             generator=g):
            pass
    assert torch.equal(g.get_state(), state)
    for _ in sample_loop(oracle, torch.ones(2, 1, dtype=torch.float64), SCHEDULE, 5, "ddim", "trailing",
                         generator=g, eta=1.0):
        pass
    assert not torch.equal(g.get_state(), state)


# ------------------------------------------------------------------ diffusers parity
def linear_net(x, t):
    return 0.3 * x + 0.1 * t.to(x.dtype).view(-1, *([1] * (x.ndim - 1))) / 1000


@pytest.mark.parametrize("n", [10, 20])
def test_dpmpp_2m_trajectory_equals_diffusers(n):
    diffusers = pytest.importorskip("diffusers", reason="diffusers not installed")
    sched = diffusers.DPMSolverMultistepScheduler(num_train_timesteps=1000, beta_schedule="linear", solver_order=2,
                                                  algorithm_type="dpmsolver++", timestep_spacing="trailing",
                                                  final_sigmas_type="zero")
    sched.set_timesteps(n)
    assert sched.timesteps.tolist() == timesteps(1000, n, "trailing").tolist()
    x = torch.randn(4, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    ours = [x for _, x, _ in sample_loop(linear_net, x, SCHEDULE, n, "dpmpp_2m", "trailing")]
    theirs = x.clone()
    for i, t in enumerate(sched.timesteps):
        theirs = sched.step(linear_net(theirs, torch.full((4,), int(t))), t, theirs).prev_sample
        assert torch.allclose(ours[i], theirs, rtol=1e-4, atol=1e-5), (i, int(t))


def test_euler_trajectory_equals_diffusers_euler_discrete():
    """diffusers' Euler works on x̃ (the σ view) and scales the network's input by 1/√(σ² + 1) = √ᾱ:
    the same update, so its x̃ times √ᾱs is our x_s."""
    diffusers = pytest.importorskip("diffusers", reason="diffusers not installed")
    n = 10
    sched = diffusers.EulerDiscreteScheduler(num_train_timesteps=1000, beta_schedule="linear",
                                             timestep_spacing="trailing")
    sched.set_timesteps(n)
    ts = timesteps(1000, n, "trailing").tolist()
    assert sched.timesteps.tolist() == ts
    x = torch.randn(4, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    ours = [x for _, x, _ in sample_loop(linear_net, x, SCHEDULE, n, "euler", "trailing")]
    theirs = x / float(SCHEDULE.alphas_cumprod[ts[0]]) ** 0.5  # into the σ view
    for i, t in enumerate(sched.timesteps):
        model_in = sched.scale_model_input(theirs, t)
        theirs = sched.step(linear_net(model_in, torch.full((4,), int(t))), t, theirs).prev_sample
        abar_s = float(SCHEDULE.alphas_cumprod[ts[i + 1]]) if i + 1 < n else 1.0
        assert torch.allclose(ours[i], theirs * abar_s**0.5, rtol=1e-4, atol=1e-5), (i, int(t))


# ------------------------------------------------------------------ classifier-free guidance
def tiny_conditional():
    torch.manual_seed(0)
    net = UNet(UNetConfig(channels=(8, 16), num_groups=4, num_heads=2, image_size=8, num_classes=3))
    for p in net.parameters():  # zero-initialised outputs would hide the label's effect
        nn.init.normal_(p, std=0.1)
    return net.eval()


def test_guidance_combines_conditional_and_unconditional_outputs():
    net = tiny_conditional()
    x, t, y = torch.randn(4, 1, 8, 8), torch.tensor([10, 200, 500, 999]), torch.tensor([0, 1, 2, 1])
    cond, uncond = net(x, t, y), net(x, t, torch.full((4,), 3))
    assert not torch.allclose(cond, uncond)
    with torch.no_grad():
        assert torch.allclose(ClassifierFreeGuidance(net, y, 1.0)(x, t), cond)
        assert torch.allclose(ClassifierFreeGuidance(net, y, 0.0)(x, t), uncond)
        assert torch.allclose(ClassifierFreeGuidance(net, y, 3.0)(x, t), uncond + 3 * (cond - uncond), atol=1e-5)
        assert torch.allclose(ClassifierFreeGuidance(net, 2, 1.0)(x, t), net(x, t, torch.full((4,), 2)))


def test_guidance_rejects_bad_input():
    net = tiny_conditional()
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        ClassifierFreeGuidance(net, torch.tensor([0, 3]), 2.0)
    with pytest.raises(ValueError, match=">= 0"):
        ClassifierFreeGuidance(net, 0, -1.0)
    with pytest.raises(ValueError, match="class-conditional"):
        ClassifierFreeGuidance(UNet(UNetConfig(channels=(8, 16), num_groups=4, num_heads=2, image_size=8)), 0, 2.0)
    with pytest.raises(ValueError, match="2 labels for a batch of 4"):
        ClassifierFreeGuidance(net, torch.tensor([0, 1]), 2.0)(torch.randn(4, 1, 8, 8), torch.zeros(4, dtype=torch.long))
    ddpm = DDPM(net, 100)
    with pytest.raises(ValueError, match="needs labels"):
        ddpm.sample((2, 1, 8, 8), num_steps=2, guidance_scale=3.0)


def test_label_dropout_rate_and_training_uses_the_null_class():
    labels = torch.arange(10).repeat(2000)
    dropped = drop_labels(labels, 0.2, 10, torch.Generator().manual_seed(0))
    share = float((dropped == 10).float().mean())
    assert abs(share - 0.2) < 0.01
    assert torch.equal(dropped[dropped != 10], labels[dropped != 10])
    assert drop_labels(labels, 0.0, 10) is labels
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        drop_labels(labels, 1.5, 10)
    seen = []
    net = tiny_conditional()
    net.forward = lambda x, t, labels=None: seen.append(labels) or torch.zeros_like(x)
    DDPM(net, 100, label_dropout=1.0).loss(torch.zeros(4, 1, 8, 8), torch.Generator(), labels=torch.tensor([0, 1, 2, 0]))
    assert seen[-1].tolist() == [3, 3, 3, 3]


def test_guided_sampling_repeats_and_differs_by_label():
    ddpm = DDPM(tiny_conditional(), 100)
    draw = lambda label, w: ddpm.sample((2, 1, 8, 8), generator=torch.Generator().manual_seed(0), num_steps=5,  # noqa: E731
                                        sampler="dpmpp_2m", spacing="trailing", labels=label, guidance_scale=w)
    assert torch.equal(draw(1, 3.0), draw(1, 3.0))
    assert not torch.allclose(draw(0, 3.0), draw(1, 3.0))
