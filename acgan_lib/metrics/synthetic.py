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
``round(total * percent / 100)``, spread over the classes in class order (below one image
per class, the first classes get one). At CPU scale the fixed size and the epochs are reduced
(``total`` and ``epochs`` are explicit arguments and recorded in every row).

A table is one classifier seed (the seed draws the real images, the generator's noise, the
classifier's initialisation and its batches); :func:`summary`, :func:`gains` and
:func:`strategy_ranking` turn the tables of several seeds into means with 95 % intervals
and orderings (:mod:`acgan_lib.metrics.seeds`).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from ..data import dataset_info, load_dataset, to_uint8
from ..sample import generate
from ..utils import UserError, atomic_write_json, resolve_device, tqdm
from .classifiers import ARCH_FOR, build_classifier, fit, predict
from .seeds import interval_side, mean_interval, ordering, ranking

TABLE3_PERCENTS = (0.0, 0.018, 0.1, 1.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0)
STRATEGIES = ("mixed", "synthetic_first", "alternating")
RANKING = ("mixed", "alternating", "synthetic_first")  # 003 Sec. 4's order under 1 % real
SUMMARY = {"synthetic_only": 0.0, "real_0_018pct": 0.018, "real_0_1pct": 0.1, "real_1pct": 1.0,
           "real_10pct": 10.0, "real_only": 100.0}  # summary key -> real %, no strategy
PLATEAU_FROM = 20.0  # 003: above 20 % real, the accuracy stays within +- 0.2 % of its top
ROW_FORMAT = 2  # rows carry seed and predicted_share (caches of older rows are recomputed)
FULL = dict(total=55000, epochs=30)    # 003
CPU = dict(total=5500, epochs=10)      # reduced scale: minutes on one CPU core


def mix_counts(total: int, real_percent: float, num_classes: int,
               real_pools: list[int] | None = None) -> tuple[list[int], list[int]]:
    """Per-class ``(real counts, synthetic counts)`` of a ``total``-image set with
    ``real_percent`` % real images, every class holding ``total / K`` images.

    ``real_pools`` (the real images each class has): a class with fewer real images than its
    share gives all it has, and the shortfall is spread one image at a time over the classes
    with images to spare, in class order, so the set keeps its size and its real share. It
    happens only near 100 % real at 003's size: MNIST's training split has 5,421 fives, 79
    short of 5,500; 003's 100 % row is likewise its whole 55k split, not class-balanced."""
    if not 0.0 <= real_percent <= 100.0:
        raise UserError(f"real percentage must be in [0, 100], got {real_percent}")
    per_class = [total // num_classes + (c < total % num_classes) for c in range(num_classes)]
    n_real = int(round(total * real_percent / 100.0))
    real = [n_real // num_classes + (c < n_real % num_classes) for c in range(num_classes)]
    real = [min(r, p) for r, p in zip(real, per_class)]
    synth = [p - r for p, r in zip(per_class, real)]
    if real_pools is not None:
        if n_real > sum(real_pools):
            raise UserError(f"need {n_real} real images, the real pool has {sum(real_pools)}")
        real = [min(r, n) for r, n in zip(real, real_pools)]
        while sum(real) < n_real:  # one more image per class with some to spare, in class order
            for c in range(num_classes):
                if sum(real) < n_real and real[c] < real_pools[c]:
                    real[c] += 1
    return real, synth


def mix_indices(real_labels: torch.Tensor, synth_labels: torch.Tensor, class_ids: list[int], total: int,
                real_percent: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices into the real and the synthetic pools realising :func:`mix_counts`
    (random, without replacement, per class). Too small a pool is a :class:`UserError`."""
    pools = [int((real_labels.cpu() == c).sum()) for c in class_ids]
    real_n, synth_n = mix_counts(total, real_percent, len(class_ids), real_pools=pools)
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
    pred, truth = predict(model, test[0]), test[1].cpu()
    return {"real_percent": real_percent, "n_real": len(ri), "n_synthetic": len(si), "strategy": strategy,
            "total": total, "epochs": epochs, "seed": seed,
            "test_accuracy": (pred == truth).float().mean().item(),
            "predicted_share": [round((pred == c).float().mean().item(), 4) for c in class_ids],
            "train_time_s": round(time.perf_counter() - t0, 2)}


def synthetic_table(gen, total: int = CPU["total"], epochs: int = CPU["epochs"], percents=TABLE3_PERCENTS,
                    strategies=STRATEGIES, seed: int = 0, data_root=None, real_data=None, test_data=None,
                    progress: bool = True, cells_dir=None) -> list[dict]:
    """003 Table 3 for generator ``gen``: one row per (real percentage, strategy).
    ``real_data`` / ``test_data`` (uint8 images, labels) replace the dataset files.

    ``cells_dir``: a folder that keeps every finished row (one JSON file per cell, written
    atomically as soon as it is trained) and hands it back instead of retraining it. A row
    depends only on its own cell and ``seed`` (not on the other cells or their order), so an
    interrupted table resumes where it stopped, and several processes can share one table by
    each passing part of ``percents`` (003's full protocol is ~2.3 core-hours per seed on a
    CPU). The folder must belong to one generator, ``total``, ``epochs`` and ``seed``."""
    dataset = gen.cfg.dataset
    K = len(dataset_info(dataset).classes)
    if gen.num_classes != K:
        raise UserError(f"synthetic-data training needs a generator of all {K} classes (this one has {gen.num_classes})")
    jobs = [(float(p), s) for p in percents for s in strategies]
    done = {job: _read_cell(cells_dir, *job, total, epochs, seed) for job in jobs} if cells_dir else {}
    todo = [job for job in jobs if done.get(job) is None]
    if todo:
        real = real_data if real_data is not None else load_dataset(dataset, True, data_root)
        test = test_data if test_data is not None else load_dataset(dataset, False, data_root)
        synth = synthetic_pool(gen, -(-total // K), seed)
    for p, s in tqdm(todo, disable=not progress, desc="synthetic-data table", unit="run"):
        done[(p, s)] = train_on_mix(real, synth, test, dataset, p, s, total, epochs, seed, gen.device)
        if cells_dir:
            atomic_write_json(_cell_path(cells_dir, p, s), done[(p, s)])
    return [done[job] for job in jobs]


def _cell_path(cells_dir, percent: float, strategy: str) -> Path:
    return Path(cells_dir) / f"real{percent:g}pct-{strategy}.json"


def _read_cell(cells_dir, percent: float, strategy: str, total: int, epochs: int, seed: int) -> dict | None:
    """The finished row of one cell, or None; a row of other settings is an error (the
    folder belongs to another table), never silently reused."""
    path = _cell_path(cells_dir, percent, strategy)
    if not path.exists():
        return None
    row = json.loads(path.read_text())
    want = {"real_percent": percent, "strategy": strategy, "total": total, "epochs": epochs, "seed": seed}
    if {k: row.get(k) for k in want} != want:
        raise UserError(f"{path} holds a row of other settings ({ {k: row.get(k) for k in want} }), "
                        f"not {want}: use one cells folder per table")
    return row


# ----------------------------------------------------------------------------- over seeds
# ``tables``: one Table 3 (the rows of :func:`synthetic_table`) per classifier seed, same
# shares and strategies in each; every statistic below is over those seeds.
def accuracies(tables, percent: float, strategy: str = "mixed") -> list[float] | None:
    """The test accuracy of one mix in every table (one value per seed); ``None`` when a
    table lacks the mix."""
    out = [next((r["test_accuracy"] for r in rows if r["real_percent"] == percent and r["strategy"] == strategy),
                None) for rows in tables]
    return None if not out or None in out else out


def mean_table(tables) -> list[dict]:
    """Table 3 over seeds: the first table's rows with ``test_accuracy`` (and
    ``predicted_share``) the mean over the tables, ``test_accuracy_ci95`` its 95 % t-interval
    and ``seeds`` the number of tables."""
    out = []
    for row in tables[0]:
        same = [next(r for r in rows if (r["real_percent"], r["strategy"]) == (row["real_percent"], row["strategy"]))
                for rows in tables]
        mean, ci = mean_interval([r["test_accuracy"] for r in same])
        shares = [r["predicted_share"] for r in same if "predicted_share" in r]
        out.append({**{k: v for k, v in row.items() if k not in ("seed", "train_time_s")},
                    "test_accuracy": mean, "test_accuracy_ci95": ci, "seeds": len(same),
                    **({"predicted_share": [sum(c) / len(c) for c in zip(*shares)]} if shares else {})})
    return out


def _stat(out: dict, name: str, values) -> None:
    """``out[name]``: the mean of ``values`` over seeds, with ``name.seeds`` and ``name.ci95``
    (``None`` everywhere when there are no values)."""
    mean, ci = mean_interval(values) if values else (None, None)
    out.update({name: mean, f"{name}.seeds": len(values or []), f"{name}.ci95": ci, f"{name}.values": values})


def summary(tables) -> dict:
    """The numbers 003 Sec. 4 quotes, without a strategy, as means over the seeds with their
    95 % interval: the accuracy at the shares of :data:`SUMMARY`, the spread (max - min) of
    the accuracy over the mixes with >= :data:`PLATEAU_FROM` % real (per seed, as 003 read
    it off its one run; ``None`` with fewer than 2 such mixes), the gain from the lowest to
    the highest of those mixes (per seed; ``gain_above_20pct.upper95``: the upper end of its
    95 % interval, which claim D17 bounds: a plateau is a gain shown to be small, not a
    spread that noise alone can widen), and the share of the gap between synthetic-only and
    real-only closed by 10 % real (of the means)."""
    out: dict = {}
    for name, p in SUMMARY.items():
        _stat(out, name, accuracies(tables, p))
    plateau = sorted({r["real_percent"] for r in tables[0] if r["real_percent"] >= PLATEAU_FROM})
    per_seed = [accuracies(tables, p) for p in plateau]
    spreads = [max(a) - min(a) for a in zip(*per_seed)] if len(plateau) >= 2 else None
    _stat(out, "spread_above_20pct", spreads)
    out["spread_above_20pct.percents"] = plateau
    # "more real images do not improve the classifier further", as a test over seeds: the
    # gain from the lowest to the highest of these shares, and the upper end of its interval
    gains = [a[-1] - a[0] for a in zip(*per_seed)] if len(plateau) >= 2 else None
    _stat(out, "gain_above_20pct", gains)
    ci = out["gain_above_20pct.ci95"]
    out["gain_above_20pct.upper95"] = ci[1] if ci else None
    lo, hi, ten = out["synthetic_only"], out["real_only"], out["real_10pct"]
    out["gap_closed_by_10pct"] = (ten - lo) / (hi - lo) if None not in (lo, hi, ten) and hi > lo else None
    return out


def share_key(percent: float) -> str:
    """``real_0_018pct`` for 0.018 (the key of a real share in the results)."""
    return f"real_{percent:g}pct".replace(".", "_")


def gains(tables, num_classes: int, percents=(0.018, 0.1, 1.0), strategies=STRATEGIES) -> dict:
    """What a few real images do to each strategy, against 0 % real: for every share in
    ``percents`` (those the tables hold), ``{share_key: {percent, n_real, classes_with_real,
    <strategy>: ordering "share beats 0 %", <strategy>.diff (> 0 a gain, < 0 a dip),
    <strategy>.ci95, ..., <strategy>.gain_established: the gain's 95 % interval lies above 0
    (False with one seed), <strategy>.predicted_share_real_classes: [at 0 %, at the share]}}``;
    the last is the mean share of the test images predicted as one of the classes that hold a
    real image (how far the classifier leans towards those classes). ``num_classes``: of the dataset."""
    out = {}
    held = {r["real_percent"] for r in tables[0]}
    total = tables[0][0]["total"]
    mean = {(r["real_percent"], r["strategy"]): r for r in mean_table(tables)}
    for p in [p for p in percents if p in held and 0.0 in held]:
        real, _ = mix_counts(total, p, num_classes)
        d = {"percent": p, "n_real": sum(real), "classes_with_real": sum(n > 0 for n in real)}
        for s in [s for s in strategies if accuracies(tables, p, s) is not None]:
            d.update(ordering(s, a=accuracies(tables, p, s), b=accuracies(tables, 0.0, s)))
            d[f"{s}.gain_established"] = interval_side(d[f"{s}.ci95"]) == 1
            rows = [mean[(0.0, s)], mean[(p, s)]]
            if all("predicted_share" in r for r in rows):
                d[f"{s}.predicted_share_real_classes"] = [
                    sum(share for share, n in zip(r["predicted_share"], real) if n > 0) for r in rows]
        out[share_key(p)] = d
    return out


def strategy_ranking(tables, below: float = 1.0, order=RANKING,
                     name: str = "strategy_ranking_below_1pct") -> dict:
    """003 Sec. 4's ranking of its strategies "for proportions of real images under 1%"
    (no strategy > alternating > synthetic first): per seed, each strategy's mean accuracy
    over the shares strictly between 0 and ``below`` % that hold at least one real image (a
    share that rounds to none is the 0 % set), ranked over seeds with
    :func:`~acgan_lib.metrics.seeds.ranking` (every link's 95 % interval must exclude 0);
    ``name.percents``: the shares used. Empty when the tables hold no such share."""
    shares = sorted({r["real_percent"] for r in tables[0] if 0.0 < r["real_percent"] < below and r["n_real"] > 0})
    if not shares:
        return {}
    per = {s: [sum(v) / len(v) for v in zip(*(accuracies(tables, p, s) for p in shares))] for s in order}
    return {**ranking(name, per), f"{name}.percents": shares}


def table_to_flat(rows: list[dict]) -> dict:
    """``{"synthetic/<strategy>/real_<p>pct": accuracy}`` for the evaluation JSON."""
    return {f"synthetic/{r['strategy']}/real_{r['real_percent']:g}pct": r["test_accuracy"] for r in rows}
