"""Small helpers shared by the whole library: user-facing errors, atomic writes,
checkpoint reading, device selection and run provenance (git commit, device name)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import torch


def _auto_tqdm():
    """``tqdm.auto.tqdm``, imported without its "IProgress not found" warning: in a notebook
    kernel without ipywidgets (the GPU machine) tqdm falls back to text bars and says so on
    stderr, which would land in the executed chapter's output."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm as auto
    return auto


tqdm = _auto_tqdm()


class UserError(Exception):
    """A problem with the user's input (bad option, missing file, corrupt checkpoint...).

    The CLI prints ``error: <message>`` on one line and exits with status 2; the message
    must name the problem and, where possible, the fix."""


# ----------------------------------------------------------------------------- files
def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename,
    so that a reader (or an interrupted run) never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_hash(path, algo: str = "sha256") -> str:
    """Hex digest of a file (``algo``: any :mod:`hashlib` name), read in 1 MiB blocks: the
    one hasher of the dataset checks, pinned classifiers and FID reference statistics."""
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_torch_save(obj, path) -> None:
    """``torch.save`` to a temporary file, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temps(folder) -> list[Path]:
    """Delete the temporary files (``.<name>.<random>.tmp``) that the atomic writers above
    leave behind when the process is killed mid-save; returns what was removed."""
    gone = []
    for p in Path(folder).glob(".*.tmp"):
        if p.is_file() and re.fullmatch(r"\..+\.[A-Za-z0-9_]+\.tmp", p.name):
            p.unlink(missing_ok=True)
            gone.append(p)
    return gone


def nonfinite_tensors(*named_states: tuple[str, dict | None]) -> list[str]:
    """Names (``"G:fc.0.weight"``) of the floating-point tensors holding NaN or inf in the
    given ``(label, state_dict)`` pairs."""
    bad = []
    for label, state in named_states:
        for key, t in (state or {}).items():
            if torch.is_tensor(t) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
                bad.append(f"{label}:{key}")
    return bad


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`acgan_lib.train.train` safely
    (``weights_only=True``), turning every failure into a one-line :class:`UserError`.
    A checkpoint whose G, D or EMA weights hold NaN or inf is refused (it can only come
    from a diverged run, and every use of it, sampling, evaluation, resuming, fails)."""
    path = Path(path)
    if path.is_dir():
        for name in ("final.pt", "checkpoint.pt"):
            if (path / name).exists():
                path = path / name
                break
        else:
            raise UserError(f"no checkpoint in {path} (expected final.pt or checkpoint.pt)")
    if not path.exists():
        raise UserError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle errors, truncated zip, wrong format...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot read checkpoint {path}: corrupt or not a checkpoint ({first[:160]})") from None
    if not isinstance(ckpt, dict) or "G" not in ckpt or "config" not in ckpt:
        raise UserError(f"cannot read checkpoint {path}: not an acgan_lib checkpoint (no generator weights)")
    if not isinstance(ckpt["config"], dict) or not all(
            ckpt.get(k) is None or isinstance(ckpt[k], dict) for k in ("G", "D", "G_ema")):
        raise UserError(f"cannot read checkpoint {path}: not an acgan_lib checkpoint (malformed contents)")
    bad = nonfinite_tensors(("G", ckpt["G"]), ("D", ckpt.get("D")), ("G_ema", ckpt.get("G_ema")))
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise UserError(f"checkpoint {path} holds non-finite (NaN/inf) weights ({bad[0]}{more}): it comes from a "
                        "diverged run; use an earlier checkpoint or retrain with a lower learning rate")
    return ckpt


# ----------------------------------------------------------------------------- devices
DEVICE_RE = re.compile(r"auto|cpu|cuda(:[0-9]+)?")


def check_device_name(name: str) -> None:
    """Raise :class:`UserError` unless ``name`` is ``auto``, ``cpu``, ``cuda`` or ``cuda:N``
    (or a ``torch.device`` of those)."""
    if isinstance(name, torch.device):
        name = str(name)
    if not isinstance(name, str) or not (name == "" or DEVICE_RE.fullmatch(name)):
        raise UserError(f"unknown device '{name}' (use auto, cpu, cuda or cuda:N)")


def bf16_is_fast(device) -> bool:
    """Whether bf16 autocast speeds training up on ``device``: CUDA GPUs with bf16, and CPUs
    whose oneDNN has native bf16 kernels (AVX-512 BF16 / AMX; measured on such a CPU: 1.4-1.9x
    faster for the GAN presets). Elsewhere bf16 convolutions fall back to a slow reference
    path (measured on an AVX2-only CPU: 13x slower for the ResNet-20), so ``precision=auto``
    stays fp32 there."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; ``cpu``, ``cuda`` and ``cuda:N`` are
    checked against this machine (an absent GPU is a :class:`UserError`)."""
    check_device_name(name)
    if name in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device '{name}' requested but CUDA is not available on this machine")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise UserError(f"device '{name}' does not exist: this machine has {count} CUDA device(s), "
                            f"cuda:0..cuda:{count - 1}")
    return dev


def device_name(device: torch.device | str | None = None) -> str:
    """Human-readable name of the device, recorded next to every result."""
    device = torch.device(device) if device is not None else resolve_device("auto")
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"CPU ({cpu}, {torch.get_num_threads()} threads)"


# What the book's executor writes while it runs: not the code a result comes from, so these
# paths never make the tree "dirty" (the executor's own outputs would otherwise mark every
# chapter it executes after the first one as coming from a "-dirty" commit).
EXECUTOR_OUTPUTS = ("book/results", "book/stale.json", "book/*.ipynb")


def _pathspec() -> list[str]:
    return ["--", ":(top)"] + [f":(top,exclude,glob){p}" if "*" in p else f":(top,exclude){p}"
                               for p in EXECUTOR_OUTPUTS]


def _git(args: list[str], binary: bool = False):
    here = Path(__file__).resolve().parent
    out = subprocess.run(["git", *args], cwd=here, capture_output=True, timeout=10, text=not binary)
    return out if out.returncode == 0 else None


def source_state() -> dict | None:
    """The code the library runs from: ``{"commit": short sha, "commit_full": sha,
    "changes": [git status lines], "diff_sha256": hash of the uncommitted changes or None}``
    (the executor's outputs, :data:`EXECUTOR_OUTPUTS`, do not count), or None without git."""
    try:
        full = _git(["rev-parse", "HEAD"])
        if full is None:
            return None
        status = _git(["status", "--porcelain", "--untracked-files=all", *_pathspec()])
        changes = [ln for ln in (status.stdout.splitlines() if status else []) if ln.strip()]
        digest = None
        if changes:
            h = hashlib.sha256()
            diff = _git(["diff", "HEAD", "--binary", *_pathspec()], binary=True)
            h.update(diff.stdout if diff else b"")
            others = _git(["ls-files", "--others", "--exclude-standard", "-z", *_pathspec()])
            top = _git(["rev-parse", "--show-toplevel"])
            for name in sorted(filter(None, (others.stdout if others else "").split("\0"))):
                h.update(b"\0untracked\0" + name.encode() + b"\0")
                try:
                    h.update((Path(top.stdout.strip()) / name).read_bytes())
                except OSError:
                    pass
            digest = h.hexdigest()
        sha = full.stdout.strip()
        return {"commit": sha[:7], "commit_full": sha, "changes": changes, "diff_sha256": digest}
    except (OSError, subprocess.SubprocessError):
        return None


def git_commit(short: bool = True) -> str:
    """The library's git commit (with ``-dirty`` when the tree has changes other than the
    book executor's outputs, :data:`EXECUTOR_OUTPUTS`), or ``unknown``."""
    try:
        sha = _git(["rev-parse", "--short", "HEAD"] if short else ["rev-parse", "HEAD"])
        if sha is None:
            return "unknown"
        dirty = _git(["status", "--porcelain", "--untracked-files=no", *_pathspec()])
        return sha.stdout.strip() + ("-dirty" if dirty is not None and dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
