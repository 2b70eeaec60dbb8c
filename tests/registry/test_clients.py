"""Real clients against the registry: skopeo, podman, docker, ctr (each skipped when absent)."""
import json
import os
import shutil
import subprocess
import uuid

import pytest

pytestmark = [pytest.mark.peers, pytest.mark.slow]


def _run(*args, timeout=180, check=True, env=None):
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def _need(binary):
    if not shutil.which(binary):
        pytest.skip(f"{binary} not installed")


@pytest.fixture(scope="module")
def image_archive(tmp_path_factory):
    """busybox as a docker-archive, made offline by berth itself."""
    from helpers import Berth
    root = tmp_path_factory.mktemp("berth-store")
    berth = Berth(root / "store")
    berth.run("image", "bootstrap", "busybox")
    path = root / "busybox.tar"
    berth.run("save", "-o", path, "busybox")
    return path


def _layers(registry, repo, tag):
    client = registry.client()
    accept = ("application/vnd.oci.image.manifest.v1+json, "
              "application/vnd.docker.distribution.manifest.v2+json")
    resp = client.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": accept})
    assert resp.status == 200, resp
    manifest = resp.json()
    for layer in manifest["layers"] + [manifest["config"]]:
        assert client.head(f"/v2/{repo}/blobs/{layer['digest']}").headers["Content-Length"] == str(layer["size"])
    return manifest


def test_skopeo_copy_in_and_out(registry, image_archive, tmp_path):
    _need("skopeo")
    host = f"127.0.0.1:{registry.port}"
    _run("skopeo", "copy", "--dest-tls-verify=false", f"docker-archive:{image_archive}",
         f"docker://{host}/peers/skopeo:1")
    manifest = _layers(registry, "peers/skopeo", "1")
    assert manifest["layers"]
    out = tmp_path / "oci"
    _run("skopeo", "copy", "--src-tls-verify=false", f"docker://{host}/peers/skopeo:1", f"oci:{out}:copy")
    index = json.loads((out / "index.json").read_text())
    pulled = index["manifests"][0]["digest"]
    with open(out / "blobs" / "sha256" / pulled.split(":")[1], "rb") as f:
        pulled_manifest = json.load(f)
    assert [layer["digest"] for layer in pulled_manifest["layers"]] == [layer["digest"] for layer in manifest["layers"]]
    # registry to registry, which mounts or re-uploads blobs
    _run("skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
         f"docker://{host}/peers/skopeo:1", f"docker://{host}/peers/skopeo-copy:2")
    assert _layers(registry, "peers/skopeo-copy", "2")["layers"] == manifest["layers"]
    inspected = json.loads(_run("skopeo", "inspect", "--tls-verify=false", f"docker://{host}/peers/skopeo:1").stdout)
    assert inspected["Layers"] == [layer["digest"] for layer in manifest["layers"]]


def test_podman_push_and_pull(registry, image_archive):
    _need("podman")
    host = f"127.0.0.1:{registry.port}"
    name = f"{host}/peers/podman:{uuid.uuid4().hex[:8]}"
    loaded = _run("podman", "load", "-i", image_archive).stdout
    source = loaded.strip().splitlines()[-1].split(":", 1)[1].strip()
    try:
        _run("podman", "tag", source, name)
        _run("podman", "push", "--tls-verify=false", name)
        _run("podman", "rmi", name)
        _run("podman", "pull", "--tls-verify=false", name)
        assert _run("podman", "run", "--rm", "--network=none", name, "echo", "pulled-ok", check=False).stdout \
            .strip() in ("pulled-ok", "")  # running may be impossible in this sandbox; pulling is what counts
        assert _run("podman", "image", "exists", name, check=False).returncode == 0
    finally:
        _run("podman", "rmi", "-f", name, source, check=False)
    assert _layers(registry, "peers/podman", name.rsplit(":", 1)[1])["layers"]


def _docker_ok():
    return shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def test_docker_push_and_pull(registry, image_archive):
    if not _docker_ok():
        pytest.skip("docker or dockerd unavailable")
    host = f"127.0.0.1:{registry.port}"
    name = f"{host}/peers/docker:{uuid.uuid4().hex[:8]}"
    loaded = _run("docker", "load", "-i", image_archive).stdout
    source = loaded.strip().splitlines()[-1].split(":", 1)[1].strip()
    try:
        _run("docker", "tag", source, name)
        _run("docker", "push", name)
        _run("docker", "rmi", name)
        _run("docker", "pull", name)
        assert _run("docker", "image", "inspect", name).returncode == 0
    finally:
        _run("docker", "rmi", "-f", name, check=False)
    assert _layers(registry, "peers/docker", name.rsplit(":", 1)[1])["layers"]


def test_ctr_pull(registry, image_archive):
    _need("ctr")
    # a standalone containerd, or the one dockerd runs
    sockets = [p for p in ("/run/containerd/containerd.sock", "/run/docker/containerd/containerd.sock")
               if os.path.exists(p)]
    if not sockets:
        pytest.skip("containerd is not running")
    socket_path = sockets[0]
    _need("skopeo")
    host = f"127.0.0.1:{registry.port}"
    _run("skopeo", "copy", "--dest-tls-verify=false", f"docker-archive:{image_archive}", f"docker://{host}/peers/ctr:1")
    ref = f"{host}/peers/ctr:1"
    try:
        _run("ctr", "--address", socket_path, "images", "pull", "--plain-http", ref)
        assert ref in _run("ctr", "--address", socket_path, "images", "ls", "-q").stdout
    finally:
        _run("ctr", "--address", socket_path, "images", "rm", ref, check=False)


@pytest.fixture
def token_registry(start_registry, tmp_path):
    """A registry with --auth token: alice may do anything under team/, anonymous may pull public/."""
    import bcrypt
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"alice:{bcrypt.hashpw(b'wonderland', bcrypt.gensalt(4)).decode()}\n")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"alice": {"team/*": ["*"], "public/*": ["*"]}, "anonymous": {"public/*": ["pull"]}}))
    return start_registry("--auth", "token", "--token-policy", policy, "--htpasswd", htpasswd)


def test_skopeo_with_token_auth(token_registry, image_archive, tmp_path):
    _need("skopeo")
    host = f"127.0.0.1:{token_registry.port}"
    _run("skopeo", "copy", "--dest-creds", "alice:wonderland", "--dest-tls-verify=false",
         f"docker-archive:{image_archive}", f"docker://{host}/team/skopeo:1")
    out = tmp_path / "oci"
    _run("skopeo", "copy", "--src-creds", "alice:wonderland", "--src-tls-verify=false",
         f"docker://{host}/team/skopeo:1", f"oci:{out}:copy")
    assert json.loads((out / "index.json").read_text())["manifests"]
    # between repositories: skopeo mounts (the token grants pull on the source) or re-uploads
    _run("skopeo", "copy", "--src-creds", "alice:wonderland", "--dest-creds", "alice:wonderland",
         "--src-tls-verify=false", "--dest-tls-verify=false",
         f"docker://{host}/team/skopeo:1", f"docker://{host}/public/skopeo:1")
    # anonymous: pulling public/ works, pushing is refused, pulling team/ is refused
    _run("skopeo", "inspect", "--tls-verify=false", f"docker://{host}/public/skopeo:1")
    denied = _run("skopeo", "copy", "--dest-tls-verify=false", f"docker-archive:{image_archive}",
                  f"docker://{host}/public/anonymous:1", check=False)
    assert denied.returncode != 0 and ("denied" in denied.stderr or "unauthorized" in denied.stderr), denied.stderr
    assert _run("skopeo", "inspect", "--tls-verify=false", f"docker://{host}/team/skopeo:1",
                check=False).returncode != 0
    wrong = _run("skopeo", "inspect", "--creds", "alice:wrong", "--tls-verify=false",
                 f"docker://{host}/team/skopeo:1", check=False)
    assert wrong.returncode != 0


def test_podman_login_push_pull_with_token_auth(token_registry, image_archive, tmp_path):
    _need("podman")
    host = f"127.0.0.1:{token_registry.port}"
    authfile = tmp_path / "auth.json"
    name = f"{host}/team/podman:{uuid.uuid4().hex[:8]}"
    assert _run("podman", "login", "--authfile", authfile, "--tls-verify=false", "-u", "alice", "-p", "wrong", host,
                check=False).returncode != 0
    _run("podman", "login", "--authfile", authfile, "--tls-verify=false", "-u", "alice", "-p", "wonderland", host)
    loaded = _run("podman", "load", "-i", image_archive).stdout
    source = loaded.strip().splitlines()[-1].split(":", 1)[1].strip()
    try:
        _run("podman", "tag", source, name)
        _run("podman", "push", "--authfile", authfile, "--tls-verify=false", name)
        _run("podman", "rmi", name)
        _run("podman", "pull", "--authfile", authfile, "--tls-verify=false", name)
        assert _run("podman", "image", "exists", name, check=False).returncode == 0
    finally:
        _run("podman", "rmi", "-f", name, source, check=False)
