"""Evaluation classifiers: a LeNet-5 for MNIST / Fashion-MNIST (003 Sec. 3: "LeNet
architecture", 32x32 input reached by padding the 28x28 digits, Adam 1e-3, about 99 % on
the MNIST test set) and a ResNet-20 for CIFAR-10 (004 Sec. 2.1: SGD lr 0.1, weight decay
1e-4, batch 128, 100 epochs, about 92 % test accuracy).

Every classifier takes float images in [-1, 1] at the dataset's native size, returns
logits, and has ``features(x)`` (penultimate activations, used by the Frechet distance and
the nearest-neighbour probe) and ``head`` (features -> logits).

A classifier file (``torch.save`` dict, read with ``weights_only=True``) holds the weights
and their provenance: dataset, architecture, test accuracy, epochs, training time, device.
The test accuracy is also written beside it as ``<name>.json``.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import __version__
from ..data import dataset_info, exact_test_count, load_dataset, to_float
from ..utils import (UserError, atomic_torch_save, atomic_write_json, device_name, file_hash, git_commit,
                     resolve_device, tqdm)
from .scores import classifier_score

FORMAT = "acgan_lib-classifier-1"
ARCH_FOR = {"mnist": "lenet", "fashion-mnist": "lenet", "cifar10": "resnet20"}
# training recipes: 003 (LeNet, Adam 1e-3, 30 epochs, 55k / 5k split) and 004 (ResNet-20,
# SGD 0.1 / momentum 0.9 / wd 1e-4, batch 128, 100 epochs on all 50k; cosine decay and
# crop + flip augmentation are our choices, stated in the classifier's metadata)
# val_size: training images held out (003 holds out 5k of MNIST; 004 trains on all 50k)
RECIPES = {
    "lenet": dict(epochs=30, batch_size=128, lr=1e-3, optimizer="adam", weight_decay=0.0, augment=False,
                  val_size=5000),
    "resnet20": dict(epochs=100, batch_size=128, lr=0.1, optimizer="sgd", weight_decay=1e-4, augment=True,
                     val_size=0),
}


# ----------------------------------------------------------------------------- models
class LeNet(nn.Module):
    """LeNet-5 (LeCun et al. 1998) as used in 003: the 28 px image is padded to 32 px with
    the background value (-1), conv 5x5 6 -> max-pool -> conv 5x5 16 -> max-pool -> FC 120
    -> FC 84 (the penultimate features) -> FC K. ReLU activations."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28):
        super().__init__()
        self.in_channels, self.image_size, self.num_classes = in_channels, image_size, num_classes
        self.pad = max(0, (32 - image_size) // 2)
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5), nn.ReLU(True), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(True), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(True),
            nn.Linear(120, 84), nn.ReLU(True))
        self.head = nn.Linear(84, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad:
            x = F.pad(x, [self.pad] * 4, value=-1.0)
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class _Block(nn.Module):
    """ResNet basic block; the shortcut zero-pads channels and subsamples (option A)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        out = F.relu(self.b1(self.c1(x)))
        out = self.b2(self.c2(out))
        sc = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
        if self.extra:
            sc = F.pad(sc, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return F.relu(out + sc)


class ResNet20(nn.Module):
    """ResNet-20 for CIFAR (He et al. 2016, Sec. 4.2), the classifier of 004: conv 3x3 16,
    three stages of three basic blocks (16, 32, 64 channels), global average pool (the
    64-d penultimate features), FC K."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32):
        super().__init__()
        self.in_channels, self.image_size, self.num_classes = in_channels, image_size, num_classes
        layers = [nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(True)]
        cin = 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                layers.append(_Block(cin, cout, stride if i == 0 else 1))
                cin = cout
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.features(x))


ARCHS = {"lenet": LeNet, "resnet20": ResNet20}


def build_classifier(arch: str, dataset: str) -> nn.Module:
    if arch not in ARCHS:
        raise UserError(f"unknown classifier architecture '{arch}' (choose from {', '.join(ARCHS)})")
    info = dataset_info(dataset)
    return ARCHS[arch](info.channels, len(info.classes), info.size)


def check_input(clf: nn.Module, x: torch.Tensor) -> None:
    """One-line :class:`UserError` when images do not fit the classifier."""
    want = (getattr(clf, "in_channels", x.shape[1]), getattr(clf, "image_size", x.shape[-1]))
    if x.dim() != 4 or (x.shape[1], x.shape[-2], x.shape[-1]) != (want[0], want[1], want[1]):
        raise UserError(f"images of shape {tuple(x.shape[1:])} do not fit the evaluation classifier, "
                        f"which takes ({want[0]}, {want[1]}, {want[1]}); resize them first")


@torch.no_grad()
def classify(clf: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, features)`` of float images in [-1, 1], batched on the classifier's device."""
    check_input(clf, images)
    device = next(clf.parameters()).device
    was = clf.training
    clf.eval()
    logits, feats = [], []
    for i in range(0, len(images), batch_size):
        f = clf.features(images[i:i + batch_size].to(device).float())
        feats.append(f)
        logits.append(clf.head(f))
    clf.train(was)
    if not logits:
        return torch.empty(0), torch.empty(0)
    return torch.cat(logits), torch.cat(feats)


@torch.no_grad()
def predict(clf: nn.Module, images_u8: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Top-1 labels (on the CPU) of uint8 images (converted to [-1, 1] batch by batch)."""
    device = next(clf.parameters()).device
    was = clf.training
    clf.eval()
    out = [clf(to_float(images_u8[i:i + batch_size].to(device))).argmax(1).cpu()
           for i in range(0, len(images_u8), batch_size)]
    clf.train(was)
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


@torch.no_grad()
def accuracy_of(clf: nn.Module, images_u8: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy on uint8 images (converted to [-1, 1] batch by batch)."""
    correct = (predict(clf, images_u8, batch_size) == labels.cpu()).sum()
    return correct.item() / max(1, len(labels))


# ----------------------------------------------------------------------------- training
def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random crop (pad 4, background -1) and horizontal flip, per image, on the device."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=g) < 0.5
    x = torch.where(flip.to(x.device)[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (4, 4, 4, 4), value=-1.0)
    dx, dy = torch.randint(0, 9, (2, n), generator=g).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    idx = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[idx, chans, rows, cols]


def make_optimizer(model: nn.Module, arch: str, lr: float | None = None):
    r = RECIPES[arch]
    lr = lr or r["lr"]
    if r["optimizer"] == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr)
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=r["weight_decay"])


def _autocast(device: torch.device, precision: str):
    if precision not in ("fp32", "bf16"):
        raise UserError(f"classifier precision must be fp32 or bf16, got '{precision}'")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def fit(model: nn.Module, epoch_sets, arch: str, batch_size: int | None = None, lr: float | None = None,
        seed: int = 0, progress: bool = False, desc: str = "classifier", precision: str = "fp32",
        channels_last: bool = False, checkpoint=None, log=None) -> None:
    """Train ``model`` in place for ``len(epoch_sets)`` epochs; ``epoch_sets[e]`` is the
    ``(uint8 images, labels)`` set of epoch ``e`` (so the synthetic-data strategies of 003
    can change the set per epoch; an empty set skips the epoch). Recipe from ``RECIPES``.

    ``precision="bf16"`` runs the forward pass under bf16 autocast (fp32 weights);
    ``channels_last`` stores weights and batches NHWC (faster for the ResNet-20 on CPU).
    ``checkpoint``: a file written atomically after every epoch and resumed from when it
    exists, so a long run (the ResNet-20: hours on CPU) survives a stop; ``log``: a CSV
    file that gets one line per epoch (loss and accuracy on the augmented training batches)."""
    r = RECIPES[arch]
    batch_size = batch_size or r["batch_size"]
    device = next(model.parameters()).device
    opt = make_optimizer(model, arch, lr)
    steps = sum(math.ceil(len(y) / batch_size) for _, y in epoch_sets)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps)) if r["optimizer"] == "sgd" else None
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    start = 0
    if checkpoint is not None and Path(checkpoint).exists():
        ck = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        if sched is not None:
            sched.load_state_dict(ck["sched"])
        g.set_state(ck["generator"])
        torch.set_rng_state(ck["torch_rng"])
        start = ck["epoch"]
    model.train()
    done = sum(math.ceil(len(y) / batch_size) for _, y in epoch_sets[:start])
    bar = tqdm(total=steps, initial=done, disable=not progress, desc=desc, unit="batch", dynamic_ncols=True,
               mininterval=1.0)
    for e in range(start, len(epoch_sets)):
        images, labels = epoch_sets[e]
        if len(labels) == 0:
            continue
        t0 = time.perf_counter()
        images, labels = images.to(device), labels.to(device)
        perm = torch.randperm(len(labels), generator=g).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        for i in range(0, len(labels), batch_size):
            idx = perm[i:i + batch_size]
            x = to_float(images[idx])
            if r["augment"]:
                x = _augment(x, g)
            x = x.contiguous(memory_format=fmt)
            with _autocast(device, precision):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.argmax(1) == labels[idx]).sum()
            bar.update(1)
        bar.set_postfix(epoch=e + 1, loss=f"{loss.item():.3f}", refresh=False)
        if log is not None:
            new = not Path(log).exists()
            with open(log, "a") as f:
                if new:
                    f.write("epoch,train_loss,train_accuracy,lr,seconds\n")
                f.write(f"{e + 1},{loss_sum.item() / len(labels):.5f},{correct.item() / len(labels):.5f},"
                        f"{opt.param_groups[0]['lr']:.6g},{time.perf_counter() - t0:.1f}\n")
        if checkpoint is not None:
            atomic_torch_save({"model": model.state_dict(), "opt": opt.state_dict(),
                               "sched": sched.state_dict() if sched is not None else {},
                               "generator": g.get_state(), "torch_rng": torch.get_rng_state(),
                               "epoch": e + 1}, checkpoint)
    bar.close()
    model.eval()


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion ``k / n`` (test accuracy on n images)."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def accuracy_on_test_sets(model: nn.Module, dataset: str, test_data=None, data_root=None) -> dict:
    """Test accuracy on all test images and on the pixel-exact ones (the leading
    :func:`~acgan_lib.data.exact_test_count`; CIFAR-10's shared rebuild has 1,000), with
    95 % Wilson intervals."""
    xt, yt = test_data if test_data is not None else load_dataset(dataset, False, data_root)
    n_exact = len(yt) if test_data is not None else min(len(yt), exact_test_count(dataset, data_root))
    out = {"test_accuracy": accuracy_of(model, xt, yt), "n_test": len(yt), "n_test_exact": n_exact}
    out["test_accuracy_ci95"] = list(wilson_interval(round(out["test_accuracy"] * len(yt)), len(yt)))
    if n_exact:
        acc = accuracy_of(model, xt[:n_exact], yt[:n_exact])
        out["test_accuracy_exact"] = acc
        out["test_accuracy_exact_ci95"] = list(wilson_interval(round(acc * n_exact), n_exact))
    return out


def train_classifier(dataset: str, arch: str | None = None, epochs: int | None = None, out=None,
                     device="auto", data_root=None, seed: int = 0, progress: bool = True,
                     train_data=None, test_data=None, val_size: int | None = None,
                     precision: str = "fp32", channels_last: bool = False,
                     resumable: bool = False) -> tuple[nn.Module, dict]:
    """Train the evaluation classifier of ``dataset`` and (with ``out``) save it atomically.

    ``val_size`` training images are held out for validation (the recipe's: 5k of MNIST as
    in 003; none for CIFAR-10, as in 004). No model is selected on the test set: the
    weights are those of the last epoch. ``train_data`` / ``test_data`` (uint8 images,
    labels) replace the dataset files (tests). ``resumable`` (with ``out``) keeps a
    per-epoch checkpoint ``<out>.ckpt`` and a log ``<out>.log.csv``.
    Returns ``(model, meta)``; ``meta["test_accuracy"]`` is the accuracy on the test set."""
    arch = arch or ARCH_FOR[dataset_info(dataset).name]
    epochs = RECIPES[arch]["epochs"] if epochs is None else int(epochs)
    if epochs < 1:
        raise UserError(f"classifier epochs must be >= 1, got {epochs}")
    dev = resolve_device(device)
    x, y = train_data if train_data is not None else load_dataset(dataset, True, data_root)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    val_size = min(RECIPES[arch]["val_size"] if val_size is None else val_size, len(y) // 10)
    val, tr = perm[:val_size], perm[val_size:]
    torch.manual_seed(seed)
    model = build_classifier(arch, dataset).to(dev)
    xtr, ytr = x[tr].to(dev), y[tr].to(dev)
    ckpt = log = None
    if resumable and out is not None:
        ckpt, log = Path(str(out) + ".ckpt"), Path(out).with_suffix(".log.csv")
        if not ckpt.exists():
            log.unlink(missing_ok=True)
    t0 = time.perf_counter()
    fit(model, [(xtr, ytr)] * epochs, arch, seed=seed, progress=progress, desc=f"{arch} on {dataset}",
        precision=precision, channels_last=channels_last, checkpoint=ckpt, log=log)
    model.to(memory_format=torch.contiguous_format)
    seconds = time.perf_counter() - t0
    meta = {"format": FORMAT, "arch": arch, "dataset": dataset, "epochs": epochs, "seed": seed,
            **accuracy_on_test_sets(model, dataset, test_data, data_root),
            "val_accuracy": accuracy_of(model, x[val], y[val]) if val_size else None,
            "n_train": len(tr), "train_time_s": round(seconds, 2), "device": device_name(dev),
            "threads": torch.get_num_threads(), "precision": precision, "channels_last": channels_last,
            "library_version": __version__, "commit": git_commit(), "recipe": RECIPES[arch]}
    if out is not None:
        save_classifier(model, meta, out)
        if ckpt is not None:
            ckpt.unlink(missing_ok=True)
    return model, meta


def save_classifier(model: nn.Module, meta: dict, path) -> Path:
    """Weights + provenance to ``path`` (atomic), and the provenance alone to ``path.json``."""
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_torch_save({**meta, "state": state}, path)
    atomic_write_json(path.with_suffix(".json"), meta)
    return path


def load_classifier(path, device="auto") -> tuple[nn.Module, dict]:
    """Read a classifier file written by :func:`train_classifier`; returns ``(model, meta)``."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"classifier weights not found: {path}")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"cannot read classifier {path}: corrupt or not a classifier file ({str(e)[:120]})") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT or "state" not in ck:
        raise UserError(f"cannot read classifier {path}: not an acgan_lib classifier file")
    model = build_classifier(ck["arch"], ck["dataset"])
    try:
        model.load_state_dict(ck["state"])
    except RuntimeError as e:
        raise UserError(f"classifier {path} does not match its architecture ({str(e).splitlines()[0][:120]})") from None
    meta = {k: v for k, v in ck.items() if k != "state"}
    meta["path"] = str(path)
    return model.to(resolve_device(device)).eval(), meta


# ----------------------------------------------------------------------------- pinned files
# The evaluation classifiers are committed with the library (weights, provenance JSON and
# training log in weights/, their sha256 in weights/pinned.json), so that every machine
# scores samples with the same instrument.
WEIGHTS_DIR = Path(__file__).with_name("weights")
PINNED = WEIGHTS_DIR / "pinned.json"


def pinned() -> dict:
    """``{dataset: {"file", "sha256", "command", "test_accuracy", ...}}`` of the committed classifiers."""
    return json.loads(PINNED.read_text()) if PINNED.exists() else {}


def real_data_scores(model: nn.Module, dataset: str, data_root=None, splits=("test", "train")) -> dict:
    """The classifier score (Inception-score formula, 10 splits) of the real test and
    training images: the ceiling a generator is compared with (004: 8.49 test, 9.05 train)."""
    out = {}
    for split in splits:
        x, _ = load_dataset(dataset, split == "train", data_root)
        probs = torch.cat([classify(model, to_float(x[i:i + 2000]))[0].float().softmax(1).cpu()
                           for i in range(0, len(x), 2000)])
        out[f"classifier_score_{split}"] = list(classifier_score(probs))
    return out


@torch.no_grad()
def real_data_resolution(model: nn.Module, dataset: str, data_root=None) -> dict:
    """The real-data curve of the paper's Sec. 4.1 for this instrument: accuracy of the real
    test images round-tripped through 8, 16, the native size and 64 px (bilinear, as
    :mod:`.resolution` does for samples), on all test images and on the pixel-exact ones when
    they are fewer, and the share of classes more accurate at the native size than at 8 px
    (95 % interval, images resampled within each class). A property of the classifier and the
    data, so exact whatever a generator's training scale (for CIFAR-10 the closest this book
    gets to the paper's resolution figure)."""
    from .resolution import resolution_correct, share_classes_higher, sizes_for

    x, y = load_dataset(dataset, False, data_root)
    x = to_float(x)
    sizes = sizes_for(x.shape[-1])
    correct = resolution_correct(model, x, y, sizes)
    n_exact = min(len(x), exact_test_count(dataset, data_root))
    subsets = {"all": slice(None)} | ({"exact": slice(0, n_exact)} if 0 < n_exact < len(x) else {})
    out = {"sizes": sizes, "n_test": len(x), "n_test_exact": n_exact}
    for name, sl in subsets.items():
        c = {s: v[sl] for s, v in correct.items()}
        share, ci = share_classes_higher(c[x.shape[-1]], c[min(sizes)], y[sl])
        out[name] = {**{str(s): v.float().mean().item() for s, v in c.items()},
                     "share_classes_higher_at_native": share, "share_classes_higher_at_native.ci95": ci}
    return out


def pin_classifier(path, command: str, data_root=None) -> dict:
    """Copy a trained classifier (``path`` and its ``.json`` / ``.log.csv``) into the
    library's ``weights/`` folder and record its sha256, training command, test accuracies
    and real-data classifier scores in ``pinned.json``; evaluation then uses it on every
    machine."""
    path = Path(path)
    model, meta = load_classifier(path, "cpu")
    scores = real_data_scores(model, meta["dataset"], data_root)  # first: a missing dataset copies nothing
    scores["resolution_real"] = real_data_resolution(model, meta["dataset"], data_root)
    entry = {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size, "command": command,
             **{k: meta.get(k) for k in ("arch", "epochs", "seed", "test_accuracy", "test_accuracy_ci95",
                                        "n_test_exact", "test_accuracy_exact", "test_accuracy_exact_ci95",
                                        "val_accuracy", "train_time_s", "device", "threads", "commit")},
             **scores}
    WEIGHTS_DIR.mkdir(exist_ok=True)
    for src in (path, path.with_suffix(".json"), path.with_suffix(".log.csv")):
        if src.exists():
            shutil.copyfile(src, WEIGHTS_DIR / src.name)
    table = pinned()
    table[meta["dataset"]] = entry
    atomic_write_json(PINNED, dict(sorted(table.items())))
    return entry


sha256_file = file_hash  # (path) -> sha256 hex digest


def classifier_dir() -> Path:
    """``$ACGAN_CLASSIFIERS``, else ``runs/classifiers`` of the checkout (or of the cwd):
    where classifiers trained on this machine are cached."""
    if os.environ.get("ACGAN_CLASSIFIERS"):
        return Path(os.environ["ACGAN_CLASSIFIERS"]).expanduser()
    repo = Path(__file__).resolve().parents[2]
    base = repo if (repo / "pyproject.toml").exists() else Path.cwd()
    return base / "runs" / "classifiers"


def default_path(dataset: str, arch: str | None = None) -> Path:
    arch = arch or ARCH_FOR[dataset_info(dataset).name]
    return classifier_dir() / f"{dataset}-{arch}.pt"


def get_classifier(dataset: str, device="auto", path=None, train: bool = True, progress: bool = True,
                   data_root=None, epochs: int | None = None, retrain: bool = False) -> tuple[nn.Module, dict]:
    """The evaluation classifier of ``dataset``: ``path`` if given (must exist); else the
    pinned file committed with the library, checked against its sha256 (a mismatch is a
    one-line error unless ``retrain``); else (no pinned file, ``$ACGAN_CLASSIFIERS`` set, or
    ``retrain``) the cached file of this machine, trained and saved on first use
    (``train=False``: error instead)."""
    entry = pinned().get(dataset_info(dataset).name)
    if path is not None:
        model, meta = load_classifier(path, device)
    elif entry and not retrain and not os.environ.get("ACGAN_CLASSIFIERS"):
        path = WEIGHTS_DIR / entry["file"]
        if not path.exists() or sha256_file(path) != entry["sha256"]:
            raise UserError(f"the pinned {dataset} classifier {path} is missing or does not match its sha256 "
                            f"({entry['sha256'][:12]}...); restore it (git checkout {path.name}) or retrain one "
                            "for this machine (retrain=True)")
        model, meta = load_classifier(path, device)
    else:
        path = default_path(dataset)
        if path.exists() and not (retrain and entry):
            model, meta = load_classifier(path, device)
        elif not train:
            raise UserError(f"no evaluation classifier for {dataset} at {path}; train it with "
                            f"python -m acgan_lib classifier --dataset {dataset} --out {path}")
        else:
            model, meta = train_classifier(dataset, device=device, out=path, progress=progress, data_root=data_root,
                                           epochs=epochs)
            meta["path"] = str(path)
    if meta.get("dataset") != dataset:
        raise UserError(f"classifier {path} was trained on {meta.get('dataset')}, not {dataset}")
    return model, meta
