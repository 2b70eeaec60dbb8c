"""Path resolution that cannot leave a root: openat2(2) with RESOLVE_IN_ROOT.

The kernel resolves every component (`..`, absolute and relative symlinks) as if the root were `/`,
so a hostile symlink planted by this or an earlier layer can only ever point back inside.
"""
from __future__ import annotations

import ctypes
import errno
import os
import stat

from berth.errors import ArchiveError

_SYS_OPENAT2 = 437  # the same number on every architecture (added after the syscall table unification)
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_IN_ROOT = 0x10


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def openat2(dir_fd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    fd = _syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dir_fd), os.fsencode(path),
                  ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        if err == errno.ENOSYS:
            raise ArchiveError(f"openat2 is not available on this kernel ({os.uname().release}); berth needs Linux >= 5.6")
        raise OSError(err, os.strerror(err), path)
    return fd


def open_dir_in_root(root_fd: int, path: str) -> int:
    """An O_PATH fd for directory `path` resolved inside root (symlinks followed, but only inside)."""
    return openat2(root_fd, path or ".", os.O_PATH | os.O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)


def open_no_symlinks(root_fd: int, path: str, flags: int) -> int:
    """Open `path` under root with no symlink followed anywhere (for reading back what we wrote)."""
    return openat2(root_fd, path or ".", flags, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_IN_ROOT)


def makedirs_in_root(root_fd: int, parts: list[str], mode: int = 0o755) -> int:
    """Like `mkdir -p` for parts under root; returns an O_PATH fd of the last directory."""
    path = "/".join(parts)
    try:
        try:
            return open_dir_in_root(root_fd, path)
        except FileNotFoundError:
            pass
        fd = os.dup(root_fd)
        try:
            for i, part in enumerate(parts):
                try:
                    nfd = open_dir_in_root(root_fd, "/".join(parts[:i + 1]))
                except FileNotFoundError:
                    # EEXIST here: `part` is a symlink whose target does not exist (inside the root)
                    os.mkdir(part, mode, dir_fd=fd)
                    nfd = open_dir_in_root(root_fd, "/".join(parts[:i + 1]))
                os.close(fd)
                fd = nfd
            return fd
        except BaseException:
            os.close(fd)
            raise
    except (NotADirectoryError, FileExistsError):
        raise ArchiveError(f"{path}: a parent is not a directory (or a symlink to nothing inside the root)") from None


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def remove_at(dir_fd: int, name: str, st: os.stat_result | None = None, ignore_errors: bool = False) -> None:
    """Remove `name` in dir_fd without following symlinks; directories recursively, through fds,
    never entering another filesystem (a mount point is left full, and removing it fails).
    ignore_errors: go on with the rest, as `rm -rf` does."""
    try:
        st = st or lstat_at(dir_fd, name)
        if st is None:
            return
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=dir_fd)
            return
        if st.st_dev == os.fstat(dir_fd).st_dev:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            try:
                with os.scandir(fd) as it:
                    entries = [(e.name, e.stat(follow_symlinks=False)) for e in it]
                for child, child_st in entries:
                    remove_at(fd, child, child_st, ignore_errors)
            finally:
                os.close(fd)
        os.rmdir(name, dir_fd=dir_fd)
    except OSError:
        if not ignore_errors:
            raise


def fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def read_in_root(root: str, path: str, limit: int) -> bytes | None:
    """Up to `limit` bytes of the regular file `path`, resolved by the kernel inside `root` (a
    hostile symlink to /etc/shadow names root/etc/shadow); None if it is missing or not a regular
    file. Other failures raise OSError."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        # O_NONBLOCK: a FIFO planted under that name must not hang the reader
        fd = openat2(root_fd, path.strip("/") or ".", os.O_RDONLY | os.O_NONBLOCK,
                     RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    except (FileNotFoundError, NotADirectoryError):
        return None
    finally:
        os.close(root_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        os.set_blocking(fd, True)
        with open(fd, "rb", closefd=False) as f:
            return f.read(limit)
    finally:
        os.close(fd)


def strerror(err: OSError) -> str:
    """An OSError's text for a message, naming a symlink loop as such (openat2 reports a refused
    escape as ELOOP, whose strerror alone reads oddly)."""
    if err.errno == errno.ELOOP:
        return "too many levels of symbolic links"
    return err.strerror or str(err)
