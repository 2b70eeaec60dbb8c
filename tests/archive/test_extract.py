"""Functional behaviour of extract(): entry kinds, metadata, whiteouts, compression, result fields."""
from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import stat
import tarfile

import pytest
import zstandard

from archive_helpers import (MTIME, chrdev, dir_, extract_bytes, fifo, lnk, make_tar, pax_member, raw_member,
                             reg, sym, tarfile_archive, ti, END)
from berth.archive import extract
from berth.errors import ArchiveError


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    r.mkdir()
    return r


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def all_kinds():
    return [
        dir_("etc/", mode=0o750, uid=1234, gid=5678, mtime=MTIME + 1),
        reg("etc/conf", b"hello\n", mode=0o640, uid=1234, gid=5678, mtime=MTIME + 2),
        sym("etc/link", "conf", uid=1234, gid=5678, mtime=MTIME + 3),
        lnk("etc/hard", "etc/conf"),
        fifo("etc/pipe", mode=0o620, uid=1234, gid=5678, mtime=MTIME + 4),
        chrdev("dev/null", 1, 3, mode=0o666, uid=1234, gid=5678, mtime=MTIME + 5),
        ti("dev/loop0", tarfile.BLKTYPE, devmajor=7, devminor=0, mode=0o660, uid=0, gid=6, mtime=MTIME + 6),
        reg("empty", b"", mode=0o400, uid=1, gid=2, mtime=MTIME + 7),
    ]


def test_all_entry_kinds_with_owners_modes_and_times(root):
    r = extract_bytes(make_tar(*all_kinds()), root)
    etc = root / "etc"
    st = os.lstat(etc)
    assert stat.S_ISDIR(st.st_mode) and mode_of(etc) == 0o750 and (st.st_uid, st.st_gid) == (1234, 5678)
    assert st.st_mtime == MTIME + 1  # survived the children written after it
    st = os.lstat(etc / "conf")
    assert stat.S_ISREG(st.st_mode) and mode_of(etc / "conf") == 0o640
    assert (st.st_uid, st.st_gid, st.st_mtime) == (1234, 5678, MTIME + 2)
    assert (etc / "conf").read_bytes() == b"hello\n"
    st = os.lstat(etc / "link")
    assert stat.S_ISLNK(st.st_mode) and os.readlink(etc / "link") == "conf"
    assert (st.st_uid, st.st_gid, st.st_mtime) == (1234, 5678, MTIME + 3)
    assert os.lstat(etc / "hard").st_ino == os.lstat(etc / "conf").st_ino
    assert os.lstat(etc / "conf").st_nlink == 2
    st = os.lstat(etc / "pipe")
    assert stat.S_ISFIFO(st.st_mode) and mode_of(etc / "pipe") == 0o620
    assert (st.st_uid, st.st_gid, st.st_mtime) == (1234, 5678, MTIME + 4)
    st = os.lstat(root / "dev" / "null")
    assert stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)
    assert mode_of(root / "dev" / "null") == 0o666 and (st.st_uid, st.st_gid) == (1234, 5678)
    assert st.st_mtime == MTIME + 5
    st = os.lstat(root / "dev" / "loop0")
    assert stat.S_ISBLK(st.st_mode) and st.st_rdev == os.makedev(7, 0) and st.st_gid == 6
    assert mode_of(root / "empty") == 0o400 and os.lstat(root / "empty").st_uid == 1
    assert r.entries == 8
    assert r.size == len(b"hello\n")
    assert r.compression == ""


def test_special_mode_bits(root):
    extract_bytes(make_tar(reg("suid", b"x", mode=0o4755, uid=1000), reg("sgid", b"x", mode=0o2711, gid=50),
                           dir_("tmp/", mode=0o1777), dir_("shared/", mode=0o2775, gid=100),
                           reg("all", b"", mode=0o7777, uid=5, gid=5), fifo("p", mode=0o1600)), root)
    assert mode_of(root / "suid") == 0o4755 and os.stat(root / "suid").st_uid == 1000
    assert mode_of(root / "sgid") == 0o2711
    assert mode_of(root / "tmp") == 0o1777
    assert mode_of(root / "shared") == 0o2775
    assert mode_of(root / "all") == 0o7777
    assert mode_of(root / "p") == 0o1600


def test_directory_mtimes_survive_later_children(root):
    extract_bytes(make_tar(dir_("a/", mtime=1000), dir_("a/b/", mtime=2000), reg("a/b/f", b"x", mtime=3000),
                           dir_("a/c/", mtime=4000), reg("a/c/g", b"y", mtime=5000), reg("a/h", mtime=6000),
                           dir_("./", mtime=7000, mode=0o711)), root)
    assert os.stat(root / "a").st_mtime == 1000
    assert os.stat(root / "a" / "b").st_mtime == 2000
    assert os.stat(root / "a" / "c").st_mtime == 4000
    assert os.stat(root / "a" / "b" / "f").st_mtime == 3000
    assert os.stat(root).st_mtime == 7000 and mode_of(root) == 0o711


def test_subsecond_and_old_mtimes(root):
    extract_bytes(make_tar(reg("f", pax={"mtime": "1600000000.25"}), sym("l", "f", pax={"mtime": "12.5"}),
                           reg("old", mtime=0), dir_("d/", pax={"mtime": "-100"})), root)
    assert os.lstat(root / "f").st_mtime_ns == 1_600_000_000_250_000_000
    assert os.lstat(root / "l").st_mtime_ns == 12_500_000_000
    assert os.lstat(root / "old").st_mtime == 0
    assert os.lstat(root / "d").st_mtime == -100


def test_xattrs_from_pax(root):
    pax = {"SCHILY.xattr.user.mime": "text/plain", "SCHILY.xattr.trusted.x": "t",
           "SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}
    extract_bytes(make_tar(reg("bin", b"\x7fELF", mode=0o755, pax=pax),
                           dir_("d/", pax={"SCHILY.xattr.user.dir": "yes"}),
                           reg("b64", pax={"LIBARCHIVE.xattr.user.raw": "AAEC/w"})), root)
    assert os.getxattr(root / "bin", "user.mime") == b"text/plain"
    assert os.getxattr(root / "bin", "trusted.x") == b"t"
    assert os.getxattr(root / "bin", "security.capability")[:4] == b"\x01\x00\x00\x02"
    assert os.getxattr(root / "d", "user.dir") == b"yes"
    assert os.getxattr(root / "b64", "user.raw") == b"\x00\x01\x02\xff"


def test_binary_xattr_value_survives(root):
    value = bytes(range(256))
    data = pax_member({"SCHILY.xattr.user.bin": value}) + raw_member(b"f", data=b"x") + END
    extract_bytes(data, root)
    assert os.getxattr(root / "f", "user.bin") == value


def test_xattrs_false_and_same_owner_false(root):
    extract_bytes(make_tar(reg("f", b"x", uid=1234, gid=5678, pax={"SCHILY.xattr.user.a": "1"}),
                           sym("l", "f", uid=1234), dir_("d/", uid=1234, mode=0o700)), root,
                  xattrs=False, same_owner=False)
    assert os.listxattr(root / "f") == []
    for name in ("f", "l", "d"):
        st = os.lstat(root / name)
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    assert mode_of(root / "d") == 0o700


def test_absolute_symlink_inside_the_layer(root):
    extract_bytes(make_tar(dir_("run/", mtime=111), dir_("var/"), sym("var/run", "/run"),
                           reg("var/run/x", b"x"), dir_("var/run/sub/", mtime=222), reg("var/run/sub/y", b"y")),
                  root)
    assert os.readlink(root / "var" / "run") == "/run"
    assert (root / "run" / "x").read_bytes() == b"x"
    assert (root / "run" / "sub" / "y").read_bytes() == b"y"
    # directory mtimes are set on the real directories, also when named through the link
    assert os.stat(root / "run" / "sub").st_mtime == 222
    assert os.stat(root / "run").st_mtime == 111


def test_hardlink_targets_and_chains(root):
    extract_bytes(make_tar(dir_("a/"), reg("a/f", b"data"), lnk("b", "a/f"), lnk("c", "./b"), lnk("a/d", "/c"),
                           sym("s", "a/f"), lnk("t", "s")), root)
    inode = os.lstat(root / "a" / "f").st_ino
    assert {os.lstat(root / n).st_ino for n in ("b", "c", "a/d")} == {inode}
    assert os.lstat(root / "a" / "f").st_nlink == 4
    assert os.path.islink(root / "t") and os.readlink(root / "t") == "a/f"


def test_hardlink_to_missing_target(root):
    with pytest.raises(ArchiveError, match="not found"):
        extract_bytes(make_tar(lnk("h", "nothing")), root)


def test_size_counts_hardlinks_once(root):
    r = extract_bytes(make_tar(reg("a", b"x" * 1000), lnk("b", "a"), lnk("c", "a"), reg("d", b"y" * 24),
                               sym("s", "a"), dir_("e/")), root)
    assert r.size == 1024
    assert r.entries == 6


def test_whiteouts_apply(root):
    extract_bytes(make_tar(reg("gone", b"1"), dir_("d/"), reg("d/gone", b"2"), reg("d/kept", b"3"),
                           dir_("tree/"), reg("tree/deep", b"4"), sym("link", "d")), root)
    r = extract_bytes(make_tar(reg(".wh.gone"), reg("d/.wh.gone"), reg(".wh.tree"), reg(".wh.link"),
                               reg(".wh.never-existed"), reg("nodir/.wh.x")), root)
    assert sorted(os.listdir(root)) == ["d"]
    assert os.listdir(root / "d") == ["kept"]
    assert r.whiteouts == [".wh.gone", "d/.wh.gone", ".wh.tree", ".wh.link", ".wh.never-existed", "nodir/.wh.x"]


def test_opaque_apply_keeps_this_layer_removes_earlier(root):
    extract_bytes(make_tar(dir_("d/"), reg("d/old", b"old"), reg("d/both", b"lower"), dir_("d/sub/"),
                           reg("d/sub/old", b"old"), reg("outside-d", b"keep")), root)
    extract_bytes(make_tar(dir_("d/", mode=0o700), reg("d/.wh..wh..opq"), reg("d/new", b"new"),
                           reg("d/both", b"upper")), root)
    assert sorted(os.listdir(root / "d")) == ["both", "new"]
    assert (root / "d" / "both").read_bytes() == b"upper"
    assert (root / "outside-d").read_bytes() == b"keep"
    assert mode_of(root / "d") == 0o700


def test_opaque_apply_after_children_of_this_layer(root):
    extract_bytes(make_tar(dir_("d/"), reg("d/old", b"old"), dir_("d/sub/"), reg("d/sub/old", b"old"),
                           dir_("d/keep/"), reg("d/keep/old", b"old")), root)
    # opaque marker *after* this layer's children, sub re-declared, keep only used implicitly
    extract_bytes(make_tar(dir_("d/"), dir_("d/sub/", mode=0o701), reg("d/sub/new", b"new"),
                           reg("d/keep/new", b"new"), reg("d/.wh..wh..opq")), root)
    assert sorted(os.listdir(root / "d")) == ["keep", "sub"]
    assert os.listdir(root / "d" / "sub") == ["new"]
    assert os.listdir(root / "d" / "keep") == ["new"]
    assert mode_of(root / "d" / "sub") == 0o701


def test_opaque_apply_at_the_root_and_through_an_inner_symlink(root):
    extract_bytes(make_tar(dir_("real/"), reg("real/old", b"old"), sym("alias", "real"), reg("lower", b"x")), root)
    extract_bytes(make_tar(reg("alias/new", b"n"), reg("alias/.wh..wh..opq")), root)
    assert os.listdir(root / "real") == ["new"]
    extract_bytes(make_tar(reg("top", b"t"), reg(".wh..wh..opq")), root)
    assert os.listdir(root) == ["top"]


def test_whiteouts_overlay(root):
    extract_bytes(make_tar(dir_("d/"), reg("d/x", b"x")), root, whiteouts="overlay")
    r = extract_bytes(make_tar(reg(".wh.gone"), dir_("d/"), reg("d/.wh..wh..opq"), reg("d/.wh.x"),
                               reg("e/.wh..wh..opq"), reg("e/new", b"n")), root, whiteouts="overlay")
    st = os.lstat(root / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert stat.S_ISCHR(os.lstat(root / "d" / "x").st_mode) and os.lstat(root / "d" / "x").st_rdev == 0
    assert os.getxattr(root / "d", "trusted.overlay.opaque") == b"y"
    assert os.getxattr(root / "e", "trusted.overlay.opaque") == b"y"
    assert (root / "e" / "new").read_bytes() == b"n"
    assert not (root / ".wh.gone").exists()
    assert len(r.whiteouts) == 4


def test_overlay_whiteout_over_same_layer_file(root):
    r = extract_bytes(make_tar(reg("f", b"x"), reg(".wh.f")), root, whiteouts="overlay")
    assert stat.S_ISCHR(os.lstat(root / "f").st_mode)
    assert not r.reconstructible


def test_bad_whiteout_mode_argument(root):
    with pytest.raises(ValueError):
        extract_bytes(make_tar(reg("f")), root, whiteouts="merge")


def _compress(kind, data):
    if kind == "gzip":
        return gzip.compress(data, mtime=0)
    if kind == "zstd":
        return zstandard.ZstdCompressor(level=3).compress(data)
    if kind == "bzip2":
        return bz2.compress(data)
    if kind == "xz":
        return lzma.compress(data)
    return data


@pytest.mark.parametrize("kind", ["", "gzip", "zstd", "bzip2", "xz"])
def test_compressed_inputs_and_digests(root, kind):
    big = os.urandom((1 << 20) + 123)  # over one read chunk; random, so bzip2 and xz stay quick
    tar = tarfile_archive(*all_kinds(), reg("big", big))
    blob = _compress(kind, tar)
    r = extract_bytes(blob, root)
    assert r.compression == kind
    assert str(r.diff_id) == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert str(r.digest) == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert r.tar_size == len(tar)
    assert r.compressed_size == len(blob)
    assert (root / "etc" / "conf").read_bytes() == b"hello\n"
    assert (root / "big").read_bytes() == big
    assert r.size == 6 + len(big)


def test_multi_frame_zstd_and_multi_member_gzip(root):
    tar = make_tar(reg("a", b"a" * 5000), reg("b", b"b" * 7000))
    half = len(tar) // 2
    cctx = zstandard.ZstdCompressor()
    r = extract_bytes(cctx.compress(tar[:half]) + cctx.compress(tar[half:]), root)
    assert r.diff_id.hex == hashlib.sha256(tar).hexdigest()
    assert (root / "b").read_bytes() == b"b" * 7000
    other = root / "g"
    other.mkdir()
    r = extract_bytes(gzip.compress(tar[:half]) + gzip.compress(tar[half:]), other)
    assert r.diff_id.hex == hashlib.sha256(tar).hexdigest() and (other / "a").read_bytes() == b"a" * 5000


class Trickle(io.RawIOBase):
    """A stream that hands out at most `n` bytes per read, like a slow pipe."""

    def __init__(self, data, n=1):
        self._data = memoryview(data)
        self._n = n

    def readable(self):
        return True

    def readinto(self, b):
        k = min(len(b), self._n, len(self._data))
        b[:k] = self._data[:k]
        self._data = self._data[k:]
        return k


@pytest.mark.parametrize("kind", ["gzip", "zstd", "xz"])
def test_short_reads_still_detect_compression(root, kind):
    tar = make_tar(reg("f", b"x" * 2000), dir_("d/"))
    r = extract(Trickle(_compress(kind, tar), 1 if kind != "xz" else 3), str(root))
    assert r.compression == kind and (root / "f").read_bytes() == b"x" * 2000
    assert r.diff_id.hex == hashlib.sha256(tar).hexdigest()


def test_missing_end_marker_is_tolerated(root):
    r = extract_bytes(make_tar(dir_("d/"), sym("l", "d"), end=False), root)
    assert (root / "d").is_dir() and r.entries == 2
    r = extract_bytes(make_tar(reg("f", b"x" * 512), end=False), root)
    assert (root / "f").read_bytes() == b"x" * 512


def test_v7_directory_by_trailing_slash(root):
    data = raw_member(b"olddir/", b"\0", magic=b"\0" * 8, mode=0o705) + \
        raw_member(b"olddir/f", b"\0", b"v7", magic=b"\0" * 8) + END
    extract_bytes(data, root)
    assert (root / "olddir").is_dir() and mode_of(root / "olddir") == 0o705
    assert (root / "olddir" / "f").read_bytes() == b"v7"


def test_ustar_prefix_and_gnu_long_names(root):
    deep = "p" * 90 + "/" + "q" * 90 + "/file"
    prefixed = raw_member(b"file", prefix=b"pre/fix", data=b"prefixed")
    extract_bytes(prefixed + make_tar(reg(deep, b"gnu", uid=1 << 22), sym("ln", "t" * 150),
                                      format=tarfile.GNU_FORMAT), root)
    assert (root / "pre" / "fix" / "file").read_bytes() == b"prefixed"
    assert (root / deep).read_bytes() == b"gnu"
    assert os.stat(root / deep).st_uid == 1 << 22  # base-256 number field
    assert os.readlink(root / "ln") == "t" * 150


def test_non_utf8_names(root):
    name = b"caf\xe9-\xff".decode("utf-8", "surrogateescape")
    extract_bytes(make_tar(reg(name, b"latin1"), format=tarfile.GNU_FORMAT), root)
    assert os.listdir(os.fsencode(root)) == [b"caf\xe9-\xff"]


def test_existing_directory_is_merged(root):
    extract_bytes(make_tar(dir_("d/", mode=0o755), reg("d/one", b"1")), root)
    extract_bytes(make_tar(dir_("d/", mode=0o700, uid=42, mtime=999), reg("d/two", b"2")), root)
    assert sorted(os.listdir(root / "d")) == ["one", "two"]
    st = os.stat(root / "d")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_mtime) == (0o700, 42, 999)


def test_replacing_entries_of_an_earlier_layer(root):
    extract_bytes(make_tar(reg("f", b"old"), dir_("d/"), reg("d/x"), sym("s", "f")), root)
    extract_bytes(make_tar(reg("d", b"now a file"), dir_("f/"), reg("s", b"now a file too")), root)
    assert (root / "d").read_bytes() == b"now a file"
    assert (root / "f").is_dir()
    assert not os.path.islink(root / "s")


def test_global_pax_header_applies_to_following_entries(root):
    data = pax_member({"uid": "777"}, typeflag=b"g") + raw_member(b"a", data=b"1") + raw_member(b"b") + END
    extract_bytes(data, root)
    assert os.stat(root / "a").st_uid == 777 and os.stat(root / "b").st_uid == 777
