"""A container's files as tar streams: GET, HEAD and PUT /containers/{id}/archive (`docker cp`).

The path's stat travels in the X-Docker-Container-Path-Stat header: base64 of JSON {name, size,
mode, mtime, linkTarget}, with mode in Go's os.FileMode bits (docker's client tests them, e.g.
for a directory or a symlink). Tars are streamed both ways; the file service resolves every path
and every entry inside the container's root filesystem.
"""
from __future__ import annotations

import asyncio
import base64
import json
import stat
import time

from aiohttp import web

from berth.api.app import BadRequest, backend, flag, route
from berth.api.bridge import BodyReader, ResponseWriter

STAT_HEADER = "X-Docker-Container-Path-Stat"

# Go's os.FileMode type bits (io/fs): the permission bits stay where st_mode has them.
GO_DIR = 1 << 31
GO_SYMLINK = 1 << 27
GO_DEVICE = 1 << 26
GO_NAMED_PIPE = 1 << 25
GO_SOCKET = 1 << 24
GO_SETUID = 1 << 23
GO_SETGID = 1 << 22
GO_CHAR_DEVICE = 1 << 21
GO_STICKY = 1 << 20
_GO_TYPES = {stat.S_IFDIR: GO_DIR, stat.S_IFLNK: GO_SYMLINK, stat.S_IFBLK: GO_DEVICE,
             stat.S_IFCHR: GO_DEVICE | GO_CHAR_DEVICE, stat.S_IFIFO: GO_NAMED_PIPE, stat.S_IFSOCK: GO_SOCKET}


def go_file_mode(st_mode: int) -> int:
    mode = (st_mode & 0o777) | _GO_TYPES.get(stat.S_IFMT(st_mode), 0)
    for bit, go_bit in ((stat.S_ISUID, GO_SETUID), (stat.S_ISGID, GO_SETGID), (stat.S_ISVTX, GO_STICKY)):
        if st_mode & bit:
            mode |= go_bit
    return mode


def go_time(ns: int) -> str:
    """Go's time.Time in JSON (RFC 3339 with nanoseconds, trailing zeros dropped), in UTC."""
    secs, nanos = divmod(ns, 1_000_000_000)
    frac = f"{nanos:09d}".rstrip("0")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + (f".{frac}" if frac else "") + "Z"


def stat_header(found) -> str:
    doc = {"name": found.name, "size": found.size, "mode": go_file_mode(found.mode),
           "mtime": go_time(found.mtime_ns), "linkTarget": found.link_target}
    return base64.b64encode(json.dumps(doc).encode()).decode()


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise BadRequest("path is required (the path in the container)")
    if "\0" in path:
        raise BadRequest("invalid path: NUL in it")
    return path


async def head(request: web.Request) -> web.Response:
    cid, path = request.match_info["id"], _path(request)
    found = await backend(request).call(lambda e: e.files.stat_path(cid, path))
    return web.Response(headers={STAT_HEADER: stat_header(found)})


async def get(request: web.Request) -> web.StreamResponse:
    cid, path = request.match_info["id"], _path(request)
    writer = ResponseWriter(request, asyncio.get_running_loop(), "application/x-tar")

    def on_stat(found):  # on the worker thread, before the first byte: the header goes out with it
        writer.headers[STAT_HEADER] = stat_header(found)
    return await writer.run(lambda e, out: e.files.archive_path(cid, path, out, on_stat=on_stat))


async def put(request: web.Request) -> web.Response:
    cid, path = request.match_info["id"], _path(request)
    keep_kinds, same_owner = flag(request, "noOverwriteDirNonDir"), flag(request, "copyUIDGID")
    stream = BodyReader(request, asyncio.get_running_loop())
    await backend(request).call(lambda e: e.files.extract_archive(
        cid, path, stream, no_overwrite_dir_non_dir=keep_kinds, copy_uid_gid=same_owner))
    return web.Response()


def add_routes(router) -> None:
    route(router, "HEAD", "/containers/{id}/archive", head)
    route(router, "GET", "/containers/{id}/archive", get)
    route(router, "PUT", "/containers/{id}/archive", put)
