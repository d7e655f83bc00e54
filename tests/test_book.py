"""Book helpers: chapter rendering and the stale check, variant presets of chapter 9, the
training GIF, and the claims table of the reproduction report."""
import json
import re

import pytest
from PIL import Image

from tools.book import notebooks
from acgan_lib.book.animation import gif_info, training_gif
from acgan_lib.book.comparison import VARIANTS, variant_preset
from acgan_lib.config import make_config


def test_every_toc_chapter_has_a_source_with_a_parameters_cell():
    chs = notebooks.chapters()
    assert len(chs) == 11
    for ch in chs:
        nb = notebooks.render(ch)
        tags = [c.get("metadata", {}).get("tags", []) for c in nb.cells]
        assert any("parameters" in t for t in tags), ch
        src = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "scale" in src and "google.colab" in src


def test_stale_check_flags_an_edited_cell(tmp_path):
    import nbformat
    ch = notebooks.chapters(["06"])[0]
    nb = notebooks.render(ch)
    path = tmp_path / "06.ipynb"
    nbformat.write(nb, path)
    assert notebooks.stale_cells(ch, path) == []
    code = [c for c in nb.cells if c.cell_type == "code"][-1]
    code.source += "\nprint('edited')"
    nbformat.write(nb, path)
    assert notebooks.stale_cells(ch, path)


def test_variant_presets():
    assert set(VARIANTS) == {"ac", "acreal", "tac", "adc", "d2d", "sn", "diffaug"}
    # on CIFAR-10 the "acreal" variant is exactly 002's preset, the others change only their knob
    assert variant_preset("acreal", "cifar10") == ("acbiggan-cifar10", {})
    assert variant_preset("tac", "cifar10") == ("acbiggan-cifar10", {"aux_loss": "tac"})
    assert variant_preset("ac", "fashion-mnist") == ("acbiggan-fmnist", {})
    for v in VARIANTS:
        preset, over = variant_preset(v, "cifar10")
        make_config(preset, over)


def test_training_gif(tmp_path):
    run = tmp_path / "run" / "samples"
    run.mkdir(parents=True)
    for step, shade in [(0, 0), (50, 128), (100, 255)]:
        Image.new("RGB", (62, 62), (shade,) * 3).save(run / f"step_{step:07d}.png")
    path = training_gif(tmp_path / "run", out=tmp_path / "t.gif", save_as=None)
    info = gif_info(path)
    assert info["frames"] == 3


def test_claims_resolve_to_sources():
    from acgan_lib.book import claims
    rows = claims.CLAIMS if hasattr(claims, "CLAIMS") else claims.claims()
    assert len(rows) >= 30
    for c in rows:
        d = c if isinstance(c, dict) else vars(c)
        text = json.dumps(d, default=str)
        assert any(s in text for s in ("000", "001", "002", "003", "004", "paper")), text


def _page(path, title, imgs):
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f'<img src="{s}">' for s in imgs)
    path.write_text(f"<html><head><title>{title}</title></head><body><main><article>{body}"
                    "</article></main></body></html>")


def test_screenshot_checks_landing_and_each_chapter(tmp_path, monkeypatch, capsys):
    from tools.book import site
    from acgan_lib.utils import UserError
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/00_introduction\n")
    html = tmp_path / "_build" / "html"
    (html / "_images").mkdir(parents=True)
    for name in ("a.png", "b.png", "c.png"):
        Image.new("RGB", (4, 4)).save(html / "_images" / name)
    _page(html / "book" / "00_introduction.html", "intro", ["../_images/a.png"])
    _page(html / "book" / "03_acgan.html", "acgan", ["../_images/a.png", "../_images/b.png"])
    _page(html / "book" / "05_evaluation.html", "eval", ["../_images/c.png", "../_images/missing.png"])
    monkeypatch.setattr(site, "_root", lambda: tmp_path)
    monkeypatch.setattr(site, "find_chromium", lambda: None)
    assert site.screenshot(["03_acgan"]) == 0
    assert site.screenshot(["03_acgan", "05_evaluation"]) == 1
    out = capsys.readouterr().out
    assert "FAIL _build/html/book/05_evaluation.html: missing image files: ../_images/missing.png" in out
    with pytest.raises(UserError, match="99_nope"):
        site.screenshot(["99_nope"])


# ----------------------------------------------------------------------------- refresh / stale
def _nb(cells):
    import nbformat
    nb = nbformat.v4.new_notebook()
    for kind, src, *out in cells:
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(src))
        else:
            c = nbformat.v4.new_code_cell(src, metadata={"tags": ["parameters"]} if src.startswith("scale") else {})
            if out:
                c.outputs = [nbformat.v4.new_output("stream", text=out[0])]
                c.execution_count = 1
            nb.cells.append(c)
    return nb


def test_prose_edit_keeps_outputs_and_new_code_gets_none():
    """Refreshing an executed notebook from an edited source executes nothing: new prose
    replaces old prose, code that ran keeps its outputs, new code has none, and edited code
    stays as it ran (never shown under outputs it did not produce)."""
    old = _nb([("md", "# Title"), ("code", "scale = 'cpu'", ""), ("md", "old prose"), ("code", "a = 1", "A"),
               ("code", "print(b)", "B")])
    new = _nb([("md", "# Title"), ("code", "scale = 'cpu'"), ("md", "new prose"), ("code", "a = 1"),
               ("code", "show(a)"), ("md", "more"), ("code", "print(b2)")])
    out = notebooks.merge_notebook(old, new, banner=_nb([("md", "BANNER")]).cells[0])
    kinds = [(c.cell_type, c.source, [o.get("text") for o in c.get("outputs", [])]) for c in out.cells]
    assert kinds == [("markdown", "# Title", []), ("markdown", "BANNER", []), ("code", "scale = 'cpu'", [""]),
                     ("markdown", "new prose", []), ("code", "a = 1", ["A"]), ("code", "print(b)", ["B"]),
                     ("code", "show(a)", []), ("markdown", "more", []), ("code", "print(b2)", [])]
    assert notebooks._unexecuted(out) == [4, 5]
    assert len({c["id"] for c in out.cells}) == len(out.cells)
    # a later source edit: cells that never ran are not kept as if they had
    newer = _nb([("md", "# Title"), ("code", "scale = 'cpu'"), ("md", "new prose"), ("code", "a = 1"),
                 ("code", "show(a, b)"), ("md", "more"), ("code", "print(b2)")])
    again = notebooks.merge_notebook(out, newer)
    assert [c.source for c in again.cells if c.cell_type == "code"] == \
        ["scale = 'cpu'", "a = 1", "print(b)", "show(a, b)", "print(b2)"]


def test_committed_book_has_a_consistent_stale_list():
    """Every chapter on book/stale.json differs from its source or has code that never ran,
    and carries its banner (what `python -m acgan_lib.book check` enforces)."""
    import nbformat
    listed = notebooks.stale_list()
    for ch in notebooks.chapters():
        nb = nbformat.read(ch.executed(), as_version=4)
        banner = any(notebooks.BANNER_TAG in c.metadata.get("tags", []) for c in nb.cells)
        assert banner == (ch.stem in listed), ch.stem
        if ch.stem in listed:
            assert notebooks.stale_cells(ch, ch.executed()) or notebooks._unexecuted(nb), ch.stem


# ----------------------------------------------------------------------------- math offline
_MJ = '<script defer="defer" src="../_static/mathjax/tex-mml-chtml.js"></script>'


def _math_html(body, script=_MJ):
    return f"<html><head><title>t</title>{script}</head><body><main><article>{body}</article></main></body></html>"


def test_math_check_parses_rendered_and_raw_pages():
    """The parsing half of the Chromium math check: raw TeX left in the text fails, MathJax
    output passes, TeX inside code is not math, a CDN MathJax fails."""
    from tools.book import site
    static = site.math_info(_math_html(
        r'<p>loss <span class="math notranslate nohighlight">\(L_S\)</span></p>'
        r'<div class="math notranslate nohighlight">\[ L_C = \mathbb{E}[\log P(C=c)] \]</div>'
        r'<pre>re.compile(r"\(x\)")</pre><p>price $$5</p>'))
    assert static["math"] == 2 and static["scripts"] == ["../_static/mathjax/tex-mml-chtml.js"]
    assert site.has_math(static) and len(static["raw"]) == 3  # \( \[ $$, not the <pre>
    assert site.math_problems(static, None) == []  # local MathJax

    # what Chromium dumps when MathJax ran: mjx-container instead of the delimiters
    rendered = site.math_info(_math_html(
        '<p>loss <span class="math notranslate nohighlight"><mjx-container class="MathJax" jax="CHTML">'
        '<mjx-math><mjx-mi>L</mjx-mi></mjx-math><mjx-assistive-mml><math><mi>L</mi></math>'
        '</mjx-assistive-mml></mjx-container></span></p>'
        '<div class="math notranslate nohighlight"><mjx-container class="MathJax" jax="CHTML" display="true">'
        '<mjx-math><mjx-mi>C</mjx-mi></mjx-math></mjx-container></div><pre>re.compile(r"\\(x\\)")</pre>'))
    assert rendered["rendered"] == 2 and rendered["raw"] == [] and rendered["errors"] == 0
    assert site.math_problems(static, rendered) == []

    # MathJax never ran (e.g. it was to come from a CDN, network blocked): the TeX is still raw
    raw = site.math_problems(static, static)
    assert any("0 MathJax output(s)" in p for p in raw) and any("raw TeX delimiter" in p for p in raw)
    # a TeX error is a failure too
    err = site.math_info(_math_html('<span class="math"><mjx-container><mjx-merror>Undefined control sequence'
                                    '</mjx-merror></mjx-container></span>'))
    assert any("TeX error" in p for p in site.math_problems(site.math_info(_math_html(
        r'<span class="math">\(\foo\)</span>')), err))
    # a page that loads MathJax from a CDN fails even before rendering
    cdn = site.math_info(_math_html(r'<span class="math">\(x\)</span>',
                                    '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>'))
    assert any("from the network" in p for p in site.math_problems(cdn, None))
    assert not site.has_math(site.math_info(_math_html("<p>no math, a <code>\\(</code> in code</p>")))


def test_math_pages_and_cdn_scan(tmp_path, capsys):
    from tools.book import site
    html = tmp_path / "_build" / "html"
    (html / "book").mkdir(parents=True)
    (html / "_static" / "mathjax").mkdir(parents=True)
    (html / "_static" / "mathjax" / "tex-mml-chtml.js").write_text("// stub")
    (html / "book" / "a.html").write_text(_math_html(r'<span class="math">\(x\)</span>'))
    (html / "book" / "b.html").write_text(_math_html("<p>no math</p>", script=""))
    (html / "book" / "c.html").write_text(_math_html(r'<span class="math">\(y\)</span>', script=""))
    assert [p.name for p, _ in site.math_pages(html)] == ["a.html", "c.html"]
    assert site.check_math(html, None, tmp_path) == 1  # c.html has math but no MathJax
    out = capsys.readouterr().out
    assert "ok   math _build/html/book/a.html" in out and "FAIL math _build/html/book/c.html" in out
    assert site.cdn_mathjax_pages(html) == []
    (html / "book" / "d.html").write_text('<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js">')
    assert site.cdn_mathjax_pages(html) == ["book/d.html"]


# ----------------------------------------------------------------------------- no re-run traps
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _porcelain() -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout


def _kernel_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACGAN_BOOK_")}
    env.update(PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""), OMP_NUM_THREADS="1", **extra)
    return env


def test_plain_papermill_smoke_run_leaves_the_committed_book_alone(tmp_path):
    """The command chapter 0 suggests (papermill on a committed notebook, -p scale smoke),
    run in the checkout: its results go to the scratch folder, `git status` is unchanged."""
    pytest.importorskip("papermill")
    import shutil
    scratch = REPO / "_build" / "scratch" / "results" / "00_introduction"
    shutil.rmtree(scratch, ignore_errors=True)
    committed = REPO / "book" / "results" / "00_introduction" / "metrics.json"
    before, stamp = _porcelain(), committed.stat().st_mtime_ns
    out = subprocess.run([sys.executable, "-m", "papermill", "book/00_introduction.ipynb", str(tmp_path / "00.ipynb"),
                          "-p", "scale", "smoke", "--no-progress-bar"], cwd=REPO, env=_kernel_env(),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert _porcelain() == before
    assert committed.stat().st_mtime_ns == stamp
    assert (scratch / "metrics.json").exists()  # where a run outside the executor writes


def test_execute_out_leaves_the_tree_clean_and_an_edited_scale_is_kept(tmp_path):
    """`execute --scale smoke --out DIR` changes nothing in the checkout (results and runs go
    to DIR); the notebook it writes, run again as a reader would (Jupyter / Colab: no
    papermill) after editing `scale` in its parameters cell, runs at the edited scale (the
    injected-parameters cell is only a commented-out record)."""
    pytest.importorskip("papermill")
    import nbformat
    from nbclient import NotebookClient
    from tools.book.execute import execute
    before = _porcelain()
    saved = {k: os.environ.get(k) for k in ("ACGAN_BOOK_RESULTS", "ACGAN_BOOK_RUNS", "ACGAN_BOOK_COMMIT")}
    assert execute("smoke", ["00"], out=str(tmp_path / "out")) == 0
    assert _porcelain() == before
    assert {k: os.environ.get(k) for k in saved} == saved  # the executor's settings do not leak
    assert (tmp_path / "out" / "results" / "00_introduction" / "metrics.json").exists()
    nb = nbformat.read(tmp_path / "out" / "00_introduction.ipynb", as_version=4)
    meta = nb.metadata["acgan_book"]
    assert meta["scale"] == "smoke" and meta["parameters"] == {"scale": "smoke"}
    injected = [c for c in nb.cells if notebooks.INJECTED_TAG in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "# scale = \"smoke\"" in injected[0].source
    assert all(ln.startswith("#") for ln in injected[0].source.splitlines() if ln.strip())
    colab = next(c for c in nb.cells if notebooks.COLAB_TAG in c.metadata.get("tags", []))
    assert f"@{meta['install_commit']}\"" in colab.source  # the install cell pins the executing commit
    assert notebooks.stale_cells(notebooks.chapters(["00"])[0], tmp_path / "out" / "00_introduction.ipynb") == []
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = params.source.replace('scale = "cpu"', 'scale = "full"', 1)  # the reader's edit
    assert 'scale = "full"' in params.source
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs = []
    env = _kernel_env(ACGAN_BOOK_RESULTS=str(tmp_path / "rerun"))
    old = dict(os.environ)
    os.environ.clear(), os.environ.update(env)
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}).execute()
    finally:
        os.environ.clear(), os.environ.update(old)
    texts = [o.get("data", {}).get("text/plain", "") for c in nb.cells for o in c.get("outputs", [])]
    header = next(t for t in texts if t.startswith("chapter:"))
    assert "scale:      full" in header  # the edit, not the executor's "smoke"
    assert _porcelain() == before


def test_committed_book_needs_a_clean_tree(monkeypatch, tmp_path):
    from acgan_lib.utils import UserError
    from tools.book import execute as ex
    root = notebooks._root()
    dirty = {"commit": "abc1234", "commit_full": "abc1234" + "0" * 33, "changes": [" M acgan_lib/train.py"],
             "diff_sha256": "f" * 64}
    monkeypatch.setattr(ex, "source_state", lambda: dict(dirty))
    with pytest.raises(UserError, match="clean tree"):
        ex.source_for_execution(root, committed=True)
    src = ex.source_for_execution(root, committed=True, allow_dirty=True)
    assert src["label"].startswith("abc1234+") and "f" * 16 in src["label"]
    assert ex.source_for_execution(root, committed=False)["diff_sha256"] == "f" * 64  # --out: recorded, allowed
    # the executor refuses before executing anything
    ran = []
    monkeypatch.setattr(ex, "_execute_all", lambda *a: ran.append(a) or 0)
    with pytest.raises(UserError, match="clean tree"):
        ex.execute("cpu", ["00"])
    assert not ran
    # no git (the GPU machine): the commit comes from the manifest sent with the tree
    monkeypatch.setattr(ex, "source_state", lambda: None)
    with pytest.raises(UserError, match="manifest"):
        ex.source_for_execution(root, committed=True, manifest=str(tmp_path / "missing.json"))
    (tmp_path / "m.json").write_text(json.dumps({**dirty, "changes": []}))
    src = ex.source_for_execution(root, committed=True, manifest=str(tmp_path / "m.json"))
    assert src["label"] == "abc1234" and src["commit_full"] == dirty["commit_full"]


def test_where_executions_write(monkeypatch):
    """The committed book only through `execute` without --out (not at smoke scale); the
    executor's own outputs never make the commit "-dirty"; runs outside it use a scratch folder."""
    from acgan_lib.book import core
    from acgan_lib.utils import EXECUTOR_OUTPUTS
    from tools.book import execute as ex
    root = notebooks._root()
    seen = []
    monkeypatch.setattr(ex, "source_state", lambda: {"commit": "abc1234", "commit_full": "a" * 40, "changes": [],
                                                     "diff_sha256": None})
    monkeypatch.setattr(ex, "_execute_all", lambda chs, rendered, params, scale, out_dir, *a: seen.append(
        (out_dir, os.environ.get("ACGAN_BOOK_RESULTS"), os.environ.get("ACGAN_BOOK_RUNS"),
         os.environ.get("ACGAN_BOOK_COMMIT"))) or 0)
    monkeypatch.delenv("ACGAN_BOOK_RESULTS", raising=False)
    monkeypatch.delenv("ACGAN_BOOK_RUNS", raising=False)
    ex.execute("smoke", ["00"])  # smoke without --out: _build/smoke, never book/
    ex.execute("cpu", ["00"], out="/tmp/x")
    ex.execute("cpu", ["00"])
    assert seen[0][:3] == (root / "_build" / "smoke", str(root / "_build" / "smoke" / "results"),
                           str(root / "_build" / "smoke" / "runs"))
    assert seen[1][1:3] == ("/tmp/x/results", "/tmp/x/runs")
    assert seen[2][:2] == (root / "book", str(root / "book" / "results")) and seen[2][3] == "abc1234"
    assert "ACGAN_BOOK_RESULTS" not in os.environ
    assert core.results_root() == root / "_build" / "scratch" / "results"
    assert core.load_results("06_overfitting") or not (root / "book" / "results" / "06_overfitting").exists()
    assert "book/results" in EXECUTOR_OUTPUTS and "book/*.ipynb" in EXECUTOR_OUTPUTS


def test_header_shows_threads_and_the_chapters_own_knobs(monkeypatch, tmp_path):
    from acgan_lib.book import core
    monkeypatch.setenv("ACGAN_BOOK_RESULTS", str(tmp_path))
    monkeypatch.setenv("ACGAN_BOOK_COMMIT", "abc1234")
    core.provenance("99_test", "cpu", iters=500, batch_size=32, n_probe=1000)
    ctx = core.context()
    assert ctx["commit"] == "abc1234"
    import torch
    assert ctx["threads"].startswith(f"{torch.get_num_threads()} torch thread")
    from acgan_lib.utils import bf16_is_fast, resolve_device
    assert ctx["precision"].startswith("bf16 autocast" if bf16_is_fast(resolve_device("auto")) else "fp32")
    line = core.scale_line("cpu", {"iters": 500, "batch_size": 32, "n_probe": 1000})
    assert "500 training iterations at batch 32" in line and "n_probe=1,000" in line and "3,000" not in line
    assert "6 training iterations at batch 8" in core.scale_line("smoke", {"iters": 6, "n_eval": 50})
    assert "trains nothing" in core.scale_line("cpu", {})
    core.save_result("99_test", "x", 1.0)
    prov = json.loads((tmp_path / "99_test" / "metrics.json").read_text())["provenance"]
    assert prov["commit"] == "abc1234" and prov["threads"] == ctx["threads"]


def test_the_header_says_what_the_runs_cost_also_when_they_were_reused(monkeypatch, tmp_path, data_root):
    """A chapter that loads runs trained by an earlier execution takes seconds; its results
    record every run's own training time and whether it was reused, and the header's wall time
    line says so."""
    from acgan_lib.book import core
    from tools.book.execute import runs_line
    monkeypatch.setenv("ACGAN_BOOK_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("ACGAN_BOOK_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ACGAN_DATA", str(data_root))
    for reused in (False, True):
        core.provenance("99_test", "smoke")
        r = core.run("dcgan-mnist", "smoke")
        core.save_result("99_test", "x", 1.0)
        runs = json.loads((tmp_path / "results" / "99_test" / "metrics.json").read_text())["provenance"]["runs"]
        assert list(runs) == [r.path.name] and runs[r.path.name]["reused"] is reused
        assert runs[r.path.name]["iterations"] == 6 and runs[r.path.name]["wall_time_s"] > 0
    line = runs_line(runs)
    assert line.startswith("; training of its 1 run: ") and "1 of them reused from an earlier execution" in line
    assert runs_line({}) == ""


def test_check_flags_results_of_another_execution_and_accepts_the_pinned_colab_cell(tmp_path):
    import nbformat
    (tmp_path / "results" / "06_overfitting").mkdir(parents=True)
    (tmp_path / "results" / "06_overfitting" / "metrics.json").write_text(
        json.dumps({"provenance": {"scale": "smoke", "commit": "abc1234"}}))
    assert "at scale smoke" in notebooks._results_match(tmp_path, "06_overfitting", {"scale": "cpu"})[0]
    assert not notebooks._results_match(tmp_path, "06_overfitting", {"scale": "smoke", "commit": "abc1234"})
    # another execution (e.g. the chapter on another dataset) wrote over the notebook's results
    assert "another execution" in notebooks._results_match(tmp_path, "06_overfitting",
                                                           {"scale": "smoke", "commit": "def5678"})[0]
    ch = notebooks.chapters(["06"])[0]
    nb = notebooks.render(ch, commit="b" * 40)
    assert "@" + "b" * 40 in nb.cells[next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")].source
    nb.metadata["acgan_book"] = {"install_commit": "b" * 40}
    nbformat.write(nb, tmp_path / "06.ipynb")
    assert notebooks.stale_cells(ch, tmp_path / "06.ipynb") == []  # a new commit alone stales nothing
    nb.metadata["acgan_book"] = {}
    nbformat.write(nb, tmp_path / "06.ipynb")
    assert notebooks.stale_cells(ch, tmp_path / "06.ipynb")

def _text_outside_cells(html_text: str) -> list[str]:
    """The lines of text a reader sees outside table cells (styles, cells and tags removed)."""
    import re
    s = re.sub(r"(?s)<style>.*?</style>|<(td|th)\b.*?</\1>", "", html_text)
    return re.sub(r"<[^>]+>", "", s).splitlines()


def test_report_html_groups_claims_by_source_and_wraps():
    import re
    from acgan_lib.book import report
    from acgan_lib.book.claims import CLAIMS
    rows = report.build()
    for page in (report.to_html(rows), report.not_reproduced_html(rows)):
        assert "<pre" not in page
        assert all(len(line) <= 200 for line in _text_outside_cells(page))
    page = report.to_html(rows)
    codes = sorted({c.source[:3] for c in CLAIMS})
    starts = [page.index(f'<strong>{code}: ') for code in codes]
    assert starts == sorted(starts) and page.count('class="acgan-claims"') == len(codes)
    for code, start, end in zip(codes, starts, starts[1:] + [len(page)]):
        ids = re.findall(r'<tr><td><a href="(\d\d_[\w-]+\.html(?:#[\w-]+)?)">(\w+)</a>', page[start:end])
        assert {i for _, i in ids} == {c.id for c in CLAIMS if c.source.startswith(code)}
        for href, cid in ids:
            chapter = next(c for c in CLAIMS if c.id == cid).metric.split(":")[0].split("-")[0]
            assert href.startswith(chapter if chapter != report.CLASSIFIERS else report.CLASSIFIERS_PAGE)
    assert report.chapter_link("05_evaluation:msssim.28px.share_below_train_max") == \
        "05_evaluation.html#diversity-ms-ssim-per-class"


def test_executed_report_has_no_preformatted_wide_text():
    nb = json.loads((notebooks._root() / "book" / "10_reproduction_report.ipynb").read_text())
    outs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert any("acgan-claims" in "".join(o.get("data", {}).get("text/html", "")) for o in outs)
    for o in outs:
        if o["output_type"] == "stream":
            assert all(len(line) <= 200 for line in "".join(o["text"]).splitlines())
        elif "text/html" in o.get("data", {}):
            assert all(len(line) <= 200 for line in _text_outside_cells("".join(o["data"]["text/html"])))


def test_references_cited_in_chapters_exist():
    import re
    import yaml
    root = notebooks._root()
    refs = (root / "book" / "references.md").read_text()
    labels = set(re.findall(r"^\((ref-[\w-]+)\)=$", refs, flags=re.M))
    assert {f"ref-00{i}" for i in range(5)} <= labels
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    assert any(ch.get("file") == "book/references" for part in toc["parts"] for ch in part["chapters"])
    cited = set()
    for src in sorted((root / "book" / "src").glob("*.md")):
        text = src.read_text()
        assert "shared/" not in text, f"{src.name} points outside the repository"
        cited |= set(re.findall(r"\]\(#(ref-[\w-]+)\)", text))
        for code in set(re.findall(r"`(00[0-4])`", text)):  # a cited source's first mention links
            assert f"[`{code}`](#ref-{code})" in text, (src.name, code)
    cited |= set(re.findall(r"references\.html#(ref-[\w-]+)", (root / "acgan_lib/book/report.py").read_text()
                            .replace("{code}", "000")))
    assert cited and cited <= labels, cited - labels
    assert "shared/" not in refs and "http" not in refs


def test_training_animation_as_webp(tmp_path):
    """Chapter 9's animation as a lossy animated WebP: same frames, a fraction of the GIF."""
    import numpy as np
    run = tmp_path / "run" / "samples"
    run.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for step in (0, 50, 100):
        Image.fromarray(rng.integers(0, 256, (62, 62, 3), dtype=np.uint8)).save(run / f"step_{step:07d}.png")
    gif = training_gif(tmp_path / "run", out=tmp_path / "t.gif", save_as=None)
    webp = training_gif(tmp_path / "run", save_as=None, out=tmp_path / "t.webp")
    assert webp.suffix == ".webp" and gif_info(webp)["frames"] == gif_info(gif)["frames"] == 3
    assert gif_info(webp)["bytes"] < gif_info(gif)["bytes"]
# ----------------------------------------------------------------------------- claims: verdict rules
def _seed_texts():
    """``{code: text}`` of the seed files under ../shared/seeds (001 is JSON: its abstract and
    text); ``None`` when ../shared is absent."""
    seeds = notebooks._root().parent / "shared" / "seeds"
    if not seeds.is_dir():
        return None
    out = {}
    for path in sorted(seeds.glob("00[0-4]_*.txt")):
        text = path.read_text()
        try:
            d = json.loads(text)
            text = "\n".join(v for v in d.values() if isinstance(v, str))
        except ValueError:
            pass
        out[path.name[:3]] = " ".join(text.split())
    return out


def test_claims_table_covers_the_sources_with_verbatim_quotes():
    from acgan_lib.book.claims import CLAIMS, KINDS
    assert len(CLAIMS) >= 50
    assert {c.source[:3] for c in CLAIMS} == {"000", "001", "002", "003", "004"}
    for c in CLAIMS:
        assert c.quote and c.kind in KINDS, c.id
        # orderings/ratios are never "not comparable"; their budget only gates min_scale ("not run")
        assert not c.budget or c.kind == "absolute" or c.min_scale, c.id
        assert c.rule.kind != "info", c.id                 # four outcomes only
    texts = _seed_texts()
    if texts is None:
        pytest.skip("../shared/seeds is absent")
    for c in CLAIMS:
        assert " ".join(c.quote.split()) in texts[c.source[:3]], (c.id, c.quote)


def _results(chapter, metrics, scale="cpu", **params):
    return {chapter: {"provenance": {"scale": scale, "params": params}, "metrics": metrics}}


def _decide(cid, results):
    from acgan_lib.book import report
    from acgan_lib.book.claims import by_id
    return report.decide(by_id()[cid], results)


def test_p1_compares_each_class_with_its_own_training_class():
    def res(share, own):
        m = {"msssim": {"28px": {"share_below_train_max": share}}}
        if own is not None:
            m["msssim"]["28px"]["share_below_own_class"] = own
        return _results("05_evaluation", m)
    assert _decide("P1", res(0.9, 0.8))["verdict"] == "reproduced"
    d = _decide("P1", res(0.9, 0.0))  # below the hardest class, but above every own class
    assert d["verdict"] == "not reproduced" and "own training class" in d["note"]
    assert _decide("P1", res(0.5, 0.8))["verdict"] == "not reproduced"
    assert _decide("P1", res(0.9, None))["verdict"] == "not run"


def test_p2_is_measured_against_the_real_data_curve():
    def res(s28, s8, r28, r8):
        return _results("05_evaluation", {"resolution": {"28px": {
            "samples_28": s28, "samples_8": s8, "real_28": r28, "real_8": r8}}})
    assert _decide("P2", res(0.90, 0.60, 0.90, 0.50))["verdict"] == "reproduced"
    # samples that are naive up-samplings of low-resolution images lose nothing when resized
    assert _decide("P2", res(0.90, 0.88, 0.90, 0.50))["verdict"] == "not reproduced"
    # an instrument that does not see resolution cannot support the claim
    assert _decide("P2", res(0.90, 0.60, 0.90, 0.89))["verdict"] == "not reproduced"


def test_p7_is_two_sided_with_a_quality_floor():
    def res(ratio, copies, acc, acc_real=0.9):
        return _results("06_overfitting", {
            "nearest_neighbors": {"l1_median_ratio": ratio, "l1_copy_share": copies},
            "quality": {"accuracy": acc, "accuracy_real": acc_real}})
    assert _decide("P7", res(1.1, 0.01, 0.88))["verdict"] == "reproduced"
    assert _decide("P7", res(0.1, 0.9, 0.95))["verdict"] == "not reproduced"   # returns training images
    assert _decide("P7", res(2.4, 0.0, 0.85))["verdict"] == "not reproduced"   # far from everything
    assert _decide("P7", res(1.2, 0.0, 0.10))["verdict"] == "not reproduced"   # too poor to judge


def test_d17_plateau_needs_a_gain_shown_to_be_small():
    """003's plateau above 20 % real: the 95 % interval of the gain from 20 % to 100 % real
    must end below 0.4 points; a rising accuracy fails, and so do seeds too noisy to tell."""
    from acgan_lib.metrics.seeds import mean_interval

    def res(gains):
        m, ci = mean_interval(gains)
        return _results("08_synthetic_data", {"summary": {
            "gain_above_20pct": m, "gain_above_20pct.seeds": len(gains), "gain_above_20pct.ci95": ci,
            "gain_above_20pct.upper95": ci[1] if ci else None}})
    assert _decide("D17", res([0.001, -0.001, 0.0005, 0.0, 0.001]))["verdict"] == "reproduced"
    assert _decide("D17", res([0.055, 0.052, 0.051, 0.062, 0.063]))["verdict"] == "not reproduced"  # still rising
    assert _decide("D17", res([0.01, -0.01, 0.0]))["verdict"] == "not reproduced"    # too noisy to tell
    assert _decide("D17", res([0.001]))["verdict"] == "not run"                     # one seed: no interval


def test_d14_few_real_images_need_a_gain_over_synthetic_only():
    """D14-D16: 003's accuracy with a few real images must be matched *and* be a gain over
    the synthetic-only set that stands out from the seed variation (paired by seed): a
    synthetic-only LeNet already at the value, with no gain, fails."""
    from acgan_lib.metrics import synthetic

    def res(at0, at_share):
        tables = [[{"real_percent": p, "strategy": "mixed", "test_accuracy": a, "total": 55000, "n_real": n}
                   for p, a, n in ((0.0, a0, 0), (0.018, a1, 10))] for a0, a1 in zip(at0, at_share)]
        summary = {"real_0_018pct": synthetic.mean_table(tables)[1]["test_accuracy"]}
        return _results("08_synthetic_data", {"summary": summary, "gains": synthetic.gains(tables, 10)},
                        scale="full", iters=18000, total=55000, epochs=30)
    assert _decide("D14", res([0.932, 0.930, 0.934], [0.952, 0.951, 0.953]))["verdict"] == "reproduced"
    no_gain = _decide("D14", res([0.953, 0.951, 0.952], [0.952, 0.951, 0.953]))  # the value, but no gain
    assert no_gain["verdict"] == "not reproduced" and "gain over synthetic only" in no_gain["note"]
    assert _decide("D14", res([0.932, 0.930, 0.934], [0.972, 0.971, 0.973]))["verdict"] == "not reproduced"
    assert _decide("D14", res([0.932], [0.952]))["verdict"] == "not reproduced"  # one seed: no interval


def test_p5_needs_an_interval_below_zero():
    def res(r, upper):
        return _results("05_evaluation", {"acc_vs_msssim": {"28px": {
            "pearson": r, "pearson.ci95": [r - 0.3, upper], "pearson.ci95_upper": upper}}})
    assert _decide("P5", res(-0.8, -0.4))["verdict"] == "reproduced"
    d = _decide("P5", res(-0.1, 0.5))   # the sign of r alone, over 10 classes, is not enough
    assert d["verdict"] == "not reproduced" and "interval" in d["note"] and d["ci95"] == [-0.4, 0.5]
    assert _decide("P5", res(0.6, 0.9))["verdict"] == "not reproduced"


def test_chapter_verdict_reads_the_chapters_results_and_withholds_smoke(tmp_path, monkeypatch):
    from acgan_lib.book import report
    monkeypatch.setenv("ACGAN_BOOK_RESULTS", str(tmp_path))
    for scale, verdict in (("cpu", "reproduced"), ("smoke", "smoke run (no verdict)")):
        (tmp_path / "05_evaluation").mkdir(exist_ok=True)
        (tmp_path / "05_evaluation" / "metrics.json").write_text(json.dumps(_results(
            "05_evaluation", {"resolution": {"28px": {"share_classes_higher_at_28": 0.9}}}, scale)["05_evaluation"]))
        d = report.chapter_verdict("P11", "05_evaluation")
        assert d["verdict"] == verdict and d["ours"] == 0.9
    assert "would give reproduced" in d["note"]


def _variant_rows(acc, msssim, seeds=(0, 1, 2)):
    """compare()'s rows for chapter 9's conclusions: {variant: accuracy} etc., one row per seed."""
    import pandas as pd
    rows = []
    for v in acc:
        for s in seeds:
            rows.append({"variant": v, "seed": s, "accuracy": acc[v] + 0.01 * s,
                         "msssim/samples_mean": msssim[v] + 0.001 * s, "frechet_classifier": 10.0})
    return pd.DataFrame(rows)


def test_chapter9_compares_only_variants_above_the_quality_floor():
    from acgan_lib.book import comparison as C
    assert C.QUALITY_FLOOR == 0.5
    df = _variant_rows({"ac": 0.8, "tac": 0.7, "sn": 0.1}, {"ac": 0.30, "tac": 0.20, "sn": 0.1})
    assert C.judgeable(df) == ["ac", "tac"]     # sn: chance-level samples are not compared
    assert C.judgeable(_variant_rows({"ac": 0.1}, {"ac": 0.1})) == []
    o = C.variant_ordering(df, "tac_more_diverse_than_ac", "tac", "ac", "msssim/samples_mean", lower_is_better=True)
    assert o["tac_more_diverse_than_ac"] and o["tac_more_diverse_than_ac.seeds"] == 3
    assert o["tac_more_diverse_than_ac.diff"] == pytest.approx(0.10)


def test_chapter9_cifar10_observations():
    import pandas as pd
    from acgan_lib.book import comparison as C
    names = ["airplane", "automobile", "bird", "cat"]
    rows = []
    for s in range(3):
        row = {"variant": "acreal", "seed": s}
        for c in range(4):  # vehicles 0.8 of 0.9 real; animals 0.4 of 0.7 real
            row[f"accuracy/class_{c}"] = (0.8 if c < 2 else 0.4) + 0.01 * s * (c % 2)
            row[f"accuracy_real_all/class_{c}"] = 0.9 if c < 2 else 0.7
            row[f"msssim/samples_class_{c}"] = 0.6 if c == 3 else 0.2 + 0.2 * (s == 1) * (c == 2)
            row[f"msssim/train_class_{c}"] = 0.35
        rows.append(row)
    df = pd.DataFrame(rows)
    o = C.class_group_ordering(df, "acreal", "animals_below_objects", ["airplane", "automobile"],
                               ["bird", "cat"], names)
    assert o["animals_below_objects"] and o["animals_below_objects.diff"] == pytest.approx(0.2)
    lo, hi = o["animals_below_objects.ci95"]
    assert 0 < lo <= hi and o["animals_below_objects.seeds"] == 3
    c = C.intra_class_collapse(df, "acreal")     # class 2 above its training class in one seed only
    assert (c["holds"], c["classes"], c["share"], c["seeds"]) == (True, [3], 0.25, 3)
    assert c["level"] == pytest.approx(1 - 0.05 / 4) and c["diff"][3] == pytest.approx(0.25)
    assert c["ci"][3] == pytest.approx([0.25, 0.25]) and c["ci"][2][0] < 0    # class 2: not beyond the seeds
    # above its class on average, and in every seed, but not beyond the seed variation: no collapse
    df["msssim/samples_class_3"] = [0.36, 0.80, 0.37]
    c = C.intra_class_collapse(df, "acreal")
    assert c["diff"][3] > 0 and c["ci"][3][0] < 0 and not c["holds"] and c["classes"] == []
    df[[f"msssim/samples_class_{k}" for k in range(4)]] = 0.1
    assert C.intra_class_collapse(df, "acreal")["holds"] is False
    one = C.intra_class_collapse(df[df.seed == 0].assign(**{"msssim/samples_class_3": 0.9}), "acreal")
    assert one["holds"] is None and one["ci"][3] is None    # one seed: no interval, not judged


def test_orderings_need_three_seeds_and_an_interval_excluding_zero():
    def res(**extra):
        return _results("02_conditional_gan", {"orderings": {
            "2x_osls_beats_base": True, **{f"2x_osls_beats_base.{k}": v for k, v in extra.items()}}})
    d = _decide("D5", res())
    assert d["verdict"] == "not reproduced" and "1 seed" in d["note"] and d["seeds"] == 1
    assert _decide("D5", res(seeds=2, ci95=[0.01, 0.02]))["verdict"] == "not reproduced"
    assert _decide("D5", res(seeds=5))["verdict"] == "not reproduced"
    d = _decide("D5", res(seeds=5, ci95=[-0.01, 0.02]))
    assert d["verdict"] == "not reproduced" and "contains 0" in d["note"]
    d = _decide("D5", res(seeds=5, ci95=[0.004, 0.02]))
    assert d["verdict"] == "reproduced" and d["ci95"] == [0.004, 0.02]
    assert _decide("D5", _results("02_conditional_gan", {"orderings": {"2x_osls_beats_base": False}}))[
        "verdict"] == "not reproduced"


def test_004_orderings_read_cifar10_first_and_fall_back_to_fashion_mnist():
    """004's orderings are judged on chapter 3's CIFAR-10 execution (004's dataset) when it
    gives a verdict, else on the Fashion-MNIST one; the row's metric, scale, protocol and
    commit follow the execution that was read, and the note says when it is the fallback."""
    from acgan_lib.book import report
    from acgan_lib.book.claims import by_id
    from acgan_lib.metrics.seeds import ordering
    hi, lo = [0.85, 0.84, 0.86], [0.74, 0.73, 0.75]

    def run(chapter, tag, a, b, scale, commit):
        r = _results(chapter, {tag: {"orderings": ordering("finetune_improves_28", a, b)}}, scale)
        r[chapter]["provenance"]["commit"] = commit
        return r
    c7 = by_id()["C7"]
    assert [a.metric.split(":")[0] for a in c7.alternatives()] == ["03_acgan-cifar10", "03_acgan"]
    c10_full, c10_cpu = run("03_acgan-cifar10", "cifar10", hi, lo, "full", "aaa"), \
        run("03_acgan-cifar10", "cifar10", hi, lo, "cpu", "bbb")
    fm_full, fm_cpu = run("03_acgan", "fmnist", lo, hi, "full", "ccc"), run("03_acgan", "fmnist", lo, hi, "cpu", "ddd")
    row = report.evaluate_claim(c7, {**c10_full, **fm_full})          # both judged: CIFAR-10 wins
    assert (row["verdict"], row["commit"], row["scale"]) == ("reproduced", "aaa", "full")
    assert "CIFAR-10" in row["protocol and scale"] and "fallback" not in row["note"]
    row = report.evaluate_claim(c7, {**c10_cpu, **fm_full})           # CIFAR-10 at cpu: no verdict there
    assert (row["verdict"], row["commit"]) == ("not reproduced", "ccc")
    assert row["metric"].startswith("03_acgan:fmnist.") and "Fashion-MNIST" in row["protocol and scale"]
    assert "the fallback: 03_acgan-cifar10 gives no verdict" in row["note"]
    row = report.evaluate_claim(c7, {**c10_cpu, **fm_cpu})            # neither judged: CIFAR-10 shown
    assert (row["verdict"], row["commit"], row["our value"]) == ("not run", "bbb", "yes")
    row = report.evaluate_claim(c7, fm_full)                         # no CIFAR-10 execution at all
    assert row["verdict"] == "not reproduced" and "has no value" in row["note"]
    assert report.evaluate_claim(c7, {})["metric"].startswith("03_acgan-cifar10:")


def test_a_malformed_claim_row_is_a_one_line_error_naming_the_claim():
    from acgan_lib.book.claims import parse_claim
    from acgan_lib.utils import UserError
    row = {"id": "X1", "source": "004", "claim": "c", "source_value": "v", "metric": "03_acgan:a",
           "rule": "true", "protocol": "p"}
    assert parse_claim(row).alternatives() == [parse_claim(row)]
    for bad, words in [({"fallback": {"protocol": "q"}}, "fallback needs 'replace'"),
                       ({"fallback": {"replace": {"a": "b"}, "metric": "x"}}, "fallback needs 'replace'"),
                       ({"metrics": "x"}, "unknown fields ['metrics']"), ({"rule": "at_least"}, "bad rule")]:
        with pytest.raises(UserError, match=re.escape(words)) as e:
            parse_claim({**row, **bad})
        assert "\n" not in str(e.value)


def test_n1_and_p10_are_orderings_over_seeds_and_the_chapters_say_what_the_interval_says():
    from acgan_lib import book
    from acgan_lib.book import report
    from acgan_lib.book.claims import by_id
    from acgan_lib.metrics.seeds import ordering

    def res(chapter, name, a, b, scale="full"):
        return _results(chapter, {"orderings": ordering(name, a, b)}, scale)
    n1 = "04_activation_noise", "schedule_beats_none_accuracy"
    hi, lo, mixed = [0.80, 0.82, 0.85], [0.70, 0.71, 0.76], [0.75, 0.76, 0.80]
    assert _decide("N1", res(*n1, hi, lo))["verdict"] == "reproduced"
    assert _decide("N1", res(*n1, lo, hi))["verdict"] == "not reproduced"   # the schedule hurt
    d = _decide("N1", res(*n1, [0.80, 0.70, 0.85], mixed))               # holds on average only
    assert d["verdict"] == "not reproduced" and "contains 0" in d["note"]
    assert _decide("N1", res(*n1, hi[:2], lo[:2]))["verdict"] == "not reproduced"  # 2 seeds
    p10 = "07_class_splitting", "msssim_rises_with_classes"

    def p10_res(a, b, acc10=0.8, scale="full"):  # with the two models' sample accuracy (quality floor)
        return _results(p10[0], {"orderings": ordering(p10[1], a, b), "split2": {"accuracy": 0.9},
                                 "split10": {"accuracy": acc10}}, scale)
    assert _decide("P10", p10_res([0.85, 0.84, 0.86], [0.74, 0.73, 0.75]))["verdict"] == "reproduced"
    assert _decide("P10", p10_res([0.74, 0.73, 0.75], [0.85, 0.84, 0.86]))["verdict"] == "not reproduced"
    # less diverse, but because the 10-class model's samples are too poor to judge: fails
    d = _decide("P10", p10_res([0.85, 0.84, 0.86], [0.74, 0.73, 0.75], acc10=0.3))
    assert d["verdict"] == "not reproduced" and "quality floor, 10-class model" in d["note"]
    assert _decide("P10", res(*p10, [0.85, 0.84, 0.86], [0.74, 0.73, 0.75]))["verdict"] != "reproduced"
    # C13 (models 3, 4 less diverse than 1, 2) has the same floor on each of 004's four models
    def c13(acc3, chapter="03_acgan-cifar10", tag="cifar10"):
        acc = {f"model{i}": {"accuracy": acc3 if i == 3 else 0.7} for i in range(1, 5)}
        return _results(chapter, {tag: {"orderings": ordering("models34_less_diverse", [0.85, 0.84, 0.86],
                                                                [0.74, 0.73, 0.75]), **acc}}, "full")
    assert _decide("C13", c13(0.7))["verdict"] == "reproduced"
    d = _decide("C13", c13(0.2))
    assert d["verdict"] == "not reproduced" and "quality floor, model 3" in d["note"]
    # its Fashion-MNIST fallback carries the floor along (every metric path is rewritten)
    row = report.evaluate_claim(by_id()["C13"], c13(0.2, "03_acgan", "fmnist"))
    assert row["verdict"] == "not reproduced" and "quality floor, model 3" in row["note"]
    # P10 needs the AC-GAN at the source's length: a cpu-scale value is shown without a verdict
    d = _decide("P10", p10_res([0.85, 0.84, 0.86], [0.74, 0.73, 0.75], scale="cpu"))
    assert d["verdict"] == "not run" and "needs full scale" in d["note"]
    assert _decide("N1", res(*n1, hi, lo, scale="cpu"))["verdict"] == "reproduced"  # N1 has no min_scale
    # B4 needs full scale *and* 002's length: a `full` execution with a lease's shorter budget gets no verdict
    b4 = {"cifar10": {"orderings": ordering("animals_below_objects", hi, lo)}}
    assert _decide("B4", _results("09_modern_acgan-cifar10", b4, "full"))["verdict"] == "reproduced"
    assert _decide("B4", _results("09_modern_acgan-cifar10", b4, "full", iters=37500))["verdict"] == "reproduced"
    none = _decide("B4", _results("09_modern_acgan-cifar10", {"cifar10": {"orderings": {"animals_below_objects": None}}}))
    assert none["verdict"] == "not run" and "saved no value" in none["note"]      # below the floor: null
    d = _decide("B4", _results("09_modern_acgan-cifar10", b4, "full", iters=9360))
    assert d["verdict"] == "not run" and "less than the source's budget" in d["note"]
    # the generated sentence and the table follow the interval, whichever way it falls
    for a, b, word in [(hi, lo, "H"), (lo, hi, "R"), ([0.80, 0.70, 0.85], mixed, "U")]:
        o = ordering("x", a, b)
        said = book.ordering_finding(o, "x", "H", "R", "U")
        assert said.startswith(word + " (mean difference") and "95 % interval" in said
        outcome = book.orderings_table(o, {"x": "A beats B"}).data["outcome"][0]
        assert outcome.split()[0] == {"H": "holds", "R": "reversed", "U": "not"}[word]
    assert "no interval" in book.ordering_finding(ordering("x", [1.0], [0.0]), "x", "H", "R", "U")
    assert book.mean_sd([1, 2, 3]) == "2.000 ± 1.000" and book.mean_sd([0.5]) == "0.500"


def test_not_comparable_only_for_absolute_values_below_the_source_budget():
    def res(acc, scale="cpu", **params):
        return _results("02_conditional_gan", {"table1": {"base": {"accuracy": acc}}}, scale, **params)
    d = _decide("D3", res(0.90, iters=3000))
    assert d["verdict"] == "not comparable at this scale" and "18000" in d["note"]
    assert _decide("D3", res(0.90, iters=18000))["verdict"] == "not reproduced"
    assert _decide("D3", res(0.99, iters=3000))["verdict"] == "reproduced"   # reached with less training
    assert _decide("D3", res(0.90, scale="full"))["verdict"] == "not reproduced"  # iters not recorded
    # a ratio of the same instrument is judged whatever the budget
    r = _results("02_conditional_gan", {"table1": {"dcgan": {"classifier_score_mean": 6.3},
                                                   "real": {"classifier_score_real_mean": 9.6}}}, iters=10)
    d = _decide("D2", r)
    assert d["verdict"] == "not reproduced" and "9.6" in d["our value"]


def test_report_rows_record_scale_seeds_and_interval():
    from acgan_lib.book import report
    from acgan_lib.book.claims import VERDICTS
    rows = report.build()
    json.dumps(rows)
    for r in rows:
        assert {"scale", "seeds", "ci95", "kind", "note", "quote"} <= set(r)
        base = r["verdict"].removesuffix(" (stale)")
        assert base in VERDICTS or base.startswith("not run") or base == "smoke run (no verdict)", r
        if r["kind"] == "ordering" and base == "reproduced":
            assert r["seeds"] >= 3 and r["ci95"] and not r["ci95"][0] <= 0 <= r["ci95"][1], r["id"]
    smoke = _results("02_conditional_gan", {"table1": {"base": {"accuracy": 0.5}}}, "smoke", iters=6)
    from acgan_lib.book.claims import by_id
    assert report.evaluate_claim(by_id()["D3"], smoke)["verdict"] == "smoke run (no verdict)"
    assert report.evaluate_claim(by_id()["D3"], smoke, {"02_conditional_gan": "abc"})["verdict"].endswith("(stale)")
    # a mean over seeds saved beside its seed count (or list of seeds) gives the count to its keys
    means = _results("02_conditional_gan", {"table1": {"base": {"accuracy": 0.9, "seeds": [0, 1, 2]}}})
    assert report.seeds_and_interval(by_id()["D3"], means) == (3, None)


def test_c5_reads_the_pinned_resnet_record(monkeypatch):
    """C5 (004's ResNet-20 on the real test set) is measured by the pinned classifier's record,
    on the pixel-exact test images, and can go either way; the row links to chapter 5."""
    from acgan_lib.book import report

    def res(acc):
        return _results("classifiers", {"cifar10": {"test_accuracy_exact": acc,
                                                    "test_accuracy_exact_ci95": [acc - 0.02, acc + 0.02]}}, "full")
    assert _decide("C5", res(0.915))["verdict"] == "reproduced"
    d = _decide("C5", res(0.80))
    assert d["verdict"] == "not reproduced" and d["ci95"] == pytest.approx([0.78, 0.82])
    monkeypatch.setattr(report, "classifier_results", lambda: res(0.85)["classifiers"])
    row = {r["id"]: r for r in report.build({})}["C5"]
    assert row["scale"] == "full" and row["our value"] == "0.85" and row["verdict"] == "not reproduced"
    assert report.chapter_link("classifiers:cifar10.test_accuracy_exact") == report.CLASSIFIERS_PAGE
