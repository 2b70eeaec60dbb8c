"""GET /images/{name}/get, GET /images/get?names= and POST /images/load: `docker save` and `docker
load` against berth's API server."""
import json
import os
import tarfile


def _image_id(api, name: str) -> str:
    return api.request("GET", f"/v1.44/images/{name}/json").json()["Id"]


def test_save_and_load_round_trip(api, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo saved > /saved\nCMD [\"cat\", \"/saved\"]\n")
    api.docker("build", "-t", "roundtrip:1", ctx)
    api.docker("tag", "busybox", "roundtrip-base:1")
    before = {name: _image_id(api, name) for name in ("roundtrip:1", "roundtrip-base:1")}
    archive = tmp_path / "images.tar"
    api.docker("save", "-o", archive, "roundtrip:1", "roundtrip-base:1")  # GET /images/get?names=..
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    tags = sorted(tag.removeprefix("docker.io/library/") for entry in manifest for tag in entry["RepoTags"])
    assert tags == ["roundtrip-base:1", "roundtrip:1"]

    api.docker("rmi", "roundtrip:1", "roundtrip-base:1")
    out = api.docker_out("load", "-i", archive)
    assert sorted(out.splitlines()) == ["Loaded image: roundtrip-base:1", "Loaded image: roundtrip:1"], out
    assert {name: _image_id(api, name) for name in before} == before
    assert api.docker_out("run", "--rm", "roundtrip:1") == "saved\n"

    one = api.request("GET", "/v1.44/images/roundtrip:1/get")  # one image, by its own route
    assert one.status == 200 and one.headers["Content-Type"] == "application/x-tar"
    (tmp_path / "one.tar").write_bytes(one.body)
    with tarfile.open(tmp_path / "one.tar") as tar:
        assert json.load(tar.extractfile("manifest.json"))[0]["RepoTags"] in (["roundtrip:1"],
                                                                              ["docker.io/library/roundtrip:1"])


def test_save_and_load_errors(api, tmp_path):
    unknown = api.request("GET", "/v1.44/images/no-such-image:1/get")
    assert unknown.status == 404 and unknown.json() == {"message": "No such image: no-such-image:1"}, unknown
    assert api.request("GET", "/v1.44/images/get").status == 400  # no names
    garbage = api.request("POST", "/v1.44/images/load", body=os.urandom(8192))
    assert garbage.status == 400, garbage
    assert "tar" in garbage.message and "\n" not in garbage.message
    api.docker_fails("load", "-i", "/dev/null", says="empty tar stream")
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tar:
        tar.add(__file__, arcname="not-an-image.py")
    api.docker_fails("load", "-i", plain, says="not an image archive")
