"""Blob uploads: POST to start (or to push in one request, or to mount), PATCH to append, PUT to
finish, GET for status, DELETE to cancel.

Bytes are hashed (sha256) as they arrive, so finishing a sha256 upload reads nothing back; a sha512
digest, or a hash state lost to a restart, is rebuilt by reading the upload once. A request whose
body fails part way (a lying Content-Length, a size cap, a dropped connection, a stalled body) is
rolled back to where it started, so the upload's offset only ever moves by whole accepted requests.

A repository may have `max_open_uploads` unfinished uploads at once; starting one more is refused
with 429 TOOMANYREQUESTS until some finish, are cancelled or are purged. The count is kept in
memory (read from storage once), and recounted from storage before refusing, so uploads that
went behind the server's back (`registry gc`, purging) free their places.
"""
from __future__ import annotations

import asyncio
import hashlib
import re

from berth.oci.digest import Digest
from berth.registry.server import names
from berth.archive import CHUNK
from berth.registry.server.connections import BodyTimeout
from berth.registry.server.context import Registry, empty
from berth.registry.server.errors import RegistryError

_CONTENT_RANGE = re.compile(r"(?:bytes )?(\d+)-(\d+)")


class UploadSession:
    """In-memory state of one upload: the running sha256 and a lock serializing its requests."""

    def __init__(self):
        self.hasher = hashlib.sha256()
        self.hashed = 0  # bytes fed to hasher; differs from the stored size after a restart
        self.lock = asyncio.Lock()


class UploadSessions:
    """The sessions of uploads in progress, and which uploads each repository has open."""

    def __init__(self):
        self._sessions: dict[str, UploadSession] = {}
        self._open: dict[str, set[str]] | None = None  # repository -> upload ids; read from storage once
        self._starting: dict[str, int] = {}  # repository -> uploads being created
        self._reading = asyncio.Lock()

    def get(self, upload_id: str) -> UploadSession:
        return self._sessions.setdefault(upload_id, UploadSession())

    def drop(self, name: str, upload_id: str) -> None:
        """Forget an upload that was finished or cancelled."""
        self._sessions.pop(upload_id, None)
        if self._open is not None and name in self._open:
            self._open[name].discard(upload_id)
            if not self._open[name]:
                del self._open[name]

    async def _open_uploads(self, reg: Registry) -> dict[str, set[str]]:
        async with self._reading:
            if self._open is None:
                found: dict[str, set[str]] = {}
                for upload in await reg.io(lambda: list(reg.storage.upload_stats())):
                    if upload.repository is not None:
                        found.setdefault(upload.repository, set()).add(upload.upload_id)
                self._open = found
        return self._open

    async def create(self, reg: Registry, name: str, private: bool = False) -> str:
        """A new upload in `name`, within the repository's limit of open uploads."""
        limit = reg.settings.max_open_uploads
        open_uploads = await self._open_uploads(reg)
        if limit and len(open_uploads.get(name, ())) + self._starting.get(name, 0) >= limit:
            ids = list(open_uploads.get(name, ()))
            gone = await reg.io(_gone, reg.storage, name, ids)
            if name in open_uploads:
                open_uploads[name].difference_update(gone)
            if len(open_uploads.get(name, ())) + self._starting.get(name, 0) >= limit:
                raise RegistryError("TOOMANYREQUESTS", f"{name} has {limit} unfinished uploads, the most this "
                                    "registry allows; finish or cancel some first")
        self._starting[name] = self._starting.get(name, 0) + 1
        try:
            upload_id = await reg.io(reg.storage.create_upload, name, private)
        finally:
            self._starting[name] -= 1
            if not self._starting[name]:
                del self._starting[name]
        open_uploads.setdefault(name, set()).add(upload_id)
        return upload_id


def _gone(storage, name: str, upload_ids: list[str]) -> set[str]:
    return {upload_id for upload_id in upload_ids if storage.upload_size(name, upload_id) is None}


def location(name: str, upload_id: str) -> str:
    return f"/v2/{name}/blobs/uploads/{upload_id}"


def _range(size: int) -> str:
    # docker distribution's convention: an empty upload reports "0-0"
    return f"0-{max(size - 1, 0)}"


def _progress(name: str, upload_id: str, size: int) -> dict:
    return {"Location": location(name, upload_id), "Range": _range(size), "Docker-Upload-UUID": upload_id}


def _write_and_hash(writer, hasher, chunk: bytes) -> None:
    writer.write(chunk)
    hasher.update(chunk)


def _rehash(storage, name: str, upload_id: str, algorithm: str):
    hasher = hashlib.new(algorithm)
    for chunk in storage.read_upload(name, upload_id, CHUNK):
        hasher.update(chunk)
    return hasher


def _too_large(limit: int) -> RegistryError:
    return RegistryError("SIZE_INVALID", f"upload exceeds the registry's limit of {limit} bytes", status=413)


async def _receive(reg: Registry, request, name: str, upload_id: str, session: UploadSession,
                   start: int | None = None, expected: int | None = None) -> int:
    """Append the request body to the upload; returns the new size. `start` is where a
    Content-Range says the body belongs; `expected` its length."""
    storage = reg.storage
    declared = request.content_length
    limit = reg.settings.max_upload_size
    try:
        writer = await reg.io(storage.open_upload, name, upload_id)
    except FileNotFoundError:
        raise _removed(name, upload_id) from None
    try:
        begin = writer.size
        if start is not None and start != begin:
            raise RegistryError("BLOB_UPLOAD_INVALID", f"chunk starts at {start}, upload is at {begin}",
                                status=416, headers=_progress(name, upload_id, begin))
        if expected is not None and declared is not None and expected != declared:
            raise RegistryError("BLOB_UPLOAD_INVALID", "Content-Range and Content-Length disagree", status=416,
                                headers=_progress(name, upload_id, begin))
        if limit is not None and declared is not None and begin + declared > limit:
            raise _too_large(limit)
        if session.hashed != begin:
            session.hasher = await reg.io(_rehash, storage, name, upload_id, "sha256")
            session.hashed = begin
        before = session.hasher.copy()
        try:
            buffer = bytearray()
            try:
                async for piece in request.content.iter_chunked(CHUNK):
                    buffer += piece
                    if limit is not None and writer.size + len(buffer) > limit:
                        raise _too_large(limit)
                    if len(buffer) >= CHUNK:
                        await reg.io(_write_and_hash, writer, session.hasher, bytes(buffer))
                        buffer.clear()
            except (RegistryError, BodyTimeout):
                raise
            except Exception as e:  # the body ended early or the connection broke
                raise RegistryError("BLOB_UPLOAD_INVALID", f"incomplete request body: {e}") from None
            if buffer:
                await reg.io(_write_and_hash, writer, session.hasher, bytes(buffer))
            received = writer.size - begin
            if expected is not None and received != expected:
                raise RegistryError("BLOB_UPLOAD_INVALID", f"Content-Range announced {expected} bytes, got {received}",
                                    status=416, headers=_progress(name, upload_id, begin))
        except BaseException:
            writer.truncate(begin)
            session.hasher, session.hashed = before, begin
            raise
        session.hashed = writer.size
        return writer.size
    finally:
        writer.close()


def _removed(name: str, upload_id: str) -> RegistryError:
    return RegistryError("BLOB_UPLOAD_UNKNOWN", f"upload {upload_id} in {name} was removed (purged as stale, "
                         "or by `registry gc`)")


def _content_range(request, name: str, upload_id: str, size: int) -> tuple[int | None, int | None]:
    header = request.headers.get("Content-Range")
    if not header:
        return None, None
    match = _CONTENT_RANGE.fullmatch(header.strip())
    if not match or int(match[2]) < int(match[1]):
        raise RegistryError("BLOB_UPLOAD_INVALID", f"malformed Content-Range {header!r}", status=416,
                            headers=_progress(name, upload_id, size))
    first, last = int(match[1]), int(match[2])
    return first, last - first + 1


async def _finish(reg: Registry, name: str, upload_id: str, session: UploadSession, digest: Digest):
    storage = reg.storage
    size = await reg.io(storage.upload_size, name, upload_id)
    if digest.algorithm == "sha256" and session.hashed == size:
        actual = Digest.from_hasher(session.hasher.copy())
    else:
        actual = Digest.from_hasher(await reg.io(_rehash, storage, name, upload_id, digest.algorithm))
    if actual != digest:
        raise RegistryError("DIGEST_INVALID", f"upload has digest {actual}, not {digest}",
                            detail={"expected": str(digest), "actual": str(actual)})
    async with reg.holding_off_gc():
        try:
            await reg.io(storage.commit_upload, name, upload_id, digest)
        except FileNotFoundError:
            raise _removed(name, upload_id) from None
    reg.uploads.drop(name, upload_id)
    return empty(201, {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": str(digest)})


async def _session(reg: Registry, name: str, upload_id: str) -> tuple[UploadSession, int]:
    upload_id = names.upload_id(upload_id)
    size = await reg.io(reg.storage.upload_size, name, upload_id)
    if size is None:
        raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"no upload {upload_id} in {name}")
    return reg.uploads.get(upload_id), size


async def start(reg: Registry, request, name: str):
    query = request.query
    storage = reg.storage
    if "mount" in query:
        digest = names.digest(query["mount"])
        source = query.get("from")
        async with reg.holding_off_gc():
            if source:
                source = names.repository(source)
                try:
                    reg.authorizer.authorize(request.get("user"), source, ("pull",))
                    found = await reg.io(storage.has_blob, source, digest)
                except RegistryError:  # no pull on the source: an ordinary upload, which reveals nothing
                    found = False
            elif reg.authorizer.sees_every_repository(request.get("user")):
                # the spec lets a registry mount from wherever it has the blob
                found = await reg.io(storage.stat_blob, digest) is not None
            else:  # the blob may sit only where this user may not pull: upload it instead
                found = False
            if found:
                await reg.io(storage.link_blob, name, digest)
        if found:
            request["blob_mounted"] = True  # for metrics: a 201 that moved no bytes
            return empty(201, {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": str(digest)})
    if "digest" in query:  # the whole blob in this one request
        digest = names.digest(query["digest"])
        upload_id = await reg.uploads.create(reg, name, private=True)
        session = reg.uploads.get(upload_id)
        try:
            async with session.lock:
                await _receive(reg, request, name, upload_id, session)
                return await _finish(reg, name, upload_id, session, digest)
        finally:
            reg.uploads.drop(name, upload_id)
            await reg.io(storage.delete_upload, name, upload_id)
    upload_id = await reg.uploads.create(reg, name)
    return empty(202, _progress(name, upload_id, 0))


async def patch(reg: Registry, request, name: str, upload_id: str):
    session, size = await _session(reg, name, upload_id)
    async with session.lock:
        first, length = _content_range(request, name, upload_id, size)
        size = await _receive(reg, request, name, upload_id, session, first, length)
    return empty(202, _progress(name, upload_id, size))


async def put(reg: Registry, request, name: str, upload_id: str):
    session, size = await _session(reg, name, upload_id)
    if "digest" not in request.query:
        raise RegistryError("DIGEST_INVALID", "finishing an upload needs ?digest=")
    digest = names.digest(request.query["digest"])
    async with session.lock:
        first, length = _content_range(request, name, upload_id, size)
        if request.content_length or request.headers.get("Transfer-Encoding") or first is not None:
            await _receive(reg, request, name, upload_id, session, first, length)
        return await _finish(reg, name, upload_id, session, digest)


async def status(reg: Registry, request, name: str, upload_id: str):
    _, size = await _session(reg, name, upload_id)
    return empty(204, _progress(name, upload_id, size))


async def cancel(reg: Registry, request, name: str, upload_id: str):
    upload_id = names.upload_id(upload_id)
    session = reg.uploads.get(upload_id)
    async with session.lock:
        if not await reg.io(reg.storage.delete_upload, name, upload_id):
            reg.uploads.drop(name, upload_id)
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"no upload {upload_id} in {name}")
    reg.uploads.drop(name, upload_id)
    return empty(204)
