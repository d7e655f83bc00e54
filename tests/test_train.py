"""The training loop: outputs of a run, learning on tiny data, bit-identical resume,
NaN handling, interruption, "load if it exists, else train", fine-tune initialisation."""
import csv
import json
import os
import re
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
def test_a_run_from_before_a_new_config_key_still_matches(tmp_path):
    """A key added to Config after a run was trained (absent from its config.json) has its
    default, so the run is reused, not refused as a different config."""
    import json

    from acgan_lib.runs import Run

    cfg = make_config("cgan-mnist", iters=4)
    old = {k: v for k, v in cfg.to_dict().items() if k not in ("kernel", "extra_layer")}
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert Run(tmp_path).differs(cfg) == []
    assert Run(tmp_path).differs(make_config("cgan-mnist", iters=4, kernel=4)) == ["kernel"]


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


# ----------------------------------------------------------------------------- divergence and limits
def finite(state):
    return all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


@pytest.mark.parametrize("iters", [6, 8])  # 6: the poisoned step is the last (final.pt); 8: a middle checkpoint
@pytest.mark.parametrize("target,why", [("weights", "weights became NaN/inf"),
                                        ("optimizer", "optimizer state .* became NaN/inf")])
def test_nonfinite_weights_after_the_step_are_never_saved(data_root, tmp_path, monkeypatch, iters, target, why):
    """The losses of an iteration are computed before its optimizer step: the weights
    themselves are checked before every save, so the last checkpoint kept is a good one."""
    real = T.Trainer.g_step

    def poisoned(self, x_fake, y_fake):
        loss = real(self, x_fake, y_fake)
        if self.step == 5:  # iteration 6, the one that ends at the checkpoint of step 6
            with torch.no_grad():
                if target == "weights":
                    next(self.G.parameters()).fill_(float("nan"))
                else:
                    next(iter(self.opt_d.state.values()))["exp_avg_sq"].fill_(float("inf"))
        return loss

    monkeypatch.setattr(T.Trainer, "g_step", poisoned)
    out = tmp_path / "run"
    with pytest.raises(T.TrainingDiverged, match=f"by iteration 6: {why}.*last good checkpoint kept.*iteration 3"):
        T.train(cfg_of(data_root, iters=iters, log_every=100), out, progress=False)
    ck = load_checkpoint(out / "checkpoint.pt")
    assert ck["step"] == 3 and finite(ck["G"]) and finite(ck["D"])
    assert not (out / "final.pt").exists()
    assert json.loads((out / "run.json").read_text())["status"] == "diverged"


def test_loss_blowup_without_nan_is_diverged(data_root, tmp_path, monkeypatch):
    real = losses.g_loss
    calls = {"n": 0}

    def exploding(cfg, out, y):
        calls["n"] += 1
        return real(cfg, out, y) * (1e6 if calls["n"] >= 5 else 1.0)

    monkeypatch.setattr(losses, "g_loss", exploding)
    out = tmp_path / "big"
    with pytest.raises(T.TrainingDiverged, match=f"by iteration 5: loss blew up to .* \\(bound {T.LOSS_BOUND:g}\\)"):
        T.train(cfg_of(data_root, iters=8), out, progress=False)
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 3
    assert json.loads((out / "run.json").read_text())["status"] == "diverged"


def test_weight_blowup_without_nan_is_diverged(data_root, tmp_path, monkeypatch):
    real = T.Trainer.g_step

    def exploding(self, *a, **k):
        res = real(self, *a, **k)
        if self.step == 4:  # after the last step of iteration 5: its losses are still normal
            with torch.no_grad():
                next(self.G.parameters()).mul_(1e9)
        return res

    monkeypatch.setattr(T.Trainer, "g_step", exploding)
    out = tmp_path / "big"
    with pytest.raises(T.TrainingDiverged, match=r"by iteration 5: weights blew up to .* \(bound " + re.escape(f"{T.WEIGHT_BOUND:g})")):
        T.train(cfg_of(data_root, iters=8), out, progress=False)
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 3 and not (out / "final.pt").exists()


def test_divergence_check_is_no_per_iteration_sync(data_root, tmp_path, monkeypatch):
    """The health check (one host sync) runs only at log rows and saves, not every iteration."""
    calls = []
    real = T.Trainer.divergence
    monkeypatch.setattr(T.Trainer, "divergence", lambda self: calls.append(self.step) or real(self))
    T.train(cfg_of(data_root, iters=8, log_every=4, ckpt_every=8, sample_every=100), tmp_path / "r", progress=False)
    assert sorted(set(calls)) == [4, 8]


def test_checkpoint_with_nonfinite_weights_is_refused(data_root, tmp_path):
    out = T.train(cfg_of(data_root, iters=2), tmp_path / "r", progress=False)
    for name in ("final.pt", "checkpoint.pt"):
        ck = torch.load(out / name, weights_only=True)
        ck["G"][next(iter(ck["G"]))].view(-1)[0] = float("inf")
        torch.save(ck, out / name)
    with pytest.raises(UserError, match="non-finite \\(NaN/inf\\) weights \\(G:"):
        load_checkpoint(out / "final.pt")
    with pytest.raises(UserError, match="non-finite"):
        T.resume(out, progress=False, overrides=["iters=4"])


def test_batch_larger_than_the_data_fails_before_the_run_folder(data_root, tmp_path):
    out = tmp_path / "r"
    with pytest.raises(UserError, match="batch_size 1000 is larger than the training set \\(400 images\\)"):
        T.train(cfg_of(data_root, iters=2, batch_size=1000), out, progress=False)
    assert not out.exists()


def test_out_folder_with_unrelated_files_is_refused(data_root, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="--out .* is not empty \\(holds notes.txt\\)"):
        T.train(cfg_of(data_root, iters=2), out, progress=False)
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"


def test_orphan_temp_files_of_a_killed_save_are_removed(data_root, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / ".config.json.k1ll3d_.tmp").write_bytes(b"half")   # killed before the run had any file
    T.train(cfg_of(data_root, iters=3), out, progress=False)
    assert not list(out.glob(".*.tmp"))
    (out / ".checkpoint.pt.a8_x9q2z.tmp").write_bytes(b"PK half a checkpoint")  # killed during a save
    T.resume(out, progress=False, overrides=["iters=4"])
    assert not list(out.glob(".*.tmp")) and load_checkpoint(out / "final.pt")["step"] == 4


def test_resume_longer_keeps_the_noise_boundaries(data_root, tmp_path):
    cfg = cfg_of(data_root, iters=4, noise="0.3,0@0.5")  # boundary at iteration 2 of 4
    out = T.train(cfg, tmp_path / "r", progress=False)
    T.resume(out, progress=False, overrides=["iters=12"])  # 0.5 of 12 would move it to 6
    assert [r["noise_std"] for r in T.read_log(out)] == [0.3, 0.3] + [0.0] * 10
    assert load_checkpoint(out / "final.pt")["schedule_iters"] == 4
    assert json.loads((out / "run.json").read_text())["schedule_iters"] == 4


def test_resuming_a_finished_run_says_it_did_nothing(data_root, tmp_path):
    out = T.train(cfg_of(data_root, iters=3), tmp_path / "r", progress=False)
    stamps = {n: (out / n).stat().st_mtime_ns for n in ("final.pt", "checkpoint.pt", "log.csv")}
    with pytest.raises(UserError, match="nothing to do: the run in .* is already complete \\(3 iterations\\)"):
        T.resume(out, progress=False)
    assert {n: (out / n).stat().st_mtime_ns for n in stamps} == stamps


def test_precision_auto_uses_bf16_only_where_it_is_fast(tmp_path, data_root, monkeypatch):
    """precision=auto follows acgan_lib.utils.bf16_is_fast (oneDNN's native bf16 on CPU)."""
    from acgan_lib import utils

    monkeypatch.setenv("ACGAN_DATA", str(data_root))
    cfg = make_config("acgan-mnist", {"iters": 2, "batch_size": 4, "width": 0.25})
    for fast in (False, True):
        monkeypatch.setattr(T, "bf16_is_fast", lambda device, fast=fast: fast)
        assert T.Trainer(cfg, tmp_path / f"r{fast}").bf16 is fast
    assert T.Trainer(make_config("acgan-mnist", {"precision": "fp32", "iters": 2}), tmp_path / "f").bf16 is False
    assert utils.bf16_is_fast("cpu") == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


# ----------------------------------------------------------------------------- the fast step
FAST = dict(iters=8, classes="0,1", batch_size=16, noise="0.3,0.1@0.5", lr_decay=0.5, ema=0.5, ema_start=2,
            precision="fp32")
# 80 images of classes 0, 1 / batch 16 = 5 iterations per epoch: the lr halves at iteration 5, the noise std
# drops at iteration 4 (> 0 on both sides, so both paths draw the same random numbers), the
# EMA starts at 2: every device scalar of the fast step changes within the 8 iterations


def run_iterations(tr, n):
    """Iterate ``tr`` n times; per iteration: (loss_d, loss_g), lr_d and noise std seen."""
    seen = []
    for it in range(n):
        tr.iteration(it)
        seen.append(([tr.win["loss_d"].item(), tr.win["loss_g"].item()], float(tr.opt_d.param_groups[0]["lr"]),
                     next(m for m in tr.D.modules() if isinstance(m, T.GaussianNoise)).std_t.item()))
        tr._reset_window()
    return seen


def test_fast_step_computes_what_the_eager_step_computes(data_root, tmp_path):
    """fast_step=on on CPU (the static-buffer function, uncaptured) against the eager path on
    the same seeds, across an lr decay, a noise-schedule boundary and the EMA start. The
    only numerical difference is the optimizer (fused Adam with a tensor lr vs the eager
    single-tensor Adam), fp32 rounding that Adam's normalised steps amplify where a gradient
    is rounding noise (e.g. conv biases before batch norm): losses within rtol 1e-4, each
    network's weights within 1e-2 relative (L2 over all its parameters; measured ~1e-3)."""
    cfg = cfg_of(data_root, **FAST)
    eager, fast = T.Trainer(cfg, tmp_path / "e", fast_step="off"), T.Trainer(cfg, tmp_path / "f", fast_step="on")
    assert (eager.fast_path, fast.fast_path) == ("eager", "eager (uncaptured)")
    a, b = run_iterations(eager, 8), run_iterations(fast, 8)
    assert isinstance(fast.opt_d.param_groups[0]["lr"], torch.Tensor) and fast.opt_d.param_groups[0]["fused"]
    torch.testing.assert_close([x[0] for x in b], [x[0] for x in a], rtol=1e-4, atol=1e-6)
    lr = [x[1] for x in b]  # the device scalars the static function read
    assert lr == pytest.approx([2e-4] * 5 + [1e-4] * 3) and lr == pytest.approx([x[1] for x in a])
    assert [x[2] for x in b] == pytest.approx([0.3] * 4 + [0.1] * 4)
    for m_e, m_f in ((eager.G, fast.G), (eager.D, fast.D), (eager.G_ema, fast.G_ema)):
        assert 0 < T.weights_rel_err(m_f, m_e) < 1e-2


def test_fast_run_writes_eager_format_checkpoints(data_root, tmp_path):
    cfg = cfg_of(data_root, iters=4, noise="0.2", fast_step="on")
    out = T.train(cfg, tmp_path / "r", progress=False)
    assert json.loads((out / "run.json").read_text())["fast_step"] == "eager (uncaptured)"
    opt = load_checkpoint(out / "checkpoint.pt")["opt_d"]
    assert isinstance(opt["param_groups"][0]["lr"], float) and not opt["param_groups"][0]["fused"]
    assert all(st["step"].device.type == "cpu" for st in opt["state"].values())
    T.resume(out, progress=False, overrides=["iters=6", "fast_step=off"])  # either path continues it
    assert json.loads((out / "run.json").read_text())["fast_step"] == "eager"
    assert load_checkpoint(out / "final.pt")["step"] == 6


def test_fast_step_setting_and_its_environment_override(data_root, tmp_path, monkeypatch):
    with pytest.raises(UserError, match="bad value for fast_step: 'fast' \\(choose from auto, off, on\\)"):
        cfg_of(data_root, fast_step="fast")
    cfg = cfg_of(data_root, iters=2)
    assert T.Trainer(cfg, tmp_path / "a").fast_path == "eager"  # auto on CPU
    monkeypatch.setenv("ACGAN_FAST_STEP", "on")
    assert T.Trainer(cfg, tmp_path / "b").fast_path == "eager (uncaptured)"
    monkeypatch.setenv("ACGAN_FAST_STEP", "off")
    assert T.Trainer(cfg_of(data_root, iters=2, fast_step="on"), tmp_path / "c").fast_path == "eager"
    monkeypatch.setenv("ACGAN_FAST_STEP", "graphs")
    with pytest.raises(UserError, match="bad value for ACGAN_FAST_STEP: 'graphs'"):
        T.Trainer(cfg, tmp_path / "d")


def test_failed_capture_restores_the_state_and_trains_eagerly(data_root, tmp_path, monkeypatch, capsys):
    """The CUDA calls are stood in for on CPU; the stand-in capture runs the iteration (a
    half-made capture mutates weights and optimizer state) and then fails. The trainer must
    print one line, restore the state from before that iteration and redo it eagerly:
    exactly what a trainer that leaves the fast path there by itself computes."""
    import contextlib

    class Stream:
        def wait_stream(self, other):
            pass

    @contextlib.contextmanager
    def failing_graph(graph):
        yield
        raise RuntimeError("operation not permitted when stream is capturing")

    stand_ins = dict(Stream=lambda *a: Stream(), stream=lambda s: contextlib.nullcontext(), current_stream=Stream,
                     CUDAGraph=object, graph=failing_graph, synchronize=lambda: None)
    for name, value in stand_ins.items():
        monkeypatch.setattr(torch.cuda, name, value)
    cfg = cfg_of(data_root, **FAST)
    tr = T.Trainer(cfg, tmp_path / "a")
    tr.fast_path = "graphs"
    run_iterations(tr, 6)
    assert capsys.readouterr().out.splitlines() == [
        "fast step: capture failed (RuntimeError: operation not permitted when stream is capturing); training eagerly"]
    assert tr.fast is None and tr.fast_path == "eager" and "capture failed" in tr.fast_note
    ref = T.Trainer(cfg, tmp_path / "b", fast_step="on")
    run_iterations(ref, T.FAST_WARMUP)
    ref._leave_fast()
    ref.fast_path = "eager"
    for it in range(T.FAST_WARMUP, 6):
        ref.iteration(it)
    assert states_equal(tr.G.state_dict(), ref.G.state_dict()) and states_equal(tr.D.state_dict(), ref.D.state_dict())
    assert tr.opt_d.state_dict()["state"].keys() == ref.opt_d.state_dict()["state"].keys()


def test_benchmark_plain_loop_trains_every_family_of_preset():
    """benchmarks/train_speed.py's plain baseline trains DCGAN and CGAN presets (no class head)
    as well as the AC-GAN ones (it used to stop with a KeyError on 'cls')."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "train_speed.py"
    spec = importlib.util.spec_from_file_location("train_speed", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for preset in ("dcgan-mnist", "cgan-mnist", "acgan-fmnist"):
        cfg = bench.make_cfg(preset, 4, "cpu", precision="fp32", data_root="/nonexistent-data-root")
        assert bench.bench_plain(cfg, 1, 0, workers=0) > 0, preset
