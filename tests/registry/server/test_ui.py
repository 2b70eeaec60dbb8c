"""The web UI: pages and their JSON, escaping of pushed text, dedup numbers, --no-ui, auth."""
import base64
import json
import os

import bcrypt
import pytest

from registry_helpers import OCI_INDEX, OCI_MANIFEST, blob_path, digest_of, index_manifest

HOSTILE = '<script>alert("x")</script>&\'"'


def _config(**run) -> bytes:
    return json.dumps({"architecture": "arm64", "os": "linux", "variant": "v8", "created": "2026-01-02T03:04:05Z",
                       "config": run, "rootfs": {"type": "layers", "diff_ids": []}}).encode()


def test_repository_and_manifest_pages(registry):
    client = registry.client()
    config = _config(Entrypoint=["/bin/serve"], Cmd=["--port", "80"], Labels={"evil": HOSTILE})
    digest, manifest = client.push_image("ui/app", "v1", layers=[b"ui layer one", b"ui layer two"], config=config,
                                         extra={"annotations": {"org.example.note": HOSTILE}})
    doc = json.loads(manifest)

    home = client.get("/")
    assert home.status == 200 and home.headers["Content-Type"].startswith("text/html")
    assert b'href="/ui/r/ui/app"' in home.body
    listed = {r["name"]: r for r in client.get("/?format=json").json()["repositories"]}
    total = len(manifest) + len(config) + len(b"ui layer one") + len(b"ui layer two")
    assert listed["ui/app"] == {"name": "ui/app", "tags": 1, "manifests": 1, "size": total}

    repo = client.get("/ui/r/ui/app")
    assert repo.status == 200 and b">v1<" in repo.body and digest[:19].encode() in repo.body
    assert b"linux/arm64/v8" in repo.body
    [tag] = client.get("/ui/r/ui/app?format=json").json()["tags"]
    assert tag["tag"] == "v1" and tag["digest"] == digest and tag["media_type"] == OCI_MANIFEST
    assert tag["size"] == total and tag["platforms"] == ["linux/arm64/v8"] and tag["updated"] > 0

    page = client.get(f"/ui/r/ui/app/manifests/{digest}")
    assert page.status == 200
    for layer in doc["layers"]:
        assert layer["digest"].encode() in page.body
    assert b"/bin/serve" in page.body and b"2026-01-02T03:04:05Z" in page.body
    # pushed text is shown, escaped; it never becomes markup
    assert b"<script>" not in page.body and b"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#x27;" in page.body
    data = client.get("/ui/r/ui/app/manifests/v1?format=json").json()
    assert data["digest"] == digest and data["annotations"] == {"org.example.note": HOSTILE}
    image = data["config"]["image"]
    assert image["entrypoint"] == ["/bin/serve"] and image["cmd"] == ["--port", "80"]
    assert [layer["size"] for layer in data["layers"]] == [12, 12]

    assert client.get("/ui/r/ui/nothing").status == 404
    assert client.get("/ui/r/ui/app/manifests/v9").status == 404
    assert client.get(f"/ui/r/ui/app/manifests/{digest_of(b'no')}?format=json").status == 404
    assert client.get("/ui/r/UI/..").status == 400


def test_index_and_referrers(registry):
    client = registry.client()
    child, child_bytes = client.push_image("ui/multi", "amd64", layers=[b"multi layer"])
    index = index_manifest([(child, len(child_bytes), OCI_MANIFEST)])
    resp = client.push_manifest("ui/multi", "v2", index, OCI_INDEX)
    assert resp.status == 201
    index_digest = resp.headers["Docker-Content-Digest"]
    signature, _ = client.push_image("ui/multi", "sig", layers=[b"signature"], extra={
        "artifactType": "application/vnd.example.signature",
        "subject": {"mediaType": OCI_INDEX, "digest": index_digest, "size": len(index)}})

    [v2] = [t for t in client.get("/ui/r/ui/multi?format=json").json()["tags"] if t["tag"] == "v2"]
    assert v2["platforms"] == ["linux/amd64"] and v2["media_type"] == OCI_INDEX
    page = client.get("/ui/r/ui/multi/manifests/v2")
    assert child.encode() in page.body and b"linux/amd64" in page.body and signature.encode() in page.body
    data = client.get(f"/ui/r/ui/multi/manifests/{index_digest}?format=json").json()
    assert data["kind"] == "index" and [m["digest"] for m in data["manifests"]] == [child]
    assert [(r["digest"], r["artifact_type"]) for r in data["referrers"]] == \
        [(signature, "application/vnd.example.signature")]


def test_dedup_summary(start_registry):
    server = start_registry()
    client = server.client()
    shared = b"a layer both repositories push" * 100
    pushed = []
    for repo in ("dedup/one", "dedup/two"):
        digest, manifest = client.push_image(repo, "latest", layers=[shared, repo.encode()])
        pushed.append((manifest, json.loads(manifest)))
    per_repo = [len(m) + doc["config"]["size"] + sum(layer["size"] for layer in doc["layers"]) for m, doc in pushed]
    # both use the same config and the shared layer: stored once
    blobs = {d["digest"]: d["size"] for _, doc in pushed for d in [doc["config"], *doc["layers"]]}
    blobs.update({digest_of(m): len(m) for m, _ in pushed})
    for digest in blobs:
        assert os.path.exists(blob_path(server.storage, digest))
    stored = sum(blobs.values())
    summary = client.get("/?format=json").json()["storage"]
    assert summary == {"repositories": 2, "blobs": len(blobs), "stored_bytes": stored,
                       "without_dedup_bytes": sum(per_repo), "saved_bytes": sum(per_repo) - stored}
    assert summary["saved_bytes"] == len(shared) + pushed[0][1]["config"]["size"]
    page = client.get("/").body.decode()
    assert f"2 repositories, {len(blobs)} blobs" in page and "saves 3.1 kB" in page


def test_no_ui_and_read_only_pages(start_registry):
    server = start_registry("--no-ui")
    client = server.client()
    for path in ("/", "/ui/r/some/repo", "/ui/r/some/repo/manifests/latest"):
        assert client.get(path).status == 404, path
    assert client.get("/v2/").status == 200 and client.get("/metrics").status == 200
    server = start_registry("--no-metrics", root=server.root + "-2")
    client = server.client()
    assert client.get("/metrics").status == 404 and client.get("/").status == 200
    for method in ("POST", "PUT", "DELETE"):
        assert client.request(method, "/", body=b"").status in (404, 405), method


@pytest.fixture
def htpasswd(tmp_path):
    path = tmp_path / "htpasswd"
    path.write_text(f"viewer:{bcrypt.hashpw(b'secret', bcrypt.gensalt(4)).decode()}\n")
    return path


def test_pages_need_credentials(start_registry, htpasswd):
    server = start_registry("--htpasswd", htpasswd)
    anonymous = server.client()
    for path in ("/", "/?format=json", "/ui/r/a/b", "/ui/r/a/b/manifests/latest", "/metrics"):
        resp = anonymous.get(path)
        assert resp.status == 401, path
        assert resp.headers["WWW-Authenticate"] == 'Basic realm="berth-registry"'
    wrong = "Basic " + base64.b64encode(b"viewer:wrong").decode()
    assert anonymous.get("/", headers={"Authorization": wrong}).status == 401
    viewer = server.client(("viewer", "secret"))
    viewer.push_image("auth/app", "v1")
    assert b"auth/app" in viewer.get("/").body
    assert viewer.get("/ui/r/auth/app").status == 200
    assert viewer.get("/metrics").status == 200
