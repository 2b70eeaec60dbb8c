"""Every image command through the real CLI, with docker's output shapes."""
import gzip
import json
import os
import re
import subprocess

import pytest

from helpers import docker_archive, layer_tar, state

BASE = layer_tar({"etc/": None, "etc/os-release": b"ID=test\n", "bin/": None, "bin/tool": b"x" * 5000})
APP = layer_tar({"app/": None, "app/main": b"y" * 3000})
OTHER = layer_tar({"srv/": None, "srv/data": b"z" * 7000})


@pytest.fixture
def two_images(berth, tmp_path):
    """Two images sharing the BASE layer, loaded from one docker-archive."""
    path = tmp_path / "two.tar"
    docker_archive(path, [{"tags": ["app:1"], "layers": [BASE, APP]},
                          {"tags": ["other:1"], "layers": [BASE, OTHER]}])
    berth.run("load", "-i", path)
    return berth


def test_images_table_and_quiet(busybox):
    out = busybox.out("images")
    header, row = out.splitlines()
    assert re.match(r"REPOSITORY\s{3,}TAG\s{3,}IMAGE ID\s{3,}CREATED\s{3,}SIZE$", header)
    cols = re.split(r"\s{3,}", row)
    assert cols[0] == "busybox" and cols[1] == "latest" and re.fullmatch(r"[0-9a-f]{12}", cols[2])
    assert cols[3].endswith("ago") and re.fullmatch(r"[\d.]+(B|kB|MB)", cols[4])
    assert busybox.out("images", "-q").strip() == cols[2]
    full = busybox.out("images", "-q", "--no-trunc").strip()
    assert full.startswith("sha256:" + cols[2])


def test_images_format_json_and_template(busybox):
    rows = busybox.jsonlines("images", "--format", "json")
    assert rows[0]["Repository"] == "busybox" and rows[0]["Tag"] == "latest"
    assert set(rows[0]) >= {"ID", "CreatedAt", "CreatedSince", "Size", "Digest"}
    assert busybox.out("images", "--format", "{{.Repository}}:{{.Tag}}").strip() == "busybox:latest"


def test_images_filter_by_repository(two_images):
    assert two_images.out("images", "app", "--format", "{{.Repository}}").split() == ["app"]
    assert two_images.out("images", "app:2", "--format", "{{.Repository}}").split() == []


def test_images_filters(busybox):
    """docker's `images --filter`: reference (a path.Match pattern on name:tag or the name), label,
    before, since, dangling; values of one key are alternatives, keys all hold."""
    busybox.run("tag", "busybox", "tools/a:1")
    busybox.run("tag", "busybox", "tools/b:2")
    busybox.run("run", "--name", "c", "busybox", "true")
    busybox.run("commit", "-c", "LABEL team=x", "c", "labelled:1")

    def listed(*args):
        return sorted(f"{r['Repository']}:{r['Tag']}" for r in busybox.jsonlines("images", "--format", "json", *args))
    everything = ["busybox:latest", "labelled:1", "tools/a:1", "tools/b:2"]
    assert listed() == everything
    assert listed("--filter", "reference=tools/*") == ["tools/a:1", "tools/b:2"]
    assert listed("--filter", "reference=tools/*:1", "--filter", "reference=busybox") == ["busybox:latest", "tools/a:1"]
    assert listed("--filter", "reference=docker.io/library/busybox:latest") == ["busybox:latest"]
    assert listed("tools/b") == ["tools/b:2"]
    assert listed("--filter", "label=team") == listed("--filter", "label=team=x") == ["labelled:1"]
    assert listed("--filter", "label=team=y") == []
    assert listed("--filter", "since=busybox") == ["labelled:1"]
    assert listed("--filter", "before=labelled:1") == ["busybox:latest", "tools/a:1", "tools/b:2"]
    assert listed("--filter", "dangling=false") == everything and listed("--filter", "dangling=true") == []
    bad = busybox.run("images", "--filter", "colour=red", check=False)
    assert bad.returncode == 1 and b"invalid filter 'colour'" in bad.stderr
    bad = busybox.run("images", "--filter", "dangling", check=False)
    assert bad.returncode == 125 and b"bad format of filter" in bad.stderr


def test_inspect_docker_shape(busybox):
    doc = busybox.json("image", "inspect", "busybox")
    assert isinstance(doc, list) and len(doc) == 1
    d = doc[0]
    for key in ("Id", "RepoTags", "RepoDigests", "Created", "Config", "RootFS", "Size", "Architecture", "Os"):
        assert key in d
    assert d["RepoTags"] == ["busybox:latest"] and d["Config"]["Cmd"] == ["sh"]
    assert d["RootFS"]["Type"] == "layers" and len(d["RootFS"]["Layers"]) == 1
    assert busybox.out("inspect", "--format", "{{.Id}}", "busybox").strip() == d["Id"]
    assert json.loads(busybox.out("inspect", "--format", "{{json .Config.Cmd}}", "busybox")) == ["sh"]
    by_id = busybox.json("inspect", d["Id"][7:19])
    assert by_id[0]["Id"] == d["Id"]


def test_inspect_missing_reports_each(busybox):
    p = busybox.run("inspect", "busybox", "nope", check=False)
    assert p.returncode == 1
    assert json.loads(p.stdout)[0]["RepoTags"] == ["busybox:latest"]
    assert p.stderr.decode().strip() == "Error: No such object: nope"


def test_history(two_images):
    out = two_images.out("history", "app:1").splitlines()
    assert re.match(r"IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT", out[0])
    assert len(out) == 3 and "step 1" in out[1] and "step 0" in out[2]
    assert "<missing>" in out[2]
    rows = two_images.jsonlines("history", "--format", "json", "app:1")
    assert rows[0]["Size"] == "3kB"


def test_tag_and_rmi_semantics(busybox):
    busybox.run("tag", "busybox", "mine/bb:v1")
    busybox.run("image", "tag", "busybox", "localhost:5000/bb")
    ident = busybox.out("images", "-q").split()[0]
    # by ID with several names: refused without -f
    p = busybox.run("rmi", ident, check=False)
    assert p.returncode == 1 and "must be forced" in p.stderr.decode()
    # by name: only the name goes
    assert busybox.out("rmi", "mine/bb:v1").strip() == "Untagged: mine/bb:v1"
    assert busybox.out("images", "-q").split() == [ident]
    out = busybox.out("image", "rm", "-f", ident)
    assert "Untagged: busybox:latest" in out and "Untagged: localhost:5000/bb:latest" in out
    assert re.search(r"^Deleted: sha256:[0-9a-f]{64}$", out, re.M)
    assert busybox.out("images", "-q") == ""
    assert os.listdir(os.path.join(busybox.root, "layers")) == []


def test_rmi_last_tag_deletes_but_keeps_shared_layer(two_images):
    layers_before = sorted(os.listdir(os.path.join(two_images.root, "layers")))
    assert len(layers_before) == 3  # base shared, plus one each
    two_images.run("rmi", "app:1")
    after = sorted(os.listdir(os.path.join(two_images.root, "layers")))
    assert len(after) == 2
    tree = two_images.out("image", "tree", "other:1")
    assert "0B shared" in tree and len(re.findall(r"layer \d .*unique$", tree, re.M)) == 2
    two_images.run("rmi", "other:1")
    assert os.listdir(os.path.join(two_images.root, "layers")) == []


def test_prune_dangling_and_all(two_images, tmp_path):
    two_images.run("tag", "app:1", "app:2")
    two_images.run("rmi", "other:1")
    assert "Total reclaimed space: 0B" in two_images.out("image", "prune", "-f")
    # make app:1 dangling by loading another image under the same names
    path = tmp_path / "again.tar"
    docker_archive(path, [{"tags": ["app:1", "app:2"], "layers": [OTHER]}])
    two_images.run("load", "-i", path)
    out = two_images.out("image", "prune", "-f")
    assert "Deleted Images:" in out and "deleted: sha256:" in out
    assert re.search(r"Total reclaimed space: [\d.]+kB", out)
    out = two_images.out("image", "prune", "-a", "-f")
    assert "untagged: app:1" in out
    assert two_images.out("images", "-q") == ""


def test_save_load_round_trip_all_formats(two_images, tmp_path, berth):
    from helpers import Berth
    ids = {n: two_images.json("inspect", n)[0]["Id"] for n in ("app:1", "other:1")}
    for fmt in ("docker-archive", "oci-archive", "oci-dir"):
        out = tmp_path / f"out-{fmt}"
        two_images.run("save", "--format", fmt, "-o", out, "app:1", "other:1")
        fresh = Berth(tmp_path / f"fresh-{fmt}")
        loaded = fresh.out("load", "-i", out)
        assert "Loaded image: app:1" in loaded and "Loaded image: other:1" in loaded
        assert {n: fresh.json("inspect", n)[0]["Id"] for n in ids} == ids
        assert len(os.listdir(os.path.join(fresh.root, "layers"))) == 3


def test_save_to_stdout_and_load_from_stdin(busybox, tmp_path):
    from helpers import Berth
    data = busybox.run("save", "busybox").stdout
    assert data[257:262] == b"ustar"
    fresh = Berth(tmp_path / "fresh")
    assert fresh.out("load", input=data).strip() == "Loaded image: busybox:latest"
    # a gzip-compressed archive loads too (docker load accepts it)
    fresh2 = Berth(tmp_path / "fresh2")
    assert "busybox:latest" in fresh2.out("load", input=gzip.compress(data, 1))


def test_save_is_reproducible(busybox, tmp_path):
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    busybox.run("save", "-o", a, "busybox")
    busybox.run("save", "-o", b, "busybox")
    assert a.read_bytes() == b.read_bytes()


def test_import_file_stdin_and_compressed(berth, tmp_path):
    rootfs = layer_tar({"bin/": None, "bin/hello": b"hi"})
    (tmp_path / "r.tar").write_bytes(rootfs)
    ident = berth.out("import", tmp_path / "r.tar", "imp:file").strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", ident)
    doc = berth.json("inspect", "imp:file")[0]
    assert doc["RootFS"]["Layers"] == ["sha256:" + __import__("hashlib").sha256(rootfs).hexdigest()]
    assert doc["Comment"].startswith("Imported from")
    berth.run("import", "-", "imp:stdin", input=gzip.compress(rootfs))
    assert berth.json("inspect", "imp:stdin")[0]["RootFS"]["Layers"] == doc["RootFS"]["Layers"]
    assert len(os.listdir(os.path.join(berth.root, "layers"))) == 1  # same layer, unpacked once


def test_system_df_and_tree_show_sharing(two_images):
    out = two_images.out("system", "df")
    assert re.match(r"TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE", out)
    assert re.search(r"^Images\s+2\s+0\s+", out, re.M)
    verbose = two_images.out("system", "df", "-v")
    assert re.search(r"REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\s+SHARED SIZE\s+UNIQUE SIZE\s+CONTAINERS", verbose)
    row = next(line for line in verbose.splitlines() if line.startswith("app "))
    cols = re.split(r"\s{3,}", row)
    assert cols[4:7] == ["8.01kB", "5.01kB", "3kB"]  # size, shared (BASE), unique (APP)
    tree = two_images.out("image", "tree", "app:1")
    assert "shared with other:1" in tree and "unique" in tree
    doc = json.loads(two_images.out("image", "tree", "--format", "json", "app:1"))
    assert doc["Layers"][0]["SharedWith"] == ["other:1"] and doc["Layers"][1]["SharedWith"] == []
    assert doc["SharedSize"] == 5008 and doc["UniqueSize"] == 3000


@pytest.mark.parametrize("args,message", [
    (["image", "inspect", "Bad:Ref:"], "No such image"),
    (["tag", "busybox", "UPPER"], "invalid reference format"),
    (["tag", "busybox", "a:b:c"], "invalid reference format"),
    (["rmi", "missing:tag"], "No such image: missing:tag"),
    (["history", "nope"], "No such image: nope"),
    (["save", "-o", "/tmp/never-written.tar", "nope"], "No such image: nope"),
    (["load", "-i", "/nonexistent.tar"], "no such file"),
    (["save", "-o", "/nonexistent-dir/x.tar", "busybox"], "does not exist"),
    (["import", "/nonexistent.tar", "x"], "no such file"),
])
def test_bad_input_one_clear_line_store_unchanged(busybox, args, message):
    before = state(busybox.root)
    p = busybox.run(*args, check=False)
    err = p.stderr.decode().strip()
    assert p.returncode != 0
    assert len(err.splitlines()) == 1 and message in err, err
    assert "Traceback" not in err
    assert state(busybox.root) == before
    assert not os.path.exists("/tmp/never-written.tar")


@pytest.mark.parametrize("kind", ["garbage", "truncated", "digest-mismatch", "bad-manifest", "missing-layer",
                                  "hostile-layer"])
def test_bad_archives_are_rejected_cleanly(busybox, tmp_path, kind):
    path = tmp_path / "bad.tar"
    if kind == "garbage":
        path.write_bytes(os.urandom(5000))
    else:
        docker_archive(path, [{"tags": ["bad:1"], "layers": [BASE, APP]}])
        data = path.read_bytes()
        if kind == "truncated":
            path.write_bytes(data[:len(data) // 2])
        elif kind == "digest-mismatch":
            # keep sizes, change one byte of layer content: diff_id no longer matches the config
            i = data.index(b"x" * 100)
            path.write_bytes(data[:i] + b"X" + data[i + 1:])
        elif kind == "bad-manifest":
            import tarfile, io
            with tarfile.open(path, "a") as tf:
                info = tarfile.TarInfo("manifest.json")
                payload = b'{"not": "a list"}'
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload))
        elif kind == "missing-layer":
            docker_archive(path, [{"tags": ["bad:1"], "layers": [BASE]}])
            data = path.read_bytes().replace(b'.tar"]', b'.tux"]')
            path.write_bytes(data)
        elif kind == "hostile-layer":
            evil = layer_tar({"../../escape": b"pwned"})
            docker_archive(path, [{"tags": ["bad:1"], "layers": [BASE, evil]}])
    before = state(busybox.root)
    p = busybox.run("load", "-i", path, check=False)
    err = p.stderr.decode().strip()
    assert p.returncode == 1 and err.startswith("Error: ") and len(err.splitlines()) == 1, err
    after = state(busybox.root)
    # the base layer may stay as an unreferenced layer only if it loaded fully; nothing may be tagged
    assert after[0]["tags"] == before[0]["tags"] and after[0]["images"] == before[0]["images"]
    assert not os.path.exists(tmp_path / "escape") and not os.path.exists(tmp_path.parent / "escape")
    assert os.listdir(os.path.join(busybox.root, "tmp")) == []


def test_save_refuses_terminal(busybox):
    # stdout is a pipe in tests; the TTY check itself is exercised through `script`
    if not os.path.exists("/usr/bin/script"):
        pytest.skip("util-linux script not installed")
    p = subprocess.run(["script", "-qec", f"{' '.join(__import__('helpers').BERTH)} --root {busybox.root} save busybox",
                        "/dev/null"], capture_output=True)
    assert b"cowardly refusing to save to a terminal" in p.stdout
