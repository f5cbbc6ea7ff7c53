"""The forward process, its posterior and the prediction conversions, against independent derivations."""
import pytest
import torch

from diffusion_lite.process import (add_noise, eps_from_x0, forward_step, gather, posterior, predicted_x0_eps,
                                    training_target, v_target, x0_from_eps)
from diffusion_lite.schedules import NoiseSchedule

S = NoiseSchedule.make("linear", 1000)


def test_gather_broadcasts_to_any_rank():
    t = torch.tensor([0, 999])
    assert gather(S.betas, t, torch.zeros(2, 2)).shape == (2, 1)
    assert gather(S.betas, t, torch.zeros(2, 1, 4, 4)).shape == (2, 1, 1, 1)
    assert gather(S.betas, 5, torch.zeros(3, 2)).shape == ()
    assert gather(S.betas, t, torch.zeros(2, 2, dtype=torch.float16)).dtype == torch.float16


def test_closed_form_equals_iterated_one_step_process_in_distribution():
    """T steps of q(x_t|x_{t−1}) (Eq. 2) reach the law q(x_t|x0) of Eq. 4 at every t."""
    s = NoiseSchedule.make("cosine", 40)
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor([1.5, -0.5]).repeat(200_000, 1)
    x = x0.clone()
    for t in range(40):
        x = forward_step(s, x, t, torch.randn(x.shape, generator=g))
        abar = s.alphas_cumprod[t].item()
        assert torch.allclose(x.mean(0), abar**0.5 * x0[0], atol=0.01)
        assert torch.allclose(x.var(0), torch.full((2,), 1 - abar), atol=0.01)


def test_add_noise_is_eq4():
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(4, 1, 3, 3, generator=g), torch.randn(4, 1, 3, 3, generator=g)
    t = torch.tensor([0, 10, 500, 999])
    abar = S.alphas_cumprod[t].float().view(-1, 1, 1, 1)
    assert torch.allclose(add_noise(S, x0, t, eps), abar.sqrt() * x0 + (1 - abar).sqrt() * eps)


@pytest.mark.parametrize("t", [1, 10, 500, 999])
def test_posterior_matches_bayes_rule(t):
    """q(x_{t−1}|x_t, x0) ∝ q(x_t|x_{t−1}) q(x_{t−1}|x0): a product of Gaussians, computed directly."""
    x0, x_t = torch.tensor([[0.7]], dtype=torch.float64), torch.tensor([[-0.3]], dtype=torch.float64)
    a, b, abar_prev = S.alphas[t], S.betas[t], S.alphas_cumprod[t - 1]
    precision = 1 / (1 - abar_prev) + a / b
    mean_direct = (abar_prev.sqrt() * x0 / (1 - abar_prev) + a.sqrt() * x_t / b) / precision
    mean, var = posterior(S, x0, x_t, torch.tensor([t]))
    assert torch.allclose(mean, mean_direct, rtol=1e-10)
    assert torch.allclose(var.squeeze(), 1 / precision, rtol=1e-10)


def test_posterior_at_first_step_returns_x0():
    mean, var = posterior(S, torch.tensor([[0.25]]), torch.tensor([[3.0]]), torch.tensor([0]))
    assert mean.item() == pytest.approx(0.25) and var.item() == 0.0


def test_conversions_round_trip():
    g = torch.Generator().manual_seed(2)
    x0, eps = torch.randn(8, 2, generator=g, dtype=torch.float64), torch.randn(8, 2, generator=g, dtype=torch.float64)
    t = torch.randint(0, 1000, (8,), generator=g)
    x_t = add_noise(S, x0, t, eps)
    assert torch.allclose(x0_from_eps(S, x_t, t, eps), x0)
    assert torch.allclose(eps_from_x0(S, x_t, t, x0), eps)
    for kind in ("epsilon", "sample", "v_prediction"):
        x0_hat, eps_hat = predicted_x0_eps(S, x_t, t, training_target(S, x0, t, eps, kind), kind)
        assert torch.allclose(x0_hat, x0) and torch.allclose(eps_hat, eps), kind
    # v = √ᾱ ε − √(1−ᾱ) x0, and x_t, v are a rotation of (x0, ε): |x_t|² + |v|² = |x0|² + |ε|²
    v = v_target(S, x0, t, eps)
    assert torch.allclose(x_t**2 + v**2, x0**2 + eps**2)


def test_unknown_prediction_type():
    with pytest.raises(ValueError, match="choose one of \\('epsilon', 'v_prediction', 'sample'\\)"):
        predicted_x0_eps(S, torch.zeros(1, 2), 0, torch.zeros(1, 2), "score")
    with pytest.raises(ValueError, match="prediction_type"):
        training_target(S, torch.zeros(1, 2), 0, torch.zeros(1, 2), "x0")
