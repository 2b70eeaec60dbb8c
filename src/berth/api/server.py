"""`berth system service`: the Docker Engine API on a unix socket (or a socket systemd passes in).

The socket is the engine's front door and access to it is root on the host, as docker's: mode
0660 with group `berth` when that group exists, else 0600 (root only). No TCP: a TCP listener
would need TLS with client certificates, which this server does not offer yet."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import time

from aiohttp import web

from berth.errors import BerthError, InvalidArgument

DEFAULT_SOCKET = "unix:///run/berth/docker.sock"
SD_LISTEN_FDS_START = 3


def socket_path(uri: str) -> str:
    if uri.startswith("unix://"):
        path = uri[len("unix://"):]
    elif uri.startswith("/"):
        path = uri
    elif uri.startswith(("tcp://", "http://", "https://")):
        raise InvalidArgument(f"{uri}: TCP is not offered (it would need TLS with client certificates); "
                              "use a unix socket")
    else:
        raise InvalidArgument(f"invalid socket {uri!r}: use unix:///path/to/docker.sock")
    if not path.startswith("/"):
        raise InvalidArgument(f"invalid socket {uri!r}: the path must be absolute")
    return path


def _activated() -> socket.socket | None:
    """The listening socket systemd passed (LISTEN_FDS), if it is meant for this process."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or int(os.environ.get("LISTEN_FDS") or 0) < 1:
        return None
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    return socket.socket(fileno=SD_LISTEN_FDS_START)


def _listen(path: str) -> socket.socket:
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    if os.path.exists(path):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            os.unlink(path)  # left by a server that is gone
        except OSError as e:
            raise BerthError(f"{path}: {e.strerror}") from None
        else:
            raise BerthError(f"{path} is in use by a running server")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # nobody else may connect between bind and chmod
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    try:
        import grp
        os.chown(path, 0, grp.getgrnam("berth").gr_gid)
        os.chmod(path, 0o660)
    except KeyError:
        pass  # no berth group: root only
    sock.listen(512)
    return sock


async def _serve(root: str, sock: socket.socket, idle_timeout: float, on_ready, path: str | None) -> None:
    from berth.api.app import make_app
    app = make_app(root)
    activity = {"open": 0, "last": time.monotonic()}

    @web.middleware
    async def track(request, handler):
        activity["open"] += 1
        try:
            return await handler(request)
        finally:
            activity["open"] -= 1
            activity["last"] = time.monotonic()
    app.middlewares.insert(0, track)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    on_ready()
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except asyncio.TimeoutError:
                pass
            if idle_timeout and not activity["open"] and time.monotonic() - activity["last"] > idle_timeout:
                break
    finally:
        # the path goes while the socket still listens: until then a successor finds it in use and
        # leaves it, so what is removed here is ours
        if path:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        await runner.cleanup()


def serve(root: str, uri: str = DEFAULT_SOCKET, idle_timeout: float = 0, on_ready=lambda where: None) -> None:
    """Serve until SIGTERM/SIGINT, or `idle_timeout` seconds without a request (0: never).
    Containers keep running when the server stops: their monitors hold them."""
    sock = _activated()
    path = None
    if sock is None:
        path = socket_path(uri)
        sock = _listen(path)
    try:
        asyncio.run(_serve(root, sock, idle_timeout, lambda: on_ready(f"unix://{path}" if path else "fd://3"), path))
    finally:
        sock.close()
