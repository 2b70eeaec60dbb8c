"""Volumes with real containers: the volume commands, tmpfs volumes, named volumes that outlive
and are shared by containers, live bind mounts, image VOLUMEs filled on first use, rm -v, :ro."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile

import pytest

from container_helpers import expect_error, inspect, mounts_under
from helpers import docker_archive, layer_tar


def _volumes(berth) -> list[str]:
    return sorted(berth.out("volume", "ls", "-q").split())


def test_volume_create_ls_inspect_rm_prune(busybox):
    assert busybox.out("volume", "create", "v1") == "v1\n"
    assert busybox.out("volume", "create", "--label", "team=a", "v2") == "v2\n"
    unnamed = busybox.out("volume", "create").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", unnamed)
    assert _volumes(busybox) == sorted(["v1", "v2", unnamed])
    doc = busybox.json("volume", "inspect", "v2")[0]
    assert (doc["Name"], doc["Driver"], doc["Scope"], doc["Labels"]) == ("v2", "local", "local", {"team": "a"})
    assert os.path.isdir(doc["Mountpoint"]) and doc["Mountpoint"].startswith(busybox.root)
    rows = busybox.jsonlines("volume", "ls", "--format", "json")
    assert {r["Name"] for r in rows} == {"v1", "v2", unnamed}
    assert busybox.out("volume", "create", "v1") == "v1\n"  # as docker: creating it again is no error
    expect_error(busybox, "volume", "inspect", "nosuch", says="no such volume")
    expect_error(busybox, "volume", "rm", "nosuch", says="no such volume")
    expect_error(busybox, "volume", "create", "bad/name", says="invalid volume name")

    busybox.run("run", "-d", "--name", "u", "-v", "v1:/d", "busybox", "sleep", "300")
    expect_error(busybox, "volume", "rm", "v1", says="in use")
    busybox.run("run", "--name", "anon", "-v", "/anon", "busybox", "true")
    anon = inspect(busybox, "anon")["Mounts"][0]["Name"]
    busybox.run("rm", "anon")  # without -v: the anonymous volume stays, dangling
    assert anon in _volumes(busybox)
    # prune: anonymous ones only; -a: every unused one
    out = busybox.out("volume", "prune", "-f")
    assert anon in out and _volumes(busybox) == sorted(["v1", "v2", unnamed])
    busybox.out("volume", "prune", "-a", "-f")
    assert _volumes(busybox) == ["v1"]  # in use by u
    assert busybox.run("volume", "rm", "-f", "nosuch").returncode == 0
    busybox.run("rm", "-f", "u")
    assert busybox.out("volume", "rm", "v1") == "v1\n" and _volumes(busybox) == []
    assert os.listdir(os.path.join(busybox.root, "volumes")) == []


def test_tmpfs_volume_is_mounted_while_containers_use_it(busybox):
    """docker's local driver with options: mounted at first use, shared, unmounted when the last
    user stops (a tmpfs then starts empty again), refused up front when malformed."""
    busybox.run("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "-o", "o=size=2m,uid=1000", "t")
    assert busybox.json("volume", "inspect", "t")[0]["Options"] == {"type": "tmpfs", "device": "tmpfs",
                                                                   "o": "size=2m,uid=1000"}
    mountpoint = busybox.json("volume", "inspect", "t")[0]["Mountpoint"]
    assert mounts_under(mountpoint) == []  # created, not mounted until a container uses it
    out = busybox.out("run", "--rm", "-v", "t:/t", "busybox", "sh", "-c",
                      "awk '$2 == \"/t\" {print $3}' /proc/mounts; df -k /t | tail -1; stat -c %u /t; echo x > /t/f")
    fstype, df, owner = out.splitlines()
    assert fstype == "tmpfs" and df.split()[1] == "2048" and owner == "1000"
    assert mounts_under(mountpoint) == []  # its only user has gone
    # two containers at once share one mount; it stays until the second stops
    busybox.run("run", "-d", "--name", "a", "-v", "t:/t", "busybox", "sleep", "300")
    busybox.run("run", "-d", "--name", "b", "-v", "t:/t", "busybox", "sleep", "300")
    busybox.run("exec", "a", "sh", "-c", "echo from-a > /t/shared")
    assert busybox.out("exec", "b", "cat", "/t/shared") == "from-a\n"
    assert mounts_under(mountpoint) == [mountpoint]
    busybox.run("stop", "-t", "0", "a")
    assert mounts_under(mountpoint) == [mountpoint] and busybox.out("exec", "b", "cat", "/t/shared") == "from-a\n"
    busybox.run("rm", "-f", "b")
    assert mounts_under(mountpoint) == []
    busybox.run("start", "a")  # a new first user: a fresh tmpfs
    assert busybox.run("exec", "a", "cat", "/t/shared", check=False).returncode != 0
    busybox.run("rm", "-f", "a")
    busybox.run("volume", "rm", "t")
    assert mounts_under(mountpoint) == [] and not os.path.exists(mountpoint)
    expect_error(busybox, "volume", "create", "--opt", "type=nfs", "n", says="device")
    expect_error(busybox, "volume", "create", "--opt", "colour=blue", "n", says="invalid volume option")
    expect_error(busybox, "volume", "create", "--driver", "nfs-plugin", "n", says="volume driver")


def test_bind_volume_shows_a_host_directory(busybox, tmp_path):
    host = tmp_path / "exported"
    host.mkdir()
    (host / "seed").write_text("seed\n")
    busybox.run("volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", f"device={host}", "hostdir")
    assert busybox.out("run", "--rm", "-v", "hostdir:/data", "busybox", "sh", "-c",
                       "cat /data/seed; echo made > /data/made") == "seed\n"
    assert (host / "made").read_text() == "made\n"
    assert mounts_under(busybox.json("volume", "inspect", "hostdir")[0]["Mountpoint"]) == []
    busybox.run("volume", "rm", "hostdir")
    assert (host / "made").exists()  # removing the volume leaves the host's files


def _kernel_has(fstype: str) -> bool:
    with open("/proc/filesystems") as f:
        return fstype in f.read().split()


def test_nfs_volume_without_kernel_support_fails_at_first_use_cleanly(busybox):
    """The notes' NFS volume where the kernel has no NFS client (this machine's): created as asked,
    refused at first use in one line, nothing left mounted or running."""
    if _kernel_has("nfs"):
        pytest.skip("this kernel has an NFS client: test_nfs_volume_mounts_an_export covers it")
    busybox.run("volume", "create", "--driver", "local", "--opt", "type=nfs", "--opt", "o=addr=127.0.0.1,rw,nfsvers=3",
                "--opt", "device=:/export", "nfsdata")
    assert busybox.json("volume", "inspect", "nfsdata")[0]["Options"]["type"] == "nfs"
    err = busybox.run("run", "--name", "n", "-v", "nfsdata:/data", "busybox", "true", check=False)
    lines = err.stderr.decode().strip().splitlines()
    assert err.returncode == 125 and len(lines) == 1, lines
    assert "volume nfsdata: this kernel cannot mount nfs volumes (no nfs in /proc/filesystems)" in lines[0]
    assert mounts_under(busybox.root) == [] and busybox.out("ps", "-aq") == ""  # as berth's run -d: no half-made one
    busybox.run("volume", "rm", "nfsdata")


def test_nfs_volume_mounts_an_export(busybox, tmp_path):
    """The real NFS path, where the kernel has an NFS client and unfs3 (a user-space NFSv3 server)
    can serve a directory on loopback."""
    if not _kernel_has("nfs"):
        pytest.skip("this kernel has no NFS client (no nfs in /proc/filesystems)")
    if not shutil.which("unfsd"):
        pytest.skip("unfs3 (unfsd) is not installed")
    export = tmp_path / "export"
    export.mkdir()
    (export / "hello").write_text("over nfs\n")
    exports = tmp_path / "exports"
    exports.write_text(f"{export} 127.0.0.1(rw,no_root_squash)\n")
    server = subprocess.Popen(["unfsd", "-d", "-s", "-p", "-n", "20490", "-m", "20490", "-e", str(exports)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        busybox.run("volume", "create", "--opt", "type=nfs", "--opt", f"device=:{export}", "--opt",
                    "o=addr=127.0.0.1,port=20490,mountport=20490,nfsvers=3,proto=tcp,nolock", "nfs")
        assert busybox.out("run", "--rm", "-v", "nfs:/data", "busybox", "cat", "/data/hello") == "over nfs\n"
        assert mounts_under(busybox.root) == []
    finally:
        server.terminate()
        server.wait()


def test_named_volume_outlives_its_container_and_is_shared(busybox):
    busybox.run("run", "--name", "w", "-v", "data:/d", "busybox", "sh", "-c", "echo one > /d/f")
    busybox.run("rm", "-v", "w")  # -v removes anonymous volumes only
    assert _volumes(busybox) == ["data"]
    assert busybox.out("run", "--rm", "-v", "data:/d", "busybox", "cat", "/d/f") == "one\n"
    busybox.run("run", "-d", "--name", "a", "-v", "data:/d", "busybox", "sleep", "300")
    busybox.run("run", "-d", "--name", "b", "--mount", "type=volume,source=data,target=/elsewhere",
                "busybox", "sleep", "300")
    busybox.run("exec", "a", "sh", "-c", "echo two > /d/g")
    assert busybox.out("exec", "b", "cat", "/elsewhere/g") == "two\n"
    busybox.run("exec", "b", "sh", "-c", "echo three >> /elsewhere/g")
    assert busybox.out("exec", "a", "cat", "/d/g") == "two\nthree\n"
    mountpoint = busybox.json("volume", "inspect", "data")[0]["Mountpoint"]
    assert open(os.path.join(mountpoint, "g")).read() == "two\nthree\n"


def test_bind_mount_shows_host_changes_live(busybox, tmp_path):
    host = tmp_path / "h"
    host.mkdir()
    (host / "before").write_text("before\n")
    busybox.run("run", "-d", "--name", "b", "-v", f"{host}:/h", "--mount", f"type=bind,src={host},dst=/r,readonly",
                "busybox", "sleep", "300")
    assert busybox.out("exec", "b", "cat", "/h/before") == "before\n"
    (host / "after").write_text("live\n")
    assert busybox.out("exec", "b", "cat", "/h/after", "/r/after") == "live\nlive\n"
    (host / "after").write_text("changed\n")
    assert busybox.out("exec", "b", "cat", "/h/after") == "changed\n"
    busybox.run("exec", "b", "sh", "-c", "echo back > /h/from-container")
    assert (host / "from-container").read_text() == "back\n"
    proc = busybox.run("exec", "b", "sh", "-c", "echo no > /r/nope", check=False)
    assert proc.returncode != 0 and b"Read-only file system" in proc.stderr
    assert not (host / "nope").exists()


def test_read_only_mounts_are_enforced(busybox, tmp_path):
    host = tmp_path / "h"
    host.mkdir()
    busybox.run("volume", "create", "data")
    script = "for d in /v /h; do touch $d/x 2>/dev/null && echo $d-written || echo $d-refused; done; ls /v /h"
    out = busybox.out("run", "--name", "ro", "-v", "data:/v:ro", "-v", f"{host}:/h:ro", "busybox", "sh", "-c", script)
    assert out.split() == ["/v-refused", "/h-refused", "/h:", "/v:"]
    assert {m["Destination"]: m["RW"] for m in inspect(busybox, "ro")["Mounts"]} == {"/v": False, "/h": False}
    assert os.listdir(host) == [] and os.listdir(busybox.json("volume", "inspect", "data")[0]["Mountpoint"]) == []
    assert busybox.out("run", "--rm", "-v", "data:/v:rw", "busybox", "sh", "-c", "touch /v/x && echo ok") == "ok\n"


def _volume_image(berth, tmp_path) -> None:
    """volimg:latest = busybox + a layer with /data/seed, and VOLUME /data in its config."""
    saved = tmp_path / "busybox.tar"
    berth.run("save", "-o", saved, "busybox")
    with tarfile.open(saved) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
        base = tf.extractfile(manifest[0]["Layers"][0]).read()
    base_path = tmp_path / "base.tar"
    base_path.write_bytes(base)
    top = layer_tar({"data": None, "data/seed": b"from image\n", "data/sub": None, "data/sub/deep": b"deep\n"})
    diff_ids = [f"sha256:{hashlib.sha256(x).hexdigest()}" for x in (base, top)]
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "Volumes": {"/data": {}}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "busybox"}, {"created_by": "VOLUME /data"}]}).encode()
    archive = tmp_path / "volimg.tar"
    docker_archive(archive, [{"tags": ["volimg:latest"], "layers": [str(base_path), top], "config": config}])
    berth.run("load", "-i", archive)


def test_image_volume_is_filled_on_first_use_and_rm_v(busybox, tmp_path):
    _volume_image(busybox, tmp_path)
    assert busybox.out("run", "--name", "c1", "volimg", "cat", "/data/seed", "/data/sub/deep") == \
        "from image\ndeep\n"
    mount = inspect(busybox, "c1")["Mounts"]
    assert len(mount) == 1 and mount[0]["Destination"] == "/data" and mount[0]["Type"] == "volume"
    anon1 = mount[0]["Name"]
    assert re.fullmatch(r"[0-9a-f]{64}", anon1)
    assert open(os.path.join(mount[0]["Source"], "seed")).read() == "from image\n"
    assert busybox.json("volume", "inspect", anon1)[0]["Anonymous"] is True

    # writes land in the volume, not in the container's upper dir; each container has its own
    busybox.run("run", "--name", "c2", "volimg", "sh", "-c", "echo changed > /data/seed")
    anon2 = inspect(busybox, "c2")["Mounts"][0]["Name"]
    assert anon2 != anon1
    upper = inspect(busybox, "c2")["GraphDriver"]["Data"]["UpperDir"]
    assert not os.path.exists(os.path.join(upper, "data", "seed"))
    assert open(os.path.join(inspect(busybox, "c2")["Mounts"][0]["Source"], "seed")).read() == "changed\n"
    busybox.run("start", "c2")  # a second start does not refill it
    assert busybox.out("wait", "c2") == "0\n"
    assert open(os.path.join(inspect(busybox, "c2")["Mounts"][0]["Source"], "seed")).read() == "changed\n"

    # a named volume is filled too on first use, and only then
    assert busybox.out("run", "--rm", "-v", "named:/data", "volimg", "cat", "/data/seed") == "from image\n"
    busybox.run("run", "--rm", "-v", "named:/data", "volimg", "sh", "-c", "echo mine > /data/seed")
    assert busybox.out("run", "--rm", "-v", "named:/data", "volimg", "cat", "/data/seed") == "mine\n"
    # an empty named volume used at another path gets that path's content
    assert busybox.out("run", "--rm", "-v", "etc:/etc", "volimg", "cat", "/etc/group").startswith("root:")

    # rm -v removes the anonymous volume; named ones stay; plain rm keeps both
    busybox.run("run", "--name", "both", "-v", "named:/n", "-v", "/anon", "volimg", "true")
    anon3 = {m["Destination"]: m["Name"] for m in inspect(busybox, "both")["Mounts"]}
    assert set(anon3) == {"/n", "/anon", "/data"}
    busybox.run("rm", "-v", "c1", "both")
    busybox.run("rm", "c2")
    left = _volumes(busybox)
    assert anon1 not in left and anon3["/anon"] not in left and anon3["/data"] not in left
    assert "named" in left and "etc" in left and anon2 in left


def test_a_volume_made_with_files_is_whole_or_absent(berth):
    """engine.volumes.create(files=): the files in place with their modes, the image's files never
    copied over them; a hostile path refused with nothing left behind."""
    from berth.engine import Engine
    from berth.errors import InvalidOption
    with Engine(berth.root) as engine:
        made = engine.volumes.create("cfg", labels={"a": "b"}, files={"a/b.txt": (b"hi", 0o640), "c": (b"", 0o400)})
        root = made["Mountpoint"]
        assert open(f"{root}/a/b.txt", "rb").read() == b"hi" and os.stat(f"{root}/a/b.txt").st_mode & 0o777 == 0o640
        assert os.stat(f"{root}/c").st_mode & 0o777 == 0o400
        for files in ({"../x": (b"", 0o644)}, {"/etc/x": (b"", 0o644)}, {"a/./b": (b"", 0o644)},
                      {"a": (b"", 0o644), "a/b": (b"", 0o644)}, {"x": ("text", 0o644)}, {"x": (b"", 0o1777)}):
            with pytest.raises(InvalidOption):
                engine.volumes.create("bad", files=files)
        assert [v["Name"] for v in engine.volumes.list()] == ["cfg"]
        assert sorted(os.listdir(os.path.dirname(os.path.dirname(root)))) == ["cfg"]  # no staging left
