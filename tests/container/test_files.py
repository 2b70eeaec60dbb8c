"""cp, diff, commit, export against real containers (runc + berth-monitor), one private store per test.

Hostile cases plant symlinks inside a container and check that nothing outside the container's
rootfs is read or written: a sentinel directory on the host is snapshotted before and after, and
what the copies give back is compared with the container's content, never the host's.
"""
from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import tarfile

import pytest

from container_helpers import teardown
from helpers import Berth
from berth.archive import extract, write_tree
from berth.container.files import apply_changes
from berth.errors import ChangeError

BUSYBOX_PASSWD_SIZE = 75  # the bootstrapped image's /etc/passwd: not the host's


def tar_bytes(*members) -> bytes:
    """members: (name, kind, payload, extra): kind file|dir|symlink; extra: {"uid":.., "gid":.., "mode":..}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, payload, *extra in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            for k, v in (extra[0] if extra else {}).items():
                setattr(info, k, v)
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = info.mode if extra and "mode" in extra[0] else 0o755
                tf.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, payload
                tf.addfile(info)
            else:
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def names_in(data: bytes) -> dict:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        return {m.name.rstrip("/"): m for m in tf.getmembers()}


def outside(tmp_path) -> dict:
    """Everything under tmp_path (the sentinel, the test's host files, the store) except where a
    container's changes legitimately go (its upper, work and mounted rootfs) and lock files."""
    skip = {"upper", "work", "rootfs"}
    out = {}
    for dirpath, dirnames, filenames in os.walk(tmp_path):
        rel_dir = os.path.relpath(dirpath, tmp_path)
        if rel_dir.startswith("store/containers/") and rel_dir.count("/") == 2:
            dirnames[:] = [d for d in dirnames if d not in skip]
        if rel_dir == "store":
            dirnames[:] = [d for d in dirnames if d != "locks"]
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            data = None
            if stat.S_ISREG(st.st_mode) and not name.startswith("berth.db"):
                with open(path, "rb") as f:
                    data = f.read()
            elif stat.S_ISLNK(st.st_mode):
                data = os.readlink(path).encode()
            out[os.path.relpath(path, tmp_path)] = (st.st_mode, st.st_uid, st.st_gid, data)
    return out


def rootfs_of(berth, name) -> str:
    cid = berth.out("container", "inspect", "-f", "{{.Id}}", name).strip()
    return os.path.join(berth.root, "containers", cid, "rootfs")


@pytest.fixture(scope="module")
def busybox_template(tmp_path_factory):
    """One bootstrapped store per module; every test gets its own copy (bootstrap costs ~10x more)."""
    template = Berth(tmp_path_factory.mktemp("template") / "store")
    template.run("image", "bootstrap", "busybox")
    return template


@pytest.fixture
def ctr(busybox_template, tmp_path):
    """A private store holding busybox and a created (never started) container c, removed after."""
    subprocess.run(["cp", "-a", busybox_template.root, str(tmp_path / "store")], check=True)
    berth = Berth(tmp_path / "store")
    berth.run("create", "--name", "c", "busybox", "sleep", "60")
    yield berth
    problems = teardown(berth)  # every container gone, and no monitor or mount left behind
    assert not problems, "\n".join(problems)


@pytest.fixture
def running(ctr):
    ctr.run("start", "c")
    return ctr


@pytest.fixture
def sentinel(tmp_path):
    """A host directory hostile containers aim at: nothing in it may change."""
    s = tmp_path / "sentinel"
    s.mkdir()
    (s / "secret").write_bytes(b"host secret\n")
    (s / "sub").mkdir()
    (s / "sub" / "file").write_bytes(b"keep\n")
    return s


def plant(berth, *members, dest="/"):
    """Put entries into container c through a tar stream on stdin (works whether it runs or not)."""
    berth.run("cp", "-a", "-", f"c:{dest}", input=tar_bytes(*members))


def expect_error(berth, *args, says=None, input=None):
    proc = berth.run(*args, check=False, input=input)
    assert proc.returncode != 0, f"berth {' '.join(map(str, args))} should have failed"
    err = proc.stderr.decode()
    assert err.startswith("Error: ") and "Traceback" not in err, err
    if says:
        assert says in err, err
    return err


# ---- the archive pieces cp relies on (in-process, fast) --------------------------------------

def test_write_tree_arcname_modes(tmp_path):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(b"data")
    os.symlink("/etc", src / "link")
    out = io.BytesIO()
    write_tree(str(src / "d"), out, arcname="renamed")
    assert set(names_in(out.getvalue())) == {"renamed", "renamed/f"}
    out = io.BytesIO()
    write_tree(str(src / "link"), out, arcname="link")  # not followed: the link itself
    m = names_in(out.getvalue())["link"]
    assert m.issym() and m.linkname == "/etc"
    fd = os.open(src / "d", os.O_PATH)
    try:
        out = io.BytesIO()
        write_tree(fd, out, arcname=".")
        assert set(names_in(out.getvalue())) == {".", "./f"}
        out = io.BytesIO()
        write_tree(fd, out, skip=lambda name, st: name == "f")
        assert names_in(out.getvalue()) == {}
    finally:
        os.close(fd)


def test_extract_without_whiteouts_keeps_wh_names(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "victim").write_bytes(b"stay")
    data = tar_bytes((".wh.victim", "file", b"literal"), ("d/.wh..wh..opq", "file", b""))
    extract(io.BytesIO(data), str(root), whiteouts="none")
    assert (root / "victim").read_bytes() == b"stay"
    assert (root / ".wh.victim").read_bytes() == b"literal" and (root / "d" / ".wh..wh..opq").exists()


def test_commit_change_instructions():
    cfg = apply_changes({"Cmd": ["sh"], "Env": ["PATH=/bin", "A=0"]}, [
        'CMD ["echo","hi"]', "ENV A=1 B=\"two words\"", "env C three words", "WORKDIR /srv", "WORKDIR app",
        "USER nobody", "LABEL a=b", "EXPOSE 80 53/udp", "STOPSIGNAL SIGINT", "VOLUME /data",
        "ENTRYPOINT /bin/sh", "ENV D=${A}-x"])
    assert cfg["Cmd"] == ["echo", "hi"]  # set before ENTRYPOINT in the same commit: kept
    assert cfg["Entrypoint"] == ["/bin/sh", "-c", "/bin/sh"]
    assert cfg["Env"] == ["PATH=/bin", "A=1", "B=two words", "C=three words", "D=1-x"]  # expanded, as a build
    assert cfg["WorkingDir"] == "/srv/app" and cfg["User"] == "nobody" and cfg["Labels"] == {"a": "b"}
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}} and cfg["StopSignal"] == "SIGINT"
    assert cfg["Volumes"] == {"/data": {}}
    assert apply_changes({"Cmd": ["sh"]}, ['ENTRYPOINT ["top"]'])["Cmd"] is None  # as docker: null
    for bad, says in (("RUN echo", "RUN is not a valid change command"), ("FOO bar", "unknown instruction: FOO"),
                      ("STOPSIGNAL NOPE", "invalid signal"), ("EXPOSE 99999", "invalid port"),
                      ("VOLUME ''", "can not be an empty string"), ("ENV", "requires at least one")):
        with pytest.raises(ChangeError) as caught:
            apply_changes({}, [bad])
        assert says in str(caught.value)


def test_commit_change_needs_the_dockerfile_language_only_not_the_builder():
    code = ("import sys; from berth.container.files import apply_changes; "
            "assert 'berth.dockerfile' not in sys.modules; apply_changes({}, ['USER nobody']); "
            "assert 'berth.dockerfile' in sys.modules; print(sorted(m for m in sys.modules if m.startswith('berth.build')))")
    assert subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout == "[]\n"


# ---- cp ------------------------------------------------------------------------------------

def test_cp_file_both_ways_on_a_stopped_container(ctr, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "f.txt").write_bytes(b"hello\n")
    os.chmod(host / "f.txt", 0o640)
    ctr.run("cp", host / "f.txt", "c:/tmp/new.txt")          # missing destination: created
    ctr.run("cp", host / "f.txt", "c:/etc")                  # existing directory: basename
    ctr.run("cp", "c:/tmp/new.txt", host / "back.txt")
    ctr.run("cp", "c:etc/f.txt", host)                       # relative container path, into a dir
    assert (host / "back.txt").read_bytes() == b"hello\n" == (host / "f.txt").read_bytes()
    assert stat.S_IMODE(os.stat(host / "back.txt").st_mode) == 0o640
    ctr.run("cp", host / "back.txt", "c:/tmp/new.txt")       # existing file: overwritten
    expect_error(ctr, "cp", host / "f.txt", "c:/nodir/", says="no such directory")
    expect_error(ctr, "cp", host / "f.txt", "c:/missing/x", says="no such directory")
    expect_error(ctr, "cp", "c:/nope", host, says="Could not find the file /nope in container c")
    expect_error(ctr, "cp", "c:/etc/passwd/", host, says="not a directory")
    expect_error(ctr, "cp", host / "f.txt", host / "g", says="must specify at least one container")
    expect_error(ctr, "cp", "c:/a", "c:/b", says="copying between containers is not supported")
    assert not os.path.ismount(rootfs_of(ctr, "c"))  # the temporary mount is gone
    changes = ctr.out("diff", "c").split("\n")
    assert "A /tmp/new.txt" in changes and "A /etc/f.txt" in changes


def test_cp_directories_nest_merge_and_dot(ctr, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a").write_bytes(b"a")
    (src / "top").write_bytes(b"t")
    ctr.run("cp", src, "c:/opt")          # /opt missing: becomes a copy of src
    ctr.run("cp", src, "c:/opt")          # /opt exists: nests as /opt/src
    ctr.run("cp", f"{src}/.", "c:/home")  # contents only
    out = tmp_path / "out"
    ctr.run("cp", "c:/opt", out)
    assert sorted(os.listdir(out)) == ["src", "sub", "top"]
    assert (out / "src" / "sub" / "a").read_bytes() == b"a"
    home = tmp_path / "home"
    home.mkdir()
    os.chmod(home, 0o700)
    ctr.run("cp", "c:/home/.", home)
    assert sorted(os.listdir(home)) == ["sub", "top"]
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700  # the destination directory itself is left alone
    expect_error(ctr, "cp", src, "c:/etc/passwd", says="cannot copy a directory to a file")
    expect_error(ctr, "cp", "c:/opt", out / "top", says="cannot copy a directory to a file")
    # a file may not replace a directory of the same name (docker's NoOverwriteDirNonDir)
    (tmp_path / "sub").write_bytes(b"file")
    expect_error(ctr, "cp", tmp_path / "sub", "c:/opt", says="cannot overwrite directory")


def test_cp_running_container_sees_live_changes(running, tmp_path):
    running.run("exec", "c", "sh", "-c", "mkdir /work && echo live > /work/made-inside")
    running.run("cp", "c:/work/made-inside", tmp_path / "x")
    assert (tmp_path / "x").read_bytes() == b"live\n"
    (tmp_path / "in").write_bytes(b"from host\n")
    running.run("cp", tmp_path / "in", "c:/work/")
    assert running.out("exec", "c", "cat", "/work/in") == "from host\n"
    assert os.path.ismount(rootfs_of(running, "c"))  # the container's own mount stays
    assert running.out("ps", "--format", "{{.Status}}").startswith("Up")


def test_cp_ownership_default_and_archive_mode(ctr, tmp_path):
    plant(ctr, ("owned", "file", b"x", {"uid": 1234, "gid": 5678}))
    ctr.run("cp", "c:/owned", tmp_path / "plain")
    ctr.run("cp", "-a", "c:/owned", tmp_path / "kept")
    assert (os.stat(tmp_path / "plain").st_uid, os.stat(tmp_path / "plain").st_gid) == (os.getuid(), os.getgid())
    assert (os.stat(tmp_path / "kept").st_uid, os.stat(tmp_path / "kept").st_gid) == (1234, 5678)
    f = tmp_path / "hostfile"
    f.write_bytes(b"y")
    os.chown(f, 4321, 8765)
    ctr.run("cp", f, "c:/as-root")
    ctr.run("cp", "-a", f, "c:/as-source")
    members = names_in(ctr.run("cp", "c:/", "-").stdout)
    assert (members["./as-root"].uid, members["./as-root"].gid) == (0, 0)
    assert (members["./as-source"].uid, members["./as-source"].gid) == (4321, 8765)
    assert members["./owned"].uid == 1234  # the stream itself always carries owners


def test_cp_symlinks_and_follow_link(ctr, tmp_path):
    plant(ctr, ("link", "symlink", "/etc/passwd"), ("rel", "symlink", "etc"))
    ctr.run("cp", "c:/link", tmp_path / "l")
    assert os.readlink(tmp_path / "l") == "/etc/passwd"  # the link itself, not followed on the host
    ctr.run("cp", "-L", "c:/link", tmp_path / "f")
    assert os.path.getsize(tmp_path / "f") == BUSYBOX_PASSWD_SIZE and not os.path.islink(tmp_path / "f")
    ctr.run("cp", "c:/rel/", tmp_path / "etc-copy")  # a trailing slash follows the link
    assert (tmp_path / "etc-copy" / "passwd").stat().st_size == BUSYBOX_PASSWD_SIZE
    os.symlink("hostfile", tmp_path / "hostlink")
    (tmp_path / "hostfile").write_bytes(b"target")
    ctr.run("cp", tmp_path / "hostlink", "c:/tmp/")
    ctr.run("cp", "-L", tmp_path / "hostlink", "c:/tmp/followed")
    members = names_in(ctr.run("cp", "c:/tmp", "-").stdout)
    assert members["tmp/hostlink"].issym() and members["tmp/hostlink"].linkname == "hostfile"
    assert members["tmp/followed"].isfile() and members["tmp/followed"].size == 6


def test_cp_tar_streams(ctr, tmp_path):
    ctr.run("cp", "-", "c:/tmp", input=tar_bytes(("d", "dir", None), ("d/f", "file", b"streamed")))
    data = ctr.run("cp", "c:/tmp/d", "-").stdout
    members = names_in(data)
    assert set(members) == {"d", "d/f"} and members["d/f"].size == 8
    assert set(names_in(ctr.run("cp", "c:/tmp/d/.", "-").stdout)) == {".", "./f"}
    assert set(names_in(ctr.run("cp", "c:/tmp/d/f", "-").stdout)) == {"f"}
    expect_error(ctr, "cp", "-", "c:/etc/passwd", input=tar_bytes(("x", "file", b"")), says="must be a directory")
    expect_error(ctr, "cp", "-", "c:/tmp", input=b"not a tar" * 100, says="tar")


# ---- hostile containers ------------------------------------------------------------------------

def test_hostile_symlink_to_root(ctr, tmp_path, sentinel):
    plant(ctr, ("escape", "symlink", "/"), ("updots", "symlink", "../../../../../../.."))
    ctr.run("cp", "c:/escape/etc/passwd", tmp_path / "sentinel-free-out")
    assert os.path.getsize(tmp_path / "sentinel-free-out") == BUSYBOX_PASSWD_SIZE  # the container's
    os.unlink(tmp_path / "sentinel-free-out")
    (tmp_path / "payload").write_bytes(b"p")
    before = outside(tmp_path)
    ctr.run("cp", tmp_path / "payload", "c:/updots/")
    expect_error(ctr, "cp", tmp_path / "payload", f"c:/escape{sentinel}/", says="no such directory")
    assert outside(tmp_path) == before
    assert "A /payload" in ctr.out("diff", "c").splitlines()  # landed in the container's own root


def test_hostile_symlink_to_host_path(ctr, tmp_path, sentinel):
    plant(ctr, ("hostdir", "symlink", str(sentinel)), ("hostfile", "symlink", str(sentinel / "secret")))
    (tmp_path / "payload").write_bytes(b"p")
    before = outside(tmp_path)
    expect_error(ctr, "cp", "c:/hostdir/secret", tmp_path / "out", says="Could not find the file")
    expect_error(ctr, "cp", "-L", "c:/hostfile", tmp_path / "out", says="Could not find the file")
    expect_error(ctr, "cp", tmp_path / "payload", "c:/hostdir/", says="no such directory")
    expect_error(ctr, "cp", tmp_path / "payload", "c:/hostfile", says="no such directory")
    expect_error(ctr, "cp", "-", "c:/hostdir", input=tar_bytes(("x", "file", b"")), says="no such directory")
    assert outside(tmp_path) == before


def test_hostile_dotdot_in_container_path(ctr, tmp_path, sentinel):
    (tmp_path / "payload").write_bytes(b"p")
    before = outside(tmp_path)
    ups = "/.." * 12
    ctr.run("cp", f"c:{ups}/etc/passwd", tmp_path / "pw")
    assert os.path.getsize(tmp_path / "pw") == BUSYBOX_PASSWD_SIZE
    os.unlink(tmp_path / "pw")
    expect_error(ctr, "cp", tmp_path / "payload", f"c:..{ups}{sentinel}/x", says="no such directory")
    ctr.run("cp", tmp_path / "payload", f"c:../../tmp{ups}/tmp/")
    assert outside(tmp_path) == before
    assert "A /tmp/payload" in ctr.out("diff", "c").splitlines()


def test_hostile_destination_symlink_to_absolute_path(ctr, tmp_path, sentinel):
    plant(ctr, ("etclink", "symlink", "/etc"), ("dangling", "symlink", f"{sentinel}/new-file"),
          ("filelink", "symlink", "/etc/group"))
    name = f"berth-test-{os.getpid()}"
    (tmp_path / name).write_bytes(b"payload")
    before = outside(tmp_path)
    ctr.run("cp", tmp_path / name, "c:/etclink")            # into the container's /etc
    assert not os.path.exists(f"/etc/{name}")
    ctr.run("cp", tmp_path / name, "c:/filelink")           # replaces the container's /etc/group
    expect_error(ctr, "cp", tmp_path / name, "c:/dangling", says="no such directory")
    assert outside(tmp_path) == before
    changes = ctr.out("diff", "c").splitlines()
    assert f"A /etc/{name}" in changes and "C /etc/group" in changes
    assert ctr.run("cp", "c:/etc/group", "-").stdout.count(b"payload") == 1


def test_hostile_symlink_loop(ctr, tmp_path, sentinel):
    plant(ctr, ("loop1", "symlink", "/loop2"), ("loop2", "symlink", "loop1"), ("self", "symlink", "self"))
    (tmp_path / "payload").write_bytes(b"p")
    before = outside(tmp_path)
    expect_error(ctr, "cp", "c:/loop1/x", tmp_path / "o", says="symbolic links")
    expect_error(ctr, "cp", "-L", "c:/self", tmp_path / "o", says="symbolic links")
    expect_error(ctr, "cp", tmp_path / "payload", "c:/loop1", says="symbolic links")
    expect_error(ctr, "cp", tmp_path / "payload", "c:/self/x", says="symbolic links")
    assert outside(tmp_path) == before


def test_hostile_cp_out_of_links_pointing_outside(ctr, tmp_path, sentinel):
    plant(ctr, ("d", "dir", None), ("d/up", "symlink", "../../../../../.."), ("d/abs", "symlink", str(sentinel)),
          ("d/.wh.secret", "file", b"literal"), ("d/.wh..wh..opq", "file", b""))
    out = tmp_path / "out"
    out.mkdir()
    (out / "d").mkdir()
    (out / "d" / "secret").write_bytes(b"kept")
    before = outside(sentinel)
    for _ in range(2):  # the second copy merges over the links the first one made
        ctr.run("cp", "c:/d", out)
    assert os.readlink(out / "d" / "abs") == str(sentinel) and os.readlink(out / "d" / "up").startswith("..")
    assert (out / "d" / "secret").read_bytes() == b"kept"  # .wh. names are plain files in cp
    assert (out / "d" / ".wh.secret").read_bytes() == b"literal"
    ctr.run("cp", "c:/d/abs", out / "link-copy")
    assert os.readlink(out / "link-copy") == str(sentinel)
    assert outside(sentinel) == before


def test_hostile_parent_symlink_to_root(ctr, tmp_path, sentinel):
    plant(ctr, ("p", "symlink", "/"), ("q", "dir", None), ("q/r", "symlink", "../../.."))
    (tmp_path / "payload").write_bytes(b"p")
    before = outside(tmp_path)
    ctr.run("cp", tmp_path / "payload", "c:/p/from-parent-link")
    ctr.run("cp", tmp_path / "payload", "c:/q/r/tmp/via-relative")
    assert outside(tmp_path) == before
    changes = ctr.out("diff", "c").splitlines()
    assert "A /from-parent-link" in changes and "A /tmp/via-relative" in changes


def test_hostile_tar_stream_on_stdin(ctr, tmp_path, sentinel):
    before = outside(tmp_path)
    for evil in (tar_bytes(("../../../../x", "file", b"evil")),
                 tar_bytes(("a/../../x", "file", b"evil")),
                 tar_bytes(("lnk", "symlink", str(sentinel)), ("lnk/secret", "file", b"evil")),
                 tar_bytes(("up", "symlink", "../../../../.."), ("up" + str(sentinel) + "/secret", "file", b"e"))):
        proc = ctr.run("cp", "-", "c:/tmp", input=evil, check=False)  # refused, or kept inside the root
        assert b"Traceback" not in proc.stderr, proc.stderr
    expect_error(ctr, "cp", "-", "c:/tmp", input=tar_bytes(("../x", "file", b"evil")), says="'..'")
    ctr.run("cp", "-", "c:/tmp", input=tar_bytes((f"{sentinel}/abs", "file", b"in root")))
    assert outside(tmp_path) == before
    changes = ctr.out("diff", "c").splitlines()
    assert f"A /tmp{sentinel}/abs" in changes  # absolute names stay under the destination


def test_hostile_running_container_swapping_dirs_for_symlinks(ctr, tmp_path, sentinel):
    """The container swaps /race/d between a real directory and a symlink to the host's sentinel
    while we copy: a copy may fail or see either, but never the host's files."""
    loop = (f"mkdir -p /race; while :; do mkdir /race/n; echo c > /race/n/f; rm -rf /race/d; mv /race/n /race/d; "
            f"ln -s {sentinel} /race/s; rm -rf /race/d; mv /race/s /race/d; done")
    ctr.run("run", "-d", "--name", "racer", "busybox", "sh", "-c", loop)
    (tmp_path / "payload").write_bytes(b"p")
    before = outside(tmp_path)
    for i in range(3):
        proc = ctr.run("cp", "racer:/race", "-", check=False)
        assert b"host secret" not in proc.stdout and b"keep" not in proc.stdout
        ctr.run("cp", "racer:/race/d/", tmp_path / f"out{i}", check=False)
        ctr.run("cp", tmp_path / "payload", "racer:/race/d/", check=False)
    for i in range(3):
        if (tmp_path / f"out{i}").exists():
            assert set(os.listdir(tmp_path / f"out{i}")) <= {"f"}
            subprocess.run(["rm", "-rf", str(tmp_path / f"out{i}")], check=True)
    assert outside(tmp_path) == before


# ---- diff, commit, export ------------------------------------------------------------------------

def test_diff_lists_added_changed_deleted(running):
    running.run("exec", "c", "sh", "-c", "echo new > /root/added && echo x >> /etc/group && rm /bin/ls "
                "&& rm -rf /home && mkdir -p /var/lib/deep/er")
    running.run("stop", "-t", "0", "c")
    assert running.out("diff", "c").splitlines() == [
        "C /bin", "D /bin/ls", "C /etc", "C /etc/group", "D /home", "C /root", "A /root/added",
        "C /var", "A /var/lib", "A /var/lib/deep", "A /var/lib/deep/er"]
    assert running.out("container", "diff", "c") == running.out("diff", "c")


def test_commit_running_container_with_changes(running, tmp_path):
    running.run("exec", "c", "sh", "-c", "mkdir -p /srv && echo committed > /srv/new && rm /bin/ls")
    image_id = running.out("commit", "-a", "Ann <a@b>", "-m", "first", "-c", 'CMD ["echo","hi"]',
                           "-c", "ENV GREETING=hello", "c", "mine:v1").strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    assert running.out("ps", "--format", "{{.Status}}").startswith("Up")  # unpaused after
    assert running.out("run", "--rm", "mine:v1") == "hi\n"
    assert running.out("run", "--rm", "mine:v1", "cat", "/srv/new") == "committed\n"
    assert running.run("run", "--rm", "mine:v1", "ls", "/", check=False).returncode != 0  # deletion kept
    assert running.out("run", "--rm", "mine:v1", "sh", "-c", "echo $GREETING") == "hello\n"
    doc = running.json("image", "inspect", "mine:v1")[0]
    assert doc["Id"] == image_id and doc["Author"] == "Ann <a@b>" and doc["Comment"] == "first"
    assert len(doc["RootFS"]["Layers"]) == 2 and doc["Config"]["Cmd"] == ["echo", "hi"]
    expect_error(running, "commit", "-c", "RUN echo", "c", says="not a valid change command")


def test_unchanged_container_has_no_diff_and_commits_no_layer(ctr):
    ctr.run("run", "--name", "quick", "busybox", "true")
    assert ctr.out("diff", "quick") == ""  # the runtime's mount points (/etc/hosts, ...) are not changes
    ctr.run("commit", "--pause=false", "quick", "same")
    doc = ctr.json("image", "inspect", "same")[0]
    assert len(doc["RootFS"]["Layers"]) == 1  # docker: an empty diff adds history, not a layer
    ctr.run("rm", "quick")
    ctr.run("create", "--read-only", "--name", "ro", "busybox")
    expect_error(ctr, "cp", "-", "ro:/tmp", input=tar_bytes(("x", "file", b"")), says="read-only")


def test_export_and_import_round_trip(ctr, tmp_path):
    (tmp_path / "f").write_bytes(b"exported\n")
    ctr.run("cp", tmp_path / "f", "c:/root/new-file")
    ctr.run("export", "-o", tmp_path / "rootfs.tar", "c")
    members = names_in((tmp_path / "rootfs.tar").read_bytes())
    assert "root/new-file" in members and "bin/busybox" in members
    assert names_in(ctr.run("export", "c").stdout).keys() == members.keys()
    assert not os.path.ismount(rootfs_of(ctr, "c"))
    ctr.run("import", tmp_path / "rootfs.tar", "flat:latest")
    assert ctr.out("run", "--rm", "flat", "cat", "/root/new-file") == "exported\n"
