"""What every handler needs: the storage, the settings, and a way to run blocking work."""
from __future__ import annotations

import asyncio

from aiohttp import web

from berth.registry.server.auth import Authenticator, Authorizer
from berth.registry.server.storage import Storage


class Settings:
    def __init__(self, read_only: bool = False, max_upload_size: int | None = None):
        self.read_only = read_only
        self.max_upload_size = max_upload_size


class Registry:
    def __init__(self, storage: Storage, settings: Settings | None = None,
                 authenticator: Authenticator | None = None, authorizer: Authorizer | None = None):
        from berth.registry.server.uploads import UploadSessions
        self.storage = storage
        self.settings = settings or Settings()
        self.authenticator = authenticator or Authenticator()
        self.authorizer = authorizer or Authorizer()
        self.uploads = UploadSessions()

    @staticmethod
    async def io(fn, *args):
        """Run a blocking storage call in a worker thread: fsync and hashing must not stall the loop."""
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def empty(status: int, headers: dict | None = None) -> web.Response:
    """A bodiless response; Content-Length: 0 as clients such as docker expect."""
    return web.Response(status=status, headers={"Content-Length": "0", **(headers or {})})
