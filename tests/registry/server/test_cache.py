"""The read cache: answers come from memory, yet a moved tag, a deleted manifest or a collected
blob is never served stale, whoever changed the storage (this server, a second server process on
the same storage, `berth registry gc`) and with several clients reading at once."""
import json
import os
import threading
import time

from registry_helpers import BERTH, OCI_MANIFEST, Client, blob_path, digest_of
from berth.registry.server.cache import ReadCache

ACCEPT = {"Accept": OCI_MANIFEST}


def test_reads_are_served_from_memory_until_a_writer_records_a_change(start_registry, tmp_path):
    # proof the cache is used at all: a tag file removed behind the server's back (no writer
    # recorded it) is still answered; the next recorded change makes the server look again
    server = start_registry()
    client = server.client()
    digest, manifest = client.push_image("cache/mem", "v1")
    assert client.get("/v2/cache/mem/manifests/v1", headers=ACCEPT).body == manifest
    os.unlink(os.path.join(server.storage, "repositories", "cache", "mem", "_manifests", "tags", "v1"))
    for _ in range(3):
        response = client.get("/v2/cache/mem/manifests/v1", headers=ACCEPT)
        assert response.status == 200 and response.body == manifest
        assert client.head("/v2/cache/mem/manifests/v1", headers=ACCEPT).headers["Docker-Content-Digest"] == digest
    client.push_image("cache/other", "v1", layers=[b"other"])
    assert client.request("DELETE", "/v2/cache/other/manifests/v1").status == 202  # a recorded change
    assert client.get("/v2/cache/mem/manifests/v1", headers=ACCEPT).status == 404


def test_tag_moved_by_a_push_is_served_new_by_this_and_a_second_server(start_registry, tmp_path):
    first = start_registry(root=tmp_path / "root")
    second = start_registry("--storage", first.storage, root=tmp_path / "root2")
    a, b = first.client(), second.client()
    old, old_manifest = a.push_image("cache/moved", "v1", layers=[b"old layer"])
    for client in (a, b):  # both servers cache the tag
        assert client.get("/v2/cache/moved/manifests/v1", headers=ACCEPT).body == old_manifest
    new, new_manifest = b.push_image("cache/moved", "v1", layers=[b"new layer"])  # through the second
    assert new != old
    for client in (a, b):
        for method in ("GET", "HEAD"):
            response = client.request(method, "/v2/cache/moved/manifests/v1", headers=ACCEPT)
            assert response.headers["Docker-Content-Digest"] == new, (method, client.port)
        assert client.get("/v2/cache/moved/manifests/v1", headers=ACCEPT).body == new_manifest
    _, again = a.push_image("cache/moved", "v1", layers=[b"old layer"])  # and back, through the first
    assert b.get("/v2/cache/moved/manifests/v1", headers=ACCEPT).body == again == old_manifest


def test_deleted_manifest_is_not_served_by_either_server(start_registry, tmp_path):
    first = start_registry(root=tmp_path / "root")
    second = start_registry("--storage", first.storage, root=tmp_path / "root2")
    a, b = first.client(), second.client()
    digest, manifest = a.push_image("cache/deleted", "v1")
    a.push_manifest("cache/deleted", "v2", manifest)
    paths = ["/v2/cache/deleted/manifests/v1", "/v2/cache/deleted/manifests/v2",
             f"/v2/cache/deleted/manifests/{digest}"]
    for client in (a, b):
        for path in paths:
            assert client.get(path, headers=ACCEPT).body == manifest
    assert b.request("DELETE", "/v2/cache/deleted/manifests/v2").status == 202  # a tag only
    assert a.get(paths[1], headers=ACCEPT).status == 404
    assert a.get(paths[0], headers=ACCEPT).body == manifest
    assert b.request("DELETE", f"/v2/cache/deleted/manifests/{digest}").status == 202  # the manifest
    for client in (a, b):
        for path in paths:
            for method in ("GET", "HEAD"):
                assert client.request(method, path, headers=ACCEPT).status == 404, (method, path, client.port)


def test_blob_collected_by_gc_is_not_served(start_registry, tmp_path):
    import subprocess
    server = start_registry()
    client = server.client()
    layer = b"a layer gc will collect"
    digest, _ = client.push_image("cache/gc", "v1", layers=[layer])
    blob = digest_of(layer)
    assert client.get(f"/v2/cache/gc/blobs/{blob}").body == layer
    assert client.head(f"/v2/cache/gc/blobs/{blob}").status == 200
    assert client.get(f"/v2/cache/gc/manifests/{digest}", headers=ACCEPT).status == 200
    assert client.request("DELETE", f"/v2/cache/gc/manifests/{digest}").status == 202
    assert client.head(f"/v2/cache/gc/blobs/{blob}").status == 200  # still linked, only unreferenced
    then = time.time() - 7200  # as if pushed two hours ago: past gc's grace period
    for top in ("blobs", "repositories"):
        for dirpath, _, files in os.walk(os.path.join(server.storage, top)):
            for name in files:
                os.utime(os.path.join(dirpath, name), (then, then))
    proc = subprocess.run(BERTH + ["--root", server.root, "registry", "gc"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert not os.path.exists(blob_path(server.storage, blob))
    for method in ("GET", "HEAD"):
        assert client.request(method, f"/v2/cache/gc/blobs/{blob}").status == 404, method


def test_many_readers_never_see_a_tag_older_than_the_last_finished_push(start_registry, tmp_path):
    # readers on the first server, pushes through the second: a GET that starts after a push was
    # answered 201 must name that push's manifest (or a later one), never an earlier one
    first = start_registry(root=tmp_path / "root")
    second = start_registry("--storage", first.storage, root=tmp_path / "root2")
    pusher = second.client()
    config = pusher.push_blob("cache/race", b'{"architecture":"amd64","os":"linux"}')
    versions: dict[str, int] = {}
    finished = [0]  # the newest version whose push was answered
    stop = threading.Event()
    failures: list[str] = []
    reads = [0]

    def manifest(version: int) -> bytes:
        return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config,
                                      "size": 37},
                           "layers": [], "annotations": {"version": str(version)}}).encode()

    def read() -> None:
        reader = Client(first.port)
        while not stop.is_set():
            floor = finished[0]
            response = reader.get("/v2/cache/race/manifests/latest", headers=ACCEPT)
            if floor == 0 and response.status == 404:
                continue
            seen = versions.get(response.headers.get("Docker-Content-Digest"), -1)
            if response.status != 200 or seen < floor:
                failures.append(f"read version {seen} (status {response.status}) after version {floor} was pushed")
                stop.set()
            reads[0] += 1

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for version in range(1, 31):
            data = manifest(version)
            versions[digest_of(data)] = version
            assert pusher.push_manifest("cache/race", "latest", data).status == 201
            finished[0] = version
            deadline = time.monotonic() + 10
            start = reads[0]
            while reads[0] < start + 4 and not stop.is_set():  # let readers see each version
                assert time.monotonic() < deadline, "the readers stopped reading"
                time.sleep(0.001)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not failures, failures[:3]


class _Storage:
    def __init__(self):
        self.value = 0

    def generation(self):
        return self.value


def test_read_cache_drops_everything_when_the_generation_moves_and_keeps_to_its_budget():
    storage = _Storage()
    cache = ReadCache(storage, budget=3 * 300)
    g = cache.current()
    cache.put("a", "A", 10, g)
    assert cache.get("a", cache.current()) == "A"
    storage.value = 1
    assert cache.get("a", cache.current()) is None  # the storage changed
    stale = cache.current()
    cache.put("b", "read before the change", 10, 0)  # read under an older generation: not kept
    assert cache.get("b", stale) is None
    for key in "cdef":
        cache.put(key, key.upper(), 10, stale)
    assert cache.get("c", stale) is None and cache.get("f", stale) == "F"  # least recently used went first
    cache.put("huge", "x", 10_000, stale)  # larger than the whole budget: never kept
    assert cache.get("huge", stale) is None
    storage.value = None  # a backend that cannot tell: nothing is cached
    none = cache.current()
    cache.put("g", "G", 10, none)
    assert cache.get("g", cache.current()) is None


def test_catalog_and_tags_list_follow_pushes_and_deletes_through_a_second_server(start_registry, tmp_path):
    first = start_registry(root=tmp_path / "root")
    second = start_registry("--storage", first.storage, root=tmp_path / "root2")
    a, b = first.client(), second.client()
    _, manifest = a.push_image("cache/listed", "v1")
    assert a.get("/v2/_catalog").json()["repositories"] == ["cache/listed"]
    assert a.get("/v2/cache/listed/tags/list").json()["tags"] == ["v1"]
    b.push_blob("cache/new", b"a blob makes a repository")  # a new repository, through the second server
    assert a.get("/v2/_catalog").json()["repositories"] == ["cache/listed", "cache/new"]
    assert b.push_manifest("cache/listed", "v2", manifest).status == 201
    assert a.get("/v2/cache/listed/tags/list").json()["tags"] == ["v1", "v2"]
    assert b.request("DELETE", "/v2/cache/listed/manifests/v1").status == 202
    assert a.get("/v2/cache/listed/tags/list").json()["tags"] == ["v2"]
