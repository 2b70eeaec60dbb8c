"""System routes: /_ping, /version, /info, /system/df, /events."""
from __future__ import annotations

import os
import platform
from contextlib import aclosing

from aiohttp import web

from berth.api.app import API_VERSION, MIN_API_VERSION, backend, filters, reply, route, start_stream


def _berth_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("berth")
    except PackageNotFoundError:
        return "0.0.0"


def server_header() -> str:
    return f"Berth/{_berth_version()} (linux)"


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


async def ping(request: web.Request) -> web.Response:
    response = web.Response(text="OK" if request.method == "GET" else "", content_type="text/plain")
    response.headers.update({"Builder-Version": "1", "Cache-Control": "no-cache, no-store, must-revalidate",
                             "Pragma": "no-cache"})
    return response


async def version(request: web.Request) -> web.Response:
    berth = _berth_version()
    details = {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": _arch(),
               "KernelVersion": platform.release(), "GitCommit": "", "GoVersion": "", "BuildTime": ""}
    return reply({"Platform": {"Name": f"berth {berth}"}, "Version": berth,
                  "Components": [{"Name": "Engine", "Version": berth, "Details": details}], **details})


def _info(engine) -> dict:
    doc = engine.system.info()
    doc.update({"SystemTime": _now(), "LoggingDriver": "json-file", "IndexServerAddress": "https://index.docker.io/v1/",
                "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"],
                                   "Mirrors": []},
                "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"],
                            "Log": ["json-file"], "Authorization": None},
                "MemoryLimit": True, "SwapLimit": True, "CpuCfsPeriod": True, "CpuCfsQuota": True,
                "IPv4Forwarding": True, "Debug": False, "NFd": len(os.listdir("/proc/self/fd")),
                "NGoroutines": 0, "NEventsListener": 0, "Labels": [], "ExperimentalBuild": False,
                "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": False,
                          "Error": "", "RemoteManagers": None},
                "Warnings": None, "Isolation": "", "InitBinary": "catatonit", "ProductLicense": "",
                "DriverStatus": [["Backing Filesystem", "overlayfs"]], "HttpProxy": "", "HttpsProxy": "",
                "NoProxy": "", "ContainerdCommit": {"ID": ""}, "RuncCommit": {"ID": ""}, "InitCommit": {"ID": ""},
                "CDISpecDirs": []})
    return doc


def _now() -> str:
    import datetime
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


async def info(request: web.Request) -> web.Response:
    return reply(await backend(request).call(_info))


def _df(engine) -> dict:
    from berth.api.containers import summary
    from berth.api.images import image_summary
    usage = engine.system.df()
    images = []
    for row in usage["images"]:
        doc = image_summary(row["image"])
        doc.update(SharedSize=row["shared_size"], Containers=row["containers"])
        images.append(doc)
    containers = []
    for row in usage["containers"]:
        doc = summary(engine, row["container"])
        doc["SizeRw"] = row["size"]
        containers.append(doc)
    volumes = [dict(v["volume"], UsageData={"Size": v["size"], "RefCount": v["links"]}) for v in usage["volumes"]]
    return {"LayersSize": usage["total"], "Images": images, "Containers": containers, "Volumes": volumes,
            "BuildCache": []}


async def df(request: web.Request) -> web.Response:
    return reply(await backend(request).call(_df))


async def events(request: web.Request) -> web.StreamResponse:
    """docker's event messages, one JSON object a line: those logged between `since` and `until` (Unix
    seconds with a fraction, or RFC 3339), then new ones until `until` or the client goes."""
    import json
    import time
    from berth.timefmt import parse_bound
    now = time.time_ns()
    since, until = ((parse_bound(key, request.query[key], now) if request.query.get(key) else None)
                    for key in ("since", "until"))
    given, response = filters(request), None
    # the first item comes once the filters are checked: a bad one is a 400, not a broken stream
    from berth.api.bridge import generated
    async with aclosing(generated(request, lambda e: e.events.stream(since, until, given))) as items:
        async for doc in items:
            if response is None:
                response = await start_stream(request, "application/json")
            if doc is None:  # caught up: end here if the client has gone
                if request.transport is None or request.transport.is_closing():
                    return response
                continue
            try:
                await response.write(json.dumps(doc).encode() + b"\n")
            except ConnectionResetError:
                return response
    if response is None:
        response = await start_stream(request, "application/json")
    await response.write_eof()
    return response


def add_routes(router) -> None:
    route(router, "GET", "/_ping", ping)
    route(router, "HEAD", "/_ping", ping)
    route(router, "GET", "/version", version)
    route(router, "GET", "/info", info)
    route(router, "GET", "/system/df", df)
    route(router, "GET", "/events", events)
