"""Training speed: acgan_lib's trainer against a plain PyTorch AC-GAN loop.

The plain loop is written the way common AC-GAN repositories do it: a torchvision dataset
with ToTensor + Normalize transforms behind a DataLoader (shuffle, workers), fp32, eager,
separate sigmoid/softmax heads computed with BCELoss + NLLLoss on the same G and D. Both
loops train the same models (the paper's AC-GAN at 28 px on Fashion-MNIST by default) with
the same batch size on the same device, in one process, one after the other.

    python benchmarks/train_speed.py                       # acgan-fmnist, batch 100
    python benchmarks/train_speed.py --preset acgan-cifar10 --steps 50   # needs CIFAR-10

Prints steps/s of both and their ratio. Not a test: numbers depend on the machine.
"""
from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time

import torch
import torch.nn.functional as F
import torchvision
import torchvision.transforms as T

from acgan_lib import data as D
from acgan_lib.config import make_config
from acgan_lib.models import build_models
from acgan_lib.train import Trainer
from acgan_lib.utils import bf16_is_fast, device_name, resolve_device


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_trainer(cfg, steps, warmup) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        tr = Trainer(cfg, tmp)
        for it in range(warmup):
            tr.iteration(it)
        sync(tr.device)
        t0 = time.perf_counter()
        for it in range(warmup, warmup + steps):
            tr.iteration(it)
        float(tr.win["loss_d"])  # wait for the device
        sync(tr.device)
        return steps / (time.perf_counter() - t0)


def plain_dataset(cfg):
    info = D.dataset_info(cfg.dataset)
    root = D.data_root(cfg.data_root or None)
    tf = T.Compose([T.Resize(cfg.image_size), T.ToTensor(), T.Normalize([0.5] * info.channels, [0.5] * info.channels)])
    if cfg.dataset == "cifar10":
        return torchvision.datasets.CIFAR10(str(root), train=True, transform=tf, download=False)
    cls = torchvision.datasets.MNIST if cfg.dataset == "mnist" else torchvision.datasets.FashionMNIST
    return cls(str(D._prepare_idx(info, root)), train=True, transform=tf, download=False)


def bench_plain(cfg, steps, warmup, workers) -> float:
    device = resolve_device(cfg.device)
    ds = plain_dataset(cfg)
    loader = torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                                         num_workers=workers, pin_memory=device.type == "cuda",
                                         persistent_workers=workers > 0)
    G, Dn = build_models(cfg, D.dataset_info(cfg.dataset).channels, 10)
    G, Dn = G.to(device), Dn.to(device)
    opt_g = torch.optim.Adam(G.parameters(), cfg.lr_g, betas=(cfg.beta1_g, cfg.beta2_g))
    opt_d = torch.optim.Adam(Dn.parameters(), cfg.lr_d, betas=(cfg.beta1_d, cfg.beta2_d))
    bce, nll = torch.nn.BCELoss(), torch.nn.NLLLoss()

    def heads(out):
        return torch.sigmoid(out["adv"]), F.log_softmax(out["cls"], 1)

    def step(x, y):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        B = x.shape[0]
        z, yf = torch.randn(B, cfg.z_dim, device=device), torch.randint(0, 10, (B,), device=device)
        fake = G(z, yf)
        ones, zeros = torch.ones(B, device=device), torch.zeros(B, device=device)
        s_r, c_r = heads(Dn(x, y))
        s_f, c_f = heads(Dn(fake.detach(), yf))
        loss_d = bce(s_r, ones) + bce(s_f, zeros) + nll(c_r, y) + nll(c_f, yf)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        s_g, c_g = heads(Dn(fake, yf))
        loss_g = bce(s_g, ones) + nll(c_g, yf)
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


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="acgan-fmnist")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the plain loop")
    p.add_argument("--device", default="auto")
    p.add_argument("overrides", nargs="*", help="config overrides key=value (e.g. precision=fp32)")
    a = p.parse_args()
    cfg = make_config(a.preset, a.overrides, batch_size=a.batch_size, device=a.device)
    device = resolve_device(cfg.device)
    print(f"device: {device_name(device)}; torch {torch.__version__}; preset {a.preset}, batch {cfg.batch_size}, "
          f"{a.steps} timed steps after {a.warmup} warm-up")
    plain = bench_plain(cfg, a.steps, a.warmup, a.workers)
    auto = "bf16" if bf16_is_fast(device) else "fp32"
    speed = {}
    for prec in ("fp32", "bf16"):  # both, so the choice of precision=auto can be checked
        speed[prec] = bench_trainer(dataclasses.replace(cfg, precision=prec), a.steps, a.warmup)
        tag = " <- precision=auto" if prec == auto else ""
        print(f"acgan_lib trainer ({prec}, device-resident data): {speed[prec]:8.2f} steps/s{tag}")
    ours = speed[auto]
    print(f"plain loop (DataLoader, fp32, eager):            {plain:8.2f} steps/s")
    print(f"ratio trainer / plain: {ours / plain:.2f}x")


if __name__ == "__main__":
    main()
