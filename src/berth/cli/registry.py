"""`berth registry serve`: run a private OCI registry."""
from __future__ import annotations

import os
import re

from berth.cli.cmdline import Group, echo, option
from berth.errors import BerthError
from berth.registry.server import config as serve_config
from berth.registry.server.config import NotGiven

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


def _check_auth_flags(auth, htpasswd, token_policy):
    """The auth mode to use, after refusing flag combinations that cannot work."""
    auth = auth or ("basic" if htpasswd else None)
    if auth == "basic" and not htpasswd:
        raise BerthError("--auth basic needs --htpasswd FILE")
    if auth == "token" and not token_policy:
        raise BerthError("--auth token needs --token-policy FILE (JSON: user -> repository pattern -> actions)")
    if token_policy and auth != "token":
        raise BerthError("--token-policy is only used with --auth token")
    return auth


def _token_auth(storage_dir, htpasswd, policy_path, issuer, ttl, realm) -> dict:
    from berth.registry.server.auth import HtpasswdAuthenticator
    from berth.registry.server.policy import Policy
    from berth.registry.server.token import TokenAuthenticator, TokenAuthorizer, TokenService, load_secret
    if ttl <= 0:
        raise BerthError("--token-ttl must be positive")
    service = TokenService(load_secret(storage_dir), Policy.load(policy_path),
                           HtpasswdAuthenticator(htpasswd) if htpasswd else None, issuer=issuer, ttl=ttl,
                           realm=realm)
    return {"authenticator": TokenAuthenticator(service), "authorizer": TokenAuthorizer(service),
            "token_service": service}


# Each setting's flag defaults to a NotGiven so that --config can tell a flag left off from one set to
# its default; the defaults live in registry/server/config.py.
@registry.command("serve")
@option("--config", metavar="FILE",
        help="JSON object of settings named as the flags (addr, read_only, ...); flags given override it.")
@option("--addr", default=NotGiven("addr"), help="Address to listen on (HOST:PORT; port 0 picks a free one).")
@option("--storage", default=NotGiven("storage"), help="Directory for the registry's data (default: <root>/registry).")
@option("--htpasswd", default=NotGiven("htpasswd"),
        help="Require HTTP Basic auth against this htpasswd file (bcrypt entries); with "
        "--auth token, the users the token service knows.")
@option("--auth", default=NotGiven("auth"), choices=("basic", "token"),
        help="basic: HTTP Basic against --htpasswd (the default when it is given). token: docker's bearer-token "
             "flow with a built-in token service at /token and per-repository permissions from --token-policy.")
@option("--token-policy", default=NotGiven("token_policy"), metavar="FILE",
        help='JSON permissions for --auth token: {"USER": {"REPO-GLOB": ["pull", "push", "delete" or "*"]}}; '
             'user "anonymous" is a client without credentials, "*" any logged-in user; the keys '
             '"registry:metrics" and "registry:catalog" (with ["*"]) grant /metrics with the UI front page, '
             'and the catalog.')
@option("--token-issuer", default=NotGiven("token_issuer"), help="The tokens' issuer (iss claim).")
@option("--token-ttl", default=NotGiven("token_ttl"), help="How long a token stays valid (s/m/h/d).")
@option("--token-realm", default=NotGiven("token_realm"), metavar="URL",
        help="The token service's URL sent in challenges (e.g. https://registry.example.com/token); "
             "default: /token on the host the client named, if that is a plain host[:port].")
@option("--tls-cert", default=NotGiven("tls_cert"), help="TLS certificate (PEM); needs --tls-key.")
@option("--tls-key", default=NotGiven("tls_key"), help="TLS private key (PEM).")
@option("--read-only", is_flag=True, default=NotGiven("read_only"), help="Refuse pushes and deletes.")
@option("--max-upload-size", default=NotGiven("max_upload_size"),
        help="Largest blob accepted (bytes, or with k/m/g; 0: no limit).")
@option("--max-open-uploads", type=int, default=NotGiven("max_open_uploads"),
        help="Unfinished uploads a repository may have at once; more are refused (429) until some finish.")
@option("--header-timeout", default=NotGiven("header_timeout"),
        help="Time a client has to send a request's headers (s/m/h/d).")
@option("--idle-timeout", default=NotGiven("idle_timeout"),
        help="Close a kept-alive connection idle for this long (s/m/h/d).")
@option("--body-timeout", default=NotGiven("body_timeout"),
        help="Abort a request whose body stops arriving for this long (s/m/h/d).")
@option("--max-connections", type=int, default=NotGiven("max_connections"),
        help="Connections served at once; more wait to be accepted (default: what the open-file limit allows, "
             "at most 1024).")
@option("--purge-uploads-after", default=NotGiven("purge_uploads_after"),
        help="Remove unfinished uploads idle for this long (s/m/h/d), at start-up and while serving.")
@option("--no-ui", is_flag=True, default=NotGiven("ui"), help="Do not serve the web UI at /.")
@option("--no-metrics", is_flag=True, default=NotGiven("metrics"), help="Do not serve Prometheus metrics at /metrics.")
def serve_cmd(engine, config, addr, storage, htpasswd, auth, token_policy, token_issuer, token_ttl, token_realm,
              tls_cert, tls_key, read_only, max_upload_size, max_open_uploads, header_timeout, idle_timeout,
              body_timeout, max_connections, purge_uploads_after, no_ui, no_metrics):
    """Serve images over the OCI distribution API (docker, podman, skopeo can push and pull), with a
    web UI at / and Prometheus metrics at /metrics."""
    settings = serve_config.merge(dict(
        addr=addr, storage=storage, htpasswd=htpasswd, auth=auth, token_policy=token_policy,
        token_issuer=token_issuer, token_ttl=token_ttl, token_realm=token_realm, tls_cert=tls_cert, tls_key=tls_key,
        read_only=read_only, max_upload_size=max_upload_size, purge_uploads_after=purge_uploads_after,
        max_open_uploads=max_open_uploads, header_timeout=header_timeout, idle_timeout=idle_timeout,
        body_timeout=body_timeout, max_connections=max_connections,
        ui=no_ui if isinstance(no_ui, NotGiven) else not no_ui,
        metrics=no_metrics if isinstance(no_metrics, NotGiven) else not no_metrics), config)
    addr, storage, htpasswd, auth = settings["addr"], settings["storage"], settings["htpasswd"], settings["auth"]
    token_policy, token_issuer = settings["token_policy"], settings["token_issuer"]
    token_realm = settings["token_realm"]
    token_ttl = str(settings["token_ttl"])
    tls_cert, tls_key, read_only = settings["tls_cert"], settings["tls_key"], settings["read_only"]
    max_upload_size = str(settings["max_upload_size"]) if settings["max_upload_size"] is not None else None
    purge_uploads_after = str(settings["purge_uploads_after"])
    host, port = parse_addr(addr)
    from berth.container.options import parse_size
    limit = parse_size(max_upload_size, "--max-upload-size") if max_upload_size else None
    purge_after = parse_duration(purge_uploads_after)
    timeouts = {}
    for key in ("header_timeout", "idle_timeout", "body_timeout"):
        timeouts[key] = parse_duration(str(settings[key]))
        if timeouts[key] <= 0:
            raise BerthError(f"--{key.replace('_', '-')} must be positive")
    for key in ("max_connections", "max_open_uploads"):
        if settings[key] is not None and settings[key] < 1:
            raise BerthError(f"--{key.replace('_', '-')} must be at least 1")
    if bool(tls_cert) != bool(tls_key):
        raise BerthError("--tls-cert and --tls-key go together")
    auth = _check_auth_flags(auth, htpasswd, token_policy)
    if token_realm and auth != "token":
        raise BerthError("--token-realm is only used with --auth token")
    token_lifetime = parse_duration(token_ttl)

    import asyncio  # lazily: aiohttp and friends cost every other berth command start-up time

    from berth.registry.server.app import run
    from berth.registry.server.auth import AuthenticatedOnly, HtpasswdAuthenticator
    from berth.registry.server.connections import Limits
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
    if auth == "basic":
        kw = {"authenticator": HtpasswdAuthenticator(htpasswd), "authorizer": AuthenticatedOnly()}
    elif auth == "token":
        kw = _token_auth(store.root, htpasswd, token_policy, token_issuer, token_lifetime, token_realm)
    limits = Limits(max_connections=settings["max_connections"], **timeouts)
    reg = Registry(store, Settings(read_only=read_only, max_upload_size=limit or None, ui=settings["ui"],
                                   metrics=settings["metrics"], purge_uploads_after=purge_after,
                                   max_open_uploads=settings["max_open_uploads"], limits=limits), **kw)
    try:
        asyncio.run(run(reg, host, port, ssl_context, on_ready=_ready))
    except OSError as e:
        raise BerthError(f"cannot listen on {addr}: {e.strerror or e}") from None


@registry.command("gc")
@option("--storage", help="Directory of the registry's data (default: <root>/registry).")
@option("--dry-run", is_flag=True, help="Only print what would be deleted.")
@option("--delete-untagged", is_flag=True,
        help="Also remove manifests no tag reaches (keeping a tagged index's children and the referrers, "
             "such as signatures, of kept manifests), and then their blobs.")
@option("--grace", default="1h", help="Never delete a blob or untagged manifest written more recently (s/m/h/d).")
def gc_cmd(engine, storage, dry_run, delete_untagged, grace):
    """Delete blobs no manifest references. Safe while `berth registry serve` runs on the same storage."""
    grace_seconds = parse_duration(grace)
    root = storage or os.path.join(engine.root, "registry")
    if not os.path.isdir(os.path.join(root, "blobs")):
        raise BerthError(f"no registry storage at {root}")
    from berth.registry.server.filesystem import FilesystemStorage
    from berth.registry.server.gc import collect
    result = collect(FilesystemStorage(root), grace=grace_seconds, delete_untagged=delete_untagged,
                     dry_run=dry_run, report=echo)
    echo(result.summary(dry_run))
