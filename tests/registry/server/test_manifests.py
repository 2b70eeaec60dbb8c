"""Manifests: PUT validation, GET/HEAD by tag and digest, content types, Accept, DELETE."""
import json
import os

from registry_helpers import (DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, blob_path, digest_of,
                              image_manifest, index_manifest)


def test_oci_manifest_by_tag_and_digest(registry):
    client = registry.client()
    digest, manifest = client.push_image("man/oci", "v1")
    assert digest == digest_of(manifest)
    for reference in ("v1", digest):
        resp = client.get(f"/v2/man/oci/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
        assert resp.status == 200
        assert resp.body == manifest  # byte for byte, indentation included
        assert resp.headers["Content-Type"] == OCI_MANIFEST
        assert resp.headers["Docker-Content-Digest"] == digest
        assert resp.headers["ETag"] == f'"{digest}"'
        head = client.head(f"/v2/man/oci/manifests/{reference}")
        assert head.status == 200 and head.body == b""
        assert head.headers["Content-Length"] == str(len(manifest))
        assert head.headers["Content-Type"] == OCI_MANIFEST
    with open(blob_path(registry.storage, digest), "rb") as f:
        assert f.read() == manifest
    resp = client.get("/v2/man/oci/manifests/v1", headers={"If-None-Match": f'"{digest}"'})
    assert resp.status == 304


def test_put_response_headers(registry):
    client = registry.client()
    config = client.push_blob("man/put", b"{}")
    manifest = image_manifest(config, 2, [])
    resp = client.push_manifest("man/put", "latest", manifest)
    assert resp.status == 201
    digest = digest_of(manifest)
    assert resp.headers["Location"] == f"/v2/man/put/manifests/{digest}"
    assert resp.headers["Docker-Content-Digest"] == digest
    assert "OCI-Subject" not in resp.headers


def test_docker_schema2_and_accept(registry):
    client = registry.client()
    digest, manifest = client.push_image("man/docker", "1", media_type=DOCKER_MANIFEST)
    resp = client.get("/v2/man/docker/manifests/1", headers={"Accept": f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"})
    assert resp.status == 200 and resp.headers["Content-Type"] == DOCKER_MANIFEST and resp.body == manifest
    # design choice: no conversion; an Accept list without the stored type is a 404
    resp = client.get("/v2/man/docker/manifests/1", headers={"Accept": OCI_MANIFEST})
    assert resp.status == 404 and resp.error_codes == ["MANIFEST_UNKNOWN"]
    for accept in ("*/*", "application/*", f"{DOCKER_MANIFEST};q=0.9"):
        assert client.get("/v2/man/docker/manifests/1", headers={"Accept": accept}).status == 200, accept
    assert client.get("/v2/man/docker/manifests/1").status == 200  # no Accept at all


def test_indexes(registry):
    client = registry.client()
    amd, amd_bytes = client.push_image("man/index", "amd", layers=[b"amd layer"])
    arm, arm_bytes = client.push_image("man/index", "arm", layers=[b"arm layer"])
    for media_type in (OCI_INDEX, DOCKER_LIST):
        child_type = OCI_MANIFEST
        index = index_manifest([(amd, len(amd_bytes), child_type), (arm, len(arm_bytes), child_type)], media_type)
        resp = client.push_manifest("man/index", "multi", index, media_type)
        assert resp.status == 201, resp
        got = client.get("/v2/man/index/manifests/multi", headers={"Accept": media_type})
        assert got.body == index and got.headers["Content-Type"] == media_type
    missing = digest_of(b"no such manifest")
    index = index_manifest([(amd, len(amd_bytes), OCI_MANIFEST), (missing, 10, OCI_MANIFEST)])
    resp = client.push_manifest("man/index", "broken", index, OCI_INDEX)
    assert resp.status == 400 and resp.error_codes == ["MANIFEST_BLOB_UNKNOWN"]
    assert resp.json()["errors"][0]["detail"] == {"digest": missing}
    assert client.get("/v2/man/index/manifests/broken").status == 404


def test_missing_blobs_are_refused(registry):
    client = registry.client()
    config = client.push_blob("man/missing", b'{"a": 1}')
    missing_layer = digest_of(b"not pushed")
    manifest = image_manifest(config, 8, [(missing_layer, 10)])
    resp = client.push_manifest("man/missing", "x", manifest)
    assert resp.status == 400 and resp.error_codes == ["MANIFEST_BLOB_UNKNOWN"]
    # a blob pushed to another repository does not count
    elsewhere = client.push_blob("man/elsewhere", b"layer elsewhere")
    resp = client.push_manifest("man/missing", "x", image_manifest(config, 8, [(elsewhere, 15)]))
    assert resp.error_codes == ["MANIFEST_BLOB_UNKNOWN"]
    resp = client.push_manifest("man/missing", "x", image_manifest(digest_of(b"no config"), 9, []))
    assert resp.error_codes == ["MANIFEST_BLOB_UNKNOWN"]
    assert not os.path.exists(blob_path(registry.storage, digest_of(manifest)))
    assert client.get("/v2/man/missing/tags/list").json()["tags"] == []


def test_invalid_manifests(registry):
    client = registry.client()
    config = client.push_blob("man/invalid", b"{}")
    good = json.loads(image_manifest(config, 2, []))
    cases = [
        (b"not json", OCI_MANIFEST),
        (b"[1, 2]", OCI_MANIFEST),
        (json.dumps({**good, "schemaVersion": 1}).encode(), OCI_MANIFEST),
        (json.dumps({k: v for k, v in good.items() if k != "layers"}).encode(), OCI_MANIFEST),
        (json.dumps({**good, "config": {"mediaType": "x", "digest": "sha256:bad", "size": 2}}).encode(), OCI_MANIFEST),
        (json.dumps(good).encode(), DOCKER_MANIFEST),  # Content-Type differs from mediaType
        (json.dumps({**good, "mediaType": "application/vnd.example+json"}).encode(), "application/vnd.example+json"),
        (json.dumps({"schemaVersion": 1, "name": "x", "tag": "y", "fsLayers": []}).encode(),
         "application/vnd.docker.distribution.manifest.v1+prettyjws"),
        (json.dumps({**good, "subject": "sha256:nope"}).encode(), OCI_MANIFEST),
    ]
    for body, content_type in cases:
        resp = client.push_manifest("man/invalid", "t", body, content_type)
        assert resp.status == 400, (body, resp)
        assert resp.error_codes == ["MANIFEST_INVALID"], (body, resp)
    # mediaType omitted: Content-Type decides
    body = json.dumps({k: v for k, v in good.items() if k != "mediaType"}).encode()
    assert client.push_manifest("man/invalid", "t", body, OCI_MANIFEST).status == 201
    for bad_tag in ("-leading-dash", "a" * 129, ".dot"):
        assert client.push_manifest("man/invalid", bad_tag, body).status == 400, bad_tag


def test_oversized_manifest_is_413(registry):
    client = registry.client()
    config = client.push_blob("man/big", b"{}")
    manifest = image_manifest(config, 2, [], extra={"annotations": {"pad": "x" * (4 << 20)}})
    resp = client.push_manifest("man/big", "big", manifest)
    assert resp.status == 413 and resp.error_codes == ["MANIFEST_INVALID"]

    def chunked():  # no Content-Length to refuse up front
        yield manifest[:1 << 20]
        yield manifest[1 << 20:]

    resp = client.request("PUT", "/v2/man/big/manifests/big", body=chunked(), headers={"Content-Type": OCI_MANIFEST})
    assert resp.status == 413
    assert not os.path.exists(blob_path(registry.storage, digest_of(manifest)))
    # just under the limit is fine
    pad = (4 << 20) - len(image_manifest(config, 2, [], extra={"annotations": {"pad": ""}}))
    manifest = image_manifest(config, 2, [], extra={"annotations": {"pad": "x" * pad}})
    assert len(manifest) == 4 << 20
    assert client.push_manifest("man/big", "big", manifest).status == 201


def test_put_by_digest_and_sha512(registry):
    client = registry.client()
    config = client.push_blob("man/bydigest", b"{}")
    manifest = image_manifest(config, 2, [])
    for algorithm in ("sha256", "sha512"):
        digest = digest_of(manifest, algorithm)
        resp = client.push_manifest("man/bydigest", digest, manifest)
        assert resp.status == 201 and resp.headers["Docker-Content-Digest"] == digest
        got = client.get(f"/v2/man/bydigest/manifests/{digest}")
        assert got.body == manifest and got.headers["Docker-Content-Digest"] == digest
    wrong = digest_of(b"something else")
    resp = client.push_manifest("man/bydigest", wrong, manifest)
    assert resp.status == 400 and resp.error_codes == ["DIGEST_INVALID"]
    assert client.get("/v2/man/bydigest/tags/list").json()["tags"] == []


def test_unknown_manifest(registry):
    client = registry.client()
    for reference in ("nope", digest_of(b"nope")):
        resp = client.get(f"/v2/man/unknown/manifests/{reference}")
        assert resp.status == 404 and resp.error_codes == ["MANIFEST_UNKNOWN"]
    assert client.get("/v2/man/unknown/manifests/sha256:123").error_codes == ["DIGEST_INVALID"]


def test_delete_by_tag_and_by_digest(registry):
    client = registry.client()
    digest, _ = client.push_image("man/delete", "a")
    client.push_manifest("man/delete", "b", client.get("/v2/man/delete/manifests/a").body)
    assert client.request("DELETE", "/v2/man/delete/manifests/a").status == 202
    assert client.get("/v2/man/delete/manifests/a").status == 404
    assert client.get("/v2/man/delete/manifests/b").status == 200
    assert client.get(f"/v2/man/delete/manifests/{digest}").status == 200
    assert client.request("DELETE", f"/v2/man/delete/manifests/{digest}").status == 202
    for reference in ("b", digest):
        resp = client.get(f"/v2/man/delete/manifests/{reference}")
        assert resp.status == 404 and resp.error_codes == ["MANIFEST_UNKNOWN"]
    assert client.get("/v2/man/delete/tags/list").json()["tags"] == []
    resp = client.request("DELETE", f"/v2/man/delete/manifests/{digest}")
    assert resp.status == 404 and resp.error_codes == ["MANIFEST_UNKNOWN"]


def test_retag_moves_tag(registry):
    client = registry.client()
    first, _ = client.push_image("man/retag", "latest", layers=[b"first"])
    second, _ = client.push_image("man/retag", "latest", layers=[b"second"])
    assert first != second
    assert client.head("/v2/man/retag/manifests/latest").headers["Docker-Content-Digest"] == second
    assert client.get(f"/v2/man/retag/manifests/{first}").status == 200


def test_hostile_json_bodies_are_400_not_500(registry):
    client = registry.client()
    config = client.push_blob("man/json", b"{}")
    good = json.loads(image_manifest(config, 2, []))
    bodies = {
        "nested array": b"[" * 100_000,
        "nested object": b'{"a":' * 100_000,
        "nested in a valid manifest": json.dumps({**good, "annotations": {"x": "PLACEHOLDER"}})
        .replace('"PLACEHOLDER"', "[" * 5000 + "]" * 5000).encode(),
        "NaN size": json.dumps(good).replace('"size": 2', '"size": NaN').encode(),
        "UTF-32 garbage": b"\x00\x00\x00[" * 10 + b"\xff",
    }
    for what, body in bodies.items():
        resp = client.push_manifest("man/json", "v1", body)
        assert resp.status == 400 and resp.error_codes == ["MANIFEST_INVALID"], (what, resp)
    assert client.get("/v2/man/json/manifests/v1").status == 404
    assert client.push_manifest("man/json", "v1", json.dumps(good).encode()).status == 201
