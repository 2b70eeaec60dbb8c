"""Path resolution that cannot leave a root: openat2(2) with RESOLVE_IN_ROOT.

The kernel resolves every component (`..`, absolute and relative symlinks) as if the root were `/`,
so a hostile symlink planted by this or an earlier layer can only ever point back inside.
"""
from __future__ import annotations

import errno
import os
import stat

from berth import libc
from berth.errors import ArchiveError

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10


def openat2(dir_fd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    try:
        return libc.openat2(dir_fd, path, flags | os.O_CLOEXEC, mode, resolve)
    except OSError as e:
        if e.errno == errno.ENOSYS:
            raise ArchiveError(f"openat2 is not available on this kernel ({os.uname().release}); berth needs Linux >= 5.6")
        raise


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


class TreeMoved(OSError):
    """A directory being walked was moved (renamed) elsewhere meanwhile: its `..` is no longer the
    directory it was entered from, so the walk cannot go on safely."""


class DirStack:
    """The directories of a depth-first walk, each entered through an fd relative to the one above,
    with at most `keep` of them open (plus the base): no fd per level, so any depth fits in the
    fd limit.

    A directory whose fd was closed is reopened, on the way back up, as `..` of its child, and must
    be the very directory (st_dev, st_ino) that was entered; a concurrent rename that moved the
    child elsewhere raises TreeMoved instead of going on in the wrong place.
    The base fd belongs to the caller and is never closed here; every pushed fd belongs to the stack.
    """

    def __init__(self, base_fd: int, base_st: os.stat_result | None = None, keep: int = 64):
        st = base_st or os.fstat(base_fd)
        self._fds = [base_fd]
        self._ids = [(st.st_dev, st.st_ino)]
        self._keep = max(keep, 1)
        self._lowest_open = 1  # fds of levels [1, _lowest_open) are closed (the base always stays open)

    def __len__(self) -> int:
        return len(self._fds)

    @property
    def fd(self) -> int:
        return self._fds[-1]

    @property
    def dev(self) -> int:
        return self._ids[-1][0]

    def push(self, fd: int, st: os.stat_result | None = None) -> None:
        """Enter the directory `fd` (just opened relative to self.fd; the stack now owns it)."""
        try:
            st = st or os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fds.append(fd)
        self._ids.append((st.st_dev, st.st_ino))
        if len(self._fds) - self._lowest_open > self._keep:
            os.close(self._fds[self._lowest_open])
            self._fds[self._lowest_open] = -1
            self._lowest_open += 1

    def pop(self) -> None:
        """Leave the current directory for its parent (never the base: that is the caller's)."""
        if len(self._fds) < 2:
            raise IndexError("pop from the base of a DirStack")
        child = self._fds[-1]
        if self._fds[-2] < 0:
            parent = os.open("..", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=child)
            st = os.fstat(parent)
            if (st.st_dev, st.st_ino) != self._ids[-2]:
                os.close(parent)
                raise TreeMoved(errno.ESTALE, "moved while it was being walked")
            self._fds[-2] = parent
            self._lowest_open = len(self._fds) - 2
        self._fds.pop()
        self._ids.pop()
        os.close(child)

    def close(self) -> None:
        for fd in self._fds[1:]:
            if fd >= 0:
                os.close(fd)
        del self._fds[1:], self._ids[1:]
        self._lowest_open = 1


_NO_CROSSING = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS


def _open_same_fs_dir(parent_fd: int, name: str, parent_dev: int) -> tuple[int, os.stat_result]:
    """The directory `name` in parent_fd, opened without following a symlink and without crossing a
    mount point (even a bind mount of the same filesystem: EXDEV), and on the same st_dev as its
    parent (a btrfs subvolume is another filesystem too: EXDEV)."""
    fd = openat2(parent_fd, name, os.O_RDONLY | os.O_DIRECTORY, _NO_CROSSING)
    try:
        st = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if st.st_dev != parent_dev:
        os.close(fd)
        raise OSError(errno.EXDEV, "on another filesystem", name)
    return fd, st


def dir_entries(fd: int) -> list[tuple[str, bool]]:
    """(name, is a directory) of each entry, from d_type where the filesystem gives it."""
    out = []
    with os.scandir(fd) as it:
        for e in it:
            try:
                out.append((e.name, e.is_dir(follow_symlinks=False)))
            except FileNotFoundError:
                continue  # removed meanwhile
    return out


def walk_below(dirs: DirStack, key, entries, visit, leave=None) -> None:
    """Depth first below the directory dirs.fd, with no recursion and DirStack's bounded fds.

    visit(dir_fd, key, entry) is called for each entry of a directory (`key` is the caller's name for
    that directory, the top one's given here) and returns None, or (fd, st, key, entries) of a
    subdirectory it opened, to go into next. Once everything below a subdirectory is done,
    leave(its key) is called with dirs.fd its parent again. A directory moved away meanwhile raises
    TreeMoved, its key as the filename."""
    todo = [(key, iter(entries))]
    while todo:
        key, pending = todo[-1]
        for entry in pending:
            sub = visit(dirs.fd, key, entry)
            if sub is not None:
                fd, st, sub_key, sub_entries = sub
                dirs.push(fd, st)
                todo.append((sub_key, iter(sub_entries)))
                break
        else:
            todo.pop()
            if todo:
                try:
                    dirs.pop()
                except TreeMoved as e:
                    e.filename = key
                    raise
                if leave is not None:
                    leave(key)


def remove_at(dir_fd: int, name: str, st: os.stat_result | None = None, ignore_errors: bool = False) -> None:
    """Remove `name` in dir_fd without following symlinks; directories with everything below them,
    through fds relative to the parent, never entering another filesystem (a mount point is left
    full, and removing it fails).

    Any depth: no recursion, and at most a bounded number of fds open at once (DirStack).
    ignore_errors: go on with the rest, as `rm -rf` does (a directory moved away while it is being
    emptied stops the removal, silently then)."""
    try:
        st = st or lstat_at(dir_fd, name)
        if st is None:
            return
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=dir_fd)
            return
        parent_dev = os.fstat(dir_fd).st_dev
        if st.st_dev == parent_dev:
            _empty_dir(*_open_same_fs_dir(dir_fd, name, parent_dev), ignore_errors)
        os.rmdir(name, dir_fd=dir_fd)
    except OSError:
        if not ignore_errors:
            raise


def _empty_dir(top_fd: int, top_st: os.stat_result, ignore_errors: bool) -> None:
    """Remove everything below the directory top_fd (closed on return), depth first."""
    dirs = DirStack(top_fd, top_st)

    def visit(dir_fd, _key, entry):
        child, is_dir = entry
        try:
            if not is_dir:
                os.unlink(child, dir_fd=dir_fd)
                return None
            try:
                sub, sub_st = _open_same_fs_dir(dir_fd, child, dirs.dev)
            except OSError as err:
                if err.errno != errno.EXDEV:
                    raise
                os.rmdir(child, dir_fd=dir_fd)  # a mount point: EBUSY (else it was empty)
                return None
            try:
                return sub, sub_st, child, dir_entries(sub)
            except BaseException:
                os.close(sub)
                raise
        except OSError:
            if not ignore_errors:
                raise
            return None

    def leave(child):  # its level is done: remove it (TreeMoved before this stops the removal)
        try:
            os.rmdir(child, dir_fd=dirs.fd)
        except OSError:
            if not ignore_errors:
                raise

    try:
        walk_below(dirs, "", dir_entries(top_fd), visit, leave)
    finally:
        dirs.close()
        os.close(top_fd)


def fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def open_regular(path_fd: int, flags: int = os.O_RDONLY) -> int | None:
    """Reopen the O_PATH fd `path_fd` for reading if it is a regular file; None (and nothing
    opened) for anything else: opening a device can have effects (a watchdog, a tape rewinding)
    and a FIFO blocks, so neither is ever opened for reading."""
    if not stat.S_ISREG(os.fstat(path_fd).st_mode):
        return None
    return os.open(f"/proc/self/fd/{path_fd}", flags | os.O_CLOEXEC)


def read_in_root(root: str, path: str, limit: int) -> bytes | None:
    """Up to `limit` bytes of the regular file `path`, resolved by the kernel inside `root` (a
    hostile symlink to /etc/shadow names root/etc/shadow); None if it is missing or not a regular
    file (a device or a FIFO there is never opened for reading). Other failures raise OSError."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        path_fd = openat2(root_fd, path.strip("/") or ".", os.O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    except (FileNotFoundError, NotADirectoryError):
        return None
    finally:
        os.close(root_fd)
    try:
        fd = open_regular(path_fd)
    finally:
        os.close(path_fd)
    if fd is None:
        return None
    with open(fd, "rb") as f:
        return f.read(limit)


def strerror(err: OSError) -> str:
    """An OSError's text for a message, naming a symlink loop as such (openat2 reports a refused
    escape as ELOOP, whose strerror alone reads oddly)."""
    if err.errno == errno.ELOOP:
        return "too many levels of symbolic links"
    return err.strerror or str(err)
