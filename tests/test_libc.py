"""berth.libc: the system calls os lacks, with errno as os reports it."""
import errno
import os

import pytest

from berth import libc

RESOLVE_BENEATH = 0x08
CLONE_NEWNET = 0x40000000
MNT_DETACH = 2


def test_mount_and_umount2(tmp_path):
    target = tmp_path / "m"
    target.mkdir()
    libc.mount("tmpfs", str(target), "tmpfs", 0, "size=1m,mode=0700")
    try:
        assert os.path.ismount(target) and os.stat(target).st_mode & 0o777 == 0o700
        (target / "f").write_text("in tmpfs")
    finally:
        libc.umount2(str(target), MNT_DETACH)
    assert not os.path.ismount(target) and os.listdir(target) == []
    with pytest.raises(OSError) as e:
        libc.umount2(str(target), 0)
    assert e.value.errno == errno.EINVAL and e.value.filename == str(target)
    with pytest.raises(FileNotFoundError):
        libc.mount("tmpfs", str(tmp_path / "missing"), "tmpfs")
    with pytest.raises(OSError) as e:
        libc.mount("none", str(target), "no-such-filesystem-type")
    assert e.value.errno == errno.ENODEV


def test_openat2_resolves_beneath_its_directory(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    dir_fd = os.open(tmp_path / "d", os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd = libc.openat2(dir_fd, "f", os.O_RDONLY | os.O_CLOEXEC, 0, RESOLVE_BENEATH)
        assert os.read(fd, 10) == b"x"
        os.close(fd)
        fd = libc.openat2(dir_fd, "new", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640, RESOLVE_BENEATH)
        os.close(fd)
        assert os.stat(tmp_path / "d" / "new").st_mode & 0o777 == 0o640 & ~_umask()
        with pytest.raises(OSError) as e:
            libc.openat2(dir_fd, "../d/f", os.O_RDONLY, 0, RESOLVE_BENEATH)
        assert e.value.errno == errno.EXDEV
        with pytest.raises(FileNotFoundError):
            libc.openat2(dir_fd, "missing", os.O_RDONLY, 0, RESOLVE_BENEATH)
        with pytest.raises(OSError) as e:  # unknown resolve bits are refused, not ignored
            libc.openat2(dir_fd, "f", os.O_RDONLY, 0, 1 << 40)
        assert e.value.errno == errno.EINVAL
    finally:
        os.close(dir_fd)


def test_syncfs_and_setns_report_errno(tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        libc.syncfs(fd)
        with pytest.raises(OSError) as e:  # a directory is no namespace
            libc.setns(fd, CLONE_NEWNET)
        assert e.value.errno == errno.EINVAL and "setns" in str(e.value)
    finally:
        os.close(fd)
    with pytest.raises(OSError) as e:
        libc.syncfs(fd)
    assert e.value.errno == errno.EBADF
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        libc.setns(own, CLONE_NEWNET)  # into the namespace it is already in
    finally:
        os.close(own)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
