"""Atomic writes and file locks: the two primitives every store write is built from."""
from __future__ import annotations

import ctypes
import fcntl
import os
from contextlib import contextmanager

_libc = ctypes.CDLL(None, use_errno=True)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def syncfs(path: str) -> None:
    """Flush the whole filesystem holding `path`: one call instead of an fsync per unpacked file."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def disk_usage(path: str) -> int:
    """Bytes allocated to the files under `path` (what `du` counts), without following symlinks."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except OSError:
                pass
    return total


def _temp_file(directory: str, prefix: str) -> tuple[int, str]:
    """A new file of mode 0600 with an unused random name (tempfile.mkstemp, minus importing tempfile)."""
    while True:
        path = os.path.join(directory, prefix + os.urandom(6).hex())
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600), path
        except FileExistsError:
            continue


def remove_tree(path: str) -> None:
    """rm -rf of `path`: securefs.remove_at (no symlink followed, no other filesystem entered),
    without importing shutil and the compression modules it pulls in."""
    from berth.archive import securefs
    parent, name = os.path.split(os.path.abspath(path))
    try:
        fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        securefs.remove_at(fd, name, ignore_errors=True)
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes, mode: int = 0o600) -> None:
    """temp file in the same directory + fsync + rename + fsync(dir)."""
    directory = os.path.dirname(path)
    fd, tmp = _temp_file(directory, ".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory)


@contextmanager
def replace_atomically(path: str, mode: int = 0o644):
    """Yield a file that becomes `path` only if the block succeeds (a temp file beside it, renamed):
    a failed save or export never leaves a truncated file where the user asked for one."""
    from berth.errors import BerthError
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise BerthError(f"cannot write {path}: directory {directory} does not exist")
    fd, tmp = _temp_file(directory, f".{os.path.basename(path)}.")
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as f:
            yield f
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


@contextmanager
def flock(path: str, shared: bool = False, blocking: bool = True):
    """Hold an flock on `path` (created if missing). Non-blocking mode yields False when busy."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        op = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, op if blocking else op | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


class Staging:
    """A private directory under tmp/ that the owning process holds an flock on while it lives.

    A dead owner's lock is released by the kernel, which is how recovery tells leftovers from work
    in progress.
    """

    def __init__(self, tmp_root: str, prefix: str):
        while True:
            self.path = os.path.join(tmp_root, prefix + os.urandom(6).hex())
            try:
                os.mkdir(self.path, 0o700)
                break
            except FileExistsError:
                continue
        self._lock_fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)

    def cleanup(self) -> None:
        remove_tree(self.path)
        try:
            os.unlink(self.path + ".lock")
        except FileNotFoundError:
            pass
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


def remove_stale_staging(tmp_root: str) -> None:
    """Remove staging entries whose owner died (its flock is free)."""
    try:
        names = os.listdir(tmp_root)
    except FileNotFoundError:
        return
    for name in names:
        path = os.path.join(tmp_root, name)
        lock = path if name.endswith(".lock") else path + ".lock"
        target = lock[:-len(".lock")]
        if name.endswith(".lock") and os.path.exists(target):
            continue  # handled with its directory
        with flock(lock, blocking=False) as got:
            if not got:
                continue
            if os.path.isdir(target) and not os.path.islink(target):
                remove_tree(target)
            elif os.path.lexists(target):
                os.unlink(target)
            try:
                os.unlink(lock)
            except FileNotFoundError:
                pass
