"""Manifests by tag or digest: PUT (validated, stored byte for byte), GET/HEAD, DELETE.

Accepted types: OCI image manifest and index, docker schema2 manifest and manifest list. A GET
whose Accept header names types but not the stored one (nor a wildcard) gets 404 MANIFEST_UNKNOWN,
as docker distribution answers: the registry never converts manifests.
"""
from __future__ import annotations

from aiohttp import web

from berth import safejson
from berth.errors import InvalidImage
from berth.oci import mediatype
from berth.oci.digest import Digest
from berth.oci.image import MAX_MANIFEST_SIZE, Index, Manifest
from berth.registry.server import names
from berth.registry.server.context import Registry, empty
from berth.registry.server.errors import RegistryError

_FOREIGN = {mediatype.DOCKER_LAYER_FOREIGN, mediatype.OCI_LAYER_NONDIST, mediatype.OCI_LAYER_NONDIST_GZIP,
            "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"}


def _lookup(storage, name: str, digest: Digest | None, tag: str | None):
    """(ManifestInfo or None, its bytes): the whole lookup in one worker-thread hop."""
    if tag is not None:
        digest = storage.resolve_tag(name, tag)
    info = storage.manifest_info(name, digest) if digest else None
    return info, (storage.read_blob(info.digest) if info is not None else None)


async def _resolve(reg: Registry, name: str, reference: str):
    digest, tag = names.reference(reference)
    key = ("manifest", name, reference)
    generation = reg.cache.current()
    found = reg.cache.get(key, generation)
    if found is not None:
        return found
    info, data = await reg.io(_lookup, reg.storage, name, digest, tag)
    if info is not None:
        reg.cache.put(key, (info, data), len(data), generation)
    if info is None:
        raise RegistryError("MANIFEST_UNKNOWN", f"manifest {reference} unknown to repository {name}",
                            detail={"reference": reference})
    return info, data


def accepts(header: str, media_type: str) -> bool:
    wanted = {part.split(";")[0].strip().lower() for part in header.split(",")} - {""}
    return not wanted or media_type in wanted or bool(wanted & {"*/*", "application/*"})


async def get(reg: Registry, request, name: str, reference: str):
    info, data = await _resolve(reg, name, reference)
    accept = ",".join(request.headers.getall("Accept", []))
    if not accepts(accept, info.media_type):
        raise RegistryError("MANIFEST_UNKNOWN", f"manifest {reference} is a {info.media_type}, which the "
                            "request's Accept header excludes", detail={"mediaType": info.media_type})
    etag = f'"{info.digest}"'
    headers = {"Content-Type": info.media_type, "Docker-Content-Digest": str(info.digest), "ETag": etag}
    if request.headers.get("If-None-Match") == etag:
        return empty(304, headers)
    if request.method == "HEAD":
        response = web.StreamResponse(status=200, headers=headers)
        response.content_length = info.size
        await response.prepare(request)
        await response.write_eof()
        return response
    return web.Response(body=data, headers=headers)


async def _read_body(request) -> bytes:
    declared = request.content_length
    if declared is not None and declared > MAX_MANIFEST_SIZE:
        raise _too_large()
    body = bytearray()
    async for piece in request.content.iter_chunked(1 << 16):
        body += piece
        if len(body) > MAX_MANIFEST_SIZE:
            raise _too_large()
    return bytes(body)


def _too_large() -> RegistryError:
    return RegistryError("MANIFEST_INVALID", f"manifest is larger than {MAX_MANIFEST_SIZE} bytes", status=413)


def _invalid(message: str) -> RegistryError:
    return RegistryError("MANIFEST_INVALID", message)


def _media_type(request, doc: dict) -> str:
    header = (request.headers.get("Content-Type") or "").split(";")[0].strip()
    field = doc.get("mediaType")
    if field is not None and not isinstance(field, str):
        raise _invalid("manifest mediaType is not a string")
    if field and header and header != field and header not in ("application/json", "application/octet-stream"):
        raise _invalid(f"Content-Type {header} differs from the manifest's mediaType {field}")
    media_type = field or header
    if media_type in (mediatype.DOCKER_SCHEMA1, mediatype.DOCKER_SCHEMA1_SIGNED):
        raise _invalid("Docker schema1 manifests are not accepted; push with a current client")
    if media_type not in mediatype.MANIFESTS | mediatype.INDEXES:
        raise _invalid(f"unsupported manifest media type {media_type!r}")
    return media_type


def _subject(doc: dict) -> Digest | None:
    subject = doc.get("subject")
    if subject is None:
        return None
    if not isinstance(subject, dict):
        raise _invalid("manifest subject is not a descriptor")
    return names.digest(subject.get("digest"), code="MANIFEST_INVALID")


async def _check_references(reg: Registry, name: str, media_type: str, data: bytes, doc: dict):
    """Every blob an image manifest names, and every manifest an index names, must be in the repository."""
    storage = reg.storage
    try:
        if media_type in mediatype.MANIFESTS:
            parsed = Manifest.parse(data, media_type)
            raw = [doc.get("config")] + list(doc.get("layers") or [])
            for descriptor, entry in zip((parsed.config, *parsed.layers), raw):
                if descriptor.media_type in _FOREIGN and isinstance(entry, dict) and entry.get("urls"):
                    continue  # fetched from its URLs, never pushed
                if not await reg.io(storage.has_blob, name, descriptor.digest):
                    raise RegistryError("MANIFEST_BLOB_UNKNOWN", f"blob {descriptor.digest} unknown to repository {name}",
                                        detail={"digest": str(descriptor.digest)})
            return parsed.config.media_type
        parsed = Index.parse(data, media_type)
        for descriptor in parsed.manifests:
            if await reg.io(storage.manifest_info, name, descriptor.digest) is None:
                raise RegistryError("MANIFEST_BLOB_UNKNOWN", f"manifest {descriptor.digest} unknown to repository {name}",
                                    detail={"digest": str(descriptor.digest)})
        return None
    except InvalidImage as e:
        raise _invalid(str(e)) from None


async def put(reg: Registry, request, name: str, reference: str):
    wanted, tag = names.reference(reference)
    data = await _read_body(request)
    try:
        doc = safejson.loads(data, MAX_MANIFEST_SIZE)
    except safejson.InvalidJSON as e:
        raise _invalid(f"manifest is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise _invalid("manifest is not a JSON object")
    media_type = _media_type(request, doc)
    digest = Digest.of_bytes(data, wanted.algorithm if wanted else "sha256")
    if wanted is not None and digest != wanted:
        raise RegistryError("DIGEST_INVALID", f"manifest has digest {digest}, not {wanted}",
                            detail={"expected": str(wanted), "actual": str(digest)})
    subject = _subject(doc)
    async with reg.holding_off_gc():  # gc must not sweep a blob between this check and the link
        config_type = await _check_references(reg, name, media_type, data, doc)
        referrer = None
        if subject is not None:
            referrer = {"mediaType": media_type, "digest": str(digest), "size": len(data)}
            artifact_type = doc.get("artifactType") or config_type
            if artifact_type:
                referrer["artifactType"] = artifact_type
            if isinstance(doc.get("annotations"), dict) and doc["annotations"]:
                referrer["annotations"] = doc["annotations"]
        await reg.io(reg.storage.put_manifest, name, digest, media_type, data, subject, referrer)
        if tag is not None:
            await reg.io(reg.storage.set_tag, name, tag, digest)
    headers = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": str(digest)}
    if subject is not None:
        headers["OCI-Subject"] = str(subject)
    return empty(201, headers)


async def delete(reg: Registry, request, name: str, reference: str):
    digest, tag = names.reference(reference)
    if tag is not None:
        removed = await reg.io(reg.storage.delete_tag, name, tag)
    else:
        removed = await reg.io(reg.storage.delete_manifest, name, digest)
    if not removed:
        raise RegistryError("MANIFEST_UNKNOWN", f"manifest {reference} unknown to repository {name}",
                            detail={"reference": reference})
    return empty(202)
