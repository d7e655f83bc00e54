"""The reproduction report: one row per claim of :mod:`acgan_lib.book.claims`, with our
value read from ``book/results/<chapter>/metrics.json`` (never typed by hand), the scale it
was measured at, and the verdict computed by the claim's rule.

Verdicts: ``reproduced`` / ``not reproduced`` (the rule on our value), ``not comparable``
(reported without a verdict), ``smoke run (no verdict)`` (the chapter ran at smoke scale:
the numbers only prove the code runs), ``not run`` (no value; ``not run (needs CIFAR-10)``
when the measurement needs a dataset this machine lacks).
"""
from __future__ import annotations

import html
import json
import re
import textwrap
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
    """One sentence per claim that did not reproduce (also when its chapter is stale), with the
    known reasons."""
    out = []
    for r in rows:
        if r["verdict"].startswith("not reproduced"):
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


# ----------------------------------------------------------------------------- HTML (chapter 10)
SOURCES = {"000": "Da Costa, Descarpentries and Fleury: summary and implementation",
           "001": "the paper: Odena, Olah and Shlens",
           "002": "Wong Zhao Wu: AC-BigGAN", "003": "Narman and Dau: GAN coursework",
           "004": "Tay: AC-GAN on CIFAR-10"}
_STYLE = ("<style>.acgan-report{max-width:100%;overflow-wrap:anywhere}"
          ".acgan-claims{width:100%;table-layout:fixed;border-collapse:collapse;font-size:0.9em}"
          ".acgan-claims th,.acgan-claims td{vertical-align:top;text-align:left;white-space:normal;"
          "overflow-wrap:anywhere;padding:0.25em 0.4em;border-bottom:1px solid #ddd}</style>")


def _slug(text: str) -> str:
    """The id Sphinx gives a section titled ``text`` (MyST markup stripped)."""
    from docutils.nodes import make_id
    return make_id(re.sub(r"[`*]|\]\([^)]*\)|\[", "", text))


def chapter_link(metric: str, book_dir: Path | None = None) -> str:
    """The page (and section anchor) of the chapter that measures ``metric``
    (``"<chapter>:<path>"``): the last heading above the chapter's ``save_result`` call whose key
    (``{...}`` placeholders match any one key) is the longest prefix of the path."""
    chapter, path = metric.split(":", 1)
    book_dir = book_dir or Path(__file__).resolve().parents[2] / "book"
    stem = chapter.split("-")[0]
    page = chapter if (book_dir / f"{chapter}.ipynb").exists() else stem
    src = book_dir / "src" / f"{stem}.md"
    best, anchor, heading, fenced = -1, "", "", False
    for line in (src.read_text().splitlines() if src.exists() else []):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{2,4} ", line):
            heading = _slug(line.lstrip("#").strip())
        for key in re.findall(r'save_result\(CH, f?"([^"]+)"', line) if fenced else []:
            pat = "[^.]+".join(re.escape(part) for part in re.split(r"\{[^}]*\}", key))
            if re.match(pat + r"(\.|$)", path) and len(key) > best:
                best, anchor = len(key), heading
    return f"{page}.html" + (f"#{anchor}" if anchor else "")


def _by_source(rows: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: r["source"][:3]):
        groups.setdefault(r["source"][:3], []).append(r)
    return groups


def _heading(code: str, n: int, what: str) -> str:
    return (f'<p style="margin:1.2em 0 0.3em"><strong>{code}: {html.escape(SOURCES.get(code, ""))}</strong> '
            f'(<a href="references.html#ref-{code}">reference</a>): {n} {what}</p>')


def to_html(rows: list[dict]) -> str:
    """The claims as one narrow, wrapping HTML table per source (000 ... 004); each claim's id
    links to the chapter section that measures it."""
    e = html.escape
    cols = "".join(f'<col style="width:{w}%">' for w in (7, 43, 20, 12, 18))
    head = "".join(f"<th>{h}</th>" for h in ("id", "claim", "source value", "ours", "verdict"))
    out = [_STYLE, '<div class="acgan-report">']
    for code, group in _by_source(rows).items():
        out.append(_heading(code, len(group), "claims"))
        out.append(f'<table class="acgan-claims"><colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead><tbody>')
        for r in group:
            detail = f"{r['source']}. Measured: {r['protocol and scale']}. Rule: {r['rule']}."
            out.append(f'<tr><td><a href="{chapter_link(r["metric"])}">{e(r["id"])}</a></td>'
                       f"<td>{e(r['claim'])}<br><small>{e(detail)}</small></td><td>{e(r['source value'])}</td>"
                       f"<td>{e(r['our value'])}</td><td>{e(r['verdict'])}</td></tr>")
        out.append("</tbody></table>")
    return "\n".join(out + ["</div>"])


def not_reproduced_html(rows: list[dict]) -> str:
    """:func:`not_reproduced` as bulleted lists grouped by source, wrapped to the page."""
    failed = [r for r in rows if r["verdict"].startswith("not reproduced")]
    if not failed:
        return ("<p>No claim failed its rule in this execution (claims not run or not comparable "
                "are listed in the table above).</p>")
    out = [_STYLE, '<div class="acgan-report">']
    for code, group in _by_source(failed).items():
        out.append(_heading(code, len(group), "claims not reproduced"))
        out.append("<ul>")
        for r, text in zip(group, not_reproduced(group)):
            out.append(f'<li><a href="{chapter_link(r["metric"])}">{html.escape(r["id"])}</a>'
                       f"{html.escape(textwrap.fill(text[len(r['id']):], 100))}</li>")
        out.append("</ul>")
    return "\n".join(out + ["</div>"])


def view(html_text: str, plain: str):
    """For display in a chapter: ``html_text`` in the book and Jupyter, ``plain`` elsewhere."""
    from .core import _Rich
    return _Rich(html_text, plain)
