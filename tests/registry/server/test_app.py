"""Routing, the API version header, error bodies, and names that try to leave the storage dir."""
import os
import socket

import pytest

from registry_helpers import digest_of, files_under


def test_base_endpoint(registry):
    resp = registry.client().get("/v2/")
    assert resp.status == 200 and resp.json() == {}
    assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert registry.client().get("/v2").status == 200


def test_unknown_paths_and_methods(registry):
    client = registry.client()
    resp = client.get("/v1/_ping")
    assert resp.status == 404 and resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert client.get("/v2/repo/unknown/thing").status == 404
    resp = client.request("POST", f"/v2/app/repo/blobs/{digest_of(b'x')}")
    assert resp.status == 405 and resp.error_codes == ["UNSUPPORTED"]
    resp = client.request("DELETE", "/v2/app/repo/tags/list")
    assert resp.status == 405 and resp.error_codes == ["UNSUPPORTED"]


def test_error_body_shape(registry):
    resp = registry.client().get(f"/v2/app/none/blobs/{digest_of(b'none')}")
    body = resp.json()
    assert resp.headers["Content-Type"].startswith("application/json")
    assert set(body) == {"errors"} and len(body["errors"]) == 1
    assert set(body["errors"][0]) == {"code", "message", "detail"}
    assert body["errors"][0]["code"] == "BLOB_UNKNOWN" and body["errors"][0]["message"]


def _raw_status(port, path, method="GET", body=b""):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                  f"Connection: close\r\n\r\n".encode() + body)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    head, _, payload = out.partition(b"\r\n\r\n")
    return int(head.split()[1]), payload


BAD_NAMES = ["..", "../..", "a/../../b", "a/..", "%2e%2e", "a%2F..%2F..%2Fb", "a%2fb", "/etc", "a//b", "A/b",
             "a/./b", "-a", "a-", "a__", "_layers", "a/_manifests", "a" * 256, "a%20b", "a\\b", "..%2f..%2fetc"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_path_traversal_names_are_refused(registry, tmp_path, name):
    before = files_under(registry.storage)
    digest = digest_of(b"evil")
    for method, path, body in [
        ("GET", f"/v2/{name}/tags/list", b""),
        ("GET", f"/v2/{name}/blobs/{digest}", b""),
        ("GET", f"/v2/{name}/manifests/latest", b""),
        ("PUT", f"/v2/{name}/manifests/latest", b"{}"),
        ("POST", f"/v2/{name}/blobs/uploads/?digest={digest}", b"evil"),
        ("POST", f"/v2/{name}/blobs/uploads/", b""),
        ("GET", f"/v2/{name}/referrers/{digest}", b""),
    ]:
        status, payload = _raw_status(registry.port, path, method, body)
        assert status == 400, (method, path, status, payload)
        assert b'"NAME_INVALID"' in payload, (method, path, payload)
    assert files_under(registry.storage) == before
    parent = os.path.dirname(registry.storage)
    assert not any("evil" in f for f in files_under(parent))


def test_dot_segments_in_references_are_refused(registry):
    client = registry.client()
    for path in ("/v2/app/x/manifests/..", "/v2/app/x/blobs/..", "/v2/app/x/blobs/uploads/..",
                 "/v2/app/x/manifests/%2e%2e"):
        status, _ = _raw_status(registry.port, path)
        assert status in (400, 404), path
    assert client.get("/v2/app/x/manifests/..%2F..%2Fetc").status in (400, 404)
