"""``build`` and ``screenshot``: the static HTML book and a rendering check in headless
Chromium.

``build`` runs ``jupyter-book build`` on the repository root with Sphinx warnings as errors
(``--warningiserror --keep-going``). ``_config.yml`` sets ``execute_notebooks: off`` and
``only_build_toc_files: true``, so the build only renders the committed executed notebooks
listed in ``_toc.yml``: nothing is executed and ``.venv``, ``runs`` or ``data`` are never
read. It works offline. MathJax ships with the book: ``make mathjax`` installs the pinned npm
package into the ignored folder ``.mathjax/`` and ``build`` copies it into
``_build/html/_static/mathjax/`` (``_config.yml`` sets ``mathjax_path`` to that local copy),
so equations render with no network; a page that still points at a CDN MathJax fails the
build.

``screenshot`` opens the landing page and one chapter of ``_build/html``: it checks in the
HTML that their figures (``<img>``) are there and that the image files exist, then, when
Chromium is installed, renders each page headless (``--dump-dom`` to see the figures in the
rendered DOM, ``--screenshot`` saved under ``_build/screenshots/``) and checks the
screenshot is not blank. Then it checks the math of EVERY built page that has some: the
page loads the local MathJax (no CDN), and in the DOM rendered by Chromium with the network
blocked every equation became MathJax output (``mjx-container``), with no raw TeX delimiters
(``\\(``, ``\\[``, ``$$``) left in the text and no TeX error. Without Chromium the rendering
steps are skipped with a message (CI installs Debian's ``chromium`` package).
"""
from __future__ import annotations

import re
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

# MathJax: installed by `make mathjax` (npm package, version pinned in the Makefile) into
# MATHJAX_INSTALL, copied by build() into _build/html/_static/mathjax/; _config.yml's
# sphinx.config.mathjax_path must be MATHJAX_PATH (relative: Sphinx serves it from _static/).
MATHJAX_INSTALL = Path(".mathjax") / "node_modules" / "mathjax" / "es5"
MATHJAX_PATH = "mathjax/tex-mml-chtml.js"
CDN_MATHJAX = re.compile(r"""(?:https?:)?//[^"'\s>]*mathjax""", re.IGNORECASE)


def mathjax_source(root: Path) -> Path:
    """The installed MathJax ``es5`` folder; a UserError saying how to install it if absent."""
    src = root / MATHJAX_INSTALL
    if not (src / Path(MATHJAX_PATH).name).is_file():
        raise UserError(f"MathJax is not installed ({MATHJAX_INSTALL / Path(MATHJAX_PATH).name} not found): "
                        "run `make mathjax` (needs npm, i.e. Node.js, and the npm registry once); "
                        "the book ships it so that equations render offline")
    return src


def copy_mathjax(root: Path, html_dir: Path) -> Path:
    """Copy the bundle of MATHJAX_PATH and the components it loads on demand (TeX extensions,
    CHTML fonts, menu, accessibility) into ``html_dir/_static/mathjax``; not the other
    combined bundles of the package."""
    src = mathjax_source(root)
    dst = html_dir / "_static" / Path(MATHJAX_PATH).parent
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    shutil.copy2(src / Path(MATHJAX_PATH).name, dst)
    for sub in sorted(src.iterdir()):
        if sub.is_dir():
            shutil.copytree(sub, dst / sub.name)
    lic = src.parent / "LICENSE"
    if lic.is_file():
        shutil.copy2(lic, dst)
    return dst


def cdn_mathjax_pages(html_dir: Path) -> list[str]:
    """Built pages that still reference a remote (CDN) MathJax."""
    return [str(p.relative_to(html_dir)) for p in sorted(html_dir.rglob("*.html"))
            if "_static" not in p.relative_to(html_dir).parts and CDN_MATHJAX.search(p.read_text(encoding="utf-8"))]


def build(extra_args: list[str] | None = None) -> int:
    """Build ``_build/html``; returns jupyter-book's exit status."""
    root = _root()
    cfg = book_config()
    mode = str((cfg.get("execute") or {}).get("execute_notebooks"))
    if mode not in ("off", "False"):
        raise UserError(f"_config.yml must set execute.execute_notebooks: off (found {mode!r}); "
                        "the book is built from the committed executed notebooks")
    mj_path = ((cfg.get("sphinx") or {}).get("config") or {}).get("mathjax_path")
    if mj_path != MATHJAX_PATH:
        raise UserError(f"_config.yml must set sphinx.config.mathjax_path: {MATHJAX_PATH} (found {mj_path!r}): "
                        "the book loads its own copy of MathJax, never a CDN")
    mathjax_source(root)
    exe = shutil.which("jupyter-book") or str(Path(sys.executable).with_name("jupyter-book"))
    if not Path(exe).exists():
        raise UserError("jupyter-book is not installed (pip install 'jupyter-book<2', or `make venv`)")
    cmd = [exe, "build", str(root), "--builder", "html", "--all", "--warningiserror", "--keep-going", *(extra_args or [])]
    print("$ " + " ".join(cmd[1:] if cmd[0] == exe else cmd), flush=True)
    t0 = time.perf_counter()
    rc = subprocess.call(cmd, cwd=root)
    dt = time.perf_counter() - t0
    html_dir = root / "_build" / "html"
    if rc == 0:
        dst = copy_mathjax(root, html_dir)
        print(f"MathJax copied to {dst.relative_to(root)}")
        cdn = cdn_mathjax_pages(html_dir)
        if cdn:
            print(f"error: {len(cdn)} page(s) load MathJax from a CDN ({', '.join(cdn[:3])}): "
                  f"set sphinx.config.mathjax_path: {MATHJAX_PATH} in _config.yml", file=sys.stderr)
            return 1
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


RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$")


class _Math(HTMLParser):
    """What a page (static HTML, or the DOM rendered by Chromium) says about its math:
    elements of class ``math`` (Sphinx's ``span.math`` / ``div.math``), MathJax output
    (``mjx-container``, ``mjx-merror``), raw TeX delimiters left in the body's text (outside
    code, scripts, styles and MathJax output) and the MathJax ``<script src>``."""

    SKIP = {"pre", "code", "kbd", "samp", "script", "style", "textarea", "mjx-container", "head", "title"}

    def __init__(self):
        super().__init__()
        self.n_math = 0
        self.n_rendered = 0
        self.n_errors = 0
        self.raw: list[str] = []
        self.scripts: list[str] = []
        self._skip: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and "mathjax" in (a.get("src") or "").lower():
            self.scripts.append(a["src"])
        if tag == "mjx-container":
            self.n_rendered += 1
        elif tag == "mjx-merror":
            self.n_errors += 1
        if tag in ("span", "div") and "math" in (a.get("class") or "").split():
            self.n_math += 1
        if tag in self.SKIP:
            self._skip.append(tag)

    def handle_startendtag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and "mathjax" in (a.get("src") or "").lower():
            self.scripts.append(a["src"])

    def handle_endtag(self, tag):
        if tag in self._skip:  # close up to the innermost open element of that name
            while self._skip and self._skip.pop() != tag:
                pass

    def handle_data(self, data):
        if not self._skip:
            m = RAW_TEX.search(data)
            if m:  # one entry per text node
                self.raw.append(" ".join(data[max(0, m.start() - 25):m.end() + 25].split()))


def math_info(html: str) -> dict:
    """``{"math", "rendered", "errors", "raw", "scripts"}`` of a page's HTML (see _Math)."""
    p = _Math()
    p.feed(html)
    p.close()
    return {"math": p.n_math, "rendered": p.n_rendered, "errors": p.n_errors, "raw": p.raw, "scripts": p.scripts}


def has_math(info: dict) -> bool:
    return bool(info["math"] or info["raw"] or info["rendered"])


def math_problems(static: dict, rendered: dict | None) -> list[str]:
    """Problems of one page with math: ``static`` is math_info of the built HTML,
    ``rendered`` that of the DOM Chromium rendered (None: not rendered, static checks only)."""
    bad = []
    if not static["scripts"]:
        bad.append("no MathJax <script> on a page with math")
    remote = [s for s in static["scripts"] if urlparse(s).scheme or s.startswith("//")]
    if remote:
        bad.append(f"MathJax loaded from the network: {remote[0]}")
    if rendered is not None:
        if rendered["rendered"] < max(1, static["math"]):
            bad.append(f"{rendered['rendered']} MathJax output(s) (mjx-container) for {static['math']} equation(s)")
        if rendered["raw"]:
            bad.append(f"{len(rendered['raw'])} raw TeX delimiter(s) left, e.g. {rendered['raw'][0]!r}")
        if rendered["errors"]:
            bad.append(f"{rendered['errors']} TeX error(s) (mjx-merror)")
    return bad


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


# Chromium runs with the network blocked: no host name resolves and every http(s) request goes
# to a closed local port, so a page can only use what the book ships (file:// URLs).
NO_NETWORK = ["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost", "--proxy-server=http://127.0.0.1:9",
              "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium(exe: str, args: list[str], timeout: int = 90) -> subprocess.CompletedProcess:
    base = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-dev-shm-usage",
            "--no-first-run", "--disable-extensions", "--allow-file-access-from-files", "--virtual-time-budget=8000",
            *NO_NETWORK]
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
    return problems + check_math(html_dir, exe, root)


def math_pages(html_dir: Path) -> list[tuple[Path, dict]]:
    """Every built page (not ``_static``/``_sources``) with math, with its static math_info."""
    out = []
    for page in sorted(html_dir.rglob("*.html")):
        if {"_static", "_sources", "_images"} & set(page.relative_to(html_dir).parts):
            continue
        info = math_info(page.read_text(encoding="utf-8"))
        if has_math(info):
            out.append((page, info))
    return out


def check_math(html_dir: Path, exe: str | None, root: Path) -> int:
    """For every built page with math: it loads the local MathJax (file present, no CDN) and,
    rendered by Chromium with the network blocked, every equation is MathJax output with no raw
    TeX left. One line per page; returns the number of failing pages."""
    pages = math_pages(html_dir)
    if not pages:
        print("math: no page with math")
        return 0
    print(f"math: {len(pages)} page(s) with math, rendered with the network blocked"
          + ("" if exe else " (chromium not found: static checks only)"))
    problems = 0
    for page, static in pages:
        rel = page.relative_to(root)
        bad = math_problems(static, None)
        for src in static["scripts"]:
            u = urlparse(src)
            if not u.scheme and not src.startswith("//") and not (page.parent / unquote(u.path)).resolve().is_file():
                bad.append(f"MathJax file missing: {src} (build with `make book`)")
        rendered = None
        if exe is not None and not bad:
            try:
                dom = _chromium(exe, ["--dump-dom", page.resolve().as_uri()])
                if dom.returncode != 0 or "<html" not in dom.stdout:
                    bad.append(f"chromium exit {dom.returncode}: "
                               f"{(dom.stderr.strip().splitlines() or [''])[-1][:120]}")
                else:
                    rendered = math_info(dom.stdout)
                    bad += math_problems(static, rendered)
            except subprocess.TimeoutExpired:
                bad.append("chromium timed out")
        if bad:
            problems += 1
            print(f"FAIL math {rel}: " + "; ".join(bad))
        elif rendered is None:
            print(f"ok   math {rel}: {static['math']} equation(s), local MathJax {static['scripts'][0]} (not rendered)")
        else:
            print(f"ok   math {rel}: {static['math']} equation(s), {rendered['rendered']} rendered by the local "
                  f"MathJax, no raw TeX left")
    return problems
