"""Tag lists and the catalog, paged with `n` and `last` and an RFC 8288 Link to the next page."""
from __future__ import annotations

import bisect
from urllib.parse import urlencode

from aiohttp import web

from berth.registry.server.context import Registry
from berth.registry.server.errors import RegistryError

MAX_PAGE = 1000  # also the page size when the client names none


def page(items: list[str], query) -> tuple[list[str], str | None, int]:
    """(this page, the `last` of the next page or None, the page size used)."""
    n = MAX_PAGE
    if "n" in query:
        try:
            n = int(query["n"])
        except ValueError:
            n = -1
        if n < 0:
            raise RegistryError("PAGINATION_NUMBER_INVALID", f"invalid n {query['n']!r}: want an integer >= 0")
        n = min(n, MAX_PAGE)
    last = query.get("last")
    begin = bisect.bisect_right(items, last) if last else 0  # items are sorted
    chunk = items[begin:begin + n]
    more = n > 0 and begin + n < len(items)
    return chunk, (chunk[-1] if more else None), n


def _with_link(doc: dict, path: str, next_last: str | None, n: int) -> web.Response:
    response = web.json_response(doc)
    if next_last is not None:
        response.headers["Link"] = f'<{path}?{urlencode({"last": next_last, "n": n})}>; rel="next"'
    return response


async def _cached(reg: Registry, key, fn, *args):
    """`fn(*args)` (a sorted list, or None), from `reg.cache` while the storage is unchanged."""
    generation = reg.cache.current()
    found = reg.cache.get(key, generation)
    if found is None:
        found = await reg.io(fn, *args)
        if found is not None:
            reg.cache.put(key, found, sum(len(item) + 50 for item in found), generation)
    return found


async def tags(reg: Registry, request, name: str):
    found = await _cached(reg, ("tags", name), reg.storage.tags, name)
    if found is None:
        raise RegistryError("NAME_UNKNOWN", f"repository {name} not known to registry", detail={"name": name})
    chunk, next_last, n = page(found, request.query)
    return _with_link({"name": name, "tags": chunk}, f"/v2/{name}/tags/list", next_last, n)


async def catalog(reg: Registry, request):
    found = await _cached(reg, ("catalog",), reg.storage.repositories)
    chunk, next_last, n = page(found, request.query)
    return _with_link({"repositories": chunk}, "/v2/_catalog", next_last, n)
