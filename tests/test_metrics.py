"""Distances between samples: zero for identical sets, closed forms for Gaussians, sensitivity to a shift."""
import pytest
import torch

from diffusion_lite.metrics import frechet_distance, kernel_inception_distance, mmd_rbf, sliced_wasserstein


def gaussian(n, mean, std, seed):
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * std + mean


def test_sliced_wasserstein_of_a_shift_and_of_identical_sets():
    x = gaussian(4000, 0.0, 1.0, 0)
    assert sliced_wasserstein(x, x) == 0.0
    # shifting by (1, 0) moves each projection by cos θ: SW2 = √E[cos² θ] = √½ over uniform directions
    assert sliced_wasserstein(x, x + torch.tensor([1.0, 0.0]), num_projections=4000) == pytest.approx(0.5**0.5, rel=0.02)
    with pytest.raises(ValueError, match="same N and D"):
        sliced_wasserstein(x, x[:10])


def test_mmd_is_near_zero_for_the_same_distribution_and_positive_for_a_shift():
    a, b = gaussian(1000, 0.0, 1.0, 1), gaussian(1000, 0.0, 1.0, 2)
    assert abs(mmd_rbf(a, b)) < 0.005 < mmd_rbf(a, b + 1.0)


def test_frechet_distance_closed_form_for_gaussians():
    """For N(μa, sa²I) and N(μb, sb²I) in D dims: ‖μa − μb‖² + D(sa − sb)²."""
    a = torch.randn(200_000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    b = torch.randn(200_000, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 + 1
    assert frechet_distance(a, b) == pytest.approx(3 * 1.0 + 3 * (1 - 2) ** 2, rel=0.01)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_kid_is_unbiased_near_zero_and_grows_with_a_shift():
    a, b = gaussian(2000, 0.0, 1.0, 3), gaussian(2000, 0.0, 1.0, 4)
    same, spread = kernel_inception_distance(a, b, subset_size=500)
    shifted, _ = kernel_inception_distance(a, b + 0.5, subset_size=500)
    assert abs(same) < 3 * spread + 1e-3 and shifted > 10 * abs(same)


def test_the_book_classifier_reaches_its_recorded_accuracy():
    import json

    from diffusion_lite.datasets import load_fashion_mnist, to_model_range
    from diffusion_lite.metrics import CLASSIFIER_PATH, classifier_outputs, load_classifier
    meta = json.loads(CLASSIFIER_PATH.with_suffix(".json").read_text())
    images, labels = load_fashion_mnist("test")
    feats, pred = classifier_outputs(load_classifier(), to_model_range(images))
    accuracy = (pred == labels).float().mean().item()
    assert feats.shape == (10_000, 128)
    assert accuracy >= meta["test_accuracy"] - 0.002 and accuracy >= 0.90


def test_classifier_rejects_wrong_shapes_and_missing_checkpoints(tmp_path):
    from diffusion_lite.metrics import FashionClassifier, load_classifier
    with pytest.raises(ValueError, match="\\(B, 1, 28, 28\\)"):
        FashionClassifier().features(torch.zeros(2, 1, 32, 32))
    with pytest.raises(FileNotFoundError, match="scripts/train_classifier.py"):
        load_classifier(tmp_path / "none.safetensors")


def test_train_classifier_learns_a_separable_task_and_repeats_with_its_seed():
    from diffusion_lite.metrics import classifier_outputs, train_classifier
    g = torch.Generator().manual_seed(0)
    y = torch.arange(64) % 2
    x = (torch.rand(64, 1, 28, 28, generator=g) * 0.5 - 0.75) + y.view(-1, 1, 1, 1).float()  # dark or bright
    model = train_classifier(x, y, steps=30, batch_size=16, seed=3)
    assert not model.training
    _, predicted = classifier_outputs(model, x)
    assert float((predicted == y).float().mean()) > 0.9
    again = train_classifier(x, y, steps=30, batch_size=16, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
