"""``python -m acgan_lib.book import-device DIR``: bring home what a GPU lease returned
(``summary.json`` and ``chapters-*.tar.gz`` of ``python -m tools.device job``).

Each chapter of each archive is checked, and only a chapter that passes every check
replaces the committed one (``book/NN_name.ipynb`` and ``book/results/NN_name/``) and
leaves the stale list; anything else is kept aside in ``_build/device-rejected/NN/`` with
a one-line reason (also in ``reason.txt`` there). The checks:

* the header's device is a CUDA device (``--allow-cpu``: CI's smoke path on CPU);
* the chapter was executed at the commit of the job's manifest, with no uncommitted
  changes, and that commit is an ancestor of HEAD;
* no error outputs, and ``python -m acgan_lib.book check`` passes on it (its code is
  today's source, its results are at its scale);
* each of its runs finished, at the iterations and batch size the chapter declares for its
  scale (its recorded knobs; ``None``: the preset's at that scale), and its evaluations
  were made with the declared sample counts (``n_eval``, ``n_probe``);
* the job's self-check passed, or the job trained eagerly (``fast_step: off``).

Then the report chapter is re-executed (when importing into the checkout) and the
measured wall times of full-scale chapters go into ``tools/device/estimates.json``.
"""
from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from acgan_lib.utils import UserError, atomic_write_json, atomic_write_text

REJECTED = "_build/device-rejected"
REPORT = "10"
SAMPLE_KNOBS = {"n_eval": r"(?:^|-)n{}-", "n_probe": r"probe_n{}-"}  # eval cache names: metrics-n100-probe_n100-...


def _runs(folder: Path) -> list[Path]:
    return sorted(p.parent for p in (folder / "runs").glob("*/*/config.json"))


def _expected(cfg: dict, scale: str, declared: dict, prefix: str, preset_key: str) -> set:
    """Values of a knob the chapter declares (``iters``, ``iters_m1``... or ``batch_size``,
    ``batch_004``): the integers it recorded, plus the preset's value at ``scale`` where it
    recorded ``None``."""
    from acgan_lib.config import scaled_config

    values = {k: v for k, v in declared.items() if k == prefix or k.startswith(prefix + "_")}
    out = {v for v in values.values() if isinstance(v, int) and not isinstance(v, bool)}
    if not values or any(v is None for v in values.values()):
        over = {"init_from": cfg["init_from"]} if cfg.get("init_from") else {}
        try:
            out.add(getattr(scaled_config(cfg["preset"], scale, **over), preset_key))
        except Exception:  # an unknown preset: nothing but the declared values is expected
            pass
    return out


def check_runs(folder: Path, scale: str, declared: dict) -> list[str]:
    """Each run's scale, completion, iterations and batch against the chapter's knobs, and
    the declared sample counts against the run's evaluations."""
    problems, evals = [], []
    for run in _runs(folder):
        name = f"{run.parent.name}/{run.name}"
        cfg = json.loads((run / "config.json").read_text())
        info = json.loads((run / "run.json").read_text()) if (run / "run.json").exists() else {}
        evals += [p.name for p in (run / "eval").glob("*.json")]
        if run.parent.name != scale:
            problems.append(f"run {name} is at scale {run.parent.name}, the chapter at {scale}")
        if info.get("status") != "complete" or info.get("step") != cfg.get("iters"):
            problems.append(f"run {name} did not finish ({info.get('step')} of {cfg.get('iters')} iterations)")
        iters = _expected(cfg, scale, declared, "iters", "iters")
        if cfg.get("iters") not in iters:
            problems.append(f"run {name} trained {cfg.get('iters')} iterations, the chapter declares "
                            f"{sorted(iters)} at scale {scale}")
        batch = _expected(cfg, scale, declared, "batch", "batch_size")
        if cfg.get("batch_size") not in batch:
            problems.append(f"run {name} used batch {cfg.get('batch_size')}, the chapter declares {sorted(batch)}")
    for knob, pattern in SAMPLE_KNOBS.items():
        n = declared.get(knob)
        if isinstance(n, int) and not any(re.search(pattern.format(n), e) for e in evals):
            problems.append(f"no evaluation with {knob}={n} among its runs' evaluations")
    return problems


def _git(*args) -> subprocess.CompletedProcess:
    from acgan_lib.book.core import repo_root

    return subprocess.run(["git", *args], cwd=repo_root(), capture_output=True, text=True)


def check_chapter(folder: Path, stem: str, summary: dict, allow_cpu: bool) -> list[str]:
    """Every problem of chapter ``stem`` unpacked in ``folder`` (empty: it may be imported)."""
    import nbformat

    from tools.book.notebooks import check, errors_in

    nb = nbformat.read(folder / f"{stem}.ipynb", as_version=4)
    meta = nb.metadata.get("acgan_book", {})
    mpath = folder / "results" / stem / "metrics.json"
    prov = json.loads(mpath.read_text()).get("provenance", {}) if mpath.exists() else {}
    problems = []
    if not prov:
        problems.append(f"no results/{stem}/metrics.json with a provenance header")
    on_cuda = "on cuda" in str(prov.get("precision", "")) and not str(prov.get("device", "")).startswith("CPU")
    if not on_cuda and not allow_cpu:
        problems.append(f"executed on {prov.get('device', 'an unrecorded device')}, not a CUDA device "
                        "(--allow-cpu accepts it)")
    commit = summary.get("commit")
    if not commit or meta.get("commit_full") != commit:
        problems.append(f"executed at commit {meta.get('commit_full') or meta.get('commit')}, the job's manifest "
                        f"says {commit}")
    elif "uncommitted" in str(meta.get("commit", "")):
        problems.append(f"executed with uncommitted changes ({meta.get('commit')})")
    elif _git("merge-base", "--is-ancestor", commit, "HEAD").returncode != 0:
        problems.append(f"commit {commit[:12]} is not an ancestor of HEAD (fetch or rebase first)")
    problems += [f"error output in {e}" for e in errors_in(nb)]
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):  # (a dataset variant, 03_acgan-cifar10, is checked with its chapter)
        check(folder, [stem.split("-", 1)[0]])
    fail = [ln for ln in shown.getvalue().splitlines() if ln.startswith(f"FAIL  {stem}:")]
    if fail:
        problems.append("check: " + fail[0].split(":", 1)[1].strip())
    scale = meta.get("scale") or prov.get("scale")
    problems += check_runs(folder, scale, prov.get("params", {}))
    sc = summary.get("selfcheck")
    if not sc:
        problems.append("the job's summary has no self-check result")
    elif not sc.get("passed") and summary.get("fast_step") != "off":
        problems.append(f"the self-check failed ({sc.get('reason')}) and the job did not train eagerly")
    status = summary.get("chapters", {}).get(stem[:2], {}).get("status")
    if status != "ok":
        problems.append(f"the job's summary says {status or 'nothing'} for chapter {stem[:2]}")
    return problems


def _unmark_stale(root: Path, stem: str) -> None:
    path = root / "book" / "stale.json"
    if not path.exists():
        return
    data = json.loads(path.read_text())
    if data.get("chapters", {}).pop(stem, None) is not None:
        atomic_write_text(path, json.dumps(data, indent=1) + "\n")


def install(folder: Path, stem: str, root: Path) -> None:
    """Replace ``root``'s executed chapter and results folder with the checked ones."""
    book = root / "book"
    book.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(folder / f"{stem}.ipynb", book / f"{stem}.ipynb")
    dest = book / "results" / stem
    if dest.exists():
        shutil.rmtree(dest)
    if (folder / "results" / stem).exists():
        shutil.copytree(folder / "results" / stem, dest)
    _unmark_stale(root, stem)


def set_aside(folder: Path, stem: str, root: Path, reason: str) -> Path:
    dest = root / REJECTED / stem[:2]
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(folder, dest)
    atomic_write_text(dest / "reason.txt", reason + "\n")
    return dest


def record_wall_times(summary: dict, imported: list[str], estimates: Path) -> None:
    """The job's measured wall times of chapters imported at ``full`` -> estimates.json."""
    if summary.get("scale") != "full" or not imported or not estimates.exists():
        return
    table = json.loads(estimates.read_text())
    for stem in imported:
        entry = summary.get("chapters", {}).get(stem[:2], {})
        if entry.get("wall_s"):
            table.setdefault("measured", {})[stem[:2]] = {
                "wall_s": entry["wall_s"], "gpu": (summary.get("environment") or {}).get("gpu"),
                "commit": summary.get("commit"), "parallel": summary.get("parallel"),
                "fast_step": summary.get("fast_step"),
                "iterations": table.get("chapters", {}).get(stem[:2], {}).get("iterations")}
    atomic_write_json(estimates, table)


def regenerate_report(root: Path, into_checkout: bool) -> None:
    """Re-execute the report chapter (it reads every chapter's results) at its recorded
    scale, in the checkout only."""
    if not into_checkout:
        print(f"note: report chapter not regenerated (imported into {root}, not the checkout)")
        return
    path = root / "book" / "10_reproduction_report.ipynb"
    meta = json.loads(path.read_text())["metadata"].get("acgan_book", {}) if path.exists() else {}
    scale = meta.get("scale", "cpu")
    cmd = [sys.executable, "-m", "acgan_lib.book", "execute", "--scale", scale, "--chapters", REPORT]
    p = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if p.returncode:
        last = ((p.stdout + p.stderr).strip().splitlines() or ["no output"])[-1]
        print(f"warning: the report chapter was not regenerated ({last}); run: {' '.join(cmd[1:])}")
    else:
        print("regenerated the report chapter (10)")


def import_device(src, into: str | None = None, allow_cpu: bool = False) -> int:
    """Check and import every chapter in ``src`` (a folder, or several: the calls of one
    lease), then regenerate the report once and record the measured wall times; returns the
    number of chapters set aside."""
    from acgan_lib.book.core import repo_root

    srcs = [src] if isinstance(src, (str, Path)) else list(src)
    checkout = repo_root()
    root = Path(into).resolve() if into else checkout
    imported, rejected, summaries = [], 0, []
    for one in srcs:
        summary, got, bad = _import_one(one, root, allow_cpu)
        imported += got
        rejected += bad
        summaries.append((summary, got))
    if imported:
        regenerate_report(root, root == checkout)
        for summary, got in summaries:  # after the report: it is executed from a clean tree
            record_wall_times(summary, got, root / "tools" / "device" / "estimates.json")
    print(f"{len(imported)} chapter(s) imported, {rejected} set aside")
    return rejected


def _import_one(src, root: Path, allow_cpu: bool) -> tuple[dict, list[str], int]:
    src_dir = Path(src)
    if not (src_dir / "summary.json").exists():
        raise UserError(f"no summary.json in {src} (the folder the device job's files came back to)")
    summary = json.loads((src_dir / "summary.json").read_text())
    archives = sorted(src_dir.glob("chapters-*.tar.gz"))
    if not archives:
        raise UserError(f"no chapters-*.tar.gz in {src}: the job finished no chapter (see its summary.json)")
    imported, rejected = [], 0
    with tempfile.TemporaryDirectory(prefix="acgan-import-") as tmp:
        for archive in archives:
            folder = Path(tmp) / archive.name.split(".")[0]
            with tarfile.open(archive) as tar:
                tar.extractall(folder, filter="data")
            for nb in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
                stem = nb.stem
                problems = check_chapter(folder, stem, summary, allow_cpu)
                if problems:
                    reason = "; ".join(problems)
                    where = set_aside(folder, stem, root, reason)
                    print(f"rejected {stem}: {reason} (kept in {where})")
                    rejected += 1
                else:
                    install(folder, stem, root)
                    imported.append(stem)
                    print(f"imported {stem} into {root / 'book'}")
    return summary, imported, rejected
