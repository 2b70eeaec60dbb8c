"""OCI image layout (spec image-layout.md), as a directory or as a tar archive (oci-archive)."""
from __future__ import annotations

import os

from berth.archive import CHUNK
from berth.errors import InvalidImage, InvalidReference
from berth.oci import mediatype
from berth.oci.descriptor import Descriptor
from berth.oci.digest import Digest
from berth.oci.image import MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE, ImageConfig, Index, Manifest, canonical_json
from berth.oci.platform import Platform
from berth.oci.reference import Reference
from berth.transport.model import ArchiveImage, LayerSource
from berth.transport.tarfiles import ArchiveWriter

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


class DirSource:
    """Blob access for a layout directory, never following a path out of it."""

    def __init__(self, path: str):
        self.path = path

    def has(self, name: str) -> bool:
        return os.path.isfile(self._safe(name))

    def _safe(self, name: str) -> str:
        full = os.path.realpath(os.path.join(self.path, name))
        if not full.startswith(os.path.realpath(self.path) + os.sep):
            raise InvalidImage(f"OCI layout entry {name!r} points outside the layout")
        return full

    def open(self, name: str):
        return open(self._safe(name), "rb", buffering=CHUNK)

    def read(self, name: str, limit: int) -> bytes:
        with self.open(name) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise InvalidImage(f"{name} is larger than {limit} bytes")
        return data


def _blob(d: Digest) -> str:
    return f"blobs/{d.algorithm}/{d.hex}"


def _read_blob(source, desc: Descriptor, limit: int) -> bytes:
    if not source.has(_blob(desc.digest)):
        raise InvalidImage(f"OCI layout is missing blob {desc.digest}")
    data = source.read(_blob(desc.digest), limit)
    if Digest.of_bytes(data, desc.digest.algorithm) != desc.digest:
        raise InvalidImage(f"OCI layout blob {desc.digest} does not match its digest")
    return data


def _name(desc: Descriptor) -> list[Reference]:
    for key in (CONTAINERD_NAME, REF_NAME):
        value = desc.annotations.get(key)
        if not value:
            continue
        try:
            ref = Reference.parse(value)
        except InvalidReference:
            continue
        if "/" in value or ":" in value:  # a bare tag ("latest") names no repository
            return [ref]
    return []


def read(source, platform: Platform | None = None) -> list[ArchiveImage]:
    if not source.has("index.json"):
        raise InvalidImage("not an OCI layout: index.json is missing")
    index = Index.parse(source.read("index.json", MAX_MANIFEST_SIZE), mediatype.OCI_INDEX)
    images = []
    for desc in index.manifests:
        names = _name(desc)
        if desc.media_type in mediatype.INDEXES:
            nested = Index.parse(_read_blob(source, desc, MAX_MANIFEST_SIZE), desc.media_type)
            chosen = nested.select(platform or Platform.host())
            if chosen is None:
                raise InvalidImage(f"index {desc.digest} has no image for {platform or Platform.host()}")
            desc = chosen
        if desc.media_type not in mediatype.MANIFESTS:
            continue  # artifacts and other content are not images
        manifest = Manifest.parse(_read_blob(source, desc, MAX_MANIFEST_SIZE), desc.media_type)
        config = _read_blob(source, manifest.config, MAX_CONFIG_SIZE)
        if len(ImageConfig.parse(config).diff_ids) != len(manifest.layers):
            raise InvalidImage(f"manifest {desc.digest}: layer count differs from the config's diff_ids")
        layers = []
        for layer in manifest.layers:
            if not mediatype.is_layer(layer.media_type):
                raise InvalidImage(f"unsupported layer media type {layer.media_type!r}")
            if not source.has(_blob(layer.digest)):
                raise InvalidImage(f"OCI layout is missing layer blob {layer.digest}")
            layers.append(LayerSource(open=lambda n=_blob(layer.digest): source.open(n), digest=layer.digest))
        images.append(ArchiveImage(config, layers, names))
    if not images:
        raise InvalidImage("OCI layout contains no image manifest")
    return images


def write(put_bytes, put_stream, images: list[tuple[list, bytes, list]], write_layer) -> None:
    """Lay out `images` through `put_bytes(name, data)` / `put_stream(name, size, fn)`."""
    manifests, written = [], set()
    for tags, config, layers in images:
        config_id = Digest.of_bytes(config)
        put_bytes(_blob(config_id), config)
        for layer in layers:
            name = _blob(layer.diff_id)
            if name not in written:
                put_stream(name, layer.tar_size, lambda o, layer=layer: write_layer(layer, o))
                written.add(name)
        manifest = Manifest(mediatype.OCI_MANIFEST, Descriptor(mediatype.OCI_CONFIG, config_id, len(config)),
                            tuple(Descriptor(mediatype.OCI_LAYER, layer.diff_id, layer.tar_size) for layer in layers))
        data = canonical_json(manifest.to_dict())
        digest = Digest.of_bytes(data)
        if _blob(digest) not in written:
            put_bytes(_blob(digest), data)
            written.add(_blob(digest))
        for ref in tags or [None]:
            annotations = {REF_NAME: str(ref), CONTAINERD_NAME: str(ref)} if ref else {}
            manifests.append(Descriptor(mediatype.OCI_MANIFEST, digest, len(data), annotations).to_dict())
    put_bytes("oci-layout", LAYOUT)
    put_bytes("index.json", canonical_json({"schemaVersion": 2, "mediaType": mediatype.OCI_INDEX, "manifests": manifests}))


def write_archive(out, images, write_layer) -> None:
    w = ArchiveWriter(out)
    write(w.add_bytes, w.add_stream, images, write_layer)
    w.close()


def write_dir(path: str, images, write_layer) -> None:
    os.makedirs(path, exist_ok=True)

    def put_bytes(name, data):
        full = os.path.join(path, name)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)

    def put_stream(name, size, fn):
        full = os.path.join(path, name)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            fn(f)

    write(put_bytes, put_stream, images, write_layer)
