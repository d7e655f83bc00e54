"""Writes summary.json beside it from the probe's files (<variant>-eval.json and
<variant>/run.json): the pinned ResNet-20's accuracy on 2,000 samples of each run of chapter 3's
CIFAR-10 main model with its 95 % Wilson interval (the library's), the classifier score, the
precision and the training time; and, for reference, the two chapter executions it started
from, read from git (fp32 at e94ba79 on an AVX2 CPU; bf16 at 59250dc on this one).
Usage: python book/results/reduced_scale_runs/ch03-cifar10-precision-probe/summarize.py"""
import json
import subprocess
from pathlib import Path

from acgan_lib.metrics.classifiers import wilson_interval

HERE = Path(__file__).resolve().parent
CHAPTER = "book/results/03_acgan-cifar10/metrics.json"
EXECUTIONS = {"fp32 (e94ba79)": "0c50232", "bf16 (59250dc)": "652f0ea"}  # a commit holding each


def with_interval(p: float, n: int) -> dict:
    lo, hi = wilson_interval(round(p * n), n)
    return {"accuracy": round(p, 4), "accuracy_ci95_wilson": [round(lo, 4), round(hi, 4)], "n_samples": n}


def probe_run(f: Path) -> dict:
    ev = json.loads(f.read_text())
    name = f.name.removesuffix("-eval.json")
    run = json.loads((HERE / name / "run.json").read_text())
    cfg = json.loads((HERE / name / "config.json").read_text())
    return {"variant": name, "precision": run["precision"], "seed": cfg["seed"], "iterations": run["step"],
            **with_interval(ev["accuracy"], ev["meta/n"]),
            "classifier_score_mean": round(ev["classifier_score_mean"], 3),
            "train_wall_time_s": run.get("wall_time_s"), "device": run.get("device"),
            "commit": run.get("commit"), "eval_commit": ev.get("meta/commit")}


def chapter_execution(label: str, rev: str) -> dict:
    m = json.loads(subprocess.check_output(["git", "show", f"{rev}:{CHAPTER}"], cwd=HERE))
    p, main = m["provenance"], m["metrics"]["cifar10.main"]
    return {"execution": label, "commit": p["commit"], "precision": p["precision"], "device": p["device"],
            **with_interval(main["accuracy"], p["params"]["n_eval"]),
            "classifier_score_mean": round(main["classifier_score_mean"], 3),
            "scored_by": "the chapter's book.evaluate"}


runs = [probe_run(f) for f in sorted(HERE.glob("*-eval.json"))]
out = {"what": "chapter 3's CIFAR-10 main model (acgan-cifar10, cpu scale: 3,000 iterations, batch 64) "
               "trained in fp32 and in bf16 autocast with several seeds, each scored alike",
       "command": "bash probe.sh VARIANT OUTDIR [RUN0] per variant (see its header), then python summarize.py",
       "classifier": "pinned ResNet-20 (acgan_lib/metrics/weights), 2,000 samples, sampling seed 0",
       "chance_accuracy": 0.1, "runs": runs,
       "chapter_executions": [chapter_execution(k, v) for k, v in EXECUTIONS.items()]}
by = {}
for r in runs:
    by.setdefault(r["precision"], []).append(r["accuracy"])
out["mean_accuracy_by_precision"] = {k: round(sum(v) / len(v), 4) for k, v in by.items()}
out["runs_by_precision"] = {k: len(v) for k, v in by.items()}
(HERE / "summary.json").write_text(json.dumps(out, indent=1) + "\n")
print(json.dumps(out["mean_accuracy_by_precision"]), out["runs_by_precision"], "->", HERE / "summary.json")
