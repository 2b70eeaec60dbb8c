"""The web UI: read-only pages about what the registry holds, served at `/` by the registry itself.

    /                                          repositories and the storage summary (dedup savings)
    /ui/r/<name>                               a repository's tags and untagged manifests
    /ui/r/<name>/manifests/<tag or digest>     config, layers or child manifests, annotations, referrers

Each page answers `?format=json` with the data it renders. Pages need what the API's base endpoint
needs (the same credentials), and a repository page also needs pull access to that repository. The
front page shows registry-wide storage totals, so it needs what /metrics needs: with `--auth token`,
the `registry:metrics:*` grant. Names and references from the URL (percent-decoded by the router)
pass the API's validator (`names`) before anything is looked up.
"""
from __future__ import annotations

from aiohttp import web

from berth.registry.server import names
from berth.registry.server.context import Registry
from berth.registry.server.errors import RegistryError
from berth.registry.server.ui import pages
from berth.registry.server.ui.views import Views

_HTML = "text/html"


def _answer(request, data: dict | None, render, missing: str):
    wants_json = request.query.get("format") == "json"
    if data is None:
        if wants_json:
            return web.json_response({"error": missing}, status=404)
        return web.Response(status=404, text=pages.not_found_page(missing), content_type=_HTML)
    if wants_json:
        return web.json_response(data)
    return web.Response(text=render(data), content_type=_HTML)


async def _repository_viewer(reg: Registry, request) -> str:
    user = await reg.viewer(request)
    name = names.repository(request.match_info["name"])
    reg.authorizer.authorize(user, name, ("pull",))
    return name


async def index(request):
    reg: Registry = request.app["registry"]
    user = await reg.viewer(request, "metrics")

    def allowed(name: str) -> bool:
        try:
            reg.authorizer.authorize(user, name, ("pull",))
        except RegistryError:
            return False
        return True

    data = await reg.io(request.app["ui_views"].repositories, allowed)
    return _answer(request, data, pages.repositories_page, "")


async def repository(request):
    reg: Registry = request.app["registry"]
    name = await _repository_viewer(reg, request)
    data = await reg.io(request.app["ui_views"].repository, name)
    return _answer(request, data, pages.repository_page, f"no repository {name}")


async def manifest(request):
    reg: Registry = request.app["registry"]
    name = await _repository_viewer(reg, request)
    reference = request.match_info["reference"]  # percent-decoded: checked like the API's, before storage
    digest, tag = names.reference(reference)
    data = await reg.io(request.app["ui_views"].manifest, name, digest, tag)
    return _answer(request, data, pages.manifest_page, f"no manifest {reference} in {name}")


def add_routes(app: web.Application) -> None:
    """GET (and HEAD) only: the UI changes nothing."""
    app["ui_views"] = Views(app["registry"].storage)
    app.router.add_get("/", index)
    app.router.add_get(r"/ui/r/{name:.+}/manifests/{reference:[^/]+}", manifest)
    app.router.add_get(r"/ui/r/{name:.+}", repository)
