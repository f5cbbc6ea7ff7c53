"""The tokenizer, the text encoder and the CLIP-style loss."""
import math

import pytest
import torch
import torch.nn.functional as F

from diffusion_lite.datasets import CELLS, SCENE_NAMES, scenes
from diffusion_lite.text import CAPTION_WORDS, CLIP, ClipConfig, TextConfig, TextEncoder, Tokenizer, trim


def test_the_vocabulary_is_exactly_the_words_of_the_caption_grammar():
    words = {"a", "an", "in", "the", "and"} | {w for phrase in SCENE_NAMES + CELLS for w in phrase.split()}
    assert set(CAPTION_WORDS) == words and len(CAPTION_WORDS) == len(words)


def test_tokenizer_round_trips_every_caption_with_start_and_padding():
    tok = Tokenizer()
    _, captions, _ = scenes("test", 500, seed=0)
    ids = tok.encode(captions)
    assert ids.shape == (500, 32) and ids.dtype == torch.int64 and (ids[:, 0] == 1).all()
    assert tok.decode(ids) == captions
    lengths = (ids != 0).sum(1)
    assert lengths.tolist() == [len(c.split()) + 1 for c in captions]
    assert all((row[n:] == 0).all() for row, n in zip(ids, lengths))  # padding only after the words
    assert torch.equal(tok.encode("a bag in the top left"), tok.encode(["a bag in the top left"]))
    longest = " and ".join(f"an ankle boot in the {c}" for c in CELLS)  # 31 words: the most a caption has
    assert tok.decode(tok.encode(longest)) == [longest]


def test_tokenizer_refuses_unknown_words_and_overlong_captions_naming_them():
    tok = Tokenizer()
    with pytest.raises(ValueError, match="unknown word 'hat' in 'a hat in the top left'; the vocabulary is: a, an"):
        tok.encode("a hat in the top left")
    with pytest.raises(ValueError, match="unknown word '<pad>'"):
        tok.encode("a <pad> in the top left")
    with pytest.raises(ValueError, match="has 35 words; at most 31 fit"):
        tok.encode(" ".join(["a"] * 35))
    with pytest.raises(ValueError, match="distinct words"):
        Tokenizer(("a", "a"))


def test_text_encoder_shapes_mask_and_pooled_token():
    torch.manual_seed(0)
    enc = TextEncoder(TextConfig(width=32, layers=2, num_heads=4)).eval()
    out = enc.encode(["a bag in the top left", "an ankle boot in the bottom right and a coat in the top left"])
    assert out.tokens.shape == (2, 32, 32) and out.mask.shape == (2, 32) and out.pooled.shape == (2, 32)
    assert out.mask.sum(1).tolist() == [7, 15] and torch.equal(out.pooled, out.tokens[:, 0])
    short = enc(trim(enc.tokenizer.encode(["a bag in the top left", "a coat in the top right"])))
    assert short.tokens.shape == (2, 7, 32)  # without the padding no caption uses: the same vectors
    assert torch.allclose(short.tokens, enc.encode(["a bag in the top left", "a coat in the top right"]).tokens[:, :7],
                          atol=1e-5)
    with pytest.raises(ValueError, match=r"tokens must be \(B, 32\)"):
        enc(torch.zeros(2, 40, dtype=torch.long))


def test_text_encoder_is_bidirectional_and_ignores_padding():
    torch.manual_seed(0)
    enc = TextEncoder().eval()
    a, b = enc.encode(["a bag in the top left", "a bag in the top right"])[:2]
    assert not torch.allclose(a[0, 0], a[1, 0])  # the first token sees the last word: bidirectional
    # the real tokens' vectors do not depend on what else is in the batch, nor on the padding
    one = enc.encode(["a bag in the top left"])
    assert torch.allclose(one.tokens[0, :7], a[0, :7], atol=1e-5)
    for block in enc.blocks:
        block.attn1.record = True
    enc.encode(["a bag in the top left"])
    weights = enc.blocks[0].attn1.weights  # (1, heads, 32, 32)
    assert float(weights[..., 7:].abs().max()) == 0 and torch.allclose(weights.sum(-1), torch.ones(1, 4, 32))


def test_clip_loss_is_symmetric_infonce_with_identical_captions_counted_as_matches():
    torch.manual_seed(0)
    clip = CLIP(ClipConfig(embed_dim=16))
    images, captions, _ = scenes("train", 8, seed=2)
    x = images.float().div(127.5).sub(1).unsqueeze(1)
    tokens = clip.text.tokenizer.encode(captions)
    logits = clip.logits(x, tokens)
    expected = 0.5 * (F.cross_entropy(logits, torch.arange(8)) + F.cross_entropy(logits.T, torch.arange(8)))
    assert torch.allclose(clip.loss(x, labels=tokens), expected, atol=1e-5)
    assert math.isclose(float(clip.logit_scale.detach().exp()), 1 / 0.07, rel_tol=1e-5)
    # the same caption twice: each of the two pairs is a match, the target split between them
    tokens[1] = tokens[0]
    logits = clip.logits(x, tokens)
    target = torch.eye(8)
    target[0, 1] = target[1, 0] = 1
    target = target / target.sum(1, keepdim=True)
    expected = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    assert torch.allclose(clip.loss(x, labels=tokens), expected, atol=1e-5)
    with torch.no_grad():
        clip.logit_scale.fill_(10.0)  # 1/τ is capped at 100, as in CLIP
    assert torch.allclose(clip.logits(x, tokens), 100 * clip.embed_images(x) @ clip.embed_text(tokens).T, atol=1e-4)
    with pytest.raises(ValueError, match="needs the captions' token ids"):
        clip.loss(x)


def test_train_a_tiny_clip_recipe_from_the_command_line_and_load_it(tmp_path, capsys):
    """`train` on captioned scenes: token ids as the labels, retrieval recorded, a checkpoint that loads."""
    import json

    from diffusion_lite.__main__ import main
    from diffusion_lite.checkpoints import Recipe, load_model
    tiny = {"clip": {"text": {"width": 16, "layers": 1}, "image_channels": [8, 8, 8], "embed_dim": 8},
            "dataset": "scenes", "train": {"steps": 2, "batch_size": 16, "warmup_steps": 1}}
    (tmp_path / "tiny.json").write_text(json.dumps(tiny))
    assert main(["train", "--config", str(tmp_path / "tiny.json"), "--out", str(tmp_path / "run"), "--threads", "1",
                 "--evaluate", "20"]) == 0
    clip, recipe, meta = load_model(tmp_path / "run" / "model")
    assert isinstance(clip, CLIP) and recipe.kind == "clip" and recipe == Recipe.from_dict(recipe.to_dict())
    assert meta["steps"] == 2 and meta["metrics"]["num_scenes"] == 20 and 0 <= meta["metrics"]["top1"] <= 1
    assert meta["metrics"]["seen"]["num_scenes"] + meta["metrics"]["held_out"]["num_scenes"] == 20
    assert main(["sample", "--checkpoint", str(tmp_path / "run" / "model"), "--num", "2",
                 "--out", str(tmp_path / "x.npz")]) == 1
    assert "is a CLIP checkpoint, not a diffusion model" in capsys.readouterr().err
    with pytest.raises(ValueError, match="a clip recipe trains on captioned scenes"):
        Recipe.from_dict({**tiny, "dataset": "fashion-mnist"})
    with pytest.raises(ValueError, match=r"unknown clip.text keys \['depth'\]"):
        Recipe.from_dict({**tiny, "clip": {"text": {"depth": 2}}})
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        Recipe.from_dict({**tiny, "dataset": "cifar"})
