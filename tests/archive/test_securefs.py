"""securefs.read_in_root: what a hostile image or build context puts at a read path (a device, a
FIFO) is never opened for reading; inotify shows every real open."""
from __future__ import annotations

import ctypes
import os
import stat
import struct
import threading

import pytest

from berth.archive import securefs

_libc = ctypes.CDLL(None, use_errno=True)
IN_ACCESS, IN_OPEN = 0x1, 0x20


class Opens:
    """The names in `directory` opened (IN_OPEN; an O_PATH open is not one) while in the block."""

    def __init__(self, directory):
        self.fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0
        assert _libc.inotify_add_watch(self.fd, os.fsencode(str(directory)), IN_OPEN | IN_ACCESS) >= 0
        self.names: list[str] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            data = b""
        finally:
            os.close(self.fd)
        i = 0
        while i < len(data):
            _, mask, _, length = struct.unpack_from("iIII", data, i)
            if mask & IN_OPEN:
                self.names.append(data[i + 16:i + 16 + length].rstrip(b"\0").decode())
            i += 16 + length


@pytest.fixture
def root(tmp_path):
    (tmp_path / "etc").mkdir()
    return tmp_path


def test_read_in_root_reads_a_regular_file(root):
    (root / "etc" / "passwd").write_bytes(b"root:x:0:0::/root:/bin/sh\n")
    with Opens(root / "etc") as opens:
        assert securefs.read_in_root(str(root), "/etc/passwd", 4) == b"root"
    assert opens.names == ["passwd"]  # control: a real open is seen


def test_read_in_root_never_opens_a_device(root):
    os.mknod(root / "etc" / "passwd", 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # like /dev/null
    os.mknod(root / "etc" / "group", 0o660 | stat.S_IFBLK, os.makedev(7, 0))  # like /dev/loop0
    with Opens(root / "etc") as opens:
        assert securefs.read_in_root(str(root), "/etc/passwd", 100) is None
        assert securefs.read_in_root(str(root), "etc/group", 100) is None
    assert opens.names == []


def test_read_in_root_never_opens_a_fifo(root):
    os.mkfifo(root / "etc" / "passwd")
    os.symlink("/etc/passwd", root / "etc" / "link")  # resolved inside the root: the FIFO
    result = []
    with Opens(root / "etc") as opens:
        t = threading.Thread(target=lambda: result.extend(
            securefs.read_in_root(str(root), p, 100) for p in ("/etc/passwd", "/etc/link")), daemon=True)
        t.start()
        t.join(10)
        if t.is_alive():  # a blocking open waits for a writer: give it one, then fail
            fd = os.open(root / "etc" / "passwd", os.O_WRONLY)
            os.close(fd)
            t.join(10)
            pytest.fail("read_in_root blocked on a FIFO")
    assert result == [None, None]
    assert opens.names == []


def test_read_in_root_missing_and_directory(root):
    assert securefs.read_in_root(str(root), "/etc/nothing", 10) is None
    assert securefs.read_in_root(str(root), "/etc/nothing/below", 10) is None
    assert securefs.read_in_root(str(root), "/etc", 10) is None


def test_read_in_root_symlink_to_host_file_stays_in_root(root, tmp_path_factory):
    host = tmp_path_factory.mktemp("host") / "secret"
    host.write_bytes(b"host secret")
    os.symlink(str(host), root / "etc" / "shadow")
    assert securefs.read_in_root(str(root), "/etc/shadow", 100) is None  # names root/<host path>
    inside = root / str(host).lstrip("/")
    inside.parent.mkdir(parents=True)
    inside.write_bytes(b"inside")
    assert securefs.read_in_root(str(root), "/etc/shadow", 100) == b"inside"
