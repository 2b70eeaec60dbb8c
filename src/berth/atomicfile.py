"""Files that appear whole or not at all: a temp file beside the target, fsync, rename, fsync of
the directory. The store's writes (store.fsutil) and a front end writing a file the user named
(`kube generate -f`) share these; no store knowledge here, so every layer may use them."""
from __future__ import annotations

import os
from contextlib import contextmanager


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_file(directory: str, prefix: str) -> tuple[int, str]:
    """A new file of mode 0600 with an unused random name (tempfile.mkstemp, minus importing tempfile)."""
    while True:
        path = os.path.join(directory, prefix + os.urandom(6).hex())
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600), path
        except FileExistsError:
            continue


def atomic_write(path: str, data: bytes, mode: int = 0o600) -> None:
    """temp file in the same directory + fsync + rename + fsync(dir)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = temp_file(directory, ".tmp-")
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
    fd, tmp = temp_file(directory, f".{os.path.basename(path)}.")
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as f:
            yield f
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
