"""The book's shared code: chapters are short cells calling these functions, so that no
model, training or plotting code is copied between chapters.

In a chapter::

    from acgan_lib import book
    book.provenance("03_acgan", scale, iters=iters)       # header: scale, device, commit...
    run = book.run("acgan-fmnist", scale, iters=iters)     # load the checkpoint, else train
    book.plot_losses(run, save_as="losses")                # curves + D accuracies
    book.grids_over_time(run)                              # fixed-noise grids over training
    run.summary()["d_cls_acc_real"]                        # acgan_lib.runs.Run: the run folder
    book.save_result("03_acgan", "fmnist.accuracy", 0.91)  # -> book/results/03_acgan/metrics.json

Only what chapters import lives here; the build tooling (papermill executor, stale check,
Jupyter Book build, Chromium page check) is in the checkout's ``tools/book/``, reached as
``python -m acgan_lib.book execute|refresh|build|check|screenshot|report``.
"""
from .code import source
from .core import (knobs, cifar10_status, have_dataset, load_results, mean_sd, notice,
                   ordering_finding, orderings_table, provenance, require_dataset, run, save_result,
                   scales_table, show, table)
from .evaluation import (accuracy_over_time, classifier, evaluate, fixed_z_figure, interpolation_figure,
                         headings, nearest_neighbors_figure, synthetic_table)
from .figures import (architecture_table, compare_grids, compare_runs, diversity_over_time, grids_over_time,
                      model_diagram, plot_losses, plot_series, show_grid)

__all__ = [
    "source", "knobs", "cifar10_status", "have_dataset", "load_results", "mean_sd", "notice",
    "ordering_finding", "orderings_table", "provenance",
    "require_dataset", "run", "save_result", "scales_table", "show", "table",
    "accuracy_over_time", "classifier", "evaluate", "fixed_z_figure", "interpolation_figure",
    "headings", "nearest_neighbors_figure", "synthetic_table",
    "architecture_table", "compare_grids", "compare_runs", "diversity_over_time", "grids_over_time",
    "model_diagram", "plot_losses", "plot_series", "show_grid",
]
