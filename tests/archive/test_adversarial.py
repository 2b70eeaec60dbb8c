"""Hostile tar streams: nothing outside the extraction root may change, errors must be ArchiveErrors.

Every test goes through `jail.extract`, which snapshots the whole tmp_path except the root (names,
types, modes, owners, contents, xattrs, mtimes, ctimes, inode link counts) before and after.
Hostile absolute names and symlink targets point into tmp_path/outside, never at real host paths.
"""
from __future__ import annotations

import bz2
import gzip
import io
import os
import random
import stat
import tarfile
import tracemalloc

import pytest
import zstandard

from archive_helpers import (END, chrdev, dir_, fifo, lnk, make_tar, pax_member, raw_header,
                             raw_member, reg, sym, ti)
from berth.archive import extract
from berth.errors import ArchiveError


def test_snapshot_notices_changes_outside(jail):
    """The guard itself must be able to fail: a chmod, a new link, a write are all noticed."""
    before = jail.snap()
    os.chmod(jail.outside / "file", 0o600)
    assert jail.snap() != before
    os.chmod(jail.outside / "file", 0o644)
    assert jail.snap() != before  # ctime moved even though the mode is back
    before = jail.snap()
    os.link(jail.outside / "x", jail.base / "hardlink")
    assert jail.snap() != before
    before = jail.snap()
    (jail.base / "new").write_bytes(b"")
    assert jail.snap() != before


# ---- '..' and absolute names -----------------------------------------------------------------

@pytest.mark.parametrize("name", ["../x", "a/../../x", "a/b/../../../outside/x", "..", "./../outside/file",
                                  "a/..", "../root/../outside/x"])
def test_dotdot_names_are_refused(jail, name):
    jail.extract(make_tar(reg(name, b"evil")), expect="'..'", unsafe=True)
    assert not (jail.base / "x").exists()


def test_dotdot_in_pax_path_and_gnu_longname(jail):
    long_evil = "../" + "d/" * 60 + "x"
    jail.extract(make_tar(reg("ok", pax={"path": "../outside/file"})), expect="'..'", unsafe=True)
    jail.extract(make_tar(reg(long_evil, b"evil"), format=tarfile.GNU_FORMAT), expect="'..'", unsafe=True)
    jail.extract(make_tar(sym("s", "x"), lnk("h", "../outside/file"), format=tarfile.GNU_FORMAT),
                 expect="'..'", unsafe=True)


def test_absolute_names_land_inside_root(jail):
    target = jail.abs_outside + "/file"
    jail.extract(make_tar(reg(target, b"inside\n", mode=0o600), dir_(jail.abs_outside + "/newdir/"),
                          reg("//" + jail.abs_outside + "/x", b"x-inside\n")))
    assert jail.inside(target).read_bytes() == b"inside\n"
    assert jail.inside(jail.abs_outside + "/newdir").is_dir()
    assert jail.inside(jail.abs_outside + "/x").read_bytes() == b"x-inside\n"


def test_pax_path_with_nul_is_refused(jail):
    data = pax_member({"path": "a\0../../outside/file"}) + raw_member(b"a", data=b"evil") + END
    jail.extract(data, expect="nul", unsafe=True)


# ---- symlinks planted to redirect later writes -----------------------------------------------

def test_absolute_symlink_to_outside_then_write_through_same_stream(jail):
    jail.extract(make_tar(sym("evil", jail.abs_outside), reg("evil/file", b"pwned")),
                 expect=("not a directory", "evil"))
    assert os.readlink(jail.root / "evil") == jail.abs_outside


def test_symlink_to_slash_then_write_through_lands_inside(jail):
    rel = jail.abs_outside.lstrip("/") + "/file"
    jail.extract(make_tar(sym("evil", "/"), reg("evil/" + rel, b"inside")))
    assert (jail.root / rel).read_bytes() == b"inside"


def test_relative_symlink_escaping_then_write_through_same_stream(jail):
    # root/evil -> ../outside is tmp_path/outside when followed naively
    jail.extract(make_tar(sym("evil", "../outside"), reg("evil/file", b"pwned")), expect="evil")
    # deeper: a/b/up -> ../../../.. clamps at the root, so up/file is root/file
    jail.extract(make_tar(dir_("a/"), dir_("a/b/"), sym("a/b/up", "../../../../"),
                          reg("a/b/up/outside/x", b"clamped")))
    assert (jail.root / "outside" / "x").read_bytes() == b"clamped"
    jail.extract(make_tar(sym("up", "../../../.."), reg("up/x", b"clamped")))
    assert (jail.root / "x").read_bytes() == b"clamped"


def test_symlink_to_outside_then_write_through_in_a_later_layer(jail):
    layer1 = make_tar(sym("evil", jail.abs_outside), sym("rel", "../outside"), sym("slash", "/"))
    jail.extract(layer1)
    jail.extract(make_tar(reg("evil/file", b"pwned")), expect="evil")
    jail.extract(make_tar(reg("rel/x", b"pwned")), expect="rel")
    jail.extract(make_tar(dir_("rel/newdir/")), expect="rel")
    rel = jail.abs_outside.lstrip("/")
    jail.extract(make_tar(reg(f"slash/{rel}/file", b"inside")))
    assert (jail.root / rel / "file").read_bytes() == b"inside"


def test_symlink_final_component_is_replaced_not_written_through(jail):
    jail.extract(make_tar(sym("f", jail.abs_outside + "/file"), reg("f", b"new", mode=0o4777)))
    assert (jail.root / "f").is_file() and not (jail.root / "f").is_symlink()
    assert (jail.root / "f").read_bytes() == b"new"
    assert stat.S_IMODE(os.lstat(jail.root / "f").st_mode) == 0o4777


def test_symlink_final_component_replaced_across_layers(jail):
    jail.extract(make_tar(sym("f", "../outside/file"), sym("d", "../outside/dir")))
    jail.extract(make_tar(reg("f", b"new"), fifo("d", mode=0o666)))
    assert (jail.root / "f").read_bytes() == b"new" and not (jail.root / "f").is_symlink()
    assert stat.S_ISFIFO(os.lstat(jail.root / "d").st_mode)


def test_directory_entry_replaces_symlink_to_outside(jail):
    jail.extract(make_tar(sym("d", jail.abs_outside + "/dir")))
    jail.extract(make_tar(dir_("d/", mode=0o700, uid=1234), reg("d/inner", b"inside")))
    assert not (jail.root / "d").is_symlink() and (jail.root / "d").is_dir()
    assert stat.S_IMODE(os.stat(jail.root / "d").st_mode) == 0o700
    assert (jail.root / "d" / "inner").read_bytes() == b"inside"


def test_symlink_loop_in_parent_component(jail):
    jail.extract(make_tar(sym("a", "a"), reg("a/x", b"x")), expect=("a/x", "symbolic links"))
    jail.extract(make_tar(sym("b", "c"), sym("c", "b"), dir_("b/sub/")), expect="b/sub")


def test_symlink_with_empty_target(jail):
    jail.extract(make_tar(sym("s", "")), expect="'s'")


def test_name_component_too_long(jail):
    jail.extract(make_tar(reg("a" * 300, b"x")), expect="too long")


def test_regular_file_used_as_parent(jail):
    jail.extract(make_tar(reg("f", b"x"), reg("f/x", b"y")), expect=("not a directory", "f/x"))


# ---- hardlinks ---------------------------------------------------------------------------------

def test_hardlink_with_dotdot_target(jail):
    jail.extract(make_tar(lnk("h", "../outside/file")), expect="'..'", unsafe=True)
    jail.extract(make_tar(lnk("h", "a/../../outside/file")), expect="'..'", unsafe=True)


def test_hardlink_absolute_target_resolves_inside_root(jail):
    target = jail.abs_outside + "/file"
    jail.extract(make_tar(lnk("h", target)), expect="not found")
    assert not (jail.root / "h").exists()
    jail.extract(make_tar(reg(target, b"inside copy"), lnk("h", target)))
    assert os.lstat(jail.root / "h").st_ino == os.lstat(jail.inside(target)).st_ino
    assert (jail.root / "h").read_bytes() == b"inside copy"


def test_hardlink_target_through_symlinked_parent(jail):
    jail.extract(make_tar(sym("evil", jail.abs_outside), lnk("h", "evil/file")), expect="not found")
    jail.extract(make_tar(sym("rel", "../outside"), lnk("h2", "rel/x")), expect="not found")
    jail.extract(make_tar(sym("slash", "/"), lnk("h3", "slash/" + jail.abs_outside + "/file")),
                 expect="not found")


def test_hardlink_to_outside_pointing_symlink_then_regular_file_same_name(jail):
    outside_file = jail.abs_outside + "/file"
    jail.extract(make_tar(sym("s", outside_file), lnk("h", "s"), reg("h", b"overwritten", mode=0o777),
                          reg("s", b"also")))
    assert (jail.root / "h").read_bytes() == b"overwritten" and not (jail.root / "h").is_symlink()
    assert (jail.root / "s").read_bytes() == b"also"


def test_hardlink_to_symlink_is_the_symlink_and_never_chmods_its_target(jail):
    jail.extract(make_tar(sym("s", "../outside/file"), lnk("h", "s", mode=0o7777, uid=1234, gid=1234),
                          lnk("h2", "h", mode=0o777)))
    assert os.readlink(jail.root / "h") == "../outside/file"
    assert os.lstat(jail.root / "h").st_ino == os.lstat(jail.root / "s").st_ino
    # a later layer chmods "h" with a directory entry: the link is replaced, the target untouched
    jail.extract(make_tar(dir_("h/", mode=0o777), reg("h2", b"", mode=0o4777)))
    assert (jail.root / "h").is_dir() and not (jail.root / "h").is_symlink()


def test_hardlink_to_directory_and_to_root(jail):
    jail.extract(make_tar(dir_("d/"), lnk("h", "d")), expect=("cannot link", "directory"), unsafe=True)
    jail.extract(make_tar(lnk("h", "./")), expect="root", unsafe=True)


# ---- devices ----------------------------------------------------------------------------------

@pytest.mark.parametrize("major,minor", [(1 << 12, 0), (0, 1 << 20), (1 << 40, 1 << 40), (-1, 3), (7, -1),
                                         (2 ** 62, 1)])
def test_device_with_bad_numbers(jail, major, minor):
    data = raw_member(b"dev", b"3", devmajor=major, devminor=minor) + END
    jail.extract(data, expect="device number")
    assert not os.path.lexists(jail.root / "dev")


def test_block_device_with_huge_numbers_via_tarfile(jail):
    data = make_tar(ti("blk", tarfile.BLKTYPE, devmajor=1 << 30, devminor=1), format=tarfile.GNU_FORMAT)
    jail.extract(data, expect="device number")


# ---- whiteouts ----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["apply", "overlay"])
@pytest.mark.parametrize("name", [".wh.", ".wh..", ".wh...", ".wh..wh.x", "d/.wh..", "d/.wh...",
                                  ".wh..wh..opqx"])
def test_invalid_whiteout_names(jail, mode, name):
    (jail.root / "d").mkdir()
    (jail.root / "keep").write_bytes(b"k")
    jail.extract(make_tar(reg(name)), expect="whiteout", unsafe=True, whiteouts=mode)
    assert (jail.root / "keep").exists() and (jail.root / "d").is_dir()


@pytest.mark.parametrize("mode", ["apply", "overlay"])
def test_whiteout_of_dotdot(jail, mode):
    jail.extract(make_tar(reg("../.wh.x")), expect="'..'", unsafe=True, whiteouts=mode)
    jail.extract(make_tar(reg("../outside/.wh.file")), expect="'..'", unsafe=True, whiteouts=mode)
    jail.extract(make_tar(reg("a/../../.wh.outside")), expect="'..'", unsafe=True, whiteouts=mode)


def test_absolute_whiteout_only_touches_inside_root(jail):
    jail.extract(make_tar(reg(jail.abs_outside + "/file", b"inside"), reg(jail.abs_outside + "/keep")))
    assert jail.inside(jail.abs_outside + "/file").exists()
    jail.extract(make_tar(reg(jail.abs_outside + "/.wh.file"), reg(jail.abs_outside + "/.wh.dir")))
    assert not os.path.lexists(jail.inside(jail.abs_outside + "/file"))
    assert jail.inside(jail.abs_outside + "/keep").exists()


def test_opaque_whiteout_apply_does_not_reach_outside(jail):
    (jail.root / "lower").write_bytes(b"lower")
    jail.extract(make_tar(sym("evil", "../outside"), reg("evil/.wh..wh..opq"),
                          sym("abs", jail.abs_outside), reg("abs/.wh..wh..opq"),
                          reg(jail.abs_outside + "/.wh..wh..opq"),
                          sym("slash", "/"), dir_("keep/"), reg("slash/.wh..wh..opq")))
    # the root was made opaque through slash -> /: this layer's entries stay, the lower file goes
    assert sorted(os.listdir(jail.root)) == ["abs", "evil", "keep", "slash"]


def test_whiteout_through_symlinked_directory(jail):
    jail.extract(make_tar(sym("link", jail.abs_outside), sym("rel", "../outside")))
    jail.extract(make_tar(reg("link/.wh.file"), reg("rel/.wh.file"), reg("rel/.wh.dir"),
                          reg("link/.wh.link"), reg("rel/dir/.wh.inner")))
    # overlay mode creates markers: through the links they can only land inside the root
    jail.extract(make_tar(reg("link/.wh.file")), expect="link", whiteouts="overlay")
    jail.extract(make_tar(sym("slash", "/"), reg("slash/" + jail.abs_outside + "/.wh.file")),
                 whiteouts="overlay")
    marker = jail.inside(jail.abs_outside + "/file")
    assert stat.S_ISCHR(os.lstat(marker).st_mode) and os.lstat(marker).st_rdev == 0


def test_whiteout_of_symlink_to_outside_directory_removes_only_the_link(jail):
    jail.extract(make_tar(sym("d", jail.abs_outside + "/dir"), sym("r", "../outside/dir")))
    jail.extract(make_tar(reg(".wh.d"), reg(".wh.r")))
    assert os.listdir(jail.root) == []


def test_whiteout_of_name_under_parent_file_or_loop(jail):
    jail.extract(make_tar(reg("f", b"x"), sym("loop", "loop")))
    jail.extract(make_tar(reg("f/.wh.x"), reg("missing/.wh.x")))
    assert (jail.root / "f").read_bytes() == b"x"
    jail.extract(make_tar(reg("loop/.wh.x")), expect="loop")


def test_overlay_whiteout_with_loop_parent(jail):
    jail.extract(make_tar(sym("loop", "loop"), reg("loop/.wh.x")), expect="loop", whiteouts="overlay")


# ---- duplicates -------------------------------------------------------------------------------

def test_duplicate_file_then_dir(jail):
    r = jail.extract(make_tar(reg("a", b"file"), dir_("a/", mode=0o711), reg("a/x", b"x")))
    assert (jail.root / "a").is_dir() and (jail.root / "a" / "x").read_bytes() == b"x"
    assert not r.reconstructible


def test_duplicate_dir_then_file(jail):
    jail.extract(make_tar(dir_("a/"), reg("a/child", b"c"), sym("a/l", "../../outside"), reg("a", b"file")))
    assert (jail.root / "a").read_bytes() == b"file"


def test_duplicate_file_then_symlink_then_file(jail):
    jail.extract(make_tar(reg("a", b"file"), sym("a", "../outside/file"), reg("a", b"again", mode=0o600)))
    assert (jail.root / "a").read_bytes() == b"again"


def test_duplicate_names_spelled_differently(jail):
    jail.extract(make_tar(reg("a/b", b"1"), reg("./a//b", b"2"), reg("/a/./b", b"3")))
    assert (jail.root / "a" / "b").read_bytes() == b"3"


# ---- malformed streams --------------------------------------------------------------------------

def _one_file():
    return make_tar(reg("file", b"A" * 3000), reg("second", b"B" * 10))


@pytest.mark.parametrize("cut", [100, 511, 512 + 10, 512 + 2999, 4096 - 1, 4096 + 300])
def test_truncated_streams(jail, cut):
    jail.extract(_one_file()[:cut], expect="truncated")


def test_truncated_inside_pax_and_gnu_records(jail):
    pax = make_tar(reg("p" * 200, b"data"))
    jail.extract(pax[:512 + 100], expect="truncated")
    gnu = make_tar(reg("g" * 300, b"data"), format=tarfile.GNU_FORMAT)
    jail.extract(gnu[:512 + 200], expect="truncated")


def test_corrupt_checksum(jail):
    data = bytearray(_one_file())
    data[10] ^= 0x01  # a byte of the first name, checksum left as it was
    jail.extract(bytes(data), expect="checksum")
    jail.extract(raw_member(b"f", data=b"x", checksum=12345) + END, expect="checksum")
    assert not os.path.lexists(jail.root / "file")


def test_corrupt_header_in_the_middle(jail):
    data = bytearray(_one_file())
    data[512 + 3072 + 5] ^= 0xFF  # second header
    jail.extract(bytes(data), expect="checksum")


def test_pax_header_with_huge_declared_size(jail):
    data = raw_header(b"PaxHeaders/x", b"x", size=(1 << 20) + 1) + bytes(512) * 4
    jail.extract(data, expect="limit")
    jail.extract(raw_header(b"PaxHeaders/x", b"x", size=1 << 62) + END, expect="limit")
    jail.extract(raw_header(b"PaxHeaders/g", b"g", size=1 << 40) + END, expect="limit")


def test_malformed_pax_records(jail):
    for body in (b"99999 path=x\n", b"x path=a\n", b"12 pathxxxx\n", b"5 a=b\n", b"8 path=x"):
        jail.extract(pax_member(body) + raw_member(b"f", data=b"x") + END, expect="pax")


@pytest.mark.parametrize("size", ["-1", "-4096", "abc", "1e3"])
def test_pax_size_negative_or_invalid(jail, size):
    data = pax_member({"size": size}) + raw_member(b"f", data=b"x" * 600) + END * 2
    jail.extract(data, expect="size")


@pytest.mark.parametrize("mtime", ["nan", "inf", "-inf", "1e300", "abc"])
def test_pax_mtime_out_of_range(jail, mtime):
    jail.extract(pax_member({"mtime": mtime}) + raw_member(b"f", data=b"x") + END, expect="mtime")


def test_gnu_longname_bomb(jail):
    # one record declaring an enormous size
    jail.extract(raw_header(b"././@LongLink", b"L", size=1 << 40, magic=b"ustar  \0") + END, expect="limit")
    # many records that are each under the per-record cap must not pile up in memory either
    one = raw_member(b"././@LongLink", b"L", b"n" * ((1 << 20) - 512), magic=b"ustar  \0")

    class Endless(io.RawIOBase):
        served = 0

        def readable(self):
            return True

        def readinto(self, b):
            if self.served >= 128 << 20:
                return 0
            chunk = one[self.served % len(one):][:len(b)]
            b[:len(chunk)] = chunk
            self.served += len(chunk)
            return len(chunk)

    stream = Endless()
    before = jail.snap()
    with pytest.raises(ArchiveError, match="limit"):
        extract(stream, str(jail.root))
    assert stream.served < 64 << 20
    assert jail.snap() == before


def test_long_name_over_limit(jail):
    jail.extract(make_tar(reg("d/" * 2100 + "x", b"x")), expect="longer than")
    jail.extract(make_tar(sym("s", "t" * 5000)), expect="longer than")


def test_non_file_entry_carrying_data(jail):
    # a directory header declaring (and followed by) 2 MiB: never buffered whole
    data = raw_member(b"d/", b"5", b"\0" * (2 << 20)) + END
    jail.extract(data, expect="data")
    # a symlink declaring 1 TiB on a short stream
    jail.extract(raw_header(b"s", b"2", size=1 << 40, linkname=b"x") + b"\0" * 4096, expect=("truncated", "data"))


def test_unsupported_types(jail):
    jail.extract(raw_member(b"sparse", b"S", b"x") + END, expect="sparse")
    jail.extract(raw_member(b"odd", b"Z") + END, expect="unsupported")
    jail.extract(pax_member({"GNU.sparse.major": "1"}) + raw_member(b"f") + END, expect="sparse")


def test_root_entry_must_be_a_directory(jail):
    jail.extract(make_tar(reg("./", b"x")), expect="root", unsafe=True)
    jail.extract(make_tar(sym("/", "../outside")), expect="root", unsafe=True)


def test_invalid_owner(jail):
    jail.extract(pax_member({"uid": "-5"}) + raw_member(b"f") + END, expect="owner")
    jail.extract(pax_member({"gid": str(1 << 40)}) + raw_member(b"f") + END, expect="owner")


def test_garbage_input(jail):
    noise = random.Random(7).randbytes(4096)
    assert noise[:2] != b"\x1f\x8b"
    jail.extract(noise + b"x" * 4096, expect=("checksum", "invalid tar header"))
    jail.extract(b"hello world, not a tar", expect="truncated")
    jail.extract(b"\xff" * 1024, expect=("invalid tar header", "checksum"))


def test_empty_stream(jail):
    jail.extract(b"", expect="empty")


def test_garbage_compressed(jail):
    junk = b"not a tar at all " * 200
    jail.extract(gzip.compress(junk), expect=("checksum", "invalid tar header"))
    jail.extract(zstandard.ZstdCompressor().compress(junk), expect=("checksum", "invalid tar header"))
    jail.extract(bz2.compress(junk), expect=("checksum", "invalid tar header"))


@pytest.mark.parametrize("kind", ["gzip", "zstd", "bzip2", "xz"])
def test_corrupt_compressed_data(jail, kind):
    magic = {"gzip": b"\x1f\x8b\x08\x00" + bytes(6), "zstd": b"\x28\xb5\x2f\xfd",
             "bzip2": b"BZh9", "xz": b"\xfd7zXZ\x00"}[kind]
    # 0x07: a deflate block of the reserved type 3
    jail.extract(magic + b"\x07garbage" * 300, expect=("corrupt", kind))


def test_truncated_gzip_bomb(jail):
    blob = gzip.compress(make_tar(reg("big", b"\0" * (32 << 20))), compresslevel=9)
    jail.extract(blob[:len(blob) * 2 // 3], expect=("truncated", "corrupt"))


def test_truncated_zstd(jail):
    blob = zstandard.ZstdCompressor().compress(make_tar(reg("big", os.urandom(300_000))))
    jail.extract(blob[:len(blob) // 2], expect=("truncated", "corrupt"))


def test_trailing_data_after_end_marker_is_not_buffered(jail):
    """A small gzip expanding to 64 MiB of zeros after the end marker: drained, never held in memory."""
    tar = make_tar(reg("f", b"x"))
    blob = gzip.compress(tar + bytes(64 << 20), compresslevel=9)
    tracemalloc.start()
    try:
        r = jail.extract(blob)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.tar_size == len(tar) + (64 << 20)
    assert peak < 24 << 20, f"peak {peak >> 20} MiB"


# ---- xattrs and modes -----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["apply", "overlay"])
def test_trusted_overlay_xattrs_are_never_set(jail, mode):
    pax = {"SCHILY.xattr.trusted.overlay.opaque": "y", "SCHILY.xattr.trusted.overlay.redirect": "/x",
           "SCHILY.xattr.user.ok": "1"}
    jail.extract(make_tar(dir_("d/", pax=pax), reg("f", b"x", pax=pax), fifo("p", pax=pax),
                          reg("g", pax={"LIBARCHIVE.xattr.trusted.overlay.origin": "eHl6",
                                        "LIBARCHIVE.xattr.user.b64": "eHl6"})),
                 whiteouts=mode)
    for name in ("d", "f", "p", "g"):
        path = jail.root / name
        for key in ("trusted.overlay.opaque", "trusted.overlay.redirect", "trusted.overlay.origin"):
            with pytest.raises(OSError):
                os.getxattr(path, key, follow_symlinks=False)
    assert os.getxattr(jail.root / "f", "user.ok") == b"1"
    assert os.getxattr(jail.root / "g", "user.b64") == b"xyz"


def test_setuid_preserved_only_inside_root(jail):
    jail.extract(make_tar(reg("suid", b"#!", mode=0o4755, uid=0), dir_("sgid/", mode=0o2775),
                          reg(jail.abs_outside + "/file", b"x", mode=0o6755),
                          sym("s", jail.abs_outside + "/x"), reg("s", b"y", mode=0o4711)))
    assert stat.S_IMODE(os.stat(jail.root / "suid").st_mode) == 0o4755
    assert stat.S_IMODE(os.stat(jail.root / "sgid").st_mode) == 0o2775
    assert stat.S_IMODE(os.stat(jail.inside(jail.abs_outside + "/file")).st_mode) == 0o6755
    assert stat.S_IMODE(os.lstat(jail.root / "s").st_mode) == 0o4711


def test_chown_and_chmod_entries_never_follow_links(jail):
    jail.extract(make_tar(sym("l", "../outside/file", uid=1234, gid=1234),
                          sym("d", jail.abs_outside + "/dir", uid=99),
                          chrdev("c", 1, 3, mode=0o666, uid=5)))
    # a later layer re-declares them as directories (chmod on the *new* dirs only)
    jail.extract(make_tar(dir_("l/", mode=0o777, uid=4321), dir_("d/", mode=0o700)))
    assert stat.S_IMODE(os.lstat(jail.root / "l").st_mode) == 0o777


def test_pax_xattr_on_symlink_entry_not_applied_to_target(jail):
    jail.extract(make_tar(sym("l", "../outside/file", pax={"SCHILY.xattr.trusted.evil": "1",
                                                            "SCHILY.xattr.user.sentinel": "2"})))
    assert os.getxattr(jail.root / "l", "trusted.evil", follow_symlinks=False) == b"1"


def test_tarsplit_record_cannot_point_outside(jail, tmp_path):
    """A layer written through an in-root symlink records the real path, inside the root."""
    rec = io.BytesIO()
    data = make_tar(dir_("real/"), sym("alias", "/real"), reg("alias/f", b"content"))
    before = jail.snap()
    r = extract(io.BytesIO(data), str(jail.root), tarsplit=rec)
    assert jail.snap() == before and r.reconstructible
    from berth.archive import reconstruct
    out = io.BytesIO()
    rec.seek(0)
    reconstruct(str(jail.root), rec, out)
    assert out.getvalue() == data
