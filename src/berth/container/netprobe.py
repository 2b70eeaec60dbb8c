"""The network probes of a health check (health.HttpGet, health.TcpSocket), made as kubelet makes
Kubernetes' httpGet and tcpSocket probes: from the container's network namespace (netns) to the
container's address, a status 200-399 passing an HTTP GET (redirects not followed; https without
certificate verification), an accepted connection passing a TCP probe.

The checker makes them itself, in its own process: no exec in the container, so they work in
images with no shell or tools. The namespace is entered for the probe only (setns on the
container's /proc/PID/ns/net, through libc: Python 3.11 has no os.setns) and left at once, so that
what the checker starts afterwards (the runtime, a restart's network set-up) runs in the host's.

The probe's Timeout bounds the whole probe (connection, TLS handshake, request and response), as
a deadline on a timer signal: a socket timeout bounds each read only, and a server that answers a
byte at a time would hold a probe far longer.
"""
from __future__ import annotations

import os
import signal
import socket
from contextlib import contextmanager

from berth import libc
from berth.container.health import HttpGet, TcpSocket

CLONE_NEWNET = 0x40000000
USER_AGENT = "kube-probe/berth"  # kubelet's is kube-probe/MAJOR.MINOR; servers tell probes by it
PASSED, FAILED, TIMED_OUT = 0, 1, -1  # exit codes recorded in the Log, as an exec probe's


class _Expired(Exception):
    pass


def run(probe: HttpGet | TcpSocket, netns: int, address: str, timeout: float, timeout_text: str) -> tuple[int, str]:
    """Make the probe in the network namespace open as `netns` to `address`: (exit code, output)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        libc.setns(netns, CLONE_NEWNET)
        try:
            with _deadline(timeout):
                return _tcp(probe, address, timeout) if isinstance(probe, TcpSocket) else _http(probe, address, timeout)
        except _Expired:
            return TIMED_OUT, f"Health check exceeded timeout ({timeout_text})"
        finally:
            libc.setns(home, CLONE_NEWNET)
    finally:
        os.close(home)


def _tcp(probe: TcpSocket, address: str, timeout: float) -> tuple[int, str]:
    where = _host_port(address, probe.port)
    try:
        with socket.create_connection((address, probe.port), timeout=timeout):
            return PASSED, f"TCP probe: connected to {where}"
    except OSError as e:
        return FAILED, f"TCP probe failed: {where}: {_reason(e)}"


def _http(probe: HttpGet, address: str, timeout: float) -> tuple[int, str]:
    import http.client
    url = f"{probe.scheme}://{_host_port(address, probe.port)}{probe.path}"
    if probe.scheme == "https":
        import ssl
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # as kubelet: not verified
        conn = http.client.HTTPSConnection(address, probe.port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(address, probe.port, timeout=timeout)
    given = {name.lower() for name, _ in probe.headers}
    try:
        conn.putrequest("GET", probe.path, skip_host="host" in given, skip_accept_encoding=True)
        for name, value in (("User-Agent", USER_AGENT), ("Accept", "*/*")):
            if name.lower() not in given:
                conn.putheader(name, value)
        for name, value in probe.headers:
            conn.putheader(name, value)
        conn.putheader("Connection", "close")
        conn.endheaders()
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException) as e:
        return FAILED, f"HTTP probe failed: GET {url}: {_reason(e)}"
    finally:
        conn.close()
    return (PASSED if 200 <= status < 400 else FAILED), f"HTTP probe: status {status}"


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _reason(e: Exception) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__


@contextmanager
def _deadline(seconds: float):
    """Raise _Expired in the block once `seconds` passed (the checker's main thread only)."""
    def expire(signum, frame):
        raise _Expired
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
