"""Multi-resolution accuracy: the paper's Sec. 4.1 ("Generating high resolution images
improves discriminability", its resolution/accuracy figure) and 000 Fig. 5.

Images are resized to a lower (16, 8 px) or higher (64 px) resolution with bilinear
interpolation, then back to the classifier's input size, and the classifier accuracy is
reported per resolution, for real test images and for samples. If accuracy falls when
the resolution is reduced, the samples carry class information at their full resolution
(they are not "naive resizings of low resolution samples", paper Sec. 4.1).

Shrinking uses antialiasing (``antialias=True``; a plain TF1 bilinear resize, as the paper
likely used, aliases more at 8 px); set ``antialias=False`` for the plain resize.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

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
def resolution_accuracy(clf, images: torch.Tensor, targets: torch.Tensor, sizes, antialias: bool = True,
                        batch_size: int = 1000) -> dict[int, float]:
    """Accuracy of ``clf`` on ``images`` (float, [-1, 1]) round-tripped through each size."""
    out = {}
    for s in sizes:
        correct = 0
        for i in range(0, len(images), batch_size):
            x = round_trip(images[i:i + batch_size], s, antialias)
            logits, _ = classify(clf, x, batch_size)
            correct += (logits.argmax(1) == targets[i:i + batch_size].to(logits.device)).sum().item()
        out[s] = correct / max(1, len(images))
    return out


def resolution_report(clf, samples, sample_targets, real, real_targets, sizes=SIZES,
                      antialias: bool = True) -> dict:
    """Flat dict ``resolution/samples_<px>`` and ``resolution/real_<px>`` (accuracies)."""
    all_sizes = sizes_for(samples.shape[-1], sizes)
    out = {}
    for name, x, y in (("samples", samples, sample_targets), ("real", real, real_targets)):
        if x is None:
            continue
        for s, acc in resolution_accuracy(clf, x, y, all_sizes, antialias).items():
            out[f"resolution/{name}_{s}"] = acc
    return out


def from_result(result: dict) -> dict[str, dict[int, float]]:
    """``{"samples": {px: acc}, "real": {px: acc}}`` from an :func:`evaluate` result (plots)."""
    out: dict[str, dict[int, float]] = {}
    for k, v in result.items():
        if k.startswith("resolution/"):
            name, px = k.split("/", 1)[1].rsplit("_", 1)
            out.setdefault(name, {})[int(px)] = v
    return {k: dict(sorted(v.items())) for k, v in out.items()}
