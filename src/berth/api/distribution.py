"""Registries over the API: push (POST /images/{name}/push), credential checks (POST /auth), what a
registry holds under a name (GET /distribution/{name}/json), and image search, which berth does
not offer.

Credentials come with each request, as docker's client sends them: X-Registry-Auth is base64url
JSON {username, password, serveraddress}. They are used for that request only, never stored:
the client keeps them (docker login writes the client's config, not the daemon's).
"""
from __future__ import annotations

import base64
import binascii
import json

from aiohttp import web

from berth.api.app import BadRequest, backend, body, reply, route
from berth.api.bridge import json_lines
from berth.errors import RegistryClientError

AUTH_HEADER = "X-Registry-Auth"
_PUSH_STATUS = {"pushing": "Pushing", "pushed": "Pushed", "exists": "Layer already exists"}


def _credentials(doc: dict, where: str) -> tuple[str, str] | None:
    """(user, password) of docker's AuthConfig; None when it names no user (stored credentials, or
    none, are used then)."""
    user, password = doc.get("username") or "", doc.get("password") or ""
    if not user and doc.get("auth"):
        try:
            user, _, password = base64.b64decode(str(doc["auth"]), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest(f"invalid {where}: auth is not base64 of USER:PASSWORD") from None
    if not isinstance(user, str) or not isinstance(password, str):
        raise BadRequest(f"invalid {where}: username and password must be strings")
    if not user and doc.get("identitytoken"):
        raise BadRequest(f"invalid {where}: identity tokens are not supported; send username and password")
    return (user, password) if user else None


def registry_credentials(request: web.Request) -> tuple[str, str] | None:
    """The X-Registry-Auth header's credentials, or None without one."""
    header = request.headers.get(AUTH_HEADER, "").strip()
    if not header:
        return None
    try:
        doc = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError):
        raise BadRequest(f"invalid {AUTH_HEADER} header: expected base64url of a JSON object") from None
    if not isinstance(doc, dict):
        raise BadRequest(f"invalid {AUTH_HEADER} header: expected base64url of a JSON object")
    return _credentials(doc, f"{AUTH_HEADER} header")


def _registry_error(error: RegistryClientError) -> web.Response | None:
    """A registry's refusal that the client can act on, with its own status (dockerd's too)."""
    if error.status in (401, 403, 404):
        return reply({"message": str(error)}, error.status)
    return None


async def push(request: web.Request) -> web.StreamResponse:
    from berth.oci.reference import Reference
    name, tag = request.match_info["name"], request.query.get("tag", "")
    credentials = registry_credentials(request)
    repo = Reference.parse(name, default_tag=False)
    if repo.tag or repo.digest:
        raise BadRequest(f"invalid name {name!r}: give the tag as ?tag=")

    def refs_to_push(engine) -> list:
        """docker: one tag, or every local tag of the repository when none is given."""
        if tag:
            ref = Reference.parse(f"{name}:{tag}")
            engine.images.get(str(ref))  # unknown: a 404 before the stream starts
            return [ref]
        found = sorted({t for image in engine.images.list() for t in image.tags if t.name == repo.name},
                       key=lambda t: t.tag)
        if not found:
            from berth.errors import ImageNotFound
            raise ImageNotFound(f"No such image: {repo.familiar_name} (no tag of it is in the store)")
        return found

    def run(engine, put):
        refs = refs_to_push(engine)
        put({"status": f"The push refers to repository [{repo.name}]"})

        def report(layer, what):
            status = _PUSH_STATUS.get(what) or what[:1].upper() + what[1:]  # "mounted from X"
            put({"status": status, "progressDetail": {}, "id": layer.diff_id.hex[:12]})
        for ref in refs:
            engine.registries.push(str(ref), report=report, credentials=credentials)
            descriptor, _ = engine.registries.describe(str(ref), credentials=credentials)
            put({"status": f"{ref.tag}: digest: {descriptor.digest} size: {descriptor.size}"})
            put({"progressDetail": {}, "aux": {"Tag": ref.tag, "Digest": str(descriptor.digest),
                                               "Size": descriptor.size}})
    try:
        return await json_lines(request, run)
    except RegistryClientError as e:  # refused before any output (the stream's own error line after)
        refused = _registry_error(e)
        if refused is None:
            raise
        return refused


async def auth(request: web.Request) -> web.Response:
    doc = await body(request)
    credentials = _credentials(doc, "credentials")
    if credentials is None:
        raise BadRequest("username is required")
    server = doc.get("serveraddress") or "docker.io"
    if not isinstance(server, str):
        raise BadRequest("invalid serveraddress: expected a string")
    user, password = credentials
    try:
        await backend(request).call(lambda e: e.registries.login(server, user, password, remember=False))
    except RegistryClientError as e:
        refused = _registry_error(e)
        if refused is None:
            raise
        return refused
    return reply({"Status": "Login Succeeded", "IdentityToken": ""})


async def inspect(request: web.Request) -> web.Response:
    name, credentials = request.match_info["name"], registry_credentials(request)
    try:
        descriptor, platforms = await backend(request).call(
            lambda e: e.registries.describe(name, credentials=credentials))
    except RegistryClientError as e:
        refused = _registry_error(e)
        if refused is None:
            raise
        return refused
    return reply({"Descriptor": {"mediaType": descriptor.media_type, "digest": str(descriptor.digest),
                                 "size": descriptor.size},
                  "Platforms": [p.to_dict() for p in platforms]})


async def search(request: web.Request) -> web.Response:
    return reply({"message": "image search is not supported: berth has no index to search (registries "
                             "offer no search in the distribution API); look the name up on the registry's site"},
                 501)


def add_routes(router) -> None:
    route(router, "POST", "/images/{name:.+}/push", push)
    route(router, "POST", "/auth", auth)
    route(router, "GET", "/distribution/{name:.+}/json", inspect)
    route(router, "GET", "/images/search", search)
