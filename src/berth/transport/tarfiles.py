"""Random access to members of a tar archive on disk, and writing archive members.

Image archives list their contents in a manifest that may come last, so a seekable file is
indexed once (headers only) and members are then read as windows of the file.
"""
from __future__ import annotations

import io
import os

from berth.archive.hashing import CountingWriter
from berth.archive import tarformat
from berth.archive import CHUNK
from berth.archive.unpack import clean_name
from berth.errors import ArchiveError, InvalidImage


class _Window(io.RawIOBase):
    def __init__(self, path: str, offset: int, size: int):
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._pos = offset
        self._end = offset + size

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self._end - self._pos)
        if n <= 0:
            return 0
        got = os.preadv(self._fd, [memoryview(b)[:n]], self._pos)
        if got == 0:
            raise ArchiveError("archive is truncated")
        self._pos += got
        return got

    def close(self):
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        super().close()


class TarIndex:
    """Member name -> (offset, size) for regular files of an uncompressed tar file on disk."""

    def __init__(self, path: str):
        self.path = path
        self.members: dict[str, tuple[int, int]] = {}
        total = os.path.getsize(path)
        with open(path, "rb", buffering=0) as f:
            reader = tarformat.TarReader(f, seekable=True)
            while (entry := reader.next(previous_payload_is_raw=False)) is not None:
                if entry.type != tarformat.REG:
                    continue
                offset = f.tell()
                name = "/".join(clean_name(entry.name))
                if offset + entry.size > total:
                    raise ArchiveError(f"archive is truncated: {name} ends past the end of the file")
                self.members[name] = (offset, entry.size)

    def has(self, name: str) -> bool:
        return "/".join(clean_name(name)) in self.members

    def open(self, name: str):
        key = "/".join(clean_name(name))
        if key not in self.members:
            raise InvalidImage(f"archive has no member {name!r}")
        offset, size = self.members[key]
        return io.BufferedReader(_Window(self.path, offset, size), CHUNK)

    def size(self, name: str) -> int:
        return self.members["/".join(clean_name(name))][1]

    def read(self, name: str, limit: int) -> bytes:
        if self.size(name) > limit:
            raise InvalidImage(f"archive member {name!r} is larger than {limit} bytes")
        with self.open(name) as f:
            return f.read()


class ArchiveWriter:
    """Writes a tar of regular files and directories with fixed metadata (reproducible output)."""

    def __init__(self, out, mtime: int = 0):
        self.out = out
        self.mtime = mtime
        self.dirs: set[str] = set()

    def _parents(self, name):
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                self.out.write(tarformat.build_header(tarformat.Entry(d + "/", tarformat.DIR, mode=0o755,
                                                                      mtime=self.mtime)))

    def add_bytes(self, name: str, data: bytes) -> None:
        self._parents(name)
        self.out.write(tarformat.build_header(tarformat.Entry(name, tarformat.REG, size=len(data), mode=0o644,
                                                              mtime=self.mtime)))
        self.out.write(data)
        self.out.write(bytes(-len(data) % tarformat.BLOCK))

    def add_stream(self, name: str, size: int, write_content) -> None:
        """`write_content(out)` must write exactly `size` bytes."""
        self._parents(name)
        self.out.write(tarformat.build_header(tarformat.Entry(name, tarformat.REG, size=size, mode=0o644,
                                                              mtime=self.mtime)))
        counter = CountingWriter(self.out)
        write_content(counter)
        if counter.count != size:
            raise ArchiveError(f"{name}: wrote {counter.count} bytes, expected {size}")
        self.out.write(bytes(-size % tarformat.BLOCK))

    def close(self) -> None:
        self.out.write(tarformat.END_OF_ARCHIVE)
