"""The reading side of COPY/ADD: a root directory (the build context, or a stage's or image's
root filesystem for `COPY --from`), the paths and wildcards that name things in it, and a walk of
what they select.

Every lookup goes through openat2(RESOLVE_IN_ROOT): `..` stops at the root and symlinks, absolute
or relative, resolve as if the root were `/`, so a context symlink to /etc/passwd names the
context's own etc/passwd (usually: nothing). A named source is followed when it is a symlink (as
docker does); below it, symlinks are copied as symlinks and never followed.

.dockerignore rules apply to where a file really is (its path with symlinks resolved), as they do
in docker, where the context is filtered before COPY sees it. `--exclude` rules apply to paths
relative to the source being copied.
"""
from __future__ import annotations

import errno
import os
import stat
from contextlib import closing

from berth import pathmatch
from berth.archive import securefs
from berth.build.ignore import IgnoreMatcher
from berth.errors import SourceError
from berth.record import Record

_RESOLVE = securefs.RESOLVE_IN_ROOT | securefs.RESOLVE_NO_MAGICLINKS
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Source(Record):
    """One thing a COPY/ADD source argument selected."""
    path: str          # as named or matched, relative to the root ("" is the root itself)
    real: str          # where it is, symlinks resolved inside the root
    is_dir: bool
    keep: str = ""     # --parents: the part of `path` recreated under the destination


class Node:
    """One entry of a walked source. `dir_fd`/`name` are valid only while the walk is on it."""
    __slots__ = ("rel", "st", "dir_fd", "name", "end")

    def __init__(self, rel: str, st: os.stat_result, dir_fd: int, name: str, end: bool = False):
        self.rel = rel        # path relative to the source ("" is the source itself)
        self.st = st
        self.dir_fd = dir_fd  # the directory holding it; for the top node, its own O_PATH fd
        self.name = name      # "" for the top node
        self.end = end        # True: the walk is leaving this directory (all its children were seen)

    @property
    def kind(self) -> str:
        return _kind(self.st.st_mode)

    def readlink(self) -> str:
        return os.readlink(self.name, dir_fd=self.dir_fd) if self.name else os.readlink("", dir_fd=self.dir_fd)

    def open_file(self) -> int:
        """A read fd of this regular file, refused if something else was swapped in since it was
        examined (a FIFO or device there would block or read from a device)."""
        if self.name:
            fd = os.open(self.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self.dir_fd)
        else:
            fd = os.open(f"/proc/self/fd/{self.dir_fd}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (self.st.st_dev, self.st.st_ino):
            os.close(fd)
            raise SourceError(f"{self.rel or 'source'}: changed while it was copied")
        os.set_blocking(fd, True)
        return fd


def _kind(mode: int) -> str:
    fmt = stat.S_IFMT(mode)
    return {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink", stat.S_IFCHR: "char",
            stat.S_IFBLK: "block", stat.S_IFIFO: "fifo"}.get(fmt, "other")


class Selection:
    """Which entries below a source are taken: not ignored by .dockerignore (by real path), not
    excluded by --exclude (by path relative to the source)."""

    def __init__(self, ignore: IgnoreMatcher | None = None, excludes: IgnoreMatcher | None = None):
        self.ignore = ignore if ignore else None
        self.excludes = excludes if excludes else None

    def included(self, real: str, rel: str) -> bool:
        if self.ignore and self.ignore.excluded(real):
            return False
        return not (self.excludes and rel and self.excludes.excluded(rel))

    def worth_descending(self, real: str, rel: str) -> bool:
        """For a directory left out: could an exception bring back something below it?"""
        if self.ignore and self.ignore.excluded(real) and not self.ignore.may_include_below(real):
            return False
        if self.excludes and rel and self.excludes.excluded(rel) and not self.excludes.may_include_below(rel):
            return False
        return True


class SourceRoot:
    """A directory that sources are read from, opened once; `ignore` filters what exists in it."""

    def __init__(self, path: str, ignore: IgnoreMatcher | None = None, label: str = "build context"):
        try:
            self.fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as err:
            raise SourceError(f"cannot open {label} {path}: {err.strerror}") from None
        self.label = label
        self.ignore = ignore if ignore else None
        self._prefix = securefs.fd_path(self.fd).rstrip("/") + "/"

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- resolution ------------------------------------------------------------------------

    def real(self, fd: int) -> str:
        where = securefs.fd_path(fd) + "/"
        if where == self._prefix:
            return ""
        if not where.startswith(self._prefix):  # cannot happen with RESOLVE_IN_ROOT; checked anyway
            raise SourceError(f"{where[:-1]}: resolved outside the {self.label}")
        return where[len(self._prefix):-1]

    def open(self, path: str, follow: bool = True) -> int | None:
        """An O_PATH fd of `path` resolved inside the root (None if missing). `follow` False: a final
        symlink is opened itself."""
        path = path.strip("/")
        try:
            if follow or not path:
                return securefs.openat2(self.fd, path or ".", os.O_PATH, _RESOLVE)
            parent, _, base = path.rpartition("/")
            pfd = securefs.openat2(self.fd, parent or ".", os.O_PATH | os.O_DIRECTORY, _RESOLVE)
            try:
                return os.open(base, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
            finally:
                os.close(pfd)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise SourceError(f"{path}: too many levels of symbolic links") from None
            raise

    def lookup(self, path: str) -> Source | None:
        """The source `path` names (symlinks followed inside the root), if it exists and is not
        left out by .dockerignore."""
        fd = self.open(path)
        if fd is None:
            return None
        try:
            real = self.real(fd)
            st = os.fstat(fd)
            if not self.present(fd, real, st):
                return None
            return Source(path.strip("/"), real, stat.S_ISDIR(st.st_mode))
        finally:
            os.close(fd)

    def present(self, fd: int, real: str, st: os.stat_result) -> bool:
        """Is this entry part of the (filtered) root? An ignored directory still is when an
        exception keeps something inside it."""
        if not (self.ignore and self.ignore.excluded(real)):
            return True
        if not stat.S_ISDIR(st.st_mode) or not self.ignore.may_include_below(real):
            return False
        with closing(self.walk(Source("", real, True), Selection(self.ignore), _top=fd)) as nodes:
            return any(node.rel for node in nodes)

    # ---- wildcards -------------------------------------------------------------------------

    def glob(self, pattern: str) -> list[str]:
        """Paths (relative to the root, sorted) that `pattern` matches, Go filepath.Match rules per
        component and `**` for any number of directories. Intermediate components follow symlinks
        inside the root; `**` never descends through one."""
        parts = [p for p in pattern.strip("/").split("/") if p and p != "."]
        for p in parts:
            pathmatch.translate(p, doublestar=False)  # malformed: an error even if nothing is listed
        found: set[str] = set()
        self._glob("", parts, found)
        return sorted(found)

    def _glob(self, base: str, parts: list[str], found: set[str]) -> None:
        if not parts:
            if base:
                found.add(base)
            return
        part, rest = parts[0], parts[1:]
        if part == "**":
            if not rest:  # a trailing `**`: everything below
                found.update(self._descendants(base, dirs_only=False))
                return
            self._glob(base, rest, found)  # zero directories
            for sub in self._descendants(base, dirs_only=True):
                self._glob(sub, rest, found)
            return
        if not pathmatch.has_magic(part):
            child = f"{base}/{part}" if base else part
            if self._lexists(child):
                self._glob(child, rest, found)
            return
        regex = pathmatch.compile_pattern(part, doublestar=False)
        for name in self._listdir(base):
            if regex.fullmatch(name):
                self._glob(f"{base}/{name}" if base else name, rest, found)

    def _lexists(self, path: str) -> bool:
        fd = self.open(path, follow=False)
        if fd is None:
            return False
        os.close(fd)
        return True

    def _listdir(self, path: str) -> list[str]:
        try:
            fd = securefs.openat2(self.fd, path or ".", os.O_RDONLY | os.O_DIRECTORY, _RESOLVE)
        except OSError:
            return []  # missing, or not a directory: nothing matches below it
        try:
            return sorted(os.listdir(fd))
        finally:
            os.close(fd)

    def _descendants(self, path: str, dirs_only: bool) -> list[str]:
        """Every directory (or entry) below `path`, not through symlinks, for `**`."""
        out = []
        pending = [path]
        while pending:
            cur = pending.pop()
            try:
                fd = securefs.openat2(self.fd, cur or ".", os.O_RDONLY | os.O_DIRECTORY, _RESOLVE)
            except OSError:
                continue
            try:
                for name in sorted(os.listdir(fd)):
                    st = securefs.lstat_at(fd, name)
                    if st is None:
                        continue
                    sub = f"{cur}/{name}" if cur else name
                    if stat.S_ISDIR(st.st_mode):
                        pending.append(sub)
                    if stat.S_ISDIR(st.st_mode) or not dirs_only:
                        out.append(sub)
            finally:
                os.close(fd)
        return out

    # ---- walking ---------------------------------------------------------------------------

    def walk(self, source: Source, selection: Selection | None = None, _top: int | None = None):
        """The source itself (rel ""), then, for a directory, every selected entry below it in
        name order, depth first; directories left out but holding selected entries are still
        yielded (before them), and each yielded directory gets an `end` node after its children."""
        selection = selection or Selection(self.ignore)
        top = os.dup(_top) if _top is not None else securefs.openat2(self.fd, source.real or ".", os.O_PATH,
                                                                      _RESOLVE | securefs.RESOLVE_NO_SYMLINKS)
        try:
            st = os.fstat(top)
            yield Node("", st, top, "")
            if stat.S_ISDIR(st.st_mode):
                dfd = os.open(f"/proc/self/fd/{top}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    yield from self._walk_dir(dfd, source.real, "", selection, [])
                finally:
                    os.close(dfd)
                yield Node("", st, top, "", end=True)
        finally:
            os.close(top)

    def _walk_dir(self, dfd: int, real_dir: str, rel_dir: str, selection: Selection, pending: list[Node]):
        for name in sorted(os.listdir(dfd), key=os.fsencode):
            st = securefs.lstat_at(dfd, name)
            if st is None:
                continue  # removed while walking
            real = f"{real_dir}/{name}" if real_dir else name
            rel = f"{rel_dir}/{name}" if rel_dir else name
            node = Node(rel, st, dfd, name)
            is_dir = stat.S_ISDIR(st.st_mode)
            if selection.included(real, rel):
                yield from pending  # parents left out themselves, now needed for this entry
                pending.clear()
                yield node
                if is_dir:
                    yield from self._walk_sub(dfd, node, real, selection, pending)
                    yield Node(rel, st, dfd, name, end=True)
            elif is_dir and selection.worth_descending(real, rel):
                pending.append(node)
                yield from self._walk_sub(dfd, node, real, selection, pending)
                if pending and pending[-1] is node:
                    pending.pop()  # nothing below was selected: it stays out
                else:
                    yield Node(rel, st, dfd, name, end=True)

    def _walk_sub(self, dfd, node, real, selection, pending):
        try:
            sub = os.open(node.name, _DIR_FLAGS, dir_fd=dfd)
        except OSError as err:
            raise SourceError(f"{real}: changed while it was read ({err.strerror})") from None
        try:
            if os.fstat(sub).st_ino != node.st.st_ino:
                raise SourceError(f"{real}: replaced while it was read")
            yield from self._walk_dir(sub, real, node.rel, selection, pending)
        finally:
            os.close(sub)


def split_pivot(text: str) -> tuple[str, str]:
    """--parents: (`pivot`, cleaned source) where `x/./y/*.txt` keeps only what follows `x/`
    (rsync's `/./` marker). Without a marker the pivot is the root ("")."""
    body = text
    while body.startswith("./"):
        body = body[2:]
    at = body.find("/./")
    if at < 0:
        return "", clean_source(body)
    pivot = clean_source(body[:at])
    return pivot, clean_source(f"{pivot}/{body[at + 3:]}")


def clean_source(text: str) -> str:
    """A source as docker reads it: relative to the root, `..` cannot climb above it, leading and
    trailing slashes dropped ("" is the root)."""
    return pathmatch.clean("/" + text).lstrip("/")
