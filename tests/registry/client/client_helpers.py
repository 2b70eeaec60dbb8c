"""Helpers for client tests: images pushed through the registry API."""
from __future__ import annotations

import gzip
import hashlib
import json
import tarfile

from helpers import image_config, layer_tar
from registry_helpers import Client, image_manifest

def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_files_image(client: Client, repo: str, tag: str, layers: list[dict], arch: str = "amd64",
                     cmd=("sh",)) -> tuple[str, list[bytes]]:
    """Push an image whose gzip layers hold `layers` (file dicts); returns (manifest digest, layer tars)."""
    tars = [layer_tar(files) for files in layers]
    config = json.loads(image_config([sha256(t) for t in tars], cmd=cmd))
    config["architecture"] = arch
    config_bytes = json.dumps(config).encode()
    blobs = [gzip.compress(t, mtime=0) for t in tars]
    manifest = image_manifest(client.push_blob(repo, config_bytes), len(config_bytes),
                              [(client.push_blob(repo, b), len(b)) for b in blobs])
    resp = client.push_manifest(repo, tag, manifest)
    assert resp.status == 201, resp
    return resp.headers["Docker-Content-Digest"], tars


def push_store_image(berth, image: str, client: Client, repo: str, tag: str, tmp_path) -> str:
    """Push an image from a berth store through the registry API (from `berth save`, gzip layers)."""
    archive = tmp_path / "save.tar"
    berth.run("save", "-o", archive, image)
    with tarfile.open(archive) as tf:
        entry = json.load(tf.extractfile("manifest.json"))[0]
        config = tf.extractfile(entry["Config"]).read()
        layers = [gzip.compress(tf.extractfile(name).read(), mtime=0) for name in entry["Layers"]]
    manifest = image_manifest(client.push_blob(repo, config), len(config),
                              [(client.push_blob(repo, b), len(b)) for b in layers])
    resp = client.push_manifest(repo, tag, manifest)
    assert resp.status == 201, resp
    return resp.headers["Docker-Content-Digest"]
