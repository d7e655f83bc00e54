"""The reproduction report: one row per claim of :mod:`acgan_lib.book.claims`, with our
value read from ``book/results/<chapter>/metrics.json`` (never typed by hand), the scale it
was measured at, and the verdict computed by the claim's rule.

Verdicts: ``reproduced`` / ``not reproduced`` (the rule on our value), ``not comparable``
(reported without a verdict), ``smoke run (no verdict)`` (the chapter ran at smoke scale:
the numbers only prove the code runs), ``not run`` (no value; ``not run (needs CIFAR-10)``
when the measurement needs a dataset this machine lacks).
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..utils import UserError
from .claims import CLAIMS, Claim
from .core import have_dataset, load_results, stale_chapters

MISSING = object()


def resolve(metrics: dict, path: str):
    """Look ``path`` up in a chapter's metrics: the longest key that is a prefix of the path
    (keys may contain dots), then nested keys of its value."""
    if path in metrics:
        return metrics[path]
    for i in [i for i, ch in enumerate(path) if ch == "."][::-1]:
        head, rest = path[:i], path[i + 1:]
        if head in metrics and isinstance(metrics[head], dict):
            return resolve(metrics[head], rest)
    return MISSING


def _fmt(v) -> str:
    if v is MISSING or v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def evaluate_claim(claim: Claim, results: dict, stale: dict | None = None) -> dict:
    """One row of the report. A claim measured by a chapter on the stale list keeps the
    verdict of its (older) outputs, marked "(stale)"."""
    chapter, path = claim.metric.split(":", 1)
    data = results.get(chapter, {})
    prov = data.get("provenance", {})
    ours = resolve(data.get("metrics", {}), path)
    scale = prov.get("scale") if ours is not MISSING else None
    if ours is MISSING or ours is None:
        verdict = "not run"
        if claim.needs and not have_dataset(claim.needs):
            verdict = f"not run (needs {'CIFAR-10' if claim.needs == 'cifar10' else claim.needs})"
    elif scale == "smoke":
        verdict = "smoke run (no verdict)"
    else:
        verdict = claim.rule.verdict(ours)
    is_stale = ours is not MISSING and chapter in (stale or {})
    if is_stale:
        verdict += " (stale)"
    protocol = claim.protocol + (f"; scale {scale}" if scale else "")
    return {"id": claim.id, "source": claim.source, "claim": claim.claim, "source value": claim.source_value,
            "our value": _fmt(ours), "protocol and scale": protocol, "rule": claim.rule.describe(),
            "verdict": verdict, "metric": claim.metric, "scale": scale, "why": claim.why,
            "commit": prov.get("commit") if scale else None, "stale": is_stale}


def build(results: dict | None = None) -> list[dict]:
    """Rows of the report (dicts), in the order of :data:`CLAIMS`."""
    results = load_results() if results is None else results
    stale = stale_chapters()
    return [evaluate_claim(c, results, stale) for c in CLAIMS]


def summary(rows: list[dict]) -> dict:
    out: dict[str, int] = {}
    for r in rows:
        key = r["verdict"].split(" (")[0] if r["verdict"].startswith("not run") else r["verdict"]
        key = "stale (chapter changed, not re-executed)" if r.get("stale") else key
        out[key] = out.get(key, 0) + 1
    return out


def not_reproduced(rows: list[dict]) -> list[str]:
    """One sentence per claim that did not reproduce, with the known reasons."""
    out = []
    for r in rows:
        if r["verdict"] == "not reproduced":
            out.append(f"{r['id']} ({r['source']}): {r['claim']}. Source: {r['source value']}; ours: {r['our value']} "
                       f"({r['scale']} scale; rule: {r['rule']})." + (f" Known differences: {r['why']}." if r["why"] else ""))
    return out


COLUMNS = ["id", "source", "claim", "source value", "our value", "protocol and scale", "verdict"]


def to_text(rows: list[dict]) -> str:
    """One line per claim (id, verdict, our value, source, claim) and a count of verdicts."""
    lines = [f"{r['id']:<4} {r['verdict']:<24} ours {r['our value']:<10} | {r['source']}: {r['claim'][:90]}"
             for r in rows]
    counts = ", ".join(f"{k}: {v}" for k, v in summary(rows).items())
    return "\n".join(lines + [f"-- {len(rows)} claims ({counts})"])


def to_markdown(rows: list[dict], columns=COLUMNS) -> str:
    def cell(v):
        return str(v).replace("|", "\\|").replace("\n", " ")
    out = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    out += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(out)


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else COLUMNS)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def main_report(fmt: str = "text", out: str | None = None, results_dir: str | None = None) -> int:
    """``python -m acgan_lib.book report``."""
    import os

    if results_dir:
        if not Path(results_dir).is_dir():
            raise UserError(f"results folder not found: {results_dir}")
        os.environ["ACGAN_BOOK_RESULTS"] = str(Path(results_dir).resolve())
    rows = build()
    text = {"text": to_text, "markdown": to_markdown, "csv": to_csv,
            "json": lambda r: json.dumps(r, indent=2)}[fmt](rows)
    if out:
        Path(out).write_text(text + ("\n" if not text.endswith("\n") else ""))
        print(f"wrote {out} ({len(rows)} claims)")
    else:
        print(text)
    return 0
