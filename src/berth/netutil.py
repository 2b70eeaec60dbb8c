"""What every HTTP client of berth's shares (the registry client, ADD <url>): its User-Agent, which
hosts are this machine's own, and a network failure in a few words."""
from __future__ import annotations

USER_AGENT = "berth/0.1"
_LOOPBACK = ("localhost", "127.", "[::1]", "::1")


def is_loopback(host: str) -> bool:
    return host.startswith(_LOOPBACK)


def error_reason(e: BaseException) -> str:
    import socket
    import ssl
    if isinstance(e, ssl.SSLError):
        return f"TLS error ({e.reason or e})"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, socket.gaierror):
        return "unknown host"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timed out"
    return str(e) or type(e).__name__
