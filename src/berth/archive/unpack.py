"""Extract a (possibly compressed) layer tar stream into a directory, safely.

Three whiteout modes:
- "apply": whiteouts delete from the directory (flattening layers into one rootfs, ADD);
- "overlay": whiteouts become overlayfs markers (char device 0/0, opaque xattr), so the
  directory can serve as one lowerdir of a stack;
- "none": `.wh.` names are ordinary files (`cp`: a plain tar of user files, as docker does).
"""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field

from berth.archive import securefs, tarformat
from berth.archive import CHUNK
from berth.archive.compression import open_decompressed
from berth.archive.hashing import HashingReader
from berth.archive.tarsplit import TarSplitWriter
from berth.errors import ArchiveError, UnsafeArchive
from berth.oci.digest import Digest

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
# What a hostile entry can make a filesystem call fail with; reported as ArchiveError.
_ENTRY_ERRNOS = {errno.ELOOP, errno.ENOTDIR, errno.EEXIST, errno.ENOENT, errno.ENAMETOOLONG, errno.EISDIR,
                 errno.EINVAL, errno.EMLINK, errno.ENOTEMPTY}
# Linux: 12-bit major, 20-bit minor numbers.
MAX_MAJOR = (1 << 12) - 1
MAX_MINOR = (1 << 20) - 1
_TYPE_BITS = {tarformat.CHR: stat.S_IFCHR, tarformat.BLK: stat.S_IFBLK}


@dataclass
class ExtractResult:
    diff_id: Digest            # sha256 of the uncompressed stream
    digest: Digest             # sha256 of the stream as given (compressed or not)
    compressed_size: int
    tar_size: int
    size: int                  # bytes of file content (hardlinks counted once), as docker reports
    entries: int
    compression: str
    reconstructible: bool = True   # the tar-split plus the directory give back the exact stream
    whiteouts: list[str] = field(default_factory=list)


def clean_name(name: str) -> list[str]:
    """Split a tar name into safe components; '' and '.' vanish, '..' is refused."""
    parts = []
    for p in name.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            raise UnsafeArchive(f"refusing tar entry {name!r}: '..' would leave the target directory")
        if "\0" in p:
            raise UnsafeArchive(f"refusing tar entry {name!r}: NUL in name")
        parts.append(p)
    return parts


def extract(stream, root: str, whiteouts: str = "apply", tarsplit=None,
            xattrs: bool = True, same_owner: bool = True, no_overwrite_dir_non_dir: bool = False) -> ExtractResult:
    """Extract `stream` into the existing directory `root`.

    `tarsplit`: a binary file to record the stream's non-payload bytes into (see tarsplit.py).
    `no_overwrite_dir_non_dir`: an entry that would replace a directory with a non-directory, or
    the other way round, stops the extraction (CopyTypeClash) instead (docker cp's rule).
    """
    if whiteouts not in ("apply", "overlay", "none"):
        raise ValueError(whiteouts)
    outer = HashingReader(stream)
    decompressed, compression = open_decompressed(outer)
    inner = HashingReader(decompressed)
    reader = tarformat.TarReader(inner)
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    ex = _Extractor(root_fd, reader, whiteouts, TarSplitWriter(tarsplit) if tarsplit else None,
                    xattrs, same_owner)
    ex.keep_kinds = no_overwrite_dir_non_dir
    try:
        ex.run()
    finally:
        os.close(root_fd)
    return ExtractResult(
        diff_id=inner.digest(), digest=outer.digest(), compressed_size=outer.count,
        tar_size=inner.count, size=ex.size, entries=ex.entries, compression=compression,
        reconstructible=ex.reconstructible, whiteouts=ex.whiteout_names)


class _Extractor:
    def __init__(self, root_fd, reader, whiteouts, split, xattrs, same_owner):
        self.root_fd = root_fd
        self.reader = reader
        self.overlay = whiteouts == "overlay"
        self.literal = whiteouts == "none"
        self.split = split
        self.xattrs = xattrs
        self.same_owner = same_owner
        self.keep_kinds = False  # no directory replaced by a non-directory, nor back
        self.size = 0
        self.entries = 0
        self.reconstructible = True
        self.whiteout_names: list[str] = []
        self.dir_times: list[tuple[str, float]] = []
        # apply mode: real paths (relative to root) this stream created or re-declared, with their
        # parents, so an opaque whiteout keeps this layer's entries and removes earlier ones.
        self.created: set[str] = set()
        self.inodes: set[tuple[int, int]] = set()
        self.buf = bytearray(CHUNK)
        self.root_prefix = securefs.fd_path(root_fd).rstrip("/") + "/"

    def run(self):
        payload_written = False
        while True:
            entry = self.reader.next(previous_payload_is_raw=not payload_written)
            if entry is None:
                break
            if self.split:
                self.split.raw(entry.raw)
            self.entries += 1
            try:
                payload_written = self.apply(entry)
            except OSError as err:
                if err.errno not in _ENTRY_ERRNOS:
                    raise
                raise ArchiveError(f"cannot extract {entry.name!r}: {err.strerror}") from None
        trailing = b""
        try:
            trailing = self.reader.drain(limit=1 << 20 if self.split else None)
        except OverflowError:
            self.reconstructible = False
        if self.split:
            self.split.raw(trailing)
            self.split.close()
        # Directory mtimes last: creating children changes them.
        for path, mtime in reversed(self.dir_times):
            try:
                fd = securefs.open_no_symlinks(self.root_fd, path, os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                continue  # replaced or removed by a later entry
            try:
                os.utime(fd, (mtime, mtime))
            finally:
                os.close(fd)

    def apply(self, e: tarformat.Entry) -> bool:
        """Apply one entry; returns True when its payload went into a file (not raw)."""
        parts = clean_name(e.name)
        if not parts:
            if e.type != tarformat.DIR:
                raise UnsafeArchive(f"refusing tar entry {e.name!r}: the root can only be a directory")
            self._set_root_metadata(e)
            return False
        base = parts[-1]
        if base.startswith(WHITEOUT) and not self.literal:
            self._whiteout(e, parts)
            return False
        parent_fd = securefs.makedirs_in_root(self.root_fd, parts[:-1])
        try:
            return self._create(e, parts, parent_fd, base)
        finally:
            os.close(parent_fd)

    # ---- entry kinds -------------------------------------------------------------------

    def _create(self, e, parts, parent_fd, base) -> bool:
        path = "/".join(parts)
        existing = securefs.lstat_at(parent_fd, base)
        if not self.overlay:
            self._mark_created(self._real_relpath(parent_fd, base, e.name))
        if existing is not None:
            if stat.S_ISDIR(existing.st_mode) and e.type == tarformat.DIR:
                self._set_metadata_dir(e, parent_fd, base, path)
                return False
            if self.keep_kinds and stat.S_ISDIR(existing.st_mode) != (e.type == tarformat.DIR):
                from berth.errors import CopyTypeClash
                if e.type == tarformat.DIR:
                    raise CopyTypeClash(f"cannot overwrite non-directory {path!r} with directory {e.name!r}")
                raise CopyTypeClash(f"cannot overwrite directory {path!r} with non-directory {e.name!r}")
            # Replacing something already written by this stream: the directory no longer
            # holds every payload, so exact reconstruction needs the original blob.
            self.reconstructible = False
            securefs.remove_at(parent_fd, base, existing)
        if e.type == tarformat.REG:
            return self._regular(e, parent_fd, base, path)
        if e.type == tarformat.DIR:
            os.mkdir(base, 0o700, dir_fd=parent_fd)
            self._set_metadata_dir(e, parent_fd, base, path)
        elif e.type == tarformat.SYM:
            os.symlink(e.linkname, base, dir_fd=parent_fd)
            if self.same_owner:
                os.chown(base, e.uid, e.gid, dir_fd=parent_fd, follow_symlinks=False)
            self._set_xattrs_path(parent_fd, base, e)
            os.utime(base, (e.mtime, e.mtime), dir_fd=parent_fd, follow_symlinks=False)
        elif e.type == tarformat.LNK:
            self._hardlink(e, parent_fd, base)
        elif e.type in (tarformat.CHR, tarformat.BLK, tarformat.FIFO):
            self._special(e, parent_fd, base)
        return False

    def _regular(self, e, parent_fd, base, path) -> bool:
        fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=parent_fd)
        try:
            remaining = e.size
            view = memoryview(self.buf)
            while remaining:
                n = self.reader.readinto_payload(view[:min(remaining, CHUNK)])
                done = 0
                while done < n:
                    done += os.write(fd, view[done:n])
                remaining -= n
            self._set_metadata_fd(fd, e)
        finally:
            os.close(fd)
        self.size += e.size
        if self.split:
            self.split.payload(e.size, self._real_relpath(parent_fd, base, e.name))
        return True

    def _real_relpath(self, parent_fd, base, name) -> str:
        """Where the file really is under root (a parent may have been a symlink inside the root)."""
        real_parent = securefs.fd_path(parent_fd).rstrip("/") + "/"
        if real_parent == self.root_prefix:
            return base
        if not real_parent.startswith(self.root_prefix):
            raise UnsafeArchive(f"{name}: resolved outside the target directory")
        return real_parent[len(self.root_prefix):] + base

    def _mark_created(self, relpath: str) -> None:
        while relpath and relpath not in self.created:
            self.created.add(relpath)
            relpath = relpath.rpartition("/")[0]

    def _hardlink(self, e, parent_fd, base):
        target = clean_name(e.linkname)
        if not target:
            raise UnsafeArchive(f"refusing hardlink {e.name!r} to the root directory")
        try:
            tparent = securefs.open_dir_in_root(self.root_fd, "/".join(target[:-1]))
        except OSError:
            raise ArchiveError(f"hardlink {e.name!r}: target {e.linkname!r} not found in this layer") from None
        try:
            # follow_symlinks=False: linking to a symlink links the symlink itself, never its target.
            os.link(target[-1], base, src_dir_fd=tparent, dst_dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            raise ArchiveError(f"hardlink {e.name!r}: target {e.linkname!r} not found in this layer") from None
        except PermissionError:
            raise UnsafeArchive(f"hardlink {e.name!r}: cannot link to {e.linkname!r} (a directory?)") from None
        finally:
            os.close(tparent)

    def _special(self, e, parent_fd, base):
        if e.type == tarformat.FIFO:
            os.mkfifo(base, 0o600, dir_fd=parent_fd)
        else:
            if not (0 <= e.devmajor <= MAX_MAJOR and 0 <= e.devminor <= MAX_MINOR):
                raise ArchiveError(f"{e.name}: invalid device number {e.devmajor}:{e.devminor}")
            os.mknod(base, 0o600 | _TYPE_BITS[e.type], os.makedev(e.devmajor, e.devminor), dir_fd=parent_fd)
        # Open without following to set metadata on exactly the node just made.
        fd = os.open(base, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
        try:
            if self.same_owner:
                os.chown(f"/proc/self/fd/{fd}", e.uid, e.gid)
            os.chmod(f"/proc/self/fd/{fd}", e.mode)
            self._set_xattrs_path(parent_fd, base, e)
            os.utime(f"/proc/self/fd/{fd}", (e.mtime, e.mtime))
        finally:
            os.close(fd)

    def _whiteout(self, e, parts):
        base = parts[-1]
        name = base[len(WHITEOUT):]
        if base != OPAQUE and (name in ("", ".", "..") or name.startswith(WHITEOUT)):
            raise UnsafeArchive(f"refusing invalid whiteout {e.name!r}")
        self.whiteout_names.append("/".join(parts))
        if self.overlay:
            parent_fd = securefs.makedirs_in_root(self.root_fd, parts[:-1])
            try:
                if base == OPAQUE:
                    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=parent_fd)
                    try:
                        os.setxattr(fd, OVERLAY_OPAQUE_XATTR, b"y")
                    finally:
                        os.close(fd)
                    return
                existing = securefs.lstat_at(parent_fd, name)
                if existing is not None:
                    self.reconstructible = False
                    securefs.remove_at(parent_fd, name, existing)
                os.mknod(name, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=parent_fd)
            finally:
                os.close(parent_fd)
            return
        try:
            parent_fd = securefs.open_dir_in_root(self.root_fd, "/".join(parts[:-1]))
        except (FileNotFoundError, NotADirectoryError):
            return  # nothing to hide
        try:
            # The real location: the parent may have been reached through a symlink inside the root.
            where = self._real_relpath(parent_fd, "", e.name).rstrip("/")
            if base == OPAQUE:
                self._make_opaque(where)
            else:
                if (f"{where}/{name}" if where else name) in self.created:
                    self.reconstructible = False  # removes a payload of this very stream
                securefs.remove_at(parent_fd, name)
        finally:
            os.close(parent_fd)

    def _make_opaque(self, top: str) -> None:
        """Remove what earlier layers left under `top`; keep (recursively) what this stream made."""
        pending = [top]
        while pending:
            where = pending.pop()
            fd = securefs.open_no_symlinks(self.root_fd, where, os.O_RDONLY | os.O_DIRECTORY)
            try:
                for child in os.listdir(fd):
                    rel = f"{where}/{child}" if where else child
                    st = securefs.lstat_at(fd, child)
                    if rel not in self.created:
                        securefs.remove_at(fd, child, st)
                    elif st is not None and stat.S_ISDIR(st.st_mode):
                        pending.append(rel)
            finally:
                os.close(fd)

    # ---- metadata ----------------------------------------------------------------------

    def _set_root_metadata(self, e):
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=self.root_fd)
        try:
            self._set_metadata_fd(fd, e, times=False)
        finally:
            os.close(fd)
        self.dir_times.append(("", e.mtime))

    def _set_metadata_dir(self, e, parent_fd, base, path):
        fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
        try:
            self._set_metadata_fd(fd, e, times=False)
        finally:
            os.close(fd)
        # the real path: the mtime is set at the end without following any symlink
        self.dir_times.append((self._real_relpath(parent_fd, base, e.name), e.mtime))

    def _set_metadata_fd(self, fd, e, times=True):
        if self.same_owner:
            os.fchown(fd, e.uid, e.gid)
        os.fchmod(fd, e.mode)  # after chown, which clears setuid/setgid
        if self.xattrs:
            for key, value in e.xattrs.items():
                if _xattr_allowed(key):
                    _setxattr(lambda: os.setxattr(fd, key, value), e.name, key)
        if times:
            os.utime(fd, (e.mtime, e.mtime))

    def _set_xattrs_path(self, parent_fd, base, e):
        if not (self.xattrs and e.xattrs):
            return
        where = f"/proc/self/fd/{parent_fd}/{base}"
        for key, value in e.xattrs.items():
            if _xattr_allowed(key):
                _setxattr(lambda: os.setxattr(where, key, value, follow_symlinks=False), e.name, key)


def _xattr_allowed(key: str) -> bool:
    # overlayfs interprets trusted.overlay.*: a layer must never set them (redirects, opaque dirs).
    return not key.startswith("trusted.overlay.")


def _setxattr(call, name, key):
    try:
        call()
    except OSError as err:
        # Filesystems without user xattrs, or symlinks refusing user.*: docker ignores these too.
        if err.errno not in (errno.ENOTSUP, errno.EPERM, errno.EOPNOTSUPP):
            raise ArchiveError(f"{name}: cannot set xattr {key}: {err.strerror}") from None
