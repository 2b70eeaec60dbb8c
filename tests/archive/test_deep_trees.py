"""Trees of any depth: write_tree and securefs.remove_at walk without recursion and with a bounded
number of fds (securefs.DirStack), so a RUN step that makes a 1200-level tree cannot crash a build
or every later command."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile

import pytest

from berth.archive import extract, securefs, write_tree
from berth.errors import ArchiveError
from berth.store import fsutil

DEPTH = 1500  # more than Python's default recursion limit (1000)


def make_chain(path, depth: int, name: str = "a", extra: bool = False) -> None:
    """path/name/name/... `depth` levels down, made relative to dir fds (no path gets long).
    extra: a file and an empty sibling directory at every level too."""
    os.mkdir(path)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(depth):
            os.mkdir(name, dir_fd=fd)
            if extra:
                os.mkdir("sib", dir_fd=fd)
                with open(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
                    f.write(str(i).encode())
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = sub
    finally:
        os.close(fd)


def chain_depth(path, name: str = "a") -> int:
    """How many `name` levels there are below path (fd by fd)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    depth = 0
    try:
        while True:
            try:
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                return depth
            os.close(fd)
            fd = sub
            depth += 1
    finally:
        os.close(fd)


@pytest.fixture
def deep(tmp_path):
    """Paths registered here are removed at teardown with remove_tree (pytest's own cleanup,
    shutil.rmtree, recurses and would fail on them)."""
    made = []
    yield made.append
    for path in made:
        fsutil.remove_tree(str(path))
        assert not os.path.lexists(path)


def tar_bytes(root, **kw) -> bytes:
    out = io.BytesIO()
    write_tree(str(root), out, **kw)
    return out.getvalue()


# ---- remove_at / remove_tree ---------------------------------------------------------------

def test_remove_at_removes_a_tree_deeper_than_the_recursion_limit(tmp_path, deep):
    top = tmp_path / "top"
    deep(top)
    make_chain(top, DEPTH, extra=True)
    assert chain_depth(top) == DEPTH
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        securefs.remove_at(fd, "top")  # strict mode: any error would raise
    finally:
        os.close(fd)
    assert not top.exists()


def test_remove_tree_removes_a_deep_tree(tmp_path, deep):
    top = tmp_path / "top"
    deep(top)
    make_chain(top, DEPTH)
    fsutil.remove_tree(str(top))
    assert not top.exists()


def test_deep_walks_need_a_bounded_number_of_fds(tmp_path, deep):
    """With at most 100 fds, a walk holding one fd per level could not pass depth ~90."""
    top = tmp_path / "top"
    deep(top)
    make_chain(top, DEPTH)
    code = f"""
import io, os, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (100, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
from berth.archive import write_tree, securefs
out = io.BytesIO()
write_tree({str(top)!r}, out)
print(len(out.getvalue()))
fd = os.open({str(tmp_path)!r}, os.O_RDONLY)
securefs.remove_at(fd, "top")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) > DEPTH * 512
    assert not top.exists()


def test_remove_at_never_follows_a_symlink_deep_down(tmp_path, deep):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"k")
    top = tmp_path / "top"
    deep(top)
    make_chain(top, 200)
    bottom = os.open(top, os.O_RDONLY)
    for _ in range(200):
        sub = os.open("a", os.O_RDONLY, dir_fd=bottom)
        os.close(bottom)
        bottom = sub
    os.symlink(str(outside), "link", dir_fd=bottom)
    os.symlink("../../../../..", "up", dir_fd=bottom)
    os.close(bottom)
    fsutil.remove_tree(str(top))
    assert not top.exists()
    assert (outside / "keep").read_bytes() == b"k"


def _mount(*args) -> None:
    proc = subprocess.run(["mount", *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here: {proc.stderr.strip()}")


def test_remove_at_does_not_enter_mount_points(tmp_path, deep):
    """Neither another filesystem (tmpfs) nor a bind mount of the same one (same st_dev) is
    emptied: removing a tree holding them fails (EBUSY) and leaves what they show intact."""
    top = tmp_path / "top"
    deep(top)
    make_chain(top, 100)
    mnt = top / "m"
    bind = top / "b"
    mnt.mkdir()
    bind.mkdir()
    src = tmp_path / "src"
    src.mkdir()
    (src / "keep").write_bytes(b"k")
    _mount("-t", "tmpfs", "none", mnt)
    try:
        (mnt / "t").write_bytes(b"t")
        _mount("--bind", src, bind)
        try:
            assert os.stat(bind).st_dev == os.stat(top).st_dev
            fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                with pytest.raises(OSError):
                    securefs.remove_at(fd, "top")
                fsutil.remove_tree(str(top))  # ignore_errors: removes the rest
            finally:
                os.close(fd)
            assert sorted(os.listdir(top)) == ["b", "m"]
            assert (mnt / "t").read_bytes() == b"t" and (src / "keep").read_bytes() == b"k"
        finally:
            subprocess.run(["umount", str(bind)], check=True)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_dir_stack_reopens_closed_levels_and_notices_a_move(tmp_path, deep):
    top = tmp_path / "top"
    deep(top)
    make_chain(top, 10)
    base = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    stack = securefs.DirStack(base, keep=2)
    open_before = len(os.listdir("/proc/self/fd"))
    try:
        for _ in range(10):
            stack.push(os.open("a", os.O_RDONLY | os.O_DIRECTORY, dir_fd=stack.fd))
        assert len(os.listdir("/proc/self/fd")) == open_before + 2  # the last two levels only
        for _ in range(4):
            stack.pop()
        assert len(stack) == 7
        # level 3 moves elsewhere: going up from it no longer reaches level 2
        os.rename(top / "a" / "a" / "a", tmp_path / "moved")
        deep(tmp_path / "moved")
        stack.pop()
        stack.pop()
        stack.pop()
        with pytest.raises(securefs.TreeMoved):
            stack.pop()
    finally:
        stack.close()
        os.close(base)


# ---- write_tree ----------------------------------------------------------------------------

def test_write_tree_of_a_deep_tree_round_trips(tmp_path, deep):
    src = tmp_path / "src"
    deep(src)
    make_chain(src, DEPTH, extra=True)
    data = tar_bytes(src)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = tf.getnames()
    assert len(names) == 3 * DEPTH
    assert names[:4] == ["a", "a/a", "a/a/a", "a/a/a/a"]  # depth first in byte order
    assert "/".join(["a"] * DEPTH) in names and "/".join(["a"] * (DEPTH - 1) + ["f"]) in names
    dest = tmp_path / "dest"
    deep(dest)
    dest.mkdir()
    extract(io.BytesIO(data), str(dest))
    assert chain_depth(dest) == DEPTH
    assert tar_bytes(dest) == data


def test_write_tree_beyond_path_max(tmp_path, deep):
    """Paths far longer than PATH_MAX (4096) are written: every step is relative to a dir fd."""
    src = tmp_path / "src"
    deep(src)
    name = "d" * 100
    make_chain(src, 400, name=name)
    with tarfile.open(fileobj=io.BytesIO(tar_bytes(src))) as tf:
        names = tf.getnames()
    assert len(names) == 400 and len(names[-1]) == 400 * 101 - 1
    assert names[-1] == "/".join([name] * 400)


def test_write_tree_with_arcname_of_a_deep_tree(tmp_path, deep):
    src = tmp_path / "src"
    deep(src)
    make_chain(src, DEPTH)
    out = io.BytesIO()
    fd = os.open(src, os.O_PATH)
    try:
        write_tree(fd, out, arcname="top")
    finally:
        os.close(fd)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        names = tf.getnames()
    assert names[0] == "top" and names[-1] == "top/" + "/".join(["a"] * DEPTH)


def test_write_tree_refuses_to_go_on_when_a_closed_level_moves(tmp_path, deep):
    """Deeper than the fds it keeps, the walk goes back up through `..`; a directory renamed
    elsewhere meanwhile must stop it with an ArchiveError, not make it archive another place."""
    src = tmp_path / "src"
    deep(src)
    make_chain(src, 150, extra=True)
    moved = tmp_path / "moved"
    deep(moved)
    deepest = "/".join(["a"] * 150)

    def skip(name, st):
        if name == deepest:  # now 150 levels down: level 10 moves out of the tree
            os.rename(src.joinpath(*["a"] * 10), moved)
        return False

    with pytest.raises(ArchiveError, match="moved while it was archived"):
        write_tree(str(src), io.BytesIO(), skip=skip)
