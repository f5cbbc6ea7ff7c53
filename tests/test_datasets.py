"""Toy distributions and Fashion-MNIST: search order, verification, clear errors, and the download path
(served from 127.0.0.1 by the test itself; no internet)."""
import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from diffusion_lite import datasets
from diffusion_lite.__main__ import main


@pytest.mark.parametrize("name", datasets.TOYS)
def test_toy_distributions_are_seeded_and_scaled(name):
    a, b = datasets.toy_2d(name, 5000, seed=1), datasets.toy_2d(name, 5000, seed=1)
    assert a.shape == (5000, 2) and a.dtype == torch.float32 and torch.equal(a, b)
    assert not torch.equal(a, datasets.toy_2d(name, 5000, seed=2))
    assert 0.3 < float(a.std(0).min()) and float(a.abs().max()) < 3.0


def test_toy_bad_input():
    with pytest.raises(ValueError, match="choose one of \\('swiss_roll', 'two_moons', 'eight_gaussians', 'checkerboard'\\)"):
        datasets.toy_2d("spiral", 10)
    with pytest.raises(ValueError, match="n must be >= 1"):
        datasets.toy_2d("two_moons", 0)


def test_fashion_mnist_loads_with_expected_shapes_and_balance():
    images, labels = datasets.load_fashion_mnist("train")
    assert images.shape == (60_000, 28, 28) and images.dtype == torch.uint8
    assert torch.bincount(labels).tolist() == [6000] * 10
    test_images, test_labels = datasets.load_fashion_mnist("test")
    assert test_images.shape == (10_000, 28, 28) and torch.bincount(test_labels).tolist() == [1000] * 10
    x = datasets.to_model_range(test_images[:5])
    assert x.shape == (5, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(datasets.from_model_range(x), test_images[:5])
    with pytest.raises(ValueError, match="choose 'train' or 'test'"):
        datasets.load_fashion_mnist("valid")


# ------------------------------------------------------------------ a small fake dataset, for the error paths
def fake_files(folder: Path, n: int = 3) -> dict:
    """Writes four small, valid IDX .gz files; returns the FILES table (size, SHA-256) that matches them."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    table = {}
    for name in datasets.FILES:
        header = (b"\x00\x00\x08\x03" + n.to_bytes(4, "big") + (28).to_bytes(4, "big") * 2) if "images" in name \
            else (b"\x00\x00\x08\x01" + n.to_bytes(4, "big"))
        body = rng.integers(0, 256 if "images" in name else 10, n * (784 if "images" in name else 1), dtype=np.uint8)
        raw = header + body.tobytes()
        (folder / name).write_bytes(gzip.compress(raw))
        table[name] = (len(raw), hashlib.sha256(raw).hexdigest())
    return table


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No real data anywhere the loader looks."""
    monkeypatch.setattr(datasets, "REPO_DIR", tmp_path / "repo")
    monkeypatch.setattr(datasets, "SYSTEM_DIR", tmp_path / "system")
    monkeypatch.delenv("DIFFUSION_LITE_DATA", raising=False)
    datasets._load.cache_clear()
    yield tmp_path
    datasets._load.cache_clear()


def test_missing_data_gives_one_clear_message(isolated):
    with pytest.raises(datasets.DataError) as err:
        datasets.load_fashion_mnist()
    message = str(err.value)
    assert "Fashion-MNIST not found" in message and str(isolated / "system") in message
    assert "apt-get install dataset-fashion-mnist" in message and "python -m diffusion_lite data download" in message


def test_search_order_env_then_repo_then_system(isolated, monkeypatch):
    table = fake_files(isolated / "system")
    fake_files(isolated / "repo", n=2)
    monkeypatch.setattr(datasets, "FILES", table)
    assert datasets.find_fashion_mnist() == isolated / "repo"  # repo before system
    monkeypatch.setenv("DIFFUSION_LITE_DATA", str(isolated / "system"))
    assert datasets.find_fashion_mnist() == isolated / "system"  # the variable first
    images, labels = datasets.load_fashion_mnist("test")
    assert images.shape == (3, 28, 28) and labels.max() < 10


def test_corrupt_files_are_reported_not_crashed_on(isolated, monkeypatch):
    table = fake_files(isolated / "system")
    monkeypatch.setattr(datasets, "FILES", table)
    target = isolated / "system" / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(target.read_bytes()))
    raw[100] ^= 0xFF
    target.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(datasets.DataError, match="is corrupt.*SHA-256"):
        datasets.load_fashion_mnist("test")
    target.write_bytes(b"this is not gzip")
    with pytest.raises(datasets.DataError, match="not a readable gzip file"):
        datasets.load_fashion_mnist("test")


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/served; stopped after the test."""
    root = tmp_path / "served"
    root.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.RequestHandlerClass.log_message = lambda *a: None
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_download_fetches_verifies_and_the_loader_finds_it(isolated, monkeypatch, server, capsys):
    root, url = server
    monkeypatch.setattr(datasets, "FILES", fake_files(root))
    dest = isolated / "repo"
    assert main(["data", "download", "--dest", str(dest), "--url", url]) == 0
    assert "downloaded and verified" in capsys.readouterr().out
    assert sorted(p.name for p in dest.iterdir()) == sorted(datasets.FILES)
    monkeypatch.setattr(datasets, "REPO_DIR", dest)
    assert datasets.load_fashion_mnist("train")[0].shape == (3, 28, 28)
    assert main(["data", "check"]) == 0


def test_download_of_a_corrupt_or_missing_file_writes_nothing(isolated, monkeypatch, server, capsys):
    root, url = server
    monkeypatch.setattr(datasets, "FILES", fake_files(root))
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"wrong contents"))
    dest = isolated / "dl"
    assert main(["data", "download", "--dest", str(dest), "--url", url]) == 1
    assert "t10k-labels-idx1-ubyte.gz" in capsys.readouterr().err
    assert not (dest / "t10k-labels-idx1-ubyte.gz").exists() and not list(dest.glob("*.part"))
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(datasets.DataError, match="could not download t10k-labels-idx1-ubyte.gz"):
        datasets.download_fashion_mnist(dest, url)
    assert not list(dest.glob("*.part"))
