"""What every handler needs: the storage, the settings, and a way to run blocking work."""
from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from berth.registry.server.auth import Authenticator, Authorizer
from berth.registry.server.connections import Limits
from berth.registry.server.storage import Storage


class Settings:
    def __init__(self, read_only: bool = False, max_upload_size: int | None = None, ui: bool = True,
                 metrics: bool = True, purge_uploads_after: float | None = None, max_open_uploads: int | None = 64,
                 limits: Limits | None = None):
        self.read_only = read_only
        self.purge_uploads_after = purge_uploads_after  # seconds an unfinished upload may sit idle
        self.max_upload_size = max_upload_size
        self.max_open_uploads = max_open_uploads  # unfinished uploads per repository
        self.limits = limits or Limits()  # connection timeouts and limit
        self.ui = ui  # the web UI at /
        self.metrics = metrics  # /metrics


class Registry:
    def __init__(self, storage: Storage, settings: Settings | None = None,
                 authenticator: Authenticator | None = None, authorizer: Authorizer | None = None,
                 token_service=None):
        from berth.registry.server.cache import ReadCache
        from berth.registry.server.uploads import UploadSessions
        self.storage = storage
        self.cache = ReadCache(storage)  # manifests and blob links found, while the storage is unchanged
        self.token_service = token_service  # a token.TokenService serving /token, or None
        self.settings = settings or Settings()
        self.authenticator = authenticator or Authenticator()
        self.authorizer = authorizer or Authorizer()
        self.uploads = UploadSessions()

    async def viewer(self, request, resource: str | None = None) -> str | None:
        """The user behind a request for a page beside the API (web UI, /metrics): the same check as
        the API's base endpoint, so these pages are exactly as open as the API; with `resource`
        (a registry-wide one such as "metrics"), also the authorizer's grant for it."""
        user = await self.authenticator.authenticate(request)
        if resource is None:
            self.authorizer.authorize(user, None, ())
        else:
            self.authorizer.authorize_registry(user, resource)
        return user

    @contextlib.asynccontextmanager
    async def holding_off_gc(self):
        """Hold the storage's gc lock shared around a write that makes blobs referenced (commit,
        mount, manifest put), so `berth registry gc` never sweeps between its check and its link.
        Polled rather than blocking: a waiting write must not tie up a worker thread."""
        while True:
            lock = self.storage.gc_lock(blocking=False)
            if lock.__enter__():
                break
            lock.__exit__(None, None, None)
            await asyncio.sleep(0.05)
        try:
            yield
        finally:
            lock.__exit__(None, None, None)

    @staticmethod
    async def io(fn, *args):
        """Run a blocking storage call in a worker thread: fsync and hashing must not stall the loop."""
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def empty(status: int, headers: dict | None = None) -> web.Response:
    """A bodiless response; Content-Length: 0 as clients such as docker expect."""
    return web.Response(status=status, headers={"Content-Length": "0", **(headers or {})})
