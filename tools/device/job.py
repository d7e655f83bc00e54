"""``python -m tools.device job``: the one job a GPU lease runs (through ``bash
tools/device-job.sh``), turning the lease into executed chapters that
``python -m acgan_lib.book import-device`` brings home.

In order, each step bounded so that a failure costs seconds, never the lease:

1. check the tree against the manifest sent with it (``_build/manifest.json``) and make
   the datasets of the bundle available (``$ACGAN_DATA``);
2. the fast-step self-check (``python -m acgan_lib selfcheck``); when it fails, everything
   after trains eagerly (``ACGAN_FAST_STEP=off``);
3. the runs several chapters share (:data:`SHARED_RUNS`), each in its own process, with
   the function the chapters call (:func:`acgan_lib.book.core.run`) and the runs folder
   the chapters use, so that the chapters then load them;
4. the chapters in :data:`PRIORITY` order, up to ``--parallel`` at once, each in its own
   executor process; a chapter whose estimate (``tools/device/estimates.json``) no longer
   fits the wall budget is not started, and chapters already imported at ``full`` (and not
   stale) are skipped, so the work spans leases; with ``--train-ahead`` the shared runs of
   the chapters that did not fit then train until the deadline;
5. as each group of chapters finishes, ``$OUT/chapters-<NN>.tar.gz`` (at most
   :data:`MAX_ARCHIVES`, each under :data:`MAX_ARCHIVE_BYTES`): the executed notebooks,
   their results folders and each run's ``config.json``, ``run.json``, ``log.csv`` and
   ``eval/*.json`` (no weights: they do not fit the return limit).

The runs folder outlives a call: the next call of the same lease, at the same commit, reuses
the runs it finished and resumes those it stopped (:func:`keep_runs`), and plans with the
training they have left (:func:`left_to_train`), so a lease's calls add up.

``$OUT/summary.json`` is written at the start and rewritten after every event, so a
time-out still leaves it; with ``$OUT/job.log`` (written by the shell script) and the
archives, ``$OUT`` never holds more than 8 files.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from acgan_lib.utils import UserError, atomic_write_json

ROOT = Path(__file__).resolve().parents[2]
BUNDLE_ENV = "ACGAN_DEVICE_BUNDLE"
BUNDLE_DEFAULT = "_build/device-bundle"
MANIFEST_DEFAULT = "_build/manifest.json"
WORK_DEFAULT = "_build/device-job"       # ignored: the chapters' --out (runs/, results/), task logs
DATA_DIR = "_build/device-data"          # ignored: the bundle's datasets, unpacked
ESTIMATES = Path(__file__).with_name("estimates.json")
MAX_ARCHIVES = 6                         # + summary.json + job.log = the 8 files a call returns
MAX_ARCHIVE_BYTES = 16 * 1024 * 1024 - 64 * 1024
SELFCHECK_TIMEOUT_S = 90

# the most wanted first: the Fashion-MNIST AC-GAN chapters, then the MNIST chapters (003's
# protocol is hours on this project's 2-core CPU: chapter 1 at full ~4.9 core-hours even in
# bf16, chapter 2 ~7 core-hours; benchmarks/results/cpu-2026-11-27-train-speed-mnist*.json)
PRIORITY = ("03", "06", "05", "04", "07", "01", "02", "08", "09")
# the dataset each chapter trains on (the others: Fashion-MNIST); a chapter whose dataset is
# not in the bundle (make device-bundle DATASETS="mnist") is skipped, saying so
CHAPTER_DATASET = {"01": "mnist", "02": "mnist", "08": "mnist"}
# chapters that reuse another's runs from the same runs folder: never trained twice at once
CHAPTER_NEEDS = {"02": ("01",), "08": ("02",)}

# Runs that several chapters train with the same config, so the same run folder: (preset,
# overrides as the chapters pass them at full and smoke scale, chapters using it). Read off
# book/src: chapter 3's main model is chapter 5's 28 px model, chapter 6's model, chapter 4's
# constant-noise seed 0 and chapter 7's 10-class seed 0; seeds 1 and 2 are shared by 4 and 7.
SHARED_RUNS = (
    ("acgan-fmnist", {}, ("03", "04", "05", "06", "07")),
    ("acgan-fmnist", {"seed": 1}, ("04", "07")),
    ("acgan-fmnist", {"seed": 2}, ("04", "07")),
)
# Papermill parameters of a chapter executed on the device at `full` scale, each stated
# in the chapter's header (its provenance lists every knob). fid_n=0: the TF-Inception
# weights (87 MB) cannot travel, so the Inception FID is left out (the Frechet distance on
# classifier features stays). Chapter 9's lease budget: 002's backbone at half width
# (g_ch 48, d_ch 24 instead of 96, 48) for 10 epochs of batch 128 (4,680 iterations instead
# of 80 epochs), 7 variants x 3 seeds; the report gives B4 no verdict below 002's length.
DEVICE_PARAMS = {"05": {"fid_n": 0}, "09": {"fid_n": 0, "iters": 4680, "g_ch": 48, "d_ch": 24}}

SHARED_CLASSIFIERS = {"fashion-mnist": ("03", "04", "05", "06", "07", "09"), "mnist": ("01", "02", "08")}

RUN_LINE = re.compile(r"^\s*(\S+): (?:trained|reused the finished run) in (\S+) \(", re.MULTILINE)


# ----------------------------------------------------------------------------- scheduler
@dataclass
class Task:
    """One process of the job: a shared run or a chapter."""
    key: str                      # "shared:acgan-fmnist-seed1" or "06"
    argv: list[str]
    estimate_s: float
    needs: tuple[str, ...] = ()   # keys that must have finished first (ok or not)
    env: dict = field(default_factory=dict)
    log: Path | None = None
    status: str = "pending"       # pending, running, ok, failed, skipped, partial
    ahead: bool = False           # trained ahead for a later call (see schedule)
    reason: str = ""
    wall_s: float | None = None
    proc: subprocess.Popen | None = None
    started: float = 0.0


def _last_line(path: Path | None) -> str:
    if path is None or not path.exists():
        return ""
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    errs = [ln for ln in lines if ln.startswith("error:") or "Error" in ln]
    return (errs or lines or [""])[-1][:300]


def _signal(proc: subprocess.Popen, sig) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def schedule(tasks: list[Task], parallel: int, deadline: float, on_event=lambda task: None,
             clock=time.monotonic, poll_s: float = 0.2, shared_gpu: bool = False, speedup: float = 1.0) -> None:
    """Run ``tasks`` in their order, at most ``parallel`` at once, each once its ``needs``
    have finished. A task is started only when ``clock() + estimate_s <= deadline``;
    otherwise it is skipped (the next ones may still fit). With ``shared_gpu`` the tasks
    running at once share one GPU's throughput (measured on the H100: three training
    processes ran at a third of one's speed each), so a task is started only when its
    estimate plus the work the running tasks have left fits, divided by ``speedup`` (the
    measured combined throughput of several processes over one's; never less than its own
    estimate). A task still running at the deadline is stopped and fails, except one trained
    ahead (``ahead``: started whenever time is left, whatever its estimate), which ends as
    ``partial``: its run resumes from its last checkpoint in the lease's next call.
    ``on_event(task)`` is called after every start and end."""

    def left_s(now: float) -> float:  # GPU work the running tasks still need (shared_gpu)
        running = [x for x in tasks if x.status == "running"]
        return sum(max(0.0, x.estimate_s - (now - x.started) / len(running)) for x in running)

    by_key = {t.key: t for t in tasks}
    while True:
        running = [t for t in tasks if t.status == "running"]
        for t in running:
            code = t.proc.poll()
            if code is None and clock() < deadline:
                continue
            if code is None:  # the whole process group: the executor and its kernel
                _signal(t.proc, signal.SIGTERM)
                try:
                    t.proc.wait(10)
                except subprocess.TimeoutExpired:
                    _signal(t.proc, signal.SIGKILL)
                    t.proc.wait()
                t.status, t.reason = (("partial", "stopped at the end of the wall budget; the next call resumes it")
                                      if t.ahead else ("failed", "stopped at the end of the wall budget"))
            else:
                t.status = "ok" if code == 0 else "failed"
                t.reason = "" if code == 0 else f"exit {code}: {_last_line(t.log)}"
            t.wall_s = round(clock() - t.started, 1)
            on_event(t)
        pending = [t for t in tasks if t.status == "pending"]
        for t in pending:
            if sum(x.status == "running" for x in tasks) >= parallel:
                break
            if any(by_key[k].status in ("pending", "running") for k in t.needs if k in by_key):
                continue
            now = clock()
            busy = left_s(now) if shared_gpu else 0.0
            if (now + max(t.estimate_s, (busy + t.estimate_s) / speedup) > deadline and not t.ahead) or now >= deadline:
                t.status = "skipped"
                t.reason = (f"estimated {t.estimate_s:.0f} s, {max(0.0, deadline - now):.0f} s left "
                            "in the wall budget" + (f", {busy:.0f} s of it the running tasks' GPU work"
                                                    if busy else ""))
                on_event(t)
                continue
            out = open(t.log, "w") if t.log else subprocess.DEVNULL
            t.proc = subprocess.Popen(t.argv, env={**os.environ, **t.env}, stdout=out, stderr=subprocess.STDOUT,
                                      cwd=ROOT, start_new_session=True)
            if t.log:
                out.close()
            t.status, t.started = "running", clock()
            on_event(t)
        if not any(t.status in ("pending", "running") for t in tasks):
            return
        time.sleep(poll_s)


# ----------------------------------------------------------------------------- the steps
def verify_tree(manifest: Path) -> dict:
    """The manifest sent with the tree: its commit, and (when the bundle module has a
    verifier) the tracked files' hashes. One-line error when it does not match."""
    if not manifest.exists():
        raise UserError(f"no manifest {manifest}: write it where the checkout is (make device-bundle, or "
                        "python -m acgan_lib.book manifest) and carry it with the tree")
    data = json.loads(manifest.read_text())
    if not (data.get("commit_full") or data.get("commit")):
        raise UserError(f"manifest {manifest} records no commit")
    try:
        from . import bundle
    except ImportError:
        bundle = None
    verify = getattr(bundle, "verify_manifest", None) or getattr(bundle, "verify", None)
    if verify is not None:
        verify(manifest)  # raises UserError naming the first file that differs
    return data


def available_datasets() -> list[str]:
    from acgan_lib.data import is_available
    return [d for d in ("fashion-mnist", "mnist") if is_available(d)]


def prepare_data(bundle: Path) -> str:
    """``$ACGAN_DATA`` for the chapters: kept when it already holds a dataset (CI), else the
    bundle's ``data/*.tar.xz`` unpacked into :data:`DATA_DIR`. Returns what was done."""
    if os.environ.get("ACGAN_DATA") and available_datasets():
        return f"data: $ACGAN_DATA={os.environ['ACGAN_DATA']} (holds {', '.join(available_datasets())})"
    dest = ROOT / DATA_DIR
    archives = sorted((bundle / "data").glob("*.tar.xz"))
    for a in archives:
        with tarfile.open(a) as tar:
            tar.extractall(dest, filter="data")
    os.environ["ACGAN_DATA"] = str(dest)
    if not available_datasets():
        raise UserError(f"neither Fashion-MNIST nor MNIST is in {bundle / 'data'} (make device-bundle, then carry "
                        f"{BUNDLE_DEFAULT})")
    return f"data: unpacked {', '.join(a.name for a in archives)} into {DATA_DIR}"


def selfcheck(work: Path, short: bool) -> tuple[dict, str]:
    """The fast-step self-check: ``(its JSON, fast_step)``; any failure or time-out gives
    ``fast_step="off"`` (eager training) with the reason in the JSON."""
    out = work / "selfcheck.json"
    out.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "acgan_lib", "selfcheck", "--out", str(out)]
    # short (CPU, CI): a quarter-width model and room for a loaded machine
    argv += ["--max-seconds", "60", "width=0.25"] if short else ["--max-seconds", "30"]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=SELFCHECK_TIMEOUT_S, cwd=ROOT)
        code, text = p.returncode, (p.stdout + p.stderr).strip()
    except subprocess.TimeoutExpired:
        code, text = None, f"timed out after {SELFCHECK_TIMEOUT_S} s"
    result = json.loads(out.read_text()) if out.exists() else {}
    if code == 0 and result.get("passed"):
        return result, "auto"
    last = _tail(text, 300)
    result.setdefault("passed", False)
    result.setdefault("reason", last)
    print(f"self-check failed ({'exit ' + str(code) if code is not None else 'time-out'}: {last}); "
          "training eagerly (ACGAN_FAST_STEP=off)", flush=True)
    return result, "off"


MPS = "nvidia-cuda-mps-control"


def start_mps(work: Path) -> str:
    """Start CUDA MPS (``--mps``), so that the kernels of the job's processes run at the same
    time instead of taking turns on the GPU (measured without it on the H100: three training
    processes at a third of one's speed each). Returns ``"on"``, or ``"off: <why>"`` after
    undoing anything started: a failure costs seconds, never the job."""
    exe = shutil.which(MPS)
    if exe is None:
        return f"off: {MPS} not found"
    env = {"CUDA_MPS_PIPE_DIRECTORY": str(work / "mps-pipe"), "CUDA_MPS_LOG_DIRECTORY": str(work / "mps-log")}
    for d in env.values():
        Path(d).mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    try:
        p = subprocess.run([exe, "-d"], capture_output=True, text=True, timeout=30)
        why = "" if p.returncode == 0 else f"the daemon did not start: {_tail(p.stdout + p.stderr)}"
        if not why:
            q = subprocess.run([sys.executable, "-c", "import torch; print(float(torch.ones(4, device='cuda').sum()))"],
                               capture_output=True, text=True, timeout=90)
            why = "" if q.returncode == 0 else f"a CUDA process failed under MPS: {_tail(q.stdout + q.stderr)}"
    except (OSError, subprocess.TimeoutExpired) as e:
        why = f"{type(e).__name__}: {e}"
    if why:
        stop_mps()
        for k in env:
            os.environ.pop(k, None)
        return f"off: {why}"
    return "on"


def stop_mps() -> None:
    exe = shutil.which(MPS)
    if exe and os.environ.get("CUDA_MPS_PIPE_DIRECTORY"):
        try:
            subprocess.run([exe], input="quit\n", capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass


def _tail(text: str, width: int = 200) -> str:
    """The last line of a process's output (what a one-line summary quotes)."""
    return (text.strip().splitlines() or ["no output"])[-1][:width]


def bench(work: Path, steps: int = 50, procs: int = 3) -> dict:
    """``benchmarks/train_speed.py --json`` with a short step count (optional, ``--bench``),
    and ``procs`` acgan-fmnist trainers at once (their combined steps/s)."""
    out = work / "bench.json"
    try:
        p = subprocess.run([sys.executable, "benchmarks/train_speed.py", "--json", str(out), "--steps", str(steps),
                            "--procs", str(procs)],
                           capture_output=True, text=True, timeout=240, cwd=ROOT)
        if out.exists():
            return json.loads(out.read_text())
        return {"error": _tail(p.stdout + p.stderr, 300)}
    except subprocess.TimeoutExpired:
        return {"error": "timed out after 240 s"}


def gpu_speedup(bench_result: dict | None, parallel: int) -> float:
    """Combined steps/s of several trainer processes over one's, from this job's benchmark
    (``--bench``: 3 processes; without MPS the H100 ran three shared runs at once at 0.92 of
    one process's rate), between 1 and
    ``parallel``; 1 without a measurement."""
    s = ((bench_result or {}).get("parallel") or {}).get("speedup_vs_one")
    return float(min(max(s, 1.0), max(1, parallel))) if isinstance(s, (int, float)) and s == s else 1.0


def environment() -> dict:
    """GPU, driver, Python, torch and CUDA versions (without creating a CUDA context)."""
    import platform

    import torch

    gpu = None
    if shutil.which("nvidia-smi"):
        p = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                           capture_output=True, text=True)
        gpu = p.stdout.strip() or None
    return {"gpu": gpu, "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cpu_cores": os.cpu_count()}


def imported_at(stem: str, scale: str) -> bool:
    """Whether the committed results of ``stem`` are at ``scale`` (not smoke) and current
    (not on the stale list, and the committed notebook's code is its source's: a chapter
    edited since its execution runs again): then the chapter is not run again."""
    from acgan_lib.book.core import stale_chapters
    from tools.book.notebooks import chapters, stale_cells

    path = ROOT / "book" / "results" / stem / "metrics.json"
    if scale == "smoke" or not path.exists() or stem in stale_chapters():
        return False
    if json.loads(path.read_text()).get("provenance", {}).get("scale") != scale:
        return False
    chapter = next((c for c in chapters() if c.stem == stem), None)
    return chapter is not None and not stale_cells(chapter, chapter.executed())


def estimate_s(number: str, table: dict, selfcheck_result: dict, scale: str) -> float:
    """Seconds a chapter is expected to take: its measured wall time when an import
    recorded one for the chapter's present length (the measurement's ``iterations`` equal
    the estimate's: a chapter that changed since is estimated afresh), else iterations /
    step rate + overhead (see estimates.json); at other scales than ``full`` nothing is
    known: 0."""
    if scale != "full":
        return 0.0
    measured = table.get("measured", {}).get(number)
    entry = table.get("chapters", {}).get(number)
    if measured and (entry is None or measured.get("iterations", entry["iterations"]) == entry["iterations"]):
        return float(measured["wall_s"])
    if entry is None:
        return math.inf
    rate = selfcheck_result.get("steps_per_s") or table["assumed_steps_per_s"]
    return entry["iterations"] / rate + table["overhead_s"]


def groups(numbers: list[str], n: int = MAX_ARCHIVES) -> list[list[str]]:
    """``numbers`` cut into at most ``n`` consecutive groups (one archive each)."""
    size = max(1, math.ceil(len(numbers) / n))
    return [numbers[i:i + size] for i in range(0, len(numbers), size)]


def chapter_runs(nb_path: Path, runs_dir: Path) -> list[Path]:
    """The run folders a chapter used, from the lines :func:`acgan_lib.book.core.run`
    prints in its notebook ("name: trained in PATH (...)"), under ``runs_dir`` only."""
    nb = json.loads(nb_path.read_text())
    text = "\n".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", [])
                     if o.get("output_type") == "stream")
    found = []
    for _, p in RUN_LINE.findall(text):
        path = (Path(p) if Path(p).is_absolute() else ROOT / p).resolve()
        if path.is_relative_to(runs_dir.resolve()) and path.is_dir() and path not in found:
            found.append(path)
    return found


def write_archive(out: Path, numbers: list[str], work: Path) -> tuple[Path | None, str]:
    """``out/chapters-<NN>[-<NN>].tar.gz`` with the executed notebooks of ``numbers`` found
    in ``work``, their results and their runs' small files. ``(path, "")``, or ``(None,
    reason)`` when there is nothing to archive or it would not fit the return limit."""
    runs_dir = work / "runs"
    members: list[tuple[Path, str]] = []
    for nb in sorted(p for n in numbers for p in work.glob(f"{n}_*.ipynb")):
        members.append((nb, nb.name))
        res = work / "results" / nb.stem
        members += [(f, str(f.relative_to(work))) for f in sorted(res.rglob("*")) if f.is_file()]
        for run in chapter_runs(nb, runs_dir):
            small = [run / n for n in ("config.json", "run.json", "log.csv")] + sorted((run / "eval").glob("*.json"))
            members += [(f, str(f.relative_to(work))) for f in small if f.exists()]
    if not members:
        return None, "no executed notebook to archive"
    path = out / f"chapters-{'-'.join(numbers)}.tar.gz"
    tmp = path.with_name(path.name + ".tmp")
    seen = set()
    with tarfile.open(tmp, "w:gz") as tar:
        for f, name in members:
            if name not in seen:
                seen.add(name)
                tar.add(f, arcname=name)
    size = tmp.stat().st_size
    if size > MAX_ARCHIVE_BYTES:
        tmp.unlink()
        return None, f"archive {path.name} would be {size / 2**20:.1f} MiB, over the 16 MiB return limit"
    tmp.replace(path)
    return path, ""


# ----------------------------------------------------------------------------- the job
def chapter_command(stem: str, scale: str, work: Path, manifest: Path) -> list[str]:
    """The executor for one chapter, into the job's scratch folder (runs in ``work/runs``),
    with the chapter's :data:`DEVICE_PARAMS` at ``full`` scale."""
    params = DEVICE_PARAMS.get(stem[:2], {}) if scale == "full" else {}
    return [sys.executable, "-m", "acgan_lib.book", "execute", "--scale", scale, "--chapters", stem,
            "--out", str(work), "--manifest", str(manifest)] + [a for k, v in params.items() for a in ("-p", f"{k}={v}")]


def shared_command(preset: str, scale: str, overrides: dict) -> list[str]:
    """One shared run, trained by the function the chapters call."""
    code = ("import json, sys; from acgan_lib.book.core import run; "
            "a = json.loads(sys.argv[1]); run(a['preset'], a['scale'], **a['overrides'])")
    return [sys.executable, "-c", code, json.dumps({"preset": preset, "scale": scale, "overrides": overrides})]


def classifier_command(dataset: str, scale: str) -> list[str]:
    code = ("import sys; from acgan_lib.book.evaluation import classifier; classifier(sys.argv[1], sys.argv[2]); "
            "print('classifier ready')")
    return [sys.executable, "-c", code, dataset, scale]


def left_to_train(run_dir: Path) -> float:
    """Share of a run's training still to do: 0 when it has finished (``final.pt``), else
    what its last checkpoint leaves (``run.json``: step of iters), 1 when it has not started."""
    if (run_dir / "final.pt").exists():
        return 0.0
    try:
        info = json.loads((run_dir / "run.json").read_text())
        return min(1.0, max(0.0, 1.0 - int(info["step"]) / int(info["iters"])))
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return 1.0


def keep_runs(work: Path, commit: str) -> list[str]:
    """Empty ``work`` for a new call, keeping ``work/runs`` when the previous call of the
    lease ran the same commit (``runs/.commit``): the runs it finished are reused and those
    it left unfinished are resumed. Returns the kept runs' folder names."""
    runs, mark = work / "runs", work / "runs" / ".commit"
    same = mark.exists() and mark.read_text().strip() == commit
    if work.exists():
        for p in work.iterdir():
            if not (same and p == runs):
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    runs.mkdir(parents=True, exist_ok=True)
    mark.write_text(commit + "\n")
    return sorted(str(p.relative_to(runs)) for p in runs.glob("*/*") if p.is_dir()) if same else []


def shared_name(preset: str, overrides: dict) -> str:
    """A shared run's label: the folder name :func:`acgan_lib.book.core.run` gives it for
    the simple overrides of :data:`SHARED_RUNS` (``acgan-fmnist``, ``acgan-fmnist-seed1``)."""
    return preset + "".join(f"-{k}{v}" for k, v in sorted(overrides.items()))


def preplan(tasks: list[Task], seconds: float, speedup: float = 1.0,
            train_ahead: bool = False) -> tuple[list[Task], dict]:
    """The tasks worth starting on a GPU the processes share: chapters in order, each kept
    when its estimate plus the shared runs it needs (those not already kept) still fit
    ``seconds`` with everything kept before it, at ``speedup``; shared runs no kept chapter
    needs are dropped (they would spend the lease on nothing), unless ``train_ahead``: then
    the shared runs of the chapters left out are kept too, last, in the chapters' order,
    each waiting for every kept task and marked ``ahead`` (they use the time left, and a
    later call of the same lease, which keeps the runs, resumes them and finds its chapters
    cheaper). Returns ``(kept, {key: why})``."""
    shared = {t.key: t for t in tasks if t.key.startswith("shared:")}
    chapters_ = [t for t in tasks if not t.key.startswith("shared:")]
    kept_keys, work, why = set(), 0.0, {}
    for t in chapters_:
        extra = [shared[k] for k in t.needs if k in shared and k not in kept_keys]
        cost = t.estimate_s + sum(x.estimate_s for x in extra)
        path = t.estimate_s + max((x.estimate_s for x in extra), default=0.0)  # shared runs overlap
        if max(path, (work + cost) / speedup) <= seconds:
            kept_keys |= {t.key, *(x.key for x in extra)}
            work += cost
        else:
            why[t.key] = (f"estimated {t.estimate_s:.0f} s + {cost - t.estimate_s:.0f} s of shared runs, "
                          f"{max(0.0, seconds - work / speedup):.0f} s left after the chapters planned before it")
    kept = [t for t in tasks if t.key in kept_keys]
    for t in kept:  # a chapter left out is not waited for (the later one trains what it needs)
        t.needs = tuple(k for k in t.needs if k in kept_keys or k not in {x.key for x in tasks})
    ahead = []
    if train_ahead:
        wanted = [k for c in chapters_ if c.key not in kept_keys for k in c.needs if k in shared]
        ahead = [shared[k] for k in dict.fromkeys(wanted) if k not in kept_keys and shared[k].estimate_s > 0]
        for t in ahead:
            t.ahead, t.needs = True, tuple(x.key for x in kept)
    why.update({k: "no chapter that needs it fits the budget" for k in shared
                if k not in kept_keys and shared[k] not in ahead})
    return kept + ahead, why


def build_tasks(numbers: list[str], stems: dict, scale: str, work: Path, manifest: Path, table: dict,
                selfcheck_result: dict, env: dict) -> list[Task]:
    """Shared runs (and classifiers) used by the chapters to run, then the chapters."""
    logs = work / "logs"  # made by the job before it starts them
    tasks, needs = [], {n: [] for n in numbers}
    for dataset, users in SHARED_CLASSIFIERS.items():
        if set(users) & set(numbers):
            key = f"shared:classifier-{dataset}"
            tasks.append(Task(key, classifier_command(dataset, scale), 0.0, env=env, log=logs / f"{key[7:]}.log"))
            for n in set(users) & set(numbers):
                needs[n].append(key)
    for preset, over, users in SHARED_RUNS:
        if not set(users) & set(numbers):
            continue
        name = shared_name(preset, over)
        left = left_to_train(work / "runs" / scale / name)  # a run a previous call finished or began
        if left == 0:
            continue  # finished: the chapters reuse it
        est = table.get("shared", {}).get(name, {}).get("iterations", 0) * left if scale == "full" else 0
        rate = selfcheck_result.get("steps_per_s") or table["assumed_steps_per_s"]
        key = f"shared:{name}"
        tasks.append(Task(key, shared_command(preset, scale, over), est / rate, env=env, log=logs / f"{name}.log"))
        for n in set(users) & set(numbers):
            needs[n].append(key)
    for n in numbers:
        needs[n] += [k for k in CHAPTER_NEEDS.get(n, ()) if k in numbers]
        tasks.append(Task(n, chapter_command(stems[n], scale, work, manifest),
                          estimate_s(n, table, selfcheck_result, scale), needs=tuple(needs[n]), env=env,
                          log=logs / f"{stems[n]}.log"))
    return tasks


def run_job(args) -> dict:
    """The whole job (see the module docstring); returns the final summary."""
    t0 = time.monotonic()
    deadline = t0 + args.budget_s
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = (ROOT / WORK_DEFAULT).resolve() if not args.work else Path(args.work).resolve()
    manifest = Path(args.manifest).resolve()
    summary = {"scale": args.scale, "budget_s": args.budget_s, "parallel": args.parallel, "finished": False,
               "started_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
               "chapters": {}, "shared_runs": {}, "skipped": {}, "archives": []}

    def save():
        summary["elapsed_s"] = round(time.monotonic() - t0, 1)
        atomic_write_json(out / "summary.json", summary)

    save()
    summary["manifest"] = {k: v for k, v in verify_tree(manifest).items() if k in ("commit", "commit_full", "changes",
                                                                                     "diff_sha256")}
    summary["commit"] = summary["manifest"].get("commit_full") or summary["manifest"].get("commit")
    summary["runs_kept"] = keep_runs(work, f"{summary['commit']} {summary['manifest'].get('diff_sha256')}")
    if summary["runs_kept"]:
        print(f"kept from this lease's previous call (same commit): {', '.join(summary['runs_kept'])}", flush=True)
    summary["environment"] = environment()
    print(f"commit {summary['commit']}; " + ", ".join(f"{k} {v}" for k, v in summary["environment"].items()),
          flush=True)
    save()
    summary["data"] = prepare_data(Path(args.bundle))
    print(summary["data"], flush=True)
    result, fast = selfcheck(work, args.smoke_selfcheck)
    summary["selfcheck"], summary["fast_step"] = result, fast
    env = {"ACGAN_BOOK_RUNS": str(work / "runs")}
    if fast == "off":
        env["ACGAN_FAST_STEP"] = "off"
    if not os.environ.get("OMP_NUM_THREADS"):
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // max(1, args.parallel)))
    save()
    if args.mps:
        summary["mps"] = start_mps(work)
        print(f"MPS: {summary['mps']}", flush=True)
        save()
    try:
        return _after_setup(args, summary, save, out, work, manifest, result, env, deadline)
    finally:
        if summary.get("mps") == "on":
            stop_mps()


def select_chapters(wanted: list[str] | None, scale: str, have: list[str]) -> tuple[dict, list[str], dict]:
    """The chapters a job runs: ``wanted`` (default all) in :data:`PRIORITY` order, less
    those already imported at ``scale`` and those whose dataset is not in ``have``. Returns
    ``({number: stem}, numbers to run, {number: why skipped})``."""
    from tools.book.notebooks import chapters

    found = {c.number: c.stem for c in chapters(wanted or list(PRIORITY))}
    order = [n for n in PRIORITY if n in found] + sorted(n for n in found if n not in PRIORITY)
    numbers, skipped = [], {}
    for n in order:
        if imported_at(found[n], scale):
            skipped[n] = f"already imported at {scale} (book/results/{found[n]}/metrics.json)"
        elif (need := CHAPTER_DATASET.get(n, "fashion-mnist")) not in have:
            skipped[n] = f"needs {need}, which the bundle does not hold (make device-bundle DATASETS=...)"
        else:
            numbers.append(n)
    return found, numbers, skipped


def dry_plan(budget_s: float, speedup: float = 1.0, steps_per_s: float | None = None,
             wanted: list[str] | None = None, have=("fashion-mnist", "mnist"), train_ahead: bool = False) -> list[str]:
    """What a ``full``-scale job with this wall budget would start, here and without a GPU:
    the same choice of chapters and the same plan as the job (``preplan``), for an assumed
    speed-up of processes at once (``--bench`` measures it on the device) and step rate
    (default: the self-check's, unknown here, so estimates.json's assumed one). Returns the
    lines it prints."""
    found, numbers, skipped = select_chapters(wanted, "full", list(have))
    table = json.loads(ESTIMATES.read_text())
    rate = {"steps_per_s": steps_per_s} if steps_per_s else {}
    tasks = build_tasks(numbers, found, "full", ROOT / WORK_DEFAULT, ROOT / MANIFEST_DEFAULT, table, rate, {})
    kept, why = preplan(tasks, budget_s, speedup, train_ahead)
    lines = [f"budget {budget_s:.0f} s, speed-up of processes at once {speedup:.2f}, "
             f"{steps_per_s or table['assumed_steps_per_s']:g} small-model steps/s"]
    lines += [f"  skip {n}: {w}" for n, w in skipped.items()]
    lines += [f"  {'ahead' if t.ahead else 'run '} {t.key} (estimate {t.estimate_s:.0f} s)" for t in kept]
    lines += [f"  left {k}: {w}" for k, w in why.items()]
    return lines


def _after_setup(args, summary, save, out, work, manifest, result, env, deadline) -> dict:
    """The benchmark (``--bench``), the shared runs and the chapters."""
    if args.bench:
        summary["bench"] = bench(work)
        save()

    found, numbers, skipped = select_chapters(args.chapters, args.scale, available_datasets())
    summary["skipped"].update(skipped)
    table = json.loads(ESTIMATES.read_text())
    (work / "logs").mkdir(parents=True, exist_ok=True)
    tasks = build_tasks(numbers, found, args.scale, work, manifest, table, result, env)
    speedup = gpu_speedup(summary.get("bench"), args.parallel)
    summary["gpu_speedup"] = speedup
    if not args.independent:
        tasks, left_out = preplan(tasks, deadline - time.monotonic(), speedup, args.train_ahead)
        for key, why in left_out.items():
            target = summary["shared_runs"] if key.startswith("shared:") else summary["chapters"]
            target[key.removeprefix("shared:")] = {"status": "skipped", "reason": why}
            print(f"[{key}] skipped: {why}", flush=True)
        numbers = [n for n in numbers if n in {t.key for t in tasks}]
    print("plan: " + ", ".join(f"{t.key} (estimate {t.estimate_s:.0f} s)" for t in tasks)
          + f"; budget {args.budget_s:.0f} s, {args.parallel} at once, GPU speed-up of processes at once "
          + f"{speedup:.2f}", flush=True)
    plan = groups(numbers)
    summary["groups"] = plan
    archived: set[int] = set()

    def on_event(task: Task):
        est = None if math.isinf(task.estimate_s) else round(task.estimate_s, 1)
        entry = {"status": task.status, "estimate_s": est}
        if task.wall_s is not None:
            entry["wall_s"] = task.wall_s
        if task.reason:
            entry["error" if task.status == "failed" else "reason"] = task.reason
        if task.key.startswith("shared:"):
            summary["shared_runs"][task.key[7:]] = entry
        else:
            summary["chapters"][task.key] = {**summary["chapters"].get(task.key, {}), **entry}
        if task.status != "running":
            print(f"[{task.key}] {task.status}" + (f" in {task.wall_s:.0f} s" if task.wall_s is not None else "")
                  + (f": {task.reason}" if task.reason else ""), flush=True)
            if task.status == "failed" and task.log and task.log.exists():
                print("".join(task.log.read_text(errors="replace").splitlines(True)[-20:]), flush=True)
        by_key = {t.key: t for t in tasks}
        for i, grp in enumerate(plan):
            if i in archived or any(by_key[n].status in ("pending", "running") for n in grp):
                continue
            archived.add(i)
            done = [n for n in grp if by_key[n].status == "ok"]
            if not done:
                continue
            path, why = write_archive(out, done, work)
            if path is None:
                for n in done:
                    summary["chapters"][n].update(status="failed", error=why)
                print(f"[{'-'.join(done)}] not archived: {why}", flush=True)
            else:
                summary["archives"].append(path.name)
                for n in done:
                    summary["chapters"][n]["archive"] = path.name
                print(f"wrote {path.name} ({path.stat().st_size / 2**20:.1f} MiB)", flush=True)
        save()

    schedule(tasks, args.parallel, deadline, on_event, shared_gpu=not args.independent, speedup=speedup)
    summary["finished"] = True
    save()
    ok = sum(c.get("status") == "ok" for c in summary["chapters"].values())
    print(f"job done in {summary['elapsed_s']:.0f} s: {ok} chapter(s) ok, "
          f"{len(summary['chapters']) - ok} not, {len(summary['skipped'])} skipped", flush=True)
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.device job", description=__doc__.split("\n\n")[0])
    p.add_argument("--budget-s", type=float, default=540, help="wall budget of the whole job (default 540 s)")
    p.add_argument("--scale", default="full", choices=["smoke", "cpu", "full"])
    p.add_argument("--chapters", nargs="+", metavar="NN", help=f"chapters to run (default {' '.join(PRIORITY)})")
    p.add_argument("--parallel", type=int, default=4, help="processes at once (default 4)")
    p.add_argument("--mps", action="store_true",
                   help="run the processes under CUDA MPS (started and stopped by the job; off again on any failure)")
    p.add_argument("--train-ahead", action="store_true",
                   help="after the planned work, train the shared runs of the chapters that did not fit, until "
                        "the deadline: the lease's next call (same commit) resumes them")
    p.add_argument("--independent", action="store_true",
                   help="plan as if processes running at once did not slow each other (default: they share "
                        "the GPU's throughput, as measured)")
    p.add_argument("--out", default=os.environ.get("OUT"), help="where the returned files go (default $OUT)")
    p.add_argument("--bundle", default=os.environ.get(BUNDLE_ENV, BUNDLE_DEFAULT),
                   help=f"the bundle folder (default ${BUNDLE_ENV} or {BUNDLE_DEFAULT})")
    p.add_argument("--manifest", default=MANIFEST_DEFAULT, help=f"the commit manifest (default {MANIFEST_DEFAULT})")
    p.add_argument("--work", help=f"scratch folder of runs, results and logs (default {WORK_DEFAULT}; emptied first, "
                        "but for the runs when the lease's previous call ran the same commit)")
    p.add_argument("--smoke-selfcheck", action="store_true", help="a short self-check (quarter-width model, 60 s at most: CPU, CI)")
    p.add_argument("--bench", action="store_true", help="also run benchmarks/train_speed.py with a short step count")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if not args.out:
            raise UserError("no output folder: set $OUT or pass --out DIR")
        if args.parallel < 1 or args.budget_s <= 0:
            raise UserError("--parallel and --budget-s must be positive")
        summary = run_job(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0 if all(c.get("status") == "ok" for c in summary["chapters"].values()) else 1
