"""``python -m acgan_lib.book {execute,manifest,refresh,stale,build,check,screenshot,report,import-device}``.

Errors in the input are one line (``error: ...``) with exit status 2; a failing chapter,
a stale notebook or a failed page check exits with status 1.
"""
from __future__ import annotations

import argparse
import sys

from acgan_lib.utils import UserError

EPILOG = """examples:
  python -m acgan_lib.book execute --scale cpu                  # every chapter -> book/*.ipynb
  python -m acgan_lib.book execute --scale smoke --out /tmp/smoke   # never touches the committed book
  python -m acgan_lib.book execute --scale cpu --chapters 01 03
  python -m acgan_lib.book execute --scale full --chapters 03 -p dataset=cifar10
  python -m acgan_lib.book build && python -m acgan_lib.book screenshot
  python -m acgan_lib.book check                                 # executed == sources?
  python -m acgan_lib.book refresh                               # prose edits: no re-execution
  python -m acgan_lib.book stale 01 03 --why "shows the loss code"  # code changed, not re-run yet
  python -m acgan_lib.book report                                # the reproduction table
  python -m acgan_lib.book import-device DIR [DIR ...]           # a GPU lease's chapters, checked"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m acgan_lib.book", description="Execute, check and build the AC-GAN book.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="{execute,manifest,refresh,stale,build,check,screenshot,report,import-device}")

    pe = sub.add_parser("execute", help="execute chapters with papermill (jupytext source -> executed notebook)")
    pe.add_argument("--scale", required=True, choices=["smoke", "cpu", "full"],
                    help="smoke: seconds, checks the code; cpu: 2 CPU cores; full: the sources' protocol (GPU)")
    pe.add_argument("--chapters", nargs="+", metavar="NN", help="chapter numbers or names (default: all)")
    pe.add_argument("--out", metavar="DIR", help="write the executed notebooks (and results/) to DIR instead of book/")
    pe.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                    help="a chapter parameter, e.g. -p dataset=cifar10 (repeatable)")
    pe.add_argument("--keep-going", action="store_true", help="execute the other chapters after a failure")
    pe.add_argument("--timeout", type=int, default=None, help="seconds allowed per cell (default: none)")
    pe.add_argument("--allow-dirty", action="store_true",
                    help="execute the committed book from a tree with uncommitted changes (the headers record "
                         "the sha256 of the diff); refused otherwise")
    pe.add_argument("--manifest", metavar="FILE",
                    help="without git (GPU machine): the commit manifest sent with the tree "
                         "(default _build/manifest.json, or $ACGAN_BOOK_MANIFEST)")

    pm = sub.add_parser("manifest", help="record the checkout's commit in _build/manifest.json (for a machine "
                        "without git)")
    pm.add_argument("--out", metavar="FILE", help="where to write it (default _build/manifest.json)")

    pf = sub.add_parser("refresh", help="update executed notebooks' prose from their sources (executes nothing)")
    pf.add_argument("--chapters", nargs="+", metavar="NN")

    pst = sub.add_parser("stale", help="list, add or remove chapters on the stale list (book/stale.json)")
    pst.add_argument("chapters", nargs="*", metavar="NN", help="chapters to add (with --why) or remove (--remove)")
    pst.add_argument("--why", help="what changed in their code (shown in the banner)")
    pst.add_argument("--remove", action="store_true", help="take the chapters off the list")

    pb = sub.add_parser("build", help="build the static HTML from the executed notebooks (warnings are errors)")
    pb.add_argument("args", nargs="*", help="extra jupyter-book arguments (after --)")

    pc = sub.add_parser("check", help="check that the executed notebooks match their sources (no stale outputs)")
    pc.add_argument("--dir", help="folder of executed notebooks (default book/)")
    pc.add_argument("--chapters", nargs="+", metavar="NN")

    ps = sub.add_parser("screenshot", help="check the built landing page and chapters in headless Chromium, "
                        "and the math of every page (network blocked)")
    ps.add_argument("--chapter", nargs="+", dest="chapters", metavar="NAME", default=None,
                    help="chapter pages to check (default: 03_acgan 05_evaluation)")

    pr = sub.add_parser("report", help="the reproduction table from book/results/*/metrics.json")
    pr.add_argument("--format", choices=["text", "markdown", "json", "csv"], default="text")
    pr.add_argument("--out", help="write the table to this file instead of printing it")
    pr.add_argument("--results", help="results folder (default book/results or $ACGAN_BOOK_RESULTS)")

    pi = sub.add_parser("import-device", help="check the chapters a GPU lease returned (python -m tools.device "
                        "job) and replace the committed ones that pass")
    pi.add_argument("dir", metavar="DIR", nargs="+",
                    help="the folder holding the job's summary.json and chapters-*.tar.gz (several: one per call)")
    pi.add_argument("--into", metavar="ROOT", help="import into ROOT/book instead of the checkout (CI: a scratch folder)")
    pi.add_argument("--allow-cpu", action="store_true", help="accept chapters executed on a CPU (CI's smoke path)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.cmd == "execute":
            from .execute import execute, parse_params
            return 1 if execute(args.scale, args.chapters, args.out, parse_params(args.param),
                                args.keep_going, args.timeout, args.allow_dirty, args.manifest) else 0
        if args.cmd == "manifest":
            from .execute import write_manifest
            print(f"wrote {write_manifest(args.out)}")
            return 0
        if args.cmd == "refresh":
            from .notebooks import refresh
            print(f"{refresh(args.chapters)} notebook(s) refreshed")
            return 0
        if args.cmd == "stale":
            from .notebooks import chapters, mark_stale, refresh, stale_list, unmark_stale
            stems = [c.stem for c in chapters(args.chapters)] if args.chapters else []
            if stems and args.remove:
                for stem in stems:
                    unmark_stale(stem)
            elif stems:
                if not args.why:
                    raise UserError("say what changed: stale NN --why '...'")
                mark_stale(stems, args.why)
            if stems:
                refresh(args.chapters)
            for stem, e in stale_list().items():
                print(f"{stem}: outputs from {e.get('outputs_from')} ({e.get('why')})")
            return 0
        if args.cmd == "build":
            from .site import build
            return 1 if build(args.args) else 0
        if args.cmd == "check":
            from pathlib import Path

            from .notebooks import check
            bad = check(Path(args.dir).resolve() if args.dir else None, args.chapters)
            if bad:
                print(f"error: {bad} chapter(s) stale or failing: re-execute them "
                      "(python -m acgan_lib.book execute --scale ... --chapters NN)", file=sys.stderr)
            return 1 if bad else 0
        if args.cmd == "screenshot":
            from .site import DEFAULT_SCREENSHOT_CHAPTERS, screenshot
            return 1 if screenshot(args.chapters or DEFAULT_SCREENSHOT_CHAPTERS) else 0
        if args.cmd == "import-device":
            from tools.device.importer import import_device
            return 1 if import_device(args.dir, args.into, args.allow_cpu) else 0
        if args.cmd == "report":
            from .report import main_report
            return main_report(args.format, args.out, args.results)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
