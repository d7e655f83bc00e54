"""Datasets (MNIST, Fashion-MNIST, CIFAR-10) through torchvision, and a device-resident
loader that keeps the whole training set on the GPU (or CPU) as one uint8 tensor.

Data root: the ``root`` argument, else ``$ACGAN_DATA``, else ``data/`` (the repository's
``data/`` folder when run from a checkout, otherwise ``./data``). torchvision's layout is
used (``<root>/MNIST/raw``, ``<root>/FashionMNIST/raw``, ``<root>/cifar-10-batches-py``).
Offline, ``.gz`` files in ``raw/`` are extracted (into a cache folder when the root is
read-only); with internet, torchvision downloads whatever is missing.
"""
from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision

from .utils import UserError


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    folder: str             # torchvision's folder under the root
    channels: int
    size: int
    classes: tuple[str, ...]


DATASETS = {
    "mnist": DatasetInfo("mnist", "MNIST", 1, 28, tuple(str(i) for i in range(10))),
    "fashion-mnist": DatasetInfo("fashion-mnist", "FashionMNIST", 1, 28, (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")),
    "cifar10": DatasetInfo("cifar10", "cifar-10-batches-py", 3, 32, (
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck")),
}
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise UserError(f"unknown dataset '{name}' (choose from {', '.join(DATASETS)})")
    return DATASETS[name]


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Resolve the data root: argument > ``$ACGAN_DATA`` > ``data/``."""
    if root:
        return Path(root).expanduser()
    if os.environ.get("ACGAN_DATA"):
        return Path(os.environ["ACGAN_DATA"]).expanduser()
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").exists() and (repo / "acgan_lib").is_dir():
        return repo / "data"
    return Path.cwd() / "data"


def _cache_dir() -> Path:
    base = os.environ.get("ACGAN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "acgan_lib")
    return Path(base) / "datasets"


def _extract_gz(src: Path, dst: Path) -> None:
    """Decompress ``src`` to ``dst`` through a temporary file (never a half-written ``dst``)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
    try:
        with gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, length=1 << 20)
        os.replace(tmp, dst)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, PermissionError) or getattr(e, "errno", None) in (13, 30):
            raise
        raise UserError(f"corrupt archive {src}: {e}; replace it with a good copy") from None


def _prepare_idx(info: DatasetInfo, root: Path) -> Path:
    """Make sure the uncompressed idx files exist somewhere and return the root to load from."""
    raw = root / info.folder / "raw"
    if all((raw / f).exists() for f in _IDX_FILES):
        return root
    if not all((raw / f).exists() or (raw / (f + ".gz")).exists() for f in _IDX_FILES):
        return root  # missing files: the caller downloads or reports
    targets = [root]
    cache_root = _cache_dir() / info.folder
    targets.append(cache_root)
    for target in targets:
        out = target / info.folder / "raw"
        try:
            for f in _IDX_FILES:
                if not (out / f).exists():
                    src = raw / f if (raw / f).exists() else raw / (f + ".gz")
                    if src.suffix == ".gz":
                        _extract_gz(src, out / f)
                    else:
                        out.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(src, out / f)
            return target
        except PermissionError:
            continue
        except OSError as e:
            if e.errno in (13, 30):  # EACCES, EROFS: read-only root, use the cache
                continue
            raise
    raise UserError(f"cannot extract {info.name} files from {raw}: neither it nor {cache_root} is writable "
                    "(set ACGAN_CACHE to a writable folder)")


class _CIFAR10(torchvision.datasets.CIFAR10):
    """torchvision's CIFAR10 whose md5 check can be switched off (for synthetic test files)."""

    def __init__(self, *args, verify_md5: bool = True, **kwargs):
        self.verify_md5 = verify_md5
        super().__init__(*args, **kwargs)

    def _check_integrity(self) -> bool:
        if self.verify_md5:
            return super()._check_integrity()
        base = Path(self.root) / self.base_folder
        return all((base / name).exists() for name, _ in self.train_list + self.test_list)

    def _load_meta(self) -> None:
        if self.verify_md5:
            return super()._load_meta()
        import pickle
        path = Path(self.root) / self.base_folder / self.meta["filename"]
        if not path.exists():
            raise RuntimeError("Dataset metadata file not found or corrupted.")
        with open(path, "rb") as f:
            self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}


def _offline() -> bool:
    return os.environ.get("ACGAN_OFFLINE", "").lower() in ("1", "true", "yes")


def load_dataset(name: str, train: bool = True, root=None, download: bool | None = None,
                 verify_md5: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(images, labels)``: uint8 ``(N, C, H, W)`` and int64 ``(N,)``, on the CPU.

    ``download=None`` means: download with torchvision if files are missing, unless
    ``$ACGAN_OFFLINE`` is set. Missing or corrupt data raises a one-line :class:`UserError`
    naming the files and where to put them. ``verify_md5=None`` checks CIFAR-10's files
    against the official md5 sums unless ``$ACGAN_SKIP_MD5`` is set (tests use synthetic files).
    """
    if verify_md5 is None:
        verify_md5 = os.environ.get("ACGAN_SKIP_MD5", "").lower() not in ("1", "true", "yes")
    info = dataset_info(name)
    root = data_root(root)
    if download is None:
        download = not _offline()
    split = "train" if train else "test"
    if name == "cifar10":
        ds = _load_cifar(info, root, train, download, verify_md5)
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    else:
        ds = _load_idx(info, root, train, download)
        images = ds.data.unsqueeze(1).contiguous()
    labels = torch.as_tensor(ds.targets, dtype=torch.int64)
    if images.dtype != torch.uint8 or images.shape[1:] != (info.channels, info.size, info.size) \
            or len(images) != len(labels) or len(images) == 0:
        raise UserError(f"corrupt {info.name} {split} data under {root}: got images {tuple(images.shape)} "
                        f"and {len(labels)} labels; delete the files and fetch them again")
    if labels.min() < 0 or labels.max() >= len(info.classes):
        raise UserError(f"corrupt {info.name} {split} labels under {root}: values outside 0..{len(info.classes) - 1}")
    return images, labels


def _load_idx(info: DatasetInfo, root: Path, train: bool, download: bool):
    cls = torchvision.datasets.MNIST if info.name == "mnist" else torchvision.datasets.FashionMNIST
    load_root = _prepare_idx(info, root)
    raw = load_root / info.folder / "raw"
    have = all((raw / f).exists() for f in _IDX_FILES)
    if not have and download:
        try:
            cls(str(root), train=train, download=True)
            load_root = root
            have = True
        except Exception as e:  # offline: URLError, socket errors, md5 mismatch...
            reason = f"download failed ({type(e).__name__})"
    elif not have:
        reason = "downloads are off"
    if not have:
        names = ", ".join(f + "[.gz]" for f in _IDX_FILES)
        raise UserError(f"{info.name} not found: need {names} in {root / info.folder / 'raw'}; {reason}. "
                        f"Copy the files there or set ACGAN_DATA to a folder that has them")
    try:
        return cls(str(load_root), train=train, download=False)
    except Exception as e:
        raise UserError(f"corrupt {info.name} files in {raw}: {type(e).__name__}: {str(e)[:120]}; "
                        "delete them and fetch them again") from None


def _load_cifar(info: DatasetInfo, root: Path, train: bool, download: bool, verify_md5: bool):
    folder = root / info.folder
    tarball = root / "cifar-10-python.tar.gz"
    present = folder.is_dir() and any(folder.iterdir())
    try:
        if present:
            return _CIFAR10(str(root), train=train, download=False, verify_md5=verify_md5)
        if download or tarball.exists():
            # torchvision verifies the tarball's md5 and extracts it; downloads it if absent
            return _CIFAR10(str(root), train=train, download=True, verify_md5=True)
    except RuntimeError as e:
        if "corrupted" in str(e):
            raise UserError(f"CIFAR-10 files in {folder} are incomplete or fail the md5 check; delete the "
                            "folder and run again to re-download (or copy the official files)") from None
        raise UserError(f"cannot load CIFAR-10 from {folder}: {str(e)[:160]}") from None
    except UserError:
        raise
    except Exception as e:
        if present:
            raise UserError(f"corrupt CIFAR-10 files in {folder}: {type(e).__name__}: {str(e)[:120]}") from None
        raise UserError(f"cifar10 not found: need data_batch_1..5, test_batch, batches.meta in {folder} "
                        f"(or cifar-10-python.tar.gz in {root}); download failed ({type(e).__name__}). "
                        "Copy the files there or set ACGAN_DATA") from None
    raise UserError(f"cifar10 not found: need data_batch_1..5, test_batch, batches.meta in {folder} "
                    f"(or cifar-10-python.tar.gz in {root}); downloads are off. Copy the files there "
                    "or set ACGAN_DATA")


# ----------------------------------------------------------------------------- scaling
def to_float(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1] (the generator's tanh range)."""
    return images_u8.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255]."""
    return images.add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def resize(images: torch.Tensor, size: int, mode: str = "bilinear") -> torch.Tensor:
    """Resize float images to ``size`` x ``size``; antialiased when shrinking."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    if mode == "nearest":
        return F.interpolate(images, size=(size, size), mode="nearest")
    shrink = size < images.shape[-1]
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)


def resize_uint8(images_u8: torch.Tensor, size: int, mode: str = "bilinear", chunk: int = 4096) -> torch.Tensor:
    """Resize a whole uint8 dataset once (in chunks, on its device), keeping uint8 storage."""
    if images_u8.shape[-1] == size:
        return images_u8
    out = torch.empty((len(images_u8), images_u8.shape[1], size, size), dtype=torch.uint8,
                      device=images_u8.device)
    for i in range(0, len(images_u8), chunk):
        out[i:i + chunk] = to_uint8(resize(to_float(images_u8[i:i + chunk]), size, mode))
    return out


def select_classes(images, labels, class_ids: list[int]):
    """Keep only ``class_ids`` and relabel them 0..k-1 in the given order (class splitting)."""
    remap = torch.full((max(int(labels.max()), max(class_ids)) + 1,), -1, dtype=torch.int64)
    remap[torch.tensor(class_ids)] = torch.arange(len(class_ids))
    keep = remap[labels] >= 0
    return images[keep], remap[labels[keep]]


class DeviceData:
    """The whole training set on ``device`` as one uint8 tensor (resized once if asked).

    ``batch(step, batch_size)`` gathers a batch by index and scales it to [-1, 1]; the
    indices are a pure function of ``(seed, step)`` (one random permutation per epoch,
    drop-last), so a resumed run draws exactly the batches an uninterrupted one would.
    """

    def __init__(self, images_u8: torch.Tensor, labels: torch.Tensor, device="cpu",
                 image_size: int | None = None, resize_mode: str = "bilinear", seed: int = 0):
        self.device = torch.device(device)
        images_u8 = images_u8.to(self.device)
        if image_size is not None:
            images_u8 = resize_uint8(images_u8, image_size, resize_mode)
        self.images = images_u8
        self.labels = labels.to(self.device)
        self.seed = seed
        self._perm_epoch = -1
        self._perm = None

    def __len__(self) -> int:
        return len(self.labels)

    def indices(self, step: int, batch_size: int) -> torch.Tensor:
        n = len(self)
        if batch_size > n:
            raise UserError(f"batch_size {batch_size} is larger than the training set ({n} images)")
        per_epoch = n // batch_size
        epoch, k = divmod(step, per_epoch)
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(n, generator=g).to(self.device)
            self._perm_epoch = epoch
        return self._perm[k * batch_size:(k + 1) * batch_size]

    def batch(self, step: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.indices(step, batch_size)
        return to_float(self.images[idx]), self.labels[idx]


def load_training_data(cfg, device) -> tuple[DeviceData, DatasetInfo, list[int]]:
    """Everything the trainer needs from the data side of a :class:`~acgan_lib.config.Config`."""
    info = dataset_info(cfg.dataset)
    images, labels = load_dataset(cfg.dataset, train=True, root=cfg.data_root or None)
    class_ids = cfg.class_ids(len(info.classes))
    if len(class_ids) != len(info.classes) or class_ids != list(range(len(info.classes))):
        images, labels = select_classes(images, labels, class_ids)
    data = DeviceData(images, labels, device, cfg.image_size, cfg.resize, cfg.seed)
    return data, info, class_ids
