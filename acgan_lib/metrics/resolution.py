"""Multi-resolution accuracy: the paper's Sec. 4.1 ("Generating high resolution images
improves discriminability", its resolution/accuracy figure) and 000 Fig. 5.

Images are resized to a lower (16, 8 px) or higher (64 px) resolution with bilinear
interpolation, then back to the classifier's input size, and the classifier accuracy is
reported per resolution, for real test images and for samples. If accuracy falls when
the resolution is reduced, the samples carry class information at their full resolution
(they are not "naive resizings of low resolution samples", paper Sec. 4.1).

Shrinking uses antialiasing (``antialias=True``; a plain TF1 bilinear resize, as the paper
likely used, aliases more at 8 px); set ``antialias=False`` for the plain resize.

Per class (paper: 84.4 % of ImageNet classes are more discriminable at 128 px than at
32 px), the report also gives the share of classes whose samples are more accurately
classified at their native size than at the smallest one, with a bootstrap interval.
"""
from __future__ import annotations

import re

import numpy as np
import torch
import torch.nn.functional as F

from . import bootstrap
from .classifiers import classify

SIZES = (8, 16, 64)


def sizes_for(native: int, sizes=SIZES) -> list[int]:
    """The resolutions to test: ``sizes`` plus the native size, ascending."""
    return sorted(set(int(s) for s in sizes) | {int(native)})


def round_trip(images: torch.Tensor, size: int, antialias: bool = True) -> torch.Tensor:
    """Resize float images to ``size`` px and back to their own size (bilinear)."""
    native = images.shape[-1]
    if size == native:
        return images
    small = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=antialias and size < native)
    return F.interpolate(small, size=(native, native), mode="bilinear", align_corners=False,
                         antialias=antialias and native < size).clamp(-1, 1)


@torch.no_grad()
def resolution_correct(clf, images: torch.Tensor, targets: torch.Tensor, sizes, antialias: bool = True,
                       batch_size: int = 1000) -> dict[int, torch.Tensor]:
    """Per image, whether ``clf`` classifies it correctly after the round trip through each
    size (a bool tensor on the CPU per size)."""
    out = {}
    for s in sizes:
        parts = []
        for i in range(0, len(images), batch_size):
            x = round_trip(images[i:i + batch_size], s, antialias)
            logits, _ = classify(clf, x, batch_size)
            parts.append((logits.argmax(1) == targets[i:i + batch_size].to(logits.device)).cpu())
        out[s] = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.bool)
    return out


def resolution_accuracy(clf, images: torch.Tensor, targets: torch.Tensor, sizes, antialias: bool = True,
                        batch_size: int = 1000) -> dict[int, float]:
    """Accuracy of ``clf`` on ``images`` (float, [-1, 1]) round-tripped through each size."""
    return {s: c.float().sum().item() / max(1, len(images))
            for s, c in resolution_correct(clf, images, targets, sizes, antialias, batch_size).items()}


def share_classes_higher(hi: torch.Tensor, lo: torch.Tensor, targets: torch.Tensor,
                         draws: int = bootstrap.DRAWS, seed: int = 0) -> tuple[float, list[float] | None]:
    """Share of classes whose accuracy is strictly higher at one resolution (``hi``: correct
    per image) than at another (``lo``, the same images), and its 95 % interval: the images
    of each class resampled, paired (:data:`.bootstrap.WITHIN`; paper: 84.4 % of ImageNet
    classes are more accurate at 128 than at 32 px)."""
    t = targets.cpu()
    diff = (hi.float() - lo.float()).numpy()
    per_class = [diff[(t == c).numpy()] for c in torch.unique(t).tolist()]
    if not per_class:
        return float("nan"), None
    share = float(np.mean([d.mean() > 0 for d in per_class]))
    means = bootstrap.class_means(per_class, draws, np.random.default_rng(seed))
    return share, bootstrap.percentile_interval((means > 0).mean(0))


def resolution_report(clf, samples, sample_targets, real, real_targets, sizes=SIZES,
                      antialias: bool = True, seed: int = 0) -> dict:
    """Flat dict ``resolution/samples_<px>`` and ``resolution/real_<px>`` (accuracies), and
    ``resolution/share_classes_higher_at_<native>`` (samples; ``..._real`` for the real
    images) with ``.ci95``: the share of classes more accurate at the native size than at
    the smallest one (:func:`share_classes_higher`)."""
    native = samples.shape[-1]
    all_sizes = sizes_for(native, sizes)
    out = {}
    for name, x, y in (("samples", samples, sample_targets), ("real", real, real_targets)):
        if x is None or y is None:
            continue
        correct = resolution_correct(clf, x, y, all_sizes, antialias)
        for s, c in correct.items():
            out[f"resolution/{name}_{s}"] = c.float().sum().item() / max(1, len(x))
        if min(all_sizes) < native:
            key = f"resolution/share_classes_higher_at_{native}" + ("_real" if name == "real" else "")
            out[key], out[f"{key}.ci95"] = share_classes_higher(correct[native], correct[min(all_sizes)], y,
                                                                seed=seed)
    return out


_CURVE = re.compile(r"(samples|real)_(\d+)")


def from_result(result: dict) -> dict[str, dict[int, float]]:
    """``{"samples": {px: acc}, "real": {px: acc}}`` from an :func:`evaluate` result (plots)."""
    out: dict[str, dict[int, float]] = {}
    for k, v in result.items():
        m = _CURVE.fullmatch(k.split("/", 1)[1]) if k.startswith("resolution/") else None
        if m:
            out.setdefault(m[1], {})[int(m[2])] = v
    return {k: dict(sorted(v.items())) for k, v in out.items()}
