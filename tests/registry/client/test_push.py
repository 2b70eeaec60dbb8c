"""`berth push` against real registries, and round trips with podman and skopeo."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from helpers import Berth
from registry_helpers import OCI_MANIFEST


def layer_lines(out: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in out.splitlines() if line[:12].isalnum() and ": " in line[:14]]


def test_push_then_pull_into_an_empty_store_gives_the_same_image(busybox, registry, tmp_path):
    remote = f"127.0.0.1:{registry.port}/pushed/busybox:1"
    out = busybox.out("push", "busybox", remote)
    assert layer_lines(out) == ["pushing", "pushed"] and "1: digest: sha256:" in out
    digest = out.strip().rsplit(" ", 1)[1]
    manifest = json.loads(registry.client().get("/v2/pushed/busybox/manifests/1",
                                                headers={"Accept": OCI_MANIFEST}).body)
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    other = Berth(tmp_path / "other")
    other.run("pull", remote)
    assert other.json("image", "inspect", remote)[0]["Id"] == busybox.json("image", "inspect", "busybox")[0]["Id"]
    assert other.out("run", "--rm", remote, "echo", "round-trip") == "round-trip\n"
    assert f"127.0.0.1:{registry.port}/pushed/busybox@{digest}" in busybox.json("image", "inspect", "busybox")[0]["RepoDigests"]


def test_a_second_push_skips_and_another_repository_mounts(busybox, registry):
    base = f"127.0.0.1:{registry.port}"
    busybox.run("push", "busybox", f"{base}/skip/busybox:1")
    assert layer_lines(busybox.out("push", "busybox", f"{base}/skip/busybox:2")) == ["exists"]
    assert layer_lines(busybox.out("push", "busybox", f"{base}/skip/copy:1")) == ["mounted from skip/busybox"]
    tags = registry.client().get("/v2/skip/copy/tags/list").json()["tags"]
    assert tags == ["1"]


def test_push_needs_login_on_a_protected_registry(busybox, start_registry, tmp_path):
    import bcrypt
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("bob:" + bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode() + "\n")
    server = start_registry("--htpasswd", htpasswd)
    host = f"127.0.0.1:{server.port}"
    err = busybox.run("push", "busybox", f"{host}/p/busybox:1", check=False)
    assert err.returncode == 1 and b"authentication required" in err.stderr
    busybox.run("login", "-u", "bob", "--password-stdin", host, input=b"pw")
    busybox.run("push", "busybox", f"{host}/p/busybox:1")
    assert server.client(auth=("bob", "pw")).get("/v2/p/busybox/tags/list").json()["tags"] == ["1"]


@pytest.mark.parametrize("args, message", [
    (["nosuchimage", "{r}/x:1"], b"No such image"),
    (["busybox", "127.0.0.1:1/x:1"], b"cannot reach registry"),
    (["busybox", "{r}/x@sha256:" + "a" * 64], b"cannot push to a digest reference"),
])
def test_bad_pushes_are_one_clear_line(busybox, registry, args, message):
    err = busybox.run("push", *[a.format(r=f"127.0.0.1:{registry.port}") for a in args], check=False)
    assert err.returncode != 0 and message in err.stderr, err.stderr
    assert len(err.stderr.decode().strip().splitlines()) == 1


@pytest.mark.peers
@pytest.mark.skipif(not shutil.which("podman") or not shutil.which("skopeo"), reason="needs podman and skopeo")
def test_podman_and_skopeo_take_what_berth_pushed_to_docker_registry(busybox, distribution):
    remote = f"{distribution}/berth-push/busybox:t1"
    busybox.run("push", "busybox", remote)
    inspect = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{remote}"],
                             capture_output=True, text=True, check=True)
    assert json.loads(inspect.stdout)["Os"] == "linux"
    subprocess.run(["podman", "pull", "-q", "--tls-verify=false", remote], check=True, capture_output=True)
    try:
        run = subprocess.run(["podman", "run", "--rm", remote, "echo", "podman-ran-it"], capture_output=True, text=True)
        assert run.stdout == "podman-ran-it\n", run.stderr
    finally:
        subprocess.run(["podman", "rmi", "-f", remote], capture_output=True)


@pytest.mark.peers
@pytest.mark.skipif(not shutil.which("podman"), reason="needs podman")
def test_berth_runs_what_podman_pushed(busybox, registry, tmp_path):
    busybox.run("save", "-o", tmp_path / "bb.tar", "busybox")
    loaded = subprocess.run(["podman", "load", "-q", "-i", tmp_path / "bb.tar"], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    remote = f"127.0.0.1:{registry.port}/from-podman/busybox:1"
    subprocess.run(["podman", "tag", "docker.io/library/busybox:latest", remote], check=True)
    try:
        push = subprocess.run(["podman", "push", "-q", "--tls-verify=false", remote], capture_output=True, text=True)
        assert push.returncode == 0, push.stderr
    finally:
        subprocess.run(["podman", "rmi", remote], capture_output=True)
    other = Berth(tmp_path / "other")
    other.run("pull", remote)
    assert other.out("run", "--rm", remote, "echo", "berth-ran-it") == "berth-ran-it\n"


def test_login_push_pull_against_token_auth(busybox, start_registry, tmp_path):
    import bcrypt
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("dana:" + bcrypt.hashpw(b"tok", bcrypt.gensalt(4)).decode() + "\n")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"dana": {"team/*": ["*"]}, "anonymous": {"public/*": ["pull"]}}))
    server = start_registry("--auth", "token", "--token-policy", policy, "--htpasswd", htpasswd)
    host = f"127.0.0.1:{server.port}"
    err = busybox.run("push", "busybox", f"{host}/team/busybox:1", check=False)
    assert err.returncode == 1 and b"authentication required" in err.stderr
    err = busybox.run("login", "-u", "dana", "--password-stdin", host, input=b"nope", check=False)
    assert err.returncode == 1 and b"invalid username or password" in err.stderr
    busybox.run("login", "-u", "dana", "--password-stdin", host, input=b"tok")
    busybox.run("push", "busybox", f"{host}/team/busybox:1")
    # a second repository: the token for it covers the mount's source too
    assert layer_lines(busybox.out("push", "busybox", f"{host}/team/copy:1")) == ["mounted from team/busybox"]
    err = busybox.run("push", "busybox", f"{host}/elsewhere/busybox:1", check=False)
    assert err.returncode == 1 and len(err.stderr.splitlines()) == 1, err.stderr
    other = Berth(tmp_path / "other")
    err = other.run("pull", f"{host}/team/busybox:1", check=False)
    assert err.returncode == 1 and b"authentication required" in err.stderr
    other.run("login", "-u", "dana", "--password-stdin", host, input=b"tok")
    other.run("pull", f"{host}/team/busybox:1")
    assert other.out("run", "--rm", f"{host}/team/busybox:1", "echo", "token-ok") == "token-ok\n"
