"""A container's upper dir against its image's layers: the overlayfs view of the lower layers, and
the mount point stubs that the runtime creates in the upper dir (docker keeps these in its "-init"
layer, so `docker diff` and `docker commit` never show them). Used by `diff`/`commit` and by the
build steps that make a layer of their upper dir.
"""
from __future__ import annotations

import os
import stat

from berth.archive.unpack import OVERLAY_OPAQUE_XATTR

# What the runtime creates in the upper dir as mount points (docker keeps these in its "-init"
# layer, so `docker diff` and `docker commit` never show them).
STUB_FILES = {"etc/hostname", "etc/hosts", "etc/resolv.conf"}
STUB_DIRS = {"dev", "proc", "sys"}
STUB_PARENTS = {"etc"}


def getxattr(fd, key):
    try:
        return os.getxattr(fd, key)
    except OSError:
        return None


class Lowers:
    """Looks a path up in the stack of layer directories the way overlayfs merges them: the top
    layer first; whiteouts and non-directories hide what is below; opaque directories hide what
    lower layers have under them. Layer directories are immutable, so plain paths are fine, and no
    symlink is ever followed (each component is checked before descending)."""

    def __init__(self, dirs: list[str]):
        self.dirs = dirs

    def lookup(self, rel: str) -> os.stat_result | None:
        parts = [p for p in rel.split("/") if p]
        for layer in self.dirs:
            cur = layer
            opaque = False
            for i, part in enumerate(parts):
                cur = os.path.join(cur, part)
                try:
                    st = os.lstat(cur)
                except (FileNotFoundError, NotADirectoryError):
                    break
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    return None  # deleted by this layer
                if i == len(parts) - 1:
                    return st
                if not stat.S_ISDIR(st.st_mode):
                    return None  # a file or symlink here hides everything below
                if _xattr_path(cur, OVERLAY_OPAQUE_XATTR) == b"y":
                    opaque = True
            else:
                return None
            if opaque:
                return None  # an opaque directory on the way hides the lower layers
        return None


def _xattr_path(path, key):
    try:
        return os.getxattr(path, key, follow_symlinks=False)
    except OSError:
        return None


def is_stub(rel: str, st: os.stat_result, lowers: Lowers) -> bool:
    """A mount point the runtime created (not a change the container made)."""
    rel = rel.strip("/")
    if rel in STUB_FILES:
        return stat.S_ISREG(st.st_mode) and st.st_size == 0
    if rel in STUB_DIRS:
        return stat.S_ISDIR(st.st_mode) and lowers.lookup(rel) is None
    return False


def commit_skip(upper: str, lower_dirs: list[str], mount_points: set[str] = frozenset()):
    """write_tree's skip for an upper dir made into a layer (commit, build steps): mount point stubs,
    and the directories that hold nothing else, such as /etc for /etc/hosts or /run/secrets that the
    runtime made for a RUN --mount (BuildKit drops those too). lower_dirs: the layer directories, top
    first; mount_points: more targets (relative) the runtime created, such as RUN --mount's."""
    lowers = Lowers(lower_dirs)
    parents = set(STUB_PARENTS)
    for point in mount_points:
        parts = point.split("/")
        parents.update("/".join(parts[:i]) for i in range(1, len(parts)))

    def skip(name: str, st: os.stat_result) -> bool:
        if is_stub(name, st, lowers) or (name in mount_points and lowers.lookup(name) is None):
            return True
        if name not in parents or not stat.S_ISDIR(st.st_mode):
            return False
        low = lowers.lookup(name)  # a directory the image has must be as it was; a new one, only stubs
        if low is not None and (st.st_mode, st.st_uid, st.st_gid) != (low.st_mode, low.st_uid, low.st_gid):
            return False
        try:
            fd = os.open(os.path.join(upper, name), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            if getxattr(fd, OVERLAY_OPAQUE_XATTR) == b"y":
                return False
            names = os.listdir(fd)
            return bool(names) and all(skip(f"{name}/{n}", os.stat(n, dir_fd=fd, follow_symlinks=False))
                                       for n in names)
        finally:
            os.close(fd)
    return skip
