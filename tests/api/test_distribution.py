"""Registries over berth's API server: `docker push` (POST /images/{name}/push), `docker pull` into a
second store, credentials in X-Registry-Auth (never stored by the server), `docker login`
(POST /auth), GET /distribution/{name}/json, and search (not offered)."""
import os
import re

import bcrypt

from api_helpers import registry_auth


def _build(api, tmp_path, tag: str) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo pushed > /pushed\nCMD [\"cat\", \"/pushed\"]\n")
    api.docker("build", "-t", tag, ctx)


def test_push_then_pull_into_a_second_store(api, second_api, registry, tmp_path):
    name = f"127.0.0.1:{registry.port}/api/pushed"
    _build(api, tmp_path, f"{name}:v1")
    out = api.docker_out("push", f"{name}:v1")
    assert f"The push refers to repository [{name}]" in out, out
    assert re.search(r"^[0-9a-f]{12}: Pushed$", out, re.M), out
    digest, size = re.search(r"^v1: digest: (sha256:[0-9a-f]{64}) size: (\d+)$", out, re.M).groups()
    described = api.request("GET", f"/v1.44/distribution/{name}:v1/json").json()
    assert described["Descriptor"]["digest"] == digest and described["Descriptor"]["size"] == int(size)
    assert described["Platforms"][0]["os"] == "linux"
    again = api.docker_out("push", f"{name}:v1")
    assert "Layer already exists" in again and f"digest: {digest}" in again, again

    pulled = second_api.docker_out("pull", f"{name}:v1")
    assert f"Digest: {digest}" in pulled, pulled
    assert second_api.docker_out("run", "--rm", f"{name}:v1") == "pushed\n"


def test_credentials_travel_with_the_request(api, second_api, start_registry, tmp_path):
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"alice:{bcrypt.hashpw(b'wonderland', bcrypt.gensalt(4)).decode()}\n")
    locked = start_registry("--htpasswd", htpasswd)
    server = f"127.0.0.1:{locked.port}"
    _build(api, tmp_path, f"{server}/team/app:1")

    api.docker_fails("login", server, "-u", "alice", "-p", "wrong", says="invalid username or password")
    refused = api.request("POST", "/v1.44/auth", body=b'{"username": "alice", "password": "nope", '
                                                      b'"serveraddress": "' + server.encode() + b'"}')
    assert refused.status == 401, refused
    assert api.request("POST", "/v1.44/auth", body=b"{}").status == 400
    api.docker_fails("push", f"{server}/team/app:1", says="authentication required")

    api.docker("login", server, "-u", "alice", "--password-stdin", input=b"wonderland\n")  # the client keeps them
    api.docker("push", f"{server}/team/app:1")
    assert not os.path.exists(os.path.join(api.root, "auth.json"))  # the server stored nothing

    second_api.docker_fails("pull", f"{server}/team/app:1", says="authentication required")
    header = {"X-Registry-Auth": registry_auth("alice", "wonderland", server)}
    pulled = second_api.request("POST", f"/v1.44/images/create?fromImage={server}/team/app&tag=1", headers=header)
    assert pulled.lines()[-1] == {"status": f"Status: Downloaded newer image for {server}/team/app:1"}, pulled
    assert second_api.docker_out("run", "--rm", f"{server}/team/app:1") == "pushed\n"
    bad_header = second_api.request("POST", f"/v1.44/images/create?fromImage={server}/team/app&tag=1",
                                    headers={"X-Registry-Auth": "%%% not base64"})
    assert bad_header.status == 400 and "X-Registry-Auth" in bad_header.message


def test_push_and_registry_errors(api, registry):
    name = f"127.0.0.1:{registry.port}/api/never-built"
    unknown = api.request("POST", f"/v1.44/images/{name}/push?tag=1")
    assert unknown.status == 404 and unknown.json() == {"message": f"No such image: {name}:1"}, unknown
    api.docker_fails("push", f"{name}:1", says=f"No such image: {name}:1")
    missing = api.request("GET", f"/v1.44/distribution/{name}:1/json")
    assert missing.status == 404 and "not found" in missing.message, missing
    search = api.request("GET", "/v1.44/images/search?term=busybox")
    assert search.status == 501 and "not supported" in search.message
    api.docker_fails("search", "busybox", says="image search is not supported")
