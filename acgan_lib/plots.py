"""Figures of the evaluation chapters. Every function returns a matplotlib ``Figure``
(nothing is shown or saved); inputs are :func:`acgan_lib.metrics.evaluate` results or the
tensors of :mod:`acgan_lib.probes`. Images are float in [-1, 1], (N, C, H, W)."""
from __future__ import annotations

import math

import numpy as np
import torch
import torchvision.utils as vutils
from matplotlib.figure import Figure

from .metrics.diversity import joint_table
from .metrics.resolution import from_result


def _subplots(figsize, ncols: int = 1, **kw):
    """A figure outside pyplot (no global state, no double display in notebooks)."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(1, ncols, **kw)


def _grid(images: torch.Tensor, nrow: int, pad: int = 2) -> np.ndarray:
    g = vutils.make_grid(images.detach().float().cpu(), nrow=nrow, normalize=True, value_range=(-1, 1),
                         padding=pad, pad_value=1.0)
    return g.permute(1, 2, 0).numpy()


def _names(class_ids, class_names):
    return list(class_names) if class_names is not None else [str(c) for c in class_ids]


def plot_accuracy_vs_resolution(results, labels=None, title: str = "Accuracy vs. resolution"):
    """Paper Sec. 4.1 / 000 Fig. 5: classifier accuracy per resolution, one line for real
    test images and one for samples of each result (a dict or a list of dicts)."""

    results = [results] if isinstance(results, dict) else list(results)
    labels = labels or [r.get("meta/preset") or r.get("meta/model") or f"model {i}" for i, r in enumerate(results)]
    fig, ax = _subplots((5, 3.5))
    for i, (res, lab) in enumerate(zip(results, labels)):
        curves = from_result(res)
        if "real" in curves and i == 0:
            ax.plot(list(curves["real"]), list(curves["real"].values()), "o-", color="tab:blue", label="real test")
        if "samples" in curves:
            ax.plot(list(curves["samples"]), list(curves["samples"].values()), "s-", color=f"C{i + 1}",
                    label=f"samples: {lab}")
        ticks = sorted(set(curves.get("real", {})) | set(curves.get("samples", {})))
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("spatial resolution (px, then resized back)")
    ax.set_ylabel("classifier accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_msssim_per_class(result: dict, class_ids, class_names=None, kind: str = "bar"):
    """Paper Sec. 4.2: per-class MS-SSIM of samples against training data. ``bar``: both
    per class with the training maximum as a line; ``scatter``: training (x) vs samples (y)."""
    names = _names(class_ids, class_names)
    s = [result.get(f"msssim/samples_class_{c}", math.nan) for c in class_ids]
    t = [result.get(f"msssim/train_class_{c}", math.nan) for c in class_ids]
    tmax = result.get("msssim/train_max", np.nanmax(t))
    share = result.get("msssim/share_below_train_max", math.nan)
    fig, ax = _subplots((max(5, 0.55 * len(names)), 3.5) if kind == "bar" else (4, 4))
    if kind == "bar":
        x = np.arange(len(names))
        ax.bar(x - 0.2, t, 0.4, label="training data", color="tab:blue")
        ax.bar(x + 0.2, s, 0.4, label="samples", color="tab:orange")
        ax.axhline(tmax, color="k", ls="--", lw=1, label="training max")
        ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("mean MS-SSIM (100 pairs)")
    else:
        ax.scatter(t, s, color="tab:orange")
        for n, a, b in zip(names, t, s):
            ax.annotate(n, (a, b), fontsize=7)
        lim = [0, max(1e-3, np.nanmax(t + s)) * 1.05]
        ax.plot(lim, lim, "k:", lw=1)
        ax.axhline(tmax, color="k", ls="--", lw=1)
        ax.set_xlabel("training data MS-SSIM")
        ax.set_ylabel("samples MS-SSIM")
    ax.set_title(f"MS-SSIM per class ({share:.0%} of classes below the training max)"
                 if not math.isnan(share) else "MS-SSIM per class", fontsize=9)
    if kind == "bar":  # beside the axes: inside, it would cover the bars
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_diversity(result: dict, class_ids, class_names=None):
    """Paper Sec. 4.3 joint plot: per-class sample accuracy against sample MS-SSIM."""

    rows = joint_table(result, list(class_ids), class_names)
    fig, ax = _subplots((4.2, 3.8))
    ax.scatter([r["msssim"] for r in rows], [r["accuracy"] for r in rows])
    for r in rows:
        ax.annotate(r["name"], (r["msssim"], r["accuracy"]), fontsize=7)
    ax.set_xlabel("sample MS-SSIM (higher = less diverse)")
    ax.set_ylabel("classifier accuracy of samples")
    ax.set_title(f"r = {result.get('acc_vs_msssim/pearson', math.nan):.2f}", fontsize=9)
    fig.tight_layout()
    return fig


def plot_nearest_neighbors(queries: torch.Tensor, neighbors: torch.Tensor, title: str = "nearest neighbours"):
    """Paper Sec. 4.4: each row a query (left, boxed by a gap) and its k nearest training
    images. ``neighbors``: (N, k, C, H, W)."""
    n, k = neighbors.shape[:2]
    fig, axes = _subplots((1 + 0.6 * (k + 1), 0.6 * n + 0.6), 2,
                         gridspec_kw={"width_ratios": [1, k]})
    axes[0].imshow(_grid(queries, 1), cmap="gray")
    axes[0].set_title("sample", fontsize=8)
    axes[1].imshow(_grid(neighbors.flatten(0, 1), k), cmap="gray")
    axes[1].set_title(title, fontsize=8)
    for a in axes:
        a.axis("off")
    fig.tight_layout()
    return fig


def plot_nn_distances(sample_d, test_d, label: str = "L1 distance to nearest training image"):
    """Histogram of sample-to-train against test-to-train NN distances (copies: near 0)."""
    fig, ax = _subplots((4.5, 3))
    s, t = np.asarray(torch.as_tensor(sample_d).flatten().cpu()), np.asarray(torch.as_tensor(test_d).flatten().cpu())
    bins = np.linspace(0, max(s.max(), t.max()) * 1.02, 40)
    ax.hist(t, bins, alpha=0.6, label="test images", density=True)
    ax.hist(s, bins, alpha=0.6, label="samples", density=True)
    ax.set_xlabel(label)
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_interpolation(frames: torch.Tensor, row_labels=None, title: str = "latent interpolation"):
    """Rows of interpolation frames (P, T, C, H, W), e.g. ``probes.interpolations(...)``."""
    P, T = frames.shape[:2]
    fig, ax = _subplots((0.55 * T + 0.5, 0.55 * P + 0.5))
    ax.imshow(_grid(frames.flatten(0, 1), T), cmap="gray")
    ax.set_title(title, fontsize=9)
    if row_labels is not None:
        h = frames.shape[-2] + 2
        ax.set_yticks([2 + h * (i + 0.5) for i in range(P)], row_labels, fontsize=7)
        ax.set_xticks([])
    else:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_fixed_z_grid(grid: torch.Tensor, class_names=None, title: str = "fixed z across classes"):
    """Rows = classes, columns = one z each (``probes.fixed_z_grid``): shared style."""
    K, Z = grid.shape[:2]
    return plot_interpolation(grid, row_labels=list(class_names) if class_names is not None else None, title=title)


def plot_synthetic_table(rows: list[dict], title: str = "Training on synthetic data (003 Table 3)"):
    """Test accuracy against the share of real images, one line per strategy; rows with a
    ``test_accuracy_ci95`` (means over seeds) get it as error bars."""
    fig, ax = _subplots((5, 3.5))
    for strat in dict.fromkeys(r["strategy"] for r in rows):
        rs = sorted((r for r in rows if r["strategy"] == strat), key=lambda r: r["real_percent"])
        x, y = [r["real_percent"] for r in rs], [r["test_accuracy"] for r in rs]
        ci = [r.get("test_accuracy_ci95") or [a, a] for r, a in zip(rs, y)]
        err = [[a - lo for a, (lo, _) in zip(y, ci)], [hi - a for a, (_, hi) in zip(y, ci)]]
        ax.errorbar(x, y, yerr=err, fmt="o-", ms=3, capsize=2, label=strat)
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlabel("real images in the training set (%)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
