"""The reproduction report: one row per claim of :mod:`acgan_lib.book.claims`, with our
value read from ``book/results/<chapter>/metrics.json`` (never typed by hand), the scale it
was measured at, and the verdict computed by the claim's rule.

Verdicts: ``reproduced`` / ``not reproduced`` (the rule on our value; an ordering is
reproduced only with >= 3 seeds and a 95 % interval that excludes 0, the ``note`` says
why not), ``not comparable at this scale`` (an absolute value measured with less training
than the source's, that misses the source's value), ``smoke run (no verdict)`` (the chapter ran at smoke scale:
the numbers only prove the code runs), ``not run`` (no value; ``not run (needs CIFAR-10)``
when the measurement needs a dataset this machine lacks).
"""
from __future__ import annotations

import html
import json
import math
import re
import textwrap
from pathlib import Path

from ..utils import UserError
from .claims import CLAIMS, Claim, by_id
from .core import have_dataset, load_results, stale_chapters

MISSING = object()
SCALE_ORDER = ("smoke", "cpu", "full")
# a source of values besides the chapters: the pinned evaluation classifiers' records
# (acgan_lib/metrics/weights/pinned.json, written by `classifier --pin`, each trained with its
# source's recipe), e.g. "classifiers:cifar10.test_accuracy_exact"; the report links them to
# chapter 5's section on the evaluation classifier
CLASSIFIERS = "classifiers"
CLASSIFIERS_PAGE = "05_evaluation.html#the-evaluation-classifier"


def classifier_results() -> dict:
    """The pinned classifiers' records in the shape of a chapter's results (scale ``full``)."""
    from ..metrics.classifiers import pinned
    return {"metrics": pinned(), "provenance": {"scale": "full", "commit": None,
                                                "source": "acgan_lib/metrics/weights/pinned.json"}}


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


def lookup(results: dict, ref: str):
    """The value of ``"<chapter>:<path>"`` (or of the quotient ``"A / B"`` of two such keys)
    in ``results`` (``{chapter: metrics.json content}``); :data:`MISSING` when absent.
    ``"A | B"``: A, else B when A is absent (a key renamed since the chapter last ran)."""
    if " / " in ref:
        a, b = (lookup(results, part.strip()) for part in ref.split(" / ", 1))
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)) or b == 0:
            return MISSING
        return a / b
    if " | " in ref:
        for alt in ref.split(" | "):
            v = lookup(results, alt.strip())
            if v is not MISSING:
                return v
        return MISSING
    chapter, path = ref.split(":", 1)
    return resolve(results.get(chapter, {}).get("metrics", {}), path)


def measure(results: dict, metric: str, relative_to: str = "", compare: str = "ratio"):
    """``(value, text)``: the metric, divided by ``relative_to`` when given (``compare:
    log_ratio`` divides the logarithms), and how it was obtained, for the report."""
    v = lookup(results, metric)
    if not relative_to or v is MISSING or v is None:
        return v, _fmt(v)
    r = lookup(results, relative_to)
    num = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool)
    if not (num(v) and num(r)):
        return MISSING, f"{_fmt(v)} (reference {_fmt(r)})"
    if compare == "log_ratio":
        if v <= 0 or r <= 0 or r == 1:
            return MISSING, f"{_fmt(v)} (reference {_fmt(r)})"
        out = math.log(v) / math.log(r)
        return out, f"log {_fmt(v)} / log {_fmt(r)} (real) = {_fmt(out)}"
    if r == 0:
        return MISSING, f"{_fmt(v)} (reference 0)"
    return v / r, f"{_fmt(v)} / {_fmt(r)} (real) = {_fmt(v / r)}"


def _first(ref: str) -> tuple[str, str]:
    return tuple(ref.split(" / ")[0].split(" | ")[0].strip().split(":", 1))


def below_budget(claim: Claim, prov: dict) -> tuple[bool, str]:
    """Whether the run measuring ``claim`` had less than the source's training budget
    (``claim.budget``: ``{param: source value}``, compared with the chapter's recorded params;
    a param the chapter did not record counts as below unless the scale is ``full``)."""
    params, notes, below = prov.get("params", {}) or {}, [], False
    for name, theirs in claim.budget.items():
        ours = params.get(name)
        if isinstance(ours, (int, float)):
            below |= ours < theirs
            notes.append(f"{name} {ours:g} vs the source's {theirs:g}")
        else:
            below |= prov.get("scale") != "full"
            notes.append(f"source {name} {theirs:g}; ours not recorded ({prov.get('scale')} scale)")
    return below, "; ".join(notes)


def seeds_and_interval(claim: Claim, results: dict) -> tuple[int, list | None]:
    """Number of seeds and 95 % interval recorded for the claim's metric (``<path>.seeds`` and
    ``<path>.ci95`` beside it, or the paths the claim names; a mean over seeds saved as
    ``{..., "accuracy": m, "seeds": n}`` gives its ``seeds`` to every key beside it; a list of
    seeds counts its entries); 1 and ``None`` when absent."""
    chapter, path = _first(claim.metric)
    seeds = lookup(results, claim.seeds or f"{chapter}:{path}.seeds")
    if seeds is MISSING and not claim.seeds and "." in path:
        seeds = lookup(results, f"{chapter}:{path.rsplit('.', 1)[0]}.seeds")
    ci = lookup(results, claim.ci95 or f"{chapter}:{path}.ci95")
    if isinstance(seeds, (list, tuple)):
        seeds = len(seeds)
    seeds = int(seeds) if isinstance(seeds, (int, float)) and not isinstance(seeds, bool) else 1
    ci = list(ci) if isinstance(ci, (list, tuple)) and len(ci) == 2 else None
    return seeds, ci


def ordering_supported(seeds: int, ci: list | None) -> str:
    """Empty when an ordering holding in our runs may be called reproduced (>= 3 seeds and a
    95 % interval of the difference that excludes 0); else the reason it may not."""
    if seeds < 3:
        return f"holds, but in {seeds} seed{'s' if seeds != 1 else ''} (needs >= 3 and a 95 % interval)"
    if ci is None:
        return f"holds in {seeds} seeds, but no 95 % interval was recorded"
    if ci[0] <= 0 <= ci[1]:
        return f"holds on average over {seeds} seeds, but the 95 % interval [{ci[0]:.3g}, {ci[1]:.3g}] contains 0"
    return ""


def decide(claim: Claim, results: dict) -> dict:
    """The verdict of ``claim`` on ``results`` (no stale or smoke handling): one of
    :data:`~acgan_lib.book.claims.VERDICTS`, with a note saying why."""
    chapter, _ = _first(claim.metric)
    prov = results.get(chapter, {}).get("provenance", {})
    ours, shown = measure(results, claim.metric, claim.relative_to, claim.compare)
    parts = [("", ours, shown, claim.rule, claim.metric if not claim.relative_to else claim.relative_to)]
    for c in claim.also:
        v, txt = measure(results, c.metric, c.relative_to, c.compare)
        parts.append((c.label or c.metric.split(":", 1)[1], v, txt, c.rule, c.relative_to or c.metric))
    seeds, ci = seeds_and_interval(claim, results)
    out = {"ours": ours, "our value": shown + "".join(f"; {lab}: {txt}" for lab, _, txt, _, _ in parts[1:]),
           "seeds": seeds, "ci95": ci, "note": ""}
    if ours is MISSING:
        return {**out, "verdict": "not run"}
    if ours is None:  # saved as null: the chapter measured it and declined to judge it
        return {**out, "verdict": "not run",
                "note": "the chapter saved no value (null): it judges nothing in this execution, e.g. below "
                        "its quality floor or with one seed (its text says why)"}
    scale = prov.get("scale")
    if claim.min_scale and scale in SCALE_ORDER and SCALE_ORDER.index(scale) < SCALE_ORDER.index(claim.min_scale):
        return {**out, "verdict": "not run",
                "note": f"measured at {scale} scale only; this claim needs {claim.min_scale} scale (the AC-GAN at "
                        f"the source's length: a GPU), so the value is shown without a verdict"}
    if claim.min_scale and claim.budget:  # e.g. a `full` execution given a lease's smaller budget
        below, budget_note = below_budget(claim, prov)
        if below:
            return {**out, "verdict": "not run",
                    "note": f"trained with less than the source's budget ({budget_note}), which this claim "
                            "needs, so the value is shown without a verdict"}
    held = [(lab, r.holds(v) if v is not MISSING and v is not None else None, r, ref)
            for lab, v, _, r, ref in parts]
    failed = [f"{lab or 'value'} fails {r.describe()}" for lab, ok, r, _ in held if ok is False]
    missing = [ref for _, ok, _, ref in held if ok is None]
    below, budget_note = below_budget(claim, prov) if claim.kind == "absolute" and claim.budget else (False, "")
    if claim.kind == "absolute" and below and (failed or missing):
        return {**out, "verdict": "not comparable at this scale",
                "note": f"less training than the source ({budget_note})"}
    if failed:
        return {**out, "verdict": "not reproduced", "note": "; ".join(failed)}
    if missing:
        return {**out, "verdict": "not run", "note": "no value yet for " + ", ".join(missing)}
    if claim.kind == "ordering":
        reason = ordering_supported(seeds, ci)
        if reason:
            return {**out, "verdict": "not reproduced", "note": reason}
    note = f"reached with less training than the source ({budget_note})" if below else ""
    return {**out, "verdict": "reproduced", "note": note}


def choose(claim: Claim, results: dict) -> tuple[Claim, str]:
    """The measurement of ``claim`` the report judges (:meth:`Claim.alternatives`: the claim
    as written, then its fallback): the first that gets a verdict other than "not run", else
    the first with a value, else the claim as written; and a note when it is the fallback."""
    alts = claim.alternatives()
    decided = [(c, decide(c, results)) for c in alts]
    pick = next((c for c, d in decided if d["verdict"] != "not run"), None) or \
        next((c for c, d in decided if d["ours"] is not MISSING and d["ours"] is not None), alts[0])
    if pick is alts[0]:
        return pick, ""
    first = _first(alts[0].metric)[0]
    why = "has no value" if decided[0][1]["ours"] in (MISSING, None) else "gives no verdict"
    return pick, f"read from {_first(pick.metric)[0]}, the fallback: {first} {why}"


def chapter_verdict(claim_id: str, chapter: str) -> dict:
    """:func:`decide` of one claim on what ``chapter`` has saved so far: the report's own
    rule, for the sentences a chapter generates about a claim it measures (the chapter never
    restates the rule). At smoke scale the verdict is "smoke run (no verdict)", as in the
    report, and the note says what the rule would give."""
    results = {chapter: load_results(chapter)}
    d = decide(choose(by_id()[claim_id], results)[0], results)
    if results[chapter].get("provenance", {}).get("scale") == "smoke":
        would = d["verdict"] + (f": {d['note']}" if d["note"] else "")
        d = {**d, "verdict": "smoke run (no verdict)", "note": f"the rule would give {would}"}
    return d


def evaluate_claim(claim: Claim, results: dict, stale: dict | None = None) -> dict:
    """One row of the report. A claim measured by a chapter on the stale list keeps the
    verdict of its (older) outputs, marked "(stale)"."""
    claim, used = choose(claim, results)
    chapter, _ = _first(claim.metric)
    prov = results.get(chapter, {}).get("provenance", {})
    d = decide(claim, results)
    ours = d["ours"]
    scale = prov.get("scale") if ours is not MISSING else None
    verdict, note = d["verdict"], "; ".join(x for x in (used, d["note"]) if x)
    if verdict == "not run" and ours is MISSING and claim.needs and not have_dataset(claim.needs):
        verdict = f"not run (needs {'CIFAR-10' if claim.needs == 'cifar10' else claim.needs})"
    elif scale == "smoke":
        verdict, note = "smoke run (no verdict)", ""
    is_stale = ours is not MISSING and chapter in (stale or {})
    if is_stale:
        verdict += " (stale)"
    protocol = claim.protocol + (f"; scale {scale}" if scale else "")
    return {"id": claim.id, "source": claim.source, "claim": claim.claim, "source value": claim.source_value,
            "our value": d["our value"] if ours is not MISSING else _fmt(MISSING),
            "protocol and scale": protocol, "rule": claim.rule.describe(),
            "verdict": verdict, "note": note, "kind": claim.kind, "metric": claim.metric, "scale": scale,
            "seeds": d["seeds"] if scale else None, "ci95": d["ci95"], "budget": claim.budget or None,
            "quote": claim.quote, "why": claim.why,
            "commit": prov.get("commit") if scale else None, "stale": is_stale}


def build(results: dict | None = None) -> list[dict]:
    """Rows of the report (dicts), in the order of :data:`CLAIMS`."""
    results = load_results() if results is None else results
    results = {CLASSIFIERS: classifier_results(), **results}
    stale = stale_chapters()
    return [evaluate_claim(c, results, stale) for c in CLAIMS]


def summary(rows: list[dict], stale_apart: bool = True) -> dict:
    """Claims per verdict; ``stale_apart``: claims of stale chapters counted as one group."""
    out: dict[str, int] = {}
    for r in rows:
        key = r["verdict"].removesuffix(" (stale)")
        key = key.split(" (")[0] if key.startswith("not run") else key
        key = "stale (chapter changed, not re-executed)" if r.get("stale") and stale_apart else key
        out[key] = out.get(key, 0) + 1
    return out


def not_reproduced(rows: list[dict]) -> list[str]:
    """One sentence per claim that did not reproduce (also when its chapter is stale), with the
    known reasons."""
    out = []
    for r in rows:
        if r["verdict"].startswith("not reproduced"):
            out.append(f"{r['id']} ({r['source']}): {r['claim']}. Source: {r['source value']}; ours: {r['our value']} "
                       f"({r['scale']} scale; rule: {r['rule']})." + (f" Why: {r['note']}." if r.get("note") else "")
                       + (f" Known differences: {r['why']}." if r["why"] else ""))
    return out


COLUMNS = ["id", "source", "claim", "source value", "our value", "protocol and scale", "verdict", "note"]


def to_text(rows: list[dict]) -> str:
    """One line per claim (id, verdict, our value, source, claim) and a count of verdicts."""
    lines = [f"{r['id']:<4} {r['verdict']:<29} ours {r['our value'][:40]:<10} | {r['source']}: {r['claim'][:80]}"
             for r in rows]
    counts = ", ".join(f"{k}: {v}" for k, v in summary(rows).items())
    verdicts = ", ".join(f"{k}: {v}" for k, v in summary(rows, stale_apart=False).items())
    tail = f"; verdicts, stale ones included: {verdicts}" if any(r.get("stale") for r in rows) else ""
    return "\n".join(lines + [f"-- {len(rows)} claims ({counts}{tail})"])


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
    chapter, path = _first(metric)
    if chapter == CLASSIFIERS:
        return CLASSIFIERS_PAGE
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
            detail = (f"{r['source']}" + (f": \u201c{r['quote']}\u201d" if r.get("quote") else "")
                      + f". Measured: {r['protocol and scale']}. Rule: {r['rule']}.")
            note = f"<br><small>{e(r['note'])}</small>" if r.get("note") else ""
            out.append(f'<tr><td><a href="{chapter_link(r["metric"])}">{e(r["id"])}</a></td>'
                       f"<td>{e(r['claim'])}<br><small>{e(detail)}</small></td><td>{e(r['source value'])}</td>"
                       f"<td>{e(r['our value'])}</td><td>{e(r['verdict'])}{note}</td></tr>")
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
