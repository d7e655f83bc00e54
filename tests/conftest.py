"""Shared fixtures: tiny datasets written in each dataset's real on-disk format, so no test
ever downloads or depends on ``../shared``.

* MNIST / Fashion-MNIST: gzipped idx files in ``<root>/<Name>/raw/`` (torchvision's layout).
* CIFAR-10: pickled ``data_batch_1..5``, ``test_batch`` and ``batches.meta`` in
  ``<root>/cifar-10-batches-py/`` (the official python format).

Images are class-dependent patterns plus noise, so a classifier or a GAN can learn them.
"""
from __future__ import annotations

import gzip
import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the book's tooling (tools/book/) is not an installed package
    sys.path.insert(0, str(REPO))


def class_images(labels: np.ndarray, size: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 (N, size, size, channels): class k is a bright bar at a class-specific place."""
    n = len(labels)
    img = rng.integers(0, 40, size=(n, size, size, channels)).astype(np.int32)
    for i, k in enumerate(labels):
        r = 2 + (int(k) * (size - 6)) // 10
        img[i, r:r + 4, 3:size - 3, :] += 200
        img[i, 3:size - 3, r:r + 2, :] += 100 if k % 2 else 0
    return np.clip(img, 0, 255).astype(np.uint8)


def write_idx(raw: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    with gzip.open(raw / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, n, h, w) + images.tobytes())
    with gzip.open(raw / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, n) + labels.astype(np.uint8).tobytes())


def write_idx_dataset(root: Path, folder: str, n_train: int = 400, n_test: int = 100, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        write_idx(root / folder / "raw", prefix, class_images(labels, 28, 1, rng)[..., 0], labels)


def write_cifar10(root: Path, per_batch: int = 50, seed: int = 0) -> Path:
    """Synthetic CIFAR-10 in the official pickled format (data: uint8 (N, 3072) rows of
    R, G, B planes; labels: list of ints; meta: label_names)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = np.arange(per_batch) % 10
        rng.shuffle(labels)
        data = class_images(labels, 32, 3, rng).transpose(0, 3, 1, 2).reshape(per_batch, -1)
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "labels": labels.tolist(), "data": data,
                         "filenames": [f"{i}.png" for i in range(per_batch)]}, f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog",
                                     "frog", "horse", "ship", "truck"],
                     "num_cases_per_batch": per_batch, "num_vis": 3072}, f, protocol=2)
    return folder


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """A data root with tiny MNIST, Fashion-MNIST (idx.gz) and CIFAR-10 (pickles)."""
    root = tmp_path_factory.mktemp("data")
    write_idx_dataset(root, "MNIST", seed=1)
    write_idx_dataset(root, "FashionMNIST", seed=2)
    write_cifar10(root)
    return root


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    """No downloads, a private extraction cache, and no inherited data root."""
    monkeypatch.setenv("ACGAN_OFFLINE", "1")
    monkeypatch.setenv("ACGAN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.delenv("ACGAN_DATA", raising=False)
    # classifiers trained by tests go to a private folder (and the pinned ones stay unused)
    monkeypatch.setenv("ACGAN_CLASSIFIERS", str(tmp_path_factory.getbasetemp() / "classifiers"))
