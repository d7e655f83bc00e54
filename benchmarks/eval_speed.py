"""Time the evaluation suite for 10k samples (default: on the CPU).

    python benchmarks/eval_speed.py                       # untrained AC-GAN MNIST G, n=10000
    python benchmarks/eval_speed.py --checkpoint runs/cpu/acgan-fmnist/final.pt --threads 2
    python benchmarks/eval_speed.py --full-fid            # FID really on 10k samples (slow on CPU)

Prints the time of every metric of ``acgan_lib.metrics.evaluate`` and of the shared work
(sample generation, classifier passes). FID's TF-Inception at 299 px dominates on a CPU: by
default it is timed on ``--fid-n`` images and extrapolated to 10k (labelled as such).
Timing does not depend on the generator's weights, so an untrained G is fine. Needs the
dataset files ($ACGAN_DATA) and the evaluation classifier (trained and cached on first use;
``--random-classifier`` uses an untrained LeNet instead).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from acgan_lib import metrics  # noqa: E402
from acgan_lib.config import make_config  # noqa: E402
from acgan_lib.data import dataset_info, to_uint8  # noqa: E402
from acgan_lib.metrics import classifiers, scores  # noqa: E402
from acgan_lib.utils import device_name, resolve_device  # noqa: E402


def untrained_generator(preset: str, device):
    from acgan_lib.models import build_models
    from acgan_lib.sample import Generator

    cfg = make_config(preset)
    info = dataset_info(cfg.dataset)
    torch.manual_seed(0)
    G, _ = build_models(cfg, info.channels, len(info.classes))
    return Generator(G.to(device).eval(), cfg, list(range(len(info.classes))), list(info.classes), info.channels,
                     0, f"<untrained {preset}>")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="generator checkpoint (default: an untrained G of --preset)")
    p.add_argument("--preset", default="acgan-mnist")
    p.add_argument("-n", type=int, default=10000)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--fid-n", type=int, default=200, help="images to time TF-Inception on (extrapolated)")
    p.add_argument("--full-fid", action="store_true", help="run fid_inception on all n samples instead")
    p.add_argument("--random-classifier", action="store_true", help="untrained LeNet/ResNet (no training)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    from acgan_lib.sample import load_generator
    gen = load_generator(args.checkpoint, dev) if args.checkpoint else untrained_generator(args.preset, dev)
    ds = gen.cfg.dataset
    if args.random_classifier:
        clf = (classifiers.build_classifier(classifiers.ARCH_FOR[ds], ds), {"dataset": ds, "path": "<untrained>"})
    else:
        clf = classifiers.get_classifier(ds, dev)
    names = metrics.default_metrics(gen.conditional)
    if not args.full_fid:
        names = [m for m in names if m != "fid_inception"]
    print(f"device: {device_name(dev)}; load average {os.getloadavg()[0]:.1f}; n={args.n}; generator {gen.path}")
    t0 = time.perf_counter()
    res = metrics.evaluate(gen, metrics=names, n=args.n, classifier=clf, device=str(dev), progress=False,
                           fid_n=args.n)
    total = time.perf_counter() - t0
    print(f"\n{'part':<28}{'seconds':>10}")
    for k, v in res.items():
        if k.startswith("meta/time_s/"):
            print(f"{k[len('meta/time_s/'):]:<28}{v:>10.2f}")
    print(f"{'total evaluate()':<28}{total:>10.2f}   (metrics: {', '.join(names)})")
    if not args.full_fid:
        ext = scores.TFInceptionPool3().to(dev)
        x = to_uint8(torch.rand(args.fid_n, gen.channels, gen.cfg.image_size, gen.cfg.image_size) * 2 - 1).to(dev)
        ext(x[:2])  # warm-up (TorchScript optimisation pass)
        t = time.perf_counter()
        bs = 50 if dev.type == "cuda" else 10  # as in metrics._fid_inception
        for i in range(0, len(x), bs):
            ext(x[i:i + bs])
        if dev.type == "cuda":
            torch.cuda.synchronize()
        per = (time.perf_counter() - t) / len(x)
        print(f"\nTF-Inception pool3 at 299 px: {per * 1000:.1f} ms/image (measured on {args.fid_n} images)")
        print(f"fid_inception, {args.n} samples (real statistics cached): ~{per * args.n:.0f} s (extrapolated)")
        print(f"fid_inception, {args.n} samples + {args.n} real images (first run): ~{2 * per * args.n:.0f} s "
              "(extrapolated)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
