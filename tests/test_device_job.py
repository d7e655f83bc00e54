"""The GPU lease's job (tools/device/job.py) with fake processes, and import-device
(tools/device/importer.py) with synthetic archives: all on CPU, in seconds."""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import time
from argparse import Namespace
from pathlib import Path

import pytest

from tools.device import importer, job
from tools.device.job import Task, schedule

REPO = Path(__file__).resolve().parents[1]


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


# ----------------------------------------------------------------------------- scheduler
def test_schedule_priority_parallel_limit_and_failures(tmp_path):
    tasks = [Task(k, py(code), 0.0, log=tmp_path / f"{k}.log")
             for k, code in [("a", "import time; time.sleep(0.2)"), ("b", "raise SystemExit('boom: b failed')"),
                             ("c", "import time; time.sleep(0.1)"), ("d", "pass")]]
    started, most = [], [0]

    def on_event(t):
        if t.status == "running":
            started.append(t.key)
        most[0] = max(most[0], sum(x.status == "running" for x in tasks))

    schedule(tasks, parallel=2, deadline=time.monotonic() + 60, on_event=on_event, poll_s=0.02)
    assert started == ["a", "b", "c", "d"]  # priority order
    assert most[0] == 2  # never more than --parallel at once
    status = {t.key: t.status for t in tasks}
    assert status == {"a": "ok", "b": "failed", "c": "ok", "d": "ok"}  # a failure does not stop the others
    assert tasks[1].reason == "exit 1: boom: b failed"
    assert all(t.wall_s is not None for t in tasks)


def test_schedule_skips_a_task_whose_estimate_no_longer_fits(tmp_path):
    tasks = [Task("long", py("pass"), 100.0), Task("short", py("pass"), 0.0)]
    schedule(tasks, parallel=1, deadline=time.monotonic() + 30, poll_s=0.02)
    assert tasks[0].status == "skipped" and tasks[0].reason.startswith("estimated 100 s")
    assert tasks[0].proc is None  # never started
    assert tasks[1].status == "ok"  # a later, shorter one still runs


def test_schedule_on_a_shared_gpu_counts_the_running_tasks_work(tmp_path):
    """Two 20 s tasks fit a 30 s budget one at a time but not on one GPU at once: with
    shared_gpu the second is skipped, saying why; without it both start."""
    def tasks():
        return [Task("a", py("import time; time.sleep(0.3)"), 20.0), Task("b", py("pass"), 20.0)]
    shared = tasks()
    schedule(shared, parallel=2, deadline=time.monotonic() + 30, poll_s=0.02, shared_gpu=True)
    assert [t.status for t in shared] == ["ok", "skipped"]
    assert "s of it the running tasks' GPU work" in shared[1].reason
    alone = tasks()
    schedule(alone, parallel=2, deadline=time.monotonic() + 30, poll_s=0.02)
    assert [t.status for t in alone] == ["ok", "ok"]


def test_schedule_waits_for_needs_and_stops_at_the_deadline(tmp_path):
    flag = tmp_path / "shared-done"
    tasks = [Task("shared:x", py(f"import time, pathlib; time.sleep(0.2); pathlib.Path({str(flag)!r}).touch()"), 0.0),
             Task("ch", py(f"import pathlib, sys; sys.exit(0 if pathlib.Path({str(flag)!r}).exists() else 3)"), 0.0,
                  needs=("shared:x",)),
             Task("slow", py("import time; time.sleep(60)"), 0.0)]
    schedule(tasks, parallel=3, deadline=time.monotonic() + 1.5, poll_s=0.02)
    assert [t.status for t in tasks] == ["ok", "ok", "failed"]
    assert tasks[2].reason == "stopped at the end of the wall budget"


def test_groups_make_at_most_six_archives():
    nums = [f"{i:02d}" for i in range(9)]
    g = job.groups(nums)
    assert len(g) <= 6 and [n for grp in g for n in grp] == nums
    assert job.groups(["03", "06"]) == [["03"], ["06"]]


# ----------------------------------------------------------------------------- the job
FAKE_CHAPTER = """
import json, pathlib, sys
stem, work = sys.argv[1], pathlib.Path(sys.argv[2])
if stem.startswith("04"):
    print("Traceback ...", file=sys.stderr)
    print("error: chapter 04_x failed in cell 7: ValueError: bad", file=sys.stderr)
    sys.exit(1)
run = work / "runs" / "smoke" / "acgan-fmnist"
nb = {"cells": [{"cell_type": "code", "source": "", "metadata": {}, "outputs": [
    {"output_type": "stream", "name": "stdout",
     "text": f"acgan-fmnist: reused the finished run in {run} (6 iterations)\\n"}]}],
      "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
(work / f"{stem}.ipynb").write_text(json.dumps(nb))
res = work / "results" / stem
res.mkdir(parents=True, exist_ok=True)
(res / "metrics.json").write_text(json.dumps({"provenance": {"scale": "smoke"}}))
"""
FAKE_SHARED = """
import json, pathlib, sys
run = pathlib.Path(sys.argv[1]) / "runs" / "smoke" / "acgan-fmnist"
(run / "eval").mkdir(parents=True, exist_ok=True)
(run / "config.json").write_text(json.dumps({"preset": "acgan-fmnist", "iters": 6, "batch_size": 8}))
(run / "run.json").write_text(json.dumps({"status": "complete", "step": 6}))
(run / "final.pt").write_bytes(b"weights never travel")
"""


def test_job_with_fake_chapters(tmp_path, monkeypatch):
    work, out = tmp_path / "work", tmp_path / "out"
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"commit": "abc1234", "commit_full": "abc1234" + "0" * 33, "changes": []}))
    monkeypatch.setattr(job, "chapter_command", lambda stem, scale, w, m: py(FAKE_CHAPTER) + [stem, str(w)])
    monkeypatch.setattr(job, "shared_command", lambda preset, scale, over: py(FAKE_SHARED) + [str(work)])
    monkeypatch.setattr(job, "classifier_command", lambda dataset, scale: py("pass"))
    monkeypatch.setattr(job, "prepare_data", lambda bundle: "data: test")
    monkeypatch.setattr(job, "available_datasets", lambda: ["fashion-mnist", "mnist"])
    passed = {"passed": True, "fast_path": "eager (uncaptured)"}
    monkeypatch.setattr(job, "selfcheck", lambda w, short: (passed, "auto"))
    snapshots = []
    real_write = job.atomic_write_json
    monkeypatch.setattr(job, "atomic_write_json",
                        lambda path, data: (snapshots.append(json.loads(json.dumps(data))), real_write(path, data)))
    chapters = ["00", "01", "02", "03", "04", "05", "06", "07", "08"]
    args = Namespace(out=str(out), work=str(work), manifest=str(manifest), bundle=str(tmp_path), scale="smoke",
                     budget_s=120, parallel=3, chapters=chapters, smoke_selfcheck=True, bench=False, independent=True, mps=False, train_ahead=False)
    summary = job.run_job(args)

    assert list(summary["chapters"])[:1] == ["03"]  # priority order first
    assert summary["chapters"]["04"]["status"] == "failed"
    assert summary["chapters"]["04"]["error"] == "exit 1: error: chapter 04_x failed in cell 7: ValueError: bad"
    assert all(v["status"] == "ok" for k, v in summary["chapters"].items() if k != "04")
    assert summary["commit"].startswith("abc1234") and summary["selfcheck"]["passed"]
    files = sorted(p.name for p in out.iterdir())
    archives = [f for f in files if f.startswith("chapters-")]
    assert len(archives) <= 6 and len(files) <= 8
    assert sorted(summary["archives"]) == archives
    with tarfile.open(out / f"chapters-{'-'.join(summary['groups'][0])}.tar.gz") as tar:
        names = tar.getnames()
    assert "03_acgan.ipynb" in names and "results/03_acgan/metrics.json" in names
    assert "runs/smoke/acgan-fmnist/config.json" in names and not any(n.endswith(".pt") for n in names)
    # written at the start and after every event: a time-out still leaves the summary
    assert snapshots[0]["chapters"] == {} and len(snapshots) >= 2 * len(chapters)
    assert any(s["chapters"].get("06", {}).get("status") == "running" for s in snapshots)
    assert json.loads((out / "summary.json").read_text())["finished"] is True


def test_job_stops_at_once_without_a_manifest(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OUT", str(tmp_path))
    assert job.main(["--manifest", str(tmp_path / "none.json"), "--work", str(tmp_path / "work")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no manifest") and "\n" not in err


# ----------------------------------------------------------------------------- import
def head() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def executed_06():
    """Chapter 6's source rendered as if executed at full scale on a GPU at HEAD."""
    import nbformat

    from tools.book.notebooks import chapters, render

    commit = head()
    nb = render(chapters(["06"])[0], commit=commit)
    for i, c in enumerate(c for c in nb.cells if c.cell_type == "code"):
        c.execution_count = i + 1
    nb.metadata["acgan_book"] = {"chapter": "06_overfitting", "scale": "full", "commit": commit[:7],
                                 "commit_full": commit, "install_commit": commit, "wall_time_s": 80.0}
    return nbformat.writes(nb)


def make_return(tmp_path, nb_text, *, device="NVIDIA H100 80GB HBM3",
                precision="bf16 autocast (precision=auto on cuda)", commit=None, iters=18000, error=False,
                edit=False) -> Path:
    """A folder as the job returns it: summary.json + chapters-06.tar.gz."""
    import nbformat

    src = tmp_path / "pack"
    res = src / "results" / "06_overfitting"
    run = src / "runs" / "full" / "acgan-fmnist"
    (run / "eval").mkdir(parents=True)
    res.mkdir(parents=True)
    nb = nbformat.reads(nb_text, as_version=4)
    if error:
        code = [c for c in nb.cells if c.cell_type == "code"]
        code[-1].outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="bad", traceback=[])]
    if edit:  # code that is not today's source
        [c for c in nb.cells if c.cell_type == "code"][-1].source += "\nprint('edited')"
    nbformat.write(nb, src / "06_overfitting.ipynb")
    (res / "metrics.json").write_text(json.dumps({"chapter": "06_overfitting", "provenance": {
        "scale": "full", "params": {"iters": None, "n_probe": 5000}, "device": device, "precision": precision},
        "metrics": {}}))
    (run / "config.json").write_text(json.dumps({"preset": "acgan-fmnist", "iters": iters, "batch_size": 100}))
    (run / "run.json").write_text(json.dumps({"status": "complete", "step": iters}))
    (run / "eval" / "metrics-n5000-probe_n5000-seed0-0123456789.json").write_text("{}")
    back = tmp_path / "back"
    back.mkdir()
    with tarfile.open(back / "chapters-06.tar.gz", "w:gz") as tar:
        for f in sorted(p for p in src.rglob("*") if p.is_file()):
            tar.add(f, arcname=str(f.relative_to(src)))
    (back / "summary.json").write_text(json.dumps({
        "commit": commit or head(), "scale": "full", "parallel": 4, "fast_step": "auto",
        "selfcheck": {"passed": True}, "environment": {"gpu": "NVIDIA H100"},
        "chapters": {"06": {"status": "ok", "wall_s": 95.5}}}))
    return back


def target(tmp_path) -> Path:
    root = tmp_path / "root"
    (root / "book").mkdir(parents=True)
    (root / "book" / "stale.json").write_text((REPO / "book" / "stale.json").read_text())
    (root / "tools" / "device").mkdir(parents=True)
    (root / "tools" / "device" / "estimates.json").write_text(job.ESTIMATES.read_text())
    return root


def test_import_a_good_chapter(tmp_path, executed_06, capsys):
    root = target(tmp_path)
    assert importer.import_device(str(make_return(tmp_path, executed_06)), str(root)) == 0
    assert (root / "book" / "06_overfitting.ipynb").exists()
    assert json.loads((root / "book" / "results" / "06_overfitting" / "metrics.json").read_text())["provenance"][
        "scale"] == "full"
    assert "06_overfitting" not in json.loads((root / "book" / "stale.json").read_text())["chapters"]
    measured = json.loads((root / "tools" / "device" / "estimates.json").read_text())["measured"]["06"]
    assert measured["wall_s"] == 95.5 and measured["iterations"] == json.loads(job.ESTIMATES.read_text())["chapters"]["06"]["iterations"]
    assert "imported 06_overfitting" in capsys.readouterr().out


def test_import_several_calls_at_once(tmp_path, executed_06, capsys):
    """The calls of one lease are imported together: a bad one is set aside, the good one
    imported, the wall times of both calls recorded once the report is regenerated."""
    root = target(tmp_path)
    bad = make_return(tmp_path / "call1", executed_06, edit=True)
    good = make_return(tmp_path / "call2", executed_06)
    assert importer.import_device([str(bad), str(good)], str(root)) == 1
    assert (root / "book" / "06_overfitting.ipynb").exists()
    out = capsys.readouterr().out
    assert "rejected 06_overfitting" in out and "1 chapter(s) imported, 1 set aside" in out


@pytest.mark.parametrize("bad, reason", [
    (dict(device="CPU (AMD EPYC, 16 threads)", precision="fp32 (precision=auto on cpu)"), "not a CUDA device"),
    (dict(commit="0" * 40), "the job's manifest says"),
    (dict(error=True), "error output in cell"),
    (dict(iters=17000), "trained 17000 iterations, the chapter declares [18000]"),
    (dict(edit=True), "check: code cell"),
])
def test_import_sets_a_failing_chapter_aside(tmp_path, executed_06, capsys, bad, reason):
    root = target(tmp_path)
    assert importer.import_device(str(make_return(tmp_path, executed_06, **bad)), str(root)) == 1
    assert not (root / "book" / "06_overfitting.ipynb").exists()
    kept = root / importer.REJECTED / "06"
    assert reason in (kept / "reason.txt").read_text() and (kept / "06_overfitting.ipynb").exists()
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("rejected 06_overfitting")]
    assert len(line) == 1 and reason in line[0]


def test_import_allow_cpu(tmp_path, executed_06):
    root = target(tmp_path)
    back = make_return(tmp_path, executed_06, device="CPU (AMD EPYC, 1 threads)",
                       precision="fp32 (precision=auto on cpu)")
    assert importer.import_device(str(back), str(root), allow_cpu=True) == 0


def test_import_device_cli_errors_in_one_line(tmp_path, capsys):
    from tools.book.cli import main

    assert main(["import-device", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no summary.json in") and "\n" not in err


def test_mps_falls_back_when_it_cannot_start(tmp_path, monkeypatch):
    """--mps never costs the job: no control binary, or a daemon that fails, gives "off: why"
    and leaves no MPS variables behind."""
    monkeypatch.setattr(job.shutil, "which", lambda name: None)
    assert job.start_mps(tmp_path) == f"off: {job.MPS} not found"
    fake = tmp_path / "bin" / job.MPS
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'cannot start: no GPU' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(job.shutil, "which", lambda name: str(fake))
    monkeypatch.delenv("CUDA_MPS_PIPE_DIRECTORY", raising=False)
    got = job.start_mps(tmp_path)
    assert got == "off: the daemon did not start: cannot start: no GPU"
    assert "CUDA_MPS_PIPE_DIRECTORY" not in job.os.environ


def test_chapters_wait_for_the_runs_they_reuse_and_skip_absent_datasets(tmp_path, monkeypatch):
    """Chapter 2 reuses chapter 1's DCGANs (and 8 chapter 2's CGAN) from the same runs
    folder, so it starts only after 1 ends; chapters of a dataset the bundle lacks are skipped."""
    monkeypatch.setattr(job, "chapter_command", lambda stem, scale, w, m: py("pass"))
    monkeypatch.setattr(job, "classifier_command", lambda dataset, scale: py("pass"))
    table = json.loads(job.ESTIMATES.read_text())
    tasks = job.build_tasks(["01", "02", "08"], {"01": "01_a", "02": "02_b", "08": "08_c"}, "smoke", tmp_path,
                            tmp_path / "m.json", table, {}, {})
    by = {t.key: t for t in tasks}
    assert set(by["02"].needs) == {"shared:classifier-mnist", "01"} and "02" in by["08"].needs
    assert "01" not in [n for n in job.build_tasks(["02"], {"02": "02_b"}, "smoke", tmp_path, tmp_path / "m.json",
                                                   table, {}, {})[-1].needs]  # 1 imported before: 2 trains its own
    monkeypatch.setattr(job, "available_datasets", lambda: ["fashion-mnist"])
    monkeypatch.setattr(job, "imported_at", lambda stem, scale: False)
    monkeypatch.setattr(job, "bench", lambda work: {})
    summary = {"skipped": {}, "chapters": {}, "shared_runs": {}, "archives": [], "elapsed_s": 0}
    args = Namespace(chapters=["01", "06"], scale="smoke", budget_s=60, parallel=2, independent=True, bench=False)
    monkeypatch.setattr(job, "schedule", lambda *a, **k: None)
    monkeypatch.setattr(job, "groups", lambda numbers: [])
    job._after_setup(args, summary, lambda: None, tmp_path, tmp_path / "w", tmp_path / "m.json", {}, {},
                     time.monotonic() + 60)
    assert summary["skipped"]["01"].startswith("needs mnist, which the bundle does not hold")
    assert "06" not in summary["skipped"]


def test_preplan_keeps_what_fits_with_its_shared_runs_and_drops_unused_shared_runs():
    """On a GPU the processes share, a chapter is planned with the shared runs it needs; a
    shared run no planned chapter needs is not started (it would spend the lease on nothing)."""
    s1, s2 = Task("shared:s1", py("pass"), 60.0), Task("shared:s2", py("pass"), 60.0)
    a = Task("A", py("pass"), 100.0, needs=("shared:s1",))
    b = Task("B", py("pass"), 300.0, needs=("shared:s1", "shared:s2"))
    c = Task("C", py("pass"), 50.0, needs=("A",))
    kept, why = job.preplan([s1, s2, a, b, c], 220.0)
    assert [t.key for t in kept] == ["shared:s1", "A", "C"]
    assert why["B"].startswith("estimated 300 s + 60 s of shared runs, 60 s left")
    assert why["shared:s2"] == "no chapter that needs it fits the budget"
    kept, _ = job.preplan([s1, s2, a, b, c], 400.0)
    assert [t.key for t in kept] == ["shared:s1", "A", "C"]  # 160 + 360 s one after the other: no
    kept, _ = job.preplan([s1, s2, a, b, c], 400.0, speedup=3.0)  # B fits when processes overlap 3x
    assert [t.key for t in kept] == ["shared:s1", "shared:s2", "A", "B", "C"]
    only_c, _ = job.preplan([Task("A", py("pass"), 500.0), Task("C", py("pass"), 50.0, needs=("A",))], 100.0)
    assert [t.key for t in only_c] == ["C"] and only_c[0].needs == ()  # not waiting for a task never started
    assert job.gpu_speedup({"parallel": {"speedup_vs_one": 2.6}}, 4) == 2.6
    assert job.gpu_speedup({"parallel": {"speedup_vs_one": 0.92}}, 4) == 1.0 and job.gpu_speedup(None, 4) == 1.0


def test_estimate_trusts_a_measured_wall_time_only_for_the_length_it_was_measured_at():
    """A chapter's measured wall time is its estimate while the chapter trains what it trained
    then; one that trains more now (or less) is estimated afresh from its iterations."""
    table = {"assumed_steps_per_s": 100, "overhead_s": 60,
             "chapters": {"05": {"iterations": 120000}, "04": {"iterations": 1000}},
             "measured": {"05": {"wall_s": 188.0, "iterations": 40000}, "04": {"wall_s": 50.0},
                          "06": {"wall_s": 30.0, "iterations": 0}}}
    assert job.estimate_s("05", table, {}, "full") == pytest.approx(120000 / 100 + 60)
    assert job.estimate_s("05", table, {"steps_per_s": 300}, "full") == pytest.approx(120000 / 300 + 60)
    assert job.estimate_s("04", table, {}, "full") == 50.0  # recorded before lengths were: taken as is
    assert job.estimate_s("06", table, {}, "full") == 30.0  # no estimate entry: the measurement
    table["chapters"]["05"]["iterations"] = 40000
    assert job.estimate_s("05", table, {}, "full") == 188.0
    assert job.estimate_s("09", table, {}, "full") == float("inf") and job.estimate_s("05", table, {}, "cpu") == 0.0


def test_a_chapter_edited_since_its_full_execution_runs_again(monkeypatch):
    """Chapter 6 is committed at full scale and matches its source: the job skips it. Once
    its code differs from the executed notebook's (an edit waiting for its next execution),
    the job runs it again, stale list or not."""
    from tools.book import notebooks

    assert job.imported_at("06_overfitting", "full")
    assert not job.imported_at("06_overfitting", "smoke") and not job.imported_at("06_overfitting", "cpu")
    monkeypatch.setattr(notebooks, "stale_cells", lambda chapter, path, kind="code": ["code cell 3 differs"])
    assert not job.imported_at("06_overfitting", "full")


def test_plan_here_says_what_a_lease_would_start(tmp_path, monkeypatch, capsys):
    """``python -m tools.device plan``: the job's own choice and plan, without a GPU, for an
    assumed speed-up; bad input is one line and exit status 2."""
    from tools.device.__main__ import main

    table = {"assumed_steps_per_s": 100, "overhead_s": 0, "shared": {"acgan-fmnist": {"iterations": 10000},
             "acgan-fmnist-seed1": {"iterations": 10000}, "acgan-fmnist-seed2": {"iterations": 10000}},
             "chapters": {"04": {"iterations": 30000}}}
    (tmp_path / "estimates.json").write_text(json.dumps(table))
    monkeypatch.setattr(job, "ESTIMATES", tmp_path / "estimates.json")
    monkeypatch.setattr(job, "imported_at", lambda stem, scale: False)
    lines = job.dry_plan(700, wanted=["04"])  # 300 s + three 100 s shared runs, one after the other
    assert "  run  04 (estimate 300 s)" in lines and "  run  shared:acgan-fmnist-seed2 (estimate 100 s)" in lines
    lines = job.dry_plan(500, wanted=["04"])
    assert any(x.startswith("  left 04: estimated 300 s + 300 s of shared runs") for x in lines)
    assert "  run  04 (estimate 300 s)" in job.dry_plan(500, speedup=2.0, wanted=["04"])
    ahead = job.dry_plan(500, wanted=["04"], train_ahead=True)
    assert "  ahead shared:acgan-fmnist (estimate 100 s)" in ahead and not any("run  04" in x for x in ahead)
    assert main(["plan", "--chapters", "04", "--budget-s", "500", "--steps-per-s", "200"]) == 0
    assert "  run  04 (estimate 150 s)" in capsys.readouterr().out.splitlines()
    assert main(["plan", "--speedup", "0.5"]) == 2
    assert capsys.readouterr().err.strip() == "error: --budget-s and --steps-per-s must be positive, --speedup at least 1"


def test_a_leases_calls_add_up_runs_kept_at_the_same_commit(tmp_path):
    """The next call of a lease keeps the runs folder when it runs the same commit (finished
    runs are reused, stopped ones resumed: their estimate is the training they have left);
    everything else, and every run of another commit, is emptied."""
    work = tmp_path / "work"
    assert job.keep_runs(work, "c1 None") == []
    done, half = work / "runs" / "full" / "acgan-fmnist", work / "runs" / "full" / "acgan-fmnist-seed1"
    done.mkdir(parents=True), half.mkdir(parents=True)
    (done / "final.pt").write_bytes(b"x")
    (half / "run.json").write_text(json.dumps({"status": "running", "step": 4500, "iters": 18000}))
    (work / "results").mkdir()
    (work / "05_evaluation.ipynb").write_text("{}")
    assert job.keep_runs(work, "c1 None") == ["full/acgan-fmnist", "full/acgan-fmnist-seed1"]
    assert sorted(p.name for p in work.iterdir()) == ["runs"]
    assert job.left_to_train(done) == 0.0 and job.left_to_train(half) == 0.75
    assert job.left_to_train(work / "runs" / "full" / "none") == 1.0
    table = {"assumed_steps_per_s": 100, "overhead_s": 0, "chapters": {"07": {"iterations": 0}},
             "shared": {"acgan-fmnist": {"iterations": 18000}, "acgan-fmnist-seed1": {"iterations": 18000},
                        "acgan-fmnist-seed2": {"iterations": 18000}}}
    tasks = {t.key: t.estimate_s for t in job.build_tasks(["07"], {"07": "07_class_splitting"}, "full", work,
                                                          tmp_path / "m.json", table, {}, {})}
    assert "shared:acgan-fmnist" not in tasks  # finished: not started again
    assert tasks["shared:acgan-fmnist-seed1"] == pytest.approx(135.0)
    assert tasks["shared:acgan-fmnist-seed2"] == pytest.approx(180.0)
    assert job.keep_runs(work, "c2 None") == [] and not done.exists()  # another commit: nothing kept


def test_train_ahead_uses_the_time_left_for_the_chapters_that_did_not_fit(tmp_path):
    """With train_ahead, the shared runs of a chapter left out are kept, after everything
    planned, started whatever their estimate and stopped at the deadline as partial."""
    s1, s2 = Task("shared:s1", py("pass"), 60.0), Task("shared:s2", py("pass"), 500.0)
    a = Task("A", py("pass"), 100.0, needs=("shared:s1",))
    b = Task("B", py("pass"), 50.0, needs=("shared:s1", "shared:s2"))
    kept, why = job.preplan([s1, s2, a, b], 300.0, train_ahead=True)
    assert [t.key for t in kept] == ["shared:s1", "A", "shared:s2"] and "B" in why and "shared:s2" not in why
    assert kept[2].ahead and set(kept[2].needs) == {"shared:s1", "A"}
    kept, why = job.preplan([Task("shared:s1", py("pass"), 60.0), Task("shared:s2", py("pass"), 500.0),
                             Task("A", py("pass"), 100.0, needs=("shared:s1",)),
                             Task("B", py("pass"), 50.0, needs=("shared:s1", "shared:s2"))], 300.0)
    assert [t.key for t in kept] == ["shared:s1", "A"] and why["shared:s2"].startswith("no chapter")
    tasks = [Task("A", py("pass"), 0.0), Task("ahead", py("import time; time.sleep(60)"), 500.0, needs=("A",),
                                              ahead=True)]
    schedule(tasks, parallel=2, deadline=time.monotonic() + 1.5, poll_s=0.02, shared_gpu=True)
    assert [t.status for t in tasks] == ["ok", "partial"] and "next call resumes it" in tasks[1].reason
