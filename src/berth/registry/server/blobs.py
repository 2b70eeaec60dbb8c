"""Blob GET/HEAD (with single byte ranges) and DELETE.

A plain-HTTP GET hands the bytes to the kernel with sendfile(2) (asyncio's `loop.sendfile`), a
slice at a time: copying them through Python was slower than distribution. Each slice must be
taken by the client within the body timeout, or the connection is aborted, as
`connections.GuardedRequestHandler` does for a response written through aiohttp (which does not
see a sendfile transfer). Over TLS the bytes go through aiohttp as before.
"""
from __future__ import annotations

import asyncio
import re

from aiohttp import web

from berth.registry.server import names
from berth.registry.server.connections import reset
from berth.archive import CHUNK
from berth.registry.server.context import Registry, empty
from berth.registry.server.errors import RegistryError

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive for a satisfiable single range; None to send the whole blob (no
    header, or one RFC 9110 lets a server ignore: malformed or several ranges). Raises 416."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if not match or (not match[1] and not match[2]):
        return None
    if not match[1]:  # suffix: the last N bytes
        count = int(match[2])
        if count == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(size - count, 0), size - 1
    first = int(match[1])
    last = int(match[2]) if match[2] else None
    if last is not None and last < first:
        return None
    if first >= size:
        raise _unsatisfiable(size)
    last = size - 1 if last is None else last
    return first, min(last, size - 1)


def _unsatisfiable(size: int) -> web.HTTPException:
    # the spec defines no error code for this: a plain 416 as RFC 9110 describes it
    return web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})


def _stat_linked(storage, name: str, digest) -> int | None:
    return storage.stat_blob(digest) if storage.has_blob(name, digest) else None


async def _linked_size(reg: Registry, name: str, digest) -> int:
    key = ("blob", name, digest)
    generation = reg.cache.current()
    size = reg.cache.get(key, generation)
    if size is None:
        size = await reg.io(_stat_linked, reg.storage, name, digest)
        if size is not None:
            reg.cache.put(key, size, 0, generation)
    if size is None:
        raise RegistryError("BLOB_UNKNOWN", f"blob {digest} unknown to repository {name}",
                            detail={"digest": str(digest)})
    return size


def _read_at(f, offset: int, count: int) -> bytes:
    f.seek(offset)
    return f.read(count)


async def get(reg: Registry, request, name: str, reference: str):
    digest = names.digest(reference)
    size = await _linked_size(reg, name, digest)
    span = parse_range(request.headers.get("Range"), size)
    first, last = span if span else (0, size - 1)
    headers = {"Content-Type": "application/octet-stream", "Docker-Content-Digest": str(digest),
               "ETag": f'"{digest}"', "Accept-Ranges": "bytes", "Cache-Control": "max-age=31536000"}
    if span:
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    response = web.StreamResponse(status=206 if span else 200, headers=headers)
    response.content_length = last - first + 1 if size else 0
    if request.method == "HEAD" or not size:
        await response.prepare(request)
        await response.write_eof()
        return response
    try:  # before any header goes out: gc may have deleted it since the link was looked up
        f = await reg.io(reg.storage.open_blob, digest)
    except FileNotFoundError:
        raise RegistryError("BLOB_UNKNOWN", f"blob {digest} unknown to repository {name}",
                            detail={"digest": str(digest)}) from None
    try:
        await response.prepare(request)
        if request.transport is not None and not request.secure:
            await _sendfile(reg, request, f, first, last + 1 - first)
            await response.write_eof()
            return response
        offset = first
        while offset <= last:
            data = await reg.io(_read_at, f, offset, min(CHUNK, last + 1 - offset))
            if not data:  # the blob shrank under us: cannot happen with write-once blobs
                raise ConnectionError(f"blob {digest} ended early")
            await response.write(data)
            offset += len(data)
    finally:
        f.close()
    await response.write_eof()
    return response


_SENDFILE_SLICE = 1 << 20  # the client must take this much within the body timeout


async def _sendfile(reg: Registry, request, f, offset: int, count: int) -> None:
    loop = asyncio.get_running_loop()
    timeout = reg.settings.limits.body_timeout
    end = offset + count
    while offset < end:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("client went away during a blob GET")
        n = min(_SENDFILE_SLICE, end - offset)
        try:
            async with asyncio.timeout(timeout):
                sent = await loop.sendfile(transport, f, offset, n)
        except TimeoutError:
            reset(transport)
            raise ConnectionResetError(f"client took no blob bytes for {timeout:g} s") from None
        if not sent:  # the blob shrank under us: cannot happen with write-once blobs
            raise ConnectionError("blob ended early")
        offset += sent


async def delete(reg: Registry, request, name: str, reference: str):
    digest = names.digest(reference)
    # only the repository's link goes; the shared content stays for other repositories
    if not await reg.io(reg.storage.unlink_blob, name, digest):
        raise RegistryError("BLOB_UNKNOWN", f"blob {digest} unknown to repository {name}",
                            detail={"digest": str(digest)})
    return empty(202)
