"""The store on disk: shared layers, exact rebuilds, atomic commits, recovery and concurrency."""
import io
import multiprocessing
import os
import signal
import subprocess
import tarfile
import time

import pytest

from berth.errors import DigestMismatch
from berth.oci.digest import Digest
from berth.store import Store, db, fsutil
from helpers import BERTH, Berth, docker_archive, image_config, layer_tar

BASE = layer_tar({"etc/": None, "etc/hostname": b"base\n"})
TOP = layer_tar({"srv/": None, "srv/x": b"top\n"})


def opener(data: bytes):
    return lambda: io.BytesIO(data)


def test_layer_unpacked_once_and_shared(tmp_path):
    store = Store(str(tmp_path / "s"))
    a = store.layers.add(opener(BASE), None)
    b = store.layers.add(opener(BASE), None)
    assert a == b and a.diff_id == Digest.of_bytes(BASE)
    assert os.listdir(store.layers.root) == [a.chain_id.hex]
    top = store.layers.add(opener(TOP), a.chain_id)
    assert top.parent == a.chain_id and top.chain_id != top.diff_id
    img1 = store.images.add(image_config([str(a.diff_id)]), [a])
    img2 = store.images.add(image_config([str(a.diff_id), str(top.diff_id)]), [a, top])
    assert set(store.images.users_of_layer(a.chain_id)) == {img1.id, img2.id}
    store.images.delete(img2, force=True)
    assert store.layers.get(a.chain_id) is not None and store.layers.get(top.chain_id) is None
    assert sorted(os.listdir(store.layers.root)) == [a.chain_id.hex]


def test_expected_diff_id_skips_work_and_mismatch_is_refused(tmp_path):
    store = Store(str(tmp_path / "s"))
    wrong = Digest.of_bytes(b"something else")
    with pytest.raises(DigestMismatch, match="diff_id"):
        store.layers.add(opener(BASE), None, expected_diff_id=wrong)
    assert store.layers.all() == [] and os.listdir(store.layers.root) == []
    assert os.listdir(store.tmp) == []
    layer = store.layers.add(opener(BASE), None)
    calls = []
    again = store.layers.add(lambda: calls.append(1), None, expected_diff_id=layer.diff_id)
    assert again == layer and calls == []  # present: the stream is never opened


def test_tar_split_rebuilds_exact_stream_and_duplicates_keep_the_blob(tmp_path):
    store = Store(str(tmp_path / "s"))
    layer = store.layers.add(opener(BASE), None)
    out = io.BytesIO()
    store.layers.write_tar(layer, out)
    assert out.getvalue() == BASE and layer.blob is None
    # The same path twice: the second overwrites the first on disk, so the blob is kept.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for content in (b"first", b"second!"):
            info = tarfile.TarInfo("f")
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    dup = store.layers.add(opener(buf.getvalue()), None)
    assert dup.blob is not None
    out = io.BytesIO()
    store.layers.write_tar(dup, out)
    assert out.getvalue() == buf.getvalue()


def test_content_ingest_verifies_and_leaves_nothing_on_mismatch(tmp_path):
    store = Store(str(tmp_path / "s"))
    d = store.content.ingest(io.BytesIO(b"hello"))
    assert store.content.read(d) == b"hello"
    assert oct(os.stat(store.content.path(d)).st_mode & 0o777) == "0o600"
    with pytest.raises(DigestMismatch):
        store.content.ingest(io.BytesIO(b"other"), expected=Digest.of_bytes(b"nope"))
    assert not store.content.has(Digest.of_bytes(b"other"))
    assert os.listdir(store.tmp) == []


def test_store_is_private(tmp_path):
    store = Store(str(tmp_path / "s"))
    assert os.stat(store.root).st_mode & 0o077 == 0


def test_atomic_write_leaves_no_temp(tmp_path):
    target = tmp_path / "f"
    fsutil.atomic_write(str(target), b"one")
    fsutil.atomic_write(str(target), b"two")
    assert target.read_bytes() == b"two" and os.listdir(tmp_path) == ["f"]


def test_recovery_removes_dead_staging_and_orphans_but_not_live_work(tmp_path):
    root = tmp_path / "s"
    store = Store(str(root))
    # a staging dir whose owner died (no lock held) and one whose owner is alive (lock held)
    dead = root / "tmp" / "layer-dead"
    dead.mkdir()
    (dead / "junk").write_bytes(b"x" * 100)
    live = fsutil.Staging(store.tmp, "layer-")
    # an unpacked layer directory that never got its row (crash between rename and insert)
    orphan = root / "layers" / ("ab" * 32)
    (orphan / "diff").mkdir(parents=True)
    store.close()
    Store(str(root)).close()
    assert not dead.exists() and not orphan.exists()
    assert os.path.isdir(live.path)
    live.cleanup()


@pytest.fixture(scope="module")
def big_archive(tmp_path_factory):
    """Three ~40 MB layers: large enough to kill a load in the middle."""
    d = tmp_path_factory.mktemp("big")
    layers = []
    for i in range(3):
        path = d / f"l{i}.tar"
        with tarfile.open(path, "w") as tf:
            for j in range(4):
                info = tarfile.TarInfo(f"layer{i}/blob{j}")
                info.size = 10 << 20
                tf.addfile(info, io.BytesIO(os.urandom(info.size)))
        layers.append(path)
    archive = d / "big.tar"
    docker_archive(archive, [{"tags": ["big:1"], "layers": layers}])
    return archive


def test_kill_9_during_load_leaves_a_usable_store(tmp_path, big_archive):
    berth = Berth(tmp_path / "s")
    for delay in (0.05, 0.3, 0.6, 0.9):
        proc = subprocess.Popen(BERTH + ["--root", berth.root, "load", "-i", str(big_archive)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # the store answers, shows no half image, and recovery clears what the dead process left
        out = berth.run("images", "--format", "{{.Repository}}").stdout.decode().split()
        assert out in ([], ["big"])
        assert os.listdir(os.path.join(berth.root, "tmp")) == []
    berth.run("load", "-i", big_archive)
    assert berth.out("images", "--format", "{{.Repository}}:{{.Tag}}").split() == ["big:1"]
    assert len(os.listdir(os.path.join(berth.root, "layers"))) == 3
    out = tmp_path / "again.tar"
    berth.run("save", "-o", out, "big:1")  # every layer rebuilds to its diff_id


def test_concurrent_loads_of_the_same_image(tmp_path, big_archive):
    berth = Berth(tmp_path / "s")
    procs = [subprocess.Popen(BERTH + ["--root", berth.root, "load", "-i", str(big_archive)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    results = [(p.wait(), p.stderr.read().decode()) for p in procs]
    assert all(code == 0 for code, _ in results), results
    assert berth.out("images", "-q").split().__len__() == 1
    assert len(os.listdir(os.path.join(berth.root, "layers"))) == 3
    assert os.listdir(os.path.join(berth.root, "tmp")) == []


def _open_fresh_database(path: str) -> str:
    try:
        db.connect(path).execute("SELECT count(*) FROM images").fetchone()
        return ""
    except Exception as e:  # reported back to the test, which names it
        return repr(e)


def test_many_processes_opening_a_new_store_at_once(tmp_path):
    # switching a new database to WAL fails at once, without the busy wait, if another process
    # opens it meanwhile; this raced in about one start in five before creation was serialised
    with multiprocessing.get_context("fork").Pool(6) as pool:
        for attempt in range(40):
            path = str(tmp_path / f"{attempt}.db")
            errors = [e for e in pool.map(_open_fresh_database, [path] * 6) if e]
            assert not errors, errors


def test_concurrent_tagging_from_many_processes(busybox):
    procs = [subprocess.Popen(BERTH + ["--root", busybox.root, "tag", "busybox", f"t/{i}:x"]) for i in range(12)]
    assert all(p.wait() == 0 for p in procs)
    names = busybox.out("images", "--format", "{{.Repository}}").split()
    assert sorted(names) == sorted(["busybox"] + [f"t/{i}" for i in range(12)])


def test_python_api(tmp_path):
    import berth
    with berth.Engine(root=str(tmp_path / "s")) as engine:
        img = engine.images.bootstrap("busybox")
        assert [t.familiar for t in engine.images.get("busybox").tags] == ["busybox:latest"]
        assert engine.images.inspect("busybox")["Id"] == str(img.id)


# ---- deep trees left in tmp/ (a RUN step that made a 1200-level tree, then died) ----------------

DEEP = 1500  # deeper than Python's default recursion limit


def _make_chain(path, depth: int) -> None:
    """path/a/a/... `depth` levels, with a file at each level, made relative to dir fds."""
    os.mkdir(path)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("a", dir_fd=fd)
            os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
            sub = os.open("a", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = sub
    finally:
        os.close(fd)


@pytest.fixture
def deep_cleanup():
    """Paths removed at teardown with remove_tree (pytest's shutil.rmtree recurses and fails)."""
    paths = []
    yield paths.append
    for path in paths:
        fsutil.remove_tree(str(path))


def test_recovery_removes_a_dead_deep_staging_dir(tmp_path, deep_cleanup):
    root = tmp_path / "s"
    Store(str(root)).close()
    dead = root / "tmp" / "layer-deadbeef"
    deep_cleanup(dead)
    _make_chain(dead, DEEP)
    (root / "tmp" / "layer-deadbeef.lock").write_bytes(b"")  # its owner died: the lock is free
    Store(str(root)).close()
    assert os.listdir(root / "tmp") == []


def test_cli_commands_work_with_a_deep_leftover_in_tmp(tmp_path, deep_cleanup):
    berth = Berth(tmp_path / "s")
    berth.run("images")
    dead = tmp_path / "s" / "tmp" / "build-0123456789ab"
    deep_cleanup(dead)
    _make_chain(dead, DEEP)
    proc = berth.run("images")
    assert proc.stderr == b""
    assert os.listdir(tmp_path / "s" / "tmp") == []


def test_store_opens_when_a_leftover_cannot_be_removed(tmp_path, capsys):
    """A leftover holding a mount point (EBUSY), and an entry whose lock file cannot be opened
    (a directory named like one), are reported in one warning line; the store still opens, the
    rest is cleaned, and the next open retries."""
    root = tmp_path / "s"
    Store(str(root)).close()
    tmp = root / "tmp"
    stuck = tmp / "layer-stuck"
    (stuck / "mnt").mkdir(parents=True)
    (stuck / "junk").write_bytes(b"x")
    weird = tmp / "layer-weird"
    weird.mkdir()
    (tmp / "layer-weird.lock").mkdir()  # flock cannot open it: EISDIR
    gone = tmp / "layer-gone"
    gone.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "none", str(stuck / "mnt")], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here: {proc.stderr.strip()}")
    try:
        (stuck / "mnt" / "kept").write_bytes(b"k")
        capsys.readouterr()
        store = Store(str(root))
        store.close()
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("WARNING: ")
        assert str(stuck) in err and str(weird) in err
        assert not gone.exists() and not (stuck / "junk").exists()
        assert (stuck / "mnt" / "kept").read_bytes() == b"k"
    finally:
        subprocess.run(["umount", str(stuck / "mnt")], check=True)
    (tmp / "layer-weird.lock").rmdir()
    Store(str(root)).close()
    assert capsys.readouterr().err == ""
    assert os.listdir(tmp) == []


def test_disk_usage_of_a_deep_tree(tmp_path, deep_cleanup):
    top = tmp_path / "top"
    deep_cleanup(top)
    _make_chain(top, DEEP)
    fd = os.open(top, os.O_RDONLY)
    try:
        with open(os.open("big", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
            f.write(b"x" * 65536)
    finally:
        os.close(fd)
    assert fsutil.disk_usage(str(top)) >= 65536
    assert fsutil.disk_usage(str(tmp_path / "missing")) == 0


def test_a_store_of_schema_9_gets_ipv6_columns_and_keeps_its_networks(tmp_path):
    root = tmp_path / "s"
    Store(str(root)).close()
    conn = db.connect(str(root / "berth.db"))
    conn.execute("DROP TABLE network_endpoints")
    conn.execute("DROP TABLE networks")
    conn.execute("CREATE TABLE networks (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, driver TEXT NOT NULL, "
                 "subnet TEXT NOT NULL, gateway TEXT NOT NULL, ip_range TEXT NOT NULL, internal INTEGER NOT NULL, "
                 "bridge TEXT NOT NULL, labels TEXT NOT NULL, options TEXT NOT NULL, created REAL NOT NULL)")
    conn.execute("CREATE TABLE network_endpoints (network_id TEXT NOT NULL REFERENCES networks(id), container_id "
                 "TEXT NOT NULL, address TEXT NOT NULL, aliases TEXT NOT NULL, PRIMARY KEY (network_id, "
                 "container_id), UNIQUE (network_id, address))")
    conn.execute("INSERT INTO networks VALUES ('n1', 'old', 'bridge', '10.91.0.0/24', '10.91.0.1', '', 0, 'bnn1', "
                 "'{}', '{}', 1.0)")
    conn.execute("PRAGMA user_version=9")
    conn.close()
    store = Store(str(root))
    old = store.networks.find("old")
    assert (old.subnet, old.subnet6, old.gateway6) == ("10.91.0.0/24", "", "")
    columns = {r[1] for r in store.db.execute("PRAGMA table_info(network_endpoints)")}
    assert "address6" in columns
    store.close()
