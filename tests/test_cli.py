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


# ----------------------------------------------------------------------------- limits
@pytest.fixture(scope="module")
def small_run(tmp_path_factory, data_root):
    from acgan_lib import train as T
    from acgan_lib.config import make_config
    cfg = make_config("cgan-mnist", iters=2, batch_size=8, width=0.25, data_root=str(data_root))
    return T.train(cfg, tmp_path_factory.mktemp("cli") / "run", progress=False)


def test_overrides_may_follow_flags(capsys, tmp_path, data_root):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "iters=2", "--preset", "cgan-mnist", f"data_root={data_root}",
                           "--out", out, "batch_size=8", "--no-progress", "width=0.25")
    assert code == 0, err
    import json
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["iters"], cfg["batch_size"], cfg["width"]) == (2, 8, 0.25)
    code, _, err = run_cli(capsys, "train", "--resume", out, "iters=3", "--no-progress")
    assert code == 0, err


@pytest.mark.parametrize("args,match", [
    (["train", "--preset", "cgan-mnist", "--out", "{tmp}/x", "--bogus"], "unrecognized arguments: --bogus"),
    (["train", "--preset", "cgan-mnist", "iters=1", "--out", "{tmp}/x", "stray"], "unrecognized arguments: stray"),
    (["sample", "--checkpoint", "{tmp}/a.pt"], "the following arguments are required: --out"),
    (["sample", "--checkpoint", "{tmp}/a.pt", "--out", "{tmp}/a.png", "-n", "x"], "invalid int value"),
    (["nonsense"], "invalid choice"),
])
def test_argparse_errors_are_one_line(args, match, capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main([a.format(tmp=tmp_path) for a in args])
    assert e.value.code == 2 and match in one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize("out,match", [
    ("{tmp}", "is a folder: give an image file"),
    ("{tmp}/grid", "has no image extension"),
    ("{tmp}/grid.txt", "has no image extension"),
    ("{tmp}/file.txt/grid.png", "cannot write"),
])
def test_sample_out_must_be_an_image_file(out, match, capsys, tmp_path, small_run):
    (tmp_path / "file.txt").write_text("keep me")
    code, _, err = run_cli(capsys, "sample", "--checkpoint", small_run, "--out", out.format(tmp=tmp_path))
    assert code == 2 and match in one_line_error(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"] and (tmp_path / "file.txt").read_text() == "keep me"


@pytest.mark.parametrize("cmd", ["sample", "evaluate"])
def test_sample_and_evaluate_refuse_nonfinite_weights(cmd, capsys, tmp_path, small_run):
    import torch
    ck = torch.load(small_run / "final.pt", weights_only=True)
    ck["G"][next(iter(ck["G"]))].view(-1)[3] = float("nan")
    torch.save(ck, tmp_path / "bad.pt")
    ext = "png" if cmd == "sample" else "json"
    code, _, err = run_cli(capsys, cmd, "--checkpoint", tmp_path / "bad.pt", "--out", tmp_path / f"o.{ext}")
    assert code == 2 and "holds non-finite (NaN/inf) weights (G:" in one_line_error(err)
    assert not (tmp_path / f"o.{ext}").exists()


@pytest.mark.parametrize("device,match", [("cuda:7", "cuda:7"), ("gpu", "unknown device 'gpu'")])
def test_bad_device_fails_before_the_run_folder(device, match, capsys, tmp_path, data_root):
    out = tmp_path / "x"
    code, _, err = run_cli(capsys, "train", "--preset", "cgan-mnist", "--out", out, f"device={device}",
                           f"data_root={data_root}", "iters=1", "batch_size=8")
    assert code == 2 and match in one_line_error(err) and not out.exists()
    code, _, err = run_cli(capsys, "sample", "--checkpoint", "x.pt", "--out", tmp_path / "a.png", "--device", device)
    assert code == 2 and "error: " in one_line_error(err)


def test_run_folder_checks_before_training(capsys, tmp_path, data_root):
    base = ["train", "--preset", "cgan-mnist", "--no-progress", "iters=1", f"data_root={data_root}"]
    code, _, err = run_cli(capsys, *base, "--out", tmp_path / "big", "batch_size=5000")
    assert code == 2 and "larger than the training set" in one_line_error(err) and not (tmp_path / "big").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    code, _, err = run_cli(capsys, *base, "--out", tmp_path / "mine", "batch_size=8")
    assert code == 2 and "is not empty (holds thesis.tex)" in one_line_error(err)
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["thesis.tex"]
    (tmp_path / "list.json").write_text("[1, 2]")
    code, _, err = run_cli(capsys, "train", "--config", tmp_path / "list.json", "--out", tmp_path / "c")
    assert code == 2 and "config must be a JSON object" in one_line_error(err)


def test_resume_of_a_finished_run_says_nothing_to_do(capsys, small_run):
    stamp = (small_run / "final.pt").stat().st_mtime_ns
    code, _, err = run_cli(capsys, "train", "--resume", small_run, "--no-progress")
    assert code == 2 and "nothing to do" in one_line_error(err)
    assert (small_run / "final.pt").stat().st_mtime_ns == stamp


def test_divergence_is_a_one_line_error(capsys, tmp_path, data_root, monkeypatch):
    from acgan_lib import losses
    real = losses.d_loss
    monkeypatch.setattr(losses, "d_loss", lambda *a: real(*a) * float("inf"))
    out = tmp_path / "r"
    code, _, err = run_cli(capsys, "train", "--preset", "cgan-mnist", "--out", out, "--no-progress", "iters=4",
                           "batch_size=8", "log_every=1", f"data_root={data_root}")
    assert code == 2 and "training diverged by iteration 1: loss became NaN/inf" in one_line_error(err)
    assert not (out / "final.pt").exists() and not (out / "checkpoint.pt").exists()


def test_library_warnings_do_not_leak_into_errors(capsys, tmp_path, monkeypatch):
    import warnings

    import acgan_lib.sample as S
    from acgan_lib.utils import UserError

    def warns_then_fails(*a):
        warnings.warn("some library complains", UserWarning)
        raise UserError("the real problem")

    monkeypatch.setattr(S, "sample_to_png", warns_then_fails)
    code, _, err = run_cli(capsys, "sample", "--checkpoint", "x.pt", "--out", tmp_path / "a.png")
    assert code == 2 and one_line_error(err) == "error: the real problem"

    def warns_then_works(*a):
        warnings.warn("some library complains", UserWarning)
        return tmp_path / "a.png"

    monkeypatch.setattr(S, "sample_to_png", warns_then_works)
    code, _, err = run_cli(capsys, "sample", "--checkpoint", "x.pt", "--out", tmp_path / "a.png")
    assert code == 0 and "some library complains" in err  # shown when the command succeeds


def test_selfcheck_on_cpu(capsys, tmp_path, data_root, monkeypatch):
    """The device job's self-check, on CPU: the fast function uncaptured against the eager
    path (exit 0 and the JSON); a check that fails says so in one line with exit 1; bad input
    is a one-line error with exit 2."""
    import json

    from acgan_lib import train as T

    monkeypatch.setenv("ACGAN_DATA", str(data_root))
    out = tmp_path / "sc.json"
    code, stdout, err = run_cli(capsys, "selfcheck", "--out", out, "--device", "cpu", "--iters", "3",
                                "width=0.25")
    assert code == 0, stdout + err
    res = json.loads(out.read_text())
    assert res["passed"] and res["fast_path"] == "eager (uncaptured)" and res["data"] == "real"
    assert {"device", "torch", "cuda", "commit", "max_rel_err", "tolerance", "iterations", "seconds", "reason"} <= set(res)
    assert 0 < res["max_rel_err"] <= res["tolerance"] == T.SELFCHECK_TOL["fp32"] and res["noise"] == "0.2,0.1@0.333333333"
    assert stdout.startswith("selfcheck passed: fast path eager (uncaptured) on CPU")
    assert res["steps_per_s"] is None or res["steps_per_s"] > 0  # the job's estimates read it
    monkeypatch.setitem(T.SELFCHECK_TOL, "fp32", 1e-12)
    code, stdout, _ = run_cli(capsys, "selfcheck", "--out", out, "--device", "cpu", "--iters", "2",
                              "width=0.25")
    assert code == 1 and len(stdout.splitlines()) == 1 and "FAILED" in stdout and "fast and eager differ" in stdout
    assert json.loads(out.read_text())["passed"] is False
    for bad, msg in ((["--preset", "acgan-fmist"], "unknown preset 'acgan-fmist'"),
                     (["--max-seconds", "0"], "--max-seconds must be > 0"),
                     (["widht=1"], "unknown config key 'widht'")):
        code, _, err = run_cli(capsys, "selfcheck", "--out", out, "--device", "cpu", *bad)
        assert code == 2 and msg in one_line_error(err)
