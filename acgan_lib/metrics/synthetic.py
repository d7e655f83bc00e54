"""Training the evaluation classifier on synthetic data (003 Sec. 4 and its Table 3).

003 trains its LeNet on a training set of fixed size (55k) that mixes CGAN samples and
real MNIST images at the proportions of Table 3 (0 %, 0.018 %, 0.1 %, 1 %, 10 %, 20 % ...
100 % real), balanced over the 10 classes, for 30 epochs (Adam 1e-3), and tests it on the
real test set, with three strategies:

* ``mixed`` -- "no strategy": every epoch on the whole mixed set;
* ``synthetic_first`` -- "1st strategy": the synthetic part for the first half of the
  epochs, then the real part for the second half;
* ``alternating`` -- "2nd strategy": synthetic and real parts on alternate epochs.

An empty part (0 % or 100 % real) makes its epochs no-ops, which is why 003's strategies
give 0.824 (= 15 synthetic epochs) at 0 % real. Table 3's counts are not all consistent
with its percentages (0.018 % of 55k is 10 images, 0.1 % is 55, listed as 60); we use
``round(total * percent / 100)``. At CPU scale the fixed size and the epochs are reduced
(``total`` and ``epochs`` are explicit arguments and recorded in every row).
"""
from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from ..data import dataset_info, load_dataset, to_uint8
from ..sample import generate
from ..utils import UserError, resolve_device
from .classifiers import ARCH_FOR, accuracy_of, build_classifier, fit

TABLE3_PERCENTS = (0.0, 0.018, 0.1, 1.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0)
STRATEGIES = ("mixed", "synthetic_first", "alternating")
FULL = dict(total=55000, epochs=30)    # 003
CPU = dict(total=5500, epochs=10)      # reduced scale: minutes on one CPU core


def mix_counts(total: int, real_percent: float, num_classes: int) -> tuple[list[int], list[int]]:
    """Per-class ``(real counts, synthetic counts)`` of a ``total``-image set with
    ``real_percent`` % real images, every class holding ``total / K`` images."""
    if not 0.0 <= real_percent <= 100.0:
        raise UserError(f"real percentage must be in [0, 100], got {real_percent}")
    per_class = [total // num_classes + (c < total % num_classes) for c in range(num_classes)]
    n_real = int(round(total * real_percent / 100.0))
    real = [n_real // num_classes + (c < n_real % num_classes) for c in range(num_classes)]
    real = [min(r, p) for r, p in zip(real, per_class)]
    return real, [p - r for p, r in zip(per_class, real)]


def mix_indices(real_labels: torch.Tensor, synth_labels: torch.Tensor, class_ids: list[int], total: int,
                real_percent: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices into the real and the synthetic pools realising :func:`mix_counts`
    (random, without replacement, per class). Too small a pool is a :class:`UserError`."""
    real_n, synth_n = mix_counts(total, real_percent, len(class_ids))
    g = torch.Generator().manual_seed(seed)
    picks = {"real": [], "synthetic": []}
    for k, c in enumerate(class_ids):
        for name, labels, want in (("real", real_labels, real_n[k]), ("synthetic", synth_labels, synth_n[k])):
            idx = (labels.cpu() == c).nonzero().flatten()
            if len(idx) < want:
                raise UserError(f"need {want} {name} images of class {c}, the pool has {len(idx)}")
            picks[name].append(idx[torch.randperm(len(idx), generator=g)[:want]])
    return torch.cat(picks["real"]), torch.cat(picks["synthetic"])


def epoch_sets(real, synth, strategy: str, epochs: int) -> list:
    """The ``(images, labels)`` set of every epoch for a strategy (see the module doc)."""
    if strategy == "mixed":
        both = (torch.cat([real[0], synth[0]]), torch.cat([real[1], synth[1]]))
        return [both] * epochs
    if strategy == "synthetic_first":
        return [synth] * (epochs // 2) + [real] * (epochs - epochs // 2)
    if strategy == "alternating":
        return [synth if e % 2 == 0 else real for e in range(epochs)]
    raise UserError(f"unknown strategy '{strategy}' (choose from {', '.join(STRATEGIES)})")


def synthetic_pool(gen, per_class: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` uint8 samples of each of G's classes, labelled with dataset class ids."""
    if not gen.conditional:
        raise UserError("synthetic-data training needs a class-conditional generator")
    labels = torch.arange(gen.num_classes).repeat_interleave(per_class)
    images = to_uint8(generate(gen, labels, seed=seed)).cpu()
    return images, torch.tensor(gen.class_ids)[labels]


def train_on_mix(real, synth, test, dataset: str, real_percent: float, strategy: str, total: int,
                 epochs: int, seed: int = 0, device="cpu", arch: str | None = None) -> dict:
    """Train one classifier on one mix and return its row of Table 3."""
    info = dataset_info(dataset)
    arch = arch or ARCH_FOR[info.name]
    class_ids = sorted(set(real[1].tolist()) | set(synth[1].tolist()))
    ri, si = mix_indices(real[1], synth[1], class_ids, total, real_percent, seed)
    dev = resolve_device(device)
    r, s = (real[0][ri].to(dev), real[1][ri].to(dev)), (synth[0][si].to(dev), synth[1][si].to(dev))
    torch.manual_seed(seed)
    model = build_classifier(arch, dataset).to(dev)
    t0 = time.perf_counter()
    fit(model, epoch_sets(r, s, strategy, epochs), arch, seed=seed)
    return {"real_percent": real_percent, "n_real": len(ri), "n_synthetic": len(si), "strategy": strategy,
            "total": total, "epochs": epochs, "test_accuracy": accuracy_of(model, test[0], test[1]),
            "train_time_s": round(time.perf_counter() - t0, 2)}


def synthetic_table(gen, total: int = CPU["total"], epochs: int = CPU["epochs"], percents=TABLE3_PERCENTS,
                    strategies=STRATEGIES, seed: int = 0, data_root=None, real_data=None, test_data=None,
                    progress: bool = True) -> list[dict]:
    """003 Table 3 for generator ``gen``: one row per (real percentage, strategy).
    ``real_data`` / ``test_data`` (uint8 images, labels) replace the dataset files."""
    dataset = gen.cfg.dataset
    K = len(dataset_info(dataset).classes)
    if gen.num_classes != K:
        raise UserError(f"synthetic-data training needs a generator of all {K} classes (this one has {gen.num_classes})")
    real = real_data if real_data is not None else load_dataset(dataset, True, data_root)
    test = test_data if test_data is not None else load_dataset(dataset, False, data_root)
    synth = synthetic_pool(gen, -(-total // K), seed)
    rows = []
    jobs = [(p, s) for p in percents for s in strategies]
    for p, s in tqdm(jobs, disable=not progress, desc="synthetic-data table", unit="run"):
        rows.append(train_on_mix(real, synth, test, dataset, p, s, total, epochs, seed, gen.device))
    return rows


def table_to_flat(rows: list[dict]) -> dict:
    """``{"synthetic/<strategy>/real_<p>pct": accuracy}`` for the evaluation JSON."""
    return {f"synthetic/{r['strategy']}/real_{r['real_percent']:g}pct": r["test_accuracy"] for r in rows}
