"""MS-SSIM diversity (paper Sec. 4.2, "Measuring the diversity of generated images") and
the accuracy-vs-diversity joint view (paper Sec. 4.3 and its joint plot).

The paper scores a class by the mean multi-scale SSIM (Wang et al. 2003) of 100 random
pairs of same-class images: higher means less diverse. It compares every class's samples
with the same number computed on training data; the maximum over ImageNet training classes
is 0.25, and 84.7 % of the classes' samples fall below it.

**Scales and window.** pytorch-msssim's ``ms_ssim`` uses 5 scales and refuses images whose
side is not larger than ``(win_size - 1) * 2**4`` (160 px with the default 11 px window),
so 28-32 px images cannot be scored as they are. We resize both images of a pair to
``SIZE = 64`` px (bilinear, no antialias: an up-sampling for 28 and 32 px data) and use a
``WIN = 3`` px Gaussian window (sigma 1.5, i.e. nearly a box) with the standard 5 weights:
the scales are 64, 32, 16, 8 and 4 px, the coarsest about 2 px of a 28 px digit. The choice
keeps MS-SSIM(x, x) = 1 exactly and orders pairs sensibly (tested in ``test_metrics.py``:
x vs. a slightly noisy copy > x vs. a very noisy copy > x vs. unrelated noise, and
same-class MNIST pairs > different-class pairs). Pixel values are mapped to [0, 1]
(``data_range=1``). Absolute values are not comparable with the paper's ImageNet numbers;
compare samples with training data of the same dataset.

**Per class and intervals.** Besides the paper's share of classes below the most
self-similar training class, the report gives the share below the *same* class's training
MS-SSIM, and 95 % bootstrap intervals of both shares and of the accuracy/MS-SSIM
correlation (:mod:`.bootstrap`): with 100 pairs per class these numbers move with the
samples drawn.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim
from scipy import stats

from ..data import dataset_info, load_dataset, resize, to_float
from ..runs import Run
from . import bootstrap

SIZE = 64
WIN = 3
PAIRS = 100


def msssim(a: torch.Tensor, b: torch.Tensor, size: int = SIZE, win_size: int = WIN, batch: int = 500) -> torch.Tensor:
    """MS-SSIM of each pair ``(a[i], b[i])``: float images in [-1, 1] (or uint8), shape (N,)."""
    if a.dtype == torch.uint8:
        a, b = to_float(a), to_float(b)
    out = []
    for i in range(0, len(a), batch):
        x = (a[i:i + batch].float() + 1) / 2
        y = (b[i:i + batch].float() + 1) / 2
        if x.shape[-1] != size or x.shape[-2] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
            y = F.interpolate(y, size=(size, size), mode="bilinear", align_corners=False)
        out.append(ms_ssim(x.clamp(0, 1), y.clamp(0, 1), data_range=1.0, win_size=win_size, size_average=False))
    return torch.cat(out) if out else torch.empty(0)


def random_pairs(m: int, pairs: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``pairs`` random index pairs (i, j), i != j, among ``m`` items."""
    i = torch.randint(0, m, (pairs,), generator=g)
    j = (i + torch.randint(1, m, (pairs,), generator=g)) % m
    return i, j


def class_msssim_pairs(images: torch.Tensor, labels: torch.Tensor, class_ids: list[int], pairs: int = PAIRS,
                       seed: int = 0) -> dict[int, np.ndarray]:
    """MS-SSIM of each of ``pairs`` random same-class pairs, per class (empty below 2 images)."""
    g = torch.Generator().manual_seed(seed)
    labels = labels.to(images.device)
    out = {}
    for c in class_ids:
        idx = (labels == c).nonzero().flatten()
        if len(idx) < 2:
            out[c] = np.empty(0)
            continue
        i, j = random_pairs(len(idx), pairs, g)
        i, j = idx[i.to(idx.device)], idx[j.to(idx.device)]
        out[c] = msssim(images[i], images[j]).double().cpu().numpy()
    return out


def class_msssim(images: torch.Tensor, labels: torch.Tensor, class_ids: list[int], pairs: int = PAIRS,
                 seed: int = 0) -> dict[int, float]:
    """Mean MS-SSIM of ``pairs`` random same-class pairs, per class (NaN below 2 images)."""
    return {c: float(v.mean()) if len(v) else math.nan
            for c, v in class_msssim_pairs(images, labels, class_ids, pairs, seed).items()}


def subsample_per_class(labels: torch.Tensor, class_ids: list[int], per_class: int, seed: int = 0) -> torch.Tensor:
    """Indices of at most ``per_class`` random items of each class (enough for the pairs)."""
    g = torch.Generator().manual_seed(seed)
    keep = []
    for c in class_ids:
        idx = (labels.cpu() == c).nonzero().flatten()
        keep.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.cat(keep)


def share_below(samples: dict[int, float], train: dict[int, float]) -> tuple[float, float]:
    """``(training max, share of classes whose sample MS-SSIM is below it)`` (paper: 0.25
    and 84.7 % of 1000 ImageNet classes)."""
    tmax = max((v for v in train.values() if not math.isnan(v)), default=math.nan)
    vals = [v for v in samples.values() if not math.isnan(v)]
    return tmax, (float(np.mean([v < tmax for v in vals])) if vals else math.nan)


def share_below_own_class(samples: dict[int, float], train: dict[int, float]) -> float:
    """Share of classes whose sample MS-SSIM is below the *same* class's training MS-SSIM
    (samples at least as diverse as their own class; paper Sec. 4.2 compares per class)."""
    both = [(v, train[c]) for c, v in samples.items() if not math.isnan(v) and not math.isnan(train.get(c, math.nan))]
    return float(np.mean([s < t for s, t in both])) if both else math.nan


def share_intervals(sample_pairs: dict[int, np.ndarray], train_pairs: dict[int, np.ndarray],
                    draws: int = bootstrap.DRAWS, seed: int = 0) -> dict[str, list[float] | None]:
    """95 % intervals of the two shares (:func:`share_below`, :func:`share_below_own_class`):
    the pairs of every class, of samples and of training images, resampled
    (:data:`.bootstrap.WITHIN`; the classes are all of the dataset's, so they stay fixed)."""
    rng = np.random.default_rng(seed)
    tc = [c for c, v in train_pairs.items() if len(v)]
    cs = [c for c, v in sample_pairs.items() if len(v) and c in tc]
    if not cs:
        return {"share_below_train_max": None, "share_below_own_class": None}
    s = bootstrap.class_means([sample_pairs[c] for c in cs], draws, rng)   # (classes, draws)
    t = bootstrap.class_means([train_pairs[c] for c in tc], draws, rng)
    own = t[[tc.index(c) for c in cs]]
    return {"share_below_train_max": bootstrap.percentile_interval((s < t.max(0)).mean(0)),
            "share_below_own_class": bootstrap.percentile_interval((s < own).mean(0))}


def diversity_pairs(sample_images, sample_labels, train_images, train_labels, class_ids: list[int],
                    pairs: int = PAIRS, seed: int = 0) -> tuple[dict, dict]:
    """Per-pair MS-SSIM of the samples and of training images (``2 * pairs`` random
    training images per class), each ``{class: array of pairs values}``."""
    s = class_msssim_pairs(sample_images, sample_labels, class_ids, pairs, seed)
    keep = subsample_per_class(train_labels, class_ids, 2 * pairs, seed)
    t = class_msssim_pairs(train_images[keep], train_labels[keep], class_ids, pairs, seed + 1)
    return s, t


def diversity_report(sample_images, sample_labels, train_images, train_labels, class_ids: list[int],
                     pairs: int = PAIRS, seed: int = 0, pair_values: tuple[dict, dict] | None = None) -> dict:
    """Flat dict: ``msssim/samples_class_<c>``, ``msssim/train_class_<c>``, their means,
    ``msssim/train_max``, ``msssim/share_below_train_max``, ``msssim/share_below_own_class``
    and the 95 % intervals of both shares (``<key>.ci95``, :func:`share_intervals`).
    ``pair_values``: the output of :func:`diversity_pairs`, when already computed."""
    sp, tp = pair_values or diversity_pairs(sample_images, sample_labels, train_images, train_labels, class_ids,
                                            pairs, seed)
    mean = lambda v: float(v.mean()) if len(v) else math.nan  # noqa: E731
    s, t = {c: mean(sp[c]) for c in class_ids}, {c: mean(tp[c]) for c in class_ids}
    tmax, share = share_below(s, t)
    ci = share_intervals(sp, tp, seed=seed)
    out = {"msssim/samples_mean": float(np.nanmean(list(s.values()))),
           "msssim/train_mean": float(np.nanmean(list(t.values()))),
           "msssim/train_max": tmax, "msssim/share_below_train_max": share,
           "msssim/share_below_train_max.ci95": ci["share_below_train_max"],
           "msssim/share_below_own_class": share_below_own_class(s, t),
           "msssim/share_below_own_class.ci95": ci["share_below_own_class"]}
    for c in class_ids:
        out[f"msssim/samples_class_{c}"] = s[c]
        out[f"msssim/train_class_{c}"] = t[c]
    return out


# ----------------------------------------------------------------------------- mode collapse
DROPPED_BELOW = 0.25  # a class gets less than this fraction of its even share (1/K) of samples


def class_shares(preds: torch.Tensor, class_ids: list[int]) -> dict:
    """Share of the samples the evaluation classifier assigns to each class:
    ``class_share/class_<c>``, their ``min`` and ``max``, and the ``entropy`` of the shares
    over log K (1: even coverage, 0: one class). A generator that drops modes (003 app.
    fig. 4: "only some instances all the time") leaves classes nearly empty."""
    preds = preds.flatten().cpu()
    shares = {c: float((preds == c).float().mean()) if len(preds) else math.nan for c in class_ids}
    p = np.array([v for v in shares.values() if v > 0])
    entropy = float(-(p * np.log(p)).sum() / math.log(len(class_ids))) if len(class_ids) > 1 else math.nan
    return {**{f"class_share/class_{c}": v for c, v in shares.items()},
            "class_share/min": min(shares.values()), "class_share/max": max(shares.values()),
            "class_share/entropy": entropy}


def mode_collapse(result: dict, class_ids: list[int], dropped_below: float = DROPPED_BELOW) -> dict:
    """Whether samples show mode collapse, from an :func:`acgan_lib.metrics.evaluate` result
    with ``class_coverage`` and ``msssim``: **dropped modes**, classes that receive less than
    ``dropped_below`` of their even share 1/K of the samples (by the evaluation classifier),
    or **collapse within classes**, a mean sample MS-SSIM (same-class pairs, higher = more
    alike) above the most self-similar training class (paper Sec. 4.2). Returns
    ``{collapsed, dropped_classes, share_min, share_floor, msssim_samples, msssim_train_max,
    evidence}``; ``evidence`` says what fired, in words ("" when nothing did)."""
    floor = dropped_below / len(class_ids)
    dropped = [c for c in class_ids if result[f"class_share/class_{c}"] < floor]
    ms, tmax = result["msssim/samples_mean"], result["msssim/train_max"]
    alike = ms is not None and tmax is not None and ms > tmax
    evidence = []
    if dropped:
        evidence.append(f"{len(dropped)} of {len(class_ids)} classes get under {floor:.1%} of the samples "
                        f"({', '.join(str(c) for c in dropped)})")
    if alike:
        evidence.append(f"same-class samples are more alike (MS-SSIM {ms:.3f}) than any training class "
                        f"({tmax:.3f})")
    return {"collapsed": bool(dropped or alike), "dropped_classes": dropped,
            "share_min": result["class_share/min"], "share_floor": floor, "msssim_samples": ms,
            "msssim_train_max": tmax, "evidence": "; ".join(evidence)}


# ----------------------------------------------------------------------------- over training
def all_pairs_msssim(images: torch.Tensor, labels: torch.Tensor, class_ids: list[int]) -> dict[int, float]:
    """Mean MS-SSIM over *every* same-class pair, per class (NaN below 2 images): for small
    sets such as a fixed-noise grid (10 images a class: 45 pairs), where random pairs would
    repeat."""
    out = {}
    for c in class_ids:
        idx = (labels.cpu() == c).nonzero().flatten()
        if len(idx) < 2:
            out[c] = math.nan
            continue
        i, j = torch.triu_indices(len(idx), len(idx), offset=1)
        out[c] = msssim(images[idx[i]], images[idx[j]]).mean().item()
    return out


def grid_threshold(train_images, train_labels, class_ids: list[int], per_class: int = 10, draws: int = 10,
                   seed: int = 0) -> float:
    """The largest class MS-SSIM that real training images reach with the grid's estimator
    (:func:`all_pairs_msssim` of ``per_class`` random images a class), over ``draws`` random
    grids: no real grid of that size is more uniform. (Ten images give a noisy class mean:
    the 100-pair training maximum of :func:`diversity_report` would flag some real grids.)"""
    best = -math.inf
    for d in range(draws):
        keep = subsample_per_class(train_labels, class_ids, per_class, seed + d)
        best = max(best, max(all_pairs_msssim(train_images[keep], train_labels[keep], class_ids).values()))
    return float(best)


def msssim_over_training(grids, threshold: float, after: float = 0.5) -> dict:
    """The paper's collapse detector (Sec. 4.2: the mean MS-SSIM of a class's samples is
    "tracked during training to identify whether the generator collapsed"; its appendix: the
    score falls over training in classes that do not collapse and rises in those that do).

    ``grids``: ``[(step, images, labels), ...]`` in step order, e.g. a run's fixed-noise
    grids (:meth:`acgan_lib.runs.Run.grid`); ``threshold``: the training data's maximum class
    MS-SSIM with the same estimator (:func:`grid_threshold`: no real class is that uniform). A class is *flagged* at a step when its sample
    MS-SSIM (:func:`all_pairs_msssim`) exceeds the threshold; the run is ``collapsed`` when a
    class is flagged at a step past ``after`` of the last step (a young generator's blurry
    samples look alike without having collapsed, and a collapsed generator does not recover,
    so the later steps decide). Returns ``{steps, per_class: {c: [...]}, max, mean, threshold,
    after, flagged_steps, late_flagged_steps, collapsed}``."""
    grids = list(grids)
    if not grids:
        raise ValueError("msssim_over_training needs at least one grid")
    class_ids = sorted({int(c) for _, _, y in grids for c in y.tolist()})
    steps = [int(s) for s, _, _ in grids]
    per = [all_pairs_msssim(x, y, class_ids) for _, x, y in grids]
    per_class = {c: [p[c] for p in per] for c in class_ids}
    mx = [float(np.nanmax(list(p.values()))) for p in per]
    flagged = [s for s, m in zip(steps, mx) if m > threshold]
    late = [s for s in flagged if s > after * steps[-1]]
    return {"steps": steps, "per_class": per_class, "max": mx,
            "mean": [float(np.nanmean(list(p.values()))) for p in per], "threshold": float(threshold),
            "after": after, "flagged_steps": flagged, "late_flagged_steps": late, "collapsed": bool(late)}


def run_msssim_over_training(run, after: float = 0.5, draws: int = 10, seed: int = 0, data_root=None) -> dict:
    """:func:`msssim_over_training` of a run's saved fixed-noise grids (each row one class),
    against the :func:`grid_threshold` of its training classes (grids of the same size)."""
    run = Run(run)
    ids = run.cfg.class_ids(len(dataset_info(run.cfg.dataset).classes))
    grids = []
    for step in run.sample_steps():
        images, rows = run.grid(step)
        grids.append((step, images, torch.tensor(ids)[rows]))
    x, y = load_dataset(run.cfg.dataset, train=True, root=data_root)
    per_class = int(np.bincount(grids[0][2].numpy()).max()) if grids else 10
    return msssim_over_training(grids, grid_threshold(x, y, ids, per_class, draws, seed), after)


def detects_collapse(healthy: dict, provoked: dict) -> bool:
    """Whether the detector tells the two runs apart (two :func:`msssim_over_training`
    results): it flags the run provoked to collapse and not the healthy one."""
    return provoked["collapsed"] and not healthy["collapsed"]


# ----------------------------------------------------------------------------- joint view
def correlation(x, y) -> tuple[float, float]:
    """Pearson and Spearman correlation (NaN when either side is constant or too short)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan, math.nan
    return float(stats.pearsonr(x, y)[0]), float(stats.spearmanr(x, y)[0])


def joint_table(result: dict, class_ids: list[int], class_names: list[str] | None = None) -> list[dict]:
    """Rows ``{class_id, name, accuracy, msssim, msssim_train}`` from an :func:`evaluate`
    result: the data of the paper's accuracy-vs-MS-SSIM scatter."""
    names = class_names or [str(c) for c in class_ids]
    return [{"class_id": c, "name": n, "accuracy": result.get(f"accuracy/class_{c}", math.nan),
             "msssim": result.get(f"msssim/samples_class_{c}", math.nan),
             "msssim_train": result.get(f"msssim/train_class_{c}", math.nan)} for c, n in zip(class_ids, names)]


def accuracy_vs_diversity(result: dict, class_ids: list[int], correct: dict | None = None,
                          sample_pairs: dict | None = None, draws: int = bootstrap.DRAWS, seed: int = 0) -> dict:
    """Correlation across classes of sample accuracy and sample MS-SSIM (paper: the two are
    anti-correlated, r = -0.16: accuracy is not bought with lost diversity). With
    ``correct`` (``{class: 0/1 per sample}``) and ``sample_pairs`` (``{class: MS-SSIM per
    pair}``), also 95 % intervals ``<key>.ci95`` (:data:`.bootstrap.TWO_LEVEL`: r over 10
    classes estimates a relation from few points, so the classes are resampled too)."""
    rows = joint_table(result, class_ids)
    r, rho = correlation([r["accuracy"] for r in rows], [r["msssim"] for r in rows])
    out = {"acc_vs_msssim/pearson": r, "acc_vs_msssim/spearman": rho}
    if correct is not None and sample_pairs is not None:
        cs = [c for c in class_ids if len(correct.get(c, ())) and len(sample_pairs.get(c, ()))]
        rng = np.random.default_rng(seed)
        acc = bootstrap.class_means([correct[c] for c in cs], draws, rng)
        ms = bootstrap.class_means([sample_pairs[c] for c in cs], draws, rng)
        x, y = bootstrap.resample_classes(acc, ms, rng=rng) if len(cs) >= 3 else (acc.T[:0], ms.T[:0])
        out["acc_vs_msssim/pearson.ci95"] = bootstrap.percentile_interval(bootstrap.rowwise_pearson(x, y))
        out["acc_vs_msssim/spearman.ci95"] = bootstrap.percentile_interval(bootstrap.rowwise_spearman(x, y))
    return out


# ----------------------------------------------------------------------------- pixel diversity
def pixel_diversity(images: torch.Tensor) -> float:
    """Mean pairwise root-mean-square pixel distance between images in [-1, 1]: a cheap,
    model-free diversity measure (a collapsed generator scores near 0). Chapters 1 and 7
    follow it over training on the fixed-noise grids."""
    x = images.flatten(1).double()
    n = len(x)
    d = torch.cdist(x, x) / math.sqrt(x.shape[1])
    return float(d.sum() / (n * (n - 1))) if n > 1 else 0.0


def real_pixel_diversity(dataset: str, n: int = 100, seed: int = 0, image_size: int | None = None,
                         data_root=None) -> float:
    """:func:`pixel_diversity` of ``n`` random training images (the reference value)."""
    images, _ = load_dataset(dataset, train=True, root=data_root)
    x = to_float(images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]])
    return pixel_diversity(resize(x, image_size) if image_size else x)
