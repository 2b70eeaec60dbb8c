"""Pull an image into the store: manifest negotiation, platform choice, layers streamed in parallel.

Every byte is checked: the manifest against the digest asked for (or, for a tag, the digest the
registry states), the config against the manifest, and each layer on its way through the
archive module into the store (blob digest and diff_id). Layers already in the store are not
downloaded. Nothing is tagged unless the whole image arrived.
"""
from __future__ import annotations

import json

from berth.errors import InvalidImage, RegistryClientError
from berth.oci import mediatype
from berth.oci.descriptor import Descriptor
from berth.oci.digest import Digest
from berth.oci.image import MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE, ImageConfig, Index, Manifest
from berth.oci.platform import Platform
from berth.oci.reference import Reference
from berth.registry.client.session import Session

ACCEPT = ", ".join([mediatype.OCI_INDEX, mediatype.DOCKER_MANIFEST_LIST, mediatype.OCI_MANIFEST,
                    mediatype.DOCKER_MANIFEST])


def scope(ref: Reference, actions: str = "pull") -> str:
    return f"repository:{ref.repository}:{actions}"


def fetch_manifest(session: Session, ref: Reference, reference: str) -> tuple[bytes, str, Digest]:
    """(bytes, media type, digest) of a manifest or index, verified when asked for by digest."""
    try:
        data, response = session.get_bytes(f"/v2/{ref.repository}/manifests/{reference}", scope=scope(ref),
                                           headers={"Accept": ACCEPT}, limit=MAX_MANIFEST_SIZE)
    except RegistryClientError as e:
        if e.status == 404 or e.code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN"):
            what = "manifest" if reference.startswith("sha") else f"tag {reference!r}"
            raise RegistryClientError(f"{ref.familiar_name}: {what} not found in {ref.registry} "
                                      f"({e.code or e.status})", e.status, e.code) from None
        raise
    media_type = (response.getheader("Content-Type") or "").split(";")[0].strip()
    if media_type in (mediatype.DOCKER_SCHEMA1, mediatype.DOCKER_SCHEMA1_SIGNED):
        raise InvalidImage(f"{ref.familiar}: Docker schema1 manifests are not supported (deprecated since 2017); "
                           "re-push the image with a current client")
    wanted = Digest.parse(reference) if reference.startswith(("sha256:", "sha512:")) else None
    algorithm = wanted.algorithm if wanted else "sha256"
    digest = Digest.of_bytes(data, algorithm)
    if wanted is not None and digest != wanted:
        raise InvalidImage(f"{ref.familiar}: the registry sent a manifest with digest {digest}, not {wanted}")
    stated = response.getheader("Docker-Content-Digest")
    if wanted is None and stated and stated.startswith("sha256:") and stated != str(digest):
        raise InvalidImage(f"{ref.familiar}: manifest digest {digest} differs from the registry's {stated}")
    return data, media_type, digest


def resolve(session: Session, ref: Reference, platform: Platform) -> tuple[Digest, Manifest, Digest]:
    """(digest of what `ref` names, the image manifest for `platform`, that manifest's digest)."""
    data, media_type, top = fetch_manifest(session, ref, str(ref.digest) if ref.digest else ref.tag)
    kind = media_type if media_type in mediatype.INDEXES | mediatype.MANIFESTS else _media_type_of(data)
    digest = top
    if kind in mediatype.INDEXES:
        index = Index.parse(data, kind)
        chosen = index.select(platform)
        if chosen is None:
            have = sorted({str(m.platform) for m in index.manifests if m.platform})
            raise InvalidImage(f"{ref.familiar}: no image for platform {platform} "
                               f"(the index has: {', '.join(have) or 'none'}); choose one with --platform")
        data, media_type, digest = fetch_manifest(session, ref, str(chosen.digest))
        kind = media_type if media_type in mediatype.MANIFESTS else _media_type_of(data)
    return top, Manifest.parse(data, kind), digest


def describe(session: Session, ref: Reference) -> tuple[Descriptor, list[Platform]]:
    """What `ref` names in the registry (its manifest's or index's descriptor) and the platforms it
    offers (an index's entries; a manifest's config): docker's GET /distribution/{name}/json."""
    data, media_type, digest = fetch_manifest(session, ref, str(ref.digest) if ref.digest else ref.tag)
    kind = media_type if media_type in mediatype.INDEXES | mediatype.MANIFESTS else _media_type_of(data)
    if kind in mediatype.INDEXES:
        platforms = list(dict.fromkeys(m.platform for m in Index.parse(data, kind).manifests if m.platform))
    else:
        manifest = Manifest.parse(data, kind)
        config_bytes, _ = session.get_bytes(f"/v2/{ref.repository}/blobs/{manifest.config.digest}", scope=scope(ref),
                                            limit=MAX_CONFIG_SIZE)
        if Digest.of_bytes(config_bytes, manifest.config.digest.algorithm) != manifest.config.digest:
            raise InvalidImage(f"{ref.familiar}: the image config does not match its digest {manifest.config.digest}")
        platforms = [ImageConfig.parse(config_bytes).platform]
    return Descriptor(kind, digest, len(data)), platforms


def list_tags(session: Session, ref: Reference) -> list[str]:
    """Every tag of the repository, following the registry's `Link` pagination."""
    tags, path = [], f"/v2/{ref.repository}/tags/list?n=1000"
    while path:
        data, response = session.get_bytes(path, scope=scope(ref), limit=MAX_MANIFEST_SIZE)
        try:
            tags += json.loads(data).get("tags") or []
        except (ValueError, AttributeError):
            raise InvalidImage(f"{ref.familiar_name}: the registry sent a malformed tag list") from None
        link = response.getheader("Link") or ""
        path = link.split(";")[0].strip().strip("<>") if 'rel="next"' in link else ""
    return tags


def _media_type_of(data: bytes) -> str:
    try:
        doc = json.loads(data)
    except ValueError:
        raise InvalidImage("the registry sent a manifest that is not JSON") from None
    if not isinstance(doc, dict):
        raise InvalidImage("the registry sent a manifest that is not a JSON object")
    if doc.get("schemaVersion") == 1:
        raise InvalidImage("Docker schema1 manifests are not supported (deprecated since 2017)")
    if doc.get("mediaType"):
        return doc["mediaType"]
    return mediatype.OCI_INDEX if "manifests" in doc else mediatype.OCI_MANIFEST


def pull(store, session: Session, ref: Reference, platform: Platform, progress=None):
    """Pull `ref` into `store`; returns the Image (tagged `ref` when ref has a tag). `progress`
    (optional) gets start(key, size) / advance(key, n) / done(key, status) per layer."""
    top, manifest, _ = resolve(session, ref, platform)
    blobs = f"/v2/{ref.repository}/blobs"
    config_bytes, _ = session.get_bytes(f"{blobs}/{manifest.config.digest}", scope=scope(ref), limit=MAX_CONFIG_SIZE)
    if Digest.of_bytes(config_bytes, manifest.config.digest.algorithm) != manifest.config.digest:
        raise InvalidImage(f"{ref.familiar}: the image config does not match its digest {manifest.config.digest}")
    config = ImageConfig.parse(config_bytes)
    diff_ids = config.diff_ids
    layers = [d for d in manifest.layers if mediatype.is_layer(d.media_type)]
    if len(layers) != len(diff_ids):
        raise InvalidImage(f"{ref.familiar}: the manifest lists {len(layers)} layers, the config {len(diff_ids)}")

    present = store.layers.present(diff_ids)

    def opener(descriptor):
        key = descriptor.digest.hex

        def open_stream():
            if progress:
                progress.start(key, descriptor.size)
            return session.open_blob(f"{blobs}/{descriptor.digest}", scope=scope(ref), size=descriptor.size,
                                     on_read=(lambda n: progress.advance(key, n)) if progress else None)
        return open_stream
    if progress:
        for d, here in zip(layers, present):
            if here:
                progress.done(d.digest.hex, "Already exists")
    stack = store.layers.add_stack([(opener(d), diff_id, d.digest) for d, diff_id in zip(layers, diff_ids)])
    if progress:
        for d, here in zip(layers, present):
            if not here:
                progress.done(d.digest.hex, "Pull complete")
    for d, diff_id in zip(layers, diff_ids):  # a later push to this registry can skip or mount them
        store.layers.add_blob_source(diff_id, d.digest, d.media_type, d.size, ref.name)
    tags = [ref] if ref.tag and not ref.digest else []
    return store.images.add(config_bytes, stack, tags, repo_digests=[f"{ref.name}@{top}"])
