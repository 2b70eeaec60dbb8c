"""`berth registry serve`: run a private OCI registry."""
from __future__ import annotations

from berth.cli.cmdline import Group, echo, option
from berth.registry.server import config as serve_config
from berth.registry.server.config import NotGiven

registry = Group("registry", "Run a private image registry.")

def _ready(url: str) -> None:
    echo(f"listening on {url}")  # whoever started us waits for this line


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
    engine.registry_server.serve(serve_config.checked(settings), on_ready=_ready,
                                 say=lambda line: echo(line, err=True))


@registry.command("gc")
@option("--storage", help="Directory of the registry's data (default: <root>/registry).")
@option("--dry-run", is_flag=True, help="Only print what would be deleted.")
@option("--delete-untagged", is_flag=True,
        help="Also remove manifests no tag reaches (keeping a tagged index's children and the referrers, "
             "such as signatures, of kept manifests), and then their blobs.")
@option("--grace", default="1h", help="Never delete a blob or untagged manifest written more recently (s/m/h/d).")
def gc_cmd(engine, storage, dry_run, delete_untagged, grace):
    """Delete blobs no manifest references. Safe while `berth registry serve` runs on the same storage."""
    from berth.units import parse_duration
    result = engine.registry_server.gc(storage, parse_duration(grace, "--grace"), delete_untagged, dry_run, echo)
    echo(result.summary(dry_run))
