"""The build cache key of COPY/ADD sources: a digest of what would be copied, not of when.

Covered: each source's path (and the part --parents keeps), then every selected entry below it
with its path relative to the source, its type, its permission bits, a sha256 of a file's content,
a symlink's target and a device's numbers; owners only when the copy keeps them. mtime, atime and
ctime are left out, so touching a file (or a fresh checkout) keeps the cache, while any change to
content, mode or layout misses it. Files are hashed in 1 MiB steps, never read whole.
"""
from __future__ import annotations

import hashlib
import os
import stat
from contextlib import closing

from berth.archive import CHUNK
from berth.build.sources import Selection, Source, SourceRoot


def _field(h, value) -> None:
    data = value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogateescape")
    h.update(b"%d:" % len(data))  # length-prefixed: no name can fake a field boundary
    h.update(data)


def file_sha256(fd: int, buf: bytearray | None = None) -> str:
    """sha256 (hex) of the rest of the file `fd`, read in CHUNK steps."""
    h = hashlib.sha256()
    view = memoryview(buf or bytearray(CHUNK))
    while True:
        n = os.readv(fd, [view])
        if n == 0:
            return h.hexdigest()
        h.update(view[:n])


def sources_digest(root: SourceRoot, sources: list[Source], selection: Selection | None = None, *,
                   owners: bool = False) -> str:
    """`sha256:<hex>` over `sources` as a COPY of them would read them."""
    h = hashlib.sha256()
    buf = bytearray(CHUNK)
    for src in sources:
        _field(h, "source")
        _field(h, src.path)
        _field(h, src.keep)
        with closing(root.walk(src, selection)) as nodes:
            _hash_nodes(h, nodes, buf, owners)
    return "sha256:" + h.hexdigest()


def _hash_nodes(h, nodes, buf: bytearray, owners: bool) -> None:
    """One source's entries: type, relative path, mode (owners), and content, link or device."""
    for node in nodes:
        if node.end:
            continue
        st = node.st
        kind = node.kind
        if kind == "other":
            continue  # sockets: never copied
        _field(h, kind)
        _field(h, node.rel)
        _field(h, oct(stat.S_IMODE(st.st_mode)))
        if owners:
            _field(h, f"{st.st_uid}:{st.st_gid}")
        if kind == "file":
            fd = node.open_file()
            try:
                _field(h, file_sha256(fd, buf))
            finally:
                os.close(fd)
        elif kind == "symlink":
            _field(h, os.fsencode(node.readlink()))
        elif kind in ("char", "block"):
            _field(h, f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}")
