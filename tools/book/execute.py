"""``python -m acgan_lib.book execute``: jupytext source -> notebook -> papermill, chapter by
chapter, writing the executed notebooks (outputs included) to ``book/`` (or ``--out``).

For each chapter: render ``book/src/NN_name.md`` (with the Colab cell), inject the
parameters (``scale`` plus any ``-p key=value`` the chapter declares), run it with the
``python3`` kernel from the repository root, then record the wall time (papermill's
duration) in the provenance header, the notebook metadata and the chapter's
``metrics.json``. A notebook is only replaced when its chapter ran without error; the
failing one is kept under ``_build/failed/`` and the command exits non-zero with one line
naming the chapter and the cell.

No re-run traps: the committed book (``book/*.ipynb``, ``book/results/``, ``book/stale.json``)
changes only through ``execute`` without ``--out``. With ``--out DIR`` (CI), notebooks go
to ``DIR``, the chapters' results to ``DIR/results`` ($ACGAN_BOOK_RESULTS) and their
training runs to ``DIR/runs`` ($ACGAN_BOOK_RUNS), so nothing in the checkout changes; a
``smoke`` execution without ``--out`` goes to ``_build/smoke`` (never to the committed
book). A chapter run any other way (plain papermill, Jupyter, Colab) writes its results to
a scratch folder (see :func:`acgan_lib.book.core.results_root`).

Honest headers: the committed book is executed from a clean tree (the executor refuses a
tree with uncommitted changes other than its own outputs, unless ``--allow-dirty``, which
records the sha256 of the diff); the commit is taken once, before the first chapter, and
handed to the kernels ($ACGAN_BOOK_COMMIT), so the executor's own writes never make it
"-dirty". Without git (the GPU machine) it comes from a manifest written where the
checkout is (``python -m acgan_lib.book manifest`` -> ``_build/manifest.json``, sent with
the tree; or ``--manifest FILE`` / $ACGAN_BOOK_MANIFEST). The Colab install cell of each
chapter pins that commit. papermill's injected-parameters cell is kept as a commented-out
record (tag unchanged), so re-running the notebook on Colab or in Jupyter never resets the
reader's edits of the parameters cell.
"""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from acgan_lib.utils import UserError, atomic_write_json, atomic_write_text, file_hash, source_state
from acgan_lib.book.core import COMMIT_ENV, CHAPTER_FOLDER_ENV, RUNS_ENV, WALL_TIME_PLACEHOLDER, results_root
from .notebooks import INJECTED_TAG, Chapter, hide_cell, _root, chapters, render, repo_url, unmark_stale

MANIFEST_ENV = "ACGAN_BOOK_MANIFEST"
MANIFEST_DEFAULT = "_build/manifest.json"
SMOKE_OUT_DEFAULT = "_build/smoke"


def git_files(root: Path, untracked: bool = False) -> list[str]:
    """The tracked files of the checkout at ``root`` (``untracked``: the untracked files git
    does not ignore instead), as paths relative to it: what a device call sends."""
    args = ["--others", "--exclude-standard"] if untracked else []
    try:
        out = subprocess.run(["git", "ls-files", "-z", *args], cwd=root, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        raise UserError(f"cannot list the files of {root} with git: {e}") from None
    if out.returncode != 0:
        why = out.stderr.decode(errors="replace").strip()[:160]
        raise UserError(f"cannot list the files of {root} with git: {why}")
    return [n for n in out.stdout.decode().split("\0") if n]


def write_manifest(path: str | None = None) -> Path:
    """``python -m acgan_lib.book manifest``: record the checkout's commit (and the hash of
    its uncommitted changes) and the sha256 of every tracked file in ``_build/manifest.json``,
    to send with the tree to a machine without git, whose executor reads it and whose copy
    :func:`verify_manifest` checks."""
    root = _root()
    state = source_state()
    if state is None:
        raise UserError("no git here: write the manifest where the checkout is, then send it with the tree")
    state["files"] = {name: file_hash(root / name) for name in git_files(root) if (root / name).is_file()}
    out = Path(path) if path else root / MANIFEST_DEFAULT
    atomic_write_json(out, state)
    return out


def verify_manifest(root: Path, manifest: str | os.PathLike) -> list[str]:
    """The files of the manifest's tree that are missing under ``root`` or differ from it
    (sha256), sorted; an empty list when the copy is the one the manifest describes."""
    try:
        files = json.loads(Path(manifest).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"unreadable manifest {manifest} ({type(e).__name__}: {str(e)[:80]}): write it again "
                        "with python -m acgan_lib.book manifest") from None
    root = Path(root)
    return sorted(name for name, sha in files.items()
                  if not (root / name).is_file() or file_hash(root / name) != sha)


def source_for_execution(root: Path, committed: bool, allow_dirty: bool = False, manifest: str | None = None) -> dict:
    """The code the chapters are executed from, taken once before the first one: git's
    state, or (no git) the manifest sent with the tree. The committed book needs a clean
    tree unless ``allow_dirty``. Adds ``label``: what the headers show as the commit."""
    state = source_state()
    if state is None:
        path = Path(manifest or os.environ.get(MANIFEST_ENV) or root / MANIFEST_DEFAULT)
        if path.exists():
            state = json.loads(path.read_text())
            state["manifest"] = str(path)
        elif committed and not allow_dirty:
            raise UserError(f"no git here and no manifest ({path}): write one where the checkout is "
                            f"(python -m acgan_lib.book manifest) and send {MANIFEST_DEFAULT} with the tree, "
                            "or pass --manifest FILE")
        else:
            state = {"commit": "unknown", "commit_full": None, "changes": [], "diff_sha256": None}
    changes = state.get("changes") or []
    if changes and committed and not allow_dirty:
        shown = "; ".join(c.strip() for c in changes[:3]) + (f"; ... ({len(changes)} in all)" if len(changes) > 3 else "")
        raise UserError(f"the committed book is executed from a clean tree, and this one has uncommitted changes "
                        f"({shown}): commit or stash them, execute into a folder (--out DIR), or pass "
                        "--allow-dirty (the headers then record the sha256 of the diff)")
    label = state.get("commit") or "unknown"
    if changes:
        label += f"+uncommitted changes (diff sha256 {str(state.get('diff_sha256'))[:16]})"
    return {**state, "label": label}


@contextmanager
def _environment(values: dict):
    """Set environment variables (inherited by the kernels) for the duration of an execution."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def record_injected(nb) -> None:
    """papermill's injected-parameters cell, re-run by a reader (Colab, Jupyter), would reset
    their edits of the parameters cell: keep it as a record only, commented out (same tag,
    so ``check`` and ``refresh`` treat it as before; papermill replaces it when it runs the
    notebook again with ``-p``). The values are also in the metadata (``acgan_book``) and in
    the page's header, so the HTML book leaves the cell out (``remove-cell``)."""
    for cell in nb.cells:
        if cell.cell_type == "code" and INJECTED_TAG in cell.metadata.get("tags", []):
            hide_cell(cell)
            body = [ln if not ln.strip() or ln.lstrip().startswith("#") else f"# {ln}"
                    for ln in cell.source.splitlines() if ln.strip() != "# Parameters"]
            cell.source = "\n".join(["# Parameters this notebook was executed with (a record only: commented out",
                                     "# so that re-running it keeps your edits of the parameters cell above)"] + body)


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


def runs_line(runs: dict | None) -> str:
    """What the training runs a chapter used cost (``provenance.runs`` of its results): their
    summed training time, and how many were reused from an earlier execution (at which
    commits), so that a re-execution that loads finished runs does not look cheap."""
    if not runs:
        return ""
    total = sum(r.get("wall_time_s") or 0.0 for r in runs.values())
    reused = [r for r in runs.values() if r.get("reused")]
    text = f"; training of its {len(runs)} run{'s' * (len(runs) != 1)}: {total:,.0f} s"
    if reused:
        commits = sorted({str(r.get("commit") or "?") for r in reused})
        text += (f", {len(reused)} of them reused from an earlier execution (trained at commit"
                 f"{'s' * (len(commits) > 1)} {', '.join(commits)})")
    return text


def _fill_wall_time(nb, seconds: float, runs: dict | None = None) -> None:
    text = f"{seconds:.1f} s (papermill, whole notebook){runs_line(runs)}"
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


def _run_one(ch: Chapter, nb, params: dict, out_dir: Path, root: Path, progress: bool, timeout,
             source: dict | None = None) -> tuple[bool, str]:
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
                           progress, timeout, source or {})
        if backup.exists():
            if not ok:
                shutil.rmtree(res_dir, ignore_errors=True)
                shutil.move(str(backup), str(res_dir))
        return ok, msg


def _execute(ch: Chapter, name: str, src: Path, dst: Path, use: dict, out_path: Path, root: Path, progress: bool,
             timeout, source: dict) -> tuple[bool, str]:
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
    metrics = results_root() / name / "metrics.json"
    runs = json.loads(metrics.read_text()).get("provenance", {}).get("runs") if metrics.exists() else None
    _fill_wall_time(nb_out, duration, runs)
    scale = _scale_of(nb_out) or use.get("scale")
    record_injected(nb_out)
    nb_out.metadata["acgan_book"] = {
        "chapter": name, "source": str(ch.source.relative_to(root)), "scale": scale,
        "parameters": use, "wall_time_s": round(duration, 1), "commit": source.get("label", "unknown"),
        "commit_full": source.get("commit_full"), "install_commit": source.get("commit_full"),
        "executed_at": pm.get("end_time", "")[:16].replace("T", " "),
    }
    if source.get("changes"):
        nb_out.metadata["acgan_book"]["diff_sha256"] = source.get("diff_sha256")
    if not source.get("commit_full"):
        nb_out.metadata["acgan_book"].pop("install_commit")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_path, nbformat.writes(nb_out))
    if out_path.parent == root / "book":  # the committed book: this chapter is up to date again
        unmark_stale(name)
    if metrics.exists():
        data = json.loads(metrics.read_text())
        data.setdefault("provenance", {})["wall_time_s"] = round(duration, 1)
        atomic_write_json(metrics, data)
    return True, f"{duration:.1f} s"


def execute(scale: str, select: list[str] | None = None, out: str | None = None, params: dict | None = None,
            keep_going: bool = False, timeout: int | None = None, allow_dirty: bool = False,
            manifest: str | None = None) -> int:
    """Execute the selected chapters at ``scale``; returns the number of failed chapters.
    Without ``out`` (and not at smoke scale) this writes the committed book, from a clean
    tree only (``allow_dirty``: record the diff's sha256 instead)."""
    from acgan_lib.config import SCALES

    if scale not in SCALES:
        raise UserError(f"unknown scale '{scale}' (choose from {', '.join(SCALES)})")
    root = _root()
    chs = chapters(select)
    params = dict(params or {})
    if "scale" in params:
        raise UserError("give the scale with --scale, not -p scale=...")
    if not out and scale == "smoke":  # a smoke execution never touches the committed book
        out = str(root / SMOKE_OUT_DEFAULT)
        print(f"note: a smoke execution does not replace the committed book: writing to {SMOKE_OUT_DEFAULT} "
              "(choose with --out DIR)", flush=True)
    committed = not out
    out_dir = Path(out).resolve() if out else root / "book"
    source = source_for_execution(root, committed, allow_dirty, manifest)
    if source.get("changes"):
        print(f"note: executing with uncommitted changes: the headers record {source['label']}", flush=True)
    env = {COMMIT_ENV: source["label"],
           CHAPTER_FOLDER_ENV: root / "book" / "results" if committed else out_dir / "results"}
    if not committed:
        env[RUNS_ENV] = out_dir / "runs"
    _ensure_data_env(root)
    url = repo_url()
    rendered = {ch: render(ch, url, source.get("commit_full")) for ch in chs}
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
    with _environment(env):
        return _execute_all(chs, rendered, params, scale, out_dir, root, timeout, keep_going, source)


def _execute_all(chs, rendered, params, scale, out_dir, root, timeout, keep_going, source) -> int:
    progress = sys.stderr.isatty()
    failed = 0
    t_all = time.perf_counter()
    print(f"executing {len(chs)} chapter(s) at scale {scale} -> {out_dir.relative_to(root) if out_dir.is_relative_to(root) else out_dir}"
          f" (results in {results_root()})", flush=True)
    for i, ch in enumerate(chs, 1):
        print(f"[{i}/{len(chs)}] {ch.stem} ...", end=" ", flush=True)
        ok, msg = _run_one(ch, rendered[ch], params, out_dir, root, progress, timeout, source)
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
