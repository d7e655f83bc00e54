"""Data: offline idx/.gz extraction, CIFAR-10 pickles, one-line errors, device loader."""
import os

import pytest
import torch

from acgan_lib.data import DeviceData, load_dataset, resize, select_classes, to_float, to_uint8
from acgan_lib.utils import UserError
from conftest import SHARED, write_cifar10, write_idx_dataset


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_gz_extracted_and_loaded(data_root, name):
    x, y = load_dataset(name, train=True, root=data_root)
    assert x.dtype == torch.uint8 and x.shape == (400, 1, 28, 28)
    assert y.dtype == torch.int64 and sorted(y.unique().tolist()) == list(range(10))
    xt, _ = load_dataset(name, train=False, root=data_root)
    assert xt.shape == (100, 1, 28, 28)


def test_read_only_root_extracts_to_cache(tmp_path, monkeypatch):
    root = tmp_path / "ro"
    write_idx_dataset(root, "MNIST")
    os.chmod(root / "MNIST" / "raw", 0o555)
    monkeypatch.setenv("ACGAN_CACHE", str(tmp_path / "cache"))
    try:
        if os.access(root / "MNIST" / "raw", os.W_OK):  # running as root: chmod does not bind
            pytest.skip("cannot make a read-only folder as this user")
        x, _ = load_dataset("mnist", root=root)
        assert x.shape[0] == 400 and any((tmp_path / "cache").rglob("train-images-idx3-ubyte"))
    finally:
        os.chmod(root / "MNIST" / "raw", 0o755)


def test_missing_data_offline_names_files(tmp_path):
    with pytest.raises(UserError) as e:
        load_dataset("fashion-mnist", root=tmp_path)
    msg = str(e.value)
    assert "train-images-idx3-ubyte" in msg and str(tmp_path / "FashionMNIST" / "raw") in msg
    assert "\n" not in msg


def test_corrupt_gz_is_a_one_line_error(tmp_path):
    write_idx_dataset(tmp_path, "MNIST")
    gz = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:50])
    with pytest.raises(UserError, match="corrupt"):
        load_dataset("mnist", root=tmp_path)


def test_cifar10_from_synthetic_pickles(data_root):
    x, y = load_dataset("cifar10", train=True, root=data_root, verify_md5=False)
    assert x.shape == (250, 3, 32, 32) and x.dtype == torch.uint8 and len(y) == 250
    xt, yt = load_dataset("cifar10", train=False, root=data_root, verify_md5=False)
    assert xt.shape == (50, 3, 32, 32)
    # the pickled rows are R, G, B planes: check one pixel made it to the right channel
    import pickle
    with open(data_root / "cifar-10-batches-py" / "test_batch", "rb") as f:
        raw = pickle.load(f, encoding="latin1")
    row = raw["data"][0]
    assert int(xt[0, 1, 5, 7]) == int(row[1024 + 5 * 32 + 7]) and int(yt[0]) == raw["labels"][0]


def test_cifar10_md5_checked_by_default(data_root):
    with pytest.raises(UserError, match="md5"):
        load_dataset("cifar10", root=data_root)


def test_cifar10_skip_md5_env(data_root, monkeypatch):
    monkeypatch.setenv("ACGAN_SKIP_MD5", "1")
    x, _ = load_dataset("cifar10", root=data_root)
    assert x.shape[1:] == (3, 32, 32)


def test_cifar10_missing_offline(tmp_path):
    with pytest.raises(UserError, match="cifar10 not found: need data_batch_1..5"):
        load_dataset("cifar10", root=tmp_path)


def test_cifar10_truncated_batch(tmp_path):
    folder = write_cifar10(tmp_path)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(UserError, match="corrupt CIFAR-10"):
        load_dataset("cifar10", root=tmp_path, verify_md5=False)


def test_unknown_dataset():
    with pytest.raises(UserError, match="unknown dataset 'svhn'"):
        load_dataset("svhn")


@pytest.mark.skipif(not (SHARED / "MNIST" / "raw").is_dir(), reason="../shared/datasets not present")
def test_real_mnist_when_available():
    x, y = load_dataset("mnist", train=True, root=SHARED)
    assert x.shape == (60000, 1, 28, 28) and torch.bincount(y).min() > 5000


def test_scaling_round_trip():
    u = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    f = to_float(u)
    assert f.min() == -1 and f.max() == 1
    assert torch.equal(to_uint8(f), u)


def test_resize_shapes():
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    assert resize(x, 32).shape == (2, 1, 32, 32)
    assert resize(x, 8).shape == (2, 1, 8, 8)
    assert resize(x, 64, "nearest").shape == (2, 1, 64, 64)


def test_device_data_batches_are_a_function_of_step():
    x = torch.randint(0, 255, (50, 1, 28, 28), dtype=torch.uint8)
    y = torch.arange(50) % 10
    a, b = DeviceData(x, y, seed=3, image_size=32), DeviceData(x, y, seed=3, image_size=32)
    xb, yb = a.batch(7, 8)
    assert xb.shape == (8, 1, 32, 32) and xb.dtype == torch.float32 and xb.min() >= -1 and xb.max() <= 1
    b.batch(0, 8)  # a different history must not change what step 7 returns
    assert torch.equal(b.batch(7, 8)[0], xb) and torch.equal(b.batch(7, 8)[1], yb)
    # one epoch (6 batches of 8 of 50, drop-last) visits distinct images
    idx = torch.cat([a.indices(s, 8) for s in range(6)])
    assert len(idx.unique()) == 48
    with pytest.raises(UserError, match="larger than the training set"):
        a.indices(0, 51)


def test_select_classes_relabels():
    y = torch.tensor([0, 3, 5, 3, 9, 5])
    x = torch.arange(6).view(6, 1, 1, 1)
    xs, ys = select_classes(x, y, [5, 3])
    assert ys.tolist() == [1, 0, 1, 0] and xs.flatten().tolist() == [1, 2, 3, 5]


# ----------------------------------------------------------------------------- CIFAR-10 safety
class _Boom:
    """Unpickling this would run ``os.system`` (the classic crafted pickle)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("skip", [False, True])
def test_crafted_cifar_pickle_executes_nothing(tmp_path, monkeypatch, skip):
    import pickle
    folder = write_cifar10(tmp_path)
    marker = tmp_path / "pwned"
    with open(folder / "data_batch_2", "wb") as f:
        pickle.dump({"data": _Boom(marker), "labels": [0]}, f, protocol=2)
    if skip:
        monkeypatch.setenv("ACGAN_SKIP_MD5", "1")
    # verified: the hash check stops it before anything is unpickled; skipped: the unpickler does
    want = r"unsafe CIFAR-10 file .*data_batch_2 refused: global" if skip else "matches neither"
    with pytest.raises(UserError, match=want):
        load_dataset("cifar10", root=tmp_path)
    with pytest.raises(UserError, match="unsafe CIFAR-10 file .*data_batch_2 refused: global"):
        load_dataset("cifar10", root=tmp_path, verify_md5=False)
    assert not marker.exists()


def test_cifar_unpickler_refuses_object_arrays(tmp_path):
    import pickle

    import numpy as np
    from acgan_lib.data import read_cifar_pickle
    path = tmp_path / "b"
    with open(path, "wb") as f:
        pickle.dump({"data": np.array([1, "x"], dtype=object), "labels": [0, 1]}, f, protocol=2)
    with pytest.raises(UserError, match="unsafe CIFAR-10 file .* refused"):
        read_cifar_pickle(path)


def test_cifar_python2_pickle_with_bytes_keys(tmp_path):
    """The official files are Python 2 pickles: keys and strings come back as bytes."""
    import pickle

    import numpy as np
    from acgan_lib.data import read_cifar_pickle
    path = tmp_path / "b"
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    with open(path, "wb") as f:
        pickle.dump({b"data": data, b"labels": [3, 8], b"batch_label": b"training batch 1 of 5"}, f, protocol=2)
    got = read_cifar_pickle(path)
    assert set(got) == {"data", "labels", "batch_label"}
    assert got["data"].dtype == np.uint8 and (got["data"] == data).all() and got["labels"] == [3, 8]


def test_cifar_unknown_copy_names_the_file(data_root):
    from acgan_lib.data import identify_cifar10
    with pytest.raises(UserError, match=r"cifar10 file .*data_batch_1 matches neither the official md5 nor"):
        identify_cifar10(data_root / "cifar-10-batches-py")


def test_exact_test_count_unverified_is_zero(data_root, monkeypatch):
    from acgan_lib.data import exact_test_count
    assert exact_test_count("mnist") == 10_000
    monkeypatch.setenv("ACGAN_SKIP_MD5", "1")
    assert exact_test_count("cifar10", data_root) == 0


@pytest.mark.skipif(not (SHARED / "cifar-10-batches-py").is_dir(), reason="../shared/datasets has no CIFAR-10")
def test_real_cifar10_when_available():
    from acgan_lib.data import exact_test_count, identify_cifar10
    assert identify_cifar10(SHARED / "cifar-10-batches-py") == "shared-rebuild"
    assert exact_test_count("cifar10", SHARED) == 1000
    x, y = load_dataset("cifar10", train=True, root=SHARED)
    assert x.shape == (50000, 3, 32, 32) and torch.bincount(y).tolist() == [5000] * 10
    mean = x[:10000].float().div(255).mean((0, 2, 3))
    assert torch.allclose(mean, torch.tensor([0.4914, 0.4822, 0.4465]), atol=0.004)
    xt, yt = load_dataset("cifar10", train=False, root=SHARED)
    assert xt.shape == (10000, 3, 32, 32) and yt[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]


def test_is_available(data_root, tmp_path):
    from acgan_lib.data import is_available
    assert is_available("mnist", data_root) and is_available("cifar10", data_root)
    assert not is_available("fashion-mnist", tmp_path)
