"""`berth pull`, `login`, `logout` against real registries: berth's own and Debian's docker-registry."""
from __future__ import annotations

import base64
import gzip
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading

import pytest

from helpers import image_config, layer_tar, snapshot
from client_helpers import push_files_image, push_store_image, sha256
from registry_helpers import OCI_INDEX, OCI_MANIFEST, blob_path, image_manifest

def test_pull_runs_and_records_the_digest(busybox, registry, tmp_path):
    client = registry.client()
    digest = push_store_image(busybox, "busybox", client, "tools/busybox", "1", tmp_path)
    remote = f"127.0.0.1:{registry.port}/tools/busybox:1"
    out = busybox.out("pull", remote)
    assert f"Digest: {digest}" in out and out.strip().endswith(remote)
    assert busybox.out("run", "--rm", remote, "echo", "pulled") == "pulled\n"
    local, pulled = busybox.json("image", "inspect", "busybox")[0], busybox.json("image", "inspect", remote)[0]
    assert pulled["Id"] == local["Id"]  # same config: same image, layers shared with the local one
    assert f"127.0.0.1:{registry.port}/tools/busybox@{digest}" in pulled["RepoDigests"]


def test_pull_by_digest_and_layers_already_present(berth, registry):
    client = registry.client()
    digest, tars = push_files_image(client, "app/files", "v1", [{"etc/": None, "etc/one": b"1\n"},
                                                               {"etc/two": b"2\n"}])
    base = f"127.0.0.1:{registry.port}/app/files"
    berth.run("pull", f"{base}@{digest}")
    assert berth.out("images", "-q") .strip()
    # a second image sharing the first layer: only the new layer is unpacked, the shared one is reused
    push_files_image(client, "app/files", "v2", [{"etc/": None, "etc/one": b"1\n"}, {"etc/three": b"3\n"}])
    berth.run("pull", f"{base}:v2")
    tree = berth.out("image", "tree", f"{base}:v2")
    assert "shared with" in tree


def test_platform_selection_from_an_index(berth, registry):
    client = registry.client()
    children = []
    for arch in ("amd64", "arm64"):
        digest, _ = push_files_image(client, "multi/app", f"only-{arch}", [{f"arch-{arch}": arch.encode()}], arch=arch)
        size = len(client.get(f"/v2/multi/app/manifests/{digest}", headers={"Accept": OCI_MANIFEST}).body)
        children.append({"mediaType": OCI_MANIFEST, "digest": digest, "size": size,
                         "platform": {"os": "linux", "architecture": arch}})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    assert client.push_manifest("multi/app", "latest", index, OCI_INDEX).status == 201
    ref = f"127.0.0.1:{registry.port}/multi/app:latest"
    berth.run("pull", "--platform", "linux/arm64", ref)
    assert berth.json("image", "inspect", ref)[0]["Architecture"] == "arm64"
    err = berth.run("pull", "--platform", "linux/s390x", ref, check=False)
    assert err.returncode == 1 and b"no image for platform linux/s390x" in err.stderr
    assert b"linux/amd64" in err.stderr and b"linux/arm64" in err.stderr


@pytest.mark.parametrize("tamper, message", [
    (lambda blob: blob[:4] + b"\xff" + blob[5:], b"layer blob digest mismatch"),   # gzip mtime: still valid gzip
    (lambda blob: gzip.compress(layer_tar({"file": b"tampered, and longer\n"}), mtime=0), b"blob size mismatch"),
])
def test_wrong_blob_is_refused_and_nothing_is_stored(berth, start_registry, tamper, message):
    server = start_registry()
    client = server.client()
    digest, _ = push_files_image(client, "bad/blob", "1", [{"file": b"the real content\n"}])
    manifest = json.loads(client.get(f"/v2/bad/blob/manifests/{digest}", headers={"Accept": OCI_MANIFEST}).body)
    path = blob_path(server.storage, manifest["layers"][0]["digest"])
    with open(path, "rb") as f:
        blob = f.read()
    with open(path, "wb") as f:  # the registry now serves other bytes under the layer's digest
        f.write(tamper(blob))
    berth.run("images")  # create the store
    before = snapshot(berth.root)
    err = berth.run("pull", f"127.0.0.1:{server.port}/bad/blob:1", check=False)
    assert err.returncode == 1 and message in err.stderr, err.stderr
    assert len(err.stderr.decode().strip().splitlines()) == 1
    assert snapshot(berth.root) == before


@pytest.mark.parametrize("ref, message", [
    ("{r}/no/such:1", b"not found"),
    ("{r}/app/files:nope", b"tag 'nope' not found"),
    ("127.0.0.1:1/x:1", b"cannot reach registry 127.0.0.1:1"),
    ("{r}/UPPER:1", b"must be lowercase"),
])
def test_bad_pulls_are_one_clear_line(berth, registry, ref, message):
    push_files_image(registry.client(), "app/files", "v1", [{"f": b"x"}])
    berth.run("images")
    before = snapshot(berth.root)
    err = berth.run("pull", ref.format(r=f"127.0.0.1:{registry.port}"), check=False)
    assert err.returncode != 0 and message in err.stderr, err.stderr
    assert len(err.stderr.decode().strip().splitlines()) == 1
    assert snapshot(berth.root) == before


def test_login_logout_with_htpasswd(berth, start_registry, tmp_path):
    import bcrypt
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("alice:" + bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode() + "\n")
    server = start_registry("--htpasswd", htpasswd)
    push_files_image(server.client(auth=("alice", "s3cret")), "private/app", "1", [{"f": b"private\n"}])
    host = f"127.0.0.1:{server.port}"
    ref = f"{host}/private/app:1"
    err = berth.run("pull", ref, check=False)
    assert err.returncode == 1 and b"authentication required" in err.stderr
    err = berth.run("login", "-u", "alice", "--password-stdin", host, input=b"wrong\n", check=False)
    assert err.returncode == 1 and b"invalid username or password" in err.stderr
    assert not os.path.exists(os.path.join(berth.root, "auth.json"))
    assert berth.out("login", "-u", "alice", "--password-stdin", host, input=b"s3cret\n") == "Login Succeeded\n"
    assert os.stat(os.path.join(berth.root, "auth.json")).st_mode & 0o777 == 0o600
    berth.run("pull", ref)
    berth.run("logout", host)
    berth.run("rmi", ref)
    assert berth.run("pull", ref, check=False).returncode == 1
    assert berth.run("logout", host, check=False).returncode == 1


class _Handler(http.server.BaseHTTPRequestHandler):
    """A quiet test server that answers with whole bodies."""

    def log_message(self, *args):
        pass

    def _send(self, status, body, headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _DroppingHandler(_Handler):
    """Serves one image; the first GET of the layer is cut off halfway, Range requests are honoured."""
    blobs: dict = {}
    manifest: bytes = b""
    layer = ""
    cut = [True]
    ranges: list = []

    def do_GET(self):
        path = self.path
        if path == "/v2/":
            return self._send(200, b"{}")
        if path.startswith("/v2/r/manifests/"):
            return self._send(200, self.manifest, {"Content-Type": OCI_MANIFEST})
        digest = path.rsplit("/", 1)[-1]
        data = self.blobs.get(digest)
        if data is None:
            return self._send(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}')
        start = 0
        if self.headers.get("Range"):
            self.ranges.append(self.headers["Range"])
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
        if digest == self.layer and self.cut[0]:
            self.cut[0] = False
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if start:
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])
            return
        self._send(200, data)


def test_a_dropped_download_resumes_with_range(berth):
    tar = layer_tar({"big": os.urandom(3 << 20)})
    blob = gzip.compress(tar, mtime=0)
    config = image_config([sha256(tar)])
    handler = _DroppingHandler
    handler.blobs = {sha256(blob): blob, sha256(config): config}
    handler.layer = sha256(blob)
    handler.manifest = image_manifest(sha256(config), len(config), [(sha256(blob), len(blob))])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        berth.run("pull", f"127.0.0.1:{server.server_address[1]}/r:1")
    finally:
        server.shutdown()
    assert handler.ranges == [f"bytes={len(blob) // 2}-"]
    assert berth.json("image", "inspect", f"127.0.0.1:{server.server_address[1]}/r:1")[0]["RootFS"]["Layers"] == \
        [sha256(tar)]


@pytest.mark.peers
@pytest.mark.skipif(not shutil.which("skopeo"), reason="needs skopeo")
def test_pull_from_docker_registry_an_image_skopeo_pushed(busybox, distribution, tmp_path):
    busybox.run("save", "-o", tmp_path / "bb.tar", "busybox")
    repo = f"{distribution}/berth-test/busybox:1"
    subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", f"docker-archive:{tmp_path / 'bb.tar'}",
                    f"docker://{repo}"], check=True, capture_output=True)
    busybox.run("pull", repo)
    assert busybox.out("run", "--rm", repo, "echo", "from-peer") == "from-peer\n"


def test_all_tags(berth, registry):
    client = registry.client()
    for tag in ("a", "b", "c"):
        push_files_image(client, "every/tag", tag, [{f"file-{tag}": tag.encode()}])
    out = berth.out("pull", "--all-tags", f"127.0.0.1:{registry.port}/every/tag")
    assert [line.split(":")[0] for line in out.splitlines()] == ["a", "b", "c"]
    names = berth.out("images", "--format", "{{.Tag}}").split()
    assert sorted(names) == ["a", "b", "c"]
    err = berth.run("pull", "--all-tags", f"127.0.0.1:{registry.port}/every/tag:a", check=False)
    assert err.returncode == 1 and b"without a tag" in err.stderr


class _FlakyRegistry(_Handler):
    """Answers 503 to the first requests of every path, then serves; asks for Basic auth; sends blob
    GETs to another host (`redirect_to`) and records which requests there carried credentials."""
    content: dict = {}
    failures: dict = {}
    fail_first = 2
    redirect_to = None
    seen_auth: list = []

    def do_GET(self):
        if self.server.server_address[1] != self.server.registry_port:  # the blob host
            self.seen_auth.append(self.headers.get("Authorization"))
            return self._send(200, self.content[self.path.rsplit("/", 1)[-1]])
        if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"u:p").decode():
            return self._send(401, b"{}", {"WWW-Authenticate": 'Basic realm="test"'})
        count = self.failures.get(self.path, 0)
        if count < self.fail_first:
            self.failures[self.path] = count + 1
            return self._send(503, b'{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}')
        if self.path == "/v2/":
            return self._send(200, b"{}")
        if "/manifests/" in self.path:
            return self._send(200, self.content["manifest"], {"Content-Type": OCI_MANIFEST})
        digest = self.path.rsplit("/", 1)[-1]
        if self.redirect_to and digest in self.content and "/blobs/" in self.path:
            return self._send(307, b"", {"Location": f"http://{self.redirect_to}/store/{digest}"})
        return self._send(200, self.content[digest])


def test_retries_5xx_and_redirects_drop_credentials(berth):
    tar = layer_tar({"f": b"flaky\n"})
    blob = gzip.compress(tar, mtime=0)
    config = image_config([sha256(tar)])
    handler = _FlakyRegistry
    handler.content = {sha256(blob): blob, sha256(config): config,
                       "manifest": image_manifest(sha256(config), len(config), [(sha256(blob), len(blob))])}
    blob_host = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    registry = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    for server in (blob_host, registry):
        server.registry_port = registry.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
    handler.redirect_to = f"127.0.0.1:{blob_host.server_address[1]}"
    host = f"127.0.0.1:{registry.server_address[1]}"
    auth = tmp_auth = os.path.join(berth.root, "auth.json")
    os.makedirs(berth.root, exist_ok=True)
    with open(tmp_auth, "w") as f:
        json.dump({"auths": {host: {"auth": base64.b64encode(b"u:p").decode()}}}, f)
    try:
        berth.run("pull", f"{host}/flaky:1")
    finally:
        registry.shutdown()
        blob_host.shutdown()
    assert all(n == handler.fail_first for n in handler.failures.values()) and len(handler.failures) >= 3
    assert handler.seen_auth and all(a is None for a in handler.seen_auth), handler.seen_auth
    assert os.path.exists(auth)


def test_credentials_from_a_docker_credential_helper(berth, start_registry, tmp_path):
    import bcrypt
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("carol:" + bcrypt.hashpw(b"helper-pw", bcrypt.gensalt(4)).decode() + "\n")
    server = start_registry("--htpasswd", htpasswd)
    host = f"127.0.0.1:{server.port}"
    push_files_image(server.client(auth=("carol", "helper-pw")), "helped/app", "1", [{"f": b"x"}])
    bin_dir, docker_dir = tmp_path / "bin", tmp_path / "docker"
    bin_dir.mkdir()
    docker_dir.mkdir()
    helper = bin_dir / "docker-credential-berthtest"
    helper.write_text('#!/bin/sh\nread host\n[ "$1" = get ] && [ "$host" = "%s" ] && '
                      'echo \'{"ServerURL":"%s","Username":"carol","Secret":"helper-pw"}\' && exit 0\n'
                      'echo "credentials not found in native keychain"; exit 1\n' % (host, host))
    helper.chmod(0o755)
    (docker_dir / "config.json").write_text(json.dumps({"credHelpers": {host: "berthtest"}}))
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "DOCKER_CONFIG": str(docker_dir)}
    berth.run("pull", f"{host}/helped/app:1", env=env)
    assert berth.out("images", "--format", "{{.Repository}}") == f"{host}/helped/app\n"


class _ManifestOnly(_Handler):
    """A registry whose only manifest is whatever the test sets."""
    body = b""
    content_type = OCI_MANIFEST

    def do_GET(self):
        if self.path == "/v2/":
            return self._send(200, b"{}")
        return self._send(200, self.body, {"Content-Type": self.content_type})


@pytest.mark.parametrize("body, content_type, message", [
    (b"{not json", OCI_MANIFEST, b"not valid JSON"),
    (b'{"schemaVersion": 1, "name": "x", "tag": "1", "fsLayers": []}',
     "application/vnd.docker.distribution.manifest.v1+prettyjws", b"schema1 manifests are not supported"),
    (b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {}}',
     OCI_MANIFEST, b"manifest"),
    (b"[]", "application/json", b"not a JSON object"),
])
def test_malformed_manifests_are_refused(berth, body, content_type, message):
    handler = _ManifestOnly
    handler.body, handler.content_type = body, content_type
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    berth.run("images")
    before = snapshot(berth.root)
    try:
        err = berth.run("pull", f"127.0.0.1:{server.server_address[1]}/bad:1", check=False)
    finally:
        server.shutdown()
    assert err.returncode == 1 and message in err.stderr, err.stderr
    assert len(err.stderr.decode().strip().splitlines()) == 1
    assert snapshot(berth.root) == before
