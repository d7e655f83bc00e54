"""TF-Inception (FID) throughput on this machine: images per second for a few batch sizes,
thread counts and precisions (fp32 vs bf16 autocast). Prints one line per setting and, with
--json, writes them. CIFAR-10-shaped random uint8 images (32 px, resized to 299 inside).

    .venv/bin/python benchmarks/fid_speed.py --threads 1 2 --batch 10 50 --precision fp32 bf16
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from acgan_lib.metrics.scores import TFInceptionPool3
from acgan_lib.utils import device_name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    ap.add_argument("--images", type=int, default=100, help="images timed per setting (after one warm-up batch)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    net = TFInceptionPool3()
    x = torch.randint(0, 256, (max(args.batch), 3, 32, 32), dtype=torch.uint8)
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for bs in args.batch:
            for prec in args.precision:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=prec == "bf16"):
                    net(x[:bs])
                    t0, n = time.perf_counter(), 0
                    while n < args.images:
                        net(x[:bs])
                        n += bs
                dt = time.perf_counter() - t0
                row = {"threads": threads, "batch": bs, "precision": prec, "images_per_s": round(n / dt, 2)}
                rows.append(row)
                print(f"threads {threads}  batch {bs:3d}  {prec}  {row['images_per_s']:7.2f} images/s  "
                      f"(50,000 images: {50_000 / row['images_per_s'] / 60:.0f} min)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device_name(torch.device("cpu")), "torch": torch.__version__, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
