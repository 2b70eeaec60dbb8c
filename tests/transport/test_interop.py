"""Interop with the peers: images move between berth, podman and skopeo in every archive format.

Each test uses its own berth store under tmp_path. podman always runs against private stores
(--root/--runroot/--tmpdir under a temporary directory), never the machine's. A test is skipped only
when the peer binary it needs (podman, skopeo) is not installed.
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.peers

FIXTURE = Path("/var/tmp/berth-peers/busybox.tar")
FORMATS = ["docker-archive", "oci-archive", "oci-dir"]
BASE_REF = "localhost/interop/base:latest"
MULTI_REF = "localhost/interop/multi:latest"
SKOPEO_TRANSPORT = {"docker-archive": "docker-archive", "oci-archive": "oci-archive", "oci-dir": "oci"}


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (run ../shared/peers/setup)")
    return path


def run(cmd, *, check=True, input=None, timeout=120) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], input=input, capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                             f"{proc.stdout.decode(errors='replace')}\n{proc.stderr.decode(errors='replace')}")
    return proc


class Berth:
    """The real CLI against a private store."""

    def __init__(self, root: Path):
        self.root = root

    def __call__(self, *args, check=True) -> subprocess.CompletedProcess:
        return run([sys.executable, "-m", "berth", "--root", self.root, *args], check=check)

    def inspect(self, ref: str) -> dict:
        docs = json.loads(self("image", "inspect", ref).stdout)
        assert len(docs) == 1
        return docs[0]

    def layers(self, ref: str) -> list[str]:
        return self.inspect(ref)["RootFS"]["Layers"]


class Podman:
    """podman on a throwaway store: nothing outside `base` is written (no network, no events)."""

    def __init__(self, base: Path, driver: str = "overlay"):
        self.base = base
        self.driver = driver
        # conmon's attach socket lives under the runroot, and podman refuses one longer than 50 characters
        self.run_dir = Path(tempfile.mkdtemp(prefix="berth-it-", dir="/tmp"))
        self.cmd = [need("podman"), "--root", base / "proot", "--runroot", self.run_dir / "run",
                    "--tmpdir", self.run_dir / "tmp", "--storage-driver", driver,
                    "--events-backend", "none", "--cgroup-manager", "cgroupfs"]

    def __call__(self, *args, check=True) -> subprocess.CompletedProcess:
        return run([*self.cmd, *args], check=check)

    def out(self, *args) -> str:
        return self(*args).stdout.decode()

    def layers(self, ref: str) -> list[str]:
        return json.loads(self.out("image", "inspect", "--format", "{{json .RootFS.Layers}}", ref))

    def image_id(self, ref: str) -> str:
        return self.out("image", "inspect", "--format", "{{.Id}}", ref).strip()

    def names(self) -> set[str]:
        return set(self.out("images", "--format", "{{.Repository}}:{{.Tag}}").split())

    def run_container(self, image: str, *argv) -> subprocess.CompletedProcess:
        return self("run", "--rm", "--pull=never", "--network", "none", image, *argv, check=False)

    def close(self) -> None:
        """containers/storage leaves its driver directory bind-mounted; undo that so tmp dirs can go."""
        self("rm", "--all", "--force", check=False)
        prefixes = (str(self.base) + "/", str(self.run_dir) + "/")
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f]
        for m in sorted((m for m in mounts if m.startswith(prefixes)), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)


def make_busybox_rootfs(path: Path) -> None:
    """A small rootfs tar like the peers fixture: static busybox plus its applet symlinks."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    applets = subprocess.run([busybox, "--list"], capture_output=True, check=True, text=True).stdout.split()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for d in ("bin", "etc", "tmp", "root", "proc", "sys", "dev"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tf.addfile(info)
        tf.add(busybox, arcname="bin/busybox")
        for name in applets:
            if name != "busybox":
                info = tarfile.TarInfo(f"bin/{name}")
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, "busybox", 0o777
                tf.addfile(info)
        for name, data in (("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"), ("etc/group", b"root:x:0:\n")):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tf.addfile(info, io.BytesIO(data))


def archive_layer_hashes(path: Path) -> list[str]:
    """sha256 of each layer tar named by a docker-archive's manifest.json, in order."""
    with tarfile.open(path) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
        assert len(manifest) == 1
        hashes = []
        for name in manifest[0]["Layers"]:
            h = hashlib.sha256()
            f = tf.extractfile(name)
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
            hashes.append("sha256:" + h.hexdigest())
        return hashes


def archive_layer_names(path: Path, layer: str) -> list[str]:
    with tarfile.open(path) as tf:
        member = tf.extractfile(layer)
        with tarfile.open(fileobj=io.BytesIO(member.read())) as inner:
            return inner.getnames()


# ---------------------------------------------------------------- module fixtures (built once)

@pytest.fixture(scope="module")
def base_tar(tmp_path_factory) -> Path:
    if FIXTURE.is_file() and FIXTURE.stat().st_size > 0:
        return FIXTURE
    path = tmp_path_factory.mktemp("rootfs") / "busybox.tar"
    make_busybox_rootfs(path)
    return path


@pytest.fixture(scope="module")
def podman_driver(tmp_path_factory) -> str:
    """overlay, unless it does not work where the temporary stores live (then vfs)."""
    need("podman")
    work = tmp_path_factory.mktemp("podman-probe")
    with tarfile.open(work / "tiny.tar", "w") as tf:
        info = tarfile.TarInfo("hello")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"hi\n"))
    probe = Podman(work / "store")
    try:
        ok = probe("import", work / "tiny.tar", "localhost/probe", check=False).returncode == 0
    finally:
        probe.close()
    return "overlay" if ok else "vfs"


@pytest.fixture(scope="module")
def podman_base(tmp_path_factory, base_tar, podman_driver):
    """A podman store holding BASE_REF (podman import of the busybox rootfs), saved in every format."""
    work = tmp_path_factory.mktemp("podman-base")
    pm = Podman(work, podman_driver)
    pm("import", base_tar, BASE_REF)
    saved = {}
    for fmt in FORMATS:
        saved[fmt] = work / f"base.{fmt}"
        pm("save", "--format", fmt, "-o", saved[fmt], BASE_REF)
    yield {"podman": pm, "saved": saved, "layers": pm.layers(BASE_REF), "id": pm.image_id(BASE_REF)}
    pm.close()


DOCKERFILE = f"""\
FROM {BASE_REF}
RUN mkdir -p /data && echo one > /data/one && head -c 65536 /dev/urandom > /data/blob
RUN echo two > /data/two && ln -s one /data/link && ln /data/two /data/hard && chmod 0600 /data/two
RUN rm /etc/group && rm /bin/vi
"""


@pytest.fixture(scope="module")
def podman_multi(podman_base, tmp_path_factory):
    """MULTI_REF: `podman build` on top of BASE_REF with two writing layers and one deleting layer."""
    pm = podman_base["podman"]
    ctx = tmp_path_factory.mktemp("multi-ctx")
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    pm("build", "--network", "none", "--pull=never", "-t", MULTI_REF, ctx)
    archive = ctx.parent / "multi.docker-archive"
    pm("save", "--format", "docker-archive", "-o", archive, MULTI_REF)
    return {"archive": archive, "layers": pm.layers(MULTI_REF), "id": pm.image_id(MULTI_REF)}


@pytest.fixture
def bstore(tmp_path) -> Berth:
    """A private berth store for this test (named so as not to shadow tests/conftest.py's `berth`)."""
    return Berth(tmp_path / "berth")


@pytest.fixture
def fresh_podman(tmp_path, podman_driver):
    made = []

    def make() -> Podman:
        pm = Podman(tmp_path / f"podman{len(made)}", podman_driver)
        made.append(pm)
        return pm
    yield make
    for pm in made:
        pm.close()


# ---------------------------------------------------------------- (1) podman -> berth

@pytest.mark.parametrize("fmt", FORMATS)
def test_podman_save_loads_into_berth(fmt, podman_base, bstore):
    out = bstore("load", "-i", podman_base["saved"][fmt]).stdout.decode()
    assert f"Loaded image: {BASE_REF}" in out
    doc = bstore.inspect(BASE_REF)
    assert doc["RootFS"]["Layers"] == podman_base["layers"]
    assert BASE_REF in doc["RepoTags"]
    assert doc["Id"].removeprefix("sha256:") == podman_base["id"]


# ---------------------------------------------------------------- (2) berth -> podman

@pytest.mark.parametrize("fmt", FORMATS)
def test_berth_save_loads_and_runs_in_podman(fmt, bstore, fresh_podman, tmp_path):
    pm = fresh_podman()
    bstore("image", "bootstrap", "busybox")
    doc = bstore.inspect("busybox")
    out = tmp_path / f"busybox.{fmt}"
    bstore("save", "--format", fmt, "-o", out, "busybox")

    pm("load", "-i", out)
    image_id = doc["Id"].removeprefix("sha256:")
    assert pm.image_id(image_id) == image_id  # same config bytes: podman computes the same ID
    assert pm.layers(image_id) == doc["RootFS"]["Layers"]
    if fmt != "oci-dir":  # podman names an OCI directory after its path, whatever the annotations say
        assert "docker.io/library/busybox:latest" in pm.names()

    true = pm.run_container(image_id, "/bin/true")
    assert true.returncode == 0, true.stderr.decode()
    echo = pm.run_container(image_id, "/bin/echo", "hi")
    assert echo.returncode == 0, echo.stderr.decode()
    assert echo.stdout == b"hi\n"


# ---------------------------------------------------------------- (3) skopeo reads berth's output

def two_layer_archive(path: Path, base: Path) -> list[str]:
    """docker-archive of the busybox rootfs plus a layer that adds a file and whites one out."""
    top = io.BytesIO()
    with tarfile.open(fileobj=top, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in (("data/hello", b"hello\n"), ("etc/.wh.group", b"")):
            if name == "data/hello":
                d = tarfile.TarInfo("data")
                d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
                tf.addfile(d)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
    layers = [base.read_bytes(), top.getvalue()]
    diff_ids = ["sha256:" + hashlib.sha256(b).hexdigest() for b in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
                         "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"step {i}"}
                                     for i in range(2)]}).encode()
    members = [(d.split(":")[1] + ".tar", b) for d, b in zip(diff_ids, layers)]
    members.append((hashlib.sha256(config).hexdigest() + ".json", config))
    manifest = [{"Config": members[-1][0], "RepoTags": ["localhost/interop/skopeo:v1"],
                 "Layers": [m[0] for m in members[:-1]]}]
    members.append(("manifest.json", json.dumps(manifest).encode()))
    with tarfile.open(path, "w") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return diff_ids


@pytest.mark.parametrize("fmt", FORMATS)
def test_skopeo_reads_berth_output(fmt, bstore, base_tar, tmp_path):
    skopeo = need("skopeo")
    diff_ids = two_layer_archive(tmp_path / "in.tar", base_tar)
    bstore("load", "-i", tmp_path / "in.tar")
    ref = "localhost/interop/skopeo:v1"
    doc = bstore.inspect(ref)
    assert doc["RootFS"]["Layers"] == diff_ids
    out = tmp_path / f"out.{fmt}"
    bstore("save", "--format", fmt, "-o", out, ref)

    src = f"{SKOPEO_TRANSPORT[fmt]}:{out}"
    info = json.loads(run([skopeo, "inspect", src]).stdout)
    config = json.loads(run([skopeo, "inspect", "--config", src]).stdout)
    assert info["Layers"] == diff_ids  # berth writes uncompressed layers: blob digest == diff_id
    assert config["rootfs"]["diff_ids"] == diff_ids
    if fmt != "docker-archive":
        assert info["Digest"] == doc["Descriptor"]["digest"]
    # copying verifies every blob against its digest and size
    run([skopeo, "copy", "--quiet", src, f"dir:{tmp_path / 'copy'}"])
    assert {f"sha256:{p.name}" for p in (tmp_path / "copy").iterdir() if len(p.name) == 64} >= set(diff_ids)


# ---------------------------------------------------------------- (4) multi-layer round trip

def test_multilayer_roundtrip_podman_berth_podman(podman_multi, bstore, fresh_podman, tmp_path):
    src = podman_multi["archive"]
    assert len(podman_multi["layers"]) == 4

    bstore("load", "-i", src)
    doc = bstore.inspect(MULTI_REF)
    assert doc["RootFS"]["Layers"] == podman_multi["layers"]
    assert doc["Id"].removeprefix("sha256:") == podman_multi["id"]

    resave = tmp_path / "resave.tar"
    bstore("save", "-o", resave, MULTI_REF)
    podman_hashes = archive_layer_hashes(src)
    assert podman_hashes == podman_multi["layers"]
    assert archive_layer_hashes(resave) == podman_hashes  # byte-identical layer tars
    with tarfile.open(resave) as tf:
        last = json.load(tf.extractfile("manifest.json"))[0]["Layers"][-1]
    assert {"etc/.wh.group", "bin/.wh.vi"} <= set(archive_layer_names(resave, last))

    pm = fresh_podman()
    pm("load", "-i", resave)
    assert MULTI_REF in pm.names()
    assert pm.layers(MULTI_REF) == podman_multi["layers"]
    gone = pm.run_container(MULTI_REF, "test", "!", "-e", "/etc/group")
    assert gone.returncode == 0, gone.stderr.decode()
    check = pm.run_container(MULTI_REF, "sh", "-c",
                             "test ! -e /bin/vi && cat /data/one /data/two /data/link && stat -c %a /data/two "
                             "&& test /data/two -ef /data/hard && wc -c < /data/blob")
    assert check.returncode == 0, check.stderr.decode()
    assert check.stdout.split() == [b"one", b"two", b"one", b"600", b"65536"]
