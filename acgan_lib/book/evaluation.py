"""The chapters' door to :mod:`acgan_lib.metrics`: evaluation results cached next to the
run they describe, the evaluation classifier of each scale, and metrics over training time
computed from the saved fixed-noise grids.

* :func:`evaluate` -- ``metrics.evaluate_run`` on a run's ``final.pt`` with the classifier
  of the scale, cached in ``<run>/eval/`` (recomputed when the checkpoint is newer).
* :func:`classifier` -- the evaluation classifier of a dataset at a scale: at ``smoke``
  scale a one-epoch classifier on 3,000 images (seconds, meaningless numbers, cached under
  ``runs/book/smoke/classifiers``); otherwise the library's default classifier (trained
  once on the full training set and cached under ``runs/classifiers``).
* :func:`accuracy_over_time` -- classifier accuracy of the fixed-noise grid at every saved
  step (each grid row is one class).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import torch

from .. import metrics as M
from .. import plots, probes
from ..data import dataset_info, load_dataset, resize, select_classes, to_float
from ..metrics import classifiers as C
from ..metrics import synthetic
from ..metrics.context import cache_path
from ..runs import Run
from ..sample import generate, load_generator
from .core import runs_root, show


def classifier(dataset: str, scale: str):
    """``(model, meta)`` of the evaluation classifier used at ``scale``."""
    if scale != "smoke":
        return C.get_classifier(dataset, progress=False)
    path = runs_root() / "smoke" / "classifiers" / f"{dataset}-{C.ARCH_FOR[dataset]}.pt"
    if path.exists():
        return C.load_classifier(path)
    x, y = load_dataset(dataset, train=True)
    xt, yt = load_dataset(dataset, train=False)
    model, meta = C.train_classifier(dataset, epochs=1, out=path, progress=False, train_data=(x[:3000], y[:3000]),
                                     test_data=(xt[:1000], yt[:1000]), val_size=300)
    meta["path"] = str(path)
    return model, meta


def evaluate(run, scale: str, n: int, metrics=None, seed: int = 0, **kwargs) -> dict:
    """:func:`acgan_lib.metrics.evaluate_run` of the run's final generator with the
    classifier of ``scale`` (a flat dict; cached in ``<run>/eval/`` so that re-executing a
    chapter recomputes nothing). Samples of a model whose size differs from the
    classifier's (64 px models) are resized to it (``meta/resized_to``)."""
    clf, meta = classifier(Run(run).cfg.dataset, scale)
    return M.evaluate_run(Path(run), n=n, metrics=metrics, seed=seed, classifier=(clf, meta),
                          resize_to=clf.image_size, **kwargs)


def accuracy_over_time(run_dir, scale: str) -> tuple[list[int], list[float]]:
    """Classifier accuracy of the saved fixed-noise grids (row = intended class) per step."""
    run = Run(run_dir)
    clf, _ = classifier(run.cfg.dataset, scale)
    ids = torch.tensor(run.cfg.class_ids(len(dataset_info(run.cfg.dataset).classes)))
    steps, accs = run.sample_steps(), []
    for s in steps:
        x, rows = run.grid(s)
        logits, _ = C.classify(clf, resize(x, clf.image_size))
        accs.append((logits.argmax(1).cpu() == ids[rows]).float().mean().item())
    return steps, accs


# ----------------------------------------------------------------------------- probe figures
def _gen(run_dir):
    return load_generator(Path(run_dir) / "final.pt")


def nearest_neighbors_figure(run_dir, scale: str, n: int = 8, k: int = 4, seed: int = 0,
                             save_as: str | None = None) -> None:
    """``n`` samples (one per class, cycling) and their ``k`` nearest training images by
    pixel L1 distance (paper Sec. 4.4)."""
    gen = _gen(run_dir)
    labels = torch.arange(n) % gen.num_classes
    samples = generate(gen, labels, seed=seed)
    x, y = load_dataset(gen.cfg.dataset, train=True)
    if gen.class_ids != list(range(int(y.max()) + 1)):
        x, _ = select_classes(x, y, gen.class_ids)
    samples = resize(samples, x.shape[-1])
    _, idx = probes.nearest_neighbors(samples.cpu(), x, k=k)
    neighbours = to_float(x[idx.flatten()]).view(n, k, *x.shape[1:])
    show(plots.plot_nearest_neighbors(samples.cpu(), neighbours, title=f"{k} nearest training images (pixel L1)"),
         save_as)


def interpolation_figure(run_dir, kind: str = "within", mode: str = "linear", pairs: int = 6, steps: int = 12,
                         seed: int = 0, save_as: str | None = None) -> None:
    """Latent interpolations of the run's generator: ``within`` one class between two z, or
    ``between`` two classes for one z (the label is blended)."""
    gen = _gen(run_dir)
    paths = probes.interpolations(gen, pairs=pairs, steps=steps, mode=mode, seed=seed)
    lab = paths["labels"]
    names = gen.class_names
    if kind == "within":
        rows = [names[int(a)] for a in lab[:, 0]]
        title = f"{mode} interpolation between two z, class fixed"
    else:
        rows = [f"{names[int(a)]} -> {names[int(b)]}" for a, b in lab]
        title = f"interpolation between two classes, z fixed"
    show(plots.plot_interpolation(paths[kind], row_labels=rows, title=title), save_as)


def fixed_z_figure(run_dir, n_z: int = 10, seed: int = 0, save_as: str | None = None) -> None:
    """Rows = classes, columns = one z each (shared across the column)."""
    gen = _gen(run_dir)
    show(plots.plot_fixed_z_grid(probes.fixed_z_grid(gen, n_z=n_z, seed=seed), gen.class_names,
                                 title="each column: one z for every class"), save_as)


def synthetic_table(run_dir, total: int, epochs: int, percents, seed: int = 0) -> list[dict]:
    """003 Table 3 (:func:`acgan_lib.metrics.synthetic.synthetic_table`) for the run's
    generator, all three strategies, cached in the run folder cell by cell as each cell is
    trained (an interrupted table resumes; processes calling this with parts of ``percents``
    share the work). A checkpoint newer than the cells invalidates them."""
    run_dir = Path(run_dir)
    cells = cache_path("synthetic-cells", run_dir / "eval", suffix="", total=total, epochs=epochs, seed=seed,
                       rows=synthetic.ROW_FORMAT)
    if cells.exists() and cells.stat().st_mtime < (run_dir / "final.pt").stat().st_mtime:
        shutil.rmtree(cells)  # cells of an older checkpoint
    cells.mkdir(parents=True, exist_ok=True)
    return synthetic.synthetic_table(_gen(run_dir), total=total, epochs=epochs, percents=tuple(percents),
                                     seed=seed, progress=False, cells_dir=cells)


# ----------------------------------------------------------------------------- table headings
HEADINGS = {  # key of an evaluate() result -> its table heading (real data: the samples')
    "accuracy": "accuracy", "accuracy_real": "accuracy",
    "classifier_score_mean": "score", "classifier_score_real_mean": "score",
    "classifier_score_std": "score std", "classifier_score_real_std": "score std",
    "frechet_classifier": "Frechet (classifier)", "fid_inception": "FID",
    "per_class_accuracy_min": "weakest class accuracy",
    "msssim/samples_mean": "MS-SSIM",
}


def headings(row: dict) -> dict:
    """``row`` for display: the keys of :func:`evaluate` renamed to their table headings
    (:data:`HEADINGS`), so that a row of real-data keys (``accuracy_real``...) lines up
    under the samples' columns. Results are saved with the keys themselves."""
    return {HEADINGS.get(k, k): v for k, v in row.items()}
