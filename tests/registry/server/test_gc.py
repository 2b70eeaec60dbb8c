"""`berth registry gc`: mark and sweep, grace period, --delete-untagged, and running beside `serve`."""
import json
import os
import subprocess
import time

from registry_helpers import (BERTH, OCI_INDEX, OCI_MANIFEST, blob_path, digest_of, files_under, image_manifest,
                              index_manifest)

HOUR = 3600


def gc(server, *args, check=True):
    proc = subprocess.run(BERTH + ["--root", server.root, "registry", "gc", *map(str, args)],
                          capture_output=True, text=True, timeout=60)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def age(server, digest, seconds=2 * HOUR):
    """Pretend a blob was written `seconds` ago."""
    path = blob_path(server.storage, digest)
    then = time.time() - seconds
    os.utime(path, (then, then))


def age_all(server, seconds=2 * HOUR):
    """Pretend everything stored so far was written `seconds` ago (blobs and manifest links)."""
    then = time.time() - seconds
    for top in ("blobs", "repositories"):
        for dirpath, _, files in os.walk(os.path.join(server.storage, top)):
            for name in files:
                os.utime(os.path.join(dirpath, name), (then, then))


def exists(server, digest) -> bool:
    return os.path.exists(blob_path(server.storage, digest))


def push_image(client, repo, tag, layers):
    """Push an image with its own config; returns (manifest digest, manifest bytes, layer digests)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "repo": repo, "tag": tag,
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    digest, manifest = client.push_image(repo, tag, layers=layers, config=config)
    return digest, manifest, [digest_of(layer) for layer in layers]


def test_dry_run_deletes_nothing(start_registry):
    server = start_registry()
    client = server.client()
    push_image(client, "gc/dry", "v1", [b"kept layer"])
    orphan = client.push_blob("gc/dry", b"orphan layer")
    before = files_under(server.storage)
    out = gc(server, "--dry-run", "--grace", "0").stdout
    assert f"would delete blob {orphan} ({len(b'orphan layer')} bytes)" in out
    assert out.strip().splitlines()[-1] == "would delete 1 blob(s) and 0 untagged manifest(s), would free 12 bytes"
    assert files_under(server.storage) == before


def test_unreferenced_blob_deleted_referenced_kept(start_registry):
    server = start_registry()
    client = server.client()
    digest, manifest, layers = push_image(client, "gc/app", "v1", [b"layer a", b"layer b"])
    orphan = client.push_blob("gc/app", b"orphan")
    age_all(server)
    out = gc(server).stdout
    assert out.splitlines() == [f"deleted blob {orphan} (6 bytes)",
                                "deleted 1 blob(s) and 0 untagged manifest(s), freed 6 bytes"]
    assert not exists(server, orphan)
    assert client.head(f"/v2/gc/app/blobs/{orphan}").status == 404
    assert client.get("/v2/gc/app/manifests/v1", headers={"Accept": OCI_MANIFEST}).body == manifest
    for layer, data in zip(layers, (b"layer a", b"layer b")):
        assert client.get(f"/v2/gc/app/blobs/{layer}").body == data
    assert "deleted 0 blob(s)" in gc(server, "--grace", "0").stdout  # nothing left to do


def test_shared_layer_survives_deleting_one_repository_manifest(start_registry):
    server = start_registry()
    client = server.client()
    first, _, (shared, only_first) = push_image(client, "gc/one", "v1", [b"shared layer", b"first only"])
    second, manifest, (_, only_second) = push_image(client, "gc/two", "v1", [b"shared layer", b"second only"])
    assert client.request("DELETE", f"/v2/gc/one/manifests/{first}").status == 202
    age_all(server)
    out = gc(server).stdout
    assert not exists(server, only_first) and not exists(server, first)
    assert f"deleted blob {only_first}" in out and f"deleted blob {first}" in out
    assert exists(server, shared) and exists(server, only_second) and exists(server, second)
    assert client.get("/v2/gc/two/manifests/v1", headers={"Accept": OCI_MANIFEST}).body == manifest
    assert client.get(f"/v2/gc/two/blobs/{shared}").body == b"shared layer"
    # the deleted blob's link in gc/one went with it: pushing it again is an ordinary upload
    assert client.head(f"/v2/gc/one/blobs/{only_first}").status == 404


def test_delete_untagged(start_registry):
    server = start_registry()
    client = server.client()
    tagged, tagged_manifest, _ = push_image(client, "gc/u", "v1", [b"tagged layer"])
    untagged, _, (untagged_layer,) = push_image(client, "gc/u", "scratch", [b"untagged layer"])
    assert client.request("DELETE", "/v2/gc/u/manifests/scratch").status == 202  # now untagged
    child, child_manifest, (child_layer,) = push_image(client, "gc/u", "child", [b"child layer"])
    index = index_manifest([(child, len(child_manifest), OCI_MANIFEST)])
    assert client.push_manifest("gc/u", "multi", index, OCI_INDEX).status == 201
    assert client.request("DELETE", "/v2/gc/u/manifests/child").status == 202  # reachable through the index only
    config = client.push_blob("gc/u", b"{}")
    signature_layer = client.push_blob("gc/u", b"signature")
    referrer = image_manifest(config, 2, [(signature_layer, 9)], extra={
        "artifactType": "application/example.signature",
        "subject": {"mediaType": OCI_MANIFEST, "digest": tagged, "size": len(tagged_manifest)}})
    referrer_digest = digest_of(referrer)
    assert client.push_manifest("gc/u", referrer_digest, referrer).status == 201

    # without the flag, and within the grace period with it, untagged manifests stay
    assert "0 untagged manifest(s)" in gc(server, "--grace", "0").stdout
    assert "0 untagged manifest(s)" in gc(server, "--delete-untagged").stdout
    assert exists(server, untagged_layer)

    age_all(server)
    out = gc(server, "--delete-untagged").stdout
    assert f"deleted untagged manifest gc/u@{untagged}" in out
    assert "deleted 3 blob(s) and 1 untagged manifest(s)" in out  # the manifest, its config and its layer
    assert client.get(f"/v2/gc/u/manifests/{untagged}").status == 404
    assert not exists(server, untagged_layer) and not exists(server, untagged)
    assert client.get("/v2/gc/u/manifests/v1", headers={"Accept": OCI_MANIFEST}).body == tagged_manifest
    assert client.get(f"/v2/gc/u/manifests/{child}", headers={"Accept": OCI_MANIFEST}).body == child_manifest
    assert client.get(f"/v2/gc/u/blobs/{child_layer}").body == b"child layer"
    listed = client.get(f"/v2/gc/u/referrers/{tagged}").json()["manifests"]
    assert [m["digest"] for m in listed] == [referrer_digest]
    assert client.get(f"/v2/gc/u/blobs/{signature_layer}").body == b"signature"


def test_grace_period_protects_fresh_blobs(start_registry):
    server = start_registry()
    client = server.client()
    orphan = client.push_blob("gc/grace", b"just uploaded")
    assert "deleted 0 blob(s)" in gc(server).stdout  # default grace: 1h
    assert exists(server, orphan)
    age(server, orphan, 2 * HOUR)
    # pushing it again (its manifest will follow) restarts the grace period
    client.push_blob("gc/grace", b"just uploaded")
    assert "deleted 0 blob(s)" in gc(server, "--grace", "1h").stdout
    age(server, orphan, 2 * HOUR)
    assert f"deleted blob {orphan}" in gc(server, "--grace", "1h").stdout
    assert not exists(server, orphan)


def test_push_in_flight_survives_gc(start_registry):
    server = start_registry()
    client = server.client()
    data = os.urandom(300_000)
    digest = digest_of(data)
    resp = client.request("POST", "/v2/gc/flight/blobs/uploads/")
    assert resp.status == 202
    location = resp.headers["Location"]
    resp = client.request("PATCH", location, body=data[:100_000], headers={"Content-Type": "application/octet-stream"})
    assert resp.status == 202
    gc(server, "--grace", "0", "--delete-untagged")
    resp = client.request("PATCH", location, body=data[100_000:], headers={"Content-Type": "application/octet-stream"})
    assert resp.status == 202
    assert client.request("PUT", f"{location}?digest={digest}").status == 201
    config = client.push_blob("gc/flight", b"{}")
    gc(server, "--grace", "1m", "--delete-untagged")  # blobs without a manifest yet: young, so spared
    manifest = image_manifest(config, 2, [(digest, len(data))])
    assert client.push_manifest("gc/flight", "v1", manifest).status == 201
    gc(server, "--grace", "0", "--delete-untagged")
    assert client.get(f"/v2/gc/flight/blobs/{digest}").body == data


def test_sweep_waits_for_writes_holding_the_lock(start_registry):
    from berth.registry.server.filesystem import FilesystemStorage
    server = start_registry()
    orphan = server.client().push_blob("gc/lock", b"orphan")
    age(server, orphan)
    storage = FilesystemStorage(server.storage)
    with storage.gc_lock():  # what a server's commit or manifest put holds
        proc = subprocess.Popen(BERTH + ["--root", server.root, "registry", "gc"], stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)
        assert proc.poll() is None and exists(server, orphan)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and f"deleted blob {orphan}" in out


def test_manifest_linked_during_mark_is_kept(tmp_path):
    """A manifest stored after marking began (before the sweep's lock) keeps its blobs."""
    from berth.oci.digest import Digest
    from berth.registry.server.filesystem import FilesystemStorage
    from berth.registry.server.gc import collect

    class RacingStorage(FilesystemStorage):
        def gc_lock(self, exclusive=False, blocking=True):
            if exclusive:  # the server's write lands just before gc takes its lock
                self.put_manifest("gc/race", Digest.parse(manifest_digest), OCI_MANIFEST, manifest)
            return super().gc_lock(exclusive, blocking)

    storage = RacingStorage(str(tmp_path / "registry"))
    blobs = {}
    for data in (b"{}", b"late layer"):
        upload = storage.create_upload("gc/race")
        with storage.open_upload("gc/race", upload) as writer:
            writer.write(data)
        blobs[data] = Digest.parse(digest_of(data))
        storage.commit_upload("gc/race", upload, blobs[data])
        path = blob_path(storage.root, str(blobs[data]))
        os.utime(path, (time.time() - 2 * HOUR,) * 2)
    manifest = image_manifest(str(blobs[b"{}"]), 2, [(str(blobs[b"late layer"]), 10)])
    manifest_digest = digest_of(manifest)
    result = collect(storage, grace=HOUR)
    assert result.blobs == []
    assert storage.read_blob(blobs[b"late layer"]) == b"late layer"


def test_server_writes_wait_for_the_sweep(start_registry):
    import threading
    from berth.registry.server.filesystem import FilesystemStorage
    server = start_registry()
    client = server.client()
    results = []
    with FilesystemStorage(server.storage).gc_lock(exclusive=True):  # what gc's sweep holds
        pusher = threading.Thread(target=lambda: results.append(client.push_blob("gc/wait", b"waiting")))
        pusher.start()
        time.sleep(0.5)
        assert results == [] and client.get("/v2/").status == 200  # reads go on meanwhile
    pusher.join(timeout=10)
    assert results == [digest_of(b"waiting")]


def _age_upload(server, upload_id, seconds=2 * HOUR):
    then = time.time() - seconds
    directory = os.path.join(server.storage, "uploads", upload_id)
    for name in os.listdir(directory):
        os.utime(os.path.join(directory, name), (then, then))


def test_orphaned_uploads_are_removed_and_clients_uploads_kept(start_registry, tmp_path):
    import signal
    import socket
    root = tmp_path / "root"
    server = start_registry(root=root)
    client = server.client()
    uploads = os.path.join(server.storage, "uploads")
    # the client's own upload, idle for hours: the client may still resume it
    location = client.request("POST", "/v2/gc/up/blobs/uploads/").headers["Location"]
    assert client.request("PATCH", location, body=b"first half ").status == 202
    kept = location.rsplit("/", 1)[1]
    # a single-request push, the server killed in the middle: no client knows that upload's id
    data = os.urandom(4 << 20)
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(f"POST /v2/gc/up/blobs/uploads/?digest={digest_of(data)} HTTP/1.1\r\nHost: x\r\n"
                 f"Content-Length: {len(data)}\r\n\r\n".encode() + data[:3 << 20])
    deadline = time.monotonic() + 10
    def receiving() -> list[str]:  # the upload directory appears a moment before its data file
        return [u for u in os.listdir(uploads) if u != kept and os.path.isfile(os.path.join(uploads, u, "data"))
                and os.path.getsize(os.path.join(uploads, u, "data"))]

    while not receiving():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    server.stop(signal.SIGKILL)
    sock.close()
    orphan = next(u for u in os.listdir(uploads) if u != kept)
    # a start cut short: the directory and data made, the record of whose upload it is not yet
    cut_short = "0" * 32
    os.makedirs(os.path.join(uploads, cut_short))
    open(os.path.join(uploads, cut_short, "data"), "wb").close()

    server = start_registry(root=root)
    assert "orphaned" not in gc(server, "--grace", "1h").stdout  # young still
    for upload_id in (kept, orphan, cut_short):
        _age_upload(server, upload_id)
    out = gc(server, "--dry-run", "--grace", "1h").stdout
    assert f"would delete orphaned upload {orphan} in gc/up" in out
    assert f"would delete orphaned upload {cut_short} of an unknown repository (0 bytes)" in out
    assert "2 orphaned upload(s)" in out.splitlines()[-1] and kept not in out
    assert sorted(os.listdir(uploads)) == sorted([kept, orphan, cut_short])
    out = gc(server, "--grace", "1h").stdout
    assert f"deleted orphaned upload {orphan}" in out and f"deleted orphaned upload {cut_short}" in out
    assert os.listdir(uploads) == [kept]
    client = server.client()  # the client's upload is untouched and can be finished
    assert client.request("PATCH", location, body=b"second half").status == 202
    digest = digest_of(b"first half second half")
    assert client.request("PUT", f"{location}?digest={digest}").status == 201


def test_references_of_a_hostile_stored_manifest_are_none():
    """A manifest stored before bodies were bounded (deeply nested, not JSON) names nothing, and
    gc goes on instead of failing with a RecursionError."""
    from berth.registry.server.gc import references
    assert references(b"[" * 100_000 + b"]" * 100_000) == ([], [])
    assert references(b'{"layers": ' * 5000 + b"1" + b"}" * 5000) == ([], [])
    assert references(b"\xff\xfe junk") == ([], [])
