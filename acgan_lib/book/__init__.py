"""The book's shared code: chapters are short cells calling these functions, so that no
model, training or plotting code is copied between chapters.

In a chapter::

    from acgan_lib import book
    book.provenance("03_acgan", scale, iters=iters)       # header: scale, device, commit...
    run_dir = book.run("acgan-fmnist", scale, iters=iters) # load the checkpoint, else train
    book.plot_losses(run_dir, save_as="losses")            # curves + D accuracies
    book.grids_over_time(run_dir)                          # fixed-noise grids over training
    book.save_result("03_acgan", "fmnist.accuracy", 0.91)  # -> book/results/03_acgan/metrics.json

Command line (``python -m acgan_lib.book --help``): ``execute`` (jupytext -> papermill for
each chapter), ``build`` (the static HTML, warnings are errors), ``check`` (executed
notebooks match their sources), ``screenshot`` (headless Chromium), ``report`` (the
reproduction table).
"""
from .core import (SCALE_NOTES, by_scale, context, require_dataset, cifar10_status, log_peak, scales_table, log_summary, book_dir, chapter_dir, figure_path, have_dataset, load_results,
                   needs_dataset, notice, provenance, repo_root, results_root, run, run_info, runs_root,
                   save_figure, save_result, show, table)
from .evaluation import (accuracy_over_time, classifier, evaluate, fixed_z_figure, interpolation_figure,
                         nearest_neighbour_figure, real_scores, scores, synthetic_table)
from .figures import (architecture_table, compare_grids, compare_runs, diversity_over_time, grid_tiles,
                      grids_over_time, model_diagram, pixel_diversity, plot_losses, plot_series,
                      real_pixel_diversity, sample_steps, show_grid)

__all__ = [
    "SCALE_NOTES", "by_scale", "context", "require_dataset", "cifar10_status", "log_peak", "scales_table", "log_summary", "book_dir", "chapter_dir", "figure_path", "have_dataset", "load_results",
    "needs_dataset", "notice", "provenance", "repo_root", "results_root", "run", "run_info", "runs_root",
    "save_figure", "save_result", "show", "table",
    "accuracy_over_time", "classifier", "evaluate", "fixed_z_figure", "interpolation_figure",
    "nearest_neighbour_figure", "real_scores", "scores", "synthetic_table",
    "architecture_table", "compare_grids", "compare_runs", "diversity_over_time", "grid_tiles",
    "grids_over_time", "model_diagram", "pixel_diversity", "plot_losses", "plot_series",
    "real_pixel_diversity", "sample_steps", "show_grid",
]
