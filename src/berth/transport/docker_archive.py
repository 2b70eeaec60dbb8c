"""docker-archive: the format of `docker save` / `podman save` (manifest.json + configs + layer tars)."""
from __future__ import annotations

import json

from berth.errors import InvalidImage, InvalidReference
from berth.oci.digest import Digest
from berth.oci.image import MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE, ImageConfig, canonical_json
from berth.oci.reference import Reference
from berth.transport.model import ArchiveImage, LayerSource
from berth.transport.tarfiles import ArchiveWriter, TarIndex


def read(index: TarIndex) -> list[ArchiveImage]:
    try:
        manifest = json.loads(index.read("manifest.json", MAX_MANIFEST_SIZE))
    except ValueError as e:
        raise InvalidImage(f"docker-archive manifest.json is not valid JSON: {e}") from None
    if not isinstance(manifest, list) or not manifest:
        raise InvalidImage("docker-archive manifest.json must be a non-empty list")
    images = []
    for item in manifest:
        if not isinstance(item, dict) or not isinstance(item.get("Config"), str) or not isinstance(item.get("Layers"), list):
            raise InvalidImage("docker-archive manifest.json entry needs Config and Layers")
        config = index.read(item["Config"], MAX_CONFIG_SIZE)
        diff_ids = ImageConfig.parse(config).diff_ids
        if len(diff_ids) != len(item["Layers"]):
            raise InvalidImage(f"{item['Config']}: {len(item['Layers'])} layers listed but config has {len(diff_ids)} diff_ids")
        tags = []
        for t in item.get("RepoTags") or []:
            try:
                tags.append(Reference.parse(t))
            except InvalidReference as e:
                raise InvalidImage(f"docker-archive has an invalid RepoTag: {e}") from None
        layers = []
        for path in item["Layers"]:
            if not isinstance(path, str) or not index.has(path):
                raise InvalidImage(f"docker-archive layer {path!r} is missing")
            layers.append(LayerSource(open=lambda p=path: index.open(p), digest=None))
        images.append(ArchiveImage(config, layers, tags))
    return images


def write(out, images: list[tuple[list, bytes, list]], write_layer) -> None:
    """`images`: (tags, config bytes, layers); `write_layer(layer, out)` streams one layer's tar."""
    w = ArchiveWriter(out)
    manifest, repositories, written = [], {}, set()
    for tags, config, layers in images:
        config_id = Digest.of_bytes(config)
        w.add_bytes(f"{config_id.hex}.json", config)
        names = []
        for layer in layers:
            name = f"{layer.diff_id.hex}.tar"
            if name not in written:
                w.add_stream(name, layer.tar_size, lambda o, layer=layer: write_layer(layer, o))
                written.add(name)
            names.append(name)
        manifest.append({"Config": f"{config_id.hex}.json", "RepoTags": [str(t) for t in tags], "Layers": names})
        for t in tags:
            repositories.setdefault(t.familiar_name, {})[t.tag] = layers[-1].diff_id.hex if layers else config_id.hex
    w.add_bytes("manifest.json", json.dumps(manifest).encode())
    if repositories:
        w.add_bytes("repositories", canonical_json(repositories))
    w.close()
