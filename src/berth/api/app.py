"""The aiohttp application: routes under `/` and `/vX.Y/`, errors as dockerd reports them, and the
bridge from async handlers to the (blocking) engine.

The engine is synchronous (sqlite, flocks, runc): each handler runs its engine calls on a worker
thread with an Engine of that thread's own (sqlite connections are per thread). Streams (logs,
wait, attach, pull progress) hold a thread for as long as they last, so the pool is large.
"""
from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from berth.engine import Engine
from berth.errors import BerthError

API_VERSION = "1.44"        # what this server answers as (docker 25's API)
MIN_API_VERSION = "1.24"
MAX_BODY = 1 << 20          # JSON bodies; archives and build contexts are streamed


class BadRequest(BerthError):
    http_status = 400


class Backend:
    """The store root and the threads that run engine calls; one per server."""

    def __init__(self, root: str, threads: int = 128):
        self.root = root
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="berth-api")
        self._local = threading.local()

    def engine(self) -> Engine:
        engine = getattr(self._local, "engine", None)
        if engine is None:
            engine = self._local.engine = Engine(self.root)
        return engine

    async def call(self, fn, *args):
        """fn(engine, *args) on a worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, lambda: fn(self.engine(), *args))

    async def run(self, fn, *args):
        """A blocking fn(*args) without an engine (socket or file I/O)."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def backend(request: web.Request) -> Backend:
    return request.app["backend"]


def version(request: web.Request) -> tuple[int, int]:
    """The API version the client asked for (the path's /vX.Y), or this server's."""
    asked = request.match_info.get("api_version") or API_VERSION
    return tuple(map(int, asked.split(".")))


def reply(doc, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(doc, separators=(",", ":")).encode(), status=status,
                        content_type="application/json")


def no_content(status: int = 204) -> web.Response:
    return web.Response(status=status)


async def body(request: web.Request) -> dict:
    """The request's JSON object (an empty or absent body, or null as Go clients send a nil config,
    is {}); anything else is a 400."""
    if request.content_length and request.content_length > MAX_BODY:
        raise BadRequest(f"request body too large (over {MAX_BODY} bytes)")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise BadRequest(f"request body too large (over {MAX_BODY} bytes)")
    if not raw.strip() or raw.strip() == b"null":
        return {}
    from berth.safejson import loads
    try:
        doc = loads(raw, MAX_BODY)
    except ValueError as e:  # safejson: malformed, too large or too deep, one error type
        raise BadRequest(f"invalid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise BadRequest("invalid JSON: expected an object")
    return doc


def flag(request: web.Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter as dockerd reads them: 1/true/True; 0/false/False/empty."""
    value = request.query.get(name)
    if value is None:
        return default
    return value.strip().lower() not in ("", "0", "false", "no")


def integer(request: web.Request, name: str, default: int | None = None) -> int | None:
    value = request.query.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"invalid value for {name}: {value!r} is not an integer") from None


def filters(request: web.Request) -> dict:
    """`filters` as {key: [values]}; docker sends {key: {value: true}} or (old clients) {key: [values]}."""
    text = request.query.get("filters")
    if not text:
        return {}
    from berth.safejson import loads
    try:
        doc = loads(text, MAX_BODY)
    except ValueError:
        raise BadRequest(f"invalid filters: {text[:200]!r}") from None
    if not isinstance(doc, dict):
        raise BadRequest(f"invalid filters: {text!r}")
    out = {}
    for key, values in doc.items():
        if isinstance(values, dict):
            out[key] = [v for v, on in values.items() if on]
        elif isinstance(values, list) and all(isinstance(v, str) for v in values):
            out[key] = values
        else:
            raise BadRequest(f"invalid filter {key!r}")
    return out


@web.middleware
async def errors(request: web.Request, handler):
    """Every failure as dockerd answers it: a status and {"message": ...}, never a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400 or e.content_type == "application/json":
            raise
        return reply({"message": "page not found" if e.status == 404 else e.reason}, e.status)
    except Exception as e:
        if request.get("streaming"):  # the status went out already: aiohttp logs it, closes the connection
            raise
        if isinstance(e, BerthError):
            return reply({"message": str(e)}, e.http_status)
        import traceback  # a bug: one line for the client, the traceback in the service's log
        traceback.print_exc()
        return reply({"message": f"internal error: {type(e).__name__}: {e}"}, 500)


async def start_stream(request: web.Request, content_type: str) -> web.StreamResponse:
    """A 200 whose body follows as it comes (logs, progress, a wait's result)."""
    response = web.StreamResponse()
    response.content_type = content_type
    await response.prepare(request)
    request["streaming"] = True
    return response


def route(router, method: str, path: str, handler) -> None:
    """`path` and `/vX.Y` + path: docker's clients prefix every call with the API version they speak."""
    router.add_route(method, path, handler)
    router.add_route(method, r"/v{api_version:[0-9]+\.[0-9]+}" + path, handler)


def make_app(root: str) -> web.Application:
    from berth.api import containers, exec as exec_routes, images, networks, system, volumes
    from berth.api import archive, build, commit, distribution, image_archives
    app = web.Application(middlewares=[errors], client_max_size=MAX_BODY)
    app["backend"] = Backend(root)
    app["attach_waiters"] = {}    # container ID -> futures of attach requests made before start
    app["execs"] = {}             # exec ID -> exec instance (dockerd too keeps these in memory)
    for module in (system, containers, exec_routes, images, volumes, networks,
                   archive, build, commit, image_archives, distribution):
        module.add_routes(app.router)
    app.on_response_prepare.append(_server_headers)
    app.on_cleanup.append(_close_backend)
    return app


async def _server_headers(request, response) -> None:
    from berth.api.system import server_header
    response.headers["Api-Version"] = API_VERSION
    response.headers["Server"] = server_header()
    response.headers.setdefault("Docker-Experimental", "false")
    response.headers.setdefault("Ostype", "linux")


async def _close_backend(app) -> None:
    app["backend"].close()
