"""Checkerboard artifacts of transposed convolutions (Odena, Dumoulin and Olah 2016,
"Deconvolution and checkerboard artifacts", Distill).

A transposed convolution of stride ``s`` whose kernel size ``k`` is not a multiple of ``s``
overlaps unevenly: in one dimension, output positions of alternating parity receive
``ceil(k / s)`` or ``floor(k / s)`` kernel taps (5x5, stride 2: 3 or 2 taps per axis, so 9, 6,
6 or 4 in 2-D), and the layer paints a pattern of period ``s`` into its output unless its
weights learn to cancel it. With stride 2 that pattern is a checkerboard: its energy sits at
the period-2 ("Nyquist") frequencies of the output grid. Resize-then-convolve upsampling, or
kernels divisible by the stride, overlap evenly and do not make it.

:func:`uneven_overlap` says which layers of a generator can make the pattern;
:func:`period2_energy` measures how much of a set of images' spectral energy sits at the
period-2 frequencies (compare samples with real images of the same size: edges put some
energy there too).
"""
from __future__ import annotations

import torch
from torch import nn


def uneven_overlap(model: nn.Module) -> list[dict]:
    """One row per transposed convolution of ``model``: its kernel, stride, the taps an
    output position receives per axis, and whether they are uneven (``k % s != 0``)."""
    rows = []
    for name, m in model.named_modules():
        if isinstance(m, nn.ConvTranspose2d):
            k, s = m.kernel_size[0], m.stride[0]
            taps = sorted({len(range(r, k, s)) for r in range(s)})
            rows.append({"layer": name, "in": m.in_channels, "out": m.out_channels, "kernel": k, "stride": s,
                         "taps per axis": "/".join(map(str, taps)), "uneven overlap": k % s != 0})
    return rows


def period2_energy(images: torch.Tensor) -> float:
    """Share of the images' spectral energy (each image's mean removed, so that only its
    variation counts) at the three period-2 frequencies ``(N/2, 0)``, ``(0, N/2)``,
    ``(N/2, N/2)`` of the 2-D DFT, averaged over images and channels; images ``(N, C, H, W)``
    with even ``H`` and ``W``."""
    x = images.float()
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        raise ValueError(f"period2_energy needs even image sides, got {h}x{w}")
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    p = torch.fft.fft2(x).abs() ** 2
    total = p.sum(dim=(-2, -1))
    nyq = p[..., h // 2, 0] + p[..., 0, w // 2] + p[..., h // 2, w // 2]
    ok = total > 0
    return float((nyq[ok] / total[ok]).mean()) if ok.any() else 0.0


__all__ = ["uneven_overlap", "period2_energy"]
