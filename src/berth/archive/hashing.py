"""Stream taps that hash and count the bytes passing through."""
from __future__ import annotations

import hashlib
import io

from berth.oci.digest import Digest


class HashingReader(io.RawIOBase):
    def __init__(self, inner, algorithm: str = "sha256"):
        self._inner = inner
        self._hash = hashlib.new(algorithm)
        self.count = 0

    def readable(self):
        return True

    def readinto(self, b):
        n = self._inner.readinto(b) if hasattr(self._inner, "readinto") else None
        if n is None:
            data = self._inner.read(len(b))
            n = len(data)
            b[:n] = data
        if n:
            self._hash.update(memoryview(b)[:n])
            self.count += n
        return n

    def digest(self) -> Digest:
        return Digest.from_hasher(self._hash)


class HashingWriter(io.RawIOBase):
    def __init__(self, inner, algorithm: str = "sha256"):
        self._inner = inner
        self._hash = hashlib.new(algorithm)
        self.count = 0

    def writable(self):
        return True

    def write(self, b):
        self._hash.update(b)
        self.count += len(b)
        self._inner.write(b)
        return len(b)

    def digest(self) -> Digest:
        return Digest.from_hasher(self._hash)


class CountingWriter:
    """Counts the bytes written through it (to check a member's declared size)."""

    def __init__(self, out):
        self.out = out
        self.count = 0

    def write(self, b):
        self.count += len(b)
        return self.out.write(b)
