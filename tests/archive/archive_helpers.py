"""Helpers for the archive tests: tar builders (tarfile and raw header bytes) and a tree snapshot."""
from __future__ import annotations

import io
import os
import stat
import tarfile

from berth.archive import extract
from berth.errors import ArchiveError

MTIME = 1_600_000_000
BLOCK = 512
END = bytes(2 * BLOCK)


# ---- building tar streams ------------------------------------------------------------------

def ti(name, type=tarfile.REGTYPE, data=b"", *, mode=0o644, uid=0, gid=0, mtime=MTIME, linkname="",
       devmajor=0, devminor=0, pax=None):
    """A (TarInfo, data) member; any name/linkname/type is allowed (nothing is sanitised)."""
    info = tarfile.TarInfo(name)
    info.type = type
    info.mode = mode
    info.uid, info.gid = uid, gid
    info.mtime = mtime
    info.linkname = linkname
    info.devmajor, info.devminor = devmajor, devminor
    info.size = len(data) if type in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    if pax:
        info.pax_headers = dict(pax)
    return info, data


def reg(name, data=b"", **kw):
    return ti(name, tarfile.REGTYPE, data, **kw)


def dir_(name, **kw):
    kw.setdefault("mode", 0o755)
    return ti(name, tarfile.DIRTYPE, **kw)


def sym(name, target, **kw):
    kw.setdefault("mode", 0o777)
    return ti(name, tarfile.SYMTYPE, linkname=target, **kw)


def lnk(name, target, **kw):
    return ti(name, tarfile.LNKTYPE, linkname=target, **kw)


def fifo(name, **kw):
    return ti(name, tarfile.FIFOTYPE, **kw)


def chrdev(name, major, minor, **kw):
    return ti(name, tarfile.CHRTYPE, devmajor=major, devminor=minor, **kw)


def member_bytes(member, format=tarfile.PAX_FORMAT) -> bytes:
    info, data = member
    out = info.tobuf(format, "utf-8", "surrogateescape")
    if data:
        out += data + bytes(-len(data) % BLOCK)
    return out


def make_tar(*members, format=tarfile.PAX_FORMAT, end=True, trailing=b"") -> bytes:
    """Concatenate members (tuples from ti()/reg()/... or raw bytes) into a tar stream."""
    out = b"".join(m if isinstance(m, bytes) else member_bytes(m, format) for m in members)
    if end:
        out += END
    return out + trailing


def tarfile_archive(*members, format=tarfile.PAX_FORMAT) -> bytes:
    """The stream exactly as tarfile itself writes it (record padding included)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=format) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def _field(value, width) -> bytes:
    if isinstance(value, bytes):
        return value.ljust(width, b"\0")[:width]
    if 0 <= value < 8 ** (width - 1):
        return b"%0*o\0" % (width - 1, value)
    # GNU base-256 (also for negative numbers)
    return (value % (1 << (8 * width))).to_bytes(width, "big") if value < 0 else \
        (value | (1 << (8 * width - 1))).to_bytes(width, "big")


def raw_header(name: bytes, typeflag: bytes = b"0", *, size=0, mode=0o644, uid=0, gid=0, mtime=MTIME,
               linkname: bytes = b"", devmajor=0, devminor=0, magic=b"ustar\x0000", prefix=b"",
               checksum=None) -> bytes:
    """One 512-byte header block with arbitrary field values (base-256 for numbers that do not fit)."""
    h = bytearray(BLOCK)
    h[0:100] = name.ljust(100, b"\0")[:100]
    h[100:108] = _field(mode, 8)
    h[108:116] = _field(uid, 8)
    h[116:124] = _field(gid, 8)
    h[124:136] = _field(size, 12)
    h[136:148] = _field(mtime, 12)
    h[156:157] = typeflag
    h[157:257] = linkname.ljust(100, b"\0")[:100]
    h[257:265] = magic
    h[329:337] = _field(devmajor, 8)
    h[337:345] = _field(devminor, 8)
    h[345:500] = prefix.ljust(155, b"\0")[:155]
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % (sum(h) if checksum is None else checksum)
    assert len(h) == BLOCK
    return bytes(h)


def raw_member(name: bytes, typeflag: bytes = b"0", data: bytes = b"", **kw) -> bytes:
    return raw_header(name, typeflag, size=kw.pop("size", len(data)), **kw) + data + bytes(-len(data) % BLOCK)


def pax_record(key: str, value) -> bytes:
    value = value.encode() if isinstance(value, str) else value
    body = b" " + key.encode() + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n = len(str(n)) + len(body)
    return str(n).encode() + body


def pax_member(records: dict | bytes, typeflag=b"x") -> bytes:
    data = records if isinstance(records, bytes) else b"".join(pax_record(k, v) for k, v in records.items())
    return raw_member(b"PaxHeaders/x", typeflag, data)


# ---- looking at trees ----------------------------------------------------------------------

def _xattrs(path):
    try:
        keys = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ()
    return tuple(sorted((k, os.getxattr(path, k, follow_symlinks=False)) for k in keys))


def describe(path, *, times=True, inode=False, ctime=False):
    st = os.lstat(path)
    info = {"fmt": stat.S_IFMT(st.st_mode), "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid,
            "gid": st.st_gid, "xattrs": _xattrs(path)}
    if times:
        info["mtime"] = st.st_mtime_ns
    if inode:
        info["ino"] = st.st_ino
        info["nlink"] = st.st_nlink
    if ctime:
        info["ctime"] = st.st_ctime_ns
    if stat.S_ISLNK(st.st_mode):
        info["link"] = os.readlink(path)
    elif stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            info["data"] = f.read()
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        info["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
    return info


def snapshot(base, exclude=None, **kw) -> dict:
    """Every path under `base` (except the subtree `exclude`) with type, mode, owner, contents, times."""
    base, exclude = str(base), (str(exclude) if exclude else None)
    out = {}

    def visit(path, rel):
        out[rel] = describe(path, **kw)
        if stat.S_ISDIR(os.lstat(path).st_mode):
            for name in sorted(os.listdir(path)):
                child = os.path.join(path, name)
                if child != exclude:
                    visit(child, f"{rel}/{name}" if rel else name)

    visit(base, "")
    return out


def tree(root, **kw) -> dict:
    """snapshot() of a tree, without the root directory itself; hardlinks grouped by inode."""
    kw.setdefault("inode", True)
    snap = snapshot(root, **kw)
    snap.pop("")
    # inode numbers differ between trees: replace them by the first path sharing the inode
    first = {}
    for rel, info in snap.items():
        if "ino" in info:
            info["ino"] = first.setdefault(info["ino"], rel)
    return snap


class Jail:
    """tmp_path/outside holds sentinels, tmp_path/root is the extraction root."""

    def __init__(self, base):
        self.base = base
        self.outside = base / "outside"
        self.root = base / "root"
        self.outside.mkdir()
        (self.outside / "file").write_bytes(b"sentinel\n")
        os.chmod(self.outside / "file", 0o644)
        (self.outside / "dir").mkdir()
        (self.outside / "dir" / "inner").write_bytes(b"inner\n")
        (self.outside / "x").write_bytes(b"x-sentinel\n")
        os.symlink("file", self.outside / "link")
        os.setxattr(self.outside / "file", "user.sentinel", b"1")
        for p in (self.outside / "file", self.outside / "dir" / "inner", self.outside / "x",
                  self.outside / "dir", self.outside):
            os.utime(p, (MTIME, MTIME))
        self.root.mkdir()
        self.abs_outside = str(self.outside)  # an absolute path, for hostile absolute names/targets

    def snap(self):
        return snapshot(self.base, exclude=self.root, inode=True, ctime=True)

    def extract(self, *streams, expect=None, unsafe=False, **kw):
        """Extract each stream in turn; assert nothing outside root changed.

        expect: None when every stream must extract cleanly, else a keyword the ArchiveError's
        message must contain (case-insensitive); unsafe=True additionally requires UnsafeArchive.
        """
        before = self.snap()
        error = None
        results = []
        try:
            for data in streams:
                results.append(extract(io.BytesIO(data), str(self.root), **kw))
        except ArchiveError as e:
            error = e
        after = self.snap()
        assert after == before, _diff(before, after)
        if expect is None:
            if error is not None:
                raise error
            return results[-1] if len(results) == 1 else results
        assert error is not None, f"expected an ArchiveError mentioning {expect!r}, extraction succeeded"
        from berth.errors import UnsafeArchive
        if unsafe:
            assert isinstance(error, UnsafeArchive), f"{type(error).__name__}: {error}"
        keywords = (expect,) if isinstance(expect, str) else expect
        message = str(error).lower()
        assert any(k.lower() in message for k in keywords), f"message {str(error)!r} lacks {keywords}"
        assert "\n" not in str(error).strip()
        return error

    def inside(self, rel):
        return self.root / rel.lstrip("/")


def _diff(before, after):
    lines = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            lines.append(f"{key!r}: {before.get(key)} -> {after.get(key)}")
    return "outside the root changed:\n" + "\n".join(lines[:20])


def extract_bytes(data: bytes, root, **kw):
    return extract(io.BytesIO(data), str(root), **kw)
