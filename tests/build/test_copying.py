"""COPY/ADD: source resolution, destination rules, content checksums, and writing into a root."""
import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile

import pytest
import zstandard

from berth.build.copying import SymbolicMode, destination, is_git, is_remote, parse_chmod, plan_copy, plan_downloads
from berth.build.ignore import IgnoreMatcher
from berth.errors import BerthError, CopyError


def write(path, data=b"", mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)


def tree(root) -> dict:
    """{relative path: description} of everything under root, symlinks not followed."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            else:
                with open(p, "rb") as f:
                    out[rel] = ("file", f.read())
    return out


def files(root) -> dict:
    return {k: v[1] for k, v in tree(root).items() if v[0] == "file"}


@pytest.fixture
def ctx(tmp_path):
    root = tmp_path / "ctx"
    root.mkdir()
    return str(root)


@pytest.fixture
def target(tmp_path):
    root = tmp_path / "rootfs"
    root.mkdir()
    return str(root)


def copy(ctx, srcs, dest, target, *, chown=None, chmod=None, **kw):
    with plan_copy(ctx, srcs, dest, **kw) as plan:
        return plan.materialize(target, chown=chown, chmod=chmod)


def checksum(ctx, srcs, dest="/d/", **kw):
    with plan_copy(ctx, srcs, dest, **kw) as plan:
        return plan.checksum()


# ---- destination rules ---------------------------------------------------------------------------

@pytest.mark.parametrize("dest,workdir,expected", [
    ("/abs", "/w", ("/abs", False)),
    ("/abs/", "/w", ("/abs", True)),
    ("rel", "/w", ("/w/rel", False)),
    ("rel/", "/w", ("/w/rel", True)),
    (".", "/w", ("/w", True)),
    ("./", "/w", ("/w", True)),
    ("..", "/w/x", ("/w", True)),
    ("../../../..", "/w", ("/", True)),
    ("x", "", ("/x", False)),
])
def test_destination(dest, workdir, expected):
    assert destination(dest, workdir) == expected


def test_file_to_file_path_and_to_directory(ctx, target):
    write(f"{ctx}/a.txt", "A")
    copy(ctx, ["a.txt"], "/abs", target)
    copy(ctx, ["a.txt"], "/dir/", target)
    copy(ctx, ["a.txt"], "rel", target, workdir="/usr/src/app")
    assert files(target) == {"abs": b"A", "dir/a.txt": b"A", "usr/src/app/rel": b"A"}


def test_file_to_existing_directory_without_slash_goes_inside(ctx, target):
    write(f"{ctx}/a.txt", "A")
    os.mkdir(f"{target}/existing")
    copy(ctx, ["a.txt"], "/existing", target)
    assert files(target) == {"existing/a.txt": b"A"}


def test_directory_source_copies_its_contents(ctx, target):
    write(f"{ctx}/src/a", "1")
    write(f"{ctx}/src/sub/b", "2")
    copy(ctx, ["src"], "/app", target)
    copy(ctx, ["src/"], "/app2/", target)
    copy(ctx, ["."], "/all", target)
    assert files(target) == {"app/a": b"1", "app/sub/b": b"2", "app2/a": b"1", "app2/sub/b": b"2",
                             "all/src/a": b"1", "all/src/sub/b": b"2"}


def test_directory_merges_into_existing_and_overwrites_files(ctx, target):
    write(f"{ctx}/src/a", "new")
    write(f"{target}/app/a", "old")
    write(f"{target}/app/keep", "kept")
    os.chmod(f"{target}/app", 0o700)
    os.chmod(f"{ctx}/src", 0o750)
    copy(ctx, ["src"], "/app", target)
    copy(ctx, ["src"], "/fresh", target)
    assert files(target) == {"app/a": b"new", "app/keep": b"kept", "fresh/a": b"new"}
    assert stat.S_IMODE(os.stat(f"{target}/app").st_mode) == 0o700     # existing: kept as it was
    assert stat.S_IMODE(os.stat(f"{target}/fresh").st_mode) == 0o750   # made by the copy: the source's


def test_multiple_sources_need_a_trailing_slash(ctx, target):
    write(f"{ctx}/a", "1")
    write(f"{ctx}/b", "2")
    with pytest.raises(CopyError, match="more than one source file, the destination must be a directory and end"):
        plan_copy(ctx, ["a", "b"], "/x", workdir="/")
    with pytest.raises(CopyError, match="must be a directory"):
        plan_copy(ctx, ["*"], "/x")
    copy(ctx, ["a", "b"], "/x/", target)
    copy(ctx, ["a", "b"], ".", target, workdir="/w")
    assert files(target) == {"x/a": b"1", "x/b": b"2", "w/a": b"1", "w/b": b"2"}


def test_single_wildcard_match_to_a_file_path(ctx, target):
    write(f"{ctx}/only.conf", "c")
    copy(ctx, ["*.conf"], "/etc/app.conf", target)
    assert files(target) == {"etc/app.conf": b"c"}


def test_missing_destination_dirs_are_0755_and_owned_by_chown(ctx, target):
    write(f"{ctx}/f", "x", mode=0o600)
    copy(ctx, ["f"], "/a/b/c/", target, chown=(1000, 1001))
    for d in ("a", "a/b", "a/b/c"):
        st = os.stat(f"{target}/{d}")
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o755, 1000, 1001)
    st = os.stat(f"{target}/a/b/c/f")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, 1000, 1001)


def test_existing_destination_dirs_keep_their_owner_and_mode(ctx, target):
    write(f"{ctx}/f", "x")
    os.mkdir(f"{target}/tmp")
    os.chmod(f"{target}/tmp", 0o1777)
    copy(ctx, ["f"], "/tmp/", target, chown=(5, 5))
    st = os.stat(f"{target}/tmp")
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o1777, 0)


# ---- ownership, modes, times, symlinks -------------------------------------------------------------

def test_context_files_land_as_root_with_their_modes_and_mtimes(ctx, target):
    write(f"{ctx}/src/run.sh", "#!/bin/sh", mode=0o755)
    write(f"{ctx}/src/data", "d", mode=0o640)
    os.chown(f"{ctx}/src/data", 123, 456)
    os.utime(f"{ctx}/src/data", (1_500_000_000, 1_500_000_000))
    copy(ctx, ["src"], "/app/", target)
    st = os.stat(f"{target}/app/data")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)) == (0o640, 0, 0, 1_500_000_000)
    assert stat.S_IMODE(os.stat(f"{target}/app/run.sh").st_mode) == 0o755


def test_chmod_applies_to_files_and_directories(ctx, target):
    write(f"{ctx}/src/sub/f", "x", mode=0o600)
    copy(ctx, ["src"], "/app", target, chmod=0o751)
    assert stat.S_IMODE(os.stat(f"{target}/app/sub").st_mode) == 0o751
    assert stat.S_IMODE(os.stat(f"{target}/app/sub/f").st_mode) == 0o751


def test_keep_owner_for_copies_from_a_stage(tmp_path, target):
    stage = tmp_path / "stage"
    write(f"{stage}/opt/app/bin", "b")
    os.chown(f"{stage}/opt/app/bin", 70, 71)
    copy(str(stage), ["/opt/app"], "/app", target, keep_owner=True, label="stage build")
    st = os.stat(f"{target}/app/bin")
    assert (st.st_uid, st.st_gid) == (70, 71)
    copy(str(stage), ["/opt/app"], "/app2", target, keep_owner=True, chown=(1, 2))
    st = os.stat(f"{target}/app2/bin")
    assert (st.st_uid, st.st_gid) == (1, 2)


def test_symlinks_inside_a_directory_are_copied_as_symlinks(ctx, target):
    write(f"{ctx}/src/real", "r")
    os.symlink("real", f"{ctx}/src/rel-link")
    os.symlink("/etc/passwd", f"{ctx}/src/abs-link")
    copy(ctx, ["src"], "/app", target)
    t = tree(target)
    assert t["app/rel-link"] == ("link", "real")
    assert t["app/abs-link"] == ("link", "/etc/passwd")


def test_named_symlink_source_is_followed_inside_the_context(ctx, target):
    write(f"{ctx}/real.txt", "content")
    os.symlink("real.txt", f"{ctx}/link.txt")
    copy(ctx, ["link.txt"], "/d/", target)
    assert tree(target)["d/link.txt"] == ("file", b"content")


def test_symlink_to_host_file_does_not_leave_the_context(ctx, target):
    os.symlink("/etc/passwd", f"{ctx}/passwd")
    os.symlink("../../../../../../etc/passwd", f"{ctx}/climb")
    for name in ("passwd", "climb"):
        with pytest.raises(CopyError, match="file not found in build context"):
            plan_copy(ctx, [name], "/d/")
    # ... and names the context's own file when there is one
    write(f"{ctx}/etc/passwd", "context's own")
    copy(ctx, ["passwd"], "/p", target)
    assert files(target)["p"] == b"context's own"


def test_symlinked_directory_outside_the_context_is_not_followed(ctx, target, tmp_path):
    outside = tmp_path / "secret"
    write(f"{outside}/key", "SECRET")
    os.symlink(str(outside), f"{ctx}/escape")
    with pytest.raises(CopyError, match="not found"):
        plan_copy(ctx, ["escape/key"], "/d/")
    copy(ctx, ["."], "/all/", target)
    assert tree(target) == {"all": ("dir",), "all/escape": ("link", str(outside))}


def test_dotdot_and_absolute_sources_stay_in_the_context(ctx, target, tmp_path):
    write(f"{tmp_path}/outside.txt", "nope")
    write(f"{ctx}/inside.txt", "yes")
    with pytest.raises(CopyError, match="not found"):
        plan_copy(ctx, ["../outside.txt"], "/d/")
    copy(ctx, ["../../inside.txt", "/inside.txt"], "/d/", target)
    assert files(target) == {"d/inside.txt": b"yes"}


def test_hardlinks_stay_hardlinks(ctx, target):
    write(f"{ctx}/src/a", "same")
    os.link(f"{ctx}/src/a", f"{ctx}/src/b")
    copy(ctx, ["src"], "/app", target)
    assert os.stat(f"{target}/app/a").st_ino == os.stat(f"{target}/app/b").st_ino


def test_fifo_is_recreated(ctx, target):
    os.makedirs(f"{ctx}/src")
    os.mkfifo(f"{ctx}/src/pipe")
    copy(ctx, ["src"], "/app", target)
    assert stat.S_ISFIFO(os.lstat(f"{target}/app/pipe").st_mode)


# ---- conflicts in the target ----------------------------------------------------------------------

def test_file_onto_directory_is_an_error(ctx, target):
    write(f"{ctx}/src/name", "x")
    os.makedirs(f"{target}/app/name")
    with pytest.raises(CopyError, match="cannot overwrite directory /app/name with non-directory"):
        copy(ctx, ["src"], "/app", target)


def test_directory_onto_file_is_an_error(ctx, target):
    write(f"{ctx}/src/name/f", "x")
    write(f"{target}/app/name", "file")
    with pytest.raises(CopyError, match="cannot copy to non-directory: /app/name"):
        copy(ctx, ["src"], "/app", target)
    with pytest.raises(CopyError, match="non-directory"):
        copy(ctx, ["src"], "/app/name/", target)


def test_symlink_in_target_is_replaced_not_written_through(ctx, target, tmp_path):
    victim = tmp_path / "victim"
    write(str(victim), "untouched")
    write(f"{ctx}/src/f", "new")
    os.makedirs(f"{target}/app")
    os.symlink(str(victim), f"{target}/app/f")
    copy(ctx, ["src"], "/app", target)
    assert victim.read_bytes() == b"untouched"
    assert tree(target)["app/f"] == ("file", b"new")


def test_destination_symlink_to_root_stays_inside_the_target(ctx, target, tmp_path):
    write(f"{ctx}/f", "x")
    write(f"{ctx}/d/g", "y")
    os.symlink("/", f"{target}/to-root")
    os.symlink("../../../..", f"{target}/climb")
    copy(ctx, ["f"], "/to-root/etc/", target)
    copy(ctx, ["d"], "/climb/", target)
    copy(ctx, ["f"], "/to-root", target)          # an existing directory (through the link): goes inside
    assert files(target) == {"etc/f": b"x", "g": b"y", "f": b"x"}


def test_destination_through_absolute_symlink_to_host_dir(ctx, target, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    write(f"{ctx}/f", "x")
    os.symlink(str(host), f"{target}/out")            # means <target>/<host path> inside the image
    copy(ctx, ["f"], "/out/", target)
    assert list(host.iterdir()) == []
    assert files(target) == {os.path.join(str(host).lstrip("/"), "f"): b"x"}


def test_destination_file_symlink_is_followed_inside_the_root(ctx, target):
    write(f"{ctx}/conf", "new")
    write(f"{target}/etc/real.conf", "old")
    os.symlink("/etc/real.conf", f"{target}/etc/app.conf")
    copy(ctx, ["conf"], "/etc/app.conf", target)
    assert tree(target)["etc/app.conf"] == ("link", "/etc/real.conf")
    assert files(target)["etc/real.conf"] == b"new"


def test_symlinked_subdirectory_in_the_target_is_never_merged_through(ctx, target, tmp_path):
    host = tmp_path / "host-etc"
    write(f"{host}/passwd", "host")
    write(f"{ctx}/src/etc/passwd", "evil")
    os.makedirs(f"{target}/app")
    os.symlink(str(host), f"{target}/app/etc")
    with pytest.raises(CopyError, match="cannot copy to non-directory: /app/etc"):
        copy(ctx, ["src"], "/app", target)
    assert (host / "passwd").read_bytes() == b"host"


def test_large_file_is_copied_whole(ctx, target):
    big = os.urandom(1 << 20) * 3 + b"tail"
    write(f"{ctx}/big", big)
    result = copy(ctx, ["big"], "/b", target)
    assert result.size == len(big)
    with open(f"{target}/b", "rb") as f:
        assert f.read() == big


def test_parse_chmod():
    assert parse_chmod("755") == 0o755
    assert parse_chmod("0644") == 0o644
    assert parse_chmod("4755") == 0o4755
    assert isinstance(parse_chmod("u=rwX"), SymbolicMode)
    for bad in ("", "8", "77777", "0o755", "9+x", "u", "ug", "u+q", "x+u", "u+x,", ",u+x", "u+x,,g+r",
                "g=ur", "g=uo", "u+x ", "z=r", "u*x"):
        with pytest.raises(CopyError, match="invalid chmod parameter"):
            parse_chmod(bad)


FILE, DIR = stat.S_IFREG, stat.S_IFDIR


@pytest.mark.parametrize("text,mode,expected", [
    ("u+x", FILE | 0o644, 0o744),
    ("+x", FILE | 0o600, 0o711),                  # no class: all of them (BuildKit's umask is 0)
    ("go-w", FILE | 0o666, 0o644),
    ("go-w,u=rwx", FILE | 0o464, 0o744),
    ("u-x+w", FILE | 0o544, 0o644),               # several actions in one clause
    ("a+rX", FILE | 0o600, 0o644),                # X: not for a file nobody can execute
    ("a+rX", FILE | 0o700, 0o755),                # ... but for one someone can
    ("a+rX", DIR | 0o700, 0o755),                 # ... and for directories
    ("a=rX", DIR | 0o700, 0o555),
    ("u=rwx,g=rx,o=", FILE | 0o4666, 0o750),      # u= clears setuid too
    ("=r", DIR | 0o1777, 0o1444),                 # = keeps the sticky bit unless t is named
    ("a=rwxt", FILE | 0o644, 0o1777),
    ("+t", DIR | 0o777, 0o1777),
    ("o+t", DIR | 0o777, 0o777),                  # t for others alone means nothing
    ("u+s,g+s", FILE | 0o755, 0o6755),
    ("o+s", FILE | 0o755, 0o755),
    ("+s", FILE | 0o755, 0o6755),
    ("g=u-w", FILE | 0o740, 0o750),               # copy the user's bits, then drop write
    ("o=g", FILE | 0o751, 0o755),
    ("go+u", FILE | 0o600, 0o666),
    ("u-g", FILE | 0o750, 0o250),
    ("a=", FILE | 0o4755, 0o000),
    ("u+", FILE | 0o640, 0o640),
])
def test_symbolic_chmod(text, mode, expected):
    assert oct(SymbolicMode(text).apply(mode)) == oct(expected)


def test_symbolic_chmod_applies_to_each_entry_own_mode(ctx, target):
    write(f"{ctx}/src/data", "d", mode=0o600)
    write(f"{ctx}/src/run.sh", "#!/bin/sh", mode=0o744)
    write(f"{ctx}/src/sub/shared", "s", mode=0o664)
    os.chmod(f"{ctx}/src/sub", 0o700)
    os.symlink("data", f"{ctx}/src/link")
    os.chmod(f"{ctx}/src", 0o700)
    copy(ctx, ["src"], "/app/", target, chmod=parse_chmod("a+rX,g-w"))
    modes = {name: stat.S_IMODE(os.lstat(f"{target}/app/{name}").st_mode)
             for name in ("data", "run.sh", "sub", "sub/shared")}
    assert modes == {"data": 0o644, "run.sh": 0o755, "sub": 0o755, "sub/shared": 0o644}
    assert os.readlink(f"{target}/app/link") == "data"
    assert stat.S_IMODE(os.stat(f"{target}/app").st_mode) == 0o755  # made by the copy: from src's 0700


def test_dangling_symlink_directory_in_destination_is_created_inside(ctx, target):
    write(f"{ctx}/f", "x")
    os.symlink("/nowhere/deep", f"{target}/dangling")
    copy(ctx, ["f"], "/dangling/", target)
    assert files(target) == {"nowhere/deep/f": b"x"}


def test_file_in_the_way_of_a_destination_directory(ctx, target):
    write(f"{ctx}/f", "x")
    write(f"{target}/blocker", "")
    with pytest.raises(CopyError, match="non-directory: /blocker"):
        copy(ctx, ["f"], "/blocker/sub/", target)


# ---- wildcards, .dockerignore, --exclude, --parents ----------------------------------------------

def test_wildcards(ctx, target):
    for name in ("a.png", "b.png", "c.jpg", "index.js", "index.ts", "arr[0].txt", "sub/x.png", ".hidden.png"):
        write(f"{ctx}/{name}", name)
    copy(ctx, ["*.png"], "/png/", target)
    copy(ctx, ["index.?s"], "/js/", target)
    copy(ctx, ["arr[[]0].txt"], "/arr/", target)
    copy(ctx, ["*/*.png"], "/deep/", target)
    assert files(target) == {"png/a.png": b"a.png", "png/b.png": b"b.png", "png/.hidden.png": b".hidden.png",
                             "js/index.js": b"index.js", "js/index.ts": b"index.ts",
                             "arr/arr[0].txt": b"arr[0].txt", "deep/x.png": b"sub/x.png"}


def test_wildcard_matching_nothing_is_not_an_error_but_a_missing_path_is(ctx, target):
    write(f"{ctx}/a", "1")
    assert copy(ctx, ["*.nothing", "a"], "/d/", target).files == 1
    with pytest.raises(CopyError, match="file not found in build context or excluded by .dockerignore: missing"):
        plan_copy(ctx, ["missing"], "/d/")


def test_malformed_wildcard_is_an_error(ctx):
    with pytest.raises(CopyError, match="syntax error"):
        plan_copy(ctx, ["a[", "b"], "/d/")


def test_doublestar_source(ctx, target):
    write(f"{ctx}/src/a.txt", "a")
    write(f"{ctx}/src/x/b.txt", "b")
    write(f"{ctx}/src/x/y/c.txt", "c")
    write(f"{ctx}/src/x/y/c.md", "md")
    copy(ctx, ["src/**/*.txt"], "/flat/", target)
    copy(ctx, ["src/**/*.txt"], "/tree/", target, parents=True)
    assert files(target) == {"flat/a.txt": b"a", "flat/b.txt": b"b", "flat/c.txt": b"c",
                             "tree/src/a.txt": b"a", "tree/src/x/b.txt": b"b", "tree/src/x/y/c.txt": b"c"}


def test_parents_and_pivot(ctx, target):
    write(f"{ctx}/x/a.txt", "xa")
    write(f"{ctx}/y/a.txt", "ya")
    write(f"{ctx}/x/y/b.txt", "b")
    copy(ctx, ["./x/a.txt", "./y/a.txt"], "/parents/", target, parents=True)
    copy(ctx, ["./x/./y/*.txt"], "/pivot/", target, parents=True)
    copy(ctx, ["x/y"], "/dirs/", target, parents=True)
    assert files(target) == {"parents/x/a.txt": b"xa", "parents/y/a.txt": b"ya", "pivot/y/b.txt": b"b",
                             "dirs/x/y/b.txt": b"b"}


def test_dockerignore_hides_files_from_copy(ctx, target):
    write(f"{ctx}/app/main.py", "m")
    write(f"{ctx}/app/secret.key", "k")
    write(f"{ctx}/node_modules/x/index.js", "n")
    write(f"{ctx}/Dockerfile", "FROM x")
    ignore = IgnoreMatcher(["**/*.key", "node_modules", "Dockerfile"])
    copy(ctx, ["."], "/src/", target, ignore=ignore)
    assert files(target) == {"src/app/main.py": b"m"}
    for name in ("app/secret.key", "node_modules", "Dockerfile", "*.key"):
        if "*" in name:
            assert copy(ctx, [name], "/none/", target, ignore=ignore).files == 0
            continue
        with pytest.raises(CopyError, match="excluded by .dockerignore"):
            plan_copy(ctx, [name], "/d/", ignore=ignore)


def test_wildcard_matches_left_out_by_dockerignore_are_skipped(ctx, target):
    write(f"{ctx}/a.key", "k")
    write(f"{ctx}/b.pub", "p")
    copy(ctx, ["*.key", "*.pub"], "/d/", target, ignore=IgnoreMatcher(["*.key"]))
    assert files(target) == {"d/b.pub": b"p"}


def test_exclude_flag_leaves_out_wildcard_matched_directories_by_name(ctx, target):
    write(f"{ctx}/vendor/x", "v")
    write(f"{ctx}/app/y", "a")
    copy(ctx, ["*"], "/s/", target, excludes=["vendor"])
    assert files(target) == {"s/y": b"a"}
    assert checksum(ctx, ["*"], excludes=["vendor"]) == checksum(ctx, ["app"])


def test_dockerignore_exception_inside_an_excluded_directory(ctx, target):
    write(f"{ctx}/build/out.o", "o")
    write(f"{ctx}/build/keep/a.txt", "keep")
    write(f"{ctx}/build/keep/b.bin", "bin")
    ignore = IgnoreMatcher(["build", "!build/keep/*.txt"])
    copy(ctx, ["."], "/s/", target, ignore=ignore)
    assert files(target) == {"s/build/keep/a.txt": b"keep"}
    copy(ctx, ["build"], "/b/", target, ignore=ignore)  # present: it holds an exception
    assert files(target)["b/keep/a.txt"] == b"keep"


def test_dockerignore_applies_to_the_real_path_behind_a_symlink(ctx, target):
    write(f"{ctx}/private/key", "k")
    os.symlink("private", f"{ctx}/alias")
    ignore = IgnoreMatcher(["private"])
    with pytest.raises(CopyError, match="excluded by .dockerignore"):
        plan_copy(ctx, ["alias/key"], "/d/", ignore=ignore)
    with pytest.raises(CopyError, match="excluded by .dockerignore"):
        plan_copy(ctx, ["alias"], "/d/", ignore=ignore)


def test_exclude_flag(ctx, target):
    for name in ("home.txt", "home.md", "homer/a.txt", "homer/b.py", "homer/sub/c.txt"):
        write(f"{ctx}/{name}", name)
    copy(ctx, ["hom*"], "/mydir/", target, excludes=["*.txt"])
    copy(ctx, ["homer"], "/deep/", target, excludes=["**/*.txt"])
    assert files(target) == {"mydir/home.md": b"home.md", "mydir/b.py": b"homer/b.py",
                             "mydir/sub/c.txt": b"homer/sub/c.txt", "deep/b.py": b"homer/b.py"}


# ---- ADD archives --------------------------------------------------------------------------------

def _tar(members, compress=None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o644
            if kind == tarfile.SYMTYPE:
                info.linkname = data
                t.addfile(info)
            elif kind == tarfile.DIRTYPE:
                info.mode = 0o755
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return {None: lambda b: b, "gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress,
            "zst": lambda b: zstandard.ZstdCompressor().compress(b)}[compress](raw)


@pytest.mark.parametrize("compress", [None, "gz", "bz2", "xz", "zst"])
def test_add_extracts_local_archives_by_content(ctx, target, compress):
    write(f"{ctx}/bundle.data", _tar([("app/", "", tarfile.DIRTYPE), ("app/f", b"F", tarfile.REGTYPE)], compress))
    copy(ctx, ["bundle.data"], "/opt", target, unpack=True, instruction="ADD")
    assert files(target) == {"opt/app/f": b"F"}


def test_add_copies_non_archives_and_copy_never_extracts(ctx, target):
    write(f"{ctx}/empty.tar.gz", b"")
    write(f"{ctx}/fake.tar", b"not a tar at all" * 64)
    write(f"{ctx}/gz-not-tar.gz", gzip.compress(b"hello " * 200))
    write(f"{ctx}/real.tar", _tar([("f", b"F", tarfile.REGTYPE)]))
    copy(ctx, ["empty.tar.gz", "fake.tar", "gz-not-tar.gz"], "/add/", target, unpack=True, instruction="ADD")
    copy(ctx, ["real.tar"], "/copy/", target)
    assert set(files(target)) == {"add/empty.tar.gz", "add/fake.tar", "add/gz-not-tar.gz", "copy/real.tar"}


def test_add_hostile_archive_cannot_leave_the_destination(ctx, target, tmp_path):
    write(f"{ctx}/evil.tar", _tar([("../../escape", b"x", tarfile.REGTYPE)]))
    with pytest.raises(BerthError):
        copy(ctx, ["evil.tar"], "/opt/", target, unpack=True, instruction="ADD")
    write(f"{ctx}/evil2.tar", _tar([("link", "/", tarfile.SYMTYPE), ("link/escaped", b"x", tarfile.REGTYPE)]))
    copy(ctx, ["evil2.tar"], "/opt2/", target, unpack=True, instruction="ADD")
    assert not (tmp_path / "escape").exists()
    assert not os.path.exists("/escaped")
    # the archive is rooted at its destination, as docker's chrooted untar: "/" is /opt2
    assert files(target) == {"opt2/escaped": b"x"}


def test_remote_sources_are_left_to_the_builder(ctx):
    with pytest.raises(CopyError, match="remote sources are fetched by the builder"):
        plan_copy(ctx, ["https://example.com/x.tar.gz"], "/d/", unpack=True, instruction="ADD")


def test_remote_and_git_sources():
    assert is_remote("https://example.com/x.tar.gz") and not is_git("https://example.com/x.tar.gz")
    for git in ("git@github.com:moby/buildkit.git", "git://host/repo", "ssh://git@host/repo",
                "https://github.com/moby/buildkit.git#v0.10.1", "http://host/repo.git?x=1"):
        assert is_remote(git) and is_git(git), git
    assert not is_remote("context/http://x") and not is_git("repo.git")


def test_downloads_are_copied_as_named_and_never_extracted(tmp_path, target):
    staging = tmp_path / "downloads"
    archive = _tar([("top/a", b"a", tarfile.REGTYPE)], "gz")
    write(f"{staging}/0/a[1].tar", archive, mode=0o600)  # a wildcard character, taken as a name
    write(f"{staging}/1/__unnamed__", "u", mode=0o600)
    os.utime(f"{staging}/0/a[1].tar", (1_400_000_000, 1_400_000_000))
    os.makedirs(f"{target}/existing")
    for names, dest, workdir in ((["0/a[1].tar"], "/d/", "/"), (["0/a[1].tar"], "renamed", "/w"),
                                 (["1/__unnamed__"], "/existing", "/"), (["0/a[1].tar", "1/__unnamed__"], "two/", "/")):
        with plan_downloads(str(staging), names, dest, workdir=workdir) as plan:
            plan.materialize(target)
    assert files(target) == {"d/a[1].tar": archive, "w/renamed": archive, "existing/__unnamed__": b"u",
                             "two/a[1].tar": archive, "two/__unnamed__": b"u"}
    st = os.stat(f"{target}/d/a[1].tar")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)) == (0o600, 0, 0, 1_400_000_000)


# ---- checksums -----------------------------------------------------------------------------------

def test_checksum_ignores_mtime_but_not_content_mode_or_names(ctx):
    write(f"{ctx}/src/a", "content")
    write(f"{ctx}/src/b", "other")
    first = checksum(ctx, ["src"])
    os.utime(f"{ctx}/src/a", (1, 1))
    os.utime(f"{ctx}/src", (2, 2))
    assert checksum(ctx, ["src"]) == first
    os.chown(f"{ctx}/src/a", 99, 99)
    assert checksum(ctx, ["src"]) == first  # owners are reset to 0:0 by the copy
    assert checksum(ctx, ["src"], keep_owner=True) != first
    os.chmod(f"{ctx}/src/a", 0o755)
    changed_mode = checksum(ctx, ["src"])
    assert changed_mode != first
    write(f"{ctx}/src/a", "CONTENT", mode=0o755)
    assert checksum(ctx, ["src"]) not in (first, changed_mode)
    os.rename(f"{ctx}/src/b", f"{ctx}/src/c")
    assert checksum(ctx, ["src"]) != checksum(ctx, ["src/a"])


def test_checksum_follows_what_would_be_copied(ctx):
    write(f"{ctx}/src/a", "a")
    write(f"{ctx}/src/junk.log", "1")
    ignore = IgnoreMatcher(["**/*.log"])
    base = checksum(ctx, ["src"], ignore=ignore)
    write(f"{ctx}/src/junk.log", "2")
    assert checksum(ctx, ["src"], ignore=ignore) == base
    assert checksum(ctx, ["src"], excludes=["*.log"]) == base
    os.symlink("a", f"{ctx}/src/link")
    with_link = checksum(ctx, ["src"], ignore=ignore)
    os.remove(f"{ctx}/src/link")
    os.symlink("b", f"{ctx}/src/link")
    assert checksum(ctx, ["src"], ignore=ignore) not in (base, with_link)


def test_checksum_streams_large_files(ctx):
    big = os.urandom(1 << 20) * 3 + b"tail"
    write(f"{ctx}/big", big)
    first = checksum(ctx, ["big"])
    write(f"{ctx}/big", big[:-1] + b"T")
    assert checksum(ctx, ["big"]) != first


# ---- no leaks ------------------------------------------------------------------------------------

def test_no_fd_leaks_on_success_or_failure(ctx, target):
    write(f"{ctx}/src/a", "a")
    write(f"{ctx}/src/sub/b", "b")
    write(f"{ctx}/src/sub/blocked/c", "c")
    write(f"{target}/dst/sub/blocked", "a file in the way")
    os.symlink("/nowhere", f"{target}/dangling")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with pytest.raises(CopyError):
            copy(ctx, ["src"], "/dst", target)
        with pytest.raises(CopyError):
            plan_copy(ctx, ["missing"], "/d/")
        copy(ctx, ["src"], "/ok", target)
        copy(ctx, ["src/a"], "/dangling/deeper/", target)
        checksum(ctx, ["src", "src/a"])
    assert len(os.listdir("/proc/self/fd")) == before


def test_walk_yields_left_out_parents_only_when_needed_and_end_markers(ctx):
    from berth.build.sources import Selection, SourceRoot
    write(f"{ctx}/out/deep/keep.txt", "k")
    write(f"{ctx}/out/deep/drop.bin", "d")
    write(f"{ctx}/out/empty/drop.bin", "d")
    write(f"{ctx}/in.txt", "i")
    ignore = IgnoreMatcher(["out", "!out/**/*.txt"])
    with SourceRoot(ctx, ignore) as root:
        src = root.lookup("")
        seen = [("end " if n.end else "") + (n.rel or ".") for n in root.walk(src, Selection(ignore))]
        assert seen == [".", "in.txt", "out", "out/deep", "out/deep/keep.txt", "end out/deep", "end out", "end ."]
        assert root.lookup("out/empty") is None
        assert root.lookup("out").is_dir
