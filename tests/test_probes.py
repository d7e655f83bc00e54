"""Known-answer tests of acgan_lib.probes and smoke tests of acgan_lib.plots (CPU, fast)."""
from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure

from acgan_lib import plots, probes
from acgan_lib.config import make_config
from acgan_lib.utils import UserError

torch.set_num_threads(1)


def _gen(model: str = "acgan"):
    from acgan_lib.models import build_models
    from acgan_lib.sample import Generator

    preset = {"acgan": "acgan-mnist", "cgan": "cgan-mnist", "dcgan": "dcgan-mnist"}[model]
    cfg = make_config(preset, iters=2, batch_size=4)
    torch.manual_seed(0)
    G, _ = build_models(cfg, 1, 10)
    return Generator(G.eval(), cfg, list(range(10)), [str(i) for i in range(10)], 1, 0, "<memory>")


@pytest.fixture(scope="module")
def gen():
    return _gen("acgan")


# ----------------------------------------------------------------------------- nearest neighbours
def test_nearest_neighbors_find_planted_copies():
    g = torch.Generator().manual_seed(0)
    train = torch.randint(0, 256, (500, 1, 28, 28), dtype=torch.uint8, generator=g)
    planted = torch.tensor([3, 77, 123, 499])
    queries = (train[planted].float() / 127.5 - 1) + 0.01 * torch.randn(4, 1, 28, 28, generator=g)
    d, idx = probes.nearest_neighbors(queries, train, k=3)
    assert idx[:, 0].tolist() == planted.tolist() and (d[:, 0] < 0.02).all()
    assert (d[:, 0] <= d[:, 1]).all() and (d[:, 1] <= d[:, 2]).all()
    d_ex, idx_ex = probes.nearest_neighbors(queries, train, k=3, candidates=None)   # exhaustive L1
    assert torch.equal(idx_ex, idx) and torch.allclose(d_ex, d, atol=1e-5)
    feats = torch.randn(300, 16, generator=g)
    d2, idx2 = probes.nearest_neighbors(feats[[5, 250]] + 1e-3, feats, metric="l2")
    assert idx2[:, 0].tolist() == [5, 250]
    with pytest.raises(UserError, match="metric"):
        probes.nearest_neighbors(feats, feats, metric="cosine")


def test_nn_distance_report_flags_copies():
    g = torch.Generator().manual_seed(0)
    test_d = 0.3 + 0.05 * torch.rand(1000, generator=g)
    copies = probes.nn_distance_report(torch.zeros(100), test_d)
    fresh = probes.nn_distance_report(0.3 + 0.05 * torch.rand(100, generator=g), test_d)
    assert copies["nn/l1_copy_share"] == 1.0 and copies["nn/l1_median_ratio"] == 0.0
    assert fresh["nn/l1_copy_share"] < 0.1 and fresh["nn/l1_median_ratio"] == pytest.approx(1.0, abs=0.1)


# ----------------------------------------------------------------------------- interpolation
def test_lerp_slerp_endpoints_and_norm():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(100, generator=g), torch.randn(100, generator=g)
    for mode in ("linear", "slerp"):
        path = probes.interpolate_z(z0, z1, 9, mode)
        assert path.shape == (9, 100)
        assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    mid = probes.interpolate_z(a, b, 3, "slerp")[1]
    assert mid.norm().item() == pytest.approx(1.0, abs=1e-5)       # stays on the sphere
    assert probes.interpolate_z(a, b, 3, "linear")[1].norm().item() == pytest.approx(0.5 ** 0.5, abs=1e-6)
    with pytest.raises(UserError):
        probes.interpolate_z(a, b, 3, "cubic")


def test_smoothness_detects_holes():
    a, b = -torch.ones(1, 4, 4), torch.ones(1, 4, 4)
    t = torch.linspace(0, 1, 11).view(-1, 1, 1, 1)
    even = a + (b - a) * t
    s = probes.smoothness(even)
    assert s["jump"] == pytest.approx(1.0, abs=1e-6) and s["cv"] == pytest.approx(0.0, abs=1e-6)
    step = torch.where(t < 0.5, a, b)                      # the whole change in one step: a "hole"
    assert probes.smoothness(step)["jump"] == pytest.approx(10.0)


@pytest.mark.parametrize("model", ["acgan", "cgan"])
def test_class_blend_endpoints(model):
    from acgan_lib.sample import generate

    gn = _gen(model)
    z = torch.randn(gn.cfg.z_dim, generator=torch.Generator().manual_seed(1))
    frames = probes.class_blend(gn, z, 2, 7, 5)
    assert frames.shape == (5, 1, 28, 28)
    ends = generate(gn, torch.tensor([2, 7]), z=z.view(1, -1).repeat(2, 1))
    assert torch.allclose(frames[0], ends[0], atol=1e-5) and torch.allclose(frames[-1], ends[1], atol=1e-5)
    assert not torch.allclose(frames[2], ends[0], atol=1e-3)


def test_interpolation_report_and_unconditional(gen):
    rep = probes.interpolation_report(gen, pairs=2, steps=6)
    assert set(rep) == {f"interp/within_{m}_{s}" for m in ("linear", "slerp") for s in ("jump", "cv")} | \
        {"interp/between_linear_jump", "interp/between_linear_cv"}
    assert all(v >= 1.0 for k, v in rep.items() if k.endswith("jump"))
    paths = probes.interpolations(_gen("dcgan"), pairs=2, steps=4)
    assert paths["between"] is None and paths["within"].shape == (2, 4, 1, 28, 28)
    with pytest.raises(UserError, match="class-conditional"):
        probes.class_blend(_gen("dcgan"), torch.zeros(100), 0, 1, 3)


# ----------------------------------------------------------------------------- fixed z
def test_fixed_z_grid_and_style_consistency(gen):
    grid = probes.fixed_z_grid(gen, n_z=4)
    assert grid.shape == (10, 4, 1, 28, 28)
    # a fake "generator" whose brightness depends on z only: same-z correlation 1, shifted ~0
    g = torch.Generator().manual_seed(0)
    level = torch.rand(64, generator=g) * 2 - 1
    fake = level.view(1, 64, 1, 1, 1).expand(5, 64, 1, 8, 8) + 0.01 * torch.randn(5, 64, 1, 8, 8, generator=g)
    rep = probes.style_consistency(fake.clamp(-1, 1))
    assert rep["fixed_z/brightness_corr_same_z"] > 0.99
    assert abs(rep["fixed_z/brightness_corr_diff_z"]) < 0.4
    assert rep["fixed_z/corr_same_z"] > rep["fixed_z/corr_diff_z"]


# ----------------------------------------------------------------------------- plots
def test_plots_return_figures(gen):
    res = {"resolution/samples_8": 0.3, "resolution/samples_28": 0.9, "resolution/real_8": 0.5,
           "resolution/real_28": 0.99, "acc_vs_msssim/pearson": -0.2, "msssim/train_max": 0.4,
           "msssim/share_below_train_max": 0.5}
    for c in range(10):
        res.update({f"accuracy/class_{c}": 0.8 + c / 100, f"msssim/samples_class_{c}": 0.3 + c / 50,
                    f"msssim/train_class_{c}": 0.35})
    ids = list(range(10))
    imgs = torch.rand(3, 1, 28, 28) * 2 - 1
    rows = [{"strategy": s, "real_percent": p, "test_accuracy": 0.9} for s in ("mixed", "alternating")
            for p in (0.0, 0.1, 100.0)]
    figs = [plots.plot_accuracy_vs_resolution(res), plots.plot_accuracy_vs_resolution([res, res], ["a", "b"]),
            plots.plot_msssim_per_class(res, ids), plots.plot_msssim_per_class(res, ids, kind="scatter"),
            plots.plot_accuracy_vs_diversity(res, ids), plots.plot_nearest_neighbors(imgs, imgs.unsqueeze(1).repeat(1, 2, 1, 1, 1)),
            plots.plot_nn_distances(torch.rand(50), torch.rand(50)),
            plots.plot_interpolation(probes.interpolations(gen, pairs=2, steps=4)["within"]),
            plots.plot_fixed_z_grid(probes.fixed_z_grid(gen, n_z=3), gen.class_names),
            plots.plot_synthetic_table(rows),
            plots.plot_synthetic_table([{**r, "test_accuracy_ci95": [0.88, 0.92]} for r in rows])]
    assert all(isinstance(f, Figure) for f in figs)
