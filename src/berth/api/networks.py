"""Network routes: create, list, inspect, remove, prune, connect, disconnect."""
from __future__ import annotations

from aiohttp import web

from berth.api.app import BadRequest, backend, body, filters, no_content, reply, route


def _ipam(doc: dict) -> dict:
    """The first IPAM pool (subnet, gateway, ip range), as docker's CLI sends --subnet and friends."""
    configs = (doc.get("IPAM") or {}).get("Config") or []
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        raise BadRequest("invalid IPAM.Config: expected a list of objects")
    v4 = [c for c in configs if ":" not in (c.get("Subnet") or "")]
    return v4[0] if v4 else {}


async def create(request: web.Request) -> web.Response:
    doc = await body(request)
    name = doc.get("Name")
    if not isinstance(name, str) or not name:
        raise BadRequest("network name is required")
    pool = _ipam(doc)
    driver = doc.get("Driver") or "bridge"
    labels, options = doc.get("Labels") or {}, doc.get("Options") or {}
    if not isinstance(labels, dict) or not isinstance(options, dict):
        raise BadRequest("invalid Labels or Options: expected objects")

    def run(engine):
        if doc.get("CheckDuplicate", True) is False:
            try:
                return engine.networks.get(name)
            except LookupError:
                pass
        return engine.networks.create(name, driver, pool.get("Subnet"), pool.get("Gateway"), pool.get("IPRange"),
                                      bool(doc.get("Internal")), labels, options, bool(doc.get("EnableIPv6")))
    network = await backend(request).call(run)
    return reply({"Id": network.id, "Warning": ""}, 201)


async def list_(request: web.Request) -> web.Response:
    given = filters(request)
    return reply(await backend(request).call(lambda e: e.networks.list(given)))


async def inspect(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    return reply(await backend(request).call(lambda e: e.networks.inspect(name)))


async def remove(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    await backend(request).call(lambda e: e.networks.remove(name))
    return no_content()


async def prune(request: web.Request) -> web.Response:
    removed = await backend(request).call(lambda e: e.networks.prune())
    return reply({"NetworksDeleted": removed or None})


async def connect(request: web.Request) -> web.Response:
    name, doc = request.match_info["name"], await body(request)
    container = doc.get("Container")
    if not isinstance(container, str) or not container:
        raise BadRequest("Container is required")
    endpoint = doc.get("EndpointConfig") or {}
    aliases = [a for a in endpoint.get("Aliases") or [] if isinstance(a, str)]
    ip = (endpoint.get("IPAMConfig") or {}).get("IPv4Address") or None
    await backend(request).call(lambda e: e.containers.connect(container, name, aliases, ip))
    return no_content(200)


async def disconnect(request: web.Request) -> web.Response:
    name, doc = request.match_info["name"], await body(request)
    container = doc.get("Container")
    if not isinstance(container, str) or not container:
        raise BadRequest("Container is required")
    await backend(request).call(lambda e: e.containers.disconnect(container, name, bool(doc.get("Force"))))
    return no_content(200)


def add_routes(router) -> None:
    route(router, "POST", "/networks/create", create)
    route(router, "GET", "/networks", list_)
    route(router, "POST", "/networks/prune", prune)
    route(router, "GET", "/networks/{name}", inspect)
    route(router, "DELETE", "/networks/{name}", remove)
    route(router, "POST", "/networks/{name}/connect", connect)
    route(router, "POST", "/networks/{name}/disconnect", disconnect)
