"""Image routes: list, inspect, history, pull (POST /images/create, with docker's JSON progress),
tag, remove, prune."""
from __future__ import annotations

import asyncio
import threading
import time

from aiohttp import web

from berth.api.app import BadRequest, backend, filters, flag, reply, route
from berth.api.bridge import BodyReader, json_lines


def image_summary(image) -> dict:
    from berth.timefmt import parse_time
    return {"Id": str(image.id), "ParentId": "", "RepoTags": [t.familiar for t in image.tags] or None,
            "RepoDigests": list(image.repo_digests) or None, "Created": int(parse_time(image.created) or 0),
            "Size": image.size, "VirtualSize": image.size, "SharedSize": -1, "Labels": None, "Containers": -1}


async def list_(request: web.Request) -> web.Response:
    show_all, given = flag(request, "all"), filters(request)
    if request.query.get("filter"):  # API < 1.25: one reference pattern
        given.setdefault("reference", []).append(request.query["filter"])
    images = await backend(request).call(lambda e: e.images.list(all=show_all, filters=given))
    docs = sorted((image_summary(i) for i in images), key=lambda d: -d["Created"])
    return reply(docs)


async def inspect(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    return reply(await backend(request).call(lambda e: e.images.inspect(name)))


async def history(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    rows = await backend(request).call(lambda e: e.images.history(name))
    return reply([{"Id": r["id"], "Created": int(r["created_at"] or 0), "CreatedBy": r["created_by"],
                   "Tags": None, "Size": r["size"], "Comment": r["comment"]} for r in rows])


class JSONProgress:
    """The registry client's progress calls (from its worker threads) as docker's JSON lines."""

    def __init__(self, put):
        self.put = put
        self._rows: dict[str, list] = {}
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def start(self, key: str, total, status: str = "Downloading") -> None:
        self.put({"status": "Pulling fs layer", "progressDetail": {}, "id": key[:12]})
        with self._lock:
            self._rows[key] = [0, total, status]

    def advance(self, key: str, n: int) -> None:
        with self._lock:
            row = self._rows.get(key)
            if row is None:
                return
            row[0] += n
            now = time.monotonic()
            if now - self._last.get(key, 0.0) < 0.1:
                return
            self._last[key] = now
            done, total, status = row
        self.put({"status": status, "progressDetail": {"current": done, "total": total or 0}, "id": key[:12]})

    def done(self, key: str, status: str) -> None:
        self.put({"status": status, "progressDetail": {}, "id": key[:12]})


async def create(request: web.Request) -> web.StreamResponse:
    """Pull (fromImage) or import (fromSrc): a stream of JSON progress lines; an error after the
    first line is the stream's last line, as dockerd does."""
    from berth.api.distribution import registry_credentials
    from berth.oci.reference import Reference
    source, image_name = request.query.get("fromSrc"), request.query.get("fromImage")
    if not source and not image_name:
        raise BadRequest("fromImage or fromSrc is required")
    tag = request.query.get("tag", "")
    if source:
        return await _import(request, source, request.query.get("repo") or None, tag)
    text = image_name + (("@" if tag.startswith("sha256:") else ":") + tag if tag and "@" not in image_name
                         and not _has_tag(image_name) else "")
    ref = Reference.parse(text)
    platform = request.query.get("platform") or None
    credentials = registry_credentials(request)  # a malformed header: a 400, before the stream starts

    def pull(engine, put):
        put({"status": f"Pulling from {ref.repository}", "id": ref.tag or str(ref.digest)})
        return engine.registries.pull(str(ref), platform=platform, progress=JSONProgress(put), credentials=credentials)

    def last(image):
        digest = next((d.rpartition("@")[2] for d in image.repo_digests if d.startswith(ref.name + "@")), "")
        return [{"status": f"Digest: {digest}"}, {"status": f"Status: Downloaded newer image for {ref.familiar}"}]
    return await json_lines(request, pull, last)


def _has_tag(name: str) -> bool:
    return ":" in name.rpartition("/")[2]


async def _import(request: web.Request, source: str, repo: str | None, tag: str) -> web.Response:
    if source != "-":
        raise BadRequest("importing from a URL is not supported: send the archive as the body (fromSrc=-)")
    ref = f"{repo}:{tag}" if repo and tag else repo
    body = BodyReader(request, asyncio.get_running_loop())
    image = await backend(request).call(lambda e: e.images.import_("-", ref, request.query.get("message", ""),
                                                                    stream=body))
    return reply({"status": str(image.id)})


async def tag(request: web.Request) -> web.Response:
    name, repo, tag_ = request.match_info["name"], request.query.get("repo"), request.query.get("tag") or "latest"
    if not repo:
        raise BadRequest("repo is required")
    await backend(request).call(lambda e: e.images.tag(name, f"{repo}:{tag_}"))
    return web.Response(status=201)


async def remove(request: web.Request) -> web.Response:
    name, force = request.match_info["name"], flag(request, "force")
    done = await backend(request).call(lambda e: e.images.remove(name, force=force))
    return reply([{kind: value} for kind, value in done])


async def prune(request: web.Request) -> web.Response:
    given = filters(request)
    every = given.get("dangling", ["true"])[0].lower() in ("false", "0")
    done, reclaimed = await backend(request).call(lambda e: e.images.prune(all=every))
    return reply({"ImagesDeleted": [{kind: value} for kind, value in done] or None, "SpaceReclaimed": reclaimed})


def add_routes(router) -> None:
    route(router, "GET", "/images/json", list_)
    route(router, "POST", "/images/create", create)
    route(router, "POST", "/images/prune", prune)
    route(router, "GET", "/images/{name:.+}/json", inspect)
    route(router, "GET", "/images/{name:.+}/history", history)
    route(router, "POST", "/images/{name:.+}/tag", tag)
    route(router, "DELETE", "/images/{name:.+}", remove)
