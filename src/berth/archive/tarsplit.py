"""Exact layer reconstruction from an unpacked directory plus a small record of the tar stream.

While a layer is extracted, every byte that is not a regular file's content (headers, pax records,
padding, the end marker) is recorded, and each payload is recorded as (size, path). Replaying the
record with the files' contents gives back the identical stream, so its diff_id is preserved and
the store never keeps a second copy of a layer (the same idea as containers/storage's tar-split).

Record format (zlib-compressed): frames of  b"R" u32 len bytes  |  b"F" u64 size u32 len path.
"""
from __future__ import annotations

import os
import struct
import zlib

from berth.archive import securefs
from berth.archive import CHUNK
from berth.errors import ArchiveError


class TarSplitWriter:
    def __init__(self, sink):
        self._sink = sink
        self._z = zlib.compressobj(1)
        self._raw = bytearray()

    def raw(self, data: bytes) -> None:
        self._raw += data
        if len(self._raw) >= CHUNK:  # consecutive R frames concatenate: keep memory bounded
            self._flush_raw()

    def _flush_raw(self):
        if self._raw:
            self._sink.write(self._z.compress(b"R" + struct.pack("<I", len(self._raw)) + bytes(self._raw)))
            self._raw.clear()

    def payload(self, size: int, relpath: str) -> None:
        self._flush_raw()
        path = os.fsencode(relpath)
        self._sink.write(self._z.compress(b"F" + struct.pack("<QI", size, len(path)) + path))

    def close(self) -> None:
        self._flush_raw()
        self._sink.write(self._z.flush())


def _frames(record):
    z = zlib.decompressobj()
    buf = bytearray()
    eof = False
    pos = 0

    def need(n, frame_start=False):
        nonlocal eof, buf, pos
        while len(buf) - pos < n and not eof:
            chunk = record.read(CHUNK)
            if not chunk:
                eof = True
                buf += z.flush()
                break
            buf = buf[pos:] + z.decompress(chunk)
            pos = 0
        if len(buf) - pos < n:
            if frame_start and len(buf) == pos and z.eof:
                return None  # the record ended cleanly between two frames
            raise ArchiveError("layer record is truncated")
        out = bytes(buf[pos:pos + n])
        pos += n
        return out

    while True:
        kind = need(1, frame_start=True)
        if kind is None:
            return
        if kind == b"R":
            (n,) = struct.unpack("<I", need(4))
            yield kind, need(n)
        elif kind == b"F":
            size, n = struct.unpack("<QI", need(12))
            yield kind, (size, os.fsdecode(need(n)))
        else:
            raise ArchiveError("layer record is corrupt")


def reconstruct(root: str, record, out) -> None:
    """Write the original tar stream of the layer unpacked at `root` into `out`."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    try:
        for kind, value in _frames(record):
            if kind == b"R":
                out.write(value)
                continue
            size, path = value
            try:
                path_fd = securefs.open_no_symlinks(root_fd, path, os.O_PATH)
                try:
                    fd = securefs.open_regular(path_fd)
                finally:
                    os.close(path_fd)
            except OSError as e:
                raise ArchiveError(f"layer content missing: {path}: {e.strerror}") from None
            if fd is None:  # not opened: a FIFO would block, a device have effects
                raise ArchiveError(f"layer content missing: {path} is no longer a regular file")
            try:
                remaining = size
                while remaining:
                    n = os.readv(fd, [view[:min(remaining, CHUNK)]])
                    if n == 0:
                        raise ArchiveError(f"layer content changed: {path} is shorter than recorded")
                    out.write(view[:n])
                    remaining -= n
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)
