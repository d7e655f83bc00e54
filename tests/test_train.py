"""The training loop: outputs of a run, learning on tiny data, bit-identical resume,
NaN handling, interruption, "load if it exists, else train", fine-tune initialisation."""
import csv
import json
import os
import signal

import pytest
import torch

from acgan_lib import losses, train as T
from acgan_lib.config import make_config
from acgan_lib.utils import UserError, load_checkpoint

TINY = dict(batch_size=16, width=0.25, log_every=1, sample_every=3, ckpt_every=3)


def cfg_of(data_root, preset="acgan-mnist", **kw):
    return make_config(preset, data_root=str(data_root), **{**TINY, **kw})


def states_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_run_folder_contents(data_root, tmp_path):
    out = T.train(cfg_of(data_root, iters=4), tmp_path / "run", progress=False)
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "run.json", "log.csv", "samples", "checkpoint.pt", "final.pt"} <= names
    assert json.loads((out / "config.json").read_text())["iters"] == 4
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and run["step"] == 4 and run["device"].startswith("CPU")
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert set(T.LOG_FIELDS) == set(rows[0]) and float(rows[0]["d_cls_acc_real"]) >= 0
    assert sorted(p.name for p in (out / "samples").iterdir()) == [
        "step_0000000.png", "step_0000003.png", "step_0000004.png"]
    ck = load_checkpoint(out / "final.pt")
    assert ck["step"] == 4 and "opt_g" not in ck and ck["class_names"][0] == "0"


def test_short_run_lowers_d_loss(data_root, tmp_path):
    out = T.train(cfg_of(data_root, iters=60, log_every=10, width=0.5, noise="0",
                             sample_every=1000, ckpt_every=1000), tmp_path / "r", progress=False)
    rows = T.read_log(out)
    assert rows[-1]["loss_d"] < rows[0]["loss_d"] - 0.3


@pytest.mark.parametrize("preset", ["acgan-fmnist", "cgan-mnist", "dcgan-mnist"])
def test_resume_is_bit_identical(data_root, tmp_path, monkeypatch, preset):
    cfg = cfg_of(data_root, preset, iters=7, ckpt_every=2, log_every=2)
    full = T.train(cfg, tmp_path / "full", progress=False)

    real_iteration = T.Trainer.iteration

    def interrupting(self, it):  # Ctrl-C arrives during iteration 3
        real_iteration(self, it)
        if it == 2:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(T.Trainer, "iteration", interrupting)
    with pytest.raises(KeyboardInterrupt, match="checkpoint saved"):
        T.train(cfg, tmp_path / "cut", progress=False)
    monkeypatch.setattr(T.Trainer, "iteration", real_iteration)
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["step"] == 3
    assert json.loads((tmp_path / "cut" / "run.json").read_text())["status"] == "interrupted"
    T.resume(tmp_path / "cut", progress=False)

    a, b = load_checkpoint(full / "final.pt"), load_checkpoint(tmp_path / "cut" / "final.pt")
    assert states_equal(a["G"], b["G"]) and states_equal(a["D"], b["D"])
    strip = lambda rows: [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]
    assert strip(T.read_log(full)) == strip(T.read_log(tmp_path / "cut"))


def test_resume_can_extend_but_not_change_the_model(data_root, tmp_path):
    out = T.train(cfg_of(data_root, iters=3), tmp_path / "r", progress=False)
    T.resume(out, progress=False, overrides=["iters=5"])
    assert load_checkpoint(out / "final.pt")["step"] == 5
    with pytest.raises(UserError, match="cannot change lr_g when resuming"):
        T.resume(out, progress=False, overrides=["lr_g=1"])
    with pytest.raises(UserError, match="below the 5 iterations already done"):
        T.resume(out, progress=False, overrides=["iters=2"])


def test_nan_stops_and_keeps_last_good_checkpoint(data_root, tmp_path, monkeypatch):
    real = losses.g_loss
    calls = {"n": 0}

    def poisoned(cfg, out, y):
        calls["n"] += 1
        loss = real(cfg, out, y)
        return loss * float("nan") if calls["n"] >= 5 else loss

    monkeypatch.setattr(losses, "g_loss", poisoned)
    out = tmp_path / "nan"
    with pytest.raises(T.TrainingDiverged, match="NaN/inf.*last good checkpoint kept.*iteration 3"):
        T.train(cfg_of(data_root, iters=8), out, progress=False)
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 3
    assert not (out / "final.pt").exists()
    assert json.loads((out / "run.json").read_text())["status"] == "diverged"


def test_train_or_load_reuses_and_refuses(data_root, tmp_path):
    cfg = cfg_of(data_root, iters=3)
    out = T.train_or_load(cfg, tmp_path / "r", progress=False)
    stamp = (out / "final.pt").stat().st_mtime_ns
    T.train_or_load(cfg, out, progress=False)
    assert (out / "final.pt").stat().st_mtime_ns == stamp  # loaded, not retrained
    longer = cfg_of(data_root, iters=5)
    T.train_or_load(longer, out, progress=False)           # resumed to the new length
    assert load_checkpoint(out / "final.pt")["step"] == 5
    with pytest.raises(UserError, match="different config \\(lr_g\\)"):
        T.train_or_load(cfg_of(data_root, iters=5, lr_g=1e-3), out, progress=False)
    with pytest.raises(UserError, match="already holds a run"):
        T.train(cfg, out, progress=False)


def test_fine_tune_starts_from_init_from(data_root, tmp_path):
    base = T.train(cfg_of(data_root, iters=2), tmp_path / "base", progress=False)
    ft = T.Trainer(cfg_of(data_root, iters=2, init_from=str(base / "final.pt")), tmp_path / "ft")
    ft.load_state_dict(load_checkpoint(base / "final.pt"), weights_only=True)
    assert states_equal(ft.G.state_dict(), load_checkpoint(base / "final.pt")["G"])
    with pytest.raises(UserError, match="do not fit this model"):
        bad = T.Trainer(cfg_of(data_root, iters=2, width=0.5), tmp_path / "ft2")
        bad.load_state_dict(load_checkpoint(base / "final.pt"), weights_only=True)


def test_class_subset_and_resized_training(data_root, tmp_path):
    cfg = cfg_of(data_root, "acgan-mnist", iters=2, classes="1,4,7", image_size=32)
    out = T.train(cfg, tmp_path / "r", progress=False)
    ck = load_checkpoint(out / "final.pt")
    assert ck["class_ids"] == [1, 4, 7] and ck["G"]["fc.0.weight"].shape[1] == 100 + 3


def test_cifar10_training_path_on_synthetic_files(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ACGAN_SKIP_MD5", "1")
    out = T.train(cfg_of(data_root, "acgan-cifar10", iters=2), tmp_path / "c", progress=False)
    assert load_checkpoint(out / "final.pt")["channels"] == 3


# ----------------------------------------------------------------------------- run reader
def test_run_reader(tmp_path, data_root, monkeypatch):
    """acgan_lib.runs.Run reads back what the trainer wrote: config, log summary, grids."""
    from acgan_lib.config import make_config
    from acgan_lib.runs import Run
    from acgan_lib.sample import save_grid

    monkeypatch.setenv("ACGAN_DATA", str(data_root))
    cfg = make_config("acgan-mnist", {"iters": 4, "batch_size": 8, "log_every": 1, "sample_every": 2,
                                      "ckpt_every": 2, "width": 0.25})
    out = T.train(cfg, tmp_path / "r", progress=False)
    run = Run(out)
    assert run.cfg == cfg and run.info["step"] == 4 and run.name == "r"
    assert Run(run).path == run.path and (run / "final.pt").exists() and str(run) == str(out)
    assert run.differs(cfg) == [] and run.differs(make_config("acgan-mnist", {"iters": 4})) != []
    s = run.summary()
    assert s["step"] == 4 and set(s) >= {"loss_d", "loss_g", "d_src_acc_real", "d_cls_acc_real"}
    first = run.summary(frac=None, upto=0.5)
    assert first["loss_d"] == pytest.approx(sum(r["loss_d"] for r in run.log()[:2]) / 2)
    assert run.peak("d_cls_acc_real") == max(r["d_cls_acc_real"] for r in run.log())
    assert run.sample_steps() == [0, 2, 4] and run.grid_path(3)[1] in (2, 4)
    x, labels = run.grid()
    assert x.shape == (100, 1, 28, 28) and labels.tolist() == [i // 10 for i in range(100)]
    assert run.class_names == [str(i) for i in range(10)]
    # Run.grid inverts sample.save_grid (8-bit precision)
    imgs = torch.rand(6, 1, 28, 28) * 2 - 1
    save_grid(imgs, run.path / "samples" / "step_0000009.png", nrow=3)
    back, _ = run.grid(9)
    assert back.shape == (6, 1, 28, 28) and (back - imgs).abs().max() < 1 / 127.5 + 1e-6


def test_run_reader_errors(tmp_path):
    from acgan_lib.runs import Run
    from acgan_lib.utils import UserError

    with pytest.raises(UserError, match="is not a run folder"):
        Run(tmp_path).cfg
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UserError, match="has no sample grids"):
        Run(tmp_path).grid_path()
    assert Run(tmp_path).log() == [] and Run(tmp_path).summary() == {}
