"""The book's standard figures: training curves, fixed-noise sample grids (one step or over
time), run comparisons, the three-model diagram and the layer table of a model.

Every function displays its figure once (the executed notebook is its only copy);
``save_as="name"`` names it in the output's metadata.
"""
from __future__ import annotations

import numpy as np

from ..config import make_config
from ..data import dataset_info
from ..metrics.diversity import pixel_diversity
from ..models import build_models
from ..models.common import layer_table
from ..runs import Run
from .core import show

LABELS = {
    "loss_d": "D loss", "loss_g": "G loss",
    "d_src_acc_real": "D source acc., real", "d_src_acc_fake": "D source acc., fake",
    "d_cls_acc_real": "D class acc., real", "d_cls_acc_fake": "D class acc., fake",
    "noise_std": "activation-noise std",
}


def _plt():
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({"figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3,
                                "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _log(run_dir):
    rows = Run(run_dir).log()
    if not rows:
        raise ValueError(f"{run_dir} has no log rows yet")
    return {k: np.array([r[k] for r in rows], dtype=float) for k in rows[0]}


def _has(col) -> bool:
    return col is not None and np.isfinite(col).any()


def _run_label(run_dir) -> str:
    return Run(run_dir).name


# ----------------------------------------------------------------------------- curves
def plot_losses(run_dir, title: str | None = None, save_as: str | None = None) -> None:
    """Loss curves of D and G (left) and D's accuracies (right: source accuracy on real
    and fake images, class accuracy when D has a classifier), with the activation-noise
    schedule when the run used one. Values are window means over ``log_every`` iterations."""
    plt = _plt()
    log = _log(run_dir)
    step = log["step"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    for k in ("loss_d", "loss_g"):
        a.plot(step, log[k], label=LABELS[k])
    a.set_xlabel("iteration")
    a.set_ylabel("loss")
    a.legend()
    for k, style in (("d_src_acc_real", "-"), ("d_src_acc_fake", "-"), ("d_cls_acc_real", "--"),
                     ("d_cls_acc_fake", "--")):
        if _has(log.get(k)):
            b.plot(step, log[k], style, label=LABELS[k])
    b.set_ylim(-0.02, 1.02)
    b.set_xlabel("iteration")
    b.set_ylabel("accuracy")
    if _has(log.get("noise_std")) and np.nanmax(log["noise_std"]) > 0:
        c = b.twinx()
        c.step(step, log["noise_std"], where="post", color="0.5", lw=1, ls=":", label=LABELS["noise_std"])
        c.set_ylabel("noise std", color="0.4")
        c.grid(False)
        c.set_ylim(0, max(0.05, np.nanmax(log["noise_std"]) * 1.3))
        c.legend(loc="lower right", fontsize=8)
    b.legend(loc="lower left", fontsize=8)
    fig.suptitle(title or _run_label(run_dir))
    fig.tight_layout()
    show(fig, save_as)


def compare_runs(runs: dict, keys=("d_src_acc_real", "d_src_acc_fake", "d_cls_acc_real"),
                 title: str | None = None, save_as: str | None = None, smooth: int = 1) -> None:
    """One panel per logged quantity in ``keys``, one line per run (``{label: run_dir}``);
    ``smooth`` > 1 applies a running mean over that many log rows."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4), squeeze=False)
    for label, run_dir in runs.items():
        log = _log(run_dir)
        for ax, k in zip(axes[0], keys):
            y = log.get(k)
            if not _has(y):
                continue
            x = log["step"]
            if smooth > 1 and len(y) >= 3 * smooth:  # running mean, only when there is enough to smooth
                y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
                x = x[smooth - 1:]
            ax.plot(x, y, marker="o" if len(x) < 20 else None, ms=3, label=label)
    for ax, k in zip(axes[0], keys):
        ax.set_title(LABELS.get(k, k), fontsize=10)
        ax.set_xlabel("iteration")
        if "acc" in k:
            ax.set_ylim(-0.02, 1.02)
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    show(fig, save_as)


def plot_series(series: dict, xlabel: str, ylabel: str, title: str | None = None,
                hline: tuple[float, str] | None = None, save_as: str | None = None, logx: bool = False) -> None:
    """Simple line plot of ``{label: (x, y)}`` (e.g. a metric over training steps), with an
    optional reference line ``(value, label)``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, (x, y) in series.items():
        ax.plot(x, y, marker="o", ms=3, label=label)
    if hline is not None:
        ax.axhline(hline[0], color="0.4", ls="--", lw=1, label=hline[1])
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    show(fig, save_as)


# ----------------------------------------------------------------------------- grids
def show_grid(run_dir, step: int | None = None, title: str | None = None, save_as: str | None = None,
              ax=None) -> None:
    """The run's fixed-noise sample grid at ``step`` (default: the last one). Rows are the
    classes (labelled) for conditional models; each column shares one latent vector z."""
    from PIL import Image

    plt = _plt()
    run = Run(run_dir)
    path, step = run.grid_path(step)
    img = np.asarray(Image.open(path))
    own = ax is None
    if own:
        h = 5.2 * img.shape[0] / img.shape[1]
        fig, ax = plt.subplots(figsize=(5.6, max(1.2, h)))
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
    labels = run.class_names
    ax.set_xticks([])
    ax.grid(False)
    if labels:
        n = len(labels)
        ax.set_yticks([(i + 0.5) * img.shape[0] / n for i in range(n)], labels, fontsize=7)
    else:
        ax.set_yticks([])
    ax.set_title(title or f"{_run_label(run_dir)}, iteration {step}", fontsize=9)
    if own:
        fig.tight_layout()
        show(fig, save_as)


def grids_over_time(run_dir, n: int = 4, steps: list[int] | None = None, title: str | None = None,
                    save_as: str | None = None) -> None:
    """The fixed-noise grid at ``n`` steps spread over training (first, ..., last): the same
    latent vectors, so the panels show how G's output for them evolves."""
    plt = _plt()
    avail = Run(run_dir).sample_steps()
    if steps is None:
        idx = np.unique(np.linspace(0, len(avail) - 1, min(n, len(avail))).round().astype(int))
        steps = [avail[i] for i in idx]
    fig, axes = plt.subplots(1, len(steps), figsize=(3.3 * len(steps), 3.6), squeeze=False)
    for ax, s in zip(axes[0], steps):
        show_grid(run_dir, s, title=f"iteration {s}", ax=ax)
        if ax is not axes[0][0]:
            ax.set_yticks([])
    fig.suptitle(title or f"{_run_label(run_dir)}: fixed noise over training", fontsize=11)
    fig.tight_layout()
    show(fig, save_as)


def compare_grids(runs: dict, step: int | None = None, title: str | None = None, save_as: str | None = None) -> None:
    """The final (or ``step``) grids of several runs side by side (``{label: run_dir}``)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(runs), figsize=(3.6 * len(runs), 3.9), squeeze=False)
    for ax, (label, run_dir) in zip(axes[0], runs.items()):
        show_grid(run_dir, step, title=label, ax=ax)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    show(fig, save_as)


def diversity_over_time(run_dir) -> tuple[list[int], list[float]]:
    """:func:`pixel_diversity` of the fixed-noise grid at every saved step."""
    run = Run(run_dir)
    steps = run.sample_steps()
    return steps, [pixel_diversity(run.grid(s)[0]) for s in steps]


# ----------------------------------------------------------------------------- diagrams
def model_diagram(save_as: str | None = None) -> None:
    """Boxes-and-arrows comparison of GAN, conditional GAN and AC-GAN (after the paper's
    Figure 2): what G receives, what D receives, what D outputs."""
    plt = _plt()
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.9))
    specs = [
        ("GAN / DCGAN", ["z"], ["X_real", "X_fake"], ["real / fake"]),
        ("Conditional GAN", ["z", "c"], ["X_real", "X_fake", "c"], ["real / fake"]),
        ("AC-GAN", ["z", "c"], ["X_real", "X_fake"], ["real / fake", "class c"]),
    ]
    colors = {"z": "#f4d35e", "c": "#ee964b", "X_real": "#8ecae6", "X_fake": "#a3cfa3", "G": "#dddddd",
              "D": "#dddddd", "real / fake": "#ffffff", "class c": "#ffd6d6"}

    def box(ax, x, y, text, key, w=0.22, h=0.11):
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.01",
                                    fc=colors.get(key, "#eeeeee"), ec="0.3", lw=1))
        ax.text(x, y, text, ha="center", va="center", fontsize=10)

    def arrow(ax, a, b):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=12, color="0.3", lw=1))

    pretty = {"z": "noise z", "c": "class c", "X_real": "real image", "X_fake": "G(z, c)"}
    for ax, (name, g_in, d_in, d_out) in zip(axes, specs):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.axis("off")
        ax.set_title(name, fontsize=12)
        xs = np.linspace(0.2, 0.8, len(g_in)) if len(g_in) > 1 else [0.5]
        for x, k in zip(xs, g_in):
            box(ax, x, 0.92, pretty[k], k, w=0.26)
            arrow(ax, (x, 0.86), (0.5, 0.74))
        box(ax, 0.5, 0.68, "G", "G", w=0.18)
        xs = np.linspace(0.17, 0.83, len(d_in))
        for x, k in zip(xs, d_in):
            box(ax, x, 0.48, pretty[k], k, w=0.27)
            arrow(ax, (x, 0.42), (0.5, 0.32))
        arrow(ax, (0.5, 0.62), (xs[1] if len(xs) > 1 else 0.5, 0.54))
        box(ax, 0.5, 0.26, "D", "D", w=0.18)
        xs = np.linspace(0.27, 0.73, len(d_out)) if len(d_out) > 1 else [0.5]
        for x, k in zip(xs, d_out):
            arrow(ax, (0.5, 0.2), (x, 0.12))
            box(ax, x, 0.06, k, k, w=0.3)
    fig.tight_layout()
    show(fig, save_as)


def architecture_table(preset: str, **overrides):
    """Layer-by-layer table of a preset's G and D (:func:`acgan_lib.models.common.layer_table`)
    as a DataFrame: layer, kernel and stride, output shape, parameters."""
    import pandas as pd

    cfg = make_config(preset, overrides)
    info = dataset_info(cfg.dataset)
    G, D = build_models(cfg, info.channels, len(cfg.class_ids(len(info.classes))))
    no_noise = all(std == 0 for _, std in cfg.noise_stages())
    return pd.DataFrame(layer_table(G, D, cfg.z_dim, skip_noise=no_noise))
