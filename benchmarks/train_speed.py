"""Training speed: acgan_lib's trainer (the fast path: CUDA graphs on a GPU) against a plain
PyTorch AC-GAN loop, on the same device, in one process, one after the other.

The plain loop is a fair baseline, the way common AC-GAN repositories train: a torchvision
dataset with ToTensor + Normalize behind a DataLoader (shuffle, 2 workers, pinned memory),
fp32, eager, ``cudnn.benchmark`` on, separate sigmoid / log-softmax heads with BCELoss +
NLLLoss, and ``.item()`` on both losses every step (what such loops log). It trains the
same G and D at the same batch size. The trainer is also timed eagerly (``fast_step=off``)
to show what the captured graph adds.

Targets (issue #14), printed next to the measured values as met / missed:

* the trainer is at least 10x faster than the plain loop (each preset);
* the paper's CIFAR-10 schedule, 50,000 iterations at batch 100 (``acgan-cifar10``), takes
  at most 60 s on an H100 (the arithmetic floor is ~15-25 s).

``--procs N`` also runs N trainer processes at once on the same GPU (these small models
leave most of it idle; without MPS the processes time-slice) and reports their combined
steps/s: all their timed steps over the wall time from the common start to the last one's end.

    python benchmarks/train_speed.py --json speed.json                # the three presets
    python benchmarks/train_speed.py --presets acgan-fmnist --procs 4
    python benchmarks/train_speed.py --steps 3 --batch-size 8 --presets acgan-fmnist   # CPU smoke

Data: each preset's real training set when it is under the data root, otherwise random
images of the dataset's shape (said in the output and the JSON). Not a test: the numbers
depend on the machine; nothing here is typed in by hand.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
import torchvision.transforms as T
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from acgan_lib import data as D  # noqa: E402
from acgan_lib.config import make_config  # noqa: E402
from acgan_lib.models import build_models  # noqa: E402
from acgan_lib.train import Trainer, _commit  # noqa: E402
from acgan_lib.utils import atomic_write_json, device_name, resolve_device  # noqa: E402

PRESETS = ("acgan-fmnist", "acgan-cifar10", "acbiggan-fmnist")
TARGET_RATIO = 10.0
TARGET_CIFAR_S = 60.0  # 50,000 iterations of acgan-cifar10 at batch 100, on an H100


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_cfg(preset, batch_size, device, **kw):
    over = {"device": device, **kw}
    if batch_size:
        over["batch_size"] = batch_size
    return make_config(preset, over)


def have_data(cfg) -> bool:
    return D.is_available(cfg.dataset, cfg.data_root or None)


# ---------------------------------------------------------------------------- the trainer
def bench_trainer(cfg, steps, warmup, fast_step="auto", start=None) -> tuple[float, str, float, float]:
    """(steps/s, path, t_start, t_end) of acgan_lib's trainer; ``start``: called after the
    warm-up, before the timed steps (the --procs barrier)."""
    device = resolve_device(cfg.device)
    data = None if have_data(cfg) else D.synthetic_training_data(cfg, device, n=max(10 * cfg.batch_size, 1000))
    with tempfile.TemporaryDirectory() as tmp:
        tr = Trainer(cfg, tmp, data=data, fast_step=fast_step)
        for it in range(warmup):
            tr.iteration(it)
        sync(device)
        if start:
            start()
        t0 = time.time()
        for it in range(warmup, warmup + steps):
            tr.iteration(it)
        sync(device)
        t1 = time.time()
        return steps / (t1 - t0), tr.fast_path, t0, t1


# ---------------------------------------------------------------------------- the plain loop
class ArrayImages(torch.utils.data.Dataset):
    """What torchvision's MNIST / CIFAR10 datasets do per item (a PIL image from a uint8
    array, then the transform), at the same per-item cost: the plain loop's CIFAR-10 (read
    by acgan_lib's restricted unpickler) and its stand-in where a training set is absent."""

    def __init__(self, images_u8: torch.Tensor, labels: torch.Tensor, transform):
        self.images = images_u8.permute(0, 2, 3, 1).numpy()  # N, H, W, C
        self.labels, self.transform = labels.tolist(), transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        img = self.images[i]
        img = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else np.ascontiguousarray(img))
        return self.transform(img), self.labels[i]


def plain_dataset(cfg):
    info = D.dataset_info(cfg.dataset)
    tf = T.Compose([T.Resize(cfg.image_size), T.ToTensor(), T.Normalize([0.5] * info.channels, [0.5] * info.channels)])
    if not have_data(cfg):
        n = {"cifar10": 50000}.get(cfg.dataset, 60000)
        g = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (n, info.channels, info.size, info.size), generator=g, dtype=torch.uint8)
        return ArrayImages(images, torch.arange(n) % 10, tf)
    root = D.data_root(cfg.data_root or None)
    if cfg.dataset == "cifar10":  # torchvision's CIFAR10 unpickles with the plain unpickler: never here
        images, labels = D.load_dataset("cifar10", train=True, root=cfg.data_root or None)
        return ArrayImages(images, labels, tf)
    cls = torchvision.datasets.MNIST if cfg.dataset == "mnist" else torchvision.datasets.FashionMNIST
    return cls(str(D._prepare_idx(info, root)), train=True, transform=tf, download=False)


def bench_plain(cfg, steps, warmup, workers=2) -> float:
    device = resolve_device(cfg.device)
    torch.backends.cudnn.benchmark = True
    loader = torch.utils.data.DataLoader(plain_dataset(cfg), batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                                         num_workers=workers, pin_memory=device.type == "cuda",
                                         persistent_workers=workers > 0)
    torch.manual_seed(cfg.seed)
    G, Dn = build_models(cfg, D.dataset_info(cfg.dataset).channels, 10)
    G, Dn = G.to(device), Dn.to(device)
    opt_g = torch.optim.Adam(G.parameters(), cfg.lr_g, betas=(cfg.beta1_g, cfg.beta2_g))
    opt_d = torch.optim.Adam(Dn.parameters(), cfg.lr_d, betas=(cfg.beta1_d, cfg.beta2_d))
    bce, nll = torch.nn.BCELoss(), torch.nn.NLLLoss()

    def heads(out):  # (source, class) heads; the class head is absent in DCGAN / CGAN discriminators
        return torch.sigmoid(out["adv"]), (F.log_softmax(out["cls"], 1) if "cls" in out else None)

    def cls_loss(c, y):
        return nll(c, y) if c is not None else 0.0

    def step(x, y):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        B = x.shape[0]
        z, yf = torch.randn(B, cfg.z_dim, device=device), torch.randint(0, 10, (B,), device=device)
        fake = G(z, yf)
        ones, zeros = torch.ones(B, device=device), torch.zeros(B, device=device)
        s_r, c_r = heads(Dn(x, y))
        s_f, c_f = heads(Dn(fake.detach(), yf))
        loss_d = bce(s_r, ones) + bce(s_f, zeros) + cls_loss(c_r, y) + cls_loss(c_f, yf)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        s_g, c_g = heads(Dn(fake, yf))
        loss_g = bce(s_g, ones) + cls_loss(c_g, yf)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        return loss_d.item(), loss_g.item()   # typical repos log every step

    done, t0 = 0, None
    while done < warmup + steps:
        for x, y in loader:
            if done == warmup:
                sync(device)
                t0 = time.perf_counter()
            step(x, y)
            done += 1
            if done == warmup + steps:
                break
    sync(device)
    return steps / (time.perf_counter() - t0)


# ---------------------------------------------------------------------------- several processes
def worker(a) -> None:
    """One of the --procs processes: warm up, say "ready", wait for "go", time, report."""
    cfg = make_cfg(a.worker, a.batch_size, a.device)

    def barrier():
        print("ready", flush=True)
        sys.stdin.readline()

    sps, path, t0, t1 = bench_trainer(cfg, a.steps, a.warmup, start=barrier)
    print(json.dumps({"steps_per_s": sps, "path": path, "t0": t0, "t1": t1, "steps": a.steps}), flush=True)


def bench_procs(a, preset, n) -> dict:
    cmd = [sys.executable, __file__, "--worker", preset, "--steps", str(a.steps), "--warmup", str(a.warmup),
           "--device", a.device] + (["--batch-size", str(a.batch_size)] if a.batch_size else [])
    procs = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(n)]
    for p in procs:  # all warmed up (and captured) before any is timed
        while (line := p.stdout.readline()) and line.strip() != "ready":
            pass
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    res = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"error: a --procs worker failed (exit {p.returncode})")
        res.append(json.loads(out.strip().splitlines()[-1]))
    # all started timing at "go": combined = every step done / the wall time until the last finished
    wall = max(r["t1"] for r in res) - min(r["t0"] for r in res)
    return {"procs": n, "combined_steps_per_s": sum(r["steps"] for r in res) / wall, "wall_s": wall,
            "per_process_steps_per_s": [r["steps_per_s"] for r in res], "paths": sorted({r["path"] for r in res})}


# ---------------------------------------------------------------------------- main
def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", nargs="+", default=list(PRESETS))
    p.add_argument("--steps", type=int, default=200, help="timed steps per measurement (default 200)")
    p.add_argument("--warmup", type=int, help="untimed steps first (default 10 on a GPU, 1 on CPU; the "
                                              "trainer captures its graph after 3)")
    p.add_argument("--batch-size", type=int, help="override the presets' batch size")
    p.add_argument("--device", default="auto")
    p.add_argument("--procs", type=int, default=0, help="also time N trainer processes at once (first preset)")
    p.add_argument("--json", help="write the results to this file")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    a = p.parse_args()
    device = resolve_device(a.device)
    if a.warmup is None:
        a.warmup = 10 if device.type == "cuda" else 1
    if a.worker:
        return worker(a)
    cuda_name = device_name(device)
    print(f"device: {cuda_name}; torch {torch.__version__}; {a.steps} timed steps after {a.warmup} warm-up")
    out = {"device": cuda_name, "torch": torch.__version__, "cuda": torch.version.cuda, "commit": _commit(),
           "steps": a.steps, "warmup": a.warmup, "targets": {"ratio": TARGET_RATIO, "cifar10_50k_s": TARGET_CIFAR_S},
           "presets": {}}
    for preset in a.presets:
        cfg = make_cfg(preset, a.batch_size, a.device)
        src = "real" if have_data(cfg) else f"random images of {cfg.dataset}'s shape (the training set is not here)"
        fast, path, _, _ = bench_trainer(cfg, a.steps, a.warmup)
        eager, _, _, _ = bench_trainer(cfg, a.steps, a.warmup, fast_step="off")
        # the same fast path in fp32: on a GPU bf16 autocast adds a cast per weight and
        # forward, which may cost more than it saves on these small layers
        fp32, _, _, _ = bench_trainer(make_cfg(preset, a.batch_size, a.device, precision="fp32"), a.steps, a.warmup)
        plain = bench_plain(make_cfg(preset, a.batch_size, a.device, precision="fp32"), a.steps, a.warmup)
        # chapter 9 on a lease trains at half width (tools/device/job.py DEVICE_PARAMS): its speed
        half = (bench_trainer(make_cfg(preset, a.batch_size, a.device, g_ch=48, d_ch=24), a.steps, a.warmup)[0]
                if preset.startswith("acbiggan") else None)
        ratio = fast / plain
        r = {"batch_size": cfg.batch_size, "iters": cfg.iters, "data": src, "trainer_path": path,
             "trainer_steps_per_s": fast, "trainer_precision": cfg.precision, "trainer_eager_steps_per_s": eager,
             "trainer_fp32_steps_per_s": fp32, "plain_steps_per_s": plain,
             **({"trainer_half_width_steps_per_s": half} if half else {}),
             "ratio": ratio, "ratio_target_met": ratio >= TARGET_RATIO,
             "projected_full_s": cfg.iters / fast, "projected_plain_full_s": cfg.iters / plain}
        print(f"\n{preset} (batch {cfg.batch_size}, data: {src})")
        print(f"  trainer ({path}):        {fast:9.1f} steps/s")
        print(f"  trainer (fast_step=off):  {eager:9.1f} steps/s")
        print(f"  trainer ({path}, fp32):  {fp32:9.1f} steps/s   (precision={cfg.precision} above)")
        print(f"  plain loop (fp32 eager):  {plain:9.1f} steps/s")
        if half:
            print(f"  trainer, half width (g_ch 48, d_ch 24, chapter 9 on a lease): {half:9.1f} steps/s")
        print(f"  ratio trainer / plain:    {ratio:9.2f}x   target >= {TARGET_RATIO:g}x: {verdict(ratio >= TARGET_RATIO)}")
        print(f"  full schedule ({cfg.iters} iterations): {r['projected_full_s']:.0f} s trainer, "
              f"{r['projected_plain_full_s']:.0f} s plain loop")
        if preset == "acgan-cifar10" and cfg.batch_size == 100:
            ok = r["projected_full_s"] <= TARGET_CIFAR_S
            r["cifar10_target_met"] = ok
            print(f"  50,000 iterations at batch 100: {r['projected_full_s']:.1f} s; target <= {TARGET_CIFAR_S:g} s "
                  f"on an H100: {verdict(ok)}" + ("" if "H100" in cuda_name else f" (measured on {cuda_name})"))
        out["presets"][preset] = r
    if a.procs > 0:
        preset = a.presets[0]
        pr = bench_procs(a, preset, a.procs)
        single = out["presets"][preset]["trainer_steps_per_s"]
        pr.update(preset=preset, speedup_vs_one=pr["combined_steps_per_s"] / single)
        out["parallel"] = pr
        print(f"\n{a.procs} trainer processes of {preset} at once: {pr['combined_steps_per_s']:.1f} steps/s combined "
              f"({pr['speedup_vs_one']:.2f}x one process; each: "
              f"{', '.join(f'{s:.1f}' for s in pr['per_process_steps_per_s'])})")
    if a.json:
        atomic_write_json(a.json, out)
        print(f"\nwrote {a.json}")


if __name__ == "__main__":
    main()
