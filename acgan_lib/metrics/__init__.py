"""Evaluation of trained generators: one entry point, :func:`evaluate`, returning a flat
dict and writing it as JSON with its provenance.

Metrics (``list_metrics()``; the paper's section or the seed document each reproduces):

* ``accuracy`` -- "Inception accuracy" with the evaluation classifier (paper Sec. 4.1,
  003 Tables 1-2, 004 "ResNet accuracy"), overall and per class; real test accuracy too.
* ``classifier_score`` -- the Inception-score formula on the classifier (003 Sec. 3, 004).
* ``frechet_classifier`` -- Frechet distance on the classifier's penultimate features.
* ``fid_inception`` -- standard FID (TF-Inception pool3, torchmetrics), vs training images.
* ``inception_score`` -- standard IS: needs Inception logits; an error offline.
* ``msssim`` -- MS-SSIM diversity per class, samples vs training data (paper Sec. 4.2).
* ``acc_vs_diversity`` -- correlation of per-class accuracy and MS-SSIM (paper Sec. 4.3).
* ``resolution`` -- accuracy at 8/16/native/64 px (paper Sec. 4.1, 000 Fig. 5).
* ``nearest_neighbors``, ``interpolation``, ``fixed_z`` -- overfitting probes (Sec. 4.4).
* ``synthetic_data`` -- 003 Table 3 (trains 42 classifiers; not in the default set).

Usage::

    from acgan_lib import metrics
    res = metrics.evaluate("runs/cpu/acgan-fmnist/final.pt", out="metrics.json", n=10000)
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from .. import __version__
from ..utils import UserError, atomic_write_json, device_name, git_commit, resolve_device
from . import classifiers, diversity, fid, resolution, scores, synthetic
from .context import EvalContext

MIN_N = 100          # 10 classifier-score splits of >= 10 samples; >= 10 samples per class
CPU_FID_N = 1000     # default FID sample count on CPU (299 px TF-Inception: ~0.1-0.3 s per image)


# ----------------------------------------------------------------------------- metric functions
def _accuracy(ctx: EvalContext, opts) -> dict:
    out = scores.accuracy_report(ctx.sample_preds, ctx.sample_targets, ctx.class_ids)
    xt, yt = ctx.test_subset
    out["accuracy_real"] = (ctx.test_logits.argmax(1) == yt).float().mean().item()
    return out


def _classifier_score(ctx, opts) -> dict:
    m, s = scores.classifier_score(ctx.sample_probs)
    out = {"classifier_score_mean": m, "classifier_score_std": s}
    if len(ctx.test_logits) >= 20:
        out["classifier_score_real_mean"], out["classifier_score_real_std"] = \
            scores.classifier_score(ctx.test_logits.float().softmax(1))
    return out


def _frechet_classifier(ctx, opts) -> dict:
    return {"frechet_classifier": scores.frechet_distance(ctx.sample_feats, ctx.test_feats)}


def _rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def _fid_inception(ctx, opts) -> dict:
    from ..data import to_uint8

    n = opts["fid_n"]
    metric = scores.fid_metric(opts.get("fid_extractor"), ctx.device)
    bs = 50 if ctx.device.type == "cuda" else 10  # small CPU batches run faster (cache)
    xr, _ = ctx.train_u8
    n_real = min(opts.get("fid_ref_n") or n, len(xr))
    st, path = fid.reference_stats(ctx.info.name, n_real, ctx.seed, ctx.class_ids, xr, opts.get("fid_extractor"),
                                   ctx.device, progress=opts["progress"])
    for k in fid.STATES:
        getattr(metric, k).copy_(st[k])
    for i in range(0, n, bs):
        metric.update(_rgb(to_uint8(ctx.samples[i:i + bs])), real=False)
    return {"fid_inception": float(metric.compute()), "meta/n_fid": n, "meta/n_fid_real": n_real,
            "meta/fid_reference": path.name if path else "<computed in memory>"}


def _inception_score(ctx, opts) -> dict:
    from ..data import to_uint8
    m, s = scores.inception_score(to_uint8(ctx.samples), device=ctx.device)
    return {"inception_score_mean": m, "inception_score_std": s}


def _msssim(ctx, opts) -> dict:
    xr, yr = ctx.train_u8
    return diversity.diversity_report(ctx.samples, ctx.sample_groups, xr, yr, ctx.class_ids, seed=ctx.seed)


def _acc_vs_diversity(ctx, opts) -> dict:
    res = dict(opts["result"])
    if "accuracy" not in res:
        res.update(_accuracy(ctx, opts))
    if "msssim/samples_mean" not in res:
        res.update(_msssim(ctx, opts))
    return diversity.accuracy_vs_diversity(res, ctx.class_ids)


def _resolution(ctx, opts) -> dict:
    xt, yt = ctx.test_subset
    return resolution.resolution_report(ctx.clf, ctx.samples, ctx.sample_targets, xt, yt)


def _nearest_neighbors(ctx, opts) -> dict:
    from .. import probes

    m = min(opts["probe_n"], ctx.n)
    xr, _ = ctx.train_u8
    train = xr.to(ctx.device)
    xt, _ = ctx.test_subset
    s_d, _ = probes.nearest_neighbors(ctx.samples[:m], train)
    t_d, _ = probes.nearest_neighbors(xt[:m], train)
    out = probes.nn_distance_report(s_d[:, 0], t_d[:, 0], "l1")
    s_f, _ = probes.nearest_neighbors(ctx.sample_feats[:m], ctx.train_feats, metric="l2")
    t_f, _ = probes.nearest_neighbors(ctx.test_feats[:m], ctx.train_feats, metric="l2")
    out.update(probes.nn_distance_report(s_f[:, 0], t_f[:, 0], "feature"))
    out["meta/n_probe"] = m
    return out


def _interpolation(ctx, opts) -> dict:
    from .. import probes
    return probes.interpolation_report(ctx.gen, seed=ctx.seed)


def _fixed_z(ctx, opts) -> dict:
    from .. import probes
    return probes.style_consistency(probes.fixed_z_grid(ctx.gen, n_z=32, seed=ctx.seed))


def _synthetic_data(ctx, opts) -> dict:
    rows = synthetic.synthetic_table(ctx.gen, total=opts["synthetic_total"], epochs=opts["synthetic_epochs"],
                                     seed=ctx.seed, real_data=ctx.train_u8, test_data=ctx.test_u8,
                                     progress=opts["progress"])
    return {**synthetic.table_to_flat(rows), "meta/synthetic_total": opts["synthetic_total"],
            "meta/synthetic_epochs": opts["synthetic_epochs"]}


# name -> (function, one-line doc, in the default set, needs a conditional G)
METRICS = {
    "accuracy": (_accuracy, "classifier accuracy of samples, overall and per class ('Inception accuracy')", True, True),
    "classifier_score": (_classifier_score, "Inception-score formula on the evaluation classifier, 10 splits", True, False),
    "frechet_classifier": (_frechet_classifier, "Frechet distance on classifier features, samples vs test set", True, False),
    "fid_inception": (_fid_inception, "FID on TF-Inception pool3 features (torchmetrics), vs training set", True, False),
    "inception_score": (_inception_score, "standard Inception score (needs Inception logits; not offline)", False, False),
    "msssim": (_msssim, "MS-SSIM of 100 same-class pairs per class, samples vs training data", True, False),
    "acc_vs_diversity": (_acc_vs_diversity, "correlation of per-class accuracy and sample MS-SSIM", True, True),
    "resolution": (_resolution, "accuracy after resizing to 8/16/64 px and back, samples and real", True, True),
    "nearest_neighbors": (_nearest_neighbors, "sample-to-train vs test-to-train NN distances (L1, features)", True, False),
    "interpolation": (_interpolation, "smoothness of latent / class interpolations (linear, slerp)", True, False),
    "fixed_z": (_fixed_z, "style correlation across classes for the same z vs different z", True, True),
    "synthetic_data": (_synthetic_data, "003 Table 3: train the classifier on synthetic/real mixes", False, True),
}


def list_metrics() -> list[tuple[str, str]]:
    """``[(name, one-line doc), ...]``; names not in the default set say so."""
    return [(k, doc + ("" if default else " [not default]")) for k, (_, doc, default, _) in METRICS.items()]


def default_metrics(conditional: bool = True) -> list[str]:
    return [k for k, (_, _, default, cond) in METRICS.items() if default and (conditional or not cond)]


def _check_metrics(names, conditional: bool) -> list[str]:
    if names is None:
        return default_metrics(conditional)
    names = [m.strip() for item in names for m in str(item).split(",") if m.strip()]
    bad = [m for m in names if m not in METRICS]
    if bad:
        raise UserError(f"unknown metric '{bad[0]}' (choose from {', '.join(METRICS)})")
    if not conditional:
        cond = [m for m in names if METRICS[m][3]]
        if cond:
            raise UserError(f"metric '{cond[0]}' needs a class-conditional generator (this one is unconditional)")
    if "inception_score" in names:
        scores.inception_score_unavailable()
    return list(dict.fromkeys(names))


def _json_safe(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


# ----------------------------------------------------------------------------- entry points
def evaluate(generator_or_checkpoint_path, out=None, metrics=None, n: int = 10000, classifier=None,
             device="auto", seed: int = 0, ema: bool = True, data_root=None, progress: bool = True,
             fid_n: int | None = None, probe_n: int = 1000, synthetic_total: int = synthetic.CPU["total"],
             synthetic_epochs: int = synthetic.CPU["epochs"], test_data=None, train_data=None,
             fid_extractor=None, fid_ref_n: int | None = None) -> dict:
    """Evaluate a generator (a :class:`~acgan_lib.sample.Generator` or a checkpoint path).

    ``classifier``: None (the cached default of the dataset, trained on first use), a
    classifier file, or ``(model, meta)``. ``fid_n``: samples for FID (default ``n`` on
    CUDA, ``min(n, 1000)`` on CPU; recorded as ``meta/n_fid``); ``fid_ref_n``: training
    images of the reference statistics (default ``fid_n``; cached, see :mod:`.fid`). ``probe_n``: samples for the
    nearest-neighbour probe. ``test_data`` / ``train_data`` / ``fid_extractor`` replace the
    dataset files and TF-Inception (tests). Returns a flat dict (metrics, then ``meta/...``
    provenance) and writes it to ``out`` as JSON (non-finite numbers as null)."""
    from tqdm.auto import tqdm

    from ..sample import Generator, load_generator

    t0 = time.perf_counter()
    dev = resolve_device(device)
    gen = generator_or_checkpoint_path
    if not isinstance(gen, Generator):
        gen = load_generator(gen, dev, ema)
    else:
        gen.G.to(dev).eval()
    if n < MIN_N:
        raise UserError(f"n={n} is too small: need at least {MIN_N} samples (10 classifier-score splits, "
                        "enough samples per class)")
    names = _check_metrics(metrics, gen.conditional)
    dataset = gen.cfg.dataset
    if classifier is None or isinstance(classifier, (str, Path)):
        clf, meta = classifiers.get_classifier(dataset, dev, classifier, progress=progress, data_root=data_root)
    else:
        clf, meta = classifier if isinstance(classifier, (tuple, list)) else (classifier, {})
        clf.to(dev).eval()
        if meta.get("dataset", dataset) != dataset:
            raise UserError(f"classifier trained on {meta.get('dataset')} cannot evaluate a {dataset} generator")
    classifiers.check_input(clf, torch.zeros(1, gen.channels, gen.cfg.image_size, gen.cfg.image_size, device=dev))
    if fid_n is None:
        fid_n = n if dev.type == "cuda" else min(n, CPU_FID_N)
    fid_n = min(int(fid_n), n)
    if "fid_inception" in names and fid_n < 2:
        raise UserError(f"fid_n={fid_n}: FID needs at least 2 samples")
    ctx = EvalContext(gen, clf, meta, dev, n, seed, data_root, test_data, train_data)
    opts = {"fid_n": int(fid_n), "probe_n": probe_n, "synthetic_total": synthetic_total, "progress": progress,
            "synthetic_epochs": synthetic_epochs, "fid_extractor": fid_extractor, "fid_ref_n": fid_ref_n,
            "result": {}}
    result: dict = {}
    opts["result"] = result
    for name in tqdm(names, disable=not progress, desc="metrics", unit="metric", dynamic_ncols=True):
        t, shared = time.perf_counter(), sum(ctx.timings.values())
        result.update(METRICS[name][0](ctx, opts))
        # own time only: sample generation and classifier passes are reported separately
        own = time.perf_counter() - t - (sum(ctx.timings.values()) - shared)
        result[f"meta/time_s/{name}"] = round(own, 3)
    metrics_part = {k: v for k, v in result.items() if not k.startswith("meta/")}
    meta_part = {k: v for k, v in result.items() if k.startswith("meta/")}
    provenance = {
        "meta/checkpoint": gen.path, "meta/step": gen.step, "meta/dataset": dataset, "meta/model": gen.cfg.model,
        "meta/preset": gen.cfg.preset, "meta/class_ids": ",".join(map(str, gen.class_ids)), "meta/n": n,
        "meta/seed": seed, "meta/ema": ema, "meta/metrics": ",".join(names), "meta/device": device_name(dev),
        "meta/commit": git_commit(), "meta/library_version": __version__,
        "meta/classifier": meta.get("path", "<in memory>"), "meta/classifier_arch": meta.get("arch"),
        "meta/classifier_test_accuracy": meta.get("test_accuracy"),
        "meta/msssim": f"{diversity.PAIRS} pairs/class, resized to {diversity.SIZE}px, win {diversity.WIN}, 5 scales",
        **{f"meta/time_s/{k}": round(v, 3) for k, v in ctx.timings.items()},
        **meta_part, "meta/wall_time_s": round(time.perf_counter() - t0, 2)}
    final = {**metrics_part, **provenance}
    if out is not None:
        atomic_write_json(out, _json_safe(final))
    return final


def evaluate_checkpoint(checkpoint, out, metrics=None, n: int = 10000, classifier=None, device="auto",
                        seed: int = 0, ema: bool = True, **kwargs) -> dict:
    """CLI ``evaluate``: :func:`evaluate` on a checkpoint file or run folder."""
    return evaluate(checkpoint, out, metrics=metrics, n=n, classifier=classifier, device=device, seed=seed,
                    ema=ema, **kwargs)


__all__ = ["evaluate", "evaluate_checkpoint", "list_metrics", "default_metrics", "METRICS", "EvalContext",
           "classifiers", "scores", "diversity", "resolution", "synthetic"]
