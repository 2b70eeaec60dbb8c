"""Write a directory as a deterministic layer tar (sorted entries, numeric owners, no user names).

From an overlayfs upper directory, whiteouts (char device 0/0) become `.wh.NAME` entries and
opaque directories (trusted.overlay.opaque=y) get a `.wh..wh..opq` entry.
"""
from __future__ import annotations

import os
import stat

from berth.archive import tarformat
from berth.archive.compression import CHUNK
from berth.archive.unpack import OPAQUE, OVERLAY_OPAQUE_XATTR, WHITEOUT

_TYPES = {stat.S_IFCHR: tarformat.CHR, stat.S_IFBLK: tarformat.BLK, stat.S_IFIFO: tarformat.FIFO}


def write_tree(root: str, out, *, overlay_upper: bool = False, source_date_epoch: int | None = None) -> None:
    """Write the tar of everything under `root` (not `root` itself) to `out`."""
    writer = _TreeWriter(out, overlay_upper, source_date_epoch)
    writer.walk(root, "")
    out.write(tarformat.END_OF_ARCHIVE)


class _TreeWriter:
    def __init__(self, out, overlay_upper, epoch):
        self.out = out
        self.overlay_upper = overlay_upper
        self.epoch = epoch
        self.links: dict[tuple[int, int], str] = {}
        self.buf = bytearray(CHUNK)

    def _mtime(self, st) -> int:
        t = int(st.st_mtime)
        return min(t, self.epoch) if self.epoch is not None else t

    def walk(self, dirpath: str, prefix: str) -> None:
        names = sorted(os.listdir(dirpath), key=os.fsencode)
        for name in names:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            arcname = prefix + name
            if self.overlay_upper and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                self._emit(tarformat.Entry(prefix + WHITEOUT + name, tarformat.REG, mode=0,
                                           mtime=self._mtime(st)))
                continue
            entry = self._entry(path, arcname, st)
            self._emit(entry)
            if entry.type == tarformat.REG and entry.size:
                self._copy(path, entry.size)
            if stat.S_ISDIR(st.st_mode):
                if self.overlay_upper and _xattr(path, OVERLAY_OPAQUE_XATTR) == b"y":
                    self._emit(tarformat.Entry(arcname + "/" + OPAQUE, tarformat.REG, mode=0,
                                               mtime=self._mtime(st)))
                self.walk(path, arcname + "/")

    def _entry(self, path, arcname, st) -> tarformat.Entry:
        e = tarformat.Entry(arcname, tarformat.REG, mode=stat.S_IMODE(st.st_mode), uid=st.st_uid,
                            gid=st.st_gid, mtime=self._mtime(st), xattrs=_xattrs(path))
        fmt = stat.S_IFMT(st.st_mode)
        if fmt == stat.S_IFDIR:
            e.type, e.name = tarformat.DIR, arcname + "/"
        elif fmt == stat.S_IFLNK:
            e.type, e.linkname = tarformat.SYM, os.readlink(path)
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

    def _copy(self, path: str, size: int) -> None:
        view = memoryview(self.buf)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            remaining = size
            while remaining:
                n = os.readv(fd, [view[:min(remaining, CHUNK)]])
                if n == 0:  # file shrank while archiving: pad so the header stays true
                    self.out.write(bytes(remaining))
                    break
                self.out.write(view[:n])
                remaining -= n
        finally:
            os.close(fd)
        if size % tarformat.BLOCK:
            self.out.write(bytes(tarformat.BLOCK - size % tarformat.BLOCK))


def _xattr(path, key):
    try:
        return os.getxattr(path, key, follow_symlinks=False)
    except OSError:
        return None


def _xattrs(path) -> dict:
    try:
        keys = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for k in keys:
        if k.startswith("trusted.overlay.") or k.startswith("system."):
            continue
        v = _xattr(path, k)
        if v is not None:
            out[k] = v
    return out
