"""Reading a run folder: the one reader of what :class:`acgan_lib.train.Trainer` writes.

A run folder holds ``config.json`` (the validated :class:`~acgan_lib.config.Config`),
``run.json`` (status, device, commit, wall time), ``log.csv`` (window means of the losses
and D's accuracies), ``samples/step_NNNNNNN.png`` (fixed-noise grids, one row per class,
written by :func:`acgan_lib.sample.save_grid`) and the checkpoints. Everything that reads
a run (the book's figures and tables, ``train_or_load``) goes through :class:`Run`::

    run = Run("runs/book/cpu/acgan-fmnist")
    run.cfg.iters, run.info["wall_time_s"], run.summary()["d_cls_acc_real"]
    images, labels = run.grid()          # the last fixed-noise grid as tensors
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from .config import Config, config_from_dict
from .data import dataset_info
from .sample import GRID_PAD
from .utils import UserError

# config keys that may differ between a run folder and a request to continue it
RESUME_KEYS = {"iters", "log_every", "sample_every", "ckpt_every", "device", "data_root", "compile", "fast_step"}
LOG_KEYS = ("loss_d", "loss_g", "d_src_acc_real", "d_src_acc_fake", "d_cls_acc_real", "d_cls_acc_fake")


def read_log(path) -> list[dict]:
    """Rows of a ``log.csv`` with numbers parsed (empty cells as NaN); [] when absent."""
    path = Path(path)
    path = path / "log.csv" if path.is_dir() else path
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: (float(v) if v not in ("", None) else math.nan) for k, v in r.items()}
                for r in csv.DictReader(f)]


@dataclass(frozen=True)
class Run:
    """A training run folder, read lazily."""

    path: Path

    def __init__(self, path):
        object.__setattr__(self, "path", Path(path.path if isinstance(path, Run) else path))

    @cached_property
    def cfg(self) -> Config:
        """The run's config, rebuilt and validated from ``config.json``."""
        if not (self.path / "config.json").exists():
            raise UserError(f"{self.path} is not a run folder (no config.json)")
        return config_from_dict(json.loads((self.path / "config.json").read_text()))

    @cached_property
    def info(self) -> dict:
        """``run.json``: status, step, device, commit, wall time, steps per second."""
        p = self.path / "run.json"
        return json.loads(p.read_text()) if p.exists() else {}

    @property
    def name(self) -> str:
        return self.path.name

    def __fspath__(self) -> str:  # a Run is usable wherever its folder is
        return str(self.path)

    def __truediv__(self, other) -> Path:
        return self.path / other

    def __str__(self) -> str:
        return str(self.path)

    @property
    def class_names(self) -> list[str] | None:
        """Names of the classes G is conditioned on, in label order (None for DCGAN)."""
        if self.cfg.model == "dcgan":
            return None
        info = dataset_info(self.cfg.dataset)
        return [info.classes[i] for i in self.cfg.class_ids(len(info.classes))]

    def differs(self, cfg: Config) -> list[str]:
        """Config keys (other than :data:`RESUME_KEYS`) in which ``cfg`` differs from the run's
        (a key missing from an older run's ``config.json`` has its default, as when it is read)."""
        saved, mine = json.loads((self.path / "config.json").read_text()), cfg.to_dict()
        default = Config().to_dict()
        return sorted(k for k in mine if k not in RESUME_KEYS and saved.get(k, default[k]) != mine[k])

    # ------------------------------------------------------------------ log
    def log(self) -> list[dict]:
        return read_log(self.path / "log.csv")

    def summary(self, frac: float | None = 0.1, upto: float | None = None) -> dict:
        """Means of the logged losses and D accuracies over the last ``frac`` of training (at
        least one log row): the "final" values quoted in the chapters. With ``upto``, over
        the rows of the first ``upto`` of training instead (e.g. 1/3: the first noise stage)."""
        rows = self.log()
        if not rows:
            return {}
        if upto is not None:
            sel = [r for r in rows if r["step"] <= upto * rows[-1]["step"]] or rows[:1]
        else:
            sel = rows[-max(1, int(round(len(rows) * (frac or 0.1)))):]
        out = {}
        for k in LOG_KEYS:
            vals = [r[k] for r in sel if not math.isnan(r.get(k, math.nan))]
            if vals:
                out[k] = sum(vals) / len(vals)
        out["step"] = int(rows[-1]["step"])
        return out

    def peak(self, key: str) -> float | None:
        """Largest logged window mean of ``key`` (e.g. 004's "peak" accuracies)."""
        vals = [r[key] for r in self.log() if not math.isnan(r.get(key, math.nan))]
        return max(vals) if vals else None

    # ------------------------------------------------------------------ sample grids
    def sample_steps(self) -> list[int]:
        """Steps at which the run saved a fixed-noise sample grid."""
        return sorted(int(p.stem.split("_")[1]) for p in (self.path / "samples").glob("step_*.png"))

    def grid_path(self, step: int | None = None) -> tuple[Path, int]:
        """The grid saved at ``step`` (the nearest saved one; default the last) and its step."""
        steps = self.sample_steps()
        if not steps:
            raise UserError(f"{self.path} has no sample grids")
        step = steps[-1] if step is None else min(steps, key=lambda s: abs(s - step))
        return self.path / "samples" / f"step_{step:07d}.png", step

    def grid(self, step: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The images of a saved grid as floats ``(N, C, H, W)`` in [-1, 1] (8-bit precision),
        row-major, and the label of each image's row (None for DCGAN): the inverse of
        :func:`acgan_lib.sample.save_grid`."""
        from PIL import Image

        path, _ = self.grid_path(step)
        img = np.asarray(Image.open(path).convert("RGB")).astype(np.float32) / 127.5 - 1.0
        s, pad = self.cfg.image_size, GRID_PAD
        rows, cols = (img.shape[0] - pad) // (s + pad), (img.shape[1] - pad) // (s + pad)
        tiles = [img[pad + r * (s + pad):pad + r * (s + pad) + s, pad + c * (s + pad):pad + c * (s + pad) + s]
                 for r in range(rows) for c in range(cols)]
        x = torch.from_numpy(np.stack(tiles)).permute(0, 3, 1, 2)
        x = x[:, :dataset_info(self.cfg.dataset).channels]
        labels = None if self.cfg.model == "dcgan" else torch.arange(rows).repeat_interleave(cols)
        return x.contiguous(), labels
