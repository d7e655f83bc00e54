"""Writes summary.json beside it from the probe's evaluation files (<variant>-eval-<iterations>.json
and <variant>/run.json): accuracy of 1,000 EMA samples by the pinned ResNet-20 with its
95 % Wilson interval (the library's, as for the classifier's own test accuracy), classifier score, against chance and chapter 9's quality floor.
Usage: python book/results/reduced_scale_runs/ch09-cifar10-budget-probe/extend/summarize.py"""
import json
import re
from pathlib import Path

from acgan_lib.metrics.classifiers import wilson_interval

HERE = Path(__file__).resolve().parent
FLOOR = 0.5  # acgan_lib.book.comparison.QUALITY_FLOOR


def row(path: Path) -> dict:
    ev = json.loads(path.read_text())
    p, n = ev["accuracy"], ev["meta/n"]
    lo, hi = wilson_interval(round(p * n), n)
    return {"iterations": ev["meta/step"], "accuracy": round(p, 4),
            "accuracy_ci95_wilson": [round(lo, 4), round(hi, 4)],
            "classifier_score_mean": round(ev["classifier_score_mean"], 3), "n_samples": n,
            "commit": ev["meta/commit"], "device": ev["meta/device"]}


variants = {}
for f in sorted(HERE.glob("*-eval-*.json"), key=lambda f: (f.name.split("-eval-")[0],
                                                            int(re.findall(r"\d+", f.name)[-1]))):
    v = f.name.split("-eval-")[0]
    run = json.loads((HERE / v / "run.json").read_text()) if (HERE / v / "run.json").exists() else {}
    variants.setdefault(v, {"precision": run.get("precision"), "schedule_iters": run.get("schedule_iters"),
                            "rows": []})["rows"].append(row(f))
out = {"what": "chapter 9 on CIFAR-10 past its 4,000-iteration budget: the ac and acreal runs resumed "
               "(bit-exact) to 8,000, 12,000 and 16,000 iterations at the cpu width, scored after each stage",
       "command": "bash extend.sh DIR PREFIX per variant (see its header), then python summarize.py",
       "chance_accuracy": 0.1, "quality_floor": FLOOR,
       "classifier": "pinned ResNet-20 (acgan_lib/metrics/weights), EMA generator",
       "reaches_floor": {v: any(r["accuracy"] >= FLOOR for r in d["rows"]) for v, d in variants.items()},
       "variants": variants}
(HERE / "summary.json").write_text(json.dumps(out, indent=1) + "\n")
print(json.dumps(out["reaches_floor"]), "->", HERE / "summary.json")
