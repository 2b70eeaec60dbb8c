"""Blob GET/HEAD with ranges, and DELETE."""
import os

from registry_helpers import blob_path, digest_of

DATA = bytes(range(256)) * 40  # 10240 bytes


def test_get_and_head(registry):
    client = registry.client()
    digest = client.push_blob("blobs/get", DATA)
    resp = client.get(f"/v2/blobs/get/blobs/{digest}")
    assert resp.status == 200 and resp.body == DATA
    assert resp.headers["Docker-Content-Digest"] == digest
    assert resp.headers["Content-Length"] == str(len(DATA))
    assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    head = client.head(f"/v2/blobs/get/blobs/{digest}")
    assert head.status == 200 and head.body == b""
    assert head.headers["Content-Length"] == str(len(DATA))
    assert head.headers["Docker-Content-Digest"] == digest


def test_ranges(registry):
    client = registry.client()
    digest = client.push_blob("blobs/range", DATA)
    path = f"/v2/blobs/range/blobs/{digest}"
    resp = client.get(path, headers={"Range": "bytes=100-199"})
    assert resp.status == 206 and resp.body == DATA[100:200]
    assert resp.headers["Content-Range"] == f"bytes 100-199/{len(DATA)}"
    assert resp.headers["Content-Length"] == "100"
    resp = client.get(path, headers={"Range": "bytes=10000-"})
    assert resp.status == 206 and resp.body == DATA[10000:]
    resp = client.get(path, headers={"Range": "bytes=-17"})
    assert resp.status == 206 and resp.body == DATA[-17:]
    assert resp.headers["Content-Range"] == f"bytes {len(DATA) - 17}-{len(DATA) - 1}/{len(DATA)}"
    resp = client.get(path, headers={"Range": "bytes=-999999"})  # longer than the blob: all of it
    assert resp.status == 206 and resp.body == DATA
    resp = client.get(path, headers={"Range": "bytes=10000-99999"})  # end clamped
    assert resp.status == 206 and resp.body == DATA[10000:]
    for unsatisfiable in ("bytes=10240-", "bytes=999999-1000000", "bytes=-0"):
        resp = client.get(path, headers={"Range": unsatisfiable})
        assert resp.status == 416, unsatisfiable
        assert resp.headers["Content-Range"] == f"bytes */{len(DATA)}"
    # ignorable (RFC 9110): malformed or several ranges -> the whole blob
    for ignored in ("items=1-2", "bytes=5-1", "bytes=0-1,5-6"):
        resp = client.get(path, headers={"Range": ignored})
        assert resp.status == 200 and resp.body == DATA, ignored


def test_unknown_blob_and_bad_digest(registry):
    client = registry.client()
    missing = digest_of(b"missing")
    resp = client.get(f"/v2/blobs/unknown/blobs/{missing}")
    assert resp.status == 404 and resp.error_codes == ["BLOB_UNKNOWN"]
    assert resp.json()["errors"][0]["detail"] == {"digest": missing}
    assert client.head(f"/v2/blobs/unknown/blobs/{missing}").status == 404
    for bad in ("sha256:abc", "sha1:" + "0" * 40, "SHA256:" + "0" * 64, "latest"):
        resp = client.get(f"/v2/blobs/unknown/blobs/{bad}")
        assert resp.status == 400 and resp.error_codes == ["DIGEST_INVALID"], bad


def test_blob_of_another_repository_is_not_visible(registry):
    client = registry.client()
    digest = client.push_blob("blobs/private", b"only in private")
    resp = client.get(f"/v2/blobs/public/blobs/{digest}")
    assert resp.status == 404 and resp.error_codes == ["BLOB_UNKNOWN"]


def test_delete_unlinks_from_one_repository(registry):
    client = registry.client()
    digest = client.push_blob("blobs/del-a", b"shared content")
    client.push_blob("blobs/del-b", b"shared content")
    assert client.request("DELETE", f"/v2/blobs/del-a/blobs/{digest}").status == 202
    assert client.head(f"/v2/blobs/del-a/blobs/{digest}").status == 404
    assert client.get(f"/v2/blobs/del-b/blobs/{digest}").body == b"shared content"
    assert os.path.exists(blob_path(registry.storage, digest))
    resp = client.request("DELETE", f"/v2/blobs/del-a/blobs/{digest}")
    assert resp.status == 404 and resp.error_codes == ["BLOB_UNKNOWN"]


def test_empty_blob(registry):
    client = registry.client()
    digest = client.push_blob("blobs/empty", b"")
    resp = client.get(f"/v2/blobs/empty/blobs/{digest}")
    assert resp.status == 200 and resp.body == b"" and resp.headers["Content-Length"] == "0"


def test_blob_gone_after_its_link_was_looked_up_is_a_404(registry):
    # the content vanishing between the (cached) link lookup and the read, as when gc deletes it
    # at that moment, is answered as an unknown blob before any header goes out, not a broken 200
    client = registry.client()
    data = b"a blob that disappears"
    digest = client.push_blob("blobs/vanishing", data)
    assert client.get(f"/v2/blobs/vanishing/blobs/{digest}").body == data
    os.unlink(blob_path(registry.storage, digest))  # behind the server's back: no change recorded
    response = client.get(f"/v2/blobs/vanishing/blobs/{digest}")
    assert response.status == 404 and response.error_codes == ["BLOB_UNKNOWN"]
