"""Loading a build context: a directory, a tar on stdin, or a bare Dockerfile on stdin."""
import gzip
import io
import os
import tarfile

import pytest

from berth.build.context import BuildContext
from berth.build.copying import plan_copy
from berth.errors import ArchiveError, ContextError, CopyError

DOCKERFILE = b"FROM busybox\nCOPY . /app\n"


def write(path, data=b""):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def tar_bytes(members, compress=False) -> bytes:
    """members: (name, data | None for a directory | ("link", target))."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            elif isinstance(data, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, data[1]
                t.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                t.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue()) if compress else buf.getvalue()


def visible(context, pattern="**") -> list[str]:
    with context.source_root() as root:
        return [p for p in root.glob(pattern) if root.lookup(p) is not None]


@pytest.fixture
def ctxdir(tmp_path):
    d = tmp_path / "ctx"
    d.mkdir()
    return d


@pytest.fixture
def tmpdir_(tmp_path):
    d = tmp_path / "store-tmp"
    d.mkdir()
    return str(d)


# ---- a directory ---------------------------------------------------------------------------------

def test_directory_with_default_dockerfile(ctxdir):
    write(f"{ctxdir}/Dockerfile", DOCKERFILE)
    write(f"{ctxdir}/src/main.py", "m")
    with BuildContext.from_directory(str(ctxdir)) as c:
        assert c.dockerfile == DOCKERFILE
        assert c.root == str(ctxdir)
        assert visible(c) == ["Dockerfile", "src", "src/main.py"]


def test_lowercase_dockerfile_fallback_and_missing_dockerfile(ctxdir, tmp_path):
    with pytest.raises(ContextError, match="Cannot locate specified Dockerfile: Dockerfile"):
        BuildContext.from_directory(str(ctxdir))
    write(f"{ctxdir}/dockerfile", b"FROM lower")
    assert BuildContext.from_directory(str(ctxdir)).dockerfile == b"FROM lower"
    with pytest.raises(ContextError, match="Cannot locate specified Dockerfile: nope"):
        BuildContext.from_directory(str(ctxdir), "nope")
    with pytest.raises(ContextError, match="path .* not found"):
        BuildContext.from_directory(str(tmp_path / "missing"))


def test_ignored_dockerfile_and_dockerignore_are_read_but_not_copyable(ctxdir):
    write(f"{ctxdir}/Dockerfile", DOCKERFILE)
    write(f"{ctxdir}/.dockerignore", "Dockerfile\n.dockerignore\n*.log\n")
    write(f"{ctxdir}/app.py", "a")
    write(f"{ctxdir}/debug.log", "l")
    with BuildContext.from_directory(str(ctxdir)) as c:
        assert c.dockerfile == DOCKERFILE
        assert visible(c) == ["app.py"]
        with pytest.raises(CopyError, match="excluded by .dockerignore: Dockerfile"):
            plan_copy(c.root, ["Dockerfile"], "/x", ignore=c.ignore)
        with pytest.raises(CopyError, match="excluded by .dockerignore: .dockerignore"):
            c.plan([".dockerignore"], "/x")
        with c.plan(["."], "/x/") as plan:
            assert [s.path for s in plan.sources] == [""]


def test_dockerfile_specific_ignore_file_wins(ctxdir, tmp_path):
    write(f"{ctxdir}/.dockerignore", "a.txt\n")
    write(f"{ctxdir}/a.txt", "a")
    write(f"{ctxdir}/b.txt", "b")
    write(f"{ctxdir}/docker/build.Dockerfile", DOCKERFILE)
    write(f"{ctxdir}/docker/build.Dockerfile.dockerignore", "b.txt\ndocker\n")
    c = BuildContext.from_directory(str(ctxdir), f"{ctxdir}/docker/build.Dockerfile")
    assert visible(c) == [".dockerignore", "a.txt"]
    # a Dockerfile outside the context: its ignore file sits beside it too
    write(f"{tmp_path}/elsewhere/Dockerfile", DOCKERFILE)
    write(f"{tmp_path}/elsewhere/Dockerfile.dockerignore", "*\n!b.txt\n")
    c = BuildContext.from_directory(str(ctxdir), f"{tmp_path}/elsewhere/Dockerfile")
    assert visible(c) == ["b.txt"]
    # without one, the context's .dockerignore applies
    write(f"{ctxdir}/Dockerfile", DOCKERFILE)
    c = BuildContext.from_directory(str(ctxdir))
    assert "a.txt" not in visible(c) and "b.txt" in visible(c)


def test_dockerfile_from_stdin_with_a_directory_context(ctxdir):
    write(f"{ctxdir}/f", "x")
    c = BuildContext.from_directory(str(ctxdir), dockerfile_data=b"FROM stdin")
    assert c.dockerfile == b"FROM stdin" and visible(c) == ["f"]


def test_dockerignore_symlink_out_of_the_context_is_not_read(ctxdir, tmp_path):
    write(f"{tmp_path}/host-rules", "*\n")
    os.symlink(f"{tmp_path}/host-rules", f"{ctxdir}/.dockerignore")
    write(f"{ctxdir}/Dockerfile", DOCKERFILE)
    c = BuildContext.from_directory(str(ctxdir))
    assert not c.ignore  # resolved inside the context, where that path does not exist


def test_bad_dockerignore_pattern_is_reported(ctxdir):
    write(f"{ctxdir}/Dockerfile", DOCKERFILE)
    write(f"{ctxdir}/.dockerignore", "ok\n[\n")
    with pytest.raises(Exception, match="syntax error"):
        BuildContext.from_directory(str(ctxdir))


# ---- stdin ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [False, True])
def test_tar_context_from_stdin(tmpdir_, compress):
    data = tar_bytes([("Dockerfile", DOCKERFILE), ("src/", None), ("src/a.py", b"a"),
                      (".dockerignore", b"*.log\n"), ("x.log", b"l")], compress)
    c = BuildContext.from_stream(io.BytesIO(data), tmpdir_)
    try:
        assert c.dockerfile == DOCKERFILE
        assert c.root.startswith(tmpdir_)
        assert visible(c) == [".dockerignore", "Dockerfile", "src", "src/a.py"]
    finally:
        c.close()
    assert os.listdir(tmpdir_) == []  # staging and its lock removed


def test_tar_context_with_named_dockerfile_and_its_ignore_file(tmpdir_):
    data = tar_bytes([("ci/app.Dockerfile", b"FROM ci"), ("ci/app.Dockerfile.dockerignore", b"secret\n"),
                      ("secret", b"s"), ("public", b"p")])
    with BuildContext.from_stream(io.BytesIO(data), tmpdir_, "ci/app.Dockerfile") as c:
        assert c.dockerfile == b"FROM ci"
        assert "secret" not in visible(c) and "public" in visible(c)
    with pytest.raises(ContextError, match="Cannot locate specified Dockerfile: Dockerfile"):
        BuildContext.from_stream(io.BytesIO(data), tmpdir_)
    assert os.listdir(tmpdir_) == []


def test_plain_dockerfile_on_stdin_means_no_context(tmpdir_):
    c = BuildContext.from_stream(io.BytesIO(DOCKERFILE), tmpdir_)
    assert c.root is None and c.dockerfile == DOCKERFILE
    with pytest.raises(ContextError, match="no build context"):
        c.source_root()
    long = b"FROM busybox\n" + b"RUN echo " + b"x" * 2000 + b"\n"
    assert BuildContext.from_stream(io.BytesIO(long), tmpdir_).dockerfile == long
    assert os.listdir(tmpdir_) == []


def test_hostile_tar_context_is_refused_and_cleaned_up(tmpdir_, tmp_path):
    evil = tar_bytes([("Dockerfile", DOCKERFILE), ("../../escape", b"x")])
    with pytest.raises(ArchiveError):
        BuildContext.from_stream(io.BytesIO(evil), tmpdir_)
    assert os.listdir(tmpdir_) == []
    assert not (tmp_path / "escape").exists()


def test_tar_context_symlinks_stay_inside_the_staging_dir(tmpdir_):
    data = tar_bytes([("Dockerfile", ("link", "/etc/hostname")), ("up", ("link", "../../../../")),
                      ("f", b"x")])
    with pytest.raises(ContextError, match="Cannot locate specified Dockerfile"):
        BuildContext.from_stream(io.BytesIO(data), tmpdir_)
    data = tar_bytes([("Dockerfile", DOCKERFILE), ("up", ("link", "../../../../")), ("f", b"x")])
    with BuildContext.from_stream(io.BytesIO(data), tmpdir_) as c:
        with c.source_root() as root:
            assert root.lookup("up/f").real == "f"  # `..` stops at the context root
            assert root.lookup("up/etc/hostname") is None


def test_allowlist_style_dockerignore(ctxdir):
    write(f"{ctxdir}/Dockerfile", DOCKERFILE)
    write(f"{ctxdir}/.dockerignore", "*\n!src\n!package.json\nsrc/**/*.test.js\n")
    for name in ("package.json", "secret.env", "src/a.js", "src/lib/b.js", "src/lib/b.test.js", "docs/x.md"):
        write(f"{ctxdir}/{name}", name)
    c = BuildContext.from_directory(str(ctxdir))
    assert visible(c) == ["package.json", "src", "src/a.js", "src/lib", "src/lib/b.js"]


def test_a_dockerfile_from_stdin_is_read_up_to_its_limit(tmp_path):
    from berth.build.context import MAX_DOCKERFILE, read_dockerfile
    assert read_dockerfile(io.BytesIO(b"FROM a\n" * 3)) == b"FROM a\n" * 3
    endless = io.BytesIO(b"#" * (MAX_DOCKERFILE + 2))
    with pytest.raises(ContextError, match="larger than 16 MiB"):
        read_dockerfile(endless)
    assert endless.tell() == MAX_DOCKERFILE + 1  # it stopped reading there
