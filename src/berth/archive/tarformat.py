"""A streaming tar reader and header writer (ustar, pax and GNU long names) with bounded memory.

Written here rather than taken from `tarfile` so that every byte is accounted for (exact layer
reconstruction), pax and long-name records are size-capped, and nothing is ever extracted by it.
"""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field

from berth.errors import ArchiveError

BLOCK = 512
MAX_SPECIAL = 1 << 20  # cap on pax / GNU long-name records, as Go's archive/tar does
MAX_NAME = 4096
MAX_HEADER_GROUP = 4 * MAX_SPECIAL  # all pax / long-name records in front of one entry, together
MAX_MTIME = 1 << 62  # seconds either side of the epoch; beyond this no filesystem can store it

REG, LNK, SYM, CHR, BLK, DIR, FIFO = "0", "1", "2", "3", "4", "5", "6"
_REG_ALIASES = {"\0": REG, "7": REG}
_KNOWN = {REG, LNK, SYM, CHR, BLK, DIR, FIFO}


@dataclass
class Entry:
    name: str
    type: str
    size: int = 0
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: float = 0.0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict = field(default_factory=dict)
    raw: bytes = b""  # every byte of the stream before this entry's payload, since the last payload


def _decode(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _number(field_bytes: bytes, what: str) -> int:
    if field_bytes and field_bytes[0] & 0x80:
        # base-256 (GNU): big-endian two's complement, first byte's top bit is the marker
        value = int.from_bytes(field_bytes, "big", signed=False)
        if field_bytes[0] == 0xFF:
            value -= 1 << (8 * len(field_bytes))
        else:
            value &= (1 << (8 * len(field_bytes) - 1)) - 1
        return value
    text = field_bytes.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise ArchiveError(f"invalid tar header: bad {what} field {field_bytes!r}") from None


def looks_like_tar_header(block: bytes) -> bool:
    """Whether a 512-byte block is a tar header (docker's archive detection: ustar magic or a valid checksum)."""
    if len(block) < 512 or not any(block[:512]):
        return False
    if block[257:262] == b"ustar":
        return True
    try:
        return _checksum_ok(block[:512])
    except ArchiveError:
        return False


def _checksum_ok(block: bytes) -> bool:
    stored = _number(block[148:156], "checksum")
    header = block[:148] + b" " * 8 + block[156:]
    unsigned = sum(header)
    if stored == unsigned:
        return True
    # Some old writers summed signed chars: each byte > 127 counts 256 less.
    high = len(header) - len(header.translate(None, bytes(range(128, 256))))
    return stored == unsigned - 256 * high


def _parse_pax(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:  # trailing NUL padding
            break
        space = data.find(b" ", pos)
        if space < 0:
            raise ArchiveError("invalid pax header: missing length")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise ArchiveError("invalid pax header: bad record length") from None
        end = pos + length
        if length <= space - pos + 1 or end > len(data) or data[end - 1:end] != b"\n":
            raise ArchiveError("invalid pax header: record length out of range")
        key, eq, value = data[space + 1:end - 1].partition(b"=")
        if not eq:
            raise ArchiveError("invalid pax header: record without '='")
        records[_decode(key)] = value.decode("utf-8", "surrogateescape") if not key.startswith(b"SCHILY.xattr.") \
            else value.decode("latin-1")  # xattr values are raw bytes; latin-1 keeps them 1:1
        pos = end
    return records


class TarReader:
    """Iterates entries of a tar stream. Payloads must be consumed with read_payload/skip_payload."""

    def __init__(self, stream, seekable: bool = False):
        self._s = stream
        self._seekable = seekable  # skip unread payloads by seeking (indexing an archive on disk)
        self._remaining = 0     # payload bytes of the current entry not yet read
        self._padding = 0       # padding after the current payload
        self._global: dict[str, str] = {}
        self._pending_raw = bytearray()
        self._current = ""      # name of the entry whose payload is being read
        self._started = False   # a header block has been seen
        self.ended = False

    def _read_exact(self, n: int, what: str) -> bytes:
        data = self._s.read(n)
        if len(data) != n:
            raise ArchiveError(f"truncated tar stream: unexpected end of data in {what}")
        return data

    def read_payload(self, n: int) -> bytes:
        n = min(n, self._remaining)
        data = self._s.read(n)
        if len(data) != n or (n and not data):
            raise ArchiveError("truncated tar stream: file data ends early")
        self._remaining -= len(data)
        return data

    def readinto_payload(self, buf) -> int:
        view = memoryview(buf)[:min(len(buf), self._remaining)]
        if not len(view):
            return 0
        n = self._s.readinto(view)
        if not n:
            raise ArchiveError("truncated tar stream: file data ends early")
        self._remaining -= n
        return n

    def _finish_entry(self, payload_is_raw: bool) -> None:
        if payload_is_raw and self._remaining > MAX_SPECIAL:
            # Kept payloads are held in memory: only non-file entries (directories, links, whiteouts)
            # keep theirs, and those have no business carrying megabytes.
            raise ArchiveError(f"tar entry {self._current!r} carries {self._remaining} bytes of data that is not "
                               f"file content (limit {MAX_SPECIAL})")
        if self._seekable and not payload_is_raw and self._remaining:
            self._s.seek(self._remaining, 1)
            self._remaining = 0
        while self._remaining:
            chunk = self.read_payload(min(self._remaining, 1 << 20))
            if payload_is_raw:
                self._pending_raw += chunk
        if self._padding:
            self._pending_raw += self._read_exact(self._padding, "padding")
            self._padding = 0

    def __iter__(self):
        return self

    def __next__(self) -> Entry:
        entry = self.next()
        if entry is None:
            raise StopIteration
        return entry

    def next(self, previous_payload_is_raw: bool = True) -> Entry | None:
        """The next entry; an unread payload of the previous entry is kept as raw bytes."""
        self._finish_entry(previous_payload_is_raw)
        if self.ended:
            return None
        local: dict[str, str] = {}
        long_name = long_link = None
        group = 0
        while True:
            block = self._s.read(BLOCK)
            if len(block) == 0 and not self._started:
                raise ArchiveError("empty tar stream")
            if len(block) == 0:
                # EOF without end-of-archive blocks: tolerated, as GNU tar does
                self.ended = True
                return None
            if len(block) != BLOCK:
                raise ArchiveError("truncated tar stream: partial header block")
            self._started = True
            self._pending_raw += block
            if block == bytes(BLOCK):
                self.ended = True
                return None
            if not _checksum_ok(block):
                raise ArchiveError("invalid tar header: checksum mismatch (not a tar stream, or corrupt)")
            typeflag = chr(block[156])
            size = _number(block[124:136], "size")
            if size < 0:
                raise ArchiveError("invalid tar header: negative size")
            if typeflag in ("x", "g", "L", "K"):
                if size > MAX_SPECIAL:
                    raise ArchiveError(f"tar header record of {size} bytes exceeds the {MAX_SPECIAL}-byte limit")
                group += BLOCK + size
                if group > MAX_HEADER_GROUP:
                    raise ArchiveError(f"extended tar headers in front of one entry exceed the "
                                       f"{MAX_HEADER_GROUP}-byte limit")
                data = self._read_exact(size, "extended header")
                pad = self._read_exact(-size % BLOCK, "padding")
                self._pending_raw += data + pad
                if typeflag == "x":
                    local.update(_parse_pax(data))
                elif typeflag == "g":
                    self._global.update(_parse_pax(data))
                    if sum(len(k) + len(v) for k, v in self._global.items()) > MAX_SPECIAL:
                        raise ArchiveError(f"global pax headers exceed the {MAX_SPECIAL}-byte limit")
                elif typeflag == "L":
                    long_name = _decode(data.split(b"\0", 1)[0])
                else:
                    long_link = _decode(data.split(b"\0", 1)[0])
                continue
            return self._make_entry(block, typeflag, size, {**self._global, **local}, long_name, long_link)

    def _make_entry(self, block, typeflag, size, pax, long_name, long_link) -> Entry:
        if typeflag in _REG_ALIASES:
            typeflag = REG
        if typeflag == "S" or any(k.startswith("GNU.sparse") for k in pax):
            raise ArchiveError("sparse tar entries are not supported")
        if typeflag not in _KNOWN:
            raise ArchiveError(f"unsupported tar entry type {typeflag!r}")
        magic = block[257:265]
        name = block[0:100].split(b"\0", 1)[0]
        if magic[:6] == b"ustar\0":
            prefix = block[345:500].split(b"\0", 1)[0]
            if prefix:
                name = prefix + b"/" + name
        name = _decode(name)
        linkname = _decode(block[157:257].split(b"\0", 1)[0])
        if long_name is not None:
            name = long_name
        if long_link is not None:
            linkname = long_link
        name = pax.get("path", name)
        linkname = pax.get("linkpath", linkname)
        if "size" in pax:
            try:
                size = int(pax["size"])
            except ValueError:
                raise ArchiveError("invalid pax size") from None
            if size < 0:
                raise ArchiveError(f"{name}: invalid pax size {size}")
        if typeflag == REG and name.endswith("/") and block[156] == 0:
            typeflag = DIR  # old (v7) archives mark directories by a trailing slash only
        entry = Entry(
            name=name, type=typeflag, size=size,
            mode=_number(block[100:108], "mode") & 0o7777,
            uid=_int_pax(pax, "uid", _number(block[108:116], "uid")),
            gid=_int_pax(pax, "gid", _number(block[116:124], "gid")),
            mtime=_float_pax(pax, "mtime", _number(block[136:148], "mtime")),
            linkname=linkname,
            devmajor=_number(block[329:337], "devmajor") if typeflag in (CHR, BLK) else 0,
            devminor=_number(block[337:345], "devminor") if typeflag in (CHR, BLK) else 0,
        )
        for key, value in pax.items():
            if key.startswith("SCHILY.xattr."):
                entry.xattrs[key[len("SCHILY.xattr."):]] = value.encode("latin-1")
            elif key.startswith("LIBARCHIVE.xattr."):
                try:
                    entry.xattrs[key[len("LIBARCHIVE.xattr."):]] = base64.b64decode(value + "==")
                except ValueError:
                    raise ArchiveError(f"invalid base64 xattr in {name!r}") from None
        if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME or len(linkname) > MAX_NAME:
            raise ArchiveError(f"tar entry name longer than {MAX_NAME} bytes")
        if not (math.isfinite(entry.mtime) and -MAX_MTIME <= entry.mtime <= MAX_MTIME):
            raise ArchiveError(f"{name}: invalid mtime {entry.mtime}")
        if entry.uid < 0 or entry.gid < 0 or entry.uid > 0xFFFFFFFE or entry.gid > 0xFFFFFFFE:
            raise ArchiveError(f"{name}: invalid owner {entry.uid}:{entry.gid}")
        entry.raw = bytes(self._pending_raw)
        self._pending_raw.clear()
        self._current = name
        self._remaining = size
        self._padding = -size % BLOCK
        return entry

    def drain(self, limit: int | None = None) -> bytes:
        """After the end-of-archive marker: consume the rest of the stream (it counts for diff_id).

        Returns the raw bytes (the end marker plus trailing data) while they fit in `limit`; raises
        OverflowError past it so the caller can fall back to keeping the original blob. With no
        limit nothing is kept (b"" is returned): trailing data can be any size.
        """
        self._finish_entry(True)
        raw = self._pending_raw
        too_big = limit is None
        while True:
            chunk = self._s.read(1 << 20)
            if not chunk:
                break
            if not too_big:
                raw += chunk
                if limit is not None and len(raw) > limit:
                    too_big = True
        out = bytes(raw) if limit is not None else b""
        self._pending_raw = bytearray()
        if too_big and limit is not None:
            raise OverflowError("trailing data too large to record")
        return out


def _int_pax(pax, key, default):
    if key in pax:
        try:
            return int(pax[key])
        except ValueError:
            raise ArchiveError(f"invalid pax {key}") from None
    return default


def _float_pax(pax, key, default):
    if key in pax:
        try:
            return float(pax[key])
        except ValueError:
            raise ArchiveError(f"invalid pax {key}") from None
    return float(default)


# ---- writing -------------------------------------------------------------------------------

def _octal(value: int, width: int) -> bytes:
    return (b"%0*o" % (width - 1, value)) + b"\0"


def _fits(value: int, width: int) -> bool:
    return 0 <= value < 8 ** (width - 1)


def _pax_record(key: str, value: bytes) -> bytes:
    body = b" " + key.encode() + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n).encode()) + len(body) != n:
        n = len(str(n).encode()) + len(body)
    return str(n).encode() + body


def build_header(e: Entry) -> bytes:
    """Header block(s) for `e`: a pax header first when a field does not fit ustar."""
    name = e.name.encode("utf-8", "surrogateescape")
    link = e.linkname.encode("utf-8", "surrogateescape")
    pax: list[bytes] = []
    if len(name) > 100:
        pax.append(_pax_record("path", name))
    if len(link) > 100:
        pax.append(_pax_record("linkpath", link))
    for key, limit in (("size", 12), ("uid", 8), ("gid", 8)):
        if not _fits(getattr(e, key), limit):
            pax.append(_pax_record(key, str(getattr(e, key)).encode()))
    mtime = int(e.mtime)
    if not _fits(mtime, 12):
        pax.append(_pax_record("mtime", str(mtime).encode()))
        mtime = 0
    for k in sorted(e.xattrs):
        pax.append(_pax_record("SCHILY.xattr." + k, e.xattrs[k]))
    out = b""
    if pax:
        data = b"".join(pax)
        pax_name = b"PaxHeaders/" + name[-80:]
        out += _ustar(pax_name, b"", "x", len(data), 0o644, 0, 0, 0, 0, 0)
        out += data + bytes(-len(data) % BLOCK)
    out += _ustar(name[:100], link[:100], e.type, e.size if _fits(e.size, 12) else 0, e.mode,
                  e.uid if _fits(e.uid, 8) else 0, e.gid if _fits(e.gid, 8) else 0, mtime,
                  e.devmajor, e.devminor)
    return out


def _ustar(name, link, typeflag, size, mode, uid, gid, mtime, devmajor, devminor) -> bytes:
    h = bytearray(BLOCK)
    h[0:len(name)] = name
    h[100:108] = _octal(mode & 0o7777, 8)
    h[108:116] = _octal(uid, 8)
    h[116:124] = _octal(gid, 8)
    h[124:136] = _octal(size, 12)
    h[136:148] = _octal(mtime, 12)
    h[156] = ord(typeflag)
    h[157:157 + len(link)] = link
    h[257:265] = b"ustar\x0000"
    h[329:337] = _octal(devmajor, 8)
    h[337:345] = _octal(devminor, 8)
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


END_OF_ARCHIVE = bytes(2 * BLOCK)
