"""Command line: ``python -m acgan_lib {presets,train,sample,evaluate,classifier,fid-stats,selfcheck} ...``.

Errors in the user's input are printed as one line (``error: ...``) with exit status 2
(argparse's own errors too, and without the warnings the libraries emitted on the way:
those are shown only when the command succeeds); an interrupted training run saves a
checkpoint and exits with status 130. ``key=value`` overrides of ``train`` may come
before or after the flags. Each subcommand
imports the modules it runs when it runs (torchvision and the metrics take seconds to
import), so ``--help`` and bad-input errors answer at once.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings

from .utils import UserError

EPILOG_TRAIN = """examples:
  python -m acgan_lib train --preset acgan-fmnist --out runs/acgan-fmnist
  python -m acgan_lib train --preset cgan-mnist --out runs/cgan iters=2000 batch_size=64
  python -m acgan_lib train --resume runs/acgan-fmnist            # continue after a stop
  python -m acgan_lib train --resume runs/acgan-fmnist iters=30000 # train longer
overrides are key=value pairs of config fields; list them with `presets --keys`."""


def _classes(text: str) -> list[int]:
    try:
        return [int(c) for c in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad class list '{text}' (e.g. 0,1,2)") from None


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (``error: ...``, exit status 2)."""

    def error(self, message):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m acgan_lib",
                                description="Train and evaluate the GANs of the AC-GAN book.")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="{presets,train,sample,evaluate,classifier,fid-stats,selfcheck}")

    pp = sub.add_parser("presets", help="list the training presets (and config keys)",
                        description="List the training presets with the source each reproduces.")
    pp.add_argument("--keys", action="store_true", help="list every config key with its default")
    pp.add_argument("--show", metavar="NAME", help="print the full resolved config of one preset as JSON")

    pt = sub.add_parser("train", help="train a model from a preset, or resume a run",
                        description="Train a model; results go to the --out folder.",
                        epilog=EPILOG_TRAIN, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = pt.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help="preset name (see `presets`)")
    src.add_argument("--config", help="a config.json written by an earlier run")
    src.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    pt.add_argument("--out", help="output folder of a new run (must be absent or empty)")
    pt.add_argument("--no-progress", action="store_true", help="no progress bar")
    pt.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")

    ps = sub.add_parser("sample", help="draw a grid of samples from a checkpoint",
                        description="Save a PNG grid with one row per class.")
    ps.add_argument("--checkpoint", required=True, help="final.pt / checkpoint.pt or a run folder")
    ps.add_argument("--out", required=True, help="PNG file to write")
    ps.add_argument("--classes", type=_classes, help="class ids, e.g. 0,3,7 (default: all)")
    ps.add_argument("-n", type=int, default=10, help="samples per class (default 10)")
    ps.add_argument("--seed", type=int, default=0, help="seed of the latent vectors")
    ps.add_argument("--device", default="auto")
    ps.add_argument("--no-ema", action="store_true", help="use G instead of its EMA copy")

    pe = sub.add_parser("evaluate", help="compute evaluation metrics of a checkpoint",
                        description="Evaluate a generator: accuracy, classifier score, Frechet "
                                    "distance / FID, MS-SSIM diversity ...; writes a JSON file.")
    pe.add_argument("--checkpoint", help="final.pt / checkpoint.pt or a run folder (required)")
    pe.add_argument("--out", help="metrics JSON file to write (required)")
    pe.add_argument("--metrics", nargs="+", help="metrics to compute (default: all that apply; "
                                                 "see `evaluate --list`)")
    pe.add_argument("-n", type=int, default=10000, help="number of samples (default 10000)")
    pe.add_argument("--classifier", help="evaluation classifier weights (default: trained and cached on first use)")
    pe.add_argument("--device", default="auto")
    pe.add_argument("--seed", type=int, default=0)
    pe.add_argument("--no-ema", action="store_true")
    pe.add_argument("--list", action="store_true", help="list the metric names and exit")
    pc = sub.add_parser("classifier", help="train an evaluation classifier (LeNet-5 / ResNet-20)",
                        description="Train the evaluation classifier of a dataset with its recipe "
                                    "(003's LeNet-5, 004's ResNet-20) and save it with its provenance. "
                                    "Resumes from <out>.ckpt after a stop; logs to <out>.log.csv.")
    pc.add_argument("--dataset", help="mnist, fashion-mnist or cifar10 (required to train)")
    pc.add_argument("--out", help="weights file to write (.pt; required to train)")
    pc.add_argument("--pin", metavar="FILE", help="instead of training: commit FILE (and its .json / .log.csv) "
                                                  "as the library's pinned classifier of its dataset")
    pc.add_argument("--command", default="", help="with --pin: the command that trained FILE (recorded)")
    pc.add_argument("--epochs", type=int, help="epochs (default: the recipe's)")
    pc.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    pc.add_argument("--channels-last", action="store_true", help="NHWC weights and batches")
    pc.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    pc.add_argument("--device", default="auto")
    pc.add_argument("--seed", type=int, default=0)
    pf = sub.add_parser("fid-stats", help="compute the FID reference statistics of a training set",
                        description="TF-Inception pool3 statistics of N training images (random choice by "
                                    "--seed), cached for every later FID of that protocol; resumable.")
    pf.add_argument("--dataset", required=True)
    pf.add_argument("-n", type=int, required=True, help="training images (the full set: its size)")
    pf.add_argument("--seed", type=int, default=0)
    pf.add_argument("--threads", type=int)
    pf.add_argument("--device", default="cpu")
    pf.add_argument("--record", action="store_true", help="record protocol, sha256 and cost in the library")
    pk = sub.add_parser("selfcheck", help="check the fast training step against the eager one",
                        description="Run a preset's first iterations eagerly and on the fast path (CUDA graphs "
                                    "on a GPU) on the same seeds, across a noise-schedule boundary; write a JSON "
                                    "record. Exit 0: passed; 1: the check ran and failed (train with "
                                    "ACGAN_FAST_STEP=off); 2: bad input.")
    pk.add_argument("--out", required=True, help="JSON file to write")
    pk.add_argument("--preset", default="acgan-fmnist")
    pk.add_argument("--max-seconds", type=float, default=30.0, help="time limit of the check (default 30)")
    pk.add_argument("--iters", type=int, help="iterations per path (default: 8 on a GPU, 5 on CPU)")
    pk.add_argument("--device", default="auto")
    pk.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides (e.g. width=0.25)")
    return p


def cmd_selfcheck(args) -> int:
    from .train import selfcheck
    from .utils import atomic_write_json

    res = selfcheck(args.preset, args.max_seconds, args.device, args.iters, args.overrides)
    try:
        atomic_write_json(args.out, res)
    except OSError as e:
        raise UserError(f"cannot write --out {args.out}: {e.strerror or e}") from None
    err = f"{res['max_rel_err']:.2e}" if res["max_rel_err"] is not None else "n/a"
    print(f"selfcheck {'passed' if res['passed'] else 'FAILED'}: fast path {res['fast_path'] or 'n/a'} on "
          f"{res['device']}, max rel err {err} (tolerance {res['tolerance']}), {res['seconds']} s"
          + (f"; {res['reason']}" if res["reason"] else ""))
    return 0 if res["passed"] else 1


def cmd_fid_stats(args) -> int:
    import torch

    from .metrics.fid import main_fid_stats

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.n < 2:
        raise UserError(f"-n must be at least 2, got {args.n}")
    print(json.dumps(main_fid_stats(args.dataset, args.n, args.seed, args.device, args.record), indent=1))
    return 0


def cmd_classifier(args) -> int:
    import torch

    from .metrics.classifiers import pin_classifier, train_classifier

    if args.pin:
        print(json.dumps(pin_classifier(args.pin, args.command), indent=1))
        return 0
    if not args.dataset or not args.out:
        raise UserError("classifier needs --dataset and --out to train (or --pin FILE)")
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.out.endswith(".pt"):
        raise UserError(f"--out must be a .pt file, got '{args.out}'")
    _, meta = train_classifier(args.dataset, epochs=args.epochs, out=args.out, device=args.device, seed=args.seed,
                               precision=args.precision, channels_last=args.channels_last, resumable=True)
    print(json.dumps({k: v for k, v in meta.items() if k != "recipe"}, indent=1))
    print(f"wrote {args.out}")
    return 0


def cmd_presets(args) -> int:
    from .config import PRESETS, config_keys_help, make_config

    if args.show:
        print(json.dumps(make_config(args.show, init_from="<checkpoint>" if "ft" in args.show else "").to_dict(),
                         indent=2))
        return 0
    if args.keys:
        rows = config_keys_help()
        w = max(len(k) for k, _, _ in rows)
        for key, default, comment in rows:
            print(f"{key:<{w}}  {default:<12} {comment}")
        return 0
    w = max(len(n) for n in PRESETS)
    for name, p in PRESETS.items():
        print(f"{name:<{w}}  {p['source']}")
    return 0


def cmd_train(args) -> int:
    from . import train as T
    from .config import config_from_dict, make_config, parse_overrides

    progress = not args.no_progress
    if args.resume:
        if args.out:
            raise UserError("--out is not used with --resume (the run continues in its own folder)")
        out = T.resume(args.resume, progress, args.overrides)
    else:
        if not args.out:
            raise UserError("train needs --out DIR for a new run")
        if args.config:
            from pathlib import Path
            try:
                base = json.loads(Path(args.config).read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise UserError(f"cannot read config {args.config}: {e}") from None
            cfg = make_config(None, {**config_from_dict(base).to_dict(), **parse_overrides(args.overrides)})
        else:
            cfg = make_config(args.preset, args.overrides)
        out = T.train(cfg, args.out, progress)
    print(f"done: {out}/final.pt (samples in {out}/samples, log in {out}/log.csv)")
    return 0


def cmd_sample(args) -> int:
    from .sample import sample_to_png

    path = sample_to_png(args.checkpoint, args.out, args.classes, args.n, args.seed, args.device, not args.no_ema)
    print(f"wrote {path}")
    return 0


def cmd_evaluate(args) -> int:
    from . import metrics

    if args.list:
        for name, doc in metrics.list_metrics():
            print(f"{name:<18} {doc}")
        return 0
    if not args.checkpoint or not args.out:
        raise UserError("evaluate needs --checkpoint FILE and --out metrics.json")
    res = metrics.evaluate_checkpoint(args.checkpoint, args.out, metrics=args.metrics, n=args.n,
                                      classifier=args.classifier, device=args.device, seed=args.seed,
                                      ema=not args.no_ema)
    for k, v in res.items():
        if isinstance(v, float):
            print(f"{k:<40} {v:.4f}")
    print(f"wrote {args.out}")
    return 0


def _parse(parser: argparse.ArgumentParser, argv) -> argparse.Namespace:
    """``parse_args`` that also takes ``train``'s ``key=value`` overrides after flags
    (argparse alone only takes one run of positionals)."""
    args, extra = parser.parse_known_args(argv)
    if args.cmd in ("train", "selfcheck"):
        args.overrides += [a for a in extra if "=" in a and not a.startswith("-")]
        extra = [a for a in extra if not ("=" in a and not a.startswith("-"))]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv=None) -> int:
    parser = build_parser()
    args = _parse(parser, argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            code = {"presets": cmd_presets, "train": cmd_train, "sample": cmd_sample,
                    "evaluate": cmd_evaluate, "classifier": cmd_classifier,
                    "fid-stats": cmd_fid_stats, "selfcheck": cmd_selfcheck}[args.cmd](args)
        except UserError as e:  # the error alone: warnings on the way there are noise here
            print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as e:
            code = 130
            print(f"interrupted: {e}" if str(e) else "interrupted", file=sys.stderr)
    for w in caught:
        sys.stderr.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno))
    return code
