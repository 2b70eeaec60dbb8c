"""Base images made offline from this machine: busybox (busybox-static) and debian (debootstrap)."""
from __future__ import annotations

import os
import shutil
import subprocess

from berth import archive
from berth.errors import BerthError
from berth.image.config import new_config
from berth.store import fsutil
from berth.timefmt import rfc3339

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
KINDS = ("busybox", "debian")


def _is_static(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(4096)
    return b"/lib/ld-linux" not in head and b"/lib64/ld-linux" not in head and b"ld-musl" not in head


def _busybox_rootfs(root: str) -> int:
    binary = next((p for p in BUSYBOX_CANDIDATES if os.path.exists(p) and _is_static(p)), None)
    if binary is None:
        raise BerthError("no static busybox on this machine: install Debian's busybox-static")
    epoch = int(os.stat(binary).st_mtime)
    for d, mode in (("bin", 0o755), ("etc", 0o755), ("root", 0o700), ("tmp", 0o1777), ("proc", 0o555),
                    ("sys", 0o555), ("dev", 0o755), ("home", 0o755), ("var", 0o755), ("usr", 0o755)):
        os.mkdir(os.path.join(root, d))
        os.chmod(os.path.join(root, d), mode)
    shutil.copy(binary, os.path.join(root, "bin/busybox"))
    applets = subprocess.run([binary, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for name in applets:
        if name != "busybox":
            os.symlink("busybox", os.path.join(root, "bin", name))
    with open(os.path.join(root, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")
    with open(os.path.join(root, "etc/group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")
    return epoch


def _debian_rootfs(root: str, suite: str, mirror: str | None) -> int:
    if shutil.which("debootstrap") is None:
        raise BerthError("debootstrap is not installed: apt-get install debootstrap")
    cmd = ["debootstrap", "--variant=minbase", suite, root] + ([mirror] if mirror else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise BerthError(f"debootstrap {suite} failed: {tail[0]}")
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        path = os.path.join(root, junk)
        for name in os.listdir(path):
            full = os.path.join(path, name)
            if os.path.isfile(full) and not os.path.islink(full):
                os.unlink(full)
    shutil.rmtree(os.path.join(root, "debootstrap"), ignore_errors=True)
    return int(os.environ.get("SOURCE_DATE_EPOCH") or os.stat(os.path.join(root, "var/lib/dpkg/status")).st_mtime)


def bootstrap(store, kind: str, suite: str = "bookworm", mirror: str | None = None):
    """Build the base image `kind`; returns (config bytes, [Layer])."""
    if kind not in KINDS:
        raise BerthError(f"unknown bootstrap kind {kind!r}: choose one of {', '.join(KINDS)}")
    with fsutil.Staging(store.tmp, "bootstrap-") as staging:
        rootfs = os.path.join(staging.path, "rootfs")
        os.mkdir(rootfs, 0o755)
        if kind == "busybox":
            epoch = _busybox_rootfs(rootfs)
            cmd, created_by = ["sh"], "berth image bootstrap busybox"
        else:
            epoch = _debian_rootfs(rootfs, suite, mirror)
            cmd, created_by = ["bash"], f"berth image bootstrap debian --suite {suite}"
        layer_tar = os.path.join(staging.path, "layer.tar")
        with open(layer_tar, "wb") as out:
            archive.write_tree(rootfs, out, source_date_epoch=epoch)
        layer = store.layers.add(lambda: open(layer_tar, "rb"), None)
    created = rfc3339(epoch)
    config = new_config([layer.diff_id], cmd=cmd, created=created, created_by=created_by)
    return config, [layer]
