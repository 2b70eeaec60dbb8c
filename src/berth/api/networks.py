"""Network routes: create, list, inspect, remove, prune, connect, disconnect."""
from __future__ import annotations

from aiohttp import web

from berth.api.app import BadRequest, backend, body, filters, no_content, reply, route


def _ipam(doc: dict) -> dict:
    """The IPAM pools (an IPv4 one, an IPv6 one) as lists of subnets, gateways and ip ranges, as
    docker's CLI sends --subnet and friends."""
    configs = (doc.get("IPAM") or {}).get("Config") or []
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        raise BadRequest("invalid IPAM.Config: expected a list of objects")
    out: dict = {"Subnet": [], "Gateway": [], "IPRange": []}
    for c in configs:
        for key in out:
            value = c.get(key)
            if value is not None and not isinstance(value, str):
                raise BadRequest(f"invalid IPAM.Config {key}: expected a string")
            if value:
                out[key].append(value)
    return out


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
    ipam = endpoint.get("IPAMConfig") or {}
    ip, ip6 = ipam.get("IPv4Address") or None, ipam.get("IPv6Address") or None
    if not all(isinstance(a, (str, type(None))) for a in (ip, ip6)):
        raise BadRequest("invalid EndpointConfig.IPAMConfig: addresses are strings")
    await backend(request).call(lambda e: e.containers.connect(container, name, aliases, ip, ip6))
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
