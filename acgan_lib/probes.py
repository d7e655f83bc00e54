"""Overfitting probes of the paper's Sec. 4.4 ("Searching for signatures of overfitting").

* **Nearest neighbours** of samples in the training set, by pixel L1 distance (as in the
  paper's figure) and by distance between evaluation-classifier features. The number:
  sample-to-train NN distances against test-to-train NN distances (unseen real images).
  A generator that copies training images shows sample distances near zero, far below
  the test images'; ``nn/<metric>_copy_share`` is the share of samples closer to the
  training set than the 1st percentile of test images (about 0.01 when nothing is copied).
* **Latent interpolation** between two z for one class, and between two classes for one
  z (the label vector is blended), linearly or spherically. The paper looks for discrete
  transitions or "holes"; we measure them with the distances between consecutive frames:
  ``jump`` = largest step / mean step (1 for perfectly even steps, ``steps - 1`` when the
  whole change happens in one step) and ``cv`` = their coefficient of variation.
* **Fixed z across classes** (paper's class-conditional figure with shared z: style is
  shared): style descriptors (brightness, background, centre of mass) of G(z, a) and
  G(z, b) correlate across z for the same z, and not when z differs.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .data import to_float
from .sample import class_grid_inputs, generate
from .utils import UserError


# ----------------------------------------------------------------------------- nearest neighbours
@torch.no_grad()
def nearest_neighbors(queries: torch.Tensor, train: torch.Tensor, k: int = 1, metric: str = "l1",
                      candidates: int | None = 128, batch: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """``(distances, indices)`` (N, k) of each query's k nearest rows of ``train``.

    ``metric="l1"``: mean absolute pixel difference of images (pixels in [-1, 1]; uint8 is
    converted), the paper's distance. An exhaustive L1 search is slow on a CPU (no matrix
    product), so by default the L1 distance is computed exactly for the ``candidates``
    Euclidean-nearest training images only (``candidates=None``: exhaustive). A copy (or
    near copy) is also the Euclidean nearest, so planted copies are always found.
    ``metric="l2"``: Euclidean distance, for feature vectors. Batched on ``train``'s device."""
    if metric not in ("l1", "l2"):
        raise UserError(f"unknown nearest-neighbour metric '{metric}' (l1 or l2)")
    if len(train) < k:
        raise UserError(f"need at least k={k} training items, got {len(train)}")
    dev = train.device
    t = (to_float(train) if train.dtype == torch.uint8 else train.float()).flatten(1)
    q = (to_float(queries) if queries.dtype == torch.uint8 else queries.float()).flatten(1)
    exhaustive_l1 = metric == "l1" and (candidates is None or candidates >= len(t))
    dists, idxs = [], []
    for i in range(0, len(q), batch):
        qb = q[i:i + batch].to(dev)
        if exhaustive_l1:
            v, j = (torch.cdist(qb, t, p=1.0) / t.shape[1]).topk(k, dim=1, largest=False)
        else:
            v, j = torch.cdist(qb, t).topk(max(k, candidates or k) if metric == "l1" else k, dim=1, largest=False)
            if metric == "l1":
                l1 = (t[j] - qb[:, None]).abs().mean(-1)
                v, pos = l1.topk(k, dim=1, largest=False)
                j = j.gather(1, pos)
        dists.append(v)
        idxs.append(j)
    return torch.cat(dists), torch.cat(idxs)


def nn_distance_report(sample_nn: torch.Tensor, test_nn: torch.Tensor, name: str = "l1") -> dict:
    """Compare sample-to-train with test-to-train NN distances (1-D tensors)."""
    s, t = sample_nn.flatten().double().cpu(), test_nn.flatten().double().cpu()
    p1 = torch.quantile(t, 0.01).item()
    return {f"nn/{name}_samples_median": s.median().item(), f"nn/{name}_test_median": t.median().item(),
            f"nn/{name}_samples_min": s.min().item(), f"nn/{name}_test_min": t.min().item(),
            f"nn/{name}_median_ratio": s.median().item() / max(t.median().item(), 1e-12),
            f"nn/{name}_copy_share": (s < p1).double().mean().item()}


# ----------------------------------------------------------------------------- interpolation
def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return z0 + (z1 - z0) * t


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (White 2016): follows the shell where Gaussian z live."""
    cos = (z0 * z1).sum(-1, keepdim=True) / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True))
    omega = cos.clamp(-1 + 1e-7, 1 - 1e-7).acos()
    so = omega.sin()
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / so


def interpolate_z(z0: torch.Tensor, z1: torch.Tensor, steps: int, mode: str = "linear") -> torch.Tensor:
    """``steps`` latent vectors from ``z0`` to ``z1`` (both included)."""
    if mode not in ("linear", "slerp"):
        raise UserError(f"unknown interpolation mode '{mode}' (linear or slerp)")
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    return (lerp if mode == "linear" else slerp)(z0.view(1, -1), z1.view(1, -1), t)


def _label_layer(G: nn.Module, z_dim: int, num_classes: int) -> nn.Module:
    """The first layer fed with ``cat([z, one_hot(y)])`` (AC-GAN's linear, CGAN's conv)."""
    width = z_dim + num_classes
    for m in G.modules():
        if isinstance(m, nn.Linear) and m.in_features == width:
            return m
        if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d)) and m.in_channels == width:
            return m
    raise UserError("class interpolation needs a generator that concatenates a one-hot label to z "
                    f"(no layer with {width} inputs found)")


@torch.no_grad()
def class_blend(gen, z: torch.Tensor, label_a: int, label_b: int, steps: int) -> torch.Tensor:
    """G(z, (1 - t) e_a + t e_b) for ``steps`` values of t: the one-hot label entering G's
    first layer is replaced by the blend (a forward pre-hook; the layer is affine in it)."""

    if not gen.conditional:
        raise UserError("class interpolation needs a class-conditional generator")
    K, zd = gen.num_classes, gen.cfg.z_dim
    layer = _label_layer(gen.G, zd, K)
    t = torch.linspace(0, 1, steps, device=gen.device).unsqueeze(1)
    eye = torch.eye(K, device=gen.device)
    soft = (1 - t) * eye[label_a] + t * eye[label_b]

    def hook(module, args):
        x = args[0].clone()
        x[:, zd:zd + K] = soft.view(steps, K, *([1] * (x.dim() - 2))).to(x.dtype)
        return (x,)

    handle = layer.register_forward_pre_hook(hook)
    try:
        return generate(gen, torch.full((steps,), label_a), z=z.view(1, -1).repeat(steps, 1), batch_size=steps)
    finally:
        handle.remove()


def smoothness(frames: torch.Tensor) -> dict:
    """Consecutive-frame L1 distances of one interpolation (T, C, H, W): ``jump`` (max /
    mean step) and ``cv`` (std / mean step). Even, hole-free paths give jump near 1."""
    d = (frames[1:] - frames[:-1]).abs().flatten(1).mean(1).double()
    mean = d.mean().item()
    if mean == 0:
        return {"jump": 1.0, "cv": 0.0, "mean_step": 0.0}
    return {"jump": d.max().item() / mean, "cv": d.std(unbiased=False).item() / mean, "mean_step": mean}


@torch.no_grad()
def interpolations(gen, pairs: int = 8, steps: int = 16, mode: str = "linear", seed: int = 0):
    """Within-class paths (two z, one class) and, for conditional G, between-class paths
    (one z, classes a -> b): ``{"within": (P, T, C, H, W), "between": ... or None}``."""

    g = torch.Generator().manual_seed(seed)
    K, zd = gen.num_classes, gen.cfg.z_dim
    z = torch.randn(pairs, 2, zd, generator=g)
    labels = torch.randint(0, K, (pairs, 2), generator=g)
    labels[:, 1] = (labels[:, 0] + 1 + torch.randint(0, max(K - 1, 1), (pairs,), generator=g)) % K
    within = torch.stack([generate(gen, torch.full((steps,), int(labels[p, 0])),
                                   z=interpolate_z(z[p, 0], z[p, 1], steps, mode), batch_size=steps)
                          for p in range(pairs)])
    between = None
    if gen.conditional and K > 1:
        between = torch.stack([class_blend(gen, z[p, 0], int(labels[p, 0]), int(labels[p, 1]), steps)
                               for p in range(pairs)])
    return {"within": within, "between": between, "labels": labels}


def interpolation_report(gen, pairs: int = 8, steps: int = 16, seed: int = 0) -> dict:
    """Flat dict, means over pairs: ``interp/within_<linear|slerp>_<jump|cv>`` (two z, one
    class) and ``interp/between_linear_<jump|cv>`` (one z, label blended linearly; there is
    no slerp variant: z does not move)."""
    out = {}
    for mode in ("linear", "slerp"):
        paths = interpolations(gen, pairs, steps, mode, seed)
        for kind in ("within", "between"):
            if paths[kind] is None or (kind == "between" and mode == "slerp"):
                continue
            s = [smoothness(f) for f in paths[kind]]
            for key in ("jump", "cv"):
                out[f"interp/{kind}_{mode}_{key}"] = float(np.mean([x[key] for x in s]))
    return out


# ----------------------------------------------------------------------------- fixed z
@torch.no_grad()
def fixed_z_grid(gen, n_z: int = 10, seed: int = 0) -> torch.Tensor:
    """Images (K, n_z, C, H, W): row = class, column = one z shared by every class."""

    z, labels = class_grid_inputs(gen.num_classes, n_z, gen.cfg.z_dim, seed=seed, share_z=True)
    imgs = generate(gen, labels, z=z)
    return imgs.view(gen.num_classes, n_z, *imgs.shape[1:])


def style_descriptors(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image scalars that describe style, not class: brightness (mean pixel),
    background (mean of the 2 px border) and the centre of mass of the ink (x, y)."""
    x = (images.float() + 1) / 2
    h, w = x.shape[-2:]
    border = torch.cat([x[..., :2, :].flatten(1), x[..., -2:, :].flatten(1),
                        x[..., 2:-2, :2].flatten(1), x[..., 2:-2, -2:].flatten(1)], 1)
    mass = x.mean(1)
    total = mass.sum((1, 2)).clamp_min(1e-6)
    cx = (mass.sum(1) * torch.arange(w, device=x.device)).sum(1) / total / w
    cy = (mass.sum(2) * torch.arange(h, device=x.device)).sum(1) / total / h
    return {"brightness": x.mean((1, 2, 3)), "background": border.mean(1), "center_x": cx, "center_y": cy}


def _mean_pair_corr(a: np.ndarray) -> float:
    """Mean Pearson correlation across z between every pair of class rows of ``a`` (K, Z)."""
    vals = []
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            if a[i].std() > 1e-8 and a[j].std() > 1e-8:
                vals.append(np.corrcoef(a[i], a[j])[0, 1])
    return float(np.mean(vals)) if vals else math.nan


def style_consistency(grid: torch.Tensor) -> dict:
    """``fixed_z/<descriptor>_corr_same_z`` (rows use the same z per column) against
    ``..._corr_diff_z`` (each class row's columns shifted, so z differs)."""
    K, Z = grid.shape[:2]
    desc = style_descriptors(grid.flatten(0, 1))
    out, same_all, diff_all = {}, [], []
    for name, v in desc.items():
        a = v.view(K, Z).double().cpu().numpy()
        shifted = np.stack([np.roll(a[k], k) for k in range(K)])
        same, diff = _mean_pair_corr(a), _mean_pair_corr(shifted)
        out[f"fixed_z/{name}_corr_same_z"], out[f"fixed_z/{name}_corr_diff_z"] = same, diff
        same_all.append(same)
        diff_all.append(diff)
    out["fixed_z/corr_same_z"] = float(np.nanmean(same_all)) if not all(map(math.isnan, same_all)) else math.nan
    out["fixed_z/corr_diff_z"] = float(np.nanmean(diff_all)) if not all(map(math.isnan, diff_all)) else math.nan
    return out
