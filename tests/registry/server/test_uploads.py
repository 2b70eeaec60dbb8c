"""Blob uploads over real HTTP: monolithic, POST-only, streamed, chunked, status, cancel, mount, limits."""
import os
import socket

from registry_helpers import blob_path, digest_of, files_under

DATA = os.urandom(3 * 1024 * 1024 + 17)  # more than one server-side chunk, not a multiple of it


def _start(client, repo):
    resp = client.request("POST", f"/v2/{repo}/blobs/uploads/", body=b"")
    assert resp.status == 202, resp
    assert resp.headers["Range"] == "0-0"
    assert resp.headers["Docker-Upload-UUID"]
    assert resp.headers["Location"].startswith(f"/v2/{repo}/blobs/uploads/")
    assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    return resp.headers["Location"]


def _read_blob(client, repo, digest):
    resp = client.get(f"/v2/{repo}/blobs/{digest}")
    assert resp.status == 200, resp
    return resp.body


def test_post_then_put_monolithic(registry):
    client = registry.client()
    location = _start(client, "up/mono")
    digest = digest_of(DATA)
    resp = client.request("PUT", f"{location}?digest={digest}", body=DATA,
                          headers={"Content-Type": "application/octet-stream"})
    assert resp.status == 201, resp
    assert resp.headers["Location"] == f"/v2/up/mono/blobs/{digest}"
    assert resp.headers["Docker-Content-Digest"] == digest
    assert _read_blob(client, "up/mono", digest) == DATA
    with open(blob_path(registry.storage, digest), "rb") as f:
        assert f.read() == DATA
    # the upload is gone once committed
    assert client.get(location).status == 404


def test_single_post_with_digest(registry):
    client = registry.client()
    digest = digest_of(b"single post")
    resp = client.request("POST", f"/v2/up/post/blobs/uploads/?digest={digest}", body=b"single post")
    assert resp.status == 201, resp
    assert resp.headers["Location"] == f"/v2/up/post/blobs/{digest}"
    assert _read_blob(client, "up/post", digest) == b"single post"


def test_single_post_digest_mismatch_stores_nothing(registry):
    client = registry.client()
    wrong = digest_of(b"something else")
    resp = client.request("POST", f"/v2/up/bad/blobs/uploads/?digest={wrong}", body=b"actual bytes")
    assert resp.status == 400 and resp.error_codes == ["DIGEST_INVALID"]
    assert not os.path.exists(blob_path(registry.storage, digest_of(b"actual bytes")))
    assert not os.path.exists(blob_path(registry.storage, wrong))
    assert client.head(f"/v2/up/bad/blobs/{wrong}").status == 404


def test_streamed_patch_then_put(registry):
    client = registry.client()
    location = _start(client, "up/stream")

    def body():  # chunked transfer encoding: no Content-Length
        for i in range(0, len(DATA), 100_000):
            yield DATA[i:i + 100_000]

    resp = client.request("PATCH", location, body=body())  # http.client sends it chunked
    assert resp.status == 202, resp
    assert resp.headers["Range"] == f"0-{len(DATA) - 1}"
    location = resp.headers["Location"]
    digest = digest_of(DATA)
    resp = client.request("PUT", f"{location}?digest={digest}", body=b"")
    assert resp.status == 201, resp
    assert _read_blob(client, "up/stream", digest) == DATA


def test_chunked_upload_status_and_final_chunk_in_put(registry):
    client = registry.client()
    location = _start(client, "up/chunks")
    a, b, c = DATA[:1_000_000], DATA[1_000_000:2_500_000], DATA[2_500_000:]
    resp = client.request("PATCH", location, body=a, headers={"Content-Range": f"0-{len(a) - 1}"})
    assert resp.status == 202 and resp.headers["Range"] == f"0-{len(a) - 1}"
    resp = client.request("PATCH", location, body=b,
                          headers={"Content-Range": f"{len(a)}-{len(a) + len(b) - 1}"})
    assert resp.status == 202 and resp.headers["Range"] == f"0-{len(a) + len(b) - 1}"
    status = client.get(location)
    assert status.status == 204
    assert status.headers["Range"] == f"0-{len(a) + len(b) - 1}"
    assert status.headers["Location"] == location
    digest = digest_of(DATA)
    start = len(a) + len(b)
    resp = client.request("PUT", f"{location}?digest={digest}", body=c,
                          headers={"Content-Range": f"{start}-{len(DATA) - 1}"})
    assert resp.status == 201, resp
    assert _read_blob(client, "up/chunks", digest) == DATA


def test_out_of_order_chunk_is_416_and_changes_nothing(registry):
    client = registry.client()
    location = _start(client, "up/order")
    assert client.request("PATCH", location, body=b"0123456789", headers={"Content-Range": "0-9"}).status == 202
    resp = client.request("PATCH", location, body=b"abcdefghij", headers={"Content-Range": "20-29"})
    assert resp.status == 416, resp
    assert resp.error_codes == ["BLOB_UPLOAD_INVALID"]
    assert resp.headers["Range"] == "0-9"
    # a range whose length disagrees with the body
    resp = client.request("PATCH", location, body=b"abc", headers={"Content-Range": "10-19"})
    assert resp.status == 416
    assert client.get(location).headers["Range"] == "0-9"
    resp = client.request("PATCH", location, body=b"abcdefghij", headers={"Content-Range": "10-19"})
    assert resp.status == 202 and resp.headers["Range"] == "0-19"
    digest = digest_of(b"0123456789abcdefghij")
    assert client.request("PUT", f"{location}?digest={digest}").status == 201


def test_put_with_wrong_digest_keeps_upload(registry):
    client = registry.client()
    location = _start(client, "up/wrong")
    client.request("PATCH", location, body=b"content")
    resp = client.request("PUT", f"{location}?digest={digest_of(b'other')}")
    assert resp.status == 400 and resp.error_codes == ["DIGEST_INVALID"]
    assert resp.json()["errors"][0]["detail"]["actual"] == digest_of(b"content")
    resp = client.request("PUT", f"{location}?digest={digest_of(b'content')}")
    assert resp.status == 201


def test_put_without_digest_and_bad_digest(registry):
    client = registry.client()
    location = _start(client, "up/nodigest")
    assert client.request("PUT", location).error_codes == ["DIGEST_INVALID"]
    for bad in ("sha256:xyz", "md5:" + "0" * 32, "sha256:" + "A" * 64, "nonsense"):
        resp = client.request("PUT", f"{location}?digest={bad}")
        assert resp.status == 400 and resp.error_codes == ["DIGEST_INVALID"], bad


def test_sha512_upload(registry):
    client = registry.client()
    digest = client.push_blob("up/sha512", DATA, "sha512")
    assert digest.startswith("sha512:")
    resp = client.get(f"/v2/up/sha512/blobs/{digest}")
    assert resp.status == 200 and resp.body == DATA
    assert resp.headers["Docker-Content-Digest"] == digest
    assert os.path.getsize(blob_path(registry.storage, digest)) == len(DATA)
    # chunked, finished with a sha512 digest
    location = _start(client, "up/sha512")
    client.request("PATCH", location, body=b"x" * 1000)
    resp = client.request("PUT", f"{location}?digest={digest_of(b'x' * 1000, 'sha512')}")
    assert resp.status == 201, resp


def test_cancel_upload(registry):
    client = registry.client()
    location = _start(client, "up/cancel")
    client.request("PATCH", location, body=b"partial")
    upload_id = location.rsplit("/", 1)[1]
    assert os.path.isdir(os.path.join(registry.storage, "uploads", upload_id))
    assert client.request("DELETE", location).status == 204
    assert not os.path.exists(os.path.join(registry.storage, "uploads", upload_id))
    assert client.get(location).status == 404
    resp = client.request("DELETE", location)
    assert resp.status == 404 and resp.error_codes == ["BLOB_UPLOAD_UNKNOWN"]


def test_unknown_and_foreign_upload_ids(registry):
    client = registry.client()
    location = _start(client, "up/owner")
    upload_id = location.rsplit("/", 1)[1]
    # an upload belongs to its repository
    resp = client.request("PATCH", f"/v2/up/other/blobs/uploads/{upload_id}", body=b"x")
    assert resp.status == 404 and resp.error_codes == ["BLOB_UPLOAD_UNKNOWN"]
    for bad in ("0" * 32, "..", "not-an-id"):
        resp = client.get(f"/v2/up/owner/blobs/uploads/{bad}")
        assert resp.status == 404 and resp.error_codes == ["BLOB_UPLOAD_UNKNOWN"], bad


def test_mount_from_repository(registry):
    client = registry.client()
    digest = client.push_blob("mount/src", b"mounted blob")
    resp = client.request("POST", f"/v2/mount/dst/blobs/uploads/?mount={digest}&from=mount/src")
    assert resp.status == 201, resp
    assert resp.headers["Location"] == f"/v2/mount/dst/blobs/{digest}"
    assert resp.headers["Docker-Content-Digest"] == digest
    assert client.get(f"/v2/mount/dst/blobs/{digest}").body == b"mounted blob"


def test_mount_without_from_finds_blob_anywhere(registry):
    client = registry.client()
    digest = client.push_blob("mount/anywhere-src", b"found anywhere")
    resp = client.request("POST", f"/v2/mount/anywhere/blobs/uploads/?mount={digest}")
    assert resp.status == 201, resp
    assert client.get(f"/v2/mount/anywhere/blobs/{digest}").body == b"found anywhere"


def test_mount_of_missing_blob_starts_an_upload(registry):
    client = registry.client()
    missing = digest_of(b"never pushed")
    source_only = client.push_blob("mount/only-here", b"in one repo")
    for query in (f"mount={missing}&from=mount/src", f"mount={missing}",
                  f"mount={source_only}&from=mount/empty-source"):
        resp = client.request("POST", f"/v2/mount/fallback/blobs/uploads/?{query}")
        assert resp.status == 202, (query, resp)
        assert resp.headers["Location"].startswith("/v2/mount/fallback/blobs/uploads/")
    assert client.head(f"/v2/mount/fallback/blobs/{source_only}").status == 404
    resp = client.request("POST", f"/v2/mount/fallback/blobs/uploads/?mount={missing}&from=../x")
    assert resp.status == 400 and resp.error_codes == ["NAME_INVALID"]


def test_same_blob_in_two_repositories_is_stored_once(registry):
    client = registry.client()
    data = os.urandom(5000)
    digest = client.push_blob("dedup/one", data)
    client.push_blob("dedup/two", data)
    hexpart = digest.split(":")[1]
    copies = [f for f in files_under(registry.storage) if f.endswith(hexpart) and f.startswith("blobs/")]
    assert copies == [f"blobs/sha256/{hexpart[:2]}/{hexpart}"]
    assert os.path.exists(os.path.join(registry.storage, "repositories/dedup/one/_layers/sha256", hexpart))
    assert os.path.exists(os.path.join(registry.storage, "repositories/dedup/two/_layers/sha256", hexpart))


def _raw(port: int, request: bytes, half_close: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        return out


def test_body_shorter_than_content_length_is_rolled_back(registry):
    client = registry.client()
    location = _start(client, "lie/short")
    assert client.request("PATCH", location, body=b"0123456789").status == 202
    request = (f"PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n").encode() + b"only this"
    _raw(registry.port, request)
    status = client.get(location)
    assert status.status == 204 and status.headers["Range"] == "0-9"
    upload_id = location.rsplit("/", 1)[1]
    assert os.path.getsize(os.path.join(registry.storage, "uploads", upload_id, "data")) == 10
    assert client.request("PUT", f"{location}?digest={digest_of(b'0123456789')}").status == 201


def test_body_longer_than_content_length_stores_only_declared_bytes(registry):
    client = registry.client()
    digest = digest_of(b"exactly this")
    extra = b" and then garbage that is no request"
    request = (f"POST /v2/lie/long/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: x\r\n"
               f"Content-Length: 12\r\n\r\n").encode() + b"exactly this"
    with socket.create_connection(("127.0.0.1", registry.port), timeout=10) as s:
        s.sendall(request)
        reply = s.recv(65536)
        assert reply.startswith(b"HTTP/1.1 201"), reply[:200]
        s.sendall(extra + b"\r\n\r\n")  # the surplus is parsed as a (bad) next request
        assert b" 400 Bad Request" in s.recv(65536).split(b"\r\n")[0]
    assert client.get(f"/v2/lie/long/blobs/{digest}").body == b"exactly this"
    # surplus in the same packet: the connection may be dropped, but nothing is corrupted
    other = digest_of(b"other bytes!")
    _raw(registry.port, (f"POST /v2/lie/long/blobs/uploads/?digest={other} HTTP/1.1\r\nHost: x\r\n"
                         f"Content-Length: 12\r\n\r\n").encode() + b"other bytes!" + extra)
    if os.path.exists(blob_path(registry.storage, other)):
        with open(blob_path(registry.storage, other), "rb") as f:
            assert f.read() == b"other bytes!"
    assert not os.path.exists(blob_path(registry.storage, digest_of(b"other bytes!" + extra)))
    # a declared length shorter than the content: the digest of the whole does not match
    whole = b"declared five, sent more"
    request = (f"POST /v2/lie/long/blobs/uploads/?digest={digest_of(whole)} HTTP/1.1\r\nHost: x\r\n"
               f"Content-Length: 5\r\n\r\n").encode() + whole
    with socket.create_connection(("127.0.0.1", registry.port), timeout=10) as s:
        declared_end = len(request) - len(whole) + 5
        s.sendall(request[:declared_end])
        reply = s.recv(65536)
        s.sendall(request[declared_end:])
    assert reply.startswith(b"HTTP/1.1 400") and b"DIGEST_INVALID" in reply, reply[:300]
    assert not os.path.exists(blob_path(registry.storage, digest_of(whole)))
    assert not os.path.exists(blob_path(registry.storage, digest_of(whole[:5])))


def test_max_upload_size(start_registry):
    server = start_registry("--max-upload-size", "1k")
    client = server.client()
    resp = client.request("POST", f"/v2/cap/blobs/uploads/?digest={digest_of(b'x' * 2000)}", body=b"x" * 2000)
    assert resp.status == 413 and resp.error_codes == ["SIZE_INVALID"]
    assert client.push_blob("cap", b"y" * 1024)
    location = _start(client, "cap")
    assert client.request("PATCH", location, body=b"z" * 1000).status == 202
    resp = client.request("PATCH", location, body=b"z" * 100)  # over the cap in total
    assert resp.status == 413 and resp.error_codes == ["SIZE_INVALID"]

    def streamed():
        yield b"w" * 600
        yield b"w" * 600

    location = _start(client, "cap")
    resp = client.request("PATCH", location, body=streamed())  # http.client sends it chunked
    assert resp.status == 413
    assert client.get(location).headers["Range"] == "0-0"
    upload_id = location.rsplit("/", 1)[1]
    assert os.path.getsize(os.path.join(server.storage, "uploads", upload_id, "data")) == 0
    blobs = [f for f in files_under(server.storage) if f.startswith("blobs/")]
    assert blobs == [f"blobs/sha256/{digest_of(b'y' * 1024)[7:9]}/{digest_of(b'y' * 1024)[7:]}"]


def test_open_uploads_per_repository_are_bounded(start_registry, tmp_path):
    root = tmp_path / "root"
    server = start_registry("--max-open-uploads", "3", root=root)
    client = server.client()
    locations = [_start(client, "cap/app") for _ in range(3)]
    resp = client.request("POST", "/v2/cap/app/blobs/uploads/")
    assert resp.status == 429 and resp.error_codes == ["TOOMANYREQUESTS"], resp
    assert "3 unfinished uploads" in resp.json()["errors"][0]["message"]
    resp = client.request("POST", f"/v2/cap/app/blobs/uploads/?digest={digest_of(b'x')}", body=b"x")
    assert resp.status == 429  # a single-request push needs a place too, for as long as it runs
    assert _start(client, "cap/other")  # the limit is per repository

    assert client.request("DELETE", locations.pop()).status == 204  # cancelling frees a place...
    locations.append(_start(client, "cap/app"))
    digest = digest_of(b"finished")
    resp = client.request("PUT", f"{locations.pop()}?digest={digest}", body=b"finished")
    assert resp.status == 201  # ...so does finishing
    locations.append(_start(client, "cap/app"))
    assert client.request("POST", "/v2/cap/app/blobs/uploads/").status == 429

    server.stop()  # the count is read back from storage
    server = start_registry("--max-open-uploads", "3", root=root)
    client = server.client()
    assert client.request("POST", "/v2/cap/app/blobs/uploads/").status == 429
    # uploads that go behind the server's back (purged, `registry gc`) free their places
    gone = locations.pop().rsplit("/", 1)[1]
    for name in os.listdir(os.path.join(server.storage, "uploads", gone)):
        os.unlink(os.path.join(server.storage, "uploads", gone, name))
    os.rmdir(os.path.join(server.storage, "uploads", gone))
    assert _start(client, "cap/app")


def test_default_upload_size_limit(registry):
    client = registry.client()
    location = _start(client, "cap/huge")
    # 10 GiB and a byte, announced: refused before a byte of it is read
    with socket.create_connection(("127.0.0.1", registry.port), timeout=10) as sock:
        sock.sendall(f"PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                     f"Content-Length: {10 * 1024 ** 3 + 1}\r\nConnection: close\r\n\r\n".encode())
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413 "), reply
    assert b"SIZE_INVALID" in reply and str(10 * 1024 ** 3).encode() in reply
