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

Two paths compute the same iteration (``fast_step``, see :class:`FastStep`): the eager path
(CPU default; what every committed chapter ran) and the fast path for GPUs, which replays the
whole iteration as one captured CUDA graph. Neither synchronises with the host inside an
iteration; ``run.json`` records which path trained the run.

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
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import torch

from . import __version__, losses
from .config import FAST_STEPS, Config, config_from_dict, make_config, parse_overrides, validate
from .data import load_training_data
from .models import GaussianNoise, build_models, set_noise_std
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
FAST_WARMUP = 3     # iterations the fast path runs uncaptured before it captures the graph


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


# ---------------------------------------------------------------------------- the fast step
def fast_step_mode(cfg: Config) -> str:
    """``cfg.fast_step``, or ``$ACGAN_FAST_STEP`` when set (the device job sets ``off``
    after a failed self-check)."""
    env = os.environ.get("ACGAN_FAST_STEP", "").strip()
    if not env:
        return cfg.fast_step
    if env.lower() not in FAST_STEPS:
        raise UserError(f"bad value for ACGAN_FAST_STEP: '{env}' (choose from {', '.join(FAST_STEPS)})")
    return env.lower()


def _fast_adam(eager: torch.optim.Adam, lr: torch.Tensor, capture: bool) -> torch.optim.Adam:
    """A fused Adam over the parameters of ``eager`` that continues its state, with the
    learning rate read from the 0-dim device tensor ``lr`` (``capturable`` on CUDA)."""
    params = [p for g in eager.param_groups for p in g["params"]]
    fast = torch.optim.Adam(params, lr=lr, fused=True, capturable=capture)
    sd = copy.deepcopy(eager.state_dict())  # load_state_dict would otherwise share the moments
    for g in sd["param_groups"]:
        g.update(fused=True, capturable=capture, foreach=None)
    fast.load_state_dict(sd)  # hyper-parameters and moments; "step" moves to the device
    for g in fast.param_groups:
        g["lr"] = lr
    return fast


def _eager_format(sd: dict, lrs: list[float]) -> dict:
    """A fast optimizer's state dict as the eager Adam writes it (float lr, host steps), so
    checkpoints do not depend on the path that wrote them."""
    state = {i: {k: v.detach().to("cpu", torch.float32) if k == "step" else v for k, v in st.items()}
             for i, st in sd["state"].items()}
    groups = [dict(g, lr=lr, fused=None, capturable=False, foreach=None) for g, lr in zip(sd["param_groups"], lrs)]
    return {"state": state, "param_groups": groups}


@torch.no_grad()
def weights_rel_err(a: torch.nn.Module, b: torch.nn.Module) -> float:
    """``||w_a - w_b|| / ||w_b||`` over all parameters of two copies of one network (one
    vector): how far the fast path's weights are from the eager path's. A max over single
    elements would be dominated by parameters whose gradient is only rounding noise (conv
    biases before batch norm), which Adam turns into steps of +-lr either way."""
    pa, pb = [p.detach().float().flatten() for p in a.parameters()], [p.detach().float().flatten() for p in b.parameters()]
    wa, wb = torch.cat(pa), torch.cat(pb)
    return float((wa - wb).norm() / wb.norm().clamp_min(1e-30))


class FastStep:
    """The fast path of :meth:`Trainer.iteration`: the whole iteration (D and G updates, EMA,
    log-window sums, loss peak) as one function over static buffers, captured once as a CUDA
    graph and replayed every iteration. What it is for: the small GAN models leave a GPU
    idle between kernel launches; a replayed graph launches the iteration's hundreds of
    kernels at once, with no Python in between.

    The rules a captured graph imposes (PyTorch, "CUDA Graphs"), and how they are met here:

    * static buffers: a replay reads and writes the addresses it captured. The batch
      indices are copied into ``idx`` (the gather from the device-resident training set
      happens inside the graph); window sums and the loss peak are added to in place.
    * whatever changes during training lives in 0-dim device tensors written in place
      before a replay (and only when the value changes): the learning rates (Adam with
      ``fused=True``, ``capturable=True`` on CUDA, tensor lr), the activation-noise std
      (:class:`~acgan_lib.models.common.GaussianNoise`'s buffer) and the EMA weight. A
      Python number would be frozen into the graph at capture.
    * warm-up: :data:`FAST_WARMUP` real training iterations run uncaptured on a side stream
      (cuDNN autotuning, optimizer state, allocator) before the capture; autocast runs with
      ``cache_enabled=False``.
    * no host synchronisation and no Python branch on a tensor value inside the iteration.
    * randomness: ``torch.manual_seed(seed of iteration it)`` before every replay; a graph
      reads the generator's seed and offset when it is replayed, so iteration ``it`` draws
      what the eager path draws (while the noise std is > 0, see GaussianNoise).

    On CPU (``fast_step=on``) the same function runs uncaptured: that is how the tests
    compare it with the eager path. A failure during warm-up or capture costs one printed
    line: the trainer restores the state from before that iteration and trains eagerly
    (:meth:`Trainer._fall_back`).
    """

    def __init__(self, tr: "Trainer", capture: bool):
        self.tr, self.capture = tr, capture
        cfg, dev = tr.cfg, tr.device
        self.graph = None
        self.calls = 0
        self.idx = torch.zeros(cfg.d_steps, cfg.batch_size, dtype=torch.long, device=dev)
        self.lr_g, self.lr_d, self.ema_w = (torch.zeros((), device=dev) for _ in range(3))
        self.host: dict[str, float] = {}  # the values last written into the device scalars
        self.stream = torch.cuda.Stream(dev) if capture else None
        opts = _fast_adam(tr.opt_g, self.lr_g, capture), _fast_adam(tr.opt_d, self.lr_d, capture)
        # nothing of the trainer changes before this point (a failure leaves it as it was)
        self.eager_opts = (tr.opt_g, tr.opt_d)
        tr.opt_g, tr.opt_d = opts
        tr.win = {k: v.clone() for k, v in tr.win.items()}
        tr.loss_peak = tr.loss_peak.clone()
        self.noise_layers = [m for m in tr.D.modules() if isinstance(m, GaussianNoise)]
        draws = any(std > 0 for _, std in cfg.noise_stages())
        for m in self.noise_layers:
            m.static = draws  # a schedule that is 0 throughout never draws, on both paths

    def _set(self, key: str, value: float, write) -> None:
        if self.host.get(key) != value:
            write(value)
            self.host[key] = value

    def __call__(self, it: int) -> None:
        tr, cfg = self.tr, self.tr.cfg
        torch.manual_seed(_iter_seed(cfg.seed, it))
        for k in range(cfg.d_steps):  # indices as the eager path draws them
            self.idx[k].copy_(tr.data.indices(it * cfg.d_steps + k, cfg.batch_size))
        self._set("lr_g", tr._lr(cfg.lr_g, it), self.lr_g.fill_)
        self._set("lr_d", tr._lr(cfg.lr_d, it), self.lr_d.fill_)
        self._set("noise", cfg.noise_std_at(it, tr.schedule_iters), lambda v: set_noise_std(tr.D, v))
        if tr.G_ema is not None:
            self._set("ema_w", 1.0 - tr._ema_decay(it), self.ema_w.fill_)
        tr.G.train()
        tr.D.train()
        if self.graph is not None:
            self.graph.replay()
        elif not self.capture:
            self.body(it)
        elif self.calls < FAST_WARMUP:
            self.stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.stream):
                self.body(it)
            torch.cuda.current_stream().wait_stream(self.stream)
        else:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self.body(it)
            self.graph = graph
            torch.manual_seed(_iter_seed(cfg.seed, it))
            graph.replay()  # capturing ran nothing: this is iteration it
        tr.win_n += 1
        self.calls += 1

    def body(self, it: int) -> None:
        """The captured function: the shared updates, then the statistics added in place."""
        tr = self.tr
        stats = tr._updates(it, self)
        with torch.no_grad():
            for key, v in stats.items():
                if key in tr.win:
                    tr.win[key].add_(v)
                else:  # first (uncaptured) call of a window: the keys are fixed from here on
                    tr.win[key] = v.clone()
            torch.maximum(tr.loss_peak, torch.maximum(stats["loss_d"].abs(), stats["loss_g"].abs()),
                          out=tr.loss_peak)

    def opt_states(self) -> tuple[dict, dict]:
        """Both optimizers' states in the eager format (for checkpoints)."""
        return tuple(_eager_format(opt.state_dict(), [self.host.get(key, g["lr"]) for g in eager.param_groups])
                     for opt, eager, key in ((self.tr.opt_g, self.eager_opts[0], "lr_g"),
                                             (self.tr.opt_d, self.eager_opts[1], "lr_d")))


class Trainer:
    """Owns the models, optimizers and run folder of one run; :meth:`run` trains it.

    ``data`` (``(DeviceData, DatasetInfo, class_ids)``) replaces the config's training set
    (the self-check and the benchmark use stand-in data of the dataset's shape);
    ``fast_step`` overrides the config's and ``$ACGAN_FAST_STEP``."""

    def __init__(self, cfg: Config, out: Path, data: tuple | None = None, fast_step: str | None = None):
        self.cfg, self.out = cfg, Path(out)
        self.device = resolve_device(cfg.device)
        self.bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and bf16_is_fast(self.device))
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.data, self.info, self.class_ids = data if data is not None else load_training_data(cfg, self.device)
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
        self.fast: FastStep | None = None  # built at the first iteration (after any load_state_dict)
        self.fast_path, self.fast_note = self._choose_path(fast_step or fast_step_mode(cfg))

    def _choose_path(self, mode: str) -> tuple[str, str]:
        """(path, why): ``graphs`` (fast, captured), ``eager (uncaptured)`` (the fast
        function without capture: CPU with ``fast_step=on``) or ``eager``."""
        if mode not in FAST_STEPS:
            raise UserError(f"bad value for fast_step: '{mode}' (choose from {', '.join(FAST_STEPS)})")
        if mode == "off":
            return "eager", "fast_step=off"
        if self.cfg.compile:
            if self.device.type == "cuda":
                print("fast step: capture refused (compile=true: torch.compile makes its own graphs); "
                      "training eagerly", flush=True)
            return "eager", "compile=true"
        if self.device.type == "cuda":
            return "graphs", ""
        if mode == "on":
            return "eager (uncaptured)", f"no CUDA graphs on {self.device.type}"
        return "eager", f"fast_step=auto on {self.device.type}"

    # ------------------------------------------------------------------ state
    def state_dict(self, with_optim: bool = True) -> dict:
        st = {"format": CKPT_FORMAT, "step": self.step, "config": self.cfg.to_dict(),
              "schedule_iters": self.schedule_iters,
              "class_ids": self.class_ids, "class_names": [self.info.classes[c] for c in self.class_ids],
              "channels": self.info.channels, "G": self.G.state_dict(), "D": self.D.state_dict(),
              "G_ema": self.G_ema.state_dict() if self.G_ema is not None else None,
              "library": {"version": __version__, "commit": git_commit()}, "elapsed_s": self.elapsed}
        if with_optim:
            opt_g, opt_d = self.fast.opt_states() if self.fast else (self.opt_g.state_dict(), self.opt_d.state_dict())
            st.update(opt_g=opt_g, opt_d=opt_d, win={k: v.detach().cpu() for k, v in self.win.items()},
                      win_n=self.win_n)
        return st

    def load_state_dict(self, st: dict, weights_only: bool = False) -> None:
        if self.fast is not None:
            self._leave_fast()
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
        # no weight-cast cache under the fast step: a CUDA graph must not capture it
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16,
                              cache_enabled=False if self.fast is not None else None)

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
        updates (:meth:`g_step`), the EMA of G and the log window's statistics. On the fast
        path (:attr:`fast_path`) :class:`FastStep` runs it."""
        if self.fast_path != "eager":
            return self._fast_iteration(it)
        cfg = self.cfg
        torch.manual_seed(_iter_seed(cfg.seed, it))
        for grp in self.opt_g.param_groups:
            grp["lr"] = self._lr(cfg.lr_g, it)
        for grp in self.opt_d.param_groups:
            grp["lr"] = self._lr(cfg.lr_d, it)
        set_noise_std(self.D, cfg.noise_std_at(it, self.schedule_iters))
        self.G.train()
        self.D.train()
        stats = self._updates(it)
        # metrics of this iteration, kept on the device until the next log row
        with torch.no_grad():
            self.loss_peak = torch.maximum(self.loss_peak, torch.maximum(stats["loss_d"].abs(), stats["loss_g"].abs()))
            for key, v in stats.items():
                self.win[key] = self.win[key] + v if key in self.win else v.clone()
            self.win_n += 1

    def _updates(self, it: int, fast: FastStep | None = None) -> dict:
        """The updates of iteration ``it``, the same on both paths, and its statistics
        (device tensors). ``fast``: the real batches come from its index buffer and the EMA
        weight from its device scalar."""
        cfg = self.cfg
        for k in range(cfg.d_steps):
            if fast is None:
                x_real, y_real = self.data.batch(it * cfg.d_steps + k, cfg.batch_size)
            else:
                x_real, y_real = self.data.gather(fast.idx[k])
            loss_d, out_r, out_f, x_fake, y_fake = self.d_step(x_real, y_real, k == cfg.d_steps - 1)
        for k in range(cfg.g_steps):
            if k > 0:
                x_fake, y_fake = self._fake(cfg.batch_size)
            loss_g = self.g_step(x_fake, y_fake)
        if self.G_ema is not None:
            self._update_ema(it, None if fast is None else fast.ema_w)
        with torch.no_grad():
            stats = {"loss_d": loss_d.detach().float(), "loss_g": loss_g.detach().float()}
            stats.update(losses.d_accuracies({k: v.detach() for k, v in out_r.items()},
                                             {k: v.detach() for k, v in out_f.items()}, y_real, y_fake, cfg.aux_loss))
        return stats

    def _ema_decay(self, it: int) -> float:
        return self.cfg.ema if it >= self.cfg.ema_start else 0.0

    @torch.no_grad()
    def _update_ema(self, it: int, weight: torch.Tensor | None = None) -> None:
        """EMA of G's weights (BN statistics copied). ``weight``: 1 - decay as a device
        scalar (the fast step); otherwise the decay of iteration ``it``."""
        ema_p, p = list(self.G_ema.parameters()), list(self.G.parameters())
        if weight is None:
            torch._foreach_lerp_(ema_p, p, 1.0 - self._ema_decay(it))
        else:
            for e, q in zip(ema_p, p):
                e.lerp_(q, weight)
        for be, b in zip(self.G_ema.buffers(), self.G.buffers()):
            be.copy_(b)

    # ------------------------------------------------------------------ the fast path
    def _fast_iteration(self, it: int) -> None:
        if self.fast_path != "graphs":  # uncaptured (CPU): failures are raised like eager ones
            self.fast = self.fast or FastStep(self, capture=False)
            return self.fast(it)
        if self.fast is not None and self.fast.graph is not None:
            return self.fast(it)
        snap = self._snapshot()  # warm-up and capture: a failure costs one line, never the run
        try:
            self.fast = self.fast or FastStep(self, capture=True)
            self.fast(it)
        except Exception as e:  # noqa: BLE001 - whatever failed, the answer is: train eagerly
            self._fall_back(snap, e)
            self.iteration(it)

    def _snapshot(self) -> dict:
        models = {"G": self.G.state_dict(), "D": self.D.state_dict(),
                  "G_ema": self.G_ema.state_dict() if self.G_ema is not None else None}
        opt_g, opt_d = self.fast.opt_states() if self.fast else (self.opt_g.state_dict(), self.opt_d.state_dict())
        return copy.deepcopy({**models, "opt_g": opt_g, "opt_d": opt_d, "win": self.win, "win_n": self.win_n,
                              "loss_peak": self.loss_peak})

    def _leave_fast(self, carry: bool = True) -> None:
        """Back to the eager optimizers (``carry``: with the fast ones' state) and noise layers."""
        fast, self.fast = self.fast, None
        states = fast.opt_states() if carry else None
        self.opt_g, self.opt_d = fast.eager_opts
        if states:
            self.opt_g.load_state_dict(states[0])
            self.opt_d.load_state_dict(states[1])
        for m in fast.noise_layers:
            m.static = False
        for p in [*self.G.parameters(), *self.D.parameters()]:
            p.grad = None  # may live in a failed graph's memory pool

    def _fall_back(self, snap: dict, err: Exception) -> None:
        """After a failed warm-up or capture: restore ``snap`` (the state before the failed
        iteration), print one line and train eagerly from here on."""
        why = " ".join(f"{type(err).__name__}: {err}".split())[:200]
        print(f"fast step: capture failed ({why}); training eagerly", flush=True)
        if self.device.type == "cuda":
            with contextlib.suppress(Exception):
                torch.cuda.synchronize()
        if self.fast is not None:
            self._leave_fast(carry=False)
        self.G.load_state_dict(snap["G"])
        self.D.load_state_dict(snap["D"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(snap["G_ema"])
        self.opt_g.load_state_dict(snap["opt_g"])
        self.opt_d.load_state_dict(snap["opt_d"])
        self.win, self.win_n, self.loss_peak = snap["win"], snap["win_n"], snap["loss_peak"]
        self.fast_path, self.fast_note = "eager", f"capture failed ({why})"

    # ------------------------------------------------------------------ outputs
    def _log_row(self, it: int) -> dict:
        n = max(self.win_n, 1)
        row = {"step": it + 1, "epoch": round((it + 1) / self.steps_per_epoch, 4)}
        for key in LOG_FIELDS[2:8]:
            row[key] = (self.win[key] / n).item() if key in self.win else ""
        row.update(noise_std=self.cfg.noise_std_at(it, self.schedule_iters), lr_g=self._lr(self.cfg.lr_g, it),
                   lr_d=self._lr(self.cfg.lr_d, it), elapsed_s=round(self.elapsed, 2))
        self._reset_window()
        return row

    def _reset_window(self) -> None:
        if self.fast is not None:  # the fast step adds into these tensors in place
            for v in self.win.values():
                v.zero_()
        else:
            self.win = {}
        self.win_n = 0

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
            "fast_step": self.fast_path, **({"fast_step_note": self.fast_note} if self.fast_note else {}),
        })

    def save_checkpoint(self) -> None:
        atomic_torch_save(self.state_dict(), self.out / "checkpoint.pt")

    # ------------------------------------------------------------------ loop
    def run(self, progress: bool = True) -> Path:
        from .utils import tqdm

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


# ---------------------------------------------------------------------------- self-check
SELFCHECK_TOL = {"bf16": 5e-2, "fp32": 1e-2}  # relative, on weights (per network) and on each loss


def _commit() -> str:
    """The git commit, or the one in ``_build/manifest.json`` (the device's copy has no git)."""
    sha = git_commit()
    manifest = Path(__file__).resolve().parents[1] / "_build" / "manifest.json"
    if sha == "unknown" and manifest.exists():
        with contextlib.suppress(OSError, ValueError, AttributeError):
            import json
            sha = str(json.loads(manifest.read_text()).get("commit", sha))
    return sha


def selfcheck(preset: str = "acgan-fmnist", max_seconds: float = 30.0, device: str = "auto",
              iters: int | None = None, overrides: list | dict | None = None) -> dict:
    """Does the fast path compute what the eager path computes, on this machine? The device
    job's first step (it trains eagerly when this fails).

    Builds ``preset`` twice from the same seed (its real training set when present, else
    random images of the dataset's shape) and runs ``iters`` iterations on each path on the
    same seeds and batches: on a GPU the preset's batch and precision, :data:`FAST_WARMUP`
    uncaptured iterations, the capture, then replays; on CPU batch 4 in fp32 (uncaptured).
    An AC-GAN's noise schedule is replaced by 0.2 then 0.1 from three iterations before the
    end (inside the replays; > 0 throughout, so both paths draw the same numbers). Passes
    when the fast path ran as planned, every loss and weight is finite, and the weights
    (:func:`weights_rel_err`, per network) and each iteration's losses are within
    :data:`SELFCHECK_TOL` relative (bf16 5e-2, fp32 1e-2). ``overrides``: config overrides
    on top (e.g. a smaller ``width`` for a quick CPU test). Returns the JSON record."""
    from .data import is_available, synthetic_training_data

    t0 = time.perf_counter()
    if not max_seconds > 0:
        raise UserError(f"--max-seconds must be > 0, got {max_seconds:g}")
    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    n = iters if iters is not None else (FAST_WARMUP + 5 if cuda else 5)
    if n < 2:
        raise UserError(f"--iters must be at least 2, got {n}")
    extra = parse_overrides(overrides) if isinstance(overrides, (list, tuple)) else dict(overrides or {})
    over = dict(extra, device=device, iters=n, log_every=n, sample_every=n, ckpt_every=n)
    if not cuda:
        over.update({"batch_size": 4, "precision": "fp32", **extra})
    boundary = None
    if make_config(preset, over).model == "acgan":
        boundary = max(1, n - 3)
        over["noise"] = f"0.2,0.1@{boundary / n:.9g}"
    cfg = make_config(preset, over)
    res = {"passed": False, "fast_path": "", "device": device_name(dev), "torch": torch.__version__,
           "cuda": torch.version.cuda, "commit": _commit(), "preset": preset, "max_rel_err": None,
           "max_loss_rel_err": None, "tolerance": None, "iterations": n, "batch_size": cfg.batch_size,
           "noise": cfg.noise, "noise_boundary_iteration": boundary, "data": "", "seconds": None, "reason": ""}
    try:
        if is_available(cfg.dataset, cfg.data_root or None):
            data, res["data"] = load_training_data(cfg, dev), "real"
        else:
            data, res["data"] = synthetic_training_data(cfg, dev), "synthetic (the training set is not here)"
        runs = {}
        with tempfile.TemporaryDirectory() as tmp:
            for mode in ("off", "on"):
                tr = Trainer(cfg, Path(tmp) / mode, data=data, fast_step=mode)
                seen = []
                for it in range(n):
                    if time.perf_counter() - t0 > max_seconds:
                        raise TimeoutError(f"time limit of {max_seconds:g} s reached ({mode}, iteration {it})")
                    tr.iteration(it)
                    seen.append(torch.stack([tr.win["loss_d"], tr.win["loss_g"]]).tolist())  # a sync: fine here
                    tr._reset_window()
                runs[mode] = tr, seen
        (eager, le), (fast, lf) = runs["off"], runs["on"]
        prec = "bf16" if fast.bf16 else "fp32"
        tol = SELFCHECK_TOL[prec]
        pairs = [(fast.G, eager.G), (fast.D, eager.D)] + ([(fast.G_ema, eager.G_ema)] if eager.G_ema else [])
        w_err = max(weights_rel_err(a, b) for a, b in pairs)
        l_err = max(abs(a - b) / max(abs(b), 1e-3) for ra, rb in zip(lf, le) for a, b in zip(ra, rb))
        res.update(fast_path=fast.fast_path, precision=prec, tolerance=tol, max_rel_err=w_err, max_loss_rel_err=l_err)
        planned = "graphs" if cuda else "eager (uncaptured)"
        if fast.fast_path != planned:
            res["reason"] = f"the fast path did not run as {planned}: {fast.fast_note or fast.fast_path}"
        elif not all(math.isfinite(x) for x in [w_err, l_err] + [v for r in le + lf for v in r]):
            res["reason"] = "a loss or weight is NaN/inf"
        elif w_err > tol or l_err > tol:
            res["reason"] = f"fast and eager differ: weights {w_err:.3g}, losses {l_err:.3g} (tolerance {tol:g})"
        else:
            res["passed"] = True
            res["steps_per_s"] = _steps_per_s(fast, n, max_seconds - (time.perf_counter() - t0))
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - a failed check is a result, not a crash
        res["reason"] = " ".join(f"{type(e).__name__}: {e}".split())[:300]
    res["seconds"] = round(time.perf_counter() - t0, 2)
    return res


def _steps_per_s(tr: Trainer, start: int, seconds_left: float, steps: int = 50) -> float | None:
    """Iterations per second of ``tr``'s path over up to ``steps`` more iterations (no sync
    inside; one at the end), for the device job's time estimates; None without time left."""
    steps = min(steps, 3 if tr.device.type != "cuda" else steps)
    if seconds_left < 5:
        return None
    sync = torch.cuda.synchronize if tr.device.type == "cuda" else (lambda: None)
    sync()
    t = time.perf_counter()
    for it in range(start, start + steps):
        tr.iteration(it)
    sync()
    return round(steps / (time.perf_counter() - t), 2)


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


__all__ = ["train", "resume", "train_or_load", "read_log", "Trainer", "TrainingDiverged", "make_config", "FastStep",
           "selfcheck"]
