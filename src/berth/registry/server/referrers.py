"""The referrers API: an image index of the manifests whose `subject` is a given digest."""
from __future__ import annotations

import json

from aiohttp import web

from berth.oci import mediatype
from berth.registry.server import names
from berth.registry.server.context import Registry


async def get(reg: Registry, request, name: str, reference: str):
    subject = names.digest(reference)
    descriptors = await reg.io(reg.storage.referrers, name, subject)
    wanted = set(request.query.getall("artifactType", []))
    headers = {}
    if wanted:
        descriptors = [d for d in descriptors if d.get("artifactType") in wanted]
        headers["OCI-Filters-Applied"] = "artifactType"
    index = {"schemaVersion": 2, "mediaType": mediatype.OCI_INDEX, "manifests": descriptors}
    headers["Content-Type"] = mediatype.OCI_INDEX  # exactly, without aiohttp's charset parameter
    return web.Response(body=json.dumps(index).encode(), headers=headers)
