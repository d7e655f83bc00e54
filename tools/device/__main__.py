"""``python -m tools.device {job,plan,bundle,verify-wheels,device-packages,cifar10-chunks,cifar10-receive,cifar10-assemble}``.

Errors in the input are one line (``error: ...``) with exit status 2; ``device-packages``
exits 1 when a device package is older than the wheels ask.
"""
from __future__ import annotations

import argparse
import sys

from acgan_lib.utils import UserError

from . import bundle as B

EPILOG = """examples:
  bash tools/device-job.sh                                       # device: the job (python -m tools.device job --help)
  python -m tools.device plan --budget-s 480 --speedup 1.5       # here: what that job would start
  python -m tools.device bundle                                  # = make device-bundle
  python -m tools.device bundle --python-version 3.11 --out _build/bundle-311   # CI: this machine's Python
  python -m tools.device verify-wheels --python /path/to/python3.12            # one-off proof
  python -m tools.device device-packages                         # device: versions the wheels ask for
  python -m tools.device cifar10-chunks                          # here: _build/device-cifar10/
  python -m tools.device cifar10-receive --src _build/device-cifar10            # device, one call per part
  python -m tools.device cifar10-assemble --store _build/cifar10-store --dest _build/device-data  # device"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.device",
                                description="Prepare and check what a GPU lease carries.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    sub.add_parser("job", add_help=False, help="(device) the lease's job, run by bash tools/device-job.sh "
                   "(python -m tools.device job --help)")
    pp = sub.add_parser("plan", help="what a full-scale job with this budget would start (here, no GPU needed)")
    pp.add_argument("--budget-s", type=float, default=480, help="the job's wall budget (default 480 s)")
    pp.add_argument("--speedup", type=float, default=1.0,
                    help="speed-up of processes at once (the device's --bench measures it; default 1: none)")
    pp.add_argument("--steps-per-s", type=float, help="small-model steps/s (default: estimates.json's assumed rate)")
    pp.add_argument("--chapters", nargs="+", metavar="NN", help="chapters to consider (default all)")
    pp.add_argument("--train-ahead", action="store_true", help="as the job's --train-ahead")
    pb = sub.add_parser("bundle", help="wheels + compact datasets + bundle.json for the device; prints what travels")
    pb.add_argument("--python-version", default="3.12", help="the device's Python (default 3.12)")
    pb.add_argument("--out", default=B.BUNDLE_DEFAULT, help=f"bundle folder (default {B.BUNDLE_DEFAULT})")
    pb.add_argument("--datasets", nargs="*", default=["fashion-mnist"], choices=sorted(B.IDX_DATASETS),
                    help="datasets to pack (default fashion-mnist: chapters 03-07, 09; mnist: chapters 01, 02, 08)")
    pb.add_argument("--no-wheels", action="store_true", help="leave the wheels out")
    pb.add_argument("--data-root", help="dataset root (default $ACGAN_DATA, else data/)")
    pb.add_argument("--limit-mib", type=float, default=B.LIMIT_MIB, help="what a device call may carry (64)")

    pv = sub.add_parser("verify-wheels", help="prove the wheel set complete in a fresh venv of the device's Python")
    pv.add_argument("--python", required=True, help="interpreter of the device's version (e.g. a python3.12)")
    pv.add_argument("--bundle", default=B.BUNDLE_DEFAULT)
    pv.add_argument("--venv", default="_build/verify-venv", help="scratch virtual environment (recreated)")
    pv.add_argument("--torch", action="store_true", help="also install torch 2.11 / torchvision 0.26 / "
                    "torchmetrics 1.9 (large) so that pytorch_msssim is imported too")

    pd = sub.add_parser("device-packages", help="(device) do its packages meet what the wheels ask of them?")
    pd.add_argument("--bundle", default=B.BUNDLE_DEFAULT)

    pc = sub.add_parser("cifar10-chunks", help="cifar-10-batches-py as xz parts for consecutive device calls")
    pc.add_argument("--out", default=B.CIFAR_DEFAULT)
    pc.add_argument("--chunk-mib", type=float, default=30)
    pc.add_argument("--data-root", help="dataset root (default $ACGAN_DATA, else data/)")
    pc.add_argument("--limit-mib", type=float, default=B.LIMIT_MIB)

    pr = sub.add_parser("cifar10-receive", help="(device) copy the carried part(s) into the store")
    pr.add_argument("--src", default=B.CIFAR_DEFAULT, help="carried folder holding the part and the json")
    pr.add_argument("--store", default=B.CIFAR_STORE)

    pa = sub.add_parser("cifar10-assemble", help="(device) check every part, reassemble, extract")
    pa.add_argument("--store", default=B.CIFAR_STORE)
    pa.add_argument("--dest", required=True, help="data root to extract cifar-10-batches-py/ into (ACGAN_DATA)")
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["job"]:  # the device job has its own parser (tools/device/job.py)
        from .job import main as job_main
        return job_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.cmd == "plan":
            from .job import dry_plan
            if args.budget_s <= 0 or args.speedup < 1 or (args.steps_per_s is not None and args.steps_per_s <= 0):
                raise UserError("--budget-s and --steps-per-s must be positive, --speedup at least 1")
            print("\n".join(dry_plan(args.budget_s, args.speedup, args.steps_per_s, args.chapters,
                                      train_ahead=args.train_ahead)))
        elif args.cmd == "bundle":
            B.bundle(args.out, args.python_version, args.datasets, not args.no_wheels, args.data_root, args.limit_mib)
        elif args.cmd == "verify-wheels":
            B.verify_wheels(args.python, args.bundle, args.venv, args.torch)
        elif args.cmd == "device-packages":
            unmet = B.unmet_device_requirements(f"{args.bundle}/bundle.json")
            for line in unmet:
                print(f"unmet: {line}")
            print("the device's packages meet the wheels' requirements" if not unmet else
                  f"{len(unmet)} requirement(s) of the wheels unmet by the device's packages")
            return 1 if unmet else 0
        elif args.cmd == "cifar10-chunks":
            B.cifar10_chunks(args.out, args.chunk_mib, args.data_root, limit_mib=args.limit_mib)
        elif args.cmd == "cifar10-receive":
            B.cifar10_receive(args.src, args.store)
        elif args.cmd == "cifar10-assemble":
            B.cifar10_assemble(args.store, args.dest)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
