"""Atomic writes (berth.atomicfile's) and file locks: the two primitives every store write is built from."""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager

from berth import atomicfile, libc

# the store's writes, as every layer writes a file whole
atomic_write, fsync_dir, replace_atomically = atomicfile.atomic_write, atomicfile.fsync_dir, atomicfile.replace_atomically


def syncfs(path: str) -> None:
    """Flush the whole filesystem holding `path`: one call instead of an fsync per unpacked file."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            libc.syncfs(fd)
        except OSError:
            os.sync()
    finally:
        os.close(fd)


def disk_usage(path: str) -> int:
    """Bytes allocated to the files under `path` (what `du` counts), without following symlinks.
    No recursion and a bounded number of fds (securefs.DirStack): any depth; unreadable parts are
    left out."""
    from berth.archive import securefs
    try:
        top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return 0
    total = 0

    def visit(dir_fd, _key, entry):
        nonlocal total
        name, is_dir = entry
        try:
            if not is_dir:
                total += os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_blocks * 512
                return None
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError:
            return None
        try:
            return sub, None, name, securefs.dir_entries(sub)
        except OSError:
            os.close(sub)
            return None

    dirs = securefs.DirStack(top)
    try:
        securefs.walk_below(dirs, "", securefs.dir_entries(top), visit)
    except OSError:  # unreadable, or moved away meanwhile: what was counted is the answer
        pass
    finally:
        dirs.close()
        os.close(top)
    return total


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
        # The lock first, then the directory: recovery (remove_stale_staging in another process) must
        # never find the directory without a held lock. Its lock file is made with O_EXCL, and a
        # recovery that took the free lock in the moment between open and flock has unlinked it:
        # then the lock held is not the file at the path, and we start over with another name.
        while True:
            self.path = os.path.join(tmp_root, prefix + os.urandom(6).hex())
            try:
                fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except FileExistsError:
                continue
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                held = os.fstat(fd).st_ino == os.stat(self.path + ".lock").st_ino
                if held:
                    os.mkdir(self.path, 0o700)
            except (FileNotFoundError, FileExistsError):
                held = False
            if held:
                self._lock_fd = fd
                break
            os.close(fd)

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


def remove_stale_staging(tmp_root: str) -> list[tuple[str, str]]:
    """Remove staging entries whose owner died (its flock is free). Best effort: returns
    (path, reason) for each one that could not be removed, and never raises for one of them."""
    try:
        names = os.listdir(tmp_root)
    except FileNotFoundError:
        return []
    failed = []
    for name in names:
        path = os.path.join(tmp_root, name)
        try:
            if not _remove_if_stale(path, name):
                failed.append((path, "not everything under it could be removed"))
        except Exception as err:  # noqa: BLE001 - one bad leftover must not stop the others
            failed.append((path, error_text(err)))
    return failed


def _remove_if_stale(path: str, name: str) -> bool:
    """False if `path` is a leftover that is still there after trying to remove it."""
    lock = path if name.endswith(".lock") else path + ".lock"
    target = lock[:-len(".lock")]
    if name.endswith(".lock") and os.path.exists(target):
        return True  # handled with its directory
    with flock(lock, blocking=False) as got:
        if not got:
            return True  # work in progress
        if os.path.isdir(target) and not os.path.islink(target):
            remove_tree(target)
            if os.path.lexists(target):
                return False  # its lock file stays: retried (and reported) next time
        elif os.path.lexists(target):
            os.unlink(target)
        try:
            os.unlink(lock)
        except FileNotFoundError:
            pass
    return True


def error_text(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
