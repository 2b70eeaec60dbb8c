"""Load images from an archive (file, stream or layout directory) into the store."""
from __future__ import annotations

import os
import shutil

from berth.archive import CHUNK
from berth.archive.compression import detect_compression, open_decompressed
from berth.errors import InvalidImage
from berth.oci.image import ImageConfig
from berth.store import fsutil
from berth.transport import docker_archive, oci_layout
from berth.transport.tarfiles import TarIndex


def read_images(path: str, staging_dir: str):
    """Describe the images in the archive at `path` (a tar, compressed tar or OCI layout dir)."""
    if os.path.isdir(path):
        return oci_layout.read(oci_layout.DirSource(path))
    with open(path, "rb") as f:
        head = f.read(6)
    if detect_compression(head):
        plain = os.path.join(staging_dir, "archive.tar")
        with open(path, "rb") as f, open(plain, "wb") as out:
            reader, _ = open_decompressed(f)
            shutil.copyfileobj(reader, out, CHUNK)
        path = plain
    index = TarIndex(path)
    if index.has("manifest.json"):
        return docker_archive.read(index)
    if index.has("index.json"):
        return oci_layout.read(index)
    raise InvalidImage("not an image archive: neither manifest.json (docker-archive) nor index.json (OCI) found")


def spool(stream, staging_dir: str) -> str:
    """Copy a non-seekable input (stdin) to a staging file so members can be read in any order."""
    path = os.path.join(staging_dir, "input")
    with open(path, "wb") as out:
        shutil.copyfileobj(stream, out, CHUNK)
    return path


def load(store, path: str | None = None, stream=None):
    """Returns [(Image, tags)] in archive order. Nothing is tagged unless every layer loaded."""
    with fsutil.Staging(store.tmp, "load-") as staging:
        if path is None:
            path = spool(stream, staging.path)
        images = read_images(path, staging.path)
        loaded = []
        for item in images:
            diff_ids = ImageConfig.parse(item.config).diff_ids
            layers = store.layers.add_stack([(source.open, diff_id, source.digest)
                                             for source, diff_id in zip(item.layers, diff_ids)])
            loaded.append((store.images.add(item.config, layers, item.tags), item.tags))
        return loaded
