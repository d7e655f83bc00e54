"""Loss definitions (paper Sec. 3, 004 Algorithm 1) on hand-made logits with known answers."""
import math

import pytest
import torch

from acgan_lib import losses
from acgan_lib.config import make_config

LOG2 = math.log(2.0)


def sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def test_bce_d_loss_at_zero_logits_is_2_log2():
    z = torch.zeros(5)
    assert losses.d_adv_loss(z, z).item() == pytest.approx(2 * LOG2)


def test_bce_d_loss_values_and_one_sided_smoothing():
    sr, sf = torch.tensor([2.0]), torch.tensor([-1.0])
    want = -math.log(sig(2.0)) - math.log(1 - sig(-1.0))
    assert losses.d_adv_loss(sr, sf).item() == pytest.approx(want, rel=1e-6)
    # one-sided: real target 0.9, fake target stays 0
    want_s = -(0.9 * math.log(sig(2.0)) + 0.1 * math.log(1 - sig(2.0))) - math.log(1 - sig(-1.0))
    assert losses.d_adv_loss(sr, sf, real_label=0.9).item() == pytest.approx(want_s, rel=1e-6)


def test_generator_losses():
    sf = torch.tensor([0.5, -0.5])
    ns = -(math.log(sig(0.5)) + math.log(sig(-0.5))) / 2
    assert losses.g_adv_loss(sf).item() == pytest.approx(ns, rel=1e-6)
    mm = (math.log(1 - sig(0.5)) + math.log(1 - sig(-0.5))) / 2
    assert losses.g_adv_loss(sf, g_loss="minimax").item() == pytest.approx(mm, rel=1e-6)
    assert losses.g_adv_loss(sf, kind="hinge").item() == pytest.approx(0.0)


def test_hinge_d_loss():
    sr, sf = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    # mean(relu(1 - sr)) = (0 + 0.5)/2, mean(relu(1 + sf)) = (0 + 1)/2
    assert losses.d_adv_loss(sr, sf, "hinge").item() == pytest.approx(0.75)


def _ce(logits, y):
    return -math.log(math.exp(logits[y]) / sum(math.exp(v) for v in logits))


def test_acgan_d_and_g_losses_match_algorithm_1():
    cfg = make_config("acgan-cifar10-004")  # d_loss_scale 0.5, real class x2, fake class x1
    cr, cf = [2.0, 0.0, -1.0], [0.0, 1.0, 0.0]
    out_r = {"adv": torch.tensor([1.0]), "cls": torch.tensor([cr])}
    out_f = {"adv": torch.tensor([-1.0]), "cls": torch.tensor([cf])}
    yr, yf = torch.tensor([0]), torch.tensor([2])
    adv = -math.log(sig(1.0)) - math.log(1 - sig(-1.0))
    want_d = 0.5 * (adv + 2 * _ce(cr, 0) + 1 * _ce(cf, 2))
    assert losses.d_loss(cfg, out_r, out_f, yr, yf).item() == pytest.approx(want_d, rel=1e-6)
    want_g = -math.log(sig(-1.0)) + _ce(cf, 2)
    assert losses.g_loss(cfg, out_f, yf).item() == pytest.approx(want_g, rel=1e-6)


def test_paper_objective_equal_weights_and_g_class_weight():
    cfg = make_config("acgan-cifar10", g_cls_weight=3.0)
    out_f = {"adv": torch.tensor([0.0]), "cls": torch.tensor([[0.0, 0.0]])}
    y = torch.tensor([1])
    assert losses.g_loss(cfg, out_f, y).item() == pytest.approx(LOG2 + 3 * LOG2, rel=1e-6)


def test_gan_without_classifier_has_no_class_term():
    cfg = make_config("dcgan-mnist")
    out = {"adv": torch.tensor([0.0])}
    assert losses.d_loss(cfg, out, out, None, None).item() == pytest.approx(2 * LOG2)
    accs = losses.d_accuracies({"adv": torch.tensor([1.0, -1.0])}, {"adv": torch.tensor([-1.0, -1.0])},
                               None, None, "none")
    assert accs["d_src_acc_real"].item() == 0.5 and accs["d_src_acc_fake"].item() == 1.0
    assert "d_cls_acc_real" not in accs


def test_class_accuracies():
    out_r = {"adv": torch.tensor([1.0, 1.0]), "cls": torch.tensor([[3.0, 0.0], [3.0, 0.0]])}
    out_f = {"adv": torch.tensor([1.0, -1.0]), "cls": torch.tensor([[0.0, 3.0], [0.0, 3.0]])}
    acc = losses.d_accuracies(out_r, out_f, torch.tensor([0, 1]), torch.tensor([1, 1]))
    assert acc["d_cls_acc_real"].item() == 0.5 and acc["d_cls_acc_fake"].item() == 1.0
    assert acc["d_src_acc_fake"].item() == 0.5
