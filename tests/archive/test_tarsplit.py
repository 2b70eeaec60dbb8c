"""Tar-split: extract with a record, then reconstruct() must give back the identical stream."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import tracemalloc

import pytest
import zstandard

from archive_helpers import (END, chrdev, dir_, fifo, lnk, make_tar, pax_member, raw_member, reg, sym,
                             tarfile_archive, ti)
from berth.archive import extract, reconstruct, write_tree
from berth.archive.tarsplit import TarSplitWriter
from berth.errors import ArchiveError


def split_and_rebuild(data: bytes, root, **kw):
    record = io.BytesIO()
    r = extract(io.BytesIO(data), str(root), tarsplit=record, **kw)
    if not r.reconstructible:
        return r, None, record.getvalue()
    out = io.BytesIO()
    reconstruct(str(root), io.BytesIO(record.getvalue()), out)
    return r, out.getvalue(), record.getvalue()


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    r.mkdir()
    return r


def every_kind(long_names=True):
    ms = [
        dir_("etc/", uid=1234, gid=5678),
        reg("etc/conf", b"conf\n" * 100, mode=0o600),
        reg("etc/empty"),
        reg("etc/exact", b"e" * 512),
        sym("etc/link", "conf"),
        lnk("etc/hard", "etc/conf"),
        fifo("run-fifo"),
        chrdev("null", 1, 3),
        ti("blk", tarfile.BLKTYPE, devmajor=8, devminor=1),
        reg("big", (bytes(range(256)) * 12300)[:(3 << 20) + 17]),
        reg("suid", b"#!/bin/sh\n", mode=0o4755),
    ]
    if long_names:
        ms += [
            dir_("d" * 80 + "/"),
            reg("d" * 80 + "/" + "f" * 120, b"long name"),
            sym("longlink", "t" * 180),
            lnk("h" * 150, "d" * 80 + "/" + "f" * 120),
            reg("caf\xe9-\u00fc\u4e2d", b"non-ascii"),
        ]
    return ms


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_tarfile_archives_are_rebuilt_exactly(root, fmt):
    data = tarfile_archive(*every_kind(long_names=fmt != tarfile.USTAR_FORMAT), format=fmt)
    r, rebuilt, record = split_and_rebuild(data, root)
    assert r.reconstructible
    assert rebuilt == data
    assert str(r.diff_id) == "sha256:" + hashlib.sha256(rebuilt).hexdigest()
    assert len(record) < 8192  # the record holds headers only, never file content


def test_pax_xattrs_global_headers_and_unusual_fields(root):
    data = (pax_member({"comment": "global"}, typeflag=b"g")
            + make_tar(reg("x", b"1", pax={"SCHILY.xattr.user.a": "b", "mtime": "123.456", "uid": "3000000"}),
                       reg("y", b"2" * 1000, uid=7), sym("z", "y", pax={"uname": "someone"}), end=False)
            + pax_member({"path": "p" * 100 + "/" + "q" * 200, "SCHILY.xattr.user.q": "r"})
            + raw_member(b"ignored", data=b"3")
            + raw_member(b"olddir/", b"\0", magic=b"\0" * 8)
            + raw_member(b"gnuname", magic=b"ustar  \0", data=b"gnu")
            + END)
    r, rebuilt, _ = split_and_rebuild(data, root)
    assert r.reconstructible and rebuilt == data
    assert (root / ("p" * 100) / ("q" * 200)).read_bytes() == b"3"
    assert os.getxattr(root / ("p" * 100) / ("q" * 200), "user.q") == b"r"
    assert (root / "olddir").is_dir()


def test_gnu_long_names_and_links(root):
    data = tarfile_archive(reg("a/" * 100 + "file", b"deep"), lnk("b" * 200, "a/" * 100 + "file"),
                           sym("c" * 250, "d" * 300), format=tarfile.GNU_FORMAT)
    r, rebuilt, _ = split_and_rebuild(data, root)
    assert r.reconstructible and rebuilt == data


@pytest.mark.parametrize("trailing", [b"garbage after the end", b"\0" * 7, os.urandom(100_000), b"x" * 513],
                         ids=["text", "zeros", "random-100k", "513"])
def test_trailing_data_after_end_marker(root, trailing):
    data = make_tar(reg("f", b"data"), dir_("d/"), trailing=trailing)
    r, rebuilt, _ = split_and_rebuild(data, root)
    assert r.reconstructible and rebuilt == data
    assert r.tar_size == len(data)


def test_single_zero_block_then_garbage(root):
    data = make_tar(reg("f", b"data"), end=False) + bytes(512) + b"junk" * 100
    r, rebuilt, _ = split_and_rebuild(data, root)
    assert r.reconstructible and rebuilt == data


def test_missing_end_marker(root):
    for i, data in enumerate([make_tar(reg("f", b"data"), end=False), make_tar(dir_("d/"), end=False),
                              make_tar(reg("g", b"x" * 1024), end=False)]):
        sub = root / str(i)
        sub.mkdir()
        r, rebuilt, _ = split_and_rebuild(data, sub)
        assert r.reconstructible and rebuilt == data


def test_trailing_data_too_large_is_not_reconstructible(root):
    data = make_tar(reg("f", b"data"), trailing=b"\1" * (2 << 20))
    record = io.BytesIO()
    r = extract(io.BytesIO(data), str(root), tarsplit=record)
    assert not r.reconstructible
    assert r.diff_id.hex == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("members", [
    [reg("a", b"1"), reg("a", b"2")],
    [reg("a", b"1"), dir_("a/")],
    [dir_("a/"), reg("a/x", b"in dir"), reg("a", b"file")],
    [reg("a", b"1"), sym("a", "b")],
    [reg("a", b"1"), lnk("b", "a"), reg("a", b"2")],
    [reg("./a", b"1"), reg("a", b"2")],
])
def test_duplicate_entries_are_not_reconstructible(root, members):
    r, _, _ = split_and_rebuild(make_tar(*members), root)
    assert not r.reconstructible


def test_repeated_directory_is_still_reconstructible(root):
    data = make_tar(dir_("a/", mode=0o755), reg("a/x", b"x"), dir_("a/", mode=0o700))
    r, rebuilt, _ = split_and_rebuild(data, root)
    assert r.reconstructible and rebuilt == data


def test_whiteout_of_this_layers_file_is_not_reconstructible(root):
    r, _, _ = split_and_rebuild(make_tar(reg("f", b"x"), reg(".wh.f")), root)
    assert not r.reconstructible
    other = root / "o"
    other.mkdir()
    r, _, _ = split_and_rebuild(make_tar(dir_("d/"), reg("d/f", b"x"), reg(".wh.d")), other)
    assert not r.reconstructible


def test_whiteouts_are_reconstructible(root):
    data = make_tar(reg(".wh.old"), dir_("d/"), reg("d/.wh..wh..opq"), reg("d/new", b"n"), reg("d/.wh.gone"))
    # apply mode on top of an earlier layer: the whiteouts remove only earlier content
    lower = root / "apply"
    lower.mkdir()
    extract(io.BytesIO(make_tar(reg("old", b"o"), dir_("d/"), reg("d/lower", b"l"), reg("d/gone"))), str(lower))
    r, rebuilt, _ = split_and_rebuild(data, lower)
    assert r.reconstructible and rebuilt == data
    assert sorted(os.listdir(lower)) == ["d"] and os.listdir(lower / "d") == ["new"]
    # overlay mode into an empty diff directory, as the layer store does
    diff = root / "overlay"
    diff.mkdir()
    r, rebuilt, _ = split_and_rebuild(data, diff, whiteouts="overlay")
    assert r.reconstructible and rebuilt == data


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_compressed_layer_rebuilds_the_uncompressed_stream(root, kind):
    tar = tarfile_archive(*every_kind())
    blob = gzip.compress(tar) if kind == "gzip" else zstandard.ZstdCompressor().compress(tar)
    r, rebuilt, _ = split_and_rebuild(blob, root)
    assert r.compression == kind and rebuilt == tar
    assert r.diff_id.hex == hashlib.sha256(rebuilt).hexdigest()


def test_payload_through_symlinked_directory(root):
    data = make_tar(dir_("usr/"), dir_("usr/lib/"), sym("lib", "usr/lib"), reg("lib/libc.so", b"elf"),
                    sym("abs", "/usr"), reg("abs/lib/libm.so", b"elf2"))
    r, rebuilt, _ = split_and_rebuild(data, root)
    assert r.reconstructible and rebuilt == data
    assert (root / "usr" / "lib" / "libm.so").read_bytes() == b"elf2"


def test_write_tree_output_round_trips(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir(), dst.mkdir()
    (src / "d").mkdir()
    (src / "d" / "f").write_bytes(os.urandom(5000))
    os.link(src / "d" / "f", src / "hard")
    os.symlink("d/f", src / "s")
    os.setxattr(src / "d", "user.x", b"y")
    out = io.BytesIO()
    write_tree(str(src), out)
    r, rebuilt, _ = split_and_rebuild(out.getvalue(), dst)
    assert r.reconstructible and rebuilt == out.getvalue()


def test_changed_content_is_reported(root):
    data = make_tar(reg("a", b"x" * 100), reg("b", b"y" * 10))
    record = io.BytesIO()
    extract(io.BytesIO(data), str(root), tarsplit=record)
    (root / "a").write_bytes(b"short")
    with pytest.raises(ArchiveError, match="shorter"):
        reconstruct(str(root), io.BytesIO(record.getvalue()), io.BytesIO())
    os.unlink(root / "b")
    (root / "a").write_bytes(b"x" * 100)
    with pytest.raises(ArchiveError, match="missing"):
        reconstruct(str(root), io.BytesIO(record.getvalue()), io.BytesIO())
    os.mkdir(root / "b")
    with pytest.raises(ArchiveError, match="regular file"):
        reconstruct(str(root), io.BytesIO(record.getvalue()), io.BytesIO())


def test_record_paths_never_follow_symlinks(root, tmp_path):
    outside = tmp_path / "outside-secret"
    outside.write_bytes(b"secret" * 100)
    data = make_tar(reg("a", b"x" * 600))
    record = io.BytesIO()
    extract(io.BytesIO(data), str(root), tarsplit=record)
    os.unlink(root / "a")
    os.symlink(str(outside), root / "a")
    with pytest.raises(ArchiveError, match="missing"):
        reconstruct(str(root), io.BytesIO(record.getvalue()), io.BytesIO())


def test_truncated_or_corrupt_record(root):
    data = make_tar(reg("a", b"x" * 100), dir_("d/"), reg("d/b", b"y"))
    record = io.BytesIO()
    extract(io.BytesIO(data), str(root), tarsplit=record)
    rec = record.getvalue()
    for cut in range(1, len(rec)):
        with pytest.raises(ArchiveError):
            reconstruct(str(root), io.BytesIO(rec[:cut]), io.BytesIO())
    with pytest.raises(ArchiveError, match="corrupt"):
        import zlib
        reconstruct(str(root), io.BytesIO(zlib.compress(b"Zbogus")), io.BytesIO())


def test_many_headers_without_payloads_stay_bounded(root):
    """2500 directories (1.25 MiB of headers): the raw header bytes are flushed as they go, not held until the end."""
    data = make_tar(*[dir_(f"d{i:05d}/") for i in range(2500)])
    sink = io.BytesIO()
    writer = TarSplitWriter(sink)
    largest = 0
    for i in range(0, len(data), 512):
        writer.raw(data[i:i + 512])
        largest = max(largest, len(writer._raw))
    writer.close()
    assert largest <= 1 << 20
    r, rebuilt, _ = split_and_rebuild(data, root)
    assert r.reconstructible and rebuilt == data


def test_reconstruct_memory_is_bounded(root):
    big = os.urandom(1 << 20) * 24
    data = make_tar(reg("big", big))
    record = io.BytesIO()
    extract(io.BytesIO(data), str(root), tarsplit=record)

    class Sink:
        n = 0
        h = hashlib.sha256()

        def write(self, b):
            self.n += len(b)
            self.h.update(b)

    sink = Sink()
    tracemalloc.start()
    try:
        reconstruct(str(root), io.BytesIO(record.getvalue()), sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.n == len(data) and sink.h.hexdigest() == hashlib.sha256(data).hexdigest()
    assert peak < 8 << 20
