"""Container routes: create, start, stop, kill, restart, pause, wait, remove, list, inspect, logs,
attach, top, stats, changes, export, rename, prune."""
from __future__ import annotations

import asyncio
import json
import os
import time
from contextlib import aclosing

from aiohttp import web

from berth.api.app import (BadRequest, backend, body, filters, flag, integer, no_content, reply, route,
                           start_stream)
from berth.api.bridge import generated
from berth.api.streams import content_type, frame, hijack
from berth.errors import Conflict


def summary(engine, c) -> dict:
    return engine.containers.summaries_of([c])[0]


async def create(request: web.Request) -> web.Response:
    from berth.container.apibody import from_body
    spec = from_body(await body(request), request.query.get("name"))
    c = await backend(request).call(lambda e: e.containers.create(spec))
    return reply({"Id": c.id, "Warnings": []}, 201)


async def list_(request: web.Request) -> web.Response:
    show_all, limit, given = flag(request, "all"), integer(request, "limit", -1), filters(request)
    docs = await backend(request).call(lambda e: e.containers.summaries(show_all or limit > 0, given))
    return reply(docs[:limit] if limit > 0 else docs)


async def inspect(request: web.Request) -> web.Response:
    cid = request.match_info["id"]
    return reply(await backend(request).call(lambda e: e.containers.inspect(cid)))


def _start(engine, cid: str, waiters: dict):
    """Start, and hand the attach socket to a client that attached before the start (docker's `run`
    attaches, then starts); None when it was running already."""
    c = engine.containers.get(cid)
    if c.status in ("running", "paused"):
        return None
    pending = waiters.get(c.id)
    if not pending:
        return engine.containers.start(c.id), None
    c, sock = engine.containers.start(c.id, attach=True)
    return c, sock


async def start(request: web.Request) -> web.Response:
    cid = request.match_info["id"]
    waiters = request.app["attach_waiters"]
    started = await backend(request).call(_start, cid, waiters)
    if started is None:
        return no_content(304)
    c, sock = started
    if sock is not None:
        futures = waiters.pop(c.id, [])
        live = [f for f in futures if not f.done()]
        if live:
            live[0].set_result(sock)
            for f in live[1:]:  # each further client gets its own connection to the monitor
                f.set_result(await backend(request).call(lambda e: e.containers.attach(c.id).sock))
        else:
            sock.close()
    return no_content()


async def stop(request: web.Request) -> web.Response:
    cid, timeout, signal = request.match_info["id"], integer(request, "t"), request.query.get("signal") or None

    def run(engine):
        if engine.containers.get(cid).status not in ("running", "paused", "restarting"):
            return False
        engine.containers.stop(cid, timeout, signal)
        return True
    return no_content(204 if await backend(request).call(run) else 304)


async def restart(request: web.Request) -> web.Response:
    cid, timeout = request.match_info["id"], integer(request, "t")
    await backend(request).call(lambda e: e.containers.restart(cid, timeout))
    return no_content()


async def kill(request: web.Request) -> web.Response:
    cid, signal = request.match_info["id"], request.query.get("signal") or "KILL"

    def run(engine):
        c = engine.containers.get(cid)
        if c.status not in ("running", "paused"):
            raise Conflict(f"Cannot kill container: {cid}: Container {c.id} is not running")
        engine.containers.kill(cid, signal)
    await backend(request).call(run)
    return no_content()


async def pause(request: web.Request) -> web.Response:
    cid = request.match_info["id"]
    await backend(request).call(lambda e: e.containers.pause(cid))
    return no_content()


async def unpause(request: web.Request) -> web.Response:
    cid = request.match_info["id"]
    await backend(request).call(lambda e: e.containers.unpause(cid))
    return no_content()


async def wait(request: web.Request) -> web.StreamResponse:
    """200 and the headers at once (the client knows its wait is in place before it starts the
    container), the exit code when the condition holds."""
    cid, condition = request.match_info["id"], request.query.get("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise BadRequest(f"invalid condition: {condition!r}")
    cid, mark = await backend(request).call(lambda e: e.containers.run_mark(cid))
    response = await start_stream(request, "application/json")
    code = await backend(request).call(lambda e: e.containers.wait_until(cid, condition, mark))
    await response.write(json.dumps({"StatusCode": code, "Error": None}).encode() + b"\n")
    await response.write_eof()
    return response


async def remove(request: web.Request) -> web.Response:
    cid, force, volumes = request.match_info["id"], flag(request, "force"), flag(request, "v")
    await backend(request).call(lambda e: e.containers.remove(cid, force=force, volumes=volumes))
    return no_content()


def _bound(request: web.Request, name: str) -> int | None:
    """since/until: Unix seconds, maybe with a fraction, as nanoseconds (0: no bound)."""
    value = request.query.get(name)
    if not value or value == "0":
        return None
    try:
        return int(float(value) * 1e9)
    except ValueError:
        raise BadRequest(f"invalid value for {name}: {value!r}") from None


async def logs(request: web.Request) -> web.StreamResponse:
    from berth.timefmt import docker_time
    cid = request.match_info["id"]
    want = {"stdout": flag(request, "stdout"), "stderr": flag(request, "stderr")}
    if not any(want.values()):
        raise BadRequest("you must choose at least one stream")
    tail_text = request.query.get("tail", "all")
    if tail_text != "all" and not tail_text.lstrip("-").isdigit():
        raise BadRequest(f"invalid tail value {tail_text!r}")
    tail = None if tail_text == "all" or int(tail_text) < 0 else int(tail_text)
    follow, timestamps = flag(request, "follow"), flag(request, "timestamps")
    since, until = _bound(request, "since"), _bound(request, "until")
    c = await backend(request).call(lambda e: e.containers.get(cid))
    tty = c.config["tty"]
    response = await start_stream(request, content_type(tty))
    line_start = {"stdout": True, "stderr": True}
    records = generated(request, lambda e: e.containers.logs(c.id, follow=follow, tail=tail, since=since,
                                                             until=until))
    async with aclosing(records):  # a client gone mid-follow stops the reader
        async for stream, ts, data in records:
            if not want.get(stream):
                continue
            if timestamps and line_start[stream]:
                data = docker_time(ts).encode() + b" " + data
            line_start[stream] = data.endswith(b"\n")
            await response.write(data if tty else frame(stream, data))
    await response.write_eof()
    return response


async def attach(request: web.Request) -> web.StreamResponse:
    """The container's stdio on a hijacked connection. Before the start, the client waits for the
    start to hand it the monitor's socket, so it misses no output."""
    cid = request.match_info["id"]
    c = await backend(request).call(lambda e: e.containers.get(cid))
    tty, want_stdin = c.config["tty"], flag(request, "stdin")
    want = {2: flag(request, "stdout"), 3: flag(request, "stderr")}
    response, incoming = await hijack(request, tty)
    if c.status == "running":
        sock = await backend(request).call(lambda e: e.containers.attach(c.id).sock)
    else:
        future = asyncio.get_running_loop().create_future()
        request.app["attach_waiters"].setdefault(c.id, []).append(future)
        try:
            sock = await future
        finally:
            waiting = request.app["attach_waiters"].get(c.id, [])
            if future in waiting:
                waiting.remove(future)
    await relay(sock, response, incoming if want_stdin else None, want, tty)
    return response


async def relay(sock, response: web.StreamResponse, incoming, want: dict, tty: bool) -> None:
    """Monitor socket (SOCK_SEQPACKET, one stream byte per packet) <-> the client, until the output ends."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    names = {2: "stdout", 3: "stderr"}

    async def feed():
        while True:
            data = await incoming.read()
            if not data:
                try:
                    sock.shutdown(1)  # SHUT_WR: the container's stdin ends
                except OSError:
                    pass
                return
            await loop.sock_sendall(sock, data)
    feeder = loop.create_task(feed()) if incoming is not None else None
    try:
        while True:
            packet = await loop.sock_recv(sock, 65536 + 1)
            if not packet:
                break
            kind, data = packet[0], packet[1:]
            if kind in names and want.get(kind) and data:
                await response.write(data if tty else frame(names[kind], data))
    except (ConnectionResetError, OSError):
        pass
    finally:
        if feeder:
            feeder.cancel()
        sock.close()
        try:
            await response.write_eof()
        except (ConnectionResetError, OSError):
            pass


async def resize(request: web.Request) -> web.Response:
    cid, rows, cols = request.match_info["id"], integer(request, "h", 0), integer(request, "w", 0)
    await backend(request).call(lambda e: e.containers.resize(cid, rows, cols))
    return no_content(200)


async def top(request: web.Request) -> web.Response:
    cid = request.match_info["id"]
    titles, rows = await backend(request).call(lambda e: e.containers.top(cid))
    return reply({"Titles": titles, "Processes": rows})


def _stats(engine, cid: str) -> dict:
    c = engine.containers.get(cid)
    s = engine.containers.stats(c.id)
    cpus = os.cpu_count() or 1
    system = 10 ** 9 * cpus  # the CPU time of the interval the sample took, scaled as docker computes %
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())
    return {"read": now, "preread": now, "id": c.id, "name": "/" + c.name, "num_procs": 0,
            "pids_stats": {"current": s["pids"]},
            "cpu_stats": {"cpu_usage": {"total_usage": int(s["cpu_percent"] / 100 * 10 ** 9), "percpu_usage": None,
                                        "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                          "system_cpu_usage": system, "online_cpus": cpus, "throttling_data": {}},
            "precpu_stats": {"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0, "online_cpus": cpus},
            "memory_stats": {"usage": s["memory"], "limit": s["memory_limit"], "stats": {}},
            "blkio_stats": {}, "networks": {}}


async def stats(request: web.Request) -> web.StreamResponse:
    cid = request.match_info["id"]
    stream = flag(request, "stream", True) and not flag(request, "one-shot")
    if not stream:
        return reply(await backend(request).call(_stats, cid))
    response = await start_stream(request, "application/json")
    try:
        while True:
            doc = await backend(request).call(_stats, cid)
            await response.write(json.dumps(doc).encode() + b"\n")
            await asyncio.sleep(0.8)  # one sample a second, as dockerd (the sample itself takes 0.2 s)
    except (ConnectionResetError, LookupError):
        pass
    return response


async def changes(request: web.Request) -> web.Response:
    cid = request.match_info["id"]
    kinds = {"C": 0, "A": 1, "D": 2}
    found = await backend(request).call(lambda e: e.files.diff(cid))
    return reply([{"Path": path, "Kind": kinds[kind]} for kind, path in found] or None)


async def export(request: web.Request) -> web.StreamResponse:
    from berth.api.bridge import write_file
    cid = request.match_info["id"]
    await backend(request).call(lambda e: e.containers.get(cid))  # unknown: a 404 before the body
    return await write_file(request, "application/x-tar", lambda e, out: e.files.export(cid, out))


async def update(request: web.Request) -> web.Response:
    """docker update: limits (Memory, MemorySwap, NanoCpus or CpuQuota/CpuPeriod, PidsLimit) and
    RestartPolicy; fields left out or zero stay as they are."""
    cid, doc = request.match_info["id"], await body(request)
    ints = {}
    for key in ("Memory", "MemorySwap", "NanoCpus", "CpuQuota", "CpuPeriod", "PidsLimit"):
        value = doc.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise BadRequest(f"invalid {key}: expected an integer")
        ints[key] = value or 0
    cpus = ints["NanoCpus"] / 1e9 if ints["NanoCpus"] else (
        ints["CpuQuota"] / (ints["CpuPeriod"] or 100000) if ints["CpuQuota"] > 0 else None)
    policy = doc.get("RestartPolicy") or {}
    if not isinstance(policy, dict):
        raise BadRequest("invalid RestartPolicy: expected an object")
    restart = None
    if policy.get("Name"):
        count = policy.get("MaximumRetryCount") or 0
        restart = f"{policy['Name']}:{count}" if policy["Name"] == "on-failure" and count else policy["Name"]
    await backend(request).call(lambda e: e.containers.update(
        cid, memory=ints["Memory"] or None, memory_swap=ints["MemorySwap"] or None, cpus=cpus,
        pids_limit=ints["PidsLimit"] if doc.get("PidsLimit") is not None else None, restart=restart))
    return reply({"Warnings": []})


async def rename(request: web.Request) -> web.Response:
    cid, name = request.match_info["id"], request.query.get("name", "")
    if not name:
        raise BadRequest("name is required")
    await backend(request).call(lambda e: e.containers.rename(cid, name))
    return no_content()


async def prune(request: web.Request) -> web.Response:
    removed = await backend(request).call(lambda e: e.containers.prune())
    return reply({"ContainersDeleted": removed or None, "SpaceReclaimed": 0})


def add_routes(router) -> None:
    route(router, "POST", "/containers/create", create)
    route(router, "GET", "/containers/json", list_)
    route(router, "POST", "/containers/prune", prune)
    route(router, "GET", "/containers/{id}/json", inspect)
    for name, handler in (("start", start), ("stop", stop), ("restart", restart), ("kill", kill), ("pause", pause),
                          ("unpause", unpause), ("wait", wait), ("attach", attach), ("resize", resize),
                          ("rename", rename), ("update", update)):
        route(router, "POST", f"/containers/{{id}}/{name}", handler)
    for name, handler in (("logs", logs), ("top", top), ("stats", stats), ("changes", changes), ("export", export)):
        route(router, "GET", f"/containers/{{id}}/{name}", handler)
    route(router, "DELETE", "/containers/{id}", remove)
