"""Push an image from the store: skip what the registry has, mount what a sibling repository has,
compress and upload the rest in parallel, then put the manifest.

A layer's compressed blob is remembered (store.layers.blob_sources) once pulled or pushed, so a
repeated push, or a push of layers that came from the same registry, costs a HEAD or a mount
instead of compressing again. New blobs are gzip-compressed (isal, level 1, mtime 0: the same
bytes every time) and hashed while they stream into the upload: no compressed copy touches disk.
"""
from __future__ import annotations

import urllib.parse

from berth.errors import RegistryClientError
from berth.oci import mediatype
from berth.oci.descriptor import Descriptor
from berth.oci.digest import Digest
from berth.oci.image import Manifest, canonical_json
from berth.oci.reference import Reference
from berth.registry.client.pull import scope
from berth.registry.client.session import Session, close

PARALLEL_UPLOADS = 3


def with_digest(location: str, digest: Digest) -> str:
    """An upload URL with `digest=`, the query that commits it."""
    return location + ("&" if "?" in location else "?") + urllib.parse.urlencode({"digest": str(digest)})


def has_blob(session: Session, ref: Reference, digest: Digest) -> bool:
    try:
        close(session.request("HEAD", f"/v2/{ref.repository}/blobs/{digest}", scope=scope(ref, "pull,push")))
        return True
    except RegistryClientError as e:
        if e.status == 404:
            return False
        raise


def start_upload(session: Session, ref: Reference, mount: tuple[Digest, str] | None = None) -> str | None:
    """An upload URL, or None when the registry mounted `mount` = (digest, source repository)."""
    path = f"/v2/{ref.repository}/blobs/uploads/"
    sc = scope(ref, "pull,push")
    if mount:
        digest, source = mount
        path += "?" + urllib.parse.urlencode({"mount": str(digest), "from": source})
        sc += f" repository:{source}:pull"
    response = session.request("POST", path, scope=sc, ok=(201, 202))
    location, status = response.getheader("Location"), response.status
    close(response)
    if status == 201:
        return None
    if not location:
        raise RegistryClientError(f"{session.host}: upload started without a Location")
    return location


def _upload_bytes(session: Session, ref: Reference, data: bytes, digest: Digest) -> None:
    if has_blob(session, ref, digest):
        return
    location = start_upload(session, ref)
    close(session.request("PUT", with_digest(location, digest), scope=scope(ref, "pull,push"), body=data, ok=(201, 204),
                          headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}))


def push_layer(store, session: Session, ref: Reference, layer, known: list, report=None) -> Descriptor:
    """The layer's descriptor in `ref`'s repository, uploading it only when it is not there yet.
    `known`: the layer's blob sources in this registry. Runs in worker threads: no store writes."""
    say = report or (lambda *a: None)
    registry_prefix = ref.registry + "/"
    for digest, media_type, size, repository in known:
        if has_blob(session, ref, digest):
            say(layer, "exists")
            return Descriptor(media_type, digest, size)
    for digest, media_type, size, repository in known:
        source = repository[len(registry_prefix):]
        if source != ref.repository and start_upload(session, ref, (digest, source)) is None:
            say(layer, f"mounted from {source}")
            return Descriptor(media_type, digest, size)
    say(layer, "pushing")
    digest, size = _stream_layer(store, session, ref, layer)
    say(layer, "pushed")
    return Descriptor(mediatype.OCI_LAYER_GZIP, digest, size)


def _stream_layer(store, session: Session, ref: Reference, layer) -> tuple[Digest, int]:
    """Compress the layer straight into an upload (one streamed PATCH), then commit it by digest.

    The blob's digest is known only once it is compressed, so nothing can be checked first; in
    exchange no compressed copy is written to disk. A retried request compresses again."""
    from berth.archive.compression import open_compressor
    from berth.archive.hashing import HashingWriter
    from berth.archive.pipe import WriterPipe

    def compress(out) -> tuple[Digest, int]:
        hashed = HashingWriter(out)
        with open_compressor(hashed, "gzip") as gz:
            store.layers.write_tar(layer, gz)
        return hashed.digest(), hashed.count
    attempts: list[WriterPipe] = []  # one per sent request: a retry compresses again

    def body():
        attempts.append(WriterPipe(compress))
        return attempts[-1]
    location = start_upload(session, ref)
    try:
        response = session.request("PATCH", location, scope=scope(ref, "pull,push"), body=body, ok=(202, 204),
                                   headers={"Content-Type": "application/octet-stream"})
    except BaseException:
        for attempt in attempts:
            attempt.abandon()
        raise
    for attempt in attempts[:-1]:
        attempt.abandon()
    location = response.getheader("Location") or location
    close(response)
    digest, size = attempts[-1].finish()  # a compression error stops here: the upload is never committed
    close(session.request("PUT", with_digest(location, digest), scope=scope(ref, "pull,push"), body=b"",
                          ok=(201, 204), headers={"Content-Length": "0"}))
    return digest, size


def push(store, session: Session, image, ref: Reference, report=None) -> Digest:
    """Push `image` as `ref` (a tag); returns the manifest digest the registry stored."""
    layers = store.images.layers(image)
    known = {layer.diff_id: [s for s in store.layers.blob_sources(layer.diff_id)
                             if s[3].startswith(ref.registry + "/")] for layer in layers}

    def one(layer):
        return push_layer(store, session, ref, layer, known[layer.diff_id], report)
    if len(layers) > 1:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=PARALLEL_UPLOADS) as pool:
            descriptors = list(pool.map(one, layers))
    else:
        descriptors = [one(layer) for layer in layers]
    for layer, d in zip(layers, descriptors):
        store.layers.add_blob_source(layer.diff_id, d.digest, d.media_type, d.size, ref.name)
    config = store.content.read(image.id)
    _upload_bytes(session, ref, config, image.id)
    manifest = canonical_json(Manifest(mediatype.OCI_MANIFEST, Descriptor(mediatype.OCI_CONFIG, image.id, len(config)),
                                       tuple(descriptors)).to_dict())
    response = session.request("PUT", f"/v2/{ref.repository}/manifests/{ref.tag or 'latest'}",
                               scope=scope(ref, "pull,push"), body=manifest, ok=(201, 200),
                               headers={"Content-Type": mediatype.OCI_MANIFEST, "Content-Length": str(len(manifest))})
    close(response)
    digest = Digest.of_bytes(manifest)
    store.images.add(config, layers, [], repo_digests=[f"{ref.name}@{digest}"])
    return digest
