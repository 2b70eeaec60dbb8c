"""Refusing cross-site requests that change state.

A browser sends the credentials it holds for the registry (Basic auth typed for the web UI) with
any request a page on another site makes, and a form or a `text/plain` fetch POST needs no CORS
preflight: without this check such a page can push blobs or mount them. So a POST, PUT, PATCH or
DELETE is refused (403 DENIED) when the browser says it comes from elsewhere:

- an `Origin` header whose host and port differ from the request's `Host` (a missing port is the
  default one of the Origin's scheme, so a TLS-terminating proxy in front changes nothing), or
  the opaque `null` Origin of sandboxed pages and cross-site redirects;
- `Sec-Fetch-Site: cross-site` or `same-site` (another port or subdomain of the same site).

Clients that are not browsers (docker, podman, skopeo, containerd, curl) send neither header and
are unaffected; reads (GET, HEAD) are never refused, as the browser does not let the page read
the response.
"""
from __future__ import annotations

from yarl import URL

from berth.registry.server.errors import RegistryError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FOREIGN_FETCH_SITES = frozenset({"cross-site", "same-site"})


def _host_and_port(url: URL) -> tuple[str, int | None]:
    return (url.raw_host or "").lower().rstrip("."), url.port


def is_same_origin(origin: str, host: str | None) -> bool:
    """Whether the `Origin` header names the server the request was sent to (its `Host`)."""
    if not host:
        return False
    try:
        source = URL(origin.strip())
        if source.scheme not in ("http", "https") or not source.raw_host or source.path not in ("", "/"):
            return False
        target = URL.build(scheme=source.scheme, authority=host.strip())
    except (ValueError, TypeError):
        return False
    return _host_and_port(source) == _host_and_port(target)


def refusal(method: str, headers, host: str | None) -> RegistryError | None:
    """The error for a state-changing request a browser sent from another site, else None."""
    if method in SAFE_METHODS:
        return None
    fetch_site = headers.get("Sec-Fetch-Site", "").strip().lower()
    if fetch_site in _FOREIGN_FETCH_SITES:
        return RegistryError("DENIED", f"cross-site {method} refused (Sec-Fetch-Site: {fetch_site})")
    origin = headers.get("Origin")
    if origin is not None and not is_same_origin(origin, host):
        return RegistryError("DENIED", f"cross-origin {method} refused: Origin {origin[:200]!r} is not "
                                       f"this registry ({(host or '')[:200]!r})")
    return None
