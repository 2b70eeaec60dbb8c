"""Serving connections within bounds: request head, body and idle timeouts, a connection limit,
and accept errors reported once instead of once per attempt.

aiohttp bounds only the wait between requests (`keepalive_timeout`, used here as the idle
timeout). A client that sends half a request head, or stops half way through a body, holds its
connection and file descriptor for ever, and enough of them starve every other client.
`GuardedRequestHandler` adds the two missing clocks to aiohttp's connection protocol, hooked on
the bytes as they arrive (a subclass, since aiohttp has no setting or hook for either):

- head: from accept, or from the first byte of a later request on a kept-alive connection, to
  the end of the request head, in total, so sending a byte now and then does not extend it. On
  expiry the client gets a 408 if part of a head arrived, and the connection closes.
- body: how long the client may leave a request body unfinished without sending a byte. It counts
  only while the server reads: not while reading is paused because the server's buffers are full
  (a slow disk, a handler waiting for a lock). On expiry, the handler's next read raises
  `BodyTimeout` (answered 408, an upload rolls back to where the request started) and the
  connection closes after that response. The same time bounds the other direction: a response
  the client stops reading (the send buffer full and not drained for that long) is aborted.

`Listener` accepts connections itself instead of `loop.create_server`, because asyncio cannot
stop accepting at a limit, and on EMFILE logs a traceback for every pending connection, every
second. At the limit it stops accepting: new connections wait in the kernel's listen backlog and
are served as others close (the timeouts make sure they do), rather than being refused, which
docker, podman and skopeo would report as a failed push or pull. The default limit leaves room
in the process's file descriptor limit for the files requests open. Running out of descriptors
anyway (EMFILE: a limit set too high) is logged as one line a minute at most, and accepting
resumes when a connection closes.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
import struct
import time

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger("berth.registry")

_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
# accept() reports a queued connection's own trouble (the client gave up, its network failed): skip it
_CLIENT_GONE = (errno.ECONNABORTED, errno.EPROTO, errno.ENETDOWN, errno.ENOPROTOOPT, errno.EHOSTDOWN,
                errno.ENONET, errno.EHOSTUNREACH, errno.EOPNOTSUPP, errno.ENETUNREACH, errno.EPERM)
_REPORT_EVERY = 60.0  # seconds between two log lines about running out of descriptors
_BACKLOG = 1024  # connections waiting for accept() (Linux caps it at net.core.somaxconn)
_TIMEOUT_RESPONSE = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


class BodyTimeout(TimeoutError):
    """The client stopped sending a request body."""


class Limits:
    def __init__(self, header_timeout: float = 30.0, idle_timeout: float = 120.0, body_timeout: float = 60.0,
                 max_connections: int | None = None):
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.body_timeout = body_timeout
        self.max_connections = max_connections or default_max_connections()


def default_max_connections() -> int:
    """As many connections as the descriptor limit allows with one more file open for each (a blob
    being read or written) and some to spare, within 16..1024."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(16, min(1024, (soft - 64) // 2))


class GuardedRequestHandler(RequestHandler):
    """aiohttp's protocol with the head and body timeouts of the module docstring; `on_lost` is
    called once the connection is gone."""

    def __init__(self, manager, *, loop, limits: Limits, on_lost, **kwargs):
        super().__init__(manager, loop=loop, keepalive_timeout=limits.idle_timeout, **kwargs)
        self._limits = limits
        self._on_lost = on_lost
        self._head_since: float | None = None  # a request head is due (loop time it became due)
        self._head_started = False  # some of that head arrived
        self._body = None  # the newest request's body stream
        self._body_progress = 0.0  # loop time of the last body byte, or of a server-side pause
        self._send_stalled_since: float | None = None  # the client stopped reading our response
        self._watchdog: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._head_since = self._loop.time()
        self._arm(self._head_since + self._limits.header_timeout)

    def connection_lost(self, exc) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        try:
            super().connection_lost(exc)
        finally:
            on_lost, self._on_lost = self._on_lost, None
            if on_lost is not None:
                on_lost()

    def data_received(self, data: bytes) -> None:
        if data:
            now = self._loop.time()
            body = self._body
            if body is not None and not body.is_eof():
                self._body_progress = now
            else:  # bytes of the next request's head
                if self._head_since is None:
                    self._head_since = now
                    self._arm(now + self._limits.header_timeout)
                self._head_started = True
        heads = self._request_count
        super().data_received(data)
        if self._request_count != heads and self._messages:  # a request head is complete
            self._head_since, self._head_started = None, False
            self._body = self._messages[-1][1]
            if not self._body.is_eof():
                self._body_progress = self._loop.time()
                self._arm(self._body_progress + self._limits.body_timeout)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._send_stalled_since = self._loop.time()
        self._arm(self._send_stalled_since + self._limits.body_timeout)

    def resume_writing(self) -> None:
        self._send_stalled_since = None
        super().resume_writing()

    def resume_reading(self, resume_parser: bool = True) -> None:
        self._body_progress = self._loop.time()  # the pause was the server's, not the client's
        super().resume_reading(resume_parser)

    def handle_error(self, request, status: int = 500, exc=None, message=None):
        """A request aiohttp's parser refused (400, 413, 431 ...) is the client's error: answered
        without a traceback in the log, where a flood of them would bury everything else."""
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        self.logger.debug("refused a malformed request from %s: %s", request.remote, message or exc)
        response = web.Response(status=status, text=f"{status} {message or 'Bad Request'}\n")
        response.force_close()
        return response

    # -- the watchdog: one timer, set for the nearest deadline
    def _arm(self, when: float) -> None:
        if self._watchdog is not None:
            if self._watchdog.when() <= when:
                return
            self._watchdog.cancel()
        self._watchdog = self._loop.call_at(when, self._check)

    def _check(self) -> None:
        self._watchdog = None
        if self.transport is None:
            return
        now = self._loop.time()
        deadlines = []
        if self._head_since is not None:
            due = self._head_since + self._limits.header_timeout
            if now >= due:
                self._head_timed_out()
                return
            deadlines.append(due)
        body = self._body
        if body is not None and not body.is_eof():
            if self._reading_paused or self._buffer_paused:
                self._body_progress = now
            due = self._body_progress + self._limits.body_timeout
            if now >= due:
                self._body = None
                body.set_exception(BodyTimeout(f"no request body received for {self._limits.body_timeout:g} s"))
                self.close()  # after the response the handler sends
            else:
                deadlines.append(due)
        if self._send_stalled_since is not None:
            due = self._send_stalled_since + self._limits.body_timeout
            if now >= due:
                self.logger.debug("aborting a response its client stopped reading")
                self._reset()
                return
            deadlines.append(due)
        if deadlines:
            self._arm(min(deadlines))

    def _reset(self) -> None:
        reset(self.transport)

    def _head_timed_out(self) -> None:
        if self._paused:  # not even reading what it was sent before: nothing would get through
            self._reset()
            return
        if self._head_started:
            self.transport.write(_TIMEOUT_RESPONSE)
        self.force_close()


def reset(transport) -> None:
    """Drop the connection and what it still had to send: a plain close would leave the kernel
    holding that data (and the connection) until the client reads, which it does not."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


def bind(host: str | None, port: int) -> list[socket.socket]:
    """Listening sockets for every address `host` resolves to (every interface when empty), all
    on the same port, also when `port` is 0."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address[:2]) in seen:
                continue
            seen.add((family, address[:2]))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # the AF_INET socket takes IPv4
            if port == 0 and len(sockets) > 1:
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(_BACKLOG)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class _Slot:
    """One connection's place under the limit; released once, however the connection ends."""

    def __init__(self, listener: "Listener"):
        self._listener = listener

    def release(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener._released()


class Listener:
    """Accepts connections on `sockets` for aiohttp's `web_server`, at most `limits.max_connections`
    at a time."""

    def __init__(self, web_server, sockets: list[socket.socket], limits: Limits, ssl_context=None,
                 **handler_options):
        self.web_server = web_server
        self.sockets = sockets
        self.limits = limits
        self.ssl_context = ssl_context
        self.handler_options = handler_options
        self.open = 0
        self._freed = asyncio.Event()
        self._accepting: list[asyncio.Task] = []
        self._starting: set[asyncio.Task] = set()
        self._quiet_until = 0.0
        self._unreported = 0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._accepting = [loop.create_task(self._accept(sock)) for sock in self.sockets]

    async def close(self) -> None:
        for task in self._accepting + list(self._starting):
            task.cancel()
        await asyncio.gather(*self._accepting, *self._starting, return_exceptions=True)
        for sock in self.sockets:
            sock.close()

    def _released(self) -> None:
        self.open -= 1
        self._freed.set()

    async def _wait_for_a_free_slot(self, timeout: float | None = None) -> None:
        self._freed.clear()
        try:
            await asyncio.wait_for(self._freed.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while self.open >= self.limits.max_connections:
                await self._wait_for_a_free_slot()
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as e:
                if e.errno in _CLIENT_GONE:
                    continue
                self._report(e)
                if e.errno in _OUT_OF_RESOURCES:
                    await self._wait_for_a_free_slot(timeout=1.0)
                else:  # unexpected: do not spin on it
                    await asyncio.sleep(0.1)
                continue
            self.open += 1
            task = loop.create_task(self._serve(conn, _Slot(self)))
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    async def _serve(self, conn: socket.socket, slot: _Slot) -> None:
        loop = asyncio.get_running_loop()

        def protocol():
            return GuardedRequestHandler(self.web_server, loop=loop, limits=self.limits, on_lost=slot.release,
                                         **self.handler_options)

        try:
            await loop.connect_accepted_socket(protocol, conn, ssl=self.ssl_context,
                                               ssl_handshake_timeout=self.limits.header_timeout
                                               if self.ssl_context else None)
        except BaseException as e:  # a failed TLS handshake, a client gone already, shutting down
            conn.close()
            slot.release()
            if not isinstance(e, Exception):
                raise
            log.debug("connection dropped before its first request: %s", e)

    def _report(self, error: OSError) -> None:
        now = time.monotonic()
        if now < self._quiet_until:
            self._unreported += 1
            return
        more = f"; {self._unreported} more since the last report" if self._unreported else ""
        log.error("cannot accept connections: %s (%d open, limit %d); waiting for some to close%s",
                  error.strerror or error, self.open, self.limits.max_connections, more)
        self._quiet_until = now + _REPORT_EVERY
        self._unreported = 0
