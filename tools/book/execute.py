"""``python -m acgan_lib.book execute``: jupytext source -> notebook -> papermill, chapter by
chapter, writing the executed notebooks (outputs included) to ``book/`` (or ``--out``).

For each chapter: render ``book/src/NN_name.md`` (with the Colab cell), inject the
parameters (``scale`` plus any ``-p key=value`` the chapter declares), run it with the
``python3`` kernel from the repository root, then record the wall time (papermill's
duration) in the provenance header, the notebook metadata and the chapter's
``metrics.json``. A notebook is only replaced when its chapter ran without error; the
failing one is kept under ``_build/failed/`` and the command exits non-zero with one line
naming the chapter and the cell.

With ``--out DIR`` (CI), notebooks go to ``DIR`` and the chapters' results to
``DIR/results`` ($ACGAN_BOOK_RESULTS), so the committed ones are left alone.
"""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from acgan_lib.utils import UserError, atomic_write_json, atomic_write_text, git_commit
from acgan_lib.book.core import CHAPTER_FOLDER_ENV, WALL_TIME_PLACEHOLDER, results_root
from .notebooks import Chapter, _root, chapters, render, repo_url, unmark_stale


def parse_params(items: list[str] | None) -> dict:
    """``["dataset=cifar10", "iters=500"]`` -> ``{"dataset": "cifar10", "iters": 500}``
    (Python literals where they parse, strings otherwise)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"bad parameter '{item}': expected key=value (e.g. -p dataset=cifar10)")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            out[k.strip()] = v
    return out


def _declared(path: Path) -> dict:
    """The notebook's parameters and their default values (Python literals where they parse)."""
    import papermill

    out = {}
    for name, spec in papermill.inspect_notebook(str(path)).items():
        try:
            out[name] = ast.literal_eval(spec.get("default", "None"))
        except (ValueError, SyntaxError):
            out[name] = spec.get("default")
    return out


def variant(declared: dict, params: dict) -> str:
    """``""``, or ``"-<dataset>"`` when the chapter is executed on another dataset than its
    default (``-p dataset=cifar10``): that execution gets its own notebook
    (``NN_name-cifar10.ipynb``) and results folder, next to the default one."""
    if "dataset" in declared and "dataset" in params and params["dataset"] != declared["dataset"]:
        return f"-{params['dataset']}"
    return ""


def _fill_wall_time(nb, seconds: float) -> None:
    text = f"{seconds:.1f} s (papermill, whole notebook)"
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WALL_TIME_PLACEHOLDER in data.get("text/html", ""):
                data["text/html"] = data["text/html"].replace(WALL_TIME_PLACEHOLDER, text)
                data["text/plain"] = re.sub(r"wall time:\s+not recorded", f"wall time:  {text}",
                                            data.get("text/plain", ""))


def _scale_of(nb) -> str | None:
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            m = re.search(r"^scale\s*=\s*['\"](\w+)['\"]", cell.source, flags=re.M)
            if m:
                return m.group(1)
    return None


def _ensure_data_env(root: Path) -> None:
    """Offline checkouts keep the datasets in ``../shared/datasets``: use it when
    ``$ACGAN_DATA`` is not set and the repository's ``data/`` has no MNIST."""
    if os.environ.get("ACGAN_DATA"):
        return
    shared = root.parent / "shared" / "datasets"
    if shared.is_dir() and not (root / "data" / "MNIST").exists():
        os.environ["ACGAN_DATA"] = str(shared)
        print(f"note: ACGAN_DATA not set; using {shared}")


def _run_one(ch: Chapter, nb, params: dict, out_dir: Path, root: Path, progress: bool, timeout) -> tuple[bool, str]:
    """Execute one chapter; its previous results are set aside and restored if it fails."""
    import nbformat

    with tempfile.TemporaryDirectory(prefix="acgan-book-") as tmp:
        src = Path(tmp) / f"{ch.stem}.in.ipynb"
        nbformat.write(nb, src)
        declared = _declared(src)
        use = {k: v for k, v in params.items() if k in declared}
        name = ch.stem + variant(declared, use)
        res_dir = results_root() / name
        backup = Path(tmp) / "previous-results"
        if res_dir.exists():  # a chapter's results are rewritten from scratch
            shutil.move(str(res_dir), str(backup))
        ok, msg = _execute(ch, name, src, Path(tmp) / f"{name}.ipynb", use, out_dir / f"{name}.ipynb", root,
                           progress, timeout)
        if backup.exists():
            if not ok:
                shutil.rmtree(res_dir, ignore_errors=True)
                shutil.move(str(backup), str(res_dir))
        return ok, msg


def _execute(ch: Chapter, name: str, src: Path, dst: Path, use: dict, out_path: Path, root: Path, progress: bool,
             timeout) -> tuple[bool, str]:
    """papermill ``src`` -> ``dst``, then post-process into ``out_path`` (atomic)."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    t0 = time.perf_counter()
    try:
        papermill.execute_notebook(str(src), str(dst), parameters=use, kernel_name="python3", cwd=str(root),
                                   progress_bar=progress, log_output=False, execution_timeout=timeout,
                                   extra_arguments=["--IPKernelApp.log_level=ERROR"])
    except PapermillExecutionError as e:
        failed = root / "_build" / "failed" / f"{name}.ipynb"
        failed.parent.mkdir(parents=True, exist_ok=True)
        if dst.exists():
            shutil.copyfile(dst, failed)
        evalue = str(e.evalue).strip().splitlines()[0][:400] if str(e.evalue).strip() else ""
        return False, (f"chapter {name} failed in cell {e.exec_count or e.cell_index}: {e.ename}: {evalue} "
                       f"(notebook with the traceback: {failed.relative_to(root)})")
    except Exception as e:  # kernel died, timeout, ...
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        return False, f"chapter {name} failed: {type(e).__name__}: {first}"
    elapsed = time.perf_counter() - t0
    nb_out = nbformat.read(dst, as_version=4)
    pm = nb_out.metadata.get("papermill", {})
    duration = float(pm.get("duration") or elapsed)
    pm["input_path"] = str(ch.source.relative_to(root))
    pm["output_path"] = str(out_path.relative_to(root)) if out_path.is_relative_to(root) else out_path.name
    pm.pop("environment_variables", None)
    _fill_wall_time(nb_out, duration)
    nb_out.metadata["acgan_book"] = {
        "chapter": name, "source": str(ch.source.relative_to(root)), "scale": _scale_of(nb_out) or use.get("scale"),
        "parameters": use, "wall_time_s": round(duration, 1), "commit": git_commit(),
        "executed_at": pm.get("end_time", "")[:16].replace("T", " "),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_path, nbformat.writes(nb_out))
    if out_path.parent == root / "book":  # the committed book: this chapter is up to date again
        unmark_stale(name)
    metrics = results_root() / name / "metrics.json"
    if metrics.exists():
        data = json.loads(metrics.read_text())
        data.setdefault("provenance", {})["wall_time_s"] = round(duration, 1)
        atomic_write_json(metrics, data)
    return True, f"{duration:.1f} s"


def execute(scale: str, select: list[str] | None = None, out: str | None = None, params: dict | None = None,
            keep_going: bool = False, timeout: int | None = None) -> int:
    """Execute the selected chapters at ``scale``; returns the number of failed chapters."""
    from acgan_lib.config import SCALES

    if scale not in SCALES:
        raise UserError(f"unknown scale '{scale}' (choose from {', '.join(SCALES)})")
    root = _root()
    chs = chapters(select)
    params = dict(params or {})
    if "scale" in params:
        raise UserError("give the scale with --scale, not -p scale=...")
    out_dir = Path(out).resolve() if out else root / "book"
    if out:
        os.environ[CHAPTER_FOLDER_ENV] = str(out_dir / "results")
    _ensure_data_env(root)
    url = repo_url()
    rendered = {ch: render(ch, url) for ch in chs}
    if params:  # every -p must be a parameter of at least one selected chapter
        with tempfile.TemporaryDirectory() as tmp:
            import nbformat
            declared = set()
            for ch, nb in rendered.items():
                p = Path(tmp) / f"{ch.stem}.ipynb"
                nbformat.write(nb, p)
                declared |= set(_declared(p))
        unknown = sorted(set(params) - declared)
        if unknown:
            raise UserError(f"parameter(s) {', '.join(unknown)} not declared by the selected chapters")
    params["scale"] = scale
    progress = sys.stderr.isatty()
    failed = 0
    t_all = time.perf_counter()
    print(f"executing {len(chs)} chapter(s) at scale {scale} -> {out_dir.relative_to(root) if out_dir.is_relative_to(root) else out_dir}"
          f" (results in {results_root()})", flush=True)
    for i, ch in enumerate(chs, 1):
        print(f"[{i}/{len(chs)}] {ch.stem} ...", end=" ", flush=True)
        ok, msg = _run_one(ch, rendered[ch], params, out_dir, root, progress, timeout)
        if ok:
            print(f"ok ({msg})", flush=True)
        else:
            print("FAILED", flush=True)
            print(f"error: {msg}", file=sys.stderr, flush=True)
            failed += 1
            if not keep_going:
                break
    print(f"{'done' if not failed else f'{failed} chapter(s) failed'} in {time.perf_counter() - t_all:.0f} s", flush=True)
    return failed
