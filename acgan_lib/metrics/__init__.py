"""Evaluation of trained generators: one entry point, :func:`evaluate`, returning a flat
dict and writing it as JSON with its provenance; :func:`evaluate_run` caches it in the run
folder (``<run>/eval/metrics-<key>.json``).

Metrics (``list_metrics()``; registered with ``@register`` in :mod:`.metric_main`, each a
function ``metric(ctx: EvalContext, opts: EvalOptions) -> dict``; the paper's section or
the seed document each reproduces):

* ``accuracy`` -- "Inception accuracy" with the evaluation classifier (paper Sec. 4.1,
  003 Tables 1-2, 004 "ResNet accuracy"), overall and per class; real test accuracy too.
* ``classifier_score`` -- the Inception-score formula on the classifier (003 Sec. 3, 004).
* ``frechet_classifier`` -- Frechet distance on the classifier's penultimate features.
* ``fid_inception`` -- standard FID (TF-Inception pool3), vs training images: the
  library's Frechet distance of Gaussian statistics, equal to torchmetrics' value (tested).
* ``inception_score`` -- standard IS: needs Inception logits; an error offline.
* ``msssim`` -- MS-SSIM diversity per class, samples vs training data (paper Sec. 4.2).
* ``acc_vs_diversity`` -- correlation of per-class accuracy and MS-SSIM (paper Sec. 4.3).
* ``resolution`` -- accuracy at 8/16/native/64 px (paper Sec. 4.1, 000 Fig. 5).
* ``nearest_neighbors``, ``interpolation``, ``fixed_z`` -- overfitting probes (Sec. 4.4).
* ``synthetic_data`` -- 003 Table 3 (trains 42 classifiers; not in the default set).

Results are flat ``"<metric>/<detail>"`` keys; :func:`section` takes one prefix apart.
Heavy optional third-party packages (torchmetrics, matplotlib, pandas, PIL) are imported
inside the functions that use them; everything else at the top of each module.

Usage::

    from acgan_lib import metrics
    res = metrics.evaluate("runs/cpu/acgan-fmnist/final.pt", out="metrics.json", n=10000)
    res = metrics.evaluate_run("runs/cpu/acgan-fmnist", n=10000)   # cached in the run folder
    metrics.section(res, "resolution")    # {"samples_8": ..., "real_28": ...}
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

import torch
from torch import nn

from .. import __version__
from ..sample import Generator, load_generator
from ..utils import UserError, atomic_write_json, device_name, git_commit, resolve_device, tqdm
from . import bootstrap, classifiers, diversity, fid, metric_main, resolution, scores, synthetic
from .context import CPU_FID_N, EvalContext, EvalOptions, cache_path
from .metric_main import METRICS, Metric, check_metrics, default_metrics, list_metrics, register

MIN_N = 100          # 10 classifier-score splits of >= 10 samples; >= 10 samples per class


def section(result: dict, prefix: str) -> dict:
    """The keys ``<prefix>/...`` of an :func:`evaluate` result, without the prefix:
    ``section(res, "resolution")`` -> ``{"samples_8": ..., "real_28": ...}``."""
    head = prefix.rstrip("/") + "/"
    return {k[len(head):]: v for k, v in result.items() if k.startswith(head)}


def _json_safe(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


# ----------------------------------------------------------------------------- entry points
def _generator(gen, dev, ema: bool) -> Generator:
    if isinstance(gen, Generator):
        gen.G.to(dev).eval()
        return gen
    return load_generator(gen, dev, ema)


def _classifier(classifier, dataset: str, dev, progress: bool, data_root) -> tuple[nn.Module, dict]:
    """``(model, meta)``: the cached default of ``dataset``, a file, or a given model."""
    if classifier is None or isinstance(classifier, (str, Path)):
        return classifiers.get_classifier(dataset, dev, classifier, progress=progress, data_root=data_root)
    clf, meta = classifier if isinstance(classifier, (tuple, list)) else (classifier, {})
    clf.to(dev).eval()
    if meta.get("dataset", dataset) != dataset:
        raise UserError(f"classifier trained on {meta.get('dataset')} cannot evaluate a {dataset} generator")
    return clf, meta


def _run_metrics(names: list[str], ctx: EvalContext, opts: EvalOptions) -> dict:
    """Results of every metric, each followed by ``meta/time_s/<name>``: its own time (sample
    generation and classifier passes are reported separately)."""
    result: dict = {}
    for name in tqdm(names, disable=not opts.progress, desc="metrics", unit="metric", dynamic_ncols=True):
        t, shared = time.perf_counter(), sum(ctx.timings.values())
        result.update(METRICS[name].fn(ctx, opts))
        own = time.perf_counter() - t - (sum(ctx.timings.values()) - shared)
        result[f"meta/time_s/{name}"] = round(own, 3)
    return result


def _provenance(ctx: EvalContext, names: list[str], ema: bool) -> dict:
    gen, dev, meta = ctx.gen, ctx.device, ctx.clf_meta
    return {
        "meta/checkpoint": gen.path, "meta/step": gen.step, "meta/dataset": gen.cfg.dataset,
        "meta/model": gen.cfg.model, "meta/preset": gen.cfg.preset,
        "meta/class_ids": ",".join(map(str, gen.class_ids)), "meta/n": ctx.n, "meta/seed": ctx.seed,
        "meta/ema": ema, "meta/metrics": ",".join(names), "meta/device": device_name(dev),
        "meta/commit": git_commit(), "meta/library_version": __version__,
        "meta/classifier": meta.get("path", "<in memory>"), "meta/classifier_arch": meta.get("arch"),
        "meta/classifier_test_accuracy": meta.get("test_accuracy"),
        "meta/msssim": f"{diversity.PAIRS} pairs/class, resized to {diversity.SIZE}px, win {diversity.WIN}, "
                       "5 scales",
        **{f"meta/time_s/{k}": round(v, 3) for k, v in ctx.timings.items()}}


def evaluate(generator_or_checkpoint_path, out=None, metrics=None, n: int = 10000, classifier=None,
             device="auto", seed: int = 0, ema: bool = True, data_root=None, progress: bool = True,
             fid_n: int | None = None, probe_n: int = 1000, synthetic_total: int = synthetic.CPU["total"],
             synthetic_epochs: int = synthetic.CPU["epochs"], test_data=None, train_data=None,
             fid_extractor=None, fid_ref_n: int | None = None) -> dict:
    """Evaluate a generator (a :class:`~acgan_lib.sample.Generator` or a checkpoint path).

    ``classifier``: None (the cached default of the dataset, trained on first use), a
    classifier file, or ``(model, meta)``. ``fid_n``: samples for FID (default ``n`` on
    CUDA, ``min(n, 1000)`` on CPU; recorded as ``meta/n_fid``); ``fid_ref_n``: training
    images of the reference statistics (default ``fid_n``; cached, see :mod:`.fid`).
    ``probe_n``: samples for the nearest-neighbour probe. ``test_data`` / ``train_data`` /
    ``fid_extractor`` replace the dataset files and TF-Inception (tests); the options go to
    the metrics as an :class:`EvalOptions`. Returns a flat dict (metrics, then ``meta/...``
    provenance) and writes it to ``out`` as JSON (non-finite numbers as null)."""
    t0 = time.perf_counter()
    dev = resolve_device(device)
    gen = _generator(generator_or_checkpoint_path, dev, ema)
    if n < MIN_N:
        raise UserError(f"n={n} is too small: need at least {MIN_N} samples (10 classifier-score splits, "
                        "enough samples per class)")
    names = check_metrics(metrics, gen.conditional)
    clf, meta = _classifier(classifier, gen.cfg.dataset, dev, progress, data_root)
    classifiers.check_input(clf, torch.zeros(1, gen.channels, gen.cfg.image_size, gen.cfg.image_size, device=dev))
    fid_n = min(int(fid_n if fid_n is not None else n if dev.type == "cuda" else min(n, CPU_FID_N)), n)
    if "fid_inception" in names and fid_n < 2:
        raise UserError(f"fid_n={fid_n}: FID needs at least 2 samples")
    ctx = EvalContext(gen, clf, meta, dev, n, seed, data_root, test_data, train_data)
    opts = EvalOptions(fid_n=fid_n, fid_ref_n=fid_ref_n, probe_n=probe_n, synthetic_total=synthetic_total,
                       synthetic_epochs=synthetic_epochs, progress=progress, fid_extractor=fid_extractor)
    result = _run_metrics(names, ctx, opts)
    final = {**{k: v for k, v in result.items() if not k.startswith("meta/")}, **_provenance(ctx, names, ema),
             **{k: v for k, v in result.items() if k.startswith("meta/")},
             "meta/wall_time_s": round(time.perf_counter() - t0, 2)}
    if out is not None:
        atomic_write_json(out, _json_safe(final))
    return final


def evaluate_checkpoint(checkpoint, out, metrics=None, n: int = 10000, classifier=None, device="auto",
                        seed: int = 0, ema: bool = True, **kwargs) -> dict:
    """CLI ``evaluate``: :func:`evaluate` on a checkpoint file or run folder."""
    return evaluate(checkpoint, out, metrics=metrics, n=n, classifier=classifier, device=device, seed=seed,
                    ema=ema, **kwargs)


_NOT_KEYED = ("device", "progress", "data_root")  # options that do not change the numbers


def _fingerprint(v):
    """A plain, stable stand-in for a cache-key input: tensors and modules by content."""
    if isinstance(v, nn.Module):
        return (type(v).__name__, *(_fingerprint(t) for t in v.state_dict().values()))
    if isinstance(v, torch.Tensor):
        data = v.detach().cpu().contiguous().flatten().view(torch.uint8).numpy().tobytes()
        return f"{v.dtype}{tuple(v.shape)}:{hashlib.md5(data).hexdigest()[:12]}"
    if isinstance(v, (list, tuple)):
        return tuple(_fingerprint(x) for x in v)
    return str(v) if isinstance(v, Path) else v


def evaluate_run(run_dir, n: int = 10000, metrics=None, seed: int = 0, classifier=None, device="auto",
                 ema: bool = True, progress: bool = False, data_root=None, resize_to: int | None = None,
                 **kwargs) -> dict:
    """:func:`evaluate` of ``<run_dir>/final.pt``, cached as ``<run_dir>/eval/metrics-<key>.json``
    (stylegan2-ada likewise writes its ``metric-*.jsonl`` into the run folder).

    The key (:func:`.context.cache_path`) covers ``n``, the metric names, ``seed``, ``ema``,
    the classifier (file name and sha256, or the weights of a model in memory) and every
    other keyword of :func:`evaluate` (``fid_n``, ``fid_ref_n``, ...; tensors and modules
    by content) except ``device``, ``progress`` and ``data_root``. The cached JSON is
    returned (non-finite numbers as None) unless the checkpoint is newer than it.
    ``resize_to`` scores a generator of another size (004's 64 px models) through
    :meth:`~acgan_lib.sample.Generator.resized` (recorded as ``meta/resized_to``)."""
    run_dir = Path(run_dir)
    ckpt = run_dir / "final.pt"
    if not ckpt.exists():
        raise UserError(f"checkpoint not found: {ckpt} (the run has not finished training)")
    dev = resolve_device(device)
    gen = load_generator(ckpt, dev, ema)
    resized = resize_to if resize_to and resize_to != gen.cfg.image_size else None
    gen = gen.resized(resized) if resized else gen
    names = check_metrics(metrics, gen.conditional)
    clf, meta = _classifier(classifier, gen.cfg.dataset, dev, progress, data_root)
    clf_file = Path(meta["path"]) if meta.get("path") and Path(meta["path"]).exists() else None
    key = {"n": n, "seed": seed, **{k: _fingerprint(v) for k, v in kwargs.items() if k not in _NOT_KEYED},
           "ema": ema, "metrics": ",".join(names), "classifier": clf_file.name if clf_file else "<in memory>",
           "classifier_sha256": fid.sha256_of(clf_file) if clf_file else _fingerprint(clf), "resize_to": resized}
    cache = cache_path("metrics", run_dir / "eval", **key)
    if cache.exists() and cache.stat().st_mtime >= ckpt.stat().st_mtime:
        return json.loads(cache.read_text())
    res = evaluate(gen, None, metrics=names, n=n, classifier=(clf, meta), device=device, seed=seed, ema=ema,
                   progress=progress, data_root=data_root, **kwargs)
    res["meta/resized_to"] = resized
    atomic_write_json(cache, _json_safe(res))
    return res


__all__ = ["evaluate", "evaluate_run", "evaluate_checkpoint", "section", "list_metrics", "default_metrics",
           "register", "cache_path", "METRICS", "Metric", "EvalContext", "EvalOptions", "bootstrap", "classifiers", "scores", "diversity",
           "fid", "resolution", "synthetic", "metric_main"]
