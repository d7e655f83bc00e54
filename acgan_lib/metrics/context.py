"""The shared cache of one :func:`acgan_lib.metrics.evaluate` call: samples are generated
once, and the classifier's logits / features of samples, test and training images are
computed once, whatever metrics ask for them (the ``MetricOptions`` idea of stylegan2-ada's
``metrics/metric_utils.py``). Everything lazy, everything batched on the device."""
from __future__ import annotations

import time
from functools import cached_property

import torch

from ..data import dataset_info, load_dataset, select_classes, to_float
from .classifiers import classify


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
        from ..sample import generate
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
