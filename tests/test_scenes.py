"""Captioned scenes: the layout, the exact caption grammar and its parser, the held-out pairs, the splits."""
import re

import pytest
import torch

from diffusion_lite import datasets
from diffusion_lite.datasets import CELLS, HELD_OUT, SCENE_NAMES, caption, hard_negatives, parse_caption, scenes

NAME = "|".join(re.escape(n) for n in SCENE_NAMES)
ITEM = rf"an? ({NAME}) in the ({'|'.join(CELLS)})"
GRAMMAR = re.compile(rf"{ITEM}( and {ITEM}){{0,3}}")


def test_scenes_repeat_from_their_seed_and_have_the_stated_shapes():
    images, captions, layouts = scenes("train", 300, seed=3)
    assert images.shape == (300, 56, 56) and images.dtype == torch.uint8
    assert layouts.shape == (300, 4) and layouts.dtype == torch.int64 and len(captions) == 300
    again = scenes("train", 300, seed=3)
    assert torch.equal(again[0], images) and again[1] == captions and torch.equal(again[2], layouts)
    assert scenes("train", 300, seed=4)[1] != captions


def test_every_caption_follows_the_grammar_and_parses_back_to_its_layout():
    images, captions, layouts = scenes("test", 2000, seed=0)
    for text, layout in zip(captions, layouts):
        assert GRAMMAR.fullmatch(text), text
        assert torch.equal(parse_caption(text), layout)
        items = datasets.caption_items(text)
        assert len(items) == int((layout >= 0).sum()) and caption(items) == text
    assert "an ankle boot in the" in " ".join(captions) and "a ankle" not in " ".join(captions)
    counts = (layouts >= 0).sum(1)
    assert counts.min() == 1 and counts.max() == 4
    assert all(abs(int((counts == k).sum()) - 500) < 80 for k in (1, 2, 3, 4))  # uniform in [1, 4]
    first = [datasets.caption_items(t)[0][1] for t in captions if len(datasets.caption_items(t)) == 4]
    assert len(set(first)) == 4  # items come in a random order, not reading order
    assert (scenes("test", 200, seed=0, max_items=2)[2] >= 0).sum(1).max() == 2


def test_cells_hold_an_item_of_the_named_class_from_the_right_split_or_nothing():
    for split in ("train", "test"):
        items, labels = datasets.load_fashion_mnist(split)
        label_of = {bytes(im.numpy()): int(y) for im, y in zip(items, labels)}
        images, _, layouts = scenes(split, 300, seed=5)
        cells = datasets.scene_cells(images)
        assert torch.equal(cells[:, 1], images[:, :28, 28:]) and torch.equal(cells[:, 2], images[:, 28:, :28])
        for cell_row, layout in zip(cells, layouts):
            for cell, label in zip(cell_row, layout.tolist()):
                if label < 0:
                    assert int(cell.max()) == 0
                else:  # the exact image of a Fashion-MNIST item of that class, from this split
                    assert label_of[bytes(cell.numpy())] == label


def test_the_held_out_pairs_never_occur_in_train_and_do_in_test():
    _, _, train = scenes("train", 20_000, seed=0)
    _, _, test = scenes("test", 2_000, seed=0)
    for label, cell in HELD_OUT:
        assert int((train[:, cell] == label).sum()) == 0
        assert int((test[:, cell] == label).sum()) > 20
        assert int((train[:, cell] >= 0).sum()) > 5000  # the cell is still used, by the nine other classes
    assert sorted(set(train[train >= 0].tolist())) == list(range(10))
    assert not datasets.held_out_cells(train).any()
    assert datasets.held_out_cells(test).sum(0).tolist() == [int((test[:, c] == k).sum()) for k, c in HELD_OUT]


@pytest.mark.parametrize("text, message", [
    ("", "empty caption"),
    ("a hat in the top left", "unknown item 'hat'"),
    ("a bag in the middle", "unknown cell 'middle'"),
    ("a ankle boot in the top left", "should read 'an ankle boot in the top left'"),
    ("an bag in the top left", "should read 'a bag in the top left'"),
    ("a bag in the top left and a coat in the top left", "two items in the top left"),
    ("a bag on the top left", "is not 'a NAME in the CELL'"),
    ("a bag in the top left, a coat in the top right", "unknown cell"),
    ("A bag in the top left", "should read 'a bag in the top left'"),
])
def test_parse_caption_refuses_anything_outside_the_grammar_and_says_what_is_allowed(text, message):
    with pytest.raises(ValueError, match=re.escape(message)) as e:
        parse_caption(text)
    assert "top left" in str(e.value) or "should read" in str(e.value) or "two items" in str(e.value)


def test_scenes_bad_input():
    with pytest.raises(ValueError, match="choose 'train' or 'test'"):
        scenes("valid", 3)
    with pytest.raises(ValueError, match="max_items one of 1, 2, 3, 4"):
        scenes("train", 3, max_items=5)
    with pytest.raises(ValueError, match="num must be an integer >= 1"):
        scenes("train", 0)


def test_hard_negatives_differ_from_the_caption_in_exactly_one_thing():
    text = "a bag in the top left and an ankle boot in the bottom right and a coat in the top right"
    truth = parse_caption(text)
    negatives = hard_negatives(text)
    assert len(negatives["class"]) == 27 and len(negatives["cell"]) == 3 and len(negatives["swap"]) == 3
    for t in negatives["class"]:
        changed = parse_caption(t) != truth
        assert int(changed.sum()) == 1 and parse_caption(t)[changed] >= 0
    for t in negatives["cell"]:  # one item moved: one cell emptied, one filled, with the same class
        layout = parse_caption(t)
        assert int((layout != truth).sum()) == 2 and sorted(layout[layout >= 0].tolist()) == sorted(truth[truth >= 0].tolist())
    for t in negatives["swap"]:  # the same classes in the same cells, bound differently
        layout = parse_caption(t)
        assert torch.equal(layout >= 0, truth >= 0) and int((layout != truth).sum()) == 2
    assert hard_negatives("a coat in the top left and a coat in the top right")["swap"] == []


def test_compose_draws_real_items_of_the_layouts_classes():
    layouts = torch.tensor([[8, -1, -1, 9], [-1, 0, 1, -1]])
    images = datasets.compose(layouts, "test", torch.Generator().manual_seed(0))
    cells = datasets.scene_cells(images)
    assert images.shape == (2, 56, 56) and int(cells[0, 1].max()) == 0 and int(cells[0, 0].max()) > 200
    with pytest.raises(ValueError, match=r"layouts must be \(N, 4\) classes in \[0, 9\] or -1"):
        datasets.compose(torch.tensor([[10, -1, -1, -1]]))


def test_prompt_fidelity_scores_real_scenes_near_their_ceiling_and_blank_ones_at_zero(tmp_path, capsys):
    """Real test scenes with their own captions score as the ceiling's real scenes do (both are real), far
    above blank canvases and canvases with the items in the wrong cells; `evaluate` reports both."""
    import json

    import numpy as np

    from diffusion_lite.__main__ import main
    from diffusion_lite.metrics import prompt_fidelity, prompt_fidelity_ceiling
    images, captions, layouts = scenes("test", 300, seed=1)
    real = prompt_fidelity(images, captions, item_fid=False)
    ceiling = prompt_fidelity_ceiling(captions, item_fid=False)
    assert abs(real["prompt"] - ceiling["prompt"]) < 0.08 and real["empty"] == 1.0 and real["item"] > 0.85
    assert prompt_fidelity(torch.zeros_like(images), captions, item_fid=False)["item"] == 0.0
    flipped = images.flip(-1).flip(-2)  # each item moved to the opposite cell (and turned round)
    assert prompt_fidelity(flipped, captions, item_fid=False)["prompt"] < 0.3
    # A hand-made scene: right items in the right cells count; a black named cell does not.
    scene = datasets.compose(torch.tensor([[8, -1, -1, 9]]), "test", torch.Generator().manual_seed(3))
    one = prompt_fidelity(scene, ["a bag in the top left and an ankle boot in the bottom right"], item_fid=False)
    assert one["empty"] == 1.0 and one["by_items"][2] in (0.0, 1.0)
    np.savez(tmp_path / "s.npz", images=images.numpy(), prompts=np.array(captions))
    assert main(["evaluate", str(tmp_path / "s.npz")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["generated"]["prompt"] == real["prompt"] and report["ceiling"]["prompt"] == ceiling["prompt"]
    assert report["generated"]["item_fid"] < 3 * report["generated"]["item_fid_floor"]
