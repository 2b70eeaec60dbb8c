"""Streaming (de)compression detected by content: gzip (isal when present), zstd, bzip2, xz."""
from __future__ import annotations

import io

from berth.archive import CHUNK
from berth.errors import ArchiveError


_MAGIC = [
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
]


def detect_compression(head: bytes) -> str:
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return ""


class Prefixed(io.RawIOBase):
    """A stream with some already-read bytes put back in front."""

    def __init__(self, head: bytes, rest):
        self._head = head
        self._rest = rest

    def readable(self):
        return True

    def readinto(self, b):
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(b))
        b[:len(data)] = data
        return len(data)


def _decompressor_errors(kind: str) -> tuple:
    """The exception types a decompressor raises for bad input (several are plain Exceptions)."""
    errors = [OSError, EOFError, ValueError, RuntimeError]
    if kind == "gzip":
        import zlib
        errors.append(zlib.error)
        try:
            from isal import isal_zlib
            errors.append(isal_zlib.error)
        except ImportError:
            pass
    elif kind == "zstd":
        import zstandard
        errors.append(zstandard.ZstdError)
    elif kind == "xz":
        import lzma
        errors.append(lzma.LZMAError)
    return tuple(errors)


class _ErrorMapping(io.RawIOBase):
    """Turns decompressor failures into ArchiveError so callers see one clear kind of error."""

    def __init__(self, inner, kind: str):
        self._inner = inner
        self._kind = kind
        self._errors = _decompressor_errors(kind)

    def readable(self):
        return True

    def readinto(self, b):
        try:
            data = self._inner.read(len(b))
        except self._errors as e:
            raise ArchiveError(f"corrupt or truncated {self._kind} stream: {e}") from None
        b[:len(data)] = data
        return len(data)


def open_decompressed(stream) -> tuple[io.BufferedReader, str]:
    """Wrap `stream` so it yields the uncompressed bytes; returns (reader, compression name)."""
    head = b""
    while len(head) < 6:  # a pipe or socket may hand out fewer bytes than asked for
        more = stream.read(6 - len(head))
        if not more:
            break
        head += more
    kind = detect_compression(head)
    source = io.BufferedReader(Prefixed(head, stream), CHUNK)
    if kind == "":
        return source, ""
    if kind == "gzip":
        try:
            from isal import igzip as gzip_impl
        except ImportError:  # isal is optional at run time; stdlib gzip is ~3x slower
            import gzip as gzip_impl
        inner = gzip_impl.GzipFile(fileobj=source, mode="rb")
    elif kind == "zstd":
        import zstandard
        inner = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True, read_size=CHUNK)
    elif kind == "bzip2":
        import bz2
        inner = bz2.BZ2File(source)
    else:
        import lzma
        inner = lzma.LZMAFile(source)
    return io.BufferedReader(_ErrorMapping(inner, kind), CHUNK), kind


def open_compressor(sink, kind: str, level: int | None = None):
    """A writable file object that compresses into `sink` (which stays open)."""
    if kind == "":
        return _NoClose(sink)
    if kind == "gzip":
        try:
            from isal import igzip
            return igzip.GzipFile(fileobj=sink, mode="wb", compresslevel=1 if level is None else level, mtime=0)
        except ImportError:
            import gzip
            return gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=6 if level is None else level, mtime=0)
    if kind == "zstd":
        import zstandard
        return zstandard.ZstdCompressor(level=3 if level is None else level).stream_writer(sink, closefd=False)
    raise ArchiveError(f"unsupported compression {kind!r}")


class _NoClose(io.RawIOBase):
    def __init__(self, sink):
        self._sink = sink

    def writable(self):
        return True

    def write(self, b):
        return self._sink.write(b)
