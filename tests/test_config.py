"""Presets as data, key=value overrides, and one-line errors for bad values."""
import pytest

from acgan_lib.config import PRESETS, SCALES, make_config, parse_noise, scaled_config
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
    cfg = make_config("acgan-fmnist", iters=300)
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
    (("acgan-cifar10-ft", []), "give init_from="),
    (("acgan-fmnist", ["iters"]), "expected key=value"),
])
def test_bad_values_are_one_line_errors(args, match):
    with pytest.raises(UserError, match=match) as e:
        make_config(*args)
    assert "\n" not in str(e.value)
