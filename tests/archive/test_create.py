"""write_tree: deterministic layer tars, SOURCE_DATE_EPOCH, round trips, overlay upper conversion."""
from __future__ import annotations

import io
import os
import socket
import stat
import tarfile

import pytest

from archive_helpers import MTIME, chrdev, dir_, extract_bytes, make_tar, reg, tree
from berth.archive import write_tree
from berth.archive.tarformat import Entry, build_header, TarReader


def populate(base, reverse=False):
    """A tree with every kind of file; `reverse` creates the leaves in the opposite order."""
    for d in ("etc", "bin", "tmp"):
        os.mkdir(base / d)
    leaves = [
        lambda: (base / "etc" / "passwd").write_bytes(b"root:x:0:0::/root:/bin/sh\n"),
        lambda: (base / "etc" / "big").write_bytes(bytes(range(256)) * 5000),
        lambda: os.symlink("passwd", base / "etc" / "pw-link"),
        lambda: (base / "bin" / "busybox").write_bytes(b"\x7fELF" + b"\0" * 1000),
        lambda: os.mkfifo(base / "fifo", 0o640),
        lambda: os.mknod(base / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3)),
        lambda: os.mknod(base / "sda", 0o660 | stat.S_IFBLK, os.makedev(8, 0)),
        lambda: (base / "B-upper").write_bytes(b"sorts before lowercase"),
        lambda: (base / "etc.d").write_bytes(b"sorts after etc/ children"),
        lambda: (base / "empty").write_bytes(b""),
    ]
    for step in (reversed(leaves) if reverse else leaves):
        step()
    for name in (("sh", "ash") if reverse else ("ash", "sh")):
        os.link(base / "bin" / "busybox", base / "bin" / name)
    os.chmod(base / "etc", 0o750)
    os.chmod(base / "tmp", 0o1777)
    os.chmod(base / "bin" / "busybox", 0o4755)
    os.chmod(base / "null", 0o666)
    os.chown(base / "etc" / "passwd", 1234, 5678)
    os.chown(base / "etc" / "pw-link", 42, 43, follow_symlinks=False)
    os.setxattr(base / "etc" / "passwd", "user.note", b"v\x00\xff")
    os.setxattr(base / "bin", "trusted.keep", b"1")
    for dirpath, dirnames, filenames in os.walk(base, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), (MTIME, MTIME + len(name)), follow_symlinks=False)
    os.utime(base, (MTIME, MTIME))


def whole_seconds(base):
    """write_tree stores whole seconds: drop sub-second parts so trees compare equal after a round trip."""
    for dirpath, dirnames, filenames in os.walk(base):
        for name in filenames + dirnames:
            p = os.path.join(dirpath, name)
            t = int(os.lstat(p).st_mtime)
            os.utime(p, (t, t), follow_symlinks=False)


def tar_of(root, **kw) -> bytes:
    out = io.BytesIO()
    write_tree(str(root), out, **kw)
    return out.getvalue()


def members(data: bytes):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        return tf.getmembers()


def test_write_tree_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    populate(a)
    populate(b, reverse=True)
    first = tar_of(a)
    assert first == tar_of(a)
    assert first == tar_of(b)
    assert len(first) % 512 == 0 and first.endswith(bytes(1024))


def test_entries_are_sorted_depth_first_by_bytes(tmp_path):
    populate(tmp_path)
    names = [m.name for m in members(tar_of(tmp_path))]
    assert names == ["B-upper", "bin", "bin/ash", "bin/busybox", "bin/sh", "empty", "etc", "etc/big",
                     "etc/passwd", "etc/pw-link", "etc.d", "fifo", "null", "sda", "tmp"]


def test_entry_fields(tmp_path):
    populate(tmp_path)
    by_name = {m.name: m for m in members(tar_of(tmp_path))}
    assert by_name["bin"].isdir() and by_name["etc"].mode == 0o750
    assert by_name["tmp"].mode == 0o1777
    assert by_name["bin/ash"].isreg() and by_name["bin/ash"].mode == 0o4755
    # the first name in sorted order carries the data, the others link to it
    assert by_name["bin/busybox"].islnk() and by_name["bin/busybox"].linkname == "bin/ash"
    assert by_name["bin/sh"].islnk() and by_name["bin/sh"].linkname == "bin/ash"
    assert by_name["etc/pw-link"].issym() and by_name["etc/pw-link"].linkname == "passwd"
    assert (by_name["etc/pw-link"].uid, by_name["etc/pw-link"].gid) == (42, 43)
    p = by_name["etc/passwd"]
    assert (p.uid, p.gid, p.uname, p.gname, p.mtime) == (1234, 5678, "", "", MTIME + len("passwd"))
    assert p.pax_headers["SCHILY.xattr.user.note"] == "v\x00\xff".encode("latin-1").decode("utf-8", "surrogateescape")
    assert "SCHILY.xattr.trusted.keep" in by_name["bin"].pax_headers
    assert by_name["null"].ischr() and (by_name["null"].devmajor, by_name["null"].devminor) == (1, 3)
    assert by_name["sda"].isblk() and by_name["sda"].devmajor == 8
    assert by_name["fifo"].isfifo() and by_name["fifo"].mode == 0o640
    assert by_name["etc/big"].size == 256 * 5000


def test_sockets_are_skipped(tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(tmp_path / "sock"))
        assert [m.name for m in members(tar_of(tmp_path))] == ["f"]
    finally:
        s.close()


def test_source_date_epoch_clamps_mtimes(tmp_path):
    (tmp_path / "old").write_bytes(b"o")
    (tmp_path / "new").write_bytes(b"n")
    (tmp_path / "d").mkdir()
    os.symlink("new", tmp_path / "l")
    os.utime(tmp_path / "old", (1000, 1000))
    os.utime(tmp_path / "new", (2_000_000_000, 2_000_000_000))
    os.utime(tmp_path / "d", (3_000_000_000, 3_000_000_000))
    os.utime(tmp_path / "l", (2_500_000_000, 2_500_000_000), follow_symlinks=False)
    times = {m.name: m.mtime for m in members(tar_of(tmp_path, source_date_epoch=1_700_000_000))}
    assert times == {"old": 1000, "new": 1_700_000_000, "d": 1_700_000_000, "l": 1_700_000_000}
    times = {m.name: m.mtime for m in members(tar_of(tmp_path))}
    assert times["new"] == 2_000_000_000 and times["d"] == 3_000_000_000


def test_round_trip_gives_an_identical_tree(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir(), dst.mkdir()
    populate(src)
    deep = src / ("long-" * 30) / ("deeper-" * 30)
    deep.mkdir(parents=True)
    (deep / ("file-" * 40)).write_bytes(b"long names")
    os.symlink("t" * 300, src / "long-link")
    (src / "huge-owner").write_bytes(b"")
    os.chown(src / "huge-owner", 3_000_000, 4_000_000)
    (src / "future").write_bytes(b"")
    os.utime(src / "future", (1 << 34, 1 << 34))
    (src / "past").write_bytes(b"")
    os.utime(src / "past", (-5000, -5000))
    whole_seconds(src)
    data = tar_of(src)
    r = extract_bytes(data, dst)
    assert tree(dst, times="all") == tree(src, times="all")
    assert r.reconstructible
    assert tar_of(dst) == data


def test_overlay_upper_whiteouts_and_opaque_dirs(tmp_path):
    upper = tmp_path / "upper"
    upper.mkdir()
    os.mknod(upper / "gone", 0o600 | stat.S_IFCHR, os.makedev(0, 0))
    os.mkdir(upper / "opq")
    os.setxattr(upper / "opq", "trusted.overlay.opaque", b"y")
    (upper / "opq" / "child").write_bytes(b"c")
    os.mkdir(upper / "plain")
    os.mknod(upper / "plain" / "also-gone", 0o600 | stat.S_IFCHR, os.makedev(0, 0))
    os.mknod(upper / "realdev", 0o600 | stat.S_IFCHR, os.makedev(1, 5))
    (upper / "moved").write_bytes(b"")
    os.setxattr(upper / "moved", "trusted.overlay.redirect", b"/elsewhere")
    os.setxattr(upper / "moved", "user.kept", b"k")

    ms = members(tar_of(upper, overlay_upper=True))
    names = [m.name for m in ms]
    assert names == [".wh.gone", "moved", "opq", "opq/.wh..wh..opq", "opq/child", "plain",
                     "plain/.wh.also-gone", "realdev"]
    by_name = {m.name: m for m in ms}
    for wh in (".wh.gone", "opq/.wh..wh..opq", "plain/.wh.also-gone"):
        assert by_name[wh].isreg() and by_name[wh].size == 0
    assert by_name["realdev"].ischr() and by_name["realdev"].devminor == 5
    for m in ms:
        assert not any(k.startswith("SCHILY.xattr.trusted.overlay.") for k in m.pax_headers), m.name
    assert by_name["moved"].pax_headers["SCHILY.xattr.user.kept"] == "k"

    # without overlay_upper the device is an ordinary char device and no opaque marker is added
    plain = [m.name for m in members(tar_of(upper))]
    assert "gone" in plain and ".wh.gone" not in plain and "opq/.wh..wh..opq" not in plain


def test_overlay_round_trip_keeps_whiteouts(tmp_path):
    layer = make_tar(dir_("d/"), reg("d/.wh..wh..opq"), reg("d/new", b"n"), reg(".wh.removed"),
                     dir_("e/"), reg("e/.wh.x"), chrdev("e/null", 1, 3))
    diff = tmp_path / "diff"
    diff.mkdir()
    extract_bytes(layer, diff, whiteouts="overlay")
    names = [m.name for m in members(tar_of(diff, overlay_upper=True))]
    assert names == ["d", "d/.wh..wh..opq", "d/new", "e", "e/null", "e/.wh.x", ".wh.removed"]
    # and that layer applied onto a lower tree gives the merged view
    lower = tmp_path / "lower"
    lower.mkdir()
    extract_bytes(make_tar(dir_("d/"), reg("d/old"), reg("removed"), dir_("e/"), reg("e/x"), reg("e/y")), lower)
    extract_bytes(tar_of(diff, overlay_upper=True), lower)
    assert sorted(os.listdir(lower)) == ["d", "e"]
    assert os.listdir(lower / "d") == ["new"]
    assert sorted(os.listdir(lower / "e")) == ["null", "y"]


def test_build_header_fields_beyond_ustar(tmp_path):
    e = Entry("n" * 150, "0", size=0, mode=0o644, uid=1 << 30, gid=7, mtime=1 << 40, linkname="",
              xattrs={"user.a": b"\xff\x00"})
    data = build_header(e) + bytes(1024)
    (m,) = members(data)
    assert (m.name, m.uid, m.gid, m.mtime) == ("n" * 150, 1 << 30, 7, 1 << 40)
    (entry,) = list(TarReader(io.BytesIO(data)))
    assert entry.xattrs == {"user.a": b"\xff\x00"} and entry.uid == 1 << 30 and entry.mtime == 1 << 40


@pytest.mark.parametrize("length", [99, 100, 101, 255, 256, 1000])
def test_name_lengths_round_trip(tmp_path, length):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir(), dst.mkdir()
    parts, remaining = [], length
    while remaining > 200:
        parts.append("x" * 199)
        remaining -= 200
    parts.append("y" * remaining)
    rel = "/".join(parts)
    assert len(rel) == length
    (src / rel).parent.mkdir(parents=True, exist_ok=True)
    (src / rel).write_bytes(b"!")
    data = tar_of(src)
    assert rel in [m.name for m in members(data)]
    extract_bytes(data, dst)
    assert (dst / rel).read_bytes() == b"!"
