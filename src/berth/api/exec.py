"""Exec routes: create an exec instance, start it on a hijacked connection, inspect, resize.

As dockerd, exec instances live in the server's memory: an ID names a command until it has run
(and its exit code has been read) or the server stops."""
from __future__ import annotations

import asyncio
import fcntl
import os
import struct
import termios
import time

from aiohttp import web

from berth.api.app import BadRequest, backend, body, integer, no_content, reply, route
from berth.api.streams import frame, hijack
from berth.errors import NotFound


KEPT_AFTER_END = 600.0  # seconds an ended exec stays inspectable (its exit code)


class ExecInstance:
    def __init__(self, container_id: str, doc: dict):
        self.id = os.urandom(32).hex()
        self.container_id, self.doc = container_id, doc
        self.running, self.exit_code, self.pid = False, None, 0
        self.ended_at = 0.0
        self.pty_master: int | None = None
        self.size: tuple[int, int] | None = None
        self.backend = None  # the server's, from the start on: the end is logged through it


def _instance(request: web.Request) -> ExecInstance:
    found = request.app["execs"].get(request.match_info["id"])
    if found is None:
        raise NotFound(f"No such exec instance: {request.match_info['id']}")
    return found


async def create(request: web.Request) -> web.Response:
    cid, doc = request.match_info["id"], await body(request)
    command = doc.get("Cmd")
    if isinstance(command, str):
        command = [command]
    if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
        raise BadRequest("No exec command specified")
    c = await backend(request).call(lambda e: e.containers.get(cid))
    if c.status != "running":
        from berth.errors import Conflict
        raise Conflict(f"Container {c.id} is not running")
    instance = ExecInstance(c.id, doc)
    execs = request.app["execs"]
    now = time.monotonic()
    for old in [i for i in execs.values() if i.ended_at and now - i.ended_at > KEPT_AFTER_END]:
        del execs[old.id]
    execs[instance.id] = instance
    return reply({"Id": instance.id}, 201)


async def start(request: web.Request) -> web.StreamResponse:
    instance = _instance(request)
    options = await body(request)
    if instance.running or instance.exit_code is not None:
        from berth.errors import Conflict
        raise Conflict(f"exec {instance.id} has already run")
    doc = instance.doc
    tty = bool(options.get("Tty", doc.get("Tty")))
    detach = bool(options.get("Detach"))
    command = [doc["Cmd"]] if isinstance(doc["Cmd"], str) else doc["Cmd"]
    env = [e for e in doc.get("Env") or [] if isinstance(e, str)]
    instance.backend = backend(request)
    prepared = await instance.backend.call(lambda e: e.containers.exec_command(
        instance.container_id, command, tty=tty, user=doc.get("User") or None,
        workdir=doc.get("WorkingDir") or None, env=env, exec_id=instance.id))
    if detach:
        process = await asyncio.create_subprocess_exec(*prepared.args, stdin=asyncio.subprocess.DEVNULL,
                                                       stdout=asyncio.subprocess.DEVNULL,
                                                       stderr=asyncio.subprocess.DEVNULL)
        instance.running, instance.pid = True, process.pid
        asyncio.ensure_future(_reap(instance, process, prepared))
        return no_content(200)
    response, incoming = await hijack(request, tty)
    want_stdin = bool(doc.get("AttachStdin")) and incoming is not None
    if tty:
        await _run_with_pty(instance, prepared, response, incoming if want_stdin else None)
    else:
        await _run_with_pipes(instance, prepared, response, incoming if want_stdin else None,
                              bool(doc.get("AttachStdout", True)), bool(doc.get("AttachStderr", True)))
    return response


async def _reap(instance: ExecInstance, process, prepared) -> None:
    code = await process.wait()
    await _finish(instance, prepared, code)


async def _finish(instance: ExecInstance, prepared, code: int) -> None:
    """The exit code as docker reports it, logged as the exec's exec_die (a store write: on a worker)."""
    try:
        instance.exit_code = await instance.backend.call(lambda e: e.containers.exec_finished(prepared, code))
    except Exception:  # noqa: BLE001 — the server is stopping (its threads are gone), or the log failed
        instance.exit_code = prepared.finish(code)
    instance.running, instance.ended_at = False, time.monotonic()


async def _run_with_pipes(instance, prepared, response, incoming, want_out: bool, want_err: bool) -> None:
    sub = asyncio.subprocess
    process = await asyncio.create_subprocess_exec(*prepared.args, stdin=sub.PIPE if incoming else sub.DEVNULL,
                                                   stdout=sub.PIPE, stderr=sub.PIPE)
    instance.running, instance.pid = True, process.pid

    async def copy_out(reader, stream: str, wanted: bool):
        while chunk := await reader.read(65536):
            if wanted:
                await response.write(frame(stream, chunk))

    async def copy_in():
        while data := await incoming.read():
            process.stdin.write(data)
            await process.stdin.drain()
        process.stdin.close()
    feeder = asyncio.ensure_future(copy_in()) if incoming else None
    try:
        await asyncio.gather(copy_out(process.stdout, "stdout", want_out), copy_out(process.stderr, "stderr", want_err))
    except (ConnectionResetError, BrokenPipeError):
        process.kill()
    finally:
        if feeder:
            feeder.cancel()
        code = await process.wait()
        await _finish(instance, prepared, code)
        await _end(response)


async def _run_with_pty(instance, prepared, response, incoming) -> None:
    """runc exec --tty on a pty of ours: runc relays between it and the container's console, and a
    size set on our side reaches the container (runc follows SIGWINCH of its terminal)."""
    master, slave = os.openpty()
    if instance.size:
        _set_size(master, *instance.size)

    def own_terminal():  # runc leads a session whose controlling terminal is the pty
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    process = await asyncio.create_subprocess_exec(*prepared.args, stdin=slave, stdout=slave, stderr=slave,
                                                   preexec_fn=own_terminal)
    os.close(slave)
    instance.running, instance.pid, instance.pty_master = True, process.pid, master
    loop = asyncio.get_running_loop()
    output: asyncio.Queue = asyncio.Queue()

    def readable():
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every holder of the slave has closed it
            data = b""
        if not data:
            loop.remove_reader(master)
        output.put_nowait(data)
    loop.add_reader(master, readable)

    async def copy_in():
        while data := await incoming.read():
            await loop.run_in_executor(None, os.write, master, data)
    feeder = asyncio.ensure_future(copy_in()) if incoming else None
    try:
        while data := await output.get():
            await response.write(data)
    except (ConnectionResetError, BrokenPipeError):
        process.kill()
    finally:
        loop.remove_reader(master)
        if feeder:
            feeder.cancel()
        code = await process.wait()
        instance.pty_master = None
        os.close(master)
        await _finish(instance, prepared, code)
        await _end(response)


async def _end(response) -> None:
    try:
        await response.write_eof()
    except (ConnectionResetError, OSError):
        pass


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


async def resize(request: web.Request) -> web.Response:
    instance = _instance(request)
    rows, cols = integer(request, "h", 0), integer(request, "w", 0)
    instance.size = (rows, cols)
    if instance.pty_master is not None:
        _set_size(instance.pty_master, rows, cols)
    return no_content(201)


async def inspect(request: web.Request) -> web.Response:
    instance = _instance(request)
    doc = instance.doc
    command = [doc["Cmd"]] if isinstance(doc["Cmd"], str) else doc["Cmd"]
    return reply({"ID": instance.id, "ContainerID": instance.container_id, "Running": instance.running,
                  "ExitCode": instance.exit_code, "Pid": instance.pid, "OpenStdin": bool(doc.get("AttachStdin")),
                  "OpenStdout": bool(doc.get("AttachStdout", True)), "OpenStderr": bool(doc.get("AttachStderr", True)),
                  "CanRemove": False, "DetachKeys": "",
                  "ProcessConfig": {"tty": bool(doc.get("Tty")), "entrypoint": command[0], "arguments": command[1:],
                                    "privileged": bool(doc.get("Privileged")), "user": doc.get("User") or ""}})


def add_routes(router) -> None:
    route(router, "POST", "/containers/{id}/exec", create)
    route(router, "POST", "/exec/{id}/start", start)
    route(router, "POST", "/exec/{id}/resize", resize)
    route(router, "GET", "/exec/{id}/json", inspect)
