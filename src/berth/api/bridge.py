"""Byte and JSON-line streams between async handlers and the engine's worker threads.

The engine reads and writes blocking file objects (tar streams, image archives, build contexts);
these adapt a request's body and a streamed response to that, chunk by chunk with back-pressure,
so an archive is never held in memory. A response starts with its first byte or line: an error
before it is still an HTTP status with {"message"} (dockerd does the same for builds, saves and
pushes); after it, a JSON stream ends with docker's error line and a byte stream is cut short.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from contextlib import aclosing

from aiohttp import web

from berth.api.app import backend, start_stream

READ_CHUNK = 1 << 20
WRITE_BUFFER = 256 << 10    # bytes gathered before one hop to the event loop


class ClientGone(Exception):
    """The client closed the connection: the job that writes for it stops."""


class BodyReader:
    """The request body as a blocking binary file, for a worker thread."""

    def __init__(self, request: web.Request, loop: asyncio.AbstractEventLoop):
        self._content = request.content
        self._loop = loop

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = READ_CHUNK if n is None or n < 0 else min(n, READ_CHUNK)
        if n == 0:
            return b""
        return asyncio.run_coroutine_threadsafe(self._content.read(n), self._loop).result()

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


class ResponseWriter:
    """A streamed response as a blocking binary file, for a worker thread: prepared (headers sent)
    with the first flush, so `headers` may still be set until then."""

    def __init__(self, request: web.Request, loop: asyncio.AbstractEventLoop, content_type: str):
        self.request, self.loop, self.content_type = request, loop, content_type
        self.headers: dict[str, str] = {}
        self.response: web.StreamResponse | None = None
        self._buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._buffer += data
        if len(self._buffer) >= WRITE_BUFFER:
            self.flush()
        return len(data)

    def flush(self) -> None:
        data, self._buffer = bytes(self._buffer), bytearray()
        asyncio.run_coroutine_threadsafe(self._send(data), self.loop).result()

    async def _send(self, data: bytes) -> None:
        if self.response is None:
            self.response = web.StreamResponse(headers=self.headers)
            self.response.content_type = self.content_type
            await self.response.prepare(self.request)
            self.request["streaming"] = True
        if data:
            await self.response.write(data)

    async def finish(self) -> web.StreamResponse:
        """After the job: what is left, then the end of the body (on the event loop)."""
        data, self._buffer = bytes(self._buffer), bytearray()
        await self._send(data)
        await self.response.write_eof()
        return self.response


    async def run(self, job) -> web.StreamResponse:
        """Run job(engine, self) on a worker thread, then end the body. A client that goes away
        mid-body stops the job (its next write fails) and is no error of the server's."""
        try:
            await backend(self.request).call(job, self)
            return await self.finish()
        except ConnectionError:
            if self.response is None:
                raise
            return self.response


async def write_file(request: web.Request, content_type: str, job) -> web.StreamResponse:
    """Run job(engine, writer) on a worker thread; what it writes is the response's body."""
    return await ResponseWriter(request, asyncio.get_running_loop(), content_type).run(job)


def error_line(error: BaseException) -> dict:
    message = str(error) or type(error).__name__
    detail = {"message": message}
    from berth.errors import StepFailed
    if isinstance(error, StepFailed) and error.status:
        detail["code"] = error.status  # a RUN's exit status: docker's client exits with it
    return {"errorDetail": detail, "error": message}


class _Lines:
    """What a worker thread puts, queued for the event loop with back-pressure; put() raises
    ClientGone once the consumer stopped."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int = 256):
        self.loop = loop
        self.queue: asyncio.Queue = asyncio.Queue(size)
        self.stopped = threading.Event()

    def put(self, doc: dict) -> None:
        if self.stopped.is_set():
            raise ClientGone("the client went away")
        future = asyncio.run_coroutine_threadsafe(self.queue.put(doc), self.loop)
        while True:
            try:
                future.result(timeout=1.0)
                return
            except concurrent.futures.TimeoutError:
                if self.stopped.is_set():
                    future.cancel()
                    raise ClientGone("the client went away") from None


async def job_items(request: web.Request, job):
    """Run job(engine, put) on a worker thread and yield what it puts, in order, with back-pressure;
    the job's exception comes after its items. Closing the generator (a client that went away)
    stops the job at its next put."""
    lines = _Lines(asyncio.get_running_loop())
    task = asyncio.ensure_future(backend(request).call(job, lines.put))
    try:
        while True:
            getter = asyncio.ensure_future(lines.queue.get())
            done, _ = await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            yield getter.result()
        while not lines.queue.empty():
            yield lines.queue.get_nowait()
        task.result()  # the job's own error, if any
    finally:
        lines.stopped.set()
        while not lines.queue.empty():
            lines.queue.get_nowait()
        task.add_done_callback(lambda f: f.cancelled() or f.exception())  # nobody else awaits it


def generated(request: web.Request, fn):
    """The items of the generator fn(engine), made on a worker thread (job_items)."""
    def job(engine, put):
        for item in fn(engine):
            put(item)
    return job_items(request, job)


async def json_lines(request: web.Request, job, last=None) -> web.StreamResponse:
    """Run job(engine, put) on a worker thread; each put(doc) is a line of the response (docker's
    JSON stream: pull and push progress, build output). last(result) gives the closing lines."""
    def job_and_last(engine, put):
        result = job(engine, put)
        for doc in (last(result) if last else ()):
            put(doc)
    response = None

    async def send(doc):
        nonlocal response
        if response is None:
            response = await start_stream(request, "application/json")
        await response.write(json.dumps(doc).encode() + b"\r\n")
    try:
        async with aclosing(job_items(request, job_and_last)) as docs:
            async for doc in docs:
                await send(doc)
    except ConnectionError:  # the client went away: the job stops at its next line
        if response is None:
            raise
        return response
    except Exception as error:  # noqa: BLE001 — the job's: a line of the stream once it has begun
        if response is None:
            raise  # nothing sent yet: a status of its own (the errors middleware)
        await send(error_line(error))
    if response is None:
        response = await start_stream(request, "application/json")
    await response.write_eof()
    return response
