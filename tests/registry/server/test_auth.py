"""htpasswd Basic auth and read-only mode."""
import base64

import bcrypt
import pytest

from registry_helpers import digest_of


@pytest.fixture
def htpasswd(tmp_path):
    path = tmp_path / "htpasswd"
    # cost 4 keeps the test fast; $2y$ is what `htpasswd -B` writes
    alice = bcrypt.hashpw(b"wonderland", bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$", 1)
    bob = bcrypt.hashpw(b"builder", bcrypt.gensalt(4)).decode()
    path.write_text(f"# users\nalice:{alice}\n\nbob:{bob}\n")
    return path


def test_basic_auth(start_registry, htpasswd):
    server = start_registry("--htpasswd", htpasswd)
    anonymous = server.client()
    for path in ("/v2/", "/v2/_catalog", "/v2/some/repo/tags/list"):
        resp = anonymous.get(path)
        assert resp.status == 401, path
        assert resp.headers["WWW-Authenticate"] == 'Basic realm="berth-registry"'
        assert resp.error_codes == ["UNAUTHORIZED"]
    resp = anonymous.request("POST", f"/v2/x/blobs/uploads/?digest={digest_of(b'a')}", body=b"a")
    assert resp.status == 401
    for user, password in (("alice", "wrong"), ("mallory", "wonderland"), ("alice", "")):
        resp = server.client((user, password)).get("/v2/")
        assert resp.status == 401 and resp.headers["WWW-Authenticate"] == 'Basic realm="berth-registry"'
    resp = anonymous.get("/v2/", headers={"Authorization": "Basic !!!notbase64"})
    assert resp.status == 401
    resp = anonymous.get("/v2/", headers={"Authorization": "Bearer abc"})
    assert resp.status == 401
    alice = server.client(("alice", "wonderland"))
    assert alice.get("/v2/").status == 200
    assert alice.get("/v2/").status == 200  # from the verified-credentials cache
    digest = alice.push_blob("team/app", b"secret layer")
    assert server.client(("bob", "builder")).get(f"/v2/team/app/blobs/{digest}").body == b"secret layer"
    assert anonymous.get(f"/v2/team/app/blobs/{digest}").status == 401
    assert server.client(("alice", "builder")).get(f"/v2/team/app/blobs/{digest}").status == 401


def test_non_bcrypt_htpasswd_is_refused(start_registry, tmp_path):
    path = tmp_path / "htpasswd"
    path.write_text("carol:$apr1$abcdefgh$0123456789abcdefghijkl\n")
    with pytest.raises(AssertionError, match="non-bcrypt"):
        start_registry("--htpasswd", path)
    with pytest.raises(AssertionError, match="cannot read htpasswd"):
        start_registry("--htpasswd", tmp_path / "missing")


def test_read_only(start_registry, tmp_path):
    root = tmp_path / "root"
    writable = start_registry(root=root)
    digest, manifest = writable.client().push_image("ro/app", "v1")
    writable.stop()
    server = start_registry("--read-only", root=root)
    client = server.client()
    assert client.get("/v2/ro/app/manifests/v1").body == manifest
    attempts = [("POST", "/v2/ro/app/blobs/uploads/", b""),
                ("POST", f"/v2/ro/app/blobs/uploads/?digest={digest_of(b'x')}", b"x"),
                ("PUT", "/v2/ro/app/manifests/v2", manifest),
                ("DELETE", f"/v2/ro/app/manifests/{digest}", b""),
                ("DELETE", "/v2/ro/app/manifests/v1", b"")]
    for method, path, body in attempts:
        resp = client.request(method, path, body=body)
        assert resp.status == 405, (method, path)
        assert resp.error_codes == ["UNSUPPORTED"]
        assert "read-only" in resp.json()["errors"][0]["message"]
    assert client.get("/v2/ro/app/tags/list").json()["tags"] == ["v1"]
    assert client.head(f"/v2/ro/app/manifests/{digest}").status == 200


def test_basic_header_helper_roundtrip():
    # guards the test client's own encoding
    assert base64.b64decode(base64.b64encode(b"a:b")) == b"a:b"
