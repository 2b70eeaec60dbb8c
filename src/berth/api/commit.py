"""POST /commit: a container's changes as a new image (`docker commit`)."""
from __future__ import annotations

from aiohttp import web

from berth.api.app import BadRequest, backend, body, flag, reply, route


async def commit(request: web.Request) -> web.Response:
    q = request.query
    container = q.get("container", "")
    if not container:
        raise BadRequest("container is required")
    repo, tag = q.get("repo", ""), q.get("tag", "")
    if tag and not repo:
        raise BadRequest("tag needs repo")
    ref = f"{repo}:{tag}" if repo and tag else repo or None
    config = await body(request)  # docker's container config, merged over the container's own
    changes = [c for c in q.getall("changes", []) if c.strip()]
    pause = flag(request, "pause", default=True)
    image = await backend(request).call(lambda e: e.files.commit(
        container, ref, author=q.get("author", ""), message=q.get("comment", ""), changes=changes, pause=pause,
        config=config))
    return reply({"Id": str(image.id)}, 201)


def add_routes(router) -> None:
    route(router, "POST", "/commit", commit)
