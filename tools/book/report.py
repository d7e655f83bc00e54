"""``python -m acgan_lib.book report``: the reproduction table of
:mod:`acgan_lib.book.report` as text, markdown, JSON or CSV (chapter 10 shows it as HTML)."""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from acgan_lib.book.report import COLUMNS, build, to_text
from acgan_lib.utils import UserError


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
    """Print (or write to ``out``) the report built from ``results_dir`` (default: the
    committed ``book/results``)."""
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
