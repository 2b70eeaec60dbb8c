"""`berth registry serve`: run a private OCI registry."""
from __future__ import annotations

import os
import re

from berth.cli.cmdline import Group, echo, option
from berth.errors import BerthError

registry = Group("registry", "Run a private image registry.")

_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip().lower())
    if not match:
        raise BerthError(f"invalid duration {text!r}: use a number with s, m, h or d (e.g. 168h)")
    return float(match[1]) * _SECONDS[match[2] or "s"]


def parse_addr(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise BerthError(f"invalid address {text!r}: use HOST:PORT (e.g. 127.0.0.1:5000 or :5000)")
    return host.strip("[]"), int(port)


def _ready(url: str) -> None:
    echo(f"listening on {url}")  # whoever started us waits for this line


@registry.command("serve")
@option("--addr", default="127.0.0.1:5000", help="Address to listen on (HOST:PORT; port 0 picks a free one).")
@option("--storage", help="Directory for the registry's data (default: <root>/registry).")
@option("--htpasswd", help="Require HTTP Basic auth against this htpasswd file (bcrypt entries).")
@option("--tls-cert", help="TLS certificate (PEM); needs --tls-key.")
@option("--tls-key", help="TLS private key (PEM).")
@option("--read-only", is_flag=True, help="Refuse pushes and deletes.")
@option("--max-upload-size", help="Largest blob accepted (bytes, or with k/m/g).")
@option("--purge-uploads-after", default="168h",
        help="At start-up, remove unfinished uploads idle for this long (s/m/h/d).")
def serve_cmd(engine, addr, storage, htpasswd, tls_cert, tls_key, read_only, max_upload_size, purge_uploads_after):
    """Serve images over the OCI distribution API (docker, podman, skopeo can push and pull)."""
    host, port = parse_addr(addr)
    from berth.container.options import parse_size
    limit = parse_size(max_upload_size, "--max-upload-size") if max_upload_size else None
    purge_after = parse_duration(purge_uploads_after)
    if bool(tls_cert) != bool(tls_key):
        raise BerthError("--tls-cert and --tls-key go together")

    import asyncio  # lazily: aiohttp and friends cost every other berth command start-up time

    from berth.registry.server.app import run
    from berth.registry.server.auth import AuthenticatedOnly, HtpasswdAuthenticator
    from berth.registry.server.context import Registry, Settings
    from berth.registry.server.filesystem import FilesystemStorage

    ssl_context = None
    if tls_cert:
        import ssl
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ssl_context.load_cert_chain(tls_cert, tls_key)
        except (OSError, ssl.SSLError) as e:
            raise BerthError(f"cannot load TLS certificate {tls_cert} / key {tls_key}: {e}") from None
    store = FilesystemStorage(storage or os.path.join(engine.root, "registry"))
    purged = store.purge_uploads(purge_after)
    if purged:
        echo(f"removed {purged} stale upload(s)", err=True)
    kw = {}
    if htpasswd:
        kw = {"authenticator": HtpasswdAuthenticator(htpasswd), "authorizer": AuthenticatedOnly()}
    reg = Registry(store, Settings(read_only=read_only, max_upload_size=limit), **kw)
    try:
        asyncio.run(run(reg, host, port, ssl_context, on_ready=_ready))
    except OSError as e:
        raise BerthError(f"cannot listen on {addr}: {e.strerror or e}") from None
