"""What the metrics of one :func:`acgan_lib.metrics.evaluate` call share, in the shape of
stylegan2-ada's ``metrics/metric_utils.py``:

* :class:`EvalOptions` -- the typed options of the metrics (sample counts, progress bars,
  a replacement FID network for tests);
* :class:`EvalContext` -- the shared cache: samples are generated once, and the
  classifier's logits / features of samples, test and training images, the accuracy and
  MS-SSIM reports are computed once, whatever metrics ask for them and in whatever order.
  Everything lazy, everything batched on the device;
* :func:`cache_path` -- the one naming scheme of the on-disk caches: a readable name with
  the key inputs and a short md5 of all of them (stylegan2-ada's ``cache_tag``).
"""
from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data import dataset_info, exact_test_count, load_dataset, select_classes, to_float, to_uint8
from ..sample import generate
from . import diversity, fid, scores, synthetic
from .classifiers import classify

CPU_FID_N = 1000     # default FID sample count on CPU (299 px TF-Inception: ~0.1-0.3 s per image)
_READABLE = re.compile(r"[A-Za-z0-9_.,+]{1,24}")


def cache_path(kind: str, folder, suffix: str = ".json", **inputs) -> Path:
    """``<folder>/<kind>-<readable inputs>-<md5><suffix>``: every input goes into the md5
    of ``repr(sorted(inputs.items()))`` (so pass plain values: str, int, float, None,
    tuples); ints (as ``<name><value>``) and short plain strings are also spelled out, in
    the order of their names: ``metrics-accuracy,msssim-fid_n1000-n1000-seed0-2566b46051.json``."""
    md5 = hashlib.md5(repr(sorted(inputs.items())).encode()).hexdigest()[:10]
    readable = [f"{k}{v}" if isinstance(v, int) else v for k, v in sorted(inputs.items())
                if isinstance(v, (int, str)) and not isinstance(v, bool) and _READABLE.fullmatch(str(v))]
    return Path(folder) / ("-".join([kind, *readable, md5]) + suffix)


@dataclass
class EvalOptions:
    """Options of the metrics (what :func:`acgan_lib.metrics.evaluate` does not put into
    :class:`EvalContext`)."""
    fid_n: int = CPU_FID_N           # samples for FID (``meta/n_fid``)
    fid_ref_n: int | None = None     # training images of the FID reference (None: fid_n)
    probe_n: int = 1000              # samples of the nearest-neighbour probe
    synthetic_total: int = synthetic.CPU["total"]    # 003 Table 3: training-set size
    synthetic_epochs: int = synthetic.CPU["epochs"]  # 003 Table 3: epochs per classifier
    progress: bool = True            # progress bars
    fid_extractor: nn.Module | None = None  # replaces TF-Inception (tests); nothing cached then


class EvalContext:
    """Lazily computed inputs of the metrics for one generator, classifier and seed.

    Sample labels are G's labels ``arange(n) % K`` (balanced, and every contiguous split
    of the classifier score sees all classes); ``sample_targets`` are the matching dataset
    class ids. Real images are restricted to the generator's classes (class splitting)."""

    def __init__(self, gen, clf, clf_meta: dict, device, n: int, seed: int = 0, data_root=None,
                 test_data=None, train_data=None):
        self.gen, self.clf, self.clf_meta = gen, clf, clf_meta
        self.device, self.n, self.seed, self.data_root = device, n, seed, data_root
        self.info = dataset_info(gen.cfg.dataset)
        self.class_ids = list(gen.class_ids)
        self.native = gen.cfg.image_size
        self._test_data, self._train_data = test_data, train_data
        self.timings: dict[str, float] = {}

    def _timed(self, name, fn):
        t0 = time.perf_counter()
        out = fn()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0
        return out

    # ------------------------------------------------------------------ samples
    @cached_property
    def sample_labels(self) -> torch.Tensor:
        K = self.gen.num_classes if self.gen.conditional else 1
        return torch.arange(self.n) % K

    @cached_property
    def samples(self) -> torch.Tensor:
        return self._timed("generate", lambda: generate(self.gen, self.sample_labels, seed=self.seed))

    @cached_property
    def sample_targets(self) -> torch.Tensor | None:
        """Dataset class id intended for each sample (None for an unconditional G)."""
        if not self.gen.conditional:
            return None
        return torch.tensor(self.class_ids, device=self.device)[self.sample_labels.to(self.device)]

    @cached_property
    def _sample_out(self):
        x = self.samples  # generated first, so that its time is not counted as "classify"
        return self._timed("classify", lambda: classify(self.clf, x))

    @property
    def sample_logits(self):
        return self._sample_out[0]

    @property
    def sample_feats(self):
        return self._sample_out[1]

    @cached_property
    def sample_probs(self):
        return self.sample_logits.float().softmax(1)

    @cached_property
    def sample_preds(self):
        return self.sample_logits.argmax(1)

    @cached_property
    def sample_groups(self) -> torch.Tensor:
        """Class of each sample for per-class diversity: intended class, or the classifier's
        prediction for an unconditional G."""
        return self.sample_targets if self.sample_targets is not None else self.sample_preds

    # ------------------------------------------------------------------ real data (CPU uint8)
    def _restrict(self, data):
        x, y = data
        if self.class_ids != list(range(len(self.info.classes))):
            x, y = select_classes(x, y, self.class_ids)
            y = torch.tensor(self.class_ids)[y]  # back to dataset ids
        return x, y

    @cached_property
    def test_u8(self):
        data = self._test_data if self._test_data is not None else load_dataset(self.info.name, False, self.data_root)
        return self._restrict(data)

    @cached_property
    def train_u8(self):
        data = self._train_data if self._train_data is not None else load_dataset(self.info.name, True, self.data_root)
        return self._restrict(data)

    @cached_property
    def test_exact(self) -> torch.Tensor:
        """Bool mask over :attr:`test_u8`: the pixel-exact test images (all of MNIST,
        Fashion-MNIST and the official CIFAR-10; the first 1,000 of the shared CIFAR-10
        rebuild, see :func:`acgan_lib.data.exact_test_count`; all of test data passed in)."""
        if self._test_data is not None:
            return torch.ones(len(self.test_u8[1]), dtype=torch.bool)
        _, y = load_dataset(self.info.name, False, self.data_root)
        exact = torch.arange(len(y)) < exact_test_count(self.info.name, self.data_root)
        return exact[torch.isin(y, torch.tensor(self.class_ids))]

    @cached_property
    def test_all_preds(self) -> torch.Tensor:
        """The classifier's predictions on every (class-restricted) test image."""
        x, _ = self.test_u8

        def run():
            return torch.cat([classify(self.clf, to_float(x[i:i + 5000].to(self.device)))[0].argmax(1).cpu()
                              for i in range(0, len(x), 5000)])
        return self._timed("classify", run)

    @cached_property
    def test_subset(self) -> tuple[torch.Tensor, torch.Tensor]:
        """min(n, |test|) random test images (float, on the device) and their labels."""
        x, y = self.test_u8
        idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(self.seed))[:self.n]
        return to_float(x[idx].to(self.device)), y[idx].to(self.device)

    @cached_property
    def _test_out(self):
        x = self.test_subset[0]
        return self._timed("classify", lambda: classify(self.clf, x))

    @property
    def test_logits(self):
        return self._test_out[0]

    @property
    def test_feats(self):
        return self._test_out[1]

    @cached_property
    def train_feats(self) -> torch.Tensor:
        """Classifier features of the whole (class-restricted) training set."""
        x, _ = self.train_u8

        def run():
            return torch.cat([classify(self.clf, to_float(x[i:i + 5000].to(self.device)))[1]
                              for i in range(0, len(x), 5000)])
        return self._timed("classify", run)

    # ------------------------------------------------------------------ reports shared by metrics
    @cached_property
    def accuracy_report(self) -> dict:
        """``{"accuracy": ..., "accuracy/class_<id>": ...}`` of the samples (conditional G)."""
        return scores.accuracy_report(self.sample_preds, self.sample_targets, self.class_ids)

    @cached_property
    def correct_by_class(self) -> dict[int, np.ndarray]:
        """``{class id: 0/1 per sample of that class}``: classified as intended (conditional G)."""
        ok = (self.sample_preds == self.sample_targets).cpu().numpy()
        t = self.sample_targets.cpu().numpy()
        return {c: ok[t == c].astype(float) for c in self.class_ids}

    @cached_property
    def msssim_pairs(self) -> tuple[dict, dict]:
        """:func:`.diversity.diversity_pairs`: MS-SSIM of each pair, samples and training images."""
        xr, yr = self.train_u8
        return diversity.diversity_pairs(self.samples, self.sample_groups, xr, yr, self.class_ids, seed=self.seed)

    @cached_property
    def msssim_report(self) -> dict:
        """:func:`.diversity.diversity_report` of the samples and the training images."""
        return diversity.diversity_report(None, None, None, None, self.class_ids, seed=self.seed,
                                          pair_values=self.msssim_pairs)

    # ------------------------------------------------------------------ FID inputs
    def fid_reference(self, n_real: int, extractor=None, progress: bool = True):
        """``(mu, sigma, cache path or None)`` of ``n_real`` training images' FID features
        (the cached reference of :mod:`.fid` unless ``extractor`` replaces TF-Inception)."""
        xr, _ = self.train_u8
        st, path = fid.reference_stats(self.info.name, n_real, self.seed, self.class_ids, xr, extractor,
                                       self.device, progress=progress)
        return (*fid.stats_to_gaussian(st), path)

    def fid_features(self, n: int, extractor=None) -> torch.Tensor:
        """(n, d) FID features (TF-Inception pool3 unless ``extractor``) of the first ``n``
        samples, as uint8 images."""
        net = scores.fid_extractor(extractor, self.device)
        return scores.extract_features(net, to_uint8(self.samples[:n]), self.device)
