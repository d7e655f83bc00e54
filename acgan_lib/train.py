"""One training loop for GAN, CGAN, AC-GAN and AC-BigGAN (paper Sec. 3, 004 Algorithm 1).

A run folder holds::

    config.json       the resolved config
    run.json          status, device, library commit, wall time
    log.csv           one row per ``log_every`` iterations: window means of the losses and
                      of D's source / class accuracies on real and fake, lr, noise std
    samples/          fixed-noise grids (one row per class), ``step_XXXXXXX.png``
    checkpoint.pt     everything needed to resume, every ``ckpt_every`` iterations (atomic)
    final.pt          the finished models (no optimizer state)

Reproducibility: every random draw of iteration ``it`` (batch order, z, fake labels, dropout,
activation noise) comes from seeds that are a function of ``(seed, it)`` alone, and the
checkpoint holds the optimizer and metric-window state, so ``resume`` on CPU continues
bit-identically to an uninterrupted run. Ctrl-C / SIGTERM saves a checkpoint at the next
iteration boundary.

Divergence: at every log row and before every save (``checkpoint.pt``, ``final.pt``) the
trainer checks that no loss since the start was NaN/inf or above :data:`LOSS_BOUND` in
magnitude, that every weight of G, D (and G's EMA) is finite and at most
:data:`WEIGHT_BOUND` in magnitude, and that the optimizer state and batch-norm statistics
are finite. Otherwise the run stops with status ``diverged`` (:class:`TrainingDiverged`)
and nothing is saved, so the last checkpoint is the last good one. The check is one host
sync at those boundaries, never one per iteration.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import math
import signal
import threading
import time
from pathlib import Path

import torch

from . import __version__, losses
from .config import Config, config_from_dict, make_config, parse_overrides, validate
from .data import load_training_data
from .models import build_models, set_noise_std
from .models.biggan import diff_augment
from .runs import RESUME_KEYS, Run, read_log
from .sample import class_grid_inputs, save_grid
from .utils import (UserError, atomic_torch_save, atomic_write_json, bf16_is_fast, device_name, git_commit,
                    load_checkpoint, remove_stale_temps, resolve_device)

LOG_FIELDS = ["step", "epoch", "loss_d", "loss_g", "d_src_acc_real", "d_src_acc_fake",
              "d_cls_acc_real", "d_cls_acc_fake", "noise_std", "lr_g", "lr_d", "elapsed_s"]
CKPT_FORMAT = "acgan_lib-checkpoint-1"
GRID_COLS = 10
LOSS_BOUND = 1e4    # |loss| of one iteration above this = diverged (losses of a healthy run are O(1..100))
WEIGHT_BOUND = 1e6  # |weight| above this = diverged (healthy weights stay far below 1e3)


class TrainingDiverged(UserError):
    """A loss or weight became NaN/inf or crossed :data:`LOSS_BOUND` / :data:`WEIGHT_BOUND`;
    the last good checkpoint is kept."""


def _iter_seed(seed: int, it: int) -> int:
    return (seed * 0x9E3779B1 + it * 0x85EBCA77 + 0x165667B1) % (2 ** 63 - 1)


class _StopFlag:
    """Turns SIGINT / SIGTERM into a flag checked between iterations (a second Ctrl-C
    interrupts at once). Only active in the main thread."""

    def __init__(self):
        self.signum = None
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    self._old[sig] = signal.signal(sig, self._handler)
                except (ValueError, OSError):
                    pass
        return self

    def _handler(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


class Trainer:
    """Owns the models, optimizers and run folder of one run; :meth:`run` trains it."""

    def __init__(self, cfg: Config, out: Path):
        self.cfg, self.out = cfg, Path(out)
        self.device = resolve_device(cfg.device)
        self.bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and bf16_is_fast(self.device))
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.data, self.info, self.class_ids = load_training_data(cfg, self.device)
        if cfg.batch_size > len(self.data):
            raise UserError(f"batch_size {cfg.batch_size} is larger than the training set ({len(self.data)} images)")
        self.K = len(self.class_ids)
        torch.manual_seed(cfg.seed)  # model init
        G, D = build_models(cfg, self.info.channels, self.K)
        self.G, self.D = G.to(self.device), D.to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if cfg.ema > 0 else None
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1_g, cfg.beta2_g))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1_d, cfg.beta2_d))
        self.G_run, self.D_run = self.G, self.D
        if cfg.compile:
            self.G_run, self.D_run = torch.compile(self.G), torch.compile(self.D)
        self.augment = None
        if cfg.diffaug:
            policy = cfg.diffaug
            self.augment = lambda x: diff_augment(x, policy)
        self.step = 0
        self.elapsed = 0.0
        self.win: dict[str, torch.Tensor] = {}
        self.win_n = 0
        self.loss_peak = torch.zeros((), device=self.device)  # max |loss| so far (NaN once a loss is NaN)
        self.schedule_iters = cfg.iters  # the length the noise stages refer to (kept by resume)
        self.steps_per_epoch = max(1, len(self.data) // cfg.batch_size)
        self.grid_z, self.grid_y = class_grid_inputs(self.K if cfg.model != "dcgan" else GRID_COLS, GRID_COLS,
                                                     cfg.z_dim, seed=cfg.seed + 1, share_z=cfg.model != "dcgan")

    # ------------------------------------------------------------------ state
    def state_dict(self, with_optim: bool = True) -> dict:
        st = {"format": CKPT_FORMAT, "step": self.step, "config": self.cfg.to_dict(),
              "schedule_iters": self.schedule_iters,
              "class_ids": self.class_ids, "class_names": [self.info.classes[c] for c in self.class_ids],
              "channels": self.info.channels, "G": self.G.state_dict(), "D": self.D.state_dict(),
              "G_ema": self.G_ema.state_dict() if self.G_ema is not None else None,
              "library": {"version": __version__, "commit": git_commit()}, "elapsed_s": self.elapsed}
        if with_optim:
            st.update(opt_g=self.opt_g.state_dict(), opt_d=self.opt_d.state_dict(),
                      win={k: v.detach().cpu() for k, v in self.win.items()}, win_n=self.win_n)
        return st

    def load_state_dict(self, st: dict, weights_only: bool = False) -> None:
        try:
            self.G.load_state_dict(st["G"])
            self.D.load_state_dict(st["D"])
            if self.G_ema is not None:
                self.G_ema.load_state_dict(st["G_ema"] if st.get("G_ema") is not None else st["G"])
        except RuntimeError as e:
            raise UserError(f"checkpoint weights do not fit this model ({str(e).splitlines()[0][:140]}); "
                            "model, image_size, width and classes must match") from None
        if weights_only:
            return
        self.opt_g.load_state_dict(st["opt_g"])
        self.opt_d.load_state_dict(st["opt_d"])
        self.step = int(st["step"])
        self.schedule_iters = int(st.get("schedule_iters", st["config"]["iters"]))
        self.elapsed = float(st.get("elapsed_s", 0.0))
        self.win = {k: v.to(self.device) for k, v in st.get("win", {}).items()}
        self.win_n = int(st.get("win_n", 0))

    # ------------------------------------------------------------------ one iteration
    def _lr(self, base: float, it: int) -> float:
        return base * self.cfg.lr_decay ** (it // self.steps_per_epoch)

    def _noise(self, n: int):
        z = torch.randn(n, self.cfg.z_dim, device=self.device)
        y = torch.randint(0, self.K, (n,), device=self.device)
        return z, y

    def _aug(self, x):
        return self.augment(x) if self.augment is not None else x

    def _amp(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def _fake(self, n: int):
        """A batch of ``n`` generated images and the labels they were asked for."""
        z, y = self._noise(n)
        with self._amp():
            return self.G_run(z, y), y

    def d_step(self, x_real, y_real, keep_graph: bool = True):
        """D's update: one Adam step on :func:`losses.d_loss` for a real batch and a
        fresh fake one. The fakes keep G's graph (``keep_graph``) for the G step.

        Taught in chapter 1 (book/src/01_gan_dcgan.md)."""
        D = self.D_run
        with contextlib.nullcontext() if keep_graph else torch.no_grad():
            x_fake, y_fake = self._fake(self.cfg.batch_size)
        with self._amp():
            out_r = D(self._aug(x_real), y_real)
            out_f = D(self._aug(x_fake.detach()), y_fake)  # detach: G gets no gradient
            loss_d = losses.d_loss(self.cfg, out_r, out_f, y_real, y_fake)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        return loss_d, out_r, out_f, x_fake, y_fake

    def g_step(self, x_fake, y_fake):
        """G's update: one Adam step on :func:`losses.g_loss` through a frozen D.

        Taught in chapter 1 (book/src/01_gan_dcgan.md)."""
        self.D_run.requires_grad_(False)
        with self._amp():
            out_g = self.D_run(self._aug(x_fake), y_fake)
            loss_g = losses.g_loss(self.cfg, out_g, y_fake)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.D_run.requires_grad_(True)
        return loss_g

    def iteration(self, it: int) -> None:
        """Iteration ``it``: ``d_steps`` D updates (:meth:`d_step`), then ``g_steps`` G
        updates (:meth:`g_step`), the EMA of G and the log window's statistics."""
        cfg = self.cfg
        torch.manual_seed(_iter_seed(cfg.seed, it))
        for grp in self.opt_g.param_groups:
            grp["lr"] = self._lr(cfg.lr_g, it)
        for grp in self.opt_d.param_groups:
            grp["lr"] = self._lr(cfg.lr_d, it)
        set_noise_std(self.D, cfg.noise_std_at(it, self.schedule_iters))
        self.G.train()
        self.D.train()
        for k in range(cfg.d_steps):
            x_real, y_real = self.data.batch(it * cfg.d_steps + k, cfg.batch_size)
            loss_d, out_r, out_f, x_fake, y_fake = self.d_step(x_real, y_real, k == cfg.d_steps - 1)
        for k in range(cfg.g_steps):
            if k > 0:
                x_fake, y_fake = self._fake(cfg.batch_size)
            loss_g = self.g_step(x_fake, y_fake)
        if self.G_ema is not None:
            self._update_ema(it)
        # metrics of this iteration, kept on the device until the next log row
        with torch.no_grad():
            stats = {"loss_d": loss_d.detach().float(), "loss_g": loss_g.detach().float()}
            stats.update(losses.d_accuracies({k: v.detach() for k, v in out_r.items()},
                                             {k: v.detach() for k, v in out_f.items()}, y_real, y_fake, cfg.aux_loss))
            self.loss_peak = torch.maximum(self.loss_peak, torch.maximum(stats["loss_d"].abs(), stats["loss_g"].abs()))
            for key, v in stats.items():
                self.win[key] = self.win[key] + v if key in self.win else v.clone()
            self.win_n += 1

    @torch.no_grad()
    def _update_ema(self, it: int) -> None:
        decay = self.cfg.ema if it >= self.cfg.ema_start else 0.0
        ema_p, p = list(self.G_ema.parameters()), list(self.G.parameters())
        torch._foreach_lerp_(ema_p, p, 1.0 - decay)
        for be, b in zip(self.G_ema.buffers(), self.G.buffers()):
            be.copy_(b)

    # ------------------------------------------------------------------ outputs
    def _log_row(self, it: int) -> dict:
        n = max(self.win_n, 1)
        row = {"step": it + 1, "epoch": round((it + 1) / self.steps_per_epoch, 4)}
        for key in LOG_FIELDS[2:8]:
            row[key] = (self.win[key] / n).item() if key in self.win else ""
        row.update(noise_std=self.cfg.noise_std_at(it, self.schedule_iters), lr_g=self._lr(self.cfg.lr_g, it),
                   lr_d=self._lr(self.cfg.lr_d, it), elapsed_s=round(self.elapsed, 2))
        self.win, self.win_n = {}, 0
        return row

    def _write_log(self, row: dict) -> None:
        path = self.out / "log.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            if new:
                w.writeheader()
            w.writerow(row)

    @torch.no_grad()
    def save_samples(self, step: int) -> Path:
        G = self.G_ema if self.G_ema is not None else self.G
        was = G.training
        G.eval()
        imgs = torch.cat([G(self.grid_z[i:i + 100].to(self.device), self.grid_y[i:i + 100].to(self.device)).float()
                          for i in range(0, len(self.grid_z), 100)])
        G.train(was)
        path = self.out / "samples" / f"step_{step:07d}.png"
        save_grid(imgs, path, nrow=GRID_COLS)
        return path

    @torch.no_grad()
    def divergence(self) -> str | None:
        """Why the run has diverged (see the module docstring), or None. One host sync."""
        models = [m for m in (self.G, self.D, self.G_ema) if m is not None]
        params = [p for m in models for p in m.parameters()]
        others = [b for m in models for b in m.buffers() if b.is_floating_point()]
        others += [v for opt in (self.opt_g, self.opt_d) for st in opt.state.values()
                   for k, v in st.items() if k != "step" and torch.is_tensor(v) and v.is_floating_point()]

        def peak(ts):  # max |x| over the tensors (NaN if any is NaN), on the device
            if not ts:
                return torch.zeros((), device=self.device)
            return torch.stack([n.float() for n in torch._foreach_norm(ts, math.inf)]).max().to(self.device)

        loss, weight, other = torch.stack([self.loss_peak.float(), peak(params), peak(others)]).tolist()
        if not math.isfinite(loss):
            return "loss became NaN/inf"
        if not math.isfinite(weight):
            return "weights became NaN/inf"
        if not math.isfinite(other):
            return "optimizer state or batch-norm statistics became NaN/inf"
        if loss > LOSS_BOUND:
            return f"loss blew up to {loss:.3g} (bound {LOSS_BOUND:g})"
        if weight > WEIGHT_BOUND:
            return f"weights blew up to {weight:.3g} in magnitude (bound {WEIGHT_BOUND:g})"
        return None

    def _check_finite(self, it: int, last_ok: int) -> None:
        why = self.divergence()
        if why:
            ck = self.out / "checkpoint.pt"
            keep = f"last good checkpoint kept: {ck} (iteration {last_ok})" if ck.exists() else "no checkpoint was written yet"
            self._write_run_json("diverged")
            raise TrainingDiverged(f"training diverged by iteration {it + 1}: {why}; training stopped, {keep}. "
                                   "Try a lower learning rate or another seed")

    def _write_run_json(self, status: str) -> None:
        atomic_write_json(self.out / "run.json", {
            "status": status, "step": self.step, "iters": self.cfg.iters, "schedule_iters": self.schedule_iters,
            "device": device_name(self.device),
            "precision": "bf16" if self.bf16 else "fp32", "library_version": __version__,
            "commit": git_commit(), "wall_time_s": round(self.elapsed, 2),
            "steps_per_s": round(self.step / self.elapsed, 3) if self.elapsed > 0 else None,
        })

    def save_checkpoint(self) -> None:
        atomic_torch_save(self.state_dict(), self.out / "checkpoint.pt")

    # ------------------------------------------------------------------ loop
    def run(self, progress: bool = True) -> Path:
        from tqdm.auto import tqdm

        cfg = self.cfg
        if self.step == 0 and not (self.out / "samples" / "step_0000000.png").exists():
            self.save_samples(0)
        self._write_run_json("running")
        last_ok = self.step
        bar = tqdm(total=cfg.iters, initial=self.step, disable=not progress, desc=cfg.preset or cfg.model,
                   unit="it", dynamic_ncols=True, mininterval=2.0)
        try:
            with _StopFlag() as stop:
                t0 = time.perf_counter()
                for it in range(self.step, cfg.iters):
                    self.iteration(it)
                    self.step = it + 1
                    bar.update(1)
                    done = self.step == cfg.iters
                    if self.step % cfg.log_every == 0 or done:
                        if self.device.type == "cuda":
                            torch.cuda.synchronize()
                        self.elapsed += time.perf_counter() - t0
                        t0 = time.perf_counter()
                        row = self._log_row(it)
                        self._write_log(row)
                        bar.set_postfix(loss_d=f"{row['loss_d']:.3f}", loss_g=f"{row['loss_g']:.3f}",
                                        acc_r=f"{row['d_src_acc_real']:.2f}", refresh=False)
                        self._check_finite(it, last_ok)
                    if self.step % cfg.sample_every == 0 or done:
                        self.save_samples(self.step)
                    if self.step % cfg.ckpt_every == 0 or done or stop.signum is not None:
                        self._check_finite(it, last_ok)
                        self.elapsed += time.perf_counter() - t0
                        t0 = time.perf_counter()
                        self.save_checkpoint()
                        last_ok = self.step
                        self._write_run_json("running" if not done else "complete")
                    if stop.signum is not None and not done:
                        self._write_run_json("interrupted")
                        raise KeyboardInterrupt(
                            f"interrupted at iteration {self.step}; checkpoint saved in {self.out}; "
                            f"continue with: python -m acgan_lib train --resume {self.out}")
        finally:
            bar.close()
        self._check_finite(self.step - 1, last_ok)
        final = self.state_dict(with_optim=False)
        atomic_torch_save(final, self.out / "final.pt")
        self._write_run_json("complete")
        return self.out


# ---------------------------------------------------------------------------- entry points
def _read_log_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _truncate_log(out: Path, step: int) -> None:
    """Drop log rows written after the checkpoint we resume from (they will be redone)."""
    path = out / "log.csv"
    rows = [r for r in _read_log_rows(path) if int(r["step"]) <= step]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        w.writeheader()
        w.writerows(rows)


def _final_step(out: Path) -> int:
    """The step of ``out/final.pt``; -1 when it is absent or unreadable."""
    try:
        return int(load_checkpoint(out / "final.pt")["step"]) if (out / "final.pt").exists() else -1
    except UserError:
        return -1


def _is_run_dir(out: Path) -> bool:
    return any((out / n).exists() for n in ("config.json", "checkpoint.pt", "final.pt", "log.csv"))


def train(cfg: Config, out, progress: bool = True) -> Path:
    """Start a new run of ``cfg`` in folder ``out`` (absent or empty) and train it to the end.
    Everything that can fail before the first iteration (device, data, batch size,
    ``init_from``) is checked before the folder is created."""
    validate(cfg)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    if out.exists():
        remove_stale_temps(out)
        if _is_run_dir(out):
            raise UserError(f"{out} already holds a run: continue it with `train --resume {out}` or choose another --out")
        held = sorted(p.name for p in out.iterdir())
        if held:
            more = f" and {len(held) - 3} more" if len(held) > 3 else ""
            raise UserError(f"--out {out} is not empty (holds {', '.join(held[:3])}{more}): a new run needs an "
                            "absent or empty folder")
    trainer = Trainer(cfg, out)
    if cfg.init_from:
        trainer.load_state_dict(load_checkpoint(cfg.init_from), weights_only=True)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", cfg.to_dict())
    return trainer.run(progress)


def resume(out, progress: bool = True, overrides: dict | list | None = None) -> Path:
    """Continue the run in ``out`` from ``checkpoint.pt``. ``overrides`` may change only
    ``iters`` (to train longer; the noise stages keep the boundaries of the original
    length) and the logging / device settings. A finished run is a :class:`UserError`
    saying there is nothing to do."""
    out = Path(out)
    ck = out / "checkpoint.pt"
    if not out.is_dir():
        raise UserError(f"cannot resume: {out} is not a run folder")
    remove_stale_temps(out)
    if not ck.exists():
        raise UserError(f"cannot resume: no checkpoint.pt in {out} (nothing to continue)")
    st = load_checkpoint(ck)
    if "opt_g" not in st:
        raise UserError(f"cannot resume from {ck}: it holds no optimizer state")
    base = dict(st["config"])
    if overrides:
        ov = parse_overrides(overrides) if isinstance(overrides, (list, tuple)) else dict(overrides)
        bad = sorted(set(ov) - RESUME_KEYS)
        if bad:
            raise UserError(f"cannot change {', '.join(bad)} when resuming (only {', '.join(sorted(RESUME_KEYS))})")
        base.update(ov)
    cfg = config_from_dict(base)
    if cfg.iters < int(st["step"]):
        raise UserError(f"iters={cfg.iters} is below the {st['step']} iterations already done")
    if cfg.iters == int(st["step"]) and _final_step(out) >= cfg.iters:
        raise UserError(f"nothing to do: the run in {out} is already complete ({cfg.iters} iterations); "
                        f"to train longer: train --resume {out} iters=N")
    trainer = Trainer(cfg, out)
    trainer.load_state_dict(st)
    _truncate_log(out, trainer.step)
    atomic_write_json(out / "config.json", cfg.to_dict())
    return trainer.run(progress)


def train_or_load(cfg: Config, out, progress: bool = True) -> Path:
    """For the book: "load the checkpoint if it exists, else train". A finished run with the
    same config is reused as is; an unfinished one is resumed; otherwise a new run starts.
    A folder holding a run with a *different* config is an error (nothing is overwritten)."""
    out = Path(out)
    if out.exists() and _is_run_dir(out):
        if (out / "config.json").exists():
            diff = Run(out).differs(cfg)
            if diff:
                raise UserError(f"{out} holds a run with a different config ({', '.join(diff)}); "
                                "delete it or use another folder")
        if (out / "final.pt").exists() and load_checkpoint(out / "final.pt")["step"] >= cfg.iters:
            return out
        if (out / "checkpoint.pt").exists():
            return resume(out, progress, {"iters": cfg.iters})
        raise UserError(f"{out} holds an unfinished run without checkpoint; delete it to start again")
    return train(cfg, out, progress)


__all__ = ["train", "resume", "train_or_load", "read_log", "Trainer", "TrainingDiverged", "make_config"]
