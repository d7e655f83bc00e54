"""What every chapter shares: where things live, training runs through the "load the
checkpoint if it exists, else train" rule, the provenance header and the metrics files.

Folders (each can be moved with an environment variable, which the executor sets):

* runs: ``$ACGAN_BOOK_RUNS`` or ``<repo>/runs/book`` (ignored by git), one folder per
  ``<scale>/<name>`` (``execute --out DIR`` uses ``DIR/runs``);
* results: ``$ACGAN_BOOK_RESULTS``, one folder per chapter with ``metrics.json`` and the
  chapter's figures. Only the executor writes the committed ``<repo>/book/results``
  (``execute`` without ``--out`` sets the variable to it); a chapter run any other way
  (plain papermill, Jupyter) writes to the scratch folder ``<repo>/_build/scratch/results``
  (ignored by git), so re-running a chapter never changes a committed file. Reading
  (:func:`load_results`) falls back to the committed results.

Outside a checkout (e.g. on Colab, where the package is pip-installed) both default to
folders under the working directory.

The header's commit is ``$ACGAN_BOOK_COMMIT`` when the executor set it (taken once, before
the first chapter ran, from a clean tree or with the hash of its diff), else ``git_commit()``.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import html
import json
import os
import platform
import shutil
import sys
import warnings
from pathlib import Path

import torch

from .. import __version__
from ..config import SCALES, scaled_config
from ..data import data_root, dataset_info, is_available
from ..metrics.seeds import interval_side
from ..runs import Run
from ..train import train_or_load
from ..utils import (UserError, atomic_write_json, bf16_is_fast, device_name, git_commit,
                     resolve_device)

SCALE_NOTES = {
    "smoke": "smoke test: a handful of iterations on tiny batches; it only checks that the "
             "code runs. The numbers and images are meaningless.",
    "cpu": "reduced scale for 2 CPU cores (fewer iterations, smaller batches and evaluation "
           "sets than the sources; each chapter's header states its own). Not the sources' "
           "protocol: compare trends, not absolute numbers.",
    "full": "the sources' protocol (the presets as written): hours per chapter on CPU for the "
            "MNIST chapters, a GPU for the AC-GAN chapters.",
}
SCALE_SHORT = {
    "smoke": "smoke test, only checks that the code runs (numbers and images are meaningless)",
    "cpu": "reduced scale for CPU cores, not the sources' protocol (compare trends, not absolute numbers)",
    "full": "the sources' protocol",
}
CHAPTER_FOLDER_ENV = "ACGAN_BOOK_RESULTS"
RUNS_ENV = "ACGAN_BOOK_RUNS"
COMMIT_ENV = "ACGAN_BOOK_COMMIT"

# tqdm.auto without ipywidgets warns in every notebook; training shows no bar there anyway
warnings.filterwarnings("ignore", message="IProgress not found")

# set by provenance(): the chapter being executed and its parameters
_CONTEXT: dict = {}


# ----------------------------------------------------------------------------- folders
def repo_root() -> Path | None:
    """The checkout holding the book (``_toc.yml`` next to ``acgan_lib/``), or None when
    the package is installed elsewhere (Colab)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "_toc.yml").exists() and (root / "acgan_lib").is_dir() else None


def results_root() -> Path:
    """Folder the per-chapter results (``<chapter>/metrics.json`` and figures) are written
    to: ``$ACGAN_BOOK_RESULTS`` (set by the executor: ``book/results`` for the committed
    book, ``DIR/results`` with ``--out``), else a scratch folder (``<repo>/_build/scratch/
    results``, ignored by git; ``./book_results`` outside a checkout): a chapter run with
    plain papermill or Jupyter never overwrites the committed results."""
    if os.environ.get(CHAPTER_FOLDER_ENV):
        return Path(os.environ[CHAPTER_FOLDER_ENV]).expanduser()
    root = repo_root()
    return root / "_build" / "scratch" / "results" if root else Path.cwd() / "book_results"


def committed_results_root() -> Path | None:
    """``<repo>/book/results``: the committed results (written only by the executor)."""
    root = repo_root()
    return root / "book" / "results" if root else None


def runs_root() -> Path:
    """Folder of the book's training runs (``<scale>/<name>``)."""
    if os.environ.get(RUNS_ENV):
        return Path(os.environ[RUNS_ENV]).expanduser()
    root = repo_root()
    return root / "runs" / "book" if root else Path.cwd() / "runs" / "book"


def stale_chapters() -> dict:
    """``book/stale.json``: the chapters whose code changed after they were executed and
    which are committed without re-execution, each with the commit its outputs come from
    (managed by ``python -m acgan_lib.book stale``; the report marks their claims stale)."""
    root = repo_root()
    path = root / "book" / "stale.json" if root else None
    return json.loads(path.read_text()).get("chapters", {}) if path and path.exists() else {}


def chapter_dir(chapter: str | None = None) -> Path:
    chapter = chapter or _CONTEXT.get("chapter") or "scratch"
    return results_root() / chapter


def _rel(path: Path) -> str:
    """A path relative to the checkout when possible (for messages and tables)."""
    root = repo_root()
    try:
        return str(Path(path).resolve().relative_to(root)) if root else str(path)
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------- knobs
def knobs(table: dict, scale: str, **given) -> dict:
    """A chapter's knobs at ``scale``, as nanoGPT reads one config file per scale: ``table``
    lists, for every scale, only what the chapter sets beyond :data:`acgan_lib.config.SCALES`
    (e.g. ``iters`` comes from there: 6 / 3,000 / the preset's own at ``full``). A value
    given by papermill (not None) wins. Returns ``{name: value}`` in the order given (None
    means: the preset's value)."""
    if scale not in SCALES:
        raise UserError(f"unknown scale '{scale}' (choose from {', '.join(SCALES)})")
    if set(table) != set(SCALES):
        raise ValueError(f"the knob table must list every scale {list(SCALES)}, got {list(table)}")
    unknown = sorted({k for row in table.values() for k in row} - set(given))
    if unknown:
        raise ValueError(f"knob table sets {unknown}, which the chapter does not declare")
    return {k: v if v is not None else table[scale].get(k, SCALES[scale].get(k)) for k, v in given.items()}


# ----------------------------------------------------------------------------- datasets
def have_dataset(name: str) -> bool:
    """Whether the files of dataset ``name`` are on this machine (no download is tried:
    the book never trains on stand-in data)."""
    return is_available(name)


def require_dataset(name: str) -> None:
    """Stop the chapter with a one-line error saying how to get ``name`` when its files are
    missing (a chapter executed with ``dataset=cifar10`` on a machine without CIFAR-10)."""
    if have_dataset(name):
        return
    where = data_root() / dataset_info(name).folder
    raise UserError(f"{name} is not on this machine (looked in {where}); the book never trains on stand-in "
                    f"data. Put the real files there (or point $ACGAN_DATA at them; torchvision downloads them "
                    f"when online) and execute again, e.g. python -m acgan_lib.book execute --scale full "
                    f"--chapters 03 -p dataset={name}")


def cifar10_status(dataset: str) -> None:
    """The box closing a chapter's CIFAR-10 section: ran, or not run and how to run it."""
    if dataset == "cifar10":
        notice("Executed on CIFAR-10", "The results above are CIFAR-10 results (real data).", kind="note")
        return
    present = "present" if have_dataset("cifar10") else "absent"
    notice("CIFAR-10 not run in this execution",
           f"This notebook was executed with <code>dataset={dataset!r}</code>: every result above is a "
           f"{html.escape(dataset)} result. CIFAR-10 is {present} on the machine that executed it. To run the "
           "CIFAR-10 version: <code>python -m acgan_lib.book execute --scale full --chapters 03 -p dataset=cifar10</code>.")


# ----------------------------------------------------------------------------- training
def run(preset: str, scale: str, name: str | None = None, progress: bool = False, **overrides) -> Run:
    """Train ``preset`` at ``scale`` (plus ``overrides``; ``None`` values are ignored) in
    ``runs/book/<scale>/<name>``, or reuse the finished run already there ("load the
    checkpoint if it exists, else train"; an interrupted run is resumed). Returns the
    :class:`~acgan_lib.runs.Run` (``run.path``, ``run.summary()``, ``run / "final.pt"``) and
    prints one line saying what happened and what it cost.

    Smoke runs whose config changed are retrained; at ``cpu`` / ``full`` scale a folder
    holding a different config is an error (nothing is overwritten)."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    cfg = scaled_config(preset, scale, **overrides)
    if name is None:  # the preset's name, plus a hash of the overrides that change anything
        base = scaled_config(preset, scale, **({"init_from": "x"} if "init_from" in overrides else {})).to_dict()
        changed = {k: v for k, v in cfg.to_dict().items() if base[k] != v and k != "init_from"}
        name = preset
        if changed:
            suffix = "-".join(f"{k}{v}" for k, v in sorted(changed.items())).replace(",", "_").replace("@", "at")
            if len(suffix) > 40 or not all(c.isalnum() or c in "-_." for c in suffix):
                suffix = hashlib.sha1(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:8]
            name += "-" + suffix
    out = runs_root() / scale / name
    if scale == "smoke" and (out / "config.json").exists() and Run(out).differs(cfg):
        shutil.rmtree(out)
    done_before = (out / "final.pt").exists()
    train_or_load(cfg, out, progress)
    result = Run(out)
    info = result.info
    what = "reused the finished run" if done_before else "trained"
    # the header's wall time is the notebook's; the runs' own training time goes to the
    # provenance too, so that a chapter reusing runs trained earlier does not look cheap
    _CONTEXT.setdefault("runs", {})[name] = {
        "iterations": info["step"], "wall_time_s": info.get("wall_time_s"), "device": info.get("device"),
        "precision": info.get("precision"), "commit": info.get("commit"), "reused": done_before}
    speed = f", {info['steps_per_s']:.2f} it/s" if info.get("steps_per_s") else ""
    print(f"{name}: {what} in {_rel(out)} ({info['step']} iterations, {info['wall_time_s']:.0f} s "
          f"on {info['device']}{speed})")
    return result


# ----------------------------------------------------------------------------- display
class _Rich:
    """Displays as HTML in Jupyter and the book, as text elsewhere."""

    def __init__(self, html_text: str, plain: str):
        self.html, self.plain = html_text, plain

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.plain


def _display(obj) -> None:
    try:
        from IPython.display import display
        display(obj)
    except ImportError:
        print(repr(obj))


def notice(title: str, body: str, kind: str = "warning") -> None:
    """An admonition box in the output (``kind``: note, warning, important...)."""
    h = (f'<div class="admonition {kind}"><p class="admonition-title">{html.escape(title)}</p>'
         f"<p>{body}</p></div>")
    plain = f"[{kind}] {title}: {body}"
    _display(_Rich(h, plain))


WALL_TIME_PLACEHOLDER = "not recorded (set by <code>python -m acgan_lib.book execute</code>)"


def provenance(chapter: str, scale: str, **params) -> None:
    """Start a chapter: remember its name, scale and parameters (for :func:`save_result`)
    and display the header: the scale and what it means in this chapter (generated from
    ``params``, the chapter's resolved knobs), parameters, device and threads, library
    version and git commit, and the wall time (filled in by the executor once the notebook
    has run)."""
    if scale not in SCALES:
        raise UserError(f"unknown scale '{scale}' (choose from {', '.join(SCALES)})")
    info = {
        "chapter": chapter, "scale": scale, "params": {k: _jsonable(v) for k, v in params.items()},
        "device": device_name(), "threads": threads_line(), "precision": precision_line(),
        "library_version": __version__,
        "commit": os.environ.get(COMMIT_ENV) or git_commit(),
        "python": platform.python_version(), "torch": torch.__version__,
        "executed_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    _CONTEXT.clear()
    _CONTEXT.update(info)
    # a chapter re-run at another scale starts a fresh metrics file (no mixed scales)
    path = chapter_dir(chapter) / "metrics.json"
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            old = {}
        if old.get("provenance", {}).get("scale") != scale:
            path.unlink()
    meaning = scale_line(scale, params)
    rows = [("scale", f"<b>{scale}</b>: {html.escape(meaning)}"),
            ("parameters", ", ".join(f"<code>{html.escape(k)}={html.escape(repr(v))}</code>"
                                     for k, v in params.items()) or "none"),
            ("device", html.escape(info["device"])),
            ("threads", html.escape(info["threads"])),
            ("precision", html.escape(info["precision"])),
            ("library", f"acgan_lib {__version__}, commit <code>{html.escape(info['commit'])}</code> "
                        f"(Python {info['python']}, torch {info['torch']})"),
            ("executed", info["executed_at"]),
            ("wall time", f'<span class="acgan-wall-time">{WALL_TIME_PLACEHOLDER}</span>')]
    h = ('<table class="acgan-provenance"><tbody>'
         + "".join(f'<tr><th style="text-align:left;padding-right:1em">{k}</th><td style="text-align:left">{v}</td></tr>'
                   for k, v in rows) + "</tbody></table>")
    plain = "\n".join([f"chapter:    {chapter}", f"scale:      {scale}: {meaning}",
                       "parameters: " + ", ".join(f"{k}={v!r}" for k, v in params.items()),
                       f"device:     {info['device']}",
                       f"threads:    {info['threads']}",
                       f"precision:  {info['precision']}",
                       f"library:    acgan_lib {__version__} (commit {info['commit']})",
                       f"executed:   {info['executed_at']}",
                       "wall time:  not recorded"])
    _display(_Rich(h, plain))


def precision_line() -> str:
    """What ``precision=auto`` (every preset's default) trains with here (see
    :func:`acgan_lib.utils.bf16_is_fast`)."""
    dev = resolve_device("auto")
    return ("bf16 autocast" if bf16_is_fast(dev) else "fp32") + f" (precision=auto on {dev.type})"


def threads_line() -> str:
    """The threads this execution really used: torch's intra-op threads, and what set them."""
    n = torch.get_num_threads()
    env = ", ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if os.environ.get(k))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{n} torch thread{'s' if n != 1 else ''} ({env + '; ' if env else ''}"
            f"{cores} CPU core{'s' if cores != 1 else ''} available)")


def scale_line(scale: str, params: dict) -> str:
    """What ``scale`` meant in this chapter, from its resolved knobs (``params``): its
    training iterations and batch, the sizes of its evaluation sets, e.g. "reduced scale...;
    in this chapter: 500 training iterations at batch 32; n_probe=1000"."""
    preset = SCALES[scale]
    parts = []
    iters = {k: v for k, v in params.items() if k == "iters" or k.startswith("iters_")}
    batch = params.get("batch_size") or preset.get("batch_size")
    for k, v in iters.items():
        n = v if v is not None else preset.get("iters")
        what = f"{n:,} training iterations" if isinstance(n, int) else "the preset's training iterations"
        if k != "iters":
            what += f" ({k})"
        parts.append(what + (f" at batch {batch}" if batch and k == "iters" else ""))
    if iters and not batch:
        parts.append("the presets' batch sizes")
    for k, v in params.items():
        if k in iters or (k == "batch_size" and iters):
            continue
        if v is None or isinstance(v, (int, float, str, bool)):
            parts.append(f"{k}={v:,}" if isinstance(v, int) and not isinstance(v, bool) else f"{k}={v}")
    return SCALE_SHORT[scale] + ("; in this chapter: " + ", ".join(parts) if parts
                                 else "; this chapter trains nothing")


def context() -> dict:
    """What :func:`provenance` recorded for the chapter being executed."""
    return dict(_CONTEXT)


# ----------------------------------------------------------------------------- results
def _jsonable(v):
    """numpy / torch scalars and arrays, tuples and Paths -> plain JSON values."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Path):
        return _rel(v)
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):  # numpy, torch
        return _jsonable(v.tolist())
    if isinstance(v, float) and v != v:  # NaN -> null
        return None
    return v


def save_result(chapter: str, key: str, value) -> object:
    """Record ``value`` (a number, string or dict of them) under ``key`` in
    ``results/<chapter>/metrics.json`` (written atomically, with the chapter's provenance:
    scale, device, commit, parameters). Returns ``value``."""
    path = chapter_dir(chapter) / "metrics.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault("chapter", chapter)
    if _CONTEXT.get("chapter") == chapter:
        prov = {k: _CONTEXT[k] for k in ("scale", "params", "device", "threads", "precision", "library_version", "commit",
                                         "executed_at")}
        prov["wall_time_s"] = data.get("provenance", {}).get("wall_time_s")
        if _CONTEXT.get("runs"):
            prov["runs"] = _jsonable(_CONTEXT["runs"])
        data["provenance"] = prov
    data.setdefault("metrics", {})[key] = _jsonable(value)
    atomic_write_json(path, data)
    return value


def load_results(chapter: str | None = None) -> dict:
    """``{chapter: metrics.json content}`` for every chapter with results (or one chapter's
    content when ``chapter`` is given; ``{}`` when it has none)."""
    root = results_root()
    if not os.environ.get(CHAPTER_FOLDER_ENV) and committed_results_root() is not None:
        # outside the executor: a chapter's own scratch results, else the committed ones
        if chapter is None or not (root / chapter / "metrics.json").exists():
            root = committed_results_root()
    if chapter is not None:
        path = root / chapter / "metrics.json"
        return json.loads(path.read_text()) if path.exists() else {}
    out = {}
    for path in sorted(root.glob("*/metrics.json")):
        out[path.parent.name] = json.loads(path.read_text())
    return out


def _png(fig) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def show(fig, save_as: str | None = None) -> None:
    """Display a figure once, as a PNG (also figures made outside pyplot), and close it.
    The executed notebook is the only copy of a figure (nothing is written beside it, so the
    committed book stores each figure once); ``save_as`` names it in the output's metadata
    (``{"figure": name}``), where tools and readers can find it."""
    import matplotlib.pyplot as plt

    png = _png(fig)
    if "ipykernel" in sys.modules:
        from IPython.display import Image, display
        display(Image(data=png, format="png"), metadata={"figure": save_as} if save_as else None)
    plt.close(fig)


def scales_table():
    """The three scales: what each is for and the training overrides it applies."""
    return table([{"scale": s, "what it is": SCALE_NOTES[s],
                   "training overrides": ", ".join(f"{k}={v}" for k, v in ov.items()) or "none (the presets)"}
                  for s, ov in SCALES.items()])


def table(rows, columns=None, index=None, floatfmt: str = "{:.4g}"):
    """A table for display from rows (list of dicts or of lists): a pandas Styler with the
    floats formatted by ``floatfmt``, missing values as a dash, no index column unless
    ``index`` names one. ``.data`` is the DataFrame."""
    import pandas as pd

    df = pd.DataFrame(rows, columns=columns)
    if index:
        df = df.set_index(index)

    def fmt(v):
        if v is None or (isinstance(v, float) and v != v):
            return "—"
        return floatfmt.format(v) if isinstance(v, float) else v

    sty = df.style.format(fmt).set_table_attributes('class="dataframe acgan-table"')
    return sty if index else sty.hide(axis="index")


OUTCOMES = {1: "holds (interval above 0)", -1: "reversed (interval below 0)",
            0: "not separated (interval contains 0)"}


def orderings_table(orderings: dict, labels: dict):
    """The orderings of :func:`acgan_lib.metrics.seeds.ordering` (its flat keys, as saved
    under ``orderings``) as a table: one row per ``{name: "A beats B on X"}`` in ``labels``,
    with the seeds, each side's value per seed, the mean per-seed difference (oriented so
    that positive means the ordering holds, also for a lower-is-better metric), its 95 %
    interval and the outcome the interval supports."""
    rows = []
    for name, label in labels.items():
        ci = orderings[f"{name}.ci95"]
        per_seed = lambda side: " / ".join(f"{x:.3g}" for x in orderings[f"{name}.{side}"])
        rows.append({"ordering": label, "seeds": orderings[f"{name}.seeds"],
                     "A per seed": per_seed("a"), "B per seed": per_seed("b"),
                     "mean difference (+: holds)": orderings[f"{name}.diff"],
                     "95 % interval": f"[{ci[0]:+.3g}, {ci[1]:+.3g}]" if ci else "none (1 seed)",
                     "outcome": OUTCOMES[interval_side(ci)] if ci else "no interval (1 seed)"})
    return table(rows, floatfmt="{:+.3g}")


def ordering_finding(orderings: dict, name: str, holds: str, reversed_: str,
                     unresolved: str) -> str:
    """The sentence an ordering's interval supports, for a chapter's generated prose:
    ``holds`` (interval above 0), ``reversed_`` (below 0) or ``unresolved`` (it contains 0),
    then "(mean difference d, 95 % interval [lo, hi])"; with one seed there is no interval
    and the sentence says the ordering was not tested."""
    ci, diff = orderings[f"{name}.ci95"], orderings[f"{name}.diff"]
    if not ci:  # fewer than 2 seeds
        return f"not tested: one seed gives no interval (difference {diff:+.3f})"
    said = {1: holds, -1: reversed_, 0: unresolved}[interval_side(ci)]
    return f"{said} (mean difference {diff:+.3f}, 95 % interval [{ci[0]:+.3f}, {ci[1]:+.3f}])"


def mean_sd(values, fmt: str = "{:.3f}") -> str:
    """``"mean ± sd"`` of one value per seed (sample sd; the mean alone for one seed)."""
    import statistics

    v = [float(x) for x in values]
    m = statistics.fmean(v)
    return fmt.format(m) if len(v) < 2 else f"{fmt.format(m)} ± {fmt.format(statistics.stdev(v))}"
