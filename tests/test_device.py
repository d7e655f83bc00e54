"""The device bundle (tools/device): bundle.json's hashes, the size check of a device call,
the manifest's file hashes, the static wheel-set check, and CIFAR-10's chunked carry
simulated call by call (tiny fake files; no network, no real datasets)."""
import gzip
import hashlib
import json
import os
import shutil
import tarfile
import zipfile

import pytest

from acgan_lib.utils import UserError, file_hash
from tools.book.execute import verify_manifest, write_manifest
from tools.device import bundle as B
from tools.device.__main__ import main as device_main


def _fake_idx_root(tmp_path):
    """A data root with Fashion-MNIST's four idx files (two gzipped, as in ../shared)."""
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    blobs = {}
    for i, name in enumerate(B.IDX_FILES):
        data = os.urandom(2000 + i)
        blobs[f"FashionMNIST/raw/{name}"] = data
        if i % 2:
            (raw / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (raw / name).write_bytes(data)
    return tmp_path / "data", blobs


def test_bundle_records_files_hashes_and_contents(tmp_path, capsys):
    root, blobs = _fake_idx_root(tmp_path)
    out = tmp_path / "bundle"
    info = B.bundle(out, "3.12", ["fashion-mnist"], wheels=False, data_root=root,
                    manifest=tmp_path / "manifest.json", limit_mib=1000)
    saved = json.loads((out / "bundle.json").read_text())
    assert saved["python_version"] == "3.12" and len(saved["commit_full"]) == 40
    (entry,) = saved["files"]
    archive = out / "data" / "fashion-mnist.tar.xz"
    assert entry["name"] == "data/fashion-mnist.tar.xz"
    assert entry["size"] == archive.stat().st_size and entry["sha256"] == file_hash(archive)
    assert entry["contents"] == {k: hashlib.sha256(v).hexdigest() for k, v in blobs.items()}
    with tarfile.open(archive) as tf:   # torchvision's layout, uncompressed idx files
        assert {m.name: tf.extractfile(m).read() for m in tf} == blobs
    assert "total that travels" in capsys.readouterr().out and info["travel_bytes"] > archive.stat().st_size
    # a second bundle reuses the archive (same contents) and drops what is no longer asked for
    (out / "wheels").mkdir()
    (out / "stray.txt").write_text("x")
    mtime = archive.stat().st_mtime_ns
    B.bundle(out, "3.12", ["fashion-mnist"], wheels=False, data_root=root, manifest=tmp_path / "manifest.json",
             limit_mib=1000)
    assert archive.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in out.iterdir()) == ["bundle.json", "data"]
    with pytest.raises(UserError, match="not empty and holds no bundle.json"):   # never empties another folder
        B.bundle(root, "3.12", [], wheels=False, manifest=tmp_path / "manifest.json")


def test_bundle_stops_above_the_limit_with_one_line(tmp_path, capsys, monkeypatch):
    root, _ = _fake_idx_root(tmp_path)
    with pytest.raises(UserError, match=r"would travel [0-9.]+ MiB, over the 1 MiB a device call may carry"):
        B.bundle(tmp_path / "b", "3.12", ["fashion-mnist"], wheels=False, data_root=root,
                 manifest=tmp_path / "m.json", limit_mib=1)
    monkeypatch.setattr(B, "MANIFEST", str(tmp_path / "m.json"))
    code = device_main(["bundle", "--no-wheels", "--out", str(tmp_path / "b"), "--data-root", str(root),
                        "--limit-mib", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and "over the 1 MiB" in err[0]
    with pytest.raises(UserError, match="mnist not found"):
        B.bundle(tmp_path / "b", "3.12", ["mnist"], wheels=False, data_root=root, manifest=tmp_path / "m.json")
    with pytest.raises(UserError, match="fashion-mnist not found"):  # a missing dataset writes nothing,
        B.bundle(tmp_path / "new", "3.12", ["fashion-mnist"], data_root=tmp_path / "no-data",  # not even wheels
                 manifest=tmp_path / "m.json")
    assert not (tmp_path / "new").exists()


def test_manifest_holds_tracked_hashes_and_verification_names_changed_files(tmp_path):
    path = write_manifest(str(tmp_path / "manifest.json"))
    files = json.loads(path.read_text())["files"]
    assert "acgan_lib/data.py" in files and "tools/book/execute.py" in files
    assert files["acgan_lib/data.py"] == file_hash(B.REPO / "acgan_lib/data.py")
    # a "device" copy of three files: one changed, one missing
    names = ["acgan_lib/data.py", "pyproject.toml", "Makefile"]
    copy = tmp_path / "copy"
    for n in names:
        (copy / n).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(B.REPO / n, copy / n)
    small = tmp_path / "small.json"
    small.write_text(json.dumps({"commit": "x", "files": {n: files[n] for n in names}}))
    assert verify_manifest(copy, small) == []
    (copy / "Makefile").write_text((copy / "Makefile").read_text() + "\n# edited\n")
    (copy / "pyproject.toml").unlink()
    assert verify_manifest(copy, small) == ["Makefile", "pyproject.toml"]
    with pytest.raises(UserError, match="unreadable manifest"):
        verify_manifest(copy, tmp_path / "none.json")


def _fake_wheel(folder, name, version, requires):
    path = folder / f"{name}-{version}-py3-none-any.whl"
    meta = "Metadata-Version: 2.1\nName: {}\nVersion: {}\n{}\n\nbody text\nRequires-Dist: ignored\n".format(
        name, version, "\n".join(f"Requires-Dist: {r}" for r in requires))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}-{version}.dist-info/METADATA", meta)
    return path


def test_wheel_set_check_and_pins(tmp_path):
    a = _fake_wheel(tmp_path, "alpha", "1.0", ["beta>=2", "torch", "debugpy>=1", "old; python_version < '3.10'",
                                               "extra-thing; extra == 'docs'", "win; sys_platform == 'win32'"])
    b = _fake_wheel(tmp_path, "beta", "2.1", ["numpy"])
    assert B.check_wheel_set([a, b], "3.12") == {"numpy": [], "torch": []}
    bj = tmp_path / "bundle.json"
    bj.write_text(json.dumps({"device_requirements": {"pytest": [">=1", "<2"], "no-such-package-here": []}}))
    unmet = B.unmet_device_requirements(bj)
    assert unmet[0].startswith("pytest ") and "ask <2" in unmet[0]
    assert unmet[1] == "no-such-package-here is not installed"
    (tmp_path / "old").mkdir()
    with pytest.raises(UserError, match="requires beta>=2, but wheels.txt pins beta==1.5"):
        B.check_wheel_set([a, _fake_wheel(tmp_path / "old", "beta", "1.5", [])], "3.12")
    c = _fake_wheel(tmp_path, "gamma", "1.0", ["not-on-the-device"])
    with pytest.raises(UserError, match="gamma-1.0.*requires not-on-the-device, which neither the device has"):
        B.check_wheel_set([c], "3.12")
    # the real pins: one version each, the device's missing packages all there, requirements.txt's versions
    pins = B.read_pins()
    for name in ("papermill", "nbclient", "nbformat", "ipykernel", "ipython", "jupyter-client", "pyzmq", "tornado",
                 "jupytext", "pytorch-msssim"):
        assert name in pins and name not in B.DEVICE_PACKAGES
    req = dict(line.split("==") for line in (B.REPO / "requirements.txt").read_text().splitlines()
               if "==" in line and not line.startswith("#"))
    for name, version in req.items():
        if B._norm(name) in pins:
            assert pins[B._norm(name)] == version, name
    bad = tmp_path / "wheels.txt"
    bad.write_text("papermill==2.7.0\nPaperMill==2.6.0\n")
    with pytest.raises(UserError, match="pinned twice"):
        B.read_pins(bad)


def _fake_cifar_root(tmp_path):
    folder = tmp_path / "data" / B.CIFAR_FOLDER
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta", "readme.html"]
    blobs = {n: os.urandom(9000) for n in names}
    for n, data in blobs.items():
        (folder / n).write_bytes(data)
    return tmp_path / "data", blobs


def test_cifar10_chunked_carry_simulated_call_by_call(tmp_path, capsys):
    root, blobs = _fake_cifar_root(tmp_path)
    here = tmp_path / "here"
    info = B.cifar10_chunks(here, chunk_mib=0.02, data_root=root, verify=False, limit_mib=1000)
    parts = [p["name"] for p in info["parts"]]
    assert len(parts) >= 3 and parts[0] == "cifar10.tar.xz.part00"
    assert sorted(p.name for p in here.iterdir()) == sorted(parts + [B.CIFAR_JSON])
    assert sum(p["size"] for p in info["parts"]) == info["size"]

    device = tmp_path / "device"              # the warm machine: the store stays between calls
    store, dest = device / "_build" / "cifar10-store", device / "_build" / "device-data"
    carried = device / "_build" / "device-cifar10"

    def call(name):                           # one device call carrying the json and one part
        shutil.rmtree(carried, ignore_errors=True)
        carried.mkdir(parents=True)
        for n in (B.CIFAR_JSON, name):
            shutil.copyfile(here / n, carried / n)
        return B.cifar10_receive(carried, store)

    for name in parts[:-1]:
        missing = call(name)
    assert missing == [parts[-1]]
    code = device_main(["cifar10-assemble", "--store", str(store), "--dest", str(dest)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"part {parts[-1]} is missing" in err[0]
    assert call(parts[-1]) == []

    good = (store / parts[1]).read_bytes()
    (store / parts[1]).write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(UserError, match=f"part {parts[1]} in .* is corrupt"):
        B.cifar10_assemble(store, dest)
    (store / parts[1]).write_bytes(good)

    final = B.cifar10_assemble(store, dest)
    assert final == dest / B.CIFAR_FOLDER
    assert {p.name: p.read_bytes() for p in final.iterdir()} == blobs
    assert not [p for p in dest.iterdir() if p.name.startswith(".")]     # no temporary folder left
    B.cifar10_assemble(store, dest)
    assert "already holds" in capsys.readouterr().out
    # a corrupt carried part is refused before it reaches the store
    carried.joinpath(parts[0]).write_bytes(b"junk")
    shutil.copyfile(here / B.CIFAR_JSON, carried / B.CIFAR_JSON)
    with pytest.raises(UserError, match=f"carried {parts[0]} is corrupt"):
        B.cifar10_receive(carried, store)
