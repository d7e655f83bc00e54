"""The evaluation classifiers: resumable training, pinned (committed) weights checked by
sha256, and -- when ../shared has the data -- the committed files' recorded accuracies."""
from __future__ import annotations

import json

import pytest
import torch

from acgan_lib.data import exact_test_count, load_dataset
from acgan_lib.metrics import classifiers as C
from acgan_lib.utils import UserError
from conftest import SHARED
from test_metrics import fake_mnist, pattern_images  # noqa: F401 (fixtures)


def _train_data(n=300, seed=1):
    y = torch.arange(n) % 10
    return pattern_images(y, seed), y


def test_fit_resumes_bit_exact(tmp_path, monkeypatch):
    """A run stopped after its first epoch and resumed from the per-epoch checkpoint ends
    with exactly the weights of an uninterrupted run (same batches, same schedule)."""
    x, y = _train_data()
    sets = [(x, y)] * 2

    def fresh():
        torch.manual_seed(0)
        return C.build_classifier("lenet", "mnist")

    full = fresh()
    C.fit(full, sets, "lenet", seed=3, checkpoint=tmp_path / "a.ckpt", log=tmp_path / "a.csv")
    real_save, calls = C.atomic_torch_save, []

    def save_then_stop(obj, path):
        real_save(obj, path)
        calls.append(path)
        raise KeyboardInterrupt

    monkeypatch.setattr(C, "atomic_torch_save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        C.fit(fresh(), sets, "lenet", seed=3, checkpoint=tmp_path / "b.ckpt", log=tmp_path / "b.csv")
    monkeypatch.setattr(C, "atomic_torch_save", real_save)
    resumed = fresh()
    C.fit(resumed, sets, "lenet", seed=3, checkpoint=tmp_path / "b.ckpt", log=tmp_path / "b.csv")
    assert len(calls) == 1
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    rows = (tmp_path / "b.csv").read_text().splitlines()
    assert rows[0] == "epoch,train_loss,train_accuracy,lr,seconds" and len(rows) == 3


def test_training_meta_reports_both_test_sets():
    x, y = _train_data()
    xt, yt = _train_data(100, seed=2)
    _, meta = C.train_classifier("mnist", epochs=1, train_data=(x, y), test_data=(xt, yt), device="cpu",
                                 progress=False, val_size=30)
    lo, hi = meta["test_accuracy_ci95"]
    assert meta["n_test"] == meta["n_test_exact"] == 100 and lo <= meta["test_accuracy"] <= hi
    assert meta["test_accuracy_exact"] == meta["test_accuracy"] and meta["precision"] == "fp32"


def test_wilson_interval_known_answer():
    lo, hi = C.wilson_interval(92, 100)
    assert lo == pytest.approx(0.8500, abs=1e-4) and hi == pytest.approx(0.9589, abs=1e-4)
    assert C.wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)


@pytest.fixture
def pinned_dir(tmp_path, monkeypatch):
    """The library's pinned-classifier table redirected into a scratch folder."""
    monkeypatch.setattr(C, "WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setattr(C, "PINNED", tmp_path / "weights" / "pinned.json")
    return tmp_path


def test_pinned_classifier_used_and_checked(pinned_dir, monkeypatch, fake_mnist):  # noqa: F811
    x, y = _train_data()
    src = pinned_dir / "trained" / "mnist-lenet.pt"
    model, _ = C.train_classifier("mnist", epochs=1, train_data=(x, y), test_data=(x[:50], y[:50]), device="cpu",
                                  progress=False, val_size=30, out=src)
    entry = C.pin_classifier(src, "python -m acgan_lib classifier --dataset mnist --out X", data_root=fake_mnist[0])
    assert 1.0 <= entry["classifier_score_test"][0] <= 10.0 and len(entry["classifier_score_train"]) == 2
    assert entry["sha256"] == C.sha256_file(src) and json.loads(C.PINNED.read_text())["mnist"]["file"] == src.name
    assert (C.WEIGHTS_DIR / "mnist-lenet.json").exists()
    res = entry["resolution_real"]  # the instrument's real-data curve (all test images are exact here)
    assert res["sizes"] == [8, 16, 28, 64] and set(res) == {"sizes", "n_test", "n_test_exact", "all"}
    assert all(0.0 <= res["all"][str(s)] <= 1.0 for s in res["sizes"])
    lo, hi = res["all"]["share_classes_higher_at_native.ci95"]
    assert 0.0 <= lo <= res["all"]["share_classes_higher_at_native"] <= hi <= 1.0
    monkeypatch.delenv("ACGAN_CLASSIFIERS")  # the pinned file is used unless a folder of one's own is set
    got, meta = C.get_classifier("mnist", "cpu", train=False)
    assert meta["path"] == str(C.WEIGHTS_DIR / "mnist-lenet.pt")
    for a, b in zip(model.state_dict().values(), got.state_dict().values()):
        assert torch.equal(a.cpu(), b)
    with open(C.WEIGHTS_DIR / "mnist-lenet.pt", "ab") as f:  # tampered or corrupted
        f.write(b"\0")
    with pytest.raises(UserError, match="pinned mnist classifier .* does not match its sha256"):
        C.get_classifier("mnist", "cpu", train=False)
    monkeypatch.setattr(C, "classifier_dir", lambda: pinned_dir / "mine")
    with pytest.raises(UserError, match="no evaluation classifier for mnist"):  # retrain: never the pinned file
        C.get_classifier("mnist", "cpu", train=False, retrain=True)


def test_real_data_curve_reports_the_exact_subset_apart(fake_mnist, monkeypatch):  # noqa: F811
    """With fewer exact test images than test images (CIFAR-10's shared copy) the curve is
    given on all images and on the exact ones."""
    x, y = _train_data()
    model, _ = C.train_classifier("mnist", epochs=1, train_data=(x, y), test_data=(x[:50], y[:50]), device="cpu",
                                  progress=False, val_size=30)
    monkeypatch.setattr(C, "exact_test_count", lambda dataset, root=None: 40)
    res = C.real_data_resolution(model, "mnist", fake_mnist[0])
    assert res["n_test_exact"] == 40 and set(res["exact"]) == set(res["all"])
    from acgan_lib.data import load_dataset, to_float
    xt, yt = load_dataset("mnist", False, fake_mnist[0])
    direct = (C.classify(model, to_float(xt))[0].argmax(1).cpu() == yt).float()
    assert res["all"]["28"] == pytest.approx(direct.mean().item())  # native size: no resizing at all
    assert res["exact"]["28"] == pytest.approx(direct[:40].mean().item())


def test_pin_without_the_dataset_copies_nothing(pinned_dir, tmp_path):
    x, y = _train_data()
    src = pinned_dir / "trained" / "mnist-lenet.pt"
    C.train_classifier("mnist", epochs=1, train_data=(x, y), test_data=(x[:50], y[:50]), device="cpu",
                       progress=False, val_size=30, out=src)
    with pytest.raises(UserError, match="mnist not found"):
        C.pin_classifier(src, "cmd", data_root=tmp_path / "no-data")
    assert not C.WEIGHTS_DIR.exists() or not any(C.WEIGHTS_DIR.iterdir())


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist", "cifar10"])
def test_committed_classifier_matches_its_record(dataset, monkeypatch):
    """The committed evaluator: its sha256, and its accuracy on all test images and on the
    pixel-exact ones, recomputed, equal the recorded values (seconds on CPU)."""
    entry = C.pinned().get(dataset)
    if entry is None:
        pytest.skip(f"no pinned {dataset} classifier committed yet")
    folder = SHARED / ("cifar-10-batches-py" if dataset == "cifar10" else
                       {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}[dataset])
    if not folder.is_dir():
        pytest.skip(f"../shared has no {dataset}")
    path = C.WEIGHTS_DIR / entry["file"]
    assert C.sha256_file(path) == entry["sha256"]
    model, meta = C.load_classifier(path, "cpu")
    xt, yt = load_dataset(dataset, train=False, root=SHARED)
    n_exact = exact_test_count(dataset, SHARED)
    assert n_exact == entry["n_test_exact"]
    tol = 1.5 / len(yt)  # one image either way (float summation order between machines)
    assert C.accuracy_of(model, xt, yt) == pytest.approx(entry["test_accuracy"], abs=tol)
    assert C.accuracy_of(model, xt[:n_exact], yt[:n_exact]) == pytest.approx(entry["test_accuracy_exact"],
                                                                             abs=1.5 / n_exact)
    score = C.real_data_scores(model, dataset, SHARED, splits=("test",))["classifier_score_test"]
    assert score[0] == pytest.approx(entry["classifier_score_test"][0], abs=0.01)
