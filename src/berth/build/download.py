"""ADD <url>: one http(s) source fetched into a directory, as docker's builders fetch it.

- the body is streamed to disk and hashed on the way, CHUNK bytes at a time, never held whole;
- redirects are followed; any other answer outside 2xx, or a connection error, is an error;
- the file is named after the URL path's last component, else the Content-Disposition filename
  (the classic builder's rule), else `__unnamed__`: `name` is then "" and the builder refuses a
  destination ending in `/`;
- mode 0600, mtime from Last-Modified (the Unix epoch without one), as both docker builders do;
- `expected` (ADD --checksum) must equal the digest of what arrived.

Proxies come from the environment (http_proxy, https_proxy, no_proxy), except for loopback hosts,
which Go's HTTP client, and so docker, never sends through a proxy.
"""
from __future__ import annotations

import os
import posixpath

from berth.archive import CHUNK
from berth.archive.hashing import HashingWriter
from berth.errors import DownloadError
from berth.oci.digest import Digest
from berth.record import Record

UNNAMED = "__unnamed__"
TIMEOUT = 60.0  # seconds for connecting and for each read


class Downloaded(Record):
    name: str       # the file name the URL or its headers gave ("" when neither did)
    path: str       # where it was written: <directory>/<name or __unnamed__>
    digest: Digest  # of the content, in `expected`'s algorithm (sha256 without one)
    size: int
    mtime: int      # seconds since the epoch, from Last-Modified


def download(url: str, directory: str, expected: Digest | None = None) -> Downloaded:
    import urllib.error
    import urllib.parse
    import urllib.request
    from http.client import HTTPException
    from berth.netutil import USER_AGENT, error_reason, is_loopback

    parts = urllib.parse.urlsplit(url)
    handlers = [urllib.request.ProxyHandler({})] if is_loopback(parts.hostname or "") else []
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        response = opener.open(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as err:
        with err:
            body = err.read(512).decode(errors="replace").strip().splitlines()
        detail = f": {body[0]}" if body else ""
        raise DownloadError(f"failed to GET {url} with status {err.code} {err.reason}{detail}") from None
    except urllib.error.URLError as err:
        reason = err.reason if isinstance(err.reason, str) else error_reason(err.reason)
        raise DownloadError(f"failed to GET {url}: {reason}") from None
    except (HTTPException, OSError, ValueError) as err:
        raise DownloadError(f"failed to GET {url}: {error_reason(err)}") from None
    with response:
        name = _filename(urllib.parse.unquote(parts.path), response.headers.get("Content-Disposition"))
        path = os.path.join(directory, name or UNNAMED)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with open(fd, "wb") as out:
            hashed = HashingWriter(out, expected.algorithm if expected else "sha256")
            view = memoryview(bytearray(CHUNK))
            try:
                while n := response.readinto(view):
                    hashed.write(view[:n])
            except (HTTPException, OSError) as err:  # a short chunked body raises IncompleteRead
                raise DownloadError(f"failed to GET {url}: {error_reason(err)}") from None
        if response.length:  # what Content-Length announced and never came
            raise DownloadError(f"failed to GET {url}: the connection closed {response.length} bytes short")
        os.chmod(path, 0o600)  # whatever the umask
        mtime = _last_modified(response.headers.get("Last-Modified"))
        os.utime(path, (mtime, mtime))
    digest = hashed.digest()
    if expected is not None and digest != expected:
        raise DownloadError(f"checksum mismatch for {url}: expected {expected}, got {digest}")
    return Downloaded(name, path, digest, hashed.count, mtime)


def _filename(url_path: str, disposition: str | None) -> str:
    """The URL path's last component (`/a/b.tgz?x` -> `b.tgz`); for a path ending in `/`, the
    Content-Disposition filename's last component; else ""."""
    if url_path and not url_path.endswith("/"):
        return _usable(posixpath.basename(url_path))
    if disposition:
        from email.message import Message
        header = Message()
        header["Content-Disposition"] = disposition
        given = header.get_filename() or ""
        if not given.endswith("/"):
            return _usable(posixpath.basename(given))
    return ""


def _usable(name: str) -> str:
    return "" if name in ("", ".", "..") or "\0" in name else name


def _last_modified(value: str | None) -> int:
    if value:
        from datetime import timezone
        from email.utils import parsedate_to_datetime
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return 0  # unparsable: the epoch, as docker
        if when.tzinfo is None:  # asctime's form has no zone: UTC (Go's http.ParseTime)
            when = when.replace(tzinfo=timezone.utc)
        return max(0, int(when.timestamp()))  # before the epoch: the epoch (docker's Chtimes)
    return 0
