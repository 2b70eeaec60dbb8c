"""Write a directory as a deterministic layer tar (sorted entries, numeric owners, no user names).

From an overlayfs upper directory, whiteouts (char device 0/0) become `.wh.NAME` entries and
opaque directories (trusted.overlay.opaque=y) get a `.wh..wh..opq` entry.

The walk is relative to open directory fds and never follows a symlink below the root: a tree that
changes while it is archived (a running container's rootfs) can make the tar inconsistent, or the
write fail, but can never make it read anything outside the tree.
"""
from __future__ import annotations

import os
import stat
from typing import Callable

from berth.archive import tarformat
from berth.archive import CHUNK, securefs
from berth.archive.unpack import OPAQUE, OVERLAY_OPAQUE_XATTR, WHITEOUT
from berth.errors import ArchiveError

_TYPES = {stat.S_IFCHR: tarformat.CHR, stat.S_IFBLK: tarformat.BLK, stat.S_IFIFO: tarformat.FIFO}
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def write_tree(root, out, *, overlay_upper: bool = False, source_date_epoch: int | None = None,
               arcname: str | None = None, skip: Callable[[str, os.stat_result], bool] | None = None) -> None:
    """Write the tar of `root` to `out`.

    root: a directory path (followed if a symlink), or an open fd (O_PATH is enough) of the object.
    arcname None: the entries are what is under the directory `root`, not `root` itself.
    arcname given: `root` itself is the first entry, named `arcname` (a file, a symlink, a device or a
    directory followed by its contents under `arcname/`); a path `root` is then not followed when its
    last component is a symlink. arcname "." gives "./" and "./child" entries.
    skip(name, lstat): True leaves the entry out (a directory with everything under it).
    """
    writer = _TreeWriter(out, overlay_upper, source_date_epoch, skip)
    if arcname is None:
        fd = os.open(f"/proc/self/fd/{root}" if isinstance(root, int) else root,
                     os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            writer.walk(fd, "")
        finally:
            os.close(fd)
    else:
        fd = root if isinstance(root, int) else os.open(root, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            writer.top(fd, arcname.rstrip("/") or ".")
        finally:
            if fd is not root:
                os.close(fd)
    out.write(tarformat.END_OF_ARCHIVE)


class _TreeWriter:
    def __init__(self, out, overlay_upper, epoch, skip):
        self.out = out
        self.overlay_upper = overlay_upper
        self.epoch = epoch
        self.skip = skip
        self.links: dict[tuple[int, int], str] = {}
        self.buf = bytearray(CHUNK)

    def _mtime(self, st) -> int:
        t = int(st.st_mtime)
        return min(t, self.epoch) if self.epoch is not None else t

    def top(self, fd: int, arcname: str) -> None:
        """The root object itself (an fd that may be O_PATH), then its contents if a directory."""
        st = os.fstat(fd)
        if self.skip and self.skip(arcname, st):
            return
        proc = f"/proc/self/fd/{fd}"
        link = os.readlink("", dir_fd=fd) if stat.S_ISLNK(st.st_mode) else ""
        entry = self._entry(st, arcname, link, {} if stat.S_ISLNK(st.st_mode) else _xattrs(proc, True))
        self._emit(entry)
        if entry.type == tarformat.REG and entry.size:
            self._copy(lambda: os.open(proc, os.O_PATH | os.O_CLOEXEC), st, entry.size)
        if stat.S_ISDIR(st.st_mode):
            dfd = os.open(proc, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                self.walk(dfd, arcname + "/")
            finally:
                os.close(dfd)

    def walk(self, dir_fd: int, prefix: str) -> None:
        """Everything under the directory dir_fd, depth first in byte order of the names.

        No recursion, and a bounded number of fds (securefs.DirStack): a tree of any depth is
        written (the tar format has no limit on name lengths; the arcnames just get long)."""
        def visit(fd, prefix, name):
            sub = self._one(fd, prefix, name)
            if sub is None:
                return None
            sub_fd, st = sub
            try:
                return sub_fd, st, prefix + name + "/", _names(sub_fd)
            except BaseException:
                os.close(sub_fd)
                raise

        dirs = securefs.DirStack(dir_fd)
        try:
            securefs.walk_below(dirs, prefix, _names(dir_fd), visit)
        except securefs.TreeMoved as e:
            raise ArchiveError(f"{e.filename.rstrip('/')}: moved while it was archived") from None
        finally:
            dirs.close()

    def _one(self, dir_fd: int, prefix: str, name: str) -> tuple[int, os.stat_result] | None:
        """Write the entry `name` of dir_fd; for a directory, return its fd (opened, checked to be
        the directory examined) and fstat, for the caller to write what is under it."""
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None  # removed while the tree was archived
        arcname = prefix + name
        if self.skip and self.skip(arcname, st):
            return None
        where = f"/proc/self/fd/{dir_fd}/{name}"
        if self.overlay_upper and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            self._emit(tarformat.Entry(prefix + WHITEOUT + name, tarformat.REG, mode=0,
                                       mtime=self._mtime(st)))
            return None
        link = os.readlink(name, dir_fd=dir_fd) if stat.S_ISLNK(st.st_mode) else ""
        entry = self._entry(st, arcname, link, _xattrs(where, False))
        self._emit(entry)
        if entry.type == tarformat.REG and entry.size:
            self._copy(lambda: os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd),
                       st, entry.size)
        if not stat.S_ISDIR(st.st_mode):
            return None
        try:
            sub = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except OSError as err:
            raise ArchiveError(f"{arcname}: changed while it was archived ({err.strerror})") from None
        try:
            sub_st = os.fstat(sub)
            if sub_st.st_ino != st.st_ino:
                raise ArchiveError(f"{arcname}: replaced while it was archived")
            if self.overlay_upper and _xattr(where, OVERLAY_OPAQUE_XATTR) == b"y":
                self._emit(tarformat.Entry(arcname + "/" + OPAQUE, tarformat.REG, mode=0,
                                           mtime=self._mtime(st)))
        except BaseException:
            os.close(sub)
            raise
        return sub, sub_st

    def _entry(self, st, arcname, linkname, xattrs) -> tarformat.Entry:
        e = tarformat.Entry(arcname, tarformat.REG, mode=stat.S_IMODE(st.st_mode), uid=st.st_uid,
                            gid=st.st_gid, mtime=self._mtime(st), xattrs=xattrs)
        fmt = stat.S_IFMT(st.st_mode)
        if fmt == stat.S_IFDIR:
            e.type, e.name = tarformat.DIR, arcname + "/"
        elif fmt == stat.S_IFLNK:
            e.type, e.linkname = tarformat.SYM, linkname
        elif fmt == stat.S_IFREG:
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self.links:
                e.type, e.linkname = tarformat.LNK, self.links[key]
            else:
                if st.st_nlink > 1:
                    self.links[key] = arcname
                e.size = st.st_size
        elif fmt in _TYPES:
            e.type = _TYPES[fmt]
            if fmt != stat.S_IFIFO:
                e.devmajor, e.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        else:  # sockets cannot be archived; docker skips them too
            e.type = None
        return e

    def _emit(self, e: tarformat.Entry) -> None:
        if e.type is not None:
            self.out.write(tarformat.build_header(e))

    def _copy(self, open_path, st, size: int) -> None:
        """Write `size` bytes of the file `open_path()` (an O_PATH fd) gives: zeros past its end if it
        shrank, or if what is there now is not the regular file that was examined (a device or a FIFO
        swapped in is never opened for reading)."""
        view = memoryview(self.buf)
        remaining = size
        fd = -1
        try:
            path_fd = open_path()
        except OSError:
            path_fd = -1
        if path_fd >= 0:
            try:
                now = os.fstat(path_fd)
                if stat.S_ISREG(now.st_mode) and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                    fd = os.open(f"/proc/self/fd/{path_fd}", os.O_RDONLY | os.O_CLOEXEC)
            finally:
                os.close(path_fd)
        try:
            while remaining and fd >= 0:
                n = os.readv(fd, [view[:min(remaining, CHUNK)]])
                if n == 0:
                    break
                self.out.write(view[:n])
                remaining -= n
            if remaining:  # file shrank (or vanished) while archiving: pad so the header stays true
                self.out.write(bytes(remaining))
        finally:
            if fd >= 0:
                os.close(fd)
        if size % tarformat.BLOCK:
            self.out.write(bytes(tarformat.BLOCK - size % tarformat.BLOCK))


def _names(dir_fd: int) -> list[str]:
    return sorted(os.listdir(dir_fd), key=os.fsencode)


def _xattr(path, key, follow=False):
    try:
        return os.getxattr(path, key, follow_symlinks=follow)
    except OSError:
        return None


def _xattrs(path, follow) -> dict:
    """xattrs of `path` (a /proc/self/fd path: `follow` only lets the magic link itself resolve)."""
    try:
        keys = os.listxattr(path, follow_symlinks=follow)
    except OSError:
        return {}
    out = {}
    for k in keys:
        if k.startswith("trusted.overlay.") or k.startswith("system."):
            continue
        v = _xattr(path, k, follow)
        if v is not None:
            out[k] = v
    return out
