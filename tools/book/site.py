"""``build`` and ``screenshot``: the static HTML book and a rendering check in headless
Chromium.

``build`` runs ``jupyter-book build`` on the repository root with Sphinx warnings as errors
(``--warningiserror --keep-going``). ``_config.yml`` sets ``execute_notebooks: off`` and
``only_build_toc_files: true``, so the build only renders the committed executed notebooks
listed in ``_toc.yml``: nothing is executed and ``.venv``, ``runs`` or ``data`` are never
read. It works offline.

``screenshot`` opens the landing page and one chapter of ``_build/html``: it checks in the
HTML that their figures (``<img>``) are there and that the image files exist, then, when
Chromium is installed, renders each page headless (``--dump-dom`` to see the figures in the
rendered DOM, ``--screenshot`` saved under ``_build/screenshots/``) and checks the
screenshot is not blank. Without Chromium the rendering step is skipped with a message
(CI installs Debian's ``chromium`` package).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

from acgan_lib.utils import UserError
from .notebooks import _root, book_config

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def build(extra_args: list[str] | None = None) -> int:
    """Build ``_build/html``; returns jupyter-book's exit status."""
    root = _root()
    cfg = book_config()
    mode = str((cfg.get("execute") or {}).get("execute_notebooks"))
    if mode not in ("off", "False"):
        raise UserError(f"_config.yml must set execute.execute_notebooks: off (found {mode!r}); "
                        "the book is built from the committed executed notebooks")
    exe = shutil.which("jupyter-book") or str(Path(sys.executable).with_name("jupyter-book"))
    if not Path(exe).exists():
        raise UserError("jupyter-book is not installed (pip install 'jupyter-book<2', or `make venv`)")
    cmd = [exe, "build", str(root), "--builder", "html", "--all", "--warningiserror", "--keep-going", *(extra_args or [])]
    print("$ " + " ".join(cmd[1:] if cmd[0] == exe else cmd), flush=True)
    t0 = time.perf_counter()
    rc = subprocess.call(cmd, cwd=root)
    dt = time.perf_counter() - t0
    if rc == 0:
        print(f"built {root / '_build' / 'html' / 'index.html'} in {dt:.0f} s")
    else:
        print(f"error: jupyter-book build failed (exit {rc}, {dt:.0f} s): Sphinx warnings are errors; "
              "see the messages above", file=sys.stderr)
    return rc


# ----------------------------------------------------------------------------- HTML checks
class _Images(HTMLParser):
    """``src`` of the figures (``<img>`` from ``_images/``: notebook outputs and figures)
    inside the page's main article."""

    def __init__(self):
        super().__init__()
        self.depth = 0  # > 0 while inside <main> / <article>
        self.srcs: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("main", "article"):
            self.depth += 1
        elif tag == "img" and self.depth and "_images/" in a.get("src", ""):  # figures, not theme icons
            self.srcs.append(a["src"])
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag in ("main", "article") and self.depth:
            self.depth -= 1
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def page_images(page: Path) -> tuple[str, list[str], list[str]]:
    """(title, image srcs in the article, srcs whose file is missing)."""
    p = _Images()
    p.feed(page.read_text(encoding="utf-8"))
    missing = []
    for src in p.srcs:
        u = urlparse(src)
        if u.scheme in ("http", "https", "data"):
            continue
        if not (page.parent / unquote(u.path)).resolve().exists():
            missing.append(src)
    return p.title.strip(), p.srcs, missing


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _chromium(exe: str, args: list[str], timeout: int = 90) -> subprocess.CompletedProcess:
    base = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-dev-shm-usage",
            "--no-first-run", "--disable-extensions", "--allow-file-access-from-files", "--virtual-time-budget=8000"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=timeout)


def _not_blank(png: Path) -> bool:
    from PIL import Image, ImageStat

    with Image.open(png) as im:
        stat = ImageStat.Stat(im.convert("L"))
    return stat.stddev[0] > 2.0


DEFAULT_SCREENSHOT_CHAPTERS = ("03_acgan", "05_evaluation")


def screenshot(chapters: str | tuple[str, ...] | list[str] = DEFAULT_SCREENSHOT_CHAPTERS,
               min_images: tuple[int, int] = (1, 2)) -> int:
    """Check the landing page and each of ``chapters`` in ``_build/html`` (at least
    ``min_images`` figures each: landing, chapter), screenshot them with headless Chromium;
    returns the number of problems (0 = fine, also when Chromium is missing and only the
    HTML was checked)."""
    import yaml

    root = _root()
    html_dir = root / "_build" / "html"
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    landing = html_dir / f"{toc['root']}.html"
    if not landing.exists():
        raise UserError(f"{landing.relative_to(root)} not found: build the book first (python -m acgan_lib.book build)")
    pages = []
    for chapter in ([chapters] if isinstance(chapters, str) else list(chapters)):
        page = html_dir / "book" / f"{chapter}.html"
        if not page.exists():
            raise UserError(f"{page.relative_to(root)} not found (is '{chapter}' a chapter in _toc.yml?)")
        pages.append((page, min_images[1]))
    shots = root / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    exe = find_chromium()
    if exe is None:
        print("note: chromium not found: checking the HTML only, no screenshots "
              "(install it with `apt-get install chromium`)")
    problems = 0
    for path, need in [(landing, min_images[0]), *pages]:
        rel = path.relative_to(root)
        title, srcs, missing = page_images(path)
        bad = []
        if len(srcs) < need:
            bad.append(f"{len(srcs)} figure(s) in the article, expected at least {need}")
        if missing:
            bad.append(f"missing image files: {', '.join(missing[:3])}")
        shot_msg = ""
        if exe is not None and not bad:
            png = shots / f"{path.stem}.png"
            png.unlink(missing_ok=True)
            url = path.resolve().as_uri()
            try:
                dom = _chromium(exe, ["--dump-dom", url])
                n_dom = sum(dom.stdout.count(f'src="{s}"') for s in set(srcs))
                if dom.returncode != 0 or n_dom < need:
                    bad.append(f"rendered DOM has {n_dom} <img> (chromium exit {dom.returncode}: "
                               f"{(dom.stderr.strip().splitlines() or [''])[-1][:120]})")
                shot = _chromium(exe, [f"--screenshot={png}", "--window-size=1280,2000", url])
                if not png.exists() or png.stat().st_size == 0:
                    bad.append(f"no screenshot written (chromium exit {shot.returncode}: "
                               f"{(shot.stderr.strip().splitlines() or [''])[-1][:120]})")
                elif not _not_blank(png):
                    bad.append(f"screenshot {png.relative_to(root)} is blank")
                else:
                    shot_msg = f", screenshot {png.relative_to(root)}"
            except subprocess.TimeoutExpired:
                bad.append("chromium timed out")
        if bad:
            problems += 1
            print(f"FAIL {rel}: " + "; ".join(bad))
        else:
            print(f"ok   {rel}: '{title}', {len(srcs)} figure(s), all image files present{shot_msg}")
    return problems
