"""docker's stream formats: the 8-byte frame of multiplexed output (stdin 0, stdout 1, stderr 2), and
the hijacked connection of attach and exec (HTTP/1.1 101 UPGRADED, then raw bytes both ways)."""
from __future__ import annotations

import asyncio
import struct

from aiohttp import web

STREAM_IDS = {"stdout": 1, "stderr": 2}


def frame(stream: str, data: bytes) -> bytes:
    return struct.pack(">BxxxL", STREAM_IDS.get(stream, 1), len(data)) + data


def content_type(tty: bool) -> str:
    return "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"


class RawInput(asyncio.Protocol):
    """What the client sends after the upgrade, as a queue of byte chunks (b"" at its end).

    It takes the transport over from aiohttp's protocol (which still gets the write flow control
    and the end of the connection): aiohttp would close the connection at the client's half-close,
    and the half-close only means the client's stdin ended, the output still has to go out."""

    def __init__(self, request: web.Request):
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.ended = False
        self.http = request.protocol
        self.http.set_parser(self)  # hands over what came after the request's headers
        request.transport.set_protocol(self)

    def data_received(self, data: bytes) -> None:
        self.feed_data(data)

    def eof_received(self) -> bool:
        self.feed_eof()
        return True  # keep the transport open for the output

    def connection_lost(self, exc) -> None:
        self.feed_eof()
        self.http.connection_lost(exc)

    def pause_writing(self) -> None:
        self.http.pause_writing()

    def resume_writing(self) -> None:
        self.http.resume_writing()

    def feed_data(self, data: bytes):
        if data:
            self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(b"")

    async def read(self) -> bytes:
        return await self.queue.get()


async def hijack(request: web.Request, tty: bool) -> tuple[web.StreamResponse, RawInput | None]:
    """Answer an attach or exec start: 101 UPGRADED when the client asked to upgrade (docker's CLI
    and docker-py do), else 200; then the connection carries the raw streams until it closes."""
    upgrade = request.headers.get("Upgrade", "").lower() == "tcp"
    response = web.StreamResponse(status=101 if upgrade else 200, reason="UPGRADED" if upgrade else "OK")
    response.content_type = content_type(tty)
    if upgrade:
        response.headers["Connection"] = "Upgrade"
        response.headers["Upgrade"] = "tcp"
    response.force_close()
    await response.prepare(request)
    request["streaming"] = True
    return response, RawInput(request) if upgrade else None
