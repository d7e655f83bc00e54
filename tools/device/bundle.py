"""What a GPU lease needs that the device lacks, made here: the bundle (wheels, compact
datasets, ``bundle.json``), the size check of what a device call carries, the proof that the
wheel set is complete, and CIFAR-10's chunked carry.

The bundle (``python -m tools.device bundle``, ``make device-bundle``) fills the ignored folder
``_build/device-bundle/``::

    wheels/*.whl                 tools/device/wheels.txt, downloaded for the device's Python
    data/fashion-mnist.tar.xz    FashionMNIST/raw/*-ubyte (torchvision layout, uncompressed idx)
    data/mnist.tar.xz            only with --datasets ... mnist (its chapters run on CPU)
    bundle.json                  each file's name, size and sha256; python version; commit

and writes ``_build/manifest.json`` (commit + sha256 of every tracked file). A device call
carries ``_build/device-bundle`` and ``_build/manifest.json`` beside the working tree; the
whole must stay under the 64 MiB a call may carry, so ``bundle`` prints each part and stops
with one line above it.

CIFAR-10 (``cifar10-chunks`` / ``cifar10-receive`` / ``cifar10-assemble``): see
:func:`cifar10_assemble` for the device command sequence.
"""
from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from acgan_lib.utils import UserError, atomic_write_json, file_hash

REPO = Path(__file__).resolve().parents[2]
WHEELS_TXT = Path(__file__).with_name("wheels.txt")
BUNDLE_DEFAULT = "_build/device-bundle"
CIFAR_DEFAULT = "_build/device-cifar10"
MANIFEST = "_build/manifest.json"
LIMIT_MIB = 64          # what one device call may carry: tree + carried paths
MIB = 1 << 20
XZ_PRESET = 6           # xz -6, one thread (lzma's default)

# The device's Python packages (the tool library's device/KINDS.md, "Python packages already
# there"): a wheel's requirement on one of these is met there and does not travel.
DEVICE_PACKAGES = frozenset("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build
certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core
cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock
flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx
huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt
jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities
linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes
mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba
numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse
nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx
onnx-ir onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix
orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client
propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions
pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil
pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six
sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl
tifffile tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics
torchvision tqdm transformers treescope triton typer typing-extensions typing-inspect urllib3 uvloop
wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp""".split())
# Requirements left out on purpose (optional imports: the kernel starts without them).
OMITTED = frozenset({"debugpy", "jedi", "parso"})
# The device's side of the wheel-set proof: a fresh environment of these (the list;
# torch only with --torch, since pytorch_msssim is the one wheel that imports it).
VERIFY_DEVICE_SIDE = ["numpy", "scipy", "pandas", "matplotlib", "seaborn", "tqdm", "pillow", "pyyaml",
                      "jinja2", "pygments"]
VERIFY_TORCH = ["torch==2.11.0", "torchvision==0.26.0", "torchmetrics==1.9.0"]
# manylinux tags pip may pick for the device (glibc 2.39): pip matches each N exactly.
PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in range(39, 4, -1)] + [
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
# The files of each dataset the loader reads (acgan_lib.data), in torchvision's layout.
IDX_DATASETS = {"fashion-mnist": "FashionMNIST", "mnist": "MNIST"}
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _norm(name: str) -> str:
    """PEP 503 name: ``Jupyter_Client`` -> ``jupyter-client``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _mib(n: int) -> str:
    return f"{n / MIB:.1f} MiB"


# ----------------------------------------------------------------------------- wheels
def read_pins(path: Path = WHEELS_TXT) -> dict[str, str]:
    """``wheels.txt`` (``name==version`` lines, ``#`` comments) -> ``{name: version}``;
    one version per package."""
    pins = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)", line)
        if not m:
            raise UserError(f"{path}:{n}: expected name==version, got '{line}'")
        name = _norm(m[1])
        if name in pins:
            raise UserError(f"{path}:{n}: {name} pinned twice (one version per package)")
        pins[name] = m[2]
    return pins


def _wheel_name_version(path: Path) -> tuple[str, str]:
    from packaging.utils import parse_wheel_filename
    name, version, _, _ = parse_wheel_filename(path.name)
    return _norm(str(name)), str(version)


def wheel_requirements(path: Path) -> list[str]:
    """The ``Requires-Dist`` lines of a wheel's METADATA."""
    with zipfile.ZipFile(path) as z:
        meta = next((n for n in z.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)), None)
        if meta is None:
            raise UserError(f"{path.name} is not a wheel (no .dist-info/METADATA)")
        text = z.read(meta).decode("utf-8", errors="replace")
    return [ln.split(":", 1)[1].strip() for ln in text.split("\n\n", 1)[0].splitlines()
            if ln.startswith("Requires-Dist:")]


def check_wheel_set(wheels: list[Path], python_version: str, device=DEVICE_PACKAGES,
                    omitted=OMITTED) -> dict[str, list[str]]:
    """Prove statically that ``wheels`` plus the device's packages meet every requirement
    of every wheel on Linux/CPython ``python_version`` (extras ignored); returns what the
    wheels ask of the device's packages (``{"psutil": [">=7"], ...}``: checked there by
    :func:`unmet_device_requirements`). A requirement met by nothing, or a wheel whose
    version a requirement excludes, is a one-line :class:`UserError`."""
    from packaging.requirements import Requirement
    env = {"python_version": python_version, "python_full_version": f"{python_version}.0",
           "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
           "os_name": "posix", "implementation_name": "cpython", "platform_python_implementation": "CPython",
           "extra": ""}
    have = dict(_wheel_name_version(w) for w in wheels)
    used: dict[str, set] = {}
    for w in wheels:
        for line in wheel_requirements(w):
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            name = _norm(req.name)
            if name in have:
                if not req.specifier.contains(have[name], prereleases=True):
                    raise UserError(f"{w.name} requires {line}, but wheels.txt pins {name}=={have[name]}")
            elif name in device:
                used.setdefault(name, set()).add(str(req.specifier))
            elif name not in omitted:
                raise UserError(f"{w.name} requires {line}, which neither the device has nor "
                                f"{WHEELS_TXT.name} pins: add it to {WHEELS_TXT}")
    return {name: sorted(s for s in specs if s) for name, specs in sorted(used.items())}


def unmet_device_requirements(bundle_json: Path | str) -> list[str]:
    """On the device: the requirements of the wheels on the device's own packages (recorded
    in ``bundle.json``) that its installed versions do not meet, as one line each (``psutil
    6.1.0 installed, ipython asks >=7``); empty when all are met. The wheels are installed with
    ``--no-deps``, so nothing else checks this."""
    from importlib import metadata
    from packaging.specifiers import SpecifierSet
    try:
        info = json.loads(Path(bundle_json).read_text())
    except (OSError, ValueError):
        raise UserError(f"no readable {bundle_json}: carry the bundle (python -m tools.device bundle)") from None
    bad = []
    for name, specs in info.get("device_requirements", {}).items():
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            bad.append(f"{name} is not installed")
            continue
        for spec in specs:
            if not SpecifierSet(spec).contains(version, prereleases=True):
                bad.append(f"{name} {version} installed, the wheels ask {spec}")
    return bad


def download_wheels(folder: Path, python_version: str, pins: dict[str, str], known: dict) -> list[Path]:
    """One wheel per pin in ``folder`` for the device (CPython ``python_version``, manylinux
    x86-64), with pip. A wheel already there whose sha256 ``known`` records is reused; any
    other ``.whl`` in the folder is removed (two versions of a package stop the install)."""
    folder.mkdir(parents=True, exist_ok=True)
    found = {}
    for w in sorted(folder.glob("*.whl")):
        nv = _wheel_name_version(w)
        if pins.get(nv[0]) == nv[1] and known.get(f"wheels/{w.name}") == file_hash(w):
            found[nv[0]] = w
        else:
            w.unlink()
    missing = [f"{n}=={v}" for n, v in pins.items() if n not in found]
    if missing:
        print(f"downloading {len(missing)} wheel(s) for Python {python_version} ...", flush=True)
        with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                   "--python-version", python_version, "--implementation", "cp", "-d", tmp,
                   *[a for p in PLATFORMS for a in ("--platform", p)], *missing]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0:
                last = (out.stderr.strip().splitlines() or ["pip failed"])[-1]
                raise UserError(f"pip download failed for Python {python_version}: {last[:200]}")
            for w in Path(tmp).glob("*.whl"):
                name, version = _wheel_name_version(w)
                if pins.get(name) == version and name not in found:
                    found[name] = folder / w.name
                    shutil.move(str(w), folder / w.name)
    lost = sorted(set(pins) - set(found))
    if lost:
        raise UserError(f"no wheel came for {', '.join(lost)} (Python {python_version}): check {WHEELS_TXT}")
    return [found[n] for n in pins]


# ----------------------------------------------------------------------------- data
def _deterministic_tar(path: Path, members: dict[str, bytes]) -> None:
    """Write ``members`` (name -> bytes) as ``path`` (tar, xz -6), byte-reproducible (no
    times or owners), through a temporary file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with tarfile.open(tmp, "w:xz", preset=XZ_PRESET, format=tarfile.PAX_FORMAT) as tf:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                tf.addfile(info, io.BytesIO(data))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _idx_members(name: str, root: Path) -> dict[str, bytes]:
    """The uncompressed idx files of ``name`` under ``root`` (``*-ubyte`` or ``*-ubyte.gz``)."""
    import gzip
    folder = IDX_DATASETS[name]
    raw = root / folder / "raw"
    out = {}
    for f in IDX_FILES:
        if (raw / f).is_file():
            out[f"{folder}/raw/{f}"] = (raw / f).read_bytes()
        elif (raw / f"{f}.gz").is_file():
            try:
                out[f"{folder}/raw/{f}"] = gzip.decompress((raw / f"{f}.gz").read_bytes())
            except (OSError, EOFError) as e:
                raise UserError(f"corrupt archive {raw / f}.gz: {e}") from None
        else:
            raise UserError(f"{name} not found: need {f}[.gz] in {raw} (set ACGAN_DATA or --data-root)")
    return out


def pack_dataset(name: str, root: Path, folder: Path, known: dict) -> tuple[Path, dict[str, str]]:
    """``folder/<name>.tar.xz`` holding the dataset's files in torchvision layout, and the
    sha256 of each; reused when ``known`` (the last bundle.json) records the same contents and
    the archive's sha256."""
    if name not in IDX_DATASETS:
        raise UserError(f"unknown dataset '{name}' for the bundle (choose from {', '.join(IDX_DATASETS)}; "
                        "CIFAR-10 travels in chunks: python -m tools.device cifar10-chunks)")
    members = _idx_members(name, root)
    contents = {m: hashlib.sha256(b).hexdigest() for m, b in members.items()}
    path = folder / f"{name}.tar.xz"
    rel = f"data/{path.name}"
    if not (path.is_file() and known.get(rel) == file_hash(path) and known.get(f"{rel}:contents") == contents):
        print(f"packing {name} (xz -{XZ_PRESET}, one thread) ...", flush=True)
        folder.mkdir(parents=True, exist_ok=True)
        _deterministic_tar(path, members)
    return path, contents


# ----------------------------------------------------------------------------- size
def travel_sizes(repo: Path, carried: list[Path]) -> dict[str, int]:
    """Bytes a device call sends: tracked files, untracked files git does not ignore, and
    each carried path (file or folder)."""
    from tools.book.execute import git_files

    def size(p: Path) -> int:
        if p.is_file():
            return p.lstat().st_size
        return sum(f.lstat().st_size for f in p.rglob("*") if f.is_file() and not f.is_symlink())

    sizes = {"tracked files": sum(size(repo / n) for n in git_files(repo) if (repo / n).is_file()),
             "untracked files": sum(size(repo / n) for n in git_files(repo, untracked=True) if (repo / n).is_file())}
    for p in carried:
        sizes[str(p)] = size(p) if p.exists() else 0
    return sizes


def check_travel(sizes: dict[str, int], limit_mib: float = LIMIT_MIB, what: str = "a device call") -> int:
    """Print each part in MiB and the total; above ``limit_mib`` a one-line :class:`UserError`."""
    total = sum(sizes.values())
    for k, v in sizes.items():
        print(f"  {k:<40} {_mib(v):>11}")
    print(f"  {'total that travels':<40} {_mib(total):>11}  (limit {limit_mib:g} MiB)")
    if total > limit_mib * MIB:
        parts = ", ".join(f"{k} {_mib(v)}" for k, v in sizes.items())
        raise UserError(f"{what} would travel {total / MIB:.1f} MiB, over the {limit_mib:g} MiB a device "
                        f"call may carry ({parts})")
    return total


# ----------------------------------------------------------------------------- bundle
def _entry(path: Path, base: Path) -> dict:
    return {"name": path.relative_to(base).as_posix(), "size": path.stat().st_size, "sha256": file_hash(path)}


def _known(out: Path, python_version: str) -> dict:
    """``{name: sha256, name+":contents": {...}}`` from the last bundle.json (for the cache);
    empty when there is none or it was made for another Python."""
    try:
        last = json.loads((out / "bundle.json").read_text())
    except (OSError, ValueError):
        return {}
    known = {}
    for f in last.get("files", []):
        if f["name"].startswith("wheels/") and last.get("python_version") != python_version:
            continue
        known[f["name"]] = f["sha256"]
        if "contents" in f:
            known[f"{f['name']}:contents"] = f["contents"]
    return known


def bundle(out: Path | str = BUNDLE_DEFAULT, python_version: str = "3.12", datasets=("fashion-mnist",),
           wheels: bool = True, data_root: Path | str | None = None, limit_mib: float = LIMIT_MIB,
           repo: Path = REPO, manifest: Path | str | None = None) -> dict:
    """Fill ``out`` with what the device job needs (wheels, datasets, ``bundle.json``), write
    the manifest, print what a device call carrying both would send and stop above
    ``limit_mib``. The folder then holds exactly what ``bundle.json`` lists. Returns it."""
    from acgan_lib.data import data_root as resolve_root
    from tools.book.execute import write_manifest

    repo = Path(repo)
    out = Path(out) if Path(out).is_absolute() else repo / out
    manifest = Path(manifest) if manifest else repo / MANIFEST
    if not re.fullmatch(r"3\.\d+", python_version):
        raise UserError(f"bad --python-version '{python_version}': expected 3.N (the device has 3.12)")
    try:
        inside = out.resolve().relative_to(repo.resolve())
    except ValueError:
        inside = None
    if inside is not None and subprocess.run(["git", "check-ignore", "-q", str(inside)], cwd=repo).returncode != 0:
        raise UserError(f"{out} is inside the checkout but not ignored by git: it would travel twice")
    if out.exists() and any(out.iterdir()) and not (out / "bundle.json").is_file():
        raise UserError(f"{out} is not empty and holds no bundle.json: choose an empty or new folder "
                        "(the bundle folder is emptied of anything bundle.json does not list)")
    if data_root is None:
        from tools.book.execute import _ensure_data_env
        _ensure_data_env(repo)  # ../shared/datasets when $ACGAN_DATA is unset, as the executor does
    root = resolve_root(data_root)
    for name in dict.fromkeys(datasets):  # a missing dataset stops here, before anything is written
        if name in IDX_DATASETS:
            _idx_members(name, root)
    known = _known(out, python_version)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    if wheels:
        got = download_wheels(out / "wheels", python_version, read_pins(), known)
        device_side = check_wheel_set(got, python_version)
        files += [_entry(w, out) for w in got]
    else:
        shutil.rmtree(out / "wheels", ignore_errors=True)
        device_side = {}
    keep = set()
    for name in dict.fromkeys(datasets):
        path, contents = pack_dataset(name, root, out / "data", known)
        keep.add(path)
        files.append({**_entry(path, out), "dataset": name, "contents": contents})
    for stale in (out / "data").glob("*") if (out / "data").is_dir() else []:
        if stale not in keep:
            stale.unlink()
    for stale in out.iterdir():
        if stale.name not in ("wheels", "data", "bundle.json"):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    write_manifest(str(manifest))
    state = json.loads(manifest.read_text())
    info = {"python_version": python_version, "commit": state.get("commit"), "commit_full": state.get("commit_full"),
            "uncommitted_changes": bool(state.get("changes")), "wheels_txt": WHEELS_TXT.name,
            "device_requirements": device_side, "files": files}
    atomic_write_json(out / "bundle.json", info)
    print(f"bundle in {out}: {len(files)} file(s); manifest {manifest}")
    info["travel_bytes"] = check_travel(travel_sizes(repo, [out, manifest]), limit_mib)
    return info


# ----------------------------------------------------------------------------- wheel-set proof
VERIFY_SCRIPT = r"""
import importlib, json, sys, tempfile, os
mods = ["papermill", "nbclient", "nbformat", "ipykernel", "jupytext", "jupyter_client", "zmq", "tornado"]
try:
    import torch
    mods.append("pytorch_msssim")
except ImportError:
    print("pytorch_msssim: not imported (no torch in this environment; it needs only torch, which the device has)")
for m in mods:
    mod = importlib.import_module(m)
    print(f"import {m} {getattr(mod, '__version__', '')} from {os.path.dirname(mod.__file__)}")
for absent in ("debugpy", "jedi"):
    try:
        importlib.import_module(absent)
        print(f"note: {absent} is importable here")
    except ImportError:
        print(f"{absent}: absent (as on the device)")
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="python3")
try:
    reply = kc.execute_interactive("print(1 + 1)", timeout=60)
    assert reply["content"]["status"] == "ok", reply["content"]
finally:
    kc.stop_channels(); km.shutdown_kernel(now=True)
print("kernel python3 started and executed 1+1")
import nbformat, papermill, jupytext
nb = jupytext.reads("# %% tags=['parameters']\nx = 1\n# %%\nprint(x + 41)\n", fmt="py:percent")
nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
with tempfile.TemporaryDirectory() as d:
    nbformat.write(nb, f"{d}/in.ipynb")
    papermill.execute_notebook(f"{d}/in.ipynb", f"{d}/out.ipynb", parameters={"x": 1}, kernel_name="python3",
                               progress_bar=False)
    out = nbformat.read(f"{d}/out.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in out.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "42" in text, text
print("papermill executed a jupytext notebook (42)")
print("wheel set complete")
"""


def verify_wheels(python: str, bundle_dir: Path | str = BUNDLE_DEFAULT, venv: Path | str = "_build/verify-venv",
                  torch: bool = False, repo: Path = REPO) -> None:
    """The proof that the wheel set is complete: a fresh virtual environment made with
    ``python`` (the device's Python version) holding only the device's packages
    (:data:`VERIFY_DEVICE_SIDE` plus those the wheels rely on, from PyPI; torch 2.11 /
    torchvision 0.26 / torchmetrics 1.9 with ``torch``), the bundle's wheels installed with
    ``--no-index --no-deps --target``, then :data:`VERIFY_SCRIPT` with ``PYTHONPATH`` on that
    folder: imports, a ``python3`` kernel started and ``1+1`` executed, a notebook run by
    papermill. Raises :class:`UserError` with one line when a step fails."""
    bundle_dir = Path(bundle_dir) if Path(bundle_dir).is_absolute() else repo / bundle_dir
    venv = Path(venv) if Path(venv).is_absolute() else repo / venv
    try:
        info = json.loads((bundle_dir / "bundle.json").read_text())
    except (OSError, ValueError):
        raise UserError(f"no bundle in {bundle_dir}: make it first (python -m tools.device bundle)") from None
    wheels = sorted((bundle_dir / "wheels").glob("*.whl"))
    if not wheels:
        raise UserError(f"no wheels in {bundle_dir}/wheels: make the bundle without --no-wheels")
    found = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                           capture_output=True, text=True)
    if found.returncode != 0:
        raise UserError(f"cannot run {python}")
    if found.stdout.strip() != info["python_version"]:
        raise UserError(f"{python} is Python {found.stdout.strip()}, the wheels are for {info['python_version']}: "
                        f"make the bundle with --python-version {found.stdout.strip()}")

    def step(what, cmd, **kw):
        print(f"== {what}", flush=True)
        if subprocess.run(cmd, **kw).returncode != 0:
            raise UserError(f"wheel-set proof failed at: {what}")

    marker = venv / ".made-by-verify-wheels"
    if venv.exists() and not marker.is_file():
        raise UserError(f"{venv} exists and was not made by verify-wheels: choose another --venv "
                        "(it is deleted and made again)")
    shutil.rmtree(venv, ignore_errors=True)
    target = venv / "wheels-target"
    vpy = str(venv / "bin" / "python")
    step(f"fresh virtual environment with {python}", [python, "-m", "venv", str(venv)])
    marker.touch()
    device_side = sorted((set(VERIFY_DEVICE_SIDE) | set(info.get("device_requirements", {}))) - {"torch"})
    step("the device's packages from PyPI", [vpy, "-m", "pip", "install", "-q", *device_side])
    if torch:
        step("torch 2.11, torchvision 0.26, torchmetrics 1.9", [vpy, "-m", "pip", "install", "-q", *VERIFY_TORCH])
    step("the bundle's wheels (--no-index --no-deps --target)",
         [vpy, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--target", str(target),
          *map(str, wheels)])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHON", "IPYTHON"))}
    with tempfile.TemporaryDirectory() as home:
        env.update(PYTHONPATH=str(target), JUPYTER_PATH=str(target / "share" / "jupyter"), HOME=home,
                   JUPYTER_RUNTIME_DIR=home)
        step("imports, a kernel, a papermill run", [vpy, "-c", VERIFY_SCRIPT], env=env, cwd=home)


# ----------------------------------------------------------------------------- CIFAR-10 chunks
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_ARCHIVE = "cifar10.tar.xz"
CIFAR_JSON = "cifar10-chunks.json"
CIFAR_STORE = "_build/cifar10-store"


def _part_name(i: int) -> str:
    return f"{CIFAR_ARCHIVE}.part{i:02d}"


def cifar10_chunks(out: Path | str = CIFAR_DEFAULT, chunk_mib: float = 30, data_root=None, verify: bool | None = None,
                   repo: Path = REPO, limit_mib: float = LIMIT_MIB) -> dict:
    """``out/cifar10.tar.xz.partNN`` (``cifar-10-batches-py/`` as tar, xz -6, split every
    ``chunk_mib`` MiB) and ``out/cifar10-chunks.json`` (size and sha256 of each part, of the
    whole and of each file inside). The folder is checked against the known copies of
    :mod:`acgan_lib.data` first (``verify``; default: unless ``$ACGAN_SKIP_MD5``). Prints what
    each device call would carry (tree + manifest + one part) and stops above ``limit_mib``."""
    from acgan_lib.data import _skip_hash_check, data_root as resolve_root, identify_cifar10

    repo = Path(repo)
    out = Path(out) if Path(out).is_absolute() else repo / out
    if not chunk_mib > 0:
        raise UserError(f"--chunk-mib must be positive, got {chunk_mib}")
    src = resolve_root(data_root) / CIFAR_FOLDER
    if not src.is_dir():
        raise UserError(f"cifar10 not found: no {src} (set ACGAN_DATA or --data-root)")
    if verify if verify is not None else not _skip_hash_check():
        identify_cifar10(src)
    members = {f"{CIFAR_FOLDER}/{p.name}": p.read_bytes() for p in sorted(src.iterdir()) if p.is_file()}
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"{CIFAR_ARCHIVE}*"):
        old.unlink()
    whole = out / CIFAR_ARCHIVE
    print(f"packing {len(members)} CIFAR-10 files (xz -{XZ_PRESET}, one thread) ...", flush=True)
    _deterministic_tar(whole, members)
    size = max(1, int(chunk_mib * MIB))
    parts = []
    with open(whole, "rb") as f:
        for i, block in enumerate(iter(lambda: f.read(size), b"")):
            (out / _part_name(i)).write_bytes(block)
            parts.append({"name": _part_name(i), "size": len(block), "sha256": hashlib.sha256(block).hexdigest()})
    info = {"archive": CIFAR_ARCHIVE, "size": whole.stat().st_size, "sha256": file_hash(whole),
            "chunk_bytes": size, "parts": parts,
            "contents": {m: hashlib.sha256(b).hexdigest() for m, b in members.items()}}
    whole.unlink()
    atomic_write_json(out / CIFAR_JSON, info)
    print(f"{len(parts)} part(s) in {out}: " + ", ".join(f"{p['name']} {_mib(p['size'])}" for p in parts)
          + f"; whole {_mib(info['size'])}")
    biggest = max(parts, key=lambda p: p["size"])
    check_travel(travel_sizes(repo, [repo / MANIFEST, out / CIFAR_JSON, out / biggest["name"]]), limit_mib,
                 what="a call carrying one part")
    return info


def _load_chunks_json(folder: Path) -> dict:
    try:
        info = json.loads((folder / CIFAR_JSON).read_text())
        assert isinstance(info["parts"], list) and info["sha256"] and isinstance(info["contents"], dict)
        return info
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        raise UserError(f"no readable {CIFAR_JSON} in {folder}: carry it with a part "
                        "(made by python -m tools.device cifar10-chunks)") from None


def cifar10_receive(src: Path | str, store: Path | str = CIFAR_STORE) -> list[str]:
    """One chunked-carry call's work on the device: copy the parts (and the json) carried in
    ``src`` into ``store`` (an ignored folder that stays on the warm machine), each checked
    against the json; print what the store holds and what it still misses. Returns the
    names of the missing parts."""
    src, store = Path(src), Path(store)
    info = _load_chunks_json(src)
    store.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / CIFAR_JSON, store / CIFAR_JSON)
    for p in info["parts"]:
        if (src / p["name"]).is_file():
            if file_hash(src / p["name"]) != p["sha256"]:
                raise UserError(f"carried {p['name']} is corrupt (sha256 differs from {CIFAR_JSON}): carry it again")
            shutil.copyfile(src / p["name"], store / p["name"])
    have = [p["name"] for p in info["parts"] if (store / p["name"]).is_file()]
    missing = [p["name"] for p in info["parts"] if p["name"] not in have]
    print(f"store {store}: {len(have)}/{len(info['parts'])} part(s)"
          + (f"; still missing: {', '.join(missing)}" if missing else "; complete"))
    return missing


def cifar10_assemble(store: Path | str = CIFAR_STORE, dest: Path | str = "data") -> Path:
    """On the device: check every part in ``store`` against ``cifar10-chunks.json`` (sizes
    and sha256, a few seconds for ~116 MB), stop with one line naming the first missing or
    corrupt part, else reassemble, check the whole, and extract ``cifar-10-batches-py/`` into
    ``dest`` (point ``ACGAN_DATA`` there). A folder already extracted with the same contents is
    left as it is. Returns ``dest/cifar-10-batches-py``.

    The device command sequence (parts made here by ``python -m tools.device cifar10-chunks``;
    each call sends the tree + manifest + one part, under 64 MiB; a machine stays warm only 30 s
    after a call, so start each call at once after the previous one returns, and the job call
    last; a fresh machine has an empty store, so a lease that went cold starts over)::

        # call k = 0 .. N-1, carry ["_build/manifest.json", "_build/device-cifar10/cifar10-chunks.json",
        #                            "_build/device-cifar10/cifar10.tar.xz.partNN"]
        python3 -m tools.device cifar10-receive --src _build/device-cifar10 --store _build/cifar10-store
        # the job call (carry the bundle as usual) starts with
        python3 -m tools.device cifar10-assemble --store _build/cifar10-store --dest _build/device-data \\
            && export ACGAN_DATA=$PWD/_build/device-data
    """
    store, dest = Path(store), Path(dest)
    info = _load_chunks_json(store)
    whole = hashlib.sha256()
    for p in info["parts"]:
        path = store / p["name"]
        if not path.is_file():
            raise UserError(f"cifar10 part {p['name']} is missing from {store}: carry it in "
                            f"(cifar10-receive) before the job call")
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(MIB), b""):
                h.update(block)
                whole.update(block)
        if path.stat().st_size != p["size"] or h.hexdigest() != p["sha256"]:
            raise UserError(f"cifar10 part {p['name']} in {store} is corrupt (size or sha256 differs from "
                            f"{CIFAR_JSON}): carry it again")
    if whole.hexdigest() != info["sha256"]:
        raise UserError(f"the reassembled {CIFAR_ARCHIVE} does not match {CIFAR_JSON}: make the chunks again")
    final = dest / CIFAR_FOLDER
    if final.is_dir() and all((dest / m).is_file() and file_hash(dest / m) == sha
                              for m, sha in info["contents"].items()):
        print(f"{final} already holds the assembled files")
        return final
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest, prefix=".cifar10-"))
    try:
        with _Concat([store / p["name"] for p in info["parts"]]) as stream, \
                tarfile.open(fileobj=stream, mode="r|xz") as tf:
            for m in tf:
                if m.name not in info["contents"] or not m.isfile():
                    raise UserError(f"unexpected member {m.name!r} in {CIFAR_ARCHIVE}")
                data = tf.extractfile(m).read()
                if hashlib.sha256(data).hexdigest() != info["contents"][m.name]:
                    raise UserError(f"{m.name} in {CIFAR_ARCHIVE} does not match {CIFAR_JSON}")
                (tmp / m.name).parent.mkdir(parents=True, exist_ok=True)
                (tmp / m.name).write_bytes(data)
        missing = [m for m in info["contents"] if not (tmp / m).is_file()]
        if missing:
            raise UserError(f"{CIFAR_ARCHIVE} lacks {missing[0]}: make the chunks again")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp / CIFAR_FOLDER, final)
    except (tarfile.TarError, lzma.LZMAError, EOFError) as e:
        raise UserError(f"cannot unpack {CIFAR_ARCHIVE}: {e}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"cifar10 assembled from {len(info['parts'])} part(s) into {final}")
    return final


class _Concat(io.RawIOBase):
    """The parts read one after another as one file (no reassembled copy on disk)."""

    def __init__(self, paths: list[Path]):
        self._paths, self._f = list(paths), None

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        while True:
            if self._f is None:
                if not self._paths:
                    return 0
                self._f = open(self._paths.pop(0), "rb")
            n = self._f.readinto(buf)
            if n:
                return n
            self._f.close()
            self._f = None

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
        super().close()
