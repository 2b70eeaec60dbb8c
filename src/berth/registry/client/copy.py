"""Copy an image between registries without unpacking it (as `skopeo copy docker:// docker://`).

Manifests travel byte for byte, so digests stay the same; an index is copied with every child.
Blobs the destination has are skipped, blobs on the same registry are mounted, the rest stream
from one connection to the other (the destination checks each digest on commit).
"""
from __future__ import annotations

import json

from berth.errors import InvalidImage
from berth.oci import mediatype
from berth.oci.digest import Digest
from berth.oci.reference import Reference
from berth.registry.client.pull import fetch_manifest, scope
from berth.registry.client.push import has_blob, start_upload, with_digest
from berth.registry.client.session import Session, close


def copy_blob(src: Session, src_ref: Reference, dst: Session, dst_ref: Reference, digest: Digest, size: int) -> str:
    """How the blob got there: "exists", "mounted" or "copied"."""
    if has_blob(dst, dst_ref, digest):
        return "exists"
    same_registry = src_ref.registry == dst_ref.registry
    location = start_upload(dst, dst_ref, (digest, src_ref.repository) if same_registry else None)
    if location is None:
        return "mounted"
    readers = []

    def body():
        readers.append(src.open_blob(f"/v2/{src_ref.repository}/blobs/{digest}", scope=scope(src_ref), size=size))
        return readers[-1]
    try:
        close(dst.request("PUT", with_digest(location, digest), scope=scope(dst_ref, "pull,push"), body=body, ok=(201, 204),
                          headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)}))
    finally:
        for r in readers:
            r.close()
    return "copied"


def _put_manifest(dst: Session, dst_ref: Reference, reference: str, data: bytes, media_type: str) -> None:
    close(dst.request("PUT", f"/v2/{dst_ref.repository}/manifests/{reference}", scope=scope(dst_ref, "pull,push"),
                      body=data, ok=(201, 200), headers={"Content-Type": media_type, "Content-Length": str(len(data))}))


def _copy_manifest(src, src_ref, dst, dst_ref, data: bytes, media_type: str, report) -> None:
    doc = json.loads(data)
    kind = media_type or doc.get("mediaType", "")
    if kind in mediatype.INDEXES or "manifests" in doc:
        for child in doc.get("manifests", []):
            child_data, child_type, child_digest = fetch_manifest(src, src_ref, child["digest"])
            _copy_manifest(src, src_ref, dst, dst_ref, child_data, child_type or child.get("mediaType", ""), report)
            _put_manifest(dst, dst_ref, str(child_digest), child_data, child_type or child["mediaType"])
        return
    if "layers" not in doc or "config" not in doc:
        raise InvalidImage(f"{src_ref.familiar}: not an image manifest or index")
    for descriptor in [doc["config"], *doc["layers"]]:
        if descriptor.get("urls"):  # foreign layers stay where their URLs point
            continue
        how = copy_blob(src, src_ref, dst, dst_ref, Digest.parse(descriptor["digest"]), int(descriptor["size"]))
        if report:
            report(descriptor["digest"], how)


def copy(src: Session, src_ref: Reference, dst: Session, dst_ref: Reference, report=None) -> Digest:
    """Copy what `src_ref` names to `dst_ref`; returns the (unchanged) top manifest digest."""
    data, media_type, digest = fetch_manifest(src, src_ref, str(src_ref.digest) if src_ref.digest else src_ref.tag)
    _copy_manifest(src, src_ref, dst, dst_ref, data, media_type, report)
    _put_manifest(dst, dst_ref, dst_ref.tag or str(digest), data, media_type or json.loads(data).get("mediaType", ""))
    return digest
