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
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

from .utils import UserError, file_hash


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


# ----------------------------------------------------------------------------- CIFAR-10
# The files are accepted when every one of them matches either torchvision's md5 sums (the
# official archive) or the sha256 sums of the project's shared rebuild (../shared/datasets:
# training set pixel-exact, test images 0-999 exact, 1000-9999 from JPEG copies). The list
# lives here, in the library, so that editing the data and a hash file beside it together
# cannot make a different copy pass.
_CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
CIFAR10_COPIES = {
    "official": {"hash": "md5", "exact_test": 10_000, "files": {
        **{name: md5 for name, md5 in torchvision.datasets.CIFAR10.train_list},
        **{name: md5 for name, md5 in torchvision.datasets.CIFAR10.test_list},
        "batches.meta": torchvision.datasets.CIFAR10.meta["md5"]}},
    "shared-rebuild": {"hash": "sha256", "exact_test": 1_000, "files": {
        "data_batch_1": "b101cdf1ce61bbb342a756e2cc849baa4f8c78725ba6c90ec3de34617c6f0bd9",
        "data_batch_2": "48064fe309abfab1623c368f79a646f2b1113929a4b5de8494efe9e8ace39b2d",
        "data_batch_3": "c67122d2b49ba4f6d2cca7b9e79d33065d5246f44eb754a9098483409305db8a",
        "data_batch_4": "2294ca86393392a78a67f0302663ba044390571c7729c2368a6bb296fa37ebc4",
        "data_batch_5": "aa31696ef10a63c32f342b9494cf6fea3fb0fa8a0e3e135b36c436f84124d0d8",
        "test_batch": "4980d57c168acfcc8a90ec25a84efcba6f4f3486a7b16087b4f91a8f547b38c7",
        "batches.meta": "f962466ef690d46b226450fb9aadc74ba4bc64a76aa526b5827fe4bc5c7125cb"}},
}
_HASH_CACHE: dict[tuple, str] = {}


def _file_hash(path: Path, algo: str) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, algo)
    if key not in _HASH_CACHE:  # hashing 180 MB takes a second: once per file version
        _HASH_CACHE[key] = file_hash(path, algo)
    return _HASH_CACHE[key]


def identify_cifar10(folder: Path) -> str:
    """Which known copy ``folder`` holds (``"official"`` or ``"shared-rebuild"``): every file
    must match one list; otherwise a one-line :class:`UserError` naming the first bad file."""
    for name in _CIFAR_FILES:
        if not (folder / name).is_file():
            raise UserError(f"cifar10 file missing: {folder / name}")
    first_bad = None
    for copy, spec in CIFAR10_COPIES.items():
        bad = [n for n in _CIFAR_FILES if _file_hash(folder / n, spec["hash"]) != spec["files"][n]]
        if not bad:
            return copy
        first_bad = first_bad or bad[0]
    raise UserError(f"cifar10 file {folder / first_bad} matches neither the official md5 nor the shared "
                    "copy's sha256; replace the folder with a good copy (ACGAN_SKIP_MD5=1 skips the check)")


class _Refused(pickle.UnpicklingError):
    """Something a CIFAR-10 file may not hold."""


class _CifarUnpickler(pickle.Unpickler):
    """Rebuilds only what a CIFAR-10 batch holds (dicts, lists, str/bytes, ints and numpy
    uint8 / integer arrays, under ``numpy.core`` or ``numpy._core``); any other global (``os.system``, ``builtins.eval``...) is refused
    before it is called, so a crafted pickle cannot run code, with or without the hash check."""

    _ARRAY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
    _DTYPES = {"u1", "uint8", "i8", "int64", "i4", "int32"}

    def find_class(self, module: str, name: str):
        if module in self._ARRAY_MODULES and name == "_reconstruct":
            return _safe_reconstruct
        if module == "numpy" and name == "ndarray":
            return np.ndarray
        if module == "numpy" and name == "dtype":
            return _safe_dtype
        if module == "_codecs" and name == "encode":  # bytes in a protocol-2 pickle written by Python 3
            return _latin1_bytes
        raise _Refused(f"global '{module}.{name}' is not allowed in a CIFAR-10 file")


def _safe_reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise _Refused("only plain numpy arrays are allowed in a CIFAR-10 file")
    # numpy pickles an empty placeholder here (dtype code b"b"); BUILD then sets the real
    # shape, dtype (through _safe_dtype) and bytes with ndarray.__setstate__
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _latin1_bytes(text, encoding="latin1"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused("only latin-1 byte strings are allowed in a CIFAR-10 file")
    return text.encode("latin1")


def _safe_dtype(name, *args):
    name = name.decode("latin1") if isinstance(name, bytes) else name
    if name not in _CifarUnpickler._DTYPES:
        raise _Refused(f"array type '{name}' is not allowed in a CIFAR-10 file")
    return np.dtype(name, *args)


def read_cifar_pickle(path: Path) -> dict:
    """One CIFAR-10 file through :class:`_CifarUnpickler`, keys as ``str`` (the official files
    are Python 2 pickles whose keys and strings come back as bytes or latin-1)."""
    try:
        with open(path, "rb") as f:
            obj = _CifarUnpickler(f, encoding="latin1").load()
    except _Refused as e:
        raise UserError(f"unsafe CIFAR-10 file {path} refused: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise UserError(f"corrupt CIFAR-10 file {path}: {str(e)[:160]}") from None
    if not isinstance(obj, dict):
        raise UserError(f"corrupt CIFAR-10 file {path}: expected a dict, got {type(obj).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _cifar_arrays(folder: Path, train: bool) -> tuple[np.ndarray, list]:
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    data, labels = [], []
    for name in names:
        batch = read_cifar_pickle(folder / name)
        x, y = batch.get("data"), batch.get("labels", batch.get("fine_labels"))
        if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 \
                or not isinstance(y, list) or len(y) != len(x) or not all(isinstance(v, int) for v in y):
            raise UserError(f"corrupt CIFAR-10 file {folder / name}: expected uint8 data (N, 3072) and N int labels")
        data.append(x)
        labels.extend(y)
    return np.concatenate(data).reshape(-1, 3, 32, 32), labels


def exact_test_count(name: str, root=None) -> int:
    """How many leading test images are pixel-exact: all of them for MNIST, Fashion-MNIST and
    the official CIFAR-10; 1,000 for the shared rebuild (the rest come from JPEG copies);
    0 for an unverified CIFAR-10 folder (``ACGAN_SKIP_MD5``), whose exactness is unknown."""
    info = dataset_info(name)
    if info.name != "cifar10":
        return 10_000
    try:
        return CIFAR10_COPIES[identify_cifar10(data_root(root) / info.folder)]["exact_test"]
    except UserError:
        if _skip_hash_check():
            return 0
        raise


def _skip_hash_check() -> bool:
    return os.environ.get("ACGAN_SKIP_MD5", "").lower() in ("1", "true", "yes")


def is_available(name: str, root=None) -> bool:
    """Whether the files of dataset ``name`` are under the data root (nothing is downloaded
    or verified: a cheap check for the book, which never trains on stand-in data)."""
    info = dataset_info(name)
    root = data_root(root)
    if info.name == "cifar10":
        return (root / info.folder / "data_batch_1").exists() or (root / "cifar-10-python.tar.gz").exists()
    raw = root / info.folder / "raw"
    return all((raw / f).exists() or (raw / (f + ".gz")).exists() for f in _IDX_FILES)


def _offline() -> bool:
    return os.environ.get("ACGAN_OFFLINE", "").lower() in ("1", "true", "yes")


def load_dataset(name: str, train: bool = True, root=None, download: bool | None = None,
                 verify_md5: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(images, labels)``: uint8 ``(N, C, H, W)`` and int64 ``(N,)``, on the CPU.

    ``download=None`` means: download with torchvision if files are missing, unless
    ``$ACGAN_OFFLINE`` is set. Missing or corrupt data raises a one-line :class:`UserError`
    naming the files and where to put them. ``verify_md5=None`` checks CIFAR-10's files
    against the known copies (:data:`CIFAR10_COPIES`) unless ``$ACGAN_SKIP_MD5`` is set (tests
    use synthetic files); CIFAR-10 is always read with the restricted unpickler.
    """
    if verify_md5 is None:
        verify_md5 = not _skip_hash_check()
    info = dataset_info(name)
    root = data_root(root)
    if download is None:
        download = not _offline()
    split = "train" if train else "test"
    if name == "cifar10":
        data, targets = _load_cifar(info, root, train, download, verify_md5)
        images = torch.from_numpy(np.ascontiguousarray(data))
    else:
        ds = _load_idx(info, root, train, download)
        images, targets = ds.data.unsqueeze(1).contiguous(), ds.targets
    labels = torch.as_tensor(targets, dtype=torch.int64)
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


def _load_cifar(info: DatasetInfo, root: Path, train: bool, download: bool, verify: bool):
    """CIFAR-10 arrays from ``<root>/cifar-10-batches-py`` (extracted from a verified
    ``cifar-10-python.tar.gz``, or downloaded, when the folder is absent). Every file goes
    through the restricted unpickler; ``verify`` also checks it against the known copies."""
    from torchvision.datasets import utils as tv_utils

    folder = root / info.folder
    tarball = root / torchvision.datasets.CIFAR10.filename
    tgz_md5 = torchvision.datasets.CIFAR10.tgz_md5
    need = (f"cifar10 not found: need data_batch_1..5, test_batch, batches.meta in {folder} "
            f"(or {tarball.name} in {root})")
    if not (folder.is_dir() and any(folder.iterdir())):
        if tarball.exists():
            if not tv_utils.check_integrity(str(tarball), tgz_md5):
                raise UserError(f"{tarball} fails the official md5 check; delete it and fetch it again")
            tv_utils.extract_archive(str(tarball), str(root))
        elif download:
            try:
                tv_utils.download_and_extract_archive(torchvision.datasets.CIFAR10.url, str(root),
                                                      filename=tarball.name, md5=tgz_md5)
            except Exception as e:  # offline: URLError, socket errors, md5 mismatch...
                raise UserError(f"{need}; download failed ({type(e).__name__}). Copy the files there "
                                "or set ACGAN_DATA") from None
        else:
            raise UserError(f"{need}; downloads are off. Copy the files there or set ACGAN_DATA")
    if verify:
        identify_cifar10(folder)
    elif not all((folder / n).is_file() for n in _CIFAR_FILES):
        raise UserError(f"{need}; some are missing")
    meta = read_cifar_pickle(folder / "batches.meta")
    if list(meta.get("label_names", [])) != list(info.classes):
        raise UserError(f"corrupt CIFAR-10 file {folder / 'batches.meta'}: unexpected label_names")
    return _cifar_arrays(folder, train)


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

    def gather(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The images at ``idx`` scaled to [-1, 1], and their labels."""
        return to_float(self.images[idx]), self.labels[idx]

    def batch(self, step: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.gather(self.indices(step, batch_size))


def load_training_data(cfg, device) -> tuple[DeviceData, DatasetInfo, list[int]]:
    """Everything the trainer needs from the data side of a :class:`~acgan_lib.config.Config`."""
    info = dataset_info(cfg.dataset)
    images, labels = load_dataset(cfg.dataset, train=True, root=cfg.data_root or None)
    class_ids = cfg.class_ids(len(info.classes))
    if len(class_ids) != len(info.classes) or class_ids != list(range(len(info.classes))):
        images, labels = select_classes(images, labels, class_ids)
    data = DeviceData(images, labels, device, cfg.image_size, cfg.resize, cfg.seed)
    return data, info, class_ids


def synthetic_training_data(cfg, device, n: int = 1000) -> tuple[DeviceData, DatasetInfo, list[int]]:
    """Stand-in for :func:`load_training_data`: ``n`` uniform random images of the dataset's
    shape with balanced labels (the self-check and the benchmark where the set is absent)."""
    info = dataset_info(cfg.dataset)
    class_ids = cfg.class_ids(len(info.classes))
    g = torch.Generator().manual_seed(cfg.seed)
    images = torch.randint(0, 256, (n, info.channels, info.size, info.size), generator=g, dtype=torch.uint8)
    labels = torch.arange(n) % len(class_ids)
    return DeviceData(images, labels, device, cfg.image_size, cfg.resize, cfg.seed), info, class_ids
