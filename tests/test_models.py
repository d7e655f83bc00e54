"""Every model's output shapes and parameter counts. Expected counts are computed from the
layer tables of the source documents (not read back from the models)."""
import pytest
import torch

from acgan_lib.config import make_config
from acgan_lib.models import build_models, count_params
from acgan_lib.models.acgan import ACGANDiscriminator, ACGANGenerator


def convt(cin, cout, k):  # weight + bias
    return cin * cout * k * k + cout


def conv(cin, cout, k):
    return cin * cout * k * k + cout


def bn(c):
    return 2 * c


def lin(i, o):
    return i * o + o


def acgan_g_count(size, C=3, K=10, z=100):
    if size == 64:   # 004 model 3: 768 -> 384 -> 192 -> 96 -> 48 -> C
        chans, start = [768, 384, 192, 96, 48], 4
    else:            # paper: 384 -> 192 -> 96 -> C
        chans, start = [384, 192, 96], (7 if size == 28 else 4)
    n = lin(z + K, chans[0] * start * start)
    for a, b in zip(chans, chans[1:]):
        n += convt(a, b, 5) + bn(b)
    return n + convt(chans[-1], C, 5)


def acgan_d_count(size, C=3, K=10, heads=1):
    chans = [16, 32, 64, 128, 256, 512]
    n, cin = 0, C
    for i, c in enumerate(chans):
        n += conv(cin, c, 3) + (bn(c) if i else 0)
        cin = c
    final = {28: 4, 32: 4, 64: 8}[size]   # three stride-2 convs
    return n + lin(512 * final * final, 1 + heads * K)


@pytest.mark.parametrize("size,C", [(28, 1), (32, 3), (32, 1), (64, 3)])
def test_acgan_shapes_and_counts(size, C):
    G, D = ACGANGenerator(size, 100, C, 10), ACGANDiscriminator(size, C, 10)
    z, y = torch.randn(4, 100), torch.tensor([0, 3, 5, 9])
    x = G(z, y)
    assert x.shape == (4, C, size, size) and x.abs().max() <= 1
    out = D(x, y)
    assert out["adv"].shape == (4,) and out["cls"].shape == (4, 10)
    assert count_params(G) == acgan_g_count(size, C)
    assert count_params(D) == acgan_d_count(size, C)


def test_paper_cifar_generator_count_is_known_value():
    # 110*6144+6144 + (384*192*25+192+384) + (192*96*25+96+192) + (96*3*25+3)
    assert count_params(ACGANGenerator(32, 100, 3, 10)) == 2_994_051


@pytest.mark.parametrize("aux,heads", [("tac", 2), ("adc", 2), ("ac-real", 1)])
def test_acgan_variant_heads(aux, heads):
    D = ACGANDiscriminator(32, 3, 10, aux=aux)
    out = D(torch.randn(2, 3, 32, 32))
    assert count_params(D) == acgan_d_count(32, 3, heads=heads)
    if aux == "tac":
        assert out["mi"].shape == (2, 10) and out["cls"].shape == (2, 10)
    if aux == "adc":
        assert out["cls"].shape == (2, 20)


def test_dcgan_counts_003():
    cfg = make_config("dcgan-mnist")
    G, D = build_models(cfg, 1, 10)
    assert G(torch.randn(3, 100)).shape == (3, 1, 28, 28)
    assert D(torch.randn(3, 1, 28, 28))["adv"].shape == (3,)
    g = convt(100, 128, 7) + bn(128) + convt(128, 64, 5) + bn(64) + convt(64, 32, 5) + bn(32) + convt(32, 1, 5)
    d = conv(1, 32, 5) + conv(32, 64, 5) + bn(64) + conv(64, 128, 5) + bn(128) + conv(128, 1, 7)
    assert count_params(G) == g and count_params(D) == d


@pytest.mark.parametrize("width", [1.0, 2.0])
def test_cgan_counts_003(width):
    cfg = make_config("cgan-mnist", width=width)
    G, D = build_models(cfg, 1, 10)
    y = torch.tensor([1, 2, 3])
    assert G(torch.randn(3, 100), y).shape == (3, 1, 28, 28)
    assert D(torch.randn(3, 1, 28, 28), y)["adv"].shape == (3,)
    a, b = int(64 * width), int(32 * width)
    g = convt(110, a, 7) + bn(a) + convt(a, b, 5) + bn(b) + convt(b, 1, 5)
    c1, c2 = int(32 * width), int(64 * width)
    d = conv(11, c1, 5) + conv(c1, c2, 5) + bn(c2) + conv(c2, 1, 7)
    assert count_params(G) == g and count_params(D) == d


@pytest.mark.parametrize("kernel, extra", [(4, False), (5, True), (3, True)])
def test_cgan_table1_variants_003(kernel, extra):
    """003 Table 1's "filter size of 4x4" and "Extra layer" rows: 28 px out, and the counts of
    the layer table (stride-2 layers k x k; the extra layers: G 16, D 128 filters at stride 1)."""
    cfg = make_config("cgan-mnist", kernel=kernel, extra_layer=extra, real_label=0.9)
    G, D = build_models(cfg, 1, 10)
    y = torch.tensor([1, 2, 3])
    assert G(torch.randn(3, 100), y).shape == (3, 1, 28, 28)
    assert D(torch.randn(3, 1, 28, 28), y)["adv"].shape == (3,)
    k = kernel
    g = convt(110, 64, 7) + bn(64) + convt(64, 32, k) + bn(32)
    g += convt(32, 16, k) + bn(16) + convt(16, 1, k) if extra else convt(32, 1, k)
    d = conv(11, 32, k) + conv(32, 64, k) + bn(64)
    d += conv(64, 128, k) + bn(128) + conv(128, 1, 7) if extra else conv(64, 1, 7)
    assert count_params(G) == g and count_params(D) == d


def test_cgan_base_is_unchanged_by_the_variant_options():
    """The default kernel and no extra layer build 003's base model, weight for weight."""
    torch.manual_seed(0)
    a = build_models(make_config("cgan-mnist"), 1, 10)
    torch.manual_seed(0)
    b = build_models(make_config("cgan-mnist", kernel=5, extra_layer=False), 1, 10)
    for m, n in zip(a, b):
        assert all(torch.equal(p, q) for p, q in zip(m.state_dict().values(), n.state_dict().values()))


def test_cgan_d_uses_the_label():
    torch.manual_seed(0)
    G, D = build_models(make_config("cgan-mnist"), 1, 10)
    D.eval()
    x = torch.randn(2, 1, 28, 28)
    assert not torch.allclose(D(x, torch.tensor([0, 0]))["adv"], D(x, torch.tensor([7, 7]))["adv"])


def test_init_is_paper_init():
    G = ACGANGenerator(32)
    w = G.net[0].weight
    assert abs(w.std().item() - 0.02) < 0.002 and abs(w.mean().item()) < 0.002
    bnl = G.net[1]
    assert torch.all(bnl.weight == 1) and torch.all(bnl.bias == 0)


def test_activation_noise_only_in_training():
    D = ACGANDiscriminator(32, 3, 10, noise_std=0.5, dropout=0.0)
    x = torch.randn(2, 3, 32, 32)
    D.eval()
    assert torch.equal(D(x)["adv"], D(x)["adv"])
    D.train()
    assert not torch.equal(D(x)["adv"], D(x)["adv"])
