"""Presets as data, key=value overrides, and one-line errors for bad values."""
import dataclasses

import pytest

from acgan_lib.config import PRESETS, SCALES, Config, make_config, parse_noise, scaled_config
from acgan_lib.utils import UserError

ISSUE_PRESETS = ["dcgan-mnist", "cgan-mnist", "cgan-mnist-2x-osls", "acgan-fmnist", "acgan-mnist",
                 "acgan-cifar10", "acgan-cifar10-64", "acgan-cifar10-ft", "acgan-cifar10-64-ft"]


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_validates(name):
    cfg = make_config(name, init_from="x.pt" if name.endswith("-ft") else "")
    assert cfg.preset == name and PRESETS[name]["source"]


def test_issue_presets_exist():
    assert set(ISSUE_PRESETS) <= set(PRESETS)


def test_source_hyper_parameters():
    paper = make_config("acgan-cifar10")
    assert (paper.batch_size, paper.lr_g, paper.beta1_g, paper.z_dim, paper.image_size) == (100, 2e-4, 0.5, 100, 32)
    m3 = make_config("acgan-cifar10-64")
    assert (m3.image_size, m3.d_loss_scale, m3.cls_real_weight) == (64, 0.5, 2.0)
    ft = make_config("acgan-cifar10-ft", init_from="a.pt")
    assert (ft.cls_real_weight, ft.lr_g, ft.lr_d) == (10.0, 1e-4, 1e-4)
    osls = make_config("cgan-mnist-2x-osls")
    assert (osls.width, osls.real_label) == (2.0, 0.9)


def test_overrides_are_typed():
    cfg = make_config("acgan-fmnist", ["iters=10", "lr_g=1e-4", "compile=false", "noise=0.3,0@0.5"])
    assert cfg.iters == 10 and cfg.lr_g == 1e-4 and cfg.compile is False
    assert cfg.noise_std_at(0) == 0.3 and cfg.noise_std_at(4) == 0.3 and cfg.noise_std_at(5) == 0.0


def test_noise_schedule_three_stages():
    assert make_config("acgan-fmnist").noise_stages() == [(0.0, 0.1)]  # the paper's constant 0.1
    cfg = make_config("acgan-fmnist-000-noise", iters=300)
    assert [cfg.noise_std_at(i) for i in (0, 101, 102, 200, 201, 299)] == [0.2, 0.2, 0.1, 0.1, 0.0, 0.0]
    assert parse_noise("0.1@0.5") == [(0.0, 0.0), (0.5, 0.1)]


def test_scales():
    assert scaled_config("cgan-mnist", "cpu").iters == SCALES["cpu"]["iters"]
    assert scaled_config("cgan-mnist", "full").iters == PRESETS["cgan-mnist"]["iters"]
    with pytest.raises(UserError, match="unknown scale 'huge'"):
        scaled_config("cgan-mnist", "huge")


@pytest.mark.parametrize("args,match", [
    (("acgan-cifar", []), "unknown preset 'acgan-cifar' \\(did you mean 'acgan-cifar10'"),
    (("acgan-fmnist", ["lr_g=-1e-4"]), "lr_g.*must be > 0"),
    (("acgan-fmnist", ["image_size=48"]), "makes 28 or 32 or 64 px images, not image_size=48"),
    (("cgan-mnist", ["image_size=32"]), "model cgan makes 28 px images"),
    (("acgan-fmnist", ["iters=ten"]), "bad value for iters: 'ten' is not an integer"),
    (("acgan-fmnist", ["itres=10"]), "unknown config key 'itres' \\(did you mean 'iters'"),
    (("acgan-fmnist", ["batch_size=1"]), "batch norm needs at least 2"),
    (("acgan-fmnist", ["dataset=svhn"]), "unknown dataset 'svhn'"),
    (("acgan-fmnist", ["noise=abc"]), "bad value for noise"),
    (("acgan-fmnist", ["classes=3"]), "at least two distinct ids"),
    (("acgan-fmnist", ["aux_loss=none"]), "aux_loss must be one of"),
    (("cgan-mnist", ["aux_loss=ac"]), "needs a model with a classifier head"),
    (("acgan-fmnist", ["extra_layer=true"]), "options of model cgan"),
    (("dcgan-mnist", ["kernel=4"]), "options of model cgan"),
    (("cgan-mnist", ["kernel=9"]), "kernel: 9 \\(must be in 2..7\\)"),
    (("cgan-mnist", ["kernel=4", "extra_layer=true"]), "extra_layer needs an odd kernel"),
    (("acgan-cifar10-ft", []), "give init_from="),
    (("acgan-fmnist", ["iters"]), "expected key=value"),
])
def test_bad_values_are_one_line_errors(args, match):
    with pytest.raises(UserError, match=match) as e:
        make_config(*args)
    assert "\n" not in str(e.value)


# ----------------------------------------------------------------------------- limits
FLOAT_KEYS = [f.name for f in dataclasses.fields(Config) if isinstance(getattr(Config(), f.name), float)]


@pytest.mark.parametrize("key", FLOAT_KEYS)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_every_float_must_be_finite(key, value):
    assert len(FLOAT_KEYS) == 19  # lr, betas, loss weights, width, margins, temperature...
    with pytest.raises(UserError, match=f"bad value for {key}: .*{value.lstrip('-')}") as e:
        make_config("acgan-fmnist", [f"{key}={value}"])
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("override,match", [
    ("lr_g=2", "lr_g.*> 0 and <= 1"), ("lr_d=0", "lr_d.*> 0 and <= 1"),
    ("cls_real_weight=1e9", "cls_real_weight.*\\[0, 1000\\]"), ("g_cls_weight=-1", "g_cls_weight.*\\[0, 1000\\]"),
    ("d_loss_scale=5000", "d_loss_scale"), ("cls_fake_weight=-0.5", "cls_fake_weight"),
    ("width=0", "width.*> 0 and <= 16"), ("width=100", "width.*> 0 and <= 16"),
    ("d2d_temperature=0", "d2d_temperature"), ("d2d_temperature=50", "d2d_temperature"),
    ("d2d_margin_pos=1.5", "d2d_margin_pos.*\\[-1, 1\\]"), ("d2d_margin_neg=-2", "d2d_margin_neg"),
    ("seed=-1", "seed"), ("seed=1e30", "seed"),
    ("noise=nan", "bad value for noise"), ("noise=inf", "bad value for noise"),
    ("noise=0.1@nan", "bad value for noise"), ("noise=100", "stds must be in \\[0, 10\\]"),
    ("noise=0.2,0.1", "two stages start at 0"), ("noise=0.2@0.5,0.1@0.5", "two stages start at 0.5"),
    ("noise=0.2,0.1@0,0@0.5", "two stages start at 0"),
    ("device=gpu", "unknown device 'gpu'"), ("device=cuda:x", "unknown device 'cuda:x'"),
    ("device=mps", "unknown device 'mps'"), ("device=cuda:-1", "unknown device"),
])
def test_ranges_are_checked(override, match):
    with pytest.raises(UserError, match=match) as e:
        make_config("acgan-fmnist", [override])
    assert "\n" not in str(e.value)


def test_good_edge_values_pass():
    cfg = make_config("acgan-fmnist", ["lr_g=1", "width=16", "cls_real_weight=1000", "d2d_margin_neg=-1",
                                       "noise=10,0@0.5", "device=cuda:3", "seed=0"])
    assert cfg.lr_g == 1.0 and cfg.noise_std_at(0) == 10.0


def test_devices_are_checked_against_the_machine(monkeypatch):
    import torch

    from acgan_lib.utils import resolve_device
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(UserError, match="unknown device 'meta'"):
        resolve_device("meta")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="CUDA is not available"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(UserError, match="device 'cuda:1' does not exist: this machine has 1 CUDA device"):
        resolve_device("cuda:1")


def test_noise_schedule_can_refer_to_the_original_length():
    cfg = make_config("acgan-fmnist", ["iters=12", "noise=0.3,0@0.5"])
    assert cfg.noise_std_at(3) == 0.3 and cfg.noise_std_at(3, total=4) == 0.0 and cfg.noise_std_at(2, 4) == 0.0


def test_config_from_dict_needs_an_object():
    from acgan_lib.config import config_from_dict
    with pytest.raises(UserError, match="config must be a JSON object"):
        config_from_dict([1, 2])
