"""The aiohttp application: routing, authentication, read-only mode, error bodies, and `serve`.

Routing matches the raw request path, before any percent-decoding or dot-segment folding, so
`%2F` or `..` reach the name check as typed and are refused there.
"""
from __future__ import annotations

import asyncio
import logging
import re
import signal

from aiohttp import web

from berth.registry.server import blobs, listing, manifests, names, origins, referrers, uploads
from berth.registry.server.connections import BodyTimeout, Listener, bind
from berth.registry.server.context import Registry
from berth.registry.server.errors import RegistryError, error_body

API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")
_READS = frozenset({"GET", "HEAD"})
_ACTIONS = {"GET": ("pull",), "HEAD": ("pull",), "POST": ("pull", "push"), "PATCH": ("pull", "push"),
            "PUT": ("pull", "push"), "DELETE": ("delete",)}

_NAME = r"/v2/(?P<name>.+)"
# (path pattern, {method: handler}); tried in order, uploads before blobs
ROUTES = [
    (re.compile(_NAME + r"/blobs/uploads/?"), {"POST": uploads.start}),
    (re.compile(_NAME + r"/blobs/uploads/(?P<upload>[^/]+)"),
     {"GET": uploads.status, "PATCH": uploads.patch, "PUT": uploads.put, "DELETE": uploads.cancel}),
    (re.compile(_NAME + r"/blobs/(?P<reference>[^/]+)"),
     {"GET": blobs.get, "HEAD": blobs.get, "DELETE": blobs.delete}),
    (re.compile(_NAME + r"/manifests/(?P<reference>[^/]+)"),
     {"GET": manifests.get, "HEAD": manifests.get, "PUT": manifests.put, "DELETE": manifests.delete}),
    (re.compile(_NAME + r"/tags/list"), {"GET": listing.tags}),
    (re.compile(_NAME + r"/referrers/(?P<reference>[^/]+)"), {"GET": referrers.get}),
]

log = logging.getLogger("berth.registry")


async def _base(reg: Registry, request):
    return web.json_response({})


def _route(method: str, path: str):
    """(handler, repository or None, other path parameters)."""
    if path in ("/v2", "/v2/"):
        return _base, None, {}
    if path == "/v2/_catalog":
        return listing.catalog, None, {}
    for pattern, handlers in ROUTES:
        match = pattern.fullmatch(path)
        if match:
            handler = handlers.get(method)
            if handler is None:
                raise RegistryError("UNSUPPORTED", f"{method} is not supported on {path}")
            params = match.groupdict()
            name = params.pop("name")
            if "upload" in params:
                params["upload_id"] = params.pop("upload")
            return handler, name, params
    raise web.HTTPNotFound(text="404 page not found\n")


async def dispatch(request: web.Request):
    reg: Registry = request.app["registry"]
    path = request.raw_path.split("?", 1)[0]
    if path == "/token" and reg.token_service is not None:  # the built-in token service (--auth token)
        return await reg.token_service.handle(request)
    handler, name, params = _route(request.method, path)
    user = await reg.authenticator.authenticate(request)
    if name is not None:
        name = names.repository(name)
    reg.authorizer.authorize(user, name, _ACTIONS.get(request.method, ("pull",)) if handler is not _base else ())
    if reg.settings.read_only and request.method not in _READS:
        raise RegistryError("UNSUPPORTED", "this registry is read-only (started with --read-only)")
    request["user"] = user
    if name is None:
        return await handler(reg, request)
    return await handler(reg, request, name, **params)


@web.middleware
async def errors_middleware(request, handler):
    try:
        return await handler(request)
    except RegistryError as e:
        return web.Response(status=e.status, body=e.body(), content_type="application/json", headers=e.headers)
    except web.HTTPException:
        raise
    except BodyTimeout as e:
        return web.Response(status=408, body=error_body("UNKNOWN", f"request body timed out: {e}"),
                            content_type="application/json", headers={"Connection": "close"})
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return web.Response(status=500, body=error_body("UNKNOWN", "internal server error"),
                            content_type="application/json")


@web.middleware
async def same_origin_middleware(request, handler):
    """Refuse state-changing requests a browser sends from another site (see `origins`)."""
    refused = origins.refusal(request.method, request.headers, request.headers.get("Host"))
    if refused is not None:
        raise refused
    return await handler(request)


async def _add_api_version(request, response):
    response.headers[API_VERSION[0]] = API_VERSION[1]


# "/v2/(?P<name>.+)/blobs/uploads/?" -> "/v2/{name}/blobs/uploads/": a route's name in metrics
_API_ROUTE_NAMES = [(pattern, re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern.pattern).replace("/?", "/"))
                    for pattern, _ in ROUTES]


def route_label(request) -> str:
    """The route pattern a request matched (bounded, unlike raw paths), for metrics."""
    if request.match_info.handler is not dispatch:  # the UI's and /metrics' own aiohttp routes
        return request.match_info.route.resource.canonical
    path = request.raw_path.split("?", 1)[0]
    if path in ("/v2", "/v2/", "/v2/_catalog", "/token"):
        return path if path != "/v2" else "/v2/"
    for pattern, label in _API_ROUTE_NAMES:
        if pattern.fullmatch(path):
            return label
    return "unmatched"


def make_app(registry: Registry) -> web.Application:
    middlewares = [errors_middleware, same_origin_middleware]
    if registry.settings.metrics:
        from berth.registry.server.metrics import Metrics
        metrics = Metrics()
        middlewares.insert(0, metrics.middleware(route_label))  # outermost: sees every status
    app = web.Application(middlewares=middlewares)
    app["registry"] = registry
    app.on_response_prepare.append(_add_api_version)
    if registry.settings.metrics:
        app.router.add_get("/metrics", metrics.handler)
    if registry.settings.ui:
        from berth.registry.server import ui
        ui.add_routes(app)
    app.router.add_route("*", "/{tail:.*}", dispatch)  # last: the routes above take precedence
    return app


async def run(registry: Registry, host: str, port: int, ssl_context=None, on_ready=None) -> None:
    """Serve until SIGTERM or SIGINT; `on_ready(url)` once the socket listens. Connections go
    through `connections.Listener`, for its timeouts and connection limit."""
    runner = web.AppRunner(make_app(registry), handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()
    try:
        sockets = bind(host, port)
    except BaseException:
        await runner.cleanup()
        raise
    listener = Listener(runner.server, sockets, registry.settings.limits, ssl_context, access_log=None)
    listener.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    purger = None
    if registry.settings.purge_uploads_after:
        purger = asyncio.get_running_loop().create_task(_purge_stale_uploads(registry))
    try:
        bound_host, bound_port = sockets[0].getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        if on_ready:
            on_ready(f"{'https' if ssl_context else 'http'}://{shown}:{bound_port}")
        await stop.wait()
    finally:
        if purger:
            purger.cancel()
        await listener.close()
        await runner.cleanup()


async def _purge_stale_uploads(registry: Registry) -> None:
    """Abandoned uploads (a client that died mid-push) go once idle for the configured time."""
    idle = registry.settings.purge_uploads_after
    while True:
        await asyncio.sleep(max(1.0, min(idle / 4, 3600.0)))
        try:
            await registry.io(registry.storage.purge_uploads, idle)
        except OSError:
            log.exception("purging stale uploads failed")
