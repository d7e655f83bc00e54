"""Percentile-bootstrap intervals for numbers computed from samples per class: how much a
share of classes or a correlation across classes moves with the samples drawn (issue 13:
metrics that move with the sample count report an interval; orderings over training seeds
use :mod:`.seeds` instead).

Each class contributes a set of values (the MS-SSIM of its sample pairs, 0/1 "correctly
classified" of its samples, ...). One bootstrap draw resamples the values of every class
with replacement (:func:`class_means`); :func:`resample_classes` also resamples the
classes themselves, for a statistic that estimates a relation *across* classes from few of
them (a correlation over 10 classes). The interval is the 2.5 and 97.5 percentiles of the
statistic over the draws (:func:`percentile_interval`).
"""
from __future__ import annotations

import numpy as np

DRAWS = 1000
WITHIN = "percentile bootstrap, 1000 draws, samples (and pairs) resampled within each class; classes fixed"
TWO_LEVEL = ("percentile bootstrap, 1000 draws, classes resampled and, within each drawn class, its samples "
             "and pairs")


def class_means(values, draws: int = DRAWS, rng=None) -> np.ndarray:
    """``(K, draws)``: column ``b`` holds, for each of the ``K`` classes, the mean of its
    ``values[k]`` resampled with replacement (NaN for a class without values)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    out = np.full((len(values), draws), np.nan)
    for k, v in enumerate(values):
        v = np.asarray(v, dtype=float)
        if len(v):
            out[k] = v[rng.integers(0, len(v), (draws, len(v)))].mean(1)
    return out


def resample_classes(*per_class: np.ndarray, rng=None) -> tuple[np.ndarray, ...]:
    """``(draws, K)`` arrays from ``(K, draws)`` ones: in draw ``b`` the same ``K`` classes,
    drawn with replacement, are taken from every array (so pairs of per-class values stay
    paired)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    k, draws = per_class[0].shape
    idx = rng.integers(0, k, (draws, k))
    cols = np.arange(draws)[:, None]
    return tuple(a[idx, cols] for a in per_class)


def rowwise_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of every row pair ``(x[b], y[b])`` (NaN where a row is constant)."""
    xc, yc = x - x.mean(1, keepdims=True), y - y.mean(1, keepdims=True)
    den = np.sqrt((xc ** 2).sum(1) * (yc ** 2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (xc * yc).sum(1) / np.where(den > 0, den, 1), np.nan)


def rowwise_spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman rho of every row pair (Pearson r of the ranks, ties averaged)."""
    from scipy.stats import rankdata
    return rowwise_pearson(rankdata(x, axis=1), rankdata(y, axis=1))


def percentile_interval(draws, confidence: float = 0.95) -> list[float] | None:
    """``[lo, hi]``: the central ``confidence`` range of the finite bootstrap draws
    (``None`` with fewer than 2 of them)."""
    d = np.asarray(draws, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) < 2:
        return None
    lo, hi = np.percentile(d, [50 * (1 - confidence), 50 * (1 + confidence)])
    return [float(lo), float(hi)]


__all__ = ["DRAWS", "WITHIN", "TWO_LEVEL", "class_means", "resample_classes", "rowwise_pearson",
           "rowwise_spearman", "percentile_interval"]
