"""ADD <url>'s download: names, mode and mtime, redirects, errors and checksums, against a local server."""
from __future__ import annotations

import hashlib
import os
import socket
import stat

import pytest

from berth.build.download import _last_modified, download
from berth.errors import DownloadError
from berth.oci.digest import Digest

LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"
LAST_MODIFIED_EPOCH = 1_445_412_480


def test_named_after_the_url_path_with_mode_0600_and_last_modified(http_server, tmp_path):
    url = http_server.add("/files/app.tar.gz?v=1", b"payload", Last_Modified=LAST_MODIFIED)
    got = download(url, str(tmp_path))
    assert (got.name, got.path, got.size) == ("app.tar.gz", str(tmp_path / "app.tar.gz"), 7)
    assert got.digest == Digest("sha256", hashlib.sha256(b"payload").hexdigest())
    st = os.stat(got.path)
    assert (stat.S_IMODE(st.st_mode), int(st.st_mtime), got.mtime) == (0o600, LAST_MODIFIED_EPOCH, LAST_MODIFIED_EPOCH)
    assert (tmp_path / "app.tar.gz").read_bytes() == b"payload"


def test_without_last_modified_the_mtime_is_the_epoch(http_server, tmp_path):
    got = download(http_server.add("/files/plain", b"x"), str(tmp_path))
    assert os.stat(got.path).st_mtime == 0 and got.mtime == 0


@pytest.mark.parametrize("path, headers, name", [
    ("/dir/", {"Content_Disposition": 'attachment; filename="report.pdf"'}, "report.pdf"),
    ("/dir2/", {"Content_Disposition": "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.txt"}, "résumé.txt"),
    ("/dir3/", {"Content_Disposition": 'attachment; filename="../../etc/passwd"'}, "passwd"),
    ("/dir4/", {}, ""),
    ("/dir5/", {"Content_Disposition": 'attachment; filename="sub/"'}, ""),
    ("/a%20b.txt", {"Content_Disposition": 'attachment; filename="other"'}, "a b.txt"),  # the URL wins
    ("/enc%2F..", {}, ""),
])
def test_file_name_from_the_url_then_content_disposition(http_server, tmp_path, path, headers, name):
    got = download(http_server.add(path, b"x", **headers), str(tmp_path))
    assert got.name == name
    assert os.listdir(tmp_path) == [name or "__unnamed__"]


def test_redirects_are_followed(http_server, tmp_path):
    target = http_server.add("/moved/final.bin", b"final")
    got = download(http_server.add("/old.bin", b"", status=302, Location=target), str(tmp_path))
    assert got.name == "old.bin" and (tmp_path / "old.bin").read_bytes() == b"final"


def test_http_errors_and_unreachable_hosts(http_server, tmp_path):
    with pytest.raises(DownloadError, match=r"failed to GET .*/nowhere with status 404 Not Found: no such file"):
        download(http_server.url("/nowhere"), str(tmp_path))
    with pytest.raises(DownloadError, match="status 500"):
        download(http_server.add("/broken", b"oops", status=500), str(tmp_path))
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match="connection refused"):
        download(f"http://127.0.0.1:{port}/x", str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_a_body_cut_short_is_an_error(http_server, tmp_path):
    with pytest.raises(DownloadError, match="failed to GET"):
        download(http_server.add("/short", b"only this", Content_Length="1000"), str(tmp_path))


def test_checksum(http_server, tmp_path):
    url = http_server.add("/pinned.txt", b"pinned")
    sha512 = Digest("sha512", hashlib.sha512(b"pinned").hexdigest())
    assert download(url, str(tmp_path), sha512).digest == sha512
    os.unlink(tmp_path / "pinned.txt")
    wrong = Digest("sha256", "0" * 64)
    actual = "sha256:" + hashlib.sha256(b"pinned").hexdigest()
    with pytest.raises(DownloadError, match=f"checksum mismatch for {url}: expected {wrong}, got {actual}"):
        download(url, str(tmp_path), wrong)


def test_large_bodies_arrive_whole(http_server, tmp_path):
    body = os.urandom(3 << 20) + b"tail"  # several read steps
    got = download(http_server.add("/big.bin", body), str(tmp_path))
    assert got.size == len(body) and got.digest == Digest("sha256", hashlib.sha256(body).hexdigest())
    assert (tmp_path / "big.bin").read_bytes() == body


@pytest.mark.parametrize("value, expected", [
    (LAST_MODIFIED, LAST_MODIFIED_EPOCH),
    ("Wednesday, 21-Oct-15 07:28:00 GMT", LAST_MODIFIED_EPOCH),  # RFC 850
    ("Wed Oct 21 07:28:00 2015", LAST_MODIFIED_EPOCH),           # asctime: UTC
    ("yesterday", 0),
    ("", 0),
    (None, 0),
])
def test_last_modified_forms(value, expected):
    assert _last_modified(value) == expected
