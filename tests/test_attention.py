"""Cross-attention against PyTorch's attention, the transformer blocks, and the UNet that cross-attends."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from diffusion_lite.attention import CrossAttention, SpatialTransformer, TransformerBlock
from diffusion_lite.unet import DeepCache, UNet, UNetConfig


def context_and_mask(b=3, length=6, dim=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(b, length, dtype=torch.bool)
    mask[0, 4:] = False  # the first caption is shorter: its last two tokens are padding
    mask[2, 2:] = False
    return torch.randn(b, length, dim, generator=g), mask


def test_cross_attention_equals_scaled_dot_product_attention_with_the_padding_mask():
    torch.manual_seed(0)
    attn = CrossAttention(24, context_dim=16, num_heads=4)
    x, (context, mask) = torch.randn(3, 10, 24), context_and_mask()
    heads = lambda z: z.view(3, -1, 4, 6).transpose(1, 2)  # noqa: E731
    q, k, v = heads(attn.to_q(x)), heads(attn.to_k(context)), heads(attn.to_v(context))
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
    expected = attn.to_out(ref.transpose(1, 2).reshape(3, 10, 24))
    assert torch.allclose(attn(x, context, mask), expected, atol=1e-5)
    with pytest.raises(ValueError, match="context must have 16 features"):
        attn(x, torch.randn(3, 6, 8))


def test_cross_attention_equals_batch_first_multihead_attention():
    torch.manual_seed(0)
    attn = CrossAttention(24, context_dim=16, num_heads=4)
    mha = nn.MultiheadAttention(24, 4, kdim=16, vdim=16, batch_first=True)
    with torch.no_grad():
        mha.q_proj_weight.copy_(attn.to_q.weight)
        mha.k_proj_weight.copy_(attn.to_k.weight)
        mha.v_proj_weight.copy_(attn.to_v.weight)
        mha.in_proj_bias.zero_()
        mha.out_proj.weight.copy_(attn.to_out.weight)
        mha.out_proj.bias.copy_(attn.to_out.bias)
    x, (context, mask) = torch.randn(3, 10, 24), context_and_mask()
    expected, weights = mha(x, context, context, key_padding_mask=~mask, average_attn_weights=False)
    attn.record = True
    assert torch.allclose(attn(x, context, mask), expected, atol=1e-5)
    assert torch.allclose(attn.weights, weights, atol=1e-6)
    assert float(attn.weights[0, ..., 4:].max()) == 0  # padding gets no weight


def test_each_example_attends_only_to_its_own_tokens():
    torch.manual_seed(0)
    block = TransformerBlock(24, context_dim=16, num_heads=4)
    x, (context, mask) = torch.randn(3, 10, 24), context_and_mask()
    out = block(x, context, mask)
    x2, context2 = x.clone(), context.clone()
    x2[1] += 1.0
    context2[1] += 1.0  # change the second example's pixels and words
    out2 = block(x2, context2, mask)
    assert torch.allclose(out[[0, 2]], out2[[0, 2]], atol=1e-6) and not torch.allclose(out[1], out2[1])


def test_spatial_transformer_starts_as_the_identity_and_then_reads_the_text():
    torch.manual_seed(0)
    st = SpatialTransformer(32, context_dim=16, num_heads=4)
    x, (context, mask) = torch.randn(3, 32, 5, 5), context_and_mask()
    assert torch.equal(st(x, context, mask), x)
    nn.init.normal_(st.proj_out.weight, std=0.1)
    other = context.clone()
    other[0, :4] = torch.randn(4, 16)
    assert not torch.allclose(st(x, context, mask)[0], st(x, other, mask)[0])
    other = context.clone()
    other[0, 4:] = torch.randn(2, 16)  # the padding of the first caption
    assert torch.allclose(st(x, context, mask), st(x, other, mask), atol=1e-6)


def text_unet(**kw):
    cfg = dict(image_size=16, channels=(32, 64), context_dim=16, cross_attention_levels=(1,), skip="add")
    return UNet(UNetConfig(**{**cfg, **kw}))


def test_unet_cross_attends_where_asked_and_checks_its_context():
    torch.manual_seed(0)
    net = text_unet()
    kinds = [type(a).__name__ for level in net.down for a in level.attn] + [type(net.mid_attn).__name__]
    assert kinds == ["Identity", "SpatialTransformer", "SpatialTransformer"]
    for p in net.parameters():  # leave the zero initialisation, so that the text matters
        nn.init.normal_(p, std=0.05) if p.ndim > 1 else None
    x, t = torch.randn(3, 1, 16, 16), torch.tensor([5, 50, 500])
    context, mask = context_and_mask()
    out = net(x, t, context=context, context_mask=mask)
    assert out.shape == x.shape
    assert not torch.allclose(out, net(x, t, context=context.flip(0), context_mask=mask.flip(0)))
    assert torch.allclose(DeepCache(net, 1)(x, t, context=context, context_mask=mask), out, atol=1e-6)
    with pytest.raises(ValueError, match="cross-attends to text: pass context"):
        net(x, t)
    with pytest.raises(ValueError, match=r"context must be \(B, L, 16\)"):
        net(x, t, context=torch.randn(3, 6, 8), context_mask=mask)
    with pytest.raises(ValueError, match="no cross-attention"):
        UNet(UNetConfig(image_size=16, channels=(32, 64)))(x, t, context=context, context_mask=mask)
    with pytest.raises(ValueError, match="cross_attention_levels and query_position need context_dim"):
        UNetConfig(cross_attention_levels=(1,))
    with pytest.raises(ValueError, match="must be in \\[0, 1\\]"):
        text_unet(cross_attention_levels=(2,))


def test_a_unet_without_text_keeps_its_modules_and_parameter_names():
    cfg = UNetConfig()
    assert UNetConfig.from_json(cfg.to_json()) == cfg
    names = set(UNet(cfg).state_dict())
    assert not any("block" in n or "proj_in" in n for n in names) and "mid_attn.qkv.weight" in names


def test_a_query_position_embedding_tells_identical_features_apart_and_reaches_only_the_queries():
    torch.manual_seed(0)
    context, mask = torch.randn(2, 5, 16), torch.ones(2, 5, dtype=torch.bool)
    x = torch.randn(2, 32, 1, 1).expand(2, 32, 4, 4).contiguous()  # the same features at all 16 positions
    for positions in (None, 16):
        block = SpatialTransformer(32, 16, num_heads=4, positions=positions)
        nn.init.normal_(block.proj_out.weight)  # past the zero init, so the block's output shows
        out = block(x, context, mask).flatten(2)  # (2, 32, 16)
        spread = (out - out[..., :1]).abs().amax()
        assert (spread < 1e-5) if positions is None else (spread > 1e-2)  # convolution-free: only it can tell
    # added to the cross-attention's queries only: the block equals its parts with norm2(x) + position as query
    tokens = block.proj_in(block.norm(x)).flatten(2).transpose(1, 2)
    b = block.block
    h = tokens + b.attn1(b.norm1(tokens))
    h = h + b.attn2(b.norm2(h) + block.position, context, mask)
    h = h + b.mlp(b.norm3(h))
    expected = x + block.proj_out(h.transpose(1, 2).reshape(2, 32, 4, 4))
    assert torch.allclose(block(x, context, mask), expected, atol=1e-5)
    with pytest.raises(ValueError, match="position embedding for 16 positions; got a 8×8 map"):
        block(torch.randn(2, 32, 8, 8), context, mask)


def test_query_position_gives_every_cross_attention_of_the_unet_its_own_positions():
    cfg = UNetConfig(in_channels=4, image_size=14, channels=(64, 128), skip="add", context_dim=16,
                     cross_attention_levels=(1,), query_position=True)
    blocks = [m for m in UNet(cfg).modules() if isinstance(m, SpatialTransformer)]
    assert len(blocks) == 3 and all(m.position.shape == (1, 49, 128) for m in blocks)  # 7×7: level 1, middle
    assert all(m.position is None for m in UNet(UNetConfig(**{**cfg.__dict__, "query_position": False})).modules()
               if isinstance(m, SpatialTransformer))
    with pytest.raises(ValueError, match="query_position need context_dim"):
        UNetConfig(query_position=True)
