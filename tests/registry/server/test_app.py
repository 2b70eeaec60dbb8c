"""Routing, the API version header, error bodies, and names that try to leave the storage dir."""
import errno
import json
import os
import socket
import stat

import pytest

from registry_helpers import OpenWatch, digest_of, files_under


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


# -- hostile names, references, digests and upload ids on every route, with traps outside the storage

SECRET = "SENTINEL-SECRET-CONTENT"


def _escapes(target: str) -> list[str]:
    """`target` (relative to the directory holding the storage) reached by climbing 1 to 9 levels,
    percent-encoded as the UI's router decodes it, and double-encoded."""
    out = []
    for n in range(1, 10):
        plain = "../" * n + target
        out += [plain.replace("/", "%2F"), plain.replace("/", "%2f").replace(".", "%2e")]
    out.append(("../" * 6 + target).replace("%", "%25").replace("/", "%252F"))
    return out


_TARGETS = ["outside/secret", "outside/fifo", "outside/zero", "outside/tag", "outside/repo"]
HOSTILE_NAMES = (["..", "%2e%2e", "trap%2F..%2F..%2Foutside", "trap/app%2F..%2F..%2F..%2F..%2Foutside%2Frepo",
                  "trap%00app", "trap/app%00", "tr%C3%A9p", "trap/%C3%A9", "a" * 300, "x/" * 150 + "y",
                  "%252e%252e", "..%5C..", "trap/app%2F", "%2Ftrap%2Fapp", "trap/.", "trap/./app"]
                 + [e for t in _TARGETS for e in _escapes(t)[::3]])
HOSTILE_REFS = (["%2e%2e", "..", "v1%00", "v1%00.json", "%00", "%C3%A9", "v1%2F..%2Fv1", "a" * 2000,
                 "sha256:%2e%2e", "sha256:" + "a" * 63 + "%00", "%2Fetc%2Fhostname", "..%5C..%5Coutside%5Csecret"]
                + [e for t in _TARGETS for e in _escapes(t)])
HOSTILE_DIGESTS = (["sha256:..%2F..%2F..%2Foutside%2Fsecret", "sha256:" + "a" * 64 + "%00", "%2e%2e",
                    "sha256:" + "%C3%A9" * 32, "sha512:" + "a" * 1000, "sha256%3A" + "a" * 63 + "%2F"]
                   + [e for e in _escapes("outside/secret")])
HOSTILE_UPLOADS = ["%2e%2e", "..%2F..%2F..%2Foutside", "0" * 31 + "%00", "0" * 2000, "%C3%A9", "A" * 32,
                   "..%2F..%2Foutside%2Fsecret"] + _escapes("outside/fifo")
# names and tags that are valid, but symlinks planted in the storage lead outside: never followed
PLANTED = [("trap/linked", "latest"), ("trap/app", "linked-tag"), ("trap/app", "fifo-tag"), ("trap/app", "zero-tag")]


def _routes(digest: str, upload: str):
    """(method, path template, body) for every API and UI route; {name}, {ref}, {digest} and
    {upload} are filled with hostile values one slot at a time."""
    return [
        ("GET", "/v2/{name}/tags/list", b""),
        ("GET", "/v2/{name}/manifests/{ref}", b""), ("HEAD", "/v2/{name}/manifests/{ref}", b""),
        ("PUT", "/v2/{name}/manifests/{ref}", b"{}"), ("DELETE", "/v2/{name}/manifests/{ref}", b""),
        ("GET", "/v2/{name}/blobs/{digest}", b""), ("HEAD", "/v2/{name}/blobs/{digest}", b""),
        ("DELETE", "/v2/{name}/blobs/{digest}", b""),
        ("POST", "/v2/{name}/blobs/uploads/", b""), ("POST", "/v2/{name}/blobs/uploads/?digest={digest}", b"x"),
        ("POST", "/v2/trap/app/blobs/uploads/?mount={digest}&from={name}", b""),
        ("GET", "/v2/{name}/blobs/uploads/{upload}", b""), ("PATCH", "/v2/{name}/blobs/uploads/{upload}", b"x"),
        ("PUT", "/v2/{name}/blobs/uploads/{upload}?digest={digest}", b""),
        ("DELETE", "/v2/{name}/blobs/uploads/{upload}", b""),
        ("GET", "/v2/{name}/referrers/{digest}", b""),
        ("GET", "/ui/r/{name}", b""), ("GET", "/ui/r/{name}?format=json", b""),
        ("GET", "/ui/r/{name}/manifests/{ref}", b""), ("GET", "/ui/r/{name}/manifests/{ref}?format=json", b""),
    ]


def _raw(port, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """The request line exactly as given (percent-escapes, UTF-8 bytes and all), with a deadline: a
    worker stuck opening a FIFO shows up as a timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(method.encode() + b" " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                  + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    head, _, payload = out.partition(b"\r\n\r\n")
    return int(head.split()[1]), payload


@pytest.fixture
def trapped(start_registry, tmp_path):
    """A registry whose storage has, beside it, a secret, a FIFO, a device, a tag file and a
    repository-shaped tree; symlinks planted inside the storage point at them."""
    root = tmp_path / "root"
    server = start_registry(root=root)
    client = server.client()
    digest, _ = client.push_image("trap/app", "v1", layers=[b"trap layer"])
    upload = client.request("POST", "/v2/trap/app/blobs/uploads/").headers["Location"].rsplit("/", 1)[1]
    outside = root / "outside"
    tags = outside / "repo" / "_manifests" / "tags"
    tags.mkdir(parents=True)
    (outside / "secret").write_text(SECRET)
    (outside / "tag").write_text(digest)
    (tags / "latest").write_text(digest)
    os.mkfifo(outside / "fifo")
    os.mknod(outside / "zero", 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero: endless
    storage = server.storage
    os.symlink(outside / "repo", os.path.join(storage, "repositories", "trap", "linked"))
    app_tags = os.path.join(storage, "repositories", "trap", "app", "_manifests", "tags")
    for name, target in (("linked-tag", "tag"), ("fifo-tag", "fifo"), ("zero-tag", "zero")):
        os.symlink(outside / target, os.path.join(app_tags, name))
    watch = OpenWatch(str(outside), str(outside / "repo"), str(outside / "repo" / "_manifests"), str(tags))
    yield server, digest, upload, outside
    watch_events = watch.events()
    watch.close()
    assert watch_events == [], f"opened outside the storage: {sorted(set(watch_events))}"


def _fifo_has_reader(path) -> bool:
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # ENXIO unless someone opened it to read
    except OSError as e:
        assert e.errno == errno.ENXIO
        return False
    return True


def test_hostile_input_on_every_route_stays_inside_the_storage(trapped):
    server, digest, upload, outside = trapped
    valid = {"name": "trap/app", "ref": "v1", "digest": digest, "upload": upload}
    hostile = {"name": HOSTILE_NAMES, "ref": HOSTILE_REFS, "digest": HOSTILE_DIGESTS, "upload": HOSTILE_UPLOADS}
    sent = 0
    for method, template, body in _routes(digest, upload):
        for slot, values in hostile.items():
            if "{" + slot + "}" not in template:
                continue
            for value in values:
                path = template.format(**{**valid, slot: value})
                status, payload = _raw(server.port, method, path, body)
                sent += 1
                assert status in (400, 404), (method, path[:200], status, payload[:300])
                assert SECRET.encode() not in payload
    # valid names and tags whose storage entries are symlinks planted to lead outside
    for name, tag in PLANTED:
        for path in (f"/v2/{name}/manifests/{tag}", f"/ui/r/{name}/manifests/{tag}",
                     f"/ui/r/{name}/manifests/{tag}?format=json"):
            status, payload = _raw(server.port, "GET", path)
            assert status == 404, (path, status, payload[:300])
    assert _raw(server.port, "GET", "/v2/trap/linked/tags/list")[0] == 404
    assert _raw(server.port, "GET", "/ui/r/trap/linked?format=json")[0] == 404
    # a symlink is no tag: only the pushed one is listed, in the API and the UI
    assert json.loads(_raw(server.port, "GET", "/v2/trap/app/tags/list")[1])["tags"] == ["v1"]
    ui_tags = json.loads(_raw(server.port, "GET", "/ui/r/trap/app?format=json")[1])["tags"]
    assert [t["tag"] for t in ui_tags] == ["v1"]
    assert sent > 1000
    assert not _fifo_has_reader(outside / "fifo")
    assert server.client().get("/v2/trap/app/manifests/v1").status == 200  # still serving, nothing stuck
    server.proc.terminate()
    log = server.proc.stderr.read()  # until the server exits
    assert SECRET.encode() not in log and b"Traceback" not in log, log[-2000:]


# -- fuzz against the running server: paths, references and bodies give 4xx (or success), never a 500
from hypothesis import given, strategies as st  # noqa: E402

from helpers import fuzz_settings  # noqa: E402

_PIECES = ["fuzz", "app", "..", ".", "%2e%2e", "%2F", "%00", "%C3%A9", "é", "A", "_layers", "v1", "latest",
           "sha256:" + "0" * 64, "sha256:zz", "sha512:" + "a" * 128, "0" * 32, "x" * 300, "%252e", ";", "~",
           "%", "%ZZ", "..%2F" * 5 + "gc.lock", "..%2F" * 6 + "registry%2Fgc.lock", "..%2f..%2f..", "v1%00", "/"]
_SLOT = st.one_of(st.sampled_from(_PIECES), st.lists(st.sampled_from(_PIECES), min_size=2, max_size=4).map("".join),
                  st.text(alphabet=st.characters(codec="ascii", exclude_characters=" \r\n#?"), max_size=40))
_TEMPLATES = [t for _, t, _ in _routes("{digest}", "{upload}")] + [
    "/v2/_catalog?n={ref}&last={name}", "/metrics", "/?format=json", "/v2/{name}/referrers/{digest}?artifactType={ref}"]
_VALID = {"name": "fuzz/app", "ref": "v1", "digest": "sha256:" + "0" * 64, "upload": "0" * 32}


@st.composite
def _paths(draw):
    """A route of the API or UI with some of its slots hostile, the others valid."""
    template = draw(st.sampled_from(_TEMPLATES))
    slots = {slot: draw(_SLOT) if draw(st.booleans()) else valid for slot, valid in _VALID.items()}
    return template.format(**slots)


_PATHS = _paths()
_NESTED = st.sampled_from([2, 64, 65, 1500, 30000]).map(lambda n: b"[" * n + b"]" * n)
_BODIES = (st.binary(max_size=300) | _NESTED
           | st.builds(lambda doc: json.dumps(doc).encode(),
                       st.recursive(st.none() | st.integers() | st.text(max_size=10) | st.sampled_from(
                           ["application/vnd.oci.image.manifest.v1+json", "sha256:" + "0" * 64, 2]),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
                               ["schemaVersion", "mediaType", "config", "layers", "manifests", "subject",
                                "digest", "size", "annotations"]), inner, max_size=5), max_leaves=20)))


@pytest.fixture(scope="module")
def fuzz_target(registry):
    """The module's registry with fuzz/app:v1 in it, so fuzzed references find real storage."""
    registry.client().push_image("fuzz/app", "v1", layers=[b"fuzz layer"])
    return registry


@fuzz_settings(max_examples=300, deadline_ms=10000)
@given(method=st.sampled_from(["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"]), path=_PATHS, body=_BODIES,
       content_type=st.sampled_from(["", "application/json", "application/vnd.oci.image.manifest.v1+json",
                                     "application/vnd.oci.image.index.v1+json", "text/html; x=\"", "*/*"]),
       extra=st.sampled_from([{}, {"Range": "bytes=5-1"}, {"Range": "bytes=-0"}, {"Content-Range": "9-1"},
                              {"Accept": ",,;;"}, {"If-None-Match": "\"x\""}, {"Authorization": "Bearer %%"}]))
def test_fuzz_server_never_answers_500(fuzz_target, method, path, body, content_type, extra):
    registry = fuzz_target
    headers = {**extra, **({"Content-Type": content_type} if content_type else {})}
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection(("127.0.0.1", registry.port), timeout=20) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\n{lines}Content-Length: {len(body)}\r\n"
                  f"Connection: close\r\n\r\n".encode() + body)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    status = int(out.split(b" ", 2)[1])
    assert status < 500, (method, path, body[:100], out[:400])
