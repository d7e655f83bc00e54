"""Book helpers: chapter rendering and the stale check, variant presets of chapter 9, the
training GIF, and the claims table of the reproduction report."""
import json

import pytest
from PIL import Image

from tools.book import notebooks
from acgan_lib.book.animation import gif_info, training_gif
from acgan_lib.book.comparison import VARIANTS, variant_preset
from acgan_lib.config import PRESETS, make_config


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
            assert href.startswith(chapter)
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
