"""AC-BigGAN (acgan_lib/models/biggan.py), its presets and the auxiliary-classifier losses.

Self-contained: a tiny synthetic Fashion-MNIST is written in torchvision's idx layout into a
temporary folder, so nothing here depends on ``../shared`` or on conftest fixtures.
"""
from __future__ import annotations

import dataclasses
import gzip
import math
import struct

import numpy as np
import pytest
import torch
from torch import nn

from acgan_lib import losses
from acgan_lib.config import PRESETS, make_config
from acgan_lib.models import build_models, count_params
from acgan_lib.models.biggan import (BigGANDiscriminator, BigGANGenerator, ConditionalBatchNorm2d,
                                     diff_augment, z_chunks)
from acgan_lib.train import Trainer, train

AUX = ("ac", "ac-real", "tac", "adc", "d2d")
FMNIST_PRESETS = [n for n in PRESETS if n.startswith("acbiggan-fmnist")]


@pytest.fixture(autouse=True, scope="module")
def _few_threads():
    """Keep CPU use modest (another training process may be running)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _write_fashion_mnist(root, n_train: int = 40, n_test: int = 10, seed: int = 0) -> None:
    """Synthetic Fashion-MNIST: gzipped idx files in ``root/FashionMNIST/raw`` (torchvision)."""
    rng = np.random.default_rng(seed)
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        with gzip.open(raw / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        with gzip.open(raw / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 2049, n) + labels.tobytes())


@pytest.fixture(scope="module")
def fmnist_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fmnist")
    _write_fashion_mnist(root)
    return root


def _tiny(preset: str, root, **kw):
    args = dict(iters=2, batch_size=4, g_ch=8, d_ch=8, data_root=str(root), log_every=1,
                sample_every=1000, ckpt_every=1000, device="cpu")
    args.update(kw)
    return make_config(preset, **args)


# --------------------------------------------------------------------------- architecture
# (G, D) parameter counts at the Config defaults g_ch = d_ch = 64, z_dim 100, shared_dim 128,
# embed_dim 512, K = 10, no spectral norm (D has batch norm). G: 4 ch = 256 channels;
# e.g. G(3 channels) = 1,280 (shared embedding) + 106,496 (linear 25 -> 4x4x256)
# + 3 x 1,402,624 (blocks) + 512 (output BN) + 6,915 (output conv) = 4,323,075.
PARAMS_64 = {
    (1, "ac"): (4318465, 4205825), (1, "ac-real"): (4318465, 4205825), (1, "tac"): (4318465, 4208385),
    (1, "adc"): (4318465, 4208385), (1, "d2d"): (4318465, 4339969),
    (3, "ac"): (4323075, 4210945), (3, "ac-real"): (4323075, 4210945), (3, "tac"): (4323075, 4213505),
    (3, "adc"): (4323075, 4213505), (3, "d2d"): (4323075, 4345089),
}


@pytest.mark.parametrize("channels,aux", sorted(PARAMS_64))
def test_parameter_counts_default_width(channels, aux):
    cfg = make_config("acbiggan-fmnist", g_ch=64, d_ch=64, z_dim=100, aux_loss=aux)
    G, D = build_models(cfg, channels, 10)
    assert (count_params(G), count_params(D)) == PARAMS_64[(channels, aux)]


def test_parameter_counts_presets():
    # 002's widths: G 384 channels (g_ch 96), D 192 channels (d_ch 48), z 80
    G, D = build_models(make_config("acbiggan-cifar10"), 3, 10)
    assert (count_params(G), count_params(D)) == (9231875, 2371777)
    G, D = build_models(make_config("acbiggan-fmnist"), 1, 10)
    assert (count_params(G), count_params(D)) == (9224961, 2367937)
    _, D = build_models(make_config("acbiggan-fmnist-sn"), 1, 10)      # SN replaces D's BN
    assert count_params(D) == 2365249
    _, D = build_models(make_config("acbiggan-fmnist-d2d"), 1, 10)
    assert count_params(D) == 2469953


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("aux", AUX)
def test_shapes(channels, aux):
    torch.manual_seed(0)
    K, N, E = 10, 3, 16
    G = BigGANGenerator(z_dim=20, channels=channels, num_classes=K, ch=4, shared_dim=8)
    D = BigGANDiscriminator(channels, K, ch=4, aux=aux, embed_dim=E)
    z, y = torch.randn(N, 20), torch.tensor([0, 3, 9])
    x = G(z, y)
    assert x.shape == (N, channels, 32, 32)
    assert x.abs().max() <= 1.0
    out = D(x, y)
    assert out["adv"].shape == (N,)
    want = {"ac": {"adv", "cls"}, "ac-real": {"adv", "cls"}, "tac": {"adv", "cls", "mi"},
            "adc": {"adv", "cls"}, "d2d": {"adv", "embed", "proxy", "proxies"}}[aux]
    assert set(out) == want
    if aux == "adc":
        assert out["cls"].shape == (N, 2 * K)
    elif aux == "d2d":
        assert out["embed"].shape == (N, E) and out["proxy"].shape == (N, E)
        assert out["proxies"].shape == (K, E)
        assert torch.equal(out["proxy"], out["proxies"][y])
        assert "proxy" not in D(x)            # y only picks the proxy
    else:
        assert out["cls"].shape == (N, K)
        if aux == "tac":
            assert out["mi"].shape == (N, K)
    # every head is trainable end to end
    loss = sum(v.float().pow(2).mean() for v in out.values())
    loss.backward()
    assert all(p.grad is not None for p in G.parameters())


def test_z_chunks_and_orthogonal_init():
    assert z_chunks(100) == [25, 25, 25, 25]
    assert z_chunks(80) == [20, 20, 20, 20]
    assert z_chunks(30) == [9, 7, 7, 7]
    G = BigGANGenerator(z_dim=100, channels=1, ch=8, shared_dim=16)
    W = G.blocks[0].conv1.weight.detach().flatten(1)              # (32, 288): orthonormal rows
    assert torch.allclose(W @ W.t(), torch.eye(W.shape[0]), atol=1e-5)
    assert torch.count_nonzero(G.blocks[0].conv1.bias) == 0


def test_conditional_bn_uses_the_class():
    torch.manual_seed(0)
    G = BigGANGenerator(z_dim=20, channels=1, num_classes=10, ch=4, shared_dim=8).eval()
    z = torch.randn(4, 20)
    y0, y1 = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    with torch.no_grad():
        assert not torch.allclose(G(z, y0), G(z, y1), atol=1e-4)    # same z, other class
        _, c0 = G.conditions(z, y0)
        _, c1 = G.conditions(z, y1)
        for block, a, b in zip(G.blocks, c0, c1):
            assert isinstance(block.bn1, ConditionalBatchNorm2d)
            g0, b0 = block.bn1.gain_bias(a)
            g1, b1 = block.bn1.gain_bias(b)
            assert not torch.allclose(g0, g1) and not torch.allclose(b0, b1)
        # hierarchical z: block 2's chunk reaches the output
        z2 = z.clone()
        z2[:, 15:] += 1.0
        assert not torch.allclose(G(z, y0), G(z2, y0), atol=1e-4)


def test_spectral_norm_option():
    torch.manual_seed(0)
    G = BigGANGenerator(z_dim=20, channels=3, ch=4, shared_dim=8, spectral_norm=True)
    D = BigGANDiscriminator(3, 10, ch=4, aux="d2d", spectral_norm=True, embed_dim=16)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())         # SN replaces D's BN
    assert any(isinstance(m, nn.BatchNorm2d) for m in BigGANDiscriminator(3, 10, ch=4).modules())
    layers = [m for net in (G, D) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(hasattr(m, "parametrizations") and "weight" in m.parametrizations for m in layers)
    with torch.no_grad():
        for m in layers:
            m.parametrizations.weight.original.mul_(7.0)
        x = G(torch.randn(4, 20), torch.arange(4))                              # train-mode power steps
        D(x, torch.arange(4))
        for m in layers:
            raw = torch.linalg.matrix_norm(m.parametrizations.weight.original.flatten(1), ord=2)
            sigma = torch.linalg.matrix_norm(m.weight.flatten(1), ord=2)
            assert raw > 5.0
            assert sigma == pytest.approx(1.0, abs=0.02)


# --------------------------------------------------------------------------- DiffAugment
def test_diff_augment_shape_determinism_and_gradient():
    x = torch.rand(6, 3, 32, 32) * 2 - 1
    policy = "color,translation,cutout"
    torch.manual_seed(123)
    a = diff_augment(x, policy)
    torch.manual_seed(123)
    b = diff_augment(x, policy)
    torch.manual_seed(124)
    c = diff_augment(x, policy)
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(diff_augment(x, ""), x)
    xg = x.clone().requires_grad_(True)
    diff_augment(xg, policy).sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        diff_augment(x, "rotate")


def test_diff_augment_translation_and_cutout():
    torch.manual_seed(0)
    ones = torch.ones(64, 1, 32, 32)
    t = diff_augment(ones, "translation")
    assert set(t.unique().tolist()) <= {0.0, 1.0}
    assert (t[:, :, 4:28, 4:28] == 1).all()                  # shifts of at most 32/8 = 4 px
    assert (t == 0).any()
    cut = diff_augment(ones, "cutout")
    frac = (cut == 0).float().mean(dim=(1, 2, 3))
    assert (frac > 0).all() and (frac <= 0.25 + 1e-6).all()   # one 16x16 square, maybe clipped
    # colour: brightness shift is one value per image
    torch.manual_seed(1)
    col = diff_augment(torch.zeros(4, 1, 8, 8), "color")
    assert torch.allclose(col, col[:, :, :1, :1].expand_as(col))


# --------------------------------------------------------------------------- losses by hand
def _ce(logits, y, eps=0.0):
    """Label-smoothed softmax cross-entropy, mean over the batch (numpy)."""
    logits = np.asarray(logits, dtype=np.float64)
    logp = logits - logits.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    k = logits.shape[1]
    target = np.full(logits.shape, eps / k)
    target[np.arange(len(y)), y] += 1.0 - eps
    return float(-(target * logp).sum(1).mean())


class _Cfg:
    def __init__(self, aux, **kw):
        self.aux_loss, self.cls_smoothing = aux, 0.1
        self.cls_real_weight, self.cls_fake_weight, self.g_cls_weight = 2.0, 0.5, 1.5
        self.d2d_temperature, self.d2d_margin_pos, self.d2d_margin_neg = 0.5, 0.98, 0.02
        self.adv_loss, self.g_loss, self.real_label, self.d_loss_scale = "hinge", "ns", 1.0, 0.5
        self.__dict__.update(kw)


C_R = [[2.0, -1.0, 0.5, 0.0, 1.0, -0.5], [0.1, 0.2, -0.3, 1.5, 0.0, 0.3]]
C_F = [[-1.0, 0.5, 2.0, 0.2, -0.2, 0.0], [1.0, 1.0, 0.0, -2.0, 0.5, 0.5]]
MI_F = [[0.3, -0.7, 1.1], [2.0, 0.0, -1.0]]
Y_R, Y_F = [0, 2], [2, 1]


def _t(a):
    return torch.tensor(a, dtype=torch.float32)


@pytest.mark.parametrize("aux", ["ac", "ac-real", "tac", "adc"])
def test_classifier_losses_match_formulas(aux):
    cfg = _Cfg(aux)
    sm, wr, wf, wg = 0.1, 2.0, 0.5, 1.5
    yr, yf = torch.tensor(Y_R), torch.tensor(Y_F)
    if aux == "adc":                         # K = 3: logits 0..2 real classes, 3..5 fake classes
        cr, cf = C_R, C_F
    else:                                    # K = 6 for ac / ac-real, K = 3 (+ twin) for tac
        cr, cf = (C_R, C_F) if aux != "tac" else ([r[:3] for r in C_R], [r[:3] for r in C_F])
    s_r, s_f = [0.5, 2.0], [-0.3, 1.2]
    out_r = {"adv": _t(s_r), "cls": _t(cr), "mi": _t(MI_F)}
    out_f = {"adv": _t(s_f), "cls": _t(cf), "mi": _t(MI_F)}
    real = _ce(cr, Y_R, sm)
    if aux == "ac":
        d_aux, g_aux = wr * real + wf * _ce(cf, Y_F, sm), wg * _ce(cf, Y_F, sm)
    elif aux == "ac-real":
        d_aux, g_aux = wr * real, wg * _ce(cf, Y_F, sm)
    elif aux == "tac":
        d_aux = wr * real + wf * _ce(MI_F, Y_F, sm)
        g_aux = wg * (_ce(cf, Y_F, sm) - _ce(MI_F, Y_F, sm))
    else:
        yk = [y + 3 for y in Y_F]
        d_aux = wr * real + wf * _ce(cf, yk, sm)
        g_aux = wg * (_ce(cf, Y_F, sm) - _ce(cf, yk, sm))
    assert losses.d_aux_loss(cfg, out_r, out_f, yr, yf).item() == pytest.approx(d_aux, rel=1e-5)
    assert losses.g_aux_loss(cfg, out_f, yf).item() == pytest.approx(g_aux, rel=1e-5)
    # totals with the hinge adversarial loss (BigGAN / 002)
    hinge_d = np.mean(np.maximum(0, 1 - np.array(s_r))) + np.mean(np.maximum(0, 1 + np.array(s_f)))
    assert losses.d_loss(cfg, out_r, out_f, yr, yf).item() == pytest.approx(0.5 * (hinge_d + d_aux), rel=1e-5)
    assert losses.g_loss(cfg, out_f, yf).item() == pytest.approx(-np.mean(s_f) + g_aux, rel=1e-5)


def test_d2d_ce_by_hand():
    """ReACGAN Eq. 7 on three 2-D embeddings, labels (0, 1, 1), proxies e_x (class 0), e_y (class 1).

    f0 = (1, 0), f1 = (0, 1), f2 = (1, 1)/sqrt(2); tau 0.5, m_p 0.98, m_n 0.02; s = 1/sqrt(2).
    * i=0: positive f0.v0 = 1 -> [1 - 0.98]_- = 0; negatives j=1: [0 - 0.02]_+ = 0,
      j=2: (s - 0.02)/tau.  loss0 = log(1 + e^0 + e^((s-0.02)/tau))
    * i=1: positive f1.v1 = 1 -> 0; negatives j=0: 0 (j=2 same class: removed).  loss1 = log 2
    * i=2: positive p = (s - 0.98)/tau; negative j=0: (s - 0.02)/tau.
      loss2 = -p + log(e^p + e^((s-0.02)/tau))
    """
    s, tau = 1 / math.sqrt(2), 0.5
    n = (s - 0.02) / tau
    p = (s - 0.98) / tau
    want = (math.log(2 + math.exp(n)) + math.log(2) + (-p + math.log(math.exp(p) + math.exp(n)))) / 3
    embed = torch.tensor([[3.0, 0.0], [0.0, 0.5], [2.0, 2.0]])           # not normalised on purpose
    proxies = torch.tensor([[2.0, 0.0], [0.0, 4.0]])
    y = torch.tensor([0, 1, 1])
    got = losses.d2d_ce(embed, proxies[y], y, tau, 0.98, 0.02)
    assert got.item() == pytest.approx(want, rel=1e-6)
    # through the aux-loss dispatch: D on real images (weight cls_real_weight), G on fakes
    cfg = _Cfg("d2d", cls_real_weight=0.5, g_cls_weight=0.25)
    out = {"adv": torch.zeros(3), "embed": embed, "proxy": proxies[y], "proxies": proxies}
    junk = {"adv": torch.zeros(3), "embed": torch.randn(3, 2), "proxy": torch.randn(3, 2), "proxies": proxies}
    assert losses.d_aux_loss(cfg, out, junk, y, y).item() == pytest.approx(0.5 * want, rel=1e-6)
    assert losses.g_aux_loss(cfg, out, y).item() == pytest.approx(0.25 * want, rel=1e-6)
    # the default negative margin is ReACGAN's 1 - m_p
    assert make_config("acbiggan-fmnist").d2d_margin_neg == pytest.approx(0.02)


# --------------------------------------------------------------------------- presets and training
def test_presets():
    assert {"acbiggan-cifar10", "acbiggan-fmnist", "acbiggan-fmnist-acreal", "acbiggan-fmnist-tac",
            "acbiggan-fmnist-adc", "acbiggan-fmnist-d2d", "acbiggan-fmnist-sn",
            "acbiggan-fmnist-diffaug"} <= set(PRESETS)
    base = make_config("acbiggan-fmnist")
    assert (base.model, base.adv_loss, base.aux_loss, base.noise, base.image_size) == \
        ("acbiggan", "hinge", "ac", "0", 32)
    assert base.cls_smoothing == 0.1 and base.ema > 0 and base.iters == 80 * (60000 // 128)
    assert make_config("acbiggan-cifar10").dataset == "cifar10"
    for name in FMNIST_PRESETS:
        cfg = make_config(name)
        assert cfg.dataset == "fashion-mnist" and PRESETS[name]["source"]
        diff = {k for k, v in cfg.to_dict().items() if v != getattr(base, k) and k != "preset"}
        assert diff <= {"aux_loss", "spectral_norm", "diffaug", "cls_real_weight", "g_cls_weight",
                        "d2d_margin_neg", "d2d_margin_pos", "d2d_temperature", "embed_dim"}, (name, diff)


def test_ema_update_after_one_step(fmnist_root, tmp_path):
    cfg = _tiny("acbiggan-fmnist", fmnist_root, ema=0.9, ema_start=0)
    tr = Trainer(cfg, tmp_path / "run")
    old = [p.detach().clone() for p in tr.G.parameters()]
    assert all(torch.equal(e, p) for e, p in zip(tr.G_ema.parameters(), old))
    tr.iteration(0)
    new = [p.detach().clone() for p in tr.G.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(old, new))
    for e, o, n in zip(tr.G_ema.parameters(), old, new):
        torch.testing.assert_close(e, 0.9 * o + 0.1 * n, rtol=1e-5, atol=1e-7)
    for be, b in zip(tr.G_ema.buffers(), tr.G.buffers()):   # BN statistics are copied
        assert torch.equal(be, b)
    # second step: EMA of the EMA
    ema1 = [e.detach().clone() for e in tr.G_ema.parameters()]
    tr.iteration(1)
    for e, o, n in zip(tr.G_ema.parameters(), ema1, tr.G.parameters()):
        torch.testing.assert_close(e, 0.9 * o + 0.1 * n.detach(), rtol=1e-5, atol=1e-7)
    # before ema_start the copy just follows G
    tr.cfg = dataclasses.replace(cfg, ema_start=10)
    tr._update_ema(2)
    assert all(torch.equal(e, p) for e, p in zip(tr.G_ema.parameters(), tr.G.parameters()))


@pytest.mark.parametrize("preset", FMNIST_PRESETS)
def test_short_run_of_every_variant(preset, fmnist_root, tmp_path):
    out = train(_tiny(preset, fmnist_root), tmp_path / preset, progress=False)
    assert (out / "final.pt").exists() and (out / "log.csv").exists()
    st = torch.load(out / "final.pt", map_location="cpu", weights_only=False)
    assert st["step"] == 2 and st["G_ema"] is not None
    assert st["config"]["aux_loss"] == make_config(preset).aux_loss


def test_cifar10_preset_builds_and_steps():
    """3-channel model of acbiggan-cifar10 at a small width: one D and one G update."""
    torch.manual_seed(0)
    cfg = make_config("acbiggan-cifar10", g_ch=4, d_ch=4)
    G, D = build_models(cfg, 3, 10)
    z, y = torch.randn(4, cfg.z_dim), torch.randint(0, 10, (4,))
    x_real = torch.rand(4, 3, 32, 32) * 2 - 1
    loss_d = losses.d_loss(cfg, D(x_real, y), D(G(z, y).detach(), y), y, y)
    loss_d.backward()
    loss_g = losses.g_loss(cfg, D(G(z, y), y), y)
    loss_g.backward()
    assert torch.isfinite(loss_d) and torch.isfinite(loss_g)
