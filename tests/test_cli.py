"""The command line: help, presets, train / resume / sample, and one-line errors with a
non-zero exit for every kind of bad input."""
import subprocess
import sys
from pathlib import Path

import pytest

from acgan_lib.cli import main

REPO = Path(__file__).resolve().parents[1]


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize("cmd", ["", "presets", "train", "sample", "evaluate"])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main(([cmd] if cmd else []) + ["--help"])
    assert e.value.code == 0 and "usage:" in capsys.readouterr().out


def test_presets_listing(capsys):
    code, out, _ = run_cli(capsys, "presets")
    assert code == 0 and "acgan-cifar10-64" in out and "cgan-mnist-2x-osls" in out
    code, out, _ = run_cli(capsys, "presets", "--keys")
    assert code == 0 and "noise" in out and "activation-noise" in out
    code, out, _ = run_cli(capsys, "presets", "--show", "acgan-fmnist")
    assert code == 0 and '"dataset": "fashion-mnist"' in out


def test_train_resume_sample(capsys, tmp_path, data_root):
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", "--preset", "cgan-mnist", "--out", out, "--no-progress",
                                "iters=2", "batch_size=8", f"data_root={data_root}")
    assert code == 0, err
    assert (out / "final.pt").exists()
    code, _, err = run_cli(capsys, "train", "--resume", out, "--no-progress", "iters=3")
    assert code == 0, err
    png = tmp_path / "grid.png"
    code, _, err = run_cli(capsys, "sample", "--checkpoint", out / "final.pt", "--out", png, "--classes", "1,7", "-n", "4")
    assert code == 0 and png.stat().st_size > 100
    from PIL import Image
    w, h = Image.open(png).size
    assert h < w  # 2 rows of 4
    code, _, err = run_cli(capsys, "train", "--config", out / "config.json", "--out", tmp_path / "again",
                           "--no-progress", "iters=1")
    assert code == 0, err


@pytest.mark.parametrize("args,match", [
    (["train", "--preset", "acgan-cifar", "--out", "{tmp}/x"], "unknown preset 'acgan-cifar'"),
    (["train", "--preset", "acgan-fmnist", "--out", "{tmp}/x", "image_size=40"], "not image_size=40"),
    (["train", "--preset", "acgan-fmnist", "--out", "{tmp}/x", "lr_d=-0.1"], "lr_d"),
    (["train", "--preset", "acgan-fmnist", "--out", "{tmp}/x", "lrg=0.1"], "unknown config key 'lrg'"),
    (["train", "--preset", "acgan-fmnist", "--out", "{tmp}/x", "data_root={tmp}/nodata"], "fashion-mnist not found"),
    (["train", "--preset", "acgan-fmnist"], "needs --out"),
    (["train", "--resume", "{tmp}/nothing"], "cannot resume"),
    (["sample", "--checkpoint", "{tmp}/missing.pt", "--out", "{tmp}/a.png"], "checkpoint not found"),
    (["sample", "--checkpoint", "{tmp}/corrupt.pt", "--out", "{tmp}/a.png"], "corrupt or not a checkpoint"),
    (["sample", "--checkpoint", "{tmp}/notours.pt", "--out", "{tmp}/a.png"], "not an acgan_lib checkpoint"),
    (["train", "--config", "{tmp}/corrupt.pt", "--out", "{tmp}/x"], "cannot read config"),
])
def test_bad_input_one_line_error(args, match, capsys, tmp_path):
    import torch
    (tmp_path / "corrupt.pt").write_bytes(b"PK\x03\x04 truncated zip")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "notours.pt")
    code, _, err = run_cli(capsys, *[a.format(tmp=tmp_path) for a in args])
    assert code == 2
    assert match in one_line_error(err)


def test_out_folder_holding_a_run_is_not_overwritten(capsys, tmp_path, data_root):
    out = tmp_path / "run"
    args = ["train", "--preset", "dcgan-mnist", "--out", out, "--no-progress", "iters=1", "batch_size=4",
            f"data_root={data_root}"]
    assert run_cli(capsys, *args)[0] == 0
    stamp = (out / "final.pt").stat().st_mtime_ns
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and "already holds a run" in one_line_error(err)
    assert (out / "final.pt").stat().st_mtime_ns == stamp


def test_module_entry_point_exit_status(tmp_path):
    """`python -m acgan_lib` itself: exit 2 and one stderr line for a bad preset."""
    r = subprocess.run([sys.executable, "-m", "acgan_lib", "train", "--preset", "nope", "--out", str(tmp_path / "x")],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and r.stderr.strip().startswith("error: unknown preset 'nope'")
    assert len(r.stderr.strip().splitlines()) == 1
