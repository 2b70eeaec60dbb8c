"""Images as docker-archive tars over the API: GET /images/{name}/get, GET /images/get?names=
(`docker save`) and POST /images/load (`docker load`). Both directions are streamed: the save is
written as the image service produces it, the load is spooled by the image service to its staging
directory in the store (a docker-archive is read in any order, so it needs a file)."""
from __future__ import annotations

import asyncio

from aiohttp import web

from berth.api.app import BadRequest, route
from berth.api.bridge import BodyReader, json_lines, write_file


async def _save(request: web.Request, names: list[str]) -> web.StreamResponse:
    if not names:
        raise BadRequest("names is required (one or more images)")
    return await write_file(request, "application/x-tar", lambda e, out: e.images.save(names, None, stream=out))


async def get_one(request: web.Request) -> web.StreamResponse:
    return await _save(request, [request.match_info["name"]])


async def get_many(request: web.Request) -> web.StreamResponse:
    return await _save(request, [n for n in request.query.getall("names", []) if n])


async def load(request: web.Request) -> web.StreamResponse:
    """docker's answer: a JSON stream with a line per image ("Loaded image: NAME" for each tag,
    "Loaded image ID: ID" for an untagged one); `quiet` only drops progress, which there is none of."""
    stream = BodyReader(request, asyncio.get_running_loop())

    def run(engine, put):
        for image, tags in engine.images.load(stream=stream):
            if not tags:
                put({"stream": f"Loaded image ID: {image.id}\n"})
            for tag in tags:
                put({"stream": f"Loaded image: {tag.familiar}\n"})
    return await json_lines(request, run)


def add_routes(router) -> None:
    route(router, "GET", "/images/get", get_many)
    route(router, "GET", "/images/{name:.+}/get", get_one)
    route(router, "POST", "/images/load", load)
