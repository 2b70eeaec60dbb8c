"""Volume routes: create, list, inspect, remove, prune."""
from __future__ import annotations

from aiohttp import web

from berth.api.app import BadRequest, backend, body, filters, flag, no_content, reply, route


def _strings(doc: dict, key: str) -> dict:
    value = doc.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BadRequest(f"invalid {key}: expected an object of strings")
    return value


async def create(request: web.Request) -> web.Response:
    doc = await body(request)
    name, driver = doc.get("Name") or None, doc.get("Driver") or "local"
    if name is not None and not isinstance(name, str) or not isinstance(driver, str):
        raise BadRequest("invalid Name or Driver: expected strings")
    options, labels = _strings(doc, "DriverOpts"), _strings(doc, "Labels")
    # as docker: creating a volume that exists (same driver) answers it
    volume = await backend(request).call(lambda e: e.volumes.create(name, driver, options, labels, exist_ok=True))
    return reply(volume, 201)


async def list_(request: web.Request) -> web.Response:
    given = filters(request)
    volumes = await backend(request).call(lambda e: e.volumes.list(given))
    return reply({"Volumes": volumes, "Warnings": None})


async def inspect(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    return reply(await backend(request).call(lambda e: e.volumes.inspect(name)))


async def remove(request: web.Request) -> web.Response:
    name, force = request.match_info["name"], flag(request, "force")
    await backend(request).call(lambda e: e.volumes.remove(name, force=force))
    return no_content()


async def prune(request: web.Request) -> web.Response:
    given = filters(request)
    every = any(v.lower() in ("true", "1") for v in given.get("all", []))
    removed, reclaimed = await backend(request).call(lambda e: e.volumes.prune(all=every))
    return reply({"VolumesDeleted": removed or None, "SpaceReclaimed": reclaimed})


def add_routes(router) -> None:
    route(router, "POST", "/volumes/create", create)
    route(router, "GET", "/volumes", list_)
    route(router, "POST", "/volumes/prune", prune)
    route(router, "GET", "/volumes/{name}", inspect)
    route(router, "DELETE", "/volumes/{name}", remove)
