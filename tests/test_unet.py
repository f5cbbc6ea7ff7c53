"""The UNet and its attention: shapes, conditioning, identity at initialisation, config round trip, bad input;
DeepCache's reuse of the deep features."""
import pytest
import torch

from diffusion_lite import DDPM
from diffusion_lite import attention as attention_module
from diffusion_lite.attention import SelfAttention2d
from diffusion_lite.mlp import MLPDenoiser
from diffusion_lite.unet import DeepCache, UNet, UNetConfig


@pytest.mark.parametrize("cfg", [UNetConfig(), UNetConfig(channels=(16, 32), blocks_per_level=2, attention_levels=(1,),
                                                          mid_attention=False, image_size=32, in_channels=3),
                                 UNetConfig(channels=(64, 128), patch_size=2),  # 2×2 patches: 14×14 and 7×7 inside
                                 UNetConfig(skip="add"),
                                 UNetConfig(channels=(16, 32, 64), blocks_per_level=2, attention_levels=(0,), skip="add")])
def test_output_shape_and_dependence_on_t(cfg):
    torch.manual_seed(0)
    net = UNet(cfg)
    for p in net.parameters():  # the zero-initialised output layers would hide any dependence
        torch.nn.init.normal_(p, std=0.05)
    x = torch.randn(2, cfg.in_channels, cfg.image_size, cfg.image_size)
    y = net(x, torch.tensor([0, 500]))
    assert y.shape == x.shape
    assert not torch.allclose(net(x, torch.tensor([1, 500]))[0], y[0])
    assert torch.allclose(net(x, torch.tensor([1, 500]))[1], y[1], atol=1e-6)  # examples are independent


def test_a_fresh_unet_outputs_zero_and_attention_starts_as_identity():
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(UNet()(x, torch.tensor([3, 4])), torch.zeros_like(x))
    assert torch.equal(UNet(UNetConfig(skip="add"))(x, torch.tensor([3, 4])), torch.zeros_like(x))
    h = torch.randn(2, 32, 7, 7)
    assert torch.equal(SelfAttention2d(32)(h), h)


def test_attention_matches_a_direct_softmax():
    torch.manual_seed(0)
    attn = SelfAttention2d(8, num_heads=2, num_groups=2)
    torch.nn.init.normal_(attn.proj.weight)
    x = torch.randn(1, 8, 3, 3)
    tokens = attn.norm(x).view(1, 8, 9).transpose(1, 2)
    q, k, v = attn.qkv(tokens).chunk(3, -1)
    heads = [torch.softmax(q[..., s] @ k[..., s].transpose(1, 2) / 2.0, -1) @ v[..., s]
             for s in (slice(0, 4), slice(4, 8))]  # d = 4 per head: √d = 2
    expected = x + attn.proj(torch.cat(heads, -1)).transpose(1, 2).view(1, 8, 3, 3)
    assert torch.allclose(attn(x), expected, atol=1e-5)


def test_attention_and_its_gradients_equal_torchs_fused_kernel(monkeypatch):
    """SelfAttention2d writes Eq. 1 out; the same block on F.scaled_dot_product_attention must agree."""
    torch.manual_seed(0)
    attn = SelfAttention2d(32, num_heads=4, num_groups=8)
    torch.nn.init.normal_(attn.proj.weight, std=0.1)
    x = torch.randn(3, 32, 7, 7, requires_grad=True)
    ours = attn(x)
    monkeypatch.setattr(attention_module, "attention", torch.nn.functional.scaled_dot_product_attention)
    theirs = attn(x)
    assert torch.allclose(ours, theirs, atol=1e-5)
    g, inputs = torch.randn_like(ours), [x, *attn.parameters()]
    for a, b in zip(torch.autograd.grad(ours, inputs, g), torch.autograd.grad(theirs, inputs, g)):
        assert torch.allclose(a, b, atol=1e-4)


def test_class_conditioning_with_a_null_class():
    torch.manual_seed(0)
    net = UNet(UNetConfig(num_classes=10))
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    x, t = torch.randn(2, 1, 28, 28), torch.tensor([10, 10])
    a, b = net(x, t, torch.tensor([1, 1])), net(x, t, torch.tensor([2, 2]))
    assert not torch.allclose(a, b)
    assert torch.equal(net(x, t), net(x, t, torch.tensor([10, 10])))  # no labels = the null class
    with pytest.raises(ValueError, match="unconditional"):
        UNet()(x, t, torch.tensor([1, 1]))


def test_additive_skips_keep_every_up_block_at_its_level_width():
    concat, add = UNet(), UNet(UNetConfig(skip="add"))
    assert [r.conv1.in_channels for level in concat.up for r in level.res] == [32 + 64, 64 + 128, 128 + 128]
    assert [r.conv1.in_channels for level in add.up for r in level.res] == [32, 64, 128]
    assert [c.in_channels for c in add.lift] == [64, 128]  # 1×1 convs from the coarser level
    assert sum(p.numel() for p in add.parameters()) < sum(p.numel() for p in concat.parameters())


def test_a_bfloat16_copy_runs_without_autocast():
    torch.manual_seed(0)
    net = UNet(UNetConfig(skip="add"))
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    x, t = torch.randn(2, 1, 28, 28), torch.tensor([3, 700])
    with torch.no_grad():
        y, y16 = net(x, t), net.bfloat16()(x.bfloat16(), t)  # the time embedding follows the weights' dtype
    assert y16.dtype == torch.bfloat16 and torch.allclose(y16.float(), y, atol=0.1 * y.abs().max().item())


def test_config_round_trips_through_json():
    cfg = UNetConfig(channels=(16, 32, 64), attention_levels=(2,), num_classes=10, extra={"recipe": "x"})
    assert UNetConfig.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize("kwargs, message", [
    (dict(image_size=30), "allowed sizes are multiples of 4"),
    (dict(channels=(32, 60)), "divisible by num_groups"),
    (dict(attention_levels=(3,)), "attention_levels must be in \\[0, 2\\]"),
    (dict(channels=()), "at least one level"),
    (dict(skip="sum"), "skip must be 'concat' or 'add', got 'sum'"),
    (dict(patch_size=2), "2×2 patches and halved 2 times by 3 levels; allowed sizes are multiples of 8"),
])
def test_bad_configs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        UNetConfig(**kwargs)


def test_bad_inputs():
    net = UNet()
    with pytest.raises(ValueError, match="expects x of shape \\(B, 1, H, W\\)"):
        net(torch.zeros(1, 3, 28, 28), torch.tensor([0]))
    with pytest.raises(ValueError, match="must be a multiple of 4"):
        net(torch.zeros(1, 1, 30, 30), torch.tensor([0]))


@pytest.mark.parametrize("cfg", [UNetConfig(), UNetConfig(skip="add"), UNetConfig(channels=(64, 128), patch_size=2),
                                 UNetConfig(channels=(16, 32, 64), blocks_per_level=2, attention_levels=(0,)),
                                 UNetConfig(channels=(32,), num_classes=3)])
def test_deep_cache_runs_in_full_every_nth_call_and_reuses_the_deep_features_between(cfg):
    torch.manual_seed(0)
    net = UNet(cfg)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    xs, ts = torch.randn(5, 2, cfg.in_channels, 28, 28), torch.tensor([[900, 800], [700, 600], [500, 400],
                                                                      [300, 200], [100, 0]])
    with torch.no_grad():
        every1, every3 = DeepCache(net, 1), DeepCache(net, 3)
        assert all(torch.equal(every1(x, t), net(x, t)) for x, t in zip(xs, ts))  # every=1 is the network
        outs = [every3(x, t) for x, t in zip(xs, ts)]
        for call, (x, t, out) in enumerate(zip(xs, ts, outs)):
            full = call % 3 == 0
            assert torch.equal(out, net(x, t)) == full, call
            h, emb, skips = net.top_down(x, t)
            first = xs[call - call % 3], ts[call - call % 3]  # the last full call's input
            kept = net.deep(*net.top_down(*first)[:2])
            assert torch.allclose(out, net.top_up(kept, emb, skips), atol=1e-6), call
    assert every1.calls == every3.calls == 5


def test_sampling_with_deep_cache_is_seeded_and_refuses_what_it_cannot_cache():
    torch.manual_seed(0)
    ddpm = DDPM(UNet(UNetConfig(channels=(16, 32), num_groups=4, num_classes=10)), 20)
    for p in ddpm.network.parameters():
        torch.nn.init.normal_(p, std=0.05)
    draw = lambda **kw: ddpm.sample((2, 1, 28, 28), generator=torch.Generator().manual_seed(1), num_steps=6,  # noqa: E731
                                    sampler="ddim", labels=torch.tensor([3, 7]), guidance_scale=2.0, **kw)
    plain, cached = draw(), draw(cache_every=2)
    assert torch.equal(draw(cache_every=1), plain) and torch.equal(draw(cache_every=2), cached)
    assert not torch.equal(cached, plain) and torch.isfinite(cached).all()
    with pytest.raises(ValueError, match="every must be an integer >= 1 \\(1 = no reuse\\), got 0"):
        draw(cache_every=0)
    with pytest.raises(ValueError, match="DeepCache needs a UNet \\(top_down, deep, top_up\\), got MLPDenoiser"):
        DDPM(MLPDenoiser(), 20).sample((4, 2), num_steps=3, cache_every=2)
