"""`berth image copy`: registry to registry, byte for byte, indexes with their children."""
from __future__ import annotations

import json

import pytest

from client_helpers import push_files_image
from registry_helpers import OCI_INDEX, OCI_MANIFEST


def push_index(client, repo: str) -> tuple[str, bytes]:
    children = []
    for arch in ("amd64", "arm64"):
        digest, _ = push_files_image(client, repo, f"{arch}-only", [{f"arch-{arch}": arch.encode()}], arch=arch)
        body = client.get(f"/v2/{repo}/manifests/{digest}", headers={"Accept": OCI_MANIFEST}).body
        children.append({"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body),
                         "platform": {"os": "linux", "architecture": arch}})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    resp = client.push_manifest(repo, "multi", index, OCI_INDEX)
    assert resp.status == 201, resp
    return resp.headers["Docker-Content-Digest"], index


def test_copy_an_index_keeps_every_digest(berth, registry, start_registry):
    other = start_registry()
    digest, index = push_index(registry.client(), "src/app")
    out = berth.out("image", "copy", f"127.0.0.1:{registry.port}/src/app:multi", f"127.0.0.1:{other.port}/dst/app:v1")
    assert out.strip().endswith(f"digest: {digest}") and out.count(": copied") == 4  # 2 configs + 2 layers
    got = other.client().get("/v2/dst/app/manifests/v1", headers={"Accept": OCI_INDEX})
    assert got.body == index and got.headers["Docker-Content-Digest"] == digest
    berth.run("pull", "--platform", "linux/arm64", f"127.0.0.1:{other.port}/dst/app:v1")
    assert berth.json("image", "inspect", f"127.0.0.1:{other.port}/dst/app:v1")[0]["Architecture"] == "arm64"
    # within one registry, blobs are mounted rather than copied
    again = berth.out("image", "copy", f"127.0.0.1:{other.port}/dst/app:v1", f"127.0.0.1:{other.port}/dst2/app:v1")
    assert again.count(": mounted") == 4 and ": copied" not in again


def test_copy_to_a_digest_or_from_nowhere_fails_cleanly(berth, registry):
    base = f"127.0.0.1:{registry.port}"
    err = berth.run("image", "copy", f"{base}/src/none:1", f"{base}/dst/none:1", check=False)
    assert err.returncode == 1 and b"not found" in err.stderr and len(err.stderr.splitlines()) == 1
    err = berth.run("image", "copy", f"{base}/src/none:1", f"{base}/dst/none@sha256:" + "b" * 64, check=False)
    assert err.returncode == 1 and b"cannot copy to a digest reference" in err.stderr


@pytest.mark.peers
def test_copy_through_docker_registry_and_back(berth, registry, distribution):
    digest, _ = push_files_image(registry.client(), "peer/src", "1", [{"hello": b"world\n"}])
    peer_ref = f"{distribution}/berth-copy/app:1"
    berth.run("image", "copy", f"127.0.0.1:{registry.port}/peer/src:1", peer_ref)
    out = berth.out("image", "copy", peer_ref, f"127.0.0.1:{registry.port}/peer/back:1")
    assert out.strip().endswith(digest)


@pytest.mark.peers
def test_multi_platform_index_through_docker_registry(berth, registry, distribution):
    digest, _ = push_index(registry.client(), "peer/multi")
    peer_ref = f"{distribution}/berth-copy/multi:1"
    assert berth.out("image", "copy", f"127.0.0.1:{registry.port}/peer/multi:multi", peer_ref).strip().endswith(digest)
    berth.run("pull", "--platform", "linux/arm64", peer_ref)
    assert berth.json("image", "inspect", peer_ref)[0]["Architecture"] == "arm64"
    berth.run("rmi", peer_ref)
    berth.run("pull", "--platform", "linux/amd64", peer_ref)
    assert berth.json("image", "inspect", peer_ref)[0]["Architecture"] == "amd64"
