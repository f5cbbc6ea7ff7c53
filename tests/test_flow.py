"""Flow matching on the linear path: its schedule, its loss, its sampling through the one loop, its recipe."""
import pytest
import torch
from torch import nn

from diffusion_lite import DDPM
from diffusion_lite.checkpoints import DDPMConfig, build_ddpm, get_recipe, load_ddpm, save_model
from diffusion_lite.flow import (FlowMatching, VelocityToX0, linear_path_schedule, path_scale, path_times,
                                 straightness)
from diffusion_lite.samplers import ddim_step, heun_step, sigma_at
from diffusion_lite.training import TrainConfig, Trainer
from diffusion_lite.unet import UNetConfig
from test_ddpm import Fn


class GaussianVelocity(nn.Module):
    """The exact velocity E[ε − x0 | x_t] on the line x_t = (1 − t)·x0 + t·ε when x0 ~ N(mu, std²)."""

    def __init__(self, times, mu, std):
        super().__init__()
        self.times, self.mu, self.std = times, torch.tensor(mu), torch.tensor(std)

    def forward(self, x, k):
        t = self.times[k].float().view(-1, 1)
        var = (1 - t) ** 2 * self.std**2 + t**2
        centred = x - (1 - t) * self.mu
        return t / var * centred - (self.mu + (1 - t) * self.std**2 / var * centred)


def oracle_flow(T=1000):
    flow = FlowMatching(nn.Identity(), T)
    flow.network = GaussianVelocity(flow.times, [1.0, -2.0], [0.5, 0.2])
    return flow


def test_the_line_is_a_variance_preserving_process_with_sigma_t_over_one_minus_t():
    T = 1000
    schedule, t = linear_path_schedule(T), path_times(T)
    abar = schedule.alphas_cumprod
    assert torch.allclose(abar.sqrt(), (1 - t) / path_scale(t))
    assert torch.allclose((1 - abar).sqrt(), t / path_scale(t))
    assert abs(sigma_at(schedule, 499) - float(t[499] / (1 - t[499]))) < 1e-9
    assert 0 < float(t[0]) and float(t[-1]) < 1


@pytest.mark.parametrize("sampler", ["ddim", "euler", "heun", "dpmpp_2m", "ddpm"])
def test_every_sampler_recovers_the_gaussian_from_the_exact_velocity(sampler):
    steps = {"ddpm": 1000, "ddim": 200, "euler": 200}.get(sampler, 50)  # first order needs more steps
    x = oracle_flow().sample((20_000, 2), generator=torch.Generator().manual_seed(0), sampler=sampler,
                             num_steps=steps, spacing="trailing")
    assert torch.allclose(x.mean(0), torch.tensor([1.0, -2.0]), atol=0.02)
    assert torch.allclose(x.std(0), torch.tensor([0.5, 0.2]), rtol=0.03)


def test_ddim_on_the_rescaled_states_is_the_flows_own_euler_step():
    flow = FlowMatching(nn.Linear(2, 2), 100)
    net = lambda x, k: torch.tanh(x) * (1 + k.float().view(-1, 1) / 100)  # noqa: E731, any velocity field
    x_line, (k, j) = torch.randn(8, 2, dtype=torch.float64), (80, 40)
    t, s = float(flow.times[k]), float(flow.times[j])
    kb = torch.full((8,), k)
    euler = x_line + (s - t) * net(x_line, kb)
    x_vp = x_line / path_scale(torch.tensor(t, dtype=torch.float64))
    x0_hat = VelocityToX0(net, flow.times)(x_vp, kb)
    x_s = ddim_step(flow.schedule, x_vp, k, j, x0_hat, None) * path_scale(torch.tensor(s, dtype=torch.float64))
    assert torch.allclose(x_s, euler, atol=1e-10)


def test_heun_in_line_time_is_the_flows_own_heun_step():
    flow = FlowMatching(nn.Linear(2, 2), 100)
    net = lambda x, k: torch.tanh(x) * (1 + k.float().view(-1, 1) / 100)  # noqa: E731, any velocity field
    x_line, (k, j) = torch.randn(8, 2, dtype=torch.float64), (80, 40)
    t, s = float(flow.times[k]), float(flow.times[j])
    kb, jb = torch.full((8,), k), torch.full((8,), j)
    v = net(x_line, kb)
    euler = x_line + (s - t) * v
    heun = x_line + (s - t) * (v + net(euler, jb)) / 2
    x0_net = VelocityToX0(net, flow.times)
    x_vp = x_line / path_scale(torch.tensor(t, dtype=torch.float64))
    x_s = heun_step(flow.schedule, x_vp, k, j, x0_net(x_vp, kb), denoise=lambda x, u: x0_net(x, torch.full((8,), u)),
                    line_time=True)
    assert torch.allclose(x_s * path_scale(torch.tensor(s, dtype=torch.float64)), heun, atol=1e-10)


def test_a_flow_samples_heun_in_its_own_time_which_few_steps_need():
    """From σ ≈ 1000 at t ≈ 1, Heun's first step in σ averages slopes hundreds of units apart; in t it does not."""
    def std_error(**options):
        x = oracle_flow().sample((20_000, 2), generator=torch.Generator().manual_seed(0), sampler="heun",
                                 num_steps=5, spacing="trailing", **options)
        return float((x.std(0) / torch.tensor([0.5, 0.2]) - 1).abs().max())
    in_t, in_sigma = std_error(), std_error(line_time=False)
    assert in_t < 0.4 and in_sigma > 3 * in_t, (in_t, in_sigma)


def test_the_loss_is_the_velocity_error_on_the_line():
    flow = FlowMatching(nn.Linear(3, 3), 10)
    x, noise, k = torch.randn(4, 3), torch.randn(4, 3), torch.tensor([0, 3, 6, 9])
    t = flow.times[k].float().view(-1, 1)
    x_t = (1 - t) * x + t * noise
    expected = ((noise - x - flow.network(x_t)) ** 2).mean()
    flow.network = nn.Sequential(flow.network)  # the network ignores k
    flow.network.forward = lambda x_t, k, net=flow.network[0]: net(x_t)
    assert torch.allclose(flow(x, k, noise), expected)
    with pytest.raises(ValueError, match=r"timesteps must lie in \[0, 9\]"):
        flow(x, torch.tensor([0, 3, 6, 10]), noise)


def test_a_flow_recipe_trains_saves_and_loads_as_a_flow(tmp_path):
    recipe = get_recipe("fashion-flow")
    recipe.unet = UNetConfig(channels=(8, 16), num_groups=4, mid_attention=False)
    recipe.train = TrainConfig(steps=3, batch_size=4, warmup_steps=1, precision="float32")
    flow = build_ddpm(recipe)
    assert isinstance(flow, FlowMatching)
    Trainer(flow, torch.rand(16, 1, 28, 28) * 2 - 1, recipe.train).train(progress=False)
    save_model(flow, recipe, tmp_path / "flow")
    loaded, loaded_recipe, _ = load_ddpm(tmp_path / "flow")
    assert isinstance(loaded, FlowMatching) and loaded_recipe.ddpm.objective == "flow"
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    a = loaded.sample((2, 1, 28, 28), generator=g(), sampler="euler", num_steps=4, spacing="trailing")
    b = flow.sample((2, 1, 28, 28), generator=g(), sampler="euler", num_steps=4, spacing="trailing")
    assert torch.allclose(a, b, atol=0.05)  # float16 weights on disk


def test_bad_objectives_are_refused():
    with pytest.raises(ValueError, match=r"unknown ddpm.objective 'score'; choose one of \('diffusion', 'flow'\)"):
        DDPMConfig(objective="score")
    with pytest.raises(ValueError, match="set ddpm.min_snr_gamma and ddpm.sampling_schedule to null"):
        DDPMConfig(objective="flow", min_snr_gamma=5.0)


def test_a_coupled_flow_trains_on_given_pairs_and_on_line_undoes_the_rescaling():
    flow = FlowMatching(Fn(lambda x, k: torch.tanh(x) * k.float().view(-1, 1)), 10, coupled=True)
    x0, noise, g = torch.randn(4, 3), torch.randn(4, 3), torch.Generator().manual_seed(0)
    k = torch.randint(0, 10, (4,), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(flow.loss(torch.stack([x0, noise], 1), g), FlowMatching.forward(flow, x0, k, noise))
    with pytest.raises(ValueError, match=r"pairs \(batch, 2, ...\) of x0 and its noise"):
        flow.loss(x0, g)
    oracle = oracle_flow(100)
    _, states = oracle.sample((500, 2), generator=torch.Generator().manual_seed(0), sampler="ddim", num_steps=20,
                              spacing="trailing", return_trajectory=True)
    line = oracle.on_line(states, 20)
    assert torch.allclose(line[0], states[0], rtol=0.02) and torch.equal(line[-1], states[-1])  # t ≈ 1 and t = 0
    # Euler steps on the line: x_s − x_t = (s − t)·v̂, so a state's displacement is the velocity times the step
    ts = oracle.sampling_timesteps(20, "trailing")
    dt = float(oracle.times[ts[1]] - oracle.times[ts[0]])
    v = oracle.network(line[0], torch.full((500,), ts[0]))
    assert torch.allclose(line[1] - line[0], dt * v, atol=1e-4)
    assert 0.9 < float(straightness(line).mean()) <= 1.0
    assert torch.allclose(straightness(torch.linspace(0, 1, 5).view(5, 1, 1) * torch.ones(5, 1, 3)), torch.ones(1))


def test_the_adaptive_ode_solver_recovers_the_gaussian_and_refuses_a_flow():
    from diffusion_lite.generation import ode_sample
    T = 1000
    ddpm = DDPM(nn.Identity(), T)
    ddpm.network = GaussianOracleEps(ddpm.schedule, [0.2, -0.5], [0.3, 0.1])  # inside [−1, 1], where it clamps
    x, calls = ode_sample(ddpm, torch.randn((4000, 2), generator=torch.Generator().manual_seed(0)), tolerance=1e-4)
    assert torch.allclose(x.mean(0), torch.tensor([0.2, -0.5]), atol=0.02)
    assert torch.allclose(x.std(0), torch.tensor([0.3, 0.1]), rtol=0.05) and 10 < calls < 1000
    with pytest.raises(ValueError, match="sample a flow-matching model with generate"):
        ode_sample(oracle_flow(), torch.randn(2, 2))


class GaussianOracleEps(nn.Module):
    """The exact ε̂(x_t, t) for data N(mu, std²), at any real t (the schedule's ᾱ interpolated in t)."""

    def __init__(self, schedule, mu, std):
        super().__init__()
        self.abar, self.mu, self.std = schedule.alphas_cumprod, torch.tensor(mu), torch.tensor(std)

    def forward(self, x, t):
        i = t.double().clamp(0, len(self.abar) - 1)
        lo = i.floor().long().clamp(max=len(self.abar) - 2)
        w = (i - lo).view(-1, 1)
        abar = ((1 - w) * self.abar[lo].view(-1, 1) + w * self.abar[lo + 1].view(-1, 1)).float()
        var_t = abar * self.std**2 + 1 - abar
        return (1 - abar).sqrt() * (x - abar.sqrt() * self.mu) / var_t
