"""Storage behaviour seen from outside: crash safety, stale-upload purge, concurrent pushes, layout."""
import os
import signal
import socket
import stat
import threading
import time

import pytest

from registry_helpers import blob_path, digest_of, files_under

LAYER = os.urandom(2 * 1024 * 1024 + 5)


def test_kill_9_during_upload_leaves_no_partial_blob(start_registry, tmp_path):
    root = tmp_path / "root"
    server = start_registry(root=root)
    client = server.client()
    digest = digest_of(LAYER)
    location = client.request("POST", "/v2/crash/app/blobs/uploads/").headers["Location"]
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(f"PUT {location}?digest={digest} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(LAYER)}\r\n\r\n"
                 .encode() + LAYER[:len(LAYER) // 2])
    upload_data = os.path.join(server.storage, "uploads", location.rsplit("/", 1)[1], "data")
    deadline = time.monotonic() + 10
    while os.path.getsize(upload_data) < (1 << 20) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.path.getsize(upload_data) >= 1 << 20  # the server was mid-upload
    server.stop(signal.SIGKILL)
    sock.close()
    assert not os.path.exists(blob_path(server.storage, digest))
    assert not any(f.startswith("blobs/") for f in files_under(server.storage))

    restarted = start_registry(root=root)
    client = restarted.client()
    assert client.head(f"/v2/crash/app/blobs/{digest}").status == 404
    # the interrupted session still answers with what it holds; a fresh push works
    assert client.get(location).status == 204
    assert client.push_blob("crash/app", LAYER) == digest
    assert client.get(f"/v2/crash/app/blobs/{digest}").body == LAYER
    # and the old session can be finished too: its hash is rebuilt from disk
    resp = client.request("PATCH", location, body=b"")
    have = int(resp.headers["Range"].split("-")[1]) + 1
    assert client.request("PATCH", location, body=LAYER[have:],
                          headers={"Content-Range": f"{have}-{len(LAYER) - 1}"}).status == 202
    assert client.request("PUT", f"{location}?digest={digest}").status == 201


def test_stale_uploads_are_purged_at_start(start_registry, tmp_path):
    root = tmp_path / "root"
    server = start_registry(root=root)
    client = server.client()
    old = client.request("POST", "/v2/purge/app/blobs/uploads/").headers["Location"]
    client.request("PATCH", old, body=b"abandoned")
    server.stop()
    uploads = os.path.join(server.storage, "uploads")
    assert len(os.listdir(uploads)) == 1
    # a leftover temp file of an interrupted manifest write
    stray = os.path.join(server.storage, "blobs", "sha256", "ab", ".tmp-leftover")
    os.makedirs(os.path.dirname(stray), exist_ok=True)
    open(stray, "wb").close()
    past = time.time() - 3600
    for dirpath, _, files in os.walk(uploads):
        for f in files:
            os.utime(os.path.join(dirpath, f), (past, past))
    os.utime(stray, (past, past))
    kept = start_registry("--purge-uploads-after", "2h", root=root)
    assert len(os.listdir(uploads)) == 1 and os.path.exists(stray)
    assert kept.client().get(old).status == 204
    kept.stop()
    purged = start_registry("--purge-uploads-after", "30m", root=root)
    assert os.listdir(uploads) == [] and not os.path.exists(stray)
    assert purged.client().get(old).status == 404


def test_idle_uploads_are_purged_while_serving(start_registry):
    server = start_registry("--purge-uploads-after", "2s")
    client = server.client()
    idle = client.request("POST", "/v2/purge/idle/blobs/uploads/").headers["Location"]
    busy = client.request("POST", "/v2/purge/busy/blobs/uploads/").headers["Location"]
    offset = 0
    deadline = time.time() + 5
    while time.time() < deadline:  # the busy upload keeps growing, the idle one sits
        resp = client.request("PATCH", busy, body=b"x", headers={"Content-Range": f"{offset}-{offset}"})
        assert resp.status == 202, resp
        busy, offset = resp.headers["Location"], offset + 1
        time.sleep(0.5)
    assert client.get(idle).status == 404
    assert client.get(busy).status == 204


def test_concurrent_pushes_of_the_same_image(start_registry):
    server = start_registry()
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    errors, digests = [], []

    def push(i):
        try:
            client = server.client()
            repo = "conc/app" if i % 2 else f"conc/app{i}"
            # half chunked, half monolithic: both paths race to commit the same content
            if i % 2:
                location = client.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
                half = len(LAYER) // 2
                r = client.request("PATCH", location, body=LAYER[:half], headers={"Content-Range": f"0-{half - 1}"})
                assert r.status == 202, r
                r = client.request("PUT", f"{location}?digest={digest_of(LAYER)}", body=LAYER[half:])
                assert r.status == 201, r
            digest, _ = client.push_image(repo, "latest", layers=[LAYER], config=config)
            digests.append(digest)
        except Exception as e:  # reported below: assertion errors in threads are otherwise lost
            errors.append(repr(e))

    threads = [threading.Thread(target=push, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert len(set(digests)) == 1 and len(digests) == 20
    hexpart = digest_of(LAYER).split(":")[1]
    blobs = sorted(f for f in files_under(server.storage) if f.startswith("blobs/"))
    assert blobs.count(f"blobs/sha256/{hexpart[:2]}/{hexpart}") == 1
    assert len(blobs) == 3  # layer, config, manifest: one copy each
    assert not [f for f in files_under(server.storage) if ".tmp-" in f]
    assert os.listdir(os.path.join(server.storage, "uploads")) == []
    with open(blob_path(server.storage, digest_of(LAYER)), "rb") as f:
        assert f.read() == LAYER
    assert server.client().get("/v2/_catalog").json()["repositories"] == sorted(
        {"conc/app"} | {f"conc/app{i}" for i in range(0, 20, 2)})


def test_storage_option_and_layout(start_registry, tmp_path):
    storage = tmp_path / "elsewhere"
    server = start_registry("--storage", storage)
    digest, _ = server.client().push_image("layout/app", "v1", layers=[b"L"])
    files = files_under(str(storage))
    assert "repositories/layout/app/_manifests/tags/v1" in files
    assert f"repositories/layout/app/_manifests/revisions/sha256/{digest[7:]}" in files
    assert f"blobs/sha256/{digest[7:9]}/{digest[7:]}" in files
    assert not os.path.exists(os.path.join(server.root, "registry"))


def _in_time(fn, *args, timeout=10):
    """fn(*args) in a thread, failing instead of hanging if it blocks (opening a FIFO would)."""
    result = {}

    def run():
        try:
            result["value"] = fn(*args)
        except BaseException as e:  # reported to the caller
            result["error"] = e
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"{fn.__name__}{args} blocked"
    if "error" in result:
        raise result["error"]
    return result["value"]


def test_storage_reads_only_regular_files_beneath_its_root(tmp_path):
    from berth.oci.digest import Digest
    from berth.registry.server.filesystem import FilesystemStorage
    from registry_helpers import OpenWatch
    storage = FilesystemStorage(str(tmp_path / "store"))
    manifest = b'{"schemaVersion": 2}'
    digest = Digest.parse(digest_of(manifest))
    storage.put_manifest("a/b", digest, "application/vnd.oci.image.manifest.v1+json", manifest)
    storage.set_tag("a/b", "v1", digest)
    outside = tmp_path / "outside"
    (outside / "repo" / "_manifests" / "tags").mkdir(parents=True)
    (outside / "secret").write_text(str(digest))  # a valid tag file's content, outside
    (outside / "repo" / "_manifests" / "tags" / "v1").write_text(str(digest))
    os.mkfifo(outside / "fifo")
    tags = tmp_path / "store" / "repositories" / "a" / "b" / "_manifests" / "tags"
    os.mkfifo(tags / "fifo")
    os.mknod(tags / "zero", 0o600 | stat.S_IFCHR, os.makedev(1, 5))
    (tags / "big").write_bytes(b"sha256:" + b"0" * (1 << 16))  # past the bound on tag files
    (tags / "junk").write_text("SENTINEL-SECRET file contents\n")
    os.symlink(outside / "secret", tags / "link")
    os.symlink(outside / "fifo", tags / "fifo-link")
    os.symlink(outside / "repo", tmp_path / "store" / "repositories" / "a" / "evil")
    hexpart = "ab" * 32
    os.makedirs(tmp_path / "store" / "blobs" / "sha256" / "ab")
    os.symlink(outside / "secret", tmp_path / "store" / "blobs" / "sha256" / "ab" / hexpart)
    watch = OpenWatch(str(outside), str(outside / "repo" / "_manifests" / "tags"))

    assert _in_time(storage.tags, "a/b") == ["big", "junk", "v1"]  # regular files only
    for tag in ("fifo", "zero", "big", "junk", "link", "fifo-link", "nothing"):
        assert _in_time(storage.resolve_tag, "a/b", tag) is None, tag
    assert _in_time(storage.resolve_tag, "a/b", "v1") == digest
    assert [t.tag for t in _in_time(storage.tag_infos, "a/b")] == ["v1"]
    assert _in_time(storage.tags, "a/evil") is None
    assert _in_time(storage.resolve_tag, "a/evil", "v1") is None
    linked = Digest.parse(f"sha256:{hexpart}")
    assert _in_time(storage.stat_blob, linked) is None
    with pytest.raises(FileNotFoundError):
        _in_time(storage.open_blob, linked)
    with pytest.raises(OSError):  # a write never goes through a planted symlink either
        storage.set_tag("a/evil", "v2", digest)
    # paths that could walk are refused before any lookup, whoever calls
    for name, tag in (("a/b", "../../../../../outside/secret"), ("a/../..", "v1"), ("a/b", ".."), ("a/b", "x\0")):
        with pytest.raises(ValueError) as e:
            storage.resolve_tag(name, tag)
        assert "SENTINEL" not in str(e.value)
    assert watch.events() == []
    watch.close()
    assert os.listdir(outside / "repo" / "_manifests" / "tags") == ["v1"]
