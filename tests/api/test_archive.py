"""GET, HEAD and PUT /containers/{id}/archive: `docker cp` both ways against berth's API server, the
path stat header, and hostile or malformed uploads."""
import io
import os
import tarfile
import urllib.parse

from api_helpers import OLD_DOCKER, path_stat


def _tar(*entries) -> bytes:
    """entries: (name, data) for files, (name, None, target) for symlinks."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, *link in entries:
            info = tarfile.TarInfo(name)
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link[0]
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _archive(cid: str, path: str, **flags) -> str:
    return f"/v1.44/containers/{cid}/archive?" + urllib.parse.urlencode({"path": path, **flags})


def test_cp_a_file_and_a_directory_both_ways(api, tmp_path):
    api.docker("run", "-d", "--name", "cp-both", "busybox", "sleep", "600")
    (tmp_path / "note.txt").write_bytes(b"one file\n")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "deep.txt").write_bytes(b"deep\n")
    os.symlink("sub/deep.txt", tree / "link")
    api.docker("cp", tmp_path / "note.txt", "cp-both:/tmp/renamed.txt")
    api.docker("cp", tree, "cp-both:/tmp/")
    listing = api.docker_out("exec", "cp-both", "sh", "-c", "cat /tmp/renamed.txt /tmp/tree/sub/deep.txt; "
                                                            "readlink /tmp/tree/link")
    assert listing == "one file\ndeep\nsub/deep.txt\n"

    api.docker("cp", "cp-both:/tmp/tree", tmp_path / "back")
    assert (tmp_path / "back" / "sub" / "deep.txt").read_bytes() == b"deep\n"
    assert os.readlink(tmp_path / "back" / "link") == "sub/deep.txt"
    api.docker("cp", "cp-both:/tmp/tree/.", tmp_path / "contents")  # DIR/. : the directory's contents
    assert sorted(os.listdir(tmp_path / "contents")) == ["link", "sub"]
    api.docker("cp", "cp-both:/tmp/renamed.txt", tmp_path / "out.txt")
    assert (tmp_path / "out.txt").read_bytes() == b"one file\n"
    # Debian's docker 20.10 (API 1.41) takes the same paths
    api.docker("cp", "cp-both:/tmp/renamed.txt", tmp_path / "old.txt", cli=OLD_DOCKER)
    assert (tmp_path / "old.txt").read_bytes() == b"one file\n"


def test_cp_into_and_out_of_a_stopped_container(api, tmp_path):
    api.docker("create", "--name", "cp-stopped", "busybox", "cat", "/etc/motd.txt")
    (tmp_path / "motd.txt").write_bytes(b"copied before the start\n")
    api.docker("cp", tmp_path / "motd.txt", "cp-stopped:/etc/motd.txt")
    assert api.docker_out("start", "-a", "cp-stopped") == "copied before the start\n"
    api.docker("cp", "cp-stopped:/etc/motd.txt", tmp_path / "again.txt")  # exited: mounted for the copy
    assert (tmp_path / "again.txt").read_bytes() == b"copied before the start\n"


def test_the_stat_header_describes_the_path_as_docker_does(api, tmp_path):
    api.docker("create", "--name", "cp-stat", "busybox", "true")
    link = api.request("HEAD", _archive("cp-stat", "/bin/sh"))
    assert link.status == 200 and link.body == b""
    stat = path_stat(link)
    assert stat["name"] == "sh" and stat["linkTarget"] == "/bin/busybox"
    assert stat["mode"] & (1 << 27) and stat["mode"] & 0o777 == 0o777      # Go's ModeSymlink
    directory = path_stat(api.request("HEAD", _archive("cp-stat", "/etc/")))
    assert directory["name"] == "etc" and directory["mode"] & (1 << 31)    # Go's ModeDir
    assert path_stat(api.request("HEAD", _archive("cp-stat", "/etc/.")))["name"] == "."
    got = api.request("GET", _archive("cp-stat", "/etc/passwd"))
    assert got.status == 200 and got.headers["Content-Type"] == "application/x-tar"
    assert path_stat(got)["size"] == len(tarfile.open(fileobj=io.BytesIO(got.body)).extractfile("passwd").read())
    assert api.request("HEAD", _archive("cp-stat", "/no/such")).status == 404
    assert api.request("HEAD", _archive("no-such-container", "/")).status == 404
    # -L asks for the stat first, then copies what the symlink points to
    api.docker("cp", "-L", "cp-stat:/bin/sh", tmp_path / "sh")
    assert not os.path.islink(tmp_path / "sh") and os.path.getsize(tmp_path / "sh") > 100_000


def test_a_hostile_tar_writes_nothing_outside_the_directory(api, tmp_path):
    api.docker("create", "--name", "cp-hostile", "busybox", "true")
    outside = tmp_path / "escaped"
    climb = "../" * 12 + str(outside).lstrip("/")
    refused = api.request("PUT", _archive("cp-hostile", "/tmp"), body=_tar(("fine.txt", b"ok"), (climb, b"evil")))
    assert refused.status == 400, refused
    assert "'..' would leave the target directory" in refused.message
    # a symlink to the host's path, then a file through it: resolved inside the container's root
    through = _tar(("up", None, "../" * 12 + str(tmp_path).lstrip("/")), ("up/escaped", b"evil"))
    api.request("PUT", _archive("cp-hostile", "/tmp"), body=through)
    assert not outside.exists()
    assert not any(p.name == "escaped" for p in tmp_path.rglob("*"))


def test_bad_uploads_get_docker_status_codes_and_one_message(api):
    api.docker("create", "--name", "cp-bad", "busybox", "true")
    garbage = api.request("PUT", _archive("cp-bad", "/tmp"), body=os.urandom(4096))
    assert garbage.status == 400 and "tar" in garbage.message, garbage
    assert api.request("PUT", "/containers/cp-bad/archive", body=_tar(("a", b"a"))).status == 400   # no path
    missing = api.request("PUT", _archive("cp-bad", "/no/such/dir"), body=_tar(("a", b"a")))
    assert missing.status == 404, missing
    not_dir = api.request("PUT", _archive("cp-bad", "/etc/passwd"), body=_tar(("a", b"a")))
    assert not_dir.status == 400 and "not a directory" in not_dir.message, not_dir
    assert api.request("PUT", _archive("no-such-container", "/"), body=_tar(("a", b"a"))).status == 404
    clash = api.request("PUT", _archive("cp-bad", "/", noOverwriteDirNonDir="1"), body=_tar(("etc", b"a file")))
    assert clash.status == 409 and "cannot overwrite directory" in clash.message, clash
    assert path_stat(api.request("HEAD", _archive("cp-bad", "/etc")))["mode"] & (1 << 31)  # still a directory


def test_copy_uid_gid_keeps_the_archive_owners(api):
    api.docker("create", "--name", "cp-owners", "busybox", "true")
    for name, flags in (("as-root", {}), ("kept", {"copyUIDGID": "1"})):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size, info.uid, info.gid = 2, 1234, 5678
            tar.addfile(info, io.BytesIO(b"hi"))
        assert api.request("PUT", _archive("cp-owners", "/tmp", **flags), body=buf.getvalue()).status == 200
    owners = {}
    for name in ("as-root", "kept"):
        got = api.request("GET", _archive("cp-owners", f"/tmp/{name}"))
        member = tarfile.open(fileobj=io.BytesIO(got.body)).getmember(name)
        owners[name] = (member.uid, member.gid)
    assert owners == {"as-root": (0, 0), "kept": (1234, 5678)}  # docker cp: root's unless -a
